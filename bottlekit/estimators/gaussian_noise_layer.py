r"""A layer that adds Gaussian noise of a stated standard deviation, in training and in use.

Goldfeld et al. (2019, "Estimating information flow in deep neural networks") make a
network stochastic so that the information its layers keep about a continuous input is
finite: a deterministic layer :math:`T = h(X)` has :math:`I(X;T) = \infty`, while
:math:`T_\sigma = h(X) + \sigma Z`, :math:`Z \sim N(0, I)`, has

.. math::
    I(X; T_\sigma) = h(T_\sigma) - h(T_\sigma \mid X)
    = h(T_\sigma) - \tfrac{d}{2}\log(2\pi e\sigma^2) < \infty .

Butakov et al. (2024) analyse such networks; :class:`GaussianNoise` is the noise layer,
active in ``eval()`` mode too (the network *is* stochastic, not only regularised).
"""

from __future__ import annotations

import numbers

import torch
from torch import nn

from bottlekit._checks import check_bool

__all__ = ["GaussianNoise"]


class GaussianNoise(nn.Module):
    r"""Add :math:`\sigma Z`, :math:`Z \sim N(0, I)`, to the input, in train and eval mode.

    Parameters
    ----------
    std : float
        :math:`\sigma`, the noise's standard deviation (>= 0; 0 is the identity).
    relative : bool, default=False
        Scale the noise by the input, :math:`x + \sigma\,x\,Z` (the default of the
        reference code's ``AdditiveGaussianNoise``); the default adds noise of a fixed
        variance :math:`\sigma^2`, the setting in which :math:`I(X;T_\sigma)` is finite.

    Examples
    --------
    >>> import torch
    >>> layer = GaussianNoise(0.5).eval()
    >>> torch.manual_seed(0); out = layer(torch.zeros(20000, 2))  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> round(float(out.std()), 2)
    0.5
    """

    def __init__(self, std: float, relative: bool = False) -> None:
        super().__init__()
        if isinstance(std, bool) or not isinstance(std, numbers.Real):
            raise TypeError(f"std must be a non-negative number, got {std!r}")
        if not std >= 0 or std == float("inf"):
            raise ValueError(f"std must be a finite number >= 0, got {std!r}")
        self.std = float(std)
        self.relative = check_bool(relative, "relative")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` plus Gaussian noise of standard deviation ``std`` (times ``x`` if relative).

        Parameters
        ----------
        x : torch.Tensor
            The layer's input.

        Returns
        -------
        torch.Tensor
            Of the same shape; ``x`` itself when ``std`` is 0.
        """
        if self.std == 0:
            return x
        noise = torch.randn_like(x) * self.std
        return x + (noise * x if self.relative else noise)

    def extra_repr(self) -> str:
        """The layer's settings, shown in the module's repr.

        Returns
        -------
        str
            ``"std=..., relative=..."``.
        """
        return f"std={self.std}, relative={self.relative}"
