"""The audit's sections on what the model relies on: which concepts are context (never
attributes of a class), the data's attribute rates, how the surrogate's global importance
agrees with them, and the table of the most spurious-looking concepts
(:func:`~bottlekit.diagnostics.spurious.spurious_concept_scores`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bottlekit.concepts.errors import UnknownConceptError
from bottlekit.diagnostics.audit_inputs import _check_name_list


def _context_mask(concept_names, data, context_parts, context_concepts, notes) -> np.ndarray:
    if context_concepts is not None:
        _check_name_list(context_concepts, "context_concepts", "concept names")
        # (sets: lists made this quadratic in the number of concepts)
        known = set(concept_names)
        unknown = [c for c in context_concepts if not isinstance(c, str) or c not in known]
        if unknown:
            raise UnknownConceptError(
                unknown, concept_names, "context_concepts", known_as="the audited concepts"
            )
        context = set(context_concepts)
        return np.array([nm in context for nm in concept_names], dtype=bool)
    _check_name_list(context_parts, "context_parts", "part names")
    if data.part_of_concept is None or data.part_names is None or not context_parts:
        return np.zeros(len(concept_names), bool)
    part_of = dict(zip(data.concept_names, data.part_of_concept.tolist(), strict=True))
    ctx = {i for i, p in enumerate(data.part_names) if p in set(context_parts)}
    return np.array([part_of.get(nm, -1) in ctx for nm in concept_names], dtype=bool)


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


def _attribute_rates(
    concept_names: list[str],
    classes: np.ndarray,
    labels_by_name: dict[str, np.ndarray],
    labels: np.ndarray,
) -> np.ndarray:
    """``P(concept | class)`` of the data, (C, k); NaN where a concept has no labels or a
    class no images."""
    attr = np.full((len(classes), len(concept_names)), np.nan)
    for j, nm in enumerate(concept_names):
        if nm in labels_by_name:
            col = labels_by_name[nm].astype(np.float64)
            for ci, c in enumerate(classes):
                sel = labels == c
                if sel.any():
                    attr[ci, j] = col[sel].mean()
    return attr


def _spurious_rows(
    sp, concept_names, class_names, importance, importance_by_class, attr, context
) -> list[dict[str, Any]]:
    """One row per scored concept of :func:`spurious_concept_scores`' result ``sp``, the
    most spurious-looking first."""
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
    return spurious
