"""Training checkpoints of the world's CLIP: safetensors + a JSON sidecar, no pickle.

A checkpoint is two files. The tensors — model weights, the optimiser's per-parameter
state (``exp_avg``, ``exp_avg_sq``, ``step``) and torch's RNG state — go to
``<stem>-step<NNNNNNN>.safetensors``; everything else — the run's configuration, its
progress (step, epoch, batch within the epoch, the data-order generator's state at the
start of the epoch, the loss log), numpy's and Python's global RNG states, the
optimiser's hyper-parameters and the learning-rate scheduler's state — goes to the
sidecar ``<stem>.json``, which names the tensors file and records its SHA-256.

Both are written with :func:`bottlekit.atomic.atomic_write_bytes`, tensors first; the
sidecar's rename is the commit. The previous tensors file is deleted only after the new
sidecar is in place, so a run killed at any instant leaves a sidecar that points at a
complete tensors file: it loses at most the steps since the last checkpoint.

:func:`read_checkpoint` checks the sidecar against :data:`SIDECAR_SCHEMA`, the tensors
file against the recorded SHA-256 and the tensor names, and raises
:class:`CheckpointError` (a ``ValueError``) naming what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bottlekit._checks import shown_value
from bottlekit.atomic import atomic_write_bytes, atomic_write_text
from bottlekit.safetensors_file import _open_regular_file, parse_json

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "SIDECAR_SCHEMA",
    "Checkpoint",
    "CheckpointError",
    "OptionalKey",
    "capture_rng_states",
    "read_checkpoint",
    "restore_rng_states",
    "restore_training_state",
    "validate_sidecar",
    "write_checkpoint",
]

CHECKPOINT_FORMAT = "bottlekit.world.train checkpoint"
CHECKPOINT_VERSION = 1

_NUM = (int, float)
_OPT_NUM = (int, float, type(None))


@dataclass(frozen=True)
class OptionalKey:
    """A sidecar schema entry that may be missing (checkpoints written before it existed).

    Attributes
    ----------
    types : type or tuple of types
        The JSON types the value must have when the key is present.

    Examples
    --------
    >>> validate_sidecar({}, {"a": OptionalKey(int)})
    >>> validate_sidecar({"a": "x"}, {"a": OptionalKey(int)})
    Traceback (most recent call last):
    ...
    bottlekit.world.checkpoint.CheckpointError: ... key 'a' is str ('x'); expected int
    """

    types: type | tuple[type, ...]


#: The sidecar's keys and their JSON types (nested dicts are sub-schemas; an
#: :class:`OptionalKey` may be missing, as in checkpoints older than the key).
SIDECAR_SCHEMA: dict[str, Any] = {
    "format": str,
    "version": int,
    "model": str,
    "model_config": dict,
    "tensors_file": str,
    "tensors_sha256": str,
    "tensors_bytes": int,
    "config": {
        "n_train": int,
        "n_val": int,
        "steps": int,
        "batch_size": int,
        "lr": _NUM,
        "weight_decay": _NUM,
        "warmup": int,
        "seed": int,
        "p_typical_background": _NUM,
        "init": (str, type(None)),
        "captions": OptionalKey(str),
        "hard_negatives": OptionalKey(_NUM),
    },
    "progress": {
        "step": int,
        "epoch": int,
        "next_batch": int,
        "epoch_rng_state": dict,
        "losses": list,
        "last_val_zero_shot": _OPT_NUM,
        "train_seconds": _NUM,
        "train_cpu_seconds": _NUM,
        "sittings": int,
    },
    "world_sha256": str,
    "init": (dict, type(None)),
    "out_dir": OptionalKey((str, type(None))),
    "rng": {"numpy": dict, "python": list},
    "optimizer": {"param_groups": list},
    "scheduler": dict,
    "versions": dict,
}


class CheckpointError(ValueError):
    """A training checkpoint is missing, corrupt, or does not belong to this run."""


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read back by :func:`read_checkpoint`.

    Attributes
    ----------
    path : pathlib.Path
        The sidecar.
    meta : dict
        The sidecar's content (validated against :data:`SIDECAR_SCHEMA`).
    tensors : dict of str to torch.Tensor
        ``model/<name>``, ``optimizer/<param index>/<key>``, ``rng/torch``.
    """

    path: Path
    meta: dict
    tensors: dict[str, torch.Tensor]

    @property
    def step(self) -> int:
        """Optimiser steps taken when the checkpoint was written."""
        return int(self.meta["progress"]["step"])

    def model_state(self) -> dict[str, torch.Tensor]:
        """The model's state dict."""
        return {k[len("model/") :]: v for k, v in self.tensors.items() if k.startswith("model/")}


def validate_sidecar(meta: Any, schema: dict[str, Any] = SIDECAR_SCHEMA, where: str = "") -> None:
    """Check a sidecar against ``schema``; raise :class:`CheckpointError` on the first miss.

    Parameters
    ----------
    meta : object
        The parsed sidecar.
    schema : dict
        Key → type, tuple of types, :class:`OptionalKey` or nested schema (see
        :data:`SIDECAR_SCHEMA`).
    where : str
        Prefix of the key path in error messages.

    Returns
    -------
    None

    Examples
    --------
    >>> validate_sidecar({"a": 1, "b": {"c": "x"}}, {"a": int, "b": {"c": str}})
    >>> validate_sidecar({"a": "1"}, {"a": int})
    Traceback (most recent call last):
    ...
    bottlekit.world.checkpoint.CheckpointError: ... key 'a' is str ('1'); expected int
    """
    if not isinstance(meta, dict):
        name = repr(where) if where else "the sidecar"
        raise CheckpointError(
            f"checkpoint sidecar: {name} is {type(meta).__name__}; expected a JSON object"
        )
    for key, expected in schema.items():
        path = f"{where}.{key}" if where else key
        if isinstance(expected, OptionalKey):
            if key not in meta:
                continue
            expected = expected.types
        if key not in meta:
            raise CheckpointError(f"checkpoint sidecar is missing key {path!r}")
        value = meta[key]
        if isinstance(expected, dict):
            validate_sidecar(value, expected, path)
            continue
        types = expected if isinstance(expected, tuple) else (expected,)
        # JSON has no separate bool: true must not pass for an int field
        if isinstance(value, bool) or not isinstance(value, types):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            shown = shown_value(value)
            raise CheckpointError(
                f"checkpoint sidecar key {path!r} is {type(value).__name__} ({shown}); "
                f"expected {names}"
            )


def capture_rng_states() -> tuple[dict, dict[str, torch.Tensor]]:
    """The global RNG states: numpy's and Python's as JSON, torch's as tensors.

    Returns
    -------
    json_states : dict
        ``{"numpy": ..., "python": ...}``, JSON-serialisable.
    tensors : dict of str to torch.Tensor
        ``rng/torch`` (and ``rng/cuda/<i>`` when CUDA is initialised).

    Examples
    --------
    >>> import random
    >>> states, tensors = capture_rng_states()
    >>> a = random.random(); restore_rng_states(states, tensors); a == random.random()
    True
    """
    np_state = np.random.get_state(legacy=False)  # noqa: NPY002 (the global state is saved)
    np_json = {
        "bit_generator": np_state["bit_generator"],
        "state": {"key": np_state["state"]["key"].tolist(), "pos": int(np_state["state"]["pos"])},
        "has_gauss": int(np_state["has_gauss"]),
        "gauss": float(np_state["gauss"]),
    }
    version, internal, gauss_next = random.getstate()
    tensors = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = s
    return {"numpy": np_json, "python": [version, list(internal), gauss_next]}, tensors


def restore_rng_states(states: dict, tensors: dict[str, torch.Tensor]) -> None:
    """Set the global RNGs to what :func:`capture_rng_states` returned.

    Parameters
    ----------
    states : dict
        ``{"numpy": ..., "python": ...}`` as captured.
    tensors : dict of str to torch.Tensor
        Must hold ``rng/torch``.

    Returns
    -------
    None

    Examples
    --------
    >>> import numpy as np
    >>> s, t = capture_rng_states(); x = np.random.rand()
    >>> restore_rng_states(s, t); bool(np.random.rand() == x)
    True
    """
    try:
        np_json = states["numpy"]
        key = np_json["state"]["key"]
        # checked here: numpy < 2 wraps an out-of-range value into uint32 silently
        if not isinstance(key, list) or not all(type(v) is int and 0 <= v < 2**32 for v in key):
            raise ValueError("numpy's MT19937 key: expected a list of integers in [0, 2**32)")
        np.random.set_state(  # noqa: NPY002 (the global state is restored)
            {
                "bit_generator": np_json["bit_generator"],
                "state": {
                    "key": np.asarray(key, dtype=np.uint32),
                    "pos": int(np_json["state"]["pos"]),
                },
                "has_gauss": int(np_json["has_gauss"]),
                "gauss": float(np_json["gauss"]),
            }
        )
        version, internal, gauss_next = states["python"]
        random.setstate((version, tuple(internal), gauss_next))
        torch.set_rng_state(tensors["rng/torch"])
    except (KeyError, TypeError, ValueError, RuntimeError, OverflowError) as exc:
        raise CheckpointError(f"checkpoint RNG states are unusable: {exc!r}") from exc
    cuda = sorted(k for k in tensors if k.startswith("rng/cuda/"))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[k] for k in cuda])


def _tensors_name(path: Path, step: int) -> str:
    return f"{path.stem}-step{step:07d}.safetensors"


def write_checkpoint(
    path: str | Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    meta: dict,
) -> Path:
    """Write a training checkpoint atomically: tensors, then the sidecar ``path``.

    Parameters
    ----------
    path : str or Path
        The sidecar (``.json``); the tensors file goes next to it.
    model, optimizer, scheduler
        Their states are saved (tensors to safetensors, the rest to the sidecar).
    meta : dict
        The run's ``model``, ``model_config``, ``config``, ``progress``,
        ``world_sha256``, ``init`` and ``versions`` entries (see :data:`SIDECAR_SCHEMA`).

    Returns
    -------
    pathlib.Path
        The sidecar.

    Examples
    --------
    >>> import tempfile, pathlib, torch
    >>> from bottlekit.world.checkpoint import read_checkpoint
    >>> m = torch.nn.Linear(2, 1); opt = torch.optim.AdamW(m.parameters())
    >>> sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    >>> m(torch.ones(1, 2)).sum().backward(); opt.step(); sched.step()
    >>> cfg = dict(n_train=1, n_val=1, steps=1, batch_size=1, lr=1e-3, weight_decay=0.0,
    ...            warmup=0, seed=0, p_typical_background=0.2, init=None)
    >>> prog = dict(step=1, epoch=0, next_batch=1, epoch_rng_state={}, losses=[0.5],
    ...             last_val_zero_shot=None, train_seconds=0.0, train_cpu_seconds=0.0,
    ...             sittings=1)
    >>> meta = dict(model="m", model_config={}, config=cfg, progress=prog,
    ...             world_sha256="0", init=None, versions={})
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "ckpt.json"
    >>> _ = write_checkpoint(p, model=m, optimizer=opt, scheduler=sched, meta=meta)
    >>> sorted(f.name for f in p.parent.iterdir())
    ['ckpt-step0000001.safetensors', 'ckpt.json']
    >>> ck = read_checkpoint(p); ck.step, torch.equal(ck.model_state()["weight"], m.weight)
    (1, True)
    """
    from safetensors.torch import save

    path = Path(path)
    if path.suffix != ".json":
        raise ValueError(f"path={str(path)!r}; expected the sidecar's path, ending in .json")
    step = int(meta["progress"]["step"])
    rng_json, rng_tensors = capture_rng_states()
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    opt_state = optimizer.state_dict()
    for index, state in opt_state["state"].items():
        for key, value in state.items():
            if not torch.is_tensor(value):
                value = torch.tensor(value)
            tensors[f"optimizer/{index}/{key}"] = value
    tensors.update(rng_tensors)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    blob = save(tensors, metadata={"format": CHECKPOINT_FORMAT, "step": str(step)})
    name = _tensors_name(path, step)
    previous = _previous_tensors_file(path)
    atomic_write_bytes(path.parent / name, blob)
    sidecar = dict(
        meta,
        format=CHECKPOINT_FORMAT,
        version=CHECKPOINT_VERSION,
        tensors_file=name,
        tensors_sha256=hashlib.sha256(blob).hexdigest(),
        tensors_bytes=len(blob),
        rng=rng_json,
        optimizer={"param_groups": opt_state["param_groups"]},
        scheduler=scheduler.state_dict(),
    )
    validate_sidecar(sidecar)
    atomic_write_text(path, json.dumps(sidecar, indent=1) + "\n")  # the commit
    if previous is not None and previous != name:
        (path.parent / previous).unlink(missing_ok=True)
    return path


def _previous_tensors_file(path: Path) -> str | None:
    """The tensors file the current sidecar names (None if there is no usable one)."""
    try:
        name = json.loads(path.read_text())["tensors_file"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    # only a plain file name of ours next to the sidecar, never a path elsewhere
    if isinstance(name, str) and Path(name).name == name and name.startswith(f"{path.stem}-step"):
        return name
    return None


def _open_file(path: Path, kind: str):
    """``path`` opened for reading if it is a regular file: a FIFO, whose ``open`` waits
    for a writer, or a device such as ``/dev/zero`` is refused by name."""
    try:
        return _open_regular_file(path, kind)
    except IsADirectoryError:
        raise CheckpointError(
            f"{kind} file {str(path)!r} is a folder; expected a regular file"
        ) from None
    except ValueError as exc:  # a FIFO, a device, a socket
        raise CheckpointError(f"{kind} file: {exc}") from None


#: Sidecar entries that may hold NaN: a diverged run's losses are recorded as they were.
_MAY_BE_NAN = ("progress.losses",)
#: Sidecar counts that cannot be negative.
_COUNTS = (
    ("tensors_bytes",),
    ("progress", "step"),
    ("progress", "epoch"),
    ("progress", "next_batch"),
    ("progress", "sittings"),
)


def _non_finite(value: Any, where: str) -> str | None:
    """Key path of the first NaN or infinite number in ``value`` (None if there is none)."""
    if where in _MAY_BE_NAN:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return where
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        found = _non_finite(item, f"{where}.{key}" if isinstance(key, str) else f"{where}[{key}]")
        if found is not None:
            return found
    return None


def _check_sidecar_values(meta: dict) -> None:
    """What the schema's types do not say: counts >= 0, numbers finite, losses numbers."""
    for keys in _COUNTS:
        value = meta
        for key in keys:
            value = value[key]
        if value < 0:
            raise CheckpointError(
                f"checkpoint sidecar key {'.'.join(keys)!r} is {value}; expected an int >= 0"
            )
    for key, value in meta.items():
        found = _non_finite(value, key)
        if found is not None:
            raise CheckpointError(
                f"checkpoint sidecar key {found!r} is NaN or infinite; expected a finite "
                "number (bottlekit writes none there)"
            )
    losses = meta["progress"]["losses"]
    bad = next((v for v in losses if isinstance(v, bool) or not isinstance(v, _NUM)), None)
    if bad is not None:
        raise CheckpointError(
            f"checkpoint sidecar key 'progress.losses' holds {bad!r:.60}; expected numbers"
        )


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read and validate a checkpoint written by :func:`write_checkpoint`.

    Parameters
    ----------
    path : str or Path
        The sidecar (``.json``), or the tensors file next to it.

    Returns
    -------
    Checkpoint

    Raises
    ------
    CheckpointError
        The sidecar is missing, not JSON, not a checkpoint of this format and version, or
        fails the schema; the tensors file is missing, its SHA-256 differs from the
        sidecar's, or it lacks the model, optimiser or RNG tensors.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "ckpt.json"; _ = p.write_text("{}")
    >>> read_checkpoint(p)
    Traceback (most recent call last):
    ...
    bottlekit.world.checkpoint.CheckpointError: ... is not a bottlekit.world.train checkpoint ...
    """
    from safetensors.torch import load

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"path: expected the path of a checkpoint's .json sidecar, got {path!r:.80}"
        )
    path = Path(path)
    if path.suffix == ".safetensors":
        stem = path.name.rsplit("-step", 1)[0]
        path = path.with_name(f"{stem}.json")
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.json"))
        raise CheckpointError(
            f"checkpoint {str(path)!r} is a folder; expected the checkpoint's .json file"
            + (f" (this folder has: {', '.join(found[:5])})" if found else "")
        )
    try:
        with _open_file(path, "checkpoint sidecar") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not exist (expected its .json sidecar)"
        ) from None
    try:
        meta = parse_json(raw, unique_keys=True)
    except ValueError as exc:  # bad UTF-8 or JSON, a key twice, too deep, too many digits
        raise CheckpointError(
            f"checkpoint sidecar {str(path)!r} is not valid JSON: {exc}"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(
            f"{str(path)!r} is not a {CHECKPOINT_FORMAT} (format={got!r}; "
            f"expected {CHECKPOINT_FORMAT!r})"
        )
    if meta.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has version {meta.get('version')!r}; this bottlekit "
            f"reads version {CHECKPOINT_VERSION}"
        )
    try:
        validate_sidecar(meta)
        _check_sidecar_values(meta)
    except CheckpointError as exc:
        raise CheckpointError(f"{exc} (in {str(path)!r})") from None
    name = meta["tensors_file"]
    if Path(name).name != name or name in ("", ".", "..") or "\x00" in name:
        raise CheckpointError(
            f"checkpoint sidecar key 'tensors_file' is {name!r}; expected a file name "
            "next to the sidecar"
        )
    tensors_path = path.parent / name
    try:
        with _open_file(tensors_path, "checkpoint tensors") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size != meta["tensors_bytes"]:  # before reading a file of any size
                raise CheckpointError(
                    f"checkpoint tensors file {str(tensors_path)!r} is corrupt or not the one "
                    f"its sidecar describes: it has {size} bytes; the sidecar expects "
                    f"{meta['tensors_bytes']} bytes"
                )
            blob = fh.read()
    except FileNotFoundError:
        raise CheckpointError(
            f"checkpoint tensors file {str(tensors_path)!r} named by {str(path)!r} is missing"
        ) from None
    digest = hashlib.sha256(blob).hexdigest()
    if digest != meta["tensors_sha256"] or len(blob) != meta["tensors_bytes"]:
        raise CheckpointError(
            f"checkpoint tensors file {str(tensors_path)!r} is corrupt or not the one its "
            f"sidecar describes: sha256 {digest[:16]}…, {len(blob)} bytes; the sidecar "
            f"expects {meta['tensors_sha256'][:16]}…, {meta['tensors_bytes']} bytes"
        )
    try:
        tensors = load(blob)
    except Exception as exc:  # safetensors raises its own error type
        raise CheckpointError(f"checkpoint tensors file {str(tensors_path)!r}: {exc}") from exc
    if "rng/torch" not in tensors or not any(k.startswith("model/") for k in tensors):
        raise CheckpointError(
            f"checkpoint tensors file {str(tensors_path)!r} lacks the model or torch RNG tensors"
        )
    return Checkpoint(path=path, meta=meta, tensors=tensors)


def _bad_values(value: torch.Tensor) -> str | None:
    """What is wrong with a stored tensor's values (None if nothing)."""
    if value.is_floating_point() and not bool(torch.isfinite(value).all()):
        return "holds NaN or infinity"
    return None


def _check_model_tensors(checkpoint: Checkpoint, model: torch.nn.Module) -> None:
    """Each stored weight has the dtype of the model's (``load_state_dict`` would cast an
    integer or boolean tensor silently) and finite values."""
    where = str(checkpoint.path)
    expected = model.state_dict()
    for name, value in checkpoint.model_state().items():
        if name in expected and value.dtype != expected[name].dtype:
            raise CheckpointError(
                f"checkpoint {where!r}: model tensor {name!r} is stored as {value.dtype}; "
                f"the model's is {expected[name].dtype}"
            )
        problem = _bad_values(value)
        if problem is not None:
            raise CheckpointError(f"checkpoint {where!r}: model tensor {name!r} {problem}")


def _optimizer_state(
    checkpoint: Checkpoint, optimizer: torch.optim.Optimizer
) -> dict[int, dict[str, torch.Tensor]]:
    """The optimiser's per-parameter state from the ``optimizer/<index>/<name>`` tensors."""
    where = str(checkpoint.path)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in checkpoint.tensors.items():
        if not key.startswith("optimizer/"):
            continue
        parts = key.split("/", 2)
        if len(parts) != 3 or not parts[1].isdecimal() or not parts[2]:
            raise CheckpointError(
                f"checkpoint {where!r} has tensor {key!r}; expected optimiser state named "
                "optimizer/<parameter index>/<name>"
            )
        index, name = int(parts[1]), parts[2]
        if index >= len(params):
            raise CheckpointError(
                f"checkpoint {where!r} has optimiser state for parameter {index}; the model "
                f"has {len(params)}"
            )
        shape = () if name == "step" else tuple(params[index].shape)
        if tuple(value.shape) != shape:
            raise CheckpointError(
                f"checkpoint {where!r}: optimiser state {key} has shape {tuple(value.shape)}; "
                f"expected {shape}"
                + ("" if name == "step" else f" (the shape of parameter {index})")
            )
        if not value.is_floating_point():
            raise CheckpointError(
                f"checkpoint {where!r}: optimiser state {key} is stored as {value.dtype}; "
                "expected floating point"
            )
        problem = _bad_values(value)
        if problem is not None:
            raise CheckpointError(f"checkpoint {where!r}: optimiser state {key} {problem}")
        state.setdefault(index, {})[name] = value
    return state


def _check_like(saved: Any, current: Any, at: str, where: str, kind: str) -> None:
    """Refuse a stored optimiser or scheduler state that is not shaped like the live one.

    ``load_state_dict`` takes the stored dict as it is (a scheduler's even updates its
    attributes with whatever keys it holds): a key the live object does not have, a
    string for a learning rate or a list of another length would fail steps later, or
    be trained with silently.
    """

    def fail(expected: str) -> CheckpointError:
        shown = shown_value(saved)
        return CheckpointError(
            f"checkpoint {where!r}: sidecar key {at!r} is {shown}; expected {expected} "
            f"(as this {kind}'s state has)"
        )

    if isinstance(current, dict):
        if not isinstance(saved, dict):
            raise fail("a JSON object")
        unknown = sorted(set(saved) - set(current))
        if unknown:
            raise CheckpointError(
                f"checkpoint {where!r}: sidecar key {at!r} has keys {unknown} that this "
                f"{kind}'s state does not have (tampered, or written by another torch)"
            )
        for key, value in saved.items():
            _check_like(value, current[key], f"{at}.{key}", where, kind)
    elif isinstance(current, (list, tuple)):
        if not isinstance(saved, list) or len(saved) != len(current):
            raise fail(f"a list of {len(current)}")
        for i, (value, now) in enumerate(zip(saved, current, strict=True)):
            _check_like(value, now, f"{at}[{i}]", where, kind)
    elif isinstance(current, bool):
        if not isinstance(saved, bool):
            raise fail("true or false")
    elif isinstance(current, (int, float)):
        kinds = (int,) if isinstance(current, int) else _NUM
        if isinstance(saved, bool) or not isinstance(saved, kinds):
            raise fail("an int" if kinds == (int,) else "a number")
        if not math.isfinite(saved):
            raise fail("a finite number")
    elif isinstance(current, str):
        if not isinstance(saved, str):
            raise fail("a string")
    elif current is None and isinstance(saved, (dict, list)):
        raise fail("null or a JSON value")


def restore_training_state(
    checkpoint: Checkpoint,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
) -> None:
    """Load the model, optimiser, scheduler and global RNG states of ``checkpoint``.

    Parameters
    ----------
    checkpoint : Checkpoint
    model, optimizer, scheduler
        Built exactly as for the run that wrote the checkpoint.

    Returns
    -------
    None

    Examples
    --------
    >>> import tempfile, pathlib, torch
    >>> def build():
    ...     m = torch.nn.Linear(2, 1); opt = torch.optim.AdamW(m.parameters())
    ...     return m, opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 / (s + 1))
    >>> m, opt, sched = build()
    >>> m(torch.ones(1, 2)).sum().backward(); opt.step(); sched.step()
    >>> cfg = dict(n_train=1, n_val=1, steps=2, batch_size=1, lr=1e-3, weight_decay=0.0,
    ...            warmup=0, seed=0, p_typical_background=0.2, init=None)
    >>> prog = dict(step=1, epoch=0, next_batch=1, epoch_rng_state={}, losses=[0.5],
    ...             last_val_zero_shot=None, train_seconds=0.0, train_cpu_seconds=0.0,
    ...             sittings=1)
    >>> meta = dict(model="m", model_config={}, config=cfg, progress=prog,
    ...             world_sha256="0", init=None, versions={})
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "ckpt.json"
    >>> _ = write_checkpoint(p, model=m, optimizer=opt, scheduler=sched, meta=meta)
    >>> m2, opt2, sched2 = build()
    >>> restore_training_state(read_checkpoint(p), m2, opt2, sched2)
    >>> torch.equal(m2.weight, m.weight), sched2.get_last_lr() == sched.get_last_lr()
    (True, True)
    """
    where = str(checkpoint.path)
    # everything is checked before anything is loaded: a refused checkpoint leaves the
    # model, optimiser and scheduler as they were
    _check_model_tensors(checkpoint, model)
    state = _optimizer_state(checkpoint, optimizer)
    current = optimizer.state_dict()["param_groups"]
    saved = checkpoint.meta["optimizer"]["param_groups"]
    _check_like(saved, current, "optimizer.param_groups", where, "optimiser")
    _check_like(
        checkpoint.meta["scheduler"], scheduler.state_dict(), "scheduler", where, "scheduler"
    )
    try:
        model.load_state_dict(checkpoint.model_state(), strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {where!r} does not fit the model: {exc}") from exc
    groups = []
    for group in saved:
        group = dict(group)
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
        scheduler.load_state_dict(checkpoint.meta["scheduler"])
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(
            f"checkpoint {where!r}: optimiser or scheduler state does not fit: {exc}"
        ) from exc
    restore_rng_states(checkpoint.meta["rng"], checkpoint.tensors)
