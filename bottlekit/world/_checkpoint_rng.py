"""The global RNG states (numpy's, Python's, torch's and CUDA's) that a checkpoint saves
and restores, so that a resumed run draws what the uninterrupted run would have."""

from __future__ import annotations

import random

import numpy as np
import torch

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
