"""Accuracy of bottlekit's MI estimators against closed-form ground truth.

Prints a markdown table: for every estimator x case, the true MI, the mean estimate,
bias and standard deviation over seeds, and the mean time per estimate.

    python benchmarks/estimators_accuracy.py                 # n=2000, 10 seeds (neural: 3)
    python benchmarks/estimators_accuracy.py --n 5000 --seeds 5 --skip-neural
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

from bottlekit.estimators import mutual_information
from bottlekit.estimators.ground_truth import (
    correlated_gaussian,
    gaussian_mi,
    label_mixture,
    label_mixture_mi,
    student_t,
    student_t_mi,
)


def cases():
    """name -> (sampler(n, seed) -> (X, Y), true MI, continuous Y?)."""
    return {
        "gauss 1+1 rho=.8": (lambda n, s: correlated_gaussian(n, 0.8, 1, s), gaussian_mi(0.8)),
        "gauss 5+5 rho=.6": (lambda n, s: correlated_gaussian(n, 0.6, 5, s), gaussian_mi(0.6, 5)),
        "gauss 20+20 rho=.3": (
            lambda n, s: correlated_gaussian(n, 0.3, 20, s),
            gaussian_mi(0.3, 20),
        ),
        "exp/cube of gauss 1+1": (
            lambda n, s: (lambda x, y: (np.exp(x), y**3))(*correlated_gaussian(n, 0.8, 1, s)),
            gaussian_mi(0.8),
        ),
        "student-t nu=3 1+1": (
            lambda n, s: student_t(n, 0.5, 1, 3.0, s),
            student_t_mi(0.5, 1, 3.0),
        ),
        "student-t nu=5 2+2": (
            lambda n, s: student_t(n, 0.5, 2, 5.0, s),
            student_t_mi(0.5, 2, 5.0),
        ),
        "labels: N(2y,1), y~B(.5)": (lambda n, s: label_mixture(n, 2.0, s), label_mixture_mi(2.0)),
    }


def estimators(neural_steps: int):
    """name -> (kwargs for mutual_information, neural?)."""
    est = {
        "ksg alg1 k=3": ({"method": "ksg"}, False),
        "ksg alg2 k=3": ({"method": "ksg", "algorithm": 2}, False),
        "ksg copula": ({"method": "ksg", "copula": True}, False),
        "gaussian": ({"method": "gaussian"}, False),
        "gaussian ledoit-wolf": ({"method": "gaussian", "shrinkage": "ledoit-wolf"}, False),
        "binning MM sturges": ({"method": "binning"}, False),
    }
    for b in ("infonce", "nwj", "mine", "smile"):
        est[b] = ({"method": b, "max_steps": neural_steps}, True)
    for b in ("infonce", "nwj"):
        est[f"{b} copula"] = ({"method": b, "max_steps": neural_steps, "copula": True}, True)
    return est


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--neural-seeds", type=int, default=3)
    ap.add_argument("--neural-steps", type=int, default=1000)
    ap.add_argument("--skip-neural", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # binning's sparse-histogram warning in high dimension
    print(
        f"n = {args.n}; seeds = {args.seeds} (neural: {args.neural_seeds}, "
        f"{args.neural_steps} steps max)\n"
    )
    print("| case | true MI | estimator | mean | bias | std | s/estimate |")
    print("|---|---|---|---|---|---|---|")
    for cname, (sample, truth) in cases().items():
        labels = cname.startswith("labels")
        items = (
            {"ksg_discrete (Ross) k=3": ({"method": "ksg_discrete"}, False)}
            if labels
            else estimators(args.neural_steps)
        )
        for ename, (kw, neural) in items.items():
            if neural and args.skip_neural:
                continue
            seeds = args.neural_seeds if neural else args.seeds
            vals, t0 = [], time.perf_counter()
            for s in range(seeds):
                X, Y = sample(args.n, s)
                extra = {"random_state": s} if neural else {}
                vals.append(mutual_information(X, Y, **kw, **extra))
            dt = (time.perf_counter() - t0) / seeds
            v = np.asarray(vals)
            print(
                f"| {cname} | {truth:.3f} | {ename} | {v.mean():.3f} | "
                f"{v.mean() - truth:+.3f} | {v.std(ddof=1):.3f} | {dt:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
