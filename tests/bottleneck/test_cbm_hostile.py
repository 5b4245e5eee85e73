"""Hostile input to the concept-bottleneck models' public API (LaBo, Label-free CBM, KnowledgeCBM
and what they share: explanation, pruning, interventions, model files).

Each case gave, before its fix, a traceback from deep inside numpy/pathlib, a bare ``KeyError``,
a silently accepted value or a misleading message; now a ``ValueError`` / ``TypeError`` (or an
``OSError`` for paths) names the argument.
"""

from __future__ import annotations

import numpy as np
import pytest

from bottlekit.bottleneck import KnowledgeCBM, LabelFreeCBM, LaBo, PosthocCBM
from bottlekit.bottleneck.knowledge import ground_concepts
from bottlekit.concepts import ConceptBank

N, D = 40, 6


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], N // 2)
    X = rng.normal(size=(N, D)) + 2.0 * np.eye(2, D)[y]
    bank = ConceptBank(["c0", "c1", "c2", "c3"], rng.normal(size=(4, D)), "toy")
    return X, y, bank


@pytest.fixture(scope="module")
def model(data):
    X, y, bank = data
    return LaBo(bank, max_epochs=0).fit(X, y)


FAST = {
    "LaBo": lambda bank, **kw: LaBo(bank, max_epochs=1, **kw),
    "LabelFreeCBM": lambda bank, **kw: LabelFreeCBM(
        bank, projection_steps=5, max_epochs=2, n_lambdas=2, **kw
    ),
    "KnowledgeCBM": lambda bank, **kw: KnowledgeCBM(bank, max_epochs=1, **kw),
}


@pytest.mark.parametrize("family", list(FAST))
@pytest.mark.parametrize(
    ("seed", "error"),
    [(-1, ValueError), ("a", TypeError), (1.5, TypeError), (True, TypeError)],
)
def test_a_bad_random_state_is_named(data, family, seed, error):
    # before: -1 gave numpy's "expected non-negative integer" from inside default_rng
    X, y, bank = data
    with pytest.raises(error, match="random_state"):
        FAST[family](bank, random_state=seed).fit(X, y)


@pytest.mark.parametrize(
    "make_seed",
    # before: a SeedSequence or a BitGenerator passed check_seed and then failed in the
    # fit with "expected None, an int >= 0, a RandomState or a Generator"
    [np.random.default_rng, np.random.SeedSequence, np.random.PCG64],
)
def test_a_generator_seeds_the_fit(data, make_seed):
    X, y, bank = data
    a = LaBo(bank, max_epochs=2, random_state=make_seed(3)).fit(X, y)
    b = LaBo(bank, max_epochs=2, random_state=make_seed(3)).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_explain_target_of_uncomparable_labels_is_named(model, data):
    # before: TypeError "'<' not supported between instances of 'NoneType'" from searchsorted
    X = data[0][:3]
    with pytest.raises(ValueError, match="target has labels"):
        model.explain(X, target=[None, None, None])


def test_labels_of_mixed_types_are_named(data):
    # before: numpy's "'<' not supported between instances of 'int' and 'str'"
    X, _, bank = data
    y = np.array(["a", 1] * (len(X) // 2), dtype=object)
    with pytest.raises(
        TypeError,
        match=r"y: labels of types \['int', 'str'\] cannot be ordered; "
        r"expected labels of one sortable type \(numbers or strings\)",
    ):
        LaBo(bank, max_epochs=0).fit(X, y)


@pytest.mark.parametrize(
    ("make", "own"),
    [
        (lambda bank: PosthocCBM(bank), "none"),
        (lambda bank: LaBo(bank, max_epochs=0), "validation_data"),
        (lambda bank: KnowledgeCBM(bank, max_epochs=1), "concept_labels, grounding_X"),
    ],
)
def test_fit_names_arguments_it_does_not_take(data, make, own):
    # one check for every family; before, KnowledgeCBM's was Python's
    # "_fit_bottleneck() got an unexpected keyword argument 'sample_weight'"
    X, y, bank = data
    model = make(bank)
    with pytest.raises(
        TypeError,
        match=rf"^{type(model).__name__}\.fit got unexpected arguments \['sample_weight'\]; "
        rf"its own are: {own}$",
    ):
        model.fit(X, y, sample_weight=np.ones(len(y)))


def test_global_importance_by_class_must_be_a_bool(model):
    # before: the string "no" was true, so the (C, k) matrix came back
    with pytest.raises(TypeError, match="by_class: expected True or False, got 'no'"):
        model.global_importance(by_class="no")
    assert model.global_importance(by_class=False).shape == (4,)


OUT_OF_RANGE = (
    r"concepts: expected concept indices in 0\.\.3 \(this model has 4 concepts\), got -?\d+$"
)


@pytest.mark.parametrize("index", [4, 999, -1])
def test_prune_and_intervene_refuse_an_index_out_of_range(model, data, index):
    # before: a bare KeyError "concept index 999 out of range 0..4" (0..4 included 4); the
    # message is as_index_array's now ("index 999 out of range; expected 0..3" before)
    with pytest.raises(ValueError, match=OUT_OF_RANGE):
        model.prune(index)
    with pytest.raises(ValueError, match=OUT_OF_RANGE):
        model.intervene(data[0][:2], {index: 1.0})


@pytest.mark.parametrize(
    ("values", "error", "message"),
    [
        ({"c0": "high"}, TypeError, r"values\['c0'\]: expected numbers"),
        (np.full((2, 4), "a"), TypeError, "values: expected numbers"),
        ({("c0", "c1"): 1.0}, TypeError, "values: expected keys that are concept names"),
        ({"c0": 7.0}, ValueError, r"values: expected numbers in \[0, 1\]"),
        ({"c0": -0.5}, ValueError, r"values: expected numbers in \[0, 1\]"),
        (np.full((2, 4), 2.0), ValueError, r"values: expected numbers in \[0, 1\]"),
        # the same concept by index and by name: the last value won, silently
        ({0: 1.0, "c0": 0.0}, ValueError, r"values: keys 0 and 'c0' are the same concept"),
    ],
)
def test_intervene_refuses_bad_values_by_name(model, data, values, error, message):
    # before: "could not convert string to float", "too many values to unpack", and
    # percentile values outside [0, 1] extrapolated past the training range silently
    with pytest.raises(error, match=message):
        model.intervene(data[0][:2], values)


def test_raw_interventions_may_leave_the_training_range(model, data):
    X = data[0][:2]
    Z = model.intervene(X, {"c0": 7.0}, scale="raw", output="logits")
    A = model.transform(X)
    A[:, 0] = 7.0
    np.testing.assert_allclose(Z, A @ model.coef_.T + model.intercept_, rtol=1e-5)
    # the ends of [0, 1] and NaN stay valid percentile values
    model.intervene(X, np.array([[0.0, 1.0, np.nan, 0.5]] * 2))


def test_save_to_a_folder_names_it_and_leaves_nothing(model, tmp_path):
    # before: IsADirectoryError naming the temporary file "'.tmpXXXX.tmp' -> folder"
    with pytest.raises(IsADirectoryError, match="is a folder; expected the path of a file"):
        model.save(tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path", [None, 3, ["m.safetensors"]])
def test_load_of_a_non_path_is_named(path):
    # before: pathlib's "expected str, bytes or os.PathLike object, not NoneType"
    with pytest.raises(TypeError, match="path: expected the path of a model file"):
        LaBo.load(path)


def test_load_of_a_folder_says_so(tmp_path):
    # before: "no model file at ..." for a folder that exists
    with pytest.raises(IsADirectoryError, match="is a folder; expected the path of a model"):
        LaBo.load(tmp_path)


def test_save_linear_head_refuses_weights_it_could_not_load(tmp_path):
    from bottlekit.bottleneck import load_linear_head, save_linear_head

    path = tmp_path / "head.safetensors"
    # before: NaN weights were written, and load_linear_head then refused the file
    with pytest.raises(ValueError, match="weight/bias contain NaN or inf"):
        save_linear_head(path, np.full((2, 3), np.nan), np.zeros(2))
    # before: "could not convert string to float"
    with pytest.raises(TypeError, match="weight/bias: expected arrays of numbers"):
        save_linear_head(path, np.full((2, 3), "a"), np.zeros(2))
    assert not path.exists()
    # before: pathlib's "expected str, bytes or os.PathLike object, not NoneType"
    with pytest.raises(TypeError, match="path: expected the path of a linear-head file"):
        load_linear_head(None)


@pytest.mark.parametrize(
    ("validation_data", "error", "message"),
    [
        ((np.full((4, D), "a"), [0, 1, 0, 1]), TypeError, "X_val must be an array of numbers"),
        ((np.zeros((4, D)), [None] * 4), ValueError, "y_val has labels"),
    ],
)
def test_labo_names_bad_validation_data(data, validation_data, error, message):
    # before: "could not convert string to float" and "'<' not supported between
    # instances of 'NoneType'" from numpy
    X, y, bank = data
    with pytest.raises(error, match=f"validation_data: {message}"):
        LaBo(bank, max_epochs=1).fit(X, y, validation_data=validation_data)


def test_labo_divergence_names_every_scale_that_can_cause_it(data):
    # the training loss overflows with a huge logit scale, not only with a huge step
    X, y, bank = data
    with pytest.raises(FloatingPointError, match=r"lower learning_rate \(or logit_scale"):
        LaBo(bank, max_epochs=1, logit_scale=1e300).fit(X, y)


GX = np.random.default_rng(1).normal(size=(50, 3))
GL = (GX[:, :1] > 0).astype(float)


@pytest.mark.parametrize(
    ("X", "labels", "error", "message"),
    [
        # before: ground_concepts checked nothing; numpy parsed text, a shape mismatch failed
        # inside the loop over concepts, and a label of 2 was neither positive nor negative
        (GX.astype(str), GL, TypeError, "X: expected a numeric array, got text values"),
        (GX, GL.astype(str), TypeError, "concept_labels: expected a numeric array, got text"),
        (GX, GL[:10], ValueError, r"concept_labels: expected shape .*\(50, 1\), got \(10, 1\)"),
        (GX, GL * 2, ValueError, r"concept_labels: expected values 0, 1 or NaN"),
        (GX, GL.ravel(), ValueError, r"concept_labels: expected shape \(n, k\), got \(50,\)"),
        (GX[:, :, None], GL, ValueError, r"X: expected finite embeddings of shape \(n, d\)"),
    ],
)
def test_ground_concepts_names_bad_input(X, labels, error, message):
    with pytest.raises(error, match=message):
        ground_concepts(X, labels)
