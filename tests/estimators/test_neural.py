"""Neural variational MI bounds: small, fast checks against the Gaussian closed form."""

import re

import numpy as np
import pytest
import torch

from bottlekit.estimators import NeuralMutualInformation, mutual_information
from bottlekit.estimators.ground_truth import correlated_gaussian, gaussian_mi
from bottlekit.estimators.neural import bound_value


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.mark.parametrize("bound", ["infonce", "nwj", "mine", "smile"])
def test_bounds_on_1d_gaussian(bound):
    # rho=0.8 (I=0.511), n=2000, 300 steps, separable critic, held out 30% of rows: over
    # 40 seeds (data and estimator) the error had bias -0.002 and sd 0.034 (-0.072 to
    # +0.075), the four bounds within 0.01 of each other: the noise of a mean over 600
    # held-out rows. |bias| + 4 sd -> tol 0.14 on either side (0.1, from 3 seeds, is 3
    # sd: all four gave -0.118 on 1 of 25 fresh seeds). NWJ without its e^-1 gives I - 1.
    x, y = correlated_gaussian(2000, 0.8, 1, random_state=0)
    est = mutual_information(x, y, method=bound, max_steps=300, random_state=0)
    assert est == pytest.approx(gaussian_mi(0.8), abs=0.14)


def test_concat_critic():
    x, y = correlated_gaussian(2000, 0.6, 1, random_state=1)
    est = NeuralMutualInformation(
        "infonce", critic="concat", batch_size=64, max_steps=200, random_state=1
    ).fit(x, y)
    # I=0.223; with batch 64 InfoNCE is still far from its log(64)=4.2 ceiling; tol 0.1
    assert est.mi_ == pytest.approx(gaussian_mi(0.6), abs=0.1)


def test_infonce_is_bounded_by_log_batch():
    # rho=0.995: I = 2.30 nats > log(8) = 2.08. InfoNCE with batch 8 can never exceed
    # log 8 (each row's log-softmax is <= 0), whatever the data or the critic; the
    # Gaussian estimator on the same data sees the full 2.3.
    x, y = correlated_gaussian(2000, 0.995, 1, random_state=2)
    est = NeuralMutualInformation("infonce", batch_size=8, max_steps=200, random_state=2)
    est.fit(x, y)
    assert 0.5 < est.mi_ <= np.log(8) + 1e-6
    assert mutual_information(x, y, method="gaussian") > np.log(8) + 0.15
    S = torch.randn(8, 8) * 50
    assert float(bound_value(S, "infonce")) <= np.log(8) + 1e-6


def test_reproducible_and_early_stopping_records_history():
    x, y = correlated_gaussian(600, 0.5, 1, random_state=3)
    kw = {"max_steps": 120, "eval_every": 20, "patience": 2, "random_state": 5}
    a = NeuralMutualInformation("nwj", **kw).fit(x, y)
    b = NeuralMutualInformation("nwj", **kw).fit(x, y)
    assert a.mi_ == b.mi_
    steps = [s for s, _ in a.history_]
    assert steps == list(range(20, a.n_steps_ + 1, 20))
    assert a.mi_ == max(v for _, v in a.history_)


def test_bad_parameters():
    x, y = correlated_gaussian(100, 0.5, 1, random_state=4)
    with pytest.raises(ValueError, match="bound must be one of"):
        NeuralMutualInformation("dv").fit(x, y)
    with pytest.raises(ValueError, match="critic must be 'separable' or 'concat'"):
        NeuralMutualInformation(critic="bilinear").fit(x, y)
    with pytest.raises(ValueError, match=r"validation_fraction must be in \(0, 1\)"):
        NeuralMutualInformation(validation_fraction=1.5).fit(x, y)


def test_copula_inputs_make_nwj_robust_to_heavy_tails():
    # Student-t nu=3 (I=0.186): with raw inputs an outlying held-out point can make
    # e^f explode (NWJ gave -1.1 on one of two seeds); on normal scores of ranks the
    # error over 10 seeds (data and estimator, n=2000, 400 steps) had bias -0.013 and sd
    # 0.018 (-0.039 to +0.020) -> tol 0.09 (|bias| + 4 sd = 0.085).
    from bottlekit.estimators.ground_truth import student_t, student_t_mi

    x, y = student_t(2000, 0.5, 1, 3.0, random_state=1)
    est = mutual_information(x, y, method="nwj", copula=True, max_steps=400, random_state=1)
    assert est == pytest.approx(student_t_mi(0.5, 1, 3.0), abs=0.09)


def test_bound_formulas_on_a_hand_computed_matrix():
    # Pins each bound to its published formula (Poole et al. 2019; Song & Ermon 2020) on a
    # 3x3 score matrix S[i, j] = f(x_i, y_j): the joint term is the mean of the diagonal;
    # the product of marginals is the n(n-1) = 6 off-diagonal entries (not all n^2);
    # InfoNCE's softmax runs along each row, over all 3 entries, plus log 3; NWJ carries
    # e^{-1}; SMILE clips only the scores inside the partition function (not the diagonal).
    S = np.array([[2.0, -1.0, 0.5], [0.3, 1.5, -7.0], [6.5, -0.2, 3.0]])
    diag = (2.0 + 1.5 + 3.0) / 3
    off = [-1.0, 0.5, 0.3, -7.0, 6.5, -0.2]
    rows = [np.log(np.exp(r).sum()) for r in S]
    expected = {
        "infonce": diag - np.mean(rows) + np.log(3),
        "nwj": diag - np.exp(-1.0) * np.mean(np.exp(off)),
        "mine": diag - np.log(np.mean(np.exp(off))),
        "smile": diag - np.log(np.mean(np.exp(np.clip(off, -5.0, 5.0)))),
    }
    St = torch.tensor(S, dtype=torch.float64)
    for bound, value in expected.items():
        assert float(bound_value(St, bound, clip=5.0)) == pytest.approx(value, rel=1e-12)
    tau1 = diag - np.log(np.mean(np.exp(np.clip(off, -1.0, 1.0))))
    assert float(bound_value(St, "smile", clip=1.0)) == pytest.approx(tau1, rel=1e-12)


def test_bounds_at_the_optimal_gaussian_critic():
    # Closed form: for rho=0.8 (I=0.511) the log density ratio log p(x,y)/(p(x)p(y)) makes
    # DV (MINE), SMILE (tau=5) and InfoNCE (batch 2000 >> e^I) tight, NWJ is tight at the
    # shifted critic 1 + log r and gives I - 1/e at log r itself. B = 2000: the diagonal
    # mean's std is rho / sqrt(B) = 0.018, so tol 0.06.
    rho, B = 0.8, 2000
    x, y = correlated_gaussian(B, rho, 1, random_state=7)
    x, y = torch.tensor(x[:, 0], dtype=torch.float64), torch.tensor(y[:, 0], dtype=torch.float64)
    X, Y = x[:, None], y[None, :]
    log_r = -0.5 * np.log(1 - rho**2) - (rho**2 * X**2 - 2 * rho * X * Y + rho**2 * Y**2) / (
        2 * (1 - rho**2)
    )
    mi = gaussian_mi(rho)
    for bound in ("mine", "smile", "infonce"):
        assert float(bound_value(log_r, bound)) == pytest.approx(mi, abs=0.06), bound
    assert float(bound_value(1 + log_r, "nwj")) == pytest.approx(mi, abs=0.06)
    assert float(bound_value(log_r, "nwj")) == pytest.approx(mi - np.exp(-1), abs=0.06)


def test_fit_leaves_the_global_torch_generators_alone(monkeypatch):
    # the critic's seeded initialisation called torch.manual_seed, which reseeds CUDA's
    # generators too (fork_rng(devices=[]) puts back the CPU's only)
    x, y = correlated_gaussian(200, 0.5, random_state=0)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    cuda_seeds = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", cuda_seeds.append)
    est = NeuralMutualInformation(max_steps=2, eval_every=1, random_state=0).fit(x, y)
    assert torch.equal(torch.rand(3), expected)
    assert cuda_seeds == []
    torch.random.default_generator.manual_seed(7)  # the fit does not depend on it
    again = NeuralMutualInformation(max_steps=2, eval_every=1, random_state=0).fit(x, y)
    assert again.mi_ == est.mi_


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"critic": "concat", "embed_dim": 32},
            "embed_dim: 32 has no effect with critic='concat' (the separable critic's "
            "embedding size); leave it None or use critic='separable'",
        ),
        (
            {"bound": "infonce", "ma_rate": 0.01},
            "ma_rate: 0.01 has no effect with bound='infonce' (MINE's moving average); leave "
            "it None or use bound='mine'",
        ),
        (
            {"bound": "mine", "clip": 5.0},
            "clip: 5.0 has no effect with bound='mine' (SMILE's clipping); leave it None or "
            "use bound='smile'",
        ),
    ],
)
def test_settings_of_another_critic_or_bound_are_refused(params, message):
    # before: ignored, silently (their defaults 32, 0.01 and 5.0 could not be told from a
    # given value)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 1))
    est = NeuralMutualInformation(max_steps=2, random_state=0, **params)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        est.fit(x, x)
    assert not hasattr(est, "mi_")


@pytest.mark.parametrize(
    ("bound", "critic", "explicit"),
    [
        ("mine", "separable", {"ma_rate": 0.01, "embed_dim": 32}),
        ("smile", "separable", {"clip": 5.0, "embed_dim": 32}),
        ("nwj", "concat", {}),
    ],
)
def test_none_settings_are_the_documented_defaults(bound, critic, explicit):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 1))
    y = x + rng.standard_normal((300, 1))
    kw = {"bound": bound, "critic": critic, "max_steps": 20, "eval_every": 5, "random_state": 0}
    default = NeuralMutualInformation(**kw).fit(x, y)
    assert default.get_params()["ma_rate"] is None and default.get_params()["clip"] is None
    same = NeuralMutualInformation(**kw, **explicit).fit(x, y)
    assert default.mi_ == same.mi_ and default.history_ == same.history_
