"""Cauchy–Schwarz kernel sums: ours against a tiled torch ``cdist`` + ``exp`` loop.

    python benchmarks/cs_kernel_sums.py [--n 50000] [--dims 4 64] [--repeat 1]
    python benchmarks/cs_kernel_sums.py --approx [--n-large 1000000] [--n-exact 100000]

**Exact sums** (default). For each dimension ``d`` it times, side by side in one process
(the runs take turns, so both see the same background load), the CS divergence, CS-QMI and
the conditional CS divergence of :mod:`bottlekit.estimators` against the same estimator
written the way a user would: torch float32 tiles of ``torch.cdist`` squared, divided by
``-2 w**2``, ``exp``, summed (float64 accumulation of the tile sums), every Gram matrix
computed in full. Data: ``X ~ N(0, I_d)``, ``Y ~ N(0.5, I_d)`` for the divergence;
``Y = 0.6 X + 0.8 E`` (d columns) for CS-QMI; for the conditional divergence two samples
``(X_k, y_k)`` with a 1-D ``y = X w + noise`` and different ``w``. Widths: Silverman's rule
at d = 4 (the default), the median heuristic at d = 64 (Silverman's rule there makes
every off-diagonal kernel value about ``1e-21``). It prints times, the ratio, and the
relative difference of the two estimates.

**Approximate sums** (``--approx``): ``approximation="random_tiles"`` (default
``n_tiles``, or ``n_points`` for the conditional CS divergence) for the CS divergence,
CS-QMI and the conditional CS divergence at ``n_large`` rows, timed, against the
exact value on the first ``n_exact`` rows with the same kernel width (the difference then
also holds the exact estimator's own sampling noise at ``n_exact``); ``--check`` adds the
approximation at ``n_exact`` against the exact value on the same rows (the
approximation's own error). ``--stats`` picks some of the three statistics.

With a CUDA GPU present it also prints the CUDA times of ours (``device="cuda"``).
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np
import torch

from bottlekit.estimators import conditional_cs_divergence, cs_divergence, cs_qmi
from bottlekit.estimators.kernels import kernel_width

_TILE = 2048


# ----------------------------------------------------------------------------------------
# The anchor: what a user writes with torch (float32 tiles, cdist, exp, full matrices).
# ----------------------------------------------------------------------------------------


def _rowsums(A, B, w):
    out = torch.zeros(len(A), dtype=torch.float64)
    for i in range(0, len(A), _TILE):
        acc = torch.zeros(min(_TILE, len(A) - i), dtype=torch.float64)
        for j in range(0, len(B), _TILE):
            d = torch.cdist(A[i : i + _TILE], B[j : j + _TILE])
            acc += torch.exp(-(d**2) / (2 * w**2)).sum(1).double()
        out[i : i + _TILE] = acc
    return out


def _t(a):
    return torch.as_tensor(a, dtype=torch.float32)


def anchor_divergence(x, y, sigma):
    s = kernel_width(np.vstack([x, y]), sigma) * math.sqrt(2)
    X, Y = _t(x), _t(y)
    n, m = len(x), len(y)
    vxx = (_rowsums(X, X, s).sum() - n) / (n * (n - 1))
    vyy = (_rowsums(Y, Y, s).sum() - m) / (m * (m - 1))
    vxy = _rowsums(X, Y, s).sum() / (n * m)
    return float(torch.log(vxx) + torch.log(vyy) - 2 * torch.log(vxy))


def anchor_qmi(x, y, sigma):
    sx = kernel_width(x, sigma) * math.sqrt(2)
    sy = kernel_width(y, sigma) * math.sqrt(2)
    n = len(x)
    rx = _rowsums(_t(x), _t(x), sx)
    ry = _rowsums(_t(y), _t(y), sy)
    z = _t(np.hstack([x / sx, y / sy]))
    joint = _rowsums(z, z, 1.0).sum()
    v_joint = (joint - n) / (n * (n - 1))
    v_marg = (rx.sum() - n) * (ry.sum() - n) / (n * (n - 1)) ** 2
    v_cross = (((rx - 1) * (ry - 1)).sum() - (joint - n)) / (n * (n - 1) * (n - 2))
    return float(torch.log(v_joint) + torch.log(v_marg) - 2 * torch.log(v_cross))


def anchor_conditional(x1, y1, x2, y2, sigma):
    sx = kernel_width(np.vstack([x1, x2]), sigma)
    sy = kernel_width(np.vstack([y1, y2]), sigma)
    X1, X2 = _t(x1), _t(x2)
    Z1, Z2 = _t(np.hstack([x1 / sx, y1 / sy])), _t(np.hstack([x2 / sx, y2 / sy]))
    k11, k12, k22, k21 = (_rowsums(a, b, sx) for a, b in ((X1, X1), (X1, X2), (X2, X2), (X2, X1)))
    c11, c12, c22, c21 = (_rowsums(a, b, 1.0) for a, b in ((Z1, Z1), (Z1, Z2), (Z2, Z2), (Z2, Z1)))
    val = (
        torch.log((c11 / k11**2).sum())
        + torch.log((c22 / k22**2).sum())
        - torch.log((c12 / (k11 * k12)).sum())
        - torch.log((c21 / (k22 * k21)).sum())
    )
    return float(val)


# ----------------------------------------------------------------------------------------
# Data and timing
# ----------------------------------------------------------------------------------------


def make_data(n: int, d: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    w1 = rng.standard_normal((d, 1)) / math.sqrt(d)
    w2 = w1 + 0.5 * rng.standard_normal((d, 1)) / math.sqrt(d)
    x2 = rng.standard_normal((n, d))
    return {
        "div": (x, rng.standard_normal((n, d)) + 0.5),
        "qmi": (x, 0.6 * x + 0.8 * rng.standard_normal((n, d))),
        "cond": (
            x,
            x @ w1 + 0.5 * rng.standard_normal((n, 1)),
            x2,
            x2 @ w2 + 0.5 * rng.standard_normal((n, 1)),
        ),
    }


def _timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, float(value)


def exact_rows(n: int, dims, repeat: int) -> None:
    cuda = torch.cuda.is_available()
    print(f"torch threads: {torch.get_num_threads()}, CUDA: {cuda}")
    head = "| d | statistic | anchor (s) | ours (s) | ratio | relative difference |"
    print(head + (" ours on CUDA (s) |" if cuda else ""))
    print("|---" * (6 + cuda) + "|")
    for d in dims:
        sigma = "silverman" if d <= 8 else "median"
        data = make_data(n, d)
        cases = {
            "CS divergence": (
                lambda a=data["div"], s=sigma: anchor_divergence(*a, s),
                lambda dev=None, a=data["div"], s=sigma: cs_divergence(*a, s, device=dev),
            ),
            "CS-QMI": (
                lambda a=data["qmi"], s=sigma: anchor_qmi(*a, s),
                lambda dev=None, a=data["qmi"], s=sigma: cs_qmi(*a, s, s, device=dev),
            ),
            "conditional CS": (
                lambda a=data["cond"], s=sigma: anchor_conditional(*a, s),
                lambda dev=None, a=data["cond"], s=sigma: conditional_cs_divergence(
                    *a, s, s, device=dev
                ),
            ),
        }
        for name, (anchor, ours) in cases.items():
            best_a = best_o = math.inf
            for _ in range(repeat):  # taking turns
                ta, va = _timed(anchor)
                to, vo = _timed(ours)
                best_a, best_o = min(best_a, ta), min(best_o, to)
            line = (
                f"| {d} | {name} | {best_a:.2f} | {best_o:.2f} | {best_a / best_o:.1f} x | "
                f"{abs(vo - va) / abs(va):.1e} |"
            )
            if cuda:
                ours("cuda")
                torch.cuda.synchronize()
                tc, _ = _timed(lambda f=ours: f("cuda"))
                line += f" {tc:.3f} |"
            print(line, flush=True)


APPROX_STATS = ("CS divergence", "CS-QMI", "conditional CS")


def approx_rows(n_large: int, n_exact: int, dims, check: bool, stats=APPROX_STATS) -> None:
    print(
        f"approximate mode (approximation='random_tiles', default n_tiles) at n = {n_large:,} "
        f"against the exact value on the first {n_exact:,} rows (same width)"
    )
    head = "| d | statistic | approx. at n_large (s) | value | exact at n_exact (s) | value |"
    head += " relative difference |"
    if check:
        head += " approx. at n_exact | its error vs exact |"
    print(head)
    print("|---" * (7 + 2 * check) + "|")
    for d in dims:
        data = make_data(n_large, d, seed=1)
        rule = "silverman" if d <= 8 else "median"
        x, y = data["div"]
        s_div = kernel_width(np.vstack([x, y]), rule)
        xq, yq = data["qmi"]
        sx, sy = kernel_width(xq, rule), kernel_width(yq, rule)
        cases = {
            "CS divergence": lambda k, a=x, b=y, s=s_div, **kw: cs_divergence(
                a[:k], b[:k], s, **kw
            ),
            "CS-QMI": lambda k, a=xq, b=yq, s=(sx, sy), **kw: cs_qmi(a[:k], b[:k], *s, **kw),
        }
        x1, y1, x2, y2 = data["cond"]
        cx = kernel_width(np.vstack([x1, x2]), rule)
        cy = kernel_width(np.vstack([y1, y2]), rule)
        cases["conditional CS"] = lambda k, c=data["cond"], s=(cx, cy), **kw: (
            conditional_cs_divergence(*(v[:k] for v in c), *s, **kw)
        )
        for name, fn in ((k, cases[k]) for k in stats):
            ta, va = _timed(lambda f=fn: f(n_large, approximation="random_tiles", random_state=0))
            te, ve = _timed(lambda f=fn: f(n_exact))
            line = (
                f"| {d} | {name} | {ta:.1f} | {va:.4f} | {te:.1f} | {ve:.4f} | "
                f"{abs(va - ve) / abs(ve):.2%} |"
            )
            if check:
                _, vs = _timed(
                    lambda f=fn: f(n_exact, approximation="random_tiles", random_state=0)
                )
                line += f" {vs:.4f} | {abs(vs - ve) / abs(ve):.2%} |"
            print(line, flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--dims", type=int, nargs="+", default=[4, 64])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--approx", action="store_true", help="the approximate mode instead")
    ap.add_argument("--n-large", type=int, default=1_000_000)
    ap.add_argument("--n-exact", type=int, default=100_000)
    ap.add_argument(
        "--check", action="store_true", help="also the approximation at n_exact (its own error)"
    )
    ap.add_argument("--stats", nargs="+", default=list(APPROX_STATS), choices=APPROX_STATS)
    args = ap.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.approx:
        approx_rows(args.n_large, args.n_exact, args.dims, args.check, args.stats)
    else:
        exact_rows(args.n, args.dims, args.repeat)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
