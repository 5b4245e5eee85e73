"""Image intake of the attribution methods, and the way back onto the images.

:func:`as_model_input` turns the images a user passes (uint8 arrays, PIL images or
preprocessed tensors) into the backbone's input batch and remembers which region of each
image the model saw; :func:`to_image_resolution` puts maps at the model's input size back
on that region. :func:`as_feature_input` takes the preprocessed tensors of a plain feature
function (no preprocessing known).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bottlekit._arrays import check_real_tensor

__all__ = [
    "as_feature_input",
    "as_model_input",
    "normalisation",
    "to_image_resolution",
    "upsample",
]


def _preprocess_steps(preprocess: Any) -> list[Any]:
    return list(getattr(preprocess, "transforms", []))


def _crop_box(preprocess: Any, h: int, w: int) -> tuple[int, int, int, int] | None:
    """The region (top, left, height, width) of an h x w image the model sees.

    ``None`` when the preprocessing is not understood. open_clip's evaluation transform
    resizes the shortest side to ``r`` and centre-crops ``c x c``: the model sees about
    the central square of side ``min(h, w) * c / r`` (the crop as torchvision places it
    in the resized image, scaled back and rounded to whole pixels). A two-value resize
    (squash) without a smaller crop sees the whole image.
    """
    from torchvision import transforms as T

    steps = _preprocess_steps(preprocess)
    resize = next((s for s in steps if isinstance(s, T.Resize)), None)
    crop = next((s for s in steps if isinstance(s, T.CenterCrop)), None)
    if resize is None:
        return None
    size = resize.size
    if isinstance(size, (list, tuple)) and len(size) == 2:
        if crop is None or tuple(crop.size) == tuple(size):
            return 0, 0, h, w
        return None
    r = size[0] if isinstance(size, (list, tuple)) else size
    if crop is None or not isinstance(r, numbers.Integral):
        return None
    ch, cw = crop.size
    # torchvision's geometry: the shortest side resized to r, the longer one to
    # int(r * long / short); the crop's offsets rounded half to even in that image
    # (``int(round(...))``). Halving the margin with // placed the map of a 103 x 64 image
    # one pixel above the rows the model saw.
    rh, rw = (int(r * h / w), r) if w <= h else (r, int(r * w / h))
    side_h, side_w = min(round(ch * h / rh), h), min(round(cw * w / rw), w)
    top = min(round(round((rh - ch) / 2.0) * h / rh), h - side_h)
    left = min(round(round((rw - cw) / 2.0) * w / rw), w - side_w)
    return top, left, side_h, side_w


def _check_tensor(images: torch.Tensor) -> None:
    check_real_tensor(images, "images")
    if not images.is_floating_point():
        raise TypeError(f"images: a tensor must be float (preprocessed), got {images.dtype}")
    if len(images) == 0:
        raise ValueError("images: got an empty batch; expected at least one image")
    if not torch.isfinite(images).all():
        raise ValueError("images: the tensor contains NaN or inf")


def as_model_input(
    backbone: Any, images: Any
) -> tuple[torch.Tensor, tuple[int, int], tuple[int, int, int, int]]:
    """Preprocessed batch (n, 3, S, S) on the backbone's device, the image size (H, W) and
    the region (top, left, height, width) of the image the model sees."""
    if isinstance(images, torch.Tensor):
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(
                f"images: a tensor must be preprocessed, shape (n, 3, H, W); got "
                f"{tuple(images.shape)}"
            )
        _check_tensor(images)
        size = getattr(backbone.model.visual, "image_size", None)
        size = (size, size) if isinstance(size, int) else size
        if size is not None and tuple(images.shape[2:]) != tuple(size):
            raise ValueError(
                f"images: a preprocessed tensor must have the model's input size "
                f"{tuple(size)}, got {tuple(images.shape[2:])}"
            )
        x = images.detach().to(backbone.device, torch.float32)
        return x, (int(x.shape[2]), int(x.shape[3])), (0, 0, int(x.shape[2]), int(x.shape[3]))
    from bottlekit.images import as_image_source

    pils = as_image_source(images).pil_images()
    sizes = {im.size for im in pils}
    if len(sizes) != 1:
        raise ValueError(
            f"images: all images must have one size to stack their maps, got sizes {sorted(sizes)}"
        )
    w, h = pils[0].size
    x = torch.stack([backbone.preprocess(im.convert("RGB")) for im in pils])
    box: tuple[int, int, int, int] | None = (0, 0, h, w)
    if (h, w) != tuple(x.shape[2:]):
        box = _crop_box(backbone.preprocess, h, w)
        if box is None:
            raise ValueError(
                f"images: {h}x{w} images go through a preprocessing whose geometry is not a "
                "resize + centre crop, so maps cannot be placed back on the images; pass "
                "images at the model's input size or preprocessed tensors"
            )
    return x.to(backbone.device, torch.float32), (h, w), box


def as_feature_input(
    images: Any,
) -> tuple[torch.Tensor, tuple[int, int], tuple[int, int, int, int]]:
    """The preprocessed float batch (n, C, H, W) of a feature function, as it is (same
    device and dtype, detached), its size and the whole of it as the region seen."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        got = (
            f"shape {tuple(images.shape)}"
            if isinstance(images, torch.Tensor)
            else type(images).__name__
        )
        raise TypeError(
            "images: with a feature function as backbone, expected its preprocessed float "
            f"tensor (n, C, H, W), got {got}"
        )
    _check_tensor(images)
    h, w = int(images.shape[2]), int(images.shape[3])
    return images.detach(), (h, w), (0, 0, h, w)


def upsample(maps: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Coarse maps (n, m, h, w) resized bilinearly to ``size`` (the model's input size)."""
    return F.interpolate(maps, size=tuple(size), mode="bilinear", align_corners=False)


def to_image_resolution(
    maps: torch.Tensor, size: tuple[int, int], box: tuple[int, int, int, int]
) -> np.ndarray:
    """Maps (n, m, h, w) at the model input → (n, m, H, W) on the original images: the map
    is resized bilinearly onto the region the model saw, 0 elsewhere."""
    H, W = size
    top, left, bh, bw = box
    if tuple(maps.shape[2:]) == (bh, bw) and (bh, bw) == (H, W):
        return maps.detach().cpu().numpy().astype(np.float32)
    inner = upsample(maps, (bh, bw))
    out = torch.zeros(maps.shape[0], maps.shape[1], H, W, dtype=maps.dtype)
    out[:, :, top : top + bh, left : left + bw] = inner.cpu()
    return out.numpy().astype(np.float32)


def normalisation(preprocess: Any, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std (1, 3, 1, 1) of the preprocessing's ``Normalize`` (0 and 1
    without one), as ``x``'s dtype and device."""
    from torchvision import transforms as T

    norm = next((s for s in _preprocess_steps(preprocess) if isinstance(s, T.Normalize)), None)
    mean = [0.0, 0.0, 0.0] if norm is None else list(norm.mean)
    std = [1.0, 1.0, 1.0] if norm is None else list(norm.std)
    shape = (1, -1, 1, 1)
    return (
        torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(shape),
        torch.as_tensor(std, dtype=x.dtype, device=x.device).view(shape),
    )
