"""Mixed KSG (Gao, Kannan, Oh & Viswanath 2017) against exact values and closed forms.

Tolerances of the statistical tests are |measured bias| + 4 standard deviations over 10
seeds at the same n and k (the convention of ``test_ksg.py``); the exact tests compare
with the formula evaluated independently (``np.unique`` counts, digammas).
"""

import numpy as np
import pytest
from scipy.special import digamma

from bottlekit.estimators import (
    KSGMutualInformation,
    MixedKSGMutualInformation,
    mi_permutation_test,
    mutual_information,
)


def _entropy(p):
    p = np.asarray(p, dtype=float)
    return float(-np.sum(p * np.log(p)))


def _digamma_entropy(*columns):
    """Grassberger's psi(N) - sum_c (N_c / N) psi(N_c) of the joint values of ``columns``."""
    rows = np.stack(columns, axis=1)
    _, counts = np.unique(rows, axis=0, return_counts=True)
    n = rows.shape[0]
    return float(digamma(n) - np.sum(counts * digamma(counts)) / n)


def test_discrete_data_give_the_digamma_entropies_exactly():
    # every (x, y) value occurs more than k times: each row's k-th neighbour is a copy
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, 600)
    y = (x + rng.integers(0, 2, 600)) % 4
    est = MixedKSGMutualInformation(k=3).fit(x, y)
    exact = _digamma_entropy(x) + _digamma_entropy(y) - _digamma_entropy(x, y)
    assert est.mi_ == pytest.approx(exact, rel=1e-12)
    assert est.n_tied_ == 600
    assert est.n_samples_ == 600


def test_repeated_rows_give_the_exact_value():
    # 6 distinct rows, each 10 times: psi(60) + psi(10) - psi(10) - psi(10) (KSG's jitter
    # gave 1.76 to 1.92 over 30 seeds, tests/estimators/test_estimators_hostile.py)
    rng = np.random.default_rng(0)
    x = np.repeat(rng.standard_normal((6, 2)), 10, axis=0)
    y = np.repeat(rng.standard_normal((6, 1)), 10, axis=0)
    assert mutual_information(x, y, method="ksg_mixed") == pytest.approx(
        digamma(60) - digamma(10), rel=1e-12
    )


def test_discrete_data_converge_to_the_discrete_mi():
    # x uniform on {0, 1, 2}, y = x with probability 0.8, else uniform: the plug-in MI of
    # the true distribution is log 3 - H(0.8667, 0.0667, 0.0667) = 0.6135. n = 20000:
    # bias 0.0001, sd 0.0067 over 60 seeds, as the delta method says (sd of log p(x, y) /
    # (p(x) p(y)) over sqrt(n): 0.87 / 141 = 0.0062) -> tol 0.027 (0.013, from an sd
    # of 0.003 over 10 seeds, failed on 2 of 25 fresh seeds)
    rng = np.random.default_rng(1)
    n = 20000
    x = rng.integers(0, 3, n)
    y = np.where(rng.random(n) < 0.8, x, rng.integers(0, 3, n))
    truth = np.log(3) - _entropy([0.8 + 0.2 / 3, 0.2 / 3, 0.2 / 3])
    assert MixedKSGMutualInformation().fit(x, y).mi_ == pytest.approx(truth, abs=0.027)


def _plugin_mi(x, y):
    joint = np.zeros((x.max() + 1, y.max() + 1))
    np.add.at(joint, (x, y), 1.0)
    joint /= joint.sum()
    outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
    seen = joint > 0
    return float(np.sum(joint[seen] * np.log(joint[seen] / outer[seen])))


def test_independent_discrete_data_give_about_zero():
    # the digamma entropies remove the plug-in's upward bias, (4 - 1)(4 - 1) / (2n) = 0.009
    # at n = 500: over 20 draws the mean estimate is 0.0008 (sd of the mean 0.001), the
    # plug-in's 0.0098
    mixed, plugin = [], []
    for seed in range(20):
        x, y = np.random.default_rng(seed).integers(0, 4, (2, 500))
        mixed.append(MixedKSGMutualInformation().fit(x, y).mi_)
        plugin.append(_plugin_mi(x, y))
    assert np.mean(mixed) == pytest.approx(0.0, abs=0.0045)
    assert np.mean(plugin) - np.mean(mixed) == pytest.approx(0.009, abs=0.002)


def test_discrete_x_against_continuous_y_closed_form():
    # Gao et al.'s first experiment: x uniform on {0, ..., 4}, y ~ U[x, x + 2]:
    # I = log 5 - (4/5) log 2 = 1.0550. n = 4000: bias -0.003, sd 0.011 -> tol 0.045
    rng = np.random.default_rng(3)
    x = rng.integers(0, 5, 4000)
    y = x + 2 * rng.random(4000)
    truth = np.log(5) - 0.8 * np.log(2)
    assert MixedKSGMutualInformation().fit(x, y).mi_ == pytest.approx(truth, abs=0.045)


def test_continuous_x_against_its_threshold():
    # y = 1[x > 1/2] for x ~ U(0, 1): I = H(y) = log 2. Over 100 seeds bias -0.0007, sd
    # 0.00065, skewed low (lowest -0.0029; 0.003 from 10 seeds failed on 1 of 10 fresh
    # ones) -> |bias| + 4 sd = 0.0035. Counting within <= rho instead of < rho gives -0.33.
    x = np.random.default_rng(4).random(2000)
    est = MixedKSGMutualInformation().fit(x, (x > 0.5).astype(int))
    assert est.mi_ == pytest.approx(np.log(2), abs=0.0035)
    assert est.n_tied_ == 0


def test_an_atom_next_to_a_continuous_part_closed_form():
    # with probability 0.3 the pair is the atom (-1, -1), else (u, u + v) with u, v ~ U(0, 1)
    # (I(u; u + v) = h(triangle on [0, 2]) = 1/2): I = H(0.3, 0.7) + 0.7 * 1/2 = 0.9609.
    # n = 4000: bias -0.014, sd 0.009 -> tol 0.05
    rng = np.random.default_rng(5)
    n = 4000
    atom = rng.random(n) < 0.3
    u, v = rng.random((2, n))
    x, y = np.where(atom, -1.0, u), np.where(atom, -1.0, u + v)
    est = MixedKSGMutualInformation().fit(x, y)
    assert est.mi_ == pytest.approx(_entropy([0.3, 0.7]) + 0.35, abs=0.05)
    assert est.n_tied_ == int(atom.sum())


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"standardize": False},
        {"copula": True},
        {"tree": "ball"},
        {"k": 1},
        {"k": 7, "n_jobs": 2},
    ],
)
def test_without_ties_it_is_ksg_algorithm_1(options):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((700, 2))
    y = x[:, :1] + 0.7 * rng.standard_normal((700, 1))
    mixed = MixedKSGMutualInformation(**options).fit(x, y)
    ksg = KSGMutualInformation(algorithm=1, jitter=0, **options).fit(x, y)
    # To the last bit, unless a marginal distance lies within 1e-9 of a radius (see the
    # class docstring) or the tree rounds. Normal scores are symmetric quantiles, so rank
    # space has exact ties of distances, which rounding splits: KSG's strict count takes
    # in a point 1 ulp inside the radius. sklearn's BallTree rounds its node bounds (see
    # test_ksg.py). One count of m off by one moves the estimate by 1 / (n m) <= 1 / n =
    # 1.4e-3: with copula=True 35 of 100 seeds differed, by at most 2.9e-4, with
    # tree="ball" 1 of 100, by 1.2e-5 (2 of 20 fresh seeds, by 8e-5; rel=1e-12 failed on
    # 3 of 10 fresh seeds with the copula). psi(n_x) for psi(n_x + 1) moves it by 0.11.
    tol = {"abs": 1.5e-3} if options.get("copula") or options.get("tree") else {"rel": 1e-12}
    assert mixed.mi_ == pytest.approx(ksg.mi_, **tol)
    assert mixed.n_tied_ == 0


def test_ties_within_less_than_k_copies_are_kept_as_ties():
    # two copies of each row (k = 3): no radius is 0, but the copies sit at distance 0 and
    # are counted in both marginals; the reference loop, written out
    rng = np.random.default_rng(7)
    x = np.repeat(rng.integers(0, 5, 100), 2).astype(float)
    y = np.repeat(rng.standard_normal(100), 2)
    n, k = 200, 3
    z = np.stack([x, y], axis=1)
    dist = np.max(np.abs(z[:, None, :] - z[None, :, :]), axis=2)
    np.fill_diagonal(dist, np.inf)
    rho = np.sort(dist, axis=1)[:, k - 1]
    dx, dy = np.abs(x[:, None] - x[None, :]), np.abs(y[:, None] - y[None, :])
    np.fill_diagonal(dx, np.inf)
    np.fill_diagonal(dy, np.inf)
    nx, ny = (dx < rho[:, None]).sum(1), (dy < rho[:, None]).sum(1)
    assert np.all(rho > 0)
    expected = digamma(n) + np.mean(digamma(k) - digamma(nx + 1) - digamma(ny + 1))
    est = MixedKSGMutualInformation(k=k, standardize=False).fit(x, y)
    assert est.mi_ == pytest.approx(expected, rel=1e-12)


def test_lattice_data_give_one_estimate_whatever_their_shift_and_unit():
    # Sparse integer data (rows with at most k copies, their k-th neighbour at distance
    # 1 with more at exactly 1): before, the rounding of x + 0.1 (or of the
    # standardization) put some of those neighbours just inside the radius: 0.630, 0.628,
    # 0.613 and 0.623 for shifts 0, 0.1, 0.3 and 7.7 (0.582 and 0.584 standardized)
    rng = np.random.default_rng(0)
    x = rng.poisson(3, 300)
    y = x + rng.poisson(2, 300)
    raw = MixedKSGMutualInformation(standardize=False).fit(x, y).mi_
    scaled = MixedKSGMutualInformation().fit(x, y).mi_
    for shift, unit in [(0.1, 1.0), (0.3, 1.0), (7.7, 1.0), (1e3, 1.0), (0.0, 0.1)]:
        x2, y2 = (x + shift) * unit, y * unit
        assert MixedKSGMutualInformation(standardize=False).fit(x2, y2).mi_ == pytest.approx(
            raw, rel=1e-12
        )
        assert MixedKSGMutualInformation().fit(x2 * 3.3, y2).mi_ == pytest.approx(
            scaled, rel=1e-12
        )


def test_the_method_name_and_the_permutation_test():
    rng = np.random.default_rng(8)
    x = rng.integers(0, 3, 300)
    y = (x + rng.integers(0, 2, 300)) % 3
    est = MixedKSGMutualInformation(k=2).fit(x, y).mi_
    assert mutual_information(x, y, method="ksg_mixed", k=2) == est
    assert mutual_information(x, y, method="ksg_mixed", k=2, base=2) == pytest.approx(
        est / np.log(2)
    )
    res = mi_permutation_test(x, y, "ksg_mixed", n_permutations=19, random_state=0)
    assert res.mi == MixedKSGMutualInformation().fit(x, y).mi_
    assert res.p_value == pytest.approx(1 / 20)


def test_negative_zero_is_a_tie():
    # -0.0 and 0.0 are at max-norm distance 0, so one value (a unique of the bytes would
    # split them)
    x = np.array([0.0, -0.0, 0.0, -0.0, 1.0, 1.0, 1.0, 1.0])
    y = np.array([1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, -0.0])
    est = MixedKSGMutualInformation(k=3, standardize=False).fit(x, y)
    assert est.n_tied_ == 8
    assert est.mi_ == pytest.approx(digamma(8) + digamma(4) - 2 * digamma(4), rel=1e-12)


@pytest.mark.parametrize(
    "kwargs, X, Y, error, match",
    [
        ({"k": 0}, np.arange(10.0), np.arange(10.0), ValueError, r"k must be"),
        ({"k": 5}, np.arange(5.0), np.arange(5.0), ValueError, r"k=5 needs k \+ 1"),
        ({}, np.arange(10.0), np.arange(11.0), ValueError, r"same number of samples"),
        ({}, np.ones(10), np.arange(10.0), ValueError, r"X.*constant"),
        ({"tree": "brute"}, np.arange(10.0), np.arange(10.0) % 3, ValueError, r"tree must be"),
        ({"standardize": "no"}, np.arange(10.0), np.arange(10.0), TypeError, "standardize"),
        ({}, np.arange(10.0) + 1j, np.arange(10.0), TypeError, r"X must hold real numbers"),
    ],
)
def test_bad_input_is_refused_by_name(kwargs, X, Y, error, match):
    with pytest.raises(error, match=match):
        MixedKSGMutualInformation(**kwargs).fit(X, Y)
