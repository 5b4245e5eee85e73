"""CIFAR's python release (what torchvision downloads), read without unpickling.

Before: ``load_cifar10`` on a folder holding ``cifar-10-batches-py`` stopped with
"batches.meta.txt: file not found", with no word that the folder is the python release.
Now its pickles are parsed (never unpickled) and give the same dataset as the binary
release of the same data. The fixtures are the opcode streams Python 2's cPickle writes
(``py2_pickle.py``); ``pickle`` itself is used here only to cross-check them.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import struct

import numpy as np
import pytest
from dataset_formats import write_cifar
from py2_pickle import ArrayState, py2_dumps, write_cifar_python

import bottlekit.datasets._cifar_pickle as cp
from bottlekit.datasets import (
    DatasetFormatError,
    MissingDatasetError,
    RecordImages,
    load_cifar10,
    load_cifar100,
)


def _both(tmp_path, hundred, seed=0):
    """The binary and the python release of the same data: (written, binary, python)."""
    w = write_cifar(tmp_path / "bin", hundred=hundred, seed=seed)
    py = write_cifar_python(tmp_path / "py", w, hundred=hundred)
    return w, w["root"], py


def _same(a, b):
    assert (a.split, a.class_names, len(a)) == (b.split, b.class_names, len(b))
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.labels.dtype == b.labels.dtype
    np.testing.assert_array_equal(a.image_source.to_array(), b.image_source.to_array())
    assert a.image_source.keys() == b.image_source.keys()  # the cache sees the same images
    assert a.concept_names == b.concept_names


def _ops(data):
    return list(pickletools.genops(data))


# ------------------------------------------------------------------------ the fixtures
def test_fixtures_are_the_stream_cpickle_writes(tmp_path):
    w, _, py = _both(tmp_path, hundred=False)
    stream = (py / "data_batch_1").read_bytes()
    pickletools.dis(stream, out=io.StringIO())  # a valid pickle: stack and memo check out
    ops = _ops(stream)
    assert ops[0][0].name == "PROTO" and ops[0][1] == 2
    assert ops[-1][0].name == "STOP" and ops[-1][2] == len(stream) - 1
    names = [op.name for op, _, _ in ops]
    keys = [arg for op, arg, _ in ops if op.name == "SHORT_BINSTRING"][:4:2]
    assert keys == ["batch_label", "labels"]  # py2 str keys, in the real files' order
    assert names.count("BINSTRING") == 1  # the pixels: one string of the rows' bytes
    globals_ = [arg for op, arg, _ in ops if op.name == "GLOBAL"]
    assert globals_ == ["numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"]
    assert b"(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb" in stream  # dtype state
    assert stream.startswith(b"\x80\x02}q\x01(U\x0bbatch_labelq\x02")  # memo from 1
    # the real unpickler reads what was meant (a cross-check of the fixture only)
    labels, pixels = w["files"]["data_batch_1.bin"]
    d = pickle.loads(stream, encoding="latin1")
    assert d["labels"] == labels[:, 0].tolist() and d["batch_label"] == "training batch 1 of 5"
    assert d["data"].dtype == np.uint8 and d["data"].shape == (len(labels), 3072)
    np.testing.assert_array_equal(d["data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), pixels)
    meta = pickle.loads((py / "batches.meta").read_bytes(), encoding="latin1")
    assert meta == {"num_cases_per_batch": 10000, "label_names": w["names"], "num_vis": 3072}


def test_reader_agrees_with_the_real_unpickler(tmp_path):
    _, _, py = _both(tmp_path, hundred=True)
    for name in ("train", "test"):
        path = py / name
        real = pickle.loads(path.read_bytes(), encoding="latin1")
        batch = cp.read_batch(path, {"fine_labels": 100, "coarse_labels": 20})
        assert batch.n == len(real["data"])
        for k in ("fine_labels", "coarse_labels"):
            assert batch.labels[k].tolist() == real[k]
        raw = np.fromfile(path, np.uint8, count=batch.n * 3072, offset=batch.offset)
        np.testing.assert_array_equal(raw.reshape(batch.n, 3072), real["data"])
    real = pickle.loads((py / "meta").read_bytes(), encoding="latin1")
    names = cp.read_names(py / "meta", {"fine_label_names": 100, "coarse_label_names": 20})
    assert names == {k: real[k] for k in names}


# ------------------------------------------------------- the same dataset as the binary
@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar10_python_release_is_the_binary_release(tmp_path, split):
    _, binary, py = _both(tmp_path, hundred=False)
    want = load_cifar10(binary, split)
    _same(load_cifar10(py, split), want)  # the release's folder
    _same(load_cifar10(py.parent, split), want)  # the folder that holds it (as torchvision)


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("label", ["fine", "coarse"])
def test_cifar100_python_release_is_the_binary_release(tmp_path, split, label):
    _, binary, py = _both(tmp_path, hundred=True)
    want = load_cifar100(binary, split, label=label)
    _same(load_cifar100(py, split, label=label), want)
    _same(load_cifar100(py.parent, split, label=label), want)


def test_numpy2_spelling_and_long_arrays(tmp_path, monkeypatch):
    # numpy >= 2 names numpy._core.multiarray; an array longer than SKIP_BYTES is skipped
    # over while parsing (not read) and still read right through the memory map
    w = write_cifar(tmp_path / "bin", hundred=False)
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)
    w["files"]["test_batch.bin"] = (rng.integers(0, 10, (30, 1)), pixels)
    py = write_cifar_python(tmp_path / "py", w, hundred=False)
    stream = (py / "test_batch").read_bytes().replace(b"numpy.core.", b"numpy._core.")
    (py / "test_batch").write_bytes(stream)
    assert 30 * 3072 > cp.SKIP_BYTES
    got = []
    real_read = cp._Reader.read
    monkeypatch.setattr(cp._Reader, "read", lambda s, n=-1: got.append(real_read(s, n)) or got[-1])
    ds = load_cifar10(py, "test")
    assert [len(r) for r in got if isinstance(r, cp._Skipped)] == [30 * 3072]  # not read
    assert max(len(r) for r in got if isinstance(r, bytes)) <= cp.SKIP_BYTES
    np.testing.assert_array_equal(ds.labels, w["files"]["test_batch.bin"][0][:, 0])
    np.testing.assert_array_equal(ds.image_source.to_array(), w["files"]["test_batch.bin"][1])


def test_pixels_are_read_when_indexed_not_at_load(tmp_path, monkeypatch):
    _, _, py = _both(tmp_path, hundred=True)
    calls = []
    monkeypatch.setattr(RecordImages, "array", lambda self, i: calls.append(i))
    load_cifar100(py, "train")
    assert calls == []
    monkeypatch.undo()
    ds = load_cifar100(py, "test")
    path = py / "test"
    batch = cp.read_batch(path, {"fine_labels": 100, "coarse_labels": 20})
    data = bytearray(path.read_bytes())  # new pixels in place after loading: they show
    data[batch.offset + 3072 : batch.offset + 2 * 3072] = bytes([7]) * 3072
    path.write_bytes(bytes(data))
    assert (ds.image_source.to_array()[1] == 7).all()


def test_binary_release_wins_where_both_are(tmp_path):
    _, binary, py = _both(tmp_path, hundred=False)
    both = tmp_path / "both"
    both.mkdir()
    binary.rename(both / binary.name)
    py.rename(both / py.name)
    (both / py.name / "test_batch").write_bytes(b"\x80\x02broken")  # not read
    _same(load_cifar10(both, "test"), load_cifar10(both / binary.name, "test"))


def test_download_is_not_needed_with_the_python_release(tmp_path, monkeypatch):
    # Before: download=True with cifar-10-batches-py there fetched the binary release
    w, _, py = _both(tmp_path, hundred=False)
    import bottlekit.datasets.download as dl

    def no_download(*a, **k):
        raise AssertionError("downloaded")

    monkeypatch.setattr(dl, "download_dataset", no_download)
    ds = load_cifar10(py.parent, "test", download=True)
    np.testing.assert_array_equal(ds.labels, w["files"]["test_batch.bin"][0][:, 0])


def test_renamed_python_folder_is_read(tmp_path):
    _, binary, py = _both(tmp_path, hundred=True)
    renamed = py.rename(tmp_path / "my_cifar100")
    _same(load_cifar100(renamed, "test"), load_cifar100(binary, "test"))


# ---------------------------------------------------------------------- folders, errors
def test_folder_with_neither_release_names_both(tmp_path):
    (tmp_path / "empty").mkdir()
    # Before: "batches.meta.txt: file not found" (the binary release's file only)
    with pytest.raises(
        MissingDatasetError, match=r"no CIFAR-10 here; expected the binary release "
        r"\(cifar-10-batches-bin/.*or the python release \(cifar-10-batches-py/"
    ):  # fmt: skip
        load_cifar10(tmp_path / "empty")
    with pytest.raises(MissingDatasetError, match=r"cifar-100-binary/.*cifar-100-python/"):
        load_cifar100(tmp_path / "empty")


def test_python_folder_missing_a_file(tmp_path):
    _, _, py = _both(tmp_path, hundred=False)
    (py / "data_batch_4").unlink()
    with pytest.raises(
        MissingDatasetError, match=r"data_batch_4: file not found; this folder is the python "
        r"release \(https://www\.cs\.toronto\.edu/~kriz/cifar-10-python\.tar\.gz"
    ):  # fmt: skip
        load_cifar10(py)
    (py / "batches.meta").unlink()
    with pytest.raises(MissingDatasetError, match=r"batches\.meta: file not found"):
        load_cifar10(py, "test")


# ---------------------------------------------------------------------- hostile files
def _batch(n=3, labels=None, data=None, **extra):
    rows = np.arange(n * 3072, dtype=np.uint8).reshape(n, 3072)
    d = {
        b"batch_label": b"testing batch 1 of 1",
        b"labels": list(range(n)) if labels is None else labels,
        b"data": rows if data is None else data,
        b"filenames": [b"f%d.png" % i for i in range(n)],
    }
    d.update(extra)
    return d


def _load_test_batch(tmp_path, stream, meta=None):
    """load_cifar10(..., "test") of a python folder whose test_batch is ``stream``."""
    w = write_cifar(tmp_path / "bin", hundred=False)
    py = write_cifar_python(tmp_path / "py", w, hundred=False)
    (py / "test_batch").write_bytes(stream)
    if meta is not None:
        (py / "batches.meta").write_bytes(meta)
    return load_cifar10(py, "test")


def test_code_in_the_pickle_is_never_run(tmp_path):
    # A naive reader (pickle.load) would run os.system and create the marker file
    marker = tmp_path / "ran"
    cmd = f"touch {marker}".encode()
    evil = b"\x80\x02cos\nsystem\nq\x01U" + bytes([len(cmd)]) + cmd + b"\x85R."
    pickletools.dis(evil, out=io.StringIO())  # a valid pickle
    for meta in (None, evil):
        with pytest.raises(
            DatasetFormatError,
            match=r"(test_batch|batches\.meta): bottlekit reads CIFAR batches without "
            r"unpickling, and this file is not one: GLOBAL 'os system'",
        ):
            _load_test_batch(tmp_path / str(meta is None), evil, meta)
    # the same hidden inside a valid batch, and in protocol 4's spelling
    stream = py2_dumps(_batch())
    call = evil[2:-1].replace(b"q\x01", b"q\x63")  # memo 1 is the dict's
    inside = stream[:-2] + b"U\x04evil" + call + b"u."  # one more item of the dict
    pickletools.dis(inside, out=io.StringIO())
    v4 = b"\x80\x04\x95\x20\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x8c\x06system\x93U"
    v4 += bytes([len(cmd)]) + cmd + b"\x85R."
    for bad, what in ((inside, "GLOBAL 'os system'"), (v4, "opcode FRAME")):
        with pytest.raises(DatasetFormatError, match=what):
            _load_test_batch(tmp_path / what[:6].replace("'", ""), bad)
    assert not marker.exists()


@pytest.mark.parametrize("n", [3, 30])  # 30 images: an array skipped over while parsing
@pytest.mark.parametrize("cut", [-1, -40, 0.5, 30])
def test_truncated_file(tmp_path, n, cut):
    # A naive reader trusting the declared length would map pixels past the file's end
    stream = py2_dumps(_batch(n=n, labels=[0] * n))
    at = int(len(stream) * cut) if isinstance(cut, float) else cut
    with pytest.raises(
        DatasetFormatError, match=r"test_batch: not a valid pickle \(.*; a truncated file\?\)"
    ):
        _load_test_batch(tmp_path, stream[:at])


def _array(n=3, **change):
    rows = np.arange(n * 3072, dtype=np.uint8).reshape(n, 3072)
    state = ArrayState.of(rows)
    for k, v in change.items():
        setattr(state, k, v)
    return state


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        # the shape says 4 images, the bytes hold 3 (a naive reader reads the rest of the
        # pickle as pixels)
        (
            _batch(data=_array(shape=(4, 3072))),
            r"has shape \(4, 3072\), which needs 12288 bytes, but holds 9216",
        ),
        (
            _batch(data=_array(shape=(3, 3, 1024))),
            r"has shape \(3, 3, 1024\); expected \(n, 3072\)",
        ),
        (_batch(data=np.zeros((3, 3072), np.float32)), r"'data' has dtype 'f4'; expected uint8"),
        (_batch(data=np.zeros((3, 3072), np.uint16)), r"'data' has dtype 'u2'; expected uint8"),
        (_batch(data=_array(fortran=True)), r"'data' is in Fortran order"),
        (_batch(labels=[0, 10, 2]), r"labels\[1\] is 10; expected an int in 0\.\.9"),
        (_batch(labels=[0, -1, 2]), r"labels\[1\] is -1; expected an int in 0\.\.9"),
        (_batch(labels=[0, True, 2]), r"labels\[1\] is True; expected an int"),
        (_batch(labels=[0, 1]), r"'labels' has 2 labels for the 3 images of 'data'"),
        (_batch(data=[1, 2]), r"'data' is list; expected a numpy array"),
        ({b"labels": [0], b"filenames": [b"a"]}, r"no 'data' key"),
        ([1, 2], r"it holds a list, not a dict"),
    ],
)
def test_batch_contents_are_checked(tmp_path, batch, message):
    with pytest.raises(DatasetFormatError, match=r"test_batch: .*" + message):
        _load_test_batch(tmp_path, py2_dumps(batch))


def test_meta_contents_are_checked(tmp_path):
    good = py2_dumps(_batch())
    nine = [b"a%d" % i for i in range(9)]
    for k, (meta, message) in enumerate(
        [
            ({b"label_names": nine}, r"'label_names': expected 10 names, got 9 items"),
            ({b"label_names": [*nine, 3]}, r"label_names\[9\] is 3; expected a class name"),
            (
                {b"label_names": [*nine, b"\xff"]},
                r"label_names\[9\] = b'\\xff' is not UTF-8",
            ),
            ({b"num_vis": 3072}, r"no 'label_names' key"),
            # Before: "class_names: names must be unique", naming no file
            (
                {b"label_names": [b"a", b"b", b"c", b"b"] + [b"x%d" % i for i in range(6)]},
                r"label_names\[3\] is 'b' as label_names\[1\]; expected 10 different names",
            ),
        ]
    ):
        with pytest.raises(DatasetFormatError, match=r"batches\.meta: .*" + message):
            _load_test_batch(tmp_path / str(k), good, py2_dumps(meta))


def _edit(stream, old, new):
    assert stream.count(old) == 1
    return stream.replace(old, new)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        # the stack machine's own checks: what a valid pickle never does
        (lambda s: _edit(s, b"]q\x05(", b"]q\x05h\x63("), r"BINGET 99 of nothing stored"),
        (lambda s: _edit(s, b"u.", b"s."), r"SETITEM without a dict"),
        (lambda s: s[:-1] + b"N.", r"STOP with 2 values"),
        (lambda s: s + b"junk", r"4 bytes after STOP"),
        (lambda s: _edit(s, b"]q\x05(", b"]q\x05"), r"APPENDS without a list"),
        (lambda s: _edit(s, b"\x80\x02}q\x01(", b"\x80\x02}q\x01"), r"SETITEMS without a MARK"),
        (lambda s: _edit(s, b"cnumpy\ndtype\n", b"cnumpy\nload\n"), r"GLOBAL 'numpy load'"),
        (lambda s: _edit(s, b"U\x02u1K\x00K\x01", b"U\x02u1K\x00K\x00"), r"REDUCE at byte"),
        (lambda s: _edit(s, b"K\x00tb", b"K\x01tb"), r"BUILD at byte \d+ sets _DType"),
        (lambda s: _edit(s, b"K\x00\x85U\x01b", b"K\x01\x85U\x01b"), r"REDUCE at byte"),
        (lambda s: _edit(s, b"\x80\x02}", b"\x80\x02)"), r"SETITEMS without a dict"),
        (lambda s: s[:2] + b"I1\n" + s[2:], r"opcode INT"),
        (lambda s: b"c" + b"x" * 10_000, r"not a valid pickle \(no newline"),
        (
            lambda s: _edit(s, b"U\x04data", b"X" + struct.pack("<I", 1 << 17) + b"a" * (1 << 17)),
            r"a text or number longer than 65536 bytes",
        ),
        (
            lambda s: _edit(s, b"U\x04data", b"X" + struct.pack("<I", 4) + b"\xff\xfe\xfd\xfc"),
            r"not a valid pickle \('utf-8' codec",
        ),
    ],
)
def test_opcode_streams_outside_the_subset_are_refused(tmp_path, edit, message):
    stream = edit(py2_dumps(_batch(n=3)))
    with pytest.raises(DatasetFormatError, match=r"test_batch: .*" + message):
        _load_test_batch(tmp_path, stream)


def test_too_many_opcodes(tmp_path, monkeypatch):
    monkeypatch.setattr(cp, "MAX_OPCODES", 50)
    with pytest.raises(DatasetFormatError, match=r"more than 50 opcodes"):
        _load_test_batch(tmp_path, py2_dumps(_batch(n=3, labels=[0] * 60)))


# ---------------------------------------------------------- RecordImages' header, records
def test_record_images_header_and_records(tmp_path):
    f = tmp_path / "x"
    f.write_bytes(b"abc" + bytes(range(12)) + b"zz")
    imgs = RecordImages([f], 4, 0, (1, 2, 2), header=3, records=[3])
    assert len(imgs) == 3 and imgs.array(2)[:, :, 0].tolist() == [[8, 9], [10, 11]]
    with pytest.raises(DatasetFormatError, match=r"x: size 17 bytes is less than the 4 records"):
        RecordImages([f], 4, 0, (1, 2, 2), header=3, records=[4])
    with pytest.raises(DatasetFormatError, match=r"after a header of 3 bytes is not a multiple"):
        RecordImages([f], 4, 0, (1, 2, 2), header=3)
    assert len(RecordImages([f], 4, 0, (1, 2, 2), header=5)) == 3  # 17 - 5 = 12 bytes
    for bad in ({"header": -1}, {"header": [0, 0]}, {"header": "3"}, {"records": [0]},
                {"records": [1.0]}, {"header": True}):  # fmt: skip
        with pytest.raises(ValueError, match=r"(header|records): expected one int"):
            RecordImages([f], 4, 0, (1, 2, 2), **bad)
    # a 1-D int array is one int per file (it was refused as "expected one int"); float,
    # boolean and 2-D arrays are still refused
    as_array = RecordImages([f], 4, 0, (1, 2, 2), header=np.array([3]), records=np.array([3]))
    assert len(as_array) == 3 and as_array.array(2).tolist() == imgs.array(2).tolist()
    for bad in (np.array([3.0]), np.array([True]), np.array([[3]])):
        with pytest.raises(ValueError, match=r"records: expected one int"):
            RecordImages([f], 4, 0, (1, 2, 2), header=3, records=bad)


def _nested(depth):
    """Opcodes of a list in a list ... ``depth`` deep: ``[[[...]]]``."""
    return b"]" * depth + b"a" * (depth - 1)


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        (
            b"\x80\x02cnumpy\ndtype\n" + _nested(50_000) + b"\x85R.",
            r"REDUCE at byte \d+ calls _Global\(kind='dtype'\) with a tuple nested too deeply "
            r"to show",
        ),
        (
            b"\x80\x02cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R" + _nested(50_000) + b"b.",
            r"BUILD at byte \d+ sets _DType from a list nested too deeply to show",
        ),
        (
            _edit(py2_dumps(_batch(labels=[0, b"deep", 2])), b"U\x04deep", _nested(50_000)),
            r"labels\[1\] is a list nested too deeply to show; expected an int in 0\.\.9",
        ),
    ],
)
def test_values_nested_too_deeply_to_show_are_described(tmp_path, stream, message):
    # Before: RecursionError ("maximum recursion depth exceeded while getting the repr of
    # an object") from the error message's repr of a list 50,000 lists deep: 100 kB of
    # opcodes that the data-only subset builds.
    with pytest.raises(DatasetFormatError, match=r"test_batch: .*" + message):
        _load_test_batch(tmp_path, stream)
