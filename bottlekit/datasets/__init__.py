"""Annotated image datasets behind one contract, :class:`ConceptDataset`.

The diagnostics (``audit``, ``concept_existence``, ``concept_location``), the command line
and the studies read any :class:`ConceptDataset`; the built-in ``World``
(:func:`bottlekit.world.make_world`) is one, and :func:`as_concept_dataset` turns a dict
into one. Real datasets are one call away in their on-disk formats:
:func:`load_dataset` (``cub``, ``waterbirds``, ``awa2``, ``celeba``, ``cifar10``,
``cifar100``, ``imagefolder``, ``ham10000``) or one loader per dataset, and
:mod:`bottlekit.datasets.download` fetches the public archives. This package imports
neither ``bottlekit.world`` nor the applications.

>>> import numpy as np
>>> from bottlekit.datasets import ConceptDataset
>>> ds = ConceptDataset(np.zeros((3, 8, 8, 3), np.uint8), labels=[0, 1, 0])
>>> ds
ConceptDataset(split=None, n=3, classes=2, concepts=0, with=[])
"""

from bottlekit._lazy import lazy_attributes

_LAZY = {
    "CUB_PART_GROUPS": "bottlekit.datasets.cub",
    "DATASET_KEYS": "bottlekit.datasets.conversion",
    "LOADERS": "bottlekit.datasets.registry",
    "ConceptDataset": "bottlekit.datasets.concept_dataset",
    "DatasetFormatError": "bottlekit.datasets._parsing",
    "KOH_112_ATTRIBUTES": "bottlekit.datasets.cub",
    "KeypointPartMasks": "bottlekit.datasets.lazy",
    "MissingDatasetError": "bottlekit.datasets._parsing",
    "RecordImages": "bottlekit.datasets.lazy",
    "ResizedImages": "bottlekit.datasets.lazy",
    "as_concept_dataset": "bottlekit.datasets.conversion",
    "koh_attribute_subset": "bottlekit.datasets.cub",
    "load_awa2": "bottlekit.datasets.awa2",
    "load_celeba": "bottlekit.datasets.celeba",
    "load_cifar10": "bottlekit.datasets.cifar",
    "load_cifar100": "bottlekit.datasets.cifar",
    "load_cub": "bottlekit.datasets.cub",
    "load_dataset": "bottlekit.datasets.registry",
    "load_ham10000": "bottlekit.datasets.ham10000",
    "load_imagefolder": "bottlekit.datasets.imagefolder",
    "load_waterbirds": "bottlekit.datasets.waterbirds",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
