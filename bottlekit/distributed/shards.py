"""The Parquet shards of a distributed run: written atomically, checked before reuse.

Shard ``i`` of a run holds items ``i * shard_size`` to ``(i + 1) * shard_size`` (minus
those that failed) in ``<out>/part-<i>.parquet``, with the columns ``path``, ``key``,
``label`` (null where unknown), ``embedding`` (float32, fixed-size list) and, with a
concept bank, ``concepts``. Its schema metadata (key ``bottlekit``) holds the job
fingerprint, the failures with their reasons, who computed it and how fast, and a SHA-256
over the keys and the embedding bytes: a shard that does not read back, belongs to
another job or fails its checksum is reported, removed and redone.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from bottlekit.atomic import atomic_write_bytes
from bottlekit.safetensors_file import parse_json

__all__ = ["read_embeddings", "shard_path", "stats_path", "verify_shard", "write_shard"]

_FORMAT = "bottlekit-distributed-shard/1"

#: How many times :func:`verify_shard` tries to read a shard whose read fails with a
#: temporary error of the file system, and the wait before the second try (seconds; it
#: doubles before each further one).
READ_ATTEMPTS = 3
READ_RETRY_WAIT_S = 0.5

#: The errors of a read that may pass (a network file system's hiccup, an interrupted or
#: would-block read, a busy or stale handle); a ``TimeoutError`` is one too.
_TRANSIENT_ERRNOS = frozenset(
    (errno.EIO, errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR, errno.EBUSY, errno.ETIMEDOUT)
    + ((errno.ESTALE,) if hasattr(errno, "ESTALE") else ())
)


def shard_path(out: str | os.PathLike, index: int) -> Path:
    """The file of shard ``index``: ``<out>/part-<index:06d>.parquet``.

    Parameters
    ----------
    out : str or os.PathLike
        The run's output folder.
    index : int
        The shard's number.

    Returns
    -------
    pathlib.Path
        The shard's Parquet file.

    Examples
    --------
    >>> shard_path("emb", 7).as_posix()
    'emb/part-000007.parquet'
    """
    return Path(out) / f"part-{index:06d}.parquet"


def stats_path(out: str | os.PathLike, index: int) -> Path:
    """The concept statistics of shard ``index``: ``<out>/part-<index:06d>.stats.safetensors``.

    Parameters
    ----------
    out : str or os.PathLike
        The run's output folder.
    index : int
        The shard's number.

    Returns
    -------
    pathlib.Path
        The statistics file (:class:`~bottlekit.distributed.ConceptStats`).

    Examples
    --------
    >>> stats_path("emb", 7).as_posix()
    'emb/part-000007.stats.safetensors'
    """
    return Path(out) / f"part-{index:06d}.stats.safetensors"


def _checksum(
    keys: list[str],
    emb: np.ndarray,
    concepts: np.ndarray | None,
    predictions: np.ndarray | None = None,
) -> str:
    h = hashlib.sha256(json.dumps(keys).encode("utf-8"))
    h.update(f"\0{emb.shape}\0".encode())
    h.update(np.ascontiguousarray(emb, dtype=np.float32).data)
    if concepts is not None:
        h.update(b"\0concepts\0")
        h.update(np.ascontiguousarray(concepts, dtype=np.float32).data)
    if predictions is not None:
        h.update(b"\0prediction\0")
        h.update(np.ascontiguousarray(predictions, dtype=np.int64).data)
    return h.hexdigest()


def _fixed_list(values: np.ndarray) -> Any:
    import pyarrow as pa

    flat = pa.array(np.ascontiguousarray(values, dtype=np.float32).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, int(values.shape[1]))


def write_shard(
    out: str | os.PathLike,
    index: int,
    *,
    paths: list[str],
    keys: list[str],
    labels: list[int | None],
    embeddings: np.ndarray,
    concepts: np.ndarray | None,
    meta: dict[str, Any],
    stats: bytes | None = None,
    predictions: np.ndarray | None = None,
) -> Path:
    """Write shard ``index`` (and its statistics first, if any), each atomically.

    The Parquet file is written last: its presence with a valid checksum is what marks
    the shard done.

    Parameters
    ----------
    out : str or os.PathLike
        The run's output folder.
    index : int
        The shard's number.
    paths : list of str
        Each item's path as planned.
    keys : list of str
        Each item's cache key (checksummed with the arrays).
    labels : list of int or None
        Each item's class index (None where unknown).
    embeddings : ndarray of shape (n, d)
        The items' embeddings, stored as float32.
    concepts : ndarray of shape (n, k) or None
        The items' concept scores, with a bank.
    meta : dict
        The job's JSON-able metadata (``job``, backbone, ...), stored with the shard's
        own ``format``, ``shard``, ``n`` and ``sha256``.
    stats : bytes or None, default None
        The shard's concept statistics file (:meth:`ConceptStats.to_bytes`), written
        first.
    predictions : ndarray of int, shape (n,), or None, default None
        The audited model's prediction for each item.

    Returns
    -------
    pathlib.Path
        The shard's Parquet file.

    Examples
    --------
    >>> import pytest, tempfile
    >>> _ = pytest.importorskip("pyarrow")  # the "distributed" extra
    >>> out = tempfile.mkdtemp()
    >>> path = write_shard(out, 0, paths=["a.png"], keys=["k"], labels=[None],
    ...                    embeddings=np.ones((1, 2)), concepts=None, meta={"job": "j"})
    >>> path.name, verify_shard(out, 0, "j", with_stats=False)["n"]
    ('part-000000.parquet', 1)
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    emb = np.ascontiguousarray(embeddings, dtype=np.float32).reshape(len(keys), -1)
    problem = _finite_problem(
        emb, None if concepts is None else np.asarray(concepts).reshape(len(keys), -1)
    )
    if problem:  # (read back, the shard would be unusable)
        raise ValueError(f"{problem}; expected finite numbers")
    cols = {
        "path": pa.array(paths, pa.string()),
        "key": pa.array(keys, pa.string()),
        "label": pa.array(labels, pa.int64()),
        "embedding": _fixed_list(emb),
    }
    if concepts is not None:
        cols["concepts"] = _fixed_list(np.asarray(concepts).reshape(len(keys), -1))
    if predictions is not None:
        cols["prediction"] = pa.array(np.asarray(predictions, dtype=np.int64))
    full = {
        **meta,
        "format": _FORMAT,
        "shard": int(index),
        "n": len(keys),
        "sha256": _checksum(keys, emb, concepts, predictions),
    }
    table = pa.table(cols).replace_schema_metadata({"bottlekit": json.dumps(full)})
    if stats is not None:
        atomic_write_bytes(stats_path(out, index), stats)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    target = shard_path(out, index)
    atomic_write_bytes(target, buf.getvalue())
    return target


def _read(path: Path) -> tuple[Any, dict[str, Any]]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = parse_json((table.schema.metadata or {}).get(b"bottlekit", b"{}"))
    if not isinstance(meta, dict):
        raise ValueError("its bottlekit metadata is not a JSON object")
    return table, meta


def _predictions(table: Any) -> np.ndarray | None:
    if "prediction" not in table.column_names:
        return None
    return np.asarray(table.column("prediction").to_pylist(), dtype=np.int64)


def _arrays(table: Any) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    keys = table.column("key").to_pylist()

    def matrix(name: str) -> np.ndarray:
        col = table.column(name).combine_chunks()
        width = col.type.list_size
        return col.values.to_numpy(zero_copy_only=False).reshape(len(col), width)

    emb = matrix("embedding") if len(keys) else np.zeros((0, 0), np.float32)
    concepts = matrix("concepts") if "concepts" in table.column_names and len(keys) else None
    return keys, emb, concepts


def _labels(table: Any) -> list[int]:
    """The label column as class indices, -1 where null; ``ValueError`` for any other
    value (the checksum does not cover the labels)."""
    values = table.column("label").to_pylist()
    for v in values:
        if v is not None and (type(v) is not int or not 0 <= v < 2**63):
            raise ValueError(
                f"label column holds {v!r}"[:200] + "; expected class indices (int >= 0) or null"
            )
    return [-1 if v is None else v for v in values]


def _finite_problem(emb: np.ndarray, concepts: np.ndarray | None) -> str | None:
    """Why the arrays of a shard are not written or read back (None if they are finite):
    the backbone and the cache never give NaN or infinite embeddings."""
    for name, arr in (("embeddings", emb), ("concepts", concepts)):
        if arr is not None and not np.isfinite(arr).all():
            row = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
            return f"{name} hold NaN or infinity (first in row {row})"
    return None


class _Shard:
    """A shard read back and checked: its table, metadata and arrays."""

    def __init__(self, path: Path, index: int, job: str | None = None) -> None:
        """Read shard ``index`` at ``path``; ``ValueError`` (or pyarrow's errors) with the
        reason if it is not a complete bottlekit shard of this index (and of ``job``)."""
        table, meta = _read(path)
        if meta.get("format") != _FORMAT or meta.get("shard") != index:
            raise ValueError("not a bottlekit shard of this index")
        if job is not None and meta.get("job") != job:
            raise ValueError("written by a different job")
        missing = [c for c in ("path", "key", "label", "embedding") if c not in table.column_names]
        if missing:
            raise ValueError(f"it has no column(s) {missing}")
        keys, emb, concepts = _arrays(table)
        predictions = _predictions(table)
        digest = _checksum(keys, emb, concepts, predictions)
        if len(keys) != meta.get("n") or digest != meta.get("sha256"):
            raise ValueError("checksum mismatch")
        problem = _finite_problem(emb, concepts)
        if problem:
            raise ValueError(problem)
        self.labels = _labels(table)
        self.table, self.meta, self.keys = table, meta, keys
        self.emb, self.concepts, self.predictions = emb, concepts, predictions


def verify_shard(
    out: str | os.PathLike,
    index: int,
    job: str,
    *,
    with_stats: bool,
    problems: list[str] | None = None,
) -> dict[str, Any] | None:
    """The metadata of shard ``index`` if it is complete and intact for ``job``, else None.

    A damaged shard, one whose file exists but does not parse (truncated, not Parquet),
    is of another job, lacks a column or fails its checksum, is reported with a
    ``RuntimeWarning`` and removed (with its statistics), so that it is redone; a missing
    or damaged statistics file (with a bank) also sends the shard back. The reason is
    appended to ``problems`` when given (workers send it to the driver).

    A read that fails for the file system, not for the file's content (an ``OSError``
    with an errno other than ``ENOENT``: ``EIO``, ``EAGAIN``, ``EACCES``..., or a
    timeout), is no damage: the shard is kept. A temporary one (``EIO``, ``EAGAIN``,
    ``EINTR``, ``EBUSY``, ``ETIMEDOUT``, ``ESTALE``, a ``TimeoutError``) is retried, up to
    :data:`READ_ATTEMPTS` reads in all, waiting :data:`READ_RETRY_WAIT_S` seconds and then
    twice as long each time; if it persists, or at once for any other, an ``OSError`` of
    the same errno naming the shard is raised, and the run stops instead of redoing
    shards that may be intact.

    Parameters
    ----------
    out : str or os.PathLike
        The run's output folder.
    index : int
        The shard's number.
    job : str
        The run's job id; a shard of another job is damage.
    with_stats : bool
        Whether the shard must have its concept statistics (a run with a bank).
    problems : list of str, optional
        Receives the reason a shard was discarded.

    Returns
    -------
    dict or None
        The shard's metadata, or None when it is missing or was discarded.

    Examples
    --------
    >>> import tempfile, warnings
    >>> out = tempfile.mkdtemp()
    >>> verify_shard(out, 0, "j", with_stats=False) is None  # no shard yet
    True
    >>> _ = shard_path(out, 0).write_bytes(b"not parquet")
    >>> problems = []
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     verify_shard(out, 0, "j", with_stats=False, problems=problems)
    >>> shard_path(out, 0).exists(), len(problems)
    (False, 1)
    """
    path = shard_path(out, index)
    if not path.exists():
        return None
    attempt = 1
    while True:
        try:
            return _verified_meta(out, index, job, with_stats)
        except Exception as exc:  # pyarrow and safetensors raise many types
            if not _is_read_error(exc):
                _discard(out, index, exc, problems)
                return None
            transient = isinstance(exc, TimeoutError) or exc.errno in _TRANSIENT_ERRNOS
            if not transient or attempt >= READ_ATTEMPTS:
                raise _read_failure(path, exc, attempt) from exc
        time.sleep(READ_RETRY_WAIT_S * 2 ** (attempt - 1))
        attempt += 1


def _verified_meta(out: str | os.PathLike, index: int, job: str, with_stats: bool) -> dict:
    """Read shard ``index`` (and its statistics) and check it; raises what reading raises."""
    meta = _Shard(shard_path(out, index), index, job).meta
    if with_stats:
        from bottlekit.distributed.concept_stats import ConceptStats

        _, smeta = ConceptStats.read(stats_path(out, index))
        if smeta.get("sha256") != meta["sha256"]:
            raise ValueError("concept statistics do not belong to this shard")
    return meta


def _is_read_error(exc: BaseException) -> TypeGuard[OSError]:
    """Whether ``exc`` says the file system could not read a file, not that its content is
    bad: a timeout, or an ``OSError`` with an errno other than ``ENOENT`` (pyarrow raises
    ``OSError`` without an errno for content it cannot parse; a missing statistics file is
    damage)."""
    if isinstance(exc, TimeoutError):
        return True
    return isinstance(exc, OSError) and exc.errno is not None and exc.errno != errno.ENOENT


def _read_failure(path: Path, exc: OSError, attempts: int) -> OSError:
    reason = f"{type(exc).__name__}: {exc}"
    message = (
        f"distributed: shard {str(path)!r} or its statistics could not be read ({reason}; "
        f"{attempts} attempt(s)); a read error of the file system is not damage, so the "
        "shard is kept: check the file system and run again"
    )
    if exc.errno is None:  # (only a timeout comes here without an errno)
        return TimeoutError(message)
    return OSError(exc.errno, message)  # (OSError picks the errno's subclass)


def _discard(
    out: str | os.PathLike, index: int, exc: BaseException, problems: list[str] | None
) -> None:
    """Report a damaged shard and remove it with its statistics, so that it is redone."""
    path = shard_path(out, index)
    if problems is not None:
        problems.append(f"{path.name}: {exc}")
    warnings.warn(
        f"distributed: shard {path} is unusable ({exc}); it is removed and redone",
        RuntimeWarning,
        stacklevel=3,
    )
    for p in (path, stats_path(out, index)):
        with contextlib.suppress(OSError):
            p.unlink()


def _shard_index(path: Path) -> int | None:
    """``i`` of ``part-<i>.parquet`` (None for another name)."""
    digits = path.name[len("part-") : -len(".parquet")]
    return int(digits) if digits.isdigit() and len(digits) <= 12 else None


def read_embeddings(out: str | os.PathLike) -> dict[str, Any]:
    """Read every shard of a run back, in item order.

    Parameters
    ----------
    out : str or PathLike
        The output folder of :func:`bottlekit.distributed.embed_dataset`.

    Returns
    -------
    dict
        ``paths`` and ``keys`` (lists of str), ``labels`` (int64, -1 where unknown),
        ``embeddings`` (n, d) float32, when a bank was given ``concepts`` (n, k), and
        when a linear head was given ``predictions`` (n,) int64.

    Examples
    --------
    >>> data = read_embeddings("embeddings/")  # doctest: +SKIP
    >>> data["embeddings"].dtype  # doctest: +SKIP
    dtype('float32')
    """
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out: expected the output folder of embed_dataset, got {out!r}"[:300])
    files = sorted(Path(out).glob("part-*.parquet"))
    if not files:
        raise FileNotFoundError(f"out: {str(out)!r} holds no shards (part-*.parquet)")
    paths: list[str] = []
    keys: list[str] = []
    labels: list[int] = []
    embs, concepts, predictions = [], [], []
    first: tuple[Path, Any, int | None, bool, bool] | None = None
    for f in files:
        index = _shard_index(f)
        try:
            if index is None:
                raise ValueError("not named part-<index>.parquet")
            shard = _Shard(f, index)
        except Exception as exc:  # pyarrow raises many types
            raise ValueError(
                f"out: shard {str(f)!r} is unusable ({exc}); run embed_dataset again with "
                "the same arguments to redo it"
            ) from None
        k, e, c, p = shard.keys, shard.emb, shard.concepts, shard.predictions
        if not k:
            continue
        kind = (f, shard.meta.get("job"), e.shape[1], c is not None, p is not None)
        if first is None:
            first = kind
        elif kind[1:] != first[1:]:
            raise ValueError(
                f"out: shards {first[0].name!r} and {f.name!r} do not belong to one run (job, "
                f"embedding width, concepts or predictions differ: {first[1:]} vs "
                f"{kind[1:]}); use one embed_dataset output folder"
            )
        paths += shard.table.column("path").to_pylist()
        keys += k
        labels += shard.labels
        embs.append(e)
        if c is not None:
            concepts.append(c)
        if p is not None:
            predictions.append(p)
    result: dict[str, Any] = {
        "paths": paths,
        "keys": keys,
        "labels": np.asarray(labels, dtype=np.int64),
        "embeddings": np.concatenate(embs) if embs else np.zeros((0, 0), np.float32),
    }
    if concepts:
        result["concepts"] = np.concatenate(concepts)
    if predictions:
        result["predictions"] = np.concatenate(predictions)
    return result
