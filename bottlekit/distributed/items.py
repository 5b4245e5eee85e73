"""What a distributed job reads: one list of items, whatever the source.

:func:`resolve_items` turns a folder tree, a Parquet/CSV manifest, a
:class:`~bottlekit.datasets.ConceptDataset`, an :class:`~bottlekit.images.ImageSource`
or WebDataset tar shards into an :class:`ItemPlan`: the item paths as given, their labels
where known, and, for images held in memory, the source itself. What a worker then does
with one item, :func:`load_item`, is in :mod:`bottlekit.distributed.item_reading` (and
importable from here).
"""

from __future__ import annotations

import math
import os
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bottlekit.distributed.item_reading import TAR_SEPARATOR, _is_tar_ref, load_item
from bottlekit.images import IMAGE_EXTENSIONS, ImageInputError, ImageSource, as_image_source

__all__ = ["TAR_SEPARATOR", "ItemPlan", "load_item", "resolve_items"]


@dataclass
class ItemPlan:
    """The items of a distributed job, in order.

    Parameters
    ----------
    paths : list of str
        Each item's path or URI as given (``tar::member`` for a tar shard member,
        ``array:i`` / ``pil:i`` / ``dataset:i`` for item ``i`` of an in-memory source).
    labels : ndarray of int64 or None
        Class index of each item (-1 where unknown), or None when no item has one.
    class_names : list of str
        Names of the class indices (may be empty).
    memory : ImageSource or None
        The source of in-memory images (arrays, PIL images, a torch Dataset).

    Examples
    --------
    >>> plan = ItemPlan(["a.png", "b.png", "c.png"], np.array([0, 1, -1]), ["cat", "dog"])
    >>> len(plan), plan.payload(1, 3)
    (3, {'paths': ['b.png', 'c.png'], 'labels': [1, -1], 'memory': None})
    """

    paths: list[str]
    labels: np.ndarray | None = None
    class_names: list[str] = field(default_factory=list)
    memory: ImageSource | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def payload(self, start: int, stop: int) -> dict[str, Any]:
        """What a worker needs to read items ``start:stop`` (no image is read here).

        Parameters
        ----------
        start, stop : int
            The items' range.

        Returns
        -------
        dict
            ``paths``, ``labels`` (a list, or None) and ``memory`` (the in-memory
            images of the range, or None).
        """
        labels = None if self.labels is None else self.labels[start:stop].tolist()
        memory = None if self.memory is None else self.memory.subset(range(start, stop))
        return {"paths": self.paths[start:stop], "labels": labels, "memory": memory}


def _from_source(source: ImageSource) -> ItemPlan:
    if source.kind == "files":
        paths = [str(p) for p in source.items]
        return ItemPlan(paths, source.labels, list(source.class_names))
    paths = [f"{source.kind}:{i}" for i in range(len(source))]
    return ItemPlan(paths, source.labels, list(source.class_names), memory=source)


def _manifest_labels(path: Path, label_column: str, raw: list) -> tuple[np.ndarray, list[str]]:
    """Class indices from a label column: ints (-1 or empty = unknown), whole floats (a
    numeric column with gaps reads as floats; NaN = unknown), or class names."""
    where = f"source: manifest {str(path)!r}, column {label_column!r}"
    raw = [None if v == "" or (isinstance(v, float) and math.isnan(v)) else v for v in raw]
    if all(v is None or isinstance(v, (int, float, np.integer, np.floating)) for v in raw):
        if any(isinstance(v, bool) for v in raw):
            raise ValueError(f"{where}: expected class indices or names, got booleans")
        bad = [v for v in raw if v is not None and (v != int(v) or v < -1)]
        if bad:
            raise ValueError(
                f"{where}: expected class indices (ints >= 0; -1 or empty for unknown), got "
                f"{bad[:3]}"
            )
        return np.array([-1 if v is None else int(v) for v in raw], dtype=np.int64), []
    # class names: sorted, as a class-per-subfolder folder
    class_names = sorted({str(v) for v in raw if v is not None})
    index = {c: i for i, c in enumerate(class_names)}
    return np.array([-1 if v is None else index[str(v)] for v in raw], np.int64), class_names


def _read_manifest(path: Path, path_column: str, label_column: str) -> ItemPlan:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path) if path.suffix.lower() == ".parquet" else pacsv.read_csv(path)
    except Exception as exc:  # pyarrow's errors (ArrowInvalid, OSError) name no argument
        raise ValueError(f"source: manifest {str(path)!r} cannot be read ({exc})") from None
    if path_column not in table.column_names:
        raise ValueError(
            f"source: manifest {str(path)!r} has no column {path_column!r} (columns: "
            f"{table.column_names}); pass path_column= to name the column of paths"
        )
    base = path.parent
    paths = []
    for row, p in enumerate(table.column(path_column).to_pylist()):
        if p is None or p == "":
            raise ValueError(f"source: manifest {str(path)!r} has an empty {path_column!r}")
        if not isinstance(p, str):  # (bytes: a CSV that is not UTF-8)
            raise ValueError(
                f"source: manifest {str(path)!r}, row {row}: expected a path or URL (UTF-8 "
                f"text) in column {path_column!r}, got {p!r}"[:300]
            )
        is_ref = "://" in p or _is_tar_ref(p) or os.path.isabs(p)
        paths.append(p if is_ref else str(base / p))
    labels, class_names = None, []
    if label_column in table.column_names:
        labels, class_names = _manifest_labels(
            path, label_column, table.column(label_column).to_pylist()
        )
    return ItemPlan(paths, labels, class_names)


def _cls_label(data: bytes) -> int:
    """The class index in a ``.cls`` member: an int, else -1 (unknown)."""
    text = data.decode("utf-8", errors="replace").strip()
    digits = text.removeprefix("-")
    if not digits.isdigit() or len(digits) > 18:  # (int() refuses 4300+ digits)
        return -1
    return max(int(text), -1)


def _tar_members(shards: Sequence[Path]) -> ItemPlan:
    """WebDataset shards: every image member, labelled by a ``.cls`` sibling if present."""
    paths: list[str] = []
    labels: list[int] = []
    for shard in shards:
        try:
            with tarfile.open(shard) as tar:
                members = [m for m in tar.getmembers() if m.isfile()]
                cls = {
                    m.name[: -len(".cls")]: _cls_label(tar.extractfile(m).read())  # type: ignore[union-attr]
                    for m in members
                    if m.name.endswith(".cls")
                }
        except (OSError, tarfile.TarError, EOFError) as exc:
            # (tarfile lists each compression it tried; the last line is the plain tar's)
            reason = (str(exc).strip().splitlines() or [""])[-1].strip("- ")
            raise ImageInputError(
                f"source: tar shard {str(shard)!r} cannot be read ({type(exc).__name__}: "
                f"{reason}); expected a WebDataset .tar shard"
            ) from None
        for m in members:
            stem, ext = os.path.splitext(m.name)
            if ext.lower() in IMAGE_EXTENSIONS:
                paths.append(f"{shard}{TAR_SEPARATOR}{m.name}")
                labels.append(cls.get(stem, -1))
    if not paths:
        raise ImageInputError(
            f"source: the tar shards {[str(s) for s in shards][:3]} hold no images "
            f"(looked for extensions {', '.join(IMAGE_EXTENSIONS)})"
        )
    arr = np.asarray(labels, dtype=np.int64)
    return ItemPlan(paths, arr if (arr >= 0).any() else None)


def _is_path(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike))


def resolve_items(
    source: Any, *, path_column: str = "path", label_column: str = "label"
) -> ItemPlan:
    """The items of a source, in a fixed order (no image is read).

    Parameters
    ----------
    source : folder, manifest, tar shards, ConceptDataset, ImageSource or images
        - a folder (class-per-subfolder, labelled; or flat), as
          :func:`bottlekit.images.list_image_folder` lists it;
        - a ``.parquet`` or ``.csv`` manifest with a column of paths or URLs
          (``path_column``; relative paths are relative to the manifest's folder) and
          optionally a column of labels (``label_column``: ints, or class names);
        - a WebDataset ``.tar`` shard, or a list of them (images labelled by a ``.cls``
          member with the same stem where there is one);
        - a :class:`~bottlekit.datasets.ConceptDataset` (its images and labels);
        - anything :func:`bottlekit.images.as_image_source` takes.
    path_column, label_column : str
        Manifest columns.

    Returns
    -------
    ItemPlan
        Every item's path or URI in a fixed order, with their labels and class names
        where the source has them.

    Examples
    --------
    >>> import numpy as np
    >>> plan = resolve_items(np.zeros((3, 8, 8, 3), np.uint8))
    >>> plan.paths
    ['array:0', 'array:1', 'array:2']
    """
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        if p.is_file() and p.suffix.lower() in (".parquet", ".csv"):
            return _read_manifest(p, path_column, label_column)
        if p.is_file() and p.suffix == ".tar":
            return _tar_members([p])
        return _from_source(as_image_source(p))
    if (
        isinstance(source, (list, tuple))
        and source
        and all(_is_path(s) and str(s).endswith(".tar") for s in source)
    ):
        return _tar_members([Path(s) for s in source])
    from bottlekit.datasets import ConceptDataset

    if isinstance(source, ConceptDataset):
        plan = _from_source(source.image_source)
        plan.labels = np.asarray(source.labels, dtype=np.int64)
        plan.class_names = list(source.class_names)
        return plan
    if isinstance(source, (list, tuple)) and all(map(_is_path, source)):
        # paths are checked by the workers: a missing file is a reported failure
        return ItemPlan([str(s) for s in source])
    return _from_source(as_image_source(source))
