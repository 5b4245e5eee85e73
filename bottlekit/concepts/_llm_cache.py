"""The on-disk cache of LLM answers: one JSON file per request, keyed by
:func:`request_key`, written atomically.

A cache folder that cannot be written is reported once and the answers are used without
being stored; a file that cannot be read is a miss.
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


def default_cache_dir() -> Path:
    """``$BOTTLEKIT_CACHE/llm`` or ``~/.cache/bottlekit/llm`` (the embedding cache's root)."""
    root = os.environ.get("BOTTLEKIT_CACHE") or Path.home() / ".cache" / "bottlekit"
    return Path(root) / "llm"


def request_key(model: str, messages: Messages, params: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``(model, messages, params)``."""
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
            rec = parse_json(path.read_text(encoding="utf-8"))  # too deep: ValueError
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
        try:
            atomic_write_text(self.path(key), json.dumps(rec, ensure_ascii=False, indent=1))
        except OSError as exc:
            with self._lock:
                first, self._write_failed = not self._write_failed, True
            if first:
                logger.warning(
                    "LLM cache %s cannot be written (%s); answers are used without being cached",
                    self.folder,
                    exc,
                )
