"""The one style of bottlekit's plots, and the checks their arguments share.

Positive contributions in :data:`POSITIVE_COLOR`, negative ones in :data:`NEGATIVE_COLOR`,
the parts of a logit that are not concepts (intercept, residual, the remaining concepts) in
:data:`NEUTRAL_COLOR`, signed weights on the diverging colour map :data:`DIVERGING_CMAP`
centred at 0, activation maps on :data:`HEAT_CMAP`, and the categorical colours of
:data:`CATEGORY_COLORS` for methods.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from bottlekit._arrays import as_binary_array, as_real_array
from bottlekit._checks import check_number

__all__ = [
    "CATEGORY_COLORS",
    "DIVERGING_CMAP",
    "HEAT_CMAP",
    "MAX_CELL_INCHES",
    "MAX_GRID_CELLS",
    "NEGATIVE_COLOR",
    "NEUTRAL_COLOR",
    "POSITIVE_COLOR",
    "check_cmap",
]


POSITIVE_COLOR = "#b2182b"
"""Bars that raise a logit (the red end of :data:`DIVERGING_CMAP`)."""
NEGATIVE_COLOR = "#2166ac"
"""Bars that lower a logit (the blue end of :data:`DIVERGING_CMAP`)."""
NEUTRAL_COLOR = "#8c8c8c"
"""Intercept, residual and "other concepts" bars."""
DIVERGING_CMAP = "RdBu_r"
"""Signed quantities (head weights): blue negative, white 0, red positive."""
HEAT_CMAP = "inferno"
"""Activation maps."""
CATEGORY_COLORS = (
    "#4c72b0",
    "#dd8452",
    "#55a868",
    "#c44e52",
    "#8172b3",
    "#937860",
    "#da8bc3",
    "#8c8c8c",
    "#ccb974",
    "#64b5cd",
)
"""One colour per method in :func:`plot_metric_summary` (cycled)."""

_TITLE_SIZE = 10
_LABEL_SIZE = 9
_TICK_SIZE = 8


def _new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _target_axes(ax: Any, width: float, height: float) -> tuple[Figure, Any]:
    if ax is None:
        fig = _new_figure(width, height)
        return fig, fig.add_subplot()
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax.figure, ax


@functools.lru_cache(maxsize=4096)
def _char_points(char: str) -> float:
    """Advance width of ``char`` in the default font at 100 points, in points."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    prop = FontProperties(size=100)
    with warnings.catch_warnings():  # (a missing glyph is reported when it is drawn)
        warnings.simplefilter("ignore", UserWarning)
        return float(text_to_path.get_text_width_height_descent(char, prop, ismath=False)[0])


def _text_inches(texts: Sequence[str], size: float) -> float:
    """Width in inches of the widest line of ``texts`` drawn at ``size`` points (0 for
    none): the sum of its characters' widths, each measured once (measuring whole labels
    took 2.7 ms each, seconds for a heat map's thousand rows)."""
    lines = [line for text in texts for line in text.splitlines()]
    widest = max((sum(_char_points(c) for c in line) for line in lines), default=0.0)
    return widest * size / 100 / 72


def _as_float_array(value: Any, name: str, ndim: tuple[int, ...]) -> np.ndarray:
    arr = as_real_array(value, name)
    if arr.ndim not in ndim:
        want = " or ".join(f"{d}-D" for d in ndim)
        raise ValueError(f"{name} must be {want}, got shape {arr.shape}")
    return arr


def _check_names(names: Any, name: str, length: int | None = None) -> list[str]:
    if isinstance(names, str) or not isinstance(names, Sequence | np.ndarray):
        raise TypeError(f"{name} must be a list of str, got {type(names).__name__}")
    out = [str(n) for n in names]
    if not out:
        raise ValueError(f"{name} is empty; expected at least one name")
    if length is not None and len(out) != length:
        raise ValueError(f"{name} has {len(out)} names; expected {length}")
    return out


def _check_positive_int(value: Any, name: str) -> int:
    return check_number(
        value, name, integer=True, low=1, expected="a positive int", wording="must"
    )


MAX_GRID_CELLS = 1000
"""Most cells (images x columns) :func:`plot_activation_maps` draws in one figure (3000
images made 12,000 axes and ran for minutes)."""
MAX_CELL_INCHES = 20.0
"""Largest ``cell_size``: a figure of cells of 10**6 inches could never be saved."""


def check_cmap(cmap: Any, name: str = "cmap") -> None:
    """Raise unless ``cmap`` is a colour map matplotlib knows (a name, a Colormap or None,
    matplotlib's default), naming the argument (matplotlib's own error comes from deep
    inside a draw call).

    Parameters
    ----------
    cmap : str, matplotlib.colors.Colormap or None
        The colour map to check.
    name : str, default "cmap"
        The argument's name, for the message.

    Raises
    ------
    ValueError
        If ``cmap`` is neither, with the closest names matplotlib knows.

    Examples
    --------
    >>> check_cmap("viridis")
    >>> check_cmap("virdis", "colors")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: colors must be a matplotlib colour map name ... did you mean ['viridis'...
    """
    from matplotlib import colormaps
    from matplotlib.colors import Colormap

    if cmap is None or isinstance(cmap, Colormap):
        return
    if not isinstance(cmap, str) or cmap not in colormaps:
        import difflib

        close = difflib.get_close_matches(str(cmap), list(colormaps), n=3)
        raise ValueError(
            f"{name} must be a matplotlib colour map name (e.g. 'inferno', 'viridis') or a "
            f"Colormap, got {cmap!r}" + (f"; did you mean {close}?" if close else "")
        )


def _check_mask_values(masks: Any, name: str) -> np.ndarray:
    """``masks`` as a bool array; booleans or 0/1 numbers only (a float mask of 0.3 or a
    0/255 image mask drew no outline, or the wrong one, without a word)."""
    return as_binary_array(masks, name, wording="must")
