"""A total deadline for blocking network operations: an HTTP exchange bounded as a whole,
not only each read of it.

A per-read timeout does not bound an exchange: a server that sends its status line and
headers one byte at a time, each byte just before the timeout, or ``100 Continue``
without end, or endless header lines, passes every read and holds the caller for hours.
So the HTTP clients of bottlekit run each exchange inside :func:`deadline`, and every
blocking socket operation they make is given :func:`cut` of its own timeout: what is left
of the deadline at most, and :class:`DeadlineExceeded` once it has passed. No thread and
no timer are involved; the deadline is a context variable of the calling thread, so
threads sharing one connection pool keep their own deadlines.

Two adapters use it: :func:`build_opener` and :func:`urlopen` here (``urllib``, for the
dataset downloads and the pipeline's URL items)
and the network backend of the LLM client's ``httpx`` pool
(:mod:`bottlekit.concepts._llm_http`).

Not bounded: the name lookup (``getaddrinfo`` has no timeout in the standard library),
and a host name with several addresses gets what is left of the deadline for each.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import socket
import time
import urllib.request
from collections.abc import Iterator
from contextvars import ContextVar

__all__ = ["DeadlineExceeded", "build_opener", "cut", "deadline", "urlopen"]

#: (clock time it ends, its length in seconds) of the innermost deadline, or None.
_CURRENT: ContextVar[tuple[float, float] | None] = ContextVar("bottlekit_deadline", default=None)


class DeadlineExceeded(TimeoutError):
    """The deadline of an exchange passed during (or before) a network operation.

    A :class:`TimeoutError` (an ``OSError``), so code that handles a socket timeout
    handles it too.
    """


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Bound the network operations made inside the block, as a whole, to ``seconds``.

    An enclosing deadline that ends earlier still holds.

    Examples
    --------
    >>> with deadline(0.0):
    ...     cut(5.0)
    Traceback (most recent call last):
    ...
    bottlekit._deadline.DeadlineExceeded: timed out: the exchange did not end within its ...
    >>> with deadline(60.0):
    ...     0 < cut(5.0) <= 5.0
    True
    >>> cut(5.0)  # no deadline: the timeout as it is
    5.0
    """
    end = time.monotonic() + seconds
    outer = _CURRENT.get()
    token = _CURRENT.set((end, seconds) if outer is None or end < outer[0] else outer)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def _exceeded() -> DeadlineExceeded:
    current = _CURRENT.get()
    seconds = current[1] if current is not None else float("nan")
    return DeadlineExceeded(
        f"timed out: the exchange did not end within its deadline of {seconds:g} s "
        "(a server that answers too slowly, or without end)"
    )


def cut(timeout: float | None) -> float | None:
    """The timeout for one blocking socket operation: ``timeout`` (None: none) shortened
    to what is left of the current :func:`deadline`.

    Raises
    ------
    DeadlineExceeded
        The deadline has passed.
    """
    current = _CURRENT.get()
    if current is None:
        return timeout
    left = current[0] - time.monotonic()
    if left <= 0:
        raise _exceeded()
    return left if timeout is None else min(timeout, left)


def passed() -> bool:
    """Whether the current deadline (if any) has passed: a socket timeout raised then is
    the deadline's, reported as :class:`DeadlineExceeded`."""
    current = _CURRENT.get()
    return current is not None and time.monotonic() >= current[0]


def check_timeout(exc: BaseException) -> None:
    """Raise :class:`DeadlineExceeded` instead of ``exc`` (a timeout) when the deadline
    has passed; return otherwise (the caller re-raises ``exc``)."""
    if passed():
        raise _exceeded() from exc


# ----------------------------------------------------------------- urllib / http.client
class _DeadlineReader(io.RawIOBase):
    """The raw reads of an HTTP response (status line, headers, body), each cut to the
    deadline; ``timeout`` is the connection's own per-read timeout."""

    def __init__(self, raw: io.RawIOBase, sock: socket.socket, timeout: float | None) -> None:
        self._raw, self._sock, self._timeout = raw, sock, timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int | None:
        self._sock.settimeout(cut(self._timeout))
        try:
            return self._raw.readinto(buffer)
        except TimeoutError as exc:
            check_timeout(exc)
            raise

    def fileno(self) -> int:
        return self._raw.fileno()

    def close(self) -> None:
        if not self.closed:
            self._raw.close()  # gives back the socket's reference (socket.makefile)
        super().close()


class _SocketView:
    """What :class:`http.client.HTTPResponse` is given instead of its socket: ``makefile``
    returns a reader whose reads are cut to the deadline."""

    def __init__(self, sock: socket.socket, timeout: float | None) -> None:
        self._sock, self._timeout = sock, timeout

    def makefile(self, mode: str = "rb", *args, **kwargs) -> io.BufferedReader:
        raw = self._sock.makefile(mode, buffering=0)
        return io.BufferedReader(_DeadlineReader(raw, self._sock, self._timeout))


class _DeadlineConnection:
    """Mixed into :class:`http.client.HTTPConnection` (and HTTPS): the connection (TCP,
    then TLS) and every read of the answer are cut to the deadline."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        per_read = self.timeout  # (a number, None, or the sentinel "the global default")
        self._per_read = (
            per_read
            if per_read is None or isinstance(per_read, (int, float))
            else (socket.getdefaulttimeout())
        )
        # http.client opens its socket through this attribute: the TCP connection gets
        # what is left of the deadline, and so does the TLS handshake after it
        self._create_connection = self._connect_within_deadline

    def _connect_within_deadline(self, address, timeout, source_address=None):
        sock = socket.create_connection(address, cut(timeout), source_address)
        try:
            sock.settimeout(cut(timeout))
        except BaseException:
            sock.close()
            raise
        return sock

    def connect(self) -> None:
        try:
            super().connect()
        except TimeoutError as exc:
            check_timeout(exc)
            raise
        self.sock.settimeout(self._per_read)

    def response_class(self, sock, *args, **kwargs):
        return http.client.HTTPResponse(_SocketView(sock, self._per_read), *args, **kwargs)


class _DeadlineHTTPConnection(_DeadlineConnection, http.client.HTTPConnection):
    pass


_CONNECTIONS: dict[type, type] = {http.client.HTTPConnection: _DeadlineHTTPConnection}
if hasattr(http.client, "HTTPSConnection"):  # (Python built without ssl: no https)

    class _DeadlineHTTPSConnection(_DeadlineConnection, http.client.HTTPSConnection):
        pass

    _CONNECTIONS[http.client.HTTPSConnection] = _DeadlineHTTPSConnection


class _DeadlineHandler:
    """Mixed into urllib's HTTP(S) handlers: they open their connections with the
    deadline-aware classes above."""

    def do_open(self, http_class, req, **kwargs):
        return super().do_open(_CONNECTIONS.get(http_class, http_class), req, **kwargs)


class _DeadlineHTTPHandler(_DeadlineHandler, urllib.request.HTTPHandler):
    pass


_HANDLERS: list[type] = [_DeadlineHTTPHandler]
if hasattr(urllib.request, "HTTPSHandler"):

    class _DeadlineHTTPSHandler(_DeadlineHandler, urllib.request.HTTPSHandler):
        pass

    _HANDLERS.append(_DeadlineHTTPSHandler)


def build_opener(*handlers) -> urllib.request.OpenerDirector:
    """:func:`urllib.request.build_opener` (proxies from the environment, redirects, ...)
    whose HTTP and HTTPS exchanges obey :func:`deadline`: the connection, the status line
    and headers (``100 Continue`` included) and every read of the body.

    Examples
    --------
    >>> opener = build_opener()
    >>> with deadline(60.0):  # doctest: +SKIP
    ...     resp = opener.open("https://example.org", timeout=10)
    """
    return urllib.request.build_opener(*_HANDLERS, *handlers)


def urlopen(request: str | urllib.request.Request, timeout: float):
    """Open an HTTP(S) URL with :func:`build_opener`: the connection, the status line and
    the headers together within ``timeout`` seconds (one deadline for the whole answer);
    each later read of the body has ``timeout`` as its per-read bound, and callers that
    want a body read bounded as a whole wrap it in :func:`deadline`.

    Examples
    --------
    >>> resp = urlopen("https://example.org", timeout=10)  # doctest: +SKIP
    """
    with deadline(timeout):
        return build_opener().open(request, timeout=timeout)
