"""HAM10000 (Tschandl et al. 2018): dermatoscopic images of 7 diagnoses, with the patient
metadata as attributes (KnoBo's medical setting) and the lesion of each image as its group."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bottlekit._checks import check_choice
from bottlekit.datasets._parsing import (
    DatasetFormatError,
    MissingDatasetError,
    as_root,
    ascii_float,
    csv_rows,
    header_columns,
    listed_path,
    note_first_line,
    require_dataset_file,
)
from bottlekit.datasets.concept_dataset import ConceptDataset

__all__ = ["HAM10000_DIAGNOSES", "load_ham10000"]

#: Diagnosis codes of the ``dx`` column, in label order.
HAM10000_DIAGNOSES = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
#: The columns read (``dx_type`` is not: see ``_CONCEPT_COLUMNS``).
_COLUMNS = ("lesion_id", "image_id", "dx", "age", "sex", "localization")
_FOLDERS = ("HAM10000_images_part_1", "HAM10000_images_part_2")
_AGE_BINS = ((0, 30, "age < 30"), (30, 60, "age 30-59"), (60, 200, "age >= 60"))
#: The metadata as published (a CSV), as the Dataverse serves it by default (its
#: tab-separated conversion of the CSV, strings in double quotes) and as its "download
#: all" archive names it (no extension; the delimiter is read off the header), preferred
#: in this order.
_METADATA_FILES = {
    "HAM10000_metadata.csv": ",",
    "HAM10000_metadata.tab": "\t",
    "HAM10000_metadata": "",
}
#: Metadata columns that are concepts; ``dx_type`` is not one: it says how the diagnosis
#: was confirmed (histopathology, follow-up, consensus, confocal microscopy), which
#: depends on the diagnosis (follow-up confirms nevi), so a model could read the label
#: off it, and it is not seen in the image.
_CONCEPT_COLUMNS = ("sex", "localization")
_HINT = (
    "HAM10000 is on the Harvard Dataverse (https://doi.org/10.7910/DVN/DBW86T) behind its "
    "terms of use: download HAM10000_metadata (.csv, .tab or without extension, as the "
    "Dataverse names it) and the two image archives there, and extract the archives into "
    "root itself or into root/HAM10000_images_part_1 and root/HAM10000_images_part_2"
)


def _age(text: str, path: Path, line: int) -> float | None:
    """An age in years (None when missing: empty, NA, nan, unknown); another value, or
    one outside [0, 200), would fall in no age bin unnoticed."""
    if text.strip().lower() in ("", "na", "nan", "unknown"):
        return None
    age = ascii_float(text)
    if not 0 <= age < _AGE_BINS[-1][1]:
        raise DatasetFormatError(
            f"{path}, line {line}: age is {text!r}; expected a number in [0, "
            f"{_AGE_BINS[-1][1]}) or empty"
        )
    return age


def _delimiter(path: Path) -> str:
    """The metadata file's delimiter: by its name, else (no extension) a tab if the
    header line has one, else a comma."""
    given = _METADATA_FILES[path.name]
    if given:
        return given
    with open(path, "rb") as fh:
        header = fh.readline(1 << 16)
    return "\t" if b"\t" in header else ","


def load_ham10000(root: str | os.PathLike, split: str = "all") -> ConceptDataset:
    """HAM10000 as a :class:`ConceptDataset`: the diagnosis as label, metadata as concepts,
    the lesion as group.

    Reads ``HAM10000_metadata.csv`` (header ``lesion_id,image_id,dx,dx_type,age,sex,
    localization``, more columns allowed), or, where there is none, the tab-separated
    ``HAM10000_metadata.tab`` that the Dataverse serves by default, or
    ``HAM10000_metadata`` without extension as its "download all" archive holds it (comma
    or tab separated, read off the header). Each ``<image_id>.jpg`` is found in
    ``HAM10000_images_part_1/``, ``HAM10000_images_part_2/`` or ``root`` itself (where the
    Dataverse's image archives, which hold the files without a folder, extract to); an
    image in two of them, which the release does not have, is refused with
    :class:`DatasetFormatError` naming the two files: which copy is right cannot be told.

    Concepts are one-hot metadata: ``sex=<v>`` and ``localization=<v>`` for each value
    present, and three age bins; an image without an age has none of the age bins
    (counted in ``skipped``). ``dx_type`` is not a concept: it says how the diagnosis was
    confirmed (follow-up confirms nevi only), so a model could read the label off it.
    ``groups`` is each image's ``lesion_id``: a lesion may have several images, which must
    stay on one side of a split.

    Parameters
    ----------
    root : path
        The folder holding the metadata file and the images (above).
    split : "all"
        HAM10000 has no official split (split by ``groups``, the lesions).

    Returns
    -------
    ConceptDataset
        The image files (read when indexed), ``labels`` indexing the 7 diagnoses
        (:data:`HAM10000_DIAGNOSES`), the one-hot metadata as 0/1 ``concept_labels`` and
        the ``lesion_id`` of each image as ``groups``.

    Examples
    --------
    >>> ds = load_ham10000("~/data/ham10000")  # doctest: +SKIP
    >>> ds.class_names  # doctest: +SKIP
    ['akiec', 'bcc', 'bkl', 'df', 'mel', 'nv', 'vasc']
    >>> from sklearn.model_selection import GroupShuffleSplit  # doctest: +SKIP
    >>> splitter = GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=0)  # doctest: +SKIP
    >>> train, test = next(splitter.split(ds.labels, groups=ds.groups))  # doctest: +SKIP
    """
    root = as_root(root)
    expected = "'all' (HAM10000 has no official split)"
    split = check_choice(split, ("all",), "split", expected=expected)
    if not root.is_dir():
        raise MissingDatasetError(f"{root}: HAM10000 folder not found; {_HINT}")
    path = require_dataset_file(root, tuple(_METADATA_FILES), _HINT)  # or the right folder
    rows = []
    first_line: dict[str, int] = {}
    records = csv_rows(path, delimiter=_delimiter(path), hint=_HINT)
    at, header = next(records, (1, []))
    col = header_columns(path, header, _COLUMNS, at)
    for line, row in records:
        if len(row) != len(header):
            raise DatasetFormatError(
                f"{path}, line {line}: expected {len(header)} columns, got {len(row)}"
            )
        rec = {c: row[col[c]].strip() for c in _COLUMNS}
        if rec["dx"] not in HAM10000_DIAGNOSES:
            raise DatasetFormatError(
                f"{path}, line {line}: dx {rec['dx']!r} is not one of {HAM10000_DIAGNOSES}"
            )
        if not rec["lesion_id"]:
            raise DatasetFormatError(
                f"{path}, line {line}: lesion_id is empty; expected the lesion the image "
                "shows (HAM_0000118, ...)"
            )
        rec["age"] = _age(rec["age"], path, line)
        listed_path(root, f"{rec['image_id']}.jpg", path, line, what="image_id")
        note_first_line(first_line, rec["image_id"], path, line, "image_id", "one row per image")
        rows.append((line, rec))
    if not rows:
        raise DatasetFormatError(f"{path}: no rows after the header")
    folders = [root / d for d in _FOLDERS] + [root]
    paths = []
    for line, rec in rows:
        found = [d / f"{rec['image_id']}.jpg" for d in folders]
        found = [p for p in found if p.is_file()]
        if not found:
            raise MissingDatasetError(
                f"{path}, line {line}: image {rec['image_id']}.jpg not found in "
                f"{', '.join(str(d) for d in folders[:-1])} or {root}; {_HINT}"
            )
        if len(found) > 1:  # the release has each image once: which copy is right?
            raise DatasetFormatError(
                f"{path}, line {line}: image {rec['image_id']}.jpg is in both {found[0]} and "
                f"{found[1]}; expected it once, in one of {', '.join(_FOLDERS)} or root (the "
                "release has each image once: a broken or doubled copy, remove the wrong one)"
            )
        paths.append(found[0])
    names: list[str] = []
    for key in _CONCEPT_COLUMNS:
        names += [f"{key}={v}" for v in sorted({rec[key] for _, rec in rows})]
    names += [b[2] for b in _AGE_BINS]
    L = np.zeros((len(rows), len(names)), np.uint8)
    no_age = 0
    for i, (_, rec) in enumerate(rows):
        for key in _CONCEPT_COLUMNS:
            L[i, names.index(f"{key}={rec[key]}")] = 1
        if rec["age"] is None:
            no_age += 1
        else:
            for lo, hi, nm in _AGE_BINS:
                if lo <= rec["age"] < hi:
                    L[i, names.index(nm)] = 1
    return ConceptDataset(
        paths,
        labels=np.array([HAM10000_DIAGNOSES.index(r["dx"]) for _, r in rows], np.int64),
        class_names=list(HAM10000_DIAGNOSES),
        concept_names=names,
        concept_labels=L,
        split=split,
        skipped={"images without an age (no age bin)": no_age},
        groups=np.array([r["lesion_id"] for _, r in rows], dtype=str),
    )
