"""The data an audit reads: images, labels, and optional concept labels and part masks."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from bottlekit._arrays import as_binary_array
from bottlekit.datasets import ConceptDataset, as_concept_dataset

__all__ = ["AuditData", "as_audit_data"]

AuditData = ConceptDataset
"""The data of an audit is a :class:`~bottlekit.datasets.ConceptDataset` (old name, kept)."""


def as_audit_data(data: Any, labels: Any = None) -> ConceptDataset:
    """Validate ``data`` into the :class:`~bottlekit.datasets.ConceptDataset` an audit reads.

    Parameters
    ----------
    data : ConceptDataset, World, dict or images
        Any :class:`~bottlekit.datasets.ConceptDataset` (a
        :class:`bottlekit.world.World` from ``make_world`` is one), a dict with its fields
        (at least ``images`` and ``labels``; see
        :func:`bottlekit.datasets.as_concept_dataset`), or the images themselves (then
        ``labels`` is needed).
    labels : array of shape (n,), optional
        Labels when ``data`` is images.

    Returns
    -------
    ConceptDataset
        At least 4 images; concept labels, if any, are 0/1 (``uint8``).

    Examples
    --------
    >>> images = np.zeros((4, 8, 8, 3), np.uint8)
    >>> data = as_audit_data(images, labels=[0, 1, 0, 1])
    >>> len(data), data.labels.tolist()
    (4, [0, 1, 0, 1])
    >>> as_audit_data(images[:3], labels=[0, 1, 0])
    Traceback (most recent call last):
    ...
    ValueError: data.images: got 3 images; an audit needs at least 4
    """
    if not isinstance(data, (ConceptDataset, Mapping)) and not (
        hasattr(data, "images") and hasattr(data, "labels")
    ):
        data = {"images": data, "labels": labels}
    elif labels is not None:
        data = dataclasses.replace(as_concept_dataset(data, name="data"), labels=labels)
    data = as_concept_dataset(data, name="data")
    if len(data) < 4:
        raise ValueError(f"data.images: got {len(data)} images; an audit needs at least 4")
    L = data.concept_labels
    if L is not None and L.dtype != np.uint8:  # the dataset refused values outside [0, 1]
        L = as_binary_array(L, "data.concept_labels", hint=" (an audit fits CAVs)")
        data = dataclasses.replace(data, concept_labels=L.astype(np.uint8))
    return data


# ------------------------------------------------------------------------- features
