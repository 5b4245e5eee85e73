"""Faithfulness metrics refuse a parameter given in a mode that does not read it.

Before, ``n_lambdas`` with ``method="truncate"``, ``coop_weights`` without the ``"coop"``
policy and the leakage's ``min_coverage``, ``jitter`` and ``folds`` in the modes that do
not use them were accepted and ignored, silently: their defaults (20, (1, 1, 1), 0.8,
1e-3, 5) could not be told from a given value. They default to None now ("the documented
default"); the results with the defaults are those of the explicit old defaults.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from bottlekit.bottleneck import PosthocCBM
from bottlekit.concepts import ConceptBank
from bottlekit.datasets import ConceptDataset
from bottlekit.diagnostics.faithfulness import (
    accuracy_at_nec,
    concept_leakage,
    intervention_curves,
    prune_to_nec,
)


@pytest.fixture(scope="module")
def world():
    """3 classes decided by 2 of 3 binary concepts; embeddings = concepts + noise."""
    rng = np.random.default_rng(0)
    n = 300
    C = rng.integers(0, 2, (n, 3))
    y = C[:, 0] + C[:, 1]
    X = C + 0.4 * rng.standard_normal((n, 3))
    names = list("abc")
    bank = ConceptBank(names, np.eye(3), "toy", provenance=[{"kind": "cav"}] * 3)
    data = ConceptDataset(
        np.zeros((n, 4, 4, 3), np.uint8), labels=y, concept_names=names, concept_labels=C
    )
    return PosthocCBM(bank, lam=1e-3, random_state=0).fit(X, y), X, data


# ------------------------------------------------------------------------------ NEC
def test_n_lambdas_is_refused_with_truncate(world):
    model, X, data = world
    message = re.escape(
        "n_lambdas: 8 has no effect with method='truncate' (it sets the re-fit's penalty "
        "path); leave it None or use method='refit'"
    )
    with pytest.raises(ValueError, match=message):
        prune_to_nec(model, 2, method="truncate", n_lambdas=8)
    with pytest.raises(ValueError, match=message):
        prune_to_nec(model, 2, X=X, dataset=data, method="truncate", n_lambdas=8)
    with pytest.raises(ValueError, match=message):
        accuracy_at_nec(model, X, data, {"t": (X, data)}, [1, 2], method="truncate", n_lambdas=8)
    # 20, the old default, is refused as well: it was a value given, and ignored
    with pytest.raises(ValueError, match="n_lambdas: 20 has no effect"):
        accuracy_at_nec(model, X, data, {"t": (X, data)}, [1], method="truncate", n_lambdas=20)


@pytest.mark.slow  # about 7 s
def test_n_lambdas_none_is_20_with_refit(world):
    model, X, data = world
    default = accuracy_at_nec(model, X, data, {"t": (X, data)}, [1, 2])
    twenty = accuracy_at_nec(model, X, data, {"t": (X, data)}, [1, 2], n_lambdas=20)
    assert default.lambdas == twenty.lambdas and default.accuracy == twenty.accuracy
    four = accuracy_at_nec(model, X, data, {"t": (X, data)}, [1, 2], n_lambdas=4)
    assert four.lambdas != default.lambdas  # the value is read: another path
    pruned = prune_to_nec(model, 1, X=X, dataset=data)
    np.testing.assert_array_equal(
        pruned.coef_, prune_to_nec(model, 1, X=X, dataset=data, n_lambdas=20).coef_
    )
    with pytest.raises(ValueError, match=r"n_lambdas: expected an int >= 1 and <= 1000, got 0"):
        prune_to_nec(model, 1, X=X, dataset=data, n_lambdas=0)


# -------------------------------------------------------------------- interventions
@pytest.mark.parametrize("weights", [(0.0, 0.0, 1.0), (1.0, 1.0, 1.0)])
def test_coop_weights_are_refused_without_the_coop_policy(world, weights):
    model, X, data = world
    message = re.escape(
        f"coop_weights: {weights!r} has no effect with policies=['random', 'uncertainty'] "
        "(it weighs the 'coop' score); leave it None or add 'coop' to policies"
    )
    with pytest.raises(ValueError, match=message):
        intervention_curves(
            model, X, data, X, data, policies=["random", "uncertainty"], coop_weights=weights
        )


def test_coop_weights_none_is_one_one_one(world):
    model, X, data = world
    default = intervention_curves(model, X, data, X, data, policies="coop")
    ones = intervention_curves(model, X, data, X, data, policies="coop", coop_weights=(1, 1, 1))
    assert default.accuracy == ones.accuracy and default.cost == ones.cost
    alone = intervention_curves(model, X, data, X, data, policies=["random"])  # no weights
    assert list(alone.accuracy) == ["random"] and len(alone.accuracy["random"]) == 4


# -------------------------------------------------------------------------- leakage
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"method": "classifier", "min_coverage": 0.5},
            "min_coverage: 0.5 has no effect with method='classifier' and conditioning='auto' "
            "(it chooses the conditioning of conditioning='auto'); leave it None or use "
            "conditioning='auto'",
        ),
        (
            {"conditioning": "pattern", "min_coverage": 0.8},
            "min_coverage: 0.8 has no effect with method='auto' and conditioning='pattern'",
        ),
        (
            {"conditioning": "pattern", "jitter": 0.01},
            "jitter: 0.01 has no effect with method='auto' and conditioning='pattern' (only "
            "jitter conditioning reads it: conditioning='jitter', or method='ksg' with "
            "conditioning='auto'); leave it None",
        ),
        (
            {"method": "classifier", "jitter": 0.01},
            "jitter: 0.01 has no effect with method='classifier' and conditioning='auto'",
        ),
        # both "auto": pattern conditioning or the classifier form, never jitter
        ({"jitter": 1e-3}, "jitter: 0.001 has no effect with method='auto' and"),
        (
            {"method": "ksg", "folds": 3},
            "folds: 3 has no effect with method='ksg' and conditioning='auto' (they are the "
            "classifier form's folds; this mode uses k-NN); leave it None or use "
            "method='classifier'",
        ),
        (
            {"conditioning": "jitter", "folds": 5},
            "folds: 5 has no effect with method='auto' and conditioning='jitter'",
        ),
    ],
)
def test_leakage_refuses_settings_its_mode_does_not_read(world, kwargs, message):
    model, X, data = world
    with pytest.raises(ValueError, match=re.escape(message)):
        concept_leakage(model, X, data, **kwargs)


def test_leakage_defaults_are_the_documented_values(world):
    model, X, data = world
    res = concept_leakage(model, X, data)
    same = concept_leakage(model, X, data, min_coverage=0.8, folds=5)
    assert res.method == same.method and res.total == same.total
    clf = concept_leakage(model, X, data, method="classifier")
    assert clf.total == concept_leakage(model, X, data, method="classifier", folds=5).total
    jit = concept_leakage(model, X, data, conditioning="jitter")
    assert jit.total == concept_leakage(model, X, data, conditioning="jitter", jitter=1e-3).total
    knn = concept_leakage(model, X, data, method="ksg", min_coverage=1.0, jitter=1e-3)
    assert knn.method == "ksg"  # where they are read, they are accepted
