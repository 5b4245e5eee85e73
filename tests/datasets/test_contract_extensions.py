"""The ConceptDataset fields real datasets need: keypoint names, object boxes, a spurious
attribute, skipped counts, groups and lazy part masks; and ``load_dataset``'s dispatch."""

from __future__ import annotations

import numpy as np
import pytest

from bottlekit.datasets import (
    ConceptDataset,
    KeypointPartMasks,
    as_concept_dataset,
    load_dataset,
)

N, H = 4, 8


def _ds(**kw):
    base = {"images": np.zeros((N, H, H, 3), np.uint8), "labels": [0, 1, 0, 1]}
    base.update(kw)
    return ConceptDataset(**base)


def _masks():
    kp = np.zeros((N, 2, 3))
    kp[:, 0] = [2.0, 2.0, 1]
    kp[1, 0, 2] = 0  # invisible in image 1
    boxes = np.tile([0.0, 0.0, 8.0, 8.0], (N, 1))
    return kp, boxes, KeypointPartMasks(kp, boxes, [[0], [0, 1], "box"], (H, H), radius=0.15)


def test_new_fields_are_stored_and_subset():
    kp, boxes, masks = _masks()
    ds = _ds(
        part_keypoints=kp,
        keypoint_names=["a", "b"],
        part_masks=masks,
        part_names=["pa", "pab", "box"],
        object_boxes=boxes,
        spurious_labels=[1, 0, 0, 1],
        spurious_names=["land", "water"],
        skipped={"keypoints not visible": 5},
        groups=np.array(["l1", "l2", "l1", "l3"], dtype=object),
    )
    assert ds.groups.dtype.kind == "U"  # strings from an object array: stored as str
    assert ds.subset([3, 1]).groups.tolist() == ["l3", "l2"]
    assert ds.part_masks is masks and ds.keypoint_names == ["a", "b"]
    sub = ds.subset([3, 1])
    assert isinstance(sub.part_masks, KeypointPartMasks)  # still lazy
    np.testing.assert_array_equal(sub.spurious_labels, [1, 0])
    np.testing.assert_array_equal(sub.object_boxes, boxes[[3, 1]])
    np.testing.assert_array_equal(np.asarray(sub.part_masks), np.asarray(masks)[[3, 1]])
    assert sub.skipped == {"keypoints not visible": 5}
    assert as_concept_dataset(dict(images=ds.images, labels=ds.labels, skipped={"x": 1})).skipped


def test_a_torch_mask_tensor_is_still_converted():
    import torch

    masks = torch.zeros((N, 2, H, H), dtype=torch.bool)
    masks[:, 0, :4] = True
    ds = _ds(part_masks=masks, part_names=["top", "bottom"])
    assert isinstance(ds.part_masks, np.ndarray)
    np.testing.assert_array_equal(ds.part_masks, masks.numpy())  # the same pixels, all of them


def test_keypoint_masks_closed_form():
    _, _, masks = _masks()
    m = np.asarray(masks)
    assert m.shape == (N, 3, H, H) and m.dtype == bool
    # r = max(1, 0.15 * 8) = 1.2: the 4 pixel centres around (2, 2) are within it
    expect = np.zeros((H, H), bool)
    expect[1:3, 1:3] = True
    np.testing.assert_array_equal(m[0, 0], expect)
    assert not m[1, 0].any() and not m[1, 1].any()  # invisible keypoint: empty part
    np.testing.assert_array_equal(m[0, 1], expect)  # "b" is (0, 0) and invisible
    assert m[:, 2].all()  # the box covers the image
    np.testing.assert_array_equal(masks[2], m[2])
    np.testing.assert_allclose(masks.radii(), 1.2)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"keypoint_names": ["a"]}, r"keypoint_names: given without part_keypoints"),
        (
            {"keypoint_names": ["a"], "part_keypoints": np.zeros((N, 2, 3))},
            r"part_keypoints: expected shape \(4, 1, 3\) \(one row per keypoint name\)",
        ),
        ({"object_boxes": np.zeros((N, 3))}, r"object_boxes: expected shape \(4, 4\)"),
        ({"object_boxes": -np.ones((N, 4))}, r"object_boxes: width and height must be >= 0"),
        ({"spurious_labels": [0, 1, 0, 1]}, r"spurious_names: missing"),
        ({"spurious_names": ["a"]}, r"spurious_names: given without spurious_labels"),
        (
            {"spurious_labels": [0, 1, 2, 1], "spurious_names": ["a", "b"]},
            r"spurious_labels: expected values in 0\.\.1 .*got 0\.\.2",
        ),
        ({"skipped": {"x": "many"}}, r"skipped: expected a dict of str to int counts"),
        ({"groups": [0, 1, 2]}, r"groups: expected shape \(4,\) \(one group per image\), got "),
        ({"groups": [[0], [1, 2], [3], [4]]}, r"groups: .*got a ragged sequence"),
        ({"groups": [0.0, 1.0, np.nan, 1.0]}, r"groups: expected integers or str .*float64"),
        ({"groups": [True, False, True, True]}, r"groups: expected integers or str .*bool"),
        # before: numpy made them four strings, and 1 and "1" one group
        ({"groups": [1, "1", 2, "a"]}, r"groups: .*got a mix of \['int', 'str'\]"),
        ({"groups": ["a", 1.5, "b", "c"]}, r"groups: .*got a mix of \['float', 'str'\]"),
        (
            {
                "part_masks": KeypointPartMasks(
                    np.zeros((3, 1, 3)), np.zeros((3, 4)), [[0]], (H, H)
                ),
                "part_names": ["p"],
            },
            r"part_masks: expected a lazy bool mask array of shape \(4, P, H, W\)",
        ),
    ],
)
def test_new_fields_are_validated(kw, match):
    with pytest.raises(ValueError, match=match):
        _ds(**kw)


def test_load_dataset_dispatch(tmp_path):
    with pytest.raises(
        ValueError, match=r"options: \['colour'\] are not options of cub; it takes"
    ):
        load_dataset("cub", tmp_path, colour=1)
    with pytest.raises(ValueError, match=r"name: unknown dataset 'mnist'"):
        load_dataset("mnist", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"CUB folder not found"):
        load_dataset("CUB", tmp_path / "none")
