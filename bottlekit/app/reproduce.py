"""``bottlekit reproduce``: run a paper recipe and compare with the paper's number.

:func:`run_recipe` loads the recipe's dataset splits, the backbone, the concepts (CAVs
from the dataset's labels, an LLM's cached answers, or a file), fits the bottleneck with
the recipe's hyper-parameters, measures the metric on the test split and returns a JSON
record; :func:`format_comparison` prints the measured value beside the paper's, and
:func:`write_record` writes the record atomically.

The parts, re-exported here: the ``--set`` overrides (``_recipe_overrides.py``), concept
files and a language model's concepts (``_recipe_concepts.py``), the worst-group and
location metrics (``_recipe_metrics.py``), and the record's printing and writing
(``_recipe_record.py``); this module runs a recipe (:func:`run_recipe`).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from bottlekit._backbone_weights import check_model_name
from bottlekit._checks import check_bool, check_number
from bottlekit.app._recipe_concepts import _llm_concepts, check_concept_path, load_concept_file
from bottlekit.app._recipe_metrics import _location, _worst_group
from bottlekit.app._recipe_overrides import apply_overrides, check_overrides_with_concept_file
from bottlekit.app._recipe_record import format_comparison, write_record
from bottlekit.app.recipe import Recipe, load_recipe

__all__ = [
    "apply_overrides",
    "format_comparison",
    "load_concept_file",
    "run_recipe",
    "write_record",
]


def _few_shot(labels: np.ndarray, shots: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    keep = [
        rng.choice(np.flatnonzero(labels == c), min(shots, int((labels == c).sum())), False)
        for c in np.unique(labels)
    ]
    return np.sort(np.concatenate(keep))


def _on_train_classes(test: Any, train: Any, ds_cfg: dict[str, Any]) -> Any:
    """The test split with labels indexing the training split's classes.

    A folder dataset numbers each split's own sorted class folders, so a test split with a
    subset of the classes (an ImageNet ``val/`` of some class folders) labelled class
    ``k`` of its own list as class ``k`` of the training split's, and the measured
    accuracy was silently wrong; its labels are mapped by class name. A test class the
    training split lacks is refused: the model cannot predict it.
    """
    if train.class_names is None or test.class_names is None or test.labels is None:
        return test
    train_names, test_names = list(train.class_names), list(test.class_names)
    if test_names == train_names:
        return test
    index = {c: i for i, c in enumerate(train_names)}
    unknown = [c for c in test_names if c not in index]
    if unknown:
        from bottlekit.datasets import DatasetFormatError

        raise DatasetFormatError(
            f"dataset: the test split {ds_cfg['test_split']!r} has {len(unknown)} class(es) "
            f"that the training split {ds_cfg['train_split']!r} lacks, first {unknown[0]!r}; "
            "expected the test classes among the training classes (the same class folders "
            "in both, or fewer in the test split)"
        )
    mapping = np.array([index[c] for c in test_names], dtype=np.int64)
    return replace(test, labels=mapping[np.asarray(test.labels)], class_names=train_names)


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


def _as_recipe_param_error(error: Exception, params: dict[str, Any]) -> Exception | None:
    """``error`` named as the recipe names its parameter (``model.params.NAME: ...``) when
    its message starts with ``NAME`` (then ``:`` or a space), a key of ``params``; else None.

    A bottleneck class names its errors by its own argument names (``batch_size: ...``,
    ``device: ...``), which the command line would read as its own ``--batch-size`` or
    ``--device``. Only plain ``ValueError`` / ``TypeError`` are renamed (a subclass may not
    take a single message).

    Parameters
    ----------
    error : Exception
    params : dict
        The recipe's ``model.params`` (not a default the command filled in).

    Returns
    -------
    Exception or None
    """
    if type(error) not in (ValueError, TypeError):
        return None
    message = str(error)
    first = message.split(":", 1)[0].split(" ", 1)[0]
    if first not in params:
        return None
    return type(error)(f"model.params.{message}")


def _check_model_params(cls: type, params: dict[str, Any]) -> None:
    """``cls(None, **params)._check_params()``, and a ``device`` in ``params`` resolved, their
    error about one of ``params`` named as the recipe names it: ``model.params.batch_size:
    ...``, not the class's ``batch_size: ...``, which the command line would read as its own
    ``--batch-size`` (:func:`_as_recipe_param_error`).

    The classes resolve their ``device`` only in ``fit``: checked here, a device that does
    not exist is named before the data are read and embedded.

    Parameters
    ----------
    cls : type
        The recipe's bottleneck class.
    params : dict
        The recipe's ``model.params``.
    """
    from bottlekit.devices import resolve_device

    try:
        cls(None, **params)._check_params()
        if params.get("device") is not None:
            resolve_device(params["device"])
    except (ValueError, TypeError) as e:
        renamed = _as_recipe_param_error(e, params)
        if renamed is None:
            raise
        raise renamed from e


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
        paper's; the papers' models are shut down, so pass one your endpoint serves). Only
        for a recipe of ``"llm"`` concepts, without ``concepts``.
    overrides : list of str
        ``TABLE.KEY=VALUE`` settings (:func:`apply_overrides`). With ``concepts``, a
        setting of the recipe's own concept source (``concepts.cv``, ``concepts.style``,
        ...) is refused: the file replaces that source.
    device : str, optional
        Where torch runs (default: CUDA when available, else the CPU).
    cache_dir : path, optional
        The embedding cache folder (default: bottlekit's).
    batch_size : int, default 64
        Images per batch when embedding.
    progress : bool, default False
        Progress bars.

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
    from bottlekit.devices import resolve_device

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
    if cache_dir is not None and not os.fspath(cache_dir):  # (Path("") is the working folder)
        raise ValueError("cache_dir: got an empty path; expected a folder (or None)")
    check_bool(progress, "progress")
    if concepts is not None:
        check_concept_path(concepts)
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    recipe = apply_overrides(recipe, overrides)
    if concepts is not None:  # (after apply_overrides, which refuses malformed settings)
        check_overrides_with_concept_file(overrides)
    check_number(batch_size, "batch_size", integer=True, low=1)
    classes = {
        "PosthocCBM": PosthocCBM,
        "LaBo": LaBo,
        "LabelFreeCBM": LabelFreeCBM,
        "KnowledgeCBM": KnowledgeCBM,
    }
    params = dict(recipe.model.get("params", {}))
    # the hyper-parameters are checked now, not after the data are embedded
    _check_model_params(classes[recipe.model["class"]], params)
    source = recipe.concepts["source"]
    if llm_model is not None and concepts is not None:
        raise ValueError(
            "llm_model: does nothing with a concept file (--concepts replaces the recipe's "
            "concept source)"
        )
    if llm_model is not None and source != "llm":
        raise ValueError(
            "llm_model: only applies to a recipe whose concepts come from a language model "
            f"(concepts.source = 'llm'); {recipe.name}'s source is {source!r}"
        )
    if source == "file" and concepts is None:
        raise ValueError(
            f"recipe {recipe.name}: its concepts are not made by bottlekit; pass --concepts "
            f"FILE with {recipe.concepts['description']}"
        )
    if backbone is None:
        name = recipe.backbone["name"]
        tag = pretrained if pretrained is not None else recipe.backbone["pretrained"]
    else:  # another backbone: its own default weights unless --pretrained says otherwise
        name, tag = backbone, pretrained
    # a device or backbone name that does not exist is named now, not after the dataset
    # is read (listing ImageNet's folders takes minutes)
    resolve_device(device)
    # named as given: the backbone argument (--backbone), else the recipe's backbone.name
    # (a recipe file or --set backbone.name can name an unknown one too)
    check_model_name(name, "backbone" if backbone is not None else "backbone.name")
    ds_cfg, options = recipe.dataset, dict(recipe.dataset.get("options", {}))
    root = Path(root).expanduser()
    train = load_dataset(ds_cfg["name"], root, split=ds_cfg["train_split"], **options)
    test = load_dataset(ds_cfg["name"], root, split=ds_cfg["test_split"], **options)
    test = _on_train_classes(test, train, ds_cfg)
    seed = ds_cfg.get("seed", 0)
    if "shots" in ds_cfg:
        train = train.subset(_few_shot(np.asarray(train.labels), ds_cfg["shots"], seed))

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

    recipe_params = dict(params)
    params.setdefault("device", str(bk.device))
    try:
        model = classes[recipe.model["class"]](bank, **params).fit(X_train, y_train)
    except (ValueError, TypeError) as e:
        # an error fit raises about a parameter the recipe set is named as the recipe names
        # it (a device the command filled in is the backbone's, from --device: left as it is)
        renamed = _as_recipe_param_error(e, recipe_params)
        if renamed is None:
            raise
        raise renamed from e

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
