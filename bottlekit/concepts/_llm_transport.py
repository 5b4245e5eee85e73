"""How a chat request reaches the endpoint: the openai SDK client, retries with backoff,
the rate-limit pause that every thread of a client honours, and the deadlines.

:class:`_RetryingTransport` is a part of :class:`~bottlekit.concepts.llm.ChatClient`
(its base class); the client's settings are its settings.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable

from bottlekit import _deadline
from bottlekit.concepts._llm_http import (
    _bounded_http_client,
    _ResponseRefused,
    _ResponseTooLarge,
    _retry_after,
    _unreachable,
)
from bottlekit.concepts._llm_response import (
    ChatResponse,
    LLMError,
    Messages,
    _MalformedResponse,
    _read_completion,
    _Unreachable,
)

# the LLM client's one logger, whichever of its modules writes
logger = logging.getLogger("bottlekit.concepts.llm")

#: Wait before the single retry of a request whose endpoint could not be reached.
CONNECT_RETRY_WAIT = 0.5
#: Longest ``Retry-After`` honoured, in seconds; a longer one fails the request at once
#: (with ``request_deadline=None`` it would otherwise wait that long).
MAX_RETRY_AFTER = 600.0
#: The endpoint the openai client uses when neither ``base_url`` nor the variable is set.
OPENAI_DEFAULT_URL = "https://api.openai.com/v1"


class _RetryingTransport:
    """Sends one request with retries (:meth:`_request`), within a deadline.

    The class that mixes it in sets ``model``, ``base_url``, ``api_key``, ``cache_dir``,
    ``timeout``, ``max_retries``, ``backoff``, ``max_backoff``, ``request_deadline`` and
    ``run_deadline``, and calls :meth:`_init_transport`.
    """

    # Time sources, replaceable in tests (instance attributes shadow them).
    _clock: Callable[[], float] = staticmethod(time.monotonic)
    _sleep: Callable[[float], None] = staticmethod(time.sleep)

    def _init_transport(self) -> None:
        self._client = None  # the SDK client, made at the first request
        self._lock = threading.Lock()
        self._pause_until = 0.0  # rate-limit pause shared by all threads (clock time)

    @property
    def endpoint(self) -> str:
        """The URL requests go to, and where it came from when it is the default."""
        if self.base_url:
            return self.base_url
        return f"{OPENAI_DEFAULT_URL} (the default: neither base_url nor OPENAI_BASE_URL is set)"

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
                # the attempt as a whole (connect, headers, body) ends within its timeout,
                # not only each read of it: see bottlekit._deadline
                with _deadline.deadline(min(self.timeout, left)):
                    out = client.chat.completions.create(
                        model=self.model,
                        messages=messages,
                        timeout=min(self.timeout, left),
                        **params,
                    )
                return _read_completion(out, key, self.model)
            except (_ResponseRefused, openai.APIConnectionError) as exc:
                # (the SDK passes the first on as it is or wraps it, by version)
                refused = exc if isinstance(exc, _ResponseRefused) else exc.__cause__
                if isinstance(refused, _ResponseRefused):
                    what = (
                        "too large to be a chat completion"
                        if isinstance(refused, _ResponseTooLarge)
                        else "that cannot be read"
                    )
                    raise LLMError(
                        f"LLM endpoint {self.endpoint!r} sent a response {what}: {refused}"
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
                RecursionError,  # JSON nested deeper than json's recursion
                ValueError,  # an integer of more digits than int() converts (4300)
                openai.APIResponseValidationError,
            ) as exc:
                # an HTTP 200 whose body is not JSON (json.JSONDecodeError is a ValueError),
                # JSON the SDK cannot decode, or not a chat completion: a transient fault
                # of the server or a proxy
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
