"""Embedding cache: hits, invalidation, resume after interruption, corrupt shards."""

from __future__ import annotations

import os
import re
import time

import numpy as np
import pytest
from PIL import Image

import bottlekit
from bottlekit.backbones import load_backbone
from bottlekit.cache import EmbeddingCache, default_cache_dir, embed


class CountingBackbone:
    """Wraps a Backbone and counts the images that reach the model's forward pass."""

    def __init__(self, backbone, fail_after_batches=None):
        self.inner = backbone
        self.images_seen = 0
        self.batches = 0
        self.fail_after_batches = fail_after_batches
        original = backbone.model.encode_image

        def counted(x, *a, **k):
            if self.fail_after_batches is not None and self.batches >= self.fail_after_batches:
                raise KeyboardInterrupt("simulated interruption")
            self.batches += 1
            self.images_seen += len(x)
            return original(x, *a, **k)

        self._counted = counted
        self._original = original

    def __enter__(self):
        self.inner.model.encode_image = self._counted
        return self.inner

    def __exit__(self, *exc):
        self.inner.model.encode_image = self._original


@pytest.fixture(scope="module")
def tiny(tiny_configs):
    return load_backbone("test-tiny-vit", device="cpu")


@pytest.fixture
def files(tmp_path, rng_images):
    paths = []
    for i, img in enumerate(rng_images):
        p = tmp_path / f"im{i}.png"
        Image.fromarray(img).save(p)
        paths.append(p)
    return paths


def test_hit_returns_identical_arrays_without_running_the_model(tiny, rng_images, tmp_path):
    counter = CountingBackbone(tiny)
    with counter as bk:
        cold = embed(bk, rng_images, cache_dir=tmp_path, progress=False)
        assert counter.images_seen == len(rng_images)
        warm = embed(bk, rng_images, cache_dir=tmp_path, progress=False)
        assert counter.images_seen == len(rng_images)  # no forward call on a hit
    np.testing.assert_array_equal(cold, warm)
    np.testing.assert_array_equal(cold, tiny.encode_images(rng_images, progress=False))


def test_duplicates_are_computed_once_and_returned_in_order(tiny, rng_images, tmp_path):
    imgs = rng_images[[0, 1, 0, 2, 1]]
    counter = CountingBackbone(tiny)
    with counter as bk:
        X = embed(bk, imgs, cache_dir=tmp_path, progress=False)
    assert counter.images_seen == 3
    np.testing.assert_array_equal(X[0], X[2])
    # 3 vs 5 images per batch: BLAS may sum in another order, so float32 rounding only
    np.testing.assert_allclose(X, tiny.encode_images(imgs, progress=False), atol=1e-6)


def test_changed_file_invalidates_only_that_file(tiny, files, tmp_path, rng_images):
    cache = EmbeddingCache(tmp_path / "cache")
    counter = CountingBackbone(tiny)
    with counter as bk:
        before = embed(bk, files, cache=cache, progress=False, num_workers=0)
        # rewrite one file with other pixels; bump mtime in case the clock is coarse
        Image.fromarray(rng_images[::-1][0]).save(files[2])
        st = os.stat(files[2])
        os.utime(files[2], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        after = embed(bk, files, cache=cache, progress=False, num_workers=0)
    assert counter.images_seen == len(files) + 1
    np.testing.assert_array_equal(np.delete(before, 2, 0), np.delete(after, 2, 0))
    # the new pixels are image 5's; embedded alone rather than in a batch of 6, so equal
    # up to float32 summation order
    np.testing.assert_allclose(after[2], before[len(files) - 1], atol=1e-6)


def test_other_backbone_gets_its_own_entries(tiny, rng_images, tmp_path):
    other = load_backbone("test-tiny-vit", random_state=7)
    assert other.id != tiny.id
    embed(tiny, rng_images, cache_dir=tmp_path, progress=False)
    counter = CountingBackbone(other)
    with counter as bk:
        X = embed(bk, rng_images, cache_dir=tmp_path, progress=False)
    assert counter.images_seen == len(rng_images)
    np.testing.assert_array_equal(X, other.encode_images(rng_images, progress=False))


def test_resume_after_interruption_computes_only_the_rest(tiny, rng_images, tmp_path):
    imgs = np.concatenate([rng_images, rng_images[:, ::-1]])  # 12 distinct images
    interrupted = CountingBackbone(tiny, fail_after_batches=2)
    with interrupted as bk, pytest.raises(KeyboardInterrupt):
        embed(bk, imgs, cache_dir=tmp_path, batch_size=2, chunk_size=2, progress=False)
    assert interrupted.images_seen == 4  # two batches finished before the "kill"
    assert len(EmbeddingCache(tmp_path).shards(tiny.id)) == 2
    resumed = CountingBackbone(tiny)
    with resumed as bk:
        X = embed(bk, imgs, cache_dir=tmp_path, batch_size=2, chunk_size=2, progress=False)
    assert resumed.images_seen == len(imgs) - 4
    np.testing.assert_allclose(
        X, tiny.encode_images(imgs, batch_size=2, progress=False), atol=1e-6
    )  # batches of 2 either way, but the resumed run's batches pair other images
    leftovers = [p for p in (tmp_path / "embeddings").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "garbage"])
def test_corrupt_shard_is_detected_and_recomputed(tiny, rng_images, tmp_path, damage):
    X = embed(tiny, rng_images, cache_dir=tmp_path, chunk_size=3, batch_size=3, progress=False)
    shards = EmbeddingCache(tmp_path).shards(tiny.id)
    assert len(shards) == 2
    data = shards[0].read_bytes()
    if damage == "truncate":
        shards[0].write_bytes(data[: len(data) - 50])
    elif damage == "flip_byte":
        shards[0].write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    else:
        shards[0].write_bytes(b"garbage")
    counter = CountingBackbone(tiny)
    with counter as bk, pytest.warns(RuntimeWarning, match="unreadable"):
        Y = embed(bk, rng_images, cache_dir=tmp_path, chunk_size=3, batch_size=3, progress=False)
    assert counter.images_seen == 3  # only the damaged shard's items
    np.testing.assert_array_equal(X, Y)


def test_cache_root_from_environment(tiny, rng_images, tmp_path, monkeypatch):
    monkeypatch.setenv("BOTTLEKIT_CACHE", str(tmp_path / "envcache"))
    assert default_cache_dir() == tmp_path / "envcache"
    embed(tiny, rng_images[:2], progress=False)
    assert len(EmbeddingCache().shards(tiny.id)) == 1
    assert (tmp_path / "envcache" / "embeddings").is_dir()


def test_no_cache_writes_nothing(tiny, rng_images, tmp_path):
    X = embed(tiny, rng_images, cache=False, cache_dir=tmp_path, progress=False)
    assert not (tmp_path / "embeddings").exists()
    np.testing.assert_array_equal(X, tiny.encode_images(rng_images, progress=False))


def test_store_rejects_mismatched_rows(tmp_path):
    with pytest.raises(ValueError, match=r"expected shape \(2, d\)"):
        EmbeddingCache(tmp_path).store("m", ["a", "b"], np.zeros((3, 4), np.float32))


def test_a_shard_safetensors_cannot_hold_is_refused_by_name_and_not_written(tmp_path):
    # Before: safetensors' own "Error while serializing: header too large" (a
    # SafetensorError, not a ValueError, naming neither the shard nor its keys), which
    # embed did not catch: a run lost the chunk it had just encoded. With safetensors
    # < 0.6 the shard was written and then refused by safe_open at every lookup.
    cache = EmbeddingCache(tmp_path)
    keys = [f"{i:04d}" + "k" * 100_000 for i in range(1000)]  # 100 MB of keys
    with pytest.raises(
        ValueError,  # FileTooLarge
        match=r"^embedding cache shard not saved to '.+\.safetensors': its metadata \(the "
        r"keys of its 1000 items\) would be refused when loaded, so the file could not be "
        r"read back: the file's header would have (more than 100000000 bytes, more than "
        r"the safetensors library writes or reads|100010272 bytes); at most 100000000 are "
        r"accepted \(SAFETENSORS_MAX_HEADER_BYTES\)$",  # (safetensors >= 0.6 | before: it wrote)
    ):
        cache.store("m", keys, np.zeros((1000, 1), np.float32))
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def _header_bytes(path) -> int:
    return int.from_bytes(path.read_bytes()[:8], "little")


def test_embed_stores_a_chunk_too_large_for_one_shard_in_smaller_ones(
    tiny, rng_images, tmp_path, monkeypatch
):
    from bottlekit import safetensors_file
    from bottlekit.images import as_image_source

    imgs = rng_images[:4]
    keys = as_image_source(imgs).keys()
    scratch = EmbeddingCache(tmp_path / "scratch")
    two = scratch.store(tiny.id, keys[:2], np.ones((2, tiny.embed_dim), np.float32))
    # a header of two of these keys fits, one of four does not
    monkeypatch.setattr(safetensors_file, "SAFETENSORS_MAX_HEADER_BYTES", _header_bytes(two))
    counter = CountingBackbone(tiny)
    with counter as bk:
        cold = embed(bk, imgs, cache_dir=tmp_path / "c", chunk_size=4, progress=False)
        warm = embed(bk, imgs, cache_dir=tmp_path / "c", chunk_size=4, progress=False)
    assert counter.images_seen == 4  # the second run read all four from the cache
    np.testing.assert_array_equal(cold, warm)
    np.testing.assert_array_equal(cold, tiny.encode_images(imgs, progress=False))
    cache = EmbeddingCache(tmp_path / "c")
    held = sorted(cache._read_header(p, tiny.id)[0] for p in cache.shards(tiny.id))
    assert sorted(k for shard in held for k in shard) == sorted(keys)
    assert [len(shard) for shard in held] == [2, 2]


def test_embed_does_not_cache_a_row_whose_key_alone_is_too_large(
    tiny, rng_images, tmp_path, monkeypatch
):
    from bottlekit import safetensors_file

    monkeypatch.setattr(safetensors_file, "SAFETENSORS_MAX_HEADER_BYTES", 100)
    with pytest.warns(RuntimeWarning) as caught:
        X = embed(tiny, rng_images[:2], cache_dir=tmp_path, chunk_size=2, progress=False)
    np.testing.assert_array_equal(X, tiny.encode_images(rng_images[:2], progress=False))
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2
    assert all(
        re.match(
            r"^embedding cache: the embedding of 'xx:[0-9a-f]{32}' is not cached: embedding "
            r"cache shard not saved to .*: the file's header would have \d+ bytes; at most "
            r"100 are accepted \(SAFETENSORS_MAX_HEADER_BYTES\)$",
            m,
        )
        for m in messages
    ), messages
    assert EmbeddingCache(tmp_path).shards(tiny.id) == []


def test_cached_run_is_much_faster_than_cold(tiny, rng_images, tmp_path):
    """A sanity bound, not a benchmark: the figures live in benchmarks/embed_throughput.py."""
    imgs = np.repeat(rng_images, 20, axis=0)
    imgs[:, 0, 0, 0] = np.arange(len(imgs)) % 256  # make every image distinct
    imgs[:, 0, 1, 0] = np.arange(len(imgs)) // 256
    t0 = time.perf_counter()
    embed(tiny, imgs, cache_dir=tmp_path, progress=False)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    embed(tiny, imgs, cache_dir=tmp_path, progress=False)
    warm = time.perf_counter() - t0
    assert warm < cold


def test_top_level_embed():
    assert bottlekit.embed is embed


def test_cached_embeddings_larger_than_memory_are_refused_before_encoding(
    tiny, rng_images, tmp_path, monkeypatch
):
    # Before: the cached path encoded (and cached) every image, then failed at the gather
    # with numpy's "Unable to allocate ..." or swapped; now the bound is checked first.
    per_image = 4 * tiny.embed_dim
    monkeypatch.setattr("bottlekit._arrays.physical_memory", lambda: 5 * per_image)
    counter = CountingBackbone(tiny)
    with counter as bb:
        with pytest.raises(ValueError, match=r"embed: images holds 6 images, .* at most 5 "):
            embed(bb, rng_images[:6], cache_dir=tmp_path, progress=False)
    assert counter.images_seen == 0
    assert list(tmp_path.rglob("*.safetensors")) == []
    expected = tiny.encode_images(rng_images[:5], progress=False)
    out = embed(tiny, rng_images[:5], cache_dir=tmp_path, progress=False)
    np.testing.assert_allclose(out, expected, atol=1e-6)
