"""Model, bank, dictionary and linear-head files from others, second sweep (hostile files).

Each case says what happened before the fix. What ``test_model_file.py``,
``test_cbm_hostile.py``, ``tests/concepts/test_banks_hostile.py`` and
``tests/concepts/test_discovery_hostile.py`` already pin is not repeated here.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from safetensors.numpy import save

from bottlekit.bottleneck import PosthocCBM
from bottlekit.bottleneck.linear_head import load_linear_head, save_linear_head
from bottlekit.concepts import ConceptBank
from bottlekit.concepts.discovery import ConceptDictionary
from bottlekit.safetensors_file import read_safetensors

LOADERS = {
    "model": PosthocCBM.load,
    "concept bank": ConceptBank.load,
    "concept dictionary": ConceptDictionary.load,
    "linear head": load_linear_head,
}


def _saved_model_fit():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6))
    bank = ConceptBank([f"c{i}" for i in range(4)], rng.normal(size=(4, 6)), "toy")
    y = (X @ bank.vectors[0] > 0).astype(int) + (X @ bank.vectors[1] > 0)
    return PosthocCBM(bank, lam=1e-3, random_state=0).fit(X, y), X


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    model, _ = _saved_model_fit()
    return model.save(tmp_path_factory.mktemp("m") / "model.safetensors")


def _rewrite(src, out, kind, edit):
    contents = read_safetensors(src, kind, require_metadata=False)
    tensors, meta = dict(contents), contents.meta
    edit(tensors, meta)
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    out.write_bytes(save(tensors, metadata={"bottlekit": json.dumps(meta)}))
    return out


# ------------------------------------------------------------ not a regular file
def _fifo(tmp_path):
    path = tmp_path / "pipe.safetensors"
    os.mkfifo(path)
    return path


def _link_to(target):
    def make(tmp_path):
        path = tmp_path / "link.safetensors"
        path.symlink_to(target)
        return path

    return make


SPECIAL = {
    "FIFO": (_fifo, "a FIFO"),
    "symlink to /dev/zero": (_link_to("/dev/zero"), "a character device"),
    "symlink to /dev/null": (_link_to("/dev/null"), "a character device"),
}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX special files")
@pytest.mark.parametrize("kind", list(LOADERS))
@pytest.mark.parametrize("special", list(SPECIAL))
def test_a_special_file_is_named_as_such(tmp_path, kind, special):
    # Before: "no model file at '.../pipe.safetensors'" (FileNotFoundError) for a path
    # that exists, so the user looked for a missing file; the reader now opens without
    # blocking and checks the open descriptor, so a FIFO cannot hang it either.
    make, what = SPECIAL[special]
    path = make(tmp_path)
    if not os.path.exists("/dev/zero") and "dev" in special:
        pytest.skip("no /dev/zero")
    with pytest.raises(ValueError, match=rf"{path.name}' is {what}.*expected a regular file"):
        LOADERS[kind](path)


def test_a_folder_given_as_a_linear_head_says_so(tmp_path):
    # Before: "path: no file at '...'" for a folder that exists.
    with pytest.raises(IsADirectoryError, match="is a folder; expected the path of a linear"):
        load_linear_head(tmp_path)


# ---------------------------------------------------------------- model files
def _state(key, value):
    return lambda t, m: m["state"].__setitem__(key, value)


DEEP = json.loads("[" * 500 + "]" * 500)


def _random_concepts(**args):
    def edit(tensors, meta):
        for key in [k for k in tensors if k.startswith("concepts/")]:
            del tensors[key]
        meta["concepts"] = {"spec": "RandomConcepts", "args": args}

    return edit


MODEL_CASES = {
    # before: RecursionError from deep inside from_json_value
    "state value nested 500 deep": (
        _state("pruned_concepts_", DEEP),
        r"pruned_concepts_ nests lists or objects more than 32 levels deep",
    ),
    "hyper-parameter nested 500 deep": (
        lambda t, m: m["params"].__setitem__("lam", DEEP),
        r"lam nests lists or objects more than 32 levels deep",
    ),
    # before: ValueError from np.dtype ("dtype size in bytes must fit into a C int"),
    # naming neither the file nor the key
    "a sub-array dtype of 10^18 floats": (
        lambda t, m: m["params"].__setitem__(
            "lam", {"__ndarray__": [1], "dtype": "(1000000000,1000000000)f8"}
        ),
        r"lam has an invalid array dtype '\(1000000000,1000000000\)f8'; expected a numpy "
        r"dtype string such as '<f8'",
    ),
    # before: loaded as a structured array
    "a structured dtype": (
        _state("pruned_concepts_", {"__ndarray__": [[1, 2]], "dtype": "f8,f8"}),
        r"pruned_concepts_ has an invalid array dtype 'f8,f8'",
    ),
    "a dtype that is not text": (
        _state("pruned_concepts_", {"__ndarray__": [1], "dtype": ["f8"]}),
        r"pruned_concepts_ has an invalid array dtype \['f8'\]",
    ),
    # before: 20,000 empty strings declared 4096 characters wide took 335 MB (2^20 of
    # them, 3 MB of text, would take 16 GiB)
    "fixed-width strings of 335 MB": (
        _state("pruned_concepts_", {"__ndarray__": [""] * 20_000, "dtype": "<U4096"}),
        r"pruned_concepts_ declares an array of 327680000 bytes \(<U4096\); the arrays of a "
        r"model file's metadata may take at most 268435456 bytes in all",
    ),
    # the bound is the file's: two arrays of 164 MB each
    "two arrays of 164 MB": (
        lambda t, m: m["state"].update(
            evil={"__ndarray__": [""] * 10_000, "dtype": "<U4096"},
            pruned_concepts_={"__ndarray__": [""] * 10_000, "dtype": "<U4096"},
        ),
        r"declares an array of 163840000 bytes \(<U4096\); .* at most 268435456 bytes in all",
    ),
    # before: loaded; intervene("c0") then silently edited only the first of the two
    "duplicate concept names": (
        _state("concept_names_", ["c0", "c0", "c1", "c2"]),
        r"concept_names_ has duplicate name 'c0' at positions 0 and 1",
    ),
    # before: loaded (a bank refuses the same names)
    "blank concept name": (
        _state("concept_names_", ["c0", " ", "c1", "c2"]),
        r"concept_names_\[1\] is an empty or blank string",
    ),
    # before: loaded; global importance (coef_ * scale) had its signs flipped
    "negative concept scale": (
        lambda t, m: t.__setitem__("model/concept_scale_", -np.abs(t["model/concept_scale_"])),
        r"concept_scale_ holds a negative value .*expected standard deviations >= 0",
    ),
    # before: loaded; raw interventions were mapped onto a reversed range
    "concept low above high": (
        lambda t, m: t.__setitem__("model/concept_low_", t["model/concept_high_"] + 1),
        r"concept_low_ exceeds concept_high_ for concept 'c0'",
    ),
    # before: "vectors contain NaN or inf ..." without naming the file
    "NaN in the stored bank": (
        lambda t, m: t.__setitem__(
            "concepts/vectors", np.full_like(t["concepts/vectors"], np.nan)
        ),
        r"malformed concept bank \(vectors contain NaN",
    ),
    # before: loaded with a spec RandomConcepts itself would refuse (found only at a refit)
    "RandomConcepts of -1 concepts": (
        _random_concepts(n_concepts=-1),
        r"malformed concept specification \(n_concepts must be an integer >= 1, got -1\)",
    ),
    "RandomConcepts of text concepts": (
        _random_concepts(n_concepts="x"),
        r"malformed concept specification \(n_concepts must be an integer >= 1, got 'x'\)",
    ),
    "RandomConcepts seeded by a list": (
        _random_concepts(n_concepts=4, random_state=[1, 2]),
        r"malformed concept specification \(random_state: expected None, an int",
    ),
    # before: loaded; the spec could not have given the model's 4 concepts
    "RandomConcepts of fewer concepts than the model": (
        _random_concepts(n_concepts=2),
        r"RandomConcepts\(n_concepts=2\) cannot have given the model's 4 concepts",
    ),
    # before: "names has duplicate name 'a' ..." without naming the file
    "duplicate names in the stored bank": (
        lambda t, m: m["concepts"]["bank"].__setitem__("names", ["a", "a", "b", "c"]),
        r"malformed concept bank \(names has duplicate name 'a'",
    ),
}


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_a_tampered_model_file_names_the_file_and_attribute(saved_model, tmp_path, case):
    edit, message = MODEL_CASES[case]
    bad = _rewrite(saved_model, tmp_path / "bad.safetensors", "model", edit)
    with pytest.raises(ValueError, match=r"bad\.safetensors'?: .*" + message):
        PosthocCBM.load(bad)


def test_an_untampered_model_still_loads(saved_model):
    loaded = PosthocCBM.load(saved_model)
    assert loaded.concept_names_ == ["c0", "c1", "c2", "c3"]
    # the same head and the same probabilities as the model that was saved (refitted
    # here: the fit is seeded)
    model, X = _saved_model_fit()
    np.testing.assert_allclose(loaded.coef_, model.coef_, rtol=1e-6)
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=1e-5)


# ----------------------------------------------------------------- bank files
def _bank_file(tmp_path, edit):
    bank = ConceptBank(["a", "b"], np.eye(2, 3), "toy")
    src = bank.save(tmp_path / "ok.safetensors")
    return _rewrite(src, tmp_path / "bank.safetensors", "concept bank", edit)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t, m: m.update(names=["a", "b", "c"]), r"vectors must have shape"),
        (lambda t, m: t.update(intercepts=np.zeros(7)), r"intercepts must have shape"),
        (lambda t, m: m.update(names=["a", "a"]), r"names has duplicate name 'a'"),
        (
            lambda t, m: (t.update(class_prior=np.ones((3, 2))), m.update(class_names=["x", "y"])),
            r"class_prior must have shape",
        ),
    ],
)
def test_a_bank_file_refused_by_the_constructor_names_the_file(tmp_path, edit, message):
    # Before: the constructor's ValueError came out alone, without the file's name.
    with pytest.raises(
        ValueError, match=r"bank\.safetensors': malformed concept bank .*" + message
    ):
        ConceptBank.load(_bank_file(tmp_path, edit))


# ----------------------------------------------------------- dictionary files
@pytest.fixture(scope="module")
def saved_dictionary(tmp_path_factory):
    rng = np.random.default_rng(1)
    atoms = rng.normal(size=(4, 6)).astype(np.float32)
    d = ConceptDictionary(
        method="topk_sae",
        dictionary=atoms,
        encoder_weight=atoms.copy(),
        encoder_bias=np.zeros(4, np.float32),
        pre_bias=np.zeros(6, np.float32),
        input_scale=1.0,
        k=2,
    )
    return d.save(tmp_path_factory.mktemp("d") / "dict.safetensors")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        # before: the int32 bits were converted to floats (a silently different dictionary)
        (
            lambda t, m: t.update(dictionary=t["dictionary"].view(np.int32)),
            r"dictionary has dtype int32; expected floats",
        ),
        (
            lambda t, m: t.update(encoder_bias=np.ones(4, np.uint8)),
            r"encoder_bias has dtype uint8; expected floats",
        ),
        (lambda t, m: t.update(pre_bias=np.ones(6, bool)), r"pre_bias has dtype bool"),
        # before: loaded; encode kept every atom, as if k were the dictionary's size
        (lambda t, m: m.update(k=10**9), r"k: expected at most the dictionary's 4 atoms"),
    ],
)
def test_a_tampered_dictionary_file_is_refused(saved_dictionary, tmp_path, edit, message):
    bad = _rewrite(saved_dictionary, tmp_path / "bad.safetensors", "concept dictionary", edit)
    with pytest.raises(ValueError, match=r"bad\.safetensors': " + message):
        ConceptDictionary.load(bad)


def test_a_float16_dictionary_still_loads(saved_dictionary, tmp_path):
    half = _rewrite(
        saved_dictionary,
        tmp_path / "half.safetensors",
        "concept dictionary",
        lambda t, m: t.update(dictionary=t["dictionary"].astype(np.float16)),
    )
    loaded, original = ConceptDictionary.load(half), ConceptDictionary.load(saved_dictionary)
    assert loaded.dictionary.dtype == np.float32
    # the float16 values converted, not their bits reinterpreted: exactly the rounded atoms
    want = original.dictionary.astype(np.float16).astype(np.float32)
    assert not np.array_equal(want, original.dictionary)  # float16 did round them
    np.testing.assert_array_equal(loaded.dictionary, want)
    np.testing.assert_array_equal(loaded.encoder_weight, original.encoder_weight)


# ---------------------------------------------------------- linear-head files
@pytest.mark.parametrize(("weight", "bias"), [((0, 6), (0,)), ((3, 0), (3,))])
def test_a_linear_head_without_classes_or_features_is_refused(tmp_path, weight, bias):
    # Before: loaded (and written); the audit then failed deep inside on an empty head.
    path = tmp_path / "head.safetensors"
    path.write_bytes(save({"weight": np.zeros(weight, np.float32), "bias": np.zeros(bias)}))
    with pytest.raises(
        ValueError, match=r"head\.safetensors': weight \(C, d\) .*C and d must be >= 1"
    ):
        load_linear_head(path)
    with pytest.raises(
        ValueError, match=r"^weight/bias: expected \(C, d\) and \(C,\), got .*C and d must be >= 1"
    ):
        save_linear_head(tmp_path / "out.safetensors", np.zeros(weight), np.zeros(bias))
    assert not (tmp_path / "out.safetensors").exists()


@pytest.mark.parametrize("key", ["provenance", "class_names"])
def test_a_bank_file_without_an_optional_entry_names_the_file(tmp_path, key):
    # Before: a bank file without its "provenance" entry passed the check (missing read
    # as None) and then failed with a bare KeyError: 'provenance', naming no file.
    path = _bank_file(tmp_path, lambda t, m: m.pop(key))
    if key == "provenance":
        with pytest.raises(ValueError, match=r"bank\.safetensors': the bank's 'provenance'"):
            ConceptBank.load(path)
    else:  # class_names: absent reads as None, as for a bank without a class prior
        assert ConceptBank.load(path).class_names is None


def test_a_bank_file_of_a_huge_backbone_id_names_the_file(tmp_path):
    # Before: loaded, and every check_backbone message showed the whole id
    path = _bank_file(tmp_path, lambda t, m: m.update(backbone_id="x" * 5000))
    with pytest.raises(ValueError, match=r"bank's backbone_id has 5000 characters; at most"):
        ConceptBank.load(path)


@pytest.mark.parametrize("key", ["names", "class_names"])
def test_a_bank_file_of_a_huge_name_names_the_file(tmp_path, key):
    # Before: a 10-million-character name loaded, and the bank's repr (in every message
    # that shows the bank) held it whole.
    def edit(t, m):
        if key == "class_names":
            t["class_prior"] = np.ones((1, 2), np.float32)
        m[key] = ["x" * 5000, "b"][: 1 if key == "class_names" else 2]

    with pytest.raises(
        ValueError, match=rf"bank\.safetensors': the bank's {key}\[0\] has 5000 characters"
    ):
        ConceptBank.load(_bank_file(tmp_path, edit))


def test_a_bank_of_a_long_name_has_a_short_repr():
    from bottlekit.concepts import ConceptCandidates

    long_name = "x" * 4096  # the longest a name may be (MAX_NAME_CHARS; was 100_000)
    bank, cands = (
        repr(ConceptBank([long_name, "b"], np.eye(2), "toy")),
        repr(ConceptCandidates([long_name, "b"])),
    )
    assert len(bank) < 300 and len(cands) < 300
    # the name is cut to its first 49 characters and its length; the others are whole
    names = "names=['" + "x" * 49 + "... (a str of length 4096), 'b']"
    assert bank == f"ConceptBank(k=2, d=2, backbone_id='toy', {names})"
    assert cands == f"ConceptCandidates(k=2, {names})"
