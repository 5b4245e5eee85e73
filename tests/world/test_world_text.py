"""Captions name only drawn concepts; the field guide covers every species' attributes."""

import re

import numpy as np
import pytest

from bottlekit.world import make_world
from bottlekit.world.captions import concept_phrases, make_captions
from bottlekit.world.field_guide import make_corpus
from bottlekit.world.species import CLASS_NAMES, CONCEPT_NAMES, EXTRA_NAMES, true_attributes


@pytest.fixture(scope="module")
def world():
    return make_world(1200, "train", random_state=13, return_masks=False)


def _mentions(caption: str, concept: str) -> bool:
    return any(re.search(rf"\b{re.escape(p)}\b", caption) for p in concept_phrases(concept))


def test_captions_never_name_absent_concepts_and_name_some(world):
    for cap, row in zip(world.captions, world.concept_labels, strict=True):
        named = [k for k, c in enumerate(CONCEPT_NAMES) if _mentions(cap, c)]
        assert all(row[k] == 1 for k in named), (cap, [CONCEPT_NAMES[k] for k in named])
    # most captions name at least one concept (all but species-only ones, ~0.7*0.2=14%)
    n_named = np.mean([any(_mentions(c, k) for k in CONCEPT_NAMES) for c in world.captions])
    assert n_named > 0.8


def test_captions_name_the_right_species_at_the_set_rate(world):
    named = 0
    for cap, y in zip(world.captions, world.labels, strict=True):
        found = [s for s in CLASS_NAMES if re.search(rf"\b{s}\b", cap)]
        assert found in ([], [CLASS_NAMES[y]])
        named += bool(found)
    # p_species = 0.7, n = 1200: sd = sqrt(.21/1200) = 0.013; tolerance 4 sd
    assert abs(named / len(world) - 0.7) < 0.053


def test_caption_phrasing_varies(world):
    # at least 10 distinct caption skeletons once species and concepts are masked out
    skeletons = set()
    for cap in world.captions:
        s = cap
        for name in CLASS_NAMES:
            s = re.sub(rf"\b{name}\b", "SP", s)
        for c in CONCEPT_NAMES:
            for p in sorted(concept_phrases(c), key=len, reverse=True):
                s = s.replace(p, "C")
        skeletons.add(re.sub(r"C(, C)*( and C)?", "L", s))
    assert len(skeletons) >= 10


def test_make_captions_rejects_bad_input():
    with pytest.raises(ValueError, match="concept_labels"):
        make_captions(np.zeros(2, int), np.zeros((2, 3)), CLASS_NAMES, np.random.default_rng())
    with pytest.raises(ValueError, match="p_species"):
        make_captions(
            np.zeros(1, int),
            np.zeros((1, len(CONCEPT_NAMES))),
            CLASS_NAMES,
            np.random.default_rng(),
            p_species=2.0,
        )


def test_corpus_covers_every_species_and_its_true_attributes():
    docs, subjects = make_corpus(0)
    assert len(docs) == len(subjects)
    for name in CLASS_NAMES + EXTRA_NAMES:
        text = "\n".join(d for d, s in zip(docs, subjects, strict=True) if s == name)
        assert len(text.split("\n\n")) >= 4, name  # several paragraphs per species
        for concept in true_attributes(name):
            assert concept in text, (name, concept)
        # the field-mark list is exactly the species' true attributes
        marks = re.search(rf"Field marks of the {name}: ([^.]*)\.", text).group(1)
        assert marks.split(", ") == list(true_attributes(name))
    # species that never appear in images are described too
    assert set(EXTRA_NAMES) <= set(subjects) and not set(EXTRA_NAMES) & set(CLASS_NAMES)


def test_corpus_has_non_visual_distractors_and_is_seeded():
    docs, subjects = make_corpus(0)
    history = [d for d in docs if d.startswith("Natural history")]
    assert len(history) == len(CLASS_NAMES) + len(EXTRA_NAMES)
    for d in history:
        # facts about nests, calls and lifespan, and no visual concept at all
        assert "nests" in d and "call" in d
        assert not any(c in d for c in CONCEPT_NAMES)
    again, _ = make_corpus(0)
    other, other_subjects = make_corpus(1)
    assert again == docs and other != docs and other_subjects == subjects
