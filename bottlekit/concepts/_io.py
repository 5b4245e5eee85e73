"""Small shared helpers: atomic writes (see bottlekit.atomic) and argument validation."""

from __future__ import annotations

from bottlekit.atomic import atomic_write_bytes, atomic_write_text

__all__ = ["atomic_write_bytes", "atomic_write_text", "check_names"]


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
