"""check_number: the numeric hyper-parameter validation the bottleneck models share."""

from __future__ import annotations

import numpy as np
import pytest

from bottlekit.bottleneck._params import check_number


@pytest.mark.parametrize(
    ("value", "kw"),
    [(0.0, {"low": 0}), (1, {"integer": True, "low": 1}), (0.5, {"low": 0, "high": 1})],
)
def test_accepts_values_in_range(value, kw):
    check_number(value, "p", **kw)  # raises on failure


@pytest.mark.parametrize(
    ("value", "kw", "message"),
    [
        (0.0, {"low": 0, "low_open": True}, r"p: expected a finite number > 0, got 0.0"),
        (1.0, {"low": 0, "high": 1, "high_open": True}, r">= 0 and < 1, got 1.0"),
        (2.5, {"integer": True, "low": 0}, r"p: expected an int >= 0, got 2.5"),
        (True, {"low": 0}, "got True"),
        (np.nan, {}, "got nan"),
        ("3", {}, "got '3'"),
    ],
)
def test_rejects_with_a_message_naming_the_parameter(value, kw, message):
    with pytest.raises(ValueError, match=message):
        check_number(value, "p", **kw)
