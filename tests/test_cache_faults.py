"""Embedding cache under faults: tampered shards, colliding backbone ids, an unwritable
cache, leftovers of killed writers, concurrent writers, and the pixel-key scheme."""

from __future__ import annotations

import errno
import json
import os
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import xxhash
from PIL import Image
from safetensors import safe_open

import bottlekit.cache as cache_mod
from bottlekit.backbones import load_backbone
from bottlekit.cache import STALE_TMP_AGE, EmbeddingCache, embed, folder_name
from bottlekit.images import as_image_source


@pytest.fixture(scope="module")
def tiny(tiny_configs):
    return load_backbone("test-tiny-vit", device="cpu")


def rewrite_keys(path: Path, edit) -> None:
    """Change the keys in a shard's header in place (same header length), nothing else."""
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    header["__metadata__"]["keys"] = json.dumps(edit(json.loads(header["__metadata__"]["keys"])))
    new = json.dumps(header, separators=(",", ":")).encode()
    assert len(new) <= n
    path.write_bytes(data[:8] + new.ljust(n) + data[8 + n :])


def rows_on_disk(cache: EmbeddingCache, backbone_id: str) -> int:
    total = 0
    for p in cache.shards(backbone_id):
        with safe_open(str(p), framework="np") as fh:
            total += fh.get_slice("embeddings").get_shape()[0]
    return total


def runtime_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, RuntimeWarning)]


# ---------------------------------------------------------------- checksum
@pytest.mark.parametrize("edit", ["swap", "change"])
def test_checksum_covers_the_keys(tmp_path, edit):
    cache = EmbeddingCache(tmp_path)
    rows = np.arange(8, dtype=np.float32).reshape(2, 4)
    path = cache.store("m", ["key-a", "key-b"], rows)
    if edit == "swap":
        rewrite_keys(path, lambda keys: keys[::-1])
        wanted = ["key-a", "key-b"]
    else:
        rewrite_keys(path, lambda keys: ["key-c", keys[1]])
        wanted = ["key-c"]
    with pytest.warns(RuntimeWarning, match="checksum mismatch"):
        got = cache.lookup("m", wanted)
    assert got == {}  # before: rows came back exchanged, or under the changed key
    assert not path.exists()


def _rewrite_metadata(path: Path, edit) -> None:
    """Rewrite a shard's metadata dict (the header may change length)."""
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    edit(header["__metadata__"])
    new = json.dumps(header, separators=(",", ":")).encode()
    new = new.ljust(-(-len(new) // 8) * 8)  # safetensors pads its header to 8 bytes
    path.write_bytes(len(new).to_bytes(8, "little") + new + data[8 + n :])


def test_keys_of_too_many_json_values_are_discarded_before_parsing(tmp_path):
    # before: parsed whole (a list of 500,000 empty lists: ~30 MB of Python objects; 100 MB
    # of them took 2.3 GB), then discarded as "keys are not a list of strings"
    import tracemalloc

    cache = EmbeddingCache(tmp_path)
    path = cache.store("m", ["key-a"], np.ones((1, 4), np.float32))
    _rewrite_metadata(path, lambda meta: meta.update(keys="[" + "[]," * 500_000 + "[]]"))
    tracemalloc.start()
    try:
        with pytest.warns(RuntimeWarning, match=r"keys of 1 rows: .* at most 9 are accepted"):
            assert cache.lookup("m", ["key-a"]) == {}
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not path.exists()
    assert peak < 8 * 2**20  # (the keys' text is 1.5 MB, read twice at most)


def test_store_refuses_keys_that_a_lookup_would_discard(tmp_path):
    # before: stored, and (with the bound) every lookup would discard the shard
    cache = EmbeddingCache(tmp_path)
    rows = np.ones((3, 4), np.float32)
    at_limit = [f"{i}:::::::" for i in range(3)]  # a comma and 7 colons each: 8 a key
    cache.store("m", at_limit, rows)
    assert sorted(cache.lookup("m", at_limit)) == at_limit
    with pytest.raises(
        ValueError, match=r"^keys: as JSON, it may hold 28 JSON values .*at most 25"
    ):
        cache.store("m", [f"{i}::::::::" for i in range(3)], rows)
    assert len(cache.shards("m")) == 1


def test_a_shard_carries_both_checksums_of_its_contents(tmp_path):
    # XXH3-128 is what lookups check; SHA-256 is what earlier versions check, so a cache
    # shared with them keeps its shards
    rows = np.arange(8, dtype=np.float32).reshape(2, 4)
    path = EmbeddingCache(tmp_path).store("m", ["key-a", "key-b"], rows)
    with safe_open(str(path), framework="np") as fh:
        meta = fh.metadata()
    keys_json = json.dumps(["key-a", "key-b"])
    assert meta["xxh3_128"] == cache_mod._checksum("m", keys_json, rows, "xxh3_128")
    assert meta["sha256"] == cache_mod._checksum("m", keys_json, rows, "sha256")
    assert len(meta["xxh3_128"]) == 32 and len(meta["sha256"]) == 64


def test_a_shard_of_an_earlier_version_is_checked_by_its_sha256(tmp_path):
    cache = EmbeddingCache(tmp_path)
    rows = np.arange(8, dtype=np.float32).reshape(2, 4)
    old = cache.store("m", ["key-a", "key-b"], rows)
    _rewrite_metadata(old, lambda meta: meta.pop("xxh3_128"))  # as written before 2026-12
    got = cache.lookup("m", ["key-a", "key-b"])
    np.testing.assert_array_equal(got["key-b"], rows[1])
    _rewrite_metadata(old, lambda meta: meta.update(sha256="0" * 64))
    with pytest.warns(RuntimeWarning, match="checksum mismatch"):
        assert cache.lookup("m", ["key-a"]) == {}


def test_a_shard_without_a_checksum_is_not_used(tmp_path):
    cache = EmbeddingCache(tmp_path)
    path = cache.store("m", ["key-a"], np.ones((1, 4), np.float32))
    _rewrite_metadata(path, lambda meta: [meta.pop(k) for k in ("xxh3_128", "sha256")])
    with pytest.warns(RuntimeWarning, match="no checksum"):
        assert cache.lookup("m", ["key-a"]) == {}


def test_the_checked_checksum_covers_the_data(tmp_path):
    cache = EmbeddingCache(tmp_path)
    rows = np.arange(8, dtype=np.float32).reshape(2, 4)
    path = cache.store("m", ["key-a", "key-b"], rows)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # one bit of the last embedding
    path.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="checksum mismatch"):
        assert cache.lookup("m", ["key-b"]) == {}


def test_swapped_keys_in_a_shard_never_reach_embed(tiny, rng_images, tmp_path):
    X = embed(tiny, rng_images, cache_dir=tmp_path, progress=False)
    (shard,) = EmbeddingCache(tmp_path).shards(tiny.id)
    rewrite_keys(shard, lambda keys: [keys[1], keys[0], *keys[2:]])
    with pytest.warns(RuntimeWarning, match="checksum mismatch"):
        Y = embed(tiny, rng_images, cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(X, Y)


# ---------------------------------------------------------------- folder names
def test_backbone_ids_that_sanitise_alike_do_not_collide(tmp_path, recwarn):
    cache = EmbeddingCache(tmp_path)
    cache.store("model/a", ["k"], np.ones((1, 3), np.float32))
    cache.store("model_a", ["k"], np.zeros((1, 3), np.float32))
    assert cache.folder("model/a") != cache.folder("model_a")
    np.testing.assert_array_equal(cache.lookup("model_a", ["k"])["k"], [0, 0, 0])
    np.testing.assert_array_equal(cache.lookup("model/a", ["k"])["k"], [1, 1, 1])
    assert len(cache.shards("model/a")) == len(cache.shards("model_a")) == 1  # none deleted
    assert runtime_warnings(recwarn) == []


@pytest.mark.parametrize("bid", ["..", "../../etc", "/", "a" * 300, "ViT-B-32:openai"])
def test_folder_names_stay_inside_the_cache(tmp_path, bid):
    d = EmbeddingCache(tmp_path).folder(bid)
    assert d.parent == tmp_path / "embeddings"
    assert d.name == folder_name(bid) and len(d.name) <= 57 and not d.name.startswith(".")


# ---------------------------------------------------------------- unwritable cache
def test_cache_under_a_file_warns_once_and_computes(tiny, rng_images, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        X = embed(
            tiny, rng_images, cache_dir=blocker / "cache", chunk_size=2, batch_size=2,
            progress=False,
        )  # fmt: skip
    msgs = runtime_warnings(record)
    assert len(msgs) == 1 and "cannot be written" in msgs[0]  # three flushes, one warning
    np.testing.assert_array_equal(X, tiny.encode_images(rng_images, batch_size=2, progress=False))


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_failing_writes_warn_once_and_compute(tiny, rng_images, tmp_path, monkeypatch, code):
    def refuse(path, data):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(cache_mod, "atomic_write_bytes", refuse)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        X = embed(tiny, rng_images, cache_dir=tmp_path, chunk_size=2, batch_size=2, progress=False)
    msgs = runtime_warnings(record)
    assert len(msgs) == 1 and os.strerror(code) in msgs[0]
    np.testing.assert_array_equal(X, tiny.encode_images(rng_images, batch_size=2, progress=False))


def test_corrupt_shard_in_a_read_only_cache_is_reported_once(
    tiny, rng_images, tmp_path, monkeypatch
):
    X = embed(tiny, rng_images, cache_dir=tmp_path, chunk_size=3, batch_size=3, progress=False)
    bad = EmbeddingCache(tmp_path).shards(tiny.id)[0]
    data = bad.read_bytes()
    bad.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    # the cache becomes read-only (as root, chmod would not stop us: refuse by hand)
    real_unlink = Path.unlink

    def unlink(self, missing_ok=False):
        if tmp_path in self.parents:
            raise PermissionError(errno.EROFS, "Read-only file system", str(self))
        return real_unlink(self, missing_ok=missing_ok)

    def refuse(path, data):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(Path, "unlink", unlink)
    monkeypatch.setattr(cache_mod, "atomic_write_bytes", refuse)
    messages = []
    for _ in range(3):  # three runs
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            Y = embed(tiny, rng_images, cache_dir=tmp_path, chunk_size=3, batch_size=3)
        messages += [m for m in runtime_warnings(record) if bad.name in m]
        np.testing.assert_array_equal(X, Y)
    assert len(messages) == 1, messages
    assert "cannot be removed" in messages[0] and "it is removed" not in messages[0]
    assert bad.exists()


# ---------------------------------------------------------------- killed and concurrent writers
def test_stale_temporaries_are_cleaned_on_open(tmp_path):
    cache = EmbeddingCache(tmp_path)
    shard = cache.store("m", ["k"], np.ones((1, 2), np.float32))
    stale = shard.parent / ".0123.safetensors.abcd.tmp"  # a writer killed before its rename
    fresh = shard.parent / ".4567.safetensors.efgh.tmp"  # a writer at work right now
    for p in (stale, fresh):
        p.write_bytes(b"partial")
    old = time.time() - STALE_TMP_AGE - 60
    os.utime(stale, (old, old))
    assert EmbeddingCache(tmp_path).lookup("m", ["k"])  # opening the folder
    assert not stale.exists() and fresh.exists() and shard.exists()


def test_duplicate_rows_of_concurrent_writers_are_compacted(tiny, rng_images, tmp_path):
    imgs = np.concatenate([rng_images, rng_images[:, ::-1]])  # 12 distinct images
    barrier = threading.Barrier(2, timeout=60)
    original = tiny.model.encode_image
    waited = set()

    def encode(x, *a, **k):  # both writers looked the cache up before either writes
        me = threading.get_ident()
        if me not in waited:
            waited.add(me)
            barrier.wait()
        return original(x, *a, **k)

    results = {}

    def writer(name):
        results[name] = embed(
            tiny, imgs, cache_dir=tmp_path, batch_size=4, chunk_size=4, progress=False
        )

    tiny.model.encode_image = encode
    try:
        threads = [threading.Thread(target=writer, args=(n,)) for n in "ab"]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        tiny.model.encode_image = original
    cache = EmbeddingCache(tmp_path)
    assert rows_on_disk(cache, tiny.id) == 2 * len(imgs)  # what two writers leave
    again = embed(tiny, imgs, cache_dir=tmp_path, progress=False)  # opens the folder
    assert rows_on_disk(cache, tiny.id) == len(imgs)
    np.testing.assert_array_equal(again, results["a"])
    np.testing.assert_allclose(results["a"], results["b"], atol=1e-6)


def test_partly_overlapping_shards_keep_every_key(tmp_path):
    cache = EmbeddingCache(tmp_path)
    rows = np.arange(12, dtype=np.float32).reshape(6, 2)
    keys = [f"k{i}" for i in range(6)]
    cache.store("m", keys[:4], rows[:4])
    cache.store("m", keys[2:], rows[2:])
    cache.store("m", keys[1:3], rows[1:3])  # covered by the union of the others
    got = cache.lookup("m", keys)
    assert sorted(got) == keys
    np.testing.assert_array_equal(np.stack([got[k] for k in keys]), rows)
    assert rows_on_disk(cache, "m") >= 6
    assert sorted(EmbeddingCache(tmp_path).lookup("m", keys)) == keys


# ---------------------------------------------------------------- pixel keys
def test_pixel_keys_are_xxh3_of_size_and_pixels(rng_images):
    img = rng_images[0]  # 48 x 40
    source = as_image_source(rng_images)
    expected = "xx:" + xxhash.xxh3_128(b"RGB:40x48:" + img.tobytes()).hexdigest()
    assert source.key(0) == expected
    assert as_image_source([Image.fromarray(img)]).key(0) == expected  # PIL and array agree
    other = img.copy()
    other[5, 5, 0] ^= 1
    assert as_image_source(other[None]).key(0) != expected
    # same bytes, other shape: other key
    assert as_image_source(img.reshape(40, 48, 3)[None]).key(0) != expected


def test_all_keys_at_once_are_the_keys_one_by_one(rng_images):
    """``ImageSource.keys`` (the cached lookup's one loop) keys exactly as ``key(i)``."""
    flipped = rng_images[:, ::-1]  # a non-contiguous view: every image is strided
    for images in (rng_images, flipped, list(rng_images), [Image.fromarray(a) for a in flipped]):
        source = as_image_source(images)
        expected = [
            "xx:" + xxhash.xxh3_128(b"RGB:40x48:" + np.ascontiguousarray(a).tobytes()).hexdigest()
            for a in (images if isinstance(images, np.ndarray) else map(np.asarray, images))
        ]
        assert source.keys() == [source.key(i) for i in range(len(source))] == expected

    class Renamed(type(as_image_source(rng_images))):  # a subclass's own keys are kept
        def key(self, i):
            return f"k{i}"

    assert Renamed("array", rng_images).keys() == [f"k{i}" for i in range(len(rng_images))]
