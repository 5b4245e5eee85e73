"""world.evaluate on hostile input: refused before any backbone is loaded or world embedded
(no minutes of work lost to an argument that was wrong from the start)."""

import numpy as np
import pytest

pytest.importorskip("open_clip")

import bottlekit.backbones
import bottlekit.pretrained
from bottlekit.world import evaluate as world_evaluate


class Loaded(Exception):
    """A backbone was loaded: the check came too late."""


@pytest.fixture
def no_loading(monkeypatch):
    def refuse(*args, **kwargs):
        raise Loaded

    monkeypatch.setattr(bottlekit.backbones, "load_backbone", refuse)


@pytest.mark.parametrize("model", ["bogus", "ViT-B-32"])
def test_model_that_is_not_a_world_clip_is_one_clear_line(no_loading, capsys, model):
    with pytest.raises(SystemExit) as exc:
        world_evaluate.main(["--model", model])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument --model: unknown model {model!r}" in err


def test_write_of_a_model_whose_figures_do_not_ship_is_refused_first(no_loading, monkeypatch):
    only_tiny = [("world-tiny", bottlekit.pretrained.SHIPPED_TAG)]
    monkeypatch.setattr(bottlekit.pretrained, "list_pretrained", lambda *a, **k: only_tiny)
    with pytest.raises(ValueError, match=r"model: expected a model whose weights ship"):
        world_evaluate.main(["--model", "world-small", "--write"])


class FakeBackbone:
    id = "fake"

    def encode_images(self, images, **kwargs):
        raise Loaded


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"n_train": 0}, r"n_train: expected an int >= 1, got 0"),
        ({"n_val": -3}, r"n_val: expected an int >= 1, got -3"),
        ({"n_test": True}, r"n_test: expected an int >= 1, got True"),
        ({"seed": -1}, r"seed: expected an int >= 0, got -1"),
        ({"c": np.nan}, r"c: expected None or a finite number > 0, got nan"),
        ({"c": 0}, r"c: expected None or a finite number > 0, got 0"),
        (
            {"splits": ("tset",)},
            r"splits: expected a tuple of names from \('train', 'val', 'test', 'shifted'\)",
        ),
        ({"splits": "test"}, r"splits: expected a tuple of"),
    ],
)
def test_evaluate_refuses_bad_arguments_before_embedding(kw, message):
    with pytest.raises(ValueError, match=message):
        world_evaluate.evaluate(FakeBackbone(), **kw)


def test_evaluate_refuses_a_backbone_name_for_a_backbone():
    with pytest.raises(TypeError, match=r"backbone: expected a bottlekit Backbone .*got str"):
        world_evaluate.evaluate("world-tiny", n_train=5, n_val=5, n_test=5)


def test_write_with_weights_other_than_the_shipped_ones_is_refused_first(no_loading, tmp_path):
    """--write records the shipped weights' figures (the tests reproduce them): other
    weights would silently replace them."""
    other = tmp_path / "other.safetensors"
    other.write_bytes(b"not the shipped weights")
    with pytest.raises(ValueError, match=r"--write: .* are not the shipped world-tiny weights"):
        world_evaluate.main(["--model", "world-tiny", "--weights", str(other), "--write"])
    with pytest.raises(FileNotFoundError, match=r"--weights: no file at"):
        world_evaluate.main(["--weights", str(tmp_path / "missing"), "--write"])
    shipped = bottlekit.pretrained.pretrained_file("world-tiny", "bottlekit")
    with pytest.raises(Loaded):  # the shipped file itself passes the check
        world_evaluate.main(["--model", "world-tiny", "--weights", str(shipped), "--write"])


def test_command_line_errors_are_one_line_and_status_2(run_as_main):
    # before: the ValueError's traceback, exit status 1
    status, _, err = run_as_main("bottlekit.world.evaluate", "--n-train", "0")
    assert status == 2, err
    assert err == (
        "python -m bottlekit.world.evaluate: error: n_train: expected an int >= 1, got 0\n"
    )


def test_every_command_line_option_says_its_default(capsys):
    # before: --n-train, --n-val, --n-test and --seed had no help
    with pytest.raises(SystemExit):
        world_evaluate.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert text.startswith("usage: python -m bottlekit.world.evaluate [-h]")
    for option, default in (("--n-train", 2400), ("--n-val", 1200), ("--n-test", 2400)):
        assert f"{option} {option[2:].upper().replace('-', '_')} " in text
        assert f"(default {default})" in text
    assert "--seed SEED world seed of every split (default 0)" in text
