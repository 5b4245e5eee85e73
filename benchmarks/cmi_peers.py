"""Conditional mutual information: error against closed forms and speed, beside a peer.

Peer with a k-NN CMI: ``npeet-plus`` (``cmi``, Frenzel-Pompe with the max-norm, the same
estimator; ``pip install npeet-plus``). Cases are jointly Gaussian with random correlation
matrices, so the truth is the closed form 0.5 (log|C_XZ| + log|C_YZ| - log|C_Z| -
log|C_XYZ|). Both estimators see the same samples; times are taken in turns (bottlekit,
peer, bottlekit, ...) and the best of ``--repeat`` runs is kept.

Run: ``python benchmarks/cmi_peers.py [--n 5000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bottlekit.estimators import conditional_mutual_information

CASES = [(1, 1, 1), (2, 2, 1), (1, 1, 3), (2, 1, 2), (3, 3, 3)]


def _closed_form(C: np.ndarray, dx: int, dy: int) -> float:
    d = len(C)
    ix, iy, iz = list(range(dx)), list(range(dx, dx + dy)), list(range(dx + dy, d))

    def logdet(idx):
        return np.linalg.slogdet(C[np.ix_(idx, idx)])[1]

    return 0.5 * (logdet(ix + iz) + logdet(iy + iz) - logdet(iz) - logdet(list(range(d))))


def _correlation(d: int, seed: int) -> np.ndarray:
    A = np.random.default_rng(seed).normal(size=(d, d))
    C = A @ A.T + 0.5 * np.eye(d)
    s = np.sqrt(np.diag(C))
    return C / np.outer(s, s)


def _best_time(fn, repeat: int) -> tuple[float, float]:
    best, value = np.inf, np.nan
    for _ in range(repeat):
        t = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t)
    return value, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="samples per case")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best is kept")
    parser.add_argument("--seeds", type=int, default=3, help="samples drawn per case")
    args = parser.parse_args()
    import npeet_plus

    print(f"k = 3, n = {args.n}, {args.seeds} samples per case; error = |estimate - truth| nats")
    print(
        f"{'dx dy dz':>9} {'truth':>7} {'bottlekit err':>14} {'npeet err':>10} "
        f"{'bottlekit s':>12} {'npeet s':>8} {'speed-up':>9}"
    )
    errs = {"bk": [], "np": []}
    for dx, dy, dz in CASES:
        C = _correlation(dx + dy + dz, 10 + dx + dy + dz)
        truth = _closed_form(C, dx, dy)
        e_bk, e_np, t_bk, t_np = [], [], [], []
        for seed in range(args.seeds):
            S = np.random.default_rng(seed).multivariate_normal(np.zeros(len(C)), C, args.n)
            x, y, z = S[:, :dx], S[:, dx : dx + dy], S[:, dx + dy :]
            for _ in range(args.repeat):  # interleaved turns
                v_bk, tb = _best_time(
                    lambda x=x, y=y, z=z: conditional_mutual_information(x, y, z, k=3), 1
                )
                v_np, tn = _best_time(
                    lambda x=x, y=y, z=z: npeet_plus.cmi(x, y, z, k=3, base=np.e), 1
                )
                t_bk.append(tb)
                t_np.append(tn)
            e_bk.append(abs(v_bk - truth))
            e_np.append(abs(v_np - truth))
        errs["bk"] += e_bk
        errs["np"] += e_np
        tb, tn = min(t_bk), min(t_np)
        print(
            f"{dx:>3}{dy:>3}{dz:>3} {truth:7.3f} {np.mean(e_bk):14.4f} {np.mean(e_np):10.4f} "
            f"{tb:12.3f} {tn:8.3f} {tn / tb:8.1f}x"
        )
    print(
        f"mean absolute error: bottlekit {np.mean(errs['bk']):.4f}, npeet-plus "
        f"{np.mean(errs['np']):.4f} nats"
    )


if __name__ == "__main__":
    main()
