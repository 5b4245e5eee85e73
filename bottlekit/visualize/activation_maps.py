r"""Concept activation maps: where in an image a CLIP backbone sees a concept.

:func:`concept_activation_map` explains one scalar per (image, concept), the concept's
activation on the image embedding :math:`z(x) = f(x)/\lVert f(x)\rVert` (``f`` the open_clip
image tower, as :meth:`bottlekit.Backbone.encode_images` computes it):

* with a :class:`~bottlekit.concepts.ConceptBank`, :math:`s_j(x)` is
  :meth:`ConceptBank.project` in torch: the cosine :math:`v_j\cdot z/\lVert v_j\rVert` for
  text concepts, the signed distance :math:`(v_j\cdot z + b_j)/\lVert v_j\rVert` for CAVs;
* with a fitted concept-bottleneck model, :math:`s_j(x)` = ``model.transform_torch(z)[:, j]``,
  exactly the activation the model's head sees.

and returns one heat map per (image, concept) at the image's resolution. Methods:

``"gradcam"``
    Grad-CAM (Selvaraju et al. 2017) through :class:`captum.attr.LayerGradCam`:
    :math:`M = \mathrm{ReLU}(\sum_c \alpha_c A_c)`, :math:`\alpha_c` the spatial mean of
    :math:`\partial s_j/\partial A_c`, on the last stage of the vision tower. ResNet: the
    output of ``layer4``. ViT: the patch tokens *entering* the last transformer block (the
    class token dropped, the tokens laid out on the model's ``grid_size`` patch grid, row
    major as open_clip's ``conv1`` flattens them). The last block's *output* patch tokens
    cannot be used for a class-token ViT: only the class token leaves that block, so their
    gradient is zero.
``"integrated_gradients"``
    :class:`captum.attr.IntegratedGradients` on the preprocessed pixels, from a black image
    (pixel value 0 before normalisation), summed over colour channels (signed).
``"saliency"``
    :class:`captum.attr.Saliency`, :math:`\max_{\text{channel}}|\partial s_j/\partial x|`
    (Simonyan et al. 2014).
``"coam"``
    Concept activation mapping (Aysel, Cai & Prügel-Bennett 2025), read as CAM (Zhou et
    al. 2016) with the concept in place of the class: the concept activation decomposed
    over the locations the model pools, see :func:`concept_activation_map` for the exact
    definition and the choices made here. One forward pass per image serves every concept.

Coarse maps (feature grids) are upsampled bilinearly to the model's input size and then
to the image's resolution.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from bottlekit.concepts.errors import UnknownConceptError

__all__ = ["METHODS", "concept_activation_map"]

METHODS: tuple[str, ...] = ("gradcam", "integrated_gradients", "saliency", "coam")
"""The names accepted by ``method``."""


# --------------------------------------------------------------------------- scorers
class _BankScorer(torch.nn.Module):
    """``ConceptBank.project`` in torch for the selected concepts (differentiable)."""

    def __init__(self, bank: Any, idx: list[int], device: torch.device) -> None:
        super().__init__()
        self.bank = bank
        self.idx = list(idx)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.bank.project(z)[:, self.idx]


class _ModelScorer(torch.nn.Module):
    """``model.transform_torch(z)[:, idx]`` of a fitted concept-bottleneck model."""

    def __init__(self, model: Any, idx: list[int]) -> None:
        super().__init__()
        self.model = model
        self.idx = list(idx)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.transform_torch(z)[:, self.idx]


def _concept_names_of(source: Any) -> list[str]:
    from bottlekit.concepts.bank import ConceptBank

    if isinstance(source, ConceptBank):
        return list(source.names)
    if callable(getattr(source, "transform_torch", None)):
        names = getattr(source, "concept_names_", None)
        if names is None:
            raise ValueError(
                "concept_bank_or_model: the model is not fitted (no concept_names_); "
                "fit it before computing activation maps"
            )
        return list(names)
    raise TypeError(
        "concept_bank_or_model: expected a ConceptBank or a fitted concept-bottleneck model "
        f"(with transform_torch), got {type(source).__name__}"
    )


def _resolve_concepts(concepts: Any, names: list[str]) -> list[int]:
    if concepts is None:
        return list(range(len(names)))
    if isinstance(concepts, (str, numbers.Integral)) and not isinstance(concepts, bool):
        concepts = [concepts]
    if isinstance(concepts, np.ndarray):
        concepts = concepts.tolist()
    if not isinstance(concepts, Sequence) or isinstance(concepts, str):
        raise TypeError(f"concepts: expected a list of names or indices, got {concepts!r}")
    if len(concepts) == 0:
        raise ValueError("concepts: got an empty list; expected at least one concept")
    out = []
    for c in concepts:
        if isinstance(c, str):
            if c not in names:
                raise UnknownConceptError(c, names, "concepts")
            out.append(names.index(c))
        elif isinstance(c, numbers.Integral) and not isinstance(c, bool):
            if not 0 <= int(c) < len(names):
                raise ValueError(
                    f"concepts: index {int(c)} out of range; expected 0..{len(names) - 1}"
                )
            out.append(int(c))
        else:
            raise TypeError(f"concepts: expected names or integer indices, got {c!r}")
    return out


def _make_scorer(source: Any, idx: list[int], device: torch.device) -> torch.nn.Module:
    from bottlekit.concepts.bank import ConceptBank

    if isinstance(source, ConceptBank):
        return _BankScorer(source, idx, device)
    return _ModelScorer(source, idx)


# ---------------------------------------------------------------------------- images
def _preprocess_steps(preprocess: Any) -> list[Any]:
    return list(getattr(preprocess, "transforms", []))


def _crop_box(preprocess: Any, h: int, w: int) -> tuple[int, int, int, int] | None:
    """The region (top, left, height, width) of an h x w image the model sees.

    ``None`` when the preprocessing is not understood. open_clip's evaluation transform
    resizes the shortest side to ``r`` and centre-crops ``c x c``: the model sees the
    central square of side ``min(h, w) * c / r``. A two-value resize (squash) without a
    smaller crop sees the whole image.
    """
    from torchvision import transforms as T

    steps = _preprocess_steps(preprocess)
    resize = next((s for s in steps if isinstance(s, T.Resize)), None)
    crop = next((s for s in steps if isinstance(s, T.CenterCrop)), None)
    if resize is None:
        return None
    size = resize.size
    if isinstance(size, (list, tuple)) and len(size) == 2:
        if crop is None or tuple(crop.size) == tuple(size):
            return 0, 0, h, w
        return None
    r = size[0] if isinstance(size, (list, tuple)) else size
    if crop is None or not isinstance(r, numbers.Integral):
        return None
    ch, cw = crop.size
    side_h = round(min(h, w) * ch / r)
    side_w = round(min(h, w) * cw / r)
    return (h - side_h) // 2, (w - side_w) // 2, side_h, side_w


def _as_model_input(
    backbone: Any, images: Any
) -> tuple[torch.Tensor, tuple[int, int], tuple[int, int, int, int]]:
    """Preprocessed batch (n, 3, S, S) on the backbone's device, the image size (H, W) and
    the region (top, left, height, width) of the image the model sees."""
    if isinstance(images, torch.Tensor):
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(
                f"images: a tensor must be preprocessed, shape (n, 3, H, W); got "
                f"{tuple(images.shape)}"
            )
        if not images.is_floating_point():
            raise TypeError(f"images: a tensor must be float (preprocessed), got {images.dtype}")
        if len(images) == 0:
            raise ValueError("images: got an empty batch; expected at least one image")
        if not torch.isfinite(images).all():
            raise ValueError("images: the tensor contains NaN or inf")
        size = getattr(backbone.model.visual, "image_size", None)
        size = (size, size) if isinstance(size, int) else size
        if size is not None and tuple(images.shape[2:]) != tuple(size):
            raise ValueError(
                f"images: a preprocessed tensor must have the model's input size "
                f"{tuple(size)}, got {tuple(images.shape[2:])}"
            )
        x = images.detach().to(backbone.device, torch.float32)
        return x, (int(x.shape[2]), int(x.shape[3])), (0, 0, int(x.shape[2]), int(x.shape[3]))
    if isinstance(images, np.ndarray):
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(
                f"images: expected a uint8 array of shape (n, H, W, 3), got {images.shape}"
                + (" (wrap a single image as images[None])" if images.ndim == 3 else "")
            )
        if images.dtype != np.uint8:
            raise TypeError(f"images: expected a uint8 array, got dtype {images.dtype}")
        if len(images) == 0:
            raise ValueError("images: got an empty array; expected at least one image")
        pils = [Image.fromarray(im) for im in images]
    elif isinstance(images, Image.Image):
        pils = [images]
    elif isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ValueError("images: got an empty list; expected at least one image")
        bad = [i for i, im in enumerate(images) if not isinstance(im, Image.Image)]
        if bad:
            raise TypeError(
                f"images: item {bad[0]} is {type(images[bad[0]]).__name__}; a list must hold "
                "PIL images"
            )
        pils = list(images)
    else:
        raise TypeError(
            "images: expected a uint8 array (n, H, W, 3), a list of PIL images or a "
            f"preprocessed tensor (n, 3, H, W), got {type(images).__name__}"
        )
    sizes = {im.size for im in pils}
    if len(sizes) != 1:
        raise ValueError(
            f"images: all images must have one size to stack their maps, got sizes {sorted(sizes)}"
        )
    w, h = pils[0].size
    x = torch.stack([backbone.preprocess(im.convert("RGB")) for im in pils])
    box: tuple[int, int, int, int] | None = (0, 0, h, w)
    if (h, w) != tuple(x.shape[2:]):
        box = _crop_box(backbone.preprocess, h, w)
        if box is None:
            raise ValueError(
                f"images: {h}x{w} images go through a preprocessing whose geometry is not a "
                "resize + centre crop, so maps cannot be placed back on the images; pass "
                "images at the model's input size or preprocessed tensors"
            )
    return x.to(backbone.device, torch.float32), (h, w), box


def _to_image_resolution(
    maps: torch.Tensor, size: tuple[int, int], box: tuple[int, int, int, int]
) -> np.ndarray:
    """Maps (n, m, h, w) at the model input → (n, m, H, W) on the original images: the map
    is resized bilinearly onto the region the model saw, 0 elsewhere."""
    H, W = size
    top, left, bh, bw = box
    if tuple(maps.shape[2:]) == (bh, bw) and (bh, bw) == (H, W):
        return maps.detach().cpu().numpy().astype(np.float32)
    inner = F.interpolate(maps, size=(bh, bw), mode="bilinear", align_corners=False)
    out = torch.zeros(maps.shape[0], maps.shape[1], H, W, dtype=maps.dtype)
    out[:, :, top : top + bh, left : left + bw] = inner.cpu()
    return out.numpy().astype(np.float32)


# ----------------------------------------------------------------------- architectures
def _kind(visual: Any) -> str:
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
def _vit_grid_tap(visual: Any, grid: tuple[int, int]) -> Iterator[_GridTap]:
    """Route the tokens entering the last ViT block through a :class:`_GridTap`."""
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

    handle = visual.transformer.resblocks[-1].register_forward_pre_hook(pre_hook, with_kwargs=True)
    try:
        yield tap
    finally:
        handle.remove()


def _grid_of(visual: Any, x: torch.Tensor) -> tuple[int, int]:
    ph, pw = _patch_size(visual)
    return int(x.shape[2]) // ph, int(x.shape[3]) // pw


# --------------------------------------------------------------------------- methods
def _embedding_scores(model: Any, scorer: torch.nn.Module) -> Callable[[torch.Tensor], Any]:
    def forward(x: torch.Tensor) -> torch.Tensor:
        z = F.normalize(model.encode_image(x).float(), dim=-1)
        return scorer(z)

    return forward


def _gradcam(
    backbone: Any, x: torch.Tensor, target: list[int], scorer: torch.nn.Module
) -> torch.Tensor:
    """Grad-CAM map (rows, 1, h, w) of concept ``target[r]`` on image row ``r``."""
    from captum.attr import LayerGradCam

    visual = backbone.model.visual
    forward = _embedding_scores(backbone.model, scorer)
    if _kind(visual) == "vit":
        with _vit_grid_tap(visual, _grid_of(visual, x)) as tap:
            maps = LayerGradCam(forward, tap).attribute(x, target=target, relu_attributions=True)
    else:
        gc = LayerGradCam(forward, visual.layer4)
        maps = gc.attribute(x, target=target, relu_attributions=True)
    maps = maps.detach()
    return F.interpolate(maps, size=tuple(x.shape[2:]), mode="bilinear", align_corners=False)


def _pixel_method(
    backbone: Any,
    x: torch.Tensor,
    target: list[int],
    scorer: torch.nn.Module,
    method: str,
    n_steps: int,
    internal_batch_size: int,
) -> torch.Tensor:
    """Saliency or integrated-gradients map (rows, 1, H, W) of concept ``target[r]``."""
    from captum.attr import IntegratedGradients, Saliency

    forward = _embedding_scores(backbone.model, scorer)
    x = x.clone().requires_grad_(True)
    if method == "saliency":
        a = Saliency(forward).attribute(x, target=target, abs=True)
        return a.amax(dim=1, keepdim=True).detach()
    mean, std = _normalisation(backbone.preprocess, x)
    black = ((0.0 - mean) / std).expand_as(x).contiguous()
    a = IntegratedGradients(forward).attribute(
        x,
        baselines=black,
        target=target,
        n_steps=n_steps,
        method="riemann_trapezoid",
        internal_batch_size=internal_batch_size,
    )
    return a.sum(dim=1, keepdim=True).detach()


def _normalisation(preprocess: Any, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    from torchvision import transforms as T

    norm = next((s for s in _preprocess_steps(preprocess) if isinstance(s, T.Normalize)), None)
    mean = [0.0, 0.0, 0.0] if norm is None else list(norm.mean)
    std = [1.0, 1.0, 1.0] if norm is None else list(norm.std)
    shape = (1, -1, 1, 1)
    return (
        torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(shape),
        torch.as_tensor(std, dtype=x.dtype, device=x.device).view(shape),
    )


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
    gh, gw = _grid_of(visual, x)
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


def _coam(backbone: Any, x: torch.Tensor, scorer: torch.nn.Module, m: int) -> torch.Tensor:
    """CoAM (n, m, H, W): each location's term of the embedding times the gradient of the
    concept activation with respect to the unnormalised embedding."""
    visual = backbone.model.visual
    with torch.no_grad():
        if _kind(visual) == "vit":
            terms, f = _vit_location_terms(backbone, x)
        else:
            terms, f = _resnet_location_terms(backbone, x)
    terms = terms.float()
    f = f.float().detach().requires_grad_(True)
    s = scorer(F.normalize(f, dim=-1))
    out = []
    for j in range(m):
        (g,) = torch.autograd.grad(s[:, j].sum(), f, retain_graph=j < m - 1)
        out.append(torch.einsum("nd,nhwd->nhw", g, terms))
    maps = torch.stack(out, dim=1).detach()
    return F.interpolate(maps, size=tuple(x.shape[2:]), mode="bilinear", align_corners=False)


# ------------------------------------------------------------------------ public API
def concept_activation_map(
    backbone: Any,
    images: Any,
    concept_bank_or_model: Any,
    concepts: Sequence[str | int] | str | int | None = None,
    method: str = "gradcam",
    *,
    batch_size: int = 256,
    n_steps: int = 32,
) -> np.ndarray:
    r"""Heat maps of where each concept is seen in each image.

    For image :math:`x` and concept :math:`j` the explained scalar is the concept activation
    on the L2-normalised image embedding :math:`z = f(x)/\lVert f(x)\rVert`: with a
    :class:`~bottlekit.concepts.ConceptBank`, :math:`s_j = (v_j\cdot z + b_j)/\lVert
    v_j\rVert` (CAVs) or :math:`v_j\cdot z/(\lVert v_j\rVert\lVert z\rVert)` (text concepts),
    i.e. :meth:`~bottlekit.concepts.ConceptBank.project`; with a fitted concept-bottleneck
    model, ``model.transform_torch(z)[:, j]``.

    Methods (see the module docstring for the formulas): ``"gradcam"`` (captum
    ``LayerGradCam`` on the last vision stage), ``"integrated_gradients"``, ``"saliency"``
    and ``"coam"``.

    **Concept activation mapping (CoAM).** Aysel, Cai & Prügel-Bennett (2025) visualise a
    concept the way CAM (Zhou et al. 2016) visualises a class. Their paper's text was not
    available to this implementation and there is no public code; what is implemented is
    this reading of it, and the choices below are bottlekit's. CAM's defining property is
    that the map decomposes the explained score over locations. The unnormalised image
    embedding :math:`f` is written as a sum of one term per location plus terms that no
    location owns, :math:`f = \sum_u \delta f(u) + r`, and

    .. math:: M_j(u) = \frac{\partial s_j(f/\lVert f\rVert)}{\partial f}\cdot\delta f(u),

    the first-order change of the concept activation that location :math:`u`'s term
    causes (removing it changes :math:`s_j` by about :math:`-M_j(u)`). The terms:

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
    concepts and images; positive = the location pushes the concept up.

    Parameters
    ----------
    backbone : Backbone
        From :func:`bottlekit.load_backbone`: an open_clip ViT or ResNet (``ModifiedResNet``)
        image tower. Runs on ``backbone.device``, in float32.
    images : uint8 array (n, H, W, 3), PIL image(s), or float tensor (n, 3, H, W)
        Raw images go through ``backbone.preprocess``; a tensor is taken as already
        preprocessed. All images must have one size.
    concept_bank_or_model : ConceptBank or fitted concept-bottleneck model
        Where the concept scalar comes from (see above). A bank must live in the
        backbone's embedding space.
    concepts : list of str or int, str, int, or None
        Concepts to map (names or indices into the bank's ``names`` / the model's
        ``concept_names_``); ``None`` maps all of them.
    method : {"gradcam", "integrated_gradients", "saliency", "coam"}, default "gradcam"
    batch_size : int, default 256
        (image, concept) pairs per forward/backward pass (integrated gradients: rows of
        the interpolation path per pass). Lower it for large backbones.
    n_steps : int, default 32
        Integration steps of integrated gradients (captum's default is 50; 32 keeps the
        trapezoid-rule error small for these smooth paths at two thirds of the cost).

    Returns
    -------
    ndarray of shape (n, len(concepts), H, W), float32
        One map per image and concept at the image's resolution (for raw images at another
        size than the model's input, the model's centre crop is mapped back and the pixels
        it never saw are 0). Larger = more evidence for the concept. ``gradcam`` and
        ``saliency`` are >= 0; ``integrated_gradients`` and ``coam`` are signed.

    Raises
    ------
    ValueError
        Unknown method or concept, bad images, bank of another dimension, unsupported
        image tower.
    TypeError
        Wrong input types.

    Examples
    --------
    >>> import bottlekit
    >>> from bottlekit.concepts import from_text
    >>> bk = bottlekit.load_backbone("world-tiny", device="cpu")
    >>> world = bottlekit.make_world(4, "test")
    >>> bank = from_text(bk, ["red body", "long tail"])
    >>> maps = concept_activation_map(bk, world.images, bank, method="gradcam")
    >>> maps.shape
    (4, 2, 64, 64)
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    for name, val in (("batch_size", batch_size), ("n_steps", n_steps)):
        if not isinstance(val, numbers.Integral) or isinstance(val, bool) or val < 1:
            raise ValueError(f"{name}: expected a positive int, got {val!r}")
    model = getattr(backbone, "model", None)
    if model is None or not hasattr(model, "visual") or not hasattr(backbone, "device"):
        raise TypeError(
            "backbone: expected a bottlekit Backbone (load_backbone) with .model.visual, "
            f".preprocess and .device, got {type(backbone).__name__}"
        )
    _kind(model.visual)
    names = _concept_names_of(concept_bank_or_model)
    idx = _resolve_concepts(concepts, names)
    embed_dim = int(backbone.embed_dim)
    dim = getattr(concept_bank_or_model, "dim", None) or getattr(
        concept_bank_or_model, "n_features_in_", None
    )
    if dim is not None and int(dim) != embed_dim:
        raise ValueError(
            f"concept_bank_or_model: has dimension {int(dim)}, the backbone embeds in "
            f"{embed_dim} dimensions; build it on this backbone"
        )
    x_all, size, box = _as_model_input(backbone, images)
    scorer = _make_scorer(concept_bank_or_model, idx, backbone.device)
    n, m = len(x_all), len(idx)
    H, W = int(x_all.shape[2]), int(x_all.shape[3])
    maps = torch.empty(n * m, 1, H, W, dtype=torch.float32)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            if method == "coam":  # one pass per image gives every concept's map
                for start in range(0, n, int(batch_size)):
                    x = x_all[start : start + int(batch_size)]
                    out = _coam(backbone, x, scorer, m).float().cpu()
                    maps[start * m : (start + len(x)) * m] = out.reshape(-1, 1, H, W)
            # other methods: rows are (image, concept) pairs, row r = image r // m, concept r % m
            for start in range(0, n * m if method != "coam" else 0, int(batch_size)):
                rows = torch.arange(start, min(start + int(batch_size), n * m))
                x = x_all[rows // m]
                target = (rows % m).tolist()
                if method == "gradcam":
                    out = _gradcam(backbone, x, target, scorer)
                else:
                    out = _pixel_method(
                        backbone, x, target, scorer, method, int(n_steps), int(batch_size)
                    )
                maps[start : start + len(rows)] = out.float().cpu()
    finally:
        model.train(was_training)
    return _to_image_resolution(maps.reshape(n, m, H, W), size, box)
