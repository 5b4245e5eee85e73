"""The one stratified validation split reproduces the two it replaced, draw for draw."""

from __future__ import annotations

import numpy as np
import pytest

from bottlekit.bottleneck._splits import stratified_validation_split


def _old_labo_knobo(y, n_classes, validation_fraction, rng):
    """bottleneck/_splits.py before the merge (LaBo, KnoBo)."""
    held = []
    for c in range(n_classes):
        members = rng.permutation(np.flatnonzero(y == c))
        m = round(validation_fraction * len(members))
        held.append(members[: max(0, min(m, len(members) - 1))])
    val_idx = np.sort(np.concatenate(held)).astype(np.int64)
    mask = np.ones(len(y), dtype=bool)
    mask[val_idx] = False
    return np.flatnonzero(mask).astype(np.int64), val_idx


def _old_label_free(y, fraction, rng):
    """bottleneck/label_free.py before the merge (without its size check)."""
    n = len(y)
    val = []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        if len(idx) >= 2:
            val.append(idx[: max(1, round(fraction * len(idx)))])
    val_idx = np.concatenate(val) if val else np.empty(0, dtype=np.int64)
    if len(val_idx) < 2:
        val_idx = rng.permutation(n)[: max(2, round(fraction * n))]
    return np.setdiff1d(np.arange(n), val_idx), np.sort(val_idx)


CASES = [
    (np.repeat([0, 1, 2], [100, 50, 10]), 0.2),
    (np.array([0] * 10 + [1] * 3 + [2]), 0.4),
    (np.array([0, 1, 2, 2]), 0.1),  # label-free's unstratified fallback
    (np.array([0, 1, 0]), 0.5),
    (np.array([0, 0, 1, 1, 1]), 0.75),  # round(f n_c) = n_c: label-free holds a class out
    (np.random.default_rng(5).integers(0, 7, 300), 0.1),
    (np.arange(6) % 3, 0.0),
]


@pytest.mark.parametrize(("y", "f"), CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_both_settings_equal_the_old_splits(y, f, seed):
    n_classes = int(y.max()) + 1
    new = stratified_validation_split(y, f, np.random.default_rng(seed))
    old = _old_labo_knobo(y, n_classes, f, np.random.default_rng(seed))
    for a, b in zip(new, old, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype == np.int64
    new = stratified_validation_split(
        y, f, np.random.default_rng(seed), min_per_class=1, min_train_per_class=0, min_validation=2
    )
    old = _old_label_free(y, f, np.random.default_rng(seed))
    for a, b in zip(new, old, strict=True):
        np.testing.assert_array_equal(a, b)


def test_split_is_a_partition_keeping_one_per_class():
    y = np.repeat([0, 1, 2], [5, 2, 1])
    tr, va = stratified_validation_split(y, 0.9, np.random.default_rng(0))
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(len(y)))
    assert np.bincount(y[tr], minlength=3).tolist() == [1, 1, 1]  # capped at n_c - 1
