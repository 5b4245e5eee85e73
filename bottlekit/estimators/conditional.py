r"""Conditional mutual information :math:`I(X;Y\mid Z)`.

.. math::
    I(X;Y\mid Z) = H(X,Z) + H(Y,Z) - H(Z) - H(X,Y,Z) = I(X; Y,Z) - I(X; Z)

It is 0 iff X and Y are independent given Z. Conditioning can remove dependence (a chain
X -> Z -> Y: I(X;Y) > 0 but I(X;Y|Z) = 0) or create it (a collider X -> Z <- Y:
I(X;Y) = 0 but I(X;Y|Z) > 0).

Estimators:

* :class:`KSGConditionalMutualInformation` — k-nearest neighbours (Frenzel & Pompe 2007)
  for continuous X, Y, Z, on the same compiled max-norm neighbour machinery as KSG; with
  ``discrete_z=True`` the average of KSG estimates within each value of Z, and with
  ``discrete_y=True`` the chain rule :math:`I(Y; X,Z) - I(Y; Z)` with Ross's
  discrete-continuous estimator;
* :class:`GaussianConditionalMutualInformation` — closed form for jointly Gaussian data,
  with the exact Wishart bias correction of :class:`GaussianMutualInformation`;
* :class:`PluginConditionalMutualInformation` — plug-in (optionally Miller–Madow) entropies
  of discrete X, Y, Z.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import digamma
from sklearn.base import BaseEstimator

from bottlekit._checks import check_bool, check_positive_int

from ._neighbors import (
    check_differences_fit,
    check_enough_rows,
    check_jitter,
    check_positive_radii,
    count_within,
    kth_neighbor,
    normal_scores,
    preprocess_continuous,
)
from ._scaling import power_of_two_scale
from ._validation import as_2d_samples, check_no_constant_columns, check_random_state
from .binning import _plugin_entropy
from .gaussian import _check_shrinkage, _correlation, _logdet, _logdet_bias
from .ksg import KSGMutualInformation
from .ksg_discrete import DiscreteContinuousMutualInformation, SingletonLabelsWarning

__all__ = [
    "GaussianConditionalMutualInformation",
    "KSGConditionalMutualInformation",
    "PluginConditionalMutualInformation",
]


def as_discrete(values: ArrayLike, name: str, *, min_samples: int = 2) -> np.ndarray:
    """Discrete observations as a 2-D array of labels; floats are refused.

    Parameters
    ----------
    values : array-like of shape (n,) or (n, d)
        Integer, boolean or string labels.
    name : str
        Argument name for messages.
    min_samples : int, default=2

    Returns
    -------
    ndarray of shape (n, d)
    """
    if values is None:
        raise TypeError(f"{name} must be an array of labels of shape (n,) or (n, d), got None")
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        raise TypeError(
            f"{name} must hold discrete labels (integers, booleans or strings), got "
            f"{arr.dtype}; cast with .astype(int) if the values are labels, or treat "
            f"{name} as continuous"
        )
    if arr.dtype.kind not in "biuUSO":
        raise TypeError(f"{name} must hold discrete labels, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have shape (n,) or (n, d), got shape {np.shape(values)}")
    if arr.shape[0] < min_samples:
        raise ValueError(
            f"{name} must have at least {min_samples} samples (rows), got {arr.shape[0]}"
        )
    return arr


def _row_codes(arr: np.ndarray, name: str = "labels") -> np.ndarray:
    """One integer per distinct row.

    Object columns (a pandas column of strings) are coded one column at a time:
    ``np.unique(..., axis=0)`` raised "The axis argument to unique is not supported for
    dtype object".
    """
    if arr.dtype.kind == "O":
        arr = np.stack([_object_codes(arr[:, j], name, j) for j in range(arr.shape[1])], axis=1)
    _, codes = np.unique(arr, axis=0, return_inverse=True)
    return codes.ravel()


def _object_codes(column: np.ndarray, name: str, j: int) -> np.ndarray:
    try:
        return np.unique(column, return_inverse=True)[1].ravel()
    except TypeError as exc:  # labels of mixed types cannot be sorted (1 < "a")
        kinds = sorted({type(v).__name__ for v in column})
        raise TypeError(
            f"{name} mixes label types {kinds} in column {j}; expected labels of one type"
        ) from exc


def _check_n(arrays: dict[str, np.ndarray]) -> None:
    sizes = {name: a.shape[0] for name, a in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"X, Y and Z must have the same number of samples (rows); got {sizes}")


def _has_constant_column(A: np.ndarray) -> bool:
    """Whether a column of ``A`` is constant (max == min: ``np.ptp`` overflowed with a
    RuntimeWarning on columns spanning beyond float64)."""
    return bool(np.any(np.max(A, axis=0) == np.min(A, axis=0)))


class KSGConditionalMutualInformation(BaseEstimator):
    r"""k-NN estimate of :math:`I(X;Y\mid Z)` in nats (Frenzel & Pompe 2007).

    With the max-norm on the joint space :math:`(X,Y,Z)`, :math:`\epsilon_i` the distance
    from point :math:`i` to its k-th neighbour, and :math:`n_{XZ}(i)`, :math:`n_{YZ}(i)`,
    :math:`n_Z(i)` the numbers of other points strictly within :math:`\epsilon_i` in the
    subspaces :math:`(X,Z)`, :math:`(Y,Z)` and :math:`Z`:

    .. math::
        \hat I(X;Y\mid Z) = \psi(k) - \big\langle \psi(n_{XZ}+1) + \psi(n_{YZ}+1)
        - \psi(n_Z+1) \big\rangle .

    Mixed data:

    * ``discrete_z=True`` (Z holds labels): :math:`\sum_z \hat p(z)\,\hat I(X;Y\mid Z=z)`
      with :class:`KSGMutualInformation` in each stratum; strata with at most ``k + 1``
      samples are left out (counted in ``n_dropped_``);
    * ``discrete_y=True`` (Y holds labels): the chain rule
      :math:`\hat I(Y; (X,Z)) - \hat I(Y; Z)` with
      :class:`DiscreteContinuousMutualInformation` (Ross 2014) for both terms;
    * both: Ross's estimator of :math:`I(X;Y)` within each stratum of Z.

    Parameters
    ----------
    k : int, default=3
        Number of neighbours. Larger ``k`` lowers the variance and raises the bias.
        With continuous X, Y and Z at least ``k + 2`` rows are needed (with ``k + 1``
        the estimate is a constant).
    discrete_y, discrete_z : bool, default=False
        Treat Y (resp. Z) as labels. Labels must be integers, booleans or strings.
    tree : {"kd", "ball"}, default="kd"
    standardize : bool, default=True
        Scale every continuous column to unit variance first.
    copula : bool, default=False
        Use the normal scores of each continuous column's ranks (rank-invariant), with
        labels too (X and Z's scores, within each stratum of Z for ``discrete_z``).
    jitter : float in [0, 1], default=1e-10
        Relative noise against ties (a fraction of each column's standard deviation).
    n_jobs : int or None, default=1
        Threads for tree queries (``-1``: all cores).
    random_state : int, numpy Generator or None
        Seed of the jitter noise.

    Attributes
    ----------
    cmi_ : float
        Estimate in nats (can be slightly negative near 0).
    n_samples_ : int
    n_dropped_ : int
        Samples in strata of Z too small to use, and with ``discrete_y`` too the samples
        whose label occurs only once within their stratum (``discrete_z`` only; else 0).

    Warns
    -----
    HeavyTailWarning
        Without ``copula``, if a continuous column's standard deviation exceeds 10 times its
        robust spread (IQR / 1.349): outliers or a heavy tail, which bias the estimate. Use
        ``copula=True`` or transform the column.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> z = rng.standard_normal(3000)
    >>> x = z + 0.5 * rng.standard_normal(3000); y = z + 0.5 * rng.standard_normal(3000)
    >>> est = KSGConditionalMutualInformation(random_state=0).fit(x, y, z)   # chain: 0
    >>> bool(abs(est.cmi_) < 0.03)
    True
    """

    def __init__(
        self,
        k: int = 3,
        discrete_y: bool = False,
        discrete_z: bool = False,
        tree: str = "kd",
        standardize: bool = True,
        copula: bool = False,
        jitter: float = 1e-10,
        n_jobs: int | None = 1,
        random_state: int | np.random.Generator | None = None,
    ):
        self.k = k
        self.discrete_y = discrete_y
        self.discrete_z = discrete_z
        self.tree = tree
        self.standardize = standardize
        self.copula = copula
        self.jitter = jitter
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _continuous(self, A, name: str, k: int) -> np.ndarray:
        A = as_2d_samples(A, name, min_samples=k + 1, why=f"k={k} needs k + 1")
        check_no_constant_columns(A, name, "ksg")
        return A

    def fit(self, X: ArrayLike, Y: ArrayLike, Z: ArrayLike) -> KSGConditionalMutualInformation:
        """Estimate :math:`I(X;Y\\mid Z)` from paired samples.

        Parameters
        ----------
        X : array-like of shape (n,) or (n, dx)
            Continuous.
        Y : array-like of shape (n,) or (n, dy)
            Continuous, or labels with ``discrete_y=True``.
        Z : array-like of shape (n,) or (n, dz)
            Continuous, or labels with ``discrete_z=True``.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        k = check_positive_int(self.k, "k")
        jitter = check_jitter(self.jitter)
        for flag in ("discrete_y", "discrete_z"):
            if not isinstance(getattr(self, flag), bool | np.bool_):
                raise TypeError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        X = self._continuous(X, "X", k)
        Y = as_discrete(Y, "Y") if self.discrete_y else self._continuous(Y, "Y", k)
        Z = as_discrete(Z, "Z") if self.discrete_z else self._continuous(Z, "Z", k)
        _check_n({"X": X, "Y": Y, "Z": Z})
        rng = check_random_state(self.random_state)
        mi_opts = {
            "k": k,
            "tree": self.tree,
            "standardize": self.standardize,
            "jitter": jitter,
            "n_jobs": self.n_jobs,
        }
        self.n_dropped_ = 0
        n = X.shape[0]
        if self.discrete_z:
            self.cmi_ = self._stratified(X, Y, _row_codes(Z, "Z"), k, mi_opts, rng)
        elif self.discrete_y:
            y = _row_codes(Y, "Y")
            if not check_bool(self.standardize, "standardize"):
                # Ross's estimator sees (X, Z) as one X: name the argument here
                check_differences_fit(X, "X")
                check_differences_fit(Z, "Z")
            if self.copula:  # Ross's estimator has no copula: it gets the normal scores
                X, Z = normal_scores(X), normal_scores(Z)
            ross = DiscreteContinuousMutualInformation(random_state=rng, **mi_opts)
            joint = ross.fit(np.hstack([X, Z]), y).mi_
            self.cmi_ = float(joint - ross.fit(Z, y).mi_)
        else:
            self.cmi_ = self._frenzel_pompe(X, Y, Z, k, jitter, rng)
        self.n_samples_ = n
        return self

    def _frenzel_pompe(self, X, Y, Z, k, jitter, rng) -> float:
        check_enough_rows(X.shape[0], k, "KSG conditional")
        opts = {"standardize": self.standardize, "jitter": jitter, "rng": rng}
        X, Y, Z = (
            preprocess_continuous(A, name=name, copula=self.copula, **opts)
            for A, name in ((X, "X"), (Y, "Y"), (Z, "Z"))
        )
        joint = np.hstack([X, Y, Z])
        dist, _ = kth_neighbor(joint, k, metric="chebyshev", tree=self.tree, n_jobs=self.n_jobs)
        eps = dist[:, -1]
        check_positive_radii(eps, "(X, Y, Z)", "conditional mutual information")
        count = {"strict": True, "metric": "chebyshev", "tree": self.tree, "n_jobs": self.n_jobs}
        n_xz = count_within(np.hstack([X, Z]), eps, **count)
        n_yz = count_within(np.hstack([Y, Z]), eps, **count)
        n_z = count_within(Z, eps, **count)
        terms = digamma(n_xz + 1) + digamma(n_yz + 1) - digamma(n_z + 1)
        return float(digamma(k) - np.mean(terms))

    def _stratified(self, X, Y, z, k, mi_opts, rng) -> float:
        total, used = 0.0, 0
        for value in np.unique(z):
            rows = np.flatnonzero(z == value)
            if rows.size <= k + 1:
                self.n_dropped_ += rows.size
                continue
            if self.discrete_y:
                y = _row_codes(Y[rows], "Y")
                if np.unique(y).size < 2:  # Y constant within the stratum: I = 0
                    used += rows.size
                    continue
                est = DiscreteContinuousMutualInformation(random_state=rng, **mi_opts)
                with warnings.catch_warnings():  # singletons within a stratum are expected:
                    warnings.simplefilter("ignore", SingletonLabelsWarning)  # counted below
                    x = normal_scores(X[rows]) if self.copula else X[rows]
                    mi = est.fit(x, y).mi_
                self.n_dropped_ += est.n_dropped_
            else:
                if _has_constant_column(X[rows]) or _has_constant_column(Y[rows]):
                    raise ValueError(
                        f"X or Y has a constant column within the stratum Z = {value!r}; "
                        "the k-NN estimate is undefined there"
                    )
                est = KSGMutualInformation(copula=self.copula, random_state=rng, **mi_opts)
                mi = est.fit(X[rows], Y[rows]).mi_
            total += rows.size * mi
            used += rows.size
        if used == 0:
            raise ValueError(
                f"every value of Z occurs at most k + 1 = {k + 1} times; no stratum is large "
                "enough for a k-NN estimate (lower k or give more samples)"
            )
        return float(total / used)


class GaussianConditionalMutualInformation(BaseEstimator):
    r""":math:`I(X;Y\mid Z)` assuming X, Y, Z are jointly Gaussian.

    .. math::
        \hat I = \tfrac12\big(\log\det R_{XZ} + \log\det R_{YZ} - \log\det R_{Z}
        - \log\det R_{XYZ}\big)

    with :math:`R` the correlation matrices (the variances cancel). With
    ``bias_correction=True`` (and no shrinkage) each log-determinant is corrected by its
    exact Wishart expectation, :math:`\sum_{i=1}^d\psi(\tfrac{n-i}2) + d\log\tfrac2{n-1}`,
    as in :class:`GaussianMutualInformation`; the estimate is then unbiased for Gaussian
    data (and can be slightly negative under conditional independence).

    Parameters
    ----------
    shrinkage : None, float in [0, 1] or "ledoit-wolf", default=None
        Shrinkage :math:`s` of the joint correlation matrix toward the identity
        (``"ledoit-wolf"``: the Ledoit–Wolf intensity; None: 0).
    bias_correction : bool, default=True
        Subtract from each log-determinant its expected bias under the Wishart
        distribution of the sample covariance. Only applied when ``shrinkage`` is None.

    Attributes
    ----------
    cmi_ : float

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.standard_normal((2, 5000)); z = x + y + 0.5 * rng.standard_normal(5000)
    >>> round(GaussianConditionalMutualInformation().fit(x, y, z).cmi_, 1)   # collider: 0.511
    0.5
    """

    def __init__(self, shrinkage: float | str | None = None, bias_correction: bool = True):
        self.shrinkage = shrinkage
        self.bias_correction = bias_correction

    def fit(
        self, X: ArrayLike, Y: ArrayLike, Z: ArrayLike
    ) -> GaussianConditionalMutualInformation:
        """Estimate :math:`I(X;Y\\mid Z)` from paired samples.

        Parameters
        ----------
        X : array-like of shape (n,) or (n, dx)
            Real samples of ``X``; a 1-D array is one column.
        Y : array-like of shape (n,) or (n, dy)
            Real samples of ``Y``, paired row by row with ``X``.
        Z : array-like of shape (n,) or (n, dz)
            Real samples of the conditioning variable; ``n`` must exceed
            ``dx + dy + dz + 1``.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        shrinkage = _check_shrinkage(self.shrinkage)
        check_bool(self.bias_correction, "bias_correction")
        arrays = {
            name: as_2d_samples(A, name, min_samples=3)
            for name, A in zip("XYZ", (X, Y, Z), strict=True)
        }
        _check_n(arrays)
        for name, A in arrays.items():
            check_no_constant_columns(A, name, "gaussian")
        X, Y, Z = arrays["X"], arrays["Y"], arrays["Z"]
        (n, dx), dy, dz = X.shape, Y.shape[1], Z.shape[1]
        d = dx + dy + dz
        if n <= d + 1:
            raise ValueError(
                f"gaussian CMI needs more samples than dimensions: at least "
                f"dx + dy + dz + 2 = {d + 2} samples (rows) for "
                f"dx + dy + dz = {d} columns, got n={n}"
            )
        J = np.hstack([X, Y, Z])
        R, _ = _correlation(J / power_of_two_scale(J), shrinkage)
        ix, iy, iz = np.arange(dx), np.arange(dx, dx + dy), np.arange(dx + dy, d)

        def logdet(idx, what):
            sub = R[np.ix_(idx, idx)]
            bias = _logdet_bias(len(idx), n) if self.bias_correction and shrinkage is None else 0
            return _logdet(sub, what) - bias

        xz, yz = np.concatenate([ix, iz]), np.concatenate([iy, iz])
        cmi = 0.5 * (
            logdet(xz, "(X, Z)")
            + logdet(yz, "(Y, Z)")
            - logdet(iz, "Z")
            - logdet(np.arange(d), "(X, Y, Z)")
        )
        self.cmi_ = float(cmi if self.bias_correction and shrinkage is None else max(cmi, 0.0))
        return self


class PluginConditionalMutualInformation(BaseEstimator):
    r"""Plug-in :math:`I(X;Y\mid Z)` of discrete X, Y, Z from their empirical frequencies.

    .. math::
        \hat I = \hat H(X,Z) + \hat H(Y,Z) - \hat H(Z) - \hat H(X,Y,Z),

    each :math:`\hat H` the entropy of the empirical distribution of the (joint) labels,
    optionally with the Miller–Madow correction :math:`+ (m-1)/(2n)` (:math:`m` occupied
    cells), which removes the first-order bias.

    Parameters
    ----------
    miller_madow : bool, default=False
        Add the Miller–Madow correction :math:`(m-1)/(2n)` to each plug-in entropy.

    Attributes
    ----------
    cmi_ : float

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.integers(0, 2, (2, 20000)); z = x ^ y     # XOR: I(X;Y|Z) = log 2
    >>> round(PluginConditionalMutualInformation().fit(x, y, z).cmi_, 3)
    0.693
    """

    def __init__(self, miller_madow: bool = False):
        self.miller_madow = miller_madow

    def fit(self, X: ArrayLike, Y: ArrayLike, Z: ArrayLike) -> PluginConditionalMutualInformation:
        """Estimate :math:`I(X;Y\\mid Z)` from labels.

        Parameters
        ----------
        X, Y, Z : array-like of shape (n,) or (n, d)
            Integer, boolean or string labels, paired row by row (floats are refused); a
            row of several columns is one joint label.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        if not isinstance(self.miller_madow, bool | np.bool_ | numbers.Integral):
            raise TypeError(f"miller_madow must be True or False, got {self.miller_madow!r}")
        arrays = {name: as_discrete(A, name) for name, A in zip("XYZ", (X, Y, Z), strict=True)}
        _check_n(arrays)
        x, y, z = (_row_codes(a, name) for name, a in arrays.items())

        def h(*codes):  # plug-in entropy of the joint labels (binning's estimator)
            return _plugin_entropy(_row_codes(np.stack(codes, axis=1)), bool(self.miller_madow))

        self.cmi_ = h(x, z) + h(y, z) - h(z) - h(x, y, z)
        return self
