"""CelebA (Liu et al. 2015): aligned celebrity faces with 40 binary attributes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bottlekit._checks import check_bool, check_choice, repeated_items, shown_value
from bottlekit.datasets._parsing import (
    DatasetFormatError,
    MissingDatasetError,
    as_root,
    csv_rows,
    listed_key,
    listed_path,
    missing_images,
    note_first_line,
    parse_int,
    read_rows,
    require_dataset_file,
    require_file,
)
from bottlekit.datasets.concept_dataset import ConceptDataset

__all__ = ["load_celeba"]

_SPLITS = {"train": 0, "valid": 1, "test": 2}
_HINT = (
    "CelebA is distributed through Google Drive from "
    "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (manual download): root is the "
    "folder of the share, with Anno/list_attr_celeba.txt, Eval/list_eval_partition.txt and "
    "Img/img_align_celeba/ (Img/img_align_celeba.zip extracted), or the folder holding "
    "list_attr_celeba.txt, list_eval_partition.txt and img_align_celeba/ side by side (the "
    "Kaggle mirror's list_attr_celeba.csv and list_eval_partition.csv are read too)"
)
#: The sub-folder of root each file is in as the official share lays them out (Google
#: Drive, Dropbox); each is also read from root itself, as the Kaggle mirror and
#: torchvision keep them.
_ATTRIBUTES, _PARTITION, _IMAGES = "list_attr_celeba", "list_eval_partition", "img_align_celeba"
_SUBFOLDER = {_ATTRIBUTES: "Anno", _PARTITION: "Eval", _IMAGES: "Img"}
#: The two lists as the authors publish them (text, whitespace-separated) and as the
#: Kaggle mirror of CelebA has them (CSV with a header, ``image_id`` first); the text
#: form is preferred where both are present.
_FORMS = (".txt", ".csv")


def _csv_header(path: Path, line: int, fields: list[str], first: str) -> None:
    if not fields or fields[0] != first:
        raise DatasetFormatError(
            f"{path}, line {line}: expected a header starting with {first!r} (the Kaggle "
            f"form of CelebA's lists), got {','.join(fields[:3])!r}"
        )


def _rows(path: Path, csv_form: bool, n_columns: int | None = None):
    """``(line, fields)`` of a list in either form: the text one split on whitespace
    (:func:`read_rows`), the Kaggle CSV by the CSV reader of every adapter
    (:func:`csv_rows`: physical lines, quoted fields), fields stripped of blanks."""
    if not csv_form:
        yield from read_rows(path, n_columns, hint=_HINT)
        return
    for line, row in csv_rows(path, hint=_HINT):
        if n_columns is not None and len(row) != n_columns:
            raise DatasetFormatError(
                f"{path}, line {line}: expected {n_columns} columns, got {len(row)}"
            )
        yield line, [f.strip() for f in row]


def _attributes(path: Path, images: Path) -> tuple[list[str], list[str], np.ndarray]:
    """File names, attribute names and the +-1 matrix of ``list_attr_celeba.txt`` (or of
    its Kaggle form ``list_attr_celeba.csv``: no count line, the header ``image_id,<the
    attribute names>``); ``images`` is the folder the file names are in."""
    require_file(path, _HINT)
    csv_form = path.suffix == ".csv"
    files, values = [], []
    names: list[str] = []
    count = None
    first_line: dict[str, int] = {}
    rows = _rows(path, csv_form)
    for row, (line, f) in enumerate(rows, start=int(csv_form)):  # row: the non-blank lines
        if row == 0:
            if len(f) != 1:
                raise DatasetFormatError(
                    f"{path}, line {line}: expected the number of images, got {f[:3]}"
                )
            count = parse_int(f[0], path, line, "image count", low=1)
            continue
        if row == 1:
            if csv_form:
                _csv_header(path, line, f, "image_id")
                f = f[1:]
            names = f
            repeated = repeated_items(names)
            if repeated:
                raise DatasetFormatError(
                    f"{path}, line {line}: attribute names {repeated} repeat; expected unique "
                    "names"
                )
            continue
        if len(f) != len(names) + 1:
            raise DatasetFormatError(
                f"{path}, line {line}: expected {len(names) + 1} columns (file name and "
                f"{len(names)} attributes), got {len(f)}"
            )
        row = []
        for j, v in enumerate(f[1:]):
            if v not in ("1", "-1"):
                raise DatasetFormatError(
                    f"{path}, line {line}: attribute {names[j]} is {v!r}; expected 1 or -1"
                )
            row.append(v == "1")
        listed_path(images, f[0], path, line)
        note_first_line(first_line, listed_key(f[0]), path, line, "image", "one line per image")
        files.append(f[0])
        values.append(row)
    if not names or (count is None and not csv_form):
        what = "a header line" if csv_form else "a count line and a header line"
        raise DatasetFormatError(f"{path}: expected {what}")
    if count is not None and len(files) != count:
        raise DatasetFormatError(
            f"{path}: line 1 announces {count} images but {len(files)} lines follow "
            "(truncated file?)"
        )
    return files, names, np.array(values, bool).reshape(len(files), len(names))


def _list_file(root: Path, stem: str, forms: tuple[str, ...]) -> Path:
    """The list ``stem`` in the first of ``forms`` present, in ``root`` or in its
    sub-folder of the official share (``Anno/``, ``Eval/``); :class:`MissingDatasetError`
    with the folder to pass when neither has it, :class:`DatasetFormatError` when both
    have it with different contents."""
    names = [f"{stem}{form}" for form in forms]
    return require_dataset_file(root, names, _HINT, subfolders=(_SUBFOLDER[stem],))


def _image_folder(root: Path) -> Path:
    """``root/img_align_celeba`` or ``root/Img/img_align_celeba`` (the official share's
    ``Img/img_align_celeba.zip`` extracted), or the folder of the same name inside it,
    where the Kaggle archive puts the images (``img_align_celeba/img_align_celeba/
    000001.jpg``). Both places holding files is :class:`DatasetFormatError` (which copy
    is right cannot be told); neither is :class:`MissingDatasetError` naming both, and
    the zip to extract where one is there."""
    places = [root / _IMAGES, root / _SUBFOLDER[_IMAGES] / _IMAGES]
    present = [p for p in places if p.is_dir() and next(p.iterdir(), None) is not None]
    if len(present) > 1:
        raise DatasetFormatError(
            f"{present[0]} and {present[1]} both hold files; expected CelebA's images in one "
            "of them (which copy is right cannot be told: remove the other)"
        )
    if not present:
        zips = [p.with_name(f"{_IMAGES}.zip") for p in places]
        zipped = next((z for z in zips if z.is_file()), None)
        extract = (
            f"; extract {zipped} there ({zipped.with_suffix('')}/000001.jpg, ...)"
            if zipped is not None
            else ""
        )
        raise MissingDatasetError(
            f"{places[0]}: CelebA's image folder not found (nor {places[1]}){extract}; {_HINT}"
        )
    images = present[0]
    inner = images / _IMAGES
    if inner.is_dir() and next(images.glob("*.jpg"), None) is None:
        return inner
    return images


def load_celeba(
    root: str | os.PathLike,
    split: str = "train",
    *,
    target: str = "Blond_Hair",
    spurious: str | None = "Male",
    download: bool = False,
) -> ConceptDataset:
    """CelebA as a :class:`ConceptDataset`: one attribute as the label, the others as
    concepts.

    Reads ``list_attr_celeba.txt`` (a count line, a header line of the 40 attribute
    names, then ``<file> <40 values of 1 or -1>``) and ``list_eval_partition.txt``
    (``<file> <0 train | 1 valid | 2 test>``); images are ``img_align_celeba/<file>``, left
    on disk. The Kaggle mirror's form is read too: ``list_attr_celeba.csv`` and
    ``list_eval_partition.csv`` (the same tables as CSV, with the headers
    ``image_id,<attribute names>`` and ``image_id,partition``, no count line) and the
    images in ``img_align_celeba/img_align_celeba/``.

    The files are found in ``root`` or where the official share (Google Drive, Dropbox)
    keeps them: ``Anno/list_attr_celeba.txt``, ``Eval/list_eval_partition.txt`` and
    ``Img/img_align_celeba/`` (``Img/img_align_celeba.zip`` extracted). A list in both
    places with different contents, or images in both ``img_align_celeba/`` folders, is
    refused with :class:`DatasetFormatError` (which copy is right cannot be told); a
    missing file's :class:`MissingDatasetError` names the folder to pass as ``root``
    when the one given is a level too high or too low (``root/Anno``, say).

    Parameters
    ----------
    root : path
        The folder holding the two lists (``.txt``, or the Kaggle mirror's ``.csv``) and
        ``img_align_celeba/`` side by side, or the official share's folder, holding
        ``Anno/``, ``Eval/`` and ``Img/``.
    split : {"train", "valid", "test", "all"}, default "train"
    target : str, default "Blond_Hair"
        The attribute used as the class label: ``class_names`` are ``["not <target>",
        "<target>"]``. The other 39 attributes are the concepts (0/1).
    spurious : str or None, default "Male"
        An attribute reported as ``spurious_labels`` (it stays a concept too).
    download : bool, default False
        CelebA cannot be downloaded automatically (Google Drive); this raises an error
        that says where to get it.

    Returns
    -------
    ConceptDataset
        The image files (read when indexed), ``labels`` 0/1 for ``target``, the other
        39 attributes as 0/1 ``concept_labels`` and ``spurious`` as ``spurious_labels``.

    Examples
    --------
    >>> ds = load_celeba("~/data/celeba", "test", target="Smiling")  # doctest: +SKIP
    >>> ds.class_names  # doctest: +SKIP
    ['not Smiling', 'Smiling']
    """
    root = as_root(root)
    expected = "'train', 'valid', 'test' or 'all'"
    split = check_choice(split, (*_SPLITS, "all"), "split", expected=expected)
    # checked before the attribute file is read; their values are known only from it
    if not isinstance(target, str):
        raise TypeError(f"target: expected a CelebA attribute name, got {shown_value(target)}")
    if spurious is not None and not isinstance(spurious, str):
        raise TypeError(
            f"spurious: expected None or a CelebA attribute name, got {shown_value(spurious)}"
        )
    download = check_bool(download, "download")
    if download:
        from bottlekit.datasets.download import download_dataset

        download_dataset("celeba", root)
    if not root.is_dir():
        raise MissingDatasetError(f"{root}: CelebA folder not found; {_HINT}")
    attributes = _list_file(root, _ATTRIBUTES, _FORMS)  # the right folder if near
    p = _list_file(root, _PARTITION, (attributes.suffix,))  # the same form
    images = _image_folder(root)
    files, names, values = _attributes(attributes, images)
    if target not in names:
        raise ValueError(
            f"target: {shown_value(target)} is not a CelebA attribute; expected one of {names}"
        )
    if spurious is not None and spurious not in names:
        raise ValueError(f"spurious: {shown_value(spurious)} is not a CelebA attribute")
    part, part_line = {}, {}
    csv_form = attributes.suffix == ".csv"
    rows = _rows(p, csv_form, 2)
    for row, (line, (f, s)) in enumerate(rows):
        if csv_form and row == 0:  # the header line
            _csv_header(p, line, [f, s], "image_id")
            continue
        f = listed_key(f)
        note_first_line(part_line, f, p, line, "image", "one partition per image")
        part[f] = parse_int(s, p, line, "partition", 0, 2)
    unlisted = [f for f in files if listed_key(f) not in part]
    if unlisted:
        raise DatasetFormatError(
            f"{p}: {len(unlisted)} image(s) of {attributes.name} have no partition, first "
            f"{unlisted[0]}"
        )
    listed = {listed_key(f) for f in files}
    extra_partition = sum(1 for f in part if f not in listed)
    keep = np.array([split == "all" or part[listed_key(f)] == _SPLITS[split] for f in files])
    paths = [images / f for f, k in zip(files, keep, strict=True) if k]
    if not paths:
        raise DatasetFormatError(f"{p}: no images in split {split!r}")
    missing_images(paths, attributes)
    values = values[keep]
    t = names.index(target)
    concepts = [j for j in range(len(names)) if j != t]
    extra = {}
    if spurious is not None:
        extra = {
            "spurious_labels": values[:, names.index(spurious)].astype(np.int64),
            "spurious_names": [f"not {spurious}", spurious],
        }
    return ConceptDataset(
        paths,
        labels=values[:, t].astype(np.int64),
        class_names=[f"not {target}", target],
        concept_names=[names[j] for j in concepts],
        concept_labels=values[:, concepts].astype(np.uint8),
        split=split,
        skipped={"partition entries without attributes": extra_partition},
        **extra,
    )
