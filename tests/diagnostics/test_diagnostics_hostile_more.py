"""More hostile inputs to the diagnostics (the cases ``test_diagnostics_hostile.py`` does
not cover): a clear error naming the argument, before any expensive work.

Each case states what happened before the fix.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from bottlekit.diagnostics import (
    audit,
    concept_completeness,
    concept_existence,
    concept_global_importance,
    concept_leakage,
    concept_location,
    intervention_curves,
    model_features,
    spurious_concept_scores,
)
from bottlekit.diagnostics.faithfulness import accuracy_at_nec, prune_to_nec


def _head(**kw):
    fields = {"coef_": np.ones((2, 2)), "concept_names_": ["a", "b"], **kw}
    return SimpleNamespace(**fields)


MAPS = np.random.default_rng(0).random((2, 2, 4, 4))
MASKS = np.zeros((2, 2, 4, 4), bool)
MASKS[:, 0, :2] = True
MASKS[:, 1, 2:] = True
CLASSIFIER = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 3))
SMALL_IMAGES = np.zeros((4, 4, 4, 3), np.uint8)

ARRAY_CASES = {
    # before: the text "1" parsed as weight 1.0
    "global importance head of text": (
        lambda: concept_global_importance(_head(coef_=np.full((2, 2), "1"))),
        TypeError,
        "model.coef_: expected a numeric array, got text values",
    ),
    # before: the imaginary part dropped with only a ComplexWarning
    "global importance complex head": (
        lambda: concept_global_importance(_head(coef_=np.ones((2, 2)) + 1j)),
        TypeError,
        "model.coef_: expected real numbers",
    ),
    # before: NaN importances returned; a scale of another length failed with numpy's
    # "operands could not be broadcast"; a negative scale flipped the signs silently
    "global importance NaN scale": (
        lambda: concept_global_importance(_head(concept_scale_=np.array([np.nan, 1.0]))),
        ValueError,
        r"model.concept_scale_: expected 2 finite standard deviations >= 0",
    ),
    "global importance scale of another length": (
        lambda: concept_global_importance(_head(concept_scale_=np.ones(5))),
        ValueError,
        r"model.concept_scale_: expected 2 .*got shape \(5,\)",
    ),
    "global importance negative scale": (
        lambda: concept_global_importance(_head(concept_scale_=np.array([-1.0, 1.0]))),
        ValueError,
        r"model.concept_scale_: .*values in \[-1, 1\]",
    ),
    # before: "ab" split into the letters 'a', 'b', which matched the model's concepts
    "global importance names a string": (
        lambda: concept_global_importance(_head(), np.ones((2, 2)), concept_names="ab"),
        TypeError,
        "concept_names: expected a list of 2 names, got str",
    ),
    # before: the first of the repeated columns was used without a word
    "global importance names repeated": (
        lambda: concept_global_importance(_head(), np.ones((2, 3)), concept_names=["a", "b", "a"]),
        ValueError,
        r"concept_names: expected unique names, \['a'\] repeat",
    ),
    # before: numpy's "attempt to get argmax of an empty sequence"
    "spurious importance of no class": (
        lambda: spurious_concept_scores(np.ones((0, 3)), None),
        ValueError,
        r"importance_by_class: expected a finite \(C, k\) array with C, k >= 1, got shape "
        r"\(0, 3\)",
    ),
    # before: "'int' object is not iterable"
    "location names a number": (
        lambda: concept_location(MAPS, MASKS, [0, 1], concept_names=5),
        TypeError,
        "concept_names: expected a list of 2 names, got int",
    ),
    # before: "'str' object is not callable" from the first batch
    "features preprocess a string": (
        lambda: model_features(CLASSIFIER, SMALL_IMAGES, preprocess="resize"),
        TypeError,
        r"preprocess: expected a callable uint8 images \(n, H, W, 3\) -> float tensor",
    ),
    # before: torch's "Cannot copy out of meta tensor; no data!"
    "features preprocess returns a meta tensor": (
        lambda: model_features(
            CLASSIFIER, SMALL_IMAGES, preprocess=lambda a: torch.zeros(len(a), 48, device="meta")
        ),
        ValueError,
        "preprocess: the returned tensor is a tensor on the 'meta' device",
    ),
}


@pytest.mark.parametrize("case", list(ARRAY_CASES))
def test_hostile_array_inputs_name_the_argument(case):
    call, error, message = ARRAY_CASES[case]
    with pytest.raises(error, match=message):
        call()


# ------------------------------------------------------------ needs a fitted model
MODEL_CASES = {
    # before: scikit-learn's "could not convert string to float" / "Input X contains NaN"
    # / "X has 5 features, but PosthocCBM is expecting 64"; X=None was reported as
    # "concept_labels: has 48 rows but X has None images"
    "existence X of text": (
        lambda m, X, w: concept_existence(m, np.full(X.shape, "x"), w, 3),
        TypeError,
        "X: expected a numeric array, got text values",
    ),
    "existence X with NaN": (
        lambda m, X, w: concept_existence(m, np.full(X.shape, np.nan), w, 3),
        ValueError,
        "X: contains NaN or inf; expected finite embeddings",
    ),
    "existence X of another width": (
        lambda m, X, w: concept_existence(m, X[:, :5], w, 3),
        ValueError,
        "X: has 5 columns but the model expects 64 features",
    ),
    "existence X None": (
        lambda m, X, w: concept_existence(m, None, w, 3),
        ValueError,
        r"X: expected embeddings of shape \(n_images, d\), got \(\)",
    ),
    # before: the text "1" parsed as cost 1.0
    "interventions costs of text": (
        lambda m, X, w: intervention_curves(m, X, w, X, w, costs=np.full(31, "1")),
        TypeError,
        "costs: expected a numeric array, got text values",
    ),
    # before: Python's "could not convert string to float: 'abc'", naming no argument
    "interventions coop_weights a string": (
        lambda m, X, w: intervention_curves(m, X, w, X, w, coop_weights="abc"),
        TypeError,
        "coop_weights: expected a numeric array, got text values",
    ),
    # before: ran for ever (one logistic regression per random baseline)
    "completeness a billion baselines": (
        lambda m, X, w: concept_completeness(m, X, w, X, w, n_random=10**9),
        ValueError,
        "n_random: expected at most 1000 random baselines",
    ),
    # before: numpy's "expected non-negative integer", after the data were checked
    "prune seed negative": (
        lambda m, X, w: prune_to_nec(m, 5, X=X, dataset=w, random_state=-1),
        ValueError,
        "random_state: expected an int >= 0, got -1",
    ),
    # before: numpy tried to allocate 7.5 GiB of penalties (MemoryError); accuracy_at_nec
    # with 10**7 ran for ever
    "prune a billion penalties": (
        lambda m, X, w: prune_to_nec(m, 5, X=X, dataset=w, n_lambdas=10**9),
        ValueError,
        r"n_lambdas: expected an int >= 1 and <= 1000, got 1000000000",
    ),
    "accuracy at NEC ten million penalties": (
        lambda m, X, w: accuracy_at_nec(m, X, w, {"test": (X, w)}, n_lambdas=10**7),
        ValueError,
        r"n_lambdas: expected an int >= 1 and <= 1000",
    ),
}


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_hostile_model_inputs_name_the_argument(fitted, case):
    world, _, X, _, model = fitted
    call, error, message = MODEL_CASES[case]
    with pytest.raises(error, match=message):
        call(model, X, world)


AUDIT_CASES = {
    # before: "'int' object is not iterable" / "'NoneType' object is not iterable"
    "context_concepts a number": (
        {"context_concepts": 3},
        TypeError,
        "context_concepts: expected a list of concept names, got int",
    ),
    "context_parts None": (
        {"context_parts": None},
        TypeError,
        "context_parts: expected a list of part names, got NoneType",
    ),
    # before: ignored without a word (a CBM is audited on the backbone's embeddings)
    "feature_layer with a CBM": (
        {"feature_layer": "layer4"},
        ValueError,
        "feature_layer: only used for a torch classifier",
    ),
    "preprocess with a CBM": (
        {"preprocess": lambda a: torch.as_tensor(a)},
        ValueError,
        "preprocess: only used for a torch classifier",
    ),
}


@pytest.mark.parametrize("case", list(AUDIT_CASES))
def test_hostile_audit_arguments_name_the_argument(fitted, case):
    world, bk, _, _, model = fitted
    kwargs, error, message = AUDIT_CASES[case]
    kwargs = {"backbone": bk, "n_examples": 0, "n_location_images": 0, **kwargs}
    with pytest.raises(error, match=message):
        audit(model, world, information=False, **kwargs)


def test_valid_inputs_still_score(fitted):
    """What the new checks leave alone: a zero scale, a list of names, numeric costs."""
    gi = concept_global_importance(_head(concept_scale_=np.array([0.0, 2.0])))
    np.testing.assert_allclose(gi.importance, [0.0, 2.0])
    world, _, X, _, model = fitted
    res = concept_existence(model, X.astype(np.float32), world, 3)
    # reference: the share of the top-3 explained concepts labelled present, by hand
    top = model.explain(X.astype(np.float32), top_k=3).top_indices
    labels = world.concept_labels[:, [world.concept_names.index(c) for c in model.concept_names_]]
    hits = np.take_along_axis(labels == 1, top, axis=1)
    assert res.precision == pytest.approx(hits.mean(), abs=1e-12)


def test_existence_label_names_repeated_or_a_string(fitted):
    """Before: a repeated label name aligned the model's concept with the first of its
    columns without a word (precision from one column, the other ignored); a string was
    split into its letters."""
    world, _, X, _, model = fitted
    L, names = world.concept_labels, list(world.concept_names)
    with pytest.raises(ValueError, match=r"label_names: expected unique names, \['red body'\]"):
        concept_existence(
            model, X, np.hstack([1 - L[:, :1], L]), 3, label_names=[names[0], *names]
        )
    with pytest.raises(TypeError, match="label_names: expected a list of 31 names, got a str"):
        concept_existence(model, X, L, 3, label_names="x" * 31)


def test_classifier_leakage_with_classes_smaller_than_the_folds(fitted):
    """Before: scikit-learn's "n_splits=5 cannot be greater than the number of members in
    each class" (2 images per class), and with a class of one image a warning and then
    "This solver needs samples of at least 2 classes", naming no argument."""
    world, _, X, _, model = fitted
    data = {
        "images": world.images,
        "labels": world.labels,
        "concept_names": list(world.concept_names),
        "concept_labels": world.concept_labels,
    }
    assert np.bincount(world.labels).min() == 2
    with pytest.raises(ValueError, match=r"folds: 5 stratified folds need 5 images of each class"):
        concept_leakage(model, X, data, method="classifier")
    lone = {**data, "labels": np.r_[np.zeros(47, int), 1]}
    with pytest.raises(ValueError, match=r"dataset.labels: class 1 has a single image"):
        concept_leakage(model, X, lone, method="classifier", folds=2)
    res = concept_leakage(model, X, data, method="classifier", folds=2)
    assert res.method == "classifier" and np.isfinite(res.total)


def test_location_energy_of_maps_near_the_float_maximum():
    """Before: the positive mass of a map of values near 1.8e308 summed to inf, the energy
    read NaN and the pair was counted as having no positive mass (with an overflow
    warning); the energy is a ratio, the same for the map divided by any positive number."""
    maps = np.zeros((1, 1, 4, 4))
    maps[0, 0, :2] = 1e308  # half the map inside the part, half outside at 0.5e308
    maps[0, 0, 2:] = 0.5e308
    masks = np.zeros((1, 1, 4, 4), bool)
    masks[0, 0, :2] = True
    with np.errstate(over="raise"):
        res = concept_location(maps, masks, [0])
    assert res.n_no_positive_mass == 0
    assert res.mean_energy == pytest.approx(2 / 3)
    assert res.mean_energy == pytest.approx(concept_location(maps / 1e308, masks, [0]).mean_energy)
