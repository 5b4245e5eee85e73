"""Concept activation maps: seconds per method on world test images, and integrated
gradients against an unbatched anchor, side by side in one run.

The workload is that of ``benchmarks/diagnostics_world.py`` (the present concepts of each
test image, one call per concept, ``world-tiny`` and a text bank of the 31 concept names),
timed without the scoring. For integrated gradients it also times the anchor, captum's
``IntegratedGradients`` called with ``internal_batch_size=1``, which captum raises to the
number of images of the call: one interpolation step of the call's images per
forward/backward pass, steps unbatched. bottlekit passes ``internal_batch_size=batch_size``
(256): as many steps of the call's images per pass as fit in 256 rows. It prints the
ratio anchor / bottlekit and the largest difference between the two sets of maps.

    python benchmarks/attribution_speed.py [--n 300] [--n-steps 16] [--threads 1]
        [--methods coam gradcam saliency integrated_gradients] [--skip-anchor]

Runs on the CPU (``--device cuda`` to time on a GPU).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from bottlekit.backbones import load_backbone
from bottlekit.concepts import from_text
from bottlekit.visualize import ConceptIntegratedGradients
from bottlekit.visualize.activation_maps import METHODS, concept_activation_map
from bottlekit.world import make_world


class UnbatchedIntegratedGradients(ConceptIntegratedGradients):
    """The anchor: captum's integrated gradients, one interpolation step per pass."""

    def _attribute_rows(self, x, target, scorer):
        from captum.attr import IntegratedGradients

        x = x.clone().requires_grad_(True)
        with warnings.catch_warnings():  # captum: "Internal batch size cannot be less ..."
            warnings.simplefilter("ignore", UserWarning)
            a = IntegratedGradients(self._concept_scores(scorer)).attribute(
                x,
                baselines=self._baselines(x),
                target=target,
                n_steps=self.n_steps,
                method="riemann_trapezoid",
                internal_batch_size=1,
            )
        return a.sum(dim=1, keepdim=True).detach()


def present_maps(make_maps, world) -> tuple[np.ndarray, float]:
    """Maps (n, k, H, W) of every present concept, one call per concept, and seconds."""
    L = world.concept_labels.astype(bool)
    n, k = L.shape
    out = np.zeros((n, k, *world.images.shape[1:3]), np.float32)
    t0 = time.perf_counter()
    for j in range(k):
        rows = np.flatnonzero(L[:, j])
        if len(rows):
            out[rows, j] = make_maps(world.images[rows], j)[:, 0]
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300, help="test images")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-steps", type=int, default=16, help="integrated-gradients steps")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-anchor", action="store_true", help="time bottlekit only")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    bk = load_backbone("world-tiny", device=args.device)
    world = make_world(args.n, "test", random_state=args.seed, return_masks=False)
    bank = from_text(bk, world.concept_names)
    pairs = int(world.concept_labels.astype(bool).sum())
    print(
        f"{args.n} world test images, {pairs} (image, present concept) pairs, "
        f"{args.n_steps} IG steps, {args.threads} thread(s), device {bk.device}"
    )
    print(
        f"{'method':24s} {'bottlekit s':>12s} {'anchor s':>10s} {'anchor/ours':>12s} "
        f"{'max |diff|':>11s}"
    )
    for method in args.methods:

        def ours(images, j, method=method):
            return concept_activation_map(
                bk, images, bank, [j], method=method, n_steps=args.n_steps
            )

        maps, seconds = present_maps(ours, world)
        line = f"{method:24s} {seconds:12.1f}"
        if method == "integrated_gradients" and not args.skip_anchor:
            anchor = UnbatchedIntegratedGradients(bk, bank, n_steps=args.n_steps)
            ref, ref_seconds = present_maps(lambda im, j, a=anchor: a.attribute(im, [j]), world)
            scale = float(np.abs(ref).max())
            diff = float(np.abs(maps - ref).max()) / scale
            line += f" {ref_seconds:10.1f} {ref_seconds / seconds:12.2f} {diff:11.1e}"
        print(line)
    print("max |diff|: largest difference between the two sets of maps / largest |map value|.")


if __name__ == "__main__":
    main()
