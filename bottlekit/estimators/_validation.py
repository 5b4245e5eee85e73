"""Input checks shared by every estimator.

All estimators accept samples as arrays of shape ``(n,)`` or ``(n, d)``: a 1-D array is
read as ``n`` observations of a scalar variable and becomes a column ``(n, 1)``. Rows are
observations, columns are coordinates.
"""

from __future__ import annotations

import numbers

import numpy as np

from bottlekit._arrays import as_real_array
from bottlekit._checks import is_number

__all__ = [
    "as_2d_samples",
    "check_base",
    "check_no_constant_columns",
    "check_paired",
    "check_random_state",
    "convert_base",
]


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
    arr = as_real_array(X, name, dtype=dtype, wording="must")
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
    # max == min rather than np.ptp == 0: the range of a column spanning beyond float64
    # (-1.7e308 to 1.7e308) overflowed with a RuntimeWarning before the k-NN estimators
    # could refuse it by name
    const = np.flatnonzero(np.max(X, axis=0) == np.min(X, axis=0))
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
