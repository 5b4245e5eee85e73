"""Recipe files from others: values a schema type check lets through, files that are not
text, names that leave the shipped folder, and arguments of the public functions. Each
case says what the code did before its fix."""

from __future__ import annotations

import copy
import json
import os
import sys

import numpy as np
import pytest

from bottlekit.app.recipe import RECIPE_DIR, RecipeError, load_recipe, parse_recipe
from bottlekit.app.reproduce import apply_overrides, run_recipe

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BASE = tomllib.loads((RECIPE_DIR / "pcbm-cub.toml").read_text(encoding="utf-8"))


def _with(path: str, value):
    data = copy.deepcopy(BASE)
    *tables, key = path.split(".")
    node = data
    for t in tables:
        node = node[t]
    node[key] = value
    return data


# Before: every one of these was accepted, and failed (or gave a meaningless comparison)
# only after the dataset had been embedded.
@pytest.mark.parametrize(
    "path, value, match",
    [
        ("paper.value", float("nan"), "paper.value must be a finite number, got nan"),
        ("paper.value", float("inf"), "paper.value must be a finite number, got inf"),
        ("paper.value", 10**400, "paper.value must be a finite number"),
        ("concepts.n_examples", 0, "concepts.n_examples must be >= 1, got 0"),
        ("concepts.n_examples", -3, "concepts.n_examples must be >= 1, got -3"),
        ("concepts.cv", 1, "concepts.cv must be >= 2, got 1"),
        ("concepts.select_per_class", 0, "concepts.select_per_class must be >= 1"),
        ("concepts.Cs", [], "concepts.Cs must be a non-empty array"),
        (
            "concepts.Cs",
            [float("inf")],
            "concepts.Cs must be a non-empty array of positive finite",
        ),
        ("dataset.seed", -1, "dataset.seed must be >= 0, got -1"),
    ],
)
def test_values_of_the_right_type_but_out_of_range_are_named(path, value, match):
    with pytest.raises(RecipeError, match=match) as info:
        parse_recipe(_with(path, value), "other.toml")
    assert str(info.value).startswith("other.toml: ")


def test_n_per_prompt_of_an_llm_recipe_is_checked():
    data = load_recipe("labo-cub-1shot")
    raw = {
        "name": data.name,
        "title": data.title,
        **{
            t: copy.deepcopy(getattr(data, t))
            for t in ("paper", "dataset", "backbone", "concepts", "model", "metric")
        },
    }
    if raw["concepts"]["source"] != "llm":  # pragma: no cover - the shipped file changed
        pytest.skip("labo-cub-1shot no longer asks a language model")
    raw["concepts"]["n_per_prompt"] = 0
    with pytest.raises(RecipeError, match=r"concepts.n_per_prompt must be >= 1, got 0"):
        parse_recipe(raw, "llm.toml")


@pytest.mark.parametrize("data", [[1, 2], None, "name = 'x'"], ids=["list", "none", "str"])
def test_parse_recipe_of_something_not_a_table(data):
    # before: TypeError from dict() ("cannot convert dictionary update sequence ...")
    with pytest.raises(RecipeError, match=r"x.toml: expected a table of the recipe's keys"):
        parse_recipe(data, "x.toml")


def test_files_that_are_not_text_or_nest_too_deeply(tmp_path):
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe name = 1")
    # before: UnicodeDecodeError naming no file
    with pytest.raises(RecipeError, match=r"binary.toml: not valid TOML"):
        load_recipe(binary)
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 5000 + "]" * 5000)
    # before: RecursionError
    with pytest.raises(RecipeError, match=r"deep.toml: not valid TOML: .*nest too deeply"):
        load_recipe(deep)


def test_a_recipe_saved_with_a_byte_order_mark_loads(tmp_path):
    # a Windows editor's UTF-8 file: before, "not valid TOML: Invalid statement (at line 1,
    # column 1)", an error at a character nobody can see
    path = tmp_path / "pcbm-cub.toml"
    path.write_bytes(b"\xef\xbb\xbf" + (RECIPE_DIR / "pcbm-cub.toml").read_bytes())
    assert load_recipe(path) == load_recipe("pcbm-cub")


def test_a_folder_named_like_a_recipe(tmp_path):
    (tmp_path / "folder.toml").mkdir()
    # before: "file ... does not exist"
    with pytest.raises(ValueError, match=r"folder.toml' is a folder"):
        load_recipe(tmp_path / "folder.toml")


def test_a_recipe_name_never_leaves_the_shipped_folder(tmp_path):
    outside = tmp_path / "pcbm-cub.toml"
    outside.write_text((RECIPE_DIR / "pcbm-cub.toml").read_text(encoding="utf-8"))
    name = os.path.relpath(tmp_path / "pcbm-cub", RECIPE_DIR)
    assert ".." in name
    # before: RECIPE_DIR / "../../.../pcbm-cub.toml" was read as a shipped recipe
    with pytest.raises(ValueError, match=r"no recipe named"):
        load_recipe(name)


@pytest.mark.parametrize("recipe", [None, 5], ids=["none", "int"])
def test_load_recipe_of_no_name(recipe):
    # before: TypeError from os.fspath naming no argument
    with pytest.raises(TypeError, match=r"RECIPE: expected a recipe name or the path"):
        load_recipe(recipe)


def test_an_empty_name_is_not_the_working_directory():
    # unchanged behaviour, kept by the new folder check: Path("") is "." (a folder)
    with pytest.raises(ValueError, match=r"RECIPE: no recipe named ''"):
        load_recipe("")


def test_overrides_given_as_one_string():
    # before: the string was read character by character ("expected TABLE.KEY=VALUE,
    # got 'm'")
    with pytest.raises(TypeError, match=r"overrides: expected a list of TABLE.KEY=VALUE"):
        apply_overrides(load_recipe("pcbm-cub"), "model.params.lam=1")


def test_run_recipe_names_a_missing_root():
    # before: TypeError from pathlib naming no argument
    with pytest.raises(TypeError, match=r"root: expected the dataset's folder, got None"):
        run_recipe("pcbm-cub", None)


@pytest.mark.parametrize(
    "name, raw, match",
    [
        # before: UnicodeDecodeError naming no file
        ("latin.txt", "café\n".encode("latin-1"), r"'.*latin\.txt' is not UTF-8 text"),
        ("latin.json", b'{"a": ["caf\xe9"]}', r"'.*latin\.json' is not UTF-8 text"),
        # before: RecursionError
        ("deep.json", b"[" * 100_000, r"'.*deep\.json' is not valid JSON: it nests too deeply"),
        # before: ValueError "Exceeds the limit (4300 digits)" naming no file
        ("digits.json", b"1" * 5000, r"'.*digits\.json' is not valid JSON"),
    ],
)
def test_concept_files_from_others_are_named(tmp_path, name, raw, match):
    from bottlekit.app.reproduce import load_concept_file

    (tmp_path / name).write_bytes(raw)
    with pytest.raises(ValueError, match=r"--concepts: " + match):
        load_concept_file(tmp_path / name, None, ["a"])


@pytest.mark.parametrize("suffix", [".txt", ".json"])
def test_concept_files_saved_with_a_byte_order_mark(tmp_path, suffix):
    # before: a .txt file's first concept was "\ufeffred wings" (embedded as such, without
    # a word), a .json file "not valid JSON: Unexpected UTF-8 BOM"
    import bottlekit
    from bottlekit.app.reproduce import load_concept_file

    text = "red wings\nlong beak\n" if suffix == ".txt" else '{"a": ["red wings", "long beak"]}'
    path = tmp_path / f"concepts{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    bank = load_concept_file(path, bottlekit.load_backbone("world-tiny"), ["a"])
    assert list(bank.names) == ["red wings", "long beak"]


def test_concept_file_arguments_are_named(tmp_path):
    from bottlekit.app.reproduce import load_concept_file

    # before: TypeError from pathlib naming no argument
    with pytest.raises(TypeError, match=r"--concepts: expected the path of a concept file"):
        load_concept_file(None, None, ["a"])
    (tmp_path / "names.txt").mkdir()
    # before: "file ... does not exist"
    with pytest.raises(ValueError, match=r"names\.txt' is a folder"):
        load_concept_file(tmp_path / "names.txt", None, ["a"])


def _file_with(tmp_path, path: str, value):
    import json

    data = _with(path, value)
    data["name"] = "theirs"

    def toml(v):
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {toml(x)}" for k, x in v.items()) + " }"
        if isinstance(v, bool):
            return "true" if v else "false"
        return json.dumps(v)

    lines = [f"{k} = {toml(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for table, body in data.items():
        if isinstance(body, dict):
            lines.append(f"[{table}]")
            lines += [f"{k} = {toml(v)}" for k, v in body.items()]
    out = tmp_path / "theirs.toml"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


@pytest.mark.parametrize(
    "path, value, match",
    [
        # before: a recipe file from someone else could switch on downloads, switch off
        # their checksum, read files anywhere, or load any local file as weights
        ("dataset.options", {"download": True}, r"dataset.options.download is not read"),
        ("dataset.options", {"checksum": False}, r"dataset.options.checksum is not read"),
        ("backbone.pretrained", "/etc/passwd", r"backbone.pretrained '/etc/passwd' looks like"),
        ("backbone.pretrained", "../w.safetensors", r"backbone.pretrained .* looks like a path"),
        ("backbone.pretrained", "weights.pt", r"backbone.pretrained .* looks like a path"),
        ("backbone.name", "local-dir:/tmp/model", r"backbone.name 'local-dir:/tmp/model' is a"),
    ],
)
def test_a_recipe_file_cannot_reach_outside_its_data(tmp_path, path, value, match):
    with pytest.raises(RecipeError, match=r"theirs\.toml: " + match):
        load_recipe(_file_with(tmp_path, path, value))


def test_the_user_may_still_set_those_options():
    recipe = apply_overrides(load_recipe("pcbm-cub"), ["dataset.options.download=true"])
    assert recipe.dataset["options"]["download"] is True


def test_a_file_with_only_tags_and_dataset_options_loads(tmp_path):
    recipe = load_recipe(_file_with(tmp_path, "backbone.pretrained", "openai"))
    assert recipe.backbone["pretrained"] == "openai" and recipe.name == "theirs"


def test_a_record_with_unmeasured_values_is_standard_json(tmp_path):
    import math

    from bottlekit.app.reproduce import write_record

    record = {"measured": float("nan"), "by_group": [np.float64(np.inf), 0.5], "n": 3}
    path = write_record(record, tmp_path / "r.json")
    # before: NaN and Infinity were written, which strict JSON readers refuse
    assert "NaN" not in path.read_text() and "Infinity" not in path.read_text()
    got = json.loads(path.read_text(), parse_constant=lambda c: math.nan)
    assert got == {"measured": None, "by_group": [None, 0.5], "n": 3}


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        (None, TypeError, "path: expected the path of a .json file, got None"),
        (".", ValueError, "path: .* is a folder"),
    ],
)
def test_write_record_names_a_bad_path(path, error, message):
    from bottlekit.app.reproduce import write_record

    with pytest.raises(error, match=message):
        write_record({"measured": 0.5}, path)
