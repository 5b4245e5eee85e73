"""The mistakes a newcomer with real data makes, on fixtures in the real on-disk formats:
a root one level too high or too low, split folders read as classes, CUB's Koh subset on
a CUB with few classes, class names as labels, macOS's ``._*`` files in a photo folder.
Each test says what happened before."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from dataset_formats import image, write_cub, write_ham10000, write_imagenet_like

from bottlekit.datasets import (
    ConceptDataset,
    DatasetFormatError,
    MissingDatasetError,
    as_concept_dataset,
    load_cub,
    load_dataset,
)
from bottlekit.images import as_image_source


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the CUB fixture's image without parts
        return fn(*args, **kw)


def test_koh112_that_keeps_no_attribute_is_an_error(tmp_path):
    # Before: the fixture's 3 classes are fewer than min_classes=10, so the subset was
    # empty and load_cub returned a dataset with 0 concepts without a word; `bottlekit
    # reproduce pcbm-cub` then stopped with "no concept produced a usable CAV (see the
    # warnings for why)" and no warning said why.
    cub = write_cub(tmp_path)
    with pytest.raises(ValueError, match=r"min_classes=10 of the 3 classes \(at most 3\).*<= 3"):
        _quiet(load_cub, cub["root"], "test", attributes="koh112")
    ds = _quiet(load_cub, cub["root"], "test", attributes="koh112", min_classes=3)
    assert ds.n_concepts > 0  # the threshold the message suggests works


@pytest.mark.parametrize("where", ["parent", "images"])
def test_cub_root_one_level_off_names_the_right_folder(tmp_path, where):
    # Before: "<root>/images.txt: file not found; ... pass the extracted CUB_200_2011
    # folder as root" without saying that the folder was right there.
    cub = write_cub(tmp_path)
    root = cub["root"].parent if where == "parent" else cub["root"] / "images"
    level = "down" if where == "parent" else "up"
    with pytest.raises(MissingDatasetError) as err:
        load_dataset("cub", root)
    assert f"{cub['root']} has it: pass that folder as root (one level {level})" in str(err.value)


def test_ham10000_root_one_level_off_names_the_right_folder(tmp_path):
    # Before: the message named the missing csv and the Dataverse, not the folder next to it
    ham = write_ham10000(tmp_path)
    with pytest.raises(MissingDatasetError, match="one level down") as err:
        load_dataset("ham10000", tmp_path)
    assert f"{ham['root']} has it" in str(err.value)
    with pytest.raises(MissingDatasetError, match="one level up") as err:
        load_dataset("ham10000", ham["root"] / "HAM10000_images_part_1")
    assert f"{ham['root']} has it" in str(err.value)
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(MissingDatasetError) as err:  # nothing near: the plain message
        load_dataset("ham10000", tmp_path / "elsewhere")
    assert "has it" not in str(err.value) and "Dataverse" in str(err.value)


def test_the_right_folder_is_named_for_either_form_of_the_marking_file(tmp_path):
    # HAM10000's metadata comes as .csv or as the Dataverse's .tab; before, a root one
    # level off named the folder only when it held the .csv
    ham = write_ham10000(tmp_path)
    meta = ham["root"] / "HAM10000_metadata.csv"
    meta.rename(meta.with_suffix(".tab"))
    with pytest.raises(MissingDatasetError, match="one level down") as err:
        load_dataset("ham10000", tmp_path)
    assert f"{ham['root']} has it" in str(err.value)
    assert f"{tmp_path / 'HAM10000_metadata.csv'}: file not found" in str(err.value)


@pytest.mark.filterwarnings("ignore:images.*hold no image:UserWarning")  # the empty n09999999
def test_imagefolder_does_not_take_split_folders_for_classes(tmp_path):
    # Before: load_imagefolder("imagenet") without split= read train/ and val/ as the two
    # classes (every image of train/ labelled "train"), silently.
    net = write_imagenet_like(tmp_path)
    with pytest.raises(DatasetFormatError) as err:
        load_dataset("imagefolder", net["root"])
    text = str(err.value)
    assert "no image lies directly in a class folder; ['train', 'val']" in text
    assert "split='train'" in text
    ds = load_dataset("imagefolder", net["root"], split="train")  # what it says works
    assert ds.class_names == ["tench", "goldfish"]


def test_imagefolder_keeps_nested_images_of_classes_with_direct_ones(tmp_path):
    # the rule only refuses folders where no class holds an image itself
    image(tmp_path / "cat" / "a.png")
    image(tmp_path / "cat" / "more" / "b.png")
    image(tmp_path / "dog" / "c.png")
    ds = load_dataset("imagefolder", tmp_path)
    assert ds.class_names == ["cat", "dog"] and ds.labels.tolist() == [0, 0, 1]


def test_imagefolder_keeps_classes_whose_images_all_lie_deeper(tmp_path):
    # only split names are refused: cat/2019/*.png is a class with deeper images
    image(tmp_path / "cat" / "2019" / "a.png")
    image(tmp_path / "dog" / "2020" / "b.png")
    ds = load_dataset("imagefolder", tmp_path)
    assert ds.class_names == ["cat", "dog"] and ds.labels.tolist() == [0, 1]


@pytest.mark.parametrize("make", [ConceptDataset, None])
def test_class_names_as_labels_say_how_to_convert(make):
    # Before: "labels: expected integer class indices, got dtype <U3", and nothing on how
    # to turn the names of a CSV's label column into indices.
    imgs = np.zeros((3, 8, 8, 3), np.uint8)
    labels = ["cat", "dog", "cat"]
    with pytest.raises(ValueError) as err:
        if make is None:
            as_concept_dataset({"images": imgs, "labels": labels})
        else:
            make(imgs, labels=labels)
    assert "got dtype <U3 (class names such as 'cat')" in str(err.value)
    assert "np.unique(labels, return_inverse=True)" in str(err.value)
    class_names, y = np.unique(labels, return_inverse=True)  # what it says works
    ds = ConceptDataset(imgs, labels=y, class_names=list(class_names))
    assert ds.class_names == ["cat", "dog"] and ds.labels.tolist() == [0, 1, 0]


def test_macos_appledouble_files_are_not_images(tmp_path):
    # Before: a folder copied from a Mac to a shared drive has "._a.png" beside "a.png";
    # as_image_source (ConceptDataset("photos/"), `bottlekit embed photos/`) listed it as
    # an image and embedding stopped with "cannot read image file '._a.png'".
    image(tmp_path / "cat" / "a.png")
    image(tmp_path / "dog" / "b.png")
    (tmp_path / "cat" / "._a.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")
    src = as_image_source(tmp_path)
    assert [p.rsplit("/", 1)[1] for p in map(str, src.paths)] == ["a.png", "b.png"]
    assert ConceptDataset(str(tmp_path)).labels.tolist() == [0, 1]
