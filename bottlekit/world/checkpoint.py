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
complete tensors file: it loses at most the steps since the last checkpoint. (The one file
never replaced in place is the one the sidecar names: a checkpoint of the same step as the
one in place goes to ``<stem>-step<NNNNNNN>.1.safetensors``.)

:func:`read_checkpoint` checks the sidecar against :data:`SIDECAR_SCHEMA`, the tensors
file against the recorded SHA-256 and the tensor names, and raises
:class:`CheckpointError` (a ``ValueError``) naming what is wrong.

The format (the sidecar's schema and value checks, :class:`Checkpoint`,
:class:`CheckpointError`) is in ``_checkpoint_format.py``, the RNG states in
``_checkpoint_rng.py``, and :func:`restore_training_state` with its checks of the stored
states against the live objects in ``_checkpoint_restore.py``; this module writes and
reads the two files and re-exports them all.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from bottlekit.atomic import atomic_write_bytes, atomic_write_text
from bottlekit.safetensors_file import _open_regular_file, parse_json
from bottlekit.world._checkpoint_format import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    SIDECAR_SCHEMA,
    Checkpoint,
    CheckpointError,
    OptionalKey,
    _check_sidecar_values,
    validate_sidecar,
)
from bottlekit.world._checkpoint_restore import restore_training_state
from bottlekit.world._checkpoint_rng import (
    capture_rng_states,
    check_rng_states,
    restore_rng_states,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "MAX_CHECKPOINT_STEPS",
    "MAX_SIDECAR_BYTES",
    "MAX_SIDECAR_VALUES",
    "SIDECAR_SCHEMA",
    "Checkpoint",
    "CheckpointError",
    "OptionalKey",
    "capture_rng_states",
    "check_checkpoint_path",
    "check_rng_states",
    "read_checkpoint",
    "restore_rng_states",
    "restore_training_state",
    "validate_sidecar",
    "write_checkpoint",
]


#: Largest sidecar read, in bytes. A sidecar holds the run's configuration, its RNG
#: states and its optimiser's hyper-parameters (about 24 kB for world-tiny), and one loss
#: per step (about 22 bytes each, at most 30): 65 kB for world-tiny's 2000 steps, less
#: than half of this for :data:`MAX_CHECKPOINT_STEPS` steps. A file larger is refused
#: before it is read.
MAX_SIDECAR_BYTES = 32 * 2**20

#: Most JSON values a sidecar may hold, counted before parsing (see
#: :func:`bottlekit.safetensors_file.parse_json`): about 1,550 for world-tiny, and one
#: per step. A parsed value costs Python up to ~70 bytes for 3 bytes of text: 9 MB of
#: ``[],`` took 224 MB; this bounds the parse to about 70 MB.
MAX_SIDECAR_VALUES = 2**20

#: Most steps of a run that writes checkpoints (:func:`~bottlekit.world.train.train`
#: refuses more before training): its sidecar stays well inside :data:`MAX_SIDECAR_BYTES`
#: and :data:`MAX_SIDECAR_VALUES`, so that every checkpoint it writes reads back.
MAX_CHECKPOINT_STEPS = 500_000


def _tensors_name(path: Path, step: int) -> str:
    """``<stem>-step<NNNNNNN>.safetensors`` (``.1.safetensors`` when the checkpoint in
    place names that file: see :func:`write_checkpoint`)."""
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
    model, optimizer, scheduler : torch.nn.Module, torch.optim.Optimizer, LRScheduler
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
    from bottlekit.safetensors_file import encode_safetensors

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
    name = _tensors_name(path, step)
    blob = encode_safetensors(
        tensors,
        {"format": CHECKPOINT_FORMAT, "step": str(step)},
        kind="checkpoint tensors",
        path=path.parent / name,
        holds="the names and shapes of the model's, optimizer's and RNG's tensors",
        reader="safetensors",
    )
    previous = _previous_tensors_file(path)
    if name == previous:
        # the sidecar in place names a file of this step (another run's, at the same path):
        # replacing it before the new sidecar is in place would leave that sidecar naming
        # a file of other content, and no checkpoint loadable, if the run died in between
        name = name.removesuffix(".safetensors") + ".1.safetensors"
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
    try:
        validate_sidecar(sidecar)
        atomic_write_text(path, json.dumps(sidecar, indent=1) + "\n")  # the commit
    except BaseException:
        # the sidecar in place still names the previous tensors file: the new one,
        # named by no sidecar, would be left behind (one for every failed write)
        (path.parent / name).unlink(missing_ok=True)
        raise
    if previous is not None:
        (path.parent / previous).unlink(missing_ok=True)
    return path


def _previous_tensors_file(path: Path) -> str | None:
    """The tensors file the current sidecar names (None if there is no usable one: no
    file, or one :func:`_read_sidecar` refuses, such as a FIFO, a file too large or too
    deeply nested)."""
    try:
        name = _read_sidecar(path).get("tensors_file")
    except (OSError, CheckpointError):
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


def _read_sidecar(path: Path) -> dict:
    """The sidecar ``path`` parsed, read bounded: a regular file (:func:`_open_file`) of
    at most :data:`MAX_SIDECAR_BYTES` bytes and :data:`MAX_SIDECAR_VALUES` JSON values,
    each key once, holding a JSON object of this format (its ``format`` key). Every
    problem is a :class:`CheckpointError` naming the file, but a missing file
    (``FileNotFoundError``) and what the system refuses (``OSError``)."""
    shown = str(path)
    with _open_file(path, "checkpoint sidecar") as fh:
        size = os.fstat(fh.fileno()).st_size
        # at most one byte past the limit: a file that grew since fstat is not read whole
        raw = fh.read(MAX_SIDECAR_BYTES + 1) if size <= MAX_SIDECAR_BYTES else b""
    if size > MAX_SIDECAR_BYTES or len(raw) > MAX_SIDECAR_BYTES:
        raise CheckpointError(
            f"checkpoint sidecar {shown!r} has {max(size, len(raw))}"
            f"{'+' if size <= MAX_SIDECAR_BYTES else ''} bytes; expected at most "
            f"{MAX_SIDECAR_BYTES} (MAX_SIDECAR_BYTES)"
        )
    try:
        meta = parse_json(raw, unique_keys=True, max_values=MAX_SIDECAR_VALUES)
    except ValueError as exc:  # bad UTF-8 or JSON, a key twice, too deep, too many values
        raise CheckpointError(f"checkpoint sidecar {shown!r} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(
            f"{shown!r} is not a {CHECKPOINT_FORMAT} (format={got!r}; "
            f"expected {CHECKPOINT_FORMAT!r})"
        )
    return meta


def check_checkpoint_path(path: str | Path, steps: int, arg: str = "checkpoint") -> None:
    """Refuse, before a run trains, a checkpoint path its saves could not write or read.

    What is at ``path`` is replaced at the run's first save: it must be absent or a
    checkpoint sidecar (another run's, readable as :func:`read_checkpoint` reads it), not
    a FIFO (whose reading waits for a writer), a device, a file of other content or one
    too large. The run's ``steps`` must be at most :data:`MAX_CHECKPOINT_STEPS` (its
    sidecar holds a loss per step).

    Parameters
    ----------
    path : str or Path
        The sidecar the run will write (its folder is checked by
        :func:`bottlekit.atomic.check_output_path`).
    steps : int
        The run's steps.
    arg : str, default "checkpoint"
        The argument that gave ``path``, for the messages.

    Raises
    ------
    ValueError
        Naming ``arg``, what is at ``path`` and what is expected there.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "ckpt.json"
    >>> check_checkpoint_path(p, steps=100)  # absent: fine
    >>> _ = p.write_text('{"notes": 1}')
    >>> check_checkpoint_path(p, steps=100)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: checkpoint: ...ckpt.json' is not a bottlekit.world.train checkpoint ...
    """
    if steps > MAX_CHECKPOINT_STEPS:
        raise ValueError(
            f"steps: a run of {steps} steps writes checkpoints of {steps} losses; expected "
            f"at most {MAX_CHECKPOINT_STEPS} steps (MAX_CHECKPOINT_STEPS) with a checkpoint"
        )
    path = Path(path)
    if not os.path.lexists(path):
        return
    try:
        _read_sidecar(path)
    except FileNotFoundError:  # a dangling symbolic link: the save replaces the link
        return
    except (OSError, CheckpointError) as exc:
        raise ValueError(
            f"{arg}: {exc}; the run's first save replaces the file at {str(path)!r}: "
            "expected no file there or a checkpoint's sidecar (move that file away, or give "
            "another path)"
        ) from None


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read and validate a checkpoint written by :func:`write_checkpoint`.

    Parameters
    ----------
    path : str or Path
        The sidecar (``.json``), or the tensors file next to it.

    Returns
    -------
    Checkpoint
        The sidecar's content and the tensors, checked whole.

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
        stem, step, _ = path.name.rpartition("-step")
        if not step:  # e.g. the weights a finished run writes, runs/world-tiny.safetensors
            raise CheckpointError(
                f"{str(path)!r} is not a checkpoint's tensors file (named "
                "<stem>-step<NNNNNNN>.safetensors); expected the checkpoint's .json sidecar"
            )
        path = path.with_name(f"{stem}.json")
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.json"))
        raise CheckpointError(
            f"checkpoint {str(path)!r} is a folder; expected the checkpoint's .json file"
            + (f" (this folder has: {', '.join(found[:5])})" if found else "")
        )
    try:
        meta = _read_sidecar(path)
    except FileNotFoundError:
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not exist (expected its .json sidecar)"
        ) from None
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
