"""filter_concepts(): each Label-free CBM filter removes what it should and says why."""

from __future__ import annotations

import numpy as np
import pytest

from bottlekit.concepts import ConceptBank, ConceptCandidates, filter_concepts


def table_encoder(table: dict[str, list[float]]):
    """Sentence encoder with hand-set vectors, so every cosine is known exactly."""

    def enc(texts):
        return np.array([table[t] for t in texts], dtype=float)

    return enc


# unit vectors in the first two axes at chosen angles: cos(a, b) = cos(angle difference)
def unit(deg):
    r = np.deg2rad(deg)
    return [np.cos(r), np.sin(r), 0.0]


TABLE = {
    "cardinal": unit(0),
    "blue jay": unit(90),
    "cardinal bird": unit(20),  # cos 0.940 to "cardinal": too similar to the class
    "red crest": unit(45),  # cos 0.707 to both classes
    "crimson crest": unit(49),  # cos 0.9976 to "red crest": a near-duplicate
    "thick bill": list(np.array([0.3, 0.1, 0.9]) / np.linalg.norm([0.3, 0.1, 0.9])),
    "a very long concept name over thirty chars": unit(70),
    "The Blue Jay": unit(89),
}


def test_each_filter_reports_what_and_why():
    names = [
        "a very long concept name over thirty chars",
        "The Blue Jay",
        "cardinal bird",
        "red crest",
        "crimson crest",
        "thick bill",
    ]
    kept = filter_concepts(
        None,
        names,
        ["cardinal", "blue jay"],
        sentence_encoder=table_encoder(TABLE),
        activation_threshold=None,
    )
    report = kept.filter_report
    by = report.by_filter()
    assert [r.name for r in by["too_long"]] == ["a very long concept name over thirty chars"]
    assert by["too_long"][0].value == 42 and by["too_long"][0].threshold == 30
    # exact class name (case and article ignored), then the embedding rule
    assert [r.name for r in by["class_name"]] == ["The Blue Jay", "cardinal bird"]
    assert by["class_name"][0].reason == "is the class name 'blue jay'"
    assert by["class_name"][1].value == pytest.approx(np.cos(np.deg2rad(20)), abs=1e-6)
    assert by["class_name"][1].other == "cardinal"
    dup = by["duplicate"]
    assert len(dup) == 1 and {dup[0].name, dup[0].other} == {"red crest", "crimson crest"}
    assert dup[0].value == pytest.approx(np.cos(np.deg2rad(4)), abs=1e-6)
    # Label-free CBM keeps the one with the larger total similarity to the others
    V = {n: np.array(TABLE[n]) for n in ("red crest", "crimson crest", "thick bill")}
    total = {a: sum(V[a] @ V[b] for b in V) for a in V}
    winner = max(("red crest", "crimson crest"), key=total.get)
    assert dup[0].other == winner and kept.names == [winner, "thick bill"]
    assert report.skipped == {"not_activated": "activation_threshold=None"}
    assert report.kept == kept.names
    assert isinstance(kept, ConceptCandidates) and kept.provenance == [{}, {}]
    text = str(report)
    assert "too_long: removed 1" in text and "similarity 0.998 >= 0.9" in text
    assert report.to_dict()["removed"][0]["filter"] == "too_long"


def test_thresholds_turn_filters_off_and_class_only_exact_without_encoder():
    kept = filter_concepts(
        None,
        ["Cardinal", "red crest", "x" * 40],
        ["cardinal"],
        max_length=None,
        sentence_encoder=None,
        activation_threshold=None,
    )
    report = kept.filter_report
    assert kept.names == ["red crest", "x" * 40]
    assert "exact matches only" in report.skipped["class_name"]
    assert report.skipped["duplicate"] == "no sentence_encoder or backbone"


def test_activation_filter_on_bank_and_candidates(backbone):
    # two concepts along known axes; images near axis 0 only
    d = 4
    V = np.eye(d)[:2]
    bank = ConceptBank(["seen", "unseen"], V, "bb")
    rng = np.random.default_rng(0)
    X = np.tile(np.eye(d)[0], (20, 1)) + 0.1 * rng.standard_normal((20, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    kept = filter_concepts(None, bank, sentence_encoder=None, image_embeddings=X)
    report = kept.filter_report
    assert isinstance(kept, ConceptBank) and kept.names == ["seen"]
    assert bank.filter_report is None  # the input is not modified
    (r,) = report.by_filter()["not_activated"]
    # closed form: mean of the 5 largest cosines of the images with axis 1
    expected = np.sort(X[:, 1])[-5:].mean()
    assert r.name == "unseen" and r.value == pytest.approx(expected, abs=1e-6)
    assert r.threshold == 0.25 and "top-5" in r.reason and "20 training images" in r.reason
    # candidates are embedded with the backbone for the activation filter
    cands = ConceptCandidates(["red", "blue"], [{"source": "x"}, {"source": "y"}])
    Xr = backbone.encode_texts(["red"] * 6)
    kept = filter_concepts(
        backbone,
        cands,
        sentence_encoder=None,
        duplicate_similarity=None,
        image_embeddings=Xr,
        activation_threshold=0.5,
    )
    assert kept.names == ["red"] and kept.provenance == [{"source": "x"}]
    # CAV concepts are exempt (not on the cosine scale)
    cav = ConceptBank(
        ["c"], [[0.0, 1.0, 0, 0]], "bb", intercepts=[-5.0], provenance=[{"kind": "cav"}]
    )
    kept = filter_concepts(None, cav, sentence_encoder=None, image_embeddings=X)
    assert kept.names == ["c"]


def test_activation_filter_removes_a_concept_exactly_at_the_threshold():
    # Label-free CBM keeps a concept only when its top-5 mean is strictly above
    # --clip_cutoff (train_cbm.py: `highest > clip_cutoff`). Before, a tie was kept
    # (`top < threshold` removed), so the same threshold kept one concept more.
    bank = ConceptBank(["on", "off"], np.eye(2), "bb")
    X = np.tile([1.0, 0.0], (6, 1))  # cosines exactly 1 with "on" and 0 with "off"
    kept = filter_concepts(None, bank, sentence_encoder=None, image_embeddings=X,
                           activation_threshold=0.0)  # fmt: skip
    assert kept.names == ["on"]
    (r,) = kept.filter_report.by_filter()["not_activated"]
    assert r.name == "off" and r.value == 0.0 and "<= 0.0" in r.reason


def test_filter_validation():
    with pytest.raises(ValueError, match="every concept was filtered out"):
        filter_concepts(None, ["x" * 40], sentence_encoder=None)
    with pytest.raises(ValueError, match=r"^concepts is empty; expected at least one"):
        filter_concepts(None, [], sentence_encoder=None)
    with pytest.raises(ValueError, match="class_similarity must be a cosine"):
        filter_concepts(None, ["a"], ["b"], class_similarity=2.0, sentence_encoder=None)
    with pytest.raises(ValueError, match="needs concept vectors"):
        filter_concepts(None, ["a"], sentence_encoder=None, image_embeddings=np.ones((3, 2)))
    with pytest.raises(ValueError, match="sentence_encoder must be"):
        filter_concepts(None, ["a"], sentence_encoder="mpnet")


def test_a_similarity_threshold_of_1_removes_texts_that_embed_identically():
    # before: the float32 cosine of the identical unit vectors was 0.99999994 < 1, and
    # duplicate_similarity=1.0 removed nothing
    base = np.random.default_rng(5).normal(size=16).astype(np.float32)
    u = base / np.linalg.norm(base)
    assert float(u @ u) < 1  # the rounding the filter must see through

    def encoder(texts):  # case and spacing do not change the embedding
        return np.stack([base if t.strip().lower() == "red body" else -base for t in texts])

    kept = filter_concepts(
        None, ["red body", "Red body", "blue wing"], sentence_encoder=encoder,
        max_length=None, activation_threshold=None, duplicate_similarity=1.0,
    )  # fmt: skip
    assert kept.names == ["red body", "blue wing"]
    (removal,) = kept.filter_report.removed
    assert (removal.name, removal.value, removal.other) == ("Red body", 1.0, "red body")


def test_repeated_names_in_a_list_are_refused_before_any_filter_runs():
    # before: every filter ran (the encoder was called), then the kept names failed as
    # ConceptCandidates with "names has duplicate name": the wrong argument, work lost
    calls = []

    def encoder(texts):
        calls.append(list(texts))
        return np.array([TABLE[t] for t in texts], dtype=float)

    with pytest.raises(
        ValueError, match=r"^concepts has duplicate name 'red crest' at positions 0 and 2;"
    ):
        filter_concepts(None, ["red crest", "thick bill", "red crest"], sentence_encoder=encoder)
    assert calls == []
    with pytest.raises(TypeError, match=r"^concepts\[1\] must be a str, got int: 3$"):
        filter_concepts(None, ["red crest", 3], sentence_encoder=None)
