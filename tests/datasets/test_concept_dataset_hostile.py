"""The concept-dataset contract on hostile input: ConceptDataset's fields and subset, and
as_concept_dataset's dicts. (The real-dataset adapters are in test_datasets_hostile.py.)

Every case was BAD before the fix (its comment says what happened): a traceback from deep
inside numpy, a silent wrong result, or a memory blow-up.
"""

from __future__ import annotations

import numpy as np
import pytest

from bottlekit.datasets import ConceptDataset
from bottlekit.datasets.conversion import as_concept_dataset

N = 4
BASE = dict(
    images=np.zeros((N, 8, 8, 3), np.uint8),
    labels=[0, 1, 1, 0],
    class_names=["a", "b"],
    concept_names=["x", "y"],
    concept_labels=[[1, 0], [0, 1], [1, 1], [0, 0]],
)
NO_CONCEPTS = {"concept_names": None, "concept_labels": None}


def _dataset(**changes):
    return ConceptDataset(**(BASE | changes))


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        # before: numpy's "setting an array element with a sequence. The requested array has
        # an inhomogeneous shape ...", naming no field
        ({"labels": [0, [1], 1, 0]}, ValueError, r"labels: expected integer class indices .*ragg"),
        # before: a label of 10**9 without class names built a billion default names
        # (MemoryError)
        (
            {"labels": [0, 1, 1, 10**9], "class_names": None, **NO_CONCEPTS},
            ValueError,
            r"labels: class index 1000000000 would make 1000000001 classes .*give class_names",
        ),
        # before: duplicated names were kept: two classes (parts, values) of one name
        ({"class_names": ["a", "a"]}, ValueError, r"class_names: names must be unique, \['a'\]"),
        (
            {"part_masks": np.zeros((N, 2, 8, 8), bool), "part_names": ["p", "p"]},
            ValueError,
            r"part_names: names must be unique, \['p'\] repeat",
        ),
        (
            {
                "part_keypoints": np.zeros((N, 2, 3)),
                "keypoint_names": ["k", "k"],
                "part_names": ["p"],
            },
            ValueError,
            r"keypoint_names: names must be unique",
        ),
        (
            {"spurious_labels": [0, 1, 0, 1], "spurious_names": ["s", "s"]},
            ValueError,
            r"spurious_names: names must be unique",
        ),
        # before: numpy's "inhomogeneous shape" message
        (
            {"part_masks": [np.zeros((1, 8, 8))] * 3 + [np.zeros((2, 8, 8))], "part_names": ["p"]},
            TypeError,
            r"part_masks: expected a numeric array, got list \(ragged or not numbers\)",
        ),
        # before: complex masks were taken as their real part
        (
            {"part_masks": np.ones((N, 1, 8, 8)) + 0j, "part_names": ["p"]},
            TypeError,
            r"part_masks: expected real numbers, got complex values",
        ),
        # before: "'int' object is not iterable"
        (
            {"part_of_concept": 0, "part_names": ["p"]},
            ValueError,
            r"part_of_concept: expected 2 part indices \(one per concept\), got shape \(\)",
        ),
        # before: OverflowError "Python int too large to convert to C long"
        (
            {"part_of_concept": [2**70, 0], "part_names": ["p"]},
            ValueError,
            r"part_of_concept: expected part indices in 0\.\.0 or -1, got \[0, 1180591620717",
        ),
        # before: a negative count of skipped items was accepted
        ({"skipped": {"x": -5}}, ValueError, r"skipped: expected a dict of str to int counts >="),
    ],
)
def test_bad_fields_are_named(changes, error, message):
    with pytest.raises(error, match=message):
        _dataset(**changes)


def test_subset_with_an_unsigned_index_beyond_int64_is_refused():
    # before: np.uint64(2**64 - 1) was cast to -1 and selected the last image, silently
    with pytest.raises(
        ValueError, match=r"indices: expected positions in -4\.\.3 of the 4 images, got 1844674"
    ):
        _dataset().subset(np.array([2**64 - 1], np.uint64))


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        # before: the TypeError of the field's check lost the argument's name ("data.")
        (
            BASE | {"concept_labels": [["1", "0"]] * N},
            TypeError,
            r"^data\.concept_labels: expected a numeric array, got text values",
        ),
        (
            BASE | {"part_masks": np.ones((N, 1, 8, 8)) + 0j, "part_names": ["p"]},
            TypeError,
            r"^data\.part_masks: expected real numbers",
        ),
    ],
)
def test_dict_conversion_names_the_argument_for_type_errors_too(data, error, message):
    with pytest.raises(error, match=message):
        as_concept_dataset(data, name="data")


def test_lazy_image_and_mask_subsets_check_their_indices():
    from bottlekit.datasets.lazy import KeypointPartMasks, ResizedImages

    images = ResizedImages(["a.jpg", "b.jpg", "c.jpg"], 32)
    # before: int(0.5) took image 0, silently (files are only read later)
    with pytest.raises(TypeError, match=r"indices: expected a 1-D array of int or a boolean"):
        images.subset([0.5])
    # before: True was image 1; a mask must have one entry per image
    with pytest.raises(ValueError, match=r"mask of shape \(3,\), got bool values of shape \(1"):
        images.subset(np.array([True]))
    assert images.subset([-1, 0]).items == [images.items[2], images.items[0]]
    assert images.subset([False, True, True]).items == images.items[1:]
    kp = np.zeros((3, 1, 3))
    masks = KeypointPartMasks(kp, np.ones((3, 4)), ["box"], (8, 8))
    # before: np.asarray(rows, np.int64) read 2**64 - 1 as -1, the last image, silently
    with pytest.raises(ValueError, match=r"rows: expected indices in -3\.\.2, got 18446744"):
        masks.take(np.array([2**64 - 1], np.uint64))
    # before: 1.9 was truncated to image 1
    with pytest.raises(TypeError, match=r"rows: expected a 1-D array of int, got float64"):
        masks.take([1.9])
    assert masks.take([-1]).keypoints.shape == (1, 1, 3)
