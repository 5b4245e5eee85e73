"""The audit's HTML report with hostile concept and class names, and written over an old one.

Names come from users, LLMs, documents and folder names (a folder name that is not UTF-8
decodes to lone surrogates). Each must appear in the report as text, never as markup;
``test_audit.py::test_report_escapes_text`` pins a ``<script>`` concept name, this file
the rest. Each case says what happened before the fix.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from html.parser import HTMLParser

import pytest

pytest.importorskip("torch")

import bottlekit
from bottlekit.bottleneck import PosthocCBM
from bottlekit.concepts import from_text
from bottlekit.diagnostics import audit
from bottlekit.diagnostics.report import render_report
from bottlekit.visualize._text import plain_text
from bottlekit.world import make_world

SURROGATE = "folder \udcff name"  # os.listdir of the bytes b"folder \xff name"
EVIL = [
    "<script>alert(1)</script>",
    "quote \" and ' apostrophe",
    "cell</td><td>injected",
    "two\nlines\r\n<b>bold</b>",
    "bird \U0001f426 \U00010000",
    "price $\\frac$ tag",
    "<!-- comment",
    "x" * 3000,
    SURROGATE,
]

TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "p", "nav", "a"}
TAGS |= {"main", "section", "h2", "div", "span", "ul", "li", "table", "thead", "tr", "th"}
TAGS |= {"tbody", "td", "figure", "img", "b", "sub"}
ATTRIBUTES = {"lang", "charset", "href", "id", "class", "alt", "src"}


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes |= {name for name, _ in attrs}

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def result():
    world = make_world(48, "test", random_state=3)
    bk = bottlekit.load_backbone("world-tiny")
    X = bottlekit.embed(bk, world.images, progress=False)
    names = EVIL + list(world.concept_names)[: 12 - len(EVIL)]
    model = PosthocCBM(from_text(bk, names), random_state=0).fit(X, world.labels)
    n_classes = int(world.labels.max()) + 1
    classes = [f"{EVIL[i % len(EVIL)]} #{i}" for i in range(n_classes)]
    data = {"images": world.images, "labels": world.labels, "class_names": classes}
    return audit(model, data, backbone=bk, n_examples=1, n_location_images=0, information=False)


def test_hostile_names_are_text_in_the_report(result):
    # Before: a name holding a lone surrogate stopped the report (TypeError from inside
    # matplotlib drawing it); every other name was already escaped.
    page = render_report(result, title=EVIL[0])
    parser = _Collector()
    parser.feed(page)
    assert parser.tags <= TAGS and "script" not in parser.tags
    assert parser.attributes <= ATTRIBUTES
    text = "".join(parser.text)
    for name in EVIL:  # lone surrogates are shown as their escapes
        assert name.encode("utf-8", "backslashreplace").decode("utf-8") in text
    assert "folder \\udcff name" in text
    page.encode("utf-8")  # strict: no lone surrogate left


def test_figure_text_keeps_every_character_but_lone_surrogates():
    assert plain_text("bird \U0001f426 $5") == "bird \U0001f426 \\$5"
    assert plain_text(SURROGATE) == "folder \\udcff name"
    assert plain_text("$" * 200) == "\\$" * 79 + "…"


def test_a_very_long_name_does_not_collapse_a_figure():
    # Before: the tick label of a 3000-character name took the whole figure and matplotlib
    # drew empty axes ("constrained_layout not applied because axes sizes collapsed").
    from bottlekit.diagnostics.report import _bar_figure, figure_to_data_uri

    fig = _bar_figure(["x" * 3000, "short"], [1.0, 2.0], [True, False], "importance")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        figure_to_data_uri(fig)


def test_save_over_an_old_report_replaces_both_files(result, tmp_path):
    # Before: a lone surrogate in a name stopped save (see above); in a note, audit.json
    # was replaced first and then the report failed to encode (UnicodeEncodeError),
    # leaving the new audit.json beside the old report.html.
    noted = dataclasses.replace(result, notes=[*result.notes, f"note on {SURROGATE}"])
    (tmp_path / "report.html").write_text("OLD REPORT")
    (tmp_path / "audit.json").write_text("OLD JSON")
    paths = noted.save(tmp_path)
    assert "note on folder \\udcff name" in paths["report"].read_text(encoding="utf-8")
    assert json.loads(paths["json"].read_text())["notes"][-1] == f"note on {SURROGATE}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.json", "report.html"]


def test_a_report_that_cannot_be_made_leaves_the_old_pair(result, tmp_path, monkeypatch):
    # (held before too; pinned with the new order: both files are made, then written)
    import bottlekit.diagnostics.report as report

    def broken(*args, **kwargs):
        raise RuntimeError("drawing failed")

    (tmp_path / "report.html").write_text("OLD REPORT")
    (tmp_path / "audit.json").write_text("OLD JSON")
    monkeypatch.setattr(report, "render_report", broken)
    with pytest.raises(RuntimeError, match="drawing failed"):
        result.save(tmp_path)
    assert (tmp_path / "report.html").read_text() == "OLD REPORT"
    assert (tmp_path / "audit.json").read_text() == "OLD JSON"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.json", "report.html"]


def test_a_layer_name_with_dollars_is_drawn_as_written():
    # Before: the legend parsed "fc $\frac$" as mathtext and savefig raised a pyparsing
    # ParseSyntaxException from inside matplotlib.
    import io
    from types import SimpleNamespace

    from bottlekit.visualize.information_plane_plot import plot_information_plane

    name = "fc $\\frac$"
    plane = SimpleNamespace(
        epochs=[0, 1], layers=[name], i_xt={name: [1.0, 2.0]}, i_ty={name: [0.5, 0.6]},
        estimator="binning",
    )  # fmt: skip
    fig = plot_information_plane(plane)
    fig.savefig(io.BytesIO(), format="png")
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "layer fc \\$\\frac\\$"
    ]


@pytest.mark.parametrize("taken", ["report.html", "audit.json"])
def test_save_where_a_file_of_the_pair_is_a_folder_writes_nothing(result, tmp_path, taken):
    # Before: with a folder named report.html, audit.json was replaced first and the
    # report then failed (IsADirectoryError naming no argument): a new audit.json beside
    # no report, the old one lost.
    (tmp_path / "report.html").write_text("OLD REPORT")
    (tmp_path / "audit.json").write_text("OLD JSON")
    (tmp_path / taken).unlink()
    (tmp_path / taken).mkdir()
    with pytest.raises(ValueError, match=rf"folder: .*{taken}' is a folder; expected a file"):
        result.save(tmp_path)
    for name, old in (("report.html", "OLD REPORT"), ("audit.json", "OLD JSON")):
        assert (
            (tmp_path / name).is_dir() if name == taken else (tmp_path / name).read_text() == old
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.json", "report.html"]


def test_save_into_a_folder_that_cannot_be_written_says_so_before_drawing(
    result, tmp_path, monkeypatch
):
    # Before: an existing read-only folder passed the check (only its parent was looked
    # at); the report was drawn, then mkstemp's PermissionError came from inside.
    import os

    import bottlekit.diagnostics.report as report

    def no_draw(*args, **kwargs):
        raise AssertionError("the report was drawn before the folder was checked")

    real_access = os.access
    monkeypatch.setattr(report, "render_report", no_draw)
    # (the test may run as root, for whom every folder is writable: os.access says no)
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if str(p) == str(tmp_path) else real_access(p, mode)
    )
    with pytest.raises(ValueError, match=r"folder: folder '.*' is not writable"):
        result.save(tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # about 10 s
def test_report_of_a_head_with_more_classes_than_one_heat_map_holds(result, monkeypatch):
    # plot_concept_weights draws at most 1000 classes; the report shows the 1000 with the
    # largest weights (before: a figure 250+ inches tall for every class)
    from types import SimpleNamespace

    import numpy as np

    from bottlekit.diagnostics.report import _importance

    n = 1003
    coef = np.full((n, len(result.concept_names)), 0.01)
    coef[[5, 700, 1002], 0] = [-3.0, 2.0, 1.0]  # three classes kept for their weights
    head = SimpleNamespace(coef_=coef, concept_names_=result.concept_names, classes_=np.arange(n))
    names = [f"class {i}" for i in range(n)]
    wide = dataclasses.replace(result, concept_model=head, class_names=names)
    import bottlekit.visualize.plots as plots

    drawn = {}
    real = plots.plot_concept_weights

    def spy(*args, **kwargs):
        drawn.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(plots, "plot_concept_weights", spy)
    html = _importance(wide)
    assert len(drawn["classes"]) == 1000 and {5, 700, 1002} <= set(drawn["classes"])
    assert drawn["classes"] == sorted(drawn["classes"])
    assert "Concept weights of the 1000 classes (of 1003) with the largest weights" in html
