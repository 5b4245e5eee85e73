"""Numerical inputs researchers produce: values near float's top, offsets, half precision,
kernel widths of degenerate data, repeated labels, mixed column scales.

A second pass after ``test_estimators_hostile.py`` and ``test_extreme_inputs.py``: each
case gave, before, a silent wrong number, NaN or an error from deep inside (the comment
above each test says which); now the right answer or a clear refusal.
"""

import warnings

import numpy as np
import pytest
import torch

from bottlekit.estimators import (
    conditional_cs_divergence,
    conditional_mutual_information,
    cs_divergence,
    cs_qmi,
    entropy,
    gaussian_rowsums,
    gaussian_rowsums_torch,
    hsic,
    kernel_width,
    mutual_information,
)
from bottlekit.estimators._scaling import power_of_two_scale

rng = np.random.default_rng(0)
N = 300
X = rng.standard_normal(N)
Y = 0.6 * X + 0.8 * rng.standard_normal(N)
Z = X**2 + rng.standard_normal(N)
# at most 10: times 1e307 in float's top octave (the largest of 300 draws of X**2 + noise
# exceeds 17.9, where Z * 1e307 overflows in the test itself, on 2 of 35 fresh seeds)
Z *= 10.0 / np.abs(Z).max()
LABELS = (X > 0).astype(int)
BIG = 1e307  # 300 rows of it: the sum in a mean overflows


# ---------------------------------------------------------------- near float's top
@pytest.mark.parametrize(
    "call",
    [
        # before: "(X, Y) has more than k identical rows" (the mean overflowed, NaN data)
        lambda s: mutual_information(X * s, Y * s, random_state=0),
        lambda s: mutual_information(X * s, LABELS, method="ksg_discrete", random_state=0),
        lambda s: conditional_mutual_information(X * s, Y * s, Z * s, random_state=0),
        # before: "the correlation matrix of (X, Z) is singular" (a scale of 2**1024 = inf)
        lambda s: conditional_mutual_information(X * s, Y * s, Z * s, method="gaussian"),
        # before: nan
        lambda s: hsic(X * s, Y * s).statistic,
        # before: numpy's LinAlgError "Eigenvalues did not converge"
        lambda s: mutual_information(X * s, Y * s, method="renyi"),
        lambda s: entropy(X * s, method="renyi"),
        # before: "every kernel value ... underflowed to 0 ... at kernel width 1"
        lambda s: cs_qmi(X * s, Y * s),
        # before: right, with numpy's RuntimeWarning "overflow encountered in reduce"
        lambda s: cs_divergence(X * s, Y * s),
        lambda s: conditional_cs_divergence(X * s, Y * s, (X + 0.1) * s, Y * s),
    ],
)
def test_values_near_float_max_give_the_unscaled_estimate(call):
    reference = call(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert call(BIG) == pytest.approx(reference, rel=1e-9, abs=1e-12)


def test_power_of_two_scale_in_the_top_octave_is_finite():
    # before: 2**1024 = inf (with an overflow warning), and X / inf = 0
    top = np.array([[1.5e308], [-1.0]])
    c = power_of_two_scale(top)
    assert c[0] == 2.0**1023
    assert np.all(np.isfinite(top / c)) and np.max(np.abs(top / c)) < 2


# ---------------------------------------------------------------- kernel widths
def test_kernel_width_takes_a_1d_sample_like_every_estimator():
    # before: "not enough values to unpack (expected 2, got 1)"
    assert kernel_width(X) == kernel_width(X[:, None])


@pytest.mark.parametrize(
    "data, match",
    [
        # before: a NaN width blamed on "constant or duplicated rows", with numpy's
        # RuntimeWarnings "Degrees of freedom <= 0"
        (np.ones((1, 1)), r"X must have at least 2 samples \(rows\), got 1"),
        (np.array([[np.nan], [1.0]]), r"X contains 1 NaN or infinite value"),
    ],
)
@pytest.mark.parametrize("rule", ["silverman", "median"])
def test_kernel_width_refuses_what_has_no_spread(data, match, rule):
    with pytest.raises(ValueError, match=match):
        kernel_width(data, rule)


def test_median_width_of_data_with_an_offset():
    # before: 0.0 and "gives width 0.0 for this data (constant or duplicated rows?)": the
    # expanded |a|^2 + |b|^2 - 2ab lost every digit of a spread of 1 at an offset of 1e8
    ref = kernel_width(X[:, None], "median")
    assert kernel_width(X[:, None] + 1e8, "median") == pytest.approx(ref, rel=1e-7)
    assert hsic(X + 1e8, Y).statistic == pytest.approx(hsic(X, Y).statistic, rel=1e-6)


def test_median_width_zero_says_why():
    # more than half of the pairs of a 0/1 variable coincide: the median distance is 0
    with pytest.raises(ValueError, match=r"more than half of the pairs of rows of X coincide"):
        hsic(X > 0.5, Y)


# ---------------------------------------------------------------- half precision tensors
def test_bfloat16_tensors_are_read():
    # before: torch's "Got unsupported ScalarType BFloat16" (Tensor.numpy())
    xb = torch.tensor(X).bfloat16()
    x_rounded = xb.float().numpy().astype(np.float64)
    assert mutual_information(xb, Y, random_state=0) == mutual_information(
        x_rounded, Y, random_state=0
    )
    assert hsic(xb, Y).statistic == hsic(x_rounded, Y).statistic


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("grad", [False, True])
def test_cauchy_schwarz_on_half_precision_tensors(dtype, grad):
    # before: cs_qmi gave -inf (float16 kernel sums) and the conditional divergence the
    # wrong sign (-0.016 for 0.018)
    xh = torch.tensor(X, dtype=dtype, requires_grad=grad)
    yh = torch.tensor(Y, dtype=dtype)
    xh2 = xh + 0.1
    x64, y64, x64_2 = (t.detach().double().numpy() for t in (xh, yh, xh2))
    got = cs_qmi(xh, yh)
    assert got.dtype == torch.float32
    assert float(got.detach()) == pytest.approx(cs_qmi(x64, y64), rel=1e-3)
    got = conditional_cs_divergence(xh, yh, xh2, yh)
    ref = conditional_cs_divergence(x64, y64, x64_2, y64)
    # with a gradient the sums are plain float32 (no float64 accumulation): over 40 seeds
    # the error reached 1.1e-5 nats on divergences of 0.005 (rel=1e-3 alone failed on 1
    # of 8 fresh seeds, at 1.7e-3); the bugs above were off by the sign or infinitely
    assert float(got.detach()) == pytest.approx(ref, rel=1e-3, abs=5e-5)
    if grad:
        got.backward()
        assert xh.grad.dtype == dtype and bool(torch.isfinite(xh.grad.float()).all())


# ---------------------------------------------------------------- kernel row sums
@pytest.mark.parametrize(
    "call",
    [
        lambda: gaussian_rowsums(X[:, None], X[:, None], 1e-160),
        lambda: gaussian_rowsums(X[:, None] * 1e200, X[:, None] * 1e200, 1.0),
        lambda: gaussian_rowsums_torch(
            torch.tensor(X[:, None]).float(), torch.tensor(X[:, None]).float(), 1e-30
        ),
    ],
)
def test_rowsums_refuse_a_width_whose_squares_overflow(call):
    # before: an array of NaN, without a word
    with pytest.raises(ValueError, match=r"sigma=1e-160|sigma=1 |sigma=1e-30"):
        call()


# ---------------------------------------------------------------- Gaussian sample size
@pytest.mark.parametrize(
    "call, match",
    [
        # before: "needs more samples than dimensions: got n=3 rows for dx + dy = 2 columns"
        # (3 > 2: the rule was not the one the message stated)
        (
            lambda: mutual_information(X[:3], Y[:3], method="gaussian"),
            r"at least dx \+ dy \+ 2 = 4 samples \(rows\) for dx \+ dy = 2 columns, got n=3",
        ),
        (
            lambda: conditional_mutual_information(X[:4], Y[:4], Z[:4], method="gaussian"),
            r"at least dx \+ dy \+ dz \+ 2 = 5 samples \(rows\) .* got n=4",
        ),
    ],
)
def test_gaussian_sample_size_message_states_the_rule(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------- labels
def test_plugin_cmi_takes_string_labels_in_an_object_column():
    # before: numpy's "The axis argument to unique is not supported for dtype object"
    # (a pandas column of strings is an object array)
    z = np.array(["a", "b"], dtype=object)[LABELS]
    strings = conditional_mutual_information(LABELS, LABELS, z, method="plugin")
    assert strings == conditional_mutual_information(LABELS, LABELS, LABELS, method="plugin")
    with pytest.raises(TypeError, match=r"Z mixes label types \['int', 'str'\] in column 0"):
        mixed = np.array([1, "a"] * 150, dtype=object)
        conditional_mutual_information(LABELS, LABELS, mixed, method="plugin")


def test_ross_warns_when_singleton_labels_leave_most_rows_out():
    # before: 0.0 without a word (45 of 50 rows dropped, one label left)
    y = np.r_[np.zeros(5), np.arange(1, 46)]
    with pytest.warns(UserWarning, match=r"45 of 50 rows \(90%\) with a label that occurs only"):
        mutual_information(X[:50], y, method="ksg_discrete")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mutual_information(X, LABELS, method="ksg_discrete")  # no singleton: no warning


def test_kl_entropy_sees_every_column_whatever_its_unit():
    # Before: one scale for all columns; next to a column of 1e6 a column of 1e-6 was
    # invisible to the max-norm and Euclidean neighbourhoods, and the estimate of a
    # standard normal pair in those units was 25.1 nats for a truth of 2.84 (the two
    # logs of the units cancel).
    from bottlekit.estimators import KozachenkoLeonenkoEntropy

    x = np.random.default_rng(0).standard_normal((4000, 2))
    truth = np.log(2 * np.pi * np.e)  # H(N(0, I_2))
    h = KozachenkoLeonenkoEntropy().fit(x).entropy_
    assert abs(h - truth) < 0.05
    for units in ([1e-6, 1e6], [1.0, 5.0], [3e-3, 1.0]):
        shifted = KozachenkoLeonenkoEntropy().fit(x * np.array(units)).entropy_
        # H(a X) = H(X) + sum log a, and the estimator follows it to rounding
        assert shifted == pytest.approx(h + np.log(units).sum(), abs=1e-9)


def test_conditional_mi_counts_singletons_within_strata_instead_of_warning_per_stratum():
    # Before: the Ross warning on singleton labels (new this session) fired once per
    # stratum of Z inside conditional MI, dozens of times in one audit, about rows that
    # are expected to be left out there; now they are counted in n_dropped_.
    import warnings

    from bottlekit.estimators import KSGConditionalMutualInformation, SingletonLabelsWarning

    rng = np.random.default_rng(0)
    z = np.repeat(np.arange(4), 30)
    y = rng.integers(0, 3, 120)
    y[::30] = 7  # one row per stratum with a label of its own
    x = rng.standard_normal(120) + y
    with warnings.catch_warnings():
        warnings.simplefilter("error", SingletonLabelsWarning)
        est = KSGConditionalMutualInformation(discrete_y=True, discrete_z=True, random_state=0)
        est.fit(x, y, z)
    assert est.n_dropped_ == 4
    # called on its own, Ross's estimator still warns and counts
    from bottlekit.estimators import DiscreteContinuousMutualInformation

    with pytest.warns(SingletonLabelsWarning, match="1 of 30 rows"):
        ross = DiscreteContinuousMutualInformation().fit(x[:30], y[:30])
    assert ross.n_dropped_ == 1
