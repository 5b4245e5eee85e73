r"""The concept-activation rule, written once, for numpy arrays and torch tensors.

Every concept activation in bottlekit is a linear function of the embedding

.. math::

    a_j(x) = w_j \cdot \tilde x_j + b_j, \qquad
    \tilde x_j = \begin{cases} x / \lVert x\rVert & \text{cosine concepts} \\
                               x & \text{otherwise,} \end{cases}

with :math:`w_j, b_j` the concept's weights and bias. A :class:`~bottlekit.concepts.ConceptBank`
derives them from its vectors (:meth:`~bottlekit.concepts.ConceptBank.projection_layer`:
:math:`w_j = v_j / \lVert v_j\rVert`, :math:`b_j = \text{intercept}_j / \lVert v_j\rVert`,
cosine for text concepts); concept-bottleneck models store the ones they learned. Both call
:func:`linear_concept_activations`, which takes numpy arrays or torch tensors and returns the
same kind (for tensors: differentiable, on the input's dtype and device).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["ProjectionLayer", "is_tensor", "linear_concept_activations"]


class ProjectionLayer(NamedTuple):
    """Weights ``(k, d)``, bias ``(k,)`` and cosine mask ``(k,)`` of a linear concept layer.

    What :meth:`bottlekit.concepts.ConceptBank.projection_layer` returns.

    Parameters
    ----------
    weights : ndarray of shape (k, d)
        One row per concept.
    bias : ndarray of shape (k,)
        Added to each concept's activation.
    cosine : ndarray of bool, shape (k,)
        True for the concepts projected by cosine similarity (the embedding divided by
        its norm first), False for a plain linear score.

    Examples
    --------
    >>> layer = ProjectionLayer(np.eye(2, 3), np.zeros(2), np.array([True, False]))
    >>> layer.weights.shape, layer.cosine.tolist()
    ((2, 3), [True, False])
    """

    weights: np.ndarray
    bias: np.ndarray
    cosine: np.ndarray


def is_tensor(x: Any) -> bool:
    """Whether ``x`` is a torch tensor (checked without importing torch).

    Parameters
    ----------
    x : object
        Anything.

    Returns
    -------
    bool
        True for an object of a torch type with ``detach`` (``torch.Tensor``,
        ``torch.nn.Parameter``).

    Examples
    --------
    >>> is_tensor(np.zeros(2))
    False
    >>> import torch
    >>> is_tensor(torch.zeros(2))
    True
    """
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _power_of_two(peak: Any, xp: Any) -> Any:
    """The power of two at or below each row's largest magnitude ``peak`` (1 for 0).

    The row norms are taken of ``X / s``, whose squares can neither overflow nor underflow
    to 0, and multiplied back by ``s``. Scaling by a power of two is exact, so the norms
    are bitwise those of ``X`` wherever those were finite and nonzero; before, rows of
    about 1e155 (float64; 1e20 in float32) had norm inf and every cosine activation 0,
    and rows of about 1e-160 norm 0, taken for zero embeddings, silently.
    """
    positive = xp.where(peak > 0, peak, xp.ones_like(peak))
    return xp.exp2(xp.floor(xp.log2(positive)))


class _Numpy:
    @staticmethod
    def like(a: Any, X: np.ndarray) -> np.ndarray:
        return np.asarray(a)

    @staticmethod
    def mask(a: Any, X: np.ndarray) -> np.ndarray:
        return np.asarray(a, dtype=bool)

    @staticmethod
    def row_norm(X: np.ndarray) -> np.ndarray:
        peak = np.max(np.abs(X), axis=1, keepdims=True) if X.size else np.ones((len(X), 1))
        s = _power_of_two(peak, np)
        return s * np.linalg.norm(X / s, axis=1, keepdims=True)

    where = staticmethod(np.where)

    @staticmethod
    def ones_like(a: np.ndarray) -> Any:
        return 1.0


class _Torch:
    @staticmethod
    def like(a: Any, X: Any) -> Any:
        from bottlekit.devices import as_tensor

        return as_tensor(a, dtype=X.dtype, device=X.device)

    @staticmethod
    def mask(a: Any, X: Any) -> Any:
        import torch

        from bottlekit.devices import as_tensor

        if is_tensor(a):
            return a.to(device=X.device, dtype=torch.bool)
        return as_tensor(np.asarray(a, dtype=bool), device=X.device)

    @staticmethod
    def row_norm(X: Any) -> Any:
        import torch

        if X.numel() == 0:
            return X.norm(dim=1, keepdim=True)
        s = _power_of_two(X.detach().abs().amax(dim=1, keepdim=True), torch)
        return s * (X / s).norm(dim=1, keepdim=True)

    @staticmethod
    def where(cond: Any, a: Any, b: Any) -> Any:
        import torch

        return torch.where(cond, a, b)

    @staticmethod
    def ones_like(a: Any) -> Any:
        import torch

        return torch.ones_like(a)


def linear_concept_activations(
    X: Any, weights: Any, bias: Any, cosine: Any, *, unit: Any = None
) -> Any:
    r"""Concept activations :math:`a_j(x) = w_j \cdot \tilde x_j + b_j` (module docstring).

    Parameters
    ----------
    X : ndarray or torch.Tensor of shape (n, d)
        Embeddings. The result is of the same kind; a tensor result is differentiable and
        has ``X``'s dtype and device (``weights`` and ``bias`` are converted to them).
    weights : array of shape (k, d)
        :math:`w_j`, one row per concept.
    bias : array of shape (k,)
        :math:`b_j`.
    cosine : bool array of shape (k,)
        Concepts whose activation uses the L2-normalised embedding :math:`x/\lVert x\rVert`
        (a zero embedding is left as it is).
    unit : ndarray of shape (n, d), optional
        Rows to use instead of :math:`x/\lVert x\rVert` for the cosine concepts. This is
        how a linear statistic of the activations is computed without forming them: the
        class mean of the activations is this function of the class means of ``X`` and of
        the normalised ``X`` (numpy only).

    Returns
    -------
    ndarray or torch.Tensor of shape (n, k)
        For numpy input, in the dtype numpy gives ``X @ weights.T``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[3.0, 4.0]])
    >>> W, b = np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([0.0, 0.5])
    >>> linear_concept_activations(X, W, b, [True, False])
    array([[0.6, 3.5]])
    """
    xp = _Torch if is_tensor(X) else _Numpy
    W, b, cos = xp.like(weights, X), xp.like(bias, X), xp.mask(cosine, X)
    # shapes checked: a bias or cosine mask of one entry broadcast over every concept
    # (cosine=[True] made all of them cosine concepts), silently
    if len(W.shape) != 2 or len(X.shape) != 2 or W.shape[1] != X.shape[1]:
        raise ValueError(
            f"weights: expected shape (k, {X.shape[-1]}) for X of shape {tuple(X.shape)}, "
            f"got {tuple(W.shape)}"
        )
    for arg, value in (("bias", b), ("cosine", cos)):
        if tuple(value.shape) != (W.shape[0],):
            raise ValueError(
                f"{arg}: expected shape ({W.shape[0]},), one per concept of weights, got "
                f"{tuple(value.shape)}"
            )
    Z = X @ W.T
    if unit is not None:
        if xp is _Torch:
            raise TypeError("unit: only supported for numpy input")
        Z = np.where(cos, np.asarray(unit) @ W.T, Z)
    elif bool(cos.any()):
        xn = xp.row_norm(X)
        xn = xp.where(xn == 0, xp.ones_like(xn), xn)
        Z = xp.where(cos, Z / xn, Z)
    return Z + b
