"""Integrated gradients of concept activations (Sundararajan et al. 2017)."""

from __future__ import annotations

import numbers
from typing import Any

import torch

from bottlekit.visualize.attribution._base import ConceptAttribution, check_positive_int
from bottlekit.visualize.attribution._images import normalisation

__all__ = ["ConceptIntegratedGradients"]


class ConceptIntegratedGradients(ConceptAttribution):
    r"""Integrated gradients of a concept activation, summed over colour channels.

    .. math:: M_j(u) = \sum_c (x_{c,u} - x'_{c,u}) \int_0^1
        \frac{\partial s_j(x' + \alpha (x - x'))}{\partial x_{c,u}}\,d\alpha

    on the preprocessed pixels, from the baseline :math:`x'` (by default a black image:
    pixel value 0 before normalisation), with the trapezoid rule on ``n_steps`` points
    (:class:`captum.attr.IntegratedGradients`, ``method="riemann_trapezoid"``;
    Sundararajan, Taly & Yan 2017). :math:`s_j` is the concept activation of the embedding
    (see :class:`~bottlekit.visualize.attribution.ConceptAttribution`). Maps are signed.

    captum's trapezoid weights are :math:`1/(2n), 1/n, \dots, 1/n, 1/(2n)` on the ``n``
    points :math:`\alpha = 0, 1/(n-1), \dots, 1`: they sum to :math:`(n-1)/n`, not 1, so
    a map summed over all pixels is :math:`\frac{n-1}{n}(s_j(x) - s_j(x'))` up to the
    trapezoid rule's :math:`O(n^{-2})` error (3 % below the completeness value at the
    default 32 steps; kept as captum computes it).

    Parameters
    ----------
    backbone : Backbone
        From :func:`bottlekit.load_backbone`: an open_clip ViT or ResNet image tower.
    concept_bank_or_model : ConceptBank or fitted concept-bottleneck model
        Where the concept activation comes from; a bank must live in the backbone's
        embedding space.
    n_steps : int, default 32
        Integration points, at least 2 (captum's default is 50; 32 keeps the trapezoid-rule
        error small for these smooth paths at two thirds of the cost).
    baseline : "black", float or torch.Tensor, default "black"
        The path's start :math:`x'`, in the preprocessed (normalised) space: ``"black"`` is
        the all-black image, a number a constant input, a tensor one input broadcastable
        to (1, 3, S, S) (S the model's input size).
    batch_size : int, default 256
        (image, concept) pairs per call, and rows of the interpolation path per
        forward/backward pass.

    Examples
    --------
    >>> import bottlekit
    >>> from bottlekit.concepts import from_text
    >>> from bottlekit.visualize import ConceptIntegratedGradients
    >>> bk = bottlekit.load_backbone("world-tiny", device="cpu")
    >>> bank = from_text(bk, ["red body", "long tail"])
    >>> images = bottlekit.make_world(2, "test").images
    >>> ig = ConceptIntegratedGradients(bk, bank, n_steps=8)
    >>> ig.attribute(images).shape
    (2, 2, 64, 64)
    """

    method = "integrated_gradients"

    def __init__(
        self,
        backbone: Any,
        concept_bank_or_model: Any,
        *,
        n_steps: int = 32,
        baseline: str | float | torch.Tensor = "black",
        batch_size: int = 256,
    ) -> None:
        self.n_steps = check_positive_int(n_steps, "n_steps")
        if self.n_steps < 2:
            raise ValueError(
                f"n_steps: integrated gradients needs at least 2 points, got {n_steps!r}"
            )
        self.baseline = _check_baseline(baseline)
        super().__init__(backbone, concept_bank_or_model, batch_size=batch_size)

    def _baselines(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.baseline, str):  # "black": pixel value 0 before normalisation
            mean, std = normalisation(self.backbone.preprocess, x)
            return ((0.0 - mean) / std).expand_as(x).contiguous()
        b = torch.as_tensor(self.baseline, dtype=x.dtype, device=x.device)
        one = (1, *x.shape[1:])
        try:
            fits = torch.broadcast_shapes(tuple(b.shape), one) == one
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(
                f"baseline: expected a tensor broadcastable to one preprocessed input {one}, "
                f"got shape {tuple(b.shape)}"
            )
        return b.expand_as(x).contiguous()

    def _attribute_rows(
        self, x: torch.Tensor, target: list[int], scorer: torch.nn.Module
    ) -> torch.Tensor:
        from captum.attr import IntegratedGradients

        x = x.clone().requires_grad_(True)
        a = IntegratedGradients(self._concept_scores(scorer)).attribute(
            x,
            baselines=self._baselines(x),
            target=target,
            n_steps=self.n_steps,
            method="riemann_trapezoid",
            internal_batch_size=self.batch_size,
        )
        return a.sum(dim=1, keepdim=True).detach()


def _check_baseline(baseline: Any) -> str | float | torch.Tensor:
    if isinstance(baseline, str):
        if baseline != "black":
            raise ValueError(f"baseline: expected 'black', a number or a tensor, got {baseline!r}")
        return baseline
    if isinstance(baseline, numbers.Real) and not isinstance(baseline, bool):
        value = float(baseline)
        if not torch.isfinite(torch.tensor(value)):
            raise ValueError(f"baseline: expected a finite number, got {baseline!r}")
        return value
    if isinstance(baseline, torch.Tensor):
        if not baseline.is_floating_point():
            raise TypeError(f"baseline: a tensor must be float, got dtype {baseline.dtype}")
        if not torch.isfinite(baseline).all():
            raise ValueError("baseline: the tensor contains NaN or inf")
        return baseline.detach()
    raise TypeError(
        f"baseline: expected 'black', a number or a tensor, got {type(baseline).__name__}"
    )
