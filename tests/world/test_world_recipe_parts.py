"""Full captions and one-attribute hard negatives, checked against the world's truth."""

import itertools

import numpy as np
import pytest

from bottlekit.world import make_world
from bottlekit.world.captions import make_full_captions
from bottlekit.world.hard_negatives import (
    OneAttributeNeighbours,
    compose_batch,
    concepts_to_options,
)
from bottlekit.world.species import CLASS_NAMES, CONCEPT_GROUP, CONCEPT_NAMES

_NOUNS = ("body", "wings", "head", "tail", "beak", "background")


@pytest.fixture(scope="module")
def world():
    return make_world(1500, "train", random_state=21, return_masks=False)


def _groups_differing(a: np.ndarray, b: np.ndarray) -> set[int]:
    """Attribute groups in which two images' concept labels differ (the ground truth)."""
    return set(CONCEPT_GROUP[np.flatnonzero(a != b)].tolist())


def _parse_full_caption(caption: str) -> tuple[str | None, set[str]]:
    """(species or None, concepts named) of a full caption, read word by word."""
    species = None
    text = caption.removesuffix(".")
    if ": " in text:
        species, text = text.split(": ", 1)
    named = set()
    for item in text.split(", "):
        words = item.split(" ")
        if item == "eye stripe":
            named.add(item)
            continue
        assert words[-1] in _NOUNS, caption
        named |= {f"{w} {words[-1]}" for w in words[:-1]}
    return species, named


def test_full_captions_name_every_drawn_concept_and_no_other(world):
    open_clip = pytest.importorskip("open_clip")
    import bottlekit.backbones  # noqa: F401  (registers the world configs with open_clip)

    tokenizer = open_clip.get_tokenizer("world-tiny")
    labels, concepts = world.labels[:800], world.concept_labels[:800]
    caps = make_full_captions(
        labels,
        concepts,
        CLASS_NAMES,
        np.random.default_rng(0),
        count_tokens=lambda s: len(tokenizer.encode(s)),
        max_tokens=30,
    )
    n_species = 0
    for cap, row, y in zip(caps, concepts, labels, strict=True):
        species, named = _parse_full_caption(cap)
        drawn = {CONCEPT_NAMES[k] for k in np.flatnonzero(row)}
        assert named == drawn, (cap, drawn)
        assert species in (None, CLASS_NAMES[y])
        n_species += species is not None
        # never truncated by the 32-token context (30 between the start and end tokens)
        assert len(tokenizer.encode(cap)) <= 30, cap
    # without the token count some captions would be cut by the context (the budget bites)
    uncounted = make_full_captions(labels, concepts, CLASS_NAMES, np.random.default_rng(0))
    assert max(len(tokenizer.encode(c)) for c in uncounted) > 30
    # p_species = 0.7, less the few long captions that drop it to fit (1.8 % of 3000
    # measured): about 0.69; sd sqrt(0.21 / 800) = 0.016, tolerance 4 sd
    assert 0.62 < n_species / len(caps) < 0.76


def test_full_captions_rng_and_errors(world):
    a = make_full_captions(world.labels[:50], world.concept_labels[:50], CLASS_NAMES,
                           np.random.default_rng(3))  # fmt: skip
    b = make_full_captions(world.labels[:50], world.concept_labels[:50], CLASS_NAMES,
                           np.random.default_rng(3))  # fmt: skip
    assert a == b
    none = make_full_captions(world.labels[:50], world.concept_labels[:50], CLASS_NAMES,
                              np.random.default_rng(3), p_species=0.0)  # fmt: skip
    assert all(_parse_full_caption(c)[0] is None for c in none)
    with pytest.raises(ValueError, match=r"p_species=1\.5; expected a probability"):
        make_full_captions(world.labels, world.concept_labels, CLASS_NAMES,
                           np.random.default_rng(0), p_species=1.5)  # fmt: skip
    with pytest.raises(ValueError, match=r"concept_labels has shape \(1500, 30\)"):
        make_full_captions(world.labels, world.concept_labels[:, :30], CLASS_NAMES,
                           np.random.default_rng(0))  # fmt: skip


def test_concepts_to_options_rejects_two_concepts_of_one_group(world):
    bad = world.concept_labels[:3].copy()
    bad[0, CONCEPT_NAMES.index("red body")] = 1
    bad[0, CONCEPT_NAMES.index("blue body")] = 1
    with pytest.raises(ValueError, match="more than one concept of group 'body'"):
        concepts_to_options(bad)
    with pytest.raises(ValueError, match=r"concept_labels has shape \(3, 5\)"):
        concepts_to_options(bad[:, :5])


def test_neighbours_are_exactly_the_one_attribute_pairs(world):
    """Against a brute-force scan of all pairs of the first 400 images."""
    labels = world.concept_labels[:400]
    nb = OneAttributeNeighbours(labels)
    truth = {i: set() for i in range(len(labels))}
    for i, j in itertools.combinations(range(len(labels)), 2):
        if len(_groups_differing(labels[i], labels[j])) == 1:
            truth[i].add(j)
            truth[j].add(i)
    assert [len(truth[i]) for i in range(len(labels))] == nb.counts.sum(1).tolist()
    assert sum(map(len, truth.values())) > 0  # the test has pairs to check
    # every drawn partner is a true neighbour; -1 only without neighbours; every
    # neighbour of a well-connected anchor is drawn in 3000 draws
    rng = np.random.default_rng(1)
    anchors = np.arange(len(labels))
    drawn = nb.draw(anchors, rng)
    for i, j in zip(anchors, drawn, strict=True):
        assert (j in truth[i]) if truth[i] else (j == -1)
    i = max(truth, key=lambda k: len(truth[k]))
    many = nb.draw(np.full(3000, i), rng)
    assert set(many.tolist()) == truth[i]


def test_hard_negative_batches_hold_one_attribute_pairs(world):
    labels = world.concept_labels
    nb = OneAttributeNeighbours(labels)
    rng = np.random.default_rng(2)
    order = rng.permutation(len(labels))
    partners = nb.draw(order, rng)
    b, n_pairs = 32, 8
    n_placed, n_anchors = 0, 0
    for start in range(0, len(order) - b + 1, b):
        chunk, part = order[start : start + b], partners[start : start + b]
        batch = compose_batch(chunk, part, n_pairs)
        assert len(batch) == b and len(set(batch.tolist())) == b
        assert set(chunk[: b - n_pairs].tolist()) <= set(batch.tolist())  # anchors stay
        placed = [p for p in part[:n_pairs] if p >= 0 and p in batch and p not in chunk]
        for anchor, p in zip(chunk[:n_pairs], part[:n_pairs], strict=True):
            if p in placed:
                assert len(_groups_differing(labels[anchor], labels[p])) == 1
        n_placed += len(placed)
        n_anchors += n_pairs
    # 64 % of the images of a 1500-image world have a neighbour (96 % of 50 000)
    assert n_placed > 0.5 * n_anchors
    with pytest.raises(ValueError, match=r"n_pairs=17; expected an int in \[0, 16\]"):
        compose_batch(order[:32], partners[:32], 17)
    with pytest.raises(ValueError, match="chunk holds an image twice"):
        compose_batch(np.array([1, 1, 2, 3]), np.array([-1, -1, -1, -1]), 1)
