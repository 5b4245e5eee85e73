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

    Parameters
    ----------
    concept_names : list of str
        The model's k concepts (``concept_names_``).
    classes : ndarray
        The model's ``classes_``.
    target : ndarray of int, shape (n,)
        Index into ``classes`` of the explained class of each image.
    activations : ndarray of shape (n, k)
        Concept activations :math:`a_{ij}` (the model's ``transform``).
    contributions : ndarray of shape (n, k)
        :math:`a_{ij} w_{t_i j}`, each concept's share of the target logit.
    intercept : ndarray of shape (n,)
        The head's intercept :math:`b_{t_i}` of each image's target class.
    residual : ndarray of shape (n,)
        The residual :math:`r_{i,t_i}` of a hybrid model; 0 otherwise.
    logits : ndarray of shape (n,)
        Logit of the target class; equals ``contributions.sum(1) + intercept + residual``.
    top_indices : ndarray of int, shape (n, top_k)
        Concepts in decreasing order of contribution.

    Examples
    --------
    Made by a model's ``explain`` (e.g. :meth:`PosthocCBM.explain`); by hand, one image:

    >>> import numpy as np
    >>> e = ConceptExplanation(
    ...     concept_names=["red", "crest"], classes=np.array(["gull", "cardinal"]),
    ...     target=np.array([1]), activations=np.ones((1, 2)),
    ...     contributions=np.array([[0.5, 2.0]]), intercept=np.array([0.25]),
    ...     residual=np.zeros(1), logits=np.array([2.75]), top_indices=np.array([[1, 0]]))
    >>> len(e), str(e.target_names()[0]), e.top(0)
    (1, 'cardinal', [('crest', 2.0), ('red', 0.5)])
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

        Parameters
        ----------
        i : int
            Row of the image, in ``0..n-1``.

        Returns
        -------
        list of (str, float)
            The ``top_k`` concepts of ``top_indices[i]``, largest contribution first.

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
        """The explained class label of each image.

        Returns
        -------
        list
            ``classes[target[i]]`` for each image, length n.
        """
        return [self.classes[t] for t in self.target]
