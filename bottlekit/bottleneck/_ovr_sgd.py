r"""One-vs-rest elastic-net logistic regression by plain SGD, compiled with numba.

Post-hoc CBM's head is ``SGDClassifier(loss="log_loss", penalty="elasticnet")``
(``train_pcbm.py`` of mertyg/post-hoc-cbm). This module runs the same algorithm as
scikit-learn's ``_plain_sgd`` (checked against scikit-learn 1.9; dense float64 input, no
early stopping, no averaging, unit sample and class weights), step for step, and draws the same
random numbers, so that it returns scikit-learn's coefficients to floating-point rounding
for the same ``random_state``. It is faster because it skips scikit-learn's per-sample
virtual calls and per-class Python set-up, and because of three changes that keep every
value (each sum is still taken in scikit-learn's order): the L1 truncation is branch-free,
so its loop over the weights runs in SIMD (scikit-learn's branches on the weights' signs
mispredict); the norms of an update, which scikit-learn sums in the update's loop, are
summed in the next sample's dot-product loop, where their sequential sums run beside the
dot's instead of after it; and the next sample's row is prefetched while the current one is
processed (rows are visited in random order). For each class :math:`c` (one problem for two
classes) with labels :math:`y_i \in \{0, 1\}` it minimises by SGD

.. math::
    \frac1n \sum_i \Bigl[\log\bigl(1 + e^{p_i}\bigr) - y_i p_i\Bigr]
    + \alpha\Bigl(\rho\lVert w\rVert_1 + \tfrac{1-\rho}{2}\lVert w\rVert_2^2\Bigr),
    \qquad p_i = w^\top x_i + b,

with the "optimal" learning rate :math:`\eta_t = 1/(\alpha(t_0 + t - 1))`,
:math:`t_0 = 1/(\alpha\,\eta_0)`, :math:`\eta_0 = \alpha^{-1/4}`, the L2 part as a
multiplicative decay :math:`w \leftarrow (1 - (1-\rho)\eta_t\alpha)\,w`, and the L1 part by
the cumulative truncated gradient of Tsuruoka, Tsujii & Ananiadou (2009). The samples are
visited in a Fisher-Yates order drawn with scikit-learn's xorshift ``our_rand_r`` (the same
shuffle seed every epoch, applied to the previous epoch's order). A problem stops after the
first epoch at which the mean objective (loss plus penalty, as scikit-learn sums it) has
failed ``n_iter_no_change`` epochs in a row to drop by more than ``tol`` below its best.
That is scikit-learn's stopping rule since 1.8; up to 1.7 it compared the summed loss
alone, without the penalty (``sumloss > best_loss - tol * n`` in ``_sgd_fast.pyx.tp``),
so under scikit-learn 1.6-1.7 a problem can stop at another epoch than the installed
``SGDClassifier`` does (up to 0.036 in a coefficient in one elastic-net case of the tests).
The reference code of Post-hoc CBM predates 1.8, so it stopped by the loss alone.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from bottlekit.bottleneck._prefetch import prefetch

__all__ = ["sgd_ovr_elastic_net"]

# numba keys its on-disk cache on this file alone (numba issue #6845), but the machine code
# it caches includes the jitted helpers of these sibling modules; their source hash is
# recorded here so that editing one of them must change this file too, and with it the
# cache (tests/bottleneck/test_numba_cache.py fails until the hash is updated).
_INLINED_MODULES = ("_prefetch",)
_INLINED_SHA256 = "7c95290f8a0ebf28383c5837651b417431e4e2eb5cc5c92bbc0ce13b621e24b8"

_MAX_INT = np.iinfo(np.int32).max
_MAX_DLOSS = 1e12
_RESET_WSCALE = 1e-9  # scikit-learn's threshold for float64 weights


@numba.njit(nogil=True, cache=True)
def _rand_r(state: np.ndarray) -> np.uint32:
    """scikit-learn's ``our_rand_r`` (xorshift32) on ``state[0]``, modulo 2**31."""
    s = state[0]
    if s == 0:
        s = np.uint32(1)
    s ^= np.uint32(s << np.uint32(13))
    s ^= np.uint32(s >> np.uint32(17))
    s ^= np.uint32(s << np.uint32(5))
    state[0] = s
    return np.uint32(s % np.uint32(2147483648))


@numba.njit(nogil=True, cache=True)
def _log1pexp(x: float) -> float:
    if x <= -37.0:
        return math.exp(x)
    if x <= -2.0:
        return math.log1p(math.exp(x))
    if x <= 18.0:
        return math.log(1.0 + math.exp(x))
    if x <= 33.3:
        return x + math.exp(-x)
    return x


@numba.njit(nogil=True, cache=True)
def _gradient(y: float, p: float) -> float:
    """Derivative of the half binomial loss in the raw prediction ``p`` (scikit-learn's)."""
    if p > -37.0:
        e = math.exp(-p)
        return ((1.0 - y) - y * e) / (1.0 + e)
    return math.exp(p) - y


@numba.njit(nogil=True, cache=True, error_model="numpy", inline="always")
def _truncated(z, qj, wscale, u):
    """The truncated-gradient step on one weight ``z`` with penalty ledger entry ``qj``.

    Branch-free, so that the loops over the weights vectorise; the values are those of
    scikit-learn's branches: ``max(0, z - (u + q)/wscale)`` where ``wscale * z > 0``,
    ``min(0, z + (u - q)/wscale)`` where it is ``< 0`` (``z - (q - u)/wscale`` is the same
    number, IEEE subtraction and division being sign-symmetric), ``z`` otherwise.
    """
    wz = wscale * z
    positive = wz > 0.0
    negative = wz < 0.0
    cand = z - (qj + (u if positive else -u)) / wscale
    above = cand if cand > 0.0 else 0.0
    below = cand if cand < 0.0 else 0.0
    return above if positive else (below if negative else z)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _add_and_truncate(w, q, z, x, step, wscale, u):
    """``z = w + step * x`` (kept for the norms), then the L1 step on each weight."""
    for j in range(w.shape[0]):
        zj = w[j] + x[j] * step
        z[j] = zj
        qj = q[j]
        new = _truncated(zj, qj, wscale, u)
        q[j] = qj + wscale * (new - zj)
        w[j] = new


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _truncate(w, q, wscale, u):
    """The L1 step alone (a sample with a zero gradient)."""
    for j in range(w.shape[0]):
        zj = w[j]
        qj = q[j]
        new = _truncated(zj, qj, wscale, u)
        q[j] = qj + wscale * (new - zj)
        w[j] = new


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _fit_binary(X, y, seed, alpha, l1_ratio, max_iter, tol, n_iter_no_change, w):
    """One binary problem; ``w`` (zeros on entry) receives the weights.

    Returns the intercept, the epochs run and whether the weights stayed finite.
    """
    n, k = X.shape
    q = np.zeros(k)
    z = np.zeros(k)  # the last update's w + step * x, whose norms scikit-learn keeps
    norms_pending = False
    z_scale = 1.0
    order = np.arange(n)
    state = np.zeros(1, dtype=np.uint32)
    wscale = 1.0
    sq_norm = 0.0
    l1_norm = 0.0
    intercept = 0.0
    u = 0.0
    t = 1.0
    typw = math.sqrt(1.0 / math.sqrt(alpha))
    eta0 = typw / max(1.0, _gradient(1.0, -typw))
    optimal_init = 1.0 / (eta0 * alpha)
    best = np.inf
    no_improvement = 0
    epoch = 0
    for epoch in range(max_iter):
        objective = 0.0
        state[0] = np.uint32(seed)  # the same seed every epoch, as scikit-learn passes it
        for i in range(n - 1):
            j = i + int(_rand_r(state) % np.uint32(n - i))
            tmp = order[i]
            order[i] = order[j]
            order[j] = tmp
        for s in range(n):
            r = order[s]
            yi = y[r]
            x = X[r]
            if s + 1 < n:  # the next sample's row, from memory while this one computes
                x_next = X[order[s + 1]]
                for j in range(0, k, 8):
                    prefetch(x_next, j)
                prefetch(x_next, k - 1)
            # w . x, and in the same loop the norms of the previous update (scikit-learn
            # takes them in its add; they are first used here): three independent
            # sequential sums, each in scikit-learn's order
            dot = 0.0
            if norms_pending:
                l2_acc = 0.0
                l1_acc = 0.0
                for j in range(k):
                    dot += w[j] * x[j]
                    l2_acc += z[j] * z[j]
                    l1_acc += abs(z[j])
                sq_norm = l2_acc * (z_scale * z_scale)
                l1_norm = l1_acc * z_scale
            else:
                for j in range(k):
                    dot += w[j] * x[j]
            p = dot * wscale + intercept
            eta = 1.0 / (alpha * (optimal_init + t - 1.0))
            objective += _log1pexp(p) - yi * p
            objective += alpha * (
                (1.0 - l1_ratio) * 0.5 * math.sqrt(sq_norm) ** 2 + l1_ratio * l1_norm
            )
            dloss = _gradient(yi, p)
            if dloss < -_MAX_DLOSS:
                dloss = -_MAX_DLOSS
            elif dloss > _MAX_DLOSS:
                dloss = _MAX_DLOSS
            update = -eta * dloss
            c = max(0.0, 1.0 - ((1.0 - l1_ratio) * eta * alpha))
            wscale *= c
            sq_norm *= c * c
            l1_norm *= abs(c)
            if wscale < _RESET_WSCALE:
                for j in range(k):
                    w[j] *= wscale
                wscale = 1.0
            u += l1_ratio * eta * alpha
            if update != 0.0:
                # w += update * x, then the cumulative L1 penalty (Tsuruoka et al. 2009)
                _add_and_truncate(w, q, z, x, update / wscale, wscale, u)
                norms_pending = True
                z_scale = wscale
                intercept += update
            else:
                _truncate(w, q, wscale, u)
                norms_pending = False
            t += 1.0
        if not math.isfinite(intercept):
            return intercept, epoch + 1, False
        for j in range(k):
            if not math.isfinite(w[j]):
                return intercept, epoch + 1, False
        mean = objective / n
        if mean > best - tol:
            no_improvement += 1
        else:
            no_improvement = 0
        if mean < best:
            best = mean
        if no_improvement >= n_iter_no_change:
            break
    for j in range(k):
        w[j] *= wscale
    return intercept, epoch + 1, True


@numba.njit(nogil=True, cache=True, parallel=True)
def _fit_problems(X, labels, positives, seeds, alpha, l1_ratio, max_iter, tol, n_no_change, W):
    """The binary problems ``labels == positives[c]``, one per row of ``W``, in parallel."""
    m = W.shape[0]
    intercepts = np.zeros(m)
    epochs = np.zeros(m, dtype=np.int64)
    finite = np.ones(m, dtype=np.bool_)
    for c in numba.prange(m):
        y = (labels == positives[c]).astype(np.float64)
        b, e, f = _fit_binary(X, y, seeds[c], alpha, l1_ratio, max_iter, tol, n_no_change, W[c])
        intercepts[c] = b
        epochs[c] = e
        finite[c] = f
    return intercepts, epochs, finite


def sgd_ovr_elastic_net(
    X: np.ndarray,
    y: np.ndarray,
    *,
    alpha: float,
    l1_ratio: float,
    max_iter: int,
    tol: float,
    random_state: int,
    n_iter_no_change: int = 5,
) -> tuple[np.ndarray, np.ndarray, int]:
    r"""``SGDClassifier(loss="log_loss", penalty="elasticnet", ...).fit(X, y)``, compiled.

    The binary problems run in parallel on numba's threads (``numba.set_num_threads``
    or ``NUMBA_NUM_THREADS`` limit them); the result does not depend on their number.

    Parameters
    ----------
    X : ndarray of shape (n, k)
        Features (cast to float64, as scikit-learn does for float64 input).
    y : ndarray of shape (n,)
        Class indices ``0..C-1``, every class present, ``C >= 2``.
    alpha, l1_ratio, max_iter, tol, n_iter_no_change
        As in ``SGDClassifier``.
    random_state : int
        As ``SGDClassifier``'s integer ``random_state``: per class a
        ``numpy.random.RandomState`` seed, whose second draw seeds the shuffle.

    Returns
    -------
    coef : ndarray of shape (C, k) or (1, k) for two classes
    intercept : ndarray of shape (C,) or (1,)
    n_iter : int
        The most epochs any class ran (``SGDClassifier.n_iter_``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import SGDClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4)); y = np.argmax(X[:, :3], axis=1)
    >>> coef, b, epochs = sgd_ovr_elastic_net(
    ...     X, y, alpha=1e-3, l1_ratio=0.99, max_iter=1000, tol=1e-3, random_state=7)
    >>> ref = SGDClassifier(loss="log_loss", penalty="elasticnet", alpha=1e-3,
    ...                     l1_ratio=0.99, random_state=7).fit(X, y)
    >>> bool(np.array_equal(coef, ref.coef_)) and epochs == ref.n_iter_
    True
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.int64)
    n_classes = int(y.max()) + 1
    if n_classes == 2:
        positives, class_seeds = np.array([1]), [random_state]
    else:
        positives = np.arange(n_classes)
        class_seeds = np.random.RandomState(random_state).randint(_MAX_INT, size=n_classes)
    shuffle_seeds = np.empty(len(positives), dtype=np.int64)
    for row, class_seed in enumerate(class_seeds):
        rs = np.random.RandomState(class_seed)
        rs.randint(1, _MAX_INT)  # make_dataset's draw (the dataset seed SGD does not use)
        shuffle_seeds[row] = rs.randint(_MAX_INT)
    coef = np.zeros((len(positives), X.shape[1]))
    intercept, epochs, finite = _fit_problems(
        X, y, positives.astype(np.int64), shuffle_seeds, float(alpha), float(l1_ratio),
        int(max_iter), float(tol), int(n_iter_no_change), coef,
    )  # fmt: skip
    raise_on_overflow(bool(finite.all()), epochs)
    return coef, intercept, int(epochs.max())


def raise_on_overflow(finite: bool, epochs: np.ndarray) -> None:
    """scikit-learn's error when SGD's weights stopped being finite (its message)."""
    if not finite:
        raise ValueError(
            f"Floating-point under-/overflow occurred at epoch #{int(epochs.max())}. Scaling "
            "input data with StandardScaler or MinMaxScaler might help."
        )
