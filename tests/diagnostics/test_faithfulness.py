"""Faithfulness metrics of concept bottlenecks (issue 18, section 2)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from bottlekit.bottleneck import PosthocCBM
from bottlekit.concepts import ConceptBank
from bottlekit.datasets import ConceptDataset
from bottlekit.diagnostics.faithfulness import (
    accuracy_at_nec,
    concept_completeness,
    concept_information,
    concept_leakage,
    intervention_curves,
    prune_to_nec,
)

N_CLASSES, K = 4, 4


def _dataset(y, C=None, names=None) -> ConceptDataset:
    kw = {}
    if C is not None:
        kw = {"concept_names": names or [f"c{j}" for j in range(C.shape[1])], "concept_labels": C}
    return ConceptDataset(np.zeros((len(y), 4, 4, 3), np.uint8), labels=y, **kw)


def _cav_bank(names, vectors) -> ConceptBank:
    return ConceptBank(names, vectors, "toy", provenance=[{"kind": "cav"}] * len(names))


@pytest.fixture(scope="module")
def concepts_world():
    """4 classes, 4 binary concepts with P(c_j = 1 | y) in {0.2, 0.8}: C does not determine y."""
    rng = np.random.default_rng(0)
    n = 1200
    y = np.repeat(np.arange(N_CLASSES), n // N_CLASSES)
    P = np.where(np.eye(N_CLASSES, K) + np.roll(np.eye(N_CLASSES, K), 1, axis=1) > 0, 0.8, 0.2)
    C = (rng.random((n, K)) < P[y]).astype(np.int64)
    soft = C + 0.3 * rng.standard_normal((n, K))
    noisy_onehot = np.eye(N_CLASSES)[y] + 0.3 * rng.standard_normal((n, N_CLASSES))
    X = np.hstack([soft, noisy_onehot])  # embeddings: soft concepts, then label information
    names = [f"c{j}" for j in range(K)]
    clean = PosthocCBM(_cav_bank(names, np.eye(K, K + N_CLASSES)), lam=1e-3, random_state=0)
    # concept j also reads the noisy one-hot of class j: injected label information
    leaky_vectors = np.hstack([np.eye(K), 0.8 * np.eye(K, N_CLASSES)])
    leaky = PosthocCBM(_cav_bank(names, leaky_vectors), lam=1e-3, random_state=0)
    # the label appended as extra "concepts" the dataset does not label
    concat_names = names + [f"label {c}" for c in range(N_CLASSES)]
    concat = PosthocCBM(_cav_bank(concat_names, np.eye(K + N_CLASSES)), lam=1e-3, random_state=0)
    return {
        "X": X,
        "y": y,
        "C": C,
        "data": _dataset(y, C, names),
        "clean": clean.fit(X, y),
        "leaky": leaky.fit(X, y),
        "concat": concat.fit(X, y),
    }


# ------------------------------------------------------------------------- leakage
@pytest.mark.parametrize("method", ["ksg", "classifier"])
@pytest.mark.parametrize("which", ["leaky", "concat"])
def test_injected_label_information_shows_as_leakage(concepts_world, method, which):
    w = concepts_world
    clean = concept_leakage(w["clean"], w["X"], w["data"], method=method)
    leaky = concept_leakage(w[which], w["X"], w["data"], method=method)
    assert abs(clean.total) < 0.05  # soft concepts = labels + independent noise
    assert leaky.total > clean.total + 0.2
    if method == "ksg":
        assert clean.conditioning == leaky.conditioning == "pattern"  # 16 patterns, 1,200 images
        assert clean.coverage == 1.0
    else:  # the ceiling H(Y | C) bounds the leakage
        assert leaky.total <= leaky.entropy_given_concepts + 0.05


def test_per_concept_leakage_points_at_the_leaky_concepts(concepts_world):
    w = concepts_world
    clean = concept_leakage(w["clean"], w["X"], w["data"])
    leaky = concept_leakage(w["leaky"], w["X"], w["data"])
    concat = concept_leakage(w["concat"], w["X"], w["data"])
    assert np.all(np.abs(clean.per_concept) < 0.05)
    assert np.all(leaky.per_concept > 0.1)
    # the appended label columns have no concept labels: no per-concept figure
    assert np.isnan(concat.per_concept[K:]).all()
    assert np.all(np.abs(concat.per_concept[:K]) < 0.05)


def test_jitter_conditioning_is_chosen_when_patterns_are_rare(concepts_world):
    w = concepts_world
    res = concept_leakage(w["leaky"], w["X"], w["data"], conditioning="auto", min_coverage=1.0)
    assert res.method == "ksg" and res.conditioning == "pattern"  # every pattern is frequent
    rng = np.random.default_rng(1)
    n = 300
    C = rng.integers(0, 2, (n, 12))  # 4,096 patterns for 300 images
    y = rng.integers(0, 3, n)
    X = C + 0.3 * rng.standard_normal((n, 12))
    names = [f"c{j}" for j in range(12)]
    cbm = PosthocCBM(_cav_bank(names, np.eye(12)), lam=1e-3, random_state=0).fit(X, y)
    res = concept_leakage(cbm, X, _dataset(y, C, names), method="ksg")
    assert res.conditioning == "jitter" and res.coverage < 0.5
    # method="auto" then prefers the classifier form (k-NN with jitter is biased)
    auto = concept_leakage(cbm, X, _dataset(y, C, names))
    assert auto.method == auto.conditioning == "classifier"
    assert auto.entropy_given_concepts is not None
    with pytest.raises(ValueError, match="conditioning='pattern'"):
        concept_leakage(cbm, X, _dataset(y, C, names), conditioning="pattern", k=50)


@pytest.mark.parametrize("jitter", [1e300, 0.06, 0.5])
def test_leakage_jitter_that_mixes_the_concept_patterns_is_refused(jitter):
    """Noise of standard deviation ``jitter`` on 0/1 labels must keep the patterns apart.

    Before, ``jitter=1e300`` turned the concept labels into pure noise and the leakage was
    conditioned on nothing, silently.
    """
    rng = np.random.default_rng(1)
    n = 200
    C = rng.integers(0, 2, (n, 6))
    y = rng.integers(0, 3, n)
    X = C + 0.3 * rng.standard_normal((n, 6))
    names = [f"c{j}" for j in range(6)]
    cbm = PosthocCBM(_cav_bank(names, np.eye(6)), lam=1e-3, random_state=0).fit(X, y)
    data = _dataset(y, C, names)
    with pytest.raises(ValueError, match=r"jitter: expected a finite number > 0 and <= 0\.05 "):
        concept_leakage(cbm, X, data, conditioning="jitter", jitter=jitter)
    # the largest accepted value keeps every label within 1/4 of its 0/1 value here
    res = concept_leakage(cbm, X, data, conditioning="jitter", jitter=0.05)
    assert res.conditioning == "jitter" and np.isfinite(res.total)


@pytest.mark.parametrize("conditioning", ["pattern", "jitter"])
def test_leakage_conditioning_of_the_knn_form_with_the_classifier_is_refused(
    concepts_world, conditioning
):
    """conditioning says how C enters the k-NN total; with method='classifier' it was
    ignored (result.conditioning 'classifier'), silently."""
    w = concepts_world
    res = concept_leakage(w["clean"], w["X"], w["data"], method="classifier")
    assert res.conditioning == "classifier"
    with pytest.raises(ValueError, match=rf"conditioning: '{conditioning}' is how C enters"):
        concept_leakage(
            w["clean"], w["X"], w["data"], method="classifier", conditioning=conditioning
        )


# ------------------------------------------------------------- concept information
def test_concept_information_matches_the_closed_form():
    """a | c=0 ~ U(0, 1), a | c=1 ~ U(s, 1 + s): I(a; c) = s log 2.

    Only the overlap [s, 1] (probability 1 - s) leaves c uncertain, with H(c | a) = log 2.
    """
    rng = np.random.default_rng(0)
    n, s = 4000, 0.5
    c = rng.integers(0, 2, n)
    y = rng.integers(0, 2, n)  # a label independent of the concept: I(a; y) = 0
    X = np.stack([s * c + rng.random(n), rng.standard_normal(n)], axis=1)
    cbm = PosthocCBM(_cav_bank(["c"], np.eye(1, 2)), lam=1e-3, random_state=0).fit(X, y)
    info = concept_information(cbm, X, _dataset(y, c[:, None], ["c"]))
    assert info.with_concept[0] == pytest.approx(s * np.log(2), abs=0.03)
    assert info.concept_entropy[0] == pytest.approx(np.log(2), abs=0.01)
    assert info.concept_share[0] == pytest.approx(s, abs=0.05)
    assert abs(info.with_label[0]) < 0.03
    assert info.label_entropy == pytest.approx(np.log(2), abs=0.01)


def test_concept_information_without_concept_labels(concepts_world):
    w = concepts_world
    info = concept_information(w["clean"], w["X"], _dataset(w["y"]))
    assert np.isnan(info.with_concept).all()
    assert np.all(info.with_label > 0.05)
    assert "no concept labels" in info.notes[0]


# -------------------------------------------------------------------- completeness
def test_completeness_of_informative_and_of_irrelevant_concepts():
    rng = np.random.default_rng(0)
    n, d = 800, 10
    y = rng.integers(0, 3, n)
    X = rng.standard_normal((n, d))
    X[:, 0] += 2.5 * (y == 1)
    X[:, 1] += 2.5 * (y == 2)
    ds = _dataset(y)
    good = PosthocCBM(_cav_bank(["a", "b"], np.eye(2, d)), lam=1e-3, random_state=0).fit(X, y)
    noise_dirs = np.eye(d)[[5, 6]]
    bad = PosthocCBM(_cav_bank(["n1", "n2"], noise_dirs), lam=1e-3, random_state=0).fit(X, y)
    g = concept_completeness(
        good, X[:400], ds.subset(range(400)), X[400:], ds.subset(range(400, n))
    )
    b = concept_completeness(
        bad, X[:400], ds.subset(range(400)), X[400:], ds.subset(range(400, n))
    )
    assert g.completeness > 0.9
    assert g.relative > 0.5  # well above two random directions of ten
    assert abs(b.completeness) < 0.15 and b.relative < 0.1
    assert 0 <= g.random_completeness < 0.9 and len(g.random_values) == 3
    assert g.chance_accuracy < g.probe_accuracy


def test_completeness_of_evaluation_labels_the_training_never_saw_is_refused():
    # Before: every accuracy was 0, so completeness, its random baseline and the model's
    # were all 0 / 0 = NaN, returned without a word
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 6))
    y = rng.integers(0, 3, 120)
    model = PosthocCBM(_cav_bank(["a", "b"], np.eye(2, 6)), lam=1e-3, random_state=0).fit(X, y)
    with pytest.raises(
        ValueError, match=r"evaluation.labels: none of the 40 evaluation labels is a class"
    ):
        concept_completeness(model, X[:80], _dataset(y[:80]), X[80:], _dataset(y[80:] + 7))


# ----------------------------------------------------------------------------- NEC
@pytest.fixture(scope="module")
def dense_model():
    rng = np.random.default_rng(0)
    n, d, k = 240, 12, 10
    y = np.repeat(np.arange(4), n // 4)
    X = rng.standard_normal((n, d))
    X[np.arange(n), y] += 2.0
    bank = _cav_bank([f"k{j}" for j in range(k)], rng.standard_normal((k, d)))
    model = PosthocCBM(bank, lam=1e-5, random_state=0).fit(X, y)
    assert (model.coef_ != 0).sum(1).min() > 5  # dense: every class uses > 5 concepts
    return model, X, _dataset(y)


@pytest.mark.parametrize("method", ["truncate", "refit"])
def test_nec_pruning_per_class_leaves_at_most_nec_weights_per_class(dense_model, method):
    model, X, ds = dense_model
    path = {"n_lambdas": 8} if method == "refit" else {}  # "truncate" fits no path
    pruned = prune_to_nec(model, 5, X=X, dataset=ds, method=method, per_class=True, **path)
    assert model.coef_.shape == pruned.coef_.shape and (model.coef_ != 0).sum(1).min() > 5
    # every class of the dense head keeps exactly 5 (an all-zero head is "at most 5" too)
    assert (pruned.coef_ != 0).sum(1).tolist() == [5, 5, 5, 5]
    assert pruned.score(X, ds.labels) > 0.6  # 4 classes: chance is 0.25
    if method == "truncate":
        # reference: each row keeps its 5 largest |weight| on standardised activations
        # (coef times the activations' sd on X), at the model's values
        magnitude = np.abs(model.coef_ * model.transform(X).std(0))
        keep = np.zeros(magnitude.shape, bool)
        np.put_along_axis(keep, np.argsort(-magnitude, axis=1)[:, :5], True, axis=1)
        np.testing.assert_array_equal(pruned.coef_ != 0, keep)
        np.testing.assert_allclose(pruned.coef_[keep], model.coef_[keep], rtol=1e-6)


@pytest.mark.parametrize("method", ["truncate", "refit"])
def test_nec_pruning_follows_the_reference_global_definition(dense_model, method):
    model, X, ds = dense_model
    path = {"n_lambdas": 8} if method == "refit" else {}  # "truncate" fits no path
    res = accuracy_at_nec(model, X, ds, {"train": (X, ds)}, nec=[5, 3], method=method, **path)
    assert res.levels == [3, 5]
    # VLG-CBM: NEC = non-zero weights / classes, truncated to exactly NEC * C over the matrix
    assert res.effective == [3.0, 5.0]
    assert [int(v.sum()) for v in res.nonzero_per_class] == [12, 20]
    acc5 = res.at(5, "train")
    assert 0.25 < acc5 <= 1.0  # reported, above chance for a 4-class task
    assert res.dense_accuracy["train"] > 0.25
    with pytest.raises(KeyError, match="not measured"):
        res.at(7, "train")


def test_nec_refit_picks_the_first_point_at_the_density_then_keeps_its_largest_weights(
    dense_model, monkeypatch
):
    # VLG-CBM's measure_acc on a planted path: the first penalty whose |W| > 1e-5 density
    # reaches NEC / k, truncated to the NEC * C largest |W| of the whole matrix, bias kept.
    from bottlekit.bottleneck._glm_saga import GLMPath
    from bottlekit.diagnostics.faithfulness import nec as nec_mod

    model, X, ds = dense_model
    C, k = model.coef_.shape
    rng = np.random.default_rng(3)
    weights = np.zeros((3, C, k))
    for p, count in enumerate((4, 10, 16)):  # NEC 1.0, 2.5, 4.0
        flat = rng.choice(C * k, count, replace=False)
        weights[p].ravel()[flat] = rng.uniform(0.5, 2.0, count) * rng.choice([-1, 1], count)
    weights[1, 0, 0] = 1e-6  # under the reference's 1e-5 threshold: does not count
    biases = rng.standard_normal((3, C))
    path = GLMPath(
        lambdas=np.array([0.3, 0.2, 0.1]), weights=weights, biases=biases,
        nonzero=(np.abs(weights) > 1e-5).sum(2), epochs=np.ones(3, int),
        converged=np.ones(3, bool), selected=2, lambda_max=0.3,
    )  # fmt: skip
    monkeypatch.setattr(nec_mod, "_glm_path", lambda *a, **kw: path)
    pruned = prune_to_nec(model, 2, X=X, dataset=ds)
    A = model.transform(X)
    mu, sd = A.mean(0), A.std(0)
    W = weights[1].copy()  # point 0 has NEC 1 < 2, point 1 the first with NEC >= 2
    W[np.abs(W) < np.sort(np.abs(W).ravel())[-2 * C]] = 0.0
    assert (W != 0).sum() == 2 * C
    np.testing.assert_allclose(pruned.coef_ * sd, W, atol=1e-5)
    np.testing.assert_allclose(pruned.intercept_ + pruned.coef_ @ mu, biases[1], atol=1e-5)


def test_nec_refit_drops_the_residual_and_truncate_keeps_it(dense_model):
    _, X, ds = dense_model
    model, _, _ = dense_model
    hybrid = PosthocCBM(model.concepts, lam=1e-5, residual=True, random_state=0).fit(X, ds.labels)
    assert prune_to_nec(hybrid, 5, method="truncate").residual_coef_ is not None
    assert prune_to_nec(hybrid, 5, X=X, dataset=ds, n_lambdas=4).residual_coef_ is None


def test_nec_truncate_takes_x_without_its_dataset_and_refuses_a_dataset_without_x(dense_model):
    """X alone is the documented input of "truncate" (the scale of the activations); it
    was refused as "dataset: expected a ConceptDataset, got None", and a dataset given
    without X was silently ignored."""
    model, X, ds = dense_model
    with_x = prune_to_nec(model, 2, X=X, method="truncate")
    np.testing.assert_array_equal(
        with_x.coef_, prune_to_nec(model, 2, X=X, dataset=ds, method="truncate").coef_
    )
    sd = model.transform(X).std(0)
    W_std = np.abs(model.coef_.astype(np.float64) * sd)
    kept = W_std >= np.sort(W_std.ravel())[-2 * model.coef_.shape[0]]
    np.testing.assert_array_equal(with_x.coef_ != 0, kept)
    with pytest.raises(ValueError, match=r"dataset: given without X; method='truncate'"):
        prune_to_nec(model, 2, dataset=ds, method="truncate")


def test_nec_truncate_of_a_model_already_sparse_changes_nothing(dense_model):
    model, X, _ = dense_model
    pruned = prune_to_nec(model, model.coef_.shape[1], method="truncate", per_class=True)
    np.testing.assert_allclose(pruned.decision_function(X), model.decision_function(X), atol=1e-4)


# -------------------------------------------------------------------- interventions
@pytest.fixture(scope="module")
def intervention_setup():
    rng = np.random.default_rng(0)
    n = 800
    C = rng.integers(0, 2, (n, 3))
    y = 2 * C[:, 0] + C[:, 1]  # the true concepts determine the class
    X = C + 0.45 * rng.standard_normal((n, 3))
    ds = _dataset(y, C, list("abc"))
    cbm = PosthocCBM(_cav_bank(list("abc"), np.eye(3)), lam=1e-3, random_state=0)
    cbm.fit(X[:400], y[:400])
    return cbm, X, C, y, ds


def test_intervention_curves_of_every_policy_reach_the_true_concept_head(intervention_setup):
    cbm, X, C, y, ds = intervention_setup
    tr, ev = ds.subset(range(400)), ds.subset(range(400, 800))
    curves = intervention_curves(cbm, X[:400], tr, X[400:], ev)
    assert curves.values == "ground truth" and curves.steps == [0, 1, 2, 3]
    head_on_true = LogisticRegression().fit(C[:400], y[:400]).score(C[400:], y[400:])
    base = float(np.mean(cbm.predict(X[400:]) == y[400:]))
    for policy in ("random", "uncertainty", "coop"):
        acc = curves.accuracy[policy]
        assert len(acc) == 4 and acc[0] == pytest.approx(base)
        assert acc[-1] == pytest.approx(head_on_true, abs=0.02)  # the oracle's ceiling
        assert curves.cost[policy] == [0.0, 1.0, 2.0, 3.0]
    # asking for the most uncertain concept first helps more than a random one
    assert curves.accuracy["uncertainty"][1] > curves.accuracy["random"][1]


def test_cost_aware_policy_asks_for_cheap_concepts_first(intervention_setup):
    cbm, X, _, _, ds = intervention_setup
    costs = {"a": 10.0, "b": 1.0, "c": 1.0}
    curves = intervention_curves(
        cbm, X, ds, X, ds, policies=["coop"], costs=costs, coop_weights=(0.0, 0.0, 1.0)
    )
    assert curves.cost["coop"][1] == 1.0 and curves.cost["coop"][2] == 2.0
    assert curves.cost["coop"][3] == 12.0


def test_corrections_protocol_only_replaces_wrong_concepts(intervention_setup):
    cbm, X, _, y, ds = intervention_setup
    tr, ev = ds.subset(range(400)), ds.subset(range(400, 800))
    full = intervention_curves(cbm, X[:400], tr, X[400:], ev, policies="uncertainty")
    fix = intervention_curves(
        cbm, X[:400], tr, X[400:], ev, policies="uncertainty", protocol="corrections"
    )
    assert fix.protocol == "corrections"
    # correcting every wrong concept: each concept is then on the right side of the
    # midpoint, which for this head is nearly as good as all true values (the right-side
    # values left near the midpoint still mislead it on some images): all true values beat
    # it by 0.049 on average, sd 0.021, max 0.12 over 60 seeds of data and head (0.1 failed
    # on 2); the bound is mean + 4 sd. Corrections applied where the concept was right
    # (inverted mask) stay near the uncorrected accuracy (0.77 against 1.0) and fail it
    assert fix.accuracy["uncertainty"][-1] >= full.accuracy["uncertainty"][0]
    assert fix.accuracy["uncertainty"][-1] == pytest.approx(
        full.accuracy["uncertainty"][-1], abs=0.135
    )
    with pytest.raises(ValueError, match="'corrections' needs concept labels"):
        intervention_curves(cbm, X, _dataset(y), X, _dataset(y), protocol="corrections")
    with pytest.raises(ValueError, match="protocol: expected"):
        intervention_curves(cbm, X, ds, X, ds, protocol="some")


def test_interventions_fall_back_to_class_conditional_values(intervention_setup):
    cbm, X, _, y, _ = intervention_setup
    ds = _dataset(y)
    curves = intervention_curves(cbm, X, ds, X, ds, policies="random", steps=[0, 3])
    assert curves.values == "class-conditional"
    assert curves.accuracy["random"][1] > curves.accuracy["random"][0]


# -------------------------------------------------------------------------- inputs
def test_bad_inputs_are_refused_with_clear_errors(concepts_world, dense_model):
    w = concepts_world
    model, X, data = w["clean"], w["X"], w["data"]
    with pytest.raises(ValueError, match="X: has 10 rows but the dataset has 1200"):
        concept_leakage(model, X[:10], data)
    with pytest.raises(ValueError, match="has no concept_labels"):
        concept_leakage(model, X, _dataset(w["y"]))
    with pytest.raises(TypeError, match="fitted bottlekit concept-bottleneck model"):
        concept_leakage(LogisticRegression(), X, data)
    with pytest.raises(ValueError, match="not fitted"):
        concept_leakage(PosthocCBM(model.concepts), X, data)
    with pytest.raises(ValueError, match="method: expected one of"):
        concept_leakage(model, X, data, method="mine")
    with pytest.raises(ValueError, match="conditioning: expected one of"):
        concept_leakage(model, X, data, conditioning="patterns")
    with pytest.raises(ValueError, match=r"min_coverage: expected a finite number > 0 and <= 1"):
        concept_leakage(model, X, data, min_coverage=0)
    with pytest.raises(ValueError, match="k: expected an int >= 1, got 0"):
        concept_leakage(model, X, data, k=0)
    with pytest.raises(ValueError, match="C: expected a finite number > 0"):
        concept_completeness(model, X, data, X, data, C=-1.0)
    with pytest.raises(ValueError, match="columns but the model expects"):
        concept_information(model, X[:, :3], data)
    other = _dataset(w["y"], w["C"], ["p", "q", "r", "s"])
    with pytest.raises(ValueError, match="matched by name"):
        concept_leakage(model, X, other)
    with pytest.raises(ValueError, match="X_eval: has 5 rows"):
        concept_completeness(model, X, data, X[:5], data)
    with pytest.raises(ValueError, match="n_random: expected an int >= 1"):
        concept_completeness(model, X, data, X, data, n_random=0)
    dm, dX, dds = dense_model
    with pytest.raises(ValueError, match="nec: expected an int >= 1"):
        prune_to_nec(dm, 0, method="truncate")
    with pytest.raises(ValueError, match="needs the training embeddings"):
        prune_to_nec(dm, 5)
    with pytest.raises(ValueError, match="nec: expected ints >= 1"):
        accuracy_at_nec(dm, dX, dds, {"t": (dX, dds)}, nec=[5, 2.5])
    with pytest.raises(TypeError, match="evaluation: expected a non-empty dict"):
        accuracy_at_nec(dm, dX, dds, (dX, dds))
    with pytest.raises(ValueError, match="policies: expected"):
        intervention_curves(model, X, data, X, data, policies=["greedy"])
    with pytest.raises(ValueError, match="costs: expected a dict"):
        intervention_curves(model, X, data, X, data, costs=[1.0, 2.0])
    with pytest.raises(ValueError, match="are not concepts of the model"):
        intervention_curves(model, X, data, X, data, costs={"wings": 2.0})
    with pytest.raises(ValueError, match=r"steps: expected numbers of concepts in 0\.\.4"):
        intervention_curves(model, X, data, X, data, steps=[0, 9])


def test_accuracies_of_a_model_fitted_on_class_names_read_the_dataset_class_names(
    intervention_setup,
):
    """A dataset's labels are indices; a model fitted on the class names predicts names.
    The accuracies compared the two and read 0.0 for every image, silently."""
    cbm, X, C, y, ds = intervention_setup
    names = np.array(["w", "x", "y", "z"])
    named = PosthocCBM(_cav_bank(list("abc"), np.eye(3)), lam=1e-3, random_state=0)
    named.fit(X[:400], names[y[:400]])
    ds = ConceptDataset(
        ds.images, labels=y, class_names=list(names), concept_names=list("abc"), concept_labels=C
    )
    tr, ev = ds.subset(range(400)), ds.subset(range(400, 800))
    by_index = intervention_curves(cbm, X[:400], tr, X[400:], ev, policies="uncertainty")
    by_name = intervention_curves(named, X[:400], tr, X[400:], ev, policies="uncertainty")
    assert by_name.accuracy == by_index.accuracy
    assert by_name.accuracy["uncertainty"][0] == pytest.approx(
        float(np.mean(named.predict(X[400:]) == names[y[400:]]))
    )
    assert by_name.accuracy["uncertainty"][0] > 0.5
    res = accuracy_at_nec(named, X[:400], tr, {"ev": (X[400:], ev)}, [2], method="truncate")
    assert res.dense_accuracy["ev"] == by_name.accuracy["uncertainty"][0]
    assert res.accuracy["ev"][0] > 0.25
    refit = prune_to_nec(named, 2, X=X[:400], dataset=tr, n_lambdas=4)
    assert set(refit.predict(X[400:])) <= set(names)
    compl = concept_completeness(named, X[:400], tr, X[400:], ev, n_random=1)
    assert compl.model_accuracy == by_name.accuracy["uncertainty"][0]
    other = ConceptDataset(ds.images[:4], labels=[0, 1, 2, 3], class_names=list("ABCD"))
    with pytest.raises(ValueError, match=r"evaluation\.labels: none of the images' classes"):
        intervention_curves(named, X[:400], tr, X[:4], other)
