"""Row sums truncated at a radius (the conditional CS divergence's approximate mode)."""

import math

import numpy as np
import pytest
import torch

from bottlekit.estimators import conditional_cs_divergence
from bottlekit.estimators._cs_backend import Backend
from bottlekit.estimators._cs_sampling import radius_grids, sampled_conditional
from bottlekit.estimators._radius_sums import (
    EXP_ERROR,
    _exp_neg,
    radius_grid,
    radius_sums,
    rounding_error,
)


def _brute(qx, qy, zx, zy):
    """float64 sums of exp(-|dx|^2/2) and exp(-(|dx|^2 + |dy|^2)/2) over all points."""
    dx = ((qx[:, None, :] - zx[None]) ** 2).sum(-1)
    dy = ((qy[:, None, :] - zy[None]) ** 2).sum(-1)
    return np.exp(-0.5 * dx).sum(1), np.exp(-0.5 * (dx + dy)).sum(1)


@pytest.mark.parametrize("radius", [2.0, 3.0, 7.0])
@pytest.mark.parametrize("d", [1, 3])
def test_truncated_sums_within_their_bound_of_the_exact_sums(radius, d):
    # 3,000 points in width units (a cluster, a far cluster, lone points 100 widths out):
    # -eps exact <= exact - truncated <= delta + eps exact for both sums (eps: the float32
    # distances' and exp's rounding bound), and at radius 2 the points left out matter
    # (the bound is not vacuous there: some sums miss more than 1e-3).
    rng = np.random.default_rng(d)
    zx = np.vstack([5 * rng.standard_normal((2500, d)), 40 + 3 * rng.standard_normal((490, d))])
    zx = np.vstack([zx, 100 + 30 * rng.random((10, d))])
    zy = rng.standard_normal((3000, 2))
    grid = radius_grid(zx, zy, radius)
    assert grid is not None
    qx = np.vstack([zx[::7], rng.uniform(-30, 140, (50, d))])  # sample points and others
    qy = np.vstack([zy[::7], rng.standard_normal((50, 2))])
    k, c, delta = radius_sums(qx, qy, grid, threads=2)
    k_exact, c_exact = _brute(qx, qy, zx, zy)
    eps = rounding_error(d, radius)
    for got, exact in ((k, k_exact), (c, c_exact)):
        tol = eps * exact + 1e-300
        assert np.all(exact - got >= -tol) and np.all(exact - got <= delta + tol)
    if radius == 2.0:
        assert np.max(k_exact - k) > 1e-3
    if radius == 7.0:
        np.testing.assert_allclose(k, k_exact, rtol=eps, atol=1e-9)  # the far queries


def test_rounding_is_bounded_far_from_the_grids_origin():
    # float32 distances on a long thin sample (9,000 widths along its last coordinate):
    # offsets from each point's own cell keep the rounding within the bound; coordinates
    # from the grid's corner would not (float32 spacing at 9,000 is 1e-3: measured 4.8e-4
    # relative error with them, 1.6e-6 with the offsets, the bound 9.3e-5).
    rng = np.random.default_rng(0)
    zx = np.column_stack([rng.uniform(0, 36, (6000, 3)), rng.uniform(0, 9000, 6000)])
    zy = 3 * rng.standard_normal((6000, 1))
    grid = radius_grid(zx, zy)
    assert grid.shape[-1] > 3000
    qx, qy = zx[::5] + 0.3 * rng.standard_normal((1200, 4)), zy[::5]
    k, c, delta = radius_sums(qx, qy, grid)
    k_exact, c_exact = _brute(qx, qy, zx, zy)
    eps = rounding_error(4)
    assert 1e-5 < eps < 1e-4
    assert np.all(np.abs(k - k_exact) <= eps * k_exact + delta)
    assert np.all(np.abs(c - c_exact) <= eps * c_exact + delta)


@pytest.mark.parametrize("fastmath", [True, False])
def test_exp_polynomial_within_its_stated_error(fastmath):
    # float32 inputs on [-32, 0] against float64 exp, compiled with and without fastmath
    # (the kernel's; contraction into FMA changes the rounding).
    import numba

    @numba.njit(fastmath=fastmath)
    def evaluate(x):
        out = np.empty(x.shape[0])
        for i in range(x.shape[0]):
            out[i] = _exp_neg(x[i])
        return out

    x = np.linspace(-32, 0, 1_000_001).astype(np.float32)
    got, want = evaluate(x), np.exp(x.astype(np.float64))
    assert np.max(np.abs(got / want - 1)) <= EXP_ERROR


def test_no_grid_where_truncation_would_not_pay():
    # d = 64 with the median width (the ball holds every point), or a coarse grid at d = 2.
    from bottlekit.estimators.kernels import kernel_width

    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 64))
    w = kernel_width(x, "median")
    assert radius_grid(x / w, x[:, :1]) is None
    assert radius_grid(rng.standard_normal((2000, 2)) / 0.6, x[:, :1]) is None
    assert radius_grid(rng.standard_normal((2000, 2)) / 0.1, x[:, :1]) is not None


def _far_pairs(n, seed):
    """Two 2-D samples, Silverman-sized widths, with a few isolated points each: the first
    sample's last point lies 60 widths from every point of the second (cross sums ~ 0)."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.standard_normal((n, 2)), rng.standard_normal((n, 2))
    x1[-5:] = rng.uniform(4, 6, (5, 2))
    x1[-1] = (9.0, 9.0)
    x2[-5:] = rng.uniform(-6, -4, (5, 2))
    y1 = x1.sum(1, keepdims=True) + 0.5 * rng.standard_normal((n, 1))
    y2 = 0.5 * x2.sum(1, keepdims=True) + 0.5 * rng.standard_normal((n, 1))
    return x1, y1, x2, y2


@pytest.mark.parametrize("seed", range(4))
def test_truncated_estimate_within_its_bound_of_the_exact_rows(seed, monkeypatch):
    # The same draw (the truncated path uses no random numbers) with exact rows and with
    # truncated ones differ by at most the reported truncation bound, which holds the
    # share of the points given exact rows; the isolated point (k' = 0 when truncated)
    # always gets them: the estimate stays finite. Exact rows in float64 tiles here (the
    # float32 tiles' rounding, up to 6e-5 nats on these far points, is not the bound's).
    import functools

    from bottlekit.estimators import _cs_sampling

    exact_rows = functools.partial(_cs_sampling.gaussian_pair_sums, dtype=torch.float64)
    monkeypatch.setattr(_cs_sampling, "gaussian_pair_sums", exact_rows)
    x1, y1, x2, y2 = _far_pairs(6000, seed)
    sx, sy = 0.15, 0.1
    be = Backend(False, None, None, [x1], [sx])
    w1, w2 = np.hstack([x1, y1]), np.hstack([x2, y2])
    grids = radius_grids(w1, w2, (sx, sy), 2, be)
    assert grids is not None
    # every point of the first sample sampled (certain), so the isolated one is in it
    exact = sampled_conditional(w1, w2, (sx, sy), 2, 6000, be, seed, grids, truncate=False)
    trunc = sampled_conditional(w1, w2, (sx, sy), 2, 6000, be, seed, grids)
    assert math.isfinite(trunc["value"])
    assert exact["truncation_bound"] == 0.0
    assert 0 < trunc["truncation_bound"] <= -2 * math.log1p(-1e-3 - 6.01 * rounding_error(2))
    assert abs(trunc["value"] - exact["value"]) <= trunc["truncation_bound"] + 1e-9
    tensors = [torch.tensor(v, dtype=torch.float64) for v in (x1, y1, x2, y2)]
    full_exact = float(conditional_cs_divergence(*tensors, sx, sy))
    assert trunc["value"] == pytest.approx(full_exact, abs=trunc["truncation_bound"] + 1e-9)
    part = sampled_conditional(w1, w2, (sx, sy), 2, 700, be, seed, grids)
    full = sampled_conditional(w1, w2, (sx, sy), 2, 700, be, seed, grids, truncate=False)
    assert 0 < abs(part["value"] - full["value"]) <= part["truncation_bound"] + 1e-9


def test_public_approximation_at_d64_uses_the_exact_rows():
    # Where no grid pays (d = 64, median width) the approximate mode is today's: the same
    # value as the sampled exact rows, and n_points still defaults to 2048.
    from bottlekit.estimators.kernels import kernel_width

    rng = np.random.default_rng(3)
    x1, x2 = rng.standard_normal((3000, 64)), rng.standard_normal((3000, 64))
    y1, y2 = x1[:, :1] + 0.1, x2[:, :1] - 0.1
    sx = kernel_width(np.vstack([x1, x2]), "median")
    sy = kernel_width(np.vstack([y1, y2]), "median")
    be = Backend(False, None, None, [x1], [sx])
    w1, w2 = np.hstack([x1, y1]), np.hstack([x2, y2])
    assert radius_grids(w1, w2, (sx, sy), 64, be) is None
    want = sampled_conditional(w1, w2, (sx, sy), 64, 2048, be, 5)["value"]
    got = conditional_cs_divergence(
        x1, y1, x2, y2, sx, sy, approximation="random_tiles", random_state=5
    )
    assert got == pytest.approx(want, rel=1e-12)


def test_grid_proxies_calibrated_and_better_than_random_columns():
    # With a grid the sampling probabilities come from every point's smoothed cell
    # counts. Over 24 seeds (n = 30,000 in 2-D, Silverman's widths, n_points = 512) the
    # spread of the estimates matches the reported standard errors, the estimates are
    # unbiased against the exact value, and the errors are smaller than with the density
    # proxies of 256 random columns (the path without a grid, exact rows, same data).
    from bottlekit.estimators.kernels import kernel_width

    rng = np.random.default_rng(11)
    x1, x2 = rng.standard_normal((30_000, 2)), rng.standard_normal((30_000, 2))
    y1 = x1.sum(1, keepdims=True) + 0.5 * rng.standard_normal((30_000, 1))
    y2 = 0.5 * x2.sum(1, keepdims=True) + 1.0 + 0.5 * rng.standard_normal((30_000, 1))
    sx = kernel_width(np.vstack([x1, x2]), "silverman")
    sy = kernel_width(np.vstack([y1, y2]), "silverman")
    be = Backend(False, None, None, [x1], [sx])
    w1, w2 = np.hstack([x1, y1]), np.hstack([x2, y2])
    grids = radius_grids(w1, w2, (sx, sy), 2, be)
    assert grids is not None
    # every point sampled (pi = 1): the exact value within its truncation bound
    full = sampled_conditional(w1, w2, (sx, sy), 2, 30_000, be, 0, grids)
    exact = full["value"]
    runs = [sampled_conditional(w1, w2, (sx, sy), 2, 512, be, s, grids) for s in range(24)]
    values = np.array([r["value"] for r in runs])
    se = np.array([r["standard_error"] for r in runs])
    bound = np.array([r["truncation_bound"] for r in runs]) + full["truncation_bound"]
    assert 0.6 * se.mean() < np.std(values, ddof=1) < 1.6 * se.mean()
    assert np.all(np.abs(values - exact) <= 4 * se + bound)
    assert abs(values.mean() - exact) < 3 * se.mean() / math.sqrt(24) + bound.max()
    columns = [sampled_conditional(w1, w2, (sx, sy), 2, 512, be, s) for s in range(6)]
    assert se.mean() < 0.8 * np.mean([r["standard_error"] for r in columns])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_draws_with_the_grid_and_sums_exact_rows():
    # On CUDA the grid (built on the CPU) gives the sampling probabilities and the sampled
    # points get exact rows on the GPU: the public value is the CPU's same draw with
    # exact rows (float32 tiles on both), with the default n_points of exact rows, 2048.
    from bottlekit.estimators.kernels import kernel_width

    x1, y1, x2, y2 = _far_pairs(20_000, 0)
    sx = kernel_width(np.vstack([x1, x2]), "silverman")
    sy = kernel_width(np.vstack([y1, y2]), "silverman")
    be = Backend(False, None, "cpu", [x1], [sx])
    w1, w2 = np.hstack([x1, y1]), np.hstack([x2, y2])
    grids = radius_grids(w1, w2, (sx, sy), 2, be)
    assert grids is not None
    want = sampled_conditional(w1, w2, (sx, sy), 2, 2048, be, 3, grids, truncate=False)
    got = conditional_cs_divergence(
        x1, y1, x2, y2, sx, sy, approximation="random_tiles", random_state=3, device="cuda"
    )
    assert got == pytest.approx(want["value"], rel=1e-4)


def test_the_cells_searched_cover_the_whole_radius():
    """A query searches CELLS_PER_RADIUS cells on each side of its own, so their side times
    CELLS_PER_RADIUS must reach the radius. In float64, 3 * (r / 3) is one unit in the last
    place short of r for about 6 % of radii (the grid kept r / 3 as its side, and the kernel
    compared distances with r itself); cell_side rounds those up by one unit."""
    from bottlekit.estimators._radius_sums import CELLS_PER_RADIUS, cell_side

    radii = np.random.default_rng(0).uniform(0.5, 20.0, 20_000)
    short = [r for r in radii if CELLS_PER_RADIUS * (r / CELLS_PER_RADIUS) < r]
    assert len(short) > 100  # the case exists
    for r in radii:
        side = cell_side(r)
        assert CELLS_PER_RADIUS * side >= r
        assert side - r / CELLS_PER_RADIUS <= np.spacing(r / CELLS_PER_RADIUS)
