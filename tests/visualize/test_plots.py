"""Content of the plots in ``bottlekit.visualize.plots``: what is drawn equals what was passed."""

from __future__ import annotations

import io
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib import colors as mcolors
from matplotlib.figure import Figure

from bottlekit.bottleneck.explanation import ConceptExplanation
from bottlekit.visualize.plots import (
    NEGATIVE_COLOR,
    NEUTRAL_COLOR,
    POSITIVE_COLOR,
    plot_activation_maps,
    plot_concept_weights,
    plot_contributions,
    plot_metric_summary,
)

NAMES = ["red body", "long tail", "crested head", "water background", "eye stripe", "orange beak"]


@pytest.fixture(autouse=True)
def _no_pyplot_figures():
    """Every plot is built with the object API: pyplot's registry stays empty."""
    plt.close("all")
    yield
    assert plt.get_fignums() == [], "a plot function left a figure open in pyplot"


def _explanation(residual: bool = False) -> ConceptExplanation:
    rng = np.random.default_rng(0)
    n, k = 3, len(NAMES)
    act = rng.normal(size=(n, k))
    coef = rng.normal(size=(4, k))
    target = np.array([2, 0, 3])
    contrib = act * coef[target]
    intercept = np.array([0.3, -0.2, 0.1])
    res = rng.normal(size=n) if residual else np.zeros(n)
    logits = contrib.sum(1) + intercept + res
    top = np.argsort(-contrib, axis=1)[:, :3]
    return ConceptExplanation(
        NAMES, np.array([10, 11, 12, 13]), target, act, contrib, intercept, res, logits, top
    )


def _bars(ax) -> tuple[list[str], np.ndarray, list]:
    """Labels, widths and colours of a barh plot, top bar first."""
    patches = list(ax.patches)
    ys = np.array([p.get_y() + p.get_height() / 2 for p in patches])
    order = np.argsort(-ys)
    ticks = {
        round(t, 6): lab.get_text()
        for t, lab in zip(ax.get_yticks(), ax.get_yticklabels(), strict=True)
    }
    labels = [ticks[round(ys[i], 6)] for i in order]
    widths = np.array([patches[i].get_width() for i in order])
    cols = [mcolors.to_hex(patches[i].get_facecolor()) for i in order]
    return labels, widths, cols


# ----------------------------------------------------------------- contributions
def test_contribution_bars_equal_the_contributions_and_add_up_to_the_logit():
    e = _explanation()
    fig = plot_contributions(e, index=1, top_k=3)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    labels, widths, cols = _bars(ax)
    c = e.contributions[1]
    top = np.argsort(-np.abs(c))[:3]
    assert labels[:3] == [NAMES[j] for j in top]
    np.testing.assert_allclose(widths[:3], c[top], rtol=1e-12)
    # the rest bar is the sum of the other three concepts, then the intercept
    assert labels[3:] == ["other 3 concepts", "intercept"]
    np.testing.assert_allclose(widths[3], c.sum() - c[top].sum(), rtol=1e-12)
    np.testing.assert_allclose(widths[4], e.intercept[1])
    # bars add up to the logit (no residual: its bar is not drawn)
    np.testing.assert_allclose(widths.sum(), e.logits[1], rtol=1e-12)
    expected = [POSITIVE_COLOR if v >= 0 else NEGATIVE_COLOR for v in c[top]]
    assert cols == [*expected, NEUTRAL_COLOR, NEUTRAL_COLOR]
    assert "class 10" in ax.get_title() and f"logit {e.logits[1]:.2f}" in ax.get_title()


def test_contribution_residual_bar_and_class_names():
    e = _explanation(residual=True)
    fig = plot_contributions(e, index=2, top_k=10, class_names=["a", "b", "c", "wendle"])
    labels, widths, _ = _bars(fig.axes[0])
    # all 6 concepts fit in top_k: no "other" bar; the residual bar is last
    assert labels == [*(NAMES[j] for j in np.argsort(-np.abs(e.contributions[2]))), "intercept",
                      "residual"]  # fmt: skip
    np.testing.assert_allclose(widths[-1], e.residual[2])
    np.testing.assert_allclose(widths.sum(), e.logits[2], rtol=1e-12)
    assert "class wendle" in fig.axes[0].get_title()


def test_contributions_on_given_axes_and_bad_input():
    e = _explanation()
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_contributions(e, 0, ax=ax) is fig
    with pytest.raises(ValueError, match="index=5"):
        plot_contributions(e, index=5)
    with pytest.raises(ValueError, match="top_k"):
        plot_contributions(e, top_k=0)
    with pytest.raises(TypeError, match="lacks"):
        plot_contributions(SimpleNamespace(contributions=np.zeros((1, 2))))
    with pytest.raises(ValueError, match="class_names has 2 names; expected 4"):
        plot_contributions(e, class_names=["a", "b"])


# ---------------------------------------------------------------- concept weights
def _model(C: int = 4, k: int = len(NAMES)):
    rng = np.random.default_rng(1)
    return SimpleNamespace(
        coef_=rng.normal(size=(C, k)).astype(np.float32),
        concept_names_=NAMES[:k],
        classes_=np.array([3, 5, 7, 9][:C]),
    )


def test_weight_heatmap_shows_coef_with_a_colour_scale_centred_at_zero():
    model = _model()
    fig = plot_concept_weights(model)
    ax = fig.axes[0]
    im = ax.images[0]
    np.testing.assert_array_equal(np.asarray(im.get_array()), model.coef_.astype(np.float64))
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES
    assert [t.get_text() for t in ax.get_yticklabels()] == ["3", "5", "7", "9"]
    m = float(np.abs(model.coef_).max())
    # symmetric range: white is exactly 0 and equal |w| get equal colour intensity
    assert im.norm.vcenter == 0.0
    np.testing.assert_allclose([im.norm.vmin, im.norm.vmax], [-m, m], rtol=1e-6)
    assert im.norm(0.0) == pytest.approx(0.5)
    assert len(fig.axes) == 2  # the colour bar


def test_weight_heatmap_top_k_and_classes():
    model = _model()
    fig = plot_concept_weights(model, top_k=2, classes=[9, 3], class_names=list("abcd"))
    ax = fig.axes[0]
    rows = model.coef_[[3, 0]]
    cols = np.argsort(-np.abs(rows).mean(0))[:2]
    np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), rows[:, cols])
    assert [t.get_text() for t in ax.get_xticklabels()] == [NAMES[j] for j in cols]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["d", "a"]
    m = float(np.abs(rows[:, cols]).max())
    assert ax.images[0].norm.vmax == pytest.approx(m)


def test_weight_heatmap_bad_input():
    with pytest.raises(ValueError, match=r"classes: 4 is not in model.classes_"):
        plot_concept_weights(_model(), classes=[4])
    with pytest.raises(TypeError, match="no coef_"):
        plot_concept_weights(SimpleNamespace(concept_names_=NAMES, classes_=[0, 1]))
    bad = _model()
    bad.coef_[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        plot_concept_weights(bad)
    with pytest.raises(ValueError, match="top_k"):
        plot_concept_weights(_model(), top_k=-1)


# ---------------------------------------------------------------- activation maps
def test_activation_map_grid_overlays_each_map_on_its_image():
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(2, 16, 12, 3), dtype=np.uint8)
    maps = rng.random((2, 3, 4, 3))
    masks = np.zeros((2, 3, 16, 12), dtype=bool)
    masks[1, 2, 4:10, 3:8] = True
    fig = plot_activation_maps(
        images, maps, NAMES[:3], masks=masks, image_titles=["x", "y"], alpha=0.4
    )
    axes = fig.axes
    assert len(axes) == 2 * 4  # image column + 3 concepts
    for i in range(2):
        np.testing.assert_array_equal(np.asarray(axes[i * 4].images[0].get_array()), images[i])
        assert axes[i * 4].get_ylabel() == "xy"[i]
        for j in range(3):
            ax = axes[i * 4 + 1 + j]
            img, heat = ax.images
            np.testing.assert_array_equal(np.asarray(img.get_array()), images[i])
            np.testing.assert_array_equal(np.asarray(heat.get_array()), maps[i, j])
            assert heat.get_alpha() == 0.4
            # the low-resolution map is stretched over the whole image
            assert heat.get_extent() == img.get_extent() == [-0.5, 11.5, 15.5, -0.5]
            # per-map colour scale: from the map's min to its max
            assert heat.get_clim() == (maps[i, j].min(), maps[i, j].max())
            # the mask outline is drawn exactly where a mask is given
            assert (len(ax.collections) > 0) == (i == 1 and j == 2)
    assert [axes[c].get_title() for c in range(4)] == ["image", *NAMES[:3]]


def test_activation_maps_shared_scale_single_concept_and_float_images():
    rng = np.random.default_rng(3)
    images = rng.random((3, 8, 8, 3))
    maps = rng.normal(size=(3, 8, 8))  # one concept, (n, h, w)
    fig = plot_activation_maps(images, maps, ["red body"], scale="shared", show_image=False)
    heat = [ax.images[1] for ax in fig.axes if len(ax.images) == 2]
    assert len(heat) == 3
    for h in heat:
        assert h.get_clim() == (maps.min(), maps.max())
    assert any(ax.get_label() == "<colorbar>" for ax in fig.axes)


def test_activation_maps_bad_input():
    images = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    maps = np.zeros((2, 2, 4, 4))
    with pytest.raises(ValueError, match="maps has 3 images; images has 2"):
        plot_activation_maps(images, np.zeros((3, 2, 4, 4)), ["a", "b"])
    with pytest.raises(ValueError, match="concept_names has 1 names; expected 2"):
        plot_activation_maps(images, maps, ["a"])
    bad = maps.copy()
    bad[0, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="maps contains NaN or inf"):
        plot_activation_maps(images, bad, ["a", "b"])
    with pytest.raises(ValueError, match="channels last"):
        plot_activation_maps(np.zeros((2, 3, 8, 8)), maps, ["a", "b"])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        plot_activation_maps(np.full((2, 8, 8, 3), 2.0), maps, ["a", "b"])
    with pytest.raises(ValueError, match="masks must have shape"):
        plot_activation_maps(images, maps, ["a", "b"], masks=np.zeros((2, 4, 4), bool))
    with pytest.raises(ValueError, match="alpha"):
        plot_activation_maps(images, maps, ["a", "b"], alpha=0)
    with pytest.raises(ValueError, match="scale"):
        plot_activation_maps(images, maps, ["a", "b"], scale="global")


# ---------------------------------------------------------------- metric summary
def test_metric_summary_bar_heights_groups_and_gaps():
    table = {
        "PCBM": {"accuracy": 0.9, "AUROC": 0.8},
        "LaBo": {"accuracy": 0.7, "AUROC": 0.6, "sparsity": 0.5},
    }
    fig = plot_metric_summary(table, errors={"LaBo": {"accuracy": 0.05}}, title="t")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["accuracy", "AUROC", "sparsity"]
    bars = [c for c in ax.containers if hasattr(c, "patches")]
    heights = [[p.get_height() for p in c.patches] for c in bars]
    np.testing.assert_allclose(heights[1], [0.7, 0.6, 0.5])
    np.testing.assert_allclose(heights[0][:2], [0.9, 0.8])
    # PCBM has no sparsity: a hidden bar, not a bar of height 0
    assert [p.get_visible() for p in bars[0].patches] == [True, True, False]
    # the two methods' bars of one metric sit side by side around the metric's tick
    centres = np.array([[p.get_x() + p.get_width() / 2 for p in c.patches] for c in bars])
    np.testing.assert_allclose(centres.mean(0), ax.get_xticks())
    assert centres[0, 0] < centres[1, 0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["PCBM", "LaBo"]
    # the legend sits right of the axes, so it can never cover a bar or its label
    fig.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    assert legend_box.x0 >= ax.get_window_extent().x1
    assert ax.get_title() == "t"
    # the value labels are the values
    texts = {t.get_text() for t in ax.texts}
    assert {"0.9", "0.8", "0.7", "0.6", "0.5"} <= texts
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_metric_summary_of_metrics_keyed_by_numbers():
    """Keys such as NEC levels (5, 10) are shown as "5", "10"; their values were looked
    up by that str, read as missing, and every bar was hidden: an empty plot, silently."""
    table = {"refit": {5: 0.9, 10: 0.8}, "truncate": {5: 0.7, 10: 0.75}}
    fig = plot_metric_summary(table, errors={"refit": {10: 0.05}}, metrics=["10"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["10"]
    bars = [c for c in ax.containers if hasattr(c, "patches")]
    assert [[p.get_height() for p in c.patches] for c in bars] == [[0.8], [0.75]]
    assert all(p.get_visible() for c in bars for p in c.patches)
    segment = bars[0].errorbar.lines[2][0].get_segments()[0]  # refit's error bar at 10
    np.testing.assert_allclose(segment[:, 1], [0.75, 0.85])
    plt.close(fig)


def test_metric_summary_selected_metrics_and_bad_input():
    fig = plot_metric_summary({"a": {"x": 1.0, "y": 2.0}}, metrics=["y"])
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.containers[0].patches] == [2.0]
    with pytest.raises(ValueError, match="table is empty"):
        plot_metric_summary({})
    with pytest.raises(TypeError, match=r"table\['a'\] must be a dict"):
        plot_metric_summary({"a": [1.0]})
    with pytest.raises(TypeError, match=r"table\['a'\]\['x'\] must be a number"):
        plot_metric_summary({"a": {"x": "high"}})
    with pytest.raises(ValueError, match=r"inf at \(method, metric\) \[\('a', 'x'\)\]"):
        plot_metric_summary({"a": {"x": np.inf}})


# ------------------------------------------------------- with a real concept bottleneck
def test_plots_of_a_fitted_posthoc_cbm():
    from bottlekit.bottleneck import PosthocCBM
    from bottlekit.concepts import ConceptBank

    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 5))
    y = np.argmax(X[:, :3], axis=1)  # three classes, each driven by one coordinate
    names = ["c0", "c1", "c2", "c3"]
    bank = ConceptBank(names, np.eye(4, 5), "toy", provenance=[{"kind": "cav"}] * 4)
    model = PosthocCBM(bank, lam=1e-3, random_state=0).fit(X, y)
    explanation = model.explain(X[:5], top_k=2)

    fig = plot_contributions(explanation, index=3, top_k=4)
    labels, widths, _ = _bars(fig.axes[0])
    c = explanation.contributions[3]
    order = np.argsort(-np.abs(c))
    assert labels == [*(names[j] for j in order), "intercept"]
    np.testing.assert_allclose(widths[:4], c[order], rtol=1e-6)
    # float32 model: the bars add up to the model's own logit to float32 precision
    logit = model.decision_function(X[3:4])[0, explanation.target[3]]
    np.testing.assert_allclose(widths.sum(), logit, rtol=1e-5, atol=1e-5)

    fig = plot_concept_weights(model)
    np.testing.assert_array_equal(np.asarray(fig.axes[0].images[0].get_array()), model.coef_)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == names
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["0", "1", "2"]


EVIL = "price $\\evilcmd$ tag"


def test_user_text_is_never_parsed_as_mathtext():
    # Before: a concept named "price $\evilcmd$ tag" made savefig (and AuditResult.save)
    # fail, because matplotlib read $...$ as math.
    from bottlekit.diagnostics.report import _bar_figure

    names = [*NAMES[:-1], EVIL]
    e = _explanation()
    e.concept_names = names
    figures = [
        plot_contributions(e, 0, class_names=["a", EVIL, "c", "d"]),
        plot_metric_summary({EVIL: {"accuracy $x$": 0.5}}, title=EVIL, ylabel=EVIL),
        _bar_figure([EVIL], [1.0], [False], "score"),
    ]
    for fig in figures:
        fig.savefig(io.BytesIO(), format="png")
    labels = [t.get_text() for t in figures[0].axes[0].get_yticklabels()]
    assert "price \\$\\evilcmd\\$ tag" in labels  # shown as written: \$ renders as $
