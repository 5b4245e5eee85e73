r"""Non-negative matrix factorisation of embeddings (CRAFT, Fel et al. 2023).

CRAFT factorises non-negative (post-ReLU) activations. CLIP embeddings are signed, so the
centred, scaled embedding is split into its positive and negative parts,
:math:`x^+ = [\max(\tilde x, 0), \max(-\tilde x, 0)] \in \mathbb{R}^{2d}_{\ge 0}`, and
factorised :math:`X^+ \approx U H` with scikit-learn's coordinate-descent NMF. An atom's
direction in the embedding space is :math:`h_{:d} - h_{d:}` (normalised); its codes are the
columns of :math:`U`, and new embeddings are encoded with :math:`H` fixed.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["fit_nmf", "nmf_encode"]


def _split(X: np.ndarray, mu: np.ndarray, scale: float) -> np.ndarray:
    Z = X.astype(np.float64) / scale - mu
    return np.hstack([np.maximum(Z, 0), np.maximum(-Z, 0)])


def fit_nmf(X: np.ndarray, *, n_concepts: int, seed: int, epochs: int, **_: object) -> dict:
    """Factorise the split embeddings of ``X`` with scikit-learn's NMF (module docstring).

    Parameters
    ----------
    X : ndarray of shape (n, d)
        The embeddings; centred on their mean and scaled by their root-mean-square
        distance from it before the split.
    n_concepts : int
        :math:`m`, the number of atoms.
    seed : int
        ``random_state`` of the NMF.
    epochs : int
        The NMF's ``max_iter`` (a convergence warning at the limit is silenced).
    **_
        The SAE options :func:`~bottlekit.concepts.discover` passes to every method,
        ignored.

    Returns
    -------
    dict
        The fields of a :class:`~bottlekit.concepts.discovery.ConceptDictionary`:
        unit atom directions :math:`h_{:d} - h_{d:}` as ``dictionary`` and
        ``encoder_weight``, zero ``encoder_bias``, ``pre_bias`` and ``input_scale``, the
        factors :math:`H` as ``components``, the final reconstruction error as
        ``history`` and the codes :math:`U` of ``X`` as ``codes``.

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(40, 3))
    >>> f = fit_nmf(X, n_concepts=2, seed=0, epochs=50)
    >>> f["dictionary"].shape, f["components"].shape, f["codes"].shape
    ((2, 3), (2, 6), (40, 2))
    >>> bool((f["codes"] >= 0).all())
    True
    """
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning

    mu64 = X.mean(0, dtype=np.float64)
    scale = float(np.sqrt(((X - mu64) ** 2).sum(1).mean())) or 1.0
    mu = mu64 / scale
    model = NMF(n_concepts, init="nndsvda", solver="cd", max_iter=epochs, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        U = model.fit_transform(_split(X, mu, scale))
    H = model.components_
    d = X.shape[1]
    direction = H[:, :d] - H[:, d:]
    norms = np.linalg.norm(direction, axis=1, keepdims=True)
    direction = direction / np.where(norms == 0, 1.0, norms)
    return {
        "dictionary": direction.astype(np.float32),
        "encoder_weight": direction.astype(np.float32),
        "encoder_bias": np.zeros(n_concepts, dtype=np.float32),
        "pre_bias": mu.astype(np.float32),
        "input_scale": scale,
        "components": H.astype(np.float32),
        "history": [float(model.reconstruction_err_)],
        "codes": U.astype(np.float32),
    }


def nmf_encode(
    X: np.ndarray, components: np.ndarray, pre_bias: np.ndarray, input_scale: float
) -> np.ndarray:
    """Codes of ``X`` on fixed NMF factors (non-negative least squares, :math:`H` fixed).

    Parameters
    ----------
    X : ndarray of shape (n, d)
        The embeddings to encode.
    components : ndarray of shape (m, 2d)
        The factors :math:`H` of :func:`fit_nmf`.
    pre_bias : ndarray of shape (d,)
        The centre subtracted after scaling (``fit_nmf``'s ``pre_bias``).
    input_scale : float
        The scale ``X`` is divided by first (``fit_nmf``'s ``input_scale``).

    Returns
    -------
    ndarray of float32, shape (n, m)
        The non-negative codes :math:`U`.

    Examples
    --------
    The codes of the training embeddings come back close to those of the fit:

    >>> X = np.random.default_rng(0).normal(size=(40, 3))
    >>> f = fit_nmf(X, n_concepts=2, seed=0, epochs=500)
    >>> U = nmf_encode(X, f["components"], f["pre_bias"], f["input_scale"])
    >>> bool(np.abs(U - f["codes"]).max() < 0.05 * np.abs(f["codes"]).max())
    True
    """
    from sklearn.decomposition import non_negative_factorization
    from sklearn.exceptions import ConvergenceWarning

    H = components.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        U, _, _ = non_negative_factorization(
            _split(X, pre_bias.astype(np.float64), input_scale),
            H=H,
            n_components=H.shape[0],
            init="custom",
            update_H=False,
            solver="cd",
            max_iter=500,
        )
    return U.astype(np.float32)
