"""LaBo: closed-form initialisation, training and early stopping, the world, conformance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import log_softmax, softmax
from sklearn.linear_model import LogisticRegression

from bottlekit.bottleneck._cbm_base import BaseConceptBottleneck
from bottlekit.bottleneck.labo import (
    LaBo,
    initial_association,
    stratified_validation_split,
    train_association,
)
from bottlekit.concepts import ConceptBank, from_text, select
from bottlekit.world.evaluate import CONCEPT_TEMPLATES

N_CLASSES = 24  # species of the world; chance accuracy 1/24 = 4.2%


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def world(world_tiny_splits):
    """world-tiny embeddings of 1,200 train / 600 test images and the true-attribute bank."""
    torch.set_num_threads(1)
    bk = world_tiny_splits["backbone"]
    (train, x_train), (test, x_test) = world_tiny_splits["train"], world_tiny_splits["test"]
    prior = (train.class_concept_matrix >= 0.5).astype(np.float64)  # the species' field marks
    bank = from_text(
        bk,
        train.concept_names,
        CONCEPT_TEMPLATES,
        class_prior=prior,
        class_names=train.class_names,
    )
    return {
        "bk": bk,
        "bank": bank,
        "prior": prior,
        "X": x_train.astype(np.float64),
        "y": train.labels,
        "Xt": x_test.astype(np.float64),
        "yt": test.labels,
    }


def cosine(X, V):
    """Independent cosine similarities (n, k) of rows of X and rows of V."""
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    Vn = V / np.linalg.norm(V, axis=1, keepdims=True)
    return Xn @ Vn.T


def closed_form_logits(X, bank, W, scale=100.0):
    """LaBo's logits scale * A softmax(W)^T with the softmax over concepts (reference)."""
    return scale * cosine(X, bank.vectors.astype(np.float64)) @ softmax(W, axis=1).T


def cross_entropy(logits, y):
    return float(-log_softmax(logits, axis=1)[np.arange(len(y)), y].mean())


def model_ce(model, X, y):
    """Cross-entropy of a fitted model's probabilities."""
    return float(-model.predict_log_proba(X)[np.arange(len(y)), y].mean())


def toy_bank(with_prior=True):
    """Two 'colour' concepts on the first two axes of R^3, each the field mark of one class."""
    prior = dict(class_prior=np.eye(2), class_names=["cardinal", "jay"]) if with_prior else {}
    return ConceptBank(["red", "blue"], np.eye(2, 3), "toy", **prior)


def toy_data(n=200, seed=0, noise=0.6):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    X = np.eye(2, 3)[y] + noise * rng.normal(size=(n, 3)) + np.array([0, 0, 1.0])
    return X, y


# ----------------------------------------------------------- initialisation
def test_untrained_model_is_the_closed_form_of_the_prior(world):
    bank, X = world["bank"], world["X"]
    for init_value in (1.0, 3.0):
        model = LaBo(bank, init_value=init_value, max_epochs=0).fit(X, world["y"])
        expected = closed_form_logits(X, bank, init_value * world["prior"])
        # coef_ is stored in float32 (relative error ~6e-8) and logits are <= 100 in size
        np.testing.assert_allclose(model.decision_function(X), expected, rtol=0, atol=1e-4)
        np.testing.assert_allclose(model.association_, init_value * world["prior"])
        np.testing.assert_allclose(model.coef_.sum(1), 100.0, rtol=1e-5)  # rows: s * simplex
        assert model.best_epoch_ == 0 and model.n_iter_ == 0
    assert np.all(model.intercept_ == 0) and model.residual_coef_ is None
    # the activations are the bank's cosine similarities, exactly what the head sees
    np.testing.assert_allclose(model.transform(X), cosine(X, bank.vectors), atol=1e-6)
    np.testing.assert_allclose(model.transform(X), bank.project(X), atol=1e-6)
    assert model.concept_normalize_.all() and model.concept_link_ == "identity"


def test_no_prior_starts_uniform():
    X, y = toy_data()
    model = LaBo(toy_bank(with_prior=False), max_epochs=0).fit(X, y)
    np.testing.assert_array_equal(model.association_, 0.0)
    np.testing.assert_allclose(model.coef_, 50.0)  # 100 / k, k = 2: every class ties
    np.testing.assert_allclose(model.predict_proba(X), 0.5)
    # the labels break the tie: trained, the same bank separates the classes (the two
    # concepts are the class means' directions; logistic regression on X scores 0.875)
    trained = LaBo(toy_bank(with_prior=False), learning_rate=0.05, random_state=0).fit(X, y)
    assert trained.score(X, y) > 0.8
    assert trained.association_[0, 0] > trained.association_[0, 1]  # cardinal: red
    assert trained.association_[1, 1] > trained.association_[1, 0]  # jay: blue


def test_initial_association_helper():
    P = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    np.testing.assert_array_equal(initial_association(P, 2, 3, 2.0), 2 * P)
    np.testing.assert_array_equal(initial_association(None, 2, 3), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"prior: expected shape .*\(2, 4\)"):
        initial_association(P, 2, 4)
    with pytest.raises(ValueError, match="NaN or inf"):
        initial_association(np.full((2, 3), np.nan), 2, 3)


# ----------------------------------------------------------------- training
def test_training_lowers_cross_entropy_and_keeps_the_best_epoch(world):
    X, y = world["X"], world["y"]
    # a large step and short patience: validation loss turns up within a few epochs, so
    # the run must stop `patience` epochs after its best and roll back to it
    model = LaBo(
        world["bank"], learning_rate=0.05, batch_size=128, patience=5, random_state=0
    ).fit(X, y)
    h, val = model.history_, model.validation_indices_
    train = np.setdiff1d(np.arange(len(y)), val)
    # stratified: round(10% of each class) held out
    assert np.array_equal(np.bincount(y[val], minlength=N_CLASSES), np.round(0.1 * np.bincount(y)))

    W0 = world["prior"]
    ce0 = cross_entropy(closed_form_logits(X[train], world["bank"], W0), y[train])
    assert h["train_loss"][0] == pytest.approx(ce0, rel=1e-4)  # epoch 0 = the prior
    ce_fit = model_ce(model, X[train], y[train])
    assert ce_fit < 0.6 * ce0  # measured: 1.31 at the prior -> 0.63 (best epoch 13 of 18)

    best = model.best_epoch_
    assert 0 < best < model.n_iter_ == best + 5 == h["epoch"][-1]
    assert best == int(np.argmin(h["val_loss"]))
    # the kept matrix is the best epoch's: its validation loss is the recorded minimum
    # (float32 training vs float64 evaluation here: 1e-4 relative)
    ce_val = model_ce(model, X[val], y[val])
    assert ce_val == pytest.approx(min(h["val_loss"]), rel=1e-4)
    assert ce_val < h["val_loss"][-1]  # and not the last epoch's
    np.testing.assert_allclose(model.coef_, 100 * softmax(model.association_, axis=1), rtol=1e-5)


def test_accuracy_early_stopping_keeps_first_best_epoch():
    X, y = toy_data(300, seed=1, noise=0.8)
    # no prior: epoch 0 ties all classes (50% validation accuracy), epoch 1 reaches 80%
    # and later epochs tie with it (measured), so "first of ties" is exercised
    model = LaBo(
        toy_bank(with_prior=False),
        early_stopping_metric="accuracy",
        learning_rate=0.05,
        patience=8,
        validation_fraction=0.3,
        random_state=0,
    ).fit(X, y)
    acc = model.history_["val_accuracy"]
    best = model.best_epoch_
    assert best == int(np.argmax(acc)) > 0  # np.argmax: first of ties
    assert max(acc) in acc[best + 1 :]  # a later epoch tied, and was not taken
    assert model.n_iter_ == best + 8
    val = model.validation_indices_
    assert model.score(X[val], y[val]) == pytest.approx(max(acc))


def test_without_validation_all_epochs_run_and_the_last_is_kept():
    X, y = toy_data(40, noise=1.5)  # noisy enough that the loss stays well above 0
    model = LaBo(
        toy_bank(), validation_fraction=0.0, learning_rate=0.05, max_epochs=7, random_state=0
    ).fit(X, y)
    assert model.validation_indices_.size == 0
    assert model.n_iter_ == model.best_epoch_ == 7
    assert set(model.history_) == {"epoch", "train_loss"}
    assert model.history_["epoch"] == list(range(8))
    # the kept matrix is the last one: its training loss is the last recorded
    ce = model_ce(model, X, y)
    assert ce == pytest.approx(model.history_["train_loss"][-1], rel=1e-4)


def test_validation_data_replaces_the_split():
    X, y = toy_data(100, seed=0)
    Xv, yv = toy_data(60, seed=1)
    labels = np.array(["cardinal", "jay"])
    model = LaBo(toy_bank(), learning_rate=0.02, random_state=0).fit(
        X, labels[y], validation_data=(Xv, labels[yv])
    )
    assert model.validation_indices_.size == 0
    ce = model_ce(model, Xv, yv)
    assert ce == pytest.approx(model.history_["val_loss"][model.best_epoch_], rel=1e-4)
    with pytest.raises(ValueError, match=r"y_val has labels \['robin'\]"):
        LaBo(toy_bank(), max_epochs=1).fit(X, labels[y], validation_data=(Xv, ["robin"] * 60))
    with pytest.raises(ValueError, match=r"X_val must have shape \(n_val, 3\)"):
        LaBo(toy_bank(), max_epochs=1).fit(X, y, validation_data=(Xv[:, :2], yv))
    with pytest.raises(ValueError, match="expected a pair"):
        LaBo(toy_bank(), max_epochs=1).fit(X, y, validation_data=Xv)


def test_stratified_split_keeps_one_example_per_class():
    y = np.array([0] * 10 + [1] * 3 + [2])
    tr, va = stratified_validation_split(y, 0.4, np.random.default_rng(0))
    assert np.bincount(y[va], minlength=3).tolist() == [4, 1, 0]  # round(4.0), round(1.2), 0
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(len(y)))


def test_reference_regularisers_act_in_their_direction():
    X, y = toy_data(200)
    kw = dict(validation_fraction=0.0, max_epochs=60, learning_rate=0.05, random_state=0)
    plain = LaBo(toy_bank(), **kw).fit(X, y)
    # l1: the largest row L1 norm of the raw matrix (reference `row_l1_norm`) shrinks
    sparse = LaBo(toy_bank(), l1_penalty=1.0, **kw).fit(X, y)
    assert np.abs(sparse.association_).sum(1).max() < np.abs(plain.association_).sum(1).max()
    # diversity: rewards the batch variance of the class scores a softmax(W)_c
    div = LaBo(toy_bank(), diversity_penalty=50.0, **kw).fit(X, y)
    var = lambda m: (m.transform(X) @ (m.coef_ / 100).T).var(0).mean()  # noqa: E731
    assert var(div) > var(plain)


def test_train_association_is_reproducible_and_validates():
    A = np.random.default_rng(0).random((50, 3))
    y = np.arange(50) % 2
    W1, h1 = train_association(A, y, np.zeros((2, 3)), max_epochs=5, rng=np.random.default_rng(3))
    W2, h2 = train_association(A, y, np.zeros((2, 3)), max_epochs=5, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(W1, W2)
    assert h1 == h2
    with pytest.raises(ValueError, match="early_stopping_metric"):
        train_association(A, y, np.zeros((2, 3)), early_stopping_metric="auc")
    with pytest.raises(ValueError, match="give both or neither"):
        train_association(A, y, np.zeros((2, 3)), A_val=A)
    with pytest.raises(ValueError, match=r"W0 must have shape .*got \(2, 4\)"):
        train_association(A, y, np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"A must be \(n, k\)"):
        train_association(A, y[:10], np.zeros((2, 3)))


# ------------------------------------------------------------------ the world
# Measured on this fixture (1,200 train / 600 test images, world seed 0, random_state 0):
# the prior alone 71.5% test accuracy (2,400 test images: 72.4%); trained (learning rate
# 3e-3, batch 128, 60 epochs) 75.5%; with the prior rolled by one to four species (each
# species gets another's field marks) 0.8-2.7%, below chance (4.2%). The bounds sit about
# 10 points under the measured values (the binomial standard error on 600 images is 1.8
# points) and far above chance.
PRIOR_ONLY_MIN = 0.60
TRAINED_MIN = 0.65
WRONG_PRIOR_MAX = 0.10


def test_world_prior_alone_is_far_above_chance(world):
    X, y, Xt, yt = world["X"], world["y"], world["Xt"], world["yt"]
    acc0 = LaBo(world["bank"], max_epochs=0).fit(X, y).score(Xt, yt)
    assert acc0 > PRIOR_ONLY_MIN
    # the language prior is what carries it: give each species its neighbour's field marks
    wrong = from_text(
        world["bk"],
        world["bank"].names,
        CONCEPT_TEMPLATES,
        class_prior=np.roll(world["prior"], 1, axis=0),
        class_names=world["bank"].class_names,
    )
    assert LaBo(wrong, max_epochs=0).fit(X, y).score(Xt, yt) < WRONG_PRIOR_MAX
    trained = LaBo(
        world["bank"], learning_rate=3e-3, batch_size=128, max_epochs=60, random_state=0
    ).fit(X, y)
    assert trained.score(Xt, yt) > TRAINED_MIN


@pytest.mark.filterwarnings("ignore:The number of unique classes:UserWarning")
def test_world_few_shot_beats_a_linear_probe(world):
    # one image per species (24 in all): LaBo starts from the prior, a probe from nothing.
    # Measured (2,400 test images, three draws): LaBo 100 epochs 74.5%, logistic regression
    # 61.5% (C chosen on 1,200 val images) / 60.9% (C = 1); on this draw and test set
    # LaBo 73.2%, probe 56.7%. The margin asked, 5 points, is under a third of the gap.
    X, y, Xt, yt = world["X"], world["y"], world["Xt"], world["yt"]
    rng = np.random.default_rng(0)
    idx = np.array([rng.choice(np.flatnonzero(y == c)) for c in range(N_CLASSES)])
    labo = LaBo(world["bank"], max_epochs=100, random_state=0).fit(X[idx], y[idx])
    assert labo.validation_indices_.size == 0  # one shot: nothing can be held out
    probe = LogisticRegression(C=1.0, max_iter=2000).fit(X[idx], y[idx])
    assert labo.score(Xt, yt) > probe.score(Xt, yt) + 0.05


def test_world_submodular_selection_feeds_labo(world):
    X, y = world["X"], world["y"]
    small = select(world["bank"], X, y, k=16, method="submodular", per_class=False)
    assert len(small) == 16
    model = LaBo(small, max_epochs=0).fit(X, y)
    assert model.concept_names_ == small.names
    # the prior travels with the selected concepts: columns of the full prior, by name
    cols = [world["bank"].names.index(n) for n in small.names]
    expected = closed_form_logits(X, world["bank"].subset(cols), world["prior"][:, cols])
    np.testing.assert_allclose(model.decision_function(X), expected, atol=1e-4)
    # measured: 62.0% untrained, 74.8% trained (60 epochs) on the 600 test images
    trained = LaBo(small, learning_rate=3e-3, batch_size=128, max_epochs=60, random_state=0)
    assert trained.fit(X, y).score(world["Xt"], world["yt"]) > TRAINED_MIN
    # per-class selection (LaBo's default with a prior) also fits
    per_class = select(world["bank"], X, y, k=48, method="submodular")
    assert LaBo(per_class, max_epochs=0).fit(X, y).coef_.shape == (N_CLASSES, len(per_class))


# ----------------------------------------------------- contract and conformance
def test_save_load_roundtrip(tmp_path):
    X, y = toy_data()
    model = LaBo(toy_bank(), max_epochs=5, random_state=0).fit(X, y)
    path = model.save(tmp_path / "labo.safetensors")
    loaded = BaseConceptBottleneck.load(path)
    assert isinstance(loaded, LaBo)
    np.testing.assert_array_equal(loaded.association_, model.association_)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.history_ == model.history_ and loaded.best_epoch_ == model.best_epoch_


@pytest.mark.parametrize(
    ("kw", "validation"),
    [
        (dict(max_epochs=0), False),  # the prior alone: history of epoch 0 only
        (dict(validation_fraction=0.0, max_epochs=3), False),  # no validation curves
        (dict(learning_rate=0.05, patience=2, max_epochs=200), False),  # early-stopped
        (dict(max_epochs=3), True),  # validation_data instead of the split
    ],
)
def test_every_kind_of_fit_saves_and_loads(tmp_path, kw, validation):
    # the load checks history_, best_epoch_ and validation_indices_ against each other
    X, y = toy_data(60)
    fit_kw = dict(validation_data=toy_data(20, seed=1)) if validation else {}
    model = LaBo(toy_bank(), random_state=0, **kw).fit(X, y, **fit_kw)
    loaded = LaBo.load(model.save(tmp_path / "labo.safetensors"))
    assert loaded.history_ == model.history_ and loaded.n_iter_ == model.n_iter_
    np.testing.assert_array_equal(loaded.validation_indices_, model.validation_indices_)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    if kw.get("patience") == 2:
        assert model.n_iter_ < 200  # the case's premise: stopped early


def test_same_seed_same_model():
    X, y = toy_data()
    a = LaBo(toy_bank(), max_epochs=5, random_state=3).fit(X, y)
    b = LaBo(toy_bank(), max_epochs=5, random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.association_, b.association_)
    np.testing.assert_array_equal(a.validation_indices_, b.validation_indices_)


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        ("logit_scale", 0.0, "logit_scale: expected a finite number > 0"),
        ("init_value", -1.0, "init_value: expected a finite number >= 0"),
        ("learning_rate", float("nan"), "learning_rate"),
        ("batch_size", 0, "batch_size: expected an int > 0"),
        ("max_epochs", 2.5, "max_epochs: expected an int >= 0"),
        ("patience", 0, "patience: expected an int > 0"),
        ("validation_fraction", 1.0, r"validation_fraction: expected a number in \[0, 1\)"),
        ("early_stopping_metric", "f1", "early_stopping_metric"),
        ("l1_penalty", -0.1, "l1_penalty"),
        ("diversity_penalty", "x", "diversity_penalty"),
        ("verbose", "yes", "verbose"),
    ],
)
def test_bad_parameters(param, value, message):
    X, y = toy_data(20)
    with pytest.raises(ValueError, match=message):
        LaBo(toy_bank(), **{param: value}).fit(X, y)


def test_bad_fit_arguments():
    X, y = toy_data(20)
    with pytest.raises(TypeError, match="unexpected arguments"):
        LaBo(toy_bank(), max_epochs=1).fit(X, y, concept_labels=y)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            LaBo(toy_bank(), device="cuda", max_epochs=1).fit(X, y)
