r"""Poisson sampling of points with unequal probabilities (Horvitz–Thompson estimation).

Used by the approximate mode of the conditional CS divergence, whose per-point terms are
heavy-tailed: drawing point :math:`j` with a probability :math:`\pi_j` roughly
proportional to the size of its term, and weighting it by :math:`1/\pi_j`, keeps every
mean unbiased (:math:`E[\sum_{j\in S} t_j/\pi_j] = \sum_j t_j`, Horvitz & Thompson 1952)
with a smaller variance than a uniform draw of the same expected size.

Each point is kept independently with probability :math:`\pi_j` (Poisson sampling; the
sample size is random, of mean :math:`\sum_j\pi_j`), and

.. math::
    \mathrm{Var}\Big(\sum_{j\in S}\frac{t_j}{\pi_j}\Big)
    = \sum_j \frac{1-\pi_j}{\pi_j}\,t_j^2,
    \qquad\text{estimated without bias by}\qquad
    \sum_{j\in S}\frac{1-\pi_j}{\pi_j^2}\,t_j^2 .

Points with :math:`\pi_j = 1` (taken with certainty) add nothing to the variance.

**Two-phase sampling** (:func:`two_phase_variance`). When the sizes are dear to compute
for all :math:`n` points, a uniform first-phase sample :math:`S_1` of :math:`m` points
(without replacement) is drawn, the sizes are computed for those only, and the second
phase is Poisson with probabilities :math:`\pi_{j|1}` within :math:`S_1`. The point's
overall inclusion probability is :math:`\pi_j = \frac mn\pi_{j|1}`, so
:math:`\hat T = \frac nm\sum_{j\in S} t_j/\pi_{j|1}` is unbiased, and (conditioning
on :math:`S_1`; :math:`S_t^2` the population variance of the :math:`t_j`, divisor
:math:`n-1`)

.. math::
    \mathrm{Var}\,\hat T = n^2\Big(\frac1m-\frac1n\Big)S_t^2
    + \frac{n^2}{m^2}\,E\Big[\sum_{j\in S_1}\frac{1-\pi_{j|1}}{\pi_{j|1}}t_j^2\Big],

estimated without bias by replacing the second sum by
:math:`\hat v = \sum_{j\in S}\frac{1-\pi_{j|1}}{\pi_{j|1}^2}t_j^2` and
:math:`S_t^2` by :math:`\hat s^2 = \frac1{m-1}\big(\hat Q - \frac{\hat T_1^2 -
\hat v}{m}\big)`, with :math:`\hat Q = \sum_{j\in S} t_j^2/\pi_{j|1}` and
:math:`\hat T_1 = \sum_{j\in S} t_j/\pi_{j|1}` (given :math:`S_1`, they estimate
:math:`\sum_{S_1}t_j^2` and :math:`(\sum_{S_1}t_j)^2 = E[\hat T_1^2] - \mathrm{Var}\,
\hat T_1` without bias, so :math:`\hat s^2` estimates the first phase's sample variance,
itself unbiased for :math:`S_t^2`). With :math:`m = n` it is the Poisson formula above.
"""

from __future__ import annotations

import numpy as np

__all__ = ["inclusion_probabilities", "poisson_sample", "two_phase_variance"]


def inclusion_probabilities(sizes, expected: float, uniform_share: float) -> np.ndarray:
    r"""Probabilities :math:`\pi_j \le 1` summing to ``expected``, from a defensive mixture.

    With :math:`r` arrays of sizes :math:`s^{(1)}, \dots, s^{(r)}`,
    :math:`\pi_j \propto \frac{u}{n} + \frac{1-u}{r}\sum_l s^{(l)}_j/\sum_i s^{(l)}_i`
    (:math:`u` = ``uniform_share``): no point gets less than :math:`u` times its uniform
    probability, nor less than :math:`(1-u)/r` times its probability under any one of the
    size arrays. Probabilities that reach 1 are set to 1 and the others rescaled, until
    none exceeds 1.

    Parameters
    ----------
    sizes : sequence of ndarray of shape (n,)
        Positive, finite sizes, one array per component of the mixture.
    expected : float
        The expected sample size, ``0 < expected <= n``.
    uniform_share : float
        Weight :math:`u` of the uniform component, in ``[0, 1]``.

    Returns
    -------
    ndarray of shape (n,)

    Examples
    --------
    >>> pi = inclusion_probabilities([np.array([1.0, 1.0, 1.0, 97.0])], 2, 0.2)
    >>> pi.round(3).tolist(), float(pi.sum())
    ([0.333, 0.333, 0.333, 1.0], 2.0)
    """
    sizes = [np.asarray(s, dtype=np.float64) for s in sizes]
    n = len(sizes[0])
    q = np.full(n, uniform_share / n)
    for s in sizes:
        q += (1.0 - uniform_share) / len(sizes) * s / s.sum()
    pi = np.ones(n)
    free = np.ones(n, dtype=bool)
    while free.any():
        left = expected - (n - int(free.sum()))  # the expected size left to the free points
        p = left * q[free] / q[free].sum()
        over = p >= 1.0
        if not over.any():
            pi[free] = p
            break
        free[np.flatnonzero(free)[over]] = False
    return pi


def poisson_sample(pi, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of the points kept, each independently with probability ``pi[j]``.

    An empty draw is drawn again (its probability is :math:`\\prod_j(1-\\pi_j) \\le
    e^{-\\sum\\pi_j}`, negligible for the sample sizes used).
    """
    while True:
        idx = np.flatnonzero(rng.random(len(pi)) < pi)
        if len(idx):
            return idx


def two_phase_variance(t, pi, m: int, n: int) -> float:
    r"""Unbiased estimate of the variance of a two-phase Horvitz–Thompson total.

    The total is :math:`\frac nm\sum_{j\in S} t_j/\pi_{j|1}`; the formula is in the
    module docstring; negative estimates of the first phase's variance (possible with
    few points) count as 0.

    Parameters
    ----------
    t : ndarray of shape (s,)
        The values of the points of the second-phase sample :math:`S`.
    pi : ndarray of shape (s,)
        Their second-phase inclusion probabilities :math:`\pi_{j|1}` (within the first
        phase).
    m : int
        The size of the uniform first-phase sample (without replacement), ``2 <= m <= n``.
    n : int
        The number of points.

    Returns
    -------
    float

    Examples
    --------
    With :math:`m = n` it is the Poisson variance estimate:

    >>> t, pi = np.array([1.0, 4.0]), np.array([0.5, 1.0])
    >>> two_phase_variance(t, pi, 10, 10)
    2.0
    """
    t, pi = np.asarray(t, dtype=np.float64), np.asarray(pi, dtype=np.float64)
    v = float(((1.0 - pi) / pi**2 * t**2).sum())
    if m >= n:
        return v
    total, squares = float((t / pi).sum()), float((t**2 / pi).sum())
    s2 = max((squares - (total**2 - v) / m) / (m - 1), 0.0)
    return n * n * (1.0 / m - 1.0 / n) * s2 + (n / m) ** 2 * v
