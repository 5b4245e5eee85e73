"""Hostile input to the application layer: arguments of the public functions of
``bottlekit.app`` (reproduce, cbm_study, demo, dataset and Ray options) and the files
they read from others. Each case says what happened before it was fixed."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from bottlekit.app import cbm_study
from bottlekit.app.dataset_options import parse_dataset_options
from bottlekit.app.demo import run_demo
from bottlekit.app.recipe import load_recipe
from bottlekit.app.reproduce import (
    apply_overrides,
    format_comparison,
    load_concept_file,
    run_recipe,
    write_record,
)

# --- --dataset-option ------------------------------------------------------------------


@pytest.mark.parametrize(
    "items, error, match",
    [
        # before: a str was iterated letter by letter ("expected KEY=VALUE, got 'i'")
        ("image_size=3", TypeError, "expected a list of KEY=VALUE strings, got 'image_size=3'"),
        (None, TypeError, "expected a list of KEY=VALUE strings, got None"),  # not iterable
        ([5], TypeError, "expected KEY=VALUE strings, got 5"),  # AttributeError .partition
        # before: nan / inf were handed to the dataset loader
        (["image_size=NaN"], ValueError, "'image_size=NaN' holds NaN or infinity"),
        (["image_size=[224, Infinity]"], ValueError, "holds NaN or infinity"),
        # before: RecursionError
        (["x=" + "[" * 100_000], ValueError, "the value of 'x' nests too deeply"),
        # before: "load_dataset() got multiple values for argument 'root'", naming no option
        (["root=/data"], ValueError, "--dataset-option: 'root' is set with --root, not here"),
        (["split=test"], ValueError, "--dataset-option: 'split' is set with --split, not"),
        (["download=true"], ValueError, "'download' is set with --download, not here"),
        (["name=cub"], ValueError, "--dataset-option: 'name' is set with --dataset, not here"),
    ],
    ids=["str", "None", "int-item", "nan", "inf-in-list", "deep", "root", "split", "dl", "name"],
)
def test_dataset_options_refuse_what_they_would_misread(items, error, match):
    with pytest.raises(error, match=match):
        parse_dataset_options(items)


# --- reproduce: records, --set, --concepts ------------------------------------------------

RECORD = {
    "recipe": "r",
    "title": "t",
    "metric": "accuracy",
    "measured": 0.5,
    "difference": 0.0,
    "comparable": True,
    "paper": {"value": 0.5, "table": "T1"},
    "dataset": {"name": "d", "test_split": "test", "n_test": 3},
    "backbone": {"name": "b", "pretrained": None, "as_in_recipe": True},
}


def test_a_record_read_back_with_an_unmeasured_value_prints(tmp_path):
    # before: write_record writes NaN as null; format_comparison of the record read back
    # failed with "unsupported format string passed to NoneType.__format__"
    path = write_record(
        {**RECORD, "measured": float("nan"), "difference": float("nan")}, tmp_path / "r.json"
    )
    text = format_comparison(json.loads(path.read_text()))
    assert "measured    none (not measured)" in text and "difference  none" in text


@pytest.mark.parametrize(
    "record, error, match",
    [
        ([1], TypeError, "record: expected a dict"),  # TypeError list indices
        (
            {k: v for k, v in RECORD.items() if k != "dataset"},
            ValueError,
            r"missing \['dataset'\]",
        ),
        ({**RECORD, "dataset": {"name": "d"}}, ValueError, "'dataset' must be a dict with"),
        ({**RECORD, "measured": "0.5"}, TypeError, "record: expected a number or null, got '0.5'"),
    ],
    ids=["list", "no-dataset", "dataset-short", "text-value"],
)
def test_format_comparison_names_what_is_wrong_in_a_record(record, error, match):
    with pytest.raises(error, match=match):  # before: KeyError / TypeError / ValueError deep
        format_comparison(record)


def test_write_record_writes_numpy_values(tmp_path):
    # before: TypeError "Object of type int64 is not JSON serializable"
    record = {
        "n": np.int64(3),
        "acc": np.float32(0.5),
        "per_class": np.arange(2),
        "ok": np.bool_(1),
    }
    path = write_record(record, tmp_path / "r.json")
    assert json.loads(path.read_text()) == {"n": 3, "acc": 0.5, "per_class": [0, 1], "ok": True}


@pytest.mark.parametrize(
    "record, match",
    [
        ({"a": [object()]}, r"record: the value at \['a'\]\[0\] is of type object"),
        ({"a": {(1, 2): 3}}, r"record: key \(1, 2\) at \['a'\] is of type tuple"),
    ],
)
def test_write_record_names_a_value_json_cannot_hold_and_keeps_the_old_file(
    tmp_path, record, match
):
    # before: json's TypeError, which names neither the argument nor where the value is
    path = tmp_path / "r.json"
    path.write_text('{"old": 1}')
    with pytest.raises(TypeError, match=match):
        write_record(record, path)
    assert path.read_text() == '{"old": 1}'


def test_set_value_nested_too_deeply():
    # before: RecursionError from tomllib
    with pytest.raises(
        ValueError, match=r"--set: the value of 'model\.params\.lam' nests too deeply"
    ):
        apply_overrides(load_recipe("pcbm-cub"), ["model.params.lam=" + "[" * 100_000])


def test_concepts_json_listing_a_class_twice(tmp_path):
    # before: the first list of concepts was dropped without a word
    path = tmp_path / "class2concepts.json"
    path.write_text('{"cat": ["whiskers"], "cat": ["fur"]}')
    with pytest.raises(ValueError, match="key 'cat' is listed twice"):
        load_concept_file(path, None, ["cat"])


@pytest.mark.parametrize(
    "kw, error, match",
    [
        ({"progress": "no"}, TypeError, "progress: expected True or False, got 'no'"),
        ({"backbone": 5}, TypeError, "backbone: expected a str or None, got 5"),
        ({"device": 0}, TypeError, "device: expected a str or None, got 0"),
        ({"cache_dir": 5}, TypeError, "cache_dir: expected a folder path or None, got 5"),
        # the concept file: before, read after the dataset and the backbone (a download)
        ({"concepts": "none.txt"}, ValueError, "--concepts: file 'none.txt' does not exist"),
        ({"concepts": "bank.pkl"}, ValueError, "--concepts: 'bank.pkl' is a pickle"),
        ({"concepts": "bank.csv"}, ValueError, "--concepts: expected a .safetensors bank"),
        ({"concepts": 5}, TypeError, "--concepts: expected the path of a concept file, got 5"),
        # before: ignored without a word (pcbm-cub's concepts are CAVs of the dataset)
        (
            {"llm_model": "gpt-4o"},
            ValueError,
            "llm_model: only applies to a recipe whose concepts come from a language model "
            "\\(concepts.source = 'llm'\\); pcbm-cub's source is 'dataset'",
        ),
    ],
)
def test_run_recipe_checks_its_arguments_before_reading_the_dataset(tmp_path, kw, error, match):
    # before: the dataset was read first (here: "CUB folder not found"), the argument later
    with pytest.raises(error, match=match):
        run_recipe("pcbm-cub", tmp_path, **kw)


def test_run_recipe_refuses_a_language_model_beside_a_concept_file(tmp_path):
    # before: ignored without a word (the file's concepts were used, no model asked)
    (tmp_path / "concepts.txt").write_text("red wings\n")
    with pytest.raises(ValueError, match=r"llm_model: does nothing with a concept file"):
        run_recipe("lfcbm-cifar10", tmp_path, concepts=tmp_path / "concepts.txt", llm_model="m")


# --- cbm_study ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, error, match",
    [
        ({"n_train": 0}, ValueError, "n_train: expected an int >= 1, got 0"),  # named "n"
        ({"n_train": "10"}, ValueError, "n_train: expected an int >= 1, got '10'"),  # "n"
        ({"n_test": True}, ValueError, "n_test: expected an int >= 1, got True"),  # "n"
        ({"n_val": "3"}, ValueError, "n_val: expected an int >= 0, got '3'"),  # TypeError '<'
        ({"seed": -1}, ValueError, "seed: expected an int >= 0, got -1"),  # "random_state"
        ({"backbone": 5}, TypeError, "backbone: expected a model name or a loaded Backbone"),
        ({"backbone": None}, TypeError, "backbone: expected a model name or a loaded"),
    ],
)
def test_load_world_data_names_its_arguments(kw, error, match):
    with pytest.raises(error, match=match):
        cbm_study.load_world_data(**{"n_train": 12, "n_test": 6, **kw})


@pytest.mark.parametrize(
    "grid, error, match",
    [
        # before: scikit-learn's error about LogisticRegression's C, not about grid
        ((float("nan"),), ValueError, r"grid\[0\]: expected a finite number > 0, got nan"),
        ((1.0, -1.0), ValueError, r"grid\[1\]: expected a finite number > 0, got -1.0"),
        ((0.0,), ValueError, r"grid\[0\]: expected a finite number > 0, got 0.0"),
        ((True,), ValueError, r"grid\[0\]: expected a finite number > 0, got True"),  # C=1
        ("ab", TypeError, "grid: expected a sequence of numbers > 0, got 'ab'"),
        (None, TypeError, "grid: expected a sequence of numbers > 0, got None"),  # len()
    ],
)
def test_tune_probe_C_checks_the_grid(grid, error, match):
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(error, match=match):
        cbm_study.tune_probe_C(X, y, X, y, grid=grid)


@pytest.fixture(scope="module")
def study():
    data = cbm_study.load_world_data(n_train=96, n_test=48, seed=1)
    banks = cbm_study.build_banks(data, kinds=("text",))
    model = cbm_study.fit_models(data, banks, models=["PCBM"])[1].model
    return data, banks, model


@pytest.mark.parametrize(
    "call, error, match",
    [
        # before: "unknown bank kind 't'" (the str iterated) / TypeError
        (
            lambda d, b, m: cbm_study.build_banks(d, kinds="text"),
            TypeError,
            "kinds: expected a list",
        ),
        (
            lambda d, b, m: cbm_study.build_banks(d, kinds=None),
            TypeError,
            "kinds: expected a list",
        ),
        # before: KeyError 'P' / 'nope' / 'cav'
        (
            lambda d, b, m: cbm_study.fit_models(d, b, models="PCBM"),
            TypeError,
            "models: expected a list",
        ),
        (
            lambda d, b, m: cbm_study.fit_models(d, b, models=["nope"]),
            ValueError,
            r"models: unknown name\(s\) \['nope'\]",
        ),
        (
            lambda d, b, m: cbm_study.fit_models(d, b, models=["PCBM"], plan={"PCBM": ["cav"]}),
            ValueError,
            r"plan\['PCBM'\]: unknown name\(s\) \['cav'\]",
        ),
        # before: scikit-learn's error about LogisticRegression's C
        (
            lambda d, b, m: cbm_study.fit_models(d, b, probe_C=float("nan")),
            ValueError,
            "probe_C: expected a finite number > 0",
        ),
        # before: top=-1 silently ranked all concepts but one; "3" / 2.5 a slice TypeError
        (
            lambda d, b, m: cbm_study.edit_by_pruning(m, d, top=-1),
            ValueError,
            "top: expected an int >= 1, got -1",
        ),
        (
            lambda d, b, m: cbm_study.edit_by_pruning(m, d, top="3"),
            ValueError,
            "top: expected an int >= 1, got '3'",
        ),
        (
            lambda d, b, m: cbm_study.edit_by_pruning(m, d, top=True),
            ValueError,
            "top: expected an int >= 1, got True",
        ),
        # before: KeyError 'nope'
        (
            lambda d, b, m: cbm_study.intervention_curve(m, d, split="nope"),
            ValueError,
            "split: expected one of",
        ),
        (
            lambda d, b, m: cbm_study.explanation_precision(m, d, split="nope"),
            ValueError,
            "split: expected one of",
        ),
        # before: k=-1 intervened on all concepts but one and reported k=-1
        (
            lambda d, b, m: cbm_study.intervention_curve(m, d, steps=[-1]),
            ValueError,
            r"steps\[0\]: expected an int >= 0, got -1",
        ),
        (
            lambda d, b, m: cbm_study.intervention_curve(m, d, steps=[1.5]),
            ValueError,
            r"steps\[0\]: expected an int >= 0, got 1.5",
        ),
        (
            lambda d, b, m: cbm_study.intervention_curve(m, d, steps=3),
            TypeError,
            "steps: expected a list of ints",
        ),
    ],
)
def test_study_functions_check_their_arguments(study, call, error, match):
    with pytest.raises(error, match=match):
        call(*study)


# --- demo ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, error, match",
    [
        ({"quiet": "no"}, TypeError, "quiet: expected True or False, got 'no'"),  # ran (truthy)
        ({"out": 5}, TypeError, "out: expected a folder path or None, got 5"),  # pathlib error
        ({"n_train": 0}, ValueError, "n_train: expected an int >= 24 .*, got 0"),  # named "n"
        # before: fitted every model on 10 of the 24 species, then failed writing the
        # report with "class_names has 24 names; expected 10"
        (
            {"n_train": 10},
            ValueError,
            r"n_train: expected an int >= 24 \(an image of each of the world's 24 species\), "
            "got 10",
        ),
        ({"seed": "x"}, ValueError, "seed: expected an int >= 0, got 'x'"),  # "random_state"
    ],
)
def test_run_demo_checks_its_arguments_first(kw, error, match):
    with pytest.raises(error, match=match):
        run_demo(**{"n_train": 24, "n_test": 24, "out": None, "quiet": True, **kw})


# --- --ray options on the command line ------------------------------------------------------


@pytest.mark.parametrize(
    "extra, match",
    [
        # before: 0 silently meant the default number of workers; -1 reached Ray
        (["--workers", "0"], "--workers: expected an int >= 1, got 0"),
        (["--shard-size", "-5"], "--shard-size: expected an int >= 1, got -5"),
        # before: NotADirectoryError after Ray started and the model loaded
        (["--out", "FILE"], "--out: .* is a file; expected a folder"),
    ],
)
@pytest.mark.parametrize("command", ["audit", "embed"])
def test_ray_options_are_checked_by_flag_before_ray(
    tmp_path, capsys, monkeypatch, command, extra, match
):
    import bottlekit.app.cli as cli
    import bottlekit.app.ray_options as ray_options

    def no_ray(option="--ray"):
        raise AssertionError("require_ray was reached: the option was not checked first")

    monkeypatch.setattr(ray_options, "require_ray", no_ray)
    monkeypatch.setattr(cli, "require_ray", no_ray)
    (tmp_path / "FILE").write_text("x")
    extra = [str(tmp_path / "FILE") if a == "FILE" else a for a in extra]
    out = [] if "--out" in extra else ["--out", str(tmp_path / "out")]
    if command == "audit":
        argv = ["audit", "--ray", "--backbone", "world-tiny", "--world", "test"]
        argv += ["--cbm", str(tmp_path / "model.safetensors")]
    else:
        argv = ["embed", "--ray", "--backbone", "world-tiny", str(tmp_path)]
    assert cli.main(argv + out + extra) == 2
    err = capsys.readouterr().err
    assert re.search(match, err), err


def test_ray_audit_report_is_standard_json_with_nan_statistics(tmp_path, monkeypatch):
    # before: concept_stats.json held "mean": NaN (json.dumps), which strict readers refuse
    import bottlekit.app.cli as cli
    import bottlekit.bottleneck.linear_head as linear_head
    import bottlekit.distributed.audit_reduce as audit_reduce
    import bottlekit.distributed.pipeline as pipeline
    from bottlekit.concepts import ConceptBank
    from bottlekit.distributed.summary import EmbedSummary

    monkeypatch.setattr("bottlekit.app.ray_options.require_ray", lambda *a, **k: None)
    monkeypatch.setattr(ConceptBank, "load", staticmethod(lambda *a, **k: None))
    monkeypatch.setattr(
        linear_head, "load_linear_head", lambda *a, **k: (np.ones((2, 3)), np.ones(2))
    )
    summary = EmbedSummary(str(tmp_path), 2, 2, 2, 0, 1, 1, 0)
    monkeypatch.setattr(pipeline, "embed_dataset", lambda *a, **k: summary)
    report = {"concepts": {"red": {"by_class": {"a": {"n": 2, "mean": float("nan")}}}}}
    monkeypatch.setattr(audit_reduce, "audit_statistics", lambda out: dict(report))
    argv = ["audit", "--ray", "--backbone", "world-tiny", "--world", "test", "--n", "8", "--quiet"]
    argv += ["--head", "h.safetensors", "--bank", "b.safetensors", "--out", str(tmp_path / "a")]
    assert cli.main(argv) == 0
    text = (tmp_path / "a" / "concept_stats.json").read_text()
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON: {c}"))
    assert data["concepts"]["red"]["by_class"]["a"]["mean"] is None


# --- output paths with odd names (the shared check_output_path / atomic_write_bytes) ---------


def test_record_path_with_a_nul_character(tmp_path):
    # before: ValueError "embedded null byte" from the write, naming no argument
    with pytest.raises(ValueError, match=r"path: .* holds a NUL character"):
        write_record({"a": 1}, str(tmp_path / "a\0b.json"))


def test_record_with_a_long_name_is_written(tmp_path):
    # before: OSError "File name too long": the temporary file beside a 250-character
    # name needed 269 characters
    path = write_record({"a": 1}, tmp_path / ("r" * 245 + ".json"))
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_demo_report_folder_name_too_long_is_refused_first(tmp_path):
    # before: OSError "File name too long" from pathlib, naming no argument
    with pytest.raises(ValueError, match=r"out: the name 'ddd.*has 300 bytes"):
        run_demo(n_train=24, n_test=24, out=tmp_path / ("d" * 300), quiet=True)


# A demo report of fewer than three test images (before: the whole demo ran, then the
# report failed with "index=1 is out of range for an explanation of 1 images"; it plotted
# three test images) is the second run of
# tests/test_demo.py::test_rerun_with_fewer_test_images_leaves_no_stale_plots (n_test=1),
# which checks its files and its page: one demo run instead of two.
