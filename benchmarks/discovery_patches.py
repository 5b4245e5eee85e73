"""Concept discovery on ViT patch tokens (issue 19's option), checked against the world's
exact concepts and part masks.

``Backbone.encode_image_tokens`` gives each patch a vector in the embedding space (the
last block's patch tokens through ``ln_post`` and ``proj``), so a
dictionary can be learned on patches and each atom gives a map on the patch grid for
free. For the world's 31 concepts it prints:

1. recovery (share of concepts whose best atom reaches AUROC >= 0.8 on 2,400 training
   images; pre-activations): a TopK SAE learned on the patch tokens, image score = max
   over its patches, beside the same SAE learned on the pooled embeddings (the default
   of ``benchmarks/discovery_world.py``);
2. localisation on ``--n-test`` test images (world seed 101, as
   ``benchmarks/diagnostics_world.py``): each concept's best atom (from 1.) mapped on the
   patch grid, upsampled bilinearly to the image, scored against the exact part masks
   with ``concept_location`` (pointing game, energy in the part, present concepts only):
   the patch dictionary's atoms, the pooled dictionary's atoms applied to the patch
   tokens, and the text concept bank's cosine per patch token, beside a uniform map.

    python benchmarks/discovery_patches.py [--model world-small] [--atoms 64] [--k 8]
        [--epochs 8] [--seeds 0] [--n-test 300]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bottlekit import load_backbone
from bottlekit.concepts import from_text
from bottlekit.concepts.discovery import discover
from bottlekit.diagnostics import concept_location
from bottlekit.world import make_world
from bottlekit.world.evaluate import CONCEPT_TEMPLATES


def auroc(S: np.ndarray, L: np.ndarray) -> np.ndarray:
    """AUROC of every score column against every label column, shape (concepts, atoms)."""
    from scipy.stats import rankdata

    R = rankdata(S, axis=0)
    pos = L.sum(0)[:, None]
    return (L.T @ R - pos * (pos + 1) / 2) / (pos * (len(L) - pos))


def pre_activations(run, Z: np.ndarray) -> np.ndarray:
    W, b = run.linear_encoder()
    return (Z.astype(np.float64) @ W.T + b).astype(np.float32)


def patch_scores(run, T: np.ndarray) -> np.ndarray:
    """Pre-activations of every patch, (n, gh, gw, atoms)."""
    n, gh, gw, d = T.shape
    return pre_activations(run, T.reshape(-1, d)).reshape(n, gh, gw, -1)


def upsampled(maps: np.ndarray, size: int) -> np.ndarray:
    """(n, gh, gw, m) patch maps -> (n, m, size, size), bilinear."""
    t = torch.from_numpy(np.ascontiguousarray(maps.transpose(0, 3, 1, 2)))
    return torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear").numpy()


def location(maps, world, labels) -> str:
    r = concept_location(maps, world.part_masks, world.part_of_concept, labels)
    return f"pointing {r.pointing_accuracy:.3f}  energy {r.mean_energy:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="world-small")
    parser.add_argument("--atoms", type=int, default=64)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=8, help="epochs over the patch tokens")
    parser.add_argument("--pooled-epochs", type=int, default=50)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--n-train", type=int, default=2400)
    parser.add_argument("--n-test", type=int, default=300)
    args = parser.parse_args()
    bk = load_backbone(args.model, device="cpu")
    train = make_world(args.n_train, "train", random_state=0, return_masks=False)
    t0 = time.perf_counter()
    T = bk.encode_image_tokens(train.images, progress=False)
    X = bk.encode_images(train.images, progress=False)
    n, gh, gw, d = T.shape
    print(
        f"{args.model}: {n} training images, {gh} x {gw} patches, d = {d}; tokens and "
        f"embeddings in {time.perf_counter() - t0:.0f} s; TopK SAE, {args.atoms} atoms, "
        f"k {args.k}"
    )
    L = train.concept_labels.astype(np.float64)
    names = list(train.concept_names)
    test = make_world(args.n_test, "test", random_state=101, return_masks=True)
    T_test = bk.encode_image_tokens(test.images, progress=False)
    size = test.images.shape[1]
    labels = test.concept_labels
    bank = from_text(bk, names, CONCEPT_TEMPLATES)
    uniform = np.ones((len(test.images), len(names), size, size))
    print(f"\nuniform map: {location(uniform, test, labels)}")
    text_maps = bank.project(T_test.reshape(-1, d)).reshape(len(T_test), gh, gw, -1)
    text_location = location(upsampled(text_maps, size), test, labels)
    print(f"text bank, cosine per patch token: {text_location}")
    for seed in args.seeds:
        t0 = time.perf_counter()
        patch_run = discover(
            T.reshape(-1, d), args.atoms, "topk_sae", k=args.k, epochs=args.epochs,
            random_state=seed,
        )  # fmt: skip
        t_patch = time.perf_counter() - t0
        pooled_run = discover(
            X, args.atoms, "topk_sae", k=args.k, epochs=args.pooled_epochs, random_state=seed
        )
        S_patch = patch_scores(patch_run, T).max(axis=(1, 2))
        A_patch = auroc(S_patch, L)
        A_pooled = auroc(pre_activations(pooled_run, X), L)
        print(
            f"\nseed {seed}: recovery (AUROC >= 0.8) patch dictionary, max over patches "
            f"{(A_patch.max(1) >= 0.8).mean():.3f} (fit {t_patch:.0f} s on {n * gh * gw} "
            f"tokens, {patch_run.n_dead} dead); pooled dictionary "
            f"{(A_pooled.max(1) >= 0.8).mean():.3f}"
        )
        for what, run, A in (("patch", patch_run, A_patch), ("pooled", pooled_run, A_pooled)):
            best = A.argmax(1)  # each concept's best atom on the training images
            maps = patch_scores(run, T_test)[..., best]
            print(
                f"  {what} dictionary, best atom per concept, on the test patches: "
                f"{location(upsampled(maps, size), test, labels)}"
            )


if __name__ == "__main__":
    main()
