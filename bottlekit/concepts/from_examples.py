"""Concept activation vectors (CAVs) from labelled examples, as in Post-hoc CBM."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bottlekit._arrays import as_binary_array
from bottlekit._checks import (
    check_bool,
    check_number,
    check_seed,
    check_unused,
    is_number,
    shown_value,
)
from bottlekit._deprecation import DEPRECATED, is_unset
from bottlekit.concepts._backbone_arg import backbone_first
from bottlekit.concepts._io import check_names
from bottlekit.concepts.bank import ConceptBank, backbone_id_of
from bottlekit.concepts.dataset_examples import draw_concept_examples
from bottlekit.datasets.concept_dataset import ConceptDataset

logger = logging.getLogger(__name__)


#: The ``--C`` values of Post-hoc CBM's README commands (``SVC(kernel="linear", C=...)``).
#: Its reference fits one bank per value and the user picks one by file name; here they
#: are the grid that cross-validation picks from, per concept.
#: Positives (and negatives) per concept of ``max_examples="auto"`` (embeddings or images).
DEFAULT_MAX_EXAMPLES = 50
PCBM_C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)


class ChanceLevelWarning(UserWarning):
    """Some concept activation vectors are not better than chance on held-out examples."""


def _as_embeddings(
    data: Any, backbone: Any, progress: bool, cache: Any = True, cache_dir: Any = None
) -> np.ndarray:
    arr = None
    if isinstance(data, np.ndarray) or (
        hasattr(data, "__array__") and not isinstance(data, (list, tuple))
    ):
        arr = np.asarray(data)
    if arr is not None and arr.ndim == 2 and np.issubdtype(arr.dtype, np.floating):
        return arr.astype(np.float32, copy=False)
    if backbone is None:
        raise TypeError(
            "embeddings_or_images is not a 2-D float array of embeddings, so it is treated "
            "as images; pass backbone= to encode them"
        )
    from bottlekit.cache import embed

    X = embed(backbone, data, cache=cache, cache_dir=cache_dir, progress=progress)
    return np.asarray(X, dtype=np.float32)


def _as_label_matrix(concept_labels: Any, names: Sequence[str] | None, n: int):
    if isinstance(concept_labels, Mapping):
        if names is not None:
            raise ValueError("names must not be given when concept_labels is a dict")
        names = list(concept_labels.keys())
        cols = [np.asarray(concept_labels[k]).reshape(-1) for k in names]
        for name, c in zip(names, cols, strict=True):
            if c.shape[0] != n:
                raise ValueError(
                    f"concept_labels[{name!r}] has {c.shape[0]} labels; expected {n} (one per "
                    "example)"
                )
        L = np.stack(cols, axis=1) if cols else np.zeros((n, 0))
    else:
        L = np.asarray(concept_labels)
        if L.ndim == 1:
            L = L[:, None]
        if L.ndim != 2 or L.shape[0] != n:
            raise ValueError(
                f"concept_labels must have shape (n_examples, k) = ({n}, k), got {L.shape}"
            )
        if names is None:
            raise ValueError("names is required when concept_labels is an array")
    names = check_names(names, "names")
    if L.shape[1] != len(names):
        raise ValueError(f"concept_labels has {L.shape[1]} columns but {len(names)} names")
    return as_binary_array(L, "concept_labels", wording="must"), names


def _fit_one_cav(X, labels, Cs, cv, max_examples, rng):
    pos = np.flatnonzero(labels)
    neg = np.flatnonzero(~labels)
    n_each = min(len(pos), len(neg))
    if max_examples is not None:
        n_each = min(n_each, max_examples)
    if n_each < 4:
        return None, (len(pos), len(neg))
    pos = rng.choice(pos, n_each, replace=False)
    neg = rng.choice(neg, n_each, replace=False)
    return _fit_drawn_cav(X, pos, neg, n_each // 2, Cs, cv, rng), None


def _fit_drawn_cav(X, pos, neg, half, Cs, cv, rng, rows=None):
    """The CAV of drawn positives ``pos`` and negatives ``neg`` (rows of ``X``): the
    first ``half`` of each train, the rest is held out. ``rows`` maps the indices to
    rows of ``X`` (the indices themselves are reported)."""
    from scipy.stats import binomtest
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.svm import SVC

    train = np.concatenate([pos[:half], neg[:half]])
    held = np.concatenate([pos[half:], neg[half:]])
    y_train = np.r_[np.ones(half, bool), np.zeros(half, bool)]
    y_held = np.r_[np.ones(len(pos) - half, bool), np.zeros(len(neg) - half, bool)]
    X_train = X[train] if rows is None else X[rows(train)]
    X_held = X[held] if rows is None else X[rows(held)]
    folds = StratifiedKFold(n_splits=min(cv, half), shuffle=True, random_state=rng.integers(2**31))
    cv_scores = {}
    for C in Cs:
        cv_scores[C] = float(
            cross_val_score(SVC(kernel="linear", C=C), X_train, y_train, cv=folds).mean()
        )
    best_C = max(Cs, key=lambda c: (cv_scores[c], -c))  # ties: the stronger regularisation
    svm = SVC(kernel="linear", C=best_C).fit(X_train, y_train)
    correct = int((svm.predict(X_held) == y_held).sum())
    p_value = float(binomtest(correct, len(held), 0.5, alternative="greater").pvalue)
    info = {
        "C": float(best_C),
        "cv_accuracy": cv_scores[best_C],
        "heldout_accuracy": correct / len(held),
        "heldout_n": len(held),
        "heldout_p_value": p_value,
        "train_indices": train.tolist(),
        "heldout_indices": held.tolist(),
    }
    return svm.coef_.reshape(-1).astype(np.float32), float(svm.intercept_[0]), info


def _array_cavs(
    backbone, data, concept_labels, names, Cs, cv, max_examples, random_state, progress, cache,
    cache_dir,
):  # fmt: skip
    """CAVs of embeddings or images with a label matrix: ``([(name, fit)], skip message)``."""
    from tqdm.auto import tqdm

    X = _as_embeddings(
        data, None if isinstance(backbone, str) else backbone, progress, cache, cache_dir
    )
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"embeddings must have shape (n, d) with n > 0, got {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("embeddings contain NaN or inf; expected finite values")
    dim = getattr(backbone, "embed_dim", None)
    if is_number(dim, integer=True) and X.shape[1] != dim:
        raise ValueError(
            f"embeddings have {X.shape[1]} features but backbone {backbone_id_of(backbone)!r} "
            f"embeds in {dim}; give embeddings from this backbone"
        )
    L, names = _as_label_matrix(concept_labels, names, X.shape[0])

    rng = np.random.default_rng(random_state)
    fits, skipped = [], []
    for j in tqdm(range(len(names)), desc="CAVs", disable=not progress):
        fitted, counts = _fit_one_cav(X, L[:, j], Cs, cv, max_examples, rng)
        if fitted is None:
            skipped.append((names[j], counts))
        else:
            fits.append((names[j], fitted))
    msg = ""
    if skipped:
        listed = ", ".join(f"{n!r} (pos={p}, neg={q})" for n, (p, q) in skipped)
        msg = (
            f"skipped {len(skipped)} concept(s) with fewer than 4 positive or negative "
            f"examples: {listed}"
        )
    return fits, msg


def _dataset_cavs(
    backbone, dataset, names, n_examples, Cs, cv, random_state, progress, cache, cache_dir
):
    """CAVs of a ConceptDataset's drawn examples; only the drawn images are embedded."""
    from tqdm.auto import tqdm

    drawn = draw_concept_examples(dataset, n_examples, names, random_state)
    n_concepts = len(drawn.names) + len(drawn.skipped)
    msg = ""
    if drawn.skipped:
        listed = ", ".join(f"{c!r} (pos={p}, neg={q})" for c, (p, q) in drawn.skipped.items())
        msg = (
            f"skipped {len(drawn.skipped)} of {n_concepts} concept(s) with fewer than "
            f"2 x n_examples = {2 * drawn.n_examples} positive or negative images: {listed}"
        )
    if not drawn.names:
        return [], msg
    used = drawn.indices
    X = _as_embeddings(
        dataset.image_source.subset(used.tolist()), backbone, progress, cache, cache_dir
    )
    if not np.isfinite(X).all():
        raise ValueError("embeddings contain NaN or inf; expected finite values")

    def rows(indices: np.ndarray) -> np.ndarray:
        return np.searchsorted(used, indices)

    # an int seed draws the folds from a stream of its own; a generator (or other numpy
    # random object) goes on from where the draw of the examples left it (before:
    # "object of type 'numpy.random._generator.Generator' has no len()")
    if random_state is None or is_number(random_state, integer=True):
        rng = np.random.default_rng(None if random_state is None else [int(random_state), 1])
    else:
        rng = np.random.default_rng(random_state)
    fits = []
    for j in tqdm(range(len(drawn.names)), desc="CAVs", disable=not progress):
        pos, neg = drawn.positives[j], drawn.negatives[j]
        fit = _fit_drawn_cav(X, pos, neg, drawn.n_examples, Cs, cv, rng, rows=rows)
        fit[2]["n_examples"] = drawn.n_examples
        fits.append((drawn.names[j], fit))
    return fits, msg


@backbone_first
def from_examples(
    backbone: Any,
    embeddings_or_images: Any,
    concept_labels: Any = None,
    names: Sequence[str] | None = None,
    *,
    Cs: Sequence[float] = PCBM_C_GRID,
    cv: int = 3,
    max_examples: int | str | None = "auto",
    n_examples: int | None = None,
    significance_level: float = 0.05,
    drop_chance: bool = False,
    random_state: int | None = 0,
    progress: bool = False,
    cache: bool | Any = True,
    cache_dir: str | os.PathLike | None = None,
    backbone_id: Any = DEPRECATED,
    alpha: Any = DEPRECATED,
) -> ConceptBank:
    r"""Concept activation vectors: one linear SVM per concept, positives vs negatives.

    For each concept, ``m = min(n_pos, n_neg, max_examples)`` positive and ``m`` negative
    examples are drawn; half of each trains a linear SVM
    :math:`\min_{v,b} \tfrac12\lVert v\rVert^2 + C\sum_i \max(0, 1 - y_i(v\cdot x_i + b))`
    with ``C`` chosen by ``cv``-fold cross-validation over ``Cs`` on the training half;
    the other half measures held-out accuracy. The concept vector is :math:`v` and the
    intercept :math:`b`, so :meth:`ConceptBank.project` gives
    :math:`(v\cdot x + b)/\lVert v\rVert`, the signed distance to the hyperplane (PCBM).

    Given a :class:`~bottlekit.datasets.ConceptDataset` instead, the examples come from
    the dataset as Post-hoc CBM draws them (:func:`draw_concept_examples`): per concept
    ``2 n`` positive and ``2 n`` negative images (``n = n_examples``: 50, or 100 for CUB),
    the first ``n`` of each train the SVM and the other ``n`` are held out; concepts with
    fewer images are skipped and reported (a warning naming each with its counts). Only
    the drawn images are read and embedded, through the embedding cache.

    A CAV is *better than chance* when a one-sided binomial test of its held-out accuracy
    against 0.5 (the two held-out classes are balanced) has p-value below ``significance_level``.
    The test is bottlekit's: Post-hoc CBM's reference only prints the held-out accuracy, and
    TCAV's test is another one (a two-sided t-test of TCAV scores against those of CAVs
    trained on random example sets). Each concept is tested on its own, with no correction
    for testing ``k`` of them; for a family-wise level pass ``significance_level / k``
    (Bonferroni).

    Differences from Post-hoc CBM's reference (``learn_concepts_dataset.py``,
    ``concepts/concept_utils.py``): it has no cross-validation but fits one bank per value
    of ``--C`` (its README trains the CUB PCBM on the ``C = 0.1`` bank), which
    ``Cs=(0.1,)`` reproduces; and it learns CAVs on the backbone's raw features, where
    bottlekit's backbones return L2-normalised embeddings. An SVM on embeddings scaled by
    ``s`` with a given ``C`` is the one on the unscaled embeddings with ``C * s**2``, and
    its projections are ``s`` times as large: the same ``C`` regularises differently.

    Parameters
    ----------
    backbone : Backbone or str
        The backbone (encodes images; gives the bank's ``backbone_id``), or only its id
        when ``embeddings_or_images`` are embeddings. First, as in every builder; the order
        ``from_examples(embeddings_or_images, concept_labels, names, backbone=...)`` of
        earlier releases still works for this one, with a ``FutureWarning``.
    embeddings_or_images : array of shape (n, d), images or ConceptDataset
        Precomputed embeddings (a 2-D float array), or images
        (:func:`bottlekit.images.as_image_source`), which ``backbone`` embeds through the
        embedding cache (:func:`bottlekit.embed`), or a
        :class:`~bottlekit.datasets.ConceptDataset` with binary per-image
        ``concept_labels`` (use its training split, as Post-hoc CBM does).
    concept_labels : array of shape (n, k) or dict name -> array (n,)
        Binary concept labels of the examples; None with a ConceptDataset.
    names : list of str, optional
        Concept names (required with an array of labels); with a ConceptDataset, the
        concepts to learn (default all).
    Cs : sequence of float
        SVM regularisation grid, ``C`` picked per concept by cross-validation (default: the
        values 0.001–10 of PCBM's README, where each value gives its own bank; a single
        value skips the choice).
    cv : int
        Folds of the cross-validation that picks ``C``, at most the number of training
        examples of each side (a larger value is lowered to it, per concept).
    max_examples : int, None or "auto", default "auto"
        Positives (and negatives) per concept, training and held-out together: 50 trains on
        25 + 25. Post-hoc CBM's ``--n-samples 50`` trains on 50 + 50 and holds out as many
        again, which is ``max_examples=100`` here. ``None`` uses all, balanced; ``"auto"``
        means 50. Embeddings or images only: refused with a ConceptDataset (see
        ``n_examples``, which has ``--n-samples``' meaning there).
    n_examples : int, optional
        With a ConceptDataset only: Post-hoc CBM's ``n_samples``, the positive (and
        negative) *training* examples per concept; as many again are held out. Default
        :func:`~bottlekit.concepts.dataset_examples.pcbm_n_examples`: 100 for CUB (the
        command of Post-hoc CBM's README), 50 otherwise (its default).
    significance_level : float
        Significance level of the better-than-chance test (``alpha`` before this release).
    drop_chance : bool
        Drop concepts that are not better than chance (they are always reported with a
        :class:`ChanceLevelWarning` and flagged in provenance).
    random_state : int or None
        Seed for example sampling and folds.
    progress : bool
        Show a progress bar.
    cache : bool or EmbeddingCache, default True
        Embedding cache for images (see :func:`bottlekit.embed`); unused for embeddings.
    cache_dir : str or PathLike, optional
        Cache root (default ``$BOTTLEKIT_CACHE`` or ``~/.cache/bottlekit``).
    backbone_id : str, optional
        Deprecated: pass the id as ``backbone`` (FutureWarning; removed in the next
        release).
    alpha : float, optional
        Deprecated alias of ``significance_level`` (FutureWarning; removed in the next
        release): bottlekit keeps ``alpha`` for regularisation strengths.

    Returns
    -------
    ConceptBank
        ``provenance[j]`` holds ``C``, ``cv_accuracy``, ``heldout_accuracy``,
        ``heldout_p_value``, ``better_than_chance`` and the example indices used
        (with a ConceptDataset: indices into the dataset, and ``n_examples``). Not the
        training accuracy and train-margin statistics of the reference's pickles, which
        its PCBM does not use.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([[1], [0]], 40, axis=0)
    >>> X = rng.normal(size=(80, 4)) + 2 * labels  # the concept shifts the embedding
    >>> bank = from_examples("toy-backbone", X, labels, ["striped"], random_state=0)
    >>> bank.backbone_id, bank.kinds, bool(bank.provenance[0]["better_than_chance"])
    ('toy-backbone', ['cav'], True)
    """

    if isinstance(Cs, (str, bytes)) or not hasattr(Cs, "__iter__"):  # Cs=0.1 for Cs=(0.1,)
        raise TypeError(
            f"Cs must be a non-empty sequence of positive floats, got {shown_value(Cs)}"
        )
    Cs = tuple(Cs)
    if not Cs or not all(is_number(c) and np.isfinite(c) and c > 0 for c in Cs):
        raise ValueError(f"Cs must be a non-empty sequence of positive floats, got {Cs!r}")
    if not isinstance(cv, (int, np.integer)) or cv < 2:
        raise ValueError(f"cv must be an integer >= 2, got {cv!r}")
    if max_examples is not None and not (
        isinstance(max_examples, str) and max_examples == "auto"
    ):  # a numpy integer too, as for cv
        max_examples = check_number(
            max_examples, "max_examples", integer=True, low=4, wording="must",
            expected="an int >= 4, None or 'auto'",
        )  # fmt: skip
    progress = check_bool(progress, "progress")
    level_name = "significance_level"
    if not is_unset(alpha):
        warnings.warn(
            "from_examples: alpha= is renamed significance_level=; alpha still works in this "
            "release and will be removed in the next",
            FutureWarning,
            stacklevel=3,
        )
        significance_level, level_name = alpha, "alpha"
    if not is_number(significance_level) or not 0 < significance_level < 1:
        raise ValueError(f"{level_name} must be in (0, 1), got {significance_level!r}")
    # a Python float: a NumPy level made the flag a NumPy bool, which the bank's JSON
    # provenance refused ("provenance[0] is not JSON-serialisable")
    significance_level = float(significance_level)
    if not is_unset(backbone_id):
        warnings.warn(
            "from_examples: backbone_id= is deprecated; pass the backbone or its id as the "
            "first argument, from_examples(backbone, ...) (removed in the next release)",
            FutureWarning,
            stacklevel=3,
        )
        if backbone is None:
            backbone = backbone_id
        elif backbone_id != backbone_id_of(backbone):
            raise ValueError(
                f"backbone_id {backbone_id!r} does not match backbone.id "
                f"{backbone_id_of(backbone)!r}"
            )
    if backbone is None:
        raise ValueError(
            "backbone: give the backbone (or its id) so the bank knows its embedding space"
        )
    bid = backbone_id_of(backbone)
    drop_chance = check_bool(drop_chance, "drop_chance")
    check_seed(random_state, "random_state")

    if isinstance(embeddings_or_images, ConceptDataset):
        if concept_labels is not None:
            raise ValueError(
                "concept_labels: must be None when a ConceptDataset is given (its own "
                "concept_labels are used); choose concepts with names="
            )
        check_unused(  # it was ignored, silently: a dataset draws n_examples per concept
            max_examples, "max_examples", "with a ConceptDataset (it draws 2 x n_examples "
            "positives and negatives per concept)", " and set n_examples", unset="auto",
        )  # fmt: skip
        if isinstance(backbone, str):
            raise ValueError(
                f"backbone: got only the id {backbone!r}; a ConceptDataset's images need the "
                "Backbone itself to embed the drawn examples"
            )
        fits, skipped_msg = _dataset_cavs(
            backbone, embeddings_or_images, names, n_examples, Cs, cv, random_state, progress,
            cache, cache_dir,
        )  # fmt: skip
    else:
        if n_examples is not None:
            raise ValueError(
                "n_examples: applies to a ConceptDataset; for embeddings or images with "
                "concept_labels use max_examples"
            )
        if isinstance(max_examples, str):  # "auto"
            max_examples = DEFAULT_MAX_EXAMPLES
        fits, skipped_msg = _array_cavs(
            backbone, embeddings_or_images, concept_labels, names, Cs, cv, max_examples,
            random_state, progress, cache, cache_dir,
        )  # fmt: skip

    kept_names, vectors, intercepts, provenance, chance = [], [], [], [], []
    for name, (v, b, info) in fits:
        info["better_than_chance"] = info["heldout_p_value"] < significance_level
        if not info["better_than_chance"]:
            chance.append((name, info["heldout_accuracy"]))
            if drop_chance:
                continue
        kept_names.append(name)
        vectors.append(v)
        intercepts.append(b)
        provenance.append({"kind": "cav", "source": "examples", **info})
    if skipped_msg:
        warnings.warn(skipped_msg, ChanceLevelWarning, stacklevel=3)  # past backbone_first
        logger.info(skipped_msg)
    if chance:
        msg = ", ".join(f"{n!r} (held-out acc {a:.2f})" for n, a in chance)
        verb = "dropped" if drop_chance else "kept (drop_chance=False)"
        warnings.warn(
            f"{len(chance)} concept(s) are not better than chance "
            f"(binomial p >= {significance_level}), {verb}: {msg}",
            ChanceLevelWarning,
            stacklevel=3,  # past the backbone_first wrapper
        )
        logger.info("chance-level CAVs: %s", msg)
    if not kept_names:
        raise ValueError("no concept produced a usable CAV (see the warnings for why)")
    return ConceptBank(
        kept_names, np.stack(vectors), bid, intercepts=np.array(intercepts), provenance=provenance
    )


def chance_level_concepts(bank: ConceptBank) -> list[str]:
    """Names of the CAV concepts of ``bank`` flagged as not better than chance.

    Parameters
    ----------
    bank : ConceptBank
        A bank, e.g. from :func:`from_examples` with ``drop_chance=False``.

    Returns
    -------
    list of str
        The concepts of kind ``"cav"`` whose provenance has ``better_than_chance``
        False (held-out p-value not below ``significance_level``), in the bank's order;
        other kinds are never listed.

    Examples
    --------
    >>> prov = [{"kind": "cav", "better_than_chance": b} for b in (True, False)]
    >>> bank = ConceptBank(["striped", "shiny"], np.eye(2), "toy", provenance=prov)
    >>> chance_level_concepts(bank)
    ['shiny']
    """
    return [
        n
        for n, p in zip(bank.names, bank.provenance, strict=True)
        if p.get("kind") == "cav" and p.get("better_than_chance") is False
    ]
