"""Poisson sampling with unequal probabilities (the conditional CS approximate mode)."""

import numpy as np
import pytest

from bottlekit.estimators._point_sampling import inclusion_probabilities, poisson_sample


def test_inclusion_probabilities_mixture_and_caps():
    rng = np.random.default_rng(0)
    sizes = [rng.pareto(1.5, 500) + 0.01, rng.random(500) + 0.1]
    pi = inclusion_probabilities(sizes, 60, 0.1)
    assert pi.sum() == pytest.approx(60)
    assert pi.max() == 1.0 and np.all(pi > 0)
    assert np.all(pi >= 0.1 * 60 / 500)  # the defensive floor
    free = pi < 1  # below the cap: proportional to the mixture
    q = 0.1 / 500 + 0.45 * (sizes[0] / sizes[0].sum() + sizes[1] / sizes[1].sum())
    np.testing.assert_allclose(pi[free] / q[free], (pi[free] / q[free])[0], rtol=1e-12)
    assert np.all(q[~free] > q[free].max())  # only the largest are capped
    assert np.all(inclusion_probabilities([np.ones(7)], 7, 0.0) == 1.0)  # everything


def test_poisson_sample_horvitz_thompson_mean_and_variance():
    # The weighted total is unbiased, its variance is sum (1 - pi)/pi t^2, and the
    # variance estimate sum over the sample of (1 - pi)/pi^2 t^2 is unbiased.
    rng = np.random.default_rng(1)
    t = rng.lognormal(0.0, 1.5, 40)
    pi = inclusion_probabilities([t], 8, 0.2)
    totals, estimates = [], []
    for _ in range(20_000):
        idx = poisson_sample(pi, rng)
        totals.append((t[idx] / pi[idx]).sum())
        estimates.append(((1 - pi[idx]) / pi[idx] ** 2 * t[idx] ** 2).sum())
    var = ((1 - pi) / pi * t**2).sum()
    assert abs(np.mean(totals) - t.sum()) < 4 * np.sqrt(var / 20_000)
    assert np.var(totals) == pytest.approx(var, rel=0.06)
    assert np.mean(estimates) == pytest.approx(var, rel=0.06)
    assert np.all(np.diff(poisson_sample(pi, rng)) > 0)  # sorted, distinct
