"""OpenAI-compatible chat client with retries, deadlines, bounded concurrency and a cache.

Every request/response pair is stored as one JSON file keyed by a hash of
``(model, messages, params)``; a repeated run reads the files and makes no network call,
and an interrupted run only pays for the requests whose answers are not on disk yet.
Only answers that pass the caller's parser are stored, so a refusal or an empty answer is
never replayed from the cache.

:class:`ChatClient` composes the parts of a request, each in its own module: the
messages, responses and errors (``_llm_response``), the HTTP connection
(``_llm_http``), retries, rate limits and deadlines (``_llm_transport``), the answer
cache (``_llm_cache``) and the parsing of answers into concepts (``_llm_parsing``).
Every public name is importable from here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import Any

from bottlekit._checks import check_choice, check_number, is_number
from bottlekit.concepts._llm_cache import _AnswerCache, default_cache_dir, request_key
from bottlekit.concepts._llm_http import MAX_RESPONSE_BYTES
from bottlekit.concepts._llm_http import _unreachable as _unreachable  # re-exported
from bottlekit.concepts._llm_parsing import parse_concept_list
from bottlekit.concepts._llm_response import (
    ChatResponse,
    LLMError,
    LLMParseError,
    Messages,
    _check_messages,
    _NotSent,
    _require_text,
    _then,
    _Unreachable,
)
from bottlekit.concepts._llm_transport import (
    CONNECT_RETRY_WAIT,
    MAX_RETRY_AFTER,
    OPENAI_DEFAULT_URL,
    _RetryingTransport,
)

__all__ = [
    "CONNECT_RETRY_WAIT",
    "MAX_RESPONSE_BYTES",
    "MAX_RETRY_AFTER",
    "MAX_SECONDS",
    "OPENAI_DEFAULT_URL",
    "ChatClient",
    "ChatResponse",
    "LLMError",
    "LLMParseError",
    "Messages",
    "default_cache_dir",
    "parse_concept_list",
    "request_key",
]

logger = logging.getLogger(__name__)

_CLIENT_DEFAULT = object()  # "use the client's setting"


class ChatClient(_RetryingTransport):
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
        Seconds for one HTTP attempt as a whole (shortened to what is left of the
        deadlines): the connection, the status line and headers and the response body,
        however slowly their bytes arrive; an answer still arriving then is cut, as is a
        body longer than :data:`MAX_RESPONSE_BYTES` (as sent, or once decoded from
        ``gzip`` or ``deflate``; other codings are refused). Redirects are not followed.
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
    Every time setting (``backoff``, ``max_backoff``, ``timeout`` and the deadlines) is
    a finite number of seconds, at most :data:`MAX_SECONDS`.

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
        cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        if not is_number(max_retries, integer=True) or max_retries < 0:
            raise ValueError(f"max_retries must be an int >= 0, got {max_retries!r}")
        if not is_number(max_parse_retries, integer=True) or max_parse_retries < 0:
            raise ValueError(f"max_parse_retries must be an int >= 0, got {max_parse_retries!r}")
        self.backoff = _check_seconds(backoff, "backoff", zero=True)
        self.max_backoff = _check_seconds(max_backoff, "max_backoff", zero=True)
        self.max_concurrency = _check_concurrency(max_concurrency)
        self.timeout = _check_seconds(timeout, "timeout")
        self.request_deadline = _check_deadline(request_deadline, "request_deadline")
        self.run_deadline = _check_deadline(run_deadline, "run_deadline")
        self.max_retries = max_retries
        self.max_parse_retries = max_parse_retries
        self.offline = bool(offline)
        self.params = dict(params or {})
        self._answers = _AnswerCache(cache_dir)
        self._init_transport()

    def __repr__(self) -> str:
        return (
            f"ChatClient(model={self.model!r}, base_url={self.base_url!r}, "
            f"cache_dir={str(self.cache_dir)!r})"
        )

    @property
    def cache_dir(self) -> Path:
        """The folder of the answer cache."""
        return self._answers.folder

    @cache_dir.setter
    def cache_dir(self, folder: str | os.PathLike) -> None:
        self._answers.folder = Path(folder)

    def cached(self, messages: Messages, **params: Any) -> ChatResponse | None:
        """The cached response of this request, or ``None``.

        Nothing is sent: only the cache is read.

        Parameters
        ----------
        messages : list of dict
            Chat messages ``{"role": ..., "content": ...}``.
        **params
            Extra parameters (merged over the client's ``params``; part of the cache key).

        Returns
        -------
        ChatResponse or None
            The stored answer for this model, messages and parameters (``cached`` True),
            or None when there is none.
        """
        merged = {**self.params, **params}
        return self._answers.read(request_key(self.model, messages, merged))

    def _store(self, key: str, messages: Messages, params: dict, resp: ChatResponse) -> None:
        request = {"model": self.model, "messages": messages, "params": params}
        self._answers.write(key, request, resp, base_url=self.base_url)

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
            The answer's text, id, model, cache key and ``finish_reason``, with ``parsed``
            set to what ``parse`` returned; ``cached`` says whether it came from the cache.

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
        check_choice(
            parse_errors,
            ("raise", "return"),
            "parse_errors",
            expected="'raise' or 'return'",
            wording="must",
        )
        workers = self.max_concurrency if max_concurrency is None else max_concurrency
        workers = _check_concurrency(workers)
        budget = self.run_deadline if run_deadline is _CLIENT_DEFAULT else run_deadline
        budget = _check_deadline(budget, "run_deadline")
        run_end = None if budget is None else self._clock() + budget

        def label(i: int) -> str:
            return f"request {i}" if labels is None else labels[i]

        results: list[Any] = [None] * n
        todo = []
        check = _require_text if parse is None else _then(_require_text, parse)
        for i, msgs in enumerate(requests):
            hit = None if flags[i] else self.cached(msgs, **params)
            if hit is not None:
                try:
                    hit = replace(hit, parsed=check(hit.text))
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


def _check_concurrency(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"max_concurrency must be an int >= 1, got {value!r}")
    return value


#: Longest time setting accepted, in seconds (115 days); a longer one (or inf) overflows
#: the clocks of the socket and sleep calls (OverflowError at the first request).
MAX_SECONDS = 1e7


def _check_seconds(value: Any, name: str, *, zero: bool = False, none: bool = False) -> float:
    """``value`` as a float if it is a number of seconds in (0, :data:`MAX_SECONDS`]
    (``[0, ...]`` with ``zero``); a ``ValueError`` naming ``name`` else."""
    low = "[0" if zero else "(0"
    return check_number(
        value,
        name,
        low=0,
        low_open=not zero,
        high=MAX_SECONDS,
        wording="must",
        expected=f"a number of seconds in {low}, {MAX_SECONDS:g}]" + (" or None" if none else ""),
    )


def _check_deadline(value: Any, name: str) -> float | None:
    return None if value is None else _check_seconds(value, name, none=True)
