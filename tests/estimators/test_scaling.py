"""The power-of-two rescaled mean and standard deviation (estimators/_scaling.py).

The information-bottleneck models standardise with :func:`safe_mean_and_std`; they had a
copy of it (``bottleneck/_ib_base._mean_and_std``) until it was shared. These tests hold
the shared helper to that copy bit for bit, to plain numpy on ordinary data, and to
closed forms near float's limits, where plain numpy overflows.
"""

from __future__ import annotations

import numpy as np
import pytest

from bottlekit.bottleneck import VIBRegressor
from bottlekit.estimators._scaling import power_of_two_scale, safe_mean_and_std, safe_std


def _ib_mean_and_std_before(X):
    """The IB models' own copy, as it was (bottleneck/_ib_base.py at 3b48cc8)."""
    c = power_of_two_scale(X)
    Xs = X / c
    return Xs.mean(axis=0) * c, Xs.std(axis=0) * c


def _samples(scale):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 4))
    X[:, 1] *= 1e3  # columns of different magnitudes
    X[:, 2] = 7.0  # constant
    X[:, 3] = 0.0  # all zero
    return X * scale


SCALES = [1.0, 1e300, -1e300, 1e-300, 1e150, 1e-150]


@pytest.mark.parametrize("scale", SCALES)
def test_equals_the_ib_models_former_copy_bit_for_bit(scale):
    X = _samples(scale)
    mean, std = safe_mean_and_std(X)
    mean_before, std_before = _ib_mean_and_std_before(X)
    np.testing.assert_array_equal(mean, mean_before)
    np.testing.assert_array_equal(std, std_before)
    np.testing.assert_array_equal(safe_std(X), std)
    assert np.isfinite(mean).all() and np.isfinite(std).all()


def test_equals_numpy_on_ordinary_data():
    X = _samples(1.0)
    mean, std = safe_mean_and_std(X)
    np.testing.assert_array_equal(mean, X.mean(0))
    np.testing.assert_array_equal(std, X.std(0))
    np.testing.assert_array_equal(safe_mean_and_std(X, ddof=1)[1], X.std(0, ddof=1))


@pytest.mark.parametrize("exponent", [1000, -1000, 996, -996])
def test_closed_form_near_the_limits_where_numpy_overflows(exponent):
    # columns (1, 3) * 2^e and (-2, 2, 2, -2)-style data: mean and std are exact powers of 2
    X = np.array([[1.0, -2.0], [3.0, 2.0]]) * 2.0**exponent
    mean, std = safe_mean_and_std(X)
    np.testing.assert_array_equal(mean, [2.0 * 2.0**exponent, 0.0])
    np.testing.assert_array_equal(std, [2.0**exponent, 2.0 * 2.0**exponent])
    if exponent > 0:  # the squares overflow in plain numpy
        with np.errstate(over="ignore"):
            assert not np.isfinite(X.std(0)).all()


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_ib_models_standardise_with_it(scale):
    X = _samples(scale)[:60, :2]
    y = np.linspace(-1.0, 1.0, 60) * scale
    model = VIBRegressor(max_epochs=1, random_state=0, hidden_sizes=(4,), bottleneck_dim=2)
    model.fit(X, y)
    mean, std = _ib_mean_and_std_before(X)
    np.testing.assert_array_equal(model.x_mean_, mean)
    np.testing.assert_array_equal(model.x_scale_, std)
    y_mean, y_std = _ib_mean_and_std_before(y[:, None])
    assert (model.y_mean_, model.y_scale_) == (float(y_mean[0]), float(y_std[0]))
