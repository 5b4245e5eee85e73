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

from bottlekit.datasets._parsing import DatasetFormatError, MissingDatasetError
from bottlekit.datasets.awa2 import load_awa2
from bottlekit.datasets.celeba import load_celeba
from bottlekit.datasets.cifar import load_cifar10, load_cifar100
from bottlekit.datasets.concept_dataset import ConceptDataset
from bottlekit.datasets.conversion import DATASET_KEYS, as_concept_dataset
from bottlekit.datasets.cub import CUB_PART_GROUPS, koh_attribute_subset, load_cub
from bottlekit.datasets.ham10000 import load_ham10000
from bottlekit.datasets.imagefolder import load_imagefolder
from bottlekit.datasets.lazy import KeypointPartMasks, RecordImages, ResizedImages
from bottlekit.datasets.registry import LOADERS, load_dataset
from bottlekit.datasets.waterbirds import load_waterbirds

__all__ = [
    "CUB_PART_GROUPS",
    "DATASET_KEYS",
    "LOADERS",
    "ConceptDataset",
    "DatasetFormatError",
    "KeypointPartMasks",
    "MissingDatasetError",
    "RecordImages",
    "ResizedImages",
    "as_concept_dataset",
    "koh_attribute_subset",
    "load_awa2",
    "load_celeba",
    "load_cifar10",
    "load_cifar100",
    "load_cub",
    "load_dataset",
    "load_ham10000",
    "load_imagefolder",
    "load_waterbirds",
]
