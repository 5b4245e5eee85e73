"""Plain networks of the information-bottleneck architecture, for comparisons.

The same encoder–decoder as :class:`~bottlekit.bottleneck.CSIBRegressor` and the VIB
models, with a deterministic bottleneck and only the fit term: mean squared error for
regression, cross-entropy for classification. Any difference in a benchmark between
these and the IB models is then due to the objective, not the architecture.
"""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.base import ClassifierMixin, RegressorMixin

from bottlekit.bottleneck._ib_base import BaseIBEstimator, IBClassifierMixin, IBRegressorMixin

__all__ = ["MLPClassifierBaseline", "MLPRegressorBaseline"]


class _PlainLoss:
    stochastic_encoder = False

    def _loss(self, x, y, out, t, mean, logvar):
        return self._fit_term(out, y), {}


class _PlainInit:
    def __init__(
        self,
        bottleneck_dim: int = 128,
        hidden_sizes: Sequence[int] = (128, 128),
        learning_rate: float = 1e-3,
        batch_size: int = 128,
        max_epochs: int = 200,
        lr_decay_step: int = 10,
        lr_decay_gamma: float = 0.6,
        validation_fraction: float = 0.2,
        patience: int = 20,
        device: str | None = None,
        random_state: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.bottleneck_dim = bottleneck_dim
        self.hidden_sizes = hidden_sizes
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.lr_decay_step = lr_decay_step
        self.lr_decay_gamma = lr_decay_gamma
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.device = device
        self.random_state = random_state
        self.verbose = verbose


class MLPRegressorBaseline(
    IBRegressorMixin, _PlainLoss, _PlainInit, RegressorMixin, BaseIBEstimator
):
    """The IB architecture trained with mean squared error only.

    Parameters are those of :class:`~bottlekit.bottleneck.CSIBRegressor` without
    ``beta``, ``sigma``, ``normalize_qmi`` and ``stochastic_encoder`` (the bottleneck is
    deterministic).

    Parameters
    ----------
    bottleneck_dim : int, default 128
        Dimension ``K`` of the bottleneck.
    hidden_sizes : tuple of int, default (128, 128)
        Widths of the encoder's hidden layers.
    learning_rate : float, default 1e-3
        Adam learning rate.
    batch_size : int, default 128
        Rows per mini-batch, at least 2.
    max_epochs : int, default 200
        Most training epochs (early stopping may end sooner).
    lr_decay_step, lr_decay_gamma : int, float, default 10, 0.6
        Step decay of the learning rate: multiplied by ``lr_decay_gamma`` every
        ``lr_decay_step`` epochs.
    validation_fraction : float, default 0.2
        Share of the training data held out for early stopping and model selection.
    patience : int, default 20
        Epochs without improvement of the validation error before stopping.
    device : str or torch.device, optional
        ``None`` picks CUDA when available.
    random_state : int, RandomState or None
        Seeds the initialisation, the validation split and the batches.
    verbose : bool, default False
        Print the training loss and the validation error after each epoch.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> X, y = load_diabetes(return_X_y=True)
    >>> MLPRegressorBaseline(max_epochs=20, random_state=0).fit(X, y).predict(X[:2]).shape
    (2,)
    """

    _task = "regression"


class MLPClassifierBaseline(
    IBClassifierMixin, _PlainLoss, _PlainInit, ClassifierMixin, BaseIBEstimator
):
    """The IB architecture trained with cross-entropy only.

    Parameters are those of :class:`~bottlekit.bottleneck.VIBClassifier` without
    ``beta`` and ``stochastic_encoder`` (the bottleneck is deterministic), with a
    learning-rate decay of 0.6 (VIB: 0.9).

    Parameters
    ----------
    bottleneck_dim : int, default 128
        Dimension ``K`` of the bottleneck.
    hidden_sizes : tuple of int, default (128, 128)
        Widths of the encoder's hidden layers.
    learning_rate : float, default 1e-3
        Adam learning rate.
    batch_size : int, default 128
        Rows per mini-batch, at least 2.
    max_epochs : int, default 200
        Most training epochs (early stopping may end sooner).
    lr_decay_step, lr_decay_gamma : int, float, default 10, 0.6
        Step decay of the learning rate: multiplied by ``lr_decay_gamma`` every
        ``lr_decay_step`` epochs.
    validation_fraction : float, default 0.2
        Share of the training data held out for early stopping and model selection.
    patience : int, default 20
        Epochs without improvement of the validation error before stopping.
    device : str or torch.device, optional
        ``None`` picks CUDA when available.
    random_state : int, RandomState or None
        Seeds the initialisation, the validation split and the batches.
    verbose : bool, default False
        Print the training loss and the validation error after each epoch.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> MLPClassifierBaseline(max_epochs=50, random_state=0).fit(X, y).score(X, y) > 0.9
    True
    """

    _task = "classification"
