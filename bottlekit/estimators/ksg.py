"""Kraskov–Stögbauer–Grassberger (KSG) k-nearest-neighbour mutual information."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma
from sklearn.base import BaseEstimator

from bottlekit._checks import check_positive_int, is_number, shown_value

from ._neighbors import (
    check_enough_rows,
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

__all__ = ["KSGMutualInformation", "MixedKSGMutualInformation"]


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
        At least ``k + 2`` rows are needed (with ``k + 1`` the estimate is a constant).
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
        the estimator undefined. At most 1: larger noise swamps the data. With
        ``copula=True`` no noise is added: any ``jitter > 0`` gives tied values distinct
        ranks in a seeded random order. For data with repeated values (integers, atoms)
        :class:`MixedKSGMutualInformation` uses the ties instead of breaking them.
    n_jobs : int or None, default=1
        Threads for tree queries (``-1``: all cores).
    random_state : int, numpy Generator or None
        Seed of the jitter noise.

    Attributes
    ----------
    mi_ : float
        Estimated mutual information in nats (can be slightly negative near 0).
    n_samples_ : int

    Warns
    -----
    HeavyTailWarning
        Without ``copula``, if a continuous column's standard deviation exceeds 10 times its
        robust spread (IQR / 1.349): outliers or a heavy tail, which bias the estimate
        towards 0. Use ``copula=True`` or transform the column.

    See Also
    --------
    MixedKSGMutualInformation : the same estimate where no rows tie, and consistent for
        discrete and discrete-continuous mixtures, where rows do.

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
        """Estimate :math:`I(X;Y)` from paired samples ``X`` (n, dx) and ``Y`` (n, dy).

        Parameters
        ----------
        X : array-like of shape (n,) or (n, dx)
            Real samples of ``X``, at least ``k + 1`` rows; a 1-D array is one column.
        Y : array-like of shape (n,) or (n, dy)
            Real samples of ``Y``, paired row by row with ``X``.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        k = check_positive_int(self.k, "k")
        algorithm = self.algorithm
        # checked as an int first: an array of two would make `in` ambiguous
        if not is_number(algorithm, integer=True) or algorithm not in (1, 2):
            raise ValueError(f"algorithm must be 1 or 2, got {shown_value(algorithm)}")
        jitter = check_jitter(self.jitter)
        X = as_2d_samples(X, "X", min_samples=k + 1, why=f"k={k} needs k + 1")
        Y = as_2d_samples(Y, "Y", min_samples=k + 1, why=f"k={k} needs k + 1")
        check_paired(X, Y)
        check_enough_rows(X.shape[0], k, "KSG")
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


#: Relative tolerance below which a marginal distance counts as equal to the radius
#: (:class:`MixedKSGMutualInformation`): on lattice data many distances equal the radius,
#: and the rounding of a shift or of the standardization put some of them just below it.
_TIE_RTOL = 1e-9


def _copies(A: np.ndarray) -> np.ndarray:
    """Number of *other* rows equal to each row of ``A`` (max-norm distance 0)."""
    # np.unique compares values: -0.0 and 0.0, at distance 0, are one value
    _, inverse, counts = np.unique(A, axis=0, return_inverse=True, return_counts=True)
    return counts[inverse.ravel()] - 1


class MixedKSGMutualInformation(BaseEstimator):
    r"""Mixed KSG estimator of :math:`I(X;Y)` for discrete, continuous and mixed data.

    Gao, Kannan, Oh & Viswanath ("Estimating mutual information for discrete-continuous
    mixtures", NeurIPS 2017) keep the ties that :class:`KSGMutualInformation` breaks with
    its jitter. With the max-norm on :math:`Z=(X,Y)`, let :math:`\rho_i` be the distance
    from :math:`z_i` to its k-th neighbour. Where :math:`\rho_i > 0`,
    :math:`\tilde k_i = k` and :math:`n_x(i) = \#\{j \ne i: \|x_j-x_i\| < \rho_i\}`
    (likewise :math:`n_y`; a distance within a relative :math:`10^{-9}` of
    :math:`\rho_i` counts as :math:`\rho_i`, so that the rounding of a shift or of the
    standardization does not split the ties of lattice data); where :math:`\rho_i = 0`
    (at least k other rows equal :math:`z_i`), :math:`\tilde k_i` is the number of rows
    equal to :math:`z_i`, itself included, and :math:`n_x(i) = \#\{j \ne i: x_j = x_i\}`
    (likewise :math:`n_y`). Then

    .. math::
        \hat I = \psi(N) + \big\langle \psi(\tilde k_i) - \psi(n_x(i)+1)
        - \psi(n_y(i)+1) \big\rangle .

    This is the authors' reference code (``wgao9/mixed_KSG``, ``Mixed_KSG``: digammas
    throughout, the tied row itself counted in :math:`\tilde k_i`) with :math:`\psi(N)`
    for its :math:`\log N` (they differ by about :math:`1/(2N)`). The algorithm as stated
    in the text, :math:`\psi(\tilde k_i) + \log N - \log(n_x(i)+1) - \log(n_y(i)+1)` with
    counts within :math:`\le\rho_i` and :math:`\tilde k_i` the *other* tied rows, is
    biased low on discrete data (0.201 against 0.263 here on 200 rows of
    ``x``, ``b`` uniform on {0, 1, 2}, ``y = (x + b) % 4``, whose plug-in MI is 0.271). So:

    * without tied rows it is :class:`KSGMutualInformation` with ``algorithm=1`` and
      ``jitter=0`` (to the last bit, unless a distance lies within a relative
      :math:`10^{-9}` of a radius);
    * on purely discrete data whose every distinct row occurs more than k times it is
      :math:`\hat H_\psi(X) + \hat H_\psi(Y) - \hat H_\psi(X,Y)` with
      :math:`\hat H_\psi = \psi(N) - \sum_c \tfrac{N_c}{N}\psi(N_c)` (:math:`N_c` the
      count of value :math:`c`), Grassberger's digamma correction of the plug-in
      entropies, whose leading bias it removes as Miller–Madow does;
    * it is consistent for mixtures (atoms, zero-inflated or censored values, a discrete
      variable against a continuous one).

    :class:`KSGMutualInformation` breaks such ties with its jitter and then measures the
    shape of the jitter's tiny clouds: on discrete data that came close, but moved with the
    jitter's seed (1.1074 and 1.0998 for :math:`\log 3 = 1.0986` with two seeds at
    N = 20,000, where this estimate is 1.0986).
    Where a distinct row occurs at most k times the neighbourhood reaches to other values
    and the estimate is biased (as KSG's); use a small k, or more samples, for sparse
    discrete data.

    Parameters
    ----------
    k : int, default=3
        Number of neighbours. Larger ``k`` lowers the variance and raises the bias.
        At least ``k + 2`` rows are needed (with ``k + 1`` the estimate is a constant).
    tree : {"kd", "ball"}, default="kd"
        As for :class:`KSGMutualInformation`.
    standardize : bool, default=True
        Scale every column to unit variance first (equal values stay equal).
    copula : bool, default=False
        Replace every column by the normal scores of its ranks first (tied values get
        their average rank, so ties are kept).
    n_jobs : int or None, default=1
        Threads for tree queries (``-1``: all cores).

    Attributes
    ----------
    mi_ : float
        Estimated mutual information in nats (can be slightly negative near 0).
    n_samples_ : int
    n_tied_ : int
        Rows with :math:`\rho_i = 0` (more than k other rows equal to them).

    Warns
    -----
    HeavyTailWarning
        Without ``copula``, if a continuous column's standard deviation exceeds 10 times its
        robust spread (IQR / 1.349): outliers or a heavy tail, which bias the estimate
        towards 0. Use ``copula=True`` or transform the column.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.integers(0, 5, 4000)                  # discrete
    >>> y = x + 2 * rng.random(4000)                  # continuous given x
    >>> mi = MixedKSGMutualInformation().fit(x, y).mi_
    >>> bool(abs(mi - (np.log(5) - 0.8 * np.log(2))) < 0.03)   # exact: 1.0550
    True
    >>> labels = rng.integers(0, 3, 4000)
    >>> est = MixedKSGMutualInformation().fit(labels, labels)   # I = H(X) = log 3
    >>> round(est.mi_, 2), est.n_tied_
    (1.1, 4000)
    """

    def __init__(
        self,
        k: int = 3,
        tree: str = "kd",
        standardize: bool = True,
        copula: bool = False,
        n_jobs: int | None = 1,
    ):
        self.k = k
        self.tree = tree
        self.standardize = standardize
        self.copula = copula
        self.n_jobs = n_jobs

    def fit(self, X: ArrayLike, Y: ArrayLike) -> MixedKSGMutualInformation:
        """Estimate :math:`I(X;Y)` from paired samples ``X`` (n, dx) and ``Y`` (n, dy).

        Parameters
        ----------
        X : array-like of shape (n,) or (n, dx)
            Real values; repeated values are kept as ties.
        Y : array-like of shape (n,) or (n, dy)
            Real values paired row by row with ``X``; repeated values are kept as ties.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        k = check_positive_int(self.k, "k")
        X = as_2d_samples(X, "X", min_samples=k + 1, why=f"k={k} needs k + 1")
        Y = as_2d_samples(Y, "Y", min_samples=k + 1, why=f"k={k} needs k + 1")
        check_paired(X, Y)
        check_enough_rows(X.shape[0], k, "mixed KSG")
        check_no_constant_columns(X, "X", "ksg_mixed")
        check_no_constant_columns(Y, "Y", "ksg_mixed")
        # no jitter: the ties are the data (the generator is never drawn from)
        opts = {"standardize": self.standardize, "jitter": 0.0, "rng": np.random.default_rng(0)}
        X = preprocess_continuous(X, name="X", copula=self.copula, **opts)
        Y = preprocess_continuous(Y, name="Y", copula=self.copula, **opts)
        n = X.shape[0]
        Z = np.hstack([X, Y])
        dist, _ = kth_neighbor(Z, k, metric="chebyshev", tree=self.tree, n_jobs=self.n_jobs)
        rho = dist[:, -1]
        opts = {"tree": self.tree, "n_jobs": self.n_jobs}
        # strictly within rho, distances within _TIE_RTOL of it being ties at rho (lattice
        # data shifted by 0.1 moved from 0.630 to 0.613 as rounding split such ties);
        # 0 where rho = 0 (count_within), replaced below
        radius = rho * (1.0 - _TIE_RTOL)
        nx, ny = _count_marginals(X, Y, radius, radius, strict=True, **opts)
        k_tilde = np.full(n, k, dtype=np.int64)
        tied = rho <= 0
        if np.any(tied):
            k_tilde[tied] = _copies(Z)[tied] + 1
            nx[tied] = _copies(X)[tied]
            ny[tied] = _copies(Y)[tied]
        mi = digamma(n) + np.mean(digamma(k_tilde) - digamma(nx + 1) - digamma(ny + 1))
        self.mi_ = float(mi)
        self.n_samples_ = n
        self.n_tied_ = int(np.count_nonzero(tied))
        return self
