"""CIFAR-10/100 binary releases: records decoded lazily, CIFAR-100's two label bytes."""

from __future__ import annotations

import numpy as np
import pytest
from dataset_formats import write_cifar

from bottlekit.datasets import DatasetFormatError, MissingDatasetError, load_cifar10, load_cifar100


def test_cifar10_records(tmp_path):
    w = write_cifar(tmp_path, hundred=False)
    train = load_cifar10(tmp_path, "train")  # the parent folder works too
    labels = np.concatenate([w["files"][f"data_batch_{i}.bin"][0][:, 0] for i in range(1, 6)])
    pixels = np.concatenate([w["files"][f"data_batch_{i}.bin"][1] for i in range(1, 6)])
    assert train.class_names == w["names"] and len(train) == len(labels)
    np.testing.assert_array_equal(train.labels, labels)
    assert train.image_source.kind == "dataset"  # lazy: records read when indexed
    for i in range(len(train)):
        np.testing.assert_array_equal(np.asarray(train.image_source.load(i)), pixels[i])
    test = load_cifar10(w["root"], "test")
    np.testing.assert_array_equal(test.image_source.to_array(), w["files"]["test_batch.bin"][1])


def test_cifar100_two_label_bytes(tmp_path):
    w = write_cifar(tmp_path, hundred=True)
    labels, pixels = w["files"]["test.bin"]
    fine = load_cifar100(w["root"], "test")
    coarse = load_cifar100(w["root"], "test", label="coarse")
    np.testing.assert_array_equal(fine.labels, labels[:, 1])
    np.testing.assert_array_equal(coarse.labels, labels[:, 0])
    assert fine.class_names == w["fine"] and coarse.class_names == w["coarse"]
    np.testing.assert_array_equal(fine.image_source.to_array(), pixels)
    sub = fine.subset([2, 0])
    np.testing.assert_array_equal(sub.image_source.to_array(), pixels[[2, 0]])


def test_images_are_not_read_up_front(tmp_path, monkeypatch):
    from bottlekit.datasets import RecordImages

    write_cifar(tmp_path, hundred=True)
    calls = []
    monkeypatch.setattr(RecordImages, "array", lambda self, i: calls.append(i))
    load_cifar100(tmp_path, "train")
    assert calls == []


def test_cifar_errors(tmp_path):
    w = write_cifar(tmp_path, hundred=True)
    f = w["root"] / "train.bin"
    data = bytearray(f.read_bytes())
    f.write_bytes(bytes(data[:-5]))
    with pytest.raises(DatasetFormatError, match=r"train\.bin: size 9217 bytes is not a multiple"):
        load_cifar100(w["root"])
    data[3074 + 1] = 100  # record 1, fine label byte
    f.write_bytes(bytes(data))
    with pytest.raises(DatasetFormatError, match=r"train\.bin: record 1 has fine label 100"):
        load_cifar100(w["root"])
    (w["root"] / "coarse_label_names.txt").write_text("a\nb\n")
    with pytest.raises(DatasetFormatError, match=r"coarse_label_names\.txt: expected 20"):
        load_cifar100(w["root"])
    w10 = write_cifar(tmp_path / "ten", hundred=False)
    (w10["root"] / "data_batch_3.bin").unlink()
    with pytest.raises(MissingDatasetError, match=r"data_batch_3\.bin: file not found; .*toronto"):
        load_cifar10(w10["root"])
    batch = w10["root"] / "data_batch_1.bin"
    batch.write_bytes(batch.read_bytes()[:-1])  # one byte short of whole records
    with pytest.raises(
        DatasetFormatError,
        match=r"data_batch_1\.bin: size \d+ bytes is not a multiple of the record size 3073.*"
        r"1 label byte\(s\) \+ 3072 pixels: not the binary release",
    ):
        load_cifar10(w10["root"])
    with pytest.raises(ValueError, match="label: expected 'fine' or 'coarse', got 'mid'"):
        load_cifar100(w["root"], label="mid")


def test_a_class_name_listed_twice_is_refused_by_file_and_line(tmp_path):
    # Before: "class_names: names must be unique, ['cat'] repeat", from ConceptDataset,
    # naming neither the file nor the line.
    w = write_cifar(tmp_path, hundred=False)
    meta = w["root"] / "batches.meta.txt"
    meta.write_text(meta.read_text().replace("dog", "cat"))
    with pytest.raises(
        DatasetFormatError,
        match=r"batches\.meta\.txt, line 6: label name 'cat' is listed twice \(first on line "
        r"4\); expected one name per class",
    ):
        load_cifar10(w["root"], "test")
