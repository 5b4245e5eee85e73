"""The backbone's transform split between the decode tasks and the encoders.

When the backbone's preprocessing is open_clip's evaluation transform,
:func:`_pixel_steps` turns its PIL part into plain numbers: a decode task resizes and
crops with PIL alone (:func:`_resize_and_crop`, importing no torch) and sends uint8
pixels, and the encoder finishes the transform (:func:`_to_model_input`) with the same
elementwise operations as a local run, so the floats are the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_EVAL_STEPS = ["Resize", "CenterCrop", "MaybeConvertMode", "MaybeToTensor", "Normalize"]


def _pixel_steps(preprocess: Any) -> dict[str, Any] | None:
    """The PIL part of open_clip's evaluation transform as plain numbers, or None.

    When the transform is resize (shorter side) + centre crop + mode conversion +
    to-tensor + normalise, the decode tasks send the cropped uint8 pixels, a quarter of
    the float32 bytes, and the encoder finishes the transform with the same elementwise
    operations (see ``bottlekit._preprocessing.normalised_array_batches``), so the floats are
    the same. The resize and crop are given as numbers (:func:`_resize_and_crop` does
    them with PIL as torchvision does for PIL images), so the decode tasks import neither
    torch nor torchvision nor open_clip: a decode worker starts in about a second, not
    the ten or more it takes to import torch on a busy machine.
    """
    from torchvision import transforms as T
    from torchvision.transforms.functional import pil_modes_mapping

    if not isinstance(preprocess, T.Compose):
        return None
    steps = preprocess.transforms
    if [type(t).__name__ for t in steps] != _EVAL_STEPS:
        return None
    resize, crop = steps[0], steps[1]
    size = resize.size
    if isinstance(size, (list, tuple)):
        if len(size) != 1:
            return None
        size = size[0]
    crop_h, crop_w = crop.size if len(crop.size) == 2 else (crop.size[0], crop.size[0])
    if resize.max_size is not None or not (0 < crop_h <= size and 0 < crop_w <= size):
        return None  # (other cases: torchvision's own transform in the decode tasks)
    return {
        "resize": int(size),
        "resample": int(pil_modes_mapping[resize.interpolation]),
        "crop": (int(crop_h), int(crop_w)),
        "mode": str(getattr(steps[2], "mode", "RGB")),
    }


def _resize_and_crop(img: Any, steps: dict[str, Any]) -> Any:
    """torchvision's ``Resize(size)`` + ``CenterCrop`` of a PIL image, with PIL only.

    The same arithmetic as ``torchvision.transforms.functional`` for PIL images: the
    shorter side to ``size``, the longer to ``int(size * long / short)``, PIL's resize
    with the transform's filter (no resize when the size is unchanged), then the crop box
    at ``round((side - crop) / 2)``.
    """
    w, h = img.size
    size = steps["resize"]
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_h, new_w) != (h, w):
        img = img.resize((new_w, new_h), steps["resample"])
    crop_h, crop_w = steps["crop"]
    top = round((new_h - crop_h) / 2.0)
    left = round((new_w - crop_w) / 2.0)
    return img.crop((left, top, left + crop_w, top + crop_h))


def _to_model_input(row: dict[str, Any], preprocess: Any) -> np.ndarray:
    """The float32 (m, 3, S, S) model input of a decoded row (uint8 pixels or floats)."""
    import torch

    from bottlekit._preprocessing import normalised_array_batches

    shape = [int(v) for v in row["shape"]]
    if row["dtype"] != "uint8":
        return np.frombuffer(row["x"], np.float32).reshape(shape)
    pixels = np.frombuffer(row["x"], np.uint8).reshape(shape)
    if len(pixels) == 0:
        return np.zeros((0,), np.float32)
    normalize = preprocess.transforms[-1]
    mean = torch.as_tensor(normalize.mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.as_tensor(normalize.std, dtype=torch.float32).view(-1, 1, 1)
    return next(normalised_array_batches(pixels, len(pixels), mean, std)).numpy()
