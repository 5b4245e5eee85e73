"""ConceptSaliency against the input gradient by hand, on a backbone and on a feature
function."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bottlekit.visualize.attribution import ConceptSaliency


def test_saliency_is_the_largest_absolute_input_gradient(tiny_vit, random_bank):
    bk = tiny_vit(seed=7)
    bank = random_bank(bk, 2, seed=7, kind="cav")
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(7))
    ours = ConceptSaliency(bk, bank).attribute(x)
    # one image per forward pass, both concepts on it: the same maps to float32 rounding
    one = ConceptSaliency(bk, bank, batch_size=2).attribute(x)
    np.testing.assert_allclose(one, ours, rtol=0, atol=1e-6 * ours.max())
    v, b = torch.as_tensor(bank.vectors), torch.as_tensor(bank.intercepts)
    for j in range(2):
        xg = x.clone().requires_grad_(True)
        z = F.normalize(bk.model.encode_image(xg), dim=-1)
        ((z @ v[j] + b[j]) / v[j].norm()).sum().backward()
        ref = xg.grad.abs().amax(dim=1).numpy()
        assert ref.max() > 0
        np.testing.assert_allclose(ours[:, j], ref, rtol=1e-5, atol=1e-6 * ref.max())


class _Surrogate:
    """A fitted concept model on raw (unnormalised) features: a linear map."""

    def __init__(self, W: torch.Tensor) -> None:
        self.W = W
        self.concept_names_ = [f"k{i}" for i in range(len(W))]

    def transform_torch(self, Z: torch.Tensor) -> torch.Tensor:
        return Z @ self.W.T.to(Z.dtype)


def test_feature_function_scores_its_output_as_it_is():
    """A callable backbone: the concept model scores its output unnormalised; per-image
    concept tables pick each image's own concepts."""
    gen = torch.Generator().manual_seed(8)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Tanh(), torch.nn.Flatten())
    W = torch.randn(3, 4 * 6 * 6, generator=gen)
    x = torch.randn(2, 1, 8, 8, generator=gen)
    sal = ConceptSaliency(net, _Surrogate(W))
    ours = sal.attribute(x, ["k0", "k2"])
    assert ours.shape == (2, 2, 8, 8)
    for c, j in enumerate((0, 2)):
        xg = x.clone().requires_grad_(True)
        (net(xg) @ W[j]).sum().backward()
        np.testing.assert_allclose(ours[:, c], xg.grad.abs().amax(dim=1).numpy(), rtol=1e-6)
    table = sal.attribute(x, np.array([[2, 0], [1, 2]]))
    full = sal.attribute(x)
    np.testing.assert_allclose(table[0], full[0, [2, 0]], rtol=1e-6)
    np.testing.assert_allclose(table[1], full[1, [1, 2]], rtol=1e-6)
    with pytest.raises(TypeError, match=r"images: with a feature function .*\(n, C, H, W\)"):
        sal.attribute(np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(TypeError, match=r"backbone: expected .* or a feature function"):
        ConceptSaliency("net", _Surrogate(W))


def test_the_concepts_of_an_image_share_its_forward_pass():
    """Three concepts on two images: the feature function sees each image once (one
    backward pass per concept), not once per (image, concept) pair."""
    gen = torch.Generator().manual_seed(9)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Tanh(), torch.nn.Flatten())
    W = torch.randn(3, 4 * 6 * 6, generator=gen)
    seen = []
    net.register_forward_hook(lambda m, args, out: seen.append(len(args[0])))
    maps = ConceptSaliency(net, _Surrogate(W)).attribute(torch.randn(2, 1, 8, 8, generator=gen))
    assert maps.shape == (2, 3, 8, 8)
    assert seen == [2]
