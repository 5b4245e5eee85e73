"""LLM concept generation: one request at a time against bounded concurrency.

A local OpenAI-compatible server on 127.0.0.1 answers every chat request after a fixed
latency (200 ms by default, a typical small-model answer). ``generate`` asks it for the
concepts of ``--classes`` classes (one prompt each), first with ``max_concurrency=1``,
then with ``--concurrency`` threads, each into a fresh cache; the two results must be
identical and in the same order. With ``--rate-limit N`` the server answers 429 with a
``Retry-After`` to any request beyond N in flight, and the run must still succeed.

Run::

    python benchmarks/llm_concurrency.py                  # 200 classes, 200 ms, 16 threads
    python benchmarks/llm_concurrency.py --rate-limit 8   # a server that allows 8 at once
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from bottlekit.concepts import ChatClient, generate


class Server:
    """Chat completions after ``latency`` seconds; 429 beyond ``limit`` requests in flight."""

    def __init__(self, latency: float, limit: int | None, retry_after: float):
        self.requests = self.limited = self.in_flight = self.max_in_flight = 0
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    server.requests += 1
                    over = limit is not None and server.in_flight >= limit
                    if over:
                        server.limited += 1
                    else:
                        server.in_flight += 1
                        server.max_in_flight = max(server.max_in_flight, server.in_flight)
                if over:
                    return self._send(429, {"error": {"message": "rate limited"}}, retry_after)
                try:
                    time.sleep(latency)
                    cls = body["messages"][-1]["content"].split(" of the ")[-1].split(".")[0]
                    text = f"- {cls} colour\n- {cls} marking\n- shared trait"
                    self._send(
                        200,
                        {
                            "id": f"chatcmpl-{server.requests}",
                            "object": "chat.completion",
                            "created": 0,
                            "model": body["model"],
                            "choices": [
                                {
                                    "index": 0,
                                    "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": text},
                                }
                            ],
                        },
                    )
                finally:
                    with lock:
                        server.in_flight -= 1

            def _send(self, status, payload, retry_after=None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if retry_after is not None:
                    self.send_header("Retry-After", str(retry_after))
                self.end_headers()
                self.wfile.write(data)

        ThreadingHTTPServer.request_queue_size = 128
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def run(url: str, classes: list[str], concurrency: int):
    with tempfile.TemporaryDirectory() as cache_dir:
        llm = ChatClient("bench", base_url=url, api_key="k", cache_dir=cache_dir, backoff=0.05)
        t0 = time.perf_counter()
        out = generate(
            None, classes, llm, prompts=["color"], max_concurrency=concurrency, progress=False
        )
        return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2, help="server seconds per answer")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rate-limit", type=int, default=None, help="429 beyond N in flight")
    parser.add_argument("--retry-after", type=float, default=0.2)
    args = parser.parse_args()
    logging.getLogger("bottlekit.concepts.llm").setLevel(logging.ERROR)  # 429 retries

    classes = [f"bird {i}" for i in range(args.classes)]
    server = Server(args.latency, args.rate_limit, args.retry_after)
    try:
        run(server.url, classes[:2], 2)  # warm-up: imports, first connection
        t_seq, seq = run(server.url, classes, 1)
        server.requests = server.limited = server.max_in_flight = 0
        t_par, par = run(server.url, classes, args.concurrency)
    finally:
        server.stop()
    assert par.names == seq.names and par.provenance is not None
    np.testing.assert_array_equal(par.class_prior, seq.class_prior)

    n = len(classes)
    print(
        f"{n} classes x 1 prompt against a local server answering in {args.latency * 1000:.0f} ms"
        + (f", 429 beyond {args.rate_limit} in flight" if args.rate_limit else "")
    )
    print(f"{'run':<34}{'seconds':>10}{'req/s':>10}{'ratio':>10}")
    print(f"{'one request at a time':<34}{t_seq:>10.2f}{n / t_seq:>10.1f}{1.0:>10.2f}")
    print(
        f"{f'max_concurrency={args.concurrency}':<34}{t_par:>10.2f}{n / t_par:>10.1f}"
        f"{t_seq / t_par:>10.2f}"
    )
    print(
        f"concurrent run: {server.requests} requests, {server.limited} answered 429, "
        f"at most {server.max_in_flight} in flight; results identical to the sequential run"
    )


if __name__ == "__main__":
    main()
