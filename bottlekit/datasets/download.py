"""Downloading the public dataset archives: resumable, checked, and extracted safely.

:func:`download_dataset` fetches a dataset's archive (table :data:`SOURCES`) over HTTP(S)
with the standard library, with a progress bar, resuming a partial ``.part`` file with an
HTTP ``Range`` request, checks its digest (the publisher's md5, or a sha256) **before**
anything is extracted, and extracts
it refusing members that would land outside the target folder (``../``, absolute paths,
links pointing outside, device files). Offline, the error names the file, the URL and where
to put a copy fetched elsewhere. Datasets behind a licence form or on Google Drive cannot
be fetched: their error says what to do.

The table holds the digest each publisher gives: md5 for CIFAR-10, CIFAR-100 (on the
CIFAR page) and CUB-200-2011. Where none is published that bottlekit could check (both
``None``) the archive is downloaded but not extracted until you pass ``checksum=`` (the
error prints the file's sha256 to compare with the publisher's).

No download writes more than a cap: the archive's exact size where the table knows it
(``Source.size``), a ceiling where it does not (``Source.max_bytes``), and
:data:`DEFAULT_MAX_BYTES` for any other address, so a server that sends without end
cannot fill the disk.
"""

from __future__ import annotations

import hashlib
import http.client
import lzma
import os
import shutil
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bottlekit import _deadline
from bottlekit._checks import check_bool, check_number, check_positive_int
from bottlekit.datasets._parsing import MissingDatasetError, as_root

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MIN_BYTES_PER_SECOND",
    "SOURCES",
    "ChecksumError",
    "DownloadError",
    "Source",
    "UnsafeArchiveError",
    "download_dataset",
    "download_file",
    "file_digests",
    "safe_extract",
    "sha256_of",
]


class DownloadError(MissingDatasetError):
    """A download failed (offline, interrupted, refused); the message says what to fetch
    from where and where to put it."""


class ChecksumError(ValueError):
    """An archive whose digest (md5 or sha256) is wrong, or unknown; nothing was
    extracted."""


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the target folder; nothing was
    extracted."""


@dataclass(frozen=True)
class Source:
    """Where a dataset comes from.

    Attributes
    ----------
    url : str or None
        The public archive (None: no direct download).
    filename : str
        The archive's file name.
    sha256 : str or None
        The archive's sha256, None where bottlekit has none to check against.
    extracts_to : str
        The folder the archive creates (the loader's ``root``).
    manual : str or None
        Why and how to fetch it by hand, for datasets that cannot be downloaded.
    md5 : str or None
        The archive's md5 as its publisher gives it (CIFAR, CUB), None where none is
        published. md5 detects a corrupted or substituted download from the publisher's
        address; it is what the publishers give, so it is what can be checked.
    digest_from : str or None
        Where the digest comes from.
    size : int or None
        The archive's exact size in bytes, where it is known: the download refuses any
        byte beyond it (and a ``Content-Length`` above it before reading).
    max_bytes : int or None
        A ceiling for an archive whose exact size is not known (a rounded-up bound on
        its published size); None with ``size`` given, or for no download.
    """

    url: str | None
    filename: str
    sha256: str | None
    extracts_to: str
    manual: str | None = None
    md5: str | None = None
    digest_from: str | None = None
    size: int | None = None
    max_bytes: int | None = None

    @property
    def cap(self) -> int:
        """The most bytes a download of this archive may bring: ``size``, else
        ``max_bytes``, else :data:`DEFAULT_MAX_BYTES`."""
        for bound in (self.size, self.max_bytes):
            if bound is not None:
                return bound
        return DEFAULT_MAX_BYTES

    @property
    def digests(self) -> dict[str, str]:
        """The known digests, ``{"md5": ..., "sha256": ...}`` (those not None)."""
        return {a: d for a, d in (("md5", self.md5), ("sha256", self.sha256)) if d is not None}


#: Per dataset: the archive, its checksum, and the manual step where one is needed.
SOURCES: dict[str, Source] = {
    "cub": Source(
        "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz?download=1",
        "CUB_200_2011.tgz",
        None,
        "CUB_200_2011",
        md5="97eceeb196236b17998738112f37df78",
        digest_from="the md5 of the release's CUB_200_2011.tgz, as the common loaders "
        "check it (torchvision-style Cub2011 datasets, avalanche's CUB200)",
        size=1_150_585_339,
    ),
    "waterbirds": Source(
        "https://downloads.cs.stanford.edu/nlp/data/dro/waterbird_complete95_forest2water2.tar.gz",
        "waterbird_complete95_forest2water2.tar.gz",
        None,
        "waterbird_complete95_forest2water2",
        max_bytes=4 * 2**30,  # exact size unknown; its 11,788 images are CUB's (1.15 GB)
    ),
    "awa2": Source(
        "https://cvml.ista.ac.at/AwA2/AwA2-data.zip",
        "AwA2-data.zip",
        None,
        "Animals_with_Attributes2",
        max_bytes=16 * 2**30,  # exact size unknown; the AwA2 page gives "13 GB"
    ),
    "cifar10": Source(
        "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
        "cifar-10-binary.tar.gz",
        None,
        "cifar-10-batches-bin",
        md5="c32a1d4ab5d03f1284b67883e8d87530",
        digest_from="md5 on https://www.cs.toronto.edu/~kriz/cifar.html (binary version)",
        size=170_052_171,
    ),
    "cifar100": Source(
        "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
        "cifar-100-binary.tar.gz",
        None,
        "cifar-100-binary",
        md5="03b5dce01913d631647c71ecec9e9cb8",
        digest_from="md5 on https://www.cs.toronto.edu/~kriz/cifar.html (binary version)",
        size=168_513_733,
    ),
    "celeba": Source(
        None,
        "img_align_celeba.zip",
        None,
        ".",
        manual=(
            "CelebA is shared through Google Drive and cannot be fetched automatically: "
            "from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html download "
            "img_align_celeba.zip, list_attr_celeba.txt and list_eval_partition.txt, and "
            "extract them into {root}"
        ),
    ),
    "ham10000": Source(
        None,
        "HAM10000_images_part_1.zip",
        None,
        ".",
        manual=(
            "HAM10000 is on the Harvard Dataverse behind its terms of use: accept them at "
            "https://doi.org/10.7910/DVN/DBW86T, download HAM10000_metadata.csv, "
            "HAM10000_images_part_1.zip and HAM10000_images_part_2.zip, and extract them "
            "into {root}"
        ),
    ),
    "imagefolder": Source(
        None,
        "",
        None,
        ".",
        manual=(
            "an image folder is your own data (ImageNet needs an account and its licence "
            "at https://image-net.org): put one sub-folder per class under {root}"
        ),
    ),
}


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The sha256 of a file, hex.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"abc")
    >>> sha256_of(p)[:16]
    'ba7816bf8f01cfea'
    """
    return file_digests(path, ("sha256",), chunk)["sha256"]


def file_digests(
    path: str | os.PathLike, algorithms: tuple[str, ...] = ("md5", "sha256"), chunk: int = 1 << 20
) -> dict[str, str]:
    """Digests of a file (hex), computed in one read.

    Parameters
    ----------
    path : path
    algorithms : tuple of {"md5", "sha256"}
    chunk : int
        Bytes per read.

    Returns
    -------
    dict of str to str

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"abc")
    >>> file_digests(p)["md5"]
    '900150983cd24fb0d6963f7d28e17f72'
    """
    hashes = {
        a: hashlib.md5(usedforsecurity=False) if a == "md5" else hashlib.new(a) for a in algorithms
    }
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            for h in hashes.values():
                h.update(block)
    return {a: h.hexdigest() for a, h in hashes.items()}


def _algorithm_of(checksum: str) -> str:
    """``"md5"`` or ``"sha256"`` from a hex digest's length."""
    if not isinstance(checksum, str):
        raise TypeError(
            "checksum: expected a hex md5 (32 digits) or sha256 (64 digits) as a str, got "
            f"{type(checksum).__name__}"
        )
    text = checksum.strip().lower()
    algo = {32: "md5", 64: "sha256"}.get(len(text))
    if algo is None or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(
            f"checksum: expected a hex md5 (32 digits) or sha256 (64 digits), got {checksum!r}"
        )
    return algo


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
    written from the start). A ``dest`` already present is not fetched again.

    No more than ``max_bytes`` bytes are written: a ``Content-Length`` that announces more
    is refused before the body is read, and a body without one (an endless stream) is
    cut off at ``max_bytes``; its first ``max_bytes`` bytes stay in ``.part``, so a call
    with a larger ``max_bytes`` resumes from there (delete the ``.part`` to start again).

    Parameters
    ----------
    url : str
    dest : path
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
        with _deadline.deadline(timeout):
            resp = _deadline.build_opener().open(
                urllib.request.Request(url, headers=headers), timeout=timeout
            )
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left to send: the part is complete
            e.close()
            os.replace(part, dest)
            return dest
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


def _range_start(resp: http.client.HTTPResponse) -> int | None:
    """The first byte of a 206 response (``Content-Range: bytes START-END/TOTAL``)."""
    value = resp.headers.get("Content-Range", "")
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _check_member(name: str, dest: Path, archive: Path) -> Path:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or (p.parts and p.parts[0].endswith(":")) or ".." in p.parts:
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} would be written outside {dest}; nothing was extracted"
        )
    return dest.joinpath(*p.parts)


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike) -> list[Path]:
    """Extract a tar (any compression) or zip archive into ``dest``, refusing unsafe members.

    Every member is checked before anything is written: an absolute path, a ``..``
    component, a symbolic or hard link whose target resolves outside ``dest``, or a device
    or FIFO member raises :class:`UnsafeArchiveError` and nothing is extracted. A damaged
    archive (truncated, a member that fails its CRC) raises ``ValueError`` naming it, and
    the entries it had already written into ``dest`` are removed.

    Parameters
    ----------
    archive : path
    dest : path

    Returns
    -------
    list of Path
        The top-level entries extracted.

    Examples
    --------
    >>> import io, tarfile, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with tarfile.open(d / "a.tar", "w") as tf:
    ...     info = tarfile.TarInfo("../evil.txt"); info.size = 1
    ...     tf.addfile(info, io.BytesIO(b"x"))
    >>> safe_extract(d / "a.tar", d / "out")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bottlekit.datasets.download.UnsafeArchiveError: ...member '../evil.txt' would be ...
    """
    archive, dest = as_root(archive, "archive"), as_root(dest, "dest")
    if not archive.is_file():
        raise MissingDatasetError(f"{archive}: archive not found")
    dest.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in dest.iterdir()}
    try:
        tops = _extract(archive, dest)
    except (
        tarfile.TarError,
        zipfile.BadZipFile,
        EOFError,
        zlib.error,
        lzma.LZMAError,
        OSError,
    ) as e:
        # a damaged archive found out while extracting: what it wrote is removed, so that
        # no half-extracted folder looks like a complete dataset
        for p in dest.iterdir():
            if p.name not in before:
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        raise ValueError(
            f"{archive}: cannot extract it ({type(e).__name__}: {e}); truncated or damaged "
            f"archive? What it had written into {dest} was removed"
        ) from e
    return sorted(dest / t for t in tops)


def _extract(archive: Path, dest: Path) -> set[str]:
    """Check every member of ``archive``, then extract them all into ``dest``; the names
    of the top-level entries."""
    root = dest.resolve()
    tops: set[str] = set()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                _check_member(info.filename, root, archive)
                mode = (info.external_attr >> 16) & 0o170000
                if mode == 0o120000:  # a symlink stored in a zip
                    raise UnsafeArchiveError(
                        f"{archive}: member {info.filename!r} is a symbolic link; nothing was "
                        "extracted"
                    )
                tops.add(PurePosixPath(info.filename).parts[0])
            zf.extractall(dest)
        return tops
    try:
        tf = tarfile.open(archive)
    except tarfile.TarError as e:
        raise ValueError(f"{archive}: not a tar or zip archive ({e})") from e
    with tf:
        members = tf.getmembers()
        for m in members:
            target = _check_member(m.name, root, archive)
            if m.isdev() or m.isfifo():
                raise UnsafeArchiveError(
                    f"{archive}: member {m.name!r} is a device or FIFO; nothing was extracted"
                )
            if m.issym() or m.islnk():
                base = target.parent if m.issym() else root
                link = (
                    (base / m.linkname).resolve()
                    if not Path(m.linkname).is_absolute()
                    else Path(m.linkname)
                )
                if not link.is_relative_to(root):
                    raise UnsafeArchiveError(
                        f"{archive}: link {m.name!r} -> {m.linkname!r} points outside {dest}; "
                        "nothing was extracted"
                    )
            tops.add(PurePosixPath(m.name).parts[0])
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tf.extractall(dest, members=members, **kwargs)
    return tops


def download_dataset(
    name: str,
    root: str | os.PathLike,
    *,
    checksum: str | None = None,
    url: str | None = None,
    progress: bool = True,
    keep_archive: bool = True,
    timeout: float = 60.0,
    max_bytes: int | None = None,
) -> Path:
    """Download, check and extract a dataset's public archive into ``root``.

    Parameters
    ----------
    name : str
        A key of :data:`SOURCES`.
    root : path
        The folder to download into; the archive creates ``root/<extracts_to>``.
    checksum : str, optional
        The archive's sha256 (64 hex digits) or md5 (32). Required when the table has no
        digest (the error then gives the downloaded file's sha256 to compare with the
        publisher's); when the table has one of the same kind they must agree, and every
        digest known is checked.
    url : str, optional
        Another address for the same archive (a mirror).
    progress : bool, default True
    keep_archive : bool, default True
        Keep the archive after extracting it.
    timeout : float, default 60
        Seconds to wait for the server (for its whole answer: status line and headers,
        and for each block of data): a server that stops sending fails with
        :class:`DownloadError` after that long, and so does one that trickles (fewer
        than :data:`MIN_BYTES_PER_SECOND` bytes per second over ``timeout`` seconds); the
        bytes received are kept for the next call to resume.
    max_bytes : int, optional
        The most bytes the archive may have. Default: its exact size where the table
        knows it (``Source.size``: any byte beyond it is refused), else the table's
        ceiling (``Source.max_bytes``), else :data:`DEFAULT_MAX_BYTES`. Pass a larger one
        only for an archive known to have grown (its digest is still checked).

    Returns
    -------
    Path
        ``root/<extracts_to>``.

    Raises
    ------
    DownloadError
        A dataset that needs a manual step (the message says which), or a failed download.
    ChecksumError
        A wrong or unknown checksum; nothing is extracted (a wrong download is moved to
        ``<archive>.bad``).
    UnsafeArchiveError
        A member that would land outside ``root``; nothing is extracted.

    Examples
    --------
    >>> download_dataset("celeba", "/data/celeba")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bottlekit.datasets.download.DownloadError: celeba: CelebA is shared through Google Drive ...
    """
    if not isinstance(name, str) or name not in SOURCES:
        raise ValueError(f"name: unknown dataset {name!r}; expected one of {sorted(SOURCES)}")
    src = SOURCES[name]
    root = as_root(root)
    keep_archive = check_bool(keep_archive, "keep_archive")
    if src.manual is not None:
        raise DownloadError(f"{name}: {src.manual.format(root=root)}")
    url = url or src.url
    assert url is not None
    expected = [(a, d, "bottlekit's table") for a, d in src.digests.items()]
    if checksum is not None:
        algo, given = _algorithm_of(checksum), checksum.strip().lower()
        known = src.digests.get(algo)
        if known is not None and given != known:
            raise ChecksumError(
                f"checksum: {checksum!r} differs from the known {algo} {known} of {src.filename}"
            )
        if known is None:
            expected.insert(0, (algo, given, "checksum="))
    archive = download_file(
        url,
        root / src.filename,
        progress=progress,
        timeout=timeout,
        max_bytes=src.cap if max_bytes is None else max_bytes,
    )
    got = file_digests(archive, tuple({"sha256", *(a for a, _, _ in expected)}))
    if not expected:
        raise ChecksumError(
            f"{archive}: bottlekit has no sha256 or md5 for {src.filename}, so it does not "
            f"extract it. The downloaded file's sha256 is {got['sha256']}: compare it with "
            f"the publisher's and call again with checksum='{got['sha256']}'"
        )
    for algo, want, origin in expected:
        if got[algo] != want:
            bad = archive.with_name(archive.name + ".bad")
            shutil.move(archive, bad)
            raise ChecksumError(
                f"{archive}: {algo} {got[algo]} differs from the expected {want} (from "
                f"{origin}); nothing was extracted and the file was moved to {bad} "
                "(download again)"
            )
    safe_extract(archive, root)
    if not keep_archive:
        archive.unlink()
    return root / src.extracts_to
