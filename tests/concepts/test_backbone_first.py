"""``backbone`` is the first argument of every concept builder; the old order still works."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

from bottlekit.concepts import (
    ConceptBank,
    ConceptCandidates,
    filter_concepts,
    from_examples,
    from_text,
    generate,
    retrieve,
)
from bottlekit.concepts._backbone_arg import is_backbone

CORPUS = [
    "The cardinal has a red crest. Its bill is thick and orange.",
    "The blue jay has a blue crest and a black necklace.",
]


@pytest.mark.parametrize(
    "builder", [from_text, from_examples, generate, retrieve, filter_concepts]
)
def test_backbone_is_the_first_positional_or_keyword_parameter(builder):
    first = next(iter(inspect.signature(builder).parameters.values()))
    assert first.name == "backbone"
    assert first.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD


def test_is_backbone(backbone, tmp_path):
    assert is_backbone(None) and is_backbone("ViT-B-32") and is_backbone(backbone)
    assert not is_backbone(["cardinal"]) and not is_backbone(np.ones((2, 3)))
    assert not is_backbone(str(tmp_path))  # an existing folder is images, not a backbone id
    assert not is_backbone(ConceptCandidates(["red"]))


def _same_bank(a, b):
    assert type(a) is type(b) and a.names == b.names
    if isinstance(a, ConceptBank):
        np.testing.assert_array_equal(a.vectors, b.vectors)
        np.testing.assert_array_equal(a.intercepts, b.intercepts)
        assert a.backbone_id == b.backbone_id


def _new_and_old(builder, new_args, old_args, old_kwargs, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # the new order warns nothing
        new = builder(*new_args, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = builder(*old_args, **old_kwargs, **kwargs)
    messages = [str(w.message) for w in caught if w.category is FutureWarning]
    assert any(f"{builder.__name__}: the backbone is now the first" in m for m in messages)
    _same_bank(new, old)
    return new


def test_retrieve_both_orders(backbone):
    pytest.importorskip("bm25s")  # the retrieval extra
    kw = dict(sentence_encoder=None, progress=False)
    bank = _new_and_old(
        retrieve, (backbone, ["cardinal", "blue jay"], CORPUS), (["cardinal", "blue jay"], CORPUS),
        {"backbone": backbone}, kw,
    )  # fmt: skip
    assert isinstance(bank, ConceptBank) and "red crest" in bank.names
    cands = _new_and_old(retrieve, (None, ["cardinal"], CORPUS), (["cardinal"], CORPUS), {}, kw)
    assert isinstance(cands, ConceptCandidates)
    # an all-keyword call may leave the optional backbone out, without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        again = retrieve(class_names=["cardinal"], corpus=CORPUS, **kw)
    _same_bank(again, cands)


def test_filter_concepts_both_orders(backbone):
    kw = dict(sentence_encoder=None, activation_threshold=None, duplicate_similarity=0.99)
    names = ["red crest", "red crest!", "blue crest"]
    kept = _new_and_old(
        filter_concepts, (backbone, names, ["cardinal"]), (names, ["cardinal"]),
        {"backbone": backbone}, kw,
    )  # fmt: skip
    # the backbone's similarity was used: "red crest!" embeds as "red crest" (cosine 1,
    # the later one goes), "blue crest" shares one word of two (cosine ~0.5, kept)
    assert kept.filter_report.removed_names("duplicate") == ["red crest!"]
    assert kept.names == ["red crest", "blue crest"]


def test_from_examples_both_orders_and_backbone_id_alias():
    rng = np.random.default_rng(0)
    labels = np.repeat([[1], [0]], 40, axis=0)
    X = rng.normal(size=(80, 4)) + 2 * labels
    kw = dict(random_state=0)
    new = _new_and_old(
        from_examples, ("bb", X, labels, ["a"]), (X, labels, ["a"]), {"backbone_id": "bb"}, kw
    )
    with pytest.warns(FutureWarning, match="backbone_id= is deprecated"):
        alias = from_examples(None, X, labels, ["a"], backbone_id="bb", **kw)
    _same_bank(new, alias)
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="does not match"):
        from_examples("bb", X, labels, ["a"], backbone_id="other", **kw)
