"""``make_world``: sample images, concept labels, part masks and captions of the world."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bottlekit._checks import check_bool, check_choice, check_number
from bottlekit._deprecation import renamed_argument
from bottlekit.datasets import ConceptDataset
from bottlekit.world.captions import make_captions
from bottlekit.world.field_guide import make_corpus
from bottlekit.world.render import check_image_memory, render_birds
from bottlekit.world.species import (
    BACKGROUND_GROUP,
    CLASS_NAMES,
    CONCEPT_GROUP,
    CONCEPT_NAMES,
    GROUP_OFFSET,
    GROUPS,
    PART_NAMES,
    PART_OF_CONCEPT,
    TYPICAL_BACKGROUND,
    check_options,
    class_concept_matrix,
    dominant_options,
    option_probabilities,
)

SPLITS: tuple[str, ...] = ("train", "val", "test", "shifted")
"""Splits of the world; ``shifted`` draws backgrounds independently of the species."""
SHIFTED_TYPICAL_BACKGROUND = 1.0 / len(GROUPS[BACKGROUND_GROUP].concepts)
_CHUNK = 256


@dataclass(repr=False, frozen=True, eq=False, kw_only=True)
class World(ConceptDataset):
    """A sample of the built-in world: a :class:`~bottlekit.datasets.ConceptDataset`.

    :func:`make_world` sets the images, labels, concepts, part masks (or None) and
    class-concept matrix of a concept dataset, and leaves ``concept_certainty``,
    ``part_keypoints``, ``keypoint_names``, ``object_boxes``, ``spurious_labels``,
    ``spurious_names``, ``skipped`` and ``groups`` None; the world adds its attribute groups,
    typical backgrounds, captions, corpus and seed. Every field is keyword-only.

    Parameters
    ----------
    images : numpy.ndarray of uint8, shape (n, H, W, 3)
        The rendered images.
    labels : numpy.ndarray of int64, shape (n,)
        Species index of each image.
    class_names : list of str
        The species (24).
    concept_names : list of str
        The binary concepts (31).
    concept_labels : numpy.ndarray of uint8, shape (n, k)
        1 where the concept is drawn in the image.
    part_masks : numpy.ndarray of bool, shape (n, P, H, W), or None
        Visible pixels of each part of ``part_names`` (None if not requested).
    part_names : list of str
        The parts: body, wing, head, tail, beak and background.
    part_of_concept : numpy.ndarray of int, shape (k,)
        Index into ``part_names`` of each concept.
    group_of_concept : numpy.ndarray of int, shape (k,)
        Attribute group of each concept; concepts of one group exclude each other.
    class_concept_matrix : numpy.ndarray of float, shape (n_classes, k)
        ``P(concept drawn | species)`` in this split.
    typical_background : numpy.ndarray of int, shape (n_classes,)
        Concept index of each species' typical background.
    captions : list of str
        One caption per image.
    corpus : list of str
        The field guide (see ``bottlekit.world.field_guide``).
    corpus_subjects : list of str or None
        Species each document is about.
    split : str
        The split drawn (``"train"``, ``"val"``, ``"test"`` or ``"shifted"``).
    seed : int
        The ``random_state`` the world was drawn with (>= 0).
    concept_certainty, part_keypoints : None
        Not annotated in the world.
    keypoint_names, object_boxes, spurious_labels, spurious_names, skipped, groups : None
        Not annotated in the world.

    Examples
    --------
    >>> w = make_world(24, "test", random_state=1, return_masks=False)
    >>> w.split, w.seed, w.images.shape, len(w.captions), w.part_masks is None
    ('test', 1, (24, 64, 64, 3), 24, True)
    >>> sorted(w.labels.tolist()) == list(range(24))   # balanced: each species once
    True
    """

    group_of_concept: np.ndarray
    typical_background: np.ndarray
    captions: list[str]
    corpus: list[str]
    corpus_subjects: list[str | None]
    seed: int

    PER_IMAGE_FIELDS: ClassVar[tuple[str, ...]] = (*ConceptDataset.PER_IMAGE_FIELDS, "captions")

    def __post_init__(self) -> None:
        super().__post_init__()
        n, k = len(self), self.n_concepts
        _check_texts(self.captions, "captions", n, " (one per image)")
        _check_texts(self.corpus, "corpus", None, "")
        subjects = self.corpus_subjects
        if not isinstance(subjects, list) or len(subjects) != len(self.corpus):
            raise ValueError(
                f"corpus_subjects: expected a list of {len(self.corpus)} species names or None "
                f"(one per document), got {type(subjects).__name__} of "
                f"{len(subjects) if hasattr(subjects, '__len__') else '?'}"
            )
        if not all(s is None or isinstance(s, str) for s in subjects):
            raise ValueError("corpus_subjects: expected species names (str) or None")
        for name, length, top in (
            ("group_of_concept", k, len(GROUPS)),
            ("typical_background", self.n_classes, k),
        ):
            value = np.asarray(getattr(self, name))
            if (
                value.shape != (length,)
                or value.dtype.kind not in "iu"
                or (length and (value.min() < 0 or value.max() >= top))
            ):
                raise ValueError(
                    f"{name}: expected {length} ints in 0..{top - 1}, got {value.dtype} "
                    f"values of shape {value.shape}"
                )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed: expected an int >= 0, got {self.seed!r}")

    def __repr__(self) -> str:
        return (
            f"World(split={self.split!r}, seed={self.seed}, n={len(self)}, "
            f"images={self.images.shape}, species={len(self.class_names)}, "
            f"concepts={len(self.concept_names)}, corpus={len(self.corpus)} documents)"
        )


def _check_texts(value, name: str, n: int | None, why: str) -> None:
    """Refuse ``value`` unless it is a list (of ``n`` items when given) of str."""
    if not isinstance(value, list) or (n is not None and len(value) != n):
        got = type(value).__name__ + (f" of {len(value)}" if isinstance(value, list) else "")
        count = "" if n is None else f"{n} "
        raise ValueError(f"{name}: expected a list of {count}str{why}, got {got}")
    bad = next((i for i, v in enumerate(value) if not isinstance(v, str)), None)
    if bad is not None:
        raise ValueError(f"{name}: item {bad} has type {type(value[bad]).__name__}; expected str")


def _check_split(split: Any) -> None:
    check_choice(split, SPLITS, "split")


def split_rng(seed: int, split: str) -> np.random.Generator:
    """The generator of one split: seeds derived from ``(seed, split index)``.

    Parameters
    ----------
    seed : int
        The world's ``random_state``.
    split : {"train", "val", "test", "shifted"}
        The split.

    Returns
    -------
    numpy.random.Generator
        A generator seeded by ``SeedSequence([seed, SPLITS.index(split)])``, so the
        splits of one seed are independent draws.

    Examples
    --------
    >>> int(split_rng(0, "train").integers(100)) == int(split_rng(0, "train").integers(100))
    True
    """
    _check_split(split)
    return np.random.default_rng(np.random.SeedSequence([int(seed), SPLITS.index(split)]))


def sample_options(
    labels: np.ndarray, rng: np.random.Generator, p_typical_background: float
) -> np.ndarray:
    """Option index of every attribute group for each image, shape (n, n_groups).

    Each image draws, independently per attribute group, an option from its species'
    probabilities (:func:`~bottlekit.world.species.option_probabilities`).

    Parameters
    ----------
    labels : ndarray of int, shape (n,)
        Species index of each image.
    rng : numpy.random.Generator
        Source of the draws.
    p_typical_background : float
        Probability of the species' typical background.

    Returns
    -------
    ndarray of int64, shape (n, n_groups)
        Option indices; the last index of a group is its "none" option where it has one.

    Examples
    --------
    >>> opts = sample_options(np.array([0, 1, 1]), split_rng(0, "train"), 0.9)
    >>> opts.shape
    (3, 14)
    """
    probs = option_probabilities(p_typical_background=p_typical_background)
    u = rng.random((len(labels), len(GROUPS)))
    out = np.empty((len(labels), len(GROUPS)), dtype=np.int64)
    for j, p in enumerate(probs):
        cum = np.cumsum(p[labels], axis=1)
        out[:, j] = np.minimum((u[:, j : j + 1] >= cum).sum(1), p.shape[1] - 1)
    return out


def options_to_concepts(options: np.ndarray) -> np.ndarray:
    """0/1 concept labels (n, k) from option indices (n, n_groups).

    Parameters
    ----------
    options : array of int, shape (n, n_groups)
        Option index of every attribute group for each image (:func:`sample_options`).

    Returns
    -------
    ndarray of uint8, shape (n, 31)
        1 for each concept an image shows (one per group, none for a "none" option).

    Examples
    --------
    >>> from bottlekit.world.species import CONCEPT_NAMES
    >>> c = options_to_concepts(np.zeros((1, 14), dtype=int))
    >>> [CONCEPT_NAMES[j] for j in np.flatnonzero(c[0])][:3]
    ['red body', 'spotted body', 'large body']
    """
    options = check_options(options)
    n = len(options)
    out = np.zeros((n, len(CONCEPT_NAMES)), dtype=np.uint8)
    for j, g in enumerate(GROUPS):
        opt = options[:, j]
        present = opt < len(g.concepts)
        out[np.flatnonzero(present), GROUP_OFFSET[j] + opt[present]] = 1
    return out


def make_world(
    n: int,
    split: str = "train",
    random_state: int = 0,
    *,
    image_size: int = 64,
    p_typical_background: float | None = None,
    return_masks: bool = True,
    p_species_in_caption: float = 0.7,
    seed: int | None = None,
) -> World:
    """Sample ``n`` images of the built-in world.

    Species are balanced (each appears ``n // 24`` or ``n // 24 + 1`` times, in random
    order). For each image and attribute group an option is drawn from the species'
    row of the class–concept matrix, then drawn. The background is the species'
    typical one with probability 0.9 in train/val/test and 0.2 (= 1/5, independent of
    the species) in ``shifted``.

    Parameters
    ----------
    n : int
        Number of images (>= 1).
    split : {"train", "val", "test", "shifted"}
        Each split has its own seed derived from ``random_state``.
    random_state : int
        Non-negative seed; the same ``(n, split, random_state)`` gives the same world.
    image_size : int
        Side of the square images, >= 64.
    p_typical_background : float, optional
        Override the probability of the typical background (must be in [0.2, 1];
        the other four backgrounds share the rest).
    return_masks : bool
        Compute ``part_masks`` (n × 6 × H × W bool, 24 KiB per 64 px image).
    p_species_in_caption : float
        Probability that a caption names the species.
    seed : int, optional
        Deprecated alias of ``random_state`` (a FutureWarning).

    Returns
    -------
    World
        The ``n`` images with their labels, concepts, masks, captions and the corpus.

    Examples
    --------
    >>> w = make_world(48, "test", random_state=1)
    >>> w.images.shape, w.concept_labels.shape, w.part_masks.shape
    ((48, 64, 64, 3), (48, 31), (48, 6, 64, 64))
    """
    check_number(n, "n", integer=True, low=1, type_error=True)
    _check_split(split)
    seed, seed_name = renamed_argument("make_world", "random_state", random_state, "seed", seed, 0)
    check_number(seed, seed_name, integer=True, low=0, type_error=True)
    check_number(image_size, "image_size", integer=True, low=64, type_error=True)
    if p_typical_background is None:
        p_bg = SHIFTED_TYPICAL_BACKGROUND if split == "shifted" else TYPICAL_BACKGROUND
    else:
        p_bg = check_number(
            p_typical_background, "p_typical_background", low=SHIFTED_TYPICAL_BACKGROUND, high=1
        )
    check_number(p_species_in_caption, "p_species_in_caption", low=0, high=1)
    check_bool(return_masks, "return_masks")
    check_image_memory(
        int(n),
        int(image_size),
        masks=bool(return_masks),
        call="make_world",
        arguments=f"n={n!r}, image_size={image_size!r}, return_masks={return_masks!r}",
        advice="draw fewer or smaller images, or pass return_masks=False",
        at_once=_CHUNK,
        copied=True,
    )
    n = int(n)
    rng = split_rng(seed, split)
    n_classes = len(CLASS_NAMES)
    labels = rng.permutation(np.arange(n) % n_classes).astype(np.int64)
    options = sample_options(labels, rng, p_bg)
    images = np.empty((n, image_size, image_size, 3), dtype=np.uint8)
    masks = (
        np.empty((n, len(PART_NAMES), image_size, image_size), dtype=bool)
        if return_masks
        else None
    )
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        img, msk = render_birds(options[start:stop], rng, size=image_size)
        images[start:stop] = img
        if masks is not None:
            masks[start:stop] = msk
    concept_labels = options_to_concepts(options)
    captions = make_captions(
        labels, concept_labels, CLASS_NAMES, rng, p_species=p_species_in_caption
    )
    corpus, subjects = make_corpus(seed)
    typical = GROUP_OFFSET[BACKGROUND_GROUP] + dominant_options()[:, BACKGROUND_GROUP]
    return World(
        images=images,
        labels=labels,
        class_names=list(CLASS_NAMES),
        concept_names=list(CONCEPT_NAMES),
        concept_labels=concept_labels,
        part_masks=masks,
        part_names=list(PART_NAMES),
        part_of_concept=PART_OF_CONCEPT.copy(),
        group_of_concept=CONCEPT_GROUP.copy(),
        class_concept_matrix=class_concept_matrix(p_typical_background=p_bg),
        typical_background=typical,
        captions=captions,
        corpus=corpus,
        corpus_subjects=subjects,
        split=split,
        seed=int(seed),
    )
