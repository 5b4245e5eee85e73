r"""Per-concept information: does each activation track its concept, and the label?

For concept :math:`j` with activation :math:`a_j` (continuous), label :math:`c_j` (binary)
and class :math:`Y`:

.. math::

    I(a_j; c_j) \le H(c_j) \le \log 2, \qquad I(a_j; Y) \le H(Y),

both estimated with Ross's k-NN estimator for a continuous variable and a discrete one
(:class:`bottlekit.estimators.DiscreteContinuousMutualInformation`). A faithful concept
has a high :math:`I(a_j; c_j)` (reported also as the share of :math:`H(c_j)`); an
activation with a high :math:`I(a_j; Y)` but a low :math:`I(a_j; c_j)` informs the head
about the class through something other than its concept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bottlekit.diagnostics.faithfulness._inputs import (
    binary_labels,
    check_at_most,
    check_embeddings,
    check_fitted_cbm,
    check_int_at_least,
    concept_label_columns,
    dataset_of,
)

__all__ = ["ConceptInformation", "concept_information"]


@dataclass
class ConceptInformation:
    """What :func:`concept_information` measured (nats).

    Parameters
    ----------
    concept_names : list of str
        The model's concepts, in the order of the arrays.
    with_concept : ndarray (k,)
        :math:`\\hat I(a_j; c_j)`; NaN without a label for the concept.
    concept_entropy : ndarray (k,)
        :math:`H(c_j)` (plug-in), the ceiling of ``with_concept``.
    with_label : ndarray (k,)
        :math:`\\hat I(a_j; Y)`.
    label_entropy : float
        :math:`H(Y)` (plug-in).
    notes : list of str, default []
        What could not be estimated, and why.

    Examples
    --------
    >>> info = ConceptInformation(["red", "blue"], np.array([0.3, np.nan]),
    ...                           np.array([0.6, 0.5]), np.array([0.2, 0.1]), 1.0)
    >>> info.concept_share.tolist()
    [0.5, nan]
    >>> info.to_dict()["per_concept"]["red"]["concept_share"]
    0.5
    """

    concept_names: list[str]
    with_concept: np.ndarray
    concept_entropy: np.ndarray
    with_label: np.ndarray
    label_entropy: float
    notes: list[str] = field(default_factory=list)

    @property
    def concept_share(self) -> np.ndarray:
        """:math:`I(a_j; c_j) / H(c_j)` (NaN where :math:`H(c_j) = 0` or unlabelled)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(
                self.concept_entropy > 0, self.with_concept / self.concept_entropy, np.nan
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready table, one row per concept.

        Returns
        -------
        dict
            ``label_entropy``, ``per_concept`` (concept name to its ``with_concept``,
            ``concept_entropy``, ``concept_share`` and ``with_label``) and ``notes``.
        """
        share = self.concept_share
        return {
            "label_entropy": float(self.label_entropy),
            "per_concept": {
                c: {
                    "with_concept": float(self.with_concept[j]),
                    "concept_entropy": float(self.concept_entropy[j]),
                    "concept_share": float(share[j]),
                    "with_label": float(self.with_label[j]),
                }
                for j, c in enumerate(self.concept_names)
            },
            "notes": list(self.notes),
        }


def _entropy(codes: np.ndarray) -> float:
    p = np.bincount(codes) / len(codes)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def concept_information(
    model: Any, X: Any, dataset: Any, *, k: int = 3, random_state: int = 0
) -> ConceptInformation:
    r"""Per concept, :math:`I(a_j; c_j)` and :math:`I(a_j; Y)` in nats.

    Ross (2014) k-NN estimator of the mutual information between a continuous activation
    and a discrete label (``mutual_information(..., method="ksg_discrete")``); see the
    module docstring. Concepts are matched to ``dataset.concept_names`` by name; soft
    labels are binarised at 0.5. A constant activation (e.g. a concept no image
    activates) carries no information: 0.

    Parameters
    ----------
    model : fitted BaseConceptBottleneck
        A bottlekit CBM (e.g. :class:`~bottlekit.bottleneck.PosthocCBM`), or the concept
        surrogate of :func:`~bottlekit.diagnostics.audit`.
    X : array of shape (n, d)
        Embeddings of ``dataset``'s images.
    dataset : ConceptDataset
        Labels; ``concept_labels`` for :math:`I(a_j; c_j)` (without them it is NaN).
    k : int, default 3
        Neighbours of the k-NN estimator.
    random_state : int, default 0
        Seed of the estimator's tie-breaking noise.

    Returns
    -------
    ConceptInformation
        Per concept, ``with_concept`` :math:`I(a_j; c_j)` and ``with_label``
        :math:`I(a_j; Y)`, next to their ceilings ``concept_entropy`` and
        ``label_entropy`` (nats).

    Examples
    --------
    >>> import numpy as np
    >>> from bottlekit.bottleneck import PosthocCBM
    >>> from bottlekit.concepts import ConceptBank
    >>> from bottlekit.datasets import ConceptDataset
    >>> rng = np.random.default_rng(0)
    >>> c = rng.integers(0, 2, 4000); y = c.copy()
    >>> X = np.stack([c + rng.random(4000), rng.standard_normal(4000)], 1)
    >>> bank = ConceptBank(["c"], np.eye(1, 2), "toy", provenance=[{"kind": "cav"}])
    >>> cbm = PosthocCBM(bank).fit(X, y)
    >>> ds = ConceptDataset(np.zeros((4000, 8, 8, 3), np.uint8), labels=y,
    ...                     concept_names=["c"], concept_labels=c[:, None])
    >>> info = concept_information(cbm, X, ds)     # a | c ~ U(c, c + 1): I = log 2
    >>> round(float(info.with_concept[0]), 2), round(float(np.log(2)), 2)
    (0.69, 0.69)
    """
    from bottlekit.estimators import mutual_information

    model = check_fitted_cbm(model)
    data = dataset_of(dataset)
    X = check_embeddings(model, X, data)
    k = check_at_most(check_int_at_least(k, "k", 1), "k", len(X) - 1, "neighbours of an image")
    random_state = check_int_at_least(random_state, "random_state", 0)
    mcols, dcols = concept_label_columns(model, data, required=False)
    A = model.transform(X)
    y = np.asarray(data.labels, dtype=np.int64)
    K = A.shape[1]
    with_c, h_c, with_y = np.full(K, np.nan), np.full(K, np.nan), np.full(K, np.nan)
    notes: list[str] = []
    if data.concept_labels is None:
        notes.append("concept information: no concept labels, I(a_j; c_j) not measured")
    opts = {"method": "ksg_discrete", "k": k, "random_state": random_state}
    constant = np.ptp(A, axis=0) == 0
    for j in range(K):
        with_y[j] = 0.0 if constant[j] else mutual_information(A[:, j], y, **opts)
    if mcols.size:
        C = binary_labels(data.concept_labels[:, dcols])
        for i, j in enumerate(mcols):
            h_c[j] = _entropy(C[:, i])
            if constant[j] or h_c[j] == 0:
                with_c[j] = 0.0
            else:
                with_c[j] = mutual_information(A[:, j], C[:, i], **opts)
    return ConceptInformation(
        concept_names=list(model.concept_names_),
        with_concept=with_c,
        concept_entropy=h_c,
        with_label=with_y,
        label_entropy=_entropy(np.unique(y, return_inverse=True)[1].ravel()),
        notes=notes,
    )
