"""Shared fixtures. Every test runs offline and with a private embedding cache."""

from __future__ import annotations

import gc
import itertools
import os
import socket
import socketserver
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

# No test may touch the network: open_clip / huggingface_hub go offline, so a missing
# file is reported at once instead of after ~25 s of connection retries.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

CONFIG_DIR = Path(__file__).parent / "configs"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Each test gets its own BOTTLEKIT_CACHE so tests never see each other's shards."""
    monkeypatch.setenv("BOTTLEKIT_CACHE", str(tmp_path_factory.mktemp("bk-cache")))


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    """One BLAS thread (numpy's and scipy's OpenBLAS) for the whole run.

    The arrays of the tests are small: extra BLAS threads only synchronise, and on a
    shared 2-core machine they wait for each other, the more so once torch's OpenMP
    threads exist too (measured there: ``np.linalg.eigvalsh`` of an 800 x 800 matrix 0.03 s
    with one thread, 0.6 s with two, 3-5 s with two after torch ran; the Renyi cases of
    tests/estimators/test_extreme_inputs.py 31 s instead of 0.3 s). Results do not change
    beyond float rounding. torch's own threads are left as they are (the tests of
    ``model_threads`` and of training across threads need them); the folders whose tests
    fit many tiny torch models set those to one themselves.
    """
    import scipy.linalg  # noqa: F401  (scipy's own OpenBLAS: limited only once loaded)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="session")
def tiny_configs() -> list[str]:
    """Register the small test architectures through open_clip's config mechanism."""
    from bottlekit.backbones import register_model_config

    return register_model_config(CONFIG_DIR)


@pytest.fixture(scope="session")
def rng_images() -> np.ndarray:
    """Six random 48x40 RGB images (non-square, so resize + crop are exercised)."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(6, 48, 40, 3), dtype=np.uint8)


@pytest.fixture
def run_as_main(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    """``run(module, *argv)``: ``python -m module *argv`` in this process, returning its
    exit status, stdout and stderr.

    runpy runs the module's ``if __name__ == "__main__"`` block, as ``python -m`` does, so
    the exit status and the words of the command itself are checked, in a fraction of a
    second instead of a fresh interpreter's import of torch (seconds). A test that needs a
    process of its own (what is imported, signals, pipes, a crash) starts one.
    """
    import runpy
    import sys
    import warnings

    def run(module: str, *argv: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", [module, *argv])
        capsys.readouterr()  # what the test printed before
        status: object = 0
        with warnings.catch_warnings():
            # runpy's note that the tests have imported the module already
            warnings.filterwarnings("ignore", r".* found in sys\.modules", RuntimeWarning)
            try:
                runpy.run_module(module, run_name="__main__", alter_sys=True)
            except SystemExit as e:
                status = e.code
        out, err = capsys.readouterr()
        if status is None:
            status = 0
        return (status if isinstance(status, int) else 1), out, err

    return run


# ------------------------------------------------- HTTP servers that answer without end
class HostileHTTP:
    """Raw HTTP servers on 127.0.0.1 whose answer never ends although each byte of it
    comes within a read timeout, and a guard that runs the client's call in a thread, so
    that a call that hangs fails its test instead of holding the run.

    An answer is a script: ``(bytes, delay)`` pairs, each sent ``delay`` seconds after the
    one before; the server reads the request (its headers and ``Content-Length`` body)
    first. Every server stops, and every script with it, when the test ends.
    """

    @staticmethod
    def _bytewise(data: bytes, delay: float):
        for b in data:
            yield bytes([b]), delay

    def scripts(self, delay: float) -> dict:
        """The answers, by name; ``delay`` is the slow gap (just below the timeout)."""
        fast = 0.001
        return {
            # status line and headers, one byte per `delay`, for ever
            "trickled headers": lambda: self._bytewise(
                b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 10**6, delay
            ),
            # `100 Continue` without end, fast (no read ever times out) or slow
            "endless 100 Continue": lambda: iter(
                lambda: (b"HTTP/1.1 100 Continue\r\n\r\n", fast), None
            ),
            "slow 100 Continue": lambda: iter(
                lambda: (b"HTTP/1.1 100 Continue\r\n\r\n", delay), None
            ),
            # header lines without end, one per `delay`
            "endless header lines": lambda: itertools.chain(
                [(b"HTTP/1.1 200 OK\r\n", 0)], iter(lambda: (b"X-Pad: a\r\n", delay), None)
            ),
            # a chunked body whose first chunk-size line (its extension) trickles: no byte
            # of data ever comes out of it
            "trickled chunk line": lambda: itertools.chain(
                [(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1", 0)],
                self._bytewise(b";" + b"a" * 10**6, delay),
            ),
        }

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._servers: list = []

    def serve(self, script) -> str:
        """Start a server answering every request with ``script()``; its base URL."""
        stop = self._stop

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                length = 0
                while (line := self.rfile.readline()) not in (b"", b"\r\n", b"\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.rfile.read(length)
                try:
                    for data, delay in script():
                        if stop.wait(delay):
                            return
                        self.connection.sendall(data)
                except OSError:  # the client hung up, as it should
                    return

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        self._servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}"

    def run(self, call, limit: float) -> SimpleNamespace:
        """``call()`` in a thread; ``.error`` (the exception it raised, or None),
        ``.seconds`` (how long it took) and ``.threads`` (threads it started that are
        still alive: none may remain). A call still running after ``limit`` seconds fails
        the test (the servers are stopped so that the call ends)."""
        box: dict = {}

        def target():
            try:
                box["result"] = call()
            except BaseException as exc:  # handed to the test
                box["error"] = exc

        before = set(threading.enumerate())
        worker = threading.Thread(target=target, daemon=True)
        start = time.monotonic()
        worker.start()
        worker.join(limit)
        took = time.monotonic() - start
        if worker.is_alive():
            self.stop()
            worker.join(10)
            pytest.fail(f"the call did not end within {limit} s (a hang)")
        threads = [
            t
            for t in threading.enumerate()
            # (not the servers' request threads, nor tqdm's one monitor per process)
            if t not in before
            and "process_request_thread" not in t.name
            and t.name != "tqdm_monitor"
        ]
        return SimpleNamespace(error=box.get("error"), seconds=took, threads=threads)

    def client_sockets(self) -> list:
        """Open sockets of this process connected to one of the servers (the client's
        side): none may remain once a call has failed."""
        ports = {server.server_address[1] for server, _ in self._servers}
        gc.collect()
        found = []
        for obj in gc.get_objects():
            if issubclass(type(obj), socket.socket) and obj.fileno() != -1:
                try:
                    peer = obj.getpeername()
                except OSError:
                    continue
                if peer[1] in ports:
                    found.append(obj)
        return found

    def stop(self) -> None:
        self._stop.set()
        for server, thread in self._servers:
            server.shutdown()
            server.server_close()
            thread.join()
        self._servers.clear()


@pytest.fixture
def hostile_http():
    """A :class:`HostileHTTP`; its servers are stopped at the end of the test."""
    hostile = HostileHTTP()
    yield hostile
    hostile.stop()
