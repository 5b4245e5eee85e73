"""Where KSG's time goes: each neighbour query of ours next to the library call it replaces.

    python benchmarks/ksg_components.py [--sizes 10000 100000] [--repeat 5]

For correlated Gaussians (x, y of 1 or 2 columns each, k = 3) it times, one thread, best of
interleaved repeats, in one run:

* the joint k-NN under the max-norm: our compiled tree (``_maxnorm_tree.MaxNormTree``)
  vs :class:`scipy.spatial.cKDTree` (queried in its leaf order, which is its fastest use);
* a marginal radius count at the KSG radii: our tree-free counts (binary searches in 1-D,
  a Fenwick-tree sweep in 2-D, ``_chebyshev_counts``) vs scikit-learn's
  ``KDTree.query_radius(count_only=True)`` (the peers' count) and
  ``cKDTree.query_ball_point(return_length=True)`` (npeet-plus's count).

It checks that every pair returns the same numbers before timing.
"""

from __future__ import annotations

import argparse

import numpy as np
from estimators_peers import time_interleaved  # this folder is on sys.path when run
from scipy.spatial import cKDTree
from sklearn.neighbors import KDTree

from bottlekit.estimators._chebyshev_counts import chebyshev_counts_1d, chebyshev_counts_2d
from bottlekit.estimators._maxnorm_tree import MaxNormTree


def _ckdtree_knn(Z, k):
    tree = cKDTree(Z)
    order = tree.indices
    d, _ = tree.query(Z[order], k=k + 1, p=np.inf)
    out = np.empty_like(d)
    out[order] = d
    return out[:, 1:]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    MaxNormTree(np.random.default_rng(0).standard_normal((50, 2))).knn(3)  # compile / load
    chebyshev_counts_2d(np.zeros((3, 2)), np.zeros(3))
    print(
        "| data | n | joint k-NN: ours | cKDTree | ratio | marginal count: ours | "
        "sklearn KDTree | cKDTree ball | ratio to faster |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for dims in (1, 2):
        for n in args.sizes:
            x = rng.standard_normal((n, dims))
            y = 0.6 * x + 0.8 * rng.standard_normal((n, dims))
            _row(x, y, args.repeat if n <= 20_000 else max(2, args.repeat // 2))


def _row(x, y, repeat: int) -> None:
    n, dims = x.shape
    Z = np.hstack([x, y])
    eps = MaxNormTree(Z).knn(3)[0][:, -1]
    assert np.array_equal(eps, _ckdtree_knn(Z, 3)[:, -1])
    r = np.nextafter(eps, 0.0)

    def ours():
        return chebyshev_counts_1d(x[:, 0], r) if dims == 1 else chebyshev_counts_2d(x, r)

    def sk():
        return KDTree(x, metric="chebyshev").query_radius(x, r, count_only=True) - 1

    def ck():
        return cKDTree(x).query_ball_point(x, r, p=np.inf, return_length=True) - 1

    assert np.array_equal(ours(), sk()) and np.array_equal(ours(), ck())
    runs = {
        "knn": lambda: MaxNormTree(Z).knn(3),
        "knn_ck": lambda: _ckdtree_knn(Z, 3),
        "count": ours,
        "count_sk": sk,
        "count_ck": ck,
    }
    t = time_interleaved(runs, repeat)
    print(
        f"| {dims}+{dims} | {n:.0e} | {t['knn']:.4f} | {t['knn_ck']:.4f} | "
        f"{t['knn_ck'] / t['knn']:.1f}x | {t['count']:.4f} | {t['count_sk']:.4f} | "
        f"{t['count_ck']:.4f} | {min(t['count_sk'], t['count_ck']) / t['count']:.1f}x |",
        flush=True,
    )


if __name__ == "__main__":
    main()
