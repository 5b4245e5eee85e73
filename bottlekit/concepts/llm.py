"""OpenAI-compatible chat client with retries, bounded concurrency and an on-disk cache.

Every request/response pair is stored as one JSON file keyed by a hash of
``(model, messages, params)``; a repeated run reads the files and makes no network call,
and an interrupted run only pays for the requests whose answers are not on disk yet.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bottlekit.concepts._io import atomic_write_text

logger = logging.getLogger(__name__)

Messages = list[dict[str, str]]


class LLMError(RuntimeError):
    """A chat request failed (after retries where the error was transient)."""


class LLMParseError(ValueError):
    """An answer could not be parsed into a list of concepts."""


@dataclass(frozen=True)
class ChatResponse:
    """One chat completion: the answer text and where it came from."""

    text: str
    response_id: str
    model: str
    cache_key: str
    cached: bool


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


class ChatClient:
    r"""Chat-completions client for any OpenAI-compatible endpoint, with a response cache.

    Parameters
    ----------
    model : str, optional
        Model name; defaults to ``$OPENAI_MODEL``.
    base_url : str, optional
        Endpoint, e.g. ``http://localhost:8000/v1``; defaults to ``$OPENAI_BASE_URL`` (and
        then to the OpenAI API).
    api_key : str, optional
        Defaults to ``$OPENAI_API_KEY``. Only needed when a request misses the cache.
    cache_dir : path-like, optional
        Where request/response JSON files go (:func:`default_cache_dir` by default).
    max_retries : int
        Retries after a rate limit (429), a server error (5xx), a timeout or a connection
        error. Other errors (400, 401, 404) are raised at once.
    backoff : float
        First wait in seconds; attempt :math:`a` waits
        :math:`\min(\text{max\_backoff}, \text{backoff}\cdot 2^a)\cdot(1+U[0, 0.25])`,
        or the server's ``Retry-After`` if that is longer (still capped).
    max_backoff : float
        Cap on one wait, in seconds.
    max_concurrency : int
        Requests in flight at once in :meth:`complete_many`.
    timeout : float
        Seconds per HTTP request.
    offline : bool
        Never touch the network: a cache miss raises :class:`LLMError`.
    params : dict, optional
        Extra chat-completion parameters sent with every request (``temperature`` ...);
        they are part of the cache key.

    Notes
    -----
    The cache key is ``sha256(model, messages, params)``; the endpoint URL is not part of
    it, so the same model name served by two endpoints shares cached answers. Files are
    written atomically (temporary file + ``os.replace``), so concurrent workers and killed
    runs never leave a half-written answer. The cache is a folder of small JSON files that
    can be inspected, copied or deleted freely.

    Examples
    --------
    >>> client = ChatClient("my-model", base_url="http://localhost:8000/v1", api_key="x")
    >>> client.complete([{"role": "user", "content": "hi"}]).text  # doctest: +SKIP
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        max_retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        max_concurrency: int = 4,
        timeout: float = 60.0,
        offline: bool = False,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.model = model or os.environ.get("OPENAI_MODEL")
        if not self.model:
            raise ValueError("no model given: pass model= or set the OPENAI_MODEL variable")
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an int >= 0, got {max_retries!r}")
        if backoff < 0 or max_backoff < 0:
            raise ValueError(f"backoff and max_backoff must be >= 0, got {backoff}, {max_backoff}")
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ValueError(f"max_concurrency must be an int >= 1, got {max_concurrency!r}")
        self.max_retries = max_retries
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.max_concurrency = max_concurrency
        self.timeout = float(timeout)
        self.offline = bool(offline)
        self.params = dict(params or {})
        self._client = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"ChatClient(model={self.model!r}, base_url={self.base_url!r}, "
            f"cache_dir={str(self.cache_dir)!r})"
        )

    # ----------------------------------------------------------------- cache
    def _cache_path(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.json"

    def cached(self, messages: Messages, **params: Any) -> ChatResponse | None:
        """The cached response of this request, or ``None``."""
        merged = {**self.params, **params}
        key = request_key(self.model, messages, merged)
        path = self._cache_path(key)
        if not path.is_file():
            return None
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
            resp = rec["response"]
            return ChatResponse(resp["text"], resp["id"], resp["model"], key, True)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("ignoring unreadable cache file %s (%s)", path, exc)
            return None

    def _store(self, key: str, messages: Messages, params: dict, resp: ChatResponse) -> None:
        rec = {
            "key": key,
            "request": {"model": self.model, "messages": messages, "params": params},
            "response": {"id": resp.response_id, "model": resp.model, "text": resp.text},
            "base_url": self.base_url,
            "time": time.time(),
        }
        atomic_write_text(self._cache_path(key), json.dumps(rec, ensure_ascii=False, indent=1))

    # --------------------------------------------------------------- network
    def _openai(self):
        with self._lock:
            if self._client is None:
                try:
                    import openai
                except ImportError as exc:  # pragma: no cover - depends on the environment
                    raise ImportError(
                        "LLM generation needs the openai package: pip install 'bottlekit[llm]'"
                    ) from exc
                if not self.api_key:
                    raise LLMError(
                        "no API key for a request that is not cached: pass api_key= or set "
                        "OPENAI_API_KEY (any non-empty string for local servers)"
                    )
                self._client = openai.OpenAI(
                    api_key=self.api_key,
                    base_url=self.base_url,
                    max_retries=0,  # retries are ours, with logging and a cap
                    timeout=self.timeout,
                )
            return self._client

    def _wait(self, attempt: int, exc: Exception) -> float:
        wait = min(self.max_backoff, self.backoff * 2**attempt)
        wait *= 1 + 0.25 * random.random()
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        retry_after = headers.get("retry-after") if hasattr(headers, "get") else None
        try:
            if retry_after is not None:
                wait = max(wait, min(self.max_backoff, float(retry_after)))
        except ValueError:
            pass
        return wait

    def _request(self, messages: Messages, params: dict, key: str) -> ChatResponse:
        import openai

        client = self._openai()
        transient = (
            openai.RateLimitError,
            openai.InternalServerError,
            openai.APIConnectionError,  # includes APITimeoutError
        )
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            try:
                out = client.chat.completions.create(model=self.model, messages=messages, **params)
            except transient as exc:
                last = exc
                if attempt == self.max_retries:
                    break
                wait = self._wait(attempt, exc)
                logger.warning(
                    "LLM request %s failed (%s: %s); retry %d/%d in %.2fs",
                    key[:10],
                    type(exc).__name__,
                    exc,
                    attempt + 1,
                    self.max_retries,
                    wait,
                )
                time.sleep(wait)
                continue
            except openai.APIStatusError as exc:
                raise LLMError(
                    f"LLM endpoint {self.base_url!r} refused the request with HTTP "
                    f"{exc.status_code}: {exc.message}"
                ) from exc
            choices = getattr(out, "choices", None) or []
            if not choices or choices[0].message is None:
                raise LLMError(f"LLM response {getattr(out, 'id', '?')!r} has no message")
            text = choices[0].message.content or ""
            return ChatResponse(text, str(out.id), str(out.model or self.model), key, False)
        status = getattr(last, "status_code", None)
        raise LLMError(
            f"LLM request failed after {self.max_retries + 1} attempt(s) against "
            f"{self.base_url!r}: {type(last).__name__}"
            + (f" (HTTP {status})" if status else "")
            + f": {last}"
        ) from last

    def complete(self, messages: Messages, **params: Any) -> ChatResponse:
        """One chat completion, from the cache if present.

        Parameters
        ----------
        messages : list of dict
            Chat messages ``{"role": ..., "content": ...}``.
        **params
            Extra parameters (merged over the client's ``params``; part of the cache key).

        Returns
        -------
        ChatResponse
        """
        messages = _check_messages(messages)
        merged = {**self.params, **params}
        key = request_key(self.model, messages, merged)
        hit = self.cached(messages, **params)
        if hit is not None:
            return hit
        if self.offline:
            raise LLMError(f"request {key[:10]} is not in the cache {self.cache_dir} (offline)")
        resp = self._request(messages, merged, key)
        self._store(key, messages, merged, resp)
        return resp

    def complete_many(
        self,
        requests: Sequence[Messages],
        *,
        progress: bool = True,
        desc: str = "LLM requests",
        **params: Any,
    ) -> list[ChatResponse]:
        """Many completions, at most ``max_concurrency`` in flight, with a progress bar.

        Cached answers are returned without a request. Every fresh answer is written to
        the cache as soon as it arrives, so if some requests fail the others are kept and
        a rerun only sends the missing ones.

        Raises
        ------
        LLMError
            After all requests ran, if any failed (the message says how many are cached).
        """
        from tqdm.auto import tqdm

        requests = [_check_messages(m) for m in requests]
        results: list[ChatResponse | None] = [None] * len(requests)
        todo = []
        for i, msgs in enumerate(requests):
            hit = self.cached(msgs, **params)
            if hit is not None:
                results[i] = hit
            else:
                todo.append(i)
        errors: dict[int, Exception] = {}
        with tqdm(
            total=len(requests), initial=len(requests) - len(todo), desc=desc, disable=not progress
        ) as bar:
            if todo:
                with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
                    futures = {pool.submit(self.complete, requests[i], **params): i for i in todo}
                    for fut in as_completed(futures):
                        i = futures[fut]
                        try:
                            results[i] = fut.result()
                        except LLMError as exc:
                            errors[i] = exc
                        bar.update(1)
        if errors:
            first = errors[min(errors)]
            done = len(requests) - len(errors)
            raise LLMError(
                f"{len(errors)} of {len(requests)} LLM request(s) failed; the {done} answered "
                f"are cached in {self.cache_dir}, so rerunning sends only the failed ones. "
                f"First error: {first}"
            ) from first
        return results  # type: ignore[return-value]


def _check_messages(messages: Any) -> Messages:
    if not isinstance(messages, (list, tuple)) or not messages:
        raise TypeError(f"messages must be a non-empty list of dicts, got {messages!r}")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise TypeError(f"messages[{i}] must be a dict with 'role' and 'content', got {m!r}")
        out.append({"role": str(m["role"]), "content": str(m["content"])})
    return out


# ------------------------------------------------------------------ parsing
_BULLET = re.compile(r"^\s*(?:[-*•·–—]|\d{1,3}[.)]|\(\d{1,3}\)|[a-zA-Z][.)](?=\s))\s*")
_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")


def _clean_item(item: str) -> str:
    item = _BULLET.sub("", item.strip())
    item = item.strip().strip("\"'`").strip()
    item = re.sub(r"\*\*|__", "", item)
    item = re.sub(r"\s+", " ", item).rstrip(".;,:").strip()
    return item.lower()


def _from_json(value: Any) -> list[str] | None:
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
            got = _from_json(v)
            if got:
                return got
    return None


def parse_concept_list(text: str, *, max_words: int = 12) -> list[str]:
    """Parse an LLM answer into concept phrases.

    Accepted forms, tried in order: a JSON list (or an object holding one, possibly in a
    code fence or surrounded by prose); bulleted or numbered lines; several short lines;
    one comma- or semicolon-separated line. Items are stripped of bullets, quotes and
    trailing punctuation, lower-cased and de-duplicated (first occurrence kept); items of
    more than ``max_words`` words (sentences of prose) are dropped.

    Raises
    ------
    LLMParseError
        When nothing list-like is found (empty answer, a refusal, JSON without a list).

    Examples
    --------
    >>> parse_concept_list("Here you go:\\n- Red crest\\n- long, pointed tail.")
    ['red crest', 'long, pointed tail']
    >>> parse_concept_list('{"concepts": ["webbed feet", "orange bill"]}')
    ['webbed feet', 'orange bill']
    """
    if not isinstance(text, str):
        raise LLMParseError(f"answer must be a string, got {type(text).__name__}")
    body = _FENCE.sub("", text.strip()).strip()
    if not body:
        raise LLMParseError("empty answer; expected a list of concepts")
    items: list[str] | None = None
    json_seen = False
    for cand in (body, *re.findall(r"(\[.*\]|\{.*\})", body, flags=re.S)):
        try:
            value = json.loads(cand)
        except ValueError:
            continue
        json_seen = True
        items = _from_json(value)
        if items:
            break
    if items is None and json_seen and body[:1] in "[{":
        raise LLMParseError(f"JSON answer holds no list of strings: {body[:200]!r}")
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
        if not c or len(c.split()) > max_words or c in seen:
            continue
        seen.add(c)
        out.append(c)
    if not out:
        raise LLMParseError(f"no list of concepts found in the answer: {body[:200]!r}")
    return out
