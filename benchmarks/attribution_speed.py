"""Concept activation maps: seconds per method on world test images, today's code against
the code before its speed-ups (commit 3b48cc8), side by side in one run.

Each side runs at its own defaults: integrated gradients at 3b48cc8's 32 points with
captum's trapezoid weights (they sum to (n - 1) / n) against today's 21 points with the
trapezoid rule's weights (they sum to 1). So that the two are compared at their accuracy,
the script also maps all concepts of the ``--n-all`` images with ``--reference-steps``
points (converged: the rule's error there is below 1e-4) and prints each side's relative
L2 error against those maps. ``--n-steps`` runs both sides at the same number of points.

The workload is the maps ``benchmarks/diagnostics_world.py`` scores: the present concepts
of each test image, ``world-tiny`` and a text bank of the 31 concept names, timed without
the scoring; once with one call per concept, once (as that script now calls) in one
call with the boolean table of present concepts as ``pairs``, where the concepts of an image share
its forward passes (the images with as many present concepts as each other go through
one per-image table; 3b48cc8's ``_maps`` maps the same tables pair by pair). The two
versions' calls alternate, so a change of load on a shared machine hits both. A third
workload maps all 31 concepts on ``--n-all`` images in one call.

The anchor ("before") is each method as 3b48cc8 computed it, kept here and not in the
package: integrated gradients through captum's ``IntegratedGradients``
(``riemann_trapezoid``, ``internal_batch_size=batch_size``; one forward and backward pass
per (image, concept) pair and step, the baseline's gradient once per pair), saliency and
Grad-CAM through captum's ``Saliency`` and ``LayerGradCam`` (one forward and backward
pass per pair), and every method with oneDNN's backward of the ViT's patch convolution.
It prints seconds (wall clock and this process's CPU time), the ratios before / now and
the largest difference between the two sets of maps relative to the largest map value.

    python benchmarks/attribution_speed.py [--n 300] [--n-steps N] [--n-all 20]
        [--reference-steps 121] [--threads 1]
        [--methods gradcam integrated_gradients saliency coam]

Runs on the CPU (``--device cuda`` to time on a GPU).
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np
import torch

from bottlekit.backbones import load_backbone
from bottlekit.concepts import from_text
from bottlekit.visualize.attribution import METHODS
from bottlekit.visualize.attribution._base import ConceptAttribution
from bottlekit.visualize.attribution._image_towers import grid_of, tower_kind, vit_grid_tap
from bottlekit.visualize.attribution._images import upsample
from bottlekit.visualize.attribution.integrated_gradients import DEFAULT_N_STEPS
from bottlekit.world import make_world


def pairwise_maps(self, x_all, scorer, cols):
    """3b48cc8's batching: maps by batches of ``batch_size`` (image, concept) pairs, each
    pair its own row of ``_attribute_rows`` (row ``r``: image ``r // t``, map ``r % t``)."""
    (n, t), H, W = cols.shape, int(x_all.shape[2]), int(x_all.shape[3])
    flat_cols = np.ascontiguousarray(cols).reshape(-1)
    maps = torch.empty(n * t, 1, H, W, dtype=torch.float32)
    for start in range(0, n * t, self.batch_size):
        rows = torch.arange(start, min(start + self.batch_size, n * t))
        x = x_all[rows // t]
        target = flat_cols[start : start + len(rows)].tolist()
        maps[start : start + len(rows)] = self._attribute_rows(x, target, scorer).float().cpu()
    return maps.reshape(n, t, H, W)


def with_convolution_backward(attribute_rows):
    """``_attribute_rows`` run with the ViT's patch convolution as open_clip has it
    (oneDNN's backward), as at 3b48cc8."""

    def run(self, x, target, scorer):
        conv = getattr(self.backbone.model.visual, "conv1", None)
        patched = None if conv is None else conv.__dict__.pop("forward", None)
        try:
            return attribute_rows(self, x, target, scorer)
        finally:
            if patched is not None:
                conv.forward = patched

    return run


#: integrated gradients' default number of points at 3b48cc8
BEFORE_N_STEPS = 32


def captum_integrated_gradients(self, x, target, scorer):
    """3b48cc8's integrated gradients: captum, steps batched up to batch_size rows."""
    from captum.attr import IntegratedGradients

    x = x.clone().requires_grad_(True)
    a = IntegratedGradients(self._concept_scores(scorer)).attribute(
        x,
        baselines=self._baselines(x),
        target=target,
        n_steps=self.n_steps,
        method="riemann_trapezoid",
        internal_batch_size=self.batch_size,
    )
    return a.sum(dim=1, keepdim=True).detach()


def captum_saliency(self, x, target, scorer):
    """3b48cc8's saliency: captum, one forward and backward pass per (image, concept)."""
    from captum.attr import Saliency

    x = x.clone().requires_grad_(True)
    a = Saliency(self._concept_scores(scorer)).attribute(x, target=target, abs=True)
    return a.amax(dim=1, keepdim=True).detach()


def captum_gradcam(self, x, target, scorer):
    """3b48cc8's Grad-CAM: captum, one forward and backward pass per (image, concept)."""
    from captum.attr import LayerGradCam

    visual = self.backbone.model.visual
    forward = self._concept_scores(scorer)
    if tower_kind(visual) == "vit":
        block = -1 if self.layer is None else int(self.layer.rsplit(".", 1)[1])
        with vit_grid_tap(visual, grid_of(visual, x), block) as tap:
            maps = LayerGradCam(forward, tap).attribute(x, target=target, relu_attributions=True)
    else:
        module = visual.layer4 if self.layer is None else visual.get_submodule(self.layer)
        maps = LayerGradCam(forward, module).attribute(x, target=target, relu_attributions=True)
    return upsample(maps.detach(), x.shape[2:])


def before(cls: type[ConceptAttribution]) -> type[ConceptAttribution]:
    """The method ``cls`` as 3b48cc8 computed it."""
    body = {}
    if cls.method == "integrated_gradients":
        body = {"_maps": pairwise_maps, "_attribute_rows": captum_integrated_gradients}
    if cls.method == "saliency":
        body = {"_maps": pairwise_maps, "_attribute_rows": captum_saliency}
    if cls.method == "gradcam":
        body = {"_maps": pairwise_maps, "_attribute_rows": captum_gradcam}
    if "_attribute_rows" in body:
        body["_attribute_rows"] = with_convolution_backward(body["_attribute_rows"])
    return type(f"Before{cls.__name__}", (cls,), body)


def timed(make_maps, *args) -> tuple[np.ndarray, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    maps = make_maps(*args)
    return maps, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300, help="test images")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--n-steps", type=int, default=None, help="IG points on both sides (default: each its own)"
    )
    ap.add_argument("--n-all", type=int, default=20, help="images of the all-concepts call")
    ap.add_argument(
        "--reference-steps", type=int, default=121, help="IG points of the converged maps"
    )
    methods = ["gradcam", "integrated_gradients", "saliency"]
    ap.add_argument("--methods", nargs="+", default=methods, choices=[*methods, "coam"])
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    bk = load_backbone("world-tiny", device=args.device)
    world = make_world(args.n, "test", random_state=args.seed, return_masks=False)
    bank = from_text(bk, world.concept_names)
    present = world.concept_labels.astype(bool)
    steps_now = args.n_steps or DEFAULT_N_STEPS
    steps_then = args.n_steps or BEFORE_N_STEPS
    print(
        f"{args.n} world test images, {int(present.sum())} (image, present concept) pairs, "
        f"IG points {steps_now} now / {steps_then} before, {args.threads} thread(s), "
        f"device {bk.device}"
    )
    print(
        f"{'method (workload)':50s} {'now s':>8s} {'before s':>9s} {'before/now':>11s} "
        f"{'CPU before/now':>15s} {'max |diff|':>11s}"
    )
    for method in args.methods:
        cls = METHODS[method]
        ig = method == "integrated_gradients"
        now = cls(bk, bank, **({"n_steps": steps_now} if ig else {}))
        then = before(cls)(bk, bank, **({"n_steps": steps_then} if ig else {}))
        for a in (now, then):  # warm up (imports, first-call allocations)
            a.attribute(world.images[:2], [0])
        workloads = [
            ("present, a call per concept", None),
            ("present, one boolean table", "table"),
        ]
        if method != "coam" and args.n_all:
            workloads.append((f"all 31 on {args.n_all} images", "all"))
        for label, kind in workloads:
            shape = (args.n, len(bank.names), *world.images.shape[1:3])
            maps = {"now": np.zeros(shape, np.float32), "then": np.zeros(shape, np.float32)}
            seconds = {k: np.zeros(2) for k in maps}
            # (images, maps written, attribute's keywords) of each call
            if kind == "all":
                calls = [(np.arange(min(args.n_all, args.n)), slice(None), {})]
            elif kind == "table":  # as diagnostics_world.py: one call, the present pairs
                calls = [(np.arange(args.n), slice(None), {"pairs": present})]
            else:
                calls = [
                    (rows, slice(j, j + 1), {"concepts": [j]})
                    for j in range(len(bank.names))
                    if len(rows := np.flatnonzero(present[:, j]))
                ]
            for rows, written, kwargs in calls:
                for key, a in (("then", then), ("now", now)):
                    m, wall, cpu = timed(partial(a.attribute, **kwargs), world.images[rows])
                    seconds[key] += (wall, cpu)
                    maps[key][rows, written] = m
            scale = float(np.abs(maps["then"]).max())
            diff = float(np.abs(maps["now"] - maps["then"]).max()) / scale
            (w_now, c_now), (w_then, c_then) = seconds["now"], seconds["then"]
            name = f"{method} ({label})"
            print(
                f"{name:50s} {w_now:8.1f} {w_then:9.1f} {w_then / w_now:11.2f} "
                f"{c_then / c_now:15.2f} {diff:11.1e}",
                flush=True,
            )
            if ig and kind == "all":
                exact = cls(bk, bank, n_steps=args.reference_steps).attribute(world.images[rows])
                err = {
                    k: float(np.linalg.norm(maps[k][rows] - exact) / np.linalg.norm(exact))
                    for k in maps
                }
                print(
                    f"  relative L2 error against {args.reference_steps} points: now "
                    f"{err['now']:.4f} ({steps_now} points), before {err['then']:.4f} "
                    f"({steps_then} points)",
                    flush=True,
                )
    print(
        "max |diff|: largest difference between the two sets of maps / largest |map value| "
        "(integrated gradients at different points or weights: different maps by design, "
        "compared by their error against the converged maps instead); CPU: this process's "
        "CPU seconds (less sensitive to other processes than wall time)."
    )


if __name__ == "__main__":
    main()
