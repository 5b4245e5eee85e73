"""The README's code runs as written: every ```python block, in order, in one namespace.

A newcomer copies the tour top to bottom; so does this test. It runs in a fresh folder
with a fresh embedding cache, offline (the blocks that would need the network show the
offline behaviour instead). The tour starts a local Ray instance, so the test is slow.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    """The bodies of the ```python fenced blocks of a markdown text, in order."""
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)


def test_blocks_are_found():
    blocks = python_blocks("a\n```python\nx = 1\n```\n```bash\nls\n```\n```python\ny = x\n```\n")
    assert blocks == ["x = 1\n", "y = x\n"]
    assert len(python_blocks(README.read_text())) >= 10


@pytest.mark.slow
def test_the_readme_tour_runs_as_written(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOTTLEKIT_CACHE", str(tmp_path / "cache"))
    namespace: dict = {"__name__": "__readme__"}
    for i, block in enumerate(python_blocks(README.read_text())):
        code = compile(block, f"README.md python block {i}", "exec")
        exec(code, namespace)  # the README's own code
    # what the tour promises at its end
    assert (tmp_path / "audit" / "report.html").is_file()
    assert (tmp_path / "plane.png").is_file()
    assert namespace["model"].score(namespace["X_test"], namespace["test"].labels) > 0.5


FULL_FIGURES = README.parent / "docs" / "benchmarks.md"


def summary_figures(text: str) -> set[str]:
    """The decimal numbers of the README's "Measured figures" summary, signs dropped."""
    section = text[text.index("## Measured figures") : text.index("## Layout")]
    return {n.lstrip("+−-") for n in re.findall(r"(?<![\w.])[−+-]?\d[\d,]*\.\d+", section)}


def test_summary_figures_are_found():
    text = "## Measured figures\n| a | 0.84 × | −0.0 | 1,234.5 s | v1.2 |\n## Layout\n9.9"
    assert summary_figures(text) == {"0.84", "0.0", "1,234.5"}


def test_every_figure_of_the_summary_is_in_the_full_text():
    """The README summarises docs/benchmarks.md; a figure changed in one place only (a
    re-measurement copied to the summary but not to the full text, or the reverse) fails."""
    full = FULL_FIGURES.read_text()
    figures = summary_figures(README.read_text())
    assert len(figures) > 100
    assert sorted(f for f in figures if f not in full) == []
