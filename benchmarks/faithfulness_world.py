"""Faithfulness of the five concept-bottleneck models on the built-in world (issue 18).

For PCBM, PCBM-h, LaBo, LF-CBM and KnoBo on the world's 31 text concepts (``world-tiny``
backbone, built as in ``benchmarks/cbm_world.py``; KnoBo grounded on the world's concept
labels), on the train, test and shifted splits:

* accuracy of the model;
* leakage I(Ĉ; Y | C) in nats, k-NN (``method="ksg"``; jitter conditioning on the world)
  and classifier-based (what ``method="auto"`` chooses on the world), with the ceiling
  H(Y | C); mean per-concept I(ĉ_j; Y | c_j);
* two controls for the leakage estimators, whose truth is known in direction: a CBM whose
  activations are the true concepts plus Gaussian noise (no leakage: I(Ĉ; Y | C) = 0)
  and the same with a noisy one-hot of the class appended (leakage up to H(Y | C));
* mean per-concept I(a_j; c_j) / H(c_j) and mean I(a_j; Y);
* completeness η (Yeh et al. 2020) and η of random directions (classifiers fitted on train);
* accuracy at NEC = 5 and a sweep (VLG-CBM: GLM-SAGA path re-fitted on the training
  activations, first penalty reaching the density, global truncation; and the cheaper
  truncation of each model's own head);
* intervention curves (ground-truth values from the training split) for the random,
  uncertainty-first and cost-aware (CooP) policies, with unit costs, replacing every
  chosen concept ("all") or only the misdetected ones ("corrections").

    python benchmarks/faithfulness_world.py [--n-train 2400] [--n-test 2400] [--seed 0]
        [--nec 5 10 20] [--n-lambdas 20] [--sections 1 2 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bottlekit.app.cbm_study import build_banks, fit_models, load_world_data
from bottlekit.diagnostics.faithfulness import (
    accuracy_at_nec,
    concept_completeness,
    concept_information,
    concept_leakage,
    intervention_curves,
)

MODELS = ("PCBM", "PCBM-h", "LaBo", "LF-CBM", "KnoBo")
SPLITS = ("train", "test", "shifted")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=2400)
    parser.add_argument("--n-test", type=int, default=2400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nec", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--n-lambdas", type=int, default=20)
    parser.add_argument("--sections", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()

    t0 = time.perf_counter()
    data = load_world_data("world-tiny", args.n_train, args.n_test, args.seed)
    banks = build_banks(data, kinds=("text",), seed=args.seed)
    results = fit_models(data, banks, MODELS, {m: ("text",) for m in MODELS}, args.seed)[1:]
    print(
        f"world seed {args.seed}: {args.n_train} train / {args.n_test} test / {args.n_test} "
        f"shifted images, {len(data.concept_names)} text concepts; models fitted in "
        f"{time.perf_counter() - t0:.0f} s"
    )
    if 1 in args.sections:
        leakage_controls(data.worlds, args.seed)
        section_information(results, data, args.seed)
    if 2 in args.sections:
        section_nec(results, data, args)
    if 3 in args.sections:
        section_interventions(results, data, args.seed)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


def leakage_controls(worlds, seed: int) -> None:
    """Leakage of known direction: noisy true concepts, with and without the label appended."""
    from bottlekit.bottleneck import PosthocCBM
    from bottlekit.concepts import ConceptBank

    print("\n0. Leakage controls (nats): activations = true concepts + N(0, 0.3^2) noise")
    print(f"{'control':<28}{'split':<9}{'leak knn':>9}{'leak clf':>9}{'H(Y|C)':>8}")
    for s, w in worlds.items():
        rng = np.random.default_rng(seed)
        C = w.concept_labels.astype(np.float64)
        n, k = C.shape
        onehot = np.eye(w.n_classes)[w.labels] + 0.3 * rng.standard_normal((n, w.n_classes))
        X = np.hstack([C + 0.3 * rng.standard_normal(C.shape), onehot])
        for name, m in (("no leakage", k), ("noisy one-hot of y appended", k + w.n_classes)):
            names = list(w.concept_names) + [f"label {c}" for c in range(m - k)]
            bank = ConceptBank(
                names, np.eye(m, X.shape[1]), "control", provenance=[{"kind": "cav"}] * m
            )
            cbm = PosthocCBM(bank, lam=1e-3, random_state=seed).fit(X, w.labels)
            knn = concept_leakage(cbm, X, w, method="ksg", random_state=seed)
            clf = concept_leakage(cbm, X, w, method="classifier", random_state=seed)
            print(
                f"{name:<28}{s:<9}{knn.total:>9.3f}{clf.total:>9.3f}"
                f"{clf.entropy_given_concepts:>8.3f}"
            )


def section_information(results, data, seed: int) -> None:
    worlds, X = data.worlds, data.X
    print("\n1. Leakage, information and completeness (nats; η: completeness)")
    head = (
        f"{'model':<8}{'split':<9}{'acc':>6}{'leak knn':>9}{'leak clf':>9}{'H(Y|C)':>8}"
        f"{'leak/c':>8}{'I(a;c)/H':>9}{'I(a;Y)':>8}{'η':>7}{'η rand':>8}"
    )
    print(head)
    for r in results:
        for s in SPLITS:
            t = time.perf_counter()
            w = worlds[s]
            acc = float(np.mean(r.model.predict(X[s]) == data.y[s]))
            knn = concept_leakage(r.model, X[s], w, method="ksg", random_state=seed)
            clf = concept_leakage(r.model, X[s], w, method="classifier", random_state=seed)
            info = concept_information(r.model, X[s], w, random_state=seed)
            comp = concept_completeness(
                r.model, X["train"], worlds["train"], X[s], w, random_state=seed
            )
            print(
                f"{r.name:<8}{s:<9}{acc:>6.3f}{knn.total:>9.3f}{clf.total:>9.3f}"
                f"{clf.entropy_given_concepts:>8.3f}{np.nanmean(knn.per_concept):>8.3f}"
                f"{np.nanmean(info.concept_share):>9.3f}{np.nanmean(info.with_label):>8.3f}"
                f"{comp.completeness:>7.3f}{comp.random_completeness:>8.3f}"
                f"   ({knn.conditioning}, {time.perf_counter() - t:.0f} s)"
            )


def section_nec(results, data, args) -> None:
    worlds, X = data.worlds, data.X
    evaluation = {s: (X[s], worlds[s]) for s in SPLITS}
    levels = sorted(set(args.nec))
    print(f"\n2. Accuracy at a controlled number of effective concepts (NEC {levels})")
    print(
        f"{'model':<8}{'method':<10}{'split':<9}{'dense':>7}"
        + "".join(f"{'NEC=' + str(v):>8}" for v in levels)
        + f"{'  non-zero/class (max)':<20}"
    )
    for r in results:
        for method in ("refit", "truncate"):
            t = time.perf_counter()
            res = accuracy_at_nec(
                r.model, X["train"], worlds["train"], evaluation, levels, method=method,
                n_lambdas=args.n_lambdas if method == "refit" else None,  # no path to cut
                random_state=args.seed,
            )  # fmt: skip
            for s in SPLITS:
                print(
                    f"{r.name:<8}{method:<10}{s:<9}{res.dense_accuracy[s]:>7.3f}"
                    + "".join(f"{a:>8.3f}" for a in res.accuracy[s])
                    + "  "
                    + " ".join(str(int(v.max())) for v in res.nonzero_per_class)
                    + (f"   ({time.perf_counter() - t:.0f} s)" if s == "shifted" else "")
                )
            for note in res.notes:
                print(f"         note: {note}")


def section_interventions(results, data, seed: int) -> None:
    worlds, X = data.worlds, data.X
    print("\n3. Interventions (ground-truth values; accuracy after m concepts per policy)")
    header = None
    for protocol in ("all", "corrections"):
        for r in results:
            for s in ("test", "shifted"):
                curves = intervention_curves(
                    r.model, X["train"], worlds["train"], X[s], worlds[s],
                    protocol=protocol, random_state=seed,
                )  # fmt: skip
                if header is None:
                    header = f"{'model':<8}{'split':<9}{'protocol, policy':<25}" + "".join(
                        f"{'m=' + str(m):>7}" for m in curves.steps
                    )
                    print(header)
                for p, acc in curves.accuracy.items():
                    label = f"{protocol}, {p}"
                    print(f"{r.name:<8}{s:<9}{label:<25}" + "".join(f"{a:>7.3f}" for a in acc))


if __name__ == "__main__":
    main()
