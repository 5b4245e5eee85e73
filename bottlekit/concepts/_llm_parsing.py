"""Parsing of an LLM answer into a list of concept phrases (:func:`parse_concept_list`)."""

from __future__ import annotations

import re
from typing import Any

from bottlekit.concepts._io import MAX_NAME_CHARS
from bottlekit.concepts._llm_response import LLMParseError
from bottlekit.safetensors_file import parse_json

_BULLET = re.compile(r"^\s*(?:[-*•·–—]|\d{1,3}[.)]|\(\d{1,3}\)|[a-zA-Z][.)](?=\s))\s*")
_FENCE_OPEN = re.compile(r"```[a-zA-Z]*\s*")


def _unfence(text: str) -> str:
    """``text`` stripped, without a markdown code fence around it: three backticks and
    a language name at its start, three backticks at its end. (Found in linear time; the
    pattern ``\\s*```$`` it replaces scanned the rest of a run of white space from each
    of its characters, quadratic time.)"""
    body = text.strip()
    opening = _FENCE_OPEN.match(body)
    if opening:
        body = body[opening.end() :]
    if body.endswith("```"):
        body = body[:-3]
    return body.strip()


_QUOTES = "\"'`"


def _unquote(item: str) -> str:
    """``item`` without the quotes around it: a pair wrapping the whole item, or a stray
    one at an end whose character occurs nowhere else. A quote that closes or opens a
    quotation inside the item stays (``a sign that says "bookstore"``). At most four
    layers, so a hostile line of quotes costs linear time."""
    for _ in range(4):
        item = item.strip().rstrip(".;,:").strip()
        if len(item) >= 2 and item[0] == item[-1] and item[0] in _QUOTES:
            item = item[1:-1]
        elif item[:1] in _QUOTES and item and item.count(item[0]) == 1:
            item = item[1:]
        elif item[-1:] in _QUOTES and item and item.count(item[-1]) == 1:
            item = item[:-1]
        else:
            break
    return item


def _clean_item(item: str) -> str:
    item = re.sub(r"\*\*|__", "", item)  # markdown bold, before a "*" can pass for a bullet
    item = _unquote(_BULLET.sub("", item.strip()))
    item = re.sub(r"\s+", " ", item).rstrip(".;,:").strip()
    if not item.strip(_QUOTES + ".;,: "):  # nothing but quotes and punctuation
        return ""
    return item.lower()


def _from_json(value: Any, depth: int = 0) -> list[str] | None:
    if depth > 32:  # an answer is a list, maybe inside an object or two
        return None
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return value
        flat = []
        for v in value:  # list of {"concept": ...} dicts
            if isinstance(v, dict):
                strs = [x for x in v.values() if isinstance(x, str)]
                if strs:
                    flat.append(strs[0])
        return flat or None
    if isinstance(value, dict):
        for v in value.values():
            got = _from_json(v, depth + 1)
            if got:
                return got
    return None


def _bracketed(text: str) -> list[str]:
    """The spans of ``text`` from its first ``[`` to its last ``]`` and from its first
    ``{`` to its last ``}``, earliest first: where a JSON list or object amid prose can
    be. (Found in linear time; a regular expression took quadratic time on a long answer
    of brackets that never close, hours for a few MB.)"""
    spans = []
    for opener, closer in ("[]", "{}"):
        start, end = text.find(opener), text.rfind(closer)
        if 0 <= start < end:
            spans.append((start, text[start : end + 1]))
    return [span for _, span in sorted(spans)]


# JSON that an answer starts with: "[" or "{" and then a string, list or object
_JSON_START = re.compile(r'[\[{]\s*["\[{]')
# a JSON string literal, closed (group 2) or cut by the end of the answer; or text
# between strings. Every quote that opens a literal is found once (a search for literals
# from each quote took quadratic time on an answer of escaped quotes).
_JSON_TOKEN = re.compile(r'"((?:[^"\\]|\\[\s\S])*)(?:(")|\\?\Z)|[^"]+')
_SPACE = re.compile(r"\s*")


def _cut_json(body: str) -> list[str] | None:
    """The complete strings of a JSON answer cut short (by a token limit) after its first
    ``[``; ``None`` for an answer that does not start as JSON does. A string is an item
    when a comma, a closing bracket or the end follows it: the string being written when
    the answer was cut is left out, and so are an object's keys (a ``:`` follows them).
    Linear time."""
    if not _JSON_START.match(body):
        return None
    start = body.find("[")
    if start < 0:
        return []
    items = []
    for m in _JSON_TOKEN.finditer(body, start):
        if m.group(2) is None:  # text between strings, or the string that was cut
            continue
        after = _SPACE.match(body, m.end()).end()
        if body[after : after + 1] not in ("", ",", "]", "}"):
            continue
        try:
            items.append(parse_json(f'"{m.group(1)}"'))
        except ValueError:  # a bad escape
            continue
    return items


def parse_concept_list(text: str, *, max_words: int = 12) -> list[str]:
    """Parse an LLM answer into concept phrases.

    Accepted forms, tried in order: a JSON list (or an object holding one, possibly in a
    code fence or surrounded by prose); a JSON list cut short, as by a token limit (its
    complete strings; the one being written is left out); bulleted or numbered lines;
    several short lines; one comma- or semicolon-separated line. Items are stripped of
    bullets, markdown bold, the quotes around them (a quotation inside an item is kept
    whole) and trailing punctuation, lower-cased and de-duplicated (first occurrence
    kept); items of more than ``max_words`` words (sentences of prose) or of more than
    :data:`~bottlekit.concepts._io.MAX_NAME_CHARS` characters are dropped. On
    Label-free CBM's stored GPT-3 lists this gives the reference's concepts, lower-cased,
    for all but 2 of 31,188 (its "\\n-" split keeps a trailing colon on two run-on
    items).

    Parameters
    ----------
    text : str
        The model's answer, as returned.
    max_words : int, default 12
        Items of more words than this are taken for prose and dropped.

    Returns
    -------
    list of str
        The concept phrases, lower-cased, in the answer's order, without duplicates.

    Raises
    ------
    LLMParseError
        When nothing list-like is found (empty answer, a refusal, JSON without a list,
        JSON cut short before its first complete item).

    Examples
    --------
    >>> parse_concept_list("Here you go:\\n- Red crest\\n- long, pointed tail.")
    ['red crest', 'long, pointed tail']
    >>> parse_concept_list('{"concepts": ["webbed feet", "orange bill"]}')
    ['webbed feet', 'orange bill']
    """
    if not isinstance(text, str):
        raise LLMParseError(f"answer must be a string, got {type(text).__name__}")
    body = _unfence(text)
    if not body:
        raise LLMParseError("empty answer; expected a list of concepts")
    items: list[str] | None = None
    json_seen = False
    for cand in (body, *_bracketed(body)):
        try:
            value = parse_json(cand)  # ValueError also for nesting too deep to parse
        except ValueError:
            continue
        json_seen = True
        items = _from_json(value)
        if items:
            break
    if items is None and json_seen and body[:1] in "[{":
        raise LLMParseError(f"JSON answer holds no list of strings: {body[:200]!r}")
    if items is None and not json_seen:
        items = _cut_json(body)
        if items == []:
            raise LLMParseError(
                f"JSON answer cut short (no complete list item in it): {body[:200]!r}"
            )
    if not items:
        lines = [ln for ln in body.splitlines() if ln.strip()]
        bullets = [ln for ln in lines if _BULLET.match(ln) and _BULLET.sub("", ln).strip()]
        if bullets:
            items = bullets
        elif len(lines) > 1:
            items = [ln for ln in lines if not ln.rstrip().endswith(":")]
        elif re.search(r"[,;]", body) and not re.search(r"[.!?]$", body):
            # one line "a, b, c"; a sentence ("Sorry, I can't.") is not a list
            items = re.split(r"\s*[,;]\s*", body)
            if any(len(it.split()) > 6 for it in items):
                items = []
        else:
            items = []
    out: list[str] = []
    seen = set()
    for it in items:
        c = _clean_item(it)
        if not c or len(c) > MAX_NAME_CHARS or len(c.split()) > max_words or c in seen:
            continue
        seen.add(c)
        out.append(c)
    if not out:
        raise LLMParseError(f"no list of concepts found in the answer: {body[:200]!r}")
    return out
