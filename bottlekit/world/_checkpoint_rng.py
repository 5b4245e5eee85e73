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
        The checkpoint's tensors (``rng/torch``).
    where : str or None
        The checkpoint's path, for the message.

    Returns
    -------
    None

    Raises
    ------
    CheckpointError
        Naming the checkpoint and the state (``rng.numpy``, ``rng.python``, tensor
        ``rng/torch``) that is of the wrong type or length, or out of range.

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
    for field, check in checks:
        try:
            check()
        except errors as exc:
            raise CheckpointError(
                f"{named}: {field} is unusable as that RNG's state ({exc!r}); "
                "expected the state bottlekit saved"
            ) from None


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
        Must hold ``rng/torch``.
    where : str or None
        The checkpoint's path, for an error message.

    Returns
    -------
    None

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
    cuda = sorted(k for k in tensors if k.startswith("rng/cuda/"))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[k] for k in cuda])
