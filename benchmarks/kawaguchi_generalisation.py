"""Generalisation gap vs I(X;Z|Y) across a family of small networks (Kawaguchi et al. 2023).

The paper's claim in shape: across networks of different widths, regularisers and
training-set sizes, the generalisation gap (test loss - train loss) correlates with the
information the hidden layer keeps about the input beyond the label, I(X;Z|Y), and
their bound scales with sqrt(I(X;Z|Y) / n) rather than with the number of parameters.

Setup, after the reference code (xu-ji/information-bottleneck, ``StochasticMLP``): the
encoder is two ReLU MLPs of the same widths giving the mean and (softplus) standard
deviation of a Gaussian representation Z of ``--z-dim`` units; a linear classifier reads
one sample of Z; cross-entropy, Adam. Data: scikit-learn's digits (64 pixels, 10
classes), a fixed test set of 797 images and training sets of 100, 300 and 1000 images.
The family: widths (16, 64, 256) x regularisers (none, weight decay 0.01, VIB beta 0.01)
x training sizes (3 x 3 x 3 = 27 networks). I(X;Z|Y) is measured on the training set
(the reference's figures use a fresh sample ten times the training set's size,
``use_orig = False``; docs/benchmarks.md lists the other differences), by

- ``reference``: the reference code's Monte-Carlo estimator (``est_MI_cond``, sz=-1);
- ``ksg``: bottlekit's k-NN conditional MI between Z and the encoder's sufficient
  statistic (mu, log sigma), given Y.

Spearman rank correlations of the gap with each, with sqrt(I/n) (the bound's scale) and
with the parameter count, each with a 95 % bootstrap interval over networks (2,000
resamples), pooled and within each training-set size. CPU, a few minutes.

    python benchmarks/kawaguchi_generalisation.py [--figure docs/kawaguchi_generalisation.png]
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.datasets import load_digits
from torch import nn

from bottlekit.estimators.input_information_given_label import (
    encoder_conditional_mi_ksg,
    gaussian_encoder_conditional_mi,
)

WIDTHS = (16, 64, 256)
#: (name, weight decay, VIB beta): none, weight decay, and a variational IB penalty
#: beta * KL(p(z|x) || N(0, I)) that bounds I(X;Z) and keeps the encoder's noise open
REGULARISERS = (("none", 0.0, 0.0), ("weight decay", 1e-2, 0.0), ("VIB", 0.0, 1e-2))
TRAIN_SIZES = (100, 300, 1000)


class StochasticMLP(nn.Module):
    """Gaussian encoder (mean and softplus std heads of equal widths) + linear classifier."""

    def __init__(self, d_in: int, width: int, z_dim: int, n_classes: int) -> None:
        super().__init__()

        def head() -> nn.Sequential:
            return nn.Sequential(
                nn.Linear(d_in, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                nn.Linear(width, z_dim),
            )  # fmt: skip

        self.mu = head()
        self.sigma = nn.Sequential(head(), nn.Softplus())
        self.cls = nn.Linear(z_dim, n_classes)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mu(x), self.sigma(x).clamp(min=1e-4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu, sd = self.encode(x)
        return self.cls(mu + sd * torch.randn_like(mu))


def mean_loss(net: nn.Module, X: torch.Tensor, y: torch.Tensor, draws: int = 8) -> float:
    """Cross-entropy averaged over ``draws`` samples of the stochastic network."""
    with torch.no_grad():
        losses = [nn.functional.cross_entropy(net(X), y).item() for _ in range(draws)]
    return float(np.mean(losses))


def train_one(X_tr, y_tr, width, decay, beta, z_dim, epochs, seed):
    torch.manual_seed(seed)
    net = StochasticMLP(X_tr.shape[1], width, z_dim, 10)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=decay)
    n = len(X_tr)
    for _ in range(epochs):
        for idx in torch.randperm(n).split(64):
            opt.zero_grad()
            mu, sd = net.encode(X_tr[idx])
            logits = net.cls(mu + sd * torch.randn_like(mu))
            loss = nn.functional.cross_entropy(logits, y_tr[idx])
            if beta > 0:
                kl = 0.5 * (mu**2 + sd**2 - 1.0 - 2.0 * torch.log(sd)).sum(1).mean()
                loss = loss + beta * kl
            loss.backward()
            opt.step()
    return net


def bootstrap_spearman(a, b, n_boot=2000, seed=0):
    rng = np.random.default_rng(seed)
    rho = spearmanr(a, b).statistic
    boots = []
    for _ in range(n_boot):
        i = rng.integers(len(a), size=len(a))
        if np.ptp(a[i]) > 0 and np.ptp(b[i]) > 0:
            boots.append(spearmanr(a[i], b[i]).statistic)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return float(rho), float(lo), float(hi)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--z-dim", type=int, default=4)
    parser.add_argument(
        "--epochs", type=int, default=30, help="epochs at n = 1000 (more for smaller n)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", default=None, help="save the scatter plots here")
    args = parser.parse_args()
    torch.set_num_threads(1)

    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(args.seed).permutation(len(X))
    test, pool = order[:797], order[797:]
    X_te, y_te = torch.from_numpy(X[test]), torch.from_numpy(y[test])

    rows = []
    t0 = time.perf_counter()
    family = itertools.product(WIDTHS, REGULARISERS, TRAIN_SIZES)
    for i, (width, (reg, decay, beta), n_train) in enumerate(family):
        tr = pool[:n_train]
        X_tr, y_tr = torch.from_numpy(X[tr]), torch.from_numpy(y[tr])
        # about the same number of optimiser steps for every size
        epochs = round(args.epochs * 1000 / n_train)
        net = train_one(X_tr, y_tr, width, decay, beta, args.z_dim, epochs, args.seed + i)
        net.eval()
        gap = mean_loss(net, X_te, y_te) - mean_loss(net, X_tr, y_tr)
        with torch.no_grad():
            mu, sd = (t.numpy().astype(np.float64) for t in net.encode(X_tr))
        i_ref = gaussian_encoder_conditional_mi(mu, sd, y[tr], random_state=args.seed)
        i_ksg = encoder_conditional_mi_ksg(mu, sd, y[tr], random_state=args.seed)
        n_params = sum(p.numel() for p in net.parameters())
        rows.append((width, i, n_train, n_params, gap, i_ref, i_ksg))
        print(
            f"width {width:3d} {reg:12s} n {n_train:4d}  params {n_params:6d}  "
            f"gap {gap:6.3f}  I_ref {i_ref:6.3f}  I_ksg {i_ksg:6.3f}",
            flush=True,
        )
    R = np.array(rows, dtype=np.float64)
    n_tr, params, gap, i_ref, i_ksg = R[:, 2], R[:, 3], R[:, 4], R[:, 5], R[:, 6]
    print(f"\n{len(R)} networks in {time.perf_counter() - t0:.0f} s")
    print("\n| predictor of the gap | Spearman rho | 95 % bootstrap interval |\n|---|---|---|")
    predictors = {
        "I(X;Z|Y), reference estimator": i_ref,
        "I(X;Z|Y), bottlekit k-NN CMI": i_ksg,
        "sqrt(I_ref / n)": np.sqrt(np.maximum(i_ref, 0) / n_tr),
        "sqrt(I_ksg / n)": np.sqrt(np.maximum(i_ksg, 0) / n_tr),
        "parameter count": params,
        "1 / n (training-set size)": 1.0 / n_tr,
    }
    for name, values in predictors.items():
        rho, lo, hi = bootstrap_spearman(values, gap)
        print(f"| {name} | {rho:.2f} | [{lo:.2f}, {hi:.2f}] |")
    for size in TRAIN_SIZES:
        m = n_tr == size
        print(
            f"within n = {size}: rho(gap, I_ref) = {spearmanr(i_ref[m], gap[m]).statistic:.2f}, "
            f"rho(gap, I_ksg) = {spearmanr(i_ksg[m], gap[m]).statistic:.2f}, "
            f"rho(gap, params) = {spearmanr(params[m], gap[m]).statistic:.2f}"
        )
    if args.figure:
        save_figure(args.figure, n_tr, params, gap, i_ref, i_ksg)


def save_figure(path, n_tr, params, gap, i_ref, i_ksg) -> None:
    import io

    from matplotlib.figure import Figure

    from bottlekit.atomic import atomic_write_bytes

    fig = Figure(figsize=(11, 3.4), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    xs = [
        (i_ref, "I(X;Z|Y), reference estimator (nats)"),
        (i_ksg, "I(X;Z|Y), bottlekit k-NN CMI (nats)"),
        (params, "parameter count"),
    ]
    for ax, (x, label) in zip(axes, xs, strict=True):
        for size, marker in zip(TRAIN_SIZES, "o^s", strict=True):
            m = n_tr == size
            ax.scatter(x[m], gap[m], marker=marker, label=f"n = {size}", alpha=0.8)
        rho = spearmanr(x, gap).statistic
        ax.set_xlabel(label)
        ax.set_title(f"Spearman rho = {rho:.2f}", fontsize=10)
    axes[2].set_xscale("log")
    axes[0].set_ylabel("test loss - train loss")
    axes[0].legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write_bytes(path, buf.getvalue())
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
