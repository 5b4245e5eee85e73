"""Prove the environment is the one claimed: every pinned package at its pinned version.

Usage: python .ci/check_pins.py CONSTRAINTS. A pin may carry an environment marker
(``tomli==2.0.0; python_version < "3.11"``); pins whose marker is false on this
interpreter are listed as skipped, since pip installs nothing for them.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version

try:
    from packaging.markers import Marker
except ImportError:  # a bare venv: pip carries its own copy
    from pip._vendor.packaging.markers import Marker


def read_pins(path: str) -> list[tuple[str, str, bool]]:
    """``(name, version, applies)`` for each pin of a constraints file."""
    pins = []
    for raw in open(path, encoding="utf-8"):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement, _, marker = line.partition(";")
        name, want = (part.strip() for part in requirement.split("=="))
        applies = Marker(marker.strip()).evaluate() if marker.strip() else True
        pins.append((name, want, applies))
    return pins


def main(path: str) -> None:
    wrong = []
    for name, want, applies in read_pins(path):
        if not applies:
            print(f"  {name:<16} skipped (its marker is false on this Python)")
            continue
        try:
            have = version(name)
        except PackageNotFoundError:
            wrong.append(f"{name} not installed (expected {want})")
            continue
        print(f"  {name:<16} {have}")
        if have.split("+")[0] != want:
            wrong.append(f"{name} {have} (expected {want})")
    if wrong:
        sys.exit("min-versions: not at the minimum: " + ", ".join(wrong))


if __name__ == "__main__":
    main(sys.argv[1])
