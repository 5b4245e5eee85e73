"""The on-disk cache of LLM answers: one JSON file per request, keyed by
:func:`request_key`, written atomically.

A cache folder that cannot be written is reported once and the answers are used without
being stored; a file that cannot be read (or larger than :data:`MAX_CACHE_FILE_BYTES`) is
a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from bottlekit.atomic import atomic_write_text
from bottlekit.concepts._llm_http import MAX_RESPONSE_BYTES
from bottlekit.concepts._llm_response import (
    MAX_ID_CHARS,
    ChatResponse,
    Messages,
    _check_text,
    _finish_reason,
    _response_id,
)
from bottlekit.safetensors_file import parse_json

# the LLM client's one logger, whichever of its modules writes
logger = logging.getLogger("bottlekit.concepts.llm")

#: Largest cache file read (and written), in bytes. A file holds one answer, whose body
#: the client reads up to ``MAX_RESPONSE_BYTES`` (16 MiB; a chat completion is a few kB),
#: and the request that asked for it (a prompt of a few kB): four times the answer's
#: bound is generous for every real entry, while a corrupt or hostile file of gigabytes is
#: a miss (with a warning) instead of being read into memory.
MAX_CACHE_FILE_BYTES = 4 * MAX_RESPONSE_BYTES

#: Most JSON values a cache file may hold, counted before parsing (see
#: :func:`bottlekit.safetensors_file.parse_json`, which counts the ``[ { , :`` inside
#: strings too): a real entry holds a few dozen values and a few kB of text, while
#: 64 MiB of ``[],`` would take Python objects of about 1.7 GB (bounded to ~70 MB).
MAX_CACHE_FILE_VALUES = 2**20


def _read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, or ``ValueError`` if it holds more than ``limit``: checked
    by ``fstat`` before reading, and at most ``limit + 1`` bytes are read (a file that
    grew meanwhile)."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        data = fh.read(limit + 1) if size <= limit else b""
    if size > limit or len(data) > limit:
        raise ValueError(
            f"it has {max(size, len(data))}{'+' if size <= limit else ''} bytes; at most "
            f"{limit} (MAX_CACHE_FILE_BYTES) are read"
        )
    return data


def default_cache_dir() -> Path:
    """The folder of cached LLM answers.

    Returns
    -------
    pathlib.Path
        ``$BOTTLEKIT_CACHE/llm``, or ``~/.cache/bottlekit/llm`` when ``BOTTLEKIT_CACHE``
        is unset or empty (the embedding cache's root).

    Examples
    --------
    >>> import os
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"BOTTLEKIT_CACHE": "/data/cache"}):
    ...     default_cache_dir().as_posix()
    '/data/cache/llm'
    """
    root = os.environ.get("BOTTLEKIT_CACHE") or Path.home() / ".cache" / "bottlekit"
    return Path(root) / "llm"


def request_key(model: str, messages: Messages, params: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``(model, messages, params)``: the cache key.

    Keys are sorted and separators fixed, so equal requests get equal keys whatever the
    order of their dictionaries.

    Parameters
    ----------
    model : str
        The model name sent to the endpoint.
    messages : list of dict
        The chat messages (``{"role": ..., "content": ...}``).
    params : dict
        The other request parameters (temperature, max_tokens, ...).

    Returns
    -------
    str
        64 hex digits.

    Examples
    --------
    >>> m = [{"role": "user", "content": "hi"}]
    >>> k = request_key("gpt", m, {"temperature": 0, "max_tokens": 5})
    >>> k == request_key("gpt", m, {"max_tokens": 5, "temperature": 0}), len(k)
    (True, 64)
    >>> k == request_key("gpt", m, {"temperature": 1, "max_tokens": 5})
    False
    """
    blob = json.dumps(
        {"model": model, "messages": messages, "params": params},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class _AnswerCache:
    """The answers stored in ``folder``, as ``folder/<key[:2]>/<key>.json``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._write_failed = False

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def read(self, key: str) -> ChatResponse | None:
        """The stored answer of request ``key``, or ``None`` (also for a file that cannot
        be read, or that is not an answer to ``key`` as :meth:`write` writes it, with a
        warning). The response's ``id`` is a string or null (a completion without an id);
        the string ``"None"`` of earlier releases is read as null."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            data = _read_bounded(path, MAX_CACHE_FILE_BYTES)
            # too deep, too many values, not UTF-8: ValueError
            rec = parse_json(data.decode("utf-8"), max_values=MAX_CACHE_FILE_VALUES)
            resp = rec["response"]
            fields = {"text": resp["text"], "id": resp["id"], "model": resp["model"]}
            if rec["key"] != key:  # a file renamed or copied: the answer to another request
                raise ValueError(f"it holds the answer to request {str(rec['key'])[:64]!r}")
            for name, value in fields.items():
                if name == "id" and value is None:  # a completion without an id
                    continue
                if not isinstance(value, str):
                    raise TypeError(
                        f"response.{name} is {type(value).__name__}, expected a string"
                        + (" or null" if name == "id" else "")
                    )
            _check_text(fields["text"], "response.text")  # as a fresh answer is checked
            rid = fields["id"]
            # (the string "None" is what earlier releases wrote for a completion without id)
            if rid not in (None, "None") and _response_id(rid) is None:
                raise ValueError(
                    f"response.id {rid[:64]!r} ({len(rid)} characters) is not a completion "
                    f"id: expected a non-empty string of at most {MAX_ID_CHARS} characters, "
                    "or null"
                )
            finish = resp.get("finish_reason")  # absent from the files of earlier releases
            if finish is not None and _finish_reason(finish) is None:
                raise TypeError(
                    f"response.finish_reason {str(finish)[:64]!r} is not a short string or null"
                )
            return ChatResponse(
                fields["text"], _response_id(rid), fields["model"], key, True, finish
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("ignoring unreadable cache file %s (%s)", path, exc)
            return None

    def write(self, key: str, request: dict, resp: ChatResponse, *, base_url: str | None) -> None:
        """Store ``resp``, the answer to ``request`` (its model, messages and params) sent
        to ``base_url``."""
        rec = {
            "key": key,
            "request": request,
            "response": {
                "id": resp.response_id,
                "model": resp.model,
                "text": resp.text,
                "finish_reason": resp.finish_reason,
            },
            "base_url": base_url,
            "time": time.time(),
        }
        text = json.dumps(rec, ensure_ascii=False, indent=1)
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_CACHE_FILE_BYTES:  # read() would ignore it: not written
            logger.warning(
                "LLM answer to request %s not cached: its cache file would have %d bytes, "
                "more than MAX_CACHE_FILE_BYTES = %d",
                key[:10],
                size,
                MAX_CACHE_FILE_BYTES,
            )
            return
        try:
            atomic_write_text(self.path(key), text)
        except OSError as exc:
            with self._lock:
                first, self._write_failed = not self._write_failed, True
            if first:
                logger.warning(
                    "LLM cache %s cannot be written (%s); answers are used without being cached",
                    self.folder,
                    exc,
                )
