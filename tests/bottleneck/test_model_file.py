"""Model and bank files from others: tampered files load exactly or are refused by name.

Each case is one a hostile tester found (issue 23); before the fix each one loaded
silently, allocated gigabytes, or leaked a raw error from deep inside.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from safetensors.numpy import save

from bottlekit.bottleneck import LaBo, PosthocCBM
from bottlekit.concepts import ConceptBank
from bottlekit.safetensors_file import read_safetensors


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    bank = ConceptBank([f"c{i}" for i in range(4)], rng.normal(size=(4, 6)), "toy")
    y = (X @ bank.vectors[0] > 0).astype(int) + (X @ bank.vectors[1] > 0)
    return PosthocCBM(bank, lam=1e-3, random_state=0).fit(X, y), X


def _rewrite(path, out, edit):
    """Read a saved file, let ``edit(tensors, meta)`` change it, write it to ``out``."""
    contents = read_safetensors(path, "model")
    tensors, meta = dict(contents), contents.meta
    edit(tensors, meta)
    out.write_bytes(save(tensors, metadata={"bottlekit": json.dumps(meta)}))
    return out


@pytest.fixture
def saved(fitted, tmp_path):
    return fitted[0].save(tmp_path / "model.safetensors")


def test_an_untouched_file_loads_into_the_same_model(fitted, saved):
    model, X = fitted
    loaded = PosthocCBM.load(saved)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def _set_state(key, value):
    def edit(tensors, meta):
        meta["state"][key] = value

    return edit


def _set_tensor(key, fn):
    def edit(tensors, meta):
        tensors[key] = fn(tensors.get(key))

    return edit


def _drop_tensor(key):
    def edit(tensors, meta):
        del tensors[key]

    return edit


CASES = {
    "state key replacing a method": (_set_state("predict", 1), r"unknown attribute.*predict"),
    "extra tensor replacing a method": (
        _set_tensor("model/predict", lambda _: np.zeros(3, np.float32)),
        r"unknown attribute.*predict",
    ),
    "coef_ transposed": (
        _set_tensor("model/coef_", lambda a: np.ascontiguousarray(a.T)),
        r"coef_ has shape \(4, 3\); expected \(3, 4\)",
    ),
    "NaN in coef_": (
        _set_tensor("model/coef_", lambda a: np.where(a == a.flat[0], np.nan, a)),
        r"coef_ contains NaN",
    ),
    "classes_ of the wrong length": (
        _set_tensor("model/classes_", lambda a: np.arange(5)),
        r"coef_ has shape \(3, 4\); expected \(5, 4\)",
    ),
    "missing intercept_": (_drop_tensor("model/intercept_"), r"lacks the attribute.*intercept_"),
    "unknown hyper-parameter": (
        lambda t, m: m["params"].update(evil=1),
        r"PosthocCBM has no parameter.*evil",
    ),
    "invalid hyper-parameter": (lambda t, m: m["params"].update(lam=-1.0), r"hyper-parameters"),
    "huge string dtype": (
        _set_state("pruned_concepts_", {"__ndarray__": ["x"], "dtype": "<U20000000"}),
        r"strings of 20000000 characters",
    ),
    "unknown tensor outside the model": (
        _set_tensor("evil", lambda _: np.zeros(1, np.float32)),
        r"unknown tensor.*evil",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_tampered_model_file_is_refused_by_name(saved, tmp_path, case):
    edit, message = CASES[case]
    bad = _rewrite(saved, tmp_path / "bad.safetensors", edit)
    with pytest.raises(ValueError, match=message) as info:
        PosthocCBM.load(bad)
    assert "bad.safetensors" in str(info.value)


def test_a_dtype_changed_in_the_header_is_refused(saved, tmp_path):
    # F32 -> I32 keeps every byte range valid; the old loader read the bits as integers
    # (the model then agreed with the original on 3.8% of predictions).
    raw = saved.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    header["model/coef_"]["dtype"] = "I32"
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (n - len(text))
    assert len(text) == n
    bad = tmp_path / "i32.safetensors"
    bad.write_bytes(raw[:8] + text + raw[8 + n :])
    with pytest.raises(ValueError, match=r"coef_ should be a float array, got .* int32"):
        PosthocCBM.load(bad)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01garbage", r"fewer than a safetensors header|header claims"),
        (struct.pack("<Q", 2**40) + b"{}", r"header claims 1099511627776 bytes"),
        (struct.pack("<Q", 4) + b"nope", r"header is not JSON"),
        (struct.pack("<Q", 2) + b"{}", r"no bottlekit metadata"),
    ],
)
def test_malformed_files_give_one_clear_error_for_models_and_banks(tmp_path, content, message):
    path = tmp_path / "x.safetensors"
    path.write_bytes(content)
    for loader in (PosthocCBM.load, ConceptBank.load, LaBo.load):
        with pytest.raises(ValueError, match=message):
            loader(path)


def test_header_byte_ranges_must_match_shapes(tmp_path):
    header = {
        "w": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 16]},
        "__metadata__": {"bottlekit": "{}"},
    }
    text = json.dumps(header).encode()
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + bytes(16))
    with pytest.raises(ValueError, match=r"needs 4000000 bytes but the header gives it 16"):
        read_safetensors(path, "model")


def _bank_file(tmp_path, edit):
    bank = ConceptBank(["a", "b"], np.eye(2, 3), "toy")
    tensors, meta = bank.to_state()
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    edit(tensors, meta)
    path = tmp_path / "bank.safetensors"
    path.write_bytes(save(tensors, metadata={"bottlekit": json.dumps(meta)}))
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t, m: m.pop("names"), r"'names' entry is missing"),
        (lambda t, m: m.update(names="ab"), r"'names' entry is missing or malformed"),
        (lambda t, m: t.update(vectors=t["vectors"].astype(np.int32)), r"vectors has dtype int32"),
        (lambda t, m: t.update(extra=np.zeros(2)), r"unknown arrays \['extra'\]"),
    ],
)
def test_a_tampered_bank_file_is_refused_by_name(tmp_path, edit, message):
    with pytest.raises(ValueError, match=message):
        ConceptBank.load(_bank_file(tmp_path, edit))


def test_a_model_whose_metadata_load_would_refuse_is_not_saved(fitted, tmp_path, monkeypatch):
    # Before: save wrote any header; one over MAX_HEADER_BYTES or MAX_HEADER_VALUES (a
    # model of a bank of ~270,000 concepts) was written, then refused by load and lost.
    from bottlekit import safetensors_file

    model = fitted[0]
    path = tmp_path / "model.safetensors"
    monkeypatch.setattr(safetensors_file, "MAX_HEADER_VALUES", 50)
    with pytest.raises(
        ValueError,
        match=rf"^model not saved to '{path}': its metadata \(the model's parameters, "
        r"concepts and learned state\) would be refused when loaded, so the file could not "
        r"be read back: the file's header may hold \d+ JSON values .*at most 50 are accepted",
    ):
        model.save(path)
    monkeypatch.setattr(safetensors_file, "MAX_HEADER_VALUES", 2**20)
    monkeypatch.setattr(safetensors_file, "MAX_HEADER_BYTES", 500)
    with pytest.raises(ValueError, match=r"header would have \d+ bytes; at most 500 are accepted"):
        model.save(path)
    assert list(tmp_path.iterdir()) == []


def _with_header_text(path, out, change):
    """``path`` rewritten to ``out`` with its header's JSON text replaced by
    ``change(text)`` (padded to a multiple of 8 bytes, as safetensors pads it)."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    text = change(raw[8 : 8 + n].decode().rstrip()).encode()
    text += b" " * (-len(text) % 8)
    out.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n :])
    return out


def _metadata_with(text, extra):
    """The header ``text`` with ``extra`` appended to its bottlekit metadata object."""
    header = json.loads(text)
    meta = header["__metadata__"]["bottlekit"]
    header["__metadata__"]["bottlekit"] = meta[:-1] + extra + "}"
    return json.dumps(header)


DUPLICATES = {
    # before: loaded with the second backbone id, the first one dropped without a word
    "a metadata key listed twice": (
        lambda t: _metadata_with(t, ', "backbone_id": "ViT-B-32/openai"'),
        r"its bottlekit metadata lists key 'backbone_id' twice$",
    ),
    # before: loaded; the first entry (its dtype, shape and byte range unchecked) dropped
    "a tensor listed twice": (
        lambda t: '{"vectors": {"dtype": "F32", "shape": [9], "data_offsets": [0, 36]}, ' + t[1:],
        r"its header lists key 'vectors' twice$",
    ),
    "the metadata listed twice": (
        lambda t: '{"__metadata__": {"bottlekit": "{}"}, ' + t[1:],
        r"its header lists key '__metadata__' twice$",
    ),
}


@pytest.mark.parametrize("case", list(DUPLICATES))
def test_a_key_listed_twice_in_a_file_is_refused(tmp_path, case):
    change, message = DUPLICATES[case]
    bank = ConceptBank(["c0", "c1"], np.eye(2, 3), "toy")
    bad = _with_header_text(
        bank.save(tmp_path / "ok.safetensors"), tmp_path / "b.safetensors", change
    )
    with pytest.raises(
        ValueError,
        match=rf"^'{bad}' is not a readable safetensors file of a bottlekit concept bank: "
        + message,
    ):
        ConceptBank.load(bad)


def test_a_key_listed_twice_inside_a_model_s_metadata_is_refused(saved, tmp_path):
    # before: loaded with lam=5.0, the lam the model was fitted with dropped
    def change(text):
        header = json.loads(text)
        meta = header["__metadata__"]["bottlekit"]
        where = meta.index('"params": {') + len('"params": {')
        header["__metadata__"]["bottlekit"] = meta[:where] + '"lam": 5.0, ' + meta[where:]
        return json.dumps(header)

    bad = _with_header_text(saved, tmp_path / "m.safetensors", change)
    with pytest.raises(ValueError, match=r"m\.safetensors' .*metadata lists key 'lam' twice$"):
        PosthocCBM.load(bad)
