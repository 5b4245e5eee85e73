r"""Neural variational lower bounds on mutual information (torch).

A critic :math:`f(x, y)` is trained to maximise a lower bound on :math:`I(X;Y)`; the
value of the bound on held-out data is the estimate. For a batch of ``B`` pairs the critic
gives a score matrix :math:`S_{ij} = f(x_i, y_j)`: the diagonal are samples of the joint,
the off-diagonal entries samples of the product of marginals (Poole et al. 2019).

* ``"mine"`` — Donsker–Varadhan :math:`E_p[f] - \log E_q[e^f]` (Belghazi et al. 2018); its
  gradient uses a moving average of :math:`E_q[e^f]` in the denominator (MINE's bias
  correction).
* ``"nwj"`` — :math:`E_p[f] - e^{-1}E_q[e^f]` (Nguyen, Wainwright & Jordan).
* ``"infonce"`` — :math:`\frac1B\sum_i \log\frac{e^{S_{ii}}}{\frac1B\sum_j e^{S_{ij}}}`
  (van den Oord et al.); never exceeds :math:`\log B`, so it saturates for large MI.
* ``"smile"`` — DV with the partition-function scores clipped to :math:`[-\tau,\tau]`
  (Song & Ermon 2020), trained through the Jensen–Shannon bound's gradient as in their code.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator
from torch import nn

from bottlekit._checks import (
    check_bool,
    check_choice,
    check_number,
    check_positive_int,
    check_unused,
)
from bottlekit.devices import resolve_device

from ._neighbors import normal_scores
from ._scaling import power_of_two_scale
from ._validation import as_2d_samples, check_paired, check_random_state

__all__ = ["ConcatCritic", "NeuralMutualInformation", "SeparableCritic", "bound_value"]

BOUNDS = ("mine", "nwj", "infonce", "smile")


def _mlp(d_in: int, hidden: int, d_out: int, n_layers: int) -> nn.Sequential:
    layers, d = [], d_in
    for _ in range(n_layers):
        layers += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    layers.append(nn.Linear(d, d_out))
    return nn.Sequential(*layers)


class SeparableCritic(nn.Module):
    r"""Separable critic :math:`f(x,y) = g(x)^\top h(y)`: all ``B x B`` scores cost two
    forward passes and one matrix product.

    Parameters
    ----------
    dx, dy : int
        Input sizes.
    hidden : int, default=64
        Width of each hidden layer of :math:`g` and :math:`h`.
    embed_dim : int, default=32
        Size of the embeddings :math:`g(x)`, :math:`h(y)`.
    n_layers : int, default=2
        Hidden layers of each MLP.

    Examples
    --------
    >>> critic = SeparableCritic(3, 2, hidden=8, embed_dim=4)
    >>> critic(torch.zeros(5, 3), torch.zeros(5, 2)).shape
    torch.Size([5, 5])
    """

    def __init__(self, dx: int, dy: int, hidden: int = 64, embed_dim: int = 32, n_layers: int = 2):
        super().__init__()
        self.g = _mlp(dx, hidden, embed_dim, n_layers)
        self.h = _mlp(dy, hidden, embed_dim, n_layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Score matrix ``S[i, j] = f(x_i, y_j)`` of shape (B, B).

        Parameters
        ----------
        x : torch.Tensor of shape (B, dx)
            A batch of x.
        y : torch.Tensor of shape (B, dy)
            The paired batch of y.

        Returns
        -------
        torch.Tensor of shape (B, B)
            The scores of every pair; the diagonal holds the joint pairs.
        """
        return self.g(x) @ self.h(y).T


class ConcatCritic(nn.Module):
    r"""Concatenated critic :math:`f(x,y) = \mathrm{MLP}([x; y])`, evaluated on all
    ``B^2`` pairs (more expressive, ``B`` times costlier).

    Parameters
    ----------
    dx, dy : int
        Input sizes.
    hidden : int, default=64
        Width of each hidden layer.
    embed_dim : int, default=32
        Unused (kept so both critics take the same arguments).
    n_layers : int, default=2
        Hidden layers of the MLP.

    Examples
    --------
    >>> critic = ConcatCritic(3, 2, hidden=8)
    >>> critic(torch.zeros(5, 3), torch.zeros(5, 2)).shape
    torch.Size([5, 5])
    """

    def __init__(self, dx: int, dy: int, hidden: int = 64, embed_dim: int = 32, n_layers: int = 2):
        super().__init__()
        self.f = _mlp(dx + dy, hidden, 1, n_layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Score matrix ``S[i, j] = f(x_i, y_j)`` of shape (B, B).

        Parameters
        ----------
        x : torch.Tensor of shape (B, dx)
            A batch of x.
        y : torch.Tensor of shape (B, dy)
            The paired batch of y.

        Returns
        -------
        torch.Tensor of shape (B, B)
            The scores of every pair; the diagonal holds the joint pairs.
        """
        b = x.shape[0]
        xx = x[:, None, :].expand(b, b, x.shape[1])
        yy = y[None, :, :].expand(b, b, y.shape[1])
        return self.f(torch.cat([xx, yy], dim=2)).squeeze(-1)


def _offdiag_logmeanexp(S):
    b = S.shape[0]
    mask = ~torch.eye(b, dtype=torch.bool, device=S.device)
    return torch.logsumexp(S[mask], dim=0) - math.log(b * (b - 1))


def bound_value(S: torch.Tensor, bound: str, clip: float = 5.0) -> torch.Tensor:
    """Value of a lower bound (nats) from a ``B x B`` score matrix ``S`` (diagonal = joint).

    Parameters
    ----------
    S : torch.Tensor of shape (B, B)
        Critic scores; ``S[i, j]`` of sample ``i``'s x with sample ``j``'s y.
    bound : {"mine", "nwj", "infonce", "smile"}
        The bound.
    clip : float
        SMILE's :math:`\\tau`.

    Returns
    -------
    torch.Tensor (0-dim)
        The bound's value on this batch, differentiable in ``S``.

    Examples
    --------
    InfoNCE is at most :math:`\\log B`, reached by a critic that scores the joint pairs
    far higher than the others:

    >>> S = 100.0 * torch.eye(4)
    >>> round(float(bound_value(S, "infonce")), 4), round(math.log(4), 4)
    (1.3863, 1.3863)
    """
    check_choice(bound, BOUNDS, "bound", wording="must")
    joint = S.diag().mean()
    if bound == "infonce":
        return (S.diag() - torch.logsumexp(S, dim=1)).mean() + math.log(S.shape[0])
    if bound == "nwj":
        return joint - torch.exp(_offdiag_logmeanexp(S) - 1.0)
    if bound == "mine":
        return joint - _offdiag_logmeanexp(S)
    if bound == "smile":
        return joint - _offdiag_logmeanexp(S.clamp(-clip, clip))
    raise AssertionError(f"bound {bound!r} has no formula")  # unreachable: checked above


def _js_surrogate(S):
    """f-GAN Jensen–Shannon objective (SMILE trains the critic with its gradient)."""
    b = S.shape[0]
    off = S[~_eye(b, S.device)]
    return -F.softplus(-S.diag()).mean() - F.softplus(off).mean()


def _eye(b, device):
    return torch.eye(b, dtype=torch.bool, device=device)


#: What ``embed_dim``, ``ma_rate`` and ``clip`` of None mean, where they are read (the
#: separable critic, MINE, SMILE).
DEFAULT_EMBED_DIM = 32
DEFAULT_MA_RATE = 0.01
DEFAULT_CLIP = 5.0


class NeuralMutualInformation(BaseEstimator):
    r"""Mutual information by maximising a variational lower bound with a neural critic.

    Parameters
    ----------
    bound : {"infonce", "mine", "nwj", "smile"}, default="infonce"
        See the module docstring.
    critic : {"separable", "concat"}, default="separable"
    hidden : int, default=64
        Width of the critic's hidden layers.
    embed_dim : int or None, default=None
        Output size of the separable critic's two networks; None means 32.
        ``critic="separable"`` only (refused with ``"concat"``, which has no embedding).
    n_layers : int, default=2
        Hidden layers per network (Poole et al.'s ``layers``; the SMILE code's ``layers=2``
        builds three).
    batch_size : int, default=256
        Rows per training and evaluation batch (at least 2; lowered to the size of the
        training or held-out rows when they are fewer).
    max_steps : int, default=2000
        Most optimiser steps (training stops earlier after ``patience`` evaluations
        without improvement).
    learning_rate : float, default=5e-4
        Adam's learning rate (> 0).
    validation_fraction : float, default=0.3
        Share of the rows held out to evaluate the bound (the reported estimate).
    eval_every : int, default=50
        Steps between two evaluations of the held-out bound.
    patience : int, default=10
        Stop after this many evaluations without a new best held-out estimate; the
        critic of the best evaluation is restored.
    ma_rate : float or None, default=None
        MINE's moving-average rate (the SMILE code's ``momentum=0.9`` is ``ma_rate=0.1``);
        None means 0.01. ``bound="mine"`` only (refused with the other bounds).
    clip : float or None, default=None
        SMILE's clipping threshold :math:`\tau`; None means 5.0. ``bound="smile"`` only
        (refused with the other bounds).
    score_bound : float or None, default=10.0
        Critic scores pass through :math:`b\tanh(f/b)`. Any critic gives a valid bound,
        and this one cannot make :math:`e^f` overflow on an outlying held-out point
        (which drives NWJ/MINE estimates to :math:`-\infty` on heavy-tailed data).
        The estimate is then capped: at :math:`2b` nats for MINE (DV), :math:`b+\min(\tau, b)`
        for SMILE and about :math:`b` for NWJ (:math:`b` = ``score_bound``).
    copula : bool, default=False
        Feed the critic the normal scores of each column's ranks instead of standardized
        values. MI is unchanged by this monotone per-column map; heavy tails disappear.
    device : str, torch.device or None, default="cpu"
        Where the critic trains (``None``: CUDA when available); resolved by
        :func:`bottlekit.devices.resolve_device`, which refuses an unknown or unavailable
        device with a ValueError naming ``device``.
    random_state : int, numpy Generator or None
        Seeds the split, the batches and the critic's initialisation.

    Attributes
    ----------
    mi_ : float
        Held-out bound at the best evaluation (nats).
    critic_ : torch.nn.Module
    history_ : list of (step, held-out estimate)
    n_steps_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(2000); y = 0.8 * x + 0.6 * rng.standard_normal(2000)
    >>> est = NeuralMutualInformation("infonce", max_steps=300, random_state=0).fit(x, y)
    >>> bool(abs(est.mi_ - 0.51) < 0.15)
    True
    """

    def __init__(
        self,
        bound: str = "infonce",
        critic: str = "separable",
        hidden: int = 64,
        embed_dim: int | None = None,
        n_layers: int = 2,
        batch_size: int = 256,
        max_steps: int = 2000,
        learning_rate: float = 5e-4,
        validation_fraction: float = 0.3,
        eval_every: int = 50,
        patience: int = 10,
        ma_rate: float | None = None,
        clip: float | None = None,
        score_bound: float | None = 10.0,
        copula: bool = False,
        device: str | torch.device | None = "cpu",
        random_state: int | np.random.Generator | None = None,
    ):
        self.bound = bound
        self.critic = critic
        self.hidden = hidden
        self.embed_dim = embed_dim
        self.n_layers = n_layers
        self.batch_size = batch_size
        self.max_steps = max_steps
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.eval_every = eval_every
        self.patience = patience
        self.ma_rate = ma_rate
        self.clip = clip
        self.score_bound = score_bound
        self.copula = copula
        self.device = device
        self.random_state = random_state

    def _check_params(self):
        check_choice(self.bound, BOUNDS, "bound", wording="must")
        check_choice(
            self.critic,
            ("separable", "concat"),
            "critic",
            expected="'separable' or 'concat'",
            wording="must",
        )
        for name in ("hidden", "n_layers", "max_steps", "eval_every", "patience"):
            check_positive_int(getattr(self, name), name)
        if self.embed_dim is not None:
            check_positive_int(self.embed_dim, "embed_dim")
        check_positive_int(self.batch_size, "batch_size", minimum=2)
        check_number(
            self.validation_fraction,
            "validation_fraction",
            low=0,
            high=1,
            low_open=True,
            high_open=True,
            expected="in (0, 1)",
            wording="must",
        )
        check_number(
            self.learning_rate,
            "learning_rate",
            low=0,
            low_open=True,
            expected="> 0",
            wording="must",
        )
        if self.ma_rate is not None:
            check_number(self.ma_rate, "ma_rate", low=0, high=1, low_open=True, wording="must")
        if self.clip is not None:
            check_number(self.clip, "clip", low=0, low_open=True, wording="must")
        if self.score_bound is not None:
            check_number(
                self.score_bound,
                "score_bound",
                low=0,
                low_open=True,
                expected="None or a number > 0",
                wording="must",
            )
        check_bool(self.copula, "copula")
        # read by one critic or bound only: a value given to another was ignored, silently
        if self.critic != "separable":
            check_unused(
                self.embed_dim, "embed_dim", f"with critic={self.critic!r} (the separable "
                "critic's embedding size)", " or use critic='separable'",
            )  # fmt: skip
        if self.bound != "mine":
            check_unused(
                self.ma_rate, "ma_rate", f"with bound={self.bound!r} (MINE's moving average)",
                " or use bound='mine'",
            )  # fmt: skip
        if self.bound != "smile":
            check_unused(
                self.clip, "clip", f"with bound={self.bound!r} (SMILE's clipping)",
                " or use bound='smile'",
            )  # fmt: skip
        self._embed_dim = DEFAULT_EMBED_DIM if self.embed_dim is None else self.embed_dim
        self._ma_rate = DEFAULT_MA_RATE if self.ma_rate is None else self.ma_rate
        self._clip = DEFAULT_CLIP if self.clip is None else self.clip

    def _scores(self, net, x, y):
        S = net(x, y)
        b = self.score_bound
        return S if b is None else b * torch.tanh(S / b)

    def _evaluate(self, net, Xv, Yv, b, n_rounds: int = 8):
        """Mean bound over ``n_rounds`` random partitions of the held-out rows into batches
        (a fixed seed, so every evaluation sees the same batches)."""
        gen = torch.Generator().manual_seed(0)
        vals = []
        with torch.no_grad():
            for _ in range(n_rounds):
                order = torch.randperm(Xv.shape[0], generator=gen).to(Xv.device)
                for i in range(0, Xv.shape[0] - b + 1, b):
                    rows = order[i : i + b]
                    S = self._scores(net, Xv[rows], Yv[rows])
                    vals.append(float(bound_value(S, self.bound, self._clip)))
        return float(np.mean(vals))

    def fit(self, X: ArrayLike, Y: ArrayLike) -> NeuralMutualInformation:
        """Train the critic on paired samples and store the held-out estimate in ``mi_``.

        Parameters
        ----------
        X : array-like of shape (n,) or (n, dx)
            Real samples of ``X``; a 1-D array is one column.
        Y : array-like of shape (n,) or (n, dy)
            Real samples of ``Y``, paired row by row with ``X``.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        self._check_params()
        dev = resolve_device(self.device)
        X = as_2d_samples(X, "X")
        Y = as_2d_samples(Y, "Y")
        check_paired(X, Y)
        n = X.shape[0]
        n_val = round(self.validation_fraction * n)
        b = min(self.batch_size, n - n_val, max(n_val, 2))
        if n_val < 2 or n - n_val < 2:
            raise ValueError(f"X has {n} rows: too few to split off a validation set")
        rng = check_random_state(self.random_state)
        seed = int(rng.integers(0, 2**31 - 1))
        gen = torch.Generator().manual_seed(seed)
        perm = rng.permutation(n)
        # Standardise with training statistics: the critic trains faster on unit-scale
        # inputs, and MI is invariant to it.
        tr, va = perm[n_val:], perm[:n_val]
        if self.copula:
            X, Y = normal_scores(X), normal_scores(Y)
        X, Y = X / power_of_two_scale(X), Y / power_of_two_scale(Y)  # exact, scale-free
        mx, sx = X[tr].mean(0), X[tr].std(0) + 1e-12
        my, sy = Y[tr].mean(0), Y[tr].std(0) + 1e-12
        f32 = torch.float32

        def to(a):
            return torch.as_tensor(a, dtype=f32, device=dev)

        Xt, Yt = to((X[tr] - mx) / sx), to((Y[tr] - my) / sy)
        Xv, Yv = to((X[va] - mx) / sx), to((Y[va] - my) / sy)
        cls = SeparableCritic if self.critic == "separable" else ConcatCritic
        with torch.random.fork_rng(devices=[]):  # CPU only: torch.manual_seed reseeds CUDA
            torch.random.default_generator.manual_seed(seed)
            net = cls(X.shape[1], Y.shape[1], self.hidden, self._embed_dim, self.n_layers)
        net = net.to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
        ma = None
        best, best_state, since_best = -np.inf, None, 0
        history = []
        n_tr = Xt.shape[0]
        step = 0
        for step in range(1, self.max_steps + 1):
            idx = torch.randint(0, n_tr, (b,), generator=gen).to(dev)
            S = self._scores(net, Xt[idx], Yt[idx])
            if self.bound == "mine":
                joint = S.diag().mean()
                lme = _offdiag_logmeanexp(S)
                mean_exp = torch.exp(lme).detach()
                ma = (
                    mean_exp if ma is None else (1 - self._ma_rate) * ma + self._ma_rate * mean_exp
                )
                # grad of log E[e^f] is E[e^f grad f]/E[e^f]; replace the batch denominator
                # by its moving average to reduce the bias of the gradient (MINE, sec. 3.2).
                objective = joint - torch.exp(lme) / ma
            elif self.bound == "smile":
                objective = _js_surrogate(S)
            else:
                objective = bound_value(S, self.bound, self._clip)
            opt.zero_grad()
            (-objective).backward()
            opt.step()
            if step % self.eval_every == 0 or step == self.max_steps:
                val = self._evaluate(net, Xv, Yv, b)
                history.append((step, val))
                if val > best:
                    best, best_state, since_best = val, copy.deepcopy(net.state_dict()), 0
                else:
                    since_best += 1
                    if since_best >= self.patience:
                        break
        if best_state is None:  # every held-out evaluation was NaN
            raise FloatingPointError(
                "the held-out bound was never finite (training diverged); lower learning_rate"
            )
        net.load_state_dict(best_state)
        self.critic_ = net
        self.mi_ = float(best)
        self.history_ = history
        self.n_steps_ = step
        self.batch_size_ = b
        return self
