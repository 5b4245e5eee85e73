"""The HTTP side of a chat request: an SDK client whose responses are bounded in size and
time and never redirected, and what a failed attempt's headers and exceptions say
(``Retry-After``; whether the endpoint cannot be reached at all)."""

from __future__ import annotations

import email.utils
import errno
import socket
import sys
import time
from typing import Any

#: Largest response body read, in bytes (a chat completion is a few kB); a longer one
#: fails the request at once instead of filling memory.
MAX_RESPONSE_BYTES = 16 * 2**20


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
