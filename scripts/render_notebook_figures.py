"""Run the example notebooks and save their main figures as ``docs/notebook_*.png``.

A notebook marks a main figure by tagging the cell that shows it ``figure:<name>``; the PNG
that cell displays is written to ``docs/notebook_<NN>_<name>.png``, ``NN`` being the
notebook's number (``examples/01_posthoc_cbm.ipynb`` -> ``01``). The notebooks themselves are
not modified (they stay stored without outputs). The run is offline: the kernel sees
``HF_HUB_OFFLINE=1`` and no ``OPENAI_BASE_URL``, so notebook 02 reads its hand-written
answers from ``examples/llm_cache``.

Run from anywhere::

    python scripts/render_notebook_figures.py                 # every examples/*.ipynb
    python scripts/render_notebook_figures.py examples/03_estimators_information_plane.ipynb
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DOCS = ROOT / "docs"
TAG = "figure:"
# prepended to the executed copy only: larger PNGs than the inline backend's default
SETUP = '%config InlineBackend.print_figure_kwargs = {"bbox_inches": "tight", "dpi": 150}'


def kernel_environment() -> dict[str, str]:
    """The environment the notebook kernel runs in (it inherits ``os.environ``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env["HF_HUB_OFFLINE"] = "1"
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    env.pop("OPENAI_BASE_URL", None)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")  # shared machines: one thread per library unless told
    return env


def execute(path: Path, timeout: int = 600):
    """Execute a copy of the notebook in ``examples/`` and return it with its outputs."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(SETUP))
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(kernel_environment())
    try:
        NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(EXAMPLES)}},
        ).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return nb


def figures(nb) -> dict[str, bytes]:
    """``{name: png bytes}`` of the cells tagged ``figure:<name>``."""
    out = {}
    for cell in nb.cells:
        for tag in cell.metadata.get("tags", []):
            if not tag.startswith(TAG):
                continue
            pngs = [o.data["image/png"] for o in cell.outputs if "image/png" in o.get("data", {})]
            if len(pngs) != 1:
                raise RuntimeError(f"cell tagged {tag!r} displayed {len(pngs)} PNG figures, not 1")
            out[tag[len(TAG) :]] = base64.b64decode(pngs[0])
    return out


def main(argv: list[str] | None = None) -> int:
    from bottlekit.atomic import atomic_write_bytes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: examples/*.ipynb")
    parser.add_argument("--out", type=Path, default=DOCS, help="folder of the PNGs (docs/)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(EXAMPLES.glob("*.ipynb"))
    if not paths:
        print("no notebooks found", file=sys.stderr)
        return 1
    for path in paths:
        start = time.perf_counter()
        nb = execute(path.resolve(), args.timeout)
        number = path.stem.split("_", 1)[0]
        for name, png in figures(nb).items():
            target = args.out / f"notebook_{number}_{name}.png"
            atomic_write_bytes(target, png)
            print(f"wrote {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
        print(f"{path.name}: {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
