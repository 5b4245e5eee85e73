"""select(): LaBo's submodular selection (lazy greedy == naive greedy) and baselines."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest

from bottlekit.concepts import (
    ConceptBank,
    class_concept_association_scores,
    greedy_maximize,
    mutual_information_scores,
    select,
)
from bottlekit.concepts.selection import submodular_objective


def _problem(m, d, seed):
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((m, d))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    return rng.random(m), V @ V.T


@pytest.mark.parametrize("seed", range(30))
def test_lazy_greedy_equals_naive_greedy(seed):
    rng = np.random.default_rng(100 + seed)
    m, d = int(rng.integers(5, 40)), int(rng.integers(2, 8))
    modular, S = _problem(m, d, seed)
    w = float(rng.choice([0.0, 0.1, 1.0, 10.0]))
    k = int(rng.integers(1, m + 1))
    lazy = greedy_maximize(modular, S, k, coverage_weight=w, lazy=True)
    naive = greedy_maximize(modular, S, k, coverage_weight=w, lazy=False)
    assert lazy == naive


def test_lazy_greedy_ties_break_like_naive():
    # duplicated items make exact ties: both must pick the lower index first
    modular = np.array([1.0, 1.0, 0.5, 0.5])
    V = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    S = V @ V.T
    for k in range(1, 5):
        assert greedy_maximize(modular, S, k) == greedy_maximize(modular, S, k, lazy=False)
    assert greedy_maximize(modular, S, 2) == [0, 2]


def test_greedy_gains_match_objective_and_approximation_bound():
    modular, S = _problem(10, 3, seed=7)
    for k in (1, 2, 3, 4):
        picked = greedy_maximize(modular, S, k, coverage_weight=0.5)
        value = submodular_objective(modular, S, picked, 0.5)
        best = max(
            submodular_objective(modular, S, c, 0.5) for c in itertools.combinations(range(10), k)
        )
        # Nemhauser et al.: greedy >= (1 - 1/e) OPT for monotone submodular F
        assert value >= (1 - 1 / math.e) * best - 1e-12
        assert value <= best + 1e-12


def test_class_concept_association_scores_closed_form():
    # LaBo normalises per class; with equal class totals (0.9, 0.9) a concept equally
    # similar to both classes has p(y|c) uniform and carries no information
    sim = np.array([[0.3, 0.3], [0.5, 0.1], [0.1, 0.5]])
    mi = class_concept_association_scores(sim)
    assert mi[0] == pytest.approx(0.0, abs=1e-12)
    p = sim / (sim.sum(axis=0) * 2)  # joint p(c, y) with uniform class marginal
    assert p.sum() == pytest.approx(1.0)
    pc = p[1].sum()
    expected = sum(p[1, y] * np.log(p[1, y] / (pc * 0.5)) for y in range(2))
    assert mi[1] == pytest.approx(expected, rel=1e-12)
    assert mi[1] > 0 and mi[1] == pytest.approx(mi[2])  # mirror images score the same
    # shifting negative similarities keeps the ranking of an all-positive problem sane
    assert np.all(class_concept_association_scores(sim - 0.2) >= 0)
    # the old name still works for this release, with a FutureWarning
    with pytest.warns(FutureWarning, match="renamed class_concept_association_scores"):
        np.testing.assert_array_equal(mutual_information_scores(sim), mi)


def _labelled_world(seed=0, n_cls=4, per_cls=30, d=16):
    """Classes = prototypes; discriminative concepts point at prototypes, distractors don't."""
    rng = np.random.default_rng(seed)
    protos = np.linalg.qr(rng.standard_normal((d, n_cls + 2)))[0].T  # orthonormal
    y = np.repeat(np.arange(n_cls), per_cls)
    X = protos[y] + 0.3 * rng.standard_normal((len(y), d)) + protos[n_cls]  # shared offset
    names, vecs = [], []
    for c in range(n_cls):
        for r in range(3):  # three near-copies per class prototype
            names.append(f"class{c}-v{r}")
            vecs.append(protos[c] + protos[n_cls] + 0.05 * rng.standard_normal(d))
    for r in range(6):  # non-discriminative: the shared direction only
        names.append(f"generic{r}")
        vecs.append(protos[n_cls] + 0.3 * protos[n_cls + 1] + 0.05 * rng.standard_normal(d))
    return ConceptBank(names, np.array(vecs), "bb"), X, y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_submodular_select_balances_discriminability_and_coverage(seed):
    bank, X, y = _labelled_world(seed)
    family = lambda b: sorted(n.split("-")[0] for n in b.names)  # noqa: E731
    # MI ~ 3e-3 for class concepts, ~1e-4 for generic ones; coverage gains ~0.1-1 here, so
    # alpha = 100 puts both terms on one scale (LaBo's 1e7 is for MI ~ 1e-7, K ~ 1e4)
    both = select(bank, X, y, k=4, per_class=False, mi_weight=100, coverage_weight=0.1)
    assert family(both) == [f"class{c}" for c in range(4)]  # discriminative and diverse
    assert [p["selection"]["rank"] for p in both.provenance] == [0, 1, 2, 3]
    # discriminability alone repeats near-copies of the same class concept
    only_mi = select(bank, X, y, k=4, method="mi", per_class=False)
    assert len(set(family(only_mi))) < 4
    # coverage alone starts with a generic concept close to everything
    only_cover = select(bank, X, y, k=4, per_class=False, mi_weight=0, coverage_weight=1)
    assert only_cover.names[0].startswith("generic")
    # top-similarity ranks by max class similarity: no diversity either
    top = select(bank, X, y, k=4, method="top-similarity", per_class=False)
    assert len(set(family(top))) < 4
    r1 = select(bank, X, y, k=5, method="random", per_class=False, random_state=3)
    r2 = select(bank, X, y, k=5, method="random", per_class=False, random_state=3)
    assert r1.names == r2.names and len(set(r1.names)) == 5
    # lazy and naive agree end to end
    naive = select(bank, X, y, k=6, per_class=False, lazy=False)
    assert select(bank, X, y, k=6, per_class=False).names == naive.names


def test_per_class_selection_uses_class_prior():
    bank, X, y = _labelled_world()
    prior = np.zeros((4, len(bank)))
    for j, n in enumerate(bank.names):
        prior[int(n[5]) if n.startswith("class") else j % 4, j] = 1
    bank = ConceptBank(
        bank.names, bank.vectors, "bb", class_prior=prior, class_names=[f"c{i}" for i in range(4)]
    )
    out = select(bank, X, y, k=8)  # per_class defaults to True with a prior: 2 per class
    owners = np.argmax(bank.class_prior[:, [bank.index(n) for n in out.names]], axis=0)
    assert np.bincount(owners, minlength=4).tolist() == [2, 2, 2, 2]
    assert len(select(bank, X, y, k=6)) == 4 * math.ceil(6 / 4)  # LaBo's ceil(k / C) per class


def test_select_validation():
    bank, X, y = _labelled_world()
    with pytest.raises(ValueError, match="method must be one of"):
        select(bank, X, y, 2, method="best")
    with pytest.raises(ValueError, match="k must be a positive int"):
        select(bank, X, y, 0)
    with pytest.raises(ValueError, match="larger than the bank"):
        select(bank, X, y, 100)
    with pytest.raises(ValueError, match=r"y must have shape \(120,\)"):
        select(bank, X, y[:-1], 2)
    with pytest.raises(ValueError, match="needs a bank with class_prior"):
        select(bank, X, y, 2, per_class=True)
    # before: one class returned concepts without a word
    with pytest.raises(ValueError, match=r"y has 1 class\(es\).*at least 2"):
        select(bank, X, np.zeros_like(y), 2)


def test_class_similarity_is_mean_projection_per_class():
    from bottlekit.concepts.selection import class_similarity

    rng = np.random.default_rng(0)
    bank = ConceptBank(
        ["t", "c"],
        rng.standard_normal((2, 6)),
        "bb",
        intercepts=[0.0, 0.7],
        provenance=[{"kind": "text"}, {"kind": "cav"}],
    )
    X = rng.standard_normal((50, 6)) * 2
    y = rng.choice(["a", "b", "c"], 50)
    sim, classes = class_similarity(bank, X, y)
    A = bank.project(X)
    expected = np.stack([A[y == c].mean(axis=0) for c in classes], axis=1)
    np.testing.assert_allclose(sim, expected, atol=1e-5)  # float32 projection vs float64


def test_class_similarity_refuses_embeddings_float32_cannot_hold():
    from bottlekit.concepts import ConceptBank
    from bottlekit.concepts.selection import class_similarity

    bank = ConceptBank(["a", "b"], np.eye(2), "toy")
    X = np.array([[1.0, 0.0], [1e-300, 0.0], [0.0, 1.0], [0.0, 1.0]])
    # before: the second row became 0 in float32, its cosines 0: class 0's mean similarity
    # to "a" was 0.5 instead of 1, silently
    with pytest.raises(ValueError, match=r"X: 1 nonzero row\(s\) \(first: 1\) are below float32"):
        class_similarity(bank, X, [0, 0, 1, 1])
    # before: 1e-30 is held by float32 but its squared norm underflowed to 0, and its
    # cosines were 0 (ConceptBank.project, which scales before the norm, gave 1)
    X[1, 0] = 1e-30
    sim, _ = class_similarity(bank, X, [0, 0, 1, 1])
    np.testing.assert_allclose(sim, [[1.0, 0.0], [0.0, 1.0]])


def test_select_on_a_bank_of_a_small_vector_matches_the_unscaled_bank():
    # before: the bank refused the vector (its float32 norm was 0); select's own float32
    # norm of it was 0 too, and its similarities NaN
    from bottlekit.concepts import ConceptBank

    rng = np.random.default_rng(0)
    V, X, y = rng.normal(size=(6, 4)), rng.normal(size=(40, 4)), np.arange(40) % 2
    scale = np.ones((6, 1))
    scale[2] = 1e-30
    small = ConceptBank([f"c{i}" for i in range(6)], V * scale, "toy")
    plain = ConceptBank([f"c{i}" for i in range(6)], V, "toy")
    for method in ("submodular", "mi"):
        # the weights are the submodular selection's (the others refuse them)
        kw = {"mi_weight": 1.0, "coverage_weight": 1.0} if method == "submodular" else {}
        got = select(small, X, y, 3, method, **kw)
        assert got.names == select(plain, X, y, 3, method, **kw).names


@pytest.mark.parametrize("method", ["mi", "top-similarity", "random"])
@pytest.mark.parametrize(
    ("name", "value"), [("mi_weight", 1e7), ("coverage_weight", 1.0), ("lazy", False)]
)
def test_submodular_settings_are_refused_by_the_other_methods(method, name, value):
    # before: ignored, silently (the defaults 1e7, 0.1 and True could not be told apart)
    from bottlekit.concepts import ConceptBank

    rng = np.random.default_rng(0)
    bank = ConceptBank([f"c{i}" for i in range(6)], rng.normal(size=(6, 4)), "toy")
    X, y = rng.normal(size=(40, 4)), np.arange(40) % 2
    message = (
        f"{name}: {value!r} has no effect with method={method!r} (a setting of the submodular "
        "selection); leave it None or use method='submodular'"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        select(bank, X, y, 3, method, **{name: value})


def test_submodular_settings_none_are_labos():
    from bottlekit.concepts import ConceptBank

    rng = np.random.default_rng(1)
    bank = ConceptBank([f"c{i}" for i in range(12)], rng.normal(size=(12, 4)), "toy")
    X, y = rng.normal(size=(60, 4)), np.arange(60) % 3
    default = select(bank, X, y, 5, per_class=False)
    explicit = select(
        bank, X, y, 5, per_class=False, mi_weight=1e7, coverage_weight=0.1, lazy=True
    )
    assert default.names == explicit.names and default.provenance == explicit.provenance
