"""KSG and Ross k-NN mutual information against closed-form ground truth.

Tolerances come from the spread over seeds measured with the same n, k and case (10-20
seeds, `benchmarks/estimators_accuracy.py` prints the same figures): a test allows
|measured bias| + 4 standard deviations, so it fails for a real regression but almost
never by chance (a 4-sigma excursion has probability ~6e-5).
"""

import re
import warnings

import numpy as np
import pytest
from scipy.special import digamma

from bottlekit.estimators import (
    DiscreteContinuousMutualInformation,
    HeavyTailWarning,
    KSGMutualInformation,
    conditional_mutual_information,
    mi_permutation_test,
    mutual_information,
)
from bottlekit.estimators._chebyshev_counts import chebyshev_counts_1d, chebyshev_counts_2d
from bottlekit.estimators._neighbors import warn_if_heavy_tailed
from bottlekit.estimators.ground_truth import (
    correlated_gaussian,
    gaussian_mi,
    label_mixture,
    label_mixture_mi,
    student_t,
    student_t_mi,
)

N = 2000


@pytest.mark.parametrize("algorithm", [1, 2])
def test_ksg_gaussian_1d(algorithm):
    # n=2000, rho=0.8 (I=0.511): bias -0.013, std 0.017 over 10 seeds -> tol 0.08.
    x, y = correlated_gaussian(N, 0.8, 1, random_state=1)
    est = mutual_information(x, y, method="ksg", algorithm=algorithm)
    assert est == pytest.approx(gaussian_mi(0.8), abs=0.08)


def test_ksg_gaussian_5d_known_downward_bias():
    # KSG underestimates when the information is spread over many weak dimensions
    # (Kraskov et al. 2004, fig. 4; Czyz et al. 2023). Measured at n=2000, k=3, rho=0.6
    # per pair (I=1.116): bias -0.276, std 0.019. The test pins that it stays an
    # underestimate of at most 0.35 nats (bias + 4 std) and never overestimates.
    x, y = correlated_gaussian(N, 0.6, 5, random_state=2)
    est = mutual_information(x, y)
    truth = gaussian_mi(0.6, 5)
    assert truth - 0.36 < est < truth


def test_ksg_gaussian_20d_is_a_strong_underestimate():
    # 20 pairs with rho=0.3 (I=0.943) at n=2000: KSG gives 0.215 +- 0.018 (10 seeds): a
    # documented limitation (see docs/estimators.md). Assert the estimate is clearly
    # positive (dependence is detected) and below half the truth, so a change in either
    # direction is noticed; use method="gaussian" for such data.
    x, y = correlated_gaussian(N, 0.3, 20, random_state=3)
    est = mutual_information(x, y)
    assert 0.1 < est < 0.5 * gaussian_mi(0.3, 20)


def test_ksg_student_t():
    # Student-t, nu=3, rho=0.5 (I=0.186, of which 0.042 comes from the shared scale):
    # at n=4000 bias -0.02, std 0.014 -> tol 0.08.
    x, y = student_t(4000, 0.5, 1, 3.0, random_state=4)
    assert mutual_information(x, y) == pytest.approx(student_t_mi(0.5, 1, 3.0), abs=0.08)


def test_ksg_student_t_2d():
    # nu=5, 2+2 dims (I=0.338): n=4000 gives std ~0.021 (0.030 at n=2000, /sqrt 2), bias
    # -0.015 -> tol 0.1.
    x, y = student_t(4000, 0.5, 2, 5.0, random_state=5)
    assert mutual_information(x, y) == pytest.approx(student_t_mi(0.5, 2, 5.0), abs=0.1)


def test_ksg_invertible_transform_of_gaussian():
    # exp(x), y**3 leave I=0.511 unchanged. Plain KSG: bias -0.043, std 0.015 -> tol 0.11.
    x, y = correlated_gaussian(N, 0.8, 1, random_state=6)
    assert mutual_information(np.exp(x), y**3) == pytest.approx(gaussian_mi(0.8), abs=0.11)


def test_ksg_copula_is_exactly_invariant_to_monotone_maps():
    x, y = correlated_gaussian(N, 0.7, 2, random_state=7)
    est = KSGMutualInformation(copula=True, jitter=0.0)
    a = est.fit(x, y).mi_
    b = est.fit(np.exp(x) * 3.0 - 1.0, np.tanh(y) + y**3).mi_
    assert a == pytest.approx(b, abs=1e-12)


def test_ksg_plain_is_nearly_invariant_to_monotone_maps():
    # Same sample, transformed: measured |difference| 0.03-0.05 at n=2000 (the max-norm
    # neighbourhoods change shape); a large difference would mean a bug in the counting.
    x, y = correlated_gaussian(N, 0.8, 1, random_state=8)
    a = mutual_information(x, y)
    b = mutual_information(np.exp(x), y**3)
    assert abs(a - b) < 0.08


@pytest.mark.parametrize("algorithm", [1, 2])
def test_ksg_symmetry(algorithm):
    x, y = correlated_gaussian(500, 0.5, 2, random_state=9)
    y = y[:, :1]
    est = KSGMutualInformation(algorithm=algorithm, jitter=0.0)
    assert est.fit(x, y).mi_ == pytest.approx(est.fit(y, x).mi_, abs=1e-12)


def test_ksg_independence_near_zero():
    # I=0: measured mean -0.008, std 0.011 at n=2000 -> |est| < 0.055.
    x, y = correlated_gaussian(N, 0.0, 1, random_state=10)
    assert abs(mutual_information(x, y)) < 0.055


def test_permutation_test_is_calibrated_under_independence():
    # 60 independent data sets, 19 permutations each: p-values are exactly uniform on
    # {1/20, ..., 1} under H0, so P(p <= 0.1) = 0.1 and #rejections ~ Binomial(60, 0.1):
    # mean 6, sd 2.3; accept 0..14 (P(X > 14) = 0.001).
    rng = np.random.default_rng(11)
    rejections = 0
    for _ in range(60):
        x, y = rng.standard_normal(150), rng.standard_normal(150)
        res = mi_permutation_test(x, y, n_permutations=19, random_state=rng)
        rejections += res.p_value <= 0.1
    assert rejections <= 14


def test_permutation_test_detects_dependence():
    rng = np.random.default_rng(12)
    x = rng.standard_normal(300)
    y = np.cos(2 * x) + 0.5 * rng.standard_normal(300)  # uncorrelated, dependent
    res = mi_permutation_test(x, y, n_permutations=49, random_state=0)
    assert res.p_value == pytest.approx(1 / 50)


def test_permutation_test_random_state_seeds_the_estimator():
    # On integer data the KSG estimate is set by the jitter that breaks the ties; the
    # estimator got random_state=None, so random_state=0 gave mi = 0.754, 0.683, 0.739 on
    # three calls. Discrete truth: H(X + U{0,1,2}) - log 3 = 0.765 nats.
    rng = np.random.default_rng(14)
    x = rng.integers(0, 5, 300)
    y = x + rng.integers(0, 3, 300)
    first = mi_permutation_test(x, y, n_permutations=5, random_state=0)
    assert mi_permutation_test(x, y, n_permutations=5, random_state=0) == first
    assert first.mi == pytest.approx(0.765, abs=0.15)


def test_permutation_test_takes_string_labels_for_ksg_discrete():
    # mutual_information(x, labels, "ksg_discrete") takes string labels; the test refused
    # them ("Y must be a numeric array, got text values") before calling it
    x, y = label_mixture(N, 2.0, random_state=15)
    names = np.array(["cat", "dog"])[y]
    res = mi_permutation_test(x, names, "ksg_discrete", n_permutations=9, random_state=0)
    assert res == mi_permutation_test(x, y, "ksg_discrete", n_permutations=9, random_state=0)
    assert res.mi == pytest.approx(label_mixture_mi(2.0), abs=0.05)
    assert res.p_value == pytest.approx(1 / 10)


def test_ball_tree_and_threads_give_the_same_counts():
    x, y = correlated_gaussian(800, 0.6, 3, random_state=13)
    ref = KSGMutualInformation(random_state=0).fit(x, y).mi_
    # sklearn's BallTree prunes with rounded node bounds, so a point at exactly the radius
    # (every row has one: its k-th neighbour) is now and then counted on the wrong side:
    # on 3 of 60 seeds one row's count was off by one, moving the estimate by 0.8e-5 to
    # 1.5e-5 (abs=1e-12 failed there). A wrong counting rule moves it far more: `<=`
    # instead of `<` by -0.04, one low count off by one by 2.7e-4.
    assert KSGMutualInformation(tree="ball", random_state=0).fit(x, y).mi_ == pytest.approx(
        ref, abs=1e-4
    )
    assert KSGMutualInformation(n_jobs=2, random_state=0).fit(x, y).mi_ == ref


def test_ksg_1d_and_column_inputs_agree():
    x, y = correlated_gaussian(500, 0.5, 1, random_state=14)
    a = mutual_information(x[:, 0], y[:, 0], random_state=0)
    b = mutual_information(x, y, random_state=0)
    assert a == b


def test_ksg_breaks_ties_with_jitter():
    # Heavily tied data (rounded to 1 decimal): without jitter distances are 0; with the
    # default jitter the estimate is finite and close to the MI of the rounded Gaussian
    # (rounding to 0.1 loses little: within 0.1 of 0.511).
    x, y = correlated_gaussian(N, 0.8, 1, random_state=15)
    est = mutual_information(np.round(x, 1), np.round(y, 1))
    assert np.isfinite(est)
    assert est == pytest.approx(gaussian_mi(0.8), abs=0.1)


def test_ross_discrete_continuous():
    # Balanced labels, x ~ N(2y, 1): I = 0.3368 by quadrature. n=2000: bias -0.006, std
    # 0.016 -> tol 0.07.
    x, y = label_mixture(N, 2.0, random_state=16)
    est = mutual_information(x, y, method="ksg_discrete")
    assert est == pytest.approx(label_mixture_mi(2.0), abs=0.07)


def test_ross_independent_labels_near_zero():
    rng = np.random.default_rng(17)
    est = DiscreteContinuousMutualInformation().fit(rng.standard_normal(N), rng.integers(0, 3, N))
    assert abs(est.mi_) < 0.05


def test_ross_singleton_labels_are_dropped():
    x, y = label_mixture(500, 2.0, random_state=18)
    y = y.copy()
    y[0] = 7  # a label seen once carries no neighbour information
    est = DiscreteContinuousMutualInformation().fit(x, y)
    assert est.n_samples_ == 499
    assert set(est.classes_) == {0, 1, 7}


def _brute_force_ksg(x, y, k, algorithm):
    """KSG from the full distance matrices, straight from the definitions (O(n^2))."""
    dx = np.abs(x[:, None, :] - x[None, :, :]).max(axis=2)
    dy = np.abs(y[:, None, :] - y[None, :, :]).max(axis=2)
    dz = np.maximum(dx, dy)
    np.fill_diagonal(dz, np.inf)
    rows = np.arange(len(x))[:, None]
    neighbours = np.argsort(dz, axis=1, kind="stable")[:, :k]
    n = len(x)
    if algorithm == 1:
        eps = dz[rows, neighbours[:, -1:]]
        nx = (dx < eps).sum(axis=1) - 1  # the row itself has distance 0 < eps
        ny = (dy < eps).sum(axis=1) - 1
        return digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1))
    eps_x = dx[rows, neighbours].max(axis=1, keepdims=True)
    eps_y = dy[rows, neighbours].max(axis=1, keepdims=True)
    nx = (dx <= eps_x).sum(axis=1) - 1
    ny = (dy <= eps_y).sum(axis=1) - 1
    return digamma(k) - 1 / k + digamma(n) - np.mean(digamma(nx) + digamma(ny))


@pytest.mark.parametrize("algorithm", [1, 2])
@pytest.mark.parametrize("dims", [(1, 1), (2, 2), (2, 1), (3, 2)])
def test_ksg_matches_brute_force(algorithm, dims):
    # The neighbour counts are integers, so the fast paths (binary searches in 1-D, the
    # Fenwick-tree sweep in 2-D, the compiled max-norm tree in 3-D and for the joint k-NN)
    # must reproduce the O(n^2)
    # definition exactly, including points exactly at distance eps (every row has one:
    # its k-th neighbour); only the order of the final float sums may differ (1e-12).
    # (tree="ball" is not exact at that edge: sklearn's BallTree bounds round.)
    rng = np.random.default_rng(sum(dims) + algorithm)
    x = rng.standard_normal((400, dims[0]))
    y = 0.7 * x[:, : dims[1]] + rng.standard_normal((400, dims[1]))
    est = KSGMutualInformation(k=4, algorithm=algorithm, standardize=False, jitter=0.0).fit(x, y)
    assert est.mi_ == pytest.approx(_brute_force_ksg(x, y, 4, algorithm), abs=1e-12)


def _brute_force_counts(X, radius):
    d = np.abs(X[:, None, :] - X[None, :, :]).max(axis=2)
    return (d <= radius[:, None]).sum(axis=1) - 1


@pytest.mark.parametrize("n", [1, 2, 7, 300, 1500])
def test_chebyshev_counts_2d_matches_brute_force(n):
    # Radii equal to actual distances to random other points put a point exactly on the
    # square's edge for every row (the hardest case for rounding), and the strict version
    # (next float below) must then exclude it. Half of the data is rounded to create ties
    # in each coordinate.
    rng = np.random.default_rng(n)
    X = rng.standard_normal((n, 2)) * [1.0, 1e3]
    X[: n // 2] = np.round(X[: n // 2], 1)
    radius = np.abs(X[rng.integers(0, n, n)] - X).max(axis=1)
    for r in (radius, np.nextafter(radius, 0.0), np.zeros(n), np.full(n, np.inf)):
        np.testing.assert_array_equal(chebyshev_counts_2d(X, r), _brute_force_counts(X, r))
        for col in (0, 1):
            x = X[:, col : col + 1]
            np.testing.assert_array_equal(
                chebyshev_counts_1d(x[:, 0], r), _brute_force_counts(x, r)
            )


@pytest.mark.parametrize("dim", [1, 2])
def test_ksg_threads_give_identical_low_dimensional_estimates(dim):
    # n_jobs=2 counts the two marginals on two threads: same integers, same estimate.
    x, y = correlated_gaussian(3000, 0.6, dim, random_state=19)
    for algorithm in (1, 2):
        one = KSGMutualInformation(algorithm=algorithm, random_state=0).fit(x, y).mi_
        two = KSGMutualInformation(algorithm=algorithm, n_jobs=2, random_state=0).fit(x, y).mi_
        assert one == two


def test_copula_with_jitter_depends_only_on_ranks():
    # The default jitter (1e-10 x the column's standard deviation) used to be added in raw
    # units before ranking: for sinh(100 a) (std ~1e40) it reordered the bulk of the
    # values and KSG gave 0.015 nats instead of 0.254 on the untransformed sample.
    rng = np.random.default_rng(6)
    a = rng.standard_normal(1000)
    b = 0.6 * a + 0.8 * rng.standard_normal(1000)
    expected = mutual_information(a, b, copula=True, random_state=0)
    for f in (lambda v: np.sinh(100 * v), np.exp, lambda v: 1e-200 * v, lambda v: v**3):
        assert np.all(np.argsort(f(a)) == np.argsort(a))  # strictly increasing on a
        got = mutual_information(f(a), b, copula=True, random_state=0)
        assert got == expected


def test_copula_breaks_ties_in_a_seeded_order_only():
    # Ties (a discretized column) are broken by the seeded random order: the estimate is
    # finite, repeats with the seed, and is unchanged by a strictly increasing map.
    rng = np.random.default_rng(3)
    a = np.round(rng.standard_normal(800), 1)
    b = a + rng.standard_normal(800)
    kw = {"copula": True, "random_state": 0}
    value = mutual_information(a, b, **kw)
    assert np.isfinite(value)
    assert mutual_information(a, b, **kw) == value
    assert mutual_information(np.sinh(100 * a), b, **kw) == value
    assert mutual_information(a, b, **{**kw, "jitter": 1.0}) == value  # only the order


def _outlier_sample():
    rng = np.random.default_rng(6)
    a = rng.standard_normal(1000)
    b = 0.6 * a + 0.8 * rng.standard_normal(1000)
    return np.r_[a, 1e5], np.r_[b, 0.0]


@pytest.mark.parametrize(
    "call",
    [
        lambda x, y: mutual_information(x, y),
        lambda x, y: mutual_information(x, y, method="ksg_mixed"),
        lambda x, y: mutual_information(x, y > 0, method="ksg_discrete"),
        lambda x, y: conditional_mutual_information(x, y, np.cos(np.arange(x.size))),
    ],
)
def test_knn_estimators_warn_on_an_outlier_column(call):
    # one outlier of 1e5 among 1000 rows: KSG 0.0025 nats for a truth of 0.2231, silently
    x, y = _outlier_sample()
    with pytest.warns(HeavyTailWarning, match=r"X: column 0's spread is dominated by outl"):
        call(x, y)


def test_knn_estimators_warn_on_a_heavy_tailed_column():
    rng = np.random.default_rng(6)
    a = rng.standard_normal(1000)
    b = 0.6 * a + 0.8 * rng.standard_normal(1000)
    with pytest.warns(HeavyTailWarning, match="biased"):
        assert mutual_information(np.sinh(100 * a), b) < 0.01  # the collapse it warns of
    with pytest.warns(HeavyTailWarning, match=r"^Y: column 1's"):
        mutual_information(b, np.c_[a, np.sinh(100 * a)])


def test_copula_recovers_the_outlier_case_without_warning():
    x, y = _outlier_sample()
    with warnings.catch_warnings():
        warnings.simplefilter("error", HeavyTailWarning)
        got = mutual_information(x, y, copula=True, random_state=0)
        clean = mutual_information(x[:-1], y[:-1], copula=True, random_state=0)
    # the outlier is one rank among 1001; KSG's spread at n=1000, rho=0.6 is ~0.02 (bias
    # +0.01-0.03 on this sample: 0.249 without copula, 0.254 with it)
    assert got == pytest.approx(clean, abs=0.01)
    assert got == pytest.approx(gaussian_mi(0.6), abs=0.07)


@pytest.mark.parametrize("n", [50, 200, 1000, 10_000, 100_000])
def test_heavy_tail_warning_spares_light_tailed_data(n):
    # measured ratio std / (IQR / 1.349) over 20,000 Gaussian samples of 50 rows: at most
    # 2.1 (exponential 4.1, uniform 1.5), against the threshold of 10
    rng = np.random.default_rng(n)
    m = max(2, 200_000 // n)
    columns = [rng.standard_normal((n, m)), rng.uniform(size=(n, m)), rng.exponential(size=(n, m))]
    with warnings.catch_warnings():
        warnings.simplefilter("error", HeavyTailWarning)
        for X in columns:
            warn_if_heavy_tailed(X, "X")
        mutual_information(columns[0][:, :2], columns[2][:, :1])


@pytest.mark.parametrize("zeros", [0.70, 0.74, 0.75, 0.76, 0.9])
def test_heavy_tail_warning_spares_zero_inflated_columns(zeros):
    # |N(0, 1)| with a share of exact zeros (ReLU or SAE activations), no outlier: before,
    # 74 % and 75 % zeros warned at 13 and 2,000-8,800 times the robust spread (the third
    # quartile just above 0), while the estimates stayed smooth (0.94 ... 0.79)
    rng = np.random.default_rng(0)
    n = 4000
    x = np.abs(rng.standard_normal(n))
    x[rng.permutation(n)[: int(zeros * n)]] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", HeavyTailWarning)
        warn_if_heavy_tailed(x[:, None], "X")
    # with a fifth of zeros (ties under a quarter) an outlier is still named
    x = np.abs(rng.standard_normal(n))
    x[: n // 5] = 0.0
    x[-1] = 1e5
    with pytest.warns(HeavyTailWarning, match=r"X: column 0's spread is dominated"):
        warn_if_heavy_tailed(x[:, None], "X")


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("method", ["ksg", "ksg_mixed"])
def test_k_plus_1_rows_are_refused_k_plus_2_depend_on_the_data(method, k):
    # before: n = k + 1 gave exactly 0 for any data (I(a; a), I(a; -a^3), independent)
    rng = np.random.default_rng(1)
    a = rng.standard_normal(k + 1)
    message = (
        f"n={k + 1} rows with k={k}: every row's {k} nearest neighbours are all the other rows"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}.*k \\+ 2 = {k + 2} rows"):
        mutual_information(a, a, k=k, method=method)
    # with k + 2 rows the estimate varies with the data
    values = {
        round(mutual_information(*rng.standard_normal((2, k + 2)), k=k, method=method), 12)
        for _ in range(40)
    }
    assert len(values) > 1


def test_cmi_k_plus_1_rows_are_refused():
    # before: n = k + 1 gave -1/k = psi(k) - psi(k + 1) for any data
    x, y, z = np.random.default_rng(2).standard_normal((3, 4))
    with pytest.raises(ValueError, match=r"^n=4 rows with k=3: every row's 3 nearest"):
        conditional_mutual_information(x, y, z, k=3)
