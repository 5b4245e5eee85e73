"""The shipped world CLIPs (world-tiny, world-small) load offline and reproduce their
recorded figures."""

import itertools
import json
import socket

import numpy as np
import pytest

from bottlekit.pretrained import SHIPPED_TAG, get_pretrained_cfg, list_pretrained
from bottlekit.world.evaluate import eval_file, fit_linear_probe, zero_shot_accuracy
from bottlekit.world.train import METADATA_FILE, WEIGHTS_DIR, WEIGHTS_FILE

SHIPPED = ["world-tiny", "world-small"]
#: Images per forward pass when encoding: the recorded figures used 256; the embeddings
#: differ by float rounding only (about 1e-7), and on the CPU 32 is faster (world-small,
#: 2400 images: 15 s -> 9 s with one thread, 18 s -> 3 s with two; 256 images of 257
#: tokens make attention matrices that do not fit in cache).
ENCODE_BATCH = 32


@pytest.fixture(scope="module", params=SHIPPED)
def model(request):
    return request.param


@pytest.fixture(scope="module")
def recorded(model):
    path = eval_file(model)
    if not path.is_file():
        cmd = f"python -m bottlekit.world.evaluate --model {model} --write"
        pytest.skip(f"{path} missing: run `{cmd}`")
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def backbone(model):
    # no network: any attempt to open a connection fails the test
    mp = pytest.MonkeyPatch()

    def refuse(*args, **kwargs):
        raise AssertionError(f"{model} tried to use the network")

    mp.setattr(socket.socket, "connect", refuse)
    mp.setenv("HF_HUB_OFFLINE", "1")
    try:
        from bottlekit.backbones import load_backbone

        yield load_backbone(model, device="cpu")
    finally:
        mp.undo()


@pytest.mark.parametrize(
    ("name", "error"), [("world-huge", ValueError), ("ViT-B-32", ValueError), (None, TypeError)]
)
def test_eval_file_refuses_a_model_that_does_not_ship(name, error):
    # a non-str is a TypeError since check_choice (a ValueError before)
    with pytest.raises(error, match=r"model: expected a model whose weights ship"):
        eval_file(name)


def test_every_world_model_in_the_table_ships():
    assert sorted(m for m, t in list_pretrained() if t == SHIPPED_TAG) == sorted(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_weights_file_is_small_and_matches_metadata(name):
    import hashlib

    weights = WEIGHTS_DIR / f"{name}.safetensors"
    assert weights.is_file()
    blob = weights.read_bytes()
    assert len(blob) <= 30 * 2**20
    meta = json.loads((WEIGHTS_DIR / f"{name}.json").read_text())
    assert meta["model"] == name
    assert meta["sha256"] == hashlib.sha256(blob).hexdigest()
    assert meta["sha256"] == get_pretrained_cfg(name, SHIPPED_TAG)["sha256"]
    assert "partial_step" not in meta, "the shipped weights are a partial checkpoint"


def test_shipped_weights_fit_the_wheel_budget():
    # issue 20: the world models ship in the wheel, at most 40 MB of weights in all
    total = sum((WEIGHTS_DIR / f"{name}.safetensors").stat().st_size for name in SHIPPED)
    assert total <= 40e6


def test_world_small_metadata_lists_each_stage_chained_by_hash():
    meta = json.loads((WEIGHTS_DIR / "world-small.json").read_text())
    stages = [*meta["previous_stages"], meta]
    assert meta["recipe"] == [s["command"] for s in stages]
    assert stages[0]["init"] is None
    for before, after in itertools.pairwise(stages):
        assert after["init"]["sha256"] == before["sha256"]
    assert meta["total_steps"] == sum(s["steps"] for s in stages)


def test_loads_offline_with_stable_id(model, recorded, backbone):
    from bottlekit.backbones import load_backbone

    assert backbone.id == recorded["backbone_id"]
    assert load_backbone(model, device="cpu").id == backbone.id
    x = backbone.encode_images(np.zeros((2, 64, 64, 3), np.uint8), progress=False)
    assert x.shape == (2, 64) and np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)


@pytest.fixture(scope="module")
def worlds():
    """``make_world(n, split, seed)`` without masks, drawn once for both models."""
    from bottlekit.world import make_world

    drawn = {}

    def draw(n, split, seed):
        if (n, split, seed) not in drawn:
            drawn[n, split, seed] = make_world(n, split, seed, return_masks=False)
        return drawn[n, split, seed]

    return draw


@pytest.fixture(scope="module")
def test_world(recorded, worlds):
    # a fresh, independent sample of 480 test images (another seed than the recorded
    # figures'): the accuracies differ from the recorded ones only by binomial noise
    return worlds(480, "test", recorded["seed"] + 1)


@pytest.fixture(scope="module")
def x_test(backbone, test_world):
    """The test images' embeddings, shared by the zero-shot and the linear-probe test."""
    return backbone.encode_images(test_world.images, batch_size=ENCODE_BATCH, progress=False)


def test_reproduces_zero_shot_accuracy(recorded, backbone, test_world, x_test):
    from bottlekit.world.evaluate import SPECIES_TEMPLATES

    # binomial noise only, 4 sd
    text = backbone.encode_texts(test_world.class_names, templates=SPECIES_TEMPLATES)
    acc = zero_shot_accuracy(x_test, test_world.labels, text)
    p = recorded["test"]["zero_shot_accuracy"]
    assert abs(acc - p) < max(0.02, 4 * np.sqrt(p * (1 - p) / 480)), (acc, p)


def test_reproduces_linear_probe_accuracy(recorded, backbone, worlds, test_world, x_test):
    # the same probe as the recorded figure (same train images, same C) ...
    train = worlds(recorded["n_train"], "train", recorded["seed"])
    x_train = backbone.encode_images(train.images, batch_size=ENCODE_BATCH, progress=False)
    probe = fit_linear_probe(x_train, train.labels, recorded["C"])
    # ... scored on a fresh, independent sample of 480 test images (another seed), so
    # the accuracy differs from the recorded one only by binomial sampling noise:
    # sd = sqrt(p(1-p)/480); tolerance 4 sd (at least 0.02)
    acc = probe.score(x_test, test_world.labels)
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
