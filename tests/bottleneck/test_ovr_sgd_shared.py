"""The shared-order elastic-net SGD head against its brute-force definition and against
scikit-learn's SGDClassifier (the same algorithm with one sample order per class)."""

from __future__ import annotations

import math
import warnings

import numba
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier

from bottlekit.bottleneck._logistic_simd import exp_neg, log1p_unit
from bottlekit.bottleneck._ovr_sgd_shared import _fit_shared, sgd_ovr_elastic_net_shared

_MAX_INT = 2**31 - 1


def _problem(n=300, k=7, n_classes=5, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    X = scale * rng.normal(size=(n, k))
    y = np.argmax(X @ rng.normal(size=(k, n_classes)) + rng.normal(size=(n, n_classes)), 1)
    return X, y


def _xorshift(state: list[int]) -> int:
    """scikit-learn's ``our_rand_r``, in Python integers."""
    s = state[0] or 1
    s ^= (s << 13) & 0xFFFFFFFF
    s ^= s >> 17
    s ^= (s << 5) & 0xFFFFFFFF
    state[0] = s
    return s % 2**31


def _ordered_sum(rows):
    """``sum_j rows[j]`` over classes, taken over ``j`` in order (as the kernel does)."""
    acc = np.zeros(rows.shape[1])
    for row in rows:
        acc = acc + row
    return acc


@numba.njit
def _map(fn, values):
    out = np.empty_like(values)
    for i in range(values.shape[0]):
        out[i] = fn(values[i])
    return out


def _reference(X, y, alpha, l1_ratio, max_iter, tol, random_state, n_iter_no_change=5):
    """The shared-order algorithm written out with numpy, all classes in one array and
    stopped classes frozen by a mask (the kernel removes them from its block instead)."""
    n, k = X.shape
    n_classes = int(y.max()) + 1
    positives = np.array([1]) if n_classes == 2 else np.arange(n_classes)
    m = len(positives)
    Y = (y[:, None] == positives[None, :]).astype(float)
    seed = int(np.random.RandomState(random_state).randint(_MAX_INT))
    W, Q = np.zeros((k, m)), np.zeros((k, m))
    b, sq, l1n = np.zeros(m), np.zeros(m), np.zeros(m)
    best, bad = np.full(m, np.inf), np.zeros(m, dtype=int)
    running = np.ones(m, dtype=bool)
    coef, intercept, epochs = np.zeros((m, k)), np.zeros(m), np.zeros(m, dtype=int)
    s, u, t = 1.0, 0.0, 1.0
    eta0 = math.sqrt(1.0 / math.sqrt(alpha))  # scikit-learn's max(1, gradient) is 1 here
    optimal_init = 1.0 / (eta0 * alpha)
    order = list(range(n))
    for epoch in range(max_iter):
        state = [seed]
        for i in range(n - 1):
            j = i + _xorshift(state) % (n - i)
            order[i], order[j] = order[j], order[i]
        objective = np.zeros(m)
        for r in order:
            x = X[r]
            p = _ordered_sum(W * x[:, None]) * s + b
            e = _map(exp_neg, np.abs(p))  # the kernel's; agree with libm to 2 ulp (tested)
            loss = np.maximum(p, 0.0) + _map(log1p_unit, e) - Y[r] * p
            gradient = np.where(p >= 0.0, 1.0, e) / (1.0 + e) - Y[r]
            objective += loss + (alpha * (1 - l1_ratio) * 0.5 * sq + alpha * l1_ratio * l1n)
            eta = 1.0 / (alpha * (optimal_init + t - 1.0))
            decay = max(0.0, 1.0 - (1.0 - l1_ratio) * eta * alpha)
            update = np.where(running, -eta * gradient, 0.0)
            s *= decay
            if s < 1e-9:
                W, s = W * s, 1.0
            u += l1_ratio * eta * alpha
            inv = 1.0 / s
            Z = W + np.outer(x, update * inv)
            positive, negative = Z > 0, Z < 0
            cand = Z - (Q + np.where(positive, u, -u)) * inv
            new = np.where(
                positive, np.maximum(cand, 0.0), np.where(negative, np.minimum(cand, 0.0), Z)
            )
            Q, W = Q + s * (new - Z), new
            changed = update != 0.0
            sq = np.where(changed, _ordered_sum(Z * Z) * (s * s), sq * (decay * decay))
            l1n = np.where(changed, _ordered_sum(np.abs(Z)) * s, l1n * decay)
            b = b + update
            t += 1.0
        for c in np.flatnonzero(running):
            mean = objective[c] / n
            bad[c] = bad[c] + 1 if mean > best[c] - tol else 0
            best[c] = min(best[c], mean)
            if bad[c] >= n_iter_no_change or epoch + 1 == max_iter:
                running[c] = False
                coef[c], intercept[c], epochs[c] = W[:, c] * s, b[c], epoch + 1
        if not running.any():
            break
    return coef, intercept, epochs


def _sklearn(X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return SGDClassifier(loss="log_loss", penalty="elasticnet", **kw).fit(X, y)


@pytest.mark.parametrize(
    ("n_classes", "alpha", "l1_ratio", "max_iter", "seed"),
    [
        (5, 1e-3, 0.99, 10000, 0),  # classes stop at different epochs
        (4, 1e-2, 0.5, 10000, 1),
        (3, 1e-5, 0.99, 4, 2),  # stopped by max_iter
        (2, 1e-3, 1.0, 10000, 3),  # binary: one problem, pure L1
    ],
)
def test_matches_the_numpy_definition(n_classes, alpha, l1_ratio, max_iter, seed):
    X, y = _problem(n=120, k=9, n_classes=n_classes, seed=seed)
    kw = dict(alpha=alpha, l1_ratio=l1_ratio, max_iter=max_iter, tol=1e-3, random_state=seed)
    ref_coef, ref_b, ref_epochs = _reference(X, y, **kw)
    coef, b, n_iter = sgd_ovr_elastic_net_shared(X, y, **kw)
    np.testing.assert_allclose(coef, ref_coef, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b, ref_b, rtol=0, atol=1e-12)
    assert n_iter == ref_epochs.max()
    assert np.count_nonzero(coef) == np.count_nonzero(ref_coef)


def test_a_stopped_class_is_frozen():
    X, y = _problem(n=150, n_classes=6, seed=4)
    positives = np.arange(6)
    args = (X, y, positives, 12345, 1e-3, 0.99)
    coef, b, epochs, finite = _fit_shared(*args, 10000, 1e-3, 5)
    assert finite and len(set(epochs.tolist())) > 1  # the classes stop at different epochs
    # classes do not interact: a class stopped at epoch e has the weights that a run
    # stopped by max_iter = e gives it, whatever the others did afterwards
    for c in np.argsort(epochs)[:3]:
        coef_e, b_e, _, _ = _fit_shared(*args, int(epochs[c]), 1e-3, 5)
        np.testing.assert_array_equal(coef[c], coef_e[c])
        assert b[c] == b_e[c]


def test_statistically_the_sklearn_head():
    """One shared order instead of one per class: another draw of the same algorithm, so
    accuracy and sparsity agree with scikit-learn's to its own seed-to-seed spread."""
    X_all, y_all = _problem(n=2600, k=12, n_classes=6, seed=9)
    X, y, Xt, yt = X_all[:600], y_all[:600], X_all[600:], y_all[600:]
    kw = dict(alpha=1e-3, l1_ratio=0.99, max_iter=10000)
    ours, theirs = [], []
    for seed in range(5):
        coef, b, _ = sgd_ovr_elastic_net_shared(X, y, tol=1e-3, random_state=seed, **kw)
        ours.append((np.mean(np.argmax(Xt @ coef.T + b, 1) == yt), np.count_nonzero(coef)))
        ref = _sklearn(X, y, random_state=seed, **kw)
        theirs.append((ref.score(Xt, yt), np.count_nonzero(ref.coef_)))
    (acc, nnz), (ref_acc, ref_nnz) = np.mean(ours, 0), np.mean(theirs, 0)
    assert abs(acc - ref_acc) < 0.01  # 1 point; 5-seed means 76.7 vs 76.9 %, sd 0.7 each
    assert abs(nnz - ref_nnz) <= 0.1 * ref_nnz


def test_deterministic_and_independent_of_threads():
    X, y = _problem(n=200, n_classes=70, seed=7)  # 70 classes: two blocks on two threads
    kw = dict(alpha=1e-4, l1_ratio=0.99, max_iter=30, tol=1e-3, random_state=11)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = sgd_ovr_elastic_net_shared(X, y, **kw)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = sgd_ovr_elastic_net_shared(X, y, **kw)
    finally:
        numba.set_num_threads(before)
    again = sgd_ovr_elastic_net_shared(X, y, **kw)
    for a, b, c in zip(one, two, again, strict=True):
        assert np.array_equal(a, b) and np.array_equal(a, c)
    other = sgd_ovr_elastic_net_shared(X, y, **{**kw, "random_state": 12})
    assert not np.array_equal(one[0], other[0])  # the seed matters


def test_overflow_is_an_error():
    X, y = _problem(n=50, n_classes=2, seed=8, scale=1e200)
    with pytest.raises(ValueError, match="Floating-point under-/overflow"):
        sgd_ovr_elastic_net_shared(
            X, y, alpha=1e-4, l1_ratio=0.99, max_iter=50, tol=1e-3, random_state=0
        )


def test_branch_free_exp_and_log1p_agree_with_libm():
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.random(20000) * 40, rng.random(2000) * 708, [0.0, 1e-300, 708.0]])
    got, want = _map(exp_neg, a), np.exp(-a)
    assert np.all(np.abs(got - want) <= 2 * np.spacing(want))
    assert np.all(_map(exp_neg, np.array([708.1, 745.0, 1e4])) == 0.0)  # never subnormal
    e = np.concatenate([rng.random(20000), [0.0, 1e-300, 0.41421356237309503, 1.0]])
    got, want = _map(log1p_unit, e), np.log1p(e)
    assert np.all(np.abs(got - want) <= 4 * np.spacing(np.maximum(want, 1e-300)))
