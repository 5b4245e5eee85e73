"""Conditional mutual information against closed forms and known structures."""

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm

from bottlekit.estimators import (
    CMI_METHODS,
    KSGConditionalMutualInformation,
    conditional_mutual_information,
    mutual_information,
)

N = 5000
TOL = 0.05  # nats, at n = 5,000 (issue 18); observed errors are below 0.016


def gaussian_cmi(C: np.ndarray, dx: int, dy: int) -> float:
    """0.5 (log|C_XZ| + log|C_YZ| - log|C_Z| - log|C_XYZ|)."""
    d = C.shape[0]
    ix, iy, iz = list(range(dx)), list(range(dx, dx + dy)), list(range(dx + dy, d))

    def logdet(idx):
        return np.linalg.slogdet(C[np.ix_(idx, idx)])[1]

    return 0.5 * (logdet(ix + iz) + logdet(iy + iz) - logdet(iz) - logdet(list(range(d))))


def _correlation(d: int, seed: int) -> np.ndarray:
    A = np.random.default_rng(seed).normal(size=(d, d))
    C = A @ A.T + 0.5 * np.eye(d)
    s = np.sqrt(np.diag(C))
    return C / np.outer(s, s)


@pytest.mark.parametrize(
    ("dx", "dy", "dz", "seed"), [(1, 1, 1, 11), (2, 2, 1, 10), (1, 1, 3, 11), (2, 1, 2, 10)]
)
@pytest.mark.parametrize("method", ["ksg", "gaussian"])
def test_gaussian_closed_forms(dx, dy, dz, seed, method):
    C = _correlation(dx + dy + dz, seed)
    truth = gaussian_cmi(C, dx, dy)
    sample = np.random.default_rng(0).multivariate_normal(np.zeros(len(C)), C, N)
    x, y, z = sample[:, :dx], sample[:, dx : dx + dy], sample[:, dx + dy :]
    kwargs = {"random_state": 0} if method == "ksg" else {}
    assert conditional_mutual_information(x, y, z, method, **kwargs) == pytest.approx(
        truth, abs=TOL
    )


# True values 0.65-0.98 nats: the cases above are 0.05-0.24, where an estimate of 0 passes
# the first within TOL. KSG's known downward bias grows with the value: over 12 fresh
# samples (seeds 100-111) of each case, mean - truth = +0.006, -0.035, -0.042 and -0.016
# nats, sd 0.014-0.017 -> |bias| + 4 sd = 0.10.
LARGE_TOL = 0.10


@pytest.mark.parametrize(
    ("dx", "dy", "dz", "seed"), [(1, 1, 1, 26), (2, 2, 1, 27), (2, 1, 2, 23), (2, 2, 1, 37)]
)
@pytest.mark.parametrize("method", ["ksg", "gaussian"])
def test_gaussian_closed_forms_of_larger_values(dx, dy, dz, seed, method):
    C = _correlation(dx + dy + dz, seed)
    truth = gaussian_cmi(C, dx, dy)
    assert 0.6 < truth < 1.0
    sample = np.random.default_rng(1).multivariate_normal(np.zeros(len(C)), C, N)
    x, y, z = sample[:, :dx], sample[:, dx : dx + dy], sample[:, dx + dy :]
    kwargs = {"random_state": 0} if method == "ksg" else {}
    estimate = conditional_mutual_information(x, y, z, method, **kwargs)
    assert estimate == pytest.approx(truth, abs=LARGE_TOL if method == "ksg" else TOL)


def test_chain_has_no_conditional_information():
    # X -> Z -> Y: X and Y are dependent, but independent given Z.
    rng = np.random.default_rng(1)
    x = rng.standard_normal(N)
    z = x + 0.5 * rng.standard_normal(N)
    y = z + 0.5 * rng.standard_normal(N)
    assert mutual_information(x, y) > 0.3
    for method in ("ksg", "gaussian"):
        assert conditional_mutual_information(x, y, z, method) == pytest.approx(0.0, abs=TOL)


def test_collider_creates_conditional_information():
    # X -> Z <- Y: X and Y are independent, but dependent given Z; closed form 0.511.
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((2, N))
    z = x + y + 0.5 * rng.standard_normal(N)
    C = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 2.25]])
    truth = gaussian_cmi(C, 1, 1)
    assert truth == pytest.approx(0.5 * np.log(1.5625 / 0.5625))
    # KSG under independence at n=5000: mean -0.002, sd 0.010 over 60 seeds; abs=0.02
    # (2 sd) failed on 4 of them -> |bias| + 4 sd
    assert mutual_information(x, y) == pytest.approx(0.0, abs=0.045)
    for method in ("ksg", "gaussian"):
        assert conditional_mutual_information(x, y, z, method) == pytest.approx(truth, abs=TOL)


def test_discrete_xor():
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 2, (2, N))
    z = x ^ y
    assert conditional_mutual_information(x, y, z, "plugin") == pytest.approx(np.log(2), abs=0.01)
    # without the conditioning bit X and Y are independent
    assert conditional_mutual_information(x, y, np.zeros(N, int), "plugin") == pytest.approx(
        0.0, abs=0.01
    )
    mm = conditional_mutual_information(x, y, z, "plugin", miller_madow=True)
    assert mm > conditional_mutual_information(x, y, z, "plugin")


def test_discrete_z_averages_the_strata():
    # Given Z = z, (X, Y) is bivariate normal with correlation rho_z: CMI = sum p(z) MI_z.
    rng = np.random.default_rng(4)
    z = rng.integers(0, 3, N)
    rhos = np.array([0.0, 0.6, 0.9])
    x = rng.standard_normal(N)
    y = rhos[z] * x + np.sqrt(1 - rhos[z] ** 2) * rng.standard_normal(N)
    truth = np.mean(-0.5 * np.log(1 - rhos[z] ** 2))
    est = KSGConditionalMutualInformation(discrete_z=True, random_state=0).fit(x, y, z)
    assert est.cmi_ == pytest.approx(truth, abs=TOL)
    assert est.n_dropped_ == 0


def _mixture_mi(shift: float) -> float:
    """I(W; Y) for Y ~ Bernoulli(1/2), W = shift * Y + N(0, 1), by quadrature."""
    p = lambda w: 0.5 * norm.pdf(w) + 0.5 * norm.pdf(w - shift)  # noqa: E731
    h_w = quad(lambda w: -p(w) * np.log(p(w)), -12, 12 + shift, limit=200)[0]
    return h_w - 0.5 * np.log(2 * np.pi * np.e)


def test_discrete_y_by_the_chain_rule():
    # X = Z + 4 Y + noise: given Z, X carries about Y exactly what 4 Y + noise does.
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, N)
    z = rng.standard_normal(N)
    x = z + 4.0 * y + rng.standard_normal(N)
    truth = _mixture_mi(4.0)
    assert truth == pytest.approx(0.6327, abs=1e-3)
    est = conditional_mutual_information(x, y, z, discrete_y=True, random_state=0)
    assert est == pytest.approx(truth, abs=TOL)
    # both discrete: strata of Z, Ross's estimator inside
    zd = rng.integers(0, 2, N)
    x2 = zd + 4.0 * y + rng.standard_normal(N)
    both = conditional_mutual_information(
        x2, y, zd, discrete_y=True, discrete_z=True, random_state=0
    )
    assert both == pytest.approx(truth, abs=TOL)


def test_copula_with_labels_is_rank_invariant():
    # copula=True makes the estimate depend on X and Z only through their ranks, with
    # labels too. Before, the discrete_y paths ignored copula (Ross's estimator has none):
    # a monotone map of X and Z changed the estimate.
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, N)
    z = rng.standard_normal(N)
    x = z + 4.0 * y + rng.standard_normal(N)
    zd = rng.integers(0, 2, N)
    for z_, opts in ((z, {}), (zd, {"discrete_z": True})):
        squashed = np.exp(x / 2)
        z_map = z_ if opts else np.arctan(z_)  # labels are not mapped
        kw = {"discrete_y": True, "copula": True, "random_state": 0, **opts}
        plain = conditional_mutual_information(x, y, z_, **kw)
        mapped = conditional_mutual_information(squashed, y, z_map, **kw)
        assert mapped == pytest.approx(plain, abs=1e-12)
        raw = conditional_mutual_information(squashed, y, z_map, **{**kw, "copula": False})
        # without the copula the map does change it: by 3e-5 to 0.02 over 40 seeds (median
        # 1e-3 to 3e-3; the bound 1e-3 failed on 5 of 10 fresh seeds), far beyond 1e-12
        assert abs(raw - plain) > 1e-9


def test_base_and_methods():
    rng = np.random.default_rng(6)
    x, y, z = rng.standard_normal((3, 500))
    nats = conditional_mutual_information(x, x + y, z, "gaussian")
    assert conditional_mutual_information(x, x + y, z, "gaussian", base=2) == pytest.approx(
        nats / np.log(2)
    )
    assert CMI_METHODS == ("ksg", "gaussian", "plugin")


def test_ksg_cmi_is_the_frenzel_pompe_formula_with_strict_counts_at_any_scale():
    # psi(k) - <psi(n_xz + 1) + psi(n_yz + 1) - psi(n_z + 1)>, max-norm, counts of other
    # points strictly within the joint k-th-neighbour distance, brute force. npeet makes
    # the count strict by subtracting 1e-15 from the radius, which is no longer strict at
    # distances above ~10 (data x 1000: 0.026 instead of 0.110 nats); here it must be.
    from scipy.spatial.distance import cdist
    from scipy.special import digamma

    rng = np.random.default_rng(7)
    z = rng.standard_normal((60, 1))
    x = z + 0.6 * rng.standard_normal((60, 1))
    y = 0.5 * z + 0.5 * x + 0.7 * rng.standard_normal((60, 1))
    k = 3

    def cheb(*blocks):
        A = np.hstack(blocks)
        D = cdist(A, A, "chebyshev")
        np.fill_diagonal(D, np.inf)
        return D

    eps = np.sort(cheb(x, y, z), axis=1)[:, k - 1]
    n_xz, n_yz, n_z = ((cheb(*b) < eps[:, None]).sum(1) for b in ((x, z), (y, z), (z,)))
    expected = digamma(k) - np.mean(digamma(n_xz + 1) + digamma(n_yz + 1) - digamma(n_z + 1))
    for scale in (1.0, 1000.0, 1e-6):
        est = KSGConditionalMutualInformation(k=k, standardize=False, jitter=0.0)
        assert est.fit(x * scale, y * scale, z * scale).cmi_ == pytest.approx(expected, abs=1e-12)


def test_bad_input_is_named():
    rng = np.random.default_rng(7)
    x, y, z = rng.standard_normal((3, 100))
    with pytest.raises(ValueError, match=r"same number of samples.*'Z': 99"):
        conditional_mutual_information(x, y, z[:99])
    with pytest.raises(ValueError, match=r"Z must have at least 4 samples \(rows\), got 0"):
        conditional_mutual_information(x, y, np.empty((0, 1)))
    with pytest.raises(TypeError, match=r"Y must hold discrete labels .* got float64"):
        conditional_mutual_information(x, y, z, discrete_y=True)
    with pytest.raises(TypeError, match=r"X must hold discrete labels"):
        conditional_mutual_information(x, y.astype(int), z.astype(int), "plugin")
    with pytest.raises(ValueError, match=r"method must be one of"):
        conditional_mutual_information(x, y, z, "magic")
    with pytest.raises(ValueError, match=r"constant column"):
        conditional_mutual_information(x, y, np.ones(100))
    with pytest.raises(ValueError, match=r"no stratum is large enough"):
        conditional_mutual_information(x, y, np.arange(100), discrete_z=True)
