r"""Concept global importance: what the head of a concept-bottleneck model relies on.

Aysel, Cai & Prügel-Bennett (2025), concept global importance metric: read each concept's
importance for each class off the fitted linear head, and compare it with how strongly
the concept is associated with the class in the data (the ground truth). A head whose
important concepts are not the ones the classes show relies on correlations, not on the
concepts it names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bottlekit._arrays import as_real_array
from bottlekit._checks import repeated_items
from bottlekit.concepts.errors import UnknownConceptError

__all__ = ["GlobalImportance", "concept_global_importance"]


@dataclass(repr=False)
class GlobalImportance:
    """Per-class and per-concept importance from a fitted head.

    Parameters
    ----------
    concept_names : list of str
        The model's k concepts.
    classes : ndarray
        The model's ``classes_``.
    by_class : ndarray of shape (n_classes, k)
        Signed importance :math:`I_{cj} = w_{cj} s_j`.
    importance : ndarray of shape (k,)
        :math:`\\frac1C\\sum_c |I_{cj}|`.
    correlation : ndarray of shape (n_classes,) or None
        Per class, the Pearson correlation between :math:`I_{c\\cdot}` and the ground-truth
        class–concept association (NaN where either row is constant); None without it.

    Examples
    --------
    Made by :func:`concept_global_importance`:

    >>> import numpy as np
    >>> gi = GlobalImportance(
    ...     concept_names=["red", "crest", "sky"], classes=np.array([0, 1]),
    ...     by_class=np.array([[2.0, 0.5, 0.0], [-1.0, 0.5, 3.0]]),
    ...     importance=np.array([1.5, 0.5, 1.5]))
    >>> gi.ranking()
    ['red', 'sky', 'crest']
    >>> gi.to_dict()["importance"]
    {'red': 1.5, 'crest': 0.5, 'sky': 1.5}
    """

    concept_names: list[str]
    classes: np.ndarray
    by_class: np.ndarray
    importance: np.ndarray
    correlation: np.ndarray | None = None

    def __repr__(self) -> str:
        corr = (
            "" if self.correlation is None else f", mean_correlation={self.mean_correlation:.3f}"
        )
        return (
            f"GlobalImportance(classes={len(self.classes)}, "
            f"concepts={len(self.concept_names)}{corr})"
        )

    @property
    def mean_correlation(self) -> float | None:
        """Mean over classes of :attr:`correlation` (ignoring NaN); None without ground truth."""
        if self.correlation is None:
            return None
        finite = self.correlation[~np.isnan(self.correlation)]
        return float(finite.mean()) if finite.size else float("nan")

    def ranking(self) -> list[str]:
        """Concept names in decreasing order of :attr:`importance`.

        Returns
        -------
        list of str
            All k concept names, most important first (ties in model order).
        """
        order = np.argsort(-self.importance, kind="stable")
        return [self.concept_names[j] for j in order]

    def to_dict(self) -> dict[str, Any]:
        """Summary as plain Python numbers (JSON-able).

        Returns
        -------
        dict
            ``importance`` (``{concept: float}``) and ``ranking`` (list of str); with a
            ground truth also ``mean_correlation`` and ``correlation``
            (``{str(class): float}``).
        """
        out: dict[str, Any] = {
            "importance": {
                name: float(v) for name, v in zip(self.concept_names, self.importance, strict=True)
            },
            "ranking": self.ranking(),
        }
        if self.correlation is not None:
            out["mean_correlation"] = self.mean_correlation
            out["correlation"] = {
                str(c): float(v)
                for c, v in zip(self.classes.tolist(), self.correlation, strict=True)
            }
        return out


def _pearson_rows(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    a = A - A.mean(1, keepdims=True)
    b = B - B.mean(1, keepdims=True)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(1) / np.where(den > 0, den, 1.0), np.nan)


def _axis_names(given: Any, arg: str, n: int, axis: str) -> list[str]:
    """``given`` as the list of the ``n`` names of ``class_concept_matrix``'s ``axis``
    ("rows" or "columns"): a list (not a string), unique, one per entry."""
    if isinstance(given, str) or not isinstance(given, Sequence | np.ndarray):
        raise TypeError(f"{arg}: expected a list of {n} names, got {type(given).__name__}")
    listed = [str(c) for c in given]
    repeated = repeated_items(listed)
    if repeated:
        raise ValueError(f"{arg}: expected unique names, {repeated[:5]} repeat")
    if len(listed) != n:
        raise ValueError(f"{arg}: {len(listed)} names for {n} {axis} of class_concept_matrix")
    return listed


def _rows_of_classes(class_names: Any, classes: np.ndarray, n_rows: int) -> list[int]:
    """The row of ``class_concept_matrix`` of each of the model's ``classes``, matched by
    name in ``class_names`` (the names of its ``n_rows`` rows)."""
    listed = _axis_names(class_names, "class_names", n_rows, "rows")
    row = {c: i for i, c in enumerate(listed)}  # (a dict: list lookups were quadratic)
    missing = [str(c) for c in classes if str(c) not in row]
    if missing:
        raise ValueError(
            f"class_names: the model's classes {missing[:5]} are not among them; expected "
            "the names of class_concept_matrix's rows, which must include every class the "
            "model was fitted on (a model fitted on class indices: leave class_names out "
            "and give the rows in classes_ order)"
        )
    return [row[str(c)] for c in classes]


def concept_global_importance(
    model: Any,
    class_concept_matrix: Any = None,
    *,
    concept_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
) -> GlobalImportance:
    r"""Importance of each concept for each class, read off the fitted head.

    .. math::

        I_{cj} = w_{cj}\, s_j, \qquad \text{importance}_j = \frac1C \sum_c |I_{cj}|,

    with :math:`w` the head's weights (``coef_``) and :math:`s_j` the training standard
    deviation of concept :math:`j`'s activation (``concept_scale_``, 1 if the model has
    none): the change of the class-:math:`c` logit for a one-standard-deviation change of
    the concept, so concepts on different scales compare (this is
    ``model.global_importance``).

    With a ground-truth class–concept matrix :math:`G` (e.g. ``World.class_concept_matrix``,
    :math:`P(\text{concept}\mid\text{class})`), the concept global importance metric is
    read as agreement: per class, the Pearson correlation between :math:`I_{c\cdot}` and
    :math:`G_{c\cdot}` over the concepts, and its mean over classes. The paper weighs the
    head's class–concept weights against the annotations; its text was not available to
    this implementation, so the scaling by :math:`s_j` and the choice of Pearson's
    correlation per class are bottlekit's.

    Parameters
    ----------
    model : fitted concept-bottleneck model
        With ``coef_`` (n_classes, k), ``concept_names_`` and ``classes_``.
    class_concept_matrix : array of shape (n_classes, K), optional
        Ground-truth association of each class (rows in ``model.classes_`` order, or
        named by ``class_names``) with each concept.
    concept_names : list of str, optional
        Names of the K columns of ``class_concept_matrix``; the model's concepts are
        matched by name. Without it the columns must be the model's concepts in order.
    class_names : list of str, optional
        Names of the rows of ``class_concept_matrix``; the model's classes (``classes_``,
        names) are matched by name. Without it the rows must be the model's classes in
        order: a model fitted on class names has them sorted (scikit-learn's
        ``classes_``), so ``World.class_concept_matrix``, in species order, needs
        ``class_names=world.class_names``.

    Returns
    -------
    GlobalImportance
        ``by_class`` :math:`I`, ``importance`` and, with ``class_concept_matrix``, the
        per-class ``correlation`` and its ``mean_correlation``.

    Examples
    --------
    >>> gi = concept_global_importance(model, world.class_concept_matrix,
    ...                                concept_names=world.concept_names)  # doctest: +SKIP
    >>> gi.ranking()[:3], gi.mean_correlation  # doctest: +SKIP
    """
    coef = getattr(model, "coef_", None)
    names = getattr(model, "concept_names_", None)
    if coef is None or names is None:
        raise TypeError(
            "model: expected a fitted concept-bottleneck model (coef_, concept_names_), "
            f"got {type(model).__name__}"
        )
    names = list(names)
    W = as_real_array(coef, "model.coef_")
    if W.ndim != 2 or W.shape[1] != len(names):
        raise ValueError(f"model.coef_: expected shape (n_classes, {len(names)}), got {W.shape}")
    if not np.isfinite(W).all():
        raise ValueError("model.coef_: contains NaN or inf; expected a fitted head")
    scale = getattr(model, "concept_scale_", None)
    s = np.ones(len(names)) if scale is None else as_real_array(scale, "model.concept_scale_")
    if s.shape != (len(names),) or not np.isfinite(s).all() or (s < 0).any():
        raise ValueError(
            f"model.concept_scale_: expected {len(names)} finite standard deviations >= 0 "
            f"(one per concept), got shape {s.shape}"
            + (f" with values in [{s.min():g}, {s.max():g}]" if s.size else "")
        )
    by_class = W * s
    classes = np.asarray(getattr(model, "classes_", np.arange(W.shape[0])))
    corr = None
    if class_concept_matrix is not None:
        G = as_real_array(class_concept_matrix, "class_concept_matrix")
        if class_names is not None and G.ndim == 2:
            G = G[_rows_of_classes(class_names, classes, G.shape[0])]
        if G.ndim != 2 or G.shape[0] != W.shape[0]:
            raise ValueError(
                f"class_concept_matrix: expected shape (n_classes={W.shape[0]}, K), got {G.shape}"
            )
        if not np.isfinite(G).all():
            raise ValueError("class_concept_matrix: contains NaN or inf")
        if concept_names is None:
            if G.shape[1] != len(names):
                raise ValueError(
                    f"class_concept_matrix: has {G.shape[1]} columns for the model's "
                    f"{len(names)} concepts; pass concept_names to align them by name"
                )
        else:
            cn = _axis_names(concept_names, "concept_names", G.shape[1], "columns")
            column = {c: i for i, c in enumerate(cn)}  # (list lookups were quadratic)
            missing = [c for c in names if c not in column]
            if missing:
                raise UnknownConceptError(
                    missing,
                    cn,
                    "concept_names",
                    known_as="the names of class_concept_matrix's columns (the model's "
                    "concepts that are not columns of it cannot be compared)",
                )
            G = G[:, [column[c] for c in names]]
        corr = _pearson_rows(by_class, G)
    return GlobalImportance(names, classes, by_class, np.abs(by_class).mean(0), corr)
