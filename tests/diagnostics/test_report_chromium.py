"""The audit report opens in headless Chromium and renders its sections (a screenshot).

Skipped when no Chromium/Chrome binary is found (install with ``apt-get install chromium``
or point ``$BOTTLEKIT_CHROMIUM`` at one). The report is built from a small hand-made
:class:`AuditResult` so that this test needs no backbone.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from bottlekit.diagnostics.audit import AuditResult, spurious_concept_scores


def _load_chromium_helpers():
    """``scripts/chromium.py`` (developer tooling, not part of the package)."""
    path = Path(__file__).resolve().parents[2] / "scripts" / "chromium.py"
    spec = importlib.util.spec_from_file_location("bottlekit_scripts_chromium", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_chromium = _load_chromium_helpers()
screenshot_html = _chromium.screenshot_html
CHROMIUM = _chromium.find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium/chrome binary on PATH (apt-get install chromium, or set "
    "BOTTLEKIT_CHROMIUM)",
)
HEADER_RGB = (0x23, 0x32, 0x4A)  # the report's header background (#23324a, report._CSS)


def _synthetic_result() -> AuditResult:
    rng = np.random.default_rng(0)
    names = ["red body", "long tail", "water background", "sky background"]
    classes = np.arange(3)
    imp = rng.normal(size=(3, 4))
    A = rng.random((3, 4))
    ctx = np.array([False, False, True, True])
    sp = spurious_concept_scores(imp, A, ctx)
    spurious = [
        {
            "concept": names[j],
            "score": float(sp["score"][j]),
            "importance": float(np.abs(imp[:, j]).mean()),
            "worst_class": f"class {int(sp['worst_class'][j])}",
            "worst_class_importance": float(imp[sp["worst_class"][j], j]),
            "attribute_rate": float(A[sp["worst_class"][j], j]),
            "context": bool(ctx[j]),
        }
        for j in np.argsort(-sp["score"])
    ]
    images = rng.integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    return AuditResult(
        model_kind="torch",
        space="features",
        concept_names=names,
        class_names=["class 0", "class 1", "class 2"],
        classes=classes,
        fidelity={
            "agreement": 0.8,
            "model_accuracy": 0.7,
            "surrogate_accuracy": 0.65,
            "n_fit": 50,
            "n_eval": 50,
            "exact": False,
        },
        importance=np.abs(imp).mean(0),
        importance_by_class=imp,
        importance_agreement={"mean_correlation": 0.4, "correlation": np.full(3, 0.4)},
        existence={
            "top_k": 2,
            "precision": 0.6,
            "chance": 0.3,
            "per_image": np.full(50, 0.6),
            "per_concept": {"red body": {"times_in_top": 20, "precision": 0.7, "prevalence": 0.3}},
            "n_images": 50,
            "n_labelled_concepts": 4,
        },
        location={
            "n_pairs": 10,
            "pointing_accuracy": 0.5,
            "mean_energy": 0.4,
            "uniform_expectation": 0.2,
            "n_images": 5,
            "per_concept": {"red body": {"pointing": 0.5, "energy": 0.4, "area": 0.2, "n": 10}},
        },
        spurious=spurious,
        spurious_share=sp["share"],
        examples=[
            {
                "index": i,
                "true": "class 0",
                "predicted": "class 1",
                "surrogate": "class 1",
                "top": [("red body", 1.0), ("long tail", 0.5)],
            }
            for i in range(2)
        ],
        example_images=images,
        example_maps=rng.random((2, 2, 32, 32)).astype(np.float32),
        example_map_concepts=[["red body", "long tail"]] * 2,
        context_concepts=["water background", "sky background"],
        notes=["CAVs: one concept is not better than chance"],
        settings={"n_images": 100, "map_method": "saliency"},
    )


def test_report_renders_in_headless_chromium(tmp_path):
    from PIL import Image

    paths = _synthetic_result().save(tmp_path)
    png = screenshot_html(paths["report"], tmp_path / "shot.png", width=1000, height=1400)
    img = np.asarray(Image.open(png).convert("RGB"))
    assert img.shape == (1400, 1000, 3)
    # Not blank: a rendered page has many colours and large contrast (a blank or failed
    # render is one flat colour).
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50
    assert img.std() > 20
    # The inline CSS was applied: the header band at the top has the header colour
    # (anti-aliasing aside, +-3 per channel).
    band = img[5:20, 300:900].reshape(-1, 3).astype(int)
    close = np.all(np.abs(band - np.array(HEADER_RGB)) <= 3, axis=1)
    assert close.mean() > 0.9
    # The embedded PNG plots were decoded and drawn: the screenshot has the plots' bar
    # colours (the fidelity plot's first category colour, #4c72b0), which nothing else on
    # the page uses.
    bars = np.all(np.abs(img.astype(int) - np.array([0x4C, 0x72, 0xB0])) <= 3, axis=2)
    assert bars.sum() > 200
