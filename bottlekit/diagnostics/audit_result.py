"""``AuditResult``: the tables of an audit, its JSON form and its HTML report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["REPORT_FILES", "AuditResult"]

#: The files :meth:`AuditResult.save` writes into its folder (the report, then the JSON).
REPORT_FILES = ("report.html", "audit.json")


@dataclass(repr=False)
class AuditResult:
    r"""What :func:`audit` found. Tables are plain dicts / arrays; see :meth:`to_dict`.

    Attributes
    ----------
    model_kind : str
        ``"torch"`` (a classifier explained by a surrogate) or ``"cbm"``.
    space : str
        Where the concepts live: ``"features"``, ``"logits"`` or ``"embeddings"`` (CBM).
    concept_names : list of str
    class_names : list of str
        Names of the surrogate's classes (the classes the model predicted on the fit part).
    classes : ndarray of int
        Model output index of each row of ``importance_by_class``.
    fidelity : dict
        ``agreement`` (surrogate vs model on the evaluation images), ``model_accuracy``,
        ``surrogate_accuracy``, ``n_fit``, ``n_eval``, ``exact``.
    importance : ndarray of shape (k,)
        Mean over classes of :math:`|I_{cj}|`.
    importance_by_class : ndarray of shape (C, k)
        Signed :math:`I_{cj}`.
    importance_agreement : dict or None
        Concept global importance metric
        (:func:`bottlekit.diagnostics.global_importance.concept_global_importance`): per
        class, the Pearson correlation of :math:`I_{c\cdot}` with the attribute rates
        :math:`P(\text{concept}\mid c)` of the data, and its mean (None unless every
        concept has labels and every class has images).
    existence : dict or None
        Existence precision of the top-k concepts (None without concept labels).
    location : dict or None
        Location scores of the activation maps (None without part masks or maps).
    spurious : list of dict
        All assessable concepts, most spurious-looking first (see
        :func:`spurious_concept_scores`): ``concept``, ``score``, ``importance``,
        ``worst_class``, ``attribute_rate`` (at the worst class), ``context``.
    spurious_share : float
    examples : list of dict
        Per-image: ``index``, ``true``, ``predicted``, ``surrogate``, ``top``
        [(name, contribution)].
    example_images, example_maps : ndarray or None
        The example images (m, H, W, 3) and the maps of their top concepts (m, t, H, W).
    information : dict or None
        Faithfulness metrics of the concept model
        (:func:`bottlekit.diagnostics.audit_information.information_section`): per-concept
        information, leakage, completeness, accuracy at NEC levels, intervention curves.
    notes : list of str
        What was skipped or doubtful, and why.
    settings : dict
        The audit's parameters.
    timings : dict
        Seconds per step.
    """

    model_kind: str
    space: str
    concept_names: list[str]
    class_names: list[str]
    classes: np.ndarray
    fidelity: dict[str, Any]
    importance: np.ndarray
    importance_by_class: np.ndarray
    importance_agreement: dict[str, Any] | None
    existence: dict[str, Any] | None
    location: dict[str, Any] | None
    spurious: list[dict[str, Any]]
    spurious_share: float
    examples: list[dict[str, Any]]
    example_images: np.ndarray | None = None
    example_maps: np.ndarray | None = None
    example_map_concepts: list[list[str]] = field(default_factory=list)
    context_concepts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    concept_model: Any = None
    information: dict[str, Any] | None = None

    def __repr__(self) -> str:
        top = [row["concept"] for row in self.spurious[:3]]
        return (
            f"AuditResult(model={self.model_kind}, concepts={len(self.concept_names)}, "
            f"fidelity={self.fidelity.get('agreement', float('nan')):.3f}, "
            f"spurious_share={self.spurious_share:.3f}, most spurious={top})"
        )

    def top_spurious(self, n: int = 5) -> list[str]:
        """Names of the ``n`` most spurious-looking concepts with a positive score."""
        from bottlekit._checks import check_number

        n = check_number(n, "n", integer=True, low=0)
        return [row["concept"] for row in self.spurious if row["score"] > 0][:n]

    def importance_table(self) -> list[dict[str, Any]]:
        """Concepts by decreasing global importance: ``concept``, ``importance``, ``top_class``."""
        order = np.argsort(-self.importance, kind="stable")
        # (a set: looking each name up in the list took 57 s for 100,000 context concepts)
        context = set(self.context_concepts)
        rows = []
        for j in order:
            c = int(np.argmax(self.importance_by_class[:, j]))
            rows.append(
                {
                    "concept": self.concept_names[j],
                    "importance": float(self.importance[j]),
                    "top_class": self.class_names[c],
                    "top_class_importance": float(self.importance_by_class[c, j]),
                    "context": self.concept_names[j] in context,
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable tables (no images, maps or model)."""
        return _jsonable(
            {
                "model_kind": self.model_kind,
                "space": self.space,
                "concept_names": self.concept_names,
                "class_names": self.class_names,
                "classes": self.classes,
                "fidelity": self.fidelity,
                "importance": self.importance,
                "importance_by_class": self.importance_by_class,
                "importance_table": self.importance_table(),
                "importance_agreement": self.importance_agreement,
                "existence": self.existence,
                "location": self.location,
                "spurious": self.spurious,
                "spurious_share": self.spurious_share,
                "examples": self.examples,
                "example_map_concepts": self.example_map_concepts,
                "context_concepts": self.context_concepts,
                "notes": self.notes,
                "settings": self.settings,
                "timings": self.timings,
                "information": self.information,
            }
        )

    def save(self, folder: str | Path) -> dict[str, Path]:
        """Write ``report.html`` (self-contained) and ``audit.json`` into ``folder``, atomically.

        Returns
        -------
        dict
            ``{"report": path, "json": path}``.
        """
        import json

        from bottlekit.atomic import atomic_write_bytes, check_output_path
        from bottlekit.diagnostics.report import render_report

        folder = check_output_path(folder, "folder", is_dir=True, files=REPORT_FILES)
        paths = {"report": folder / REPORT_FILES[0], "json": folder / REPORT_FILES[1]}
        # both files are made (and encoded) before either is written: a failure leaves
        # the folder's previous pair as it was, never a new audit.json beside an old report
        html = render_report(self).encode("utf-8")
        text = (json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n").encode("utf-8")
        atomic_write_bytes(paths["json"], text)
        atomic_write_bytes(paths["report"], html)
        return paths


def _jsonable(value: Any) -> Any:
    """Numpy → Python; NaN/inf → None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


# ----------------------------------------------------------------------- the audit
