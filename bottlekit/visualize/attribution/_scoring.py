"""The concept scorer: the differentiable concept activation an attribution explains.

:func:`make_scorer` turns a :class:`~bottlekit.concepts.ConceptBank` or a fitted
concept-bottleneck model into a ``torch.nn.Module`` mapping embeddings (n, d) to the
activations (n, m) of the selected concepts. The concept names and the resolution of
``concepts`` arguments (names or indices) live here too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bottlekit.concepts.positions import concept_positions

__all__ = ["concept_names_of", "make_scorer", "resolve_concept_columns", "resolve_concepts"]


class _BankScorer(torch.nn.Module):
    """``ConceptBank.project`` in torch for the selected concepts (differentiable)."""

    def __init__(self, bank: Any, idx: list[int]) -> None:
        super().__init__()
        self.bank = bank
        self.idx = list(idx)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.bank.project(z)[:, self.idx]


class _ModelScorer(torch.nn.Module):
    """``model.transform_torch(z)[:, idx]`` of a fitted concept-bottleneck model."""

    def __init__(self, model: Any, idx: list[int]) -> None:
        super().__init__()
        self.model = model
        self.idx = list(idx)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.transform_torch(z)[:, self.idx]


def concept_names_of(source: Any) -> list[str]:
    """The concept names of a ConceptBank or of a fitted concept-bottleneck model."""
    from bottlekit.concepts.bank import ConceptBank

    if isinstance(source, ConceptBank):
        return list(source.names)
    if callable(getattr(source, "transform_torch", None)):
        names = getattr(source, "concept_names_", None)
        if names is None:
            raise ValueError(
                "concept_bank_or_model: the model is not fitted (no concept_names_); "
                "fit it before computing activation maps"
            )
        return list(names)
    raise TypeError(
        "concept_bank_or_model: expected a ConceptBank or a fitted concept-bottleneck model "
        f"(with transform_torch), got {type(source).__name__}"
    )


def resolve_concepts(concepts: Any, names: list[str]) -> list[int]:
    """Indices into ``names`` of ``concepts`` (names or indices; ``None``: all)."""
    if concepts is None:
        return list(range(len(names)))
    return concept_positions(
        concepts,
        names,
        expected=f"concept indices in 0..{len(names) - 1}",
        context="concepts",
        allow_empty=False,
    )


def _is_per_image(concepts: Any) -> bool:
    if isinstance(concepts, np.ndarray):
        return concepts.ndim == 2
    return (
        isinstance(concepts, (list, tuple))
        and len(concepts) > 0
        and all(isinstance(c, (list, tuple, np.ndarray)) for c in concepts)
    )


def check_pairs(pairs: Any, concepts: Any, n: int, k: int) -> np.ndarray | None:
    """``pairs`` checked: None, or a boolean (n, k) array of the (image, concept) pairs to
    map, ``k`` the concepts named by ``concepts`` (one list for every image).

    Examples
    --------
    >>> int(check_pairs([[True, False], [False, False]], None, 2, 2).sum())
    1
    >>> check_pairs(np.eye(2, dtype=int), None, 2, 2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: pairs: expected a boolean array (n images, k concepts), got dtype int64 ...
    >>> check_pairs([[True]], [[0], [1]], 2, 1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: pairs: its columns are the concepts named by concepts, ... per-image table
    """
    if pairs is None:
        return None
    if _is_per_image(concepts):
        raise ValueError(
            "pairs: its columns are the concepts named by concepts, one list for every "
            "image, not a per-image table"
        )
    if isinstance(pairs, torch.Tensor):
        pairs = pairs.detach().cpu().numpy()
    try:
        array = np.asarray(pairs)
    except ValueError:  # ragged rows
        array = np.asarray(pairs, dtype=object)
    if array.dtype != np.bool_:
        raise TypeError(
            f"pairs: expected a boolean array (n images, k concepts), got dtype {array.dtype}"
            + (" (0/1 labels: labels.astype(bool))" if array.dtype.kind in "iu" else "")
        )
    if array.shape != (n, k):
        raise ValueError(
            f"pairs: expected shape (n images, k concepts) = ({n}, {k}), got {array.shape}"
        )
    return array


def resolve_concept_columns(
    concepts: Any, names: list[str], n: int
) -> tuple[list[int], np.ndarray]:
    """The concepts to score and, per image, which of them each output map shows.

    Returns ``idx`` (indices into ``names``, the scorer's columns) and ``cols`` of shape
    (n, t): map ``c`` of image ``i`` is scorer column ``cols[i, c]``. ``concepts`` is
    either one list for every image (``cols[i] = 0..m-1``) or a 2-D table (n, t) of
    per-image concepts (``idx`` then holds each distinct concept once, in index order).
    A boolean table is refused: it marks pairs, which ``attribute`` takes as ``pairs``.
    """
    if (
        isinstance(concepts, (np.ndarray, torch.Tensor))
        and concepts.ndim == 2
        and (concepts.dtype in (np.bool_, torch.bool))
    ):
        raise TypeError(
            "concepts: a boolean (n, m) array marks (image, concept) pairs; pass it as "
            "pairs=, with concepts naming its columns (None: all concepts)"
        )
    if not _is_per_image(concepts):
        idx = resolve_concepts(concepts, names)
        return idx, np.broadcast_to(np.arange(len(idx)), (n, len(idx)))
    rows = [r.tolist() if isinstance(r, np.ndarray) else list(r) for r in concepts]
    widths = {len(r) for r in rows}
    if len(rows) != n or len(widths) != 1 or 0 in widths:
        raise ValueError(
            f"concepts: a per-image table must have one row per image ({n}) and one "
            f"non-zero length, got {len(rows)} rows of lengths {sorted(widths)}"
        )
    flat = resolve_concepts([c for r in rows for c in r], names)
    idx, cols = np.unique(np.asarray(flat), return_inverse=True)
    return idx.tolist(), cols.reshape(n, -1)


def make_scorer(source: Any, idx: list[int]) -> torch.nn.Module:
    """Module mapping embeddings (n, d) to the activations (n, len(idx)) of concepts ``idx``."""
    from bottlekit.concepts.bank import ConceptBank

    if isinstance(source, ConceptBank):
        return _BankScorer(source, idx)
    return _ModelScorer(source, idx)
