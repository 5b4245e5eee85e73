"""DiscoveredCBM (DN-CBM): discovered, named atoms + sparse head; persistence and editing."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from bottlekit.bottleneck import DiscoveredCBM
from bottlekit.concepts import ConceptBank


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    atoms = np.linalg.qr(rng.normal(size=(16, 6)))[0].T
    codes = (rng.random((600, 6)) < 0.3) * rng.uniform(1, 2, (600, 6))
    X = codes @ atoms + 0.01 * rng.normal(size=(600, 16))
    y = (codes[:, 0] > 0).astype(int) + 2 * (codes[:, 1] > 0)
    vocab = ConceptBank(
        [f"planted {i}" for i in range(6)] + [f"other {i}" for i in range(50)],
        np.vstack([atoms, rng.normal(size=(50, 16))]),
        "toy",
    )
    model = DiscoveredCBM(
        vocab, n_concepts=12, k=2, epochs=30, learning_rate=1e-2, lam=1e-4, random_state=0
    )
    return model.fit(X, y), X, y


def test_discovered_cbm_names_and_uses_the_planted_concepts(fitted):
    model, X, y = fitted
    assert model.score(X, y) > 0.95
    assert {"planted 0", "planted 1"} <= set(model.concept_names_)
    # the label depends on planted 0 and 1: the head leans on atoms named after them (an
    # atom that splits a planted direction is named "planted 0 [atom j]")
    top = model.global_importance().argsort()[::-1][:4]
    assert {model.concept_names_[i].split(" [atom")[0] for i in top} >= {"planted 0", "planted 1"}
    assert model.dictionary_.shape == (12, 16)
    assert len(model.atom_ids_) == 12 - model.n_dead_


def test_discovered_cbm_round_trips_through_a_file(fitted, tmp_path):
    model, X, _ = fitted
    again = DiscoveredCBM.load(model.save(tmp_path / "dn.safetensors"))
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(again.atom_ids_, model.atom_ids_)
    np.testing.assert_array_equal(again.name_confidence_, model.name_confidence_)
    pruned = again.prune("planted 0")
    assert pruned.score(X, fitted[2]) < model.score(X, fitted[2])


def test_discovered_cbm_refuses_bad_parameters(fitted):
    _, X, y = fitted
    with pytest.raises(ValueError, match="method"):
        DiscoveredCBM(fitted[0].concepts, method="pca").fit(X, y)
    with pytest.raises(ValueError, match="n_concepts"):
        DiscoveredCBM(fitted[0].concepts, n_concepts=10_000).fit(X, y)


@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        (
            "dictionary_",
            lambda a: a[:1].copy(),
            r"dictionary_ has 1 atoms; expected n_concepts=12",
        ),
        ("atom_ids_", lambda a: np.full_like(a, 999), r"atom_ids_ .*expected .* in \[0, 12\)"),
        ("atom_ids_", lambda a: np.full_like(a, -1), r"atom_ids_ .*expected .* in \[0, 12\)"),
        ("atom_ids_", lambda a: np.zeros_like(a), r"atom_ids_ .*expected distinct"),
    ],
)
def test_a_file_whose_atoms_do_not_match_its_dictionary_is_refused(
    fitted, tmp_path, name, edit, message
):
    import json

    from safetensors import safe_open
    from safetensors.numpy import save_file

    path = fitted[0].save(tmp_path / "dn.safetensors")
    with safe_open(str(path), "np") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    tensors[f"model/{name}"] = edit(tensors[f"model/{name}"])
    save_file(tensors, str(path), metadata=meta)
    assert json.loads(meta["bottlekit"])["class"] == "DiscoveredCBM"
    with pytest.raises(ValueError, match=r"dn\.safetensors.*" + message):
        DiscoveredCBM.load(path)
