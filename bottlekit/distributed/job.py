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
from bottlekit.safetensors_file import parse_json

JOB_FILE = "_job.json"


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
        try:
            found = parse_json(path.read_bytes())  # another run's file: any bytes
        except (OSError, ValueError):
            found = None
        found = found.get("job") if isinstance(found, dict) else None
        if found != job:
            raise ValueError(
                f"out: {str(out)!r} holds the shards of a different job (other source, "
                "backbone, bank or shard settings); use a new folder or remove it"
            )
        return
    atomic_write_text(path, json.dumps({"job": job, **description}, indent=1))
