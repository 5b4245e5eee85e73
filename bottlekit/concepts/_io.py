"""Small shared helpers: atomic file writes and argument validation."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder + ``os.replace``).

    A reader never sees a half-written file: it sees the old file or the new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def check_names(names, arg: str = "names") -> list[str]:
    """Validate a list of concept names: non-empty strings, no duplicates, at least one."""
    if isinstance(names, str) or not hasattr(names, "__iter__"):
        raise TypeError(f"{arg} must be a list of strings, got {type(names).__name__}")
    names = list(names)
    if len(names) == 0:
        raise ValueError(f"{arg} is empty; expected at least one concept name")
    out = []
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise TypeError(f"{arg}[{i}] must be a str, got {type(name).__name__}: {name!r}")
        if not name.strip():
            raise ValueError(f"{arg}[{i}] is an empty or blank string; concept names must be text")
        out.append(name)
    seen: dict[str, int] = {}
    for i, name in enumerate(out):
        if name in seen:
            raise ValueError(
                f"{arg} has duplicate name {name!r} at positions {seen[name]} and {i}; "
                "concept names must be unique"
            )
        seen[name] = i
    return out
