"""The documentation site: every public name has a reference page, the gallery runs,
and (slow) the site builds with warnings as errors and loads nothing from the web."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GALLERY = sorted((DOCS / "gallery").glob("plot_*.py"))

sys.path.insert(0, str(DOCS / "_ext"))
api_pages = importlib.import_module("api_pages")

# The public subpackages issue 16 names; new ones are found by api_pages.public_modules().
EXPECTED_PUBLIC = {
    "bottlekit",
    "bottlekit.backbones",
    "bottlekit.cache",
    "bottlekit.images",
    "bottlekit.datasets",
    "bottlekit.concepts",
    "bottlekit.bottleneck",
    "bottlekit.estimators",
    "bottlekit.visualize",
    "bottlekit.diagnostics",
    "bottlekit.world",
}


def _autosummary_entries(rst: str) -> set[str]:
    """Names listed under the ``.. autosummary::`` directives of a page."""
    entries, inside = set(), False
    for line in rst.splitlines():
        if line.startswith(".. autosummary::"):
            inside = True
        elif inside and line.startswith("   ") and not line.strip().startswith(":"):
            entries.add(line.strip())
        elif inside and line and not line.startswith(" "):
            inside = False
    return entries


def test_public_modules_cover_the_listed_subpackages():
    modules = api_pages.public_modules()
    assert EXPECTED_PUBLIC <= set(modules)
    assert "bottlekit.app" not in modules
    assert len(modules) == len(set(modules))


def test_every_public_name_has_a_reference_entry():
    pages = api_pages.api_pages()
    index = pages["index.rst"]
    for module in api_pages.public_modules():
        page = pages[f"{module}.rst"]
        assert re.search(rf"^   {re.escape(module)}$", index, re.M), f"{module} not in the index"
        if module == "bottlekit":
            # the top-level shortcuts point to the subpackage page that documents them
            for name in api_pages.public_names("bottlekit"):
                if name != "__version__":
                    assert f"``bottlekit.{name}``" in page
            continue
        entries = _autosummary_entries(page)
        missing = set(api_pages.public_names(module)) - entries
        assert not missing, f"{module}: no reference entry for {sorted(missing)}"
        assert f".. automodule:: {module}" in page


def test_top_level_names_point_to_their_defining_subpackage():
    page = api_pages.api_pages()["bottlekit.rst"]
    assert ":obj:`bottlekit.concepts.ConceptBank`" in page
    assert ":obj:`bottlekit.backbones.load_backbone`" in page
    assert ":obj:`bottlekit.estimators.mutual_information`" in page


def test_autosummary_parser_sees_a_missing_name():
    # the check above could pass vacuously if the parser found nothing
    page = api_pages.module_page("bottlekit.world")
    entries = _autosummary_entries(page)
    assert "make_world" in entries and "World" in entries
    assert _autosummary_entries(page.replace("   make_world\n", "")) == entries - {"make_world"}


def test_every_markdown_page_is_in_a_toctree():
    pages = {p.stem for p in DOCS.glob("*.md")} - {"index"}
    guide = (DOCS / "user_guide" / "index.md").read_text()
    for page in pages:
        assert f"../{page}\n" in guide, f"docs/{page}.md is not in the user guide's toctree"
    for page in (DOCS / "user_guide").glob("*.md"):
        if page.stem != "index":
            assert f"\n{page.stem}\n" in guide, f"user_guide/{page.name} is not in the toctree"


def test_no_remote_inventories_or_assets_configured():
    conf = (DOCS / "conf.py").read_text()
    assert "sphinx.ext.intersphinx" not in conf
    assert "sphinx-mathjax-offline" in conf


def test_gallery_has_three_to_five_examples():
    assert 3 <= len(GALLERY) <= 5
    for script in GALLERY:
        text = script.read_text()
        assert text.startswith('"""\n'), f"{script.name}: sphinx-gallery needs a docstring title"


def _env() -> dict[str, str]:
    env = dict(os.environ, MPLBACKEND="agg", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


@pytest.mark.slow
@pytest.mark.parametrize("script", GALLERY, ids=[p.stem for p in GALLERY])
def test_gallery_script_runs(script):
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip(), f"{script.name} printed nothing"


REMOTE_ASSET = re.compile(
    r"""<(?:script|img|iframe)[^>]*\ssrc=["']https?://"""
    r"""|<link[^>]*href=["']https?://[^"']*["'][^>]*>"""
    r"""|url\(\s*["']?https?://""",
    re.I,
)


@pytest.mark.slow
def test_docs_build_without_warnings_and_offline(tmp_path):
    pytest.importorskip("sphinx", reason="docs dependency: pip install -e '.[docs]'")
    pytest.importorskip("numpydoc", reason="docs dependency: pip install -e '.[docs]'")
    pytest.importorskip("sphinx_gallery", reason="docs dependency: pip install -e '.[docs]'")
    out = tmp_path / "html"
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", DOCS, out],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert (out / "index.html").is_file()
    for module in api_pages.public_modules()[1:]:
        for name in api_pages.public_names(module):
            page = out / "api" / "generated" / f"{module}.{name}.html"
            assert page.is_file(), f"no reference page for {module}.{name}"
    for script in GALLERY:
        assert (out / "auto_examples" / f"{script.stem}.html").is_file()
    assert (out / "_static" / "mathjax" / "tex-chtml.js").is_file()
    remote = []
    for path in [*out.rglob("*.html"), *out.rglob("*.css")]:
        # link tags to a web page (rel="canonical" etc.) are fine; stylesheets, scripts,
        # images and fonts must be local
        for match in REMOTE_ASSET.finditer(path.read_text(errors="replace")):
            tag = match.group(0)
            if tag.lower().startswith("<link") and "stylesheet" not in tag.lower():
                if "preload" not in tag.lower() and "icon" not in tag.lower():
                    continue
            remote.append(f"{path.relative_to(out)}: {tag[:120]}")
    assert not remote, "pages load from the web:\n" + "\n".join(remote[:20])


# Pages whose Python blocks run as written, in order, in one namespace (files they write
# go to a temporary folder). A block that needs what cannot exist offline (CUB on disk,
# an LLM server, downloaded weights) is a sketch: the paragraph just before it starts with
# "*Sketch*" and says what it needs; the test skips it. Every page with a Python block is
# listed here (test_every_page_with_python_blocks_is_listed).
RUNNABLE_PAGES = [
    pytest.param("index.md", marks=pytest.mark.slow),  # fits a CBM: ~10-40 s on 2 cores
    "user_guide/backbones.md",
    "user_guide/datasets.md",
    "user_guide/bottleneck.md",  # each page below ~2-7 s alone on 2 cores (world.md ~10)
    pytest.param("user_guide/diagnostics.md", marks=pytest.mark.slow),  # audits: ~17 s alone
    "user_guide/information_bottleneck.md",
    "user_guide/visualize.md",
    "estimators.md",
    "world.md",
    pytest.param("concepts.md", marks=pytest.mark.slow),  # retrieval, SAEs: ~12-30 s
    "datasets.md",
    "benchmarks.md",
]

PYTHON_BLOCK = re.compile(r"^( *)```python\n(.*?)^\1```", re.M | re.S)
SKETCH = "*Sketch*"


def _code_blocks(page: str) -> list[tuple[str, bool]]:
    """The page's Python blocks, dedented, each with whether it is marked a sketch."""
    text = (DOCS / page).read_text()
    blocks = []
    for match in PYTHON_BLOCK.finditer(text):
        before = text[: match.start()].rstrip()
        paragraph = re.split(r"\n\s*\n", before)[-1].strip()
        code = textwrap.dedent(match.group(2))
        blocks.append((code, paragraph.startswith(SKETCH)))
    return blocks


def _page_ids(pages: list) -> set[str]:
    return {p.values[0] if hasattr(p, "values") else p for p in pages}


def test_every_page_with_python_blocks_is_listed():
    pages = {
        str(p.relative_to(DOCS))
        for p in DOCS.rglob("*.md")
        if "_build" not in p.parts and PYTHON_BLOCK.search(p.read_text())
    }
    assert pages == _page_ids(RUNNABLE_PAGES)


def test_code_block_parser_sees_sketches_and_indented_blocks():
    blocks = _code_blocks("concepts.md")
    assert any(sketch for _, sketch in blocks) and not all(sketch for _, sketch in blocks)
    # the block inside a list item is found, dedented
    assert any(code.startswith("from bottlekit.visualize import") for code, _ in blocks)


def _run_page(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Run the page's blocks but its sketches, in one namespace, in ``tmp_path``; the
    sketches are compiled (a syntax error in one fails)."""
    blocks = _code_blocks(page)
    assert blocks, f"{page} has no Python block"
    monkeypatch.setenv("BOTTLEKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for code, sketch in blocks:
        compiled = compile(code, f"docs/{page}", "exec")
        if not sketch:
            exec(compiled, namespace)
    return namespace


@pytest.fixture(scope="module")
def page_run(tmp_path_factory):
    """Run a page once per test module (each in its own folder); the value tests below
    read the namespace of the same run instead of running the page again."""
    done: dict[str, dict] = {}

    def run(page: str) -> dict:
        if page not in done:
            with pytest.MonkeyPatch.context() as monkeypatch:
                done[page] = _run_page(page, tmp_path_factory.mktemp("page"), monkeypatch)
        return done[page]

    return run


@pytest.mark.parametrize("page", RUNNABLE_PAGES)
def test_page_code_blocks_run(page, page_run):
    _run_listed_page(page, page_run)


def _run_listed_page(page: str, run) -> None:
    run(page)
    if all(sketch for _, sketch in _code_blocks(page)):
        # reported as what it is, not as a page whose code ran
        pytest.skip(f"every Python block of {page} is a sketch: compiled, not run")


def test_a_page_of_sketches_is_compiled_and_not_passed_as_run(tmp_path, monkeypatch):
    # before: the blocks of a page whose every block is a sketch (datasets.md,
    # benchmarks.md) were neither run nor compiled, so its test passed whatever they held
    docs = tmp_path / "docs"
    docs.mkdir()
    monkeypatch.setattr(sys.modules[__name__], "DOCS", docs)
    sketch = '*Sketch* (needs CUB):\n\n```python\nds = load_cub("~/data"\n```\n'
    (docs / "broken.md").write_text(sketch)
    with pytest.raises(SyntaxError):
        _run_page("broken.md", tmp_path, monkeypatch)
    (docs / "sketches.md").write_text(sketch.replace('"~/data"', '"~/data")'))
    with pytest.raises(pytest.skip.Exception, match=r"every Python block of sketches\.md is "):
        _run_listed_page("sketches.md", lambda page: _run_page(page, tmp_path, monkeypatch))


def test_estimators_page_values_match_its_comments(page_run):
    # the comments of the page's first block state these values; x ~ N(0, 1) and
    # y = 0.8 x + 0.6 e, so I(X;Y) = -0.5 log(1 - 0.8²) and H(X) = 0.5 log(2πe)
    ns = page_run("estimators.md")
    true_mi, true_h = -0.5 * np.log(1 - 0.64), 0.5 * np.log(2 * np.pi * np.e)
    assert true_mi == pytest.approx(0.511, abs=5e-4) and true_h == pytest.approx(1.42, abs=5e-3)
    assert ns["mi"] == pytest.approx(0.51, abs=0.005)  # KSG at n = 5000: within 0.01 of the truth
    assert ns["mi_gauss"] == pytest.approx(0.51, abs=0.005)
    assert ns["mi_bits"] == pytest.approx(ns["mi"] / np.log(2), rel=1e-12)
    assert ns["mi_bits"] == pytest.approx(0.74, abs=0.005)
    assert ns["h"] == pytest.approx(1.44, abs=0.005)  # KL's bias here: +0.016 nats
    assert ns["p"] < 1e-6  # y² depends on x without being correlated with it
    assert abs(ns["d"]) < 0.01  # x and y have the same N(0, 1) marginal


def test_world_page_values_match_its_comments(page_run):
    ns = page_run("world.md")
    world, X, T = ns["world"], ns["X"], ns["T"]
    assert world.images.shape == (2400, 64, 64, 3) and world.images.dtype == np.uint8
    assert np.bincount(world.labels).tolist() == [100] * 24
    assert world.class_names[:2] == ["ketrel", "murlo"] and len(world.class_names) == 24
    assert world.concept_names[0] == "red body" and "striped wings" in world.concept_names
    assert len(world.concept_names) == 31 and world.concept_labels.shape == (2400, 31)
    assert world.part_masks.shape == (2400, 6, 64, 64) and world.part_masks.dtype == bool
    assert list(world.part_names) == ["body", "wing", "head", "tail", "beak", "background"]
    assert world.part_of_concept.shape == world.group_of_concept.shape == (31,)
    assert world.class_concept_matrix.shape == (24, 31) and world.typical_background.shape == (24,)
    assert len(world.captions) == 2400 and len(world.corpus) == len(world.corpus_subjects) == 92
    assert X.shape == (2400, 64) and np.allclose(np.linalg.norm(X, axis=1), 1, atol=1e-5)
    assert T.shape == (24, 64)
    assert ns["same_tensors"](ns["shipped"], ns["shipped"]) is True
