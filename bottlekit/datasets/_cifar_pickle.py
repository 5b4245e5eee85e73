"""CIFAR's python-release batches read without unpickling them.

The files of ``cifar-10-batches-py`` and ``cifar-100-python`` are pickles (Python 2
``cPickle``, protocol 2) of one dict each. Unpickling runs code named in the file, so
they are never unpickled: :func:`pickletools.genops` parses the opcodes (it neither
executes nor imports anything) and a small stack machine interprets a data-only subset
of them: dicts, lists, tuples, strings, ints, ``None``, booleans, the memo; and the one
pattern numpy writes for an array, ``numpy.core.multiarray._reconstruct`` (numpy >= 2:
``numpy._core.multiarray``), ``numpy.ndarray`` and ``numpy.dtype`` named by ``GLOBAL``,
called by ``REDUCE`` and filled by ``BUILD``, kept as symbols (their names are compared
as strings, never imported). Any other opcode or global is refused with a
:class:`DatasetFormatError` naming the file.

The array's bytes are one string in the pickle: its position in the file is known from
the opcode's, so the pixels are read from there through a memory map (only the images
indexed); a string that large is skipped over while parsing, not read.

The same machine, with no global accepted, reads the plain data of a ``torch.save``
archive (:func:`read_torch_save`): torchvision's ImageNet ``meta.bin``, the class names.

>>> import pickletools
>>> stream = b"\\x80\\x02}q\\x01U\\x06labelsq\\x02]q\\x03(K\\x01K\\x00es."
>>> _interpret(iter(pickletools.genops(stream)), "demo", len(stream))
{'labels': [1, 0]}
"""

from __future__ import annotations

import io
import os
import pickletools
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bottlekit.datasets._parsing import DatasetFormatError

__all__ = ["PythonBatch", "read_batch", "read_names", "read_torch_save"]

PIXELS = 3 * 32 * 32
#: Strings longer than this are skipped over while parsing (their bytes are not read);
#: only an array's bytes are that long in a CIFAR file.
SKIP_BYTES = 1 << 16
#: More opcodes than this is no CIFAR file (CIFAR-100's train has about 200,000); the
#: bound keeps a hostile file from building millions of objects.
MAX_OPCODES = 1_000_000
_MAX_LINE = 256  # a GLOBAL's module and name
_GLOBALS = {
    "numpy.core.multiarray _reconstruct": "reconstruct",
    "numpy._core.multiarray _reconstruct": "reconstruct",
    "numpy ndarray": "ndarray",
    "numpy dtype": "dtype",
}
_WHAT = "bottlekit reads CIFAR batches without unpickling, and this file is not one"


class _Bytes(bytes):
    """A byte string of the pickle (Python 2 ``str`` or ``bytes``) and where its bytes
    start in the file."""

    offset: int


class _Skipped:
    """A string too long to read while parsing: where its bytes start, and how many the
    file holds (fewer than declared in a truncated file, which the parser then refuses)."""

    def __init__(self, offset: int, length: int) -> None:
        self.offset, self.length = offset, length

    def __len__(self) -> int:
        return self.length

    def decode(self, *_: Any) -> _Skipped:  # what pickletools does to a string4's bytes
        return self


class _Reader:
    """The file as :func:`pickletools.genops` reads it, with long strings skipped over
    and lines bounded (a ``GLOBAL`` reads up to a newline)."""

    def __init__(self, f: Any, size: int) -> None:
        self._f, self._size = f, size

    def tell(self) -> int:
        return self._f.tell()

    def read(self, n: int = -1) -> Any:
        if n is None or n < 0:
            raise ValueError("unbounded read")  # genops never asks for one
        if n <= SKIP_BYTES:
            return self._f.read(n)
        start = self._f.tell()
        got = max(0, min(n, self._size - start))
        self._f.seek(start + got)
        return _Skipped(start, got)

    def readline(self, size: int | None = -1) -> bytes:
        return self._f.readline(_MAX_LINE)


@dataclass
class _Global:
    kind: str  # "reconstruct", "ndarray" or "dtype"


@dataclass
class _DType:
    descr: str
    byteorder: str | None = None  # set by BUILD


@dataclass
class _Array:
    shape: tuple | None = None  # set by BUILD, with the rest
    dtype: _DType | None = None
    fortran: Any = None
    data: _Bytes | _Skipped | None = None


def _text(value: Any) -> str | None:
    """A pickle's string (bytes or str) as str; None for anything else."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value if isinstance(value, str) else None


#: Containers nested deeper than this are shown as ``...`` by :func:`_shown`.
_SHOWN_DEPTH = 20


def _shown(value: Any, width: int) -> str:
    """``repr(value)`` cut to ``width`` characters, built only as far as it is shown.

    ``repr`` itself would build the whole text first: a list of a million references to
    one memoised 64 KiB string (a few MB of pickle) is 65 GB of text, and a list nested
    thousands deep (a few bytes of pickle per level) raises ``RecursionError``. Here
    lists, tuples and dicts are walked item by item until ``width`` characters are
    written, strings and bytes are cut before their ``repr``, and containers nested
    deeper than :data:`_SHOWN_DEPTH` are described (``a list nested too deeply to
    show``); small values read as ``repr``.

    >>> _shown([1, ("a", 2.5), {"k": None}], 80)
    "[1, ('a', 2.5), {'k': None}]"
    >>> _shown(["x" * 65536] * 10**6, 12)  # 12 characters built, not 65 GB
    "['xxxxxxxxxx"
    """
    parts: list[str] = []
    left = [width]
    too_deep = [False]

    def emit(text: str) -> None:
        parts.append(text[: left[0]])
        left[0] -= len(text)

    def walk(v: Any, depth: int) -> None:
        if left[0] <= 0:
            return
        if isinstance(v, (list, tuple, dict)):
            if depth >= _SHOWN_DEPTH:
                too_deep[0] = True
                return
            brackets = "[]" if isinstance(v, list) else "()" if isinstance(v, tuple) else "{}"
            emit(brackets[0])
            for i, item in enumerate(v.items() if isinstance(v, dict) else v):
                if left[0] <= 0:
                    return
                if i:
                    emit(", ")
                if isinstance(v, dict):
                    walk(item[0], depth + 1)
                    emit(": ")
                    walk(item[1], depth + 1)
                else:
                    walk(item, depth + 1)
            emit("," + brackets[1] if isinstance(v, tuple) and len(v) == 1 else brackets[1])
            return
        if isinstance(v, (str, bytes, bytearray)):
            v = v[: left[0] + 2]
        try:
            emit(repr(v))
        except ValueError:  # an int beyond the digits Python converts to text
            emit(f"<{type(v).__name__}>")

    walk(value, 0)
    if too_deep[0]:
        return f"a {type(value).__name__} nested too deeply to show"
    return "".join(parts)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_empty_shape(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 1 and _int(value[0]) and value[0] == 0


def _reduce(path: Any, fn: Any, args: Any, pos: int, what: str = _WHAT) -> Any:
    """The symbol for numpy's ``_reconstruct(ndarray, (0,), b"b")`` or
    ``dtype(descr, 0, 1)``; anything else is refused."""
    if isinstance(fn, _Global) and isinstance(args, tuple) and len(args) == 3:
        a, b, c = args
        if (
            fn.kind == "reconstruct"
            and isinstance(a, _Global)
            and a.kind == "ndarray"
            and _is_empty_shape(b)
            and _text(c) == "b"
        ):
            return _Array()
        if fn.kind == "dtype" and _text(a) is not None and b in (0, False) and c in (1, True):
            return _DType(_text(a))
    raise DatasetFormatError(
        f"{path}: {what}: REDUCE at byte {pos} calls {_shown(fn, 100)} with "
        f"{_shown(args, 200)}; only numpy's array reconstruction is read"
    )


def _build(path: Any, obj: Any, state: Any, pos: int, what: str = _WHAT) -> None:
    """BUILD: a dtype's state ``(3, byteorder, None, None, None, -1, -1, 0)`` or an
    array's ``(1, shape, dtype, fortran, bytes)``; anything else is refused."""
    if isinstance(obj, _DType) and obj.byteorder is None and isinstance(state, tuple):
        if (
            len(state) == 8
            and _int(state[0])
            and state[0] == 3
            and _text(state[1]) in ("|", "<", ">", "=")
            and state[2:5] == (None, None, None)
            and all(_int(v) for v in state[5:])
            and state[5:] == (-1, -1, 0)
        ):
            obj.byteorder = _text(state[1])
            return
    if isinstance(obj, _Array) and obj.shape is None and isinstance(state, tuple):
        if (
            len(state) == 5
            and _int(state[0])
            and state[0] == 1
            and isinstance(state[1], tuple)
            and isinstance(state[2], _DType)
            and state[2].byteorder is not None
            and isinstance(state[4], (_Bytes, _Skipped))
        ):
            obj.shape, obj.dtype, obj.fortran, obj.data = state[1:]
            return
    raise DatasetFormatError(
        f"{path}: {what}: BUILD at byte {pos} sets {type(obj).__name__} from "
        f"{_shown(state, 200)}; only numpy arrays and dtypes are built"
    )


def _interpret(
    ops: Iterator[tuple[Any, Any, Any]],
    path: Any,
    size: int,
    *,
    what: str = _WHAT,
    allowed_globals: dict[str, str] = _GLOBALS,
) -> Any:
    """The value of the pickle whose opcodes ``ops`` yields (``size`` bytes long);
    ``what`` says in each error what the file should have been, ``allowed_globals`` are
    the globals accepted (numpy's array reconstruction for CIFAR; none for plain data)."""
    stack: list[Any] = []
    marks: list[int] = []
    memo: dict[int, Any] = {}

    def refuse(detail: str, pos: int) -> DatasetFormatError:
        return DatasetFormatError(f"{path}: {what}: {detail} at byte {pos}")

    def take(k: int, name: str, pos: int) -> list[Any]:
        base = marks[-1] if marks else 0
        if len(stack) - base < k:
            raise refuse(f"{name} with too few items on the stack", pos)
        items = stack[len(stack) - k :]
        del stack[len(stack) - k :]
        return items

    def to_mark(name: str, pos: int) -> list[Any]:
        if not marks:
            raise refuse(f"{name} without a MARK", pos)
        k = marks.pop()
        items = stack[k:]
        del stack[k:]
        return items

    def top(kind: type, name: str, pos: int) -> Any:
        if len(stack) <= (marks[-1] if marks else 0) or not isinstance(stack[-1], kind):
            raise refuse(f"{name} without a {kind.__name__} to add to", pos)
        return stack[-1]

    def key(k: Any, pos: int) -> Any:
        if _text(k) is None and not _int(k):
            raise refuse(f"a dict key of type {type(k).__name__}", pos)
        return _text(k) if _text(k) is not None else k

    count = 0
    while True:
        try:
            op, arg, pos = next(ops)
        except StopIteration:  # genops stops after STOP, which returns below
            raise refuse("no STOP", size) from None
        except (ValueError, OverflowError) as e:
            raise DatasetFormatError(
                f"{path}: not a valid pickle ({e}; a truncated file?); {what}"
            ) from None
        except TypeError:  # a long value that is not a byte string (only those are skipped)
            raise DatasetFormatError(
                f"{path}: {what}: a text or number longer than {SKIP_BYTES} bytes after byte "
                f"{pos if count else 0}"
            ) from None
        count += 1
        if count > MAX_OPCODES:
            raise refuse(f"more than {MAX_OPCODES} opcodes", pos)
        name = op.name
        if name == "PROTO":
            if pos != 0:
                raise refuse("PROTO after the start", pos)
        elif name in ("EMPTY_DICT", "EMPTY_LIST", "EMPTY_TUPLE"):
            stack.append({"EMPTY_DICT": {}, "EMPTY_LIST": [], "EMPTY_TUPLE": ()}[name])
        elif name == "MARK":
            marks.append(len(stack))
        elif name == "TUPLE":
            stack.append(tuple(to_mark(name, pos)))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            stack.append(tuple(take(int(name[-1]), name, pos)))
        elif name == "APPEND":
            (value,) = take(1, name, pos)
            top(list, name, pos).append(value)
        elif name == "APPENDS":
            items = to_mark(name, pos)
            top(list, name, pos).extend(items)
        elif name in ("SETITEM", "SETITEMS"):
            items = take(2, name, pos) if name == "SETITEM" else to_mark(name, pos)
            if len(items) % 2:
                raise refuse(f"{name} with an odd number of items", pos)
            d = top(dict, name, pos)
            for k, v in zip(items[::2], items[1::2], strict=True):
                d[key(k, pos)] = v
        elif name in ("BINPUT", "LONG_BINPUT", "MEMOIZE"):
            if len(stack) <= (marks[-1] if marks else 0):
                raise refuse(f"{name} with nothing to store", pos)
            memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
        elif name in ("BINGET", "LONG_BINGET"):
            if arg not in memo:
                raise refuse(f"{name} {arg} of nothing stored", pos)
            stack.append(memo[arg])
        elif name in ("BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES"):
            if isinstance(arg, _Skipped):
                stack.append(arg)
            else:
                value = _Bytes(arg.encode("latin-1") if isinstance(arg, str) else arg)
                value.offset = pos + (2 if name.startswith("SHORT") else 5)
                stack.append(value)
        elif name in ("BINUNICODE", "SHORT_BINUNICODE"):
            stack.append(arg)
        elif name in ("BININT", "BININT1", "BININT2", "LONG1"):
            stack.append(arg)
        elif name in ("NONE", "NEWTRUE", "NEWFALSE"):
            stack.append({"NONE": None, "NEWTRUE": True, "NEWFALSE": False}[name])
        elif name == "GLOBAL":
            if arg not in allowed_globals:
                read = "numpy's array reconstruction" if allowed_globals else "plain data"
                raise refuse(f"GLOBAL {arg!r} (only {read} is read)", pos)
            stack.append(_Global(allowed_globals[arg]))
        elif name == "REDUCE":
            fn, args = take(2, name, pos)
            stack.append(_reduce(path, fn, args, pos, what))
        elif name == "BUILD":
            (state,) = take(1, name, pos)
            if len(stack) <= (marks[-1] if marks else 0):
                raise refuse("BUILD with nothing to build", pos)
            _build(path, stack[-1], state, pos, what)
        elif name == "STOP":
            if marks or len(stack) != 1:
                raise refuse(f"STOP with {len(stack)} values and {len(marks)} MARKs open", pos)
            if pos + 1 != size:
                raise refuse(f"{size - pos - 1} bytes after STOP", pos + 1)
            return stack[0]
        else:
            raise refuse(f"opcode {name}", pos)


def _load(path: Path) -> Any:
    size = path.stat().st_size
    with open(path, "rb") as f:
        return _interpret(pickletools.genops(_Reader(f, size)), path, size)


#: A ``torch.save`` archive's ``data.pkl`` larger than this is not read (torchvision's
#: ImageNet ``meta.bin``: about 0.3 MB, 1000 name tuples and 50,000 validation wnids).
MAX_TORCH_PICKLE = 16 << 20


def read_torch_save(path: str | os.PathLike, what: str) -> Any:
    """The plain data that ``torch.save`` wrote to ``path``, read without unpickling.

    ``torch.save``'s format (torch >= 1.6) is a zip archive whose ``<name>/data.pkl`` is a
    pickle stream (tensors are persistent ids into ``<name>/data/``). That stream is
    interpreted by the same data-only machine as CIFAR's batches, with no global
    accepted: dicts, lists, tuples, strings, ints, ``None``, booleans. A ``GLOBAL``,
    ``REDUCE``, persistent id (a tensor) or any other opcode, an archive without one
    ``data.pkl`` or with one over :data:`MAX_TORCH_PICKLE` bytes, and torch's legacy
    (non-zip) format are refused with :class:`DatasetFormatError`, ``what`` saying what
    the file should have been.

    Examples
    --------
    >>> import tempfile, pathlib, zipfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "meta.bin"
    >>> stream = b"\\x80\\x02}q\\x00X\\x01\\x00\\x00\\x00aX\\x01\\x00\\x00\\x00b\\x85s."
    >>> with zipfile.ZipFile(p, "w") as z:  # as torch.save({"a": ("b",)}, p) lays it out
    ...     z.writestr("meta/data.pkl", stream)
    >>> read_torch_save(p, "a demo")
    {'a': ('b',)}
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise DatasetFormatError(
            f"{path}: not a zip archive, the format of torch.save since torch 1.6 (an older "
            f"torch's legacy format is not read); {what}"
        )
    try:
        with zipfile.ZipFile(path) as z:
            found = [
                i
                for i in z.infolist()
                if i.filename.count("/") == 1 and i.filename.endswith("/data.pkl")
            ]
            if len(found) != 1:
                raise DatasetFormatError(
                    f"{path}: {len(found)} '<name>/data.pkl' records in the archive; expected "
                    f"one, as torch.save writes; {what}"
                )
            info = found[0]
            if info.file_size > MAX_TORCH_PICKLE:
                raise DatasetFormatError(
                    f"{path}: {info.filename} is {info.file_size} bytes; expected at most "
                    f"{MAX_TORCH_PICKLE}; {what}"
                )
            with z.open(info) as fh:
                data = fh.read(MAX_TORCH_PICKLE + 1)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        EOFError,
        zlib.error,
    ) as e:
        raise DatasetFormatError(f"{path}: unreadable zip archive ({e}); {what}") from None
    if len(data) > MAX_TORCH_PICKLE:  # a record larger than its header said
        raise DatasetFormatError(
            f"{path}: {info.filename} holds more than {MAX_TORCH_PICKLE} bytes; {what}"
        )
    where = f"{path} ({info.filename})"
    stream = _Reader(io.BytesIO(data), len(data))
    return _interpret(pickletools.genops(stream), where, len(data), what=what, allowed_globals={})


def _dict(path: Path, value: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DatasetFormatError(f"{path}: {_WHAT}: it holds a {type(value).__name__}, not a dict")
    missing = [k for k in keys if k not in value]
    if missing:
        raise DatasetFormatError(
            f"{path}: {_WHAT}: no {missing[0]!r} key (it has {sorted(map(str, value))})"
        )
    return value


@dataclass
class PythonBatch:
    """A batch file of the python release: its pixels' place in the file and its labels.

    Attributes
    ----------
    path : Path
    offset : int
        Where the first image's 3072 bytes start in the file.
    n : int
        Images (rows of 3072 bytes, channel-major like the binary release).
    labels : dict of str to array (n,) int64
    """

    path: Path
    offset: int
    n: int
    labels: dict[str, np.ndarray]


def read_batch(path: str | os.PathLike, labels: dict[str, int]) -> PythonBatch:
    """The batch in ``path`` with its label lists ``labels`` (key -> number of classes).

    Checked: ``data`` is a uint8 array of shape (n, 3072) in C order whose bytes are all
    in the file, and each label list has n ints in 0..classes - 1.
    """
    path = Path(path)
    batch = _dict(path, _load(path), ("data", *labels))
    data = batch["data"]
    if not isinstance(data, _Array) or data.shape is None:
        what = "an array never built" if isinstance(data, _Array) else type(data).__name__
        raise DatasetFormatError(f"{path}: 'data' is {what}; expected a numpy array")
    assert data.dtype is not None and data.data is not None  # set together by BUILD
    if data.dtype.descr not in ("u1", "uint8"):
        raise DatasetFormatError(
            f"{path}: 'data' has dtype {data.dtype.descr!r}; expected uint8 ('u1'), one byte "
            "per pixel"
        )
    shape = data.shape
    if len(shape) != 2 or not all(_int(v) for v in shape) or shape[1] != PIXELS or shape[0] < 1:
        raise DatasetFormatError(
            f"{path}: 'data' has shape {shape!r}; expected (n, {PIXELS}) with n >= 1, one row "
            "of 1024 red, 1024 green and 1024 blue bytes per image"
        )
    if data.fortran is not False and not (_int(data.fortran) and data.fortran == 0):
        raise DatasetFormatError(
            f"{path}: 'data' is in Fortran order; expected C order (one image per row)"
        )
    n = shape[0]
    if len(data.data) != n * PIXELS:
        raise DatasetFormatError(
            f"{path}: 'data' has shape {shape!r}, which needs {n * PIXELS} bytes, but holds "
            f"{len(data.data)}"
        )
    out = {}
    for k, classes in labels.items():
        values = batch[k]
        if not isinstance(values, list):
            raise DatasetFormatError(
                f"{path}: {k!r} is a {type(values).__name__}; expected a list of ints"
            )
        if len(values) != n:
            raise DatasetFormatError(
                f"{path}: {k!r} has {len(values)} labels for the {n} images of 'data'; "
                "expected one per image"
            )
        for i, v in enumerate(values):
            if not _int(v) or not 0 <= v < classes:
                raise DatasetFormatError(
                    f"{path}: {k}[{i}] is {_shown(v, 80)}; expected an int in 0..{classes - 1}"
                )
        out[k] = np.array(values, np.int64)
    return PythonBatch(path, data.data.offset, n, out)


def read_names(path: str | os.PathLike, names: dict[str, int]) -> dict[str, list[str]]:
    """The lists of class names ``names`` (key -> number of names) of a meta file."""
    path = Path(path)
    meta = _dict(path, _load(path), tuple(names))
    out = {}
    for k, expected in names.items():
        values = meta[k]
        if not isinstance(values, list) or len(values) != expected:
            got = f"{len(values)} items" if isinstance(values, list) else type(values).__name__
            raise DatasetFormatError(f"{path}: {k!r}: expected {expected} names, got {got}")
        out[k] = []
        for i, v in enumerate(values):
            if isinstance(v, _Bytes):
                try:
                    v = v.decode("utf-8")
                except UnicodeDecodeError:
                    raise DatasetFormatError(
                        f"{path}: {k}[{i}] = {_shown(bytes(v), 80)} is not UTF-8 text"
                    ) from None
            if not isinstance(v, str) or not v.strip():
                raise DatasetFormatError(
                    f"{path}: {k}[{i}] is {_shown(v, 80)}; expected a class name (a string)"
                )
            if v in out[k]:
                raise DatasetFormatError(
                    f"{path}: {k}[{i}] is {_shown(v, 80)} as {k}[{out[k].index(v)}]; expected "
                    f"{expected} different names"
                )
            out[k].append(v)
    return out
