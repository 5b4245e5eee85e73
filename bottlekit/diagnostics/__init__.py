"""Diagnostics of concept-bottleneck models: the concept metrics of Aysel, Cai &
Prügel-Bennett (2025) and model audits.

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
    maps (:func:`bottlekit.visualize.concept_activation_map`)

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
from bottlekit.diagnostics.global_importance import GlobalImportance, concept_global_importance
from bottlekit.diagnostics.location import LocationResult, concept_location
from bottlekit.diagnostics.report import render_report

__all__ = [
    "AuditData",
    "AuditResult",
    "ExistenceResult",
    "GlobalImportance",
    "LocationResult",
    "audit",
    "concept_existence",
    "concept_global_importance",
    "concept_location",
    "model_features",
    "render_report",
    "spurious_concept_scores",
]
