r"""Concept existence: are the concepts that explain a prediction actually in the image?

Aysel, Cai & Prügel-Bennett (2025), concept existence metric: for each image, take the
top-k concepts of the model's explanation (largest contributions
:math:`a_j(x)\,w_{t j}` to the logit of the explained class :math:`t`) and check them
against the image's concept annotations. bottlekit reports precision@k, overall, per rank
and per explained class, next to its chance level.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bottlekit._arrays import as_binary_array
from bottlekit._checks import repeated_items
from bottlekit.concepts.errors import UnknownConceptError
from bottlekit.diagnostics.faithfulness._inputs import check_embedding_array

__all__ = ["ExistenceResult", "concept_existence"]


@dataclass(repr=False)
class ExistenceResult:
    """How often the top-k concepts of each explanation are present in the image.

    Parameters
    ----------
    concept_names : list of str
        The model's concepts.
    classes : ndarray
        The model's ``classes_``.
    top_indices : ndarray of int, shape (n, top_k)
        Top concepts of each image (indices into ``concept_names``), by contribution.
    present : ndarray of bool, shape (n, top_k)
        Whether each of them is annotated as present.
    target : ndarray of int, shape (n,)
        Index into ``classes`` of the explained class of each image.
    chance : float
        Expected precision of k concepts drawn at random from the model's concepts: the
        mean fraction of the model's concepts present in an image.

    Examples
    --------
    Made by :func:`concept_existence`; two images, their top 2 concepts each:

    >>> import numpy as np
    >>> res = ExistenceResult(
    ...     concept_names=["red", "crest", "sky"], classes=np.array([0, 1]),
    ...     top_indices=np.array([[0, 1], [2, 0]]),
    ...     present=np.array([[True, True], [False, True]]),
    ...     target=np.array([0, 1]), chance=0.5)
    >>> res.precision, res.by_rank.tolist(), res.per_class.tolist()
    (0.75, [0.5, 1.0], [1.0, 0.5])
    """

    concept_names: list[str]
    classes: np.ndarray
    top_indices: np.ndarray
    present: np.ndarray
    target: np.ndarray
    chance: float

    def __repr__(self) -> str:
        return (
            f"ExistenceResult(n={len(self.target)}, top_k={self.top_k}, "
            f"precision={self.precision:.3f}, chance={self.chance:.3f})"
        )

    @property
    def top_k(self) -> int:
        """Concepts checked per image."""
        return int(self.present.shape[1])

    @property
    def precision(self) -> float:
        """Precision@k: fraction of all top-k concepts that are present."""
        return float(self.present.mean())

    @property
    def per_image(self) -> np.ndarray:
        """Precision@k of each image, shape (n,)."""
        return self.present.mean(1)

    @property
    def by_rank(self) -> np.ndarray:
        """Fraction present at each rank 1..k, shape (top_k,)."""
        return self.present.mean(0)

    @property
    def per_class(self) -> np.ndarray:
        """Precision@k over the images explained for each class, shape (n_classes,), NaN
        for a class no image was explained for."""
        C = len(self.classes)
        count = np.bincount(self.target, minlength=C)
        total = np.bincount(self.target, weights=self.per_image, minlength=C)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    def to_dict(self) -> dict[str, Any]:
        """Summary as plain Python numbers (JSON-able).

        Returns
        -------
        dict
            ``n_images``, ``top_k``, ``precision``, ``chance``, ``by_rank`` (list of
            ``top_k`` floats) and ``per_class`` (``{str(class): precision}``).
        """
        return {
            "n_images": len(self.target),
            "top_k": self.top_k,
            "precision": self.precision,
            "chance": self.chance,
            "by_rank": [float(v) for v in self.by_rank],
            "per_class": {
                str(c): float(v)
                for c, v in zip(self.classes.tolist(), self.per_class, strict=True)
            },
        }


def _label_columns(
    concept_names: list[str], label_names: Sequence[str] | None, n_cols: int
) -> np.ndarray:
    if label_names is None:
        if n_cols != len(concept_names):
            raise ValueError(
                f"concept_labels: has {n_cols} columns but the model has {len(concept_names)} "
                "concepts; pass label_names to align them by name"
            )
        return np.arange(n_cols)
    if isinstance(label_names, str) or not isinstance(label_names, Sequence | np.ndarray):
        raise TypeError(
            f"label_names: expected a list of {n_cols} names, got "
            + ("a str" if isinstance(label_names, str) else type(label_names).__name__)
        )
    label_names = [str(s) for s in label_names]
    repeated = repeated_items(label_names)
    if repeated:
        raise ValueError(f"label_names: expected unique names, {repeated[:5]} repeat")
    if len(label_names) != n_cols:
        raise ValueError(f"label_names: has {len(label_names)} names for {n_cols} label columns")
    # (a dict: looking each name up in the list took minutes for 100,000 concepts)
    column = {c: i for i, c in enumerate(label_names)}
    missing = [c for c in concept_names if c not in column]
    if missing:
        raise UnknownConceptError(
            missing,
            label_names,
            "label_names",
            known_as="the label columns (the model's concept has no label column; existence "
            "can only be judged for annotated concepts)",
        )
    return np.array([column[c] for c in concept_names], dtype=np.intp)


def _is_dataset(value: Any) -> bool:
    return isinstance(value, Mapping) or (hasattr(value, "images") and hasattr(value, "labels"))


def _dataset_labels(data: Any, label_names: Sequence[str] | None):
    """The concept labels and names of a dataset given as ``concept_labels``."""
    from bottlekit.datasets import as_concept_dataset

    ds = as_concept_dataset(data, name="concept_labels")
    if ds.concept_labels is None:
        raise ValueError(
            "concept_labels: the dataset has no per-image concept_labels; existence needs them"
        )
    # soft labels (allowed in a dataset) binarised at 0.5, as the faithfulness metrics do
    # (they were refused as "concept_labels: expected 0/1", which they may be in a dataset)
    labels = np.asarray(ds.concept_labels) >= 0.5
    return labels, ds.concept_names if label_names is None else label_names


def concept_existence(
    model: Any,
    X: Any,
    concept_labels: Any,
    top_k: int = 5,
    *,
    label_names: Sequence[str] | None = None,
    target: Any = None,
) -> ExistenceResult:
    r"""Precision@k of the concepts that explain each prediction.

    With :math:`T_k(x)` the k concepts of largest contribution
    :math:`a_j(x)\,w_{t j}` to the logit of the explained class :math:`t`
    (:meth:`BaseConceptBottleneck.explain`) and :math:`y_j(x) \in \{0, 1\}` the annotation,

    .. math::

        \text{precision@}k = \frac{1}{nk} \sum_{i=1}^n \sum_{j \in T_k(x_i)} y_j(x_i).

    Choices made here (the paper's text was not available to this implementation): the
    concepts are ranked by signed contribution, as ``explain`` does (a concept with a
    negative contribution argues *against* the class and ranks last); the explained class
    is the predicted one unless ``target`` is given; per-class precision groups images by
    the explained class. The chance level is the precision of k concepts drawn uniformly
    at random, the mean fraction of the model's concepts present in an image.

    Parameters
    ----------
    model : fitted concept-bottleneck model
        Anything with ``explain(X, top_k, target)``, ``concept_names_`` and ``classes_``.
    X : array of shape (n, d)
        Embeddings of the images.
    concept_labels : 0/1 array of shape (n, K), or a ConceptDataset, World or dict
        Presence of each annotated concept in each image; or a dataset (see
        :func:`bottlekit.datasets.as_concept_dataset`) whose ``concept_labels`` (soft
        labels binarised at 0.5) and ``concept_names`` (as ``label_names``, unless given)
        are used.
    top_k : int, default 5
        Concepts checked per image (at most the model's number of concepts).
    label_names : list of str, optional
        Names of the K label columns; the model's concepts are matched to them by name.
        Without it, the columns must be the model's ``concept_names_`` in order.
    target : label or array of labels, optional
        Class explained for each image (e.g. the true labels); default the predicted class.

    Returns
    -------
    ExistenceResult
        The top-k concepts of each image and whether each is present; its
        ``precision``, ``by_rank`` and ``per_class`` summarise them next to ``chance``.

    Examples
    --------
    >>> res = concept_existence(model, X_test, world.concept_labels, top_k=3,
    ...                         label_names=world.concept_names)  # doctest: +SKIP
    >>> res.precision, res.chance  # doctest: +SKIP
    (0.81, 0.19)
    """
    names = getattr(model, "concept_names_", None)
    if names is None or not callable(getattr(model, "explain", None)):
        raise TypeError(
            "model: expected a fitted concept-bottleneck model (explain, concept_names_), "
            f"got {type(model).__name__}"
        )
    names = list(names)
    if _is_dataset(concept_labels):
        concept_labels, label_names = _dataset_labels(concept_labels, label_names)
    if not isinstance(top_k, numbers.Integral) or isinstance(top_k, bool) or top_k < 1:
        raise ValueError(f"top_k: expected an int >= 1, got {top_k!r}")
    if top_k > len(names):
        raise ValueError(f"top_k: {top_k} is more than the model's {len(names)} concepts")
    labels = np.asarray(concept_labels)
    if labels.ndim != 2:
        raise ValueError(f"concept_labels: expected shape (n, K), got {labels.shape}")
    labels = as_binary_array(labels, "concept_labels")
    X = check_embedding_array(model, X, "X")
    n = X.shape[0]
    if n != labels.shape[0]:
        raise ValueError(f"concept_labels: has {labels.shape[0]} rows but X has {n} images")
    if n == 0:
        raise ValueError("X: got no images; expected at least one")
    cols = _label_columns(names, label_names, labels.shape[1])
    expl = model.explain(X, top_k=int(top_k), target=target)
    top = np.asarray(expl.top_indices)
    aligned = labels[:, cols]  # (n, k) in the model's concept order
    present = np.take_along_axis(aligned, top, axis=1)
    return ExistenceResult(
        concept_names=names,
        classes=np.asarray(model.classes_),
        top_indices=top,
        present=present,
        target=np.asarray(expl.target),
        chance=float(aligned.mean()),
    )
