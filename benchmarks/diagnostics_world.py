"""Concept activation maps and concept metrics on the built-in world, against ground truth.

With the shipped ``world-tiny`` CLIP and a ``from_text`` bank of the world's 31 concept
names (cosine of the image embedding with each concept's text embedding):

(a) **location**: for each attribute method of :func:`bottlekit.visualize.concept_activation_map`,
    maps of every concept an image shows (present concepts only), scored against the
    world's exact part masks with :func:`bottlekit.diagnostics.concept_location`:
    pointing-game accuracy and mean energy inside the concept's part. Two baselines make
    the numbers readable: random maps (iid pixel noise, and noise on the 8x8 patch grid
    upsampled like the feature maps), and the expected value of both scores for a uniform
    map, the mean area fraction of the part. A per-part breakdown follows.
(b) **existence** (if ``PosthocCBM`` is available): Post-hoc CBMs fitted on train-split
    embeddings with the text bank and with a CAV bank (``from_examples`` on the train
    concept labels); precision@k of their top-k concepts on the test split against the
    concept labels (:func:`bottlekit.diagnostics.concept_existence`), next to chance, and
    the agreement of their global importance with the world's class–concept matrix
    (:func:`bottlekit.diagnostics.concept_global_importance`).

    python benchmarks/diagnostics_world.py [--n 300] [--seed 0] [--n-steps 16]
        [--methods coam gradcam saliency integrated_gradients] [--n-train 2400]
        [--model world-tiny] [--pretrained PATH] [--skip-existence]

``--model``/``--pretrained`` run it on another world model (e.g. an unshipped
``world-small`` trained with ``python -m bottlekit.world.train --model world-small``).

Runs on the CPU; integrated gradients dominate the time (``--n-steps`` path points per map).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from bottlekit.backbones import load_backbone
from bottlekit.concepts import from_text
from bottlekit.diagnostics import (
    concept_existence,
    concept_global_importance,
    concept_location,
)
from bottlekit.visualize.activation_maps import METHODS, concept_activation_map
from bottlekit.world import make_world


def present_maps(bk, world, bank, method: str, n_steps: int) -> np.ndarray:
    """Maps (n, k, H, W) of the present concepts only (absent ones left at 0): one call
    with the boolean table of present concepts as ``pairs``, so the concepts of an image
    share its forward passes."""
    steps = n_steps if method == "integrated_gradients" else None  # others refuse n_steps
    present = world.concept_labels.astype(bool)
    return concept_activation_map(
        bk, world.images, bank, method=method, n_steps=steps, pairs=present
    )


def random_maps(shape: tuple[int, ...], grid: int | None, rng: np.random.Generator) -> np.ndarray:
    n, k, H, W = shape
    if grid is None:
        return rng.random(shape, dtype=np.float32)
    coarse = torch.from_numpy(rng.random((n * k, 1, grid, grid), dtype=np.float32))
    up = torch.nn.functional.interpolate(coarse, size=(H, W), mode="bilinear")
    return up.numpy().reshape(shape)


def location_table(bk, world, bank, methods, n_steps: int, seed: int) -> None:
    labels = world.concept_labels
    rows = []
    per_part = {}
    shape = (len(world.images), len(world.concept_names), *world.images.shape[1:3])
    rng = np.random.default_rng(seed)
    grid = int(bk.model.visual.grid_size[0]) if hasattr(bk.model.visual, "grid_size") else 8
    entries = [(m, None) for m in methods] + [
        ("random (pixel noise)", lambda: random_maps(shape, None, rng)),
        (f"random ({grid}x{grid} noise, upsampled)", lambda: random_maps(shape, grid, rng)),
    ]
    for name, make in entries:
        t0 = time.perf_counter()
        maps = make() if make is not None else present_maps(bk, world, bank, name, n_steps)
        dt = time.perf_counter() - t0
        r = concept_location(maps, world.part_masks, world.part_of_concept, labels)
        rows.append((name, r, dt))
        pc_point = np.full(len(world.part_names), np.nan)
        pc_energy = np.full(len(world.part_names), np.nan)
        for p in range(len(world.part_names)):
            sel = r.scored & (world.part_of_concept == p)[None, :]
            if sel.any():
                pc_point[p] = np.nanmean(r.pointing[sel])
                pc_energy[p] = np.nanmean(r.energy[sel])
        per_part[name] = (pc_point, pc_energy)
        del maps
    uniform = rows[0][1].uniform_expectation
    print(
        f"\n(a) Concept location on {len(world.images)} test images ({bk.name}, text bank), "
        f"{rows[0][1].n_pairs} (image, present concept) pairs"
    )
    r0 = rows[0][1]
    areas = np.array(
        [
            np.nanmean(r0.area[r0.scored & (world.part_of_concept == p)[None, :]])
            if (r0.scored & (world.part_of_concept == p)[None, :]).any()
            else np.nan
            for p in range(len(world.part_names))
        ]
    )
    head = (
        f"{'method':36s} {'pointing':>9s} {'energy':>7s} {'pointing':>9s} {'energy':>7s} "
        f"{'no mass':>8s} {'seconds':>8s}"
    )
    print(f"{'':36s} {'(over all pairs)':>17s} {'(mean over parts)':>18s}")
    print(head)
    print("-" * len(head))
    for name, r, dt in rows:
        pp, pe = per_part[name]
        print(
            f"{name:36s} {r.pointing_accuracy:9.3f} {r.mean_energy:7.3f} "
            f"{np.nanmean(pp):9.3f} {np.nanmean(pe):7.3f} {r.n_no_positive_mass:8d} {dt:8.1f}"
        )
    macro = np.nanmean(areas)
    print(
        f"{'uniform map (expected = part area)':36s} {uniform:9.3f} {uniform:7.3f} "
        f"{macro:9.3f} {macro:7.3f}"
    )
    print(
        "no mass: maps with no positive value (energy undefined, left out of its mean). "
        "Mean over parts: the six parts weigh equally (the pair average is dominated by "
        "the large background part)."
    )
    print("\nPer part: pointing / energy (uniform map: the part's mean area)")
    print(f"{'method':36s} " + " ".join(f"{p:>13s}" for p in world.part_names))
    for name, (pp, pe) in per_part.items():
        print(f"{name:36s} " + " ".join(f"{a:6.3f}/{b:6.3f}" for a, b in zip(pp, pe, strict=True)))
    print(f"{'uniform map':36s} " + " ".join(f"{a:6.3f}/{a:6.3f}" for a in areas))


def existence_table(bk, bank, n_train: int, test, seed: int) -> None:
    try:
        from bottlekit.bottleneck import PosthocCBM
    except ImportError:  # pragma: no cover - depends on the tree
        print("\n(b) skipped: bottlekit.bottleneck.PosthocCBM is not available")
        return
    from bottlekit.cache import embed
    from bottlekit.concepts import from_examples

    train = make_world(n_train, "train", random_state=seed, return_masks=False)
    X_train = embed(bk, train.images, progress=False)
    X_test = embed(bk, test.images, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cav = from_examples(
            bk, X_train, train.concept_labels, train.concept_names, random_state=seed
        )
    print(
        f"\n(b) Concept existence of PosthocCBM's top-k concepts on {len(test.images)} test "
        f"images (fitted on {n_train} train images); chance = mean share of concepts present"
    )
    head = (
        f"{'bank':6s} {'accuracy':>9s} {'P@1':>6s} {'P@3':>6s} {'P@5':>6s} {'chance':>7s} "
        f"{'CGIM r':>7s}"
    )
    print(head)
    print("-" * len(head))
    for name, b in (("text", bank), ("CAV", cav)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = PosthocCBM(b, random_state=seed).fit(X_train, train.labels)
        precs = [
            concept_existence(
                model, X_test, test.concept_labels, k, label_names=test.concept_names
            )
            for k in (1, 3, 5)
        ]
        gi = concept_global_importance(
            model, test.class_concept_matrix, concept_names=test.concept_names
        )
        print(
            f"{name:6s} {model.score(X_test, test.labels):9.3f} "
            + " ".join(f"{p.precision:6.3f}" for p in precs)
            + f" {precs[0].chance:7.3f} {gi.mean_correlation:7.3f}"
        )
    print(
        "CGIM r: mean over species of the Pearson correlation between the head's importance "
        "w_cj * sd_j and P(concept | species)."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300, help="test images")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-steps", type=int, default=16, help="integrated-gradients steps")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--n-train", type=int, default=2400, help="train images for (b)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--model", default="world-tiny", help="world model (open_clip name)")
    ap.add_argument(
        "--pretrained", default=None, help="its weights file (default: the shipped weights)"
    )
    ap.add_argument("--skip-existence", action="store_true", help="location table (a) only")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    bk = load_backbone(args.model, args.pretrained, device="cpu")
    world = make_world(args.n, "test", random_state=args.seed, return_masks=True)
    bank = from_text(bk, world.concept_names)
    location_table(bk, world, bank, args.methods, args.n_steps, args.seed)
    if not args.skip_existence:
        existence_table(bk, bank, args.n_train, world, args.seed)


if __name__ == "__main__":
    main()
