"""Hostile command lines: one line on stderr naming the option, exit status 2, no traceback.

Before: ``bottlekit audit --cbm`` on a folder of fewer classes than the model ended in an
IndexError traceback; ``audit --out FILE`` fitted everything and then failed with
"folder: ... exists and is not a folder"; ``demo --out FILE`` ran the whole demo (20 s)
and failed with "[Errno 17] File exists"; ``--workers``, ``--shard-size`` and ``embed
--bank`` without ``--ray`` were ignored without a word; ``audit --lam inf`` was accepted;
``reproduce`` read and embedded the whole dataset before it checked the model's parameters
(``--set model.params.lam=abc``) and ignored ``--batch-size 0`` when the cache held the
embeddings.
"""

from __future__ import annotations

import pytest
from PIL import Image

import bottlekit
from bottlekit.app.cli import main
from bottlekit.bottleneck import PosthocCBM
from bottlekit.concepts import from_text
from bottlekit.world import make_world


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A CBM of the 24 world classes, a folder of 2 classes, a file in the way."""
    d = tmp_path_factory.mktemp("cli_hostile")
    world = make_world(48, "train", random_state=0)
    bk = bottlekit.load_backbone("world-tiny")
    X = bottlekit.embed(bk, world.images, progress=False, cache=False)
    bank = from_text(bk, list(world.concept_names))
    PosthocCBM(bank, random_state=0).fit(X, world.labels).save(d / "cbm.safetensors")
    bank.save(d / "bank.safetensors")
    for c, first in (("a", 0), ("b", 3)):
        (d / "imgs" / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(world.images[first + i]).save(d / "imgs" / c / f"{i}.png")
    (d / "afile").write_text("x")
    (d / "folder.npz").mkdir()
    (d / "folder.json").mkdir()
    (d / "taken" / "report.html").mkdir(parents=True)  # a folder where a report file goes
    (d / "taken" / "pcbm_contributions_2.png").mkdir()
    return d


AUDIT = "audit --backbone world-tiny --cbm {d}/cbm.safetensors --quiet"
EMBED = "embed {d}/imgs --backbone world-tiny --out {d}/o.npz --quiet --no-cache"

CASES = {
    "audit of a folder of fewer classes than the cbm": (
        AUDIT + " --images {d}/imgs --out {d}/out",
        "data.class_names: names 2 classes but the model's classes go up to 23",
    ),
    "audit --out is a file": (
        AUDIT + " --world test --n 24 --out {d}/afile",
        "--out: '{d}/afile' is a file; expected a folder",
    ),
    "audit --lam inf": (
        AUDIT + " --bank {d}/bank.safetensors --world test --n 24 --lam inf --out {d}/out",
        "lam: expected a finite number >= 0, got inf",
    ),
    "audit --workers without --ray": (
        AUDIT + " --world test --n 24 --workers 2 --out {d}/out",
        "--workers: only applies with --ray",
    ),
    "audit --shard-size without --ray": (
        AUDIT + " --world test --n 24 --shard-size 64 --out {d}/out",
        "--shard-size: only applies with --ray",
    ),
    "demo --out is a file": (
        "demo --n-train 24 --n-test 24 --out {d}/afile --quiet",
        "--out: '{d}/afile' is a file; expected a folder",
    ),
    # before: the whole audit or demo ran, then failed writing into the folder
    "audit --out holds a folder where report.html goes": (
        AUDIT + " --world test --n 24 --out {d}/taken",
        "--out: '{d}/taken/report.html' is a folder; expected a file there (or none), as "
        "report.html, audit.json are written into --out",
    ),
    "demo --out holds a folder where a plot goes": (
        "demo --n-train 24 --n-test 24 --out {d}/taken --quiet",
        "--out: '{d}/taken/pcbm_contributions_2.png' is a folder; expected a file there",
    ),
    "reproduce: a bad model parameter before reading the data": (
        "reproduce pcbm-cub --root {d}/no-data --set model.params.lam=abc --out {d}/r.json",
        "lam: expected a finite number >= 0, got 'abc'",
    ),
    "reproduce: --batch-size 0 before reading the data": (
        "reproduce pcbm-cub --root {d}/no-data --batch-size 0 --out {d}/r.json",
        "error: --batch-size: expected an int >= 1, got 0",
    ),
    "embed --workers without --ray": (EMBED + " --workers 2", "--workers: only applies with"),
    # before: refused after the whole run, when the file was written ("path: ... is a
    # folder" naming no option, for reproduce)
    "embed --out is a folder": (
        EMBED.replace("{d}/o.npz", "{d}/folder.npz"),
        "--out: '{d}/folder.npz' is a folder; expected a file path",
    ),
    "reproduce --out is a folder": (
        "reproduce pcbm-cub --root {d}/no-data --out {d}/folder.json",
        "--out: '{d}/folder.json' is a folder; expected a file path",
    ),
    # before: listed no local weights, as if the folder were an empty cache
    "backbones --cache-dir that does not exist": (
        "backbones --cache-dir {d}/none",
        "--cache-dir: '{d}/none' does not exist; expected the folder of the weights cache",
    ),
    "backbones --cache-dir that is a file": (
        "backbones --local --cache-dir {d}/afile",
        "--cache-dir: '{d}/afile' is a file; expected the folder of the weights cache",
    ),
    # before: ignored without a word (--ray wrote to the --cache-dir cache despite
    # --no-cache; --no-cache read and wrote no cache whatever --cache-dir said)
    "embed --ray --no-cache": (
        EMBED.replace("--out {d}/o.npz", "--out {d}/out --ray"),
        "--no-cache: does not apply with --ray (its cache is --cache-dir, none without)",
    ),
    "embed --ray --jpeg-draft": (
        EMBED.replace("--no-cache", "--ray --jpeg-draft").replace("{d}/o.npz", "{d}/out"),
        "--jpeg-draft: does not apply with --ray",
    ),
    "embed --ray --model-threads": (
        EMBED.replace("--no-cache", "--ray --model-threads 2").replace("{d}/o.npz", "{d}/out"),
        "--model-threads: does not apply with --ray",
    ),
    "embed --no-cache --cache-dir": (
        EMBED + " --cache-dir {d}/cache",
        "--cache-dir: does nothing with --no-cache",
    ),
    # before: ignored without a word (the folder's images were all audited; a linear head
    # gets input-gradient saliency maps whatever the method)
    "audit --n without --world": (
        AUDIT + " --images {d}/imgs --n 8 --out {d}/out",
        "--n: only applies with --world (the number of world images)",
    ),
    "audit --ray --lam": (
        AUDIT + " --ray --world test --n 24 --lam 0.1 --out {d}/out",
        "--lam: does not apply with --ray (the distributed audit fits no surrogate)",
    ),
    "audit --ray --top-k": (
        AUDIT + " --ray --world test --n 24 --top-k 3 --out {d}/out",
        "--top-k: does not apply with --ray",
    ),
    "audit --ray --map-method": (
        AUDIT + " --ray --world test --n 24 --map-method coam --out {d}/out",
        "--map-method: does not apply with --ray",
    ),
    "audit --map-method with --head": (
        "audit --backbone world-tiny --head {d}/afile --world test --map-method coam "
        "--out {d}/out",
        "--map-method: only applies with --cbm (a linear head's maps are input-gradient saliency)",
    ),
    "embed --bank without --ray": (
        EMBED + " --bank {d}/bank.safetensors",
        "--bank: only applies with --ray",
    ),
    # before: an OverflowError traceback from a DataLoader worker (status 1), after the
    # backbone was loaded; 100000 asked for a 30 GB image per file
    "audit --image-size beyond PIL's pixel limit": (
        AUDIT + " --images {d}/imgs --image-size 100000000000000000000 --out {d}/out",
        "bottlekit audit: error: --image-size: expected at most "
        f"{Image.MAX_IMAGE_PIXELS} pixels (PIL's Image.MAX_IMAGE_PIXELS), got "
        "100000000000000000000 (100000000000000000000 x 100000000000000000000)",
    ),
    "audit --image-size of 100000": (
        AUDIT + " --images {d}/imgs --image-size 100000 --out {d}/out",
        f"error: --image-size: expected at most {Image.MAX_IMAGE_PIXELS} pixels (PIL's "
        "Image.MAX_IMAGE_PIXELS), got 100000 (100000 x 100000)",
    ),
    # before: listed the recipes, the recipe and the run's options ignored without a word
    "reproduce --list with a recipe": (
        "reproduce --list pcbm-cub",
        "bottlekit reproduce: error: RECIPE: does nothing with --list (it lists the recipes "
        "and exits); expected --list alone",
    ),
    "reproduce --list --root": (
        "reproduce --list --root {d}/no-data",
        "error: --root: does nothing with --list",
    ),
    "reproduce --list --batch-size": (
        "reproduce --list --batch-size 8",
        "error: --batch-size: does nothing with --list",
    ),
    # before: the last value was used, the first dropped without a word
    "reproduce --set of one key twice": (
        "reproduce pcbm-cub --root {d}/no-data --set model.params.lam=1 "
        "--set model.params.lam=2 --out {d}/r.json",
        "error: --set: 'model.params.lam' is given twice ('model.params.lam=1' and "
        "'model.params.lam=2'); expected each setting once",
    ),
    # before: accepted; the dataset was read, and a date reaching the end of the run failed
    # the record's writing (JSON has no dates), a NaN was written as null
    "reproduce --set a date in dataset.options": (
        "reproduce pcbm-cub --root {d}/no-data --set dataset.options.attributes=1979-05-27 "
        "--out {d}/r.json",
        "(with --set dataset.options.attributes=1979-05-27): dataset.options.attributes must "
        "be a string, number, boolean, array or table, got date 1979-05-27 (quote it to give "
        "a string)",
    ),
    "reproduce --set NaN in dataset.options": (
        "reproduce pcbm-cub --root {d}/no-data --set dataset.options.image_size=nan "
        "--out {d}/r.json",
        "(with --set dataset.options.image_size=nan): dataset.options.image_size must be a "
        "finite number, got nan",
    ),
    # before: refused by the selection, after the dataset was read and embedded
    "reproduce --set a selection method that does not exist": (
        "reproduce labo-cub-16shot --root {d}/no-data --set concepts.select_method=best "
        "--out {d}/r.json",
        "(with --set concepts.select_method=best): concepts.select_method 'best' is not a "
        "method; expected one of ['submodular', 'mi', 'top-similarity', 'random']",
    ),
    # before: named only after the dataset was read (minutes for ImageNet's folders)
    "reproduce --device that does not exist": (
        "reproduce pcbm-cub --root {d}/no-data --device gpu --out {d}/r.json",
        "bottlekit reproduce: error: --device: 'gpu' is not a torch device",
    ),
    "reproduce --backbone that does not exist": (
        "reproduce pcbm-cub --root {d}/no-data --backbone ViT-B-33 --out {d}/r.json",
        "bottlekit reproduce: error: --backbone: unknown backbone 'ViT-B-33'",
    ),
    # before: accepted and ignored (the concept file replaces the recipe's concept source)
    "reproduce --concepts with --set concepts.cv": (
        "reproduce pcbm-cub --root {d}/no-data --concepts {d}/bank.safetensors "
        "--set concepts.cv=5 --out {d}/r.json",
        "bottlekit reproduce: error: --set: concepts.cv=5 has no effect with --concepts (the "
        "concept file replaces the recipe's concept source, and concepts.cv is only read by "
        "that source); expected --concepts without it",
    ),
    "reproduce --concepts with --set concepts.style": (
        "reproduce labo-cub-1shot --root {d}/no-data --concepts {d}/bank.safetensors "
        "--set model.params.max_epochs=7 --set concepts.style=labo --out {d}/r.json",
        "error: --set: concepts.style=labo has no effect with --concepts",
    ),
    "reproduce --concepts with --set concepts.source": (
        "reproduce pcbm-cub --root {d}/no-data --concepts {d}/bank.safetensors "
        "--set concepts.source=dataset --set concepts.description=mine --out {d}/r.json",
        "error: --set: concepts.source=dataset has no effect with --concepts",
    ),
    "reproduce --set Infinity in a list of dataset.options": (
        "reproduce pcbm-cub --root {d}/no-data --set dataset.options.image_size=[224,inf] "
        "--out {d}/r.json",
        "dataset.options.image_size[1] must be a finite number, got inf",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_command_lines_end_with_one_line_and_status_2(files, capsys, case):
    command, message = CASES[case]
    d = str(files)
    assert main(command.format(d=d).split()) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert message.format(d=d) in err and "Traceback" not in err
    assert not (files / "out").exists() and (files / "afile").read_text() == "x"


@pytest.mark.parametrize(
    "settings",
    [
        [],  # the recipe file's own concepts.n_examples and concepts.Cs stay fine
        ["--set", "concepts.select_per_class=2", "--set", "concepts.select_method=random"],
    ],
)
def test_reproduce_concepts_with_settings_that_apply_to_any_source(files, capsys, settings):
    # the concept file is taken with these, and the run goes on to the dataset's folder
    d = files
    command = f"reproduce pcbm-cub --root {d}/no-data --concepts {d}/bank.safetensors"
    assert main([*command.split(), *settings, "--out", f"{d}/r.json"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--set" not in err and "no-data" in err, err


@pytest.mark.parametrize(
    ("out", "shown"),
    [
        ("imgs", "is the --images folder"),
        ("imgs/report", "is inside the --images folder"),
        ("imgs/a/report", "is inside the --images folder"),
        ("imgs/./b/../report", "is inside the --images folder"),
        ("to-imgs/report", "is inside the --images folder"),  # through a symbolic link
    ],
)
@pytest.mark.parametrize("ray", [False, True])
def test_audit_out_in_the_images_folder_is_refused(files, capsys, out, shown, ray):
    # Before: the report (report.html, audit.json; with --ray the Parquet shards) was
    # written into the folder being read, where a rerun reads it as input; the local
    # audit of a 2-class folder ended on the model's classes instead, after the backbone.
    d = files
    if not (d / "to-imgs").exists():
        (d / "to-imgs").symlink_to(d / "imgs", target_is_directory=True)
    before = sorted(p.relative_to(d) for p in (d / "imgs").rglob("*"))
    command = [*AUDIT.format(d=d).split(), "--images", str(d / "imgs"), "--out", str(d / out)]
    assert main(command + ["--ray"] * ray) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"bottlekit audit: error: --out: {str(d / out)!r} {shown} ")
    assert f"{str(d / 'imgs')!r}; expected a folder outside it" in err
    assert sorted(p.relative_to(d) for p in (d / "imgs").rglob("*")) == before


def test_audit_out_next_to_the_images_folder_is_not_inside_it(files, capsys):
    # 'imgs-report' starts with the characters of 'imgs' but is not inside it: the audit
    # goes on to the data (and stops at the model's classes, as for any --out)
    command = AUDIT.format(d=files) + f" --images {files}/imgs --out {files}/imgs-report"
    assert main(command.split()) == 2
    assert "data.class_names: names 2 classes" in capsys.readouterr().err


def test_an_output_folder_is_compared_with_the_input_folder_it_resolves_to(tmp_path):
    from bottlekit.app._paths import check_output_outside

    (tmp_path / "photos" / "cats").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "photos", target_is_directory=True)
    (tmp_path / "manifest.csv").write_text("path,label\n")
    # the input through a link, the output by its real path (and the other way round)
    with pytest.raises(ValueError, match=r"--out: '.*photos/cats/r' is inside the --images"):
        check_output_outside(tmp_path / "photos/cats/r", "--out", tmp_path / "link", "--images")
    with pytest.raises(ValueError, match=r"--out: '.*link' is the --images folder '.*photos'"):
        check_output_outside(tmp_path / "link", "--out", tmp_path / "photos", "--images")
    # outside: a sibling, the parent; an input that is no folder (a manifest) is not checked
    for out in ("photos-out", ".", "manifest.csv/out"):
        check_output_outside(tmp_path / out, "--out", tmp_path / "photos", "--images")
    check_output_outside(tmp_path / "manifest.csv", "--out", tmp_path / "manifest.csv", "--images")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["audit", *AUDIT.split()[1:], "--world", "test", "--n", "24", "--out", ""], "--out"),
        (["demo", "--n-train", "24", "--n-test", "24", "--quiet", "--out", ""], "--out"),
        (["embed", *EMBED.split()[1:4], "--no-cache", "--quiet", "--out", ""], "--out"),
        (["audit", *AUDIT.split()[1:], "--images", "", "--out", "{d}/out"], "--images"),
        # before: listed the working directory's weights as the cache's, with status 0
        (["backbones", "--local", "--cache-dir", ""], "--cache-dir"),
        # before: refused only after the dataset was read and the backbone loaded
        (
            [
                "reproduce",
                "pcbm-cub",
                "--root",
                "{d}/no",
                "--cache-dir",
                "",
                "--out",
                "{d}/r.json",
            ],
            "--cache-dir",
        ),
    ],
)
def test_an_empty_path_is_not_the_working_directory(files, capsys, monkeypatch, argv, message):
    # before: `--out ""` (an unset shell variable) wrote the audit's report.html and
    # audit.json, or the demo's report, into the working directory; `--images ""` audited
    # the working directory as an image folder
    work = files / "work"
    work.mkdir(exist_ok=True)
    monkeypatch.chdir(work)
    d = str(files)
    assert main([a.format(d=d) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"{message}: got an empty path; expected " in err
    assert not any(work.iterdir()) and not (files / "out").exists()


@pytest.mark.parametrize("value", ["0", "-2", "nan", "1.5", "many"])
def test_model_threads_says_what_it_expects(capsys, value):
    # before: "invalid _model_threads_option value: '0'" (the function's name, no expectation)
    with pytest.raises(SystemExit) as exit_:
        main(
            ["embed", "x", "--backbone", "world-tiny", "--out", "x.npz", "--model-threads", value]
        )
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        f"bottlekit embed: error: argument --model-threads: expected 'auto' or an int >= 1, "
        f"got {value!r}"
    )


#: Options with no default to state: a name or folder that goes with another option, a
#: repeatable setting, --ray (off unless given; its ADDRESS is optional).
NO_DEFAULT = {"--root", "--dataset", "--dataset-option", "--set", "--ray", "embed --bank"}


def test_every_optional_option_states_its_default():
    # before: backbones --cache-dir, --workers, audit --pretrained, audit --image-size and
    # reproduce --backbone / --pretrained / --concepts did not say what happens without them
    import argparse

    from bottlekit.app.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    silent = []
    for name, sub in commands.choices.items():
        required_groups = [g for g in sub._mutually_exclusive_groups if g.required]
        for action in sub._actions:
            flag = (action.option_strings or [action.dest])[-1]
            if (
                not action.option_strings  # positional
                or action.required
                or action.nargs == 0  # a switch: off unless given
                or any(action in g._group_actions for g in required_groups)
                or flag in NO_DEFAULT
                or f"{name} {flag}" in NO_DEFAULT
            ):
                continue
            if "default" not in action.help:
                silent.append(f"{name} {flag}")
    assert silent == [], silent


def test_ctrl_c_is_one_line_and_status_130(files, capsys, monkeypatch):
    # before: a KeyboardInterrupt traceback from wherever the command was
    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("bottlekit.app.demo.run_demo", interrupted)
    assert main(["demo", "--out", str(files / "demo-out"), "--quiet"]) == 130
    assert capsys.readouterr().err == "bottlekit demo: interrupted\n"


@pytest.mark.parametrize("how", ["same", "relative", "link"])
def test_reproduce_out_is_not_the_concepts_file(files, capsys, monkeypatch, how):
    # before: the record was written over the --concepts file at the end of the run: the
    # concept list it was made with was lost
    concepts = files / "concepts.json"
    concepts.write_text('{"a": ["red wings"]}')
    out = {"same": concepts, "relative": "concepts.json", "link": files / "link.json"}[how]
    if how == "link" and not (files / "link.json").exists():
        (files / "link.json").symlink_to(concepts)
    monkeypatch.chdir(files)
    argv = ["reproduce", "lfcbm-cifar10", "--root", str(files / "no-data")]
    assert main([*argv, "--concepts", str(concepts), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"bottlekit reproduce: error: --out: {str(out)!r} is the --concepts file "
        f"{str(concepts)!r}; expected another path (the record would overwrite it)"
    )
    assert concepts.read_text() == '{"a": ["red wings"]}'


def test_reproduce_out_beside_the_concepts_file_goes_on(files, capsys):
    (files / "concepts.json").write_text('{"a": ["red wings"]}')
    argv = ["reproduce", "lfcbm-cifar10", "--root", str(files / "no-data")]
    argv += ["--concepts", str(files / "concepts.json"), "--out", str(files / "record.json")]
    assert main(argv) == 2
    assert "no-data: folder not found" in capsys.readouterr().err  # on to the data


@pytest.mark.parametrize("out", ["imgs", "imgs/shards", "imgs/a/shards"])
def test_embed_ray_out_in_the_images_folder_is_refused(files, capsys, monkeypatch, out):
    # before: Ray started and wrote the Parquet shards into the folder being embedded,
    # where the next run on it finds a class folder of no images (or the shards)
    def no_ray(option="--ray"):
        raise AssertionError("Ray would start")

    monkeypatch.setattr("bottlekit.app.cli.require_ray", no_ray)
    d = files
    before = sorted(p.relative_to(d) for p in (d / "imgs").rglob("*"))
    command = EMBED.format(d=d).replace(f"{d}/o.npz", f"{d}/{out}").replace("--no-cache", "")
    assert main([*command.split(), "--ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    shown = "is the" if out == "imgs" else "is inside the"
    assert err.startswith(
        f"bottlekit embed: error: --out: {str(d / out)!r} {shown} IMAGES folder "
        f"{str(d / 'imgs')!r}; expected a folder outside it"
    )
    assert sorted(p.relative_to(d) for p in (d / "imgs").rglob("*")) == before


@pytest.mark.slow  # about 8 s
def test_embed_model_threads_beyond_the_cpus_is_one_line(files):
    # before: OpenMP aborted the process ("libgomp: Out of memory allocating 800008
    # bytes", status 1) for 100000 threads; a few more than the CPUs only waited
    import subprocess
    import sys

    from bottlekit.backbones import _usable_cpus

    command = EMBED.format(d=files) + " --model-threads 100000"
    done = subprocess.run(
        [sys.executable, "-m", "bottlekit", *command.split()], capture_output=True, text=True
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"bottlekit embed: error: --model-threads: expected None, 'auto' or an int from 1 to "
        f"{_usable_cpus()} (the CPUs this process may use), got 100000\n"
    )
    assert not (files / "o.npz").exists()


def test_audit_ray_seed_without_world_is_refused(files, capsys, monkeypatch):
    # before: --seed was ignored without a word (the distributed audit of --images draws
    # nothing at random), and Ray started
    def no_ray(option="--ray"):
        raise AssertionError("Ray would start")

    monkeypatch.setattr("bottlekit.app.ray_options.require_ray", no_ray)
    command = AUDIT.format(d=files) + f" --ray --images {files}/imgs --seed 3 --out {files}/o"
    assert main(command.split()) == 2
    assert capsys.readouterr().err == (
        "bottlekit audit: error: --seed: does not apply with --ray and --images (the "
        "distributed audit draws nothing at random; the seed is the --world's)\n"
    )


@pytest.mark.slow  # about 7 s
def test_output_to_a_pipe_its_reader_closed_ends_quietly_with_141():
    # before: `bottlekit backbones | head -1` printed "bottlekit backbones: error: [Errno
    # 32] Broken pipe" and ended with status 2, as if the user had erred
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "bottlekit", "backbones"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read()
    assert proc.wait() == 141 and err == b""


def test_a_broken_pipe_other_than_stdout_is_an_error(capsys):
    from bottlekit._command_errors import run_reporting_errors

    def endpoint_gone():
        raise BrokenPipeError(32, "Broken pipe")

    assert run_reporting_errors(endpoint_gone, "demo") == 2
    assert capsys.readouterr().err == "demo: error: [Errno 32] Broken pipe\n"


@pytest.mark.parametrize(
    "command",
    [
        EMBED.replace("--no-cache", "") + " --ray",
        "embed --backbone world-tiny --out {d}/shards --quiet --ray",  # no IMAGES either
        AUDIT + " --world test --n 24 --out {d}/shards --ray",
    ],
    ids=["embed", "embed without IMAGES", "audit"],
)
def test_an_empty_ray_address_is_refused(files, capsys, monkeypatch, command):
    # before: `--ray "$RAY_ADDRESS"` with the variable unset went on to Ray, which started
    # a local instance instead of joining the cluster (or, for embed without IMAGES, took
    # "" for the images)
    def no_ray(option="--ray"):
        raise AssertionError("Ray would start")

    monkeypatch.setattr("bottlekit.app.ray_options.require_ray", no_ray)
    monkeypatch.setattr("bottlekit.app.cli.require_ray", no_ray)
    argv = command.format(d=files).replace("o.npz", "shards").split()
    assert main([*argv, ""]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        "error: --ray: got an empty address; expected a cluster address (auto, host:6379, "
        "ray://host:10001), or --ray alone to start a local instance"
    ), err


def test_audit_out_in_the_dataset_folder_is_refused(files, capsys):
    # before: the report went into the --root folder being read: for an imagefolder
    # dataset the next run found a class folder of no images there
    d = files
    command = AUDIT.format(d=d) + f" --dataset imagefolder --root {d}/imgs --out {d}/imgs/r"
    assert main(command.split()) == 2
    assert capsys.readouterr().err.startswith(
        f"bottlekit audit: error: --out: '{d}/imgs/r' is inside the --root folder "
        f"'{d}/imgs'; expected a folder outside it"
    )
    assert not (d / "imgs" / "r").exists()


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            EMBED + " --batch-size -3",
            "bottlekit embed: error: --batch-size: expected a positive int, got -3",
        ),
        (
            AUDIT + " --world test --n 24 --top-k 0 --out {d}/out",
            "bottlekit audit: error: --top-k: expected an int >= 1, got 0",
        ),
        (
            AUDIT + " --bank {d}/bank.safetensors --world test --n 24 --lam -1 --out {d}/out",
            "bottlekit audit: error: --lam: expected a finite number >= 0, got -1.0",
        ),
        (
            "demo --n-train 3 --out {d}/out --quiet",
            "bottlekit demo: error: --n-train: expected an int >= 24 (an image of each of "
            "the world's 24 species), got 3",
        ),
        (
            "reproduce pcbm-cub --root {d}/no-data --batch-size 0 --out {d}/r.json",
            "bottlekit reproduce: error: --batch-size: expected an int >= 1, got 0",
        ),
        # load_backbone's argument is `name`; the commands check the name as --backbone
        (
            EMBED.replace("world-tiny", "ViT-B-33"),
            "bottlekit embed: error: --backbone: unknown backbone 'ViT-B-33'. Did you mean: "
            "ViT-B-32, ViT-S-32, ViT-M-32, ViT-B-16, ViT-L-14-336? See `bottlekit backbones` "
            "or open_clip.list_models() for the names, or register a config with "
            "bottlekit.register_model_config().",
        ),
        (
            AUDIT.replace("world-tiny", "ViT-B-33") + " --world test --n 24 --out {d}/out",
            "bottlekit audit: error: --backbone: unknown backbone 'ViT-B-33'. Did you mean: "
            "ViT-B-32, ViT-S-32, ViT-M-32, ViT-B-16, ViT-L-14-336? See `bottlekit backbones` "
            "or open_clip.list_models() for the names, or register a config with "
            "bottlekit.register_model_config().",
        ),
        # the library's name differs from the option's dest (cli.LIBRARY_NAMES)
        (
            AUDIT + " --world test --n 24 --seed -1 --out {d}/out",
            "bottlekit audit: error: --seed: expected an int >= 0, got -1",
        ),
        (
            AUDIT + " --world test --n 24 --examples -1 --out {d}/out",
            "bottlekit audit: error: --examples: expected an int >= 0, got -1",
        ),
    ],
    ids=[
        "embed",
        "audit --top-k",
        "audit --lam",
        "demo",
        "reproduce",
        "embed --backbone",
        "audit --backbone",
        "audit --seed",
        "audit --examples",
    ],
)
def test_a_library_error_names_the_option_the_user_typed(files, capsys, command, message):
    # before: "batch_size: expected a positive int, got -3", the library's argument name,
    # where the user had typed --batch-size
    assert main(command.format(d=files).split()) == 2
    assert capsys.readouterr().err == message + "\n"
    assert not (files / "out").exists()


@pytest.mark.parametrize(
    ("examples", "message"),
    [
        # a bank whose statistics of the top 400 items per concept no shard could store
        (
            "400",
            "bottlekit audit: error: --examples: expected at most 347 with these 3000 "
            "concepts, got 400: every shard's concept statistics",
        ),
        # 0 keeps no top items (the local audit's 0: no example images), since 2026-12-04
        ("-1", "bottlekit audit: error: --examples: expected an int >= 0, got -1\n"),
    ],
    ids=["more than the bank's statistics hold", "negative"],
)
def test_audit_ray_examples_is_named_as_typed(files, capsys, examples, message):
    # --examples is the distributed audit's top (embed_dataset); before: "top: expected
    # at most 347 with these 3000 concepts, got 400" (refused before Ray starts)
    pytest.importorskip("ray.data")
    import numpy as np

    from bottlekit.concepts import ConceptBank

    bk = bottlekit.load_backbone("world-tiny")
    k = 3000
    vectors = np.random.default_rng(0).normal(size=(k, bk.embed_dim)).astype(np.float32)
    ConceptBank([f"c{j}" for j in range(k)], vectors, bk.id).save(files / "bank3000.safetensors")
    command = AUDIT + " --bank {d}/bank3000.safetensors --ray --world test --n 24"
    command += f" --examples {examples} --out {{d}}/ray-out"
    assert main(command.format(d=files).split()) == 2
    assert capsys.readouterr().err.startswith(message)
    assert not (files / "ray-out").exists()


def test_audit_ray_examples_at_its_default_is_named_too():
    # --examples left at 6 with a bank whose statistics hold at most 4 top items per
    # concept: before, the message started "top:", the library's name, as the option
    # renaming names only options the user typed; the --ray path now checks up front
    from bottlekit.app.audit_command import _check_examples_storable

    names = [f"c{j}" for j in range(160_000)]
    with pytest.raises(ValueError, match=r"^--examples \(default 6\): expected at most 4 with"):
        _check_examples_storable(names, 6, 512)
    with pytest.raises(ValueError, match=r"^--examples: expected at most 4 with"):
        _check_examples_storable(names, 5, 512)
    _check_examples_storable(names, 4, 512)  # (0: the Ray audit with --examples 0, slow)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        # `images` is embed's positional argument, no option
        (
            "embed {d}/empty --backbone world-tiny --out {d}/o.npz --quiet --no-cache",
            "bottlekit embed: error: images: folder '{d}/empty' contains no images",
        ),
        # the model's own batch_size (--set model.params.batch_size), not the embedding's
        # --batch-size the user also gave (before: "--batch-size: expected an int > 0, got
        # 0", the option the user had set to 32)
        (
            "reproduce labo-cub-1shot --root {d}/no-data --batch-size 32 "
            "--set model.params.batch_size=0 --out {d}/r.json",
            "bottlekit reproduce: error: model.params.batch_size: expected an int > 0, got 0\n",
        ),
        # the recipe's backbone (--set backbone.name), no --backbone (before: "backbone:
        # unknown backbone", run_recipe's argument, which was left out)
        (
            "reproduce pcbm-cub --root {d}/no-data --set backbone.name=ViT-B-99 --out {d}/r.json",
            "bottlekit reproduce: error: backbone.name: unknown backbone 'ViT-B-99'. Did you",
        ),
        # the recipe's device beside the --device the user gave, checked before the data
        # are read (before: the missing dataset; with data, fit's error shown as
        # "--device: 'bogus' is not a torch device")
        (
            "reproduce pcbm-cub --root {d}/no-data --device cpu --set model.params.device=bogus "
            "--out {d}/r.json",
            "bottlekit reproduce: error: model.params.device: 'bogus' is not a torch device; ",
        ),
    ],
    ids=[
        "embed images",
        "reproduce model.params beside the option",
        "reproduce backbone.name",
        "reproduce model.params.device beside --device",
    ],
)
def test_a_library_error_naming_no_option_is_left_as_it_is(files, capsys, command, message):
    (files / "empty").mkdir(exist_ok=True)
    assert main(command.format(d=files).split()) == 2
    assert capsys.readouterr().err.startswith(message.format(d=files))


class _Stop(Exception):
    """Raised by a stand-in to end the command once it has what the test reads."""


@pytest.mark.parametrize("ray", [False, True])
@pytest.mark.parametrize(("seed", "used"), [([], 0), (["--seed", "7"], 7)])
def test_audit_seed_default_reaches_both_audits(files, monkeypatch, ray, seed, used):
    # one default for --seed (0), read by the local audit's world and the --ray one
    seen = []

    def world(n, split, random_state):
        seen.append((n, split, random_state))
        raise _Stop

    monkeypatch.setattr("bottlekit.world.make_world", world)
    monkeypatch.setattr("bottlekit.app.ray_options.require_ray", lambda option="--ray": None)
    command = AUDIT.format(d=files) + f" --world test --n 24 --out {files}/o"
    with pytest.raises(_Stop):
        main([*command.split(), *seed, *["--ray"] * ray])
    assert seen == [(24, "test", used)]


def test_audit_lam_of_a_cbm_audited_on_its_own_concepts_is_refused(files, capsys):
    # before: accepted and dropped (no surrogate is fitted), and recorded in audit.json
    command = AUDIT.format(d=files) + f" --world test --n 24 --lam 0.01 --out {files}/out"
    assert main(command.split()) == 2
    assert capsys.readouterr().err == (
        "bottlekit audit: error: --lam: does not apply with --cbm without --bank (the model "
        "is audited on its own concepts; no surrogate is fitted)\n"
    )
    assert not (files / "out").exists()
