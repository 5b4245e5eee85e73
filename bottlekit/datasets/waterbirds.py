"""Waterbirds (Sagawa et al. 2020): CUB birds pasted on land or water places, the place a
spurious attribute of the land/water-bird label."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bottlekit._checks import check_bool, check_choice
from bottlekit.datasets._parsing import (
    DatasetFormatError,
    MissingDatasetError,
    as_root,
    csv_rows,
    header_columns,
    listed_key,
    listed_path,
    missing_images,
    note_first_line,
    parse_int,
    require_dataset_file,
)
from bottlekit.datasets.concept_dataset import ConceptDataset
from bottlekit.datasets.lazy import ResizedImages, _size

__all__ = ["load_waterbirds"]

_SPLITS = {"train": 0, "val": 1, "test": 2}
_COLUMNS = ("img_filename", "y", "split", "place")
_HINT = (
    "Waterbirds (waterbird_complete95_forest2water2) is at "
    "https://downloads.cs.stanford.edu/nlp/data/dro/waterbird_complete95_forest2water2.tar.gz; "
    "pass its extracted folder as root, or download=True"
)


def read_metadata(path: Path) -> list[tuple[int, str, int, int, int]]:
    """``(line, img_filename, y, split, place)`` of each row of ``metadata.csv``."""
    out = []
    first_line: dict[str, int] = {}
    rows = csv_rows(path, hint=_HINT)
    at, header = next(rows, (1, None))
    if header is None:
        raise DatasetFormatError(f"{path}: the file is empty; expected a header line")
    col = header_columns(path, header, _COLUMNS, at)
    for line, row in rows:
        if len(row) != len(header):
            raise DatasetFormatError(
                f"{path}, line {line}: expected {len(header)} columns, got {len(row)}"
            )
        name = row[col["img_filename"]].strip()
        listed_path(path.parent, name, path, line)
        key = listed_key(name)
        note_first_line(first_line, key, path, line, "img_filename", "one row per image")
        out.append(
            (
                line,
                name,
                parse_int(row[col["y"]], path, line, "y", 0, 1),
                parse_int(row[col["split"]], path, line, "split", 0, 2),
                parse_int(row[col["place"]], path, line, "place", 0, 1),
            )
        )
    if not out:
        raise DatasetFormatError(f"{path}: no rows after the header")
    return out


def load_waterbirds(
    root: str | os.PathLike,
    split: str = "train",
    *,
    cub_root: str | os.PathLike | None = None,
    attributes: str | Sequence[str] = "all",
    image_size: int | Sequence[int] | None = None,
    part_radius: float = 0.1,
    download: bool = False,
    checksum: str | None = None,
) -> ConceptDataset:
    """Waterbirds as a :class:`ConceptDataset`: label landbird (0) / waterbird (1), the place
    (land 0 / water 1) as ``spurious_labels``.

    Reads ``metadata.csv`` (columns ``img_filename, y, split, place``; split 0 train, 1
    val, 2 test); images are ``root/<img_filename>``. With ``cub_root``, the CUB
    attributes, keypoints, boxes and (with ``image_size``) part masks of each bird are
    joined by file name (``<class folder>/<file>.jpg`` is CUB's ``images.txt`` path; the
    birds keep their CUB coordinates in the Waterbirds images). Rows whose image is not a
    CUB image cannot carry attributes: they are left out, counted in ``skipped`` and
    warned about. A row that matches two CUB images (two ``images.txt`` paths that end in
    the same ``<class folder>/<file>.jpg``) is refused with :class:`DatasetFormatError`.

    Parameters
    ----------
    root : path
        The extracted ``waterbird_complete95_forest2water2`` folder.
    split : {"train", "val", "test", "all"}, default "train"
    cub_root : path, optional
        The ``CUB_200_2011`` folder, to join attributes and parts.
    attributes : "all", "koh112" or list of str, default "all"
        The CUB attributes joined, as :func:`~bottlekit.datasets.load_cub` (only with
        ``cub_root``).
    image_size : int or (height, width), optional
        Resize the images on loading (needed for part masks).
    part_radius : float, default 0.1
        Disc radius of the part masks, as :func:`~bottlekit.datasets.load_cub` (only
        with ``cub_root`` and ``image_size``).
    download : bool, default False
        Fetch and extract the archive into ``root``'s parent first if
        ``root/metadata.csv`` is missing (see :mod:`bottlekit.datasets.download`).
    checksum : str, optional
        sha256 or md5 of the archive. The table has no digest for Waterbirds, so a
        download is extracted only when one is given.

    Returns
    -------
    ConceptDataset
        The images (files, or resized on loading with ``image_size``), ``labels``
        landbird 0 / waterbird 1, the place as ``spurious_labels``; concepts, keypoints,
        boxes and (with ``image_size``) part masks only with ``cub_root``.

    Examples
    --------
    >>> ds = load_waterbirds("~/data/waterbirds", "test")  # doctest: +SKIP
    >>> ds.class_names, ds.spurious_names  # doctest: +SKIP
    (['landbird', 'waterbird'], ['land', 'water'])
    """
    root = as_root(root)
    expected = "'train', 'val', 'test' or 'all'"
    split = check_choice(split, (*_SPLITS, "all"), "split", expected=expected)
    download = check_bool(download, "download")
    if download and not (root / "metadata.csv").is_file():
        from bottlekit.datasets.download import download_dataset

        download_dataset("waterbirds", root.parent, checksum=checksum)
    if not root.is_dir():
        raise MissingDatasetError(f"{root}: Waterbirds folder not found; {_HINT}")
    require_dataset_file(root, "metadata.csv", _HINT)  # names the right folder if one is near
    meta = read_metadata(root / "metadata.csv")
    rows = [r for r in meta if split == "all" or r[3] == _SPLITS[split]]
    if not rows:
        raise DatasetFormatError(f"{root / 'metadata.csv'}: no rows of split {split!r}")
    paths = [listed_path(root, r[1], root / "metadata.csv", r[0]) for r in rows]
    missing_images(paths, root / "metadata.csv")
    y = np.array([r[2] for r in rows], np.int64)
    place = np.array([r[4] for r in rows], np.int64)
    fields: dict[str, Any] = {}
    skipped: dict[str, int] = {}
    if cub_root is not None:
        from bottlekit.datasets.cub import _read_cub

        cub, locs = _read_cub(
            cub_root,
            "all",
            attributes=attributes,
            image_size=None,
            part_radius=part_radius,
            min_classes=None,
            download=False,
            checksum=None,
            warn_no_visible=False,
        )
        cub_paths = list(cub.image_source.paths or [])
        index: dict[str, list[int]] = {}
        for i, p in enumerate(cub_paths):
            index.setdefault(Path(*Path(p).parts[-2:]).as_posix(), []).append(i)
        at = []
        for r in rows:
            found = index.get(Path(r[1]).as_posix(), [])
            if len(found) > 1:  # the last of them was taken, silently: maybe another bird
                a, b = found[:2]
                raise DatasetFormatError(
                    f"{root / 'metadata.csv'}, line {r[0]}: img_filename {r[1]!r} matches "
                    f"{len(found)} CUB images, image id {int(locs.image_ids[a])} "
                    f"({cub_paths[a]}) and image id {int(locs.image_ids[b])} "
                    f"({cub_paths[b]}); expected one: rows are joined to CUB's images by "
                    "'<class folder>/<file>', which must name one image of images.txt"
                )
            at.append(found[0] if found else None)
        keep = np.array([a is not None for a in at])
        if not keep.all():
            skipped["images not in CUB (no attributes)"] = int((~keep).sum())
            warnings.warn(
                f"Waterbirds {split}: {int((~keep).sum())} image(s) are not CUB images and are "
                f"left out (first: {rows[int(np.flatnonzero(~keep)[0])][1]})",
                stacklevel=2,
            )
        rows = [r for r, k in zip(rows, keep, strict=True) if k]
        paths = [p for p, k in zip(paths, keep, strict=True) if k]
        y, place = y[keep], place[keep]
        idx = np.array([a for a in at if a is not None], np.int64)
        sub, locs = cub.subset(idx), locs.take(idx)
        kp, bx = sub.part_keypoints, sub.object_boxes
        fields = {
            "concept_names": sub.concept_names,
            "concept_labels": sub.concept_labels,
            "concept_certainty": sub.concept_certainty,
            "part_names": sub.part_names,
            "part_of_concept": sub.part_of_concept,
            "keypoint_names": sub.keypoint_names,
        }
    images: Any = paths
    if image_size is not None:
        H, W = _size(image_size)
        images = ResizedImages(paths, (H, W))
        if cub_root is not None:
            from bottlekit.datasets.cub import (
                BOX_CLIPPED_KEY,
                CUB_PART_GROUPS,
                OUTSIDE_KEY,
                _fit_parts,
            )
            from bottlekit.datasets.lazy import KeypointPartMasks

            # the birds keep their CUB coordinates: checked against, and scaled from,
            # the Waterbirds images' sizes (those of the CUB images)
            kp, bx, outside, clipped = _fit_parts(paths, kp, bx, (H, W), locs, stacklevel=3)
            if outside:
                skipped[OUTSIDE_KEY] = outside
            if clipped:
                skipped[BOX_CLIPPED_KEY] = clipped
            names = fields["keypoint_names"]
            groups = [
                g if g == "box" else [names.index(x) for x in g] for g in CUB_PART_GROUPS.values()
            ]
            fields["part_masks"] = KeypointPartMasks(kp, bx, groups, (H, W), part_radius)
    if cub_root is not None:
        fields["part_keypoints"], fields["object_boxes"] = kp, bx
        # counted on this split's rows (CUB's own counts are of all its images)
        no_visible = int((kp[..., 2] == 0).all(1).sum())
        skipped["keypoints not visible"] = int((kp[..., 2] == 0).sum())
        skipped["images without a visible keypoint"] = no_visible
        if no_visible:
            warnings.warn(
                f"Waterbirds {split}: {no_visible} image(s) have no visible keypoint (empty "
                "part masks)",
                stacklevel=2,
            )
    return ConceptDataset(
        images,
        labels=y,
        class_names=["landbird", "waterbird"],
        spurious_labels=place,
        spurious_names=["land", "water"],
        split=split,
        skipped=skipped or None,
        **fields,
    )
