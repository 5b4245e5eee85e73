"""The pickles of CIFAR's python release, written byte for byte as Python 2's cPickle
writes them (protocol 2), without pickle: the opcode stream is emitted here.

What cPickle writes for the CIFAR dicts: ``PROTO 2``; a dict as ``EMPTY_DICT``, then its
items between ``MARK`` and ``SETITEMS`` (1000 at most per batch; one item alone:
``SETITEM``); a list likewise with ``EMPTY_LIST`` and ``APPENDS`` / ``APPEND``; a Python 2
``str`` as ``SHORT_BINSTRING`` (< 256 bytes) or ``BINSTRING``; ints 0..255 as
``BININT1``, up to 65535 ``BININT2``, others ``BININT``; tuples of 1..3 items as
``TUPLE1``..``TUPLE3``, longer ones ``MARK`` .. ``TUPLE``. A numpy array is what
numpy's ``__reduce__`` gives: ``GLOBAL numpy.core.multiarray _reconstruct``, the
arguments ``(GLOBAL numpy ndarray, (0,), 'b')``, ``REDUCE``, then ``BUILD`` with the
state ``(1, shape, dtype, fortran, raw bytes)``, the dtype itself ``GLOBAL numpy dtype``
called with ``('u1', 0, 1)`` and built with ``(3, '|', None, None, None, -1, -1, 0)``;
the raw bytes are one ``BINSTRING``. cPickle's memo starts at 1 (``BINPUT 1`` after
the dict), uses ``LONG_BINPUT`` past 255, and skips the temporaries ``__reduce__`` makes
(tuples, the raw string, 'b', 'u1', '|'): they have a single reference.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class ArrayState:
    """What a pickled numpy array declares, free to disagree with itself (hostile tests)."""

    shape: tuple
    descr: str  # the dtype's str without the byte order: 'u1', 'f4'
    byteorder: str  # '|', '<', '>'
    fortran: bool
    raw: bytes

    @classmethod
    def of(cls, a: np.ndarray) -> ArrayState:
        fortran = bool(a.flags.f_contiguous and not a.flags.c_contiguous)
        return cls(a.shape, a.dtype.str[1:], a.dtype.str[0], fortran, a.tobytes(order="A"))


class Py2Pickler:
    def __init__(self, module: str = "numpy.core.multiarray") -> None:
        self.out = bytearray(b"\x80\x02")  # PROTO 2
        self.memo: dict[Any, tuple[int, Any]] = {}
        self.module = module

    def _put(self, key: Any, obj: Any) -> None:
        i = len(self.memo) + 1  # cPickle's first memo index is 1
        self.memo[key] = (i, obj)  # obj kept alive: its id stays its own
        self.out += b"q" + bytes([i]) if i < 256 else b"r" + struct.pack("<I", i)

    def _get(self, key: Any) -> bool:
        if key not in self.memo:
            return False
        i = self.memo[key][0]
        self.out += b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i)
        return True

    def save(self, obj: Any, memoize: bool = True) -> None:
        out = self.out
        if obj is None:
            out += b"N"
        elif obj is True or obj is False:
            out += b"\x88" if obj else b"\x89"
        elif isinstance(obj, int):
            if 0 <= obj < 256:
                out += b"K" + bytes([obj])
            elif 0 <= obj < 65536:
                out += b"M" + struct.pack("<H", obj)
            else:
                out += b"J" + struct.pack("<i", obj)
        elif isinstance(obj, bytes):  # a Python 2 str
            if memoize and self._get(id(obj)):
                return
            n = len(obj)
            out += (b"U" + bytes([n]) if n < 256 else b"T" + struct.pack("<i", n)) + obj
            if memoize:
                self._put(id(obj), obj)
        elif isinstance(obj, tuple):  # the temporaries of __reduce__: not memoized
            if 1 <= len(obj) <= 3:
                for v in obj:
                    self.save(v, memoize=False)
                out += {1: b"\x85", 2: b"\x86", 3: b"\x87"}[len(obj)]
            else:
                out += b"("
                for v in obj:
                    self.save(v, memoize=False)
                out += b"t"
        elif isinstance(obj, list):
            out += b"]"
            self._put(id(obj), obj)
            self._batches(obj, b"a", b"e")
        elif isinstance(obj, dict):
            out += b"}"
            self._put(id(obj), obj)
            self._batches([x for kv in obj.items() for x in kv], b"s", b"u", step=2)
        elif isinstance(obj, (np.ndarray, ArrayState)):
            self._array(obj if isinstance(obj, ArrayState) else ArrayState.of(obj))
        else:
            raise TypeError(f"no Python 2 pickle for {type(obj).__name__}")

    def _batches(self, items: list, one: bytes, many: bytes, step: int = 1) -> None:
        for start in range(0, len(items), 1000 * step):
            batch = items[start : start + 1000 * step]
            if len(batch) > step:
                self.out += b"("
            for v in batch:
                self.save(v)
            self.out += many if len(batch) > step else one

    def _global(self, module: str, name: str) -> None:
        if not self._get(("global", module, name)):
            self.out += b"c" + f"{module}\n{name}\n".encode()
            self._put(("global", module, name), None)

    def _array(self, a: ArrayState) -> None:
        out = self.out
        self._global(self.module, "_reconstruct")
        self._global("numpy", "ndarray")
        self.save((0,), memoize=False)
        self.save(b"b", memoize=False)
        out += b"\x87R"  # TUPLE3 (the ndarray global, (0,), 'b'), REDUCE
        self._put(object(), None)
        out += b"("  # the state (1, shape, dtype, fortran, raw)
        self.save(1)
        self.save(tuple(a.shape), memoize=False)
        self._global("numpy", "dtype")
        self.save(a.descr.encode(), memoize=False)
        self.save(0)
        self.save(1)
        out += b"\x87R"
        self._put(object(), None)
        self.save((3, a.byteorder.encode(), None, None, None, -1, -1, 0), memoize=False)
        out += b"b"  # BUILD the dtype
        self.save(a.fortran)
        self.save(a.raw, memoize=False)
        out += b"tb"  # the state's TUPLE, BUILD the array

    def dumps(self, obj: Any) -> bytes:
        self.save(obj)
        self.out += b"."
        return bytes(self.out)


def py2_dumps(obj: Any, module: str = "numpy.core.multiarray") -> bytes:
    """``obj`` (dicts, lists, bytes as Python 2 str, ints, arrays) pickled as cPickle does."""
    return Py2Pickler(module).dumps(obj)


def _rows(pixels: np.ndarray) -> np.ndarray:
    """(n, 32, 32, 3) images as CIFAR's (n, 3072) rows: 1024 red, 1024 green, 1024 blue."""
    return np.ascontiguousarray(pixels.transpose(0, 3, 1, 2).reshape(len(pixels), -1))


def write_cifar_python(parent: Path, written: dict, hundred: bool) -> Path:
    """The python release of the data ``dataset_formats.write_cifar`` wrote (its return
    value ``written``), in ``parent``; returns the release's folder."""
    root = parent / ("cifar-100-python" if hundred else "cifar-10-batches-py")
    root.mkdir(parents=True)
    for name, (labels, pixels) in written["files"].items():
        stem = name.removesuffix(".bin")
        n = len(labels)
        names = [f"image_{stem}_{i:05d}.png".encode() for i in range(n)]
        if hundred:
            kind = "training" if stem == "train" else "testing"
            batch = {  # the key order of the real files
                b"filenames": names,
                b"batch_label": f"{kind} batch 1 of 1".encode(),
                b"fine_labels": [int(v) for v in labels[:, 1]],
                b"coarse_labels": [int(v) for v in labels[:, 0]],
                b"data": _rows(pixels),
            }
        else:
            label = (
                f"training batch {stem[-1]} of 5"
                if stem != "test_batch"
                else "testing batch 1 of 1"
            )
            batch = {
                b"batch_label": label.encode(),
                b"labels": [int(v) for v in labels[:, 0]],
                b"data": _rows(pixels),
                b"filenames": names,
            }
        (root / stem).write_bytes(py2_dumps(batch))
    if hundred:
        meta = {
            b"fine_label_names": [s.encode() for s in written["fine"]],
            b"coarse_label_names": [s.encode() for s in written["coarse"]],
        }
        (root / "meta").write_bytes(py2_dumps(meta))
    else:
        meta = {
            b"num_cases_per_batch": 10000,
            b"label_names": [s.encode() for s in written["names"]],
            b"num_vis": 3072,
        }
        (root / "batches.meta").write_bytes(py2_dumps(meta))
    return root
