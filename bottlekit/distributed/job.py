"""Which job an output folder holds: the fingerprint of a run's settings and its claim
of the folder.

A job is its items, its backbone and every setting that changes the shards (shard and
batch sizes, the concept bank, the head or concept-bottleneck model, ``top``, the class
names). :func:`_claim_output` writes the fingerprint to ``<out>/_job.json`` once, and a
later run with other settings is refused the folder instead of mixing shards of two jobs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bottlekit.atomic import atomic_write_text
from bottlekit.distributed.items import ItemPlan
from bottlekit.safetensors_file import (
    MAX_HEADER_BYTES,
    MAX_HEADER_VALUES,
    _open_regular_file,
    parse_json,
)

JOB_FILE = "_job.json"

#: Most bytes and JSON values of ``<out>/_job.json`` that are read (the bounds of a
#: safetensors header, see :data:`~bottlekit.safetensors_file.MAX_HEADER_BYTES`): the file
#: :func:`_claim_output` writes holds the job's settings, the class names the largest part
#: (a few kB for a thousand classes). A larger file is not one of ours: another job's.
MAX_JOB_FILE_BYTES = MAX_HEADER_BYTES
MAX_JOB_FILE_VALUES = MAX_HEADER_VALUES


def _model_digest(cbm: Any) -> str | None:
    """SHA-256 of a fitted model's class, hyper-parameters and learned attributes."""
    if cbm is None:
        return None
    h = hashlib.sha256(type(cbm).__name__.encode())
    params = {k: repr(v) for k, v in cbm.get_params(deep=False).items() if k != "concepts"}
    h.update(json.dumps(params, sort_keys=True).encode())
    for key in sorted(vars(cbm)):
        if not key.endswith("_") or key.startswith("_"):
            continue
        value = getattr(cbm, key)
        h.update(key.encode())
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            h.update(str(value.dtype).encode() + str(value.shape).encode())
            h.update(np.ascontiguousarray(value).data)
        else:
            h.update(repr(value).encode())
    return h.hexdigest()


def _bank_digest(bank: Any) -> str | None:
    if bank is None:
        return None
    h = hashlib.sha256(json.dumps([bank.names, bank.kinds, bank.backbone_id]).encode())
    h.update(np.ascontiguousarray(bank.vectors).data)
    h.update(np.ascontiguousarray(bank.intercepts).data)
    return h.hexdigest()


def _job_fingerprint(plan: ItemPlan, backbone_id: str, settings: dict[str, Any]) -> str:
    h = hashlib.sha256(json.dumps({"backbone_id": backbone_id, **settings}).encode())
    h.update(json.dumps(plan.paths).encode())
    if plan.labels is not None:
        h.update(np.ascontiguousarray(plan.labels).data)
    return h.hexdigest()[:32]


def _job_in(path: Path) -> str | None:
    """The job that the ``_job.json`` at ``path`` names, or None if it names none (any
    bytes, from another run). Not a regular file (a FIFO, whose ``open`` waits for a
    writer, or a device such as ``/dev/zero``) is a ``ValueError``; at most
    :data:`MAX_JOB_FILE_BYTES` are read and :data:`MAX_JOB_FILE_VALUES` parsed."""
    try:
        fh = _open_regular_file(path, "job description written by embed_dataset")
    except ValueError as exc:
        raise ValueError(f"out: {exc}") from None
    except OSError:  # (a folder, or removed meanwhile)
        return None
    try:
        with fh:
            raw = fh.read(MAX_JOB_FILE_BYTES + 1)
        found = None
        if len(raw) <= MAX_JOB_FILE_BYTES:
            found = parse_json(raw, max_values=MAX_JOB_FILE_VALUES)
    except (OSError, ValueError):
        return None
    return found.get("job") if isinstance(found, dict) else None


def _claim_output(out: Path, job: str, description: dict[str, Any]) -> None:
    """Create ``out`` for ``job``, or check that it already belongs to the same job.

    Temporary files left by writers killed mid-write are removed once they are older
    than :data:`bottlekit.cache.STALE_TMP_AGE` (a live writer renames its file at once).
    """
    from bottlekit.cache import STALE_TMP_AGE

    out.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for tmp in out.glob(".part-*.tmp"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > STALE_TMP_AGE:
                tmp.unlink()
    path = out / JOB_FILE
    if path.exists():
        found = _job_in(path)
        if found != job:
            raise ValueError(
                f"out: {str(out)!r} holds the shards of a different job (other source, "
                "backbone, bank or shard settings); use a new folder or remove it"
            )
        return
    atomic_write_text(path, json.dumps({"job": job, **description}, indent=1))
