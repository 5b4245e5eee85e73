"""Reads that fail in the distributed package, without Ray: a shard that the file system
cannot read (not damaged), and a URL item without an end. Each case says what happened
before it was fixed."""

from __future__ import annotations

import errno
import http.server
import io
import threading

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pyarrow")  # comes with the [distributed] extra

from bottlekit.distributed import item_reading, shards
from bottlekit.distributed.concept_stats import ConceptStats
from bottlekit.distributed.items import load_item
from bottlekit.distributed.shards import shard_path, stats_path, verify_shard, write_shard
from bottlekit.images import ImageInputError

EMB = np.arange(6, dtype=np.float32).reshape(3, 2)
ROWS = {"paths": ["a", "b", "c"], "keys": ["ka", "kb", "kc"], "labels": [0, None, 1]}


# --- verify_shard: a read error of the file system is no damage ------------------------


@pytest.fixture()
def shard(tmp_path, monkeypatch):
    """An intact shard 0 of job "J", and no waiting between read attempts."""
    monkeypatch.setattr(shards, "READ_RETRY_WAIT_S", 0.0)
    write_shard(tmp_path, 0, embeddings=EMB, concepts=None, meta={"job": "J"}, **ROWS)
    return tmp_path


def _failing_read(monkeypatch, error, times=None):
    """Make the shard's Parquet read raise ``error`` (the first ``times`` reads, or all)."""
    real, calls = shards._read, []

    def read(path):
        calls.append(path)
        if times is None or len(calls) <= times:
            raise error
        return real(path)

    monkeypatch.setattr(shards, "_read", read)
    return calls


def test_a_temporary_read_error_is_retried_and_the_shard_kept(shard, monkeypatch, recwarn):
    # before: one EIO (a network file system's hiccup) made verify_shard report the intact
    # shard as "unusable", delete it and its statistics, and redo the work
    calls = _failing_read(monkeypatch, OSError(errno.EIO, "Input/output error"), times=1)
    problems: list[str] = []
    meta = verify_shard(shard, 0, "J", with_stats=False, problems=problems)
    assert meta is not None and meta["n"] == 3
    assert len(calls) == 2 and not problems and shard_path(shard, 0).exists()
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize(
    "error, attempts, raised",
    [
        (OSError(errno.EIO, "Input/output error"), 3, OSError),
        (OSError(errno.EAGAIN, "Resource temporarily unavailable"), 3, BlockingIOError),
        (TimeoutError("timed out"), 3, TimeoutError),
        (PermissionError(errno.EACCES, "Permission denied"), 1, PermissionError),  # no retry
    ],
)
def test_a_lasting_read_error_is_raised_and_the_shard_kept(
    shard, monkeypatch, error, attempts, raised
):
    # before: the shard was silently taken for damaged, deleted and redone (a whole
    # folder of intact shards on a file system that failed for a minute)
    calls = _failing_read(monkeypatch, error)
    problems: list[str] = []
    with pytest.raises(raised, match=r"part-000000\.parquet' or its statistics could not be read"):
        verify_shard(shard, 0, "J", with_stats=False, problems=problems)
    assert len(calls) == attempts and not problems and shard_path(shard, 0).exists()


def test_a_read_error_of_the_statistics_file_is_raised_too(shard, monkeypatch):
    # before: an EIO on part-*.stats.safetensors removed the shard and its statistics
    st = ConceptStats.from_scores(
        np.zeros((3, 1), np.float32), np.array([0, -1, 1]), ROWS["paths"], ["c"], ["x", "y"]
    )
    stats_path(shard, 0).write_bytes(st.to_bytes({"sha256": "x", "shard": 0}))

    def read(cls, path):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(ConceptStats, "read", classmethod(read))
    with pytest.raises(OSError, match="could not be read") as info:
        verify_shard(shard, 0, "J", with_stats=True)
    assert info.value.errno == errno.EIO
    assert shard_path(shard, 0).exists() and stats_path(shard, 0).exists()


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "magic bytes"),
        (lambda p: p.write_bytes(b"not parquet" * 40), "magic bytes"),
        (lambda p: None, "no shard's concept statistics file"),  # (missing: FileNotFoundError)
    ],
)
def test_damaged_shards_are_still_redone(shard, damage, reason):
    # (kept: truncated or unparseable files and a missing statistics file are damage)
    damage(shard_path(shard, 0))
    problems: list[str] = []
    with pytest.warns(RuntimeWarning, match="removed and redone"):
        assert verify_shard(shard, 0, "J", with_stats=True, problems=problems) is None
    assert not shard_path(shard, 0).exists() and len(problems) == 1 and reason in problems[0]


# --- URL items: a body without an end ----------------------------------------------------

SERVER_LIMIT = 32 * 1024 * 1024  # what the test server sends at most, then it ends the body


class _Endless(http.server.BaseHTTPRequestHandler):
    """``/endless``: a chunked body with no Content-Length that goes on (to SERVER_LIMIT);
    ``/declared``: a Content-Length over the cap; ``/small``: a PNG."""

    protocol_version = "HTTP/1.1"
    sent = 0

    def do_GET(self):
        if self.path == "/small":
            buf = io.BytesIO()
            Image.fromarray(np.full((4, 4, 3), 200, np.uint8)).save(buf, format="PNG")
            self.send_response(200)
            self.send_header("Content-Length", str(len(buf.getvalue())))
            self.end_headers()
            self.wfile.write(buf.getvalue())
            return
        self.send_response(200)
        if self.path == "/declared":
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"\0" * 65536
        try:
            while type(self).sent < SERVER_LIMIT:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                type(self).sent += len(chunk)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Endless)
    _Endless.sent = 0
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def test_an_endless_url_body_is_cut_at_the_cap(server, monkeypatch):
    # before: resp.read() read the whole body into memory (an endless one until the worker
    # ran out of memory; here the server's 32 MiB, then PIL's "cannot identify image")
    cap = 256 * 1024
    monkeypatch.setattr(item_reading, "MAX_URL_ITEM_BYTES", cap)
    url = f"{server}/endless"
    with pytest.raises(ImageInputError) as info:
        load_item(url, None, 0)
    message = str(info.value)
    assert f"URL {url!r}" in message
    assert f"more than MAX_URL_ITEM_BYTES = {cap} bytes ({cap + 1} bytes read" in message
    assert _Endless.sent < SERVER_LIMIT  # the read stopped; the server did not finish


def test_a_declared_length_over_the_cap_is_refused_unread(server):
    # before: MemoryError (http.client allocated the declared 10**12 bytes at once)
    with pytest.raises(ImageInputError, match=r"Content-Length is 1000000000000 bytes \(none"):
        load_item(f"{server}/declared", None, 0)
    assert item_reading.MAX_URL_ITEM_BYTES == 64 * 1024 * 1024


def test_a_small_url_image_still_reads(server):
    img, key = load_item(f"{server}/small", None, 0)
    assert img.size == (4, 4) and np.asarray(img)[0, 0].tolist() == [200, 200, 200] and key


@pytest.mark.parametrize("script", ["trickled headers", "endless 100 Continue"])
def test_a_url_answer_that_never_ends_is_cut(hostile_http, monkeypatch, script):
    # before: urlopen's per-read timeout (30 s) was the only bound, and a server trickling
    # its headers, or sending "100 Continue" without end, passes every read: the worker's
    # item never ended (the 5 s guard here, against a 0.5 s timeout)
    monkeypatch.setattr(item_reading, "_URL_TIMEOUT_S", 0.5)
    url = hostile_http.serve(hostile_http.scripts(delay=0.4)[script]) + "/a.png"
    out = hostile_http.run(lambda: load_item(url, None, 0), limit=5)
    assert isinstance(out.error, TimeoutError), repr(out.error)
    assert "deadline of 0.5 s" in str(out.error) and out.seconds < 2
    assert out.threads == [] and hostile_http.client_sockets() == []
