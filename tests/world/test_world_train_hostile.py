"""world.train on hostile run arguments: refused before any world is drawn or model built,
with a message naming the argument, the value and what was expected (no hang, no weights
written by a run that cannot train)."""

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("open_clip")

from bottlekit.world.train import main, train

TINY = dict(n_train=64, n_val=24, steps=2, batch_size=16, lr=1e-3, warmup=1, seed=3)


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        # batch_size > n_train: no full batch, the loop never took a step (a hang)
        ({"batch_size": 100}, ValueError, r"batch_size: expected an int in \[1, n_train=64\]"),
        ({"batch_size": -16}, ValueError, r"batch_size: expected an int in \[1, n_train=64\]"),
        ({"batch_size": 0}, ValueError, r"batch_size: expected an int in \[1, n_train=64\]"),
        ({"batch_size": True}, ValueError, r"batch_size: expected .*got True"),
        # steps <= 0: random weights were saved as a finished run
        ({"steps": 0}, ValueError, r"steps: expected an int >= 1, got 0"),
        ({"steps": -1}, ValueError, r"steps: expected an int >= 1, got -1"),
        ({"n_train": 0}, ValueError, r"n_train: expected an int >= 1, got 0"),
        ({"n_val": 0}, ValueError, r"n_val: expected an int >= 1, got 0"),
        ({"lr": float("inf")}, ValueError, r"lr: expected a finite number > 0, got inf"),
        ({"lr": float("nan")}, ValueError, r"lr: expected a finite number > 0, got nan"),
        ({"weight_decay": -1.0}, ValueError, r"weight_decay: expected a finite number >= 0"),
        ({"warmup": -5}, ValueError, r"warmup: expected an int >= 0, got -5"),
        ({"seed": -1}, ValueError, r"seed: expected an int in \[0, 2\*\*64\), got -1"),
        # torch's generators take seeds below 2**64 (it was "Overflow when unpacking long")
        ({"seed": 2**64}, ValueError, r"seed: expected an int in \[0, 2\*\*64\), got 1844"),
        ({"p_typical_background": 0.1}, ValueError, r"p_typical_background: expected a fi"),
        ({"threads": 0}, ValueError, r"threads: expected an int >= 1, got 0"),
        ({"log_every": 0}, ValueError, r"log_every: expected an int >= 1, got 0"),
        ({"device": "tpu"}, ValueError, r"device: 'tpu' is not a torch device"),
        ({"init": Path("/nonexistent/w.safetensors")}, FileNotFoundError, r"init: no weights"),
    ],
)
def test_bad_run_arguments_are_refused_up_front(changes, error, message, tmp_path):
    with pytest.raises(error, match=message):
        train(**(TINY | changes), out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_init_that_is_a_folder_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"init: no weights file at .*; expected a"):
        train(**TINY, out_dir=None, init=tmp_path)


def test_command_line_batch_larger_than_the_world_is_refused(tmp_path):
    args = ["--n-train", "64", "--batch-size", "100", "--steps", "2", "--no-checkpoint"]
    with pytest.raises(ValueError, match=r"batch_size: expected an int in \[1, n_train=64\]"):
        main([*args, "--out", str(tmp_path)])


def _not_weights(tmp_path, kind):
    path = tmp_path / "w.safetensors"
    if kind == "json":
        path.write_text('{"weights": 1}')
    else:
        import numpy as np
        from safetensors.numpy import save_file

        save_file({"visual.proj": np.zeros((2, 2), np.float32)}, str(path))
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("json", r"init: .*w\.safetensors' is not a safetensors file of 'world-tiny' weights"),
        ("other", r"(?s)init: .*w\.safetensors' does not fit 'world-tiny'.*visual\.proj"),
    ],
)
def test_init_that_is_not_weights_of_the_model_is_refused(tmp_path, kind, message):
    with pytest.raises(ValueError, match=message):
        train(**TINY, out_dir=None, init=_not_weights(tmp_path, kind))


def _init_with(tmp_path, key, value):
    """The shipped world-tiny weights with tensor ``key`` replaced by ``value(tensor)``."""
    from safetensors.torch import load_file, save_file

    from bottlekit.world._train_weights import WEIGHTS_DIR

    state = load_file(str(WEIGHTS_DIR / "world-tiny.safetensors"))
    state[key] = value(state[key].clone())
    path = tmp_path / "init.safetensors"
    save_file(state, str(path))
    return path


def _one_nan(t):
    t.view(-1)[0] = float("nan")
    return t


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        # before: loaded; the run trained from NaN weights
        (
            "positional_embedding",
            _one_nan,
            r"^init: the weights from '.*init\.safetensors' hold NaN or infinite values \(first "
            r"in 'positional_embedding'\); expected finite numbers$",
        ),
        # before: load_state_dict cast the integers to float silently
        (
            "ln_final.bias",
            lambda t: (t * 1000).to(__import__("torch").int32),
            r"^init: '.*init\.safetensors' stores 'ln_final\.bias' as integers or booleans; "
            r"expected floating-point weights",
        ),
    ],
)
def test_init_weights_that_are_not_finite_or_not_floats_are_refused(tmp_path, key, value, message):
    init = _init_with(tmp_path, key, value)
    with pytest.raises(ValueError, match=message):
        train(**TINY, out_dir=tmp_path / "out", init=init)
    assert not (tmp_path / "out").exists()


class _Hung(Exception):
    pass


def _alarm(seconds):
    """A context in which a call that blocks longer than ``seconds`` raises ``_Hung``
    (before a fix, a FIFO at the checkpoint path blocked the run's first save)."""
    import contextlib
    import signal

    @contextlib.contextmanager
    def guard():
        def hung(*_):
            raise _Hung(f"blocked for {seconds} s")

        previous = signal.signal(signal.SIGALRM, hung)
        signal.alarm(seconds)
        try:
            yield
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)

    return guard()


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        # before: the run trained, then its first save raised RecursionError
        ("deep", r"is not valid JSON: it nests too deeply; the run's first save replaces"),
        # before: the run trained, then its first save blocked on the FIFO for ever
        ("fifo", r"'.*ck\.json' is a FIFO \(named pipe\); expected a regular file"),
        # before: the file (not a checkpoint) was replaced by the run's first save, silently
        ("other", r"'.*ck\.json' is not a bottlekit\.world\.train checkpoint \(format=None"),
        # before: read whole at the first save
        ("large", r"'.*ck\.json' has 33554433 bytes; expected at most 33554432 \(MAX_SIDECAR"),
    ],
)
def test_a_file_at_the_checkpoint_path_that_is_no_sidecar_is_refused_up_front(
    tmp_path, kind, message
):
    import os

    path = tmp_path / "ck.json"
    if kind == "deep":
        path.write_text("[" * 100_000)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "other":
        path.write_text('{"notes": "mine"}')
    else:
        from bottlekit.world.checkpoint import MAX_SIDECAR_BYTES

        with open(path, "wb") as fh:
            fh.truncate(MAX_SIDECAR_BYTES + 1)  # sparse: no disk used
    with _alarm(60), pytest.raises(ValueError, match=r"^checkpoint: .*" + message):
        train(**TINY, out_dir=tmp_path / "out", checkpoint=path)
    assert not (tmp_path / "out").exists()


def test_a_checkpointed_run_longer_than_its_sidecar_holds_is_refused_up_front(
    tmp_path, monkeypatch
):
    # a run's sidecar holds a loss per step: a run whose checkpoints read_checkpoint would
    # refuse as too large is refused before it trains (here with the limit lowered)
    from bottlekit.world import checkpoint

    monkeypatch.setattr(checkpoint, "MAX_CHECKPOINT_STEPS", 1)
    message = r"^steps: a run of 2 steps writes checkpoints of 2 losses; expected at most 1 "
    with pytest.raises(ValueError, match=message):
        train(**TINY, out_dir=tmp_path / "out", checkpoint=tmp_path / "ck.json")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("where", "message"),
    [
        # each of these failed only when the run wrote (at the end, or the first checkpoint)
        ({"out_dir": "file"}, r"out_dir: '.*taken' is a file, so .* cannot be written"),
        ({"out_dir": "file/sub"}, r"out_dir: '.*taken' is a file, so .* cannot be written"),
        ({"checkpoint": "file/ck.json"}, r"checkpoint: '.*taken' is a file, so .* cannot be"),
        ({"checkpoint": "folder.json"}, r"checkpoint: '.*folder\.json' is a folder; expected"),
    ],
)
def test_output_paths_that_cannot_be_written_are_refused_up_front(tmp_path, where, message):
    (tmp_path / "taken").write_text("a file in the way")
    (tmp_path / "folder.json").mkdir()
    ((key, rel),) = where.items()
    path = tmp_path / rel.replace("file", "taken")
    kw = {"out_dir": None, key: path}
    with pytest.raises(ValueError, match=message):
        train(**TINY, **kw)


def test_a_resumed_run_does_not_check_its_init_file(tmp_path):
    # a resumed run starts from the checkpoint's weights, not init's (which may be gone):
    # the checkpoint is what gets read, and refused here for being missing
    from bottlekit.world.checkpoint import CheckpointError

    gone = tmp_path / "gone.safetensors"
    with pytest.raises(CheckpointError, match=r"ck\.json' does not exist"):
        train(**TINY, out_dir=None, init=gone, resume=tmp_path / "ck.json")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--steps", "0"], "steps: expected an int >= 1, got 0"),
        (["--resume", "{d}/none.json"], "checkpoint '{d}/none.json' does not exist"),
        (["--resume", "{d}"], "checkpoint '{d}' is a folder; expected the checkpoint's .json"),
    ],
)
def test_command_line_errors_are_one_line_and_status_2(tmp_path, argv, message, run_as_main):
    # before: the exception's traceback, exit status 1
    argv = [a.format(d=tmp_path) for a in argv]
    status, _, err = run_as_main("bottlekit.world.train", *argv, "--no-checkpoint")
    assert status == 2, err
    assert err.endswith("\n") and len(err.splitlines()) == 1, err
    assert err.startswith("python -m bottlekit.world.train: error: "), err
    assert message.format(d=tmp_path) in err


@pytest.mark.parametrize("stop_after", [1, 2])
def test_a_planned_stop_without_a_checkpoint_is_refused_up_front(tmp_path, stop_after):
    # before: stop_after=1 of 2 steps with no checkpoint trained, wrote nothing and
    # printed "resume with --resume None": the steps were lost
    if stop_after == 2:  # the last step: the run finishes and writes its weights
        train(**TINY, out_dir=tmp_path, stop_after=stop_after, checkpoint=None)
        assert (tmp_path / "world-tiny.safetensors").is_file()
        return
    message = (
        r"stop_after: a run stopped after 1 of 2 steps resumes from its checkpoint, and "
        r"checkpoint is None \(--no-checkpoint\); give a checkpoint or leave stop_after out"
    )
    with pytest.raises(ValueError, match=message):
        train(**TINY, out_dir=tmp_path, stop_after=stop_after, checkpoint=None)
    assert not any(tmp_path.iterdir())


def test_every_command_line_option_says_its_default(capsys):
    # before: --threads and --device had no help at all, --stop-after no default
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--threads THREADS torch's intra-op threads" in text
    assert "[1; with --resume, the checkpoint's]" in text
    assert "--device DEVICE torch device: cpu, cuda or cuda:N [cpu]" in text
    assert "--stop-after STOP_AFTER stop after this many steps in all" in text
    assert "[none: run all --steps]" in text
    assert text.startswith("usage: python -m bottlekit.world.train [-h]")


@pytest.mark.parametrize(
    "argv", [["--checkpoint", "ck.json"], ["--checkpoint-every", "5"]], ids=["path", "every"]
)
def test_checkpoint_options_beside_no_checkpoint_are_refused(argv):
    # before: ignored without a word (no checkpoint was written); "--steps 0" makes the run
    # fail at once had the option got through
    flag = argv[0]
    with pytest.raises(ValueError, match=f"^{flag}: does nothing with --no-checkpoint$"):
        main([*argv, "--no-checkpoint", "--steps", "0"])


def test_a_folder_where_the_weights_go_is_refused_up_front(tmp_path):
    # before: the run trained, then failed writing its weights ("... is a folder")
    (tmp_path / "world-tiny.safetensors").mkdir()
    message = r"out_dir: '.*world-tiny\.safetensors' is a folder; expected a file path"
    with pytest.raises(ValueError, match=message):
        train(**TINY, out_dir=tmp_path)


def test_a_run_whose_loss_is_not_finite_stops_and_saves_nothing(tmp_path):
    # before: lr=1e30 ran to the end, saved NaN weights as a finished run (metadata
    # "final_loss": NaN, not JSON) and checkpoints that read_checkpoint refuses
    message = (
        r"the loss is nan at step 2: the run diverged \(lr=1e\+30, warmup=1\); nothing was "
        r"saved after the last checkpoint \(step 1\); lower lr or lengthen warmup"
    )
    with pytest.raises(ValueError, match=message):
        train(**dict(TINY, lr=1e30), out_dir=tmp_path / "out", checkpoint=tmp_path / "ck.json",
              checkpoint_every=1)  # fmt: skip
    assert not (tmp_path / "out").exists()
    from bottlekit.world.checkpoint import read_checkpoint

    assert read_checkpoint(tmp_path / "ck.json").step == 1  # the last good one, readable


def test_numpy_numbers_are_recorded_as_plain_numbers(tmp_path):
    # numpy numbers passed the checks, then the finished run failed writing its metadata
    # ("Object of type int64 is not JSON serializable"), or its first checkpoint
    numpy_args = dict(
        n_train=np.int64(64),
        n_val=np.int64(24),
        steps=np.int64(2),
        batch_size=np.int64(16),
        lr=np.float32(1e-3),
        weight_decay=np.float64(0.1),
        warmup=np.int64(1),
        seed=np.int64(3),
        threads=np.int64(1),
        p_typical_background=np.float32(0.5),
        hard_negatives=np.float32(0.5),
    )
    meta = train(**numpy_args, out_dir=tmp_path / "out", checkpoint=tmp_path / "ck.json")
    written = json.loads((tmp_path / "out" / "world-tiny.json").read_text())
    assert written["final_loss"] == meta["final_loss"]
    for key in ("n_train", "steps", "batch_size", "warmup", "seed", "threads"):
        assert type(written[key]) is int and written[key] == numpy_args[key], key
    assert written["lr"] == float(np.float32(1e-3)) and written["p_typical_background"] == 0.5
    plain = {k: v.item() for k, v in numpy_args.items()}
    again = train(**plain, out_dir=None)
    assert again["final_loss"] == meta["final_loss"]


def test_the_example_of_main_writes_nothing_where_it_is_run(tmp_path, monkeypatch):
    """main's Examples ran under ``--doctest-modules`` from the repository's root and left
    a 41 MB checkpoint in ./checkpoints (the default ``--checkpoint``, relative to the
    working directory; hidden by .gitignore). Run from an empty folder, the example must
    leave it empty: its outputs go to the temporary folder it makes."""
    import doctest
    import tempfile

    import bottlekit.world.train as module

    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the example's mkdtemp()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for example in doctest.DocTestFinder().find(module.main, "main", module=module):
        runner.run(example)
    summary = runner.summarize(verbose=False)
    assert summary.attempted > 0 and summary.failed == 0  # the example ran, and passed
    assert sorted(p.name for p in here.iterdir()) == []
