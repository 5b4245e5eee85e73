"""Every trained torch path takes ``device=`` (resolved by bottlekit.devices) and honours it.

For each path: with ``device="cpu"`` every tensor the optimiser updates lives on the CPU
(recorded by a spy on ``torch.optim.Adam``), an unknown or unavailable device is a
ValueError naming ``device``, and on a machine with CUDA the same fit runs there (skipped
without CUDA). The kernel sums of the CS estimators are covered in their own tests.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

NO_CUDA = not torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(NO_CUDA, reason="needs a CUDA device")
#: Device values that must be refused here: not a device at all, and CUDA without CUDA
#: (or a CUDA index this machine does not have).
BAD_DEVICES = ["gpu0", "cuda:99"]


def _regression(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, X[:, 0] + 0.1 * rng.normal(size=n)


def _classes(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    return np.eye(2, 3)[y] + 0.6 * rng.normal(size=(n, 3)) + np.array([0, 0, 1.0]), y


def _toy_bank():
    from bottlekit.concepts import ConceptBank

    return ConceptBank(
        ["red", "blue"], np.eye(2, 3), "toy", class_prior=np.eye(2), class_names=["a", "b"]
    )


def fit_csib(device):
    from bottlekit.bottleneck import CSIBRegressor

    small = {"max_epochs": 2, "hidden_sizes": (8,), "bottleneck_dim": 4, "random_state": 0}
    return CSIBRegressor(**small, device=device).fit(*_regression())


def fit_vib(device):
    from bottlekit.bottleneck import VIBClassifier

    small = {"max_epochs": 2, "hidden_sizes": (8,), "bottleneck_dim": 4, "random_state": 0}
    return VIBClassifier(**small, device=device).fit(*_classes())


def fit_neural_mi(device):
    from bottlekit.estimators import NeuralMutualInformation

    X, y = _regression(200)
    est = NeuralMutualInformation(max_steps=3, eval_every=1, random_state=0, device=device)
    return est.fit(X, y)


def fit_autoencoder(device):
    from bottlekit.estimators import AutoencoderCompressor

    return AutoencoderCompressor(1, epochs=2, code_noise=0.1, device=device).fit(_regression()[0])


def fit_sae(device):
    from bottlekit.concepts.discovery import discover

    X = np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32)
    return discover(X, n_concepts=4, k=1, epochs=2, device=device, random_state=0)


def fit_labo(device):
    from bottlekit.bottleneck import LaBo

    return LaBo(_toy_bank(), max_epochs=2, random_state=0, device=device).fit(*_classes())


def fit_lfcbm(device):
    from bottlekit.bottleneck import LabelFreeCBM

    small = {"projection_steps": 5, "interpretability_cutoff": None, "n_lambdas": 2}
    model = LabelFreeCBM(_toy_bank(), **small, max_epochs=2, random_state=0, device=device)
    return model.fit(*_classes())


TRAINED: dict[str, Callable] = {
    "CS-IB": fit_csib,
    "VIB": fit_vib,
    "neural MI": fit_neural_mi,
    "autoencoder compressor": fit_autoencoder,
    "SAE discovery": fit_sae,
    "LaBo": fit_labo,
    "LF-CBM": fit_lfcbm,
}


@pytest.fixture
def adam_devices(monkeypatch):
    """Devices of every tensor handed to torch.optim.Adam during the test."""
    seen: list[torch.device] = []
    original = torch.optim.Adam

    class SpyAdam(original):
        def __init__(self, params, *args, **kwargs):
            params = list(params)
            for p in params:
                group = p["params"] if isinstance(p, dict) else [p]
                seen.extend(t.device for t in group)
            super().__init__(params, *args, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", SpyAdam)
    return seen


@pytest.mark.parametrize("path", list(TRAINED))
def test_device_cpu_is_honoured(path, adam_devices):
    TRAINED[path]("cpu")
    assert adam_devices, f"{path}: no optimiser was created"
    assert {d.type for d in adam_devices} == {"cpu"}


@pytest.mark.parametrize("bad", BAD_DEVICES)
@pytest.mark.parametrize("path", list(TRAINED))
def test_a_bad_device_is_refused_naming_the_argument(path, bad):
    if not NO_CUDA and bad.startswith("cuda") and torch.cuda.device_count() > 99:
        pytest.skip("this machine has a cuda:99")
    with pytest.raises(ValueError, match=rf"device: '{bad}'"):
        TRAINED[path](bad)


@needs_cuda
@pytest.mark.parametrize("path", list(TRAINED))
def test_device_cuda_is_honoured(path, adam_devices):
    TRAINED[path]("cuda")
    assert adam_devices and {d.type for d in adam_devices} == {"cuda"}


# ------------------------------------------------ paths without an optimiser of their own
def test_information_plane_probes_on_the_device_asked_for():
    from bottlekit.estimators import InformationPlane

    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    X = np.random.default_rng(0).normal(size=(40, 4))
    y = np.arange(40) % 2
    plane = InformationPlane(net, ["1"], X, y, device="cpu")
    assert plane.device == torch.device("cpu")
    plane.record(0)
    assert len(plane.i_xt["1"]) == 1
    for bad in BAD_DEVICES:
        with pytest.raises(ValueError, match=rf"device: '{bad}'"):
            InformationPlane(net, ["1"], X, y, device=bad)


def test_activation_maps_run_on_the_backbones_device():
    """Maps run where the backbone is (``load_backbone(..., device=)``)."""
    import bottlekit
    from bottlekit.concepts import from_text
    from bottlekit.visualize import ConceptSaliency

    bk = bottlekit.load_backbone("world-tiny", device="cpu")
    assert {p.device.type for p in bk.model.parameters()} == {"cpu"}
    maps = ConceptSaliency(bk, from_text(bk, ["red body"])).attribute(
        bottlekit.make_world(2, "test").images
    )
    assert maps.shape == (2, 1, 64, 64) and np.isfinite(maps).all()
    for bad in BAD_DEVICES:
        with pytest.raises(ValueError, match=rf"device: '{bad}'"):
            bottlekit.load_backbone("world-tiny", device=bad)


@needs_cuda
def test_activation_maps_on_cuda_equal_the_cpu_maps():
    import bottlekit
    from bottlekit.concepts import from_text
    from bottlekit.visualize import ConceptIntegratedGradients

    images = bottlekit.make_world(2, "test").images
    maps = []
    for device in ("cpu", "cuda"):
        bk = bottlekit.load_backbone("world-tiny", device=device)
        bank = from_text(bk, ["red body", "long tail"])
        maps.append(ConceptIntegratedGradients(bk, bank, n_steps=8).attribute(images))
    np.testing.assert_allclose(maps[1], maps[0], rtol=1e-3, atol=1e-5)


def test_as_tensor_copies_read_only_arrays_and_shares_writable_ones():
    from bottlekit.devices import as_tensor

    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    shared = as_tensor(a, dtype=torch.float32)
    assert shared.data_ptr() == a.ctypes.data  # same memory: no copy
    a.flags.writeable = False
    copied = as_tensor(a, dtype=torch.float32)
    assert copied.data_ptr() != a.ctypes.data
    assert torch.equal(copied, shared)
    assert as_tensor(a, dtype=torch.float64).dtype == torch.float64


def test_pcbm_h_on_read_only_embeddings_does_not_warn():
    """Memory-mapped embeddings are read-only; torch warned 'not writable ... undefined
    behavior' when the residual wrapped them. torch warns once per process;
    ``torch.set_warn_always`` makes it warn here even if an earlier test was warned."""
    import warnings

    from bottlekit.bottleneck import PosthocCBM
    from bottlekit.concepts import ConceptBank

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 8))
    y = np.arange(60) % 3
    X.flags.writeable = False
    bank = ConceptBank([f"c{i}" for i in range(4)], rng.standard_normal((4, 8)), "test")
    before = torch.is_warn_always_enabled()
    torch.set_warn_always(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            PosthocCBM(bank, residual=True, residual_epochs=1, random_state=0).fit(X, y)
    finally:
        torch.set_warn_always(before)
