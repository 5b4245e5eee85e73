"""Hostile input to the media layer, through the public API: image intake
(``as_image_source``), the embedding cache (``EmbeddingCache``, ``embed``), backbones
(``load_backbone``, ``register_model_config``) and ``read_safetensors``.

Each case states what the code did before its fix.
"""

from __future__ import annotations

import json
import os
import re
import struct
import tracemalloc
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from bottlekit import safetensors_file
from bottlekit.backbones import load_backbone, register_model_config
from bottlekit.cache import _FORMAT, EmbeddingCache, _checksum, embed
from bottlekit.images import ImageInputError, as_image_source
from bottlekit.safetensors_file import MAX_HEADER_VALUES, read_safetensors

# ---------------------------------------------------------------- read_safetensors


def _write(path, header, data=b""):
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


_META = {"__metadata__": {"bottlekit": "{}"}}


def _overlapping(n, size=4096):
    """``n`` tensors that all claim the same ``size`` bytes of data."""
    entry = {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}
    return {**_META, **{f"t{i}": entry for i in range(n)}}, bytes(size)


@pytest.mark.parametrize(
    "header, data, match",
    [
        # before: TypeError "unhashable type: 'list'" (the dtype was looked up as a key)
        (
            {**_META, "w": {"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}},
            bytes(4),
            r"tensor 'w' has dtype \['F32'\]; expected one of",
        ),
        # before: RecursionError, naming no file
        (b"[" * 100_000 + b"]" * 100_000, b"", "its header is not JSON .*nests"),
        # before: ValueError "Exceeds the limit (4300 digits)", naming no file
        (
            {"__metadata__": {"bottlekit": "1" * 5000}},
            b"",
            "its bottlekit metadata is not JSON",
        ),
        (b"1" * 5000, b"", "its header is not JSON"),
        # before: accepted; each tensor a copy of the same bytes
        (*_overlapping(2), "share bytes"),
    ],
    ids=["dtype-list", "deep-json", "meta-digits", "header-digits", "overlap"],
)
def test_hostile_safetensors_headers_are_named(tmp_path, header, data, match):
    path = _write(tmp_path / "m.safetensors", header, data)
    with pytest.raises(ValueError, match=match) as info:
        read_safetensors(path, "model")
    assert "m.safetensors" in str(info.value)


def test_overlapping_tensors_cannot_ask_for_more_memory_than_the_file(tmp_path):
    # before: 500 entries over one 64 KiB range allocated 500 copies (32 MiB from a
    # 100 KiB file; a 64 MiB header over a large range asks for far more)
    path = _write(tmp_path / "m.safetensors", *_overlapping(500, 2**16))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="share bytes"):
            read_safetensors(path, "model")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20


def test_adjacent_and_empty_tensors_are_not_overlaps(tmp_path):
    header = {
        **_META,
        "a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
        "e": {"dtype": "U8", "shape": [0], "data_offsets": [2, 2]},
        "b": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]},
    }
    out = read_safetensors(_write(tmp_path / "m.safetensors", header, b"\1\2\3\4"), "model")
    assert out["a"].tolist() == [1, 2] and out["b"].tolist() == [3, 4] and out["e"].size == 0


def test_a_header_of_too_many_json_values_is_refused_before_parsing(tmp_path):
    # before: parsed whole: 3 bytes of "[]," became a ~70-byte list (64 MiB of them took
    # 1.7 GB), then refused as an invalid shape whose message printed every list
    n = MAX_HEADER_VALUES // 2 + 1  # each "[]," counts twice: "[" and ","
    shape = "[" + "[]," * (n - 1) + "[]]"
    raw = ('{"t": {"dtype": "F32", "shape": ' + shape + ', "data_offsets": [0, 0]}}').encode()
    path = _write(tmp_path / "m.safetensors", raw)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            read_safetensors(path, "model")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    counted = 1 + sum(raw.count(c) for c in b"[{,:")
    assert re.search(
        r"m\.safetensors' is not a readable safetensors file of a bottlekit model: its header "
        rf"is not JSON \(it may hold {counted} JSON values \(counted by its '\[', '\{{', "
        rf"',' and ':'\); at most {MAX_HEADER_VALUES} are accepted\)",
        str(info.value),
    ), str(info.value)[:300]
    assert peak < 1.5 * len(raw)  # the bytes read, not the parsed lists (24x the bytes)


def test_bottlekit_metadata_of_too_many_json_values_is_refused(tmp_path, monkeypatch):
    # before: no count; the metadata's lists are escaped in the header (\u005b is "["),
    # so only the second count, on the metadata itself, sees them
    monkeypatch.setattr(safetensors_file, "MAX_HEADER_VALUES", 1000)
    meta = "[" + "[]," * 999 + "[]]"
    header = {"__metadata__": {"bottlekit": meta}}
    raw = json.dumps(header).replace("[", "\\u005b").replace(",", "\\u002c").encode()
    assert raw.count(b"[") == 0 and json.loads(raw) == header
    with pytest.raises(
        ValueError, match=r"its bottlekit metadata is not JSON \(it may hold 2001 JSON values"
    ):
        read_safetensors(_write(tmp_path / "m.safetensors", raw), "model")


def test_messages_about_a_tensor_entry_stay_short(tmp_path):
    # before: the message printed the whole shape, offsets or dtype (a 4,000-character
    # message here; megabytes from a large header)
    long_list = [[]] * 1000
    for entry in (
        {"dtype": "F32", "shape": long_list, "data_offsets": [0, 0]},
        {"dtype": "F32", "shape": [0], "data_offsets": long_list},
        {"dtype": "x" * 5000, "shape": [0], "data_offsets": [0, 0]},
    ):
        path = _write(tmp_path / "m.safetensors", {**_META, "w" * 5000: entry})
        with pytest.raises(ValueError, match=r"tensor 'w+\.\.\.w*' has") as info:
            read_safetensors(path, "model")
        assert len(str(info.value)) < 500, str(info.value)[:600]


# ---------------------------------------------------------------- image intake


class _NoLen(torch.utils.data.Dataset):
    def __getitem__(self, i):
        return np.zeros((8, 8, 3), np.uint8)


class _Stream(torch.utils.data.IterableDataset):
    def __iter__(self):
        yield np.zeros((8, 8, 3), np.uint8)


@pytest.mark.parametrize(
    "images, match",
    [
        # before: accepted; the model's resize then failed with ZeroDivisionError
        (np.zeros((2, 0, 8, 3), np.uint8), r"has 0 x 8 pixels"),
        (np.zeros((2, 8, 0, 3), np.uint8), r"has 8 x 0 pixels"),
        ([Image.new("RGB", (0, 0))], r"item 0 has 0 x 0 pixels"),
        ([np.zeros((0, 8, 3), np.uint8)], r"item 0 has 0 x 8 pixels"),
        # before: Path("") is ".", so the working directory's images were read
        ("", "empty path"),
        # before: TypeError "object of type '_NoLen' has no len()"
        (_NoLen(), "dataset _NoLen has no length"),
        (_Stream(), "dataset _Stream has no length"),
        # before: OSError [Errno 36] File name too long, naming no argument
        ("x" * 5000, "images: path 'xxx.*cannot be read"),
    ],
    ids=["H=0", "W=0", "pil-0x0", "list-array-H=0", "empty-path", "no-len", "iterable", "long"],
)
def test_bad_images_are_refused_at_intake(images, match):
    with pytest.raises(ImageInputError, match=match):
        as_image_source(images)


def test_empty_image_inside_a_dataset_is_named_when_read():
    class One(torch.utils.data.Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            return Image.new("RGB", (5, 0))

    src = as_image_source(One())
    with pytest.raises(ImageInputError, match="dataset item 0 has 0 x 5 pixels"):
        src.load(0)


def test_a_decompression_bomb_names_its_file(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    Image.new("RGB", (64, 64)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 4096 pixels: over twice that
    # before: PIL's DecompressionBombError, naming no file
    with pytest.raises(ValueError, match=r"images: cannot read image file '.*bomb\.png'.*bomb"):
        as_image_source([path]).load(0)


# ---------------------------------------------------------------- embedding cache


class FakeBackbone:
    """The duck type ``embed`` needs: rows are the images' channel means, normalised."""

    name = "fake"
    id = "fake-backbone"
    embed_dim = 3

    def __init__(self):
        self.calls = 0

    def iter_encode_images(self, source, batch_size=64, num_workers=None, **kw):
        arr = source.to_array().astype(np.float32).mean(axis=(1, 2)) + 1.0
        self.calls += 1
        yield 0, arr / np.linalg.norm(arr, axis=1, keepdims=True)

    def encode_images(self, source, batch_size=64, progress=True, num_workers=None, **kw):
        return next(self.iter_encode_images(source))[1]


@pytest.fixture
def imgs():
    return np.random.default_rng(0).integers(0, 256, (4, 6, 6, 3), dtype=np.uint8)


def _forge_shard(cache, bid, keys, emb, name="forged"):
    """A shard whose checksum matches: what another writer (or another model) leaves."""
    from safetensors.numpy import save

    keys_json = json.dumps(keys)
    meta = {
        "format": _FORMAT,
        "backbone_id": bid,
        "keys": keys_json,
        "sha256": _checksum(bid, keys_json, emb),
    }
    folder = cache.folder(bid)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.safetensors"
    path.write_bytes(save({"embeddings": emb}, metadata=meta))
    return path


def test_shard_of_another_width_is_refused_and_recomputed(tmp_path, imgs):
    bk, cache = FakeBackbone(), EmbeddingCache(tmp_path)
    keys = as_image_source(imgs).keys()
    ref = embed(bk, imgs, cache=False, progress=False)
    path = _forge_shard(cache, bk.id, keys[:2], np.ones((2, 5), np.float32))
    # before: ValueError "shape mismatch: value array of shape (2,3) could not be
    # broadcast ..." from inside embed
    with pytest.warns(RuntimeWarning, match="width 5; the backbone's are 3 wide"):
        X = embed(bk, imgs, cache=cache, progress=False)
    np.testing.assert_allclose(X, ref)
    assert not path.exists()


def test_shard_of_another_width_is_never_returned(tmp_path, imgs):
    bk, cache = FakeBackbone(), EmbeddingCache(tmp_path)
    keys = as_image_source(imgs).keys()
    _forge_shard(cache, bk.id, keys[:2], np.ones((2, 5), np.float32))
    # before: the (2, 5) rows of the shard were returned for a 3-wide backbone
    with pytest.warns(RuntimeWarning, match="width 5"):
        X = embed(bk, imgs[:2], cache=cache, progress=False)
    assert X.shape == (2, 3)
    # the rows are recomputed by the backbone, not the shard's ones cut or padded to width
    np.testing.assert_allclose(X, embed(bk, imgs[:2], cache=False, progress=False))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_in_the_cache_folder_does_not_hang(tmp_path, imgs):
    bk, cache = FakeBackbone(), EmbeddingCache(tmp_path)
    cache.folder(bk.id).mkdir(parents=True)
    os.mkfifo(cache.folder(bk.id) / "pipe.safetensors")
    # before: opening the FIFO waited for a writer forever
    assert cache.shards(bk.id) == []
    X = embed(bk, imgs, cache=cache, progress=False)
    assert X.shape == (4, 3) and len(cache.shards(bk.id)) == 1


def test_clear_while_another_process_removes_shards(tmp_path):
    class Racy(EmbeddingCache):
        """Another process removes the first shard between the listing and the unlink."""

        def shards(self, backbone_id):
            found = super().shards(backbone_id)
            found[0].unlink()
            return found

    cache = Racy(tmp_path)
    for i in range(3):
        cache.store("b", [f"k{i}"], np.ones((1, 3)))
    # before: FileNotFoundError from the unlink of the shard already gone
    assert cache.clear("b") == 2
    assert EmbeddingCache(tmp_path).shards("b") == []


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        # before: a non-empty string was true: "no" cached (and drafted, and printed)
        ({"cache": "no"}, TypeError, "cache: expected True or False, got 'no'"),
        ({"cache": 2}, TypeError, "cache: expected True or False, got 2"),
        ({"jpeg_draft": "no"}, TypeError, "jpeg_draft: expected True or False"),
        ({"progress": "no"}, TypeError, "progress: expected True or False"),
        # before: TypeError from pathlib naming no argument
        ({"cache_dir": 5}, TypeError, "cache_dir: expected the path of a folder"),
        # before: True was taken as chunk_size=1
        ({"chunk_size": True}, ValueError, "chunk_size: expected a positive int, got True"),
        # before: accepted whenever every row was cached (the model never ran)
        ({"batch_size": 0}, ValueError, "batch_size: expected a positive int, got 0"),
        ({"batch_size": "8"}, ValueError, "batch_size: expected a positive int, got '8'"),
        ({"batch_size": True}, ValueError, "batch_size: expected a positive int, got True"),
        ({"num_workers": -1}, ValueError, "num_workers must be an integer >= 0"),
    ],
)
def test_embed_arguments_are_checked_even_when_everything_is_cached(
    tmp_path, imgs, kwargs, error, match
):
    bk = FakeBackbone()
    embed(bk, imgs, cache_dir=tmp_path, progress=False)  # every row cached
    kwargs = {"cache_dir": tmp_path, "progress": False, **kwargs}
    with pytest.raises(error, match=match):
        embed(bk, imgs, **kwargs)


@pytest.mark.parametrize(
    "call, error, match",
    [
        # before: TypeError from pathlib naming no argument
        (lambda c: EmbeddingCache(5), TypeError, "root: expected the path of a folder"),
        # before: "ab" stored two rows under the keys "a" and "b"
        (lambda c: c.store("b", "ab", np.ones((2, 3))), TypeError, "keys: expected a list"),
        # before: stored; the next lookup warned the shard away as unreadable
        (lambda c: c.store("b", [1, 2], np.ones((2, 3))), TypeError, "keys: expected a list"),
        # before: the imaginary parts were dropped (a ComplexWarning only)
        (lambda c: c.store("b", ["a"], np.ones((1, 3)) * 1j), TypeError, "embeddings: .*complex"),
        # before: the text "1" was stored as the number 1.0
        (lambda c: c.store("b", ["a"], np.array([["1", "2"]])), TypeError, "embeddings: .*text"),
        # before: looked up the keys "a" and "b"
        (lambda c: c.lookup("b", "ab"), TypeError, "keys: expected an iterable"),
    ],
    ids=["root-int", "keys-str", "keys-int", "complex", "text", "lookup-str"],
)
def test_cache_methods_check_their_arguments(tmp_path, call, error, match):
    with pytest.raises(error, match=match):
        call(EmbeddingCache(tmp_path))
    assert not list(tmp_path.rglob("*.safetensors"))


# ---------------------------------------------------------------- backbones


@pytest.mark.parametrize(
    "text, match",
    [
        # before: TypeError "'NoneType' object is not iterable"
        ("null", "holds a JSON NoneType; expected an object"),
        # before: "lacks the keys" (a list has none), now what it is
        ("[1, 2]", "holds a JSON list; expected an object"),
        # before: RecursionError
        ("[" * 100_000, "is not valid JSON: it nests too deeply"),
        # before: UnicodeDecodeError naming no file
        (b"\xff\xff\xff\xff", "is not valid JSON"),
        # before: registered; load_backbone then failed deep in torch
        ('{"embed_dim": "64", "vision_cfg": {}, "text_cfg": {}}', "embed_dim '64'; expected a"),
        ('{"embed_dim": -4, "vision_cfg": {}, "text_cfg": {}}', "embed_dim -4; expected a"),
        ('{"embed_dim": 8, "vision_cfg": [1], "text_cfg": {}}', "vision_cfg \\[1\\]; expected a"),
        # before: registered, the last of the two values silently kept
        (
            '{"embed_dim": 8, "vision_cfg": {"width": 64, "width": 32}, "text_cfg": {}}',
            "is not valid JSON: key 'width' is listed twice",
        ),
    ],
    ids=["null", "list", "deep", "not-utf8", "dim-str", "dim-neg", "vision-list", "dup-key"],
)
def test_bad_model_configs_are_named_at_registration(tmp_path, text, match):
    path = tmp_path / "hostile-cfg.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ValueError, match=match) as info:
        register_model_config(path)
    assert "hostile-cfg.json" in str(info.value)


def test_a_config_folder_with_a_folder_or_fifo_named_json(tmp_path):
    src = os.path.join(os.path.dirname(__file__), "configs", "test-tiny-vit.json")
    (tmp_path / "hostile-folder-cfg.json").write_text(open(src).read())
    (tmp_path / "sub.json").mkdir()
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.json")
    # before: IsADirectoryError from open_clip reading the folder (and a FIFO hung it)
    assert register_model_config(tmp_path) == ["hostile-folder-cfg"]


def test_empty_cache_paths_are_not_the_working_directory(imgs):
    # before: Path("") is ".", so the shards were written under the working directory
    with pytest.raises(ValueError, match="root: got an empty path"):
        EmbeddingCache("")
    with pytest.raises(ValueError, match="cache_dir: got an empty path"):
        embed(FakeBackbone(), imgs, cache_dir="", progress=False)


def test_register_model_config_names_a_non_path():
    # before: TypeError from pathlib naming no argument
    with pytest.raises(TypeError, match=r"path: expected a \.json model config"):
        register_model_config(None)


def test_a_config_open_clip_cannot_build_is_named(tmp_path, tiny_configs):
    cfg = json.load(open(os.path.join(os.path.dirname(__file__), "configs", "test-tiny-vit.json")))
    path = tmp_path / "hostile-unknown-key.json"
    path.write_text(json.dumps({**cfg, "bogus": 1}))
    register_model_config(path)
    # before: TypeError "CLIP.__init__() got an unexpected keyword argument 'bogus'"
    with pytest.raises(ValueError, match=r"open_clip cannot build 'hostile-unknown-key'.*bogus"):
        load_backbone("hostile-unknown-key", device="cpu")


def test_a_config_open_clip_asserts_on_is_named(tmp_path, tiny_configs):
    cfg = json.load(open(os.path.join(os.path.dirname(__file__), "configs", "test-tiny-vit.json")))
    path = tmp_path / "hostile-pool-last.json"
    path.write_text(json.dumps({**cfg, "vision_cfg": {**cfg["vision_cfg"], "pool_type": "last"}}))
    register_model_config(path)
    # before: a bare AssertionError from inside open_clip's VisionTransformer
    with pytest.raises(
        ValueError, match=r"open_clip cannot build 'hostile-pool-last' .*AssertionError"
    ):
        load_backbone("hostile-pool-last", device="cpu")


@pytest.fixture(scope="module")
def tiny_state(tiny_configs):
    bk = load_backbone("test-tiny-vit", device="cpu")
    return {k: v.clone().contiguous() for k, v in bk.model.state_dict().items()}


def _bad_checkpoints(tmp_path, state):
    from safetensors.torch import save_file

    first = next(iter(state))
    files = {
        "empty.safetensors": b"",
        "text.safetensors": b"hello world, not a safetensors file",
        "huge-header.safetensors": struct.pack("<Q", 2**62) + b"{}",
    }
    for name, raw in files.items():
        (tmp_path / name).write_bytes(raw)
    save_file({**state, first: torch.zeros(3)}, tmp_path / "rank.safetensors")
    np.save(tmp_path / "array.npy", np.zeros(3))
    return first


@pytest.mark.parametrize(
    "name, match",
    [
        # before: safetensors' SafetensorError "header too small / too large" from inside
        # open_clip, naming no file
        ("empty.safetensors", "is not a readable .safetensors file"),
        ("text.safetensors", "is not a readable .safetensors file"),
        ("huge-header.safetensors", "is not a readable .safetensors file"),
        # before: IndexError "tuple index out of range" from open_clip
        ("rank.safetensors", "does not fit architecture 'test-tiny-vit'"),
        # before: AttributeError "'VisionTransformer' object has no attribute 'trunk'"
        ("array.npy", "does not fit architecture 'test-tiny-vit'"),
    ],
)
def test_bad_checkpoint_files_are_named(tmp_path, tiny_state, name, match):
    _bad_checkpoints(tmp_path, tiny_state)
    with pytest.raises(ValueError, match=match) as info:
        load_backbone("test-tiny-vit", str(tmp_path / name), device="cpu")
    assert name in str(info.value)


SEED = r"an int seed in \[-2\*\*63, 2\*\*64\)"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        # before: ValueError "invalid literal for int() with base 10: 'x'" from torch
        # (the messages are _checks.check_number's since: "expected an int seed, got 'x'"
        # and "expected a seed in [-2**63, 2**64)" before)
        ({"random_state": "x"}, TypeError, rf"random_state: expected {SEED}, got 'x'$"),
        # before: accepted (torch truncated the seed to 1)
        ({"random_state": 1.5}, TypeError, rf"random_state: expected {SEED}, got 1\.5$"),
        ({"random_state": True}, TypeError, rf"random_state: expected {SEED}, got True$"),
        ({"random_state": None}, TypeError, rf"random_state: expected {SEED}, got None$"),
        # before: HFValidationError from huggingface_hub
        # before: ValueError "Overflow when unpacking long long" from torch
        (
            {"random_state": 2**70},
            ValueError,
            rf"random_state: expected {SEED}, got 1180591620717411303424$",
        ),
        ({"random_state": -(2**63) - 1}, ValueError, rf"random_state: expected {SEED}, got -9"),
        # before: accepted, and handed to open_clip
        ({"cache_dir": 5}, TypeError, "cache_dir: expected the path of a folder or None"),
        ({"name": "hf-hub:"}, ValueError, "has no hub repository"),
        ({"name": "local-dir:"}, ValueError, "has no folder"),
    ],
)
def test_load_backbone_arguments_are_named(tiny_configs, kwargs, error, match):
    kwargs = {"name": "test-tiny-vit", "pretrained": "random", "device": "cpu", **kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error, match=match):
            load_backbone(**kwargs)


def test_list_backbones_names_a_bad_cache_dir():
    from bottlekit.backbones import list_backbones

    # before: TypeError from posixpath naming no argument
    with pytest.raises(TypeError, match="cache_dir: expected the path of a folder"):
        list_backbones(cache_dir=5)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        # before: True was taken as batch_size=1
        ({"batch_size": True}, ValueError, "batch_size: expected a positive int, got True"),
        # before: "no" showed the progress bar
        ({"progress": "no"}, TypeError, "progress: expected True or False, got 'no'"),
    ],
)
def test_encode_images_flags_are_checked(tiny_configs, kwargs, error, match):
    bk = load_backbone("test-tiny-vit", device="cpu")
    with pytest.raises(error, match=match):
        bk.encode_images(np.zeros((2, 8, 8, 3), np.uint8), **kwargs)


def test_numpy_integer_seed_is_still_a_seed(tiny_configs):
    a = load_backbone("test-tiny-vit", "random", device="cpu", random_state=np.int64(3))
    b = load_backbone("test-tiny-vit", "random", device="cpu", random_state=3)
    assert a.id == b.id


@pytest.mark.parametrize("model, tag", [(["world-tiny"], "bottlekit"), ("world-tiny", {"a": 1})])
def test_pretrained_table_lookups_of_unhashable_names(model, tag):
    from bottlekit.pretrained import get_pretrained_cfg, is_available, pretrained_file

    # before: TypeError "unhashable type" from the table's dict
    assert get_pretrained_cfg(model, tag) == {}
    assert is_available(model, tag) is False
    with pytest.raises(KeyError, match="no pretrained entry"):
        pretrained_file(model, tag)


class _Payload:
    """Unpickling it would create the file ``path`` (if the pickle were ever run)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _local_dir(tmp_path, weights=None):
    import open_clip

    folder = tmp_path / "snapshot"
    folder.mkdir()
    cfg = {"model_cfg": open_clip.get_model_config("test-tiny-vit")}
    (folder / "open_clip_config.json").write_text(json.dumps(cfg))
    if weights is not None:
        weights(folder)
    return folder


def test_local_dir_weights_are_read_weights_only_first(tmp_path, tiny_state):
    marker = tmp_path / "unpickled"

    def pickled(folder):
        torch.save(
            {"state_dict": tiny_state, "x": _Payload(marker)},
            folder / "open_clip_pytorch_model.bin",
        )

    folder = _local_dir(tmp_path, pickled)
    # before: torch's UnpicklingError (advising weights_only=False) from inside open_clip,
    # whose reader unpickles in full where a weights-only read raises TypeError
    with pytest.raises(ValueError, match=r"open_clip_pytorch_model\.bin' is not a weights-only"):
        load_backbone(f"local-dir:{folder}", device="cpu")
    assert not marker.exists()


def test_local_dir_without_weights_is_not_random_weights(tmp_path, tiny_configs):
    folder = _local_dir(tmp_path)
    # before: random weights labelled "local-dir" (open_clip only logged a warning)
    with pytest.raises(FileNotFoundError, match=r"has open_clip_config\.json but no weights"):
        load_backbone(f"local-dir:{folder}", device="cpu")


def test_local_dir_with_a_damaged_weights_file_names_it(tmp_path, tiny_configs):
    folder = _local_dir(
        tmp_path, lambda f: (f / "open_clip_model.safetensors").write_text("hello")
    )
    # before: "pretrained: None is not a readable .safetensors file"
    with pytest.raises(ValueError, match=r"open_clip_model\.safetensors' is not a readable"):
        load_backbone(f"local-dir:{folder}", device="cpu")


def test_local_dir_with_a_config_that_is_not_json(tmp_path, tiny_state):
    from safetensors.torch import save_file

    folder = _local_dir(
        tmp_path, lambda f: save_file(tiny_state, f / "open_clip_model.safetensors")
    )
    (folder / "open_clip_config.json").write_text("{")
    # open_clip's config error, named as one (not blamed on the weights file, which the
    # weights check now finds for a local-dir: folder)
    with pytest.raises(ValueError, match=r"open_clip cannot build 'local-dir:.*model config"):
        load_backbone(f"local-dir:{folder}", device="cpu")


@pytest.mark.parametrize("name", ["ViT-B-32", "world-tiny"])
def test_a_config_may_not_replace_a_shipped_one(tmp_path, name):
    import open_clip

    path = tmp_path / f"{name}.json"
    cfg = open_clip.get_model_config(name) if name != "world-tiny" else None
    if cfg is None:
        from bottlekit._backbone_weights import MODEL_CONFIG_DIR

        cfg = json.loads((MODEL_CONFIG_DIR / "world-tiny.json").read_text())
    path.write_text(json.dumps(cfg))
    assert register_model_config(path) == [name]  # the same config again is fine
    changed = dict(cfg, embed_dim=cfg["embed_dim"] + 1)
    # another file: open_clip re-reads every registered file whenever a config is added
    path = tmp_path / "other" / f"{name}.json"
    path.parent.mkdir()
    path.write_text(json.dumps(changed))
    # before: registered silently, and the shipped weights of that name then met another
    # architecture
    with pytest.raises(ValueError, match=rf"would replace .*own '{name}' config"):
        register_model_config(path)
    assert open_clip.get_model_config(name)["embed_dim"] == cfg["embed_dim"]


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_checkpoint_with_non_finite_weights_is_refused(tmp_path, tiny_state, value):
    from safetensors.torch import save_file

    key = next(k for k, v in tiny_state.items() if v.is_floating_point() and v.ndim == 2)
    bad = tiny_state[key].clone()
    bad[0, 0] = value
    save_file({**tiny_state, key: bad}, tmp_path / "nan.safetensors")
    # before: loaded silently; every embedding of every image was NaN
    with pytest.raises(ValueError, match=rf"hold NaN or infinite values \(first in .*{key!r}"):
        load_backbone("test-tiny-vit", str(tmp_path / "nan.safetensors"), device="cpu")
    save_file(tiny_state, tmp_path / "fine.safetensors")
    fine = load_backbone("test-tiny-vit", str(tmp_path / "fine.safetensors"), device="cpu")
    assert torch.equal(fine.model.state_dict()[key], tiny_state[key])


@pytest.mark.parametrize("kind", ["safetensors", "pt", "pt-module-prefix"])
@pytest.mark.parametrize("dtype", [torch.int64, torch.bool])
def test_a_checkpoint_with_integer_weights_is_refused(tmp_path, tiny_state, kind, dtype):
    from safetensors.torch import save_file

    key = next(k for k, v in tiny_state.items() if v.is_floating_point() and v.ndim == 2)
    state = {**tiny_state, key: (tiny_state[key] * 10).to(dtype)}
    if kind == "safetensors":
        path = tmp_path / "ints.safetensors"
        save_file(state, path)
    else:
        path = tmp_path / "ints.pt"
        prefix = "module." if kind == "pt-module-prefix" else ""
        torch.save({"state_dict": {prefix + k: v for k, v in state.items()}}, path)
    # before: load_state_dict cast the integers to floats silently (a mangled or quantised
    # file gave a model of wrong weights)
    with pytest.raises(ValueError, match=rf"stores {key!r} as integers or booleans"):
        load_backbone("test-tiny-vit", str(path), device="cpu")


# ------------------------------------------------------------- NaN out of a model


def _nan_for_flat_images(bk):
    """Make ``bk``'s image tower return NaN for images of one colour."""
    encode = bk.model.encode_image

    def encode_image(x, *args, **kwargs):
        out = encode(x, *args, **kwargs)
        flat = x.flatten(2).std(dim=2).amax(dim=1) == 0
        return torch.where(flat[:, None], torch.nan, out)

    return encode_image


def test_a_model_that_returns_nan_is_named_and_nothing_of_it_is_cached(
    tmp_path, tiny_configs, monkeypatch
):
    bk = load_backbone("test-tiny-vit", "random", device="cpu")
    imgs = np.random.default_rng(1).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    imgs[4] = 0  # the one image the patched model fails on
    monkeypatch.setattr(bk.model, "encode_image", _nan_for_flat_images(bk))
    cache = EmbeddingCache(tmp_path)
    # Before: the NaN rows were returned and written to the cache, and failed later, far
    # from their cause (e.g. "X contains NaN" in a CBM's fit).
    with pytest.raises(ValueError, match=r"test-tiny-vit.*NaN or infinite.*first: image 4"):
        embed(bk, imgs, cache=cache, batch_size=2, chunk_size=2, progress=False)
    held = cache.lookup(bk.id, as_image_source(imgs).keys())
    assert len(held) == 4 and all(np.isfinite(v).all() for v in held.values())  # no lost work
    with pytest.raises(ValueError, match="first: image 4"):
        bk.encode_images(imgs, batch_size=4, progress=False)


def test_a_text_tower_that_returns_nan_names_the_prompt(tiny_configs, monkeypatch):
    bk = load_backbone("test-tiny-vit", "random", device="cpu")
    monkeypatch.setattr(
        bk.model, "encode_text", lambda t, *a, **k: torch.full((len(t), 8), torch.nan)
    )
    # before: NaN text embeddings were returned (every concept score NaN downstream)
    with pytest.raises(ValueError, match=r"NaN or infinite.*first: prompt 'a red bird'"):
        bk.encode_texts(["a red bird", "a blue bird"])


def test_the_cache_stores_and_returns_finite_embeddings_only(tmp_path, imgs):
    bk, cache = FakeBackbone(), EmbeddingCache(tmp_path)
    keys = as_image_source(imgs).keys()
    emb = np.full((2, 3), 0.5, np.float32)
    emb[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"embeddings: row 1 .* NaN or infinity"):
        cache.store(bk.id, keys[:2], emb)
    assert cache.shards(bk.id) == []
    path = _forge_shard(cache, bk.id, keys[:2], emb)
    # before: a shard with a NaN row and a valid checksum was returned as it was
    with pytest.warns(RuntimeWarning, match="NaN or infinite embeddings"):
        X = embed(bk, imgs, cache=cache, progress=False)
    np.testing.assert_allclose(X, embed(bk, imgs, cache=False, progress=False))
    assert not path.exists()
