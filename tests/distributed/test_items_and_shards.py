"""Sources become one item list with the local cache's keys; shards are checked on reuse."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from bottlekit.datasets import ConceptDataset
from bottlekit.distributed.items import load_item, resolve_items
from bottlekit.images import as_image_source

pa = pytest.importorskip("pyarrow")  # comes with the [distributed] extra


@pytest.fixture()
def folder(tmp_path):
    rng = np.random.default_rng(1)
    for cls in ("b_dog", "a_cat"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(3):
            arr = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
            Image.fromarray(arr).save(tmp_path / "imgs" / cls / f"{i}.png")
    return tmp_path / "imgs"


def test_folder_items_have_the_local_keys_and_labels(folder):
    plan = resolve_items(folder)
    source = as_image_source(folder)
    assert plan.paths == source.paths
    np.testing.assert_array_equal(plan.labels, [0, 0, 0, 1, 1, 1])
    assert plan.class_names == ["a_cat", "b_dog"]
    img, key = load_item(plan.paths[4], None, 0)
    assert key == source.key(4)
    np.testing.assert_array_equal(np.asarray(img), np.asarray(source.load(4)))


def test_csv_manifest_relative_paths_and_class_names(folder, tmp_path):
    lines = ["path,label", "imgs/b_dog/0.png,dog", "imgs/a_cat/1.png,cat", "missing.png,"]
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    plan = resolve_items(tmp_path / "m.csv")
    assert plan.paths[0] == str(tmp_path / "imgs/b_dog/0.png")
    assert plan.class_names == ["cat", "dog"]
    np.testing.assert_array_equal(plan.labels, [1, 0, -1])
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        load_item(plan.paths[2], None, 2)


def test_parquet_manifest_needs_its_path_column(folder, tmp_path):
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"file": [str(folder / "a_cat/0.png")]}), tmp_path / "m.parquet")
    with pytest.raises(ValueError, match="no column 'path'"):
        resolve_items(tmp_path / "m.parquet")
    plan = resolve_items(tmp_path / "m.parquet", path_column="file")
    assert plan.paths == [str(folder / "a_cat/0.png")] and plan.labels is None


def test_webdataset_shards_keyed_by_pixels(tmp_path):
    rng = np.random.default_rng(2)
    arr = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    with tarfile.open(tmp_path / "shard-000.tar", "w") as tar:
        for name, data in (("s0.png", buf.getvalue()), ("s0.cls", b"3"), ("s1.txt", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    plan = resolve_items([tmp_path / "shard-000.tar"])
    assert plan.paths == [f"{tmp_path / 'shard-000.tar'}::s0.png"]
    np.testing.assert_array_equal(plan.labels, [3])
    _, key = load_item(plan.paths[0], None, 0)
    assert key == as_image_source([Image.fromarray(arr)]).key(0)  # as bottlekit.embed keys it


def test_concept_dataset_in_memory(rng_images):
    ds = ConceptDataset(rng_images, labels=[0, 1, 0, 1, 0, 1], class_names=["x", "y"])
    plan = resolve_items(ds)
    assert plan.paths[:2] == ["array:0", "array:1"] and plan.class_names == ["x", "y"]
    payload = plan.payload(2, 4)
    _, key = load_item(payload["paths"][1], payload["memory"], 1)
    assert key == as_image_source(rng_images).key(3)
    assert payload["labels"] == [0, 1]


def test_shard_round_trip_corruption_and_other_job(tmp_path):
    from bottlekit.distributed.shards import read_embeddings, shard_path, verify_shard, write_shard

    emb = np.arange(6, dtype=np.float32).reshape(3, 2)
    kw = {"paths": ["a", "b", "c"], "keys": ["ka", "kb", "kc"], "labels": [0, None, 1]}
    write_shard(tmp_path, 0, embeddings=emb, concepts=None, meta={"job": "J"}, **kw)
    assert verify_shard(tmp_path, 0, "J", with_stats=False)["n"] == 3
    data = read_embeddings(tmp_path)
    np.testing.assert_array_equal(data["embeddings"], emb)
    np.testing.assert_array_equal(data["labels"], [0, -1, 1])
    problems: list[str] = []
    with pytest.warns(RuntimeWarning, match="different job"):
        assert verify_shard(tmp_path, 0, "K", with_stats=False, problems=problems) is None
    assert not shard_path(tmp_path, 0).exists() and "different job" in problems[0]
    write_shard(tmp_path, 1, embeddings=emb, concepts=None, meta={"job": "J"}, **kw)
    raw = bytearray(shard_path(tmp_path, 1).read_bytes())
    raw[len(raw) // 3] ^= 0xFF  # one flipped byte inside the data
    shard_path(tmp_path, 1).write_bytes(bytes(raw))
    with pytest.warns(RuntimeWarning, match="removed and redone"):
        assert verify_shard(tmp_path, 1, "J", with_stats=False) is None
