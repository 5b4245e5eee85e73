"""Activation maps over their images: :func:`plot_activation_maps`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from bottlekit._arrays import as_real_array
from bottlekit._checks import check_bool, check_choice, check_number
from bottlekit.visualize._plot_style import (
    _TICK_SIZE,
    HEAT_CMAP,
    MAX_CELL_INCHES,
    MAX_GRID_CELLS,
    _as_float_array,
    _check_mask_values,
    _check_names,
    _new_figure,
    check_cmap,
)
from bottlekit.visualize._text import plain_text

__all__ = ["plot_activation_maps"]


# ------------------------------------------------------------------ activation maps
def _check_images(images: Any) -> np.ndarray:
    arr = as_real_array(images, "images", dtype=None, wording="must")
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3):
        raise ValueError(
            f"images must have shape (n, H, W, 3) or (H, W, 3) (channels last), got {arr.shape}"
        )
    if 0 in arr.shape:
        raise ValueError(f"images is empty (shape {arr.shape}); expected at least one image")
    if arr.dtype == np.uint8:
        return arr
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("images contains NaN or inf")
    if arr.min() < 0 or arr.max() > 1:
        raise ValueError(
            f"float images must lie in [0, 1], got values in [{arr.min():.3g}, {arr.max():.3g}]"
            " (pass uint8 for 0..255)"
        )
    return arr


def plot_activation_maps(
    images: Any,
    maps: Any,
    concept_names: Sequence[str],
    *,
    masks: Any = None,
    image_titles: Sequence[str] | None = None,
    alpha: float = 0.5,
    scale: str = "map",
    cmap: str = HEAT_CMAP,
    show_image: bool = True,
    cell_size: float = 1.6,
) -> Figure:
    r"""Concept activation maps over their images: one row per image, one column per concept.

    Cell :math:`(i, j)` shows image :math:`i` with map :math:`M_{ij}` drawn over it with
    opacity ``alpha``; a map of lower resolution than the image is stretched over the
    whole image (bilinear display interpolation; the data are not resampled). With
    ``masks``, the outline of the mask (the 0.5 level set) of the part the concept belongs
    to is drawn on top, so one sees whether the map falls on that part.

    Parameters
    ----------
    images : array of shape (n, H, W, 3) or (H, W, 3)
        uint8 (0..255) or float in [0, 1].
    maps : array of shape (n, k, h, w), or (n, h, w) when there is one concept
        Finite values, e.g. from a concept activation map method.
    concept_names : list of str, length k
        Column titles.
    masks : bool array of shape (n, k, H, W) or (n, H, W), optional
        Part mask of each (image, concept), or one mask per image for every concept.
    image_titles : list of str, length n, optional
        Row labels (e.g. the species).
    alpha : float in (0, 1], default 0.5
        Opacity of the map.
    scale : {"map", "shared"}, default "map"
        ``"map"``: each map spans the colour map from its own minimum to its maximum
        (where it looks, not how strongly); ``"shared"``: one range over all maps and a
        colour bar, so strengths are comparable.
    cmap : str, default :data:`HEAT_CMAP`
        Matplotlib colour map of the maps (default ``"inferno"``).
    show_image : bool, default True
        Put the plain image in a first column.
    cell_size : float, default 1.6
        Inches per grid cell, at most :data:`MAX_CELL_INCHES` (20); the grid has at most
        :data:`MAX_GRID_CELLS` (1000) cells.

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.axes[i * n_cols + c]`` is the cell of image ``i`` and column ``c``; in a map
        cell, ``ax.images[0]`` is the image and ``ax.images[1]`` the map.

    Examples
    --------
    >>> import numpy as np
    >>> imgs = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    >>> maps = np.random.default_rng(0).random((2, 3, 4, 4))
    >>> fig = plot_activation_maps(imgs, maps, ["red body", "long tail", "crest"])
    >>> len(fig.axes)
    8
    """
    imgs = _check_images(images)
    n, H, W = imgs.shape[:3]
    m = _as_float_array(maps, "maps", (3, 4))
    if m.ndim == 3:
        m = m[:, None]
    if m.shape[0] != n:
        raise ValueError(f"maps has {m.shape[0]} images; images has {n} (shape {m.shape})")
    if 0 in m.shape:
        raise ValueError(f"maps is empty (shape {m.shape}); expected at least one pixel per map")
    if not np.isfinite(m).all():
        raise ValueError("maps contains NaN or inf")
    k = m.shape[1]
    names = _check_names(concept_names, "concept_names", k)
    if masks is not None:
        mk = _check_mask_values(masks, "masks")
        if mk.ndim == 3:
            mk = np.broadcast_to(mk[:, None], (mk.shape[0], k, *mk.shape[1:]))
        if mk.ndim != 4 or mk.shape != (n, k, H, W):
            raise ValueError(
                f"masks must have shape (n, k, H, W) = {(n, k, H, W)} or (n, H, W), "
                f"got {np.shape(masks)}"
            )
        mk = mk.astype(np.float64)
    else:
        mk = None
    rows = None if image_titles is None else _check_names(image_titles, "image_titles", n)
    alpha = check_number(
        alpha, "alpha", low=0, low_open=True, high=1, expected="a float in (0, 1]", wording="must"
    )
    scale = check_choice(
        scale, ("map", "shared"), "scale", expected="'map' or 'shared'", wording="must"
    )
    check_cmap(cmap)
    show_image = check_bool(show_image, "show_image")
    cell_size = check_number(
        cell_size, "cell_size", low=0, low_open=True, high=MAX_CELL_INCHES, wording="must"
    )

    n_cols = k + bool(show_image)
    if n * n_cols > MAX_GRID_CELLS:
        raise ValueError(
            f"images, maps: {n} images x {n_cols} columns = {n * n_cols} cells are too many "
            f"for one figure (at most {MAX_GRID_CELLS}); plot a slice, e.g. images[:10], "
            "maps[:10]"
        )
    fig = _new_figure(cell_size * n_cols + (0.8 if scale == "shared" else 0), cell_size * n)
    axes = fig.subplots(n, n_cols, squeeze=False)
    extent = (-0.5, W - 0.5, H - 0.5, -0.5)
    shown = imgs[..., 0] if imgs.shape[-1] == 1 else imgs
    gray = "gray" if imgs.shape[-1] == 1 else None
    shared = (float(m.min()), float(m.max())) if scale == "shared" else None
    last = None
    for i in range(n):
        for c in range(n_cols):
            ax = axes[i, c]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.imshow(shown[i], cmap=gray, extent=extent)
            j = c - bool(show_image)
            if j >= 0:
                lo, hi = shared if shared else (float(m[i, j].min()), float(m[i, j].max()))
                if hi <= lo:  # a constant map: a flat colour, not a division by zero
                    hi = lo + 1.0
                last = ax.imshow(
                    m[i, j],
                    cmap=cmap,
                    alpha=alpha,
                    vmin=lo,
                    vmax=hi,
                    extent=extent,
                    interpolation="bilinear",
                )
                if mk is not None and mk[i, j].any() and not mk[i, j].all():
                    ax.contour(np.arange(W), np.arange(H), mk[i, j], levels=[0.5], colors="cyan")
                ax.set_xlim(extent[0], extent[1])
                ax.set_ylim(extent[2], extent[3])
            if i == 0:
                ax.set_title("image" if j < 0 else plain_text(names[j]), fontsize=_TICK_SIZE)
            if c == 0 and rows is not None:
                ax.set_ylabel(plain_text(rows[i]), fontsize=_TICK_SIZE)
    if shared and last is not None:
        fig.colorbar(last, ax=axes, shrink=0.8, label="activation")
    return fig
