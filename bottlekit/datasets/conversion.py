"""``as_concept_dataset``: a ConceptDataset from what users pass (a dataset, a World, a dict)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from bottlekit.datasets.concept_dataset import ConceptDataset
from bottlekit.images import ImageInputError

__all__ = ["DATASET_KEYS", "as_concept_dataset"]

DATASET_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ConceptDataset) if f.init)
"""The keys a dict may have: the fields of :class:`ConceptDataset`."""

_REQUIRED = ("images", "labels")


def as_concept_dataset(data: Any, *, name: str = "dataset") -> ConceptDataset:
    """A :class:`ConceptDataset` from a dataset, a ``World`` or a dict.

    Parameters
    ----------
    data : ConceptDataset, World, dict or object
        A :class:`ConceptDataset` (the built-in ``World`` is one) is returned as it is. A
        dict must have the keys ``images`` and ``labels`` and may have the other fields of
        :class:`ConceptDataset` (:data:`DATASET_KEYS`). Any other object with ``images``
        and ``labels`` attributes is read like a dict of its attributes of those names.
    name : str, default "dataset"
        The argument's name in error messages (``"data.labels: ..."``).

    Returns
    -------
    ConceptDataset
        ``data`` itself when it is one (not a copy), else a new one of its fields.

    Raises
    ------
    ValueError
        A missing or unknown key, or a field that fails validation; the message names
        ``name`` and the field. Bad images raise
        :class:`~bottlekit.images.ImageInputError` with the message every entry point
        gives for them.
    TypeError
        ``data`` is none of the above.

    Examples
    --------
    >>> import numpy as np
    >>> ds = as_concept_dataset({"images": np.zeros((2, 8, 8, 3), np.uint8), "labels": [0, 1]})
    >>> ds.class_names
    ['0', '1']
    >>> as_concept_dataset({"images": np.zeros((2, 8, 8, 3), np.uint8)}, name="data")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: data: missing key 'labels'; a dataset dict needs 'images' and 'labels' ...
    """
    if isinstance(data, ConceptDataset):
        return data
    if isinstance(data, Mapping):
        keys = [str(k) for k in data]
        unknown = sorted(set(keys) - set(DATASET_KEYS))
        if unknown:
            raise ValueError(
                f"{name}: unknown keys {unknown}; expected some of {list(DATASET_KEYS)}"
            )
        missing = [k for k in _REQUIRED if k not in data]
        if missing:
            raise ValueError(
                f"{name}: missing key {missing[0]!r}; a dataset dict needs 'images' and "
                f"'labels' (got {keys})"
            )
        fields = {k: data[k] for k in DATASET_KEYS if k in data}
    elif hasattr(data, "images") and hasattr(data, "labels"):
        fields = {k: getattr(data, k) for k in DATASET_KEYS if hasattr(data, k)}
    else:
        raise TypeError(
            f"{name}: expected a ConceptDataset (bottlekit.datasets), a World "
            "(bottlekit.world.make_world) or a dict with 'images' and 'labels'; got "
            f"{type(data).__name__}"
        )
    try:
        return ConceptDataset(**fields)
    except ImageInputError:
        raise
    except (ValueError, TypeError) as e:  # a field's check names the field
        raise type(e)(f"{name}.{e}") from None
