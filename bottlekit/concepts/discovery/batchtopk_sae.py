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
    """Train a BatchTopK SAE on ``X``; ``options`` as :func:`~._sae.train_sae`."""
    return train_sae(X, batch_topk=True, **options)
