"""Waterbirds, AwA2, CelebA, image folders and HAM10000: values parsed as written and the
errors of malformed files."""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from dataset_formats import (
    AWA_CLASSES,
    AWA_PREDICATES,
    CELEBA_ATTRIBUTES,
    HAM_HEADER,
    IMAGENET_META_CLASSES,
    write_awa2,
    write_celeba,
    write_cub,
    write_ham10000,
    write_imagenet_like,
    write_waterbirds,
)

from bottlekit.datasets import (
    DatasetFormatError,
    MissingDatasetError,
    load_awa2,
    load_celeba,
    load_dataset,
    load_ham10000,
    load_imagefolder,
    load_waterbirds,
)


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fn(*args, **kw)


# ---------------------------------------------------------------------- Waterbirds
def test_waterbirds_metadata_and_place(tmp_path):
    cub = write_cub(tmp_path)
    wb = write_waterbirds(tmp_path, cub)
    rows = wb["rows"]
    for split, code in (("train", 0), ("val", 1), ("test", 2)):
        ds = load_waterbirds(wb["root"], split)
        sel = [r for r in rows if r[3] == code]
        assert [str(p) for p in ds.image_source.paths] == [str(wb["root"] / r[1]) for r in sel]
        assert ds.labels.tolist() == [r[2] for r in sel]
        assert ds.spurious_labels.tolist() == [r[4] for r in sel]
    assert ds.class_names == ["landbird", "waterbird"] and ds.spurious_names == ["land", "water"]
    assert ds.concept_names is None  # no CUB root given


def test_waterbirds_joined_with_cub(tmp_path):
    cub = write_cub(tmp_path)
    wb = write_waterbirds(tmp_path, cub, extra_non_cub=True)
    with (
        pytest.warns(UserWarning, match=r"1 image\(s\) are not CUB images .*999\.Other"),
        pytest.warns(UserWarning, match=r"1 image\(s\) have no visible keypoint"),
    ):
        ds = load_waterbirds(wb["root"], "all", cub_root=cub["root"], image_size=16)
    assert len(ds) == 12 and ds.skipped["images not in CUB (no attributes)"] == 1
    np.testing.assert_array_equal(ds.concept_labels, cub["present"])
    np.testing.assert_array_equal(ds.concept_certainty, cub["certainty"])
    full = _quiet(load_cub_all, cub["root"])
    np.testing.assert_array_equal(np.asarray(ds.part_masks), np.asarray(full.part_masks))
    # the Waterbirds pixels, not the CUB ones
    assert ds.image_source.load(0).getpixel((0, 0))[0] > 150


def test_waterbirds_refuses_a_row_that_matches_two_cub_images(tmp_path):
    # Before: rows are joined to CUB's images by '<class folder>/<file>' (the last two
    # parts of the path); a CUB whose images.txt lists two images with the same last two
    # parts (here setA/... and setB/...) gave the row the attributes, keypoints and box of
    # the last one listed, silently, maybe another bird.
    cub = write_cub(tmp_path)
    wb = write_waterbirds(tmp_path, cub)
    images, rel = cub["root"] / "images", cub["paths"][0]
    (images / "setA" / rel).parent.mkdir(parents=True)
    (images / rel).rename(images / "setA" / rel)
    (images / "setB" / rel).parent.mkdir(parents=True)
    (images / cub["paths"][1]).rename(images / "setB" / rel)
    lines = (cub["root"] / "images.txt").read_text().splitlines()
    lines[0], lines[1] = f"1 setA/{rel}", f"2 setB/{rel}"
    (cub["root"] / "images.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetFormatError) as err:
        _quiet(load_waterbirds, wb["root"], "all", cub_root=cub["root"])
    assert str(err.value) == (
        f"{wb['root'] / 'metadata.csv'}, line 2: img_filename {rel!r} matches 2 CUB images, "
        f"image id 1 ({images / 'setA' / rel}) and image id 2 ({images / 'setB' / rel}); "
        "expected one: rows are joined to CUB's images by '<class folder>/<file>', which "
        "must name one image of images.txt"
    )
    # one of them alone: its row is joined to it (the other row is not a CUB image now)
    (cub["root"] / "images.txt").write_text("\n".join([f"1 setA/{rel}", *lines[2:]]) + "\n")
    for f in (
        "image_class_labels.txt",
        "train_test_split.txt",
        "bounding_boxes.txt",
        "attributes/image_attribute_labels.txt",
        "parts/part_locs.txt",
    ):  # image id 2's lines removed
        path = cub["root"] / f
        kept = [ln for ln in path.read_text().splitlines() if ln.split()[0] != "2"]
        path.write_text("\n".join(kept) + "\n")
    ds = _quiet(load_waterbirds, wb["root"], "all", cub_root=cub["root"])
    assert ds.skipped["images not in CUB (no attributes)"] == 1  # row 2 (image 2's file)
    np.testing.assert_array_equal(ds.concept_labels[0], cub["present"][0])
    np.testing.assert_array_equal(ds.object_boxes[0], cub["boxes"][0])


def load_cub_all(root):
    from bottlekit.datasets import load_cub

    return load_cub(root, "all", image_size=16)


def test_waterbirds_errors(tmp_path):
    cub = write_cub(tmp_path)
    wb = write_waterbirds(tmp_path, cub)
    meta = wb["root"] / "metadata.csv"
    text = meta.read_text().splitlines()
    meta.write_text("\n".join([*text[:3], text[3] + ",extra", *text[4:]]) + "\n")
    with pytest.raises(
        DatasetFormatError, match=r"metadata\.csv, line 4: expected 6 columns, got 7"
    ):
        load_waterbirds(wb["root"])
    bad = text[2].split(",")
    bad[3] = "7"  # the split column
    meta.write_text("\n".join([*text[:2], ",".join(bad), *text[3:]]) + "\n")
    with pytest.raises(
        DatasetFormatError, match=r"metadata\.csv, line 3: split 7 is out of range"
    ):
        load_waterbirds(wb["root"])
    meta.write_text("img_filename,y,place\n")
    with pytest.raises(DatasetFormatError, match=r"line 1: the header lacks columns \['split'\]"):
        load_waterbirds(wb["root"])


# -------------------------------------------------------------------------- AwA2
def test_awa2_predicates(tmp_path):
    w = write_awa2(tmp_path)
    ds = load_awa2(w["root"])
    assert ds.class_names == AWA_CLASSES and ds.concept_names == AWA_PREDICATES
    np.testing.assert_allclose(ds.class_concept_matrix, w["continuous"])
    paths = [str(p) for p in ds.image_source.paths]
    for c, cls in enumerate(AWA_CLASSES):
        for f in w["files"][cls]:
            i = paths.index(str(f))
            assert ds.labels[i] == c
            np.testing.assert_array_equal(ds.concept_labels[i], w["binary"][c])
    assert ds.skipped == {"files that are not images": 0}
    (w["root"] / "JPEGImages" / "antelope" / "notes.txt").write_text("x")
    assert load_awa2(w["root"]).skipped == {"files that are not images": 1}
    test = load_dataset("awa2", w["root"], split="testclasses")
    assert set(test.labels.tolist()) == {1} and len(test) == 4 and test.n_classes == 3
    only = load_awa2(w["root"], classes=["killer+whale"])
    assert set(only.labels.tolist()) == {2}


def test_awa2_errors(tmp_path):
    w = write_awa2(tmp_path)
    p = w["root"] / "predicate-matrix-binary.txt"
    lines = p.read_text().splitlines()
    p.write_text("\n".join([lines[0], "1 0 1", *lines[2:]]) + "\n")
    with pytest.raises(
        DatasetFormatError, match=r"binary\.txt, line 2: expected 4 columns, got 3"
    ):
        load_awa2(w["root"])
    p.write_text("\n".join([lines[0], "1 0 2 0", *lines[2:]]) + "\n")
    with pytest.raises(DatasetFormatError, match=r"binary\.txt, line 2: column 3 is 2\.0"):
        load_awa2(w["root"])
    p.write_text("\n".join(lines[:2]) + "\n")
    with pytest.raises(DatasetFormatError, match=r"expected 3 lines \(one per class\), got 2"):
        load_awa2(w["root"])
    (w["root"] / "classes.txt").write_text("1\tantelope\n3\tbear\n")
    with pytest.raises(DatasetFormatError, match=r"classes\.txt, line 2: class id 3 is out"):
        load_awa2(w["root"])


def test_awa2_negative_strengths_other_than_the_missing_mark_are_refused(tmp_path):
    # Before: -5 was kept in class_concept_matrix, silently; the release marks a
    # missing value with -1 (its README), and the strengths are >= 0.
    w = write_awa2(tmp_path)
    p = w["root"] / "predicate-matrix-continuous.txt"
    assert "-1.00" in p.read_text()  # the fixture's missing value, read as it is
    np.testing.assert_array_equal(load_awa2(w["root"]).class_concept_matrix, w["continuous"])
    p.write_text(p.read_text().replace("-1.00", "-5.00", 1))
    with pytest.raises(
        DatasetFormatError,
        match=r"continuous\.txt, line 1: column 3 is -5\.0; expected a strength >= 0, or -1 "
        r"\(a missing value\)",
    ):
        load_awa2(w["root"])
    # Before: the line of a bad 0/1 value was its row's number, one off after a blank line
    b = w["root"] / "predicate-matrix-binary.txt"
    lines = b.read_text().splitlines()
    b.write_text("\n".join(["", lines[0], "1 0 2 0", *lines[2:]]) + "\n")
    with pytest.raises(DatasetFormatError, match=r"binary\.txt, line 3: column 3 is 2\.0; expe"):
        load_awa2(w["root"])


# ------------------------------------------------------------------------ CelebA
def test_celeba_header_and_pm1_values(tmp_path):
    w = write_celeba(tmp_path)
    ds = load_celeba(w["root"], "all", target="Smiling", spurious="Male")
    assert ds.class_names == ["not Smiling", "Smiling"]
    assert ds.concept_names == ["5_o_Clock_Shadow", "Blond_Hair", "Male"]
    v = w["values"]
    for i in range(len(w["files"])):
        assert ds.labels[i] == (v[i, 3] == 1)
        assert ds.spurious_labels[i] == (v[i, 2] == 1)
        assert ds.concept_labels[i].tolist() == [int(v[i, j] == 1) for j in (0, 1, 2)]
    test = load_celeba(w["root"], "test")  # default target Blond_Hair
    assert [p.name for p in test.image_source.items] == [
        f for f, p in zip(w["files"], w["partition"], strict=True) if p == 2
    ]
    assert test.labels.tolist() == [int(v[i, 1] == 1) for i in np.flatnonzero(w["partition"] == 2)]
    assert CELEBA_ATTRIBUTES[1] not in test.concept_names
    assert test.skipped == {"partition entries without attributes": 0}
    with open(w["root"] / "list_eval_partition.txt", "a") as fh:
        fh.write("999999.jpg 0\n")
    assert load_celeba(w["root"]).skipped == {"partition entries without attributes": 1}


def test_celeba_errors(tmp_path):
    w = write_celeba(tmp_path)
    p = w["root"] / "list_attr_celeba.txt"
    lines = p.read_text().splitlines()
    p.write_text("\n".join([*lines[:4], lines[4].replace(" 1", " 0", 1), *lines[5:]]) + "\n")
    with pytest.raises(DatasetFormatError, match=r"list_attr_celeba\.txt, line 5: attribute"):
        load_celeba(w["root"])
    p.write_text("\n".join(lines[:-2]) + "\n")
    with pytest.raises(
        DatasetFormatError, match=r"line 1 announces 12 images but 10 lines follow"
    ):
        load_celeba(w["root"])
    p.write_text("\n".join([*lines[:3], lines[3] + " 1", *lines[4:]]) + "\n")
    with pytest.raises(DatasetFormatError, match=r"line 4: expected 5 columns .*got 6"):
        load_celeba(w["root"])
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"target: 'Bald' is not a CelebA attribute"):
        load_celeba(w["root"], target="Bald")
    with pytest.raises(MissingDatasetError, match=r"Google Drive"):
        load_celeba(w["root"], download=True)


def _celeba_as_on_kaggle(w) -> None:
    """Rewrite a CelebA fixture in the Kaggle mirror's form: the two lists as CSV files
    with headers (no count line), the images in img_align_celeba/img_align_celeba/."""
    root, v = w["root"], w["values"]
    (root / "list_attr_celeba.txt").unlink()
    (root / "list_eval_partition.txt").unlink()
    rows = [",".join([f, *map(str, row)]) for f, row in zip(w["files"], v, strict=True)]
    header = ",".join(["image_id", *CELEBA_ATTRIBUTES])
    (root / "list_attr_celeba.csv").write_text("\n".join([header, *rows]) + "\n")
    parts = [f"{f},{p}" for f, p in zip(w["files"], w["partition"], strict=True)]
    (root / "list_eval_partition.csv").write_text("\n".join(["image_id,partition", *parts]))
    images = root / "img_align_celeba"
    (images / "img_align_celeba").mkdir()
    for f in w["files"]:
        (images / f).rename(images / "img_align_celeba" / f)


def test_celeba_reads_the_kaggle_mirror_form(tmp_path):
    # Most users get CelebA from its Kaggle mirror (Google Drive's quota stops scripted
    # downloads): CSV lists with headers and the images one folder deeper. Before, the
    # loader asked for list_attr_celeba.txt and stopped.
    w = write_celeba(tmp_path)
    expected = {s: load_celeba(w["root"], s, target="Smiling") for s in ("all", "test")}
    _celeba_as_on_kaggle(w)
    for split, want in expected.items():
        ds = load_celeba(w["root"], split, target="Smiling")
        assert [p.name for p in ds.image_source.items] == [p.name for p in want.image_source.items]
        assert all(p.parent.parent.name == "img_align_celeba" for p in ds.image_source.items)
        assert ds.labels.tolist() == want.labels.tolist()
        assert ds.concept_names == want.concept_names
        np.testing.assert_array_equal(ds.concept_labels, want.concept_labels)
        np.testing.assert_array_equal(ds.spurious_labels, want.spurious_labels)
    attr = w["root"] / "list_attr_celeba.csv"
    attr.write_text(attr.read_text().replace("image_id,", "file,", 1))
    with pytest.raises(DatasetFormatError, match=r"celeba\.csv, line 1: expected a header"):
        load_celeba(w["root"])


def _same_celeba(ds, want) -> None:
    assert [p.name for p in ds.image_source.items] == [p.name for p in want.image_source.items]
    assert ds.labels.tolist() == want.labels.tolist()
    assert ds.concept_names == want.concept_names
    np.testing.assert_array_equal(ds.concept_labels, want.concept_labels)
    np.testing.assert_array_equal(ds.spurious_labels, want.spurious_labels)


def test_celeba_reads_the_official_share_layout(tmp_path):
    # The Google Drive / Dropbox share keeps the lists in Anno/ and Eval/ and the images
    # in Img/ (img_align_celeba.zip, extracted beside it). Before, the loader said
    # list_attr_celeba.txt was not found and advised root/Anno as root, where it then
    # failed on list_eval_partition.txt without naming Eval/ or Img/.
    flat = write_celeba(tmp_path / "flat")
    w = write_celeba(tmp_path / "drive", layout="drive")
    assert w["attr"] == w["root"] / "Anno" / "list_attr_celeba.txt"
    assert not (w["root"] / "list_attr_celeba.txt").exists()
    for split in ("all", "train", "test"):
        ds = load_celeba(w["root"], split, target="Smiling")
        _same_celeba(ds, load_celeba(flat["root"], split, target="Smiling"))
        assert all(p.parent == w["images"] for p in ds.image_source.items)
        assert w["images"] == w["root"] / "Img" / "img_align_celeba"
    # a root one level too low (Anno/ has the attributes) or too high: the folder to pass
    root = re.escape(str(w["root"]))
    with pytest.raises(
        MissingDatasetError,
        match=rf"list_eval_partition\.txt: file not found .*; {root} has it: pass that "
        r"folder as root \(one level up\)",
    ):
        load_celeba(w["root"] / "Anno")
    with pytest.raises(
        MissingDatasetError, match=rf"; {root} has it: pass that folder as root \(one level down"
    ):
        load_celeba(w["root"].parent)
    # the images not extracted: say where the zip goes
    shutil.rmtree(w["images"])
    zipped = re.escape(str(w["images"])) + r"\.zip"
    with pytest.raises(MissingDatasetError, match=rf"image folder not found .*; extract {zipped}"):
        load_celeba(w["root"])


def test_celeba_missing_files_advice_names_every_layout(tmp_path):
    # Before: "manual download: ... into root", wrong for the share's Anno/, Eval/, Img/.
    with pytest.raises(MissingDatasetError) as e:
        load_celeba(tmp_path)
    message = str(e.value)
    for where in (
        "Anno/list_attr_celeba.txt",
        "Eval/list_eval_partition.txt",
        "Img/img_align_celeba/",
        "list_attr_celeba.csv",
    ):
        assert where in message
    assert str(tmp_path / "Anno" / "list_attr_celeba.txt") in message  # looked there too
    share = r"share's layout in .*: Anno/list_attr_celeba\.txt, Eval/list_eval_partition\.txt"
    with pytest.raises(MissingDatasetError, match=share):  # download=True's advice too
        load_celeba(tmp_path, download=True)


@pytest.mark.parametrize("which", ["attr", "partition_file"])
def test_celeba_refuses_a_list_in_two_places_that_differ(tmp_path, which):
    # The share's Anno/ or Eval/ list and a copy in root: the same bytes are one file; two
    # different ones are refused, naming both, as neither can be picked silently.
    w = write_celeba(tmp_path, layout="drive")
    want = load_celeba(w["root"], "all")
    copy = w["root"] / w[which].name
    shutil.copyfile(w[which], copy)
    _same_celeba(load_celeba(w["root"], "all"), want)
    lines = copy.read_text().splitlines()
    if which == "attr":  # the last attribute of the first image flipped
        *head, last = lines[2].split(" ")
        lines[2] = " ".join([*head, {"1": "-1", "-1": "1"}[last]])
    else:  # the first image moved to the test split
        lines[0] = lines[0][:-1] + "2"
    copy.write_text("\n".join(lines) + "\n")
    assert copy.read_bytes() != w[which].read_bytes()
    pattern = rf"{re.escape(str(copy))} and {re.escape(str(w[which]))} are two different files"
    with pytest.raises(DatasetFormatError, match=pattern):
        load_celeba(w["root"], "all")


def test_celeba_refuses_images_in_both_folders(tmp_path):
    w = write_celeba(tmp_path, layout="drive")
    shutil.copytree(w["images"], w["root"] / "img_align_celeba")
    with pytest.raises(DatasetFormatError, match=r"img_align_celeba and .*Img/img_align_celeba "):
        load_celeba(w["root"])
    # an empty folder left beside the images is no copy
    shutil.rmtree(w["root"] / "img_align_celeba")
    (w["root"] / "img_align_celeba").mkdir()
    assert len(load_celeba(w["root"], "all")) == 12


# ------------------------------------------------------------------ image folders
@pytest.mark.filterwarnings("ignore:images.*hold no image:UserWarning")  # the empty n09999999
def test_imagenet_layout_with_synsets_and_concepts(tmp_path):
    w = write_imagenet_like(tmp_path)
    with pytest.warns(UserWarning, match=r"hold no image \('n09999999'\)"):
        ds = load_imagefolder(w["root"], "val")
    assert ds.class_names == ["tench", "goldfish"]
    assert [str(p) for p in ds.image_source.paths] == [
        str(f) for wn in w["wnids"] for f in w["files"][("val", wn)]
    ]
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.skipped == {
        "files that are not images": 1,
        "class folders without images": 1,
        "images outside the class folders": 0,
    }
    raw = load_imagefolder(w["root"], "train", synset_names=False)
    assert raw.class_names == w["wnids"]
    csv = tmp_path / "concepts.csv"
    rows = [
        f"{wn}/{f.name},{i % 2},{0.5 if i == 0 else 1}"
        for i, (wn, f) in enumerate((wn, f) for wn in w["wnids"] for f in w["files"][("val", wn)])
    ]
    csv.write_text("path,striped,fins\n" + "\n".join(rows[::-1]) + "\n")  # any row order
    ds = load_dataset("imagefolder", w["root"], split="val", concepts_csv=csv)
    assert ds.concept_names == ["striped", "fins"]
    np.testing.assert_allclose(ds.concept_labels[:, 0], [0, 1, 0, 1, 0, 1])
    np.testing.assert_allclose(ds.concept_labels[:, 1], [0.5, 1, 1, 1, 1, 1])
    csv.write_text("path,striped,fins\n" + "\n".join(rows[1:]) + "\n")
    with pytest.raises(
        DatasetFormatError, match=r"concepts\.csv: 1 image\(s\) have no row, first"
    ):
        load_imagefolder(w["root"], "val", concepts_csv=csv)
    csv.write_text("path,striped,fins\n" + "\n".join([*rows, "n01/x.JPEG,1,1"]) + "\n")
    with pytest.raises(DatasetFormatError, match=r"line 8: image 'n01/x\.JPEG' is not an image"):
        load_imagefolder(w["root"], "val", concepts_csv=csv)
    csv.write_text("path,striped,fins\n" + rows[0] + ",1\n")
    with pytest.raises(DatasetFormatError, match=r"line 2: expected 3 columns, got 4"):
        load_imagefolder(w["root"], "val", concepts_csv=csv)
    with pytest.raises(MissingDatasetError, match=r"test: image folder not found"):
        load_imagefolder(w["root"], "test")


# ---------------------------------------------------------------------- HAM10000
def test_ham10000_metadata_as_concepts(tmp_path):
    w = write_ham10000(tmp_path)
    ds = load_ham10000(w["root"])
    assert ds.class_names == ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
    assert [ds.class_names[c] for c in ds.labels] == [r[2] for r in w["rows"]]
    assert [p.stem for p in ds.image_source.items] == [r[1] for r in w["rows"]]
    assert ds.image_source.items[1].parent.name == "HAM10000_images_part_2"
    for i, r in enumerate(w["rows"]):
        on = {ds.concept_names[j] for j in np.flatnonzero(ds.concept_labels[i])}
        age = (
            {}
            if not r[4]
            else {
                "age < 30"
                if float(r[4]) < 30
                else "age 30-59"
                if float(r[4]) < 60
                else "age >= 60"
            }
        )
        assert on == {f"sex={r[5]}", f"localization={r[6]}", *age}
    assert ds.skipped == {"images without an age (no age bin)": 1}
    assert ds.groups.tolist() == [r[0] for r in w["rows"]]


def test_ham10000_dx_type_is_not_a_concept(tmp_path):
    # Before, dx_type (how the diagnosis was confirmed) was one-hot among the concepts:
    # it depends on the diagnosis (in the release, follow-up confirms nevi; in the fixture
    # every follow_up row is a nevus), so a concept bottleneck could read the label off it.
    w = write_ham10000(tmp_path)
    ds = load_ham10000(w["root"])
    assert not [c for c in ds.concept_names if c.startswith("dx_type")]
    assert ds.concept_names == [
        "sex=female", "sex=male", "sex=unknown",
        "localization=back", "localization=ear", "localization=face", "localization=scalp",
        "age < 30", "age 30-59", "age >= 60",
    ]  # fmt: skip


def test_ham10000_groups_are_the_lesions_and_keep_them_on_one_side(tmp_path):
    # Two images of lesion HAM_0000118: a split by groups keeps them together, and a
    # subset keeps each image's lesion.
    from sklearn.model_selection import GroupShuffleSplit

    w = write_ham10000(tmp_path)
    ds = load_ham10000(w["root"])
    assert ds.groups.dtype.kind == "U"
    assert ds.subset([4, 1]).groups.tolist() == [w["rows"][4][0], w["rows"][1][0]]
    for seed in range(5):
        splitter = GroupShuffleSplit(n_splits=1, test_size=0.4, random_state=seed)
        train, test = next(splitter.split(ds.labels, groups=ds.groups))
        assert not set(ds.groups[train]) & set(ds.groups[test])
        assert {0, 1} <= set(train) or {0, 1} <= set(test)


def test_ham10000_errors(tmp_path):
    w = write_ham10000(tmp_path)
    meta = w["root"] / "HAM10000_metadata.csv"
    text = meta.read_text().splitlines()
    meta.write_text("\n".join([*text[:2], text[2].replace(",bkl,", ",xyz,"), *text[3:]]) + "\n")
    with pytest.raises(DatasetFormatError, match=r"line 3: dx 'xyz' is not one of"):
        load_ham10000(w["root"])
    meta.write_text("\n".join([*text[:3], text[3].replace(",,", ",old,"), *text[4:]]) + "\n")
    with pytest.raises(DatasetFormatError, match=r"line 4: age is 'old'"):
        load_ham10000(w["root"])
    meta.write_text("\n".join(text) + "\n")
    (w["root"] / "HAM10000_images_part_2" / "ISIC_0025030.jpg").unlink()
    with pytest.raises(MissingDatasetError, match=r"line 3: image ISIC_0025030\.jpg not found"):
        load_ham10000(w["root"])
    meta.write_text("\n".join(text) + "\n")
    (w["root"] / "HAM10000_images_part_2" / "ISIC_0025030.jpg").write_bytes(b"")
    meta.write_text("\n".join([*text[:3], text[3].replace("HAM_0002730", ""), *text[4:]]))
    with pytest.raises(DatasetFormatError, match=r"line 4: lesion_id is empty; expected"):
        load_ham10000(w["root"])
    meta.write_text(HAM_HEADER.replace("sex,", "") + "\n")
    with pytest.raises(DatasetFormatError, match=r"line 1: the header lacks columns \['sex'\]"):
        load_ham10000(w["root"])
    meta.write_text(HAM_HEADER.replace("dx_type,", "") + "\n")  # not read: not needed
    with pytest.raises(DatasetFormatError, match=r"metadata\.csv: no rows after the header"):
        load_ham10000(w["root"])


def test_ham10000_refuses_an_image_in_both_parts(tmp_path):
    # Before: the copy in part_1 was read and the one in part_2 ignored, silently. The
    # release has each image once, so a second copy is a broken one (an archive
    # extracted twice, a file saved into the wrong folder): which is right cannot be told.
    w = write_ham10000(tmp_path)
    first = w["root"] / "HAM10000_images_part_1" / "ISIC_0029176.jpg"
    second = w["root"] / "HAM10000_images_part_2" / "ISIC_0029176.jpg"
    second.write_bytes(first.read_bytes())
    with pytest.raises(DatasetFormatError) as err:
        load_ham10000(w["root"])
    assert str(err.value) == (
        f"{w['root'] / 'HAM10000_metadata.csv'}, line 6: image ISIC_0029176.jpg is in both "
        f"{first} and {second}; expected it once, in one of HAM10000_images_part_1, "
        "HAM10000_images_part_2 or root (the release has each image once: a broken or "
        "doubled copy, remove the wrong one)"
    )
    first.unlink()  # one copy, in part_2: read from there
    ds = load_ham10000(w["root"])
    assert ds.image_source.items[4] == second


def _imagenet_labelled_splits(tmp_path, wnids, val_wnids):
    """imagenet/train/<wnid>/*.JPEG for ``wnids`` and a flat imagenet/val/ labelled by
    LOC_val_solution.csv (rows in another order than the files), image i of ``val_wnids``."""
    from dataset_formats import image

    root = tmp_path / "imagenet"
    for w in wnids:
        for j in range(2):
            image(root / "train" / w / f"{w}_{j}.JPEG", (16, 16), fmt="JPEG")
    rows = []
    for i, w in enumerate(val_wnids):
        image(root / "val" / f"ILSVRC2012_val_{i + 1:08d}.JPEG", (16, 16), fmt="JPEG")
        rows.append(f"ILSVRC2012_val_{i + 1:08d},{w} 1 2 3 4")
    (root / "LOC_val_solution.csv").write_text(
        "ImageId,PredictionString\n" + "\n".join(rows[::-1]) + "\n"
    )
    return root


def _load_unwarned(*args, **kw):
    """``load_imagefolder`` with the empty-folder warning of the fixture's n09999999
    ignored and any other warning an error (no synset file or meta.bin left unread)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", r"images.*hold no image", UserWarning)
        return load_imagefolder(*args, **kw)


@pytest.mark.parametrize("split", ["train", "val"])
def test_imagenet_torchvision_layout_names_classes_from_meta_bin(tmp_path, split):
    # torchvision.datasets.ImageNet prepares train/<wnid>/ and val/<wnid>/ and writes the
    # class names only into meta.bin (torch.save((wnid_to_classes, val_wnids))). Before,
    # the classes kept their wnids there, silently.
    synsets = write_imagenet_like(tmp_path / "s")
    want = _load_unwarned(synsets["root"], split)
    w = write_imagenet_like(tmp_path / "t", names="torchvision")
    assert (w["root"] / "meta.bin").is_file()
    assert not any(w["root"].rglob("LOC_synset*")) and not any(w["root"].rglob("synset*"))
    ds = _load_unwarned(w["root"], split)
    assert ds.class_names == want.class_names == ["tench", "goldfish"]  # the first names
    assert ds.labels.tolist() == want.labels.tolist() == [0, 0, 0, 1, 1, 1]
    # given by name, and read as the synset file is for each split folder
    given = _load_unwarned(w["root"] / split, synset_names=w["root"] / "meta.bin")
    assert given.class_names == ["tench", "goldfish"]
    assert _load_unwarned(w["root"], split, synset_names=False).class_names == w["wnids"]
    # a synset file found is preferred to meta.bin (their names agree for ImageNet)
    (w["root"] / "LOC_synset_mapping.txt").write_text("n01440764 a, b\nn01443537 c\n")
    assert _load_unwarned(w["root"], split).class_names == ["a", "c"]


def test_meta_bin_first_names_match_synset_lines_for_real_classes(tmp_path):
    # meta.bin's tuples of 1, 2 and 5 names and a first name two synsets share ("crane"):
    # the same names as LOC_synset_mapping.txt's lines for those synsets give.
    w = write_imagenet_like(tmp_path / "t", names="torchvision")
    jpeg = tmp_path / "a.JPEG"
    shutil.copyfile(w["files"][("val", "n01440764")][0], jpeg)
    for split in ("train", "val"):
        shutil.rmtree(w["root"] / split)
        for wnid in IMAGENET_META_CLASSES:
            (w["root"] / split / wnid).mkdir(parents=True)
            shutil.copyfile(jpeg, w["root"] / split / wnid / "a.JPEG")
    ds = _load_unwarned(w["root"], "val")
    lines = "".join(f"{k} {', '.join(v)}\n" for k, v in IMAGENET_META_CLASSES.items())
    (tmp_path / "LOC_synset_mapping.txt").write_text(lines)
    want = _load_unwarned(w["root"], "val", synset_names=tmp_path / "LOC_synset_mapping.txt")
    assert ds.class_names == want.class_names == [
        "tench", "goldfish", "great white shark", "crane (n02012849)", "crane (n03126707)"
    ]  # fmt: skip


def test_meta_bin_of_full_size_is_read(tmp_path):
    # ImageNet's real meta.bin: 1000 classes and 50,000 validation wnids (memo indices
    # past 255: LONG_BINPUT / LONG_BINGET), within the parser's bounds
    import torch

    from bottlekit.datasets._cifar_pickle import read_torch_save

    rng = np.random.default_rng(0)
    classes = {f"n{10_000_000 + 37 * i:08d}": (f"class {i}", f"other {i}") for i in range(1000)}
    val = [list(classes)[k] for k in rng.integers(0, 1000, 50_000)]
    torch.save((classes, val), tmp_path / "meta.bin")
    got = read_torch_save(tmp_path / "meta.bin", "demo")
    assert got == (classes, val)


class _Touch:
    """Pickled by torch.save as GLOBAL pathlib.Path.touch + REDUCE: unpickling it would
    create the file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


@pytest.mark.filterwarnings("ignore:images.*hold no image:UserWarning")  # the empty n09999999
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("touch", r"GLOBAL '.*' \(only plain data is read\)"),
        ("tensor", r"GLOBAL 'torch\._utils _rebuild_tensor_v2' \(only plain data"),
        ("string", r"holds str; expected torchvision's ImageNet meta\.bin"),
        ("names", r"maps 'n01440764' to str 'tench'; expected a wnid \(str\) -> a tuple"),
        ("empty", r"wnid_to_classes\['n01440764'\] has no first name"),
    ],
)
def test_meta_bin_is_read_without_unpickling(tmp_path, value, message):
    # The project never unpickles files from others: a meta.bin that holds more than
    # plain data (a global called, a tensor) is refused, and nothing in it runs.
    import torch

    w = write_imagenet_like(tmp_path, names="torchvision")
    marker = tmp_path / "ran"
    obj = {
        "touch": ({"n01440764": _Touch(marker)}, []),
        "tensor": ({"n01440764": ("tench",)}, torch.zeros(2)),
        "string": "tench",
        "names": ({"n01440764": "tench"}, []),
        "empty": ({"n01440764": (" ",)}, []),
    }[value]
    torch.save(obj, w["root"] / "meta.bin")
    for given in (True, False):  # given by name, or found
        with pytest.raises(DatasetFormatError, match=r"meta\.bin.*" + message):
            load_imagefolder(
                w["root"], "val", synset_names=w["root"] / "meta.bin" if given else True
            )
    assert not marker.exists()


@pytest.mark.parametrize("shape", ["wide", "deep"])
def test_a_meta_bin_refused_is_shown_without_building_its_repr(tmp_path, shape):
    # Before: the message formatted {names!r:.80}, and repr built the whole text first: a
    # list of N references to one memoised 64 KiB string (a zip of a few hundred bytes)
    # took N * 64 KiB of memory (28 MB at N = 400; 65 GB within the opcode limit), and
    # a list nested 200,000 deep raised a bare RecursionError.
    import struct
    import tracemalloc
    import zipfile

    from bottlekit.datasets.imagefolder import _meta_bin_names

    def text(s):
        return b"X" + struct.pack("<I", len(s)) + s.encode()

    if shape == "wide":
        names = b"]" + text("a" * 65536) + b"q\x00a(" + b"h\x00" * 400 + b"e"
        shown = r"list \['aaaa+; expected"
    else:
        names = b"]" * 200_000 + b"a" * 199_999
        shown = r"list a list nested too deeply to show; expected"
    meta = tmp_path / "meta.bin"
    with zipfile.ZipFile(meta, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("meta/data.pkl", b"\x80\x02}" + text("n1") + names + b"s]\x86.")
    tracemalloc.start()
    try:
        with pytest.raises(DatasetFormatError, match=r"maps 'n1' to " + shown):
            _meta_bin_names(meta)
        if shape == "wide":  # (200,000 nested lists cost their parse, ~18 MB, not a repr)
            assert tracemalloc.get_traced_memory()[1] < (8 << 20)
    finally:
        tracemalloc.stop()


@pytest.mark.filterwarnings("ignore:images.*hold no image:UserWarning")  # the empty n09999999
def test_meta_bin_bounds_and_legacy_format(tmp_path, monkeypatch):
    import torch

    import bottlekit.datasets._cifar_pickle as cp

    w = write_imagenet_like(tmp_path, names="torchvision")
    meta = w["root"] / "meta.bin"
    monkeypatch.setattr(cp, "MAX_TORCH_PICKLE", 100)  # the fixture's data.pkl: 314 bytes
    with pytest.raises(
        DatasetFormatError, match=r"meta/data\.pkl is \d+ bytes; expected at most 100"
    ):
        load_imagefolder(w["root"], "val")
    monkeypatch.undo()
    # torch's legacy format (torch < 1.6; a sequence of pickles): not read; found, the
    # classes keep their wnids with a warning naming the file; given, an error
    torch.save(({"n01440764": ("tench",)}, []), meta, _use_new_zipfile_serialization=False)
    with pytest.warns(UserWarning, match=r"meta\.bin is not read: not a zip archive.*LOC_synset"):
        ds = load_imagefolder(w["root"], "val")
    assert ds.class_names == w["wnids"]
    with pytest.raises(DatasetFormatError, match=r"meta\.bin: not a zip archive"):
        load_imagefolder(w["root"], "val", synset_names=meta)
    # an archive without data.pkl
    import zipfile

    with zipfile.ZipFile(meta, "w") as z:
        z.writestr("meta/version", "3\n")
    with pytest.raises(DatasetFormatError, match=r"0 '<name>/data\.pkl' records"):
        load_imagefolder(w["root"], "val")


def test_imagenet_train_folders_and_flat_val_number_classes_alike(tmp_path):
    # The class index is the sorted wnids' (torchvision ImageFolder's, and the line order
    # of LOC_synset_mapping.txt), for the train folders and the flat val folder alike:
    # label k is the same class in both. Not the devkit's ILSVRC2012_ID order (meta.mat's,
    # here the synset file's line order, which must not change the index either).
    wnids = ["n01440764", "n01443537", "n01484850"]  # tench, goldfish, great white shark
    val_wnids = ["n01484850", "n01440764", "n01443537", "n01484850", "n01440764"]
    root = _imagenet_labelled_splits(tmp_path, wnids, val_wnids)
    (root / "LOC_synset_mapping.txt").write_text(
        "n01484850 great white shark, white shark\nn01440764 tench, Tinca tinca\n"
        "n01443537 goldfish, Carassius auratus\n"
    )
    train = load_imagefolder(root, "train")
    val = load_imagefolder(root, "val")
    assert train.class_names == val.class_names == ["tench", "goldfish", "great white shark"]
    assert train.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert val.labels.tolist() == [wnids.index(w) for w in val_wnids] == [2, 0, 1, 2, 0]
    # without a synset file, the same numbering, the classes named by their wnids
    raw = [load_imagefolder(root, s, synset_names=False) for s in ("train", "val")]
    assert raw[0].class_names == raw[1].class_names == wnids
    assert raw[1].labels.tolist() == val.labels.tolist()
    # a split with fewer classes numbers its own (sorted) classes: compare class_names
    (root / "LOC_val_solution.csv").write_text(
        "ImageId,PredictionString\n"
        + "\n".join(f"ILSVRC2012_val_{i:08d},n01484850 1 2 3 4" for i in range(1, 6))
        + "\n"
    )
    only = load_imagefolder(root, "val", synset_names=False)
    assert only.class_names == ["n01484850"] and only.labels.tolist() == [0] * 5


def test_imagenet_devkit_ground_truth_is_refused_with_why(tmp_path):
    # Before: passed as val_solution it was refused as a malformed LOC_val_solution.csv
    # ("expected the header 'ImageId,PredictionString', got '3'"), and found beside a
    # flat val/ it was not mentioned: its numbers are ILSVRC2012_IDs, another order than
    # the sorted-wnid index of the train folders, so it is not read, and the errors say so.
    root = _imagenet_labelled_splits(tmp_path, ["n01440764"], ["n01440764"] * 2)
    (root / "LOC_val_solution.csv").unlink()
    devkit = root / "ILSVRC2012_validation_ground_truth.txt"
    devkit.write_text("3\n1\n")
    with pytest.raises(DatasetFormatError) as err:
        load_imagefolder(root, "val", val_solution=devkit)
    assert str(err.value) == (
        f"{devkit}, line 1: a bare number '3', as the devkit's "
        "ILSVRC2012_validation_ground_truth.txt has, which is not read: its numbers are the "
        "devkit's ILSVRC2012_IDs (1..1000 in the order of its meta.mat), not the sorted-wnid "
        "class index of the train/<wnid>/ folders; expected LOC_val_solution.csv (header "
        "'ImageId,PredictionString', the wnid first), or the validation images sorted into "
        "val/<wnid>/ folders"
    )
    with pytest.raises(MissingDatasetError) as err:
        load_imagefolder(root, "val")
    assert str(err.value).endswith(
        f"dataset.options.val_solution=PATH). {devkit} is not read: its numbers are the "
        "devkit's ILSVRC2012_IDs (1..1000 in the order of its meta.mat), not the sorted-wnid "
        "class index of the train/<wnid>/ folders"
    )


def test_imagenet_flat_val_with_solution_file(tmp_path):
    from dataset_formats import image

    root = tmp_path / "imagenet"
    wnids = ["n01443537", "n01440764", "n01443537"]
    for i in range(3):
        image(root / "val" / f"ILSVRC2012_val_{i + 1:08d}.JPEG", (16, 16), fmt="JPEG")
    sol = root / "LOC_val_solution.csv"
    rows = [f"ILSVRC2012_val_{i + 1:08d},{w} 10 20 30 40 {w} 1 2 3 4" for i, w in enumerate(wnids)]
    sol.write_text("ImageId,PredictionString\n" + "\n".join(rows[::-1]) + "\n")
    (root / "LOC_synset_mapping.txt").write_text(
        "n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n"
    )
    ds = load_imagefolder(root, "val")
    assert ds.class_names == ["tench", "goldfish"] and ds.labels.tolist() == [1, 0, 1]
    sol.write_text("ImageId,PredictionString\n" + "\n".join(rows[:2]) + "\n")
    with pytest.raises(DatasetFormatError, match=r"1 image\(s\) of .*val have no row, first"):
        load_imagefolder(root, "val")
    sol.write_text("ImageId,PredictionString\n" + "\n".join([*rows, "ILSVRC2012_val_9,n0 1"]))
    with pytest.raises(MissingDatasetError, match=r"1 listed image\(s\) not found in .*val"):
        load_imagefolder(root, "val")
    sol.unlink()
    with pytest.raises(MissingDatasetError, match=r"no LOC_val_solution\.csv gives the labels"):
        load_imagefolder(root, "val")


def test_ham10000_reads_the_dataverse_tab_file(tmp_path):
    # The Dataverse serves HAM10000_metadata by default as its tab-separated conversion,
    # HAM10000_metadata.tab (strings in double quotes, a missing age empty), which many
    # users download; before, the loader asked for HAM10000_metadata.csv and stopped.
    w = write_ham10000(tmp_path)
    csv_file = w["root"] / "HAM10000_metadata.csv"
    expected = load_ham10000(w["root"])
    tab_rows = [
        "\t".join(f'"{v}"' if v and k != 4 else v for k, v in enumerate([*r, "vidir_modern"]))
        for r in w["rows"]
    ]
    tab = HAM_HEADER.replace(",", "\t") + "\n" + "\n".join(tab_rows) + "\n"
    (w["root"] / "HAM10000_metadata.tab").write_text(tab)
    csv_file.write_text(HAM_HEADER + "\n")  # the .csv, when there is one, is read first
    with pytest.raises(DatasetFormatError, match=r"metadata\.csv: no rows after the header"):
        load_ham10000(w["root"])
    csv_file.unlink()
    ds = load_ham10000(w["root"])
    assert ds.labels.tolist() == expected.labels.tolist()
    assert ds.concept_names == expected.concept_names
    np.testing.assert_array_equal(ds.concept_labels, expected.concept_labels)
    assert [p.name for p in ds.image_source.items] == [f"{r[1]}.jpg" for r in w["rows"]]
    assert ds.skipped == expected.skipped


@pytest.mark.parametrize("delimiter", [",", "\t"])
def test_ham10000_reads_the_dataverse_download_all_layout(tmp_path, delimiter):
    # The Dataverse's "download all" archive holds the metadata as HAM10000_metadata,
    # without extension, and image archives whose .jpg files have no folder, so they
    # extract into root; before, the loader asked for HAM10000_metadata.csv and, with it
    # renamed, did not find the images.
    w = write_ham10000(tmp_path)
    root = w["root"]
    expected = load_ham10000(root)
    text = (root / "HAM10000_metadata.csv").read_text()
    (root / "HAM10000_metadata.csv").unlink()
    (root / "HAM10000_metadata").write_text(text.replace(",", delimiter))
    for part in ("HAM10000_images_part_1", "HAM10000_images_part_2"):
        for f in sorted((root / part).iterdir()):
            f.rename(root / f.name)
        (root / part).rmdir()
    ds = load_ham10000(root)
    assert ds.labels.tolist() == expected.labels.tolist()
    assert ds.concept_names == expected.concept_names
    np.testing.assert_array_equal(ds.concept_labels, expected.concept_labels)
    assert ds.groups.tolist() == expected.groups.tolist()
    assert ds.image_source.items == [root / f"{r[1]}.jpg" for r in w["rows"]]
    # an image both in root and in a part folder is a doubled copy: refused
    (root / "HAM10000_images_part_1").mkdir()
    (root / "HAM10000_images_part_1" / "ISIC_0026769.jpg").write_bytes(b"x")
    with pytest.raises(DatasetFormatError, match=r"line 4: image ISIC_0026769\.jpg is in both"):
        load_ham10000(root)


def test_imagenet_kaggle_layout_finds_its_label_files(tmp_path):
    # Kaggle's ImageNet (imagenet-object-localization-challenge) keeps the images in
    # ILSVRC/Data/CLS-LOC/{train,val}/ and LOC_val_solution.csv, LOC_synset_mapping.txt
    # three levels up; before, the loader looked only in root and its parent, so the flat
    # val folder was refused ("no LOC_val_solution.csv") and classes kept their wnids.
    from dataset_formats import image

    top = tmp_path / "imagenet-object-localization-challenge"
    root = top / "ILSVRC" / "Data" / "CLS-LOC"
    for i in range(3):
        image(root / "val" / f"ILSVRC2012_val_{i + 1:08d}.JPEG", (16, 16), fmt="JPEG")
    image(root / "train" / "n01440764" / "n01440764_10026.JPEG", (16, 16), fmt="JPEG")
    wnids = ["n01443537", "n01440764", "n01443537"]
    rows = [f"ILSVRC2012_val_{i + 1:08d},{w} 10 20 30 40" for i, w in enumerate(wnids)]
    (top / "LOC_val_solution.csv").write_text("ImageId,PredictionString\n" + "\n".join(rows))
    (top / "LOC_synset_mapping.txt").write_text(
        "n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\n"
    )
    val = load_imagefolder(root, "val")
    assert val.class_names == ["tench", "goldfish"] and val.labels.tolist() == [1, 0, 1]
    assert load_imagefolder(root, "train").class_names == ["tench"]
    # the same folders under other names are not taken for the Kaggle layout
    other = tmp_path / "elsewhere" / "Data" / "CLS-LOC"
    (tmp_path / "imagenet-object-localization-challenge").rename(tmp_path / "elsewhere")
    (tmp_path / "elsewhere" / "ILSVRC").rename(tmp_path / "elsewhere" / "x")
    (tmp_path / "elsewhere" / "x" / "Data").rename(tmp_path / "elsewhere" / "Data")
    assert other.is_dir()
    with pytest.raises(MissingDatasetError, match=r"no LOC_val_solution\.csv gives the labels"):
        load_imagefolder(other, "val")


def test_imagenet_synsets_sharing_a_first_name_get_their_wnid(tmp_path):
    # ImageNet's LOC_synset_mapping.txt gives two synsets the first name "crane" (the bird,
    # n02012849, and the machine, n03126707) and two "maillot" (n03710637, n03710721 "maillot,
    # tank suit"). Before, every class took its first name, so the real ImageNet with the
    # default synset_names=True stopped with "class_names: names must be unique, ['crane',
    # 'maillot'] repeat". Classes stay the sorted wnids (torchvision's order).
    from dataset_formats import image

    root = tmp_path / "imagenet"
    wnids = ["n01440764", "n02012849", "n03126707", "n03710637", "n03710721"]
    for w in wnids[::-1]:
        image(root / "train" / w / f"{w}_1.JPEG", (16, 16), fmt="JPEG")
    (root / "LOC_synset_mapping.txt").write_text(
        "n01440764 tench, Tinca tinca\nn02012849 crane\nn03126707 crane\n"
        "n03710637 maillot\nn03710721 maillot, tank suit\n"
    )
    ds = load_imagefolder(root, "train")
    assert ds.class_names == [
        "tench",
        "crane (n02012849)",
        "crane (n03126707)",
        "maillot (n03710637)",
        "maillot (n03710721)",
    ]
    assert ds.labels.tolist() == [0, 1, 2, 3, 4]
    assert [p.parent.name for p in map(Path, ds.image_source.paths)] == wnids


def test_awa2_classes_outside_the_split_are_refused(tmp_path):
    # Before: with split="trainclasses", classes=["antelope", "grizzly+bear"] (a test
    # class) gave the antelope images only, silently; classes of the other split alone
    # stopped with "images: got an empty list", which named neither argument.
    w = write_awa2(tmp_path)
    with pytest.raises(ValueError, match=r"classes: \['grizzly\+bear'\] are not in split "):
        load_awa2(w["root"], "trainclasses", classes=["antelope", "grizzly+bear"])
    with pytest.raises(ValueError, match=r"classes: \['antelope'\] are not in split 'testcl"):
        load_awa2(w["root"], "testclasses", classes=["antelope"])
    ds = load_awa2(w["root"], "trainclasses", classes=["killer+whale"])
    assert ds.labels.tolist() == [2] * 4


def _imagenet_wnids() -> list[str]:
    """1000 sorted wnids shaped as ImageNet's (its real wnids at the positions bottlekit
    checks, stand-ins between): OpenAI's table is indexed by the sorted 1000."""
    from dataset_formats import imagenet_wnids

    return imagenet_wnids()


def _imagenet_with_clip_classes(root, picked, synsets=True):
    from dataset_formats import image

    wnids = _imagenet_wnids()
    for i in picked:
        image(root / "val" / wnids[i] / f"{wnids[i]}_1.JPEG", (16, 16), fmt="JPEG")
    if synsets:
        (root / "LOC_synset_mapping.txt").write_text(
            "".join(f"{w} synset {i}, other name\n" for i, w in enumerate(wnids))
        )
    return wnids


def test_imagenet_clip_names_are_openais_by_sorted_wnid_index(tmp_path):
    # A subset of ImageNet's classes (the synset file has all 1000): each class takes the
    # name of OpenAI's table at its wnid's index, crane bird (134) and construction crane
    # (517) where the synsets' first names are both "crane"; the table's two repeated
    # names (missile 657 / 744, sunglasses 836 / 837) get their wnid like shared synsets.
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    root = tmp_path / "imagenet"
    picked = [0, 134, 517, 639, 657, 744, 999]
    wnids = _imagenet_with_clip_classes(root, picked)
    ds = load_imagefolder(root, "val", clip_names=True)
    assert ds.class_names == [
        "tench",
        "crane bird",
        "construction crane",
        "one-piece bathing suit",
        f"missile ({wnids[657]})",
        f"missile ({wnids[744]})",
        "toilet paper",
    ]
    assert [IMAGENET_CLASSNAMES[i] for i in (0, 134, 639, 999)] == [
        ds.class_names[k] for k in (0, 1, 3, 6)
    ]
    # without clip_names the synset file's first names, as before
    assert load_imagefolder(root, "val").class_names[:2] == ["synset 0", "synset 134"]


def test_imagenet_clip_names_need_imagenets_own_wnids(tmp_path):
    # OpenAI's names go by position: 1000 wnids that are not ImageNet-1k's got them
    # silently (a stand-in list of n10000000, n10001000, ... named class 0 "tench")
    root = tmp_path / "imagenet"
    _imagenet_with_clip_classes(root, [0, 5])
    stand_ins = [f"n{10_000_000 + 1_000 * i:08d}" for i in range(1000)]
    (root / "LOC_synset_mapping.txt").write_text("".join(f"{w} s\n" for w in stand_ins))
    with pytest.raises(DatasetFormatError, match=r"position 0 holds 'n10000000' where Image"):
        load_imagefolder(root, "val", clip_names=True)


def test_imagenet_clip_names_need_imagenets_1000_wnids(tmp_path):
    root = tmp_path / "imagenet"
    _imagenet_with_clip_classes(root, [0, 5, 9], synsets=False)
    with pytest.raises(DatasetFormatError, match=r"clip_names: .*1000 sorted wnids; .* has 3 cl"):
        load_imagefolder(root, "val", clip_names=True)
    # a synset file that is not ImageNet's 1000
    (root / "LOC_synset_mapping.txt").write_text("n10000000 a\nn10005000 b\nn10009000 c\n")
    with pytest.raises(
        DatasetFormatError, match=r"the synset file .*LOC_synset_mapping\.txt lists 3"
    ):
        load_imagefolder(root, "val", clip_names=True)
    # a class folder that is not in it
    other = tmp_path / "other"
    _imagenet_with_clip_classes(other, [0, 5])
    image_dir = other / "val" / "n99999999"
    from dataset_formats import image

    image(image_dir / "x.JPEG", (16, 16), fmt="JPEG")
    with pytest.raises(DatasetFormatError, match=r"1 class\(es\) of .* first 'n99999999'"):
        load_imagefolder(other, "val", clip_names=True)
    with pytest.raises(TypeError, match=r"clip_names: expected True or False, got 'yes'"):
        load_imagefolder(other, "val", clip_names="yes")


def test_imagenet_clip_names_from_all_1000_class_folders(tmp_path):
    # without a synset file, the class folders themselves when they are ImageNet's 1000
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    root = tmp_path / "imagenet"
    wnids = _imagenet_with_clip_classes(root, range(1000), synsets=False)
    ds = load_imagefolder(root, "val", clip_names=True)
    assert len(ds.class_names) == 1000
    repeated = {657, 744, 836, 837}
    for i in (0, 134, 517, 638, 639, 999):
        assert ds.class_names[i] == IMAGENET_CLASSNAMES[i]
    for i in repeated:
        assert ds.class_names[i] == f"{IMAGENET_CLASSNAMES[i]} ({wnids[i]})"


@pytest.mark.filterwarnings("ignore:.*hold no image:UserWarning")
def test_clip_names_count_says_which_class_folders_are_empty(tmp_path):
    # 1000 class folders, one of them empty: before, the error said "has 999 class
    # folders" of a folder that has 1000
    root = tmp_path / "imagenet"
    wnids = _imagenet_with_clip_classes(root, range(999), synsets=False)
    (root / "val" / wnids[999]).mkdir()
    with pytest.raises(
        DatasetFormatError, match=r"has 999 class folders with images \(1 more without\)\."
    ):
        load_imagefolder(root, "val", clip_names=True)


@pytest.mark.filterwarnings("ignore:images.*hold no image:UserWarning")  # the empty n09999999
def test_imagefolder_flags_take_numpy_booleans(tmp_path):
    # Before: TypeError "clip_names: expected a bool, got bool" (numpy's bool_), and the
    # same for synset_names
    w = write_imagenet_like(tmp_path)
    assert load_imagefolder(w["root"], "val", synset_names=np.False_).class_names == w["wnids"]
    assert load_imagefolder(w["root"], "val", synset_names=np.True_).class_names == [
        "tench",
        "goldfish",
    ]
    assert load_imagefolder(w["root"], "val", clip_names=np.False_).class_names == [
        "tench",
        "goldfish",
    ]


def test_awa2_classes_from_any_sequence_or_iterable(tmp_path):
    w = write_awa2(tmp_path)
    two = ["antelope", "killer+whale"]
    expected = _quiet(load_awa2, w["root"], classes=two).labels.tolist()
    # Before: numpy's "truth value of an array with more than one element is ambiguous"
    assert _quiet(load_awa2, w["root"], classes=np.array(two)).labels.tolist() == expected
    # Before: the generator was consumed by the type check, leaving no class and then
    # "images: got an empty list"
    assert _quiet(load_awa2, w["root"], classes=(c for c in two)).labels.tolist() == expected
    # Before: TypeError "'int' object is not iterable"
    with pytest.raises(TypeError, match=r"classes: expected a list of class names \(str\), got 5"):
        load_awa2(w["root"], classes=5)


def test_a_synset_listed_twice_is_refused_by_line(tmp_path):
    # Before: the last line won silently ("n10005000 other name" renamed class 5), and a
    # 1001-line file with a repeated line passed clip_names' check of ImageNet's 1000.
    root = tmp_path / "imagenet"
    wnids = _imagenet_with_clip_classes(root, [0, 5])
    lines = [f"{w} synset {i}, other name\n" for i, w in enumerate(wnids)]
    mapping = root / "LOC_synset_mapping.txt"
    mapping.write_text("".join(lines) + f"{wnids[5]} other name\n")
    with pytest.raises(DatasetFormatError, match=rf"line 1001: synset '{wnids[5]}' is listed tw"):
        load_imagefolder(root, "val")
    mapping.write_text("".join(lines) + lines[3])
    with pytest.raises(DatasetFormatError, match=r"line 1001: .* \(first on line 4\)"):
        load_imagefolder(root, "val", clip_names=True)


def test_a_synset_file_in_another_format_is_named(tmp_path):
    root = tmp_path / "imagenet"
    wnids = _imagenet_with_clip_classes(root, [0, 5], synsets=False)
    given = tmp_path / "synsets.csv"
    given.write_text("".join(f"{w},synset {i}\n" for i, w in enumerate(wnids)))
    # Before: a file given by name whose keys ('n01440764,synset') name no class left the
    # wnids as class names, silently.
    with pytest.raises(DatasetFormatError, match=r"synset_names: .* names none of the 2 cl"):
        load_imagefolder(root, "val", synset_names=given)
    # clip_names on the file found in root said only "not in the synset file"; now it
    # shows the file's key where ImageNet's first wnid should be
    (root / "LOC_synset_mapping.txt").write_text(given.read_text())
    with pytest.raises(DatasetFormatError, match=r"position 0 holds 'n01440764,synset' where"):
        load_imagefolder(root, "val", clip_names=True)


def test_a_synset_file_found_that_names_no_class_is_ignored_with_a_warning(tmp_path):
    # Before: a LOC_synset_mapping.txt of another dataset, found next to the class
    # folders, was ignored silently (the folder names stayed, nothing said so).
    from dataset_formats import image

    root = tmp_path / "flowers"
    for c in ("daisy", "rose"):
        image(root / c / "a.png", (8, 8))
    (tmp_path / "LOC_synset_mapping.txt").write_text("n01440764 tench, Tinca tinca\n")
    with pytest.warns(UserWarning) as got:
        ds = load_imagefolder(root)
    assert ds.class_names == ["daisy", "rose"]
    message = str(got[0].message)
    found = tmp_path / "LOC_synset_mapping.txt"
    assert message == (
        f"synset_names: the synset file found, {found}, names none of the 2 classes of "
        f"{root} (first class 'daisy', the file's first synset 'n01440764'), so it is "
        "ignored and the classes keep their folder names; pass synset_names=False not to "
        "look for one, or synset_names=PATH for the file of these classes"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_imagefolder(root, synset_names=False).class_names == ["daisy", "rose"]


def test_a_synset_file_found_that_names_some_classes_warns_of_the_others(tmp_path):
    # Before: the classes the file lists took its names, the others kept their wnids,
    # silently: a mix of names and wnids.
    from dataset_formats import image

    root = tmp_path / "imagenet"
    _imagenet_with_clip_classes(root, [0, 5])
    image(root / "val" / "n99999999" / "x.JPEG", (16, 16), fmt="JPEG")
    with pytest.warns(
        UserWarning,
        match=r"1 of the 3 classes of .* are not in it, first "
        r"'n99999999': those keep their folder names",
    ) as got:
        ds = load_imagefolder(root, "val")
    assert str(root / "LOC_synset_mapping.txt") in str(got[0].message)
    assert ds.class_names == ["synset 0", "synset 5", "n99999999"]


def test_a_synset_file_given_must_name_every_class(tmp_path):
    # Before: a file passed as synset_names that lacks some classes named the others and
    # left those with their wnids, silently.
    root = tmp_path / "imagenet"
    wnids = _imagenet_with_clip_classes(root, [0, 5, 9], synsets=False)
    given = tmp_path / "mine.txt"
    given.write_text(f"{wnids[0]} tench\n{wnids[9]} nine\n")
    with pytest.raises(
        DatasetFormatError,
        match=rf"synset_names: {given} does not name 1 of the 3 classes of .*, first "
        rf"'{wnids[5]}'; expected a '<wnid> <names>' line for every class folder",
    ):
        load_imagefolder(root, "val", synset_names=given)
    given.write_text(f"{wnids[0]} tench\n{wnids[5]} five\n{wnids[9]} nine\n")
    assert load_imagefolder(root, "val", synset_names=given).class_names == [
        "tench",
        "five",
        "nine",
    ]


def test_clip_names_errors_name_the_synset_file_they_read(tmp_path):
    # Before: "the synset file lists 1001 classes", "... are not in the synset file": the
    # file is looked for in three folders, and the error did not say which one it read
    # (a LOC_synset_mapping.txt in root's parent, from another copy of ImageNet, say).
    from dataset_formats import image

    wnids = _imagenet_wnids()
    found = tmp_path / "LOC_synset_mapping.txt"
    root = tmp_path / "flowers"
    for c in ("daisy", "rose"):
        image(root / c / "a.png", (8, 8))
    found.write_text("".join(f"{w} s\n" for w in wnids))
    with pytest.raises(DatasetFormatError, match=rf"not in the synset file {found}, first 'dai"):
        load_imagefolder(root, clip_names=True)
    found.write_text("".join(f"{w} s\n" for w in [*wnids, "n99999999"]))
    with pytest.raises(DatasetFormatError, match=rf"the synset file {found} lists 1001 classes"):
        load_imagefolder(root, clip_names=True)
    found.write_text("".join(f"n{10_000_000 + 1_000 * i:08d} s\n" for i in range(1000)))
    with pytest.raises(DatasetFormatError, match=rf"clip_names: the synset file {found} lists 1"):
        load_imagefolder(root, clip_names=True)


def test_a_synset_without_a_first_name_is_refused_by_line(tmp_path):
    # Before: "n01443537 , goldfish" named the class '' (the empty text before the
    # first comma), silently.
    w = write_imagenet_like(tmp_path)
    mapping = w["root"] / "LOC_synset_mapping.txt"
    mapping.write_text("n01440764 tench, Tinca tinca\nn01443537 , goldfish\n")
    with pytest.raises(
        DatasetFormatError,
        match=r"LOC_synset_mapping\.txt, line 2: synset 'n01443537' has no name before its "
        r"first comma; expected '<wnid> <name>, <other names>'",
    ):
        _quiet(load_imagefolder, w["root"], "val")


def test_an_empty_synset_file_is_said_to_list_no_synset(tmp_path):
    # Before: "... the file's first synset None" for a file of no line.
    from dataset_formats import image

    root = tmp_path / "flowers"
    for c in ("daisy", "rose"):
        image(root / c / "a.png", (8, 8))
    given = tmp_path / "LOC_synset_mapping.txt"
    given.write_text("\n")
    with pytest.raises(DatasetFormatError, match=r"\(first class 'daisy'; the file lists no syn"):
        load_imagefolder(root, synset_names=given)
    with pytest.warns(UserWarning, match=r"\(first class 'daisy'; the file lists no synset\)"):
        load_imagefolder(root)


def _imagenet_train_and_flat_val(root):
    from dataset_formats import image

    wnids = _imagenet_wnids()[:2]
    for w in wnids:
        image(root / "train" / w / f"{w}_0.JPEG", (16, 16), fmt="JPEG")
    for i in range(2):
        image(root / "val" / f"ILSVRC2012_val_{i:08d}.JPEG", (16, 16), fmt="JPEG")
    return root


def test_imagenet_root_with_a_flat_val_is_not_read_as_two_classes(tmp_path):
    # Before: train/<wnid>/ beside a flat val/ (ImageNet's own layout) read the root as
    # the classes 'train' and 'val', silently: the split-folder rule looked only at
    # folders where no class folder held an image itself.
    root = _imagenet_train_and_flat_val(tmp_path / "imagenet")
    with pytest.raises(DatasetFormatError, match=r"\['train'\] hold sub-folders of images"):
        load_imagefolder(root)
    assert load_imagefolder(root, "train").class_names == _imagenet_wnids()[:2]


def test_a_flat_val_without_its_solution_says_where_to_put_it(tmp_path):
    # Before: "no LOC_val_solution.csv gives the labels of its 2 images", with neither
    # where it was looked for nor how to pass it.
    root = _imagenet_train_and_flat_val(tmp_path / "imagenet")
    with pytest.raises(MissingDatasetError) as err:
        load_imagefolder(root, "val")
    text = str(err.value)
    assert f"looked for in {root / 'val'}, {root}, {tmp_path}" in text
    assert "pass val_solution=PATH (for a recipe, --set dataset.options.val_solution" in text
    # Before: TypeError "expected str, bytes or os.PathLike object, not int" from pathlib
    with pytest.raises(TypeError, match=r"val_solution: expected a path .*, got int"):
        load_imagefolder(root, "val", val_solution=3)


@pytest.mark.parametrize("split", ["", "  "])
def test_a_blank_split_is_refused(tmp_path, split):
    # Before: root / "" is root, so the split folders were read as the classes of one
    # split named '', silently.
    root = _imagenet_train_and_flat_val(tmp_path / "imagenet")
    with pytest.raises(ValueError, match=r"split: expected a sub-folder name or None, got"):
        load_imagefolder(root, split)


def test_a_missing_split_folder_says_which_root_to_pass(tmp_path):
    # Before: ".../imagenet/train/train: image folder not found" and nothing more, for a
    # root one level too low, a root that does not exist or a split root lacks.
    root = _imagenet_train_and_flat_val(tmp_path / "imagenet")
    with pytest.raises(MissingDatasetError, match=r"holds train/: pass .*imagenet$"):
        load_imagefolder(root / "train", "train")
    with pytest.raises(MissingDatasetError, match=r"root .*nowhere does not exist"):
        load_imagefolder(tmp_path / "nowhere", "train")
    with pytest.raises(MissingDatasetError, match=r"split 'test' as a sub-folder of root, which"):
        load_imagefolder(root, "test")


def test_waterbirds_keypoints_outside_their_image_are_made_not_visible(tmp_path):
    # Before: a CUB keypoint outside its image drew a disc cut by the Waterbirds image's
    # edge (a part mask partly empty), silently; checked as load_cub checks it, against
    # the Waterbirds image (the CUB image's size), naming the CUB file's line.
    cub = write_cub(tmp_path)
    wb = write_waterbirds(tmp_path, cub)
    path = cub["root"] / "parts" / "part_locs.txt"
    lines = path.read_text().splitlines()
    lines[16] = "2 2 3.0 99.0 1"  # image 2's beak, below its 48 x 30 image
    path.write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning) as got:
        ds = load_waterbirds(wb["root"], "all", cub_root=cub["root"], image_size=16)
    (message,) = [str(w.message) for w in got if "outside" in str(w.message)]
    assert message.startswith(
        f"{path}, line 17: image id 2 ({wb['root'] / cub['paths'][1]}, 48x30 pixels) has its "
        "visible keypoint 'beak' at x=3, y=99, outside the image; expected x in 0..48 and y "
        "in 0..30"
    )
    np.testing.assert_array_equal(ds.part_keypoints[1, 1], [0, 0, 0])
    assert ds.skipped["visible keypoints outside their image (made not visible)"] == 1


def test_waterbirds_counts_the_keypoints_of_its_own_rows(tmp_path):
    # Before: the counts of skipped keypoints, and the warning of images without a
    # visible keypoint, were those of all of CUB (which Waterbirds reads whole), whatever
    # the split: "train" said 1 image without a visible keypoint, of another split.
    cub = write_cub(tmp_path)
    wb = write_waterbirds(tmp_path, cub)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # image 5, without a visible keypoint, is not in it
        ds = load_waterbirds(wb["root"], "train", cub_root=cub["root"])
    rows = [i for i, r in enumerate(wb["rows"]) if r[3] == 0]
    kp = cub["keypoints"][rows]
    assert 5 not in rows and ds.skipped == {
        "keypoints not visible": int((kp[..., 2] == 0).sum()),
        "images without a visible keypoint": 0,
    }
    with pytest.warns(UserWarning, match=r"Waterbirds test: 1 image\(s\) have no visible"):
        ds = load_waterbirds(wb["root"], "test", cub_root=cub["root"])
    assert ds.skipped["images without a visible keypoint"] == 1
