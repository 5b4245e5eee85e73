"""A concept head's weights, class by concept: :func:`plot_concept_weights`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colors as mcolors
from matplotlib.figure import Figure

from bottlekit._checks import check_bool
from bottlekit.visualize._plot_style import (
    _LABEL_SIZE,
    _TICK_SIZE,
    _TITLE_SIZE,
    DIVERGING_CMAP,
    _as_float_array,
    _check_names,
    _check_positive_int,
    _target_axes,
    _text_inches,
)
from bottlekit.visualize._text import plain_text

__all__ = [
    "MAX_ANNOTATED_CELLS",
    "MAX_WEIGHT_CELLS",
    "MAX_WEIGHT_COLUMNS",
    "MAX_WEIGHT_ROWS",
    "plot_concept_weights",
]

#: Most classes, concepts and cells the heat map of :func:`plot_concept_weights` draws: a
#: head of 200 classes x 1000 concepts took 25 s to save, one of 1000 x 4000 would be a
#: figure of 1100 x 250 inches (gigabytes of pixels). The limits let CUB's 200 classes x
#: 312 attributes through and refuse what would take well over a minute.
MAX_WEIGHT_ROWS = 1000
MAX_WEIGHT_COLUMNS = 1000
MAX_WEIGHT_CELLS = 250_000
#: Most cells ``annotate=True`` writes a number in (100 x 100 took 12 s).
MAX_ANNOTATED_CELLS = 10_000


# ---------------------------------------------------------------- concept weights
def plot_concept_weights(
    model: Any,
    top_k: int | None = None,
    classes: Sequence[Any] | None = None,
    *,
    class_names: Sequence[str] | None = None,
    annotate: bool = False,
    ax: Any = None,
) -> Figure:
    r"""Heat map of a concept-bottleneck model's head: classes × concepts, ``coef_``.

    Cell :math:`(c, j)` is the weight :math:`w_{cj}` of concept :math:`j` in the logit of
    class :math:`c`, on :data:`DIVERGING_CMAP` with a symmetric range
    :math:`[-m, m]`, :math:`m = \max |w|` over the shown cells, so white is exactly 0.

    Parameters
    ----------
    model : fitted concept-bottleneck model
        With ``coef_`` (C, k), ``concept_names_`` and ``classes_``.
    top_k : int, optional
        Show only the ``top_k`` concepts with the largest mean :math:`|w_{cj}|` over the
        shown classes, in decreasing order of it. ``None``: every concept in model order.
        The map shows at most 1000 concepts, 1000 classes and 250,000 cells (larger ones are
        refused: pass ``top_k`` or ``classes``).
    classes : list, optional
        Rows to show, as values of ``model.classes_``, in this order. ``None``: all.
    class_names : list of str, optional
        Readable names of ``model.classes_`` (e.g. ``world.class_names``).
    annotate : bool, default False
        Write the weight in each cell (at most :data:`MAX_ANNOTATED_CELLS`, 10,000).
    ax : matplotlib Axes, optional
        Where to draw; a new figure otherwise.

    Returns
    -------
    matplotlib.figure.Figure
        ``ax.images[0].get_array()`` is the shown block of ``coef_``.

    Examples
    --------
    >>> fig = plot_concept_weights(model, top_k=15)  # doctest: +SKIP
    """
    for attr in ("coef_", "concept_names_", "classes_"):
        if not hasattr(model, attr):
            raise TypeError(
                f"model must be a fitted concept-bottleneck model with coef_, concept_names_ "
                f"and classes_; {type(model).__name__} has no {attr}"
            )
    annotate = check_bool(annotate, "annotate")
    W = _as_float_array(model.coef_, "model.coef_", (2,))
    all_classes = list(np.asarray(model.classes_).tolist())
    C, k = W.shape
    if len(all_classes) != C:
        raise ValueError(f"model.coef_ has {C} rows but model.classes_ has {len(all_classes)}")
    names = _check_names(model.concept_names_, "model.concept_names_", k)
    if not np.isfinite(W).all():
        raise ValueError("model.coef_ contains NaN or inf")
    readable = (
        [str(c) for c in all_classes]
        if class_names is None
        else _check_names(class_names, "class_names", C)
    )
    if classes is None:
        rows = list(range(C))
    else:
        if isinstance(classes, str) or not isinstance(classes, Sequence | np.ndarray):
            raise TypeError(f"classes must be a list of class labels, got {classes!r}")
        rows = []
        for c in classes:
            c = c.item() if isinstance(c, np.generic) else c
            if isinstance(c, bool) and not any(isinstance(a, bool) for a in all_classes):
                raise TypeError(f"classes: expected labels of model.classes_, got {c!r}")
            if c not in all_classes:
                raise ValueError(f"classes: {c!r} is not in model.classes_ {all_classes}")
            rows.append(all_classes.index(c))
        if not rows:
            raise ValueError("classes is empty; expected at least one class label")
    block = W[rows]
    if top_k is None:
        cols = np.arange(k)
    else:
        top_k = _check_positive_int(top_k, "top_k")
        cols = np.argsort(-np.abs(block).mean(0), kind="stable")[: min(top_k, k)]
    block = block[:, cols]
    n_rows, n_cols = block.shape
    if n_rows > MAX_WEIGHT_ROWS or n_cols > MAX_WEIGHT_COLUMNS or block.size > MAX_WEIGHT_CELLS:
        raise ValueError(
            f"top_k, classes: a heat map of {n_rows} classes x {n_cols} concepts "
            f"({block.size} cells) is too large to draw; expected at most "
            f"{MAX_WEIGHT_ROWS} classes, {MAX_WEIGHT_COLUMNS} concepts and "
            f"{MAX_WEIGHT_CELLS} cells: pass top_k (concepts) or classes (rows) to show fewer"
        )
    if annotate and block.size > MAX_ANNOTATED_CELLS:
        raise ValueError(
            f"annotate: writing a number in each of {block.size} cells is too slow; expected "
            f"at most {MAX_ANNOTATED_CELLS} cells with annotate=True (pass top_k or classes)"
        )
    m = float(np.abs(block).max()) or 1.0
    norm = mcolors.CenteredNorm(vcenter=0.0, halfrange=m)

    xlabels = [plain_text(names[j]) for j in cols]
    ylabels = [plain_text(readable[r]) for r in rows]
    # room for labels wider than 0.6 inch (names of 80 characters, the longest drawn,
    # collapsed the heat map to empty axes)
    long_x = max(0.0, _text_inches(xlabels, _TICK_SIZE) - 0.6)
    long_y = max(0.0, _text_inches(ylabels, _TICK_SIZE) - 0.6)
    width = 1.6 + 0.28 * len(cols) + long_y + 0.5 * long_x  # (x labels lean left: 60°)
    fig, ax = _target_axes(ax, width, 1.4 + 0.25 * len(rows) + 0.87 * long_x)
    im = ax.imshow(block, cmap=DIVERGING_CMAP, norm=norm, aspect="auto", interpolation="none")
    ax.set_xticks(np.arange(len(cols)), xlabels, rotation=60, ha="right")
    ax.set_yticks(np.arange(len(rows)), ylabels)
    ax.tick_params(labelsize=_TICK_SIZE)
    ax.set_xlabel("concept", fontsize=_LABEL_SIZE)
    ax.set_ylabel("class", fontsize=_LABEL_SIZE)
    if annotate:
        for (r, c), v in np.ndenumerate(block):
            ax.text(
                c,
                r,
                f"{v:.1f}",
                ha="center",
                va="center",
                fontsize=_TICK_SIZE - 2,
                color="white" if abs(v) > 0.6 * m else "black",
            )
    ax.set_title("concept weights of the head (coef_)", fontsize=_TITLE_SIZE)
    fig.colorbar(im, ax=ax, label="weight")
    return fig
