"""The compiled max-norm k-d tree against the O(n^2) definitions and against scipy."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from bottlekit.estimators._maxnorm_tree import MaxNormTree


def _distances(Z):
    return np.abs(Z[:, None, :] - Z[None, :, :]).max(axis=2)


def _sample(n, d, seed, ties=False):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, d)) * np.geomspace(1.0, 1e3, d)  # unequal scales
    if ties:
        Z[: n // 2] = np.round(Z[: n // 2], 1)
    return Z


@pytest.mark.parametrize("d", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("n", [5, 9, 200, 1500])
def test_knn_matches_brute_force(n, d):
    # Continuous data: the k nearest are unique, so distances AND indices must be exactly
    # those of the full distance matrix (n=5, 9 straddle the leaf size of 8).
    Z = _sample(n, d, seed=10 * n + d)
    k = min(4, n - 1)
    dist, idx = MaxNormTree(Z).knn(k)
    full = _distances(Z)
    np.fill_diagonal(full, np.inf)
    ref_idx = np.argsort(full, axis=1, kind="stable")[:, :k]
    np.testing.assert_array_equal(dist, np.take_along_axis(full, ref_idx, axis=1))
    np.testing.assert_array_equal(idx, ref_idx)


@pytest.mark.parametrize("d", [2, 5])
def test_knn_with_ties_and_duplicates_has_the_exact_distances(d):
    # Half the rows rounded (ties in every coordinate) and ten exact duplicate rows: the
    # neighbour sets are ambiguous but the sorted distances are not; a duplicate is its
    # twin's nearest neighbour at distance 0, and a row is never its own neighbour.
    Z = _sample(600, d, seed=d, ties=True)
    Z[590:] = Z[:10]
    dist, idx = MaxNormTree(Z).knn(5)
    full = _distances(Z)
    np.fill_diagonal(full, np.inf)
    np.testing.assert_array_equal(dist, np.sort(full, axis=1)[:, :5])
    assert not np.any(idx == np.arange(600)[:, None])
    np.testing.assert_array_equal(full[np.arange(600)[:, None], idx], dist)
    assert np.all(dist[590:, 0] == 0.0) and np.all(dist[:10, 0] == 0.0)


def test_knn_agrees_with_scipy_at_scale():
    Z = _sample(20_000, 4, seed=3)
    dist, idx = MaxNormTree(Z).knn(3)
    ref_dist, ref_idx = cKDTree(Z).query(Z, k=4, p=np.inf)
    np.testing.assert_array_equal(dist, ref_dist[:, 1:])
    np.testing.assert_array_equal(idx, ref_idx[:, 1:])


@pytest.mark.parametrize("d", [1, 3, 4])
def test_count_within_matches_brute_force_on_the_edge(d):
    # Radii equal to the distance to a random other row put a point exactly on the edge of
    # every ball; the next float below must exclude it. Zero and infinite radii too.
    Z = _sample(900, d, seed=20 + d, ties=True)
    rng = np.random.default_rng(d)
    radius = np.abs(Z[rng.integers(0, 900, 900)] - Z).max(axis=1)
    tree = MaxNormTree(Z)
    full = _distances(Z)
    for r in (radius, np.nextafter(radius, 0.0), np.zeros(900), np.full(900, np.inf)):
        np.testing.assert_array_equal(tree.count_within(r), (full <= r[:, None]).sum(axis=1) - 1)


def test_threads_give_identical_results():
    Z = _sample(10_000, 3, seed=5)
    tree = MaxNormTree(Z)
    one, two = tree.knn(4, n_jobs=1), tree.knn(4, n_jobs=2)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])
    radius = one[0][:, -1]
    np.testing.assert_array_equal(tree.count_within(radius), tree.count_within(radius, n_jobs=-1))


@pytest.mark.parametrize("k", [0, 10])
def test_k_out_of_range_is_refused(k):
    with pytest.raises(ValueError, match=r"k must be in \[1, n - 1\]"):
        MaxNormTree(_sample(10, 2, seed=0)).knn(k)
