r"""Elastic-net multinomial logistic regression by proximal SAGA, along a path of penalties.

This is the sparse final layer of Label-free CBM (Oikarinen et al., ICLR 2023), which uses
the GLM-SAGA solver of Wong, Santurkar & Mądry (ICML 2021, ``madrylab/glm_saga``). The
module is a pure function: arrays in, a :class:`GLMPath` out; nothing is stored.

Problem, for standardised features :math:`X \in \mathbb{R}^{n\times k}`, labels
:math:`y_i \in \{0..C-1\}`, one-hot :math:`Y`, weights :math:`W \in \mathbb{R}^{C\times k}`
and an unpenalised bias :math:`b \in \mathbb{R}^C`:

.. math::

    \min_{W,b}\; \frac1n \sum_i -\log \operatorname{softmax}(W x_i + b)_{y_i}
    \;+\; \lambda\Big(\alpha \lVert W\rVert_1 + \frac{1-\alpha}{2}\lVert W\rVert_2^2\Big).

with :math:`\alpha` the L1 share of the elastic net (``l1_ratio``).

Solver (as in ``glm_saga.elasticnet.train_saga``): mini-batch proximal SAGA. A table keeps
the last residual :math:`a_i = \operatorname{softmax}(W x_i + b) - Y_i` seen for every example;
for a batch :math:`B` the variance-reduced gradient is
:math:`g = \frac1{|B|}\sum_{i\in B}(a_i - a_i^{\text{old}})x_i^\top + \bar g` (:math:`\bar g`
the running average of the table's gradients), then

.. math::

    W \leftarrow \frac{S_{\eta\lambda\alpha}(W - \eta g)}{1 + \eta\lambda(1-\alpha)},\qquad
    b \leftarrow b - \eta g_b,

with :math:`S_t(v) = \operatorname{sign}(v)\max(|v|-t, 0)` (the proximal operator of the
elastic-net penalty). With one batch holding all examples this is plain proximal gradient
descent. A penalty stops when one update moves :math:`(W, b)` by at most ``tol`` (Euclidean
norm), or after ``max_epochs`` epochs.

Path: :math:`\lambda_{\max} = \max_{cj} |X^\top (Y - \bar Y)|_{jc} / (n\alpha)` is the smallest
penalty at which :math:`W = 0` is optimal (the KKT condition at :math:`W=0` with the bias at
its optimum, :math:`\operatorname{softmax}(b) = \bar Y`). The path runs down ``n_lambdas``
log-spaced values to :math:`\varepsilon\lambda_{\max}`, each solve warm-started from the
previous one (weights and SAGA table), as the reference does. With a limit on the non-zero
weights per class the walk stops at the first point over the limit and bisects in
:math:`\log\lambda` towards it (bottlekit's addition, see :func:`glm_saga_path`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from bottlekit._checks import check_number
from bottlekit.devices import as_tensor, resolve_device

__all__ = ["MAX_N_LAMBDAS", "NONZERO_THRESHOLD", "GLMPath", "glm_saga_path", "lambda_max"]

#: Most penalties on an automatic path (the reference walks up to 150; 10**9 allocated
#: 7.5 GiB of penalties, or ran for ever).
MAX_N_LAMBDAS = 1000

#: A weight counts as non-zero when its magnitude exceeds this (the reference's threshold).
NONZERO_THRESHOLD = 1e-5


@dataclass
class GLMPath:
    """Solutions along an elastic-net path.

    Attributes
    ----------
    lambdas : ndarray (m,)
        Penalties solved, in the order solved: decreasing along the path, then (when a
        non-zero limit broke) the bisection points, which lie between the last two.
    weights : ndarray (m, C, k)
        ``W`` at each penalty.
    biases : ndarray (m, C)
        ``b`` at each penalty.
    nonzero : ndarray of int (m, C)
        Non-zero weights (``|w| > NONZERO_THRESHOLD``) per class at each penalty.
    epochs : ndarray of int (m,)
        Epochs run at each penalty.
    converged : ndarray of bool (m,)
        Whether the ``tol`` criterion stopped that solve (False: ``max_epochs`` reached).
    selected : int
        Index of the chosen point (see :func:`glm_saga_path`).
    lambda_max : float
        The smallest penalty with an all-zero ``W``.
    """

    lambdas: np.ndarray
    weights: np.ndarray
    biases: np.ndarray
    nonzero: np.ndarray
    epochs: np.ndarray
    converged: np.ndarray
    selected: int
    lambda_max: float

    @property
    def weight(self) -> np.ndarray:
        """``W`` at the selected point, (C, k)."""
        return self.weights[self.selected]

    @property
    def bias(self) -> np.ndarray:
        """``b`` at the selected point, (C,)."""
        return self.biases[self.selected]

    @property
    def lam(self) -> float:
        """Penalty at the selected point."""
        return float(self.lambdas[self.selected])


def _check_inputs(X, y, n_classes):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X: expected a non-empty 2-d array (n, k), got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X: contains NaN or infinite values; expected finite numbers")
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y: expected shape ({X.shape[0]},) to match X, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"y: expected integer class indices, got dtype {y.dtype}")
    if n_classes is None:
        n_classes = int(y.max()) + 1
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(
            f"y: class indices must lie in 0..{n_classes - 1}, got {y.min()}..{y.max()}"
        )
    if n_classes < 2:
        raise ValueError(f"n_classes: expected >= 2, got {n_classes}")
    return X, y.astype(np.int64), int(n_classes)


def lambda_max(
    X: np.ndarray, y: np.ndarray, l1_ratio: float, n_classes: int | None = None
) -> float:
    r"""Smallest elastic-net penalty at which the optimal ``W`` is all zero.

    :math:`\lambda_{\max} = \max_{jc} |X^\top(Y-\bar Y)|_{jc} / (n \max(\alpha, 10^{-3}))`.

    Parameters
    ----------
    X : array (n, k)
    y : int array (n,)
    l1_ratio : float
        L1 share of the penalty.
    n_classes : int, optional

    Returns
    -------
    float

    Examples
    --------
    >>> lambda_max(np.array([[1.0], [-1.0]]), np.array([0, 1]), l1_ratio=1.0)
    0.5
    """
    X, y, n_classes = _check_inputs(X, y, n_classes)
    Y = np.eye(n_classes)[y]
    inner = X.T @ (Y - Y.mean(0))
    return float(np.abs(inner).max() / X.shape[0] / max(l1_ratio, 1e-3))


#: Below this many multiply-adds per update, CPU solves run on one thread (see below).
SMALL_WORK = 1 << 22


@contextlib.contextmanager
def cpu_threads_for(device: torch.device, work: int) -> Iterator[None]:
    """Run small CPU problems on one intra-op thread, then restore the thread count.

    The updates are many tiny matrix products; splitting each over threads costs more in
    synchronisation than it saves, and on a busy machine it can be 30x slower. Problems with
    at least ``SMALL_WORK`` multiply-adds per update, and CUDA ones, keep the settings.
    """
    if device.type != "cpu" or work >= SMALL_WORK or torch.get_num_threads() == 1:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _prox(W: torch.Tensor, step: float, lam: float, l1_ratio: float) -> torch.Tensor:
    """Proximal operator of step * lam * (l1_ratio |W|_1 + (1 - l1_ratio)/2 |W|_2^2)."""
    shrunk = torch.nn.functional.softshrink(W, step * lam * l1_ratio) if lam * l1_ratio > 0 else W
    return shrunk / (1.0 + step * lam * (1.0 - l1_ratio))


def _saga_solve(X, Y, W, b, state, *, lam, l1_ratio, step, max_epochs, tol, batch_size, rng):
    """Run proximal SAGA at one penalty, in place on W, b and the state; return (epochs, ok)."""
    n = X.shape[0]
    table, w_avg, b_avg = state
    tol_sq = tol * tol
    starts = range(0, n, batch_size)
    for epoch in range(1, max_epochs + 1):
        if batch_size < n:
            order = torch.as_tensor(rng.permutation(n), device=X.device)
            Xp, Yp = X[order], Y[order]
        else:
            order, Xp, Yp = None, X, Y
        for start in starts:
            sl = slice(start, start + batch_size)
            xb = Xp[sl]
            idx = sl if order is None else order[sl]
            a = torch.softmax(torch.addmm(b, xb, W.T), dim=1).sub_(Yp[sl])
            diff = a - table[idx]
            m = xb.shape[0]
            gw_diff = diff.T @ xb / m
            gb_diff = diff.mean(0)
            W_new = _prox(W - step * (gw_diff + w_avg), step, lam, l1_ratio)
            b_new = b - step * (gb_diff + b_avg)
            table[idx] = a
            w_avg.add_(gw_diff, alpha=m / n)
            b_avg.add_(gb_diff, alpha=m / n)
            moved_sq = (W_new - W).square().sum() + (b_new - b).square().sum()
            if moved_sq.item() <= tol_sq:
                return epoch, True
            W.copy_(W_new)
            b.copy_(b_new)
    return max_epochs, False


def glm_saga_path(
    X: np.ndarray,
    y: np.ndarray,
    *,
    l1_ratio: float = 0.99,
    step_size: float = 0.1,
    lambdas: np.ndarray | list[float] | None = None,
    n_lambdas: int = 100,
    lambda_min_ratio: float = 1e-3,
    max_nonzero_per_class: int | None = None,
    refine_steps: int = 4,
    max_epochs: int = 1000,
    tol: float = 1e-4,
    batch_size: int | None = 256,
    n_classes: int | None = None,
    random_state: int | np.random.Generator | None = None,
    device: str | torch.device | None = "cpu",
) -> GLMPath:
    r"""Solve the elastic-net multinomial logistic regression along a decreasing penalty path.

    See the module docstring for the objective and the update. Defaults are the reference's:
    step 0.1, :math:`\alpha = 0.99`, 100 penalties down to :math:`10^{-3}\lambda_{\max}`,
    batches of 256, ``tol`` 1e-4, 1000 epochs per penalty. glm_saga's path also ends with an
    unpenalised point (its default ``do_zero=True``); this one ends at
    ``lambda_min_ratio`` :math:`\lambda_{\max}`.

    Parameters
    ----------
    X : array (n, k)
        Features, ideally standardised (the step size assumes unit-scale columns).
    y : int array (n,)
        Class indices in ``0..n_classes-1``.
    l1_ratio : float in (0, 1]
        L1 share of the penalty.
    step_size : float > 0
        Proximal-gradient step :math:`\eta`.
    lambdas : sequence of float, optional
        Explicit penalties (solved in the order given, warm-started); overrides the
        automatic path. A single value reproduces Label-free CBM's ``train_cbm.py``.
    n_lambdas : int in [1, MAX_N_LAMBDAS]
        Number of penalties on the automatic path (at most 1000).
    lambda_min_ratio : float in (0, 1]
        Last penalty of the automatic path as a fraction of :math:`\lambda_{\max}`.
    max_nonzero_per_class : int, optional
        Walk down the path only while every class has at most this many non-zero weights.
        At the first point that breaks the limit the walk stops, and ``refine_steps``
        bisections in :math:`\log\lambda` between the last good and that point (each
        warm-started from the last good solution) move the choice closer to the limit; the
        point returned (``selected``) is the smallest penalty solved that respects it.
        None: walk the whole path, select the last point.
    refine_steps : int >= 0
        Bisections after the limit breaks (0: the reference's plain path).
    max_epochs : int >= 1
        Epochs per penalty.
    tol : float >= 0
        Stop a penalty when one update moves the parameters by at most this.
    batch_size : int, optional
        Mini-batch size; None means one batch of all examples (proximal gradient descent).
    n_classes : int, optional
        Number of classes (default ``max(y) + 1``).
    random_state : int or Generator, optional
        Seeds the batch shuffling.
    device : str or torch.device, optional
        Where the solve runs (``None``: CUDA when available).

    Returns
    -------
    GLMPath

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> path = glm_saga_path(X, y, n_lambdas=10, max_nonzero_per_class=1, random_state=0)
    >>> int(path.nonzero[path.selected].max())
    1
    """
    X, y, n_classes = _check_inputs(X, y, n_classes)
    if not (isinstance(l1_ratio, (int, float)) and 0.0 < l1_ratio <= 1.0):
        raise ValueError(f"l1_ratio: expected a float in (0, 1], got {l1_ratio!r}")
    if not (isinstance(step_size, (int, float)) and step_size > 0 and math.isfinite(step_size)):
        raise ValueError(f"step_size: expected a positive finite float, got {step_size!r}")
    if not (isinstance(max_epochs, (int, np.integer)) and max_epochs >= 1):
        raise ValueError(f"max_epochs: expected an int >= 1, got {max_epochs!r}")
    if not (isinstance(tol, (int, float)) and tol >= 0):
        raise ValueError(f"tol: expected a float >= 0, got {tol!r}")
    if batch_size is not None and not (
        isinstance(batch_size, (int, np.integer)) and batch_size >= 1
    ):
        raise ValueError(f"batch_size: expected an int >= 1 or None, got {batch_size!r}")
    if not (isinstance(refine_steps, (int, np.integer)) and refine_steps >= 0):
        raise ValueError(f"refine_steps: expected an int >= 0, got {refine_steps!r}")
    if max_nonzero_per_class is not None and not (
        isinstance(max_nonzero_per_class, (int, np.integer)) and max_nonzero_per_class >= 0
    ):
        raise ValueError(
            f"max_nonzero_per_class: expected an int >= 0 or None, got {max_nonzero_per_class!r}"
        )
    lam_max = lambda_max(X, y, l1_ratio, n_classes)
    if lambdas is None:
        n_lambdas = check_number(n_lambdas, "n_lambdas", integer=True, low=1, high=MAX_N_LAMBDAS)
        if not (isinstance(lambda_min_ratio, (int, float)) and 0 < lambda_min_ratio <= 1):
            raise ValueError(
                f"lambda_min_ratio: expected a float in (0, 1], got {lambda_min_ratio!r}"
            )
        top = max(lam_max, np.finfo(float).tiny)
        lams = np.geomspace(top, top * lambda_min_ratio, int(n_lambdas))
    else:
        lams = np.atleast_1d(np.asarray(lambdas, dtype=np.float64))
        if lams.ndim != 1 or lams.size == 0 or not np.all(np.isfinite(lams)) or np.any(lams < 0):
            raise ValueError(
                f"lambdas: expected a non-empty list of finite floats >= 0, got {lambdas!r}"
            )
    rng = np.random.default_rng(random_state)
    dev = resolve_device(device)

    n, k = X.shape
    Xt = as_tensor(X, dtype=torch.float64, device=dev)
    Yt = torch.eye(n_classes, dtype=torch.float64, device=dev)[torch.as_tensor(y, device=dev)]
    W = torch.zeros(n_classes, k, dtype=torch.float64, device=dev)
    b = torch.zeros(n_classes, dtype=torch.float64, device=dev)
    state = (torch.zeros_like(Yt), torch.zeros_like(W), torch.zeros_like(b))
    bs = n if batch_size is None else min(int(batch_size), n)

    limit = max_nonzero_per_class
    solved: list[float] = []
    weights, biases, nonzero, epochs, converged = [], [], [], [], []

    def solve(lam: float) -> bool:
        """Solve at ``lam`` from the current state, record it; True if within the limit."""
        ep, ok = _saga_solve(
            Xt, Yt, W, b, state, lam=lam, l1_ratio=float(l1_ratio), step=float(step_size),
            max_epochs=int(max_epochs), tol=float(tol), batch_size=bs, rng=rng,
        )  # fmt: skip
        w_np = W.detach().cpu().numpy().copy()
        nnz = (np.abs(w_np) > NONZERO_THRESHOLD).sum(1)
        solved.append(lam)
        weights.append(w_np)
        biases.append(b.detach().cpu().numpy().copy())
        nonzero.append(nnz)
        epochs.append(ep)
        converged.append(ok)
        return limit is None or int(nnz.max()) <= limit

    def snapshot() -> tuple[torch.Tensor, ...]:
        return (W.clone(), b.clone(), *(t.clone() for t in state))

    def restore(snap: tuple[torch.Tensor, ...]) -> None:
        for dst, src in zip((W, b, *state), snap, strict=True):
            dst.copy_(src)

    selected = -1
    with cpu_threads_for(dev, bs * k * n_classes):
        for lam in lams:
            before = snapshot() if limit is not None else None
            if solve(float(lam)):
                selected = len(solved) - 1
                continue
            # The limit broke between the last good penalty and this one: bisect in
            # log(lambda), warm-starting each trial from the last good solution.
            if selected >= 0:
                good, bad = solved[selected], float(lam)
                for _ in range(int(refine_steps)):
                    mid = math.sqrt(good * bad)
                    restore(before)
                    if solve(mid):
                        selected, good = len(solved) - 1, mid
                        before = snapshot()
                    else:
                        bad = mid
            break
    if selected < 0:
        # Even the first penalty breaks the limit (an explicit `lambdas` below lambda_max):
        # return it rather than nothing, the caller can see `nonzero`.
        selected = 0
    return GLMPath(
        lambdas=np.asarray(solved, dtype=np.float64),
        weights=np.stack(weights),
        biases=np.stack(biases),
        nonzero=np.stack(nonzero).astype(np.int64),
        epochs=np.asarray(epochs, dtype=np.int64),
        converged=np.asarray(converged, dtype=bool),
        selected=int(selected),
        lambda_max=lam_max,
    )
