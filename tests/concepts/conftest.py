"""Shared fixtures for the concept tests: a fake backbone and a local chat-completions server."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest


def word_vector(word: str, dim: int) -> np.ndarray:
    """A fixed pseudo-random unit vector per word (seeded by the word's SHA-256)."""
    seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(dim)
    return v / np.linalg.norm(v)


class FakeBackbone:
    """Hashed bag-of-words text encoder with the Backbone protocol (id, embed_dim, encode_*)."""

    def __init__(self, dim: int = 64, id: str = "fake-bow-64"):
        self.id = id
        self.embed_dim = dim
        self.calls: list[list[str]] = []

    def _encode_one(self, text: str) -> np.ndarray:
        words = re.findall(r"\w+", text.lower()) or ["<empty>"]
        v = np.sum([word_vector(w, self.embed_dim) for w in words], axis=0)
        return v / np.linalg.norm(v)

    def encode_texts(self, texts, templates=None):
        texts = list(texts)
        self.calls.append(texts)
        if not templates:
            return np.stack([self._encode_one(t) for t in texts]).astype(np.float32)
        out = []
        for t in texts:
            m = np.mean([self._encode_one(tpl.format(t)) for tpl in templates], axis=0)
            out.append(m / np.linalg.norm(m))
        return np.stack(out).astype(np.float32)

    def encode_images(self, images, batch_size=32, progress=False):
        # "images" are strings of words in these tests: encoded like texts
        return self.encode_texts(list(images))


@pytest.fixture
def backbone():
    return FakeBackbone()


class ChatServer:
    """A threading HTTP server implementing POST /v1/chat/completions on 127.0.0.1."""

    def __init__(self, responder):
        self.responder = responder
        self.bodies: list[dict] = []
        self.arrivals: list[float] = []  # time.monotonic() of each request, in order
        self.answered = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.arrivals.append(time.monotonic())
                    server.bodies.append(body)
                    n = len(server.bodies)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer(body, n)
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _answer(self, body, n):
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": "not found"}})
                result = server.responder(body)
                if isinstance(result, bytes):  # a raw 200 body (e.g. not JSON)
                    return self._send(200, result)
                status, content, *extra = result
                if status != 200:
                    headers = extra[0] if extra else {"Retry-After": "0"}
                    return self._send(
                        status, {"error": {"message": content, "type": "x"}}, headers
                    )
                with server.lock:
                    server.answered += 1
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{n}",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": content},
                            }
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    },
                )

            def _send(self, status, payload, headers=None):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.httpd.server_close()


@pytest.fixture
def chat_server():
    """Factory ``chat_server(responder) -> ChatServer``; every server is stopped at the end.

    ``responder(body) -> (status, content)`` gets the parsed request body; it may also
    return ``(status, message, headers)`` for an error with its own headers, or ``bytes``
    to send as a raw HTTP 200 body.
    """
    started = []

    def make(responder):
        s = ChatServer(responder)
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()
