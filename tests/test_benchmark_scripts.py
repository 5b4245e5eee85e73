"""Benchmark scripts whose documented commands broke once, run at small size.

``benchmarks/diagnostics_world.py`` passed ``n_steps`` to every method after the package
began refusing it where it has no effect, so its README command stopped with a
ValueError; ``benchmarks/llm_concurrency.py`` called ``generate`` in the deprecated
argument order. Each script runs here as a user would (a fresh process, the repository's
``benchmarks/`` folder, bottlekit's deprecations as errors), and its printed self-checks
are read back.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_script(name: str, *args: str, cwd: Path) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-W", "error::FutureWarning", str(BENCHMARKS / name), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow  # about 10 s
def test_diagnostics_world_runs_every_method_it_is_given(tmp_path):
    out = run_script(
        "diagnostics_world.py",
        *("--n", "6", "--n-train", "60", "--n-steps", "3"),
        *("--methods", "gradcam", "integrated_gradients", "saliency"),
        cwd=tmp_path,
    )
    rows = {
        m.group(1).strip(): [float(v) for v in m.group(2).split()]
        for m in re.finditer(r"^(\w[\w ()=.x-]*?)\s+((?:\d\.\d{3}\s+){3}\d\.\d{3})", out, re.M)
    }
    for method in ("gradcam", "integrated_gradients", "saliency"):
        assert all(0 <= v <= 1 for v in rows[method]), (method, rows)
    uniform = rows["uniform map (expected = part area)"]
    assert uniform[0] == uniform[1] and uniform[2] == uniform[3]  # both scores: the area
    assert re.search(r"^text\s+\d", out, re.M) and re.search(r"^CAV\s+\d", out, re.M)


@pytest.mark.slow  # about 8 s
def test_attribution_speed_maps_equal_the_anchors(tmp_path):
    """Grad-CAM and saliency give the anchor's maps in every workload (the benchmark
    prints the largest difference relative to the largest map value)."""
    out = run_script(
        "attribution_speed.py",
        *("--n", "4", "--n-all", "2", "--methods", "gradcam", "saliency"),
        cwd=tmp_path,
    )
    diffs = re.findall(r"^(?:gradcam|saliency) \(.*\)\s+.*\s(\S+e[-+]\d+)$", out, re.M)
    assert len(diffs) == 6  # two methods x three workloads
    assert max(float(d) for d in diffs) <= 1e-5


@pytest.mark.slow  # about 3 s
def test_llm_concurrency_gives_the_sequential_results(tmp_path):
    out = run_script(
        "llm_concurrency.py",
        *("--classes", "8", "--latency", "0.05", "--concurrency", "4"),
        cwd=tmp_path,
    )
    assert "0 answered 429, at most 4 in flight; results identical to the sequential run" in out
