"""bottlekit._checks: the one scalar hyper-parameter check of estimators, CBMs and IB models."""

from __future__ import annotations

import numpy as np
import pytest

from bottlekit._checks import (
    check_bool,
    check_choice,
    check_number,
    check_positive_int,
    check_seed,
    int_seed,
    is_number,
    shown_value,
)


@pytest.mark.parametrize(
    ("value", "kw", "expected"),
    [
        (0.5, {"low": 0, "high": 1}, 0.5),
        (np.float32(2.0), {"low": 0, "low_open": True}, 2.0),
        (np.int64(3), {"integer": True, "low": 1}, 3),
        (7, {}, 7.0),
    ],
)
def test_returns_the_value_converted(value, kw, expected):
    out = check_number(value, "p", **kw)
    assert out == expected
    assert type(out) is (int if kw.get("integer") else float)


@pytest.mark.parametrize(
    ("value", "kw", "message"),
    [
        (np.inf, {"low": 0}, r"^p: expected a finite number >= 0, got inf$"),
        (-np.inf, {}, r"^p: expected a finite number, got -inf$"),
        (False, {"integer": True}, r"^p: expected an int, got False$"),
        (1.0, {"integer": True, "low": 0}, r"^p: expected an int >= 0, got 1\.0$"),
        (2**40, {"integer": True, "high": 2**31}, r"expected an int <= 2147483648, got"),
        (0.1, {"low": 0.25, "high": 0.5, "high_open": True}, r">= 0\.25 and < 0\.5, got 0\.1"),
        (
            2,
            {"high": 1, "expected": "a share in [0, 1]"},
            r"^p: expected a share in \[0, 1\], got 2$",
        ),
    ],
)
def test_expected_wording(value, kw, message):
    with pytest.raises(ValueError, match=message):
        check_number(value, "p", **kw)


@pytest.mark.parametrize(
    ("value", "kw", "error", "message"),
    [
        (-1.0, {"low": 0}, ValueError, r"^p must be a number >= 0, got -1\.0$"),
        (0, {"integer": True, "low": 1}, ValueError, r"^p must be an integer >= 1, got 0$"),
        ("a", {"type_error": True}, TypeError, r"^p must be a number, got 'a'$"),
        (np.nan, {"type_error": True}, ValueError, r"^p must be a number, got nan$"),
        (1.5, {"integer": True, "type_error": True}, TypeError, "an integer, got 1.5"),
    ],
)
def test_must_wording_and_error_types(value, kw, error, message):
    with pytest.raises(error, match=message):
        check_number(value, "p", wording="must", **kw)


def test_unknown_wording_is_rejected():
    with pytest.raises(ValueError, match="wording must be 'expected' or 'must', got 'shall'"):
        check_number(1, "p", wording="shall")


def test_check_positive_int():
    assert check_positive_int(np.int32(4), "k", minimum=2) == 4
    with pytest.raises(TypeError, match=r"^k must be an integer >= 2, got True$"):
        check_positive_int(True, "k", minimum=2)
    with pytest.raises(ValueError, match=r"^k must be an integer >= 2, got 1$"):
        check_positive_int(1, "k", minimum=2)


def test_is_number():
    assert is_number(np.float64(1.0)) and is_number(3, integer=True)
    assert not is_number(np.bool_(True)) and not is_number(None) and not is_number([1.0])
    assert not is_number(np.float64(3.0), integer=True)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        # one helper, each caller keeps its own wording
        (lambda: _ksg(jitter=np.inf), r"jitter must be a number >= 0 and <= 1 \(.*\), got inf"),
        (lambda: _renyi(alpha=0.0), "alpha must be a number > 0, got 0.0"),
        (lambda: _csib(sigma=True), r"sigma: expected a float > 0 or one of"),
        (lambda: _csib(learning_rate=np.inf), "learning_rate: expected a finite number > 0"),
        (lambda: _csib(batch_size=0), "batch_size: expected an int > 0, got 0"),
        (lambda: _csib(validation_fraction="0.2"), r"validation_fraction: expected a value in"),
    ],
)
def test_callers_route_through_the_helper(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def _ksg(**kw):
    from bottlekit.estimators import KSGMutualInformation

    x = np.arange(20.0)
    return KSGMutualInformation(**kw).fit(x, x**2)


def _renyi(**kw):
    from bottlekit.estimators import RenyiEntropy

    return RenyiEntropy(**kw).fit(np.arange(20.0))


def _csib(**kw):
    from bottlekit.bottleneck import CSIBRegressor

    X = np.random.default_rng(0).standard_normal((20, 2))
    return CSIBRegressor(max_epochs=1, **kw).fit(X, X[:, 0])


@pytest.mark.parametrize(
    "make",
    [np.random.RandomState, np.random.default_rng, np.random.SeedSequence, np.random.PCG64],
)
def test_int_seed_draws_the_same_seed_from_the_same_generator(make):
    a, b, c = int_seed(make(5)), int_seed(make(5)), int_seed(make(6))
    assert a == b != c
    assert 0 <= a < 2**31 - 1


def test_int_seed_keeps_ints_and_none_and_refuses_the_rest():
    assert int_seed(np.int64(7)) == 7 and type(int_seed(np.int64(7))) is int
    assert int_seed(None) is None
    with pytest.raises(ValueError, match=r"seed: expected None, an int >= 0 .*got -1"):
        int_seed(-1, "seed")
    with pytest.raises(TypeError, match=r"random_state: expected .*got True"):
        int_seed(True)


# Before shown_value, an int past 4,300 digits replaced the message with Python's own
# "Exceeds the limit (4300 digits) for integer string conversion" (the argument was not
# named), and a long string was echoed whole (a megabyte of message for a megabyte seed).
@pytest.mark.parametrize(
    "call",
    [
        lambda: check_number(10**5000, "n", high=10, integer=True),
        lambda: check_number("x" * 10**6, "n"),
        lambda: check_bool(10**5000, "flag"),
        lambda: check_seed(-(10**5000)),
        lambda: check_seed("s" * 10**6, "random_state"),
    ],
)
def test_huge_values_are_named_in_a_short_message(call):
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    message = str(info.value)
    assert message.split(":")[0] in {"n", "flag", "random_state"}
    assert len(message) < 200
    assert "4300 digits" not in message


def test_shown_value():
    assert shown_value(3) == "3"
    assert shown_value("abc") == "'abc'"
    assert shown_value(10**5000) == f"an int of {(10**5000).bit_length()} bits"
    long = shown_value("y" * 1000)
    assert long.endswith("... (a str of length 1000)") and len(long) <= 80
    assert shown_value(list(range(1000))).endswith("(a list, repr of 4890 characters)")


_METHODS = ("ksg", "binning", "renyi")


def test_check_choice_returns_a_choice_as_a_plain_str():
    out = check_choice(np.str_("ksg"), _METHODS, "method")
    assert out == "ksg" and type(out) is str
    assert check_choice(None, (None, "random_tiles"), "approximation") is None
    assert check_choice("b", {"b": 1, "a": 2}, "key") == "b"


@pytest.mark.parametrize(
    ("wording", "message"),
    [
        ("expected", r"^method: expected one of \('ksg', 'binning', 'renyi'\), got 'mine'$"),
        ("must", r"^method must be one of \('ksg', 'binning', 'renyi'\), got 'mine'$"),
    ],
)
def test_check_choice_wordings(wording, message):
    with pytest.raises(ValueError, match=message):
        check_choice("mine", _METHODS, "method", wording=wording)


@pytest.mark.parametrize(
    "value",
    # Each of these, compared with `in`, failed deep inside with a message naming nothing
    # (unhashable type: 'list' / 'dict', or numpy's "truth value ... is ambiguous").
    [["ksg"], {"a": 1}, np.array(["ksg", "x"]), np.array("ksg"), None, 1, b"ksg", True],
)
@pytest.mark.parametrize("choices", [_METHODS, set(_METHODS), dict.fromkeys(_METHODS)])
def test_check_choice_refuses_a_non_str_by_its_type_before_comparing(value, choices):
    with pytest.raises(TypeError, match=r"^method: expected one of .*, got "):
        check_choice(value, choices, "method")


def test_check_choice_non_str_choices_are_matched_by_identity():
    assert check_choice(False, (False, "auto"), "flag") is False
    with pytest.raises(TypeError, match="got 0"):
        check_choice(0, (False, "auto"), "flag")  # 0 == False, but it is not False
    with pytest.raises(TypeError, match="got True"):
        check_choice(True, (None, "auto"), "flag")


def test_check_choice_hints_a_close_match():
    with pytest.raises(ValueError, match=r"got 'bining'; did you mean 'binning'\?$"):
        check_choice("bining", _METHODS, "method")
    with pytest.raises(ValueError, match=r"got 'zzz'$"):  # nothing close: no hint
        check_choice("zzz", _METHODS, "method")
    # case is ignored when looking for the hint; before, 'BINNING' and 'PATCH_TOKENS' got none
    with pytest.raises(ValueError, match=r"got 'BINNING'; did you mean 'binning'\?$"):
        check_choice("BINNING", _METHODS, "method")
    with pytest.raises(ValueError, match=r"got 'PATCH_TOKEN'; did you mean 'patch_tokens'\?$"):
        check_choice("PATCH_TOKEN", ("coam", "gradcam", "patch_tokens"), "method")


def test_check_choice_set_shown_sorted_and_long_value_cut():
    with pytest.raises(ValueError, match=r"one of \['a', 'b'\], got 'x+\.\.\. \(a str of length"):
        check_choice("x" * 10**6, {"b", "a"}, "key")


def test_check_choice_expected_text_replaces_the_list():
    with pytest.raises(TypeError, match=r"^statistic must be 'u' or 'v' \(all pairs\), got None$"):
        check_choice(
            None, ("u", "v"), "statistic", expected="'u' or 'v' (all pairs)", wording="must"
        )


def test_check_choice_unknown_wording_is_rejected():
    with pytest.raises(ValueError, match="wording must be"):
        check_choice("ksg", _METHODS, "method", wording="should")
