"""The fixture writers themselves: they write the pixel values they say they write.

Before the fix, ``write_waterbirds`` gave image ``i`` the red value ``200 - 10 i`` and
``write_cub`` ``10 i``: past 21 (26) images these left uint8's range, which numpy >= 2
refuses (OverflowError) and numpy 1 wrapped silently.
"""

from __future__ import annotations

import numpy as np
import pytest
from dataset_formats import image, write_cub, write_waterbirds
from PIL import Image

# JPEG (4:2:0 chroma) moves a flat red channel next to a green gradient by a few levels
JPEG_TOLERANCE = 4


def _red(path) -> float:
    return float(np.asarray(Image.open(path).convert("RGB"))[..., 0].mean())


def test_forty_image_fixtures_hold_the_values_they_report(tmp_path):
    cub = write_cub(tmp_path, n_per_class=14)  # 42 images
    wb = write_waterbirds(tmp_path, cub)
    n = len(cub["paths"])
    assert n >= 40 and len(cub["red"]) == len(wb["red"]) == n
    for key, written, folder in (("cub", cub, cub["root"] / "images"), ("wb", wb, wb["root"])):
        values = np.asarray(written["red"])
        assert ((values >= 0) & (values <= 255)).all(), key
        for i, rel in enumerate(cub["paths"]):
            assert abs(_red(folder / rel) - values[i]) <= JPEG_TOLERANCE, (key, i)
    # the values of the smaller fixtures the other tests use are those they always had
    assert cub["red"][:26] == [10 * i for i in range(26)]
    assert wb["red"][:21] == [200 - 10 * i for i in range(21)]
    # and neighbouring images stay told apart by their red value
    assert all(np.diff(cub["red"]) != 0) and all(np.diff(wb["red"]) != 0)


@pytest.mark.parametrize("value", [-10, 256])
def test_image_refuses_a_value_outside_uint8(tmp_path, value):
    with pytest.raises(
        ValueError, match=rf"value: expected a pixel value in \[0, 255\], got {value}"
    ):
        image(tmp_path / "x.png", (4, 4), value=value)
