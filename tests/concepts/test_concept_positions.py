"""concept_positions: the one rule for "which concepts does this argument name".

ConceptBank.subset, a fitted CBM's prune/intervene and the attributions' ``concepts``
each had their own copy of this rule; these tests pin the shared one and its options.
"""

from __future__ import annotations

import numpy as np
import pytest

from bottlekit.concepts import UnknownConceptError
from bottlekit.concepts.positions import concept_positions

NAMES = ["red body", "blue body", "striped wings"]
EXPECTED = "concept indices in 0..2"


def _positions(concepts, **kw):
    return concept_positions(concepts, NAMES, expected=EXPECTED, **kw)


@pytest.mark.parametrize(
    ("concepts", "kw", "want"),
    [
        ("blue body", {}, [1]),
        (2, {}, [2]),
        (["striped wings", 0, "red body"], {}, [2, 0, 0]),
        (np.array([2, 1]), {}, [2, 1]),
        # an array of names is taken as the list of them (it was refused as not int)
        (np.array(["striped wings", "red body"]), {}, [2, 0]),
        (np.array(["blue body", 0], dtype=object), {}, [1, 0]),
        (iter(["blue body"]), {}, [1]),
        ([-1, "red body"], {"negative": True}, [2, 0]),
        (np.array([True, False, True]), {"mask": True}, [0, 2]),
        ([], {}, []),
        # before: "expected a 1-D array of int, got <U13 values" for an array of names
        (np.array(["striped wings", "red body"]), {}, [2, 0]),
        (np.array(["blue body"], dtype=object), {"mask": True}, [1]),
    ],
)
def test_names_positions_and_masks(concepts, kw, want):
    assert _positions(concepts, **kw) == want


@pytest.mark.parametrize(
    ("concepts", "kw", "error", "message"),
    [
        (["red body", 3], {}, ValueError, r"concepts: expected concept indices in 0\.\.2, got 3"),
        # positions are checked before names: an unknown name beside a bad position
        (["no such", 3], {}, ValueError, r"got 3"),
        (["no such"], {}, UnknownConceptError, r"'no such'"),
        (["red body", 0.5], {}, TypeError, r"expected a 1-D array of int, got float64"),
        ([-1], {}, ValueError, r"got -1"),
        (np.array([True, False, True]), {}, TypeError, r"got bool values"),
        (np.array(["no such"]), {}, UnknownConceptError, r"'no such'"),
        (np.array([1, None], dtype=object), {}, TypeError, r"got object values"),
        (b"red", {}, TypeError, r"expected names \(str\) or integer indices, got bytes"),
        ({"red body"}, {}, TypeError, r"expected a concept name, an index or a list"),
        (None, {}, TypeError, r"expected a concept name, an index or a list"),
        (2, {"single": False}, ValueError, r"got 2$"),
        ([], {"allow_empty": False}, ValueError, r"expected at least one concept"),
    ],
)
def test_bad_concepts_are_named(concepts, kw, error, message):
    with pytest.raises(error, match=message):
        _positions(concepts, **kw)


def test_a_repeated_name_resolves_to_its_first_position():
    names = ["a", "b", "a"]
    assert concept_positions(["a", "b"], names, expected="x") == [0, 1]


def test_attribution_maps_an_array_of_names_as_the_list_of_them():
    import torch

    from bottlekit.concepts.bank import ConceptBank
    from bottlekit.visualize import ConceptSaliency

    A = torch.arange(24.0).reshape(8, 3) / 10

    def features(x):
        return x.flatten(1) @ A

    bank = ConceptBank(["a", "b"], np.eye(2, 3), "toy", provenance=[{"kind": "cav"}] * 2)
    x = torch.ones(2, 2, 2, 2)
    saliency = ConceptSaliency(features, bank)
    by_position = saliency.attribute(x, [1])
    np.testing.assert_array_equal(saliency.attribute(x, np.array(["b"])), by_position)
    # the gradient of the linear toy model: column 1 of A, max |.| over the 2 channels
    np.testing.assert_allclose(by_position[0, 0], A[:, 1].reshape(2, 2, 2).amax(0), rtol=1e-6)
