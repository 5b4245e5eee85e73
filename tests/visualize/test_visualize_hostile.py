"""Hostile inputs to the plotting functions: a clear error naming the argument.

Before: a string flag (``show_image="no"``) was taken by its truth value, ``cell_size=0``
drew an empty 0x0 figure, a metric or an error-bar method named in no row of the table was
dropped without a word, negative error bars failed inside matplotlib, and an ``ax`` or a
``plane`` of the wrong type failed with an AttributeError from deep inside.
"""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pytest

from bottlekit.bottleneck.explanation import ConceptExplanation
from bottlekit.visualize import (
    plot_activation_maps,
    plot_concept_weights,
    plot_contributions,
    plot_information_plane,
    plot_metric_summary,
)

NAMES = ["red body", "long tail", "crested head"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _model():
    rng = np.random.default_rng(0)
    return SimpleNamespace(
        coef_=rng.normal(size=(2, 3)), concept_names_=NAMES, classes_=np.array([0, 1])
    )


def _explanation():
    rng = np.random.default_rng(0)
    act = rng.normal(size=(2, 3))
    coef = rng.normal(size=(2, 3))
    target = np.array([0, 1])
    contrib = act * coef[target]
    zeros = np.zeros(2)
    top = np.argsort(-contrib, axis=1)[:, :2]
    return ConceptExplanation(
        NAMES, np.array([0, 1]), target, act, contrib, zeros, zeros, contrib.sum(1), top
    )


def _maps(**kw):
    images = np.zeros((2, 8, 8, 3), np.uint8)
    maps = np.random.default_rng(0).random((2, 3, 8, 8))
    return plot_activation_maps(images, maps, NAMES, **kw)


TABLE = {"PCBM": {"accuracy": 0.9, "AUROC": 0.8}, "LaBo": {"accuracy": 0.7}}

CASES = {
    "show_image a string": (lambda: _maps(show_image="no"), TypeError, "show_image"),
    "cell_size 0": (lambda: _maps(cell_size=0), ValueError, "cell_size must be"),
    "cell_size NaN": (lambda: _maps(cell_size=float("nan")), ValueError, "cell_size must be"),
    "weights annotate a string": (
        lambda: plot_concept_weights(_model(), annotate="no"),
        TypeError,
        "annotate",
    ),
    "weights ax a string": (
        lambda: plot_concept_weights(_model(), ax="left"),
        TypeError,
        "ax must be a matplotlib Axes",
    ),
    "contributions show_rest a string": (
        lambda: plot_contributions(_explanation(), show_rest="no"),
        TypeError,
        "show_rest",
    ),
    "contributions ax a number": (
        lambda: plot_contributions(_explanation(), ax=1),
        TypeError,
        "ax must be a matplotlib Axes",
    ),
    "summary metric in no row": (
        lambda: plot_metric_summary(TABLE, metrics=["accuracy", "acuracy"]),
        ValueError,
        r"metrics: \['acuracy'\] are in no row of table",
    ),
    "summary errors of an unknown method": (
        lambda: plot_metric_summary(TABLE, errors={"PCBM ": {"accuracy": 0.01}}),
        ValueError,
        r"errors: methods \['PCBM '\] are not in table",
    ),
    "summary negative error bar": (
        lambda: plot_metric_summary(TABLE, errors={"PCBM": {"accuracy": -0.01}}),
        ValueError,
        "errors must hold finite half-widths >= 0",
    ),
    "summary annotate a string": (
        lambda: plot_metric_summary(TABLE, annotate="no"),
        TypeError,
        "annotate",
    ),
    "information plane not a plane": (
        lambda: plot_information_plane({"I_XT": [1.0], "I_TY": [0.5]}),
        TypeError,
        "plane: expected an InformationPlane",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_plot_arguments_are_named_in_the_error(case):
    call, error, message = CASES[case]
    with pytest.raises(error, match=message):
        call()


def test_missing_values_stay_gaps_and_errors_may_be_partial():
    """What the new checks leave alone: a metric some methods lack, errors for a subset."""
    fig = plot_metric_summary(TABLE, errors={"PCBM": {"accuracy": 0.02}})
    heights = [[b.get_height() for b in c] for c in fig.axes[0].containers if len(c) == 2]
    assert heights[0] == pytest.approx([0.9, 0.8])
    assert not fig.axes[0].containers[-1][1].get_visible()  # LaBo has no AUROC: a gap


def _head(n_classes: int, n_concepts: int):
    rng = np.random.default_rng(0)
    return SimpleNamespace(
        coef_=rng.normal(size=(n_classes, n_concepts)),
        concept_names_=[f"c{j}" for j in range(n_concepts)],
        classes_=np.arange(n_classes),
    )


@pytest.mark.parametrize(
    ("n_classes", "n_concepts", "kwargs", "message"),
    [
        (24, 3000, {}, r"top_k, classes: a heat map of 24 classes x 3000 concepts"),
        (2000, 5, {}, r"top_k, classes: a heat map of 2000 classes x 5 concepts"),
        (600, 500, {}, r"600 classes x 500 concepts \(300000 cells\) is too large"),
        (120, 100, {"annotate": True}, r"annotate: writing a number in each of 12000 cells"),
    ],
)
def test_a_head_too_large_for_one_heat_map_is_refused(n_classes, n_concepts, kwargs, message):
    # Before: 24 x 3000 made an 842-inch-wide figure (20 s to save), 200 x 1000 took 25 s,
    # and 1000 x 4000 would have been gigabytes of pixels; annotating 100 x 100 cells 12 s.
    with pytest.raises(ValueError, match=message):
        plot_concept_weights(_head(n_classes, n_concepts), **kwargs)


def test_top_k_and_classes_bring_a_large_head_within_the_limits():
    model = _head(2000, 3000)
    fig = plot_concept_weights(model, top_k=15, classes=list(range(40)), annotate=True)
    block = fig.axes[0].images[0].get_array()
    assert block.shape == (40, 15)
    order = np.argsort(-np.abs(model.coef_[:40]).mean(0), kind="stable")[:15]
    np.testing.assert_array_equal(block, model.coef_[:40][:, order])


def _metric_table(n_methods: int, n_metrics: int) -> dict:
    return {f"m{i}": {f"metric {j}": 0.5 for j in range(n_metrics)} for i in range(n_methods)}


@pytest.mark.parametrize(
    ("n_methods", "n_metrics", "message"),
    [
        (1, 2000, r"table, metrics: 1 methods x 2000 metrics make 2000 bars, too many"),
        (1, 401, r"1 methods x 401 metrics make 401 bars, .* expected at most 400 bars"),
        (3, 134, r"3 methods x 134 metrics make 402 bars, .* pass metrics to show fewer"),
    ],
)
def test_a_metric_table_too_large_for_one_figure_is_refused(n_methods, n_metrics, message):
    # Before: 2000 metrics made a 901-inch-wide figure that took 9 s to draw (17 s here
    # to save as PNG), and nothing bounded it.
    with pytest.raises(ValueError, match=message):
        plot_metric_summary(_metric_table(n_methods, n_metrics))


def test_metric_summaries_at_the_limit_and_selected_metrics_are_drawn():
    fig = plot_metric_summary(_metric_table(4, 100), annotate=False)
    assert [len(c) for c in fig.axes[0].containers] == [100] * 4
    wide = _metric_table(2, 2000)
    fig = plot_metric_summary(wide, metrics=["metric 7", "metric 3"])
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["metric 7", "metric 3"]
