"""``--dataset NAME --root DIR [--split S] [--dataset-option KEY=VALUE ...]``: a dataset of
:mod:`bottlekit.datasets` by name, for the commands that read images (``embed``,
``audit``)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

__all__ = [
    "add_dataset_arguments",
    "check_dataset_only_options",
    "dataset_from_args",
    "parse_dataset_options",
]


def add_dataset_arguments(
    parser: argparse.ArgumentParser, group: Any = None, name_help: str | None = None
) -> None:
    """Add ``--dataset`` (to ``group`` when given, e.g. a mutually exclusive group),
    ``--root``, ``--split``, ``--dataset-option`` and ``--download`` to ``parser``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    group : argparse argument group, optional
        Where ``--dataset`` goes instead of ``parser``.
    name_help : str, optional
        The help of ``--dataset`` (default: the known dataset names).
    """
    from bottlekit.datasets import LOADERS

    (group or parser).add_argument(
        "--dataset",
        metavar="NAME",
        help=name_help or f"a dataset by name, read from --root: {', '.join(sorted(LOADERS))}",
    )
    parser.add_argument("--root", default=None, help="with --dataset: the dataset's folder")
    parser.add_argument(
        "--split", default=None, help="with --dataset: the split (default: the loader's)"
    )
    parser.add_argument(
        "--dataset-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with --dataset: an option of its loader, e.g. attributes=koh112 or "
        "image_size=224 for cub, target=Smiling for celeba (repeatable; VALUE is read as "
        "JSON when it parses, e.g. 224, true, [224,224], else as text)",
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="with --dataset: fetch the public archive first where there is one",
    )


#: Arguments of :func:`~bottlekit.datasets.load_dataset` that have their own option.
_OWN_OPTIONS = {
    "name": "--dataset",
    "root": "--root",
    "split": "--split",
    "download": "--download",
}


def parse_dataset_options(items: list[str]) -> dict[str, Any]:
    """``["key=value", ...]`` to a dict; values are JSON where they parse, else text.

    Parameters
    ----------
    items : list of str
        The ``--dataset-option`` values.

    Returns
    -------
    dict
        Option name to value.

    Examples
    --------
    >>> parse_dataset_options(["image_size=224", "attributes=koh112", "flag=true"])
    {'image_size': 224, 'attributes': 'koh112', 'flag': True}
    >>> parse_dataset_options(["image_size"])
    Traceback (most recent call last):
    ...
    ValueError: --dataset-option: expected KEY=VALUE, got 'image_size'
    >>> parse_dataset_options(["image_size=NaN"])
    Traceback (most recent call last):
    ...
    ValueError: --dataset-option: 'image_size=NaN' holds NaN or infinity; expected finite numbers
    """
    from bottlekit.safetensors_file import parse_json

    if isinstance(items, (str, bytes)) or not isinstance(items, (list, tuple)):
        raise TypeError(f"--dataset-option: expected a list of KEY=VALUE strings, got {items!r}")
    options: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"--dataset-option: expected KEY=VALUE strings, got {item!r}")
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key.isidentifier():
            raise ValueError(f"--dataset-option: expected KEY=VALUE, got {item!r}")
        if key in _OWN_OPTIONS:
            raise ValueError(
                f"--dataset-option: {key!r} is set with {_OWN_OPTIONS[key]}, not here"
            )
        if key in options:
            raise ValueError(f"--dataset-option: {key!r} is given twice")
        try:
            value: Any = parse_json(text)
        except ValueError as e:
            if str(e) == "it nests too deeply":
                raise ValueError(
                    f"--dataset-option: the value of {key!r} nests too deeply"
                ) from None
            value = text  # not JSON: text
        if _has_non_finite(value):
            raise ValueError(
                f"--dataset-option: {item!r} holds NaN or infinity; expected finite numbers"
            )
        options[key] = tuple(value) if isinstance(value, list) else value
    return options


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list):
        return any(map(_has_non_finite, value))
    if isinstance(value, dict):
        return any(map(_has_non_finite, value.values()))
    return False


def dataset_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~bottlekit.datasets.ConceptDataset` named by ``args.dataset``.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``--dataset``, ``--root``, ``--split``, ``--dataset-option`` and
        ``--download``.

    Returns
    -------
    ConceptDataset
        The dataset, loaded by :func:`~bottlekit.datasets.load_dataset`.

    Raises
    ------
    ValueError
        An unknown name (the known ones are listed), no ``--root``, a ``--root`` that is
        not a folder (without ``--download``), or an option the loader does not take.
    """
    from bottlekit.datasets import LOADERS, load_dataset

    name = str(args.dataset).lower()
    if name not in LOADERS:
        raise ValueError(
            f"--dataset: unknown dataset {args.dataset!r}; expected one of "
            f"{', '.join(sorted(LOADERS))}"
        )
    if not args.root:
        raise ValueError(f"--root: required with --dataset {name} (the dataset's folder)")
    root = Path(args.root).expanduser()
    if not args.download and not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise ValueError(
            f"--root: {str(root)!r} {what}; expected the folder of the {name} dataset "
            "(or add --download)"
        )
    options = parse_dataset_options(args.dataset_option)
    try:
        return load_dataset(name, root, split=args.split, download=args.download, **options)
    except ValueError as e:
        text = str(e)
        if text.startswith("options: "):
            raise ValueError("--dataset-option: " + text[len("options: ") :]) from None
        raise


def check_dataset_only_options(args: argparse.Namespace) -> None:
    """Refuse ``--root``, ``--split``, ``--dataset-option``, ``--download`` without
    ``--dataset`` (they would be ignored).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options.
    """
    if args.dataset:
        return
    given = [
        flag
        for flag, value in (
            ("--root", args.root),
            ("--split", args.split),
            ("--dataset-option", args.dataset_option),
            ("--download", args.download),
        )
        if value
    ]
    if given:
        raise ValueError(f"{given[0]}: only applies with --dataset NAME")
