"""A hand-built AuditResult that lacks a key the report reads is named before anything is
drawn or written.

Before: ``render_report`` and ``AuditResult.save`` of a result with
``fidelity={"agreement": 0.9}``, a ``spurious`` row without ``"importance"`` or an
``examples`` row without ``"top"`` failed with a bare ``KeyError('model_accuracy')`` (or
``'importance'``, ``'top'``) from inside a section; ``top_spurious`` with a row without
``"score"`` with ``KeyError('score')``.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from bottlekit.diagnostics import AuditResult, render_report

NAMES = ["red", "sky", "wing"]


def _full() -> dict:
    """The fields of a result holding every key the report reads (as audit() fills them,
    information included)."""
    rng = np.random.default_rng(0)
    imp = rng.normal(size=(2, 3))
    return {
        "model_kind": "torch",
        "space": "features",
        "concept_names": list(NAMES),
        "class_names": ["cardinal", "gull"],
        "classes": np.arange(2),
        "fidelity": {
            "agreement": 0.9,
            "model_accuracy": 0.8,
            "surrogate_accuracy": 0.75,
            "n_fit": 10,
            "n_eval": 10,
            "exact": False,
            "n_model_classes_predicted": 2,
        },
        "importance": np.abs(imp).mean(0),
        "importance_by_class": imp,
        "importance_agreement": {"mean_correlation": 0.4},
        "existence": {
            "top_k": 2,
            "precision": 0.6,
            "chance": 0.3,
            "n_images": 10,
            "per_concept": {"red": {"times_in_top": 5, "precision": 0.5, "prevalence": 0.2}},
        },
        "location": {
            "n_pairs": 4,
            "pointing_accuracy": 0.5,
            "mean_energy": 0.4,
            "uniform_expectation": 0.2,
            "n_images": 2,
            "per_concept": {"sky": {"pointing": 0.5, "energy": 0.4, "area": 0.2, "n": 2}},
        },
        "spurious": [
            {
                "concept": nm,
                "score": 0.5 - 0.2 * i,
                "importance": 0.3,
                "worst_class": "gull",
                "worst_class_importance": 0.7,
                "attribute_rate": 0.1,
                "context": i == 0,
            }
            for i, nm in enumerate(NAMES)
        ],
        "spurious_share": 0.4,
        "examples": [
            {
                "index": i,
                "true": "gull",
                "predicted": "gull",
                "surrogate": "cardinal",
                "top": [("sky", 1.0), ("red", 0.5)],
            }
            for i in range(2)
        ],
        "example_images": rng.integers(0, 256, size=(2, 8, 8, 3), dtype=np.uint8),
        "example_maps": rng.random((2, 2, 8, 8)).astype(np.float32),
        "example_map_concepts": [["sky", "red"], ["sky", "red"]],
        "information": {
            "concept_information": {
                "per_concept": {
                    nm: {"with_concept": 0.1, "concept_entropy": 0.6, "with_label": 0.2}
                    for nm in NAMES
                }
            },
            "leakage": {
                "method": "ksg",
                "total": 0.1,
                "conditioning": "exact",
                "n_patterns": 4,
                "per_concept": {"red": 0.05},
                "classifier_total": 0.1,
                "entropy_given_concepts": 0.5,
            },
            "completeness": {"completeness": 0.9, "random_completeness": 0.1},
            "nec": {"levels": [1, 2, 3], "accuracy": {"evaluation": [0.5, 0.6, 0.7]}},
            "interventions": {
                "steps": [0, 1, 2],
                "accuracy": {"random": [0.5, 0.6, 0.7]},
                "values": "true",
            },
        },
    }


def _without(path: tuple, key: str) -> dict:
    """The full fields with ``key`` deleted from the dict at ``path``."""
    fields = copy.deepcopy(_full())
    target = fields
    for step in path:
        target = target[step]
    del target[key]
    return fields


# (where the key is, the key, the start of the error); the message then lists the keys
# the dict has and the keys the report reads
MISSING = {
    "fidelity model_accuracy": (
        ("fidelity",),
        "model_accuracy",
        r"result\.fidelity: missing key 'model_accuracy' \(got keys 'agreement', "
        r"'surrogate_accuracy', 'n_fit', 'n_eval', 'exact', 'n_model_classes_predicted'; the "
        r"report reads 'agreement', 'model_accuracy', 'surrogate_accuracy', 'n_fit', 'n_eval', "
        r"as an AuditResult from audit\(\) has them\)",
    ),
    "fidelity n_eval": (("fidelity",), "n_eval", r"result\.fidelity: missing key 'n_eval' "),
    "spurious importance": (
        ("spurious", 1),
        "importance",
        r"result\.spurious\[1\]: missing key 'importance' \(got keys 'concept', 'score', ",
    ),
    "spurious context": (("spurious", 2), "context", r"result\.spurious\[2\]: missing key 'cont"),
    "examples top": (("examples", 0), "top", r"result\.examples\[0\]: missing key 'top' "),
    "examples surrogate": (
        ("examples", 1),
        "surrogate",
        r"result\.examples\[1\]: missing key 'surrogate' ",
    ),
    "importance agreement": (
        ("importance_agreement",),
        "mean_correlation",
        r"result\.importance_agreement: missing key 'mean_correlation' \(got an empty dict; ",
    ),
    "existence chance": (("existence",), "chance", r"result\.existence: missing key 'chance' "),
    "existence per_concept": (
        ("existence",),
        "per_concept",
        r"result\.existence: missing key 'per_concept' ",
    ),
    "existence row": (
        ("existence", "per_concept", "red"),
        "prevalence",
        r"result\.existence\['per_concept'\]\['red'\]: missing key 'prevalence' ",
    ),
    "location n_pairs": (("location",), "n_pairs", r"result\.location: missing key 'n_pairs' "),
    "location row": (
        ("location", "per_concept", "sky"),
        "area",
        r"result\.location\['per_concept'\]\['sky'\]: missing key 'area' ",
    ),
    "information nec": (("information",), "nec", r"result\.information: missing key 'nec' "),
    "leakage conditioning": (
        ("information", "leakage"),
        "conditioning",
        r"result\.information\['leakage'\]: missing key 'conditioning' ",
    ),
    "leakage ceiling": (
        ("information", "leakage"),
        "entropy_given_concepts",
        r"result\.information\['leakage'\]: missing key 'entropy_given_concepts' ",
    ),
    "completeness random": (
        ("information", "completeness"),
        "random_completeness",
        r"result\.information\['completeness'\]: missing key 'random_completeness' ",
    ),
    "nec evaluation": (
        ("information", "nec", "accuracy"),
        "evaluation",
        r"result\.information\['nec'\]\['accuracy'\]: missing key 'evaluation' ",
    ),
    "interventions values": (
        ("information", "interventions"),
        "values",
        r"result\.information\['interventions'\]: missing key 'values' ",
    ),
    "concept information row": (
        ("information", "concept_information", "per_concept", "wing"),
        "with_label",
        r"result\.information\['concept_information'\]\['per_concept'\]\['wing'\]: missing "
        r"key 'with_label' ",
    ),
}


def test_the_full_result_renders():
    html = render_report(AuditResult(**_full()))
    assert html.startswith("<!DOCTYPE html>") and "Yeh et al. 2020" in html
    assert "Precision@2: 0.600" in html and "4 scored (image, concept) pairs" in html


@pytest.mark.parametrize("case", list(MISSING))
def test_a_missing_key_is_named_with_its_field(case):
    path, key, message = MISSING[case]
    with pytest.raises(ValueError, match=message):
        render_report(AuditResult(**_without(path, key)))


def test_several_missing_keys_are_all_named():
    fields = _full()
    fields["fidelity"] = {"agreement": 0.9}
    with pytest.raises(ValueError) as info:
        render_report(AuditResult(**fields))
    assert str(info.value) == (
        "result.fidelity: missing keys 'model_accuracy', 'surrogate_accuracy', 'n_fit', "
        "'n_eval' (got keys 'agreement'; the report reads 'agreement', 'model_accuracy', "
        "'surrogate_accuracy', 'n_fit', 'n_eval', as an AuditResult from audit() has them)"
    )


def test_a_field_of_the_wrong_type_is_named():
    fields = _full()
    fields["spurious"] = [("sky", 0.5)]
    with pytest.raises(TypeError, match=r"result\.spurious\[0\]: expected a dict with keys "):
        render_report(AuditResult(**fields))
    fields = _full()
    fields["fidelity"] = None
    with pytest.raises(TypeError, match=r"result\.fidelity: expected a dict .*, got NoneType"):
        render_report(AuditResult(**fields))


def test_maps_without_their_concept_names_are_named():
    fields = _full()
    fields["example_map_concepts"] = [["sky", "red"]]
    with pytest.raises(ValueError, match=r"result\.example_map_concepts: expected a list of "):
        render_report(AuditResult(**fields))


def test_save_of_a_result_missing_a_key_leaves_the_old_pair(tmp_path):
    AuditResult(**_full()).save(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ValueError, match=r"result\.examples\[0\]: missing key 'top' "):
        AuditResult(**_without(("examples", 0), "top")).save(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_keys_the_report_reads_with_get_stay_optional():
    fields = _full()
    for key in ("exact", "n_model_classes_predicted"):
        del fields["fidelity"][key]
    del fields["location"]["per_concept"]
    fields["information"]["leakage"] = {"method": "classifier", "n_patterns": 40}
    fields["information"]["nec"] = None
    html = render_report(AuditResult(**fields))
    assert "the classifier form H(Y | C) &minus; H(Y | C, \u0108) from cross-validated" in html
    # the parts that may be None, and a result without maps or examples
    fields.update(
        importance_agreement=None, existence=None, location=None, information=None, examples=[]
    )
    fields.update(example_images=None, example_maps=None, example_map_concepts=[])
    assert 'id="information"' in render_report(AuditResult(**fields))


def test_top_spurious_names_a_row_without_a_score():
    fields = _full()
    del fields["spurious"][0]["score"]
    with pytest.raises(ValueError, match=r"result\.spurious\[0\]: missing key 'score' "):
        AuditResult(**fields).top_spurious()
    # what top_spurious reads is all it needs (the AuditResult docstring's rows)
    fields["spurious"] = [{"concept": "sky", "score": 0.5}]
    assert AuditResult(**fields).top_spurious() == ["sky"]


def test_repr_of_a_hand_built_result_never_raises():
    # Before: repr() raised KeyError('concept') for a spurious row without "concept" and
    # TypeError for fidelity["agreement"] None (':.3f' of None): the object an error was
    # about could not even be shown
    fields = _without(("spurious", 0), "concept")
    fields["fidelity"]["agreement"] = None
    text = repr(AuditResult(**fields))
    assert text == (
        "AuditResult(model=torch, concepts=3, fidelity=None, spurious_share=0.400, "
        "most spurious=['?', 'sky', 'wing'])"
    )
    full = repr(AuditResult(**_full()))
    assert "fidelity=0.900, spurious_share=0.400, most spurious=['red', 'sky', 'wing']" in full


def test_repr_of_a_result_with_fields_that_are_not_lists_never_raises():
    # Before: repr() of a hand-built result with spurious=None raised TypeError ('NoneType'
    # object is not subscriptable), and with concept_names=None ('has no len()'), though
    # __repr__ says it never raises; its rows as any mapping, not only a dict
    from types import MappingProxyType

    fields = _full()
    fields.update(spurious=None, concept_names=None, fidelity=MappingProxyType({"agreement": 1}))
    assert repr(AuditResult(**fields)) == (
        "AuditResult(model=torch, concepts=?, fidelity=1.000, spurious_share=0.400, "
        "most spurious=[])"
    )
    fields.update(spurious=[MappingProxyType({"concept": "sky"}), "not a row"])
    assert "most spurious=['sky', '?'])" in repr(AuditResult(**fields))
