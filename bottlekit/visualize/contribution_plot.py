"""One prediction's logit as concept contributions: :func:`plot_contributions`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from bottlekit._checks import check_bool
from bottlekit.visualize._plot_style import (
    _LABEL_SIZE,
    _TICK_SIZE,
    _TITLE_SIZE,
    NEGATIVE_COLOR,
    NEUTRAL_COLOR,
    POSITIVE_COLOR,
    _as_float_array,
    _check_names,
    _check_positive_int,
    _target_axes,
)
from bottlekit.visualize._text import plain_text

__all__ = ["plot_contributions"]


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
