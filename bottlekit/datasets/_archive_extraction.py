"""Extracting a tar or zip archive safely: :func:`safe_extract` checks every member
before anything is written and refuses one that would land outside the target folder,
directly or through the links the archive's earlier members create, a member listed
twice, and an archive whose members hold more than a cap
(:data:`DEFAULT_MAX_EXTRACTED_BYTES`) (:class:`UnsafeArchiveError`). Re-exported by
:mod:`bottlekit.datasets.download`.
"""

from __future__ import annotations

import lzma
import os
import shutil
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from bottlekit._checks import check_positive_int
from bottlekit.datasets._file_download import DEFAULT_MAX_BYTES
from bottlekit.datasets._parsing import MissingDatasetError, as_root


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the target folder (directly or through
    the archive's links), a member is listed twice, or the members hold more bytes than
    the cap; nothing was extracted."""

    # tracebacks name it by its public home, where callers import it from
    __module__ = "bottlekit.datasets.download"


#: The most bytes :func:`safe_extract` writes when the caller gives no ``max_bytes``:
#: 64 GiB, four times :data:`DEFAULT_MAX_BYTES` (16 GiB, itself above the largest archive
#: in :data:`SOURCES`, AwA2's 13 GB zip of JPEGs, which hardly compress): room for an
#: archive at the download cap that compresses 4:1, while a "zip bomb" (a few MB that
#: expand 1000-fold) stops at a known size instead of a full disk.
DEFAULT_MAX_EXTRACTED_BYTES = 4 * DEFAULT_MAX_BYTES

#: Links followed in a row before a path counts as a loop (Linux's ``MAXSYMLINKS``).
_MAX_LINK_HOPS = 40


def _check_member(name: str, dest: Path, archive: Path) -> tuple[str, ...]:
    """The path components of member ``name`` (``.`` and empty ones dropped), refusing an
    absolute path, a ``..`` component and a ``:`` in any component (a drive, ``C:x``,
    which Windows would resolve outside ``dest``)."""
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or any(":" in c for c in p.parts) or ".." in p.parts:
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} would be written outside {dest}; nothing was extracted"
        )
    return p.parts


class _Tree:
    """The members of one archive, in order, as the disk will hold them once extracted.

    Every path is resolved lexically through the symbolic links the archive's earlier
    members create (and those already in ``root``), as the system will resolve it when
    the member is written: a link ``b -> .`` then ``a -> b/..`` makes ``a`` the parent of
    ``root``, though ``b/..`` looked at on the disk before extracting (where ``b`` is not
    yet) stays inside.
    """

    def __init__(self, root: Path, archive: Path, dest: Path) -> None:
        self.root, self.archive, self.dest = root, archive, dest
        self.symlinks: dict[tuple[str, ...], str] = {}  # where each link lies -> its target
        self.kinds: dict[tuple[str, ...], tuple[str, str]] = {}  # where -> (kind, name)
        self.tops: set[str] = set()
        self.plain: set[tuple[str, ...]] = set()  # places known not to be links on the disk

    def resolve(self, parts: tuple[str, ...] | list[str]) -> tuple[str, ...] | None:
        """Where ``parts`` (relative to ``root``, ``..`` allowed) lands once every link
        is followed, the last component's included; None when it leaves ``root``, goes
        through an absolute link or loops."""
        cur: list[str] = []
        todo = list(parts)
        hops = 0
        while todo:
            c = todo.pop(0)
            if c in ("", "."):
                continue
            if c == "..":
                if not cur:
                    return None
                cur.pop()
                continue
            here = (*cur, c)
            target = self.symlinks.get(here)
            if target is None:
                disk = self.root.joinpath(*here)
                if here in self.kinds or here in self.plain:
                    cur.append(c)
                elif disk.is_symlink():  # a link already in root, not from the archive
                    real = Path(os.path.realpath(disk))
                    if not real.is_relative_to(self.root):
                        return None
                    cur = list(real.relative_to(self.root).parts)
                else:
                    self.plain.add(here)  # no link on the disk there: not looked up again
                    cur.append(c)
                continue
            hops += 1
            t = PurePosixPath(target)
            if hops > _MAX_LINK_HOPS or t.is_absolute():
                return None
            todo = list(t.parts) + todo  # relative to the link's folder, `cur`
        return tuple(cur)

    def add(self, name: str, kind: str, linkname: str = "") -> tuple[str, ...]:
        """Check member ``name`` of ``kind`` (``file``, ``dir``, ``sym``, ``hard``) and
        record it; where it will be written, relative to ``root``."""
        parts = _check_member(name, self.dest, self.archive)
        if not parts and kind != "dir":  # "." is `dest` itself
            raise UnsafeArchiveError(
                f"{self.archive}: member {name!r} would replace {self.dest} itself; "
                "nothing was extracted"
            )
        self.tops.update(parts[:1])
        if kind in ("sym", "hard"):  # the link itself is made, not followed
            parent = self.resolve(parts[:-1])
            place = None if parent is None else (*parent, parts[-1])
        else:
            place = self.resolve(parts)
        if place is None:
            raise UnsafeArchiveError(
                f"{self.archive}: member {name!r} would be written outside {self.dest} "
                "through the links of the archive's earlier members (or they loop); nothing "
                "was extracted"
            )
        if place and place in self.kinds:
            first_kind, first = self.kinds[place]
            if not (kind == first_kind == "dir"):  # a folder listed twice overwrites nothing
                raise UnsafeArchiveError(
                    f"{self.archive}: member {name!r} is listed twice (as {first!r} too, "
                    "the same path once normalised); the second would overwrite the first. "
                    "Nothing was extracted"
                )
        if kind == "sym":
            self._check_link(name, linkname, (*place[:-1], *PurePosixPath(linkname).parts))
            self.symlinks[place] = linkname
        elif kind == "hard":  # a hard link's target is named from the archive's root
            self._check_link(name, linkname, PurePosixPath(linkname).parts)
            target = self.resolve(PurePosixPath(linkname).parts)
            if self.kinds.get(target, ("",))[0] not in ("file", "hard"):
                # tarfile would look it up among the earlier members and fail with a bare
                # KeyError, after writing them
                raise UnsafeArchiveError(
                    f"{self.archive}: hard link {name!r} -> {linkname!r} names no file among "
                    "the archive's earlier members; nothing was extracted"
                )
        if place:
            self.kinds[place] = (kind, name)
        return place

    def _check_link(self, name: str, linkname: str, target: tuple[str, ...]) -> None:
        if PurePosixPath(linkname).is_absolute() or self.resolve(target) is None:
            raise UnsafeArchiveError(
                f"{self.archive}: link {name!r} -> {linkname!r} points outside {self.dest} "
                "(resolved through the archive's links) or loops; nothing was extracted"
            )

    def check_links(self) -> None:
        """Check every symbolic link again once all are known: a later link may move an
        earlier one's target (``x -> y/..``, then ``y -> a/b``)."""
        for place, linkname in self.symlinks.items():
            if self.resolve(place) is None:
                name = self.kinds[place][1]
                raise UnsafeArchiveError(
                    f"{self.archive}: link {name!r} -> {linkname!r} points outside "
                    f"{self.dest} through the archive's later links or loops; nothing was "
                    "extracted"
                )


def _check_total(archive: Path, total: int, cap: int) -> None:
    if total > cap:
        raise UnsafeArchiveError(
            f"{archive}: its members hold {total} bytes uncompressed, more than "
            f"max_bytes={cap}; nothing was extracted. If the archive really is that large, "
            "pass a larger max_bytes"
        )


class _TooLarge(Exception):
    def __init__(self, written: int) -> None:
        self.written = written


def safe_extract(
    archive: str | os.PathLike, dest: str | os.PathLike, *, max_bytes: int | None = None
) -> list[Path]:
    """Extract a tar (any compression) or zip archive into ``dest``, refusing unsafe members.

    Every member is checked before anything is written: an absolute path, a ``..``
    component, a member written through a link outside ``dest``, a symbolic or hard link
    whose target resolves outside ``dest`` (or loops), a hard link that names no file
    among the archive's earlier members, a device or FIFO member, a member
    listed twice (the same path once normalised: ``a/x`` and ``./a//x``; a folder listed
    twice overwrites nothing and is allowed), or members that hold more than
    ``max_bytes`` in all raise :class:`UnsafeArchiveError` and nothing is extracted.

    Links are resolved through the links the archive's earlier members create, as the
    disk will hold them when each member is written (``b -> .``, then ``a -> b/..``, makes
    ``a`` the parent of ``dest``), not through the disk before extracting; the check does
    not rely on :func:`tarfile.data_filter`, absent from Python 3.10.0-3.10.11 and
    3.11.0-3.11.3 (where it exists, it is applied too).

    A damaged archive (truncated, a member that fails its CRC) raises ``ValueError``
    naming it, and the entries it had already written into ``dest`` are removed.

    Parameters
    ----------
    archive : path
        The archive; its format is recognised from its content, not its name.
    dest : path
        The folder to extract into (created if missing).
    max_bytes : int, optional
        The most bytes the members may hold uncompressed, in all: the sizes the archive
        records are added up and refused before anything is written, and a zip member
        that holds more than it records is stopped at the cap while written (what was
        written is removed). Default :data:`DEFAULT_MAX_EXTRACTED_BYTES` (64 GiB).

    Returns
    -------
    list of Path
        The top-level entries extracted.

    Raises
    ------
    UnsafeArchiveError
        An unsafe member, a member listed twice, or more than ``max_bytes``; the message
        names the archive and the member (or the total and the cap).
    ValueError
        A damaged archive, or one that is neither tar nor zip.

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
    cap = (
        DEFAULT_MAX_EXTRACTED_BYTES
        if max_bytes is None
        else check_positive_int(max_bytes, "max_bytes")
    )
    dest.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in dest.iterdir()}
    try:
        tops = _extract(archive, dest, cap)
    except _TooLarge as e:
        _remove_new(dest, before)
        raise UnsafeArchiveError(
            f"{archive}: its members hold more than max_bytes={cap} bytes uncompressed "
            f"({e.written} written, more than they record); what it had written into "
            f"{dest} was removed"
        ) from None
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
        _remove_new(dest, before)
        raise ValueError(
            f"{archive}: cannot extract it ({type(e).__name__}: {e}); truncated or damaged "
            f"archive? What it had written into {dest} was removed"
        ) from e
    return sorted(dest / t for t in tops)


def _remove_new(dest: Path, before: set[str]) -> None:
    """Remove what extracting wrote into ``dest`` (the entries not in ``before``)."""
    for p in dest.iterdir():
        if p.name not in before:
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()


def _extract(archive: Path, dest: Path, cap: int) -> set[str]:
    """Check every member of ``archive``, then extract them all into ``dest``; the names
    of the top-level entries."""
    root = dest.resolve()
    tree = _Tree(root, archive, dest)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            places = []
            for info in infos:
                mode = (info.external_attr >> 16) & 0o170000
                if mode == 0o120000:  # a symlink stored in a zip
                    raise UnsafeArchiveError(
                        f"{archive}: member {info.filename!r} is a symbolic link; nothing was "
                        "extracted"
                    )
                places.append(tree.add(info.filename, "dir" if info.is_dir() else "file"))
            _check_total(archive, sum(i.file_size for i in infos if not i.is_dir()), cap)
            written = 0
            for info, place in zip(infos, places, strict=True):
                target = root.joinpath(*place)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    # counted as written: a member that holds more than its recorded size
                    # is stopped at the cap all the same
                    while block := src.read(1 << 20):
                        written += len(block)
                        if written > cap:
                            raise _TooLarge(written)
                        out.write(block)
        return tree.tops
    try:
        tf = tarfile.open(archive)
    except tarfile.TarError as e:
        raise ValueError(f"{archive}: not a tar or zip archive ({e})") from e
    with tf:
        members = tf.getmembers()
        for m in members:
            if "\\" in m.name or "\\" in (m.linkname or ""):
                # tarfile writes a backslash into the name on POSIX, where the checks
                # above would read it as a folder: `a\\b -> ..` looked like dest/a/b -> ..
                raise UnsafeArchiveError(
                    f"{archive}: member {m.name!r}"
                    + (f" (a link to {m.linkname!r})" if m.linkname else "")
                    + " has a backslash, which a tar name does not hold (its folders are "
                    "separated by '/'); nothing was extracted"
                )
            if m.isdev() or m.isfifo():
                _check_member(m.name, dest, archive)
                raise UnsafeArchiveError(
                    f"{archive}: member {m.name!r} is a device or FIFO; nothing was extracted"
                )
            kind = "sym" if m.issym() else "hard" if m.islnk() else "dir" if m.isdir() else "file"
            tree.add(m.name, kind, m.linkname)
        tree.check_links()
        # a tar member's data is exactly its recorded size: tarfile reads no more
        _check_total(archive, sum(m.size for m in members if m.isreg()), cap)
        if hasattr(tarfile, "data_filter"):
            kwargs = {"filter": "data"}
        else:  # Python < 3.10.12 / 3.11.4: what the data filter does to modes, by hand
            kwargs = {}
            for m in members:
                m.mode &= 0o755
        tf.extractall(dest, members=members, **kwargs)
    return tree.tops
