"""The package's examples leave no folder behind in the system's temporary directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_doctests_make_their_folders_where_pytest_removes_them(tmp_path):
    """``bottlekit/atomic.py``'s examples call ``tempfile.mkdtemp()`` and keep the folder;
    run as pytest runs them (``--doctest-modules``, the repository's conftest.py), with
    the system's temporary directory pointed at an empty folder, that folder stays empty:
    the folders go under pytest's ``--basetemp``. Before the conftest fixture each run
    left about 30 such folders (140 MB) in /tmp."""
    system_tmp = tmp_path / "system"
    system_tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(system_tmp)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--basetemp={tmp_path / 'pytest'}", "bottlekit/atomic.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "passed" in run.stdout
    assert sorted(p.name for p in system_tmp.iterdir()) == []
    assert any((tmp_path / "pytest").rglob("*")), "the examples made no folder at all"
