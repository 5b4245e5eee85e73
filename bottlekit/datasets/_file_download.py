"""Downloading one file over HTTP(S), FTP or ``file:``: :func:`download_file`.

The bytes go to a ``.part`` file that the next call resumes with an HTTP ``Range``
request; no more than a cap is written (:data:`DEFAULT_MAX_BYTES` unless the caller
gives one), a body the disk cannot hold is refused before reading, and a transfer slower
than :data:`MIN_BYTES_PER_SECOND` is cut off. Every failure is a
:class:`DownloadError` that names the address and what to do. Re-exported by
:mod:`bottlekit.datasets.download`.
"""

from __future__ import annotations

import http.client
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from bottlekit import _deadline
from bottlekit._checks import check_bool, check_number, check_positive_int
from bottlekit.datasets._parsing import MissingDatasetError, as_root


class DownloadError(MissingDatasetError):
    """A download failed (offline, interrupted, refused); the message says what to fetch
    from where and where to put it."""

    # tracebacks name it by its public home, where callers import it from
    __module__ = "bottlekit.datasets.download"


#: A transfer slower than this over a whole ``timeout`` window is cut off (curl's
#: ``--speed-limit``): it keeps the ``.part`` file, which the next call resumes.
MIN_BYTES_PER_SECOND = 1024

#: The most bytes :func:`download_file` writes when the caller gives no ``max_bytes``:
#: 16 GiB, above the largest archive in :data:`SOURCES` (AwA2, about 13 GB) and every
#: public concept-bottleneck dataset bottlekit can fetch, while a server that sends
#: without end (no ``Content-Length``) stops at a known size instead of a full disk.
DEFAULT_MAX_BYTES = 16 * 2**30


def _offline(url: str, dest: Path, why: object) -> DownloadError:
    return DownloadError(
        f"could not download {dest.name} from {url} ({why}). Fetch it from that address "
        f"another way and put it at {dest}; it is then checked and extracted without the "
        "network."
    )


def download_file(
    url: str,
    dest: str | os.PathLike,
    *,
    progress: bool = True,
    timeout: float = 60.0,
    chunk: int = 1 << 16,
    max_bytes: int | None = None,
) -> Path:
    """Download ``url`` to ``dest``, resuming a partial ``dest.part`` with HTTP Range.

    The bytes go to ``<dest>.part`` and the file is renamed to ``dest`` once complete; an
    interrupted download keeps the ``.part`` and the next call asks the server for the
    rest only (a server that ignores ``Range`` sends the whole file again, which is then
    written from the start). A server that answers the ``Range`` request with 416
    (nothing left to send) completes the ``.part`` only when the size it gives
    (``Content-Range: bytes */SIZE``) is the ``.part``'s; otherwise the ``.part`` (larger
    than the file, or of a size the server does not confirm) is deleted and the file
    fetched again from the start. A ``dest`` already present is not fetched again.

    No more than ``max_bytes`` bytes are written: a ``Content-Length`` that announces more
    is refused before the body is read, and a body without one (an endless stream) is
    cut off at ``max_bytes``; its first ``max_bytes`` bytes stay in ``.part``, so a call
    with a larger ``max_bytes`` resumes from there (delete the ``.part`` to start again).

    Parameters
    ----------
    url : str
        An http(s), ftp or ``file://`` address.
    dest : path
        The file to write.
    progress : bool, default True
        A tqdm progress bar.
    timeout : float, default 60
        Seconds for the server's answer as a whole (the connection, the status line and
        the headers, however slowly their bytes arrive, ``100 Continue`` included) and
        for each block of data; a transfer that brings fewer than
        :data:`MIN_BYTES_PER_SECOND` bytes per second over a window of ``timeout``
        seconds (a server that trickles, its data or a chunked body's framing) is cut off
        too.
    chunk : int
        Bytes per read at the most.
    max_bytes : int, optional
        The most bytes the file may have (resumed bytes included); pass the file's exact
        size where it is known. Default :data:`DEFAULT_MAX_BYTES` (16 GiB).

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    DownloadError
        Offline, a refused request, an interrupted transfer or one larger than
        ``max_bytes``; the message names the URL and what to do.

    Examples
    --------
    A ``file://`` address goes the same way (``.part``, then renamed):

    >>> import tempfile
    >>> from pathlib import Path
    >>> tmp = Path(tempfile.mkdtemp())
    >>> _ = (tmp / "cifar.bin").write_bytes(b"0123456789")
    >>> out = download_file((tmp / "cifar.bin").as_uri(), tmp / "copy.bin", progress=False)
    >>> out.read_bytes(), out.name
    (b'0123456789', 'copy.bin')
    >>> sorted(p.name for p in tmp.iterdir())  # no .part left
    ['cifar.bin', 'copy.bin']

    A real dataset's archive (needs the network):

    >>> download_file("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    ...               "data/cifar-10-binary.tar.gz")  # doctest: +SKIP
    PosixPath('data/cifar-10-binary.tar.gz')
    """
    from tqdm.auto import tqdm

    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme.lower() not in (
        "http",
        "https",
        "ftp",
        "file",
    ):
        raise ValueError(f"url: expected an http(s), ftp or file address, got {url!r}")
    timeout = check_number(timeout, "timeout", low=0, low_open=True)
    chunk = check_positive_int(chunk, "chunk")
    progress = check_bool(progress, "progress")
    cap = DEFAULT_MAX_BYTES if max_bytes is None else check_positive_int(max_bytes, "max_bytes")
    dest = as_root(dest, "dest")
    if dest.is_file():
        return dest
    if dest.is_dir():
        raise ValueError(f"dest: {dest} is a folder; expected the path of the file to write")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    if have > cap:
        raise _too_large(
            url,
            dest,
            f"{part} already holds {have} bytes, more than max_bytes={cap}",
            f"or delete {part} to start again",
        )
    headers = {"User-Agent": "bottlekit", **({"Range": f"bytes={have}-"} if have else {})}
    try:
        # the connection, the status line and the headers together within `timeout` (a
        # server that trickles its headers or sends "100 Continue" without end passes
        # every per-read timeout): see bottlekit._deadline
        resp = _deadline.urlopen(urllib.request.Request(url, headers=headers), timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:
            # "nothing left to send": the part is complete only if it has the file's size,
            # which the answer gives as `Content-Range: bytes */SIZE`; a .part of another
            # size (a larger one left by another file, or no size given) is discarded and
            # the file fetched again from the start
            size = _unsatisfied_range_size(e.headers.get("Content-Range", ""))
            e.close()
            if size == have:
                os.replace(part, dest)
                return dest
            part.unlink()
            return download_file(
                url, dest, progress=progress, timeout=timeout, chunk=chunk, max_bytes=cap
            )
        e.close()
        raise _offline(url, dest, f"HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError) as e:
        raise _offline(url, dest, getattr(e, "reason", e)) from e
    except http.client.HTTPException as e:  # not an HTTP answer (BadStatusLine, ...)
        what = f"{type(e).__name__}: {str(e).strip()[:200]!r}"
        raise _offline(url, dest, f"not a valid HTTP answer, {what}") from e
    with resp:
        resumed = have > 0 and resp.status == 206 and _range_start(resp) == have
        if resp.status == 206 and not resumed:
            raise DownloadError(
                f"download of {dest.name} from {url}: the server answered the request for "
                f"bytes {have}- with {resp.headers.get('Content-Range')!r}; delete {part} "
                "and try again"
            )
        if not resumed:
            have = 0
        total = _content_length(resp)
        total = have + total if total is not None else None
        if total is not None and total > cap:
            raise _too_large(
                url,
                dest,
                f"refused before reading: its Content-Length announces {total} bytes in "
                f"all, more than max_bytes={cap}",
                f"{have} bytes are kept in {part}" if have else "nothing was written",
            )
        if total is not None:
            _check_free_space(url, dest, part, total - have, have)
        bar = tqdm(
            total=total,
            initial=have,
            unit="B",
            unit_scale=True,
            desc=dest.name,
            disable=not progress,
        )
        read = getattr(resp, "read1", resp.read)  # returns what has arrived, not `chunk`
        window_start, window_bytes = time.monotonic(), 0
        written = have
        try:
            with open(part, "ab" if resumed else "wb") as fh:
                while True:
                    # one read ends within `timeout` however its bytes arrive (a chunked
                    # body's framing may trickle without a byte of data)
                    try:
                        with _deadline.deadline(timeout):
                            block = read(chunk)
                    except _deadline.DeadlineExceeded:
                        raise _TooSlow(window_bytes, time.monotonic() - window_start) from None
                    if not block:
                        break
                    if written + len(block) > cap:  # keep the first `cap` bytes, no more
                        fh.write(block[: cap - written])
                        raise _TooLarge(written + len(block))
                    written += len(block)
                    fh.write(block)
                    bar.update(len(block))
                    window_bytes += len(block)
                    elapsed = time.monotonic() - window_start
                    if elapsed >= timeout:
                        if window_bytes < MIN_BYTES_PER_SECOND * elapsed:
                            raise _TooSlow(window_bytes, elapsed)
                        window_start, window_bytes = time.monotonic(), 0
        except _TooLarge as e:
            raise _too_large(
                url,
                dest,
                f"cut off: {e.received} bytes received, more than max_bytes={cap}",
                f"the first {cap} bytes are kept in {part}, from which a call with a larger "
                "max_bytes resumes (delete it to start again)",
            ) from None
        except _TooSlow as e:
            kept = part.stat().st_size if part.is_file() else 0
            raise DownloadError(
                f"download of {dest.name} from {url} stalled: {e.received} bytes in the last "
                f"{e.elapsed:.1f} s, below {MIN_BYTES_PER_SECOND} bytes/s; {kept} bytes are "
                f"kept in {part} and the next call resumes from there (or fetch the file "
                f"another way and put it at {dest})"
            ) from None
        except (http.client.HTTPException, OSError) as e:  # IncompleteRead, LineTooLong...
            kept = part.stat().st_size if part.is_file() else 0
            raise DownloadError(
                f"download of {dest.name} from {url} was interrupted ({type(e).__name__}); "
                f"{kept} bytes are kept in {part} and the next call resumes from there"
            ) from e
        finally:
            bar.close()
    if total is not None and part.stat().st_size != total:
        raise DownloadError(
            f"download of {dest.name} from {url} ended after {part.stat().st_size} of {total} "
            f"bytes; they are kept in {part} and the next call resumes from there"
        )
    os.replace(part, dest)
    return dest


def _check_free_space(url: str, dest: Path, part: Path, needed: int, have: int) -> None:
    """Refuse, before reading, a body the disk of ``part`` cannot hold (a full disk would
    otherwise end the transfer late, with an ``OSError`` from deep inside the write)."""
    try:
        free = shutil.disk_usage(part.parent).free
    except OSError:  # the space cannot be read there: let the write find out
        return
    if needed > free:
        kept = f"{have} bytes are kept in {part}" if have else "nothing was written"
        raise DownloadError(
            f"download of {dest.name} from {url} refused before reading: it needs {needed} "
            f"more bytes and the disk of {part.parent} has {free} free; {kept}. Free some "
            "space or download to a folder on another disk"
        )


def _too_large(url: str, dest: Path, what: str, kept: str) -> DownloadError:
    return DownloadError(
        f"download of {dest.name} from {url} {what}; {kept}. If the file is really that "
        "large, pass a larger max_bytes; otherwise the address serves something else"
    )


class _TooLarge(Exception):
    def __init__(self, received: int) -> None:
        self.received = received


class _TooSlow(Exception):
    def __init__(self, received: int, elapsed: float) -> None:
        self.received, self.elapsed = received, elapsed


def _content_length(resp: http.client.HTTPResponse) -> int | None:
    """The response's ``Content-Length``, None when absent or not a count of bytes (a
    malformed header is not trusted; the digest checks the file in the end)."""
    value = resp.headers.get("Content-Length")
    try:
        length = int(value) if value is not None else None
    except ValueError:
        return None
    return length if length is not None and length >= 0 else None


def _unsatisfied_range_size(value: str | None) -> int | None:
    """The file's size in a 416 answer's ``Content-Range: bytes */SIZE``; None when
    absent or malformed."""
    unit, _, rest = (value or "").strip().partition(" ")
    star, _, size = rest.strip().partition("/")
    if unit.lower() != "bytes" or star != "*" or not size.isdigit():
        return None
    return int(size)


def _range_start(resp: http.client.HTTPResponse) -> int | None:
    """The first byte of a 206 response (``Content-Range: bytes START-END/TOTAL``)."""
    value = resp.headers.get("Content-Range", "")
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None
