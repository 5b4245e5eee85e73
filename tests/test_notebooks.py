"""The example notebooks: stored clean, and each one runs end to end with the right results.

Executing a notebook takes 20-60 s on two loaded cores (kernel start, torch import,
training), so the execution tests are marked ``slow``; run them with
``python -m pytest tests/test_notebooks.py -m slow``. The storage checks are fast.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="dev dependency: pip install nbformat")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
CELL_TIMEOUT_S = 300

# What each notebook must print: (pattern with one number group, check, why). The bounds
# are loose against the numbers a run gives (in the notebooks' markdown) and far from what
# a broken pipeline gives (chance accuracy 1/24 = 0.04 on the world, 0.1 on digits).
FLOAT = r"([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"
EXPECTED: dict[str, list[tuple[str, str, str]]] = {
    "01_posthoc_cbm.ipynb": [
        (rf"test accuracy of the CBM: {FLOAT}", "> 0.5", "24 species, chance is 0.04"),
        (rf"after pruning the background concepts, shifted-split accuracy: {FLOAT}", "> 0.3", ""),
        (rf"background concepts among the top 5 by global importance: {FLOAT}", ">= 1", ""),
        (rf"accuracy with true concept values \(intervention\): {FLOAT}", "> 0.5", ""),
    ],
    "02_llm_and_retrieved_concepts.ipynb": [
        (rf"retrieved concepts\s+k =\s+\d+: test accuracy {FLOAT}", "> 0.5", "chance 0.04"),
        (
            rf"retrieved concepts\s+k =\s+\d+: test accuracy [\d.]+, pair precision {FLOAT}",
            ">= 0.95",
            "docs/concepts.md: precision 1.000 on the world",
        ),
        (rf"LLM concepts\s+k =\s+\d+: test accuracy {FLOAT}", "> 0.5", "chance 0.04"),
    ],
    "03_estimators_information_plane.ipynb": [
        # KSG with k=3 on n=2000 has a standard deviation of about 0.015 nats at these rho
        (rf"max \|KSG - closed form\| = {FLOAT} nats", "< 0.05", ""),
        # O(1/(n sigma^d)) bias of the self-similarity sums at sigma = 0.25, n = 1500: ~8%
        (rf"max relative error = {FLOAT}", "< 0.15", ""),
        (rf"HSIC p-value, y = x\^2 \(gamma approx.\):\s+{FLOAT}", "< 1e-3", ""),
        (rf"HSIC p-value, y independent of x:\s+{FLOAT}", "> 0.01", ""),
        (rf"test accuracy after \d+ epochs: {FLOAT}", "> 0.85", "digits, chance 0.1"),
    ],
    "04_audit.ipynb": [
        (
            rf"backgrounds among the shortcut-trained model's 5 most spurious concepts: {FLOAT}",
            ">= 3",
            "the shortcut the model was trained with: 90% typical backgrounds",
        ),
        (rf"background-balanced\s+accuracy on the audit images: {FLOAT}", "> 0.4", "chance 0.04"),
    ],
}
# Relations between two printed numbers: (pattern a, op, pattern b, why)
RELATIONS: dict[str, list[tuple[str, str, str, str]]] = {
    "01_posthoc_cbm.ipynb": [
        (
            rf"after pruning the background concepts, shifted-split accuracy: {FLOAT}",
            ">",
            rf"shifted-split accuracy of the CBM: {FLOAT}",
            "pruning the background shortcut helps where backgrounds are uninformative",
        ),
    ],
    "04_audit.ipynb": [
        (
            rf"shortcut-trained: AuditResult.*\n.*spurious share {FLOAT}",
            ">",
            rf"background-balanced: AuditResult.*\n.*spurious share {FLOAT}",
            "the shortcut-trained model relies more on non-attributes (backgrounds)",
        ),
        (
            rf"background-balanced\s+accuracy on the audit images: {FLOAT}",
            ">",
            rf"shortcut-trained\s+accuracy on the audit images: {FLOAT}",
            "the audit images have random backgrounds",
        ),
    ],
}


def _check(value: float, rule: str) -> bool:
    op, bound = rule.split()
    return _compare(value, op, float(bound))


def _compare(a: float, op: str, b: float) -> bool:
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _printed_text(nb) -> str:
    """Everything the code cells printed, and the text form of their values."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif "data" in out:
                parts.append(out.data.get("text/plain", ""))
    return "\n".join(parts)


# --------------------------------------------------------------------- storage (fast)
def test_there_are_notebooks():
    names = {p.name for p in NOTEBOOKS}
    assert names == set(EXPECTED), "every notebook has its key outputs listed in EXPECTED"
    assert set(RELATIONS) <= set(EXPECTED)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path):
    nb = _read(path)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [], f"{path.name} cell {i} has stored outputs; strip them"
        assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
    tags = [t for c in nb.cells for t in c.metadata.get("tags", []) if t.startswith("figure:")]
    assert tags, f"{path.name} tags no cell 'figure:<name>' for scripts/render_notebook_figures.py"
    assert len(tags) == len(set(tags)), f"{path.name} repeats a figure tag: {tags}"


# --------------------------------------------------------------------- execution (slow)
@pytest.fixture
def kernel_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The kernel inherits this process's environment: repository importable, offline,
    one thread per library (the machines are shared), a private cache, and no endpoint so
    that notebook 02 takes its offline path."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")
    monkeypatch.setenv("BOTTLEKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_and_prints_the_expected_results(path: Path, kernel_env) -> None:
    pytest.importorskip("ipykernel", reason="dev dependency: pip install ipykernel")
    NotebookClient = pytest.importorskip("nbclient", reason="dev dependency").NotebookClient

    nb = _read(path)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(EXAMPLES)}},
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first cell that fails
    elapsed = time.perf_counter() - start
    print(f"{path.name}: {elapsed:.1f} s")

    text = _printed_text(nb)
    for pattern, rule, why in EXPECTED[path.name]:
        match = re.search(pattern, text)
        assert match, f"{path.name} did not print /{pattern}/"
        value = float(match.group(1))
        assert _check(value, rule), f"{path.name}: {match.group(0)!r} is not {rule} ({why})"
    for pattern_a, op, pattern_b, why in RELATIONS.get(path.name, []):
        a, b = re.search(pattern_a, text), re.search(pattern_b, text)
        assert a and b, f"{path.name} did not print /{pattern_a}/ and /{pattern_b}/"
        assert _compare(float(a.group(1)), op, float(b.group(1))), (
            f"{path.name}: expected {a.group(0)!r} {op} {b.group(0)!r} ({why})"
        )
    for cell in nb.cells:
        tags = [t for t in cell.metadata.get("tags", []) if t.startswith("figure:")]
        if tags:
            pngs = [o for o in cell.outputs if "image/png" in o.get("data", {})]
            assert len(pngs) == 1, f"{path.name}: cell {tags[0]} shows {len(pngs)} figures, not 1"


# ------------------------------------------------------- scripts/render_notebook_figures.py
def _render_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "render_notebook_figures", ROOT / "scripts" / "render_notebook_figures.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_render_script_takes_the_png_of_each_tagged_cell():
    import base64

    script = _render_script()
    png = b"\x89PNG\r\n\x1a\nfake"
    shown = nbformat.v4.new_output(
        "display_data", data={"image/png": base64.b64encode(png).decode(), "text/plain": "F"}
    )
    tagged = nbformat.v4.new_code_cell("fig", metadata={"tags": ["figure:weights"]})
    tagged.outputs = [nbformat.v4.new_output("stream", text="hi"), shown]
    untagged = nbformat.v4.new_code_cell("other")
    untagged.outputs = [shown]
    nb = nbformat.v4.new_notebook(cells=[untagged, tagged])
    assert script.figures(nb) == {"weights": png}
    tagged.outputs = [shown, shown]
    with pytest.raises(RuntimeError, match="displayed 2 PNG figures, not 1"):
        script.figures(nb)
    env = script.kernel_environment()
    assert env["HF_HUB_OFFLINE"] == "1" and "OPENAI_BASE_URL" not in env
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(ROOT)
