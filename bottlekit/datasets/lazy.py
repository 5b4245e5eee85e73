"""Lazy pieces of real datasets: resized image files, records in binary files, and part
masks drawn from keypoints when they are indexed."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch.utils.data as tud
from PIL import Image

from bottlekit._arrays import as_index_array, as_real_array
from bottlekit._checks import check_number, check_positive_int, is_number
from bottlekit.datasets._parsing import DatasetFormatError, MissingDatasetError
from bottlekit.images import ImageSource, _open_file, image_positions

__all__ = ["KeypointPartMasks", "RecordImages", "ResizedImages"]


def _size(size: int | Sequence[int]) -> tuple[int, int]:
    given = size
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (size, size)
    if isinstance(size, (str, bytes)) or any(
        isinstance(v, (bool, np.bool_, float, np.floating)) for v in np.ravel(size)
    ):
        raise ValueError(f"image_size: expected an int or (height, width), got {size!r}")
    try:
        h, w = (int(v) for v in size)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"image_size: expected an int or (height, width), got {size!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"image_size: expected positive sizes, got {size!r}")
    # PIL's own limit on the pixels of an image it opens (a decompression bomb beyond);
    # larger sizes failed on the first image, far from the option (OverflowError in a
    # DataLoader worker, or a resize asking for tens of GiB)
    limit = Image.MAX_IMAGE_PIXELS or 2**31 - 1
    if h * w > limit:
        raise ValueError(
            f"image_size: expected at most {limit} pixels (PIL's Image.MAX_IMAGE_PIXELS), got "
            f"{given!r} ({h} x {w})"
        )
    return h, w


def _paths(paths: Any, name: str) -> list[Path]:
    """``paths`` as a list of Paths; ``TypeError`` naming ``name`` for one str (its letters
    would be taken as paths) or anything else than a sequence of paths."""
    if isinstance(paths, (str, bytes, os.PathLike)) or not isinstance(paths, Sequence):
        raise TypeError(
            f"{name}: expected a list of paths, got {type(paths).__name__}"
            + (
                f" {str(paths)!r} (put one path in a list)"
                if isinstance(paths, (str, os.PathLike))
                else ""
            )
        )
    bad = [p for p in paths if not isinstance(p, (str, os.PathLike))]
    if bad:
        raise TypeError(f"{name}: expected a list of paths, got an item {bad[0]!r}")
    return [Path(p) for p in paths]


class ResizedImages(ImageSource):
    """Image files read and resized to one size when an item is loaded (nothing up front).

    An :class:`~bottlekit.images.ImageSource` of kind ``"files"``: embedding decodes the
    files in DataLoader workers as for any list of paths, and the cache key of an item is
    its file's key (path, size, modification time) and the target size, so nothing is
    decoded to compute it.

    Parameters
    ----------
    paths : list of path
        The image files, one per item; nothing is read until an item is loaded.
    size : int or (height, width)
        The size every image is resized to, in pixels; an int gives a square image.

    Examples
    --------
    >>> imgs = ResizedImages(["a.jpg", "b.jpg"], 224)
    >>> len(imgs), imgs.size, imgs.kind
    (2, (224, 224), 'files')
    """

    def __init__(self, paths: Sequence[str | os.PathLike], size: int | Sequence[int]) -> None:
        super().__init__("files", _paths(paths, "paths"))
        self.size = _size(size)

    def load(self, i: int) -> Image.Image:
        """Item ``i`` read and resized (bilinear) to ``size``.

        Parameters
        ----------
        i : int
            Position of the item, ``0 <= i < len(self)``.

        Returns
        -------
        PIL.Image.Image
            The image, ``size`` pixels (``width x height = size[1] x size[0]``).
        """
        h, w = self.size
        return _open_file(self.items[int(i)]).resize((w, h), Image.BILINEAR)

    def key(self, i: int) -> str:
        """The file's cache key (path, size, mtime) and the target size.

        Parameters
        ----------
        i : int
            Position of the item, ``0 <= i < len(self)``.

        Returns
        -------
        str
            ``"file:"`` and a 32-hex-digit hash; it changes when the file or ``size``
            does, and nothing is decoded to compute it.
        """
        h, w = self.size
        base = super().key(i)
        return "file:" + hashlib.blake2b(f"{base}@{h}x{w}".encode(), digest_size=16).hexdigest()

    def subset(self, indices: Sequence[int]) -> ResizedImages:
        """The items ``indices``, still resized on loading.

        Parameters
        ----------
        indices : sequence of int
            Positions of the items to keep, in the order wanted.

        Returns
        -------
        ResizedImages
            Those files, with the same ``size``.
        """
        return ResizedImages(
            [self.items[i] for i in image_positions(indices, len(self)).tolist()], self.size
        )


def _per_file(value: Any, n: int, name: str, low: int) -> list[int]:
    """``value`` (one int, or one per file) as a list of ``n`` ints >= ``low``."""
    one = is_number(value, integer=True)  # Python or numpy ints; booleans are not
    # a 1-D array of ints (np.array([3, 5])) is a list of them; it was refused
    values = [value] * n if one else value.tolist() if isinstance(value, np.ndarray) else value
    if (
        isinstance(values, (str, bytes))
        or not isinstance(values, Sequence)
        or len(values) != n
        or not all(is_number(v, integer=True) and v >= low for v in values)
    ):
        raise ValueError(f"{name}: expected one int >= {low} per file ({n}), got {value!r}")
    return [int(v) for v in values]


class RecordImages(tud.Dataset):
    """Images stored as fixed-size records in binary files, read through a memory map.

    Each record is ``offset`` header bytes then ``channels x height x width`` pixel bytes,
    channel-major (the CIFAR binary format). The records of a file start ``header`` bytes
    into it (the CIFAR python release: where the pickled array's bytes begin). Only the
    records indexed are read.

    Parameters
    ----------
    files : list of path
        The binary files, read in this order (item numbers run on from one file to the
        next).
    record_bytes : int
        Bytes per record, its ``offset`` bytes included (not the file's ``header``;
        CIFAR-10: 3073, CIFAR-100: 3074).
    offset : int
        Bytes before the pixels in each record (CIFAR-10: 1, CIFAR-100: 2).
    shape : (channels, height, width), default (3, 32, 32)
        The pixels of a record, channel-major; their product must be
        ``record_bytes - offset``.
    header : int or list of int, default 0
        Bytes before the first record of each file (one int: the same for every file).
    records : list of int, optional
        Records in each file. Default: all the file holds after ``header``, which must
        then be whole records; given, the file may go on after them.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "test_batch.bin"
    >>> rec = np.zeros((2, 1 + 3 * 32 * 32), np.uint8); rec[1, 0] = 7; rec[1, 1] = 255
    >>> _ = f.write_bytes(rec.tobytes())
    >>> imgs = RecordImages([f], 1 + 3 * 32 * 32, offset=1)
    >>> len(imgs), imgs.array(1)[0, 0].tolist(), imgs[1].size
    (2, [255, 0, 0], (32, 32))
    >>> g = f.with_name("in_a_pickle")  # 5 bytes, then 1 record (no label byte), then 2
    >>> _ = g.write_bytes(b"head:" + rec[1, 1:].tobytes() + b"..")
    >>> RecordImages([g], 3 * 32 * 32, 0, header=5, records=[1]).array(0)[0, 0].tolist()
    [255, 0, 0]
    """

    def __init__(
        self,
        files: Sequence[str | os.PathLike],
        record_bytes: int,
        offset: int,
        shape: tuple[int, int, int] = (3, 32, 32),
        *,
        header: int | Sequence[int] = 0,
        records: Sequence[int] | None = None,
    ) -> None:
        self.files = _paths(files, "files")
        record_bytes = check_positive_int(record_bytes, "record_bytes")
        offset = check_number(offset, "offset", integer=True, low=0, high=record_bytes - 1)
        try:
            shape = tuple(check_positive_int(v, "shape") for v in shape)
        except TypeError:
            raise TypeError(f"shape: expected (channels, height, width), got {shape!r}") from None
        if len(shape) != 3 or int(np.prod(shape)) != record_bytes - offset:
            raise ValueError(
                f"shape: expected (channels, height, width) of record_bytes - offset = "
                f"{record_bytes - offset} pixels, got {shape!r}"
            )
        self.record_bytes, self.offset, self.shape = record_bytes, offset, shape
        self.headers = _per_file(header, len(self.files), "header", low=0)
        wanted = None if records is None else _per_file(records, len(self.files), "records", 1)
        counts = []
        for k, f in enumerate(self.files):
            if not f.is_file():
                raise MissingDatasetError(f"{f}: file not found")
            size, start = f.stat().st_size, self.headers[k]
            if wanted is not None and start + wanted[k] * record_bytes > size:
                raise DatasetFormatError(
                    f"{f}: size {size} bytes is less than the {wanted[k]} records of "
                    f"{record_bytes} bytes from byte {start} need (truncated file?)"
                )
            if wanted is None and (size <= start or (size - start) % record_bytes):
                raise DatasetFormatError(
                    f"{f}: size {size} bytes"
                    + (f" after a header of {start} bytes" if start else "")
                    + f" is not a multiple of the record size {record_bytes}; expected "
                    "whole records (truncated file?)"
                )
            counts.append((size - start) // record_bytes if wanted is None else wanted[k])
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._maps: list[np.memmap] | None = None

    def _memmaps(self) -> list[np.memmap]:
        if self._maps is None:
            self._maps = [
                np.memmap(f, np.uint8, "r", offset=h, shape=(int(c), self.record_bytes))
                for f, h, c in zip(self.files, self.headers, np.diff(self.starts), strict=True)
            ]
        return self._maps

    def __getstate__(self) -> dict[str, Any]:  # worker processes reopen the maps
        return {**self.__dict__, "_maps": None}

    def __len__(self) -> int:
        return int(self.starts[-1])

    def array(self, i: int) -> np.ndarray:
        """Record ``i``'s pixels as a uint8 (height, width, channels) array.

        Parameters
        ----------
        i : int
            Record number over all files, ``0 <= i < len(self)``.

        Returns
        -------
        ndarray of uint8, shape (height, width, channels)
            The record's pixels, channel-last (a copy, not a view of the file).
        """
        if not isinstance(i, (int, np.integer)) or isinstance(i, (bool, np.bool_)):
            raise TypeError(f"index: expected an int, got {i!r}")
        i = int(i)
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} records")
        f = int(np.searchsorted(self.starts, i, side="right") - 1)
        row = self._memmaps()[f][i - self.starts[f], self.offset :]
        return np.ascontiguousarray(row.reshape(self.shape).transpose(1, 2, 0))

    def __getitem__(self, i: int) -> Image.Image:
        return Image.fromarray(self.array(i), mode="RGB")


def _discs(
    points: np.ndarray, radius: np.ndarray, size: tuple[int, int], yy: np.ndarray, xx: np.ndarray
) -> np.ndarray:
    """Union of discs (x, y, r) over a (H, W) grid of pixel centres."""
    out = np.zeros(size, bool)
    for (x, y), r in zip(points, radius, strict=True):
        out |= (xx - x) ** 2 + (yy - y) ** 2 <= r**2
    return out


class KeypointPartMasks:
    """Part masks drawn from keypoints and boxes when indexed (a lazy mask array).

    Mask of part ``p`` in image ``i``: the union of discs of radius ``r_i`` around the
    *visible* keypoints of the part's group (``groups[p]``), with
    ``r_i = max(1, radius * sqrt(w_i * h_i))`` for the object box ``(x, y, w_i, h_i)``
    of the image (so the disc scales with the bird); an empty mask when none of them is
    visible. A part whose group is ``"box"`` is the object box itself. Pixel ``(u, v)``
    is inside a disc when its centre ``(u + 0.5, v + 0.5)`` is; keypoints and boxes are
    in the pixels of the ``size`` images.

    Parameters
    ----------
    keypoints : array (n, K, 3)
        ``(x, y, visible)``.
    boxes : array (n, 4)
        ``(x, y, w, h)``.
    groups : list of (list of int or "box")
        Keypoint indices of each part.
    size : (height, width)
        The size of the masks, in pixels: the size of the images the keypoints and
        boxes are in (an int gives a square).
    radius : float, default 0.1
        Disc radius as a fraction of ``sqrt(w * h)`` of the image's box (>= 0; the
        radius is at least 1 pixel).

    Examples
    --------
    >>> import numpy as np
    >>> kp = np.array([[[2.0, 2.0, 1.0], [6.0, 6.0, 0.0]]])
    >>> m = KeypointPartMasks(kp, [[0, 0, 8, 8]], [[0], [1], "box"], (8, 8), radius=0.15)
    >>> m.shape, m[[0]].sum(axis=(2, 3)).tolist()
    ((1, 3, 8, 8), [[4, 0, 64]])
    """

    dtype = np.dtype(bool)
    lazy_masks = True  # ConceptDataset keeps it as it is (no conversion to an ndarray)

    def __init__(
        self,
        keypoints: Any,
        boxes: Any,
        groups: Sequence[Any],
        size: tuple[int, int],
        radius: float = 0.1,
    ) -> None:
        self.keypoints = as_real_array(keypoints, "keypoints")
        self.boxes = as_real_array(boxes, "boxes")
        n = len(self.keypoints)
        if self.keypoints.ndim != 3 or self.keypoints.shape[2] != 3:
            raise ValueError(
                f"keypoints: expected shape (n, K, 3) of (x, y, visible), got "
                f"{self.keypoints.shape}"
            )
        if self.boxes.shape != (n, 4):
            raise ValueError(
                f"boxes: expected shape ({n}, 4) (one (x, y, w, h) per image), got "
                f"{self.boxes.shape}"
            )
        for what, a in (("keypoints", self.keypoints), ("boxes", self.boxes)):
            if not np.isfinite(a).all():
                raise ValueError(f"{what}: expected finite numbers, got NaN or inf")
        if (self.boxes[:, 2:] < 0).any():
            raise ValueError("boxes: expected widths and heights >= 0")
        K = self.keypoints.shape[1]
        self.groups = list(groups)
        for g in self.groups:
            ok = (
                g == "box"
                if isinstance(g, str)
                else isinstance(g, (Sequence, np.ndarray))
                and all(
                    isinstance(k, (int, np.integer)) and not isinstance(k, bool) and 0 <= k < K
                    for k in g
                )
            )
            if not ok:
                raise ValueError(
                    f"groups: expected 'box' or lists of keypoint indices in 0..{K - 1}, got {g!r}"
                )
        self.size = _size(size)
        self.radius = check_number(radius, "radius", low=0)
        self.shape = (len(self.keypoints), len(self.groups), *self.size)
        self.ndim = 4

    def __len__(self) -> int:
        return self.shape[0]

    def radii(self) -> np.ndarray:
        """Disc radius of each image, in pixels: ``max(1, radius * sqrt(w * h))``.

        Returns
        -------
        ndarray of float64, shape (n,)
            One radius per image, from its box's width ``w`` and height ``h``.
        """
        return np.maximum(1.0, self.radius * np.sqrt(self.boxes[:, 2] * self.boxes[:, 3]))

    def _one(self, i: int, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        out = np.zeros(self.shape[1:], bool)
        r = self.radii()[i]
        for p, group in enumerate(self.groups):
            if isinstance(group, str):  # "box"
                x, y, w, h = self.boxes[i]
                out[p] = (xx >= x) & (xx <= x + w) & (yy >= y) & (yy <= y + h)
                continue
            kp = self.keypoints[i, list(group)]
            vis = kp[kp[:, 2] > 0, :2]
            if len(vis):
                out[p] = _discs(vis, np.full(len(vis), r), self.size, yy, xx)
        return out

    def __getitem__(self, index: Any) -> np.ndarray:
        rows = np.arange(self.shape[0])[index]
        H, W = self.size
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float64) + 0.5
        if np.ndim(rows) == 0:
            return self._one(int(rows), yy, xx)
        return np.stack([self._one(int(i), yy, xx) for i in rows]).reshape(
            len(rows), *self.shape[1:]
        )

    def take(self, rows: Any) -> KeypointPartMasks:
        """The masks of images ``rows``, still lazy.

        Parameters
        ----------
        rows : int array or list of int
            Image indices (negative ones count from the end), in the order wanted.

        Returns
        -------
        KeypointPartMasks
            Those images' keypoints and boxes, with the same groups, size and radius.
        """
        rows = as_index_array(rows, "rows", high=len(self), negative=True)
        return KeypointPartMasks(
            self.keypoints[rows], self.boxes[rows], self.groups, self.size, self.radius
        )

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self[:]
        return a if dtype is None else a.astype(dtype)

    def __repr__(self) -> str:
        return f"KeypointPartMasks(shape={self.shape}, radius={self.radius})"
