"""The embedding loop over image files: decoding workers next to the model change no
embedding (bit for bit), and the opt-in reduced-scale JPEG decoding follows its documented
rule and is cached apart from full decodes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import bottlekit
from bottlekit.backbones import _model_threads, jpeg_draft_size


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory):
    """224 x 224 JPEGs of smooth colour fields with noise (as the throughput benchmark)."""
    folder = tmp_path_factory.mktemp("jpegs")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(12):
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((224, 224), Image.BICUBIC)
        arr = np.asarray(img) // 2 + rng.integers(0, 24, (224, 224, 3), dtype=np.uint8)
        paths.append(folder / f"img_{i:02d}.jpg")
        Image.fromarray(arr).save(paths[-1], quality=90)
    return paths


@pytest.fixture(scope="module")
def world_tiny():
    return bottlekit.load_backbone("world-tiny", device="cpu")


def _reference(bk, images):
    """The model on the preprocessed images, one batch, torch's own thread setting."""
    x = torch.stack([bk.preprocess(im) for im in images])
    with torch.inference_mode():
        return torch.nn.functional.normalize(bk.model.encode_image(x).float(), dim=-1).numpy()


@pytest.mark.parametrize("model_threads", [None, "auto", 1])
def test_workers_and_the_model_thread_cap_change_no_embedding(jpegs, world_tiny, model_threads):
    full = [Image.open(p).convert("RGB") for p in jpegs]
    reference = _reference(world_tiny, full)
    for workers in (0, 2):
        X = world_tiny.encode_images(
            jpegs, batch_size=12, progress=False, num_workers=workers, model_threads=model_threads
        )
        np.testing.assert_array_equal(X, reference)  # bit for bit (a ViT tower)


def test_model_threads_is_checked(jpegs, world_tiny):
    with pytest.raises(ValueError, match="model_threads: expected None, 'auto' or an int from 1"):
        world_tiny.encode_images(jpegs[:1], progress=False, model_threads=0)


def test_the_model_gets_the_cores_the_workers_leave():
    cpu = torch.device("cpu")
    assert _model_threads(cpu, 0) is None and _model_threads(torch.device("cuda"), 4) is None
    assert _model_threads(cpu, 1_000) == 1
    assert 1 <= _model_threads(cpu, 1) <= torch.get_num_threads()


def test_jpeg_draft_is_the_documented_decode_and_opt_in(jpegs, world_tiny, tmp_path):
    assert jpeg_draft_size(world_tiny.preprocess) == (64, 64)
    drafted = []
    for p in jpegs:
        with Image.open(p) as im:
            im.draft("RGB", (64, 64))  # DCT scale 1/2: 112 x 112, both sides >= 64
            assert im.size == (112, 112)
            drafted.append(im.convert("RGB"))
    X_draft = world_tiny.encode_images(jpegs, progress=False, num_workers=0, jpeg_draft=True)
    np.testing.assert_array_equal(X_draft, _reference(world_tiny, drafted))
    X_full = world_tiny.encode_images(jpegs, progress=False, num_workers=0)
    assert not np.array_equal(X_draft, X_full)  # other pixels: opt-in only
    assert (X_draft * X_full).sum(1).min() > 0.9  # the same images, nearly

    cache = tmp_path / "cache"
    kw = {"cache_dir": cache, "progress": False, "num_workers": 0}
    np.testing.assert_array_equal(
        bottlekit.embed(world_tiny, jpegs, jpeg_draft=True, **kw), X_draft
    )
    np.testing.assert_array_equal(bottlekit.embed(world_tiny, jpegs, **kw), X_full)  # not mixed
    np.testing.assert_array_equal(
        bottlekit.embed(world_tiny, jpegs, jpeg_draft=True, **kw), X_draft
    )
