"""Hostile inputs to the diagnostics: a clear error naming the argument, or the right value.

Before:

* ``audit`` of a CBM on data naming fewer classes than the model (a folder of 2 classes for
  a 24-class model, or labels of one class without names) failed with an IndexError;
  a backbone given as a string with an AttributeError from the embedding cache;
  ``batch_size=0`` or ``2.5``, ``device="bogus"``, ``lam=inf`` and ``cav_params`` that are
  never used were accepted silently; a bad ``map_method`` was reported as ``method``;
* ``spurious_concept_scores`` turned attribute rates outside [0, 1] into negative or
  infinite scores, and context weights 0.5 / 2 into True;
* ``concept_location`` collapsed repeated concept names in ``to_dict``, split a string of
  names into letters and dropped the imaginary part of complex maps;
* ``intervention_curves`` rounded ``steps=[0.5]`` to 0 and read ``[True]`` as 1;
* ``random_state=-1``, ``k`` or ``folds`` beyond the data failed inside numpy / sklearn;
* ``render_report(None)`` and ``AuditResult.save`` under a file failed with raw
  AttributeError / NotADirectoryError; ``top_spurious(-1)`` returned all but one name.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

import bottlekit
from bottlekit.bottleneck import PosthocCBM
from bottlekit.diagnostics import (
    AuditResult,
    audit,
    concept_completeness,
    concept_global_importance,
    concept_information,
    concept_leakage,
    concept_location,
    intervention_curves,
    model_features,
    render_report,
    spurious_concept_scores,
)


def _result() -> AuditResult:
    spurious = [{"concept": c, "score": s} for c, s in (("sky", 0.3), ("sand", 0.1))]
    return AuditResult(
        "cbm", "embeddings", ["sky", "sand"], ["a", "b"], np.arange(2), {}, np.zeros(2),
        np.zeros((2, 2)), None, None, None, spurious, 0.0, [],
    )  # fmt: skip


# ------------------------------------------------------------------ array metrics
MAPS = np.random.default_rng(0).random((2, 2, 4, 4))
MASKS = np.zeros((2, 2, 4, 4), bool)
MASKS[:, 0, :2] = True
MASKS[:, 1, 2:] = True
IMP = np.array([[2.0, 1.0], [0.5, -1.0]])

ARRAY_CASES = {
    "attribute rate above 1": (
        lambda: spurious_concept_scores(IMP, np.full((2, 2), 5.0)),
        ValueError,
        r"attribute_rate: expected rates in \[0, 1\]",
    ),
    "attribute rate negative": (
        lambda: spurious_concept_scores(IMP, np.full((2, 2), -0.5)),
        ValueError,
        r"attribute_rate: expected rates in \[0, 1\]",
    ),
    "attribute rate infinite": (
        lambda: spurious_concept_scores(IMP, np.array([[np.inf, 0.5], [0.5, 0.5]])),
        ValueError,
        "attribute_rate",
    ),
    "importance of strings": (
        lambda: spurious_concept_scores(np.full((2, 2), "x"), None),
        TypeError,
        "importance_by_class: expected a numeric array, got text values",
    ),
    "attribute rate of strings": (
        lambda: spurious_concept_scores(IMP, [["a", "b"], ["c", "d"]]),
        TypeError,
        "attribute_rate: expected a numeric array, got text values",
    ),
    "class-concept matrix of strings": (
        lambda: concept_global_importance(
            SimpleNamespace(coef_=np.ones((2, 2)), concept_names_=["a", "b"]),
            np.full((2, 2), "x"),
        ),
        TypeError,
        "class_concept_matrix: expected a numeric array, got text values",
    ),
    "context weights": (
        lambda: spurious_concept_scores(IMP, None, np.array([0.5, 2.0])),
        ValueError,
        r"context: expected 0/1 or boolean values, got 0\.5",
    ),
    "location names repeated": (
        lambda: concept_location(MAPS, MASKS, [0, 1], concept_names=["wing", "wing"]),
        ValueError,
        r"concept_names: expected unique names, \['wing'\] repeat",
    ),
    "location names a string": (
        lambda: concept_location(MAPS, MASKS, [0, 1], concept_names="ab"),
        TypeError,
        "concept_names: expected a list of 2 names, got a str",
    ),
    "location complex maps": (
        lambda: concept_location(MAPS + 1j, MASKS, [0, 1]),
        TypeError,
        "maps: expected real numbers, got complex values",
    ),
    "global importance of a NaN head": (
        lambda: concept_global_importance(
            SimpleNamespace(coef_=np.full((2, 2), np.nan), concept_names_=["a", "b"])
        ),
        ValueError,
        "model.coef_: contains NaN or inf",
    ),
    "features callable returning no tensor": (
        lambda: model_features(
            torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 3)),
            np.zeros((4, 4, 4, 3), np.uint8),
            feature_layer=lambda x: "features",
        ),
        TypeError,
        r"feature_layer: the callable must return a tensor \(n=4, d\)",
    ),
    "report of no result": (lambda: render_report(None), TypeError, "result: expected an"),
    "report of a dict": (lambda: render_report({}), TypeError, "result: expected an"),
    "top_spurious negative": (lambda: _result().top_spurious(-1), ValueError, "n: expected"),
    "top_spurious a string": (lambda: _result().top_spurious("2"), ValueError, "n: expected"),
}


@pytest.mark.parametrize("case", list(ARRAY_CASES))
def test_hostile_array_inputs_name_the_argument(case):
    call, error, message = ARRAY_CASES[case]
    with pytest.raises(error, match=message):
        call()


def test_valid_rates_and_01_context_still_score():
    got = spurious_concept_scores(IMP, np.array([[1.0, np.nan], [0.0, 0.5]]), np.array([0, 1]))
    np.testing.assert_allclose(got["score"], [0.25, 0.5])  # context column: rate := 0
    assert _result().top_spurious(1) == ["sky"] and _result().top_spurious(0) == []


def test_save_under_a_file_names_the_folder(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match=r"folder: .*afile' is a file, so"):
        _result().save(tmp_path / "afile" / "report")
    with pytest.raises(ValueError, match=r"folder: .*afile' is a file; expected a folder"):
        _result().save(tmp_path / "afile")
    assert (tmp_path / "afile").read_text() == "x"


# ------------------------------------------------------------------- faithfulness
FAITHFULNESS_CASES = {
    "steps a fraction": (
        lambda m, X, w: intervention_curves(m, X, w, X, w, steps=[0.5]),
        ValueError,
        "steps: expected an int >= 0, got 0.5",
    ),
    "steps a bool": (
        lambda m, X, w: intervention_curves(m, X, w, X, w, steps=[True]),
        ValueError,
        "steps: expected an int >= 0, got True",
    ),
    "steps a number": (
        lambda m, X, w: intervention_curves(m, X, w, X, w, steps=3),
        TypeError,
        "steps: expected a list",
    ),
    "interventions seed negative": (
        lambda m, X, w: intervention_curves(m, X, w, X, w, random_state=-1),
        ValueError,
        "random_state: expected an int >= 0, got -1",
    ),
    "completeness seed negative": (
        lambda m, X, w: concept_completeness(m, X, w, X, w, random_state=-1),
        ValueError,
        "random_state: expected an int >= 0, got -1",
    ),
    "leakage seed negative": (
        lambda m, X, w: concept_leakage(m, X, w, random_state=-1),
        ValueError,
        "random_state: expected an int >= 0, got -1",
    ),
    "leakage k beyond the images": (
        lambda m, X, w: concept_leakage(m, X, w, k=48),
        ValueError,
        "k: 48 is too many neighbours of an image for these data; expected at most 47",
    ),
    "leakage folds beyond the images": (
        lambda m, X, w: concept_leakage(m, X, w, folds=1000),
        ValueError,
        "folds: 1000 is too many folds for these data; expected at most 48",
    ),
    "information k beyond the images": (
        lambda m, X, w: concept_information(m, X, w, k=10**6),
        ValueError,
        "k: 1000000 is too many neighbours",
    ),
    "information seed a float": (
        lambda m, X, w: concept_information(m, X, w, random_state=1.5),
        ValueError,
        "random_state: expected an int >= 0, got 1.5",
    ),
}


@pytest.mark.parametrize("case", list(FAITHFULNESS_CASES))
def test_hostile_faithfulness_arguments_name_the_argument(fitted, case):
    world, _, X, _, model = fitted
    call, error, message = FAITHFULNESS_CASES[case]
    with pytest.raises(error, match=message):
        call(model, X, world)


# -------------------------------------------------------------------------- audit
AUDIT_CASES = {
    "backbone a string": ({"backbone": "world-tiny"}, TypeError, "backbone: expected a Backbone"),
    "batch_size 0": ({"batch_size": 0}, ValueError, "batch_size: expected an int >= 1, got 0"),
    "batch_size a float": ({"batch_size": 2.5}, ValueError, "batch_size: expected an int >= 1"),
    "device unknown": ({"device": "bogus"}, ValueError, "device: 'bogus' is not a torch device"),
    # with concepts (a surrogate is fitted): a CBM on its own concepts refuses any lam
    "lam infinite": (
        {"lam": float("inf"), "concepts": ["red body", "long tail"]},
        ValueError,
        "lam: expected a finite number >= 0",
    ),
    "lam without a surrogate": (
        {"lam": 1e-2},
        ValueError,
        "lam: 0.01 has no effect when a concept-bottleneck model is audited on its own",
    ),
    "map_method unknown": ({"map_method": "cam"}, ValueError, "map_method: expected one of"),
    "cav_params never used": (
        {"cav_params": {"Cs": (1.0,)}},
        ValueError,
        "cav_params: only used when the audit fits CAVs",
    ),
    "cav_params unknown option": (
        {"concepts": ["red body", "long tail"], "cav_params": {"C": 1.0}},
        ValueError,
        r"cav_params: \['C'\] are not options of from_examples; it takes \[.*'Cs'",
    ),
    "cav_params random_state": (
        {"concepts": ["red body", "long tail"], "cav_params": {"random_state": 1}},
        ValueError,
        "cav_params: random_state is audit's own random_state",
    ),
    "context part unknown": (
        {"context_parts": ["backgroud"]},
        ValueError,
        r"context_parts: \['backgroud'\] are not parts of the data; its parts are \[",
    ),
    "concepts repeated": (
        {"concepts": ["red body", "red body"]},
        ValueError,
        r"concepts: expected unique names, \['red body'\] repeat",
    ),
}


@pytest.mark.parametrize("case", list(AUDIT_CASES))
def test_hostile_audit_arguments_name_the_argument(fitted, case):
    world, bk, _, _, model = fitted
    kwargs, error, message = AUDIT_CASES[case]
    kwargs = {"backbone": bk, **kwargs}
    with pytest.raises(error, match=message):
        audit(model, world, **kwargs)


def test_audit_of_data_naming_fewer_classes_than_the_cbm(fitted):
    world, bk, _, _, model = fitted
    data = {"images": world.images, "labels": world.labels % 2, "class_names": ["a", "b"]}
    with pytest.raises(
        ValueError, match=r"data\.class_names: names 2 classes but the model's classes go up to 23"
    ):
        audit(model, data, backbone=bk)


def test_audit_of_numbered_labels_numbers_the_model_classes(fitted):
    """Labels of one class, no names: the classes are numbered up to the model's last."""
    world, bk, _, _, model = fitted
    data = {"images": world.images, "labels": np.zeros(len(world), int)}
    result = audit(model, data, backbone=bk, n_examples=0, n_location_images=0, information=False)
    assert result.class_names == [str(c) for c in model.classes_]
    assert result.fidelity["exact"] and result.fidelity["agreement"] == 1.0
    truth = np.mean(model.predict(bottlekit.embed(bk, world.images, progress=False)) == 0)
    assert result.fidelity["model_accuracy"] == pytest.approx(truth)


def test_audit_refuses_banks_of_another_backbone_before_embedding(fitted):
    """Before: a CBM (or a ``concepts`` bank) of another backbone of the same width was
    audited on this backbone's embeddings without a word (fidelity 1.000 of a wrong model)."""
    from bottlekit.concepts import ConceptBank

    world, bk, X, bank, model = fitted
    other = ConceptBank(bank.names, bank.vectors, "other-arch/x/0123", provenance=bank.provenance)
    foreign = PosthocCBM(other, random_state=0).fit(X, world.labels)
    kw = {"backbone": bk, "n_examples": 0, "n_location_images": 0, "information": False}
    with pytest.raises(ValueError, match="model: concept bank was built for backbone 'other-arch"):
        audit(foreign, world, **kw)
    with pytest.raises(ValueError, match="concepts: concept bank was built for backbone 'other"):
        audit(model, world, other, **kw)
