"""A ViT image tower's patch tokens in the joint image-text embedding space.

open_clip's ``VisionTransformer`` pools its last block's tokens (the class token, or
their mean) and maps the pooled token through ``ln_post`` and ``proj`` into the space
the text embeddings live in. The same two steps applied to every patch token give each
patch a vector in that space: per-patch concept scores, dictionaries learned on patches,
spatial maps of atoms. (MaskCLIP, Zhou et al. 2022, reads CLIP densely another way: it
takes the last attention layer's value embeddings, skipping its query-key attention.)
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["check_token_tower", "vit_patch_tokens"]


def check_token_tower(visual: Any, name: str, who: str = "encode_image_tokens") -> None:
    """``ValueError`` naming the backbone unless its image tower is a ViT whose patch
    tokens can be taken to the embedding space (open_clip's ``VisionTransformer``, class
    token or mean pool, a projection, no attentional pooler)."""
    kind = type(visual).__name__
    pool_type = getattr(visual, "pool_type", None)
    if not hasattr(visual, "transformer") or not hasattr(visual, "grid_size"):
        why = ""
    elif getattr(visual, "attn_pool", None) is not None:
        why = " with an attentional pooler (CoCa's)"
    elif getattr(visual, "proj", None) is None:
        why = " without a projection (proj is None)"
    elif pool_type not in ("tok", "avg"):
        why = f" (pool_type={pool_type!r})"
    else:
        return
    raise ValueError(
        f"{who}: backbone {name!r} has a {kind} image tower{why}; expected a ViT that "
        "pools its class token or the mean of its tokens and projects the result "
        "(open_clip's VisionTransformer with pool_type 'tok' or 'avg', a proj, no "
        "attentional pooler)"
    )


def vit_patch_tokens(visual: Any, images: torch.Tensor) -> torch.Tensor:
    """Patch tokens of the last block through ``ln_post`` and ``proj``, (n, gh, gw, d).

    .. math::
        t_u = \\mathrm{LN}_\\mathrm{post}(h_u)\\,W_\\mathrm{proj},

    with :math:`h_u` the last block's output at patch :math:`u` (row-major over the patch
    grid, as the tower's patch convolution flattens it). For a class-token tower the
    class token through the same two steps is the image embedding itself. Not
    normalised.
    """
    old = visual.output_tokens
    visual.output_tokens = True
    try:
        _, tokens = visual(images)
    finally:
        visual.output_tokens = old
    if getattr(visual, "final_ln_after_pool", False):
        tokens = visual.ln_post(tokens)  # the tower normalises only the pooled token then
    tokens = tokens @ visual.proj
    gh, gw = visual.grid_size
    n, length, d = tokens.shape
    if length != gh * gw:
        raise ValueError(
            f"images: the image tower returned {length} patch tokens for its "
            f"{gh} x {gw} patch grid; expected {gh * gw} (images of another size than "
            "the tower's, or extra tokens)"
        )
    return tokens.reshape(n, gh, gw, d)
