"""One concept projection: ``ConceptBank.project`` on numpy and torch, and every caller."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from bottlekit.bottleneck import KnowledgeCBM, LabelFreeCBM, LaBo, PosthocCBM
from bottlekit.concepts import ConceptBank
from bottlekit.concepts.projection import linear_concept_activations
from bottlekit.concepts.selection import class_similarity

K_TEXT, K_CAV, D = 3, 4, 6


def _mixed_bank(seed=0):
    """Three text concepts then four CAVs with non-zero intercepts, vectors not unit."""
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((K_TEXT + K_CAV, D)) * rng.uniform(0.5, 3, (K_TEXT + K_CAV, 1))
    b = np.r_[np.zeros(K_TEXT), rng.standard_normal(K_CAV)]
    prov = [{"kind": "text"}] * K_TEXT + [{"kind": "cav"}] * K_CAV
    names = [f"t{i}" for i in range(K_TEXT)] + [f"v{i}" for i in range(K_CAV)]
    return ConceptBank(names, V, "bb", intercepts=b, provenance=prov)


def _brute_force(bank, X):
    """The papers' formulas, concept by concept, in float64."""
    X = np.asarray(X, dtype=np.float64)
    out = np.empty((len(X), len(bank)))
    for j, kind in enumerate(bank.kinds):
        v, b = bank.vectors[j].astype(np.float64), float(bank.intercepts[j])
        for i, x in enumerate(X):
            if kind == "text":  # cosine similarity
                out[i, j] = v @ x / (np.linalg.norm(v) * np.linalg.norm(x))
            else:  # signed distance to the hyperplane v.x + b = 0
                out[i, j] = (v @ x + b) / np.linalg.norm(v)
    return out


def _embeddings(n=9, seed=1):
    return np.random.default_rng(seed).standard_normal((n, D)) * 2.5  # not unit rows


def test_bank_cosine_mask_and_layer():
    bank = _mixed_bank()
    np.testing.assert_array_equal(bank.cosine, [True] * K_TEXT + [False] * K_CAV)
    W, b, cos = bank.projection_layer()
    assert W.dtype == b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(W, axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(
        b, bank.intercepts / np.linalg.norm(bank.vectors, axis=1), rtol=1e-6
    )
    np.testing.assert_array_equal(cos, bank.cosine)
    assert bank.projection_layer(np.float64).weights.dtype == np.float64


def test_project_numpy_equals_brute_force_for_each_kind():
    bank, X = _mixed_bank(), _embeddings()
    A = bank.project(X)
    assert A.dtype == np.float32 and A.shape == (len(X), len(bank))
    np.testing.assert_allclose(A, _brute_force(bank, X), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_project_torch_equals_brute_force_and_keeps_dtype(dtype):
    bank, X = _mixed_bank(), _embeddings()
    A = bank.project(torch.as_tensor(X, dtype=dtype))
    assert isinstance(A, torch.Tensor) and A.dtype == dtype and A.device == torch.device("cpu")
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(A.numpy(), _brute_force(bank, X), rtol=tol, atol=tol)
    # numpy and torch give the same numbers (same code path)
    np.testing.assert_allclose(
        bank.project(torch.as_tensor(X, dtype=torch.float32)).numpy(),
        bank.project(X),
        rtol=1e-6,
        atol=1e-6,
    )


def test_project_torch_gradients_flow_and_match_closed_form():
    bank = _mixed_bank()
    X = torch.as_tensor(_embeddings(4), dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(bank.project, (X,))
    bank.project(X).sum().backward()
    # closed form: d/dx of sum_j a_j(x); CAV term v/|v|, cosine term (u - (u.x̂) x̂)/|x|
    x = X.detach().numpy()
    V = bank.vectors.astype(np.float64)
    W = V / np.linalg.norm(V, axis=1, keepdims=True)
    u = W[:K_TEXT].sum(0)
    xn = np.linalg.norm(x, axis=1, keepdims=True)
    xh = x / xn
    expected = W[K_TEXT:].sum(0) + (u - (xh @ u)[:, None] * xh) / xn
    np.testing.assert_allclose(X.grad.numpy(), expected, rtol=1e-10)


def test_project_zero_embedding_and_bad_input():
    bank = _mixed_bank()
    for X in (np.zeros((1, D)), torch.zeros(1, D)):
        A = np.asarray(bank.project(X), dtype=np.float64)
        np.testing.assert_allclose(A[0, :K_TEXT], 0)  # cosine of a zero vector: 0, not NaN
        np.testing.assert_allclose(A[0, K_TEXT:], bank.projection_layer().bias[K_TEXT:])
    with pytest.raises(ValueError, match=r"X must have shape \(n, 6\), got \(2, 5\)"):
        bank.project(torch.zeros(2, 5))
    with pytest.raises(TypeError, match="floating-point tensor"):
        bank.project(torch.zeros(2, D, dtype=torch.int64))
    with pytest.raises(ValueError, match="NaN or inf"):
        bank.project(np.full((1, D), np.nan))


def test_cosine_activations_of_huge_and_tiny_embeddings():
    # A cosine is scale-free. Before, the row norms overflowed (rows of 1e200 in float64,
    # 1e20 in float32: norm inf, every cosine activation 0, so PCBM and LaBo fitted a
    # chance-level model without a word) or underflowed (1e-200: norm 0, taken for a zero
    # embedding and left unnormalised). Ordinary rows keep their exact values.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 16))
    W, b = rng.standard_normal((5, 16)), rng.standard_normal(5)
    cos = np.array([True, False, True, True, False])
    exact = X @ W.T / np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_array_equal(
        linear_concept_activations(X, W, b, cos), np.where(cos, exact, X @ W.T) + b
    )
    every = np.ones(5, dtype=bool)
    for scale in (1e200, 1e-200):
        np.testing.assert_allclose(
            linear_concept_activations(X * scale, W, b, every), exact + b, rtol=1e-12
        )
    Xt = torch.tensor(X, dtype=torch.float32)
    np.testing.assert_allclose(
        linear_concept_activations(Xt * 1e20, W, b, every).numpy(),
        linear_concept_activations(Xt, W, b, every).numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


def test_linear_concept_activations_unit_rows_give_class_means():
    bank, X = _mixed_bank(), _embeddings(12)
    y = np.repeat([0, 1, 2], 4)
    sim, classes = class_similarity(bank, X, y)
    A = _brute_force(bank, X)
    expected = np.stack([A[y == c].mean(0) for c in classes], axis=1)
    np.testing.assert_allclose(sim, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="unit"):
        linear_concept_activations(torch.zeros(1, D), *bank.projection_layer(), unit=X[:1])


def _fit_data(bank, seed=3):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], 30)
    X = rng.standard_normal((60, D)) + y[:, None]
    return X / np.linalg.norm(X, axis=1, keepdims=True), y


@pytest.mark.parametrize("model_class", [PosthocCBM, LaBo])
def test_cbm_transform_is_bank_projection(model_class):
    """The CBMs that keep the bank's concepts fixed see exactly ``bank.project``."""
    bank = _mixed_bank()
    X, y = _fit_data(bank)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = model_class(bank, random_state=0).fit(X, y)
    layer = bank.projection_layer()
    for got, want in zip(
        (model.concept_weights_, model.concept_bias_, model.concept_normalize_),
        layer,
        strict=True,
    ):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(model.transform(X), bank.project(X), rtol=1e-6, atol=1e-6)
    Z = torch.as_tensor(X, dtype=torch.float64)
    np.testing.assert_allclose(
        model.transform_torch(Z).numpy(), model.transform(X), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("model_class", [LabelFreeCBM, KnowledgeCBM])
def test_learned_concept_layers_use_the_same_rule(model_class):
    """Learned layers: transform == link(W x~ + b) by brute force, numpy and torch alike."""
    bank = _mixed_bank()
    X, y = _fit_data(bank)
    kw = {"max_epochs": 5} if model_class is KnowledgeCBM else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = model_class(bank, random_state=0, **kw).fit(X, y)
    W = model.concept_weights_.astype(np.float64)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    Z = np.where(model.concept_normalize_, Xn @ W.T, X @ W.T) + model.concept_bias_
    if model.concept_link_ == "sigmoid":
        Z = 1 / (1 + np.exp(-Z))
    np.testing.assert_allclose(model.transform(X), Z, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        model.transform_torch(torch.as_tensor(X)).numpy(), Z, rtol=1e-10, atol=1e-12
    )


def test_tensor_layer_arguments_and_device():
    bank, X = _mixed_bank(), _embeddings()
    W, b, cos = (torch.as_tensor(a) for a in bank.projection_layer(np.float64))
    Z = torch.as_tensor(X, dtype=torch.float64)
    np.testing.assert_allclose(
        linear_concept_activations(Z, W, b, cos).numpy(), _brute_force(bank, X), rtol=1e-12
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_project_on_cuda_stays_on_the_device():
    bank, X = _mixed_bank(), _embeddings()
    Z = torch.as_tensor(X, dtype=torch.float32, device="cuda").requires_grad_(True)
    A = bank.project(Z)
    assert A.device == Z.device and A.dtype == torch.float32
    A.sum().backward()
    assert Z.grad is not None and Z.grad.device == Z.device
    np.testing.assert_allclose(A.detach().cpu().numpy(), bank.project(X), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("weights", "bias", "cosine", "message"),
    [
        # before: [[0.6, 0.8, 1.4]], every concept a cosine concept, silently
        (np.eye(3, 2), [0.0, 0.0, 0.0], [True], r"cosine: expected shape \(3,\), one per"),
        # before: the one bias added to every concept, silently
        (np.eye(3, 2), [1.0], [True, False, False], r"bias: expected shape \(3,\), one per"),
        # before: numpy's "matmul: Input operand 1 has a mismatch in its core dimension"
        (np.eye(3, 1), [0.0] * 3, [False] * 3, r"weights: expected shape \(k, 2\) for X"),
    ],
)
def test_linear_concept_activations_refuses_shapes_that_broadcast(weights, bias, cosine, message):
    X = np.array([[3.0, 4.0]])
    with pytest.raises(ValueError, match=message):
        linear_concept_activations(X, weights, bias, cosine)
    with pytest.raises(ValueError, match=message):
        linear_concept_activations(torch.tensor(X), weights, bias, cosine)
