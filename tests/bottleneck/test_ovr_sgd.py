"""The compiled elastic-net SGD head against scikit-learn's SGDClassifier (its definition)."""

from __future__ import annotations

import warnings

import numba
import numpy as np
import pytest
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.utils.fixes import parse_version

from bottlekit.bottleneck._ovr_sgd import sgd_ovr_elastic_net


def _problem(n=400, k=7, n_classes=5, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    X = scale * rng.normal(size=(n, k))
    y = np.argmax(X @ rng.normal(size=(k, n_classes)) + rng.normal(size=(n, n_classes)), 1)
    return X, y


def _sklearn(X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return SGDClassifier(loss="log_loss", penalty="elasticnet", **kw).fit(X, y)


@pytest.mark.parametrize(
    ("n_classes", "alpha", "l1_ratio", "max_iter", "seed"),
    [
        (5, 1e-4, 0.99, 10000, 0),  # the reference's settings, many epochs
        (5, 1e-2, 0.5, 10000, 1),
        (4, 1e-3, 1.0, 10000, 2),  # pure L1
        (4, 1e-3, 0.0, 10000, 3),  # pure L2
        (3, 1e-5, 0.99, 3, 4),  # stopped by max_iter
        (2, 1e-4, 0.99, 10000, 5),  # binary: one problem
    ],
)
@pytest.mark.skipif(
    parse_version(sklearn.__version__) < parse_version("1.8"),
    reason="the port stops on the penalised objective, as scikit-learn does since 1.8; "
    "up to 1.7 it stopped on the loss alone (alpha=1e-2, l1_ratio=0.5 then differs by 0.036)",
)
def test_same_coefficients_as_sklearn(n_classes, alpha, l1_ratio, max_iter, seed):
    X, y = _problem(n_classes=n_classes, seed=seed)
    ref = _sklearn(X, y, alpha=alpha, l1_ratio=l1_ratio, max_iter=max_iter, random_state=seed)
    coef, intercept, n_iter = sgd_ovr_elastic_net(
        X, y, alpha=alpha, l1_ratio=l1_ratio, max_iter=max_iter, tol=1e-3, random_state=seed
    )
    # same draws, same operations in the same order: equal up to the last bit
    np.testing.assert_allclose(coef, ref.coef_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(intercept, ref.intercept_, rtol=1e-12, atol=1e-12)
    assert n_iter == ref.n_iter_
    assert np.count_nonzero(coef) == np.count_nonzero(ref.coef_)
    assert np.count_nonzero(coef) < coef.size or l1_ratio < 1  # L1 gives exact zeros


def test_tolerance_and_patience_as_sklearn():
    X, y = _problem(seed=6)
    for tol, patience in ((1e-1, 2), (1e-6, 8)):
        ref = _sklearn(
            X, y, alpha=1e-4, l1_ratio=0.9, tol=tol, n_iter_no_change=patience, random_state=3
        )
        coef, _, n_iter = sgd_ovr_elastic_net(
            X, y, alpha=1e-4, l1_ratio=0.9, max_iter=10000, tol=tol, random_state=3,
            n_iter_no_change=patience,
        )  # fmt: skip
        np.testing.assert_allclose(coef, ref.coef_, rtol=1e-12, atol=1e-12)
        assert n_iter == ref.n_iter_


def test_deterministic_and_independent_of_threads():
    X, y = _problem(n_classes=6, seed=7)
    kw = dict(alpha=1e-4, l1_ratio=0.99, max_iter=10000, tol=1e-3, random_state=11)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = sgd_ovr_elastic_net(X, y, **kw)
        numba.set_num_threads(before)
        many = sgd_ovr_elastic_net(X, y, **kw)
    finally:
        numba.set_num_threads(before)
    again = sgd_ovr_elastic_net(X, y, **kw)
    for a, b, c in zip(one, many, again, strict=True):
        assert np.array_equal(a, b) and np.array_equal(a, c)
    other = sgd_ovr_elastic_net(X, y, **{**kw, "random_state": 12})
    assert not np.array_equal(one[0], other[0])  # the seed matters


def test_overflow_is_an_error_as_in_sklearn():
    X, y = _problem(n=50, n_classes=2, seed=8, scale=1e200)
    with pytest.raises(ValueError, match="Floating-point under-/overflow"):
        _sklearn(X, y, alpha=1e-4, l1_ratio=0.99, max_iter=50, random_state=0)
    with pytest.raises(ValueError, match="Floating-point under-/overflow"):
        sgd_ovr_elastic_net(X, y, alpha=1e-4, l1_ratio=0.99, max_iter=50, tol=1e-3, random_state=0)
