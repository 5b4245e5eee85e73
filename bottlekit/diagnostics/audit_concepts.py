"""The concept bank of an audit, in the model's feature space: a given
:class:`~bottlekit.concepts.ConceptBank`, or CAVs fitted on the *fit* images from concept
labels (:func:`bottlekit.concepts.from_examples`, Post-hoc CBM style)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bottlekit._arrays import as_binary_array
from bottlekit._checks import repeated_items
from bottlekit.concepts.errors import UnknownConceptError
from bottlekit.diagnostics.audit_data import AuditData


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
            col = as_binary_array(col, f"concepts[{name!r}]")
            if col.shape != (n,):
                raise ValueError(
                    f"concepts[{name!r}]: expected {n} 0/1 labels (one per image), got "
                    f"shape {col.shape}"
                )
            labels[str(name)] = col.astype(np.uint8)
        names = [str(k) for k in concepts]
    elif isinstance(concepts, Sequence) and not isinstance(concepts, str):
        names = [str(c) for c in concepts]
        repeated = repeated_items(names)
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
