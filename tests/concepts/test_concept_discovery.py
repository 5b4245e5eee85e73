"""Concept discovery (issue 19): dictionaries from embeddings, checked on planted ground truth.

Synthetic data: embeddings are sparse non-negative mixtures of a few orthonormal planted
atoms, so the dictionary a method should find is known exactly.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("torch")

from bottlekit.concepts import ConceptBank
from bottlekit.concepts.discovery import (
    ConceptDictionary,
    _sae,
    decompose,
    dictionary_stability,
    discover,
    name_concepts,
)

N_TRUE, D = 8, 24


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(0)
    atoms = np.linalg.qr(rng.normal(size=(D, N_TRUE)))[0].T  # (8, 24) orthonormal
    codes = (rng.random((1500, N_TRUE)) < 0.2) * rng.uniform(1, 2, (1500, N_TRUE))
    X = (codes @ atoms + 0.01 * rng.normal(size=(1500, D))).astype(np.float32)
    return atoms, X


def _fit(X, **kw):
    args = dict(n_concepts=16, k=2, epochs=25, learning_rate=1e-2, random_state=0)
    if kw.get("method") == "nmf":  # the SAEs' settings: NMF refuses them
        del args["k"], args["learning_rate"]
    return discover(X, **(args | kw))


@pytest.fixture(scope="module")
def topk(planted):
    return _fit(planted[1], backbone_id="toy")


def best_cosine(dictionary, atoms):
    return np.abs(dictionary.dictionary @ atoms.T).max(axis=0)


# ----------------------------------------------------------------- recovery
def test_topk_sae_recovers_every_planted_atom(planted, topk):
    atoms, X = planted
    # the worst-recovered of the 8 atoms: over 16 seeds of data and training 0.957, sd 0.021
    # (min 0.905; the former 0.95 failed 7 of 16); 0.87 is mean - 4 sd. A random
    # 16-atom dictionary scores 0.33 (sd 0.04)
    assert best_cosine(topk, atoms).min() > 0.87
    assert topk.codes.shape == (len(X), 16)
    assert (topk.codes > 0).sum(1).max() <= 2  # TopK: at most k active atoms
    assert topk.history[-1] < topk.history[0]


@pytest.mark.parametrize(("method", "floor"), [("batchtopk_sae", 0.7), ("nmf", 0.55)])
def test_other_methods_find_the_planted_directions(planted, method, floor):
    atoms, X = planted
    result = _fit(X, method=method, epochs=25 if method != "nmf" else 200)
    assert best_cosine(result, atoms).min() > floor
    assert result.codes.min() >= 0


def test_dead_and_duplicate_counts(planted):
    _, X = planted
    result = _fit(X)
    fired = (result.codes > 0).any(0)
    assert result.n_dead == int((~fired).sum())
    rows = [0, 0, 1]
    copy = ConceptDictionary(
        **vars(result)
        | {
            "dictionary": result.dictionary[rows],
            "encoder_weight": result.encoder_weight[rows],
            "encoder_bias": result.encoder_bias[rows],
            "k": 1,
            "codes": np.ones((2, 3), dtype=np.float32),
        }
    )
    assert copy.n_duplicate == 1


def test_encode_reproduces_the_training_codes(planted, topk):
    np.testing.assert_allclose(topk.encode(planted[1]), topk.codes, atol=1e-5)


# ----------------------------------------------------------- init="data"
def test_data_init_starts_from_distinct_centred_training_embeddings(planted):
    _, X = planted
    mu = X.mean(0, dtype=np.float64)
    atoms = _sae.data_atoms(X, 16, seed=3, mu=mu)
    C = (X - mu) / np.linalg.norm(X - mu, axis=1, keepdims=True)
    rows = np.argmax(atoms @ C.T, axis=1)  # each atom is one training embedding, exactly
    np.testing.assert_allclose(atoms, C[rows], atol=1e-6)
    assert len(set(rows.tolist())) == 16
    assert not np.array_equal(atoms, _sae.data_atoms(X, 16, seed=4, mu=mu))


def test_data_init_skips_copies_and_takes_embeddings_at_any_scale(planted):
    # Before: a copy of an embedding drawn earlier started a second, identical atom (here
    # 8 atoms from 5 distinct embeddings repeated, 4 of them distinct), one of which died;
    # and the absolute 1e-12 took every row of embeddings of scale 1e-14 for the mean
    # ("only 0 embeddings differ from their mean")
    X = planted[1][:5]
    copies = np.tile(X, (8, 1))
    atoms = _sae.data_atoms(copies, 5, seed=0, mu=copies.mean(0, dtype=np.float64))
    assert len(np.unique(atoms, axis=0)) == 5
    with pytest.raises(ValueError, match=r"init='data': only 5 distinct embeddings differ"):
        _sae.data_atoms(copies, 6, seed=0, mu=copies.mean(0, dtype=np.float64))
    mu = X.mean(0, dtype=np.float64)
    tiny = (X.astype(np.float64) * 1e-14).astype(np.float32)
    np.testing.assert_allclose(
        _sae.data_atoms(tiny, 4, seed=0, mu=tiny.mean(0, dtype=np.float64)),
        _sae.data_atoms(X, 4, seed=0, mu=mu),
        atol=1e-6,
    )


@pytest.mark.parametrize("seed, drawn", [(0, [2, 4, 3, 7]), (1, [5, 0, 6, 7])])
def test_data_init_selection_is_pinned(seed, drawn):
    # The atoms are the first rows, in the order drawn with the seed, that are neither at
    # the mean nor copies of a row drawn before them (-0.0 equals 0.0): pinned here, as
    # np.unique over all the rows chose them before data_atoms read only the rows drawn.
    # seed 0 draws rows 2 4 3 6 5 0 1 7: 6, 5 and 0 copy 3, 4 and 2; 1 is the mean.
    # seed 1 draws rows 5 0 1 4 2 6 3 7: 4 is 5 with -0.0; 6 comes before its copy 3.
    X = np.array(
        [
            [3, 1, 0],
            [1, 1, 0],
            [3, 1, 0],
            [1, 4, 0],
            [2, 0, 0],
            [2, -0.0, 0],
            [1, 4, 0],
            [0, 0, 5],
        ],
        np.float32,
    )
    mu = np.array([1.0, 1.0, 0.0])
    C = X[drawn].astype(np.float64) - mu
    expected = (C / np.linalg.norm(C, axis=1, keepdims=True)).astype(np.float32)
    np.testing.assert_array_equal(_sae.data_atoms(X, 4, seed=seed, mu=mu), expected)
    with pytest.raises(ValueError, match=r"only 4 distinct embeddings differ from their mean, 5"):
        _sae.data_atoms(X, 5, seed=seed, mu=mu)


def test_data_init_recovers_every_planted_atom_deterministically(planted):
    atoms, X = planted
    result = _fit(X, init="data", random_state=8)
    assert best_cosine(result, atoms).min() > 0.9
    assert result.params["init"] == "data"
    again = _fit(X, init="data", random_state=8)
    np.testing.assert_array_equal(again.dictionary, result.dictionary)
    assert not np.array_equal(_fit(X, random_state=8).dictionary, result.dictionary)


def test_unknown_init_is_refused(planted):
    with pytest.raises(ValueError, match=r"init: expected one of \('random', 'data'\)"):
        _fit(planted[1], init="kmeans")


# ------------------------------------------------------- encoder="decoder"
def _hierarchy(n: int, seed: int = 0):
    """``n`` embeddings (float32), which of the 8 features each has, and the features'
    directions: a parent feature on whenever one of its two children is (and alone 10 %
    of the time), beside five independent features."""
    rng = np.random.default_rng(seed)
    atoms = np.linalg.qr(rng.normal(size=(16, 8)))[0].T
    child = rng.random((n, 2)) < 0.3
    on = rng.random((n, 8)) < 0.25
    on[:, 1:3] = child
    on[:, 0] = child.any(1) | (rng.random(n) < 0.1)
    X = (on * rng.uniform(1, 2, (n, 8))) @ atoms + 0.05 * rng.normal(size=(n, 16))
    return X.astype(np.float32), on, atoms


@pytest.fixture(scope="module")
def hierarchy():
    """A parent feature on whenever one of its two children is (and alone 10 % of the
    time), beside five independent features: the set-up of feature absorption."""
    X, on, _ = _hierarchy(600)
    return X, on


@pytest.fixture(scope="module")
def absorption():
    """The same hierarchy with 2000 embeddings, learned by a TopK SAE of 24 atoms, k 2:
    the size at which the parent's own atom is learned (with 8 atoms, as many as
    features, it is not: cosine 0.02-0.79 to the parent over 10 seeds, mean 0.43)."""
    X, on, atoms = _hierarchy(2000)
    args = dict(n_concepts=24, k=2, epochs=60, learning_rate=1e-2, random_state=0)
    return X, on, atoms, args, discover(X, **args)


def _parent_auroc(result, X, on, j):
    """AUROC for the parent feature of atom ``j``'s pre-activation."""
    from sklearn.metrics import roc_auc_score

    W, b = result.linear_encoder()
    return roc_auc_score(on[:, 0], X @ W[j] + b[j])


def test_decoder_encoder_detects_the_parent_feature(absorption):
    X, on, atoms, args, learned = absorption
    tied = discover(X, encoder="decoder", **args)
    # the same training: the same atoms; only the encoder kept differs
    np.testing.assert_array_equal(tied.dictionary, learned.dictionary)
    np.testing.assert_array_equal(tied.encoder_weight, tied.dictionary)
    assert not tied.encoder_bias.any() and tied.params["encoder"] == "decoder"
    assert "encoder" not in learned.params
    # an atom's pre-activation is the projection of the centred, scaled embedding on it
    W, b = tied.linear_encoder()
    pre = (X / tied.input_scale - tied.pre_bias) @ tied.dictionary.T
    np.testing.assert_allclose(X @ W.T + b, pre, atol=1e-4)
    np.testing.assert_allclose(tied.codes, tied.encode(X), atol=1e-6)
    assert (tied.codes > 0).sum(1).max() <= 2
    # the parent's atom: cosine 0.93 here. Over 40 fresh seeds (data and training, seeds
    # 300-319 and 400-419) it is learned (cosine 0.82-0.99) on 38; on 2 (400, 415) no atom
    # is the parent's (cosine 0.17, 0.15) and this test fails: it holds 38 of 40 times
    j = int(np.argmax(tied.dictionary @ atoms[0]))
    assert tied.dictionary[j] @ atoms[0] > 0.75
    # projecting on it detects the parent: AUROC 0.998 here, 0.92-1.00 over the 38 seeds
    # (the learned encoder's row of the same atom: 0.79 here, 0.59-1.00)
    learned_auroc = _parent_auroc(learned, X, on, j)
    tied_auroc = _parent_auroc(tied, X, on, j)
    assert tied_auroc > 0.88
    # and never worse than the learned encoder's row (38 of 38 seeds, within 0.001)
    assert tied_auroc >= learned_auroc - 0.01
    np.testing.assert_array_equal(discover(X, encoder="decoder", **args).codes, tied.codes)


def test_the_learned_encoder_absorbs_the_parent_feature(absorption):
    X, on, atoms, args, learned = absorption
    j = int(np.argmax(learned.dictionary @ atoms[0]))
    tied = discover(X, encoder="decoder", **args)
    # this seed: 0.791 against 0.998. Feature absorption in the learned encoder is
    # seed-dependent: at this size its parent row scores >= 0.05 AUROC below the decoder
    # atom's projection on 36 of 40 fresh seeds (19 of 20 where the size was chosen, 17
    # of 20 held out; 31 of 40 before AuxK was normalised as OpenAI's); on the others the
    # row detects the parent about as well or no atom is the parent's. The fixture's seed
    # is fixed, so this is asserted (it was an xfail(strict=False), which could not fail)
    assert _parent_auroc(learned, X, on, j) < _parent_auroc(tied, X, on, j) - 0.05


def test_decoder_encoder_reestimates_the_batchtopk_threshold(hierarchy):
    X, _ = hierarchy
    args = dict(n_concepts=8, k=3, epochs=30, learning_rate=1e-2, random_state=0)
    result = discover(X, method="batchtopk_sae", encoder="decoder", **args)
    active = int((result.codes > 0).sum())
    # k active atoms per embedding on average, as BatchTopK's training selects
    assert 3 * len(X) - 5 <= active <= 3 * len(X)
    assert result.threshold != discover(X, method="batchtopk_sae", **args).threshold


@pytest.mark.parametrize(
    ("bad", "error"),
    [("tied", ValueError), ("", ValueError), (0, TypeError), (["d"], TypeError)],
)
def test_unknown_encoder_is_refused(planted, bad, error):
    # an unknown string is a ValueError, anything else a TypeError (check_choice); None is
    # the default, "learned"
    with pytest.raises(error, match=r"encoder: expected one of \('learned', 'decoder'\)"):
        _fit(planted[1], encoder=bad)


# -------------------------------------------------------- determinism, resume
def test_same_random_state_same_dictionary(planted, topk):
    again = _fit(planted[1], backbone_id="toy")
    np.testing.assert_array_equal(again.dictionary, topk.dictionary)
    np.testing.assert_array_equal(again.codes, topk.codes)
    other = _fit(planted[1], random_state=1)
    assert not np.array_equal(other.dictionary, topk.dictionary)


def test_auxk_loss_divides_by_the_batch_variance_of_the_residual():
    # Gao et al.'s reference (OpenAI train.py) normalises AuxK by the variance of its
    # target over the batch, mse(mean(e), e); bottlekit divided by the uncentred mean
    # squared norm of e, so the same 1/32 weighed AuxK less whenever the residuals share
    # a mean (here 5 / 5 = 1 instead of 5 / 1 = 5).
    torch = pytest.importorskip("torch")
    e = torch.tensor([[1.0, 0.0], [3.0, 0.0]])  # mean [2, 0]; spread 1 per row, norm^2 1, 9
    W = torch.tensor([[1.0, 0.0]])
    assert float(_sae.auxk_loss(torch.zeros(2, 1), W, e)) == pytest.approx(5.0)
    # rebuilding [1, 0] for the first row leaves (0 + 9) / 2 = 4.5 over the spread 1
    assert float(_sae.auxk_loss(torch.tensor([[1.0], [0.0]]), W, e)) == pytest.approx(4.5)
    # a batch of one has no spread: no AuxK term (the reference's ratio is 0 / 0 there)
    assert float(_sae.auxk_loss(torch.ones(1, 1), W, e[:1])) == 0.0


def test_input_scale_is_the_rms_distance_to_the_mean_chunk_by_chunk():
    # The SAE's input scale, sqrt(mean ||x - mu||^2), is taken a chunk of rows at a time
    # in float64 (the whole array's float64 copies took 2.4 GB for 10^6 x 768 float32);
    # the row sums are the same sums, so the scale, and every trained atom, is bit for
    # bit the one of the whole-array formula, across chunk boundaries.
    X = np.random.default_rng(4).normal(size=(23, 5)).astype(np.float32) * 3 + 1
    mu = X.mean(0, dtype=np.float64)
    whole = float(np.sqrt(((X - mu) ** 2).sum(1).mean()))
    for chunk in (1, 7, 23, 100):
        assert _sae._rms_distance(X, mu, chunk=chunk) == whole
    assert whole == pytest.approx(np.sqrt(np.mean(np.sum((X - mu) ** 2, axis=1))), rel=1e-12)


@pytest.mark.parametrize("batch_topk", [False, True])
def test_train_sae_with_the_callers_stats_is_the_same_to_the_bit(batch_topk):
    # discover takes the mean and spread of X once, for its checks, and hands them to
    # train_sae (before, they were taken again there): the trained SAE is the same to the
    # bit as with train_sae's own
    X = np.random.default_rng(5).normal(size=(300, 8)).astype(np.float32) * 2 + 1
    mu = X.mean(0, dtype=np.float64)
    kw = dict(
        n_concepts=6, k=2, batch_topk=batch_topk, epochs=2, batch_size=64,
        learning_rate=1e-2, seed=3, device="cpu", progress=False, checkpoint=None,
        checkpoint_every=1, dead_after=50,
    )  # fmt: skip
    own = _sae.train_sae(X, **kw)
    given = _sae.train_sae(X, stats=(mu, _sae._rms_distance(X, mu)), **kw)
    assert own.keys() == given.keys()
    for key, value in own.items():
        if isinstance(value, np.ndarray):
            assert value.tobytes() == given[key].tobytes(), key
        else:
            assert value == given[key], key


@pytest.mark.parametrize("method", ["topk_sae", "batchtopk_sae"])
def test_training_codes_in_chunks_are_encode_s_codes_to_the_bit(planted, method):
    # discover's codes of its training embeddings skip encode's check of X (discover's
    # own) and write the chunks into one array: the same codes, to the bit, as encode's
    # of the same chunks (BLAS may round a row's products differently in a chunk of
    # another number of rows, so the chunks are codes_of's own)
    X = planted[1]
    d = _fit(X[:200], method=method, epochs=2)
    chunked = _sae.codes_of(d, X, chunk=7)
    assert chunked.dtype == np.float32 and chunked.shape == (len(X), 16)
    by_encode = np.vstack([d.encode(X[i : i + 7]) for i in range(0, len(X), 7)])
    assert chunked.tobytes() == by_encode.tobytes()
    assert _sae.codes_of(d, X).tobytes() == d.encode(X).tobytes()  # one chunk
    np.testing.assert_allclose(chunked, d.encode(X), rtol=1e-5, atol=1e-6)
    assert (chunked > 0).any(1).mean() > 0.5  # codes, not zeros


def test_the_checkpoint_fingerprint_is_blake2b_of_the_bytes_in_c_order():
    # read in place rather than through a copy (tobytes): the same digest, so checkpoints
    # written before resume; a non-contiguous array is hashed in C order, as tobytes does
    import hashlib

    X = np.random.default_rng(6).normal(size=(40, 6)).astype(np.float32)
    for a in (X, np.asfortranarray(X), X[::2], X[:, 1:]):
        expected = hashlib.blake2b(a.tobytes(), digest_size=16).hexdigest()
        assert _sae._fingerprint(a) == expected
    assert _sae._fingerprint(X) != _sae._fingerprint(X[::-1])


def test_history_is_the_normalised_mse_without_the_auxk_term(planted):
    # ConceptDictionary.history is documented as the normalised MSE; it was the total loss,
    # i.e. the MSE plus 1/32 of AuxK whenever an atom was dead. One full batch at a
    # vanishing step size: the epoch's loss is that of the returned model.
    X = planted[1][:32]
    result = _fit(X, n_concepts=32, k=1, epochs=1, batch_size=32, dead_after=1, learning_rate=1e-9)
    assert result.n_dead > 0  # dead atoms, so the AuxK term was on
    rebuilt = result.reconstruct(result.codes).astype(np.float64)
    fvu = ((rebuilt - X) ** 2).sum(1).mean() / ((X - X.mean(0)) ** 2).sum(1).mean()
    assert result.history[0] == pytest.approx(fvu, rel=1e-4)


class Interrupted(Exception):
    pass


def test_resume_from_checkpoint_gives_the_same_result(planted, tmp_path, monkeypatch):
    _, X = planted
    kw = dict(epochs=6, checkpoint_every=3, method="batchtopk_sae")
    straight = _fit(X, **kw)
    path = tmp_path / "sae.safetensors"
    real = _sae._save_checkpoint

    def save_then_stop(*args, **kwargs):
        real(*args, **kwargs)
        raise Interrupted

    monkeypatch.setattr(_sae, "_save_checkpoint", save_then_stop)
    with pytest.raises(Interrupted):
        _fit(X, checkpoint=path, **kw)  # stops after epoch 3
    monkeypatch.setattr(_sae, "_save_checkpoint", real)
    resumed = _fit(X, checkpoint=path, **kw)
    assert len(resumed.history) == 6
    np.testing.assert_array_equal(resumed.dictionary, straight.dictionary)
    np.testing.assert_array_equal(resumed.codes, straight.codes)
    assert resumed.threshold == straight.threshold
    with pytest.raises(ValueError, match="different run"):
        _fit(X, checkpoint=path, **(kw | {"learning_rate": 1e-3}))


# ------------------------------------------------------------------ stability
def test_stability_is_the_hungarian_matching_not_the_greedy_one():
    a = np.eye(4)[:2]
    b = np.array([[0.6, 0.5, np.sqrt(1 - 0.61), 0.0], [0.5, 0.05, 0.0, np.sqrt(1 - 0.2525)]])
    # cosines [[0.6, 0.5], [0.5, 0.05]]: greedy pairs 0.6 + 0.05, the optimum 0.5 + 0.5
    assert dictionary_stability(a, b) == pytest.approx(0.5)
    assert dictionary_stability(a, a[::-1] * 3.0) == pytest.approx(1.0)


def test_stability_across_seeds_on_planted_data(planted, topk):
    atoms, _ = planted
    assert dictionary_stability(atoms, topk) > 0.95  # every planted atom is matched


# --------------------------------------------------------------------- naming
@pytest.fixture(scope="module")
def vocabulary(planted):
    atoms, _ = planted
    rng = np.random.default_rng(1)
    distractors = rng.normal(size=(200, D))
    names = [f"planted {i}" for i in range(N_TRUE)] + [f"distractor {i}" for i in range(200)]
    return ConceptBank(names, np.vstack([atoms, distractors]), "toy")


def test_naming_picks_the_planted_names(planted, topk, vocabulary):
    atoms, X = planted
    bank = name_concepts(topk, vocabulary)
    assert len(bank) == 16 - topk.n_dead
    for i in range(N_TRUE):
        j = int(np.argmax(topk.dictionary @ atoms[i]))  # the atom that found planted i
        k = [p["atom"] for p in bank.provenance].index(j)
        assert bank.names[k] == f"planted {i}"
        assert bank.provenance[k]["kind"] == "discovered"
        assert bank.provenance[k]["name_confidence"] > 0.9
    # the bank projects like the SAE encoder: pre-activation / encoder row norm
    W, b = topk.linear_encoder()
    live = [p["atom"] for p in bank.provenance]
    expected = (X @ W[live].T + b[live]) / np.linalg.norm(W[live], axis=1)
    np.testing.assert_allclose(bank.project(X), expected, rtol=1e-4, atol=1e-4)


def test_discovered_bank_round_trips_and_feeds_a_cbm(planted, topk, vocabulary, tmp_path):
    from bottlekit.bottleneck import PosthocCBM

    _, X = planted
    bank = name_concepts(topk, vocabulary)
    again = ConceptBank.load(bank.save(tmp_path / "bank.safetensors"))
    assert again.provenance == bank.provenance
    y = (topk.codes[:, 0] > 0).astype(int)
    model = PosthocCBM(again, lam=1e-4, random_state=0).fit(X, y)
    assert model.score(X, y) > 0.9


# ------------------------------------------------------------------ bad input
def test_vocabulary_of_another_backbone_is_refused(topk, vocabulary):
    other = ConceptBank(vocabulary.names, vocabulary.vectors, "other-backbone")
    with pytest.raises(ValueError, match=r"vocabulary.*'other-backbone'.*'toy'"):
        name_concepts(topk, other)
    with pytest.raises(ValueError, match="dimension 5"):
        name_concepts(topk, ConceptBank(["a"], np.ones((1, 5)), "toy"))


def test_too_many_concepts_is_refused(planted):
    with pytest.raises(ValueError, match=r"n_concepts: .*<= 10, got 11"):
        discover(planted[1][:10], n_concepts=11)
    with pytest.raises(ValueError, match=r"n_concepts: .*<= 48"):  # NMF: at most 2d
        discover(planted[1], n_concepts=49, method="nmf")
    with pytest.raises(ValueError, match="method"):
        discover(planted[1], method="pca")


def test_nan_embeddings_are_refused(planted, vocabulary):
    X = planted[1].copy()
    X[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN or inf in 1 row.*row 3"):
        discover(X)
    with pytest.raises(ValueError, match="X contains NaN"):
        decompose(X, vocabulary)


def test_a_file_that_is_not_a_dictionary_is_refused(topk, vocabulary, tmp_path):
    loaded = ConceptDictionary.load(topk.save(tmp_path / "dict.safetensors"))
    np.testing.assert_array_equal(loaded.encode(np.eye(D)), topk.encode(np.eye(D)))
    with pytest.raises(ValueError, match="not a bottlekit concept dictionary"):
        ConceptDictionary.load(vocabulary.save(tmp_path / "bank.safetensors"))
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"this is not a safetensors file at all")
    with pytest.raises(ValueError):
        ConceptDictionary.load(junk)
    with pytest.raises(ValueError, match="not a bottlekit SAE checkpoint"):
        _fit(np.eye(D, dtype=np.float32), n_concepts=4, checkpoint=tmp_path / "dict.safetensors")


# --------------------------------------------------------------------- SpLiCE
@pytest.mark.parametrize(
    ("solver", "where"),
    [
        ("lasso", "on 5 of 5 images"),
        ("admm", "(root-mean-square residuals of all 5 images, solved together)"),
    ],
)
def test_decompose_warns_once_where_the_solver_stops_short(vocabulary, planted, solver, where):
    # before: silent (scikit-learn's per-image warnings were ignored, ADMM said nothing),
    # and a solver stopped at max_iter returns weights that are not the minimiser's
    from sklearn.exceptions import ConvergenceWarning

    X, vocab = planted[1][:5], vocabulary.subset(list(range(40)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dec = decompose(X, vocab, l1=0.1, tol=1e-12, max_iter=2, solver=solver)
    assert [str(w.message) for w in caught] == [
        f"decompose: the '{solver}' solver stopped at max_iter=2 before reaching tol=1e-12 "
        + where
        + "; those weights are not converged (raise max_iter or tol"
        + (", or change rho)" if solver == "admm" else ")")
    ]
    assert caught[0].category is ConvergenceWarning and dec.n_iter == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # converged: nothing said
        decompose(X, vocab, l1=0.1, tol=1e-5, max_iter=100000, solver=solver)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_decompose_matches_scikit_learn_nonnegative_lasso(vocabulary, planted):
    from sklearn.linear_model import Lasso

    X = planted[1][:5]
    vocab = vocabulary.subset(list(range(40)))
    l1 = 0.1
    dec = decompose(X, vocab, l1=l1, tol=1e-9, max_iter=5000, solver="admm")
    via_lasso = decompose(X, vocab, l1=l1, tol=1e-10, max_iter=100000, solver="lasso")
    np.testing.assert_allclose(via_lasso.weights, dec.weights, atol=2e-4)
    np.testing.assert_allclose(via_lasso.cosine, dec.cosine, atol=1e-4)
    # the same problem by coordinate descent
    T = vocab.vectors / np.linalg.norm(vocab.vectors, axis=1, keepdims=True)
    C = T - T.mean(0)
    C /= np.linalg.norm(C, axis=1, keepdims=True)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    Y = Xn - Xn.mean(0)  # the image mean is the mean of the unit rows
    Y /= np.linalg.norm(Y, axis=1, keepdims=True)
    for i in range(len(X)):  # SpLiCE's scikit-learn call: alpha = l1_penalty / (2 d)
        lasso = Lasso(
            alpha=l1 / (2 * D), positive=True, fit_intercept=False, tol=1e-10, max_iter=100000
        )
        w = lasso.fit(C.T, Y[i]).coef_
        np.testing.assert_allclose(dec.weights[i], w, atol=2e-4)
    assert (dec.cosine > 0).all() and (dec.cosine <= 1 + 1e-6).all()


def test_decompose_names_the_concepts_of_a_mixture():
    rng = np.random.default_rng(0)
    V = np.linalg.qr(rng.normal(size=(30, 12)))[0].T
    vocab = ConceptBank([f"c{i}" for i in range(12)], V, "toy")
    X = np.array([V[2] + V[7], V[4] + 0.5 * V[9]])
    dec = decompose(X, vocab, l1=0.12, image_mean=np.zeros(30))
    assert {n for n, _ in dec.top(0, 2)} == {"c2", "c7"}
    assert [n for n, _ in dec.top(1, 2)] == ["c4", "c9"]
    sparser = decompose(X, vocab, l1=3.0, image_mean=np.zeros(30))
    assert sparser.l0.sum() < dec.l0.sum()


@pytest.mark.parametrize("solver", ["admm", "lasso"])
def test_decompose_l1_is_the_reference_codes_l1_penalty(solver):
    # SpLiCE's code (AI4LIFE-GROUP/SpLiCE, splice/admm.py and the scikit-learn path of
    # splice/model.py) minimises ||y - C^T w||^2 + l1_penalty ||w||_1 over w >= 0. Its
    # optimality (KKT) conditions: 2 c_j . (y - C^T w) = l1 where w_j > 0 and <= l1 where
    # w_j = 0. Before, l1 weighed half the squared error (1/2 ||.||^2 + l1 ||w||_1), so
    # l1 = 0.25 copied from the paper's code gave the decomposition of its 0.5.
    rng = np.random.default_rng(3)
    V = rng.normal(size=(40, 16))
    vocab = ConceptBank([f"c{i}" for i in range(40)], V, "toy")
    X = ((rng.random((6, 40)) < 0.15) * rng.random((6, 40))) @ V + 0.3
    mean = np.zeros(16)
    l1 = 0.25
    dec = decompose(X, vocab, l1=l1, image_mean=mean, solver=solver, tol=1e-10, max_iter=100000)
    T = V / np.linalg.norm(V, axis=1, keepdims=True)
    C = T - T.mean(0)
    C /= np.linalg.norm(C, axis=1, keepdims=True)
    Y = X / np.linalg.norm(X, axis=1, keepdims=True)
    W = dec.weights.astype(np.float64)
    assert (W > 0).sum() >= 6 and (W == 0).sum() >= 6  # both conditions are exercised
    grad = 2 * (Y - W @ C) @ C.T
    np.testing.assert_allclose(grad[W > 0], l1, atol=2e-3)
    assert (grad[W == 0] <= l1 + 2e-3).all()


def test_decompose_is_the_same_for_embeddings_of_any_length():
    # SpLiCE normalises the images before it centres them on the image mean (the mean of
    # unit-normalised embeddings). Before, the default mean was taken of the raw rows, so
    # open_clip's unnormalised features (or any rescaled X) were centred on a mean of
    # another length: at 10 x X the weights moved by up to 0.9 and the reconstruction
    # cosine fell from 0.98 to 0.47.
    rng = np.random.default_rng(0)
    V = rng.normal(size=(40, 16))
    vocab = ConceptBank([f"c{i}" for i in range(40)], V, "toy")
    X = ((rng.random((50, 40)) < 0.1) * rng.random((50, 40))) @ V + 0.3
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    unit = decompose(X, vocab, l1=0.2)
    lengths = rng.uniform(0.5, 20.0, size=(50, 1))
    for scaled in (10 * X, lengths * X):
        other = decompose(scaled, vocab, l1=0.2)
        np.testing.assert_allclose(other.weights, unit.weights, atol=1e-5)
        np.testing.assert_allclose(other.cosine, unit.cosine, atol=1e-5)
    assert unit.cosine.mean() > 0.9


def test_llm_names_the_atoms_from_their_nearest_phrases_and_caches(
    topk, vocabulary, chat_server, tmp_path
):
    pytest.importorskip("openai")  # the llm extra
    import re

    from bottlekit.concepts import ChatClient

    def responder(body):  # names the concept after the nearest phrase, in the LLM's style
        first = re.findall(r'"([^"]+)"', body["messages"][0]["content"])[0]
        return 200, f"{first.title()}."

    server = chat_server(responder)
    llm = ChatClient("test-model", base_url=server.url, api_key="x", cache_dir=tmp_path)
    by_llm = name_concepts(topk, vocabulary, llm=llm)
    plain = name_concepts(topk, vocabulary)
    assert by_llm.names == plain.names
    assert by_llm.provenance[0]["named_by"] == "llm:test-model"
    n_requests = len(server.bodies)
    assert n_requests == len(plain)
    name_concepts(topk, vocabulary, llm=llm)  # every answer comes from the cache
    assert len(server.bodies) == n_requests
