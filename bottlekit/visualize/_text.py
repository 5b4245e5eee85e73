"""User text in figures and reports is shown as written, never parsed as markup."""

from __future__ import annotations

import html
import re
from typing import Any

__all__ = ["MAX_FIGURE_CHARS", "html_text", "plain_text", "shown_text"]

#: Longest text drawn in a figure (a tick label, title or legend entry); a longer one
#: is cut, ending in "…" (a name of thousands of characters collapsed the axes to
#: nothing). Tables and reports show names in full.
MAX_FIGURE_CHARS = 80

#: Characters written as their escape (``\x1b``, ``\u202e``) wherever user text is shown:
#: C0 and C1 control characters and DEL (tab, line feed and carriage return are kept),
#: the non-characters U+FFFE and U+FFFF (neither may appear in XML: an SVG saved with one
#: in a label was not well-formed), and the bidirectional formatting characters (an
#: override such as U+202E in a concept name reversed the text after it in a report line,
#: so that one class could be read as another).
_HIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown_text(text: Any) -> str:
    r"""``str(text)`` with every character that cannot be shown as itself written as its
    escape.

    A name read from an undecodable file name or byte string (``surrogateescape``) holds
    lone surrogates, which UTF-8 cannot encode and matplotlib cannot draw (``\udcff``);
    control characters and bidirectional formatting characters (:data:`_HIDDEN`) are
    invisible or reorder the text around them (``\x1b``, ``\u202e``). Every other
    character, outside the Basic Multilingual Plane included, is kept, and so are tab,
    line feed and carriage return.

    Examples
    --------
    >>> shown_text("caf\udce9 \U0001f426")
    'caf\\udce9 \U0001f426'
    >>> shown_text("a\u202eb\x1bc\td")
    'a\\u202eb\\x1bc\td'
    """
    text = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    return _HIDDEN.sub(_escape, text)


def html_text(text: Any) -> str:
    r"""``text`` as HTML: :func:`shown_text`, then ``&``, ``<``, ``>``, ``"`` and ``'``
    escaped, so it is text in an element and in a quoted attribute value alike.

    The one escaping of every HTML page the package writes (the audit report, the demo's
    page). It is not made for ``<script>``, ``<style>`` or URL contexts, and no page puts
    user text there.

    Examples
    --------
    >>> html_text('<b title="x">\u202e & co</b>')
    '&lt;b title=&quot;x&quot;&gt;\\u202e &amp; co&lt;/b&gt;'
    """
    return html.escape(shown_text(text), quote=True)


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
