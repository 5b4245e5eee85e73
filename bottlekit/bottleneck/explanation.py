"""``ConceptExplanation``: per-image concept contributions of a concept-bottleneck model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ConceptExplanation"]


@dataclass(repr=False)
class ConceptExplanation:
    r"""Why a concept-bottleneck model gave each image its logit for one class.

    For image :math:`i` and its target class :math:`t_i` the logit decomposes exactly as

    .. math:: z_{i,t_i} = \sum_j a_{ij} w_{t_i j} + b_{t_i} + r_{i,t_i}

    with concept activations :math:`a`, head weights :math:`w`, intercept :math:`b` and
    the residual :math:`r` of a hybrid model (0 otherwise);
    ``contributions[i, j]`` is :math:`a_{ij} w_{t_i j}`.

    Attributes
    ----------
    concept_names : list of str
    classes : ndarray
        The model's ``classes_``.
    target : ndarray of int, shape (n,)
        Index into ``classes`` of the explained class of each image.
    activations : ndarray of shape (n, k)
    contributions : ndarray of shape (n, k)
    intercept : ndarray of shape (n,)
    residual : ndarray of shape (n,)
    logits : ndarray of shape (n,)
        Logit of the target class; equals ``contributions.sum(1) + intercept + residual``.
    top_indices : ndarray of int, shape (n, top_k)
        Concepts in decreasing order of contribution.
    """

    concept_names: list[str]
    classes: np.ndarray
    target: np.ndarray
    activations: np.ndarray
    contributions: np.ndarray
    intercept: np.ndarray
    residual: np.ndarray
    logits: np.ndarray
    top_indices: np.ndarray

    def __len__(self) -> int:
        return len(self.target)

    def __repr__(self) -> str:
        return (
            f"ConceptExplanation(n={len(self)}, concepts={len(self.concept_names)}, "
            f"top_k={self.top_indices.shape[1]})"
        )

    def top(self, i: int) -> list[tuple[str, float]]:
        """The top concepts of image ``i`` as ``(name, contribution)`` pairs.

        Examples
        --------
        >>> import numpy as np
        >>> e = ConceptExplanation(["a", "b"], np.array([0, 1]), np.array([1]),
        ...     np.ones((1, 2)), np.array([[0.5, 2.0]]), np.zeros(1), np.zeros(1),
        ...     np.array([2.5]), np.array([[1, 0]]))
        >>> e.top(0)
        [('b', 2.0), ('a', 0.5)]
        """
        return [
            (self.concept_names[j], float(self.contributions[i, j])) for j in self.top_indices[i]
        ]

    def target_names(self) -> list:
        """The explained class label of each image."""
        return [self.classes[t] for t in self.target]
