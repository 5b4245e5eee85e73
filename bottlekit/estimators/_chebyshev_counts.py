r"""Exact max-norm radius counts for one- and two-dimensional points, without a tree.

KSG spends much of its time counting marginal neighbours. For marginals of one or two
coordinates these helpers replace the tree of :mod:`._maxnorm_tree` (used for d >= 3).
For every row ``i`` we need, in two dimensions,

.. math:: c_i = \#\{j \ne i : \max(|a_j - a_i|, |b_j - b_i|) \le r_i\},

the number of points in a square of half-side :math:`r_i`. The square is the product of two
intervals, and each interval is a contiguous run of positions once the points are sorted
by that coordinate (found by binary search on the exact test ``abs(v - c) <= r``, which is
monotone along the sorted values since rounding is). Writing :math:`q_p` for the rank in
``b`` of the point at position ``p`` of the order of ``a``, the count becomes an
orthogonal range count on a permutation,

.. math:: c_i + 1 = \#\{p \in [s_i, e_i) : q_p \in [u_i, v_i)\}
          = F(e_i; u_i, v_i) - F(s_i; u_i, v_i),

with :math:`F(t; u, v) = \#\{p < t : u \le q_p < v\}`. All of them are answered in one sweep
over ``p`` that inserts :math:`q_p` into a Fenwick tree (Fenwick 1994) and reads ``F`` at
each interval end as the sweep passes it: O(n log n) time, O(n) memory. The counts equal
``KDTree(X, metric="chebyshev").query_radius(X, r, count_only=True) - 1`` and the O(n^2)
definition, even for a point at exactly distance ``r_i`` (in KSG every row has one: its
k-th neighbour).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["chebyshev_counts_1d", "chebyshev_counts_2d"]


@numba.njit(nogil=True, cache=True)
def _last_inside(sorted_values, p, r, direction):  # pragma: no cover - compiled
    """Furthest position from ``p``, walking in ``direction`` (+1 or -1), within ``r`` of
    entry ``p`` (which itself is): galloping out (steps 1, 2, 4, ...), then bisecting.

    ``abs(v - c) <= r`` is true-then-false along the sorted values on each side of ``c``'s
    position (rounding is monotone), so searching on the test itself is exact.
    """
    n, c = sorted_values.shape[0], sorted_values[p]
    inside, step = p, 1
    while 0 <= inside + direction * step < n:
        if abs(sorted_values[inside + direction * step] - c) > r:
            break
        inside += direction * step
        step *= 2
    outside = min(max(inside + direction * step, -1), n)  # outside, or one past the end
    while abs(outside - inside) > 1:
        m = (inside + outside) // 2
        if abs(sorted_values[m] - c) <= r:
            inside = m
        else:
            outside = m
    return inside


@numba.njit(nogil=True, cache=True)
def _intervals(sorted_values, radius):  # pragma: no cover - compiled
    """Positions ``[lo_p, hi_p)`` of ``sorted_values`` within ``radius[p]`` of entry ``p``,
    O(log count) per entry."""
    n = sorted_values.shape[0]
    lo = np.empty(n, np.int64)
    hi = np.empty(n, np.int64)
    for p in range(n):
        lo[p] = _last_inside(sorted_values, p, radius[p], -1)
        hi[p] = _last_inside(sorted_values, p, radius[p], 1) + 1
    return lo, hi


@numba.njit(nogil=True, cache=True)
def _range_counts(q, s, e, u, v):  # pragma: no cover - compiled
    """``#{p in [s_i, e_i): u_i <= q_p < v_i}`` for every i, by one Fenwick-tree sweep."""
    n, m = q.shape[0], s.shape[0]
    # Queries bucketed by the sweep position at which each end is read (linked lists).
    head = np.full((2, n + 1), -1, np.int64)
    link = np.empty((2, m), np.int64)
    for i in range(m):
        link[0, i], head[0, s[i]] = head[0, s[i]], i
        link[1, i], head[1, e[i]] = head[1, e[i]], i
    fenwick = np.zeros(n + 1, np.int64)
    out = np.zeros(m, np.int64)
    for t in range(n + 1):
        for side in range(2):  # 0: the range starts here (subtract), 1: it ends here (add)
            i = head[side, t]
            while i >= 0:
                f = 0
                x = v[i]
                while x > 0:
                    f += fenwick[x]
                    x -= x & -x
                x = u[i]
                while x > 0:
                    f -= fenwick[x]
                    x -= x & -x
                out[i] += f if side == 1 else -f
                i = link[side, i]
        if t < n:
            x = q[t] + 1
            while x <= n:
                fenwick[x] += 1
                x += x & -x
    return out


def chebyshev_counts_1d(x: np.ndarray, radius: np.ndarray) -> np.ndarray:
    r"""Number of other entries within distance ``radius[i]`` of each entry of ``x``.

    .. math:: c_i = \#\{j \ne i : |x_j - x_i| \le r_i\}

    Exact under rounding, unlike counting the sorted values in ``[x_i - r_i, x_i + r_i]``:
    in KSG the radius is itself a distance ``|x_j - x_i|`` and ``x_i + r_i`` can round past
    ``x_j`` (measured: 2-3 % of the rows of a 1+1 sample had a count off by one).

    Parameters
    ----------
    x : ndarray of shape (n,), float64
    radius : ndarray of shape (n,), finite and >= 0

    Returns
    -------
    ndarray of shape (n,), int64

    Examples
    --------
    >>> import numpy as np
    >>> chebyshev_counts_1d(np.array([0.0, 0.3, 1.0]), np.array([0.3, 0.1, 0.7])).tolist()
    [1, 0, 1]
    """
    order = np.argsort(x)
    lo, hi = _intervals(np.ascontiguousarray(x[order]), np.ascontiguousarray(radius[order]))
    counts = np.empty(x.shape[0], dtype=np.int64)
    counts[order] = hi - lo - 1  # the entry itself is always inside
    return counts


def chebyshev_counts_2d(X: np.ndarray, radius: np.ndarray) -> np.ndarray:
    r"""Number of other rows within max-norm distance ``radius[i]`` of each row of ``X``.

    .. math:: c_i = \#\{j \ne i : \max(|X_{j0} - X_{i0}|, |X_{j1} - X_{i1}|) \le r_i\}

    Parameters
    ----------
    X : ndarray of shape (n, 2), float64
    radius : ndarray of shape (n,), finite and >= 0

    Returns
    -------
    ndarray of shape (n,), int64
        Equal to ``KDTree(X, metric="chebyshev").query_radius(X, radius,
        count_only=True) - 1``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.5, 0.9], [1.0, 0.0], [0.2, -0.1]])
    >>> chebyshev_counts_2d(X, np.array([1.0, 0.1, 0.5, 0.2])).tolist()
    [3, 0, 0, 1]
    """
    n = X.shape[0]
    radius = np.asarray(radius, dtype=np.float64)
    order_a, order_b = np.argsort(X[:, 0]), np.argsort(X[:, 1])
    rank_b = np.empty(n, dtype=np.int64)
    rank_b[order_b] = np.arange(n)
    s, e = _intervals(np.ascontiguousarray(X[order_a, 0]), radius[order_a])
    u, v = _intervals(np.ascontiguousarray(X[order_b, 1]), radius[order_b])
    q = rank_b[order_a]  # b-rank of the point at each a-position
    counts = np.empty(n, dtype=np.int64)
    counts[order_a] = _range_counts(q, s, e, u[q], v[q]) - 1  # the row itself is inside
    return counts
