r"""Completeness of a concept bottleneck (Yeh et al. 2020), against random directions.

Yeh, Kim, Arik, Li, Pfister & Ravikumar (NeurIPS 2020), "On completeness-aware
concept-based explanations in deep neural networks": a set of concepts is complete when
the class can be predicted from the concept scores as well as from the features,

.. math::

    \eta = \frac{\sup_g \Pr[y = g(a(x))] - a_r}{\Pr[y = f(x)] - a_r},

with :math:`a(x)` the concept activations, :math:`f` the predictor on the backbone's
features (here a linear probe on the embeddings) and :math:`a_r` the accuracy of
predicting the most frequent class. The supremum over :math:`g` is taken, as for the
probe, by a multinomial logistic regression on the (standardised) activations.
Any :math:`k` directions keep some of the features' information, so :math:`\eta` is
compared with :math:`\eta_{\text{rand}}`, the mean completeness of :math:`k` random
Gaussian directions (projected like the model's concepts), and reported as well as

.. math::

    \eta_{\text{rel}} = \frac{\eta - \eta_{\text{rand}}}{1 - \eta_{\text{rand}}}

(1: complete; 0: no better than random directions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bottlekit._checks import check_number
from bottlekit.diagnostics.faithfulness._inputs import (
    check_embeddings,
    check_fitted_cbm,
    check_int_at_least,
    dataset_of,
    model_class_labels,
)

__all__ = ["MAX_N_RANDOM", "CompletenessResult", "concept_completeness"]

MAX_N_RANDOM = 1000
"""Most random baselines ``n_random`` may ask for."""


@dataclass
class CompletenessResult:
    """What :func:`concept_completeness` measured (accuracies on the evaluation data).

    Parameters
    ----------
    completeness : float
        :math:`\\eta` of the model's concepts.
    random_completeness : float
        Mean :math:`\\eta` of random directions.
    random_values : list of float
        :math:`\\eta` of each draw of random directions.
    relative : float
        :math:`(\\eta - \\eta_{rand}) / (1 - \\eta_{rand})`.
    model_completeness : float
        :math:`\\eta` with the model's own head instead of a refitted one.
    probe_accuracy : float
        Accuracy of the linear probe on the embeddings (the denominator's
        :math:`\\Pr[y = f(x)]`).
    concept_accuracy : float
        Accuracy of the logistic regression refitted on the model's concept activations.
    model_accuracy : float
        Accuracy of the model itself.
    chance_accuracy : float
        :math:`a_r`, the accuracy of predicting the most frequent class.
    n_concepts : int
        :math:`k`, the number of concepts (and of random directions per draw).

    Examples
    --------
    >>> r = CompletenessResult(0.9, 0.5, [0.4, 0.6], 0.8, 0.85, 0.8, 0.76, 0.75, 0.1, 31)
    >>> r.to_dict()["relative"], r.to_dict()["random_values"]
    (0.8, [0.4, 0.6])
    """

    completeness: float
    random_completeness: float
    random_values: list[float]
    relative: float
    model_completeness: float
    probe_accuracy: float
    concept_accuracy: float
    model_accuracy: float
    chance_accuracy: float
    n_concepts: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields.

        Returns
        -------
        dict
            Every field by its name (lists copied).
        """
        return {k: (list(v) if isinstance(v, list) else v) for k, v in vars(self).items()}


def _accuracy(F_train, y_train, F_eval, y_eval, C: float) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000))
    clf.fit(F_train, y_train)
    return float(np.mean(clf.predict(F_eval) == y_eval))


def _eta(acc: float, probe: float, chance: float) -> float:
    return float((acc - chance) / (probe - chance)) if probe > chance else float("nan")


def concept_completeness(
    model: Any,
    X_train: Any,
    train: Any,
    X_eval: Any,
    evaluation: Any,
    *,
    n_random: int = 3,
    C: float = 10.0,
    random_state: int = 0,
) -> CompletenessResult:
    r"""Completeness :math:`\eta` of a CBM's concepts (Yeh et al. 2020), with its random baseline.

    See the module docstring for the formula. Classifiers are fitted on ``train`` and
    scored on ``evaluation``.

    Parameters
    ----------
    model : fitted BaseConceptBottleneck
        A bottlekit CBM (e.g. :class:`~bottlekit.bottleneck.PosthocCBM`), or the concept
        surrogate of :func:`~bottlekit.diagnostics.audit`.
    X_train, X_eval : arrays of shape (n, d)
        Embeddings of the two datasets' images.
    train, evaluation : ConceptDataset
        Their class labels are used.
    n_random : int in [1, 1000], default 3
        Draws of random directions.
    C : float > 0, default 10.0
        Inverse regularisation of every logistic regression (probe, concepts, random).
    random_state : int, default 0
        Seed of the random directions.

    Returns
    -------
    CompletenessResult
        ``completeness`` :math:`\eta`, its random baseline, ``relative`` and the
        accuracies they come from (on ``evaluation``).

    Examples
    --------
    >>> import numpy as np
    >>> from bottlekit.bottleneck import PosthocCBM
    >>> from bottlekit.concepts import ConceptBank
    >>> from bottlekit.datasets import ConceptDataset
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 400); X = rng.standard_normal((400, 5)); X[:, 0] += 3 * y
    >>> ds = ConceptDataset(np.zeros((400, 8, 8, 3), np.uint8), labels=y)
    >>> bank = ConceptBank(["first axis"], np.eye(1, 5), "toy", provenance=[{"kind": "cav"}])
    >>> res = concept_completeness(PosthocCBM(bank).fit(X, y), X, ds, X, ds)
    >>> bool(res.completeness > 0.95)       # the one concept carries all the signal
    True
    """
    model = check_fitted_cbm(model)
    tr, ev = dataset_of(train, "train"), dataset_of(evaluation, "evaluation")
    X_train = check_embeddings(model, X_train, tr, "X_train")
    X_eval = check_embeddings(model, X_eval, ev, "X_eval")
    n_random = check_int_at_least(n_random, "n_random", 1)
    if n_random > MAX_N_RANDOM:  # each is a logistic regression: 10**9 ran for ever
        raise ValueError(
            f"n_random: expected at most {MAX_N_RANDOM} random baselines (each fits a "
            f"logistic regression), got {n_random}"
        )
    random_state = check_int_at_least(random_state, "random_state", 0)
    check_number(C, "C", low=0, low_open=True)
    y_tr, y_ev = np.asarray(tr.labels), np.asarray(ev.labels)
    if len(np.unique(y_tr)) < 2:
        raise ValueError("train.labels: a single class; completeness needs at least two")
    values, counts = np.unique(y_tr, return_counts=True)
    if not np.isin(y_ev, values).any():
        # every accuracy would be 0, and every completeness 0 / 0 = NaN
        raise ValueError(
            f"evaluation.labels: none of the {len(y_ev)} evaluation labels is a class of the "
            f"training labels (first {y_ev[0]!r}; training classes start {values[0]!r}); "
            "completeness compares accuracies on classes the probes were trained on"
        )
    chance = float(np.mean(y_ev == values[np.argmax(counts)]))
    probe = _accuracy(X_train, y_tr, X_eval, y_ev, C)
    A_tr, A_ev = model.transform(X_train), model.transform(X_eval)
    concepts = _accuracy(A_tr, y_tr, A_ev, y_ev, C)
    own = float(np.mean(model.predict(X_eval) == model_class_labels(model, ev, "evaluation")))
    k = A_tr.shape[1]
    cosine = bool(np.mean(np.asarray(model.concept_normalize_, dtype=bool)) >= 0.5)

    def rows(X: np.ndarray) -> np.ndarray:
        if not cosine:
            return X
        norm = np.linalg.norm(X, axis=1, keepdims=True)
        return X / np.where(norm == 0, 1.0, norm)

    rng = np.random.default_rng(random_state)
    rand = []
    for _ in range(n_random):
        R = rng.standard_normal((X_train.shape[1], k))
        acc = _accuracy(rows(X_train) @ R, y_tr, rows(X_eval) @ R, y_ev, C)
        rand.append(_eta(acc, probe, chance))
    eta, eta_r = _eta(concepts, probe, chance), float(np.mean(rand))
    rel = (eta - eta_r) / (1 - eta_r) if eta_r < 1 else float("nan")
    return CompletenessResult(
        completeness=eta,
        random_completeness=eta_r,
        random_values=[float(v) for v in rand],
        relative=float(rel),
        model_completeness=_eta(own, probe, chance),
        probe_accuracy=probe,
        concept_accuracy=concepts,
        model_accuracy=own,
        chance_accuracy=chance,
        n_concepts=k,
    )
