"""I(X;Z|Y) of a Gaussian encoder (Kawaguchi et al. 2023): closed forms and bad input.

With X | Y=c ~ N(m_c, diag(a)) and the encoder Z = X + N(0, s^2 I) (mean mu(x) = x, fixed
std s), I(X;Z|Y=c) = 1/2 sum_i log(1 + a_i / s^2) for every class: the closed form both
estimators are held to."""

from __future__ import annotations

import numpy as np
import pytest

from bottlekit.estimators import encoder_conditional_mi_ksg, gaussian_encoder_conditional_mi


def _encoder_data(a, n_per_class=1000, n_classes=2, seed=1):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    centres = 3.0 * rng.standard_normal((n_classes, len(a)))
    mu = centres[y] + np.sqrt(np.asarray(a)) * rng.standard_normal((len(y), len(a)))
    return mu, y


@pytest.mark.parametrize(
    ("a", "s", "tol"),
    # n_c = 1000, 40 seeds (data and estimator), estimate - truth as bias/sd: reference
    # -0.004/0.022, -0.006/0.035, -0.007/0.023 and KSG -0.007/0.027, -0.216/0.034,
    # +0.012/0.027 for the three cases -> tol = |bias| + 4 sd (abs=0.06, about 2 sd,
    # failed on 1 of 20 fresh seeds); every tol stays below 0.2 x truth (0.14, 0.31, 0.28).
    [((1.0, 1.0), 1.0, 0.12), ((0.5, 2.0, 4.0), 1.0, 0.15), ((4.0,), 0.5, 0.12)],
)
def test_both_estimators_match_the_gaussian_closed_form(a, s, tol):
    truth = 0.5 * float(np.sum(np.log1p(np.asarray(a) / s**2)))
    mu, y = _encoder_data(a)
    ref = gaussian_encoder_conditional_mi(mu, s, y, random_state=0)
    ksg = encoder_conditional_mi_ksg(mu, s, y, random_state=0)
    # n_c = 1000: the reference's log-mean-exp marginal is within a few hundredths here
    # (its bias grows as the truth approaches log n_c = 6.9)
    assert ref == pytest.approx(truth, abs=tol)
    if len(a) <= 2:
        assert ksg == pytest.approx(truth, abs=tol)
    else:
        # KSG's known underestimate in higher dimensions: 3 + 3 dimensions with unequal
        # variances at 1000 samples per stratum give 1.34 +- 0.034 for 1.56 nats
        assert truth - 0.35 < ksg < truth


def test_per_sample_stds_match_the_fixed_std():
    mu, y = _encoder_data((1.0, 1.0))
    fixed = gaussian_encoder_conditional_mi(mu, 1.0, y, random_state=0)
    per_sample = gaussian_encoder_conditional_mi(mu, np.ones_like(mu), y, random_state=0)
    assert per_sample == pytest.approx(fixed, abs=1e-12)


def test_a_label_only_encoder_keeps_nothing_beyond_the_label():
    """mu depends on y only: within a class every input has the same code distribution."""
    y = np.repeat([0, 1, 2], 200)
    mu = 4.0 * np.eye(3)[y]
    assert gaussian_encoder_conditional_mi(mu, 0.3, y, random_state=0) == pytest.approx(0.0)
    assert encoder_conditional_mi_ksg(mu, 0.3, y, random_state=0) == 0.0


def test_the_reference_estimate_is_capped_by_log_class_size():
    """A nearly deterministic encoder of a continuous input: the truth is huge, the
    reference's estimate saturates at log n_c (its InfoNCE-type ceiling)."""
    mu, y = _encoder_data((1.0, 1.0), n_per_class=50)
    est = gaussian_encoder_conditional_mi(mu, 1e-4, y, random_state=0)
    assert est <= np.log(50) + 1e-9
    assert est > np.log(50) - 0.05


@pytest.mark.parametrize("seed", [1, 6])  # seed 6 gave log(50) + 2.1e-8 before
def test_the_ceiling_and_the_estimate_survive_an_offset_of_the_means(seed):
    """Before: the quadratic form was expanded on the raw means, so it cancelled digits in
    proportion to |z / sd|^2: the reference's estimate exceeded its ceiling log n_c by up
    to 7e-8 on 12 of 20 fresh seeds of the test above (sd 1e-4), by 43 nats for means
    offset by 1e5, and gave 0.31 for 0.71 for means offset by 1e8 (sd 1)."""
    mu, y = _encoder_data((1.0, 1.0), n_per_class=50, seed=seed)
    for offset in (0.0, 1e5):
        est = gaussian_encoder_conditional_mi(mu + offset, 1e-4, y, random_state=0)
        assert np.log(50) - 0.05 < est <= np.log(50) + 1e-12
    mu, y = _encoder_data((1.0, 1.0), n_per_class=300, seed=seed)
    ref = gaussian_encoder_conditional_mi(mu, 1.0, y, random_state=0)
    shifted = gaussian_encoder_conditional_mi(mu + 1e8, 1.0, y, random_state=0)
    assert shifted == pytest.approx(ref, abs=1e-6)


def test_jensen_variant_matches_its_closed_form():
    """The reference's jensen=True estimate replaces log mean_j p(z_i|x_j) by
    mean_j log p(z_i|x_j). For a fixed std s and z_i = mu_i + s e_i, the log-normaliser
    cancels and, per class, it is exactly V / s^2 + mean_i e_i . (mu_i - mu_bar) / s,
    V = mean_i |mu_i - mu_bar|^2 (re-derived by hand): the truth here is
    sum(a) / s^2 = 3 nats (the true I(X;Z|Y) is log 2 + log 1.5 = 1.10), the noise
    term has sd sqrt(V / n) / s = 0.04."""
    mu, y = _encoder_data((1.0, 2.0), n_per_class=1000)
    jensen = gaussian_encoder_conditional_mi(mu, 1.0, y, random_state=0, jensen=True)
    V = np.mean([np.sum(np.var(mu[y == c], axis=0)) for c in (0, 1)])
    assert jensen == pytest.approx(V, abs=0.15)
    assert V == pytest.approx(3.0, abs=0.3)


def test_jensen_variant_is_not_below_the_default():
    mu, y = _encoder_data((1.0, 1.0), n_per_class=300)
    default = gaussian_encoder_conditional_mi(mu, 1.0, y, random_state=0)
    jensen = gaussian_encoder_conditional_mi(mu, 1.0, y, random_state=0, jensen=True)
    assert jensen >= default  # mean log p <= log mean p


@pytest.mark.parametrize("fn", [gaussian_encoder_conditional_mi, encoder_conditional_mi_ksg])
def test_bad_input_is_refused_with_a_clear_error(fn):
    mu, y = _encoder_data((1.0, 1.0), n_per_class=20)
    with pytest.raises(ValueError, match="same number of samples"):
        fn(mu, 1.0, y[:-1])
    with pytest.raises(TypeError, match="y must hold discrete labels"):
        fn(mu, 1.0, y.astype(float))
    with pytest.raises(ValueError, match="stds must be > 0"):
        fn(mu, 0.0, y)
    with pytest.raises(ValueError, match="stds must be > 0"):
        fn(mu, -np.ones_like(mu), y)
    with pytest.raises(ValueError, match="shape of means"):
        fn(mu, np.ones((len(mu), 3)), y)
    with pytest.raises(ValueError, match="at least 2 samples"):
        fn(mu[:1], 1.0, y[:1])
    with pytest.raises(ValueError, match="NaN"):
        fn(np.full_like(mu, np.nan), 1.0, y)


def test_a_class_with_one_sample_is_refused():
    mu, y = _encoder_data((1.0,), n_per_class=5)
    y = np.append(y, 7)
    mu = np.vstack([mu, [[0.0]]])
    with pytest.raises(ValueError, match="class 7 has 1 sample"):
        gaussian_encoder_conditional_mi(mu, 1.0, y)
