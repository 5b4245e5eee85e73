"""LLM endpoint faults: unparsable answers, non-JSON bodies, deadlines, an unreachable
endpoint, rate limits and concurrency, against a local server on 127.0.0.1.

Waits are checked through the client's injectable ``_sleep``/``_clock`` (what the client
asks to wait), never by timing a test; the one real-time check is a lower bound that the
client enforces (requests held back by a ``Retry-After``).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import numpy as np
import pytest

pytest.importorskip("openai")

from bottlekit.concepts import ChatClient, generate
from bottlekit.concepts.llm import (
    CONNECT_RETRY_WAIT,
    LLMError,
    LLMParseError,
    _unreachable,
)

ANSWERS = {
    "cardinal": ["red crest", "short thick bill", "black face mask"],
    "blue jay": ["blue crest", "short thick bill", "white belly"],
}
MSG = [{"role": "user", "content": "hi"}]


def answer(body: dict) -> tuple[int, str]:
    text = body["messages"][-1]["content"]
    for cls, items in ANSWERS.items():
        if cls in text:
            return 200, "\n".join(f"- {x}" for x in items)
    return 200, "- something"


def client(url, cache_dir, **kw):
    kw = {"max_retries": 2, "backoff": 0.001, "max_concurrency": 2, "timeout": 5, **kw}
    return ChatClient("test-model", base_url=url, api_key="sk-test", cache_dir=cache_dir, **kw)


class FakeTime:
    """A clock that only moves when the client sleeps; records every requested wait."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def clock(self):
        with self.lock:
            return self.now

    def sleep(self, seconds):
        with self.lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def install(self, llm):
        llm._clock, llm._sleep = self.clock, self.sleep
        return llm


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there any more


def cache_texts(cache_dir) -> list[str]:
    return [json.loads(p.read_text())["response"]["text"] for p in cache_dir.rglob("*.json")]


# ---------------------------------------------------------------- unparsable answers
def test_refusal_is_asked_again_and_never_cached(chat_server, tmp_path):
    seen = {"blue jay": 0}

    def refuses_once(body):
        if "blue jay" in body["messages"][-1]["content"]:
            seen["blue jay"] += 1
            if seen["blue jay"] == 1:
                return 200, "I'm sorry, I cannot help with that."
        return answer(body)

    s = chat_server(refuses_once)
    out = generate(None, ["cardinal", "blue jay"], client(s.url, tmp_path), prompts=["color"])
    assert "white belly" in out.names  # the refusal was asked again in the same run
    assert len(s.bodies) == 3
    assert not any("sorry" in t for t in cache_texts(tmp_path))
    again = generate(None, ["cardinal", "blue jay"], client(s.url, tmp_path), prompts=["color"])
    assert len(s.bodies) == 3 and again.names == out.names  # all from the cache


def test_poisoned_cache_entry_is_asked_again(chat_server, tmp_path):
    s = chat_server(answer)
    llm = client(s.url, tmp_path)
    # what the code before the fix stored: a refusal, served forever after
    from bottlekit.concepts.generation import build_messages
    from bottlekit.concepts.llm import ChatResponse, request_key

    msgs = build_messages("labo", "color", "blue jay", 10)
    key = request_key("test-model", msgs, {})
    llm._store(key, msgs, {}, ChatResponse("I'm sorry, I can't.", "old", "test-model", key, False))
    out = generate(None, ["blue jay"], llm, prompts=["color"], progress=False)
    assert out.names == ANSWERS["blue jay"] and len(s.bodies) == 1
    assert cache_texts(tmp_path) == ["\n".join(f"- {x}" for x in ANSWERS["blue jay"])]


def test_null_content_is_retried_then_parse_error_names_class_prompt_endpoint(
    chat_server, tmp_path
):
    s = chat_server(lambda body: (200, None))  # "content": null
    with pytest.raises(LLMParseError) as info:
        generate(
            None,
            ["cardinal"],
            client(s.url, tmp_path),
            prompts=["color"],
            on_malformed="raise",
            progress=False,
        )
    msg = str(info.value)
    assert "class 'cardinal'" in msg and "prompt 'color'" in msg
    assert "Describe the color of the cardinal" in msg  # the prompt itself
    assert s.url in msg and "content: null" in msg
    assert len(s.bodies) == 3  # asked, then max_parse_retries=2 more times
    assert not list(tmp_path.rglob("*.json"))
    # skipped (the default): the run goes on, nothing is cached, a rerun asks again
    with pytest.raises(LLMParseError, match="no concepts parsed"):
        generate(None, ["cardinal"], client(s.url, tmp_path), prompts=["color"], progress=False)
    assert len(s.bodies) == 6 and not list(tmp_path.rglob("*.json"))


def test_refresh_asks_chosen_classes_again(chat_server, tmp_path):
    version = {"n": 1}

    def answers_v(body):
        status, text = answer(body)
        return status, text + f"\n- version {version['n']}"

    s = chat_server(answers_v)
    classes = ["cardinal", "blue jay"]
    first = generate(None, classes, client(s.url, tmp_path), prompts=["color", "shape"])
    assert "version 1" in first.names and len(s.bodies) == 4
    version["n"] = 2
    out = generate(
        None, classes, client(s.url, tmp_path), prompts=["color", "shape"], refresh=["blue jay"]
    )
    assert len(s.bodies) == 6
    assert all("blue jay" in b["messages"][-1]["content"] for b in s.bodies[4:])
    j2 = out.names.index("version 2")
    np.testing.assert_array_equal(out.class_prior[:, j2], [0, 1])  # only blue jay re-asked
    # the new answers replaced the old ones in the cache
    out = generate(None, classes, client(s.url, tmp_path), prompts=["color", "shape"])
    assert len(s.bodies) == 6 and "version 2" in out.names
    generate(None, classes, client(s.url, tmp_path), prompts=["color"], refresh=True)
    assert len(s.bodies) == 8
    with pytest.raises(ValueError, match=r"refresh names classes that are not in class_names"):
        generate(None, classes, client(s.url, tmp_path), refresh=["robin"])
    with pytest.raises(TypeError, match="refresh must be a bool or a list of class names"):
        generate(None, classes, client(s.url, tmp_path), refresh="cardinal")


# ---------------------------------------------------------------- not-JSON bodies
def test_non_json_200_is_retried_like_a_transient_fault(chat_server, tmp_path):
    calls = {"n": 0}

    def html_once(body):
        calls["n"] += 1
        return b"<html>502 Bad Gateway</html>" if calls["n"] == 1 else answer(body)

    s = chat_server(html_once)
    out = generate(None, ["cardinal"], client(s.url, tmp_path), prompts=["color"], progress=False)
    assert out.names == ANSWERS["cardinal"] and len(s.bodies) == 2


def test_non_json_200_every_time_names_class_and_endpoint(chat_server, tmp_path):
    s = chat_server(lambda body: b"not json {")
    with pytest.raises(LLMError) as info:
        generate(None, ["cardinal"], client(s.url, tmp_path), prompts=["color"], progress=False)
    msg = str(info.value)
    assert "class 'cardinal', prompt 'color'" in msg and s.url in msg
    assert "not a chat completion" in msg
    assert len(s.bodies) == 3  # max_retries=2


# ---------------------------------------------------------------- deadlines
def test_request_deadline_bounds_retry_waits(chat_server, tmp_path):
    s = chat_server(lambda body: (503, "busy", {"Retry-After": "10"}))
    t = FakeTime()
    llm = t.install(client(s.url, tmp_path, max_retries=50, request_deadline=25))
    with pytest.raises(LLMError, match=r"deadline.*request_deadline=25\.0"):
        llm.complete(MSG)
    assert t.sleeps == [10.0, 10.0]  # a third wait would end past the 25 s deadline
    assert len(s.bodies) == 3


def test_request_deadline_cuts_a_hung_request(chat_server, tmp_path):
    release = threading.Event()

    def hangs(body):
        release.wait(30)
        return answer(body)

    s = chat_server(hangs)
    try:
        llm = client(s.url, tmp_path, timeout=60, request_deadline=0.5, max_retries=5)
        with pytest.raises(LLMError, match="deadline"):
            llm.complete(MSG)
    finally:
        release.set()
    assert len(s.bodies) == 1  # the attempt's timeout was cut to the deadline


def test_run_deadline_bounds_the_whole_run(chat_server, tmp_path):
    s = chat_server(lambda body: (503, "busy", {"Retry-After": "3"}))
    t = FakeTime()
    llm = t.install(client(s.url, tmp_path, max_retries=50, max_concurrency=1))
    reqs = [[{"role": "user", "content": f"q{i}"}] for i in range(4)]
    with pytest.raises(LLMError, match=r"4 of 4 LLM request\(s\) failed") as info:
        llm.complete_many(reqs, run_deadline=5, progress=False)
    assert "run_deadline=5" in str(info.value) or "deadline" in str(info.value)
    assert sum(t.sleeps) <= 5
    assert len(s.bodies) == 5  # 2 attempts for the first request, then 1 each


def test_deadline_validation(tmp_path):
    with pytest.raises(
        ValueError,
        match=r"request_deadline must be a number of seconds in \(0, 1e\+07\] or None, got 0",
    ):
        client("http://127.0.0.1:9/v1", tmp_path, request_deadline=0)
    with pytest.raises(
        ValueError, match=r"run_deadline must be a number of seconds in \(0, .* or None, got '1h'"
    ):
        client("http://127.0.0.1:9/v1", tmp_path, run_deadline="1h")
    assert client("http://127.0.0.1:9/v1", tmp_path, run_deadline=None).run_deadline is None


# ---------------------------------------------------------------- unreachable endpoint
def test_unreachable_endpoint_fails_fast_naming_the_setting(tmp_path, caplog):
    url = closed_port_url()
    t = FakeTime()
    llm = t.install(ChatClient("test-model", base_url=url, api_key="k", cache_dir=tmp_path))
    classes = [f"class {i}" for i in range(24)]  # 24 x 3 = 72 requests
    with (
        caplog.at_level(logging.WARNING, logger="bottlekit.concepts.llm"),
        pytest.raises(LLMError) as info,
    ):
        generate(None, classes, llm, style="label-free", progress=False)
    msg = str(info.value)
    assert "cannot reach the LLM endpoint" in msg and url in msg
    assert "OPENAI_BASE_URL" in msg and "base_url=" in msg and str(tmp_path) in msg
    assert "not sent" in msg
    # one short retry per request in flight at most, never a backoff
    assert t.sleeps and all(w == CONNECT_RETRY_WAIT for w in t.sleeps)
    assert len(t.sleeps) <= llm.max_concurrency
    assert caplog.text.count("retry 1/1") == len(t.sleeps)


def test_default_endpoint_is_named_with_its_setting(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    llm = ChatClient("m", cache_dir=tmp_path)
    assert "api.openai.com" in llm.endpoint and "OPENAI_BASE_URL" in llm.endpoint


def test_unreachable_recognises_dns_and_refused_errors():
    import httpx2  # what the installed openai client uses
    import openai

    req = httpx2.Request("POST", "http://x.invalid/v1")
    for cause in (
        socket.gaierror(-2, "Name or service not known"),
        ConnectionRefusedError(111, "refused"),
        OSError(113, "No route to host"),
    ):
        err = openai.APIConnectionError(request=req)
        err.__cause__ = cause
        assert _unreachable(err), cause
    dropped = openai.APIConnectionError(request=req)
    dropped.__cause__ = ConnectionResetError(104, "reset by peer")
    assert not _unreachable(dropped)  # an open connection that dropped: retried with backoff


# ---------------------------------------------------------------- rate limits
def test_retry_after_longer_than_max_backoff_is_honoured(chat_server, tmp_path):
    calls = {"n": 0}

    def limited_once(body):
        calls["n"] += 1
        return (429, "slow down", {"Retry-After": "7"}) if calls["n"] == 1 else answer(body)

    s = chat_server(limited_once)
    t = FakeTime()
    llm = t.install(client(s.url, tmp_path, max_backoff=1.0))
    assert llm.complete(MSG).text == "- something"
    assert t.sleeps == [7.0]


def test_rate_limit_pauses_every_thread(chat_server, tmp_path):
    """A Retry-After seen by one thread holds back the others' next requests.

    The first request gets a 429 with ``Retry-After: 1``; every other answer takes 0.5 s,
    so the other thread's next request is sent after the 429 was seen. No request after
    the first two may reach the server before the pause ends (a lower bound the client
    enforces, not a speed measurement).
    """
    lock = threading.Lock()
    state = {"n": 0, "t429": None}

    def first_limited(body):
        with lock:
            state["n"] += 1
            first = state["n"] == 1
            if first:
                state["t429"] = time.monotonic()
        if first:
            return 429, "slow down", {"Retry-After": "1"}
        time.sleep(0.5)
        return answer(body)

    s = chat_server(first_limited)
    reqs = [[{"role": "user", "content": f"q{i}"}] for i in range(4)]
    out = client(s.url, tmp_path, max_concurrency=2).complete_many(reqs, progress=False)
    assert [r.text for r in out] == ["- something"] * 4
    assert len(s.bodies) == 5
    assert min(s.arrivals[2:]) >= state["t429"] + 1.0


# ---------------------------------------------------------------- concurrency
def test_concurrent_generation_equals_sequential(chat_server, tmp_path):
    def slow(body):
        time.sleep(0.01)  # answers overlap: six threads send at once (60 requests in all)
        text = body["messages"][-1]["content"]
        cls = text.split(" the ")[-1].split(".")[0]  # "Describe the color of the X."
        return 200, f"- {cls} colour\n- shared trait\n- {len(text)} mark"

    s = chat_server(slow)
    classes = [f"bird {i}" for i in range(12)]
    seq = generate(None, classes, client(s.url, tmp_path / "a"), max_concurrency=1, progress=False)
    assert s.max_in_flight == 1
    par = generate(None, classes, client(s.url, tmp_path / "b"), max_concurrency=6, progress=False)
    assert s.max_in_flight > 1  # really concurrent
    assert par.names == seq.names
    np.testing.assert_array_equal(par.class_prior, seq.class_prior)

    def strip_ids(prov):
        return [
            [{k: v for k, v in g.items() if k != "response_id"} for g in p["generated_for"]]
            for p in prov
        ]

    assert strip_ids(par.provenance) == strip_ids(seq.provenance)
    with pytest.raises(ValueError, match="max_concurrency must be an int >= 1"):
        generate(None, classes, client(s.url, tmp_path / "a"), max_concurrency=0)


def test_unwritable_llm_cache_warns_once_and_answers(chat_server, tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    s = chat_server(answer)
    with caplog.at_level(logging.WARNING, logger="bottlekit.concepts.llm"):
        out = generate(
            None,
            ["cardinal", "blue jay"],
            client(s.url, blocker / "llm"),
            prompts=["color", "shape"],
        )
    assert "white belly" in out.names and len(s.bodies) == 4
    assert caplog.text.count("cannot be written") == 1
