"""Input checks shared by every estimator.

All estimators accept samples as arrays of shape ``(n,)`` or ``(n, d)``: a 1-D array is
read as ``n`` observations of a scalar variable and becomes a column ``(n, 1)``. Rows are
observations, columns are coordinates.
"""

from __future__ import annotations

import numbers

import numpy as np

from bottlekit._checks import is_number

__all__ = [
    "as_2d_samples",
    "as_real_array",
    "check_base",
    "check_no_constant_columns",
    "check_numeric_dtype",
    "check_paired",
    "check_random_state",
    "check_real_tensor",
    "convert_base",
]


def check_real_tensor(X, name: str) -> None:
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
        raise TypeError(f"{name} must hold real numbers, got a complex tensor ({X.dtype})")


def check_numeric_dtype(arr: np.ndarray, name: str, *, allow_complex: bool = False) -> None:
    """Raise ``TypeError`` if the array ``arr`` holds text (or complex values).

    numpy parses text in a cast to float (``"1.5"`` becomes 1.5) and drops the imaginary
    part of complex values with only a warning.
    """
    if arr.dtype.kind == "c" and not allow_complex:
        raise TypeError(f"{name} must hold real numbers, got complex values ({arr.dtype})")
    if arr.dtype.kind in "USV" or (
        arr.dtype.kind == "O" and any(isinstance(v, str | bytes) for v in arr.flat)
    ):
        raise TypeError(f"{name} must be a numeric array, got text values ({arr.dtype})")


def as_real_array(X, name: str, *, dtype=np.float64) -> np.ndarray:
    """Return ``X`` (array-like or torch tensor) as a numpy array of real numbers.

    Complex values (whose imaginary part a cast would drop with only a warning) and text
    (which numpy would parse, ``"1.5"`` becoming 1.5) are refused.

    Parameters
    ----------
    X : array-like or torch.Tensor
    name : str
        Argument name used in error messages.
    dtype : numpy dtype, default=float64

    Returns
    -------
    ndarray

    Examples
    --------
    >>> as_real_array([1, 2], "X")
    array([1., 2.])
    >>> as_real_array([1 + 2j], "X")
    Traceback (most recent call last):
    ...
    TypeError: X must hold real numbers, got complex values (complex128)
    """
    if hasattr(X, "detach") and hasattr(X, "cpu"):  # torch tensor
        check_real_tensor(X, name)
        X = X.detach().cpu().numpy()
    raw = X if isinstance(X, np.ndarray) else None
    if raw is None:
        try:
            raw = np.asarray(X)
        except (TypeError, ValueError):  # ragged nested sequences
            raw = None
    if raw is not None:
        check_numeric_dtype(raw, name)
    try:
        return np.asarray(X if raw is None else raw, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be a numeric array of shape (n,) or (n, d), got {type(X).__name__}"
        ) from exc


def as_2d_samples(
    X, name: str, *, min_samples: int = 2, dtype=np.float64, why: str = ""
) -> np.ndarray:
    """Return ``X`` as a finite float array of shape ``(n, d)``.

    Parameters
    ----------
    X : array-like of shape (n,) or (n, d)
        Samples. A 1-D array is one scalar variable observed ``n`` times.
    name : str
        Argument name used in error messages.
    min_samples : int, default=2
        Smallest accepted ``n``.
    why : str, default=""
        Why ``min_samples`` are needed, added to the message in brackets.
    dtype : numpy dtype, default=float64

    Returns
    -------
    ndarray of shape (n, d)
    """
    if X is None:
        raise TypeError(f"{name} must be an array of shape (n,) or (n, d), got None")
    arr = as_real_array(X, name, dtype=dtype)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (n,) or (n, d), got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one column, got shape {arr.shape}")
    if arr.shape[0] < min_samples:
        raise ValueError(
            f"{name} must have at least {min_samples} samples (rows), got {arr.shape[0]}"
            + (f" ({why})" if why else "")
        )
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"{name} contains {bad} NaN or infinite value(s); expected finite values only"
        )
    return arr


def check_paired(X: np.ndarray, Y: np.ndarray, names: tuple[str, str] = ("X", "Y")) -> None:
    """Raise if the paired samples ``X`` and ``Y`` have different numbers of rows."""
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of samples (rows); "
            f"got {X.shape[0]} and {Y.shape[0]}"
        )


def check_no_constant_columns(X: np.ndarray, name: str, method: str) -> None:
    """Raise if a column of ``X`` is constant (breaks distance- and covariance-based methods)."""
    const = np.flatnonzero(np.ptp(X, axis=0) == 0)
    if const.size:
        raise ValueError(
            f"{name} has constant column(s) {const.tolist()}; method {method!r} needs every "
            "column to vary (drop constant columns: they carry no information)"
        )


def check_base(base) -> float | None:
    """Validate a logarithm base: ``None`` or ``'e'`` for nats, else a number > 0 and != 1."""
    if base is None or base == "e":
        return None
    if not is_number(base):
        raise TypeError(f"base must be None, 'e', or a number > 0 and != 1, got {base!r}")
    base = float(base)
    if not np.isfinite(base) or base <= 0 or base == 1:
        raise ValueError(f"base must be a number > 0 and != 1, got {base!r}")
    return base


def convert_base(value_nats: float, base) -> float:
    """Convert an information quantity from nats to the requested ``base``."""
    base = check_base(base)
    if base is None:
        return float(value_nats)
    return float(value_nats / np.log(base))


def check_random_state(random_state) -> np.random.Generator:
    """Return a numpy ``Generator`` from ``None``, an int seed or a ``Generator``."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(
                "random_state must be None, an int >= 0 or a numpy Generator, "
                f"got {random_state!r}"
            )
        return np.random.default_rng(random_state)
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    raise TypeError(
        f"random_state must be None, an int or a numpy Generator, got {random_state!r}"
    )
