"""``ConceptDataset``: validation of every field, dict conversion, subsets, the World."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from bottlekit.datasets import DATASET_KEYS, ConceptDataset, as_concept_dataset
from bottlekit.images import ImageInputError

N, K, P, H = 6, 3, 2, 8


def _fields(**overrides):
    """A valid small dataset's fields: 6 images of 2 classes, 3 concepts, 2 parts."""
    rng = np.random.default_rng(0)
    masks = np.zeros((N, P, H, H), bool)
    masks[:, 0, :4] = True
    masks[:, 1, 4:] = True
    fields = {
        "images": rng.integers(0, 256, (N, H, H, 3), dtype=np.uint8),
        "labels": np.array([0, 1, 0, 1, 1, 0]),
        "class_names": ["cat", "dog"],
        "concept_names": ["furry", "barks", "sky"],
        "concept_labels": rng.integers(0, 2, (N, K)).astype(np.uint8),
        "concept_certainty": rng.integers(1, 5, (N, K)),
        "class_concept_matrix": np.array([[1.0, 0.0, 0.5], [1.0, 1.0, 0.5]]),
        "part_masks": masks,
        "part_keypoints": np.concatenate(
            [rng.uniform(0, H, (N, P, 2)), rng.integers(0, 2, (N, P, 1))], axis=2
        ),
        "part_names": ["top", "bottom"],
        "part_of_concept": [0, 0, None],
        "split": "train",
    }
    fields.update(overrides)
    return fields


def test_a_full_dataset_is_stored_as_given():
    f = _fields()
    ds = ConceptDataset(**f)
    assert len(ds) == N and ds.n_classes == 2 and ds.n_concepts == K
    assert ds.images is f["images"]  # not copied
    assert ds.concept_labels is f["concept_labels"]
    np.testing.assert_array_equal(ds.part_of_concept, [0, 0, -1])  # None -> -1
    assert ds.part_of_concept.dtype == np.int64
    assert ds.image_source.kind == "array"
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.labels = np.zeros(N, int)


def test_optional_annotations_of_real_datasets():
    images = np.zeros((N, H, H, 3), np.uint8)
    labels = np.array([0, 1, 2, 0, 1, 2])
    # CIFAR: no concepts; class names default to the indices
    cifar = ConceptDataset(images, labels)
    assert cifar.class_names == ["0", "1", "2"] and cifar.n_concepts == 0
    # AwA2: a class-level predicate matrix only (continuous strengths)
    awa = ConceptDataset(
        images, labels, concept_names=["stripes"], class_concept_matrix=[[80.0], [0.0], [3.5]]
    )
    assert awa.concept_labels is None and awa.class_concept_matrix.shape == (3, 1)
    # CUB: soft per-image labels with certainty and keypoints, no masks
    soft = np.linspace(0, 1, N * 2).reshape(N, 2)
    kp = np.zeros((N, 15, 3))
    cub = ConceptDataset(
        images,
        labels,
        concept_names=["red wing", "long beak"],
        concept_labels=soft,
        concept_certainty=np.full((N, 2), 4),
        part_keypoints=kp,
        part_names=[f"part{i}" for i in range(15)],
        part_of_concept=[3, -1],
    )
    assert cub.part_masks is None and cub.part_keypoints.shape == (N, 15, 3)


# field, bad value, words the message must contain (field, what was received, expected)
BAD_FIELDS = [
    ("labels", np.array([0, 1]), r"labels: expected shape \(6,\) .*got \(2,\)"),
    ("labels", np.zeros(N), r"labels: expected integer class indices, got dtype float64"),
    ("labels", np.array([0, 1, 0, 1, 1, -1]), r"labels: class indices must be >= 0, got -1"),
    ("labels", np.array([0, 1, 0, 1, 1, 2]), r"labels: class indices must be in 0\.\.1 .*got 2"),
    ("class_names", "cat dog", r"class_names: expected a list of str, got str"),
    ("class_names", ["cat", 2], r"class_names: item 1 has type int; expected str"),
    ("concept_names", ["a", "a", "b"], r"concept_names: names must be unique, \['a'\] repeat"),
    ("concept_names", ["a", "b"], r"concept_labels: expected shape \(6, 2\), got \(6, 3\)"),
    ("concept_labels", np.full((N, K), 2), r"concept_labels: expected values in \[0, 1\]"),
    ("concept_labels", np.full((N, K), np.nan), r"concept_labels: contains NaN"),
    ("concept_labels", np.zeros((N, 4)), r"concept_labels: expected shape \(6, 3\), got \(6, 4\)"),
    ("concept_certainty", np.ones((N, 2)), r"concept_certainty: expected shape \(6, 3\)"),
    ("class_concept_matrix", np.ones((3, K)), r"class_concept_matrix: expected shape \(2, 3\)"),
    ("part_masks", np.zeros((N, P, H)), r"part_masks: expected shape \(6, P, H, W\)"),
    ("part_masks", np.zeros((N, P, 4, 4), bool), r"part_masks: expected shape \(6, P, 8, 8\)"),
    ("part_masks", np.full((N, P, H, H), 3), r"part_masks: expected 0/1 or boolean values, got 3"),
    ("part_keypoints", np.zeros((N, P, 2)), r"part_keypoints: expected shape \(6, P, 3\)"),
    ("part_keypoints", np.zeros((N, 3, 3)), r"part_keypoints: has 3 parts but part_masks has 2"),
    (
        "part_keypoints",
        np.full((N, P, 3), 0.5),
        r"part_keypoints: expected 0/1 or boolean values in the visible column "
        r"\[\.\.\., 2\], got 0\.5",
    ),
    ("part_names", ["top"], r"part_names: expected 2 names \(one per part\), got 1"),
    ("part_of_concept", [0, 1], r"part_of_concept: expected 3 part indices .*got shape \(2,\)"),
    ("part_of_concept", [0, 1, 2], r"part_of_concept: expected part indices in 0\.\.1 or -1"),
    ("part_of_concept", [0, 1, 0.5], r"part_of_concept: item 2 is 0\.5"),
    ("split", 3, r"split: expected a str or None, got int"),
]


@pytest.mark.parametrize(("field", "value", "match"), BAD_FIELDS)
def test_each_field_is_validated(field, value, match):
    with pytest.raises(ValueError, match=match):
        ConceptDataset(**_fields(**{field: value}))


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (np.full((N, K), "x"), r"concept_labels: expected a numeric array, got text values"),
        # before: numpy parsed the text, and complex labels passed as numbers
        (np.full((N, K), "1"), r"concept_labels: expected a numeric array, got text values"),
        (np.ones((N, K)) + 0j, r"concept_labels: expected real numbers, got complex values"),
    ],
)
def test_concept_labels_must_be_real_numbers(value, match):
    with pytest.raises(TypeError, match=match):
        ConceptDataset(**_fields(concept_labels=value))


@pytest.mark.parametrize(
    ("missing", "match"),
    [
        ("concept_names", r"concept_names: missing; concept_labels is given"),
        ("concept_labels", r"concept_certainty: given without concept_labels"),
        ("part_names", r"part_names: missing; the part annotations need"),
    ],
)
def test_fields_that_need_another(missing, match):
    with pytest.raises(ValueError, match=match):
        ConceptDataset(**_fields(**{missing: None}))


def test_bad_images_raise_the_image_intake_error():
    with pytest.raises(ImageInputError, match=r"images: array has shape \(6, 8\)"):
        ConceptDataset(**_fields(images=np.zeros((N, H), np.uint8)))
    with pytest.raises(ValueError, match=r"labels: missing"):
        ConceptDataset(np.zeros((2, H, H, 3), np.uint8))


def _write_folder(root, broken: bool = False):
    from PIL import Image

    for cls in ("b_class", "a_class"):
        (root / cls).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((H, H, 3), 40 * i, np.uint8)).save(root / cls / f"{i}.png")
    if broken:
        (root / "b_class" / "9.png").write_bytes(b"not a png")


def test_a_folder_stays_lazy(tmp_path):
    _write_folder(tmp_path, broken=True)
    ds = ConceptDataset(tmp_path, split="test")  # labels and class names from the folder
    assert ds.class_names == ["a_class", "b_class"]
    np.testing.assert_array_equal(ds.labels, [0, 0, 1, 1, 1])
    assert ds.image_source.kind == "files"
    sub = ds.subset([0, 3])  # still not read: the broken file is only found on reading
    assert isinstance(sub, ConceptDataset) and sub.image_source.kind == "files"
    assert sub.image_source.to_array().shape == (2, H, H, 3)
    with pytest.raises(ValueError, match=r"cannot read image file .*9\.png"):
        ds.image_source.to_array()


def test_subset_indexes_per_image_fields_only():
    f = _fields()
    ds = ConceptDataset(**f)
    idx = [4, 0, 4]
    sub = ds.subset(idx)
    for name in ("images", "labels", "concept_labels", "concept_certainty", "part_masks"):
        np.testing.assert_array_equal(getattr(sub, name), np.asarray(f[name])[idx])
    np.testing.assert_array_equal(sub.part_keypoints, f["part_keypoints"][idx])
    np.testing.assert_array_equal(sub.class_concept_matrix, f["class_concept_matrix"])
    assert sub.class_names == f["class_names"] and sub.concept_names == f["concept_names"]
    assert sub.part_names == f["part_names"] and sub.split == "train"
    mask = np.zeros(N, bool)
    mask[[1, 2]] = True
    np.testing.assert_array_equal(ds.subset(mask).labels, f["labels"][[1, 2]])
    with pytest.raises(ImageInputError, match="empty"):  # a dataset has at least one image
        ds.subset([])
    # the values out of range are listed (the message gave min..max before)
    with pytest.raises(ValueError, match=r"indices: expected positions in -6\.\.5 .*, got 6$"):
        ds.subset([0, 6])
    with pytest.raises(
        ValueError, match=r"indices: expected .* boolean mask of shape \(6,\), got"
    ):
        ds.subset(np.ones(3, bool))
    # negative positions count from the end, as in numpy
    np.testing.assert_array_equal(ds.subset([-1]).labels, f["labels"][[-1]])


# ------------------------------------------------------------------ dict conversion
def test_dict_conversion():
    f = _fields()
    ds = as_concept_dataset(f)
    assert isinstance(ds, ConceptDataset)
    for name in DATASET_KEYS:
        a, b = getattr(ds, name), f.get(name)  # fields added later default to None
        if name == "part_of_concept":
            b = [0, 0, -1]
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert as_concept_dataset(ds) is ds
    # only images and labels are required; class names default to the indices
    small = as_concept_dataset({"images": f["images"], "labels": f["labels"]})
    assert small.class_names == ["0", "1"] and small.concept_names is None


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        ({"labels": [0]}, ValueError, r"data: missing key 'images'; .*got \['labels'\]"),
        ({"images": np.zeros((1, 8, 8, 3), np.uint8)}, ValueError, "data: missing key 'labels'"),
        ({"images": 0, "labels": 0, "masks": 0}, ValueError, r"data: unknown keys \['masks'\]"),
        (
            {"images": np.zeros((2, 8, 8, 3), np.uint8), "labels": [0]},
            ValueError,
            r"data\.labels: expected shape \(2,\)",
        ),
        ([1, 2], TypeError, "data: expected a ConceptDataset .* got list"),
    ],
)
def test_dict_conversion_errors(data, error, match):
    with pytest.raises(error, match=match):
        as_concept_dataset(data, name="data")


# ------------------------------------------------------------------------ the World
def test_the_world_is_a_concept_dataset_losslessly():
    from bottlekit.world import World, make_world

    w = make_world(30, "test", random_state=2)
    assert isinstance(w, ConceptDataset)
    assert as_concept_dataset(w) is w
    # every field of the contract, as a plain ConceptDataset and through a dict
    fields = {name: getattr(w, name) for name in DATASET_KEYS}
    for ds in (ConceptDataset(**fields), as_concept_dataset(dict(fields))):
        assert type(ds) is ConceptDataset
        for name in DATASET_KEYS:
            a, b = getattr(ds, name), getattr(w, name)
            if isinstance(b, np.ndarray):
                assert a.dtype == b.dtype
                np.testing.assert_array_equal(a, b)
            else:
                assert a == b
    assert w.concept_certainty is None and w.part_keypoints is None
    # the world's own fields are all still there, and a subset stays a World
    sub = w.subset([3, 1])
    assert type(sub) is World and sub.seed == 2 and sub.split == "test"
    assert sub.captions == [w.captions[3], w.captions[1]]
    assert sub.corpus == w.corpus and sub.typical_background is w.typical_background
    np.testing.assert_array_equal(sub.images, w.images[[3, 1]])
    np.testing.assert_array_equal(sub.part_masks, w.part_masks[[3, 1]])


def test_datasets_does_not_import_the_world():
    code = (
        "import sys, bottlekit.datasets; "
        "bad = [m for m in sys.modules if m.startswith(('bottlekit.world', 'bottlekit.app'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
