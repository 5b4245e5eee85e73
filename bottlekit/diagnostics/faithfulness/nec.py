r"""Accuracy at a controlled number of effective concepts (NEC), as in VLG-CBM.

Srivastava, Yan & Weng (NeurIPS 2024), "VLG-CBM: Training concept bottleneck models with
vision-language guidance": a dense head can use every concept for every class, so its
accuracy says little about an *interpretable* bottleneck. They compare models at the
same number of effective concepts

.. math::

    \mathrm{NEC} = \frac1{C}\sum_{c=1}^{C}\sum_{j=1}^{k} \mathbb 1[W_{cj} \ne 0],

the average number of concepts each class's logit depends on.

How the reference prunes (``Trustworthy-ML-Lab/VLG-CBM``, ``evaluations/sparse_utils.py``,
``measure_acc``), followed by ``method="refit"``:

1. the head is **re-fitted**: an elastic-net multinomial logistic regression (GLM-SAGA,
   :math:`\alpha = 0.99`) along a decreasing path of penalties on the standardised
   concept activations of the training images;
2. for each target NEC, the first penalty on the path whose weights reach the target
   density (:math:`\mathrm{NEC}/k` of the :math:`C\times k` matrix non-zero) is chosen;
3. its weight matrix is **truncated** to exactly that density, keeping the
   :math:`\mathrm{NEC}\cdot C` weights of largest magnitude over the whole matrix
   (a global, not per-class, top-k: a class may keep more, another fewer); the bias is
   kept and nothing is re-trained after the truncation.

Steps 2 and 3 and the solver (same objective, prox and 1e-5 non-zero threshold) are the
reference's; the penalty grid and the solver settings are bottlekit's. The reference's path
starts at a fixed :math:`\lambda = 0.1/\alpha` (``sparse_evaluation.py --lam 0.1``) and
steps down by about :math:`2^{-0.1}` (150 log-spaced values to :math:`2^{-15}` of the
start, stopping past the densest level), solving each penalty for up to ``saga_n_iters`` =
2000 epochs in batches of ``saga_batch_size`` = 512 (VLG-CBM's defaults); bottlekit's starts
at :math:`\lambda_{\max}` (the smallest penalty with an all-zero head) and takes ``n_lambdas``
(default 20) log-spaced values down to :math:`10^{-3}\lambda_{\max}`, 1000 epochs at most, batches
of 256. The coarser grid can pick a denser point than the reference's (e.g. NEC 2.0 for a
target of 1, which the truncation then cuts), so accuracies can differ by a few points;
given the same path, the choice and the truncation agree with the reference's. The
activations are standardised with the population standard deviation (the reference:
``torch.std``, :math:`n-1`).

``per_class=True`` instead keeps the ``nec`` largest weights of each class (at most
``nec`` non-zero per row), the stricter reading some re-implementations use. With
``method="truncate"`` the model's own head is truncated the same way without re-fitting
(magnitudes in the standardised space, :math:`|w_{cj}|\,s_j`; a removed weight's mean
contribution moves into the intercept, which is what zeroing a standardised weight
does). A re-fitted head is a pure concept head: a hybrid model's residual (PCBM-h) is
dropped; ``"truncate"`` keeps it (it is not a concept weight, NEC does not count it).
"""

from __future__ import annotations

import copy
import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bottlekit._checks import check_choice, check_unused
from bottlekit.diagnostics.faithfulness._inputs import (
    check_embedding_array,
    check_embeddings,
    check_fitted_cbm,
    check_int_at_least,
    dataset_of,
    model_class_labels,
)

__all__ = ["NECResult", "accuracy_at_nec", "prune_to_nec"]

METHODS = ("refit", "truncate")
#: Penalties on the re-fit's path when ``n_lambdas`` is None (``method="refit"``).
DEFAULT_N_LAMBDAS = 20
#: The reference's NEC levels (``measure_level``).
REFERENCE_LEVELS = (5, 10, 15, 20, 25, 30)


@dataclass
class NECResult:
    """Accuracy of the NEC-pruned heads (:func:`accuracy_at_nec`).

    Parameters
    ----------
    levels : list of int
        Target NEC values (capped at the number of concepts).
    accuracy : dict of str to list of float
        Per evaluation set name, the accuracy at each level.
    nonzero_per_class : list of ndarray
        Non-zero weights of each class at each level.
    effective : list of float
        Achieved NEC at each level (mean of ``nonzero_per_class``).
    lambdas : list of float or None
        Penalty chosen on the path at each level (``method="refit"``).
    dense_accuracy : dict of str to float
        The unpruned model's accuracy.
    method : str
        ``"refit"`` or ``"truncate"`` (:func:`accuracy_at_nec`).
    per_class : bool
        Whether each class was held to ``nec`` non-zero weights (else ``nec * C`` in all).
    notes : list of str, default []
        Remarks on the run (e.g. levels that could not be reached).

    Examples
    --------
    >>> r = NECResult([1, 5], {"test": [0.5, 0.7]}, [np.array([1, 1]), np.array([5, 4])],
    ...               [1.0, 4.5], [0.1, 0.01], {"test": 0.75}, "refit", False)
    >>> r.at(5, "test"), r.to_dict()["max_nonzero_per_class"]
    (0.7, [1, 5])
    """

    levels: list[int]
    accuracy: dict[str, list[float]]
    nonzero_per_class: list[np.ndarray]
    effective: list[float]
    lambdas: list[float | None]
    dense_accuracy: dict[str, float]
    method: str
    per_class: bool
    notes: list[str] = field(default_factory=list)

    def at(self, nec: int, split: str) -> float:
        """Accuracy on ``split`` at NEC level ``nec``.

        Parameters
        ----------
        nec : int
            One of ``levels``.
        split : str
            The name of an evaluation set (a key of ``accuracy``).

        Returns
        -------
        float
            The accuracy.

        Raises
        ------
        KeyError
            If ``nec`` was not measured, or ``split`` is not an evaluation set.
        """
        if nec not in self.levels:
            raise KeyError(f"nec: {nec} was not measured; levels are {self.levels}")
        return self.accuracy[split][self.levels.index(nec)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields.

        Returns
        -------
        dict
            Every field by its name, ``nonzero_per_class`` as each level's largest count
            (``max_nonzero_per_class``).
        """
        return {
            "levels": list(self.levels),
            "accuracy": {s: list(v) for s, v in self.accuracy.items()},
            "max_nonzero_per_class": [int(v.max()) for v in self.nonzero_per_class],
            "effective": list(self.effective),
            "lambdas": list(self.lambdas),
            "dense_accuracy": dict(self.dense_accuracy),
            "method": self.method,
            "per_class": self.per_class,
            "notes": list(self.notes),
        }


def _check_levels(nec: Any, k: int) -> list[int]:
    if isinstance(nec, numbers.Integral):
        items = [nec]
    elif isinstance(nec, (list, tuple, np.ndarray, range)):
        items = list(nec)
    else:
        raise ValueError(f"nec: expected an int >= 1 or a list of them, got {nec!r}")
    if not items:
        raise ValueError("nec: expected an int >= 1 or a non-empty list of them, got []")
    for v in items:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise ValueError(f"nec: expected ints >= 1, got {v!r}")
    return sorted({min(int(v), k) for v in items})


def _n_lambdas_for(method: str, n_lambdas: Any) -> Any:
    """``n_lambdas`` resolved for ``method``: None means 20 for ``"refit"``; refused with
    ``"truncate"``, which fits no path (a value was ignored there, silently)."""
    if method == "truncate":
        check_unused(
            n_lambdas, "n_lambdas", "with method='truncate' (it sets the re-fit's penalty path)",
            " or use method='refit'",
        )  # fmt: skip
        return None
    return DEFAULT_N_LAMBDAS if n_lambdas is None else n_lambdas


def _truncate(W: np.ndarray, nec: int, per_class: bool) -> np.ndarray:
    """Keep the largest-|W| entries: ``nec`` per row, or ``nec * C`` over the matrix."""
    C, _k = W.shape
    out = np.zeros_like(W)
    mag = np.abs(W)
    if per_class:
        top = np.argsort(-mag, axis=1, kind="stable")[:, :nec]
        rows = np.arange(C)[:, None]
        out[rows, top] = W[rows, top]
    else:
        flat = np.argsort(-mag.ravel(), kind="stable")[: nec * C]
        out.ravel()[flat] = W.ravel()[flat]
    out[np.abs(out) == 0] = 0.0
    return out


def _standardised(model: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    A = model.transform(X)
    mu, sd = A.mean(0), A.std(0)
    sd = np.where(sd > np.finfo(np.float32).tiny, sd, 1.0)
    return (A - mu) / sd, mu, sd


def _with_head(model: Any, W_std, b_std, mu, sd, keep_residual: bool) -> Any:
    """A copy of ``model`` whose head is ``W_std, b_std`` on standardised activations."""
    out = copy.deepcopy(model)
    W = W_std / sd
    out.coef_ = W.astype(np.float32)
    out.intercept_ = (b_std - W @ mu).astype(np.float32)
    if not keep_residual:
        out.residual_coef_ = None
        out.residual_intercept_ = None
    dead = np.flatnonzero(~(W != 0).any(0))
    out.pruned_concepts_ = [model.concept_names_[j] for j in dead]
    return out


def _glm_path(Z: np.ndarray, y_idx: np.ndarray, n_classes: int, n_lambdas, random_state):
    from bottlekit.bottleneck._glm_saga import glm_saga_path

    return glm_saga_path(
        Z, y_idx, l1_ratio=0.99, n_lambdas=n_lambdas, lambda_min_ratio=1e-3,
        n_classes=n_classes, random_state=random_state,
    )  # fmt: skip


def _y_index(model: Any, y: np.ndarray, name: str) -> np.ndarray:
    classes = np.asarray(model.classes_)
    idx = np.clip(np.searchsorted(classes, y), 0, len(classes) - 1)
    bad = classes[idx] != y
    if bad.any():
        raise ValueError(
            f"{name}.labels: {np.unique(y[bad])[:3].tolist()} are not classes of the model "
            f"({classes[:6].tolist()}...)"
        )
    return idx.astype(np.int64)


def _pruned_models(model, X, y, levels, method, per_class, n_lambdas, random_state):
    # before any fit: a seed of -1 used to fail inside numpy after the data were checked
    random_state = check_int_at_least(random_state, "random_state", 0)
    """[(level, pruned model, lambda or None)] sharing one path for ``refit``."""
    Z, mu, sd = _standardised(model, X)
    C, _k = model.coef_.shape
    out = []
    if method == "truncate":
        W_std = model.coef_.astype(np.float64) * sd
        b_std = model.intercept_.astype(np.float64) + model.coef_.astype(np.float64) @ mu
        for nec in levels:
            out.append(
                (
                    nec,
                    _with_head(model, _truncate(W_std, nec, per_class), b_std, mu, sd, True),
                    None,
                )
            )
        return out
    path = _glm_path(Z, _y_index(model, y, "dataset"), C, n_lambdas, random_state)
    density = path.nonzero.sum(1) / C  # NEC of each point
    for nec in levels:
        hit = np.flatnonzero(density >= nec)
        i = int(hit[0]) if hit.size else len(density) - 1
        W = _truncate(path.weights[i], nec, per_class)
        out.append(
            (nec, _with_head(model, W, path.biases[i], mu, sd, False), float(path.lambdas[i]))
        )
    return out


def prune_to_nec(
    model: Any,
    nec: int = 5,
    *,
    X: Any = None,
    dataset: Any = None,
    method: str = "refit",
    per_class: bool = False,
    n_lambdas: int | None = None,
    random_state: int = 0,
) -> Any:
    r"""A copy of ``model`` whose concept head has ``nec`` effective concepts.

    See the module docstring for the reference's procedure (``method="refit"``: re-fit
    along a GLM-SAGA path, pick the first penalty that reaches the density, truncate to
    the :math:`\mathrm{NEC}\cdot C` largest weights) and ``method="truncate"``.

    Parameters
    ----------
    model : fitted BaseConceptBottleneck
        A bottlekit CBM (e.g. :class:`~bottlekit.bottleneck.PosthocCBM`), or the concept
        surrogate of :func:`~bottlekit.diagnostics.audit`.
    nec : int >= 1, default 5
        Target NEC (capped at the number of concepts).
    X : array of shape (n, d), optional
        Training embeddings; required with ``method="refit"``, and used by
        ``"truncate"`` for the activations' scale (default: the model's stored scale).
    dataset : ConceptDataset, optional
        The training dataset of ``X`` (its labels); required with ``"refit"``, not needed
        by ``"truncate"`` (refused there without ``X``).
    method : {"refit", "truncate"}, default "refit"
    per_class : bool, default False
        At most ``nec`` non-zero weights in every class instead of ``nec * C`` overall.
    n_lambdas : int in [1, 1000] or None, default None
        Penalties on the re-fit's path, log-spaced down to 1e-3 of the first; None means
        20 (the reference walks up to 150 finer steps, stopping at its densest level; 20
        keep the cost of a re-fit to seconds on the built-in world). ``method="refit"``
        only: ``"truncate"`` fits no path and refuses a value.
    random_state : int, default 0
        Seeds the re-fit's batch shuffling (GLM-SAGA).

    Returns
    -------
    model
        A pruned copy (``pruned_concepts_`` lists concepts no class uses any more).

    Examples
    --------
    >>> import numpy as np
    >>> from bottlekit.bottleneck import PosthocCBM
    >>> from bottlekit.concepts import RandomConcepts
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(90, 8)), np.repeat([0, 1, 2], 30)
    >>> cbm = PosthocCBM(RandomConcepts(6), lam=1e-4, random_state=0).fit(X, y)
    >>> small = prune_to_nec(cbm, 2, method="truncate", per_class=True)
    >>> (small.coef_ != 0).sum(1).tolist()
    [2, 2, 2]
    """
    model = check_fitted_cbm(model)
    method = check_choice(method, METHODS, "method")
    if not isinstance(per_class, (bool, np.bool_)):
        raise TypeError(f"per_class: expected True or False, got {per_class!r}")
    if isinstance(nec, bool) or not isinstance(nec, numbers.Integral) or nec < 1:
        raise ValueError(f"nec: expected an int >= 1, got {nec!r}")
    level = min(int(nec), len(model.concept_names_))
    n_lambdas = _n_lambdas_for(method, n_lambdas)
    if method == "refit" and (X is None or dataset is None):
        raise ValueError(
            "X, dataset: method='refit' re-fits the head (as VLG-CBM does) and needs the "
            "training embeddings X and their dataset; or use method='truncate'"
        )
    if X is None:
        if dataset is not None:  # it was ignored: only "refit" reads the labels
            raise ValueError(
                "dataset: given without X; method='truncate' takes the activations' scale "
                "from the training embeddings X (or the model's stored scale without X) and "
                "needs no labels; pass X as well, or leave dataset None"
            )
        mu = model.concept_mean_.astype(np.float64)
        sd = np.where(model.concept_scale_ > 0, model.concept_scale_, 1.0).astype(np.float64)
        W_std = model.coef_.astype(np.float64) * sd
        b_std = model.intercept_.astype(np.float64) + model.coef_.astype(np.float64) @ mu
        return _with_head(model, _truncate(W_std, level, per_class), b_std, mu, sd, True)
    if dataset is None:  # "truncate" with X: its scale only, no labels needed
        X, y = check_embedding_array(model, X), None
    else:
        data = dataset_of(dataset)
        X = check_embeddings(model, X, data)
        y = model_class_labels(model, data)
    [(_, pruned, _)] = _pruned_models(
        model, X, y, [level], method, per_class, n_lambdas, random_state
    )
    return pruned


def accuracy_at_nec(
    model: Any,
    X_train: Any,
    train: Any,
    evaluation: dict[str, tuple[Any, Any]],
    nec: Any = REFERENCE_LEVELS,
    *,
    method: str = "refit",
    per_class: bool = False,
    n_lambdas: int | None = None,
    random_state: int = 0,
) -> NECResult:
    r"""Accuracy of ``model`` pruned to each NEC level (VLG-CBM's sparse evaluation).

    One regularisation path serves every level (as in the reference); see
    :func:`prune_to_nec` and the module docstring.

    Parameters
    ----------
    model : fitted BaseConceptBottleneck
        A bottlekit CBM (e.g. :class:`~bottlekit.bottleneck.PosthocCBM`), or the concept
        surrogate of :func:`~bottlekit.diagnostics.audit`.
    X_train : array (n, d)
        Embeddings of ``train``'s images (the head is re-fitted on them).
    train : ConceptDataset
        The training dataset of ``X_train`` (its labels).
    evaluation : dict of str to (X, ConceptDataset)
        Named evaluation sets, e.g. ``{"test": (X_test, test), "shifted": (...)}``.
    nec : int or list of int, default (5, 10, 15, 20, 25, 30)
        Levels (capped at the number of concepts).
    method : {"refit", "truncate"}, default "refit"
        Re-fit the head along a GLM-SAGA path, or truncate the model's own head, as in
        :func:`prune_to_nec`.
    per_class : bool, default False
        At most ``nec`` non-zero weights in every class instead of ``nec * C`` overall.
    n_lambdas : int in [1, 1000] or None, default None
        Penalties on the re-fit's path; None means 20. ``method="refit"`` only, as in
        :func:`prune_to_nec`.
    random_state : int, default 0
        Seeds the re-fit's batch shuffling (GLM-SAGA).

    Returns
    -------
    NECResult
        Per evaluation set, the ``accuracy`` at each of the ``levels``, next to the
        ``effective`` NEC reached and the unpruned ``dense_accuracy``.

    Examples
    --------
    >>> import numpy as np
    >>> from bottlekit.bottleneck import PosthocCBM
    >>> from bottlekit.concepts import RandomConcepts
    >>> from bottlekit.datasets import ConceptDataset
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(90, 8)), np.repeat([0, 1, 2], 30)
    >>> ds = ConceptDataset(np.zeros((90, 4, 4, 3), np.uint8), labels=y)
    >>> cbm = PosthocCBM(RandomConcepts(6), lam=1e-4, random_state=0).fit(X, y)
    >>> res = accuracy_at_nec(cbm, X, ds, {"train": (X, ds)}, [1, 3], method="truncate")
    >>> res.levels, res.effective
    ([1, 3], [1.0, 3.0])
    """
    model = check_fitted_cbm(model)
    method = check_choice(method, METHODS, "method")
    if not isinstance(per_class, (bool, np.bool_)):
        raise TypeError(f"per_class: expected True or False, got {per_class!r}")
    levels = _check_levels(nec, len(model.concept_names_))
    n_lambdas = _n_lambdas_for(method, n_lambdas)
    tr = dataset_of(train, "train")
    X_train = check_embeddings(model, X_train, tr, "X_train")
    if not isinstance(evaluation, dict) or not evaluation:
        raise TypeError(
            "evaluation: expected a non-empty dict {name: (X, dataset)}, got "
            f"{type(evaluation).__name__}"
        )
    sets = {}
    for name, pair in evaluation.items():
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise TypeError(f"evaluation[{name!r}]: expected a pair (X, dataset)")
        ds = dataset_of(pair[1], f"evaluation[{name!r}]")
        X_ds = check_embeddings(model, pair[0], ds, f"evaluation[{name!r}] X")
        sets[name] = (X_ds, model_class_labels(model, ds, f"evaluation[{name!r}]"))
    pruned = _pruned_models(
        model,
        X_train,
        model_class_labels(model, tr, "train"),
        levels,
        method,
        per_class,
        n_lambdas,
        random_state,
    )
    notes = []
    if method == "refit" and model.residual_coef_ is not None:
        notes.append("the re-fitted NEC heads drop the model's residual (a pure concept head)")
    acc = {s: [] for s in sets}
    nnz, eff, lams = [], [], []
    for level, m, lam in pruned:
        counts = (m.coef_ != 0).sum(1)
        nnz.append(counts)
        eff.append(float(counts.mean()))
        lams.append(lam)
        if eff[-1] < level - 1e-9:
            notes.append(f"NEC {level}: the path's densest head reached only {eff[-1]:.1f}")
        for s, (X, y) in sets.items():
            acc[s].append(float(np.mean(m.predict(X) == y)))
    dense = {s: float(np.mean(model.predict(X) == y)) for s, (X, y) in sets.items()}
    return NECResult(levels, acc, nnz, eff, lams, dense, method, bool(per_class), notes)
