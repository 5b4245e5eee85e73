"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009), from the binary or the python release.

The *binary* release (``cifar-10-batches-bin``, ``cifar-100-binary``): a record is the
label byte(s) then 3072 pixel bytes (1024 red, 1024 green, 1024 blue, row-major 32 x 32):
CIFAR-10 has one label byte, CIFAR-100 two (coarse, then fine).

The *python* release (``cifar-10-batches-py``, ``cifar-100-python``, what torchvision
downloads): each file is a pickled dict whose ``data`` array holds the same 3072-byte
rows and whose label lists hold the labels. It is read without unpickling
(:mod:`bottlekit.datasets._cifar_pickle`: the opcodes are parsed, a data-only subset is
interpreted, anything else is refused), as unpickling runs code from the file.

Both give the same :class:`ConceptDataset`. Where a folder holds both, the binary release
is read. The images are read through a memory map when indexed, never all at once.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bottlekit._checks import check_bool, check_choice
from bottlekit.datasets._cifar_pickle import read_batch, read_names
from bottlekit.datasets._parsing import (
    DatasetFormatError,
    MissingDatasetError,
    as_root,
    note_first_line,
    read_rows,
    require_file,
)
from bottlekit.datasets.concept_dataset import ConceptDataset
from bottlekit.datasets.lazy import RecordImages

__all__ = ["load_cifar10", "load_cifar100"]

PIXELS = 3 * 32 * 32
#: Each release's folder, and files that mark it in a folder of another name.
FOLDERS = {
    ("cifar10", "binary"): "cifar-10-batches-bin",
    ("cifar10", "python"): "cifar-10-batches-py",
    ("cifar100", "binary"): "cifar-100-binary",
    ("cifar100", "python"): "cifar-100-python",
}
MARKS = {
    ("cifar10", "binary"): ("batches.meta.txt", "data_batch_1.bin", "test_batch.bin"),
    ("cifar10", "python"): ("batches.meta", "data_batch_1", "test_batch"),
    ("cifar100", "binary"): ("fine_label_names.txt", "train.bin", "test.bin"),
    ("cifar100", "python"): ("meta", "train", "test"),
}


def _hint(name: str, release: str = "binary") -> str:
    stem = "cifar-10" if name == "cifar10" else "cifar-100"
    if release == "python":
        return (
            f"this folder is the python release (https://www.cs.toronto.edu/~kriz/{stem}-"
            "python.tar.gz, what torchvision downloads); pass a folder with all its files, "
            "or the binary release's"
        )
    return (
        f"the binary release is https://www.cs.toronto.edu/~kriz/{stem}-binary.tar.gz; pass "
        f"its extracted folder as root, or download=True (the python release, {stem}-"
        "python.tar.gz, is read too)"
    )


def _label_names(path: Path, expected: int, hint: str) -> list[str]:
    names = []
    first_line: dict[str, int] = {}
    for line, (name,) in read_rows(path, 1, sep="\n", hint=hint):
        note_first_line(first_line, name, path, line, "label name", "one name per class")
        names.append(name)
    if len(names) != expected:
        raise DatasetFormatError(f"{path}: expected {expected} label names, got {len(names)}")
    return names


def _records(files: list[Path], n_label: int, hint: str) -> tuple[RecordImages, np.ndarray]:
    """The images (lazy) and the label bytes (n, n_label) of the record files."""
    try:  # RecordImages checks the files; CIFAR's messages add what to do
        images = RecordImages(files, n_label + PIXELS, n_label)
    except MissingDatasetError as e:
        raise MissingDatasetError(f"{e}; {hint}") from None
    except DatasetFormatError as e:
        raise DatasetFormatError(
            f"{e}; a CIFAR record is {n_label} label byte(s) + {PIXELS} pixels: not the "
            "binary release?"
        ) from None
    labels = np.concatenate(
        [np.array(m[:, :n_label]) for m in images._memmaps()]  # only the label column
    )
    return images, labels


def _check_labels(labels: np.ndarray, files: list[Path], starts: np.ndarray, C: int, col: str):
    bad = np.flatnonzero(labels >= C)
    if bad.size:
        i = int(bad[0])
        f = int(np.searchsorted(starts, i, side="right") - 1)
        raise DatasetFormatError(
            f"{files[f]}: record {i - starts[f]} has {col} label {int(labels[i])}; expected "
            f"0..{C - 1}"
        )


def _named(root: Path, name: str) -> tuple[Path, str] | None:
    """The release folder that ``root`` is or holds, binary first: (folder, release)."""
    for release in ("binary", "python"):
        inner = FOLDERS[name, release]
        if (root / inner).is_dir():
            return root / inner, release
        if root.name == inner and root.is_dir():
            return root, release
    return None


def _folder(root: Path, name: str, download: bool, checksum: str | None) -> tuple[Path, str]:
    """The folder to read and its release ("binary" or "python")."""
    download = check_bool(download, "download")
    found = _named(root, name)
    if download and found is None:
        from bottlekit.datasets.download import download_dataset

        binary = FOLDERS[name, "binary"]
        download_dataset(name, root.parent if root.name == binary else root, checksum=checksum)
        found = _named(root, name)
    if found is not None:
        return found
    if not root.is_dir():
        raise MissingDatasetError(f"{root}: folder not found; {_hint(name)}")
    for release in ("binary", "python"):  # a release's folder under another name
        if any((root / f).is_file() for f in MARKS[name, release]):
            return root, release
    title = "CIFAR-10" if name == "cifar10" else "CIFAR-100"
    releases = [
        f"the {release} release ({FOLDERS[name, release]}/: {', '.join(MARKS[name, release])}, "
        "...)"
        for release in ("binary", "python")
    ]
    raise MissingDatasetError(
        f"{root}: no {title} here; expected {releases[0]} or {releases[1]}, as root or in "
        f"it; {_hint(name)}"
    )


def _python_records(
    files: list[Path], labels: dict[str, int], hint: str
) -> tuple[RecordImages, dict[str, np.ndarray]]:
    """The images (lazy) and the label lists ``labels`` of python-release batches."""
    batches = [read_batch(require_file(f, hint), labels) for f in files]
    images = RecordImages(
        files, PIXELS, 0, header=[b.offset for b in batches], records=[b.n for b in batches]
    )
    return images, {k: np.concatenate([b.labels[k] for b in batches]) for k in labels}


def load_cifar10(
    root: str | os.PathLike,
    split: str = "train",
    *,
    download: bool = False,
    checksum: str | None = None,
) -> ConceptDataset:
    """CIFAR-10 from the binary release (``cifar-10-batches-bin``) or the python release
    (``cifar-10-batches-py``).

    Binary: ``data_batch_1.bin`` .. ``data_batch_5.bin`` (train) or ``test_batch.bin``
    (test), 3073-byte records, and ``batches.meta.txt`` (the 10 class names). Python:
    ``data_batch_1`` .. ``data_batch_5`` or ``test_batch`` (``data`` and ``labels``) and
    ``batches.meta`` (``label_names``), read without unpickling. Where both are there, the
    binary release is read; both give the same dataset.

    Parameters
    ----------
    root : path
        ``cifar-10-batches-bin`` or ``cifar-10-batches-py``, or the folder that contains
        it.
    split : {"train", "test"}, default "train"
    download : bool, default False
        Fetch the binary release into ``root`` when neither release's folder is there.
    checksum : str, optional
        sha256 or md5 of the archive (the table has CIFAR-10's md5; a given one is
        checked too).

    Returns
    -------
    ConceptDataset
        Lazy 32 x 32 images; no concepts (CIFAR has none; use a text concept bank).

    Examples
    --------
    >>> ds = load_cifar10("~/data", "test")  # doctest: +SKIP
    >>> len(ds), ds.class_names[:2]  # doctest: +SKIP
    (10000, ['airplane', 'automobile'])
    """
    split = check_choice(split, ("train", "test"), "split", expected="'train' or 'test'")
    folder, release = _folder(as_root(root), "cifar10", download, checksum)
    hint = _hint("cifar10", release)
    stems = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    if release == "python":
        names = read_names(require_file(folder / "batches.meta", hint), {"label_names": 10})
        images, labels = _python_records([folder / s for s in stems], {"labels": 10}, hint)
        return ConceptDataset(
            images, labels["labels"], class_names=names["label_names"], split=split
        )
    names = _label_names(folder / "batches.meta.txt", 10, hint)
    files = [folder / f"{s}.bin" for s in stems]
    images, records = _records(files, 1, hint)
    _check_labels(records[:, 0], files, images.starts, 10, "class")
    return ConceptDataset(images, records[:, 0].astype(np.int64), class_names=names, split=split)


def load_cifar100(
    root: str | os.PathLike,
    split: str = "train",
    *,
    label: str = "fine",
    download: bool = False,
    checksum: str | None = None,
) -> ConceptDataset:
    """CIFAR-100 from the binary release (``cifar-100-binary``) or the python release
    (``cifar-100-python``).

    Binary: ``train.bin`` or ``test.bin`` (3074-byte records: coarse label byte, fine
    label byte, pixels), ``fine_label_names.txt`` (100) and ``coarse_label_names.txt``
    (20). Python: ``train`` or ``test`` (``data``, ``fine_labels``, ``coarse_labels``) and
    ``meta`` (``fine_label_names``, ``coarse_label_names``), read without unpickling.
    Where both are there, the binary release is read; both give the same dataset.

    Parameters
    ----------
    root : path
        ``cifar-100-binary`` or ``cifar-100-python``, or the folder that contains it.
    split : {"train", "test"}, default "train"
    label : {"fine", "coarse"}, default "fine"
        Which of the two labels is the class (100 classes, or 20 superclasses).
    download : bool, default False
        Fetch the binary release into ``root`` when neither release's folder is there.
    checksum : str, optional
        sha256 or md5 of the archive (the table has CIFAR-100's md5; a given one is
        checked too).

    Returns
    -------
    ConceptDataset
        Lazy 32 x 32 images, ``labels`` indexing the 100 fine or 20 coarse
        ``class_names``; no concepts (CIFAR has none; use a text concept bank).

    Examples
    --------
    >>> ds = load_cifar100("~/data", "test", label="coarse")  # doctest: +SKIP
    >>> ds.n_classes  # doctest: +SKIP
    20
    """
    split = check_choice(split, ("train", "test"), "split", expected="'train' or 'test'")
    label = check_choice(label, ("fine", "coarse"), "label", expected="'fine' or 'coarse'")
    folder, release = _folder(as_root(root), "cifar100", download, checksum)
    hint = _hint("cifar100", release)
    if release == "python":
        meta = require_file(folder / "meta", hint)
        names = read_names(meta, {"fine_label_names": 100, "coarse_label_names": 20})
        images, labels = _python_records(
            [folder / split], {"coarse_labels": 20, "fine_labels": 100}, hint
        )
        return ConceptDataset(
            images,
            labels[f"{label}_labels"],
            class_names=names[f"{label}_label_names"],
            split=split,
        )
    fine = _label_names(folder / "fine_label_names.txt", 100, hint)
    coarse = _label_names(folder / "coarse_label_names.txt", 20, hint)
    files = [folder / f"{split}.bin"]
    images, records = _records(files, 2, hint)
    _check_labels(records[:, 0], files, images.starts, 20, "coarse")
    _check_labels(records[:, 1], files, images.starts, 100, "fine")
    col = 1 if label == "fine" else 0
    return ConceptDataset(
        images,
        records[:, col].astype(np.int64),
        class_names=fine if label == "fine" else coarse,
        split=split,
    )
