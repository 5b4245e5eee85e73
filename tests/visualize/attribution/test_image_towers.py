"""The ViT token layout of bottlekit.visualize.attribution._image_towers."""

from __future__ import annotations

import pytest
import torch

from bottlekit.visualize.attribution._image_towers import (
    grid_to_tokens,
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
