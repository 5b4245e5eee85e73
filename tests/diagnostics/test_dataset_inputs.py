"""``concept_existence`` and ``concept_location`` read a World, a dict or a ConceptDataset
and give the same results as from the arrays they hold (``audit``: tests/diagnostics/
test_audit.py::test_same_audit_from_world_dict_and_concept_dataset)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from bottlekit.datasets import DATASET_KEYS, ConceptDataset
from bottlekit.diagnostics.existence import concept_existence
from bottlekit.diagnostics.location import concept_location

MAPPED = ["red body", "long tail", "water background"]


@pytest.fixture(scope="module")
def world():
    from bottlekit.world import make_world

    return make_world(24, "test", random_state=11)


def _three_forms(world):
    fields = {name: getattr(world, name) for name in DATASET_KEYS}
    return {"world": world, "dict": fields, "dataset": ConceptDataset(**fields)}


class TopModel:
    """explain(): the top-k concepts are the k largest columns of X."""

    def __init__(self, names, n_classes):
        self.concept_names_ = list(names)
        self.classes_ = np.arange(n_classes)

    def explain(self, X, top_k, target=None):
        top = np.argsort(-X, axis=1, kind="stable")[:, :top_k]
        return SimpleNamespace(top_indices=top, target=np.zeros(len(X), int))


def test_existence_is_the_same_from_every_form(world):
    rng = np.random.default_rng(0)
    model = TopModel(world.concept_names[::-1], len(world.class_names))  # reordered names
    X = rng.standard_normal((len(world), len(world.concept_names)))
    ref = concept_existence(model, X, world.concept_labels, 4, label_names=world.concept_names)
    assert 0 < ref.precision < 1
    for name, data in _three_forms(world).items():
        got = concept_existence(model, X, data, 4)
        for field in ("top_indices", "present", "target", "classes"):
            np.testing.assert_array_equal(getattr(got, field), getattr(ref, field), err_msg=name)
        assert got.chance == ref.chance and got.concept_names == ref.concept_names
    # the dataset's concept names align the columns: renamed columns change the result
    # (which top concepts are labelled present; the precision alone, a count of 96 slots,
    # came out equal by chance on 1 of 20 fresh seeds)
    renamed = dataclasses.replace(world, concept_names=world.concept_names[::-1])
    assert not np.array_equal(concept_existence(model, X, renamed, 4).present, ref.present)
    no_labels = ConceptDataset(world.images, world.labels)
    with pytest.raises(ValueError, match="concept_labels: the dataset has no per-image"):
        concept_existence(model, X, no_labels, 4)


def test_location_is_the_same_from_every_form(world):
    rng = np.random.default_rng(1)
    maps = rng.random((len(world), len(MAPPED), 64, 64))
    cols = [world.concept_names.index(c) for c in MAPPED]
    ref = concept_location(
        maps,
        world.part_masks,
        world.part_of_concept[cols],
        world.concept_labels[:, cols],
        concept_names=MAPPED,
    )
    assert ref.n_pairs > 0
    for name, data in _three_forms(world).items():
        got = concept_location(maps, data, concept_names=MAPPED)
        for field in ("pointing", "energy", "area", "scored"):
            np.testing.assert_array_equal(getattr(got, field), getattr(ref, field), err_msg=name)
        assert got.concept_names == MAPPED


def test_location_from_a_dataset_needs_masks_and_parts(world):
    maps = np.zeros((len(world), 1, 64, 64))
    with pytest.raises(ValueError, match="part_of_concept: taken from the dataset"):
        concept_location(maps, world, [0], concept_names=["red body"])
    no_masks = dataclasses.replace(world, part_masks=None)
    with pytest.raises(ValueError, match="part_masks: the dataset has no part_masks"):
        concept_location(maps, no_masks, concept_names=["red body"])
    with pytest.raises(ValueError, match=r"concept_names: \['purple'\] are not concepts"):
        concept_location(maps, world, concept_names=["purple"])
    with pytest.raises(ValueError, match="the maps have 1 concepts, the dataset 31"):
        concept_location(maps, world)
    parts = world.part_of_concept.copy()
    parts[world.concept_names.index("red body")] = -1
    partless = dataclasses.replace(world, part_of_concept=parts)
    with pytest.raises(ValueError, match=r"\['red body'\] belong to no part"):
        concept_location(maps, partless, concept_names=["red body"])
    with pytest.raises(ValueError, match="part_of_concept: required with an array"):
        concept_location(maps, world.part_masks)


def test_soft_concept_labels_of_a_dataset_are_binarised_at_one_half(world):
    """A dataset may hold soft concept labels in [0, 1]; existence and location refused
    them as "concept_labels: expected 0/1", an argument that is left None with a dataset.
    They are read as present at >= 0.5, as the faithfulness metrics read them."""
    hard = world.concept_labels.astype(bool)
    fields = {name: getattr(world, name) for name in DATASET_KEYS}
    soft = ConceptDataset(**{**fields, "concept_labels": np.where(hard, 0.7, 0.3)})
    rng = np.random.default_rng(0)
    model = TopModel(world.concept_names, len(world.class_names))
    X = rng.standard_normal((len(world), len(world.concept_names)))
    ref = concept_existence(model, X, hard, 4, label_names=world.concept_names)
    got = concept_existence(model, X, soft, 4)
    np.testing.assert_array_equal(got.present, ref.present)
    assert got.chance == ref.chance
    maps = rng.random((len(world), len(MAPPED), 64, 64))
    cols = [world.concept_names.index(c) for c in MAPPED]
    parts = world.part_of_concept[cols]
    ref = concept_location(maps, world.part_masks, parts, hard[:, cols], concept_names=MAPPED)
    got = concept_location(maps, soft, concept_names=MAPPED)
    np.testing.assert_array_equal(got.scored, ref.scored)
    np.testing.assert_array_equal(got.energy, ref.energy)
