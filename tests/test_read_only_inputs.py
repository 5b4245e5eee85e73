"""Read-only numpy inputs (memory-mapped embeddings, cache arrays, frozen arrays).

torch cannot share memory with a read-only array: ``torch.as_tensor`` / ``torch.from_numpy``
wrap it anyway and warn that writing to the tensor is undefined behaviour. Every entry
point below converted a caller's array that way; each now goes through
:func:`bottlekit.devices.as_tensor`, which copies such an array. Each case runs on a
writable array, then on the same values read-only (``flags.writeable = False``, or a real
``np.load(..., mmap_mode="r")`` file), and asserts no warning at all and the same result,
bit for bit.

torch issues that warning once per process; ``torch.set_warn_always`` makes it fire on
every conversion, so that each case sees its own.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

KINDS = ("frozen", "mmap")


@pytest.fixture(autouse=True)
def _torch_warns_every_time():
    before = torch.is_warn_always_enabled()
    torch.set_warn_always(True)
    yield
    torch.set_warn_always(before)


def _read_only(a: np.ndarray, kind: str, tmp_path: Path, name: str) -> np.ndarray:
    """``a``'s values in a read-only array: a frozen copy or a memory-mapped .npy file."""
    if kind == "frozen":
        b = np.array(a)
        b.flags.writeable = False
        return b
    path = tmp_path / f"{name}.npy"
    np.save(path, a)
    b = np.load(path, mmap_mode="r")
    assert not b.flags.writeable
    return b


def _run_both(
    make: Callable[..., Any], arrays: dict[str, np.ndarray], kind: str, tmp_path: Path
) -> tuple[Any, Any]:
    """``make(**arrays)`` on writable arrays, then on read-only ones with every warning an
    error; the read-only arrays must come back unchanged."""
    expected = make(**{k: np.array(v) for k, v in arrays.items()})
    frozen = {k: _read_only(v, kind, tmp_path, k) for k, v in arrays.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = make(**frozen)
    for k, v in arrays.items():
        np.testing.assert_array_equal(frozen[k], v, err_msg=f"{k} was modified")
    return got, expected


def _assert_same(got: Any, expected: Any) -> None:
    if isinstance(expected, dict):
        assert set(got) == set(expected)
        for k in expected:
            _assert_same(got[k], expected[k])
    elif isinstance(expected, (tuple, list)):
        assert len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            _assert_same(g, e)
    elif isinstance(expected, torch.Tensor):
        assert torch.equal(got, expected)
    elif isinstance(expected, (np.ndarray, float, int, np.number)):
        np.testing.assert_array_equal(got, expected)
    else:
        assert got == expected


_rng = np.random.default_rng(0)
_X = _rng.standard_normal((40, 3))
_Y = _X[:, :2] + 0.5 * _rng.standard_normal((40, 2))
_A32 = _rng.standard_normal((30, 4)).astype(np.float32)
_y = (np.arange(30) % 2).astype(np.int64)


# ---------------------------------------------------------------- estimators
def _cs_exact(X, Y):
    from bottlekit.estimators import cs_divergence

    return cs_divergence(X, Y + 0.3, sigma=0.7)


def _cs_random_tiles(X, Y):
    from bottlekit.estimators import cs_divergence

    return cs_divergence(
        X, Y + 0.3, sigma=0.7, approximation="random_tiles", n_tiles=4, random_state=0
    )


def _information_plane(X, y):
    from bottlekit.estimators import InformationPlane

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    plane = InformationPlane(net, ["1", "2"], X, y, batch_size=7)
    plane.record(epoch=0)
    return plane.activations(), plane.i_xt, plane.i_ty


ESTIMATOR_CASES = {
    "cs_divergence": (_cs_exact, {"X": _X[:, :2], "Y": _Y}),
    "cs_divergence_random_tiles": (_cs_random_tiles, {"X": _X[:, :2], "Y": _Y}),
    "InformationPlane": (_information_plane, {"X": _A32, "y": _y}),
}


# ------------------------------------------------------------------ concepts
def _bank(vectors: np.ndarray):
    from bottlekit.concepts import ConceptBank

    bank = ConceptBank([f"c{i}" for i in range(len(vectors))], vectors, "test")
    bank.vectors = vectors  # as a caller's frozen array: the constructor copies
    return bank


def _splice(X, image_mean, vectors):
    from bottlekit.concepts.discovery.splice import decompose

    out = decompose(X, _bank(vectors), l1=0.05, image_mean=image_mean, device="cpu")
    return out.weights, out.n_iter


def _linear_concept_activations(weights, bias, cosine):
    from bottlekit.concepts.projection import linear_concept_activations

    return linear_concept_activations(torch.as_tensor(_A32), weights, bias, cosine)


CONCEPT_CASES = {
    "splice.decompose": (
        _splice,
        {
            "X": _A32,
            "image_mean": _A32.mean(0) + np.float32(0.1),
            "vectors": _rng.standard_normal((6, 4)).astype(np.float32),
        },
    ),
    "linear_concept_activations": (
        _linear_concept_activations,
        {
            "weights": _rng.standard_normal((5, 4)).astype(np.float32),
            "bias": _rng.standard_normal(5).astype(np.float32),
            "cosine": np.array([True, False, True, False, False]),
        },
    ),
}


# ---------------------------------------------------------------- bottleneck
_BANK_VECTORS = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)


def _posthoc_logits_torch(coef_, intercept_, concept_weights_, concept_bias_):
    """A fitted CBM whose attributes are read-only (as ``joblib.load(mmap_mode="r")``
    gives them): the torch path converts them."""
    from bottlekit.bottleneck import PosthocCBM

    X = _A32.astype(np.float64)
    bank = _bank(_BANK_VECTORS)
    model = PosthocCBM(bank, max_iter=20, random_state=0).fit(X, _y)
    for name, value in (
        ("coef_", coef_),
        ("intercept_", intercept_),
        ("concept_weights_", concept_weights_),
        ("concept_bias_", concept_bias_),
    ):
        assert getattr(model, name).shape == value.shape
        setattr(model, name, value)
    return model.logits_torch(torch.as_tensor(X))


def _fit_projection(X_train, P_train, X_val, P_val):
    from bottlekit.bottleneck.label_free import fit_projection

    return fit_projection(
        X_train, P_train, X_val, P_val, steps=5, lr=1e-2, rng=np.random.default_rng(0)
    )


def _train_prior_head(A, y, prior):
    from bottlekit.bottleneck.knowledge import train_prior_head

    return train_prior_head(A, y, 2, prior, max_epochs=3, rng=np.random.default_rng(0))


def _train_association(A, y, W0, A_val, y_val):
    from bottlekit.bottleneck.labo import train_association

    return train_association(
        A, y, W0, A_val=A_val, y_val=y_val, max_epochs=3, rng=np.random.default_rng(0)
    )


def _backbone_linear_classifier(weight, bias):
    from bottlekit import load_backbone
    from bottlekit.bottleneck import BackboneLinearClassifier

    bk = load_backbone("world-tiny", device="cpu")
    clf = BackboneLinearClassifier(bk, weight, bias)
    with torch.no_grad():
        return clf(torch.linspace(0, 1, 2 * 3 * 64 * 64).reshape(2, 3, 64, 64))


_P = _X @ _rng.standard_normal((3, 2))
BOTTLENECK_CASES = {
    "PosthocCBM.logits_torch": (
        _posthoc_logits_torch,
        {
            "coef_": _rng.standard_normal((2, 3)),
            "intercept_": _rng.standard_normal(2),
            "concept_weights_": _rng.standard_normal((3, 4)).astype(np.float32),
            "concept_bias_": _rng.standard_normal(3).astype(np.float32),
        },
    ),
    "fit_projection": (
        _fit_projection,
        {"X_train": _X[:30], "P_train": _P[:30], "X_val": _X[30:], "P_val": _P[30:]},
    ),
    "train_prior_head": (
        _train_prior_head,
        {"A": _A32, "y": _y, "prior": np.tanh(_rng.standard_normal((2, 4))).astype(np.float32)},
    ),
    "train_association": (
        _train_association,
        {
            "A": _A32[:20],
            "y": _y[:20],
            "W0": _rng.standard_normal((2, 4)).astype(np.float32),
            "A_val": _A32[20:],
            "y_val": _y[20:],
        },
    ),
    "BackboneLinearClassifier": (
        _backbone_linear_classifier,
        {
            "weight": _rng.standard_normal((3, 64)).astype(np.float32),
            "bias": _rng.standard_normal(3).astype(np.float32),
        },
    ),
}


# ----------------------------------------------------------- images → torch
_IMAGES = np.random.default_rng(2).integers(0, 256, size=(3, 64, 64, 3), dtype=np.uint8)


def _encode_images(images):
    from bottlekit import load_backbone

    bk = load_backbone("world-tiny", device="cpu")
    return bk.encode_images(images, batch_size=2, progress=False, num_workers=0)


def _model_features(images):
    from bottlekit.diagnostics.model_features import model_features

    torch.manual_seed(0)
    clf = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(3 * 64 * 64, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2)
    )
    return model_features(clf, images, batch_size=2)


def _shard_encoder(x):
    """A Ray worker's encoding of a decoded shard: its float32 model input comes from
    ``np.frombuffer`` on the shard's bytes, read-only."""
    from bottlekit import load_backbone
    from bottlekit.distributed.pipeline import _ShardEncoder

    encoder = object.__new__(_ShardEncoder)  # without Ray's actor set-up
    encoder.backbone = load_backbone("world-tiny", device="cpu")
    encoder.ctx = {"batch_size": 2}
    return encoder._encode(x)


IMAGE_CASES = {
    "Backbone.encode_images": (_encode_images, {"images": _IMAGES}),
    "model_features": (_model_features, {"images": _IMAGES}),
    "distributed._ShardEncoder._encode": (
        _shard_encoder,
        {"x": np.random.default_rng(3).standard_normal((3, 3, 64, 64)).astype(np.float32)},
    ),
}

CASES = {**ESTIMATOR_CASES, **CONCEPT_CASES, **BOTTLENECK_CASES, **IMAGE_CASES}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_read_only_input_gives_the_same_result_without_warning(case, kind, tmp_path):
    make, arrays = CASES[case]
    got, expected = _run_both(make, arrays, kind, tmp_path)
    _assert_same(got, expected)


# ------------------------------------------------- audited, no change needed
# These entry points copy or compute a new array before torch sees the caller's (check by
# arithmetic, astype, fancy indexing); guards so that a later change cannot start wrapping
# a read-only input unnoticed.
def _vib(X, y):
    from bottlekit.bottleneck import VIBClassifier

    est = VIBClassifier(
        bottleneck_dim=2, hidden_sizes=(4,), max_epochs=2, random_state=0, device="cpu"
    )
    return est.fit(X, y).predict_proba(X)


def _neural_mi(X, Y):
    from bottlekit.estimators import NeuralMutualInformation

    return NeuralMutualInformation("infonce", max_steps=3, random_state=0).fit(X, Y).mi_


def _discover_sae(X):
    from bottlekit.concepts.discovery import discover

    out = discover(X, 4, "topk_sae", k=2, epochs=2, batch_size=16, random_state=0)
    return out.dictionary, out.encoder_weight, out.codes, out.history


def _labo(X, y):
    from bottlekit.bottleneck import LaBo

    bank = _bank(_BANK_VECTORS)
    est = LaBo(bank, max_epochs=2, random_state=0, device="cpu").fit(X, y)
    return est.predict_proba(X)


GUARD_CASES = {
    "VIBClassifier": (_vib, {"X": _X, "y": np.arange(40) % 2}),
    "NeuralMutualInformation": (_neural_mi, {"X": _X[:, :2], "Y": _Y}),
    "discover(topk_sae)": (_discover_sae, {"X": _rng.standard_normal((40, 4)).astype(np.float32)}),
    "LaBo": (_labo, {"X": _A32.astype(np.float64), "y": _y}),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", sorted(GUARD_CASES))
def test_entry_points_that_copy_first_stay_silent_on_read_only_input(case, kind, tmp_path):
    make, arrays = GUARD_CASES[case]
    got, expected = _run_both(make, arrays, kind, tmp_path)
    _assert_same(got, expected)


def test_the_torch_warning_is_live_in_this_file():
    """The premise of the cases above: wrapping a read-only array warns here, every time."""
    a = np.arange(3.0)
    a.flags.writeable = False
    for _ in range(2):
        with pytest.warns(UserWarning, match="not writable"):
            torch.as_tensor(a)
