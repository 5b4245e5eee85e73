"""Content-addressed embedding cache on disk, and :func:`embed`, its front door.

Layout: ``<root>/embeddings/<prefix>-<hash>/<shard>.safetensors``, one folder per
backbone: a readable prefix of the backbone id and the first 16 hex digits of its
SHA-256, so two ids never share a folder (``model/a`` and ``model_a`` did before). A
shard holds the embeddings of a run of items (``embeddings``: m × d float32) and, in its
JSON metadata, the item keys, the backbone id and two checksums over all of it (format,
backbone id, keys, shape, dtype and the embedding bytes). XXH3-128 is checked before any
row is returned: about 30 times faster than SHA-256, which took a tenth of a cached
lookup of world-tiny's 64-d embeddings and more of wider ones. SHA-256 is written for
bottlekit versions before 2026-12, which check only that one; their shards, without
XXH3, are checked by their SHA-256.

Guarantees (see ``docs/threat_model.md``):

* Shards are written atomically (temporary file, then rename) as the work goes, so a run
  that is killed keeps every finished shard and the next run computes only the rest;
  temporary files left by a kill are removed when the folder is next opened, once they
  are older than :data:`STALE_TMP_AGE` (a concurrent writer's are fresh, and kept).
* A shard that is truncated, tampered with or whose checksum does not match is never
  used: it is reported with a warning (once per process), removed where the cache is
  writable, and its items are recomputed.
* A cache that cannot be written (read-only folder, a parent that is a file, a full
  disk) never fails :func:`embed`: it warns once and computes without caching.
* Concurrent writers may store the same items twice; a shard whose keys are all held by
  shards before it (in name order) is removed when the folder is read.

Caches written before this layout (folders named after the bare backbone id, format
``bottlekit-embeddings/1``) are not read: their items are recomputed once, and the old
folders can be deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import stat
import threading
import time
import uuid
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import xxhash
from safetensors import safe_open
from tqdm.auto import tqdm

from bottlekit._arrays import as_real_array, output_array
from bottlekit._checks import check_bool, check_number, check_positive_int
from bottlekit.atomic import atomic_write_bytes
from bottlekit.images import as_image_source
from bottlekit.safetensors_file import FileTooLarge, _check_values, encode_safetensors, parse_json

__all__ = ["STALE_TMP_AGE", "EmbeddingCache", "default_cache_dir", "embed", "folder_name"]

_FORMAT = "bottlekit-embeddings/2"

#: Seconds after which a temporary file in a cache folder counts as left by a killed
#: writer and is removed (a live writer renames its file within seconds).
STALE_TMP_AGE = 3600.0

#: JSON values a shard's keys may hold per row, counted as
#: :func:`~bottlekit.safetensors_file.parse_json` counts them (every ``[ { , :``, those
#: inside the keys too): bottlekit's keys (``xx:<hex>``, ``file:<hex>``) count 2 each (a
#: comma and a colon). Bounding the count by the shard's rows bounds the memory of parsing
#: the keys (about 35 bytes a value: 280 bytes a row, about as much as a 64-d float32 row
#: of embeddings); without the bound 100 MB of ``[],`` in one shard's keys took about
#: 2.3 GB. :meth:`EmbeddingCache.store` refuses keys beyond it (on average per key).
KEY_VALUES_PER_ROW = 8


def _max_key_values(rows: int) -> int:
    """Most JSON values the keys of a shard of ``rows`` rows may hold (the list, and
    :data:`KEY_VALUES_PER_ROW` a row)."""
    return 1 + KEY_VALUES_PER_ROW * max(rows, 1)


# (path, size, mtime) of shards already reported, so each problem is warned about once
# per process, not at every lookup.
_REPORTED: set[tuple[str, int, int]] = set()
_REPORTED_LOCK = threading.Lock()


def default_cache_dir() -> Path:
    """The cache root: ``$BOTTLEKIT_CACHE`` if set, else ``~/.cache/bottlekit``.

    Returns
    -------
    pathlib.Path
        The folder, with ``~`` expanded; it is not created here.

    Examples
    --------
    >>> import os
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"BOTTLEKIT_CACHE": "~/elsewhere"}):
    ...     default_cache_dir() == Path.home() / "elsewhere"
    True
    >>> with mock.patch.dict(os.environ):
    ...     _ = os.environ.pop("BOTTLEKIT_CACHE", None)
    ...     default_cache_dir() == Path.home() / ".cache" / "bottlekit"
    True
    """
    env = os.environ.get("BOTTLEKIT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "bottlekit"


def folder_name(backbone_id: str) -> str:
    """The folder name of one backbone's shards: readable prefix + hash of the id.

    Parameters
    ----------
    backbone_id : str
        :attr:`bottlekit.Backbone.id`.

    Returns
    -------
    str
        Up to 40 characters of the id with anything but ``[A-Za-z0-9._-]`` replaced by
        ``_``, then ``-`` and 16 hex digits of the id's SHA-256 (``backbone-...`` when no
        readable character is left, e.g. for ``".."``).

    Examples
    --------
    >>> folder_name("model/a"), folder_name("model_a")
    ('model_a-d41117262c2b94f6', 'model_a-dc0ee902f211cb45')
    """
    prefix = re.sub(r"[^A-Za-z0-9._-]+", "_", backbone_id)[:40].strip("._-") or "backbone"
    return f"{prefix}-{hashlib.sha256(backbone_id.encode('utf-8')).hexdigest()[:16]}"


#: The checksums a shard may carry, the first that a shard has being checked: XXH3-128
#: (the ``xxhash`` package) detects damage as surely as SHA-256 (an accidental change goes
#: unnoticed with probability 2**-128) and neither resists forgery, since whoever can
#: write a shard can recompute either (docs/threat_model.md).
_TOO_MANY = (
    "pass the images in chunks, e.g. images[i : i + 100000]: each chunk's embeddings are "
    "cached as it finishes"
)
_CHECKSUMS = {"xxh3_128": xxhash.xxh3_128, "sha256": hashlib.sha256}


def _checksum(backbone_id: str, keys_json: str, emb: np.ndarray, kind: str = "xxh3_128") -> str:
    """Checksum ``kind`` over everything a shard says: format, backbone id, keys, shape,
    dtype, data."""
    head = json.dumps(
        {
            "format": _FORMAT,
            "backbone_id": backbone_id,
            "keys": keys_json,
            "shape": list(emb.shape),
            "dtype": str(emb.dtype),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    h = _CHECKSUMS[kind](head.encode("utf-8"))
    h.update(b"\0")
    h.update(np.ascontiguousarray(emb).data)
    return h.hexdigest()


def _warn_once(path: Path, message: str) -> None:
    try:
        st = path.stat()
        ident = (str(path), st.st_size, st.st_mtime_ns)
    except OSError:
        ident = (str(path), -1, -1)
    with _REPORTED_LOCK:
        if ident in _REPORTED:
            return
        _REPORTED.add(ident)
    warnings.warn(message, RuntimeWarning, stacklevel=4)


class _BadShard(ValueError):
    """A shard that is not what it claims (format, backbone, keys, shape, checksum)."""


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
    >>> path.parent.name
    'model_a-d41117262c2b94f6'
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        _check_folder(root, "root")
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self._opened: set[Path] = set()

    def __repr__(self) -> str:
        return f"EmbeddingCache(root={str(self.root)!r})"

    def folder(self, backbone_id: str) -> Path:
        """Folder holding the shards of one backbone (see :func:`folder_name`).

        Parameters
        ----------
        backbone_id : str
            :attr:`bottlekit.Backbone.id` (non-empty).

        Returns
        -------
        pathlib.Path
            ``<root>/embeddings/<folder_name(backbone_id)>``; it may not exist yet.
        """
        if not isinstance(backbone_id, str) or not backbone_id:
            raise ValueError(f"backbone_id: expected a non-empty str, got {backbone_id!r}")
        return self.root / "embeddings" / folder_name(backbone_id)

    def shards(self, backbone_id: str) -> list[Path]:
        """The shard files of one backbone, oldest first.

        Parameters
        ----------
        backbone_id : str
            :attr:`bottlekit.Backbone.id` (non-empty).

        Returns
        -------
        list of pathlib.Path
            The backbone's regular ``.safetensors`` files by modification time (empty
            when none is stored).
        """
        d = self.folder(backbone_id)
        if not d.is_dir():
            return []
        self._open(d)
        dated = []
        for p in d.glob("*.safetensors"):
            with contextlib.suppress(OSError):  # removed meanwhile by another process
                st = p.stat()
                # only regular files: opening a FIFO would wait for a writer forever,
                # a device (a link to /dev/zero) never ends
                if stat.S_ISREG(st.st_mode):
                    dated.append((st.st_mtime_ns, p.name, p))
        return [p for *_, p in sorted(dated)]

    def _open(self, d: Path) -> None:
        """First use of a folder: remove temporary files left by killed writers."""
        if d in self._opened:
            return
        self._opened.add(d)
        now = time.time()
        for tmp in d.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                if now - tmp.stat().st_mtime > STALE_TMP_AGE:
                    tmp.unlink()

    def _discard(self, path: Path, why: str) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            _warn_once(
                path,
                f"embedding cache: {path} is unreadable ({why}) and cannot be removed "
                f"({exc.strerror or exc}); it is ignored and its embeddings are recomputed",
            )
            return
        warnings.warn(
            f"embedding cache: {path} is unreadable ({why}); it is removed and its "
            "embeddings will be recomputed",
            RuntimeWarning,
            stacklevel=3,
        )

    def _read_header(
        self, path: Path, backbone_id: str, dim: int | None = None
    ) -> tuple[list[str], str] | None:
        """The keys of a shard (not yet verified) and their JSON text, or None; parsed
        within :func:`_max_key_values` of the shard's rows (and, with ``dim``, a shard of
        another width is refused first)."""
        try:
            with safe_open(str(path), framework="np") as fh:
                meta = fh.metadata() or {}
                names = set(fh.keys())
                shape = fh.get_slice("embeddings").get_shape() if "embeddings" in names else []
            if meta.get("format") != _FORMAT or names != {"embeddings"}:
                raise _BadShard("not a bottlekit embedding shard of format " + _FORMAT)
            if len(shape) != 2:
                raise _BadShard(f"embeddings of shape {tuple(shape)}")
            if dim is not None and shape[1] != dim:  # (as _read_embeddings says it)
                raise _BadShard(f"embeddings of width {shape[1]}; the backbone's are {dim} wide")
            if meta.get("backbone_id") != backbone_id:
                _warn_once(
                    path,
                    f"embedding cache: {path} was written for backbone "
                    f"{meta.get('backbone_id')!r}, not {backbone_id!r}; it is ignored",
                )
                return None
            keys_json = meta["keys"]
            try:
                keys = parse_json(keys_json, max_values=_max_key_values(shape[0]))
            except ValueError as exc:
                raise _BadShard(f"keys of {shape[0]} rows: {exc}") from None
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise _BadShard("keys are not a list of strings")
        except Exception as e:  # safetensors raises its own error types
            if path.exists():
                self._discard(path, str(e))
            return None
        return keys, keys_json

    def _read_embeddings(
        self, path: Path, backbone_id: str, keys_json: str, n_keys: int, dim: int | None = None
    ) -> np.ndarray | None:
        try:
            with safe_open(str(path), framework="np") as fh:
                meta = fh.metadata() or {}
                emb = fh.get_tensor("embeddings")
            if emb.ndim != 2 or emb.shape[0] != n_keys or emb.dtype != np.float32:
                raise _BadShard(f"embeddings of shape {emb.shape} for {n_keys} keys")
            if dim is not None and emb.shape[1] != dim:
                raise _BadShard(
                    f"embeddings of width {emb.shape[1]}; the backbone's are {dim} wide"
                )
            if not np.isfinite(emb).all():  # never stored: store() refuses them
                raise _BadShard("NaN or infinite embeddings")
            kind = next((k for k in _CHECKSUMS if k in meta), None)
            if kind is None:
                raise _BadShard("no checksum")
            if meta.get("keys") != keys_json or _checksum(
                backbone_id, keys_json, emb, kind
            ) != meta.get(kind):
                raise _BadShard("checksum mismatch")
        except Exception as e:
            if path.exists():
                self._discard(path, str(e))
            return None
        return emb

    def lookup(self, backbone_id: str, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """Cached embeddings of the given item keys (absent keys are simply missing).

        Shards are read in name order; every row returned comes from a shard whose
        checksum (over keys, shape and data) matched. A shard all of whose keys are held
        by shards before it (left by concurrent writers) is removed on the way.

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
        if isinstance(keys, (str, bytes)):
            raise TypeError(f"keys: expected an iterable of item keys (str), got {keys!r}"[:300])
        blocks, where = self._locate(backbone_id, keys)
        return {key: blocks[b][row] for key, (b, row) in where.items()}

    def _locate(
        self, backbone_id: str, keys: Iterable[str], dim: int | None = None
    ) -> tuple[list[np.ndarray], dict[str, tuple[int, int]]]:
        """The verified shards holding some of ``keys``, and ``key -> (shard, row)``; with
        ``dim``, a shard whose rows have another width is refused as damaged."""
        wanted = set(keys)
        blocks: list[np.ndarray] = []
        where: dict[str, tuple[int, int]] = {}
        held: set[str] = set()  # keys of the shards read so far
        for path in sorted(self.shards(backbone_id), key=lambda p: p.name):
            header = self._read_header(path, backbone_id, dim)
            if header is None:
                continue
            shard_keys, keys_json = header
            if held.issuperset(shard_keys):
                # a duplicate left by a concurrent writer: every row is held before it
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
            held.update(shard_keys)
            if wanted.isdisjoint(shard_keys):
                continue
            emb = self._read_embeddings(path, backbone_id, keys_json, len(shard_keys), dim)
            if emb is None:
                continue
            b = len(blocks)
            blocks.append(emb)
            for row, key in enumerate(shard_keys):
                if key in wanted:
                    where[key] = (b, row)
                    wanted.discard(key)
        return blocks, where

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

        Raises
        ------
        OSError
            When the cache cannot be written (:func:`embed` then warns once and goes on
            without caching).
        FileTooLarge
            (a ``ValueError``) When the shard's header, which holds the keys, would be
            larger than safetensors reads
            (:data:`~bottlekit.safetensors_file.SAFETENSORS_MAX_HEADER_BYTES`); nothing is
            written (:func:`embed` then stores the rows in smaller shards).
        ValueError
            When the keys' JSON holds more than :data:`KEY_VALUES_PER_ROW` ``[ { , :``
            a key on average (a lookup would discard the shard); bottlekit's own keys
            hold 2.
        """
        if isinstance(keys, (str, bytes)) or not all(isinstance(k, str) for k in keys):
            raise TypeError(f"keys: expected a list of str, got {keys!r}"[:300])
        emb = np.ascontiguousarray(as_real_array(embeddings, "embeddings", dtype=np.float32))
        if emb.ndim != 2 or emb.shape[0] != len(keys):
            raise ValueError(
                f"embeddings: expected shape ({len(keys)}, d) for {len(keys)} keys, "
                f"got {emb.shape}"
            )
        if not np.isfinite(emb).all():
            row = int(np.flatnonzero(~np.isfinite(emb).all(axis=1))[0])
            raise ValueError(
                f"embeddings: row {row} ({keys[row]!r}) holds NaN or infinity; the cache "
                "keeps finite embeddings only"
            )
        keys_json = json.dumps(list(keys))
        try:  # (read back, the shard would be discarded)
            _check_values(keys_json, _max_key_values(len(keys)))
        except ValueError as exc:
            raise ValueError(
                f"keys: as JSON, {exc}: {KEY_VALUES_PER_ROW} a key "
                "(KEY_VALUES_PER_ROW); expected keys with fewer '[', '{', ',' and ':'"
            ) from None
        meta = {
            "format": _FORMAT,
            "backbone_id": backbone_id,
            "keys": keys_json,
            **{kind: _checksum(backbone_id, keys_json, emb, kind) for kind in _CHECKSUMS},
        }
        path = self.folder(backbone_id) / f"{uuid.uuid4().hex}.safetensors"
        data = encode_safetensors(
            {"embeddings": emb},
            meta,
            kind="embedding cache shard",
            path=path,
            holds=f"the keys of its {len(keys)} items",
            reader="safetensors",
        )
        atomic_write_bytes(path, data)
        return path

    def clear(self, backbone_id: str | None = None) -> int:
        """Remove the shards of one backbone (or of all); return how many were removed.

        Parameters
        ----------
        backbone_id : str, optional
            :attr:`bottlekit.Backbone.id` whose shards are removed; None: every
            backbone's.

        Returns
        -------
        int
            Shard files removed (files removed meanwhile by another process are not
            counted).
        """
        paths = (
            self.shards(backbone_id)
            if backbone_id is not None
            else sorted((self.root / "embeddings").glob("*/*.safetensors"))
        )
        removed = 0
        for p in paths:
            try:
                p.unlink()
            except FileNotFoundError:  # removed meanwhile by another process
                continue
            removed += 1
        return removed


def _store_fitting(store: EmbeddingCache, backbone_id: str, keys: list[str], emb: Any) -> None:
    """Store the rows in one shard, or, if its header (the keys) would be too large for
    safetensors to read back, in halves, recursively; a single row whose key alone is
    too large is not cached (with a warning)."""
    try:
        store.store(backbone_id, keys, emb)
    except FileTooLarge as exc:
        if len(keys) == 1:
            warnings.warn(
                f"embedding cache: the embedding of {keys[0][:80]!r} is not cached: {exc}",
                RuntimeWarning,
                stacklevel=5,
            )
            return
        half = len(keys) // 2
        _store_fitting(store, backbone_id, keys[:half], emb[:half])
        _store_fitting(store, backbone_id, keys[half:], emb[half:])


def _check_folder(value: Any, name: str) -> None:
    """A cache folder argument: None, or a non-empty path (``Path("")`` is the working
    directory)."""
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name}: expected the path of a folder or None, got {value!r}"[:300])
    if value is not None and not os.fspath(value):
        raise ValueError(f"{name}: got an empty path; expected a folder (or None)")


def _stream_options(jpeg_draft: bool, model_threads: Any) -> dict[str, Any]:
    """The encoding options that differ from their defaults (a duck-typed backbone need
    not know them)."""
    kw: dict[str, Any] = {"jpeg_draft": True} if jpeg_draft else {}
    if model_threads is not None:
        kw["model_threads"] = model_threads
    return kw


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
    jpeg_draft: bool = False,
    model_threads: int | str | None = None,
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
        Rows per cache shard (rows whose keys make a shard too large for safetensors to
        read back are stored in smaller shards).
    progress : bool, default True
        Show a tqdm progress bar.
    num_workers : int, optional
        DataLoader workers (see :meth:`bottlekit.Backbone.encode_images`).
    jpeg_draft : bool, default False
        Opt-in reduced-scale JPEG decoding (see :meth:`bottlekit.Backbone.encode_images`);
        its embeddings differ slightly and are cached under their own keys.
    model_threads : None, "auto" or int, default None
        The model's intra-op threads (see :meth:`bottlekit.Backbone.encode_images`);
        ``"auto"`` leaves the decoding workers their cores.

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
    if not isinstance(cache, EmbeddingCache):
        cache = check_bool(cache, "cache")
    _check_folder(cache_dir, "cache_dir")
    # checked here too: a run that finds every row in the cache never reaches the model
    check_number(batch_size, "batch_size", integer=True, low=1, expected="a positive int")
    check_bool(progress, "progress")
    check_bool(jpeg_draft, "jpeg_draft")
    if num_workers is not None:
        check_positive_int(num_workers, "num_workers", minimum=0)
    if not cache:
        kw = _stream_options(jpeg_draft, model_threads)
        return backbone.encode_images(
            source, batch_size=batch_size, progress=progress, num_workers=num_workers, **kw
        )
    check_number(chunk_size, "chunk_size", integer=True, low=1, expected="a positive int")
    store = cache if isinstance(cache, EmbeddingCache) else EmbeddingCache(cache_dir)
    bid = backbone.id
    keys = source.keys()
    if jpeg_draft:  # other pixels, other embeddings: never mixed with full decodes
        keys = [f"{k}|jpeg-draft" for k in keys]
    dim = getattr(backbone, "embed_dim", None)
    blocks, where = store._locate(bid, keys, dim if isinstance(dim, int) else None)
    if isinstance(dim, int):  # refused before hours of encoding, not at the gather
        out = output_array("embed", (len(keys), dim), "embeddings", _TOO_MANY)

    todo: list[int] = []  # first occurrence of each missing key
    seen: set[str] = set()
    for i, key in enumerate(keys):
        if key not in where and key not in seen:
            seen.add(key)
            todo.append(i)

    if todo:
        pending_keys: list[str] = []
        pending_rows: list[np.ndarray] = []
        writable = [True]

        def flush() -> None:
            if not pending_keys:
                return
            emb = np.concatenate(pending_rows)
            if writable[0]:
                try:
                    _store_fitting(store, bid, pending_keys, emb)
                except OSError as exc:  # read-only, not a folder, disk full ...
                    writable[0] = False
                    warnings.warn(
                        f"embedding cache {str(store.root)!r} cannot be written "
                        f"({exc.strerror or exc}); embeddings are computed without caching",
                        RuntimeWarning,
                        stacklevel=4,
                    )
            b = len(blocks)
            blocks.append(emb)
            where.update((key, (b, row)) for row, key in enumerate(pending_keys))
            pending_keys.clear()
            pending_rows.clear()

        with tqdm(total=len(todo), disable=not progress, unit="img", desc=backbone.name) as bar:
            kw = _stream_options(jpeg_draft, model_threads)
            stream = backbone.iter_encode_images(
                source.subset(todo), batch_size=batch_size, num_workers=num_workers, **kw
            )
            for start, feats in stream:
                pending_keys.extend(keys[todo[start + j]] for j in range(len(feats)))
                pending_rows.append(feats)
                if len(pending_keys) >= chunk_size:
                    flush()
                bar.update(len(feats))
            flush()

    # gather the rows shard by shard (one fancy-indexing copy each, not one per row)
    pairs = itertools.chain.from_iterable(map(where.__getitem__, keys))
    loc = np.fromiter(pairs, np.intp, 2 * len(keys)).reshape(len(keys), 2)
    if not isinstance(dim, int):
        out = output_array("embed", (len(keys), blocks[0].shape[1]), "embeddings", _TOO_MANY)
    for b, block in enumerate(blocks):
        mask = loc[:, 0] == b
        out[mask] = block[loc[mask, 1]]
    return out
