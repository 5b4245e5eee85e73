"""The record of a recipe's run (:func:`~bottlekit.app.reproduce.run_recipe`): printed
beside the paper's number (:func:`format_comparison`) and written as JSON
(:func:`write_record`). Re-exported by :mod:`bottlekit.app.reproduce`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bottlekit._checks import is_number
from bottlekit.safetensors_file import dump_json


def format_comparison(record: dict[str, Any]) -> str:
    """The measured value beside the paper's, as printed by ``bottlekit reproduce``.

    Parameters
    ----------
    record : dict
        A record of :func:`run_recipe`.

    Returns
    -------
    str
        The measured number beside the paper's, with the setting of each.

    Examples
    --------
    >>> rec = {"recipe": "pcbm-cifar10", "title": "PCBM on CIFAR-10", "metric": "accuracy",
    ...        "measured": 0.7712, "difference": -0.0058, "comparable": True,
    ...        "paper": {"value": 0.777, "table": "Table 1, CIFAR-10, PCBM"},
    ...        "dataset": {"name": "cifar10", "test_split": "test", "n_test": 10000},
    ...        "backbone": {"name": "RN50", "pretrained": "openai", "as_in_recipe": True}}
    >>> print(format_comparison(rec))
    pcbm-cifar10: PCBM on CIFAR-10
      metric      accuracy on cifar10/test (10000 images), backbone RN50 / openai
      measured    0.7712
      paper       0.7770  (Table 1, CIFAR-10, PCBM)
      difference  -0.0058

    A number nobody checked against its source, measured on a backbone the recipe
    cannot run:

    >>> rec["paper"].update(value_verified=False, comparable=False, backbone="ResNet-18")
    >>> print(format_comparison(rec).splitlines()[3:])  # doctest: +NORMALIZE_WHITESPACE
    ['  paper       0.7770  (Table 1, CIFAR-10, PCBM)  [unverified: see value_source]',
     '  difference  -0.0058',
     "  note        the paper's number is for another backbone (ResNet-18): not comparable"]
    """
    paper, ds, bk = _record_parts(record)
    lines = [
        f"{record['recipe']}: {record['title']}",
        f"  metric      {record['metric']} on {ds['name']}/{ds['test_split']} "
        f"({ds['n_test']} images), backbone {bk['name']} / {bk['pretrained']}",
        f"  measured    {_number(record['measured'], '.4f')}",
    ]
    if paper.get("value") is None:
        lines.append(f"  paper       none recorded ({paper.get('table')})")
    else:
        unverified = (
            "  [unverified: see value_source]" if paper.get("value_verified") is False else ""
        )
        value = _number(paper["value"], ".4f")
        lines.append(f"  paper       {value}  ({paper.get('table')}){unverified}")
        lines.append(f"  difference  {_number(record.get('difference'), '+.4f')}")
        if paper.get("comparable") is False:
            lines.append(
                f"  note        the paper's number is for another backbone "
                f"({paper.get('backbone')}): not comparable"
            )
    if not bk.get("as_in_recipe", True):
        lines.append(
            "  note        the backbone is not the recipe's: the measured value is not "
            "comparable to the paper's"
        )
    return "\n".join(lines)


_RECORD_KEYS = ("recipe", "title", "metric", "measured", "paper", "dataset", "backbone")


def _record_parts(record: Any) -> tuple[dict, dict, dict]:
    """The ``paper``, ``dataset`` and ``backbone`` tables of a record, checked by name
    (a record may be one read back from a file)."""
    if not isinstance(record, dict):
        raise TypeError(
            f"record: expected a dict (a run_recipe record), got {type(record).__name__}"
        )
    missing = [k for k in _RECORD_KEYS if k not in record]
    if missing:
        raise ValueError(
            f"record: expected the keys {list(_RECORD_KEYS)} of a run_recipe record, "
            f"missing {missing}"
        )
    parts = []
    for key, needed in (
        ("paper", ()),
        ("dataset", ("name", "test_split", "n_test")),
        ("backbone", ("name", "pretrained")),
    ):
        table = record[key]
        if not isinstance(table, dict) or any(k not in table for k in needed):
            raise ValueError(
                f"record: {key!r} must be a dict with the keys {list(needed)}, got {table!r}"[:300]
            )
        parts.append(table)
    return parts[0], parts[1], parts[2]


def _number(value: Any, spec: str) -> str:
    """A measured or paper value as printed; ``null`` in a record read back (a NaN
    written by :func:`write_record`) is "not measured"."""
    if value is None:
        return "none (not measured)"
    if not is_number(value):
        raise TypeError(f"record: expected a number or null, got {value!r}"[:200])
    return format(value, spec)


def write_record(record: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write a record as indented JSON, atomically (:func:`bottlekit.atomic.atomic_write_text`).

    NaN and infinite numbers (a metric that could not be measured) are written as ``null``,
    so the file is standard JSON that any reader accepts; numpy numbers and arrays are
    written as numbers and lists (:func:`bottlekit.safetensors_file.dump_json`).

    Parameters
    ----------
    record : dict
        A record of :func:`run_recipe` (NaN and infinities written as null).
    path : path
        The JSON file to write.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "r.json"
    >>> write_record({"recipe": "x", "measured": 0.5}, path).name
    'r.json'
    >>> json.loads(path.read_text())["measured"]
    0.5
    >>> json.loads(write_record({"measured": float("nan")}, path).read_text())
    {'measured': None}
    """
    from bottlekit.atomic import atomic_write_text, check_output_path

    if not isinstance(record, dict):
        raise TypeError(f"record: expected a dict, got {type(record).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected the path of a .json file, got {path!r}"[:200])
    path = check_output_path(path, "path", is_file=True)
    text = dump_json(record, name="record", indent=2)  # before the file is touched
    atomic_write_text(path, text + "\n")
    return path
