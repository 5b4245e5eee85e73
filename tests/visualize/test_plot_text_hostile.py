"""Names from files written by others in plots: saved as SVG, drawn with long names.

Before: a control character in a concept name went into the SVG as it is, and XML allows
none (``\\x01``: "not well-formed (invalid token)"), so the saved figure did not open;
names of 80 characters (the longest drawn) collapsed the concept-weight heat map of the
audit report to empty axes ("constrained_layout not applied because axes sizes collapsed
to zero").
"""

from __future__ import annotations

import io
import warnings
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest

from bottlekit.visualize._text import MAX_FIGURE_CHARS
from bottlekit.visualize.plots import plot_concept_weights, plot_metric_summary

NAMES = [
    "ctl\x01\x1b[31m\x7f\ufffe end",
    "admin\u202egnp.exe",
    "</text><script>alert(1)</script>",
    "a --> <!-- & ]]>",
]
SHOWN = [
    "ctl\\x01\\x1b[31m\\x7f\\ufffe end",
    "admin\\u202egnp.exe",
    "</text><script>alert(1)</script>",
    "a --> <!-- & ]]>",
]
SVG = "{http://www.w3.org/2000/svg}"


def _svg(fig, fonttype: str) -> ET.Element:
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": fonttype}):
        fig.savefig(buf, format="svg")
    return ET.fromstring(buf.getvalue())  # raises on a document that is not well-formed


@pytest.mark.parametrize("fonttype", ["none", "path"])
def test_hostile_names_in_an_svg_are_well_formed_text(fonttype):
    table = {name: {NAMES[-1]: 0.5, NAMES[0]: 0.25} for name in NAMES}
    fig = plot_metric_summary(table, ylabel=NAMES[1], title=NAMES[2], annotate=False)
    root = _svg(fig, fonttype)
    assert not [e for e in root.iter() if e.tag in (f"{SVG}script", "script")]
    assert not [e for e in root.iter() if any(a.startswith("on") for a in e.attrib)]
    if fonttype == "none":  # text as <text> elements: each name exactly as shown
        texts = {"".join(e.itertext()) for e in root.iter(f"{SVG}text")}
        assert set(SHOWN) <= texts
        assert f"{SHOWN[2]}" in texts and SHOWN[1] in texts


def test_the_weight_heat_map_keeps_its_cells_with_the_longest_names():
    k, c = 10, 3
    concepts = [f"{i} " + "c" * 4096 for i in range(k)]
    classes = [f"{i} " + "k" * 4096 for i in range(c)]
    head = SimpleNamespace(
        coef_=np.arange(c * k, dtype=float).reshape(c, k) - 10,
        concept_names_=concepts,
        classes_=np.arange(c),
    )
    fig = plot_concept_weights(head, class_names=classes)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        fig.savefig(io.BytesIO(), format="png", dpi=50)
    ax = fig.axes[0]
    assert ax.get_xticklabels()[0].get_text() == "0 " + "c" * (MAX_FIGURE_CHARS - 3) + "…"
    box = ax.get_position()  # the heat map keeps a real share of the figure
    assert box.width > 0.2 and box.height > 0.1


def test_a_metric_summary_keeps_its_axes_with_the_longest_method_names():
    # Before: the legend of 80-character method names, right of the axes, took the whole
    # 4-inch figure and the bars were not drawn (constrained layout collapsed)
    long = [f"{i} " + "m" * 4096 for i in range(2)]
    fig = plot_metric_summary({long[0]: {"accuracy": 0.5}, long[1]: {"accuracy": 0.25}})
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        fig.savefig(io.BytesIO(), format="png", dpi=50)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts == [n[: MAX_FIGURE_CHARS - 1] + "…" for n in long]
    assert fig.axes[0].get_position().width * fig.get_figwidth() > 1.0  # inches
