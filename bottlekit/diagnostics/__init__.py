"""Diagnostics of concept-bottleneck models: the concept metrics of Aysel, Cai &
Prügel-Bennett (2025, "Concept-Based Explainable Artificial Intelligence: Metrics and
Benchmarks", arXiv:2501.19271) and model audits.

Metrics (numpy only, no pandas; each returns arrays and a small result object with
``to_dict()``):

``concept_global_importance``
    what the fitted head relies on, and its agreement with the
    ground-truth class–concept association
``concept_existence``
    precision@k of the concepts that explain each prediction
    against the image's concept labels
``concept_location``
    pointing game and energy inside the part of concept activation
    maps (:func:`bottlekit.visualize.concept_activation_map`);
    ``located_pairs``: the (image, concept) pairs it scores

Faithfulness (:mod:`bottlekit.diagnostics.faithfulness`; a fitted CBM, embeddings and a
:class:`~bottlekit.datasets.ConceptDataset`):

``concept_leakage``
    I(Ĉ; Y | C), label information beyond the true concepts
``concept_information``
    per concept, I(activation; concept label) and I(activation; Y)
``concept_completeness``
    Yeh et al. (2020) completeness, against random directions
``prune_to_nec``, ``accuracy_at_nec``
    heads with a controlled number of effective concepts (VLG-CBM)
``intervention_curves``
    accuracy vs concepts intervened: random, uncertainty, CooP

Audits:

``audit``
    "what does this trained model rely on?" for any torch image
    classifier or bottlekit CBM, with a self-contained HTML report
``spurious_concept_scores``
    reliance on concepts that are not attributes of the class
"""

from bottlekit.diagnostics.audit import (
    AuditData,
    AuditResult,
    audit,
    model_features,
    spurious_concept_scores,
)
from bottlekit.diagnostics.existence import ExistenceResult, concept_existence
from bottlekit.diagnostics.faithfulness import (
    accuracy_at_nec,
    concept_completeness,
    concept_information,
    concept_leakage,
    intervention_curves,
    prune_to_nec,
)
from bottlekit.diagnostics.global_importance import GlobalImportance, concept_global_importance
from bottlekit.diagnostics.location import LocationResult, concept_location, located_pairs
from bottlekit.diagnostics.report import render_report

__all__ = [
    "AuditData",
    "AuditResult",
    "ExistenceResult",
    "GlobalImportance",
    "LocationResult",
    "accuracy_at_nec",
    "audit",
    "concept_completeness",
    "concept_existence",
    "concept_global_importance",
    "concept_information",
    "concept_leakage",
    "concept_location",
    "intervention_curves",
    "located_pairs",
    "model_features",
    "prune_to_nec",
    "render_report",
    "spurious_concept_scores",
]
