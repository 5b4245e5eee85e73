"""Reading dataset files line by line, with errors that name the file and the line."""

from __future__ import annotations

import csv
import filecmp
import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

__all__ = [
    "DatasetFormatError",
    "MissingDatasetError",
    "as_root",
    "ascii_float",
    "csv_rows",
    "csv_text",
    "header_columns",
    "listed_key",
    "listed_path",
    "note_first_line",
    "parse_float",
    "parse_int",
    "read_rows",
    "require_dataset_file",
    "require_file",
    "single_copy",
]


class DatasetFormatError(ValueError):
    """A dataset file that does not have the expected format; the message names the file
    and the line."""


class MissingDatasetError(FileNotFoundError):
    """A file or folder of a dataset is not where it should be; the message says which,
    where it was looked for, and how to get it."""


def require_file(path: str | os.PathLike, hint: str = "") -> Path:
    """``path`` as a Path; :class:`MissingDatasetError` naming it when it is not a file."""
    p = Path(path)
    if not p.is_file():
        raise MissingDatasetError(f"{p}: file not found{'; ' + hint if hint else ''}")
    return p


def single_copy(paths: Sequence[Path]) -> Path:
    """The first of ``paths``, the places one dataset file was found in (a release's own
    sub-folder and the flat root, say); :class:`DatasetFormatError` naming two of them
    when their contents differ: which copy is right cannot be told, and picking one
    silently reads the other's labels unnoticed. Copies with the same bytes (the file
    copied, or linked, to a second place) are one file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> top = pathlib.Path(tempfile.mkdtemp())
    >>> (top / "Eval").mkdir()
    >>> for p in (top / "a.txt", top / "Eval" / "a.txt"):
    ...     _ = p.write_text("000001.jpg 0\\n")
    >>> single_copy([top / "a.txt", top / "Eval" / "a.txt"]).name
    'a.txt'
    >>> _ = (top / "Eval" / "a.txt").write_text("000001.jpg 2\\n")
    >>> try:
    ...     single_copy([top / "a.txt", top / "Eval" / "a.txt"])
    ... except DatasetFormatError as e:
    ...     print(str(e).split("; ")[0])  # doctest: +ELLIPSIS
    /...a.txt and /...Eval/a.txt are two different files of the same name
    """
    first = paths[0]
    for other in paths[1:]:
        if not filecmp.cmp(first, other, shallow=False):
            raise DatasetFormatError(
                f"{first} and {other} are two different files of the same name; expected "
                "one (which is right cannot be told: remove or rename the wrong one)"
            )
    return first


def require_dataset_file(
    root: Path, name: str | Sequence[str], hint: str = "", *, subfolders: Sequence[str] = ()
) -> Path:
    """``root / name``, the file that marks a dataset's folder; when it is missing,
    :class:`MissingDatasetError` naming it and, where a sub-folder of ``root`` or its
    parent has the file (a root one level too high or too low, the common mistake), that
    folder to pass instead. ``name`` may be several names, the forms the file comes in,
    preferred first: the first present is returned, the first is named when none is.

    ``subfolders`` are the sub-folders of ``root`` the release keeps the file in
    (CelebA's ``Anno/``, ``Eval/``): the file is looked for in ``root`` and in each of
    them, and the advice takes a folder that holds them for a right root. A file found
    in two of those places with different contents is :class:`DatasetFormatError`
    (:func:`single_copy`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> top = pathlib.Path(tempfile.mkdtemp())
    >>> (top / "CUB_200_2011").mkdir()
    >>> _ = (top / "CUB_200_2011" / "images.txt").write_text("1 a/b.jpg\\n")
    >>> try:
    ...     require_dataset_file(top, "images.txt")
    ... except MissingDatasetError as e:
    ...     print(str(e).split("; ")[1])  # doctest: +ELLIPSIS
    /...CUB_200_2011 has it: pass that folder as root (one level down)
    >>> cub = top / "CUB_200_2011"
    >>> (cub / "lists").mkdir()
    >>> _ = (cub / "images.txt").rename(cub / "lists" / "images.txt")
    >>> require_dataset_file(cub, "images.txt", subfolders=["lists"]).parent.name
    'lists'
    """
    names = (name,) if isinstance(name, str) else tuple(name)
    places = ("", *subfolders)
    for n in names:
        present = [root / s / n for s in places if (root / s / n).is_file()]
        if present:
            return single_copy(present)

    def has(folder: Path) -> bool:
        return any((folder / s / n).is_file() for s in places for n in names)

    found = []
    try:
        found = sorted(
            d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".") and has(d)
        )
    except OSError:  # not a folder, or unreadable: the plain message below
        pass
    path = root / names[0]
    if found:
        where = f"{found[0]} has it: pass that folder as root (one level down)"
    elif has(root.parent) and root.parent != root:
        where = f"{root.parent} has it: pass that folder as root (one level up)"
    else:
        where = ""
    if subfolders:
        others = " or ".join(str(root / s / names[0]) for s in subfolders)
        path_text = f"{path}: file not found (nor {others})"
        raise MissingDatasetError("; ".join(p for p in (path_text, where, hint) if p))
    return require_file(path, "; ".join(p for p in (where, hint) if p))


def as_root(root: Any, name: str = "root") -> Path:
    """``root`` as an expanded Path; ``TypeError`` naming ``name`` unless it is a str or
    an ``os.PathLike`` (``Path(None)`` would fail deep in pathlib without the name), and
    ``ValueError`` for an empty (or blank) string, which would read the working directory."""
    if isinstance(root, bytes) or not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"{name}: expected a path (str or os.PathLike), got {type(root).__name__}")
    if not os.fspath(root).strip():  # Path("") is the working directory, read silently
        raise ValueError(f"{name}: expected a path, got an empty string {os.fspath(root)!r}")
    return Path(root).expanduser()


def _not_utf8(path: Path, line: int, data: bytes, error: UnicodeDecodeError) -> DatasetFormatError:
    """The error for ``data`` (line ``line`` of ``path``, or the file from it on) that
    ``error`` found not to be UTF-8."""
    return DatasetFormatError(
        f"{path}, line {line}: byte {data[error.start : error.start + 1]!r} is not UTF-8 "
        f"text ({error.reason}); expected a UTF-8 text file"
    )


def _line_of(data: bytes, at: int) -> int:
    r"""The line of byte ``at`` of ``data``, lines ending in ``\n``, ``\r\n`` or ``\r``."""
    return data[:at].replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1


def _nul(path: Path, line: int) -> DatasetFormatError:
    """The error for a NUL byte on ``line`` of ``path``: no text file has one (a UTF-16
    file, as some Windows editors save text, has one in every ASCII character)."""
    return DatasetFormatError(
        f"{path}, line {line}: byte b'\\x00' (NUL) is not text; expected a UTF-8 text file "
        "(a UTF-16 one, as some Windows editors save text, is not read: save it as UTF-8)"
    )


def csv_text(path: str | os.PathLike, hint: str = "") -> io.StringIO:
    """A CSV file's text (UTF-8, a leading byte-order mark dropped) for ``csv.reader``;
    :class:`MissingDatasetError` when missing, :class:`DatasetFormatError` naming the file
    and the line when it is not UTF-8."""
    p = require_file(path, hint)
    data = p.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _not_utf8(p, _line_of(data, e.start), data, e) from None
    if "\0" in text:
        raise _nul(p, _line_of(data, data.index(b"\0")))
    return io.StringIO(text, newline="")


def csv_rows(
    path: str | os.PathLike, *, delimiter: str = ",", hint: str = ""
) -> Iterator[tuple[int, list[str]]]:
    r"""Yield ``(line, fields)`` of each record of a CSV file, the header included;
    ``line`` is the *physical* line the record starts on, blank lines are skipped.

    The one reader of the CSV files of every adapter, so that their errors name the
    line an editor shows: a quoted field may hold a line break, and a count of records
    (``enumerate`` over ``csv.reader``) named a line before the real one after each.
    The text is :func:`csv_text`'s (UTF-8, a byte-order mark dropped, any line end);
    malformed CSV (a quote never closed, which would make the rest of the file one
    field, silently, or text after a closing quote) is :class:`DatasetFormatError`
    naming the file and the line.

    Parameters
    ----------
    path : path
    delimiter : str, default ","
    hint : str
        Added to the error when the file is missing.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "metadata.csv"
    >>> _ = p.write_text('img_filename,note\na.jpg,"two\nlines"\n\nb.jpg,x\n')
    >>> list(csv_rows(p))
    [(1, ['img_filename', 'note']), (2, ['a.jpg', 'two\nlines']), (5, ['b.jpg', 'x'])]
    """
    p = Path(path)
    with csv_text(p, hint) as fh:
        reader = csv.reader(fh, delimiter=delimiter, strict=True)
        start = 1  # the line the next record starts on
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raise DatasetFormatError(
                    f"{p}, line {start}: malformed CSV ({e}); expected fields separated by "
                    f"{delimiter!r}, a quoted field closed by a quote followed by "
                    f"{delimiter!r} or the line's end"
                ) from None
            if row:
                yield start, row
            start = reader.line_num + 1


def header_columns(
    path: Path, header: Sequence[str], wanted: Sequence[str], line: int = 1
) -> dict[str, int]:
    """The position of each of the ``wanted`` columns in a CSV file's ``header`` (on
    ``line``); :class:`DatasetFormatError` when one is missing, or named twice (which of
    the two holds the values cannot be told)."""
    names = [h.strip() for h in header]
    missing = [c for c in wanted if c not in names]
    if missing:
        raise DatasetFormatError(
            f"{path}, line {line}: the header lacks columns {missing}; expected {list(wanted)}"
        )
    for c in wanted:
        at = [j + 1 for j, h in enumerate(names) if h == c]
        if len(at) > 1:
            raise DatasetFormatError(
                f"{path}, line {line}: the header has column {c!r} twice (columns {at[0]} and "
                f"{at[1]}); expected each of {list(wanted)} once"
            )
    return {c: names.index(c) for c in wanted}


def listed_path(
    base: Path, name: str, listed_in: Path, line: int | None, what: str = "image"
) -> Path:
    """``base / name`` for a file name read from ``listed_in``; :class:`DatasetFormatError`
    when the name is empty, absolute or has a ``..`` part (it would point outside
    ``base``: a file from others does not choose which files are read)."""
    where = f"{listed_in}, line {line}" if line is not None else f"{listed_in}"
    posix = PurePosixPath(name.replace("\\", "/"))  # a Windows separator counts too
    if (
        not name.strip()
        or posix.is_absolute()
        or PureWindowsPath(name).drive
        or ".." in posix.parts
    ):
        raise DatasetFormatError(
            f"{where}: {what} {name!r} is not a relative path inside {base}; expected a "
            "path without '..' that does not start with '/'"
        )
    return base / name


def listed_key(name: str) -> str:
    r"""The file a name listed in a dataset file points to, as a key for finding names
    listed twice: ``a/./b.jpg``, ``./a//b.jpg`` and ``a\b.jpg`` all name ``a/b.jpg`` (as
    names they differed, and the one image was read twice, under two labels maybe).

    Examples
    --------
    >>> [listed_key(n) for n in ("a/b.jpg", "./a//b.jpg", "a/./b.jpg", "a\\b.jpg ")]
    ['a/b.jpg', 'a/b.jpg', 'a/b.jpg', 'a/b.jpg']
    """
    return PurePosixPath(name.strip().replace("\\", "/")).as_posix()


def note_first_line(
    first_line: dict[Any, int], key: Any, path: Path, line: int, what: str, expected: str
) -> None:
    """Record that ``key`` is on ``line`` of ``path``; :class:`DatasetFormatError` naming
    both lines when it was listed before (a row given twice would be counted twice, or
    the last one would win unnoticed)."""
    if key in first_line:
        raise DatasetFormatError(
            f"{path}, line {line}: {what} {key!r} is listed twice (first on line "
            f"{first_line[key]}); expected {expected}"
        )
    first_line[key] = line


def _lines(fh: io.BufferedReader) -> Iterator[bytes]:
    r"""The lines of a binary file without their ends: ``\n``, ``\r\n`` or a lone
    ``\r`` (classic Mac OS), as Python's universal newlines read them (no UTF-8
    character holds the byte ``\r``)."""
    for raw in fh:
        body = raw.rstrip(b"\r\n")
        if b"\r" in body:
            yield from body.split(b"\r")
        else:
            yield body


def read_rows(
    path: str | os.PathLike,
    n_columns: int | Sequence[int] | None = None,
    *,
    sep: str | None = None,
    max_split: int = -1,
    skip: int = 0,
    hint: str = "",
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, fields)`` of each non-empty line of a text file.

    Parameters
    ----------
    path : path
    n_columns : int or sequence of int, optional
        Allowed numbers of fields; another count raises :class:`DatasetFormatError`
        naming the file and the line.
    sep : str, optional
        Field separator (default: runs of whitespace).
    max_split : int, default -1
        At most this many splits (-1: no limit); the rest stays in the last field.
    skip : int, default 0
        Header lines to skip.
    hint : str
        Added to the error when the file is missing.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "classes.txt"
    >>> _ = p.write_text("1 001.Black_footed_Albatross\\n2 002.Laysan Albatross\\n")
    >>> list(read_rows(p, 2, max_split=1))
    [(1, ['1', '001.Black_footed_Albatross']), (2, ['2', '002.Laysan Albatross'])]
    """
    p = require_file(path, hint)
    allowed = (
        None
        if n_columns is None
        else ({n_columns} if isinstance(n_columns, int) else set(n_columns))
    )
    with open(p, "rb") as fh:
        for number, raw in enumerate(_lines(fh), start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a byte-order mark
                raw = raw[3:]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise _not_utf8(p, number, raw, e) from None
            if "\0" in line:
                raise _nul(p, number)
            if number <= skip:
                continue
            if not line.strip():
                continue
            fields = line.split(sep, max_split) if sep else line.split(None, max_split)
            if sep:
                fields = [f.strip() for f in fields]
            if allowed is not None and len(fields) not in allowed:
                want = " or ".join(str(c) for c in sorted(allowed))
                raise DatasetFormatError(
                    f"{p}, line {number}: expected {want} columns, got {len(fields)}: "
                    f"{line[:80]!r}"
                )
            yield number, fields


def _ascii_number(text: str) -> bool:
    """Whether ``text`` can be a number as the dataset files write them: ASCII, without
    ``_`` (``int()`` and ``float()`` also read "1_0" as 10 and other scripts' digits,
    which no release writes)."""
    return text.isascii() and "_" not in text


def ascii_float(text: str) -> float:
    r"""``float(text)`` for a number as the dataset files write it (ASCII, no ``_``), else
    NaN; "inf" and "nan" are floats too, for the caller to refuse.

    Examples
    --------
    >>> ascii_float(" 44.0377"), ascii_float("1_2.5"), ascii_float("\uff13"), ascii_float("x")
    (44.0377, nan, nan, nan)
    """
    try:
        return float(text) if _ascii_number(text) else float("nan")
    except ValueError:
        return float("nan")


def _range(low: float | None, high: float | None) -> str:
    """``low..high``, ``>= low`` or ``<= high``: the bounds an error says were expected."""
    if low is not None and high is not None:
        return f"in {low:g}..{high:g}"
    return f">= {low:g}" if low is not None else f"<= {high:g}"


def parse_int(
    value: str, path: Path, line: int, column: str, low: int | None = None, high: int | None = None
) -> int:
    """``value`` as an int in ``[low, high]``, else :class:`DatasetFormatError` naming where."""
    try:
        v = int(value) if _ascii_number(value) else None
    except ValueError:
        v = None
    if v is None:
        raise DatasetFormatError(
            f"{path}, line {line}: {column} is {value!r}; expected an integer"
        )
    if (low is not None and v < low) or (high is not None and v > high):
        both = low is not None and high is not None  # "0..2", as the messages have it
        expected = f"{low}..{high}" if both else f"an integer {_range(low, high)}"
        raise DatasetFormatError(
            f"{path}, line {line}: {column} {v} is out of range; expected {expected}"
        )
    return v


def parse_float(
    value: str,
    path: Path,
    line: int,
    column: str,
    low: float | None = None,
    high: float | None = None,
) -> float:
    """``value`` as a finite float in ``[low, high]``, else :class:`DatasetFormatError`
    naming where."""
    v = ascii_float(value)
    if v != v or v in (float("inf"), float("-inf")):
        raise DatasetFormatError(f"{path}, line {line}: {column} is {value!r}; expected a number")
    if (low is not None and v < low) or (high is not None and v > high):
        raise DatasetFormatError(
            f"{path}, line {line}: {column} is {value}; expected a number {_range(low, high)}"
        )
    return v


def missing_images(paths: Sequence[Path], listed_in: Path) -> None:
    """Raise :class:`MissingDatasetError` if any of ``paths`` (listed in ``listed_in``) is
    not a file, naming the first and the count."""
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise MissingDatasetError(
            f"{listed_in}: {len(missing)} listed image(s) not found, first: {missing[0]}"
        )
