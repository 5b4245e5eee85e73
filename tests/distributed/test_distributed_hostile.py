"""Hostile input to the distributed package, without Ray: arguments of the public
functions, and the files of other runs (shards, statistics, job files, manifests, tar
shards). Each case says what happened before it was fixed."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image

pa = pytest.importorskip("pyarrow")  # comes with the [distributed] extra
pq = pytest.importorskip("pyarrow.parquet")

from bottlekit.distributed.audit_reduce import audit_statistics  # noqa: E402
from bottlekit.distributed.concept_stats import ConceptStats, reduce_concept_stats  # noqa: E402
from bottlekit.distributed.items import load_item, resolve_items  # noqa: E402
from bottlekit.distributed.shards import read_embeddings, shard_path, write_shard  # noqa: E402
from bottlekit.distributed.spec import BackboneSpec  # noqa: E402
from bottlekit.distributed.summary import EmbedSummary  # noqa: E402

EMB = np.arange(6, dtype=np.float32).reshape(3, 2)
ROWS = {"paths": ["a", "b", "c"], "keys": ["ka", "kb", "kc"], "labels": [0, None, 1]}


def _shard(folder, index=0, job="J", emb=EMB, **kw):
    return write_shard(
        folder, index, embeddings=emb, concepts=None, meta={"job": job}, **{**ROWS, **kw}
    )


# --- BackboneSpec.coerce ---------------------------------------------------------------


@pytest.mark.parametrize(
    "value, match",
    [
        # before: BackboneSpec(name='') (loaded by every worker, failing there)
        (("", None), "expected a model name"),
        ({"name": ""}, "expected a model name"),
        # before: pretrained silently became the tag '5' / 'True'
        (("ViT-B-32", 5), "pretrained must be None, a tag or a checkpoint path, got 5"),
        (("ViT-B-32", True), "pretrained must be None, a tag or a checkpoint path, got True"),
        # before: pretrained kept as the int 5
        ({"name": "ViT-B-32", "pretrained": 5}, "pretrained must be None"),
        # before: a misspelt key was ignored and the default weights loaded
        ({"name": "ViT-B-32", "pretraind": "openai"}, r"unknown key\(s\) \['pretraind'\]"),
    ],
)
def test_backbone_spec_refuses_what_it_would_misread(value, match):
    with pytest.raises(TypeError, match=match):
        BackboneSpec.coerce(value)


# --- EmbedSummary -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        -1,  # before: listed n-1 failures and "... and 4 more" of 3
        "2",  # before: TypeError from a slice
        None,  # before: TypeError comparing int and None
    ],
)
def test_summary_text_max_failures_is_checked(value):
    s = EmbedSummary("out", 3, 2, 2, 0, 1, 1, 0, [{"path": "a", "reason": "b"}] * 3)
    with pytest.raises(ValueError, match=rf"max_failures: expected an int >= 0, got {value!r}"):
        s.text(value)


def test_summary_json_is_standard_with_a_nan_time():
    # before: "seconds": NaN, which strict JSON readers refuse
    s = EmbedSummary("out", 3, 2, 2, 0, 1, 1, 0, seconds=float("nan"))
    data = json.loads(s.to_json(), parse_constant=lambda c: pytest.fail(f"non-standard {c}"))
    assert data["seconds"] is None and data["items_per_s"] == 0.0


# --- read_embeddings: shards written by other runs ------------------------------------------


def _truncated(folder):
    path = _shard(folder)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _foreign(folder):
    pq.write_table(pa.table({"x": [1, 2]}), shard_path(folder, 0))


def _flipped(folder):
    path = _shard(folder)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 3] ^= 0xFF
    path.write_bytes(bytes(raw))


def _two_jobs(folder):
    _shard(folder, 0, job="J")
    _shard(folder, 1, job="K")


def _two_widths(folder):
    _shard(folder, 0)
    _shard(folder, 1, emb=np.zeros((3, 5), np.float32))


def _rewritten(folder, column, values):
    """A shard whose ``column`` is replaced by ``values``, its checksum made to match."""
    from bottlekit.distributed.shards import _checksum

    path = _shard(folder)
    table = pq.read_table(path)
    table = table.set_column(table.column_names.index(column), column, values)
    meta = json.loads(table.schema.metadata[b"bottlekit"])
    emb = np.asarray(table.column("embedding").to_pylist(), np.float32)
    meta["sha256"] = _checksum(table.column("key").to_pylist(), emb, None)
    pq.write_table(table.replace_schema_metadata({"bottlekit": json.dumps(meta)}), path)


def _text_labels(folder):
    _rewritten(folder, "label", pa.array(["cat", None, "dog"]))


def _negative_labels(folder):
    _rewritten(folder, "label", pa.array([0, -3, 1]))


def _nan_embeddings(folder):
    flat = pa.array(np.array([0, 1, np.nan, 3, 4, np.inf], np.float32))
    _rewritten(folder, "embedding", pa.FixedSizeListArray.from_arrays(flat, 2))


@pytest.mark.parametrize(
    "make, match",
    [
        # before: ValueError "invalid literal for int() with base 10: 'cat'", naming no shard
        (_text_labels, r"part-000000.parquet' is unusable \(label column holds 'cat'; expected"),
        # before: -3 returned as a label (-1 is the unknown one)
        (_negative_labels, r"is unusable \(label column holds -3; expected class indices"),
        # before: returned as they were
        (_nan_embeddings, r"is unusable \(embeddings hold NaN or infinity \(first in row 1\)\)"),
        (_truncated, "part-000000.parquet' is unusable .*Parquet magic bytes"),  # ArrowInvalid
        (_foreign, "is unusable .not a bottlekit shard"),  # KeyError 'Field "key"'
        (_flipped, "is unusable"),  # the damaged shard was read silently
        (_two_jobs, "do not belong to one run"),  # silently concatenated
        (_two_widths, "do not belong to one run"),  # numpy concatenate error
    ],
)
def test_read_embeddings_refuses_damaged_or_mixed_shards(tmp_path, make, match):
    make(tmp_path)
    with pytest.raises(ValueError, match=match):
        read_embeddings(tmp_path)


@pytest.mark.parametrize("which", ["embeddings", "concepts"])
def test_write_shard_refuses_what_read_embeddings_would(tmp_path, which):
    # before: written, and read back as they were
    bad = np.array([[0.0, 1.0], [np.inf, 0.0], [0.0, 0.0]])
    arrays = {"emb": EMB, "concepts": None, which if which == "concepts" else "emb": bad}
    with pytest.raises(ValueError, match=rf"^{which} hold NaN or infinity \(first in row 1\)"):
        write_shard(
            tmp_path,
            0,
            embeddings=arrays["emb"],
            concepts=arrays["concepts"],
            meta={"job": "J"},
            **ROWS,
        )
    assert not shard_path(tmp_path, 0).exists()


@pytest.mark.parametrize("fn", [read_embeddings, reduce_concept_stats, audit_statistics])
@pytest.mark.parametrize("out", [None, 5])
def test_output_folder_argument_is_named(fn, out):
    # before: TypeError from pathlib ("expected str, bytes or os.PathLike object")
    with pytest.raises(
        TypeError, match=rf"out: expected the output folder of embed_dataset, got {out}"
    ):
        fn(out)


# --- ConceptStats ---------------------------------------------------------------------------

NAMES, CLASSES = ["c1", "c2"], ["x", "y"]


@pytest.mark.parametrize(
    "kw, error, match",
    [
        ({"top": -1}, ValueError, "top: expected an int >= 0, got -1"),  # numpy negative dims
        ({"top": "3"}, ValueError, "top: expected an int >= 0, got '3'"),  # int("3") silently
        ({"paths": ["a"]}, ValueError, "paths: expected 2 paths"),  # IndexError
        (
            {"labels": np.array([-5, 0])},
            ValueError,
            "labels: expected 2 class indices",
        ),  # unlabelled
        ({"scores": [["1", "2"], ["3", "4"]]}, TypeError, "scores: expected a numeric array"),
    ],
)
def test_from_scores_checks_its_arguments(kw, error, match):
    args = {"scores": np.zeros((2, 2)), "labels": None, "paths": ["a", "b"]}
    args.update(kw)
    with pytest.raises(error, match=match):
        ConceptStats.from_scores(
            args["scores"], args["labels"], args["paths"], NAMES, CLASSES, top=kw.get("top", 2)
        )


def _stats(top=2):
    return ConceptStats.from_scores(
        np.ones((3, 2)), np.array([0, 1, -1]), ["a", "b", "c"], NAMES, CLASSES, top=top
    )


def _stats_meta(meta_changes=None):
    return {
        "format": "bottlekit-concept-stats/1",
        "concept_names": NAMES,
        "class_names": CLASSES,
        "top_paths": _stats().top_paths,
        **(meta_changes or {}),
    }


def _stats_file(meta_changes=None, arrays=None, raw_meta=None):
    from safetensors.numpy import save

    good = _stats()
    meta = _stats_meta(meta_changes)
    data = {"count": good.count, "mean": good.mean, "m2": good.m2, "top_values": good.top_values}
    data.update(arrays or {})
    return save(
        data, metadata={"bottlekit": raw_meta if raw_meta is not None else json.dumps(meta)}
    )


@pytest.mark.parametrize(
    "content, match",
    [
        (_stats().to_bytes()[:50], "its header claims"),  # SafetensorError
        (b"\xff" * 100, "its header claims"),  # SafetensorError
        (_stats_file({"class_names": None}), "class_names is not a list of str"),  # KeyError
        (_stats_file({"concept_names": "c1c2"}), "concept_names is not a list of str"),  # kept
        (_stats_file(raw_meta='{"a":' * 100_000 + "1" + "}" * 100_000), "nests too deeply"),
        (_stats_file(raw_meta="[1]"), "not a JSON object"),  # AttributeError
        (_stats_file(arrays={"mean": np.zeros((5, 7))}), r"mean must be a \(3, 2\) float"),  # kept
        (_stats_file(arrays={"count": np.array([-1, 1, 1])}), "count must be 3 counts >= 0"),
        (_stats_file(arrays={"count": np.ones(3)}), "count must be 3 counts >= 0"),  # float kept
        (_stats_file({"top_paths": []}), "top_paths must be 2 lists"),  # IndexError in to_json
        # before (the five below): accepted, and merged into NaN or absurd statistics
        (
            _stats_file(arrays={"mean": np.array([[0, 0], [0, np.nan], [0, 0]])}),
            r"mean holds nan at \(class row 1, concept 1\); expected finite",
        ),
        (
            _stats_file(arrays={"m2": np.array([[0, 0], [0, 0], [-5.0, 0]])}),
            r"m2 holds -5.0 at \(class row 2, concept 0\); expected .* >= 0",
        ),
        (
            _stats_file(arrays={"count": np.array([2**62, 1, 1])}),
            r"count holds 4611686018427387906 items in all; expected at most 9007199254740992",
        ),
        (
            _stats_file(arrays={"top_values": np.array([[1, np.inf], [1, 1]], np.float32)}),
            r"top_values holds inf at \(concept 0, item 1\), one of its top items; expected fin",
        ),
        (
            _stats_file(
                {"top_paths": [["a"], ["a", "b"]]},
                arrays={"top_values": np.array([[1, 7], [1, 1]], np.float32)},
            ),
            r"top_values holds 7.0 at \(concept 0, item 1\), after its 1 top items; expected -inf",
        ),
    ],
    ids=[
        "truncated",
        "garbage",
        "no-class-names",
        "names-a-str",
        "deep-metadata",
        "metadata-a-list",
        "mean-shape",
        "negative-count",
        "float-count",
        "short-top-paths",
        "nan-mean",
        "negative-m2",
        "absurd-count",
        "inf-top-value",
        "top-value-without-path",
    ],
)
def test_reduce_refuses_unusable_statistics_files(tmp_path, content, match):
    (tmp_path / "part-000000.stats.safetensors").write_bytes(content)
    with pytest.raises(ValueError, match=match) as info:
        reduce_concept_stats(tmp_path)
    assert "part-000000.stats.safetensors" in str(info.value)


def test_reduce_refuses_statistics_of_another_top(tmp_path):
    # before: merged silently, keeping the first file's number of top items
    (tmp_path / "part-000000.stats.safetensors").write_bytes(_stats(top=2).to_bytes())
    (tmp_path / "part-000001.stats.safetensors").write_bytes(_stats(top=3).to_bytes())
    with pytest.raises(ValueError, match=r"part-000001\.stats\.safetensors' does not belong"):
        reduce_concept_stats(tmp_path)


def test_reduce_refuses_a_run_that_counts_more_than_2_to_53_items(tmp_path):
    # before: merged whatever the counts (1024 files of 2**53 items each wrapped the int64
    # total round to 0); here two files within the bound add up beyond it
    from safetensors.numpy import load, save

    big = load(_stats_file(arrays={"count": np.array([2**52, 2**52, 0])}))
    for i in range(2):
        path = tmp_path / f"part-{i:06d}.stats.safetensors"
        path.write_bytes(save(big, metadata={"bottlekit": json.dumps(_stats_meta())}))
    assert ConceptStats.read(path)[0].count.sum() == 2**53  # (each file is within)
    with pytest.raises(ValueError, match=r"part-000001\.stats\.safetensors' brings the items"):
        reduce_concept_stats(tmp_path)


# --- audit_statistics -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "labels, predictions, match",
    [
        # before: -1 wrapped round to the last column: silently wrong confusion counts
        ([0, None, 1], [-1, 0, -1], "predicted classes outside 0..9999"),
        # before: MemoryError allocating a 7 TiB confusion matrix
        ([0, None, 1], [0, 0, 10**6], "predicted classes outside 0..9999"),
        # before: IndexError deep in numpy
        ([7, None, 1], [0, 0, 1], r"labels outside -1..1"),
    ],
)
def test_audit_statistics_refuses_classes_out_of_range(tmp_path, labels, predictions, match):
    st = ConceptStats.from_scores(
        np.zeros((3, 2)), np.array([0, -1, 1]), ["a", "b", "c"], NAMES, CLASSES, top=2
    )
    (tmp_path / "part-000000.stats.safetensors").write_bytes(st.to_bytes())
    _shard(tmp_path, labels=labels, predictions=np.asarray(predictions))
    with pytest.raises(ValueError, match=match):
        audit_statistics(tmp_path)


# --- embed_dataset: arguments, checked before Ray or the model -------------------------------


@pytest.fixture()
def folder(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "imgs" / cls / "0.png")
    return tmp_path / "imgs"


@pytest.fixture()
def no_ray(monkeypatch):
    import bottlekit.distributed.pipeline as pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("Ray was started: the argument was not checked first")

    monkeypatch.setattr(pipeline, "_start_ray", refuse)
    return pipeline.embed_dataset


@pytest.mark.parametrize(
    "kw, error, match",
    [
        # before: all of these reached Ray (0 workers silently meant the default)
        ({"num_workers": 0}, ValueError, "num_workers: expected an int >= 1, got 0"),
        ({"num_workers": -1}, ValueError, "num_workers: expected an int >= 1, got -1"),
        ({"num_workers": "2"}, ValueError, "num_workers: expected an int >= 1, got '2'"),
        ({"num_workers": True}, ValueError, "num_workers: expected an int >= 1, got True"),
        ({"num_cpus": 0}, ValueError, "num_cpus: expected an int >= 1, got 0"),
        ({"device": 5}, TypeError, "device: expected a str or None, got 5"),
        ({"address": 5}, TypeError, "address: expected a str or None, got 5"),
        ({"cache_dir": 5}, TypeError, "cache_dir: expected a folder path or None, got 5"),
        ({"path_column": 5}, TypeError, "path_column: expected a column name"),
        ({"progress": "no"}, TypeError, "progress: expected True or False, got 'no'"),
        ({"out": None}, TypeError, "out: expected an output folder path, got None"),
        # before: silently accepted: every prediction class 0
        ({"head": (np.full((2, 64), np.nan), np.zeros(2))}, ValueError, "head: weight holds NaN"),
        # before: the text was parsed as numbers
        ({"head": ([["1"] * 64] * 2, ["0", "0"])}, TypeError, "head weight: expected a numeric"),
        # before: float() TypeError deep in numpy
        ({"head": (np.ones((2, 64)) * 1j, np.zeros(2))}, TypeError, "head weight: expected real"),
        ({"shard_size": 1.5}, ValueError, "shard_size: expected an int >= 1, got 1.5"),  # (OK)
    ],
)
def test_embed_dataset_arguments_are_checked_before_any_work(
    no_ray, folder, tmp_path, kw, error, match
):
    kw = {"out": tmp_path / "out", "progress": False, **kw}
    with pytest.raises(error, match=match):
        no_ray("world-tiny", folder, **kw)
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def wide_bank():
    """A bank of 100,000 concepts for world-tiny (built once: 0.5 s each time)."""
    from bottlekit.concepts import ConceptBank

    k = 100_000
    vectors = np.random.default_rng(0).normal(size=(k, 64))
    return ConceptBank(
        [f"concept {j}" for j in range(k)], vectors, "world-tiny/bottlekit/bfbc104ab5d40484"
    )


def test_embed_dataset_refuses_unstorable_statistics_before_encoding(
    no_ray, folder, tmp_path, monkeypatch, wide_bank
):
    # Before: the run started Ray and encoded the first shard's images; only then did
    # ConceptStats.to_bytes refuse its statistics (~12 JSON values per concept at top=10:
    # 1,200,065 values for 100,000 concepts, over MAX_HEADER_VALUES = 1,048,576).
    from bottlekit.distributed import encode_stage

    def never(*args, **kwargs):
        raise AssertionError("an image was encoded")

    monkeypatch.setattr(encode_stage._ShardEncoder, "__init__", never)
    monkeypatch.setattr(encode_stage._ShardEncoder, "_encode", never)
    with pytest.raises(
        ValueError,
        match=r"^top: expected at most 8 with these 100000 concepts, got 10: every shard's "
        r"concept statistics \(the concept and class names, and the paths of the top 10 "
        r"items of each concept\) would be refused when read back: the file's header may "
        r"hold 1200066 JSON values .*at most 1048576 are accepted \(MAX_HEADER_VALUES\)$",
    ):
        no_ray("world-tiny", folder, tmp_path / "out", bank=wide_bank, progress=False)
    assert not (tmp_path / "out").exists()  # (the folder is not claimed either)


@pytest.mark.parametrize(
    "top, shard_size, match",
    [
        # the largest top that fits is accepted (goes on to Ray)...
        (8, 512, "Ray was started"),
        # ...and so is a larger top when no shard holds that many items
        (50, 8, "Ray was started"),
        (9, 512, r"^top: expected at most 8 with these 100000 concepts, got 9"),
    ],
)
def test_embed_dataset_top_that_fits_is_accepted(
    no_ray, folder, tmp_path, top, shard_size, match, wide_bank
):
    with pytest.raises((ValueError, AssertionError), match=match):
        no_ray(
            "world-tiny",
            folder,
            tmp_path / "out",
            bank=wide_bank,
            top=top,
            shard_size=shard_size,
            batch_size=8,
            progress=False,
        )


@pytest.mark.parametrize("under", [False, True])
def test_embed_dataset_out_that_is_a_file(no_ray, folder, tmp_path, under):
    # before: FileExistsError / NotADirectoryError after the model was loaded
    (tmp_path / "f").write_text("x")
    out = tmp_path / "f" / "sub" if under else tmp_path / "f"
    with pytest.raises(ValueError, match=r"out: .* is a file"):
        no_ray("world-tiny", folder, out, progress=False)


def test_embed_dataset_of_nothing_leaves_the_folder_free(no_ray, folder, tmp_path):
    # before: _job.json was written first, so the folder was claimed by a job of no items
    # and the next, real job there was refused as "a different job"
    with pytest.raises(ValueError, match=r"source: \[\] holds no items"):
        no_ray("world-tiny", [], tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "_job.json").exists()
    with pytest.raises(AssertionError, match="Ray was started"):  # (the real job goes on)
        no_ray("world-tiny", folder, tmp_path / "out", progress=False)


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 100_000,  # before: RecursionError
        b"[1, 2]",  # before: AttributeError 'list' object has no attribute 'get'
    ],
    ids=["deep", "list"],
)
def test_unreadable_job_file_is_another_job(no_ray, folder, tmp_path, content):
    (tmp_path / "_job.json").write_bytes(content)
    with pytest.raises(ValueError, match="holds the shards of a different job"):
        no_ray("world-tiny", folder, tmp_path, progress=False)


def _unblock_fifo_reader(fifo, seconds=10.0):
    """Open ``fifo`` for writing, and close it, once someone opens it for reading (within
    ``seconds``): a reader that waits for a writer gets an empty file instead of hanging
    the test."""
    import os
    import threading
    import time

    def run():
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                return
            except OSError:  # no reader yet
                time.sleep(0.05)

    threading.Thread(target=run, daemon=True).start()


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_job_file_that_is_not_a_file_is_named(tmp_path, kind):
    # before: a FIFO at <out>/_job.json hung embed_dataset (its open waited for a writer;
    # the test's writer then made it "a different job"), and /dev/zero filled memory
    # (/dev/null, used here, read as empty: "a different job")
    import os

    from bottlekit.distributed.job import JOB_FILE, _claim_output

    target = tmp_path / JOB_FILE
    if kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs here")
        os.mkfifo(target)
        _unblock_fifo_reader(target)
        what = r"is a FIFO \(named pipe\); expected a regular file holding a job description"
    else:
        if not os.path.exists("/dev/null"):
            pytest.skip("no /dev/null here")
        target.symlink_to("/dev/null")
        what = r"is a character device; expected a regular file holding a job description"
    with pytest.raises(ValueError, match=rf"out: '.*_job\.json' {what}"):
        _claim_output(tmp_path, "J", {})


def test_a_job_file_of_too_many_values_is_another_job(tmp_path, monkeypatch):
    # bounded like a safetensors header: ~70 bytes of Python objects per '[],' parsed
    from bottlekit.distributed import job

    (tmp_path / job.JOB_FILE).write_text('{"job": "J", "x": [[], [], []]}')
    job._claim_output(tmp_path, "J", {})  # (the same job: accepted)
    monkeypatch.setattr(job, "MAX_JOB_FILE_VALUES", 5)
    with pytest.raises(ValueError, match="holds the shards of a different job"):
        job._claim_output(tmp_path, "J", {})
    monkeypatch.setattr(job, "MAX_JOB_FILE_BYTES", 10)
    monkeypatch.setattr(job, "MAX_JOB_FILE_VALUES", 100)
    with pytest.raises(ValueError, match="holds the shards of a different job"):
        job._claim_output(tmp_path, "J", {})


# --- manifests and tar shards from others -------------------------------------------------


def _png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _tar(path, members):
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize(
    "name, content, match",
    [
        # before: the path became the text "b'\\xff\\xfe.png'"
        ("m.csv", b"path,label\n\xff\xfe.png,1\n", r"row 0: expected a path or URL \(UTF-8"),
        ("m.csv", b"", r"cannot be read \(Empty CSV file\)"),  # ArrowInvalid without the file
        # before: class names "1.5", "2.0" sorted as text
        ("m.csv", b"path,label\na.png,1.5\nb.png,2.0\n", r"expected class indices .*got \[1.5\]"),
        ("m.csv", b"path,label\na.png,-5\n", r"expected class indices .*got \[-5\]"),  # unlabelled
    ],
    ids=["not-utf8", "empty", "float-labels", "negative-label"],
)
def test_bad_manifests_are_refused_by_name(tmp_path, name, content, match):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValueError, match=match) as info:
        resolve_items(tmp_path / name)
    assert name in str(info.value)


def test_manifest_whole_float_labels_and_nan_are_indices(tmp_path):
    # before: labels 2.0 and 10.0 became the class names "10.0" < "2.0" (swapped), NaN "nan"
    table = pa.table({"path": ["a.png", "b.png", "c.png"], "label": [2.0, 10.0, float("nan")]})
    pq.write_table(table, tmp_path / "m.parquet")
    plan = resolve_items(tmp_path / "m.parquet")
    assert plan.labels.tolist() == [2, 10, -1] and plan.class_names == []


def test_manifest_ints_as_paths_are_refused(tmp_path):
    # before: the int 1 became the path "<folder>/1"
    pq.write_table(pa.table({"path": [1, 2]}), tmp_path / "m.parquet")
    with pytest.raises(ValueError, match="row 0: expected a path or URL"):
        resolve_items(tmp_path / "m.parquet")


def test_manifest_odd_names_and_upper_case_suffix(tmp_path):
    # before: "x::y.png" was taken for a tar reference (not joined with the manifest's
    # folder), and m.CSV was read as one image file
    (tmp_path / "m.CSV").write_text("path\nx::y.png\n")
    assert resolve_items(tmp_path / "m.CSV").paths == [str(tmp_path / "x::y.png")]


@pytest.mark.parametrize("content", [b"\0" * 100, b"junk" * 100], ids=["zeros", "junk"])
def test_unreadable_tar_shard_is_named(tmp_path, content):
    # before: tarfile.ReadError "file could not be opened successfully" without the path
    (tmp_path / "s.tar").write_bytes(content)
    with pytest.raises(ValueError, match=r"source: tar shard .*s\.tar' cannot be read"):
        resolve_items(tmp_path / "s.tar")


@pytest.mark.parametrize(
    "cls",
    [
        b"\xff\xfe",  # before: UnicodeDecodeError
        b"9" * 5000,  # before: ValueError, int of more than 4300 digits
    ],
    ids=["not-utf8", "5000-digits"],
)
def test_unreadable_cls_members_are_unlabelled(tmp_path, cls):
    shard = _tar(
        tmp_path / "s.tar", [("0.png", _png()), ("0.cls", cls), ("1.png", _png()), ("1.cls", b"3")]
    )
    assert resolve_items(shard).labels.tolist() == [-1, 3]


def test_tar_shard_in_a_folder_with_a_separator_in_its_name(tmp_path):
    # before: "a::b/s.tar::0.png" was split at the first "::": every item failed
    (tmp_path / "a::b").mkdir()
    pixels = [np.arange(48, dtype=np.uint8).reshape(4, 4, 3) * k for k in (1, 5)]
    members = []
    for i, p in enumerate(pixels):
        buf = io.BytesIO()
        Image.fromarray(p).save(buf, "PNG")
        members.append((f"{i}.png", buf.getvalue()))
    plan = resolve_items(_tar(tmp_path / "a::b" / "s.tar", members))
    assert len(plan.paths) == 2
    for i, path in enumerate(plan.paths):  # each path reads its own member's pixels
        img, _ = load_item(path, None, i)
        np.testing.assert_array_equal(np.asarray(img.convert("RGB")), pixels[i])


def test_16_bit_png_in_a_tar_shard_reads_as_the_same_file(tmp_path):
    # before: a tar member (or URL) was converted with PIL's plain convert("RGB"), which
    # saturates 16-bit grey to 255: silently other pixels than the same file on disk
    grey = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "g.png")
    shard = _tar(tmp_path / "s.tar", [("g.png", (tmp_path / "g.png").read_bytes())])
    from_file, _ = load_item(str(tmp_path / "g.png"), None, 0)
    from_tar, _ = load_item(resolve_items(shard).paths[0], None, 0)
    np.testing.assert_array_equal(np.asarray(from_tar), np.asarray(from_file))
    assert np.asarray(from_tar)[0, 1, 0] == 4  # not 255


def test_more_gpu_workers_than_gpus_is_refused(monkeypatch):
    # before: a pool of 8 actors of one GPU each on a 1-GPU cluster waited forever for
    # the GPUs that do not exist
    ray = pytest.importorskip("ray")
    from bottlekit.distributed.cluster import _resources

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 16.0, "GPU": 1.0})
    with pytest.raises(ValueError) as info:
        _resources("cuda", 8)
    assert str(info.value) == (
        "num_workers: 8 encoder actors of one GPU each, but the Ray cluster has 1 GPU(s); "
        "expected at most 1"
    )
    assert _resources("cuda", 1)["workers"] == 1 and _resources(None, None)["workers"] == 1
