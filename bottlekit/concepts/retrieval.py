"""Knowledge-retrieved concepts (KnoBo-style): hybrid retrieval, then grounded extraction."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bottlekit._checks import check_bool, check_number
from bottlekit._quiet import quiet_libraries
from bottlekit.concepts._backbone_arg import backbone_first
from bottlekit.concepts._io import check_names
from bottlekit.concepts.candidates import ConceptCandidates
from bottlekit.concepts.corpus import Passage, chunk_documents, load_corpus, split_sentences
from bottlekit.concepts.sentence_encoder import SentenceEncoder, encode_unit, resolve_encoder

if TYPE_CHECKING:
    from bottlekit.concepts.bank import ConceptBank

logger = logging.getLogger(__name__)

#: Per-class queries; the score of a passage is its best score over the queries.
QUERY_TEMPLATES = (
    "{}",
    "What does the {} look like?",
    "{} appearance: colour, shape, pattern, markings and parts",
)


class HybridRetriever:
    r"""BM25 (``bm25s``) + dense sentence-embedding retrieval over passages.

    The score of passage :math:`p` for query :math:`q` is

    .. math:: s(q, p) = w\,\frac{\mathrm{BM25}(q, p)}{\max_{p'} \mathrm{BM25}(q, p')}
              + (1 - w)\,\max(0, \cos(e_q, e_p))

    with :math:`w` = ``bm25_weight`` and :math:`e` unit sentence embeddings of the query
    and of the passage text (prefixed by its heading). BM25 alone when ``dense`` is off.

    Parameters
    ----------
    passages : list of Passage
        The passages to search (e.g. :func:`~bottlekit.concepts.chunk_documents`); at
        least one.
    bm25_weight : float, default 0.5
        :math:`w \in [0, 1]`.
    sentence_encoder : "minilm", callable or None
        ``None`` turns the dense part off (then ``bm25_weight`` is taken as 1).

    Examples
    --------
    >>> r = HybridRetriever(chunk_documents(load_corpus(texts)))  # doctest: +SKIP
    >>> r.search("cardinal", top_k=3)  # doctest: +SKIP
    """

    def __init__(
        self,
        passages: Sequence[Passage],
        *,
        bm25_weight: float = 0.5,
        sentence_encoder: SentenceEncoder | str | None = "minilm",
    ) -> None:
        check_number(
            bm25_weight, "bm25_weight", low=0, high=1, wording="must", expected="in [0, 1]"
        )  # before the import: bad input is named whether or not bm25s is installed
        try:
            import bm25s
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("retrieval needs bm25s: pip install 'bottlekit[retrieval]'") from exc
        self.passages = list(passages)
        if not self.passages:
            raise ValueError("passages is empty; the corpus gave no text to retrieve from")
        self.encoder = resolve_encoder(sentence_encoder)
        self.bm25_weight = float(bm25_weight) if self.encoder is not None else 1.0
        texts = [self._text(p) for p in self.passages]
        with quiet_libraries("bm25s"):
            tokens = bm25s.tokenize(texts, stopwords="en", show_progress=False)
            if not tokens.vocab:  # (bm25s: "max() arg is an empty sequence")
                raise ValueError(
                    f"the {len(texts)} passages hold no word to index (only punctuation or "
                    "English stopwords); expected text that describes the classes"
                )
            self._bm25 = bm25s.BM25()
            self._bm25.index(tokens, show_progress=False)
        self._bm25s = bm25s
        self._emb = encode_unit(self.encoder, texts) if self.encoder is not None else None

    @staticmethod
    def _text(p: Passage) -> str:
        return f"{p.heading}. {p.text}" if p.heading else p.text

    def bm25_scores(self, query: str) -> np.ndarray:
        """Raw BM25 scores of every passage.

        Parameters
        ----------
        query : str
            The query text, tokenised as the passages (English stopwords removed).

        Returns
        -------
        ndarray of float64, shape (n_passages,)
            BM25 score of each passage, >= 0; all 0 when no query word is in the index.
        """
        with quiet_libraries("bm25s"):
            toks = self._bm25s.tokenize(
                [query], stopwords="en", return_ids=False, show_progress=False
            )[0]
            vocab = self._bm25.vocab_dict
            toks = [t for t in toks if t in vocab]
            if not toks:
                return np.zeros(len(self.passages))
            return np.asarray(self._bm25.get_scores(toks), dtype=np.float64)

    def scores(self, query: str) -> np.ndarray:
        """Fused scores of every passage (see the class docstring).

        Parameters
        ----------
        query : str
            The query text.

        Returns
        -------
        ndarray of float64, shape (n_passages,)
            :math:`s(q, p)` of each passage, in [0, 1].
        """
        return self.scores_many([query])[0]

    def scores_many(self, queries: Sequence[str]) -> np.ndarray:
        """Fused scores (n_queries × n_passages); the queries are embedded in one batch.

        Parameters
        ----------
        queries : sequence of str
            The query texts.

        Returns
        -------
        ndarray of float64, shape (n_queries, n_passages)
            :math:`s(q, p)` of each query and passage, in [0, 1].
        """
        queries = list(queries)
        b = np.stack([self.bm25_scores(q) for q in queries])
        top = b.max(axis=1, keepdims=True)
        b = b / np.where(top > 0, top, 1.0)
        if self._emb is None:
            return b
        dense = np.maximum(encode_unit(self.encoder, queries) @ self._emb.T, 0.0)
        return self.bm25_weight * b + (1 - self.bm25_weight) * dense

    def search(self, queries: str | Sequence[str], top_k: int = 5) -> list[tuple[int, float]]:
        """Top passages for one query or several (a passage scores its best over queries).

        Parameters
        ----------
        queries : str or sequence of str
            One query, or several whose best score per passage counts.
        top_k : int, default 5
            The most passages returned, >= 1.

        Returns
        -------
        list of (int, float)
            ``(passage index, score)``, best first; passages of score 0 are left out, so
            there may be fewer than ``top_k``.
        """
        if isinstance(queries, str):
            queries = [queries]
        return self.search_groups([list(queries)], top_k=top_k)[0]

    def search_groups(
        self, groups: Sequence[Sequence[str]], top_k: int = 5
    ) -> list[list[tuple[int, float]]]:
        """:meth:`search` for several groups of queries, all embedded in one batch.

        Parameters
        ----------
        groups : sequence of sequence of str
            Groups of queries, each non-empty (e.g. one group of queries per class).
        top_k : int, default 5
            The most passages returned per group, >= 1.

        Returns
        -------
        list of list of (int, float)
            Per group, what :meth:`search` returns for its queries.
        """
        if not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive int, got {top_k!r}")
        flat = [q for g in groups for q in g]
        if not flat or any(len(g) == 0 for g in groups):
            raise ValueError("every query group needs at least one query")
        all_scores = self.scores_many(flat)
        out, start = [], 0
        for g in groups:
            s = all_scores[start : start + len(g)].max(axis=0)
            start += len(g)
            order = np.argsort(-s, kind="stable")[:top_k]
            out.append([(int(i), float(s[i])) for i in order if s[i] > 0])
        return out


# ------------------------------------------------------- offline extraction
_NEGATION = re.compile(
    r"\b(not|no|never|none|lacks?|lacking|without|unlike|rather than|instead of|neither|nor|"
    r"confused|mistaken|resembles?|similar to|compared|except|absent|rarely|seldom|"
    r"occasionally|sometimes|infrequently)\b|n't\b",
    re.I,
)
_PRONOUN_START = re.compile(
    r"^(it|its|they|their|this (?:species|bird|animal|plant|one)|these (?:birds|animals)|"
    r"the (?:species|bird|animal|plant)|both sexes|males?|females?|adults?|juveniles?|"
    r"look for)\b",
    re.I,
)
_CONTRAST_START = re.compile(
    r"^(?:unlike|like|compared (?:to|with)|in contrast to|as with)\b", re.I
)
_LEAD = re.compile(
    r"^(?:(?:the|a|an|adult|adults|male|males|female|females|juvenile|young|"
    r"most|many|all|some)\s+)+",
    re.I,
)
_HAVE = re.compile(
    r"\b(?:has|have|had|having|with|bears?|shows?|displays?|features?|sports?|possess(?:es)?|"
    r"look for)"
    r"\s+(.+)",
    re.I,
)
_COPULA = re.compile(r"^(?:its|their|the)\s+([a-z][a-z -]{1,30}?)\s+(?:is|are)\s+(.+)$", re.I)
_CUT = re.compile(
    r"\b(?:that|which|who|when|while|where|during|because|although|as well as|but|so|"
    r"in order|to help|used|found|present|visible)\b|[;:()]",
    re.I,
)
_DETERMINER = re.compile(r"^(?:a|an|the|its|their|his|her|some|several|many|also)\s+", re.I)
_ADVERB = re.compile(
    r"^(?:mostly|usually|often|generally|entirely|largely|typically|very|quite|rather|"
    r"always|almost always|nearly always|reliably|normally|commonly|frequently|clearly)"
    r"(?:\s+|$)",
    re.I,
)
# "The head is white.": a part of the current subject, not a new subject
_PART_COPULA = re.compile(r"^the\s+[a-z]+(?:\s+[a-z]+)?\s+(?:is|are)\b", re.I)
# "Appearance." / "Ketrel.": a section title inside plain text
_TITLE = re.compile(r"^[A-Z][\w' -]{0,40}[.:]?$")
# "Field marks of the ketrel: grey body, large body, ..."
_LIST_INTRO = re.compile(
    r"^(?:the\s+)?(?:key\s+|main\s+)?(?:field marks|features|marks|traits|characteristics|"
    r"identification(?: marks)?|appearance|attributes)\b[^:]{0,60}:\s*(.+)$",
    re.I,
)
_NON_VISUAL = {
    "call",
    "calls",
    "song",
    "songs",
    "voice",
    "diet",
    "nest",
    "nests",
    "range",
    "name",
    "habitat",
    "lifespan",
    "clutch",
    "food",
}


def _mentions(text: str, patterns: Mapping[str, re.Pattern]) -> list[str]:
    return [c for c, pat in patterns.items() if pat.search(text)]


def _class_patterns(class_names, aliases) -> dict[str, re.Pattern]:
    pats = {}
    for c in class_names:
        forms = [c, *(aliases or {}).get(c, [])]
        alt = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
        pats[c] = re.compile(rf"\b(?:{alt})(?:e?s)?\b", re.I)
    return pats


def _phrases(fragment: str, max_words: int) -> list[str]:
    fragment = _CUT.split(fragment)[0]
    fragment = re.sub(r"[.!?\"]+$", "", fragment.strip())
    out = []
    for part in re.split(r",|\band\b|\bor\b|&", fragment):
        part = re.sub(r"\s+", " ", part).strip(" .,-'\"").lower()
        for _ in range(3):
            part = _DETERMINER.sub("", part)
            part = _ADVERB.sub("", part)
        if part and 1 <= len(part.split()) <= max_words and re.search(r"[a-z]", part):
            out.append(part)
    return out


def extract_attributes(sentence: str, *, max_words: int = 6) -> list[str]:
    """Attribute phrases stated positively in one sentence (no subject check).

    "It has a red crest and a black mask." → ["red crest", "black mask"];
    "Its bill is thick and orange." → ["thick bill", "orange bill"]. Sentences with a
    negation or a comparison ("not", "unlike", "confused with" ...) give nothing.

    Parameters
    ----------
    sentence : str
        One sentence.
    max_words : int, default 6
        Longer phrases are dropped.

    Returns
    -------
    list of str
        The attribute phrases, lower case, in order.

    Examples
    --------
    >>> extract_attributes("Its bill is thick and orange.")
    ['thick bill', 'orange bill']
    >>> extract_attributes("It is not red.")
    []
    """
    if _NEGATION.search(sentence):
        return []
    m = _LIST_INTRO.match(sentence.strip())
    if m:
        items = re.split(r"\s*[,;]\s*|\s+and\s+", m.group(1).strip().rstrip(".!"))
        return [p for it in items for p in _phrases(it, max_words)]
    m = _COPULA.match(sentence.strip().rstrip(".!"))
    if m:
        noun = m.group(1).strip().lower()
        if noun in _NON_VISUAL:
            return []
        adjs = _phrases(m.group(2), max_words=3)
        return [f"{a} {noun}" for a in adjs if len(f"{a} {noun}".split()) <= max_words]
    m = _HAVE.search(sentence)
    return _phrases(m.group(1), max_words) if m else []


def _subject_sentences(passage: Passage, patterns: dict[str, re.Pattern]):
    """Yield (class or None, sentence) with a simple subject tracker.

    The subject starts as the class named in the heading (if exactly one). A sentence
    opening with the class name (after articles and words like "adult", "male") sets the
    subject to it; one opening with a pronoun ("It", "Its", "The species", "Males") or a
    contrast ("Unlike the X, ...") keeps the current subject; a sentence naming several
    classes, or opening with any other noun phrase ("The scarlet tanager ..."), makes the
    subject unknown until a sentence names a class again. This favours precision: after
    an aside about another species, "It has ..." is not attributed to anyone. Sentences
    about a part ("The head is white.") and short section titles ("Appearance.") keep
    the subject; "Field marks of the X: a, b, c" sets it to X.
    """
    subject = None
    if passage.heading:
        named = _mentions(passage.heading, patterns)
        subject = named[0] if len(named) == 1 else None
    text = passage.text
    for s, e in split_sentences(text):
        sent = text[s:e].lstrip("-*• ").strip()
        named = _mentions(sent, patterns)
        head = _LEAD.sub("", sent)
        if _CONTRAST_START.match(sent):
            pass  # "Unlike the X, it ...": the subject is unchanged (and not extracted)
        elif len(named) > 1:
            subject = None
        elif len(named) == 1 and patterns[named[0]].match(head):
            subject = named[0]  # "The cardinal ...", "Adult male cardinals ..."
        elif (
            len(named) == 1
            and _LIST_INTRO.match(sent)
            and ":" in sent
            and patterns[named[0]].search(sent.split(":", 1)[0])
        ):
            subject = named[0]  # "Field marks of the cardinal: ..."
        elif _PRONOUN_START.match(sent) or (not named and _PART_COPULA.match(sent)):
            pass
        elif not named and len(sent.split()) <= 3 and _TITLE.match(sent):
            pass  # "Appearance.": a section title keeps the subject
        else:
            subject = None
        yield subject, sent


def _extractive(cls, hits, passages, patterns, max_words):
    found: dict[str, list[int]] = {}
    for idx, _score in hits:
        for subject, sent in _subject_sentences(passages[idx], patterns):
            if subject != cls:
                continue
            for concept in extract_attributes(sent, max_words=max_words):
                if patterns[cls].search(concept):
                    continue  # "cardinal song": names the class, not an attribute
                found.setdefault(concept, [])
                if idx not in found[concept]:
                    found[concept].append(idx)
    return found


# --------------------------------------------------------------- LLM mode
_LLM_SYSTEM = (
    "You extract visual attributes of a class from reference passages. Use only facts the "
    "passages state about that class; ignore facts about other species or things."
)


def _llm_messages(cls: str, hits, passages) -> list[dict[str, str]]:
    numbered = "\n".join(
        f"[{n + 1}] {HybridRetriever._text(passages[i])}" for n, (i, _s) in enumerate(hits)
    )
    return [
        {"role": "system", "content": _LLM_SYSTEM},
        {
            "role": "user",
            "content": (
                f"Passages:\n{numbered}\n\nList the visual attributes of the {cls} stated in the "
                "passages, as a JSON list of objects "
                '{"concept": "<short phrase>", "passages": [<passage numbers>]}.'
            ),
        },
    ]


def _passage_refs(refs: Any, n_hits: int) -> list[int]:
    """The 0-based passages cited by ``refs``, an answer's ``"passages"``: a list of
    passage numbers (ints or ASCII digit strings), or one number; others are dropped."""
    out = []
    for r in refs if isinstance(refs, list) else [refs]:
        if isinstance(r, str):  # ("²".isdigit(); int() of 5000 digits raises)
            r = r.strip()
            r = int(r) if r.isascii() and r.isdigit() and len(r) <= 12 else None
        if isinstance(r, int) and not isinstance(r, bool) and 1 <= r <= n_hits:
            out.append(r - 1)
    return out


def _parse_llm(text: str, n_hits: int, max_words: int = 6) -> list[tuple[str, list[int]]]:
    """The concepts of an LLM answer and the passages each cites (0-based, below
    ``n_hits``): a JSON list of ``{"concept", "passages"}`` objects or, failing that, any
    list :func:`~bottlekit.concepts.llm.parse_concept_list` reads. Concepts of more than
    ``max_words`` words (``retrieve``'s ``max_concept_words``) or more than
    ``MAX_NAME_CHARS`` characters are dropped; an answer left without any is an
    ``LLMParseError``."""
    from bottlekit.concepts._io import MAX_NAME_CHARS
    from bottlekit.concepts._llm_parsing import _unfence
    from bottlekit.concepts.llm import LLMParseError, parse_concept_list
    from bottlekit.safetensors_file import parse_json

    body = _unfence(text)  # (in linear time, as parse_concept_list)
    # from the first "[" to the last "]" (found in linear time; the regular expression
    # r"\[.*\]" took quadratic time on an answer of brackets that never close)
    start, end = body.find("["), body.rfind("]")
    if 0 <= start < end:
        try:
            value = parse_json(body[start : end + 1])  # ValueError also for too deep
        except ValueError:
            value = None
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            out, too_long = [], 0
            for v in value:
                name = v.get("concept")
                if not isinstance(name, str) or not name.strip().rstrip(".").strip():
                    continue
                if len(name) > MAX_NAME_CHARS:  # not a name (its bank could not be loaded)
                    continue
                name = name.strip().lower().rstrip(".").strip()
                if len(name.split()) > max_words:  # as the offline extractor's phrases
                    too_long += 1
                    continue
                refs = _passage_refs(v.get("passages", []), n_hits)
                out.append((name, refs))
            if out:
                return out
            if too_long:
                raise LLMParseError(
                    f"no concepts of at most {max_words} words (max_concept_words) in the "
                    f"JSON answer ({too_long} longer): {body[:200]!r}"
                )
            raise LLMParseError(f"no concepts in the JSON answer: {body[:200]!r}")
    return [(c, []) for c in parse_concept_list(text, max_words=max_words)]


@backbone_first
def retrieve(
    backbone: Any,
    class_names: Sequence[str],
    corpus: Any,
    *,
    llm: Any = None,
    top_k: int = 8,
    queries: Sequence[str] = QUERY_TEMPLATES,
    bm25_weight: float = 0.5,
    sentence_encoder: SentenceEncoder | str | None = "minilm",
    max_words: int = 60,
    min_support: int = 1,
    aliases: Mapping[str, Sequence[str]] | None = None,
    max_concept_words: int = 6,
    templates: Sequence[str] | None = None,
    progress: bool = True,
) -> ConceptCandidates | ConceptBank:
    """Concepts grounded in a text corpus, in the spirit of KnoBo (Yang et al. 2024).

    1. The corpus (list of strings, dict, or folder of .txt/.md) is chunked into passages
       of whole sentences (:func:`~bottlekit.concepts.corpus.chunk_documents`).
    2. For each class, the queries in ``queries`` (formatted with the class name) retrieve
       ``top_k`` passages with :class:`HybridRetriever` (BM25 + MiniLM).
    3. Concepts come from the retrieved passages: with ``llm`` (a
       :class:`~bottlekit.concepts.llm.ChatClient`), the model lists the attributes the
       passages state and cites passage numbers; without, an offline extractive method
       keeps sentences whose subject is the class (heading/pronoun tracking; sentences
       about other species or naming several classes are skipped), drops negated or
       comparative sentences, and takes the objects of "has/with/shows..." and
       "Its <part> is <adjective>" as attribute phrases.

    Every concept keeps its supporting passages (document id, character span, text).
    KnoBo phrases concepts as yes/no questions grounded by per-concept classifiers;
    bottlekit keeps short phrases so they work with :func:`from_text`.

    Parameters
    ----------
    backbone : Backbone or None
        If given, the concepts are embedded (with ``templates``) and a ``ConceptBank`` is
        returned; None (or leaving it out of an all-keyword call) returns
        ``ConceptCandidates``. First, as in every builder; ``retrieve(class_names, corpus,
        ..., backbone=...)`` of earlier releases still works for this one, with a
        ``FutureWarning``.
    class_names : list of str
        The classes to find concepts for (the query subjects).
    corpus : list of str, dict id -> text, or folder path
        The texts to retrieve from, read by :func:`~bottlekit.concepts.load_corpus`.
    llm : ChatClient, optional
        Produce concepts with the LLM instead of the offline extractor.
    top_k : int
        Passages retrieved per class.
    queries : sequence of str
        Query templates with ``{}`` for the class name.
    bm25_weight : float
        Weight of BM25 in the hybrid score (see :class:`HybridRetriever`).
    sentence_encoder : "minilm", callable or None
        Dense encoder; ``None`` for BM25 only.
    max_words : int
        Passage length in words.
    min_support : int
        Keep a concept only if at least this many passages support it.
    aliases : dict class -> list of str, optional
        Other names of a class for subject tracking (e.g. ``{"cardinal": ["redbird"]}``).
    max_concept_words : int
        Longest concept, in words: phrases of the offline extractor, and concepts the
        LLM lists (longer ones are dropped), are at most this long.
    templates : list of str, optional
        Prompt templates of the embedding (with ``backbone``).
    progress : bool
        Show a progress bar.

    Returns
    -------
    ConceptCandidates or ConceptBank
        ``class_prior[c, j] = 1`` if concept ``j`` was found for class ``c``; provenance has
        ``source="retrieval"``, ``method`` ("extractive" or "llm") and ``evidence``: one
        entry per class with its supporting passages.

    Examples
    --------
    >>> cands = retrieve(None, ["cardinal"], ["The cardinal has a red crest."])  # doctest: +SKIP
    """

    class_names = check_names(class_names, "class_names")
    for value, name in (
        (top_k, "top_k"),
        (min_support, "min_support"),
        (max_concept_words, "max_concept_words"),
    ):
        check_number(value, name, integer=True, low=1, wording="must", expected="a positive int")
    check_number(bm25_weight, "bm25_weight", low=0, high=1, wording="must", expected="in [0, 1]")
    if isinstance(queries, str):
        raise TypeError(f"queries must be a list of strings with '{{}}', got the str {queries!r}")
    queries = list(queries)
    if not queries or any(not isinstance(q, str) or "{}" not in q for q in queries):
        raise ValueError(f"queries must be a non-empty list of strings with '{{}}', got {queries}")
    from bottlekit.concepts.from_text import check_templates

    queries = check_templates(queries, "queries")  # one '{}' and no other field
    if aliases is not None:
        if not isinstance(aliases, Mapping):
            raise TypeError(
                f"aliases must be a dict class name -> list of other names, got {aliases!r}"
            )
        for c, forms in aliases.items():
            check_names(forms, f"aliases[{c!r}]")
    progress = check_bool(progress, "progress")
    docs = load_corpus(corpus)
    passages = chunk_documents(docs, max_words=max_words)
    retriever = HybridRetriever(
        passages, bm25_weight=bm25_weight, sentence_encoder=sentence_encoder
    )
    patterns = _class_patterns(class_names, aliases)

    groups = [[q.format(c) for q in queries] for c in class_names]
    hits_of = dict(zip(class_names, retriever.search_groups(groups, top_k=top_k), strict=True))
    found: dict[str, dict[str, list[int]]] = {}
    response_of: dict[str, Any] = {}
    if llm is None:
        method = "extractive"
        for c in class_names:
            found[c] = _extractive(c, hits_of[c], passages, patterns, max_concept_words)
    else:
        from bottlekit.concepts.llm import LLMParseError

        method = "llm"
        todo = [c for c in class_names if hits_of[c]]
        # Only answers that parse are cached (a refusal is asked again, never stored); the
        # per-class parse below then checks the passage references against that class.
        most_hits = max((len(hits_of[c]) for c in todo), default=0)
        answers = llm.complete_many(
            [_llm_messages(c, hits_of[c], passages) for c in todo],
            progress=progress,
            desc="concepts from passages",
            parse=lambda text: _parse_llm(text, most_hits, max_concept_words),
            labels=[f"class {c!r}" for c in todo],
            parse_errors="return",
        )
        for c in class_names:
            found[c] = {}
        for c, resp in zip(todo, answers, strict=True):
            if isinstance(resp, LLMParseError):
                logger.warning("no parsable answer for class %r: %s; skipped", c, resp)
                continue
            response_of[c] = resp
            try:
                items = _parse_llm(resp.text, len(hits_of[c]), max_concept_words)
            except LLMParseError as exc:
                logger.warning(
                    "malformed answer for class %r (response %s): %s; skipped",
                    c,
                    resp.response_id,
                    exc,
                )
                continue
            for name, refs in items:
                idxs = [hits_of[c][r][0] for r in refs] or [i for i, _ in hits_of[c]]
                found[c].setdefault(name, [])
                found[c][name] += [i for i in idxs if i not in found[c][name]]

    order: list[str] = []
    evidence: dict[str, list[dict]] = {}
    owners: dict[str, set[int]] = {}
    for ci, c in enumerate(class_names):
        score = dict(hits_of[c])
        for name, idxs in found[c].items():
            if len(idxs) < min_support:
                continue
            if name not in evidence:
                order.append(name)
                evidence[name] = []
                owners[name] = set()
            entry = {
                "class": c,
                "passages": [
                    {**passages[i].to_dict(), "score": round(score.get(i, 0.0), 6)} for i in idxs
                ],
            }
            if c in response_of:
                entry["response_id"] = response_of[c].response_id
                entry["cache_key"] = response_of[c].cache_key
            evidence[name].append(entry)
            owners[name].add(ci)
    if not order:
        raise ValueError(
            f"no concepts found for {class_names} in the corpus ({len(docs)} documents, "
            f"{len(passages)} passages); check the class names (or aliases) occur in it"
        )
    prior = np.zeros((len(class_names), len(order)), dtype=np.float32)
    for j, name in enumerate(order):
        prior[sorted(owners[name]), j] = 1.0
    prov = [{"source": "retrieval", "method": method, "evidence": evidence[n]} for n in order]
    if llm is not None:
        for p in prov:
            p["model"] = llm.model
    cands = ConceptCandidates(order, prov, prior, class_names)
    if backbone is not None:
        return cands.to_bank(backbone, templates)
    return cands
