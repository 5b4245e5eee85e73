"""Pointing game and energy inside the part, against values worked out by hand."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from bottlekit.diagnostics import concept_location, located_pairs


def _masks() -> np.ndarray:
    """One 4x4 image, parts: 0 = top-left 2x2 (area 1/4), 1 = right column (area 1/4),
    2 = empty (the part is hidden)."""
    m = np.zeros((1, 3, 4, 4), bool)
    m[0, 0, :2, :2] = True
    m[0, 1, :, 3] = True
    return m


def test_pointing_and_energy_by_hand():
    maps = np.zeros((1, 2, 4, 4))
    # concept 0 (part 0): peak at (0, 1) inside; positive mass 3 inside + 1 outside;
    # a negative value outside must not count.
    maps[0, 0, 0, 1] = 3.0
    maps[0, 0, 3, 0] = 1.0
    maps[0, 0, 2, 2] = -5.0
    # concept 1 (part 1): peak at (0, 0), outside the right column; mass 2 of 2 + 2 inside
    maps[0, 1, 0, 0] = 2.0
    maps[0, 1, 1, 3] = 1.0
    maps[0, 1, 2, 3] = 1.0
    r = concept_location(maps, _masks(), [0, 1], concept_names=["a", "b"])
    np.testing.assert_array_equal(r.pointing, [[1.0, 0.0]])
    np.testing.assert_allclose(r.energy, [[3 / 4, 2 / 4]])
    np.testing.assert_allclose(r.area, [[0.25, 0.25]])
    assert r.pointing_accuracy == 0.5
    assert r.mean_energy == pytest.approx(0.625)
    assert r.uniform_expectation == pytest.approx(0.25)
    d = r.to_dict()
    json.dumps(d)  # JSON-able
    assert d["per_concept"]["b"]["energy"] == pytest.approx(0.5)
    assert d["n_pairs"] == 2


def test_ties_count_the_fraction_of_tied_pixels_inside():
    """A constant map scores the part's area (random tie-breaking); two tied maxima, one
    inside, score 1/2."""
    maps = np.ones((1, 2, 4, 4))
    maps[0, 1] = 0.0
    maps[0, 1, 0, 0] = maps[0, 1, 3, 3] = 7.0
    r = concept_location(maps, _masks(), [1, 0])
    np.testing.assert_allclose(r.pointing, [[0.25, 0.5]])
    # constant map: energy = area; second map: 7 of 14 inside part 0
    np.testing.assert_allclose(r.energy, [[0.25, 0.5]])


def test_labels_and_hidden_parts_decide_what_is_scored():
    maps = np.random.default_rng(0).random((2, 3, 4, 4))
    masks = np.concatenate([_masks(), _masks()])
    labels = np.array([[1, 0, 1], [1, 1, 1]])
    r = concept_location(maps, masks, [0, 1, 2], labels)
    # concept 2's part is empty in both images; concept 1 is absent in image 0
    expected = np.array([[True, False, False], [True, True, False]])
    np.testing.assert_array_equal(r.scored, expected)
    np.testing.assert_array_equal(located_pairs(masks, [0, 1, 2], labels), expected)
    np.testing.assert_array_equal(located_pairs(masks, [0, 1, 2]), [[True, True, False]] * 2)
    assert np.isnan(r.pointing[~expected]).all() and np.isnan(r.energy[~expected]).all()
    assert r.n_pairs == 3
    pc = r.per_concept()
    np.testing.assert_array_equal(pc["n"], [2, 1, 0])
    assert np.isnan(pc["pointing"][2])


def test_map_without_positive_mass_has_undefined_energy():
    maps = -np.ones((1, 1, 4, 4))
    r = concept_location(maps, _masks(), [0])
    assert np.isnan(r.energy[0, 0]) and r.n_no_positive_mass == 1
    assert r.pointing[0, 0] == pytest.approx(0.25)  # constant: tie over every pixel
    assert np.isnan(r.mean_energy)


def test_random_maps_score_the_area_on_average():
    """iid noise maps: both scores' expectations equal the part's area fraction (1/4)."""
    rng = np.random.default_rng(1)
    maps = rng.random((2000, 1, 4, 4))
    masks = np.repeat(_masks(), 2000, axis=0)
    r = concept_location(maps, masks, [1])
    # pointing: Bernoulli(1/4) mean over 2000 -> sd 0.0097; energy concentrates faster
    assert abs(r.pointing_accuracy - 0.25) < 0.04
    assert abs(r.mean_energy - 0.25) < 0.01


def test_bad_inputs():
    masks = _masks()
    with pytest.raises(ValueError, match="maps"):
        concept_location(np.zeros((1, 4, 4)), masks, [0])
    with pytest.raises(ValueError, match="NaN"):
        concept_location(np.full((1, 1, 4, 4), np.nan), masks, [0])
    with pytest.raises(ValueError, match="part_masks"):
        concept_location(np.zeros((1, 1, 5, 4)), masks, [0])
    with pytest.raises(ValueError, match="part_of_concept"):
        concept_location(np.zeros((1, 1, 4, 4)), masks, [0, 1])
    with pytest.raises(ValueError, match="part indices"):
        concept_location(np.zeros((1, 1, 4, 4)), masks, [3])
    with pytest.raises(TypeError, match="integer"):
        concept_location(np.zeros((1, 1, 4, 4)), masks, [0.5])
    with pytest.raises(ValueError, match="concept_labels"):
        concept_location(np.zeros((1, 1, 4, 4)), masks, [0], np.array([[2]]))
    with pytest.raises(ValueError, match="concept_names"):
        concept_location(np.zeros((1, 1, 4, 4)), masks, [0], concept_names=["a", "b"])


def test_located_pairs_bad_inputs():
    masks = _masks()
    with pytest.raises(ValueError, match="part_of_concept: required"):
        located_pairs(masks)
    with pytest.raises(ValueError, match=r"part_masks: expected shape \(n, P, H, W\)"):
        located_pairs(masks[0], [0])
    with pytest.raises(ValueError, match="part indices"):
        located_pairs(masks, [3])
    with pytest.raises(ValueError, match="concept_labels"):
        located_pairs(masks, [0], np.array([[1], [0]]))
    with pytest.raises(ValueError, match="concept_names"):
        located_pairs(masks, [0], concept_names=["a", "b"])


def test_no_concepts_give_no_pairs():
    # [] read as float64 was refused as "part_of_concept: expected integer part indices"
    assert located_pairs(_masks(), []).shape == (1, 0)


def test_a_dataset_with_partless_concepts_asks_for_the_names_to_score():
    from bottlekit.datasets import ConceptDataset

    ds = ConceptDataset(
        images=np.zeros((1, 4, 4, 3), np.uint8),
        labels=np.array([0]),
        concept_names=["wing colour", "size"],
        concept_labels=np.array([[1, 1]]),
        part_masks=_masks(),
        part_names=["wing", "right", "hidden"],
        part_of_concept=np.array([0, -1]),
    )
    # without names: the message said concept_names, which the caller had not given
    with pytest.raises(ValueError, match=r"belong to no part \(size\); pass concept_names="):
        located_pairs(ds)
    with pytest.raises(ValueError, match=r"concept_names: \['size'\] belong to no part"):
        located_pairs(ds, concept_names=["size"])
    np.testing.assert_array_equal(located_pairs(ds, concept_names=["wing colour"]), [[True]])


@pytest.mark.parametrize(
    ("labels", "shown"), [(np.array([[0.5]]), "0.5"), (np.array([[np.nan]]), "nan")]
)
def test_soft_or_missing_labels_are_named_with_the_value(labels, shown):
    with pytest.raises(
        ValueError, match=rf"concept_labels: expected 0/1 or boolean .*got {shown}"
    ):
        located_pairs(_masks(), [0], labels)


def test_float_rounding_does_not_pick_the_pointing_winner():
    """Two pixels whose values differ by float32 rounding tie; a real difference does not.

    Before, the larger of two values one float32 ulp apart won alone, so the same map
    computed with other batching could flip the hit (one pair in about 560)."""
    masks = _masks()
    peak = np.float32(0.8123456)
    maps = np.zeros((1, 2, 4, 4), np.float32)
    maps[0, :, 0, 0] = peak  # inside part 0
    maps[0, 0, 3, 3] = np.nextafter(peak, np.float32(1))  # one ulp above, outside
    maps[0, 1, 3, 3] = peak * np.float32(1.001)  # a real difference, outside
    r = concept_location(maps, masks, [0, 0])
    np.testing.assert_allclose(r.pointing, [[0.5, 0.0]])
    # negative peaks tie within the tolerance of their own size
    neg = np.full((1, 1, 4, 4), -5.0)
    neg[0, 0, 0, 0] = -1.0
    neg[0, 0, 3, 3] = -1.0 - 1e-7
    assert concept_location(neg, masks, [0]).pointing[0, 0] == 0.5


def test_an_outlying_pixel_does_not_widen_the_ties():
    """The tolerance scales with the maximum, not with max |M|: a -1e9 fill (a masked
    logit) made 3, 2 and 1 tie when it scaled with max |M| (review of the change)."""
    masks = np.zeros((1, 1, 1, 4), bool)
    masks[0, 0, 0, 0] = True
    maps = np.array([3.0, 1.0, 2.0, -1e9]).reshape(1, 1, 1, 4)
    assert concept_location(maps, masks, [0]).pointing[0, 0] == 1.0
    logp = np.array([-0.1, -0.2, -1e4, -1e4]).reshape(1, 1, 1, 4)
    assert concept_location(logp, masks, [0]).pointing[0, 0] == 1.0


def test_maps_at_the_float_limits_tie_without_overflow_warnings():
    masks = np.zeros((1, 1, 1, 4), bool)
    masks[0, 0, 0, 0] = True
    big = np.finfo(float).max
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = concept_location(np.full((1, 1, 1, 4), -big), masks, [0])
        assert r.pointing[0, 0] == 0.25
        maps = np.array([big, -big, -big, -big]).reshape(1, 1, 1, 4)
        assert concept_location(maps, masks, [0]).pointing[0, 0] == 1.0


def test_label_shape_is_checked_before_label_values():
    masks = np.zeros((2, 1, 2, 2), bool)
    with pytest.raises(ValueError, match=r"concept_labels: expected shape \(2, 1\), got \(3,\)"):
        located_pairs(masks, [0], np.array([0.5, 1.0, 0.0]))
