"""A backbone's preprocessing of images: open_clip's evaluation transform, batched where
the result is the same.

:func:`preprocess_images` turns images into the float32 batch a backbone encodes. When
the transform reduces to "to tensor, normalise" (images already at the crop size), whole
uint8 batches are normalised at once with the same elementwise operations, so the floats
equal the per-image transform's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from bottlekit.devices import as_tensor
from bottlekit.images import ImageInputError, ImageSource, _open_file, as_image_source


def identity_size_normalisation(
    preprocess: Any, source: ImageSource
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(mean, std)`` when preprocessing a uint8 array reduces to ToTensor + Normalize.

    That is the case for open_clip's evaluation transform (Resize, CenterCrop, RGB, to
    tensor, Normalize) when the images already have the crop size: PIL returns a
    same-size resize and crop unchanged. The batched form then gives the same floats
    as the per-image path (the same elementwise operations) without a PIL round trip.
    """
    split = split_normalisation(preprocess) if source.kind == "array" else None
    if split is None:
        return None
    (resize, crop, _), normalisation = split[0].transforms, split[1]
    h, w = source.items.shape[1:3]
    size = resize.size
    size = (size, size) if isinstance(size, int) else tuple(size)
    if (h, w) != size or tuple(crop.size) != (h, w) or resize.max_size is not None:
        return None
    return normalisation


def split_normalisation(
    preprocess: Any,
) -> tuple[Any, tuple[torch.Tensor, torch.Tensor]] | None:
    """``(pil_steps, (mean, std))`` when ``preprocess`` is open_clip's evaluation transform
    (Resize, CenterCrop, RGB, to tensor, Normalize): the PIL steps run per image (in the
    workers) and the last two on whole uint8 batches, with the same elementwise
    operations, so the floats are the same as the per-image transform's."""
    from torchvision import transforms as T

    if not isinstance(preprocess, T.Compose):
        return None
    steps = preprocess.transforms
    names = [type(t).__name__ for t in steps]
    if names != ["Resize", "CenterCrop", "MaybeConvertMode", "MaybeToTensor", "Normalize"]:
        return None
    normalize = steps[4]
    mean = torch.as_tensor(normalize.mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.as_tensor(normalize.std, dtype=torch.float32).view(-1, 1, 1)
    return T.Compose(steps[:3]), (mean, std)


def normalise_uint8_batch(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """A collated uint8 (n, H, W, 3) batch as ``(x / 255 - mean) / std`` in CHW float32."""
    x = x.permute(0, 3, 1, 2).contiguous().to(torch.float32).div(255)
    return x.sub_(mean).div_(std)


def normalised_array_batches(
    images: np.ndarray, batch_size: int, mean: torch.Tensor, std: torch.Tensor
) -> Iterator[torch.Tensor]:
    """Batches of ``(x / 255 - mean) / std`` in CHW float32 (torchvision's two steps)."""
    for i in range(0, len(images), batch_size):
        yield normalise_uint8_batch(
            as_tensor(np.ascontiguousarray(images[i : i + batch_size])), mean, std
        )


def jpeg_draft_size(preprocess: Any) -> tuple[int, int] | None:
    """The ``(width, height)`` a JPEG may be decoded down to before ``preprocess``: both
    sides of its first ``Resize`` (None without one).

    Examples
    --------
    >>> from bottlekit import load_backbone
    >>> jpeg_draft_size(load_backbone("world-tiny").preprocess)
    (64, 64)
    """
    from torchvision import transforms as T

    resize = next(
        (t for t in getattr(preprocess, "transforms", []) if isinstance(t, T.Resize)), None
    )
    if resize is None:
        return None
    size = resize.size
    h, w = (size, size) if isinstance(size, int) else (tuple(size) * 2)[:2]
    return int(w), int(h)


def _checked_tensor_item(item: torch.Tensor, i: int, size: tuple[int, int] | None) -> torch.Tensor:
    """A dataset's tensor item (taken as already preprocessed) as float32, or an
    ``ImageInputError`` naming the item: a float (3, H, W) at the model's input ``size``
    (None: any), not what torch's convolution or positional embedding would refuse deep
    in the model."""
    expected = "a preprocessed float tensor (3, H, W)" + (
        "" if size is None else f" with (H, W) = {tuple(size)}, the model's input size"
    )
    if not item.is_floating_point():
        raise ImageInputError(
            f"images: dataset item {i} is a {item.dtype} tensor; expected {expected} "
            "(or a PIL image / uint8 HWC array, which is preprocessed here)"
        )
    if item.ndim != 3 or item.shape[0] != 3 or (size is not None and item.shape[1:] != size):
        raise ImageInputError(
            f"images: dataset item {i} is a tensor of shape {tuple(item.shape)}; "
            f"expected {expected}"
        )
    return item.to(torch.float32)


class PreprocessedImages(torch.utils.data.Dataset):
    """Dataset view that loads item ``i`` of an image source and preprocesses it; with
    ``draft`` (width, height), plain JPEG files are decoded at a reduced DCT scale. A
    dataset's tensor items are taken as preprocessed, checked against ``size`` (the
    model's input (H, W); None: any)."""

    def __init__(
        self,
        source: ImageSource,
        preprocess: Any,
        draft: tuple[int, int] | None = None,
        size: tuple[int, int] | None = None,
    ) -> None:
        self.source = source
        self.preprocess = preprocess
        self.size = None if size is None else torch.Size(size)
        plain_files = source.kind == "files" and type(source).load is ImageSource.load
        self.draft = draft if plain_files else None
        self.pil_steps: Any = None  # set by the caller that normalises the batches

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> torch.Tensor:
        if self.draft is not None:
            return self._prepare(_open_file(self.source.items[i], self.draft))
        item = self.source.load(i)
        if isinstance(item, torch.Tensor):
            return _checked_tensor_item(item, i, self.size)
        return self._prepare(item)

    def _prepare(self, image: Any) -> torch.Tensor:
        if self.pil_steps is None:
            return self.preprocess(image)
        # uint8 HWC: a quarter of the bytes to hand over; normalised batch-wise by the caller
        return torch.from_numpy(np.asarray(self.pil_steps(image), dtype=np.uint8).copy())


def preprocess_images(preprocess: Any, images: Any) -> torch.Tensor:
    """Images → one preprocessed float32 batch (n, 3, S, S), as
    :meth:`~bottlekit.backbones.Backbone.encode_images` prepares them.

    Parameters
    ----------
    preprocess : callable
        A backbone's evaluation transform (PIL image → tensor), e.g.
        :attr:`Backbone.preprocess`.
    images : images accepted by :func:`bottlekit.images.as_image_source`
        A uint8 array (n, H, W, 3), a list of PIL images or paths, a folder, ...

    Returns
    -------
    torch.Tensor of shape (n, 3, S, S), float32, on the CPU
        The images resized, cropped and normalised by ``preprocess``, in input order.

    Examples
    --------
    >>> import numpy as np
    >>> from bottlekit import load_backbone
    >>> bk = load_backbone("world-tiny")
    >>> preprocess_images(bk.preprocess, np.zeros((2, 64, 64, 3), np.uint8)).shape
    torch.Size([2, 3, 64, 64])
    """
    source = as_image_source(images)
    norm = identity_size_normalisation(preprocess, source)
    if norm is not None:
        return next(normalised_array_batches(source.items, len(source), *norm))
    prepared = PreprocessedImages(source, preprocess)
    return torch.stack([prepared[i] for i in range(len(source))]).to(torch.float32)
