"""bottlekit's MI estimators side by side with peer packages, and KSG speed ratios.

Peers: scikit-learn's ``mutual_info_regression`` (KSG algorithm 1 for one feature),
``benchmark-mi`` (``bmi``: its tasks with known MI, and its KSG / CCA / histogram /
InfoNCE estimators), ``npeet-plus`` (KSG), ``torch-mist`` (neural InfoNCE).

The peers pin old versions (numpy<2, pandas 1.5, pydantic 1, jax<0.4.34 for equinox
0.10), so run this in its own virtual environment:

    python -m venv --system-site-packages /tmp/peersenv
    /tmp/peersenv/bin/pip install benchmark-mi npeet-plus torch-mist "jax==0.4.30" "jaxlib==0.4.30"
    /tmp/peersenv/bin/python benchmarks/estimators_peers.py            # all sections
    /tmp/peersenv/bin/python benchmarks/estimators_peers.py --section speed

Sections: ``tasks`` (accuracy on benchmark-mi tasks), ``neural`` (InfoNCE vs peers),
``speed`` (KSG wall time at n = 1e4 and 1e5, as ratios measured in the same run).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
import warnings

import numpy as np

from bottlekit.estimators import KSGMutualInformation, mutual_information

TASKS = [
    "1v1-normal-0.75",
    "normal_cdf-1v1-normal-0.75",
    "1v1-additive-0.75",
    "1v1-bimodal-0.75",
    "wiggly-1v1-normal-0.75",
    "half_cube-1v1-normal-0.75",
    "student-identity-1-1-1",
    "asinh-student-identity-1-1-1",
    "swissroll_x-normal_cdf-1v1-normal-0.75",
    "multinormal-dense-2-2-0.5",
    "multinormal-dense-5-5-0.5",
    "multinormal-sparse-3-3-2-2.0",
    "student-identity-2-2-1",
    "spiral-multinormal-sparse-3-3-2-2.0",
    "multinormal-dense-25-25-0.5",
]


def _quiet(fn, *a, **k):
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return fn(*a, **k)


def ours():
    return {
        "bk ksg": lambda x, y: mutual_information(x, y, method="ksg", random_state=0),
        "bk ksg copula": lambda x, y: mutual_information(x, y, copula=True, random_state=0),
        "bk gaussian": lambda x, y: mutual_information(x, y, method="gaussian"),
        "bk binning": lambda x, y: mutual_information(x, y, method="binning", bins=10),
    }


def peers():
    import bmi
    import npeet_plus
    from sklearn.feature_selection import mutual_info_regression

    def sk(x, y):
        if x.shape[1] != 1 or y.shape[1] != 1:
            return np.nan  # one feature vs one target only
        return float(mutual_info_regression(x, y[:, 0], n_neighbors=3, random_state=0)[0])

    def hist(x, y):
        if x.shape[1] + y.shape[1] > 6:
            return np.nan  # 5^d cells: bmi's histogram is meant for low dimension
        return bmi.estimators.HistogramEstimator(n_bins_x=5).estimate(x, y)

    return {
        "sklearn mi_regression": sk,
        "npeet-plus mi": lambda x, y: npeet_plus.mi(x, y, k=3, base=np.e),
        "bmi KSG(5,10)": lambda x, y: bmi.estimators.KSGEnsembleFirstEstimator(
            neighborhoods=(5, 10), metric_x="chebyshev"
        ).estimate(x, y),
        "bmi CCA": lambda x, y: bmi.estimators.CCAMutualInformationEstimator().estimate(x, y),
        "bmi histogram(5)": hist,
    }


def section_tasks(n: int, seeds: int):
    from bmi.benchmark import BENCHMARK_TASKS

    est = {**ours(), **peers()}
    names = list(est)
    print(f"\n### benchmark-mi tasks: mean |error| over {seeds} seeds, n = {n} (nats)\n")
    print("| task | true MI | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    errs = {k: [] for k in names}
    per_task = {}
    for tname in TASKS:
        task = BENCHMARK_TASKS[tname]
        row = []
        for ename in names:
            vals = []
            for s in range(seeds):
                x, y = task.sample(n, seed=s)
                x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
                vals.append(_quiet(est[ename], x, y))
            v = np.asarray(vals, dtype=float)
            if np.all(np.isnan(v)):
                row.append("n/a")
                continue
            err = float(np.mean(np.abs(v - task.mutual_information)))
            errs[ename].append(err)
            per_task.setdefault(tname, {})[ename] = err
            row.append(f"{v.mean():.3f} ({err:.3f})")
        print(f"| {tname} | {task.mutual_information:.3f} | " + " | ".join(row) + " |", flush=True)
    print(
        "\nCell: mean estimate (mean absolute error). Mean |error| over the tasks each "
        "estimator applies to:\n"
    )
    for ename in names:
        e = errs[ename]
        print(f"- {ename}: {np.mean(e):.3f} over {len(e)} tasks" if e else f"- {ename}: n/a")
    common = [t for t, d in per_task.items() if len(d) == len(names)]
    print(f"\nMean |error| on the {len(common)} tasks every estimator applies to:\n")
    for ename in names:
        print(f"- {ename}: {np.mean([per_task[t][ename] for t in common]):.3f}")


def section_neural(n: int, steps: int):
    import bmi
    import torch
    from bmi.benchmark import BENCHMARK_TASKS
    from torch_mist import estimate_mi

    torch.set_num_threads(1)
    tasks = ["1v1-normal-0.75", "student-identity-1-1-1", "multinormal-dense-2-2-0.5"]

    def tm(x, y):
        out = _quiet(
            estimate_mi,
            data=(x.astype(np.float32), y.astype(np.float32)),
            estimator="infonce",
            hidden_dims=[64, 64],
            max_iterations=steps,
            batch_size=256,
            verbose=False,
        )
        return float(out[0] if isinstance(out, tuple) else out)

    est = {
        "bk infonce": lambda x, y: mutual_information(
            x, y, method="infonce", max_steps=steps, random_state=0
        ),
        "bk smile": lambda x, y: mutual_information(
            x, y, method="smile", max_steps=steps, random_state=0
        ),
        "bk infonce copula": lambda x, y: mutual_information(
            x, y, method="infonce", max_steps=steps, random_state=0, copula=True
        ),
        "torch-mist infonce": tm,
        "bmi InfoNCE": lambda x, y: bmi.estimators.InfoNCEEstimator(
            max_n_steps=steps, verbose=False, batch_size=256
        ).estimate(x, y),
    }
    print(f"\n### Neural bounds, one seed, n = {n}, {steps} steps, batch 256\n")
    print("| task | true MI | " + " | ".join(f"{k} (s)" for k in est) + " |")
    print("|---|---|" + "---|" * len(est))
    for tname in tasks:
        task = BENCHMARK_TASKS[tname]
        x, y = (np.asarray(a, dtype=np.float64) for a in task.sample(n, seed=0))
        cells = []
        for fn in est.values():
            t0 = time.perf_counter()
            v = _quiet(fn, x, y)
            cells.append(f"{v:.3f} ({time.perf_counter() - t0:.0f})")
        print(
            f"| {tname} | {task.mutual_information:.3f} | " + " | ".join(cells) + " |", flush=True
        )


def time_interleaved(runs: dict, repeat: int) -> dict:
    """Best wall time of each run over ``repeat`` rounds, the runs taking turns.

    Taking turns (bk, sklearn, npeet, ..., bk, sklearn, ...) exposes every estimator to
    the same background load on a shared machine, so the ratios are steadier than when
    each estimator's repeats run back to back.
    """
    best = dict.fromkeys(runs, np.inf)
    for _ in range(repeat):
        for key, fn in runs.items():
            t0 = time.perf_counter()
            _quiet(fn)
            best[key] = min(best[key], time.perf_counter() - t0)
    return best


def _speed_runs(x, y, dims):
    import bmi
    import npeet_plus
    from sklearn.feature_selection import mutual_info_regression

    def sk():
        return mutual_info_regression(x, y[:, 0], n_neighbors=3, random_state=0)[0]

    return {
        "bk1": lambda: KSGMutualInformation(n_jobs=1, random_state=0).fit(x, y).mi_,
        "bk2": lambda: KSGMutualInformation(n_jobs=2, random_state=0).fit(x, y).mi_,
        "sklearn": sk if dims == 1 else None,
        "npeet": lambda: npeet_plus.mi(x, y, k=3, base=np.e),
        "bmi": lambda: bmi.estimators.KSGEnsembleFirstEstimator(
            neighborhoods=(3,), metric_x="chebyshev"
        ).estimate(x, y),
    }


def section_speed(sizes, repeat: int, budget_s: float):
    print(
        "\n### KSG wall time (best of interleaved repeats, seconds) and ratio fastest-peer "
        "/ ours\n"
    )
    print(
        "| data | n | bk ksg n_jobs=1 | bk ksg n_jobs=2 | sklearn | npeet-plus | bmi KSG | "
        "fastest peer / bk (n_jobs=1) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for dims in (1, 2):
        last = {}
        for n in sizes:
            x = rng.standard_normal((n, dims))
            y = 0.6 * x + 0.8 * rng.standard_normal((n, dims))
            runs = _speed_runs(x, y, dims)
            cells, active = {}, {}
            for key, fn in runs.items():
                if fn is None:
                    cells[key] = "n/a"
                # skip a run predicted (from the smaller n, quadratic worst case) to exceed
                # the budget
                elif key in last and last[key] * (n / last["n"]) ** 2 > budget_s:
                    cells[key] = f"skipped (>{budget_s:.0f} s predicted)"
                else:
                    active[key] = fn
            times = time_interleaved(active, repeat if n <= 20000 else min(repeat, 2))
            for key, t in times.items():
                cells[key] = f"{t:.3f}"
                last[key] = t
            last["n"] = n
            peer_t = [times[k] for k in ("sklearn", "npeet", "bmi") if k in times]
            ratio = f"{min(peer_t) / times['bk1']:.1f}x" if peer_t else "n/a"
            print(
                f"| {dims}+{dims} gauss | {n:.0e} | {cells['bk1']} | {cells['bk2']} | "
                f"{cells['sklearn']} | {cells['npeet']} | {cells['bmi']} | {ratio} |",
                flush=True,
            )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--section", choices=["all", "tasks", "neural", "speed"], default="all")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--neural-steps", type=int, default=1000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--budget", type=float, default=300.0)
    args = ap.parse_args(argv)
    if args.section in ("all", "tasks"):
        section_tasks(args.n, args.seeds)
    if args.section in ("all", "speed"):
        section_speed(args.sizes, args.repeat, args.budget)
    if args.section in ("all", "neural"):
        section_neural(args.n, args.neural_steps)


if __name__ == "__main__":
    main()
