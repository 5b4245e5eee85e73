"""``bottlekit reproduce``: run a paper recipe and compare with the paper's number.

:func:`run_recipe` loads the recipe's dataset splits, the backbone, the concepts (CAVs
from the dataset's labels, an LLM's cached answers, or a file), fits the bottleneck with
the recipe's hyper-parameters, measures the metric on the test split and returns a JSON
record; :func:`format_comparison` prints the measured value beside the paper's, and
:func:`write_record` writes the record atomically.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from bottlekit._checks import check_bool, check_number, is_number
from bottlekit.app.recipe import Recipe, load_recipe, parse_recipe
from bottlekit.safetensors_file import dump_json, parse_json

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "apply_overrides",
    "format_comparison",
    "load_concept_file",
    "run_recipe",
    "write_record",
]

_LLM_HELP = (
    "set OPENAI_BASE_URL (and OPENAI_API_KEY) to an OpenAI-compatible endpoint to ask "
    "for them, or pass --concepts FILE with a saved bank (.safetensors), a concept list "
    "(.txt, one per line, e.g. Label-free CBM's data/concept_sets/*_filtered.txt) or a "
    "class -> concepts map (.json, e.g. LaBo's datasets/*/concepts/class2concepts.json); "
    "the papers' own models (text-davinci-002, gpt-4) are shut down: pass --llm-model with "
    "a model your endpoint serves"
)


def apply_overrides(recipe: Recipe, overrides: Sequence[str]) -> Recipe:
    """A recipe with ``KEY=VALUE`` settings applied (``--set``), validated again.

    Parameters
    ----------
    recipe : Recipe
    overrides : list of str
        ``table.key=value`` or ``table.subtable.key=value``; ``value`` is read as a TOML
        value (``5``, ``1e-3``, ``true``, ``"text"``), or as a string if it is not one.

    Returns
    -------
    Recipe

    Examples
    --------
    >>> r = apply_overrides(load_recipe("pcbm-cub"), ["model.params.max_iter=50"])
    >>> r.model["params"]["max_iter"]
    50
    >>> apply_overrides(r, ["model.params.epochs=5"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bottlekit.app.recipe.RecipeError: ...: model.params.epochs is not a parameter of PosthocCBM...
    """
    if isinstance(overrides, (str, bytes)):
        raise TypeError(
            f"overrides: expected a list of TABLE.KEY=VALUE strings, got {overrides!r}"
        )
    if not overrides:
        return recipe
    data = {
        "name": recipe.name,
        "title": recipe.title,
        **{t: json.loads(json.dumps(getattr(recipe, t))) for t in _TABLES},
    }
    for item in overrides:
        key, sep, raw = str(item).partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2 or not all(parts):
            raise ValueError(f"--set: expected TABLE.KEY=VALUE, got {item!r}")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        except RecursionError:  # tomllib recurses once per bracket
            raise ValueError(f"--set: the value of {key.strip()!r} nests too deeply") from None
        node = data
        for p in parts[:-1]:
            child = node.setdefault(p, {})
            if not isinstance(child, dict):
                raise ValueError(f"--set: {'.'.join(parts[:-1])} is not a table in {item!r}")
            node = child
        node[parts[-1]] = value
    where = f"{recipe.path or recipe.name} (with --set {' '.join(overrides)})"
    return replace(parse_recipe(data, where), path=recipe.path)


_TABLES = ("paper", "dataset", "backbone", "concepts", "model", "metric")


def _readable(class_name: str) -> str:
    """``"001.Black_footed_Albatross"`` -> ``"Black footed Albatross"`` (for prompts)."""
    name = re.sub(r"^\d+\.", "", str(class_name)).replace("_", " ")
    return re.sub(r"\s+", " ", name).strip()


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", _readable(name).lower())


def load_concept_file(path: str | os.PathLike, backbone: Any, class_names: Sequence[str]):
    """A concept bank from a file given with ``--concepts``.

    Parameters
    ----------
    path : path
        ``.safetensors``: a saved :class:`~bottlekit.concepts.ConceptBank` (its backbone
        must be ``backbone``). ``.txt``: concept names, one per line (``#`` comments and
        blank lines skipped), embedded with the backbone's text tower. ``.json``: an
        object ``{class name: [concepts]}`` (LaBo's ``class2concepts.json``), embedded,
        with a class prior marking the class(es) that proposed each concept; class names
        are matched to the dataset's ignoring case, punctuation and CUB's number prefix.
    backbone : Backbone
    class_names : list of str
        The dataset's classes, in label order.

    Returns
    -------
    ConceptBank

    Examples
    --------
    >>> load_concept_file("bank.pkl", None, ["a"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --concepts: 'bank.pkl' is a pickle, which bottlekit never loads (it can run...
    """
    from bottlekit.concepts import ConceptBank, from_text

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"--concepts: expected the path of a concept file, got {path!r}"[:300])
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".pkl", ".pickle", ".pt", ".pth"):
        raise ValueError(
            f"--concepts: {str(path)!r} is a pickle, which bottlekit never loads (it can run "
            "code); save the bank with ConceptBank.save (.safetensors) or pass its concept "
            "names as a .txt file"
        )
    if suffix not in (".safetensors", ".txt", ".json"):
        raise ValueError(
            f"--concepts: expected a .safetensors bank, a .txt list or a .json class map, "
            f"got {str(path)!r}"
        )
    if path.is_dir():
        raise ValueError(f"--concepts: {str(path)!r} is a folder; expected a concept file")
    if not path.is_file():
        raise ValueError(f"--concepts: file {str(path)!r} does not exist")
    if suffix == ".safetensors":
        return ConceptBank.load(path, backbone=backbone)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"--concepts: {str(path)!r} is not UTF-8 text ({e})") from None
    if suffix == ".txt":
        names = [s.strip() for s in text.splitlines()]
        names = list(dict.fromkeys(s for s in names if s and not s.startswith("#")))
        if not names:
            raise ValueError(f"--concepts: {str(path)!r} lists no concept")
        return from_text(backbone, names)
    try:
        mapping = parse_json(text, unique_keys=True)
    except ValueError as e:  # bad syntax, integers of too many digits, nesting too deep
        raise ValueError(f"--concepts: {str(path)!r} is not valid JSON: {e}") from None
    if not isinstance(mapping, dict) or not all(
        isinstance(v, list) and all(isinstance(s, str) for s in v) for v in mapping.values()
    ):
        raise ValueError(
            f"--concepts: {str(path)!r} must map each class name to a list of concept strings"
        )
    index = {_key(c): i for i, c in enumerate(class_names)}
    unknown = [c for c in mapping if _key(c) not in index]
    if unknown:
        raise ValueError(
            f"--concepts: {str(path)!r} names classes that are not the dataset's: "
            f"{unknown[:5]}; the dataset's are {list(class_names)[:5]}..."
        )
    names: list[str] = []
    rows: dict[str, set[int]] = {}
    for cls, concepts in mapping.items():
        for concept in concepts:
            concept = concept.strip()
            if concept and concept not in rows:
                names.append(concept)
                rows[concept] = set()
            if concept:
                rows[concept].add(index[_key(cls)])
    if not names:
        raise ValueError(f"--concepts: {str(path)!r} lists no concept")
    prior = np.zeros((len(class_names), len(names)), np.float32)
    for j, concept in enumerate(names):
        prior[sorted(rows[concept]), j] = 1.0
    return from_text(backbone, names, class_prior=prior, class_names=list(class_names))


def _llm_concepts(recipe: Recipe, backbone: Any, class_names: Sequence[str], llm_model):
    from bottlekit.concepts import ChatClient, LLMError, generate

    model = llm_model or recipe.concepts.get("llm_model") or os.environ.get("OPENAI_MODEL")
    online = bool(os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_KEY"))
    client = ChatClient(model, offline=not online)
    where = "no endpoint is configured and" if not online else "the endpoint failed and"
    try:
        return generate(
            backbone,
            [_readable(c) for c in class_names],
            client,
            style=recipe.concepts.get("style", "labo"),
            n_per_prompt=recipe.concepts.get("n_per_prompt", 10),
            progress=False,
        )
    except LLMError as e:
        paper = recipe.concepts.get("description")
        paper_model = recipe.concepts.get("llm_model")
        which = (
            f"{model}, the paper's model"
            if model == paper_model
            else f"{model}; {paper_model} in the paper"
        )
        raise ValueError(
            f"recipe {recipe.name}: its concepts come from a language model ({which}), but "
            f"{where} the answers are not all cached under "
            f"{client.cache_dir} ({e}); {_LLM_HELP}"
            + (f"; the paper's own concepts: {paper}" if paper else "")
        ) from None


def _few_shot(labels: np.ndarray, shots: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    keep = [
        rng.choice(np.flatnonzero(labels == c), min(shots, int((labels == c).sum())), False)
        for c in np.unique(labels)
    ]
    return np.sort(np.concatenate(keep))


def _versions() -> dict[str, str]:
    from importlib import metadata

    from bottlekit._version import __version__

    out = {"bottlekit": __version__, "python": platform.python_version()}
    for dist in ("numpy", "torch", "open_clip_torch", "scikit-learn"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:  # pragma: no cover
            out[dist] = "not installed"
    out["platform"] = platform.platform()
    return out


def _worst_group(model, X, ds) -> tuple[float, dict]:
    if ds.spurious_labels is None:
        raise ValueError(
            "metric worst_group_accuracy: the test split has no spurious attribute "
            "(spurious_labels); use a confounded dataset such as waterbirds"
        )
    y = np.asarray(ds.labels)
    s = np.asarray(ds.spurious_labels)
    correct = model.predict(X) == y
    groups = {}
    for c in np.unique(y):
        for a in np.unique(s):
            mask = (y == c) & (s == a)
            if mask.any():
                name = f"{ds.class_names[c]} / {ds.spurious_names[a]}"
                groups[name] = {"n": int(mask.sum()), "accuracy": float(correct[mask].mean())}
    worst = min(g["accuracy"] for g in groups.values())
    return worst, {"groups": groups, "mean_accuracy": float(correct.mean())}


def _location(model, backbone, ds, n_images: int, seed: int, batch: int = 16):
    from bottlekit.diagnostics.location import LocationResult, concept_location
    from bottlekit.visualize.activation_maps import concept_activation_map

    if ds.part_masks is None:
        raise ValueError(
            "metric concept_location: the test split has no part masks; give the loader an "
            "image_size (dataset.options) so that CUB's keypoints become masks"
        )
    names = [c for c in model.concept_names_ if c in set(ds.concept_names or ())]
    if not names:
        raise ValueError("metric concept_location: no concept of the model is annotated")
    rows = np.arange(len(ds))
    if n_images < len(ds):
        rows = np.sort(np.random.default_rng(seed).choice(rows, n_images, replace=False))
    parts = []
    for start in range(0, len(rows), batch):
        sub = ds.subset(rows[start : start + batch])
        maps = concept_activation_map(backbone, sub.image_source.to_array(), model, names)
        parts.append(concept_location(maps, sub, concept_names=names))
    res = LocationResult(
        pointing=np.concatenate([p.pointing for p in parts]),
        energy=np.concatenate([p.energy for p in parts]),
        area=np.concatenate([p.area for p in parts]),
        scored=np.concatenate([p.scored for p in parts]),
        concept_names=names,
    )
    details = {
        "n_images": len(rows),
        "n_pairs": int(res.n_pairs),
        "pointing_accuracy": float(res.pointing_accuracy),
        "mean_energy": float(res.mean_energy),
        "uniform_expectation": float(res.uniform_expectation),
    }
    return float(res.pointing_accuracy), details


def run_recipe(
    recipe: Recipe | str,
    root: str | os.PathLike,
    *,
    backbone: str | None = None,
    pretrained: str | None = None,
    concepts: str | os.PathLike | None = None,
    llm_model: str | None = None,
    overrides: Sequence[str] = (),
    device: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 64,
    progress: bool = False,
) -> dict[str, Any]:
    """Run a recipe end to end and return its JSON record.

    Parameters
    ----------
    recipe : Recipe or str
        A recipe, a shipped recipe's name or a ``.toml`` path (:func:`load_recipe`).
    root : path
        The dataset's folder (as :func:`bottlekit.datasets.load_dataset` takes it).
    backbone, pretrained : str, optional
        Replace the recipe's backbone (then the number is not the paper's setting; the
        record says so). ``backbone`` alone loads that name's default weights.
    concepts : path, optional
        A concept file (:func:`load_concept_file`) instead of the recipe's concept source;
        required when the source is ``"file"``.
    llm_model : str, optional
        The chat model asked for ``"llm"`` concepts (default: the recipe's, which is the
        paper's; the papers' models are shut down, so pass one your endpoint serves).
    overrides : list of str
        ``TABLE.KEY=VALUE`` settings (:func:`apply_overrides`).
    device, cache_dir, batch_size, progress
        Where torch runs, the embedding cache folder, images per batch, progress bars.

    Returns
    -------
    dict
        The record: ``recipe``, ``title``, ``paper`` (citation, table, value,
        value_source, value_verified, ...), ``metric``, ``measured``, ``difference``
        (measured - paper, or None), ``comparable`` (the recipe's own backbone ran, the
        paper's number is for that backbone and there is a number), ``details``,
        ``dataset``, ``backbone``, ``concepts``, ``model``, ``overrides``, ``versions``
        and ``time`` (UTC start and end, seconds).

    Examples
    --------
    >>> record = run_recipe("pcbm-cub", "~/data/CUB_200_2011")  # doctest: +SKIP
    >>> record["measured"], record["paper"]["value"]  # doctest: +SKIP
    (0.57, 0.588)
    """
    from bottlekit.backbones import load_backbone
    from bottlekit.bottleneck import KnowledgeCBM, LabelFreeCBM, LaBo, PosthocCBM
    from bottlekit.cache import embed
    from bottlekit.concepts import from_examples, select
    from bottlekit.datasets import load_dataset

    started, t0 = datetime.now(timezone.utc), time.perf_counter()
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root: expected the dataset's folder, got {root!r}"[:300])
    # checked now, not after the dataset is read
    for arg, value in (
        ("backbone", backbone),
        ("pretrained", pretrained),
        ("llm_model", llm_model),
        ("device", device),
    ):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{arg}: expected a str or None, got {value!r}"[:300])
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir: expected a folder path or None, got {cache_dir!r}"[:300])
    check_bool(progress, "progress")
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    recipe = apply_overrides(recipe, overrides)
    check_number(batch_size, "batch_size", integer=True, low=1)
    classes = {
        "PosthocCBM": PosthocCBM,
        "LaBo": LaBo,
        "LabelFreeCBM": LabelFreeCBM,
        "KnowledgeCBM": KnowledgeCBM,
    }
    params = dict(recipe.model.get("params", {}))
    # the hyper-parameters are checked now, not after the data are embedded
    classes[recipe.model["class"]](None, **params)._check_params()
    source = recipe.concepts["source"]
    if source == "file" and concepts is None:
        raise ValueError(
            f"recipe {recipe.name}: its concepts are not made by bottlekit; pass --concepts "
            f"FILE with {recipe.concepts['description']}"
        )
    ds_cfg, options = recipe.dataset, dict(recipe.dataset.get("options", {}))
    root = Path(root).expanduser()
    train = load_dataset(ds_cfg["name"], root, split=ds_cfg["train_split"], **options)
    test = load_dataset(ds_cfg["name"], root, split=ds_cfg["test_split"], **options)
    seed = ds_cfg.get("seed", 0)
    if "shots" in ds_cfg:
        train = train.subset(_few_shot(np.asarray(train.labels), ds_cfg["shots"], seed))

    if backbone is None:
        name = recipe.backbone["name"]
        tag = pretrained if pretrained is not None else recipe.backbone["pretrained"]
    else:  # another backbone: its own default weights unless --pretrained says otherwise
        name, tag = backbone, pretrained
    bk = load_backbone(name, tag, device=device)

    bank, llm_info = None, {}
    if concepts is not None:
        bank = load_concept_file(concepts, bk, train.class_names)
    elif source == "llm":
        bank = _llm_concepts(recipe, bk, train.class_names, llm_model)
        from bottlekit.concepts.llm import default_cache_dir

        llm_info = {
            "llm_model": llm_model or recipe.concepts.get("llm_model"),
            "llm_cache": str(default_cache_dir()),
        }

    def _embed(ds):
        return embed(bk, ds.image_source, cache_dir=cache_dir, batch_size=batch_size,
                     progress=progress)  # fmt: skip

    X_train, X_test = _embed(train), _embed(test)
    y_train, y_test = np.asarray(train.labels), np.asarray(test.labels)
    if bank is None:  # source "dataset": CAVs from the training split's concept labels
        if train.concept_labels is None:
            raise ValueError(
                f"recipe {recipe.name}: concepts.source = 'dataset' needs per-image concept "
                f"labels, and {ds_cfg['name']} has none; pass --concepts FILE"
            )
        c = recipe.concepts
        binary = (np.asarray(train.concept_labels) > 0.5).astype(np.int8)
        bank = from_examples(
            bk,
            replace(train, concept_labels=binary),
            n_examples=c.get("n_examples"),
            Cs=tuple(float(v) for v in c.get("Cs", (0.001, 0.01, 0.1, 1.0, 10.0))),
            cv=c.get("cv", 3),
            random_state=seed,
            cache_dir=cache_dir,
        )
    n_bank = len(bank.names)
    per_class = recipe.concepts.get("select_per_class")
    if per_class is not None and per_class * len(train.class_names) < n_bank:
        bank = select(
            bank,
            X_train,
            y_train,
            k=per_class * len(train.class_names),
            method=recipe.concepts.get("select_method", "submodular"),
            random_state=seed,
        )

    params.setdefault("device", str(bk.device))
    model = classes[recipe.model["class"]](bank, **params).fit(X_train, y_train)

    metric = recipe.metric["name"]
    details: dict[str, Any] = {}
    if metric == "accuracy":
        measured = float(model.score(X_test, y_test))
    elif metric == "worst_group_accuracy":
        measured, details = _worst_group(model, X_test, test)
    elif metric == "concept_existence":
        from bottlekit.diagnostics.existence import concept_existence

        res = concept_existence(model, X_test, test, top_k=recipe.metric.get("top_k", 5))
        measured = float(res.precision)
        details = {"top_k": recipe.metric.get("top_k", 5), "chance": float(res.chance)}
    else:
        measured, details = _location(model, bk, test, recipe.metric.get("n_images", 500), seed)
    details["test_accuracy"] = float(model.score(X_test, y_test))

    paper_value = recipe.paper_value
    same_backbone = name == recipe.backbone["name"] and tag == recipe.backbone["pretrained"]
    return {
        "recipe": recipe.name,
        "title": recipe.title,
        "recipe_file": str(recipe.path) if recipe.path else None,
        "paper": {
            k: recipe.paper.get(k)
            for k in (
                "citation",
                "table",
                "value",
                "value_source",
                "value_verified",
                "comparable",
                "backbone",
                "note",
            )
        },
        "metric": metric,
        "measured": measured,
        "difference": None if paper_value is None else measured - paper_value,
        "comparable": bool(
            same_backbone and paper_value is not None and recipe.paper.get("comparable", True)
        ),
        "details": details,
        "dataset": {
            "name": ds_cfg["name"],
            "root": str(root),
            "train_split": ds_cfg["train_split"],
            "test_split": ds_cfg["test_split"],
            "options": options,
            "shots": ds_cfg.get("shots"),
            "n_train": len(train),
            "n_test": len(test),
            "n_classes": len(train.class_names),
        },
        "backbone": {
            "name": name,
            "pretrained": tag,
            "id": bk.id,
            "recipe_backbone": f"{recipe.backbone['name']} / {recipe.backbone['pretrained']}",
            "as_in_recipe": bool(same_backbone),
        },
        "concepts": {
            "source": "file" if concepts is not None else source,
            "file": None if concepts is None else str(concepts),
            **(llm_info if concepts is None and source == "llm" else {}),
            "n_candidates": n_bank,
            "n_in_model": len(model.concept_names_),
        },
        "model": {"class": recipe.model["class"], "params": recipe.model.get("params", {})},
        "overrides": list(overrides),
        "versions": _versions(),
        "time": {
            "started": started.isoformat(timespec="seconds"),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - t0, 3),
        },
    }


def format_comparison(record: dict[str, Any]) -> str:
    """The measured value beside the paper's, as printed by ``bottlekit reproduce``.

    Parameters
    ----------
    record : dict
        A record of :func:`run_recipe`.

    Returns
    -------
    str

    Examples
    --------
    >>> rec = {"recipe": "pcbm-cifar10", "title": "PCBM on CIFAR-10", "metric": "accuracy",
    ...        "measured": 0.7712, "difference": -0.0058, "comparable": True,
    ...        "paper": {"value": 0.777, "table": "Table 1, CIFAR-10, PCBM"},
    ...        "dataset": {"name": "cifar10", "test_split": "test", "n_test": 10000},
    ...        "backbone": {"name": "RN50", "pretrained": "openai", "as_in_recipe": True}}
    >>> print(format_comparison(rec))
    pcbm-cifar10: PCBM on CIFAR-10
      metric      accuracy on cifar10/test (10000 images), backbone RN50 / openai
      measured    0.7712
      paper       0.7770  (Table 1, CIFAR-10, PCBM)
      difference  -0.0058

    A number nobody checked against its source, measured on a backbone the recipe
    cannot run:

    >>> rec["paper"].update(value_verified=False, comparable=False, backbone="ResNet-18")
    >>> print(format_comparison(rec).splitlines()[3:])  # doctest: +NORMALIZE_WHITESPACE
    ['  paper       0.7770  (Table 1, CIFAR-10, PCBM)  [unverified: see value_source]',
     '  difference  -0.0058',
     "  note        the paper's number is for another backbone (ResNet-18): not comparable"]
    """
    paper, ds, bk = _record_parts(record)
    lines = [
        f"{record['recipe']}: {record['title']}",
        f"  metric      {record['metric']} on {ds['name']}/{ds['test_split']} "
        f"({ds['n_test']} images), backbone {bk['name']} / {bk['pretrained']}",
        f"  measured    {_number(record['measured'], '.4f')}",
    ]
    if paper.get("value") is None:
        lines.append(f"  paper       none recorded ({paper.get('table')})")
    else:
        unverified = (
            "  [unverified: see value_source]" if paper.get("value_verified") is False else ""
        )
        value = _number(paper["value"], ".4f")
        lines.append(f"  paper       {value}  ({paper.get('table')}){unverified}")
        lines.append(f"  difference  {_number(record.get('difference'), '+.4f')}")
        if paper.get("comparable") is False:
            lines.append(
                f"  note        the paper's number is for another backbone "
                f"({paper.get('backbone')}): not comparable"
            )
    if not bk.get("as_in_recipe", True):
        lines.append(
            "  note        the backbone is not the recipe's: the measured value is not "
            "comparable to the paper's"
        )
    return "\n".join(lines)


_RECORD_KEYS = ("recipe", "title", "metric", "measured", "paper", "dataset", "backbone")


def _record_parts(record: Any) -> tuple[dict, dict, dict]:
    """The ``paper``, ``dataset`` and ``backbone`` tables of a record, checked by name
    (a record may be one read back from a file)."""
    if not isinstance(record, dict):
        raise TypeError(
            f"record: expected a dict (a run_recipe record), got {type(record).__name__}"
        )
    missing = [k for k in _RECORD_KEYS if k not in record]
    if missing:
        raise ValueError(
            f"record: expected the keys {list(_RECORD_KEYS)} of a run_recipe record, "
            f"missing {missing}"
        )
    parts = []
    for key, needed in (
        ("paper", ()),
        ("dataset", ("name", "test_split", "n_test")),
        ("backbone", ("name", "pretrained")),
    ):
        table = record[key]
        if not isinstance(table, dict) or any(k not in table for k in needed):
            raise ValueError(
                f"record: {key!r} must be a dict with the keys {list(needed)}, got {table!r}"[:300]
            )
        parts.append(table)
    return parts[0], parts[1], parts[2]


def _number(value: Any, spec: str) -> str:
    """A measured or paper value as printed; ``null`` in a record read back (a NaN
    written by :func:`write_record`) is "not measured"."""
    if value is None:
        return "none (not measured)"
    if not is_number(value):
        raise TypeError(f"record: expected a number or null, got {value!r}"[:200])
    return format(value, spec)


def write_record(record: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write a record as indented JSON, atomically (:func:`bottlekit.atomic.atomic_write_text`).

    NaN and infinite numbers (a metric that could not be measured) are written as ``null``,
    so the file is standard JSON that any reader accepts; numpy numbers and arrays are
    written as numbers and lists (:func:`bottlekit.safetensors_file.dump_json`).

    Parameters
    ----------
    record : dict
    path : path

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "r.json"
    >>> write_record({"recipe": "x", "measured": 0.5}, path).name
    'r.json'
    >>> json.loads(path.read_text())["measured"]
    0.5
    >>> json.loads(write_record({"measured": float("nan")}, path).read_text())
    {'measured': None}
    """
    from bottlekit.atomic import atomic_write_text, check_output_path

    if not isinstance(record, dict):
        raise TypeError(f"record: expected a dict, got {type(record).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected the path of a .json file, got {path!r}"[:200])
    path = check_output_path(path, "path", is_file=True)
    text = dump_json(record, name="record", indent=2)  # before the file is touched
    atomic_write_text(path, text + "\n")
    return path
