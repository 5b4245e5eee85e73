r"""``audit``: what does a trained image classifier rely on, in terms of concepts?

One call takes a model someone else trained (any torch image classifier, or a fitted
bottlekit concept-bottleneck model with the backbone that embeds its images), images with
their labels, and concepts, and answers with tables and a self-contained HTML report:

1. **features** :math:`F \in \mathbb{R}^{n\times d}`: the model's penultimate features (the
   input of its last ``nn.Linear``, or a layer / callable you name) or its logits
   (``space="logits"``); for a CBM, the backbone's embeddings.
2. **concept bank** in that space: CAVs fitted on the model's own features from concept
   labels (:func:`bottlekit.concepts.from_examples`, Post-hoc CBM style), or a given
   :class:`~bottlekit.concepts.ConceptBank`.
3. **surrogate**: a :class:`~bottlekit.bottleneck.PosthocCBM` fitted on a *fit* part of the
   images to the model's **predictions** :math:`\hat y = \arg\max_c f_c(x)` (not to the
   labels), so it explains the model, not the task. *Fidelity* is its agreement with the
   model on the held-out *evaluation* part; the accuracies of both against the labels are
   reported next to it. A CBM audited on its own concepts is its own surrogate (fidelity 1).
4. **global importance** :math:`I_{cj} = w_{cj} s_j` of the surrogate's head
   (:meth:`~bottlekit.bottleneck.BaseConceptBottleneck.global_importance`).
5. **existence** (where concept labels exist): are an image's top-:math:`k` concepts,
   ranked by contribution to the predicted class, drawn in the image?
6. **location** (where part masks exist): does a concept's activation map fall on the
   concept's part?
7. **most spurious-looking concepts** (:func:`spurious_concept_scores`): concepts the model
   relies on for a class although they are not attributes of that class.
8. **information** (``information=True``): faithfulness metrics of the concept model
   (:mod:`bottlekit.diagnostics.faithfulness`): per-concept information, leakage,
   completeness, accuracy at a controlled number of effective concepts, interventions.
"""

from __future__ import annotations

import dataclasses
import numbers
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from bottlekit._checks import check_number
from bottlekit.concepts.errors import UnknownConceptError
from bottlekit.diagnostics.audit_data import AuditData, as_audit_data
from bottlekit.diagnostics.audit_result import AuditResult
from bottlekit.diagnostics.model_features import (
    SPACES,
    _default_preprocess,
    _FeatureTap,
    _prepared,
    model_features,
)
from bottlekit.diagnostics.spurious import spurious_concept_scores

__all__ = [
    "AuditData",
    "AuditResult",
    "as_audit_data",
    "audit",
    "model_features",
    "spurious_concept_scores",
]


def _check_int(value: Any, name: str, low: int) -> int:
    return check_number(value, name, integer=True, low=low)


def _split(labels: np.ndarray, fit_fraction: float, rng: np.random.Generator):
    """Stratified split into fit and evaluation indices (each class on both sides if it can)."""
    fit, held = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        m = round(fit_fraction * len(idx))
        if len(idx) >= 2:
            m = min(max(m, 1), len(idx) - 1)
        fit.append(idx[:m])
        held.append(idx[m:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(held))


def _bank_from_concepts(
    concepts: Any,
    data: AuditData,
    F_fit: np.ndarray,
    fit_idx: np.ndarray,
    seed: int,
    notes: list[str],
    cav_params: Mapping[str, Any] | None = None,
) -> tuple[Any, dict[str, np.ndarray]]:
    """A ConceptBank in the feature space, and the 0/1 labels (all images) of its concepts."""
    from bottlekit.concepts import ChanceLevelWarning, ConceptBank, from_examples

    labels: dict[str, np.ndarray] = {}
    if data.concept_labels is not None:
        for j, name in enumerate(data.concept_names):
            labels[name] = data.concept_labels[:, j]
    if isinstance(concepts, ConceptBank):
        if concepts.dim != F_fit.shape[1]:
            raise ValueError(
                f"concepts: the bank's vectors have dimension {concepts.dim} but the model's "
                f"features have {F_fit.shape[1]}; build the bank on these features "
                "(or pass concept names / labels to fit CAVs)"
            )
        return concepts, labels
    if concepts is None:
        if data.concept_labels is None:
            raise ValueError(
                "concepts: None needs data.concept_labels to fit CAVs; give concept labels, "
                "a dict {name: labels (n,)} or a ConceptBank in the model's feature space"
            )
        names = list(data.concept_names)
    elif isinstance(concepts, Mapping):
        n = len(data)
        for name, col in concepts.items():
            col = np.asarray(col)
            if col.shape != (n,) or not np.isin(col, (0, 1)).all():
                raise ValueError(
                    f"concepts[{name!r}]: expected {n} 0/1 labels (one per image), got "
                    f"shape {col.shape}"
                )
            labels[str(name)] = col.astype(np.uint8)
        names = [str(k) for k in concepts]
    elif isinstance(concepts, Sequence) and not isinstance(concepts, str):
        names = [str(c) for c in concepts]
        repeated = sorted({c for c in names if names.count(c) > 1})
        if repeated:
            raise ValueError(f"concepts: expected unique names, {repeated[:5]} repeat")
        missing = [c for c in names if c not in labels]
        if missing:
            raise UnknownConceptError(
                missing,
                list(labels),
                "concepts",
                known_as="the annotated concepts: there are no labels for it in "
                "data.concept_names (or pass a dict {name: labels})",
            )
    else:
        raise TypeError(
            "concepts: expected None, a list of concept names, a dict {name: labels (n,)} or "
            f"a ConceptBank; got {type(concepts).__name__}"
        )
    if not names:
        raise ValueError("concepts: got an empty list; expected at least one concept")
    L = np.stack([labels[nm] for nm in names], axis=1)[fit_idx]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ChanceLevelWarning)
        bank = from_examples(
            "audited-model-features",
            F_fit,
            L,
            names,
            random_state=seed,
            **dict(cav_params or {}),
        )
    for w in caught:
        if issubclass(w.category, ChanceLevelWarning):
            notes.append(f"CAVs: {w.message}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return bank, labels


def _match_outputs(data: Any, n_outputs: int) -> Any:
    """Check that output ``c`` of a classifier can be class ``c`` of ``data``.

    Named classes must be exactly as many as the outputs. Classes that were only numbered
    (no names given, so ``ConceptDataset`` numbered the labels seen) may be fewer: a data
    subset need not contain the last classes; they are then numbered up to the outputs.
    """
    names = list(data.class_names)
    numbered = names == [str(c) for c in range(len(names))]
    if int(data.labels.max()) >= n_outputs or (not numbered and len(names) != n_outputs):
        raise ValueError(
            f"model: it has {n_outputs} outputs but the data has {len(names)} classes "
            f"(labels up to {int(data.labels.max())}); output c must be the logit of class c "
            "of data.labels"
        )
    if len(names) < n_outputs:
        data = dataclasses.replace(data, class_names=[str(c) for c in range(n_outputs)])
    return data


def _check_cav_params(cav_params: Any, concepts: Any, is_cbm: bool) -> None:
    """``cav_params`` are options of ``from_examples``, used only when CAVs are fitted."""
    if cav_params is None:
        return
    import inspect

    from bottlekit.concepts import ConceptBank, from_examples

    if not isinstance(cav_params, Mapping):
        raise TypeError(f"cav_params: expected a dict or None, got {type(cav_params).__name__}")
    if isinstance(concepts, ConceptBank) or (is_cbm and concepts is None):
        if cav_params:
            raise ValueError(
                "cav_params: only used when the audit fits CAVs (concepts as names, a dict "
                "of labels, or None with a torch classifier); these concepts are not fitted"
            )
        return
    params = inspect.signature(from_examples).parameters
    taken = sorted(p for p in params if params[p].kind is inspect.Parameter.KEYWORD_ONLY)
    taken = [p for p in taken if p != "random_state"]
    if "random_state" in cav_params:
        raise ValueError("cav_params: random_state is audit's own random_state; leave it out")
    unknown = sorted(str(k) for k in cav_params if k not in taken)
    if unknown:
        raise ValueError(
            f"cav_params: {unknown} are not options of from_examples; it takes {taken}"
        )


def _check_banks_match(backbone: Any, model: Any, concepts: Any) -> None:
    """The CBM's own concept bank and a ``concepts`` bank must be of ``backbone``'s space
    (before anything is embedded); random banks belong to no backbone."""
    from bottlekit.concepts import ConceptBank

    for arg, bank in (("model", getattr(model, "concepts", None)), ("concepts", concepts)):
        if isinstance(bank, ConceptBank) and bank.backbone_id != "random":
            try:
                bank.check_backbone(backbone)
            except ValueError as e:
                raise ValueError(f"{arg}: {e}") from None


def _name_model_classes(data: Any, classes: np.ndarray) -> Any:
    """Check that the data names every class of a CBM (class ``c`` is ``class_names[c]``).

    Classes that were only numbered (no names given) are numbered up to the model's last
    class, as :func:`_match_outputs` does for a classifier's outputs.
    """
    names = list(data.class_names)
    needed = int(np.max(classes)) + 1
    if needed <= len(names):
        return data
    if names != [str(c) for c in range(len(names))]:
        raise ValueError(
            f"data.class_names: names {len(names)} classes but the model's classes go up to "
            f"{needed - 1}; class c of the model must be class_names[c] of the data (audit "
            "it on data of its own classes)"
        )
    return dataclasses.replace(data, class_names=[str(c) for c in range(needed)])


def audit(
    model: Any,
    data: Any,
    concepts: Any = None,
    *,
    backbone: Any = None,
    feature_layer: str | Callable[[torch.Tensor], torch.Tensor] | None = None,
    preprocess: Callable[[np.ndarray], torch.Tensor] | None = None,
    space: str = "features",
    fit_fraction: float = 0.5,
    lam: float = 1e-3,
    cav_params: Mapping[str, Any] | None = None,
    top_k: int = 5,
    context_parts: Sequence[str] = ("background",),
    context_concepts: Sequence[str] | None = None,
    n_examples: int = 6,
    n_location_images: int = 48,
    map_method: str = "gradcam",
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    random_state: int = 0,
    information: bool = True,
) -> AuditResult:
    r"""Audit what a trained image classifier relies on, in terms of concepts.

    See the module docstring for the steps. The images are split (stratified by label,
    ``fit_fraction`` to fit) into a *fit* part, on which the CAVs and the surrogate are
    fitted, and an *evaluation* part, on which fidelity, accuracy, existence and location
    are measured.

    Parameters
    ----------
    model : torch.nn.Module or fitted BaseConceptBottleneck
        A torch classifier mapping a float batch (``preprocess(images)``) to logits
        (n, C) whose output index ``c`` is class ``c`` of ``data.labels``; or a fitted
        bottlekit concept-bottleneck model (then ``backbone`` embeds the images).
    data : ConceptDataset, World or dict
        Any :class:`~bottlekit.datasets.ConceptDataset` (or a dict of its fields, see
        :func:`~bottlekit.datasets.as_concept_dataset`): images and labels, optionally
        ``concept_labels`` (n, k) with ``concept_names``, ``part_masks`` with
        ``part_names`` and ``part_of_concept`` (:func:`bottlekit.world.make_world` has all
        of these). Images are read through :func:`bottlekit.images.as_image_source`; a
        torch classifier needs them all of one size.
    concepts : None, list of str, dict or ConceptBank
        ``None``: CAVs for every concept of ``data.concept_labels``; a list of names: CAVs
        for those columns; a dict ``{name: labels (n,)}``: CAVs from these labels; a
        :class:`~bottlekit.concepts.ConceptBank` already in the model's feature space. For
        a CBM, ``None`` audits the model's own concepts (it is its own surrogate).
    backbone : Backbone, optional
        Required for a CBM, unused for a torch classifier: embeds the images (with the
        embedding cache) and gives the concept activation maps
        (:func:`bottlekit.visualize.activation_maps.concept_activation_map` with
        ``map_method``).
    feature_layer, preprocess, space
        How to get features from a torch classifier, see :func:`model_features`; for a
        CBM ``feature_layer`` and ``preprocess`` must be None.
    fit_fraction : float in (0, 1), default 0.5
    lam : float, default 1e-3
        Elastic-net strength of the surrogate :class:`~bottlekit.bottleneck.PosthocCBM`.
        The PCBM reference uses 1e-5 for a task head; an audit wants a sparse, readable
        surrogate: on the built-in world 1e-3 kept the fidelity of 1e-4 (0.74–0.79 vs
        0.79) with a much sparser head.
    cav_params : dict, optional
        Extra keyword arguments of :func:`bottlekit.concepts.from_examples` (e.g.
        ``{"Cs": (0.1, 1.0)}`` for a faster, coarser search of the SVM regularisation).
    top_k : int, default 5
        Concepts per image in the existence metric and the examples.
    context_parts : sequence of str, default ("background",)
        Concepts of these parts (``data.part_of_concept``) are *context*: never attributes
        of a class (see :func:`spurious_concept_scores`). Names that are not parts of the
        data are an error, except in the default (not every dataset has a background).
    context_concepts : list of str, optional
        Context concepts by name (replaces ``context_parts``).
    n_examples : int, default 6
        Evaluation images shown with their activation maps in the report.
    n_location_images : int, default 48
        Evaluation images whose maps are scored for location (maps cost gradients).
    map_method : str, default "gradcam"
        Activation-map method for a CBM/backbone (see ``concept_activation_map``). A torch
        classifier without a bottlekit backbone gets input-gradient saliency maps:
        :math:`M_j(u) = \max_{\text{channel}} |\partial a_j / \partial x(u)|` of the
        surrogate's concept activation through the model's own feature extractor.
    batch_size : int, default 64
    device : str or torch.device, default "cpu"
        Where a torch classifier's input batches go (put the model there first; the audit
        does not move it); a CBM's backbone runs on its own device.
    random_state : int, default 0
        Seeds the split, the CAVs and the surrogate.
    information : bool, default True
        Compute the information section (:mod:`bottlekit.diagnostics.audit_information`).

    Returns
    -------
    AuditResult
        ``.save(folder)`` writes ``report.html`` and ``audit.json``.

    Examples
    --------
    >>> import bottlekit
    >>> from bottlekit.world import make_world
    >>> world = make_world(600, "shifted", random_state=0)          # doctest: +SKIP
    >>> result = audit(classifier, world)                   # doctest: +SKIP
    >>> result.top_spurious(3)                              # doctest: +SKIP
    ['sky background', 'sand background', 'forest background']
    >>> result.save("audit-out")                            # doctest: +SKIP
    """
    from bottlekit.bottleneck import BaseConceptBottleneck, PosthocCBM

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    notes: list[str] = []
    data = as_audit_data(data)
    if space not in SPACES:
        raise ValueError(f"space: expected one of {SPACES}, got {space!r}")
    if not isinstance(fit_fraction, numbers.Real) or not 0 < fit_fraction < 1:
        raise ValueError(f"fit_fraction: expected a number in (0, 1), got {fit_fraction!r}")
    lam = check_number(lam, "lam", low=0, expected="a finite number >= 0")
    top_k = _check_int(top_k, "top_k", 1)
    batch_size = _check_int(batch_size, "batch_size", 1)
    n_examples = _check_int(n_examples, "n_examples", 0)
    n_location_images = _check_int(n_location_images, "n_location_images", 0)
    seed = _check_int(random_state, "random_state", 0)
    if not isinstance(information, bool):
        raise TypeError(f"information: expected True or False, got {information!r}")
    if context_concepts is None:
        _check_context_parts(data, context_parts)
    rng = np.random.default_rng(seed)
    from bottlekit.devices import resolve_device

    resolve_device(device)  # a bad device fails here, not after the features
    from bottlekit.visualize.activation_maps import METHODS

    if map_method not in METHODS:
        raise ValueError(f"map_method: expected one of {METHODS}, got {map_method!r}")

    is_cbm = isinstance(model, BaseConceptBottleneck)
    _check_cav_params(cav_params, concepts, is_cbm)
    if is_cbm:
        for arg, value in (("feature_layer", feature_layer), ("preprocess", preprocess)):
            if value is not None:  # used to be ignored without a word
                raise ValueError(
                    f"{arg}: only used for a torch classifier; a concept-bottleneck model is "
                    "audited on the backbone's embeddings (leave it None)"
                )
        if not hasattr(model, "coef_"):
            raise ValueError("model: the concept-bottleneck model is not fitted")
        if backbone is None:
            raise ValueError(
                "backbone: a concept-bottleneck model works on embeddings; pass the backbone "
                "that embeds the images (bottlekit.load_backbone(...))"
            )
        if not (callable(getattr(backbone, "encode_images", None)) and hasattr(backbone, "id")):
            raise TypeError(
                "backbone: expected a Backbone from bottlekit.load_backbone(...), got "
                f"{type(backbone).__name__}"
            )
        _check_banks_match(backbone, model, concepts)
        from bottlekit.cache import embed

        F_all = embed(backbone, data.image_source, progress=False, batch_size=batch_size)
        if F_all.shape[1] != model.n_features_in_:
            raise ValueError(
                f"backbone: embeds in {F_all.shape[1]} dimensions, the model expects "
                f"{model.n_features_in_}"
            )
        unknown = sorted(set(np.unique(data.labels).tolist()) - set(model.classes_.tolist()))
        if unknown:
            raise ValueError(
                f"data.labels: {len(unknown)} label(s) {unknown[:5]} are not classes of the "
                f"model (its classes: {model.classes_.tolist()[:10]}"
                f"{'...' if len(model.classes_) > 10 else ''}); audit it on data labelled "
                "with its own classes"
            )
        data = _name_model_classes(data, model.classes_)
        pred = np.array([int(c) for c in model.predict(F_all)])
        feature_space = "embeddings"
        if space == "logits":
            raise ValueError("space='logits' applies to torch classifiers, not to a CBM")
    elif isinstance(model, torch.nn.Module):
        F_all, Z = model_features(
            model,
            data.image_source,
            feature_layer=feature_layer,
            preprocess=preprocess,
            space=space,
            batch_size=batch_size,
            device=device,
        )
        data = _match_outputs(data, Z.shape[1])
        pred = Z.argmax(1)
        feature_space = space
    else:
        raise TypeError(
            "model: expected a torch.nn.Module classifier or a fitted bottlekit "
            f"concept-bottleneck model, got {type(model).__name__}"
        )
    timings["features"] = time.perf_counter() - t0

    own = is_cbm and concepts is None
    if own:
        fit_idx = np.arange(0)
        eval_idx = np.arange(len(data))
    else:
        fit_idx, eval_idx = _split(data.labels, float(fit_fraction), rng)
    t = time.perf_counter()
    if own:
        surrogate = model
        labels_by_name: dict[str, np.ndarray] = {}
        if data.concept_labels is not None:
            labels_by_name = {
                nm: data.concept_labels[:, j] for j, nm in enumerate(data.concept_names)
            }
    else:
        bank, labels_by_name = _bank_from_concepts(
            concepts, data, F_all[fit_idx], fit_idx, seed, notes, cav_params
        )
        timings["concept_bank"] = time.perf_counter() - t
        t = time.perf_counter()
        if len(np.unique(pred[fit_idx])) < 2:
            raise ValueError(
                "model: it predicts a single class on the fit images; a surrogate needs at "
                "least two predicted classes (is it trained? are the images preprocessed as "
                "it expects?)"
            )
        surrogate = PosthocCBM(bank, lam=float(lam), random_state=seed).fit(
            F_all[fit_idx], pred[fit_idx]
        )
    timings["surrogate"] = time.perf_counter() - t

    concept_names = list(surrogate.concept_names_)
    classes = np.asarray(surrogate.classes_)
    class_names = [
        data.class_names[int(c)] if data.class_names is not None else str(c) for c in classes
    ]
    F_eval, y_eval, p_eval = F_all[eval_idx], data.labels[eval_idx], pred[eval_idx]
    s_eval = surrogate.predict(F_eval)
    fidelity = {
        "agreement": float(np.mean(s_eval == p_eval)),
        "model_accuracy": float(np.mean(p_eval == y_eval)),
        "surrogate_accuracy": float(np.mean(s_eval == y_eval)),
        "n_fit": len(fit_idx),
        "n_eval": len(eval_idx),
        "exact": bool(own),
        "n_model_classes_predicted": len(np.unique(pred)),
    }
    if own:
        notes.append("the model is a concept bottleneck audited on its own concepts: exact")

    importance = surrogate.global_importance()
    importance_by_class = surrogate.global_importance(by_class=True)

    # context concepts and attribute rates
    context = _context_mask(concept_names, data, context_parts, context_concepts, notes)
    attr = np.full((len(classes), len(concept_names)), np.nan)
    for j, nm in enumerate(concept_names):
        if nm in labels_by_name:
            col = labels_by_name[nm].astype(np.float64)
            for ci, c in enumerate(classes):
                sel = data.labels == c
                if sel.any():
                    attr[ci, j] = col[sel].mean()
    if not labels_by_name and not context.any():
        notes.append(
            "spurious concepts: no concept labels and no context concepts, so no concept can "
            "be assessed"
        )
    importance_agreement = _importance_agreement(surrogate, attr, notes)
    sp = spurious_concept_scores(importance_by_class, attr, context)
    spurious = []
    for j in np.argsort(-np.nan_to_num(sp["score"], nan=-np.inf), kind="stable"):
        if np.isnan(sp["score"][j]):
            continue
        wc = int(sp["worst_class"][j])
        spurious.append(
            {
                "concept": concept_names[j],
                "score": float(sp["score"][j]),
                "importance": float(importance[j]),
                "worst_class": class_names[wc],
                "worst_class_importance": float(importance_by_class[wc, j]),
                "attribute_rate": None if np.isnan(attr[wc, j]) else float(attr[wc, j]),
                "context": bool(context[j]),
            }
        )

    # existence and examples: explanations of the evaluation images (predicted class)
    expl = surrogate.explain(F_eval, top_k=min(top_k, len(concept_names)))
    t = time.perf_counter()
    existence = _existence(
        expl, concept_names, labels_by_name, eval_idx, top_k, notes, surrogate, F_eval
    )
    timings["existence"] = time.perf_counter() - t

    # location and examples: activation maps
    t = time.perf_counter()
    map_fn = _map_function(
        model, surrogate, backbone, is_cbm, feature_layer, preprocess, space, device, map_method
    )
    location = _location(
        map_fn,
        data,
        eval_idx,
        concept_names,
        labels_by_name,
        _concepts_to_map(importance, spurious, concept_names),
        n_location_images,
        rng,
        notes,
    )
    timings["location"] = time.perf_counter() - t
    t = time.perf_counter()
    ex_pos = _pick_examples(expl, n_examples, rng)
    examples, ex_images, ex_maps, ex_names = [], None, None, []
    n_show = min(3, len(concept_names))
    if len(ex_pos):
        ex_images = data.image_source.to_array(eval_idx[ex_pos])
        top_idx = expl.top_indices[ex_pos, :n_show]
        maps = map_fn(ex_images, top_idx) if map_fn is not None else None
        ex_maps = maps
        for r, i in enumerate(ex_pos):
            gi = int(eval_idx[i])
            examples.append(
                {
                    "index": gi,
                    "true": _name(data.class_names, data.labels[gi]),
                    "predicted": _name(data.class_names, pred[gi]),
                    "surrogate": _name(data.class_names, s_eval[i]),
                    "top": [(nm, float(v)) for nm, v in expl.top(int(i))],
                }
            )
            ex_names.append([concept_names[j] for j in top_idx[r]])
    timings["examples"] = time.perf_counter() - t
    info_section = None
    if information:
        from bottlekit.diagnostics.audit_information import information_section

        t = time.perf_counter()
        info_section = information_section(
            surrogate, F_all, data, fit_idx, eval_idx, notes, random_state=seed
        )
        timings["information"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0

    settings = {
        "space": feature_space,
        "fit_fraction": float(fit_fraction),
        "lam": float(lam),
        "cav_params": dict(cav_params or {}),
        "top_k": top_k,
        "context_parts": list(context_parts),
        "context_concepts": None if context_concepts is None else list(context_concepts),
        "map_method": map_method if is_cbm else "saliency",
        "random_state": seed,
        "n_images": len(data),
        "feature_dim": int(F_all.shape[1]),
    }
    return AuditResult(
        model_kind="cbm" if is_cbm else "torch",
        space=feature_space,
        concept_names=concept_names,
        class_names=class_names,
        classes=classes,
        fidelity=fidelity,
        importance=importance,
        importance_by_class=importance_by_class,
        importance_agreement=importance_agreement,
        existence=existence,
        location=location,
        spurious=spurious,
        spurious_share=sp["share"],
        examples=examples,
        example_images=ex_images,
        example_maps=ex_maps,
        example_map_concepts=ex_names,
        context_concepts=[nm for nm, c in zip(concept_names, context, strict=True) if c],
        notes=notes,
        settings=settings,
        timings=timings,
        concept_model=surrogate,
        information=info_section,
    )


def _name(names: list[str] | None, c: Any) -> str:
    return names[int(c)] if names is not None else str(c)


_DEFAULT_CONTEXT_PARTS = ("background",)


def _check_name_list(value: Any, name: str, what: str) -> None:
    """A list of names: a str (its letters) or a non-sequence (``None``, a number) is
    refused with the argument's name, not a bare ``'int' object is not iterable``."""
    if isinstance(value, str) or not isinstance(value, Sequence | np.ndarray | set):
        got = "a str" if isinstance(value, str) else type(value).__name__
        raise TypeError(f"{name}: expected a list of {what}, got {got}")


def _check_context_parts(data: Any, context_parts: Any) -> None:
    """Context parts must be parts of the data, except the default (not every dataset has
    a background)."""
    _check_name_list(context_parts, "context_parts", "part names")
    if data.part_names is None or tuple(context_parts) == _DEFAULT_CONTEXT_PARTS:
        return
    unknown = [p for p in context_parts if p not in data.part_names]
    if unknown:
        raise ValueError(
            f"context_parts: {unknown[:5]} are not parts of the data; its parts are "
            f"{list(data.part_names)}"
        )


def _context_mask(concept_names, data, context_parts, context_concepts, notes) -> np.ndarray:
    if context_concepts is not None:
        _check_name_list(context_concepts, "context_concepts", "concept names")
        unknown = [c for c in context_concepts if c not in concept_names]
        if unknown:
            raise UnknownConceptError(
                unknown, concept_names, "context_concepts", known_as="the audited concepts"
            )
        return np.array([nm in context_concepts for nm in concept_names], dtype=bool)
    _check_name_list(context_parts, "context_parts", "part names")
    if data.part_of_concept is None or data.part_names is None or not context_parts:
        return np.zeros(len(concept_names), bool)
    part_of = dict(zip(data.concept_names, data.part_of_concept.tolist(), strict=True))
    ctx = {i for i, p in enumerate(data.part_names) if p in set(context_parts)}
    return np.array([part_of.get(nm, -1) in ctx for nm in concept_names], dtype=bool)


def _existence(expl, concept_names, labels_by_name, eval_idx, top_k, notes, model, F_eval):
    r"""Existence precision of each evaluation image's top-k concepts.

    With every concept labelled this is
    :func:`bottlekit.diagnostics.existence.concept_existence` (precision@k of the concepts
    with the largest contributions to the predicted class, and its chance level, the mean
    fraction of concepts present). Otherwise the same is computed among the labelled
    concepts only (:math:`T_i` = the ``top_k`` labelled concepts of largest contribution),
    and a note says so.
    """
    from bottlekit.diagnostics.existence import concept_existence

    have = np.array([nm in labels_by_name for nm in concept_names])
    if not have.any():
        notes.append("existence: skipped, no concept labels for the audited concepts")
        return None
    cols = np.flatnonzero(have)
    L = np.stack([labels_by_name[concept_names[j]][eval_idx] for j in cols], axis=1)
    k = min(top_k, len(cols))
    if have.all():
        res = concept_existence(model, F_eval, L, k, label_names=concept_names)
        order, hits, out = res.top_indices, res.present.astype(np.float64), res.to_dict()
    else:
        notes.append(
            f"existence: {int((~have).sum())} concepts have no labels; precision@k is over the "
            "labelled concepts only"
        )
        order = np.argsort(-expl.contributions[:, cols], axis=1, kind="stable")[:, :k]
        hits = np.take_along_axis(L, order, axis=1).astype(np.float64)
        order = cols[order]
        out = {"top_k": int(k), "precision": float(hits.mean()), "chance": float(L.mean())}
        out["by_rank"] = hits.mean(0).tolist()
    col_of = {int(j): pos for pos, j in enumerate(cols)}
    per_concept = {}
    for j in np.unique(order):
        chosen = order == j
        per_concept[concept_names[int(j)]] = {
            "times_in_top": int(chosen.sum()),
            "precision": float(hits[chosen].mean()),
            "prevalence": float(L[:, col_of[int(j)]].mean()),
        }
    out.update(
        {
            "per_image": hits.mean(1),
            "per_concept": per_concept,
            "n_images": len(L),
            "n_labelled_concepts": len(cols),
        }
    )
    return out


def _importance_agreement(model, attr, notes) -> dict[str, Any] | None:
    """Concept global importance metric against the data's attribute rates."""
    from bottlekit.diagnostics.global_importance import concept_global_importance

    if not np.isfinite(attr).all():
        notes.append(
            "global importance: no agreement score (some concepts have no labels or some "
            "classes no images)"
        )
        return None
    gi = concept_global_importance(model, attr)
    return {"mean_correlation": gi.mean_correlation, "correlation": gi.correlation}


def _pick_examples(expl, n: int, rng: np.random.Generator) -> np.ndarray:
    if n == 0 or len(expl) == 0:
        return np.arange(0)
    return np.sort(rng.choice(len(expl), size=min(n, len(expl)), replace=False))


def _map_function(
    model, surrogate, backbone, is_cbm, feature_layer, preprocess, space, device, method
):
    """``f(images, concept_idx (m, t)) -> maps (m, t, H, W)`` or None."""
    if is_cbm:
        from bottlekit.visualize.activation_maps import concept_activation_map

        def cbm_maps(images: np.ndarray, idx: np.ndarray) -> np.ndarray:
            out = np.zeros((len(images), idx.shape[1], *images.shape[1:3]), np.float32)
            for j in np.unique(idx):
                rows = np.flatnonzero((idx == j).any(1))
                m = concept_activation_map(
                    backbone, images[rows], surrogate, concepts=[int(j)], method=method
                )
                for r_pos, r in enumerate(rows):
                    out[r, idx[r] == j] = m[r_pos, 0]
            return out

        return cbm_maps

    from bottlekit.devices import resolve_device
    from bottlekit.visualize.attribution import ConceptSaliency

    dev = resolve_device(device)
    prep = preprocess or _default_preprocess
    tap = _FeatureTap(model, feature_layer, space)

    def features(x: torch.Tensor) -> torch.Tensor:
        return tap(x)[0].double()

    def saliency(images: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Input-gradient saliency of the surrogate's concept activations on the model's
        features: map ``t`` of image ``i`` is concept ``idx[i, t]``."""
        H, W = images.shape[1:3]
        x = _prepared(prep, images, dev)
        tap.resolve(x)
        explainer = ConceptSaliency(features, surrogate, batch_size=len(x))
        was_training = model.training
        model.eval()
        try:
            g = torch.from_numpy(explainer.attribute(x, idx))
        finally:
            model.train(was_training)
        if g.shape[2:] != (H, W):
            g = torch.nn.functional.interpolate(
                g, size=(H, W), mode="bilinear", align_corners=False
            )
        return g.numpy()

    return saliency


def _concepts_to_map(importance, spurious, concept_names, n: int = 4) -> list[int]:
    """The ``n`` most important and the ``n`` most spurious-looking concepts, in that order."""
    chosen = [int(j) for j in np.argsort(-importance, kind="stable")[:n]]
    for row in spurious[:n]:
        j = concept_names.index(row["concept"])
        if j not in chosen:
            chosen.append(j)
    return chosen


def _location(map_fn, data, eval_idx, concept_names, labels_by_name, chosen, n_images, rng, notes):
    """Location of the chosen concepts' maps on evaluation images, against their parts.

    :func:`bottlekit.diagnostics.location.concept_location`: pointing game and energy
    inside the concept's part mask, scored where the concept is present (when labelled).
    """
    from bottlekit.diagnostics.location import concept_location

    if data.part_masks is None or data.part_of_concept is None:
        notes.append("location: skipped, no part masks")
        return None
    if map_fn is None or n_images == 0:
        notes.append("location: skipped, no activation maps")
        return None
    part_of = dict(zip(data.concept_names, data.part_of_concept.tolist(), strict=True))
    chosen = [j for j in chosen if part_of.get(concept_names[j], -1) >= 0]
    if not chosen:
        notes.append("location: skipped, no audited concept has a part")
        return None
    pos = np.sort(rng.choice(len(eval_idx), size=min(n_images, len(eval_idx)), replace=False))
    rows = eval_idx[pos]
    idx = np.tile(np.asarray(chosen), (len(rows), 1))
    maps = map_fn(data.image_source.to_array(rows), idx)
    names = [concept_names[j] for j in chosen]
    labels = None
    if all(nm in labels_by_name for nm in names):
        labels = np.stack([labels_by_name[nm][rows] for nm in names], axis=1)
    res = concept_location(
        maps,
        data.part_masks[rows],
        np.array([part_of[nm] for nm in names]),
        labels,
        concept_names=names,
    )
    out = res.to_dict()
    out["n_images"] = len(rows)
    out["image_indices"] = rows
    out["energy"] = res.energy
    out["pointing"] = res.pointing
    return out
