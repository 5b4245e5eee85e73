"""ConceptBank: projection formulas, subset/merge, persistence and validation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bottlekit.concepts import ConceptBank, from_text


def _bank(k=3, d=5, seed=0, **kw):
    rng = np.random.default_rng(seed)
    return ConceptBank([f"c{i}" for i in range(k)], rng.standard_normal((k, d)), "bb", **kw)


def test_project_text_is_cosine():
    rng = np.random.default_rng(1)
    bank = _bank()
    X = rng.standard_normal((7, 5))
    expected = (X / np.linalg.norm(X, axis=1, keepdims=True)) @ (
        bank.vectors / np.linalg.norm(bank.vectors, axis=1, keepdims=True)
    ).T
    # float32 storage: 1e-5 relative error bound on values in [-1, 1]
    np.testing.assert_allclose(bank.project(X), expected, atol=1e-5)


def test_project_cav_is_signed_distance_to_hyperplane():
    rng = np.random.default_rng(2)
    v = rng.standard_normal((2, 4))
    b = np.array([0.5, -1.0])
    bank = ConceptBank(["a", "b"], v, "bb", intercepts=b, provenance=[{"kind": "cav"}] * 2)
    X = rng.standard_normal((6, 4)) * 3  # not normalised: CAVs must not rescale X
    expected = (X @ v.T + b) / np.linalg.norm(v, axis=1)
    np.testing.assert_allclose(bank.project(X), expected, rtol=1e-5, atol=1e-5)
    # a point on the hyperplane has activation 0, one unit along v/|v| beyond it has 1
    u = v[0] / np.linalg.norm(v[0])
    on_plane = -b[0] / np.linalg.norm(v[0]) * u
    np.testing.assert_allclose(
        bank.project(np.stack([on_plane, on_plane + u]))[:, 0], [0, 1], atol=1e-5
    )


def test_subset_merge_len_repr():
    bank = _bank(k=6)
    sub = bank.subset(["c4", "c1"])
    assert sub.names == ["c4", "c1"]
    np.testing.assert_array_equal(sub.vectors, bank.vectors[[4, 1]])
    assert bank.subset([0, -1]).names == ["c0", "c5"]
    mask = np.zeros(6, bool)
    mask[[2, 3]] = True
    assert bank.subset(mask).names == ["c2", "c3"]
    r = repr(bank)
    assert "k=6" in r and "'c0'" in r and "+2" in r and "'c5'" not in r
    other = ConceptBank(["x", "c0"], np.ones((2, 5)), "bb")
    with pytest.raises(ValueError, match="share 1 name"):
        bank.merge(other)
    merged = bank.merge(other, on_duplicate="keep_first")
    assert len(merged) == 7 and merged.names[-1] == "x"
    with pytest.raises(ValueError, match="built for backbone 'bb'"):
        bank.merge(ConceptBank(["z"], np.ones((1, 5)), "other"))
    with pytest.raises(KeyError, match="'nope'"):
        bank.subset(["nope"])


def test_merge_aligns_class_priors_on_union_of_classes():
    a = ConceptBank(
        ["a1", "a2"], np.eye(2, 3), "bb", class_prior=[[1, 0], [0, 1]], class_names=["cat", "dog"]
    )
    b = ConceptBank(
        ["b1"], np.ones((1, 3)), "bb", class_prior=[[1], [1]], class_names=["dog", "fox"]
    )
    m = a.merge(b)
    assert m.class_names == ["cat", "dog", "fox"]
    np.testing.assert_array_equal(m.class_prior, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])


def test_save_load_round_trip_and_backbone_check(tmp_path, backbone):
    bank = from_text(backbone, ["red crest", "long tail", "webbed feet"], templates=["a {}"])
    bank = bank.merge(
        ConceptBank(
            ["cav"],
            np.ones((1, backbone.embed_dim)),
            backbone.id,
            intercepts=[0.25],
            provenance=[{"kind": "cav", "heldout_accuracy": 0.9}],
            class_prior=[[1.0]],
            class_names=["heron"],
        )
    )
    path = bank.save(tmp_path / "bank.safetensors")
    back = ConceptBank.load(path, backbone=backbone)
    assert back.names == bank.names and back.backbone_id == backbone.id
    np.testing.assert_array_equal(back.vectors, bank.vectors)
    np.testing.assert_array_equal(back.intercepts, bank.intercepts)
    np.testing.assert_array_equal(back.class_prior, bank.class_prior)
    assert back.provenance == bank.provenance and back.class_names == ["heron"]
    X = np.random.default_rng(0).standard_normal((4, backbone.embed_dim))
    np.testing.assert_array_equal(back.project(X), bank.project(X))
    # the JSON half is readable without bottlekit
    from safetensors import safe_open

    with safe_open(str(path), "np") as fh:
        assert json.loads(fh.metadata()["bottlekit"])["names"][0] == "red crest"
    # no temporary files left behind by the atomic write
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bank.safetensors"]

    class Other:
        id = "ViT-L-14"
        embed_dim = 64

    with pytest.raises(ValueError, match=r"built for backbone 'fake-bow-64'.*'ViT-L-14'"):
        ConceptBank.load(path, backbone=Other())
    with pytest.raises(ValueError, match="used with backbone 'x'"):
        back.check_backbone("x")


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"names": []}, ValueError, "names is empty"),
        ({"names": ["a", " "]}, ValueError, r"names\[1\] is an empty"),
        ({"names": ["a", "a"]}, ValueError, "duplicate name 'a' at positions 0 and 1"),
        ({"names": "ab"}, TypeError, "list of strings"),
        ({"vectors": np.full((2, 3), np.nan)}, ValueError, "NaN or inf for 2 concept"),
        ({"vectors": np.ones((3, 3))}, ValueError, r"shape \(len\(names\), d\) = \(2, d\)"),
        ({"vectors": np.zeros((2, 3))}, ValueError, "all-zero rows"),
        ({"intercepts": [1.0]}, ValueError, r"intercepts must have shape \(2,\)"),
        ({"provenance": [{"kind": "magic"}, {}]}, ValueError, "kind"),
        ({"provenance": [{"x": object()}, {}]}, TypeError, "JSON"),
        ({"class_prior": np.ones((2, 2))}, ValueError, "without class_names"),
        ({"class_prior": np.ones((1, 3)), "class_names": ["k"]}, ValueError, "class_prior must"),
    ],
)
def test_validation_errors(kwargs, exc, match):
    args = {"names": ["a", "b"], "vectors": np.ones((2, 3)), "backbone_id": "bb"}
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        ConceptBank(**args)


def test_project_rejects_bad_input():
    bank = _bank()
    with pytest.raises(ValueError, match=r"shape \(n, 5\)"):
        bank.project(np.ones((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        bank.project(np.full((2, 5), np.nan))


def test_project_refuses_embeddings_float32_cannot_hold():
    bank = ConceptBank(["a"], np.array([[1.0, 0.0]]), "toy")
    # before: 1e-300 became 0 in float32 and its cosine activation 0 instead of 1, silently
    with pytest.raises(ValueError, match=r"X: 1 nonzero row\(s\) \(first: 1\) are below float32"):
        bank.project(np.array([[0.0, 0.0], [1e-300, 0.0]]))
    # before: "X contains NaN or inf" for finite values
    with pytest.raises(ValueError, match=r"X: row 0 holds 1e\+39, beyond float32's range"):
        bank.project(np.array([[1e39, 0.0]]))
    # a zero embedding is still taken: its activations are 0
    np.testing.assert_array_equal(bank.project(np.zeros((1, 2))), [[0.0]])


def test_vectors_float32_cannot_hold_are_named_as_such():
    # before: "vectors contain NaN or inf" / "all-zero rows" for finite nonzero vectors
    with pytest.raises(ValueError, match=r"vectors: row 1 holds 1e\+300, beyond float32"):
        ConceptBank(["a", "b"], np.array([[1.0, 0.0], [1e300, 0.0]]), "toy")
    with pytest.raises(ValueError, match=r"vectors: 1 nonzero row\(s\) \(first: 0\) are below"):
        ConceptBank(["a", "b"], np.array([[1e-300, 0.0], [1.0, 0.0]]), "toy")


def test_a_small_but_nonzero_vector_is_a_concept():
    # before: the float32 norm of entries of 1e-30 underflowed to 0 and the bank refused
    # the vector as an "all-zero row"; the projection (normed in float64) is scale-free
    v = np.array([[3.0, 4.0, 0.0], [0.0, 1.0, 1.0]])
    small = ConceptBank(["a", "b"], v * [[1e-30], [1.0]], "toy")
    X = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_allclose(small.project(X), ConceptBank(["a", "b"], v, "toy").project(X))
    with pytest.raises(ValueError, match=r"all-zero rows for concept\(s\) \['a'\]"):
        ConceptBank(["a", "b"], v * [[0.0], [1.0]], "toy")


@pytest.mark.parametrize("dtype", [np.int32, "nope", object])
def test_projection_layer_refuses_a_dtype_that_is_not_floating(dtype):
    # before: np.int32 truncated the unit weights [[0.6, 0.8]] to [[0, 0]], silently
    bank = ConceptBank(["a"], np.array([[3.0, 4.0]]), "toy", intercepts=[10.0])
    with pytest.raises(TypeError, match="dtype: expected a floating-point numpy dtype"):
        bank.projection_layer(dtype)
    assert bank.projection_layer(np.float64).weights.tolist() == [[0.6, 0.8]]
