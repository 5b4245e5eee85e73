"""Reading bottlekit's safetensors files (models, concept banks) as untrusted input.

A model or bank file may come from someone else. Before any array is allocated, the
header is read and bounded: its length, every tensor's dtype (from a short allow-list),
shape and byte range (which must lie inside the file and match dtype x shape), and the
JSON metadata that bottlekit stores under the key ``"bottlekit"`` (neither may list a
key twice: ``json.loads`` would keep the last value and drop the first unchecked). Every
problem is a ``ValueError`` that names the file; nothing in the file is executed (no
pickle) and nothing it asks for can be larger than the file itself. What the arrays and the JSON
*mean* is checked by the loader of each file kind (``BaseConceptBottleneck.load``,
``ConceptBank.load``) against its own schema.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import reprlib
import stat
import struct
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_HEADER_VALUES",
    "SAFETENSORS_MAX_HEADER_BYTES",
    "FileTooLarge",
    "SafetensorsContents",
    "dump_json",
    "encode_safetensors",
    "parse_json",
    "read_safetensors",
]

#: Largest header (tensor table + metadata) accepted, in bytes.
MAX_HEADER_BYTES = 64 * 2**20

#: Most JSON values accepted in the header, and again in its bottlekit metadata, counted
#: before parsing (see :func:`parse_json`). A parsed value costs Python up to ~70 bytes
#: (an empty list or dict and its slot) for 2 or 3 bytes of text, so 64 MiB of ``[],``
#: used to take 1.7 GB; the count bounds that to about 70 MiB. bottlekit's largest
#: headers hold about four counted values per concept (its name, and its provenance dict
#: ``{"kind": "text"}``; more for richer provenance, and every ``[ { , :`` inside the
#: strings counts), so a bank of default provenance fits up to about 260,000 concepts.
#: ``save`` refuses a file beyond (see :func:`encode_safetensors`).
MAX_HEADER_VALUES = 2**20

#: Largest header the safetensors library reads (``safe_open``, ``load``), in bytes: the
#: limit of the files bottlekit reads with the library itself (the embedding cache's
#: shards, the world's weights and checkpoints). safetensors >= 0.6 also refuses to
#: write a larger one.
SAFETENSORS_MAX_HEADER_BYTES = 100_000_000


class FileTooLarge(ValueError):
    """A file :func:`encode_safetensors` refuses to make because its header would be
    larger, or hold more JSON values, than its reader accepts."""


_SHORT = reprlib.Repr()  # reprs in messages, cut short without building the whole text
_SHORT.maxstring, _SHORT.maxother = 80, 80

_DTYPES = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype(np.uint8),
    "I8": np.dtype(np.int8),
    "I16": np.dtype("<i2"),
    "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"),
    "F16": np.dtype("<f2"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
}


class SafetensorsContents(dict):
    """The arrays of a file (name -> ndarray) with its bottlekit JSON in ``.meta``.

    What :func:`read_safetensors` returns: a dict of the arrays, with two attributes,
    ``meta`` (the file's bottlekit JSON metadata, a dict) and ``path`` (the file, as
    shown in messages).

    Examples
    --------
    >>> contents = SafetensorsContents({"w": np.ones(2)})
    >>> contents.meta, contents.path = {"format": 1}, "m.safetensors"
    >>> sorted(contents), contents.meta
    (['w'], {'format': 1})
    """

    meta: dict[str, Any]
    path: str


class _Unreadable(ValueError):
    """A file :func:`read_safetensors` refuses; ``problem`` says why (without the path);
    ``too_many`` is the count's message (:func:`_check_values`) when the refusal is the
    header's count of JSON values, else None."""

    def __init__(self, message: str, problem: str, too_many: str | None = None) -> None:
        super().__init__(message)
        self.problem = problem
        self.too_many = too_many


def _fail(path: str, kind: str, problem: str, too_many: str | None = None) -> ValueError:
    return _Unreadable(
        f"{path!r} is not a readable safetensors file of a bottlekit {kind}: {problem}",
        problem,
        too_many,
    )


def _check_entry(path: str, kind: str, name: str, entry: Any, data_bytes: int) -> tuple:
    name = _SHORT.repr(name)
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise _fail(path, kind, f"tensor {name} has a malformed header entry")
    dtype = _DTYPES.get(entry["dtype"]) if isinstance(entry["dtype"], str) else None
    if dtype is None:
        raise _fail(
            path,
            kind,
            f"tensor {name} has dtype {_SHORT.repr(entry['dtype'])}; expected one of "
            f"{sorted(_DTYPES)}",
        )
    shape, offsets = entry["shape"], entry["data_offsets"]
    if not (
        isinstance(shape, list)
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)
        and len(shape) <= 8
    ):
        raise _fail(path, kind, f"tensor {name} has an invalid shape {_SHORT.repr(shape)}")
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        and 0 <= offsets[0] <= offsets[1] <= data_bytes
    ):
        raise _fail(
            path,
            kind,
            f"tensor {name} has byte range {_SHORT.repr(offsets)} outside the file's "
            f"{data_bytes} data bytes",
        )
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes != offsets[1] - offsets[0]:
        raise _fail(
            path,
            kind,
            f"tensor {name} of shape {shape} and dtype {entry['dtype']} needs "
            f"{nbytes} bytes but the header gives it {offsets[1] - offsets[0]}",
        )
    return dtype, tuple(shape), offsets


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """The dict of an object's ``pairs``; a key listed twice is a ``ValueError`` whose
    ``duplicate_key`` attribute is that key (see :func:`_duplicate_key`)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            exc = ValueError(f"key {key!r} is listed twice (the first value would be lost)")
            exc.duplicate_key = key  # type: ignore[attr-defined]
            raise exc
        out[key] = value
    return out


def _duplicate_key(exc: ValueError) -> str | None:
    """The key a :func:`parse_json` ``ValueError`` found listed twice, else None."""
    return getattr(exc, "duplicate_key", None)


def _check_values(text: bytes | str, max_values: int) -> None:
    """``ValueError`` if ``text`` may hold more than ``max_values`` JSON values."""
    marks = (b"[", b"{", b",", b":") if isinstance(text, bytes) else ("[", "{", ",", ":")
    values = 1 + sum(text.count(m) for m in marks)
    if values > max_values:
        raise ValueError(
            f"it may hold {values} JSON values (counted by its '[', '{{', ',' and ':'); "
            f"at most {max_values} are accepted"
        )


def parse_json(
    text: bytes | str, *, unique_keys: bool = False, max_values: int | None = None
) -> Any:
    """``json.loads`` of a file from others, whose failures (bad UTF-8, bad syntax,
    integers of more digits than Python converts, nesting deeper than the parser's
    recursion) are all ``ValueError``.

    With ``unique_keys``, an object that lists a key twice is a ``ValueError`` too
    (``json.loads`` keeps the last value and drops the first without a word).

    With ``max_values``, text that may hold more JSON values is a ``ValueError`` before
    anything is parsed. Every value but the first follows a ``[``, ``,`` or ``:`` and
    every object opens with ``{``, so these characters, counted in C without allocating,
    bound the values from above (those inside strings are counted too). This bounds the
    memory of parsing, which is dominated by the Python objects: ~70 bytes for an empty
    list from 3 bytes of text.

    Parameters
    ----------
    text : bytes or str
        The JSON text (bytes must be UTF-8).
    unique_keys : bool, default False
        Refuse an object that lists a key twice.
    max_values : int, optional
        Refuse, before parsing, text that may hold more JSON values than this.

    Returns
    -------
    object
        The parsed value.

    Raises
    ------
    ValueError
        For any of the failures above.

    Examples
    --------
    >>> parse_json(b'{"a": [1, 2]}')
    {'a': [1, 2]}
    >>> parse_json("[" * 100_000)
    Traceback (most recent call last):
    ...
    ValueError: it nests too deeply
    >>> parse_json('{"a": 1, "a": 2}', unique_keys=True)
    Traceback (most recent call last):
    ...
    ValueError: key 'a' is listed twice (the first value would be lost)
    >>> parse_json("[1, 2, 3]", max_values=3)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: it may hold 4 JSON values (counted by its '[', '{', ',' and ':'); at most 3 ...
    """
    if max_values is not None:
        _check_values(text, max_values)
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs if unique_keys else None)
    except RecursionError:
        raise ValueError("it nests too deeply") from None


def _plain(value: Any, name: str, where: str) -> Any:
    """``value`` as plain JSON types: NaN and infinity as None, numpy scalars and arrays
    as Python numbers and lists; anything else is a ``TypeError`` naming where it is."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, (str, int, float, bool)) and k is not None:
                raise TypeError(
                    f"{name}: key {k!r} at {where or 'the top'} is of type {type(k).__name__}; "
                    "expected str keys (JSON)"
                )
            out[k] = _plain(v, name, f"{where}[{k!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v, name, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist(), name, where)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    raise TypeError(
        f"{name}: the value at {where or 'the top'} is of type {type(value).__name__}, which JSON "
        "cannot hold; expected numbers, strings, booleans, None, lists and dicts"
    )


def dump_json(value: Any, *, name: str = "value", indent: int | None = None) -> str:
    """Standard JSON text of ``value``, for a file others will read.

    NaN and infinite numbers (numpy's too) are written as ``null`` (``json.dumps`` would
    write ``NaN``, which strict readers refuse); numpy scalars and arrays become numbers
    and lists; a value JSON cannot hold is a ``TypeError`` naming ``name`` and where in
    ``value`` it is.

    Parameters
    ----------
    value : object
        Dicts, lists, tuples, strings, numbers, booleans, None, numpy scalars and arrays.
    name : str, default "value"
        What ``value`` is, for the message.
    indent : int, optional
        ``json.dumps``'s indent (None: one line).

    Returns
    -------
    str
        The JSON text.

    Examples
    --------
    >>> dump_json({"a": float("nan"), "b": np.int64(2), "c": np.arange(2)})
    '{"a": null, "b": 2, "c": [0, 1]}'
    >>> dump_json({"a": [object()]}, name="record")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: record: the value at ['a'][0] is of type object, which JSON cannot hold; ...
    """
    return json.dumps(_plain(value, name, ""), indent=indent, allow_nan=False)


def _check_disjoint(path: str, kind: str, entries: dict[str, tuple]) -> None:
    """Refuse tensors whose byte ranges overlap: each would be copied out of the same
    bytes, so a header of many entries over one range could ask for far more memory
    than the file holds (the safetensors format forbids overlaps)."""
    spans = sorted((start, end, name) for name, (_, _, (start, end)) in entries.items())
    for (_, end, first), (start, _, second) in itertools.pairwise(spans):
        if start < end:
            raise _fail(
                path,
                kind,
                f"tensors {_SHORT.repr(first)} and {_SHORT.repr(second)} share bytes "
                "(overlapping ranges)",
            )


def _what_it_is(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _open_regular_file(path: Path, kind: str):
    """``path`` opened for binary reading, refusing anything but a regular file.

    The file is opened without blocking and checked by ``fstat`` on the open descriptor,
    so a FIFO (whose ``open`` waits for a writer) or a device such as ``/dev/zero``
    (endless bytes), also behind a symbolic link or swapped in after a check by path, is
    refused by name instead of hanging or filling memory.
    """
    shown = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise FileNotFoundError(f"no {kind} file at {shown!r}") from None
    except IsADirectoryError:
        raise IsADirectoryError(
            f"{shown!r} is a folder; expected the path of a {kind} file"
        ) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(f"{shown!r} is a folder; expected the path of a {kind} file")
        raise ValueError(
            f"{shown!r} is {_what_it_is(mode)}; expected a regular file holding a {kind}"
        )
    if hasattr(os, "O_NONBLOCK"):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _read_header(
    fh: Any,
    size: int,
    shown: str,
    kind: str,
    require_metadata: bool,
    *,
    count_metadata: bool = True,
) -> tuple[int, dict[str, tuple], dict[str, Any]]:
    r"""The header of the safetensors file open as ``fh`` (of ``size`` bytes), bounded and
    checked: its length, its tensor entries (dtype, shape, byte range, no overlaps) and
    its bottlekit JSON. Returns ``(n_header, entries, meta)``; every problem is the
    ``ValueError`` of :func:`_fail`, naming ``shown`` (with ``too_many`` set when the
    header holds too many JSON values).

    The header's JSON values are counted once, in its bytes (each ``[ { , :`` of the
    decoded text is one of these bytes in UTF-8, -16 and -32 alike, so the bytes' count
    bounds the text's). The bottlekit metadata is counted again, unless
    ``count_metadata`` is False: a writer may escape its ``[`` as ``\u005b`` in the
    header, but not safetensors, whose header holds the metadata's every ``[ { , :``, so
    :func:`encode_safetensors` leaves it to the header's count."""
    head = fh.read(8)
    if len(head) < 8:
        raise _fail(shown, kind, f"it has {size} bytes, fewer than a safetensors header")
    (n_header,) = struct.unpack("<Q", head)
    if n_header > min(MAX_HEADER_BYTES, size - 8):
        raise _fail(
            shown,
            kind,
            f"its header claims {n_header} bytes (the file has {size}; at "
            f"most {MAX_HEADER_BYTES} are accepted)",
        )
    raw = fh.read(n_header)
    try:  # counted before decoding
        _check_values(raw, MAX_HEADER_VALUES)
    except ValueError as exc:
        raise _fail(shown, kind, f"its header is not JSON ({exc})", str(exc)) from None
    try:  # decoded as json.loads does, to free the bytes
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")
        del raw
        header = parse_json(text, unique_keys=True)
    except ValueError as exc:  # bad UTF-8 or JSON, too deep, too many digits, a key twice
        if (key := _duplicate_key(exc)) is not None:  # json.loads would drop the first
            raise _fail(shown, kind, f"its header lists key {_SHORT.repr(key)} twice") from None
        raise _fail(shown, kind, f"its header is not JSON ({exc})") from None
    del text
    if not isinstance(header, dict):
        raise _fail(shown, kind, "its header is not a JSON object")
    data_bytes = size - 8 - n_header
    metadata = header.pop("__metadata__", None) or {}
    entries = {
        name: _check_entry(shown, kind, name, entry, data_bytes) for name, entry in header.items()
    }
    _check_disjoint(shown, kind, entries)
    if not isinstance(metadata, dict):
        raise _fail(shown, kind, "its metadata is not a JSON object")
    if not isinstance(metadata.get("bottlekit"), str):
        if require_metadata:
            raise _fail(shown, kind, "it has no bottlekit metadata")
        metadata = {"bottlekit": "{}"}
    try:
        meta = parse_json(
            metadata["bottlekit"],
            unique_keys=True,
            max_values=MAX_HEADER_VALUES if count_metadata else None,
        )
    except ValueError as exc:
        if (key := _duplicate_key(exc)) is not None:  # json.loads would drop the first
            raise _fail(
                shown, kind, f"its bottlekit metadata lists key {_SHORT.repr(key)} twice"
            ) from None
        raise _fail(shown, kind, f"its bottlekit metadata is not JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise _fail(shown, kind, "its bottlekit metadata is not a JSON object")
    return n_header, entries, meta


def _serialize(tensors: dict[str, Any], metadata: dict[str, str] | None) -> bytes:
    """``safetensors`` ``save`` of numpy arrays (made contiguous) or, if any value is a
    torch tensor, of torch tensors (``safetensors.torch.save``): the bytes each writer
    wrote before it went through :func:`encode_safetensors`."""
    import sys

    torch = sys.modules.get("torch")  # never imported here: a torch tensor means it is
    if torch is not None and any(isinstance(v, torch.Tensor) for v in tensors.values()):
        from safetensors.torch import save as save_torch

        return save_torch(tensors, metadata=metadata)
    from safetensors.numpy import save

    return save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=metadata)


def encode_safetensors(
    tensors: dict[str, Any],
    meta: dict[str, Any] | None,
    *,
    kind: str,
    path: Any,
    holds: str,
    reader: str = "bottlekit",
) -> bytes:
    """The bytes of a ``.safetensors`` file, refused if its reader would refuse them:
    what a ``save`` writes must load back. Every safetensors file bottlekit writes is
    made here (and written with :func:`bottlekit.atomic.atomic_write_bytes`).

    With ``reader="bottlekit"`` (files read by :func:`read_safetensors`), the file holds
    ``tensors`` and, under the metadata key ``"bottlekit"``, ``json.dumps(meta)`` (no
    metadata if ``meta`` is None). Its header is then checked as :func:`read_safetensors`
    checks it: at most :data:`MAX_HEADER_BYTES` bytes, at most :data:`MAX_HEADER_VALUES`
    JSON values (in the header and in the bottlekit metadata), and the rest of its checks.

    With ``reader="safetensors"`` (files read by the safetensors library itself: the
    embedding cache's shards, the world's weights and checkpoints), ``meta`` is the
    file's metadata as written (a dict of str to str, or None), and the header must fit
    the library's limit, :data:`SAFETENSORS_MAX_HEADER_BYTES`.

    Parameters
    ----------
    tensors : dict of str to ndarray or torch.Tensor
        The arrays (numpy arrays are made contiguous here; torch tensors are written by
        ``safetensors.torch.save``).
    meta : dict or None
        The JSON metadata (``reader="bottlekit"``) or the metadata itself
        (``reader="safetensors"``).
    kind : str
        What the file is (``"concept bank"``, ``"model"``), as passed to
        :func:`read_safetensors`; used in messages.
    path : path-like or None
        Where the file is to be written; used in messages (None: not named).
    holds : str
        What the metadata holds (e.g. ``"the bank's names, provenance and class names"``),
        named in a refusal as what to shorten.
    reader : {"bottlekit", "safetensors"}, default "bottlekit"
        What reads the file back.

    Returns
    -------
    bytes
        The file's contents.

    Raises
    ------
    FileTooLarge
        If the header would be larger, or hold more JSON values, than the reader
        accepts; nothing is written then.
    ValueError
        If the file would be refused when loaded for another reason.

    Examples
    --------
    >>> data = encode_safetensors({"w": np.ones(2, np.float32)}, {"a": 1}, kind="model",
    ...                           path="m.safetensors", holds="the model's parameters")
    >>> len(data)
    112
    >>> encode_safetensors({}, {"a": [0] * MAX_HEADER_VALUES}, kind="model",
    ...                    path="m.safetensors", holds="the model's parameters")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bottlekit.safetensors_file.FileTooLarge: model not saved ... JSON values ...
    """
    from safetensors import SafetensorError

    if reader not in ("bottlekit", "safetensors"):
        raise ValueError(f"reader: expected 'bottlekit' or 'safetensors', got {reader!r}")
    if path is None:
        where = ""
    else:
        shown = str(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else repr(path)
        where = f" to {shown!r}"
    ours = reader == "bottlekit"
    limit, limit_name = (
        (MAX_HEADER_BYTES, "MAX_HEADER_BYTES")
        if ours
        else (SAFETENSORS_MAX_HEADER_BYTES, "SAFETENSORS_MAX_HEADER_BYTES")
    )
    refused = (
        f"{kind} not saved{where}: its metadata ({holds}) would be refused when "
        "loaded, so the file could not be read back"
    )
    metadata = ({"bottlekit": json.dumps(meta)} if meta is not None else None) if ours else meta
    try:
        data = _serialize(tensors, metadata)
    except SafetensorError as exc:  # safetensors >= 0.6 refuses a header over its limit
        if "header too large" not in str(exc):
            raise
        raise FileTooLarge(
            f"{refused}: the file's header would have more than "
            f"{SAFETENSORS_MAX_HEADER_BYTES} bytes, more than the safetensors library "
            f"writes or reads; at most {limit} are accepted ({limit_name})"
        ) from None
    (n_header,) = struct.unpack("<Q", data[:8])
    if n_header > limit:
        raise FileTooLarge(
            f"{refused}: the file's header would have {n_header} bytes; at most "
            f"{limit} are accepted ({limit_name})"
        )
    if not ours:
        return data
    try:  # the reader's checks, its count of the header's JSON values the only one
        _read_header(
            io.BytesIO(data), len(data), str(path), kind, meta is not None, count_metadata=False
        )
    except _Unreadable as exc:
        if exc.too_many is not None:
            problem = exc.too_many.removeprefix("it ")
            raise FileTooLarge(
                f"{refused}: the file's header {problem} (MAX_HEADER_VALUES)"
            ) from None
        raise ValueError(f"{refused}: {exc.problem}") from None
    return data


def read_safetensors(
    path: str | os.PathLike, kind: str, *, require_metadata: bool = True
) -> SafetensorsContents:
    """Read a bottlekit ``.safetensors`` file, validating its header before allocating.

    Parameters
    ----------
    path : path-like
        The file.
    kind : str
        What the file should be (``"model"``, ``"concept bank"``); used in messages.
    require_metadata : bool, default=True
        Refuse a file without bottlekit's JSON metadata (``.meta`` is ``{}`` otherwise).

    Returns
    -------
    SafetensorsContents
        A dict of the arrays, with the parsed bottlekit JSON in ``.meta``.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ValueError
        If the file is not a well-formed safetensors file with bottlekit metadata.

    Examples
    --------
    >>> import numpy as np, json, tempfile, os
    >>> from safetensors.numpy import save
    >>> path = os.path.join(tempfile.mkdtemp(), "x.safetensors")
    >>> _ = open(path, "wb").write(save({"w": np.ones(3, np.float32)},
    ...                                 metadata={"bottlekit": json.dumps({"a": 1})}))
    >>> contents = read_safetensors(path, "model")
    >>> contents["w"].tolist(), contents.meta
    ([1.0, 1.0, 1.0], {'a': 1})
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected the path of a {kind} file, got {path!r}"[:300])
    p = Path(path)
    shown = str(p)
    with _open_regular_file(p, kind) as fh:
        size = os.fstat(fh.fileno()).st_size
        n_header, entries, meta = _read_header(fh, size, shown, kind, require_metadata)
        contents = SafetensorsContents()
        base = 8 + n_header
        for name, (dtype, shape, (start, end)) in entries.items():
            fh.seek(base + start)
            buf = fh.read(end - start)
            contents[name] = np.frombuffer(buf, dtype=dtype).reshape(shape).copy()
    contents.meta = meta
    contents.path = shown
    return contents
