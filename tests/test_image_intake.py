"""One image intake: every entry point that takes images reads them with
``bottlekit.images.as_image_source``, so the same bad input raises the same error (type
and message) everywhere."""

from __future__ import annotations

import re

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


def _int64_wide_gray(im):
    """The 16-bit grey conversion as it was (int64 arithmetic): the reference values."""
    a = np.asarray(im).astype(np.int64)
    if im.mode.startswith("I;16") or a.max(initial=0) > 255:
        a = (np.clip(a, 0, 65535) * 255 + 32767) // 65535
    gray = np.clip(a, 0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)


def _wide_images():
    rng = np.random.default_rng(0)
    u16 = rng.integers(0, 65536, (13, 11), dtype=np.uint16)
    u16[0, :4] = [0, 128, 32767, 65535]  # the ends and the rounding midpoints
    out = {
        "I;16": Image.fromarray(u16),
        "I;16B": Image.frombytes("I;16B", (11, 13), u16.astype(">u2").tobytes()),
        "I;16L": Image.frombytes("I;16L", (11, 13), u16.astype("<u2").tobytes()),
        "I, up to 65535": Image.fromarray(u16.astype(np.int32)),
        # values beyond 0..65535 are clipped, then scaled
        "I, beyond 16 bits": Image.fromarray(
            rng.integers(-70000, 140000, (13, 11)).astype(np.int32)
        ),
        # all in 0..255: kept as they are (negatives clipped to 0)
        "I, 8-bit values": Image.fromarray(rng.integers(-20, 256, (13, 11)).astype(np.int32)),
    }
    assert out["I;16B"].mode == "I;16B" and out["I, up to 65535"].mode == "I"
    return out


@pytest.mark.parametrize("block", [10**6, 11, 30])  # one block, a row each, rows + a rest
@pytest.mark.parametrize("mode", list(_wide_images()))
def test_wide_gray_gives_the_values_of_the_int64_conversion(monkeypatch, mode, block):
    from bottlekit import images as images_module

    # raising=False: the block size did not exist before, the values must not change
    monkeypatch.setattr(images_module, "_WIDE_GRAY_BLOCK", block, raising=False)
    im = _wide_images()[mode]
    out = images_module._wide_gray_to_rgb(im)
    assert out.mode == "RGB" and out.size == im.size
    np.testing.assert_array_equal(np.asarray(out), _int64_wide_gray(im))


def test_wide_gray_needs_no_int64_temporaries():
    # before: the whole image in int64 and several int64 temporaries, 25-33 bytes a pixel
    # (3.1 GB RSS for a 12000 x 12000 PNG of a few hundred KB, 1.2 GB in 8 bits); now
    # row blocks in uint32 pasted into the result, whatever the image's size
    import tracemalloc

    from bottlekit.images import _wide_gray_to_rgb

    im = Image.fromarray(np.full((2000, 4000), 40000, np.uint16))  # 8 M pixels
    tracemalloc.start()
    try:
        out = _wide_gray_to_rgb(im)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.asarray(out)[0, 0].tolist() == [156, 156, 156]  # (40000 * 255 + 32767) // 65535
    # a few MB for the blocks (about 3 MB), not 8 bytes a pixel or more (200 MB before)
    assert peak < 8_000_000, f"{peak / 8e6:.1f} bytes a pixel"


@pytest.mark.parametrize("mode", list(_wide_images()))
def test_a_wide_image_gives_the_same_pixels_from_a_file_and_in_memory(tmp_path, mode):
    # before: a file was scaled (50000 -> 195), an in-memory I;16 image was clipped
    # (255) by PIL's convert("RGB"): the same image, other pixels depending on how it came
    from torch.utils.data import Dataset

    im = _wide_images()[mode]
    path = tmp_path / "g.tif"
    try:
        im.save(path)
    except OSError as e:  # an older Pillow (the lowest allowed) cannot write I;16L as TIFF
        pytest.skip(f"this Pillow cannot write the mode: {e}")
    with Image.open(path) as back:
        assert back.mode == im.mode or mode.startswith("I;16")  # TIFF keeps the mode
    from_file = np.asarray(as_image_source(path).load(0))

    class One(Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, i):
            return im, 0

    np.testing.assert_array_equal(from_file, _int64_wide_gray(im))
    np.testing.assert_array_equal(np.asarray(as_image_source([im]).load(0)), from_file)
    np.testing.assert_array_equal(np.asarray(as_image_source(One()).load(0)), from_file)
    assert as_image_source([im]).pil_images()[0].mode == "RGB"


def _float_image(values):
    return Image.fromarray(np.asarray(values, np.float32).reshape(2, 2), "F")


FLOAT = r"is a float image \(PIL mode 'F'\)"
FLOAT_REFUSED = {
    "in [0, 1]": (
        [0.0, 0.2, 0.8, 1.0],
        r"with values in \[0, 1\]; expected values in "
        r"\[0, 255\] \(8-bit levels: as it is, the image would be black; convert with "
        r"Image\.fromarray\(\(np\.asarray\(im\) \* 255\)\.round\(\)\.astype\(np\.uint8\)\) "
        r"if it is in \[0, 1\]\)$",
    ),
    "above 255": (
        [0.0, 10.0, 300.5, 4.0],
        r"with values in \[0, 300\.5\]; expected values in \[0, 255\] \(8-bit levels; PIL "
        r"would clip the rest\): scale it to \[0, 255\] first$",
    ),
    "negative": ([-1.0, 10.0, 30.0, 4.0], r"with values in \[-1, 30\]; expected values in"),
    "NaN": (
        [np.nan, 10.0, 30.0, 4.0],
        r"with values that are not finite \(NaN or infinite\); expected finite values in "
        r"\[0, 255\]$",
    ),
    "infinite": ([np.inf, 10.0, 30.0, 4.0], r"with values that are not finite"),
}


@pytest.mark.parametrize("case", list(FLOAT_REFUSED))
def test_a_float_image_outside_8_bit_levels_is_refused_naming_it(tmp_path, case):
    # before: PIL's convert("RGB") clipped, so an image in [0, 1] (a constant 0.8) came out
    # all black, silently, from a file and from memory; the rule of float arrays (refused,
    # with the conversion from [0, 1] as a hint) now holds for float images
    values, pattern = FLOAT_REFUSED[case]
    im = _float_image(values)
    path = tmp_path / "f.tif"
    im.save(path)
    with pytest.raises(ImageInputError, match=rf"^images: item 1 {FLOAT} {pattern}"):
        as_image_source([Image.new("RGB", (2, 2)), im]).load(1)
    with pytest.raises(
        ImageInputError, match=rf"^images: file {re.escape(repr(str(path)))} {FLOAT} {pattern}"
    ):
        as_image_source([path]).load(0)


def test_a_float_image_of_8_bit_levels_is_read():
    for values, level in [([200.0] * 4, 200), ([0.0] * 4, 0), ([0.0, 2.0, 255.0, 7.0], 0)]:
        got = np.asarray(as_image_source([_float_image(values)]).load(0))
        assert got.shape == (2, 2, 3) and got[0, 0].tolist() == [level] * 3


class _MetaTensors(torch.utils.data.Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return torch.zeros(3, 64, 64, device="meta")


META_MESSAGE = (
    "images: dataset item 0 is a tensor of shape (3, 64, 64) on device 'meta', which holds "
    "no values; expected a tensor with values (on the CPU or a GPU)"
)


def test_a_dataset_of_meta_tensors_is_refused_at_intake(world_tiny, tmp_path):
    # before: torch's NotImplementedError "Cannot copy out of meta tensor" from deep inside
    # encode_images (moving the batch to the device) and embed (hashing the item for the cache)
    from bottlekit import embed

    calls = {
        "load": lambda: as_image_source(_MetaTensors()).load(0),
        "key": lambda: as_image_source(_MetaTensors()).key(0),
        "encode_images": lambda: world_tiny.encode_images(_MetaTensors(), progress=False),
        "embed": lambda: embed(world_tiny, _MetaTensors(), cache_dir=tmp_path, progress=False),
    }
    for name, call in calls.items():
        with pytest.raises(ImageInputError) as info:
            call()
        assert str(info.value) == META_MESSAGE, name


SHAPE_HINTS = {  # shape: (the hint, what it says to pass)
    (8, 8, 3): (" (use images[None] for a single image)", "images[None]"),
    (3, 8, 8): (
        " (channel-first? transpose it to (H, W, 3): images.transpose(1, 2, 0)[None], "
        "or np.moveaxis)",
        "images.transpose(1, 2, 0)[None]",
    ),
    (2, 3, 8, 8): (
        " (channel-first? transpose it to (H, W, 3): images.transpose(0, 2, 3, 1), "
        "or np.moveaxis)",
        "images.transpose(0, 2, 3, 1)",
    ),
    (4, 8, 8): (
        " (channel-first? transpose it to (H, W, 3) and drop the alpha channel: "
        "images[:3].transpose(1, 2, 0)[None], or np.moveaxis)",
        "images[:3].transpose(1, 2, 0)[None]",
    ),
    (2, 4, 8, 8): (
        " (channel-first? transpose it to (H, W, 3) and drop the alpha channel: "
        "images[:, :3].transpose(0, 2, 3, 1), or np.moveaxis)",
        "images[:, :3].transpose(0, 2, 3, 1)",
    ),
    (8, 8, 4): (" (an alpha channel? drop it: images[..., :3][None])", "images[..., :3][None]"),
    (2, 8, 8, 4): (" (an alpha channel? drop it: images[..., :3])", "images[..., :3]"),
    (2, 8, 8, 5): ("", None),
    (8, 8): ("", None),
}


@pytest.mark.parametrize("shape", list(SHAPE_HINTS))
def test_the_hint_for_a_wrong_array_shape_fixes_it(shape):
    # before: (3, H, W) and (H, W, 4) were told "use images[None] for a single image",
    # which still failed ((1, 3, H, W), (1, H, W, 4))
    hint, fix = SHAPE_HINTS[shape]
    with pytest.raises(ImageInputError) as info:
        as_image_source(np.zeros(shape, np.uint8))
    assert str(info.value) == f"images: array has shape {shape}; expected (n, H, W, 3){hint}"
    if fix is not None:  # the hint, applied, gives images that are taken
        images = np.zeros(shape, np.uint8)
        fixed = {
            "images[None]": lambda: images[None],
            "images.transpose(1, 2, 0)[None]": lambda: images.transpose(1, 2, 0)[None],
            "images.transpose(0, 2, 3, 1)": lambda: images.transpose(0, 2, 3, 1),
            "images[:3].transpose(1, 2, 0)[None]": lambda: images[:3].transpose(1, 2, 0)[None],
            "images[:, :3].transpose(0, 2, 3, 1)": lambda: images[:, :3].transpose(0, 2, 3, 1),
            "images[..., :3][None]": lambda: images[..., :3][None],
            "images[..., :3]": lambda: images[..., :3],
        }[fix]()
        assert as_image_source(fixed).to_array().shape[1:] == (8, 8, 3)


@pytest.mark.parametrize(
    ("shape", "hint"),
    [
        ((3, 8, 8), " (channel-first? transpose it to (H, W, 3): image.transpose(1, 2, 0), or "),
        ((8, 8, 4), " (an alpha channel? drop it: image[..., :3])"),
    ],
)
def test_a_list_item_of_a_wrong_shape_gets_the_hint_too(shape, hint):
    with pytest.raises(ImageInputError) as info:
        as_image_source([np.zeros((8, 8, 3), np.uint8), np.zeros(shape, np.uint8)])
    assert str(info.value).startswith(
        f"images: item 1 is an array of shape {shape} and dtype uint8; expected uint8 of "
        f"shape (H, W, 3){hint}"
    )


def test_exif_orientation_is_not_applied_and_an_animation_gives_its_first_frame(tmp_path):
    # documented, as torchvision's default loader: the stored pixels, not the EXIF-rotated
    # view (PIL.ImageOps.exif_transpose, applied by the caller, rotates them)
    from PIL import ImageOps

    pixels = np.zeros((2, 4, 3), np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(pixels).save(tmp_path / "o.jpg", exif=exif.tobytes())
    assert as_image_source(tmp_path / "o.jpg").load(0).size == (4, 2)
    with Image.open(tmp_path / "o.jpg") as im:
        assert as_image_source([ImageOps.exif_transpose(im)]).load(0).size == (2, 4)
    frames = [Image.new("RGB", (4, 4), c) for c in [(255, 0, 0), (0, 0, 255)]]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    assert np.asarray(as_image_source(tmp_path / "a.gif").load(0))[0, 0].tolist() == [255, 0, 0]
    with Image.open(tmp_path / "a.gif") as gif:  # in memory: the frame it is at
        gif.seek(1)
        assert np.asarray(as_image_source([gif]).load(0))[0, 0].tolist() == [0, 0, 255]
