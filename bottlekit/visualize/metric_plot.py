"""Metrics of several methods side by side: :func:`plot_metric_summary`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from bottlekit._checks import check_bool, is_number
from bottlekit.visualize._plot_style import (
    _LABEL_SIZE,
    _TICK_SIZE,
    _TITLE_SIZE,
    CATEGORY_COLORS,
    _check_names,
    _target_axes,
    _text_inches,
)
from bottlekit.visualize._text import plain_text

__all__ = ["MAX_METRIC_BARS", "plot_metric_summary"]

#: Most bars (methods x metrics) :func:`plot_metric_summary` draws: the figure is 0.45
#: inches wide a bar, so the time to build and save it grows linearly with them (annotated,
#: to PNG, on a shared 2-core machine that took 17 s for 2000 bars, where an unloaded one
#: took 9 s: 3 s for 400 bars, 1 s for 100). The limit lets a few hundred metrics of one or
#: two methods through.
MAX_METRIC_BARS = 400


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
        The figure shows at most :data:`MAX_METRIC_BARS` (400) bars, one per method and
        metric (more are refused: pass fewer metrics, or draw the table in several
        figures, a slice of the metrics each).
    errors : dict, optional
        Same layout as ``table``: half-widths of error bars.
    ylabel : str, default "value"
        Label of the y axis.
    title : str, optional
        Title of the axes; ``None`` (or ``""``): no title.
    annotate : bool, default True
        Write each value above its bar.
    ax : matplotlib Axes, optional
        Where to draw; a new figure otherwise.

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
    if len(methods) * len(cols) > MAX_METRIC_BARS:
        raise ValueError(
            f"table, metrics: {len(methods)} methods x {len(cols)} metrics make "
            f"{len(methods) * len(cols)} bars, too many to draw in one figure; expected at "
            f"most {MAX_METRIC_BARS} bars: pass metrics to show fewer, or draw the table in "
            "several figures, a slice of the metrics each"
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
    # metrics are named by their str (a key such as 5, a NEC level, is shown as "5"):
    # looked up as given, every bar of a non-str key read NaN and was hidden
    by_name = {m: {str(c): v for c, v in row.items()} for m, row in table.items()}
    values = np.array(
        [[float(by_name[m].get(c, np.nan)) for c in cols] for m in table], dtype=np.float64
    )
    if np.isinf(values).any():
        bad = [(methods[i], cols[j]) for i, j in zip(*np.nonzero(np.isinf(values)), strict=True)]
        raise ValueError(f"table holds inf at (method, metric) {bad}; expected finite values")
    errs = None
    if errors is not None:
        err_by_name = {m: {str(c): v for c, v in row.items()} for m, row in errors.items()}
        errs = np.array(
            [[float(err_by_name.get(m, {}).get(c, np.nan)) for c in cols] for m in table],
            dtype=np.float64,
        )
        if (errs < 0).any() or np.isinf(errs).any():
            raise ValueError("errors must hold finite half-widths >= 0")

    n_m = len(methods)
    # the legend, right of the axes, gets room for names wider than 0.6 inch (names of 80
    # characters collapsed the axes to nothing)
    legend = max(0.0, _text_inches([plain_text(m) for m in methods], _TICK_SIZE) - 0.6)
    fig, ax = _target_axes(ax, max(4.0, 1.0 + 0.45 * n_m * len(cols)) + legend, 3.4)
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
