"""Saliency maps of concept activations (Simonyan et al. 2014)."""

from __future__ import annotations

import numpy as np
import torch

from bottlekit.visualize.attribution._base import ConceptAttribution

__all__ = ["ConceptSaliency"]


class ConceptSaliency(ConceptAttribution):
    r"""Saliency map of a concept activation: the largest absolute input gradient.

    .. math:: M_j(u) = \max_{c}\,\left|\frac{\partial s_j(x)}{\partial x_{c,u}}\right|

    over the colour channels :math:`c` of pixel :math:`u` of the preprocessed image
    (Simonyan, Vedaldi & Zisserman 2014), as :class:`captum.attr.Saliency` computes it;
    the concepts mapped on one image share its forward pass (one backward pass each).
    :math:`s_j` is the concept activation of the embedding (see
    :class:`~bottlekit.visualize.attribution.ConceptAttribution`). Maps are >= 0.

    Parameters
    ----------
    backbone : Backbone or callable
        From :func:`bottlekit.load_backbone` (an open_clip ViT or ResNet image tower; the
        concept source scores its L2-normalised embedding). Or a feature function
        ``features(x) -> (n, d)`` on preprocessed float tensors, such as a torch
        classifier's penultimate layer: the concept source then scores its output as it
        is, and ``images`` must be the preprocessed tensor (n, C, H, W) (maps at its size).
    concept_bank_or_model : ConceptBank or fitted concept-bottleneck model
        Where the concept activation comes from; it must live in the backbone's embedding
        space (or the feature function's output space).
    batch_size : int, default 256
        (image, concept) pairs per call: ``batch_size // t`` images per forward pass
        (``t`` concepts mapped per image), one backward pass per concept on it.

    Examples
    --------
    >>> import bottlekit
    >>> from bottlekit.concepts import from_text
    >>> from bottlekit.visualize import ConceptSaliency
    >>> bk = bottlekit.load_backbone("world-tiny", device="cpu")
    >>> bank = from_text(bk, ["red body", "long tail"])
    >>> images = bottlekit.make_world(2, "test").images
    >>> maps = ConceptSaliency(bk, bank).attribute(images, ["long tail"])
    >>> maps.shape, bool((maps >= 0).all())
    ((2, 1, 64, 64), True)
    """

    method = "saliency"
    _accepts_feature_function = True

    def _maps(
        self, x_all: torch.Tensor, scorer: torch.nn.Module, cols: np.ndarray
    ) -> torch.Tensor:
        """Maps (n, t, H, W): one forward pass per ``batch_size // t`` images, one backward
        pass on it per concept mapped on them (the concepts of an image share its forward
        pass)."""
        forward = self._concept_scores(scorer)
        n, t = cols.shape
        maps = torch.empty(n, t, *x_all.shape[2:], dtype=torch.float32)
        for chunk, x, columns in self._image_chunks(x_all, cols):
            per_concept = [columns[:, c] for c in range(t)]
            for c, grad in enumerate(self._input_gradients(forward, x, per_concept)):
                maps[chunk, c] = grad.abs().amax(dim=1).float().cpu()
        return maps
