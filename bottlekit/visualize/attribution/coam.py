"""Concept activation mapping (CoAM; Aysel, Cai & Prügel-Bennett 2025)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bottlekit.visualize.attribution._base import ConceptAttribution
from bottlekit.visualize.attribution._image_towers import grid_of, tower_kind
from bottlekit.visualize.attribution._images import upsample

__all__ = ["ConceptActivationMapping"]


class ConceptActivationMapping(ConceptAttribution):
    r"""Concept activation mapping: the concept activation decomposed over locations.

    Aysel, Cai & Prügel-Bennett (2025) visualise a concept the way CAM (Zhou et al. 2016)
    visualises a class. Their paper's text was not available to this implementation and
    there is no public code; what is implemented is this reading of it, and the choices
    below are bottlekit's. CAM's defining property is that the map decomposes the
    explained score over locations. The unnormalised image embedding :math:`f` is written
    as a sum of one term per location plus terms that no location owns,
    :math:`f = \sum_u \delta f(u) + r`, and

    .. math:: M_j(u) = \frac{\partial s_j(f/\lVert f\rVert)}{\partial f}\cdot\delta f(u),

    the first-order change of the concept activation :math:`s_j` (see
    :class:`~bottlekit.visualize.attribution.ConceptAttribution`) that location
    :math:`u`'s term causes (removing it changes :math:`s_j` by about :math:`-M_j(u)`).
    The terms:

    * ResNet (``ModifiedResNet``): the attention pool's output is exactly
      :math:`f = W_c\,\mathrm{concat}_h \sum_u a^h_u v^h_u + b_c` (query = mean feature), so
      :math:`\delta f(u) = W_c\,\mathrm{concat}_h(a^h_u v^h_u)`, an exact decomposition.
    * ViT (class-token pooling): the class token leaving the last block is its input plus
      the last attention layer's read-out :math:`\sum_u \sum_h a^h_{0u} v^h_u W^h_o` plus
      the MLP's output; with the final LayerNorm taken as affine at the class token's own
      mean and standard deviation, patch :math:`u` contributes
      :math:`\delta f(u) = (\gamma\odot(c_u - \bar c_u)/\sigma)\,P`,
      :math:`c_u = \sum_h a^h_{0u} v^h_u W^h_o` (the decomposition of Gandelsman, Efros &
      Steinhardt 2024, restricted to the last layer). The class token's residual stream
      and the MLP are not attributed to locations.

    No ReLU and no rescaling: values are in the concept's own units and comparable across
    concepts and images; positive = the location pushes the concept up. The location grid
    is upsampled bilinearly to the model's input size. One forward pass per image serves
    every concept.

    Parameters
    ----------
    backbone : Backbone
        From :func:`bottlekit.load_backbone`: an open_clip class-token ViT or a ResNet
        (``ModifiedResNet``) image tower.
    concept_bank_or_model : ConceptBank or fitted concept-bottleneck model
        Where the concept activation comes from; a bank must live in the backbone's
        embedding space.
    batch_size : int, default 256
        Images per forward pass (each pass maps every concept).

    Examples
    --------
    >>> import bottlekit
    >>> from bottlekit.concepts import from_text
    >>> from bottlekit.visualize import ConceptActivationMapping
    >>> bk = bottlekit.load_backbone("world-tiny", device="cpu")
    >>> bank = from_text(bk, ["red body", "long tail"])
    >>> images = bottlekit.make_world(2, "test").images
    >>> maps = ConceptActivationMapping(bk, bank).attribute(images)
    >>> maps.shape
    (2, 2, 64, 64)
    """

    method = "coam"

    def _maps(
        self, x_all: torch.Tensor, scorer: torch.nn.Module, cols: np.ndarray
    ) -> torch.Tensor:
        """One pass per batch of images gives every scored concept's map; map ``c`` of
        image ``i`` is the one of scorer column ``cols[i, c]``, taken on the token grid
        before upsampling (only the mapped columns reach the image's size)."""
        H, W = int(x_all.shape[2]), int(x_all.shape[3])
        columns = torch.as_tensor(np.array(cols))
        out = []
        for start in range(0, len(x_all), self.batch_size):
            x = x_all[start : start + self.batch_size]
            grid = _coam(self.backbone, x, scorer, columns[start : start + len(x)])
            out.append(upsample(grid.float().cpu(), (H, W)))
        return torch.cat(out)


def _mha_split(attn: torch.nn.MultiheadAttention, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per-head queries, keys and values (n, heads, L, dh) of a self-attention on h (n, L, D)."""
    n, L, D = h.shape
    heads = attn.num_heads
    if attn.in_proj_weight is not None:
        qkv = F.linear(h, attn.in_proj_weight, attn.in_proj_bias)
        q, k, v = qkv.split(D, dim=-1)
    else:  # separate projection weights (kdim/vdim differ); biases are packed
        bq, bk, bv = attn.in_proj_bias.split(D) if attn.in_proj_bias is not None else (None,) * 3
        q = F.linear(h, attn.q_proj_weight, bq)
        k = F.linear(h, attn.k_proj_weight, bk)
        v = F.linear(h, attn.v_proj_weight, bv)
    return tuple(t.reshape(n, L, heads, D // heads).transpose(1, 2) for t in (q, k, v))


def _vit_location_terms(backbone: Any, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ViT: each patch's additive term in the pre-normalisation embedding, and the embedding.

    The class token leaving the last block is ``t_in + sum_u c_u + b_o + mlp(...)`` with
    ``c_u = sum_h a^h_{0u} v^h_u W_o^h`` the part the last attention layer reads from token
    ``u``. The final LayerNorm is affine given the class token's own mean and standard
    deviation, so patch ``u`` adds ``(gamma * (c_u - mean(c_u)) / sigma) @ proj`` to the
    embedding ``f`` (layer scale included).
    """
    visual = backbone.model.visual
    if getattr(visual, "attn_pool", None) is not None or visual.proj is None:
        raise ValueError(
            "method='coam' needs a ViT whose embedding is its class token through ln_post "
            "and proj; this one has an attentional pooler or no projection"
        )
    pool_type = getattr(visual, "pool_type", "tok")
    if pool_type != "tok" or getattr(visual, "final_ln_after_pool", False):
        raise ValueError(
            "method='coam' supports class-token ViTs (pool_type='tok'); this one pools with "
            f"{getattr(visual, 'pool_type', None)!r}"
        )
    block = visual.transformer.resblocks[-1]
    if not isinstance(getattr(block, "attn", None), torch.nn.MultiheadAttention):
        raise ValueError(
            "method='coam' needs open_clip's ResidualAttentionBlock as the last ViT layer"
        )
    batch_first = getattr(visual.transformer, "batch_first", True)
    captured: dict[str, torch.Tensor] = {}

    def pre(module: Any, args: tuple, kwargs: dict) -> None:
        t = args[0] if args else kwargs["q_x"]
        captured["in"] = t if batch_first else t.transpose(0, 1)

    def post(module: Any, args: Any, output: torch.Tensor) -> None:
        captured["out"] = output if batch_first else output.transpose(0, 1)

    h1 = block.register_forward_pre_hook(pre, with_kwargs=True)
    h2 = block.register_forward_hook(post)
    try:
        backbone.model.encode_image(x)
    finally:
        h1.remove()
        h2.remove()
    tokens_in, cls_out = captured["in"], captured["out"][:, 0]
    attn = block.attn
    n, _, D = tokens_in.shape
    q, k, v = _mha_split(attn, block.ln_1(tokens_in))
    dh = D // attn.num_heads
    a0 = torch.softmax((q[:, :, :1] @ k.transpose(-1, -2)) / dh**0.5, dim=-1)[:, :, 0]  # n,h,L
    Wo = attn.out_proj.weight.T.reshape(attn.num_heads, dh, D)  # per-head rows of W_o
    c = torch.einsum("nhl,nhld,hde->nle", a0, v, Wo)  # n, L, D: term read from each token
    ls = getattr(block, "ls_1", None)
    if isinstance(ls, torch.nn.Module) and hasattr(ls, "gamma"):
        c = c * ls.gamma
    ln = visual.ln_post
    sigma = torch.sqrt(cls_out.var(dim=-1, unbiased=False, keepdim=True) + ln.eps)  # n, 1
    gamma = ln.weight if ln.weight is not None else torch.ones(D, device=c.device)
    c = (c - c.mean(-1, keepdim=True)) * gamma / sigma[:, None]
    terms = c[:, 1:] @ visual.proj  # n, L-1, d: drop the class token's own term
    f = ln(cls_out) @ visual.proj
    gh, gw = grid_of(visual, x)
    return terms.reshape(n, gh, gw, -1), f


def _resnet_location_terms(
    backbone: Any, x: torch.Tensor, keep_mean_token: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """ResNet: each location's exact additive term of the attention pool's output.

    ``f = c_proj(concat_h sum_u a^h_u v^h_u)``, so location ``u`` adds
    ``W_c concat_h(a^h_u v^h_u)``; the query is the mean feature, as in open_clip. With
    ``keep_mean_token`` the mean token's own term is returned too, as (n, 1 + h*w, d), so
    that ``terms.sum(1) + c_proj.bias == f`` exactly.
    """
    visual = backbone.model.visual
    pool = visual.attnpool
    captured: dict[str, torch.Tensor] = {}

    def hook(module: Any, args: Any, output: torch.Tensor) -> None:
        captured["features"] = output

    handle = visual.layer4.register_forward_hook(hook)
    try:
        f_model = backbone.model.encode_image(x)
    finally:
        handle.remove()
    feats = captured["features"]
    n, C, h, w = feats.shape
    t = feats.reshape(n, C, h * w).permute(0, 2, 1)
    t = torch.cat([t.mean(dim=1, keepdim=True), t], dim=1) + pool.positional_embedding.to(t.dtype)
    heads = pool.num_heads
    dh = C // heads
    q = pool.q_proj(t[:, :1]).reshape(n, 1, heads, dh).transpose(1, 2)
    k = pool.k_proj(t).reshape(n, -1, heads, dh).transpose(1, 2)
    v = pool.v_proj(t).reshape(n, -1, heads, dh).transpose(1, 2)
    a0 = torch.softmax((q @ k.transpose(-1, -2)) / dh**0.5, dim=-1)[:, :, 0]  # n, h, L
    Wc = pool.c_proj.weight.T.reshape(heads, dh, -1)
    terms = torch.einsum("nhl,nhld,hde->nle", a0, v, Wc)
    if keep_mean_token:
        return terms, f_model
    return terms[:, 1:].reshape(n, h, w, -1), f_model  # drop the mean token


def _coam(
    backbone: Any, x: torch.Tensor, scorer: torch.nn.Module, columns: torch.Tensor
) -> torch.Tensor:
    """CoAM on the token grid (n, c, h, w): map ``c`` of image ``i`` is each location's
    term of the embedding times the gradient of scorer column ``columns[i, c]`` with
    respect to the unnormalised embedding. Each column used in the batch takes one
    backward pass through the scorer."""
    visual = backbone.model.visual
    with torch.no_grad():
        if tower_kind(visual) == "vit":
            terms, f = _vit_location_terms(backbone, x)
        else:
            terms, f = _resnet_location_terms(backbone, x)
    terms = terms.float()
    f = f.float().detach().requires_grad_(True)
    s = scorer(F.normalize(f, dim=-1))
    used, position = torch.unique(columns, return_inverse=True)
    out = []
    for k, j in enumerate(used.tolist()):
        (g,) = torch.autograd.grad(s[:, j].sum(), f, retain_graph=k < len(used) - 1)
        out.append(torch.einsum("nd,nhwd->nhw", g, terms))
    maps = torch.stack(out, dim=1).detach()  # (n, used, h, w)
    return maps[torch.arange(len(x))[:, None], position.to(maps.device)]
