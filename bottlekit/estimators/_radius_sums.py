r"""Row sums of the conditional CS divergence truncated at a radius in x (CPU, numba).

The approximate mode of :func:`~bottlekit.estimators.conditional_cs_divergence` needs,
for each sampled point :math:`q`, the sums :math:`k_q = \sum_i K(x_q, x_i)` and
:math:`c_q = \sum_i K(x_q, x_i) L(y_q, y_i)` over a whole sample. In x-width units
(:math:`z = x/\sigma_x`) every point farther than ``RADIUS`` = :math:`r` from
:math:`z_q` has :math:`K \le e^{-r^2/2}`, and since :math:`L \le 1` so has its joint
term: counting only the :math:`m_q` points within :math:`r` underestimates both sums by
at most :math:`\delta_q = (n - m_q)\,e^{-r^2/2}` (:math:`2.3\cdot10^{-11}` per point left
out at :math:`r = 7`).

The points are sorted into the cells of a regular grid of side :math:`r/3` in z, and a
query visits only the cells whose box is within :math:`r` of it (the first ``d - 1``
coordinates enumerate the cell offsets ``-3..3``, the last is one contiguous range of
cells trimmed to the radius); it counts the points of those cells within :math:`r`. The
x-distances are taken in float32 (twice the SIMD lanes of float64) on coordinates kept
small so that their rounding is bounded whatever the data's span: each point's offsets
from its own cell's corner (at most the side) and its cell index along the last
coordinate; the y-distances in float64; ``exp`` by a float32 polynomial (relative error
below ``EXP_ERROR``, no branch, so the loops vectorise) with the y-exponent floored at
:math:`e^{-32}`; the sums in float64. :func:`rounding_error` bounds the relative error
of every sum this leaves (:math:`6\cdot10^{-5}` at d = 4: the distance of a point at
:math:`r` may be off by :math:`3\cdot10^{-6}` widths in each coordinate). At low
dimension with a small width (Silverman's rule at n = 10⁶, d = 4) the ball holds about 4 %
of the points near the mode and far fewer in the tails, where importance sampling puts
most of the sampled points. The grid is used only where it has at least ``MIN_SPAN``
cells in every dimension and at most ``MAX_CELLS`` cells in all (:func:`radius_grid`
returns None otherwise: at d = 64 with the median width the ball holds every point, and
the dense tiles of :mod:`._kernel_sums` are faster).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

RADIUS = 7.0  # truncation radius in x-widths: a point left out weighs <= exp(-24.5)
CELLS_PER_RADIUS = 3  # the cells' side is RADIUS / 3
MIN_SPAN = 15  # cells per dimension at least (else the ball covers most of the data)
MAX_CELLS = 1 << 24  # cells in all at most (the cell index is a dense array)
EXP_ERROR = 2e-5  # relative error of _exp_neg on [-32, 0] (at most 1.03e-5 measured; tested)


class RadiusGrid:
    """One sample's points sorted by the cell of their x (width units): x as float32
    offsets from the cell's corner and the cell index along the last coordinate, y in
    float64. The cells' side is :func:`cell_side` of ``radius``."""

    def __init__(self, zx: np.ndarray, zy: np.ndarray, radius: float):
        self.radius = radius
        self.side = side = cell_side(radius)
        self.lo = lo = zx.min(0)
        self.shape = shape = _grid_shape(lo, zx.max(0), radius).astype(np.int64)
        mult = np.ones(len(shape), dtype=np.int64)
        for k in range(len(shape) - 2, -1, -1):
            mult[k] = mult[k + 1] * shape[k + 1]
        self.mult = mult
        cells = _cells(zx, lo, side, shape)
        key = cells @ mult
        self.cell_of = key  # each point's cell (flat index), in the sample's order
        order = np.argsort(key, kind="stable")
        frac = zx[order] - (lo + cells[order] * side)  # in [0, side]: small, exact enough
        self.fx = np.ascontiguousarray(frac.T, dtype=np.float32)  # by coordinate: SIMD
        self.last = cells[order, -1].astype(np.float32)  # exact below 2**24 = MAX_CELLS
        self.zy = np.ascontiguousarray(zy[order].T)
        self.start = np.searchsorted(key[order], np.arange(int(np.prod(shape)) + 1))
        self.n = zx.shape[0]

    def smoothed_counts(self, widths) -> list:
        """Each point's density proxy for each width (in x-widths): the counts of points
        per cell smoothed by a Gaussian of that width (:func:`scipy.ndimage.gaussian_filter`,
        truncated at 3 sd), read at the point's cell; in the sample's order."""
        from scipy.ndimage import gaussian_filter

        counts = np.diff(self.start).reshape(tuple(self.shape)).astype(np.float64)
        out = []
        for w in widths:
            smooth = gaussian_filter(counts, w / self.side, mode="constant", truncate=3.0)
            out.append(smooth.ravel()[self.cell_of])
        return out


def cell_side(radius: float) -> float:
    """The cells' side: ``radius / CELLS_PER_RADIUS``, rounded up where needed so that the
    ``CELLS_PER_RADIUS`` cells a query searches on each side cover the whole radius (in
    float64, ``3 * (r / 3)`` falls one unit in the last place short of ``r`` for some r)."""
    side = radius / CELLS_PER_RADIUS
    if CELLS_PER_RADIUS * side < radius:
        side = float(np.nextafter(side, np.inf))
    return side


def _grid_shape(lo, hi, radius: float) -> np.ndarray:
    """Cells per dimension of a grid over the box ``[lo, hi]`` (width units), as floats (a
    huge span cannot overflow an integer before :func:`pays` refuses it)."""
    return np.floor((np.asarray(hi) - np.asarray(lo)) / cell_side(radius)) + 1


def _cells(z, lo, side, shape):
    return np.clip(np.floor((z - lo) / side).astype(np.int64), 0, shape - 1)


def radius_grid(zx: np.ndarray, zy: np.ndarray, radius: float = RADIUS):
    """A :class:`RadiusGrid` of the sample (float64 arrays in width units), or None where
    truncation would not pay (fewer than ``MIN_SPAN`` cells in a dimension or more than
    ``MAX_CELLS`` in all)."""
    if not pays(zx.min(0), zx.max(0), radius):
        return None
    return RadiusGrid(zx, zy, radius)


def pays(lo, hi, radius: float = RADIUS) -> bool:
    """Whether a grid over the box ``[lo, hi]`` (width units) has at least ``MIN_SPAN``
    cells in every dimension and at most ``MAX_CELLS`` in all."""
    shape = _grid_shape(lo, hi, radius)
    return bool(shape.min() >= MIN_SPAN and float(np.prod(shape)) <= MAX_CELLS)


def rounding_error(d: int, radius: float = RADIUS) -> float:
    r"""A bound on the relative error of every truncated sum from the float32 distances
    and ``exp`` (the points counted; the float64 sums add at most :math:`n\,2^{-53}`).

    With :math:`s` the cells' side, each x-difference :math:`u_k` of a point within
    :math:`r` is off by at most :math:`\eta = (5r + 8s)\,2^{-24}` (the roundings of the
    offsets, at most :math:`s`, of the query shifted to the cell, at most :math:`r + s`,
    of the cell difference times the side, at most :math:`r + 2s`, and of the results),
    so :math:`|\Delta\|u\|^2| \le 2\eta\sqrt d\,r + d\eta^2 + d r^2 2^{-24}`; half of
    that (with the y-exponent's float32 rounding, at most :math:`64\cdot2^{-24}`, and a
    1 % margin for :math:`e^\Delta - 1`) is the relative error of a term's exponent, and
    two ``exp`` (:data:`EXP_ERROR` each) and the product add theirs.
    """
    side = cell_side(radius)
    unit = 2.0**-24
    eta = (5 * radius + 8 * side) * unit
    d2 = 2 * eta * math.sqrt(d) * radius + d * eta**2 + d * radius**2 * unit
    return 0.505 * (d2 + 64 * unit) + 2 * EXP_ERROR + 4 * unit


@numba.njit(inline="always", fastmath=True)
def _exp_neg(x):
    """exp(x) for float32 -32 <= x <= 0 within EXP_ERROR relative: the Taylor polynomial
    of degree 10 of exp(x/32), squared five times (no branch, so the loops vectorise)."""
    z = x * np.float32(1.0 / 32.0)
    p = np.float32(1.0 / 3628800.0)
    for c in (362880.0, 40320.0, 5040.0, 720.0, 120.0, 24.0, 6.0, 2.0, 1.0, 1.0):
        p = p * z + np.float32(1.0 / c)
    for _ in range(5):
        p = p * p
    return p


@numba.njit(nogil=True, cache=True, fastmath=True)
def _add_range(q, q_last, qy, grid_arrays, j0, j1, side, r2, buf):
    """Sums of the points j0..j1-1 within the radius: (x sum, joint sum, count). ``q``:
    the query's float32 offsets from the range's cells (the last one's from its own
    cell, whose index is ``q_last``)."""
    fx, last, zy = grid_arrays
    d = fx.shape[0]
    d2 = buf[0, : j1 - j0]
    e2 = buf[1, : j1 - j0]
    for j in range(j1 - j0):
        u = (last[j0 + j] - q_last) * side + (fx[d - 1, j0 + j] - q[d - 1])
        d2[j] = u * u
    for k in range(d - 1):
        for j in range(j1 - j0):
            u = fx[k, j0 + j] - q[k]
            d2[j] += u * u
    for j in range(j1 - j0):
        v = zy[0, j0 + j] - qy[0]
        t = v * v
        for k in range(1, zy.shape[0]):
            v = zy[k, j0 + j] - qy[k]
            t += v * v
        e2[j] = np.float32(min(t, 64.0))
    kx, kj, m = 0.0, 0.0, 0
    half = np.float32(-0.5)
    for j in range(j1 - j0):
        inside = d2[j] < r2
        ex = _exp_neg(half * min(d2[j], r2)) * (np.float32(1.0) if inside else np.float32(0.0))
        kx += np.float64(ex)
        kj += np.float64(ex * _exp_neg(half * e2[j]))
        m += inside
    return kx, kj, m


@numba.njit(nogil=True, cache=True)
def _sums(qx, qy, grid_arrays, start, lo, side, shape, mult, span, radius, out_k, out_c, out_m,
          i0, i1):  # fmt: skip
    d = qx.shape[1]
    r2 = radius * radius
    wide = 2 * span + 1
    n_off = wide ** (d - 1)
    cell = np.empty(d, np.int64)
    frac = np.empty(d)  # the query's offsets from its cell's corner (float64)
    q = np.empty(d, np.float32)
    width = 0
    for c in range(start.shape[0] - 1):  # the longest range: 2 span + 1 cells
        width = max(width, start[min(c + wide, start.shape[0] - 1)] - start[c])
    buf = np.empty((2, width + 1), np.float32)
    side32, r2_32 = np.float32(side), np.float32(r2)
    for i in range(i0, i1):
        for k in range(d):
            cell[k] = min(max(math.floor((qx[i, k] - lo[k]) / side), 0), shape[k] - 1)
            frac[k] = qx[i, k] - lo[k] - cell[k] * side
        q[d - 1] = np.float32(frac[d - 1])
        q_last = np.float32(cell[d - 1])
        kx, kj, m = 0.0, 0.0, 0
        for t in range(n_off):
            rem, base, gap2, inside = t, 0, 0.0, True
            for k in range(d - 2, -1, -1):
                step = rem % wide - span
                c = cell[k] + step
                rem //= wide
                if c < 0 or c >= shape[k]:
                    inside = False
                    break
                base += c * mult[k]
                offset = frac[k] - step * side  # the query's offset from the cell
                q[k] = np.float32(offset)
                g = max(-offset, offset - side, 0.0)
                gap2 += g * g
            if not inside or gap2 >= r2:
                continue
            reach = math.sqrt(r2 - gap2)
            x = qx[i, d - 1] - lo[d - 1]
            a = max(math.floor((x - reach) / side), 0)
            b = min(math.floor((x + reach) / side), shape[d - 1] - 1)
            if a > b:
                continue
            j0, j1 = start[base + a], start[base + b + 1]
            if j1 > j0:
                sx, sj, sm = _add_range(q, q_last, qy[i], grid_arrays, j0, j1, side32, r2_32, buf)
                kx += sx
                kj += sj
                m += sm
        out_k[i], out_c[i], out_m[i] = kx, kj, m


def radius_sums(qx: np.ndarray, qy: np.ndarray, grid: RadiusGrid, threads: int = 1):
    r"""Truncated sums :math:`\tilde k_q, \tilde c_q` of the query points (width units)
    over the grid's sample, and :math:`\delta_q = (n - m_q)e^{-r^2/2}`, the most the
    points left out can add to either (float64 arrays)."""
    m = qx.shape[0]
    out_k, out_c, out_m = np.zeros(m), np.zeros(m), np.zeros(m, dtype=np.int64)
    # Queries in cell order: neighbouring queries read the same points (cache).
    order = np.argsort(_cells(qx, grid.lo, grid.side, grid.shape) @ grid.mult, kind="stable")
    qx, qy = np.ascontiguousarray(qx[order]), np.ascontiguousarray(qy[order])
    bounds = np.linspace(0, m, 8 * max(threads, 1) + 1).astype(np.int64)
    d = qx.shape[1]
    arrays = (grid.fx, grid.last, grid.zy)
    span = CELLS_PER_RADIUS  # cells each side of a query's cell that the radius reaches
    args = (arrays, grid.start, grid.lo, grid.side, grid.shape, grid.mult, span, grid.radius)

    def job(c):
        _sums(qx, qy, *args, out_k, out_c, out_m, bounds[c], bounds[c + 1])

    with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
        list(pool.map(job, range(len(bounds) - 1)))
    inv = np.empty(m, dtype=np.int64)
    inv[order] = np.arange(m)
    # a point left out is at least this far: its float32 distance was >= r
    reach2 = grid.radius**2 * (1 - 2 * rounding_error(d, grid.radius))
    delta = (grid.n - out_m[inv]) * math.exp(-0.5 * reach2)
    return out_k[inv], out_c[inv], delta
