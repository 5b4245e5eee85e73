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
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bottlekit.atomic import atomic_write_bytes, atomic_write_text

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
            shown = repr(value) if len(repr(value)) < 60 else repr(value)[:57] + "..."
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
        np.random.set_state(  # noqa: NPY002 (the global state is restored)
            {
                "bit_generator": np_json["bit_generator"],
                "state": {
                    "key": np.asarray(np_json["state"]["key"], dtype=np.uint32),
                    "pos": int(np_json["state"]["pos"]),
                },
                "has_gauss": int(np_json["has_gauss"]),
                "gauss": float(np_json["gauss"]),
            }
        )
        version, internal, gauss_next = states["python"]
        random.setstate((version, tuple(internal), gauss_next))
        torch.set_rng_state(tensors["rng/torch"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
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
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not exist (expected its .json sidecar)"
        )
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint sidecar {str(path)!r} is not valid JSON: {exc}"
        ) from exc
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
    except CheckpointError as exc:
        raise CheckpointError(f"{exc} (in {str(path)!r})") from None
    name = meta["tensors_file"]
    if Path(name).name != name:
        raise CheckpointError(
            f"checkpoint sidecar key 'tensors_file' is {name!r}; expected a file name "
            "next to the sidecar"
        )
    tensors_path = path.parent / name
    if not tensors_path.is_file():
        raise CheckpointError(
            f"checkpoint tensors file {str(tensors_path)!r} named by {str(path)!r} is missing"
        )
    blob = tensors_path.read_bytes()
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
    try:
        model.load_state_dict(checkpoint.model_state(), strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {where!r} does not fit the model: {exc}") from exc
    params = [p for g in optimizer.param_groups for p in g["params"]]
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in checkpoint.tensors.items():
        if not key.startswith("optimizer/"):
            continue
        _, index, name = key.split("/", 2)
        index = int(index)
        if index >= len(params):
            raise CheckpointError(
                f"checkpoint {where!r} has optimiser state for parameter {index}; the model "
                f"has {len(params)}"
            )
        if name != "step" and value.shape != params[index].shape:
            raise CheckpointError(
                f"checkpoint {where!r}: optimiser state {key} has shape {tuple(value.shape)}; "
                f"parameter {index} has {tuple(params[index].shape)}"
            )
        state.setdefault(index, {})[name] = value
    groups = []
    for group in checkpoint.meta["optimizer"]["param_groups"]:
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
