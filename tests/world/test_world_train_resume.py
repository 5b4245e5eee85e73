"""Resumable training of the world's CLIP: bit-for-bit resume, kills, bad checkpoints."""

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("open_clip")
pytest.importorskip("safetensors")

from bottlekit.world.checkpoint import CheckpointError, read_checkpoint
from bottlekit.world.train import METADATA_FILE, main, train

# 64 images in batches of 16: 4 batches an epoch, so 10 steps span three epochs and the
# break at step 5 falls inside the second epoch (the order and captions must be redrawn)
TINY = dict(
    n_train=64, n_val=24, steps=10, batch_size=16, lr=1e-3, warmup=2, seed=3, log_every=100
)


def _weights(ckpt_path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(ckpt_path).model_state()


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """10 steps in one sitting (checkpoint every 3 steps and at the end)."""
    d = tmp_path_factory.mktemp("straight")
    meta = train(**TINY, out_dir=d / "out", checkpoint=d / "ck.json", checkpoint_every=3)
    return d, meta


@pytest.fixture(scope="module")
def two_sittings(tmp_path_factory):
    """5 steps, a break, then the other 5 resumed from the checkpoint."""
    d = tmp_path_factory.mktemp("resumed")
    first = train(
        **TINY, out_dir=d / "out", checkpoint=d / "ck.json", checkpoint_every=3, stop_after=5
    )
    mid = json.loads((d / "ck.json").read_text())
    assert not (d / "out").exists()  # no weights from a run that stopped early
    second = train(
        **TINY,
        out_dir=d / "out",
        checkpoint=d / "ck.json",
        checkpoint_every=3,
        resume=d / "ck.json",
    )
    return d, first, mid, second


def test_resume_is_bit_identical(straight, two_sittings):
    d1, meta1 = straight
    d2, first, mid, meta2 = two_sittings
    assert first["stopped_at_step"] == 5
    assert mid["progress"]["step"] == 5 and mid["progress"]["epoch"] == 1
    assert mid["progress"]["next_batch"] == 1  # one batch of the second epoch done
    a, b = read_checkpoint(d1 / "ck.json"), read_checkpoint(d2 / "ck.json")
    assert a.step == b.step == 10
    wa, wb = a.model_state(), b.model_state()
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # the optimiser state and the loss log are the same too
    for k, v in a.tensors.items():
        if k.startswith("optimizer/"):
            assert torch.equal(v, b.tensors[k]), k
    assert a.meta["progress"]["losses"] == b.meta["progress"]["losses"]
    assert len(a.meta["progress"]["losses"]) == 10
    assert a.meta["scheduler"]["last_epoch"] == b.meta["scheduler"]["last_epoch"] == 10
    assert meta1["final_loss"] == meta2["final_loss"]
    assert meta2["sittings"] == 2 and b.meta["progress"]["sittings"] == 2
    # the shipped-format weights hold the same tensors (not the same bytes: safetensors
    # writes its __metadata__ keys in a per-process hash order)
    from safetensors.torch import load_file

    fa = load_file(d1 / "out" / "world-tiny.safetensors")
    fb = load_file(d2 / "out" / "world-tiny.safetensors")
    assert fa.keys() == fb.keys() and all(torch.equal(fa[k], fb[k]) for k in fa)
    assert all(torch.equal(fa[k], wa[k]) for k in fa)


def test_resume_twice_is_bit_identical(straight, tmp_path):
    # three sittings, each break inside an epoch (4 batches an epoch: steps 2 and 7 are
    # batch 2 of epoch 0 and batch 3 of epoch 1), the second sitting itself resumed
    d, meta = straight
    ck = tmp_path / "ck.json"
    kw = dict(TINY, out_dir=tmp_path / "out", checkpoint=ck, checkpoint_every=3)
    train(**kw, stop_after=2)
    train(**kw, resume=ck, stop_after=7)
    assert read_checkpoint(ck).meta["progress"]["next_batch"] == 3
    last = train(**kw, resume=ck)
    a, b = read_checkpoint(d / "ck.json"), read_checkpoint(ck)
    assert b.step == 10 and b.meta["progress"]["sittings"] == last["sittings"] == 3
    assert a.tensors.keys() == b.tensors.keys()
    # weights, optimiser state and the torch RNG as the uninterrupted run's
    assert all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)
    assert a.meta["progress"]["losses"] == b.meta["progress"]["losses"]
    assert a.meta["scheduler"] == b.meta["scheduler"]
    assert last["final_loss"] == meta["final_loss"]


def test_training_leaves_the_global_generators_alone(tmp_path, monkeypatch):
    # train() called torch.manual_seed(seed) unguarded: the caller's CPU generator was
    # reset and every CUDA generator reseeded; a resumed run also set numpy's and Python's
    # global generators to the ones saved in the checkpoint
    args = dict(TINY, steps=2)

    def seed_all():
        torch.random.default_generator.manual_seed(123)
        np.random.seed(5)  # noqa: NPY002 (the caller's global state)
        random.seed(5)

    seed_all()
    expected = (torch.rand(3), np.random.rand(), random.random())  # noqa: NPY002
    cuda_seeds = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", cuda_seeds.append)
    monkeypatch.setattr(torch.cuda, "manual_seed", cuda_seeds.append)
    ck = tmp_path / "ck.json"
    seed_all()
    train(**args, out_dir=None)
    assert torch.equal(torch.rand(3), expected[0])
    np.random.seed(0)  # noqa: NPY002 (other states when the checkpoint is written)
    random.seed(0)
    train(**args, out_dir=None, checkpoint=ck, stop_after=1)
    seed_all()
    resumed = train(**args, out_dir=None, checkpoint=ck, resume=ck)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.random.rand() == expected[1]  # noqa: NPY002
    assert random.random() == expected[2]
    assert cuda_seeds == []
    torch.random.default_generator.manual_seed(7)  # the run does not depend on it
    assert train(**args, out_dir=None)["final_loss"] == resumed["final_loss"]


def test_training_leaves_the_thread_count_alone():
    # train() called torch.set_num_threads(threads) and left it so for the caller
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        train(**dict(TINY, steps=1), out_dir=None, threads=1)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_checkpoint_files_are_complete_and_old_ones_removed(straight):
    d, _ = straight
    names = sorted(p.name for p in d.iterdir() if p.is_file())
    # one sidecar and the one tensors file it names; no temporary or older files
    assert names == ["ck-step0000010.safetensors", "ck.json"], names
    assert not any(p.name.endswith(".tmp") for p in d.rglob("*"))


def test_resume_with_other_run_arguments_is_refused(straight, tmp_path):
    d, _ = straight
    with pytest.raises(CheckpointError, match=r"lr=0\.002 but checkpoint .* lr=0\.001"):
        train(**dict(TINY, lr=2e-3), out_dir=None, resume=d / "ck.json")


def test_command_line_resume_takes_the_run_from_the_checkpoint(straight, tmp_path):
    d, _ = straight
    ck = str(d / "ck.json")
    with pytest.raises(CheckpointError, match=r"steps=11 but checkpoint .* steps=10"):
        main(["--resume", ck, "--steps", "11", "--out", str(tmp_path)])
    # a finished run resumed: no step left, the final weights are written again
    main(["--resume", ck, "--no-checkpoint", "--out", str(tmp_path)])
    from safetensors.torch import load_file

    got, want = load_file(tmp_path / "world-tiny.safetensors"), _weights(d / "ck.json")
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in got)
    assert json.loads((tmp_path / "world-tiny.json").read_text())["steps"] == 10


def test_corrupt_tensors_file_is_refused(straight, tmp_path):
    d, _ = straight
    side = json.loads((d / "ck.json").read_text())
    (tmp_path / "ck.json").write_text(json.dumps(side))
    blob = bytearray((d / side["tensors_file"]).read_bytes())
    blob[-5] ^= 0xFF
    (tmp_path / side["tensors_file"]).write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="corrupt or not the one its sidecar describes"):
        read_checkpoint(tmp_path / "ck.json")
    (tmp_path / side["tensors_file"]).unlink()
    with pytest.raises(CheckpointError, match=r"tensors file .* is missing"):
        read_checkpoint(tmp_path / "ck.json")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.pop("progress"), "missing key 'progress'"),
        (
            lambda s: s["progress"].update(step="5"),
            r"'progress.step' is str \('5'\); expected int",
        ),
        (lambda s: s["config"].update(steps=True), "'config.steps' is bool"),
        (lambda s: s.update(version=99), "has version 99; this bottlekit reads version 1"),
        (lambda s: s.update(format="x"), "is not a bottlekit.world.train checkpoint"),
        (lambda s: s.update(tensors_file="../x.safetensors"), "expected a file name"),
    ],
)
def test_sidecar_schema_errors(straight, tmp_path, edit, message):
    d, _ = straight
    side = json.loads((d / "ck.json").read_text())
    edit(side)
    (tmp_path / "ck.json").write_text(json.dumps(side))
    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(tmp_path / "ck.json")


def test_not_json_and_missing_sidecar(tmp_path):
    (tmp_path / "ck.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="is not valid JSON"):
        read_checkpoint(tmp_path / "ck.json")
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "nope.json")


def test_a_folder_given_as_the_checkpoint_is_named_a_folder(tmp_path):
    # it said "does not exist", of a folder that exists
    with pytest.raises(CheckpointError, match=r"is a folder; expected the checkpoint's \.json"):
        read_checkpoint(tmp_path)
    (tmp_path / "world-tiny.json").write_text("{}")
    with pytest.raises(CheckpointError, match=r"\(this folder has: world-tiny\.json\)"):
        read_checkpoint(tmp_path)


def test_checkpoint_of_another_model_config_is_refused(straight, tmp_path):
    d, _ = straight
    side = json.loads((d / "ck.json").read_text())
    side["model_config"]["vision_cfg"]["patch_size"] = 4
    (tmp_path / "ck.json").write_text(json.dumps(side))
    for f in d.glob("*.safetensors"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    with pytest.raises(CheckpointError, match="expected 'world-tiny' with config"):
        train(**TINY, out_dir=None, resume=tmp_path / "ck.json")


def test_bad_checkpoint_arguments():
    # wording of bottlekit._checks ("name: expected ..., got value"); it used to be
    # "name=value; expected ..."
    with pytest.raises(
        ValueError, match=r"checkpoint: expected a path ending in \.json, got 'x.bin'"
    ):
        train(**TINY, out_dir=None, checkpoint=Path("x.bin"))
    with pytest.raises(ValueError, match=r"checkpoint_every: expected an int >= 1, got 0"):
        train(**TINY, out_dir=None, checkpoint_every=0)
    with pytest.raises(TypeError, match=r"checkpoint_every: expected an int >= 1, got '5'"):
        train(**TINY, out_dir=None, checkpoint_every="5")
    with pytest.raises(
        ValueError, match=r"stop_after: expected an int in \[1, steps=10\], got 11"
    ):
        train(**TINY, out_dir=None, stop_after=11)


@pytest.mark.parametrize("stop_after", [2.5, "5", True])
def test_stop_after_that_is_not_an_int_is_refused(stop_after):
    # Before: 2.5 passed the range check and the run took 3 steps, wrote no checkpoint at
    # its break (step 3 is not in (steps, 2.5)) and said "resume"; "5" failed with
    # "'<=' not supported between instances of 'int' and 'str'", naming nothing; True
    # ran as stop_after=1.
    with pytest.raises(TypeError, match=r"stop_after: expected an int in \[1, steps=10\], got"):
        train(**TINY, out_dir=None, stop_after=stop_after)


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    """SIGKILL a training process once a checkpoint exists; the resumed run matches."""
    args = [
        "--n-train", "64", "--n-val", "24", "--steps", "400", "--batch-size", "16",
        "--lr", "1e-3", "--warmup", "2", "--seed", "3", "--out", str(tmp_path / "out"),
        "--checkpoint", str(tmp_path / "ck.json"), "--checkpoint-every", "2",
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path.cwd()))
    cmd = [sys.executable, "-m", "bottlekit.world.train"]
    proc = subprocess.Popen([*cmd, *args], env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (tmp_path / "ck.json").exists():
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed = read_checkpoint(tmp_path / "ck.json")  # complete, never half-written
    s = killed.step
    assert 2 <= s < 400 and s % 2 == 0
    # resume two more steps; a straight run to the same step gives the same weights
    out = subprocess.run(
        [*cmd, *args, "--resume", str(tmp_path / "ck.json"), "--stop-after", str(s + 2)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"resumed from {tmp_path / 'ck.json'} at step {s}" in out.stdout
    resumed = read_checkpoint(tmp_path / "ck.json")
    assert resumed.step == s + 2
    assert resumed.meta["progress"]["losses"][:s] == killed.meta["progress"]["losses"]
    ref = tmp_path / "ref"
    train(**dict(TINY, steps=400), out_dir=None, checkpoint=ref / "ck.json", stop_after=s + 2)
    wa, wb = _weights(ref / "ck.json"), resumed.model_state()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_saved_weights_are_a_function_of_the_tensors(tmp_path):
    """safetensors orders ``__metadata__`` by a per-call hash; the saved bytes must not."""
    from safetensors.torch import load_file

    from bottlekit.world.train import save_weights

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    blobs = set()
    for i in range(16):
        path = save_weights(model, tmp_path / str(i), {"run": 1})
        blobs.add(path.read_bytes())
    assert len(blobs) == 1
    loaded = load_file(str(path))
    assert loaded.keys() == model.state_dict().keys()
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded[name], tensor)
    meta = json.loads((tmp_path / "15" / METADATA_FILE).read_text())
    assert meta["sha256"] == hashlib.sha256(blobs.pop()).hexdigest()


def test_resume_that_cannot_be_bit_for_bit_warns(straight, tmp_path):
    # before: a resume with another thread count (or torch, open_clip, numpy) went on
    # without a word, though its sums run in another order than the first sitting's
    d, _ = straight
    with pytest.warns(RuntimeWarning, match=r"with threads 2 \(checkpoint 1\): the run goes on"):
        train(**TINY, threads=2, out_dir=tmp_path / "a", checkpoint=None, resume=d / "ck.json")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the checkpoint's count: silent
        train(**TINY, threads=1, out_dir=tmp_path / "b", checkpoint=None, resume=d / "ck.json")


def test_command_line_resume_takes_the_checkpoints_thread_count(straight, tmp_path, monkeypatch):
    # before: --threads defaulted to 1 on resume, whatever the checkpoint's run used
    d, _ = straight
    side = json.loads((d / "ck.json").read_text())
    side["versions"]["threads"] = 2
    (tmp_path / "ck.json").write_text(json.dumps(side))
    (tmp_path / side["tensors_file"]).write_bytes((d / side["tensors_file"]).read_bytes())
    seen = []
    monkeypatch.setattr("bottlekit.world.train.train", lambda **kw: seen.append(kw["threads"]))
    main(["--resume", str(tmp_path / "ck.json"), "--no-checkpoint"])
    main(["--resume", str(tmp_path / "ck.json"), "--no-checkpoint", "--threads", "3"])
    main(["--no-checkpoint"])
    assert seen == [2, 3, 1]


def test_resume_with_a_stop_before_the_checkpoint_is_refused(straight, tmp_path):
    # before: trained nothing and printed "stopped at step 10/10" for --stop-after 5
    d, _ = straight
    with pytest.raises(ValueError, match=r"stop_after: 5 is not after the checkpoint's step 10"):
        train(
            **TINY, stop_after=5, out_dir=tmp_path, checkpoint=tmp_path / "ck.json",
            resume=d / "ck.json",
        )  # fmt: skip
    assert not any(tmp_path.iterdir())


def _forged(straight, tmp_path, change):
    """A copy of the straight run's checkpoint with its sidecar changed."""
    d, _ = straight
    side = json.loads((d / "ck.json").read_text())
    change(side)
    (tmp_path / "ck.json").write_text(json.dumps(side))
    (tmp_path / side["tensors_file"]).write_bytes((d / side["tensors_file"]).read_bytes())
    return tmp_path / "ck.json"


def _progress(**values):
    return lambda side: side["progress"].update(values)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # the checks that were there, untested
        (
            _progress(step=11, losses=[0.5] * 11),
            r"ck\.json' is at step 11, batch 2; expected a step in \[0, 10\]",
        ),
        (_progress(losses=[0.5] * 9), r"ck\.json' has 9 losses for 10 steps"),
        # before: the run went on from batch 1 of epoch 2 (or 0), another data order than
        # the uninterrupted run's, silently (10 steps of 4 batches an epoch: epoch 2, batch 2)
        (
            _progress(next_batch=1),
            r"ck\.json' is at step 10 but at epoch 2, batch 1 \(progress\.epoch, progress\.ne"
            r"xt_batch\); with 4 batches an epoch, step 10 is epoch 2, batch 2",
        ),
        (_progress(epoch=0), r"at step 10 but at epoch 0, batch 2 .*step 10 is epoch 2, batch 2"),
        # before: numpy's own error once the model was built ("state must be for a PCG64
        # RNG", and a KeyError, a traceback on the command line, for a state without 'state')
        (
            _progress(epoch_rng_state={}),
            r"ck\.json': sidecar key 'progress\.epoch_rng_state' is unusable as the data ord",
        ),
        (
            _progress(epoch_rng_state={"bit_generator": "PCG64"}),
            r"'progress\.epoch_rng_state' is unusable .*KeyError\('state'\)",
        ),
        (
            _progress(
                epoch_rng_state={
                    "bit_generator": "PCG64",
                    "state": {"state": 2**140, "inc": 1},
                    "has_uint32": 0,
                    "uinteger": 0,
                }
            ),
            r"'progress\.epoch_rng_state' is unusable .*OverflowError",
        ),
    ],
)
def test_a_checkpoints_progress_is_checked_before_the_world_is_drawn(
    straight, tmp_path, monkeypatch, change, message
):
    path = _forged(straight, tmp_path, change)

    def not_yet(*args, **kwargs):
        raise AssertionError("the world was drawn before the checkpoint was refused")

    monkeypatch.setattr("bottlekit.world.dataset.make_world", not_yet)
    with pytest.raises(CheckpointError, match=message):
        train(**TINY, out_dir=None, resume=path)


def _not_a_checkpoint(straight, tmp_path, kind):
    if kind == "weights":  # what a finished run writes, next to its metadata
        d, _ = straight
        return d / "out" / "world-tiny.safetensors"
    if kind == "metadata":
        d, _ = straight
        return d / "out" / "world-tiny.json"
    if kind == "text":
        (tmp_path / "notes.txt").write_text("step 10: loss 4.1\n")
        return tmp_path / "notes.txt"
    changes = {
        # before: "model: expected one of the shipped model configs", naming no file
        "model": lambda side: side.update(model="world-huge"),
        # before: KeyError and IndexError tracebacks, exit status 1
        "epoch_rng_state": _progress(epoch_rng_state={"bit_generator": "PCG64"}),
        "numpy_key": lambda side: side["rng"]["numpy"]["state"].update(key=[1] * 10),
    }
    return _forged(straight, tmp_path, changes[kind])


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        # before: "checkpoint '.../world-tiny.safetensors.json' does not exist"
        ("weights", r"world-tiny\.safetensors' is not a checkpoint's tensors file \(named <ste"),
        ("metadata", r"world-tiny\.json' is not a bottlekit\.world\.train checkpoint"),
        ("text", r"notes\.txt' is not valid JSON"),
        ("model", r"ck\.json': sidecar key 'model' is 'world-huge'; expected a shipped model c"),
        ("epoch_rng_state", r"ck\.json': sidecar key 'progress\.epoch_rng_state' is unusable"),
        ("numpy_key", r"ck\.json': sidecar key 'rng\.numpy' is unusable .*list of 624 integ"),
    ],
)
def test_command_line_resume_from_what_is_not_a_checkpoint(
    straight, tmp_path, capsys, kind, message
):
    import re

    from bottlekit.world.train import _command

    path = _not_a_checkpoint(straight, tmp_path, kind)
    status = _command(["--resume", str(path), "--no-checkpoint", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("python -m bottlekit.world.train: error: "), err
    assert re.search(message, err), err
    assert not (tmp_path / "o").exists()
