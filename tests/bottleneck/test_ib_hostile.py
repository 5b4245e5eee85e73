"""Hostile inputs to the information-bottleneck models: clear errors naming the argument.

Each case failed before with an error from deep inside (torch, numpy, scikit-learn's
seeding) or trained silently on a meaningless value; see the comments.
"""

import numpy as np
import pytest
import torch

from bottlekit.bottleneck import (
    CSIBRegressor,
    MLPClassifierBaseline,
    MLPRegressorBaseline,
    VIBClassifier,
    VIBRegressor,
)

SMALL = {"max_epochs": 2, "hidden_sizes": (8,), "bottleneck_dim": 2, "random_state": 0}
MODELS = [CSIBRegressor, VIBRegressor, VIBClassifier, MLPRegressorBaseline, MLPClassifierBaseline]


def _task(cls, n=40):
    X = np.random.default_rng(0).standard_normal((n, 3))
    y = np.sin(X[:, 0])
    return X, ((y > 0).astype(int) if cls._task == "classification" else y)


# ---------------------------------------------------------------- hyper-parameters
@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        # before: trained with the string's truth value ("no" is true)
        ({"verbose": "no"}, TypeError, r"verbose: expected True or False, got 'no'"),
        # before: torch's "empty(): argument 'size' ... found element of type bool"
        ({"hidden_sizes": (True,)}, ValueError, r"hidden_sizes: expected a tuple .*\(True,\)"),
        # before: accepted; the learning rate doubled every lr_decay_step epochs
        ({"lr_decay_gamma": 2.0}, ValueError, r"lr_decay_gamma: expected .* <= 1, got 2\.0"),
        # before: numpy's "Seed must be between 0 and 2**32 - 1" / "'x' cannot be used to
        # seed a numpy.random.RandomState instance", neither naming random_state
        ({"random_state": -1}, ValueError, r"random_state: expected .*got -1"),
        ({"random_state": "x"}, ValueError, r"random_state: expected .*got 'x'"),
        ({"random_state": 1.5}, ValueError, r"random_state: expected .*got 1\.5"),
        # before: accepted, and every batch of one row was skipped: the network was
        # returned as initialised, with a constant val_error and no train_loss
        ({"batch_size": 1}, ValueError, r"batch_size: expected an int >= 2 .*got 1"),
        # before: torch's "META device type not an accelerator" from torch.Generator
        ({"device": "meta"}, ValueError, r"device: 'meta' holds no values"),
    ],
)
def test_bad_parameters_are_named(cls, params, error, match):
    X, y = _task(cls)
    with pytest.raises(error, match=match):
        cls(**{**SMALL, **params}).fit(X, y)


@pytest.mark.parametrize("cls", [CSIBRegressor, VIBRegressor, VIBClassifier])
@pytest.mark.parametrize("value", ["no", None, 0])
def test_stochastic_encoder_must_be_a_bool(cls, value):
    # before: None and 0 trained a deterministic encoder, "no" a stochastic one
    X, y = _task(cls)
    with pytest.raises(TypeError, match=r"stochastic_encoder: expected True or False"):
        cls(**SMALL, stochastic_encoder=value).fit(X, y)


def test_normalize_qmi_must_be_a_bool():
    X, y = _task(CSIBRegressor)
    with pytest.raises(TypeError, match=r"normalize_qmi: expected True or False, got 'no'"):
        CSIBRegressor(**SMALL, normalize_qmi="no").fit(X, y)


# ---------------------------------------------------------------- data
@pytest.mark.parametrize("cls", MODELS)
def test_text_inputs_are_refused_not_parsed(cls):
    # before: scikit-learn's validate_data parsed "0.126" as 0.126 and the model trained
    X, y = _task(cls)
    with pytest.raises(TypeError, match=r"X must be a numeric array, got text values"):
        cls(**SMALL).fit(X.astype(str), y)
    model = cls(**SMALL).fit(X, y)
    with pytest.raises(TypeError, match=r"X must be a numeric array, got text values"):
        model.predict(X.astype(str))


@pytest.mark.parametrize("cls", [CSIBRegressor, VIBRegressor, MLPRegressorBaseline])
def test_text_regression_targets_are_refused(cls):
    X, y = _task(cls)
    with pytest.raises(TypeError, match=r"y must be a numeric array, got text values"):
        cls(**SMALL).fit(X, y.astype(str))


@pytest.mark.parametrize("cls", [VIBClassifier, MLPClassifierBaseline])
def test_labels_of_mixed_types_are_named(cls):
    # before: numpy's "'<' not supported between instances of 'int' and 'str'"
    X, _ = _task(cls)
    y = np.array(["a", 1] * 20, dtype=object)
    with pytest.raises(
        TypeError,
        match=r"y: labels of types \['int', 'str'\] cannot be ordered; "
        r"expected labels of one sortable type \(numbers or strings\)",
    ):
        cls(**SMALL).fit(X, y)


@pytest.mark.parametrize("cls", [VIBClassifier, MLPClassifierBaseline])
def test_missing_labels_are_named(cls):
    # before: scikit-learn's "Unknown label type: unknown. Maybe you are trying to fit a
    # classifier, which expects discrete classes on a regression target ..."
    X, _ = _task(cls)
    y = np.array([None, 1] * 20, dtype=object)
    with pytest.raises(TypeError, match=r"y: labels of types \['NoneType', 'int'\] cannot be"):
        cls(**SMALL).fit(X, y)


@pytest.mark.parametrize("cls", MODELS)
def test_a_meta_tensor_is_named(cls):
    # before: torch's "can't convert meta device type tensor to numpy"
    _, y = _task(cls)
    with pytest.raises(ValueError, match=r"X is a tensor on the 'meta' device"):
        cls(**SMALL).fit(torch.empty(40, 3, device="meta"), y)


def test_tensors_train_like_arrays():
    X, y = _task(CSIBRegressor)
    a = CSIBRegressor(**SMALL).fit(X, y).predict(X)
    b = CSIBRegressor(**SMALL).fit(torch.tensor(X, requires_grad=True), y)
    np.testing.assert_array_equal(b.predict(torch.tensor(X)), a)


def test_csib_trains_on_a_constant_input():
    # before: a constant batch of x made the normalised I_CS(x;t) 0/0 = NaN and fit raised
    # "training diverged at epoch 1 ... lower learning_rate or beta". Nothing can be learnt
    # from a constant input: the compression term is 0 and the model predicts about the mean.
    X, y = _task(CSIBRegressor)
    reg = CSIBRegressor(**{**SMALL, "max_epochs": 3}).fit(np.ones_like(X), y)
    assert reg.history_["train_i_xt"] == [0.0, 0.0, 0.0]
    pred = reg.predict(X)
    assert np.isfinite(pred).all()
    assert np.ptp(pred) < 0.1 * np.ptp(y)
