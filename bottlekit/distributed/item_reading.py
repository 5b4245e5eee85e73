"""What a worker does with one item: read it as an RGB image and compute its local cache
key, the same key :func:`bottlekit.embed` gives the same item, so either run can fill the
other's cache.

An item is a file path, a member of a WebDataset tar shard (``shard.tar::member``), a URL,
or item ``i`` of an in-memory source (:class:`~bottlekit.images.ImageSource`).
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from PIL import Image

from bottlekit import _deadline
from bottlekit.images import ImageInputError, ImageSource, _file_key, _open_file, _pixel_key

__all__ = ["MAX_URL_ITEM_BYTES", "TAR_SEPARATOR", "load_item"]

#: Separates a tar shard from a member in an item path: ``shard-000.tar::0001.jpg``.
TAR_SEPARATOR = "::"
_TAR_REF = ".tar" + TAR_SEPARATOR
_URL_TIMEOUT_S = 30.0
#: The most bytes read from one URL item: a larger body (or an endless one, sent without
#: a ``Content-Length``) is refused once the cap is passed, not read into memory.
MAX_URL_ITEM_BYTES = 64 * 1024 * 1024
_URL_CHUNK_BYTES = 1024 * 1024


def _is_tar_ref(p: str) -> bool:
    """Whether ``p`` names a member of a tar shard (``shard.tar::member``); a ``::`` in
    a plain file or folder name is no reference."""
    return _TAR_REF in p


def _split_tar_ref(ref: str) -> tuple[str, str]:
    shard, member = ref.split(_TAR_REF, 1)
    return shard + ".tar", member


def _read_tar_member(ref: str) -> Image.Image:
    shard, member = _split_tar_ref(ref)
    with tarfile.open(shard) as tar:
        fh = tar.extractfile(member)
        if fh is None:
            raise ValueError(f"images: {member!r} in {shard!r} is not a file")
        data = fh.read()
    return _open_file(io.BytesIO(data), name=ref)  # (as a file: 16-bit grey included)


def _read_url(url: str) -> Image.Image:
    """The image at ``url``, read in chunks and refused past :data:`MAX_URL_ITEM_BYTES`."""
    cap = MAX_URL_ITEM_BYTES
    # the answer (connection, status line, headers) as a whole within the timeout, and
    # each read of the body too: a server that trickles passes every per-read timeout
    resp = _deadline.urlopen(url, _URL_TIMEOUT_S)
    with resp:
        declared = resp.headers.get("Content-Length", "").strip()
        if declared.isdigit() and int(declared) > cap:
            raise _too_large(url, f"its Content-Length is {int(declared)} bytes (none read)")
        chunks, n = [], 0
        while True:
            with _deadline.deadline(_URL_TIMEOUT_S):
                chunk = resp.read(min(_URL_CHUNK_BYTES, cap + 1 - n))
            if not chunk:
                break
            chunks.append(chunk)
            n += len(chunk)
            if n > cap:
                raise _too_large(url, f"{n} bytes read before the read was stopped")
    return _open_file(io.BytesIO(b"".join(chunks)), name=url)


def _too_large(url: str, what: str) -> ImageInputError:
    shown = repr(url) if len(url) <= 200 else repr(url[:200]) + "..."
    return ImageInputError(
        f"images: URL {shown} sends more than MAX_URL_ITEM_BYTES = {MAX_URL_ITEM_BYTES} bytes "
        f"({what}); expected an image file of at most that size"
    )


def load_item(path: str, memory: ImageSource | None, i: int) -> tuple[Image.Image, str]:
    """Item ``i`` of a payload as an RGB image, and its local cache key.

    Files are keyed as :meth:`bottlekit.images.ImageSource.key` keys them (resolved path,
    size, modification time); tar members and URLs, which the local cache never sees as
    files, by their pixels, as the same image handed to :func:`bottlekit.embed` in memory.

    Parameters
    ----------
    path : str
        The item's path as planned: a file, ``archive.tar::member`` or an http(s) URL
        (ignored for an in-memory item).
    memory : ImageSource or None
        The payload's in-memory images, or None when the items are files.
    i : int
        The item's position in ``memory``.

    Returns
    -------
    image : PIL.Image.Image
        The item as an RGB image.
    key : str
        Its key in the local embedding cache.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from PIL import Image
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.png"
    >>> Image.new("L", (4, 3)).save(path)
    >>> img, key = load_item(str(path), None, 0)
    >>> img.mode, img.size
    ('RGB', (4, 3))
    """
    if memory is not None:
        return memory.load(i), memory.key(i)
    if _is_tar_ref(path):
        img = _read_tar_member(path)
        return img, _pixel_key(img)
    if "://" in path:
        img = _read_url(path)
        return img, _pixel_key(img)
    p = Path(path)
    return _open_file(p), _file_key(p)
