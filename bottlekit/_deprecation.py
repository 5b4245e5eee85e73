"""Deprecated argument names: accept the old name for a while, with a FutureWarning."""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["renamed_argument"]


def renamed_argument(
    owner: str, new: str, new_value: Any, old: str, old_value: Any, default: Any
) -> tuple[Any, str]:
    """The value of an argument renamed from ``old`` to ``new``, and the name it came by.

    ``old_value`` is ``None`` when the old name was not used. When it was, a
    :class:`FutureWarning` (pointing at the caller of ``owner``) says to use ``new``;
    passing both names with different values is a :class:`TypeError`.

    Parameters
    ----------
    owner : str
        The function, for the messages (e.g. ``"make_world"``).
    new, old : str
        The argument's new and old names.
    new_value, old_value : Any
        What was passed under each name (``old_value`` None: not passed).
    default : Any
        The default of ``new`` (a ``new_value`` equal to it counts as not passed).

    Returns
    -------
    value : Any
    name : str
        ``new`` or ``old``: the name to use in messages about the value.

    Examples
    --------
    >>> renamed_argument("f", "random_state", 3, "seed", None, 0)
    (3, 'random_state')
    """
    if old_value is None:
        return new_value, new
    warnings.warn(
        f"{owner}: `{old}` is deprecated and will be removed; use `{new}` (same meaning)",
        FutureWarning,
        stacklevel=3,
    )
    if new_value != default and new_value != old_value:
        raise TypeError(
            f"{owner}: got {new}={new_value!r} and its deprecated alias {old}={old_value!r}; "
            f"pass only {new}"
        )
    return old_value, old
