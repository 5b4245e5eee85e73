"""The decode tasks' resize and crop: open_clip's evaluation transform, without torch."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bottlekit.distributed.pipeline import _pixel_steps, _resize_and_crop

open_clip = pytest.importorskip("open_clip")


@pytest.mark.parametrize("size", [224, 64, 33])
@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
def test_resize_and_crop_equals_the_transforms_pil_steps(size, interpolation):
    from torchvision import transforms as T

    transform = open_clip.image_transform(size, is_train=False, interpolation=interpolation)
    params = _pixel_steps(transform)
    mode = getattr(T.InterpolationMode, interpolation.upper())
    assert params == {
        "resize": size,
        "resample": int(T.functional.pil_modes_mapping[mode]),
        "crop": (size, size),
        "mode": "RGB",
    }
    pil_steps = T.Compose(transform.transforms[:3])  # resize, crop, mode: torchvision's code
    rng = np.random.default_rng(0)
    for h, w in [(64, 64), (37, 91), (300, 121), (500, 333), (224, 224), (225, 223), (17, 18)]:
        img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        expected = np.asarray(pil_steps(img))
        got = np.asarray(_resize_and_crop(img, params).convert(params["mode"]))
        assert got.shape == expected.shape == (size, size, 3)
        np.testing.assert_array_equal(got, expected)


def test_other_transforms_keep_torchvision():
    from torchvision import transforms as T

    assert _pixel_steps(T.Compose([T.Resize(32), T.ToTensor()])) is None
    squash = open_clip.image_transform((32, 48), is_train=False)  # no shorter-side resize
    assert _pixel_steps(squash) is None
