"""Bad input gives clear errors naming the argument and the value received."""

import numpy as np
import pytest

from bottlekit.estimators import (
    cs_divergence,
    entropy,
    gaussian_cs_divergence,
    hsic,
    kernel_width,
    mutual_information,
)

rng = np.random.default_rng(0)
X = rng.standard_normal((50, 2))
Y = rng.standard_normal((50, 1))

METHODS = ["ksg", "gaussian", "binning", "renyi"]


@pytest.mark.parametrize("method", METHODS)
def test_mismatched_n(method):
    with pytest.raises(ValueError, match=r"X and Y must have the same number of samples.*50.*49"):
        mutual_information(X, Y[:49], method=method)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_inf(method, bad):
    Xb = X.copy()
    Xb[3, 1] = bad
    with pytest.raises(ValueError, match="X contains 1 NaN or infinite"):
        mutual_information(Xb, Y, method=method)


def test_too_few_samples_for_k():
    with pytest.raises(ValueError, match=r"X must have at least 6 samples.*got 5"):
        mutual_information(X[:5], Y[:5], k=5)
    with pytest.raises(ValueError, match="at least 4 samples"):
        entropy(X[:3], method="kl", k=3)


@pytest.mark.parametrize("method", ["ksg", "gaussian", "ksg_discrete"])
def test_constant_columns_rejected_where_they_break_the_estimator(method):
    Xc = X.copy()
    Xc[:, 1] = 2.5
    y = (Y[:, 0] > 0).astype(int) if method == "ksg_discrete" else Y
    with pytest.raises(ValueError, match=r"X has constant column\(s\) \[1\]"):
        mutual_information(Xc, y, method=method)


def test_constant_column_fine_for_binning():
    Xc = X.copy()
    Xc[:, 1] = 2.5
    a = mutual_information(Xc, Y, method="binning", bins=2)
    b = mutual_information(X[:, :1], Y, method="binning", bins=2)
    assert a == pytest.approx(b)  # a constant column adds no cells and no information


def test_shapes():
    with pytest.raises(ValueError, match=r"X must have shape \(n,\) or \(n, d\), got shape"):
        mutual_information(np.zeros((4, 3, 2)), np.zeros(4))
    with pytest.raises(TypeError, match="X must be an array"):
        mutual_information(None, Y)


@pytest.mark.parametrize("sigma", [-1.0, 0.0, float("nan")])
def test_negative_or_zero_sigma(sigma):
    with pytest.raises(ValueError, match=r"sigma must be a finite number > 0, got"):
        cs_divergence(X, X + 1, sigma=sigma)
    with pytest.raises(ValueError, match=r"sigma_x must be a finite number > 0"):
        hsic(X, Y, sigma_x=sigma)


def test_bad_width_rule():
    with pytest.raises(ValueError, match=r"sigma must be a positive number or one of"):
        kernel_width(X, "nope")


def test_bad_parameters():
    with pytest.raises(ValueError, match="method must be one of"):
        mutual_information(X, Y, method="magic")
    with pytest.raises(ValueError, match="algorithm must be 1 or 2, got 3"):
        mutual_information(X, Y, algorithm=3)
    with pytest.raises(ValueError, match=r"k must be an integer >= 1, got 0"):
        mutual_information(X, Y, k=0)
    with pytest.raises(ValueError, match=r"base must be a number > 0 and != 1, got 1\.0"):
        mutual_information(X, Y, base=1)
    with pytest.raises(ValueError, match="jitter must be a number >= 0"):
        mutual_information(X, Y, jitter=-1.0)
    with pytest.raises(ValueError, match=r"shrinkage must be in \[0, 1\]"):
        mutual_information(X, Y, method="gaussian", shrinkage=2.0)
    with pytest.raises(ValueError, match="cov1 must be symmetric positive definite"):
        gaussian_cs_divergence([0.0], [[-1.0]], [0.0], [[1.0]])
    with pytest.raises(ValueError, match="test must be 'gamma' or 'permutation'"):
        hsic(X, Y, test="exact")


def test_gaussian_needs_more_rows_than_columns():
    with pytest.raises(ValueError, match="more samples than dimensions"):
        mutual_information(X[:4], rng.standard_normal((4, 3)), method="gaussian")


def test_singular_covariance_message():
    Xs = np.hstack([X, X[:, :1] * 2.0])
    with pytest.raises(ValueError, match=r"singular.*shrinkage"):
        mutual_information(Xs, Y, method="gaussian")
    assert np.isfinite(mutual_information(Xs, Y, method="gaussian", shrinkage="ledoit-wolf"))
