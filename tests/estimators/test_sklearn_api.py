"""The MI and entropy estimator classes are scikit-learn estimators.

They are neither classifiers nor regressors (``fit(X, Y)`` stores an estimate, there is no
``predict``), so the parts of scikit-learn's checks that apply are those about parameters:
get_params/set_params/clone round trips, nothing set in ``__init__`` but the parameters,
defaults that construct, and validation delayed to ``fit``.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
    check_set_params,
)

import bottlekit.estimators as est

ESTIMATORS = [
    est.AutoencoderCompressor,
    est.BinnedEntropy,
    est.BinnedMutualInformation,
    est.CompressedMutualInformation,
    est.DiscreteContinuousMutualInformation,
    est.GaussianConditionalMutualInformation,
    est.GaussianEntropy,
    est.GaussianMutualInformation,
    est.KSGConditionalMutualInformation,
    est.KSGMutualInformation,
    est.KozachenkoLeonenkoEntropy,
    est.MixedKSGMutualInformation,
    est.NeuralMutualInformation,
    est.PluginConditionalMutualInformation,
    est.RenyiEntropy,
    est.RenyiMutualInformation,
]
SKLEARN_CHECKS = [
    check_no_attributes_set_in_init,
    check_get_params_invariance,
    check_set_params,
    check_parameters_default_constructible,
]
# A non-default value per parameter, of the type the parameter takes.
NON_DEFAULTS = {
    "k": (5, 3),  # whichever is not the default
    "compressor": ("pca", "autoencoder"),
    "n_components": 3,
    "compressor_options": {"epochs": 5},
    "epochs": 10,
    "lr": 0.01,
    "code_noise": 0.1,
    "pca_first": 32,
    "algorithm": 2,
    "tree": "ball",
    "standardize": False,
    "copula": True,
    "jitter": 1e-8,
    "n_jobs": 2,
    "random_state": 7,
    "metric": ("chebyshev", "euclidean"),  # whichever is not the default
    "bins": 12,
    "miller_madow": (True, False),  # whichever is not the default
    "discrete_y": True,
    "discrete_z": True,
    "shrinkage": 0.1,
    "bias_correction": False,
    "alpha": 2.0,
    "sigma": 0.5,
    "sigma_x": "median",
    "sigma_y": 0.3,
    "max_samples": 500,
    "bound": "nwj",
    "critic": "concat",
    "hidden": 16,
    "hidden_sizes": ((32,), (64,)),  # whichever is not the default
    "embed_dim": 8,
    "n_layers": 1,
    "batch_size": 64,
    "max_steps": 10,
    "learning_rate": 1e-3,
    "validation_fraction": 0.2,
    "eval_every": 5,
    "patience": 3,
    "ma_rate": 0.1,
    "clip": 2.0,
    "score_bound": None,
    "device": "cpu:0",
    "weighted": True,
    "whiten": True,
    "mi_estimator": "weighted_kl",
}
ids = [c.__name__ for c in ESTIMATORS]


def _params(cls) -> list[str]:
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]


def _non_default(cls, name):
    value = NON_DEFAULTS[name]
    if isinstance(value, tuple):
        default = inspect.signature(cls.__init__).parameters[name].default
        value = next(v for v in value if v != default)
    return value


def test_every_exported_estimator_class_is_covered():
    exported = {
        name
        for name in est.__all__
        if isinstance(getattr(est, name), type) and hasattr(getattr(est, name), "fit")
    }
    assert exported == set(ids)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=ids)
@pytest.mark.parametrize("check", SKLEARN_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_parameter_checks(cls, check):
    check(cls.__name__, cls())


@pytest.mark.parametrize("cls", ESTIMATORS, ids=ids)
def test_get_set_params_and_clone_round_trip(cls):
    assert issubclass(cls, BaseEstimator)
    names = _params(cls)
    defaults = {n: inspect.signature(cls.__init__).parameters[n].default for n in names}
    assert cls().get_params() == defaults
    new = {n: _non_default(cls, n) for n in names}
    assert all(new[n] != defaults[n] for n in names)  # every parameter really changes
    e = cls().set_params(**new)
    assert e.get_params() == new
    c = clone(e)
    assert c is not e and c.get_params() == new
    assert type(c) is cls


@pytest.mark.parametrize("cls", ESTIMATORS, ids=ids)
def test_repr_shows_the_changed_parameters_only(cls):
    first = _params(cls)[0]
    assert repr(cls()) == f"{cls.__name__}()"
    value = _non_default(cls, first)
    assert repr(cls(**{first: value})) == f"{cls.__name__}({first}={value!r})"


@pytest.mark.parametrize(
    ("cls", "bad"),
    [
        (est.KSGMutualInformation, {"k": 0}),
        (est.KSGMutualInformation, {"jitter": -1.0}),
        (est.KozachenkoLeonenkoEntropy, {"metric": "cosine"}),
        (est.DiscreteContinuousMutualInformation, {"k": 1.5}),
        (est.GaussianMutualInformation, {"shrinkage": 2.0}),
        (est.GaussianEntropy, {"shrinkage": "oas"}),
        (est.BinnedMutualInformation, {"bins": 0}),
        (est.BinnedEntropy, {"bins": "fd"}),
        (est.RenyiEntropy, {"alpha": -1.0}),
        (est.RenyiMutualInformation, {"sigma_x": "wide"}),
        (est.NeuralMutualInformation, {"validation_fraction": 1.5}),
    ],
)
def test_parameters_are_stored_unchanged_and_validated_at_fit(cls, bad):
    e = cls(**bad)  # no error: stored as given
    assert e.get_params()[next(iter(bad))] == next(iter(bad.values()))
    x = np.random.default_rng(0).standard_normal(60)
    y = (x > 0).astype(int) if cls is est.DiscreteContinuousMutualInformation else x**2
    args = (x,) if "Entropy" in cls.__name__ else (x, y)
    with pytest.raises((ValueError, TypeError), match=next(iter(bad))):
        e.fit(*args)


def test_clone_of_a_fitted_estimator_is_unfitted_and_refits_to_the_same_estimate():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(500)
    y = 0.8 * x + 0.6 * rng.standard_normal(500)
    fitted = est.KSGMutualInformation(k=4, random_state=3).fit(x, y)
    fresh = clone(fitted)
    assert not hasattr(fresh, "mi_")
    assert fresh.fit(x, y).mi_ == fitted.mi_
