"""Concept banks on the built-in world, scored against its ground truth.

Three measurements with the shipped ``world-tiny`` CLIP (``bottlekit/world/weights``):

(a) concept detection by a ``from_text`` bank of the world's 31 concept names: for each
    concept, the AUROC of the bank's activation ``cos(x, v_c)`` against the drawn concept
    labels of the test split, for three sets of prompt templates (printed);
(b) the same for a ``from_examples`` bank of concept activation vectors (linear SVMs as in
    Post-hoc CBM) trained on train-split embeddings and concept labels, with PCBM's 50
    positives + 50 negatives per concept and with every train image (balanced);
(c) ``retrieve(None, world.class_names, world.corpus)`` offline (extractive, no LLM): precision
    and recall of the concepts found for each species against its true attributes, and
    the number of returned concepts that come from distractor (natural-history) facts,
    from documents about species that are not in the dataset, or are not world concepts.

A species' *true attributes* are the concepts with ``P(concept drawn | species) >= 0.5`` in
``class_concept_matrix``. The world makes this threshold unambiguous: in every attribute
group a species' dominant option is drawn with probability 0.9 (0.6 in its two noisy
groups), so its concepts are either >= 0.6 (dominant) or <= 0.4 (the others share the rest);
0.5 separates them with a margin of 0.1 on both sides, and it is the world's own definition
of a species' field marks (``bottlekit.world.species.true_attributes``).

Embeddings go through ``bottlekit.embed`` (on-disk cache keyed by the backbone id, which
hashes the weights, so new weights never reuse old embeddings).

    python benchmarks/concepts_world.py [--n-train 2400] [--n-test 2400] [--seed 0]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

import bottlekit
from bottlekit.concepts import from_examples, from_text, retrieve
from bottlekit.world import make_world
from bottlekit.world.evaluate import CONCEPT_TEMPLATES

#: Template sets compared for the text bank; the first is the headline (per-concept table).
TEMPLATE_SETS: dict[str, list[str] | None] = {
    # the world's own evaluation prompts (bottlekit.world.evaluate.CONCEPT_TEMPLATES)
    "world-eval": list(CONCEPT_TEMPLATES),
    # the phrasings of the world's training captions that do not name the species
    "caption-style": [
        "a bird with {}.",
        "a photo of a bird with {}.",
        "a small bird with {}.",
        "this bird has {}.",
    ],
    # Post-hoc CBM: the bare concept string
    "bare name": None,
}
TRUE_ATTRIBUTE_THRESHOLD = 0.5
WEIGHTS = Path(bottlekit.__file__).resolve().parent / "world" / "weights"


def aurocs(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """AUROC of ``scores[:, k]`` against the 0/1 ``labels[:, k]`` for every column."""
    return np.array(
        [roc_auc_score(labels[:, k], scores[:, k]) for k in range(labels.shape[1])],
        dtype=np.float64,
    )


def weights_description() -> str:
    """Size, sha256 prefix and training metadata of the shipped world-tiny weights."""
    path = WEIGHTS / "world-tiny.safetensors"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    meta_path = WEIGHTS / "world-tiny.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    keys = ("partial_step", "steps", "seed", "p_typical_background", "final_loss")
    extra = ", ".join(f"{k}={meta[k]}" for k in keys if k in meta)
    return f"{path.name} (sha256 {digest}...; {extra or 'no training metadata'})"


# ------------------------------------------------------------------ (a) + (b)
def detection(args, bk) -> None:
    train = make_world(args.n_train, "train", args.seed, return_masks=False)
    test = make_world(args.n_test, "test", args.seed, return_masks=False)
    t0 = time.perf_counter()
    x_train = bottlekit.embed(bk, train.images, progress=False)
    x_test = bottlekit.embed(bk, test.images, progress=False)
    print(
        f"embeddings: {len(train)} train + {len(test)} test images, d={x_train.shape[1]}, "
        f"{time.perf_counter() - t0:.1f} s (bottlekit.embed, cached)"
    )
    names, y_test = test.concept_names, test.concept_labels

    text_auc = {}
    for label, templates in TEMPLATE_SETS.items():
        bank = from_text(bk, names, templates)
        text_auc[label] = aurocs(bank.project(x_test), y_test)
    cav_auc, cav_bank = {}, {}
    for label, m in (("CAV, 50+50", 50), ("CAV, all train", None)):
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            bank = from_examples(
                bk.id,
                x_train,
                train.concept_labels,
                names,
                max_examples=m,
                random_state=args.seed,
            )
        secs = time.perf_counter() - t0
        assert bank.names == names, "a concept was skipped (too few examples)"
        cav_bank[label] = bank
        cav_auc[label] = aurocs(bank.project(x_test), y_test)
        flagged = [
            n
            for n, p in zip(bank.names, bank.provenance, strict=True)
            if not p["better_than_chance"]
        ]
        print(
            f"{label}: fitted in {secs:.1f} s; {len(caught)} warning(s); "
            f"not better than chance on held-out examples: {flagged or 'none'}"
        )

    print("\n### (a, b) concept detection AUROC on the test split\n")
    for label, templates in TEMPLATE_SETS.items():
        print(f"- text templates `{label}`: {templates if templates else 'bare concept name'}")
    headline = next(iter(TEMPLATE_SETS))
    cavs = list(cav_auc)
    print(
        f"\n| concept | positives | text ({headline}) | {cavs[0]} | {cavs[1]} "
        f"| CAV held-out acc. (50+50) |"
    )
    print("|---|---|---|---|---|---|")
    prov = cav_bank[cavs[0]].provenance
    for k, n in enumerate(names):
        print(
            f"| {n} | {int(y_test[:, k].sum())} | {text_auc[headline][k]:.3f} "
            f"| {cav_auc[cavs[0]][k]:.3f} | {cav_auc[cavs[1]][k]:.3f} "
            f"| {prov[k]['heldout_accuracy']:.2f} |"
        )
    print("\n| bank | mean AUROC | min AUROC (concept) | concepts with AUROC >= 0.9 |")
    print("|---|---|---|---|")
    for label, auc in [*((f"text, {t}", a) for t, a in text_auc.items()), *cav_auc.items()]:
        j = int(np.argmin(auc))
        print(
            f"| {label} | {auc.mean():.3f} | {auc[j]:.3f} ({names[j]}) "
            f"| {int((auc >= 0.9).sum())}/{len(auc)} |"
        )


# ------------------------------------------------------------------------- (c)
def retrieval_scores(world, cands) -> dict:
    """Per-species and averaged precision/recall of ``cands`` and its error counts."""
    truth = world.class_concept_matrix >= TRUE_ATTRIBUTE_THRESHOLD
    vocab = {n: j for j, n in enumerate(world.concept_names)}
    rows, tp_all, pred_all, true_all = [], 0, 0, 0
    for ci, cls in enumerate(world.class_names):
        found = {cands.names[j] for j in np.flatnonzero(cands.class_prior[ci])}
        true = {world.concept_names[j] for j in np.flatnonzero(truth[ci])}
        tp = len(found & true)
        rows.append((cls, len(true), len(found), tp, found - true, true - found))
        tp_all, pred_all, true_all = tp_all + tp, pred_all + len(found), true_all + len(true)

    doc_index = {f"doc-{i:04d}": i for i in range(len(world.corpus))}
    history = {i for i, d in enumerate(world.corpus) if d.startswith("Natural history")}
    in_data = set(world.class_names)
    n_pairs, n_history, n_foreign, n_cross = 0, 0, 0, 0
    for p in cands.provenance:
        for ev in p["evidence"]:
            n_pairs += 1
            docs = {doc_index[q["doc_id"]] for q in ev["passages"]}
            subjects = {world.corpus_subjects[d] for d in docs}
            n_history += bool(docs & history)
            n_foreign += any(s is not None and s not in in_data for s in subjects)
            n_cross += any(s is not None and s in in_data and s != ev["class"] for s in subjects)
    precision = [r[3] / r[2] if r[2] else 0.0 for r in rows]
    recall = [r[3] / r[1] for r in rows]
    return {
        "rows": rows,
        "micro_precision": tp_all / pred_all if pred_all else 0.0,
        "micro_recall": tp_all / true_all,
        "macro_precision": float(np.mean(precision)),
        "macro_recall": float(np.mean(recall)),
        "precision": precision,
        "recall": recall,
        "n_concepts": len(cands),
        "n_pairs": n_pairs,
        "not_world_concepts": sorted(set(cands.names) - set(vocab)),
        "from_history_docs": n_history,
        "from_species_not_in_dataset": n_foreign,
        "from_other_species_docs": n_cross,
    }


def without_field_marks(corpus: list[str]) -> list[str]:
    """The corpus with every "Field marks of the X: ..." paragraph removed (an ablation:
    the concepts must then come from the free-text appearance sentences)."""
    return [
        "\n\n".join(p for p in doc.split("\n\n") if not p.startswith("Field marks of"))
        for doc in corpus
    ]


def retrieval(args, world) -> None:
    extra = sorted({s for s in world.corpus_subjects if s} - set(world.class_names))
    history = sum(d.startswith("Natural history") for d in world.corpus)
    print(
        f"\n### (c) retrieve(None, world.class_names, world.corpus), offline extractive\n\n"
        f"corpus: {len(world.corpus)} documents; {history} natural-history documents "
        f"(distractor facts: nests, eggs, calls, lifespan, folklore); documents about "
        f"{len(extra)} species not in the dataset ({', '.join(extra)}).\n"
        f"true attribute of a species: class_concept_matrix >= {TRUE_ATTRIBUTE_THRESHOLD} "
        f"(dominant options: >= 0.6; all others <= 0.4)\n"
    )
    import bm25s  # noqa: F401  (imported first: it sets its logger to DEBUG on import)

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # its index-building chatter
    corpora = {
        "full corpus": world.corpus,
        "no field-mark lists": without_field_marks(world.corpus),
    }
    encoders = {"hybrid (BM25 + MiniLM)": "minilm", "BM25 only": None}
    results = {}
    for cname, corpus in corpora.items():
        for ename, encoder in encoders.items():
            t0 = time.perf_counter()
            cands = retrieve(
                None, world.class_names, corpus, sentence_encoder=encoder, progress=False
            )
            secs = time.perf_counter() - t0
            results[f"{cname}, {ename}"] = (retrieval_scores(world, cands), secs)

    first = next(iter(results))
    res = results[first][0]
    print(f"per species ({first}):\n")
    print("| species | true | returned | correct | precision | recall | missed | wrong |")
    print("|---|---|---|---|---|---|---|---|")
    for (cls, nt, nf, tp, wrong, missed), p, r in zip(
        res["rows"], res["precision"], res["recall"], strict=True
    ):
        print(
            f"| {cls} | {nt} | {nf} | {tp} | {p:.3f} | {r:.3f} "
            f"| {', '.join(sorted(missed)) or '-'} | {', '.join(sorted(wrong)) or '-'} |"
        )
    print(
        "\n| corpus, retrieval | seconds | concepts | (concept, species) pairs | micro P "
        "| micro R | macro P | macro R | not a world concept | from natural-history docs "
        "| from species not in dataset | from another species' docs |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, (r, secs) in results.items():
        print(
            f"| {label} | {secs:.1f} | {r['n_concepts']} | {r['n_pairs']} "
            f"| {r['micro_precision']:.3f} | {r['micro_recall']:.3f} "
            f"| {r['macro_precision']:.3f} | {r['macro_recall']:.3f} "
            f"| {len(r['not_world_concepts'])} | {r['from_history_docs']} "
            f"| {r['from_species_not_in_dataset']} | {r['from_other_species_docs']} |"
        )
    for label, (r, _) in results.items():
        wrong = sorted({f"{row[0]}: {c}" for row in r["rows"] for c in row[4]})
        missed = Counter(c for row in r["rows"] for c in row[5])
        if r["not_world_concepts"]:
            print(f"- {label}: not world concepts: {r['not_world_concepts']}")
        if wrong:
            print(f"- {label}: wrong (species: concept): {wrong}")
        if missed:
            by_concept = ", ".join(f"{c} x{k}" for c, k in missed.most_common())
            print(f"- {label}: missed {sum(missed.values())} pairs: {by_concept}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=2400)
    ap.add_argument("--n-test", type=int, default=2400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (shared machines)")
    ap.add_argument("--skip-detection", action="store_true", help="only run (c)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    print(f"$ python {' '.join(['benchmarks/concepts_world.py', *sys.argv[1:]])}")
    world = make_world(24, "test", args.seed, return_masks=False)  # corpus + matrix only
    if not args.skip_detection:
        bk = bottlekit.load_backbone("world-tiny", device="cpu")
        print(f"backbone {bk.id}; weights {weights_description()}")
        print(f"world seed {args.seed}: {args.n_train} train images, {args.n_test} test images")
        detection(args, bk)
    retrieval(args, world)


if __name__ == "__main__":
    main()
