"""Validation of numeric hyper-parameters, shared by the bottleneck models."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["check_number"]


def check_number(
    value: Any,
    name: str,
    *,
    integer: bool = False,
    low: float | None = None,
    low_open: bool = False,
    high: float | None = None,
    high_open: bool = False,
) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite number (an int if ``integer``) in range.

    The range is ``low <= value`` (``<`` if ``low_open``) and ``value <= high`` (``<`` if
    ``high_open``); a bound of ``None`` is absent. Booleans are not numbers here.

    Examples
    --------
    >>> check_number(0.5, "alpha", low=0, high=1)
    >>> check_number(0, "batch_size", integer=True, low=0, low_open=True)
    Traceback (most recent call last):
    ...
    ValueError: batch_size: expected an int > 0, got 0
    """
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, bool) and bool(np.isfinite(value))
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        bounds = []
        if low is not None:
            bounds.append(f"{'>' if low_open else '>='} {low:g}")
        if high is not None:
            bounds.append(f"{'<' if high_open else '<='} {high:g}")
        what = "an int" if integer else "a finite number"
        rng = " " + " and ".join(bounds) if bounds else ""
        raise ValueError(f"{name}: expected {what}{rng}, got {value!r}")
