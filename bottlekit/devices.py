"""Where torch code runs: one rule for every module that takes a ``device`` argument."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["resolve_device", "torch_threads"]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` → CUDA when available, else the CPU; a CUDA request without CUDA is an error.

    Parameters
    ----------
    device : str, torch.device or None

    Returns
    -------
    torch.device

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {str(device)!r} requested but CUDA is not available")
    return dev


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (no-op for ``None``).

    Small models (a linear head over a few dozen concepts) train faster on one thread:
    with several threads each tiny operation pays for synchronisation, and on a busy
    machine the threads wait for each other.

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
