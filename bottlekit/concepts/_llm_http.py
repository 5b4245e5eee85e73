"""The HTTP side of a chat request: an SDK client whose responses are bounded in size and
time and never redirected, and what a failed attempt's headers and exceptions say
(``Retry-After``; whether the endpoint cannot be reached at all).

Every socket operation of the client (connect, TLS, writes, and the reads of the status
line, the headers and the body) is cut to the :func:`bottlekit._deadline.deadline` of the
calling thread: the transport runs each attempt inside one, so a server that trickles its
headers or sends ``100 Continue`` without end cannot hold an attempt past its timeout.
"""

from __future__ import annotations

import datetime
import email.utils
import errno
import re
import socket
import sys
import time
import warnings
import zlib
from typing import Any

from bottlekit import _deadline

#: Largest response body read, in bytes (a chat completion is a few kB); a longer one
#: fails the request at once instead of filling memory.
MAX_RESPONSE_BYTES = 16 * 2**20


class _ResponseRefused(Exception):
    """A response that is not read: the request fails at once, without a retry."""


class _ResponseTooLarge(_ResponseRefused):
    """A response body longer than :data:`MAX_RESPONSE_BYTES` (sent, or once decoded)."""


#: The content codings asked for (``Accept-Encoding``) and decoded here, within
#: :data:`MAX_RESPONSE_BYTES` of decoded bytes; a response in another one is refused.
_ENCODINGS = ("gzip", "x-gzip", "deflate")


class _Inflate:
    """Decodes one ``gzip`` or ``deflate`` body, chunk by chunk, into at most ``limit``
    bytes a call (the client's own decoder would join a few kB that inflate to GBs)."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding != "deflate"
        self._d = zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS)
        self._first = True

    def __call__(self, data: bytes, limit: int) -> bytes:
        try:
            out = self._d.decompress(data, limit + 1)
        except zlib.error:
            if self._gzip or not self._first:
                raise
            self._d = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send
            out = self._d.decompress(data, limit + 1)
        self._first = False
        return out


def _bounded_http_client(openai: Any, timeout: float) -> Any:
    """The openai SDK's HTTP client, with its defaults, that follows no redirect and cuts
    a response body that is longer than :data:`MAX_RESPONSE_BYTES` or still arriving
    after the attempt's read timeout (a server that trickles bytes passes every per-read
    timeout and never ends otherwise)."""
    client_class = openai.DefaultHttpxClient
    package = next(c for c in client_class.__mro__ if not c.__module__.startswith("openai"))
    httpx = sys.modules[package.__module__.split(".")[0]]

    class BoundedStream(httpx.SyncByteStream):
        def __init__(self, inner: Any, request: Any, seconds: float, inflate: Any) -> None:
            self._inner, self._request, self._seconds = inner, request, seconds
            self._inflate = inflate  # an _Inflate, or None for a body sent as it is

        def __iter__(self):
            end, n, decoded = time.monotonic() + self._seconds, 0, 0
            chunks = iter(self._inner)
            while True:
                # each wait for a chunk ends by `end` (the chunked framing may trickle)
                with _deadline.deadline(max(0.0, end - time.monotonic())):
                    chunk = next(chunks, None)
                if chunk is None:
                    return
                n += len(chunk)
                if self._inflate is not None:
                    try:
                        chunk = self._inflate(chunk, MAX_RESPONSE_BYTES - decoded)
                    except zlib.error as exc:
                        raise httpx.DecodingError(str(exc), request=self._request) from exc
                    decoded += len(chunk)
                if max(n, decoded) > MAX_RESPONSE_BYTES:
                    raise _ResponseTooLarge(
                        f"the response body exceeds {MAX_RESPONSE_BYTES} bytes "
                        f"(MAX_RESPONSE_BYTES){' once decoded' if decoded > n else ''}; a "
                        "chat completion is a few kB"
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
        codings = [
            c.strip().lower()
            for c in response.headers.get("content-encoding", "").split(",")
            if c.strip().lower() not in ("", "identity")
        ]
        if len(codings) > 1 or (codings and codings[0] not in _ENCODINGS):
            response.close()
            raise _ResponseRefused(
                f"the response's Content-Encoding {', '.join(codings)!r} is not one asked "
                f"for (Accept-Encoding: gzip, deflate); its decoded length cannot be bounded"
            )
        if codings:  # decoded here, within the bound, and not again by the client
            del response.headers["content-encoding"]
        seconds = (response.request.extensions.get("timeout") or {}).get("read") or timeout
        inflate = _Inflate(codings[0]) if codings else None
        response.stream = BoundedStream(response.stream, response.request, seconds, inflate)

    client = client_class(
        timeout=timeout,
        follow_redirects=False,
        headers={"Accept-Encoding": "gzip, deflate"},  # not br or zstd: see bound()
        event_hooks={"response": [bound]},
    )
    _obey_deadlines(client)
    return client


def _cut(timeout: float | None, errors: Any, error: str) -> float | None:
    """``timeout`` cut to the current deadline; once it has passed, the pool's timeout
    exception ``error`` (a name in the pool's module ``errors``) instead."""
    try:
        return _deadline.cut(timeout)
    except _deadline.DeadlineExceeded as exc:
        raise getattr(errors, error)(str(exc)) from exc


class _DeadlineStream:
    """A network stream of the SDK's connection pool (``httpcore``) whose operations are
    cut to the current deadline (:mod:`bottlekit._deadline`); ``errors`` is the pool's
    module, whose timeout exceptions it raises once the deadline has passed."""

    def __init__(self, inner: Any, errors: Any) -> None:
        self._inner, self._errors = inner, errors

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout=_cut(timeout, self._errors, "ReadTimeout"))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        return self._inner.write(buffer, timeout=_cut(timeout, self._errors, "WriteTimeout"))

    def start_tls(self, ssl_context: Any, server_hostname: Any = None, timeout: Any = None):
        inner = self._inner.start_tls(
            ssl_context, server_hostname, timeout=_cut(timeout, self._errors, "ConnectTimeout")
        )
        return _DeadlineStream(inner, self._errors)

    def __getattr__(self, name: str) -> Any:  # close, get_extra_info, ...
        return getattr(self._inner, name)


class _DeadlineBackend:
    """The pool's network backend, its streams cut to the current deadline."""

    def __init__(self, inner: Any, errors: Any) -> None:
        self._inner, self._errors = inner, errors

    def _connected(self, connect: Any, timeout: float | None, *args: Any, **kwargs: Any):
        timeout = _cut(timeout, self._errors, "ConnectTimeout")
        return _DeadlineStream(connect(*args, timeout=timeout, **kwargs), self._errors)

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, **kwargs: Any):
        return self._connected(self._inner.connect_tcp, timeout, host, port, **kwargs)

    def connect_unix_socket(self, path: str, timeout: float | None = None, **kwargs: Any):
        return self._connected(self._inner.connect_unix_socket, timeout, path, **kwargs)

    def __getattr__(self, name: str) -> Any:  # sleep, ...
        return getattr(self._inner, name)


def _obey_deadlines(client: Any) -> None:
    """Put :class:`_DeadlineBackend` under every connection pool of ``client`` (the
    default one, and those of the proxies taken from the environment).

    httpx offers no public way to give its pool a network backend, so this reaches for
    the pools it keeps (``Client._transport``, ``Client._mounts``, ``HTTPTransport._pool``,
    ``ConnectionPool._network_backend``, as in httpx 0.23 to 0.28 and httpx2). Where
    they are not found (another httpx) it warns: each read is then bounded by the
    timeout, but not the exchange as a whole.
    """
    mounts = getattr(client, "_mounts", {})  # (None: a pattern that goes without proxy)
    transports = [getattr(client, "_transport", client), *filter(None, mounts.values())]
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is None:
            warnings.warn(
                f"bottlekit cannot bound the HTTP exchanges of {type(transport).__name__} "
                "as a whole (an httpx version it does not know): each read is bounded by "
                "the timeout, but a server that trickles its headers can hold a request "
                "longer; please report it with your httpx and openai versions",
                RuntimeWarning,
                stacklevel=3,
            )
            continue
        if not isinstance(backend, _DeadlineBackend):
            errors = sys.modules[type(pool).__module__.split(".")[0]]
            pool._network_backend = _DeadlineBackend(backend, errors)


#: ``Retry-After`` as a number of seconds: RFC 9110's ``delay-seconds = 1*DIGIT``, ASCII
#: digits only (``float`` also took ``"1_000"``, ``"inf"``, ``"nan"``, ``"1e3"``, ``"-5"``
#: and other scripts' digits such as ``"\u0661"``).
_DELAY_SECONDS = re.compile(r"[0-9]+", re.ASCII)
#: ``retry-after-ms`` (OpenAI's header, in no RFC): ASCII digits, with a decimal fraction.
_DELAY_MS = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)


def _delay(value: Any, pattern: re.Pattern) -> float | None:
    """``value`` (a header, its surrounding spaces and tabs ignored) as a number if it
    matches ``pattern``, else ``None``. The digits are converted by ``float``, which has
    no limit on their count (``int`` refuses more than 4300): a number beyond float's
    range is ``inf``, which the transport's cap ``MAX_RETRY_AFTER`` refuses."""
    if not isinstance(value, str):
        return None
    value = value.strip(" \t")
    return float(value) if pattern.fullmatch(value) else None


def _retry_after(exc: Exception) -> float | None:
    """Seconds asked for by a ``Retry-After`` (or ``retry-after-ms``) header, if any.

    ``Retry-After`` holds ASCII digits (a number of seconds, RFC 9110's
    ``delay-seconds``) or an HTTP date (GMT, also when it names no zone);
    ``retry-after-ms`` holds ASCII digits with an optional decimal fraction. Anything
    else (``"1.5"``, ``"1e3"``, ``"inf"``, ``"nan"``, ``"-5"``, ``"1_000"``, non-ASCII
    digits) is no ``Retry-After`` at all: ``None``. A number too large for a float is
    ``inf`` (refused by the transport's cap ``MAX_RETRY_AFTER``).
    """
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None or not hasattr(headers, "get"):
        return None
    ms = _delay(headers.get("retry-after-ms"), _DELAY_MS)
    if ms is not None:
        return ms / 1000
    value = headers.get("retry-after")
    if not isinstance(value, str):
        return None
    seconds = _delay(value, _DELAY_SECONDS)
    if seconds is not None:
        return seconds
    try:  # an HTTP date
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" or no zone: an HTTP date is GMT, not local time
        when = when.replace(tzinfo=datetime.timezone.utc)
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
