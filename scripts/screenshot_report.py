"""Make docs/audit_report.png: a world audit's HTML report, rendered by headless Chromium.

Usage: ``python scripts/screenshot_report.py [--out docs/audit_report.png] [--report-dir DIR]``
(needs a ``chromium`` binary: ``apt-get install chromium``).

The audited model is the world-tiny image tower plus a linear head trained on world images
that always show the species' typical background, so it relies on backgrounds; it is
audited on the ``shifted`` split, where backgrounds are independent of the species. The
command line equivalent of the audit is::

    bottlekit audit --backbone world-tiny --head head.safetensors --world shifted --out DIR
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main(argv: list[str] | None = None) -> None:
    """Run the audit, write the report, screenshot it."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("docs/audit_report.png"))
    p.add_argument("--report-dir", type=Path, default=None, help="keep the report here")
    p.add_argument("--n-train", type=int, default=960)
    p.add_argument("--n-audit", type=int, default=600)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=2200)
    a = p.parse_args(argv)
    torch.set_num_threads(1)

    from chromium import screenshot_html  # scripts/chromium.py: this folder is on sys.path
    from sklearn.linear_model import LogisticRegression

    import bottlekit
    from bottlekit.bottleneck import BackboneLinearClassifier
    from bottlekit.diagnostics.audit import audit
    from bottlekit.world import make_world

    backbone = bottlekit.load_backbone("world-tiny", device="cpu")
    train = make_world(a.n_train, "train", random_state=a.seed, p_typical_background=1.0)
    X = backbone.encode_images(train.images, progress=False)
    head = LogisticRegression(C=10, max_iter=3000).fit(X, train.labels)
    model = BackboneLinearClassifier(backbone, head.coef_, head.intercept_)
    world = make_world(a.n_audit, "shifted", random_state=a.seed + 1)
    t = time.perf_counter()
    result = audit(model, world, random_state=a.seed)
    print(f"audit of {a.n_audit} images: {time.perf_counter() - t:.1f} s")
    print(result)
    bg = np.array([n in result.context_concepts for n in result.concept_names])
    share = result.importance[bg].sum() / result.importance.sum()
    print(f"background share of importance: {share:.3f}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = a.report_dir or Path(tmp)
        paths = result.save(folder)
        screenshot_html(paths["report"], a.out, width=a.width, height=a.height)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
