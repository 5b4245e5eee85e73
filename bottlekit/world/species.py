"""Species, parts and concepts of the built-in world, and the class–concept matrix.

The world is a synthetic CUB-200: every species is defined by a *profile*, one
dominant option per attribute group (body colour, wing pattern, tail length, ...),
and by how reliably it shows that option. An image of species ``c`` draws, for each
group ``g`` independently, one option from the categorical distribution

.. math::

    P(o \\mid c, g) = r_{c,g} \\,[o = d_{c,g}] + \\frac{1 - r_{c,g}}{|O_g| - 1}\\,[o \\ne d_{c,g}],

where :math:`d_{c,g}` is the dominant option and :math:`r_{c,g}` its reliability
(0.9, or 0.6 for the two *noisy* groups of each species). Each binary concept is one
option of one group; the class–concept matrix holds the marginal probability
:math:`P(\\text{concept} = 1 \\mid c)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from bottlekit._arrays import as_binary_array, as_real_array
from bottlekit._checks import check_choice, check_number

PART_NAMES: tuple[str, ...] = ("body", "wing", "head", "tail", "beak", "background")
"""Parts, in the order of ``World.part_masks``; ``background`` is every pixel not on the bird."""

RELIABLE = 0.9
"""Probability of a species' dominant option in an ordinary attribute group."""
NOISY = 0.6
"""Probability of a species' dominant option in one of its two noisy groups."""
TYPICAL_BACKGROUND = 0.9
"""Probability that a train/val/test image shows its species' typical background."""


@dataclass(frozen=True)
class ConceptGroup:
    """A group of mutually exclusive options of one part.

    Parameters
    ----------
    key : str
        The group's name (``"pattern"``, ``"background"``, ...).
    part : str
        The part it is drawn on (one of :data:`PART_NAMES`).
    concepts : tuple of str
        The binary concepts of the group, one per visible option.
    option_words : tuple of str
        The option of each concept as one word (``"spotted"`` for ``"spotted body"``).
    none_option : str or None
        The option that draws no concept (``"plain"``), or ``None`` when one of the
        concepts is always present (a colour).

    Examples
    --------
    >>> g = GROUPS[1]
    >>> g.key, g.concepts, g.options
    ('pattern', ('spotted body', 'striped body'), ('spotted', 'striped', 'plain'))
    """

    key: str
    part: str
    concepts: tuple[str, ...]
    option_words: tuple[str, ...]
    none_option: str | None

    @property
    def options(self) -> tuple[str, ...]:
        """Option words, concepts first, then the no-concept option if any."""
        return self.option_words + ((self.none_option,) if self.none_option else ())


GROUPS: tuple[ConceptGroup, ...] = (
    ConceptGroup(
        "body",
        "body",
        ("red body", "blue body", "yellow body", "green body", "grey body"),
        ("red", "blue", "yellow", "green", "grey"),
        None,
    ),
    ConceptGroup(
        "pattern", "body", ("spotted body", "striped body"), ("spotted", "striped"), "plain"
    ),
    ConceptGroup("size", "body", ("large body",), ("large",), "small"),
    ConceptGroup(
        "wings",
        "wing",
        ("black wings", "white wings", "brown wings", "orange wings", "blue wings"),
        ("black", "white", "brown", "orange", "blue"),
        None,
    ),
    ConceptGroup("wing_pattern", "wing", ("striped wings",), ("striped",), "plain"),
    ConceptGroup(
        "head",
        "head",
        ("black head", "white head", "yellow head", "red head"),
        ("black", "white", "yellow", "red"),
        None,
    ),
    ConceptGroup("crest", "head", ("crested head",), ("crested",), "plain"),
    ConceptGroup("eye", "head", ("eye stripe",), ("eye stripe",), "none"),
    ConceptGroup("tail", "tail", ("long tail",), ("long",), "short"),
    ConceptGroup("tail_shape", "tail", ("forked tail",), ("forked",), "square"),
    ConceptGroup("tail_pattern", "tail", ("banded tail",), ("banded",), "plain"),
    ConceptGroup("beak", "beak", ("long beak",), ("long",), "short"),
    ConceptGroup("beak_colour", "beak", ("orange beak", "black beak"), ("orange", "black"), None),
    ConceptGroup(
        "background",
        "background",
        (
            "water background",
            "forest background",
            "sand background",
            "sky background",
            "snow background",
        ),
        ("water", "forest", "sand", "sky", "snow"),
        None,
    ),
)
GROUP_KEYS: tuple[str, ...] = tuple(g.key for g in GROUPS)
BACKGROUND_GROUP = GROUP_KEYS.index("background")

CONCEPT_NAMES: tuple[str, ...] = tuple(c for g in GROUPS for c in g.concepts)
"""The 31 binary concepts, in the column order of ``concept_labels``."""
CONCEPT_GROUP: np.ndarray = np.array([i for i, g in enumerate(GROUPS) for _ in g.concepts])
"""Index into ``GROUPS`` of each concept."""
PART_OF_CONCEPT: np.ndarray = np.array(
    [PART_NAMES.index(g.part) for g in GROUPS for _ in g.concepts]
)
"""Index into ``PART_NAMES`` of each concept."""
GROUP_OFFSET: np.ndarray = np.cumsum([0] + [len(g.concepts) for g in GROUPS])[:-1]
"""Column of each group's first concept."""

# Species profiles: name, dominant option per group (in GROUPS order, background last)
# and the two noisy groups. Generated once by rejection sampling so that every pair of
# species differs in at least 3 non-background groups and every option is dominant in
# at least two species (so no single concept names a species: only combinations do),
# then frozen here as data.
# fmt: off
_PROFILES: tuple[tuple, ...] = (
    ("ketrel", "grey", "plain", "large", "orange", "plain", "white", "crested", "eye stripe", "long", "forked", "banded", "short", "black", "forest", ("size", "wings")),  # noqa: E501
    ("murlo", "green", "spotted", "small", "brown", "plain", "red", "crested", "none", "short", "square", "plain", "short", "orange", "water", ("size", "beak_colour")),  # noqa: E501
    ("vessik", "green", "plain", "small", "orange", "plain", "red", "crested", "none", "long", "square", "banded", "long", "orange", "forest", ("head", "tail_pattern")),  # noqa: E501
    ("dobrin", "grey", "striped", "small", "blue", "striped", "yellow", "crested", "none", "long", "square", "plain", "short", "orange", "sky", ("body", "wing_pattern")),  # noqa: E501
    ("talupa", "yellow", "striped", "small", "orange", "striped", "yellow", "plain", "none", "short", "square", "banded", "short", "black", "sand", ("eye", "tail_shape")),  # noqa: E501
    ("orrin", "green", "striped", "small", "white", "striped", "yellow", "plain", "eye stripe", "short", "forked", "banded", "long", "orange", "snow", ("size", "wings")),  # noqa: E501
    ("pemrick", "grey", "striped", "small", "orange", "striped", "black", "crested", "eye stripe", "long", "forked", "plain", "short", "black", "snow", ("size", "tail_shape")),  # noqa: E501
    ("quillon", "blue", "striped", "large", "brown", "striped", "white", "plain", "eye stripe", "short", "forked", "plain", "short", "black", "sky", ("pattern", "crest")),  # noqa: E501
    ("marvet", "red", "striped", "large", "black", "plain", "red", "plain", "eye stripe", "short", "square", "plain", "short", "black", "sand", ("pattern", "tail_pattern")),  # noqa: E501
    ("pinnox", "blue", "plain", "large", "black", "striped", "white", "crested", "eye stripe", "short", "square", "plain", "long", "orange", "snow", ("body", "tail_shape")),  # noqa: E501
    ("rudlow", "blue", "plain", "small", "orange", "plain", "black", "plain", "none", "short", "square", "plain", "short", "black", "water", ("wings", "tail")),  # noqa: E501
    ("zephin", "grey", "plain", "large", "white", "striped", "black", "plain", "none", "short", "forked", "banded", "short", "orange", "water", ("wings", "tail_shape")),  # noqa: E501
    ("lumbra", "grey", "plain", "large", "brown", "plain", "yellow", "crested", "eye stripe", "long", "square", "plain", "short", "black", "sky", ("head", "tail")),  # noqa: E501
    ("nettick", "red", "striped", "large", "white", "plain", "black", "plain", "eye stripe", "long", "square", "banded", "short", "orange", "sky", ("body", "size")),  # noqa: E501
    ("borvin", "yellow", "striped", "small", "white", "striped", "red", "plain", "none", "long", "square", "plain", "long", "orange", "sand", ("size", "beak")),  # noqa: E501
    ("tiskel", "grey", "plain", "large", "black", "plain", "red", "plain", "eye stripe", "long", "square", "plain", "short", "black", "sky", ("wing_pattern", "beak_colour")),  # noqa: E501
    ("wendle", "red", "striped", "large", "white", "plain", "yellow", "crested", "none", "long", "square", "plain", "short", "black", "forest", ("pattern", "head")),  # noqa: E501
    ("harlo", "green", "spotted", "small", "blue", "plain", "white", "plain", "none", "short", "forked", "banded", "short", "black", "sand", ("body", "tail")),  # noqa: E501
    ("plovin", "red", "plain", "small", "brown", "plain", "red", "crested", "none", "short", "forked", "banded", "long", "black", "forest", ("crest", "tail_pattern")),  # noqa: E501
    ("gressit", "yellow", "spotted", "small", "white", "striped", "yellow", "plain", "none", "long", "forked", "banded", "long", "orange", "forest", ("wing_pattern", "tail")),  # noqa: E501
    ("yarrik", "grey", "plain", "small", "brown", "striped", "white", "plain", "none", "short", "forked", "banded", "short", "orange", "snow", ("body", "tail")),  # noqa: E501
    ("juniva", "blue", "striped", "small", "blue", "plain", "white", "crested", "none", "short", "forked", "plain", "long", "orange", "sand", ("crest", "beak_colour")),  # noqa: E501
    ("calvet", "blue", "spotted", "large", "white", "plain", "white", "crested", "eye stripe", "short", "forked", "plain", "short", "black", "water", ("size", "tail_shape")),  # noqa: E501
    ("dalmir", "blue", "spotted", "small", "brown", "striped", "red", "plain", "none", "short", "square", "banded", "short", "black", "water", ("wings", "tail_shape")),  # noqa: E501
)
# fmt: on

CLASS_NAMES: tuple[str, ...] = tuple(p[0] for p in _PROFILES)
"""The 24 species of the world."""

# Species that the field guide describes but that never appear in images.
# fmt: off
EXTRA_PROFILES: tuple[tuple, ...] = (
    ("hollis", "yellow", "plain", "large", "black", "striped", "black", "crested", "none", "long", "forked", "plain", "long", "black", "water", ()),  # noqa: E501
    ("varnet", "red", "spotted", "small", "blue", "plain", "white", "plain", "eye stripe", "short", "square", "banded", "long", "orange", "snow", ()),  # noqa: E501
    ("skellin", "green", "plain", "large", "black", "plain", "black", "plain", "eye stripe", "long", "square", "plain", "short", "orange", "sky", ()),  # noqa: E501
    ("ombrel", "grey", "spotted", "small", "white", "plain", "yellow", "crested", "none", "short", "forked", "plain", "long", "black", "forest", ()),  # noqa: E501
    ("tuvik", "blue", "plain", "large", "orange", "striped", "red", "plain", "none", "long", "square", "banded", "short", "orange", "sand", ()),  # noqa: E501
    ("brannet", "yellow", "spotted", "large", "brown", "plain", "white", "plain", "eye stripe", "short", "forked", "plain", "short", "black", "sky", ()),  # noqa: E501
)
# fmt: on
EXTRA_NAMES: tuple[str, ...] = tuple(p[0] for p in EXTRA_PROFILES)


def dominant_options(profiles: tuple[tuple, ...] = _PROFILES) -> np.ndarray:
    """Index of each species' dominant option in each group, shape (n_species, n_groups).

    Parameters
    ----------
    profiles : tuple of tuple
        Species profiles: the name, one option word per group (``GROUPS`` order) and
        the species' noisy groups (default: the 24 species of the world).

    Returns
    -------
    ndarray of int, shape (n_species, n_groups)
        Index into ``GROUPS[j].options``.

    Examples
    --------
    >>> dominant_options().shape
    (24, 14)
    """
    size = len(GROUPS) + 2  # name, one option per group, the noisy groups
    for p in profiles:
        if not isinstance(p, tuple) or len(p) != size:
            raise ValueError(
                f"profiles: expected tuples of {size} entries (name, one option per group in "
                f"{list(GROUP_KEYS)}, noisy groups), got {p!r:.80}"
            )
        for j, g in enumerate(GROUPS):
            if p[1 + j] not in g.options:
                raise ValueError(
                    f"profiles: species {p[0]!r} has {g.key}={p[1 + j]!r}; expected one of "
                    f"{list(g.options)}"
                )
    return np.array([[g.options.index(p[1 + j]) for j, g in enumerate(GROUPS)] for p in profiles])


def option_probabilities(
    profiles: tuple[tuple, ...] = _PROFILES, p_typical_background: float = TYPICAL_BACKGROUND
) -> list[np.ndarray]:
    """Per group, the option probabilities of each species, shape (n_species, n_options).

    Parameters
    ----------
    profiles : tuple of tuple
        Species profiles (default: the 24 species of the world).
    p_typical_background : float
        Probability of the species' typical background; the other backgrounds share
        the remaining mass equally. ``0.2`` (= 1/5) makes background independent of
        the species.

    Returns
    -------
    list of numpy.ndarray
        One (n_species, n_options) row-stochastic matrix per group in ``GROUPS``.

    Examples
    --------
    >>> probs = option_probabilities()
    >>> len(probs), probs[0].shape, np.allclose(probs[0].sum(1), 1.0)
    (14, (24, 5), True)
    """
    r_background = check_number(p_typical_background, "p_typical_background", low=0, high=1)
    dom = dominant_options(profiles)
    out = []
    for j, g in enumerate(GROUPS):
        k = len(g.options)
        probs = np.empty((len(profiles), k))
        for c, p in enumerate(profiles):
            if j == BACKGROUND_GROUP:
                r = r_background
            else:
                r = NOISY if g.key in p[-1] else RELIABLE
            probs[c] = (1.0 - r) / (k - 1)
            probs[c, dom[c, j]] = r
        out.append(probs)
    return out


def class_concept_matrix(
    profiles: tuple[tuple, ...] = _PROFILES, p_typical_background: float = TYPICAL_BACKGROUND
) -> np.ndarray:
    """Marginal probability of each concept given each species, shape (n_species, 31).

    Entry ``[c, k]`` is :math:`P(\\text{concept}_k \\text{ drawn} \\mid \\text{species } c)`;
    within a group without a no-concept option the row sums to one.

    Parameters
    ----------
    profiles : tuple of tuple
        Species profiles (default: the 24 species of the world).
    p_typical_background : float
        Probability of the species' typical background; the other backgrounds share
        the remaining mass equally. ``0.2`` (= 1/5) makes background independent of
        the species.

    Returns
    -------
    ndarray of float64, shape (n_species, 31)
        Row ``c``: the probability that each concept is drawn in an image of species
        ``c``.

    Examples
    --------
    >>> m = class_concept_matrix()
    >>> m.shape
    (24, 31)
    >>> float(m[0, CONCEPT_NAMES.index("grey body")])
    0.9
    """
    probs = option_probabilities(profiles, p_typical_background)
    cols = [probs[j][:, : len(g.concepts)] for j, g in enumerate(GROUPS)]
    return np.concatenate(cols, axis=1)


def true_attributes(name: str) -> tuple[str, ...]:
    """The concepts a species shows in at least half of its images (its field marks).

    Parameters
    ----------
    name : str
        A species of the world, or one of the field guide's extra species.

    Returns
    -------
    tuple of str
        The concepts with :math:`P(\\text{concept} \\mid \\text{species}) \\ge 0.5`.

    Examples
    --------
    >>> true_attributes("ketrel")[:3]
    ('grey body', 'large body', 'orange wings')
    """
    profiles = _PROFILES + EXTRA_PROFILES
    names = [p[0] for p in profiles]
    expected = f"a species of the world, one of {names}"
    name = check_choice(name, names, "name", expected=expected)
    row = class_concept_matrix(profiles)[names.index(name)]
    return tuple(c for c, p in zip(CONCEPT_NAMES, row, strict=True) if p >= 0.5)


def check_options(options: ArrayLike, name: str = "options") -> np.ndarray:
    """``options`` as an int64 array (n, n_groups) of option indices, else raise.

    Column ``j`` holds an index into ``GROUPS[j].options``; a float, a negative or too
    large index (which numpy would truncate, wrap around or fail on deep inside the
    renderer) is refused naming the group.

    Parameters
    ----------
    options : array-like of int, shape (n, n_groups)
        The option indices.
    name : str, default "options"
        The argument's name, for the messages.

    Returns
    -------
    ndarray of int64, shape (n, n_groups)
        ``options``, checked.

    Examples
    --------
    >>> check_options(np.zeros((2, len(GROUPS)), int)).shape
    (2, 14)
    >>> check_options(np.full((1, len(GROUPS)), 7))
    Traceback (most recent call last):
    ...
    ValueError: options: column 0 (group 'body') holds 7; expected option indices in 0..4
    """
    arr = as_real_array(options, name, dtype=None)
    if arr.ndim != 2 or arr.shape[1] != len(GROUPS):
        raise ValueError(
            f"{name} has shape {arr.shape}; expected (n, {len(GROUPS)}) option indices"
        )
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer option indices, got dtype {arr.dtype}")
    for j, g in enumerate(GROUPS):
        col = arr[:, j]
        bad = col[(col < 0) | (col >= len(g.options))]
        if bad.size:
            raise ValueError(
                f"{name}: column {j} (group {g.key!r}) holds {int(bad[0])}; expected option "
                f"indices in 0..{len(g.options) - 1}"
            )
    return arr.astype(np.int64, copy=False)


def check_concept_labels(concept_labels: ArrayLike, n: int | None = None) -> np.ndarray:
    """World concept labels as a 0/1 array of shape (n, 31), else raise naming the problem.

    Values must be 0 or 1 (booleans or numbers; NaN, soft and negative labels would be
    read as drawn or not drawn in ways that depend on the caller), and at most one concept
    of each attribute group is drawn (the options of a group exclude each other).

    Parameters
    ----------
    concept_labels : array-like, shape (n, 31)
        The labels to check.
    n : int, optional
        The number of rows required (one per image); any when None.

    Returns
    -------
    numpy.ndarray of uint8, shape (n, 31)
        ``concept_labels``, checked.

    Examples
    --------
    >>> check_concept_labels(np.full((1, len(CONCEPT_NAMES)), 0.5))
    Traceback (most recent call last):
    ...
    ValueError: concept_labels: expected 0/1 or boolean values (drawn or not), got 0.5
    """
    k = len(CONCEPT_NAMES)
    arr = as_real_array(concept_labels, "concept_labels", dtype=None)
    if arr.ndim != 2 or arr.shape[1] != k or (n is not None and arr.shape[0] != n):
        rows = "n" if n is None else str(n)
        raise ValueError(f"concept_labels has shape {arr.shape}; expected ({rows}, {k})")
    arr = as_binary_array(arr, "concept_labels", hint=" (drawn or not)").astype(np.uint8)
    for j, g in enumerate(GROUPS):
        cols = arr[:, GROUP_OFFSET[j] : GROUP_OFFSET[j] + len(g.concepts)]
        if (cols.sum(1) > 1).any():
            raise ValueError(
                f"concept_labels draws more than one concept of group {g.key!r} in an image; "
                "expected at most one (the options of a group exclude each other)"
            )
    return arr
