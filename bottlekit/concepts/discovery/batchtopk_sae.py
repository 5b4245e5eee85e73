"""BatchTopK sparse autoencoder (Bussmann, Leask, Nanda 2024).

``k * batch_size`` active atoms per batch (so ``k`` on average per embedding, more on
rich images, fewer on plain ones); at inference every activation above the threshold
learned during training. Trained with the TopK SAE's recipe (OpenAI's: encoder bias,
inputs scaled by the data's variance, AuxK normalised and over ``d/2`` dead atoms), not
that of Bussmann's code (no encoder bias, each embedding standardised on its own, an
unnormalised AuxK over 512 atoms, dead after 5 batches).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bottlekit.concepts.discovery._sae import train_sae

__all__ = ["fit_batchtopk_sae"]


def fit_batchtopk_sae(X: np.ndarray, **options: Any) -> dict:
    """Train a BatchTopK SAE on ``X``: a batch keeps its ``k * batch`` largest
    pre-activations, and a threshold learned in training replaces the batch at inference.

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
    >>> fields = fit_batchtopk_sae(
    ...     X, n_concepts=4, k=2, epochs=2, batch_size=32, learning_rate=1e-3, seed=0,
    ...     device="cpu", progress=False, checkpoint=None, checkpoint_every=1, dead_after=None)
    >>> fields["dictionary"].shape, fields["encoder_weight"].shape
    ((4, 8), (4, 8))
    """
    return train_sae(X, batch_topk=True, **options)
