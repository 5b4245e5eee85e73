r"""The approximate mode of the conditional CS divergence: two-phase importance sampling
of outer points with exact row sums (the module docstring of
:mod:`bottlekit.estimators.cauchy_schwarz` gives the estimator and its error bound)."""

from __future__ import annotations

import math

import numpy as np

from ._cs_backend import positive_mean
from ._kernel_sums import _as_float64, gaussian_pair_sums
from ._point_sampling import inclusion_probabilities, poisson_sample, two_phase_variance
from ._validation import check_random_state

UNIFORM_SHARE = 0.1  # sampling probabilities: this share uniform, the rest ~ 1/density
PROXY_COLUMNS = 256  # density proxies: x-kernel sums over this many random points,
PROXY_WIDTHS = (1.0, 3.0)  # at these multiples of the x-width (an equal mixture)
FIRST_PHASE = 32  # proxies only for a uniform first phase of this many times n_points


def sampled_conditional(W1, W2, widths, split, k, be, random_state) -> dict:
    r"""The approximate mode of the conditional CS divergence, with its standard error.

    Two-phase sampling: a uniform first phase of ``FIRST_PHASE * k`` points of each
    sample (all of them when the sample is not larger), whose density proxies are
    computed; then a Poisson sample of expected size ``k`` from it with probabilities
    proportional to a proxy of :math:`1/\hat p(x_j)` (mixed with uniform), weighted by
    ``1/pi_j`` (Horvitz–Thompson, :math:`\pi_j` the product of the two phases'
    probabilities); the sampled points' row sums against both samples are exact.
    """
    import torch

    rng = check_random_state(random_state)
    W = (_as_float64(W1, be.device), _as_float64(W2, be.device))
    kw = {"tile_size": be.tile, "device": be.device}
    value, var = 0.0, 0.0
    for own, other in ((0, 1), (1, 0)):
        n = W[own].shape[0]
        m = min(n, FIRST_PHASE * k)
        first = np.sort(rng.choice(n, size=m, replace=False)) if m < n else None
        proxies = density_proxies(W[own][:, :split], widths[0], rng, kw, first)
        pi = inclusion_probabilities([1.0 / r for r in proxies], min(k, m), UNIFORM_SHARE)
        kept = poisson_sample(pi, rng)  # positions in the first phase
        idx = kept if first is None else first[kept]
        rows = W[own][torch.from_numpy(idx).to(be.device)]
        s_own = gaussian_pair_sums(rows, W[own], widths, split=split, skip_y=True, **kw)
        s_oth = gaussian_pair_sums(rows, W[other], widths, split=split, skip_y=True, **kw)
        k_own, c_own, k_oth, c_oth = s_own["x"], s_own["joint"], s_oth["x"], s_oth["joint"]
        self_terms = (c_own / k_own**2).cpu().double().numpy()
        cross_terms = (c_oth / (k_own * k_oth)).cpu().double().numpy()
        p = pi[kept] * (m / n)
        a, b = float((self_terms / p).sum()) / n, float((cross_terms / p).sum()) / n
        for v, what in ((a, "the (X, Y) pairs"), (b, "the two samples")):
            positive_mean(v, what, widths[0])
        value += math.log(a) - math.log(b)
        influence = self_terms / a - cross_terms / b
        var += two_phase_variance(influence, pi[kept], m, n) / n**2
    return {"value": value, "standard_error": math.sqrt(var)}


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
