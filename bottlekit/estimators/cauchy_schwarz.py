r"""Cauchy–Schwarz (CS) divergence family: kernel estimators and the Gaussian closed form.

Definition (natural log; Yu et al. 2024 use the same form in base 2):

.. math::
    D_{CS}(p\|q) = -\log\frac{\left(\int p\,q\right)^2}{\int p^2 \int q^2}
                 = \log\int p^2 + \log\int q^2 - 2\log\int p\,q \;\ge 0,

with equality iff :math:`p = q` (Cauchy–Schwarz inequality). It is symmetric.

**Kernel (Parzen) estimator.** With :math:`\hat p = \frac1n\sum_i \mathcal N(\cdot; x_i,
\sigma^2 I)` and :math:`\hat q` likewise on :math:`y_j`, every integral is a kernel sum
because the convolution of two Gaussians of width :math:`\sigma` is a Gaussian of width
:math:`\sqrt2\sigma`:

.. math::
    \int\hat p\,\hat q = \frac{1}{nm}\sum_{i,j}\mathcal N(x_i; y_j, 2\sigma^2 I).

The normalising constant :math:`(4\pi\sigma^2)^{-d/2}` appears twice in the numerator and
twice in the denominator and cancels, so only :math:`\exp(-\|x_i-y_j\|^2/(4\sigma^2))` sums
are needed (``kernels.gaussian_rowsums`` with width :math:`\sqrt2\sigma`). Because
:math:`\hat p, \hat q` are genuine densities, the estimate is itself a CS divergence: it is
:math:`\ge 0` and exactly 0 for identical samples.

**What the smoothing converges to.** If :math:`x_i \sim \mathcal N(\mu_1,\Sigma_1)`, then
:math:`E[\hat p(z)] = \int \mathcal N(z; x, \sigma^2 I)\,\mathcal N(x;\mu_1,\Sigma_1)\,dx =
\mathcal N(z;\mu_1, \Sigma_1 + \sigma^2 I)` (sum of independent Gaussian vectors), and each
kernel-sum estimate of :math:`\int \hat p\hat q` is (up to the ``O(1/n)`` diagonal terms of
the self sums) an average of i.i.d. terms whose mean is
:math:`\int \mathcal N(\mu_1,\Sigma_1+\sigma^2 I)\,\mathcal N(\mu_2,\Sigma_2+\sigma^2I)`.
So for fixed :math:`\sigma` the estimator converges to the *exact* value
``gaussian_cs_divergence(mu1, cov1 + sigma**2 I, mu2, cov2 + sigma**2 I)``, and to the
divergence of the unsmoothed Gaussians only as :math:`\sigma \to 0`.

**Self-pairs: U- and V-statistics.** The within-sample means
:math:`\overline{G_{XX}} = \frac1{n^2}\sum_{i,j} G_{ij}` of the plug-in (V-statistic) include
the :math:`n` self-pairs :math:`G_{ii} = 1`, which add about :math:`1/n` to a mean whose
expectation :math:`E[G(x_1, x_2)]` over distinct points can be far smaller: in 10 dimensions with
:math:`\sigma = 0.5` the self-pairs are half of the sum at n = 3,000 and the estimate is
several times the smoothed closed form. The default (``statistic="u"``) therefore averages
over distinct pairs only,

.. math::
    \overline{G_{XX}}^{\,U} = \frac{1}{n(n-1)}\sum_{i\ne j} G_{ij}
    = \frac{\sum_{i,j} G_{ij} - n}{n(n-1)},

each term then an unbiased estimate of :math:`E[G(x_1, x_2)]`; the estimate is consistent
without the :math:`O(1/(n\sigma^d))` bias, but no longer a divergence between two densities,
so it can be slightly negative (e.g. for identical samples). ``statistic="v"`` keeps the
plug-in of Yu et al.'s papers and code (what :class:`~bottlekit.bottleneck.CSIBRegressor`
uses).

**Gaussian closed form.** :math:`\int \mathcal N(x;\mu_1,\Sigma_1)\mathcal N(x;\mu_2,
\Sigma_2)dx = \mathcal N(\mu_1;\mu_2,\Sigma_1+\Sigma_2)`, hence

.. math::
    D_{CS} = \log|\Sigma_1+\Sigma_2| + (\mu_1-\mu_2)^\top(\Sigma_1+\Sigma_2)^{-1}
    (\mu_1-\mu_2) - \tfrac12\log|2\Sigma_1| - \tfrac12\log|2\Sigma_2|.

**Exact kernel sums.** Without gradient (numpy inputs, or tensors that need none) the
sums run in float32 tiles with float64 accumulation on ``device`` (float64 tensors keep
float64 tiles, exact to rounding but slower)
(:mod:`bottlekit.estimators._kernel_sums`: one matrix product per tile, ``exp2``, half the
tiles for within-sample sums). Tolerance against float64 sums: each kernel value within a
relative :math:`10^{-7}(1 + 2R^2)`, with :math:`R` the largest distance of a point from
the pooled mean in kernel widths (the cancellation of
:math:`\|a\|^2+\|b\|^2-2a^\top b`); estimates on data within about 10 widths of their
mean change by at most ``1e-5`` nats (both tested in
``tests/estimators/test_kernel_sums.py``; 1e-7 to 1e-6 relative is typical).
Kernel values below ``2**-126`` (1.2e-38) count as ``2**-126``. Identical samples still
give exactly 0 (V-statistic). Tensors that require a gradient use the differentiable
tiles in their own dtype, as before; float16 and bfloat16 tensors are computed (and
returned) in float32, since their 3 or 2 digits gave CS-QMI = -inf.

**Approximate mode** (``approximation="random_tiles"``, CS divergence and CS-QMI). The
rows are shuffled once and cut into blocks of 512; the kernel means over distinct pairs
(and CS-QMI's triples) are averaged over ``n_tiles`` random tiles of two (three) distinct
blocks (:mod:`bottlekit.estimators._block_sampling`). Each mean is unbiased (an incomplete
U-statistic); its relative standard error is :math:`\mathrm{sd}_T/(\mu\sqrt{n_{tiles}})`,
with :math:`\mathrm{sd}_T` the spread of one tile's mean, which depends on the data and
the width but not on ``n``; the error of the estimate is at most the sum of those of its
logs. At the defaults it is 0.1–0.4 % on 4-D Gaussians with Silverman's width
(measured: docs/estimators.md), so ``|error| <= 1 %`` of the estimate with probability
about 99 % there; the bound grows as the kernel mean :math:`\mu` shrinks (narrower
widths, higher dimensions with a small width) and as the estimate approaches 0 (a
relative bound is meaningless for independent variables). The cost (``n_tiles`` tiles of
262,144 kernel values, seconds) does not depend on ``n``; the exact sums are used
whenever they are not dearer.

**Approximate mode of the conditional CS divergence** (``approximation="random_tiles"``,
``n_points``). Its integrals are outer averages over the points :math:`j` of a sample of
ratios of that point's row sums, :math:`a_j = c^{pp}_j/(k^{pp}_j)^2` and
:math:`b_j = c^{pq}_j/(k^{pp}_j k^{pq}_j)`, so the tiles cannot be sampled independently.
The outer averages run instead over a sample of points whose row sums are *exact*
(stripes of tiles over all columns, :math:`n_1+n_2` pairs per point); the same points
serve the self and the cross term, whose errors then partly cancel. The terms are
heavy-tailed through the :math:`1/\hat p(x_j)^2` weights (coefficient of variation
about 2.2 on 4-D Gaussians with Silverman's width), so the points are drawn by
**importance sampling** in two phases (:mod:`bottlekit.estimators._point_sampling`):
a uniform first phase :math:`S_1` of :math:`m_1 = \min(n, 32k)` points of the sample
(without replacement; :math:`k` = ``n_points``), then each of them is kept
independently with probability :math:`\pi_{j|1}` (Poisson sampling, expected size
:math:`k`), :math:`\pi_{j|1} \propto \frac{0.1}{m_1} + 0.45\,
\frac{w^{(1)}_j}{\sum_{S_1} w^{(1)}} + 0.45\,\frac{w^{(3)}_j}{\sum_{S_1} w^{(3)}}`,
capped at 1, with :math:`w^{(f)}_j = 1/\tilde k^{(f)}_j` and :math:`\tilde k^{(f)}_j = 1
+ \frac nm\sum_{i\in M} K_{f\sigma_x}(x_j, x_i)` the x-kernel sums over :math:`m = 256`
random points of the sample at :math:`f = 1` and 3 times the x-width (cost
:math:`2 m_1 m` pairs per sample; the narrow one is noisy where points are sparse, the
wide one smooths over local gaps, and the uniform share bounds the weights). Only the
first phase needs the proxies, which at :math:`n = 10^6` cost more than the sampled rows
themselves at d = 64 when computed for every point; a uniform first phase loses almost
nothing, because the importance draw of :math:`k` points from :math:`m_1 \gg k` is
nearly the one from all :math:`n` (the loss comes only from the points whose
probability would exceed :math:`m_1/n`; it grows where many points are near-certain:
1.5× the sd with :math:`m_1 = 8k` of n = 4,000 points, width 0.5, :math:`k = 256`).
Point :math:`j`'s inclusion probability is :math:`\pi_j = \frac{m_1}n \pi_{j|1}`, and
each mean is estimated by :math:`\hat a = \frac1n\sum_{j\in S} a_j/\pi_j`
(Horvitz–Thompson), unbiased whatever the proxies. By the delta method

.. math::
    \hat D - D \approx \sum_{\text{samples}} \Big(\frac{\hat a - \bar a}{\bar a}
    - \frac{\hat b - \bar b}{\bar b}\Big)
    = \sum_{\text{samples}} \frac1n \Big(\sum_{j\in S}\frac{u_j}{\pi_j} - \sum_j u_j\Big),
    \qquad u_j = \frac{a_j}{\bar a} - \frac{b_j}{\bar b},

and the variance of a two-phase Horvitz–Thompson total is

.. math::
    \mathrm{Var}\sum_{j\in S}\frac{u_j}{\pi_j} = n^2\Big(\frac1{m_1}-\frac1n\Big)S_u^2
    + \frac{n^2}{m_1^2}\,E\Big[\sum_{j\in S_1}\frac{1-\pi_{j|1}}{\pi_{j|1}}u_j^2\Big]

(:math:`S_u^2` the variance of the :math:`u_j` over the sample), estimated without bias
from the sampled :math:`u_j` (with :math:`\hat a, \hat b` in place of
:math:`\bar a, \bar b`) by :func:`~bottlekit.estimators._point_sampling.two_phase_variance`:
:math:`\widehat{\mathrm{sd}}(\hat D)^2 = \sum_{\text{samples}} \big[(\frac1{m_1} -
\frac1n)\hat s_u^2 + \frac1{m_1^2}\sum_{j\in S}\frac{1-\pi_{j|1}}{\pi_{j|1}^2}u_j^2\big]`,
with :math:`\hat s_u^2` the two-phase estimate of :math:`S_u^2` given there. When
:math:`m_1 = n` (samples of at most :math:`32k` points) it is the Poisson estimate
:math:`\frac1{n^2}\sum_{j\in S}\frac{1-\pi_j}{\pi_j^2}u_j^2` (points taken with
certainty add nothing; for a uniform draw it is
:math:`(1-k/n)\mathrm{Var}_j(u_j)/k`). The bias of the logs,
:math:`-\frac12(\mathrm{Var}\,\hat a/\bar a^2 - \mathrm{Var}\,\hat b/\bar b^2)` per sample,
was not visible (within 0.15 sd over 100-400 draws). At the default ``n_points=2048``
the relative standard error on the benchmark's 4-D data is 1.25 % at n = 20,000 and 2.2 %
at n = 10⁶ (the spread grows with ``n`` because Silverman's width shrinks), about half a
uniform draw's; so 2,048 points with exact rows do **not** give 1 %, and ``|error| <= 3
sd`` is the documented bound there. The cost grows linearly with ``n_points``; the proxies
add :math:`4 \cdot 256\,m_1` pairs to the :math:`2k(n_1+n_2)` of the sampled rows. The
measurements, and the alternatives measured and rejected (row sums estimated from random
column blocks, biased by 10-22 %; such estimates as control variates), are in
docs/estimators.md and docs/benchmarks.md ("Approximate mode").

**Row sums truncated at a radius** (the default on the CPU where they pay:
:mod:`bottlekit.estimators._radius_sums`). At low dimension the x-width is small
(Silverman's rule at n = 10⁶, d = 4: 0.155 of the sd), so a sampled point's sums need only
the points within :math:`r = 7` x-widths of it: each point left out has
:math:`K \le e^{-r^2/2} = 2.3\cdot10^{-11}` and, since :math:`L \le 1`, so has its joint
term; with :math:`m_j` points counted, the truncated :math:`\tilde k_j, \tilde c_j`
miss at most :math:`\delta_j = (n-m_j)e^{-r^2/2}` of the exact sums. Then
:math:`|a_j-\tilde a_j| \le \delta_j/\tilde k_j^2 + 2\tilde a_j\delta_j/\tilde k_j` and
:math:`|b_j-\tilde b_j| \le \delta'_j/(\tilde k_j\tilde k'_j) + \tilde b_j(\delta_j/\tilde
k_j+\delta'_j/\tilde k'_j)` (:math:`\delta'_j` over the other sample). The sampled points
whose weighted bounds are largest get exact full rows (their :math:`\delta = 0`; e.g. a
point with no neighbour of the other sample within :math:`r`, where :math:`\tilde k' = 0`)
until the others sum to at most :math:`\rho = 10^{-3}` of
:math:`\sum_j \tilde a_j/\pi_j` and :math:`\sum_j \tilde b_j/\pi_j` together, so
:math:`\log\hat a - \log\hat b` moves by at most :math:`-\log(1-\rho)` per sample.
The truncated sums take the x-distances and ``exp`` in float32 (on each point's offsets from
its grid cell, so the rounding does not grow with the data's span), which moves every sum by
a relative :math:`\epsilon` at most (:math:`9.3\cdot10^{-5}` at d = 4) and each
:math:`\tilde a_j, \tilde b_j` by :math:`3\epsilon`: **the truncation and its rounding
change the estimate by at most** :math:`-2\log(1-\rho-6.01\epsilon)`
(:math:`3.1\cdot10^{-3}` **nats** at d = 4; deterministic, on top of the sampling error;
float rounding of the exact rows, float32 tiles, aside). The sums then cost the points
within the radius, not :math:`n`: the default ``n_points`` is 65,536 there instead of 2,048.
The grid also gives the sampling probabilities: each point's proxy of :math:`1/\hat p(x_j)`
is the inverse of its sample's cell counts smoothed by Gaussians of 1 and 2 x-widths (an
equal mixture, read at the point's cell; every point counts, where the random-column proxies
above use 256), for every point, so there is no first phase. At n = 10⁶, d = 4 on the
benchmark's data the relative standard error is 0.14 % in 32-38 s (two threads), so
:math:`|\hat D - D_{\text{exact}}| \le 3\,\mathrm{sd} + 0.0031` (:math:`D_{\text{exact}}`
with the exact row sums of every point) is about 0.42 % + 0.09 % there
(docs/estimators.md). Points are sorted into a grid of cells of side :math:`r/3`; it is used
only with at least 15 cells in every dimension and at most :math:`2^{24}` in all (at d = 64
with the median width the ball holds every point: exact rows and random-column proxies as
before, ``n_points`` 2,048). On CUDA the grid, built on the CPU, gives the sampling
probabilities too, with exact rows on the GPU for the default 2,048 points (relative sd
about 1.4 % at n = 10⁶, d = 4, measured with the same computation on the CPU).

Every sample function accepts numpy arrays (returns ``float``) or torch tensors (returns a
differentiable 0-dim tensor on the input's device, usable as a training loss). The
``*_torch`` names accept tensors only.
"""

from __future__ import annotations

import inspect
import math
import re
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from bottlekit._arrays import as_real_array

from ._block_sampling import sampled_kernel_means
from ._cs_backend import (
    Backend,
    any_tensor,
    approximation_size,
    check_approximation,
    check_statistic,
    is_tensor,
    positive_mean,
    prepare,
    sample_width,
    sampler,
    stack,
    v_mean,
    within_mean,
)
from ._cs_sampling import radius_grids, sampled_conditional
from ._kernel_sums import _as_float64
from ._validation import check_same_columns, convert_base

if TYPE_CHECKING:
    import torch

__all__ = [
    "conditional_cs_divergence",
    "conditional_cs_divergence_torch",
    "cs_divergence",
    "cs_divergence_torch",
    "cs_qmi",
    "cs_qmi_torch",
    "gaussian_cs_divergence",
]

_SQRT2 = math.sqrt(2.0)
_N_TILES = 8000  # default number of sampled tiles of the approximate mode
_N_TILES_QMI = 20000  # CS-QMI has four sampled means (one over triples): more tiles
_N_POINTS = 2048  # default (expected) number of outer points per sample of the conditional CS
_N_POINTS_TRUNCATED = 65536  # the same where the row sums are truncated at a radius


# ----------------------------------------------------------------------------------------
# CS divergence between two samples
# ----------------------------------------------------------------------------------------


def cs_divergence(
    X: ArrayLike | torch.Tensor,
    Y: ArrayLike | torch.Tensor,
    sigma: float | str | torch.Tensor = "silverman",
    *,
    statistic: str = "u",
    base: float | None = None,
    tile_size: int | None = None,
    device: str | torch.device | None = None,
    approximation: str | None = None,
    n_tiles: int | None = None,
    random_state: int | np.random.Generator | None = None,
) -> float | torch.Tensor:
    r"""Kernel estimate of the Cauchy–Schwarz divergence :math:`D_{CS}(p\|q)` between samples.

    .. math::
        \hat D = \log\overline{G_{XX}} + \log\overline{G_{YY}} - 2\log\overline{G_{XY}},
        \qquad G_{AB} = \left[e^{-\|a_i-b_j\|^2/(4\sigma^2)}\right]_{ij}

    Bars are means over pairs: with ``statistic="u"`` (default) the within-sample means
    skip the self-pairs :math:`i = j`; with ``statistic="v"`` they include them, and the
    estimate is the CS divergence of the two Parzen densities with Gaussian windows of
    width ``sigma`` (:math:`\ge 0`, exactly 0 for identical samples). See the module
    docstring for the derivation, the bias of the self-pairs, and what the estimate
    converges to on Gaussian data.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n,) or (n, d)
        Sample of :math:`p`.
    Y : array-like or torch.Tensor of shape (m,) or (m, d)
        Sample of :math:`q` (same ``d``).
    sigma : float, 0-dim tensor or {"silverman", "scott", "median"}, default="silverman"
        Parzen window width; a rule is applied to the pooled sample. The Gram matrices
        have width :math:`\sqrt2\sigma`: Yu et al.'s code, whose ``GaussianMatrix(a, b,
        s)`` is :math:`e^{-\|a-b\|^2/(2s^2)}`, with ``sigma=s`` is ``sigma=s/sqrt(2)``
        here (and ``statistic="v"``).
    statistic : {"u", "v"}, default="u"
        ``"u"``: within-sample means over distinct pairs (no self-pair bias); ``"v"``:
        over all pairs, the Parzen plug-in of Yu et al.
    base : None or float
        Logarithm base (None: nats).
    tile_size : int or None, default=None
        Kernel sums are computed in tiles of ``tile_size x tile_size``; memory is
        ``O(tile_size^2)``. None: 512 for sums without gradient (float32), 2048 with.
    device : None, str or torch.device, default=None
        Where the kernel sums run (e.g. ``"cuda"``). None: the inputs' device for tensors;
        for arrays CUDA when available, else the CPU (:func:`bottlekit.devices.resolve_device`).
        Tensors are moved there (the result stays on it).
    approximation : {None, "random_tiles"}, default=None
        None: exact kernel sums over all pairs. ``"random_tiles"``: the kernel means are
        averaged over ``n_tiles`` random ``512 x 512`` tiles of distinct shuffled blocks
        (an unbiased incomplete U-statistic whose cost does not depend on ``n``; see
        "Approximate mode" in the module docstring for the error bound). Used only when
        it evaluates fewer kernel values than the exact sums; no gradient.
    n_tiles : int or None, default=None
        Number of sampled tiles of the approximate mode (its error shrinks as
        ``1/sqrt(n_tiles)``); None means 8000. Refused with ``approximation=None``.
    random_state : None, int or numpy.random.Generator, default=None
        Seed of the shuffle and the tile draws of the approximate mode.

    Returns
    -------
    float, or 0-dim torch.Tensor for tensor inputs
        Estimated divergence in nats (or in ``base``); a tensor when an input is a tensor
        (differentiable in the exact mode).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((500, 2)); y = rng.standard_normal((500, 2)) + 1.0
    >>> cs_divergence(x, x, sigma=0.5, statistic="v")
    0.0
    >>> bool(cs_divergence(x, y, sigma=0.5) > 0)
    True
    """
    torch_mode = any_tensor(X, Y)
    X, Y = prepare([X, Y], ["X", "Y"], torch_mode, device=device)
    check_same_columns(X, Y, ("X", "Y"))
    unbiased = check_statistic(statistic)
    pooled = stack(X, Y, torch_mode)
    s = sample_width(pooled, sigma, "sigma") * _SQRT2
    be = Backend(torch_mode, tile_size, device, [X, Y], [s])
    n, m = X.shape[0], Y.shape[0]
    n_tiles = approximation_size(approximation, n_tiles, "n_tiles", _N_TILES)
    gen = sampler(approximation, n_tiles, random_state, be, max(n, m) ** 2)
    if gen is not None:
        X64, Y64 = _as_float64(X, be.device), _as_float64(Y, be.device)
        kw = {"n_blocks": n_tiles, "generator": gen, "device": be.device}
        mxx = sampled_kernel_means(X64, None, (float(s),), **kw)["x"][0]
        myy = sampled_kernel_means(Y64, None, (float(s),), **kw)["x"][0]
        vxy = sampled_kernel_means(X64, Y64, (float(s),), **kw)["x"][0]
        vxx, vyy = (mxx, myy) if unbiased else (v_mean(mxx, n), v_mean(myy, m))
        for v, what in ((vxx, "X"), (vyy, "Y"), (vxy, "X and Y")):
            positive_mean(v, what, s)
        d = math.log(vxx) + math.log(vyy) - 2.0 * math.log(vxy)
        return be.finish(be.scalar(d), base)
    sp = not unbiased
    vxx = within_mean(be.within(X, (s,), self_pairs=sp)["x"].sum(), n, unbiased, "X", s)
    vyy = within_mean(be.within(Y, (s,), self_pairs=sp)["x"].sum(), m, unbiased, "Y", s)
    vxy = positive_mean(be.cross_total(X, Y, s) / (n * m), "X and Y", s)
    d = be.log(vxx) + be.log(vyy) - 2.0 * be.log(vxy)
    if not torch_mode and not unbiased:
        d = max(float(d), 0.0)  # the plug-in is >= 0 exactly; clip rounding error
    return be.finish(d, base)


def _finite_array(values, name: str) -> np.ndarray:
    arr = as_real_array(values, name, wording="must")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values; expected finite values only")
    return arr


def gaussian_cs_divergence(
    mu1: ArrayLike,
    cov1: ArrayLike,
    mu2: ArrayLike,
    cov2: ArrayLike,
    *,
    base: float | None = None,
) -> float:
    r"""Closed-form CS divergence between :math:`\mathcal N(\mu_1,\Sigma_1)` and
    :math:`\mathcal N(\mu_2,\Sigma_2)`.

    .. math::
        D_{CS} = \log|\Sigma_1+\Sigma_2| + \Delta^\top(\Sigma_1+\Sigma_2)^{-1}\Delta
        - \tfrac12\log|2\Sigma_1| - \tfrac12\log|2\Sigma_2|,\quad\Delta=\mu_1-\mu_2.

    Parameters
    ----------
    mu1, mu2 : array-like of shape (d,)
        Means of the two Gaussians (a scalar is accepted for d = 1).
    cov1, cov2 : array-like of shape (d, d), symmetric positive definite (a scalar is
        accepted for d = 1)
        Covariance matrices of the two Gaussians.
    base : None or float
        Logarithm base (None: nats).

    Returns
    -------
    float
        The divergence in nats (or in ``base``); 0 for identical Gaussians.

    Examples
    --------
    >>> round(gaussian_cs_divergence([0.0], [[1.0]], [1.0], [[1.0]]), 4)   # 1/2
    0.5
    """
    mu1 = np.atleast_1d(_finite_array(mu1, "mu1"))
    mu2 = np.atleast_1d(_finite_array(mu2, "mu2"))
    d = mu1.shape[0]
    covs = []
    for c, name in ((cov1, "cov1"), (cov2, "cov2")):
        c = np.atleast_2d(_finite_array(c, name))
        if c.shape != (d, d):
            raise ValueError(f"{name} must have shape ({d}, {d}), got {c.shape}")
        if not np.allclose(c, c.T) or np.linalg.eigvalsh(c).min() <= 0:
            raise ValueError(f"{name} must be symmetric positive definite")
        covs.append(c)
    if mu1.shape != mu2.shape or mu1.ndim != 1:
        raise ValueError(f"mu1 and mu2 must both have shape ({d},); got {mu1.shape}, {mu2.shape}")
    c1, c2 = covs
    S = c1 + c2
    delta = mu1 - mu2
    val = (
        np.linalg.slogdet(S)[1]
        + delta @ np.linalg.solve(S, delta)
        - 0.5 * np.linalg.slogdet(2 * c1)[1]
        - 0.5 * np.linalg.slogdet(2 * c2)[1]
    )
    return convert_base(float(val), base)


# ----------------------------------------------------------------------------------------
# CS quadratic mutual information
# ----------------------------------------------------------------------------------------


def cs_qmi(
    X: ArrayLike | torch.Tensor,
    Y: ArrayLike | torch.Tensor,
    sigma_x: float | str | torch.Tensor = "silverman",
    sigma_y: float | str | torch.Tensor = "silverman",
    *,
    statistic: str = "u",
    base: float | None = None,
    tile_size: int | None = None,
    device: str | torch.device | None = None,
    approximation: str | None = None,
    n_tiles: int | None = None,
    random_state: int | np.random.Generator | None = None,
) -> float | torch.Tensor:
    r"""Cauchy–Schwarz quadratic mutual information :math:`D_{CS}(p(x,y)\|p(x)p(y))`.

    With Gram matrices :math:`K_{ij} = e^{-\|x_i-x_j\|^2/(4\sigma_x^2)}` and
    :math:`L_{ij} = e^{-\|y_i-y_j\|^2/(4\sigma_y^2)}` (Parzen windows ``sigma_x``,
    ``sigma_y``; product kernel on the joint):

    .. math::
        \widehat{I}_{CS} = \log\frac{1}{n^2}\sum_{ij}K_{ij}L_{ij}
        + \log\Big(\frac{1}{n^2}\sum_{ij}K_{ij}\Big)\Big(\frac{1}{n^2}\sum_{ij}L_{ij}\Big)
        - 2\log\frac{1}{n^3}\sum_i\Big(\sum_j K_{ij}\Big)\Big(\sum_j L_{ij}\Big).

    With ``statistic="v"`` (all index tuples, the form above) it is the CS divergence
    between the Parzen joint density and the product of the Parzen marginals, hence
    :math:`\ge 0`; it is 0 iff they coincide. With ``statistic="u"`` (default) every mean
    runs over distinct indices only — :math:`\frac{1}{n(n-1)}\sum_{i\ne j}` for the
    pair sums and :math:`\frac{1}{n(n-1)(n-2)}\sum_{i,j,l\ \mathrm{distinct}}K_{ij}L_{il}`
    for the cross term — which removes the self-pair bias (see the module docstring);
    it can then be slightly negative for independent variables. As ``n`` grows it
    converges to the CS divergence between :math:`p(x,y)` and :math:`p(x)p(y)` each
    smoothed by :math:`\mathcal N(0, \mathrm{diag}(\sigma_x^2 I, \sigma_y^2 I))` — for
    Gaussian data, ``gaussian_cs_divergence(0, C + S, 0, blockdiag(C_xx, C_yy) + S)``.
    Same terms as ``CS_QMI`` in Yu et al.'s reference code (base 2 there) and Príncipe's
    CS-QMI, but the width means the Parzen window: their Gram matrices are
    :math:`e^{-\|a-b\|^2/(2s^2)}`, so their ``sigma=s`` is ``sigma_x=sigma_y=s/sqrt(2)``
    here, with ``statistic="v", base=2`` (equal to 3e-8 bits); passing ``s`` itself gives a
    different value (0.17 instead of 0.37 bits on one test batch).

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n,) or (n, dx)
        Samples of ``X``.
    Y : array-like or torch.Tensor of shape (n,) or (n, dy)
        Samples of ``Y``, paired row by row with ``X``.
    sigma_x, sigma_y : float, 0-dim tensor or {"silverman", "scott", "median"}
        Parzen window widths of ``X`` and ``Y``; a rule is applied to that sample.
    statistic : {"u", "v"}, default="u"
        ``"u"``: means over distinct indices; ``"v"``: over all, as Yu et al.'s code.
    base : None or float
        Logarithm base (None: nats).
    tile_size : int or None, default=None
        Kernel sums are computed in tiles of ``tile_size x tile_size``; memory is
        ``O(tile_size^2)``. None: 512 for sums without gradient (float32), 2048 with.
    device : None, str or torch.device, default=None
        Where the kernel sums run (e.g. ``"cuda"``). None: the inputs' device for tensors;
        for arrays CUDA when available, else the CPU (:func:`bottlekit.devices.resolve_device`).
        Tensors are moved there (the result stays on it).
    approximation : {None, "random_tiles"}, default=None
        None: exact kernel sums over all pairs. ``"random_tiles"``: the kernel means are
        averaged over ``n_tiles`` random ``512 x 512`` tiles of distinct shuffled blocks
        (an unbiased incomplete U-statistic whose cost does not depend on ``n``; see
        "Approximate mode" in the module docstring for the error bound). Used only when
        it evaluates fewer kernel values than the exact sums; no gradient.
    n_tiles : int or None, default=None
        Number of sampled tiles of the approximate mode (its error shrinks as
        ``1/sqrt(n_tiles)``); None means 20000. Refused with ``approximation=None``.
    random_state : None, int or numpy.random.Generator, default=None
        Seed of the shuffle and the tile draws of the approximate mode.

    Returns
    -------
    float, or 0-dim torch.Tensor for tensor inputs
        Estimated CS-QMI in nats (or in ``base``); a tensor when an input is a tensor
        (differentiable in the exact mode).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(1000); y = x + 0.3 * rng.standard_normal(1000)
    >>> bool(cs_qmi(x, y) > cs_qmi(x, rng.standard_normal(1000)))
    True
    """
    torch_mode = any_tensor(X, Y)
    X, Y = prepare([X, Y], ["X", "Y"], torch_mode, paired=[(0, 1)], device=device)
    unbiased = check_statistic(statistic)
    sx = sample_width(X, sigma_x, "sigma_x") * _SQRT2
    sy = sample_width(Y, sigma_y, "sigma_y") * _SQRT2
    be = Backend(torch_mode, tile_size, device, [X, Y], [sx, sy])
    n = X.shape[0]
    if unbiased and n < 3:
        raise ValueError(f"statistic='u' needs at least 3 samples (rows), got {n}")
    n_tiles = approximation_size(approximation, n_tiles, "n_tiles", _N_TILES_QMI)
    gen = sampler(approximation, n_tiles, random_state, be, n * n)
    if gen is not None:
        Z64 = _as_float64(be.cat([X, Y]), be.device)
        means = sampled_kernel_means(
            Z64,
            None,
            (float(sx), float(sy)),
            split=X.shape[1],
            triples=True,
            n_blocks=n_tiles,
            generator=gen,
            device=be.device,
        )
        mx, my, mj, mc = (means[k][0] for k in ("x", "y", "joint", "cross"))
        if not unbiased:  # add the coincident-index terms of the V-statistic
            mc = ((n - 1) * (n - 2) * mc + (n - 1) * (mx + my + mj) + 1) / n**2
            mx, my, mj = v_mean(mx, n), v_mean(my, n), v_mean(mj, n)
        for v, what, w in (
            (mj, "the (X, Y) pairs", (sx, sy)),
            (mx, "X", sx),
            (my, "Y", sy),
            (mc, "X and Y", (sx, sy)),
        ):
            positive_mean(v, what, w)
        val = math.log(mj) + math.log(mx * my) - 2.0 * math.log(mc)
        return be.finish(be.scalar(val), base)
    sums = be.within(
        be.cat([X, Y]),
        (sx, sy),
        split=X.shape[1],
        need=("x", "y", "joint"),
        self_pairs=not unbiased,
    )
    rx, ry = sums["x"], sums["y"]  # without the self-pairs for the U-statistic
    joint_total = sums["joint"].sum()
    v_joint = within_mean(joint_total, n, unbiased, "the (X, Y) pairs", (sx, sy))
    v_marg = within_mean(rx.sum(), n, unbiased, "X", sx) * within_mean(
        ry.sum(), n, unbiased, "Y", sy
    )
    if unbiased:  # sum over distinct i, j, l of K_ij L_il
        distinct = (rx * ry).sum() - joint_total
        v_cross = positive_mean(distinct / (n * (n - 1) * (n - 2)), "X and Y", (sx, sy))
    else:
        v_cross = (rx * ry).sum() / n**3
    val = be.log(v_joint) + be.log(v_marg) - 2.0 * be.log(v_cross)
    if not torch_mode and not unbiased:
        val = max(float(val), 0.0)
    return be.finish(val, base)


# ----------------------------------------------------------------------------------------
# Conditional CS divergence
# ----------------------------------------------------------------------------------------


def conditional_cs_divergence(
    X1: ArrayLike | torch.Tensor,
    Y1: ArrayLike | torch.Tensor,
    X2: ArrayLike | torch.Tensor,
    Y2: ArrayLike | torch.Tensor,
    sigma_x: float | str | torch.Tensor = "silverman",
    sigma_y: float | str | torch.Tensor = "silverman",
    *,
    base: float | None = None,
    tile_size: int | None = None,
    device: str | torch.device | None = None,
    approximation: str | None = None,
    n_points: int | None = None,
    random_state: int | np.random.Generator | None = None,
) -> float | torch.Tensor:
    r"""Conditional CS divergence :math:`D_{CS}(p(y|x)\,\|\,q(y|x))` from two paired samples.

    Yu et al. (conditional CS divergence; CS-IB, ICLR 2024) write

    .. math::
        D_{CS}(p(y|x)\|q(y|x)) = \log\!\iint\! p(y|x)^2 + \log\!\iint\! q(y|x)^2
        - 2\log\!\iint\! p(y|x)q(y|x),

    with :math:`p(y|x) = p(x,y)/p(x)`, and estimate each integral as an expectation over
    the samples with Parzen estimates plugged in. With :math:`K^{ab}_{ji}` the x-kernel and
    :math:`L^{ab}_{ji}` the y-kernel between point :math:`j` of sample :math:`a` and point
    :math:`i` of sample :math:`b` (:math:`e^{-\|a-b\|^2/(2\sigma^2)}` with
    :math:`\sigma` = ``sigma_x``, ``sigma_y`` themselves: a Parzen density evaluated at a
    sample point needs no convolution, so unlike :func:`cs_divergence` and :func:`cs_qmi`
    there is no :math:`\sqrt2`, and Yu et al.'s ``sigma=s`` is ``sigma_x=sigma_y=s``), and
    :math:`k^{ab}_j=\sum_i K^{ab}_{ji}`, :math:`c^{ab}_j=\sum_i K^{ab}_{ji}L^{ab}_{ji}`:

    .. math::
        \iint p(y|x)^2 = E_p\Big[\frac{p(x,y)}{p(x)^2}\Big] \approx
        \sum_{j\in p}\frac{c^{pp}_j}{(k^{pp}_j)^2},\qquad
        \iint p(y|x)q(y|x) = E_p\Big[\frac{q(x,y)}{p(x)q(x)}\Big] \approx
        \sum_{j\in p}\frac{c^{pq}_j}{k^{pp}_j k^{pq}_j},

    the second also estimated over :math:`q`'s sample; the cross term is the geometric
    mean of the two (``-log cross_p - log cross_q``). Sample sizes and the kernels'
    normalising constants cancel. The estimate is exactly 0 when the two samples are
    identical.

    Caveats: the integrals run over :math:`x` with Lebesgue measure, so points where the
    estimated :math:`p(x)` is small get weight :math:`1/\hat p(x)^2`. The estimate is
    therefore noisy and right-skewed (for two independent samples of the *same* 1-D
    joint at n = 1500: mean 0.29, sd 0.14, 95th percentile 0.50, largest of 200 samples
    0.75; the spread does not shrink with n), and it is not near 0 when the x-marginals
    differ even if the conditionals agree. It is best used as a loss or to compare
    settings with the same x-distribution, e.g. shared inputs as in CS-IB (``X1`` =
    ``X2``).

    Parameters
    ----------
    X1, Y1 : array-like or torch.Tensor, shapes (n1, dx) and (n1, dy)
        Paired sample of :math:`p(x, y)`.
    X2, Y2 : array-like or torch.Tensor, shapes (n2, dx) and (n2, dy)
        Paired sample of :math:`q(x, y)`.
    sigma_x, sigma_y : float, 0-dim tensor or {"silverman", "scott", "median"}
        Rules are applied to the pooled ``X1, X2`` (resp. ``Y1, Y2``).
    base : None or float
        Logarithm base (None: nats).
    tile_size : int or None, default=None
        Kernel sums are computed in tiles of ``tile_size x tile_size``; memory is
        ``O(tile_size^2)``. None: 512 for sums without gradient (float32), 2048 with.
    device : None, str or torch.device, default=None
        Where the kernel sums run (e.g. ``"cuda"``). None: the inputs' device for tensors;
        for arrays CUDA when available, else the CPU (:func:`bottlekit.devices.resolve_device`).
        Tensors are moved there (the result stays on it).
    approximation : {None, "random_tiles"}, default=None
        None: the row sums of every point. ``"random_tiles"``: the outer averages run over
        about ``n_points`` points of each sample, drawn with probabilities that favour
        low-density points and weighted by their inverse (importance sampling, unbiased
        for every mean), whose row sums are exact (stripes of ``512``-row tiles over all
        columns): cost ``n_points * (n1 + n2)`` kernel pairs per sample instead of
        ``(n1 + n2)**2``, plus ``512 * min(n, 32 * n_points)`` for the sampling
        probabilities (computed for a uniform first phase of that many points). On the
        CPU at low dimension with a small x-width (at least 15 cells of ``7/3 * sigma_x``
        in every x-dimension) the row sums are truncated at ``7 * sigma_x`` instead
        (exact rows where the truncation would loosen the bound) and the sampling
        probabilities come from every point's smoothed cell counts (on CUDA too, with
        exact rows: relative sd about 1.4 % at n = 10**6, d = 4), which changes the
        estimate by at most about 0.003 nats (0.0031 at d = 4, float32 rounding
        included). See "Approximate mode of the conditional CS divergence" and "Row sums
        truncated at a radius" in the module docstring for the error: ``|error| <= 3 sd
        + 0.0031`` nats with truncation (relative sd 0.14 % at n = 10**6, d = 4),
        ``3 sd`` with exact rows (relative sd 1.25-2.2 % at d = 4, ``n_points=2048``).
        Used only when ``n_points`` is smaller than a sample; no gradient.
    n_points : int or None, default=None
        Expected number of points of each sample in the outer averages of the
        approximate mode (its error shrinks as ``1/sqrt(n_points)``, its cost grows
        linearly); None means 65536 where the row sums are truncated, else 2048.
        Refused with ``approximation=None``.
    random_state : None, int or numpy.random.Generator, default=None
        Seed of the draws (first phase and proxy points without truncation, sampled
        points) of the approximate mode.

    Returns
    -------
    float, or 0-dim torch.Tensor for tensor inputs
        Estimated divergence in nats (or in ``base``); a tensor when an input is a tensor
        (differentiable in the exact mode).

    Notes
    -----
    Yu et al.'s ``CS_Div`` (shared ``x``) divides by ``sum_i K_ji**2``; the derivation
    above (their paper's estimator) divides by ``(sum_i K_ji)**2``, which is what is done
    here. When ``X1 is X2`` all x-sums coincide, but the cross term stays the geometric
    mean of its estimates over both samples, :math:`-\log\sum_j c^{pq}_j/k_j^2
    - \log\sum_j c^{qp}_j/k_j^2`; the CS-IB paper's Proposition 1 writes it
    :math:`-2\log\sum_j\sum_i K_{ji}L^{21}_{ji}/(\sum_i K_{ji})^2` with
    :math:`L^{21}_{ji} = \kappa(\hat y_j, y_i)`, i.e. estimated over the second sample only
    (``X2, Y2``), which is not symmetric in the two samples. The two differ by 0.006-0.09
    bits on random batches of 30-100 points.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(500); y = x + 0.5 * rng.standard_normal(500)
    >>> conditional_cs_divergence(x, y, x, y, sigma_x=0.3, sigma_y=0.3)
    0.0
    """
    torch_mode = any_tensor(X1, Y1, X2, Y2)
    X1, Y1, X2, Y2 = prepare(
        [X1, Y1, X2, Y2],
        ["X1", "Y1", "X2", "Y2"],
        torch_mode,
        paired=[(0, 1), (2, 3)],
        device=device,
    )
    check_same_columns(X1, X2, ("X1", "X2"))
    check_same_columns(Y1, Y2, ("Y1", "Y2"))
    sx = sample_width(stack(X1, X2, torch_mode), sigma_x, "sigma_x")
    sy = sample_width(stack(Y1, Y2, torch_mode), sigma_y, "sigma_y")
    be = Backend(torch_mode, tile_size, device, [X1, Y1, X2, Y2], [sx, sy])
    W1, W2 = be.cat([X1, Y1]), be.cat([X2, Y2])
    split, need = X1.shape[1], ("x", "joint")
    widths = (float(sx), float(sy))
    given = n_points
    n_points = approximation_size(approximation, n_points, "n_points", _N_POINTS)
    rows = max(W1.shape[0], W2.shape[0])
    if check_approximation(approximation, n_points, "n_points", be, random_state) and (
        n_points < rows
    ):
        grids = radius_grids(W1, W2, widths, split, be)  # None: no grid (e.g. d = 64)
        truncate = be.device.type == "cpu"  # elsewhere exact rows, the grid's probabilities
        if grids is not None and truncate and given is None:
            n_points = _N_POINTS_TRUNCATED
        if n_points < rows:
            val = sampled_conditional(
                W1, W2, widths, split, n_points, be, random_state, grids, truncate
            )
            return be.finish(be.scalar(val["value"]), base)
    s11 = be.within(W1, (sx, sy), split=split, need=need)
    s22 = be.within(W2, (sx, sy), split=split, need=need)
    s12 = be.cross(W1, W2, (sx, sy), split=split, need=need, columns=True)
    k11, c11, k22, c22 = s11["x"], s11["joint"], s22["x"], s22["joint"]
    k12, c12, k21, c21 = s12["x"], s12["joint"], s12["x_cols"], s12["joint_cols"]
    self_p = (c11 / k11**2).sum()
    self_q = (c22 / k22**2).sum()
    cross_p = (c12 / (k11 * k12)).sum()
    cross_q = (c21 / (k22 * k21)).sum()
    val = be.log(self_p) + be.log(self_q) - be.log(cross_p) - be.log(cross_q)
    if not torch_mode:
        val = float(val)
        if abs(val) < 1e-12:
            val = 0.0
    return be.finish(val, base)


def _section(doc: str, title: str) -> str:
    """The body of one numpydoc section of ``doc`` (indented as in the docstring)."""
    match = re.search(rf"\n    {title}\n    -+\n(.*?)(?=\n    \w[\w ]*\n    -+\n|\Z)", doc, re.S)
    if match is None:
        raise LookupError(f"no {title} section")  # a programming error, caught by the tests
    return match.group(1).rstrip()


def _torch_only(fn, names):
    def wrapper(*args, **kwargs):
        for a, name in zip(args, names, strict=False):
            if not is_tensor(a):
                raise TypeError(f"{name} must be a torch.Tensor, got {type(a).__name__}")
        return fn(*args, **kwargs)

    wrapper.__name__ = wrapper.__qualname__ = fn.__name__ + "_torch"
    wrapper.__module__ = fn.__module__
    wrapper.__signature__ = inspect.signature(fn)
    # the parameters are fn's, documented once there and copied here
    wrapper.__doc__ = (
        f"Torch-only entry point of :func:`{fn.__name__}`: tensor inputs, differentiable "
        "0-dim tensor output on the inputs' device.\n\n"
        f"    See :func:`{fn.__name__}` for the formula and an example.\n\n"
        f"    Parameters\n    ----------\n{_section(fn.__doc__, 'Parameters')}\n\n"
        "    Returns\n    -------\n    torch.Tensor\n"
        "        0-dim, on ``device`` (default: the inputs' device); differentiable with\n"
        "        respect to the inputs (``approximation`` refuses inputs that require a\n"
        "        gradient).\n\n"
        "    Examples\n    --------\n"
        "    >>> import torch\n"
        "    >>> g = torch.Generator().manual_seed(0)\n"
        f"    >>> {', '.join(names)} = (torch.randn(64, 2, generator=g, requires_grad=True)"
        f" for _ in range({len(names)}))\n"
        f"    >>> value = {wrapper.__name__}({', '.join(names)})\n"
        f"    >>> value.backward(); value.ndim, {names[0]}.grad.shape\n"
        "    (0, torch.Size([64, 2]))\n"
    )
    return wrapper


cs_divergence_torch = _torch_only(cs_divergence, ["X", "Y"])
cs_qmi_torch = _torch_only(cs_qmi, ["X", "Y"])
conditional_cs_divergence_torch = _torch_only(conditional_cs_divergence, ["X1", "Y1", "X2", "Y2"])
