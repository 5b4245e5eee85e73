r"""Gaussian kernels: width rules and tiled kernel sums (numpy and torch).

Every kernel estimator here needs sums of the Gaussian kernel
:math:`k_\sigma(a,b)=\exp(-\|a-b\|^2/(2\sigma^2))` over all pairs of two samples. The
functions below compute the *row sums* :math:`r_i = \sum_j k_\sigma(a_i, b_j)` tile by tile,
so memory is ``O(tile_size^2)`` instead of ``O(n m)``: n = 50,000 needs 32 MiB, not 20 GB.
Sums over products of kernels on several blocks of variables, e.g.
:math:`\sum_j k_{\sigma_x}(x_i,x_j)k_{\sigma_y}(y_i,y_j)`, are row sums of one Gaussian
kernel with width 1 on the concatenation :math:`(x/\sigma_x, y/\sigma_y)`.

Kernel width rules (``sigma=`` in the estimators), for ``n`` samples in ``d`` dimensions
with per-column standard deviations :math:`s_1..s_d`, :math:`\bar s` their mean:

* a number: fixed width;
* ``"silverman"``: :math:`\sigma = \bar s\,(4/(d+2))^{1/(d+4)}\,n^{-1/(d+4)}`
  (Silverman's rule of thumb for a Gaussian kernel, isotropic version);
* ``"scott"``: :math:`\sigma = \bar s\, n^{-1/(d+4)}`;
* ``"median"``: the median of the pairwise Euclidean distances (Gretton et al.'s heuristic),
  computed on at most 1,000 randomly chosen rows for large ``n``. Gretton et al.'s MATLAB
  code (``hsicTestGamma.m``) sets :math:`\sigma = \sqrt{\mathrm{median}(d^2)/2}`, about
  this width over :math:`\sqrt 2`, so that its kernel is :math:`e^{-d^2/\mathrm{median}(d^2)}`
  (on the first 100 rows); pass ``sigma=kernel_width(X, "median") / np.sqrt(2)`` to match it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from bottlekit._arrays import check_real_tensor
from bottlekit._checks import check_choice, check_number, is_number

from ._scaling import power_of_two_scale, safe_std
from ._validation import as_2d_samples, check_random_state, check_same_columns

if TYPE_CHECKING:
    import torch

__all__ = [
    "WIDTH_RULES",
    "gaussian_rowsums",
    "gaussian_rowsums_torch",
    "kernel_width",
]

WIDTH_RULES = ("silverman", "scott", "median")
_MEDIAN_MAX_ROWS = 1000


def kernel_width(
    X: ArrayLike | torch.Tensor,
    sigma: float | str = "silverman",
    *,
    random_state: int | np.random.Generator | None = 0,
    name: str = "sigma",
) -> float:
    """Resolve a kernel-width setting to a positive float for samples ``X`` (n, d).

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n,) or (n, d)
        Samples (a tensor is detached: the width never carries gradient).
    sigma : float or {"silverman", "scott", "median"}, default="silverman"
        See the module docstring for the formulas.
    random_state : int, numpy Generator or None, default=0
        Seed of the row subsample used by ``"median"`` when ``n > 1000``.
    name : str
        Argument name for error messages. The variable the messages name follows from it:
        ``"sigma_y"`` names ``Y``, any other name ``X``.

    Returns
    -------
    float
        The width, > 0 (``sigma`` itself when it is a number).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((1000, 1))
    >>> round(kernel_width(x, "silverman"), 2)   # 1.06 * n^(-1/5) * std
    0.26
    """
    if is_number(sigma):
        return check_number(
            sigma, name, low=0, low_open=True, expected="a finite number > 0", wording="must"
        )
    sigma = check_choice(
        sigma,
        WIDTH_RULES,
        name,
        expected=f"a positive number or one of {WIDTH_RULES}",
        wording="must",
    )
    if hasattr(X, "detach"):
        X = X.detach().cpu().double()
    # the samples' own name in the messages: Y's width said "every column of X is
    # constant" when Y was
    var = "Y" if name == "sigma_y" else "X"
    # a 1-D X is one variable, as in every estimator; NaN or one row gave a NaN width
    X = as_2d_samples(X, var, why=f"{name}={sigma!r} needs a spread")
    n, d = X.shape
    if sigma == "silverman" or sigma == "scott":
        s = float(np.mean(safe_std(X, ddof=1)))
        factor = (4.0 / (d + 2.0)) ** (1.0 / (d + 4.0)) if sigma == "silverman" else 1.0
        width = s * factor * n ** (-1.0 / (d + 4.0))
        what = f"every column of {var} is constant"
    else:  # "median"
        from scipy.spatial.distance import pdist

        if n > _MEDIAN_MAX_ROWS:
            rows = check_random_state(random_state).choice(n, _MEDIAN_MAX_ROWS, replace=False)
            X = X[rows]
        # Differences, not |a|^2 + |b|^2 - 2ab: the expansion lost every digit of data with
        # an offset (a spread of 1 at 1e8 gave width 0); a power of two keeps squares finite.
        scale = float(power_of_two_scale(X, axis=None))
        width = float(np.median(pdist(X / scale))) * scale
        what = (
            f"more than half of the pairs of rows of {var} coincide (repeated or discrete values)"
        )
    if not np.isfinite(width) or width <= 0:
        raise ValueError(
            f"{name}={sigma!r} gives width {width!r} for this data: {what}; pass a fixed "
            "positive width"
        )
    return float(width)


def _check_tile(tile_size) -> int:
    return check_number(
        tile_size,
        "tile_size",
        integer=True,
        low=1,
        expected="a positive integer",
        wording="must",
        type_error=True,
    )


def _check_sigma(sigma) -> None:
    if hasattr(sigma, "detach"):  # a torch scalar (differentiable width): no device sync
        if sigma.numel() != 1:
            raise ValueError(f"sigma must be a scalar, got a tensor of shape {tuple(sigma.shape)}")
        return
    check_number(
        sigma, "sigma", low=0, low_open=True, expected="a finite number > 0", wording="must"
    )


def _check_finite_sums(sums, sigma) -> None:
    """Raise if squared distances in units of ``sigma`` overflowed (the sums are NaN).

    Points ``1e154`` widths apart (``1e-30`` in float32) have squares beyond float's
    range; the expanded distance then gave NaN row sums without a word.
    """
    finite = sums.isfinite().all() if hasattr(sums, "isfinite") else np.isfinite(sums).all()
    if not bool(finite):
        width = float(sigma.detach()) if hasattr(sigma, "detach") else float(sigma)
        raise ValueError(
            f"sigma={width:.3g} is too small for these data: squared distances in units of "
            "sigma overflow (every kernel value between distinct points would be 0); pass "
            "a larger sigma or standardise the data"
        )


def gaussian_rowsums(
    A: np.ndarray, B: np.ndarray, sigma: float, tile_size: int = 2048
) -> np.ndarray:
    r"""Row sums :math:`r_i=\sum_j \exp(-\|a_i-b_j\|^2/(2\sigma^2))`, tiled (numpy, float64).

    Float64 tiles of :func:`._kernel_sums.gaussian_pair_sums` (exact to rounding); the
    estimators use its faster float32 tiles.

    Parameters
    ----------
    A : ndarray of shape (n, d)
        Points :math:`a_i` whose row sums are computed.
    B : ndarray of shape (m, d)
        Points :math:`b_j` summed over (same ``d``).
    sigma : float
        Kernel width (> 0).
    tile_size : int, default=2048
        Largest block of the ``n x m`` kernel matrix held in memory at once.

    Returns
    -------
    ndarray of shape (n,)
        Float64 row sums :math:`r_i`.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.zeros((2, 1)); B = np.array([[0.0], [1.0]])
    >>> np.round(gaussian_rowsums(A, B, 1.0), 4)
    array([1.6065, 1.6065])
    """
    import torch

    from ._kernel_sums import gaussian_pair_sums

    tile = _check_tile(tile_size)
    _check_sigma(sigma)
    A = as_2d_samples(A, "A", min_samples=1)
    B = as_2d_samples(B, "B", min_samples=1)
    check_same_columns(A, B)
    sums = gaussian_pair_sums(A, B, (float(sigma),), tile_size=tile, dtype=torch.float64)
    _check_finite_sums(sums["x"], sigma)
    return sums["x"].numpy()


def _tile_rowsum_torch(Ai, B, scale):
    import torch

    # ||a||^2 + ||b||^2 - 2 a.b: one matrix product, no (t, t, d) intermediate. Clamping the
    # rounding error below 0 only touches (near-)coincident pairs, whose gradient is 0.
    d2 = (Ai * Ai).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * (Ai @ B.T)
    return torch.exp(d2.clamp_min(0.0) * scale).sum(dim=1)


def gaussian_rowsums_torch(
    A: torch.Tensor, B: torch.Tensor, sigma: float | torch.Tensor, tile_size: int = 2048
) -> torch.Tensor:
    r"""Torch version of :func:`gaussian_rowsums`, differentiable in ``A``, ``B``, ``sigma``.

    Tiles are wrapped in :func:`torch.utils.checkpoint.checkpoint` when the kernel matrix is
    larger than one tile, so the backward pass recomputes each tile instead of storing the
    ``n x m`` matrix: memory stays ``O(tile_size^2)`` with gradients too.

    Parameters
    ----------
    A : torch.Tensor of shape (n, d)
        Points :math:`a_i` whose row sums are computed.
    B : torch.Tensor of shape (m, d)
        Points :math:`b_j` summed over (same ``d``).
    sigma : float or 0-dim torch.Tensor
        Kernel width (> 0).
    tile_size : int, default=2048
        Largest block of the ``n x m`` kernel matrix held in memory at once.

    Returns
    -------
    torch.Tensor of shape (n,)
        Row sums :math:`r_i`, in the inputs' dtype and on their device.

    Examples
    --------
    >>> import torch
    >>> A = torch.zeros(2, 1); B = torch.tensor([[0.0], [1.0]])
    >>> gaussian_rowsums_torch(A, B, 1.0).round(decimals=4)
    tensor([1.6065, 1.6065])
    """
    import torch
    from torch.utils.checkpoint import checkpoint

    tile = _check_tile(tile_size)
    _check_sigma(sigma)
    for arr, name in ((A, "A"), (B, "B")):
        if not torch.is_tensor(arr):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(arr).__name__}")
        check_real_tensor(arr, name, wording="must")
        if arr.ndim != 2:
            raise ValueError(f"{name} must have shape (n, d), got shape {tuple(arr.shape)}")
    check_same_columns(A, B)
    scale = -0.5
    # Centre both samples on B's mean (a shift leaves distances unchanged) to limit the
    # cancellation in the expanded squared distance; work in units of sigma so that no
    # square overflows.
    centre = B.detach().mean(dim=0)
    A, B = (A - centre) / sigma, (B - centre) / sigma
    if A.shape[0] <= tile and B.shape[0] <= tile:
        out = _tile_rowsum_torch(A, B, scale)
        _check_finite_sums(out.detach(), sigma)
        return out
    need_grad = torch.is_grad_enabled() and (
        A.requires_grad or B.requires_grad or (torch.is_tensor(sigma) and sigma.requires_grad)
    )
    rows = []
    for i in range(0, A.shape[0], tile):
        Ai = A[i : i + tile]
        acc = 0.0
        for j in range(0, B.shape[0], tile):
            Bj = B[j : j + tile]
            if need_grad:
                acc = acc + checkpoint(_tile_rowsum_torch, Ai, Bj, scale, use_reentrant=False)
            else:
                acc = acc + _tile_rowsum_torch(Ai, Bj, scale)
        rows.append(acc)
    out = torch.cat(rows)
    _check_finite_sums(out.detach(), sigma)
    return out
