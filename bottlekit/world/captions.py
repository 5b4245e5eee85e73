"""Natural-language captions of world images, for training the world's CLIP model.

:func:`make_captions` (the shipped recipe) names a random subset of the concepts drawn
in its image (never an absent one), sometimes the background and, with probability
``p_species``, the species, in one of several phrasings. :func:`make_full_captions`
names every concept drawn in the image, part by part.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from bottlekit._arrays import as_index_array
from bottlekit._checks import check_choice, check_generator, check_number, is_number
from bottlekit.world.species import (
    BACKGROUND_GROUP,
    CONCEPT_GROUP,
    CONCEPT_NAMES,
    GROUP_KEYS,
    GROUPS,
    PART_NAMES,
    check_concept_labels,
)

_BACKGROUND_PHRASES: dict[str, tuple[str, ...]] = {
    "water background": ("water background", "on the water", "near water"),
    "forest background": ("forest background", "in the forest", "among trees"),
    "sand background": ("sand background", "on the sand", "on a sandy beach"),
    "sky background": ("sky background", "in the sky", "against the sky"),
    "snow background": ("snow background", "in the snow", "on snowy ground"),
}
_SINGULAR = ("body", "head", "tail", "beak")


def concept_phrases(concept: str) -> tuple[str, ...]:
    """Ways a caption may name ``concept`` (its exact name first).

    Parameters
    ----------
    concept : str
        One of the world's concepts (:data:`~bottlekit.world.CONCEPT_NAMES`).

    Returns
    -------
    tuple of str
        The phrases, the concept's name first.

    Examples
    --------
    >>> concept_phrases("eye stripe")
    ('eye stripe', 'an eye stripe', 'a stripe through the eye')
    >>> concept_phrases("forest background")
    ('forest background', 'in the forest', 'among trees')
    """
    expected = f"one of the world's concepts {list(CONCEPT_NAMES)}"
    concept = check_choice(concept, CONCEPT_NAMES, "concept", expected=expected)
    if concept in _BACKGROUND_PHRASES:
        return _BACKGROUND_PHRASES[concept]
    if concept == "eye stripe":
        return ("eye stripe", "an eye stripe", "a stripe through the eye")
    noun = concept.split()[-1]
    if noun in _SINGULAR:
        article = "an" if concept[0] in "aeiou" else "a"
        return (concept, f"{article} {concept}")
    return (concept,)


_PHRASES = [concept_phrases(c) for c in CONCEPT_NAMES]
_IS_BACKGROUND = CONCEPT_GROUP == BACKGROUND_GROUP
_WITH_SPECIES = (
    "a {sp} with {lst}.",
    "a photo of a {sp} with {lst}{bg}.",
    "{sp}: {lst}.",
    "this {sp} has {lst}{bg}.",
    "a {sp} showing {lst}.",
)
_SPECIES_ONLY = ("a photo of a {sp}.", "a {sp}.", "a {sp} {bgp}.", "a photo of a {sp} {bgp}.")
_WITHOUT_SPECIES = (
    "a bird with {lst}.",
    "a photo of a bird with {lst}{bg}.",
    "a small bird with {lst}{bg}.",
    "this bird has {lst}.",
)


def _check_caption_inputs(labels, concept_labels, class_names, rng, p_species):
    """The checked ``(labels, concept_labels)`` of :func:`make_captions` and
    :func:`make_full_captions`; every other argument is checked in place."""
    if isinstance(class_names, str) or not isinstance(class_names, Sequence):
        raise TypeError(
            f"class_names: expected a list of species names, got {type(class_names).__name__}"
        )
    if not all(isinstance(c, str) for c in class_names):
        raise TypeError("class_names: expected species names (str)")
    labels = as_index_array(
        labels,
        "labels",
        high=len(class_names),
        expected=f"class indices in 0..{len(class_names) - 1} (one per class name)",
    )
    concept_labels = check_concept_labels(concept_labels, n=len(labels))
    if not is_number(p_species) or not 0.0 <= p_species <= 1.0:
        raise ValueError(f"p_species={p_species!r}; expected a probability in [0, 1]")
    check_generator(rng)
    return labels, concept_labels


def _join(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def make_captions(
    labels: np.ndarray,
    concept_labels: np.ndarray,
    class_names: list[str] | tuple[str, ...],
    rng: np.random.Generator,
    p_species: float = 0.7,
    max_concepts: int = 4,
) -> list[str]:
    """One caption per image.

    Parameters
    ----------
    labels : numpy.ndarray of int, shape (n,)
        Species index of each image.
    concept_labels : numpy.ndarray of {0, 1}, shape (n, 31)
        Concepts drawn in each image.
    class_names : sequence of str
        Species names.
    rng : numpy.random.Generator
        Source of the choice of concepts and phrasing.
    p_species : float
        Probability that the caption names the species.
    max_concepts : int
        Most part concepts named by one caption (at least one is named unless the
        caption names only the species).

    Returns
    -------
    list of str
        The captions, one per image, in order.

    Examples
    --------
    >>> import numpy as np
    >>> from bottlekit.world.species import CONCEPT_NAMES
    >>> c = np.zeros((1, len(CONCEPT_NAMES)), dtype=np.uint8)
    >>> c[0, CONCEPT_NAMES.index("red body")] = 1
    >>> c[0, CONCEPT_NAMES.index("water background")] = 1
    >>> cap = make_captions(np.array([0]), c, ["ketrel"], np.random.default_rng(0))
    >>> isinstance(cap[0], str)
    True
    """
    labels, concept_labels = _check_caption_inputs(
        labels, concept_labels, class_names, rng, p_species
    )
    max_concepts = check_number(
        max_concepts, "max_concepts", integer=True, low=1, high=len(CONCEPT_NAMES)
    )
    n = len(labels)
    u = rng.random((n, 6))
    n_mention = rng.integers(1, max_concepts + 1, n)
    captions = []
    for i in range(n):
        on = np.flatnonzero(concept_labels[i])
        parts = on[~_IS_BACKGROUND[on]]
        bg = on[_IS_BACKGROUND[on]]
        chosen = rng.permutation(parts)[: n_mention[i]]
        words = [_PHRASES[k][int(u[i, 0] * len(_PHRASES[k]))] for k in chosen]
        bg_phrase = ""
        if len(bg):
            phrases = _PHRASES[bg[0]]
            bg_phrase = phrases[int(u[i, 1] * len(phrases))]
        use_bg = bg_phrase and u[i, 2] < 0.5
        if use_bg and bg_phrase.endswith("background"):
            words.append(bg_phrase)  # "... and water background" reads as a list item
            use_bg = False
        if len(words) == 0:
            words = ["feathers"]
        tail = f", {bg_phrase}" if use_bg else ""
        if u[i, 3] < p_species:
            sp = class_names[int(labels[i])]
            if u[i, 4] < 0.2:
                tpl = _SPECIES_ONLY[int(u[i, 5] * len(_SPECIES_ONLY))]
                if "{bgp}" in tpl and not bg_phrase:
                    tpl = "a photo of a {sp}."
                if "{bgp}" in tpl and bg_phrase.endswith("background"):
                    bg_phrase = _PHRASES[bg[0]][1]
                captions.append(tpl.format(sp=sp, bgp=bg_phrase))
                continue
            tpl = _WITH_SPECIES[int(u[i, 5] * len(_WITH_SPECIES))]
            captions.append(tpl.format(sp=sp, lst=_join(words), bg=tail))
        else:
            tpl = _WITHOUT_SPECIES[int(u[i, 5] * len(_WITHOUT_SPECIES))]
            captions.append(tpl.format(lst=_join(words), bg=tail))
    return captions


# A part's adjectives in the order English puts them: size/length, then shape or
# pattern, then colour ("large spotted grey body", "long forked banded tail").
_ADJECTIVE_ORDER = (
    "size",
    "tail",
    "beak",
    "crest",
    "pattern",
    "wing_pattern",
    "tail_shape",
    "tail_pattern",
    "body",
    "wings",
    "head",
    "eye",
    "beak_colour",
    "background",
)


def _full_attribute_list(on: np.ndarray) -> str:
    """Every drawn concept of one image, one item per part ("eye stripe" on its own)."""
    items = []
    for part in PART_NAMES:
        adjectives, alone = [], []
        for k in sorted(on, key=lambda k: _ADJECTIVE_ORDER.index(GROUP_KEYS[CONCEPT_GROUP[k]])):
            group = GROUPS[CONCEPT_GROUP[k]]
            if group.part != part:
                continue
            words = CONCEPT_NAMES[k].rsplit(" ", 1)
            if words[1] in ("body", "wings", "head", "tail", "beak", "background"):
                adjectives.append(words[0])
                noun = words[1]
            else:
                alone.append(CONCEPT_NAMES[k])
        if adjectives:
            items.append(" ".join(adjectives) + " " + noun)
        items.extend(alone)
    return ", ".join(items)


def _token_count(count_tokens: Callable[[str], int], text: str) -> int:
    count = count_tokens(text)
    if not is_number(count, integer=True) or count < 0:
        raise TypeError(
            f"count_tokens: expected it to return an int >= 0 (the number of tokens), got "
            f"{count!r:.80} for {text!r}"
        )
    return int(count)


def make_full_captions(
    labels: np.ndarray,
    concept_labels: np.ndarray,
    class_names: list[str] | tuple[str, ...],
    rng: np.random.Generator,
    p_species: float = 0.7,
    count_tokens: Callable[[str], int] | None = None,
    max_tokens: int = 30,
) -> list[str]:
    """One caption per image that names every concept drawn in it.

    The concepts of a part share its noun, adjectives in English order ("large spotted
    grey body, striped black wings, crested white head, eye stripe, long forked banded
    tail, long orange beak, water background."), so that the longest caption fits
    world-tiny's 32-token context. With probability ``p_species`` the caption starts
    with the species (``"ketrel: ..."``), unless that would make it longer than
    ``max_tokens``.

    Parameters
    ----------
    labels : numpy.ndarray of int, shape (n,)
        Species index of each image.
    concept_labels : numpy.ndarray of {0, 1}, shape (n, 31)
        Concepts drawn in each image.
    class_names : sequence of str
        Species names.
    rng : numpy.random.Generator
        Decides which captions name the species (``n`` uniform draws).
    p_species : float
        Probability that the caption names the species.
    count_tokens : callable, optional
        Text → number of tokens (without start and end tokens); when given, a caption
        with the species that would exceed ``max_tokens`` leaves the species out.
    max_tokens : int
        Token budget of a caption (the text tower's context less its start and end
        tokens).

    Returns
    -------
    list of str
        The captions, one per image, in order.

    Examples
    --------
    >>> import numpy as np
    >>> from bottlekit.world.species import CONCEPT_NAMES
    >>> c = np.zeros((1, len(CONCEPT_NAMES)), dtype=np.uint8)
    >>> for name in ("grey body", "spotted body", "black wings", "white head", "eye stripe",
    ...              "long tail", "orange beak", "water background"):
    ...     c[0, CONCEPT_NAMES.index(name)] = 1
    >>> make_full_captions(np.array([0]), c, ["ketrel"], np.random.default_rng(0), 1.0)
    ['ketrel: spotted grey body, black wings, white head, eye stripe, long tail, orange beak, water background.']
    """  # noqa: E501
    labels, concept_labels = _check_caption_inputs(
        labels, concept_labels, class_names, rng, p_species
    )
    if count_tokens is not None and not callable(count_tokens):
        raise TypeError(
            "count_tokens: expected None or a function from text to its number of tokens, "
            f"got {type(count_tokens).__name__}"
        )
    max_tokens = check_number(max_tokens, "max_tokens", integer=True, low=1)
    u = rng.random(len(labels))
    captions = []
    for i in range(len(labels)):
        text = _full_attribute_list(np.flatnonzero(concept_labels[i])) + "."
        if u[i] < p_species:
            with_species = f"{class_names[int(labels[i])]}: {text}"
            if count_tokens is None or _token_count(count_tokens, with_species) <= max_tokens:
                text = with_species
        captions.append(text)
    return captions
