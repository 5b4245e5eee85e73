"""Downloading the public dataset archives: resumable, checked, and extracted safely.

:func:`download_dataset` fetches a dataset's archive (table :data:`SOURCES`) over HTTP(S)
with the standard library, with a progress bar, resuming a partial ``.part`` file with an
HTTP ``Range`` request, checks its digest (the publisher's md5, or a sha256) **before**
anything is extracted, and extracts
it refusing members that would land outside the target folder (``../``, absolute paths,
links pointing outside, resolved through the archive's own links, device files), members
listed twice, and more than :data:`DEFAULT_MAX_EXTRACTED_BYTES` extracted. Offline, the
error names the file, the URL and where to put a copy fetched elsewhere. Datasets behind
a licence form or on Google Drive cannot be fetched: their error says what to do.

The table holds the digest each publisher gives: md5 for CIFAR-10, CIFAR-100 (on the
CIFAR page) and CUB-200-2011. Where none is published that bottlekit could check (both
``None``) the archive is downloaded but not extracted until you pass ``checksum=`` (the
error prints the file's sha256 to compare with the publisher's).

No download writes more than a cap: the archive's exact size where the table knows it
(``Source.size``), a ceiling where it does not (``Source.max_bytes``), and
:data:`DEFAULT_MAX_BYTES` for any other address, so a server that sends without end
cannot fill the disk.

The parts, re-exported here: the table (``_source_table.py``), one file's download
(``_file_download.py``), digests (``_digests.py``) and safe extraction
(``_archive_extraction.py``); this module checks and extracts a dataset's archive
(:func:`download_dataset`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bottlekit._checks import check_bool
from bottlekit.datasets._archive_extraction import (
    DEFAULT_MAX_EXTRACTED_BYTES,
    UnsafeArchiveError,
    safe_extract,
)
from bottlekit.datasets._digests import _algorithm_of, file_digests, sha256_of
from bottlekit.datasets._file_download import (
    DEFAULT_MAX_BYTES,
    MIN_BYTES_PER_SECOND,
    DownloadError,
    download_file,
)
from bottlekit.datasets._parsing import as_root
from bottlekit.datasets._source_table import SOURCES, Source

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_EXTRACTED_BYTES",
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


class ChecksumError(ValueError):
    """An archive whose digest (md5 or sha256) is wrong, or unknown; nothing was
    extracted."""


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
        A progress bar for the download.
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
