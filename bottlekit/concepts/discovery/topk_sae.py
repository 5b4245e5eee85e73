"""TopK sparse autoencoder (Gao et al. 2024): ``k`` active atoms per embedding."""

from __future__ import annotations

from typing import Any

import numpy as np

from bottlekit.concepts.discovery._sae import train_sae

__all__ = ["fit_topk_sae"]


def fit_topk_sae(X: np.ndarray, **options: Any) -> dict:
    """Train a TopK SAE on ``X``: every code keeps its ``k`` largest pre-activations.

    Parameters
    ----------
    X : ndarray of float32, shape (n, d)
        The embeddings.
    **options
        The keyword arguments of :func:`~bottlekit.concepts.discovery._sae.train_sae`:
        ``n_concepts``, ``k``, ``epochs``, ``batch_size``, ``learning_rate``, ``seed``,
        ``device``, ``progress``, ``checkpoint``, ``checkpoint_every``, ``dead_after``
        (all required), ``init`` and ``stats``; :func:`~bottlekit.concepts.discover`
        passes them from its own arguments.

    Returns
    -------
    dict
        The fields of a :class:`~bottlekit.concepts.discovery.ConceptDictionary`
        (``dictionary``, ``encoder_weight``, ``encoder_bias``, ``pre_bias``,
        ``input_scale``, ...).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    >>> fields = fit_topk_sae(
    ...     X, n_concepts=4, k=2, epochs=2, batch_size=32, learning_rate=1e-3, seed=0,
    ...     device="cpu", progress=False, checkpoint=None, checkpoint_every=1, dead_after=None)
    >>> fields["dictionary"].shape, fields["encoder_weight"].shape
    ((4, 8), (4, 8))
    """
    return train_sae(X, batch_topk=False, **options)
