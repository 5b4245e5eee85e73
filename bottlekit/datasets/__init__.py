"""Annotated image datasets behind one contract, :class:`ConceptDataset`.

The diagnostics (``audit``, ``concept_existence``, ``concept_location``), the command line
and the studies read any :class:`ConceptDataset`; the built-in ``World``
(:func:`bottlekit.world.make_world`) is one, and :func:`as_concept_dataset` turns a dict
into one. This package imports neither ``bottlekit.world`` nor the applications.

>>> import numpy as np
>>> from bottlekit.datasets import ConceptDataset
>>> ds = ConceptDataset(np.zeros((3, 8, 8, 3), np.uint8), labels=[0, 1, 0])
>>> ds
ConceptDataset(split=None, n=3, classes=2, concepts=0, with=[])
"""

from bottlekit.datasets.concept_dataset import ConceptDataset
from bottlekit.datasets.conversion import DATASET_KEYS, as_concept_dataset

__all__ = ["DATASET_KEYS", "ConceptDataset", "as_concept_dataset"]
