"""Plots of concept-bottleneck models: activation maps, contributions, weights, metrics.

Every function builds a :class:`matplotlib.figure.Figure` with the object API (never
through ``pyplot``, so nothing is left open in pyplot's figure registry and nothing is
shown), draws into it and returns it; ``fig.savefig(path)`` writes it. In a notebook a
returned figure is displayed once, as the cell's value.

The functions share one style: positive contributions in :data:`POSITIVE_COLOR`,
negative ones in :data:`NEGATIVE_COLOR`, the parts of a logit that are not concepts
(intercept, residual, the remaining concepts) in :data:`NEUTRAL_COLOR`, signed weights on
the diverging colour map :data:`DIVERGING_CMAP` centred at 0, activation maps on
:data:`HEAT_CMAP`, and the categorical colours of :data:`CATEGORY_COLORS` for methods.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colors as mcolors
from matplotlib.figure import Figure

from bottlekit._arrays import as_real_array
from bottlekit._checks import check_bool, check_choice, check_number, is_number
from bottlekit.visualize._text import plain_text

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
    "plot_activation_maps",
    "plot_concept_weights",
    "plot_contributions",
    "plot_metric_summary",
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
    inside a draw call)."""
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
    mk = as_real_array(masks, name, dtype=None, wording="must")
    if mk.dtype != bool:
        other = ~np.isin(mk, (0, 1))
        if other.any():
            raise ValueError(
                f"{name} must hold booleans (or 0/1), got {mk.dtype} values such as "
                f"{np.unique(mk[other])[:3].tolist()}"
            )
        mk = mk.astype(bool)
    return mk


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


# ---------------------------------------------------------------- contributions
def _explanation_row(explanation: Any, index: int) -> dict[str, Any]:
    needed = ("concept_names", "classes", "target", "contributions", "intercept", "logits")
    missing = [a for a in needed if not hasattr(explanation, a)]
    if missing:
        raise TypeError(
            f"explanation must be a ConceptExplanation (model.explain(X)); "
            f"{type(explanation).__name__} lacks {missing}"
        )
    contrib = _as_float_array(explanation.contributions, "explanation.contributions", (2,))
    n, k = contrib.shape
    if isinstance(index, bool) or not isinstance(index, int | np.integer):
        raise TypeError(f"index must be an int, got {type(index).__name__}")
    if not -n <= index < n:
        raise ValueError(f"index={index} is out of range for an explanation of {n} images")
    names = _check_names(explanation.concept_names, "explanation.concept_names", k)
    residual = getattr(explanation, "residual", None)
    per_image = {}
    for field, value in (
        ("intercept", explanation.intercept),
        ("residual", np.zeros(n) if residual is None else residual),
        ("logits", explanation.logits),
        ("target", explanation.target),
    ):
        arr = _as_float_array(value, f"explanation.{field}", (1,))
        if len(arr) != n:
            raise ValueError(f"explanation.{field} has {len(arr)} values; expected {n}")
        per_image[field] = arr
    classes = list(np.asarray(explanation.classes).tolist())
    target = per_image["target"][index]
    if not (np.isfinite(target) and target == np.round(target) and 0 <= target < len(classes)):
        raise ValueError(
            f"explanation.target[{index}] must be an index into explanation.classes "
            f"(0..{len(classes) - 1}), got {target:g}"
        )
    row = {
        "names": names,
        "contributions": contrib[index],
        "intercept": float(per_image["intercept"][index]),
        "residual": float(per_image["residual"][index]),
        "has_residual": bool(np.any(per_image["residual"] != 0)),
        "logit": float(per_image["logits"][index]),
        "target": int(target),
        "classes": classes,
    }
    if not np.isfinite(row["contributions"]).all():
        raise ValueError(f"explanation.contributions[{index}] contains NaN or inf")
    for field in ("intercept", "residual", "logits"):
        if not np.isfinite(per_image[field][index]):
            raise ValueError(
                f"explanation.{field}[{index}] is NaN or inf; expected a finite value"
            )
    return row


def plot_contributions(
    explanation: Any,
    index: int = 0,
    top_k: int = 10,
    *,
    class_names: Sequence[str] | None = None,
    show_rest: bool = True,
    ax: Any = None,
) -> Figure:
    r"""Why image ``index`` got its logit: its largest concept contributions as bars.

    The logit of the explained class :math:`t` decomposes as
    :math:`z_t = \sum_j a_j w_{tj} + b_t + r_t`; the ``top_k`` concepts with the largest
    :math:`|a_j w_{tj}|` get one horizontal bar each (largest on top; red raises the logit,
    blue lowers it), followed by grey bars for the sum of the other concepts, the
    intercept :math:`b_t` and, for a model with a residual, :math:`r_t`. The bars add up
    to the logit in the title.

    Parameters
    ----------
    explanation : ConceptExplanation
        From ``model.explain(X)``.
    index : int, default 0
        Image to show.
    top_k : int, default 10
        Concepts shown (all when there are fewer).
    class_names : list of str, optional
        Readable names of ``explanation.classes`` (e.g. ``world.class_names`` when the
        classes are integer labels).
    show_rest : bool, default True
        Add the "other concepts" bar.
    ax : matplotlib Axes, optional
        Where to draw; a new figure otherwise.

    Returns
    -------
    matplotlib.figure.Figure
        The bars are ``ax.patches`` top to bottom; their labels the y tick labels.

    Examples
    --------
    >>> fig = plot_contributions(model.explain(X_test), index=0, top_k=8)  # doctest: +SKIP
    """
    row = _explanation_row(explanation, index)
    top_k = _check_positive_int(top_k, "top_k")
    show_rest = check_bool(show_rest, "show_rest")
    contrib = row["contributions"]
    k = len(contrib)
    order = np.argsort(-np.abs(contrib), kind="stable")[: min(top_k, k)]
    labels = [row["names"][j] for j in order]
    values = [float(contrib[j]) for j in order]
    colors = [POSITIVE_COLOR if v >= 0 else NEGATIVE_COLOR for v in values]
    n_rest = k - len(order)
    if show_rest and n_rest > 0:
        rest = float(contrib.sum() - contrib[order].sum())
        labels.append(f"other {n_rest} concept{'s' if n_rest > 1 else ''}")
        values.append(rest)
        colors.append(NEUTRAL_COLOR)
    labels.append("intercept")
    values.append(row["intercept"])
    colors.append(NEUTRAL_COLOR)
    if row["has_residual"]:
        labels.append("residual")
        values.append(row["residual"])
        colors.append(NEUTRAL_COLOR)

    fig, ax = _target_axes(ax, 6.0, 0.8 + 0.3 * len(values))
    y = np.arange(len(values))[::-1]  # first bar on top
    ax.barh(y, values, color=colors, height=0.7)
    ax.set_yticks(y, [plain_text(t) for t in labels], fontsize=_TICK_SIZE)
    ax.axvline(0.0, color="0.2", lw=0.8)
    n_concepts = len(order)
    if n_concepts < len(values):  # separate concepts from the non-concept terms
        ax.axhline(y[n_concepts - 1] - 0.5, color="0.6", lw=0.6, ls=":")
    for yy, v in zip(y, values, strict=True):
        ax.annotate(
            f"{v:+.2f}",
            (v, yy),
            xytext=(3 if v >= 0 else -3, 0),
            textcoords="offset points",
            ha="left" if v >= 0 else "right",
            va="center",
            fontsize=_TICK_SIZE - 1,
        )
    lo, hi = min(0.0, *values), max(0.0, *values)
    pad = 0.18 * (hi - lo or 1.0)
    ax.set_xlim(lo - pad, hi + pad)
    classes = row["classes"]
    label = classes[row["target"]]
    if class_names is not None:
        readable = _check_names(class_names, "class_names", len(classes))
        label = readable[row["target"]]
    title = f"image {index}: class {plain_text(label)}, logit {row['logit']:.2f}"
    ax.set_title(title, fontsize=_TITLE_SIZE)
    ax.set_xlabel("contribution to the logit", fontsize=_LABEL_SIZE)
    ax.tick_params(axis="x", labelsize=_TICK_SIZE)
    return fig


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
    classes : list, optional
        Rows to show, as values of ``model.classes_``, in this order. ``None``: all.
    class_names : list of str, optional
        Readable names of ``model.classes_`` (e.g. ``world.class_names``).
    annotate : bool, default False
        Write the weight in each cell.
    ax : matplotlib Axes, optional

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
    m = float(np.abs(block).max()) or 1.0
    norm = mcolors.CenteredNorm(vcenter=0.0, halfrange=m)

    fig, ax = _target_axes(ax, 1.6 + 0.28 * len(cols), 1.4 + 0.25 * len(rows))
    im = ax.imshow(block, cmap=DIVERGING_CMAP, norm=norm, aspect="auto", interpolation="none")
    ax.set_xticks(
        np.arange(len(cols)), [plain_text(names[j]) for j in cols], rotation=60, ha="right"
    )
    ax.set_yticks(np.arange(len(rows)), [plain_text(readable[r]) for r in rows])
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


# ---------------------------------------------------------------- metric summaries
def plot_metric_summary(
    table: Mapping[str, Mapping[str, float]],
    *,
    metrics: Sequence[str] | None = None,
    errors: Mapping[str, Mapping[str, float]] | None = None,
    ylabel: str = "value",
    title: str | None = None,
    annotate: bool = True,
    ax: Any = None,
) -> Figure:
    """Grouped bars of a table ``{method: {metric: value}}``: one group per metric.

    Within each metric's group there is one bar per method, in the table's order and
    colour (:data:`CATEGORY_COLORS`, with a legend); a metric a method lacks (or a NaN)
    leaves a gap.

    Parameters
    ----------
    table : dict of str to dict of str to float
        E.g. ``{"PCBM": {"accuracy": 0.91, "concept AUROC": 0.84}, ...}``.
    metrics : list of str, optional
        Metrics to show, in this order; default: every metric, in order of first appearance.
    errors : dict, optional
        Same layout as ``table``: half-widths of error bars.
    ylabel : str
    title : str, optional
    annotate : bool, default True
        Write each value above its bar.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        ``ax.containers[m]`` holds the bars of the ``m``-th method.

    Examples
    --------
    >>> fig = plot_metric_summary({"a": {"acc": 0.9, "f1": 0.8}, "b": {"acc": 0.7}})
    >>> [round(float(p.get_height()), 2) for p in fig.axes[0].containers[0]]
    [0.9, 0.8]
    """
    _check_table(table, "table")
    methods = [str(m) for m in table]
    if metrics is None:
        cols: list[str] = []
        for row in table.values():
            cols.extend(str(c) for c in row if str(c) not in cols)
    else:
        cols = _check_names(metrics, "metrics")
        known = {str(c) for row in table.values() for c in row}
        absent = [c for c in cols if c not in known]
        if absent:
            raise ValueError(
                f"metrics: {absent[:5]} are in no row of table; it has {sorted(known)}"
            )
    annotate = check_bool(annotate, "annotate")
    if not isinstance(ylabel, str):
        raise TypeError(f"ylabel must be a str, got {ylabel!r}")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None, got {title!r}")
    if errors is not None:
        _check_table(errors, "errors", allow_empty_rows=True)
        stray = [str(m) for m in errors if m not in table]
        if stray:
            raise ValueError(f"errors: methods {stray[:5]} are not in table; it has {methods}")
        stray = sorted({str(c) for row in errors.values() for c in row} - set(cols))
        if stray:
            raise ValueError(f"errors: metrics {stray[:5]} are not among the metrics shown {cols}")
    values = np.array(
        [[float(table[m].get(c, np.nan)) for c in cols] for m in table], dtype=np.float64
    )
    if np.isinf(values).any():
        bad = [(methods[i], cols[j]) for i, j in zip(*np.nonzero(np.isinf(values)), strict=True)]
        raise ValueError(f"table holds inf at (method, metric) {bad}; expected finite values")
    errs = None
    if errors is not None:
        errs = np.array(
            [[float(errors.get(m, {}).get(c, np.nan)) for c in cols] for m in table],
            dtype=np.float64,
        )
        if (errs < 0).any() or np.isinf(errs).any():
            raise ValueError("errors must hold finite half-widths >= 0")

    n_m = len(methods)
    fig, ax = _target_axes(ax, max(4.0, 1.0 + 0.45 * n_m * len(cols)), 3.4)
    width = 0.8 / n_m
    x = np.arange(len(cols))
    for i, method in enumerate(methods):
        bars = ax.bar(
            x + (i - (n_m - 1) / 2) * width,
            np.nan_to_num(values[i], nan=0.0),
            width,
            label=plain_text(method),
            color=CATEGORY_COLORS[i % len(CATEGORY_COLORS)],
            yerr=None if errs is None else np.nan_to_num(errs[i], nan=0.0),
            capsize=2 if errs is not None else 0,
        )
        for bar, v in zip(bars, values[i], strict=True):
            if math.isnan(v):  # a missing value is a gap, not a zero-height bar
                bar.set_visible(False)
        if annotate:
            ax.bar_label(
                bars,
                labels=["" if math.isnan(v) else f"{v:.3g}" for v in values[i]],
                fontsize=_TICK_SIZE - 1,
                padding=1,
            )
    ax.set_xticks(x, [plain_text(c) for c in cols], fontsize=_TICK_SIZE)
    ax.tick_params(axis="y", labelsize=_TICK_SIZE)
    ax.set_ylabel(plain_text(ylabel), fontsize=_LABEL_SIZE)
    ax.axhline(0.0, color="0.2", lw=0.6)
    ax.margins(y=0.12)
    # outside the axes, right of them: inside, "best" could still cover a bar's label
    ax.legend(fontsize=_TICK_SIZE, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(plain_text(title), fontsize=_TITLE_SIZE)
    return fig


def _check_table(table: Any, name: str, *, allow_empty_rows: bool = False) -> None:
    if not isinstance(table, Mapping):
        raise TypeError(f"{name} must be a dict {{method: {{metric: value}}}}, got {table!r}")
    if not table:
        raise ValueError(f"{name} is empty; expected at least one method")
    for method, row in table.items():
        if not isinstance(row, Mapping):
            raise TypeError(
                f"{name}[{method!r}] must be a dict {{metric: value}}, got {type(row).__name__}"
            )
        if not row and not allow_empty_rows:
            raise ValueError(f"{name}[{method!r}] is empty; expected at least one metric")
        for metric, v in row.items():
            if not is_number(v):  # complex numbers too: float() would drop their imaginary part
                raise TypeError(f"{name}[{method!r}][{metric!r}] must be a number, got {v!r}")
