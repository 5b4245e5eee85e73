"""Grad-CAM of concept activations (Selvaraju et al. 2017)."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from bottlekit.visualize.attribution._base import ConceptAttribution
from bottlekit.visualize.attribution._image_towers import grid_of, tower_kind, vit_grid_tap
from bottlekit.visualize.attribution._images import upsample

__all__ = ["ConceptGradCAM"]

_BLOCKS = "transformer.resblocks."


class ConceptGradCAM(ConceptAttribution):
    r"""Grad-CAM of a concept activation on a feature map of the image tower.

    .. math:: M_j = \mathrm{ReLU}\Big(\sum_c \alpha_c A_c\Big), \qquad
        \alpha_c = \frac{1}{hw}\sum_u \frac{\partial s_j}{\partial A_{c,u}}

    (Selvaraju et al. 2017), as :class:`captum.attr.LayerGradCam` computes it, with
    :math:`A` the (C, h, w) feature map of ``layer`` and :math:`s_j` the concept activation
    of the embedding (see :class:`~bottlekit.visualize.attribution.ConceptAttribution`);
    the map is upsampled bilinearly to the model's input size. Maps are >= 0. The concepts
    mapped on one image share its forward pass (one backward pass to :math:`A` each).

    The default feature map is the last stage of the vision tower. ResNet: the output of
    ``layer4``. ViT: the patch tokens *entering* the last transformer block (the class
    token dropped, the tokens laid out on the model's ``grid_size`` patch grid, row major
    as open_clip's ``conv1`` flattens them). The last block's *output* patch tokens cannot
    be used for a class-token ViT: only the class token leaves that block, so their
    gradient is zero.

    Parameters
    ----------
    backbone : Backbone
        From :func:`bottlekit.load_backbone`: an open_clip ViT or ResNet image tower.
    concept_bank_or_model : ConceptBank or fitted concept-bottleneck model
        Where the concept activation comes from; a bank must live in the backbone's
        embedding space.
    layer : str or None, default None
        Name of the feature map, a module of ``backbone.model.visual``: for a ResNet any
        module with an (n, C, h, w) output (e.g. ``"layer3"``), for a ViT a block
        ``"transformer.resblocks.<i>"`` whose *input* patch tokens are used. ``None``: the
        last stage (``"layer4"`` / the last block).
    batch_size : int, default 256
        (image, concept) pairs per call: ``batch_size // t`` images per forward pass
        (``t`` concepts mapped per image), one backward pass per concept on it.

    Examples
    --------
    >>> import bottlekit
    >>> from bottlekit.concepts import from_text
    >>> from bottlekit.visualize import ConceptGradCAM
    >>> bk = bottlekit.load_backbone("world-tiny", device="cpu")
    >>> bank = from_text(bk, ["red body", "long tail"])
    >>> images = bottlekit.make_world(2, "test").images
    >>> maps = ConceptGradCAM(bk, bank).attribute(images, ["red body", "long tail"])
    >>> maps.shape, bool((maps >= 0).all())
    ((2, 2, 64, 64), True)
    """

    method = "gradcam"

    def __init__(
        self,
        backbone: Any,
        concept_bank_or_model: Any,
        *,
        layer: str | None = None,
        batch_size: int = 256,
    ) -> None:
        self.layer = layer
        super().__init__(backbone, concept_bank_or_model, batch_size=batch_size)
        self._check_layer()

    def _check_layer(self) -> None:
        if self.layer is None:
            return
        if not isinstance(self.layer, str):
            raise TypeError(
                f"layer: expected a module name (str) or None, got {type(self.layer).__name__}"
            )
        visual = self.backbone.model.visual
        if tower_kind(visual) == "vit":
            names = [f"{_BLOCKS}{i}" for i in range(len(visual.transformer.resblocks))]
            what = "a ViT block"
        else:
            names = [n for n, _ in visual.named_modules() if n]
            what = "a module of the image tower"
        if self.layer not in names:
            close = difflib.get_close_matches(self.layer, names, n=3)
            raise ValueError(
                f"layer: expected {what} ({names[0]} .. {names[-1]}), got {self.layer!r}"
                + (f"; did you mean {close}?" if close else "")
            )

    def _maps(
        self, x_all: torch.Tensor, scorer: torch.nn.Module, cols: np.ndarray
    ) -> torch.Tensor:
        """Maps (n, t, H, W): one forward pass per ``batch_size // t`` images, then one
        backward pass (to the feature map only) per concept mapped on them."""
        forward = self._concept_scores(scorer)
        n, t = cols.shape
        maps = torch.empty(n, t, *x_all.shape[2:], dtype=torch.float32)
        for chunk, x, columns in self._image_chunks(x_all, cols):
            scores, features = self._scores_and_feature_map(forward, x)
            rows = torch.arange(len(x), device=x.device)
            for c in range(t):
                (grad,) = torch.autograd.grad(
                    scores[rows, columns[:, c]].sum(), features, retain_graph=c < t - 1
                )
                weights = grad.mean(dim=(2, 3), keepdim=True)
                cam = torch.relu((weights * features).sum(dim=1, keepdim=True)).detach()
                maps[chunk, c] = upsample(cam, x.shape[2:])[:, 0].float().cpu()
        return maps

    def _scores_and_feature_map(
        self, forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The concept scores of ``x`` and the (rows, C, h, w) feature map they came through
        (in the graph, so that the scores can be differentiated with respect to it)."""
        visual = self.backbone.model.visual
        seen: list[torch.Tensor] = []

        def keep(module: Any, args: Any, out: torch.Tensor) -> torch.Tensor:
            if not out.requires_grad:  # the tower's weights frozen: make it a leaf
                out = out.detach().requires_grad_(True)
            seen.append(out)
            return out

        if tower_kind(visual) == "vit":
            block = -1 if self.layer is None else int(self.layer[len(_BLOCKS) :])
            with vit_grid_tap(visual, grid_of(visual, x), block) as tap:
                handle = tap.register_forward_hook(keep)
                try:
                    scores = forward(x)
                finally:
                    handle.remove()
        else:
            module = visual.layer4 if self.layer is None else visual.get_submodule(self.layer)
            handle = module.register_forward_hook(keep)
            try:
                scores = forward(x)
            finally:
                handle.remove()
        features = seen[-1]
        if features.ndim != 4:
            raise ValueError(
                f"layer: {self.layer!r} gives a {features.ndim}-d output; Grad-CAM needs an "
                "(n, C, h, w) feature map"
            )
        return scores, features
