"""Input checks shared by the faithfulness metrics: a fitted CBM, embeddings, a dataset."""

from __future__ import annotations

from typing import Any

import numpy as np

from bottlekit._arrays import as_real_array
from bottlekit._checks import check_number
from bottlekit.datasets import ConceptDataset, as_concept_dataset

__all__ = [
    "check_at_most",
    "check_embeddings",
    "check_fitted_cbm",
    "check_int_at_least",
    "concept_label_columns",
    "dataset_of",
    "model_class_labels",
]


def check_fitted_cbm(model: Any, name: str = "model") -> Any:
    """``model`` if it is a fitted bottlekit concept-bottleneck model, else a clear error."""
    from bottlekit.bottleneck import BaseConceptBottleneck

    if not isinstance(model, BaseConceptBottleneck):
        raise TypeError(
            f"{name}: expected a fitted bottlekit concept-bottleneck model (PosthocCBM, LaBo, "
            f"LabelFreeCBM, KnowledgeCBM, or the surrogate of an audit), got "
            f"{type(model).__name__}"
        )
    if not hasattr(model, "coef_"):
        raise ValueError(f"{name}: the {type(model).__name__} is not fitted; call fit first")
    return model


def dataset_of(data: Any, name: str = "dataset") -> ConceptDataset:
    """``data`` as a :class:`~bottlekit.datasets.ConceptDataset` (a dict of its fields is fine)."""
    if data is None:
        raise TypeError(f"{name}: expected a ConceptDataset, got None")
    return as_concept_dataset(data, name=name)


def check_embeddings(model: Any, X: Any, data: ConceptDataset, name: str = "X") -> np.ndarray:
    """Embeddings ``X`` of ``data``'s images: (n, d) finite floats, ``n == len(data)``."""
    X = check_embedding_array(model, X, name)
    if X.shape[0] != len(data):
        raise ValueError(
            f"{name}: has {X.shape[0]} rows but the dataset has {len(data)} images; give the "
            "embeddings of the dataset's images, one row per image, in order"
        )
    return X


def check_embedding_array(model: Any, X: Any, name: str = "X") -> np.ndarray:
    """Embeddings ``X`` for ``model``: (n, d) finite real numbers, ``d`` the model's input
    width (text, NaN or another width used to fail inside scikit-learn)."""
    X = as_real_array(X, name)
    if X.ndim != 2:
        raise ValueError(f"{name}: expected embeddings of shape (n_images, d), got {X.shape}")
    d = getattr(model, "n_features_in_", X.shape[1])
    if X.shape[1] != d:
        raise ValueError(f"{name}: has {X.shape[1]} columns but the model expects {d} features")
    if not np.isfinite(X).all():
        raise ValueError(f"{name}: contains NaN or inf; expected finite embeddings")
    return X


def concept_label_columns(
    model: Any, data: ConceptDataset, name: str = "dataset", *, required: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Match the model's concepts to the dataset's concept labels by name.

    Returns
    -------
    model_cols, data_cols : int arrays
        ``model.concept_names_[model_cols[i]]`` is ``data.concept_names[data_cols[i]]``.
    """
    if data.concept_labels is None:
        if required:
            raise ValueError(
                f"{name}: has no concept_labels (per-image concept annotations); this metric "
                "compares the model's concept activations with them"
            )
        return np.arange(0, dtype=np.int64), np.arange(0, dtype=np.int64)
    index = {c: j for j, c in enumerate(data.concept_names)}
    pairs = [(i, index[c]) for i, c in enumerate(model.concept_names_) if c in index]
    if not pairs and required:
        raise ValueError(
            f"{name}: none of the model's concepts ({list(model.concept_names_)[:4]}...) is "
            f"among the dataset's labelled concepts ({list(data.concept_names)[:4]}...); "
            "concepts are matched by name"
        )
    if not pairs:
        return np.arange(0, dtype=np.int64), np.arange(0, dtype=np.int64)
    m, d = zip(*pairs, strict=True)
    return np.asarray(m, dtype=np.int64), np.asarray(d, dtype=np.int64)


def binary_labels(L: np.ndarray) -> np.ndarray:
    """Concept labels as 0/1 integers (soft labels are thresholded at 0.5)."""
    return (np.asarray(L, dtype=np.float64) >= 0.5).astype(np.int64)


def check_at_most(value: int, name: str, most: int, what: str) -> int:
    """``value`` if it is at most ``most``; else a ValueError saying the data are too few."""
    if value > most:
        raise ValueError(
            f"{name}: {value} is too many {what} for these data; expected at most {most}"
        )
    return value


def check_int_at_least(value: Any, name: str, low: int) -> int:
    """``value`` as an int >= ``low`` (bools refused)."""
    return int(check_number(value, name, integer=True, low=low))


def model_class_labels(model: Any, data: ConceptDataset, name: str = "dataset") -> np.ndarray:
    """The class of each image of ``data`` as ``model.classes_`` names it, to compare with
    ``model.predict``.

    A dataset's labels are class indices; a model fitted on class names (strings) has
    the names as ``classes_``, so the indices are read through ``data.class_names``
    (compared as they were, names against indices, every prediction counted as wrong).
    Refused when no image's class is a class of the model.
    """
    y = np.asarray(data.labels)
    classes = np.asarray(model.classes_)
    if classes.dtype.kind in "UO" and y.dtype.kind in "iu":
        y = np.asarray(data.class_names)[y]
    if len(y) and not np.isin(y, classes).any():
        raise ValueError(
            f"{name}.labels: none of the images' classes ({np.unique(y)[:4].tolist()}) is a "
            f"class of the model ({classes[:4].tolist()}); the model's classes_ and the "
            "dataset's labels (or class_names) must name the same classes"
        )
    return y
