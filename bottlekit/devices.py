"""Where torch code runs: one rule for every module that takes a ``device`` argument."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


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
