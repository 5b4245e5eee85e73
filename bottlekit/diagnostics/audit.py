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

import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from bottlekit._checks import check_choice, check_number, check_unused
from bottlekit.diagnostics.audit_concepts import _bank_from_concepts
from bottlekit.diagnostics.audit_data import AuditData, as_audit_data
from bottlekit.diagnostics.audit_existence import _existence
from bottlekit.diagnostics.audit_features import _features
from bottlekit.diagnostics.audit_importance import (
    _attribute_rates,
    _context_mask,
    _importance_agreement,
    _spurious_rows,
)
from bottlekit.diagnostics.audit_inputs import (
    _check_cav_params,
    _check_context_parts,
    _check_int,
)
from bottlekit.diagnostics.audit_maps import _concepts_to_map, _examples, _location, _map_function
from bottlekit.diagnostics.audit_result import AuditResult
from bottlekit.diagnostics.model_features import SPACES, model_features
from bottlekit.diagnostics.spurious import spurious_concept_scores

#: The surrogate's split and penalty when left at None (only a surrogate reads them).
DEFAULT_FIT_FRACTION = 0.5
DEFAULT_LAM = 1e-3

__all__ = [
    "AuditData",
    "AuditResult",
    "as_audit_data",
    "audit",
    "model_features",
    "spurious_concept_scores",
]


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


def audit(
    model: Any,
    data: Any,
    concepts: Any = None,
    *,
    backbone: Any = None,
    feature_layer: str | Callable[[torch.Tensor], torch.Tensor] | None = None,
    preprocess: Callable[[np.ndarray], torch.Tensor] | None = None,
    space: str = "features",
    fit_fraction: float | None = None,
    lam: float | None = None,
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
        Required for a CBM, refused for a torch classifier: embeds the images (with the
        embedding cache) and gives the concept activation maps
        (:func:`bottlekit.visualize.activation_maps.concept_activation_map` with
        ``map_method``).
    feature_layer : str, callable or None, default None
        Where to read a torch classifier's features, see :func:`model_features`
        (``None``: the input of its last ``nn.Linear``). Must be None for a CBM.
    preprocess : callable, optional
        uint8 images (n, H, W, 3) → float tensor batch for a torch classifier, see
        :func:`model_features` (default ``x / 255`` in (n, 3, H, W)). Must be None for a CBM.
    space : {"features", "logits"}, default "features"
        Audit a torch classifier's penultimate features or its logits, see
        :func:`model_features`. A CBM is audited in its backbone's embeddings
        (``"logits"`` is refused).
    fit_fraction : float in (0, 1) or None, default None
        Share of each class's images in the *fit* part; the rest is the *evaluation* part.
        None means 0.5. Refused when a CBM is audited on its own concepts (no surrogate is
        fitted, every image is evaluated).
    lam : float or None, default None
        Elastic-net strength of the surrogate :class:`~bottlekit.bottleneck.PosthocCBM`;
        None means 1e-3. Refused when a CBM is audited on its own concepts.
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
        Images per forward pass (of the torch classifier, or of the CBM's backbone).
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
    space = check_choice(space, SPACES, "space")
    if isinstance(model, BaseConceptBottleneck) and concepts is None:  # no surrogate, no split
        why = "when a concept-bottleneck model is audited on its own concepts (concepts=None)"
        check_unused(fit_fraction, "fit_fraction", why, " or give concepts to fit a surrogate")
        check_unused(lam, "lam", why, " or give concepts to fit a surrogate")
    fit_fraction = DEFAULT_FIT_FRACTION if fit_fraction is None else fit_fraction
    if not isinstance(fit_fraction, numbers.Real) or not 0 < fit_fraction < 1:
        raise ValueError(f"fit_fraction: expected a number in (0, 1), got {fit_fraction!r}")
    lam = DEFAULT_LAM if lam is None else lam
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

    map_method = check_choice(map_method, METHODS, "map_method")

    is_cbm = isinstance(model, BaseConceptBottleneck)
    _check_cav_params(cav_params, concepts, is_cbm)
    data, F_all, pred, feature_space = _features(
        model, data, concepts, backbone, feature_layer, preprocess, space, batch_size, device
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
    attr = _attribute_rates(concept_names, classes, labels_by_name, data.labels)
    if not labels_by_name and not context.any():
        notes.append(
            "spurious concepts: no concept labels and no context concepts, so no concept can "
            "be assessed"
        )
    importance_agreement = _importance_agreement(surrogate, attr, notes)
    sp = spurious_concept_scores(importance_by_class, attr, context)
    spurious = _spurious_rows(
        sp, concept_names, class_names, importance, importance_by_class, attr, context
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
    examples, ex_images, ex_maps, ex_names = _examples(
        map_fn, expl, data, eval_idx, pred, s_eval, concept_names, n_examples, rng
    )
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
        "fit_fraction": None if own else float(fit_fraction),
        "lam": None if own else float(lam),
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
