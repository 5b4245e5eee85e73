"""Small shared helpers: atomic writes (see bottlekit.atomic) and argument validation."""

from __future__ import annotations

from typing import Any

import numpy as np

from bottlekit._arrays import as_real_array
from bottlekit.atomic import atomic_write_bytes, atomic_write_text

__all__ = [
    "MAX_NAME_CHARS",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_class_prior",
    "check_name_lengths",
    "check_names",
    "check_provenance",
]


#: Longest name (characters) a file from others may hold (a bank's concept and class names
#: and backbone id, a model file's names and labels): a name is a phrase, and a file of
#: megabyte names would fill every message that shows one.
MAX_NAME_CHARS = 4096


def check_name_lengths(names: Any, what: str, source: str) -> None:
    """Refuse a name of ``names`` (the file's ``what``) over :data:`MAX_NAME_CHARS`
    characters, naming the file, the entry and its length; entries that are not strings
    are left to the checks of their kind."""
    for i, name in enumerate(names):
        if isinstance(name, str) and len(name) > MAX_NAME_CHARS:
            raise ValueError(
                f"{source}: {what}[{i}] has {len(name)} characters; at most "
                f"{MAX_NAME_CHARS} are accepted"
            )


def check_provenance(provenance: Any, arg: str = "provenance") -> list[dict]:
    """Copies of the per-concept provenance dicts; ``TypeError`` unless a list of dicts."""
    if isinstance(provenance, (str, bytes, dict)) or not hasattr(provenance, "__iter__"):
        raise TypeError(
            f"{arg}: expected a list of one dict per concept, got {provenance!r}"[:300]
        )
    out = list(provenance)
    for i, p in enumerate(out):
        if not isinstance(p, dict):
            raise TypeError(f"{arg}[{i}]: expected a dict, got {p!r}"[:300])
    return [dict(p) for p in out]


def check_names(names, arg: str = "names") -> list[str]:
    """Validate a list of concept names: non-empty strings of at most
    :data:`MAX_NAME_CHARS` characters (the longest a saved bank or model may hold: a
    longer name, accepted here, made a file that load refused), no duplicates, at least
    one."""
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
        if len(name) > MAX_NAME_CHARS:
            raise ValueError(
                f"{arg}[{i}] has {len(name)} characters (starting {name[:40]!r}); expected "
                f"at most {MAX_NAME_CHARS} (MAX_NAME_CHARS): a name is a short phrase, and "
                "a saved bank or model holding a longer one could not be loaded"
            )
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


def check_class_prior(
    class_prior: Any, class_names: Any, k: int
) -> tuple[list[str] | None, np.ndarray | None]:
    """A concept set's class names and class prior: both or neither.

    Parameters
    ----------
    class_prior : array-like of shape (n_classes, k) or None
        Prior weight of each concept for each class.
    class_names : list of str or None
        The classes, one per row of ``class_prior``.
    k : int
        Number of concepts.

    Returns
    -------
    class_names : list of str or None
    class_prior : ndarray of float32, shape (n_classes, k), or None
    """
    if class_prior is None:
        if class_names is not None:
            raise ValueError("class_names given without class_prior; give both or neither")
        return None, None
    if class_names is None:
        raise ValueError("class_prior given without class_names; give both or neither")
    names = check_names(class_names, "class_names")
    prior = as_real_array(class_prior, "class_prior", dtype=None).astype(np.float32)
    if prior.shape != (len(names), k):
        raise ValueError(
            f"class_prior must have shape (n_classes, k) = ({len(names)}, {k}), got {prior.shape}"
        )
    if not np.isfinite(prior).all():
        raise ValueError("class_prior contains NaN or inf; expected finite values")
    return names, prior
