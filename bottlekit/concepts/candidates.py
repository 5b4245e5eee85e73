"""``ConceptCandidates``: named concepts with provenance, before they get vectors."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bottlekit._arrays import as_index_array
from bottlekit._checks import repeated_items, shown_value
from bottlekit.concepts._io import check_class_prior, check_names, check_provenance

if TYPE_CHECKING:
    from bottlekit.concepts.bank import ConceptBank


class ConceptCandidates:
    """Concept names with provenance and an optional class prior, not yet embedded.

    LLM generation and retrieval produce candidates; :meth:`to_bank` embeds them with a
    backbone's text tower (:func:`~bottlekit.concepts.from_text`).

    Parameters
    ----------
    names : list of str
        Unique, non-empty concept names.
    provenance : list of dict
        One JSON-serialisable dict per concept.
    class_prior : array of shape (n_classes, k), optional
        Class–concept association, e.g. 1 where an LLM proposed the concept for the class.
    class_names : list of str, optional
        Names of the rows of ``class_prior`` (required when ``class_prior`` is given).

    Attributes
    ----------
    filter_report : FilterReport or None
        Set on the candidates :func:`~bottlekit.concepts.filter_concepts` returns.

    Examples
    --------
    >>> cands = ConceptCandidates(["red crest"], [{"source": "llm"}])
    >>> len(cands)
    1
    """

    def __init__(
        self,
        names: Sequence[str],
        provenance: Sequence[dict] | None = None,
        class_prior: np.ndarray | None = None,
        class_names: Sequence[str] | None = None,
    ) -> None:
        self.names = check_names(names, "names")
        k = len(self.names)
        if provenance is None or (isinstance(provenance, (list, tuple)) and not provenance):
            provenance = [{} for _ in range(k)]
        self.provenance = check_provenance(provenance)
        if len(self.provenance) != k:
            raise ValueError(f"provenance must have {k} entries, got {len(self.provenance)}")
        self.class_names, self.class_prior = check_class_prior(class_prior, class_names, k)
        self.filter_report = None

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        shown = ", ".join(shown_value(n) for n in self.names[:4])
        more = f", ... (+{len(self) - 4})" if len(self) > 4 else ""
        return f"ConceptCandidates(k={len(self)}, names=[{shown}{more}])"

    def subset(self, indices: Sequence[int]) -> ConceptCandidates:
        """Candidates at the given integer positions, in that order.

        Negative positions count from the end, as in numpy; the positions are checked
        by :func:`bottlekit._arrays.as_index_array`. A position given twice is refused
        (``ValueError`` naming ``indices``: the names of candidates are unique).

        Parameters
        ----------
        indices : sequence of int
            Positions in ``-k .. k - 1``; at least one.

        Returns
        -------
        ConceptCandidates
            Those names, their provenance (copied) and ``class_prior`` columns; the same
            class names.
        """
        k = len(self.names)
        idx = as_index_array(
            indices,
            "indices",
            high=k,
            negative=True,
            expected=f"positions in -{k}..{k - 1} of the {k} candidates",
        ).tolist()
        if not idx:
            raise ValueError("subset selects no concepts; at least one is needed")
        repeated = repeated_items(i % k for i in idx)
        if repeated:  # the names of candidates are unique
            raise ValueError(
                f"indices: positions {repeated} are given more than once (counting negative "
                "ones from the end); expected each candidate at most once"
            )
        return ConceptCandidates(
            [self.names[i] for i in idx],
            [copy.deepcopy(self.provenance[i]) for i in idx],
            None if self.class_prior is None else self.class_prior[:, idx],
            self.class_names,
        )

    def to_bank(self, backbone: Any, templates: Sequence[str] | None = None) -> ConceptBank:
        """Embed the candidates with ``backbone`` (see :func:`~bottlekit.concepts.from_text`).

        Parameters
        ----------
        backbone : Backbone
            Object with ``id`` and ``encode_texts(texts, templates=None)``.
        templates : list of str, optional
            Prompt templates with one ``{}``; ``None`` encodes the bare concept string.

        Returns
        -------
        ConceptBank
            One text vector per candidate, with the candidates' provenance (kind
            ``"text"``) and class prior.
        """
        from bottlekit.concepts.from_text import from_text

        return from_text(
            backbone,
            self.names,
            templates,
            provenance=self.provenance,
            class_prior=self.class_prior,
            class_names=self.class_names,
        )
