"""Concept selection: LaBo's submodular objective (lazy greedy) and simple baselines."""

from __future__ import annotations

import heapq
import math
import warnings
from collections.abc import Sequence

import numpy as np

from bottlekit._arrays import as_real_array, sort_class_labels
from bottlekit._checks import check_bool, check_choice, check_number, check_seed, check_unused
from bottlekit.concepts.bank import ConceptBank, _float32_beyond
from bottlekit.concepts.projection import _Numpy, linear_concept_activations

METHODS = ("submodular", "mi", "top-similarity", "random")
#: LaBo's weights and the lazy greedy, where ``select``'s settings are left None.
SUBMODULAR_DEFAULTS = {"mi_weight": 1e7, "coverage_weight": 0.1, "lazy": True}


def class_similarity(
    bank: ConceptBank, X: np.ndarray, y: Sequence
) -> tuple[np.ndarray, np.ndarray]:
    """Mean concept activation per class, :math:`\\mathrm{Sim}(c, y)` (k × n_classes).

    Returns the matrix and the sorted class labels of its columns. The projection is
    linear in the (normalised, for text concepts) embedding, so the class mean of the
    activations is the projection of the class mean: no n × k activation matrix is formed.

    Parameters
    ----------
    bank : ConceptBank
        The k concepts.
    X : ndarray of shape (n, d)
        Image embeddings of the bank's backbone.
    y : sequence of length n
        Class labels (any sortable values).

    Returns
    -------
    sim : ndarray of shape (k, n_classes)
        Mean activation of each concept over each class's images.
    classes : ndarray of shape (n_classes,)
        The sorted class labels of the columns.

    Examples
    --------
    >>> import numpy as np
    >>> from bottlekit.concepts import ConceptBank
    >>> cav = [{"kind": "cav"}, {"kind": "cav"}]  # projected without normalising X
    >>> bank = ConceptBank(["x", "y"], np.eye(2), "toy", provenance=cav)
    >>> X = [[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]]
    >>> sim, classes = class_similarity(bank, X, ["a", "a", "b"])
    >>> sim.tolist(), classes.tolist()
    ([[2.0, 0.0], [0.0, 2.0]], ['a', 'b'])
    """
    given = as_real_array(X, "X", dtype=None)
    if given.ndim != 2 or given.shape[1] != bank.dim:
        raise ValueError(f"X must have shape (n, {bank.dim}), got {given.shape}")
    with np.errstate(over="ignore", under="ignore"):
        X = given.astype(np.float32)
    if X.size:  # as ConceptBank.project: a row of 1e-300 is not a zero embedding
        _float32_beyond(given, X, "X", "row")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or inf; expected finite embeddings")
    y = np.asarray(y)
    if y.shape != (X.shape[0],):  # before: numpy's "matmul: Input operand 1 has a mismatch"
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}")
    classes, inv = sort_class_labels(y)
    onehot = np.zeros((len(classes), len(y)), dtype=np.float32)
    onehot[inv, np.arange(len(y))] = 1.0
    counts = onehot.sum(axis=1, dtype=np.float64)[:, None]
    norms = _Numpy.row_norm(X)  # project's norm: that of a row of 1e-30 is not 0 in float32
    Xn = X / np.where(norms == 0, 1.0, norms)
    mean_raw = (onehot @ X).astype(np.float64) / counts
    mean_unit = (onehot @ Xn).astype(np.float64) / counts
    layer = bank.projection_layer(np.float64)
    sim = linear_concept_activations(mean_raw, *layer, unit=mean_unit).T
    return sim, classes


def class_concept_association_scores(sim: np.ndarray) -> np.ndarray:
    r"""LaBo's discriminability score of each concept from class similarities.

    With :math:`S_{cy} > 0` the mean similarity of concept :math:`c` to images of class
    :math:`y` (``sim``, k × C), LaBo normalises per class,
    :math:`p(c, y) = S_{cy} / (C \sum_{c'} S_{c'y})`, and scores
    :math:`s(c) = \sum_y p(c, y) \log \frac{p(c, y)}{p(c)\,p(y)}`,
    :math:`p(c) = \sum_y p(c, y)`, :math:`p(y) = 1/C` — concept :math:`c`'s term of the
    mutual information of this pseudo-distribution built from similarities
    (non-negative: it is :math:`p(c)\,\mathrm{KL}(p(y|c)\,\|\,p(y))`). LaBo calls it the
    concept's MI score; it is a score for ranking concepts, not an estimate of the mutual
    information between concept activations and labels (for that see
    :mod:`bottlekit.estimators`). Named ``mutual_information_scores`` before this release.

    CLIP cosines are positive in practice; if any :math:`S_{cy} \le 0` (e.g. CAV
    activations) all are shifted by :math:`-\min S + 10^{-6}` first (bottlekit's choice;
    LaBo assumes positive similarities).

    Parameters
    ----------
    sim : array of shape (k, n_classes)
        Class similarities, e.g. from :func:`class_similarity`.

    Returns
    -------
    ndarray of shape (k,)
        :math:`s(c) \ge 0`.

    Examples
    --------
    >>> class_concept_association_scores(np.array([[1.0, 1.0], [2.0, 0.1]])).round(3)
    array([0.069, 0.124])
    """
    sim = np.asarray(sim, dtype=np.float64)
    if sim.ndim != 2 or 0 in sim.shape:
        raise ValueError(
            f"sim must have shape (k, n_classes) with k, n_classes > 0, got {sim.shape}"
        )
    if not np.isfinite(sim).all():
        raise ValueError("sim contains NaN or inf")
    if sim.min() <= 0:
        sim = sim - sim.min() + 1e-6
    n_cls = sim.shape[1]
    p = sim / (sim.sum(axis=0, keepdims=True) * n_cls)
    pc = p.sum(axis=1, keepdims=True)
    return (p * np.log(p / (pc / n_cls))).sum(axis=1)


def mutual_information_scores(sim: np.ndarray) -> np.ndarray:
    """Deprecated name of :func:`class_concept_association_scores` (FutureWarning).

    Parameters
    ----------
    sim : array of shape (k, n_classes)
        Class similarities, e.g. from :func:`class_similarity`.

    Returns
    -------
    ndarray of shape (k,)
        What :func:`class_concept_association_scores` returns for ``sim``.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     s = mutual_information_scores(np.array([[1.0, 1.0], [2.0, 0.1]]))
    >>> w[0].category.__name__, s.round(3)
    ('FutureWarning', array([0.069, 0.124]))
    """
    warnings.warn(
        "mutual_information_scores is renamed class_concept_association_scores (it is "
        "LaBo's ranking score, not an MI estimate); the old name will be removed",
        FutureWarning,
        stacklevel=2,
    )
    return class_concept_association_scores(sim)


def _row_gains(S_rows: np.ndarray, cur: np.ndarray) -> np.ndarray:
    # facility-location marginal gain of each candidate row; one code path for lazy and
    # naive greedy so that both see bit-identical gains
    return np.maximum(S_rows - cur, 0.0).sum(axis=1)


def greedy_maximize(
    modular: np.ndarray,
    S: np.ndarray,
    k: int,
    *,
    coverage_weight: float = 1.0,
    lazy: bool = True,
) -> list[int]:
    r"""Greedy maximisation of a modular + facility-location objective.

    .. math:: F(A) = \sum_{j\in A} m_j + w \sum_i \max(0, \max_{j\in A} S_{ij})

    Parameters
    ----------
    modular : array of shape (m,)
        Non-negative per-item scores :math:`m_j`.
    S : array of shape (m, m)
        Symmetric similarities between items (facility location).
    k : int
        Items to pick (at most ``m``).
    coverage_weight : float
        :math:`w \ge 0`.
    lazy : bool
        Lazy greedy (Minoux 1978): stale marginal gains are upper bounds by submodularity,
        so only the top of a priority queue is re-evaluated. Returns exactly what the naive
        greedy (``lazy=False``) returns, ties broken towards the lower index.

    Returns
    -------
    list of int
        Items in the order picked.

    Examples
    --------
    >>> m = np.array([1.0, 0.9, 0.2])
    >>> S = np.array([[1.0, 0.95, 0.0], [0.95, 1.0, 0.0], [0.0, 0.0, 1.0]])
    >>> greedy_maximize(m, S, 2)  # item 1 covers little that item 0 does not
    [0, 2]
    >>> greedy_maximize(m, S, 2, coverage_weight=0.0)  # the modular scores alone
    [0, 1]
    """
    modular = np.asarray(modular, dtype=np.float64)
    S = np.asarray(S, dtype=np.float64)
    m = len(modular)
    if S.shape != (m, m):
        raise ValueError(f"S must have shape ({m}, {m}), got {S.shape}")
    # NaN gains never compare, and the lazy queue would never settle: refuse them
    if not np.isfinite(modular).all():
        raise ValueError("modular contains NaN or inf; expected finite scores")
    if not np.isfinite(S).all():
        raise ValueError("S contains NaN or inf; expected finite similarities")
    k = min(int(check_number(k, "k", integer=True, low=0)), m)
    w = check_number(coverage_weight, "coverage_weight", low=0)
    lazy = check_bool(lazy, "lazy")
    cur = np.zeros(m)
    picked: list[int] = []
    if lazy:
        g0 = modular + w * _row_gains(S, cur)
        heap = [(-g, j) for j, g in enumerate(g0.tolist())]
        heapq.heapify(heap)
        fresh = np.zeros(m, dtype=bool)  # gain computed for the current selection
        fresh[:] = True
        while len(picked) < k:
            neg_ub, j = heapq.heappop(heap)
            if fresh[j]:
                g = -neg_ub
            else:
                g = float(modular[j] + w * _row_gains(S[j : j + 1], cur)[0])
            if not heap or (-g, j) <= heap[0]:
                picked.append(j)
                cur = np.maximum(cur, S[j])
                fresh[:] = False
            else:
                fresh[j] = True
                heapq.heappush(heap, (-g, j))
    else:
        alive = np.ones(m, dtype=bool)
        for _ in range(k):
            idx = np.flatnonzero(alive)
            gains = modular[idx] + w * _row_gains(S[idx], cur)
            j = int(idx[int(np.argmax(gains))])
            picked.append(j)
            alive[j] = False
            cur = np.maximum(cur, S[j])
    return picked


def submodular_objective(
    modular: np.ndarray, S: np.ndarray, subset: Sequence[int], coverage_weight: float = 1.0
) -> float:
    r"""Value of the objective maximised by :func:`greedy_maximize` on ``subset``.

    .. math:: F(A) = \sum_{j\in A} m_j + w \sum_i \max(0, \max_{j\in A} S_{ij})

    Parameters
    ----------
    modular : array of shape (m,)
        Per-item scores :math:`m_j`.
    S : array of shape (m, m)
        Similarities between items.
    subset : sequence of int
        :math:`A`, the items chosen.
    coverage_weight : float, default 1.0
        :math:`w`.

    Returns
    -------
    float
        :math:`F(A)` (0 for an empty subset).

    Examples
    --------
    >>> S = np.array([[1.0, 0.5], [0.5, 1.0]])
    >>> submodular_objective(np.array([0.2, 0.3]), S, [0], coverage_weight=2.0)
    3.2
    """
    subset = list(subset)
    modular = np.asarray(modular, dtype=np.float64)
    S = np.asarray(S, dtype=np.float64)
    if not subset:
        return 0.0
    cover = np.maximum(S[:, subset].max(axis=1), 0.0).sum()
    return float(modular[subset].sum() + coverage_weight * cover)


def select(
    bank: ConceptBank,
    X: np.ndarray,
    y: Sequence,
    k: int,
    method: str = "submodular",
    *,
    per_class: bool | None = None,
    mi_weight: float | None = None,
    coverage_weight: float | None = None,
    lazy: bool | None = None,
    random_state: int | None = None,
) -> ConceptBank:
    r"""Choose ``k`` concepts of ``bank`` for classifying images ``X`` with labels ``y``.

    ``method="submodular"`` is LaBo's selection: greedily maximise

    .. math:: F(A) = \alpha \sum_{c\in A} \mathrm{MI}(c)
              + \beta \sum_{c'\in V} \max\bigl(0, \max_{c\in A} \cos(v_{c'}, v_c)\bigr)

    (discriminability + coverage of the candidates :math:`V`), with LaBo's weights
    :math:`\alpha = 10^7` (``mi_weight``; MI scores are of order :math:`1/(kC)`) and
    :math:`\beta = 0.1` (``coverage_weight``). ``MI`` is
    :func:`class_concept_association_scores` of the mean activations (:meth:`ConceptBank.project`)
    per class.

    Where the reference code (``submodular_select`` in
    ``models/select_concept/select_algo.py``) differs:

    * its coverage term is not a cosine facility location. apricot's ``MixtureSelection``
      resets its functions' metric to ``"precomputed"`` and its own defaults to
      ``"ignore"``, so the facility-location function reads the matrix of stacked
      features :math:`\tilde v_c = [\alpha\,\mathrm{MI}(c), v_c]` (the *raw* text vector)
      as a similarity matrix and scores
      :math:`\sum_f \max(0, \max_{c\in A} \tilde v_{cf})`, a coverage of the
      :math:`1 + d` feature columns. bottlekit uses the cosine facility location above,
      so the reference's per-dataset coverage weights (``submodular_weights[1]``, 0 to
      100) do not carry over as ``coverage_weight``;
    * its MI scores come from raw CLIP dot products (``use_img_norm = use_txt_norm =
      False``), which weights each concept's score by the norm of its text vector;
      bottlekit uses the activations (cosines for text concepts);
    * after taking :math:`\lceil k / C\rceil` per class it keeps only the first ``k``
      of the list (``select_idx[:num_concept]``), dropping the last classes' surplus;
      bottlekit keeps them all.

    Baselines: ``"mi"`` (top MI scores), ``"top-similarity"`` (top
    :math:`\max_y \mathrm{Sim}(c, y)`, LaBo's CLIP-score baseline) and ``"random"``.

    Parameters
    ----------
    bank : ConceptBank
        The candidate concepts, on the backbone of ``X``.
    X : array of shape (n, d)
        Training image embeddings.
    y : array of shape (n,)
        Class labels.
    k : int
        Number of concepts.
    method : {"submodular", "mi", "top-similarity", "random"}
    per_class : bool, optional
        Select within the concepts proposed for each class (by ``bank.class_prior``: a
        concept belongs to the first class with the largest prior), taking
        :math:`\lceil k / C\rceil` per class as LaBo does — so up to :math:`C - 1` more than
        ``k`` can be returned, and classes with fewer candidates give all of theirs.
        Default: True when the bank has a class prior.
    mi_weight, coverage_weight : float or None
        :math:`\alpha, \beta` above; None means LaBo's :math:`10^7` and 0.1.
        ``method="submodular"`` only, as ``lazy``: the other methods refuse a value (they
        used to ignore it, silently).
    lazy : bool or None
        Lazy greedy (same result as naive greedy, faster); None means True.
    random_state : int, optional
        Seed of the random baseline.

    Returns
    -------
    ConceptBank
        The selected concepts in selection order; provenance gains ``"selection"`` with the
        method, rank and MI score.

    Examples
    --------
    >>> small = select(bank, X_train, y_train, k=50)  # doctest: +SKIP
    """
    if not isinstance(bank, ConceptBank):
        raise TypeError(f"bank must be a ConceptBank, got {type(bank).__name__}")
    method = check_choice(method, METHODS, "method", wording="must")
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    X = as_real_array(X, "X", dtype=None)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X must have shape (n, {bank.dim}) with n > 0, got {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}")
    if y.dtype.kind in "fc" and not np.isfinite(y).all():
        raise ValueError("y contains NaN or inf; expected class labels")
    n_classes = len(sort_class_labels(y)[0])
    if n_classes < 2:
        raise ValueError(
            f"y has {n_classes} class(es); selection scores how concepts separate classes, "
            "so it needs at least 2"
        )
    given = {"mi_weight": mi_weight, "coverage_weight": coverage_weight, "lazy": lazy}
    if method != "submodular":
        for name, value in given.items():
            check_unused(
                value, name, f"with method={method!r} (a setting of the submodular "
                "selection)", " or use method='submodular'",
            )  # fmt: skip
    mi_weight, coverage_weight, lazy = (
        SUBMODULAR_DEFAULTS[name] if value is None else value for name, value in given.items()
    )
    mi_weight = check_number(mi_weight, "mi_weight", low=0, wording="must")
    coverage_weight = check_number(coverage_weight, "coverage_weight", low=0, wording="must")
    lazy = check_bool(lazy, "lazy")
    check_seed(random_state, "random_state")
    if per_class is not None:
        per_class = check_bool(per_class, "per_class")
    if per_class is None:
        per_class = bank.class_prior is not None
    if per_class and bank.class_prior is None:
        raise ValueError("per_class=True needs a bank with class_prior (e.g. from generate)")
    if not per_class and k > len(bank):
        raise ValueError(f"k={k} is larger than the bank ({len(bank)} concepts)")

    sim, _ = class_similarity(bank, X, y)
    mi = class_concept_association_scores(sim)
    if per_class:
        owner = np.argmax(bank.class_prior, axis=0)
        groups = [np.flatnonzero(owner == c) for c in range(bank.class_prior.shape[0])]
        quota = math.ceil(k / len(groups))
    else:
        groups = [np.arange(len(bank))]
        quota = k
    V = bank.projection_layer().weights  # unit rows, normed in float64 (float32 here)
    rng = np.random.default_rng(random_state)

    chosen: list[int] = []
    for g in groups:
        if len(g) == 0:
            continue
        if len(g) <= quota:
            order = list(range(len(g)))
            if method != "random":
                order = sorted(order, key=lambda i: -mi[g[i]])
        elif method == "submodular":
            Vg = V[g]
            order = greedy_maximize(
                mi_weight * mi[g], Vg @ Vg.T, quota, coverage_weight=coverage_weight, lazy=lazy
            )
        elif method == "mi":
            order = np.argsort(-mi[g], kind="stable")[:quota].tolist()
        elif method == "top-similarity":
            order = np.argsort(-sim[g].max(axis=1), kind="stable")[:quota].tolist()
        else:
            order = rng.choice(len(g), quota, replace=False).tolist()
        chosen += [int(g[i]) for i in order]

    out = bank.subset(chosen)
    for rank, (j, p) in enumerate(zip(chosen, out.provenance, strict=True)):
        p["selection"] = {"method": method, "rank": rank, "mi_score": float(mi[j])}
    return out
