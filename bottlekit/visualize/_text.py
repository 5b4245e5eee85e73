"""User text in figures is shown as written, never parsed as markup."""

from __future__ import annotations

from typing import Any

__all__ = ["plain_text"]


def plain_text(text: Any) -> str:
    r"""``text`` with every ``$`` escaped, so matplotlib shows it instead of reading mathtext.

    Concept and class names come from users, LLMs and documents; a name such as
    ``"price $\evilcmd$ tag"`` would otherwise be parsed as math (and fail to render).

    Parameters
    ----------
    text : object
        Converted with ``str``.

    Returns
    -------
    str

    Examples
    --------
    >>> plain_text("price $5$ tag")
    'price \\$5\\$ tag'
    """
    return str(text).replace("$", r"\$")
