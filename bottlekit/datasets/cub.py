"""CUB-200-2011 (Wah et al. 2011): 200 bird species, 312 attributes with certainty, 15 part
keypoints and a bounding box per image, read from the files of the official release."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bottlekit._arrays import as_real_array
from bottlekit._checks import (
    check_bool,
    check_choice,
    check_number,
    check_positive_int,
    shown_value,
)
from bottlekit.datasets._parsing import (
    DatasetFormatError,
    MissingDatasetError,
    as_root,
    listed_key,
    listed_path,
    missing_images,
    note_first_line,
    parse_float,
    parse_int,
    read_rows,
    require_dataset_file,
    require_file,
)
from bottlekit.datasets.concept_dataset import ConceptDataset
from bottlekit.datasets.lazy import KeypointPartMasks, ResizedImages, _size

__all__ = [
    "CUB_PART_GROUPS",
    "KOH_112_ATTRIBUTES",
    "koh_attribute_subset",
    "load_cub",
    "part_of_attribute",
]

#: The 112 attributes of Koh et al. (2020), 0-based indices into CUB's 312 (the lines of
#: ``attributes.txt``), as their reference code lists them (``generate_new_data.py``,
#: ``get_class_attributes_data``) and as their released ``CUB_processed`` data (used by
#: Post-hoc CBM and the later papers) has them. Their rule produced this list on a random,
#: unseeded 80 % of the training images; rerun on other images it keeps a different set
#: (109 attributes in yewsiang/ConceptBottleneck issue #29), so ``attributes="koh112"``
#: takes the list itself on the release.
KOH_112_ATTRIBUTES: tuple[int, ...] = (
    1, 4, 6, 7, 10, 14, 15, 20, 21, 23, 25, 29, 30, 35, 36, 38, 40, 44, 45, 50, 51, 53,
    54, 56, 57, 59, 63, 64, 69, 70, 72, 75, 80, 84, 90, 91, 93, 99, 101, 106, 110, 111,
    116, 117, 119, 125, 126, 131, 132, 134, 145, 149, 151, 152, 153, 157, 158, 163, 164,
    168, 172, 178, 179, 181, 183, 187, 188, 193, 194, 196, 198, 202, 203, 208, 209, 211,
    212, 213, 218, 220, 221, 225, 235, 236, 238, 239, 240, 242, 243, 244, 249, 253, 254,
    259, 260, 262, 268, 274, 277, 283, 289, 292, 293, 294, 298, 299, 304, 305, 308, 309,
    310, 311,
)  # fmt: skip
N_CUB_ATTRIBUTES = 312  # in the release's attributes.txt

#: The parts CUB's attributes belong to, as groups of its 15 keypoints ("box": the
#: bounding box, for attributes of the whole bird: size, shape, primary colour).
CUB_PART_GROUPS: dict[str, Any] = {
    "back": ["back"],
    "beak": ["beak"],
    "belly": ["belly"],
    "breast": ["breast"],
    "crown": ["crown"],
    "eyes": ["left eye", "right eye"],
    "forehead": ["forehead"],
    "head": ["crown", "forehead", "nape", "left eye", "right eye"],
    "legs": ["left leg", "right leg"],
    "nape": ["nape"],
    "tail": ["tail"],
    "throat": ["throat"],
    "underparts": ["belly", "breast", "throat"],
    "upperparts": ["back", "nape", "crown"],
    "wings": ["left wing", "right wing"],
    "bird": "box",
}

# attribute group ("has_wing_color") -> part group
_ATTRIBUTE_PART = {
    "bill_shape": "beak",
    "bill_length": "beak",
    "bill_color": "beak",
    "wing_color": "wings",
    "wing_shape": "wings",
    "wing_pattern": "wings",
    "upperparts_color": "upperparts",
    "underparts_color": "underparts",
    "breast_pattern": "breast",
    "breast_color": "breast",
    "back_color": "back",
    "back_pattern": "back",
    "tail_shape": "tail",
    "upper_tail_color": "tail",
    "under_tail_color": "tail",
    "tail_pattern": "tail",
    "head_pattern": "head",
    "throat_color": "throat",
    "eye_color": "eyes",
    "forehead_color": "forehead",
    "nape_color": "nape",
    "belly_color": "belly",
    "belly_pattern": "belly",
    "leg_color": "legs",
    "crown_color": "crown",
    "size": "bird",
    "shape": "bird",
    "primary_color": "bird",
}

_HINT = (
    "CUB-200-2011 is at https://data.caltech.edu/records/65de6-vp158 (CUB_200_2011.tgz); "
    "pass the extracted CUB_200_2011 folder as root, or download=True"
)
N_KEYPOINTS = 15


def part_of_attribute(name: str) -> str | None:
    """The part group (a key of :data:`CUB_PART_GROUPS`) of a CUB attribute name.

    Parameters
    ----------
    name : str
        An attribute of CUB's ``attributes.txt`` (``has_wing_color::blue``).

    Returns
    -------
    str or None
        The part group, or None for an attribute of no part group.

    Examples
    --------
    >>> part_of_attribute("has_wing_color::blue"), part_of_attribute("has_size::small_(5_-_9_in)")
    ('wings', 'bird')
    """
    group = name.split("::", 1)[0]
    group = group[4:] if group.startswith("has_") else group
    return _ATTRIBUTE_PART.get(group)


def koh_attribute_subset(
    labels: Any,
    classes: Any,
    n_classes: int,
    min_classes: int = 10,
    certainty: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The attribute subset of Koh et al. (2020), *Concept Bottleneck Models*.

    As their reference code (``data_processing.py``) does: per class, each attribute is
    denoised by majority vote over the class's images, where a "not present" label given
    with certainty 1 ("not visible") is not counted, and a tie (including no counted
    label at all) counts as present; an attribute is kept when it is present, after the
    vote, in at least ``min_classes`` classes. The paper reports 112 attributes
    (:data:`KOH_112_ATTRIBUTES`); its vote ran on its own random 80 % sub-split of CUB's
    training images, so the rule on other images keeps a somewhat different set
    (:func:`load_cub` votes on the whole training split and, on the release, keeps the
    paper's list).

    Parameters
    ----------
    labels : 0/1 array (n, k)
        Per-image attribute labels (the training images).
    classes : int array (n,)
        Class index of each image.
    n_classes : int
        Number of classes; ``classes`` must lie in ``0 .. n_classes - 1``.
    min_classes : int, default 10
        An attribute is kept when it is present, after the vote, in at least this many
        classes (>= 1).
    certainty : int array (n, k), optional
        CUB's certainty ids (1 not visible, ... 4 definitely); without it every label
        counts.

    Returns
    -------
    kept : int array
        Indices of the kept attributes.
    class_labels : 0/1 uint8 array (n_classes, k)
        The vote of every attribute in every class.

    Examples
    --------
    >>> import numpy as np
    >>> L = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    >>> kept, votes = koh_attribute_subset(L, [0, 0, 1, 1], 2, min_classes=2)
    >>> kept.tolist(), votes.tolist()
    ([1], [[1, 1], [0, 1]])
    >>> cert = np.array([[4, 4], [4, 4], [1, 4], [1, 4]])  # class 1, attribute 0: not visible
    >>> koh_attribute_subset(L, [0, 0, 1, 1], 2, 2, certainty=cert)[1].tolist()
    [[1, 1], [1, 1]]
    """
    n_classes = check_positive_int(n_classes, "n_classes")
    min_classes = check_positive_int(min_classes, "min_classes")
    L = _int_array(labels, "labels", 2, 0, 1)
    y = _int_array(classes, "classes", 1, 0, n_classes - 1)
    if len(y) != len(L):
        raise ValueError(
            f"classes: expected {len(L)} class indices (one per row of labels), got {len(y)}"
        )
    counted = np.ones_like(L, dtype=bool)
    if certainty is not None:
        cert = _int_array(certainty, "certainty", 2, 1, 4)
        if cert.shape != L.shape:
            raise ValueError(f"certainty: expected shape {L.shape} (as labels), got {cert.shape}")
        counted = ~((L == 0) & (cert == 1))
    ones = np.zeros((n_classes, L.shape[1]), np.int64)
    zeros = np.zeros((n_classes, L.shape[1]), np.int64)
    np.add.at(ones, y, L * counted)
    np.add.at(zeros, y, (1 - L) * counted)
    votes = (ones >= zeros).astype(np.uint8)
    kept = np.flatnonzero(votes.sum(0) >= min_classes)
    return kept, votes


def _int_array(values: Any, name: str, ndim: int, low: int, high: int) -> np.ndarray:
    """``values`` as an int64 array of ``ndim`` dimensions, every value in [low, high]."""
    a = as_real_array(values, name)
    if a.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d array, got shape {a.shape}")
    bad = ~np.isin(a, np.arange(low, high + 1))
    if bad.any():
        raise ValueError(
            f"{name}: expected integers in {low}..{high}, got {a[bad][0].item()!r} at index "
            f"{tuple(int(i) for i in np.argwhere(bad)[0])}"
        )
    return a.astype(np.int64)


def _id_table(
    path: Path, what: str, hint: str, lines: dict[int, int] | None = None, files: bool = False
) -> dict[int, str]:
    """``{id: name}`` of an ``<id> <name>`` file (and, into ``lines``, each id's line);
    ``files``: the names are file paths, two spellings of one path the same name."""
    out: dict[int, str] = {}
    first_line: dict[str, int] = {}
    for line, (i, name) in read_rows(path, 2, max_split=1, hint=hint):
        key = parse_int(i, path, line, f"{what} id", low=1)
        if key in out:
            raise DatasetFormatError(f"{path}, line {line}: {what} id {key} is listed twice")
        name = name.strip()
        key_name = listed_key(name) if files else name
        note_first_line(first_line, key_name, path, line, what, "unique names")
        out[key] = name
        if lines is not None:
            lines[key] = line
    if not out:
        raise DatasetFormatError(f"{path}: the file is empty; expected one {what} per line")
    return out


def _names_by_id(path: Path, what: str, hint: str) -> list[str]:
    """The names of an ``<id> <name>`` file whose ids are 1..n (in any line order), in id
    order: the other files refer to them by id (``attribute id``, ``part id``, ``class
    id``), not by line."""
    lines: dict[int, int] = {}
    table = _id_table(path, what, hint, lines)
    n = len(table)
    beyond = next((i for i in table if i > n), None)
    if beyond is not None:  # the ids are distinct: one above n means one of 1..n is absent
        absent = next(i for i in range(1, n + 1) if i not in table)
        raise DatasetFormatError(
            f"{path}, line {lines[beyond]}: {what} id {beyond} is out of range; expected the "
            f"ids 1..{n}, one per line (id {absent} has no line)"
        )
    return [table[i] for i in range(1, n + 1)]


def _box(values: list[str], path: Path, line: int) -> list[float]:
    """``x y width height`` of a ``bounding_boxes.txt`` line: finite numbers, the sizes
    > 0 (a box of no area holds no bird: its "bird" part mask was empty, silently)."""
    box = [parse_float(v, path, line, "box") for v in values]
    if box[2] <= 0 or box[3] <= 0:
        raise DatasetFormatError(
            f"{path}, line {line}: box width and height are {box[2]:g}, {box[3]:g}; expected "
            "sizes > 0"
        )
    return box


def _per_image(
    path: Path, ids: dict[int, int], n_values: int, what: str
) -> list[tuple[int, list[str]]]:
    """``(line, fields after the image id)`` for each image (in ``ids`` order)."""
    rows: list[tuple[int, list[str]] | None] = [None] * len(ids)
    for line, fields in read_rows(path, n_values + 1, hint=_HINT):
        i = parse_int(fields[0], path, line, "image id", low=1)
        if i not in ids:
            raise DatasetFormatError(f"{path}, line {line}: image id {i} is not in images.txt")
        if rows[ids[i]] is not None:
            raise DatasetFormatError(
                f"{path}, line {line}: image id {i} is listed twice (first on line "
                f"{rows[ids[i]][0]}); expected one line per image"  # type: ignore[index]
            )
        rows[ids[i]] = (line, fields[1:])
    missing = [i for i, pos in ids.items() if rows[pos] is None]
    if missing:
        raise DatasetFormatError(
            f"{path}: no {what} for {len(missing)} image(s) of images.txt, first image id "
            f"{missing[0]} (truncated file?)"
        )
    return rows  # type: ignore[return-value]


def _attributes_file(root: Path) -> Path:
    for p in (root / "attributes.txt", root / "attributes" / "attributes.txt"):
        if p.is_file():
            return p
    return root.parent / "attributes.txt"  # the release puts it next to CUB_200_2011/


def _attribute_labels(path: Path, ids: dict[int, int], k: int) -> tuple[np.ndarray, np.ndarray]:
    """is_present and certainty_id of every (image, attribute) of the file."""
    n = len(ids)
    present = np.zeros((n, k), np.uint8)
    certainty = np.zeros((n, k), np.uint8)
    seen = np.zeros((n, k), bool)
    # image_id attribute_id is_present certainty_id time; a few lines of the released
    # file have one more column, so 5 or 6 are accepted and the first four are read.
    for line, f in read_rows(path, (5, 6), hint=_HINT):
        i = parse_int(f[0], path, line, "image id", low=1)
        if i not in ids:
            raise DatasetFormatError(f"{path}, line {line}: image id {i} is not in images.txt")
        a = parse_int(f[1], path, line, "attribute id", low=1, high=k) - 1
        r = ids[i]
        if seen[r, a]:
            raise DatasetFormatError(
                f"{path}, line {line}: image id {i} attribute id {a + 1} is listed twice; "
                "expected one line per (image, attribute)"
            )
        present[r, a] = parse_int(f[2], path, line, "is_present", low=0, high=1)
        certainty[r, a] = parse_int(f[3], path, line, "certainty_id", low=1, high=4)
        seen[r, a] = True
    if not seen.all():
        r, a = np.argwhere(~seen)[0]
        image_id = next(i for i, pos in ids.items() if pos == r)
        raise DatasetFormatError(
            f"{path}: {int((~seen).sum())} (image, attribute) pairs have no line, first image "
            f"id {image_id} attribute id {a + 1} (truncated file?)"
        )
    return present, certainty


def load_cub(
    root: str | os.PathLike,
    split: str = "train",
    *,
    attributes: str | Sequence[str] = "all",
    image_size: int | Sequence[int] | None = None,
    part_radius: float = 0.1,
    min_classes: int | None = None,
    download: bool = False,
    checksum: str | None = None,
) -> ConceptDataset:
    """CUB-200-2011 as a :class:`ConceptDataset`.

    Reads ``images.txt``, ``image_class_labels.txt``, ``classes.txt``,
    ``train_test_split.txt``, ``bounding_boxes.txt``, ``attributes.txt`` (in ``root``, in
    ``root/attributes`` or, as the release ships it, next to ``root``),
    ``attributes/image_attribute_labels.txt``,
    ``attributes/class_attribute_labels_continuous.txt``, ``parts/parts.txt`` and
    ``parts/part_locs.txt``; images are ``images/<path of images.txt>``, left on disk.

    The result has, per image, the 312 attribute labels (``is_present``) with their
    certainty (1 not visible, 2 guessing, 3 probably, 4 definitely), the 15 keypoints
    ``(x, y, visible)`` (``keypoint_names``) and the bounding box (``object_boxes``); per
    class, the continuous attribute rates (``class_concept_matrix``, in [0, 1]). Each
    attribute belongs to a part (:data:`CUB_PART_GROUPS`): "has_wing_color::blue" to
    "wings" (left and right wing keypoints), "has_size::..." to "bird" (the bounding box).

    With ``image_size`` the images are resized to that size when loaded, keypoints and
    boxes are scaled to it, and ``part_masks`` are drawn from them lazily (see
    :class:`~bottlekit.datasets.KeypointPartMasks`): the mask of a part is the union of
    discs of radius ``max(1, part_radius * sqrt(box_w * box_h))`` around the part's
    *visible* keypoints, empty when none is visible (the location metric then does not
    score that part in that image); the part "bird" is the bounding box. Each image's
    size is then read from its header (once: it gives the scale too), and a visible
    keypoint outside its image (``x`` not in ``0..width`` or ``y`` not in ``0..height``;
    the release has a few) is made not visible, counted in ``skipped`` and warned of,
    the first named by its line of ``part_locs.txt``; a box that extends past its image
    is clipped to it, counted and warned of in the same way (one that does not overlap
    its image is refused). Boxes must be finite with a width and height > 0 (else
    :class:`DatasetFormatError` naming the line of ``bounding_boxes.txt``). Without
    ``image_size`` no image is read and there are no masks: keypoints and boxes are the
    files' own, in the original pixels.

    Parameters
    ----------
    root : path
        The ``CUB_200_2011`` folder.
    split : {"train", "test", "all"}, default "train"
        ``train_test_split.txt``'s split.
    attributes : "all", "koh112" or list of str, default "all"
        "all": the 312 attributes with per-image labels. "koh112": the 112 attributes of
        Koh et al. (2020) (:data:`KOH_112_ATTRIBUTES`, the list of their code and
        released data) with their class-level vote as labels, as the paper trains on
        (:func:`koh_attribute_subset` on the *training* images, "not visible" absences
        not counted). On a CUB whose ``attributes.txt`` does not have the release's 312
        attributes, or with ``min_classes`` given, the subset is re-derived by their
        rule instead: kept when present, after the vote, in ``min_classes`` classes. A
        list: those attribute names.
    image_size : int or (height, width), optional
        Resize the images to this size (pixels; an int gives a square) when loaded,
        scale keypoints and boxes to it and draw ``part_masks``; None: no image is read
        and there are no masks.
    part_radius : float, default 0.1
        Disc radius of the part masks as a fraction of ``sqrt(box_w * box_h)`` (> 0;
        used only with ``image_size``).
    min_classes : int, optional
        The Koh rule's threshold (only with ``attributes="koh112"``): given, the subset
        is re-derived by the rule on the training split (which need not give the
        paper's 112); None: the paper's list on the release, the rule with 10 on
        another attribute file.
    download : bool, default False
        Fetch and extract the archive into ``root``'s parent first if ``root`` is missing
        (see :mod:`bottlekit.datasets.download`).
    checksum : str, optional
        sha256 or md5 of the archive (the table has CUB's md5; a given one is checked too).

    Returns
    -------
    ConceptDataset
        ``skipped`` counts the keypoints not visible and the images without any visible
        keypoint (their part masks are empty), and, with ``image_size``, the visible
        keypoints outside their image made not visible and the boxes clipped to their
        image, if any.

    Examples
    --------
    >>> ds = load_cub("~/data/CUB_200_2011", "test", image_size=224)  # doctest: +SKIP
    >>> ds.n_concepts, ds.part_names[:3]  # doctest: +SKIP
    (312, ['back', 'beak', 'belly'])
    """
    return _read_cub(
        root,
        split,
        attributes=attributes,
        image_size=image_size,
        part_radius=part_radius,
        min_classes=min_classes,
        download=download,
        checksum=checksum,
    )[0]


def _read_cub(
    root: str | os.PathLike,
    split: str,
    *,
    attributes: str | Sequence[str],
    image_size: int | Sequence[int] | None,
    part_radius: float,
    min_classes: int | None,
    download: bool,
    checksum: str | None,
    stacklevel: int = 4,
    warn_no_visible: bool = True,
) -> tuple[ConceptDataset, _PartLocs]:
    """:func:`load_cub`'s dataset and where its rows' keypoints come from (for
    :func:`~bottlekit.datasets.load_waterbirds`, which scales them to its own images);
    warnings are given ``stacklevel`` (that of the public caller). Without
    ``warn_no_visible``, the images without a visible keypoint are counted, not warned
    of (Waterbirds, which reads all of CUB, warns of those of its own rows)."""
    root = as_root(root)
    expected = "'train', 'test' or 'all'"
    split = check_choice(split, ("train", "test", "all"), "split", expected=expected)
    download = check_bool(download, "download")
    part_radius = check_number(part_radius, "part_radius", low=0, low_open=True)
    if min_classes is not None:
        min_classes = check_number(
            min_classes, "min_classes", integer=True, low=1, type_error=True
        )
        if not (isinstance(attributes, str) and attributes == "koh112"):
            raise ValueError(  # it was ignored, silently
                f"min_classes: the threshold of Koh et al.'s rule, used only with "
                f"attributes='koh112'; got attributes={shown_value(attributes)}"
            )
    if isinstance(attributes, (list, tuple)) and not attributes:
        raise ValueError("attributes: expected 'all', 'koh112' or attribute names, got []")
    if download and not (root / "images.txt").is_file():
        from bottlekit.datasets.download import download_dataset

        download_dataset("cub", root.parent, checksum=checksum)
    if not root.is_dir():
        raise MissingDatasetError(f"{root}: CUB folder not found; {_HINT}")
    require_dataset_file(root, "images.txt", _HINT)  # names the right folder if one is near

    image_lines: dict[int, int] = {}
    images = _id_table(root / "images.txt", "image", _HINT, image_lines, files=True)
    ids = {i: pos for pos, i in enumerate(images)}
    classes = _names_by_id(root / "classes.txt", "class", _HINT)
    C = len(classes)
    p = root / "image_class_labels.txt"
    y = np.array(
        [
            parse_int(r[0], p, line, "class id", 1, C) - 1
            for line, r in _per_image(p, ids, 1, "class")
        ],
        np.int64,
    )
    p = root / "train_test_split.txt"
    is_train = np.array(
        [
            parse_int(r[0], p, line, "is_training_image", 0, 1)
            for line, r in _per_image(p, ids, 1, "split")
        ],
        bool,
    )
    box_path = root / "bounding_boxes.txt"
    box_rows = _per_image(box_path, ids, 4, "bounding box")
    boxes = np.array([_box(r, box_path, line) for line, r in box_rows], np.float64).reshape(-1, 4)
    box_lines = np.array([line for line, _ in box_rows], np.int64)
    attr_path = require_file(_attributes_file(root), _HINT)
    attr_names = _names_by_id(attr_path, "attribute", _HINT)
    k = len(attr_names)
    present, certainty = _attribute_labels(
        root / "attributes" / "image_attribute_labels.txt", ids, k
    )
    p = root / "attributes" / "class_attribute_labels_continuous.txt"
    rates = np.array(
        [
            [parse_float(v, p, line, f"column {j + 1}", 0, 100) for j, v in enumerate(f)]
            for line, f in read_rows(p, k, hint=_HINT)
        ],
        np.float64,
    ).reshape(-1, k)
    if len(rates) != C:
        raise DatasetFormatError(f"{p}: expected {C} lines (one per class), got {len(rates)}")
    kp_names = _names_by_id(root / "parts" / "parts.txt", "part", _HINT)
    kp_path = root / "parts" / "part_locs.txt"
    keypoints, kp_lines = _keypoints(kp_path, ids, len(kp_names))

    rows = np.flatnonzero(
        {"train": is_train, "test": ~is_train, "all": np.ones_like(is_train)}[split]
    )
    if not rows.size:
        raise DatasetFormatError(
            f"{root / 'train_test_split.txt'}: no image is in split {split!r}; expected some "
            "lines with is_training_image " + ("1" if split == "train" else "0")
        )
    paths = [
        listed_path(root / "images", images[i], root / "images.txt", image_lines.get(i))
        for i in np.array(list(images))[rows]
    ]
    missing_images(paths, root / "images.txt")

    labels, cert = present, certainty
    class_matrix = rates / 100.0
    if isinstance(attributes, str) and attributes == "koh112":
        threshold = 10 if min_classes is None else min_classes
        kept, votes = koh_attribute_subset(
            present[is_train], y[is_train], C, threshold, certainty[is_train]
        )
        if min_classes is None and k == N_CUB_ATTRIBUTES:
            # the paper's list: its rule, rerun here on other images, keeps another set
            kept = np.array(KOH_112_ATTRIBUTES, np.int64)
        if not kept.size:  # an empty concept list failed later, far from its cause
            most = int(votes.sum(0).max()) if votes.size else 0
            raise ValueError(
                f"attributes='koh112': no attribute is present (after the class vote) in at "
                f"least min_classes={threshold} of the {C} classes (at most {most}); "
                f"expected a CUB with enough classes, or pass a lower min_classes (<= {most})"
                if most
                else f"attributes='koh112': no attribute is present in any of the {C} "
                "classes' training images; expected some present labels in "
                "image_attribute_labels.txt"
            )
        labels = votes[y][:, kept]
        cert = certainty[:, kept]
        class_matrix = class_matrix[:, kept]
    elif isinstance(attributes, str) and attributes == "all":
        kept = np.arange(k)
    elif isinstance(attributes, (list, tuple)):
        unknown = [a for a in attributes if a not in attr_names]
        if unknown:
            raise ValueError(f"attributes: {unknown[:3]} are not CUB attributes ({attr_path})")
        kept = np.array([attr_names.index(a) for a in attributes], np.int64)
        labels, cert, class_matrix = present[:, kept], certainty[:, kept], class_matrix[:, kept]
    else:
        raise ValueError(
            f"attributes: expected 'all', 'koh112' or a list of names, got {attributes!r}"
        )
    if labels is present:
        labels = present[:, kept]
    names = [attr_names[j] for j in kept]

    part_names = list(CUB_PART_GROUPS)
    unknown_kp = [
        k_name
        for g in CUB_PART_GROUPS.values()
        if g != "box"
        for k_name in g
        if k_name not in kp_names
    ]
    if unknown_kp:
        raise DatasetFormatError(
            f"{root / 'parts' / 'parts.txt'}: parts {sorted(set(unknown_kp))} are missing"
        )
    part_of = [
        part_names.index(g) if (g := part_of_attribute(nm)) is not None else -1 for nm in names
    ]
    kp, bx = keypoints[rows], boxes[rows]
    locs = _PartLocs(
        kp_path,
        kp_lines[rows],
        np.array(list(images))[rows],
        kp_names,
        box_path,
        box_lines[rows],
    )
    imgs: Any = paths
    masks = None
    outside = clipped = 0
    if image_size is not None:
        H, W = _size(image_size)
        kp, bx, outside, clipped = _fit_parts(paths, kp, bx, (H, W), locs, stacklevel)
        imgs = ResizedImages(paths, (H, W))
        groups = [
            g if g == "box" else [kp_names.index(x) for x in g] for g in CUB_PART_GROUPS.values()
        ]
        masks = KeypointPartMasks(kp, bx, groups, (H, W), radius=part_radius)
    invisible = int((kp[..., 2] == 0).sum())
    no_visible = int((kp[..., 2] == 0).all(1).sum())
    skipped = {"keypoints not visible": invisible, "images without a visible keypoint": no_visible}
    if outside:
        skipped[OUTSIDE_KEY] = outside
    if clipped:
        skipped[BOX_CLIPPED_KEY] = clipped
    if no_visible and warn_no_visible:
        warnings.warn(
            f"CUB {split}: {no_visible} image(s) have no visible keypoint (empty part masks)",
            stacklevel=stacklevel - 1,
        )
    dataset = ConceptDataset(
        imgs,
        labels=y[rows],
        class_names=classes,
        concept_names=names,
        concept_labels=labels[rows],
        concept_certainty=cert[rows],
        class_concept_matrix=class_matrix,
        part_masks=masks,
        part_keypoints=kp,
        keypoint_names=kp_names,
        part_names=part_names,
        part_of_concept=part_of,
        object_boxes=bx,
        split=split,
        skipped=skipped,
    )
    return dataset, locs


def _keypoints(path: Path, ids: dict[int, int], P: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y, visible)`` of every (image, part) of ``part_locs.txt``, shape (n, P, 3),
    and the line of the file each came from, shape (n, P)."""
    kp = np.zeros((len(ids), P, 3), np.float64)
    lines = np.zeros((len(ids), P), np.int64)
    for line, f in read_rows(path, 5, hint=_HINT):
        i = parse_int(f[0], path, line, "image id", low=1)
        if i not in ids:
            raise DatasetFormatError(f"{path}, line {line}: image id {i} is not in images.txt")
        p = parse_int(f[1], path, line, "part id", 1, P) - 1
        r = ids[i]
        if lines[r, p]:
            raise DatasetFormatError(
                f"{path}, line {line}: image id {i} part id {p + 1} is listed twice; "
                "expected one line per (image, part)"
            )
        kp[r, p] = [
            parse_float(f[2], path, line, "x"),
            parse_float(f[3], path, line, "y"),
            parse_int(f[4], path, line, "visible", 0, 1),
        ]
        lines[r, p] = line
    seen = lines > 0
    if not seen.all():
        r = int(np.flatnonzero(~seen.all(1))[0])
        image_id = next(i for i, pos in ids.items() if pos == r)
        raise DatasetFormatError(
            f"{path}: expected {P} lines (one per part) for each image; image id {image_id} "
            f"has {int(seen[r].sum())} (truncated file?)"
        )
    return kp, lines


@dataclass(frozen=True)
class _PartLocs:
    """Where the keypoints and boxes of a CUB dataset's rows come from, for the errors and
    warnings about them: ``part_locs.txt``, the line of each (row, keypoint), each row's
    image id, the keypoint names, ``bounding_boxes.txt`` and the line of each row's box."""

    path: Path
    lines: np.ndarray
    image_ids: np.ndarray
    names: list[str]
    box_path: Path
    box_lines: np.ndarray

    def take(self, rows: np.ndarray) -> _PartLocs:
        """Those of ``rows``."""
        return _PartLocs(
            self.path,
            self.lines[rows],
            self.image_ids[rows],
            self.names,
            self.box_path,
            self.box_lines[rows],
        )


def _image_sizes(paths: Sequence[Path]) -> np.ndarray:
    """(width, height) of each image, read from its header (the pixels are not decoded)."""
    from PIL import Image

    out = np.empty((len(paths), 2))
    for r, p in enumerate(paths):
        try:
            with Image.open(p) as im:
                out[r] = im.size
        except (OSError, Image.DecompressionBombError) as e:
            raise ValueError(f"{p}: cannot read the image: {e}") from e
    return out


#: Name of the count, in ``skipped``, of the visible keypoints outside their image.
OUTSIDE_KEY = "visible keypoints outside their image (made not visible)"
#: Name of the count, in ``skipped``, of the bounding boxes that extend past their image.
BOX_CLIPPED_KEY = "bounding boxes extending past their image (clipped to it)"


def _fit_parts(
    paths: Sequence[Path],
    keypoints: np.ndarray,
    boxes: np.ndarray,
    size: tuple[int, int],
    locs: _PartLocs,
    stacklevel: int,
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Keypoints and boxes of the images ``paths`` scaled from each image's own size to
    ``size`` (height, width), with one read of each image's header; a visible keypoint
    outside its image is made not visible (``0 0 0``, as CUB writes those), with a
    warning naming the first (file, line, image, value and the range expected), and
    counted (the third value returned). A box that extends past its image is clipped to
    it, warned of in the same way and counted (the fourth value); one that does not
    overlap its image at all is refused (:class:`DatasetFormatError` naming its line).

    The release has some such keypoints (ChainerCV's CUB point dataset marks them not
    visible for that reason); a disc drawn around one would be cut by the image's edge,
    a part mask partly empty, silently. Boxes: TensorFlow Datasets' CUB builder clamps
    the release's boxes to the image (``min(xmax / width, 1.0)``, its ``BBox`` refusing
    a value above 1), so a box a little past the edge is taken for an annotation's
    overshoot, not a broken file; unclipped, it made the "bird" mask cover less of the
    box than its area, and ``sqrt(w * h)`` (the keypoint discs' radius) larger.
    """
    H, W = size
    wh = _image_sizes(paths)  # (n, 2): width, height
    kp = keypoints.copy()
    x, y = kp[..., 0], kp[..., 1]
    w, h = wh[:, None, 0], wh[:, None, 1]
    outside = (kp[..., 2] > 0) & ((x < 0) | (x > w) | (y < 0) | (y > h))
    n_out = int(outside.sum())
    if n_out:
        r, p = (int(v) for v in np.argwhere(outside)[0])
        iw, ih = (int(v) for v in wh[r])
        warnings.warn(
            f"{locs.path}, line {int(locs.lines[r, p])}: image id {int(locs.image_ids[r])} "
            f"({paths[r]}, {iw}x{ih} pixels) has its visible keypoint "
            f"{locs.names[p]!r} at x={x[r, p]:g}, y={y[r, p]:g}, outside the image; "
            f"expected x in 0..{iw} and y in 0..{ih}. {n_out} visible keypoint(s) outside "
            "their image are made not visible (their part masks leave them out)",
            UserWarning,
            stacklevel=stacklevel,
        )
        kp[outside] = 0
    bx, n_clipped = _clip_boxes(paths, boxes, wh, locs, stacklevel + 1)
    sx, sy = W / wh[:, 0], H / wh[:, 1]
    kp[..., 0] *= sx[:, None]
    kp[..., 1] *= sy[:, None]
    bx = bx * np.stack([sx, sy, sx, sy], axis=1)
    return kp, bx, n_out, n_clipped


def _clip_boxes(
    paths: Sequence[Path], boxes: np.ndarray, wh: np.ndarray, locs: _PartLocs, stacklevel: int
) -> tuple[np.ndarray, int]:
    """``boxes`` (x, y, width, height, in the pixels of images of sizes ``wh``) clipped to
    their image, and how many were; :class:`DatasetFormatError` for one that does not
    overlap its image (nothing of it is left), a ``UserWarning`` naming the first clipped."""
    x1, y1 = boxes[:, 0], boxes[:, 1]
    x2, y2 = x1 + boxes[:, 2], y1 + boxes[:, 3]
    iw, ih = wh[:, 0], wh[:, 1]
    past = (x1 < 0) | (y1 < 0) | (x2 > iw) | (y2 > ih)
    if not past.any():
        return boxes, 0
    cx1, cy1 = np.clip(x1, 0, iw), np.clip(y1, 0, ih)
    cx2, cy2 = np.clip(x2, 0, iw), np.clip(y2, 0, ih)

    def where(r: int) -> str:
        return (
            f"{locs.box_path}, line {int(locs.box_lines[r])}: image id "
            f"{int(locs.image_ids[r])} ({paths[r]}, {int(iw[r])}x{int(ih[r])} pixels) has "
            f"its box x={x1[r]:g}, y={y1[r]:g}, width={boxes[r, 2]:g}, "
            f"height={boxes[r, 3]:g}"
        )

    empty = (cx2 <= cx1) | (cy2 <= cy1)
    if empty.any():
        r = int(np.flatnonzero(empty)[0])
        raise DatasetFormatError(
            f"{where(r)}, outside the image; expected a box that overlaps it (x < "
            f"{int(iw[r])}, y < {int(ih[r])}, x + width > 0, y + height > 0)"
        )
    n = int(past.sum())
    r = int(np.flatnonzero(past)[0])
    warnings.warn(
        f"{where(r)}, which extends past the image; expected x >= 0, y >= 0, x + width <= "
        f"{int(iw[r])} and y + height <= {int(ih[r])}. {n} bounding box(es) extending past "
        "their image are clipped to it",
        UserWarning,
        stacklevel=stacklevel,
    )
    return np.stack([cx1, cy1, cx2 - cx1, cy2 - cy1], axis=1), n
