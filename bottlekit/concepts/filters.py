"""Label-free CBM concept filters; each one reports what it removed and why."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from bottlekit._arrays import as_real_array
from bottlekit._checks import check_number
from bottlekit.concepts._backbone_arg import backbone_first
from bottlekit.concepts._io import check_names
from bottlekit.concepts.bank import ConceptBank
from bottlekit.concepts.candidates import ConceptCandidates
from bottlekit.concepts.sentence_encoder import SentenceEncoder, encode_unit, resolve_encoder

FILTERS = ("too_long", "class_name", "duplicate", "not_activated")


@dataclass(frozen=True)
class Removal:
    """One concept removed by one filter.

    Parameters
    ----------
    name : str
        The concept removed.
    filter : str
        The filter that removed it, one of :data:`FILTERS`.
    reason : str
        Why, in words (the value and the threshold it crossed).
    value : float or None, default None
        The measured value: characters (``too_long``), similarity (``class_name``,
        ``duplicate``) or mean top-k activation (``not_activated``); None for an exact
        class-name match.
    threshold : float or None, default None
        The threshold ``value`` was compared with.
    other : str or None, default None
        The class name (``class_name``) or the concept kept instead (``duplicate``).

    Examples
    --------
    >>> kept = filter_concepts(None, ["red", "a very long concept name that goes on"],
    ...                        sentence_encoder=None, activation_threshold=None)
    >>> r = kept.filter_report.removed[0]
    >>> r.filter, r.reason, r.value, r.threshold, r.other
    ('too_long', '37 characters > 30', 37.0, 30.0, None)
    """

    name: str
    filter: str
    reason: str
    value: float | None = None
    threshold: float | None = None
    other: str | None = None


@dataclass
class FilterReport:
    """What :func:`filter_concepts` removed, kept and skipped.

    Parameters
    ----------
    removed : list of Removal, default []
        Every removal, in filter order.
    kept : list of str, default []
        The names kept, in the given order.
    skipped : dict of str to str, default {}
        The filters that did not run (or ran on exact matches only), and why.

    Examples
    --------
    >>> kept = filter_concepts(None, ["red", "a very long concept name that goes on"],
    ...                        sentence_encoder=None, activation_threshold=None)
    >>> report = kept.filter_report
    >>> report.kept, report.removed_names(), report.skipped["not_activated"]
    (['red'], ['a very long concept name that goes on'], 'activation_threshold=None')
    """

    removed: list[Removal] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def by_filter(self) -> dict[str, list[Removal]]:
        """Removals grouped by filter name (every filter present, possibly empty).

        Returns
        -------
        dict of str to list of Removal
            Keyed by the names of :data:`FILTERS`, in their order of application.
        """
        out: dict[str, list[Removal]] = {f: [] for f in FILTERS}
        for r in self.removed:
            out[r.filter].append(r)
        return out

    def removed_names(self, filter: str | None = None) -> list[str]:
        """Names removed (by one filter, or by any).

        Parameters
        ----------
        filter : str or None, default None
            A name of :data:`FILTERS`; None: every filter.

        Returns
        -------
        list of str
            The names removed, in the order of removal.
        """
        return [r.name for r in self.removed if filter is None or r.filter == filter]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form.

        Returns
        -------
        dict
            ``removed`` (a list of dicts of the :class:`Removal` fields), ``kept`` and
            ``skipped``.
        """
        return {
            "removed": [asdict(r) for r in self.removed],
            "kept": list(self.kept),
            "skipped": dict(self.skipped),
        }

    def __str__(self) -> str:
        lines = [f"kept {len(self.kept)} concept(s), removed {len(self.removed)}"]
        for f, rs in self.by_filter().items():
            if f in self.skipped:
                lines.append(f"  {f}: skipped ({self.skipped[f]})")
            else:
                lines.append(f"  {f}: removed {len(rs)}")
            lines += [f"    - {r.name!r}: {r.reason}" for r in rs[:10]]
            if len(rs) > 10:
                lines.append(f"    ... and {len(rs) - 10} more")
        return "\n".join(lines)


_ARTICLE = re.compile(r"^(?:a|an|the)\s+", re.I)


def _canon(text: str) -> str:
    return re.sub(r"\s+", " ", _ARTICLE.sub("", text.strip().lower()))


def _names_of(concepts) -> list[str]:
    if isinstance(concepts, (ConceptBank, ConceptCandidates)):
        return list(concepts.names)
    if isinstance(concepts, str) or not hasattr(concepts, "__iter__"):
        raise TypeError(
            "concepts must be a ConceptBank, ConceptCandidates or list of str, got "
            f"{type(concepts).__name__}"
        )
    # refused before any filter runs (the kept names become ConceptCandidates, whose
    # names are unique); list(dict.fromkeys(names)) drops exact repeats
    return check_names(concepts, "concepts")


def _restrict(concepts, keep: list[int]) -> ConceptBank | ConceptCandidates:
    if isinstance(concepts, (ConceptBank, ConceptCandidates)):
        return concepts.subset(keep)
    names = list(concepts)
    return ConceptCandidates([names[i] for i in keep])


#: How far from 1 the float32 cosine of two identical unit vectors can fall.
_COSINE_ROUNDING = 1e-6


class _Similarity:
    """Text–text cosine: sentence encoder and CLIP text tower, mixed as Label-free CBM does."""

    def __init__(self, sentence_encoder, backbone, clip_weight):
        self.enc = sentence_encoder
        self.backbone = backbone
        self.w = clip_weight

    @property
    def available(self) -> bool:
        return self.enc is not None or self.backbone is not None

    def __call__(self, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        sims, weights = [], []
        if self.enc is not None:
            sims.append(encode_unit(self.enc, a) @ encode_unit(self.enc, b).T)
            weights.append(1.0)
        if self.backbone is not None:
            from bottlekit.concepts.from_text import encode_concept_texts

            ea = encode_concept_texts(self.backbone, a)
            eb = encode_concept_texts(self.backbone, b)
            sims.append(ea @ eb.T)
            weights.append(self.w)
        S = sum(w * s for w, s in zip(weights, sims, strict=True)) / sum(weights)
        # texts that embed identically have cosine 1 up to float32 rounding (0.99999994):
        # taken as 1, so that a threshold of 1 removes them as documented (before: kept)
        return np.where(np.abs(S - 1) <= _COSINE_ROUNDING, 1.0, S)


@backbone_first
def filter_concepts(
    backbone: Any,
    concepts: ConceptBank | ConceptCandidates | Sequence[str],
    class_names: Sequence[str] | None = None,
    *,
    max_length: int | None = 30,
    class_similarity: float | None = 0.85,
    duplicate_similarity: float | None = 0.90,
    activation_threshold: float | None = 0.25,
    top_k: int = 5,
    image_embeddings: np.ndarray | None = None,
    sentence_encoder: SentenceEncoder | str | None = "minilm",
    clip_weight: float = 3.0,
) -> ConceptBank | ConceptCandidates:
    r"""Apply Label-free CBM's concept filters in order, reporting every removal.

    1. ``too_long``: more than ``max_length`` characters.
    2. ``class_name``: equal to a class name (ignoring case and a leading article), or text
       similarity to a class name :math:`\ge` ``class_similarity``.
    3. ``duplicate``: pairs with similarity :math:`\ge` ``duplicate_similarity``; of each
       pair the concept with the lower summed similarity to all concepts is removed (the
       more general one is kept), as in Label-free CBM.
    4. ``not_activated``: the mean of the ``top_k`` largest activations over the training
       image embeddings is at most ``activation_threshold`` (text concepts only; CAVs are
       not on the cosine scale the threshold is for). As the reference's ``--clip_cutoff``,
       a concept is kept only strictly above the threshold.

    Text similarity is :math:`(s_{sent} + w\,s_{clip})/(1 + w)` with :math:`s_{sent}` the
    sentence-embedding cosine (all-MiniLM-L6-v2, offline; Label-free CBM used
    all-mpnet-base-v2) and :math:`s_{clip}` the backbone's text cosine, :math:`w` =
    ``clip_weight`` = 3 as in Label-free CBM; if only one is available it is used alone.
    A similarity within :math:`10^{-6}` of 1 (texts that embed identically, up to float32
    rounding) counts as 1, so a threshold of 1 removes exact duplicates.
    The default thresholds (30, 0.85, 0.90, 0.25 with top-5) are Label-free CBM's, set for
    CLIP ViT-B/16; other backbones may need others.

    Differences from the reference (``conceptset_utils.py``): its exact class-name match
    removes only the class name itself, after "a/an/the " or capitalised, and upper-cased
    (here any case, article and spacing); its similarity test skips the concept whose
    index equals the class's (an indexing slip, not reproduced); it visits near-duplicate
    pairs in alphabetical order of the concepts, here in the given order, which can change
    which member of a chain of near-duplicates is removed.

    Parameters
    ----------
    backbone : Backbone or None
        CLIP text tower for similarities and (for names/candidates) concept vectors; None
        (or leaving it out of an all-keyword call) uses the sentence encoder alone. First,
        as in every builder; ``filter_concepts(concepts, ..., backbone=...)`` of earlier
        releases still works for this one, with a ``FutureWarning``.
    concepts : ConceptBank, ConceptCandidates or list of str
        The concepts to filter (a list of names is returned as candidates).
    class_names : list of str, optional
        Needed by the ``class_name`` filter (skipped without it).
    max_length, class_similarity, duplicate_similarity, activation_threshold : optional
        Thresholds; ``None`` turns a filter off.
    top_k : int
        Images averaged by the activation filter.
    image_embeddings : array of shape (n, d), optional
        Training image embeddings; needed by the activation filter.
    sentence_encoder : "minilm", callable or None
        Sentence embedding function ``texts -> (n, d)``.
    clip_weight : float
        Weight of the CLIP similarity in the mix.

    Returns
    -------
    ConceptBank or ConceptCandidates
        The kept concepts: a bank for a bank, candidates for candidates or a list of
        names. Its ``filter_report`` attribute is the :class:`FilterReport` (what each
        filter removed and why). Before this release the function returned the tuple
        ``(kept, report)``, with a plain list for a list of names.

    Examples
    --------
    >>> kept = filter_concepts(None, ["red", "a very long concept name that goes on"],
    ...                        sentence_encoder=None, activation_threshold=None)
    >>> kept.names, kept.filter_report.removed_names("too_long")
    (['red'], ['a very long concept name that goes on'])
    """
    names = _names_of(concepts)
    if not isinstance(concepts, (ConceptBank, ConceptCandidates)):
        concepts = names  # read once: a generator was empty when the kept ones were taken
    if class_names is not None:
        class_names = check_names(class_names, "class_names")
    if max_length is not None:
        check_number(
            max_length, "max_length", integer=True, low=1, wording="must",
            expected="a positive int or None",
        )  # fmt: skip
    for arg, v in (
        ("class_similarity", class_similarity),
        ("duplicate_similarity", duplicate_similarity),
    ):
        if v is not None:
            check_number(
                v, arg, low=-1, high=1, wording="must", expected="a cosine in [-1, 1] or None"
            )
    if activation_threshold is not None:
        check_number(
            activation_threshold, "activation_threshold", wording="must",
            expected="a finite number or None",
        )  # fmt: skip
    check_number(top_k, "top_k", integer=True, low=1, wording="must", expected="a positive int")
    check_number(clip_weight, "clip_weight", low=0, wording="must", expected="a number >= 0")
    sim = _Similarity(resolve_encoder(sentence_encoder), backbone, clip_weight)
    report = FilterReport()
    alive = list(range(len(names)))

    def drop(idx: set[int]) -> None:
        alive[:] = [i for i in alive if i not in idx]

    # 1. too long
    if max_length is None:
        report.skipped["too_long"] = "max_length=None"
    else:
        gone = set()
        for i in alive:
            if len(names[i]) > max_length:
                gone.add(i)
                report.removed.append(
                    Removal(
                        names[i],
                        "too_long",
                        f"{len(names[i])} characters > {max_length}",
                        float(len(names[i])),
                        float(max_length),
                    )
                )
        drop(gone)

    # 2. too similar to a class name
    if class_names is None or class_similarity is None:
        report.skipped["class_name"] = (
            "no class_names given" if class_names is None else "class_similarity=None"
        )
    elif alive:
        class_names = list(class_names)
        canon = {_canon(c): c for c in class_names}
        gone = set()
        for i in alive:
            if _canon(names[i]) in canon:
                gone.add(i)
                report.removed.append(
                    Removal(
                        names[i],
                        "class_name",
                        f"is the class name {canon[_canon(names[i])]!r}",
                        other=canon[_canon(names[i])],
                    )
                )
        drop(gone)
        if sim.available and alive:
            S = sim([names[i] for i in alive], class_names)
            gone = set()
            for row, i in enumerate(alive):
                c = int(np.argmax(S[row]))
                if S[row, c] >= class_similarity:
                    gone.add(i)
                    report.removed.append(
                        Removal(
                            names[i],
                            "class_name",
                            f"similarity {S[row, c]:.3f} >= {class_similarity} to class "
                            f"{class_names[c]!r}",
                            float(S[row, c]),
                            float(class_similarity),
                            class_names[c],
                        )
                    )
            drop(gone)
        elif not sim.available:
            report.skipped["class_name"] = "exact matches only: no sentence_encoder or backbone"

    # 3. near-duplicates
    if duplicate_similarity is None:
        report.skipped["duplicate"] = "duplicate_similarity=None"
    elif not sim.available:
        report.skipped["duplicate"] = "no sentence_encoder or backbone"
    elif len(alive) > 1:
        cur = [names[i] for i in alive]
        S = sim(cur, cur)
        total = S.sum(axis=1)
        gone_local: set[int] = set()
        for a in range(len(cur)):
            for b in range(a + 1, len(cur)):
                if S[a, b] >= duplicate_similarity and a not in gone_local and b not in gone_local:
                    lose, win = (a, b) if total[a] < total[b] else (b, a)
                    gone_local.add(lose)
                    report.removed.append(
                        Removal(
                            cur[lose],
                            "duplicate",
                            f"similarity {S[a, b]:.3f} >= {duplicate_similarity} to {cur[win]!r} "
                            "(kept: higher total similarity to the other concepts)",
                            float(S[a, b]),
                            float(duplicate_similarity),
                            cur[win],
                        )
                    )
        drop({alive[k] for k in gone_local})

    # 4. not activated by the training images
    if activation_threshold is None:
        report.skipped["not_activated"] = "activation_threshold=None"
    elif image_embeddings is None:
        report.skipped["not_activated"] = "no image_embeddings given"
    elif alive:
        X = as_real_array(image_embeddings, "image_embeddings", dtype=None).astype(np.float32)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(f"image_embeddings must have shape (n, d), n > 0, got {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("image_embeddings contain NaN or inf")
        if isinstance(concepts, ConceptBank):
            sub = concepts.subset(alive)
        elif backbone is not None:
            sub = ConceptBank(
                [names[i] for i in alive],
                _encode_names(backbone, [names[i] for i in alive]),
                "filter",
            )
        else:
            raise ValueError(
                "the activation filter needs concept vectors: pass a ConceptBank or backbone="
            )
        if X.shape[1] != sub.dim:
            raise ValueError(
                f"image_embeddings have {X.shape[1]} features but the concept vectors have "
                f"d={sub.dim}; give embeddings from the backbone of the concepts"
            )
        A, is_cosine = sub.project(X), sub.cosine
        k = min(top_k, X.shape[0])
        top = -np.sort(-A, axis=0)[:k].mean(axis=0)
        gone = set()
        for col, i in enumerate(alive):
            # the reference keeps `highest > clip_cutoff`: a tie is removed
            if is_cosine[col] and top[col] <= activation_threshold:
                gone.add(i)
                report.removed.append(
                    Removal(
                        names[i],
                        "not_activated",
                        f"mean of top-{k} activations {top[col]:.3f} <= {activation_threshold} on "
                        f"{X.shape[0]} training images",
                        float(top[col]),
                        float(activation_threshold),
                    )
                )
        drop(gone)

    if not alive:
        raise ValueError(f"every concept was filtered out:\n{report}")
    report.kept = [names[i] for i in alive]
    kept = _restrict(concepts, alive)
    kept.filter_report = report
    return kept


def _encode_names(backbone, names):
    from bottlekit.concepts.from_text import encode_concept_texts

    return encode_concept_texts(backbone, names)
