"""Where torch code runs: one rule for every module that takes a ``device`` argument."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from numpy.typing import ArrayLike

__all__ = ["as_tensor", "available_devices", "resolve_device", "torch_threads"]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` → CUDA when available, else the CPU; a CUDA request without CUDA is an error.

    Parameters
    ----------
    device : str, torch.device or None
        The device asked for (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...), or None.

    Returns
    -------
    torch.device
        The device to use.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device: {device!r} is not a torch device; available here: {available_devices()}"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device: {str(device)!r} requested but CUDA is not available (no NVIDIA "
                f"driver or a CPU-only torch); available here: {available_devices()}"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device: {str(device)!r} requested but this machine has "
                f"{torch.cuda.device_count()} CUDA device(s); available: {available_devices()}"
            )
    elif dev.type == "meta":  # shapes without values: nothing computed there can be read
        raise ValueError(
            "device: 'meta' holds no values, so nothing can be computed there; available "
            f"here: {available_devices()}"
        )
    elif dev.type not in ("cpu", "mps"):
        raise ValueError(
            f"device: {str(device)!r} is not supported; available: {available_devices()}"
        )
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device: 'mps' is not available here; available: {available_devices()}")
    return dev


def available_devices() -> list[str]:
    """Names of the devices torch can use on this machine, e.g. ``['cpu', 'cuda:0']``.

    Returns
    -------
    list of str
        ``"cpu"``, then ``"cuda:i"`` for each CUDA device, and ``"mps"`` where available.

    Examples
    --------
    >>> "cpu" in available_devices()
    True
    """
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        names.append("mps")
    return names


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (no-op for ``None``).

    Small models (a linear head over a few dozen concepts) train faster on one thread:
    with several threads each tiny operation pays for synchronisation, and on a busy
    machine the threads wait for each other.

    Parameters
    ----------
    n : int or None
        The thread count inside the ``with`` block; the previous one is restored after.

    Examples
    --------
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    """
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def as_tensor(
    array: ArrayLike | torch.Tensor,
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """``torch.as_tensor`` that copies a read-only numpy array instead of sharing it.

    torch cannot share memory with a read-only array (e.g. embeddings opened with
    ``np.load(..., mmap_mode="r")``): ``torch.as_tensor`` would wrap it anyway and warn
    that writing to the tensor is undefined behaviour. Such an array is copied once,
    converted to ``dtype`` in the same pass; anything else goes to ``torch.as_tensor``
    unchanged (a writable array of the same dtype is shared, not copied).

    Parameters
    ----------
    array : array-like or torch.Tensor
        The data.
    dtype : torch.dtype, optional
        The tensor's dtype (default: the array's).
    device : str or torch.device, optional
        Where the tensor goes (default: the CPU, or the tensor's own device).

    Returns
    -------
    torch.Tensor
        The data as a tensor, sharing memory with ``array`` where torch can.

    Examples
    --------
    >>> a = np.arange(3.0)
    >>> a.flags.writeable = False
    >>> t = as_tensor(a, dtype=torch.float32)
    >>> t.dtype, t.tolist()
    (torch.float32, [0.0, 1.0, 2.0])
    """
    if isinstance(array, np.ndarray) and not array.flags.writeable:
        np_dtype = None if dtype is None else torch.empty(0, dtype=dtype).numpy().dtype
        array = np.array(array, dtype=np_dtype)
    return torch.as_tensor(array, dtype=dtype, device=device)
