"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file the package saves (models, concept banks, embedding caches, reports, ``.npz``
arrays, trained weights) goes through :func:`atomic_write_bytes`. The file gets the mode a
plain ``open(path, "w")`` would give it, ``0o666`` less the process umask (``0o644`` under
the usual umask ``0o022``, ``0o664`` under ``0o002`` in a shared group folder), not the
``0o600`` of the temporary file it is written to.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_path",
    "current_umask",
    "new_file_mode",
]

_UMASK_LOCK = threading.Lock()
#: Characters of a file's name kept in the name of the temporary file written beside it.
_TMP_NAME_CHARS = 200


def current_umask() -> int:
    """The process umask, read without changing it where the system allows.

    Linux reports it in ``/proc/self/status``. Elsewhere the only way is to set a new umask
    and put the old one back; the temporary value is ``0o077`` (the most private), so a file
    another thread creates in that instant is never more open than intended.

    Returns
    -------
    int
        The umask's bits (``0o022`` is usual).

    Examples
    --------
    >>> import os
    >>> old = os.umask(0o027)
    >>> oct(current_umask())
    '0o27'
    >>> _ = os.umask(old)
    """
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def new_file_mode() -> int:
    """Permission bits of a newly created regular file: ``0o666 & ~umask``.

    Returns
    -------
    int
        The mode bits (``0o644`` under the usual umask ``0o022``).

    Examples
    --------
    >>> import os
    >>> old = os.umask(0o022)
    >>> oct(new_file_mode())
    '0o644'
    >>> _ = os.umask(old)
    """
    return 0o666 & ~current_umask()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, fsync, rename.

    The file ends with mode ``0o666 & ~umask`` (:func:`new_file_mode`), as ``open`` would
    create it; a file it replaces is replaced with that mode too.

    Parameters
    ----------
    path : str or PathLike
        Destination; parent folders are created.
    data : bytes
        The whole content.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
    >>> atomic_write_bytes(p, b"abc"); p.read_bytes()
    b'abc'
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder; expected the path of a file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = new_file_mode()
    # (the temporary name is capped: a name near the file system's limit still fits)
    prefix = f".{path.name[:_TMP_NAME_CHARS]}."
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.chmod(tmp, mode)  # mkstemp creates 0600
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`).

    Parameters
    ----------
    path : str or PathLike
        Destination; parent folders are created.
    text : str
        The whole content.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> atomic_write_text(p, "héllo"); p.read_text(encoding="utf-8")
    'héllo'
    """
    atomic_write_bytes(path, text.encode("utf-8"))


def check_output_path(
    path: str | os.PathLike,
    arg: str,
    *,
    is_file: bool = False,
    is_dir: bool = False,
    files: Sequence[str] = (),
) -> Path:
    """Refuse an output path that cannot be written, before any work is done.

    Every existing ancestor must be a folder (a file in the way is the usual mistake) and
    the nearest existing one writable, and so must an existing folder given with
    ``is_dir``; missing folders are created when writing.

    Parameters
    ----------
    path : path-like
        The output file or folder.
    arg : str
        The argument or option that gave it, for the message (e.g. ``"--out"``).
    is_file : bool, default=False
        ``path`` is a file to write: refuse an existing folder there.
    is_dir : bool, default=False
        ``path`` is a folder to write into: refuse an existing file there.
    files : sequence of str, default=()
        With ``is_dir``, the names of the files that will be written into the folder: an
        existing folder under one of those names is refused (the write would fail there
        after the work, and after the files written before it).

    Returns
    -------
    pathlib.Path
        ``path`` as a Path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> check_output_path(folder / "new" / "model.safetensors", "path").name
    'model.safetensors'
    >>> check_output_path(folder, "checkpoint", is_file=True)
    Traceback (most recent call last):
    ...
    ValueError: checkpoint: '...' is a folder; expected a file path
    >>> (folder / "notes.txt").write_text("x")
    1
    >>> check_output_path(folder / "notes.txt", "--out", is_dir=True)
    Traceback (most recent call last):
    ...
    ValueError: --out: '...notes.txt' is a file; expected a folder
    """
    if "\0" in os.fspath(path):
        raise ValueError(f"{arg}: {os.fspath(path)!r} holds a NUL character; expected a path")
    if os.fspath(path) == "":  # (pathlib reads "" as ".", the working directory)
        what = "folder" if is_dir else "file"
        raise ValueError(f"{arg}: got an empty path; expected the path of a {what} to write")
    path = Path(path)
    _check_name_lengths(path, arg)  # (first: pathlib's stat fails on a name too long)
    if is_file and path.is_dir():
        raise ValueError(f"{arg}: {str(path)!r} is a folder; expected a file path")
    if is_dir and path.exists() and not path.is_dir():
        raise ValueError(f"{arg}: {str(path)!r} is a file; expected a folder")
    for name in files if is_dir else ():
        if (path / name).is_dir():
            raise ValueError(
                f"{arg}: {str(path / name)!r} is a folder; expected a file there (or none), "
                f"as {', '.join(files)} are written into {arg}"
            )
    if is_dir and path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        # the files go inside it: its own permission decides (only the parent's was read)
        raise ValueError(f"{arg}: folder {str(path)!r} is not writable")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(
                    f"{arg}: {str(parent)!r} is a file, so {str(path)!r} cannot be written"
                )
            if not os.access(parent, os.W_OK):
                raise ValueError(f"{arg}: folder {str(parent)!r} is not writable")
            break
    return path


def _check_name_lengths(path: Path, arg: str) -> None:
    """Refuse a file or folder name longer than the file system takes (the write, or
    pathlib's first look at the path, would fail with "File name too long")."""
    name_max = 255  # the usual limit, where the system does not report its own
    for parent in path.parents:
        try:
            if parent.is_dir():
                name_max = os.pathconf(parent, "PC_NAME_MAX")
                break
        except (OSError, ValueError, AttributeError):
            continue
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > name_max:
            raise ValueError(
                f"{arg}: the name {part[:40]!r}... has {size} bytes; the file system takes "
                f"names of at most {name_max}"
            )
