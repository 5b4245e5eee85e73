"""Hostile input for the real-dataset adapters, through their public API: files written by
others (byte-order marks, CRLF, other encodings, duplicated rows, paths that leave the
dataset's folder, odd image modes), bad arguments, and downloads from a local server
that fails (404, cut body, hang) or archives that are damaged.

Every case here was a BAD case before (its comment says what happened); the fixtures are
the exact release formats of ``dataset_formats.py``.
"""

from __future__ import annotations

import dataclasses
import http.server
import io
import os
import re
import tarfile
import threading
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from dataset_formats import (
    write_awa2,
    write_celeba,
    write_cifar,
    write_cub,
    write_ham10000,
    write_imagenet_like,
    write_waterbirds,
)
from PIL import Image

from bottlekit.datasets import (
    DatasetFormatError,
    KeypointPartMasks,
    MissingDatasetError,
    RecordImages,
    ResizedImages,
    koh_attribute_subset,
    load_awa2,
    load_celeba,
    load_cifar10,
    load_cub,
    load_dataset,
    load_ham10000,
    load_imagefolder,
    load_waterbirds,
)
from bottlekit.datasets import download as dl

BOM = b"\xef\xbb\xbf"


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fn(*args, **kw)


def _edit(path: Path, change) -> None:
    path.write_bytes(change(path.read_bytes()))


def _crlf_bom(data: bytes) -> bytes:
    return BOM + data.replace(b"\n", b"\r\n")


# ---------------------------------------------------------------- text as others write it


def test_cub_files_with_bom_and_crlf_load_as_the_plain_ones(tmp_path):
    # Before: a byte-order mark (files saved on Windows) made the first id '\ufeff1' and
    # every CUB file was refused ("image id is '\ufeff1'; expected an integer").
    cub = write_cub(tmp_path)
    plain = _quiet(load_cub, cub["root"], "all")
    for f in [*cub["root"].rglob("*.txt"), tmp_path / "attributes.txt"]:
        _edit(f, _crlf_bom)
    ds = _quiet(load_cub, cub["root"], "all")
    assert ds.image_source.paths == plain.image_source.paths
    assert ds.class_names == plain.class_names and ds.concept_names == plain.concept_names
    np.testing.assert_array_equal(ds.concept_labels, plain.concept_labels)
    np.testing.assert_array_equal(ds.class_concept_matrix, plain.class_concept_matrix)
    np.testing.assert_array_equal(ds.part_keypoints, plain.part_keypoints)


def test_files_with_old_mac_line_ends_load_as_the_plain_ones(tmp_path):
    # Before: a file whose lines end in a lone CR (classic Mac OS, and Excel for Mac's
    # text export) was one line: "image_class_labels.txt, line 1: expected 2 columns,
    # got 24"; images.txt alone, one image whose name held all the others
    # ("image_class_labels.txt, line 2: image id 2 is not in images.txt", blaming
    # another file). The CSV files (Waterbirds, HAM10000) were read, by the csv module.
    cub = write_cub(tmp_path)
    plain = _quiet(load_cub, cub["root"], "all")
    for f in [*cub["root"].rglob("*.txt"), tmp_path / "attributes.txt"]:
        _edit(f, lambda b: b.replace(b"\n", b"\r"))
    ds = _quiet(load_cub, cub["root"], "all")
    assert ds.image_source.paths == plain.image_source.paths
    assert ds.class_names == plain.class_names and ds.concept_names == plain.concept_names
    np.testing.assert_array_equal(ds.concept_labels, plain.concept_labels)
    np.testing.assert_array_equal(ds.part_keypoints, plain.part_keypoints)
    # and the line numbers count those lines
    _edit(cub["root"] / "bounding_boxes.txt", lambda b: b.replace(b"\r3 ", b"\r3 x ", 1))
    with pytest.raises(DatasetFormatError, match=r"bounding_boxes\.txt, line 3: expected 5"):
        load_cub(cub["root"], "all")


@pytest.mark.filterwarnings("ignore:images.*hold no image:UserWarning")  # the empty n09999999
def test_other_text_files_with_bom_load_as_the_plain_ones(tmp_path):
    # Before: with a byte-order mark, the CIFAR-10 class 0 was named '\ufeffairplane'
    # (silently), the first synset kept its wnid as name (silently), and AwA2's
    # classes.txt, CelebA's list_attr_celeba.txt, HAM10000's header and ImageNet's
    # LOC_val_solution.csv header were refused.
    cifar = write_cifar(tmp_path / "c", hundred=False)
    _edit(cifar["root"] / "batches.meta.txt", _crlf_bom)
    assert load_cifar10(cifar["root"], "test").class_names == cifar["names"]

    net = write_imagenet_like(tmp_path / "i")
    _edit(net["root"] / "LOC_synset_mapping.txt", _crlf_bom)
    assert load_imagefolder(net["root"], "train").class_names == ["tench", "goldfish"]

    awa = write_awa2(tmp_path / "a")
    for f in awa["root"].glob("*.txt"):
        _edit(f, _crlf_bom)
    assert len(load_awa2(awa["root"], "trainclasses")) == 8

    celeba = write_celeba(tmp_path / "ce")
    for f in celeba["root"].glob("*.txt"):
        _edit(f, _crlf_bom)
    assert len(load_celeba(celeba["root"], "all")) == 12

    ham = write_ham10000(tmp_path / "h")
    _edit(ham["root"] / "HAM10000_metadata.csv", _crlf_bom)
    assert len(load_ham10000(ham["root"])) == 6

    flat = net["root"] / "flat"
    flat.mkdir()
    for i in range(2):
        Image.new("RGB", (4, 4)).save(flat / f"ILSVRC2012_val_0000000{i}.JPEG")
    (flat / "LOC_val_solution.csv").write_bytes(
        _crlf_bom(
            b"ImageId,PredictionString\n"
            b"ILSVRC2012_val_00000000,n01 1 2 3 4\nILSVRC2012_val_00000001,n02 1 2 3 4\n"
        )
    )
    # the root's synset file names neither stand-in wnid: ignored, and said so
    with pytest.warns(UserWarning, match=r"names none of the 2 classes .* ignored"):
        assert load_imagefolder(net["root"], "flat").class_names == ["n01", "n02"]


def _cub_latin1(tmp_path):
    cub = write_cub(tmp_path)
    _edit(cub["root"] / "images.txt", lambda b: b.replace(b"Albatross", b"Albatr\xf6ss", 1))
    return lambda: load_cub(cub["root"], "all"), r"images\.txt, line 1: byte b'\\xf6' is not UTF-8"


def _waterbirds_latin1(tmp_path):
    wb = write_waterbirds(tmp_path, write_cub(tmp_path))
    _edit(wb["root"] / "metadata.csv", lambda b: b.replace(b"Albatross", b"Albatr\xf6ss", 1))
    return lambda: load_waterbirds(wb["root"], "all"), r"metadata\.csv, line 2: byte b'\\xf6'"


def _ham_latin1(tmp_path):
    ham = write_ham10000(tmp_path)
    _edit(ham["root"] / "HAM10000_metadata.csv", lambda b: b.replace(b"scalp", b"sc\xe4lp", 1))
    return lambda: load_ham10000(ham["root"]), r"metadata\.csv, line 2: byte b'\\xe4'"


def _cifar_latin1(tmp_path):
    cifar = write_cifar(tmp_path, hundred=False)
    _edit(cifar["root"] / "batches.meta.txt", lambda b: b.replace(b"cat", b"c\xe0t"))
    return lambda: load_cifar10(cifar["root"], "test"), r"batches\.meta\.txt, line 4: byte"


@pytest.mark.parametrize("case", [_cub_latin1, _waterbirds_latin1, _ham_latin1, _cifar_latin1])
def test_text_that_is_not_utf8_is_refused_naming_file_and_line(tmp_path, case):
    # Before: a bare UnicodeDecodeError ("'utf-8' codec can't decode byte 0xf6 in
    # position 25") that named neither the file nor the line.
    call, message = case(tmp_path)
    with pytest.raises(DatasetFormatError, match=message):
        call()


# --------------------------------------------------- file names that leave the dataset


def _replace_in(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new, 1))


def _cub_listed(name):
    def make(parent):
        cub = write_cub(parent)
        first = cub["paths"][0]
        _replace_in(cub["root"] / "images.txt", f"1 {first}", f"1 {name(cub['root'] / 'images')}")
        return lambda: load_cub(cub["root"], "all"), r"images\.txt, line 1: image .* is not a"

    return make


def _waterbirds_listed(name):
    def make(parent):
        wb = write_waterbirds(parent, write_cub(parent))
        first = wb["rows"][0][1]
        _replace_in(wb["root"] / "metadata.csv", f",{first},", f",{name(wb['root'])},")
        return lambda: load_waterbirds(wb["root"], "all"), r"metadata\.csv, line 2: image"

    return make


def _celeba_listed(name):
    def make(parent):
        ce = write_celeba(parent)
        for f in ("list_attr_celeba.txt", "list_eval_partition.txt"):
            _replace_in(ce["root"] / f, "000001.jpg", name(ce["root"] / "img_align_celeba"))
        return lambda: load_celeba(ce["root"], "all"), r"list_attr_celeba\.txt, line 3: image"

    return make


def _ham_listed(name):
    def make(parent):
        ham = write_ham10000(parent)
        folder = ham["root"] / "HAM10000_images_part_1"
        image_id = name(folder).removesuffix(".jpg")  # the loader adds '.jpg'
        _replace_in(ham["root"] / "HAM10000_metadata.csv", "ISIC_0027419", image_id)
        return lambda: load_ham10000(ham["root"]), r"metadata\.csv, line 2: image_id"

    return make


@pytest.mark.parametrize("kind", ["dotdot", "absolute"])
@pytest.mark.parametrize(
    "loader",
    [_cub_listed, _waterbirds_listed, _celeba_listed, _ham_listed],
    ids=["cub", "waterbirds", "celeba", "ham10000"],
)
def test_listed_file_names_outside_the_dataset_are_refused(tmp_path, loader, kind):
    # Before: a file name with '..' parts or an absolute path, read from images.txt,
    # metadata.csv, list_attr_celeba.txt or HAM10000_metadata.csv, was joined to the root
    # as it was, and the image outside the dataset (here tmp_path/secret.jpg, or
    # /etc/... for a hostile file) was read as one of its images.
    secret = tmp_path / "secret.jpg"
    Image.new("RGB", (40, 30), (9, 9, 9)).save(secret)
    if kind == "dotdot":
        name = lambda base: os.path.relpath(secret, base)  # noqa: E731
    else:
        name = lambda base: str(secret)  # noqa: E731
    call, message = loader(name)(tmp_path / "d")
    with pytest.raises(DatasetFormatError, match=message):
        _quiet(call)


def test_awa2_class_names_outside_the_image_folder_are_refused(tmp_path):
    # Before: a class name '../../..' in classes.txt listed the files of that folder
    # (outside the dataset) as its images.
    awa = write_awa2(tmp_path / "d")
    _replace_in(awa["root"] / "classes.txt", "antelope", "../../../x")
    with pytest.raises(DatasetFormatError, match=r"classes\.txt: class '\.\./\.\./\.\./x' is"):
        load_awa2(awa["root"])


# ------------------------------------------------------------ rows given twice (silent)


def _dup_cub(file, line_of):
    def make(tmp_path):
        cub = write_cub(tmp_path)
        path = cub["root"] / file
        _edit(path, lambda b: b + b.splitlines(keepends=True)[line_of])
        return lambda: load_cub(cub["root"], "all"), "listed twice"

    return make


def _dup_waterbirds(tmp_path):
    wb = write_waterbirds(tmp_path, write_cub(tmp_path))
    _edit(wb["root"] / "metadata.csv", lambda b: b + b.splitlines(keepends=True)[1])
    return lambda: load_waterbirds(wb["root"], "all"), r"line 14: img_filename .* listed twice"


def _dup_celeba_attr(tmp_path):
    ce = write_celeba(tmp_path)
    _replace_in(ce["root"] / "list_attr_celeba.txt", "000002.jpg", "000001.jpg")
    return lambda: load_celeba(ce["root"], "all"), r"line 4: image '000001\.jpg' is listed twice"


def _dup_celeba_partition(tmp_path):
    ce = write_celeba(tmp_path)
    _edit(ce["root"] / "list_eval_partition.txt", lambda b: b + b"000001.jpg 2\n")
    return lambda: load_celeba(ce["root"], "train"), r"line 13: image '000001\.jpg' is listed"


def _dup_ham(tmp_path):
    ham = write_ham10000(tmp_path)
    _edit(ham["root"] / "HAM10000_metadata.csv", lambda b: b + b.splitlines(keepends=True)[1])
    return lambda: load_ham10000(ham["root"]), r"line 8: image_id 'ISIC_0027419' is listed"


def _dup_awa_split(tmp_path):
    awa = write_awa2(tmp_path)
    _edit(awa["root"] / "trainclasses.txt", lambda b: b + b"antelope\n")
    return lambda: load_awa2(awa["root"], "trainclasses"), r"line 3: class 'antelope' is listed"


def _dup_concepts_csv(tmp_path):
    net = write_imagenet_like(tmp_path)
    train = net["root"] / "train"
    rows = [f"{f.relative_to(train).as_posix()},1\n" for f in sorted(train.rglob("*.JPEG"))]
    csv = net["root"] / "c.csv"
    csv.write_text("path,a\n" + "".join(rows) + rows[0].replace(",1", ",0"))
    return (
        lambda: load_imagefolder(net["root"], "train", concepts_csv=csv),
        r"c\.csv, line 8: image .* is listed twice \(first on line 2\)",
    )


def _dup_cub_name(file, old, new):
    def make(tmp_path):
        cub = write_cub(tmp_path)
        path = tmp_path / file if file == "attributes.txt" else cub["root"] / file
        new_name = cub["paths"][0] if new is None else new
        old_name = cub["paths"][1] if old is None else old
        _replace_in(path, old_name, new_name)
        return lambda: load_cub(cub["root"], "all"), r"line 2: .* is listed twice \(first on"

    return make


@pytest.mark.parametrize(
    "case",
    [
        # Before: two ids of images.txt naming one file, or two classes of one name, were
        # taken as they were (one image counted twice; two classes that cannot be told
        # apart); a repeated attribute failed as "concept_names: names must be unique"
        # without the file, and a repeated part as "parts ['left eye'] are missing".
        _dup_cub_name("images.txt", None, None),
        _dup_cub_name("classes.txt", "002.Laysan.Albatross", "001.Black_footed Albatross"),
        _dup_cub_name("attributes.txt", "has_wing_color::blue", "has_bill_shape::dagger"),
        _dup_cub_name("parts/parts.txt", "beak", "back"),
        _dup_cub("image_class_labels.txt", 0),
        _dup_cub("attributes/image_attribute_labels.txt", 0),
        _dup_cub("parts/part_locs.txt", 0),
        _dup_waterbirds,
        _dup_celeba_attr,
        _dup_celeba_partition,
        _dup_ham,
        _dup_awa_split,
        _dup_concepts_csv,
    ],
)
def test_a_row_given_twice_is_refused(tmp_path, case):
    # Before: silently accepted. CUB's per-image files and the concepts CSV kept the last
    # value; Waterbirds, CelebA, HAM10000 and AwA2's split file counted the image (or the
    # whole class) twice; a second partition line moved an image to another split.
    call, message = case(tmp_path)
    with pytest.raises(DatasetFormatError, match=message):
        _quiet(call)


def _respelled_cub(tmp_path):
    cub = write_cub(tmp_path)
    _replace_in(cub["root"] / "images.txt", f"2 {cub['paths'][1]}", f"2 ./{cub['paths'][0]}")
    return lambda: load_cub(cub["root"], "all"), r"images\.txt, line 2: image '001\."


def _respelled_waterbirds(tmp_path):
    wb = write_waterbirds(tmp_path, write_cub(tmp_path))
    first = wb["rows"][0][1]
    folder, name = first.split("/")
    _replace_in(wb["root"] / "metadata.csv", f"2,{wb['rows'][1][1]},", f"2,{folder}//{name},")
    return lambda: load_waterbirds(wb["root"], "all"), r"metadata\.csv, line 3: img_filename"


def _respelled_celeba(tmp_path):
    ce = write_celeba(tmp_path)
    _replace_in(ce["root"] / "list_eval_partition.txt", "000002.jpg", "./000001.jpg")
    return lambda: load_celeba(ce["root"], "all"), r"partition\.txt, line 2: image '000001\.jpg'"


@pytest.mark.parametrize("case", [_respelled_cub, _respelled_waterbirds, _respelled_celeba])
def test_a_file_listed_twice_under_two_spellings_is_refused(tmp_path, case):
    # Before: './a.jpg', 'a//b.jpg' or 'a/./b.jpg' beside 'a.jpg' or 'a/b.jpg' were two
    # names: CUB and Waterbirds read the one image twice, under two labels maybe, and
    # CelebA counted the second partition line as an entry without attributes.
    call, message = case(tmp_path)
    with pytest.raises(DatasetFormatError, match=message + ".* listed twice"):
        _quiet(call)


@pytest.mark.parametrize("dataset", ["waterbirds", "ham10000"])
def test_a_header_naming_a_column_twice_is_refused(tmp_path, dataset):
    # Before: the first of the two was read, silently (pandas would have read it as
    # "y" and "y.1"): Waterbirds' labels from one column, HAM10000's diagnoses from one.
    if dataset == "waterbirds":
        root = write_waterbirds(tmp_path, write_cub(tmp_path))["root"]
        path, old, new = root / "metadata.csv", "place_filename", "y"
        load, message = load_waterbirds, r"column 'y' twice \(columns 3 and 6\)"
    else:
        root = write_ham10000(tmp_path)["root"]
        path, old, new = root / "HAM10000_metadata.csv", "dataset", "dx"
        load, message = load_ham10000, r"column 'dx' twice \(columns 3 and 8\)"
    _replace_in(path, old, new)
    with pytest.raises(
        DatasetFormatError, match=rf"{path.name}, line 1: the header has {message}; expected"
    ):
        _quiet(load, root)


# ------------------------------------------------------------------ other values


def test_values_that_used_to_pass_unnoticed(tmp_path):
    ham = write_ham10000(tmp_path / "h")
    for age in ("-5", "250", "inf", "8_0"):
        # Before: an age outside the bins (or infinite) fell in no age bin, and was not
        # counted as missing either; "8_0" was read as 80 by float().
        text = (ham["root"] / "HAM10000_metadata.csv").read_text()
        (ham["root"] / "HAM10000_metadata.csv").write_text(text.replace(",80.0,", f",{age},", 1))
        with pytest.raises(DatasetFormatError, match=rf"line 2: age is '{age}'; expected"):
            load_ham10000(ham["root"])
        (ham["root"] / "HAM10000_metadata.csv").write_text(text)
    # Before: "NaN" (not "nan") gave no age bin and was not counted as missing.
    _replace_in(ham["root"] / "HAM10000_metadata.csv", ",80.0,", ",NaN,")
    assert load_ham10000(ham["root"]).skipped["images without an age (no age bin)"] == 2

    cub = write_cub(tmp_path / "c")
    _edit(
        cub["root"] / "bounding_boxes.txt",
        lambda b: b.replace(b"1 2.0 3.0 32.0", b"1 2.0 3.0 -3", 1),
    )
    # Before: "object_boxes: width and height must be >= 0", without the file or line.
    with pytest.raises(DatasetFormatError, match=r"bounding_boxes\.txt, line 1: box width"):
        load_cub(cub["root"], "all")

    ce = write_celeba(tmp_path / "e")
    _replace_in(ce["root"] / "list_attr_celeba.txt", "Male", "Smiling")
    # Before: "concept_names: names must be unique", without the file or line.
    with pytest.raises(DatasetFormatError, match=r"list_attr_celeba\.txt, line 2: attribute"):
        load_celeba(ce["root"], "all", spurious=None)


def test_16_bit_images_keep_their_grey_levels(tmp_path):
    # Before: PIL's convert("RGB") clipped 16-bit values at 255, so a mid-grey 16-bit PNG
    # (40000 of 65535) loaded as white (255) in every dataset adapter.
    cub = write_cub(tmp_path)
    first = cub["root"] / "images" / cub["paths"][0]
    Image.fromarray(np.full((30, 40), 40000, np.uint16)).save(first, format="PNG")
    ds = _quiet(load_cub, cub["root"], "all", image_size=8)
    assert np.asarray(ds.image_source.load(0))[0, 0].tolist() == [156, 156, 156]
    # grayscale JPEGs (CUB has some) and palette / RGBA images load as RGB too
    Image.new("L", (40, 30), 128).save(first, format="JPEG")
    assert np.asarray(ds.image_source.load(0))[0, 0].tolist() == [128, 128, 128]


# ------------------------------------------------------------------------ arguments


@pytest.mark.parametrize(
    "call, error, message",
    [
        # Before: TypeError "expected str, bytes or os.PathLike object, not NoneType" from
        # pathlib, without the argument's name.
        (lambda: load_cub(None), TypeError, "root: expected a path"),
        (lambda: load_waterbirds(3), TypeError, "root: expected a path"),
        (lambda: load_celeba(None), TypeError, "root: expected a path"),
        (lambda: load_awa2(None), TypeError, "root: expected a path"),
        (lambda: load_cifar10(None), TypeError, "root: expected a path"),
        (lambda: load_ham10000(None), TypeError, "root: expected a path"),
        # Before: "" (and "  ") was Path(""), the working directory, read silently (or
        # refused as "." without the argument's name)
        (lambda: load_imagefolder(""), ValueError, "root: expected a path, got an empty str"),
        (lambda: load_cub("  "), ValueError, "root: expected a path, got an empty string"),
        (lambda: load_dataset("cifar10", ""), ValueError, "root: expected a path, got an em"),
        (lambda: load_imagefolder(None), TypeError, "root: expected a path"),
        (lambda: load_dataset("cub", None), TypeError, "root: expected a path"),
        (lambda: dl.download_dataset("cifar10", None), TypeError, "root: expected a path"),
        (lambda: load_imagefolder(".", synset_names=3), TypeError, "synset_names: expected"),
        # Before: the string was taken by its truth value ("no" downloads)
        (lambda: load_celeba("x", download="no"), TypeError, "download: expected True"),
        (lambda: load_dataset("ham10000", "x", download="no"), TypeError, "download: expected"),
        # Before: inf was accepted (every mask the whole image)
        (lambda: load_cub(".", part_radius=float("inf")), ValueError, "part_radius: expected"),
        # Before: a str was iterated per letter ("['a', 'n', 't'] are not AwA2 classes"),
        # and [] failed later as "images: got an empty list"
        (lambda: load_awa2(".", classes="antelope"), TypeError, "classes: expected a list"),
        (lambda: load_awa2(".", classes=[]), ValueError, "classes: expected at least one"),
        # Before: AttributeError "'int' object has no attribute 'strip'"
        (lambda: dl.download_dataset("cifar10", ".", checksum=5), TypeError, "checksum: exp"),
        # Before: ValueError "unknown url type: 'notaurl'" from urllib, unnamed
        (lambda: dl.download_file("notaurl", "x"), ValueError, "url: expected an http"),
        # Before: "Timeout value out of range" / "'str' object cannot be interpreted..."
        (lambda: dl.download_file("http://127.0.0.1:9/a", "x", timeout=-1), ValueError, "timeout"),
        (
            lambda: dl.download_file("http://127.0.0.1:9/a", "x", timeout="x"),
            ValueError,
            "timeout",
        ),
        # Before: chunk=0 read nothing and reported "ended after 0 of N bytes"
        (lambda: dl.download_file("http://127.0.0.1:9/a", "x", chunk=0), ValueError, "chunk must"),
        # Before: TypeError "unhashable type: 'list'"
        (lambda: dl.download_dataset(["cub"], "."), ValueError, "name: unknown dataset"),
        # Before: the string was taken by its truth value ("no" kept the archive by chance)
        (lambda: dl.download_dataset("cub", ".", keep_archive="no"), TypeError, "keep_archive"),
        # The lazy pieces, public in bottlekit.datasets. Before: one path given as a str
        # was taken letter by letter ('abc.jpg' made 7 images), size 0 was accepted (and
        # failed in PIL on loading), a missing or bad shape failed when indexed.
        (lambda: ResizedImages("abc.jpg", 4), TypeError, "paths: expected a list of paths"),
        (lambda: ResizedImages(None, 4), TypeError, "paths: expected a list of paths"),
        (lambda: ResizedImages(["a.jpg"], 0), ValueError, "image_size: expected positive"),
        (
            lambda: KeypointPartMasks(np.zeros((2, 3)), np.zeros((2, 4)), [[0]], (8, 8)),
            ValueError,
            r"keypoints: expected shape \(n, K, 3\)",
        ),
        (
            lambda: KeypointPartMasks(np.zeros((2, 3, 3)), np.zeros((1, 4)), [[0]], (8, 8)),
            ValueError,
            r"boxes: expected shape \(2, 4\)",
        ),
        (
            lambda: KeypointPartMasks(np.zeros((2, 3, 3)), np.ones((2, 4)), [[7]], (8, 8)),
            ValueError,
            r"groups: expected 'box' or lists of keypoint indices in 0\.\.2, got \[7\]",
        ),
        # Before: any str group ('bx') was taken as the box, a NaN radius drew empty masks
        (
            lambda: KeypointPartMasks(np.zeros((2, 3, 3)), np.ones((2, 4)), ["bx"], (8, 8)),
            ValueError,
            "groups: expected 'box'",
        ),
        (
            lambda: KeypointPartMasks(
                np.zeros((2, 3, 3)), np.ones((2, 4)), [[0]], (8, 8), radius=float("nan")
            ),
            ValueError,
            "radius: expected",
        ),
        (
            lambda: KeypointPartMasks(np.full((1, 3, 3), np.nan), np.ones((1, 4)), [[0]], (8, 8)),
            ValueError,
            "keypoints: expected finite numbers",
        ),
        # Before: ZeroDivisionError / "cannot reshape array of size 0" / FileNotFoundError
        # from pathlib / a str's letters taken as files
        (lambda: RecordImages(["x.bin"], 0, 1), ValueError, "record_bytes must be an integer"),
        (lambda: RecordImages(["x.bin"], 3073, 5000), ValueError, "offset: expected an int"),
        (lambda: RecordImages(["x.bin"], 3073, 1, (3, 16, 16)), ValueError, "shape: expected"),
        (lambda: RecordImages(["/nonexistent/x.bin"], 3073, 1), MissingDatasetError, "x.bin"),
        (lambda: RecordImages("x.bin", 3073, 1), TypeError, "files: expected a list of paths"),
        # Before: labels of 2 or 0.5 and classes out of range (negative ones wrapped
        # around) were counted silently; a shorter certainty was broadcast; n_classes=0
        # failed as "index 0 is out of bounds for axis 0 with size 0"
        (
            lambda: koh_attribute_subset([[2, 0]], [0], 1),
            ValueError,
            "labels: expected integers in 0..1",
        ),
        (lambda: koh_attribute_subset([[0.5, 1]], [0], 1), ValueError, "labels: expected integ"),
        (lambda: koh_attribute_subset([[1, 0], [0, 1]], [-1, 0], 2), ValueError, "classes: exp"),
        (
            lambda: koh_attribute_subset([[1, 0], [0, 1]], [0], 2),
            ValueError,
            "classes: expected 2",
        ),
        (lambda: koh_attribute_subset([[1, 0]], [0], 1, certainty=[[1]]), ValueError, "certainty"),
        (lambda: koh_attribute_subset([[1, 0]], [0], 0), ValueError, "n_classes must be"),
        (
            lambda: koh_attribute_subset([[1, 0]], [0], 1, min_classes=-1),
            ValueError,
            "min_classes",
        ),
    ],
)
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ------------------------------------------------------------------------- downloads


class _Hostile(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        if self.server.mode == "hang":  # accepts the connection, then says nothing
            self.server.release.wait(5)
            return
        if self.server.mode == "trickle":  # one byte every 0.1 s of a 1 MB file
            self.send_response(200)
            self.send_header("Content-Length", str(10**6))
            self.end_headers()
            for _ in range(150):
                if self.server.release.wait(0.1):
                    return
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:  # the client gave up
                    return
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)


@pytest.fixture
def hostile_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    srv.daemon_threads = True
    srv.mode, srv.body, srv.release = "ok", b"", threading.Event()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/a.tar.gz"
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()
    thread.join()


def test_download_dataset_times_out_fast_on_a_hanging_server(
    hostile_server, tmp_path, monkeypatch
):
    # Before: download_dataset had no timeout argument: a server that accepts and then
    # says nothing held every loader's download=True for 60 s per read.
    monkeypatch.setitem(
        dl.SOURCES, "cifar10", dataclasses.replace(dl.SOURCES["cifar10"], md5=None)
    )
    hostile_server.mode = "hang"
    start = time.monotonic()
    with pytest.raises(dl.DownloadError, match=r"timed out.*put it at"):
        dl.download_dataset(
            "cifar10",
            tmp_path,
            url=hostile_server.url,
            checksum="0" * 64,
            progress=False,
            timeout=0.5,
        )
    assert time.monotonic() - start < 4
    assert not (tmp_path / "cifar-10-binary.tar.gz").exists()  # nothing looks complete


def test_a_trickling_server_is_cut_off_and_the_bytes_are_kept(hostile_server, tmp_path):
    # Before: each read waited for a whole 64 KiB block, and the per-read timeout never
    # fired while a byte came every 0.1 s: a server trickling a 1 MB body held
    # download_file for 15 s here (28 hours for the whole body).
    hostile_server.mode = "trickle"
    start = time.monotonic()
    with pytest.raises(
        dl.DownloadError, match=r"stalled: \d+ bytes in the last [\d.]+ s.*resumes"
    ):
        dl.download_file(hostile_server.url, tmp_path / "a.tar.gz", progress=False, timeout=0.5)
    assert time.monotonic() - start < 4
    part = tmp_path / "a.tar.gz.part"
    assert 1 <= part.stat().st_size <= 40  # what arrived is kept for the next call
    assert not (tmp_path / "a.tar.gz").exists()


# Before (each case): every byte came within the 0.5 s per-read timeout, so no read timed
# out and download_file did not end within the 5 s guard (10x the timeout): the status
# line and headers may take 100 lines of 64 KiB (91 hours at 0.5 s a byte), "100
# Continue" without end never ended, nor did a chunked body whose chunk-size line
# trickles (read1 returned no byte, so the minimum-speed check never ran).
@pytest.mark.parametrize(
    ("script", "phase"),
    [
        ("trickled headers", "answer"),
        ("endless 100 Continue", "answer"),
        ("slow 100 Continue", "answer"),
        ("endless header lines", "answer"),
        ("trickled chunk line", "body"),
    ],
)
def test_an_answer_that_never_ends_is_cut_within_the_timeout(
    hostile_http, tmp_path, script, phase
):
    url = hostile_http.serve(hostile_http.scripts(delay=0.4)[script]) + "/a.tar.gz"
    dest = tmp_path / "a.tar.gz"
    out = hostile_http.run(
        lambda: dl.download_file(url, dest, progress=False, timeout=0.5), limit=5
    )
    assert isinstance(out.error, dl.DownloadError), repr(out.error)
    if phase == "answer":  # no complete status line and headers within `timeout`
        assert re.search(r"timed out.*deadline of 0.5 s.*put it at", str(out.error))
        assert not dest.with_name("a.tar.gz.part").exists()
    else:  # no byte of data for `timeout`: a stall, resumed by the next call
        assert re.search(r"stalled: 0 bytes in the last 0\.\d+ s.*resumes", str(out.error))
    assert out.seconds < 2
    assert out.threads == [] and hostile_http.client_sockets() == []
    assert not dest.exists()


def test_a_chunked_body_with_endless_trailers_is_cut(hostile_http, tmp_path):
    # Before: after the last chunk, http.client reads trailer lines until a blank one,
    # with no limit on their number; sent at full speed no read ever timed out, and
    # download_file did not end within the 5 s guard (no byte counted against max_bytes).
    def endless_trailers():
        yield b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n", 0
        while True:
            yield b"X-Trailer: a\r\n" * 100, 0.001

    url = hostile_http.serve(endless_trailers) + "/a"
    out = hostile_http.run(
        lambda: dl.download_file(url, tmp_path / "a", progress=False, timeout=0.5), limit=5
    )
    assert isinstance(out.error, dl.DownloadError), repr(out.error)
    assert "stalled" in str(out.error) and out.seconds < 2
    assert out.threads == [] and hostile_http.client_sockets() == []


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n", r"BadStatusLine: 'SSH-2\.0-OpenSSH_9\.6'"),
        (b"HTTP/1.1 200 OK\r\n" + b"X-Pad: a\r\n" * 101, "got more than 100 headers"),
        (b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 70_000, "LineTooLong"),
    ],
    ids=["not HTTP", "101 headers", "a 70 kB header line"],
)
def test_an_answer_that_is_not_http_is_a_download_error(hostile_http, tmp_path, answer, named):
    # Before: http.client's own exception came out of download_file as it was
    # (BadStatusLine, HTTPException "got more than 100 headers", LineTooLong), not a
    # DownloadError naming the URL and what to do.
    url = hostile_http.serve(lambda: iter([(answer, 0)])) + "/a"
    with pytest.raises(
        dl.DownloadError, match=r"not a valid HTTP answer, .*" + named + ".*put it at"
    ):
        dl.download_file(url, tmp_path / "a", progress=False, timeout=5)


def test_a_slow_but_steady_answer_is_still_downloaded(hostile_http, tmp_path):
    # The deadline bounds the answer as a whole, not a server that thinks before it
    # answers: headers after 0.3 s of a 0.5 s timeout, then a body over 0.6 s (its reads
    # each well within the timeout, above the minimum speed) are a normal download.
    def slow_then_steady():
        yield b"HTTP/1.1 200 OK\r\nContent-Length: 6000\r\n\r\n", 0.3
        for _ in range(3):
            yield b"x" * 2000, 0.2

    url = hostile_http.serve(slow_then_steady) + "/a"
    got = dl.download_file(url, tmp_path / "a", progress=False, timeout=0.5)
    assert got.read_bytes() == b"x" * 6000


def _damaged_zip(path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("set/a.txt", "a" * 1000)
        zf.writestr("set/b.txt", "b" * 1000)
    raw = bytearray(buf.getvalue())
    i = raw.find(b"b" * 5)
    raw[i : i + 5] = b"XXXXX"  # the second member's bytes no longer match its CRC
    path.write_bytes(bytes(raw))


def _truncated_tgz(path: Path) -> None:
    src = write_cifar(path.parent / "src", hundred=False)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(src["root"], arcname="cifar-10-batches-bin")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


@pytest.mark.parametrize("make", [_damaged_zip, _truncated_tgz])
def test_a_damaged_archive_is_refused_and_leaves_nothing_extracted(tmp_path, make):
    # Before: a bare EOFError ("Compressed file ended before the end-of-stream marker")
    # or BadZipFile ("Bad CRC-32 for file 'set/b.txt'"), and the zip's members written
    # before the bad one stayed in the target folder, a half dataset that looks whole.
    archive = tmp_path / "archive.bin"
    make(archive)
    out = tmp_path / "out"
    (out / "kept").mkdir(parents=True)  # what was there before stays
    with pytest.raises(ValueError, match=r"archive\.bin: cannot extract it .*was removed"):
        dl.safe_extract(archive, out)
    assert [p.name for p in out.iterdir()] == ["kept"]


@pytest.mark.filterwarnings("ignore:images.*hold no image:UserWarning")  # the empty n09999999
def test_empty_selections_and_layout_slips_are_named(tmp_path):
    # Before: a split without any image (CUB) or a split file listing no class (AwA2)
    # failed as "images: got an empty list; expected at least one image", naming no file.
    cub = write_cub(tmp_path / "c")
    (cub["root"] / "train_test_split.txt").write_text("".join(f"{i + 1} 1\n" for i in range(12)))
    with pytest.raises(DatasetFormatError, match=r"train_test_split\.txt: no image is in split"):
        load_cub(cub["root"], "test")
    awa = write_awa2(tmp_path / "a")
    (awa["root"] / "testclasses.txt").write_text("\n\n")
    with pytest.raises(DatasetFormatError, match=r"testclasses\.txt: the file lists no class"):
        load_awa2(awa["root"], "testclasses")
    # Before: a blank line after the count made the header line 3, read as an image row
    # ("expected 1 columns (file name and 0 attributes), got 4"); blank lines are skipped
    # everywhere else, so here too.
    ce = write_celeba(tmp_path / "e")
    text = (ce["root"] / "list_attr_celeba.txt").read_text()
    (ce["root"] / "list_attr_celeba.txt").write_text(text.replace("\n", "\n\n", 1))
    assert len(load_celeba(ce["root"], "all")) == 12
    # Before: repeated concept names of a concepts CSV failed later, in ConceptDataset,
    # without the file (or as "images have no row")
    net = write_imagenet_like(tmp_path / "i")
    (net["root"] / "c.csv").write_text("path,a,a\n")
    with pytest.raises(DatasetFormatError, match=r"c\.csv, line 1: concept names \['a'\] repeat"):
        load_imagefolder(net["root"], "train", concepts_csv=net["root"] / "c.csv")


class _BadLength(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "abc")
        self.end_headers()
        self.wfile.write(b"body")


def test_a_malformed_content_length_is_not_trusted(tmp_path):
    # Before: ValueError "invalid literal for int() with base 10: 'abc'" from the
    # header; the body is now read to its end (the digest checks it afterwards).
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BadLength)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/a"
        got = dl.download_file(url, tmp_path / "a", progress=False, timeout=5)
        assert got.read_bytes() == b"body" and not (tmp_path / "a.part").exists()
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join()


def test_a_decompression_bomb_is_refused_naming_the_file(tmp_path):
    # Before: PIL's bare DecompressionBombError ("Image size (400000000 pixels) exceeds
    # limit ...") without the file, from a 48 kB PNG that declares 20000 x 20000 pixels.
    cub = write_cub(tmp_path)
    first = cub["root"] / "images" / cub["paths"][0]
    Image.new("1", (20000, 20000)).save(first, format="PNG")
    with pytest.raises(ValueError, match=r"Black_footed_Albatross_000\.0_0\.jpg: cannot read"):
        _quiet(load_cub, cub["root"], "all", image_size=8)
    ds = _quiet(load_cub, cub["root"], "all")
    with pytest.raises(ValueError, match=r"cannot read image file .*Albatross_000\.0_0\.jpg"):
        ds.image_source.load(0)


# ------------------------------------------------------- CSV lines as an editor counts them


def _quote_a_line_break(text: str, field: str) -> str:
    """``text`` with its first ``field`` quoted and split by a line break: one record on
    two lines."""
    return text.replace(field, f'"{field[:2]}\n{field[2:]}"', 1)


def _waterbirds_csv(tmp_path):
    wb = write_waterbirds(tmp_path, write_cub(tmp_path))
    meta = wb["root"] / "metadata.csv"
    lines = _quote_a_line_break(meta.read_text(), "b/0.jpg").splitlines()
    lines[5] = lines[5].replace(",1,", ",7,", 1)  # the 4th record, on the 6th line
    meta.write_text("\n".join(lines) + "\n")
    return lambda: load_waterbirds(wb["root"], "all"), r"metadata\.csv, line 6: place 7 is out"


def _ham_csv(tmp_path):
    ham = write_ham10000(tmp_path)
    meta = ham["root"] / "HAM10000_metadata.csv"
    lines = _quote_a_line_break(meta.read_text(), "vidir_modern").splitlines()
    lines[4] = lines[4].replace(",nv,", ",xyz,")
    meta.write_text("\n".join(lines) + "\n")
    return lambda: load_ham10000(ham["root"]), r"metadata\.csv, line 5: dx 'xyz' is not one"


def _ham_tab(tmp_path):
    ham = write_ham10000(tmp_path)
    text = (ham["root"] / "HAM10000_metadata.csv").read_text().replace(",", "\t")
    (ham["root"] / "HAM10000_metadata.csv").unlink()
    lines = _quote_a_line_break(text, "scalp").splitlines()
    lines[4] = lines[4].replace("\tnv\t", "\txyz\t")
    (ham["root"] / "HAM10000_metadata.tab").write_text("\n".join(lines) + "\n")
    return lambda: load_ham10000(ham["root"]), r"metadata\.tab, line 5: dx 'xyz' is not one"


def _concepts_csv(tmp_path):
    net = write_imagenet_like(tmp_path)
    rows = [f"{w}/{w}_{j}.JPEG,0.5" for w in net["wnids"] for j in range(3)]
    rows[3] = rows[3].replace("0.5", "1.5")  # the 4th record, on the 6th line
    (net["root"] / "c.csv").write_text('path,"fu\nrry"\n' + "\n".join(rows) + "\n")
    load = _quiet_imagefolder(net["root"], "train", concepts_csv=net["root"] / "c.csv")
    return load, r"c\.csv, line 6: concept value 1\.5 is outside"


def _val_solution_csv(tmp_path):
    flat = tmp_path / "val"
    flat.mkdir()
    for i in range(3):
        Image.new("RGB", (4, 4)).save(flat / f"ILSVRC2012_val_0000000{i}.JPEG")
    (flat / "LOC_val_solution.csv").write_text(
        'ImageId,PredictionString\nILSVRC2012_val_00000000,"n01 1 2\n3 4"\n'
        "ILSVRC2012_val_00000001,n02 1 2 3 4\nILSVRC2012_val_00000001,n02 1 2 3 4\n"
    )
    load = _quiet_imagefolder(flat, synset_names=False)
    return load, r"LOC_val_solution\.csv, line 5: image 'ILSVRC2012_val_00000001' is listed twice"


def _celeba_csv(tmp_path):
    ce = write_celeba(tmp_path)
    root = ce["root"]
    text = (root / "list_eval_partition.txt").read_text()
    lines = ["image_id,partition", *text.replace(" ", ",").splitlines()]
    lines[1] = lines[1].replace("000001.jpg", '"000001.jpg"')
    lines[0] = 'image_id,"parti\ntion"'  # the header on two lines
    lines[3] = lines[3].replace(",1", ",5")
    (root / "list_eval_partition.csv").write_text("\n".join(lines) + "\n")
    (root / "list_eval_partition.txt").unlink()
    attr = (root / "list_attr_celeba.txt").read_text().splitlines()[1:]
    attr[0] = "image_id," + ",".join(attr[0].split())
    attr[1:] = [",".join(a.split()) for a in attr[1:]]
    (root / "list_attr_celeba.csv").write_text("\n".join(attr) + "\n")
    (root / "list_attr_celeba.txt").unlink()
    return lambda: load_celeba(root), r"list_eval_partition\.csv, line 5: partition 5 is out"


def _quiet_imagefolder(*args, **kw):
    return lambda: _quiet(load_imagefolder, *args, **kw)


@pytest.mark.parametrize(
    "case", [_waterbirds_csv, _ham_csv, _ham_tab, _concepts_csv, _val_solution_csv, _celeba_csv]
)
def test_csv_errors_name_the_line_an_editor_shows(tmp_path, case):
    # Before: the CSV readers numbered records (enumerate over csv.reader), not lines: a
    # quoted field holding a line break (legal CSV) made every later message name the
    # line before the real one ("metadata.csv, line 5" for the 6th line); CelebA's
    # Kaggle CSV was split on commas, line by line, its quotes kept as text.
    load, match = case(tmp_path)
    with pytest.raises(DatasetFormatError, match=match):
        load()


def test_a_csv_quote_never_closed_is_refused_not_read_as_the_rest_of_the_file(tmp_path):
    # Before: a quote opened and never closed made the rest of the file one field; in
    # the last column, the rows after it were gone: HAM10000 loaded 2 of its 6 images,
    # silently.
    ham = write_ham10000(tmp_path)
    meta = ham["root"] / "HAM10000_metadata.csv"
    lines = meta.read_text().splitlines()
    lines[2] = lines[2].replace(",vidir_modern", ',"vidir_modern')
    meta.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        DatasetFormatError,
        match=r"metadata\.csv, line 3: malformed CSV \(unexpected end of data\); expected",
    ):
        load_ham10000(ham["root"])
    # text after a closing quote: joined to it silently ("vidir"_modern read as
    # vidir_modern)
    lines[2] = lines[2].replace(',"vidir_modern', ',"vidir"_modern')
    meta.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetFormatError, match=r"metadata\.csv, line 3: malformed CSV"):
        load_ham10000(ham["root"])


def test_a_nul_byte_is_refused_naming_the_line(tmp_path):
    # Before: a NUL byte was text: HAM10000 made a concept 'localization=sc\x00alp'
    # beside 'localization=scalp', silently; a UTF-16 file without a byte-order mark
    # (NUL in every ASCII character) failed as "image id is '1\x00'; expected an integer".
    ham = write_ham10000(tmp_path / "h")
    _edit(ham["root"] / "HAM10000_metadata.csv", lambda b: b.replace(b"scalp", b"sc\0alp", 1))
    with pytest.raises(DatasetFormatError, match=r"metadata\.csv, line 2: byte b'\\x00' \(NUL\)"):
        load_ham10000(ham["root"])
    cub = write_cub(tmp_path / "c")
    images = cub["root"] / "images.txt"
    images.write_bytes(images.read_text().encode("utf-16-le"))
    with pytest.raises(DatasetFormatError, match=r"images\.txt, line 1: .*NUL.*a UTF-16 one"):
        load_cub(cub["root"], "all")


def test_a_csv_that_is_not_utf8_names_the_line_whatever_its_line_ends(tmp_path):
    # Before: the line was the count of '\n' before the byte: line 1 in a file whose
    # lines end in a lone CR (Excel for Mac's CSV), whichever line the byte was on.
    ham = write_ham10000(tmp_path)
    meta = ham["root"] / "HAM10000_metadata.csv"
    _edit(meta, lambda b: b.replace(b"\n", b"\r").replace(b"back", b"b\xe4ck", 1))
    with pytest.raises(DatasetFormatError, match=r"metadata\.csv, line 4: byte b'\\xe4'"):
        load_ham10000(ham["root"])
