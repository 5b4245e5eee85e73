r"""Images with a known mutual information (the validation of Butakov et al. 2024).

Two low-dimensional Gaussian vectors :math:`\xi, \eta \in \mathbb{R}^d` with a chosen
:math:`I(\xi;\eta)` (independent coordinate pairs of correlation :math:`\rho`, so
:math:`I = -\tfrac d2\log(1-\rho^2)`) are each drawn as an image by one fixed smooth
injective map; MI is invariant under injective maps, so the images' MI is exactly
:math:`I(\xi;\eta)` although they live in :math:`\mathbb{R}^{s\times s}`.

The map is the paper's "Gaussian plot" (16 x 16 images, latent dimension 2 in the
paper): coordinate pair :math:`(u_1, u_2)` of :math:`\xi` gives a blob centred at
:math:`c = \Phi(u)` (:math:`\Phi` the normal CDF, coordinates in units of the side),
:math:`\exp(-10\,\lVert p - c\rVert^2)` over the pixel grid :math:`p \in [0, 1]^2`;
with :math:`d = 2` one blob per image, with :math:`d = 4` two blobs in two channels.
Smooth, and injective (the blob's centre is recovered from the image).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from bottlekit._checks import check_positive_int

from ._validation import check_random_state

__all__ = ["blob_images", "gaussian_blob_images"]


def blob_images(latent: np.ndarray, image_size: int = 16, sharpness: float = 10.0) -> np.ndarray:
    r"""Draw each row of ``latent`` (n, d), d even, as ``d // 2`` Gaussian blobs.

    Parameters
    ----------
    latent : ndarray of shape (n, d)
        d even; each coordinate pair places one blob (one channel).
    image_size : int, default=16
        Height and width of each image in pixels (>= 4).
    sharpness : float, default=10.0
        :math:`a` in :math:`\exp(-a\lVert p - c\rVert^2)` (the paper's 10).

    Returns
    -------
    ndarray of shape (n, d // 2, image_size, image_size), float32 in [0, 1]
        One channel per blob.

    Examples
    --------
    >>> import numpy as np
    >>> blob_images(np.zeros((3, 2)), image_size=8).shape
    (3, 1, 8, 8)
    """
    latent = np.asarray(latent, dtype=np.float64)
    if latent.ndim != 2 or latent.shape[1] % 2 or latent.shape[1] == 0:
        raise ValueError(f"latent must have shape (n, d) with d even, got {latent.shape}")
    if not np.all(np.isfinite(latent)):
        raise ValueError("latent contains NaN or inf")
    size = check_positive_int(image_size, "image_size", minimum=4)
    if isinstance(sharpness, bool) or not isinstance(sharpness, (int, float)) or not sharpness > 0:
        raise ValueError(f"sharpness must be a positive number, got {sharpness!r}")
    centres = ndtr(latent)  # (n, d) in [0, 1]
    grid = np.linspace(0.0, 1.0, size)
    cx = centres[:, 0::2][:, :, None]  # (n, d/2, 1)
    cy = centres[:, 1::2][:, :, None]
    gx = np.exp(-sharpness * (grid[None, None, :] - cx) ** 2)  # (n, d/2, s)
    gy = np.exp(-sharpness * (grid[None, None, :] - cy) ** 2)
    return (gy[:, :, :, None] * gx[:, :, None, :]).astype(np.float32)


def gaussian_blob_images(
    n: int,
    mi: float,
    dim: int = 2,
    image_size: int = 16,
    random_state: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    r"""Paired images ``(X, Y)`` whose mutual information is ``mi`` nats exactly.

    Parameters
    ----------
    n : int
        Number of pairs (>= 2).
    mi : float
        :math:`I(X;Y)` in nats (>= 0).
    dim : int, default=2
        Latent dimension of each side (even): 2 gives one blob, 4 two channels.
    image_size : int, default=16
        Height and width of each image in pixels (>= 4).
    random_state : int, numpy Generator or None
        Seed of the latent Gaussian draws.

    Returns
    -------
    X, Y : ndarray of shape (n, dim // 2, image_size, image_size)
        Float32 images in [0, 1] (see :func:`blob_images`), paired row by row.
    mi : float
        The exact MI (nats), as passed.

    Examples
    --------
    >>> X, Y, mi = gaussian_blob_images(100, 1.0, random_state=0)
    >>> X.shape, mi
    ((100, 1, 16, 16), 1.0)
    """
    n = check_positive_int(n, "n", minimum=2)
    dim = check_positive_int(dim, "dim")
    if dim % 2:
        raise ValueError(f"dim must be even (coordinate pairs place blobs), got {dim}")
    if isinstance(mi, bool) or not isinstance(mi, (int, float, np.floating)) or not mi >= 0:
        raise ValueError(f"mi must be a finite number >= 0 (nats), got {mi!r}")
    if not np.isfinite(mi):
        raise ValueError(f"mi must be finite, got {mi!r}")
    rng = check_random_state(random_state)
    rho = np.sqrt(-np.expm1(-2.0 * float(mi) / dim))
    xi = rng.standard_normal((n, dim))
    eta = rho * xi + np.sqrt(1.0 - rho**2) * rng.standard_normal((n, dim))
    return blob_images(xi, image_size), blob_images(eta, image_size), float(mi)
