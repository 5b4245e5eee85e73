"""Animals with Attributes 2 (Xian et al. 2018): 50 animal classes, 85 class-level
predicates."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bottlekit._checks import check_bool, check_choice, shown_value
from bottlekit.datasets._parsing import (
    DatasetFormatError,
    MissingDatasetError,
    as_root,
    listed_path,
    parse_float,
    parse_int,
    read_rows,
    require_dataset_file,
)
from bottlekit.datasets.concept_dataset import ConceptDataset
from bottlekit.images import IMAGE_EXTENSIONS

__all__ = ["load_awa2"]

_HINT = (
    "AwA2 is at https://cvml.ista.ac.at/AwA2/ (AwA2-data.zip); pass the extracted "
    "Animals_with_Attributes2 folder as root, or download=True"
)


def _numbered(path: Path, what: str) -> list[str]:
    """Names of a ``<id>\\t<name>`` file with ids 1..n in order."""
    names = []
    for line, (i, name) in read_rows(path, 2, max_split=1, hint=_HINT):
        expected = len(names) + 1
        parse_int(i, path, line, f"{what} id", expected, expected)
        if name.strip() in names:
            raise DatasetFormatError(
                f"{path}, line {line}: {what} {name.strip()!r} is listed twice; expected "
                "unique names"
            )
        names.append(name.strip())
    if not names:
        raise DatasetFormatError(f"{path}: the file is empty; expected one {what} per line")
    return names


def _matrix(
    path: Path, shape: tuple[int, int], valid: Callable[[float], bool], expected: str
) -> np.ndarray:
    """The ``shape`` matrix of a whitespace-separated file, each value ``valid``."""
    rows = []
    for line, f in read_rows(path, shape[1], hint=_HINT):
        row = [parse_float(v, path, line, f"column {j + 1}") for j, v in enumerate(f)]
        bad = next((j for j, v in enumerate(row) if not valid(v)), None)
        if bad is not None:
            raise DatasetFormatError(
                f"{path}, line {line}: column {bad + 1} is {row[bad]}; expected {expected}"
            )
        rows.append(row)
    if len(rows) != shape[0]:
        raise DatasetFormatError(
            f"{path}: expected {shape[0]} lines (one per class), got {len(rows)}"
        )
    return np.array(rows, np.float64)


def load_awa2(
    root: str | os.PathLike,
    split: str = "all",
    *,
    classes: Sequence[str] | None = None,
    download: bool = False,
    checksum: str | None = None,
) -> ConceptDataset:
    """AwA2 as a :class:`ConceptDataset` with class-level predicates.

    Reads ``classes.txt`` and ``predicates.txt`` (``<id>\\t<name>``),
    ``predicate-matrix-binary.txt`` (50 x 85 0/1) and ``predicate-matrix-continuous.txt``
    (50 x 85 strengths, as in the file: -1 marks a missing value); images are
    ``JPEGImages/<class>/*.jpg``, left on disk. ``concept_labels`` are each image's class
    row of the binary matrix (AwA2 has no per-image annotation); ``class_concept_matrix``
    is the continuous matrix.

    Parameters
    ----------
    root : path
        The ``Animals_with_Attributes2`` folder.
    split : {"all", "trainclasses", "testclasses"}, default "all"
        The zero-shot class split of ``trainclasses.txt`` / ``testclasses.txt``.
    classes : list of str, optional
        Keep only these classes, all of them in ``split`` (labels still index all 50
        ``class_names``).
    download : bool, default False
        Fetch and extract the archive into ``root``'s parent first if
        ``root/classes.txt`` is missing (see :mod:`bottlekit.datasets.download`).
    checksum : str, optional
        sha256 or md5 of the archive. The table has no digest for AwA2, so a download is
        extracted only when one is given.

    Returns
    -------
    ConceptDataset
        The image files (read when indexed), ``labels`` indexing the 50
        ``class_names``, the 85 predicates as 0/1 ``concept_labels`` (the class row of
        the binary matrix) and the continuous matrix as ``class_concept_matrix``.

    Examples
    --------
    >>> ds = load_awa2("~/data/Animals_with_Attributes2")  # doctest: +SKIP
    >>> ds.n_classes, ds.n_concepts  # doctest: +SKIP
    (50, 85)
    """
    root = as_root(root)
    expected = "'all', 'trainclasses' or 'testclasses'"
    split = check_choice(split, ("all", "trainclasses", "testclasses"), "split", expected=expected)
    download = check_bool(download, "download")
    if classes is not None:
        try:  # a generator was consumed by the check (no class left), an array ambiguous
            names = None if isinstance(classes, (str, bytes)) else list(classes)
        except TypeError:  # 5: "'int' object is not iterable"
            names = None
        if names is None or not all(isinstance(c, str) for c in names):
            raise TypeError(
                f"classes: expected a list of class names (str), got {shown_value(classes)}"
            )
        classes = [str(c) for c in names]
        if not classes:
            raise ValueError("classes: expected at least one class name, got an empty list")
    if download and not (root / "classes.txt").is_file():
        from bottlekit.datasets.download import download_dataset

        download_dataset("awa2", root.parent, checksum=checksum)
    if not root.is_dir():
        raise MissingDatasetError(f"{root}: AwA2 folder not found; {_HINT}")
    require_dataset_file(root, "classes.txt", _HINT)  # names the right folder if one is near
    class_names = _numbered(root / "classes.txt", "class")
    for c in class_names:  # each names a folder of JPEGImages
        listed_path(root / "JPEGImages", c, root / "classes.txt", None, what="class")
    predicates = _numbered(root / "predicates.txt", "predicate")
    shape = (len(class_names), len(predicates))
    binary = _matrix(root / "predicate-matrix-binary.txt", shape, lambda v: v in (0, 1), "0 or 1")
    continuous = _matrix(  # -1 marks a missing value, as the release's README says
        root / "predicate-matrix-continuous.txt",
        shape,
        lambda v: v >= 0 or v == -1,
        "a strength >= 0, or -1 (a missing value)",
    )
    chosen = list(class_names)
    if split != "all":
        chosen = []
        for line, (n,) in read_rows(root / f"{split}.txt", 1, hint=_HINT):
            if n in chosen:
                raise DatasetFormatError(
                    f"{root / (split + '.txt')}, line {line}: class {n!r} is listed twice; its "
                    "images would be counted twice"
                )
            chosen.append(n)
        if not chosen:
            raise DatasetFormatError(
                f"{root / (split + '.txt')}: the file lists no class; expected one class name "
                "per line"
            )
    if classes is not None:
        unknown = [c for c in classes if c not in class_names]
        if unknown:
            raise ValueError(
                f"classes: {unknown[:3]} are not AwA2 classes ({root / 'classes.txt'})"
            )
        outside = [c for c in classes if c not in chosen]
        if outside:  # they would be left out silently, or leave no image at all
            raise ValueError(
                f"classes: {outside[:3]} are not in split {split!r} ({split}.txt); expected "
                "classes of the split, or split='all'"
            )
        chosen = [c for c in chosen if c in set(classes)]
    unknown = [c for c in chosen if c not in class_names]
    if unknown:
        raise DatasetFormatError(
            f"{root / (split + '.txt')}: classes {unknown[:3]} are not in classes.txt"
        )
    paths, labels = [], []
    not_images = 0
    for c in chosen:
        folder = root / "JPEGImages" / c
        if not folder.is_dir():
            raise MissingDatasetError(f"{folder}: image folder of class {c!r} not found; {_HINT}")
        entries = [f for f in folder.iterdir() if f.is_file() and not f.name.startswith(".")]
        found = sorted(f for f in entries if f.suffix.lower() in IMAGE_EXTENSIONS)
        not_images += len(entries) - len(found)
        if not found:
            raise MissingDatasetError(f"{folder}: no images of class {c!r}")
        paths += found
        labels += [class_names.index(c)] * len(found)
    y = np.array(labels, np.int64)
    return ConceptDataset(
        paths,
        labels=y,
        class_names=class_names,
        concept_names=predicates,
        concept_labels=binary[y].astype(np.uint8),
        class_concept_matrix=continuous,
        split=split,
        skipped={"files that are not images": not_images},
    )
