"""The study helpers' options: a weights path and a val split for load_world_data, tune_probe_C."""

from __future__ import annotations

import numpy as np
import pytest

from bottlekit.app.cbm_study import load_world_data, tune_probe_C


def test_load_world_data_uses_the_given_weights(tmp_path):
    from bottlekit.backbones import load_backbone
    from bottlekit.world.train import save_weights

    # random world-small weights (random_state 7) against the shipped ones (the default)
    trained = load_backbone("world-small", "random", device="cpu", random_state=7)
    path = save_weights(trained.model, tmp_path, {}, name="world-small")

    data = load_world_data("world-small", n_train=12, n_test=6, seed=5, pretrained=path)
    default = load_world_data("world-small", n_train=12, n_test=6, seed=5)

    expected = trained.encode_images(data.worlds["train"].images, progress=False)
    np.testing.assert_allclose(data.X["train"], expected, atol=1e-5)
    assert data.backbone.id != default.backbone.id
    assert not np.allclose(data.X["train"], default.X["train"], atol=1e-3)


def test_load_world_data_default_is_unchanged_and_draws_no_val():
    from bottlekit.world import make_world

    data = load_world_data(n_train=12, n_test=6, seed=5)
    assert sorted(data.X) == ["shifted", "test", "train"]
    assert data.backbone.name == "world-tiny" and data.backbone.weights == "bottlekit"
    np.testing.assert_array_equal(data.y["test"], make_world(6, "test", 5).labels)


def test_load_world_data_val_split_is_the_world_val_split():
    from bottlekit.world import make_world

    data = load_world_data(n_train=12, n_test=6, n_val=9, seed=5)
    val = make_world(9, "val", 5, return_masks=False)
    np.testing.assert_array_equal(data.worlds["val"].images, val.images)
    np.testing.assert_array_equal(data.y["val"], val.labels)
    assert data.X["val"].shape == (9, data.X["train"].shape[1])


def test_load_world_data_rejects_bad_arguments():
    from bottlekit.backbones import load_backbone

    with pytest.raises(ValueError, match="n_val: expected an int >= 0, got -1"):
        load_world_data(n_train=12, n_test=6, n_val=-1)
    bk = load_backbone("world-tiny", device="cpu")
    with pytest.raises(TypeError, match="pretrained: expected None when backbone is a loaded"):
        load_world_data(bk, n_train=12, n_test=6, pretrained="x.safetensors")


def test_tune_probe_C_picks_the_value_best_on_validation_data():
    rng = np.random.default_rng(0)
    # two informative features; many noise features that a weak penalty overfits
    X = rng.normal(size=(400, 60))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    Xtr, ytr, Xva, yva = X[:40], y[:40], X[40:], y[40:]
    from sklearn.linear_model import LogisticRegression

    grid = (1e-4, 0.1, 100.0)
    scores = [LogisticRegression(C=c, max_iter=3000).fit(Xtr, ytr).score(Xva, yva) for c in grid]
    assert tune_probe_C(Xtr, ytr, Xva, yva, grid=grid) == grid[int(np.argmax(scores))]
    # C = 1e-4 predicts one class: it cannot be the choice
    assert tune_probe_C(Xtr, ytr, Xva, yva, grid=grid) != 1e-4
    with pytest.raises(ValueError, match="grid: expected at least one value of C"):
        tune_probe_C(Xtr, ytr, Xva, yva, grid=())
