"""``name_concepts``: a concept bank from a learned dictionary, each atom named by text."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from bottlekit._checks import check_bool
from bottlekit.concepts.bank import ConceptBank, backbone_id_of
from bottlekit.concepts.discovery._checks import at_mean, refuse_concepts_at_mean
from bottlekit.concepts.discovery.result import ConceptDictionary

__all__ = ["LLM_NAMING_PROMPT", "name_concepts", "name_scores", "parse_concept_name"]

#: The prompt of the LLM path of :func:`name_concepts`; ``{phrases}`` is the atom's
#: nearest vocabulary phrases, nearest first.
LLM_NAMING_PROMPT = (
    "A sparse autoencoder found one visual concept in image embeddings. The text "
    "descriptions nearest to it are, nearest first: {phrases}. Reply with one short name "
    "(at most 4 words) for the visual concept they share, and nothing else."
)


def parse_concept_name(text: str) -> str:
    """The first line of an LLM answer as a concept name (lower case, at most 6 words).

    Parameters
    ----------
    text : str
        The answer; its first non-blank line, stripped of quotes, markup and final
        punctuation, is the name.

    Returns
    -------
    str
        The name, lower case.

    Raises
    ------
    LLMParseError
        If the answer holds no such name.

    Examples
    --------
    >>> parse_concept_name('"Red crest."')
    'red crest'
    """
    from bottlekit.concepts.llm import LLMParseError

    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")
    name = line.strip(" \"'`*.-:").lower()
    if not name or len(name.split()) > 6:
        raise LLMParseError(f"expected a short concept name, got {str(text)[:80]!r}")
    return name


def name_scores(
    dictionary: ConceptDictionary, vocabulary: ConceptBank, *, center: bool = True
) -> np.ndarray:
    r"""Cosine of every atom with every vocabulary vector, shape (m, len(vocabulary)).

    With ``center`` the vocabulary is centred on its mean first: CLIP's text embeddings
    share a large common component (the modality gap, Liang et al. 2022) that the atoms,
    learned on centred image embeddings, do not have. Discover-then-Name's reference code
    does not centre: it takes the plain cosine of each atom with the unit text
    embeddings, which is ``center=False``. A concept that the centring leaves without a
    direction (at the mean up to float32's rounding: copies of one vector) is refused, as
    by :func:`decompose`.

    Parameters
    ----------
    dictionary : ConceptDictionary
        The atoms (its ``dictionary`` rows).
    vocabulary : ConceptBank
        The candidate names, embedded by the same backbone.
    center : bool, default True
        Centre the unit vocabulary vectors on their mean first.

    Returns
    -------
    ndarray of float64, shape (m, len(vocabulary))
        Cosine of atom :math:`j` with vocabulary vector :math:`t`.

    Examples
    --------
    >>> import numpy as np
    >>> from bottlekit.concepts import ConceptBank
    >>> from bottlekit.concepts.discovery import ConceptDictionary
    >>> atoms = np.eye(2, 3, dtype=np.float32)
    >>> d = ConceptDictionary("topk_sae", atoms, atoms, np.zeros(2, np.float32),
    ...                       np.zeros(3, np.float32), 1.0, k=1, backbone_id="toy")
    >>> vocab = ConceptBank(["x", "y", "z"], np.eye(3), "toy")
    >>> name_scores(d, vocab, center=False).round(3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    T = vocabulary.vectors.astype(np.float64)
    T = T / np.linalg.norm(T, axis=1, keepdims=True)
    if center and len(T) > 1:
        # a concept at the mean (all of them, for copies of one vector) has no direction:
        # every atom got its name by rounding noise, or a cosine of 0
        mean = T.mean(0)
        centred = T - mean
        refuse_concepts_at_mean(
            np.flatnonzero(at_mean(centred, T, mean)).tolist(), vocabulary.names, "center=True"
        )
        T = centred
    T = T / np.maximum(np.linalg.norm(T, axis=1, keepdims=True), 1e-12)
    D = dictionary.dictionary.astype(np.float64)
    D = D / np.maximum(np.linalg.norm(D, axis=1, keepdims=True), 1e-12)
    return D @ T.T


def name_concepts(
    dictionary: ConceptDictionary,
    vocabulary: ConceptBank,
    *,
    backbone: Any = None,
    center: bool = True,
    n_alternatives: int = 3,
    drop_dead: bool = True,
    llm: Any = None,
    llm_phrases: int = 10,
) -> ConceptBank:
    r"""Name each atom by its nearest vocabulary text (Discover-then-Name, Rao et al. 2024).

    Parameters
    ----------
    dictionary : ConceptDictionary
        From :func:`discover`.
    vocabulary : ConceptBank
        Candidate names and their text vectors, on the backbone of the dictionary.
    backbone : Backbone or str, optional
        If given, both the dictionary and the vocabulary must be of this backbone.
    center : bool, default True
        Centre the vocabulary vectors before the cosine (see :func:`name_scores`);
        ``False`` is the reference code's plain cosine.
    n_alternatives : int, default 3
        Runner-up names kept in each concept's provenance.
    drop_dead : bool, default True
        Leave out atoms that never fire on the training embeddings.
    llm : ChatClient, optional
        Name each atom by an LLM instead (an OpenAI-compatible endpoint through
        :class:`~bottlekit.concepts.ChatClient`, cached like every LLM call): the prompt
        :data:`LLM_NAMING_PROMPT` lists the atom's ``llm_phrases`` nearest vocabulary
        phrases. ``name_confidence`` stays the cosine of the nearest phrase.
    llm_phrases : int, default 10
        How many nearest vocabulary phrases the LLM is shown per atom (>= 1; only with
        ``llm``).

    Returns
    -------
    ConceptBank
        One concept per (live) atom, in atom order, named by its nearest text (a name
        nearest to several atoms goes plain to the closest one and with the suffix
        ``" [atom j]"`` to the others, then ``" (2)"``, ... where that is taken too; the
        reference gives them all the plain name).
        Vectors and intercepts are the SAE encoder's affine part
        (:meth:`ConceptDictionary.linear_encoder`), so :meth:`ConceptBank.project` gives
        the atom's pre-activation divided by the encoder row norm. Provenance:
        ``{"kind": "discovered", "method", "atom", "name_confidence" (cosine of the top
        name), "name_margin" (over the runner-up), "alternatives"}``.

    Examples
    --------
    >>> import numpy as np
    >>> from bottlekit.concepts import ConceptBank
    >>> from bottlekit.concepts.discovery import ConceptDictionary
    >>> atoms = np.eye(3, 4, dtype=np.float32)
    >>> d = ConceptDictionary("topk_sae", atoms, atoms, np.zeros(3, np.float32),
    ...                       np.zeros(4, np.float32), 1.0, k=1, backbone_id="toy")
    >>> vocab = ConceptBank(["b", "a", "c", "z"], np.eye(4)[[1, 0, 2, 3]], "toy")
    >>> bank = name_concepts(d, vocab)
    >>> bank.names, bank.provenance[0]["kind"]
    (['a', 'b', 'c'], 'discovered')
    """
    if not isinstance(dictionary, ConceptDictionary):
        raise TypeError(
            f"dictionary: expected a ConceptDictionary (from discover or "
            f"ConceptDictionary.load), got {type(dictionary).__name__}"
        )
    if not isinstance(vocabulary, ConceptBank):
        raise TypeError(
            f"vocabulary: expected a ConceptBank of candidate names (e.g. from_text), got "
            f"{type(vocabulary).__name__}"
        )
    if dictionary.backbone_id is not None and vocabulary.backbone_id != dictionary.backbone_id:
        raise ValueError(
            f"vocabulary: built for backbone {vocabulary.backbone_id!r} but the dictionary "
            f"was learned on embeddings of {dictionary.backbone_id!r}; encode the vocabulary "
            "with the same backbone"
        )
    if backbone is not None:
        vocabulary.check_backbone(backbone)
        if dictionary.backbone_id not in (None, backbone_id_of(backbone)):
            raise ValueError(
                f"backbone: {backbone_id_of(backbone)!r}, but the dictionary was learned on "
                f"{dictionary.backbone_id!r}"
            )
    if vocabulary.dim != dictionary.dim:
        raise ValueError(
            f"vocabulary: vectors of dimension {vocabulary.dim}, but the dictionary's atoms "
            f"have d={dictionary.dim}"
        )
    if (
        isinstance(n_alternatives, bool)
        or not isinstance(n_alternatives, numbers.Integral)
        or n_alternatives < 0
    ):
        raise ValueError(f"n_alternatives: expected an int >= 0, got {n_alternatives!r}")

    center, drop_dead = check_bool(center, "center"), check_bool(drop_dead, "drop_dead")
    S = name_scores(dictionary, vocabulary, center=center)
    atoms = np.flatnonzero(~dictionary.dead) if drop_dead else np.arange(dictionary.n_atoms)
    if len(atoms) == 0:
        raise ValueError("dictionary: every atom is dead; there is nothing to name")
    W, b = dictionary.linear_encoder()
    orders = {int(j): np.argsort(-S[j], kind="stable") for j in atoms}
    chosen = {j: vocabulary.names[orders[j][0]] for j in orders}
    if llm is not None:
        chosen = _llm_names(llm, vocabulary, orders, llm_phrases)
    names_of = _distinct_names(chosen, sorted(atoms.tolist(), key=lambda j: -S[j, orders[j][0]]))
    names, provenance = [], []
    for j in atoms.tolist():
        order = orders[j]
        names.append(names_of[j])
        second = float(S[j, order[1]]) if len(order) > 1 else -1.0
        provenance.append(
            {
                "kind": "discovered",
                "method": dictionary.method,
                "atom": j,
                "name": chosen[j],
                "named_by": "vocabulary" if llm is None else f"llm:{llm.model}",
                "name_confidence": round(float(S[j, order[0]]), 6),
                "name_margin": round(float(S[j, order[0]]) - second, 6),
                "alternatives": [vocabulary.names[i] for i in order[1 : 1 + n_alternatives]],
            }
        )
    return ConceptBank(
        names,
        W[atoms].astype(np.float32),
        vocabulary.backbone_id,
        intercepts=b[atoms].astype(np.float32),
        provenance=provenance,
    )


def _distinct_names(chosen: dict[int, str], by_confidence: list[int]) -> dict[int, str]:
    """Distinct concept names for the atoms ``by_confidence`` (most confident first) that
    chose the names ``chosen``: the atom closest to a name gets it plain, the others
    ``"name [atom j]"``; where that is taken too (a vocabulary name of that form, chosen
    plain by another atom), ``"name [atom j] (2)"``, ``(3)``, ...

    Plain names go first: before, an atom's ``"dog [atom 1]"`` could take the vocabulary's
    own name ``"dog [atom 1]"``, or collide with it, and the bank refused the duplicate
    ("names has duplicate name").
    """
    names_of: dict[int, str] = {}
    used: set[str] = set()
    for j in by_confidence:
        if chosen[j] not in used:
            names_of[j] = chosen[j]
            used.add(chosen[j])
    for j in by_confidence:
        if j in names_of:
            continue
        name, copy = f"{chosen[j]} [atom {j}]", 1
        while name in used:
            copy += 1
            name = f"{chosen[j]} [atom {j}] ({copy})"
        names_of[j] = name
        used.add(name)
    return names_of


def _llm_names(llm: Any, vocabulary: ConceptBank, orders: dict, n_phrases: int) -> dict:
    """One LLM request per atom (cached, concurrent), answers parsed to short names."""
    if not callable(getattr(llm, "complete_many", None)):
        raise TypeError(f"llm: expected a ChatClient, got {type(llm).__name__}")
    if isinstance(n_phrases, bool) or not isinstance(n_phrases, numbers.Integral) or n_phrases < 1:
        raise ValueError(f"llm_phrases: expected an int >= 1, got {n_phrases!r}")
    atoms = list(orders)
    requests = []
    for j in atoms:
        phrases = ", ".join(f'"{vocabulary.names[i]}"' for i in orders[j][:n_phrases])
        requests.append([{"role": "user", "content": LLM_NAMING_PROMPT.format(phrases=phrases)}])
    answers = llm.complete_many(
        requests,
        progress=False,
        desc="naming atoms",
        parse=parse_concept_name,
        labels=[f"atom {j}" for j in atoms],
    )
    return {j: a.parsed for j, a in zip(atoms, answers, strict=True)}
