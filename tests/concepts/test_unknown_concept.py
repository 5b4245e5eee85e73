"""An unknown concept name is an ``UnknownConceptError`` (a ``KeyError``) with close matches,
wherever a concept name is looked up."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bottlekit.bottleneck import PosthocCBM
from bottlekit.concepts import ConceptBank, UnknownConceptError

NAMES = ["red wing", "blue tail", "striped crown", "black bill"]


def _bank():
    rng = np.random.default_rng(0)
    return ConceptBank(NAMES, rng.standard_normal((4, 5)), "bb")


def _check(info, missing, close):
    err = info.value
    assert isinstance(err, KeyError) and isinstance(err, ValueError)
    assert err.name == missing
    assert err.close_matches[missing][: len(close)] == close  # best matches first
    for c in close:
        assert repr(c) in str(err)


def test_error_message_and_matches():
    err = UnknownConceptError(["red wng", "zzz"], NAMES, "concepts")
    assert err.missing == ["red wng", "zzz"]
    assert err.close_matches["red wng"][0] == "red wing" and err.close_matches["zzz"] == []
    assert str(err).startswith("concepts: concepts ['red wng', 'zzz'] are not one of the 4")
    assert "did you mean 'red wing'" in str(err)
    # no close match: a few of the known names instead
    assert "e.g. ['red wing'" in str(UnknownConceptError("zzz", NAMES))


def test_bank_lookups():
    bank = _bank()
    with pytest.raises(UnknownConceptError) as info:
        bank.index("red wings")
    _check(info, "red wings", ["red wing"])
    with pytest.raises(KeyError, match="did you mean 'blue tail'"):
        bank.subset(["blue tall"])


def test_model_prune_and_intervene():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((40, 5)), np.repeat([0, 1], 20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = PosthocCBM(_bank(), random_state=0).fit(X, y)
    with pytest.raises(UnknownConceptError) as info:
        model.prune("black bil")
    _check(info, "black bil", ["black bill"])
    with pytest.raises(UnknownConceptError, match="not one of this model's 4 concepts"):
        model.intervene(X[:2], {"striped crwn": 1.0})


def test_activation_map_concept_names():
    from bottlekit.visualize.attribution._scoring import resolve_concepts as _resolve_concepts

    with pytest.raises(UnknownConceptError) as info:
        _resolve_concepts(["strped crown"], NAMES)
    _check(info, "strped crown", ["striped crown"])


def test_diagnostics_lookups():
    from bottlekit.diagnostics.existence import _label_columns
    from bottlekit.diagnostics.global_importance import concept_global_importance

    with pytest.raises(UnknownConceptError) as info:
        _label_columns(["red wing", "blue tail"], ["red wings", "blue tail"], 2)
    _check(info, "red wing", ["red wings"])

    class _Head:
        coef_ = np.ones((2, 2))
        concept_scale_ = np.ones(2)
        concept_names_ = ("red wing", "blue tail")
        classes_ = np.array([0, 1])

    with pytest.raises(UnknownConceptError) as info:
        concept_global_importance(_Head(), np.ones((2, 2)), concept_names=["red wing", "blu tail"])
    _check(info, "blue tail", ["blu tail"])
