"""GLM-SAGA elastic-net path (the sparse final layer of Label-free CBM)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import softmax
from scipy.stats import spearmanr
from sklearn import __version__ as sklearn_version
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from bottlekit.bottleneck._glm_saga import glm_saga_path, lambda_max

ALPHA = 0.99
# scikit-learn >= 1.8 reads the elastic-net penalty from l1_ratio alone; before, it is named
ELASTICNET = (
    {} if tuple(map(int, sklearn_version.split(".")[:2])) >= (1, 8) else {"penalty": "elasticnet"}
)


def _problem(n=200, k=6, n_classes=3, n_informative=3, seed=0):
    """Multinomial logistic data whose true weights use only the first features."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, k))
    W = rng.normal(size=(n_classes, k)) * 1.5
    W[:, n_informative:] = 0.0
    logits = X @ W.T
    y = np.array([rng.choice(n_classes, p=p) for p in softmax(logits, axis=1)])
    return X, y


def _gradients(X, y, W, b):
    """Gradients of the mean cross-entropy with respect to W (C, k) and b (C,)."""
    n_classes = W.shape[0]
    R = softmax(X @ W.T + b, axis=1) - np.eye(n_classes)[y]
    return R.T @ X / len(X), R.mean(0)


def test_matches_scikit_learn_saga_at_a_fixed_penalty():
    X, y = _problem()
    n, lam = len(X), 0.02
    path = glm_saga_path(X, y, lambdas=[lam], l1_ratio=ALPHA, tol=1e-10, max_epochs=20000,
                         random_state=0)  # fmt: skip
    assert path.converged.all()
    # scikit-learn minimises C * sum_i CE_i + l1_ratio |W|_1 + (1 - l1_ratio)/2 |W|_2^2.
    # Dividing by C n gives mean_i CE_i + (1/(C n)) (l1_ratio |W|_1 + (1-l1_ratio)/2 |W|^2),
    # our objective with lam = 1/(C n), i.e. C = 1/(lam n); neither penalises the intercept.
    ref = LogisticRegression(C=1.0 / (lam * n), l1_ratio=ALPHA, solver="saga", tol=1e-12,
                             max_iter=100000, **ELASTICNET).fit(X, y)  # fmt: skip
    # Both solve the same convex problem to a step size of ~1e-10; the observed difference
    # is ~3e-8, so 1e-6 is loose for the solvers yet tight for weights of order 1.
    np.testing.assert_allclose(path.weight, ref.coef_, atol=1e-6)
    # the intercepts are determined up to a common shift (softmax is shift-invariant); both
    # solvers start at 0 and their updates sum to 0 over classes, so both sum to 0
    np.testing.assert_allclose(path.bias.sum(), 0.0, atol=1e-10)
    np.testing.assert_allclose(path.bias, ref.intercept_ - ref.intercept_.mean(), atol=1e-6)
    # the L1 part zeroes some weights, and the same ones
    zero = np.abs(ref.coef_) < 1e-8
    assert 0 < zero.sum() < zero.size
    assert np.array_equal(np.abs(path.weight) > 1e-5, ~zero)


@pytest.mark.parametrize("lam_ratio", [0.3, 0.05])
def test_solution_satisfies_the_kkt_conditions(lam_ratio):
    X, y = _problem(k=8, seed=1)
    lam = lam_ratio * lambda_max(X, y, ALPHA)
    path = glm_saga_path(X, y, lambdas=[lam], l1_ratio=ALPHA, batch_size=None, tol=1e-11,
                         max_epochs=50000)  # fmt: skip
    W, b = path.weight, path.bias
    gW, gb = _gradients(X, y, W, b)
    gW = gW + lam * (1 - ALPHA) * W  # smooth part of the penalty
    nz = W != 0
    assert 0 < nz.sum() < nz.size, "the test needs both zero and non-zero weights"
    # Subgradient optimality: for w != 0, grad + lam alpha sign(w) = 0; for w = 0,
    # |grad| <= lam alpha. The solver stops when a step of size 0.1 moves < 1e-11, so the
    # gradient mapping is < 1e-10; 1e-7 leaves room for the conditioning of the problem.
    np.testing.assert_allclose(gW[nz] + lam * ALPHA * np.sign(W[nz]), 0.0, atol=1e-7)
    assert np.all(np.abs(gW[~nz]) <= lam * ALPHA + 1e-7)
    np.testing.assert_allclose(gb, 0.0, atol=1e-7)


def test_lambda_max_is_the_smallest_penalty_with_all_zero_weights():
    X, y = _problem(seed=2)
    lmax = lambda_max(X, y, ALPHA)
    Y = np.eye(3)[y]
    expected = np.abs(X.T @ (Y - Y.mean(0))).max() / len(X) / ALPHA
    assert lmax == pytest.approx(expected, rel=1e-12)
    kw = dict(l1_ratio=ALPHA, batch_size=None, tol=1e-10, max_epochs=20000)
    at_max = glm_saga_path(X, y, lambdas=[lmax * 1.0001], **kw)
    below = glm_saga_path(X, y, lambdas=[lmax * 0.9], **kw)
    assert np.all(at_max.weight == 0)
    # the bias then fits the class frequencies: softmax(b) = class proportions
    np.testing.assert_allclose(softmax(at_max.bias), Y.mean(0), atol=1e-6)
    assert np.count_nonzero(below.weight) >= 1


def test_path_walks_down_until_the_nonzero_limit():
    X, y = _problem(n=300, k=12, n_classes=4, n_informative=8, seed=3)
    limit = 4
    path = glm_saga_path(X, y, n_lambdas=30, max_nonzero_per_class=limit, random_state=0)
    assert path.lambdas[0] == pytest.approx(path.lambda_max)
    # at lambda_max the zero solution is optimal, but its largest coordinate sits exactly on
    # the KKT boundary, so the stochastic solver stopped at tol=1e-4 may leave it at ~1e-3
    # (observed 8.6e-4); the full-batch tests above check the boundary exactly
    assert np.abs(path.weights[0]).max() < 5e-3
    assert path.nonzero[0].sum() <= 1
    # the walk goes down the path until the first point that breaks the limit ...
    over = path.nonzero.max(1) > limit
    first_bad = int(np.argmax(over))
    assert over.any() and not over[:first_bad].any()
    assert np.all(np.diff(path.lambdas[: first_bad + 1]) < 0)
    # ... then bisects between the last good and the first bad penalty
    refined = path.lambdas[first_bad + 1 :]
    assert len(refined) == 4
    assert np.all((refined < path.lambdas[first_bad - 1]) & (refined > path.lambdas[first_bad]))
    # the chosen point respects the limit in every class, and is the smallest such penalty
    assert path.nonzero[path.selected].max() <= limit
    assert path.lam == path.lambdas[~over].min()
    np.testing.assert_array_equal(path.weight, path.weights[path.selected])
    # support grows as the penalty falls: total non-zeros rank-correlate with -log(lambda)
    rho = spearmanr(-np.log(path.lambdas), path.nonzero.sum(1)).statistic
    assert rho > 0.9
    # without refinement the choice is the last good point of the plain path
    plain = glm_saga_path(
        X, y, n_lambdas=30, max_nonzero_per_class=limit, refine_steps=0, random_state=0
    )
    assert plain.selected == len(plain.lambdas) - 2
    assert plain.lam == path.lambdas[first_bad - 1]


def test_full_path_reaches_the_unregularised_fit_accuracy():
    X, y = _problem(n=300, k=6, seed=4)
    path = glm_saga_path(X, y, n_lambdas=15, lambda_min_ratio=1e-3, random_state=0)
    assert path.selected == len(path.lambdas) - 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = LogisticRegression(C=1e4, max_iter=5000).fit(X, y)
    pred = np.argmax(X @ path.weight.T + path.bias, axis=1)
    # at 1e-3 lambda_max the penalty is small: training accuracy within 2 points of the
    # (almost) unpenalised fit (6 features, 300 examples)
    assert np.mean(pred == y) >= ref.score(X, y) - 0.02


def test_same_seed_same_path_and_batch_size_does_not_change_the_optimum():
    X, y = _problem(seed=5)
    a = glm_saga_path(X, y, lambdas=[0.05], batch_size=32, tol=1e-10, max_epochs=20000,
                      random_state=7)  # fmt: skip
    b = glm_saga_path(X, y, lambdas=[0.05], batch_size=32, tol=1e-10, max_epochs=20000,
                      random_state=7)  # fmt: skip
    c = glm_saga_path(X, y, lambdas=[0.05], batch_size=None, tol=1e-10, max_epochs=20000)
    np.testing.assert_array_equal(a.weight, b.weight)
    np.testing.assert_allclose(a.weight, c.weight, atol=1e-6)  # same optimum, see above


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(l1_ratio=0.0), "l1_ratio"),
        (dict(step_size=-1.0), "step_size"),
        (dict(max_epochs=0), "max_epochs"),
        (dict(batch_size=0), "batch_size"),
        (dict(lambdas=[]), "lambdas"),
        (dict(lambdas=[np.nan]), "lambdas"),
        (dict(n_lambdas=0), "n_lambdas"),
        (dict(lambda_min_ratio=2.0), "lambda_min_ratio"),
        (dict(max_nonzero_per_class=-1), "max_nonzero_per_class"),
        (dict(refine_steps=-1), "refine_steps"),
    ],
)
def test_bad_parameters_name_the_argument(kwargs, match):
    X, y = _problem(n=20)
    with pytest.raises(ValueError, match=match):
        glm_saga_path(X, y, **kwargs)


def test_bad_data_is_rejected():
    X, y = _problem(n=20)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="X: contains NaN"):
        glm_saga_path(Xn, y)
    with pytest.raises(ValueError, match=r"y: expected shape \(20,\)"):
        glm_saga_path(X, y[:5])
    with pytest.raises(TypeError, match="y: expected integer"):
        glm_saga_path(X, y.astype(float))
    with pytest.raises(ValueError, match="n_classes: expected >= 2"):
        glm_saga_path(X, np.zeros(20, dtype=int))
