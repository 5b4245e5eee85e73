"""The demo end to end on a small world: it prints the tables and writes a report folder."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from bottlekit.app.demo import DEMO_PLAN, run_demo


@pytest.mark.slow
def test_demo_writes_a_report(tmp_path, capsys):
    assert run_demo(n_train=480, n_test=480, out=tmp_path / "report", quiet=True) == 0
    out = capsys.readouterr().out
    assert "Accuracy on the built-in world" in out and "Model editing" in out
    summary = json.loads((tmp_path / "report" / "results.json").read_text())
    fitted = {(m["model"], m["bank"]) for m in summary["models"]}
    assert fitted == {("linear probe", "raw")} | {
        (m, b) for m, bs in DEMO_PLAN.items() for b in bs
    }
    # 24 species (chance 0.042); every model on world-tiny embeddings is far above chance
    assert all(m["accuracy"]["test"] > 0.3 for m in summary["models"])
    page = (tmp_path / "report" / "index.html").read_text()
    for name in ("pcbm_concept_weights.png", "pcbm_contributions_0.png", "editing.png"):
        assert f'src="{name}"' in page
        with Image.open(tmp_path / "report" / name) as im:
            assert im.size[0] > 100 and np.asarray(im).std() > 0  # a drawn, non-blank image
    # the page says in words what the figures show (issue 16)
    assert "the background is independent of the species" in page
    assert "removing it costs" in page and "href='results.json'" in page
    printed_top = out.split("Top concepts")[1].split("Model editing")[0]
    first_model_line = printed_top.strip().splitlines()[2].split(None, 2)[2].strip()
    assert first_model_line in page  # the printed top concepts of a species are in the page
    # every model's concept list starts in one column, "KnoBo-pseudo (retrieved)" too
    # (before: a 22-character column, which that label overran by two)
    starts = {
        m.start(2) - m.start(0)
        for m in re.finditer(r"^    (\S.*?\)) +(\S.*)$", printed_top, flags=re.MULTILINE)
    }
    assert printed_top.count("KnoBo-pseudo (retrieved) ") == 3 and len(starts) == 1


@pytest.mark.slow
def test_readme_shows_what_the_demo_prints(tmp_path, capsys):
    """The README's excerpt of the demo's output is the output of ``bottlekit demo`` today."""
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    excerpt = readme.split("Accuracy on the built-in world", 1)[1].split("```", 1)[0]
    lines = [ln for ln in excerpt.splitlines() if ln.strip() and ln.strip() != "..."]
    assert len(lines) >= 10  # the table, the pruning and its two accuracy lines
    assert run_demo(out=tmp_path / "report", quiet=True) == 0
    printed = capsys.readouterr().out
    stale = [ln for ln in lines if ln.rstrip() not in printed]
    assert not stale, "README lines the demo no longer prints:\n" + "\n".join(stale)


@pytest.mark.slow  # about 12 s
def test_rerun_with_fewer_test_images_leaves_no_stale_plots(tmp_path, capsys):
    """A rerun with a smaller ``n_test`` leaves exactly that run's files in the folder: the
    contribution plots of the earlier run's extra test images are gone, a file of the
    user's (or one the demo does not name) stays.

    The rerun has a single test image: its report plots that one and no other (before: the
    whole demo ran, then the report failed with "index=1 is out of range for an
    explanation of 1 images"; it plotted three test images)."""
    pytest.importorskip("bm25s")  # the demo's retrieval step (the retrieval extra)
    from bottlekit.app.demo import report_files

    report = tmp_path / "report"
    assert run_demo(n_train=24, n_test=3, out=report, quiet=True) == 0
    assert sorted(p.name for p in report.iterdir()) == sorted(report_files(3))
    (report / "notes.txt").write_text("mine")
    (report / "pcbm_contributions_old.png").write_bytes(b"mine too")
    assert run_demo(n_train=24, n_test=1, out=report, quiet=True) == 0
    capsys.readouterr()
    assert report_files(1) == [*report_files(3)[:-2]]
    assert sorted(p.name for p in report.iterdir()) == sorted(
        [*report_files(1), "notes.txt", "pcbm_contributions_old.png"]
    )
    assert (report / "notes.txt").read_text() == "mine"
    page = (report / "index.html").read_text()
    assert "pcbm_contributions_0.png" in page and "pcbm_contributions_1.png" not in page
