"""The audit report with names from files written by others (docs/threat_model.md).

Concept names, class names and notes reach the report from concept banks and model files
someone else wrote. Each must land as text in element content or a quoted attribute,
with control and bidirectional formatting characters shown as their escapes; the images
are PNGs the library draws; the files are written atomically with the umask's mode; and
a bank of 100,000 concepts makes neither the report nor its build quadratic. The report is
built from hand-made :class:`AuditResult` objects, so no backbone is needed.

Before the fixes: a name holding U+202E (right-to-left override) or a control character
went into the page raw (a class could be made to read as another; an SVG of a plot with
one was not well-formed XML), and a report of 100,000 context concepts took 131 s
(``importance_table`` looked each name up in a list: 57 s a call).
"""

from __future__ import annotations

import ast
import base64
import io
import os
import re
import time
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from bottlekit.diagnostics.audit_result import AuditResult
from bottlekit.diagnostics.report import SECTION_IDS, render_report
from bottlekit.visualize._text import html_text, shown_text

SCRIPT = "</script><script>alert(1)</script>"
QUOTE = 'x" onerror="alert(1)\' y'
SCHEME = "javascript:alert(1)"
BIDI = "admin\u202egnp.exe\u2066\u200f"
CONTROL = "ctl\x00\x1b[31m\x7f\x85\ufffe\x0c end"
SURROGATE = "folder \udcff"
STYLE = "</style><style>*{display:none}"
SVG = "<svg onload=alert(1)>"
ENTITY = "&lt;already&gt; &amp;"
LONG = "y" * 4096
NAMES = [SCRIPT, QUOTE, SCHEME, BIDI, CONTROL, SURROGATE, STYLE, SVG, ENTITY, LONG]

#: Each hostile name as the report must write it, character for character.
ESCAPED = {
    SCRIPT: "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;",
    QUOTE: "x&quot; onerror=&quot;alert(1)&#x27; y",
    SCHEME: "javascript:alert(1)",
    BIDI: "admin\\u202egnp.exe\\u2066\\u200f",
    CONTROL: "ctl\\x00\\x1b[31m\\x7f\\x85\\ufffe\\x0c end",
    SURROGATE: "folder \\udcff",
    STYLE: "&lt;/style&gt;&lt;style&gt;*{display:none}",
    SVG: "&lt;svg onload=alert(1)&gt;",
    ENTITY: "&amp;lt;already&amp;gt; &amp;amp;",
    LONG: LONG,
}

#: Characters that must never reach a page raw (as in bottlekit.visualize._text).
HIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "p", "nav", "a"}
TAGS |= {"main", "section", "h2", "div", "span", "ul", "li", "table", "thead", "tr", "th"}
TAGS |= {"tbody", "td", "figure", "img", "b", "sub"}
ALTS = {
    "fidelity",
    "global importance",
    "concept weights",
    "spurious concepts",
    "activation maps of image 0",
    "activation maps of image 1",
}


def _result(names=NAMES, classes=(SCRIPT, BIDI, CONTROL), context=None, model=True):
    """A hand-made AuditResult whose concept names, class names, notes and settings are
    ``names`` and ``classes``."""
    rng = np.random.default_rng(0)
    k, c = len(names), len(classes)
    imp = rng.normal(size=(c, k))
    imp[0, : min(k, 20)] += np.linspace(5.0, 4.0, min(k, 20))  # the first 20 lead
    order = np.argsort(-np.abs(imp).mean(0), kind="stable")
    spurious = [
        {
            "concept": names[j],
            "score": 1.0 / (1 + r),
            "importance": float(np.abs(imp[:, j]).mean()),
            "worst_class": classes[r % c],
            "worst_class_importance": 0.5,
            "attribute_rate": 0.1,
            "context": True,
        }
        for r, j in enumerate(order)
    ]
    head = None
    if model:
        head = SimpleNamespace(coef_=imp, concept_names_=list(names), classes_=np.arange(c))
    return AuditResult(
        model_kind="torch",
        space="features",
        concept_names=list(names),
        class_names=list(classes),
        classes=np.arange(c),
        fidelity={
            "agreement": 0.8,
            "model_accuracy": 0.7,
            "surrogate_accuracy": 0.65,
            "n_fit": 50,
            "n_eval": 50,
            "exact": False,
        },
        importance=np.abs(imp).mean(0),
        importance_by_class=imp,
        importance_agreement=None,
        existence={
            "top_k": 3,
            "precision": 0.6,
            "chance": 0.3,
            "per_concept": {
                nm: {"times_in_top": 10 - i, "precision": 0.5, "prevalence": 0.2}
                for i, nm in enumerate(names[:10])
            },
            "n_images": 50,
        },
        location={
            "n_pairs": 10,
            "pointing_accuracy": 0.5,
            "mean_energy": 0.4,
            "uniform_expectation": 0.2,
            "n_images": 5,
            "per_concept": {
                nm: {"pointing": 0.5, "energy": 0.4, "area": 0.2, "n": 10} for nm in names[:10]
            },
        },
        spurious=spurious,
        spurious_share=0.4,
        examples=[
            {
                "index": i,
                "true": classes[i % c],
                "predicted": classes[(i + 1) % c],
                "surrogate": classes[(i + 2) % c],
                "top": [(names[0], 1.0), (names[1], 0.5)],
            }
            for i in range(2)
        ]
        if model
        else [],
        example_images=rng.integers(0, 256, size=(2, 16, 16, 3), dtype=np.uint8)
        if model
        else None,
        example_maps=rng.random((2, 2, 16, 16)).astype(np.float32) if model else None,
        example_map_concepts=[list(names[:2])] * 2 if model else [],
        context_concepts=list(names) if context is None else context,
        notes=[f"note on {nm}" for nm in names[:9]],
        settings={"n_images": 100, "map_method": SCRIPT},
        concept_model=head,
    )


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs += [(tag, name, value) for name, value in attrs]

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def page() -> str:
    return render_report(_result(), title=SCRIPT + BIDI)


@pytest.mark.parametrize("name", NAMES, ids=range(len(NAMES)))
def test_the_one_helper_escapes_each_name_exactly(name):
    assert html_text(name) == ESCAPED[name]


def test_helper_keeps_what_can_be_shown():
    # tab, newlines, emoji (with a zero-width joiner), right-to-left letters
    text = "a\tb\r\nc \U0001f468\u200d\U0001f469 \u05e9\u05dc\u05d5\u05dd"
    assert html_text(text) == text
    assert shown_text(BIDI) == ESCAPED[BIDI]  # figures get the same escapes


def test_every_name_is_escaped_exactly_in_every_cell_it_lands_in(page):
    for name in NAMES:
        e = ESCAPED[name]
        # importance table (concept), existence and location tables, notes
        assert page.count(f"<tr><td>{e}</td>") >= 3, name
        assert f"<li>note on {e}</li>" in page or name == LONG
    classes = [ESCAPED[c] for c in (SCRIPT, BIDI, CONTROL)]
    assert f"true {classes[0]}, model {classes[1]}, surrogate {classes[2]}</p>" in page
    for name in _result().top_spurious(5):  # the summary
        assert f'<span class="flag">{ESCAPED[name]}</span>' in page
    assert f"(maps: {ESCAPED[SCRIPT]})" in page  # settings
    title = ESCAPED[SCRIPT] + ESCAPED[BIDI]
    assert f"<title>{title}</title>" in page and f"<h1>{title}</h1>" in page


def test_no_name_reaches_markup_a_url_or_a_hidden_character(page):
    assert HIDDEN.search(page) is None
    page.encode("utf-8")  # strict: no lone surrogate
    for raw in (SCRIPT, STYLE, SVG, QUOTE, "<script", "<svg", 'onerror="'):
        assert raw not in page
    assert page.count("<style>") == page.count("</style>") == 1  # the report's own CSS
    parser = _Collector()
    parser.feed(page)
    parser.close()
    assert parser.tags <= TAGS
    hrefs = [v for t, a, v in parser.attrs if a == "href"]
    assert hrefs == [f"#{s}" for s in SECTION_IDS]
    assert {a for _, a, _ in parser.attrs} <= {
        "lang",
        "charset",
        "href",
        "id",
        "class",
        "alt",
        "src",
    }
    assert {v for _, a, v in parser.attrs if a == "alt"} == ALTS
    assert {v for _, a, v in parser.attrs if a == "id"} == set(SECTION_IDS)
    text = "".join(parser.text)
    for name in NAMES:  # the parser gives back each name as shown (escapes written out)
        assert shown_text(name) in text


def test_images_are_pngs_drawn_by_the_library_not_files_named_by_the_input(tmp_path):
    from PIL import Image

    # a PNG file whose path is a concept name and a class name: never embedded
    planted = tmp_path / "planted.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(planted)
    names = [str(planted), "file://" + str(planted), *NAMES[:3]]
    page = render_report(_result(names, classes=(str(planted), "b", "c")))
    parser = _Collector()
    parser.feed(page)
    srcs = [v for t, a, v in parser.attrs if a == "src"]
    assert len(srcs) == 6 and all(t == "img" for t, a, _ in parser.attrs if a == "src")
    for src in srcs:
        head, data = src.split(",", 1)
        assert head == "data:image/png;base64"
        png = base64.b64decode(data, validate=True)
        img = Image.open(io.BytesIO(png))
        assert img.format == "PNG" and img.info["Software"].startswith("Matplotlib")
    assert base64.b64encode(planted.read_bytes()).decode()[20:80] not in page


@pytest.fixture
def umask():
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o027, 0o640), (0o002, 0o664), (0o077, 0o600)])
def test_report_files_get_the_umask_mode_in_a_new_nested_folder(tmp_path, umask, mask, mode):
    umask(mask)
    folder = tmp_path / "missing" / "nested"  # missing folders are made
    paths = _result(NAMES[:3], model=False).save(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["audit.json", "report.html"]
    for path in paths.values():
        assert path.stat().st_mode & 0o777 == mode


def test_a_failed_write_leaves_the_old_pair_and_no_temporary_file(tmp_path, monkeypatch):
    (tmp_path / "report.html").write_text("OLD REPORT")
    (tmp_path / "audit.json").write_text("OLD JSON")

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        _result(NAMES[:3], model=False).save(tmp_path)
    assert (tmp_path / "report.html").read_text() == "OLD REPORT"
    assert (tmp_path / "audit.json").read_text() == "OLD JSON"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.json", "report.html"]


def test_a_report_path_that_is_a_file_or_under_one_names_the_argument(tmp_path):
    (tmp_path / "afile").write_text("x")
    result = _result(NAMES[:3], model=False)
    with pytest.raises(ValueError, match=r"^folder: '.*afile' is a file; expected a folder$"):
        result.save(tmp_path / "afile")
    with pytest.raises(ValueError, match=r"^folder: '.*afile' is a file, so '.*x' cannot be"):
        result.save(tmp_path / "afile" / "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def _strip_images(page: str) -> str:
    return re.sub(r'src="data:image/png;base64,[A-Za-z0-9+/=]*"', 'src=""', page)


def test_a_report_of_100000_context_concepts_is_quick_and_no_longer(tmp_path):
    # Before: 131 s (importance_table looked each name up in the list of context concepts)
    small = [f"concept {i:06d}" for i in range(1000)]
    big = [f"concept {i:06d}" for i in range(100_000)]
    few = _strip_images(render_report(_result(small, model=False)))
    start = time.perf_counter()
    many = render_report(_result(big, model=False))
    assert time.perf_counter() - start < 30
    # the tables stay at 20 rows: only the counts' digits differ
    assert abs(len(_strip_images(many)) - len(few)) < 100
    assert "100000 concepts" in many and many.count("<tr><td>concept ") == 20 + 10 + 10 + 15


def test_a_4096_character_name_is_shown_in_full_in_tables_and_cut_in_figures():
    from bottlekit.visualize._text import MAX_FIGURE_CHARS, plain_text

    page = render_report(_result([LONG, "short", "other"]))
    assert page.count(f"<td>{LONG}</td>") >= 3  # importance, existence, spurious, ...
    assert plain_text(LONG) == "y" * (MAX_FIGURE_CHARS - 1) + "…"


def test_the_context_mask_of_100000_concepts_is_linear():
    from bottlekit.diagnostics.audit_importance import _context_mask

    names = [f"concept {i:06d}" for i in range(100_000)]
    start = time.perf_counter()
    mask = _context_mask(names, None, None, names[::2], [])
    assert time.perf_counter() - start < 10
    assert mask.sum() == 50_000 and mask[0] and not mask[1]


def test_html_is_escaped_in_one_place_only():
    # every page the package writes escapes through bottlekit.visualize._text.html_text
    root = Path(__file__).resolve().parents[2] / "bottlekit"
    users = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "escape":
                if isinstance(node.value, ast.Name) and node.value.id == "html":
                    users.append(str(path.relative_to(root)))
            if isinstance(node, ast.ImportFrom) and node.module == "html":
                users.append(str(path.relative_to(root)))
    assert users == [os.path.join("visualize", "_text.py")]


def test_the_audit_command_prints_names_with_their_escapes(tmp_path, capsys, monkeypatch):
    # Before: a concept name's ESC sequence reached the terminal as it is (it could clear
    # the screen or set the window title); the report beside it had the escapes.
    pytest.importorskip("torch")
    import argparse

    import bottlekit.app.audit_command as command

    names = ["\x1b[2J\x1b]0;owned\x07clear", BIDI, "plain"]
    monkeypatch.setattr(command, "_audit", lambda *a: _result(names, model=False))
    parser = argparse.ArgumentParser(prog="bottlekit")
    command.add_audit_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            *("audit", "--backbone", "world-tiny", "--head", str(tmp_path / "h.safetensors")),
            *("--world", "test", "--n", "8", "--out", str(tmp_path / "rep")),
        ]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert HIDDEN.search(out) is None
    shown = [shown_text(n) for n in _result(names, model=False).top_spurious(5)]
    assert f"most spurious-looking concepts: {', '.join(shown)}\n" in out
    assert "\\x1b[2J\\x1b]0;owned\\x07clear" in out


def test_existence_columns_of_100000_concepts_are_matched_in_linear_time():
    # Before: 227 s (each concept looked up in the list of label names: the audit's
    # existence section passes label_names=concept_names)
    from bottlekit.diagnostics.existence import _label_columns

    names = [f"concept {i:06d}" for i in range(100_000)]
    start = time.perf_counter()
    cols = _label_columns(names, names[::-1], len(names))
    assert time.perf_counter() - start < 10
    np.testing.assert_array_equal(cols, np.arange(len(names))[::-1])


def test_global_importance_of_100000_named_columns_is_linear():
    # Before: each model concept and class was looked up in the list of column/row names
    from bottlekit.diagnostics.global_importance import concept_global_importance

    k = 100_000
    names = [f"concept {i:06d}" for i in range(k)]
    coef = np.vstack([np.linspace(-1.0, 1.0, k), np.linspace(1.0, -1.0, k)])
    model = SimpleNamespace(coef_=coef, concept_names_=names, classes_=np.array(["a", "b"]))
    G = coef[::-1, ::-1].copy()  # rows named b, a; columns in reverse order
    start = time.perf_counter()
    gi = concept_global_importance(model, G, concept_names=names[::-1], class_names=["b", "a"])
    assert time.perf_counter() - start < 10
    np.testing.assert_allclose(gi.correlation, [1.0, 1.0])
