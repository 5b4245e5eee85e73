"""TopK sparse autoencoder (Gao et al. 2024): ``k`` active atoms per embedding."""

from __future__ import annotations

from typing import Any

import numpy as np

from bottlekit.concepts.discovery._sae import train_sae

__all__ = ["fit_topk_sae"]


def fit_topk_sae(X: np.ndarray, **options: Any) -> dict:
    """Train a TopK SAE on ``X``; ``options`` as :func:`~._sae.train_sae` (without batch_topk)."""
    return train_sae(X, batch_topk=False, **options)
