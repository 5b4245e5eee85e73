"""OpenAI-compatible chat client with retries, deadlines, bounded concurrency and a cache.

Every request/response pair is stored as one JSON file keyed by a hash of
``(model, messages, params)``; a repeated run reads the files and makes no network call,
and an interrupted run only pays for the requests whose answers are not on disk yet.
Only answers that pass the caller's parser are stored, so a refusal or an empty answer is
never replayed from the cache.
"""

from __future__ import annotations

import email.utils
import errno
import hashlib
import json
import logging
import os
import random
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bottlekit._checks import is_number
from bottlekit.atomic import atomic_write_text
from bottlekit.safetensors_file import parse_json

logger = logging.getLogger(__name__)

Messages = list[dict[str, str]]

#: Wait before the single retry of a request whose endpoint could not be reached.
CONNECT_RETRY_WAIT = 0.5
#: Largest response body read, in bytes (a chat completion is a few kB); a longer one
#: fails the request at once instead of filling memory.
MAX_RESPONSE_BYTES = 16 * 2**20
#: Longest ``Retry-After`` honoured, in seconds; a longer one fails the request at once
#: (with ``request_deadline=None`` it would otherwise wait that long).
MAX_RETRY_AFTER = 600.0
#: The endpoint the openai client uses when neither ``base_url`` nor the variable is set.
OPENAI_DEFAULT_URL = "https://api.openai.com/v1"
_CLIENT_DEFAULT = object()  # "use the client's setting"


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


class _ResponseTooLarge(Exception):
    """A response body longer than :data:`MAX_RESPONSE_BYTES`."""


def _bounded_http_client(openai: Any, timeout: float) -> Any:
    """The openai SDK's HTTP client, with its defaults, that follows no redirect and cuts
    a response body that is longer than :data:`MAX_RESPONSE_BYTES` or still arriving
    after the attempt's read timeout (a server that trickles bytes passes every per-read
    timeout and never ends otherwise)."""
    client_class = openai.DefaultHttpxClient
    package = next(c for c in client_class.__mro__ if not c.__module__.startswith("openai"))
    httpx = sys.modules[package.__module__.split(".")[0]]

    class BoundedStream(httpx.SyncByteStream):
        def __init__(self, inner: Any, request: Any, seconds: float) -> None:
            self._inner, self._request, self._seconds = inner, request, seconds

        def __iter__(self):
            end, n = time.monotonic() + self._seconds, 0
            for chunk in self._inner:
                n += len(chunk)
                if n > MAX_RESPONSE_BYTES:
                    raise _ResponseTooLarge(
                        f"the response body exceeds {MAX_RESPONSE_BYTES} bytes "
                        "(MAX_RESPONSE_BYTES); a chat completion is a few kB"
                    )
                if time.monotonic() > end:
                    raise httpx.ReadTimeout(
                        f"the response body was still arriving after {self._seconds:g}s (timeout)",
                        request=self._request,
                    )
                yield chunk

        def close(self) -> None:
            self._inner.close()

    def bound(response: Any) -> None:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
            response.close()
            raise _ResponseTooLarge(
                f"the response declares {declared} bytes, more than {MAX_RESPONSE_BYTES} "
                "(MAX_RESPONSE_BYTES); a chat completion is a few kB"
            )
        seconds = (response.request.extensions.get("timeout") or {}).get("read") or timeout
        response.stream = BoundedStream(response.stream, response.request, seconds)

    return client_class(timeout=timeout, follow_redirects=False, event_hooks={"response": [bound]})


@dataclass(frozen=True)
class ChatResponse:
    """One chat completion: the answer text and where it came from.

    ``parsed`` holds what the caller's ``parse`` function returned for ``text`` (``None``
    when no parser was given).
    """

    text: str
    response_id: str
    model: str
    cache_key: str
    cached: bool
    parsed: Any = field(default=None, compare=False, repr=False)


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


def _require_text(text: str | None) -> str:
    """The default answer check: a non-empty string."""
    if text is None:
        raise LLMParseError("the answer has no text (content: null)")
    if not text.strip():
        raise LLMParseError("empty answer")
    return text


def _retry_after(exc: Exception) -> float | None:
    """Seconds asked for by a ``Retry-After`` (or ``retry-after-ms``) header, if any."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None or not hasattr(headers, "get"):
        return None
    ms = headers.get("retry-after-ms")
    try:
        if ms is not None:
            return max(0.0, float(ms) / 1000)
    except ValueError:
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # an HTTP date
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


_UNREACHABLE_ERRNOS = {
    errno.ECONNREFUSED,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.EADDRNOTAVAIL,
}


def _unreachable(exc: BaseException) -> bool:
    """Whether a connection error means "no server there" (refused, DNS, no route).

    A connection that was opened and then dropped (reset, protocol error) is a transient
    server fault instead, retried with backoff.
    """
    seen = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if type(cur).__name__ == "ConnectError" or isinstance(
            cur, (socket.gaierror, ConnectionRefusedError)
        ):
            return True
        if isinstance(cur, OSError) and cur.errno in _UNREACHABLE_ERRNOS:
            return True
        cur = cur.__cause__ or cur.__context__
    return False


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
        Retries after a rate limit (429), a server error (5xx, 408, 409), a timeout or a
        response that is not a chat completion (an HTTP 200 whose body is not JSON).
        Other errors (400, 401, 404) are raised at once. An endpoint that cannot be
        reached at all (connection refused, unknown host, no route) is retried once,
        after :data:`CONNECT_RETRY_WAIT` seconds, and then reported: the message names
        ``base_url`` / ``OPENAI_BASE_URL`` and the cache folder.
    backoff : float
        First wait in seconds; attempt :math:`a` waits
        :math:`\min(\text{max\_backoff}, \text{backoff}\cdot 2^a)\cdot(1+U[0, 0.25])`,
        or the server's ``Retry-After`` if that is longer. A ``Retry-After`` on a 429
        pauses every request of the client, not only the one that got it.
    max_backoff : float
        Cap on one computed wait, in seconds (a longer ``Retry-After`` is honoured, within
        the deadlines; one longer than :data:`MAX_RETRY_AFTER` fails the request at once).
    max_concurrency : int
        Requests in flight at once in :meth:`complete_many`.
    timeout : float
        Seconds for one HTTP attempt (shortened to what is left of the deadlines), the
        whole response body included: a body still arriving then is cut, as is one longer
        than :data:`MAX_RESPONSE_BYTES`. Redirects are not followed.
    request_deadline : float or None
        Seconds one request may take in all: every attempt, every wait and every re-ask
        of an unparsable answer. When a wait would go past it the request fails at once,
        saying so. ``None``: bounded by the retry counts only. Default 120 s, so a hung
        endpoint costs two minutes per request at most (it used to be about 6.5).
    run_deadline : float or None
        Seconds one :meth:`complete_many` call may take in all; requests not finished by
        then fail, those not sent yet are not sent. ``None`` (default): no bound beyond
        ``request_deadline`` per request.
    max_parse_retries : int
        How many times a request is asked again when its answer does not parse (a
        refusal, ``content: null``, no list); then :class:`LLMParseError` is raised.
    offline : bool
        Never touch the network: a cache miss raises :class:`LLMError`.
    params : dict, optional
        Extra chat-completion parameters sent with every request (``temperature`` ...);
        they are part of the cache key.

    Notes
    -----
    The cache key is ``sha256(model, messages, params)``; the endpoint URL is not part of
    it, so the same model name served by two endpoints shares cached answers. Only an
    answer that passes the parser given to :meth:`complete` (by default: any non-empty
    text) is stored, and a cached answer that does not pass it is asked again. Files are
    written atomically (temporary file + ``os.replace``), so concurrent workers and killed
    runs never leave a half-written answer; a cache folder that cannot be written is
    reported once and the answers are used without being stored. The cache is a folder
    of small JSON files that can be inspected, copied or deleted freely.

    Examples
    --------
    >>> client = ChatClient("my-model", base_url="http://localhost:8000/v1", api_key="x")
    >>> client.request_deadline, client.run_deadline
    (120.0, None)
    >>> client.complete([{"role": "user", "content": "hi"}]).text  # doctest: +SKIP
    """

    # Time sources, replaceable in tests (instance attributes shadow them).
    _clock: Callable[[], float] = staticmethod(time.monotonic)
    _sleep: Callable[[float], None] = staticmethod(time.sleep)

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
        max_concurrency: int = 8,
        timeout: float = 60.0,
        request_deadline: float | None = 120.0,
        run_deadline: float | None = None,
        max_parse_retries: int = 2,
        offline: bool = False,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.model = model or os.environ.get("OPENAI_MODEL")
        if not self.model:
            raise ValueError("no model given: pass model= or set the OPENAI_MODEL variable")
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        if not is_number(max_retries, integer=True) or max_retries < 0:
            raise ValueError(f"max_retries must be an int >= 0, got {max_retries!r}")
        if not is_number(max_parse_retries, integer=True) or max_parse_retries < 0:
            raise ValueError(f"max_parse_retries must be an int >= 0, got {max_parse_retries!r}")
        if backoff < 0 or max_backoff < 0:
            raise ValueError(f"backoff and max_backoff must be >= 0, got {backoff}, {max_backoff}")
        self.max_concurrency = _check_concurrency(max_concurrency)
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.request_deadline = _check_deadline(request_deadline, "request_deadline")
        self.run_deadline = _check_deadline(run_deadline, "run_deadline")
        self.max_retries = max_retries
        self.max_parse_retries = max_parse_retries
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.timeout = float(timeout)
        self.offline = bool(offline)
        self.params = dict(params or {})
        self._client = None
        self._lock = threading.Lock()
        self._pause_until = 0.0  # rate-limit pause shared by all threads (clock time)
        self._store_failed = False

    def __repr__(self) -> str:
        return (
            f"ChatClient(model={self.model!r}, base_url={self.base_url!r}, "
            f"cache_dir={str(self.cache_dir)!r})"
        )

    @property
    def endpoint(self) -> str:
        """The URL requests go to, and where it came from when it is the default."""
        if self.base_url:
            return self.base_url
        return f"{OPENAI_DEFAULT_URL} (the default: neither base_url nor OPENAI_BASE_URL is set)"

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
            rec = parse_json(path.read_text(encoding="utf-8"))  # too deep: ValueError
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
        try:
            atomic_write_text(self._cache_path(key), json.dumps(rec, ensure_ascii=False, indent=1))
        except OSError as exc:
            with self._lock:
                first, self._store_failed = not self._store_failed, True
            if first:
                logger.warning(
                    "LLM cache %s cannot be written (%s); answers are used without being cached",
                    self.cache_dir,
                    exc,
                )

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
                    max_retries=0,  # retries are ours, with logging, deadlines and a cap
                    timeout=self.timeout,
                    http_client=_bounded_http_client(openai, self.timeout),
                )
            return self._client

    def _backoff(self, attempt: int, exc: Exception) -> float:
        wait = min(self.max_backoff, self.backoff * 2**attempt)
        wait *= 1 + 0.25 * random.random()
        asked = _retry_after(exc)
        return wait if asked is None else max(wait, asked)

    def _unreachable_error(self, exc: Exception, attempts: int) -> LLMError:
        return _Unreachable(
            f"cannot reach the LLM endpoint {self.endpoint!r} after {attempts} attempt(s) "
            f"({type(exc).__name__}: {exc}). Check the endpoint: pass base_url= to ChatClient "
            "or generate(), or set the OPENAI_BASE_URL environment variable. Answers already "
            f"in the cache {str(self.cache_dir)!r} are used without a network; "
            "ChatClient(offline=True) never connects."
        )

    def _deadline_error(self, key: str, what: str, attempts: int, last: Exception | None):
        cause = f"; last error: {type(last).__name__}: {last}" if last is not None else ""
        return LLMError(
            f"LLM request {key[:10]} to {self.endpoint!r} stopped after {attempts} attempt(s): "
            f"{what} (request_deadline={self.request_deadline}, "
            f"run_deadline={self.run_deadline}){cause}"
        )

    def _request(
        self, messages: Messages, params: dict, key: str, deadline: float
    ) -> ChatResponse:
        """One answer from the endpoint, with retries, within ``deadline`` (clock time).

        The answer text may be ``None`` (``content: null``): the caller checks it.
        """
        import openai

        client = self._openai()
        last: Exception | None = None
        attempt = 0
        while True:
            # a rate limit seen by any thread pauses every request of this client
            pause = self._pause_until - self._clock()
            if pause > 0:
                if self._clock() + pause > deadline:
                    raise self._deadline_error(
                        key, f"the endpoint asked to wait {pause:.1f}s", attempt, last
                    )
                self._sleep(pause)
            left = deadline - self._clock()
            if left <= 0:
                raise self._deadline_error(key, "deadline reached", attempt, last)
            attempt += 1
            try:
                out = client.chat.completions.create(
                    model=self.model, messages=messages, timeout=min(self.timeout, left), **params
                )
                return self._response(out, key)
            except (_ResponseTooLarge, openai.APIConnectionError) as exc:
                # (the SDK passes the first on as it is or wraps it, by version)
                too_large = exc if isinstance(exc, _ResponseTooLarge) else exc.__cause__
                if isinstance(too_large, _ResponseTooLarge):
                    raise LLMError(
                        f"LLM endpoint {self.endpoint!r} sent a response too large to be a "
                        f"chat completion: {too_large}"
                    ) from exc
                last = exc  # a connection error, or APITimeoutError
                if not isinstance(exc, openai.APITimeoutError) and _unreachable(exc):
                    if attempt > min(1, self.max_retries):
                        raise self._unreachable_error(exc, attempt) from exc
                    wait = CONNECT_RETRY_WAIT
                    retries = min(1, self.max_retries)
                else:
                    wait, retries = self._backoff(attempt - 1, exc), self.max_retries
            except openai.APIStatusError as exc:
                last = exc
                if 300 <= exc.status_code < 400:
                    where = exc.response.headers.get("location", "?")
                    raise LLMError(
                        f"LLM endpoint {self.endpoint!r} answered HTTP {exc.status_code}, a "
                        f"redirect to {where!r}; redirects are not followed (the prompt "
                        "would go to another address): set base_url= (or OPENAI_BASE_URL) "
                        "to the address that answers"
                    ) from exc
                if exc.status_code not in (408, 409, 429) and exc.status_code < 500:
                    raise LLMError(
                        f"LLM endpoint {self.endpoint!r} refused the request with HTTP "
                        f"{exc.status_code}: {exc.message}"
                    ) from exc
                asked = _retry_after(exc)
                if asked is not None and not asked <= MAX_RETRY_AFTER:
                    raise LLMError(
                        f"LLM endpoint {self.endpoint!r} answered HTTP {exc.status_code} and "
                        f"asked to wait {asked:g}s before retrying (Retry-After); more than "
                        f"MAX_RETRY_AFTER = {MAX_RETRY_AFTER:g}s, so the request fails now"
                    ) from exc
                wait, retries = self._backoff(attempt - 1, exc), self.max_retries
                if exc.status_code == 429:
                    with self._lock:
                        self._pause_until = max(self._pause_until, self._clock() + wait)
            except (
                _MalformedResponse,
                json.JSONDecodeError,
                UnicodeDecodeError,  # a body json cannot even decode as text
                openai.APIResponseValidationError,
            ) as exc:
                # an HTTP 200 whose body is not JSON (json.JSONDecodeError is a ValueError)
                # or not a chat completion: a transient fault of the server or a proxy
                last = _MalformedResponse(f"the response is not a chat completion: {exc}")
                last.__cause__ = exc
                wait, retries = self._backoff(attempt - 1, exc), self.max_retries
            if attempt > retries:
                break
            if self._clock() + wait > deadline:
                raise self._deadline_error(
                    key,
                    f"the next retry would start after the deadline (wait {wait:.1f}s)",
                    attempt,
                    last,
                ) from last
            logger.warning(
                "LLM request %s failed (%s: %s); retry %d/%d in %.2fs",
                key[:10],
                type(last).__name__,
                last,
                attempt,
                retries,
                wait,
            )
            self._sleep(wait)
        status = getattr(last, "status_code", None)
        raise LLMError(
            f"LLM request failed after {attempt} attempt(s) against "
            f"{self.endpoint!r}: {type(last).__name__}"
            + (f" (HTTP {status})" if status else "")
            + f": {last}"
        ) from last

    def _response(self, out: Any, key: str) -> ChatResponse:
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
        return ChatResponse(text, str(out.id), str(out.model or self.model), key, False)

    def complete(
        self,
        messages: Messages,
        *,
        parse: Callable[[str], Any] | None = None,
        refresh: bool = False,
        deadline: float | None = None,
        **params: Any,
    ) -> ChatResponse:
        """One chat completion, from the cache if present.

        Parameters
        ----------
        messages : list of dict
            Chat messages ``{"role": ..., "content": ...}``.
        parse : callable, optional
            ``parse(text)`` checks an answer and returns what the caller wants from it
            (kept in :attr:`ChatResponse.parsed`); it raises :class:`LLMParseError` for an
            answer that is not usable. Such an answer is not cached and the request is
            asked again, up to ``max_parse_retries`` times. By default any non-empty text
            passes (``content: null`` and blank answers do not).
        refresh : bool
            Ask again even when the answer is cached (the new answer replaces it).
        deadline : float, optional
            Absolute :func:`time.monotonic` time by which to give up; used by
            :meth:`complete_many` for its run deadline.
        **params
            Extra parameters (merged over the client's ``params``; part of the cache key).

        Returns
        -------
        ChatResponse

        Raises
        ------
        LLMError
            The request failed (see ``max_retries``, ``request_deadline``).
        LLMParseError
            Every answer failed ``parse``; the message names the endpoint and the prompt.
        """
        messages = _check_messages(messages)
        check = _require_text if parse is None else _then(_require_text, parse)
        merged = {**self.params, **params}
        key = request_key(self.model, messages, merged)
        hit = None if refresh else self.cached(messages, **params)
        if hit is not None:
            try:
                return replace(hit, parsed=check(hit.text))
            except LLMParseError as exc:
                logger.warning("cached answer %s does not parse (%s); asking again", key[:10], exc)
        if self.offline:
            raise LLMError(f"request {key[:10]} is not in the cache {self.cache_dir} (offline)")
        if self.request_deadline is not None:
            own = self._clock() + self.request_deadline
            deadline = own if deadline is None else min(deadline, own)
        if deadline is None:
            deadline = float("inf")
        last: LLMParseError | None = None
        for asked in range(1, self.max_parse_retries + 2):
            resp = self._request(messages, merged, key, deadline)
            try:
                parsed = check(resp.text)
            except LLMParseError as exc:
                last = exc
                if asked <= self.max_parse_retries:
                    logger.warning(
                        "LLM answer %s (request %s) does not parse (%s); asking again (%d/%d)",
                        resp.response_id,
                        key[:10],
                        exc,
                        asked,
                        self.max_parse_retries,
                    )
                continue
            resp = replace(resp, parsed=parsed)
            self._store(key, messages, merged, resp)
            return resp
        prompt = messages[-1]["content"]
        raise LLMParseError(
            f"{self.max_parse_retries + 1} answer(s) from {self.endpoint!r} to request "
            f"{key[:10]} could not be parsed (nothing was cached): {last}; prompt: "
            f"{prompt[:300]!r}"
        ) from last

    def complete_many(
        self,
        requests: Sequence[Messages],
        *,
        progress: bool = True,
        desc: str = "LLM requests",
        parse: Callable[[str], Any] | None = None,
        refresh: bool | Sequence[bool] = False,
        labels: Sequence[str] | None = None,
        parse_errors: str = "raise",
        max_concurrency: int | None = None,
        run_deadline: float | object | None = _CLIENT_DEFAULT,
        **params: Any,
    ) -> list[ChatResponse]:
        """Many completions, at most ``max_concurrency`` in flight, with a progress bar.

        Cached answers are returned without a request. Every fresh answer is written to
        the cache as soon as it arrives, so if some requests fail the others are kept and
        a rerun only sends the missing ones. Results are in the order of ``requests``,
        whatever the concurrency. When the endpoint cannot be reached at all, the requests
        not sent yet are not sent (the run fails fast).

        Parameters
        ----------
        requests : list of list of dict
            The messages of each request.
        progress : bool
            Show a tqdm progress bar.
        desc : str
            The bar's label.
        parse : callable, optional
            Answer check and parser (see :meth:`complete`).
        refresh : bool or list of bool
            Ask again even if cached: all requests, or one flag per request.
        labels : list of str, optional
            What each request is for (e.g. ``"class 'robin', prompt 'color'"``), quoted in
            error messages.
        parse_errors : {"raise", "return"}
            For a request whose answers never parse: raise :class:`LLMParseError` (after
            all requests ran), or put the exception in its place in the results.
        max_concurrency : int, optional
            Overrides the client's ``max_concurrency`` for this call.
        run_deadline : float or None, optional
            Overrides the client's ``run_deadline`` (seconds for the whole call).
        **params
            Extra chat parameters (see :meth:`complete`).

        Returns
        -------
        list of ChatResponse
            (or of :class:`LLMParseError` where ``parse_errors="return"``).

        Raises
        ------
        LLMError
            After all requests ran, if any failed (the message says how many are cached).
        LLMParseError
            With ``parse_errors="raise"``, if an answer never parsed and nothing else failed.
        """
        from tqdm.auto import tqdm

        requests = [_check_messages(m) for m in requests]
        n = len(requests)
        flags = [bool(refresh)] * n if isinstance(refresh, bool) else [bool(f) for f in refresh]
        if len(flags) != n:
            raise ValueError(f"refresh: expected a bool or {n} flags, got {len(flags)}")
        if labels is not None and len(labels) != n:
            raise ValueError(f"labels: expected {n} labels, got {len(labels)}")
        if parse_errors not in ("raise", "return"):
            raise ValueError(f"parse_errors must be 'raise' or 'return', got {parse_errors!r}")
        workers = self.max_concurrency if max_concurrency is None else max_concurrency
        workers = _check_concurrency(workers)
        budget = self.run_deadline if run_deadline is _CLIENT_DEFAULT else run_deadline
        budget = _check_deadline(budget, "run_deadline")
        run_end = None if budget is None else self._clock() + budget

        def label(i: int) -> str:
            return f"request {i}" if labels is None else labels[i]

        results: list[Any] = [None] * n
        todo = []
        for i, msgs in enumerate(requests):
            hit = None if flags[i] else self.cached(msgs, **params)
            if hit is not None and parse is not None:
                try:
                    hit = replace(hit, parsed=_then(_require_text, parse)(hit.text))
                except LLMParseError:
                    hit = None  # a poisoned entry (cached before answers were checked)
            if hit is not None:
                results[i] = hit
            else:
                todo.append(i)
        if todo and self.offline:
            raise LLMError(
                f"{len(todo)} of {n} request(s) are not in the cache {self.cache_dir} "
                f"(offline); first: {label(todo[0])}"
            )
        abort: list[str] = []  # why the requests not sent yet are skipped

        def one(i: int) -> ChatResponse:
            if abort:
                raise _NotSent(f"{label(i)}: not sent, {abort[0]}")
            if run_end is not None and self._clock() >= run_end:
                raise _NotSent(f"{label(i)}: not sent, run_deadline={budget}s reached")
            try:
                return self.complete(
                    requests[i], parse=parse, refresh=flags[i], deadline=run_end, **params
                )
            except _Unreachable:
                abort.append(f"the endpoint {self.endpoint!r} cannot be reached")
                raise

        errors: dict[int, Exception] = {}
        with tqdm(total=n, initial=n - len(todo), desc=desc, disable=not progress) as bar:
            if todo:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    futures = {pool.submit(one, i): i for i in todo}
                    for fut in as_completed(futures):
                        i = futures[fut]
                        try:
                            results[i] = fut.result()
                        except LLMParseError as exc:
                            exc = LLMParseError(f"{label(i)}: {exc}")
                            if parse_errors == "return":
                                results[i] = exc
                            else:
                                errors[i] = exc
                        except LLMError as exc:
                            errors[i] = exc
                        bar.update(1)
        failed = {i: e for i, e in errors.items() if isinstance(e, LLMError)}
        if failed:
            sent = {i: e for i, e in failed.items() if not isinstance(e, _NotSent)}
            first = (sent or failed)[min(sent or failed)]
            done = n - len(errors)
            not_sent = len(failed) - len(sent)
            raise LLMError(
                f"{len(failed)} of {n} LLM request(s) failed"
                + (f" ({not_sent} not sent)" if not_sent else "")
                + f"; the {done} answered are cached in {self.cache_dir}, so rerunning sends "
                f"only the failed ones. First error ({label(min(sent or failed))}): {first}"
            ) from first
        if errors:
            raise errors[min(errors)]
        return results


def _then(first: Callable[[Any], Any], second: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda x: second(first(x))


def _check_concurrency(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"max_concurrency must be an int >= 1, got {value!r}")
    return value


def _check_deadline(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a number of seconds > 0 or None, got {value!r}")
    return float(value)


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
