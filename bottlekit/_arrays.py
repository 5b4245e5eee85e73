"""Intake of numeric arrays: one rule for what counts as an array of real numbers.

numpy's own casts are lenient where a scientific library must not be: ``np.asarray(x,
dtype=float)`` parses text (``"1.5"`` becomes 1.5) and drops the imaginary part of complex
values with only a warning, and a torch tensor on the ``'meta'`` device has a shape but no
values. Every public function that takes an array of numbers goes through
:func:`as_real_array`, so bad input is refused the same way everywhere, with the
argument's name. This module sits at the bottom of the package and imports nothing from it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["as_index_array", "as_real_array", "check_numeric_dtype", "check_real_tensor"]

Wording = Literal["expected", "must"]


_MESSAGES = {
    "expected": {
        "complex": "{name}: expected real numbers, got {what}",
        "text": "{name}: expected a numeric array, got {what}",
    },
    "must": {
        "complex": "{name} must hold real numbers, got {what}",
        "text": "{name} must be a numeric array, got {what}",
    },
}


def _message(kind: str, name: str, what: str, wording: str) -> str:
    if wording not in _MESSAGES:
        raise ValueError(f"wording must be 'expected' or 'must', got {wording!r}")
    return _MESSAGES[wording][kind].format(name=name, what=what)


def check_real_tensor(X, name: str, *, wording: Wording = "expected") -> None:
    """Raise unless the torch tensor ``X`` holds real values that can be read.

    A tensor on the ``'meta'`` device has a shape but no values, and a complex tensor
    would lose its imaginary part in a cast to float.
    """
    if X.device.type == "meta":
        raise ValueError(
            f"{name} is a tensor on the 'meta' device, which holds no values; expected a "
            "tensor with data (on 'cpu' or an accelerator)"
        )
    if X.is_complex():
        raise TypeError(_message("complex", name, f"a complex tensor ({X.dtype})", wording))


def check_numeric_dtype(
    arr: np.ndarray, name: str, *, allow_complex: bool = False, wording: Wording = "expected"
) -> None:
    """Raise ``TypeError`` if the array ``arr`` holds text (or complex values).

    numpy parses text in a cast to float (``"1.5"`` becomes 1.5) and drops the imaginary
    part of complex values with only a warning.
    """
    if arr.dtype.kind == "c" and not allow_complex:
        raise TypeError(_message("complex", name, f"complex values ({arr.dtype})", wording))
    if arr.dtype.kind in "USV" or (
        arr.dtype.kind == "O" and any(isinstance(v, str | bytes) for v in arr.flat)
    ):
        raise TypeError(_message("text", name, f"text values ({arr.dtype})", wording))


def as_real_array(X, name: str, *, dtype=np.float64, wording: Wording = "expected") -> np.ndarray:
    """Return ``X`` (array-like or torch tensor) as a numpy array of real numbers.

    Complex values (whose imaginary part a cast would drop with only a warning), text
    (which numpy would parse, ``"1.5"`` becoming 1.5), ragged nestings and objects are
    refused with a ``TypeError`` that names ``name``, what it received and what was
    expected.

    Parameters
    ----------
    X : array-like or torch.Tensor
    name : str
        Argument name used in error messages.
    dtype : numpy dtype or None, default=float64
        None keeps the array's own numeric dtype (booleans, integers or floats).
    wording : {"expected", "must"}, default="expected"
        The package's two wordings of an error (as in :func:`bottlekit._checks.check_number`):
        ``"X: expected a numeric array, got ..."`` (the models) or ``"X must be a numeric
        array, got ..."`` (the estimators).

    Returns
    -------
    ndarray

    Examples
    --------
    >>> as_real_array([1, 2], "X")
    array([1., 2.])
    >>> as_real_array(["1.5"], "X")
    Traceback (most recent call last):
    ...
    TypeError: X: expected a numeric array, got text values (<U3)
    >>> as_real_array([1 + 2j], "X", wording="must")
    Traceback (most recent call last):
    ...
    TypeError: X must hold real numbers, got complex values (complex128)
    """
    if hasattr(X, "detach") and hasattr(X, "cpu"):  # torch tensor
        check_real_tensor(X, name, wording=wording)
        X = X.detach().cpu().numpy()
    raw = X if isinstance(X, np.ndarray) else None
    if raw is None:
        try:
            raw = np.asarray(X)
        except (TypeError, ValueError):  # ragged nested sequences
            raw = None
    if raw is not None:
        check_numeric_dtype(raw, name, wording=wording)
    try:
        out = np.asarray(X if raw is None else raw, dtype=dtype)
    except (TypeError, ValueError) as exc:
        what = f"{type(X).__name__} (ragged or not numbers)"
        raise TypeError(_message("text", name, what, wording)) from exc
    if out.dtype.kind not in "biuf":  # dtype=None: objects such as None stay objects
        raise TypeError(_message("complex", name, f"an array of dtype {out.dtype}", wording))
    return out


def as_index_array(
    X, name: str, *, low: int = 0, high: int | None = None, expected: str | None = None
) -> np.ndarray:
    """Return ``X`` as a 1-D int64 array of indices in ``low .. high - 1``, else raise.

    Integers only: floats (``1.7`` would be truncated), booleans, text and objects are a
    ``TypeError``; values are compared before the cast to int64, so an unsigned
    ``2**64 - 1`` is not read as ``-1``. Values outside the range are a ``ValueError``
    that gives the range and the values found.

    Parameters
    ----------
    X : array-like or torch.Tensor of int
    name : str
        Argument name used in error messages.
    low : int, default=0
        Smallest accepted value (``-n`` for Python-style negative indices, ``-1`` for a
        "none" marker).
    high : int or None, default=None
        One past the largest accepted value; None for no upper bound.
    expected : str or None
        What the range message says was expected (default: ``"indices in low..high-1"``).

    Returns
    -------
    ndarray of int64, shape (m,)

    Examples
    --------
    >>> as_index_array([2, 0], "anchors", high=3)
    array([2, 0])
    >>> as_index_array([0.5], "anchors", high=3)
    Traceback (most recent call last):
    ...
    TypeError: anchors: expected a 1-D array of int, got float64 values of shape (1,)
    >>> as_index_array([3], "anchors", high=3)
    Traceback (most recent call last):
    ...
    ValueError: anchors: expected indices in 0..2, got values in 3..3
    """
    if hasattr(X, "detach") and hasattr(X, "cpu"):  # torch tensor
        check_real_tensor(X, name)
        X = X.detach().cpu().numpy()
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError):  # ragged nested sequences
        arr = None
    if arr is None or arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        what = (
            f"{type(X).__name__} (ragged)"
            if arr is None
            else f"{arr.dtype} values of shape {arr.shape}"
        )
        raise TypeError(f"{name}: expected a 1-D array of int, got {what}")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        top = np.iinfo(np.int64).max + 1 if high is None else high
        if lo < low or hi >= top:
            if expected is None:
                expected = f"indices >= {low}" if high is None else f"indices in {low}..{high - 1}"
            raise ValueError(f"{name}: expected {expected}, got values in {lo}..{hi}")
    return arr.astype(np.int64)
