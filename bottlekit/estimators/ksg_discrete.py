"""Mutual information between a continuous variable and discrete labels (Ross, 2014)."""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma
from sklearn.base import BaseEstimator

from bottlekit._checks import check_positive_int

from ._neighbors import (
    check_jitter,
    check_metric,
    check_positive_radii,
    count_within,
    kth_neighbor,
    preprocess_continuous,
)
from ._validation import (
    as_2d_samples,
    check_no_constant_columns,
    check_random_state,
)

__all__ = ["DiscreteContinuousMutualInformation", "SingletonLabelsWarning"]


class SingletonLabelsWarning(UserWarning):
    """Rows whose label occurs only once were left out of a Ross estimate."""


class DiscreteContinuousMutualInformation(BaseEstimator):
    r"""k-NN estimator of :math:`I(X;Y)` for continuous ``X`` and discrete labels ``y``.

    Ross (2014, PLoS ONE 9:e87357): for each point :math:`i` with label :math:`y_i`, let
    :math:`d_i` be the distance to its :math:`k`-th neighbour among the :math:`N_{y_i}`
    points with the same label, and :math:`m_i` the number of points of *any* label
    within :math:`d_i` (self excluded). Then

    .. math::
        \hat I = \psi(N) - \langle\psi(N_{y_i})\rangle + \psi(k) - \langle\psi(m_i)\rangle .

    Points whose label occurs only once carry no neighbour information and are dropped
    (with a ``UserWarning`` when they are more than 1 % of the rows: the estimate then
    describes the other rows only); for a label with :math:`N_c \le k` points, :math:`k`
    is lowered to :math:`N_c-1`.

    Parameters
    ----------
    k : int, default=3
        Neighbours within the same label (lowered to :math:`N_c - 1` for a label of
        :math:`N_c \le k` rows).
    metric : {"chebyshev", "euclidean"}, default="chebyshev"
    tree : {"kd", "ball"}, default="kd"
    standardize : bool, default=True
        Scale ``X`` columns to unit variance.
    jitter : float in [0, 1], default=1e-10
        Relative noise against ties in ``X`` (a fraction of each column's standard
        deviation).
    n_jobs : int or None, default=1
        Threads for tree queries (``-1``: all cores).
    random_state : int, numpy Generator or None
        Seed of the jitter noise.

    Attributes
    ----------
    mi_ : float
        Estimate in nats.
    classes_ : ndarray
        Distinct labels.
    n_dropped_ : int
        Rows left out because their label occurs only once (a warning,
        :class:`SingletonLabelsWarning`, when they are more than 1 %).

    Warns
    -----
    HeavyTailWarning
        If a continuous column's standard deviation exceeds 10 times its robust spread (IQR
        / 1.349): outliers or a heavy tail, which bias the estimate towards 0. Transform the
        column (e.g. a log or normal scores of its ranks).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 3000)
    >>> x = rng.standard_normal(3000) + 4.0 * y   # true I = 0.6327 (numerical integration)
    >>> est = DiscreteContinuousMutualInformation().fit(x, y)
    >>> bool(abs(est.mi_ - 0.6327) < 0.03)
    True
    """

    def __init__(
        self,
        k: int = 3,
        metric: str = "chebyshev",
        tree: str = "kd",
        standardize: bool = True,
        jitter: float = 1e-10,
        n_jobs: int | None = 1,
        random_state: int | np.random.Generator | None = None,
    ):
        self.k = k
        self.metric = metric
        self.tree = tree
        self.standardize = standardize
        self.jitter = jitter
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X: ArrayLike, y: ArrayLike) -> DiscreteContinuousMutualInformation:
        """Estimate :math:`I(X;y)` from ``X`` (n, d) continuous and ``y`` (n,) labels.

        Parameters
        ----------
        X : array-like of shape (n,) or (n, d)
            Continuous samples, at least ``k + 1`` rows; a 1-D array is one column.
        y : array-like of shape (n,) or (n, 1)
            Labels paired row by row with ``X`` (any values ``np.unique`` can sort; no
            NaN or inf).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        k = check_positive_int(self.k, "k")
        check_metric(self.metric)
        jitter = check_jitter(self.jitter)
        X = as_2d_samples(X, "X", min_samples=k + 1, why=f"k={k} needs k + 1")
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"y must be a 1-D array of labels, got shape {y.shape}")
        if y.dtype.kind in "fc" and not np.all(np.isfinite(y)):
            # np.unique makes one class of all the NaNs
            bad = int(np.size(y) - np.count_nonzero(np.isfinite(y)))
            raise ValueError(f"y contains {bad} NaN or infinite label(s); expected labels")
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                f"X and y must have the same number of samples; got {X.shape[0]} and {y.shape[0]}"
            )
        check_no_constant_columns(X, "X", "ksg (discrete y)")
        rng = check_random_state(self.random_state)
        X = preprocess_continuous(
            X,
            name="X",
            standardize=self.standardize,
            jitter=jitter,
            rng=rng,
            metric=self.metric,
        )
        classes, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
        n_all = X.shape[0]
        radius = np.zeros(n_all)
        k_used = np.zeros(n_all, dtype=np.int64)
        keep = counts[codes] > 1
        for c, n_c in enumerate(counts):
            if n_c < 2:
                continue
            members = np.flatnonzero(codes == c)
            kc = min(k, n_c - 1)
            dist, _ = kth_neighbor(
                X[members], kc, metric=self.metric, tree=self.tree, n_jobs=self.n_jobs
            )
            radius[members] = dist[:, -1]
            k_used[members] = kc
        if not np.any(keep):
            raise ValueError("y has no label that occurs at least twice; cannot estimate MI")
        n_dropped = n_all - int(keep.sum())
        if n_dropped > 0.01 * n_all:
            # 45 singletons of 50 rows gave 0.0 (the one label left) without a word
            warnings.warn(
                f"y has {n_dropped} of {n_all} rows ({n_dropped / n_all:.0%}) with a label "
                "that occurs only once; they carry no neighbour information and are left "
                "out, so the estimate describes the other rows only (merge rare labels or "
                "use method='ksg' if y is continuous)",
                SingletonLabelsWarning,
                stacklevel=2,
            )
        check_positive_radii(radius[keep], "X (within a label of y)", "mutual information")
        Xk = X[keep]
        m = count_within(
            Xk, radius[keep], strict=False, metric=self.metric, tree=self.tree, n_jobs=self.n_jobs
        )
        m = np.maximum(m, k_used[keep])
        n = int(keep.sum())
        mi = (
            digamma(n)
            - np.mean(digamma(counts[codes[keep]]))
            + np.mean(digamma(k_used[keep]))
            - np.mean(digamma(m))
        )
        self.mi_ = float(mi)
        self.n_dropped_ = n_dropped
        self.classes_ = classes
        self.n_samples_ = n
        return self
