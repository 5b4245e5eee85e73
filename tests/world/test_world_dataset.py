"""make_world: determinism, shapes, the class–concept matrix and background correlation."""

import warnings

import numpy as np
import pytest
from scipy.stats import chi2_contingency

from bottlekit.world import make_world
from bottlekit.world.species import GROUPS, class_concept_matrix


@pytest.fixture(scope="module")
def world():
    return make_world(240, "test", random_state=11)


def test_same_seed_same_world_and_splits_differ():
    a = make_world(50, "train", random_state=3)
    b = make_world(50, "train", random_state=3)
    for name in ("images", "labels", "concept_labels", "part_masks"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.captions == b.captions and a.corpus == b.corpus
    c = make_world(50, "train", random_state=4)
    d = make_world(50, "val", random_state=3)
    assert not np.array_equal(a.images, c.images)
    assert not np.array_equal(a.images, d.images)
    assert not np.array_equal(a.concept_labels, d.concept_labels)


def test_shapes_dtypes_and_vocabulary(world):
    n = len(world)
    assert world.images.shape == (n, 64, 64, 3) and world.images.dtype == np.uint8
    assert world.labels.shape == (n,) and world.labels.dtype == np.int64
    k = len(world.concept_names)
    assert len(world.class_names) >= 20 and k >= 30
    assert len(set(world.class_names)) == len(world.class_names)
    assert world.concept_labels.shape == (n, k) and world.concept_labels.dtype == np.uint8
    assert set(np.unique(world.concept_labels)) <= {0, 1}
    assert world.part_masks.shape == (n, len(world.part_names), 64, 64)
    assert world.part_masks.dtype == bool
    assert len(world.part_names) >= 5 and world.part_names[-1] == "background"
    assert world.part_of_concept.shape == (k,)
    # every non-background part carries at least one concept
    assert set(world.part_of_concept) == set(range(len(world.part_names)))
    assert len(world.captions) == n and all(isinstance(c, str) and c for c in world.captions)
    assert world.class_concept_matrix.shape == (len(world.class_names), k)
    # species balanced: 240 = 10 per species
    np.testing.assert_array_equal(np.bincount(world.labels), np.full(24, 10))


def test_larger_images():
    w = make_world(4, "val", random_state=0, image_size=96)
    assert w.images.shape == (4, 96, 96, 3) and w.part_masks.shape == (4, 6, 96, 96)
    # the same birds as at the default 64 px, drawn bigger: the same labels, concepts and
    # captions, masks that still partition each image, and each part's share of the
    # image unchanged by the scale (a bird drawn at 64 px on a 96 px canvas has 44 %)
    small = make_world(4, "val", random_state=0)
    np.testing.assert_array_equal(w.labels, small.labels)
    np.testing.assert_array_equal(w.concept_labels, small.concept_labels)
    assert w.captions == small.captions
    np.testing.assert_array_equal(w.part_masks.sum(1), 1)
    np.testing.assert_allclose(
        w.part_masks.mean((0, 2, 3)), small.part_masks.mean((0, 2, 3)), atol=0.005
    )


def test_masks_partition_every_image(world):
    # each pixel belongs to exactly one part (the background included)
    np.testing.assert_array_equal(world.part_masks.sum(1), 1)
    # every bird part is visible in every image
    assert world.part_masks[:, :-1].any(axis=(2, 3)).all()


def test_exactly_one_concept_per_exclusive_group(world):
    for j, g in enumerate(GROUPS):
        count = world.concept_labels[:, world.group_of_concept == j].sum(1)
        if g.none_option is None:
            np.testing.assert_array_equal(count, 1)
        else:
            assert count.max() <= 1


def test_class_concept_matrix_rows():
    m = class_concept_matrix()
    offset = 0
    for g in GROUPS:
        block = m[:, offset : offset + len(g.concepts)]
        offset += len(g.concepts)
        if g.none_option is None:
            np.testing.assert_allclose(block.sum(1), 1.0)
        else:
            assert (block.sum(1) < 1.0).all()
    # shared concepts: every concept is the dominant option of >= 2 species, so no single
    # concept identifies a species
    assert ((m >= 0.5).sum(0) >= 2).all()
    # yet every pair of species differs in >= 3 dominant options (separable by combinations)
    dom = m >= 0.5
    diff = (dom[:, None, :] != dom[None, :, :]).sum(-1) + np.eye(len(m), dtype=int) * 99
    assert diff.min() >= 3


def test_concept_frequencies_follow_the_matrix():
    # 2400 train images, 100 per species: the pooled frequency of each concept is the
    # mean of its column; its binomial sd is <= sqrt(.25/2400) ~ 0.0102, so 5 sd = 0.051
    w = make_world(2400, "train", random_state=2, return_masks=False)
    expected = w.class_concept_matrix[w.labels].mean(0)
    np.testing.assert_allclose(w.concept_labels.mean(0), expected, atol=0.051)


@pytest.mark.parametrize(("split", "p"), [("train", 0.9), ("val", 0.9), ("shifted", 0.2)])
def test_background_correlation_per_split(split, p):
    # P(typical background) is 0.9 in train/val/test and 1/5 (independent) in shifted;
    # n = 2000 gives sd = sqrt(p(1-p)/n) <= 0.009; tolerance = 4 sd
    n = 2000
    w = make_world(n, split, random_state=9, return_masks=False)
    typical = w.concept_labels[np.arange(n), w.typical_background[w.labels]]
    tol = 4 * np.sqrt(p * (1 - p) / n)
    assert abs(typical.mean() - p) < tol
    if split == "shifted":
        # independence of species and background: chi-square test of the 24 x 5 table
        # (96 degrees of freedom); fails with probability 1e-4 if the split is right
        bg = w.concept_labels[:, w.group_of_concept == w.group_of_concept[-1]].argmax(1)
        table = np.zeros((24, 5))
        np.add.at(table, (w.labels, bg), 1)
        assert chi2_contingency(table).pvalue > 1e-4


def test_bad_arguments():
    # the checks are _checks.check_number's ("n=0; expected a positive int" before)
    with pytest.raises(ValueError, match=r"split: expected one of \('train', .*, got 'dev'$"):
        make_world(4, "dev")
    with pytest.raises(ValueError, match=r"^n: expected an int >= 1, got 0$"):
        make_world(0)
    with pytest.raises(ValueError, match=r"^random_state: expected an int >= 0, got -1$"):
        make_world(4, random_state=-1)
    with pytest.raises(ValueError, match=r"^image_size: expected an int >= 64, got 32$"):
        make_world(4, image_size=32)
    with pytest.raises(ValueError, match="p_typical_background"):
        make_world(4, p_typical_background=1.5)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        # before: the text was parsed as a probability, and "no" asked for masks
        ({"p_typical_background": "0.5"}, ValueError, "p_typical_background: expected a finite"),
        # before: "could not convert string to float", naming nothing
        ({"p_typical_background": "x"}, ValueError, "p_typical_background: expected a finite"),
        # before: "'<=' not supported between instances of 'float' and 'str'"
        ({"p_species_in_caption": "0.5"}, ValueError, "p_species_in_caption: expected a finite"),
        ({"return_masks": "no"}, TypeError, "return_masks: expected True or False, got 'no'"),
        # a wrong type is a TypeError, as in _checks (a ValueError before)
        ({"n": "4"}, TypeError, r"^n: expected an int >= 1, got '4'$"),
        ({"n": 4.0}, TypeError, r"^n: expected an int >= 1, got 4\.0$"),
        ({"n": True}, TypeError, r"^n: expected an int >= 1, got True$"),
        ({"random_state": None}, TypeError, r"^random_state: expected an int >= 0, got None$"),
        ({"image_size": 64.0}, TypeError, r"^image_size: expected an int >= 64, got 64\.0$"),
        (
            {"split": ["train"]},
            TypeError,
            r"^split: expected one of .*, got \['train'\]$",
        ),  # not a str
    ],
)
def test_make_world_names_a_bad_option(kwargs, error, message):
    with pytest.raises(error, match=message):
        make_world(**({"n": 4, "split": "test"} | kwargs))


def test_seed_is_a_deprecated_alias_of_random_state():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new name warns about nothing
        new = make_world(12, "test", random_state=5, return_masks=False)
        positional = make_world(12, "test", 5, return_masks=False)
    with pytest.warns(FutureWarning, match=r"make_world: `seed` is deprecated.*`random_state`"):
        old = make_world(12, "test", seed=5, return_masks=False)
    for w in (old, positional):
        np.testing.assert_array_equal(w.images, new.images)
        np.testing.assert_array_equal(w.labels, new.labels)
        assert w.seed == 5
    other = make_world(12, "test", random_state=6, return_masks=False)
    assert not np.array_equal(other.images, new.images)
    with (
        pytest.warns(FutureWarning),
        pytest.raises(TypeError, match="random_state=4 and its deprecated alias seed=5"),
    ):
        make_world(4, random_state=4, seed=5)
    # the deprecated name is the one named (the message was "seed=-1; expected ..." before)
    with (
        pytest.warns(FutureWarning),
        pytest.raises(ValueError, match=r"^seed: expected an int >= 0"),
    ):
        make_world(4, seed=-1)
