"""Find and drive headless Chromium: screenshots of HTML pages (developer tooling).

Used by ``scripts/screenshot_report.py`` (``docs/audit_report.png``) and by the test that
renders an audit report (``tests/diagnostics/test_report_chromium.py``); not part of the
package. Point ``$BOTTLEKIT_CHROMIUM`` at an executable, or install one
(``apt-get install chromium``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bottlekit.atomic import atomic_write_bytes

__all__ = ["CHROMIUM_NAMES", "find_chromium", "screenshot_html"]

CHROMIUM_NAMES: tuple[str, ...] = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
)
"""Executable names :func:`find_chromium` looks for on ``PATH``."""


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable: ``$BOTTLEKIT_CHROMIUM`` or the first of
    :data:`CHROMIUM_NAMES` on ``PATH``; None if there is none."""
    env = os.environ.get("BOTTLEKIT_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot_html(
    html_path: str | os.PathLike,
    png_path: str | os.PathLike,
    *,
    width: int = 1280,
    height: int = 2000,
    chromium: str | None = None,
    timeout: float = 120.0,
) -> Path:
    """Render an HTML file in headless Chromium and save a PNG screenshot of its top.

    Runs ``chromium --headless --screenshot=PNG --window-size=W,H file://HTML`` with a
    throw-away profile (``--no-sandbox`` so it also runs as root in containers, and
    ``--disable-gpu``). Network access is not needed: the report is self-contained.

    Parameters
    ----------
    html_path, png_path : path-like
    width, height : int
        Window size in CSS pixels (the screenshot's size).
    chromium : str, optional
        Executable; default :func:`find_chromium`.
    timeout : float
        Seconds before giving up.

    Returns
    -------
    pathlib.Path
        ``png_path``.
    """
    exe = chromium or find_chromium()
    if exe is None:
        raise FileNotFoundError(
            "no Chromium/Chrome executable found (looked for $BOTTLEKIT_CHROMIUM and "
            f"{', '.join(CHROMIUM_NAMES)}); on Debian/Ubuntu: apt-get install chromium"
        )
    for name, v in (("width", width), ("height", height)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 16:
            raise ValueError(f"{name}: expected an int >= 16, got {v!r}")
    src = Path(html_path).resolve()
    if not src.is_file():
        raise FileNotFoundError(f"html_path: no file at {str(src)!r}")
    out = Path(png_path).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bk-chromium-") as profile:
        tmp_png = Path(profile) / "shot.png"
        cmd = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--no-default-browser-check",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={tmp_png}",
            src.as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if not tmp_png.is_file():
            raise RuntimeError(
                f"{exe} wrote no screenshot (exit {proc.returncode}): {proc.stderr[-800:]}"
            )
        atomic_write_bytes(out, tmp_png.read_bytes())
    return out
