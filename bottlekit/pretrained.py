"""The table of weights bottlekit knows by name, and their verified local files.

Like open_clip's ``_PRETRAINED``, one table maps a model name and a pretrained tag to
where the weights are and what they must hash to::

    _PRETRAINED = {model name: {tag: {"file": ..., "sha256": ..., "bytes": ..., ...}}}

``file`` is a path relative to the ``bottlekit`` package folder (weights shipped in the
wheel) or an absolute path. :func:`pretrained_file` returns the file after checking its
size and SHA-256 against the table; a check is remembered per file (size, mtime, inode),
so a file is hashed once per process. :func:`bottlekit.load_backbone` walks this table
before open_clip's tags, so adding an entry here is all it takes to ship new weights.

Examples
--------
>>> list_pretrained()
[('world-tiny', 'bottlekit'), ('world-small', 'bottlekit')]
>>> default_tag("world-tiny"), default_tag("ViT-B-32")
('bottlekit', None)
>>> pretrained_file("world-tiny", "bottlekit").name
'world-tiny.safetensors'
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

__all__ = [
    "SHIPPED_TAG",
    "WeightsNotFoundError",
    "default_tag",
    "get_pretrained_cfg",
    "is_available",
    "list_pretrained",
    "pretrained_file",
]

PACKAGE_DIR = Path(__file__).resolve().parent
SHIPPED_TAG = "bottlekit"
"""The tag of weights that ship inside the package (loaded when ``pretrained=None``)."""

_PRETRAINED: dict[str, dict[str, dict[str, Any]]] = {
    "world-tiny": {
        SHIPPED_TAG: {
            "file": "world/weights/world-tiny.safetensors",
            "sha256": "2a3362b8abaf01fc17fabaf2f94ec19ad8dc8634252861ac58f3a30c4573508a",
            "bytes": 13_764_572,
            "source": "trained on the built-in world by `python -m bottlekit.world.train` "
            "(settings in world/weights/world-tiny.json)",
        },
    },
    "world-small": {
        SHIPPED_TAG: {
            "file": "world/weights/world-small.safetensors",
            "sha256": "45efb5615d46c041a62cf4a44a30e9130f583c57940ce434e5a304a0034c8a0c",
            "bytes": 13_776_860,
            "source": "trained on the built-in world by `python -m bottlekit.world.train "
            "--model world-small` in four stages (commands in world/weights/world-small.json)",
        },
    },
}

_VERIFIED: dict[str, tuple[int, int, int]] = {}  # path -> (size, mtime_ns, inode) checked


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights were asked for but are not available on this machine."""


def list_pretrained() -> list[tuple[str, str]]:
    """``(model name, tag)`` of every entry of the table.

    Returns
    -------
    list of tuple of str
        The entries, in the table's order.

    Examples
    --------
    >>> ("world-tiny", "bottlekit") in list_pretrained()
    True
    """
    return [(model, tag) for model, tags in _PRETRAINED.items() for tag in tags]


def get_pretrained_cfg(model: str, tag: str) -> dict[str, Any]:
    """The table entry of ``(model, tag)`` (a copy), or ``{}`` when there is none.

    Parameters
    ----------
    model : str
        A model name.
    tag : str
        A tag of its weights.

    Returns
    -------
    dict
        ``file``, ``sha256``, ``bytes`` and ``source`` of the weights, or ``{}``.

    Examples
    --------
    >>> sorted(get_pretrained_cfg("world-tiny", "bottlekit")), get_pretrained_cfg("x", "y")
    (['bytes', 'file', 'sha256', 'source'], {})
    """
    if not isinstance(model, str) or not isinstance(tag, str):
        return {}  # no entry (a list or dict as a name would not even be hashable)
    return dict(_PRETRAINED.get(model, {}).get(tag, {}))


def default_tag(model: str) -> str | None:
    """The tag loaded for ``model`` when no weights are named: the shipped ones, if any.

    Parameters
    ----------
    model : str
        A model name.

    Returns
    -------
    str or None
        The tag of the weights shipped with bottlekit, or None (random weights).

    Examples
    --------
    >>> default_tag("world-tiny"), default_tag("ViT-B-32")
    ('bottlekit', None)
    """
    return SHIPPED_TAG if SHIPPED_TAG in _PRETRAINED.get(model, {}) else None


def _entry_path(cfg: dict[str, Any]) -> Path:
    path = Path(cfg["file"])
    return path if path.is_absolute() else PACKAGE_DIR / path


def is_available(model: str, tag: str) -> bool:
    """Whether the file of ``(model, tag)`` is on this machine (not hashed).

    Parameters
    ----------
    model : str
        A model name.
    tag : str
        A tag of its weights.

    Returns
    -------
    bool
        True when the table has the entry and its file exists.

    Examples
    --------
    >>> is_available("world-tiny", "bottlekit"), is_available("world-tiny", "laion")
    (True, False)
    """
    cfg = get_pretrained_cfg(model, tag)
    return bool(cfg) and _entry_path(cfg).is_file()


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pretrained_file(model: str, tag: str) -> Path:
    """The local file of the weights ``(model, tag)`` of the table, checked.

    Parameters
    ----------
    model : str
        Model name, e.g. ``"world-tiny"``.
    tag : str
        Tag of the entry, e.g. ``"bottlekit"``.

    Returns
    -------
    pathlib.Path
        The weights file, its size and SHA-256 checked against the table.

    Raises
    ------
    KeyError
        No such entry.
    WeightsNotFoundError
        The file is missing.
    ValueError
        The file's size or SHA-256 is not the table's (a damaged or replaced file).

    Examples
    --------
    >>> pretrained_file("world-tiny", "bottlekit").is_file()
    True
    """
    cfg = get_pretrained_cfg(model, tag)
    if not cfg:
        raise KeyError(f"no pretrained entry ({model!r}, {tag!r}); entries: {list_pretrained()}")
    path = _entry_path(cfg)
    source = f"; {cfg['source']}" if cfg.get("source") else ""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise WeightsNotFoundError(
            f"pretrained: the weights bottlekit ships for {model!r} are missing: {path} "
            f"(reinstall bottlekit{source})"
        ) from None
    stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
    key = os.fspath(path)
    if _VERIFIED.get(key) == stamp:
        return path
    expected_bytes = cfg.get("bytes")
    if expected_bytes is not None and st.st_size != expected_bytes:
        raise ValueError(
            f"pretrained: {path} has {st.st_size} bytes, the weights of ({model!r}, {tag!r}) "
            f"have {expected_bytes}: the file is damaged or was replaced (reinstall "
            f"bottlekit{source}, and update the table in bottlekit/pretrained.py if new "
            "weights were meant)"
        )
    digest = _sha256_of(path)
    if digest != cfg["sha256"]:
        raise ValueError(
            f"pretrained: {path} has SHA-256 {digest}, the weights of ({model!r}, {tag!r}) "
            f"have {cfg['sha256']}: the file is damaged or was replaced (reinstall "
            f"bottlekit{source}, and update the table in bottlekit/pretrained.py if new "
            "weights were meant)"
        )
    _VERIFIED[key] = stamp
    return path
