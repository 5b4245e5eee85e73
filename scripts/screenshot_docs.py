"""Screenshots of the built documentation (``make docs`` first) in headless Chromium.

Writes ``docs/docs_landing.png`` (the landing page) and ``docs/docs_api.png`` (an API
page with math, rendered by the bundled MathJax). Needs Chromium: ``apt-get install
chromium`` on Debian/Ubuntu.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from chromium import find_chromium  # noqa: E402

from bottlekit.atomic import atomic_write_bytes  # noqa: E402

HTML = ROOT / "docs" / "_build" / "html"
PAGES = {
    "docs_landing.png": HTML / "index.html",
    "docs_api.png": HTML / "api" / "generated" / "bottlekit.estimators.cs_divergence.html",
}


def screenshot(page: Path, png: Path, chromium: str) -> None:
    """One 1280x900 screenshot; the virtual-time budget lets MathJax typeset first."""
    with tempfile.TemporaryDirectory(prefix="bk-docs-shot-") as profile:
        shot = Path(profile) / "shot.png"
        cmd = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--window-size=1280,900",
            "--virtual-time-budget=5000",
            f"--screenshot={shot}",
            page.as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if not shot.is_file():
            raise RuntimeError(f"{chromium} wrote no screenshot: {proc.stderr[-800:]}")
        atomic_write_bytes(png, shot.read_bytes())


def main() -> None:
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("no Chromium found: apt-get install chromium")
    for png, page in PAGES.items():
        if not page.is_file():
            raise SystemExit(f"{page} is missing: run `make docs` first")
        screenshot(page, ROOT / "docs" / png, chromium)
        print(f"wrote docs/{png}")


if __name__ == "__main__":
    main()
