"""Hostile input to the concept-bottleneck models, third sweep: gaps left by
``test_cbm_hostile.py``, ``test_posthoc_hostile.py`` and ``test_model_files_hostile.py``,
across every family (PosthocCBM / PCBM-h, LaBo, LabelFreeCBM, KnowledgeCBM, DiscoveredCBM).

Each case says what happened before its fix.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from safetensors.numpy import save

from bottlekit.bottleneck import DiscoveredCBM, KnowledgeCBM, LabelFreeCBM, LaBo, PosthocCBM
from bottlekit.concepts import ConceptBank
from bottlekit.safetensors_file import read_safetensors

N, D = 60, 6


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], N // 3)
    X = rng.normal(size=(N, D)) + 2.0 * np.eye(3, D)[y]
    bank = ConceptBank([f"c{i}" for i in range(5)], rng.normal(size=(5, D)), "toy")
    return X, y, bank


FAMILIES = {
    "PosthocCBM": lambda bank: PosthocCBM(bank, lam=1e-3, max_iter=20, random_state=0),
    "PCBM-h": lambda bank: PosthocCBM(
        bank, lam=1e-3, max_iter=20, residual=True, residual_epochs=1, random_state=0
    ),
    "LaBo": lambda bank: LaBo(bank, max_epochs=1, random_state=0),
    "LabelFreeCBM": lambda bank: LabelFreeCBM(
        bank,
        projection_steps=5,
        max_epochs=2,
        n_lambdas=2,
        interpretability_cutoff=None,
        random_state=0,
    ),
    "KnowledgeCBM": lambda bank: KnowledgeCBM(bank, max_epochs=1, random_state=0),
    "DiscoveredCBM": lambda bank: DiscoveredCBM(
        bank, n_concepts=8, epochs=2, max_iter=20, random_state=0
    ),
}


@pytest.fixture(scope="module")
def fitted(data):
    X, y, bank = data
    return {name: make(bank).fit(X, y) for name, make in FAMILIES.items()}


def _rewrite(src, out, edit):
    contents = read_safetensors(src, "model", require_metadata=False)
    tensors, meta = dict(contents), contents.meta
    edit(tensors, meta)
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    out.write_bytes(save(tensors, metadata={"bottlekit": json.dumps(meta)}))
    return out


def _assert_tampered_file_refused(model, tmp_path, edit, message):
    """``model`` saved, its file rewritten by ``edit``: loading it raises ``message``
    (after the file's name), and the untampered file still loads."""
    src = model.save(tmp_path / "m.safetensors")
    bad = _rewrite(src, tmp_path / "bad.safetensors", edit)
    with pytest.raises(ValueError, match=r"bad\.safetensors': " + message):
        type(model).load(bad)
    type(model).load(src)  # the untampered file loads


# ------------------------------------------------------------------ model files
@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_model_trained_on_a_missing_device_loads_and_predicts(fitted, data, family, tmp_path):
    # before (LabelFreeCBM): "invalid hyper-parameters (device: 'cuda:99' requested but
    # CUDA is not available)": a model trained on a GPU could not be loaded on a CPU
    # machine, though prediction runs in numpy and needs no device
    model = fitted[family]
    src = model.save(tmp_path / "m.safetensors")
    gpu = _rewrite(
        src,
        tmp_path / "gpu.safetensors",
        lambda t, m: m["params"].__setitem__("device", "cuda:99"),
    )
    loaded = type(model).load(gpu)
    assert loaded.device == "cuda:99"
    np.testing.assert_array_equal(loaded.predict_proba(data[0]), model.predict_proba(data[0]))
    if family != "PosthocCBM":  # without a residual, PosthocCBM fits on no device
        # fitting there is still refused, naming the device
        with pytest.raises(ValueError, match=r"device: 'cuda:99' requested"):
            loaded.fit(*data[:2])


def _fill(value, dtype, *keys):
    def edit(t, m):
        for key in keys:
            t[f"model/{key}"] = np.full(t[f"model/{key}"].shape, value, dtype=dtype)

    return edit


LIMIT = r"expected at most 2\.\d+e\+18 = sqrt\(float32 max / \(\(K \+ 1\)\(D \+ 2\)\)\) for K=\d "
HUGE_WEIGHT_CASES = {
    # before: loaded; logits_torch on unit-norm float32 embeddings gave inf (every family)
    "a float32 head of 3e38": (
        _fill(3e38, np.float32, "coef_"),
        r"coef_ holds a value of magnitude 3e\+38; " + LIMIT,
    ),
    # before: loaded; predict_proba gave NaN after numpy's "overflow encountered in matmul"
    # (every family but KnowledgeCBM, whose sigmoid bounds the activations)
    "float64 weights and head of 1e200": (
        _fill(1e200, np.float64, "concept_weights_", "coef_"),
        r"concept_weights_ holds a value of magnitude 1e\+200; " + LIMIT,
    ),
}


@pytest.mark.parametrize("case", list(HUGE_WEIGHT_CASES))
@pytest.mark.parametrize("family", list(FAMILIES))
def test_weights_too_large_for_a_fit_are_refused(fitted, tmp_path, family, case):
    edit, message = HUGE_WEIGHT_CASES[case]
    _assert_tampered_file_refused(fitted[family], tmp_path, edit, message)


def test_weights_just_below_the_limit_keep_float32_logits_finite(fitted, data, tmp_path):
    # the limit is enough: every parameter of a hybrid model at 0.999 of it, all of one
    # sign, raw (not normalised) inputs of ones, the worst case: float32 logits (K (D + 1)
    # products of two parameters, 73% of float32's largest here) and the float32
    # intercepts of a pruned model stay finite
    model = fitted["PCBM-h"]
    k = len(model.concept_names_)
    limit = np.sqrt(np.finfo(np.float32).max / ((k + 1) * (D + 2)))
    keys = ["concept_weights_", "concept_bias_", "coef_", "intercept_", "residual_coef_"]
    keys += ["residual_intercept_", "concept_mean_"]
    fill = _fill(0.999 * limit, np.float32, *keys)

    def edit(t, m):
        fill(t, m)
        t["model/concept_normalize_"] = np.zeros(k, dtype=bool)

    src = model.save(tmp_path / "m.safetensors")
    loaded = PosthocCBM.load(_rewrite(src, tmp_path / "edge.safetensors", edit))
    logits = loaded.logits_torch(torch.ones(1, D, dtype=torch.float32))
    assert logits.dtype == torch.float32
    expected = 0.999**2 * k * (D + 1) * limit**2
    np.testing.assert_allclose(logits.numpy(), np.full((1, 3), expected), rtol=1e-3)
    with np.errstate(all="raise"):
        assert np.isfinite(loaded.prune(0).intercept_).all()


# ------------------------------------------------------------------------ data
@pytest.mark.parametrize("family", list(FAMILIES))
def test_text_embeddings_are_refused_not_parsed(fitted, data, family):
    # before: scikit-learn's validate_data parsed "0.126" as 0.126; the model trained on
    # (and predicted from) a column of text
    X, y, bank = data
    text = X.astype(str)
    with pytest.raises(TypeError, match=r"^X: expected a numeric array, got text values"):
        FAMILIES[family](bank).fit(text, y)
    for method in ("predict", "transform", "predict_proba", "decision_function", "explain"):
        with pytest.raises(TypeError, match=r"^X: expected a numeric array, got text values"):
            getattr(fitted[family], method)(text)
    with pytest.raises(TypeError, match=r"^X: expected a numeric array, got text values"):
        fitted[family].intervene(text, {0: 0.5})
    with pytest.raises(TypeError, match=r"^X: expected a numeric array, got text values"):
        fitted[family].score(text.tolist(), y)


def test_text_validation_and_grounding_embeddings_are_refused(data):
    # before: parsed as numbers, as X was
    X, y, bank = data
    with pytest.raises(TypeError, match=r"^validation_data: X_val must be an array of numbers"):
        LaBo(bank, max_epochs=1).fit(X, y, validation_data=(X.astype(str), y))
    with pytest.raises(TypeError, match=r"^grounding_X: expected a numeric array, got text"):
        KnowledgeCBM(bank, max_epochs=1).fit(X, y, grounding_X=X.astype(str))


def _tensor(key, make):
    return lambda t, m: t.__setitem__(f"model/{key}", make(t[f"model/{key}"]))


KNOWLEDGE_CASES = {
    # before: each loaded; concept_indices_ names which bank concepts the model uses
    "index past the bank": (
        _tensor("concept_indices_", lambda a: a + 1000),
        r"concept_indices_ holds 100\d\.\.100\d; expected positions in the bank, in \[0, 5\)",
    ),
    "negative index": (
        _tensor("concept_indices_", lambda a: a - 1000),
        r"concept_indices_ holds -\d+\.\.-\d+; expected positions in the bank",
    ),
    "repeated index": (
        _tensor("concept_indices_", lambda a: np.full_like(a, a[0])),
        r"concept_indices_ repeats bank concepts",
    ),
    "indices of other names": (
        _tensor("concept_indices_", lambda a: a[::-1].copy()),
        r"concept_names_\[0\] is 'c\d' but concept_indices_\[0\] = \d is the bank's 'c\d'",
    ),
    "accuracies of another bank": (
        _tensor("bank_grounding_accuracy_", lambda a: a[:-1]),
        r"bank_grounding_accuracy_ has 4 entries; expected one per concept of the stored "
        r"bank \(5\)",
    ),
}


@pytest.mark.parametrize("case", list(KNOWLEDGE_CASES))
def test_a_tampered_knowledge_model_file_is_refused(fitted, tmp_path, case):
    model = fitted["KnowledgeCBM"]
    assert len(model.concept_names_) >= 2  # the cases need two concepts
    edit, message = KNOWLEDGE_CASES[case]
    _assert_tampered_file_refused(model, tmp_path, edit, message)


def _state(key, make):
    return lambda t, m: m["state"].__setitem__(key, make(m["state"][key]))


# before: each loaded (only the kinds of these attributes were checked, not how they tie
# together); fixture: K=5 concepts, C=3 classes, a path of 2 penalties, the second selected
LABEL_FREE_CASES = {
    "path_selected_ past the path": (
        _state("path_selected_", lambda v: 7),
        r"path_selected_ is 7; expected an index into path_lambdas_, in \[0, 2\)",
    ),
    "a row of path_nonzero_ too many": (
        _tensor("path_nonzero_", lambda a: np.vstack([a, a[:1]])),
        r"path_nonzero_ has 3 rows; expected one per penalty of path_lambdas_ \(2\)",
    ),
    "n_epochs_ truncated": (
        _tensor("n_epochs_", lambda a: a[:1]),
        r"n_epochs_ has 1 rows; expected one per penalty of path_lambdas_ \(2\)",
    ),
    "more non-zero weights than concepts": (
        _tensor("path_nonzero_", lambda a: a + 10),
        r"path_nonzero_ holds 10\.\.15; expected counts of non-zero weights per class, in "
        r"\[0, 5\]",
    ),
    "zero SAGA epochs": (
        _tensor("n_epochs_", lambda a: a * 0),
        r"n_epochs_ holds 0; expected SAGA epochs >= 1",
    ),
    "NaN penalty": (
        _tensor("path_lambdas_", lambda a: np.where(np.arange(len(a)) == 0, np.nan, a)),
        r"path_lambdas_ should be at least one finite penalty >= 0, got \[nan, ",
    ),
    "negative penalties": (
        _tensor("path_lambdas_", lambda a: -a),
        r"path_lambdas_ should be at least one finite penalty >= 0, got \[-0\.3",
    ),
    "negative lam_": (
        _state("lam_", lambda v: -v),
        r"lam_ is -0\.000319\d+; expected the penalty of the selected point, "
        r"path_lambdas_\[1\] = 0\.000319\d+",
    ),
    "lam_ of another point": (
        _state("lam_", lambda v: 0.5),
        r"lam_ is 0\.5; expected the penalty of the selected point, path_lambdas_\[1\]",
    ),
    "projection_ of other concepts": (
        _tensor("projection_", lambda a: a[:4]),
        r"projection_ has shape \(4, 6\); expected \(5, 6\)",
    ),
    "projection_mean_ of other concepts": (
        _tensor("projection_mean_", lambda a: np.append(a, 0.0).astype(a.dtype)),
        r"projection_mean_ has shape \(6,\); expected \(5,\)",
    ),
    "projection_std_ of other concepts": (
        _tensor("projection_std_", lambda a: a[:2]),
        r"projection_std_ has shape \(2,\); expected \(5,\)",
    ),
    "a zero standard deviation": (
        _tensor("projection_std_", lambda a: a * 0),
        r"projection_std_ holds 0; expected standard deviations > 0",
    ),
    "interpretability_ of another bank": (
        _tensor("interpretability_", lambda a: a[:3]),
        r"interpretability_ has 3 entries; expected one per concept of the stored bank \(5\)",
    ),
    # before: each loaded (any numbers, NaN and integers included)
    "a similarity above 1": (
        _tensor("interpretability_", lambda a: np.where(np.arange(len(a)) == 2, 1.5, a)),
        r"interpretability_\[2\] is 1\.5; expected cubed-cosine similarities, in \[-1, 1\]",
    ),
    "a similarity below -1": (
        _tensor("interpretability_", lambda a: np.full_like(a, -1.0001)),
        r"interpretability_\[0\] is -1\.0001; expected cubed-cosine similarities, in \[-1, 1\]",
    ),
    "a NaN similarity": (
        _tensor("interpretability_", lambda a: np.where(np.arange(len(a)) == 4, np.nan, a)),
        r"interpretability_ contains NaN or infinite values",
    ),
    "integer similarities": (
        _tensor("interpretability_", lambda a: np.ones(len(a), dtype=np.int64)),
        r"interpretability_ should be a float array, got an array of dtype int64",
    ),
    # before: loaded; fit keeps exactly the concepts whose similarity is above the cut-off
    "concepts kept below the cut-off": (
        lambda t, m: m["params"].__setitem__("interpretability_cutoff", 0.999),
        r"concept 'c0' is kept with interpretability_ .* and interpretability_cutoff 0\.999; "
        r"expected the concepts above the cut-off kept and the others dropped, as fit splits "
        r"them \(5 concept\(s\) differ\)",
    ),
    "a dropped concept the bank lacks": (
        _state("dropped_concepts_", lambda v: ["elsewhere"]),
        r"concept_names_ and dropped_concepts_ should split the stored bank's concepts, in "
        r"its order, into kept and dropped ones; got \['c0', 'c1', 'c2', 'c3'\] and "
        r"\['elsewhere'\]",
    ),
}


@pytest.mark.parametrize("case", list(LABEL_FREE_CASES))
def test_a_tampered_label_free_model_file_is_refused(fitted, tmp_path, case):
    model = fitted["LabelFreeCBM"]
    assert len(model.path_lambdas_) == 2 and model.path_selected_ == 1  # the cases' premise
    edit, message = LABEL_FREE_CASES[case]
    _assert_tampered_file_refused(model, tmp_path, edit, message)


def test_label_free_similarities_off_by_rounding_still_load(fitted, tmp_path):
    # fit's similarities are dot products of unit vectors: 1 + 3e-14 at 100,000 rows
    model = fitted["LabelFreeCBM"]
    src = model.save(tmp_path / "m.safetensors")
    edit = _tensor("interpretability_", lambda a: np.where(np.arange(len(a)) < 2, 1 + 1e-13, -1))
    loaded = LabelFreeCBM.load(_rewrite(src, tmp_path / "edge.safetensors", edit))
    assert loaded.interpretability_.tolist() == [1 + 1e-13, 1 + 1e-13, -1.0, -1.0, -1.0]


def _history(edit):
    def change(t, m):
        edit(m["state"]["history_"])

    return change


# before: each loaded (history_ and fit_seconds_ were "any JSON"); fixture: LaBo ran
# n_iter_=1 epoch with a validation split, so history_ has 2 entries per list
HISTORY_CASES = {
    "not a dict": (
        _state("history_", lambda v: [1, 2]),
        r"history_ should be a dict of the lists 'epoch', 'train_loss' \(and 'val_loss', "
        r"'val_accuracy' with validation data\), got \[1, 2\]",
    ),
    "an unknown curve": (
        _history(lambda h: h.__setitem__("extra", [0, 0])),
        r"history_ should be a dict of the lists 'epoch', 'train_loss'",
    ),
    "val_loss without val_accuracy": (
        _history(lambda h: h.pop("val_accuracy")),
        r"history_ should be a dict of the lists 'epoch', 'train_loss'",
    ),
    "a curve cut short": (
        _history(lambda h: h.__setitem__("train_loss", h["train_loss"][:1])),
        r"history_\['train_loss'\] should be a list of one entry per epoch 0\.\.n_iter_ "
        r"\(2\), got 1 entries",
    ),
    "a curve that is a number": (
        _history(lambda h: h.__setitem__("val_loss", 0.5)),
        r"history_\['val_loss'\] should be a list of one entry per epoch 0\.\.n_iter_ "
        r"\(2\), got 0\.5",
    ),
    "text in a curve": (
        _history(lambda h: h.__setitem__("train_loss", ["1.0", 0.5])),
        r"history_\['train_loss'\] should hold finite numbers in \[0, inf\], got '1\.0'",
    ),
    "a NaN loss": (
        _history(lambda h: h.__setitem__("val_loss", [float("nan"), 0.5])),
        r"history_\['val_loss'\] should hold finite numbers in \[0, inf\], got nan",
    ),
    "an accuracy above 1": (
        _history(lambda h: h.__setitem__("val_accuracy", [0.5, 1.5])),
        r"history_\['val_accuracy'\] should hold finite numbers in \[0, 1\], got 1\.5",
    ),
    "epochs out of order": (
        _history(lambda h: h.__setitem__("epoch", [1, 0])),
        r"history_\['epoch'\] is \[1, 0\]; expected the epochs 0\.\.n_iter_ = 0\.\.1",
    ),
    "an epoch that is an array": (
        _history(lambda h: h.__setitem__("epoch", [0, {"__ndarray__": [1, 2], "dtype": "<i8"}])),
        r"history_\['epoch'\] should hold finite numbers in \[0, inf\], got array",
    ),
    "best epoch never run": (
        _state("best_epoch_", lambda v: 5),
        r"best_epoch_ is 5; expected an epoch run, in \[0, n_iter_ = 1\]",
    ),
    # before: TypeError from np.isfinite (an integer beyond float64), naming no file
    "an integer loss beyond float64": (
        _history(lambda h: h.__setitem__("train_loss", [10**400, 0.5])),
        r"history_\['train_loss'\] should hold finite numbers in \[0, inf\], got 1000000",
    ),
    "a huge n_iter_": (
        _state("n_iter_", lambda v: 10**15),
        r"history_\['epoch'\] should be a list of one entry per epoch 0\.\.n_iter_ "
        r"\(1000000000000001\), got 2 entries",
    ),
}


@pytest.mark.parametrize("case", list(HISTORY_CASES))
def test_a_tampered_labo_history_is_refused(fitted, tmp_path, case):
    model = fitted["LaBo"]
    assert model.n_iter_ == 1 and "val_loss" in model.history_  # the cases' premise
    edit, message = HISTORY_CASES[case]
    _assert_tampered_file_refused(model, tmp_path, edit, message)


def _drop_validation_curves(t, m):
    del m["state"]["history_"]["val_loss"], m["state"]["history_"]["val_accuracy"]


# before: each loaded; fixture: 6 rows of the 60 held out (2 per class), validation
# accuracies 2/6 and 5/6
VALIDATION_INDEX_CASES = {
    "negative rows": (
        _tensor("validation_indices_", lambda a: a - 100),
        r"validation_indices_ holds -9\d; expected rows of the training data, >= 0",
    ),
    "a repeated row": (
        _tensor("validation_indices_", lambda a: np.r_[a[:1], a[:-1]]),
        r"validation_indices_ is not strictly increasing \((\d+) then \1\); fit stores the "
        r"held-out rows sorted, each once",
    ),
    "unsorted rows": (
        _tensor("validation_indices_", lambda a: a[::-1].copy()),
        r"validation_indices_ is not strictly increasing \(\d+ then \d+\)",
    ),
    "truncated": (
        _tensor("validation_indices_", lambda a: a[:5]),
        r"history_\['val_accuracy'\]\[0\] = 0\.333\d+ is not a whole number of correct "
        r"predictions out of the 5 rows of validation_indices_; the held-out rows do not "
        r"match the training record \(cut or added\)",
    ),
    "a row added": (
        _tensor("validation_indices_", lambda a: np.r_[a, 59]),
        r"history_\['val_accuracy'\]\[0\] = 0\.333\d+ is not a whole number of correct "
        r"predictions out of the 7 rows",
    ),
    "held-out rows never validated on": (
        _drop_validation_curves,
        r"validation_indices_ holds 6 held-out rows but history_ has no validation curves",
    ),
    # before: loaded (the file did not store how many rows fit had)
    "a row past the training data": (
        _tensor("validation_indices_", lambda a: np.r_[a[:-1], 65]),
        r"validation_indices_ holds 65; expected rows of the training data, in "
        r"\[0, n_samples_fit_ = 60\)",
    ),
    "every row of a class held out": (
        lambda t, m: (
            t.__setitem__("model/validation_indices_", np.arange(6)),
            m["state"].__setitem__("n_samples_fit_", 8),
        ),
        r"validation_indices_ holds 6 of the n_samples_fit_ = 8 rows; fit keeps at least one "
        r"row of each of the 3 classes for training",
    ),
    "n_samples_fit_ not a count": (
        _state("n_samples_fit_", lambda v: "60"),
        r"n_samples_fit_ should be a non-negative integer, got '60'",
    ),
}


@pytest.mark.parametrize("case", list(VALIDATION_INDEX_CASES))
def test_tampered_labo_validation_indices_are_refused(fitted, tmp_path, case):
    model = fitted["LaBo"]
    assert len(model.validation_indices_) == 6  # the cases' premise
    assert model.history_["val_accuracy"] == [pytest.approx(2 / 6), pytest.approx(5 / 6)]
    edit, message = VALIDATION_INDEX_CASES[case]
    _assert_tampered_file_refused(model, tmp_path, edit, message)


def test_a_labo_file_written_before_n_samples_fit_still_loads(fitted, data, tmp_path):
    # older files lack n_samples_fit_: loaded as None (the indices' upper bound unchecked)
    model = fitted["LaBo"]
    assert model.n_samples_fit_ == N
    src = model.save(tmp_path / "m.safetensors")
    old = _rewrite(
        src, tmp_path / "old.safetensors", lambda t, m: m["state"].pop("n_samples_fit_")
    )
    loaded = LaBo.load(old)
    assert loaded.n_samples_fit_ is None
    np.testing.assert_array_equal(loaded.validation_indices_, model.validation_indices_)
    np.testing.assert_array_equal(loaded.predict_proba(data[0]), model.predict_proba(data[0]))
    assert LaBo.load(loaded.save(tmp_path / "again.safetensors")).n_samples_fit_ is None


@pytest.mark.parametrize(
    ("seconds", "message"),
    [
        # before: each loaded
        ("fast", r"fit_seconds_ should be a dict of the wall times 'projection' and 'head', "),
        ({"projection": 1.0}, r"fit_seconds_ should be a dict of the wall times"),
        (
            {"projection": 1.0, "head": -2.0},
            r"fit_seconds_ should hold wall times \(s\) in \[0, inf\], got -2\.0",
        ),
        (
            {"projection": [1.0], "head": 2.0},
            r"fit_seconds_ should hold wall times \(s\) in \[0, inf\], got \[1\.0\]",
        ),
        # before: TypeError from np.isfinite (an integer beyond float64), naming no file
        (
            {"projection": 1.0, "head": 10**400},
            r"fit_seconds_ should hold wall times \(s\) in \[0, inf\], got 1000000",
        ),
    ],
)
def test_a_tampered_label_free_fit_seconds_is_refused(fitted, tmp_path, seconds, message):
    edit = _state("fit_seconds_", lambda v: seconds)
    _assert_tampered_file_refused(fitted["LabelFreeCBM"], tmp_path, edit, message)


# --------------------------------------------------------------------- editing
def test_prune_lists_a_concept_given_twice_once(fitted, data):
    # before: prune([0, 0]) and prune(["c0", 0]) gave pruned_concepts_ == ["c0", "c0"], and
    # with fill="mean" moved the concept's mean contribution into the intercept twice
    # (a silently different model from prune(0))
    model = fitted["PosthocCBM"]
    first = model.concept_names_[0]
    assert model.prune([0, 0]).pruned_concepts_ == [first]
    twice = model.prune([first, 0, 1])
    assert twice.pruned_concepts_ == [first, model.concept_names_[1]]
    np.testing.assert_array_equal(twice.coef_, model.prune([0, 1]).coef_)
    np.testing.assert_array_equal(twice.intercept_, model.prune([0, 1]).intercept_)


# ----------------------------------------------------------------------- torch
SHAPE = r"Z: expected embeddings of shape \(n, 6\) .*got shape "
FLOAT = r"Z: expected a floating-point torch tensor .*got "


@pytest.mark.parametrize(
    ("Z", "error", "message"),
    [
        # before: torch's "mat1 and mat2 shapes cannot be multiplied (2x4 and 6x5)"
        (torch.zeros(2, 4), ValueError, SHAPE + r"\(2, 4\)"),
        (torch.zeros(6), ValueError, SHAPE + r"\(6,\)"),
        # before: torch's "expected m1 and m2 to have the same dtype" / numpy's matmul
        (torch.zeros(2, 6, dtype=torch.int64), TypeError, FLOAT + r"a torch\.int64 tensor"),
        (np.zeros((2, 6)), TypeError, FLOAT + "ndarray"),
    ],
)
def test_torch_forward_names_bad_embeddings(fitted, Z, error, message):
    model = fitted["PCBM-h"]
    for method in (model.transform_torch, model.logits_torch):
        with pytest.raises(error, match=message):
            method(Z)


def test_torch_forward_matches_numpy(fitted, data):
    model = fitted["PCBM-h"]
    Z = torch.tensor(data[0][:3])
    np.testing.assert_allclose(
        model.logits_torch(Z).numpy(), model._logits(data[0][:3]), rtol=1e-5
    )


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("seed", ["x", -1, [1, 2], {"a": 1}])
def test_a_model_file_with_a_bad_random_state_is_refused(fitted, family, seed, tmp_path):
    # before: loaded (every family); a refit then failed on a value the file had brought
    src = fitted[family].save(tmp_path / "m.safetensors")
    bad = _rewrite(
        src,
        tmp_path / "bad.safetensors",
        lambda t, m: m["params"].__setitem__("random_state", seed),
    )
    with pytest.raises(
        ValueError, match=r"bad\.safetensors': invalid hyper-parameters \(random_state"
    ):
        type(fitted[family]).load(bad)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_model_that_load_would_refuse_is_not_saved(fitted, tmp_path, family):
    # before: save wrote weights beyond the magnitude limit (a LabelFreeCBM fitted on
    # embeddings of scale 1e-19 reaches 7e18), and the file was refused only at the next
    # load; now save refuses with load's message and leaves the model and the folder as
    # they were
    model = copy.deepcopy(fitted[family])
    huge = np.full_like(model.coef_, 1e30)
    model.coef_ = huge.copy()
    path = tmp_path / "m.safetensors"
    with pytest.raises(ValueError, match=r"coef_ holds a value of magnitude 1e\+30; .* not saved"):
        model.save(path)
    assert list(tmp_path.iterdir()) == []
    np.testing.assert_array_equal(model.coef_, huge)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_model_file_of_a_huge_name_is_refused(fitted, tmp_path, family):
    # before: four of the six families loaded it (a bank file's names were held to 4096
    # characters, a model file's own list of concept names was not), then showed it whole
    # in every message and plot; two refused it for another reason
    def edit(t, m):
        m["state"]["concept_names_"][0] = "x" * 5000

    message = r"concept_names_\[0\] has 5000 characters; at most 4096 are accepted"
    _assert_tampered_file_refused(fitted[family], tmp_path, edit, message)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_model_file_whose_bank_is_not_a_dict_is_refused(fitted, tmp_path, family):
    # before: AttributeError: 'list' object has no attribute 'get', from deep inside
    # ConceptBank.from_state (every family), naming no file
    def edit(t, m):
        m["concepts"]["bank"] = ["not", "a", "dict"]

    message = r"the bank's metadata is a list; expected a JSON object"
    _assert_tampered_file_refused(fitted[family], tmp_path, edit, message)


def _params(key, value):
    return lambda t, m: m["params"].__setitem__(key, value)


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("device", [{"evil": [1, 2]}, "evil", 5, "cuda" * 100])
def test_a_model_file_whose_device_is_not_a_device_is_refused(fitted, tmp_path, family, device):
    # before: loaded (every family), the device kept as given; a refit then failed on it
    message = r"device is .*; expected None or the name of a torch device such as 'cpu'"
    _assert_tampered_file_refused(fitted[family], tmp_path, _params("device", device), message)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_model_file_pruning_a_concept_it_lacks_is_refused(fitted, tmp_path, family):
    # before: loaded (every family), pruned_concepts_ naming a concept no model has
    edit = _state("pruned_concepts_", lambda v: ["not a concept"])
    message = r"pruned_concepts_ names 'not a concept', which is not a concept of the model"
    _assert_tampered_file_refused(fitted[family], tmp_path, edit, message)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_model_file_pruning_a_concept_twice_is_refused(fitted, tmp_path, family):
    # before: loaded; prune lists each concept once
    def edit(t, m):
        m["state"]["pruned_concepts_"] = [m["state"]["concept_names_"][0]] * 2

    message = r"pruned_concepts_ lists a concept twice; expected each once"
    _assert_tampered_file_refused(fitted[family], tmp_path, edit, message)


def _rename(names):
    return _state("concept_names_", lambda v: names(v))


@pytest.mark.parametrize("family", ["PosthocCBM", "PCBM-h", "LaBo"])
def test_a_model_file_whose_concepts_are_not_its_bank_s_is_refused(fitted, tmp_path, family):
    # before: loaded and explained its weights with the file's names, not its bank's
    edit = _rename(lambda v: ["wing", *v[1:]])
    message = (
        r"concept_names_\[0\] is 'wing' but the stored bank's concept 0 is 'c0'; expected the "
        rf"bank's 5 names, in its order \(the concept layer of a {type(fitted[family]).__name__} "
        r"is its bank\)"
    )
    _assert_tampered_file_refused(fitted[family], tmp_path, edit, message)
    swapped = _rename(lambda v: [v[1], v[0], *v[2:]])
    message = r"concept_names_\[0\] is 'c1' but the stored bank's concept 0 is 'c0'"
    _assert_tampered_file_refused(fitted[family], tmp_path, swapped, message)


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (
            lambda v: ["wing", *v[1:]],
            r"concept_names_ holds 'wing', which is not a concept of the stored bank",
        ),
        (
            lambda v: v[::-1],
            r"concept_names_ lists the stored bank's concepts out of the bank's order",
        ),
    ],
)
def test_a_label_free_file_whose_concepts_are_not_its_bank_s_is_refused(
    fitted, tmp_path, names, message
):
    # before: loaded (LabelFreeCBM keeps some of the bank's concepts, in its order)
    _assert_tampered_file_refused(fitted["LabelFreeCBM"], tmp_path, _rename(names), message)


def test_a_model_whose_concepts_are_not_its_bank_s_is_not_saved(fitted, tmp_path):
    model = copy.deepcopy(fitted["PosthocCBM"])
    model.concept_names_ = ["wing", *model.concept_names_[1:]]
    with pytest.raises(ValueError, match=r"concept_names_\[0\] is 'wing' .* not saved"):
        model.save(tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("accuracy", "message"),
    [
        # before: each loaded (the schema asked for any number)
        (-5, r"validation_accuracy_ should be a fraction in \[0, 1\], got -5"),
        (10**30, r"validation_accuracy_ should be a fraction in \[0, 1\], got 10{30}"),
        (1.5, r"validation_accuracy_ should be a fraction in \[0, 1\], got 1\.5"),
        (True, r"validation_accuracy_ should be a fraction in \[0, 1\], got True"),
    ],
)
def test_a_knowledge_file_of_an_accuracy_outside_0_1_is_refused(
    fitted, tmp_path, accuracy, message
):
    edit = _state("validation_accuracy_", lambda v: accuracy)
    _assert_tampered_file_refused(fitted["KnowledgeCBM"], tmp_path, edit, message)


def test_a_knowledge_model_fitted_without_validation_saves_and_loads(data, tmp_path):
    # before: save refused it ("validation_accuracy_ is missing (None); the model needs
    # it"): fit with validation_fraction=0 stores None, which the schema did not allow
    X, y, bank = data
    model = KnowledgeCBM(bank, max_epochs=1, validation_fraction=0, random_state=0).fit(X, y)
    assert model.validation_accuracy_ is None
    loaded = KnowledgeCBM.load(model.save(tmp_path / "m.safetensors"))
    assert loaded.validation_accuracy_ is None
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("n_dead", [9, 10**30])
def test_a_discovered_file_of_more_dead_atoms_than_atoms_is_refused(fitted, tmp_path, n_dead):
    # before: loaded; the fixture's dictionary has 8 atoms
    edit = _state("n_dead_", lambda v: n_dead)
    message = rf"n_dead_ is {n_dead}; expected a count of the dictionary's atoms that never "
    message += r"fired, in \[0, 8\]"
    _assert_tampered_file_refused(fitted["DiscoveredCBM"], tmp_path, edit, message)


def test_a_discovered_file_whose_every_atom_is_dead_still_loads(fitted, tmp_path):
    model = fitted["DiscoveredCBM"]
    src = model.save(tmp_path / "m.safetensors")
    edited = _rewrite(src, tmp_path / "e.safetensors", _state("n_dead_", lambda v: 8))
    assert DiscoveredCBM.load(edited).n_dead_ == 8


def test_a_label_free_file_of_an_integer_penalty_beyond_float64_is_refused(fitted, tmp_path):
    # before: loaded (the schema's "number" took any integer), a float() of it overflowing
    edit = _state("lam_", lambda v: 10**400)
    message = r"lam_ should be a finite number, got 10{50}"
    _assert_tampered_file_refused(fitted["LabelFreeCBM"], tmp_path, edit, message)
