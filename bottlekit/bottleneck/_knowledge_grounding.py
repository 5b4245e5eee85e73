r"""KnoBo's grounding (part 1 of :mod:`bottlekit.bottleneck.knowledge`): one balanced
logistic regression per concept on L2-normalised embeddings, and the concept labels it
learns from (given, or pseudo-labels from the backbone's similarities)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from bottlekit._arrays import as_real_array


@dataclass
class GroundingResult:
    """Per-concept grounding classifiers and their validation accuracy.

    Parameters
    ----------
    weights : ndarray of float64, shape (k, d)
        :math:`w_j`, applied to L2-normalised embeddings.
    bias : ndarray of float64, shape (k,)
        The classifiers' intercepts.
    val_accuracy : ndarray of float64, shape (k,)
        Accuracy on the concept's balanced validation set (NaN where it could not be
        grounded: fewer than one positive or one negative example).
    n_positive, n_negative : ndarray of int, shape (k,)
        Labelled examples of each concept.
    n_val : ndarray of int, shape (k,)
        Validation examples per side (0: accuracy measured on the training examples).

    Examples
    --------
    >>> r = GroundingResult(np.zeros((2, 3)), np.zeros(2), np.array([0.9, np.nan]),
    ...                     np.array([5, 0]), np.array([5, 9]), np.array([2, 0]))
    >>> r.grounded.tolist()
    [True, False]
    """

    weights: np.ndarray
    bias: np.ndarray
    val_accuracy: np.ndarray
    n_positive: np.ndarray
    n_negative: np.ndarray
    n_val: np.ndarray

    @property
    def grounded(self) -> np.ndarray:
        """Boolean mask of the concepts that have a classifier."""
        return np.isfinite(self.val_accuracy)


def _l2_normalise(X: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norm > 0, norm, 1.0)


def _check_labels(L: Any, n: int, k: int, name: str) -> np.ndarray:
    L = as_real_array(L, name)
    if L.shape != (n, k):
        raise ValueError(
            f"{name}: expected shape (n_samples, n_bank_concepts) = ({n}, {k}), got {L.shape}"
        )
    bad = ~(np.isnan(L) | (L == 0) | (L == 1))
    if bad.any():
        raise ValueError(
            f"{name}: expected values 0, 1 or NaN (unknown), got e.g. {L[bad][:3].tolist()}"
        )
    return L


def _ground_one(
    Xn: np.ndarray,
    pos: np.ndarray,
    neg: np.ndarray,
    *,
    C: float,
    max_examples: int,
    train_samples: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, float, float, int]:
    """One concept, following ``train_grounding.py`` (get_mapping + train_binary_model)."""
    pos = rng.permutation(pos)
    neg = rng.permutation(neg)
    # up to max_examples, as balanced as the data allow
    if len(pos) > len(neg):
        neg = neg[: min(len(neg), max_examples // 2)]
        pos = pos[: max_examples - len(neg)]
    else:
        pos = pos[: min(len(pos), max_examples // 2)]
        neg = neg[: max_examples - len(pos)]
    n_val = min(int(0.1 * min(len(pos), len(neg))), 50)
    pos_val, pos_tr = pos[:n_val], pos[n_val:]
    neg_val, neg_tr = neg[:n_val], neg[n_val:]
    pos_tr = pos_tr[: train_samples // 2]
    neg_tr = neg_tr[: train_samples - len(pos_tr)]
    m = min(len(pos_tr), len(neg_tr))  # down-sample the larger side
    pos_tr = rng.choice(pos_tr, m, replace=False) if len(pos_tr) > m else pos_tr
    neg_tr = rng.choice(neg_tr, m, replace=False) if len(neg_tr) > m else neg_tr
    idx = np.concatenate([pos_tr, neg_tr])
    lab = np.r_[np.ones(len(pos_tr)), np.zeros(len(neg_tr))]
    clf = LogisticRegression(C=C, max_iter=1000, class_weight="balanced")
    clf.fit(Xn[idx], lab)
    if n_val > 0:
        vidx = np.concatenate([pos_val, neg_val])
        vlab = np.r_[np.ones(n_val), np.zeros(n_val)]
        acc = float(clf.score(Xn[vidx], vlab))
    else:  # too few examples for a validation set: the training accuracy ranks it
        acc = float(clf.score(Xn[idx], lab))
    return clf.coef_[0], float(clf.intercept_[0]), acc, n_val


def ground_concepts(
    X: np.ndarray,
    concept_labels: np.ndarray,
    *,
    C: float = 1.0,
    max_examples: int = 10000,
    train_samples: int = 2000,
    rng: np.random.Generator | None = None,
) -> GroundingResult:
    r"""Fit one balanced logistic regression per concept on L2-normalised embeddings.

    .. math:: P(c_j = 1 \mid x) = \sigma\bigl(w_j \cdot x / \lVert x\rVert + b_j\bigr)

    Parameters
    ----------
    X : ndarray of shape (n, d)
        Image embeddings.
    concept_labels : ndarray of shape (n, k)
        1 (concept present), 0 (absent) or NaN (unknown: not used for that concept).
    C : float
        Inverse L2 strength of each logistic regression (reference: 1.0).
    max_examples, train_samples : int
        Reference caps: examples drawn per concept, and training examples among them.
    rng : numpy Generator, optional
        Shuffles and down-sampling.

    Returns
    -------
    GroundingResult
        A concept with no positive or no negative example gets zero weights and a NaN
        accuracy.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> res = ground_concepts(X, (X[:, :1] > 0).astype(float), rng=rng)
    >>> bool(res.val_accuracy[0] > 0.8)
    True
    """
    rng = np.random.default_rng(0) if rng is None else rng
    X = as_real_array(X, "X")
    if X.ndim != 2 or len(X) == 0 or not np.isfinite(X).all():
        raise ValueError(f"X: expected finite embeddings of shape (n, d), got shape {X.shape}")
    L = as_real_array(concept_labels, "concept_labels")
    if L.ndim != 2:
        raise ValueError(f"concept_labels: expected shape (n, k), got {L.shape}")
    L = _check_labels(L, len(X), L.shape[1], "concept_labels")
    Xn = _l2_normalise(X)
    k = L.shape[1]
    W = np.zeros((k, X.shape[1]))
    b = np.zeros(k)
    acc = np.full(k, np.nan)
    n_pos = np.zeros(k, dtype=int)
    n_neg = np.zeros(k, dtype=int)
    n_val = np.zeros(k, dtype=int)
    for j in range(k):
        pos = np.flatnonzero(L[:, j] == 1)
        neg = np.flatnonzero(L[:, j] == 0)
        n_pos[j], n_neg[j] = len(pos), len(neg)
        if len(pos) == 0 or len(neg) == 0:
            continue
        W[j], b[j], acc[j], n_val[j] = _ground_one(
            Xn, pos, neg, C=C, max_examples=max_examples, train_samples=train_samples, rng=rng
        )
    return GroundingResult(W, b, acc, n_pos, n_neg, n_val)


def pseudo_concept_labels(
    similarity: np.ndarray,
    quantile: float = 0.2,
) -> np.ndarray:
    r"""Concept labels from backbone similarities: top quantile 1, bottom quantile 0.

    For concept :math:`j` with similarities :math:`s_{ij}` (e.g. CLIP cosine between
    image :math:`i` and the concept's text), label 1 where :math:`s_{ij}` is at or above
    its :math:`1-q` quantile, 0 where at or below its :math:`q` quantile, NaN (unknown)
    in between.

    Parameters
    ----------
    similarity : ndarray of shape (n, k)
        Similarity of each of n images to each of k concepts.
    quantile : float in (0, 0.5]
        :math:`q`, the share of images labelled 1 (and 0) per concept.

    Returns
    -------
    ndarray of float64, shape (n, k)
        1, 0 or NaN (unknown) per image and concept.

    Examples
    --------
    >>> pseudo_concept_labels(np.arange(5.0)[:, None], 0.2).ravel()
    array([ 0., nan, nan, nan,  1.])
    """
    S = np.asarray(similarity, dtype=np.float64)
    lo = np.quantile(S, quantile, axis=0)
    hi = np.quantile(S, 1.0 - quantile, axis=0)
    out = np.full(S.shape, np.nan)
    out[S <= lo] = 0.0
    out[S >= hi] = 1.0  # quantile 0.5: the median goes to the positives
    return out
