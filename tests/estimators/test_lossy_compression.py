"""MI after lossy compression (Butakov et al. 2024), validated as the paper validates it.

Images X, Y (16 x 16, the paper's size) are drawn from 2-D Gaussian vectors with a known
MI by a fixed smooth injective map (a Gaussian blob centred at the vectors' normal CDF,
the paper's "Gaussian plots"), so I(X;Y) is known exactly although X and Y have 256
dimensions. Compressing each by an autoencoder and estimating KSG on the codes must
recover it."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from bottlekit.estimators import (
    AutoencoderCompressor,
    CompressedInformationPlane,
    CompressedMutualInformation,
    GaussianNoise,
    InformationPlane,
    gaussian_blob_images,
)
from bottlekit.estimators.synthetic_images import blob_images


def _flat(A):
    return A.reshape(len(A), -1)


def _estimate(mi, n, seed, n_components=2, epochs=150):
    X, Y, truth = gaussian_blob_images(n, mi, dim=2, image_size=16, random_state=seed)
    est = CompressedMutualInformation(
        "autoencoder",
        n_components=n_components,
        k=3,
        compressor_options={"epochs": epochs},
        random_state=seed,
    ).fit(_flat(X), _flat(Y))
    return est.mi_, truth


def test_known_mi_of_images_is_recovered_after_autoencoder_compression():
    """Fast variant: 1,000 pairs, 1 nat, 3-D codes. At this n the autoencoders lose
    about 0.1 nats (0.886 measured; 2-D codes: 0.83-0.84), so the tolerance is 0.15;
    the paper-sized check is the slow test below."""
    mi, truth = _estimate(1.0, 1000, seed=3, n_components=3)
    assert mi == pytest.approx(truth, abs=0.15)
    assert mi < truth + 0.05  # compression can only lose information


def test_independent_images_give_about_zero():
    mi, _ = _estimate(0.0, 1000, seed=4, epochs=60)
    assert abs(mi) < 0.06


@pytest.mark.slow
@pytest.mark.parametrize("truth", [1.0, 2.0])
def test_known_mi_within_error_bars_at_the_papers_dimensions(truth):
    """16 x 16 images of 2-D latents, 2,000 pairs, three independent datasets and
    autoencoders (3-D codes). Error bar: twice the standard deviation over the three
    runs, floored at 0.1 nats (KSG's own finite-sample bias on the 2-D latents themselves
    is 0.02-0.04 nats here)."""
    runs = [_estimate(truth, 2000, seed=s, n_components=3, epochs=200)[0] for s in (0, 1, 2)]
    error_bar = max(2 * float(np.std(runs, ddof=1)), 0.1)
    assert abs(float(np.mean(runs)) - truth) <= error_bar


def test_pca_recovers_mi_through_a_linear_injective_map():
    """PCA inverts a linear injective map exactly: the closed-form Gaussian MI is kept."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 2))
    y = 0.8 * x + 0.6 * rng.standard_normal((2000, 2))
    X, Y = x @ rng.standard_normal((2, 40)), y @ rng.standard_normal((2, 30))
    est = CompressedMutualInformation("pca", n_components=2).fit(X, Y)
    assert est.mi_ == pytest.approx(-np.log(1 - 0.64), abs=0.06)  # 2 x 0.511


def test_discrete_labels_are_not_compressed():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 500)
    X = np.outer(y + 0.05 * rng.standard_normal(1000), np.ones(20))
    est = CompressedMutualInformation("pca", n_components=1, discrete_y=True).fit(X, y)
    assert est.Y_codes_.shape == (1000,)
    assert est.mi_ == pytest.approx(np.log(2), abs=0.03)


def test_the_image_map_is_deterministic_and_in_range():
    latent = np.random.default_rng(0).standard_normal((5, 4))
    a, b = blob_images(latent, 16), blob_images(latent, 16)
    assert a.shape == (5, 2, 16, 16)
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0 and a.max() <= 1


def test_bad_input_is_refused_with_a_clear_error():
    X = np.random.default_rng(0).standard_normal((50, 6))
    with pytest.raises(ValueError, match="same number of samples"):
        CompressedMutualInformation("pca").fit(X, X[:-1])
    with pytest.raises(ValueError, match="compressor must be one of"):
        CompressedMutualInformation("umap").fit(X, X)
    with pytest.raises(TypeError, match="Y must hold discrete labels"):
        CompressedMutualInformation("pca", discrete_y=True).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="NaN"):
        CompressedMutualInformation("pca").fit(np.full_like(X, np.nan), X)
    with pytest.raises(ValueError, match="at least"):
        CompressedMutualInformation("pca").fit(X[:0], X[:0])
    with pytest.raises(ValueError, match=r"^hidden_sizes: expected a tuple of positive ints"):
        AutoencoderCompressor(hidden_sizes=(0,)).fit(X)
    with pytest.raises(ValueError, match=r"learning_rate must be a number > 0, got 0\.0"):
        AutoencoderCompressor(learning_rate=0.0).fit(X)
    with pytest.raises(ValueError, match="pca_first must be an integer >= 1"):
        AutoencoderCompressor(pca_first=0).fit(X)
    with pytest.raises(ValueError, match="X must have 6 columns"):
        AutoencoderCompressor(epochs=1).fit(X).transform(X[:, :3])
    with pytest.raises(ValueError, match="dim must be even"):
        gaussian_blob_images(10, 1.0, dim=3)
    with pytest.raises(ValueError, match="mi must be"):
        gaussian_blob_images(10, -1.0)
    with pytest.raises(ValueError, match="std must be"):
        GaussianNoise(-0.1)


def test_gaussian_noise_is_active_in_eval_mode_with_the_stated_std():
    layer = GaussianNoise(0.3).eval()
    torch.manual_seed(0)
    out = layer(torch.ones(50000, 1))
    assert float(out.mean()) == pytest.approx(1.0, abs=0.01)
    assert float(out.std()) == pytest.approx(0.3, abs=0.01)
    assert torch.equal(GaussianNoise(0.0)(torch.ones(3)), torch.ones(3))


def test_compressed_plane_of_a_known_noisy_layer():
    """X ~ N(0, I_2) lifted linearly into 20-D; the layer is T = first input coordinate
    x1 (exactly, by its weights) plus noise of std 0.5: I(X;T) = 0.5 log2(1 + 1/0.25)
    = 1.161 bits. PCA undoes the lift, so the plane must find it."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 2))
    lift = rng.standard_normal((2, 20))
    X = (x @ lift).astype(np.float32)
    layer = torch.nn.Linear(20, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.linalg.pinv(lift)[:, :1].T.astype(np.float32)))
    net = torch.nn.Sequential(layer)
    y = (x[:, 0] > 0).astype(int)
    plane = CompressedInformationPlane(
        net, ["0"], X, y, noise_std=0.5, compressor="pca", compress_dim=2, random_state=0
    )
    plane.record()
    assert plane.i_xt["0"][0] == pytest.approx(0.5 * np.log2(5.0), abs=0.08)
    assert 0 < plane.i_ty["0"][0] <= 1.0 + 0.05


def test_compressed_plane_rejects_bad_parameters():
    net = torch.nn.Sequential(torch.nn.Linear(4, 2))
    X = np.zeros((10, 4), dtype=np.float32)
    y = np.arange(10) % 2
    with pytest.raises(ValueError, match="noise_std must be a number >= 0"):
        CompressedInformationPlane(net, ["0"], X, y, noise_std=-1.0)
    with pytest.raises(ValueError, match="compressor: expected one of"):
        CompressedInformationPlane(net, ["0"], X, y, compressor="tsne")
    with pytest.raises(ValueError, match="y: expected 10 rows"):
        CompressedInformationPlane(net, ["0"], X, y[:-1])
    with pytest.raises(ValueError, match="not sub-modules"):
        CompressedInformationPlane(net, ["nope"], X, y)
    with pytest.raises(TypeError, match="x_compressor_options: expected a dict"):
        CompressedInformationPlane(net, ["0"], X, y, x_compressor_options=[("epochs", 3)])


def test_autoencoder_leaves_the_global_torch_generators_alone(monkeypatch):
    # fit called torch.manual_seed: after it the caller's draws were the same whatever
    # they had seeded, and CUDA's generators were reseeded too
    X = np.random.default_rng(0).standard_normal((100, 6))
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    cuda_seeds = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", cuda_seeds.append)
    codes = AutoencoderCompressor(epochs=2, random_state=1).fit(X).transform(X)
    assert torch.equal(torch.rand(3), expected)
    assert cuda_seeds == []
    torch.random.default_generator.manual_seed(7)  # the fit does not depend on it
    again = AutoencoderCompressor(epochs=2, random_state=1).fit(X).transform(X)
    np.testing.assert_array_equal(again, codes)


def test_autoencoder_after_a_pca_projection():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3)) @ rng.standard_normal((3, 50))
    ae = AutoencoderCompressor(2, epochs=5, pca_first=3).fit(X)
    assert ae.pca_.n_components == 3
    codes = ae.transform(X)
    assert codes.shape == (200, 2)
    assert np.all((codes >= 0) & (codes <= 1))  # sigmoid code


def test_autoencoder_standardises_data_near_the_float_limit():
    # 200 values near 5e306 sum past float64's maximum: a plain mean overflows to inf
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4)) + 5.0
    small = AutoencoderCompressor(2, epochs=3, random_state=0).fit(X)
    huge = AutoencoderCompressor(2, epochs=3, random_state=0).fit(X * 1e306)
    assert np.all(np.isfinite(huge.mean_))
    np.testing.assert_allclose(huge.mean_ / 1e306, small.mean_, rtol=1e-12)
    np.testing.assert_allclose(huge.transform(X * 1e306), small.transform(X), atol=1e-5)


def _wide_plane(noise_std, **kw):
    # an 8-unit layer compressed to 2 dimensions by PCA: the compressor that squares it
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    return CompressedInformationPlane(
        net, ["1"], X, y, noise_std=noise_std, compressor="pca", compress_dim=2, **kw
    )


@pytest.mark.parametrize("mi_estimator", ["ksg", "weighted_kl"])
def test_compressed_plane_refuses_noise_whose_squares_overflow(mi_estimator):
    # before: accepted, and the first record() died in numpy ("LinAlgError: Eigenvalues did
    # not converge") inside the PCA compressor's covariance of the noisy layer
    message = (
        "noise_std must be at most 9.68e+151 for 300 probe rows (the PCA compressor sums "
        "the noisy layer's squares over the rows, n * (8 * noise_std)**2 must stay below "
        "float64's 1.8e+308), got 1e+300"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        _wide_plane(1e300, mi_estimator=mi_estimator)


@pytest.mark.parametrize("mi_estimator", ["ksg", "weighted_kl"])
def test_compressed_plane_records_at_the_largest_noise_std(mi_estimator):
    # the bound is sound: at it the PCA compressor still works and the noise has drowned
    # the layer (I(X;T) near 0, as for any noise far above the layer's spread)
    plane = _wide_plane(np.sqrt(np.finfo(np.float64).max / 300) / 8, mi_estimator=mi_estimator)
    plane.record(epoch=0)
    plane.record(epoch=1)
    for values in (plane.i_xt["1"], plane.i_ty["1"]):
        assert np.all(np.isfinite(values)) and np.all(np.asarray(values) < 0.5)


class _Scale(torch.nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def _scaled_net(factor, width=8):
    """A tanh layer of ``width`` units times ``factor``: the tracked layer is ``"2"``."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(6, width), torch.nn.Tanh(), _Scale(factor), torch.nn.Linear(width, 2)
    )


def _probe():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 6)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(int)


@pytest.mark.parametrize("kind", ["information_plane", "compressed_pca"])
def test_pca_of_a_float32_layer_whose_squares_overflow_float32_runs_in_float64(kind):
    # before: a float32 layer of 1e19 (noise_std=0: the layer as the hook returns it, in
    # float32) overflowed the PCA's covariance, "LinAlgError: Eigenvalues did not converge".
    # Now the PCA runs in float64, which holds the layer exactly: the scale-invariant
    # k-NN estimates are those of the same layer at scale 1.
    X, y = _probe()

    def plane(factor):
        if kind == "information_plane":
            return InformationPlane(_scaled_net(factor), ["2"], X, y, estimator="ksg")
        return CompressedInformationPlane(
            _scaled_net(factor), ["2"], X, y, noise_std=0.0, compressor="pca", compress_dim=2
        )

    small, huge = plane(1.0), plane(1e19)
    small.record()
    huge.record()
    assert huge.i_xt["2"] == pytest.approx(small.i_xt["2"], rel=1e-12)
    assert huge.i_ty["2"] == pytest.approx(small.i_ty["2"], rel=1e-12)
    assert small.i_xt["2"][0] > 0.5


_PCA_OVERFLOW = "over 300 rows and 8 columns; a PCA of them overflows float64 "


def test_pca_compressors_refuse_samples_whose_squares_overflow_float64():
    # before: numpy's "LinAlgError: Eigenvalues did not converge" from inside scikit-learn
    # at 1e154, and at 1e153 a silently different estimate (0.021 nats for 0.096)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((300, 8))
    big = A * 1e154
    peak = re.escape(f"{np.abs(big).max():.3g}")
    with pytest.raises(ValueError, match=rf"^X: values up to {peak} {_PCA_OVERFLOW}.*; rescale"):
        CompressedMutualInformation("pca", 2).fit(big, A[:, :3])
    with pytest.raises(ValueError, match=rf"^Y: values up to {peak} {_PCA_OVERFLOW}"):
        CompressedMutualInformation("pca", 2).fit(A[:, :3], big)
    with pytest.raises(ValueError, match=rf"^X: values up to {peak} {_PCA_OVERFLOW}"):
        AutoencoderCompressor(2, epochs=2, pca_first=3).fit(big)
    with pytest.raises(ValueError, match=r"^X: values up to 3\.9e\+153 over 300 rows"):
        CompressedMutualInformation("pca", 2).fit(A * 1e153, A[:, :3])
    # 1e150 fits: the same estimate as at scale 1 (PCA codes scale, k-NN standardizes)
    est = CompressedMutualInformation("pca", 2, random_state=0)
    assert est.fit(A * 1e150, A[:, :3]).mi_ == pytest.approx(est.fit(A, A[:, :3]).mi_)


def test_compressed_plane_names_a_wide_noisy_layer_whose_pca_would_overflow():
    # before: the largest noise_std on a 100-unit layer summed its squares past float64
    # (n d sigma^2 = 1.6 times its largest value); scikit-learn's full SVD, chosen for
    # this shape, went on with infinite variances (its covariance solver, chosen from 10
    # rows a unit, fails with LinAlgError): refused, by name, whatever the solver
    X, y = _probe()
    noise = np.sqrt(np.finfo(np.float64).max / 300) / 8
    plane = CompressedInformationPlane(
        _scaled_net(1.0, width=100), ["2"], X, y, noise_std=noise, compressor="pca", compress_dim=2
    )
    with pytest.raises(ValueError, match=r"^layer '2': values up to .* over 300 rows and 100 co"):
        plane.record()
    assert plane.i_xt["2"] == [] and plane.epochs == []


def test_autoencoder_lr_is_a_deprecated_alias_of_learning_rate():
    # every other trained estimator calls Adam's step learning_rate (VIB, CS-IB, neural
    # MI, discover); AutoencoderCompressor called it lr. The old name still works for a
    # release: a FutureWarning, the same fit, and its errors name it
    X = np.random.default_rng(0).standard_normal((64, 3))
    new = AutoencoderCompressor(1, epochs=3, learning_rate=0.05).fit(X)
    with pytest.warns(FutureWarning, match="'lr' is renamed 'learning_rate'"):
        old = AutoencoderCompressor(1, epochs=3, lr=0.05).fit(X)
    np.testing.assert_array_equal(old.transform(X), new.transform(X))
    assert new.loss_ == old.loss_
    assert AutoencoderCompressor(1, epochs=3, learning_rate=0.01).fit(X).loss_ != new.loss_
    with (
        pytest.warns(FutureWarning),
        pytest.raises(ValueError, match=r"^lr must be a number > 0, got -1\.0"),
    ):
        AutoencoderCompressor(lr=-1.0).fit(X)
    assert "learning_rate" in AutoencoderCompressor().get_params()


def test_autoencoder_hidden_is_a_deprecated_alias_of_hidden_sizes():
    # the information-bottleneck models call the hidden layers' widths hidden_sizes;
    # AutoencoderCompressor called them hidden (kept one release, with a FutureWarning)
    X = np.random.default_rng(0).standard_normal((64, 3))
    new = AutoencoderCompressor(1, epochs=3, hidden_sizes=(8, 4)).fit(X)
    with pytest.warns(FutureWarning, match="'hidden' is renamed 'hidden_sizes'"):
        old = AutoencoderCompressor(1, epochs=3, hidden=(8, 4)).fit(X)
    np.testing.assert_array_equal(old.transform(X), new.transform(X))
    assert [m.out_features for m in new.encoder_ if hasattr(m, "out_features")] == [8, 4, 1]
    with (
        pytest.warns(FutureWarning),
        pytest.raises(ValueError, match=r"^hidden: expected a tuple of positive ints, got 8"),
    ):
        AutoencoderCompressor(hidden=8).fit(X)
