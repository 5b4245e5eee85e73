"""Concept selection speed: LaBo's submodular objective, lazy vs naive greedy, and baselines.

Synthetic problem of the size in issue 4: 5,000 candidate concepts × 10,000 images
(d = 512, 50 classes, 100 candidates proposed per class). Prints one table; times are
wall-clock seconds of one run on this machine, ratios are measured in the same run.

    OMP_NUM_THREADS=1 python benchmarks/concepts_select.py [--candidates 5000] [--images 10000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bottlekit.concepts import ConceptBank, select


def make_problem(n_candidates: int, n_images: int, n_classes: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    protos = rng.standard_normal((n_classes, d))
    y = rng.integers(0, n_classes, n_images)
    X = protos[y] + 2.0 * rng.standard_normal((n_images, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    owner = np.arange(n_candidates) % n_classes
    V = 0.5 * protos[owner] + rng.standard_normal((n_candidates, d))
    prior = np.zeros((n_classes, n_candidates), dtype=np.float32)
    prior[owner, np.arange(n_candidates)] = 1
    names = [f"concept {i}" for i in range(n_candidates)]
    bank = ConceptBank(
        names,
        V,
        "synthetic",
        class_prior=prior,
        class_names=[f"class {c}" for c in range(n_classes)],
    )
    return bank, X.astype(np.float32), y


def timed(*args, **kwargs):
    """(select(*args, **kwargs), wall seconds)."""
    t0 = time.perf_counter()
    out = select(*args, **kwargs)
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=5000)
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--classes", type=int, default=50)
    ap.add_argument("--dim", type=int, default=512)
    args = ap.parse_args()
    bank, X, y = make_problem(args.candidates, args.images, args.classes, args.dim)
    print(
        f"# {args.candidates} candidates x {args.images} images, d={args.dim}, "
        f"{args.classes} classes"
    )
    print(f"{'setting':<44} {'method':<16} {'k':>5} {'seconds':>9} {'same as naive':>14}")
    rows = []
    for label, per_class, k, weights in [
        ("per class (LaBo default, a=1e7, b=0.1)", True, 500, {}),
        ("all candidates, one pool (a=1e7, b=0.1)", False, 50, {}),
        ("all candidates, one pool (a=1e7, b=0.1)", False, 200, {}),
        (
            "all candidates, coverage-heavy (a=0, b=1)",
            False,
            50,
            {"mi_weight": 0.0, "coverage_weight": 1.0},
        ),
    ]:
        lazy, t_lazy = timed(bank, X, y, k, per_class=per_class, **weights)
        naive, t_naive = timed(bank, X, y, k, per_class=per_class, lazy=False, **weights)
        same = lazy.names == naive.names
        rows.append((label, "submodular lazy", k, t_lazy, same))
        rows.append((label, "submodular naive", k, t_naive, same))
        for method in ("mi", "top-similarity", "random"):
            _, t = timed(bank, X, y, k, method, per_class=per_class, random_state=0)
            rows.append((label, method, k, t, None))
    for label, method, k, t, same in rows:
        flag = "" if same is None else ("yes" if same else "NO")
        print(f"{label:<44} {method:<16} {k:>5} {t:>9.3f} {flag:>14}")
    pairs = [(rows[i], rows[i + 1]) for i in range(0, len(rows), 5)]
    print()
    for lazy_row, naive_row in pairs:
        print(
            f"speed-up of lazy greedy, {lazy_row[0]}, k={lazy_row[2]}: "
            f"{naive_row[3] / lazy_row[3]:.1f}x"
        )


if __name__ == "__main__":
    main()
