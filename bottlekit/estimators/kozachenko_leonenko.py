"""Kozachenko–Leonenko k-nearest-neighbour estimator of differential entropy."""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma, gammaln
from sklearn.base import BaseEstimator

from bottlekit._checks import check_bool, check_positive_int

from ._neighbors import (
    check_jitter,
    check_metric,
    check_positive_radii,
    kth_neighbor,
    preprocess_continuous,
)
from ._scaling import safe_centre, safe_std
from ._validation import (
    as_2d_samples,
    check_no_constant_columns,
    check_random_state,
)

__all__ = [
    "CollinearColumnsWarning",
    "KozachenkoLeonenkoEntropy",
    "RepeatedRowsWarning",
    "WeightsWarning",
    "weighted_kl_weights",
]


def log_unit_ball_volume(d: int, metric: str) -> float:
    """Log-volume of the unit ball in ``d`` dimensions: ``2^d`` (max-norm) or Euclidean."""
    if metric == "chebyshev":
        return d * np.log(2.0)
    return 0.5 * d * np.log(np.pi) - gammaln(1.0 + 0.5 * d)


class RepeatedRowsWarning(UserWarning):
    """Samples given to a differential-entropy estimator repeat some rows."""


def _warn_if_repeated_rows(X: np.ndarray, jitter: float, name: str = "X") -> None:
    """Warn when rows repeat: the k-NN entropy is then set by the jitter, not the data.

    A distribution with atoms has no finite differential entropy; the jitter turns each
    group of ``m`` repeated rows into a tiny cloud whose volume (``~jitter^d``) decides the
    estimate (three jitters gave -38.6, -20.1 and -6.4 nats on data whose distinct rows
    give 2.78).
    """
    n_distinct = np.unique(X, axis=0).shape[0]
    if n_distinct == X.shape[0]:
        return
    share = 1.0 - n_distinct / X.shape[0]
    warnings.warn(
        f"{name} repeats rows ({X.shape[0] - n_distinct} of {X.shape[0]}, {share:.1%} are "
        f"copies): the Kozachenko-Leonenko entropy of data with repeated values is set by "
        f"jitter={jitter!r}, not by the data. Remove the copies (np.unique({name}, axis=0)) "
        "if they are artefacts, or use method='binning' for discrete data.",
        RepeatedRowsWarning,
        stacklevel=3,
    )


class CollinearColumnsWarning(UserWarning):
    """Samples given to a differential-entropy estimator have linearly dependent columns."""


#: Columns count as linearly dependent when the smallest eigenvalue of their correlation
#: matrix is at most this fraction of the largest (the threshold of ``whiten=True``).
_COLLINEAR_RATIO = 1e-12
#: The check costs O(n d^2); above this many columns it is skipped.
_COLLINEAR_MAX_COLUMNS = 64


def _warn_if_collinear(X: np.ndarray, name: str = "X") -> None:
    """Warn when the columns of ``X`` are (numerically) linearly dependent.

    Such samples lie on a subspace of lower dimension, where the differential entropy is
    -inf; the k-NN estimate stayed finite and fell with n (``[a, a]``: -1.07 nats at
    n=200, -3.41 at n=2000). Checked for ``n > d`` (with fewer rows the sample covariance
    is singular whatever the distribution) and at most 64 columns.
    """
    n, d = X.shape
    if d < 2 or n <= d or d > _COLLINEAR_MAX_COLUMNS:
        return
    Z = safe_centre(X, safe_std(X))
    eigenvalues = np.linalg.eigvalsh(np.atleast_2d(np.cov(Z, rowvar=False)))
    if eigenvalues[0] > _COLLINEAR_RATIO * eigenvalues[-1]:
        return
    warnings.warn(
        f"{name}: the columns are linearly dependent (eigenvalues of the correlation matrix "
        f"from {eigenvalues[0]:.3g} to {eigenvalues[-1]:.3g}): the samples lie on a "
        "subspace of lower dimension, where the differential entropy is -inf, and the "
        "k-NN estimate is a finite number that falls with n. Drop the redundant columns.",
        CollinearColumnsWarning,
        stacklevel=3,
    )


class WeightsWarning(UserWarning):
    """The weighted estimator's weights cannot satisfy all their defining equations."""


def weighted_kl_weights(k: int, d: int) -> np.ndarray:
    r"""Weights of the 1st, ..., k-th neighbours in the weighted Kozachenko–Leonenko estimator.

    Berrett, Samworth & Yuan ("Efficient multivariate entropy estimation via k-nearest
    neighbour distances", Ann. Statist. 2019) average the log-distances of several
    neighbours with weights :math:`w \in \mathbb{R}^k` that cancel the leading terms of
    the estimator's bias:

    .. math::
        \sum_{j=1}^k w_j = 1, \qquad
        \sum_{j=1}^k w_j \frac{\Gamma(j + 2l/d)}{\Gamma(j)} = 0
        \quad (l = 1, \dots, \lfloor d/4 \rfloor), \qquad
        w_j = 0 \ \text{ for } j \notin \{\lfloor ik/d \rfloor : i = 1, \dots, d\}.

    The weights are chosen as Butakov et al.'s reference code (``VanessB/Information-v3``,
    ``KLFunctional``) chooses them: for :math:`d \le 4` the first neighbour alone,
    :math:`w = (1, 0, \dots, 0)` (whatever k); above, the minimum-norm least-squares
    solution of the equations (:func:`numpy.linalg.lstsq`, ``rcond=1e-6``), the first
    written as :math:`\sum_j w_j / k = 1/k` and each moment row divided by its Euclidean
    norm. When the equations have a solution this is the solution of least norm, whatever
    the scaling of the rows; when they have none (more moment conditions than allowed
    neighbours, e.g. k = 5 from d = 17 up, k = 1 above d = 4) the least-squares
    compromise satisfies none of them exactly (its sum is not 1), and a
    :class:`WeightsWarning` says so.

    Parameters
    ----------
    k : int
        Number of neighbours.
    d : int
        Dimension of the data.

    Returns
    -------
    ndarray of shape (k,)
        :math:`w_1, \dots, w_k`, summing to 1 (:math:`w = (1, 0, \dots)` for
        :math:`d \le 4`).

    Examples
    --------
    >>> w = weighted_kl_weights(5, 8)
    >>> bool(abs(w.sum() - 1) < 1e-12)
    True
    >>> weighted_kl_weights(5, 4)
    array([1., 0., 0., 0., 0.])
    """
    k = check_positive_int(k, "k")
    d = check_positive_int(d, "d")
    w = np.zeros(k)
    if d <= 4:
        w[0] = 1.0
        return w
    j = np.arange(1, k + 1)
    rows = [np.full(k, 1.0 / k)]
    for power in range(1, d // 4 + 1):
        moment = np.exp(gammaln(j + 2.0 * power / d) - gammaln(j))
        rows.append(moment / np.linalg.norm(moment))
    allowed = {i * k // d for i in range(1, d + 1)}
    # one row e_j per neighbour j that must get no weight, cut from a single identity (a
    # row of a fresh np.eye(k) each kept its k x k matrix alive: k = 1000 needed 8 GB)
    zero_rows = np.eye(k)[[i - 1 for i in j if i not in allowed]]
    system = np.vstack([*rows, zero_rows])
    rhs = np.zeros(len(system))
    rhs[0] = 1.0 / k
    w = np.linalg.lstsq(system, rhs, rcond=1e-6)[0]
    # the defining equations, each on its own scale (sum - 1, normalised moments)
    residual = max(abs(w.sum() - 1.0), *np.abs(np.vstack(rows[1 : 1 + d // 4]) @ w))
    if residual > 1e-8:
        warnings.warn(
            f"weighted_kl_weights: with k={k} neighbours in d={d} dimensions the weights "
            f"cannot satisfy their {1 + d // 4} equations (sum of the weights "
            f"{w.sum():.4g}, largest residual {residual:.2g}); the least-squares "
            "compromise is used, as in the reference code. More neighbours (larger k) "
            "or fewer dimensions avoid it.",
            WeightsWarning,
            stacklevel=2,
        )
    return w


class KozachenkoLeonenkoEntropy(BaseEstimator):
    r"""Kozachenko–Leonenko estimator of the differential entropy :math:`H(X)` in nats.

    .. math::
        \hat H = \psi(N) - \psi(k) + \log c_d + \frac{d}{N}\sum_i \log \epsilon_i

    where :math:`\epsilon_i` is the distance from :math:`x_i` to its k-th nearest neighbour
    and :math:`c_d` the volume of the unit ball of the metric (Kraskov et al. 2004, eq. 20).
    Each column is first divided by its standard deviation :math:`s_j` and the estimate of
    the standardised data shifted back by :math:`\sum_j \log s_j` (exact for entropy:
    :math:`H(X / s) = H(X) - \sum_j \log s_j`); the neighbourhoods then see every column,
    whatever its unit.

    With ``weighted=True``, the weighted estimator of Berrett, Samworth & Yuan (2019)
    averages the 1st, ..., k-th neighbours' distances :math:`\epsilon_{i,j}` with the
    weights :math:`w` of :func:`weighted_kl_weights` (which cancel the leading bias terms
    in more than 4 dimensions; the first neighbour alone up to 4):

    .. math::
        \hat H_w = \log(N - 1) + \log c_d
        + \sum_{j=1}^k w_j \Big(\frac{d}{N}\sum_i \log \epsilon_{i,j} - \psi(j)\Big)

    (:math:`\log(N-1)` as in their paper, where the unweighted form has :math:`\psi(N)`;
    they differ by about :math:`1/(2N)`). With ``whiten=True`` the data are whitened by
    their sample covariance :math:`\hat\Sigma` instead of standardised column by column,
    :math:`Z = (X - \bar X)\hat\Sigma^{-1/2}`, and :math:`\tfrac12 \log\det\hat\Sigma`
    added back; the estimate is then invariant under every invertible affine map
    :math:`X \mapsto XA + b`, shifted by exactly :math:`\log|\det A|`, as the entropy is.
    ``weighted=True, whiten=True`` with k = 5 is the entropy estimator of Butakov et al.'s
    reference code (``VanessB/Information-v3``), used by
    :class:`~bottlekit.estimators.CompressedMutualInformation` with
    ``mi_estimator="weighted_kl"``.

    Parameters
    ----------
    k : int, default=3
        Number of neighbours: the distance to the k-th is used; with ``weighted``, a
        weighted combination of the first ``k`` (the first alone for ``d <= 4``; see
        :func:`weighted_kl_weights`).
    metric : {"euclidean", "chebyshev"}, default="euclidean"
    tree : {"kd", "ball"}, default="kd"
    jitter : float in [0, 1], default=1e-10
        Relative noise against duplicate rows (a zero distance makes the log infinite), a
        fraction of each column's standard deviation.
    n_jobs : int or None, default=1
        Threads for tree queries (``-1``: all cores).
    random_state : int, numpy Generator or None
        Seed of the jitter noise.
    weighted : bool, default=False
        The weighted combination of the first k neighbours instead of the k-th alone.
    whiten : bool, default=False
        Whiten by the sample covariance instead of scaling each column (needs linearly
        independent columns).

    Attributes
    ----------
    entropy_ : float
    weights_ : ndarray of shape (k,)
        Weight of each neighbour (one-hot at the k-th unless ``weighted``).

    Warns
    -----
    HeavyTailWarning
        If a continuous column's standard deviation exceeds 10 times its robust spread (IQR
        / 1.349): outliers or a heavy tail, which bias the estimate. Transform the column
        (the entropy changes by the closed form E log|f'(X)| of the map).
    CollinearColumnsWarning
        With ``whiten=False``, if the columns are linearly dependent (smallest eigenvalue
        of the correlation matrix at most 1e-12 times the largest; ``n > d``, ``d <= 64``):
        the entropy is -inf, the estimate finite. ``whiten=True`` refuses such samples.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((5000, 2))
    >>> h = KozachenkoLeonenkoEntropy().fit(x).entropy_
    >>> bool(abs(h - np.log(2 * np.pi * np.e)) < 0.05)   # H of N(0, I_2)
    True
    >>> A = np.array([[1.0, 0.0], [3.0, 0.5]])   # det 0.5
    >>> est = KozachenkoLeonenkoEntropy(5, weighted=True, whiten=True, jitter=0)
    >>> h0, h1 = est.fit(x).entropy_, est.fit(x @ A).entropy_
    >>> bool(abs(h1 - h0 - np.log(0.5)) < 1e-9)
    True
    """

    def __init__(
        self,
        k: int = 3,
        metric: str = "euclidean",
        tree: str = "kd",
        jitter: float = 1e-10,
        n_jobs: int | None = 1,
        random_state: int | np.random.Generator | None = None,
        weighted: bool = False,
        whiten: bool = False,
    ):
        self.k = k
        self.metric = metric
        self.tree = tree
        self.jitter = jitter
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.weighted = weighted
        self.whiten = whiten

    def fit(self, X: ArrayLike) -> KozachenkoLeonenkoEntropy:
        """Estimate :math:`H(X)` from samples ``X`` of shape (n,) or (n, d).

        Parameters
        ----------
        X : array-like of shape (n,) or (n, d)
            Real samples, at least ``k + 1`` rows; a 1-D array is one column. No column
            may be constant.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        return self._fit(X, "X")

    def _fit(self, X: ArrayLike, name: str) -> KozachenkoLeonenkoEntropy:
        """:meth:`fit`, its errors and warnings naming the samples ``name`` (``"Y"``, ``"(X,
        Y)"`` for the entropies of a mutual information)."""
        k = check_positive_int(self.k, "k")
        check_metric(self.metric)
        jitter = check_jitter(self.jitter)
        weighted = check_bool(self.weighted, "weighted")
        whiten = check_bool(self.whiten, "whiten")
        X = as_2d_samples(X, name, min_samples=k + 1, why=f"k={k} needs k + 1")
        check_no_constant_columns(X, name, "kl")
        _warn_if_repeated_rows(X, jitter, name)
        if not whiten:  # whiten=True refuses them
            _warn_if_collinear(X, name)
        rng = check_random_state(self.random_state)
        n, d = X.shape
        if whiten:
            # H(X) = H(Z) + log|det W^-1| for Z = (X - mean) W; standardised first, so
            # that the covariance neither overflows nor loses a tiny column
            X, log_scale = _whitened(X, name)
        else:
            # H(X) = H(X / s) + sum_j log s_j: each column on its own standard deviation, so
            # that a column of 1e-6 next to one of 1e6 still shapes the neighbourhoods (with
            # one scale for all the small column was invisible: 25.1 nats for a truth of 2.8)
            # and no distance is squared near float's limits
            log_scale = float(np.sum(np.log(safe_std(X))))
        X = preprocess_continuous(
            X, name=name, standardize=not whiten, jitter=jitter, rng=rng, metric=self.metric
        )
        if weighted:
            w, log_n = weighted_kl_weights(k, d), np.log(n - 1.0)
        else:
            w, log_n = np.eye(k)[k - 1], digamma(n)
        used = np.flatnonzero(w)
        n_neighbors = int(used[-1]) + 1
        dist, _ = kth_neighbor(
            X, n_neighbors, metric=self.metric, tree=self.tree, n_jobs=self.n_jobs
        )
        dist = dist[:, used]
        # the nearest neighbour used sets how many copies make a radius 0 (the weighted
        # estimator uses the first: two identical rows were reported as "more than k")
        check_positive_radii(dist, name, "entropy", k=int(used[0]) + 1)
        mean_log = d * np.mean(np.log(dist), axis=0) - digamma(used + 1.0)
        h = log_n + log_unit_ball_volume(d, self.metric) + float(w[used] @ mean_log) + log_scale
        self.entropy_ = float(h)
        self.weights_ = w
        self.n_samples_ = n
        return self


def _whitened(X: np.ndarray, name: str = "X") -> tuple[np.ndarray, float]:
    """``(X - mean) W`` with identity sample covariance, and ``log|det W^-1|``."""
    scale = safe_std(X)
    Z = safe_centre(X, scale)
    cov = np.atleast_2d(np.cov(Z, rowvar=False))
    eigenvalues, vectors = np.linalg.eigh(cov)
    if eigenvalues[0] <= 1e-12 * eigenvalues[-1]:
        raise ValueError(
            f"{name}: whiten=True needs linearly independent columns, but the sample covariance "
            f"is singular (eigenvalues from {eigenvalues[0]:.3g} to {eigenvalues[-1]:.3g}); "
            "drop the redundant columns or use whiten=False"
        )
    Z = (Z @ vectors) / np.sqrt(eigenvalues)
    return Z, float(np.sum(np.log(scale)) + 0.5 * np.sum(np.log(eigenvalues)))
