"""One rule for arrays of numbers (bottlekit._arrays.as_real_array), and the public
functions that take arrays through it.

Before the rule was shared, five of these functions read numbers written as text
(``"1.5"``) as numbers or kept only the real part of complex values; the sweep at the
bottom pins that each now refuses them, naming the argument.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from bottlekit._arrays import as_binary_array, as_index_array, as_real_array
from bottlekit.concepts.discovery import discover
from bottlekit.datasets import ConceptDataset
from bottlekit.diagnostics import concept_location, spurious_concept_scores
from bottlekit.visualize import plot_activation_maps


@pytest.mark.parametrize(
    ("value", "dtype", "expected"),
    [
        ([1, 2], np.float64, np.array([1.0, 2.0])),
        ([[1, 2], [3, 4]], np.float32, np.array([[1, 2], [3, 4]], np.float32)),
        (np.array([True, False]), None, np.array([True, False])),
        (np.array([1, 2], np.int8), None, np.array([1, 2], np.int8)),
        (torch.tensor([0.5, 1.5]), np.float64, np.array([0.5, 1.5])),
        (np.array([1.0, None], dtype=object)[:1], np.float64, np.array([1.0])),
    ],
)
def test_real_numbers_come_back_with_the_asked_dtype(value, dtype, expected):
    out = as_real_array(value, "X", dtype=dtype)
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    ("value", "expected", "must"),
    [
        (["1.5", "2"], "X: expected a numeric array, got text values", "X must be a numeric"),
        (np.array([b"1"]), "X: expected a numeric array, got text values", "X must be a numeric"),
        (np.array([1.0, "a"], object), "expected a numeric array, got text", "must be a numeric"),
        ([1 + 2j], "X: expected real numbers, got complex values", "X must hold real numbers"),
        (
            torch.ones(2, dtype=torch.complex64),
            "expected real numbers, got a complex tensor",
            None,
        ),
        ([[1.0, 2.0], [3.0]], r"X: expected a numeric array, got list \(ragged", None),
        (np.array([1.0, None], object), "got an array of dtype object", None),
        ({"a": 1}, "X: expected a numeric array, got dict", None),
    ],
)
def test_anything_but_real_numbers_is_refused_by_name(value, expected, must):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning on the way: refused before the cast
        with pytest.raises(TypeError, match=expected):
            as_real_array(value, "X", dtype=None if "object" in expected else np.float64)
        if must is not None:
            with pytest.raises(TypeError, match=must):
                as_real_array(value, "X", wording="must")


def test_a_meta_tensor_is_refused():
    with pytest.raises(ValueError, match="X is a tensor on the 'meta' device"):
        as_real_array(torch.empty(2, device="meta"), "X")


def test_an_unknown_wording_is_refused():
    with pytest.raises(ValueError, match="wording must be 'expected' or 'must', got 'should'"):
        as_real_array(["a"], "X", wording="should")


RNG = np.random.default_rng(0)
TEXT_NUMBERS = np.array([["1.5", "0.2"], ["0.1", "2"]])  # numpy would parse these
IMAGES = np.zeros((6, 4, 4, 3), np.uint8)


def _dataset(concept_labels):
    return ConceptDataset(
        images=IMAGES,
        labels=np.array([0, 1, 0, 1, 1, 0]),
        class_names=["a", "b"],
        concept_names=["x", "y"],
        concept_labels=concept_labels,
    )


# each of these was accepted before: a result computed from the parsed text, or from the
# real part of the complex values
SWEEP = {
    "spurious scores of numbers as text": (
        lambda: spurious_concept_scores(TEXT_NUMBERS, None),
        "importance_by_class: expected a numeric array, got text values",
    ),
    "spurious scores of complex importance": (
        lambda: spurious_concept_scores(np.ones((2, 2)) + 1j, None),
        "importance_by_class: expected real numbers, got complex values",
    ),
    "spurious scores of attribute rates as text": (
        lambda: spurious_concept_scores(np.ones((2, 2)), TEXT_NUMBERS),
        "attribute_rate: expected a numeric array, got text values",
    ),
    "complex concept labels": (
        lambda: _dataset(np.ones((6, 2)) + 0j),
        "concept_labels: expected real numbers, got complex values",
    ),
    "discovery on numbers as text": (
        lambda: discover(RNG.standard_normal((50, 8)).astype(str), n_concepts=4, epochs=1),
        "X: expected a numeric array, got text values",
    ),
    "location of maps as text": (
        lambda: concept_location(
            RNG.random((2, 2, 4, 4)).astype(str), np.zeros((2, 2, 4, 4), bool), [0, 1]
        ),
        "maps: expected a numeric array, got text values",
    ),
    "plotted maps as text": (
        lambda: plot_activation_maps(IMAGES[:2], RNG.random((2, 1, 4, 4)).astype(str), ["x"]),
        "maps: expected a numeric array, got text values",
    ),
}


@pytest.mark.parametrize("case", list(SWEEP))
def test_public_functions_refuse_text_and_complex_numbers(case):
    call, message = SWEEP[case]
    with pytest.raises(TypeError, match=message):
        call()


# ------------------------------------------------------------------ as_index_array
@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        ([2, 0, 2], {"high": 3}, [2, 0, 2]),  # duplicates are kept, as in numpy
        (np.int8([1]), {"high": 3}, [1]),
        (np.uint64([2]), {"high": 3}, [2]),
        ([np.int16(1), np.uint64(2)], {"high": 3}, [1, 2]),  # numpy reads these as float64
        (range(3), {"high": 3}, [0, 1, 2]),
        (torch.tensor([1, 0]), {"high": 3}, [1, 0]),
        ([], {"high": 3}, []),  # empty stays allowed
        (np.zeros(0), {"high": 3}, []),
        ([-1, -3, 0], {"high": 3, "negative": True}, [2, 0, 0]),
        (np.int8([-1]), {"high": 3, "negative": True}, [2]),
        ([True, False, True], {"high": 3, "mask": True}, [0, 2]),
        ([-1, 5], {"low": -1}, [-1, 5]),  # a "none" marker
    ],
)
def test_index_arrays_come_back_as_int64(value, kwargs, expected):
    out = as_index_array(value, "idx", **kwargs)
    assert out.dtype == np.int64 and out.shape == (len(expected),)
    assert out.tolist() == expected


@pytest.mark.parametrize(
    ("value", "kwargs", "error", "message"),
    [
        # the wrong type: TypeError
        ([0.5], {}, TypeError, r"idx: expected a 1-D array of int, got float64 values of shape"),
        ([1.0], {}, TypeError, r"got float64 values"),  # even a whole float
        ([True, False], {"high": 3}, TypeError, r"got bool values of shape \(2,\)"),
        (np.bool_(True), {}, TypeError, r"got (np\.True_|True)$"),  # numpy < 2: repr "True"
        (["1"], {}, TypeError, r"got <U1 values"),
        ("abc", {}, TypeError, r"got 'abc'$"),
        (None, {}, TypeError, r"got None$"),
        (np.array([1, 2], object), {}, TypeError, r"got object values"),
        ([[1], [2, 3]], {}, TypeError, r"got list \(ragged\)$"),
        ([1, None], {}, TypeError, r"got object values"),
        (torch.tensor([1.0]), {}, TypeError, r"got float32 values"),
        # integers with a wrong shape or value: ValueError
        (3, {}, ValueError, r"idx: expected a 1-D array of int, got 3$"),
        (np.zeros((2, 2), int), {}, ValueError, r"got int64 values of shape \(2, 2\)$"),
        ([[1, 2]], {}, ValueError, r"got int64 values of shape \(1, 2\)$"),
        ([3], {"high": 3}, ValueError, r"idx: expected indices in 0\.\.2, got 3$"),
        ([-1], {"high": 3}, ValueError, r"idx: expected indices in 0\.\.2, got -1$"),
        ([-4], {"high": 3, "negative": True}, ValueError, r"expected indices in -3\.\.2, got -4$"),
        ([3], {"high": 3, "negative": True}, ValueError, r"expected indices in -3\.\.2, got 3$"),
        ([-2], {"low": -1}, ValueError, r"idx: expected indices >= -1, got -2$"),
        (list(range(3, 9)), {"high": 3}, ValueError, r"got 3, 4, 5, \.\.\. \(6 values out of r"),
        (
            [9],
            {"high": 3, "expected": "rows of X"},
            ValueError,
            r"idx: expected rows of X, got 9$",
        ),
        # before (images, datasets): 2**64 - 1 was cast to -1 and selected the last item
        (np.uint64([2**64 - 1]), {"high": 3}, ValueError, r"got 18446744073709551615$"),
        (np.uint64([2**64 - 1]), {"high": 3, "negative": True}, ValueError, r"got 184467440"),
        (np.uint64([2**64 - 1]), {}, ValueError, r"expected indices >= 0, got 184467440737"),
        ([-1, 2**64 - 1], {"high": 3, "negative": True}, ValueError, r"got 18446744073709551615$"),
        ([2**70], {}, ValueError, r"got 1180591620717411303424$"),
        # a mask of the wrong length or shape
        ([True], {"high": 3, "mask": True}, ValueError, r"boolean mask of shape \(3,\), got bool"),
        (np.ones((3, 1), bool), {"high": 3, "mask": True}, ValueError, r"got bool values of sh"),
    ],
)
def test_bad_indices_are_refused_by_name(value, kwargs, error, message):
    with pytest.raises(error, match=message):
        as_index_array(value, "idx", **kwargs)


def test_negative_positions_and_masks_need_the_number_of_items():
    with pytest.raises(ValueError, match="need high"):
        as_index_array([0], "idx", negative=True)
    with pytest.raises(ValueError, match="need high"):
        as_index_array([True], "idx", mask=True)


@pytest.mark.parametrize("wording, start", [("expected", "X: expected"), ("must", "X must")])
def test_integers_beyond_float64_are_a_value_error_naming_the_argument(wording, start):
    # Before: numpy's OverflowError "int too large to convert to float", no argument name.
    with pytest.raises(ValueError, match=rf"^{start} .*float64 can hold, got an integer too"):
        as_real_array([[10**400, 1.0]], "X", wording=wording)


@pytest.mark.parametrize(
    "value",
    [
        [[True, False]],
        [[1, 0]],
        np.array([[1.0, 0.0]]),
        np.array([[1, 0]], np.uint8),
        torch.tensor([[1, 0]]),
    ],
)
def test_binary_values_come_back_as_bool(value):
    out = as_binary_array(value, "concept_labels")
    assert out.dtype == bool
    np.testing.assert_array_equal(out, [[True, False]])


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        ([0, 2], ValueError, r"concept_labels: expected 0/1 or boolean values, got 2"),
        ([1, 0.5], ValueError, r"got 0\.5"),
        ([0, np.nan], ValueError, r"got nan"),
        (np.array([255], np.uint8), ValueError, r"got 255"),
        (["1", "0"], TypeError, r"concept_labels: expected a numeric array"),
    ],
)
def test_values_other_than_0_and_1_are_refused_by_name(value, error, message):
    with pytest.raises(error, match=message):
        as_binary_array(value, "concept_labels")


def test_binary_refusal_in_the_estimators_wording():
    with pytest.raises(ValueError, match=r"^masks must hold 0/1 or boolean values, got 0\.3$"):
        as_binary_array([0.3], "masks", wording="must")


def test_object_arrays_of_numbers_are_read_and_other_objects_named():
    # DataFrame.values of mixed bool and int columns is an object array
    mixed = np.array([[True, 1], [0, False]], dtype=object)
    np.testing.assert_array_equal(as_binary_array(mixed, "labels"), [[True, True], [False, False]])
    with pytest.raises(ValueError, match=r"^context: expected 0/1 or boolean values, got None$"):
        as_binary_array(np.array([True, None, False], dtype=object), "context")
    with pytest.raises(ValueError, match=r"wording must be 'expected' or 'must'"):
        as_binary_array([0.5], "masks", wording="should")
