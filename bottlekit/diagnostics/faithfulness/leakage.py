r"""Concept leakage: label information in the concept activations beyond the true concepts.

A concept bottleneck is meant to pass the label only *through* the concepts. Soft concept
activations :math:`\hat C` can carry more: how the concept is drawn, or anything else
about the class, which the head can read (Mahinpei et al. 2021, "Promises and pitfalls
of black-box concept learning models"; Havasi et al. 2022, "Addressing leakage in concept
bottleneck models"). The leakage is the conditional mutual information

.. math::

    L = I(\hat C; Y \mid C) = H(Y \mid C) - H(Y \mid C, \hat C) \;\le\; H(Y \mid C),

zero iff, once the true concepts :math:`C` are known, the activations say nothing more
about the label :math:`Y`. Per concept, the contribution is
:math:`L_j = I(\hat c_j; Y \mid c_j)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bottlekit._checks import check_choice, check_number, check_unused
from bottlekit.diagnostics.faithfulness._inputs import (
    binary_labels,
    check_at_most,
    check_embeddings,
    check_fitted_cbm,
    check_int_at_least,
    concept_label_columns,
    dataset_of,
)

__all__ = ["LeakageResult", "concept_leakage"]

METHODS = ("auto", "ksg", "classifier")
CONDITIONINGS = ("auto", "pattern", "jitter")

#: Largest accepted ``jitter`` (noise on the 0/1 concept labels). The jittered patterns stay
#: apart in the max-norm while no label moves by 1/4 or more; at 0.05 that takes a draw of
#: 5 standard deviations (one label in 1.7 million).
MAX_JITTER = 0.05
#: What ``min_coverage``, ``jitter`` and ``folds`` of None mean (where they have an effect).
DEFAULT_MIN_COVERAGE = 0.8
DEFAULT_JITTER = 1e-3
DEFAULT_FOLDS = 5


@dataclass
class LeakageResult:
    """What :func:`concept_leakage` measured (nats).

    Parameters
    ----------
    total : float
        :math:`\\hat I(\\hat C; Y \\mid C)` over all of the model's concepts.
    per_concept : ndarray of shape (k,)
        :math:`\\hat I(\\hat c_j; Y \\mid c_j)`; NaN for concepts without labels.
    concept_names : list of str
        The model's concepts, in the order of ``per_concept``.
    method : str
        How the total was estimated: ``"ksg"`` or ``"classifier"``.
    conditioning : str
        How the true concepts were conditioned on (what ``"auto"`` chose).
    coverage : float
        Share of the images whose true-concept pattern occurs more than ``k + 1`` times
        (what ``"pattern"`` conditioning can use).
    n_patterns : int
        Distinct true-concept patterns among the images.
    entropy_given_concepts : float or None
        :math:`\\hat H(Y \\mid C)`, the ceiling of the leakage (``method="classifier"``).
    n_samples : int
        The images the estimate used.
    notes : list of str, default []
        Concepts whose leakage could not be estimated, and why.

    Examples
    --------
    >>> r = LeakageResult(0.2, np.array([0.1, np.nan]), ["red", "blue"], "ksg", "pattern",
    ...                   0.9, 4, 500)
    >>> r.to_dict()["per_concept"]
    {'red': 0.1, 'blue': nan}
    """

    total: float
    per_concept: np.ndarray
    concept_names: list[str]
    method: str
    conditioning: str
    coverage: float
    n_patterns: int
    n_samples: int
    entropy_given_concepts: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (NaN stays float; the audit turns it into null).

        Returns
        -------
        dict
            Every field by its name, ``per_concept`` as concept name to nats.
        """
        return {
            "total": float(self.total),
            "per_concept": {
                c: float(v) for c, v in zip(self.concept_names, self.per_concept, strict=True)
            },
            "method": self.method,
            "conditioning": self.conditioning,
            "coverage": float(self.coverage),
            "n_patterns": int(self.n_patterns),
            "n_samples": int(self.n_samples),
            "entropy_given_concepts": self.entropy_given_concepts,
            "notes": list(self.notes),
        }


def _pattern_codes(C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    _, codes, counts = np.unique(C, axis=0, return_inverse=True, return_counts=True)
    return codes.ravel(), counts


def _check_folds_per_class(y: np.ndarray, folds: int) -> None:
    """Refuse more stratified folds than the smallest class has images.

    scikit-learn's StratifiedKFold refused them from inside ("n_splits=5 cannot be greater
    than the number of members in each class"), or, with a class of one image, warned and
    then failed on a fold holding a single class.
    """
    classes, counts = np.unique(y, return_counts=True)
    smallest = int(counts.min())
    if smallest >= folds:
        return
    label = classes[int(np.argmin(counts))].item()
    if smallest < 2:
        raise ValueError(
            f"dataset.labels: class {label!r} has a single image; the classifier form of "
            "leakage (cross-validated, stratified by class) needs at least 2 images of each "
            "class"
        )
    raise ValueError(
        f"folds: {folds} stratified folds need {folds} images of each class, but class "
        f"{label!r} has {smallest}; expected folds <= {smallest}"
    )


def _cross_entropy(F: np.ndarray, y: np.ndarray, folds: int, seed: int) -> float:
    """Cross-validated log-loss (nats) of a multinomial logistic regression of y on F."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    _classes, y_idx = np.unique(y, return_inverse=True)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    P = cross_val_predict(clf, F, y_idx, cv=cv, method="predict_proba")
    p = np.clip(P[np.arange(len(y_idx)), y_idx], 1e-12, 1.0)
    return float(-np.mean(np.log(p)))


def concept_leakage(
    model: Any,
    X: Any,
    dataset: Any,
    *,
    method: str = "auto",
    conditioning: str = "auto",
    k: int = 3,
    min_coverage: float | None = None,
    jitter: float | None = None,
    folds: int | None = None,
    random_state: int = 0,
) -> LeakageResult:
    r"""Label information of a CBM's concept activations beyond the true concepts.

    .. math::

        L = I(\hat C; Y \mid C), \qquad L_j = I(\hat c_j; Y \mid c_j)

    (Mahinpei et al. 2021; Havasi et al. 2022), with :math:`\hat C` the model's concept
    activations (:meth:`transform`), :math:`C` the dataset's concept labels (binarised at
    0.5) and :math:`Y` the class. The per-concept :math:`L_j` uses
    :func:`bottlekit.estimators.conditional_mutual_information` with ``discrete_y`` and
    ``discrete_z`` (Ross's estimator within each value of :math:`c_j`); it also counts
    information :math:`\hat c_j` has because it tracks *other* true concepts
    (entanglement), which the total does not count as leakage.

    **How C enters the total** (``method="ksg"``). :math:`C` is a binary vector, often
    of dozens of concepts. ``conditioning="pattern"`` treats each distinct concept
    pattern as one value of a discrete :math:`Z` (``discrete_z=True``): exact, but only
    images whose pattern occurs more than ``k + 1`` times can be used. ``"jitter"``
    adds :math:`\mathcal N(0, \text{jitter}^2)` noise to the 0/1 labels and treats them as
    continuous (Frenzel–Pompe chain rule :math:`I(Y; \hat C, C) - I(Y; C)` with Ross's
    estimator): the max-norm neighbours then share the pattern whenever enough images
    have it, and the nearest patterns otherwise. ``"auto"`` uses ``"pattern"`` when at
    least ``min_coverage`` of the images are in usable patterns, else ``"jitter"``. On the
    built-in world (31 concepts) 2,400 training images have 1,656 patterns and only 22 %
    of them lie in patterns seen more than 4 times, so ``"auto"`` conditions by jitter.
    There the k-NN figure is biased upwards: on 960 test images, activations = labels +
    Gaussian noise (no leakage) read 0.21 nats and, with a noisy one-hot of the class
    appended, 0.60, above the ceiling :math:`H(Y\mid C)` = 0.14 (section 0 of
    ``benchmarks/faithfulness_world.py``). With jitter conditioning, compare models
    against such a control, or use the classifier form.

    ``method="classifier"`` is the variational form
    :math:`\hat H(Y\mid C) - \hat H(Y\mid C,\hat C)`, each the cross-validated
    log-loss of a multinomial logistic regression: robust in high dimension and it also
    gives the ceiling :math:`\hat H(Y \mid C)` (on the world 0.14 nats: the true concepts
    nearly determine the species, so little room is left for leakage). The same controls
    read -0.011 (no leakage) and 0.092 (label appended); it is biased slightly downwards
    (the larger model overfits more).

    ``method="auto"`` (default) follows these measurements: the k-NN estimate with
    pattern conditioning where the patterns repeat (``conditioning="auto"`` and at least
    ``min_coverage`` of the images in usable patterns), else the classifier form. An
    explicit ``conditioning="jitter"`` or ``"pattern"`` always uses k-NN.

    Parameters
    ----------
    model : fitted BaseConceptBottleneck
        A bottlekit CBM, or the concept surrogate of :func:`~bottlekit.diagnostics.audit`.
    X : array of shape (n, d)
        Embeddings of ``dataset``'s images, in order.
    dataset : ConceptDataset
        Labels and ``concept_labels`` (required); concepts are matched by name.
    method : {"auto", "ksg", "classifier"}, default "auto"
    conditioning : {"auto", "pattern", "jitter"}, default "auto"
        How :math:`C` enters the k-NN total (see above); only ``"auto"`` with
        ``method="classifier"``.
    k : int, default 3
        Neighbours of the k-NN estimators.
    min_coverage : float in (0, 1] or None, default None
        Share of the images in usable patterns above which ``conditioning="auto"`` uses
        pattern conditioning; None means 0.8. Only with ``conditioning="auto"`` and
        ``method`` ``"auto"`` or ``"ksg"`` (refused elsewhere, where nothing is chosen).
    jitter : float in (0, 0.05] or None, default None
        Standard deviation of the noise that ``conditioning="jitter"`` adds to the 0/1
        concept labels, in units of the gap between the two values. It only breaks ties:
        the jittered patterns must stay apart, so that the max-norm neighbours share the
        pattern. While no label moves by 1/4 or more, on every concept coordinate the
        labels of one value lie within 1/2 of each other and labels of different values
        more than 1/2 apart, so in the max-norm images of one pattern are nearer to each
        other than to any image of another pattern (the estimator's scaling of each
        column to unit variance scales its gap and noise alike). Up to 0.05, moving a
        label by 1/4 takes a draw of 5 standard deviations (one label in 1.7 million);
        larger values are refused (``jitter=1e300`` made the labels pure noise, and the
        conditioning meaningless, silently). None means 1e-3. Only where jitter
        conditioning can be used: ``conditioning="jitter"``, or ``method="ksg"`` with
        ``conditioning="auto"``; refused with ``method="classifier"``,
        ``conditioning="pattern"``, and with both ``"auto"`` (which conditions by pattern
        or falls back to the classifier form, never by jitter).
    folds : int >= 2 or None, default None
        Cross-validation folds of the classifier form; None means 5. Only where it can be
        used: ``method="classifier"``, or both ``"auto"`` (refused with ``method="ksg"``
        or an explicit ``conditioning``, which use k-NN).
    random_state : int, default 0
        Seeds the k-NN estimators' tie-breaking noise, the labels' jitter and the
        classifier form's folds.

    Returns
    -------
    LeakageResult
        ``total`` :math:`L` and ``per_concept`` :math:`L_j` (nats), with how the total was
        estimated (``method``, ``conditioning``).

    Examples
    --------
    >>> import numpy as np
    >>> from bottlekit.bottleneck import PosthocCBM
    >>> from bottlekit.concepts import ConceptBank
    >>> from bottlekit.datasets import ConceptDataset
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 600); C = (rng.random((600, 2)) < 0.5).astype(int)
    >>> X = np.hstack([C + 0.3 * rng.standard_normal((600, 2)), rng.standard_normal((600, 1))])
    >>> bank = ConceptBank(["a", "b"], np.eye(2, 3), "toy", provenance=[{"kind": "cav"}] * 2)
    >>> cbm = PosthocCBM(bank).fit(X, y)
    >>> ds = ConceptDataset(np.zeros((600, 8, 8, 3), np.uint8), labels=y,
    ...                     concept_names=["a", "b"], concept_labels=C)
    >>> res = concept_leakage(cbm, X, ds, conditioning="pattern")
    >>> res.method, res.conditioning, bool(abs(res.total) < 0.05)   # independent of y
    ('ksg', 'pattern', True)
    """
    from bottlekit.estimators import conditional_mutual_information

    model = check_fitted_cbm(model)
    data = dataset_of(dataset)
    X = check_embeddings(model, X, data)
    method = check_choice(method, METHODS, "method")
    conditioning = check_choice(conditioning, CONDITIONINGS, "conditioning")
    if method == "classifier" and conditioning != "auto":  # it was ignored, silently
        raise ValueError(
            f"conditioning: {conditioning!r} is how C enters the k-NN estimate; "
            "method='classifier' conditions by a classifier on C; leave conditioning 'auto' "
            "or use method='ksg'"
        )
    # what each mode reads; a value given to a mode that does not read it was ignored
    uses_coverage = method != "classifier" and conditioning == "auto"
    uses_jitter = conditioning == "jitter" or (method == "ksg" and conditioning == "auto")
    uses_folds = method == "classifier" or (method == "auto" and conditioning == "auto")
    mode = f"with method={method!r} and conditioning={conditioning!r}"
    if not uses_coverage:
        check_unused(
            min_coverage, "min_coverage", f"{mode} (it chooses the conditioning of "
            "conditioning='auto')", " or use conditioning='auto'",
        )  # fmt: skip
    if not uses_jitter:
        check_unused(
            jitter, "jitter", f"{mode} (only jitter conditioning reads it: "
            "conditioning='jitter', or method='ksg' with conditioning='auto')",
        )  # fmt: skip
    if not uses_folds:
        check_unused(
            folds, "folds", f"{mode} (they are the classifier form's folds; this mode uses "
            "k-NN)", " or use method='classifier'",
        )  # fmt: skip
    min_coverage = DEFAULT_MIN_COVERAGE if min_coverage is None else min_coverage
    jitter = DEFAULT_JITTER if jitter is None else jitter
    k = check_at_most(check_int_at_least(k, "k", 1), "k", len(X) - 1, "neighbours of an image")
    if uses_folds:
        folds = DEFAULT_FOLDS if folds is None else folds
        folds = check_at_most(check_int_at_least(folds, "folds", 2), "folds", len(X), "folds")
    random_state = check_int_at_least(random_state, "random_state", 0)
    check_number(min_coverage, "min_coverage", low=0, high=1, low_open=True)
    check_number(
        jitter,
        "jitter",
        low=0,
        low_open=True,
        high=MAX_JITTER,
        expected=f"a finite number > 0 and <= {MAX_JITTER:g} (the standard deviation of the "
        "noise on the 0/1 concept labels; larger noise mixes the concept patterns)",
    )
    mcols, dcols = concept_label_columns(model, data)
    A = model.transform(X)
    C = binary_labels(data.concept_labels[:, dcols])
    y = np.asarray(data.labels, dtype=np.int64)
    if len(np.unique(y)) < 2:
        raise ValueError("dataset.labels: a single class; leakage needs at least two")
    notes: list[str] = []
    codes, counts = _pattern_codes(C)
    coverage = float(counts[counts > k + 1].sum() / len(y))
    opts = {"k": k, "random_state": random_state}

    per = np.full(A.shape[1], np.nan)
    for m, j in zip(mcols, range(C.shape[1]), strict=True):
        try:
            per[m] = conditional_mutual_information(
                A[:, m], y, C[:, j], discrete_y=True, discrete_z=True, **opts
            )
        except ValueError as exc:  # a constant activation or too-small strata
            notes.append(f"leakage of {model.concept_names_[m]!r} not estimated: {exc}")

    entropy_given = None
    if method == "auto":
        use_knn = conditioning != "auto" or coverage >= min_coverage
        method = "ksg" if use_knn else "classifier"
        if not use_knn:
            notes.append(
                f"only {100 * coverage:.0f}% of the images lie in concept patterns frequent "
                "enough to condition on; the classifier form was used"
            )
    if method == "classifier":
        chosen = "classifier"
        _check_folds_per_class(y, folds)
        entropy_given = _cross_entropy(C.astype(np.float64), y, folds, random_state)
        total = entropy_given - _cross_entropy(np.hstack([C, A]), y, folds, random_state)
    else:
        chosen = conditioning
        if conditioning == "auto":
            chosen = "pattern" if coverage >= min_coverage else "jitter"
        if chosen == "pattern":
            if coverage == 0:
                raise ValueError(
                    f"conditioning='pattern': no concept pattern occurs more than k + 1 = "
                    f"{k + 1} times; use conditioning='jitter'"
                )
            total = conditional_mutual_information(
                A, y, codes, discrete_y=True, discrete_z=True, **opts
            )
            if coverage < 1:
                notes.append(
                    f"pattern conditioning used {100 * coverage:.0f}% of the images (the "
                    "others are in patterns too rare to estimate)"
                )
        else:
            rng = np.random.default_rng(random_state)
            Z = C + jitter * rng.standard_normal(C.shape)
            total = conditional_mutual_information(A, y, Z, discrete_y=True, **opts)
            notes.append(
                f"k-NN leakage with jittered concept labels ({A.shape[1] + C.shape[1]} "
                "dimensions) is biased upwards; compare models, or use method='classifier'"
            )
    return LeakageResult(
        total=float(total),
        per_concept=per,
        concept_names=list(model.concept_names_),
        method=method,
        conditioning=chosen,
        coverage=coverage,
        n_patterns=len(counts),
        n_samples=len(y),
        entropy_given_concepts=entropy_given,
        notes=notes,
    )
