"""pyproject.toml's lower bounds are the versions the lowest-versions job installs and tests."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parent.parent


def _release(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_constraints_pin_every_runtime_minimum_of_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    floors = {}
    for req in project["dependencies"] + [
        r for r in project["optional-dependencies"]["dev"] if _name(r) == "pytest"
    ]:
        match = re.search(r">=\s*([0-9.]+)", req)
        assert match, f"{req!r} has no lower bound"
        floors[_name(req)] = _release(match.group(1))
    pins = {}
    for line in (ROOT / ".ci" / "constraints-min.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.partition(";")[0].split("==")
            pins[_name(name)] = _release(version.strip())
    assert pins == floors


def test_tomli_is_required_only_where_tomllib_is_missing():
    """The recipe files are read with tomllib (3.11+); Python 3.10 gets tomli instead."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (tomli,) = [r for r in project["dependencies"] if _name(r) == "tomli"]
    assert tomli.replace(" ", "").endswith(";python_version<'3.11'")


def test_pin_check_skips_pins_whose_marker_is_false(tmp_path):
    """The lowest-versions job's check reads markers: a 3.10-only pin is not required on 3.11+."""
    import runpy

    check = runpy.run_path(str(ROOT / ".ci" / "check_pins.py"))
    pins = check["read_pins"](str(ROOT / ".ci" / "constraints-min.txt"))
    (tomli,) = [p for p in pins if p[0] == "tomli"]
    assert tomli[1] == "2.0.0" and tomli[2] == (sys.version_info < (3, 11))
    assert all(applies for name, _, applies in pins if name != "tomli")
    f = tmp_path / "c.txt"
    f.write_text('numpy==1.24.0\nnot-installed-pkg==1.0; python_version < "3"\n')
    assert check["read_pins"](str(f)) == [
        ("numpy", "1.24.0", True),
        ("not-installed-pkg", "1.0", False),
    ]
    f.write_text("not-installed-pkg==1.0\n")
    with pytest.raises(SystemExit, match="not-installed-pkg not installed"):
        check["main"](str(f))
