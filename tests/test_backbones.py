"""Backbones: loading, encoding, identity, and errors on bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

import bottlekit
from bottlekit.backbones import WeightsNotFoundError, load_backbone


@pytest.fixture(scope="module")
def vit_b32():
    return load_backbone("ViT-B-32", device="cpu")


@pytest.fixture(scope="module")
def tiny(tiny_configs):
    return load_backbone("test-tiny-vit", device="cpu")


def _write_pngs(folder, images):
    paths = []
    for i, img in enumerate(images):
        p = folder / f"img{i:02d}.png"
        Image.fromarray(img).save(p)
        paths.append(p)
    return paths


@pytest.mark.parametrize("which", ["vit_b32", "tiny", "tiny_rn"])
def test_embeddings_are_unit_norm_deterministic_and_input_form_invariant(
    which, request, tiny_configs, rng_images, tmp_path
):
    if which == "tiny_rn":
        bk = load_backbone("test-tiny-rn", device="cpu")
    else:
        bk = request.getfixturevalue(which)
    imgs = rng_images[:4] if which == "vit_b32" else rng_images
    X = bk.encode_images(imgs, batch_size=3, progress=False)
    assert X.shape == (len(imgs), bk.embed_dim)
    assert X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    # determinism across two calls
    np.testing.assert_array_equal(X, bk.encode_images(imgs, batch_size=3, progress=False))
    # the same images as PIL images, as files (PNG is lossless), and as a folder
    pil = [Image.fromarray(im) for im in imgs]
    np.testing.assert_array_equal(X, bk.encode_images(pil, batch_size=3, progress=False))
    paths = _write_pngs(tmp_path, imgs)
    from_files = bk.encode_images(paths, batch_size=3, progress=False, num_workers=0)
    np.testing.assert_array_equal(X, from_files)
    from_folder = bk.encode_images(tmp_path, batch_size=3, progress=False, num_workers=1)
    np.testing.assert_array_equal(X, from_folder)
    # distinct random images must not collapse onto one embedding
    assert np.abs(X[0] - X[1]).max() > 1e-4


def test_embed_dim_matches_model_output(vit_b32, tiny):
    assert vit_b32.embed_dim == 512
    assert tiny.embed_dim == 32
    assert vit_b32.encode_texts(["a"]).shape == (1, 512)


def test_torch_dataset_input_matches_array(tiny, rng_images):
    class Pairs(torch.utils.data.Dataset):
        def __len__(self):
            return len(rng_images)

        def __getitem__(self, i):
            return Image.fromarray(rng_images[i]), i % 2

    expected = tiny.encode_images(rng_images, progress=False)
    np.testing.assert_array_equal(expected, tiny.encode_images(Pairs(), progress=False))


def test_class_per_subfolder_layout(tiny, rng_images, tmp_path):
    from bottlekit.images import as_image_source

    for cls, sl in (("b_cls", slice(0, 2)), ("a_cls", slice(2, 5))):
        (tmp_path / cls).mkdir()
        _write_pngs(tmp_path / cls, rng_images[sl])
    src = as_image_source(tmp_path)
    assert src.class_names == ["a_cls", "b_cls"]
    np.testing.assert_array_equal(src.labels, [0, 0, 0, 1, 1])
    X = tiny.encode_images(tmp_path, progress=False, num_workers=0)
    reordered = np.concatenate([rng_images[2:5], rng_images[0:2]])  # a_cls first
    expected = tiny.encode_images(reordered, progress=False)
    np.testing.assert_array_equal(X, expected)


def test_prompt_ensembling_is_mean_of_normalised_template_embeddings(tiny):
    texts = ["red body", "striped wings", "long tail"]
    templates = ["a photo of a {}.", "a bird with {}.", "{}"]
    got = tiny.encode_texts(texts, templates=templates)
    manual = []
    for t in texts:
        rows = []
        for tpl in templates:
            tokens = tiny.tokenizer([tpl.format(t)])
            with torch.no_grad():
                f = tiny.model.encode_text(tokens)[0].double().numpy()
            rows.append(f / np.linalg.norm(f))
        m = np.mean(rows, axis=0)
        manual.append(m / np.linalg.norm(m))
    np.testing.assert_allclose(got, np.array(manual), atol=1e-5)
    assert got.dtype == np.float32
    # ensembling is not the same as a single template (the test would be vacuous otherwise)
    assert np.abs(got - tiny.encode_texts(texts, templates=templates[:1])).max() > 1e-3


def test_random_weights_leave_the_global_torch_generators_alone(tiny_configs, monkeypatch):
    # create_model drew the seeded initialisation after torch.manual_seed, which reseeds
    # every CUDA generator too (fork_rng(devices=[]) puts back the CPU's only); open_clip
    # builds the model on the CPU before moving it, so the CPU generator is all it needs
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    cuda_seeds = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", cuda_seeds.append)
    monkeypatch.setattr(torch.cuda, "manual_seed", cuda_seeds.append)
    a = load_backbone("test-tiny-vit", pretrained="random", device="cpu", random_state=1)
    assert torch.equal(torch.rand(3), expected)
    assert cuda_seeds == []
    # the same weights as before the fix
    assert a.id == "test-tiny-vit/random/52baac850e1d40e6"
    torch.random.default_generator.manual_seed(7)  # the weights do not depend on it
    assert load_backbone("test-tiny-vit", pretrained="random", random_state=1).id == a.id


def test_id_is_stable_and_tracks_weights_and_preprocessing(tiny_configs):
    a = load_backbone("test-tiny-vit")
    b = load_backbone("test-tiny-vit")
    assert a.id == b.id  # random init is seeded: same weights, same id
    assert load_backbone("test-tiny-vit", random_state=1).id != a.id
    assert load_backbone("test-tiny-rn").id != a.id
    with torch.no_grad():
        b.model.logit_scale.add_(1.0)
    b._id = None
    assert b.id != a.id  # a weight change changes the id
    c = load_backbone("test-tiny-vit")
    c.model.visual.preprocess_cfg = {**c.model.visual.preprocess_cfg, "mean": (0.5, 0.5, 0.5)}
    c._id = None
    assert c.id != a.id  # a preprocessing change changes the id


def test_local_checkpoint_round_trip(tiny, rng_images, tmp_path):
    from safetensors.torch import save_file

    ckpt = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in tiny.model.state_dict().items()}, str(ckpt))
    loaded = load_backbone("test-tiny-vit", pretrained=str(ckpt), random_state=123)
    assert loaded.weights == "file:tiny.safetensors"
    np.testing.assert_array_equal(
        tiny.encode_images(rng_images, progress=False),
        loaded.encode_images(rng_images, progress=False),
    )
    # the same checkpoint does not fit another architecture: a clear error, not random weights
    with pytest.raises(ValueError, match="does not match architecture 'test-tiny-rn'"):
        load_backbone("test-tiny-rn", pretrained=str(ckpt))


def test_cached_hub_weights_are_found_offline(tmp_path, monkeypatch, tiny_configs):
    """A tag whose file sits in the hub cache is resolved without the network."""
    from bottlekit._backbone_weights import find_local_weights

    cfg = open_clip.get_pretrained_cfg("ViT-B-32", "laion2b_s34b_b79k")
    repo = cfg["hf_hub"].rstrip("/")
    snap = tmp_path / f"models--{repo.replace('/', '--')}" / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    (tmp_path / f"models--{repo.replace('/', '--')}" / "refs").mkdir()
    (tmp_path / f"models--{repo.replace('/', '--')}" / "refs" / "main").write_text("0" * 40)
    weights = snap / "open_clip_model.safetensors"
    weights.write_bytes(b"not really weights")
    found = find_local_weights("ViT-B-32", "laion2b_s34b_b79k", str(tmp_path))
    assert found is not None and found.endswith("open_clip_model.safetensors")
    # handed to open_clip, the corrupt file is an error, never a random-weight model
    with pytest.raises(Exception) as err:
        load_backbone("ViT-B-32", "laion2b_s34b_b79k", cache_dir=str(tmp_path))
    assert not isinstance(err.value, WeightsNotFoundError)


# ---------------------------------------------------------------- bad input


def test_unknown_backbone_name_suggests_close_matches():
    with pytest.raises(ValueError, match=r"unknown backbone 'ViT-B-33'.*ViT-B-32"):
        load_backbone("ViT-B-33")


def test_missing_pretrained_weights_name_the_file_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError) as err:
        load_backbone("ViT-B-32", "laion2b_s34b_b79k", cache_dir=str(tmp_path))
    msg = str(err.value)
    assert "laion/CLIP-ViT-B-32-laion2B-s34B-b79K/open_clip_model.safetensors" in msg
    assert str(tmp_path) in msg and "pretrained='/path/to/checkpoint'" in msg


def test_unknown_tag_and_missing_checkpoint_file(tmp_path):
    with pytest.raises(ValueError, match="laion2b_s34b_b79k"):
        load_backbone("ViT-B-32", "laion2b_typo")
    with pytest.raises(WeightsNotFoundError, match=r"nope\.safetensors"):
        load_backbone("ViT-B-32", str(tmp_path / "nope.safetensors"))


def test_a_folder_as_pretrained_is_named_a_folder(tmp_path):
    # it was "checkpoint file ... does not exist", of a folder that exists
    with pytest.raises(ValueError, match=r"pretrained: .* is a folder, not a checkpoint file"):
        load_backbone("world-small", str(tmp_path))


@pytest.mark.parametrize("model", ["world-small", "world-tiny"])
def test_an_unknown_tag_lists_the_tags_that_load(model):
    # it said "Tags for 'world-small': none", leaving out the shipped and random weights
    with pytest.raises(ValueError, match=rf"Tags for '{model}': bottlekit, random( \(|$)"):
        load_backbone(model, "openai")


def test_shipped_tag_for_a_model_without_shipped_weights():
    with pytest.raises(ValueError, match="ships no weights for 'ViT-B-32'"):
        load_backbone("ViT-B-32", "bottlekit")


@pytest.mark.parametrize(
    ("images", "error", "match"),
    [
        ([], ValueError, "empty list"),
        (np.zeros((0, 8, 8, 3), np.uint8), ValueError, "empty"),
        (np.zeros((8, 8, 3), np.uint8), ValueError, r"shape \(8, 8, 3\).*\(n, H, W, 3\)"),
        (np.zeros((2, 8, 8, 4), np.uint8), ValueError, r"expected \(n, H, W, 3\)"),
        (np.zeros((2, 8, 8, 3), np.float32), ValueError, "dtype float32; expected uint8"),
        ([np.zeros((8, 8), np.uint8)], ValueError, r"item 0 .*expected uint8 of shape"),
        ([1, 2], TypeError, "item 0 has type int"),
        ("/no/such/folder", ValueError, "/no/such/folder"),
        (3.5, TypeError, "unsupported type float"),
    ],
)
def test_bad_image_inputs(tiny, images, error, match):
    with pytest.raises(error, match=match):
        tiny.encode_images(images, progress=False)


def test_unreadable_file_is_named(tiny, tmp_path, rng_images):
    good = _write_pngs(tmp_path, rng_images[:2])
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not an image")
    with pytest.raises(ValueError, match=r"broken\.png"):
        tiny.encode_images([*good, bad], progress=False, num_workers=0)
    with pytest.raises(Exception, match=r"broken\.png"):  # re-raised from a worker
        tiny.encode_images([*good, bad], progress=False, num_workers=1)
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        tiny.encode_images([*good, tmp_path / "missing.png"], progress=False)


@pytest.mark.parametrize(
    ("texts", "templates", "error", "match"),
    [
        ("a cat", None, TypeError, "wrap a single text in a list"),
        (["a", 3], None, TypeError, "item 1 has type int"),
        ([], None, ValueError, "empty list"),
        (["a"], ["no placeholder"], ValueError, "placeholder"),
        (["a"], [], ValueError, "templates"),
    ],
)
def test_bad_text_inputs(tiny, texts, templates, error, match):
    with pytest.raises(error, match=match):
        tiny.encode_texts(texts, templates=templates)


def test_top_level_api():
    from bottlekit.concepts import ConceptBank
    from bottlekit.estimators import mutual_information
    from bottlekit.world import make_world

    assert bottlekit.load_backbone is load_backbone
    assert bottlekit.make_world is make_world
    assert bottlekit.ConceptBank is ConceptBank
    assert bottlekit.mutual_information is mutual_information
    assert set(bottlekit.__all__) <= set(dir(bottlekit))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        bottlekit.nope  # noqa: B018
    assert isinstance(bottlekit.__version__, str)


def test_hf_hub_id_offline_names_the_cache_and_the_fix(tmp_path):
    with pytest.raises(WeightsNotFoundError) as err:
        load_backbone("hf-hub:someone/some-clip", cache_dir=str(tmp_path))
    msg = str(err.value)
    assert "open_clip_config.json" in msg and str(tmp_path) in msg
    assert "`hf download someone/some-clip`" in msg  # the installed hub client's command


def test_local_dir_with_config_and_weights_loads_those_weights(tiny, rng_images, tmp_path):
    """The layout of a cached hub snapshot: open_clip_config.json + weights in one folder."""
    import json

    from safetensors.torch import save_file

    cfg = open_clip.get_model_config("test-tiny-vit")
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg}))
    state = {k: v.contiguous() for k, v in tiny.model.state_dict().items()}
    save_file(state, str(tmp_path / "open_clip_model.safetensors"))
    bk = load_backbone(f"local-dir:{tmp_path}")
    assert bk.weights == "local-dir"
    np.testing.assert_array_equal(
        bk.encode_images(rng_images, progress=False),
        tiny.encode_images(rng_images, progress=False),
    )


def test_batched_array_preprocessing_equals_the_per_image_transform(tiny):
    """Arrays already at the crop size skip PIL: the batched ToTensor + Normalize must give
    exactly the floats of the per-image open_clip transform, and other sizes fall back."""
    from bottlekit._preprocessing import identity_size_normalisation, normalised_array_batches
    from bottlekit.images import as_image_source

    rng = np.random.default_rng(3)
    at_size = rng.integers(0, 256, size=(5, 32, 32, 3), dtype=np.uint8)
    norm = identity_size_normalisation(tiny.preprocess, as_image_source(at_size))
    assert norm is not None
    batched = next(normalised_array_batches(at_size, 5, *norm))
    per_image = torch.stack([tiny.preprocess(Image.fromarray(x)) for x in at_size])
    assert torch.equal(batched, per_image)
    np.testing.assert_array_equal(
        tiny.encode_images(at_size, progress=False),
        tiny.encode_images([Image.fromarray(x) for x in at_size], progress=False),
    )
    other_size = rng.integers(0, 256, size=(2, 48, 40, 3), dtype=np.uint8)
    assert identity_size_normalisation(tiny.preprocess, as_image_source(other_size)) is None


def test_seed_is_a_deprecated_alias_of_random_state(tiny_configs):
    new = load_backbone("test-tiny-vit", random_state=3)
    with pytest.warns(FutureWarning, match=r"load_backbone: `seed` is deprecated.*`random_state`"):
        old = load_backbone("test-tiny-vit", seed=3)
    assert old.id == new.id != load_backbone("test-tiny-vit").id
    with (
        pytest.warns(FutureWarning),
        pytest.raises(TypeError, match="random_state=2 and its deprecated alias seed=3"),
    ):
        load_backbone("test-tiny-vit", random_state=2, seed=3)


class _RunsCodeWhenUnpickled:
    """A pickle payload: unpickling it would create the marker file (i.e. run code)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_torch_checkpoints_load_weights_only(tiny, rng_images, tmp_path):
    import torch

    # a plain state_dict in torch's format loads (and gives the same model)
    ckpt = tmp_path / "tiny.pt"
    torch.save(tiny.model.state_dict(), ckpt)
    loaded = load_backbone("test-tiny-vit", pretrained=str(ckpt))
    np.testing.assert_array_equal(
        tiny.encode_images(rng_images, progress=False),
        loaded.encode_images(rng_images, progress=False),
    )
    # a pickle that would run code is refused with a message naming the file and the fix;
    # the code never runs (before: torch's raw UnpicklingError; open_clip falls back to a
    # full unpickle when its weights-only read raises TypeError)
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": tiny.model.state_dict(), "x": _RunsCodeWhenUnpickled(marker)}, evil)
    with pytest.raises(ValueError, match=r"evil\.pt.*not a weights-only checkpoint.*safetensors"):
        load_backbone("test-tiny-vit", pretrained=str(evil))
    assert not marker.exists()
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match=r"garbage\.bin.*not a readable torch checkpoint"):
        load_backbone("test-tiny-vit", pretrained=str(garbage))


def test_no_user_path_reaches_an_unsafe_torch_load(tiny, tmp_path, monkeypatch):
    # every torch.load that runs while a checkpoint is loaded is weights-only
    import torch

    calls = []
    real = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    ckpt = tmp_path / "tiny.pt"
    torch.save(tiny.model.state_dict(), ckpt)
    load_backbone("test-tiny-vit", pretrained=str(ckpt))
    assert calls and all(w is True for w in calls)


def test_no_network_fails_at_once_with_the_cause(tmp_path, monkeypatch):
    # before: 47 s and 44 lines of hub retry warnings before the (good) error
    import open_clip

    from bottlekit import _backbone_weights as backbones

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("BOTTLEKIT_OFFLINE", raising=False)
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    backbones._unreachable.cache_clear()
    probes = []

    def no_route(address, timeout=None):
        probes.append((address, timeout))
        raise OSError(101, "Network is unreachable")

    def must_not_download(*args, **kwargs):
        raise AssertionError("a download was attempted although the hub is unreachable")

    monkeypatch.setattr(backbones.socket, "create_connection", no_route)
    monkeypatch.setattr(open_clip, "download_pretrained", must_not_download)
    with pytest.raises(WeightsNotFoundError) as info:
        load_backbone("ViT-B-32", "laion2b_s34b_b79k", cache_dir=str(tmp_path))
    backbones._unreachable.cache_clear()
    msg = str(info.value)
    assert "no network: cannot reach huggingface.co:443 (Network is unreachable)" in msg
    assert "`hf download laion/CLIP-ViT-B-32-laion2B-s34B-b79K`" in msg
    assert "HF_HUB_OFFLINE=1" in msg
    assert probes == [(("huggingface.co", 443), 3.0)]  # one short probe, no retries


def _last_block_tokens(bk, images):
    """The last block's output tokens (n, 1 + L, width) and the embedding, by a hook."""
    visual, seen = bk.model.visual, {}
    handle = visual.transformer.register_forward_hook(lambda m, a, out: seen.update(x=out))
    try:
        x = torch.stack([bk.preprocess(Image.fromarray(im)) for im in images])
        with torch.no_grad():
            f = bk.model.encode_image(x)
    finally:
        handle.remove()
    return seen["x"], f


def test_image_tokens_are_the_last_blocks_tokens_through_ln_post_and_proj(tiny, rng_images):
    # MaskCLIP's read-out: each patch token through the two steps that take the class
    # token to the embedding; the class token through them *is* the embedding.
    T = tiny.encode_image_tokens(rng_images, progress=False)
    assert T.shape == (6, 4, 4, 32) and T.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(T, axis=-1), 1.0, rtol=1e-5)
    tokens, f = _last_block_tokens(tiny, rng_images)
    visual = tiny.model.visual
    with torch.no_grad():
        cls = visual.ln_post(tokens[:, 0]) @ visual.proj
        patches = visual.ln_post(tokens[:, 1:]) @ visual.proj
        patches = torch.nn.functional.normalize(patches, dim=-1)
    torch.testing.assert_close(cls, f)
    np.testing.assert_allclose(T.reshape(6, 16, 32), patches.numpy(), atol=1e-6)


def test_image_tokens_lie_on_the_patch_grid_row_major(tiny_configs):
    # Changing the pixels of one patch changes that patch's own token most (the residual
    # stream carries it; attention spreads only a share to the others): patch (r, c)
    # covers rows r*8:(r+1)*8 and columns c*8:(c+1)*8 of a 32 x 32 image.
    bk = load_backbone("test-tiny-vit", device="cpu", random_state=5)
    base = np.full((1, 32, 32, 3), 128, np.uint8)
    T0 = bk.encode_image_tokens(base, progress=False)[0]
    for r, c in ((0, 3), (2, 1), (3, 0)):
        img = base.copy()
        img[0, r * 8 : (r + 1) * 8, c * 8 : (c + 1) * 8] = 255
        change = np.linalg.norm(bk.encode_image_tokens(img, progress=False)[0] - T0, axis=-1)
        assert np.unravel_index(change.argmax(), change.shape) == (r, c)


def test_image_tokens_of_a_mean_pooled_tower(tmp_path, tiny_configs, rng_images):
    # pool_type "avg": the embedding is the mean of the projected patch tokens (LayerNorm
    # before the pool), or LayerNorm after the pool (final_ln_after_pool), where the
    # tower leaves its patch tokens unnormalised and the read-out normalises them itself
    import json

    from bottlekit._vit_tokens import vit_patch_tokens
    from bottlekit.backbones import register_model_config

    cfg = json.loads((Path(__file__).parent / "configs" / "test-tiny-vit.json").read_text())
    for name, after in (("test-tiny-vit-avg", False), ("test-tiny-vit-avg-ln", True)):
        cfg["vision_cfg"].update(pool_type="avg", final_ln_after_pool=after)
        (tmp_path / f"{name}.json").write_text(json.dumps(cfg))
        register_model_config(tmp_path / f"{name}.json")
        bk = load_backbone(name, device="cpu", random_state=1)
        tokens, f = _last_block_tokens(bk, rng_images)
        visual = bk.model.visual
        x = torch.stack([bk.preprocess(Image.fromarray(im)) for im in rng_images])
        with torch.no_grad():
            T = vit_patch_tokens(visual, x)
            expected = visual.ln_post(tokens[:, 1:]) @ visual.proj
        torch.testing.assert_close(T.reshape(6, 16, -1), expected)
        if not after:
            torch.testing.assert_close(T.mean((1, 2)), f)


def test_image_tokens_need_a_vit_tower(tiny_configs, rng_images):
    rn = load_backbone("test-tiny-rn", device="cpu")
    with pytest.raises(ValueError, match=r"backbone 'test-tiny-rn' has a ModifiedResNet image"):
        rn.encode_image_tokens(rng_images, progress=False)


class _TensorItems(torch.utils.data.Dataset):
    def __init__(self, tensors):
        self.tensors = tensors

    def __len__(self):
        return len(self.tensors)

    def __getitem__(self, i):
        return self.tensors[i], 0


@pytest.mark.parametrize(
    "item, match",
    [
        (torch.zeros(3, 64, 64), r"item 0 is a tensor of shape \(3, 64, 64\).*\(32, 32\)"),
        (torch.zeros(32, 32, 3), r"item 0 is a tensor of shape \(32, 32, 3\)"),
        (torch.zeros(3, 32, 32, dtype=torch.uint8), r"item 0 is a torch.uint8 tensor"),
    ],
)
@pytest.mark.parametrize("encode", ["encode_images", "encode_image_tokens"])
def test_a_datasets_preprocessed_tensors_are_checked_by_name(tiny, item, match, encode):
    # Before: the tensors went to the tower as they were and torch failed deep inside it
    # ("The size of tensor a (65) must match the size of tensor b (17)", "expected scalar
    # type Byte but found Float", "expected input ... to have 3 channels").
    with pytest.raises(ValueError, match=match):
        getattr(tiny, encode)(_TensorItems([item]), progress=False, num_workers=0)


def test_a_datasets_float64_tensors_encode_as_float32(tiny):
    # Before: RuntimeError "expected scalar type Double but found Float" from the conv.
    x = torch.rand(2, 3, 32, 32)
    expected = tiny.encode_image_tokens(_TensorItems(x), progress=False, num_workers=0)
    got = tiny.encode_image_tokens(_TensorItems(x.double()), progress=False, num_workers=0)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_a_preprocessed_tensor_batch_is_refused_with_the_way_in(tiny):
    # Before: "unsupported type Tensor" and the list of accepted types, nothing on how a
    # batch already preprocessed goes in; the way it names gives encode_images' tokens.
    x = torch.rand(2, 3, 32, 32)
    with pytest.raises(ValueError, match=r"Tensor; .* torch.utils.data.TensorDataset\(images\)"):
        tiny.encode_image_tokens(x, progress=False)
    tokens = tiny.encode_image_tokens(torch.utils.data.TensorDataset(x), progress=False)
    expected = tiny.encode_image_tokens(_TensorItems(x), progress=False)
    np.testing.assert_array_equal(tokens, expected)


@pytest.mark.parametrize("encode", ["encode_images", "encode_image_tokens"])
def test_a_batch_size_beyond_the_images_is_one_batch(tiny, rng_images, encode):
    # Before: a batch_size above sys.maxsize reached torch's sampler, which failed with
    # "Stop argument for islice() must be None or an integer: 0 <= x <= sys.maxsize";
    # any batch_size of at least n is one batch of the n images.
    expected = getattr(tiny, encode)(rng_images, batch_size=6, progress=False)
    got = getattr(tiny, encode)(rng_images, batch_size=10**30, progress=False)
    np.testing.assert_array_equal(got, expected)


def test_image_tokens_of_an_attentional_pooler_say_so(tmp_path, tiny_configs, rng_images):
    # Before: CoCa's tower (class token, attentional pooler) was refused as "a
    # VisionTransformer image tower (pool_type='tok'); expected ... pool_type 'tok'":
    # the pool type it named was one the message asked for, the pooler went unnamed.
    import json

    from bottlekit.backbones import register_model_config

    cfg = json.loads((Path(__file__).parent / "configs" / "test-tiny-vit.json").read_text())
    cfg["vision_cfg"].update(attentional_pool=True, attn_pooler_queries=4, attn_pooler_heads=2)
    (tmp_path / "test-tiny-vit-attn.json").write_text(json.dumps(cfg))
    register_model_config(tmp_path / "test-tiny-vit-attn.json")
    bk = load_backbone("test-tiny-vit-attn", device="cpu")
    with pytest.raises(
        ValueError,
        match=r"backbone 'test-tiny-vit-attn' has a VisionTransformer image tower with an "
        r"attentional pooler \(CoCa's\); expected a ViT that pools",
    ):
        bk.encode_image_tokens(rng_images, progress=False)


def test_a_config_whose_towers_output_tokens_embeds_the_pooled_token(
    tmp_path, tiny_configs, rng_images
):
    # "output_tokens": true in a config made the towers return (pooled, tokens), and
    # encode_images failed with "'tuple' object has no attribute 'float'"; the weights do
    # not depend on the flag, so the embeddings are those of the same config without it
    import json

    from bottlekit.backbones import register_model_config

    cfg = json.loads((Path(__file__).parent / "configs" / "test-tiny-vit.json").read_text())
    cfg["vision_cfg"]["output_tokens"] = True
    path = tmp_path / "tiny-output-tokens.json"
    path.write_text(json.dumps(cfg))
    register_model_config(path)
    with_tokens = load_backbone("tiny-output-tokens", device="cpu", random_state=3)
    plain = load_backbone("test-tiny-vit", device="cpu", random_state=3)
    images = rng_images[:3, :32, :32]
    np.testing.assert_array_equal(
        with_tokens.encode_images(images, progress=False),
        plain.encode_images(images, progress=False),
    )
    assert with_tokens.encode_image_tokens(images, progress=False).shape == (3, 4, 4, 32)


class _ManyImages(torch.utils.data.Dataset):
    """A dataset of ``n`` black 32 x 32 images that holds none of them."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.zeros((32, 32, 3), np.uint8), 0


@pytest.mark.parametrize(
    "encode, message",
    [
        (
            "encode_images",
            r"encode_images: images holds 1000000000000 images, whose embeddings "
            r"\(1000000000000 x 32 float32\) need 116\.4 TiB, more than this machine's "
            r".* of memory; expected at most \d+ images a call \(iterate with "
            r"iter_encode_images",
        ),
        (
            "encode_image_tokens",
            r"encode_image_tokens: images holds 1000000000000 images, whose patch tokens "
            r"\(1000000000000 x 4 x 4 x 32 float32\) need 1\.8 PiB, more than this "
            r"machine's .* of memory; expected at most \d+ images a call \(pass the images "
            r"in chunks",
        ),
    ],
    ids=["encode_images", "encode_image_tokens"],
)
def test_an_output_larger_than_memory_is_refused_before_encoding(tiny, encode, message):
    # Before: numpy's MemoryError "Unable to allocate 1.78 PiB for an array with shape
    # (1000000000000, 4, 4, 32) and data type float32", which named neither the argument
    # nor what to do (and a request below the swap-backed limit was granted lazily).
    images = np.broadcast_to(np.zeros((1, 32, 32, 3), np.uint8), (10**12, 32, 32, 3))
    with pytest.raises(ValueError, match=message):
        getattr(tiny, encode)(images, progress=False)


@pytest.mark.parametrize(
    ("encode", "per_image"), [("encode_images", 128), ("encode_image_tokens", 2048)]
)
def test_the_output_bound_is_the_physical_memory(tiny, rng_images, monkeypatch, encode, per_image):
    # 5 images' output fit in a machine of 5 images' bytes, 6 do not
    expected = getattr(tiny, encode)(rng_images, progress=False)[:5]
    monkeypatch.setattr("bottlekit._arrays.physical_memory", lambda: 5 * per_image)
    np.testing.assert_array_equal(getattr(tiny, encode)(rng_images[:5], progress=False), expected)
    with pytest.raises(ValueError, match=r"images holds 6 images, .* expected at most 5 images"):
        getattr(tiny, encode)(rng_images, progress=False)


@pytest.mark.parametrize("encode", ["encode_images", "encode_image_tokens"])
def test_an_output_the_allocator_refuses_is_named(tiny, monkeypatch, encode):
    # Where the machine does not say its memory, numpy's own refusal ("array is too big;
    # `arr.size * arr.dtype.itemsize` is larger than the maximum possible size") is named
    monkeypatch.setattr("bottlekit._arrays.physical_memory", lambda: None)
    with pytest.raises(MemoryError, match=rf"{encode}: images holds {2**62} images, .* could not"):
        getattr(tiny, encode)(_ManyImages(2**62), progress=False)
