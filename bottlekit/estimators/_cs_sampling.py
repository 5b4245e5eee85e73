r"""The approximate mode of the conditional CS divergence: two-phase importance sampling
of outer points with exact row sums, or sums truncated at a radius in x where that pays
(:mod:`._radius_sums`; the module docstring of :mod:`bottlekit.estimators.cauchy_schwarz`
gives the estimator and its error bound)."""

from __future__ import annotations

import math

import numpy as np

from ._cs_backend import positive_mean
from ._kernel_sums import _as_float64, gaussian_pair_sums
from ._point_sampling import inclusion_probabilities, poisson_sample, two_phase_variance
from ._radius_sums import pays, radius_grid, radius_sums, rounding_error
from ._validation import check_random_state

UNIFORM_SHARE = 0.1  # sampling probabilities: this share uniform, the rest ~ 1/density
PROXY_COLUMNS = 256  # density proxies: x-kernel sums over this many random points,
PROXY_WIDTHS = (1.0, 3.0)  # at these multiples of the x-width (an equal mixture)
FIRST_PHASE = 32  # proxies only for a uniform first phase of this many times n_points
TRUNCATION_SHARE = 1e-3  # truncated sums: relative bound on each sample's a and b together
GRID_PROXY_WIDTHS = (1.0, 2.0)  # with a grid: smoothed cell counts at these x-widths


def radius_grids(W1, W2, widths, split, be):
    """The two samples' :class:`._radius_sums.RadiusGrid` (x and y in width units, on the
    CPU whatever ``be``'s device), or None where a grid would not pay (e.g. at d = 64 with
    the median width). The grids give the sampling probabilities everywhere, and the
    truncated row sums on the CPU."""
    ws = [
        np.asarray(W.detach().cpu().double().numpy() if hasattr(W, "detach") else W, np.float64)
        for W in (W1, W2)
    ]
    for w in ws:  # cheap test first: no copy of the data where no grid pays (d = 64)
        if not pays(w[:, :split].min(0) / widths[0], w[:, :split].max(0) / widths[0]):
            return None
    grids = [radius_grid(w[:, :split] / widths[0], w[:, split:] / widths[1]) for w in ws]
    return None if any(g is None for g in grids) else grids


def sampled_conditional(
    W1, W2, widths, split, k, be, random_state, grids=None, truncate=True
) -> dict:
    r"""The approximate mode of the conditional CS divergence, with its standard error.

    A Poisson sample of expected size ``k`` of each sample's points with probabilities
    proportional to a proxy of :math:`1/\hat p(x_j)` (mixed with uniform), weighted by
    ``1/pi_j`` (Horvitz–Thompson). With ``grids`` (:func:`radius_grids`) the proxies are
    every point's smoothed cell counts (:meth:`._radius_sums.RadiusGrid.smoothed_counts`,
    at ``GRID_PROXY_WIDTHS``) and the sampled points' row sums are truncated at
    ``RADIUS`` x-widths, with exact rows for the points that would otherwise loosen the
    bound most (:func:`_truncated_rows`; exact rows for all with ``truncate=False``, the
    same draw); ``"truncation_bound"`` then bounds the distance, in nats, between the
    value and the one with exact rows for the same draw (0 with exact rows). Without
    grids, two phases: a uniform first phase of ``FIRST_PHASE * k`` points (all of them
    when the sample is not larger) gets the proxies of :func:`density_proxies`, and
    :math:`\pi_j` is the product of the two phases' probabilities.
    """
    import torch

    rng = check_random_state(random_state)
    W = (_as_float64(W1, be.device), _as_float64(W2, be.device))
    kw = {"tile_size": be.tile, "device": be.device}
    value, var, bound = 0.0, 0.0, 0.0
    for own, other in ((0, 1), (1, 0)):
        n = W[own].shape[0]
        if grids is not None:  # every point's proxies, from its sample's grid
            m, first = n, None
            proxies = grids[own].smoothed_counts(GRID_PROXY_WIDTHS)
        else:
            m = min(n, FIRST_PHASE * k)
            first = np.sort(rng.choice(n, size=m, replace=False)) if m < n else None
            proxies = density_proxies(W[own][:, :split], widths[0], rng, kw, first)
        pi = inclusion_probabilities([1.0 / r for r in proxies], min(k, m), UNIFORM_SHARE)
        kept = poisson_sample(pi, rng)  # positions in the first phase
        idx = kept if first is None else first[kept]
        p = pi[kept] * (m / n)
        if grids is None or not truncate:
            rows = W[own][torch.from_numpy(idx).to(be.device)]
            s_own = gaussian_pair_sums(rows, W[own], widths, split=split, skip_y=True, **kw)
            s_oth = gaussian_pair_sums(rows, W[other], widths, split=split, skip_y=True, **kw)
            sums = [s_own["x"], s_own["joint"], s_oth["x"], s_oth["joint"]]
            k_own, c_own, k_oth, c_oth = (v.cpu().double().numpy() for v in sums)
        else:
            sums, r = _truncated_rows(W, own, other, idx, 1.0 / p, grids, widths, split, kw)
            k_own, c_own, k_oth, c_oth = sums
            bound += -math.log1p(-r)
        self_terms = c_own / k_own**2
        cross_terms = c_oth / (k_own * k_oth)
        a, b = float((self_terms / p).sum()) / n, float((cross_terms / p).sum()) / n
        for v, what in ((a, "the (X, Y) pairs"), (b, "the two samples")):
            positive_mean(v, what, tuple(widths))
        value += math.log(a) - math.log(b)
        influence = self_terms / a - cross_terms / b
        var += two_phase_variance(influence, pi[kept], m, n) / n**2
    return {"value": value, "standard_error": math.sqrt(var), "truncation_bound": bound}


def _truncated_rows(W, own, other, idx, weight, grids, widths, split, kw):
    r"""Row sums of the points ``idx`` of sample ``own`` truncated at the radius, and the
    relative bound ``r`` of their effect on :math:`\hat a` and :math:`\hat b` together.

    With :math:`\delta, \delta'` the most the points left out add to a sum over the own
    and the other sample, the exact terms satisfy
    :math:`|a_j - \tilde a_j| \le \delta/\tilde k^2 + 2\tilde a_j\delta/\tilde k`
    and :math:`|b_j - \tilde b_j| \le \delta'/(\tilde k\tilde k') + \tilde b_j(\delta/
    \tilde k + \delta'/\tilde k')` (:math:`c \ge \tilde c`, :math:`k \le \tilde k +
    \delta`, and so on). The points with the largest weighted bounds get exact full rows
    (their :math:`\delta = 0`) until the rest sum to at most ``TRUNCATION_SHARE`` of the
    estimates :math:`\sum_j w_j\tilde a_j` and :math:`\sum_j w_j\tilde b_j`. The
    truncated sums' rounding (relative :math:`\epsilon`,
    :func:`._radius_sums.rounding_error`) moves each :math:`\tilde a_j` and
    :math:`\tilde b_j` by at most :math:`3\epsilon` more, so with :math:`r` the share
    left plus :math:`6.01\epsilon`, :math:`\hat a/\tilde a` and :math:`\hat b/\tilde b`
    lie in :math:`[1-r, 1+r]`.
    """
    import torch

    w = W[own].cpu().double().numpy()[idx]
    qx, qy = w[:, :split] / widths[0], w[:, split:] / widths[1]
    threads = max(1, torch.get_num_threads())
    k_own, c_own, d_own = radius_sums(qx, qy, grids[own], threads)
    k_oth, c_oth, d_oth = radius_sums(qx, qy, grids[other], threads)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = c_own / k_own**2
        b = np.where(c_oth > 0, c_oth / (k_own * k_oth), 0.0)
        err_a = d_own / k_own**2 + 2 * a * d_own / k_own
        err_b = d_oth / (k_own * k_oth) + b * (d_own / k_own + d_oth / k_oth)
        share = weight * (err_a / (weight * a).sum() + err_b / max((weight * b).sum(), 1e-300))
    share = np.where(np.isfinite(share), share, np.inf)
    order = np.argsort(-share, kind="stable")
    rest = np.cumsum(share[order][::-1])[::-1]  # rest[i]: the sum of the shares from i on
    exact = np.sort(order[: int(np.sum(~(rest <= TRUNCATION_SHARE)))])
    r = float(share[np.setdiff1d(np.arange(len(idx)), exact)].sum()) + 6.01 * rounding_error(split)
    if len(exact):
        rows = W[own][torch.from_numpy(idx[exact]).to(W[own].device)]
        for target, where in ((0, own), (2, other)):
            s = gaussian_pair_sums(rows, W[where], widths, split=split, skip_y=True, **kw)
            sums = (k_own, c_own) if target == 0 else (k_oth, c_oth)
            sums[0][exact] = s["x"].cpu().double().numpy()
            sums[1][exact] = s["joint"].cpu().double().numpy()
    return (k_own, c_own, k_oth, c_oth), r


def density_proxies(X, width: float, rng, kw, rows=None) -> list:
    """``1 + (n/m) sum_i K_w(x_j, x_i)`` over ``m`` random points, for each proxy width.

    Cheap stand-ins for the row sums :math:`k_j` (``n * m`` pairs per width), for the
    points ``rows`` (indices; all when None): only the sampling probabilities depend on
    them, so their errors cost variance, never bias. The kernel width itself is noisy at
    low densities with ``m`` points, a wider one smooths over local gaps; the mixture of
    both is robust (module docstring).
    """
    n = X.shape[0]
    m = min(PROXY_COLUMNS, n)
    import torch

    picked = np.sort(rng.choice(n, size=m, replace=False))
    cols = X[torch.from_numpy(picked).to(X.device)]
    if rows is not None:
        X = X[torch.from_numpy(rows).to(X.device)]
    out = []
    for factor in PROXY_WIDTHS:
        sums = gaussian_pair_sums(X, cols, (factor * width,), **kw)["x"]
        out.append(1.0 + (n / m) * sums.cpu().double().numpy())
    return out
