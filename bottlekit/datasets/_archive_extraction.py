"""Extracting a tar or zip archive safely: :func:`safe_extract` checks every member
before anything is written and refuses one that would land outside the target folder
(:class:`UnsafeArchiveError`). Re-exported by :mod:`bottlekit.datasets.download`.
"""

from __future__ import annotations

import lzma
import os
import shutil
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from bottlekit.datasets._parsing import MissingDatasetError, as_root


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the target folder; nothing was
    extracted."""

    # tracebacks name it by its public home, where callers import it from
    __module__ = "bottlekit.datasets.download"


def _check_member(name: str, dest: Path, archive: Path) -> Path:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or (p.parts and p.parts[0].endswith(":")) or ".." in p.parts:
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} would be written outside {dest}; nothing was extracted"
        )
    return dest.joinpath(*p.parts)


def _top(name: str) -> tuple[str, ...]:
    """The top-level entry a member ``name`` creates: none for ``.`` or ``./`` (``dest``
    itself, the first member of an archive made with ``tar -C folder .``)."""
    return PurePosixPath(name).parts[:1]


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
        The archive; its format is recognised from its content, not its name.
    dest : path
        The folder to extract into (created if missing).

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
                tops.update(_top(info.filename))
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
            tops.update(_top(m.name))
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tf.extractall(dest, members=members, **kwargs)
    return tops
