"""The global RNG states (numpy's, Python's, torch's and CUDA's) that a checkpoint saves
and restores, so that a resumed run draws what the uninterrupted run would have."""

from __future__ import annotations

import random

import numpy as np
import torch

from bottlekit._checks import shown_value
from bottlekit.world._checkpoint_format import CheckpointError


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


def _numpy_state(states: dict) -> dict:
    """numpy's global state as ``np.random.set_state`` takes it, from the sidecar's JSON,
    checked where numpy does not check: the key (numpy < 2 wraps a value past 2**32 into
    uint32 silently, and a short key fails with an IndexError) and the position (numpy
    takes any, and reads the key out of bounds at the next draw)."""
    np_json = states["numpy"]
    key, pos = np_json["state"]["key"], np_json["state"]["pos"]
    if not isinstance(key, list) or len(key) != 624:
        raise ValueError(f"state.key: expected a list of 624 integers, got {shown_value(key)}")
    if not all(type(v) is int and 0 <= v < 2**32 for v in key):
        raise ValueError("state.key: expected a list of integers in [0, 2**32)")
    if type(pos) is not int or not 0 <= pos <= 624:
        raise ValueError(f"state.pos: expected an int in [0, 624], got {shown_value(pos)}")
    return {
        "bit_generator": np_json["bit_generator"],
        "state": {"key": np.asarray(key, dtype=np.uint32), "pos": pos},
        "has_gauss": int(np_json["has_gauss"]),
        "gauss": float(np_json["gauss"]),
    }


def check_rng_states(
    states: dict, tensors: dict[str, torch.Tensor], where: str | None = None
) -> None:
    """Refuse RNG states that :func:`restore_rng_states` could not set, naming the field.

    Each state is set into a generator of its own, so that the global ones are not
    touched: a checkpoint is checked whole before anything of it is loaded.

    Parameters
    ----------
    states : dict
        ``{"numpy": ..., "python": ...}`` as stored in the sidecar's ``rng``.
    tensors : dict of str to torch.Tensor
        The checkpoint's tensors (``rng/torch``, and ``rng/cuda/<i>`` per CUDA device
        when the run had initialised CUDA).
    where : str or None
        The checkpoint's path, for the message.

    Raises
    ------
    CheckpointError
        Naming the checkpoint and the state (``rng.numpy``, ``rng.python``, tensor
        ``rng/torch`` or ``rng/cuda/<i>``) that is of the wrong type or length, or out of
        range.

    Examples
    --------
    >>> states, tensors = capture_rng_states()
    >>> check_rng_states(states, tensors, "ck.json")
    >>> states["python"][1] = states["python"][1][:10]
    >>> check_rng_states(states, tensors, "ck.json")
    Traceback (most recent call last):
    ...
    bottlekit.world.checkpoint.CheckpointError: checkpoint 'ck.json': sidecar key 'rng.python' ...
    """
    errors = (KeyError, IndexError, TypeError, ValueError, RuntimeError, OverflowError)
    checks = (
        (
            "sidecar key 'rng.numpy'",
            lambda: np.random.RandomState().set_state(_numpy_state(states)),
        ),
        ("sidecar key 'rng.python'", lambda: random.Random().setstate(_python_state(states))),
        ("tensor 'rng/torch'", lambda: torch.Generator().set_state(tensors["rng/torch"])),
    )
    named = "checkpoint" if where is None else f"checkpoint {where!r}"
    _check_cuda_states(tensors, named)
    for field, check in checks:
        try:
            check()
        except errors as exc:
            raise CheckpointError(
                f"{named}: {field} is unusable as that RNG's state ({exc!r}); "
                "expected the state bottlekit saved"
            ) from None


#: Bytes of a CUDA generator's state: its Philox seed and offset, 8 bytes each.
CUDA_STATE_BYTES = 16


def _cuda_state_keys(tensors: dict[str, torch.Tensor]) -> list[str]:
    """The ``rng/cuda/<i>`` keys in device order (``rng/cuda/10`` after ``rng/cuda/9``)."""
    keys = [k for k in tensors if k.startswith("rng/cuda/")]
    return sorted(keys, key=lambda k: int(k.rsplit("/", 1)[1]))


def _check_cuda_states(tensors: dict[str, torch.Tensor], named: str) -> None:
    """Refuse CUDA generator states that are not one uint8 tensor of 16 bytes per device,
    keyed ``rng/cuda/0`` ... ``rng/cuda/<n-1>``; checked on every machine, with or without
    CUDA, so that a forged checkpoint fails the same way everywhere."""
    keys = [k for k in tensors if k.startswith("rng/cuda/")]
    indices = [k.rsplit("/", 1)[1] for k in keys]
    if not all(i.isdecimal() and i.isascii() and str(int(i)) == i for i in indices):
        raise CheckpointError(
            f"{named}: CUDA RNG tensors {sorted(keys)} are unusable; expected the keys "
            "'rng/cuda/0' ... 'rng/cuda/<n-1>', one per device"
        )
    if sorted(int(i) for i in indices) != list(range(len(indices))):
        raise CheckpointError(
            f"{named}: CUDA RNG tensors {_cuda_state_keys(tensors)} are unusable; expected "
            "one per device, numbered from 0 without a gap"
        )
    for key in keys:
        state = tensors[key]
        if state.dtype != torch.uint8 or tuple(state.shape) != (CUDA_STATE_BYTES,):
            raise CheckpointError(
                f"{named}: tensor {key!r} is unusable as that RNG's state (a "
                f"{str(state.dtype).removeprefix('torch.')} tensor of shape "
                f"{tuple(state.shape)}); expected a uint8 tensor of shape "
                f"({CUDA_STATE_BYTES},), the Philox seed and offset bottlekit saved"
            )


def _python_state(states: dict) -> tuple:
    """Python's global state as ``random.setstate`` takes it."""
    version, internal, gauss_next = states["python"]
    return (version, tuple(internal), gauss_next)


def restore_rng_states(
    states: dict, tensors: dict[str, torch.Tensor], where: str | None = None
) -> None:
    """Set the global RNGs to what :func:`capture_rng_states` returned.

    Parameters
    ----------
    states : dict
        ``{"numpy": ..., "python": ...}`` as captured.
    tensors : dict of str to torch.Tensor
        Must hold ``rng/torch``; ``rng/cuda/<i>`` are set on the CUDA devices this machine
        has (none without CUDA).
    where : str or None
        The checkpoint's path, for an error message.

    Raises
    ------
    CheckpointError
        A state is unusable (see :func:`check_rng_states`); no generator is set then.

    Examples
    --------
    >>> import numpy as np
    >>> s, t = capture_rng_states(); x = np.random.rand()
    >>> restore_rng_states(s, t); bool(np.random.rand() == x)
    True
    """
    check_rng_states(states, tensors, where)
    np.random.set_state(_numpy_state(states))  # noqa: NPY002 (the global state is restored)
    random.setstate(_python_state(states))
    torch.set_rng_state(tensors["rng/torch"])
    if torch.cuda.is_available():
        # the devices this machine has; a state saved for a device it lacks has no
        # generator to go to (the training ran on one device, ``--device``)
        for device, key in enumerate(_cuda_state_keys(tensors)[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(tensors[key], device)
