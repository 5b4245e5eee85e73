"""One image intake: every entry point that takes images reads them with
``bottlekit.images.as_image_source``, so the same bad input raises the same error (type
and message) everywhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from bottlekit.images import ImageInputError, as_image_source

BAD_IMAGES = {
    "2-D array": np.zeros((8, 8), np.uint8),
    "single image": np.zeros((8, 8, 3), np.uint8),
    "float array": np.zeros((2, 8, 8, 3), np.float32),
    "missing path": "/no/such/image.png",
    "mixed list": [np.zeros((8, 8, 3), np.uint8), "a.png"],
    "empty list": [],
    "number": 3.5,
}


@pytest.fixture(scope="module")
def world_tiny():
    import bottlekit

    torch.set_num_threads(1)
    return bottlekit.load_backbone("world-tiny", device="cpu")


def _entry_points(bk):
    from bottlekit import embed
    from bottlekit.concepts import ConceptBank, from_examples
    from bottlekit.datasets import ConceptDataset
    from bottlekit.diagnostics import audit
    from bottlekit.diagnostics.model_features import model_features
    from bottlekit.visualize.activation_maps import concept_activation_map
    from bottlekit.world.train import images_to_tensor

    bank = ConceptBank(["a"], np.ones((1, bk.embed_dim)), bk.id)
    classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(2))
    return {
        "encode_images": lambda x: bk.encode_images(x, progress=False),
        "embed": lambda x: embed(bk, x, progress=False),
        "concept_activation_map": lambda x: concept_activation_map(bk, x, bank, [0]),
        "audit": lambda x: audit(classifier, {"images": x, "labels": [0, 1, 0, 1]}),
        "model_features": lambda x: model_features(classifier, x),
        "from_examples": lambda x: from_examples(bk, x, np.ones((4, 1)), ["a"]),
        "world training": lambda x: images_to_tensor(x),
        "ConceptDataset": lambda x: ConceptDataset(x, labels=[0]),
    }


@pytest.mark.parametrize("bad", list(BAD_IMAGES))
def test_every_entry_point_gives_the_same_error(world_tiny, bad):
    images = BAD_IMAGES[bad]
    with pytest.raises(ImageInputError) as expected:
        as_image_source(images)
    message = str(expected.value)
    assert message.startswith("images: ")
    for name, call in _entry_points(world_tiny).items():
        with pytest.raises(ImageInputError) as got:
            call(images)
        assert str(got.value) == message, name


def test_the_error_is_a_value_and_a_type_error():
    # both types the checks raised before, so existing except clauses keep working
    assert issubclass(ImageInputError, ValueError) and issubclass(ImageInputError, TypeError)


def test_good_images_give_the_same_model_input_everywhere(world_tiny):
    """The activation maps, world training and encode_images prepare images alike."""
    from bottlekit.backbones import preprocess_images
    from bottlekit.world.train import MEAN, STD, images_to_tensor

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    x = preprocess_images(world_tiny.preprocess, images)
    # world training: bitwise the formula it used before (x / 255 - mean) / std
    old = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)
    old = (old - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    assert torch.equal(images_to_tensor(images), old)
    assert torch.equal(x, old)
    # the same batch from PIL images, through the per-image path
    from PIL import Image

    pils = [Image.fromarray(im) for im in images]
    torch.testing.assert_close(preprocess_images(world_tiny.preprocess, pils), x)
    with torch.inference_mode():
        direct = torch.nn.functional.normalize(world_tiny.model.encode_image(x), dim=-1)
    np.testing.assert_allclose(
        world_tiny.encode_images(pils, progress=False), direct.numpy(), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("kind", ["array", "pil"])
def test_indices_out_of_range_or_not_positions_are_named(kind):
    images = np.arange(3 * 4 * 4 * 3, dtype=np.uint8).reshape(3, 4, 4, 3)
    source = as_image_source(images if kind == "array" else [Image.fromarray(a) for a in images])
    # before: a bare IndexError from numpy or a list, naming nothing
    with pytest.raises(
        ValueError, match=r"indices: expected positions in -3\.\.2 of the 3 images, got 5$"
    ):
        source.to_array([0, 5])
    with pytest.raises(ValueError, match=r"indices: expected positions .*got -4$"):
        source.subset([-4])
    # before: an unsigned 2**64 - 1 was cast to -1 and selected the last image, silently
    with pytest.raises(
        ValueError, match=r"indices: expected positions .*got 18446744073709551615$"
    ):
        source.subset(np.array([2**64 - 1], np.uint64))
    # before: 0.5 was truncated to image 0 for file and PIL sources (then a ValueError;
    # a float is the wrong type, a TypeError, as everywhere in the package)
    with pytest.raises(TypeError, match=r"indices: expected a 1-D array of int or a boolean"):
        source.to_array([0.5])
    # a mask of the wrong length is the right type with a wrong value
    with pytest.raises(ValueError, match=r"boolean mask of shape \(3,\), got bool values of sh"):
        source.subset([True, False])
    # a boolean mask of the images' length selects, for every kind of source
    np.testing.assert_array_equal(source.to_array([True, False, True]), images[[0, 2]])
    np.testing.assert_array_equal(source.to_array(np.int8([-1])), images[[2]])
