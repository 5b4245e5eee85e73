r"""Distributions with known mutual information, for tests and benchmarks.

* Correlated Gaussians: ``dim`` independent pairs :math:`(x_i, y_i)` with correlation
  :math:`\rho_i`; :math:`I(X;Y) = -\tfrac12\sum_i\log(1-\rho_i^2)`.
* Invertible per-coordinate transforms of those (MI is unchanged by them).
* Multivariate Student-t with the same scale matrix and :math:`\nu` degrees of freedom:
  :math:`X = Z/\sqrt{W/\nu}`, :math:`W\sim\chi^2_\nu` shared by the pair. Its marginals are
  Student-t with the same :math:`\nu`, and from the entropy of the multivariate t,
  :math:`H = \tfrac12\log|\Sigma| + g(d)`,
  :math:`g(d) = \tfrac d2\log(\nu\pi) + \log\Gamma(\tfrac\nu2) - \log\Gamma(\tfrac{\nu+d}2)
  + \tfrac{\nu+d}2\big(\psi(\tfrac{\nu+d}2) - \psi(\tfrac\nu2)\big)`, so
  :math:`I = I_{\text{Gauss}} + g(d_x) + g(d_y) - g(d_x+d_y)` (> 0 even when
  :math:`\rho = 0`: the shared :math:`W` makes X and Y dependent).
* A two-class Gaussian mixture with labels (continuous–discrete MI by quadrature).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.integrate import quad
from scipy.special import digamma, gammaln
from scipy.stats import norm

__all__ = [
    "correlated_gaussian",
    "gaussian_mi",
    "label_mixture",
    "label_mixture_mi",
    "student_t",
    "student_t_entropy",
    "student_t_mi",
]


def _rho_vector(rho, dim: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(rho, dtype=np.float64), (dim,)).copy()


def gaussian_mi(rho: ArrayLike, dim: int = 1) -> float:
    """:math:`-\\tfrac12\\sum\\log(1-\\rho_i^2)` in nats (``rho`` scalar or length ``dim``).

    Parameters
    ----------
    rho : float or array-like of length ``dim``
        Correlation of each pair (a scalar is used for every pair).
    dim : int, default 1
        Number of pairs.

    Returns
    -------
    float
        :math:`I(X; Y)` of :func:`correlated_gaussian`, in nats.

    Examples
    --------
    >>> round(gaussian_mi(0.5), 6), round(gaussian_mi(0.5, dim=2), 6)
    (0.143841, 0.287682)
    """
    r = _rho_vector(rho, dim)
    return float(-0.5 * np.sum(np.log1p(-(r**2))))


def correlated_gaussian(
    n: int, rho: ArrayLike, dim: int = 1, random_state: int | np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples of ``dim`` independent unit-variance pairs with correlations ``rho``.

    Column ``i`` of ``X`` and of ``Y`` are a standard bivariate Gaussian pair of
    correlation :math:`\\rho_i`; their mutual information is :func:`gaussian_mi`.

    Parameters
    ----------
    n : int
        Number of samples.
    rho : float or array-like of length ``dim``
        Correlation of each pair, in (-1, 1).
    dim : int, default 1
        Number of pairs.
    random_state : int, Generator or None
        Seed or generator of the draw.

    Returns
    -------
    X, Y : ndarray of shape (n, dim)
        The two halves of the samples.

    Examples
    --------
    >>> X, Y = correlated_gaussian(20000, 0.8, random_state=0)
    >>> round(float(np.corrcoef(X[:, 0], Y[:, 0])[0, 1]), 2)
    0.8
    """
    rng = np.random.default_rng(random_state)
    r = _rho_vector(rho, dim)
    x = rng.standard_normal((n, dim))
    y = r * x + np.sqrt(1.0 - r**2) * rng.standard_normal((n, dim))
    return x, y


def _g(d: int, nu: float) -> float:
    return float(
        0.5 * d * np.log(nu * np.pi)
        + gammaln(0.5 * nu)
        - gammaln(0.5 * (nu + d))
        + 0.5 * (nu + d) * (digamma(0.5 * (nu + d)) - digamma(0.5 * nu))
    )


def student_t_entropy(d: int, nu: float, logdet_scale: float = 0.0) -> float:
    """Differential entropy (nats) of a ``d``-variate Student-t with ``nu`` dof.

    Parameters
    ----------
    d : int
        Dimension.
    nu : float
        Degrees of freedom (> 0).
    logdet_scale : float, default 0.0
        :math:`\\log\\det` of the scale matrix (0: the identity).

    Returns
    -------
    float
        The entropy, in nats.

    Examples
    --------
    The standard Cauchy distribution (``d = 1``, ``nu = 1``) has entropy
    :math:`\\log 4\\pi`:

    >>> bool(np.isclose(student_t_entropy(1, 1.0), np.log(4 * np.pi)))
    True
    """
    return 0.5 * logdet_scale + _g(d, nu)


def student_t_mi(rho: ArrayLike, dim: int, nu: float) -> float:
    """MI of the bivariate-block Student-t produced by :func:`student_t`.

    :math:`I = H(X) + H(Y) - H(X, Y)` from :func:`student_t_entropy`; larger than the
    Gaussian's :func:`gaussian_mi` of the same ``rho`` (the shared :math:`w` couples the
    halves too).

    Parameters
    ----------
    rho : float or array-like of length ``dim``
        Correlation of each pair in the scale matrix.
    dim : int
        Number of pairs.
    nu : float
        Degrees of freedom (> 0).

    Returns
    -------
    float
        The mutual information, in nats.

    Examples
    --------
    >>> round(student_t_mi(0.5, 1, 5.0), 4), round(gaussian_mi(0.5), 4)
    (0.161, 0.1438)
    """
    return gaussian_mi(rho, dim) + _g(dim, nu) + _g(dim, nu) - _g(2 * dim, nu)


def student_t(
    n: int,
    rho: ArrayLike,
    dim: int,
    nu: float,
    random_state: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Samples of a multivariate Student-t whose scale matrix pairs ``x_i`` with ``y_i``.

    A Gaussian of :func:`correlated_gaussian` divided by :math:`\\sqrt{w/\\nu}` with one
    :math:`w \\sim \\chi^2_\\nu` per sample; their mutual information is
    :func:`student_t_mi`.

    Parameters
    ----------
    n : int
        Number of samples.
    rho : float or array-like of length ``dim``
        Correlation of each pair in the scale matrix.
    dim : int
        Number of pairs.
    nu : float
        Degrees of freedom (> 0).
    random_state : int, Generator or None
        Seed or generator of the draw.

    Returns
    -------
    X, Y : ndarray of shape (n, dim)
        The two halves of the samples.

    Examples
    --------
    >>> X, Y = student_t(5, 0.5, 2, 5.0, random_state=0)
    >>> X.shape, Y.shape
    ((5, 2), (5, 2))
    """
    rng = np.random.default_rng(random_state)
    x, y = correlated_gaussian(n, rho, dim, rng)
    scale = np.sqrt(rng.chisquare(nu, size=(n, 1)) / nu)
    return x / scale, y / scale


def label_mixture(
    n: int, delta: float, random_state: int | np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``(x, y)``: labels ``y`` drawn uniformly from {0, 1} (equal in
    expectation, not in count) and ``x ~ N(delta * y, 1)``; their mutual information is
    :func:`label_mixture_mi`.

    Parameters
    ----------
    n : int
        Number of samples.
    delta : float
        Distance between the two class means.
    random_state : int, Generator or None
        Seed or generator of the draw.

    Returns
    -------
    x : ndarray of shape (n,)
        The samples.
    y : ndarray of shape (n,), int
        Their labels.

    Examples
    --------
    >>> x, y = label_mixture(4, 2.0, random_state=0)
    >>> x.shape, sorted(set(y.tolist())) <= [0, 1]
    ((4,), True)
    """
    rng = np.random.default_rng(random_state)
    y = rng.integers(0, 2, n)
    return rng.standard_normal(n) + delta * y, y


def label_mixture_mi(delta: float) -> float:
    """:math:`I(X;Y) = H(X) - H(X|Y)` for :func:`label_mixture`, by quadrature (nats).

    Parameters
    ----------
    delta : float
        Distance between the two class means.

    Returns
    -------
    float
        The mutual information, in nats: 0 at ``delta = 0``, towards
        :math:`\\log 2` as ``delta`` grows.

    Examples
    --------
    >>> round(label_mixture_mi(0.0), 12), round(label_mixture_mi(2.0), 4)
    (0.0, 0.3368)
    """

    def p(x):
        return 0.5 * norm.pdf(x) + 0.5 * norm.pdf(x, delta)

    hx = quad(lambda x: -p(x) * np.log(p(x)), -12.0, delta + 12.0, limit=200)[0]
    return float(hx - 0.5 * np.log(2 * np.pi * np.e))
