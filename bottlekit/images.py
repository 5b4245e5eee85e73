"""Image sources: one view over the many ways a user can hand images to bottlekit.

:func:`as_image_source` turns a list of PIL images, a ``uint8`` array of shape
``(n, H, W, 3)``, a list of file paths, a folder in class-per-subfolder layout, or a
torch ``Dataset`` into an :class:`ImageSource`. A source knows its length, loads item
``i`` as an RGB PIL image, and gives each item a stable identity key (file path + size
+ modification time, or a hash of the pixels) for the embedding cache. Files and PIL
images are converted to RGB by one rule (16-bit grey scaled to 8 bits, float images
checked, EXIF orientation not applied, the first frame of an animation): see
:func:`as_image_source`.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xxhash
from PIL import Image, UnidentifiedImageError

from bottlekit._arrays import as_index_array
from bottlekit._image_folders import IMAGE_EXTENSIONS, class_folder_images, images_in

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageInputError",
    "ImageSource",
    "as_image_source",
    "list_image_folder",
]


class ImageInputError(ValueError, TypeError):
    """Images that bottlekit cannot take: a wrong type, shape or dtype, an empty collection,
    a list mixing kinds, a path that does not exist, a float image outside 8-bit levels,
    or a dataset's tensor without values (on the ``meta`` device).

    Every entry point that takes images (:func:`bottlekit.embed`,
    :meth:`bottlekit.Backbone.encode_images`, ``concept_activation_map``, ``audit``,
    ``from_examples``, world training) reads them through :func:`as_image_source`, so the
    same bad input raises this error with the same message everywhere. It is both a
    ``ValueError`` and a ``TypeError``, the two types these checks raised before, so
    existing ``except`` clauses keep working.
    """


def _is_pathlike(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike))


def list_image_folder(
    folder: str | os.PathLike,
) -> tuple[list[Path], np.ndarray | None, list[str]]:
    """List the images of a folder.

    Two layouts are understood. In the class-per-subfolder layout (as torchvision's
    ``ImageFolder``), every sub-folder is a class and every image below it, at any depth,
    is one of its examples; classes are sorted by name and labelled ``0..C-1``. A folder
    whose sub-folders hold no image is a flat, unlabelled list of its own images. Hidden
    files and folders (names starting with ``.``, such as macOS's ``._photo.jpg``) are not
    read; images directly in a folder that has class sub-folders belong to no class and
    are not read, with a warning (the rule: :mod:`bottlekit._image_folders`, shared with
    :func:`bottlekit.datasets.load_imagefolder`).

    Parameters
    ----------
    folder : str or PathLike
        The folder to list.

    Returns
    -------
    files : list of Path
        Image files, sorted by class then by path.
    labels : ndarray of int64 or None
        Class index of each file, or None for a flat folder.
    class_names : list of str
        Sorted class (sub-folder) names; empty for a flat folder.

    Examples
    --------
    >>> files, labels, classes = list_image_folder("photos/")  # doctest: +SKIP
    """
    root = Path(folder)
    if not root.is_dir():
        raise ImageInputError(f"images: folder {str(root)!r} does not exist or is not a directory")
    found = class_folder_images(root)
    if found.files:
        return found.files, found.labels, found.class_names
    files = images_in(root)
    if files:  # no sub-folder holds an image: a flat folder
        return files, None, []
    if found.empty_classes:
        raise ImageInputError(
            f"images: folder {str(root)!r} has sub-folders {found.empty_classes[:5]} "
            "but none of them contains images"
        )
    raise ImageInputError(
        f"images: folder {str(root)!r} contains no images "
        f"(looked for extensions {', '.join(IMAGE_EXTENSIONS)})"
    )


# Pixel keys are XXH3-128 of the mode, size and pixels (the xxhash package): about 13 x
# faster than SHA-256 on 64 x 64 images, which bounds a cached lookup. It is not a
# cryptographic hash: accidental collisions are out of reach (about n^2 / 2^129 for n
# images), but someone who can write images into a cache shared with you could craft two
# with one key; see docs/threat_model.md. Keys of the SHA-256 scheme ("px:") no longer
# match, so caches written before simply miss.
def _pixel_key(img: Image.Image) -> str:
    h = xxhash.xxh3_128(f"{img.mode}:{img.size[0]}x{img.size[1]}:".encode())
    h.update(img.tobytes())
    return "xx:" + h.hexdigest()


def _array_key(arr: np.ndarray) -> str:
    return _array_keys(arr[None])[0]


def _array_keys(images: np.ndarray) -> list[str]:
    """The keys of the (H, W, 3) images of an (n, H, W, 3) array, in one loop.

    The images share one size, so the prefix is encoded once, and the per-image calls are
    skipped; the hash of 64 x 64 images is then most of the time of a cached lookup.
    """
    prefix = f"RGB:{images.shape[2]}x{images.shape[1]}:".encode()
    contiguous = images.flags.c_contiguous
    new, out = xxhash.xxh3_128, []
    for a in images:
        h = new(prefix)
        h.update(a if contiguous else np.ascontiguousarray(a))
        out.append("xx:" + h.hexdigest())
    return out


def _file_key(path: Path) -> str:
    st = path.stat()
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return "file:" + h.hexdigest()


def _check_not_empty(height: int, width: int, what: str) -> None:
    """Refuse an image without pixels (the model's resize divides by its sides)."""
    if height == 0 or width == 0:
        raise ImageInputError(
            f"images: {what} has {height} x {width} pixels (H x W); expected an image "
            "at least 1 x 1"
        )


def _array_shape_hint(shape: tuple[int, ...], single: bool) -> str:
    """The likely mistake behind an image array of the wrong ``shape``, as a hint to append
    (empty if none): a channel-first layout (transpose it), an alpha channel (drop it), or
    one image given for a batch (add the batch axis). ``single``: the array is meant as one
    image (H, W, 3), a list item, not a batch (n, H, W, 3)."""
    name = "image" if single else "images"
    one = "[None]" if not single and len(shape) == 3 else ""  # one image for a batch
    image_axes = shape if single or len(shape) == 3 else shape[1:]
    if len(image_axes) != 3:
        return ""
    first, last = image_axes[0], image_axes[-1]
    if last == 3:
        return f" (use {name}[None] for a single image)" if one else ""
    if last == 4:
        return f" (an alpha channel? drop it: {name}[..., :3]{one})"
    if first in (3, 4):
        batch = len(shape) == 4 and not single
        perm = "0, 2, 3, 1" if batch else "1, 2, 0"
        drop = "" if first == 3 else ("[:, :3]" if batch else "[:3]")
        alpha = "" if first == 3 else " and drop the alpha channel"
        return (
            f" (channel-first? transpose it to (H, W, 3){alpha}: "
            f"{name}{drop}.transpose({perm}){one}, or np.moveaxis)"
        )
    return ""


def _to_rgb(img: Any, what: str) -> Image.Image:
    """Convert an in-memory item (PIL image or uint8 HxWx3 array) to an RGB PIL image."""
    if isinstance(img, Image.Image):
        _check_not_empty(img.size[1], img.size[0], what)
        return _pil_to_rgb(img, what)
    if isinstance(img, np.ndarray):
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ImageInputError(
                f"images: {what} is an array of shape {img.shape} and dtype {img.dtype}; "
                "expected uint8 of shape (H, W, 3)" + _array_shape_hint(img.shape, single=True)
            )
        _check_not_empty(img.shape[0], img.shape[1], what)
        return Image.fromarray(img, mode="RGB")
    raise ImageInputError(
        f"images: {what} has type {type(img).__name__}; expected a PIL image or a uint8 "
        "(H, W, 3) array"
    )


def _pil_to_rgb(im: Image.Image, what: str) -> Image.Image:
    """A PIL image as RGB: the one conversion of files and in-memory PIL images.

    An RGB image is returned as it is. 16-bit grey (modes ``I;16*``, ``I``) is scaled to 8
    bits (:func:`_wide_gray_to_rgb`); a float image (mode ``F``) is checked to hold 8-bit
    levels (:func:`_check_float_image`), then converted as PIL does; any other mode is
    converted by PIL (``convert("RGB")``). ``what`` names the image in errors.
    """
    if im.mode == "RGB":
        return im
    if im.mode.startswith("I;16") or im.mode == "I":
        return _wide_gray_to_rgb(im)
    if im.mode == "F":
        _check_float_image(im, what)
    return im.convert("RGB")


def _check_float_image(im: Image.Image, what: str) -> None:
    """Refuse a float image (PIL mode ``F``) whose values are not 8-bit levels.

    PIL converts ``F`` to RGB by clipping to [0, 255], so values outside are lost and an
    image scaled to [0, 1] comes out black. The rule is the one of float arrays (refused,
    with the conversion from [0, 1] as a hint): values must be finite and in [0, 255]; an
    image whose values all lie in [0, 1], not all 0, is refused as ambiguous (a [0, 1]
    scale, most likely).
    """
    a = np.asarray(im)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    del a
    got = f"images: {what} is a float image (PIL mode 'F')"
    if not (np.isfinite(lo) and np.isfinite(hi)):  # a NaN makes both NaN
        raise ImageInputError(
            f"{got} with values that are not finite (NaN or infinite); expected finite "
            "values in [0, 255]"
        )
    got += f" with values in [{lo:g}, {hi:g}]"
    convert = "Image.fromarray((np.asarray(im) * 255).round().astype(np.uint8))"
    if lo < 0 or hi > 255:
        raise ImageInputError(
            f"{got}; expected values in [0, 255] (8-bit levels; PIL would clip the rest): "
            "scale it to [0, 255] first"
        )
    if 0 < hi <= 1:
        raise ImageInputError(
            f"{got}; expected values in [0, 255] (8-bit levels: as it is, the image would "
            f"be black; convert with {convert} if it is in [0, 1])"
        )


# rows of a 16-bit image converted at once: blocks of about this many pixels
_WIDE_GRAY_BLOCK = 1 << 18


def _wide_gray_to_rgb(im: Image.Image) -> Image.Image:
    """A 16-bit grayscale image (PIL modes ``I;16*``, and ``I`` holding values up to 65535)
    as 8-bit RGB: the values scaled by 255 / 65535 and rounded, ``(v * 255 + 32767) //
    65535``, after clipping to 0..65535. ``convert("RGB")`` clips them at 255 instead,
    which turns most 16-bit images white. An ``I`` image whose values all fit in 0..255
    is kept as it is (negative values clipped to 0).

    The conversion runs in blocks of rows (about ``_WIDE_GRAY_BLOCK`` pixels) in
    ``uint32``, pasted into the RGB result: beyond the decoded image and the result it
    needs a few MB, whatever the image's size (before: 25 to 33 bytes per pixel in
    ``int64`` temporaries, 3.1 GB for a 12000 x 12000 PNG of a few hundred KB).
    """
    w, h = im.size
    scale = im.mode.startswith("I;16") or (w * h > 0 and im.getextrema()[1] > 255)
    out = Image.new("RGB", (w, h))
    step = max(1, _WIDE_GRAY_BLOCK // max(w, 1))
    for top in range(0, h, step):
        block = np.asarray(im.crop((0, top, w, min(h, top + step))))
        if scale:
            v = np.clip(block, 0, 65535).astype(np.uint32)
            v *= 255
            v += 32767
            v //= 65535
        else:
            v = np.clip(block, 0, 255)
        out.paste(Image.fromarray(v.astype(np.uint8)), (0, top))  # grey to R, G and B
    return out


def _open_file(
    path: Path | io.BytesIO, draft: tuple[int, int] | None = None, name: str | None = None
) -> Image.Image:
    """The file as an RGB image; with ``draft`` (width, height), a JPEG is decoded at the
    smallest of its DCT scales (1/2, 1/4, 1/8) that keeps both sides >= ``draft``.

    ``path`` may also be the bytes of an image in a ``BytesIO`` (a tar member, a
    download), named ``name`` in messages: decoded the same way (16-bit grey included).
    The pixels are converted as in-memory PIL images are (:func:`_pil_to_rgb`).
    """
    shown = str(path) if name is None else name
    try:
        with Image.open(path) as im:
            if draft is not None and im.format == "JPEG":
                im.draft("RGB", draft)
            if im.mode == "RGB":
                return im.convert("RGB")  # a copy, read now (the file closes here)
            return _pil_to_rgb(im, f"file {shown!r}")
    except FileNotFoundError:
        raise FileNotFoundError(f"images: file {shown!r} does not exist") from None
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        # a decompression bomb: more pixels than PIL's MAX_IMAGE_PIXELS allows (x 2)
        raise ValueError(f"images: cannot read image file {shown!r}: {e}") from e


@dataclass
class ImageSource:
    """A uniform, indexable view over user-supplied images.

    Build one with :func:`as_image_source`, which validates the images.

    Parameters
    ----------
    kind : {"pil", "array", "files", "dataset"}
        What the images were given as.
    items : sequence
        The underlying items (PIL images, the array, paths, or the dataset).
    labels : ndarray or None
        Class labels when the source carries them (class-per-subfolder folders,
        datasets yielding ``(image, target)`` pairs are not inspected for labels).
    class_names : list of str
        Class names for a labelled folder, else empty.

    Examples
    --------
    >>> import numpy as np
    >>> src = as_image_source(np.zeros((3, 4, 5, 3), np.uint8))
    >>> src.kind, len(src), src.labels, src.load(0).size
    ('array', 3, None, (5, 4))
    """

    kind: str
    items: Any
    labels: np.ndarray | None = None
    class_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def paths(self) -> list[str] | None:
        """File paths for a file-based source, else None."""
        return [str(p) for p in self.items] if self.kind == "files" else None

    def load(self, i: int) -> Any:
        """Item ``i`` as an RGB PIL image (or, for a dataset yielding tensors, the tensor).

        Parameters
        ----------
        i : int
            Position of the item, in ``0..len(self) - 1``.

        Returns
        -------
        PIL.Image.Image or torch.Tensor
            The image in RGB mode (a file is read now; converted as the Notes of
            :func:`as_image_source` say), or a dataset's tensor as it is.

        Raises
        ------
        ImageInputError
            A float image outside 8-bit levels, a dataset's tensor on the ``meta``
            device, an item of a wrong type or shape, naming the item.
        """
        if self.kind == "array":
            return Image.fromarray(self.items[i], mode="RGB")
        if self.kind == "files":
            return _open_file(self.items[i])
        if self.kind == "pil":
            return _to_rgb(self.items[i], f"item {i}")
        return _dataset_item(self.items, i)

    def key(self, i: int) -> str:
        """A stable identity of item ``i`` for the embedding cache.

        Files are identified by resolved path, size and modification time (so editing
        a file invalidates its entry without reading it); in-memory images and dataset
        items by a hash of their pixels.

        Parameters
        ----------
        i : int
            Position of the item, in ``0..len(self) - 1``.

        Returns
        -------
        str
            ``"file:<hash>"`` for a file, ``"xx:<hash>"`` for an image's pixels,
            ``"px:<hash>"`` for a dataset's tensor.
        """
        if self.kind == "files":
            try:
                return _file_key(self.items[i])
            except FileNotFoundError:
                raise FileNotFoundError(
                    f"images: file {str(self.items[i])!r} does not exist"
                ) from None
        if self.kind == "array":
            return _array_key(self.items[i])
        item = self.load(i)
        if isinstance(item, Image.Image):
            return _pixel_key(item)
        t = item.detach().cpu().contiguous()
        h = hashlib.blake2b(digest_size=16)
        h.update(f"tensor:{tuple(t.shape)}:{t.dtype}:".encode())
        h.update(t.numpy().tobytes())
        return "px:" + h.hexdigest()

    def keys(self) -> list[str]:
        """The keys of all items, in order: ``[self.key(i) for i in range(len(self))]``.

        Returns
        -------
        list of str
            One key per item (see :meth:`key`).

        Examples
        --------
        >>> src = as_image_source(np.zeros((2, 8, 8, 3), np.uint8))
        >>> src.keys() == [src.key(0), src.key(1)]
        True
        """
        if self.kind == "array" and type(self).key is ImageSource.key:
            return _array_keys(self.items)
        return [self.key(i) for i in range(len(self))]

    def pil_images(self) -> list[Image.Image]:
        """All items as RGB PIL images (files are read now).

        Returns
        -------
        list of PIL.Image.Image
            One RGB image per item, in order.

        Raises
        ------
        ImageInputError
            An item of a dataset is a tensor (already preprocessed, not an image).
        """
        out = []
        for i in range(len(self)):
            item = self.load(i)
            if not isinstance(item, Image.Image):
                raise ImageInputError(
                    f"images: dataset item {i} is a {type(item).__name__}, already "
                    "preprocessed; expected an image (PIL, uint8 (H, W, 3) array or path)"
                )
            out.append(item)
        return out

    def to_array(self, indices: Sequence[int] | slice | None = None) -> np.ndarray:
        """Items ``indices`` (default all) as one uint8 array of shape (m, H, W, 3).

        An array source is indexed directly (no copy for a slice); other sources are
        read and stacked, which needs all the chosen images to have one size.

        Parameters
        ----------
        indices : sequence of int, boolean mask, slice or None
            The items, as for :meth:`subset`, or a slice; None: all.

        Returns
        -------
        ndarray of uint8, shape (m, H, W, 3)
            The chosen images in the given order (of an array source: the array itself
            for None, a view for a slice).

        Examples
        --------
        >>> import numpy as np
        >>> as_image_source(np.zeros((3, 4, 5, 3), np.uint8)).to_array([0, 2]).shape
        (2, 4, 5, 3)
        """
        if indices is None or isinstance(indices, slice):
            if self.kind == "array":
                return self.items if indices is None else self.items[indices]
            idx = list(range(len(self)))[indices or slice(None)]
        else:
            idx = image_positions(indices, len(self)).tolist()
            if self.kind == "array":
                return self.items[idx]
        sub = self.subset(idx).pil_images()
        sizes = sorted({im.size for im in sub})
        if len(sizes) > 1:
            raise ImageInputError(
                f"images: the images have {len(sizes)} different sizes (W, H), first "
                f"{sizes[:3]}; stacking them into one array needs one size (resize them first)"
            )
        if not sub:
            return np.zeros((0, 0, 0, 3), np.uint8)
        return np.stack([np.asarray(im, dtype=np.uint8) for im in sub])

    def subset(self, indices: Sequence[int]) -> ImageSource:
        """A new source with only the given items (labels kept).

        ``indices`` are positions (negative ones count from the end, repeats are kept) or
        a boolean mask of length ``len(self)``; see :func:`image_positions`.

        Parameters
        ----------
        indices : sequence of int or boolean mask
            The items to keep, in the order given.

        Returns
        -------
        ImageSource
            Of the same kind, with the chosen items and their labels.
        """
        idx = image_positions(indices, len(self)).tolist()
        labels = None if self.labels is None else self.labels[idx]
        if self.kind == "array":
            items: Any = self.items[idx]
        elif self.kind == "dataset":
            import torch.utils.data as tud

            items = tud.Subset(self.items, idx)
        else:
            items = [self.items[i] for i in idx]
        return ImageSource(self.kind, items, labels, list(self.class_names))


def image_positions(indices: Any, n: int) -> np.ndarray:
    """``indices`` (positions, negative ones counted from the end, or a boolean mask of
    length ``n``) as an int64 array of positions in ``0..n-1``; the one check of image indices
    (:meth:`ImageSource.subset`, :meth:`~bottlekit.datasets.ConceptDataset.subset`),
    through :func:`bottlekit._arrays.as_index_array`: ``TypeError`` for anything but
    integers or a mask, ``ValueError`` naming the values out of range."""
    return as_index_array(
        indices,
        "indices",
        high=n,
        negative=True,
        mask=True,
        expected=f"positions in -{n}..{n - 1} of the {n} images",
    )


def _dataset_item(dataset: Any, i: int) -> Any:
    item = dataset[i]
    if isinstance(item, (tuple, list)):
        if not item:
            raise ValueError(f"images: dataset item {i} is an empty tuple")
        item = item[0]
    try:
        import torch

        if isinstance(item, torch.Tensor):
            if item.device.type == "meta":  # a shape without values: nothing to read
                raise ImageInputError(
                    f"images: dataset item {i} is a tensor of shape {tuple(item.shape)} on "
                    "device 'meta', which holds no values; expected a tensor with values "
                    "(on the CPU or a GPU)"
                )
            return item
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    if _is_pathlike(item):
        return _open_file(Path(item))
    return _to_rgb(item, f"dataset item {i}")


def as_image_source(images: Any) -> ImageSource:
    """Wrap user images into an :class:`ImageSource`, validating them.

    Parameters
    ----------
    images : list of PIL.Image, ndarray, list of paths, folder path, or torch Dataset
        - a list (or tuple) of PIL images;
        - a ``uint8`` array of shape ``(n, H, W, 3)``;
        - a list of image file paths (``str`` or ``PathLike``);
        - a folder path, in class-per-subfolder layout (labels are read from the
          sub-folder names) or flat;
        - a ``torch.utils.data.Dataset`` whose items are PIL images, ``uint8``
          ``(H, W, 3)`` arrays, paths, or ``(image, target)`` pairs. Items that are
          already tensors are treated as preprocessed model inputs.

    Returns
    -------
    ImageSource
        The images, their kind, and the labels and class names of a labelled folder.

    Raises
    ------
    ImageInputError
        Empty input, wrong array shape or dtype (the message says how to fix a
        channel-first layout or an alpha channel), a missing path, an input type that is
        none of the above (a ``ValueError`` and a ``TypeError``). When an item is read
        (:meth:`ImageSource.load`): a float image outside 8-bit levels, a dataset's
        tensor on the ``meta`` device (no values), naming the item.
    FileNotFoundError
        A list of paths naming files that do not exist.

    Notes
    -----
    Files and in-memory PIL images (list items, a dataset's items) are converted to RGB
    by one rule, so the same image gives the same pixels however it is passed:

    - 16-bit grey (PIL modes ``I;16*``, and ``I`` with values above 255) is scaled to 8
      bits, ``(v * 255 + 32767) // 65535`` (PIL's ``convert("RGB")`` would clip it to
      white); 16-bit RGB PNGs are reduced to 8 bits by PIL when opened.
    - A float image (mode ``F``) must hold 8-bit levels: finite values in [0, 255], not
      all in [0, 1] (such an image, most likely scaled to [0, 1], would come out black;
      the error gives the conversion), as float arrays are refused.
    - Other modes (grey, palette, RGBA, CMYK, ...) are converted by PIL's
      ``convert("RGB")``; an alpha channel is dropped, not composited.
    - EXIF orientation is **not** applied (as torchvision's default loader): a photo
      whose camera stored it sideways with an orientation tag is read sideways. To apply
      it, open the images yourself and pass the PIL images:
      ``[PIL.ImageOps.exif_transpose(Image.open(p)) for p in paths]``.
    - An animated image (GIF, APNG, multi-page TIFF) read from a file gives its first
      frame; an in-memory PIL image gives the frame it is at (``im.seek(k)``).

    Examples
    --------
    >>> import numpy as np
    >>> src = as_image_source(np.zeros((2, 8, 8, 3), dtype=np.uint8))
    >>> len(src), src.kind
    (2, 'array')

    EXIF orientation applied by the caller (not done here):

    >>> from PIL import Image, ImageOps
    >>> photos = [ImageOps.exif_transpose(Image.open(p)) for p in paths]  # doctest: +SKIP
    >>> src = as_image_source(photos)  # doctest: +SKIP
    """
    if isinstance(images, ImageSource):
        return images
    if _is_pathlike(images):
        if not os.fspath(images):  # Path("") is the working directory
            raise ImageInputError("images: got an empty path; expected a file or a folder")
        path = Path(images)
        try:
            if path.is_dir():
                files, labels, classes = list_image_folder(path)
                return ImageSource("files", files, labels, classes)
            is_file = path.is_file()
        except OSError as exc:  # a name too long for the file system, ...
            raise ImageInputError(
                f"images: path {str(path)[:200]!r} cannot be read ({exc.strerror or exc})"
            ) from None
        if is_file:
            return ImageSource("files", [path])
        raise ImageInputError(f"images: path {str(path)!r} does not exist")
    if isinstance(images, np.ndarray):
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ImageInputError(
                f"images: array has shape {images.shape}; expected (n, H, W, 3)"
                + _array_shape_hint(images.shape, single=False)
            )
        if images.dtype != np.uint8:
            raise ImageInputError(
                f"images: array has dtype {images.dtype}; expected uint8 in [0, 255] "
                "(convert with (x * 255).round().astype(np.uint8) if it is in [0, 1])"
            )
        if images.shape[0] == 0:
            raise ImageInputError("images: array is empty (n = 0)")
        _check_not_empty(images.shape[1], images.shape[2], f"array of shape {images.shape}")
        return ImageSource("array", images)
    try:
        import torch.utils.data as tud

        if isinstance(images, tud.Dataset) and not isinstance(images, (list, tuple)):
            if not hasattr(images, "__len__"):  # an IterableDataset cannot be indexed
                raise ImageInputError(
                    f"images: dataset {type(images).__name__} has no length; expected a "
                    "map-style torch Dataset (with __len__ and __getitem__)"
                )
            if len(images) == 0:  # type: ignore[arg-type]
                raise ImageInputError("images: dataset is empty")
            return ImageSource("dataset", images)
    except ImportError:  # pragma: no cover
        pass
    if isinstance(images, Image.Image):
        return ImageSource("pil", [images])
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ImageInputError("images: got an empty list; expected at least one image")
        if all(_is_pathlike(x) for x in images):
            files = [Path(x) for x in images]
            missing = [str(p) for p in files if not p.is_file()]
            if missing:
                raise FileNotFoundError(
                    f"images: {len(missing)} file(s) do not exist, first: {missing[0]!r}"
                )
            return ImageSource("files", files)
        for i, x in enumerate(images):
            if not isinstance(x, (Image.Image, np.ndarray)):
                raise ImageInputError(
                    f"images: item {i} has type {type(x).__name__}; a list must hold only "
                    "PIL images, uint8 (H, W, 3) arrays, or only file paths"
                )
            if isinstance(x, np.ndarray):
                _to_rgb(x, f"item {i}")
            else:
                _check_not_empty(x.size[1], x.size[0], f"item {i}")
        return ImageSource("pil", list(images))
    hint = ""
    if type(images).__name__ == "Tensor" and hasattr(images, "detach"):
        hint = (
            " (a batch already preprocessed goes in as a Dataset of (3, H, W) float tensors: "
            "torch.utils.data.TensorDataset(images))"
        )
    raise ImageInputError(
        f"images: unsupported type {type(images).__name__}; expected a list of PIL images, "
        f"a uint8 (n, H, W, 3) array, a list of file paths, a folder, or a torch Dataset{hint}"
    )
