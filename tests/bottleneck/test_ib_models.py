"""Information-bottleneck estimators: sklearn conformance, objectives, reproducibility, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from bottlekit.bottleneck import (
    CSIBRegressor,
    MLPClassifierBaseline,
    MLPRegressorBaseline,
    VIBClassifier,
    VIBRegressor,
)
from bottlekit.bottleneck.vib import gaussian_kl_to_standard_normal

SMALL = {"max_epochs": 60, "bottleneck_dim": 8, "hidden_sizes": (32,), "random_state": 0}
# the conformance checks fit hundreds of models: a tiny budget keeps them to seconds
CHECK = {**SMALL, "max_epochs": 4, "patience": 4, "hidden_sizes": (16,), "bottleneck_dim": 4}

# Checks these estimators cannot pass with the CHECK budget, and why. Both are accuracy
# checks: a net fitted for 4 epochs by minibatch Adam does not reach R^2 > 0.5 / accuracy
# > 0.83 on sklearn's 20-150 row toy problems. With a real budget the estimators do (see
# test_regressors_learn_a_smooth_function and test_vib_classifier_reaches_high_accuracy).
EXPECTED_FAILURES = {
    "check_regressors_train": "4-epoch budget of the conformance run; accuracy tested below",
    "check_classifiers_train": "4-epoch budget of the conformance run; accuracy tested below",
}


@parametrize_with_checks(
    [
        CSIBRegressor(**CHECK),
        VIBRegressor(**CHECK),
        VIBClassifier(**CHECK),
        MLPRegressorBaseline(**CHECK),
        MLPClassifierBaseline(**CHECK),
    ],
    expected_failed_checks=lambda est: EXPECTED_FAILURES,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_kl_to_standard_normal_matches_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    mean = torch.randn(7, 3, generator=gen, dtype=torch.float64)
    logvar = torch.randn(7, 3, generator=gen, dtype=torch.float64)
    q = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    expected = torch.distributions.kl_divergence(q, p).sum(1).mean()
    torch.testing.assert_close(gaussian_kl_to_standard_normal(mean, logvar), expected)
    assert float(gaussian_kl_to_standard_normal(torch.zeros(4, 2), torch.zeros(4, 2))) == 0.0


def _sine_task(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, size=(n, 2))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.standard_normal(n)
    return X, y


@pytest.mark.parametrize(
    ("model", "learning_rate", "threshold"),
    [(MLPRegressorBaseline, 5e-3, 0.24), (VIBRegressor, 5e-3, 0.17), (CSIBRegressor, 1e-3, 0.55)],
)
def test_regressors_learn_a_smooth_function(model, learning_rate, threshold):
    """y = sin(x0) + x1/2 + 0.1 e with x ~ U(-3, 3)^2: predicting the mean gives RMSE ≈ 0.9
    and the best linear fit ≈ 0.42 (closed form). The MSE and VIB nets learn the sine, given
    steps large enough before the learning rate decays (x0.6 every 10 epochs): at the
    default 1e-3 they averaged 0.335 (sd 0.030) and 0.308 (sd 0.045) over 30 seeds of data
    and model, and the former bound 0.35 failed 11 and 6 of 30; at 5e-3 they average 0.136
    (sd 0.026) and 0.120 (sd 0.012) over 16 seeds, and the bounds are mean + 4 sd, well
    below the linear fit's 0.42. CS-IB's prediction term compares conditional densities
    smoothed by kernels of width 1 on the standardised x and y, which blurs the sine's
    curvature: measured 0.42-0.46 over kernel widths 0.5-1 and decay settings, no better
    than linear; over 30 seeds 0.446, sd 0.024 (max 0.520; 0.5 failed 1 of 30). Its bound,
    mean + 4 sd, still fails a model that learnt little beyond the mean (0.9)."""
    X, y = _sine_task(500, 0)
    Xt, yt = _sine_task(400, 1)
    reg = model(hidden_sizes=(32, 32), bottleneck_dim=8, max_epochs=80,
                learning_rate=learning_rate, random_state=0)  # fmt: skip
    reg.fit(X, y)
    rmse = float(np.sqrt(np.mean((reg.predict(Xt) - yt) ** 2)))
    assert rmse < threshold, rmse
    assert reg.transform(Xt).shape == (400, 8)
    assert len(reg.history_["val_error"]) == reg.n_iter_


def test_vib_classifier_reaches_high_accuracy_on_digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0)
    clf = VIBClassifier(max_epochs=60, random_state=0).fit(Xtr, ytr)
    # an MLP reaches ~97% here; 0.93 allows for the KL term and early stopping
    assert clf.score(Xte, yte) > 0.93
    proba = clf.predict_proba(Xte)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], clf.predict(Xte))


def test_larger_beta_compresses_more():
    """The compression term I_CS(x;t) at the end of training falls as beta grows."""
    X, y = _sine_task(400, 0)
    final = []
    for beta in (0.0, 1.0):
        reg = CSIBRegressor(
            beta=beta,
            max_epochs=40,
            patience=100,
            random_state=0,
            **{"hidden_sizes": (32,), "bottleneck_dim": 8},
        )
        final.append(reg.fit(X, y).history_["train_i_xt"][-1])
    assert final[1] < final[0]


@pytest.mark.parametrize("model", [CSIBRegressor, VIBClassifier])
def test_same_seed_same_model_other_seed_other_model(model):
    X, y = _sine_task(200, 0)
    if model is VIBClassifier:
        y = (y > 0).astype(int)
    a = model(**{**SMALL, "max_epochs": 5}).fit(X, y)
    b = model(**{**SMALL, "max_epochs": 5}).fit(X, y)
    c = model(**{**SMALL, "max_epochs": 5, "random_state": 1}).fit(X, y)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert np.abs(a.transform(X) - c.transform(X)).max() > 1e-4
    assert clone(a).get_params() == a.get_params()


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"beta": -1.0}, "beta"),
        ({"sigma": 0.0}, "sigma"),
        ({"sigma": "wide"}, "sigma"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"hidden_sizes": (0,)}, "hidden_sizes"),
        ({"device": "cuda:7"} if not torch.cuda.is_available() else {"beta": -2}, "device|beta"),
    ],
)
def test_bad_parameters_are_named(params, match):
    X, y = _sine_task(50, 0)
    with pytest.raises(ValueError, match=match):
        CSIBRegressor(**params).fit(X, y)


def test_bad_inputs():
    X, y = _sine_task(50, 0)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        CSIBRegressor(max_epochs=1).fit(Xn, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        CSIBRegressor(max_epochs=1).fit(X, y[:-1])
    reg = CSIBRegressor(max_epochs=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="2 features"):
        reg.predict(X[:, :1])


@pytest.mark.parametrize("cls", [VIBClassifier, MLPClassifierBaseline])
def test_a_single_class_is_refused(cls):
    # Before: VIBClassifier fitted one class silently (the CBMs refuse it).
    X = np.random.default_rng(0).standard_normal((30, 3))
    with pytest.raises(ValueError, match=r"single class \(7\).*at least 2 classes"):
        cls(max_epochs=1).fit(X, np.full(30, 7))


@pytest.mark.parametrize("cls", [VIBRegressor, CSIBRegressor])
@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_inputs_near_float_limits_train_like_unit_scale_inputs(cls, scale):
    # Before: X of 1e300 overflowed in the standardisation and training "diverged, lower
    # learning_rate". Standardisation is exact under power-of-two rescaling, so the model
    # trained on scaled inputs (and targets) is the same model.
    X, y = _sine_task(80, 0)
    params = {"max_epochs": 3, "random_state": 0, "hidden_sizes": (8,), "bottleneck_dim": 2}
    reference = cls(**params).fit(X, y)
    scaled = cls(**params).fit(X * scale, y * scale)
    np.testing.assert_allclose(scaled.predict(X * scale) / scale, reference.predict(X), rtol=1e-5)
    clf = VIBClassifier(**params).fit(X * scale, (y > 0).astype(int))
    assert np.isfinite(clf.predict_proba(X * scale)).all()


@pytest.mark.parametrize("cls", [CSIBRegressor, VIBClassifier])
def test_fit_leaves_the_global_torch_generators_alone(cls, monkeypatch):
    # the network's seeded initialisation called torch.manual_seed, which reseeds CUDA's
    # generators too (fork_rng(devices=[]) puts back the CPU's only)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = X[:, 0] if cls is CSIBRegressor else (X[:, 0] > 0).astype(int)
    params = {**CHECK, "max_epochs": 2, "device": "cpu"}
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    cuda_seeds = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", cuda_seeds.append)
    out = cls(**params).fit(X, y).transform(X)
    assert torch.equal(torch.rand(3), expected)
    assert cuda_seeds == []
    torch.random.default_generator.manual_seed(7)  # the fit does not depend on it
    np.testing.assert_array_equal(cls(**params).fit(X, y).transform(X), out)
