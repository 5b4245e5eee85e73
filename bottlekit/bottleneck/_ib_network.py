"""The encoder–decoder network shared by the information-bottleneck estimators.

Following the architecture of Kolchinsky et al. (2019, "Nonlinear Information
Bottleneck"), which the CS-IB reference code also uses: an MLP encoder
``x → hidden… → K`` followed by two linear heads giving the mean and log-variance of
the bottleneck :math:`t \\in \\mathbb R^K`, and an MLP decoder ``t → 128 → outputs``.
A stochastic encoder samples :math:`t = \\mu(x) + \\sigma(x)\\,\\varepsilon` with the
reparameterisation trick during training and uses :math:`\\mu(x)` at prediction time.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["IBNetwork"]


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class IBNetwork(nn.Module):
    """Encoder ``x → (μ, log σ²)`` of a K-dimensional bottleneck, and a decoder ``t → y``.

    Parameters
    ----------
    n_inputs : int
        Input dimension.
    hidden_sizes : sequence of int
        Encoder hidden layer widths.
    bottleneck_dim : int
        Dimension ``K`` of the bottleneck.
    n_outputs : int
        Output dimension (1 for regression, number of classes for classification).
    decoder_hidden : int
        Width of the decoder's hidden layer.
    stochastic : bool
        Sample ``t`` during training (reparameterisation) or always use the mean.
    """

    def __init__(
        self,
        n_inputs: int,
        hidden_sizes: Sequence[int],
        bottleneck_dim: int,
        n_outputs: int,
        decoder_hidden: int = 128,
        stochastic: bool = True,
    ) -> None:
        super().__init__()
        self.body = mlp([n_inputs, *hidden_sizes, bottleneck_dim])
        self.mean = nn.Linear(bottleneck_dim, bottleneck_dim)
        self.logvar = nn.Linear(bottleneck_dim, bottleneck_dim)
        self.decoder = mlp([bottleneck_dim, decoder_hidden, n_outputs])
        self.stochastic = stochastic

    def encode(
        self, x: torch.Tensor, generator: torch.Generator | None = None, sample: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(t, mean, logvar)``; ``t`` is sampled only if ``sample`` and stochastic."""
        h = self.body(x)
        mean, logvar = self.mean(h), self.logvar(h)
        if sample and self.stochastic:
            eps = torch.randn(mean.shape, generator=generator, device=mean.device)
            return mean + torch.exp(0.5 * logvar) * eps, mean, logvar
        return mean, mean, logvar

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None, sample: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(output, t, mean, logvar)``."""
        t, mean, logvar = self.encode(x, generator, sample)
        return self.decoder(t), t, mean, logvar
