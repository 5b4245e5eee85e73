"""User text in figures and reports is shown as written, never parsed as markup."""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_FIGURE_CHARS", "plain_text", "shown_text"]

#: Longest text drawn in a figure (a tick label, title or legend entry); a longer one
#: is cut, ending in "…" (a name of thousands of characters collapsed the axes to
#: nothing). Tables and reports show names in full.
MAX_FIGURE_CHARS = 80


def shown_text(text: Any) -> str:
    r"""``str(text)`` with every lone surrogate written as its escape (``\udcff``).

    A name read from an undecodable file name or byte string (``surrogateescape``) holds
    lone surrogates, which UTF-8 cannot encode and matplotlib cannot draw; every other
    character, outside the Basic Multilingual Plane included, is kept.

    Examples
    --------
    >>> shown_text("caf\udce9 \U0001f426")
    'caf\\udce9 \U0001f426'
    """
    return str(text).encode("utf-8", "backslashreplace").decode("utf-8")


def plain_text(text: Any) -> str:
    r"""``text`` with every ``$`` escaped, so matplotlib shows it instead of reading mathtext.

    Concept and class names come from users, LLMs and documents; a name such as
    ``"price $\evilcmd$ tag"`` would otherwise be parsed as math (and fail to render).
    Lone surrogates are written as escapes (:func:`shown_text`), and text longer than
    :data:`MAX_FIGURE_CHARS` is cut, ending in "…".

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
    >>> len(plain_text("x" * 5000))
    80
    """
    text = shown_text(text)
    if len(text) > MAX_FIGURE_CHARS:
        text = text[: MAX_FIGURE_CHARS - 1] + "…"
    return text.replace("$", r"\$")
