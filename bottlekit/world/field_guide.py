"""A field guide to the world's birds: the knowledge source for retrieved concepts.

Three documents per species (a field-guide entry, natural-history notes with facts
that cannot be seen in images, and an observer's notes), for the 24 species of the
images and for six species that never appear in them, plus two general documents.
Appearance sentences use varied phrasing with frequency words derived from the
class–concept matrix; each entry also lists the species' field marks (the concepts
it shows in at least half of its images) by their exact concept names.
"""

from __future__ import annotations

import numpy as np

from bottlekit._checks import check_number
from bottlekit.world.species import (
    _PROFILES,
    CONCEPT_NAMES,
    EXTRA_PROFILES,
    class_concept_matrix,
    dominant_options,
)

_HABITAT = {
    "water background": ("lakes and slow rivers", "open water", "reed-fringed ponds"),
    "forest background": ("dense forest", "old woodland", "shaded forest clearings"),
    "sand background": ("sandy shores", "dunes and beaches", "dry sandy plains"),
    "sky background": ("open skies above the hills", "high open country", "windy ridges"),
    "snow background": ("snowfields", "cold snowy uplands", "the edges of glaciers"),
}
_DIETS = ("seeds", "beetles", "small fish", "berries", "snails", "moths", "grass shoots", "ants")
_CALLS = (
    "a low, rolling whistle",
    "two sharp clicks",
    "a rising trill repeated three times",
    "a soft chatter",
    "a descending series of notes",
    "a harsh single call",
)
_NESTS = (
    "in hollow logs",
    "in burrows dug into banks",
    "in cup nests woven from grass",
    "on bare ground among stones",
    "high in tall trees",
    "in dense thorny shrubs",
)
_SEASONS = ("spring", "summer", "autumn", "winter")
_FOLKLORE = (
    "Local stories say its song foretells rain.",
    "Farmers once believed it kept insects from the orchards.",
    "It appears on an old coin of the region.",
    "Poets of the valley wrote about its evening song.",
    "Children in the region count its calls to guess the time.",
)


def _adverb(p: float, rng: np.random.Generator) -> str:
    if p >= 0.85:
        return str(rng.choice(["almost always", "nearly always", "reliably", "typically"]))
    if p >= 0.5:
        return str(rng.choice(["often", "usually", "mostly"]))
    return str(rng.choice(["sometimes", "occasionally"]))


def _describe(concept: str, p: float, rng: np.random.Generator) -> str:
    """One appearance sentence about ``concept`` with frequency ``p``."""
    adv = _adverb(p, rng)
    if concept.endswith("background"):
        return ""
    if concept == "eye stripe":
        forms = (
            f"A stripe runs through the eye, {adv} visible.",
            f"It {adv} shows an eye stripe.",
            f"The face is crossed by an eye stripe, {adv}.",
        )
        return str(rng.choice(forms))
    adj, noun = concept.rsplit(" ", 1)
    verb = "are" if noun == "wings" else "is"
    art = "" if noun == "wings" else ("an " if adj[0] in "aeiou" else "a ")
    forms = (
        f"The {noun} {verb} {adv} {adj}.",
        f"It {adv} has {art}{adj} {noun}.",
        f"Look for its {adj} {noun}, present {adv}.",
        f"Adults {adv} show {art}{concept}.",
    )
    return str(rng.choice(forms))


def _entry(i: int, profiles, matrix, names, dom, rng) -> list[tuple[str, str]]:
    name = names[i]
    row = matrix[i]
    marks = [c for c, p in zip(CONCEPT_NAMES, row, strict=True) if p >= 0.5]
    rare = [c for c, p in zip(CONCEPT_NAMES, row, strict=True) if 0.3 <= p < 0.5]
    bg = next(c for c in marks if c.endswith("background"))
    habitat = str(rng.choice(_HABITAT[bg]))
    size = "large" if "large body" in marks else "small"
    title = name.capitalize()
    overview = (
        f"{title}. The {name} is a {size} bird of {habitat}; most sightings are made there, "
        f"so the {bg} is typical of photographs of it. "
        f"It feeds mainly on {rng.choice(_DIETS)}."
    )
    sentences = [_describe(c, p, rng) for c, p in zip(CONCEPT_NAMES, row, strict=True) if p >= 0.3]
    sentences = [s for s in sentences if s]
    order = rng.permutation(len(sentences))
    appearance = "Appearance. " + " ".join(sentences[j] for j in order)
    field_marks = f"Field marks of the {name}: " + ", ".join(marks) + "."
    if rare:
        field_marks += " Less often seen: " + ", ".join(rare) + "."
    # most similar other species: fewest differing dominant options
    diff = (dom != dom[i]).sum(1)
    diff[i] = 10**6
    j = int(np.argmin(diff))
    other_marks = {c for c, p in zip(CONCEPT_NAMES, matrix[j], strict=True) if p >= 0.5}
    shared = [c for c in marks if c in other_marks and not c.endswith("background")]
    own = [c for c in marks if c not in other_marks and not c.endswith("background")]
    similar = (
        f"Similar species. The {name} can be confused with the {names[j]}, which shares "
        f"its {', '.join(shared[:4]) or 'shape'}; the {name} is told apart by its "
        f"{', '.join(own) or 'habitat'}."
    )
    guide = "\n\n".join([overview, appearance, field_marks, similar])

    history = (
        f"Natural history of the {name}.\n\n"
        f"The {name} nests {rng.choice(_NESTS)} and lays {rng.integers(2, 7)} eggs. "
        f"Its call is {rng.choice(_CALLS)}. "
        f"Birds live for up to {rng.integers(3, 15)} years.\n\n"
        f"In {rng.choice(_SEASONS)} the {name} gathers in flocks of up to "
        f"{rng.integers(5, 60)} birds. {rng.choice(_FOLKLORE)}"
    )
    seen = [marks[k] for k in rng.permutation(len(marks))[:3]]
    notes = (
        f"Observer notes: the {name}.\n\n"
        f"On a {rng.choice(_SEASONS)} morning I watched a {name} in {habitat}. "
        f"Through the glasses I could make out {', '.join(seen)}. "
        f"It called {rng.integers(2, 9)} times before flying off."
    )
    return [(name, guide), (name, history), (name, notes)]


def make_corpus(seed: int = 0) -> tuple[list[str], list[str | None]]:
    """Build the field guide.

    Parameters
    ----------
    seed : int
        Seed of the phrasing choices; the facts themselves (field marks) do not
        depend on it.

    Returns
    -------
    documents : list of str
        The documents (paragraphs separated by blank lines).
    subjects : list of str or None
        The species each document is about (``None`` for general documents).

    Examples
    --------
    >>> docs, subjects = make_corpus(0)
    >>> len(docs) == len(subjects)
    True
    >>> "ketrel" in subjects
    True
    """
    seed = check_number(seed, "seed", integer=True, low=0)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7919]))
    profiles = _PROFILES + EXTRA_PROFILES
    names = [p[0] for p in profiles]
    matrix = class_concept_matrix(profiles)
    dom = dominant_options(profiles)[:, :-1]
    pairs: list[tuple[str | None, str]] = [
        (
            None,
            "About this guide.\n\nThis guide covers the birds of the valley and its "
            "surroundings. Each entry gives the habitat, the appearance and the field marks "
            "of one species, followed by notes on its behaviour.",
        ),
        (
            None,
            "Glossary.\n\nA crest is a tuft of feathers standing up from the head. "
            "An eye stripe is a band of contrasting colour through the eye. A forked tail "
            "ends in two points; a banded tail is crossed by pale bars. Birds are measured "
            "from the tip of the beak to the end of the tail.",
        ),
    ]
    for i in range(len(profiles)):
        pairs.extend(_entry(i, profiles, matrix, names, dom, rng))
    return [d for _, d in pairs], [s for s, _ in pairs]
