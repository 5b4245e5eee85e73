"""``AuditResult``: the tables of an audit, its JSON form and its HTML report."""

from __future__ import annotations

from collections.abc import Mapping, Sized
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

    Parameters
    ----------
    model_kind : str
        ``"torch"`` (a classifier explained by a surrogate) or ``"cbm"``.
    space : str
        Where the concepts live: ``"features"``, ``"logits"`` or ``"embeddings"`` (CBM).
    concept_names : list of str
        The k concepts of the concept model (the surrogate, or the audited CBM).
    class_names : list of str
        Names of the surrogate's classes (the classes the model predicted on the fit part).
    classes : ndarray of int
        Model output index of each row of ``importance_by_class``.
    fidelity : dict
        ``agreement`` (surrogate vs model on the evaluation images), ``model_accuracy``,
        ``surrogate_accuracy``, ``n_fit``, ``n_eval``, ``exact``,
        ``n_model_classes_predicted``.
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
        ``worst_class``, ``worst_class_importance``, ``attribute_rate`` (at the worst
        class), ``context``.
    spurious_share : float
        Fraction in [0, 1] of the model's positive concept reliance that goes to
        non-attributes (``share`` of :func:`spurious_concept_scores`).
    examples : list of dict
        Per-image: ``index``, ``true``, ``predicted``, ``surrogate``, ``top``
        [(name, contribution)].
    example_images, example_maps : ndarray or None
        The example images (m, H, W, 3) and the maps of their top concepts (m, t, H, W).
    example_map_concepts : list of list of str, default []
        Per example image, the names of the ``t`` concepts of ``example_maps``.
    context_concepts : list of str, default []
        The concepts treated as context (never an attribute of a class).
    notes : list of str
        What was skipped or doubtful, and why.
    settings : dict
        The audit's parameters.
    timings : dict
        Seconds per step.
    concept_model : BaseConceptBottleneck, optional
        The fitted surrogate :class:`~bottlekit.bottleneck.PosthocCBM`, or the audited CBM
        itself. Not saved by :meth:`save`.
    information : dict or None
        Faithfulness metrics of the concept model
        (:func:`bottlekit.diagnostics.audit_information.information_section`): per-concept
        information, leakage, completeness, accuracy at NEC levels, intervention curves.

    Examples
    --------
    A result comes from :func:`audit`; a hand-made one, with only the fields these
    methods read, shows them:

    >>> import numpy as np
    >>> result = AuditResult(
    ...     model_kind="torch", space="features", concept_names=["red", "sky"],
    ...     class_names=["cardinal", "gull"], classes=np.array([0, 1]),
    ...     fidelity={"agreement": 0.9}, importance=np.array([1.0, 0.5]),
    ...     importance_by_class=np.array([[1.5, 0.0], [-0.5, 1.0]]),
    ...     importance_agreement=None, existence=None, location=None,
    ...     spurious=[{"concept": "sky", "score": 0.5}, {"concept": "red", "score": 0.0}],
    ...     spurious_share=0.4, examples=[])
    >>> result.top_spurious()
    ['sky']
    >>> [(row["concept"], row["top_class"]) for row in result.importance_table()]
    [('red', 'cardinal'), ('sky', 'gull')]
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
        # never raises: a hand-built result is checked where it is used (render_report),
        # and a repr that fails hides the object the error is about
        rows = list(self.spurious[:3]) if isinstance(self.spurious, (list, tuple)) else []
        top = [row.get("concept", "?") if isinstance(row, Mapping) else "?" for row in rows]
        fidelity = self.fidelity.get("agreement") if isinstance(self.fidelity, Mapping) else None
        n_concepts = len(self.concept_names) if isinstance(self.concept_names, Sized) else "?"
        return (
            f"AuditResult(model={self.model_kind}, concepts={n_concepts}, "
            f"fidelity={_shown_number(fidelity)}, "
            f"spurious_share={_shown_number(self.spurious_share)}, most spurious={top})"
        )

    def top_spurious(self, n: int = 5) -> list[str]:
        """Names of the ``n`` most spurious-looking concepts with a positive score.

        Parameters
        ----------
        n : int, default 5
            Most names returned (>= 0); fewer when fewer concepts score above 0.

        Returns
        -------
        list of str
            Concept names, most spurious-looking first.
        """
        from bottlekit._checks import check_number
        from bottlekit.diagnostics.report import _check_result_keys

        n = check_number(n, "n", integer=True, low=0)
        _check_result_keys(self, report=False)
        return [row["concept"] for row in self.spurious if row["score"] > 0][:n]

    def importance_table(self) -> list[dict[str, Any]]:
        """Concepts by decreasing global importance.

        Returns
        -------
        list of dict
            One row per concept: ``concept``, ``importance``, ``top_class`` (the class
            with the largest signed importance), ``top_class_importance`` and
            ``context`` (whether it is a context concept).
        """
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
        """JSON-serialisable tables (no images, maps or model).

        Returns
        -------
        dict
            Every field but ``example_images``, ``example_maps`` and ``concept_model``,
            plus ``importance_table``; arrays as lists, NaN and inf as None.
        """
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

        Parameters
        ----------
        folder : str or Path
            Folder to write into (created if missing); an earlier pair of files there is
            replaced.

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


def _shown_number(value: Any) -> str:
    """A number with three decimals, anything else as it is (``None``, a string)."""
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return f"{float(value):.3f}"
    return repr(value)


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
