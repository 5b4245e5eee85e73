"""LLM-generated concepts with the prompting styles of LaBo and Label-free CBM."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bottlekit._checks import check_choice, check_number, check_unused, repeated_items
from bottlekit.concepts._backbone_arg import backbone_first
from bottlekit.concepts._io import check_names
from bottlekit.concepts.candidates import ConceptCandidates
from bottlekit.concepts.llm import ChatClient, LLMParseError, parse_concept_list

if TYPE_CHECKING:
    from bottlekit.concepts.bank import ConceptBank

logger = logging.getLogger(__name__)

_FORMAT = (
    "Answer with a list only: one short phrase of a few words per line, each line starting "
    "with '- '. No introduction, no explanations."
)

#: LaBo (Yang et al. 2023) asks GPT-3 for ten sentences per aspect ("Use 10 sentences to
#: describe how the {} looks like:\n1)", then the appearance, color, pattern and shape of the
#: {}: the templates its authors gave in LaBo issue #12) and parses the sentences into
#: concepts with a fine-tuned T5-large (weights only on a Google Drive link, issue #22).
#: bottlekit keeps the aspects' wording but asks the chat model for up to
#: ``n_per_prompt`` short phrases directly.
LABO_PROMPTS = {
    "looks": "Describe how the {cls} looks like.",
    "appearance": "Describe the appearance of the {cls}.",
    "color": "Describe the color of the {cls}.",
    "pattern": "Describe the pattern of the {cls}.",
    "shape": "Describe the shape of the {cls}.",
}

#: Label-free CBM (Oikarinen et al. 2023): three prompts per class, each with the two worked
#: examples of the reference's ``GPT_initial_concepts.ipynb`` (given here as earlier chat
#: turns instead of one completion prompt).
LABEL_FREE_PROMPTS = {
    "important": 'List the most important features for recognizing something as a "{cls}".',
    "superclass": 'Give superclasses for the word "{cls}".',
    "around": 'List the things most commonly seen around a "{cls}".',
}

# The reference's worked examples, word for word ("beerglass" is spelt so in its
# "important" prompt, "beer glass" in the two others).
_LABEL_FREE_SHOTS = {
    "important": [
        (
            "goldfish",
            [
                "bright orange color",
                "a small, round body",
                "a long, flowing tail",
                "a small mouth",
                "orange fins",
            ],
        ),
        (
            "beerglass",
            [
                "a tall, cylindrical shape",
                "clear or translucent color",
                "opening at the top",
                "a sturdy base",
                "a handle",
            ],
        ),
    ],
    "superclass": [
        ("tench", ["fish", "vertebrate", "animal"]),
        ("beer glass", ["glass", "container", "object"]),
    ],
    "around": [
        ("tench", ["a pond", "fish", "a net", "a rod", "a reel", "a hook", "bait"]),
        (
            "beer glass",
            ["beer", "a bar", "a coaster", "a napkin", "a straw", "a lime", "a person"],
        ),
    ],
}

PROMPT_STYLES = {"labo": LABO_PROMPTS, "label-free": LABEL_FREE_PROMPTS}

_SYSTEM = "You are a careful assistant who lists short, visual, human-readable concepts."


def build_messages(
    style: str, prompt_key: str, class_name: str, n_per_prompt: int
) -> list[dict[str, str]]:
    """Chat messages of one (style, prompt, class) request.

    A system message, then, for ``"label-free"``, the reference's worked examples as
    earlier user and assistant turns, and the question about ``class_name``.

    Parameters
    ----------
    style : {"labo", "label-free"}
        Whose prompts (:data:`PROMPT_STYLES`).
    prompt_key : str
        Which of the style's prompts (``"looks"``, ``"color"``, ... for LaBo;
        ``"important"``, ``"superclass"``, ``"around"`` for Label-free CBM).
    class_name : str
        The class asked about.
    n_per_prompt : int
        The most items the answer is asked for.

    Returns
    -------
    list of dict
        ``{"role": ..., "content": ...}`` messages, in order.

    Examples
    --------
    >>> m = build_messages("labo", "looks", "cardinal", 5)
    >>> [x["role"] for x in m], m[-1]["content"][:48]
    (['system', 'user'], 'Describe how the cardinal looks like. Give up to')
    >>> len(build_messages("label-free", "important", "cardinal", 5))
    6
    """
    prompts = PROMPT_STYLES[style]
    ask = f" Give up to {n_per_prompt} items. {_FORMAT}"
    messages = [{"role": "system", "content": _SYSTEM}]
    if style == "label-free":
        for shot_cls, items in _LABEL_FREE_SHOTS[prompt_key]:
            messages.append(
                {"role": "user", "content": prompts[prompt_key].format(cls=shot_cls) + ask}
            )
            messages.append({"role": "assistant", "content": "\n".join(f"- {x}" for x in items)})
    messages.append({"role": "user", "content": prompts[prompt_key].format(cls=class_name) + ask})
    return messages


@backbone_first
def generate(
    backbone: Any,
    class_names: Sequence[str],
    llm: ChatClient | None = None,
    *,
    style: str = "labo",
    prompts: Sequence[str] | None = None,
    n_per_prompt: int = 10,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    on_malformed: str = "skip",
    templates: Sequence[str] | None = None,
    progress: bool = True,
    refresh: bool | Sequence[str] = False,
    max_concurrency: int | None = None,
    request_deadline: float | str | None = "auto",
    run_deadline: float | None = None,
) -> ConceptCandidates | ConceptBank:
    """Ask an LLM for concepts of each class, in LaBo's or Label-free CBM's style.

    One chat request per (class, prompt); answers are parsed with
    :func:`~bottlekit.concepts.llm.parse_concept_list`, cut to their first ``n_per_prompt``
    items, pooled and de-duplicated. A concept
    proposed for several classes is kept once, with ``class_prior[c, j] = 1`` for each
    class ``c`` it was proposed for (LaBo initialises its class–concept weights from such a
    prior; its ``np.unique`` keeps a shared concept under one class only, the first).

    Label-free CBM sampled ``text-davinci-002`` twice per (class, prompt) at
    ``temperature=0.7``, ``max_tokens=256`` and took the union of the answers; here each
    (class, prompt) is one request with the client's ``params`` (the server's defaults
    unless set: ``ChatClient(params={"temperature": 0.7, "max_tokens": 256})`` gives the
    reference's settings, not its second sample).

    Requests run ``max_concurrency`` at a time (threads); the result is the same, in the
    same order, as one request at a time. Only answers that parse are cached: a refusal,
    an empty answer or ``content: null`` is asked again (``max_parse_retries`` of the
    client) and never stored, so a rerun asks for it again.

    Time is bounded: one request gives up after ``request_deadline`` seconds (all
    attempts and waits included) and the whole run after ``run_deadline`` seconds. An
    endpoint that cannot be reached (connection refused, unknown host, no route) fails
    the run after one short retry, without sending the other requests, with a message
    naming ``base_url`` / ``OPENAI_BASE_URL`` and the cache folder; rate limits (429, with
    their ``Retry-After``), server errors and timeouts are retried with backoff.

    Parameters
    ----------
    backbone : Backbone or None
        If given, the concepts are embedded and a ``ConceptBank`` is returned; None (or
        leaving it out of an all-keyword call) returns ``ConceptCandidates``. First, as in
        every builder; ``generate(class_names, llm, ..., backbone=...)`` of earlier releases
        still works for this one, with a ``FutureWarning``.
    class_names : list of str
        Classes to describe.
    llm : ChatClient, optional
        Client to use; by default one is built from ``model``, ``base_url``, ``api_key`` and
        ``cache_dir`` (or the ``OPENAI_*`` environment variables).
    style : {"labo", "label-free"}
        ``"labo"``: five descriptive prompts (looks, appearance, color, pattern, shape).
        ``"label-free"``: "important features", "superclasses", "things seen around", with
        the two worked examples of each prompt in the reference's notebook.
    prompts : list of str, optional
        Subset of the style's prompt keys (see ``PROMPT_STYLES``); all by default.
    n_per_prompt : int, default 10
        Items asked for per request, and the most taken from one answer: the first
        ``n_per_prompt`` of its items, in the answer's order, once parsed and
        de-duplicated (a cached answer is cut the same way). The concepts dropped from
        longer answers are counted in one logged warning. The last item of an answer
        cut by the token limit (``finish_reason`` ``"length"``), which may be cut
        mid-phrase, is dropped first, with one warning for all such answers.
    model : str, optional
        Model name for the client built here; defaults to ``$OPENAI_MODEL`` (refused
        when ``llm`` is given).
    base_url : str, optional
        Endpoint for the client built here, e.g. ``http://localhost:8000/v1``; defaults
        to ``$OPENAI_BASE_URL``, then the OpenAI API (refused when ``llm`` is given).
    api_key : str, optional
        Key for the client built here; defaults to ``$OPENAI_API_KEY``, only needed when
        a request misses the cache (refused when ``llm`` is given).
    cache_dir : path-like, optional
        Where the client built here caches request/response JSON files
        (:func:`~bottlekit.concepts.llm.default_cache_dir` by default; refused when ``llm``
        is given).
    on_malformed : {"skip", "raise"}
        An answer that is not a list: ``"skip"`` logs a warning naming the class and prompt
        and goes on; ``"raise"`` raises :class:`~bottlekit.concepts.llm.LLMParseError`.
    templates : list of str, optional
        Prompt templates for the embedding (with ``backbone``).
    progress : bool
        Show a progress bar.
    refresh : bool or list of str
        Ask again even if cached: ``True`` for every class, or the names of the classes to
        re-ask (their new answers replace the cached ones).
    max_concurrency : int, optional
        Requests in flight at once; the client's setting (8 by default) if not given.
    request_deadline : float, None or "auto", default "auto"
        Seconds one request may take in all, for the client built here (``None``: no
        bound; ``"auto"``: :class:`~bottlekit.concepts.llm.ChatClient`'s default, 120).
        Refused when ``llm`` is given: that client keeps its own ``request_deadline``.
    run_deadline : float or None
        Seconds the whole generation may take (``None``: no bound beyond the
        per-request one).

    Returns
    -------
    ConceptCandidates or ConceptBank
        Provenance per concept: ``source="llm"``, ``style``, ``model`` and, for each time it
        was proposed, the class, prompt key, prompt text, response id (``None`` when the
        endpoint sent none) and cache key.

    Examples
    --------
    >>> cands = generate(None, ["cardinal", "blue jay"], style="label-free",
    ...                  base_url="http://localhost:8000/v1", model="m")  # doctest: +SKIP
    """
    class_names = check_names(class_names, "class_names")
    style = check_choice(style, sorted(PROMPT_STYLES), "style", wording="must")
    if isinstance(prompts, str):
        raise TypeError(
            f"prompts must be a list of prompt keys (some of {list(PROMPT_STYLES[style])}), "
            f"got the str {prompts!r}"
        )
    keys = list(PROMPT_STYLES[style]) if prompts is None else list(prompts)
    bad = [k for k in keys if not isinstance(k, str) or k not in PROMPT_STYLES[style]]
    if bad or not keys:
        raise ValueError(
            f"prompts must be a non-empty subset of {list(PROMPT_STYLES[style])}, got {keys}"
        )
    repeated = repeated_items(keys)
    if repeated:  # each (class, prompt) would be asked, and recorded, twice
        raise ValueError(
            f"prompts lists {', '.join(map(repr, repeated))} more than once; expected each "
            f"prompt key once, got {keys}"
        )
    check_number(
        n_per_prompt, "n_per_prompt", integer=True, low=1, wording="must",
        expected="a positive int",
    )  # fmt: skip
    if llm is not None and not callable(getattr(llm, "complete_many", None)):
        raise TypeError(
            f"llm: expected a ChatClient (or None to make one from model=, base_url=), got "
            f"{type(llm).__name__}: {llm!r}"[:300]
        )
    if llm is not None:  # these only configure the client built here
        client_settings = {
            "model": model, "base_url": base_url, "api_key": api_key, "cache_dir": cache_dir
        }  # fmt: skip
        for name, value in client_settings.items():
            check_unused(value, name, "when llm is given", " or set it on the ChatClient")
        check_unused(
            request_deadline, "request_deadline", "when llm is given",
            " or set it on the ChatClient", unset="auto",
        )  # fmt: skip
    check_choice(
        on_malformed,
        ("skip", "raise"),
        "on_malformed",
        expected="'skip' or 'raise'",
        wording="must",
    )
    if refresh is True or refresh is False:
        renew = set(class_names) if refresh else set()
    elif isinstance(refresh, str) or not hasattr(refresh, "__iter__"):
        raise TypeError(
            f"refresh must be a bool or a list of class names, got {type(refresh).__name__}: "
            f"{refresh!r}"
        )
    else:
        renew = set(refresh)
        unknown = sorted(renew - set(class_names), key=str)
        if unknown:
            raise ValueError(
                f"refresh names classes that are not in class_names: {unknown}; expected "
                f"some of {class_names}"
            )
    if llm is None:
        deadline = {} if request_deadline == "auto" else {"request_deadline": request_deadline}
        llm = ChatClient(
            model, base_url=base_url, api_key=api_key, cache_dir=cache_dir, **deadline
        )

    jobs = [(c, k) for c in class_names for k in keys]
    requests = [build_messages(style, k, c, n_per_prompt) for c, k in jobs]
    responses = llm.complete_many(
        requests,
        progress=progress,
        desc=f"generate ({style})",
        parse=parse_concept_list,
        parse_errors="return",
        refresh=[c in renew for c, _ in jobs],
        labels=[f"class {c!r}, prompt {k!r}" for c, k in jobs],
        max_concurrency=max_concurrency,
        run_deadline=run_deadline,
    )

    order: list[str] = []
    sources: dict[str, list[dict]] = {}
    classes_of: dict[str, set[int]] = {}
    n_skipped = 0
    n_dropped, too_long = 0, []  # items beyond n_per_prompt; (class, key, n) of those answers
    cut = []  # (class, key) of the answers cut by the token limit
    for (cls, key), msgs, resp in zip(jobs, requests, responses, strict=True):
        if isinstance(resp, LLMParseError):
            msg = (
                f"malformed answer for class {cls!r}, prompt {key!r} from {llm.endpoint!r} "
                f"(not cached; a rerun asks again): {resp}"
            )
            if on_malformed == "raise":
                raise LLMParseError(msg) from resp
            logger.warning("%s; skipped", msg)
            n_skipped += 1
            continue
        items = resp.parsed
        if resp.finish_reason == "length":  # its last item may be cut mid-phrase
            cut.append((cls, key))
            items = items[:-1]
        if len(items) > n_per_prompt:
            n_dropped += len(items) - n_per_prompt
            too_long.append((cls, key, len(items)))
            items = items[:n_per_prompt]
        for item in items:
            if item not in sources:
                order.append(item)
                sources[item] = []
                classes_of[item] = set()
            sources[item].append(
                {
                    "class": cls,
                    "prompt_key": key,
                    "prompt": msgs[-1]["content"],
                    "response_id": resp.response_id,
                    "cache_key": resp.cache_key,
                }
            )
            classes_of[item].add(class_names.index(cls))
    if too_long:
        cls, key, n = too_long[0]
        logger.warning(
            "%d concept(s) beyond n_per_prompt=%d dropped from %d answer(s) that gave more "
            "(the first %d of each are kept); first: class %r, prompt %r (%d items)",
            n_dropped,
            n_per_prompt,
            len(too_long),
            n_per_prompt,
            cls,
            key,
            n,
        )
    if cut:
        logger.warning(
            "%d answer(s) cut by the token limit (finish_reason 'length'): the last item of "
            "each, which may be cut mid-phrase, was dropped (raise max_tokens in the "
            "client's params to keep it); first: class %r, prompt %r",
            len(cut),
            *cut[0],
        )
    if not order:
        raise LLMParseError(
            f"no concepts parsed from {len(jobs)} answer(s) ({n_skipped} malformed); see the log"
        )
    prior = np.zeros((len(class_names), len(order)), dtype=np.float32)
    for j, name in enumerate(order):
        prior[sorted(classes_of[name]), j] = 1.0
    provenance = [
        {"source": "llm", "style": style, "model": llm.model, "generated_for": sources[n]}
        for n in order
    ]
    cands = ConceptCandidates(order, provenance, prior, class_names)
    if backbone is not None:
        return cands.to_bank(backbone, templates)
    return cands
