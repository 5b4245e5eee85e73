r"""One-vs-rest elastic-net SGD with one sample order shared by all classes, compiled.

The same per-class algorithm as :mod:`bottlekit.bottleneck._ovr_sgd` (scikit-learn's
``SGDClassifier(loss="log_loss", penalty="elasticnet")``), except that every binary
problem visits the samples in ONE shared random order instead of its own. Each problem is
still plain SGD over a random permutation per epoch; only the coupling of the orders
between classes changes, so the result is a different draw of the same algorithm, not
scikit-learn's coefficients (use ``_ovr_sgd`` for those). Because every active class is
then at the same step :math:`t`, the learning rate :math:`\eta_t`, the L2 decay scale
:math:`s` and the cumulative L1 budget :math:`u` are shared scalars, and one step updates
all classes at once on weights stored feature-major, :math:`W \in \mathbb R^{k\times m}`
(one column per active class), in one pass over :math:`W` that runs in SIMD across
classes. For a sample :math:`x` with labels :math:`y_c` and the next sample :math:`x'`:

.. math::
    p_c &= s\,d_c + b_c, \qquad d_c = \textstyle\sum_j W_{jc} x_j
        \ \text{(summed over } j \text{ in order, in the previous pass)}\\
    g_c &= \partial_p\bigl[\log(1 + e^{p}) - y_c p\bigr](p_c), \qquad
        \delta_c = -\eta_t\,g_c, \qquad b_c \mathrel{+}= \delta_c\\
    s &\leftarrow s\,\max\bigl(0, 1 - (1-\rho)\eta_t\alpha\bigr)
        \ \ (W \leftarrow sW,\ s \leftarrow 1 \text{ when } s < 10^{-9}),
        \qquad u \mathrel{+}= \rho\,\eta_t\alpha\\
    z_{jc} &= W_{jc} + x_j\,\delta_c / s, \qquad
    W_{jc} \leftarrow \begin{cases}
        \max\bigl(0, z_{jc} - (u + q_{jc})/s\bigr) & z_{jc} > 0\\
        \min\bigl(0, z_{jc} + (u - q_{jc})/s\bigr) & z_{jc} < 0\\
        z_{jc} & \text{otherwise}\end{cases}, \qquad
        q_{jc} \mathrel{+}= s\,(W_{jc}^{\text{new}} - z_{jc})\\
    d'_c &= \textstyle\sum_j W^{\text{new}}_{jc} x'_j,

with :math:`\eta_t = 1/(\alpha(t_0 + t - 1))`, :math:`t_0 = 1/(\alpha\eta_0)`, and
:math:`\eta_0` scikit-learn's "optimal" initial rate; the division by :math:`s` is a
multiplication by :math:`1/s`, computed once per step. :math:`q` is the ledger of the
cumulative truncated gradient of Tsuruoka, Tsujii & Ananiadou (2009), as in scikit-learn.
The objective each class sums over an epoch is scikit-learn's (>= 1.8): the loss plus
:math:`\alpha(\frac{1-\rho}2\lVert s z\rVert_2^2 + \rho\lVert s z\rVert_1)` of the last
update :math:`z` (decayed by the later steps' factors). A class stops after the first
epoch at which that mean objective has failed ``n_iter_no_change`` epochs in a row to
drop by more than ``tol`` below its best: it is frozen (its column leaves the active
block, which is compacted so the SIMD loops stay dense), the others go on. The order is
a Fisher-Yates shuffle drawn with scikit-learn's xorshift from one seed, the same seed
every epoch applied to the previous epoch's order, as scikit-learn does per class.

The loss and :math:`g_c` use the branch-free :math:`e^{-|p|}` and
:math:`\operatorname{log1p}` of :mod:`bottlekit.bottleneck._logistic_simd` (within a few
units in the last place of libm), so that the step over classes runs in SIMD too. As the
problems only share the order and the schedule, blocks of classes are fitted
independently, one per numba thread, and the result does not depend on the threads.
Each step costs about :math:`2km` multiply-adds in a dependency-free SIMD loop, where
scikit-learn's per-class SGD runs :math:`m` sequential :math:`k`-term dot products.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from bottlekit.bottleneck._logistic_simd import logistic_loss_and_gradient
from bottlekit.bottleneck._ovr_sgd import _RESET_WSCALE, _gradient, _rand_r, raise_on_overflow
from bottlekit.bottleneck._prefetch import prefetch

__all__ = ["sgd_ovr_elastic_net_shared"]

# numba keys its on-disk cache on this file alone (numba issue #6845), but the machine code
# it caches includes the jitted helpers of these sibling modules; their source hash is
# recorded here so that editing one of them must change this file too, and with it the
# cache (tests/bottleneck/test_numba_cache.py fails until the hash is updated).
_INLINED_MODULES = ("_logistic_simd", "_ovr_sgd", "_prefetch")
_INLINED_SHA256 = "f85102ebc2a1c5d75527558f8cd80f5a8acf14cb9c9341868fb7f71417c7230f"

_MAX_INT = np.iinfo(np.int32).max
# widths the active block is padded to, so that LLVM's vector loops (8 float64 lanes in
# AVX-512, unrolled 4 times in the class loops) cover every class with no scalar remainder
_WEIGHT_LANES = 8
_CLASS_LANES = 32


@numba.njit(nogil=True, cache=True, error_model="numpy", inline="always")
def _truncated(z, qj, u, inv_s):
    """The L1 step on one weight ``z`` with ledger entry ``qj`` (branch-free, for SIMD)."""
    positive = z > 0.0
    negative = z < 0.0
    cand = z - (qj + (u if positive else -u)) * inv_s
    above = cand if cand > 0.0 else 0.0
    below = cand if cand < 0.0 else 0.0
    return above if positive else (below if negative else z)


# The bodies of the loops over classes are functions of their own (inlined by LLVM, not
# by numba): a numba loop whose body assigns Python locals has their first iteration
# peeled by LLVM, which leaves a scalar remainder of up to a vector's width.


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _update_lane(c, w, q, xj, nj, step, s, inv_s, u, dot_next, l2, l1):
    """Class ``c`` of one row: ``z = w + x_j step``, the L1 step, ``q``, and the sums."""
    z = w[c] + xj * step[c]
    r = q[c]
    e = _truncated(z, r, u, inv_s)
    q[c] = r + s * (e - z)
    w[c] = e
    dot_next[c] += e * nj
    l2[c] += z * z
    l1[c] += abs(z)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _update_lane_pair(c, wa, wb, qa, qb, xa, xb, na, nb, step, s, inv_s, u, dot_next, l2, l1):
    """:func:`_update_lane` on two rows, the sums taken in row order."""
    st = step[c]
    za = wa[c] + xa * st
    zb = wb[c] + xb * st
    ra = qa[c]
    rb = qb[c]
    ea = _truncated(za, ra, u, inv_s)
    eb = _truncated(zb, rb, u, inv_s)
    qa[c] = ra + s * (ea - za)
    qb[c] = rb + s * (eb - zb)
    wa[c] = ea
    wb[c] = eb
    dot_next[c] = (dot_next[c] + ea * na) + eb * nb
    l2[c] = (l2[c] + za * za) + zb * zb
    l1[c] = (l1[c] + abs(za)) + abs(zb)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _step_pass(W, Q, x, x_next, step, s, inv_s, u, dot_next, l2, l1):
    """The update pass of one sample over the active block ``W`` (k, m), in place.

    ``z = W + x_j step_c``, the L1 truncation, ``Q``'s ledger, the norms of ``z`` per
    class into ``l2`` and ``l1`` and the next sample's dot products into ``dot_next``
    (each sum over ``j`` in order). Two rows per sweep over the classes, so that the
    per-class sums are loaded and stored half as often.
    """
    k, m = W.shape
    dot_next[:] = 0.0
    l2[:] = 0.0
    l1[:] = 0.0
    for j in range(0, k - 1, 2):
        wa, wb, qa, qb = W[j], W[j + 1], Q[j], Q[j + 1]
        xa, xb, na, nb = x[j], x[j + 1], x_next[j], x_next[j + 1]
        for c in range(m):
            _update_lane_pair(
                c, wa, wb, qa, qb, xa, xb, na, nb, step, s, inv_s, u, dot_next, l2, l1
            )
    if k % 2:
        w, q, xj, nj = W[k - 1], Q[k - 1], x[k - 1], x_next[k - 1]
        for c in range(m):
            _update_lane(c, w, q, xj, nj, step, s, inv_s, u, dot_next, l2, l1)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _dots(W, x, out):
    """``out[c] = sum_j W[j, c] x[j]``, summed over ``j`` in order."""
    k, m = W.shape
    for c in range(m):
        out[c] = 0.0
    for j in range(k):
        xj = x[j]
        w = W[j]
        for c in range(m):
            out[c] += w[c] * xj


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _class_lane(a, dot, b, pos, live, label, s_seen, eta, inv_s, l2_weight, l1_weight,
                sq_norm, l1_norm, objective, update, step):  # fmt: skip
    """Class ``a``'s prediction, objective term, update and weight step."""
    loss, dloss = logistic_loss_and_gradient(
        dot[a] * s_seen + b[a], 1.0 if label == pos[a] else 0.0
    )
    objective[a] += loss + (l2_weight * sq_norm[a] + l1_weight * l1_norm[a])
    update[a] = -eta * dloss * live[a]
    step[a] = update[a] * inv_s


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _class_step(dot, b, pos, live, label, s_seen, eta, inv_s, l2_weight, l1_weight, sq_norm,
                l1_norm, objective, update, step):  # fmt: skip
    """:func:`_class_lane` for every lane (SIMD across classes); padding lanes
    (``live == 0``) get a zero update, so their weights stay zero."""
    for a in range(dot.shape[0]):
        _class_lane(
            a, dot, b, pos, live, label, s_seen, eta, inv_s, l2_weight, l1_weight,
            sq_norm, l1_norm, objective, update, step,
        )  # fmt: skip


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _after_step(update, l2_acc, l1_acc, s, c_decay, sq_norm, l1_norm, b):
    """The norms scikit-learn keeps (of the update's ``s z``, else decayed), the intercepts."""
    s2 = s * s
    c2 = c_decay * c_decay
    for a in range(update.shape[0]):
        changed = update[a] != 0.0
        new_sq = l2_acc[a] * s2
        old_sq = sq_norm[a] * c2
        new_l1 = l1_acc[a] * s
        old_l1 = l1_norm[a] * c_decay
        sq_norm[a] = new_sq if changed else old_sq
        l1_norm[a] = new_l1 if changed else old_l1
        b[a] += update[a]


@numba.njit(nogil=True, cache=True)
def _padded(m, multiple):
    """``m`` rounded up to a multiple of ``multiple`` (at least one)."""
    return max(multiple, -(-m // multiple) * multiple)


@numba.njit(nogil=True, cache=True)
def _compacted(values, kept, width, fill):
    """``values[kept]`` followed by ``fill`` up to ``width``."""
    out = np.full(width, fill, dtype=values.dtype)
    out[: kept.shape[0]] = values[kept]
    return out


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _fit_shared(X, labels, positives, seed, alpha, l1_ratio, max_iter, tol, n_no_change):
    """All binary problems ``labels == positives[c]`` on one shared sample order.

    The active problems are the first ``m`` columns of ``W``, ``Q`` (width padded to a
    multiple of ``_WEIGHT_LANES``) and of the per-class arrays (padded to a multiple of
    ``_CLASS_LANES``), so that every loop over classes runs in whole SIMD vectors with no
    scalar remainder; padding lanes have ``live == 0`` and zero weights. Returns coef
    (C, k), intercepts (C,), epochs run per problem (C,) and whether all stayed finite.
    """
    n, k = X.shape
    n_problems = positives.shape[0]
    coef = np.zeros((n_problems, k))
    out_b = np.zeros(n_problems)
    out_epochs = np.zeros(n_problems, dtype=np.int64)
    m = n_problems
    mw = _padded(m, _WEIGHT_LANES)
    mc = _padded(m, _CLASS_LANES)
    active = np.full(mc, -1)
    active[:m] = np.arange(m)
    pos = np.full(mc, -1)
    pos[:m] = positives
    live = np.zeros(mc)
    live[:m] = 1.0
    W = np.zeros((k, mw))
    Q = np.zeros((k, mw))
    b = np.zeros(mc)
    sq_norm = np.zeros(mc)
    l1_norm = np.zeros(mc)
    best = np.full(mc, np.inf)
    no_improvement = np.zeros(mc, dtype=np.int64)
    objective = np.zeros(mc)
    dot = np.zeros(mc)
    l2_acc = np.zeros(mc)
    l1_acc = np.zeros(mc)
    update = np.zeros(mc)
    step = np.zeros(mc)
    order = np.arange(n)
    state = np.zeros(1, dtype=np.uint32)
    s = 1.0
    u = 0.0
    t = 1.0
    typw = math.sqrt(1.0 / math.sqrt(alpha))
    eta0 = typw / max(1.0, _gradient(1.0, -typw))
    optimal_init = 1.0 / (eta0 * alpha)
    l2_weight = alpha * (1.0 - l1_ratio) * 0.5
    l1_weight = alpha * l1_ratio
    finite = True
    for epoch in range(max_iter):
        state[0] = np.uint32(seed)  # the same seed every epoch, as scikit-learn passes it
        for i in range(n - 1):
            j = i + int(_rand_r(state) % np.uint32(n - i))
            tmp = order[i]
            order[i] = order[j]
            order[j] = tmp
        objective[:] = 0.0
        _dots(W, X[order[0]], dot)
        for i in range(n):
            r = order[i]
            x = X[r]
            x_next = X[order[i + 1]] if i + 1 < n else x
            if i + 2 < n:  # the row after next, from memory while this step computes
                x_later = X[order[i + 2]]
                for j in range(0, k, 8):
                    prefetch(x_later, j)
                prefetch(x_later, k - 1)
            eta = 1.0 / (alpha * (optimal_init + t - 1.0))
            c_decay = max(0.0, 1.0 - ((1.0 - l1_ratio) * eta * alpha))
            s_seen = s  # the scale the dot products were taken at
            s *= c_decay
            if s < _RESET_WSCALE:
                W *= s
                s = 1.0
            u += l1_ratio * eta * alpha
            inv_s = 1.0 / s
            _class_step(
                dot, b, pos, live, labels[r], s_seen, eta, inv_s, l2_weight, l1_weight,
                sq_norm, l1_norm, objective, update, step,
            )  # fmt: skip
            _step_pass(W, Q, x, x_next, step, s, inv_s, u, dot, l2_acc, l1_acc)
            _after_step(update, l2_acc, l1_acc, s, c_decay, sq_norm, l1_norm, b)
            t += 1.0
        # per-problem stopping; a stopped problem is written out and leaves the block
        keep = np.zeros(m, dtype=np.bool_)
        for a in range(m):
            ok = math.isfinite(b[a])
            for j in range(k):
                ok = ok and math.isfinite(W[j, a])
            finite = finite and ok
            mean = objective[a] / n
            if mean > best[a] - tol:
                no_improvement[a] += 1
            else:
                no_improvement[a] = 0
            if mean < best[a]:
                best[a] = mean
            if no_improvement[a] < n_no_change and epoch + 1 < max_iter and ok:
                keep[a] = True
            else:
                c = active[a]
                for j in range(k):
                    coef[c, j] = W[j, a] * s
                out_b[c] = b[a]
                out_epochs[c] = epoch + 1
        if not finite:
            break
        kept = np.flatnonzero(keep)
        m = kept.shape[0]
        if m == 0:
            break
        if m < keep.shape[0]:  # compact the block (fresh arrays: padding lanes zero)
            mw = _padded(m, _WEIGHT_LANES)
            mc = _padded(m, _CLASS_LANES)
            W_new = np.zeros((k, mw))
            Q_new = np.zeros((k, mw))
            W_new[:, :m] = W[:, kept]
            Q_new[:, :m] = Q[:, kept]
            W, Q = W_new, Q_new
            active = _compacted(active, kept, mc, -1)
            pos = _compacted(pos, kept, mc, -1)
            live = _compacted(live, kept, mc, 0.0)
            b = _compacted(b, kept, mc, 0.0)
            sq_norm = _compacted(sq_norm, kept, mc, 0.0)
            l1_norm = _compacted(l1_norm, kept, mc, 0.0)
            best = _compacted(best, kept, mc, np.inf)
            no_improvement = _compacted(no_improvement, kept, mc, 0)
            objective = np.zeros(mc)
            dot = np.zeros(mc)
            l2_acc = np.zeros(mc)
            l1_acc = np.zeros(mc)
            update = np.zeros(mc)
            step = np.zeros(mc)
    return coef, out_b, out_epochs, finite


@numba.njit(nogil=True, cache=True, parallel=True)
def _fit_blocks(X, labels, positives, bounds, seed, alpha, l1_ratio, max_iter, tol, n_no_change):
    """:func:`_fit_shared` on the blocks ``positives[bounds[i]:bounds[i + 1]]``, in parallel.

    Every problem's steps depend only on its own weights and on the shared order and
    schedule, so the result does not depend on the blocks.
    """
    n_problems = positives.shape[0]
    coef = np.zeros((n_problems, X.shape[1]))
    intercept = np.zeros(n_problems)
    epochs = np.zeros(n_problems, dtype=np.int64)
    finite = np.ones(bounds.shape[0] - 1, dtype=np.bool_)
    for blk in numba.prange(bounds.shape[0] - 1):
        lo, hi = bounds[blk], bounds[blk + 1]
        c, b, e, f = _fit_shared(
            X, labels, positives[lo:hi], seed, alpha, l1_ratio, max_iter, tol, n_no_change
        )
        coef[lo:hi] = c
        intercept[lo:hi] = b
        epochs[lo:hi] = e
        finite[blk] = f
    return coef, intercept, epochs, finite.all()


def sgd_ovr_elastic_net_shared(
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
    r"""One-vs-rest elastic-net SGD, all classes on one shared sample order, compiled.

    Parameters
    ----------
    X : ndarray of shape (n, k)
        Features (cast to float64).
    y : ndarray of shape (n,)
        Class indices ``0..C-1``, every class present, ``C >= 2``.
    alpha, l1_ratio, max_iter, tol, n_iter_no_change
        As in ``SGDClassifier``.
    random_state : int
        Seeds the shared order (a ``numpy.random.RandomState`` draw).

    Returns
    -------
    coef : ndarray of shape (C, k) or (1, k) for two classes
    intercept : ndarray of shape (C,) or (1,)
    n_iter : int
        The most epochs any class ran.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4)); y = np.argmax(X[:, :3], axis=1)
    >>> coef, b, epochs = sgd_ovr_elastic_net_shared(
    ...     X, y, alpha=1e-3, l1_ratio=0.99, max_iter=1000, tol=1e-3, random_state=7)
    >>> coef.shape, bool(np.mean(np.argmax(X @ coef.T + b, axis=1) == y) > 0.9)
    ((3, 4), True)
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.int64)
    n_classes = int(y.max()) + 1
    positives = np.array([1]) if n_classes == 2 else np.arange(n_classes)
    seed = int(np.random.RandomState(random_state).randint(_MAX_INT))
    # one block per thread, at least _CLASS_LANES problems each
    n_blocks = max(1, min(numba.get_num_threads(), len(positives) // _CLASS_LANES))
    bounds = np.linspace(0, len(positives), n_blocks + 1).round().astype(np.int64)
    coef, intercept, epochs, finite = _fit_blocks(
        X, y, positives.astype(np.int64), bounds, seed, float(alpha), float(l1_ratio),
        int(max_iter), float(tol), int(n_iter_no_change),
    )  # fmt: skip
    raise_on_overflow(bool(finite), epochs)
    return coef, intercept, int(epochs.max())
