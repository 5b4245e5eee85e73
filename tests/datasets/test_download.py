"""Downloads against a local HTTP server on 127.0.0.1 (with Range support): complete,
interrupted and resumed, wrong or unknown checksum, unsafe archives, offline, manual."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import shutil
import socket
import tarfile
import threading
import zipfile

import numpy as np
import pytest
from dataset_formats import write_cifar

from bottlekit.datasets import download as dl
from bottlekit.datasets import load_cifar10, load_dataset


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files``; honours ``Range: bytes=N-``; with ``server.cut_next`` the
    next response announces the whole length but stops after that many bytes."""

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and srv.honour_range:
            start = int(rng.split("=")[1].rstrip("-"))
            if start >= len(body):
                self.send_response(416)
                if not srv.hide_size_in_416:  # RFC 9110: the current length
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            self.send_response(206)
            shown = start + srv.range_shift  # a server that sends another range than asked
            self.send_header("Content-Range", f"bytes {shown}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        part = body[start:]
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        if srv.cut_next is not None:
            self.wfile.write(part[: srv.cut_next])
            srv.cut_next = None
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(part)


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.requests, srv.cut_next, srv.honour_range = {}, [], None, True
    srv.range_shift, srv.hide_size_in_416 = 0, False
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


def _tar(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tf.addfile(info)
    return buf.getvalue()


@pytest.fixture
def cifar_archive(tmp_path):
    src = tmp_path / "src"
    write_cifar(src, hundred=False)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(src / "cifar-10-batches-bin", arcname="cifar-10-batches-bin")
    data = buf.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def _without_table_digest(monkeypatch, name="cifar10"):
    """The table's entry without the publisher's md5 (the fixture archive is not CIFAR's)."""
    monkeypatch.setitem(dl.SOURCES, name, dataclasses.replace(dl.SOURCES[name], md5=None))


def test_complete_download_then_load(server, cifar_archive, tmp_path, monkeypatch):
    data, sha = cifar_archive
    server.files["/cifar-10-binary.tar.gz"] = data
    entry = dataclasses.replace(  # the fixture archive: its sha256, not CIFAR's md5
        dl.SOURCES["cifar10"], url=server.url + "/cifar-10-binary.tar.gz", sha256=sha, md5=None
    )
    monkeypatch.setitem(dl.SOURCES, "cifar10", entry)
    root = tmp_path / "data"
    ds = load_dataset("cifar10", root, split="test", download=True)
    assert (root / "cifar-10-binary.tar.gz").read_bytes() == data
    assert len(ds) == 4 and ds.image_source.to_array().shape == (4, 32, 32, 3)
    assert server.requests == [("/cifar-10-binary.tar.gz", None)]
    # present already: not fetched again
    load_cifar10(root, "test", download=True)
    assert len(server.requests) == 1


def test_interrupted_download_resumes_with_range(server, cifar_archive, tmp_path, monkeypatch):
    data, sha = cifar_archive
    _without_table_digest(monkeypatch)
    server.files["/a.tar.gz"] = data
    server.cut_next = len(data) // 3
    root = tmp_path / "data"
    with pytest.raises(dl.DownloadError, match=r"interrupted|ended after"):
        dl.download_dataset("cifar10", root, url=server.url + "/a.tar.gz", checksum=sha)
    part = root / "cifar-10-binary.tar.gz.part"
    assert part.read_bytes() == data[: len(data) // 3]
    assert not (root / "cifar-10-batches-bin").exists()  # nothing extracted
    out = dl.download_dataset(
        "cifar10", root, url=server.url + "/a.tar.gz", checksum=sha, progress=False
    )
    assert server.requests[1] == ("/a.tar.gz", f"bytes={len(data) // 3}-")
    assert (root / "cifar-10-binary.tar.gz").read_bytes() == data and not part.exists()
    assert out == root / "cifar-10-batches-bin" and (out / "test_batch.bin").is_file()


def test_a_server_ignoring_range_restarts_the_file(server, tmp_path):
    data = bytes(range(256)) * 40
    server.files["/f.bin"], server.honour_range = data, False
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(b"stale bytes")
    dl.download_file(server.url + "/f.bin", dest, progress=False)
    assert dest.read_bytes() == data


def test_a_wrong_content_range_is_not_appended(server, tmp_path):
    server.files["/f.bin"], server.range_shift = bytes(1000), 7
    (tmp_path / "f.bin.part").write_bytes(bytes(100))
    with pytest.raises(dl.DownloadError, match=r"answered the request for bytes 100- with 'bytes"):
        dl.download_file(server.url + "/f.bin", tmp_path / "f.bin", progress=False)
    assert (tmp_path / "f.bin.part").read_bytes() == bytes(100) and not (
        tmp_path / "f.bin"
    ).exists()


def test_wrong_checksum_is_refused_before_extracting(server, cifar_archive, tmp_path):
    data, _ = cifar_archive
    server.files["/a.tar.gz"] = data
    root = tmp_path / "data"
    with pytest.raises(
        dl.ChecksumError, match=r"sha256 [0-9a-f]{64} differs from the expected 0+"
    ):
        dl.download_dataset("cifar10", root, url=server.url + "/a.tar.gz", checksum="0" * 64)
    assert not (root / "cifar-10-batches-bin").exists()
    assert (root / "cifar-10-binary.tar.gz.bad").is_file()  # set aside, not reused


def test_unknown_checksum_is_not_extracted(server, cifar_archive, tmp_path, monkeypatch):
    data, sha = cifar_archive
    _without_table_digest(monkeypatch)
    server.files["/a.tar.gz"] = data
    assert dl.SOURCES["cifar10"].sha256 is None  # the table has none to check against
    root = tmp_path / "data"
    with pytest.raises(dl.ChecksumError, match=f"has no sha256 .* sha256 is {sha}.*checksum="):
        dl.download_dataset("cifar10", root, url=server.url + "/a.tar.gz", progress=False)
    assert not (root / "cifar-10-batches-bin").exists()


@pytest.mark.parametrize(
    ("archive", "match"),
    [
        (_tar({"ok/a.txt": b"a", "ok/../../evil.txt": b"x"}), r"'ok/\.\./\.\./evil\.txt' would"),
        (_tar({"/tmp/abs_evil.txt": b"x"}), r"'/tmp/abs_evil\.txt' would be written outside"),
        (_tar({"ok/a.txt": b"a"}, {"ok/link": "../../outside"}), r"link 'ok/link' -> '\.\./\.\./"),
    ],
)
def test_unsafe_archives_are_refused(server, tmp_path, archive, match, monkeypatch):
    server.files["/bad.tar.gz"] = archive
    _without_table_digest(monkeypatch)
    root = tmp_path / "deep" / "data"
    sha = hashlib.sha256(archive).hexdigest()
    with pytest.raises(dl.UnsafeArchiveError, match=match):
        dl.download_dataset("cifar10", root, url=server.url + "/bad.tar.gz", checksum=sha)
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-binary.tar.gz"]  # nothing else
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "deep" / "evil.txt").exists()


def test_unsafe_zip_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a/ok.txt", "ok")
        zf.writestr("../evil.txt", "x")
    path = tmp_path / "x.zip"
    path.write_bytes(buf.getvalue())
    with pytest.raises(dl.UnsafeArchiveError, match=r"'\.\./evil\.txt' would be written outside"):
        dl.safe_extract(path, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "a").exists()


def test_offline_error_names_file_url_and_place(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/cub.tgz"
    with pytest.raises(dl.DownloadError) as err:
        dl.download_dataset("cub", tmp_path, url=url)
    msg = str(err.value)
    assert "CUB_200_2011.tgz" in msg and url in msg and str(tmp_path / "CUB_200_2011.tgz") in msg


@pytest.mark.parametrize(
    ("name", "words"), [("celeba", "Google Drive"), ("ham10000", "terms of use")]
)
def test_manual_datasets_say_so(tmp_path, name, words):
    with pytest.raises(dl.DownloadError, match=words):
        load_dataset(name, tmp_path, download=True)


def test_sha256_of_matches_hashlib(tmp_path):
    data = np.random.default_rng(0).bytes(300_000)
    (tmp_path / "x").write_bytes(data)
    assert dl.sha256_of(tmp_path / "x", chunk=4096) == hashlib.sha256(data).hexdigest()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_publisher_md5_in_the_table_is_checked_and_accepted(
    server, cifar_archive, tmp_path, monkeypatch
):
    data, _ = cifar_archive
    server.files["/c.tar.gz"] = data
    entry = dataclasses.replace(
        dl.SOURCES["cifar10"], url=server.url + "/c.tar.gz", md5=_md5(data)
    )
    monkeypatch.setitem(dl.SOURCES, "cifar10", entry)
    out = dl.download_dataset("cifar10", tmp_path / "d", progress=False)
    assert out == tmp_path / "d" / "cifar-10-batches-bin" and (out / "test_batch.bin").is_file()
    assert len(load_cifar10(out, "test")) == 4


def test_publisher_md5_mismatch_is_refused_and_nothing_extracted(
    server, cifar_archive, tmp_path, monkeypatch
):
    data, _ = cifar_archive
    server.files["/c.tar.gz"] = data
    entry = dataclasses.replace(dl.SOURCES["cifar10"], url=server.url + "/c.tar.gz", md5="0" * 32)
    monkeypatch.setitem(dl.SOURCES, "cifar10", entry)
    root = tmp_path / "d"
    with pytest.raises(
        dl.ChecksumError,
        match=f"md5 {_md5(data)} differs from the expected 0{{32}} \\(from bottlekit's table\\)",
    ):
        dl.download_dataset("cifar10", root, progress=False)
    assert not (root / "cifar-10-batches-bin").exists()
    assert (root / "cifar-10-binary.tar.gz.bad").read_bytes() == data
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-binary.tar.gz.bad"]


def test_a_given_md5_checksum_and_a_conflicting_one(server, cifar_archive, tmp_path, monkeypatch):
    data, _ = cifar_archive
    server.files["/c.tar.gz"] = data
    _without_table_digest(monkeypatch)
    url = server.url + "/c.tar.gz"
    out = dl.download_dataset("cifar10", tmp_path / "a", url=url, checksum=_md5(data).upper())
    assert (out / "test_batch.bin").is_file()  # an md5 given by the caller is accepted
    monkeypatch.setitem(  # the table's md5 and another given md5: refused before downloading
        dl.SOURCES, "cifar10", dataclasses.replace(dl.SOURCES["cifar10"], md5=_md5(data))
    )
    with pytest.raises(dl.ChecksumError, match="differs from the known md5"):
        dl.download_dataset("cifar10", tmp_path / "b", url=url, checksum="1" * 32)
    with pytest.raises(ValueError, match=r"checksum: expected a hex md5 \(32 digits\) or sha256"):
        dl.download_dataset("cifar10", tmp_path / "b", url=url, checksum="abc")
    assert len(server.requests) == 1


def test_the_table_has_the_publishers_md5_and_says_where_from():
    assert dl.SOURCES["cifar10"].md5 == "c32a1d4ab5d03f1284b67883e8d87530"
    assert dl.SOURCES["cifar100"].md5 == "03b5dce01913d631647c71ecec9e9cb8"
    assert dl.SOURCES["cub"].md5 == "97eceeb196236b17998738112f37df78"
    for name, src in dl.SOURCES.items():
        assert bool(src.digests) == bool(src.digest_from), name
    assert not dl.SOURCES["waterbirds"].digests and not dl.SOURCES["awa2"].digests


# ------------------------------------------------------------------ size caps (max_bytes)

_SERVER_END = 8 * 2**20  # the endless server stops here, so that the old code ended too


def _stream(start: int, stop: int) -> bytes:
    """Bytes ``start:stop`` of the endless body (byte i is i % 251)."""
    return bytes(i % 251 for i in range(start, stop))


class _Endless(http.server.BaseHTTPRequestHandler):
    """An HTTP/1.1 body in chunks without a Content-Length, at full speed, that would go
    on for ever; here it stops after ``_SERVER_END`` bytes. Honours ``Range: bytes=N-``."""

    protocol_version = "HTTP/1.1"
    block = _stream(0, 251 * 256)  # 64 KiB; starts again at a multiple of 251

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        self.close_connection = True
        self.server.requests.append(self.headers.get("Range"))
        start = (
            int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers["Range"] else 0
        )
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{_SERVER_END - 1}/*")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent, first = start, True
        try:
            while sent < _SERVER_END:
                offset = sent % 251 if first else 0
                data = self.block[offset : offset + _SERVER_END - sent]
                first = False
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                sent += len(data)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client hung up (the cap)
            pass
        self.server.sent.append(sent - start)


@pytest.fixture
def endless():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Endless)
    srv.daemon_threads = True
    srv.requests, srv.sent = [], []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/stream.tar.gz"
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


def test_an_endless_body_is_cut_off_at_max_bytes_and_resumed_with_a_larger_one(endless, tmp_path):
    # Before: download_file had no size cap: a body without Content-Length was written
    # until the server stopped (here its 8 MiB end; a real endless one: a full disk) and
    # the .part was then renamed to dest as a complete file.
    cap = 1_000_003  # not a multiple of the read size: the cut falls inside a block
    dest = tmp_path / "stream.tar.gz"
    with pytest.raises(
        dl.DownloadError,
        match=r"stream\.tar\.gz from http://127\.0\.0\.1:\d+/stream\.tar\.gz cut off: "
        r"\d+ bytes received, more than max_bytes=1000003; the first 1000003 bytes are "
        r"kept in .*pass a larger max_bytes",
    ):
        dl.download_file(endless.url, dest, progress=False, timeout=5, max_bytes=cap)
    part = tmp_path / "stream.tar.gz.part"
    assert part.read_bytes() == _stream(0, cap)  # cut at the cap, not at the server's end
    assert not dest.exists()
    # the same cap again: the kept bytes are asked for with Range, and refused again at once
    with pytest.raises(dl.DownloadError, match=r"more than max_bytes=1000003"):
        dl.download_file(endless.url, dest, progress=False, timeout=5, max_bytes=cap)
    assert part.stat().st_size == cap
    # a larger cap resumes from the kept bytes
    dl.download_file(endless.url, dest, progress=False, timeout=5, max_bytes=_SERVER_END)
    assert endless.requests == [None, f"bytes={cap}-", f"bytes={cap}-"]
    assert dest.read_bytes() == _stream(0, _SERVER_END) and not part.exists()
    # a .part already above the cap is refused before asking the server
    (tmp_path / "other.part").write_bytes(bytes(10))
    with pytest.raises(dl.DownloadError, match=r"already holds 10 bytes, more than max_bytes=9"):
        dl.download_file(endless.url, tmp_path / "other", progress=False, max_bytes=9)
    assert len(endless.requests) == 3


def test_the_default_cap_applies_without_max_bytes(endless, tmp_path, monkeypatch):
    # Before: there was no DEFAULT_MAX_BYTES (the setattr below fails) and the whole
    # 8 MiB body was written and kept as the complete file.
    # download_file looks the default up in its own module, _file_download.py (download.py
    # re-exports it), so the patch goes there.
    monkeypatch.setattr("bottlekit.datasets._file_download.DEFAULT_MAX_BYTES", 2**20)
    with pytest.raises(dl.DownloadError, match=r"more than max_bytes=1048576"):
        dl.download_file(endless.url, tmp_path / "s", progress=False, timeout=5)
    assert (tmp_path / "s.part").stat().st_size == 2**20 and not (tmp_path / "s").exists()
    assert dl.DEFAULT_MAX_BYTES == 16 * 2**30 and dl.SOURCES["waterbirds"].cap == 4 * 2**30


def test_a_content_length_above_the_cap_is_refused_before_reading(server, tmp_path):
    # Before: no cap; a Content-Length of any size was read and written to its end.
    server.files["/big.bin"] = bytes(range(256)) * 40  # 10,240 bytes
    dest = tmp_path / "big.bin"
    with pytest.raises(
        dl.DownloadError,
        match=r"big\.bin from http://127\.0\.0\.1:\d+/big\.bin refused before reading: its "
        r"Content-Length announces 10240 bytes in all, more than max_bytes=10239; nothing "
        r"was written\. If the file is really that large, pass a larger max_bytes",
    ):
        dl.download_file(server.url + "/big.bin", dest, progress=False, max_bytes=10239)
    assert not (tmp_path / "big.bin.part").exists() and not dest.exists()
    # a resumed part: the bytes it holds count towards the cap, and stay for the next call
    (tmp_path / "big.bin.part").write_bytes(server.files["/big.bin"][:100])
    with pytest.raises(dl.DownloadError, match=r"10240 bytes in all.*100 bytes are kept"):
        dl.download_file(server.url + "/big.bin", dest, progress=False, max_bytes=10239)
    assert (tmp_path / "big.bin.part").stat().st_size == 100
    dl.download_file(server.url + "/big.bin", dest, progress=False, max_bytes=10240)
    assert dest.read_bytes() == server.files["/big.bin"]  # exactly the cap is accepted
    assert server.requests[-1] == ("/big.bin", "bytes=100-")


def test_download_dataset_caps_at_the_tables_size(server, cifar_archive, tmp_path, monkeypatch):
    # Before: Source had no size; an archive larger than the real one was written whole.
    data, sha = cifar_archive
    server.files["/c.tar.gz"] = data
    entry = dataclasses.replace(
        dl.SOURCES["cifar10"], url=server.url + "/c.tar.gz", md5=None, size=len(data) - 1
    )
    monkeypatch.setitem(dl.SOURCES, "cifar10", entry)
    root = tmp_path / "data"
    with pytest.raises(dl.DownloadError, match=f"more than max_bytes={len(data) - 1}"):
        dl.download_dataset("cifar10", root, checksum=sha, progress=False)
    assert list(root.iterdir()) == []  # refused before reading: not even a .part
    out = dl.download_dataset(  # max_bytes= overrides the table
        "cifar10", root, checksum=sha, progress=False, max_bytes=len(data)
    )
    assert (out / "test_batch.bin").is_file()


def test_the_table_has_the_archive_sizes():
    assert dl.SOURCES["cub"].size == 1_150_585_339
    assert dl.SOURCES["cifar10"].size == 170_052_171
    assert dl.SOURCES["cifar100"].size == 168_513_733
    for name, src in dl.SOURCES.items():  # every archive that can be fetched has a bound
        assert src.url is None or (src.size or src.max_bytes), name


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (0, ValueError, r"max_bytes must be an integer >= 1, got 0"),
        ("1", TypeError, r"max_bytes must be an integer >= 1, got '1'"),
        (1.5, TypeError, r"max_bytes must be an integer >= 1, got 1\.5"),
        (True, TypeError, r"max_bytes must be an integer >= 1, got True"),
    ],
)
def test_a_bad_max_bytes_is_named(tmp_path, value, error, message):
    # Before: no max_bytes argument (TypeError: unexpected keyword argument)
    with pytest.raises(error, match=message):
        dl.download_file("http://127.0.0.1:9/a", tmp_path / "a", max_bytes=value)


def test_a_body_larger_than_the_free_space_is_refused_before_reading(
    server, tmp_path, monkeypatch
):
    # Before: no check; the transfer ran until the disk was full and ended with an
    # OSError (ENOSPC) from deep inside the write, after filling the disk.
    server.files["/big.bin"] = bytes(range(256)) * 40  # 10,240 bytes
    dest = tmp_path / "big.bin"
    real = shutil.disk_usage

    def nearly_full(path):
        return real(path)._replace(free=10_000)

    monkeypatch.setattr(dl.shutil, "disk_usage", nearly_full)
    with pytest.raises(
        dl.DownloadError,
        match=r"big\.bin from http://127\.0\.0\.1:\d+/big\.bin refused before reading: it "
        r"needs 10240 more bytes and the disk of .* has 10000 free; nothing was written\. "
        r"Free some space",
    ):
        dl.download_file(server.url + "/big.bin", dest, progress=False)
    assert not (tmp_path / "big.bin.part").exists() and not dest.exists()
    # resumed: only the bytes still to come count
    (tmp_path / "big.bin.part").write_bytes(server.files["/big.bin"][:300])
    dl.download_file(server.url + "/big.bin", dest, progress=False)
    assert dest.read_bytes() == server.files["/big.bin"]


def test_archives_made_from_inside_their_folder_are_extracted(tmp_path):
    # Before: IndexError ("tuple index out of range") from safe_extract on the archive
    # that `tar -czf x.tgz -C folder .` makes (its first member is ".", then
    # "./cifar-10-batches-bin/..."), and on a zip with a "./" entry: the member "."
    # has no first path component to count as a top-level entry.
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name in (".", "./set"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tf.addfile(info)
        info = tarfile.TarInfo("./set/a.txt")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"a"))
    (tmp_path / "x.tgz").write_bytes(buf.getvalue())
    assert dl.safe_extract(tmp_path / "x.tgz", tmp_path / "t") == [tmp_path / "t" / "set"]
    assert (tmp_path / "t" / "set" / "a.txt").read_bytes() == b"a"

    with zipfile.ZipFile(tmp_path / "x.zip", "w") as zf:
        zf.writestr("./", "")
        zf.writestr("./set/b.txt", "b")
    assert dl.safe_extract(tmp_path / "x.zip", tmp_path / "z") == [tmp_path / "z" / "set"]
    assert (tmp_path / "z" / "set" / "b.txt").read_bytes() == b"b"


def _tar_of(path, members):
    """A tar at ``path`` of ``(name, kind, data_or_target)``, kind file, dir, sym or hard."""
    with tarfile.open(path, "w") as tf:
        for name, kind, what in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(what)
                tf.addfile(info, io.BytesIO(what))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE}[
                kind
            ]
            info.mode = 0o755 if kind == "dir" else info.mode
            info.linkname = what or ""
            tf.addfile(info)
    return path


@pytest.fixture(params=["data_filter", "no_data_filter"])
def tar_filter(request, monkeypatch):
    """Both kinds of Python: with tarfile.data_filter, and without it (3.10.0-3.10.11,
    3.11.0-3.11.3), where tarfile extracts links unchecked."""
    if request.param == "no_data_filter":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    return request.param


@pytest.mark.parametrize(
    ("members", "match"),
    [
        # b -> ".", then a -> "b/..": a is the parent of the folder
        (
            [("b", "sym", "."), ("a", "sym", "b/.."), ("a/evil.txt", "file", b"pwnd")],
            r"link 'a' -> 'b/\.\.' points outside",
        ),
        # x -> "y/.." is inside while y is not a link; y -> "." then moves it outside
        (
            [("x", "sym", "y/.."), ("y", "sym", "."), ("x/evil.txt", "file", b"pwnd")],
            r"member 'x/evil\.txt' would be written outside .* through the links",
        ),
        ([("x", "sym", "y/.."), ("y", "sym", ".")], r"link 'x' -> 'y/\.\.' points outside"),
        ([("b", "sym", "."), ("h", "hard", "b/../evil.txt")], r"link 'h' -> 'b/\.\./evil"),
        ([("l1", "sym", "l2"), ("l2", "sym", "l1"), ("l1/e.txt", "file", b"x")], "or they loop"),
        # a\b -> "..": the check read a folder a holding b (a link to dest itself), while
        # tarfile writes one entry named 'a\b' in dest, a link to dest's parent; the file
        # was then written outside without data_filter (a late ValueError with it)
        (
            [("a\\b", "sym", ".."), ("a\\b/evil.txt", "file", b"pwnd")],
            r"member 'a\\\\b' \(a link to '\.\.'\) has a backslash",
        ),
        ([("a\\b", "file", b"x")], r"member 'a\\\\b' has a backslash"),
    ],
)
def test_a_chain_of_links_is_refused_before_writing(tmp_path, tar_filter, members, match):
    # Before: the links were resolved against the disk before anything was extracted,
    # where b (or y) did not exist yet. Without tarfile.data_filter the file was written
    # outside the folder (tmp_path/evil.txt) and the link x was left pointing outside;
    # with it, the first case was a ValueError "truncated or damaged archive?" after the
    # links had been written.
    (tmp_path / "w").mkdir()
    archive = _tar_of(tmp_path / "x.tar", members)
    out = tmp_path / "w" / "out"
    with pytest.raises(dl.UnsafeArchiveError, match=match):
        dl.safe_extract(archive, out)
    assert list(out.iterdir()) == []  # nothing written, links included
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w", "x.tar"]
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["out"]


def test_links_that_stay_inside_are_extracted(tmp_path, tar_filter):
    archive = _tar_of(
        tmp_path / "x.tar",
        [
            ("set", "dir", None),
            ("set/f.txt", "file", b"f"),
            ("b", "sym", "set"),
            ("a", "sym", "b/f.txt"),
            ("b/g.txt", "file", b"g"),  # written through b, into set/
            ("set/h.txt", "hard", "b/f.txt"),
        ],
    )
    out = tmp_path / "out"
    assert dl.safe_extract(archive, out) == [out / n for n in ("a", "b", "set")]
    assert (out / "set" / "g.txt").read_bytes() == b"g" and (out / "a").read_bytes() == b"f"
    assert (out / "set" / "h.txt").read_bytes() == b"f"


@pytest.mark.parametrize(
    "members",
    [
        [("x.txt", "file", b"first"), ("x.txt", "file", b"second")],
        [("a/x.txt", "file", b"first"), ("./a//x.txt", "file", b"second")],
        [("x", "dir", None), ("x", "file", b"y")],
        [("x.txt", "file", b"first"), ("x.txt", "sym", "y")],
        # the same place through a link: b is the folder itself
        [("b", "sym", "."), ("x.txt", "file", b"first"), ("b/x.txt", "file", b"second")],
    ],
)
def test_a_member_listed_twice_is_refused(tmp_path, members):
    # Before: the second silently overwrote the first.
    archive = _tar_of(tmp_path / "x.tar", members)
    second = members[-1][0]
    with pytest.raises(dl.UnsafeArchiveError, match=f"member '{second}' is listed twice"):
        dl.safe_extract(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_a_zip_member_listed_twice_is_refused_and_a_folder_twice_is_not(tmp_path):
    with pytest.warns(UserWarning, match="Duplicate name"):
        with zipfile.ZipFile(tmp_path / "x.zip", "w") as zf:
            zf.writestr("x.txt", "first")
            zf.writestr("x.txt", "second")
    with pytest.raises(dl.UnsafeArchiveError, match=r"member 'x\.txt' is listed twice"):
        dl.safe_extract(tmp_path / "x.zip", tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    # a folder listed twice overwrites nothing
    archive = _tar_of(tmp_path / "d.tar", [("d", "dir", None), ("./d/", "dir", None)])
    assert dl.safe_extract(archive, tmp_path / "d") == [tmp_path / "d" / "d"]


def test_the_extracted_total_is_capped_before_writing(tmp_path):
    # Before: no cap; a 305 KB zip wrote 314 MB (safe_extract had no max_bytes).
    with zipfile.ZipFile(tmp_path / "b.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.bin", b"\0" * 600_000)
        zf.writestr("b.bin", b"\0" * 600_000)
    assert (tmp_path / "b.zip").stat().st_size < 5_000
    _tar_of(tmp_path / "b.tar", [("a.bin", "file", b"\0" * 600_000), ("b", "file", b"12")])
    for name, total in (("b.zip", 1_200_000), ("b.tar", 600_002)):
        with pytest.raises(
            dl.UnsafeArchiveError,
            match=f"b\\.{name[2:]}: its members hold {total} bytes uncompressed, more than "
            "max_bytes=600001; nothing was extracted",
        ):
            dl.safe_extract(tmp_path / name, tmp_path / "out", max_bytes=600_001)
        assert list((tmp_path / "out").iterdir()) == []
    assert dl.safe_extract(tmp_path / "b.tar", tmp_path / "ok", max_bytes=600_002)
    assert (tmp_path / "ok" / "a.bin").stat().st_size == 600_000
    assert dl.DEFAULT_MAX_EXTRACTED_BYTES == 4 * dl.DEFAULT_MAX_BYTES
    with pytest.raises(ValueError, match="max_bytes"):
        dl.safe_extract(tmp_path / "b.tar", tmp_path / "ok", max_bytes=0)


def test_the_extracted_total_is_capped_while_writing(tmp_path, monkeypatch):
    # A member holding more than it records (zipfile stops at the recorded size itself,
    # so the record is made to lie after the check): stopped at the cap, what was
    # written removed.
    with zipfile.ZipFile(tmp_path / "b.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.bin", b"\0" * 300_000)
        zf.writestr("b.bin", b"\0" * 300_000)
    monkeypatch.setattr("bottlekit.datasets._archive_extraction._check_total", lambda *args: None)
    with pytest.raises(dl.UnsafeArchiveError, match=r"more than max_bytes=400000 .*removed"):
        dl.safe_extract(tmp_path / "b.zip", tmp_path / "out", max_bytes=400_000)
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("hide_size", [False, True])
def test_a_416_answer_completes_only_a_part_of_the_files_size(server, tmp_path, hide_size):
    # Before: any .part was renamed to dest on a 416 answer, here 92 bytes of another
    # file as the 10-byte f.bin.
    server.files["/f.bin"] = b"0123456789"
    server.hide_size_in_416 = hide_size
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(b"GARBAGE-FROM-ELSEWHERE-" * 4)
    assert dl.download_file(server.url + "/f.bin", dest, progress=False) == dest
    assert dest.read_bytes() == b"0123456789"
    assert not (tmp_path / "f.bin.part").exists()
    assert server.requests == [("/f.bin", "bytes=92-"), ("/f.bin", None)]


def test_a_416_answer_completes_a_part_of_the_files_size(server, tmp_path):
    server.files["/f.bin"] = b"0123456789"
    (tmp_path / "f.bin.part").write_bytes(b"0123456789")
    dl.download_file(server.url + "/f.bin", tmp_path / "f.bin", progress=False)
    assert (tmp_path / "f.bin").read_bytes() == b"0123456789"
    assert server.requests == [("/f.bin", "bytes=10-")]


def test_links_already_in_the_folder_are_followed_only_inside(tmp_path, tar_filter):
    # A link already in the target folder (not from the archive) is resolved on the disk:
    # one to a folder inside is written through, one outside is refused before writing
    # (before: refused by tarfile's data filter as a "damaged archive" after the earlier
    # members were written, and written outside without the filter).
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "in").symlink_to("sub")
    (tmp_path / "outside").mkdir()
    (out / "ext").symlink_to(tmp_path / "outside")
    archive = _tar_of(tmp_path / "a.tar", [("in/e.txt", "file", b"e")])
    dl.safe_extract(archive, out)
    assert (out / "sub" / "e.txt").read_bytes() == b"e"
    archive = _tar_of(tmp_path / "b.tar", [("ok.txt", "file", b"o"), ("ext/e.txt", "file", b"e")])
    with pytest.raises(dl.UnsafeArchiveError, match=r"member 'ext/e\.txt' would be written"):
        dl.safe_extract(archive, out)
    assert list((tmp_path / "outside").iterdir()) == [] and not (out / "ok.txt").exists()


@pytest.mark.parametrize(
    "members",
    [
        [("a.txt", "file", b"a"), ("h", "hard", "missing.txt")],
        [("h", "hard", "a.txt"), ("a.txt", "file", b"a")],  # a later member
        [("d", "dir", None), ("h", "hard", "d")],  # a folder
    ],
)
def test_a_hard_link_to_no_earlier_file_is_refused(tmp_path, tar_filter, members):
    # Before: a bare KeyError ("linkname 'missing.txt' not found") from tarfile, after
    # a.txt had been written (and left in the folder).
    archive = _tar_of(tmp_path / "x.tar", members)
    with pytest.raises(dl.UnsafeArchiveError, match=r"hard link 'h' -> .* names no file"):
        dl.safe_extract(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("name", ["C:x", "a/C:/x", "a\\C:\\x", "C:/x", "C:"])
def test_a_zip_member_with_a_drive_is_refused(tmp_path, name):
    # Before: C:x, a/C:/x and a\C:\x were accepted; safe_extract writes a zip member at
    # root.joinpath(*parts) itself, and on Windows a component C: takes it off dest.
    archive = tmp_path / "z.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.txt", b"1")
        zf.writestr(name, b"2")
    out = tmp_path / "out"
    with pytest.raises(dl.UnsafeArchiveError, match=r"would be written outside"):
        dl.safe_extract(archive, out)
    assert not out.exists() or list(out.iterdir()) == []
