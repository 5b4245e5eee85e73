"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009), from the *binary* releases only.

A record is the label byte(s) then 3072 pixel bytes (1024 red, 1024 green, 1024 blue,
row-major 32 x 32): CIFAR-10 has one label byte, CIFAR-100 two (coarse, then fine). The
images are read through a memory map when indexed, never all at once. The pickled
"python version" releases are not read: unpickling runs code from the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bottlekit._checks import check_bool, check_choice
from bottlekit.datasets._parsing import DatasetFormatError, MissingDatasetError, as_root, read_rows
from bottlekit.datasets.concept_dataset import ConceptDataset
from bottlekit.datasets.lazy import RecordImages

__all__ = ["load_cifar10", "load_cifar100"]

PIXELS = 3 * 32 * 32


def _hint(name: str) -> str:
    archive = "cifar-10-binary.tar.gz" if name == "cifar10" else "cifar-100-binary.tar.gz"
    return (
        f"the binary release is https://www.cs.toronto.edu/~kriz/{archive}; pass its "
        "extracted folder as root, or download=True"
    )


def _label_names(path: Path, expected: int, hint: str) -> list[str]:
    names = [f[0] for _, f in read_rows(path, 1, sep="\n", hint=hint)]
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


def _folder(root: Path, name: str, download: bool, checksum: str | None, inner: str) -> Path:
    download = check_bool(download, "download")
    if download and not (root / inner).is_dir() and not (root.name == inner and root.is_dir()):
        from bottlekit.datasets.download import download_dataset

        target = root.parent if root.name == inner else root
        download_dataset(name, target, checksum=checksum)
    if (root / inner).is_dir():
        return root / inner
    if not root.is_dir():
        raise MissingDatasetError(f"{root}: folder not found; {_hint(name)}")
    return root


def load_cifar10(
    root: str | os.PathLike,
    split: str = "train",
    *,
    download: bool = False,
    checksum: str | None = None,
) -> ConceptDataset:
    """CIFAR-10 from the binary release (``cifar-10-batches-bin``).

    Reads ``data_batch_1.bin`` .. ``data_batch_5.bin`` (train) or ``test_batch.bin``
    (test), 3073-byte records, and ``batches.meta.txt`` (the 10 class names).

    Parameters
    ----------
    root : path
        ``cifar-10-batches-bin`` or the folder that contains it.
    split : {"train", "test"}, default "train"
    download : bool, default False
    checksum : str, optional

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
    folder = _folder(as_root(root), "cifar10", download, checksum, "cifar-10-batches-bin")
    hint = _hint("cifar10")
    names = _label_names(folder / "batches.meta.txt", 10, hint)
    files = (
        [folder / f"data_batch_{i}.bin" for i in range(1, 6)]
        if split == "train"
        else [folder / "test_batch.bin"]
    )
    images, labels = _records(files, 1, hint)
    _check_labels(labels[:, 0], files, images.starts, 10, "class")
    return ConceptDataset(images, labels[:, 0].astype(np.int64), class_names=names, split=split)


def load_cifar100(
    root: str | os.PathLike,
    split: str = "train",
    *,
    label: str = "fine",
    download: bool = False,
    checksum: str | None = None,
) -> ConceptDataset:
    """CIFAR-100 from the binary release (``cifar-100-binary``).

    Reads ``train.bin`` or ``test.bin`` (3074-byte records: coarse label byte, fine label
    byte, pixels), ``fine_label_names.txt`` (100) and ``coarse_label_names.txt`` (20).

    Parameters
    ----------
    root : path
        ``cifar-100-binary`` or the folder that contains it.
    split : {"train", "test"}, default "train"
    label : {"fine", "coarse"}, default "fine"
        Which of the two label bytes is the class (``fine_label_names.txt``, 100 classes,
        or ``coarse_label_names.txt``, 20 superclasses).
    download : bool, default False
    checksum : str, optional

    Returns
    -------
    ConceptDataset

    Examples
    --------
    >>> ds = load_cifar100("~/data", "test", label="coarse")  # doctest: +SKIP
    >>> ds.n_classes  # doctest: +SKIP
    20
    """
    split = check_choice(split, ("train", "test"), "split", expected="'train' or 'test'")
    label = check_choice(label, ("fine", "coarse"), "label", expected="'fine' or 'coarse'")
    folder = _folder(as_root(root), "cifar100", download, checksum, "cifar-100-binary")
    hint = _hint("cifar100")
    fine = _label_names(folder / "fine_label_names.txt", 100, hint)
    coarse = _label_names(folder / "coarse_label_names.txt", 20, hint)
    files = [folder / f"{split}.bin"]
    images, labels = _records(files, 2, hint)
    _check_labels(labels[:, 0], files, images.starts, 20, "coarse")
    _check_labels(labels[:, 1], files, images.starts, 100, "fine")
    col = 1 if label == "fine" else 0
    return ConceptDataset(
        images,
        labels[:, col].astype(np.int64),
        class_names=fine if label == "fine" else coarse,
        split=split,
    )
