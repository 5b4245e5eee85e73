"""Renamed hyper-parameters: the new name works, the old one still does (FutureWarning)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file
from sklearn.base import clone

from bottlekit.bottleneck import KnowledgeCBM, LabelFreeCBM
from bottlekit.bottleneck.knowledge import train_prior_head
from bottlekit.concepts import ConceptBank


def _data(n=200, d=6, k=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    V = rng.normal(size=(k, d))
    y = np.argmax(X @ V[:3].T, axis=1)
    bank = ConceptBank([f"c{j}" for j in range(k)], V, "toy", provenance=[{"kind": "cav"}] * k)
    return X, y, bank


LF = dict(projection_steps=50, interpretability_cutoff=None, n_lambdas=4, max_epochs=20)
KNO = dict(max_epochs=30, validation_fraction=0.3, pseudo_label_quantile=0.3)


def _fit_quietly(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        return model.fit(X, y)


@pytest.mark.parametrize(
    ("make", "old", "new", "value", "fitted"),
    [
        (lambda **kw: LabelFreeCBM(**LF, random_state=0, **kw), "alpha", "l1_ratio", 0.5, "coef_"),
        (lambda **kw: KnowledgeCBM(**KNO, random_state=0, **kw), "n_iter_no_change", "patience",
         2, "n_epochs_"),
    ],
)  # fmt: skip
def test_old_name_is_a_deprecated_alias(make, old, new, value, fitted):
    X, y, bank = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # the new name warns nothing
        a = _fit_quietly(make(concepts=bank, **{new: value}), X, y)
    b_model = make(concepts=bank, **{old: value})
    assert b_model.get_params()[old] == value and clone(b_model).get_params()[old] == value
    with pytest.warns(FutureWarning, match=f"'{old}' is renamed '{new}'"):
        b = _fit_quietly(b_model, X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert np.array_equal(getattr(a, fitted, None), getattr(b, fitted, None))
    # the alias wins over the new name when both are given
    with pytest.warns(FutureWarning):
        c = _fit_quietly(
            make(concepts=bank, **{old: value, new: 0.9 if new == "l1_ratio" else 7}), X, y
        )
    np.testing.assert_array_equal(c.coef_, a.coef_)


def test_early_stopping_alias_changes_the_fit():
    """patience really stops early (so the alias test above compares something)."""
    X, y, bank = _data()
    full = _fit_quietly(KnowledgeCBM(bank, **KNO, random_state=0), X, y)
    early = _fit_quietly(KnowledgeCBM(bank, **KNO, patience=1, random_state=0), X, y)
    assert early.n_epochs_ < full.n_epochs_ == KNO["max_epochs"]


def test_train_prior_head_alias():
    rng = np.random.default_rng(0)
    A = rng.random((120, 3))
    y = (A[:, 0] > A[:, 1]).astype(int)
    kw = dict(max_epochs=40, validation_fraction=0.3)
    new = train_prior_head(A, y, 2, None, patience=1, rng=np.random.default_rng(1), **kw)
    with pytest.warns(FutureWarning, match="'n_iter_no_change' is renamed 'patience'"):
        old = train_prior_head(
            A, y, 2, None, n_iter_no_change=1, rng=np.random.default_rng(1), **kw
        )
    np.testing.assert_array_equal(new[0], old[0])
    assert new[2] == old[2]


def test_file_saved_with_the_old_name_loads_with_the_new(tmp_path):
    X, y, bank = _data()
    model = _fit_quietly(LabelFreeCBM(bank, **LF, l1_ratio=0.5, random_state=0), X, y)
    path = model.save(tmp_path / "m.safetensors")
    with safe_open(str(path), framework="np") as fh:
        meta = json.loads(fh.metadata()["bottlekit"])
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    params = meta["params"]
    params["alpha"] = params.pop("l1_ratio")  # as a file written before the rename
    save_file(tensors, str(path), metadata={"bottlekit": json.dumps(meta)})
    loaded = LabelFreeCBM.load(path)
    assert loaded.l1_ratio == 0.5 and loaded.alpha == "deprecated"
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
