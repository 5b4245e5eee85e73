"""Hostile input to the concept banks and their builders, through the public API.

Each case gave, before its fix, a traceback from deep inside numpy, a hang, a silently
accepted value or a message naming the wrong argument; now a ``ValueError`` / ``TypeError``
names the argument.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from bottlekit.concepts import (
    ConceptBank,
    ConceptCandidates,
    filter_concepts,
    from_examples,
    from_text,
    greedy_maximize,
    random_bank,
    select,
)
from bottlekit.concepts.selection import class_similarity

E = np.eye(2, 3)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"vectors": [[1.0, 0.0], [0.0]]},
            TypeError,
            "vectors: expected a numeric array, got list",
        ),
        ({"vectors": E.astype(complex)}, TypeError, "vectors: expected real numbers"),
        (
            {"vectors": np.full((2, 3), "a")},
            TypeError,
            "vectors: expected a numeric array, got text",
        ),
        ({"intercepts": ["a", "b"]}, TypeError, "intercepts: expected a numeric array, got text"),
        ({"provenance": [1, 2]}, TypeError, r"provenance\[0\]: expected a dict"),
        ({"provenance": "ab"}, TypeError, "provenance: expected a list of one dict"),
        ({"provenance": 3}, TypeError, "provenance: expected a list of one dict"),
        (
            {"class_prior": [["a", "b"]], "class_names": ["x"]},
            TypeError,
            "class_prior: expected a numeric array, got text",
        ),
    ],
)
def test_bank_construction_names_the_bad_argument(kwargs, error, message):
    # before: "setting an array element with a sequence", "could not convert string to
    # float", "'int' object is not iterable", and complex
    # vectors lost their imaginary part with only a numpy warning
    args = {"names": ["a", "b"], "vectors": E, "backbone_id": "toy", **kwargs}
    with pytest.raises(error, match=message):
        ConceptBank(**args)


def test_bank_project_refuses_strings_by_name():
    bank = ConceptBank(["a", "b"], E, "toy")
    with pytest.raises(TypeError, match="X: expected a numeric array, got text"):
        bank.project(np.full((2, 3), "a"))


def test_check_backbone_same_weights_must_be_a_bool():
    # before: "no" was true, and the error blamed the weights
    bank = ConceptBank(["a", "b"], E, "arch/weights/1")
    bank.check_backbone("arch/other/2", same_weights=False)
    with pytest.raises(TypeError, match="same_weights: expected True or False"):
        bank.check_backbone("arch/other/2", same_weights="no")


def test_check_backbone_sees_a_numpy_integer_width():
    # before: embed_dim=np.int64(32) against a bank of d=3 passed silently
    class Backbone:
        id = "toy"
        embed_dim = np.int64(32)

    bank = ConceptBank(["a", "b"], E, "toy")
    with pytest.raises(ValueError, match="has embed_dim 32 but the bank's vectors have d=3"):
        bank.check_backbone(Backbone())


def test_bank_save_to_a_folder_and_load_of_a_non_path(tmp_path):
    bank = ConceptBank(["a", "b"], E, "toy")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        bank.save(tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(TypeError, match="path: expected the path of a concept bank file"):
        ConceptBank.load(None)


@pytest.mark.parametrize(
    ("seed", "error"), [(-1, ValueError), ("a", TypeError), (1.5, TypeError), (True, TypeError)]
)
def test_random_bank_names_a_bad_seed(seed, error):
    # before: numpy's "expected non-negative integer" / "SeedSequence expects int"; True
    # seeded with 1 unnoticed
    with pytest.raises(error, match="random_state"):
        random_bank(2, 4, random_state=seed)


def test_random_bank_takes_the_seeds_check_seed_accepts():
    # before: a numpy integer or a generator passed check_seed, then the bank refused its
    # own provenance ("provenance[0] is not JSON-serialisable: ... int64")
    bank = random_bank(2, 4, random_state=np.int64(3))
    assert bank.provenance[0]["seed"] == 3 and type(bank.provenance[0]["seed"]) is int
    np.testing.assert_array_equal(bank.vectors, random_bank(2, 4, random_state=3).vectors)
    drawn = random_bank(2, 4, random_state=np.random.default_rng(3))
    assert drawn.provenance[0]["seed"] == "<Generator>"
    np.testing.assert_array_equal(
        drawn.vectors, random_bank(2, 4, random_state=np.random.default_rng(3)).vectors
    )


def test_a_model_on_random_concepts_of_a_numpy_seed_saves(tmp_path):
    from bottlekit.bottleneck import PosthocCBM
    from bottlekit.concepts import RandomConcepts

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 5)), np.repeat([0, 1], 20)
    model = PosthocCBM(RandomConcepts(3, random_state=np.int64(1)), lam=1e-3).fit(X, y)
    back = PosthocCBM.load(model.save(tmp_path / "m.safetensors"))
    assert back.concepts == RandomConcepts(3, random_state=1)
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    drawn = PosthocCBM(RandomConcepts(3, random_state=np.random.default_rng(1)), lam=1e-3)
    with pytest.raises(TypeError, match="cannot save random_state of type Generator"):
        drawn.fit(X, y).save(tmp_path / "g.safetensors")


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: ConceptCandidates(["a"], [3]), TypeError, r"provenance\[0\]: expected a dict"),
        (
            lambda: ConceptCandidates(["a"], None, [[np.nan]], ["x"]),
            ValueError,
            "class_prior contains NaN",
        ),
        (
            lambda: ConceptCandidates(["a"], None, [["a"]], ["x"]),
            TypeError,
            "class_prior: expected a numeric array, got text",
        ),
        # out of range is a ValueError now (IndexError before), as every index check
        (
            lambda: ConceptCandidates(["a", "b"]).subset([5]),
            ValueError,
            r"indices: expected positions in -2\.\.1 of the 2 candidates, got 5$",
        ),
        (
            lambda: ConceptCandidates(["a", "b"]).subset(["a"]),
            TypeError,
            "1-D array of int, got <U",
        ),
        (
            lambda: ConceptCandidates(["a", "b"]).subset([True]),
            TypeError,
            "1-D array of int, got bo",
        ),
        # compared before any cast: 2**64 - 1 is not position -1
        (
            lambda: ConceptCandidates(["a", "b"]).subset(np.array([2**64 - 1], np.uint64)),
            ValueError,
            "got 18446744073709551615",
        ),
    ],
)
def test_candidates_name_the_bad_argument(make, error, message):
    # before: "'int' object is not iterable", a NaN prior kept (the bank refuses it only
    # later, at to_bank), "list index out of range", and True taken as position 1
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize(
    "make",
    [
        lambda prior, names: ConceptCandidates(["a", "b"], None, prior, names),
        lambda prior, names: ConceptBank(
            ["a", "b"], np.eye(2), "toy", class_prior=prior, class_names=names
        ),
    ],
    ids=["candidates", "bank"],
)
def test_candidates_and_banks_check_the_class_prior_alike(make):
    with pytest.raises(ValueError, match=r"^class_prior given without class_names; give both"):
        make(np.ones((1, 2)), None)
    with pytest.raises(ValueError, match=r"^class_names given without class_prior; give both"):
        make(None, ["x"])
    with pytest.raises(
        ValueError,
        match=r"^class_prior must have shape \(n_classes, k\) = \(1, 2\), got \(2, 2\)$",
    ):
        make(np.ones((2, 2)), ["x"])
    made = make(np.ones((1, 2), np.float64), ["x"])
    assert made.class_names == ["x"] and made.class_prior.dtype == np.float32


def test_candidates_keep_their_defaults():
    assert ConceptCandidates(["a"], []).provenance == [{}]
    assert ConceptCandidates(["a", "b", "c"]).subset([-1, 0]).names == ["c", "a"]


def test_from_text_provenance_of_non_dicts_is_named():
    class Backbone:
        id = "toy"

        def encode_texts(self, texts, templates=None):
            return np.ones((len(texts), 3))

    with pytest.raises(TypeError, match=r"provenance\[0\]: expected a dict"):
        from_text(Backbone(), ["a"], provenance=[3])


@pytest.fixture(scope="module")
def selection_data():
    rng = np.random.default_rng(0)
    bank = ConceptBank([f"c{j}" for j in range(6)], rng.normal(size=(6, 4)), "toy")
    y = np.repeat([0, 1, 2], 10)
    X = rng.normal(size=(30, 4)) + np.eye(3, 4)[y]
    return bank, X, y


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"mi_weight": np.nan}, ValueError, "mi_weight must be a number >= 0, got nan"),
        ({"mi_weight": np.inf}, ValueError, "mi_weight must be a number >= 0, got inf"),
        ({"mi_weight": "a"}, ValueError, "mi_weight must be"),
        ({"coverage_weight": np.nan}, ValueError, "coverage_weight must be a number >= 0"),
        ({"lazy": "no"}, TypeError, "lazy: expected True or False"),
        ({"per_class": "no"}, TypeError, "per_class: expected True or False"),
        ({"method": "random", "random_state": -1}, ValueError, "random_state"),
    ],
)
def test_select_names_bad_parameters(selection_data, kwargs, error, message):
    # before: a NaN weight hung the lazy greedy forever (NaN gains never compare), inf
    # and "no" were taken, a string weight failed with "'<' not supported"
    bank, X, y = selection_data
    with pytest.raises(error, match=message):
        select(bank, X, y, 3, **kwargs)


def test_select_names_bad_data(selection_data):
    bank, X, y = selection_data
    with pytest.raises(TypeError, match="X: expected a numeric array, got text"):
        select(bank, np.full(X.shape, "a"), y, 3)
    # before: NaN became one more class
    with pytest.raises(ValueError, match="y contains NaN"):
        select(bank, X, np.where(np.arange(30) == 0, np.nan, y.astype(float)), 3)
    # before: numpy's "'<' not supported between instances of 'int' and 'NoneType'"
    unlabelled = np.where(np.arange(30) == 0, None, y).astype(object)
    with pytest.raises(
        TypeError,
        match=r"y: labels of types \['NoneType', 'int'\] cannot be ordered; "
        r"expected labels of one sortable type \(numbers or strings\)",
    ):
        select(bank, X, unlabelled, 3)
    with pytest.raises(
        TypeError,
        match=r"y: labels of types \['NoneType', 'int'\] cannot be ordered; "
        r"expected labels of one sortable type \(numbers or strings\)",
    ):
        class_similarity(bank, X, unlabelled)
    # before: numpy's "matmul: Input operand 1 has a mismatch in its core dimension"
    with pytest.raises(ValueError, match=r"y must have shape \(30,\) to match X, got \(29,\)"):
        class_similarity(bank, X, y[:29])


def test_greedy_maximize_refuses_nan_instead_of_hanging():
    # before: the lazy queue never settled on NaN gains; run in a child with a time limit
    code = (
        "import numpy as np\n"
        "from bottlekit.concepts import greedy_maximize\n"
        "try:\n"
        "    greedy_maximize(np.array([np.nan, 1.0, 2.0]), np.eye(3), 2)\n"
        "except ValueError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "modular contains NaN or inf" in out.stdout
    with pytest.raises(ValueError, match="S contains NaN"):
        greedy_maximize(np.ones(2), np.full((2, 2), np.nan), 1)
    with pytest.raises(ValueError, match="coverage_weight"):
        greedy_maximize(np.ones(2), np.eye(2), 1, coverage_weight=np.nan)
    assert greedy_maximize(np.array([0.0, 1.0, 2.0]), np.eye(3), 2) == [2, 1]


OFF = {"sentence_encoder": None, "activation_threshold": None}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"top_k": True}, ValueError, "top_k must be a positive int, got True"),
        ({"max_length": True}, ValueError, "max_length must be a positive int or None"),
        ({"clip_weight": np.nan}, ValueError, "clip_weight must be a number >= 0, got nan"),
        ({"clip_weight": np.inf}, ValueError, "clip_weight must be a number >= 0, got inf"),
        ({"clip_weight": "a"}, ValueError, "clip_weight must be a number >= 0"),
        ({"class_similarity": "a"}, ValueError, "class_similarity must be a cosine"),
        ({"activation_threshold": np.nan}, ValueError, "activation_threshold must be"),
        ({"activation_threshold": "a"}, ValueError, "activation_threshold must be"),
        ({"class_names": "red body"}, TypeError, "class_names must be a list of strings"),
        ({"class_names": [1, 2]}, TypeError, r"class_names\[0\] must be a str"),
    ],
)
def test_filter_concepts_names_bad_parameters(kwargs, error, message):
    # before: True counted as 1, NaN/inf weights and thresholds were taken (every
    # comparison with NaN is false: nothing filtered), strings failed inside numpy, and a
    # string of class names was iterated character by character
    with pytest.raises(error, match=message):
        filter_concepts(None, ["red body", "blue body"], **{**OFF, **kwargs})


def test_filter_concepts_reads_a_generator_of_names_once():
    # before: IndexError "list index out of range", the generator being empty the second
    # time it was read (to take the kept names)
    names = (n for n in ["red body", "a very long name indeed"])
    kept = filter_concepts(None, names, max_length=10, **OFF)
    assert kept.names == ["red body"]
    assert kept.filter_report.removed_names("too_long") == ["a very long name indeed"]


def test_filter_concepts_names_image_embeddings_of_another_width():
    # before: "X must have shape (n, 3)" from inside ConceptBank.project
    bank = ConceptBank(["a", "b"], E, "toy")
    with pytest.raises(ValueError, match="image_embeddings have 5 features but the concept"):
        filter_concepts(None, bank, sentence_encoder=None, image_embeddings=np.ones((4, 5)))


@pytest.fixture(scope="module")
def examples():
    rng = np.random.default_rng(0)
    labels = np.repeat([[1], [0]], 20, axis=0)
    return rng.normal(size=(40, 3)) + 2 * labels, labels


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"Cs": ["a"]}, ValueError, "Cs must be a non-empty sequence of positive floats"),
        ({"Cs": [True]}, ValueError, "Cs must be a non-empty sequence of positive floats"),
        ({"significance_level": "a"}, ValueError, "significance_level must be in"),
        ({"drop_chance": "no"}, TypeError, "drop_chance: expected True or False"),
        ({"random_state": -1}, ValueError, "random_state"),
        # before: TypeError "'float' object is not iterable" from tuple(Cs)
        ({"Cs": 0.1}, TypeError, r"Cs must be a non-empty sequence of positive floats, got 0\.1"),
        # before: taken by its truth value, a progress bar for "no"
        ({"progress": "no"}, TypeError, "progress: expected True or False"),
        (
            {"max_examples": 3},
            ValueError,
            "max_examples must be an int >= 4, None or 'auto', got 3",
        ),
        ({"max_examples": 8.0}, ValueError, "max_examples must be an int >= 4, None or 'auto'"),
        ({"max_examples": "all"}, ValueError, "max_examples must be an int >= 4, None or 'auto'"),
    ],
)
def test_from_examples_names_bad_parameters(examples, kwargs, error, message):
    # before: "ufunc 'isfinite' not supported", "'<' not supported", numpy's seed error,
    # and True as C=1 or the string "no" as drop_chance=True
    X, labels = examples
    with pytest.raises(error, match=message):
        from_examples("toy", X, labels, ["striped"], **kwargs)


def test_from_examples_takes_a_numpy_integer_max_examples(examples):
    # before: "max_examples must be an int >= 4 or None, got np.int64(8)" (cv took one)
    X, labels = examples
    bank = from_examples("toy", X, labels, ["striped"], max_examples=np.int64(8))
    assert len(bank.provenance[0]["train_indices"]) == 8  # 4 positives + 4 negatives
    same = from_examples("toy", X, labels, ["striped"], max_examples=8)
    np.testing.assert_array_equal(bank.vectors, same.vectors)


def test_from_examples_refuses_embeddings_of_another_backbone(examples):
    # before: a bank of d=3 labelled with a backbone that embeds in 5 dimensions
    class Backbone:
        id = "toy"
        embed_dim = 5

        def encode_images(self, images):  # never called: the embeddings are given
            raise AssertionError

    X, labels = examples
    with pytest.raises(ValueError, match="embeddings have 3 features but backbone 'toy'"):
        from_examples(Backbone(), X, labels, ["striped"])


DOCS = ["The cardinal has a red crest. The cardinal has a black mask.", "The jay is blue."]
OFFLINE = {"sentence_encoder": None, "progress": False}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"top_k": True}, ValueError, "top_k must be a positive int, got True"),
        ({"min_support": True}, ValueError, "min_support must be a positive int, got True"),
        ({"max_concept_words": 0}, ValueError, "max_concept_words must be a positive int"),
        ({"max_concept_words": "a"}, ValueError, "max_concept_words must be a positive int"),
        ({"max_words": True}, ValueError, "max_words must be a positive int, got True"),
        ({"bm25_weight": "a"}, ValueError, r"bm25_weight must be in \[0, 1\]"),
        ({"queries": "{} bird"}, TypeError, "queries must be a list of strings"),
        ({"queries": ["{} {1}"]}, ValueError, r"queries\[0\] must be a string with exactly one"),
        ({"queries": ["{} {x}"]}, ValueError, r"queries\[0\] must be a string with exactly one"),
        ({"aliases": ["redbird"]}, TypeError, "aliases must be a dict"),
        ({"aliases": {"cardinal": "redbird"}}, TypeError, r"aliases\['cardinal'\] must be a list"),
        ({"progress": "no"}, TypeError, "progress: expected True or False"),
    ],
)
def test_retrieve_names_bad_parameters(kwargs, error, message):
    # before: True counted as 1, 0 and strings failed later ("no concepts found", "'<='
    # not supported"), extra query fields raised KeyError / "cannot switch from automatic
    # field numbering" from str.format, a list of aliases "'list' object has no attribute
    # 'get'", and a string alias was iterated letter by letter
    from bottlekit.concepts import retrieve

    with pytest.raises(error, match=message):
        retrieve(None, ["cardinal"], DOCS, **{**OFFLINE, **kwargs})


def test_load_corpus_names_a_non_corpus_and_a_non_utf8_file(tmp_path):
    from bottlekit.concepts import load_corpus

    # before: "'NoneType' object is not iterable"
    with pytest.raises(TypeError, match="corpus must be a list of document strings"):
        load_corpus(None)
    # before: a UnicodeDecodeError naming no file
    (tmp_path / "a.txt").write_bytes(b"\xff\xfe cardinal \x80 red crest.")
    with pytest.raises(ValueError, match=r"corpus file '.*a\.txt' is not UTF-8 text"):
        load_corpus(tmp_path)


def _client(url, cache_dir, **kw):
    pytest.importorskip("openai")
    from bottlekit.concepts import ChatClient

    kw = {"max_retries": 0, "backoff": 0.001, "timeout": 5, **kw}
    return ChatClient("test-model", base_url=url, api_key="sk-test", cache_dir=cache_dir, **kw)


def test_generate_names_bad_parameters(chat_server, tmp_path):
    from bottlekit.concepts import generate

    s = chat_server(lambda body: (200, "- red crest"))
    llm = _client(s.url, tmp_path)
    # before: True was sent to the model as "Give up to True items"
    with pytest.raises(ValueError, match="n_per_prompt must be a positive int, got True"):
        generate(None, ["cardinal"], llm, n_per_prompt=True, progress=False)
    # before: "'str' object has no attribute 'complete_many'"
    with pytest.raises(TypeError, match="llm: expected a ChatClient"):
        generate(None, ["cardinal"], "gpt-4o", progress=False)
    # before: True taken as one retry
    with pytest.raises(ValueError, match="max_retries must be an int >= 0, got True"):
        _client(s.url, tmp_path, max_retries=True)
    assert s.bodies == []


def test_a_non_utf8_answer_is_a_malformed_response(chat_server, tmp_path):
    # before: a UnicodeDecodeError from inside json escaped the client
    from bottlekit.concepts import LLMError, generate

    s = chat_server(lambda body: b"\xff\xfe\x00not utf8")
    with pytest.raises(LLMError, match="not a chat completion"):
        generate(None, ["cardinal"], _client(s.url, tmp_path), prompts=["color"], progress=False)


@pytest.mark.parametrize(
    ("items", "error", "message"),
    [
        # before: IndexError "concept index 9 out of range for 3 concepts"
        (
            [9],
            ValueError,
            r"items: expected concept positions in -3\.\.2 of the 3 concepts, got 9$",
        ),
        (["c0", 9], ValueError, r"items: expected concept positions in -3\.\.2 .*, got 9$"),
        # before: TypeError "subset items must be names or integer indices, got 0.5"
        ([0.5], TypeError, r"items: expected a 1-D array of int or a boolean mask of shape \(3,"),
        (["c0", 0.5], TypeError, r"items: expected a 1-D array of int, got float64"),
        (["c0", True], TypeError, r"items: expected a 1-D array of int, got bool"),
        # before: a list of booleans was refused item by item; an array of them a mask
        ([True, False], ValueError, r"boolean mask of shape \(3,\), got bool values of shape \(2"),
        # before: "'int' object is not iterable"
        (2, ValueError, r"items: expected a 1-D array of int .*, got 2$"),
    ],
)
def test_bank_subset_names_bad_positions(items, error, message):
    bank = random_bank(3, 4, random_state=0)
    with pytest.raises(error, match=message):
        bank.subset(items)


def test_bank_subset_takes_names_positions_and_masks_in_order():
    bank = random_bank(3, 4, random_state=0)
    names = bank.names
    assert bank.subset([names[2], 0, -2]).names == [names[i] for i in (2, 0, 1)]
    assert bank.subset([False, True, True]).names == names[1:]  # a list mask, as an array one
    assert bank.subset(i for i in (1, 0)).names == [names[1], names[0]]


def test_an_answer_with_a_lone_surrogate_is_a_malformed_response(chat_server, tmp_path):
    # before: UnicodeEncodeError "surrogates not allowed" out of generate, from writing
    # the answer to the cache
    from bottlekit.concepts import LLMError, generate

    body = (
        b'{"id": "c1", "object": "chat.completion", "created": 0, "model": "m", "choices": '
        b'[{"index": 0, "message": {"role": "assistant", "content": "- red\\ud800crest"}}]}'
    )
    url = chat_server(lambda request: body).url
    with pytest.raises(LLMError, match=r"not Unicode text \(surrogates not allowed: '\\ud800'"):
        generate(None, ["cardinal"], _client(url, tmp_path), prompts=["color"], progress=False)
    assert list(tmp_path.rglob("*.json")) == []


def test_from_examples_max_examples_auto_is_50_with_arrays():
    # the default became "auto" (so that a given value can be told from it, and refused
    # with a ConceptDataset); with embeddings it is still 50: 25 + 25 train of 60 + 60
    rng = np.random.default_rng(0)
    labels = np.repeat([[1], [0]], 60, axis=0)
    X = rng.normal(size=(120, 3)) + labels
    banks = [
        from_examples("toy", X, labels, ["striped"], random_state=0, **kw)
        for kw in ({}, {"max_examples": "auto"}, {"max_examples": 50})
    ]
    assert len(banks[0].provenance[0]["train_indices"]) == 50
    for other in banks[1:]:
        np.testing.assert_array_equal(other.vectors, banks[0].vectors)
        assert other.provenance == banks[0].provenance


# ------------------------------------------- what save writes, load reads back
def _long(n):
    return "x" * n


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda L: ConceptBank(["red", _long(L + 1)], E, "toy"),
            r"^names\[1\] has 4097 characters \(starting 'xxx",
        ),
        (
            lambda L: ConceptBank(
                ["red", "blue"], E, "toy", class_prior=np.ones((1, 2)), class_names=[_long(L + 1)]
            ),
            r"^class_names\[0\] has 4097 characters",
        ),
        (
            lambda L: ConceptBank(["red", "blue"], E, _long(L + 1)),
            r"^backbone_id has 4097 characters \(starting 'xxx",
        ),
        (
            lambda L: ConceptCandidates([_long(L + 1)], [{"source": "llm"}]),
            r"^names\[0\] has 4097 characters",
        ),
    ],
)
def test_a_name_longer_than_load_accepts_is_refused_when_made(make, message):
    # Before: the bank (or the candidates, then their bank) was made and saved, and
    # ConceptBank.load refused the file ("names[1] has 4097 characters; at most 4096 are
    # accepted"): the work was lost. Now it is refused where the names are checked.
    from bottlekit.concepts._io import MAX_NAME_CHARS

    assert MAX_NAME_CHARS == 4096
    with pytest.raises(ValueError, match=message + r".*expected at most 4096 \(MAX_NAME_CHARS\)"):
        make(MAX_NAME_CHARS)


def test_a_bank_of_names_as_long_as_load_accepts_round_trips(tmp_path):
    from bottlekit.concepts._io import MAX_NAME_CHARS

    L = MAX_NAME_CHARS
    bank = ConceptBank(
        ["é" * L, "b" * L],
        E,
        "t" * L,
        class_prior=np.eye(2),
        class_names=["ü" * L, "\ud800" + "c" * (L - 1)],
        provenance=[{"kind": "text", "note": "ж" * 10_000}, {"kind": "cav"}],
    )
    back = ConceptBank.load(bank.save(tmp_path / "b.safetensors"))
    assert back.names == bank.names and back.class_names == bank.class_names
    assert back.backbone_id == bank.backbone_id and back.provenance == bank.provenance
    np.testing.assert_array_equal(back.vectors, bank.vectors)
    np.testing.assert_array_equal(back.class_prior, bank.class_prior)


def test_a_bank_whose_metadata_load_would_refuse_is_not_saved(tmp_path, monkeypatch):
    # Before: save wrote any header; a bank of many concepts (each provenance dict counts
    # 3 JSON values: ~270,000 default concepts pass MAX_HEADER_VALUES = 2**20) or of
    # long provenance (over MAX_HEADER_BYTES = 64 MiB) was written, then refused by
    # load ("its header is not JSON (it may hold ... JSON values") and lost.
    from bottlekit import safetensors_file

    bank = ConceptBank([f"c{i}" for i in range(50)], np.ones((50, 2)), "toy")
    path = tmp_path / "b.safetensors"
    monkeypatch.setattr(safetensors_file, "MAX_HEADER_VALUES", 150)
    with pytest.raises(
        ValueError,
        match=rf"^concept bank not saved to '{path}': its metadata \(the bank's names, "
        r"provenance and class names\) would be refused when loaded, so the file could not "
        r"be read back: the file's header may hold 2\d\d JSON values .*at most 150 are "
        r"accepted \(MAX_HEADER_VALUES\)$",
    ):
        bank.save(path)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(safetensors_file, "MAX_HEADER_VALUES", 2**20)
    monkeypatch.setattr(safetensors_file, "MAX_HEADER_BYTES", 1000)
    with pytest.raises(
        ValueError, match=r"the file's header would have \d{4} bytes; at most 1000 are accepted"
    ):
        bank.save(path)
    assert list(tmp_path.iterdir()) == []
    small = bank.subset([0, 1])  # within both limits: saved, and loaded back
    assert ConceptBank.load(small.save(path)).names == ["c0", "c1"]


def test_a_provenance_json_cannot_write_is_refused_by_name():
    # Before: json's own ValueError ("Exceeds the limit (4300 digits) for integer string
    # conversion"), naming neither the argument nor the concept.
    with pytest.raises(
        ValueError, match=r"^provenance\[1\] cannot be written as JSON \(Exceeds the limit"
    ):
        ConceptBank(["a", "b"], E, "toy", provenance=[{}, {"n": 10**5000}])


@pytest.mark.parametrize(
    ("indices", "repeated"), [([0, 0], "0"), ([2, -1], "2"), ([1, 0, 1], "1")]
)
def test_candidates_subset_names_a_repeated_position(indices, repeated):
    # before: "names has duplicate name 'a' at positions 0 and 1", an argument subset's
    # caller never gave
    with pytest.raises(ValueError, match=rf"^indices: positions \[{repeated}\] are given more"):
        ConceptCandidates(["a", "b", "c"]).subset(indices)
