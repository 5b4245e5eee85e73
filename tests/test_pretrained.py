"""The pretrained table: shipped files match it, checks are cached, load_backbone walks it."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from bottlekit import pretrained
from bottlekit.backbones import WeightsNotFoundError, list_backbones, load_backbone


@pytest.fixture
def fresh_checks(monkeypatch):
    """Forget earlier checks and count the files hashed."""
    monkeypatch.setattr(pretrained, "_VERIFIED", {})
    hashed = []
    real = pretrained._sha256_of

    def counting(path):
        hashed.append(path)
        return real(path)

    monkeypatch.setattr(pretrained, "_sha256_of", counting)
    return hashed


def _register(monkeypatch, model, path, **cfg):
    blob = path.read_bytes() if path.is_file() else b""
    entry = {"file": str(path), "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}
    monkeypatch.setitem(pretrained._PRETRAINED, model, {pretrained.SHIPPED_TAG: {**entry, **cfg}})


def test_the_shipped_world_tiny_file_is_the_tables_and_its_metadatas():
    cfg = pretrained.get_pretrained_cfg("world-tiny", "bottlekit")
    path = pretrained.pretrained_file("world-tiny", "bottlekit")
    blob = path.read_bytes()
    assert hashlib.sha256(blob).hexdigest() == cfg["sha256"] and len(blob) == cfg["bytes"]
    meta = json.loads((path.parent / "world-tiny.json").read_text())
    assert (meta["sha256"], meta["bytes"]) == (cfg["sha256"], cfg["bytes"])


def test_a_file_is_hashed_once_until_it_changes(fresh_checks, tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"weights v1")
    _register(monkeypatch, "some-model", path)
    assert pretrained.pretrained_file("some-model", "bottlekit") == path
    assert pretrained.pretrained_file("some-model", "bottlekit") == path
    assert len(fresh_checks) == 1
    os.utime(path, ns=(1, 1))  # another modification time: checked again
    pretrained.pretrained_file("some-model", "bottlekit")
    assert len(fresh_checks) == 2


def test_damaged_replaced_and_missing_files_are_named(fresh_checks, tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"weights v1")
    _register(monkeypatch, "some-model", path)
    path.write_bytes(b"weights v2")  # same size, other bytes
    with pytest.raises(ValueError, match=r"SHA-256 [0-9a-f]{64}, the weights of \('some-model'"):
        pretrained.pretrained_file("some-model", "bottlekit")
    path.write_bytes(b"weights v10")
    with pytest.raises(ValueError, match=r"has 11 bytes, the weights .* have 10"):
        pretrained.pretrained_file("some-model", "bottlekit")
    assert len(fresh_checks) == 1  # a wrong size needs no hashing
    path.unlink()
    with pytest.raises(WeightsNotFoundError, match=r"ships for 'some-model' are missing: .*w\."):
        pretrained.pretrained_file("some-model", "bottlekit")
    with pytest.raises(KeyError, match="no pretrained entry"):
        pretrained.pretrained_file("some-model", "laion2b")


def test_load_backbone_takes_a_models_weights_from_the_table(
    tiny_configs, tmp_path, monkeypatch, rng_images
):
    from safetensors.torch import save_file

    trained = load_backbone("test-tiny-vit", device="cpu", random_state=5)
    ckpt = tmp_path / "test-tiny-vit.safetensors"
    save_file({k: v.contiguous() for k, v in trained.model.state_dict().items()}, str(ckpt))
    assert load_backbone("test-tiny-vit", device="cpu").weights == "random"  # no entry yet
    _register(monkeypatch, "test-tiny-vit", ckpt)

    shipped = load_backbone("test-tiny-vit", device="cpu")  # pretrained=None: the table's
    assert shipped.weights == "bottlekit"
    assert load_backbone("test-tiny-vit", "bottlekit", device="cpu").weights == "bottlekit"
    np.testing.assert_array_equal(
        shipped.encode_images(rng_images, progress=False),
        trained.encode_images(rng_images, progress=False),
    )
    assert load_backbone("test-tiny-vit", "random", device="cpu").weights == "random"
    row = next(r for r in list_backbones() if r["name"] == "test-tiny-vit")
    assert row["tags"][0] == row["local"][0] == "bottlekit"

    ckpt.write_bytes(b"x" * ckpt.stat().st_size)  # damaged in place: refused, not loaded
    with pytest.raises(ValueError, match="SHA-256"):
        load_backbone("test-tiny-vit", device="cpu")
    ckpt.unlink()
    with pytest.raises(WeightsNotFoundError, match="ships for 'test-tiny-vit' are missing"):
        load_backbone("test-tiny-vit", device="cpu")
    row = next(r for r in list_backbones() if r["name"] == "test-tiny-vit")
    assert "bottlekit" not in row["tags"] and "bottlekit" not in row["local"]
