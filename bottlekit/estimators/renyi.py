r"""Matrix-based Rényi α-order entropy and mutual information.

Sánchez Giraldo, Rao & Príncipe (2015) define, for a Gram matrix :math:`K` of a
normalised positive-definite kernel (:math:`K_{ii}=1`) on ``n`` samples and
:math:`A = K/\mathrm{tr}K`,

.. math::
    S_\alpha(A) = \frac{1}{1-\alpha}\log\sum_i \lambda_i(A)^\alpha,

the von Neumann entropy :math:`-\sum\lambda_i\log\lambda_i` at :math:`\alpha=1`. The joint
entropy uses the Hadamard product (Yu et al. 2019): :math:`S_\alpha(A,B) =
S_\alpha(A\circ B/\mathrm{tr}(A\circ B))` and
:math:`I_\alpha(X;Y) = S_\alpha(A) + S_\alpha(B) - S_\alpha(A,B)`.

These are functionals of the data, not plug-in estimates of Shannon quantities: their
values depend on the kernel width. Kernel: Gaussian :math:`K_{ij} = \exp(-\|x_i-x_j\|^2 /
(2\sigma^2))` with ``sigma`` fixed or chosen by Silverman's rule (default; see
:mod:`bottlekit.estimators.kernels`). Yu et al. describe Scott's rule
:math:`\sigma = \gamma n^{-1/(4+d)}`; ``sigma="scott"`` gives it with :math:`\gamma` the mean
column standard deviation. Their PyTorch code (``MI.py``) writes the kernel
:math:`\exp(-d^2/s)` and returns bits: its width ``s`` is ``2 * sigma**2`` here (pass
``sigma=np.sqrt(s / 2)``), and its values are these divided by :math:`\ln 2`. Values here
are in nats (see ``docs/estimators.md``).

For :math:`\alpha=2`, :math:`S_2(A) = -\log\frac{1}{n^2}\sum_{ij}K_{ij}^2`, which converges
on :math:`\mathcal N(\mu,\Sigma)` data to :math:`\tfrac12\log\det(I + 4\Sigma/\sigma^2)`
(up to an ``O(1/n)`` diagonal term): :math:`E\,e^{-\|X-X'\|^2/\sigma^2}` with
:math:`X-X'\sim\mathcal N(0,2\Sigma)`.

Cost: an eigen-decomposition of an ``n x n`` matrix, ``O(n^3)``. Above ``max_samples``
rows a random subsample (``random_state``) is used.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator

from bottlekit._checks import check_number, check_positive_int

from ._scaling import safe_centre
from ._validation import as_2d_samples, check_paired, check_random_state
from .kernels import kernel_width

__all__ = ["RenyiEntropy", "RenyiMutualInformation", "matrix_renyi_entropy"]


def _gram(X: np.ndarray, sigma: float) -> np.ndarray:
    X = safe_centre(X, sigma)  # in units of sigma: no square overflows
    sq = np.sum(X**2, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * X @ X.T, 0.0)
    return np.exp(-d2 / 2.0)


def matrix_renyi_entropy(K: np.ndarray, alpha: float) -> float:
    r""":math:`S_\alpha(K/\mathrm{tr}K)` in nats from a symmetric PSD Gram matrix ``K``.

    Parameters
    ----------
    K : ndarray of shape (n, n)
        The Gram matrix (normalised by its trace here).
    alpha : float > 0
        The order :math:`\alpha` (1: the von Neumann entropy).

    Returns
    -------
    float
        :math:`S_\alpha`, in nats.

    Examples
    --------
    >>> import numpy as np
    >>> round(matrix_renyi_entropy(np.eye(4), 2.0), 4)   # log 4: all points far apart
    1.3863
    """
    alpha = check_number(alpha, "alpha", low=0, low_open=True, wording="must")
    A = K / np.trace(K)
    lam = np.clip(np.linalg.eigvalsh(A), 0.0, None)
    lam = lam[lam > 0]
    if abs(alpha - 1.0) < 1e-12:
        return float(-np.sum(lam * np.log(lam)))
    return float(np.log(np.sum(lam**alpha)) / (1.0 - alpha))


def _subsample(arrays, max_samples, random_state):
    n = arrays[0].shape[0]
    m = check_positive_int(max_samples, "max_samples", minimum=2)
    rng = check_random_state(random_state)  # checked also where no subsample is drawn
    if n <= m:
        return arrays
    rows = rng.choice(n, m, replace=False)
    return [a[rows] for a in arrays]


class RenyiEntropy(BaseEstimator):
    r"""Matrix-based Rényi α-entropy :math:`S_\alpha(A)` of a sample (nats).

    Parameters
    ----------
    alpha : float, default=1.01
        Order; near 1 approximates the von Neumann (Shannon-like) entropy.
    sigma : float or {"silverman", "scott", "median"}, default="silverman"
        Gaussian kernel width, or the rule that sets it from the sample
        (:func:`~bottlekit.estimators.kernels.kernel_width`).
    max_samples : int, default=2000
        Subsample above this many rows (the cost is ``O(n^3)``).
    random_state : int, numpy Generator or None
        Seed of the row subsample drawn above ``max_samples`` rows.

    Attributes
    ----------
    entropy_ : float
    sigma_ : float

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((300, 2))
    >>> bool(0 < RenyiEntropy().fit(x).entropy_ < np.log(300))
    True
    """

    def __init__(
        self,
        alpha: float = 1.01,
        sigma: float | str = "silverman",
        max_samples: int = 2000,
        random_state: int | np.random.Generator | None = None,
    ):
        self.alpha = alpha
        self.sigma = sigma
        self.max_samples = max_samples
        self.random_state = random_state

    def fit(self, X: ArrayLike) -> RenyiEntropy:
        """Compute :math:`S_\\alpha` of ``X`` (n,) or (n, d).

        Parameters
        ----------
        X : array-like of shape (n,) or (n, d)
            Real samples; a 1-D array is one column.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X = as_2d_samples(X, "X")
        (X,) = _subsample([X], self.max_samples, self.random_state)
        self.sigma_ = kernel_width(X, self.sigma)
        self.entropy_ = matrix_renyi_entropy(_gram(X, self.sigma_), self.alpha)
        return self


class RenyiMutualInformation(BaseEstimator):
    r"""Matrix-based Rényi α mutual information :math:`S_\alpha(A)+S_\alpha(B)-S_\alpha(A,B)`.

    Parameters
    ----------
    alpha : float, default=1.01
        Order (> 0); near 1 approximates the von Neumann (Shannon-like) entropies.
    sigma_x, sigma_y : float or {"silverman", "scott", "median"}, default="silverman"
        Gaussian kernel widths of ``X`` and ``Y``, or the rules that set them from
        each sample (:func:`~bottlekit.estimators.kernels.kernel_width`).
    max_samples : int, default=2000
        Subsample above this many rows (the cost is ``O(n^3)``).
    random_state : int, numpy Generator or None
        Seed of the row subsample drawn above ``max_samples`` rows.

    Attributes
    ----------
    mi_ : float
    sigma_x_, sigma_y_ : float

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(400)
    >>> dep = RenyiMutualInformation().fit(x, x + 0.3 * rng.standard_normal(400)).mi_
    >>> ind = RenyiMutualInformation().fit(x, rng.standard_normal(400)).mi_
    >>> bool(dep > 5 * ind)
    True
    """

    def __init__(
        self,
        alpha: float = 1.01,
        sigma_x: float | str = "silverman",
        sigma_y: float | str = "silverman",
        max_samples: int = 2000,
        random_state: int | np.random.Generator | None = None,
    ):
        self.alpha = alpha
        self.sigma_x = sigma_x
        self.sigma_y = sigma_y
        self.max_samples = max_samples
        self.random_state = random_state

    def fit(self, X: ArrayLike, Y: ArrayLike) -> RenyiMutualInformation:
        """Compute :math:`I_\\alpha(X;Y)` from paired samples.

        Parameters
        ----------
        X : array-like of shape (n,) or (n, dx)
            Real samples of ``X``; a 1-D array is one column.
        Y : array-like of shape (n,) or (n, dy)
            Real samples of ``Y``, paired row by row with ``X``.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X = as_2d_samples(X, "X")
        Y = as_2d_samples(Y, "Y")
        check_paired(X, Y)
        X, Y = _subsample([X, Y], self.max_samples, self.random_state)
        self.sigma_x_ = kernel_width(X, self.sigma_x, name="sigma_x")
        self.sigma_y_ = kernel_width(Y, self.sigma_y, name="sigma_y")
        Kx, Ky = _gram(X, self.sigma_x_), _gram(Y, self.sigma_y_)
        a = self.alpha
        self.mi_ = (
            matrix_renyi_entropy(Kx, a)
            + matrix_renyi_entropy(Ky, a)
            - matrix_renyi_entropy(Kx * Ky, a)
        )
        return self
