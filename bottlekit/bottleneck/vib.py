r"""Variational information bottleneck (Alemi, Fischer, Dillon, Murphy, ICLR 2017).

The encoder gives a Gaussian :math:`q(t|x) = \mathcal N(\mu(x), \mathrm{diag}\,\sigma^2(x))`;
with the prior :math:`r(t) = \mathcal N(0, I)` the objective is

.. math::
    \mathcal L = \mathbb E_{x,y}\,\mathbb E_{t\sim q(t|x)}[-\log p(y|t)]
      + \beta\,\mathbb E_x\,\mathrm{KL}\big(q(t|x)\,\|\,r(t)\big),

an upper bound on :math:`-I(T;Y) + \beta I(X;T)` up to constants, with
:math:`\mathrm{KL} = \tfrac12\sum_k(\mu_k^2 + \sigma_k^2 - \log\sigma_k^2 - 1)`.
For classification :math:`-\log p(y|t)` is the cross-entropy; for regression a Gaussian
decoder of unit variance (on the standardised target) makes it the squared error up to
a factor and a constant, so the MSE is used.

Differences from the authors' code (``alexalemi/vib_demo``, ``MNISTVIB.ipynb``): there
the encoder's scale is :math:`\sigma = \mathrm{softplus}(\rho - 5)` (here a log-variance
head), :math:`K = 256` after two layers of 1024, both loss terms are divided by
:math:`\ln 2` (bits; the ratio, hence :math:`\beta`, is the same), Adam runs with
:math:`\beta_1 = 0.5` at a learning rate of :math:`10^{-4}` decayed by 0.97 every two
epochs on batches of 100, and the reported accuracy averages the softmax over 12 samples
of :math:`t` (here predictions use the mean of :math:`t`). The defaults below are chosen
for small tabular problems and for comparisons with :class:`CSIBRegressor`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from sklearn.base import ClassifierMixin, RegressorMixin

from bottlekit.bottleneck._ib_base import BaseIBEstimator, IBClassifierMixin, IBRegressorMixin

__all__ = ["VIBClassifier", "VIBRegressor", "gaussian_kl_to_standard_normal"]


def gaussian_kl_to_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""Batch mean of the KL divergence from :math:`\mathcal N(\mu, \mathrm{diag}\,e^{\ell})` to
    :math:`\mathcal N(0, I)`, in nats.

    .. math:: \tfrac12 \sum_k \left(\mu_k^2 + e^{\ell_k} - \ell_k - 1\right)

    Parameters
    ----------
    mean, logvar : Tensor of shape (n, K)
        The encoder's means :math:`\mu` and log-variances :math:`\ell`.

    Returns
    -------
    Tensor, 0-dim
        In nats.

    Examples
    --------
    >>> import math
    >>> kl = gaussian_kl_to_standard_normal(torch.ones(2, 3), torch.zeros(2, 3))
    >>> float(kl)  # 3 dimensions of mu = 1, unit variance: 3 * 1/2
    1.5
    >>> float(gaussian_kl_to_standard_normal(torch.zeros(1, 1), torch.full((1, 1), math.log(4.0))))
    ... # doctest: +ELLIPSIS
    0.806...
    """
    return 0.5 * torch.mean(torch.sum(mean**2 + logvar.exp() - logvar - 1.0, dim=1))


class _VIBLoss:
    def _loss(self, x, y, out, t, mean, logvar):
        fit_term = self._fit_term(out, y)
        kl = gaussian_kl_to_standard_normal(mean, logvar)
        loss = fit_term + self.beta * kl
        return loss, {"fit": float(fit_term.detach()), "kl": float(kl.detach())}


_PARAMS_DOC = """
    Parameters
    ----------
    beta : float, default 1e-3
        Weight of the KL (compression) term; Alemi et al.'s default.
    bottleneck_dim : int, default 128
        Dimension ``K`` of the bottleneck.
    hidden_sizes : tuple of int, default (128, 128)
        Encoder hidden layers (the same architecture as :class:`CSIBRegressor`, for
        comparisons; Alemi et al. used two layers of 1024 on MNIST).
    learning_rate : float, default 1e-3
        Adam learning rate.
    batch_size : int, default 128
        Rows per mini-batch, at least 2.
    max_epochs : int, default 200
        Most training epochs (early stopping may end sooner).
    lr_decay_step, lr_decay_gamma : int, float, default 10, 0.9
        Step decay of the learning rate every ``lr_decay_step`` epochs.
    validation_fraction : float, default 0.2
        Share of the training data held out for early stopping and model selection.
    patience : int, default 20
        Epochs without improvement of the validation error before stopping.
    stochastic_encoder : bool, default True
        Sample ``t`` during training (reparameterisation). Predictions use the mean.
    device : str or torch.device, optional
        ``None`` picks CUDA when available.
    random_state : int, RandomState or None
        Seeds the initialisation, the validation split, the batches and the noise.
    verbose : bool, default False
        Print the training loss and the validation error after each epoch.

    Attributes
    ----------
    network_ : IBNetwork
    history_ : dict of list of float
        Per-epoch ``train_loss``, ``train_fit``, ``train_kl`` and ``val_error``.
    best_epoch_ : int
        Epoch whose weights were kept.
    n_iter_ : int
        Epochs run.
"""


class VIBClassifier(IBClassifierMixin, _VIBLoss, ClassifierMixin, BaseIBEstimator):
    __doc__ = (
        "Variational information bottleneck classifier (cross-entropy + β·KL).\n"
        + _PARAMS_DOC
        + """
    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = VIBClassifier(max_epochs=30, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
"""
    )
    _task = "classification"

    def __init__(
        self,
        beta: float = 1e-3,
        bottleneck_dim: int = 128,
        hidden_sizes: Sequence[int] = (128, 128),
        learning_rate: float = 1e-3,
        batch_size: int = 128,
        max_epochs: int = 200,
        lr_decay_step: int = 10,
        lr_decay_gamma: float = 0.9,
        validation_fraction: float = 0.2,
        patience: int = 20,
        stochastic_encoder: bool = True,
        device: str | None = None,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.beta = beta
        self.bottleneck_dim = bottleneck_dim
        self.hidden_sizes = hidden_sizes
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.lr_decay_step = lr_decay_step
        self.lr_decay_gamma = lr_decay_gamma
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.stochastic_encoder = stochastic_encoder
        self.device = device
        self.random_state = random_state
        self.verbose = verbose


class VIBRegressor(IBRegressorMixin, _VIBLoss, RegressorMixin, BaseIBEstimator):
    __doc__ = (
        "Variational information bottleneck regressor (squared error + β·KL).\n"
        + _PARAMS_DOC
        + """
    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = VIBRegressor(max_epochs=50, random_state=0).fit(X, y)
    >>> reg.predict(X[:2]).shape
    (2,)
"""
    )
    _task = "regression"

    __init__ = VIBClassifier.__init__
