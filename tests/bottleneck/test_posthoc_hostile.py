"""PosthocCBM's head on hostile input: fit_elastic_net_head and the head's parameters refuse
bad arguments with a message that names them, not deep inside the numba SGD."""

from __future__ import annotations

import numpy as np
import pytest

from bottlekit.bottleneck import PosthocCBM
from bottlekit.bottleneck.posthoc import fit_elastic_net_head
from bottlekit.concepts import ConceptBank

RNG = np.random.default_rng(0)
A = RNG.normal(size=(60, 5))
Y = (A[:, 0] > 0).astype(int)
HEAD = dict(lam=1e-3, l1_ratio=0.5, max_iter=5, tol=1e-3)


def _head(**kw):
    args = dict(A=A, y=Y, rng=np.random.default_rng(0)) | HEAD | kw
    return fit_elastic_net_head(**args)


@pytest.mark.parametrize(
    ("kw", "error", "message"),
    [
        (
            {"sgd_order": "bad"},
            ValueError,
            r"sgd_order: expected one of \['per_class', 'shared'\]",
        ),
        ({"lam": -1.0}, ValueError, r"lam: expected a finite number >= 0, got -1.0"),
        ({"l1_ratio": True}, ValueError, r"l1_ratio: expected a number in \[0, 1\], got True"),
        ({"max_iter": 0}, ValueError, r"max_iter: expected an int > 0, got 0"),
        ({"tol": np.nan}, ValueError, r"tol: expected a finite number >= 0, got nan"),
        ({"A": np.full((60, 5), np.nan)}, ValueError, r"A contains NaN or inf"),
        ({"A": A[:, 0]}, ValueError, r"A: expected a 2-D array \(n, k\).*got shape \(60,\)"),
        ({"A": A[:0], "y": Y[:0]}, ValueError, r"A: expected .*n, k >= 1, got shape \(0, 5\)"),
        ({"y": Y[:5]}, ValueError, r"y: expected shape \(60,\), one label per row of A"),
        ({"y": np.zeros(60, int)}, ValueError, r"y: expected at least 2 classes, got 1"),
        ({"rng": 0}, TypeError, r"rng: expected a numpy Generator .*got int"),
    ],
)
def test_fit_elastic_net_head_refuses_bad_arguments(kw, error, message):
    with pytest.raises(error, match=message):
        _head(**kw)


def test_fit_elastic_net_head_on_valid_input_is_unchanged():
    coef, intercept, n_iter = _head()
    again = _head()
    np.testing.assert_array_equal(coef, again[0])
    assert coef.shape == (2, 5) and intercept.shape == (2,) and n_iter == 5


def test_posthoc_refuses_a_boolean_l1_ratio():
    bank = ConceptBank([f"c{i}" for i in range(5)], RNG.normal(size=(5, 8)), "toy")
    X = RNG.normal(size=(60, 8))
    with pytest.raises(ValueError, match=r"l1_ratio: expected a number in \[0, 1\], got True"):
        PosthocCBM(bank, l1_ratio=True, max_iter=5).fit(X, Y)
