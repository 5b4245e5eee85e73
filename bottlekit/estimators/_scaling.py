"""Exact power-of-two rescaling, so that no estimator squares numbers near float's limits.

Samples with values near ``1e300`` (or ``1e-300``) overflow (underflow) as soon as they are
squared: in a standard deviation, a Euclidean distance or a kernel. Dividing by a power of
two is exact in floating point (barring subnormals), so an estimator can work on
:math:`X / 2^e` and, where it is not scale-invariant, put the scale back in closed form:

* scale-invariant quantities (mutual information, CS divergences with the width scaled
  alike) are unchanged;
* differential entropy is equivariant: :math:`H(X / c) = H(X) - d \\log c` for a common
  factor, :math:`H(X) - \\sum_j \\log c_j` for one factor per column.

For data of ordinary magnitude the results are bit-identical to working on ``X`` itself:
``std(X / 2^e) * 2^e == std(X)`` exactly.
"""

from __future__ import annotations

import numpy as np

__all__ = ["power_of_two_scale", "safe_centre", "safe_mean_and_std", "safe_std"]


def power_of_two_scale(X: np.ndarray, axis: int | None = 0) -> np.ndarray:
    """Powers of two ``c`` with ``max |X / c|`` in ``[0.5, 1)`` (1 where ``X`` is all 0).

    For a peak at or above ``2**1023`` (the top octave of float64, up to 1.8e308) ``c`` is
    ``2**1023``, the largest power of two, and ``max |X / c|`` lies in ``[1, 2)``: the next
    power, ``2**1024``, is infinite and would turn every scaled value into 0.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Finite samples.
    axis : 0 or None, default=0
        0: one factor per column (shape ``(d,)``); None: one factor for all (a 0-dim array).

    Returns
    -------
    ndarray of float64 powers of two

    Examples
    --------
    >>> import numpy as np
    >>> power_of_two_scale(np.array([[3.0, -0.1], [5.0, 0.0]]))
    array([8.   , 0.125])
    >>> bool(power_of_two_scale(np.array([1.5e308]), axis=None) == 2.0**1023)
    True
    """
    peak = np.max(np.abs(X), axis=axis)
    _, exponent = np.frexp(peak)
    # 2**1024 overflows to inf (X / inf = 0): values in the top octave get 2**1023
    return np.where(peak > 0, np.ldexp(1.0, np.minimum(exponent, 1023)), 1.0)


def safe_mean_and_std(
    X: np.ndarray, axis: int | None = 0, ddof: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``X.mean(axis)`` and ``X.std(axis, ddof=ddof)`` without overflow or underflow.

    Both are computed on ``X / c``, ``c`` from :func:`power_of_two_scale`, and multiplied
    by ``c``: bit-identical to the plain ones for data of ordinary magnitude, finite and
    exact to rounding for data near float's limits (where the squares, or the sum of many
    large values, would overflow).

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Finite samples.
    axis : 0 or None, default=0
        Per column, or over all entries.
    ddof : int, default=0
        Delta degrees of freedom of the standard deviation.

    Returns
    -------
    mean, std : ndarray of shape (d,), or 0-dim for ``axis=None``

    Examples
    --------
    >>> import numpy as np
    >>> mean, std = safe_mean_and_std(np.array([[1.0], [3.0]]) * 2.0**1000)
    >>> float(mean[0]) == 2.0**1001, float(std[0]) == 2.0**1000
    (True, True)
    """
    scale = power_of_two_scale(X, axis=axis)
    Xs = X / scale
    return Xs.mean(axis=axis) * scale, Xs.std(axis=axis, ddof=ddof) * scale


def safe_std(X: np.ndarray, axis: int | None = 0, ddof: int = 0) -> np.ndarray:
    """``X.std(axis, ddof=ddof)`` without overflow or underflow of the squares.

    The standard deviation of :func:`safe_mean_and_std`.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0], [3.0]])
    >>> float(safe_std(x * 1e300)[0]) == 1e300
    True
    """
    return safe_mean_and_std(X, axis=axis, ddof=ddof)[1]


def safe_centre(X: np.ndarray, unit=1.0) -> np.ndarray:
    """``(X - X.mean(axis=0)) / unit`` without overflow of the mean's sum.

    Computed as ``(X / c - mean(X / c)) / (unit / c)`` with one power of two ``c`` for all
    entries (:func:`power_of_two_scale`): bit-identical to the plain expression for data
    of ordinary magnitude (a power of two commutes with rounding), finite for data near
    float's limits, where the sum in ``X.mean()`` overflows (``1e307`` times 300 rows).

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Finite samples.
    unit : float or ndarray of shape (d,), default=1.0
        Positive divisor (a kernel width, per-column standard deviations).

    Returns
    -------
    ndarray of shape (n, d)

    Examples
    --------
    >>> import numpy as np
    >>> safe_centre(np.array([[1.0], [3.0]]) * 1e307, unit=1e307)
    array([[-1.],
           [ 1.]])
    """
    c = power_of_two_scale(X, axis=None)
    Xs = X / c
    return (Xs - Xs.mean(axis=0)) / (np.asarray(unit) / c)
