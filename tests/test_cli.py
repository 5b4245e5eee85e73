"""The command line: version, backbone listing, embedding a folder to .npz, errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import bottlekit
from bottlekit.app.cli import main
from bottlekit.backbones import load_backbone


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"bottlekit {bottlekit.__version__}"


def test_backbones_lists_open_clip_and_registered_names(capsys, tiny_configs):
    assert main(["backbones"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "ViT-B-32" in rows and "laion2b_s34b_b79k" in rows["ViT-B-32"]
    assert "test-tiny-vit" in rows


def test_embed_folder_writes_npz_with_labels(tmp_path, rng_images, tiny_configs, capsys):
    for cls, sl in (("finch", slice(0, 3)), ("wren", slice(3, 6))):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i, img in enumerate(rng_images[sl]):
            Image.fromarray(img).save(tmp_path / "imgs" / cls / f"{i}.png")
    out = tmp_path / "emb.npz"
    argv = ["embed", "--backbone", "test-tiny-vit", str(tmp_path / "imgs"), "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    with np.load(out) as npz:
        assert list(npz["class_names"]) == ["finch", "wren"]
        np.testing.assert_array_equal(npz["labels"], [0, 0, 0, 1, 1, 1])
        assert [f.rsplit("/", 2)[-2] for f in npz["files"]] == ["finch"] * 3 + ["wren"] * 3
        expected = load_backbone("test-tiny-vit").encode_images(rng_images, progress=False)
        np.testing.assert_allclose(npz["embeddings"], expected, atol=1e-6)
        assert str(npz["backbone_id"]) == load_backbone("test-tiny-vit").id


def test_embed_errors_are_reported_with_exit_code_2(tmp_path, capsys, rng_images):
    Image.fromarray(rng_images[0]).save(tmp_path / "one.png")
    one = str(tmp_path / "one.png")
    assert main(["embed", "--backbone", "ViT-B-33", one, "--out", "x.npz"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bottlekit embed: error: --backbone: unknown backbone 'ViT-B-33'")
    assert "ViT-B-32" in err
    assert main(["embed", "--backbone", "ViT-B-32", one, "--out", "x.txt"]) == 2
    assert "expected a .npz" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    empty = str(tmp_path / "empty")
    assert main(["embed", "--backbone", "ViT-B-32", empty, "--out", "x.npz"]) == 2
    assert "contains no images" in capsys.readouterr().err


class _Pickled:
    def __reduce__(self):
        return (print, ("unpickled",))


@pytest.fixture
def user_errors(tmp_path, rng_images):
    """Files a user might pass by mistake."""
    import torch

    folder = tmp_path / "imgs"
    for c in ("a", "b"):
        (folder / c).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng_images[i]).save(folder / c / f"{i}.png")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "garbage.safetensors").write_bytes(b"garbage")
    torch.save({"x": _Pickled()}, tmp_path / "evil.pt")
    return tmp_path


CLI_ERRORS = {
    "output under a file": (
        "embed {d}/imgs --backbone world-tiny --out {d}/afile/out.npz --quiet",
        "--out: '{d}/afile' is a file",
    ),
    "invalid device": (
        "embed {d}/imgs --backbone world-tiny --out {d}/o.npz --device gpu --quiet",
        "device: 'gpu' is not a torch device; available here: ['cpu'",
    ),
    "pickled checkpoint": (
        "embed {d}/imgs --backbone world-tiny --pretrained {d}/evil.pt --out {d}/o.npz --quiet",
        "evil.pt' is not a weights-only checkpoint",
    ),
    "garbage head": (
        "audit --backbone world-tiny --head {d}/garbage.safetensors --world test --out {d}/a",
        "garbage.safetensors' is not a readable safetensors file of a bottlekit linear head",
    ),
    "garbage cbm": (
        "audit --backbone world-tiny --cbm {d}/garbage.safetensors --world test --out {d}/a",
        "is not a readable safetensors file of a bottlekit model",
    ),
    "garbage bank": (
        "audit --backbone world-tiny --head {d}/garbage.safetensors "
        "--bank {d}/garbage.safetensors --world test --out {d}/a",
        "of a bottlekit concept bank",
    ),
}


@pytest.mark.parametrize("case", list(CLI_ERRORS))
def test_user_errors_end_with_one_line_and_status_2(user_errors, capsys, case):
    command, message = CLI_ERRORS[case]
    d = str(user_errors)
    assert main(command.format(d=d).split()) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert message.format(d=d) in err and "Traceback" not in err


def test_an_unreadable_image_in_a_folder_is_one_line_from_the_workers(user_errors, capsys):
    # before: "Caught ValueError in DataLoader worker process 0" and the worker's traceback
    (user_errors / "imgs" / "b" / "broken.png").write_bytes(b"\x89PNG not an image")
    d = str(user_errors)
    cmd = f"embed {d}/imgs --backbone world-tiny --out {d}/o.npz --no-cache --quiet"
    assert main(cmd.split()) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"bottlekit embed: error: images: cannot read image file '{d}/imgs/b/broken.png': "
        f"cannot identify image file '{d}/imgs/b/broken.png'"
    )


def test_a_cuda_request_without_cuda_lists_the_devices(monkeypatch):
    import torch

    from bottlekit.devices import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"'cuda' requested but CUDA is not available.*\['cpu'"):
        resolve_device("cuda")


def test_every_option_has_help_and_every_command_examples():
    import argparse

    from bottlekit.app.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(commands.choices) == {"backbones", "embed", "demo", "audit", "reproduce"}
    for name, sub in commands.choices.items():
        assert sub.epilog and sub.epilog.startswith("examples:\n  bottlekit " + name), name
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"bottlekit {name} {action.dest}: no help text"
            if action.choices:  # listed by argparse in the usage and the option's line
                assert "{" + ",".join(action.choices) + "}" in sub.format_help()


HEAVY = ("torch", "matplotlib", "open_clip")


@pytest.mark.parametrize(
    "argv", [["--help"], ["embed", "--help"], ["audit", "--help"], ["reproduce", "--help"]]
)
def test_help_imports_no_torch_or_matplotlib(argv):
    # Before, every parser was built from modules that import torch and matplotlib
    # (the dataset names through bottlekit.datasets, the map methods through
    # bottlekit.visualize): `bottlekit --help` took 3.2 s instead of 0.25 s.
    import subprocess
    import sys

    code = (
        "import sys\nfrom bottlekit.app.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_lazy_package_names_resolve_to_their_modules():
    # the packages list their names lazily: each must exist where the table says
    import bottlekit.datasets as datasets
    import bottlekit.distributed as distributed
    import bottlekit.visualize as visualize

    for package in (bottlekit, datasets, distributed, visualize):
        for name in package.__all__:
            assert getattr(package, name) is not None, (package.__name__, name)
        assert set(package.__all__) <= set(dir(package))
        with pytest.raises(AttributeError, match="no attribute 'nope'"):
            package.nope  # noqa: B018
    assert visualize.ACTIVATION_MAP_METHODS == tuple(visualize.attribution.METHODS)
    assert datasets.LOADERS["cub"] is datasets.load_cub
    assert sorted(datasets.LOADERS) == sorted(
        ["awa2", "celeba", "cifar10", "cifar100", "cub", "ham10000", "imagefolder", "waterbirds"]
    )


def test_only_a_leading_argument_name_of_a_given_option_becomes_its_flag():
    from bottlekit.app.cli import _given_options, _name_the_option, build_parser

    parser = build_parser()
    argv = "audit --backbone b --cbm m --world test --out o --top-k 0 --seed 3"
    given = _given_options(parser, parser.parse_args(argv.split()))
    assert given == {
        "backbone": "--backbone",
        "cbm": "--cbm",
        "world": "--world",
        "out": "--out",
        "top_k": "--top-k",
        "seed": "--seed",
        "random_state": "--seed",  # the library's name of --seed (cli.LIBRARY_NAMES)
    }
    cases = {
        "top_k: expected an int >= 1, got 0": "--top-k: expected an int >= 1, got 0",
        "top_k must be >= 1": "--top-k must be >= 1",
        "seed: top_k: lam: x": "--seed: top_k: lam: x",  # the first word only
        "top_kx: y": "top_kx: y",  # an exact name, not a prefix
        "lam: y": "lam: y",  # --lam was not given: the library's own lam
        "random_state: y": "--seed: y",  # the library's name of the given --seed
        "n_examples: y": "n_examples: y",  # --examples was not given
        "name: y": "name: y",  # no option
        "the top_k: y": "the top_k: y",
        "top_k": "top_k",  # a name alone is no message about it
    }
    for message, shown in cases.items():
        assert _name_the_option(message, given) == shown, message
