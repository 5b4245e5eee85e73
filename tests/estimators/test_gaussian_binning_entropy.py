"""Gaussian and histogram estimators, Kozachenko–Leonenko entropy, and the dispatchers."""

import numpy as np
import pytest
from scipy.special import digamma

from bottlekit.estimators import (
    BinnedEntropy,
    BinnedMutualInformation,
    GaussianEntropy,
    GaussianMutualInformation,
    entropy,
    mutual_information,
)
from bottlekit.estimators.binning import _plugin_entropy
from bottlekit.estimators.ground_truth import (
    correlated_gaussian,
    gaussian_mi,
    student_t,
    student_t_entropy,
)

N = 2000


@pytest.mark.parametrize(
    ("dim", "rho", "tol"),
    # Bias-corrected Gaussian MI at n=2000 over 20 seeds: bias <= 0.011 and std 0.012,
    # 0.034, 0.030 in 1, 5, 20 dims -> tol = 4 std + 0.01.
    [(1, 0.8, 0.06), (5, 0.6, 0.15), (20, 0.3, 0.13)],
)
def test_gaussian_mi_closed_form(dim, rho, tol):
    x, y = correlated_gaussian(N, rho, dim, random_state=dim)
    assert mutual_information(x, y, method="gaussian") == pytest.approx(
        gaussian_mi(rho, dim), abs=tol
    )


def test_gaussian_bias_correction_removes_the_dxdy_over_2n_bias():
    # Under independence in 20+20 dims the plug-in estimate is biased up by
    # dx*dy/(2n) = 400/4000 = 0.1 (std 0.0075 over seeds); the corrected one is unbiased.
    x, y = correlated_gaussian(N, 0.0, 20, random_state=21)
    plug = GaussianMutualInformation(bias_correction=False).fit(x, y).mi_
    corr = GaussianMutualInformation().fit(x, y).mi_
    assert plug == pytest.approx(0.1, abs=0.03)
    assert abs(corr) < 0.03
    assert plug - corr == pytest.approx(0.1, rel=0.03)  # the correction itself ~ dxdy/2n


def test_gaussian_shrinkage_in_the_n_close_to_d_regime():
    # n=60 rows, 25+25 dims, independent: the plug-in log-det ratio is wildly inflated;
    # Ledoit-Wolf shrinkage pulls it down by at least a factor 3.
    x, y = correlated_gaussian(60, 0.0, 25, random_state=22)
    plug = GaussianMutualInformation(bias_correction=False).fit(x, y).mi_
    lw = GaussianMutualInformation(shrinkage="ledoit-wolf").fit(x, y)
    assert 0 < lw.shrinkage_ <= 1
    assert lw.mi_ < plug / 3


def test_gaussian_entropy():
    x = np.random.default_rng(23).standard_normal((N, 3)) * [1.0, 2.0, 0.5]
    truth = 0.5 * (3 * np.log(2 * np.pi * np.e) + 2 * np.log(1.0 * 2.0 * 0.5))
    # std of the log-det estimate ~ sqrt(2 d / n) / 2 = 0.027 -> tol 0.1
    assert entropy(x, method="gaussian") == pytest.approx(truth, abs=0.1)


# n = 15 rows in d = 2: the plug-in log det S is low by E log det S - log det Sigma =
# psi(7) + psi(6.5) + 2 log(2/14) = -0.2261, the entropy by half of it
SMALL_N, SMALL_D = 15, 2
SMALL_SIGMA = np.array([[2.0, 0.9], [0.9, 0.5]])  # det 0.19
SMALL_TRUTH = 0.5 * (2 * np.log(2 * np.pi * np.e) + np.log(0.19))


def test_gaussian_entropy_bias_correction_is_the_closed_form():
    x = np.random.default_rng(40).multivariate_normal([1.0, -3.0], SMALL_SIGMA, SMALL_N)
    logdet_s = np.linalg.slogdet(np.cov(x, rowvar=False))[1]  # ddof = 1
    plug = 0.5 * (2 * np.log(2 * np.pi * np.e) + logdet_s)
    bias = digamma(7.0) + digamma(6.5) + 2 * np.log(2 / 14)
    assert bias == pytest.approx(-0.2261, abs=1e-4)
    assert GaussianEntropy(bias_correction=False).fit(x).entropy_ == pytest.approx(plug, 1e-12)
    assert GaussianEntropy().fit(x).entropy_ == pytest.approx(plug - 0.5 * bias, rel=1e-12)
    # as for the MI: no correction of a shrunk matrix
    shrunk = GaussianEntropy(shrinkage=0.2).fit(x).entropy_
    assert GaussianEntropy(shrinkage=0.2, bias_correction=False).fit(x).entropy_ == shrunk


def test_gaussian_entropy_bias_correction_is_unbiased_over_draws():
    # before: mean -0.113 off the truth (the plug-in's bias, half of -0.2261). 10000 draws:
    # sd of one estimate 0.28, of the mean 0.003 -> tol 0.012
    rng = np.random.default_rng(41)
    draws = [rng.multivariate_normal([0.0, 0.0], SMALL_SIGMA, SMALL_N) for _ in range(10000)]
    corrected = np.mean([GaussianEntropy().fit(x).entropy_ for x in draws])
    plug = np.mean([GaussianEntropy(bias_correction=False).fit(x).entropy_ for x in draws])
    assert corrected == pytest.approx(SMALL_TRUTH, abs=0.012)
    assert plug - SMALL_TRUTH == pytest.approx(-0.1131, abs=0.012)


def test_gaussian_entropy_bias_correction_must_be_a_bool():
    with pytest.raises(TypeError, match=r"bias_correction: expected True or False, got 'no'"):
        entropy(np.arange(10.0) ** 2, method="gaussian", bias_correction="no")


@pytest.mark.parametrize(("dim", "tol"), [(1, 0.07), (5, 0.16)])
def test_kl_entropy_gaussian(dim, tol):
    # n=2000, k=3: 1-D bias -0.002 std 0.017; 5-D bias -0.058 std 0.024 (10 seeds).
    x = np.random.default_rng(24 + dim).standard_normal((N, dim))
    truth = 0.5 * dim * np.log(2 * np.pi * np.e)
    assert entropy(x, method="kl") == pytest.approx(truth, abs=tol)


def test_kl_entropy_student_t():
    # nu=3: bias -0.005, std 0.032 at n=2000 -> tol 0.14.
    x, _ = student_t(N, 0.0, 1, 3.0, random_state=26)
    assert entropy(x, method="kl") == pytest.approx(student_t_entropy(1, 3.0), abs=0.14)


def test_kl_entropy_metrics_agree_and_scale():
    # Entropy shifts by log|a| under x -> a x, for both metrics (in 1-D they coincide).
    x = np.random.default_rng(27).standard_normal((N, 2))
    h = entropy(x, metric="euclidean", random_state=0)
    h_cheb = entropy(x, metric="chebyshev", random_state=0)
    assert h == pytest.approx(h_cheb, abs=0.1)  # same target, different finite-n noise
    assert entropy(3.0 * x, random_state=0) == pytest.approx(h + 2 * np.log(3.0), abs=1e-9)


def test_miller_madow_removes_plugin_bias():
    # Uniform over m=50 symbols, n=200: plug-in bias ~ -(m-1)/(2n) = -0.12; averaged over
    # 200 draws Miller-Madow must be at least 4x closer to log(50).
    rng = np.random.default_rng(28)
    plug, mm = [], []
    for _ in range(200):
        codes = rng.integers(0, 50, 200)
        plug.append(_plugin_entropy(codes, False))
        mm.append(_plugin_entropy(codes, True))
    bias_plug = np.mean(plug) - np.log(50)
    bias_mm = np.mean(mm) - np.log(50)
    assert bias_plug == pytest.approx(-49 / 400, abs=0.03)
    assert abs(bias_mm) < abs(bias_plug) / 4


def test_binned_mi_gaussian():
    # 20 bins, n=20000: discretisation loses ~0.02 nats at rho=0.8; std ~0.006 -> tol 0.05.
    x, y = correlated_gaussian(20000, 0.8, 1, random_state=29)
    est = BinnedMutualInformation(bins=20).fit(x, y).mi_
    assert est == pytest.approx(gaussian_mi(0.8), abs=0.05)


def test_binned_entropy_uniform():
    # Uniform on [0, 2]: H = log 2 exactly; histogram error ~ sqrt(bins/n) -> tol 0.02.
    x = np.random.default_rng(30).uniform(0, 2, 20000)
    assert BinnedEntropy(bins=10).fit(x).entropy_ == pytest.approx(np.log(2), abs=0.02)


def test_base_conversion_and_dispatch():
    x, y = correlated_gaussian(500, 0.7, 1, random_state=31)
    nats = mutual_information(x, y, method="gaussian")
    assert mutual_information(x, y, method="gaussian", base=2) == pytest.approx(nats / np.log(2))
    assert entropy(x, method="gaussian", base=10) == pytest.approx(
        entropy(x, method="gaussian") / np.log(10)
    )
    with pytest.raises(ValueError, match="method must be one of"):
        entropy(x, method="ksg")


def test_binning_warns_when_the_histogram_is_too_sparse():
    x, y = correlated_gaussian(500, 0.5, 3, random_state=32)
    with pytest.warns(UserWarning, match="joint cells for 500 samples"):
        mutual_information(x, y, method="binning", bins=10)


@pytest.mark.parametrize(
    ("n_bins", "match"),
    [(0, r"n_bins.*got 0"), (-2, r"n_bins.*got -2"), (2.5, r"n_bins.*got 2\.5")],
)
def test_discretize_names_a_bad_n_bins(n_bins, match):
    # before: n_bins = 0 gave infinite widths and every row in "cell -1", silently
    from bottlekit.estimators.binning import discretize

    with pytest.raises((TypeError, ValueError), match=match):
        discretize(np.array([[0.0], [1.0]]), n_bins)


def test_discretize_checks_its_samples():
    from bottlekit.estimators.binning import discretize

    with pytest.raises(ValueError, match=r"^X"):
        discretize(np.array([[0.0], [np.nan]]), 2)
    codes, log_vol = discretize([0.0, 0.5, 1.0], 2)  # 1-D: one column
    assert codes.tolist() == [0, 1, 1] and log_vol == pytest.approx(np.log(0.5))
