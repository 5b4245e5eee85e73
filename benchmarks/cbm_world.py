"""Concept-bottleneck models on the built-in world with ``world-tiny``: the issue-5 table.

``--model NAME --pretrained PATH`` runs it on another world model (e.g. a ``world-small``
training run's weights); the defaults are the shipped ``world-tiny``.

Prints, for 2,400 train / 2,400 test / 2,400 shifted images (seed 0):

1. test and shifted accuracy of a linear probe on raw embeddings and of each model
   (PCBM, PCBM-h, LaBo, LF-CBM, KnoBo grounded on the world's concept labels, KnoBo
   grounded on CLIP pseudo-labels) with text concepts and with CAV concepts (and the
   knowledge-retrieved bank for KnoBo), with the number of non-zero head weights, the
   concepts kept and the fit time; the share of the PCBM -> probe gap that PCBM-h closes;
2. the Post-hoc CBM model edit: the scene (background) concepts among the 10 most
   important concepts of PCBM (found from ``global_importance``) are pruned; accuracy
   before / after on test and shifted;
3. concept intervention curves (text concepts): accuracy after correcting the
   misdetected concepts among the k most important ones, k = 0..31 (and, for PCBM, after
   setting all k to their true values; and for PCBM on CAVs at the reference's CUB
   strength lam = 2e-4);
4. explanation precision: the fraction of the top-3 concepts of correctly classified
   test images that are true attributes of the species / drawn in the image.

    python benchmarks/cbm_world.py [--n-train 2400] [--n-test 2400] [--seed 0]
        [--model world-tiny] [--pretrained PATH]
        [--models PCBM PCBM-h LaBo LF-CBM KnoBo KnoBo-pseudo]
"""

from __future__ import annotations

import argparse
import time

from bottlekit.app.cbm_study import (
    build_banks,
    edit_by_pruning,
    explanation_precision,
    fit_models,
    intervention_curve,
    load_world_data,
)
from bottlekit.bottleneck import PosthocCBM

PLAN = {
    "PCBM": ("text", "cav"),
    "PCBM-h": ("text", "cav"),
    "LaBo": ("text", "cav"),
    "LF-CBM": ("text", "cav"),
    "KnoBo": ("text", "cav"),
    "KnoBo-pseudo": ("text", "retrieved"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=2400)
    parser.add_argument("--n-test", type=int, default=2400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=list(PLAN))
    parser.add_argument("--model", default="world-tiny", help="world model (backbone) name")
    parser.add_argument(
        "--pretrained", default=None, help="its weights file (default: the shipped weights)"
    )
    args = parser.parse_args()

    t0 = time.perf_counter()
    data = load_world_data(
        args.model, args.n_train, args.n_test, args.seed, pretrained=args.pretrained
    )
    banks = build_banks(data, seed=args.seed)
    print(
        f"{args.model}{' (' + args.pretrained + ')' if args.pretrained else ''}, "
        f"world seed {args.seed}: {args.n_train} train / {args.n_test} test / {args.n_test} "
        f"shifted images; banks: "
        + ", ".join(f"{k} ({len(b)} concepts)" for k, b in banks.items())
        + f"; {time.perf_counter() - t0:.1f} s"
    )
    print("\n1. Accuracy (chance 0.042)")
    print(
        f"{'model':<13}{'bank':<10}{'test':>7}{'shifted':>9}{'non-zero':>10}{'concepts':>10}"
        f"{'fit s':>8}"
    )
    results = fit_models(data, banks, args.models, PLAN, args.seed)
    for r in results:
        print(
            f"{r.name:<13}{r.bank:<10}{r.accuracy['test']:>7.3f}{r.accuracy['shifted']:>9.3f}"
            f"{r.nonzero:>10}{r.n_concepts if r.n_concepts else '-':>10}{r.fit_seconds:>8.1f}"
        )
    probe = results[0].accuracy["test"]
    by = {(r.name, r.bank): r for r in results}
    for bank in ("text", "cav"):
        if ("PCBM", bank) in by and ("PCBM-h", bank) in by:
            p, h = by["PCBM", bank].accuracy["test"], by["PCBM-h", bank].accuracy["test"]
            closed = (h - p) / (probe - p) if probe > p else float("nan")
            print(
                f"  {bank}: PCBM {100 * (probe - p):.1f} points below the probe, PCBM-h "
                f"{100 * (probe - h):.1f}; PCBM-h closes {100 * closed:.0f}% of the gap"
            )

    for bank in ("text", "cav"):
        if ("PCBM", bank) not in by:
            continue
        model = by["PCBM", bank].model
        edit = edit_by_pruning(model, data, top=10)
        print(
            f"\n2. Editing PCBM ({bank} concepts): top-10 by global importance: {edit['ranking']}"
        )
        print(f"   pruned scene concepts: {edit['pruned']}")
        for s in ("test", "shifted"):
            b, a, z = edit["before"][s], edit["after"][s], edit["after_zero"][s]
            print(
                f"   {s:<8} {b:.3f} -> {a:.3f} ({100 * (a - b):+.1f} points; weights zeroed as "
                f"in the paper: {z:.3f}, {100 * (z - b):+.1f})"
            )

    print(
        "\n3. Interventions: accuracy after correcting the misdetected concepts among the k "
        "most important\n   (value = mean training activation of images with / without the "
        'concept; "all": every one of the k set)'
    )
    header = None
    for r in results[1:]:
        if r.bank != "text":
            continue
        for protocol in ("corrections", "all") if r.name == "PCBM" else ("corrections",):
            for s in ("test", "shifted"):
                curve = intervention_curve(r.model, data, s, protocol=protocol)
                if header is None:
                    header = "   " + " " * 37 + "".join(f"{'k=' + str(k):>7}" for k, _ in curve)
                    print(header)
                label = f"{r.name} ({protocol}), {s}"
                print(f"   {label:<37}" + "".join(f"{a:>7.3f}" for _, a in curve))
    if "cav" in banks:
        # the reference's CUB strength: a sparser head on CAVs reads concepts as concepts
        pcbm_cav = PosthocCBM(banks["cav"], lam=2e-4, random_state=args.seed)
        pcbm_cav.fit(data.X["train"], data.y["train"])
        for s in ("test", "shifted"):
            curve = intervention_curve(pcbm_cav, data, s)
            label = f"PCBM CAV lam 2e-4 (corrections), {s}"
            print(f"   {label:<37}" + "".join(f"{a:>7.3f}" for _, a in curve))

    print("\n4. Explanations: top-3 concepts of correctly classified test images")
    print(f"{'model':<13}{'bank':<10}{'true attr.':>11}{'in image':>10}{'positive':>10}")
    for r in results[1:]:
        p = explanation_precision(r.model, data, "test", top_k=3)
        print(
            f"{r.name:<13}{r.bank:<10}{p['class']:>11.3f}{p['image']:>10.3f}{p['positive']:>10.3f}"
        )
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
