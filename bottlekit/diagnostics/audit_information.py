"""The audit's "information" section: faithfulness metrics of the concept model.

Computed on the audit's own split (CAVs and surrogate fitted on the *fit* images, metrics
on the *evaluation* images) with :mod:`bottlekit.diagnostics.faithfulness`:
per-concept information, leakage, completeness, accuracy at a controlled number of
effective concepts (truncation of the head, the fast variant; see
:func:`~bottlekit.diagnostics.faithfulness.prune_to_nec`) and intervention curves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["NEC_LEVELS", "information_section"]

#: NEC levels of the audit (VLG-CBM reports NEC = 5 and a sweep).
NEC_LEVELS = (1, 2, 5, 10, 20)


def information_section(
    model: Any,
    F_all: np.ndarray,
    data: Any,
    fit_idx: np.ndarray,
    eval_idx: np.ndarray,
    notes: list[str],
    random_state: int = 0,
) -> dict[str, Any]:
    """Faithfulness metrics of ``model`` (the audited CBM or the surrogate) as plain dicts.

    Parameters
    ----------
    model : fitted BaseConceptBottleneck
        The model whose concepts are measured.
    F_all : array (n, d)
        Features (embeddings) of every image of ``data``.
    data : ConceptDataset
        The audit's images, labels and (optionally) concept labels.
    fit_idx, eval_idx : int arrays
        The audit's split.
    notes : list of str
        Receives what could not be computed and why.
    random_state : int
        Seeds the random baselines and estimators.

    Returns
    -------
    dict
        ``concept_information``, ``leakage`` (None without concept labels),
        ``completeness``, ``nec``, ``interventions``; a metric that cannot be computed
        is None, with a note.

    Examples
    --------
    >>> import numpy as np
    >>> from bottlekit.bottleneck import PosthocCBM
    >>> from bottlekit.concepts import ConceptBank
    >>> from bottlekit.datasets import ConceptDataset
    >>> rng = np.random.default_rng(0)
    >>> C = rng.integers(0, 2, (200, 2)); y = 2 * C[:, 0] + C[:, 1]
    >>> X = C + 0.3 * rng.standard_normal((200, 2))
    >>> bank = ConceptBank(["a", "b"], np.eye(2), "toy", provenance=[{"kind": "cav"}] * 2)
    >>> cbm = PosthocCBM(bank, lam=1e-3, random_state=0).fit(X[:100], y[:100])
    >>> ds = ConceptDataset(np.zeros((200, 4, 4, 3), np.uint8), labels=y,
    ...                     concept_names=["a", "b"], concept_labels=C)
    >>> notes = []
    >>> info = information_section(cbm, X, ds, np.arange(100), np.arange(100, 200), notes)
    >>> sorted(k for k, v in info.items() if v is not None)
    ['completeness', 'concept_information', 'interventions', 'leakage', 'nec']
    """
    from bottlekit.diagnostics.faithfulness import (
        accuracy_at_nec,
        concept_completeness,
        concept_information,
        concept_leakage,
        intervention_curves,
    )

    if len(fit_idx) == 0:  # a CBM audited on its own concepts: every image is evaluated
        fit_idx = eval_idx
        notes.append(
            "information: no fit images (the model is its own surrogate); completeness, NEC "
            "and intervention values are fitted on the evaluation images themselves"
        )
    fit, ev = data.subset(fit_idx), data.subset(eval_idx)
    F_fit, F_ev = F_all[fit_idx], F_all[eval_idx]
    out: dict[str, Any] = dict.fromkeys(
        ("concept_information", "leakage", "completeness", "nec", "interventions")
    )

    def attempt(key: str, compute) -> Any:
        try:
            return compute()
        except ValueError as exc:  # too few images per class or concept, constant columns
            notes.append(f"information: {key} skipped ({exc})")
            return None

    info = attempt(
        "concept information",
        lambda: concept_information(model, F_ev, ev, random_state=random_state),
    )
    out["concept_information"] = None if info is None else info.to_dict()
    labelled = data.concept_labels is not None and any(
        c in set(data.concept_names) for c in model.concept_names_
    )
    if labelled:
        leak = attempt(
            "leakage", lambda: concept_leakage(model, F_ev, ev, random_state=random_state)
        )
        if leak is not None:
            out["leakage"] = leak.to_dict()
            notes.extend(f"information: {n}" for n in leak.notes)
            # the variational form and its ceiling H(Y | C), next to a k-NN estimate
            clf = leak
            if leak.method != "classifier":
                clf = attempt(
                    "leakage (classifier)",
                    lambda: concept_leakage(
                        model, F_ev, ev, method="classifier", random_state=random_state
                    ),
                )
            if clf is not None:
                out["leakage"]["classifier_total"] = clf.total
                out["leakage"]["entropy_given_concepts"] = clf.entropy_given_concepts
    else:
        notes.append("information: leakage skipped, no concept labels for the model's concepts")
    comp = attempt(
        "completeness",
        lambda: concept_completeness(model, F_fit, fit, F_ev, ev, random_state=random_state),
    )
    out["completeness"] = None if comp is None else comp.to_dict()
    k = len(model.concept_names_)
    levels = sorted({min(v, k) for v in NEC_LEVELS})
    nec = attempt(
        "NEC",
        lambda: accuracy_at_nec(
            model, F_fit, fit, {"evaluation": (F_ev, ev)}, levels, method="truncate"
        ),
    )
    out["nec"] = None if nec is None else nec.to_dict()
    curves = attempt(
        "interventions",
        lambda: intervention_curves(model, F_fit, fit, F_ev, ev, random_state=random_state),
    )
    if curves is not None:
        out["interventions"] = curves.to_dict()
        notes.extend(f"interventions: {n}" for n in curves.notes)
    return out
