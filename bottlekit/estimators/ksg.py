"""Kraskov–Stögbauer–Grassberger (KSG) k-nearest-neighbour mutual information."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma
from sklearn.base import BaseEstimator

from bottlekit._checks import check_positive_int, is_number, shown_value

from ._neighbors import (
    check_jitter,
    check_positive_radii,
    count_within,
    kth_neighbor,
    preprocess_continuous,
)
from ._validation import (
    as_2d_samples,
    check_no_constant_columns,
    check_paired,
    check_random_state,
)

__all__ = ["KSGMutualInformation"]


def _count_marginals(X, Y, radius_x, radius_y, *, strict: bool, tree: str, n_jobs):
    """Max-norm neighbour counts in the X and Y marginals (:func:`._neighbors.count_within`).

    With ``n_jobs != 1`` the two marginals run on two threads when each is a single
    (sequential) sweep, i.e. of one or two coordinates; tree counts (d >= 3) thread over
    rows themselves and run one after the other.
    """
    opts = {"strict": strict, "metric": "chebyshev", "tree": tree, "n_jobs": n_jobs}
    sweeps = tree == "kd" and max(X.shape[1], Y.shape[1]) <= 2
    if n_jobs in (None, 1) or not sweeps:
        return count_within(X, radius_x, **opts), count_within(Y, radius_y, **opts)
    with ThreadPoolExecutor(max_workers=2) as pool:
        fx = pool.submit(count_within, X, radius_x, **opts)
        ny = count_within(Y, radius_y, **opts)
        return fx.result(), ny


class KSGMutualInformation(BaseEstimator):
    r"""KSG estimator of the mutual information :math:`I(X;Y)` in nats.

    With the max-norm on the joint space :math:`Z=(X,Y)`,
    :math:`\|z-z'\| = \max(\|x-x'\|_\infty, \|y-y'\|_\infty)`, and :math:`\psi` the digamma
    function, the two estimators of Kraskov, Stögbauer & Grassberger (2004) are

    * algorithm 1: :math:`\hat I = \psi(k) + \psi(N) - \langle \psi(n_x+1) + \psi(n_y+1)
      \rangle`, where :math:`\epsilon_i` is the distance from :math:`z_i` to its k-th
      neighbour and :math:`n_x(i) = \#\{j \ne i: \|x_j-x_i\| < \epsilon_i\}`;
    * algorithm 2: :math:`\hat I = \psi(k) - 1/k + \psi(N) - \langle \psi(n_x) + \psi(n_y)
      \rangle`, where :math:`\epsilon_x(i)` is the largest x-distance among the k
      neighbours and :math:`n_x(i) = \#\{j \ne i: \|x_j-x_i\| \le \epsilon_x(i)\}`.

    Parameters
    ----------
    k : int, default=3
        Number of neighbours. Larger ``k`` lowers the variance and raises the bias.
    algorithm : {1, 2}, default=1
        KSG algorithm (1 has lower bias for high MI in low dimension, 2 lower variance).
    tree : {"kd", "ball"}, default="kd"
        ``"kd"``: a compiled max-norm k-d tree (:mod:`bottlekit.estimators._maxnorm_tree`,
        threads via ``n_jobs``), with marginals of one or two columns counted without a
        tree (binary searches and a Fenwick-tree sweep,
        :mod:`bottlekit.estimators._chebyshev_counts`);
        ``"ball"``: :class:`sklearn.neighbors.BallTree` (better for high dimension).
        Both give identical neighbours and counts.
    standardize : bool, default=True
        Scale every column to unit variance first. MI is invariant to this, the max-norm
        is not, so without it the estimate depends on units.
    copula : bool, default=False
        Replace every column by the normal scores of its ranks first. The estimate then
        depends only on ranks, so it is exactly invariant under strictly increasing
        per-coordinate maps (MI itself is invariant under them; plain KSG only
        approximately). Helps on heavy-tailed or skewed marginals.
    jitter : float in [0, 1], default=1e-10
        Standard deviation of Gaussian noise added to each column to break ties, as a
        fraction of the column's standard deviation; ties make neighbour distances zero and
        the estimator undefined. At most 1: larger noise swamps the data.
    n_jobs : int or None, default=1
        Threads for tree queries (``-1``: all cores).
    random_state : int, numpy Generator or None
        Seed of the jitter noise.

    Attributes
    ----------
    mi_ : float
        Estimated mutual information in nats (can be slightly negative near 0).
    n_samples_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(2000)
    >>> y = 0.8 * x + 0.6 * rng.standard_normal(2000)
    >>> mi = KSGMutualInformation(k=3).fit(x, y).mi_
    >>> bool(abs(mi - (-0.5 * np.log(1 - 0.8**2))) < 0.05)
    True
    """

    def __init__(
        self,
        k: int = 3,
        algorithm: int = 1,
        tree: str = "kd",
        standardize: bool = True,
        copula: bool = False,
        jitter: float = 1e-10,
        n_jobs: int | None = 1,
        random_state: int | np.random.Generator | None = None,
    ):
        self.k = k
        self.algorithm = algorithm
        self.tree = tree
        self.standardize = standardize
        self.copula = copula
        self.jitter = jitter
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X: ArrayLike, Y: ArrayLike) -> KSGMutualInformation:
        """Estimate :math:`I(X;Y)` from paired samples ``X`` (n, dx) and ``Y`` (n, dy)."""
        k = check_positive_int(self.k, "k")
        algorithm = self.algorithm
        # checked as an int first: an array of two would make `in` ambiguous
        if not is_number(algorithm, integer=True) or algorithm not in (1, 2):
            raise ValueError(f"algorithm must be 1 or 2, got {shown_value(algorithm)}")
        jitter = check_jitter(self.jitter)
        X = as_2d_samples(X, "X", min_samples=k + 1, why=f"k={k} needs k + 1")
        Y = as_2d_samples(Y, "Y", min_samples=k + 1, why=f"k={k} needs k + 1")
        check_paired(X, Y)
        check_no_constant_columns(X, "X", "ksg")
        check_no_constant_columns(Y, "Y", "ksg")
        rng = check_random_state(self.random_state)
        opts = {"standardize": self.standardize, "jitter": jitter, "rng": rng}
        X = preprocess_continuous(X, name="X", copula=self.copula, **opts)
        Y = preprocess_continuous(Y, name="Y", copula=self.copula, **opts)
        n = X.shape[0]
        Z = np.hstack([X, Y])
        dist, idx = kth_neighbor(Z, k, metric="chebyshev", tree=self.tree, n_jobs=self.n_jobs)
        check_positive_radii(dist[:, -1], "(X, Y)", "mutual information")
        opts = {"tree": self.tree, "n_jobs": self.n_jobs}
        if self.algorithm == 1:
            eps = dist[:, -1]
            nx, ny = _count_marginals(X, Y, eps, eps, strict=True, **opts)
            mi = digamma(k) + digamma(n) - np.mean(digamma(nx + 1) + digamma(ny + 1))
        else:
            eps_x = np.max(np.abs(X[idx] - X[:, None, :]).max(axis=2), axis=1)
            eps_y = np.max(np.abs(Y[idx] - Y[:, None, :]).max(axis=2), axis=1)
            # At least the k neighbours lie within eps_x; guard against rounding at the edge.
            nx, ny = _count_marginals(X, Y, eps_x, eps_y, strict=False, **opts)
            nx, ny = np.maximum(nx, k), np.maximum(ny, k)
            mi = digamma(k) - 1.0 / k + digamma(n) - np.mean(digamma(nx) + digamma(ny))
        self.mi_ = float(mi)
        self.n_samples_ = n
        return self
