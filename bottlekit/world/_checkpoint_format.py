"""The checkpoint's format: the sidecar's schema (:data:`SIDECAR_SCHEMA`) and the checks
of a sidecar's values, :class:`Checkpoint` (a checkpoint read back) and
:class:`CheckpointError`; the files are written and read in
:mod:`bottlekit.world.checkpoint`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bottlekit._checks import shown_value

CHECKPOINT_FORMAT = "bottlekit.world.train checkpoint"
CHECKPOINT_VERSION = 1

_NUM = (int, float)
_OPT_NUM = (int, float, type(None))


@dataclass(frozen=True)
class OptionalKey:
    """A sidecar schema entry that may be missing (checkpoints written before it existed).

    Parameters
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
        "precision": OptionalKey(str),
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

    # tracebacks name it by its public home, where callers import it from
    __module__ = "bottlekit.world.checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read back by :func:`read_checkpoint`.

    Parameters
    ----------
    path : pathlib.Path
        The sidecar.
    meta : dict
        The sidecar's content (validated against :data:`SIDECAR_SCHEMA`).
    tensors : dict of str to torch.Tensor
        ``model/<name>``, ``optimizer/<param index>/<key>``, ``rng/torch``.

    Examples
    --------
    >>> ck = Checkpoint(Path("ck.json"), {"progress": {"step": 7}},
    ...                 {"model/w": torch.ones(2), "rng/torch": torch.zeros(1)})
    >>> ck.step, list(ck.model_state())
    (7, ['w'])
    """

    path: Path
    meta: dict
    tensors: dict[str, torch.Tensor]

    @property
    def step(self) -> int:
        """Optimiser steps taken when the checkpoint was written."""
        return int(self.meta["progress"]["step"])

    def model_state(self) -> dict[str, torch.Tensor]:
        """The model's state dict.

        Returns
        -------
        dict of str to torch.Tensor
            The ``model/`` tensors, by parameter name.
        """
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
#: Sidecar durations in seconds, which cannot be negative (they reach the finished run's
#: metadata).
_SECONDS = ("train_seconds", "train_cpu_seconds")


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
    """What the schema's types do not say: counts >= 0, numbers finite, losses numbers,
    seconds >= 0 and the last accuracy in [0, 1] (both reach the finished run's metadata,
    ``train_seconds`` and ``val_zero_shot_species_accuracy``)."""
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
    progress = meta["progress"]
    for key in _SECONDS:  # (finite: checked above)
        if progress[key] < 0:
            raise CheckpointError(
                f"checkpoint sidecar key 'progress.{key}' is {shown_value(progress[key])}; "
                "expected a number >= 0 (seconds)"
            )
    accuracy = progress["last_val_zero_shot"]
    if accuracy is not None and not 0 <= accuracy <= 1:
        raise CheckpointError(
            "checkpoint sidecar key 'progress.last_val_zero_shot' is "
            f"{shown_value(accuracy)}; expected a number in [0, 1] or null (an accuracy)"
        )
    losses = progress["losses"]
    bad = next((v for v in losses if isinstance(v, bool) or not isinstance(v, _NUM)), None)
    if bad is not None:
        raise CheckpointError(
            f"checkpoint sidecar key 'progress.losses' holds {bad!r:.60}; expected numbers"
        )
