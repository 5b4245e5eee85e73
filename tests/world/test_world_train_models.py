"""``--model`` and the opt-in recipe options of ``bottlekit.world.train``."""

import json

import numpy as np
import pytest
import torch

pytest.importorskip("open_clip")
pytest.importorskip("safetensors")

from bottlekit.world.checkpoint import CheckpointError, read_checkpoint
from bottlekit.world.species import CONCEPT_GROUP
from bottlekit.world.train import (
    available_models,
    create_model,
    load_model_config,
    main,
    train,
)

# 2 steps of 16-image batches: plumbing, not learning
TINY = dict(n_train=48, n_val=24, steps=2, batch_size=16, lr=1e-3, warmup=1, seed=3, log_every=100)
SMALL_ARGS = [
    "--model", "world-small", "--n-train", "48", "--n-val", "24", "--steps", "2",
    "--batch-size", "16", "--warmup", "1", "--seed", "3",
]  # fmt: skip


def test_world_small_is_world_tiny_with_4_pixel_patches():
    assert {"world-tiny", "world-small"} <= set(available_models())
    tiny, small = load_model_config("world-tiny"), load_model_config("world-small")
    assert small["vision_cfg"].pop("patch_size") == 4
    assert tiny["vision_cfg"].pop("patch_size") == 8
    assert small == tiny
    model, _, _ = create_model("cpu", "world-small")
    assert tuple(model.visual.grid_size) == (16, 16)  # 64 px / 4 px
    assert model.visual.positional_embedding.shape == (16 * 16 + 1, 64)
    # the pilot's architecture (docs/world.md): 192 more positions x 64, 48 x 64 fewer
    # patch-embedding weights = 3072 more weights than world-tiny
    n_small = sum(p.numel() for p in model.parameters())
    n_tiny = sum(p.numel() for p in create_model("cpu", "world-tiny")[0].parameters())
    assert n_small - n_tiny == 3072


def test_unknown_model_is_one_clear_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--model", "world-huge"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "argument --model: unknown model 'world-huge'" in err
    assert ", ".join(available_models()) in err
    # (the wording of bottlekit._checks; it used to be "model='world-huge' is not ...")
    with pytest.raises(ValueError, match=r"model: expected one of the shipped model configs"):
        train(**TINY, out_dir=None, model_name="world-huge")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """world-small from the command line: one step, a break, the second step resumed."""
    d = tmp_path_factory.mktemp("small")
    ck, out = d / "ck" / "world-small.json", d / "out"
    main([*SMALL_ARGS, "--out", str(out), "--checkpoint", str(ck), "--stop-after", "1"])
    mid = json.loads(ck.read_text())
    # --model left out: the resumed run takes it from the checkpoint
    main(["--resume", str(ck), "--out", str(out)])
    return ck, out, mid


def test_model_name_flows_to_checkpoint_and_weights(small_run):
    ck, out, mid = small_run
    assert mid["model"] == "world-small" and mid["progress"]["step"] == 1
    assert mid["model_config"] == load_model_config("world-small")
    assert sorted(p.name for p in out.iterdir()) == ["world-small.json", "world-small.safetensors"]
    meta = json.loads((out / "world-small.json").read_text())
    assert meta["model"] == "world-small" and meta["sittings"] == 2
    assert meta["command"].startswith("python -m bottlekit.world.train --model world-small ")
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(out / "world-small.safetensors"), "pt") as f:
        assert f.metadata()["model"] == "world-small"
    weights = load_file(out / "world-small.safetensors")
    assert weights["visual.conv1.weight"].shape == (64, 3, 4, 4)
    final = read_checkpoint(ck)
    assert final.step == 2
    assert all(torch.equal(weights[k], v) for k, v in final.model_state().items())


def test_resume_with_another_model_is_refused(small_run, tmp_path):
    ck, _, _ = small_run
    msg = r"model='world-tiny' but checkpoint .* was written for model 'world-small'"
    with pytest.raises(CheckpointError, match=msg):
        main(["--resume", str(ck), "--model", "world-tiny", "--out", str(tmp_path)])
    with pytest.raises(CheckpointError, match=msg):
        train(**TINY, out_dir=None, resume=ck)  # train()'s default model is world-tiny


def test_resume_with_an_edited_config_is_refused(small_run, tmp_path):
    ck, _, _ = small_run
    side = json.loads(ck.read_text())
    side["model_config"]["vision_cfg"]["width"] = 128
    (tmp_path / "ck.json").write_text(json.dumps(side))
    tensors = ck.parent / side["tensors_file"]
    (tmp_path / side["tensors_file"]).write_bytes(tensors.read_bytes())
    with pytest.raises(CheckpointError, match=r"expected 'world-small' with config .*changed"):
        train(**TINY, out_dir=None, resume=tmp_path / "ck.json", model_name="world-small")


@pytest.fixture(scope="module")
def recipe_runs(tmp_path_factory):
    """Full captions + hard negatives: 4 steps straight, and 2 + 2 resumed."""
    d = tmp_path_factory.mktemp("recipe")
    args = dict(TINY, n_train=240, steps=4, captions="full", hard_negatives=0.5)
    train(**args, out_dir=None, checkpoint=d / "a.json")
    train(**args, out_dir=None, checkpoint=d / "b.json", stop_after=2)
    train(**args, out_dir=None, checkpoint=d / "b.json", resume=d / "b.json")
    return d, args


def test_recipe_options_resume_bit_for_bit(recipe_runs):
    d, _ = recipe_runs
    a, b = read_checkpoint(d / "a.json"), read_checkpoint(d / "b.json")
    assert a.step == b.step == 4
    assert a.meta["config"]["captions"] == "full"
    assert a.meta["config"]["hard_negatives"] == 0.5
    assert a.meta["progress"]["losses"] == b.meta["progress"]["losses"]
    wa, wb = a.model_state(), b.model_state()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_recipe_options_are_checked_on_resume(recipe_runs):
    d, args = recipe_runs
    with pytest.raises(CheckpointError, match=r"captions='sampled' but .* captions='full'"):
        train(**dict(args, captions="sampled"), out_dir=None, resume=d / "a.json")
    with pytest.raises(CheckpointError, match=r"hard_negatives=0\.0 but .* hard_negatives=0\.5"):
        train(**dict(args, hard_negatives=0.0), out_dir=None, resume=d / "a.json")


@pytest.fixture(scope="module")
def bfloat16_runs(tmp_path_factory):
    """``precision="bfloat16"``: 4 steps straight, 2 + 2 resumed, and float32 beside."""
    d = tmp_path_factory.mktemp("bfloat16")
    args = dict(TINY, steps=4, precision="bfloat16")
    train(**args, out_dir=None, checkpoint=d / "a.json")
    train(**args, out_dir=None, checkpoint=d / "b.json", stop_after=2)
    train(**args, out_dir=None, checkpoint=d / "b.json", resume=d / "b.json")
    train(**dict(args, precision="float32"), out_dir=None, checkpoint=d / "c.json")
    return d, args


def test_bfloat16_runs_resume_bit_for_bit(bfloat16_runs):
    d, _ = bfloat16_runs
    a, b = read_checkpoint(d / "a.json"), read_checkpoint(d / "b.json")
    assert a.step == b.step == 4 and a.meta["config"]["precision"] == "bfloat16"
    assert a.meta["progress"]["losses"] == b.meta["progress"]["losses"]
    wa, wb = a.model_state(), b.model_state()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert all(v.dtype == torch.float32 for v in wa.values())  # the weights stay float32


def test_bfloat16_changes_the_forward_pass_by_its_rounding_only(bfloat16_runs):
    d, _ = bfloat16_runs
    mixed = read_checkpoint(d / "a.json").meta["progress"]["losses"]
    full = read_checkpoint(d / "c.json").meta["progress"]["losses"]
    # the first step: the same initial weights and batch, so only the forward's precision
    # differs; bfloat16 keeps 8 bits of mantissa (relative rounding 2**-9 = 0.002)
    assert mixed[0] != full[0]
    assert mixed[0] == pytest.approx(full[0], rel=0.02)


def test_precision_is_checked(bfloat16_runs, tmp_path):
    d, args = bfloat16_runs
    with pytest.raises(CheckpointError, match=r"precision='float32' but .* precision='bfloat16'"):
        train(**dict(args, precision="float32"), out_dir=None, resume=d / "a.json")
    with pytest.raises(ValueError, match=r"precision.*'float16'"):
        train(**dict(TINY, precision="float16"), out_dir=None)
    with pytest.raises(SystemExit) as exc:
        main([*SMALL_ARGS, "--precision", "float16", "--no-checkpoint", "--out", str(tmp_path)])
    assert exc.value.code == 2


def test_checkpoint_older_than_the_recipe_options_resumes(tmp_path):
    """A sidecar without ``captions``/``hard_negatives``/``precision`` is a run of the
    defaults."""
    train(**TINY, out_dir=None, checkpoint=tmp_path / "ck.json", stop_after=1)
    side = json.loads((tmp_path / "ck.json").read_text())
    del side["config"]["captions"], side["config"]["hard_negatives"]
    del side["config"]["precision"]
    (tmp_path / "ck.json").write_text(json.dumps(side))
    with pytest.raises(CheckpointError, match=r"captions='full' but .* captions='sampled'"):
        train(**dict(TINY, captions="full"), out_dir=None, resume=tmp_path / "ck.json")
    train(**TINY, out_dir=None, checkpoint=tmp_path / "ck.json", resume=tmp_path / "ck.json")
    assert read_checkpoint(tmp_path / "ck.json").step == 2


def _one_attribute_pairs(concept_labels: np.ndarray, batch: np.ndarray) -> int:
    """Pairs of images in ``batch`` whose concepts differ within exactly one group."""
    return sum(
        len(set(CONCEPT_GROUP[np.flatnonzero(concept_labels[i] != concept_labels[j])])) == 1
        for k, i in enumerate(batch)
        for j in batch[k + 1 :]
    )


@pytest.mark.slow  # 2 400 images drawn twice; compose_batch itself is checked fast
def test_hard_negative_batches_in_training_hold_one_attribute_pairs(monkeypatch):
    """The batches train() trains on, checked against the regenerated world's labels."""
    from bottlekit.world import hard_negatives, make_world

    seen = []
    real = hard_negatives.compose_batch

    def spy(chunk, partners, n_pairs):
        seen.append(real(chunk, partners, n_pairs))
        return seen[-1]

    monkeypatch.setattr(hard_negatives, "compose_batch", spy)
    args = dict(TINY, n_train=2400, batch_size=32, steps=3, hard_negatives=1.0)
    train(**args, out_dir=None)
    assert len(seen) == 3
    world = make_world(2400, "train", 3, return_masks=False, p_typical_background=0.2)
    labels = world.concept_labels
    for batch in seen:
        assert len(set(batch.tolist())) == 32
        pairs = _one_attribute_pairs(labels, batch)
        # 16 anchors, 70 % of this world's images have a neighbour: about 11 pairs
        # (sd 1.8); a random 32-image batch holds about 0.5 (checked below)
        assert pairs >= 6, pairs
    rng = np.random.default_rng(0)
    chance = [_one_attribute_pairs(labels, rng.choice(2400, 32, replace=False)) for _ in range(20)]
    assert np.mean(chance) < 2


def test_bad_recipe_arguments():
    # wording of bottlekit._checks ("name: expected ..., got value"); it used to be
    # "name=value; expected ..."
    with pytest.raises(
        ValueError, match=r"captions: expected one of \('sampled', 'full'\), got 'all'"
    ):
        train(**TINY, out_dir=None, captions="all")
    with pytest.raises(
        ValueError, match=r"hard_negatives: expected a float in \[0, 1\], got 1\.5"
    ):
        train(**TINY, out_dir=None, hard_negatives=1.5)
    with pytest.raises(TypeError, match=r"hard_negatives: expected a float in \[0, 1\], got True"):
        train(**TINY, out_dir=None, hard_negatives=True)


def _digest(path):
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_weights_go_to_runs_and_a_resume_keeps_its_folder(tmp_path, monkeypatch):
    """Without --out a run writes to ./runs, never into the package's shipped weights,
    and --resume writes where the checkpointed run wrote (it once fell back to the
    package folder, overwriting world-tiny's shipped weights)."""
    from bottlekit.world.train import WEIGHTS_DIR

    shipped = WEIGHTS_DIR / "world-tiny.safetensors"
    before = _digest(shipped)
    tiny_args = [a for a in SMALL_ARGS if a not in ("--model", "world-small")]
    monkeypatch.chdir(tmp_path)
    main([*tiny_args, "--no-checkpoint"])
    assert (tmp_path / "runs" / "world-tiny.safetensors").is_file()
    out, ck = tmp_path / "chosen", tmp_path / "ck.json"
    main([*tiny_args, "--out", str(out), "--checkpoint", str(ck), "--stop-after", "1"])
    assert read_checkpoint(ck).meta["out_dir"] == str(out.resolve())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    main(["--resume", str(ck)])
    assert (out / "world-tiny.safetensors").is_file()
    assert not (elsewhere / "runs").exists()
    assert _digest(shipped) == before


@pytest.mark.parametrize(
    "changes",
    [
        {},  # the defaults
        {"weight_decay": 0.05, "n_val": 600, "captions": "full", "hard_negatives": 0.5},
        {"init": "stage1/world-small.safetensors", "lr": 3e-4, "seed": 7},
    ],
)
def test_the_recorded_command_reproduces_the_run(changes, monkeypatch):
    # Before: the command a run records beside its weights left out --weight-decay, so a
    # run with another weight decay recorded a command that trains a different model.
    import shlex

    from bottlekit.world import train as train_module

    config = {**train_module.RUN_DEFAULTS, **changes}
    meta = train_module._run_metadata(
        config,
        model_name="world-small",
        init_meta=None,
        threads=2,
        final_loss=0.0,
        val_zero_shot=None,
        train_seconds=0.0,
        train_cpu_seconds=0.0,
    )
    argv = shlex.split(meta["command"])
    assert argv[:3] == ["python", "-m", "bottlekit.world.train"]
    seen = {}
    monkeypatch.setattr(train_module, "train", lambda **kwargs: seen.update(kwargs))
    main([*argv[3:], "--no-checkpoint"])
    assert {key: seen[key] for key in config} == config
    assert (seen["model_name"], seen["threads"]) == ("world-small", 2)
