"""generate() through the real openai client against a local chat-completions HTTP server."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest

pytest.importorskip("openai")

from bottlekit.concepts import ChatClient, ConceptBank, generate
from bottlekit.concepts.llm import LLMError, LLMParseError, parse_concept_list

ANSWERS = {
    "cardinal": ["red crest", "short thick bill", "black face mask"],
    "blue jay": ["blue crest", "short thick bill", "white belly"],
}


def default_answer(body: dict) -> tuple[int, str]:
    """Answer with the items of the class named in the last user turn."""
    text = body["messages"][-1]["content"]
    for cls, items in ANSWERS.items():
        if cls in text:
            return 200, "Sure:\n" + "\n".join(f"- {x}" for x in items)
    return 200, "- something"


@pytest.fixture
def server(chat_server):
    return chat_server(default_answer)


def client(server_or_url, cache_dir, **kw):
    url = server_or_url if isinstance(server_or_url, str) else server_or_url.url
    kw = {"max_retries": 2, "backoff": 0.001, "max_concurrency": 2, "timeout": 5, **kw}
    return ChatClient("test-model", base_url=url, api_key="sk-test", cache_dir=cache_dir, **kw)


def test_labo_style(server, tmp_path, backbone):
    out = generate(
        None, ["cardinal", "blue jay"], client(server, tmp_path), style="labo", progress=False
    )
    assert len(server.bodies) == 2 * 5  # one request per class and LaBo prompt
    asked = sorted(b["messages"][-1]["content"].split(".")[0] for b in server.bodies)
    assert "Describe the color of the cardinal" in asked
    assert "Describe the shape of the blue jay" in asked
    assert all(b["model"] == "test-model" for b in server.bodies)
    # pooled and de-duplicated in first-seen order; "sure:" intro line is not a concept
    assert set(out.names) == {
        "red crest",
        "short thick bill",
        "black face mask",
        "blue crest",
        "white belly",
    }
    j = out.names.index("short thick bill")
    np.testing.assert_array_equal(out.class_prior[:, j], [1, 1])  # proposed for both classes
    np.testing.assert_array_equal(out.class_prior[:, out.names.index("red crest")], [1, 0])
    prov = out.provenance[out.names.index("white belly")]
    assert prov["source"] == "llm" and prov["style"] == "labo" and prov["model"] == "test-model"
    assert len(prov["generated_for"]) == 5 and {g["class"] for g in prov["generated_for"]} == {
        "blue jay"
    }
    assert all(re.fullmatch(r"chatcmpl-\d+", g["response_id"]) for g in prov["generated_for"])
    bank = generate(
        backbone,
        ["cardinal", "blue jay"],
        client(server, tmp_path),
        style="labo",
        progress=False,
    )
    assert isinstance(bank, ConceptBank) and bank.class_names == ["cardinal", "blue jay"]
    assert len(server.bodies) == 10  # second call replayed from the cache


def test_labo_aspects_in_the_authors_words(server, tmp_path):
    # Before: the first aspect was asked as "Describe what the cardinal looks like"; LaBo's
    # authors' template (LaBo issue #12) reads "... describe how the {} looks like".
    generate(None, ["cardinal"], client(server, tmp_path), style="labo", progress=False)
    asked = sorted(b["messages"][-1]["content"].split(".")[0] for b in server.bodies)
    assert asked == [
        "Describe how the cardinal looks like",
        "Describe the appearance of the cardinal",
        "Describe the color of the cardinal",
        "Describe the pattern of the cardinal",
        "Describe the shape of the cardinal",
    ]


def test_label_free_style(server, tmp_path):
    out = generate(
        None, ["cardinal"], client(server, tmp_path), style="label-free", progress=False
    )
    assert len(server.bodies) == 3
    for b in server.bodies:
        roles = [m["role"] for m in b["messages"]]
        # system + two worked examples (user/assistant) + the question
        assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    last = sorted(b["messages"][-1]["content"] for b in server.bodies)
    assert last[0].startswith('Give superclasses for the word "cardinal"')
    assert last[1].startswith(
        'List the most important features for recognizing something as a "cardinal"'
    )
    assert last[2].startswith('List the things most commonly seen around a "cardinal"')
    assert out.names == ANSWERS["cardinal"]
    assert {g["prompt_key"] for g in out.provenance[0]["generated_for"]} == {
        "important",
        "superclass",
        "around",
    }


def test_label_free_worked_examples_are_the_papers(server, tmp_path):
    # Before: style="label-free" sent bottlekit's own worked examples (zebra, teapot; e.g.
    # superclasses "animal, mammal, equine"), not those of Label-free CBM's
    # GPT_initial_concepts.ipynb, so the same model was steered to other concepts.
    generate(None, ["cardinal"], client(server, tmp_path), style="label-free", progress=False)
    shots = {}
    for b in server.bodies:
        turns = b["messages"][1:-1]
        key = b["messages"][-1]["content"].split('"')[0]
        shots[key] = [
            (re.search(r'"([^"]+)"', u["content"]).group(1), a["content"].splitlines())
            for u, a in zip(turns[::2], turns[1::2], strict=True)
        ]
    important = shots["List the most important features for recognizing something as a "]
    assert important == [
        (
            "goldfish",
            [
                "- bright orange color",
                "- a small, round body",
                "- a long, flowing tail",
                "- a small mouth",
                "- orange fins",
            ],
        ),
        (
            "beerglass",
            [
                "- a tall, cylindrical shape",
                "- clear or translucent color",
                "- opening at the top",
                "- a sturdy base",
                "- a handle",
            ],
        ),
    ]
    assert shots["Give superclasses for the word "] == [
        ("tench", ["- fish", "- vertebrate", "- animal"]),
        ("beer glass", ["- glass", "- container", "- object"]),
    ]
    around = shots["List the things most commonly seen around a "]
    assert [cls for cls, _ in around] == ["tench", "beer glass"]
    assert around[0][1] == [f"- {x}" for x in ("a pond", "fish", "a net", "a rod", "a reel")] + [
        "- a hook",
        "- bait",
    ]
    assert around[1][1] == [
        f"- {x}" for x in ("beer", "a bar", "a coaster", "a napkin", "a straw", "a lime")
    ] + ["- a person"]
    # the worked examples are asked in the same words as the real question
    for b in server.bodies:
        first, last = b["messages"][1]["content"], b["messages"][-1]["content"]
        assert first.split('"')[0] == last.split('"')[0]
        assert first.split('"')[2] == last.split('"')[2]


def test_rate_limit_then_success(chat_server, tmp_path, caplog):
    calls = {"n": 0}

    def flaky(body):
        calls["n"] += 1
        return (429, "slow down") if calls["n"] == 1 else default_answer(body)

    s = chat_server(flaky)
    try:
        with caplog.at_level(logging.WARNING, logger="bottlekit.concepts.llm"):
            out = generate(
                None,
                ["cardinal"],
                client(s, tmp_path, max_concurrency=1),
                prompts=["color"],
                progress=False,
            )
    finally:
        s.stop()
    assert len(s.bodies) == 2 and out.names == ANSWERS["cardinal"]
    assert "RateLimitError" in caplog.text and "retry 1/2" in caplog.text


def test_server_error_retries_then_clear_error(chat_server, tmp_path):
    s = chat_server(lambda body: (500, "boom"))
    try:
        with pytest.raises(LLMError, match=r"3 attempt\(s\).*HTTP 500") as info:
            client(s, tmp_path).complete([{"role": "user", "content": "hi"}])
        with pytest.raises(LLMError, match="1 of 1 LLM request"):
            generate(None, ["cardinal"], client(s, tmp_path), prompts=["color"], progress=False)
    finally:
        s.stop()
    assert "127.0.0.1" in str(info.value)
    assert len(s.bodies) == 3 + 3  # max_retries=2: three attempts per request
    assert not list(tmp_path.rglob("*.json"))  # failures are not cached


def test_client_error_is_not_retried(chat_server, tmp_path):
    s = chat_server(lambda body: (400, "bad request"))
    try:
        with pytest.raises(LLMError, match="HTTP 400"):
            client(s, tmp_path).complete([{"role": "user", "content": "hi"}])
    finally:
        s.stop()
    assert len(s.bodies) == 1


def test_malformed_answer_is_skipped_and_logged_or_raised(chat_server, tmp_path, caplog):
    def refuses_blue_jay(body):
        if "blue jay" in body["messages"][-1]["content"]:
            return 200, "I'm sorry, I cannot help with that."
        return default_answer(body)

    s = chat_server(refuses_blue_jay)
    try:
        with caplog.at_level(logging.WARNING, logger="bottlekit.concepts.generate"):
            out = generate(
                None,
                ["cardinal", "blue jay"],
                client(s, tmp_path),
                prompts=["color"],
                progress=False,
            )
        assert out.names == ANSWERS["cardinal"]
        assert "malformed answer for class 'blue jay', prompt 'color'" in caplog.text
        with pytest.raises(LLMParseError, match="class 'blue jay'"):
            generate(
                None,
                ["cardinal", "blue jay"],
                client(s, tmp_path),
                prompts=["color"],
                on_malformed="raise",
                progress=False,
            )
    finally:
        s.stop()


def test_cache_replay_with_server_stopped(chat_server, tmp_path):
    s = chat_server(default_answer)
    first = generate(
        None, ["cardinal", "blue jay"], client(s, tmp_path), style="label-free", progress=False
    )
    s.stop()
    n_files = len(list(tmp_path.rglob("*.json")))
    assert n_files == 6
    # same request, server gone: everything comes from disk, even without an API key
    again = generate(
        None,
        ["cardinal", "blue jay"],
        ChatClient("test-model", base_url=s.url, cache_dir=tmp_path, offline=True),
        style="label-free",
        progress=False,
    )
    assert again.names == first.names and again.provenance == first.provenance
    np.testing.assert_array_equal(again.class_prior, first.class_prior)
    # a request that is not cached fails clearly when offline
    with pytest.raises(LLMError, match="not in the cache"):
        ChatClient("test-model", cache_dir=tmp_path, offline=True).complete(
            [{"role": "user", "content": "new"}]
        )
    # another model or other parameters are other cache keys
    c = ChatClient("other-model", base_url=s.url, cache_dir=tmp_path, offline=True)
    with pytest.raises(LLMError, match="not in the cache"):
        generate(None, ["cardinal"], c, style="label-free", progress=False)


def test_resume_after_interruption(chat_server, tmp_path):
    classes = ["cardinal", "blue jay", "robin", "wren"]
    total = len(classes) * 5

    def dies_after_7(body):  # the upstream goes away after 7 answers
        return (503, "gone") if s1.answered >= 7 else default_answer(body)

    s1 = chat_server(dies_after_7)
    try:
        with pytest.raises(LLMError, match=r"13 of 20 LLM request\(s\) failed; the 7 answered"):
            generate(None, classes, client(s1, tmp_path), progress=False)
    finally:
        s1.stop()
    assert s1.answered == 7
    s2 = chat_server(default_answer)
    try:
        resumed = generate(None, classes, client(s2, tmp_path), progress=False)
    finally:
        s2.stop()
    assert len(s2.bodies) == total - 7  # only the missing requests are paid for
    fresh_dir = tmp_path / "fresh"
    s3 = chat_server(default_answer)
    try:
        fresh = generate(None, classes, client(s3, fresh_dir), progress=False)
    finally:
        s3.stop()
    assert len(s3.bodies) == total
    assert sorted(resumed.names) == sorted(fresh.names)
    np.testing.assert_array_equal(
        resumed.class_prior[:, np.argsort(resumed.names)],
        fresh.class_prior[:, np.argsort(fresh.names)],
    )


def test_client_configuration_from_environment(monkeypatch, tmp_path, server):
    monkeypatch.setenv("OPENAI_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("BOTTLEKIT_CACHE", str(tmp_path))
    out = generate(None, ["cardinal"], prompts=["color"], progress=False)
    assert server.bodies[0]["model"] == "env-model" and out.names == ANSWERS["cardinal"]
    assert list((tmp_path / "llm").rglob("*.json"))
    monkeypatch.delenv("OPENAI_MODEL")
    with pytest.raises(ValueError, match="OPENAI_MODEL"):
        ChatClient()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- Red crest\n- long, pointed tail.", ["red crest", "long, pointed tail"]),
        ("1. red\n2) Blue\n3. red", ["red", "blue"]),
        ('```json\n["webbed feet", "orange bill"]\n```', ["webbed feet", "orange bill"]),
        ('Here: {"concepts": ["a", "b"]}', ["a", "b"]),
        ('[{"concept": "x"}, {"concept": "y"}]', ["x", "y"]),
        ("red, blue, green", ["red", "blue", "green"]),
        ("Features:\nred crest\nblack mask", ["red crest", "black mask"]),
    ],
)
def test_parse_concept_list(text, expected):
    assert parse_concept_list(text) == expected


def test_parse_keeps_quotations_inside_an_item():
    # Before: one quote was stripped from each end, so an item ending in a quotation lost
    # its closing quote ('yellow or white "eyebrows'; 16 of Label-free CBM's own 31,188
    # GPT-3 concepts came out so), and a bold item without a bullet kept a star ('*bold').
    text = '- yellow or white "eyebrows"\n- "Police" or "Sheriff" markings\n- "red crest".'
    assert parse_concept_list(text) == [
        'yellow or white "eyebrows"',
        '"police" or "sheriff" markings',
        "red crest",
    ]
    assert parse_concept_list('- \'a sign that says "open"\',\n- "black mask') == [
        'a sign that says "open"',
        "black mask",
    ]
    assert parse_concept_list("**Red crest**\n**Black mask**") == ["red crest", "black mask"]


@pytest.mark.parametrize("text", ["", "   ", "Sorry, I cannot help with that.", '{"a": 42}', "ok"])
def test_parse_concept_list_rejects_non_lists(text):
    with pytest.raises(LLMParseError):
        parse_concept_list(text)


def test_generate_validation(tmp_path, server):
    c = client(server, tmp_path)
    with pytest.raises(ValueError, match="style must be one of"):
        generate(None, ["a"], c, style="gpt")
    with pytest.raises(ValueError, match="prompts must be a non-empty subset"):
        generate(None, ["a"], c, prompts=["important"])  # a label-free key with the labo style
    with pytest.raises(ValueError, match="class_names is empty"):
        generate(None, [], c)
    with pytest.raises(ValueError, match="max_concurrency"):
        client(server, tmp_path, max_concurrency=0)


def test_an_answer_gives_at_most_n_per_prompt_concepts(chat_server, tmp_path, caplog):
    # Before: every item of an answer was taken, however many were asked for (an answer
    # of 16 MiB gave ~200,000 concepts).
    long = [f"feature {i}" for i in range(5000)]

    def answers(body):
        text = body["messages"][-1]["content"]
        if "cardinal" in text:  # duplicates first: the cut comes after de-duplication
            return 200, "\n".join(f"- {x}" for x in ["Feature 0", *long])
        return 200, "- white belly\n- blue crest"

    s = chat_server(answers)
    kw = {"prompts": ["color"], "n_per_prompt": 3, "progress": False}
    with caplog.at_level(logging.WARNING, logger="bottlekit.concepts.generation"):
        out = generate(None, ["cardinal", "blue jay"], client(s, tmp_path), **kw)
    assert out.names == ["feature 0", "feature 1", "feature 2", "white belly", "blue crest"]
    warned = [r.getMessage() for r in caplog.records if "n_per_prompt" in r.getMessage()]
    assert len(warned) == 1
    assert "4997 concept(s) beyond n_per_prompt=3 dropped from 1 answer(s)" in warned[0]
    assert "class 'cardinal', prompt 'color' (5000 items)" in warned[0]
    # the cache holds the whole answer; read back, it gives the same concepts
    s.stop()
    offline = ChatClient("test-model", base_url=s.url, cache_dir=tmp_path, offline=True)
    again = generate(None, ["cardinal", "blue jay"], offline, **kw)
    assert again.names == out.names and again.provenance == out.provenance
    np.testing.assert_array_equal(again.class_prior, out.class_prior)


def test_generate_names_repeated_prompts_and_a_prompt_given_as_a_string(server, tmp_path):
    # Before: ["color", "color"] sent each class's color request twice and recorded each
    # concept's origin twice; "color" was read letter by letter ("got ['c', 'o', ...]").
    c = client(server, tmp_path)
    with pytest.raises(ValueError, match=r"prompts lists 'color' more than once"):
        generate(None, ["cardinal"], c, prompts=["color", "shape", "color"], progress=False)
    with pytest.raises(TypeError, match=r"prompts must be a list of prompt keys .*got the str"):
        generate(None, ["cardinal"], c, prompts="color", progress=False)
    assert server.bodies == []


@pytest.mark.parametrize(
    "setting",
    [
        {"model": "gpt-x"},
        {"base_url": "http://127.0.0.1:9/v1"},
        {"api_key": "sk"},
        "dir",
        {"request_deadline": 5.0},
        {"request_deadline": None},  # None is a setting too: no bound
    ],
)
def test_client_settings_beside_a_given_client_are_refused(tmp_path, setting):
    # before: they configured nothing (the given client keeps its own) and were dropped
    if setting == "dir":
        setting = {"cache_dir": tmp_path / "elsewhere"}
    (name,) = setting
    client = ChatClient("test-model", cache_dir=tmp_path, offline=True)
    with pytest.raises(ValueError, match=rf"^{name}: .* has no effect when llm is given; "):
        generate(None, ["cardinal"], client, **setting)
    assert not (tmp_path / "elsewhere").exists()
