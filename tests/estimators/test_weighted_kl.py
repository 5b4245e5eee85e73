"""The reference code's estimator of Butakov et al. 2024: weighted Kozachenko-Leonenko
entropies (Berrett, Samworth & Yuan 2019) of covariance-whitened data.

Checked against its definitions written out by brute force (all pairwise distances,
``scipy.linalg.sqrtm`` whitening, the Gamma-function moment conditions), against closed
forms, and for the invariance that whitening buys. (On the same data it equals the
reference's ``MutualInfoEstimator(method='KL', k_neighbours=5)`` to 1.3e-12 nats, jitter
0; the reference is not a dependency, so that comparison lives in the report.)"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm
from scipy.spatial.distance import cdist
from scipy.special import digamma, gammaln

from bottlekit.estimators import (
    CollinearColumnsWarning,
    CompressedInformationPlane,
    CompressedMutualInformation,
    HeavyTailWarning,
    KozachenkoLeonenkoEntropy,
    entropy,
)
from bottlekit.estimators.kozachenko_leonenko import WeightsWarning, weighted_kl_weights
from bottlekit.estimators.lossy_compression import weighted_kl_mutual_information


def _gaussian_pair(n, seed, d=4, truth=2.5):
    """X, Y ~ N(0, I_d), coordinate i of Y correlated with coordinate i of X only:
    I(X;Y) = -d/2 log(1 - rho^2) = ``truth`` nats."""
    rho = np.sqrt(1 - np.exp(-2 * truth / d))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    return x, rho * x + np.sqrt(1 - rho**2) * rng.standard_normal((n, d))


@pytest.mark.parametrize("k", [5, 8, 10, 20])
@pytest.mark.parametrize("d", range(1, 17))
def test_weights_satisfy_their_defining_equations(k, d):
    with warnings.catch_warnings():  # solvable up to d = 16 for these k: no warning
        warnings.simplefilter("error", WeightsWarning)
        w = weighted_kl_weights(k, d)
    assert w.shape == (k,)
    if d <= 4:  # the reference's rule: the first neighbour alone
        assert w.tolist() == [1.0] + [0.0] * (k - 1)
        return
    assert abs(w.sum() - 1) < 1e-9
    j = np.arange(1, k + 1)
    for power in range(1, d // 4 + 1):
        moment = np.array([math.gamma(i + 2 * power / d) / math.gamma(i) for i in j])
        # exact zero, up to rounding of weights of size up to ~1e4
        assert abs(moment @ w) < 1e-9 * max(1.0, np.abs(moment * w).sum())
    allowed = {i * k // d for i in range(1, d + 1)}
    # zero up to the least-squares solver's rounding
    assert all(abs(w[i - 1]) < 1e-12 * np.abs(w).max() for i in j if i not in allowed)


def test_weights_warn_when_the_equations_have_no_solution():
    # k = 5 in 20 dimensions: 6 equations on 5 weights; k = 1 above 4 dimensions: the
    # sum and the moment condition contradict each other (the reference then silently
    # used weights summing to 0.5, shrinking every log-distance by half)
    with pytest.warns(WeightsWarning, match="k=5 neighbours in d=20"):
        w = weighted_kl_weights(5, 20)
    assert abs(w.sum() - 1) > 1e-3
    with pytest.warns(WeightsWarning, match="sum of the weights 0.5"):
        assert weighted_kl_weights(1, 5).tolist() == pytest.approx([0.5])


@pytest.mark.parametrize("d", [1, 3, 6, 9])
def test_weighted_whitened_entropy_equals_its_brute_force_definition(d):
    rng = np.random.default_rng(d)
    X = rng.standard_normal((80, d)) @ rng.standard_normal((d, d)) + 5.0
    k, n = 5, len(X)
    cov = np.atleast_2d(np.cov(X, rowvar=False))
    Z = (X - X.mean(axis=0)) @ np.linalg.inv(np.real(sqrtm(cov)))  # centred: no offset digits lost
    dist = np.sort(cdist(Z, Z), axis=1)[:, 1 : k + 1]  # 1st..k-th neighbours
    w = weighted_kl_weights(k, d)
    log_ball = 0.5 * d * np.log(np.pi) - gammaln(0.5 * d + 1)
    per_point = np.log(n - 1) + log_ball + d * np.log(dist) - digamma(np.arange(1, k + 1))
    expected = float(np.mean(per_point @ w)) + 0.5 * np.linalg.slogdet(cov)[1]
    est = KozachenkoLeonenkoEntropy(k, weighted=True, whiten=True, jitter=0).fit(X)
    # both whitenings round in proportion to the condition number of cov: over 200 seeds
    # of each d the difference stayed below 1.1e-15 x cond (4.3e-9 at d = 9, cond 3.5e7;
    # abs=1e-10 failed on 7 of 200 there, and at d = 1 on 1 of 21 fresh seeds before the
    # reference centred X). log(n) for log(n - 1) moves it by 0.013.
    tol = 1e-10 + 1e-14 * np.linalg.cond(cov)
    assert est.entropy_ == pytest.approx(expected, abs=tol)
    assert np.array_equal(est.weights_, w)


def test_whitened_entropy_shifts_by_log_det_and_mi_is_invariant_under_linear_maps():
    x, y = _gaussian_pair(1500, 0)
    M = np.random.default_rng(1).standard_normal((4, 4))
    est = KozachenkoLeonenkoEntropy(5, weighted=True, whiten=True, jitter=0)
    h0, h1 = est.fit(x).entropy_, est.fit(x @ M + 3.0).entropy_
    assert h1 - h0 == pytest.approx(np.linalg.slogdet(M)[1], abs=1e-9)
    # through CompressedMutualInformation (4-D sides are not compressed): exact up to
    # rounding, where KSG on the same mixed codes moves: by 0.044 to 1 nats (median 0.38)
    # over 60 draws of the data and M (the bound 0.1 failed on 4 of them)
    cmi = CompressedMutualInformation("pca", n_components=4, mi_estimator="weighted_kl")
    plain, mixed = cmi.fit(x, y).mi_, cmi.fit(x @ M + 3.0, y).mi_
    assert mixed == pytest.approx(plain, abs=1e-6)
    ksg = CompressedMutualInformation("pca", n_components=4)
    assert abs(ksg.fit(x @ M + 3.0, y).mi_ - ksg.fit(x, y).mi_) > 0.01


def test_gaussian_4_plus_4_mi_is_recovered_where_ksg_underestimates():
    """I = 2.5 nats in 4 + 4 dimensions, n = 5000. Over 40 seeds the weighted KL error was
    -0.07 +- 0.18 (-0.51 to +0.33; +0.44 on a fresh seed of the audit), KSG's -0.40 +-
    0.024 (never above -0.34). One draw within 0.35 (from 12 seeds) failed on 4 of 40,
    so the mean of three draws is held: sd 0.10 -> |bias| + 4 sd = 0.5. (A sign error in
    the log det of the whitening moves it by nats; the first neighbour alone, unweighted,
    gives 2.50 here too: in 8-D the weights change little at n = 5000.)"""
    wkl, ksg = [], []
    for seed in (0, 1, 2):
        x, y = _gaussian_pair(5000, seed)
        est = CompressedMutualInformation("pca", n_components=4, mi_estimator="weighted_kl")
        wkl.append(est.fit(x, y).mi_)
        ksg.append(CompressedMutualInformation("pca", n_components=4).fit(x, y).mi_)
    assert np.mean(wkl) == pytest.approx(2.5, abs=0.5)
    assert max(ksg) < 2.5 - 0.3  # the bias that motivates the option


def test_labels_of_well_separated_classes_give_the_label_entropy():
    """Three Gaussian classes 30 * sqrt(2) standard deviations apart in 3-D (centres 30 e_i):
    I(X;Y) = H(Y). Over 60 seeds one draw's error had bias -0.012 and sd 0.027, so the
    mean of four draws is held to |bias| + 4 sd / 2 = 0.07. (The centres were random
    before, 30 N(0, I): the error then depends on their shape, sd 0.059 and up to +0.25
    for nearly collinear centres, and 0.06, from 8 seeds, failed on 1 of 25 fresh seeds.
    In 6-D the same mixture gave +0.9 to +2.4 nats, in the reference's code too:
    whitening by the mixture's covariance squeezes each class into a thin slab.)"""
    p = np.array([0.5, 0.3, 0.2])
    est = CompressedMutualInformation(
        "pca", n_components=3, discrete_y=True, mi_estimator="weighted_kl"
    )
    mi = []
    for seed in range(4):
        rng = np.random.default_rng(seed)
        labels = rng.choice(3, 3000, p=p)
        X = rng.standard_normal((3000, 3)) + 30 * np.eye(3)[labels]
        mi.append(est.fit(X, labels).mi_)
    assert np.mean(mi) == pytest.approx(-(p * np.log(p)).sum(), abs=0.07)


def test_compressed_plane_uses_the_weighted_kl_estimator():
    """No compression (the layer has 2 units) and no added noise: the plane's I(T;Y) must
    be the weighted KL estimate of the layer's output itself (up to the jitter). (A tanh
    layer: an affine one would make the pair (X, T) linearly dependent.)"""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Tanh())
    plane = CompressedInformationPlane(
        net, ["1"], X, y, noise_std=0.0, compressor="pca", mi_estimator="weighted_kl"
    )
    plane.record()
    assert plane.estimator == "compressed_weighted_kl"
    T = plane.activations()["1"].astype(np.float64)
    expected = weighted_kl_mutual_information(T, y, discrete_y=True) / np.log(2)
    assert expected > 0.1
    assert plane.i_ty["1"][0] == pytest.approx(expected, abs=1e-5)
    ksg_plane = CompressedInformationPlane(net, ["1"], X, y, noise_std=0.0, compressor="pca")
    ksg_plane.record()
    assert ksg_plane.i_ty["1"][0] != pytest.approx(plane.i_ty["1"][0], abs=1e-3)


def test_bad_input_is_refused_with_a_clear_error():
    x, y = _gaussian_pair(200, 0)
    with pytest.raises(ValueError, match=r"mi_estimator must be one of .*got 'kl'"):
        CompressedMutualInformation("pca", mi_estimator="kl").fit(x, y)
    with pytest.raises(ValueError, match=r"mi_estimator: expected one of .*got 'kl'"):
        CompressedInformationPlane(
            torch.nn.Sequential(torch.nn.Linear(4, 2)),
            ["0"],
            x.astype(np.float32),
            np.arange(200) % 2,
            mi_estimator="kl",
        )
    # a class with fewer than k + 1 rows: the reference failed deep inside BallTree
    labels = np.r_[np.zeros(197, int), np.ones(3, int)]
    with pytest.raises(ValueError, match=r"Y: class\(es\) \[1\] have fewer than k \+ 1 = 6"):
        weighted_kl_mutual_information(x, labels, discrete_y=True)
    # linearly dependent columns: whitening is undefined (the reference inverted a
    # singular matrix square root)
    dependent = np.c_[x[:, :2], x[:, 0] + x[:, 1]]
    with pytest.raises(ValueError, match="whiten=True needs linearly independent columns"):
        weighted_kl_mutual_information(dependent, y)
    with pytest.raises(ValueError, match="X within the class Y = 0: X: whiten=True"):
        weighted_kl_mutual_information(dependent, np.arange(200) % 2, discrete_y=True)
    with pytest.raises(TypeError, match="weighted"):
        KozachenkoLeonenkoEntropy(weighted="yes").fit(x)
    with pytest.raises(ValueError, match="k must be"):
        weighted_kl_weights(0, 3)


def test_weights_of_many_neighbours_take_little_memory():
    # Before: each zero-weight condition was a row of its own np.eye(k), whose k x k
    # matrix that row kept alive: k = 300 held 216 MB, k = 1000 needed 8 GB and the
    # process was killed (KozachenkoLeonenkoEntropy(k, weighted=True) on 5+ columns too)
    import tracemalloc

    tracemalloc.start()
    try:
        w = weighted_kl_weights(300, 5)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert abs(w.sum() - 1) < 1e-9
    assert peak < 20e6


def test_mutual_information_errors_and_warnings_name_the_side_at_fault():
    # Before: every entropy was fitted as "X", so a constant Y, repeated rows of Y or
    # dependent columns of the pairs were all reported as X's
    x, y = _gaussian_pair(200, 0, d=2)
    with pytest.raises(ValueError, match=r"^Y has constant column\(s\) \[1\]"):
        weighted_kl_mutual_information(x, np.c_[y[:, 0], np.ones(200)])
    with pytest.warns(UserWarning, match=r"^Y repeats rows \(100 of 200"):
        weighted_kl_mutual_information(x, np.repeat(y[:100], 2, axis=0))
    with pytest.raises(ValueError, match=r"^\(X, Y\): whiten=True needs linearly independent"):
        weighted_kl_mutual_information(x, x @ np.array([[1.0, 2.0], [3.0, 1.0]]))


def test_kl_entropy_warns_on_a_heavy_tailed_column():
    # H(sinh(100 A)) = H(A) + E log(100 cosh(100 A)) = 85.5 nats (Monte Carlo of the
    # closed form); the estimate was 340.9, silently (the jitter, 1e-10 x a standard
    # deviation of 1e157, swamps the bulk of the values)
    a = np.random.default_rng(6).standard_normal(2000)
    with pytest.warns(HeavyTailWarning, match="spread is dominated by outliers"):
        entropy(np.sinh(100 * a))
    with warnings.catch_warnings():
        warnings.simplefilter("error", HeavyTailWarning)
        entropy(a)


@pytest.mark.parametrize("transform", [lambda a: np.c_[a, a], lambda a: np.c_[a, 2 * a + 1]])
def test_kl_entropy_warns_on_linearly_dependent_columns(transform):
    # H = -inf on a line; before: -1.07 nats at n=200, -3.41 at n=2000, silently
    a = np.random.default_rng(2).standard_normal(500)
    with pytest.warns(CollinearColumnsWarning, match="^X: the columns are linearly dependent"):
        entropy(transform(a))
    with pytest.raises(ValueError, match="whiten=True needs linearly independent columns"):
        entropy(transform(a), whiten=True)


def test_kl_entropy_spares_correlated_but_independent_columns():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 500))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollinearColumnsWarning)
        entropy(np.c_[a, a + 1e-4 * b])  # correlation 1 - 5e-9: still two dimensions
        entropy(rng.standard_normal((5, 8)))  # n <= d: not checked
