"""Natural-language captions of world images, for training the world's CLIP model.

Each caption names a random subset of the concepts drawn in its image (never an
absent one), sometimes the background and, with probability ``p_species``, the
species, in one of several phrasings.
"""

from __future__ import annotations

import numpy as np

from bottlekit.world.species import BACKGROUND_GROUP, CONCEPT_GROUP, CONCEPT_NAMES

_BACKGROUND_PHRASES: dict[str, tuple[str, ...]] = {
    "water background": ("water background", "on the water", "near water"),
    "forest background": ("forest background", "in the forest", "among trees"),
    "sand background": ("sand background", "on the sand", "on a sandy beach"),
    "sky background": ("sky background", "in the sky", "against the sky"),
    "snow background": ("snow background", "in the snow", "on snowy ground"),
}
_SINGULAR = ("body", "head", "tail", "beak")


def concept_phrases(concept: str) -> tuple[str, ...]:
    """Ways a caption may name ``concept`` (its exact name first)."""
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
    labels = np.asarray(labels)
    concept_labels = np.asarray(concept_labels)
    if concept_labels.shape != (len(labels), len(CONCEPT_NAMES)):
        raise ValueError(
            f"concept_labels has shape {concept_labels.shape}; "
            f"expected ({len(labels)}, {len(CONCEPT_NAMES)})"
        )
    if not 0.0 <= p_species <= 1.0:
        raise ValueError(f"p_species={p_species!r}; expected a probability in [0, 1]")
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
