"""Concept-bottleneck models on the built-in world: the measurements behind the demo and README.

One place computes what the demo prints and what ``benchmarks/cbm_world.py`` reports:

* :func:`load_world_data` -- train/test/shifted (and val) splits and their embeddings by
  ``world-tiny`` or another backbone;
* :func:`tune_probe_C` -- the linear probe's ``C`` chosen on a validation split;
* :func:`build_banks` -- text, CAV and knowledge-retrieved concept banks, with the world's
  class-concept prior (true attributes, ``P(concept | species) >= 0.5``) attached;
* :func:`fit_models` -- a linear probe on raw embeddings and each bottleneck model on
  each bank, with test / shifted accuracy, non-zero weights and fit time;
* :func:`edit_by_pruning` -- the Post-hoc CBM model edit: prune the scene (background)
  concepts that :meth:`global_importance` ranks among the model's most used, and report
  accuracy before and after on both splits;
* :func:`intervention_curve` -- accuracy after setting 0..k concepts (in order of global
  importance) to their ground-truth values;
* :func:`explanation_precision` -- how many of the top concepts of correct predictions are
  true attributes of the species (and present in the image).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from bottlekit._checks import check_bool, check_choice, check_number, shown_value
from bottlekit.concepts.bank import ConceptBank

if TYPE_CHECKING:
    from bottlekit.world.dataset import World

__all__ = [
    "ModelResult",
    "WorldData",
    "build_banks",
    "edit_by_pruning",
    "explanation_precision",
    "fit_models",
    "intervention_curve",
    "load_world_data",
    "model_specs",
    "tune_probe_C",
]

TRUE_ATTRIBUTE_THRESHOLD = 0.5
"""A concept is a true attribute of a species when ``P(concept | species) >= 0.5``."""
EVAL_SPLITS = ("test", "shifted")


@dataclass
class WorldData:
    """World splits, their embeddings and labels, and the backbone that made them.

    Parameters
    ----------
    backbone : Backbone
        The backbone that embedded the images.
    worlds : dict of str to World
        The splits (``train``, ``test``, ``shifted``, optionally ``val``).
    X : dict of str to ndarray
        Each split's embeddings.
    y : dict of str to ndarray
        Each split's species labels.
    """

    backbone: Any
    worlds: dict[str, Any]
    X: dict[str, np.ndarray]
    y: dict[str, np.ndarray]

    @property
    def train(self) -> World:
        return self.worlds["train"]

    @property
    def concept_names(self) -> list[str]:
        return list(self.train.concept_names)

    @property
    def class_names(self) -> list[str]:
        return list(self.train.class_names)

    def true_attributes(self) -> np.ndarray:
        """(n_classes, k) 0/1: the species' true attributes in the training world.

        Returns
        -------
        ndarray of float32, shape (n_classes, k)
            1 where the class-concept matrix is at least 0.5.
        """
        return (self.train.class_concept_matrix >= TRUE_ATTRIBUTE_THRESHOLD).astype(np.float32)

    def scene_concepts(self) -> list[str]:
        """Concepts of the ``background`` part: what a bird classifier should not need.

        Returns
        -------
        list of str
            The scene concepts' names.
        """
        part = self.train.part_names.index("background")
        return [
            c
            for c, p in zip(self.concept_names, self.train.part_of_concept, strict=True)
            if p == part
        ]


@dataclass
class ModelResult:
    """One fitted model and its figures.

    Parameters
    ----------
    name : str
        The model's name in the study (``"PCBM"``, ``"LaBo"``, ...).
    bank : str
        The concept bank it was fitted on (``"raw"`` for the probe).
    model : estimator
        The fitted model.
    accuracy : dict of str to float
        Accuracy on each evaluation split.
    nonzero : int or None
        Non-zero weights of its head, where it has one.
    n_concepts : int or None
        Concepts of its bottleneck (None for the probe).
    fit_seconds : float
        Wall time of the fit.
    notes : dict, default {}
        Anything else the study recorded.
    """

    name: str
    bank: str
    model: Any
    accuracy: dict[str, float]
    nonzero: int | None
    n_concepts: int | None
    fit_seconds: float
    notes: dict[str, Any] = field(default_factory=dict)


def load_world_data(
    backbone: Any = "world-tiny",
    n_train: int = 2400,
    n_test: int = 2400,
    seed: int = 0,
    progress: bool = False,
    *,
    pretrained: str | os.PathLike | None = None,
    n_val: int = 0,
) -> WorldData:
    """Make the train, test and shifted worlds and embed them (through the cache).

    Parameters
    ----------
    backbone : str or Backbone, default "world-tiny"
        The backbone that embeds the images (a name is loaded with
        :func:`~bottlekit.backbones.load_backbone`).
    n_train, n_test : int
        Images in the training split and in each evaluation split.
    seed : int
        World seed.
    progress : bool
        Progress bars while embedding.
    pretrained : str, PathLike or None, default None
        Weights for a ``backbone`` given by name, passed to
        :func:`~bottlekit.backbones.load_backbone` (``None``: the shipped weights, e.g.
        world-tiny's; a path: a local checkpoint such as a world-small training run's).
        Only with a name: a :class:`~bottlekit.backbones.Backbone` has its weights.
    n_val : int, default 0
        Images in a ``val`` split (drawn from the training distribution, for choosing
        hyper-parameters); 0 draws none.

    Returns
    -------
    WorldData
        The splits, their embeddings and labels.

    Examples
    --------
    >>> data = load_world_data(n_train=48, n_test=24, n_val=24, seed=5)
    >>> sorted(data.X), data.X["val"].shape
    (['shifted', 'test', 'train', 'val'], (24, 64))
    """
    from bottlekit.backbones import Backbone, load_backbone
    from bottlekit.cache import embed
    from bottlekit.world import make_world

    check_number(n_train, "n_train", integer=True, low=1)
    check_number(n_test, "n_test", integer=True, low=1)
    check_number(n_val, "n_val", integer=True, low=0)
    check_number(seed, "seed", integer=True, low=0)
    check_bool(progress, "progress")
    if not isinstance(backbone, (str, Backbone)):
        raise TypeError(
            f"backbone: expected a model name or a loaded Backbone, got {backbone!r}"[:300]
        )
    if isinstance(backbone, str):
        bk = load_backbone(backbone, pretrained)
    elif pretrained is not None:
        raise TypeError(
            f"pretrained: expected None when backbone is a loaded Backbone, got {pretrained!r}"
            " (pass the model name instead)"
        )
    else:
        bk = backbone
    sizes = {"train": n_train, "test": n_test, "shifted": n_test}
    if n_val:
        sizes["val"] = n_val
    worlds = {s: make_world(n, s, seed, return_masks=False) for s, n in sizes.items()}
    X = {s: embed(bk, w.images, progress=progress) for s, w in worlds.items()}
    return WorldData(bk, worlds, X, {s: w.labels for s, w in worlds.items()})


#: Inverse regularisation strengths :func:`tune_probe_C` searches (as the world's evaluation).
PROBE_C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)


def tune_probe_C(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    grid: Sequence[float] = PROBE_C_GRID,
) -> float:
    """The ``C`` of ``grid`` whose logistic-regression probe is most accurate on validation data.

    Ties go to the first value of ``grid`` (for the default, ascending grid: the strongest
    regularisation).

    Parameters
    ----------
    X_train, y_train : array-like
        Training embeddings and labels.
    X_val, y_val : array-like
        Validation embeddings and labels, from the training distribution (never the test
        or shifted split).
    grid : sequence of float, default PROBE_C_GRID
        The values of ``C`` tried.

    Returns
    -------
    float
        The ``C`` of the best validation accuracy (the first of ties in ``grid``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5)); y = (X[:, 0] > 0).astype(int)
    >>> tune_probe_C(X[:100], y[:100], X[100:], y[100:], grid=(1e-4, 1.0))
    1.0
    """
    from sklearn.linear_model import LogisticRegression

    if isinstance(grid, (str, bytes)) or not isinstance(grid, Sequence | np.ndarray):
        raise TypeError(f"grid: expected a sequence of numbers > 0, got {grid!r}"[:300])
    if len(grid) == 0:
        raise ValueError("grid: expected at least one value of C, got an empty sequence")
    grid = [check_number(c, f"grid[{i}]", low=0, low_open=True) for i, c in enumerate(grid)]
    scores = [
        LogisticRegression(C=c, max_iter=3000).fit(X_train, y_train).score(X_val, y_val)
        for c in grid
    ]
    return float(grid[int(np.argmax(scores))])


def _with_prior(bank: ConceptBank, data: WorldData) -> ConceptBank:
    """``bank`` with the world's true-attribute prior for the concepts it shares with it."""
    names = data.concept_names
    prior = np.zeros((len(data.class_names), len(bank)), dtype=np.float32)
    truth = data.true_attributes()
    for j, name in enumerate(bank.names):
        if name in names:
            prior[:, j] = truth[:, names.index(name)]
    return ConceptBank(
        bank.names,
        bank.vectors,
        bank.backbone_id,
        intercepts=bank.intercepts,
        provenance=bank.provenance,
        class_prior=prior,
        class_names=data.class_names,
    )


def build_banks(
    data: WorldData,
    kinds: Sequence[str] = ("text", "cav", "retrieved"),
    seed: int = 0,
    progress: bool = False,
) -> dict[str, ConceptBank]:
    """Concept banks on the world's 31 concepts, each with a class-concept prior.

    ``text``: :func:`~bottlekit.concepts.from_text` of the concept names with the world's
    evaluation prompts, prior = true attributes. ``cav``: PCBM concept activation vectors
    (:func:`~bottlekit.concepts.from_examples`, 50 positives + 50 negatives per concept
    from the training split), same prior. ``retrieved``: concepts retrieved from the
    world's field guide (:func:`~bottlekit.concepts.retrieve`, offline extractive), whose
    prior is what the corpus says about each species (not the ground truth).

    Parameters
    ----------
    data : WorldData
        The world's splits and embeddings.
    kinds : sequence of {"text", "cav", "retrieved"}
        The banks to build.
    seed : int, default 0
        Seeds the CAVs' example draw.
    progress : bool, default False
        Progress bars.

    Returns
    -------
    dict of str to ConceptBank
        The banks by kind.
    """
    from bottlekit.concepts import from_examples, from_text, retrieve
    from bottlekit.world.evaluate import CONCEPT_TEMPLATES

    kinds = _names(kinds, "kinds", ("text", "cav", "retrieved"))

    banks: dict[str, ConceptBank] = {}
    train = data.train
    for kind in kinds:
        if kind == "text":
            banks[kind] = _with_prior(
                from_text(data.backbone, data.concept_names, CONCEPT_TEMPLATES), data
            )
        elif kind == "cav":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # chance-level CAVs are kept and flagged
                cav = from_examples(
                    data.backbone.id,
                    data.X["train"],
                    train.concept_labels,
                    data.concept_names,
                    random_state=seed,
                )
            banks[kind] = _with_prior(cav, data)
        elif kind == "retrieved":
            banks[kind] = retrieve(
                data.backbone,
                data.class_names,
                train.corpus,
                templates=CONCEPT_TEMPLATES,
                progress=progress,
            )
    return banks


def model_specs(seed: int = 0) -> dict[str, tuple[Callable[[ConceptBank], Any], dict]]:
    """The models of the study: name -> (factory taking a bank, extra fit arguments).

    ``KnoBo`` grounds its concepts with the world's concept labels when the bank's
    concepts are world concepts (see :func:`fit_models`); ``KnoBo-pseudo`` always grounds
    them with pseudo-labels from CLIP similarity.

    Parameters
    ----------
    seed : int, default 0
        The models' ``random_state``.

    Returns
    -------
    dict of str to (callable, dict)
        Per model name, a factory that builds the unfitted model for a bank, and the
        extra keyword arguments of its ``fit``.
    """
    import bottlekit.bottleneck as bn

    def make(cls_name: str, **kw: Any) -> Callable[[ConceptBank], Any]:
        return lambda bank: getattr(bn, cls_name)(bank, random_state=seed, **kw)

    return {
        "PCBM": (make("PosthocCBM", lam=PCBM_LAM), {}),
        "PCBM-h": (make("PosthocCBM", lam=PCBM_LAM, residual=True), {}),
        "LaBo": (make("LaBo"), {}),
        "LF-CBM": (make("LabelFreeCBM"), {}),
        "KnoBo": (make("KnowledgeCBM"), {"concept_labels": True}),
        "KnoBo-pseudo": (make("KnowledgeCBM"), {}),
    }


#: Elastic-net strength of PCBM on the world (the reference's default is 1e-5; see README).
PCBM_LAM = 1e-5


def _score(model: Any, data: WorldData) -> dict[str, float]:
    return {s: float(np.mean(model.predict(data.X[s]) == data.y[s])) for s in EVAL_SPLITS}


def fit_models(
    data: WorldData,
    banks: dict[str, ConceptBank],
    models: Sequence[str] | None = None,
    plan: dict[str, Sequence[str]] | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
    probe_C: float = 10.0,
) -> list[ModelResult]:
    """Fit the linear probe and every (model, bank) pair of ``plan``.

    Parameters
    ----------
    data : WorldData
        The world's splits and embeddings.
    banks : dict of str to ConceptBank
        The banks the models are fitted on, by name.
    models : list of str, optional
        Subset of :func:`model_specs` names (default all).
    plan : dict model name -> bank names, optional
        Which banks each model is fitted on (default every bank).
    seed : int
        The models' ``random_state``.
    log : callable, optional
        Called with a line of progress after each fit.
    probe_C : float, default 10.0
        Inverse regularisation strength of the linear probe (e.g. one chosen on a
        validation split with :func:`tune_probe_C`).

    Returns
    -------
    list of ModelResult
        The probe first (``bank="raw"``).
    """
    from sklearn.linear_model import LogisticRegression

    say = log or (lambda line: None)
    probe_C = check_number(probe_C, "probe_C", low=0, low_open=True)
    specs = model_specs(seed)
    models = list(specs) if models is None else _names(models, "models", tuple(specs))
    if plan is not None:
        if not isinstance(plan, dict):
            raise TypeError(f"plan: expected a dict of model name -> bank names, got {plan!r}")
        _names(list(plan), "plan", tuple(specs))
        for name, names in plan.items():
            _names(names, f"plan[{name!r}]", tuple(banks))
    t0 = time.perf_counter()
    probe = LogisticRegression(C=probe_C, max_iter=3000).fit(data.X["train"], data.y["train"])
    results = [
        ModelResult(
            "linear probe",
            "raw",
            probe,
            _score(probe, data),
            int(np.count_nonzero(probe.coef_)),
            None,
            time.perf_counter() - t0,
        )
    ]
    say(_line(results[-1]))
    for name in models:
        factory, fit_kw = specs[name]
        for bank_name in (plan or {}).get(name, list(banks)):
            bank = banks[bank_name]
            kw = {}
            if fit_kw.get("concept_labels") and set(bank.names) <= set(data.concept_names):
                idx = [data.concept_names.index(c) for c in bank.names]
                kw["concept_labels"] = data.train.concept_labels[:, idx]
            t0 = time.perf_counter()
            model = factory(bank).fit(data.X["train"], data.y["train"], **kw)
            res = ModelResult(
                name,
                bank_name,
                model,
                _score(model, data),
                int(np.count_nonzero(model.coef_)),
                len(model.concept_names_),
                time.perf_counter() - t0,
                {"grounding": "concept labels" if kw else None},
            )
            results.append(res)
            say(_line(res))
    return results


def _names(values: Any, arg: str, known: Sequence[str]) -> list[str]:
    """``values`` as a list of names, each one of ``known`` (a str is one name, not a
    list of letters: refused)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{arg}: expected a list of names, got {shown_value(values)}")
    unknown = [v for v in values if not isinstance(v, str) or v not in known]
    if unknown:
        raise ValueError(f"{arg}: unknown name(s) {unknown}; expected some of {list(known)}")
    return list(values)


def _check_split(data: WorldData, split: Any) -> str:
    return check_choice(split, sorted(data.worlds), "split")


def _line(r: ModelResult) -> str:
    acc = "  ".join(f"{s} {r.accuracy[s]:.3f}" for s in EVAL_SPLITS)
    return f"{r.name:<13}{r.bank:<10}{acc}  non-zero {r.nonzero}  ({r.fit_seconds:.1f} s)"


def edit_by_pruning(model: Any, data: WorldData, top: int = 10) -> dict[str, Any]:
    """Prune the scene concepts among the model's ``top`` most important concepts.

    The scene concepts are found from the model, not hard-coded: the concepts are ranked
    by :meth:`global_importance`; those of the ``background`` part among the first
    ``top`` are pruned (Post-hoc CBM's global edit, with no data from the shifted world).

    Parameters
    ----------
    model : fitted concept-bottleneck model
        The model to edit (unchanged; the pruned copy is returned).
    data : WorldData
        The splits the accuracies are measured on.
    top : int, default 10
        How many of the most important concepts are looked at.

    Returns
    -------
    dict
        ``pruned`` (names), ``ranking`` (top names), ``before`` / ``after`` accuracy on the
        test and shifted splits (``after``: ``prune(fill="mean")``; ``after_zero``: the
        paper's ``fill="zero"``), and the pruned model under ``model``.
    """
    top = check_number(top, "top", integer=True, low=1)
    imp = model.global_importance()
    order = np.argsort(-imp)[:top]
    ranking = [model.concept_names_[j] for j in order]
    scene = set(data.scene_concepts())
    pruned_names = [c for c in ranking if c in scene]
    edited = model.prune(pruned_names) if pruned_names else model
    zeroed = model.prune(pruned_names, fill="zero") if pruned_names else model
    return {
        "ranking": ranking,
        "pruned": pruned_names,
        "before": _score(model, data),
        "after": _score(edited, data),
        "after_zero": _score(zeroed, data),
        "model": edited,
    }


def intervention_curve(
    model: Any,
    data: WorldData,
    split: str = "test",
    steps: Sequence[int] | None = None,
    protocol: str = "corrections",
) -> list[tuple[int, float]]:
    """Accuracy after intervening on the first k concepts by global importance.

    Intervention values are the concept's mean training activation over images where it
    is drawn (for a true 1) or not drawn (for a true 0), measured with the training
    split's concept labels. With ``protocol="corrections"`` only the concepts the model
    got wrong are replaced -- those on the wrong side of the midpoint between the two
    means, as an expert would correct a prediction; ``"all"`` replaces every one of the
    k concepts in every image.

    Parameters
    ----------
    model : fitted concept-bottleneck model
        The model intervened on.
    data : WorldData
        The world's splits (the training split gives the intervention values).
    split : str, default "test"
        The split whose accuracy is measured.
    steps : sequence of int, optional
        The numbers k of concepts intervened on (default 0, 1, 2, 4, 8, 16 and all).
    protocol : {"corrections", "all"}, default "corrections"
        Which concepts of the first k are replaced.

    Returns
    -------
    list of (k, accuracy)
        The accuracy after intervening on each number of concepts.
    """
    protocol = check_choice(
        protocol, ("corrections", "all"), "protocol", expected="'corrections' or 'all'"
    )
    _check_split(data, split)
    if steps is not None:
        if isinstance(steps, (str, bytes)) or not isinstance(steps, Sequence | np.ndarray):
            raise TypeError(f"steps: expected a list of ints >= 0, got {steps!r}"[:300])
        steps = [check_number(k, f"steps[{i}]", integer=True, low=0) for i, k in enumerate(steps)]
    names = data.concept_names
    cols = [j for j, c in enumerate(model.concept_names_) if c in names]
    world_cols = [names.index(model.concept_names_[j]) for j in cols]
    A_train = model.transform(data.X["train"])[:, cols]
    L_train = data.train.concept_labels[:, world_cols] == 1
    mean_on = np.array([A_train[L_train[:, i], i].mean() for i in range(len(cols))])
    mean_off = np.array([A_train[~L_train[:, i], i].mean() for i in range(len(cols))])
    midpoint, sign = (mean_on + mean_off) / 2, np.sign(mean_on - mean_off)

    world = data.worlds[split]
    X, y = data.X[split], data.y[split]
    A = model.transform(X)
    truth = world.concept_labels[:, world_cols] == 1
    wrong = (sign * (A[:, cols] - midpoint) > 0) != truth
    target = np.where(truth, mean_on, mean_off)
    imp = model.global_importance()[cols]
    order = np.argsort(-imp, kind="stable")
    steps = steps or sorted({0, 1, 2, 4, 8, 16, len(cols)})
    out = []
    for k in steps:
        V = np.full(A.shape, np.nan)
        for i in order[: min(k, len(cols))]:
            values = (
                target[:, i] if protocol == "all" else np.where(wrong[:, i], target[:, i], np.nan)
            )
            V[:, cols[i]] = values
        out.append((int(k), float(np.mean(model.intervene(X, V, scale="raw") == y))))
    return out


def explanation_precision(
    model: Any, data: WorldData, split: str = "test", top_k: int = 3
) -> dict[str, float]:
    """Precision of the top-k concepts of correctly classified images.

    ``class``: fraction of the top concepts (by contribution) that are true attributes of
    the image's species (class-concept matrix >= 0.5); ``image``: fraction drawn in the
    image itself; ``positive``: fraction with a positive contribution. Concepts outside the
    world's vocabulary count as wrong.

    Parameters
    ----------
    model : fitted concept-bottleneck model
        The model explained.
    data : WorldData
        The world's splits.
    split : str, default "test"
        The split whose images are explained.
    top_k : int, default 3
        Concepts per explanation.

    Returns
    -------
    dict
        ``class``, ``image`` and ``positive`` precision, each in [0, 1].
    """
    _check_split(data, split)
    X, y = data.X[split], data.y[split]
    world = data.worlds[split]
    correct = np.flatnonzero(model.predict(X) == y)
    e = model.explain(X[correct], top_k=top_k)
    truth = data.true_attributes()
    names = data.concept_names
    col = np.array([names.index(c) if c in names else -1 for c in e.concept_names])
    top = e.top_indices
    cols = col[top]
    valid = cols >= 0
    species = y[correct][:, None]
    in_class = valid & (truth[species, np.where(valid, cols, 0)] > 0)
    in_image = valid & (world.concept_labels[correct[:, None], np.where(valid, cols, 0)] > 0)
    positive = np.take_along_axis(e.contributions, top, axis=1) > 0
    return {
        "class": float(in_class.mean()),
        "image": float(in_image.mean()),
        "positive": float(positive.mean()),
        "n_images": len(correct),
        "top_k": top_k,
    }
