"""What the attribution methods need to know about open_clip's image towers.

The kind of tower (ViT or ModifiedResNet), the ViT's patch grid and its token layout
(:func:`tokens_to_grid`, :func:`grid_to_tokens`), and a hook that shows the tokens
entering a ViT block to captum as an (n, D, gh, gw) feature map (:func:`vit_grid_tap`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

__all__ = ["grid_of", "grid_to_tokens", "tokens_to_grid", "tower_kind", "vit_grid_tap"]


def tower_kind(visual: Any) -> str:
    """``"vit"`` or ``"resnet"``; ValueError for any other image tower."""
    if hasattr(visual, "transformer") and hasattr(visual, "conv1") and hasattr(visual, "proj"):
        return "vit"
    if hasattr(visual, "layer4") and hasattr(visual, "attnpool"):
        return "resnet"
    raise ValueError(
        f"backbone: activation maps support open_clip VisionTransformer and ModifiedResNet "
        f"image towers, got {type(visual).__name__}"
    )


class _GridTap(torch.nn.Module):
    """Identity module: the ViT patch tokens pass through it as an (n, D, gh, gw) grid, so
    captum's layer methods (which hook a module's output) see a feature map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _patch_size(visual: Any) -> tuple[int, int]:
    p = visual.patch_size
    return (int(p[0]), int(p[1])) if isinstance(p, (tuple, list)) else (int(p), int(p))


def grid_of(visual: Any, x: torch.Tensor) -> tuple[int, int]:
    """The ViT's patch grid (rows, columns) on input batch ``x``."""
    ph, pw = _patch_size(visual)
    return int(x.shape[2]) // ph, int(x.shape[3]) // pw


def tokens_to_grid(
    tokens: torch.Tensor, grid: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ViT tokens (n, 1 + gh*gw, D) into the class token (n, 1, D) and a grid (n, D, gh, gw).

    Patch ``p`` (0-based, after the class token) is at row ``p // gw``, column ``p % gw``:
    open_clip flattens ``conv1``'s (D, gh, gw) output row by row.
    """
    n, L, D = tokens.shape
    gh, gw = grid
    if L != 1 + gh * gw:
        raise ValueError(
            f"the ViT has {L} tokens; a {gh}x{gw} patch grid plus one class token needs "
            f"{1 + gh * gw} (is the input at the model's image size?)"
        )
    cls, patches = tokens[:, :1], tokens[:, 1:]
    return cls, patches.reshape(n, gh, gw, D).permute(0, 3, 1, 2)


def grid_to_tokens(cls: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`tokens_to_grid`."""
    n, D, gh, gw = grid.shape
    return torch.cat([cls, grid.permute(0, 2, 3, 1).reshape(n, gh * gw, D)], dim=1)


@contextlib.contextmanager
def vit_grid_tap(visual: Any, grid: tuple[int, int], block: int = -1) -> Iterator[_GridTap]:
    """Route the tokens entering ViT block ``block`` (default the last) through a
    :class:`_GridTap`."""
    tap = _GridTap()
    batch_first = getattr(visual.transformer, "batch_first", True)

    def pre_hook(module: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        x = args[0] if args else kwargs["q_x"]
        x = x if batch_first else x.transpose(0, 1)
        cls, g = tokens_to_grid(x, grid)
        x = grid_to_tokens(cls, tap(g))
        x = x if batch_first else x.transpose(0, 1)
        if args:
            return (x, *args[1:]), kwargs
        return args, {**kwargs, "q_x": x}

    resblock = visual.transformer.resblocks[block]
    handle = resblock.register_forward_pre_hook(pre_hook, with_kwargs=True)
    try:
        yield tap
    finally:
        handle.remove()
