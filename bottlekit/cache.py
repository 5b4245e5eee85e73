"""Content-addressed embedding cache on disk, and :func:`embed`, its front door.

Layout: ``<root>/embeddings/<backbone id>/<shard>.safetensors``. A shard holds the
embeddings of a run of items (``embeddings``: m × d float32) and, in its JSON
metadata, the item keys, the backbone id and a SHA-256 of the embedding bytes.
Shards are written atomically (temporary file, then rename) as the work goes, so a
run that is killed keeps every finished shard and the next run computes only the
rest. A shard that is truncated or whose checksum does not match is reported with a
warning, removed, and its items recomputed: corrupt bytes are never returned.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import uuid
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save as save_safetensors
from tqdm.auto import tqdm

from bottlekit.atomic import atomic_write_bytes
from bottlekit.images import as_image_source

__all__ = ["EmbeddingCache", "default_cache_dir", "embed"]

_FORMAT = "bottlekit-embeddings/1"


def default_cache_dir() -> Path:
    """The cache root: ``$BOTTLEKIT_CACHE`` if set, else ``~/.cache/bottlekit``."""
    env = os.environ.get("BOTTLEKIT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "bottlekit"


def _safe_dirname(backbone_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", backbone_id)


def _digest(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


class EmbeddingCache:
    """Embeddings on disk, keyed by backbone id and item key.

    Parameters
    ----------
    root : str or PathLike, optional
        Cache root. Default: :func:`default_cache_dir` (``$BOTTLEKIT_CACHE`` or
        ``~/.cache/bottlekit``).

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> cache = EmbeddingCache(tempfile.mkdtemp())
    >>> path = cache.store("model/a", ["k1", "k2"], np.eye(2, dtype=np.float32))
    >>> sorted(cache.lookup("model/a", ["k2", "k3"]))
    ['k2']
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    def __repr__(self) -> str:
        return f"EmbeddingCache(root={str(self.root)!r})"

    def folder(self, backbone_id: str) -> Path:
        """Folder holding the shards of one backbone."""
        if not isinstance(backbone_id, str) or not backbone_id:
            raise ValueError(f"backbone_id: expected a non-empty str, got {backbone_id!r}")
        return self.root / "embeddings" / _safe_dirname(backbone_id)

    def shards(self, backbone_id: str) -> list[Path]:
        """The shard files of one backbone, oldest first."""
        d = self.folder(backbone_id)
        if not d.is_dir():
            return []
        return sorted(d.glob("*.safetensors"), key=lambda p: (p.stat().st_mtime_ns, p.name))

    def _discard(self, path: Path, why: str) -> None:
        warnings.warn(
            f"embedding cache: {path} is unreadable ({why}); it is removed and its "
            "embeddings will be recomputed",
            RuntimeWarning,
            stacklevel=3,
        )
        with contextlib.suppress(OSError):
            path.unlink()

    def _read_keys(self, path: Path, backbone_id: str) -> list[str] | None:
        try:
            with safe_open(str(path), framework="np") as fh:
                meta = fh.metadata() or {}
                names = set(fh.keys())
            if meta.get("format") != _FORMAT or names != {"embeddings"}:
                raise ValueError("not a bottlekit embedding shard")
            if meta.get("backbone_id") != backbone_id:
                raise ValueError(f"written for backbone {meta.get('backbone_id')!r}")
            keys = json.loads(meta["keys"])
        except Exception as e:  # safetensors raises its own error types
            self._discard(path, str(e))
            return None
        return keys

    def _read_embeddings(self, path: Path, n_keys: int) -> np.ndarray | None:
        try:
            with safe_open(str(path), framework="np") as fh:
                meta = fh.metadata() or {}
                emb = fh.get_tensor("embeddings")
            if emb.ndim != 2 or emb.shape[0] != n_keys or emb.dtype != np.float32:
                raise ValueError(f"embeddings of shape {emb.shape} for {n_keys} keys")
            if _digest(emb) != meta.get("sha256"):
                raise ValueError("checksum mismatch")
        except Exception as e:
            self._discard(path, str(e))
            return None
        return emb

    def lookup(self, backbone_id: str, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """Cached embeddings of the given item keys (absent keys are simply missing).

        Parameters
        ----------
        backbone_id : str
            :attr:`bottlekit.Backbone.id` of the model that made the embeddings.
        keys : iterable of str
            Item keys (:meth:`bottlekit.images.ImageSource.key`).

        Returns
        -------
        dict of str to ndarray
            One float32 row per key found.
        """
        wanted = set(keys)
        found: dict[str, np.ndarray] = {}
        for path in self.shards(backbone_id):
            if not wanted:
                break
            shard_keys = self._read_keys(path, backbone_id)
            if shard_keys is None or wanted.isdisjoint(shard_keys):
                continue
            emb = self._read_embeddings(path, len(shard_keys))
            if emb is None:
                continue
            for row, key in enumerate(shard_keys):
                if key in wanted:
                    found[key] = emb[row]
                    wanted.discard(key)
        return found

    def store(self, backbone_id: str, keys: list[str], embeddings: np.ndarray) -> Path:
        """Write one shard atomically and return its path.

        Parameters
        ----------
        backbone_id : str
            Id of the backbone that made the embeddings.
        keys : list of str
            One key per row.
        embeddings : ndarray of shape (len(keys), d)
            The rows; stored as float32.

        Returns
        -------
        Path
            The shard written.
        """
        emb = np.ascontiguousarray(embeddings, dtype=np.float32)
        if emb.ndim != 2 or emb.shape[0] != len(keys):
            raise ValueError(
                f"embeddings: expected shape ({len(keys)}, d) for {len(keys)} keys, "
                f"got {emb.shape}"
            )
        meta = {
            "format": _FORMAT,
            "backbone_id": backbone_id,
            "keys": json.dumps(list(keys)),
            "sha256": _digest(emb),
        }
        path = self.folder(backbone_id) / f"{uuid.uuid4().hex}.safetensors"
        atomic_write_bytes(path, save_safetensors({"embeddings": emb}, metadata=meta))
        return path

    def clear(self, backbone_id: str | None = None) -> int:
        """Remove the shards of one backbone (or of all); return how many were removed."""
        paths = (
            self.shards(backbone_id)
            if backbone_id is not None
            else sorted((self.root / "embeddings").glob("*/*.safetensors"))
        )
        for p in paths:
            p.unlink()
        return len(paths)


def embed(
    backbone: Any,
    images: Any,
    cache: bool | EmbeddingCache = True,
    *,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 64,
    chunk_size: int = 1024,
    progress: bool = True,
    num_workers: int | None = None,
) -> np.ndarray:
    """Embed images with a backbone, reusing and filling the on-disk cache.

    Each item is identified by a key (file path + size + mtime for files, a hash of
    the pixels for in-memory images); the cache is partitioned by
    :attr:`bottlekit.Backbone.id`. Items found in the cache are not recomputed;
    the others are embedded and written in shards of ``chunk_size`` rows as they
    finish, so an interrupted run loses at most one shard of work.

    Parameters
    ----------
    backbone : Backbone
        From :func:`bottlekit.load_backbone`.
    images : list of PIL.Image, ndarray, list of paths, folder, or torch Dataset
        See :func:`bottlekit.images.as_image_source`.
    cache : bool or EmbeddingCache, default True
        Use the cache (``True``: at ``cache_dir``), a given cache, or none (``False``).
    cache_dir : str or PathLike, optional
        Cache root; default ``$BOTTLEKIT_CACHE`` or ``~/.cache/bottlekit``.
    batch_size : int, default 64
        Images per forward pass.
    chunk_size : int, default 1024
        Rows per cache shard.
    progress : bool, default True
        Show a tqdm progress bar.
    num_workers : int, optional
        DataLoader workers (see :meth:`bottlekit.Backbone.encode_images`).

    Returns
    -------
    ndarray of shape (n, embed_dim), float32
        L2-normalised embeddings in input order.

    Examples
    --------
    >>> import numpy as np, tempfile, bottlekit
    >>> bk = bottlekit.load_backbone("ViT-B-32")
    >>> imgs = np.zeros((3, 32, 32, 3), np.uint8)
    >>> X = bottlekit.embed(bk, imgs, cache_dir=tempfile.mkdtemp(), progress=False)
    >>> X.shape
    (3, 512)
    """
    source = as_image_source(images)
    if not cache:
        return backbone.encode_images(
            source, batch_size=batch_size, progress=progress, num_workers=num_workers
        )
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size: expected a positive int, got {chunk_size!r}")
    store = cache if isinstance(cache, EmbeddingCache) else EmbeddingCache(cache_dir)
    bid = backbone.id
    keys = [source.key(i) for i in range(len(source))]
    found = store.lookup(bid, keys)

    todo: list[int] = []  # first occurrence of each missing key
    seen: set[str] = set()
    for i, key in enumerate(keys):
        if key not in found and key not in seen:
            seen.add(key)
            todo.append(i)

    if todo:
        pending_keys: list[str] = []
        pending_rows: list[np.ndarray] = []

        def flush() -> None:
            if pending_keys:
                emb = np.concatenate(pending_rows)
                store.store(bid, pending_keys, emb)
                found.update(zip(pending_keys, emb, strict=True))
                pending_keys.clear()
                pending_rows.clear()

        with tqdm(total=len(todo), disable=not progress, unit="img", desc=backbone.name) as bar:
            stream = backbone.iter_encode_images(
                source.subset(todo), batch_size=batch_size, num_workers=num_workers
            )
            for start, feats in stream:
                pending_keys.extend(keys[todo[start + j]] for j in range(len(feats)))
                pending_rows.append(feats)
                if len(pending_keys) >= chunk_size:
                    flush()
                bar.update(len(feats))
            flush()

    return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)
