r"""A linear classifier head on a backbone's image embeddings: as a torch image classifier
(:class:`BackboneLinearClassifier`) and as a file (:func:`save_linear_head`,
:func:`load_linear_head`).

The head is :math:`W z + b` on the backbone's L2-normalised embedding :math:`z`, e.g. the
``coef_`` and ``intercept_`` of a scikit-learn linear model fitted on
:func:`bottlekit.embed`'s output. ``bottlekit audit --head FILE`` audits such a head
(:func:`bottlekit.diagnostics.audit` takes the torch classifier).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bottlekit.devices import as_tensor

__all__ = ["BackboneLinearClassifier", "load_linear_head", "save_linear_head"]


class BackboneLinearClassifier(torch.nn.Module):
    r"""A torch image classifier: a bottlekit backbone's image tower and a linear head.

    :math:`f(x) = W\,\frac{g(\mathrm{norm}(x))}{\lVert g(\mathrm{norm}(x))\rVert} + b`, with
    :math:`g` the backbone's image tower and norm its preprocessing normalisation. Takes
    float images in [0, 1], shape (n, 3, H, W) at the tower's input size (the audit's
    default preprocessing gives exactly that from uint8 images). Its penultimate features
    (the input of ``head``) are the backbone's L2-normalised embeddings.

    Parameters
    ----------
    backbone : Backbone
        From :func:`bottlekit.load_backbone`.
    weight : array of shape (C, d)
        Head weights :math:`W` on the embedding (``d`` is ``backbone.embed_dim``).
    bias : array of shape (C,)
        Head intercepts :math:`b`, one per class.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from bottlekit import load_backbone
    >>> bk = load_backbone("world-tiny")
    >>> clf = BackboneLinearClassifier(bk, np.zeros((3, bk.embed_dim)), [0.0, 1.0, 2.0])
    >>> clf(torch.rand(2, 3, 64, 64)).tolist()
    [[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]]
    """

    def __init__(self, backbone: Any, weight: Any, bias: Any) -> None:
        super().__init__()
        from torchvision import transforms as T

        W = as_tensor(np.asarray(weight, dtype=np.float32))
        b = as_tensor(np.asarray(bias, dtype=np.float32))
        d = int(backbone.embed_dim)
        if W.ndim != 2 or W.shape[1] != d or b.shape != (W.shape[0],):
            raise ValueError(
                f"weight/bias: expected shapes (C, {d}) and (C,), got {tuple(W.shape)} and "
                f"{tuple(b.shape)}"
            )
        self.visual = backbone.model.visual
        steps = list(getattr(backbone.preprocess, "transforms", []))
        norm = next((s for s in steps if isinstance(s, T.Normalize)), None)
        mean = [0.0, 0.0, 0.0] if norm is None else list(norm.mean)
        std = [1.0, 1.0, 1.0] if norm is None else list(norm.std)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.head = torch.nn.Linear(d, W.shape[0])
        with torch.no_grad():
            self.head.weight.copy_(W)
            self.head.bias.copy_(b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of float images.

        Parameters
        ----------
        x : torch.Tensor of shape (n, 3, H, W)
            Float images in [0, 1] at the tower's input size, on the module's device.

        Returns
        -------
        torch.Tensor of shape (n, C)
            :math:`W z + b` with :math:`z` the L2-normalised embedding of each image.
        """
        z = self.visual((x - self.mean) / self.std)
        return self.head(torch.nn.functional.normalize(z.float(), dim=-1))


def save_linear_head(path: str | os.PathLike, weight: Any, bias: Any) -> Path:
    """Write a linear head to a safetensors file, atomically.

    Parameters
    ----------
    path : path-like
        The file to write (replaced if it exists).
    weight : array-like of shape (C, d)
        Stored as float32 under ``"weight"``.
    bias : array-like of shape (C,)
        Stored as float32 under ``"bias"``.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "head.safetensors"
    >>> _ = save_linear_head(path, np.eye(2, 4), [0.5, -0.5])
    >>> W, b = load_linear_head(path)
    >>> W.shape, b.tolist()
    ((2, 4), [0.5, -0.5])
    """
    from bottlekit.atomic import atomic_write_bytes
    from bottlekit.safetensors_file import encode_safetensors

    try:
        W = np.ascontiguousarray(np.asarray(weight, dtype=np.float32))
        b = np.ascontiguousarray(np.asarray(bias, dtype=np.float32))
    except (TypeError, ValueError):
        raise TypeError(
            f"weight/bias: expected arrays of numbers, got {type(weight).__name__} and "
            f"{type(bias).__name__}"
        ) from None
    problem = _head_shape_problem(W, b)  # what load_linear_head refuses is not written
    if problem:
        raise ValueError(f"weight/bias: expected (C, d) and (C,), {problem}")
    if not (np.isfinite(W).all() and np.isfinite(b).all()):
        raise ValueError("weight/bias contain NaN or inf; expected finite weights")
    problem = _head_value_problem(W, b)
    if problem:
        raise ValueError(f"weight/bias: {problem}")
    path = Path(path)
    data = encode_safetensors(
        {"weight": W, "bias": b},
        None,
        kind="linear head",
        path=path,
        holds="only its weight and bias",
    )
    atomic_write_bytes(path, data)
    return path


def load_linear_head(
    path: str | os.PathLike, *, argument: str = "path"
) -> tuple[np.ndarray, np.ndarray]:
    """Read a head written by :func:`save_linear_head`, checking what the file holds.

    Parameters
    ----------
    path : path-like
        A safetensors file holding exactly the float arrays ``weight`` (C, d) and
        ``bias`` (C,), all finite.
    argument : str, default "path"
        The name errors give the file by (``bottlekit audit`` passes ``"--head"``).

    Returns
    -------
    weight : ndarray of shape (C, d)
        The head's weights, float as stored (float32 from :func:`save_linear_head`).
    bias : ndarray of shape (C,)
        The head's intercepts, float as stored.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> load_linear_head(Path(tempfile.mkdtemp()) / "missing.safetensors")
    Traceback (most recent call last):
    ...
    FileNotFoundError: path: no file at '.../missing.safetensors'
    """
    from bottlekit.safetensors_file import read_safetensors

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{argument}: expected the path of a linear-head file, got {path!r}")
    path = Path(path)
    if not path.exists():  # anything else at the path (folder, FIFO) is named by the reader
        raise FileNotFoundError(f"{argument}: no file at {str(path)!r}")
    arrays = read_safetensors(path, "linear head", require_metadata=False)
    if set(arrays) != {"weight", "bias"}:
        raise ValueError(
            f"{argument}: {str(path)!r} must hold exactly 'weight' and 'bias', got "
            f"{sorted(arrays)}"
        )
    W, b = arrays["weight"], arrays["bias"]
    if W.dtype.kind != "f" or b.dtype.kind != "f":
        raise ValueError(
            f"{argument}: {str(path)!r} must hold float arrays, got {W.dtype}, {b.dtype}"
        )
    problem = _head_shape_problem(W, b)
    if problem:
        raise ValueError(
            f"{argument}: {str(path)!r}: weight (C, d) and bias (C,) expected, {problem}"
        )
    if not (np.isfinite(W).all() and np.isfinite(b).all()):
        raise ValueError(f"{argument}: {str(path)!r} holds NaN or infinite weights")
    problem = _head_value_problem(W, b)
    if problem:
        raise ValueError(f"{argument}: {str(path)!r}: {problem}")
    return W, b


def _head_shape_problem(W: np.ndarray, b: np.ndarray) -> str | None:
    """What is wrong with the shapes of a linear head (the one rule, for writing and
    reading): ``weight`` (C, d) and ``bias`` (C,) with C, d >= 1. ``None`` if nothing."""
    if W.ndim != 2 or b.shape != (W.shape[0],):
        return f"got {W.shape} and {b.shape}"
    if W.size == 0:
        return f"got {W.shape} and {b.shape}; C and d must be >= 1"
    return None


def _head_value_problem(W: np.ndarray, b: np.ndarray) -> str | None:
    r"""What is wrong with the finite values of a linear head (the one rule, for writing
    and reading), ``None`` if nothing.

    A value beyond float32's range became inf in :class:`BackboneLinearClassifier` (NaN
    logits, no error). Below it, every value must be at most the magnitude limit of a
    concept-bottleneck model's weights,
    :func:`~bottlekit.bottleneck._model_file.magnitude_limit` for no concepts and d
    features: :math:`M = \sqrt{f_{32} / (d + 2)}` (about 8e17 for d = 512), under which
    the float32 logits :math:`W z + b` of an embedding with entries in [-1, 1] (an
    L2-normalised one) are at most :math:`(d + 1) M \le f_{32}`.
    """
    from bottlekit.bottleneck._model_file import magnitude_limit

    f32 = float(np.finfo(np.float32).max)
    for name, arr in (("weight", W), ("bias", b)):
        over = np.flatnonzero(np.abs(arr) > f32)
        if len(over):
            return (
                f"{name} holds values beyond float32's range (first "
                f"{float(arr.flat[over[0]]):.3g}); expected |w| <= {f32:.2g}"
            )
    d = W.shape[1]
    limit = magnitude_limit(0, d)
    for name, arr in (("weight", W), ("bias", b)):
        peak = float(np.abs(arr).max())
        if peak > limit:
            return (
                f"{name} holds a value of magnitude {peak:.3g}; expected at most {limit:.3g} "
                f"= sqrt(float32 max / (d + 2)) for d={d} features: larger weights can "
                "overflow the float32 logits of unit-scale embeddings (the limit of a "
                "concept-bottleneck model's weights)"
            )
    return None
