"""The data an audit reads: images, labels, and optional concept labels and part masks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["AuditData", "as_audit_data"]


@dataclass(repr=False)
class AuditData:
    """Images to audit a model on, with what is known about them.

    Attributes
    ----------
    images : ndarray of uint8, shape (n, H, W, 3)
    labels : ndarray of int, shape (n,)
        True class of each image, as the index of the model's output (0..C-1).
    class_names : list of str or None
        Readable name of each class index.
    concept_labels : ndarray of shape (n, k) or None
        1 where concept ``concept_names[j]`` is present in image ``i``.
    concept_names : list of str or None
        Names of the columns of ``concept_labels`` (and of ``part_of_concept``).
    part_masks : bool ndarray of shape (n, P, H, W) or None
        Pixels of each part of ``part_names``.
    part_names : list of str or None
    part_of_concept : int ndarray of shape (k,) or None
        Index into ``part_names`` of each concept.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str] | None = None
    concept_labels: np.ndarray | None = None
    concept_names: list[str] | None = None
    part_masks: np.ndarray | None = None
    part_names: list[str] | None = None
    part_of_concept: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        has = [
            name for name in ("concept_labels", "part_masks") if getattr(self, name) is not None
        ]
        return f"AuditData(n={len(self)}, images={self.images.shape}, with={has})"

    def subset(self, idx: np.ndarray) -> AuditData:
        """The images ``idx`` (and their labels and masks)."""
        return AuditData(
            images=self.images[idx],
            labels=self.labels[idx],
            class_names=self.class_names,
            concept_labels=None if self.concept_labels is None else self.concept_labels[idx],
            concept_names=self.concept_names,
            part_masks=None if self.part_masks is None else self.part_masks[idx],
            part_names=self.part_names,
            part_of_concept=self.part_of_concept,
        )


_DATA_FIELDS = (
    "images",
    "labels",
    "class_names",
    "concept_labels",
    "concept_names",
    "part_masks",
    "part_names",
    "part_of_concept",
)


def as_audit_data(data: Any, labels: Any = None) -> AuditData:
    """Validate ``data`` into an :class:`AuditData`.

    Parameters
    ----------
    data : AuditData, World, dict or uint8 array
        A :class:`bottlekit.world.World` (``make_world``), any object or dict with the
        fields of :class:`AuditData`, or the images themselves (then ``labels`` is needed).
    labels : array of shape (n,), optional
        Labels when ``data`` is an array of images.

    Returns
    -------
    AuditData
    """
    if isinstance(data, AuditData):
        fields = {f: getattr(data, f) for f in _DATA_FIELDS}
    elif isinstance(data, Mapping):
        unknown = sorted(set(data) - set(_DATA_FIELDS))
        if unknown:
            raise ValueError(f"data: unknown keys {unknown}; expected some of {_DATA_FIELDS}")
        fields = {f: data.get(f) for f in _DATA_FIELDS}
    elif isinstance(data, np.ndarray):
        fields = dict.fromkeys(_DATA_FIELDS)
        fields["images"] = data
    elif hasattr(data, "images") and hasattr(data, "labels"):
        fields = {f: getattr(data, f, None) for f in _DATA_FIELDS}
    else:
        raise TypeError(
            "data: expected a World (bottlekit.world.make_world), an AuditData, a dict with "
            f"'images' and 'labels', or a uint8 image array; got {type(data).__name__}"
        )
    if labels is not None:
        fields["labels"] = labels
    images = fields["images"]
    if not isinstance(images, np.ndarray) or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            "data.images: expected a uint8 array of shape (n, H, W, 3), got "
            f"{getattr(images, 'shape', type(images).__name__)}"
        )
    if images.dtype != np.uint8:
        raise TypeError(f"data.images: expected dtype uint8, got {images.dtype}")
    n = len(images)
    if n < 4:
        raise ValueError(f"data.images: got {n} images; an audit needs at least 4")
    if fields["labels"] is None:
        raise ValueError("data.labels: missing; give the true class index of every image")
    y = np.asarray(fields["labels"])
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"data.labels: expected {n} integer class indices, got shape {y.shape} "
            f"and dtype {y.dtype}"
        )
    if y.min() < 0:
        raise ValueError(f"data.labels: class indices must be >= 0, got {int(y.min())}")
    fields["labels"] = y.astype(np.int64)
    if fields["class_names"] is not None:
        fields["class_names"] = [str(c) for c in fields["class_names"]]
        if int(y.max()) >= len(fields["class_names"]):
            raise ValueError(
                f"data.class_names has {len(fields['class_names'])} names but labels go up to "
                f"{int(y.max())}"
            )
    L = fields["concept_labels"]
    if L is not None:
        L = np.asarray(L)
        names = fields["concept_names"]
        if L.ndim != 2 or L.shape[0] != n:
            raise ValueError(f"data.concept_labels: expected shape ({n}, k), got {L.shape}")
        if names is None or len(names) != L.shape[1]:
            raise ValueError(
                f"data.concept_names: expected {L.shape[1]} names (one per column of "
                f"concept_labels), got {None if names is None else len(names)}"
            )
        if not np.isin(L, (0, 1)).all():
            raise ValueError("data.concept_labels: expected 0/1 values")
        fields["concept_labels"] = L.astype(np.uint8)
        fields["concept_names"] = [str(c) for c in names]
    M = fields["part_masks"]
    if M is not None:
        M = np.asarray(M)
        if M.ndim != 4 or M.shape[0] != n or M.shape[2:] != images.shape[1:3]:
            raise ValueError(
                f"data.part_masks: expected shape ({n}, P, {images.shape[1]}, "
                f"{images.shape[2]}), got {M.shape}"
            )
        fields["part_masks"] = M.astype(bool, copy=False)
        parts, poc = fields["part_names"], fields["part_of_concept"]
        if parts is None or len(parts) != M.shape[1]:
            raise ValueError(f"data.part_names: expected {M.shape[1]} names (one per mask)")
        fields["part_names"] = [str(p) for p in parts]
    if fields["part_of_concept"] is not None:
        poc = np.asarray(fields["part_of_concept"], dtype=np.int64)
        names = fields["concept_names"]
        if names is None or poc.shape != (len(names),):
            raise ValueError(
                "data.part_of_concept: expected one part index per concept name, got shape "
                f"{poc.shape}"
            )
        fields["part_of_concept"] = poc
    return AuditData(**fields)


# ------------------------------------------------------------------------- features
