"""The shipped world-tiny CLIP loads offline and reproduces its recorded figures."""

import json
import socket

import numpy as np
import pytest

from bottlekit.world.evaluate import EVAL_FILE, fit_linear_probe
from bottlekit.world.train import METADATA_FILE, WEIGHTS_DIR, WEIGHTS_FILE

WEIGHTS = WEIGHTS_DIR / WEIGHTS_FILE


@pytest.fixture(scope="module")
def recorded():
    if not EVAL_FILE.is_file():
        pytest.skip(f"{EVAL_FILE} missing: run `python -m bottlekit.world.evaluate --write`")
    return json.loads(EVAL_FILE.read_text())


@pytest.fixture(scope="module")
def backbone():
    # no network: any attempt to open a connection fails the test
    mp = pytest.MonkeyPatch()

    def refuse(*args, **kwargs):
        raise AssertionError("world-tiny tried to use the network")

    mp.setattr(socket.socket, "connect", refuse)
    mp.setenv("HF_HUB_OFFLINE", "1")
    try:
        from bottlekit.backbones import load_backbone

        yield load_backbone("world-tiny", device="cpu")
    finally:
        mp.undo()


def test_weights_file_is_small_and_matches_metadata():
    import hashlib

    assert WEIGHTS.is_file()
    blob = WEIGHTS.read_bytes()
    assert len(blob) <= 30 * 2**20
    meta = json.loads((WEIGHTS_DIR / METADATA_FILE).read_text())
    assert meta["sha256"] == hashlib.sha256(blob).hexdigest()
    assert "partial_step" not in meta, "the shipped weights are a partial checkpoint"


def test_loads_offline_with_stable_id(recorded, backbone):
    from bottlekit.backbones import load_backbone

    assert backbone.id == recorded["backbone_id"]
    assert load_backbone("world-tiny", device="cpu").id == backbone.id
    x = backbone.encode_images(np.zeros((2, 64, 64, 3), np.uint8), progress=False)
    assert x.shape == (2, 64) and np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)


def test_reproduces_linear_probe_accuracy(recorded, backbone):
    from bottlekit.world import make_world

    # the same probe as the recorded figure (same train images, same C) ...
    train = make_world(recorded["n_train"], "train", recorded["seed"], return_masks=False)
    x_train = backbone.encode_images(train.images, batch_size=256, progress=False)
    probe = fit_linear_probe(x_train, train.labels, recorded["C"])
    # ... scored on a fresh, independent sample of 480 test images (another seed), so
    # the accuracy differs from the recorded one only by binomial sampling noise:
    # sd = sqrt(p(1-p)/480); tolerance 4 sd (at least 0.02)
    test = make_world(480, "test", recorded["seed"] + 1, return_masks=False)
    acc = probe.score(backbone.encode_images(test.images, progress=False), test.labels)
    p = recorded["test"]["linear_probe_accuracy"]
    tol = max(0.02, 4 * np.sqrt(p * (1 - p) / 480))
    assert abs(acc - p) < tol, (acc, p, tol)


def test_cosine_schedule_closed_form():
    from bottlekit.world.train import cosine_with_warmup

    assert cosine_with_warmup(0, 100, 10) == pytest.approx(0.1)  # linear warm-up
    assert cosine_with_warmup(9, 100, 10) == pytest.approx(1.0)
    # cosine: 0.5 (1 + cos(pi * progress)); progress 0.5 at step 55 -> 0.5
    assert cosine_with_warmup(55, 100, 10) == pytest.approx(0.5)
    assert cosine_with_warmup(100, 100, 10) == pytest.approx(0.0)


def test_save_weights_round_trips_the_state_dict(tmp_path):
    import torch
    from safetensors.torch import load_file

    from bottlekit.world.train import save_weights

    model = torch.nn.Linear(3, 2)
    path = save_weights(model, tmp_path, {"note": "test"})
    loaded = load_file(str(path))
    for k, v in model.state_dict().items():
        assert torch.equal(loaded[k], v)  # float32 stored exactly
    meta = json.loads((tmp_path / METADATA_FILE).read_text())
    assert meta["note"] == "test" and meta["bytes"] == path.stat().st_size
    assert sorted(p.name for p in tmp_path.iterdir()) == [METADATA_FILE, WEIGHTS_FILE]
