"""``load_dataset``: any supported dataset by name."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from bottlekit._checks import check_bool, shown_value
from bottlekit._lazy import import_attribute
from bottlekit.datasets.concept_dataset import ConceptDataset

__all__ = ["LOADERS", "load_dataset"]


class _Loaders(Mapping[str, Callable[..., ConceptDataset]]):
    """Dataset name -> loader; a loader's module (some import torch) is imported when the
    loader is first looked up, so that listing the names costs nothing."""

    def __init__(self, modules: dict[str, str]) -> None:
        self._modules = modules

    def __getitem__(self, name: str) -> Callable[..., ConceptDataset]:
        return import_attribute(self._modules[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __repr__(self) -> str:
        return f"LOADERS({', '.join(self._modules)})"


#: The loader of each dataset name.
LOADERS: Mapping[str, Callable[..., ConceptDataset]] = _Loaders(
    {
        "cub": "bottlekit.datasets.cub:load_cub",
        "waterbirds": "bottlekit.datasets.waterbirds:load_waterbirds",
        "awa2": "bottlekit.datasets.awa2:load_awa2",
        "celeba": "bottlekit.datasets.celeba:load_celeba",
        "cifar10": "bottlekit.datasets.cifar:load_cifar10",
        "cifar100": "bottlekit.datasets.cifar:load_cifar100",
        "imagefolder": "bottlekit.datasets.imagefolder:load_imagefolder",
        "ham10000": "bottlekit.datasets.ham10000:load_ham10000",
    }
)


def load_dataset(
    name: str,
    root: str | os.PathLike,
    split: str | None = None,
    download: bool = False,
    **options: Any,
) -> ConceptDataset:
    """A dataset by name, from its files under ``root``.

    Parameters
    ----------
    name : str
        One of :data:`LOADERS`: ``cub``, ``waterbirds``, ``awa2``, ``celeba``,
        ``cifar10``, ``cifar100``, ``imagefolder``, ``ham10000``.
    root : path
        The dataset's folder (see each loader and ``docs/datasets.md``).
    split : str, optional
        The split; None: the loader's default.
    download : bool, default False
        Fetch the public archive first where there is one
        (:func:`bottlekit.datasets.download.download_dataset`).
    **options
        The loader's own options (e.g. ``attributes="koh112"``, ``image_size=224`` for
        CUB; ``target="Smiling"`` for CelebA).

    Returns
    -------
    ConceptDataset
        What the dataset's loader (``load_<name>``) returns.

    Examples
    --------
    >>> load_dataset("mnist", "/data")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: name: unknown dataset 'mnist'; expected one of ['awa2', 'celeba', ...]
    """
    if not isinstance(name, str):  # str(name) made "['cub']" and an "unknown dataset"
        raise TypeError(
            f"name: expected a dataset name, one of {sorted(LOADERS)}, got {shown_value(name)}"
        )
    key = name.lower()
    if key not in LOADERS:
        raise ValueError(
            f"name: unknown dataset {shown_value(name)}; expected one of {sorted(LOADERS)}"
        )
    loader = LOADERS[key]
    params = inspect.signature(loader).parameters
    unknown = sorted(set(options) - set(params) - {"root", "split"})
    if unknown:
        accepted = [p for p in params if p not in ("root", "split", "download")]
        raise ValueError(f"options: {unknown} are not options of {key}; it takes {accepted}")
    download = check_bool(download, "download")
    kwargs = dict(options)
    if split is not None:
        kwargs["split"] = split
    if download:
        if "download" not in params:
            from bottlekit.datasets.download import download_dataset

            download_dataset(key, root)  # raises: a manual step is needed
        kwargs["download"] = True
    return loader(root, **kwargs)
