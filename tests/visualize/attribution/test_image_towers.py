"""The ViT token layout of bottlekit.visualize.attribution._image_towers, and the patch
convolution with a matrix-product backward."""

from __future__ import annotations

import pytest
import torch

from bottlekit.visualize.attribution._image_towers import (
    grid_to_tokens,
    patch_embedding_by_matmul,
    tokens_to_grid,
    tower_kind,
)


def test_token_grid_matches_open_clip_layout(tiny_vit):
    """Our CLS-drop + reshape equals open_clip's own NCHW intermediates (an independent
    implementation of the patch layout), and grid_to_tokens inverts it exactly."""
    bk = tiny_vit()
    visual = bk.model.visual
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    seen = {}
    h = visual.transformer.resblocks[0].register_forward_hook(
        lambda m, a, out: seen.__setitem__("tokens", out)
    )
    with torch.no_grad():
        ref = visual.forward_intermediates(x, indices=[0], output_fmt="NCHW")
    h.remove()
    cls, grid = tokens_to_grid(seen["tokens"], visual.grid_size)
    assert grid.shape == (2, 64, 4, 4)
    torch.testing.assert_close(grid, ref["image_intermediates"][0], rtol=0, atol=0)
    torch.testing.assert_close(grid_to_tokens(cls, grid), seen["tokens"], rtol=0, atol=0)
    with pytest.raises(ValueError, match="tokens"):
        tokens_to_grid(seen["tokens"][:, :-1], visual.grid_size)


def test_tower_kind(tiny_vit, tiny_rn):
    assert tower_kind(tiny_vit().model.visual) == "vit"
    assert tower_kind(tiny_rn().model.visual) == "resnet"
    with pytest.raises(ValueError, match=r"VisionTransformer and ModifiedResNet.*Linear"):
        tower_kind(torch.nn.Linear(2, 2))


def test_patch_embedding_by_matmul_gives_the_convolution_and_its_gradients(tiny_vit):
    """Same output as conv2d (bitwise: the forward is conv2d), same input and weight
    gradients up to float32 rounding; the module is plain again on exit."""
    visual = tiny_vit(seed=1).model.visual
    conv = visual.conv1
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 3, 32, 32, generator=gen, requires_grad=True)
    g = torch.randn(3, conv.out_channels, 4, 4, generator=gen)

    def output_and_grads():
        y = conv(x)
        gx, gw = torch.autograd.grad(y, (x, conv.weight), g)
        return y, gx, gw, type(y.grad_fn).__name__

    y_ref, gx_ref, gw_ref, fn_ref = output_and_grads()
    with patch_embedding_by_matmul(visual):
        y, gx, gw, fn = output_and_grads()
    assert fn_ref != fn == "_PatchEmbeddingBackward"
    torch.testing.assert_close(y, y_ref, rtol=0, atol=0)
    torch.testing.assert_close(gx, gx_ref, rtol=0, atol=1e-6 * float(gx_ref.abs().max()))
    torch.testing.assert_close(gw, gw_ref, rtol=0, atol=1e-6 * float(gw_ref.abs().max()))
    assert "forward" not in conv.__dict__
    assert type(output_and_grads()[0].grad_fn).__name__ == fn_ref


def test_patch_embedding_by_matmul_leaves_other_inputs_and_towers_alone(tiny_vit, tiny_rn):
    """An input whose sides are not multiples of the patch goes through the convolution
    as it is; a ResNet tower is not touched; a nested block restores the outer one."""
    visual = tiny_vit().model.visual
    x = torch.randn(1, 3, 30, 30, requires_grad=True)
    with patch_embedding_by_matmul(visual):
        with patch_embedding_by_matmul(visual):
            pass
        assert "forward" in visual.conv1.__dict__
        y = visual.conv1(x)
        assert type(y.grad_fn).__name__ == "ConvolutionBackward0"
    assert "forward" not in visual.conv1.__dict__
    rn = tiny_rn().model.visual
    with patch_embedding_by_matmul(rn):
        assert "forward" not in rn.conv1.__dict__
