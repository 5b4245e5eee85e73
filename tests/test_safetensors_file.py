"""encode_safetensors: the bytes the safetensors library writes, checked with one count."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import save

from bottlekit import safetensors_file
from bottlekit.concepts import ConceptBank
from bottlekit.safetensors_file import encode_safetensors, read_safetensors

TENSORS = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(2)}
METAS = [
    None,
    {},
    {"a": [1, 2, {"b": "x[y]:z,"}], "u": "\u00e9\u4e2d", "n": None},
]


@pytest.mark.parametrize("meta", METAS)
def test_encode_writes_the_bytes_of_safetensors_save(tmp_path, meta):
    data = encode_safetensors(TENSORS, meta, kind="model", path="m", holds="its parameters")
    metadata = None if meta is None else {"bottlekit": json.dumps(meta)}
    assert data == save(TENSORS, metadata=metadata)
    (tmp_path / "m.safetensors").write_bytes(data)
    back = read_safetensors(tmp_path / "m.safetensors", "model", require_metadata=False)
    assert back.meta == (meta or {}) and sorted(back) == ["b", "w"]
    np.testing.assert_array_equal(back["w"], TENSORS["w"])


def test_a_bank_file_is_the_bytes_of_safetensors_save(tmp_path):
    bank = ConceptBank(["a [b]", "c: d, e"], np.eye(2, 3, dtype=np.float32), "toy")
    tensors, meta = bank.to_state()
    path = bank.save(tmp_path / "b.safetensors")
    expected = save(
        {k: np.ascontiguousarray(v) for k, v in tensors.items()},
        metadata={"bottlekit": json.dumps(meta)},
    )
    assert path.read_bytes() == expected


def test_encode_counts_the_json_values_once(monkeypatch):
    # Before: five counts per encode (the header's bytes and the metadata's text by
    # encode_safetensors itself, then by the reader's checks the header's bytes, its
    # decoded text and the metadata again); now the reader's count of the header's bytes,
    # whose refusal encode_safetensors words as FileTooLarge.
    counted = []
    check = safetensors_file._check_values

    def counting(text, max_values):
        counted.append(len(text))
        return check(text, max_values)

    monkeypatch.setattr(safetensors_file, "_check_values", counting)
    data = encode_safetensors(TENSORS, METAS[2], kind="model", path="m", holds="x")
    assert counted == [int.from_bytes(data[:8], "little")]
    counted.clear()
    monkeypatch.setattr(safetensors_file, "MAX_HEADER_VALUES", 10)
    with pytest.raises(
        safetensors_file.FileTooLarge,
        match=r"^model not saved to 'm': its metadata \(x\) would be refused when loaded, so "
        r"the file could not be read back: the file's header may hold \d+ JSON values "
        r"\(counted by its '\[', '\{', ',' and ':'\); at most 10 are accepted "
        r"\(MAX_HEADER_VALUES\)$",
    ):
        encode_safetensors(TENSORS, METAS[2], kind="model", path="m", holds="x")
    assert len(counted) == 1
