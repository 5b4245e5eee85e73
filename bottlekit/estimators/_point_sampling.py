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
"""

from __future__ import annotations

import numpy as np

__all__ = ["inclusion_probabilities", "poisson_sample"]


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
