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

from ._scaling import power_of_two_scale

__all__ = [
    "as_2d_samples",
    "check_base",
    "check_no_constant_columns",
    "check_paired",
    "check_random_state",
    "check_same_columns",
    "convert_base",
    "pca_input",
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


def check_same_columns(A, B, names: tuple[str, str] = ("A", "B")) -> None:
    """Raise if the samples ``A`` and ``B`` (2-D) have different numbers of columns."""
    if A.shape[1] != B.shape[1]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of columns; got "
            f"{A.shape[1]} and {B.shape[1]}"
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


def _pca_overflows(A: np.ndarray, dtype) -> bool:
    """Whether a PCA of ``A`` computed in ``dtype`` overflows: the column sums of its mean
    (up to ``n max|A|``) or the sum of squares of the centred samples (its total variance,
    :math:`\\lVert A - \\bar A\\rVert_F^2`) beyond a quarter of ``dtype``'s largest
    value (scikit-learn's solvers all held up to the full value)."""
    n, d = A.shape
    limit = float(np.finfo(dtype).max) / 4
    peak = max(float(np.max(A)), -float(np.min(A)), 0.0)
    if n * peak > limit:
        return True
    if 2 * peak <= np.sqrt(limit / (n * d)):  # centred values are within 2 peak of 0
        return False
    # exact: A / s for a power of two s, and s**2 put back in logs
    s = float(power_of_two_scale(A, axis=None))
    B = A.astype(np.float64) / s
    B -= B.mean(axis=0)
    total = float(np.sum(np.square(B)))
    return total > 0 and np.log(total) + 2 * np.log(s) > np.log(limit)


def pca_input(A: np.ndarray, what: str, hint: str = "rescale the data") -> np.ndarray:
    """``A`` ready for a PCA fit, whose sums of squares must stay finite.

    A PCA centres the ``n x d`` samples on their mean and sums their squares (covariance,
    singular values, total variance :math:`\\lVert A - \\bar A\\rVert_F^2`). Where
    those overflow ``A``'s own float type (float32, as the information planes' layer
    outputs: from a layer of about 1e19 over 300 rows x 8 units) ``A`` is returned as
    float64, which holds it exactly; where they overflow float64 too (samples of about
    1e153 over 300 x 8), scikit-learn's PCA failed with numpy's ``LinAlgError`` or
    returned silently wrong codes, so ``A`` is refused. The check allows
    a quarter of the float type's largest value; samples within it are returned as they
    are (two reductions; the exact sum of squares only for samples near the limit).

    Parameters
    ----------
    A : ndarray of shape (n, d)
        Finite samples.
    what : str
        What ``A`` is, first words of the message (``"X"``, ``"layer 'fc1'"``).
    hint : str, default="rescale the data"
        The end of the message: what to do.

    Returns
    -------
    ndarray of shape (n, d)
        ``A``, or ``A`` as float64.

    Raises
    ------
    ValueError
        If a PCA of ``A`` would overflow float64.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((300, 8))
    >>> pca_input(A.astype(np.float32), "X").dtype
    dtype('float32')
    >>> pca_input((A * 1e19).astype(np.float32), "X").dtype  # kept exactly, in float64
    dtype('float64')
    >>> pca_input(A * 1e153, "X")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: X: values up to 3.9e+153 over 300 rows and 8 columns; a PCA ...
    """
    if A.dtype.kind != "f":
        A = A.astype(np.float64)
    if A.size == 0 or not _pca_overflows(A, A.dtype):
        return A
    if A.dtype != np.float64 and not _pca_overflows(A, np.float64):
        return A.astype(np.float64)
    n, d = A.shape
    peak = max(float(np.max(A)), -float(np.min(A)))
    raise ValueError(
        f"{what}: values up to {peak:.3g} over {n} rows and {d} columns; a PCA of them "
        "overflows float64 (their mean's sums, or their sum of squares about the mean, "
        f"beyond a quarter of float64's largest value, {np.finfo(np.float64).max:.3g}); "
        f"{hint}"
    )
