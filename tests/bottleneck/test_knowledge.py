"""KnowledgeCBM (KnoBo): grounding, concept selection, the prior term, and the world.

The world figures the bounds below come from were measured with n_train=1200,
n_test=n_shifted=600, seed 0, world-tiny (the fixture ``world`` below), on a shared
2-core machine when the tests were written; ``benchmarks/cbm_world.py`` prints the
corresponding figures at 2,400 images per split.
"""

from __future__ import annotations

import contextlib
import re

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from bottlekit.bottleneck._cbm_base import BaseConceptBottleneck
from bottlekit.bottleneck.knowledge import (
    KnowledgeCBM,
    ground_concepts,
    head_gradient,
    pseudo_concept_labels,
    signed_prior,
    train_prior_head,
)
from bottlekit.concepts import ConceptBank


@contextlib.contextmanager
def _one_thread():
    """One BLAS and one torch thread: hundreds of tiny fits on a shared 2-core machine.

    Measured on that machine: a small LogisticRegression fit 150 ms with BLAS threads vs
    21 ms without; the world's image embedding likewise. Results do not change.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)


# --------------------------------------------------------------- synthetic data
def _problem(n=400, d=6, k=4, n_classes=3, seed=0, prior=None, label_noise=0.3):
    """Concepts are noisy signs of cosines with random directions; y depends on them."""
    rng = np.random.default_rng(seed)
    V = rng.normal(size=(k, d))
    X = rng.normal(size=(n, d))
    S = (X / np.linalg.norm(X, axis=1, keepdims=True)) @ V.T
    L = (S + label_noise * rng.normal(size=S.shape) > 0).astype(float)
    W0 = 2 * rng.normal(size=(n_classes, k))
    logits = (1 / (1 + np.exp(-3 * S))) @ W0.T
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(n_classes, p=pi) for pi in p])
    kw = {}
    if prior is not None:
        kw = {"class_prior": prior, "class_names": [str(c) for c in range(n_classes)]}
    bank = ConceptBank([f"c{j}" for j in range(k)], V, "toy", **kw)
    return X, y, L, bank


def _well_conditioned_problem(n=1000, seed=0, prior=None, label_noise=0.3):
    """Like :func:`_problem`, built so that the MLE of the head is finite and well conditioned.

    Four orthonormal concept directions in 6-d (uncorrelated, balanced concepts) and fixed
    class weights (balanced classes) instead of random ones. Measured on 60 seeds
    (1000-1059): each class has >= 288 of the 1000 images, the multinomial MLE on the
    grounded activations has max |W| <= 2.0 (classes centred) and the smallest non-null
    eigenvalue of the mean NLL's Hessian is >= 1.1e-2. ``_problem`` (n=400) on 40 seeds
    (200-239): that eigenvalue down to 1e-10 (a near-separated class, max |W| = 3692),
    below 1e-4 on one seed in twenty, and a class with a single image.
    """
    rng = np.random.default_rng(seed)
    d, k = 6, 4
    V = np.linalg.qr(rng.normal(size=(d, k)))[0].T
    X = rng.normal(size=(n, d))
    S = (X / np.linalg.norm(X, axis=1, keepdims=True)) @ V.T
    L = (S + label_noise * rng.normal(size=S.shape) > 0).astype(float)
    W0 = 2 * np.array([[1.0, 0, -1, 0], [0, 1, 0, -1], [-1, -1, 1, 1]])
    logits = (1 / (1 + np.exp(-3 * S))) @ W0.T
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=pi) for pi in p])
    kw = {}
    if prior is not None:
        kw = {"class_prior": prior, "class_names": ["0", "1", "2"]}
    bank = ConceptBank([f"c{j}" for j in range(k)], V, "toy", **kw)
    return X, y, L, bank


# ------------------------------------------------------------------ small pieces
def test_signed_prior_maps_yes_no_unknown():
    p = np.array([[1.0, 0.0, 0.7, 0.3], [0.5, 0.49, 0.0, 1.0]])
    np.testing.assert_array_equal(signed_prior(p), [[1, -1, 1, -1], [1, -1, -1, 1]])
    np.testing.assert_array_equal(
        signed_prior(p, zero_as="unknown"), [[1, 0, 1, -1], [1, -1, 0, 1]]
    )
    # an already signed prior is kept as its sign
    np.testing.assert_array_equal(signed_prior(np.array([[-2.0, 0.0, 0.5]])), [[-1, 0, 1]])


def test_pseudo_labels_take_top_and_bottom_quantiles():
    S = np.arange(10.0)[:, None] * np.array([[1.0, -1.0]])
    L = pseudo_concept_labels(S, 0.2)
    # np.quantile(0..9, 0.2) = 1.8, 0.8 quantile = 7.2: two images each side
    np.testing.assert_array_equal(L[:, 0], [0, 0, *[np.nan] * 6, 1, 1])
    np.testing.assert_array_equal(L[:, 1], [1, 1, *[np.nan] * 6, 0, 0])


def test_head_gradient_matches_autograd():
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(3, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, generator=gen, requires_grad=True)
    A = torch.rand(40, 5, dtype=torch.float64, generator=gen)
    y = torch.randint(0, 3, (40,), generator=gen)
    P = torch.randint(-1, 2, (3, 5), generator=gen).to(torch.float64)
    loss = torch.nn.functional.cross_entropy(A @ W.T + b, y)
    loss = loss + 2.5 * torch.abs(torch.tanh(W) - P).mean()  # the reference's prior loss
    loss.backward()
    Y = torch.nn.functional.one_hot(y, 3).to(torch.float64)
    gW, gb = head_gradient(W.detach(), b.detach(), A, Y, P, 2.5)
    # same formula, float64: agreement to rounding
    torch.testing.assert_close(gW, W.grad, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(gb, b.grad, rtol=1e-12, atol=1e-14)


def test_head_training_is_torch_adam():
    """The hand-written Adam reproduces torch.optim.Adam + autograd step for step."""
    rng = np.random.default_rng(0)
    A = rng.random((50, 4)).astype(np.float32)
    y = rng.integers(0, 3, 50)
    P = rng.choice([-1.0, 0.0, 1.0], size=(3, 4))
    coef, intercept, _ = train_prior_head(
        A, y, 3, P, prior_weight=0.7, learning_rate=0.01, max_epochs=3, batch_size=16,
        validation_fraction=0.0, rng=np.random.default_rng(1),
    )  # fmt: skip
    # replay: same draws in the same order (init W, init b, then one permutation per epoch)
    r = np.random.default_rng(1)
    bound = 1 / np.sqrt(4)
    W = torch.tensor(r.uniform(-bound, bound, (3, 4)), dtype=torch.float32, requires_grad=True)
    b = torch.tensor(r.uniform(-bound, bound, 3), dtype=torch.float32, requires_grad=True)
    opt = torch.optim.Adam([W, b], lr=0.01)
    At, yt, Pt = torch.tensor(A), torch.tensor(y), torch.tensor(P, dtype=torch.float32)
    for _ in range(3):
        perm = torch.as_tensor(r.permutation(50))
        for bi in perm.split(16):
            loss = torch.nn.functional.cross_entropy(At[bi] @ W.T + b, yt[bi])
            loss = loss + 0.7 * torch.abs(torch.tanh(W) - Pt).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    # float32 arithmetic in a different order: agreement to ~1e-6 after 12 steps
    np.testing.assert_allclose(coef, W.detach().numpy(), rtol=0, atol=1e-5)
    np.testing.assert_allclose(intercept, b.detach().numpy(), rtol=0, atol=1e-5)


def test_grounding_follows_the_reference_recipe():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 5))
    # concept 0: 800 positives / 200 negatives; concept 1 has no negative; 2 is pure noise
    L = np.stack([(X[:, 0] > -0.85), np.ones(1000), rng.random(1000) < 0.5], 1).astype(float)
    res = ground_concepts(X, L, rng=rng)
    # validation: min(int(0.1 * min(n+, n-)), 50) per side
    n_neg = int((L[:, 0] == 0).sum())
    assert res.n_val[0] == min(int(0.1 * n_neg), 50)
    assert np.isnan(res.val_accuracy[1]) and not res.grounded[1]
    np.testing.assert_array_equal(res.weights[1], 0.0)
    # a linearly decodable concept grounds well, noise near chance (on 2 x 50 examples the
    # accuracy of a coin has sd 0.05: 0.7 is 4 sd above chance)
    assert res.val_accuracy[0] > 0.85
    assert res.val_accuracy[2] < 0.7
    # the classifier is balanced logistic regression on L2-normalised inputs: its
    # probabilities are monotone in the normalised first coordinate
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    assert roc_auc_score(L[:, 0], Xn @ res.weights[0]) > 0.9


# ------------------------------------------------------------------ the model
def test_keeps_the_best_grounded_concepts():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1500, 6))
    clean = (X[:, :3] > 0).astype(float)
    # concepts 3..5 are the same directions with 30% of their labels flipped
    noisy = np.where(rng.random((1500, 3)) < 0.3, 1 - clean, clean)
    L = np.concatenate([noisy[:, :1], clean, noisy[:, 1:]], axis=1)  # order n, c, c, c, n, n
    names = ["n0", "c0", "c1", "c2", "n1", "n2"]
    V = np.eye(6)[[0, 0, 1, 2, 1, 2]]
    bank = ConceptBank(names, V, "toy")
    y = (X[:, 0] > 0).astype(int)
    model = KnowledgeCBM(bank, n_concepts=3, max_epochs=5, random_state=0)
    model.fit(X, y, concept_labels=L)
    assert sorted(model.concept_names_) == ["c0", "c1", "c2"]
    assert np.all(np.diff(model.grounding_accuracy_) <= 0)
    np.testing.assert_array_equal(model.bank_grounding_accuracy_[model.concept_indices_],
                                  model.grounding_accuracy_)  # fmt: skip
    assert model.coef_.shape == (2, 3) and model.prior_ is None
    assert model.concept_link_ == "sigmoid" and model.concept_normalize_.all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_large_prior_weight_sets_the_signs_of_the_weights(seed):
    P = np.random.default_rng(100 + seed).choice([-1.0, 0.0, 1.0], size=(3, 4))
    X, y, L, bank = _problem(seed=seed, prior=P)

    def agreement(prior_weight):
        # validation_fraction=0 keeps the last epoch: best-epoch selection may keep an early
        # epoch, before the prior has moved the weights (it then measures selection, not
        # the prior)
        m = KnowledgeCBM(bank, prior_weight=prior_weight, validation_fraction=0.0,
                         random_state=0).fit(X, y, concept_labels=L)  # fmt: skip
        np.testing.assert_array_equal(m.prior_, P[:, m.concept_indices_])
        nz = m.prior_ != 0
        return np.mean(np.sign(m.coef_[nz]) == m.prior_[nz])

    # measured: 1.0 for all three seeds with weight 10; 0.14-0.63 without the prior (the
    # data's own signs), so this is the prior's doing. Over seeds 3-32 weight 10 gave 1.0 on
    # all 30; the control without the prior held on 28 (0.75 and 0.78 on seeds 13 and 17: a
    # random sign prior can agree with the data's own signs by chance), so it is a claim
    # about these three seeds
    assert agreement(10.0) == 1.0
    assert agreement(0.0) < 0.75


def test_without_prior_the_head_is_multinomial_logistic_regression():
    """Without a prior the head converges to the multinomial MLE (scikit-learn's, C=1e8).

    Adam with a constant step does not settle at the optimum for good: once the gradient
    has vanished its second moment decays, the effective step lr / sqrt(v) grows until the
    iteration is unstable at the optimum, and the iterate leaves it in bursts and comes
    back. With learning_rate=0.3 (this test before, on ``_problem``) the bursts begin a few
    hundred to 2000 epochs after convergence and move probabilities by up to 0.12
    (measured on 38 seeds), as much as a wrong model: seeds 11, 22, 27 and 29 of 1-44
    failed so (seed 11: MLE coefficients <= 2, design condition number 7); others (35:
    MLE |W| = 25) have a near-separated class that 1000 epochs do not reach. Here: the
    well-conditioned problem and learning_rate=0.02, whose bursts are smaller (<= 3.5e-3 on
    40 seeds, epochs 1000-2500) and start later (first after 1005 epochs, all seeds
    converged by 615: a replay of the loop, float32).

    Measured with this model on 60 fresh seeds (1000-1059): max |p - p_MLE| <= 4.1e-5
    after 800 epochs (5.7e-5 after 650; 9.1e-4 after 1000, one seed in a burst), NLL above
    the minimum by <= 1.7e-9 (8.2e-7 after 1000). Deliberately wrong heads on the same
    seeds: one-vs-rest sigmoid heads move the probabilities by >= 0.137, the prior left on
    (P = 1, weight 1) by >= 0.034, a missing intercept by >= 0.011, and each raises the NLL
    by >= 3.0e-5. The bounds sit between, near the middle of the gaps on a log scale:
    1e-3 and 1e-6.
    """
    X, y, L, bank = _well_conditioned_problem(seed=0)
    P = np.ones((3, 4))
    _, _, _, bank_p = _well_conditioned_problem(seed=0, prior=P)
    # full batch, no validation split, so that Adam reaches the optimum
    kw = {"validation_fraction": 0.0, "batch_size": len(X), "learning_rate": 0.02,
          "max_epochs": 800, "random_state": 0}  # fmt: skip
    with _one_thread():
        m = KnowledgeCBM(bank, **kw).fit(X, y, concept_labels=L)  # bank without prior
        m0 = KnowledgeCBM(bank_p, prior_weight=0.0, **kw).fit(X, y, concept_labels=L)
    assert m.prior_ is None and m0.prior_ is not None
    # prior_weight=0 drops the term: the same arithmetic (equal on all 60 seeds)
    np.testing.assert_allclose(m0.predict_proba(X), m.predict_proba(X), atol=1e-6)
    A = m.transform(X)
    ref = LogisticRegression(C=1e8, max_iter=10000, tol=1e-12).fit(A, y)
    p, p_ref = m.predict_proba(X), ref.predict_proba(A)
    tol = 1e-3
    assert np.abs(p - p_ref).max() < tol
    # same predictions, except where the MLE's two best classes are within the tolerance
    differ = m.predict(X) != ref.predict(A)
    top2 = np.sort(p_ref[differ], axis=1)[:, -2:]
    assert np.all(top2[:, 1] - top2[:, 0] < 2 * tol)
    nll = -np.mean(np.log(p[np.arange(len(y)), y]))
    nll_ref = -np.mean(np.log(p_ref[np.arange(len(y)), y]))
    assert nll_ref - 1e-6 <= nll < nll_ref + 1e-6  # the MLE is the minimum


def test_class_prior_pseudo_labels_and_grounding_set():
    P = np.array([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    X, y, _, bank = _problem(seed=3, prior=P)
    m = KnowledgeCBM(bank, pseudo_labels="class_prior", max_epochs=3, random_state=0)
    m.fit(X, y)
    # labels are P[y] (zero read as "no"): the classifier of concept j then separates the
    # classes that have it from the others. A claim about this seed: over 30 seeds of data
    # and model the worst concept's AUC was 0.78 on average, sd 0.09, min 0.578 (0.6 failed
    # on 1), so no bound from the spread stays above chance (0.5)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    for j, name in enumerate(m.concept_names_):
        col = bank.names.index(name)
        score = Xn @ m.concept_weights_[j]
        assert roc_auc_score(P[y, col], score) > 0.6
    # a separate grounding set: the classifiers come from it, not from X
    Xg, _, Lg, _ = _problem(n=600, seed=7)
    mg = KnowledgeCBM(bank, max_epochs=3, random_state=0)
    mg.fit(X, y, concept_labels=Lg, grounding_X=Xg)
    ref = ground_concepts(Xg, Lg, rng=np.random.default_rng(0))
    # same rng stream: the first draws of the model's generator go to the grounding
    np.testing.assert_allclose(
        mg.concept_weights_, ref.weights[mg.concept_indices_].astype(np.float32), rtol=1e-6
    )


def test_same_seed_same_model_and_save_load(tmp_path):
    X, y, L, bank = _problem(seed=1, prior=np.ones((3, 4)))
    a = KnowledgeCBM(bank, max_epochs=20, random_state=3).fit(X, y, concept_labels=L)
    b = KnowledgeCBM(bank, max_epochs=20, random_state=3).fit(X, y, concept_labels=L)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    loaded = BaseConceptBottleneck.load(a.save(tmp_path / "knobo.safetensors"))
    assert isinstance(loaded, KnowledgeCBM)
    np.testing.assert_array_equal(loaded.predict_proba(X), a.predict_proba(X))
    np.testing.assert_array_equal(loaded.prior_, a.prior_)
    assert loaded.concept_names_ == a.concept_names_
    assert loaded.best_epoch_ == a.best_epoch_


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_concepts": 0}, "n_concepts"),
        ({"prior_weight": -1.0}, "prior_weight"),
        ({"prior_zero": "maybe"}, "prior_zero"),
        ({"pseudo_labels": "llm"}, "pseudo_labels"),
        ({"pseudo_label_quantile": 0.7}, "pseudo_label_quantile"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"max_epochs": 2.5}, "max_epochs"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"patience": 0}, "patience"),
        ({"n_iter_no_change": 0}, "n_iter_no_change"),  # the deprecated alias of patience
        ({"device": "cuda:99" if not torch.cuda.is_available() else "nope"}, "device"),
    ],
)
def test_bad_parameters_are_rejected(params, match):
    X, y, L, bank = _problem(n=60)
    renamed = "n_iter_no_change" in params  # the deprecated alias warns, then is checked
    warns = pytest.warns(FutureWarning, match="renamed") if renamed else contextlib.nullcontext()
    with warns, pytest.raises((ValueError, RuntimeError), match=match):
        KnowledgeCBM(bank, **{"max_epochs": 2, **params}).fit(X, y, concept_labels=L)


def test_bad_fit_inputs_are_rejected():
    X, y, L, bank = _problem(n=60)
    m = KnowledgeCBM(bank, max_epochs=2)
    with pytest.raises(ValueError, match=r"concept_labels.*\(60, 4\)"):
        m.fit(X, y, concept_labels=L[:, :3])
    with pytest.raises(ValueError, match=r"concept_labels.*0, 1 or NaN"):
        m.fit(X, y, concept_labels=L * 2)
    with pytest.raises(ValueError, match="grounding_X has 5 features"):
        m.fit(X, y, grounding_X=X[:, :5])
    with pytest.raises(ValueError, match="grounding_X"):
        m.fit(X, y, grounding_X=np.full_like(X, np.nan))
    with pytest.raises(ValueError, match="class_prior"):
        KnowledgeCBM(bank, pseudo_labels="class_prior").fit(X, y)
    with pytest.raises(ValueError, match="could be grounded"):
        m.fit(X, y, concept_labels=np.ones_like(L))
    with pytest.raises(TypeError, match="unexpected"):
        m.fit(X, y, concept_label=L)


# ----------------------------------------------------------------- on the world
@pytest.fixture(scope="module")
def world(world_tiny_splits):
    return world_tiny_splits


@pytest.fixture(scope="module")
def text_bank(world):
    from bottlekit.concepts import from_text
    from bottlekit.world.evaluate import CONCEPT_TEMPLATES

    w = world["train"][0]
    prior = (w.class_concept_matrix >= 0.5).astype(np.float32)  # the true attributes
    return from_text(world["backbone"], w.concept_names, CONCEPT_TEMPLATES,
                     class_prior=prior, class_names=w.class_names)  # fmt: skip


@pytest.fixture(scope="module")
def world_models(world, text_bank):
    (w, x) = world["train"]
    with _one_thread():
        true = KnowledgeCBM(text_bank, random_state=0).fit(
            x, w.labels, concept_labels=w.concept_labels
        )
        pseudo = KnowledgeCBM(text_bank, random_state=0).fit(x, w.labels)
    return {"true": true, "pseudo": pseudo}


def _mean_auroc(model, world, split):
    w, x = world[split]
    cols = [w.concept_names.index(n) for n in model.concept_names_]
    A, L = model.transform(x), w.concept_labels[:, cols]
    return np.mean([roc_auc_score(L[:, j], A[:, j]) for j in range(len(cols))])


def test_world_grounding_from_true_labels_beats_pseudo_labels(world, world_models):
    true_auroc = _mean_auroc(world_models["true"], world, "test")
    pseudo_auroc = _mean_auroc(world_models["pseudo"], world, "test")
    # measured: 0.893 (true labels), 0.849 (pseudo-labels from CLIP similarity; the raw
    # CLIP similarities give 0.840). The mean over 31 concepts on 600 held-out images
    # varies by ~0.01 between seeds: 0.86 leaves 3 sd of margin
    assert true_auroc > 0.86
    assert pseudo_auroc <= true_auroc
    assert len(world_models["true"].concept_names_) == 31


def test_world_accuracy_and_robustness_under_shift(world, world_models):
    (w, x), (wt, xt), (ws, xs) = world["train"], world["test"], world["shifted"]
    pseudo = world_models["pseudo"]
    acc, acc_shift = pseudo.score(xt, wt.labels), pseudo.score(xs, ws.labels)
    # 24 species: chance is 0.042. Measured 0.742 in-domain; 0.65 is 4 sd below it
    assert acc > 0.65
    # shifted: backgrounds independent of species. Measured drops: KnoBo with pseudo-label
    # grounding 0.742 -> 0.487 (0.255); linear probes C=1 0.760 -> 0.338 (0.422), C=100
    # 0.755 -> 0.397 (0.358). The drops' difference (>= 0.10) is ~3 sd of the difference of
    # four accuracies on 600 images; assert half of it
    for C in (1.0, 100.0):
        probe = LogisticRegression(C=C, max_iter=2000).fit(x, w.labels)
        drop_probe = probe.score(xt, wt.labels) - probe.score(xs, ws.labels)
        assert acc - acc_shift < drop_probe - 0.05, C
    # true-label grounding on the confounded training split picks up the backgrounds: it
    # degrades like the probe (measured 0.750 -> 0.337); not asserted, reported


def test_world_retrieved_bank(world):
    pytest.importorskip("bm25s")
    from bottlekit.concepts import retrieve

    (w, x), (wt, xt) = world["train"], world["test"]
    # BM25 only: on the world the hybrid retriever returns the same concepts (measured) and
    # MiniLM costs minutes on a loaded machine
    bank = retrieve(world["backbone"], w.class_names, w.corpus,
                    sentence_encoder=None, progress=False)  # fmt: skip
    model = KnowledgeCBM(bank, random_state=0).fit(x, w.labels)
    truth = (w.class_concept_matrix >= 0.5)[
        :, [w.concept_names.index(n) for n in model.concept_names_]
    ]
    # the retrieved prior is the world's true attributes; zero is read as "no"
    np.testing.assert_array_equal(model.prior_, np.where(truth, 1.0, -1.0))
    # measured 0.728 (24 classes, chance 0.042)
    assert model.score(xt, wt.labels) > 0.65


@pytest.mark.parametrize(("name", "warns"), [("patience", False), ("n_iter_no_change", True)])
def test_patience_is_refused_without_validation(name, warns):
    # before: validation_fraction=0 has no validation accuracy to stop on, and patience
    # was ignored, silently (all max_epochs ran)
    X, y, L, bank = _problem(n=200)
    model = KnowledgeCBM(bank, validation_fraction=0.0, max_epochs=2, **{name: 3})
    message = (
        f"{name}: 3 has no effect with validation_fraction=0 (it stops on the validation "
        "accuracy); leave it None or hold out a validation_fraction > 0"
    )
    context = pytest.warns(FutureWarning, match="renamed") if warns else contextlib.nullcontext()
    with context, pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        model.fit(X, y, concept_labels=L)
    assert not hasattr(model, "coef_")
    KnowledgeCBM(bank, validation_fraction=0.1, max_epochs=2, patience=3).fit(
        X, y, concept_labels=L
    )  # with a validation part it is read
