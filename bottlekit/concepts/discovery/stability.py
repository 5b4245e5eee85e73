"""``dictionary_stability``: how much two dictionaries agree, atom for atom."""

from __future__ import annotations

from typing import Any

import numpy as np

from bottlekit._arrays import as_real_array

__all__ = ["dictionary_stability"]


def _atoms(a: Any, arg: str) -> np.ndarray:
    D = as_real_array(getattr(a, "dictionary", a), arg)
    if D.ndim != 2 or D.shape[0] < 1 or D.shape[1] < 1:
        raise ValueError(
            f"{arg}: expected a ConceptDictionary or an (m, d) array with m, d >= 1, got "
            f"shape {D.shape}"
        )
    if not np.isfinite(D).all():
        raise ValueError(f"{arg} contains NaN or inf")
    scale = np.abs(D).max(axis=1, keepdims=True)  # so that the norm cannot overflow
    if (scale == 0).any():
        raise ValueError(f"{arg} has all-zero atoms; cannot compare directions")
    D = D / scale
    return D / np.linalg.norm(D, axis=1, keepdims=True)


def dictionary_stability(a: Any, b: Any) -> float:
    r"""Mean cosine of the atoms of two dictionaries under the best one-to-one matching.

    The matching maximises the summed cosine (Hungarian algorithm,
    :func:`scipy.optimize.linear_sum_assignment`); with dictionaries of different sizes,
    the smaller one is matched entirely. 1 means the same atoms (in any order).

    Parameters
    ----------
    a, b : ConceptDictionary or array of shape (m, d)
        The two dictionaries' atoms (e.g. learned with two seeds); the same ``d``, any
        ``m``.

    Returns
    -------
    float
        In [-1, 1].

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> dictionary_stability(a, a[::-1])
    1.0
    >>> round(dictionary_stability(a, np.array([[0.6, 0.8], [1.0, 0.0]])), 3)   # (1 + 0.8)/2
    0.9
    """
    from scipy.optimize import linear_sum_assignment

    A, B = _atoms(a, "a"), _atoms(b, "b")
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"a and b live in different spaces: d={A.shape[1]} and d={B.shape[1]}")
    S = A @ B.T
    rows, cols = linear_sum_assignment(S, maximize=True)
    return float(S[rows, cols].mean())
