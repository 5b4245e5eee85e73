"""Paper recipes: small declarative TOML files that say how a paper's table row was made.

A recipe names the dataset (and its loader options), the backbone and weights the paper
used, where the concepts come from, the bottleneck model and its hyper-parameters (as
read from the reference code), the metric, and the paper's number. The recipes shipped
with bottlekit live in ``bottlekit/app/recipes/*.toml`` (package data);
:func:`list_recipes` names them and :func:`load_recipe` reads and validates one.
``bottlekit reproduce`` (:mod:`bottlekit.app.reproduce`) runs them.

Every file is checked against :data:`SCHEMA` when it is read: an unknown key, a missing
field or a value of the wrong type is a :class:`RecipeError` naming the file and the key.

A number needs ``value_source``: where it was read. ``value_verified = false`` marks a
number nobody has checked against that source (``bottlekit reproduce`` prints it as
unverified); ``comparable = false`` marks a number measured on a backbone the recipe
cannot run (the record's ``comparable`` is then false and the printout says why).

The file format (one table per part; ``value`` and the ``options``/``params`` tables are
optional)::

    name = "pcbm-cub"                       # the file's stem
    title = "Post-hoc CBM on CUB"
    [paper]
    citation = "Yuksekgonul, Wang & Zou (2023). Post-hoc Concept Bottleneck Models. ICLR"
    table = "Table 1, CUB, PCBM"
    value = 0.588
    value_source = "where the number was read (URL or repo/path@commit, table, row)"
    value_verified = false                  # true once checked against that source
    comparable = false                      # the paper's backbone is not the recipe's
    [dataset]
    name = "cub"                            # a name of bottlekit.datasets.load_dataset
    train_split = "train"
    test_split = "test"
    options = { attributes = "koh112" }     # the loader's own options
    [backbone]
    name = "RN50"
    pretrained = "openai"
    [concepts]
    source = "dataset"                      # "dataset" (CAVs), "llm" or "file"
    [model]
    class = "PosthocCBM"
    params = { lam = 2e-4 }
    [metric]
    name = "accuracy"
"""

from __future__ import annotations

import datetime
import inspect
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: the same parser, from PyPI
    import tomli as tomllib

__all__ = [
    "CONCEPT_SOURCES",
    "METRICS",
    "MODEL_CLASSES",
    "RECIPE_DIR",
    "SCHEMA",
    "Recipe",
    "RecipeError",
    "list_recipes",
    "load_recipe",
    "parse_recipe",
]

#: Folder of the shipped recipe files (package data).
RECIPE_DIR = Path(__file__).resolve().parent / "recipes"

#: Bottleneck classes a recipe may name (all in :mod:`bottlekit.bottleneck`).
MODEL_CLASSES = ("PosthocCBM", "LaBo", "LabelFreeCBM", "KnowledgeCBM")

#: Where a recipe's concepts come from: CAVs learned from the dataset's own concept
#: labels (``from_examples``), a language model (``generate``, answers cached), or a
#: concept file the user passes (``--concepts``).
CONCEPT_SOURCES = ("dataset", "llm", "file")

#: Metrics a recipe may report: test accuracy, worst-group test accuracy (groups: class
#: x spurious attribute), and Aysel et al.'s concept existence (precision@k) and
#: location (pointing game) on the test split.
METRICS = ("accuracy", "worst_group_accuracy", "concept_existence", "concept_location")

_REQUIRED, _OPTIONAL = True, False
_TABLE = dict

#: ``table -> key -> (expected type(s), required)``; ``""`` holds the top-level keys.
SCHEMA: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "": {
        "name": ((str,), _REQUIRED),
        "title": ((str,), _REQUIRED),
        "paper": ((_TABLE,), _REQUIRED),
        "dataset": ((_TABLE,), _REQUIRED),
        "backbone": ((_TABLE,), _REQUIRED),
        "concepts": ((_TABLE,), _REQUIRED),
        "model": ((_TABLE,), _REQUIRED),
        "metric": ((_TABLE,), _REQUIRED),
    },
    "paper": {
        "citation": ((str,), _REQUIRED),
        "table": ((str,), _REQUIRED),
        "value": ((float, int), _OPTIONAL),
        "value_source": ((str,), _OPTIONAL),
        # true: value_source cites where the number was read; false: not checked
        "value_verified": ((bool,), _OPTIONAL),
        # false: the recipe cannot run the paper's backbone, so its number is not
        # comparable with the measured one (default true)
        "comparable": ((bool,), _OPTIONAL),
        "backbone": ((str,), _OPTIONAL),
        "note": ((str,), _OPTIONAL),
    },
    "dataset": {
        "name": ((str,), _REQUIRED),
        "train_split": ((str,), _REQUIRED),
        "test_split": ((str,), _REQUIRED),
        "options": ((_TABLE,), _OPTIONAL),
        "shots": ((int,), _OPTIONAL),
        "seed": ((int,), _OPTIONAL),
    },
    "backbone": {
        "name": ((str,), _REQUIRED),
        "pretrained": ((str,), _REQUIRED),
    },
    "concepts": {
        "source": ((str,), _REQUIRED),
        "description": ((str,), _OPTIONAL),
        # source = "dataset": from_examples on the training split (Post-hoc CBM's draw)
        "n_examples": ((int,), _OPTIONAL),
        "Cs": ((list,), _OPTIONAL),
        "cv": ((int,), _OPTIONAL),
        # source = "llm": generate
        "style": ((str,), _OPTIONAL),
        "llm_model": ((str,), _OPTIONAL),
        "n_per_prompt": ((int,), _OPTIONAL),
        # any source: LaBo's submodular selection, k per class
        "select_per_class": ((int,), _OPTIONAL),
        "select_method": ((str,), _OPTIONAL),
    },
    "model": {
        "class": ((str,), _REQUIRED),
        "params": ((_TABLE,), _OPTIONAL),
    },
    "metric": {
        "name": ((str,), _REQUIRED),
        "top_k": ((int,), _OPTIONAL),
        "n_images": ((int,), _OPTIONAL),
    },
}

_SOURCE_KEYS = {
    "dataset": {"n_examples", "Cs", "cv"},
    "llm": {"style", "llm_model", "n_per_prompt"},
    "file": set(),
}
_METRIC_KEYS = {
    "accuracy": set(),
    "worst_group_accuracy": set(),
    "concept_existence": {"top_k"},
    "concept_location": {"n_images"},
}


#: Loader options a recipe *file* may not set: they reach the network, turn off a
#: download's checksum, or name files outside the dataset folder. The user passes them
#: (``--set dataset.options.KEY=VALUE``); a file from someone else cannot.
_FILE_REFUSED_OPTIONS = {
    "download": "it downloads from the network",
    "checksum": "it turns the download's checksum on or off",
    "cub_root": "it names a folder outside the dataset's",
    "concepts_csv": "it names a file outside the dataset's folder",
    "synset_names": "it names a file outside the dataset's folder",
    "val_solution": "it names a file outside the dataset's folder",
}

_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt", ".npz", ".npy")


def _check_file_sources(recipe: Recipe, where: str) -> None:
    """What a recipe file may not ask for: loader options that download, skip checks or
    read other files, and weights or models from local paths (``--pretrained`` and
    ``--backbone`` take those from the user)."""
    for key in sorted(set(recipe.dataset.get("options", {})) & set(_FILE_REFUSED_OPTIONS)):
        raise RecipeError(
            f"{where}: dataset.options.{key} is not read from a recipe file "
            f"({_FILE_REFUSED_OPTIONS[key]}); pass it with --set dataset.options.{key}=..."
        )
    pretrained = recipe.backbone["pretrained"]
    if (
        "/" in pretrained
        or "\\" in pretrained
        or pretrained.startswith(("~", "."))
        or pretrained.lower().endswith(_CHECKPOINT_SUFFIXES)
    ):
        raise RecipeError(
            f"{where}: backbone.pretrained {pretrained!r} looks like a path; a recipe file "
            "names a pretrained tag (pass a local checkpoint with --pretrained)"
        )
    if recipe.backbone["name"].startswith("local-dir:"):
        raise RecipeError(
            f"{where}: backbone.name {recipe.backbone['name']!r} is a local folder; a recipe "
            "file names a model (pass a local one with --backbone)"
        )


class RecipeError(ValueError):
    """A recipe file that does not follow :data:`SCHEMA` (the message names file and key)."""


@dataclass(frozen=True)
class Recipe:
    """A validated recipe (see :func:`load_recipe`).

    Parameters
    ----------
    name, title : str
        The recipe's name (its file's stem) and a one-line title.
    paper, dataset, backbone, concepts, model, metric : dict
        The file's tables, validated.
    path : pathlib.Path or None
        The file it was read from.
    """

    name: str
    title: str
    paper: dict
    dataset: dict
    backbone: dict
    concepts: dict
    model: dict
    metric: dict
    path: Path | None = field(default=None, compare=False)

    @property
    def paper_value(self) -> float | None:
        """The paper's number (None where the recipe records none)."""
        value = self.paper.get("value")
        return None if value is None else float(value)


def _type_names(types: tuple[type, ...]) -> str:
    names = {
        dict: "table",
        str: "string",
        int: "integer",
        float: "number",
        list: "array",
        bool: "boolean",
    }
    return " or ".join(names.get(t, t.__name__) for t in types)


def _check_table(data: Mapping, table: str, where: str) -> None:
    spec = SCHEMA[table]
    prefix = f"{table}." if table else ""
    unknown = sorted(set(data) - set(spec))
    if unknown:
        raise RecipeError(
            f"{where}: unknown key {prefix}{unknown[0]!r}; expected one of {sorted(spec)}"
        )
    for key, (types, required) in spec.items():
        if key not in data:
            if required:
                raise RecipeError(f"{where}: missing key {prefix}{key!r} ({_type_names(types)})")
            continue
        value = data[key]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            kind = _type_names(types)
            article = "an" if kind[0] in "aeiou" else "a"
            raise RecipeError(
                f"{where}: {prefix}{key} must be {article} {kind}, got "
                f"{type(value).__name__} {value!r}"
            )


def _accepted(func: Any) -> list[str]:
    return [
        p.name
        for p in inspect.signature(func).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _check_one_of(value: Any, choices: list, key: str, what: str, where: str) -> None:
    """Refuse a recipe's ``key`` whose ``value`` is none of ``choices`` (``what`` names
    the kind: ``"a dataset"``)."""
    if value not in choices:
        raise RecipeError(f"{where}: {key} {value!r} is not {what}; expected one of {choices}")


def _check_minimum(table: Mapping, name: str, key: str, low: int, where: str) -> None:
    """Refuse ``table[key]`` (of the recipe's table ``name``) below ``low``, where given."""
    if key in table and table[key] < low:
        raise RecipeError(f"{where}: {name}.{key} must be >= {low}, got {table[key]}")


def _check_plain_values(value: Any, key: str, where: str) -> None:
    """Refuse, in a free-form table (``dataset.options``, ``model.params``), a value the
    record cannot hold as it is: a TOML date or time (JSON has none: the record failed to
    be written after the whole run) or a NaN or infinite number (written as ``null``)."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_plain_values(v, f"{key}.{k}", where)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_plain_values(v, f"{key}[{i}]", where)
    elif isinstance(value, (datetime.date, datetime.time)):
        raise RecipeError(
            f"{where}: {key} must be a string, number, boolean, array or table, got "
            f"{type(value).__name__} {value.isoformat()} (quote it to give a string)"
        )
    elif isinstance(value, float) and not math.isfinite(value):
        raise RecipeError(f"{where}: {key} must be a finite number, got {value}")


def _check_semantics(data: dict, where: str) -> None:
    from bottlekit import bottleneck
    from bottlekit.datasets import LOADERS

    paper = data["paper"]
    if "value" in paper and not _finite(paper["value"]):
        raise RecipeError(f"{where}: paper.value must be a finite number, got {paper['value']}")
    if "value_verified" in paper and "value" not in paper:
        raise RecipeError(f"{where}: paper.value_verified is given but paper.value is not")
    if "value" in paper and "value_source" not in paper:
        raise RecipeError(
            f"{where}: paper.value needs paper.value_source (where the number was read)"
        )

    for table, free in (("dataset", "options"), ("model", "params")):
        if free in data[table]:
            _check_plain_values(data[table][free], f"{table}.{free}", where)

    ds = data["dataset"]
    _check_one_of(ds["name"], sorted(LOADERS), "dataset.name", "a dataset", where)
    options = ds.get("options", {})
    allowed = [p for p in _accepted(LOADERS[ds["name"]]) if p not in ("root", "split")]
    bad = sorted(set(options) - set(allowed))
    if bad:
        raise RecipeError(
            f"{where}: dataset.options.{bad[0]} is not an option of {ds['name']}; it takes "
            f"{allowed}"
        )
    for key, low in (("shots", 1), ("seed", 0)):
        _check_minimum(ds, "dataset", key, low, where)

    concepts = data["concepts"]
    source = concepts["source"]
    _check_one_of(source, list(CONCEPT_SOURCES), "concepts.source", "a concept source", where)
    for key in concepts:
        owner = next((s for s, keys in _SOURCE_KEYS.items() if key in keys), None)
        if owner is not None and owner != source:
            raise RecipeError(
                f"{where}: concepts.{key} is only read with source = {owner!r}, not {source!r}"
            )
    if source == "file" and "description" not in concepts:
        raise RecipeError(
            f"{where}: concepts.description is required with source = 'file' (it tells the "
            "user which concept file to pass with --concepts)"
        )
    # checked now, not after the data are embedded
    for key, low in (("n_examples", 1), ("cv", 2), ("n_per_prompt", 1), ("select_per_class", 1)):
        _check_minimum(concepts, "concepts", key, low, where)
    if "Cs" in concepts and not (
        concepts["Cs"]
        and all(
            isinstance(c, int | float) and not isinstance(c, bool) and c > 0 and _finite(c)
            for c in concepts["Cs"]
        )
    ):
        raise RecipeError(
            f"{where}: concepts.Cs must be a non-empty array of positive finite numbers, got "
            f"{concepts['Cs']}"
        )
    if source == "llm":
        from bottlekit.concepts import PROMPT_STYLES

        style = concepts.get("style", "labo")
        _check_one_of(style, sorted(PROMPT_STYLES), "concepts.style", "a prompt style", where)
    if "select_method" in concepts and "select_per_class" not in concepts:
        raise RecipeError(f"{where}: concepts.select_method needs concepts.select_per_class")
    if "select_method" in concepts:  # (checked now, not after the data are embedded)
        from bottlekit.concepts.selection import METHODS

        method = concepts["select_method"]
        _check_one_of(method, list(METHODS), "concepts.select_method", "a method", where)

    model = data["model"]
    _check_one_of(model["class"], list(MODEL_CLASSES), "model.class", "a bottleneck class", where)
    accepted = [p for p in _accepted(getattr(bottleneck, model["class"])) if p != "concepts"]
    bad = sorted(set(model.get("params", {})) - set(accepted))
    if bad:
        raise RecipeError(
            f"{where}: model.params.{bad[0]} is not a parameter of {model['class']}; it takes "
            f"{accepted}"
        )

    metric = data["metric"]
    _check_one_of(metric["name"], list(METRICS), "metric.name", "a metric", where)
    for key in set(metric) - {"name"}:
        if key not in _METRIC_KEYS[metric["name"]]:
            raise RecipeError(f"{where}: metric.{key} is not read by metric {metric['name']!r}")
        _check_minimum(metric, "metric", key, 1, where)


def parse_recipe(data: Mapping[str, Any], where: str = "<recipe>") -> Recipe:
    """Validate a recipe's parsed TOML and return it as a :class:`Recipe`.

    Parameters
    ----------
    data : mapping
        The parsed file (``tomllib.loads``).
    where : str, default "<recipe>"
        The file name, for error messages.

    Returns
    -------
    Recipe
        The validated recipe.

    Raises
    ------
    RecipeError
        An unknown key, a missing field, a value of the wrong type, or a name (dataset,
        loader option, concept source, model class or parameter, metric) that does not
        exist; the message names ``where`` and the key.

    Examples
    --------
    >>> parse_recipe({"name": "x"}, "x.toml")
    Traceback (most recent call last):
    ...
    bottlekit.app.recipe.RecipeError: x.toml: missing key 'title' (string)
    """
    if not isinstance(data, Mapping):
        raise RecipeError(f"{where}: expected a table of the recipe's keys, got {data!r}"[:300])
    data = dict(data)
    _check_table(data, "", where)
    for table in SCHEMA[""]:
        if SCHEMA[""][table][0] == (_TABLE,):
            _check_table(data[table], table, where)
    _check_semantics(data, where)
    return Recipe(
        name=data["name"],
        title=data["title"],
        paper=dict(data["paper"]),
        dataset=dict(data["dataset"]),
        backbone=dict(data["backbone"]),
        concepts=dict(data["concepts"]),
        model=dict(data["model"]),
        metric=dict(data["metric"]),
    )


def list_recipes() -> list[str]:
    """Names of the shipped recipes, sorted.

    Returns
    -------
    list of str
        The recipe names (the TOML files' stems).

    Examples
    --------
    >>> "pcbm-cub" in list_recipes()
    True
    """
    return sorted(p.stem for p in RECIPE_DIR.glob("*.toml"))


def load_recipe(recipe: str | os.PathLike) -> Recipe:
    """Read and validate a recipe: a shipped one by name, or a ``.toml`` file.

    Parameters
    ----------
    recipe : str or path
        A name of :func:`list_recipes` (e.g. ``"pcbm-cub"``) or the path of a TOML file.

    Returns
    -------
    Recipe
        The validated recipe.

    Raises
    ------
    RecipeError
        The file breaks the schema (see :func:`parse_recipe`), is not valid TOML, or its
        ``name`` is not its file's stem.
    ValueError
        No shipped recipe has that name and no such file exists.

    Examples
    --------
    >>> r = load_recipe("pcbm-cub")
    >>> r.dataset["name"], r.model["class"], r.metric["name"]
    ('cub', 'PosthocCBM', 'accuracy')
    """
    if not isinstance(recipe, (str, os.PathLike)):
        raise TypeError(
            f"RECIPE: expected a recipe name or the path of a .toml file, got {recipe!r}"[:300]
        )
    text = os.fspath(recipe)
    path = Path(text)
    if text and path.is_dir():
        raise ValueError(f"RECIPE: {text!r} is a folder; expected a recipe name or a .toml file")
    if not (text.endswith(".toml") or path.is_file()):
        path = RECIPE_DIR / f"{text}.toml"
        # a name is one of the shipped files, never a way out of their folder
        if text not in list_recipes() or not path.is_file():
            raise ValueError(
                f"RECIPE: no recipe named {text!r}; expected one of {list_recipes()} or a "
                ".toml file"
            )
    elif not path.is_file():
        raise ValueError(f"RECIPE: file {text!r} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # (a BOM, as Notepad writes)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise RecipeError(f"{path}: not valid TOML: {e}") from None
    except RecursionError:
        raise RecipeError(f"{path}: not valid TOML: arrays or tables nest too deeply") from None
    parsed = parse_recipe(data, str(path))
    _check_file_sources(parsed, str(path))
    if parsed.name != path.stem:
        raise RecipeError(f"{path}: name {parsed.name!r} must be the file's stem {path.stem!r}")
    return replace(parsed, path=path)
