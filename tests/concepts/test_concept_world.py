"""Concept banks on the built-in world, scored against the world's ground truth.

The figures these tolerances come from are printed by ``benchmarks/concepts_world.py``
(and pasted in docs/concepts.md, "On the built-in world").
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import bottlekit
from bottlekit.world import make_world
from bottlekit.world.evaluate import CONCEPT_TEMPLATES  # "a photo of a bird with {}." ...
from bottlekit.world.species import EXTRA_NAMES, true_attributes

WEIGHTS = Path(bottlekit.__file__).resolve().parent / "world" / "weights"
WEIGHTS_FILE = WEIGHTS / "world-tiny.safetensors"

# A species' true attributes: P(concept drawn | species) >= 0.5. Dominant options are drawn
# with probability >= 0.6 and every other option with <= 0.4, so 0.5 separates them with a
# 0.1 margin either side; it is also the world's definition of a species' field marks.
TRUE_ATTRIBUTE_THRESHOLD = 0.5


@pytest.fixture(scope="module")
def world():
    # the corpus and the class-concept matrix do not depend on n; 24 images keep it cheap
    return make_world(24, "test", random_state=0, return_masks=False)


def found_sets(cands, class_names):
    """Concepts ``retrieve`` returned for each class (from its class prior)."""
    idx = [cands.class_names.index(c) for c in class_names]
    return [{cands.names[j] for j in np.flatnonzero(cands.class_prior[i])} for i in idx]


def precision_recall(found, truth):
    """(micro P, micro R, macro P, macro R) of per-class found sets against true sets."""
    tp = [len(f & t) for f, t in zip(found, truth, strict=True)]
    micro_p = sum(tp) / max(1, sum(len(f) for f in found))
    micro_r = sum(tp) / sum(len(t) for t in truth)
    macro_p = np.mean([k / len(f) if f else 0.0 for k, f in zip(tp, found, strict=True)])
    macro_r = np.mean([k / len(t) for k, t in zip(tp, truth, strict=True)])
    return micro_p, micro_r, float(macro_p), float(macro_r)


def world_truth(world):
    truth = world.class_concept_matrix >= TRUE_ATTRIBUTE_THRESHOLD
    return [{world.concept_names[j] for j in np.flatnonzero(row)} for row in truth]


def without_field_marks(corpus):
    """The corpus without its "Field marks of the X: a, b, c." paragraphs (see below)."""
    return [
        "\n\n".join(p for p in doc.split("\n\n") if not p.startswith("Field marks of"))
        for doc in corpus
    ]


# BM25 only (sentence_encoder=None): loading MiniLM costs 15-30 s on the shared build
# machine, and the benchmark measured the hybrid retriever to return exactly the same
# concepts on this corpus (both with and without the field-mark lists).
@pytest.fixture(scope="module")
def retrieved(world):
    pytest.importorskip("bm25s")
    from bottlekit.concepts import retrieve

    return retrieve(None, world.class_names, world.corpus, sentence_encoder=None, progress=False)


def test_retrieve_world_returns_no_distractors_or_unrelated_species(world, retrieved):
    # Distractor facts in the corpus: 30 natural-history documents (nests, eggs, calls,
    # lifespan, folklore), "Similar species" sentences naming two species, "Less often
    # seen: ..." lists and "sometimes"/"occasionally" sentences (concepts below 0.5), and
    # full entries for 6 species that never appear in images. None may leak in.
    assert set(retrieved.names) <= set(world.concept_names), (
        sorted(set(retrieved.names) - set(world.concept_names)),
    )
    history = {i for i, d in enumerate(world.corpus) if d.startswith("Natural history")}
    assert len(history) == 30  # the distractor documents exist, so the check below bites
    assert set(EXTRA_NAMES) <= set(world.corpus_subjects)
    for name, prov in zip(retrieved.names, retrieved.provenance, strict=True):
        for ev in prov["evidence"]:
            assert ev["passages"], (name, ev["class"])
            for p in ev["passages"]:
                doc = int(p["doc_id"].removeprefix("doc-"))
                # every supporting passage is from a document about that very species:
                # not an unrelated species, not another dataset species, not a general text
                assert world.corpus_subjects[doc] == ev["class"], (name, ev["class"], p)
                assert doc not in history, (name, ev["class"], p["text"])
                assert world.corpus[doc][p["start"] : p["end"]] == p["text"]


def test_retrieve_world_precision_recall(world, retrieved):
    # Measured (benchmarks/concepts_world.py, hybrid and BM25 alike): micro and macro
    # precision = recall = 1.000 (216 true (species, concept) pairs). The corpus states each
    # species' field marks by their exact names, so this is the easy case; the thresholds
    # leave room for rephrasing of the corpus or the extractor (0.95 precision allows 11
    # wrong pairs, 0.90 recall 21 missed pairs) while still failing if e.g. the "Less often
    # seen" concepts (p in [0.3, 0.5), 17 pairs: precision 216/233 = 0.93) leaked in.
    p, r, mp, mr = precision_recall(found_sets(retrieved, world.class_names), world_truth(world))
    assert p >= 0.95 and mp >= 0.95, (p, mp)
    assert r >= 0.90 and mr >= 0.90, (r, mr)


def test_retrieve_world_free_text_only(world):
    # Ablation: without the field-mark lists, concepts must come from the free-text
    # appearance sentences ("The head is reliably white.", "It mostly has orange wings.").
    # Measured: precision 1.000, recall 0.829 micro / 0.831 macro (179 of 216 pairs; the
    # misses are the backgrounds, stated only as "... is typical of photographs of it", and
    # sentences after "A stripe runs through the eye", which the subject tracker does not
    # attribute). Thresholds: precision stays >= 0.95; recall >= 0.70 (a 0.13 margin, 28
    # pairs) still requires most attributes to be read from free text.
    pytest.importorskip("bm25s")
    from bottlekit.concepts import retrieve

    corpus = without_field_marks(world.corpus)
    assert sum(d.count("Field marks of") for d in corpus) == 0
    cands = retrieve(None, world.class_names, corpus, sentence_encoder=None, progress=False)
    p, r, mp, mr = precision_recall(found_sets(cands, world.class_names), world_truth(world))
    assert p >= 0.95 and mp >= 0.95, (p, mp)
    assert r >= 0.70 and mr >= 0.70, (r, mr)


def test_retrieve_world_reads_unrelated_species_when_asked(world):
    # Control for the first test: the 6 species outside the dataset have full, extractable
    # entries (measured: all 55 of their true attributes found, none wrong), so their
    # absence from the dataset run is the subject tracker's doing, not unreadable text.
    pytest.importorskip("bm25s")
    from bottlekit.concepts import retrieve

    extra = list(EXTRA_NAMES)
    cands = retrieve(None, extra, world.corpus, sentence_encoder=None, progress=False)
    truth = [set(true_attributes(n)) for n in extra]
    p, r, _, _ = precision_recall(found_sets(cands, extra), truth)
    assert p >= 0.95 and r >= 0.90, (p, r)


# ----------------------------------------------------------- concept detection (CAVs)
def auroc_columns(scores, labels):
    from sklearn.metrics import roc_auc_score

    return np.array([roc_auc_score(labels[:, k], scores[:, k]) for k in range(labels.shape[1])])


@pytest.fixture(scope="module")
def world_embeddings():
    if not WEIGHTS_FILE.is_file():
        pytest.skip(
            f"the shipped world-tiny weights are missing ({WEIGHTS_FILE}); train them with "
            "`python -m bottlekit.world.train` (see docs/world.md)"
        )
    import torch

    torch.set_num_threads(1)
    bk = bottlekit.load_backbone("world-tiny", device="cpu")
    train = make_world(480, "train", random_state=0, return_masks=False)
    test = make_world(480, "test", random_state=0, return_masks=False)
    cache = False  # each test has a private cache anyway (tests/conftest.py)
    x_train = bottlekit.embed(bk, train.images, cache=cache, progress=False)
    x_test = bottlekit.embed(bk, test.images, cache=cache, progress=False)
    return bk, train, test, x_train, x_test


# Measured with the stage-1 weights (sha256 778b07dd..., 2000 steps) in this test's setting
# (480 train / 480 test images) for world seeds 0, 1, 2 x CAV random_state 0, 1, 2: CAV mean
# AUROC 0.821-0.847 (0.842 for the seeds used here), text mean 0.812-0.813; every background
# AUROC 1.000. On 2400 test images (benchmark): CAV 0.835, text 0.813; the step-500
# checkpoint of the same run still gave CAV 0.776, text 0.715. The thresholds sit 0.07 (CAV,
# 2.5x the seed-to-seed range) and 0.09 (text) below the lowest measured value, so a
# retrained world-tiny of similar quality passes, and far above chance (see below). The
# shipped stage-2 weights score higher on 2400 test images (CAV 0.858, text 0.839) and pass.
CAV_MEAN_MIN = 0.75
TEXT_MEAN_MIN = 0.72


def null_auroc_std(labels):
    """Std of the AUROC of random scores, sqrt((n1 + n0 + 1) / (12 n1 n0)), per concept."""
    n1 = labels.sum(0).astype(float)
    n0 = len(labels) - n1
    return np.sqrt((n1 + n0 + 1) / (12 * n1 * n0))


def test_cav_bank_detects_world_concepts(world_embeddings):
    from bottlekit.concepts import from_examples, from_text

    bk, train, test, x_train, x_test = world_embeddings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # chance-level CAVs are reported, not an error here
        bank = from_examples(bk.id, x_train, train.concept_labels, train.concept_names)
    assert bank.names == test.concept_names  # no concept skipped for lack of examples
    auc = auroc_columns(bank.project(x_test), test.concept_labels)
    # Chance: under random scores each AUROC has std null_auroc_std <= 0.04 here (480 test
    # images, >= 70 positives per concept), so even fully correlated concepts leave the
    # mean within 0.5 +- 0.12 at 3 sigma: the thresholds are >= 0.22 above chance.
    assert null_auroc_std(test.concept_labels).max() < 0.04
    assert auc.mean() >= CAV_MEAN_MIN, auc.round(3)
    # the five backgrounds fill most of the image: every detector must find them
    bg = [k for k, n in enumerate(test.concept_names) if n.endswith("background")]
    assert auc[bg].min() >= 0.95, dict(zip(test.concept_names, auc.round(3), strict=True))
    # the text bank (the world's evaluation prompts) is above chance as well
    text = from_text(bk, test.concept_names, CONCEPT_TEMPLATES)
    text_auc = auroc_columns(text.project(x_test), test.concept_labels)
    assert text_auc.mean() >= TEXT_MEAN_MIN, text_auc.round(3)
