"""Estimators on values near float's limits, repeated rows and constant columns.

Before the fix (issue 23): at a scale of 1e300 KSG gave 0.020 instead of 0.810, the
Gaussian method blamed collinear columns, KL entropy blamed non-finite data, and kernel
widths became infinite; KL entropy of repeated rows returned a value set by the jitter
without a word; binning entropy silently dropped a constant column.
"""

import warnings

import numpy as np
import pytest

from bottlekit.estimators import (
    RepeatedRowsWarning,
    cs_divergence,
    cs_qmi,
    entropy,
    hsic,
    mutual_information,
)

SCALES = [1e300, 1e-300, 1e150]


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((800, 2))
    y = x[:, :1] + 0.5 * rng.standard_normal((800, 1))
    return x, y


@pytest.mark.parametrize("method", ["ksg", "gaussian", "binning", "renyi"])
@pytest.mark.parametrize("scale", SCALES)
def test_mutual_information_is_scale_free(pair, method, scale):
    x, y = pair
    kwargs = {"ksg": {"random_state": 0}, "binning": {"bins": 5}}.get(method, {})
    reference = mutual_information(x, y, method=method, **kwargs)
    assert reference > 0.2
    scaled = mutual_information(x * scale, y * scale, method=method, **kwargs)
    assert scaled == pytest.approx(reference, rel=1e-9)
    # one variable huge, the other tiny
    mixed = mutual_information(x * scale, y / scale, method=method, **kwargs)
    assert mixed == pytest.approx(reference, rel=1e-9)


@pytest.mark.parametrize("scale", SCALES)
def test_discrete_target_mi_is_scale_free(pair, scale):
    x, _ = pair
    labels = (x[:, 0] > 0).astype(int)
    reference = mutual_information(x, labels, method="ksg_discrete", random_state=0)
    scaled = mutual_information(x * scale, labels, method="ksg_discrete", random_state=0)
    assert scaled == pytest.approx(reference, rel=1e-9)


def test_neural_bound_is_scale_free(pair):
    x, y = pair
    kw = {"max_steps": 200, "eval_every": 50, "random_state": 0}
    reference = mutual_information(x, y, method="infonce", **kw)
    scaled = mutual_information(x * 1e300, y * 1e300, method="infonce", **kw)
    assert reference > 0.1
    assert scaled == pytest.approx(reference, abs=1e-4)


@pytest.mark.parametrize("method", ["kl", "gaussian", "binning"])
@pytest.mark.parametrize("scale", SCALES)
def test_entropy_moves_by_d_log_scale(pair, method, scale):
    # H(cX) = H(X) + d log c: the estimators are equivariant, so the shift is exact.
    x, _ = pair
    reference = entropy(x, method=method)
    expected = reference + x.shape[1] * np.log(scale)
    assert entropy(x * scale, method=method) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("scale", SCALES)
def test_kernel_estimators_with_width_rules_are_scale_free(pair, scale):
    x, y = pair
    z = x + 0.3
    assert cs_divergence(x * scale, z * scale) == pytest.approx(cs_divergence(x, z), rel=1e-9)
    assert cs_qmi(x * scale, y * scale) == pytest.approx(cs_qmi(x, y), rel=1e-9)
    assert hsic(x[:200] * scale, y[:200] * scale).statistic == pytest.approx(
        hsic(x[:200], y[:200]).statistic, rel=1e-9
    )


def test_fixed_width_scales_with_the_data(pair):
    x, _ = pair
    z = x + 0.3
    c = 1e300
    assert cs_divergence(x * c, z * c, sigma=0.5 * c) == pytest.approx(
        cs_divergence(x, z, sigma=0.5), rel=1e-9
    )


def test_kl_entropy_warns_on_repeated_rows():
    rng = np.random.default_rng(1)
    distinct = rng.standard_normal((300, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RepeatedRowsWarning)
        entropy(distinct)  # no warning
    repeated = np.vstack([distinct, distinct[:60]])
    with pytest.warns(RepeatedRowsWarning, match=r"60 of 360.*jitter"):
        entropy(repeated)


def test_binning_entropy_refuses_constant_columns_like_the_others():
    x = np.random.default_rng(2).standard_normal((200, 2))
    x[:, 1] = 3.0
    for method in ("kl", "gaussian", "binning"):
        with pytest.raises(ValueError, match=r"constant column\(s\) \[1\]"):
            entropy(x, method=method)
