"""Information plane of a small stochastic conv net on the world's images (Butakov et al. 2024).

The method of "Information bottleneck analysis of deep neural networks via lossy
compression" (ICLR 2024), as ``CompressedInformationPlane`` implements it:

- the network is stochastic: a ``GaussianNoise(std)`` layer (fixed variance, active in
  training and in use) after every hidden activation, so I(X;T) of the noisy layer T is
  finite (Goldfeld et al. 2019); the tracked layers are those noise layers;
- X (the 64 x 64 x 3 images) and each layer are compressed to ``--dim`` dimensions by
  PCA (the default here) or by autoencoders trained on their samples
  (``--compressor autoencoder``; inputs first projected on 64 principal components),
  the layers' compressors refitted at every record. On these images, with 500 probe
  samples, the autoencoder's 4-D code of X kept less about the species than PCA's
  (Ross's estimate 0.5 bits against 1.8; without the PCA projection the sigmoid code
  collapsed to near-binary values, 0.96 bits), which caps I(X;T); hence the default;
- I(X;T) by KSG on the codes, I(T;Y) by Ross's discrete-continuous k-NN estimator with
  the 24 species as Y; ``--mi-estimator weighted_kl`` uses the reference code's
  estimator instead (weighted Kozachenko-Leonenko entropies of whitened codes).

Network: conv 3->8 (stride 2) -> conv 8->16 (stride 2) -> conv 16->16 (stride 2) ->
dense 1024->32 -> dense 32->24, LeakyReLU, noise after each hidden layer; Adam 3e-3,
batches of 64; 1,200 training images of the world, probe = 500 of them (the reference's
CIFAR-10 notebook measures on the training data, its MNIST one on the test set).
Autoencoders: one hidden layer of 64; 300 epochs for X's (fitted once), 25 for each
layer's. One record before training and one per epoch. CPU, a few minutes.

    python benchmarks/butakov_information_plane.py [--figure docs/butakov_information_plane.png]
    python benchmarks/butakov_information_plane.py --mi-estimator weighted_kl
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from bottlekit.estimators import CompressedInformationPlane, GaussianNoise
from bottlekit.world import make_world

#: tracked layers (the first conv layer's 8,192 units are left out to keep the
#: per-record autoencoders cheap on a CPU)
LAYERS = {"conv 2": "noise2", "conv 3": "noise3", "dense": "noise4"}


def make_net(noise_std: float, n_classes: int) -> nn.Module:
    act = nn.LeakyReLU
    return nn.Sequential(
        _named(
            ("conv1", nn.Conv2d(3, 8, 3, stride=2, padding=1)), ("act1", act()),
            ("noise1", GaussianNoise(noise_std)),
            ("conv2", nn.Conv2d(8, 16, 3, stride=2, padding=1)), ("act2", act()),
            ("noise2", GaussianNoise(noise_std)),
            ("conv3", nn.Conv2d(16, 16, 3, stride=2, padding=1)), ("act3", act()),
            ("noise3", GaussianNoise(noise_std)),
            ("flat", nn.Flatten()), ("dense", nn.Linear(16 * 8 * 8, 32)), ("act4", act()),
            ("noise4", GaussianNoise(noise_std)),
            ("out", nn.Linear(32, n_classes)),
        )
    )  # fmt: skip


def _named(*pairs):
    from collections import OrderedDict

    return OrderedDict(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--noise", type=float, default=0.02, help="std of the layers' noise")
    parser.add_argument("--compressor", choices=("autoencoder", "pca"), default="pca")
    parser.add_argument("--dim", type=int, default=4, help="code dimension")
    parser.add_argument(
        "--mi-estimator",
        choices=("ksg", "weighted_kl"),
        default="ksg",
        help="MI of the codes: KSG / Ross, or the reference code's weighted "
        "Kozachenko-Leonenko entropies of whitened codes",
    )
    parser.add_argument("--n-train", type=int, default=1200)
    parser.add_argument("--n-probe", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", default=None)
    parser.add_argument(
        "--final-repeats",
        type=int,
        default=0,
        help="after training, record this many more times at the final weights and print "
        "each layer's mean and sd: the spread of one record (the layers' noise, the "
        "compression, the estimator) to hold the epoch-to-epoch moves against",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)

    world = make_world(args.n_train, split="train", random_state=args.seed, return_masks=False)
    X = (world.images.astype(np.float32) / 255.0).transpose(0, 3, 1, 2).copy()
    y = world.labels.astype(np.int64)
    test = make_world(600, split="test", random_state=args.seed, return_masks=False)
    X_te = torch.from_numpy((test.images.astype(np.float32) / 255.0).transpose(0, 3, 1, 2))
    y_te = torch.from_numpy(test.labels.astype(np.int64))
    net = make_net(args.noise, len(world.class_names))
    probe = slice(0, args.n_probe)
    plane = CompressedInformationPlane(
        net,
        list(LAYERS.values()),
        X[probe],
        y[probe],
        noise_std=0.0,  # the network carries its own noise layers
        compressor=args.compressor,
        compress_dim=args.dim,
        compressor_options=(
            {"epochs": 25, "pca_first": 64} if args.compressor == "autoencoder" else None
        ),
        x_compressor_options=(
            {"epochs": 300, "pca_first": 64} if args.compressor == "autoencoder" else None
        ),
        refit=True,
        random_state=args.seed,
        mi_estimator=args.mi_estimator,
    )
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    t0 = time.perf_counter()
    plane.record(epoch=0)
    print("epoch  0  " + _row(plane), flush=True)
    for epoch in range(1, args.epochs + 1):
        net.train()
        for idx in torch.randperm(len(Xt)).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(net(Xt[idx]), yt[idx]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            acc_tr = float((net(Xt).argmax(1) == yt).float().mean())
            acc_te = float((net(X_te).argmax(1) == y_te).float().mean())
        plane.record(epoch=epoch)
        print(
            f"epoch {epoch:2d}  " + _row(plane) + f"  acc train {acc_tr:.2f} test {acc_te:.2f}",
            flush=True,
        )
    h_y = _label_entropy(y[probe])
    print(f"{time.perf_counter() - t0:.0f} s; H(Y) of the probe = {h_y:.2f} bits")
    if args.figure:
        save_figure(plane, args.figure, args.mi_estimator)
    if args.final_repeats:
        print_final_spread(plane, args.final_repeats, args.epochs)


def print_final_spread(plane, repeats: int, epoch: int) -> None:
    """Record ``repeats`` more times at the final weights; print each layer's mean and sd."""
    start = len(plane.epochs)
    for _ in range(repeats):
        plane.record(epoch=epoch)
    for name, key in LAYERS.items():
        ix, iy = np.asarray(plane.i_xt[key][start:]), np.asarray(plane.i_ty[key][start:])
        print(
            f"final weights, {repeats} records, {name}: I(X;T) {ix.mean():.2f} "
            f"(sd {ix.std(ddof=1):.2f}), I(T;Y) {iy.mean():.2f} (sd {iy.std(ddof=1):.2f})"
        )


def _row(plane) -> str:
    return "  ".join(
        f"{name}: I(X;T) {plane.i_xt[key][-1]:5.2f} I(T;Y) {plane.i_ty[key][-1]:4.2f}"
        for name, key in LAYERS.items()
    )


def _label_entropy(y: np.ndarray) -> float:
    p = np.bincount(y) / len(y)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


#: what the x axis's estimate is, by ``--mi-estimator``
ESTIMATOR_LABELS = {"ksg": "KSG", "weighted_kl": "weighted KL entropies"}


def save_figure(plane, path: str, mi_estimator: str = "ksg") -> None:
    import io

    from matplotlib.figure import Figure

    from bottlekit.atomic import atomic_write_bytes

    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.subplots()
    epochs = np.asarray(plane.epochs, dtype=float)
    for (name, key), marker in zip(LAYERS.items(), "os^", strict=True):
        ix, iy = np.asarray(plane.i_xt[key]), np.asarray(plane.i_ty[key])
        ax.plot(ix, iy, color="0.7", lw=0.8, zorder=1)
        sc = ax.scatter(ix, iy, c=epochs, cmap="viridis", marker=marker, label=name, zorder=2)
    fig.colorbar(sc, ax=ax, label="epoch")
    ax.set_xlabel(f"I(X;T) (bits, {ESTIMATOR_LABELS[mi_estimator]} after compression)")
    ax.set_ylabel("I(T;Y) (bits)")
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write_bytes(path, buf.getvalue())
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
