"""A hostile OpenAI-compatible endpoint: bodies of the wrong shape, bodies that are too
long or never end, absurd ``Retry-After`` waits, redirects, and answers that defeat the
parser. Each server is a raw HTTP server on 127.0.0.1, started and stopped by its test;
each case says what happened before the fix. (``test_llm_faults.py`` covers non-JSON
bodies, ``content: null``, deadlines, an unreachable endpoint and rate limits.)
"""

from __future__ import annotations

import json
import re
import threading
import time
import warnings
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("openai")

from bottlekit.concepts import ChatClient, _llm_http
from bottlekit.concepts.llm import LLMError, LLMParseError, parse_concept_list

MSG = [{"role": "user", "content": "hi"}]


def _completion(message) -> bytes:
    choice = {"index": 0, "finish_reason": "stop", "message": message}
    return json.dumps({"id": "c1", "object": "chat.completion", "created": 0, "model": "m",
                       "choices": [choice]}).encode()  # fmt: skip


class RawServer:
    """``behave(handler)`` writes the whole response itself (status, headers, body)."""

    def __init__(self, behave):
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(handler):  # the RawServer is `self` here
                handler.rfile.read(int(handler.headers["Content-Length"]))
                self.requests += 1
                try:
                    behave(handler)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, as it should

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    started = []

    def make(behave):
        started.append(RawServer(behave))
        return started[-1]

    yield make
    for s in started:
        s.stop()


def _send(handler, status, body=b"", headers=()):
    handler.send_response(status)
    for k, v in headers:
        handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _client(url, tmp_path, **kw):
    kw = {"max_retries": 0, "backoff": 0.0, "timeout": 5, "max_parse_retries": 0, **kw}
    return ChatClient("m", base_url=url, api_key="sk-test", cache_dir=tmp_path, **kw)


# --------------------------------------------------------- bodies of the wrong shape
@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ("hi", "choice without a message"),  # before: AttributeError 'str' ... 'content'
        ({"role": "assistant", "content": 5}, "content is int, not text"),  # before:
        ({"role": "assistant", "content": ["a"]}, "content is list, not text"),  # .strip()
    ],
)
def test_a_completion_of_the_wrong_shape_is_a_malformed_response(
    serve, tmp_path, message, problem
):
    # Before: AttributeError from deep inside (message.content, text.strip()).
    server = serve(lambda h: _send(h, 200, _completion(message)))
    with pytest.raises(LLMError, match=r"not a chat completion: .*" + problem):
        _client(server.url, tmp_path).complete(MSG)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,  # before: RecursionError out of complete()
        # before: ValueError "Exceeds the limit (4300 digits) for integer string conversion"
        _completion({"role": "assistant", "content": "- a"})[:-1]
        + b', "n": 1'
        + b"0" * 5000
        + b"}",
    ],
    ids=["nested too deep", "5000-digit integer"],
)
def test_a_body_json_cannot_decode_is_a_malformed_response(serve, tmp_path, body):
    # (declared JSON: the SDK decodes it; a body of another type is read as text)
    server = serve(lambda h: _send(h, 200, body, [("Content-Type", "application/json")]))
    with pytest.raises(LLMError, match=r"after 2 attempt.*not a chat completion"):
        _client(server.url, tmp_path, max_retries=1).complete(MSG)
    assert server.requests == 2  # retried, as a body that is not JSON is


# ------------------------------------------------------ bodies too long / never ending
def _declared_too_long(h):
    _send(h, 200, b" " * 200_000)


def _chunked_long(h):
    # ends after 4 MB here, so that the old client, which read everything, got to the
    # end; an endless body filled memory (MemoryError at a 4 GB limit in the sweep)
    h.send_response(200)
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    chunk = b" " * 65536
    for _ in range(64):
        h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    h.wfile.write(b"0\r\n\r\n")


@pytest.mark.parametrize("behave", [_declared_too_long, _chunked_long])
def test_a_body_longer_than_the_cap_fails_at_once(serve, tmp_path, monkeypatch, behave):
    # Before: the whole body was read into memory, whatever its length.
    # (the cap is read where the HTTP client is made: _llm_http)
    monkeypatch.setattr(_llm_http, "MAX_RESPONSE_BYTES", 100_000)
    server = serve(behave)
    with pytest.raises(LLMError, match=r"too large to be a chat completion.*100000"):
        _client(server.url, tmp_path, max_retries=3).complete(MSG)
    assert server.requests == 1  # not retried


def _compressed(data: bytes, wbits: int) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return c.compress(data) + c.flush()


def test_a_compressed_body_that_inflates_past_the_cap_fails_at_once(serve, tmp_path, monkeypatch):
    # Before: only the bytes sent were counted; the client inflated them all into memory
    # (400 kB of gzip became 400 MB, and 16 MiB of it would become 16 GiB).
    monkeypatch.setattr(_llm_http, "MAX_RESPONSE_BYTES", 100_000)
    bomb = _compressed(b" " * 5_000_000, 31)
    assert len(bomb) < 10_000
    server = serve(lambda h: _send(h, 200, bomb, [("Content-Encoding", "gzip")]))
    with pytest.raises(LLMError, match=r"too large.*exceeds 100000 bytes .* once decoded"):
        _client(server.url, tmp_path, max_retries=3).complete(MSG)
    assert server.requests == 1


@pytest.mark.parametrize(("encoding", "wbits"), [("gzip", 31), ("deflate", 15), ("deflate", -15)])
def test_a_compressed_answer_within_the_cap_is_read(serve, tmp_path, encoding, wbits):
    body = _compressed(_completion({"role": "assistant", "content": "- red crest"}), wbits)
    seen = []

    def behave(h):
        seen.append(h.headers["Accept-Encoding"])
        _send(h, 200, body, [("Content-Encoding", encoding)])

    server = serve(behave)
    assert _client(server.url, tmp_path).complete(MSG).text == "- red crest"
    assert seen == ["gzip, deflate"]


@pytest.mark.parametrize("encoding", ["br", "gzip, gzip"])
def test_a_body_in_an_encoding_not_asked_for_is_refused(serve, tmp_path, encoding):
    # Before: decoded by the client where it could (brotli, zstandard installed), as
    # much as it inflated to; otherwise retried as "not a chat completion".
    server = serve(lambda h: _send(h, 200, b"x" * 100, [("Content-Encoding", encoding)]))
    with pytest.raises(LLMError, match=rf"cannot be read: .*Content-Encoding '{encoding}'"):
        _client(server.url, tmp_path, max_retries=3).complete(MSG)
    assert server.requests == 1


def test_a_body_that_trickles_is_cut_by_the_timeout(serve, tmp_path):
    # Before: each byte arrived within the read timeout, so the attempt never timed out
    # (an endless trickle hung the run; this one stops after 4 s).
    def trickle(h):
        h.send_response(200)
        h.send_header("Content-Length", "100000")
        h.end_headers()
        for _ in range(80):
            h.wfile.write(b" ")
            h.wfile.flush()
            time.sleep(0.05)

    server = serve(trickle)
    start = time.monotonic()
    with pytest.raises(LLMError, match=r"timed out|Timeout"):
        _client(server.url, tmp_path, timeout=0.5).complete(MSG)
    assert time.monotonic() - start < 2.5


# ------------------------------------------------- headers that never end (deadline)
# Before (each case): every byte came within the 0.5 s read timeout, so no read timed out
# and the attempt did not end within the 5 s guard (10x the timeout): h11 takes 100 kB of
# status line and headers (14 hours at 0.5 s a byte), "100 Continue" without end never
# ended, and neither did a chunked body whose chunk-size line trickles (no chunk of data
# came out, so the body's own time check never ran).
@pytest.mark.parametrize(
    "script",
    [
        "trickled headers",
        "endless 100 Continue",
        "slow 100 Continue",
        "endless header lines",
        "trickled chunk line",
    ],
)
def test_an_answer_that_never_ends_is_cut_by_the_timeout(hostile_http, tmp_path, script):
    url = hostile_http.serve(hostile_http.scripts(delay=0.4)[script]) + "/v1"
    llm = _client(url, tmp_path, timeout=0.5)
    out = hostile_http.run(lambda: llm.complete(MSG), limit=5)
    assert isinstance(out.error, LLMError), repr(out.error)
    assert re.search(r"after 1 attempt.*timed out", str(out.error))
    assert out.seconds < 2
    assert out.threads == [] and hostile_http.client_sockets() == []


def test_request_deadline_bounds_attempts_whose_headers_trickle(hostile_http, tmp_path):
    # Before: the attempt's timeout was cut to the deadline for each read only, so the
    # first attempt of a request with request_deadline=1 did not end within the 5 s guard.
    url = hostile_http.serve(hostile_http.scripts(delay=0.4)["trickled headers"]) + "/v1"
    llm = _client(url, tmp_path, timeout=60, request_deadline=1, max_retries=5, backoff=0.01)
    out = hostile_http.run(lambda: llm.complete(MSG), limit=5)
    assert isinstance(out.error, LLMError), repr(out.error)
    assert re.search(r"deadline.*request_deadline=1", str(out.error))
    assert out.seconds < 2
    assert out.threads == [] and hostile_http.client_sockets() == []


def test_a_slow_but_complete_answer_within_the_timeout_is_taken(hostile_http, tmp_path):
    # The deadline bounds the attempt, not an endpoint that thinks before it answers.
    body = _completion({"role": "assistant", "content": "slow but sure"})
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    head += b"Content-Length: %d\r\n\r\n" % len(body)
    url = hostile_http.serve(lambda: iter([(head, 0.3), (body, 0.1)])) + "/v1"
    assert _client(url, tmp_path, timeout=1).complete(MSG).text == "slow but sure"


def test_every_pool_of_the_client_obeys_the_deadline(monkeypatch):
    # the pools of proxies taken from the environment too; an httpx whose pools are not
    # found says so instead of running without the deadline unnoticed
    import openai

    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client = _llm_http._bounded_http_client(openai, 5.0)
    pools = [client._transport._pool, *(t._pool for t in client._mounts.values() if t)]
    assert len(pools) >= 2
    assert all(isinstance(p._network_backend, _llm_http._DeadlineBackend) for p in pools)
    client.close()
    with pytest.warns(RuntimeWarning, match="cannot bound the HTTP exchanges"):
        _llm_http._obey_deadlines(object())


# ------------------------------------------------------------------ Retry-After
@pytest.mark.parametrize("retry_after", ["1000000000", "9" * 400, "Fri, 31 Dec 9999 23:59:59 GMT"])
@pytest.mark.parametrize("status", [429, 503])
def test_an_absurd_retry_after_fails_at_once_without_a_deadline(
    serve, tmp_path, retry_after, status
):
    # Before: with request_deadline=None the client slept for what the server asked
    # (31 years for 1e9; time.sleep(inf) raised OverflowError).
    server = serve(
        lambda h: _send(h, status, b'{"error": {"message": "x"}}', [("Retry-After", retry_after)])
    )
    llm = _client(server.url, tmp_path, max_retries=2, request_deadline=None)
    sleeps = []
    llm._sleep = sleeps.append
    with pytest.raises(LLMError, match=r"asked to wait .*s before retrying.*MAX_RETRY_AFTER"):
        llm.complete(MSG)
    assert sleeps == []


def _failed(headers):
    class Failed:
        response = type("R", (), {"headers": headers})()

    return Failed()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 120\t", 120.0),  # optional whitespace around a field value
        ("0", 0.0),
        ("007", 7.0),
        ("9" * 400, float("inf")),  # beyond float's range: refused by MAX_RETRY_AFTER
        ("9" * 5000, float("inf")),  # more digits than int() converts
        # not delay-seconds (1*DIGIT, ASCII) nor an HTTP date: no Retry-After at all
        ("1_000", None),
        ("inf", None),
        ("nan", None),
        (" 1e3 ", None),
        ("1.5", None),
        ("-5", None),
        ("+5", None),
        ("\u0661\u0662", None),  # ARABIC-INDIC DIGITS ONE, TWO
        ("\uff11", None),  # FULLWIDTH DIGIT ONE
        ("", None),
        ("1 2", None),
    ],
)
def test_retry_after_seconds_are_ascii_digits_only(value, seconds):
    # Before: float() read "1_000" as 1000 s, "inf" as inf, " 1e3 " as 1000 s, "\u0661\u0662"
    # as 12 s, "-5" as 0 s and "nan" as 0 s (max(0.0, nan)): an immediate retry.
    assert _llm_http._retry_after(_failed({"retry-after": value})) == seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1500", 1.5), ("250.5", 0.2505), ("inf", 7.0), ("nan", 7.0), ("-1", 7.0), ("1e3", 7.0)],
)
def test_retry_after_ms_is_ascii_digits_else_retry_after_is_read(value, seconds):
    # Before: "nan" ms gave 0 s (an immediate retry), "inf" an infinite wait.
    headers = {"retry-after-ms": value, "retry-after": "7"}
    assert _llm_http._retry_after(_failed(headers)) == seconds


# -------------------------------------------------------------------- redirects
@pytest.mark.parametrize("status", [307, 302])
def test_a_redirect_to_another_address_is_not_followed(serve, tmp_path, status):
    # Before: a 307 was followed and the prompt went to the other address (whose answer
    # was used); a 302 became a GET and failed as "HTTP 501" without saying why.
    other = serve(lambda h: _send(h, 200, _completion({"role": "assistant", "content": "- x"})))
    target = other.url + "/chat/completions"
    server = serve(lambda h: _send(h, status, b"", [("Location", target)]))
    with pytest.raises(LLMError, match=rf"HTTP {status}, a redirect to '{target}'.*base_url"):
        _client(server.url, tmp_path).complete(MSG)
    assert other.requests == 0


# ------------------------------------------------------------- hostile answers
def test_an_answer_nested_too_deep_is_a_parse_error():
    # Before: RecursionError from json.loads, out of parse_concept_list.
    with pytest.raises(LLMParseError):
        parse_concept_list("[" * 5000)


def test_a_long_answer_of_open_brackets_is_parsed_in_linear_time():
    # Before: a regular expression took quadratic time: 16 s for these 200 000
    # characters, hours for an answer of a few MB.
    start = time.monotonic()
    with pytest.raises(LLMParseError):
        parse_concept_list("x[" * 100_000)
    assert time.monotonic() - start < 1.0


def test_a_long_run_of_white_space_is_parsed_in_linear_time():
    # Before: the code-fence pattern's "\s*```$" scanned the rest of every run of white
    # space from each of its characters: 17 s for these 100 000 spaces, and a 16 MiB
    # answer (within MAX_RESPONSE_BYTES) held the run for days.
    start = time.monotonic()
    assert parse_concept_list("- red" + " " * 100_000 + "crest") == ["red crest"]
    assert time.monotonic() - start < 1.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('```json\n["red crest", "long tail"]\n```', ["red crest", "long tail"]),
        ("```\n- red crest\n- long tail  \n```  ", ["red crest", "long tail"]),
        ("- red crest\n- long tail```", ["red crest", "long tail"]),
        ("```- red crest", ["red crest"]),
    ],
)
def test_a_code_fence_around_an_answer_is_dropped(text, expected):
    assert parse_concept_list(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('["red crest", "long tail", "whi', ["red crest", "long tail"]),
        ('["red crest", "long tail"', ["red crest", "long tail"]),
        (
            '```json\n{"concepts": ["red crest", "long \\"tail\\"", "bl',
            ["red crest", 'long "tail"'],
        ),
        (
            '[{"concept": "red crest"}, {"concept": "long tail"}, {"conc',
            ["red crest", "long tail"],
        ),
    ],
)
def test_a_json_answer_cut_short_gives_its_complete_items(text, expected):
    # Before: not JSON, so split at its commas: '["red crest"' was a concept, and so was
    # the item cut mid-word ("whi"), as when max_tokens ends an answer.
    assert parse_concept_list(text) == expected


@pytest.mark.parametrize("text", ['{"answer": "red crest", "note": "long', '["whi'])
def test_a_json_answer_cut_short_without_a_complete_item_is_a_parse_error(text):
    # Before: '{"answer": "red crest"' and '["whi' were concepts.
    with pytest.raises(LLMParseError, match=r"JSON answer cut short \(no complete list"):
        parse_concept_list(text)


def test_a_json_answer_cut_short_is_parsed_in_linear_time():
    # (a search for string literals from each quote took 3.6 s for 16 000 escaped quotes)
    start = time.monotonic()
    with pytest.raises(LLMParseError, match="cut short"):
        parse_concept_list('["' + '\\"' * 200_000)
    assert parse_concept_list('["a", ' * 100_000 + '"b') == ["a"]
    # 0.35 s now; the quadratic search would take minutes (12.5x the input of its 3.6 s),
    # so a bound this loose tells the two apart even on a machine loaded by other work
    # (1.0 s failed there)
    assert time.monotonic() - start < 20.0


def test_an_answer_that_only_starts_with_a_bracket_is_read_as_lines():
    assert parse_concept_list("[1] red crest\n[2] long tail") == ["[1] red crest", "[2] long tail"]


def test_a_list_amid_prose_is_still_found():
    assert parse_concept_list('Sure: ["red crest", "long tail"] and {"n": 2}.') == [
        "red crest",
        "long tail",
    ]


def test_a_cache_file_nested_too_deep_is_a_miss(tmp_path, caplog):
    # Before: RecursionError out of ChatClient.cached (only ValueError, OSError, KeyError
    # and TypeError were treated as an unreadable entry).
    from bottlekit.concepts.llm import request_key

    llm = _client("http://127.0.0.1:9/v1", tmp_path)
    path = llm._answers.path(request_key("m", MSG, {}))
    path.parent.mkdir(parents=True)
    path.write_text("[" * 100_000)
    with caplog.at_level("WARNING"):
        assert llm.cached(MSG) is None
    assert "ignoring unreadable cache file" in caplog.text


def test_a_cache_file_over_the_size_limit_is_a_miss_without_being_read(
    tmp_path, caplog, monkeypatch
):
    # Before: the file was read whole (path.read_text), whatever its size: a corrupt or
    # hostile multi-GB file went into memory. Now its size is checked first (fstat) and
    # at most MAX_CACHE_FILE_BYTES + 1 bytes are read.
    from bottlekit.concepts import _llm_cache
    from bottlekit.concepts.llm import request_key

    llm = _client("http://127.0.0.1:9/v1", tmp_path, offline=True)
    key = request_key("m", MSG, {})
    rec = {
        "key": key,
        "response": {"text": "- red crest", "id": None, "model": "m"},
        "padding": "x" * 500,
    }
    path = llm._answers.path(key)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(rec))
    size = path.stat().st_size
    monkeypatch.setattr(_llm_cache, "MAX_CACHE_FILE_BYTES", size)
    assert llm.cached(MSG).text == "- red crest"  # at the limit: read
    monkeypatch.setattr(_llm_cache, "MAX_CACHE_FILE_BYTES", size - 1)
    reads = []
    real_open = open

    def tracking_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        if str(file) == str(path):
            real_read = fh.read

            def read(n=-1):
                reads.append(n)
                return real_read(n)

            fh.read = read
        return fh

    monkeypatch.setattr("builtins.open", tracking_open)
    with caplog.at_level("WARNING"):
        assert llm.cached(MSG) is None
    assert reads == []  # refused by its size, before any byte is read
    assert f"ignoring unreadable cache file {path} (it has {size} bytes; at most " in caplog.text
    assert f"at most {size - 1} (MAX_CACHE_FILE_BYTES) are read)" in caplog.text
    with pytest.raises(LLMError, match="not in the cache"):
        llm.complete(MSG)


def test_a_cache_file_that_grows_past_the_limit_is_read_no_further(tmp_path, monkeypatch):
    # The size is checked by fstat, then at most limit + 1 bytes are read: a file that
    # grew in between (or whose size fstat does not tell) is refused, not read whole.
    from bottlekit.concepts import _llm_cache

    path = tmp_path / "f.json"
    path.write_bytes(b"[" + b" " * 98 + b"]")
    assert _llm_cache._read_bounded(path, 100) == b"[" + b" " * 98 + b"]"
    monkeypatch.setattr(_llm_cache.os, "fstat", lambda fd: type("S", (), {"st_size": 0})())
    with pytest.raises(ValueError, match=r"^it has 51\+ bytes; at most 50 \(MAX_CACHE"):
        _llm_cache._read_bounded(path, 50)


def test_an_answer_too_large_for_the_cache_is_not_written(tmp_path, caplog, monkeypatch):
    # What read() would ignore is not written (it would be lost work on every rerun).
    from bottlekit.concepts import _llm_cache
    from bottlekit.concepts._llm_response import ChatResponse

    monkeypatch.setattr(_llm_cache, "MAX_CACHE_FILE_BYTES", 300)
    cache = _llm_cache._AnswerCache(tmp_path)
    key = "ab" * 32
    with caplog.at_level("WARNING"):
        cache.write(key, {}, ChatResponse("x" * 400, None, "m", key, False, "stop"), base_url=None)
    assert not cache.path(key).exists()
    assert "not cached: its cache file would have " in caplog.text
    assert "more than MAX_CACHE_FILE_BYTES = 300" in caplog.text
    cache.write(key, {}, ChatResponse("x" * 10, None, "m", key, False, "stop"), base_url=None)
    assert cache.read(key).text == "x" * 10


def test_a_cache_file_of_too_many_json_values_is_a_miss(tmp_path, caplog, monkeypatch):
    # Before: 64 MiB of "[]," parsed into ~1.7 GB of Python lists.
    from bottlekit.concepts import _llm_cache
    from bottlekit.concepts.llm import request_key

    monkeypatch.setattr(_llm_cache, "MAX_CACHE_FILE_VALUES", 1000)
    llm = _client("http://127.0.0.1:9/v1", tmp_path, offline=True)
    path = llm._answers.path(request_key("m", MSG, {}))
    path.parent.mkdir(parents=True)
    path.write_text("[" + "[]," * 2000 + "[]]")
    with caplog.at_level("WARNING"):
        assert llm.cached(MSG) is None
    assert "it may hold 4003 JSON values" in caplog.text


def _cache_file(tmp_path, rec):
    from bottlekit.concepts.llm import request_key

    llm = _client("http://127.0.0.1:9/v1", tmp_path, offline=True)
    key = request_key("m", MSG, {})
    path = llm._answers.path(key)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(rec(key)))
    return llm


@pytest.mark.parametrize("text", [5, ["red crest"], {"a": 1}, None])
def test_a_cache_file_whose_text_is_not_a_string_is_a_miss(tmp_path, caplog, text):
    # Before: AttributeError ('int' object has no attribute 'strip') out of complete();
    # complete_many returned the null text as a cached answer.
    def rec(key):
        return {"key": key, "response": {"text": text, "id": "c1", "model": "m"}}

    llm = _cache_file(tmp_path, rec)
    with caplog.at_level("WARNING"), pytest.raises(LLMError, match="not in the cache"):
        llm.complete(MSG)
    assert f"response.text is {type(text).__name__}, expected a string" in caplog.text
    with pytest.raises(LLMError, match="not in the cache"):
        llm.complete_many([MSG], progress=False)


def test_a_cache_file_of_another_request_is_a_miss(tmp_path, caplog):
    # Before: a file renamed or copied to this request's name gave its answer (the answer
    # to another prompt) as this request's, silently.
    def rec(key):
        return {"key": "0" * 64, "response": {"text": "- blue crest", "id": "c1", "model": "m"}}

    llm = _cache_file(tmp_path, rec)
    with caplog.at_level("WARNING"):
        assert llm.cached(MSG) is None
    assert "holds the answer to request '0000" in caplog.text


def test_complete_many_checks_a_cached_blank_answer_as_complete_does(tmp_path):
    # Before: without a parser, complete_many returned a cached blank answer that
    # complete() refuses (and asks again).
    def rec(key):
        return {"key": key, "response": {"text": " \n", "id": "c1", "model": "m"}}

    llm = _cache_file(tmp_path, rec)
    with pytest.raises(LLMError, match="not in the cache"):
        llm.complete(MSG)
    with pytest.raises(LLMError, match=r"1 of 1 request.*not in the cache"):
        llm.complete_many([MSG], progress=False)


# ------------------------------------------------------------------ completion ids
def _completion_with(**fields) -> bytes:
    rec = json.loads(_completion({"role": "assistant", "content": "- red crest"}))
    for k, v in fields.items():
        if v is ...:
            del rec[k]
        else:
            rec[k] = v
    return json.dumps(rec).encode()


@pytest.mark.parametrize(
    "fields",
    [{"id": ...}, {"id": None}, {"id": 5}, {"id": {"a": 1}}, {"id": ""}, {"id": "x" * 5000}],
    ids=["missing", "null", "int", "object", "empty", "5000 chars"],
)
def test_a_completion_without_a_usable_id_is_recorded_without_one(
    serve, tmp_path, backbone, fields
):
    # Before: str(out.id) recorded the string 'None' (and "5", "{'a': 1}", 5000 x's) as
    # the response id, in the cache and in every concept's provenance.
    from bottlekit.concepts import ConceptBank, generate

    server = serve(lambda h: _send(h, 200, _completion_with(**fields)))
    kw = {"prompts": ["color"], "progress": False}
    bank = generate(backbone, ["cardinal"], _client(server.url, tmp_path), **kw)
    assert bank.provenance[0]["generated_for"][0]["response_id"] is None
    (cached,) = tmp_path.rglob("*.json")
    assert json.loads(cached.read_text())["response"]["id"] is None
    # read back from the cache, and from a bank file, it is still None
    again = generate(None, ["cardinal"], _client(server.url, tmp_path, offline=True), **kw)
    assert again.provenance[0]["generated_for"] == bank.provenance[0]["generated_for"]
    assert server.requests == 1
    loaded = ConceptBank.load(bank.save(tmp_path / "bank"))
    assert loaded.provenance[0]["generated_for"][0]["response_id"] is None


def test_a_completion_id_and_model_of_the_right_kind_are_kept(serve, tmp_path):
    server = serve(lambda h: _send(h, 200, _completion_with(id="chatcmpl-7", model="served")))
    resp = _client(server.url, tmp_path).complete(MSG)
    assert (resp.response_id, resp.model) == ("chatcmpl-7", "served")


@pytest.mark.parametrize("model", [7, {"a": 1}, None, ""])
def test_a_completion_whose_model_is_not_a_name_records_the_model_asked_for(
    serve, tmp_path, model
):
    # Before: str(out.model or model) recorded "7" and "{'a': 1}".
    server = serve(lambda h: _send(h, 200, _completion_with(model=model)))
    assert _client(server.url, tmp_path).complete(MSG).model == "m"


@pytest.mark.parametrize(("stored", "read"), [(None, None), ("None", None), ("c9", "c9")])
def test_a_cache_file_without_an_id_is_read(tmp_path, stored, read):
    # Before: a null id was an unreadable file (a miss); "None" was read as an id.
    def rec(key):
        return {"key": key, "response": {"text": "- red crest", "id": stored, "model": "m"}}

    resp = _cache_file(tmp_path, rec).complete(MSG)
    assert (resp.text, resp.response_id, resp.cached) == ("- red crest", read, True)


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        (5, "response.id is int, expected a string or null"),
        (["c1"], "response.id is list, expected a string or null"),
        ("x" * 5000, r"response.id 'xxx.*' \(5000 characters\) is not a completion id"),
        ("", r"response.id '' \(0 characters\) is not a completion id"),
    ],
    ids=["int", "list", "5000 chars", "empty"],
)
def test_a_cache_file_whose_id_is_not_an_id_is_a_miss(tmp_path, caplog, stored, problem):
    # Before: the 5000-character and empty ids were read as ids.
    def rec(key):
        return {"key": key, "response": {"text": "- red crest", "id": stored, "model": "m"}}

    llm = _cache_file(tmp_path, rec)
    with caplog.at_level("WARNING"), pytest.raises(LLMError, match="not in the cache"):
        llm.complete(MSG)
    assert re.search(problem, caplog.text)


def test_a_cache_file_whose_text_is_not_unicode_is_a_miss(tmp_path, caplog):
    # Before: read as the answer (a fresh answer with a lone surrogate is refused as not a
    # chat completion); its concept "red\ud800crest" then failed when a bank was saved.
    def rec(key):
        return {"key": key, "response": {"text": "- red\ud800crest", "id": "c1", "model": "m"}}

    llm = _cache_file(tmp_path, rec)
    with caplog.at_level("WARNING"), pytest.raises(LLMError, match="not in the cache"):
        llm.complete(MSG)
    assert r"response.text is not Unicode text (surrogates not allowed: '\ud800'" in caplog.text
    with pytest.raises(LLMError, match="not in the cache"):
        llm.complete_many([MSG], progress=False)


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="needs time.tzset")
@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Tokyo", "UTC"])
@pytest.mark.parametrize("suffix", [" -0000", ""])
def test_a_retry_after_date_without_a_zone_is_read_as_gmt(monkeypatch, zone, suffix):
    # Before: a date of "-0000" or with no zone (a naive datetime) was read in the local
    # zone: 30 s asked for became 18 030 s in New York (the request failed at once, over
    # MAX_RETRY_AFTER) and no wait at all in Tokyo (the server was asked again at once).
    class Failed:
        def __init__(self, value):
            self.response = type("R", (), {"headers": {"retry-after": value}})()

    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        when = time.strftime("%a, %d %b %Y %H:%M:%S", time.gmtime(time.time() + 30))
        waited = _llm_http._retry_after(Failed(when + suffix))
        aware = _llm_http._retry_after(Failed(when + " GMT"))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert 25 < waited <= 31 and abs(waited - aware) < 2


# ------------------------------------------------------- answers cut by the token limit
def _cut_answer(content: str, finish_reason: str) -> bytes:
    rec = json.loads(_completion({"role": "assistant", "content": content}))
    rec["choices"][0]["finish_reason"] = finish_reason
    return json.dumps(rec).encode()


def test_the_last_item_of_an_answer_cut_by_the_token_limit_is_dropped(serve, tmp_path, caplog):
    # Before: "long pointed t", cut mid-phrase by max_tokens (finish_reason "length"), was
    # a concept.
    from bottlekit.concepts import generate

    def behave(h):  # one request at a time: the first is the cardinal's
        cut = server.requests == 1
        text = "- red crest\n- long pointed t" if cut else "- blue crest\n- white belly"
        _send(h, 200, _cut_answer(text, "length" if cut else "stop"))

    server = serve(behave)
    kw = {"prompts": ["color"], "progress": False}
    with caplog.at_level("WARNING"):
        llm = _client(server.url, tmp_path, max_concurrency=1)
        out = generate(None, ["cardinal", "blue jay"], llm, **kw)
    assert out.names == ["red crest", "blue crest", "white belly"]
    warned = [r.getMessage() for r in caplog.records if "finish_reason" in r.getMessage()]
    assert len(warned) == 1 and "1 answer(s) cut by the token limit" in warned[0]
    assert "class 'cardinal', prompt 'color'" in warned[0]
    # the cache keeps the finish reason: read back, the answer is cut the same way
    cached = [json.loads(p.read_text())["response"] for p in tmp_path.rglob("*.json")]
    assert sorted(r["finish_reason"] for r in cached) == ["length", "stop"]
    again = generate(
        None, ["cardinal", "blue jay"], _client(server.url, tmp_path, offline=True), **kw
    )
    assert again.names == out.names and server.requests == 2


@pytest.mark.parametrize(("stored", "read"), [("length", "length"), (None, None), (5, "miss")])
def test_a_cache_file_keeps_the_finish_reason(tmp_path, caplog, stored, read):
    def rec(key):
        response = {"text": "- red crest", "id": "c1", "model": "m", "finish_reason": stored}
        return {"key": key, "response": response}

    llm = _cache_file(tmp_path, rec)
    if read == "miss":
        with caplog.at_level("WARNING"), pytest.raises(LLMError, match="not in the cache"):
            llm.complete(MSG)
        assert "response.finish_reason '5' is not a short string or null" in caplog.text
    else:
        assert llm.complete(MSG).finish_reason == read


def test_an_item_longer_than_a_name_may_be_is_dropped(serve, tmp_path, backbone):
    # Before: the 5000-character item was a concept; its bank was saved, and refused when
    # loaded ("names[1] has 5000 characters; at most 4096 are accepted").
    from bottlekit.concepts import ConceptBank, generate
    from bottlekit.concepts._io import MAX_NAME_CHARS

    assert parse_concept_list("- red crest\n- " + "x" * (MAX_NAME_CHARS + 1)) == ["red crest"]
    assert parse_concept_list("- " + "x" * MAX_NAME_CHARS) == ["x" * MAX_NAME_CHARS]
    text = "- red crest\n- " + "x" * 5000
    server = serve(lambda h: _send(h, 200, _completion({"role": "assistant", "content": text})))
    llm = _client(server.url, tmp_path)
    bank = generate(backbone, ["cardinal"], llm, prompts=["color"], progress=False)
    assert ConceptBank.load(bank.save(tmp_path / "bank")).names == ["red crest"]


# --------------------------------------------------------- the client's time settings
@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("timeout", float("inf")),  # before: OverflowError at the first request
        ("timeout", 1e300),  # before: OverflowError
        ("timeout", True),  # before: a timeout of 1 s
        ("timeout", "5"),  # before: TypeError "'>' not supported"
        ("backoff", float("nan")),  # before: accepted
        ("backoff", "1"),  # before: TypeError "'<' not supported"
        ("max_backoff", float("nan")),  # before: ValueError out of time.sleep(nan)
        ("max_backoff", float("inf")),  # before: with backoff=inf, time.sleep(inf)
        ("request_deadline", float("inf")),  # before: accepted (None means no bound)
        ("run_deadline", 1e300),  # before: accepted
    ],
)
def test_a_time_setting_that_is_not_a_finite_number_of_seconds_is_refused(
    tmp_path, setting, value
):
    top = r"1e\+07"
    with pytest.raises(
        ValueError, match=rf"^{setting} must be a number of seconds in .*{top}\]( or None)?, got"
    ):
        _client("http://127.0.0.1:9/v1", tmp_path, **{setting: value})
