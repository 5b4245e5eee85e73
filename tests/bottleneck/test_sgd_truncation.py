"""The SGD port's branch-free L1 truncation and prefetch hint against their definitions."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from bottlekit.bottleneck._ovr_sgd import _add_and_truncate, _truncate, _truncated
from bottlekit.bottleneck._prefetch import prefetch


def _sklearn_truncation(z, q, wscale, u):
    """scikit-learn's ``l1penalty`` for one weight (``_sgd_fast.pyx.tp``), branches and all;
    returns the new weight and the new ledger entry."""
    new = z
    if wscale * z > 0.0:
        new = max(0.0, z - ((u + q) / wscale))
    elif wscale * z < 0.0:
        new = min(0.0, z + ((u - q) / wscale))
    return new, q + wscale * (new - z)


def _bits(a):
    return np.asarray(a, dtype=np.float64).view(np.uint64)


def _cases(seed=0, m=4000):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=m) * 10.0 ** rng.integers(-12, 3, size=m)
    z[rng.random(m) < 0.1] = 0.0
    z[rng.random(m) < 0.02] = -0.0
    q = rng.normal(size=m) * 10.0 ** rng.integers(-14, -2, size=m)
    return z, q


@pytest.mark.parametrize(("wscale", "u"), [(1.0, 1e-6), (0.37, 3e-3), (2e-9, 1e-12), (1.0, 0.0)])
def test_branch_free_step_equals_sklearn_to_the_bit(wscale, u):
    z, q = _cases()
    for zj, qj in zip(z, q, strict=True):
        expected_w, _ = _sklearn_truncation(zj, qj, wscale, u)
        got = _truncated(zj, qj, wscale, u)
        # the same number; only the sign of an exact zero may differ, which no later
        # step can see (a zero weight is skipped whatever its sign)
        assert got == expected_w and (got != 0.0 or expected_w == 0.0)
        if got != 0.0:
            assert _bits(got) == _bits(expected_w)


def test_vectorised_loops_equal_sklearn_to_the_bit():
    rng = np.random.default_rng(1)
    z0, q0 = _cases(seed=2, m=301)  # not a multiple of the SIMD width: the tail runs too
    x = rng.normal(size=z0.size)
    step, wscale, u = 0.013, 0.61, 2e-4
    w, q, z = z0.copy(), q0.copy(), np.empty_like(z0)
    _add_and_truncate(w, q, z, x, step, wscale, u)
    expected = [
        _sklearn_truncation(a + b * step, c, wscale, u) for a, b, c in zip(z0, x, q0, strict=True)
    ]
    np.testing.assert_array_equal(z, z0 + x * step)
    assert np.array_equal(_bits(q), _bits([e[1] for e in expected]))
    assert np.array_equal(w, [e[0] for e in expected])
    w, q = z0.copy(), q0.copy()
    _truncate(w, q, wscale, u)
    expected = [_sklearn_truncation(a, c, wscale, u) for a, c in zip(z0, q0, strict=True)]
    assert np.array_equal(w, [e[0] for e in expected])
    assert np.array_equal(_bits(q), _bits([e[1] for e in expected]))


def test_prefetch_changes_nothing():
    @numba.njit
    def total(a):
        s = 0.0
        for i in range(a.shape[0]):
            prefetch(a, min(i + 8, a.shape[0] - 1))
            s += a[i]
        return s

    a = np.random.default_rng(3).normal(size=1000)
    before = a.copy()
    assert total(a) == sum(a.tolist())  # the same sequential sum
    np.testing.assert_array_equal(a, before)
    with pytest.raises(numba.core.errors.TypingError):
        numba.njit(lambda a: prefetch(a, 0))(np.zeros((2, 2)))  # 1-D arrays only
