"""Concept examples drawn from a :class:`~bottlekit.datasets.ConceptDataset`, as Post-hoc
CBM draws them (``data/concept_loaders.py`` of its reference code)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bottlekit._arrays import as_binary_array
from bottlekit.concepts._io import check_names
from bottlekit.datasets.concept_dataset import ConceptDataset

__all__ = [
    "PCBM_N_EXAMPLES",
    "PCBM_N_EXAMPLES_CUB",
    "ConceptExamples",
    "draw_concept_examples",
    "pcbm_n_examples",
]

#: Post-hoc CBM's ``--n-samples`` default (Broden, derm7pt): positive (and negative)
#: training examples per concept.
PCBM_N_EXAMPLES = 50
#: Post-hoc CBM's ``--n-samples`` for CUB (its README's command for CUB concepts).
PCBM_N_EXAMPLES_CUB = 100


def _is_cub_attribute(name: str) -> bool:
    return name.startswith("has_") and "::" in name


def pcbm_n_examples(dataset: ConceptDataset) -> int:
    """Post-hoc CBM's examples per concept for ``dataset``: 100 for CUB, else 50.

    A dataset counts as CUB when every concept name is a CUB attribute
    (``has_<part>_<what>::<value>``, as :func:`bottlekit.datasets.load_cub` and the
    CUB attributes joined by :func:`bottlekit.datasets.load_waterbirds` name them).

    Parameters
    ----------
    dataset : ConceptDataset
        The dataset the concept examples are drawn from; only its ``concept_names``
        are read.

    Returns
    -------
    int
        :data:`PCBM_N_EXAMPLES_CUB` or :data:`PCBM_N_EXAMPLES`.

    Examples
    --------
    >>> import numpy as np
    >>> ds = ConceptDataset(np.zeros((2, 4, 4, 3), np.uint8), labels=[0, 1],
    ...                     concept_names=["has_wing_color::blue"], concept_labels=[[1], [0]])
    >>> pcbm_n_examples(ds)
    100
    """
    names = dataset.concept_names or []
    return PCBM_N_EXAMPLES_CUB if names and all(map(_is_cub_attribute, names)) else PCBM_N_EXAMPLES


@dataclass(frozen=True)
class ConceptExamples:
    """The images drawn for each concept (indices into the dataset).

    Made by :func:`draw_concept_examples`; the fields are also its attributes.

    Parameters
    ----------
    names : list of str
        The concepts with enough examples, in the order drawn: that of
        :func:`draw_concept_examples`'s ``names``, else the dataset's.
    positives, negatives : int arrays of shape (len(names), 2 * n_examples)
        Dataset indices of each concept's positives and negatives; the first
        ``n_examples`` of each row train the CAV, the last ``n_examples`` are held out.
    n_examples : int
        ``n``: training (and held-out) examples per concept and side.
    skipped : dict of str to (int, int)
        Concepts with too few examples and their ``(positives, negatives)`` counts.

    Examples
    --------
    >>> import numpy as np
    >>> ex = ConceptExamples(["red"], np.array([[0, 1, 2, 3]]), np.array([[4, 5, 6, 7]]), 2, {})
    >>> ex.positives[:, : ex.n_examples].tolist(), ex.indices.tolist()
    ([[0, 1]], [0, 1, 2, 3, 4, 5, 6, 7])
    """

    names: list[str]
    positives: np.ndarray
    negatives: np.ndarray
    n_examples: int
    skipped: dict[str, tuple[int, int]]

    @property
    def indices(self) -> np.ndarray:
        """Every drawn image once, sorted: the only images that need embedding."""
        return np.union1d(self.positives.reshape(-1), self.negatives.reshape(-1)).astype(np.int64)


def _binary_labels(dataset: ConceptDataset) -> np.ndarray:
    if dataset.concept_labels is None:
        raise ValueError(
            "dataset: has no per-image concept_labels (concepts: "
            f"{dataset.n_concepts}); Post-hoc CBM's CAVs need positive and negative images "
            "of each concept"
        )
    return as_binary_array(
        dataset.concept_labels,
        "dataset.concept_labels",
        hint=" to draw positive and negative examples (soft labels are not)",
    )


def draw_concept_examples(
    dataset: ConceptDataset,
    n_examples: int | None = None,
    names: Sequence[str] | None = None,
    random_state: int | None = 0,
) -> ConceptExamples:
    """Draw ``2 n`` positive and ``2 n`` negative images of each concept, as Post-hoc CBM.

    Post-hoc CBM's reference code draws, per concept, ``2 * n_samples`` positive and
    ``2 * n_samples`` negative images without replacement, trains the CAV on the first
    ``n_samples`` of each and validates on the other ``n_samples``. Where a concept has
    fewer images it draws *with* replacement (repeating images); here such a concept is
    skipped instead and listed in ``skipped`` with its counts.

    Parameters
    ----------
    dataset : ConceptDataset
        With binary per-image ``concept_labels`` (Post-hoc CBM draws from the training
        split: pass ``load_dataset(..., split="train")``).
    n_examples : int, optional
        ``n``: positive (and negative) training examples per concept, >= 2. Default
        :func:`pcbm_n_examples`: 100 for CUB, 50 otherwise.
    names : list of str, optional
        The concepts to draw (default all, in the dataset's order).
    random_state : int or None, default 0
        Seed; the same seed draws the same images.

    Returns
    -------
    ConceptExamples
        The drawn indices of each concept with at least ``2 n`` positives and ``2 n``
        negatives, and the counts of those skipped.

    Examples
    --------
    >>> import numpy as np
    >>> L = np.array([[1, 1]] * 4 + [[0, 1]] * 4)  # "all": no negatives
    >>> ds = ConceptDataset(np.zeros((8, 4, 4, 3), np.uint8), labels=[0] * 8,
    ...                     concept_names=["red", "all"], concept_labels=L)
    >>> ex = draw_concept_examples(ds, n_examples=2, random_state=0)
    >>> ex.names, ex.skipped, sorted(ex.positives[0].tolist())
    (['red'], {'all': (8, 0)}, [0, 1, 2, 3])
    """
    if not isinstance(dataset, ConceptDataset):
        raise TypeError(f"dataset: expected a ConceptDataset, got {type(dataset).__name__}")
    if n_examples is None:
        n_examples = pcbm_n_examples(dataset)
    if isinstance(n_examples, bool) or not isinstance(n_examples, (int, np.integer)):
        raise ValueError(f"n_examples: expected an int >= 2, got {n_examples!r}")
    if n_examples < 2:
        raise ValueError(f"n_examples: expected an int >= 2, got {n_examples!r}")
    n = int(n_examples)
    L = _binary_labels(dataset)
    all_names = list(dataset.concept_names or [])
    if names is None:
        columns = list(range(len(all_names)))
    else:
        if isinstance(names, str):
            raise ValueError(f"names: expected a list of concept names, got the str {names!r}")
        names = check_names(names, "names")  # before: a repeat was refused by the bank at
        # the end, after every CAV was fitted
        unknown = [c for c in names if c not in all_names]
        if unknown:
            raise ValueError(
                f"names: {unknown[:5]} are not concepts of the dataset; it has "
                f"{len(all_names)} (first {all_names[:5]})"
            )
        columns = [all_names.index(c) for c in names]
    rng = np.random.default_rng(random_state)
    kept: list[str] = []
    pos_rows: list[np.ndarray] = []
    neg_rows: list[np.ndarray] = []
    skipped: dict[str, tuple[int, int]] = {}
    for j in columns:
        pos, neg = np.flatnonzero(L[:, j]), np.flatnonzero(~L[:, j])
        if len(pos) < 2 * n or len(neg) < 2 * n:
            skipped[all_names[j]] = (len(pos), len(neg))
            continue
        kept.append(all_names[j])
        pos_rows.append(rng.choice(pos, 2 * n, replace=False))
        neg_rows.append(rng.choice(neg, 2 * n, replace=False))

    def stack(rows: list[Any]) -> np.ndarray:
        return np.stack(rows).astype(np.int64) if rows else np.zeros((0, 2 * n), np.int64)

    return ConceptExamples(kept, stack(pos_rows), stack(neg_rows), n, skipped)
