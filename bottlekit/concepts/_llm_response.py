"""What a chat request sends and gets back: the messages, :class:`ChatResponse`, the
errors of the LLM client, and the checks of both ends (the messages given, the
completion an endpoint returned, the answer text)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bottlekit.concepts._io import MAX_NAME_CHARS

Messages = list[dict[str, str]]

#: Longest completion id recorded, in characters (an id is a few dozen; a longer one, or
#: one that is not a string, is no id: it is recorded as ``None``).
MAX_ID_CHARS = MAX_NAME_CHARS


class LLMError(RuntimeError):
    """A chat request failed (after retries where the error was transient)."""


class LLMParseError(ValueError):
    """An answer could not be parsed into a list of concepts."""


class _NotSent(LLMError):
    """A request of a batch that was not sent (endpoint unreachable or run deadline)."""


class _Unreachable(LLMError):
    """The endpoint cannot be reached at all (refused, unknown host, no route)."""


class _MalformedResponse(Exception):
    """An HTTP 200 whose body is not a chat completion (not JSON, no choices ...)."""


@dataclass(frozen=True)
class ChatResponse:
    """One chat completion: the answer text and where it came from.

    Parameters
    ----------
    text : str
        The answer's text.
    response_id : str or None
        The completion's ``id``, or ``None`` when the endpoint sent none (or one that is
        not a non-empty string of at most :data:`MAX_ID_CHARS` characters).
    model : str
        The model asked.
    cache_key : str
        The request's key in the answer cache (:func:`request_key`).
    cached : bool
        Whether the answer was read from the cache rather than asked for.
    finish_reason : str or None, default None
        The choice's (``"stop"``; ``"length"`` when the answer was cut by the token
        limit), ``None`` when not sent or not a short string.
    parsed : object, default None
        What the caller's ``parse`` function returned for ``text`` (``None`` when no
        parser was given); not compared.

    Examples
    --------
    >>> r = ChatResponse("red wings", "cmpl-1", "gpt", "ab12", cached=False)
    >>> r.text, r.finish_reason
    ('red wings', None)
    """

    text: str
    response_id: str | None
    model: str
    cache_key: str
    cached: bool
    finish_reason: str | None = None
    parsed: Any = field(default=None, compare=False, repr=False)


def _response_id(value: Any) -> str | None:
    """The completion id ``value`` as recorded: itself if a non-empty string of at most
    :data:`MAX_ID_CHARS` characters, else ``None`` (also for the string ``"None"``, which
    earlier releases wrote for a completion without an id)."""
    if isinstance(value, str) and value.strip() and len(value) <= MAX_ID_CHARS:
        return None if value == "None" else value
    return None


def _finish_reason(value: Any) -> str | None:
    """The choice's ``finish_reason`` as recorded: a short string, else ``None``."""
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


def _check_text(text: str, what: str) -> None:
    """Refuse ``text`` that is not Unicode (a lone surrogate from a JSON escape
    ``"\\ud800"``: it cannot be stored or embedded) with a ``ValueError`` naming ``what``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{what} is not Unicode text ({exc.reason}: {text[exc.start : exc.end]!r} at "
            f"character {exc.start})"
        ) from None


def _read_completion(out: Any, key: str, model: str) -> ChatResponse:
    """The :class:`ChatResponse` of the SDK's completion ``out`` (``model``: the name
    asked for, recorded when the endpoint names none); :class:`_MalformedResponse` when
    ``out`` is not a chat completion."""
    choices = getattr(out, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise _MalformedResponse(f"no choices in {str(out)[:200]!r}")
    message = getattr(choices[0], "message", None)
    if message is None or isinstance(message, (str, bytes, int, float, list, dict)):
        raise _MalformedResponse(f"choice without a message in {str(out)[:200]!r}")
    text = getattr(message, "content", None)
    if text is not None and not isinstance(text, str):
        raise _MalformedResponse(
            f"the message content is {type(text).__name__}, not text, in {str(out)[:200]!r}"
        )
    if text is not None:
        try:
            _check_text(text, "the message content")
        except ValueError as exc:
            raise _MalformedResponse(str(exc)) from None
    named = getattr(out, "model", None)
    named = named if isinstance(named, str) and named.strip() else model
    rid = _response_id(getattr(out, "id", None))
    finish = _finish_reason(getattr(choices[0], "finish_reason", None))
    return ChatResponse(text, rid, named, key, False, finish)


def _require_text(text: str | None) -> str:
    """The default answer check: a non-empty string."""
    if text is None:
        raise LLMParseError("the answer has no text (content: null)")
    if not text.strip():
        raise LLMParseError("empty answer")
    return text


def _then(first: Callable[[Any], Any], second: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda x: second(first(x))


def _check_messages(messages: Any) -> Messages:
    if not isinstance(messages, (list, tuple)) or not messages:
        raise TypeError(f"messages must be a non-empty list of dicts, got {messages!r}")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise TypeError(f"messages[{i}] must be a dict with 'role' and 'content', got {m!r}")
        out.append({"role": str(m["role"]), "content": str(m["content"])})
    return out
