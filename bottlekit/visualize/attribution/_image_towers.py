"""What the attribution methods need to know about open_clip's image towers.

The kind of tower (ViT or ModifiedResNet), the ViT's patch grid and its token layout
(:func:`tokens_to_grid`, :func:`grid_to_tokens`), a hook that shows the tokens
entering a ViT block to captum as an (n, D, gh, gw) feature map (:func:`vit_grid_tap`),
and the ViT's patch convolution with a matrix-product backward
(:func:`patch_embedding_by_matmul`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "grid_of",
    "grid_to_tokens",
    "patch_embedding_by_matmul",
    "tokens_to_grid",
    "tower_kind",
    "vit_grid_tap",
]


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

    Parameters
    ----------
    tokens : Tensor of shape (n, 1 + gh*gw, D)
        The tokens, class token first.
    grid : tuple of int
        ``(gh, gw)``, the patch grid.

    Returns
    -------
    cls : Tensor of shape (n, 1, D)
        The class tokens.
    grid : Tensor of shape (n, D, gh, gw)
        The patch tokens on their grid.

    Raises
    ------
    ValueError
        If the number of tokens is not ``1 + gh*gw``.

    Examples
    --------
    >>> t = torch.arange(2 * 7 * 3.0).reshape(2, 7, 3)  # 1 + 2x3 tokens of 3 channels
    >>> cls, g = tokens_to_grid(t, (2, 3))
    >>> cls.shape, g.shape, g[0, :, 1, 0].tolist() == t[0, 4].tolist()  # patch 3: row 1
    (torch.Size([2, 1, 3]), torch.Size([2, 3, 2, 3]), True)
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
    """Inverse of :func:`tokens_to_grid`: the class token and the grid as ViT tokens.

    Parameters
    ----------
    cls : Tensor of shape (n, 1, D)
        The class tokens.
    grid : Tensor of shape (n, D, gh, gw)
        The patch tokens on their grid.

    Returns
    -------
    Tensor of shape (n, 1 + gh*gw, D)
        The tokens, class token first, patches row by row.

    Examples
    --------
    >>> t = torch.randn(2, 7, 3)
    >>> bool(torch.equal(grid_to_tokens(*tokens_to_grid(t, (2, 3))), t))
    True
    """
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


class _PatchEmbedding(torch.autograd.Function):
    """A ViT's patch convolution (kernel = stride, no padding, no bias) on an input whose
    sides are multiples of the patch: forward by ``conv2d`` as the model computes it,
    backward by one matrix product per gradient.

    Every pixel is in exactly one patch, so the input gradient is the gradient of each
    patch's embedding times the flattened kernel, put back in place; oneDNN's backward of
    this convolution takes about 10 x the time of that product on CPU.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        return F.conv2d(x, weight, stride=tuple(weight.shape[2:]))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        n, d, gh, gw = grad.shape
        c, ph, pw = weight.shape[1:]
        g = grad.permute(0, 2, 3, 1).reshape(n * gh * gw, d)
        grad_x = grad_weight = None
        if ctx.needs_input_grad[0]:
            patches = g @ weight.reshape(d, c * ph * pw)
            grad_x = (
                patches.view(n, gh, gw, c, ph, pw)
                .permute(0, 3, 1, 4, 2, 5)
                .reshape(n, c, gh * ph, gw * pw)
            )
        if ctx.needs_input_grad[1]:
            patches = x.view(n, c, gh, ph, gw, pw).permute(0, 2, 4, 1, 3, 5)
            grad_weight = (g.T @ patches.reshape(n * gh * gw, c * ph * pw)).view_as(weight)
        return grad_x, grad_weight


def _is_patch_convolution(conv: Any) -> bool:
    return (
        type(conv) is torch.nn.Conv2d
        and conv.bias is None
        and tuple(conv.kernel_size) == tuple(conv.stride)
        and tuple(conv.padding) == (0, 0)
        and tuple(conv.dilation) == (1, 1)
        and conv.groups == 1
    )


@contextlib.contextmanager
def patch_embedding_by_matmul(visual: Any) -> Iterator[None]:
    """Within the block, the ViT's patch convolution ``visual.conv1`` computes its
    gradients by matrix products (:class:`_PatchEmbedding`): same forward, same gradients
    up to float rounding, a fraction of the time of oneDNN's convolution backward.

    Nothing changes for a ResNet tower, a ``conv1`` that is not a plain patch convolution
    or an input whose sides are not multiples of the patch; the module is restored on exit.
    """
    conv = getattr(visual, "conv1", None)
    if (
        tower_kind(visual) != "vit"
        or not _is_patch_convolution(conv)
        or "forward" in conv.__dict__  # already patched (nested call) or the user's own
    ):
        yield
        return
    ph, pw = conv.kernel_size

    def forward(x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[2] % ph or x.shape[3] % pw:
            return torch.nn.Conv2d.forward(conv, x)
        return _PatchEmbedding.apply(x, conv.weight)

    conv.forward = forward
    try:
        yield
    finally:
        del conv.forward
