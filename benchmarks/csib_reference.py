"""CS-IB: bottlekit next to the reference implementation, same data split and architecture.

The reference is Yu et al.'s code (github.com/SJYuCNEL/Cauchy-Schwarz-Information-
Bottleneck). It is not part of bottlekit and is never committed; fetch it yourself and
point ``--reference`` at the folder holding its ``loss_cs.py``::

    git clone https://github.com/SJYuCNEL/Cauchy-Schwarz-Information-Bottleneck /tmp/csib-ref
    pip install vega_datasets statsmodels   # the tables of benchmarks/ib_regression.py
    python benchmarks/csib_reference.py --reference /tmp/csib-ref

What runs on the reference side: its loss functions (``CS_Div`` and
``CS_QMI_normalized`` from ``loss_cs.py``, kernel width 1) called exactly as its training
script calls them (1-D targets and outputs, the encoder mean as ``z``), inside a copy of
its training loop (Adam, batch 128, StepLR(10, 0.6)). Its model-building script cannot be
imported (it trains on import, downloads California housing, and its network class calls
``super()`` with a misspelt class name), so the network is bottlekit's ``IBNetwork``,
which has the reference's layers: 128-128-K encoder, K×K mean and log-variance heads,
128 decoder. On bottlekit's side: ``CSIBRegressor(stochastic_encoder=False)`` (the
reference trains with the encoder mean) with the same optimiser settings.

Both sides select the epoch with the lowest validation MSE (the reference script selects
on the test set; this benchmark does not). Reported: test RMSE (mean ± std over seeds)
and the time per epoch as a ratio measured in this one run. ``--device cuda`` runs both
sides on the GPU (default: the CPU, one thread).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from bottlekit.bottleneck import CSIBRegressor
from bottlekit.bottleneck._ib_network import IBNetwork
from bottlekit.devices import resolve_device


def load_reference(folder: str):
    spec = importlib.util.spec_from_file_location("csib_reference_loss", f"{folder}/loss_cs.py")
    if spec is None or spec.loader is None:
        sys.exit(f"--reference: no loss_cs.py in {folder!r}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_reference(ref, Xtr, ytr, Xva, yva, seed, epochs, beta, lr, device):
    torch.manual_seed(seed)
    net = IBNetwork(Xtr.shape[1], (128, 128), 128, 1, stochastic=False).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.6)
    xt, yt = torch.as_tensor(Xtr, device=device), torch.as_tensor(ytr, device=device)
    xv, yv = torch.as_tensor(Xva, device=device), torch.as_tensor(yva, device=device)
    gen = torch.Generator().manual_seed(seed)
    best, best_state, t_epochs = np.inf, None, 0.0
    for _ in range(epochs):
        t0 = time.perf_counter()
        net.train()
        perm = torch.randperm(len(xt), generator=gen).to(device)
        for s in range(0, len(xt), 128):
            idx = perm[s : s + 128]
            if len(idx) < 2:
                continue
            x, y = xt[idx], yt[idx]
            out, z, _, _ = net(x)
            out = out.squeeze()  # the reference decoder squeezes: 1-D outputs and targets
            loss = ref.CS_Div(x, y, out, sigma=1) + beta * ref.CS_QMI_normalized(x, z, sigma=1)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        synchronize(device)
        t_epochs += time.perf_counter() - t0
        net.eval()
        with torch.no_grad():
            err = float(torch.mean((net(xv)[0].squeeze(-1) - yv) ** 2))
        if err < best:
            best, best_state = err, copy.deepcopy(net.state_dict())
    net.load_state_dict(best_state)
    return net, t_epochs / epochs


def standardise(Xtr, *others):
    mu, sd = Xtr.mean(0), Xtr.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    return [((A - mu) / sd).astype(np.float32) for A in (Xtr, *others)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, help="folder of the reference code")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--beta", type=float, default=0.01)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--device", default="cpu", help="both sides run there (cuda: GPU)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    torch.set_num_threads(1)
    ref = load_reference(args.reference)
    sys.path.insert(0, str(Path(__file__).parent))
    from ib_regression import load_tables

    tables = {k: v for k, v in load_tables().items() if k in ("diabetes", "cars", "hetero")}
    print(
        f"beta={args.beta}, lr={args.lr}, {args.epochs} epochs, {args.seeds} seeds, "
        f"device {device}"
    )
    print(f"{'table':<10}{'reference RMSE':>20}{'bottlekit RMSE':>20}{'time/epoch ref/ours':>22}")
    for name, (X, y) in tables.items():
        r_ref, r_bk, ratio = [], [], []
        for seed in range(args.seeds):
            Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=seed)
            # the validation split and standardisation CSIBRegressor makes inside fit()
            rs = np.random.RandomState(seed)
            rs.randint(2**31 - 1)
            order = rs.permutation(len(Xtr))
            n_val = round(0.2 * len(Xtr))
            va, fit = order[:n_val], order[n_val:]
            Xtr_s, Xte_s = standardise(Xtr, Xte)
            ym, ys = ytr.mean(), ytr.std()
            yfit = ((ytr[fit] - ym) / ys).astype(np.float32)
            yva = ((ytr[va] - ym) / ys).astype(np.float32)
            net, t_ref = train_reference(
                ref,
                Xtr_s[fit],
                yfit,
                Xtr_s[va],
                yva,
                seed,
                args.epochs,
                args.beta,
                args.lr,
                device,
            )
            with torch.no_grad():
                out = net(torch.as_tensor(Xte_s, device=device))[0]
                pred = out.squeeze(-1).cpu().numpy() * ys + ym
            r_ref.append(float(np.sqrt(np.mean((pred - yte) ** 2))))
            reg = CSIBRegressor(
                beta=args.beta,
                learning_rate=args.lr,
                max_epochs=args.epochs,
                patience=args.epochs,
                stochastic_encoder=False,
                random_state=seed,
                device=device,
            )
            t0 = time.perf_counter()
            reg.fit(Xtr, ytr)  # the same 20 % validation split, made inside
            synchronize(device)
            t_bk = (time.perf_counter() - t0) / reg.n_iter_
            r_bk.append(float(np.sqrt(np.mean((reg.predict(Xte) - yte) ** 2))))
            ratio.append(t_ref / t_bk)
        print(
            f"{name:<10}{np.mean(r_ref):>12.3f} ± {np.std(r_ref):<5.3f}"
            f"{np.mean(r_bk):>12.3f} ± {np.std(r_bk):<5.3f}{np.mean(ratio):>18.2f}"
        )


if __name__ == "__main__":
    main()
