"""Concept activations of the patch tokens: maps that read no gradient."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from bottlekit._vit_tokens import check_token_tower, vit_patch_tokens
from bottlekit.visualize.attribution._base import ConceptAttribution
from bottlekit.visualize.attribution._images import upsample

__all__ = ["ConceptPatchTokens"]


class ConceptPatchTokens(ConceptAttribution):
    r"""The concept activation of each patch token.

    .. math::
        M_j(u) = s_j\big(t_u/\lVert t_u\rVert\big),\qquad
        t_u = \mathrm{LN}_\mathrm{post}(h_u)\,P,

    with :math:`h_u` patch :math:`u`'s token leaving the ViT's last block, taken to the
    embedding space by the two steps (final LayerNorm, projection :math:`P`) that take
    the pooled token there (:meth:`bottlekit.Backbone.encode_image_tokens`), and
    :math:`s_j` the concept activation (see
    :class:`~bottlekit.visualize.attribution.ConceptAttribution`). No gradient: each map
    is the concept read on each patch. Meant for concepts learned on patch tokens, such
    as the atoms of a dictionary that :func:`bottlekit.concepts.discover` learned on them
    (named by :func:`bottlekit.concepts.name_concepts`), whose own map it is. Concepts of
    the pooled embedding (text concepts, CAVs, atoms learned on image embeddings) need
    not read the same on patch tokens: a class-token CLIP trains only its class token
    for the contrastive loss (on the built-in world they point no better than a uniform
    map; docs/concepts.md). The patch grid is upsampled bilinearly to the model's input
    size; one forward pass per image serves every concept.

    Parameters
    ----------
    backbone : Backbone
        From :func:`bottlekit.load_backbone`: an open_clip ViT that pools its class token
        or the mean of its tokens and projects it.
    concept_bank_or_model : ConceptBank or fitted concept-bottleneck model
        Where the concept activation comes from; a bank must live in the backbone's
        embedding space.
    batch_size : int, default 256
        Images per forward pass (each pass maps every concept).

    Examples
    --------
    >>> import bottlekit
    >>> from bottlekit.concepts import discover, from_text, name_concepts
    >>> from bottlekit.visualize import ConceptPatchTokens
    >>> bk = bottlekit.load_backbone("world-tiny", device="cpu")
    >>> images = bottlekit.make_world(40, "train").images
    >>> T = bk.encode_image_tokens(images, progress=False)       # (40, 8, 8, 64)
    >>> atoms = discover(T.reshape(-1, 64), 16, k=4, epochs=2, random_state=0,
    ...                  backbone_id=bk.id)
    >>> bank = name_concepts(atoms, from_text(bk, ["red body", "long tail", "water"]))
    >>> maps = ConceptPatchTokens(bk, bank).attribute(images[:2], [0, 1])
    >>> maps.shape
    (2, 2, 64, 64)
    """

    method = "patch_tokens"

    def _check_backbone(self) -> None:
        super()._check_backbone()
        check_token_tower(
            self.backbone.model.visual, str(self.backbone.name), who="ConceptPatchTokens"
        )

    def _maps(
        self, x_all: torch.Tensor, scorer: torch.nn.Module, cols: np.ndarray
    ) -> torch.Tensor:
        """One forward pass per batch of images scores every concept on its patches; map
        ``c`` of image ``i`` is scorer column ``cols[i, c]``, taken on the patch grid
        before upsampling (only the mapped columns reach the image's size)."""
        H, W = int(x_all.shape[2]), int(x_all.shape[3])
        visual = self.backbone.model.visual
        columns = torch.as_tensor(np.array(cols))
        out = []
        with torch.no_grad():
            for start in range(0, len(x_all), self.batch_size):
                tokens = vit_patch_tokens(visual, x_all[start : start + self.batch_size])
                b, gh, gw, d = tokens.shape
                z = F.normalize(tokens.float().reshape(-1, d), dim=-1)
                grid = scorer(z).float().reshape(b, gh, gw, -1).permute(0, 3, 1, 2).cpu()
                mapped = grid[torch.arange(b)[:, None], columns[start : start + b]]
                out.append(upsample(mapped, (H, W)))
        return torch.cat(out)
