"""Digests of a file (md5, sha256) and the kind of a digest given as text. Re-exported
by :mod:`bottlekit.datasets.download`."""

from __future__ import annotations

import hashlib
import os


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The sha256 of a file, hex.

    Parameters
    ----------
    path : path
        The file.
    chunk : int, default 1 MiB
        Bytes per read.

    Returns
    -------
    str
        64 hex digits.

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
        The file.
    algorithms : tuple of {"md5", "sha256"}
        The digests to compute.
    chunk : int
        Bytes per read.

    Returns
    -------
    dict of str to str
        Algorithm name to hex digest.

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
