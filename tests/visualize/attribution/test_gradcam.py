"""ConceptGradCAM against Grad-CAM written out by hand, and its ``layer``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bottlekit.visualize.attribution import ConceptGradCAM
from bottlekit.visualize.attribution._image_towers import tokens_to_grid


def _cav_scores(bank, pooled, proj):
    v = torch.as_tensor(bank.vectors)
    b = torch.as_tensor(bank.intercepts)
    z = F.normalize(pooled @ proj, dim=-1)
    return (z @ v.T + b) / v.norm(dim=1)


def _grad_cam(s, A, size):
    """Hand-written Grad-CAM of every column of s (n, m) on feature map A (n, C, h, w)."""
    out = np.empty((A.shape[0], s.shape[1], *size), np.float32)
    for j in range(s.shape[1]):
        (g,) = torch.autograd.grad(s[:, j].sum(), A, retain_graph=True)
        cam = torch.relu((g.mean((2, 3), keepdim=True) * A).sum(1, keepdim=True))
        out[:, j] = F.interpolate(cam, size=size, mode="bilinear").detach()[:, 0].numpy()
    return out


def test_gradcam_matches_hand_written_reference(tiny_vit, random_bank):
    """bottlekit's Grad-CAM on the tokens entering the last block equals Grad-CAM
    written out by hand on open_clip's NCHW intermediates (float32 round-off only)."""
    bk = tiny_vit(seed=1)
    visual = bk.model.visual
    bank = random_bank(bk, 3, seed=1, kind="cav")
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    ours = ConceptGradCAM(bk, bank).attribute(x)
    assert ours.shape == (3, 3, 32, 32)

    inter = visual.forward_intermediates(
        x,
        indices=[len(visual.transformer.resblocks) - 2],
        output_fmt="NCHW",
        output_extra_tokens=True,
    )
    A = inter["image_intermediates"][0].detach().requires_grad_(True)  # (n, D, 4, 4)
    cls = inter["image_intermediates_prefix"][0].detach()
    tokens = torch.cat([cls, A.flatten(2).transpose(1, 2)], dim=1)
    out = visual.transformer.resblocks[-1](tokens)
    pooled, _ = visual._pool(out)
    ref = _grad_cam(_cav_scores(bank, pooled, visual.proj), A, (32, 32))
    assert ref.max() > 0  # a non-trivial map
    # tolerance: float32 sums over 64 channels in a different order
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6 * ref.max())


def test_vit_layer_is_the_block_whose_input_tokens_are_used(tiny_vit, random_bank):
    """layer='transformer.resblocks.1' (the last of 2) is the default exactly; layer
    'transformer.resblocks.0' equals Grad-CAM by hand on the tokens entering block 0,
    run through both blocks by hand."""
    bk = tiny_vit(seed=1)
    visual = bk.model.visual
    bank = random_bank(bk, 2, seed=3, kind="cav")
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    default = ConceptGradCAM(bk, bank).attribute(x)
    last = ConceptGradCAM(bk, bank, layer="transformer.resblocks.1").attribute(x)
    np.testing.assert_array_equal(default, last)

    first = ConceptGradCAM(bk, bank, layer="transformer.resblocks.0").attribute(x)
    seen = {}
    h = visual.transformer.resblocks[0].register_forward_pre_hook(
        lambda m, args: seen.__setitem__("tokens", args[0])
    )
    with torch.no_grad():
        visual(x)
    h.remove()
    cls, grid = tokens_to_grid(seen["tokens"], visual.grid_size)
    A = grid.detach().requires_grad_(True)
    tokens = torch.cat([cls, A.flatten(2).transpose(1, 2)], dim=1)
    for block in visual.transformer.resblocks:
        tokens = block(tokens)
    pooled, _ = visual._pool(tokens)  # ln_post, then the class token
    ref = _grad_cam(_cav_scores(bank, pooled, visual.proj), A, (32, 32))
    assert ref.max() > 0
    np.testing.assert_allclose(first, ref, rtol=1e-4, atol=1e-6 * ref.max())
    assert np.abs(first - default).max() > 1e-3 * ref.max()


def test_resnet_layer(tiny_rn, random_bank):
    """layer='layer4' is the default exactly; 'layer3' gives its own non-negative maps;
    a module without a 4-d output or a missing name is refused."""
    bk = tiny_rn(seed=4)
    bank = random_bank(bk, 2, seed=4)
    images = np.random.default_rng(4).integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    default = ConceptGradCAM(bk, bank).attribute(images)
    np.testing.assert_array_equal(
        ConceptGradCAM(bk, bank, layer="layer4").attribute(images), default
    )
    l3 = ConceptGradCAM(bk, bank, layer="layer3").attribute(images)
    assert l3.shape == default.shape and (l3 >= 0).all() and l3.max() > 0
    assert not np.allclose(l3, default)
    with pytest.raises(ValueError, match=r"layer: .*'attnpool'.*\(n, C, h, w\)"):
        ConceptGradCAM(bk, bank, layer="attnpool").attribute(images)
    with pytest.raises(ValueError, match=r"layer: expected a module .*'layer9'.*did you mean"):
        ConceptGradCAM(bk, bank, layer="layer9")


def test_bad_layer(tiny_vit, random_bank):
    bk = tiny_vit()
    bank = random_bank(bk, 2)
    with pytest.raises(ValueError, match=r"layer: expected a ViT block .*resblocks\.0 .. .*1"):
        ConceptGradCAM(bk, bank, layer="transformer.resblocks.2")
    with pytest.raises(ValueError, match="layer"):
        ConceptGradCAM(bk, bank, layer="conv1")
    with pytest.raises(TypeError, match="layer: expected a module name"):
        ConceptGradCAM(bk, bank, layer=1)


def test_concepts_share_the_forward_pass_and_frozen_weights_give_the_same_maps(
    tiny_vit, random_bank
):
    """Three concepts on two images: the image tower sees each image once (one backward
    pass per concept to the feature map), not once per (image, concept) pair; one image
    per pass and a tower whose weights do not require gradients give the same maps."""
    bk = tiny_vit(seed=6)
    bank = random_bank(bk, 3, seed=6)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    seen = []
    handle = bk.model.visual.register_forward_hook(lambda m, a, out: seen.append(len(a[0])))
    try:
        maps = ConceptGradCAM(bk, bank).attribute(x)
    finally:
        handle.remove()
    assert seen == [2]
    assert maps.shape == (2, 3, 32, 32) and maps.max() > 0
    one = ConceptGradCAM(bk, bank, batch_size=3).attribute(x)
    np.testing.assert_allclose(one, maps, rtol=0, atol=1e-6 * maps.max())
    for p in bk.model.parameters():
        p.requires_grad_(False)
    frozen = ConceptGradCAM(bk, bank).attribute(x)
    np.testing.assert_allclose(frozen, maps, rtol=0, atol=1e-6 * maps.max())


def test_resnet_maps_equal_captums_layer_gradcam(tiny_rn, random_bank):
    """The docstring's claim, checked against captum itself: LayerGradCam on ``layer3``
    (2 x 2 here; ``layer4`` of the 32-pixel test ResNet is 1 x 1) with
    ``relu_attributions=True`` (Selvaraju et al.'s ReLU; captum's default leaves it off),
    upsampled with ``LayerAttribution.interpolate(..., "bilinear")``."""
    captum_attr = pytest.importorskip("captum.attr")

    from bottlekit.visualize.attribution._images import as_model_input

    bk = tiny_rn(seed=6)
    bank = random_bank(bk, 3, seed=6, kind="cav")
    images = np.random.default_rng(6).integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    ours = ConceptGradCAM(bk, bank, layer="layer3").attribute(images)
    x, _, _ = as_model_input(bk, images)
    visual = bk.model.visual
    bk.model.eval()

    def scores(x):
        return _cav_scores(bank, visual(x).float(), torch.eye(bk.embed_dim))

    gradcam = captum_attr.LayerGradCam(scores, visual.layer3)
    expected = np.stack(
        [
            captum_attr.LayerAttribution.interpolate(
                gradcam.attribute(x, target=j, relu_attributions=True), (32, 32), "bilinear"
            )[:, 0]
            .detach()
            .numpy()
            for j in range(len(bank.names))
        ],
        axis=1,
    )
    spread = expected.max((2, 3)) - expected.min((2, 3))
    assert (spread > 0).sum() >= 3  # maps that vary over the image (ReLU zeroes some)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-6 * expected.max())
