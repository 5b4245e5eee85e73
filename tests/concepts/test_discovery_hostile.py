"""Concept discovery on hostile input: each bad argument or file is refused with a message
that names the argument (or the file and its field), what it got and what was expected."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("safetensors")

from safetensors.numpy import load_file, save_file

from bottlekit.concepts import ConceptBank
from bottlekit.concepts.discovery import (
    ConceptDictionary,
    decompose,
    dictionary_stability,
    discover,
    duplicate_atoms,
    name_concepts,
)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 6)).astype(np.float32)
VOCAB = ConceptBank([f"c{i}" for i in range(5)], RNG.normal(size=(5, 6)), "toy")


def _discover(**kw):
    kw = {"X": X, "n_concepts": 4, "epochs": 2, "random_state": 0} | kw
    return discover(**kw)


# ------------------------------------------------------------------ discover
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.inf, r"learning_rate: expected a finite number > 0, got inf"),
        (True, r"learning_rate: expected a finite number > 0, got True"),
        (0.0, r"learning_rate: expected a finite number > 0, got 0.0"),
    ],
)
def test_discover_refuses_a_bad_learning_rate(value, message):
    with pytest.raises(ValueError, match=message):
        _discover(learning_rate=value)


def test_discover_accepts_a_numpy_learning_rate():
    a = _discover(learning_rate=np.float32(1e-3))
    b = _discover(learning_rate=float(np.float32(1e-3)))
    np.testing.assert_array_equal(a.dictionary, b.dictionary)


# ------------------------------------------------------- SAE checkpoint files
@pytest.fixture(scope="module")
def sae_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("sae") / "ck.safetensors"
    _discover(checkpoint=path)
    from safetensors import safe_open

    with safe_open(str(path), "np") as f:
        meta = json.loads(f.metadata()["bottlekit"])
    return load_file(str(path)), meta


def _tamper_tensor(name, value):
    def edit(tensors, meta):
        if value is None:
            tensors.pop(name)
        else:
            tensors[name] = value(tensors[name])

    return edit


def _tamper_meta(key, value):
    def edit(tensors, meta):
        if value is None:
            meta.pop(key)
        else:
            meta[key] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_tamper_tensor("param/W_enc", None), r"lacks the tensor\(s\) \['param/W_enc'\]"),
        (
            _tamper_tensor("param/W_enc", lambda a: a[:, :3].copy()),
            r"param/W_enc has shape \(4, 3\); expected \(4, 6\)",
        ),
        (
            _tamper_tensor("param/W_dec", lambda a: np.full_like(a, np.nan)),
            r"param/W_dec contains NaN or inf",
        ),
        (
            _tamper_tensor("since", lambda a: a[:2].copy()),
            r"since has shape \(2,\); expected \(4,\)",
        ),
        (
            _tamper_tensor("param/b_enc", lambda a: a.astype(np.int32)),
            r"param/b_enc has dtype int32; expected float32",
        ),
        # before, each of these resumed to another result than the run's, silently: float16
        # weights rounded, int8 counts that wrap at 127 (an atom never dead), Adam's bias
        # correction of another step count, a NaN in the returned history ...
        (
            _tamper_tensor("param/W_dec", lambda a: a.astype(np.float16)),
            r"param/W_dec has dtype float16; expected float32",
        ),
        (
            _tamper_tensor("since", lambda a: a.astype(np.int8)),
            r"since has dtype int8; expected int64",
        ),
        (
            _tamper_tensor("since", lambda a: a - 10**12),
            r"since has negative values; expected values >= 0",
        ),
        (
            _tamper_meta("adam_steps", {k: 1.5 for k in ("W_enc", "b_enc", "W_dec", "pre_bias")}),
            r"adam_steps\['W_enc'\]: expected 2 \(2 epoch\(s\) of batches\), got 1.5",
        ),
        (_tamper_meta("history", [1.0, float("nan")]), r"history: expected a list of 2 finite"),
        # ... and a negative second moment made Adam's step NaN, reported as "learning_rate:
        # training diverged"
        (
            _tamper_tensor("adam/W_enc/exp_avg_sq", lambda a: -np.ones_like(a)),
            r"adam/W_enc/exp_avg_sq has negative values; expected values >= 0",
        ),
        # before: resumed, and the dictionary discover returned gave inf codes
        (
            _tamper_tensor("param/W_enc", lambda a: np.full_like(a, 3e38)),
            r"param/W_enc holds a value of magnitude 3e\+38; expected at most 2\.9\de\+18 = "
            r"sqrt\(float32 max / \(\(m \+ 1\)\(D \+ 2\)\)\) for m=4 atoms and D=6 features",
        ),
        (
            _tamper_tensor("param/pre_bias", lambda a: np.full_like(a, -1e30)),
            r"param/pre_bias holds a value of magnitude 1e\+30; expected at most 2\.9\de\+18",
        ),
        (_tamper_meta("epoch", "x"), r"epoch: expected an int >= 1 and <= 2, got 'x'"),
        (_tamper_meta("epoch", 10**9), r"epoch: expected an int >= 1 and <= 2, got 1000000000"),
        (_tamper_meta("epoch", -5), r"epoch: expected an int >= 1 and <= 2, got -5"),
        (_tamper_meta("history", None), r"history: expected a list of 2 finite numbers.*got None"),
        (_tamper_meta("history", [1.0] * 6), r"history: expected a list of 2 finite numbers"),
        (_tamper_meta("adam_steps", None), r"adam_steps: expected a dict"),
        (_tamper_meta("threshold", "high"), r"threshold: expected None or a finite number"),
        # before: resumed (BatchTopK: trained on with it), then refused unnamed when the
        # dictionary was built (a TopK run ignored it)
        (
            _tamper_meta("threshold", 1e300),
            r"threshold: expected None or a finite number in \[0, 4.\d+e\+09\] "
            r"\(threshold_limit\), got 1e\+300",
        ),
        (_tamper_meta("threshold", -1.0), r"threshold: expected None .*, got -1.0"),
        # before: AttributeError "'list' object has no attribute 'get'", TypeError "'int'
        # object is not iterable"
        (_tamper_meta("config", [1]), r"config: expected a dict of the run's .*got \[1\]"),
        (_tamper_meta("config", 5), r"config: expected a dict of the run's arguments, got 5"),
        # before: resumed with every atom dead (AuxK on all of them), silently
        (
            _tamper_tensor("since", lambda a: a + 10**12),
            r"since holds 1000000000\d+; expected counts of samples since an atom last "
            r"fired, at most 80 \(2 epoch\(s\) of 40 samples\)",
        ),
    ],
)
def test_tampered_sae_checkpoint_is_refused(sae_checkpoint, tmp_path, edit, message):
    tensors, meta = dict(sae_checkpoint[0]), json.loads(json.dumps(sae_checkpoint[1]))
    edit(tensors, meta)
    path = tmp_path / "ck.safetensors"
    save_file(tensors, str(path), metadata={"bottlekit": json.dumps(meta)})
    with pytest.raises(ValueError, match=r"checkpoint: .*ck\.safetensors.*" + message):
        _discover(checkpoint=path)


def test_a_complete_sae_checkpoint_still_resumes(sae_checkpoint, tmp_path):
    tensors, meta = sae_checkpoint
    path = tmp_path / "ck.safetensors"
    save_file(dict(tensors), str(path), metadata={"bottlekit": json.dumps(meta)})
    assert _discover(checkpoint=path).history == meta["history"]


# --------------------------------------------------- ConceptDictionary files
@pytest.fixture(scope="module")
def dictionary_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("dicts")
    out = {}
    for method in ("topk_sae", "batchtopk_sae", "nmf"):
        path = _discover(method=method).save(d / f"{method}.safetensors", include_codes=True)
        out[method] = load_file(str(path)), _meta(path)
    return out


def _meta(path):
    from safetensors import safe_open

    with safe_open(str(path), "np") as f:
        return json.loads(f.metadata()["bottlekit"])


@pytest.mark.parametrize(
    ("method", "key", "value", "message"),
    [
        (
            "topk_sae",
            "input_scale",
            0,
            r"input_scale: expected a finite number >= 1.17549e-38 and <= 1.66\d*e\+39, got 0",
        ),
        ("topk_sae", "input_scale", "x", r"input_scale: expected a finite number >= 1.17549e-38"),
        (
            "topk_sae",
            "input_scale",
            None,
            r"input_scale: expected a finite number >= 1.1.*got None",
        ),
        # before: loaded, and encode's weights (over input_scale) overflowed float32: codes
        # all 0 (the SAEs) or inf (NMF), silently
        (
            "topk_sae",
            "input_scale",
            1e-300,
            r"input_scale: expected .* >= 1.17549e-38 and <= 1.66\d*e\+39, got 1e-300",
        ),
        (
            "nmf",
            "input_scale",
            1e-300,
            r"input_scale: expected .* >= 1.17549e-38 and <= 1.66\d*e\+39, got 1e-300",
        ),
        # before: loaded, and the encoder's weights over it were 0 in float32: every
        # embedding got the same codes; float32 embeddings of d = 6 spread at most
        # 2 sqrt(6) 3.4e38 (max_input_scale)
        *[
            (m, "input_scale", 1e300, r"input_scale: expected .* and <= 1.66\d*e\+39, got 1e\+300")
            for m in ("topk_sae", "batchtopk_sae", "nmf")
        ],
        # before: loaded, and every code was 0 (no pre-activation exceeds it); the bound
        # is threshold_limit's, 2**32 (||w_j|| about 1 here)
        (
            "batchtopk_sae",
            "threshold",
            1e300,
            r"threshold: expected a finite number in \[0, 4.\d+e\+09\] \(a pre-activation "
            r"BatchTopK kept; above threshold_limit\(encoder_weight, encoder_bias\) every "
            r"code is 0\), got 1e\+300",
        ),
        ("batchtopk_sae", "threshold", 1e12, r"threshold: expected .* got 1000000000000.0"),
        ("batchtopk_sae", "threshold", -0.5, r"threshold: expected .* got -0.5"),
        ("topk_sae", "k", None, r"k: expected an int >= 1, got None"),
        ("topk_sae", "k", 0, r"k: expected an int >= 1, got 0"),
        ("topk_sae", "k", "3", r"k: expected an int >= 1, got '3'"),
        (
            "batchtopk_sae",
            "threshold",
            None,
            r"threshold: expected a finite number in \[0, 4.3\d+e\+09\] .*, got None",
        ),
        ("topk_sae", "history", "abc", r"history: expected a list of numbers, got 'abc'"),
        ("topk_sae", "params", [1], r"params: expected a dict, got \[1\]"),
        ("topk_sae", "backbone_id", 5, r"backbone_id: expected None or a non-empty string"),
    ],
)
def test_dictionary_file_with_bad_metadata_is_refused(
    dictionary_files, tmp_path, method, key, value, message
):
    tensors, meta = dictionary_files[method]
    meta = dict(meta) | {key: value}
    path = tmp_path / "d.safetensors"
    save_file(dict(tensors), str(path), metadata={"bottlekit": json.dumps(meta)})
    with pytest.raises(ValueError, match=r"d\.safetensors.*: " + message):
        ConceptDictionary.load(path)


@pytest.mark.parametrize(
    ("method", "name", "value", "message"),
    [
        ("nmf", "components", None, r"components: an NMF dictionary needs its components"),
        ("nmf", "components", np.ones((4, 3), np.float32), r"components has shape \(4, 3\)"),
        # before: loaded, then encode raised scikit-learn's "Negative values in data passed
        # to NMF (input H)"
        ("nmf", "components", -np.ones((4, 12), np.float32), r"components has negative values"),
        ("topk_sae", "codes", np.ones((3, 3), np.float32), r"codes has shape \(3, 3\)"),
        ("topk_sae", "codes", np.full((40, 4), np.nan, np.float32), r"codes contains NaN"),
        # before: loaded, and the atoms of negative codes counted as dead
        ("topk_sae", "codes", -np.ones((40, 4), np.float32), r"codes has negative values"),
        (
            "topk_sae",
            "dictionary",
            np.zeros((0, 6), np.float32),
            r"dictionary has no atoms",
        ),
        # before: loaded, and encode gave inf codes (float32 overflow in its matmul)
        (
            "topk_sae",
            "encoder_weight",
            np.full((4, 6), 3e38, np.float32),
            r"encoder_weight holds a value of magnitude 3e\+38; expected at most 2\.9\de\+18 "
            r"= sqrt\(float32 max / \(\(m \+ 1\)\(D \+ 2\)\)\) for m=4 atoms and D=6 "
            r"features: larger weights can overflow the float32 codes",
        ),
        (
            "batchtopk_sae",
            "encoder_bias",
            np.full(4, 1e30, np.float32),
            r"encoder_bias holds a value of magnitude 1e\+30; expected at most 2\.9\de\+18",
        ),
        (
            "nmf",
            "components",
            np.full((4, 12), 1e30, np.float32),
            r"components holds a value of magnitude 1e\+30; expected at most 2\.9\de\+18",
        ),
    ],
)
def test_dictionary_file_with_bad_arrays_is_refused(
    dictionary_files, tmp_path, method, name, value, message
):
    tensors, meta = dictionary_files[method]
    tensors = dict(tensors)
    if value is None:
        tensors.pop(name)
    else:
        tensors[name] = value
    path = tmp_path / "d.safetensors"
    save_file(tensors, str(path), metadata={"bottlekit": json.dumps(meta)})
    with pytest.raises(ValueError, match=r"d\.safetensors.*" + message):
        ConceptDictionary.load(path)


@pytest.mark.parametrize("method", ["topk_sae", "batchtopk_sae", "nmf"])
def test_saved_dictionaries_still_load(dictionary_files, tmp_path, method):
    tensors, meta = dictionary_files[method]
    path = tmp_path / "d.safetensors"
    save_file(dict(tensors), str(path), metadata={"bottlekit": json.dumps(meta)})
    loaded = ConceptDictionary.load(path)
    codes = loaded.encode(X[:3])
    assert codes.shape == (3, 4)
    # the file's codes are the fitted dictionary's codes of X: the SAEs' encoder is a
    # closed form (the same codes to rounding); NMF's re-solves its codes iteratively
    atol = 0.05 if method == "nmf" else 1e-6
    np.testing.assert_allclose(codes, tensors["codes"][:3], atol=atol)


@pytest.mark.parametrize(
    ("codes", "error", "message"),
    [
        (np.full((2, 4), np.nan), ValueError, r"codes contains NaN or inf"),
        ("a", TypeError, r"codes: expected a numeric array, got text values"),
        # before: numpy parsed the text and the codes were used
        (np.full((2, 4), "0.5"), TypeError, r"codes: expected a numeric array, got text values"),
    ],
)
def test_reconstruct_refuses_bad_codes(codes, error, message):
    d = _discover()
    with pytest.raises(error, match=message):
        d.reconstruct(codes)


# ------------------------------------------------------------------ decompose
@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"l1": np.nan}, r"l1: expected a finite number >= 0, got nan"),
        ({"l1": np.inf}, r"l1: expected a finite number >= 0, got inf"),
        ({"rho": np.nan, "solver": "admm"}, r"rho: expected a finite number > 0, got nan"),
        ({"rho": np.inf, "solver": "admm"}, r"rho: expected a finite number > 0, got inf"),
        ({"tol": np.nan, "solver": "admm"}, r"tol: expected a finite number >= 0, got nan"),
        ({"tol": np.nan}, r"tol: expected a finite number >= 0, got nan"),
        ({"solver": "cd"}, r"solver: expected one of \('auto', 'admm', 'lasso'\), got 'cd'"),
        ({"image_mean": np.ones((2, 3))}, r"image_mean: expected shape \(6,\), got \(2, 3\)"),
    ],
)
def test_decompose_refuses_bad_arguments(kw, message):
    with pytest.raises(ValueError, match=message):
        decompose(X, VOCAB, **kw)


def test_decompose_rho_is_admms_and_too_small_a_rho_is_named():
    # Before: torch's LinAlgError "linalg.cholesky: The factorization could not be
    # completed" for rho=1e-300, with either solver (Lasso factorised for nothing); then
    # Lasso ignored any rho, silently: it is refused there now
    message = (
        "rho: 1e-300 has no effect with solver='lasso'; it is ADMM's penalty parameter; "
        "leave it None or use solver='admm'"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        decompose(X, VOCAB, solver="lasso", rho=1e-300)
    with pytest.raises(ValueError, match=r"rho: 5\.0 has no effect with solver='auto' on the cpu"):
        decompose(X, VOCAB, rho=5.0)  # "auto" on the CPU runs Lasso
    admm = decompose(X, VOCAB, solver="admm")
    np.testing.assert_array_equal(
        decompose(X, VOCAB, solver="admm", rho=5.0).weights, admm.weights
    )
    with pytest.raises(
        ValueError, match=r"rho: 1e-300 is too small to make the vocabulary's Gram"
    ):
        decompose(X, VOCAB, solver="admm", rho=1e-300)


def test_decompose_lasso_takes_any_max_iter():
    # Before: OverflowError "Python int too large to convert to C unsigned long" from inside
    # scikit-learn for max_iter=10**30 (ADMM took it)
    ref = decompose(X, VOCAB, solver="lasso")
    big = decompose(X, VOCAB, solver="lasso", max_iter=10**30)
    np.testing.assert_array_equal(big.weights, ref.weights)
    assert big.n_iter == ref.n_iter < 1000


def test_decompose_takes_an_image_mean_of_shape_1_d():
    a = decompose(X, VOCAB, image_mean=X.mean(0))
    b = decompose(X, VOCAB, image_mean=X.mean(0, keepdims=True))
    np.testing.assert_array_equal(a.weights, b.weights)


@pytest.mark.parametrize("k", [2, 3])
def test_decompose_refuses_concepts_that_centring_leaves_no_direction(k):
    """Identical vectors all equal their mean, so they could never get weight: before,
    their weights were silently 0."""
    vocab = ConceptBank([f"v{i}" for i in range(k)], np.tile(VOCAB.vectors[:1], (k, 1)), "toy")
    with pytest.raises(ValueError, match=rf"vocabulary: {k} concept\(s\) point along the"):
        decompose(X, vocab)


def test_vocabulary_concepts_at_their_mean_by_the_images_rounding_bound():
    # The vocabulary's concepts are centred as the images, by one rule: at the mean when
    # centred to float32's rounding alone, eps * (||t|| + ||mean||), about 2.4e-7 here.
    # Before, the text side had its own absolute 1e-6, which refused two concepts 7e-7
    # from their mean (three times the bound: a direction, not rounding).
    x = np.array([[0.2, 1.0, 0.3], [0.1, -1.0, 0.5]])
    near = ConceptBank(["a", "b"], np.array([[1.0, 0.0, 0.0], [1.0, 2.4e-7, 0.0]]), "toy")
    with pytest.raises(ValueError, match=r"vocabulary: 2 concept\(s\) point along the"):
        decompose(x, near)
    apart = ConceptBank(["a", "b"], np.array([[1.0, 0.0, 0.0], [1.0, 1.4e-6, 0.0]]), "toy")
    dec = decompose(x, apart, l1=0.05)
    # centred, "b" is +e2 and "a" is -e2: image 0 leans to +e2, image 1 to -e2
    assert [n for n, _ in dec.top(0, 1)] == ["b"] and [n for n, _ in dec.top(1, 1)] == ["a"]


def test_naming_refuses_vocabulary_concepts_at_their_mean():
    # Before: centred (center=True), copies of one vector were 0 and every atom got the
    # first name with cosine 0; near copies (v and 3 v in float32) were rounding noise,
    # renormalised, and named the atoms by it, silently. decompose refused them already.
    d = _discover(backbone_id="toy")
    v = VOCAB.vectors[0]
    for vectors in (np.tile(v, (2, 1)), np.vstack([v, 3 * v])):
        vocab = ConceptBank(["a", "b"], vectors, "toy")
        with pytest.raises(
            ValueError,
            match=r"vocabulary: 2 concept\(s\) point along the vocabulary's mean \('a', 'b'\), "
            r"so centring on it \(center=True\) leaves them no direction",
        ):
            name_concepts(d, vocab)
        # the plain cosine (the reference's) has no centring to refuse
        assert len(name_concepts(d, vocab, center=False).names) == d.n_atoms - d.n_dead


# ------------------------------------------------------------------ stability
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("ab", "a: expected a numeric array, got text values"),
        (np.array([[1, "a"]], dtype=object), "a: expected a numeric array, got text values"),
        # before: numpy parsed the text and the atoms were compared
        (np.array([["1", "0"], ["0", "1"]]), "a: expected a numeric array, got text values"),
        (np.eye(2) * 1j, "a: expected real numbers, got complex values"),
    ],
)
def test_stability_names_a_non_numeric_argument(bad, message):
    with pytest.raises(TypeError, match=message):
        dictionary_stability(bad, np.eye(2))


def test_stability_of_atoms_without_dimensions_is_named():
    # Before: numpy's "zero-size array to reduction operation maximum which has no identity"
    with pytest.raises(ValueError, match=r"a: expected .* with m, d >= 1, got shape \(2, 0\)"):
        dictionary_stability(np.zeros((2, 0)), np.zeros((2, 0)))


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        # before: numpy's AxisError "axis 1 is out of bounds for array of dimension 1"
        ((np.ones(3),), ValueError, r"dictionary: expected an \(m, d\) array .*shape \(3,\)"),
        # before: UFuncTypeError "ufunc 'greater' did not contain a loop ..."
        ((np.eye(2), "0.9"), ValueError, r"threshold: expected a finite number, got '0.9'"),
        # before: no duplicate found, silently (NaN cosines compare false)
        ((np.full((2, 2), np.nan),), ValueError, r"dictionary contains NaN or inf"),
        ((np.array([["1", "0"]]),), TypeError, r"dictionary: expected a numeric array"),
    ],
)
def test_duplicate_atoms_names_a_bad_argument(args, error, message):
    with pytest.raises(error, match=message):
        duplicate_atoms(*args)


def test_duplicate_atoms_at_the_ends_of_the_float_range():
    # Before: the norms of atoms near 1e200 overflowed to inf, and those near 1e-300 fell
    # under the 1e-12 floor, so every cosine was 0 and no atom a duplicate; an all-zero
    # atom stays a duplicate of none
    a = np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.0, 0.0]])
    for scale in (1e200, 1.0, 1e-300):
        assert duplicate_atoms(a * scale).tolist() == [False, True, False, False]


def test_complex_embeddings_are_refused_not_cast():
    # numpy's cast to float drops the imaginary part with only a warning
    with pytest.raises(TypeError, match=r"X: expected real numbers, got complex values"):
        discover(X * (1 + 1j), n_concepts=4, epochs=1)


def test_checkpoint_that_is_a_folder_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"checkpoint: .* is a folder; expected a file path"):
        _discover(checkpoint=tmp_path)


@pytest.mark.parametrize("n", [-1, 1.5, True])
def test_top_refuses_a_bad_count(n):
    dec = decompose(X, VOCAB)
    with pytest.raises(ValueError, match=rf"n: expected an int >= 0, got {n!r}"):
        dec.top(0, n)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        # a non-empty string is truthy: center="no" centred, include_codes="no" included
        (lambda d, p: name_concepts(d, VOCAB, center="no"), r"center: expected True or False"),
        (
            lambda d, p: name_concepts(d, VOCAB, drop_dead=None),
            r"drop_dead: expected True or False",
        ),
        (lambda d, p: d.save(p / "d.safetensors", include_codes="no"), r"include_codes: expected"),
        (lambda d, p: _discover(progress="yes"), r"progress: expected True or False, got 'yes'"),
    ],
)
def test_flags_take_booleans_only(call, message, tmp_path):
    d = _discover(backbone_id="toy")
    with pytest.raises(TypeError, match=message):
        call(d, tmp_path)


def test_flags_take_numpy_booleans():
    d = _discover(backbone_id="toy")
    assert name_concepts(d, VOCAB, center=np.True_).names == name_concepts(d, VOCAB).names


@pytest.mark.parametrize("scale", [1e308, 1e-300])
def test_stability_of_atoms_at_the_ends_of_the_float_range(scale):
    """The norm of atoms near 1e308 overflowed (stability 0.0 for identical directions),
    that of atoms near 1e-300 underflowed to 0 ("all-zero atoms")."""
    a = np.array([[1.0, 0.0], [0.6, 0.8]])
    assert dictionary_stability(a * scale, a[::-1]) == pytest.approx(1.0, abs=1e-12)


def test_random_state_follows_the_package_rule():
    # before: a negative seed was taken silently and a numpy Generator was refused
    with pytest.raises(ValueError, match=r"random_state: expected None, an int >= 0 .*got -1"):
        _discover(random_state=-1)
    a = _discover(random_state=np.random.default_rng(2))
    b = _discover(random_state=np.random.default_rng(2))
    np.testing.assert_array_equal(a.dictionary, b.dictionary)


@pytest.mark.parametrize("method", ["topk_sae", "nmf"])
@pytest.mark.parametrize("seed", [2**32, 2**64])
def test_an_integer_seed_beyond_32_bits_is_named(method, seed):
    # Before: scikit-learn's InvalidParameterError from inside NMF for any seed >= 2**32,
    # torch's "Overflow when unpacking long long" for 2**64 (2**40 trained an SAE but no NMF)
    with pytest.raises(
        ValueError, match=r"random_state: expected None, an int in \[0, 2\*\*32 - 1\]"
    ):
        _discover(method=method, random_state=seed)
    assert _discover(method=method, random_state=2**32 - 1).n_atoms == 4


@pytest.mark.parametrize(
    ("i", "message"),
    [
        # Before: numpy's IndexError ("index 40 is out of bounds"), or for True image 1
        (40, r"i: expected an int >= -40 and <= 39, got 40"),
        ("0", r"i: expected an int >= -40 and <= 39, got '0'"),
        (True, r"i: expected an int >= -40 and <= 39, got True"),
    ],
)
def test_top_refuses_a_bad_image_index(i, message):
    dec = decompose(X, VOCAB)
    with pytest.raises(ValueError, match=message):
        dec.top(i, 2)
    assert dec.top(np.int64(-1), 2) == dec.top(39, 2)


@pytest.mark.parametrize("method", ["topk_sae", "batchtopk_sae"])
def test_diverged_sae_training_is_an_error_not_a_nan_dictionary(method, tmp_path):
    # Before: learning_rate=1e30 returned (and checkpointed) a dictionary of NaN atoms
    path = tmp_path / "sae.safetensors"
    with pytest.raises(ValueError, match=r"learning_rate: training diverged in epoch 2 .*1e\+30"):
        _discover(method=method, learning_rate=1e30, dead_after=1, checkpoint=path)
    assert not path.exists()


@pytest.mark.parametrize("method", ["topk_sae", "batchtopk_sae"])
def test_sae_sizes_beyond_int64_mean_never_and_all(method):
    # Before: torch's OverflowError "int too big to convert" (dead_after) and "Overflow
    # when unpacking long long" (batch_size); both are as large as any count can reach
    big = _discover(method=method, dead_after=10**30, batch_size=10**30)
    ref = _discover(method=method, dead_after=2 * 40 + 1, batch_size=40)
    np.testing.assert_array_equal(big.dictionary, ref.dictionary)


@pytest.mark.parametrize("method", ["topk_sae", "batchtopk_sae", "nmf"])
def test_embeddings_varying_below_float32s_normal_range_are_refused(method):
    # Before: X * 1e-40 (finite, nonzero float32) was learned, but the encoder's weights
    # over the input scale (about 2.4e-40) overflowed float32: BatchTopK's codes were inf,
    # TopK's wrong, and the named concept bank's vectors inf, silently
    with pytest.raises(ValueError, match=r"X: the embeddings vary about their mean by 2.4\de-40"):
        _discover(method=method, X=(X.astype(np.float64) * 1e-40).astype(np.float32))
    # 1e-38 is still in float32's normal range: the same atoms as X
    small = _discover(method=method, X=(X.astype(np.float64) * 1e-38).astype(np.float32))
    np.testing.assert_allclose(small.dictionary, _discover(method=method).dictionary, atol=1e-5)
    assert np.isfinite(small.codes).all()


@pytest.mark.parametrize("method", ["topk_sae", "batchtopk_sae", "nmf"])
def test_epochs_beyond_int64_are_named(method):
    # Before: the SAEs raised OverflowError "Python int too large to convert to C ssize_t"
    # from inside tqdm (the length of the range of epochs); NMF took it
    with pytest.raises(
        ValueError,
        match=r"epochs: expected an integer >= 1 and <= 9223372036854775807, got "
        r"9223372036854775808",
    ):
        _discover(method=method, epochs=2**63)


def test_embeddings_float32_cannot_hold_are_refused_not_rounded():
    # Embeddings are float32 inside discover and decompose. Before: values of 1e300 became
    # inf and were reported as "contains NaN or inf" (they are finite), and rows of 1e-300
    # became 0, so decompose returned empty weights with cosine 0, silently.
    vocab = ConceptBank(["a", "b", "c"], np.eye(3), "toy")
    with pytest.raises(ValueError, match=r"X: row 0 holds 1e\+300, beyond float32's range"):
        decompose(np.full((2, 3), 1e300), vocab)
    with pytest.raises(ValueError, match=r"X: 2 row\(s\) are nonzero but below float32's"):
        decompose(np.full((2, 3), 1e-300), vocab, image_mean=np.zeros(3))
    with pytest.raises(ValueError, match=r"image_mean: row 0 holds 1e\+300"):
        decompose(np.eye(3)[:2], vocab, image_mean=np.full(3, 1e300))
    with pytest.raises(ValueError, match=r"X: row 1 holds 1e\+39"):
        discover(np.array([[1.0, 2.0], [1e39, 0.0], [3.0, 1.0]]), 1, method="nmf")
    # zero rows stay allowed, and a true NaN is still named as one
    assert decompose(np.zeros((2, 3)), vocab, image_mean=np.zeros(3)).weights.shape == (2, 3)
    with pytest.raises(ValueError, match=r"X contains NaN or inf in 1 row"):
        decompose(np.array([[np.nan, 0.0, 1.0]]), vocab, image_mean=np.zeros(3))


@pytest.mark.parametrize("solver", ["lasso", "admm"])
def test_a_zero_row_gets_no_weights_whatever_the_image_mean(solver):
    # Before: the zero row, unit-normalised to 0 and centred, was decomposed as the
    # direction of -image_mean (weights 0.62 and 0.62 on "b" and "c" here), silently.
    vocab = ConceptBank(["a", "b", "c"], np.eye(3), "toy")
    x = np.array([[1.0, 0.2, 0.1], [0.0, 0.0, 0.0], [0.1, 1.0, 0.3]])
    mean = np.array([0.5, 0.1, 0.1])
    dec = decompose(x, vocab, l1=0.05, image_mean=mean, solver=solver)
    np.testing.assert_array_equal(dec.weights[1], np.zeros(3, np.float32))
    assert dec.cosine[1] == 0.0  # the zero embedding has no direction to reconstruct
    # the other rows are decomposed as without the zero row (ADMM to its tolerance: its
    # stopping rule averages the residuals over the rows)
    alone = decompose(x[[0, 2]], vocab, l1=0.05, image_mean=mean, solver=solver)
    np.testing.assert_allclose(dec.weights[[0, 2]], alone.weights, rtol=0, atol=1e-4)
    np.testing.assert_allclose(dec.cosine[[0, 2]], alone.cosine, rtol=0, atol=1e-6)
    assert dec.weights[0, 0] > 0.5 and dec.weights[2, 1] > 0.5


@pytest.mark.parametrize("solver", ["lasso", "admm"])
def test_zero_rows_stay_out_of_the_default_image_mean(solver):
    # Before: the default image mean averaged the zero rows in as zero vectors, so two
    # zero rows among three images shrank it to 3/5 and changed every decomposition
    # (weight of "a" on image 0: 0.93 instead of 1.02).
    vocab = ConceptBank(["a", "b", "c"], np.eye(3), "toy")
    x = np.array([[1.0, 0.2, 0.1], [0.1, 1.0, 0.3], [0.2, 0.1, 1.0]])
    padded = np.vstack([x[:1], np.zeros((2, 3)), x[1:]])
    dec = decompose(padded, vocab, l1=0.05, solver=solver)
    alone = decompose(x, vocab, l1=0.05, solver=solver)
    np.testing.assert_allclose(dec.weights[[0, 3, 4]], alone.weights, rtol=0, atol=1e-4)
    np.testing.assert_allclose(dec.cosine[[0, 3, 4]], alone.cosine, rtol=0, atol=1e-6)
    assert not dec.weights[1:3].any()
    # one image among zero rows would be centred on itself, as one image alone
    with pytest.raises(
        ValueError, match=r"needed to decompose one image \(X has 1 nonzero row of 3\)"
    ):
        decompose(padded[:3], vocab)
    assert not decompose(np.zeros((2, 3)), vocab).weights.any()


def test_one_image_needs_an_image_mean():
    # Before: one image without image_mean was centred on itself, so it decomposed to
    # nothing (weights 0, cosine reported 1.0), silently.
    vocab = ConceptBank(["a", "b", "c"], np.eye(3), "toy")
    with pytest.raises(ValueError, match=r"image_mean: needed to decompose one image"):
        decompose(np.array([[1.0, 0.2, 0.1]]), vocab)
    dec = decompose(np.array([[1.0, 0.2, 0.1]]), vocab, image_mean=np.array([0.3, 0.3, 0.3]))
    assert dec.weights.shape == (1, 3) and dec.weights[0, 0] > 0
    # nor copies of one image (one direction, any scale; zero rows aside): before, every
    # row was centred to 0 and got no concept, silently
    copies = np.array([[1.0, 0.2, 0.1], [2.0, 0.4, 0.2], [0.0, 0.0, 0.0]])
    with pytest.raises(
        ValueError, match=r"copies of one image \(X has 2 nonzero rows, all of one direction\)"
    ):
        decompose(copies, vocab)
    dec = decompose(copies, vocab, image_mean=np.array([0.3, 0.3, 0.3]))
    np.testing.assert_allclose(dec.weights[1], dec.weights[0], atol=1e-6)
    assert dec.weights[0, 0] > 0 and not dec.weights[2].any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_near_copies_of_one_image_need_an_image_mean(dtype):
    # Before: rows of one direction but for float32's rounding (x and 3 x; x and
    # x (1 + 1e-7 r), given in float32 or float64: X is float32 inside) passed the 1e-9
    # check of copies; centred on their own mean to vectors of about 1e-8, rounding alone,
    # they were renormalised and decomposed as a concept mix of noise, silently.
    rng = np.random.default_rng(0)
    vocab = ConceptBank([f"c{i}" for i in range(8)], rng.normal(size=(8, 16)), "toy")
    x = rng.normal(size=16)
    near = np.vstack([x, 3 * x, x * (1 + 1e-7 * rng.normal(size=16)), np.zeros(16)])
    with pytest.raises(
        ValueError,
        match=r"copies of one image \(X has 3 nonzero rows, all of one direction\): "
        r"centred on its own mean, the image is 0 up to float32 rounding",
    ):
        decompose(near.astype(dtype), vocab)
    # with an image mean they are decomposed as the copies they are
    mean = 0.3 * rng.normal(size=16)
    dec = decompose(near.astype(dtype), vocab, l1=0.05, image_mean=mean)
    assert dec.weights[0].any() and not dec.weights[3].any()
    np.testing.assert_allclose(dec.weights[1:3], dec.weights[[0, 0]], rtol=0, atol=1e-4)
    # rows further apart than rounding are decomposed, by their own mean
    apart = np.vstack([x, x * (1 + 1e-4 * rng.normal(size=16))]).astype(dtype)
    assert decompose(apart, vocab, l1=0.05).weights.any(1).all()


@pytest.mark.parametrize("solver", ["lasso", "admm"])
def test_a_row_at_the_image_mean_up_to_rounding_gets_no_weights(solver):
    # A row exactly at image_mean is centred to 0 and gets no weight; before, one at it
    # up to float32's rounding (the mean given as the row's unit vector) was centred to
    # about 1e-8, renormalised and decomposed as a concept mix of noise.
    rng = np.random.default_rng(1)
    vocab = ConceptBank([f"c{i}" for i in range(8)], rng.normal(size=(8, 16)), "toy")
    x = rng.normal(size=(2, 16))
    mean = x[0] / np.linalg.norm(x[0])
    dec = decompose(x.astype(dtype=np.float32), vocab, l1=0.05, image_mean=mean, solver=solver)
    np.testing.assert_array_equal(dec.weights[0], np.zeros(8, np.float32))
    assert dec.cosine[0] == pytest.approx(1.0, abs=1e-6)
    assert dec.weights[1].any()


def test_the_rounding_bound_of_a_centred_row():
    # a centred row counts as rounding alone at most float32's eps * (||row|| + ||mean||),
    # the bound itself included
    torch = pytest.importorskip("torch")
    from bottlekit.concepts.discovery._checks import at_mean

    eps = float(np.finfo(np.float32).eps)
    rows = torch.tensor([[1.0, 0.0, 0.0]] * 4, dtype=torch.float64)
    mean = torch.tensor([0.0, 0.0, 2.0], dtype=torch.float64)  # ||mean|| = 2: bound 3 eps
    centred = torch.tensor([[0.0, 0.99, 0.0], [0.0, 1.01, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    centred = centred.to(torch.float64) * 3 * eps
    assert at_mean(centred, rows, mean).tolist() == [True, False, True, True]
    assert not at_mean(centred, rows, mean * 0.99)[3]


def test_out_of_range_rows_of_a_tensor_that_requires_grad_are_named():
    # Before: RuntimeError "Can't call numpy() on Tensor that requires grad" from torch,
    # raised while the check looked up the refused row to name it.
    import torch

    vocab = ConceptBank(["a", "b"], np.eye(2, 3), "toy")
    big = torch.tensor(
        [[1e300, 0.0, 1.0], [1.0, 2.0, 3.0]], dtype=torch.float64, requires_grad=True
    )
    with pytest.raises(ValueError, match=r"X: row 0 holds 1e\+300, beyond float32's range"):
        decompose(big, vocab, image_mean=np.zeros(3))
    tiny = torch.tensor(
        [[1.0, 2.0, 3.0], [1e-300, 0.0, 0.0]], dtype=torch.float64, requires_grad=True
    )
    with pytest.raises(ValueError, match=r"X: 1 row\(s\) are nonzero but below .* row 1\)"):
        discover(tiny, 1, epochs=2, random_state=0)


def test_integers_beyond_float64_are_named():
    # Before: OverflowError "int too large to convert to float" from numpy, no argument.
    with pytest.raises(ValueError, match=r"X: expected numbers that a float64 can hold, got an"):
        discover([[10**400, 1.0], [1.0, 2.0]], 1, epochs=2, random_state=0)


def test_an_image_mean_that_requires_grad_or_is_ragged_is_read_or_named():
    # Before: np.shape/np.reshape of the mean raised torch's "Can't call numpy() on Tensor
    # that requires grad", and of a ragged list numpy's "inhomogeneous shape", unnamed.
    import torch

    vocab = ConceptBank(["a", "b", "c"], np.eye(3), "toy")
    x, mean = np.array([[1.0, 0.2, 0.1]]), np.array([0.3, 0.3, 0.3])
    expected = decompose(x, vocab, image_mean=mean).weights
    got = decompose(x, vocab, image_mean=torch.tensor(mean, requires_grad=True)).weights
    np.testing.assert_array_equal(got, expected)
    with pytest.raises(TypeError, match=r"image_mean: expected a numeric array, got list"):
        decompose(x, vocab, image_mean=[[0.3, 0.3], [0.3]])


@pytest.mark.parametrize("method", ["topk_sae", "batchtopk_sae", "nmf"])
@pytest.mark.parametrize(
    ("data", "what"),
    [
        (np.zeros((40, 6), np.float32), "has 40 rows, all zero"),
        (np.tile(X[:1], (40, 1)), "has 40 rows, all equal"),
        (X[:1], "has a single row"),
    ],
)
def test_discover_refuses_embeddings_with_nothing_to_learn(method, data, what):
    # Before: the SAEs returned their random starting atoms with every code 0, NMF atoms of
    # norm 0 (every method centres X on its mean, which leaves identical rows 0), silently
    message = (
        f"X {what}: every method centres X on its mean, which leaves these rows 0 and no "
        "direction to learn; expected the embeddings of different images"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        discover(data, 1, method=method, epochs=2, random_state=0)


@pytest.mark.parametrize("method", ["topk_sae", "batchtopk_sae", "nmf"])
def test_discover_takes_zero_rows_among_others(method):
    # no method normalises rows (decompose takes zero rows too): a zero embedding is a
    # point like any other
    data = np.vstack([X, np.zeros((2, 6), np.float32)])
    k = {} if method == "nmf" else {"k": 2}  # NMF has no k
    d = discover(data, 4, method=method, epochs=2, random_state=0, **k)
    np.testing.assert_allclose(np.linalg.norm(d.dictionary, axis=1), 1.0, rtol=1e-5)
    assert d.codes.shape == (42, 4) and np.isfinite(d.codes).all()


@pytest.mark.parametrize("method", ["topk_sae", "batchtopk_sae", "nmf"])
def test_discover_refuses_rows_equal_up_to_float32_rounding(method):
    # Before: the check of equal rows was exact, so rows x (1 + 1e-7 r) (equal but for
    # float32's rounding) passed it; centred on their mean they were rounding error alone,
    # and every method learned atoms of that noise, silently. The rule is decompose's
    # (at_mean): centred, a row is rounding when its norm is at most
    # 2**-23 (||row|| + ||mean||).
    rng = np.random.default_rng(0)
    x = rng.normal(size=6)
    near = (x * (1 + 1e-7 * rng.normal(size=(40, 6)))).astype(np.float32)
    assert (near != near[0]).any()
    message = (
        "X has 40 rows, all equal up to float32 rounding (each within 2**-23 (||row|| + "
        "||mean||) of their mean, the rule of decompose): every method centres X on its "
        "mean, which leaves these rows 0 up to rounding and no direction to learn; expected "
        "the embeddings of different images"
    )
    k = None if method == "nmf" else 2  # (k has no effect with NMF: refused)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        discover(near, 4, method=method, k=k, epochs=2, random_state=0)
    # rows 1e-5 apart (relative) are a direction, not rounding: learned from
    apart = (x * (1 + 1e-5 * rng.normal(size=(40, 6)))).astype(np.float32)
    d = discover(apart, 4, method=method, k=k, epochs=2, random_state=0)
    assert d.codes.shape == (40, 4) and d.codes.any()


@pytest.mark.parametrize("where", [0, 63, 64, 191, 192, 999])
def test_the_checks_of_nothing_to_learn_scan_every_chunk(where):
    # discover's checks of equal rows and of rows at their mean read X in chunks that
    # double from 64 rows (so that different images stop the scan after 64 rows): a
    # single row off the others is found in the first chunk, at its edges, or in the last
    from bottlekit.concepts.discovery.discover import _check_not_constant

    rng = np.random.default_rng(1)
    x = rng.normal(size=6)
    equal = np.tile(x.astype(np.float32), (1000, 1))
    near = (x * (1 + 1e-8 * rng.normal(size=(1000, 6)))).astype(np.float32)
    assert (near != near[0]).any()
    with pytest.raises(ValueError, match=r"^X has 1000 rows, all equal: "):
        _check_not_constant(equal)
    with pytest.raises(ValueError, match=r"^X has 1000 rows, all equal up to float32 "):
        _check_not_constant(near)
    for rows in (equal, near):
        rows = rows.copy()
        rows[where] = x[::-1]  # one row elsewhere: a direction to learn
        _check_not_constant(rows)  # passes
        _check_not_constant(rows, rows.mean(0, dtype=np.float64))


# ----------------------------------------------- ConceptDictionary in memory
def _fields(**changes):
    rng = np.random.default_rng(3)
    atoms = rng.normal(size=(4, 6)).astype(np.float32)
    fields = {
        "method": "topk_sae",
        "dictionary": atoms,
        "encoder_weight": atoms.copy(),
        "encoder_bias": np.zeros(4, np.float32),
        "pre_bias": np.zeros(6, np.float32),
        "input_scale": 1.0,
        "k": 2,
    }
    return fields | changes


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"method": "pca"}, ValueError, r"method: expected one of \('topk_sae', "),
        (
            {"dictionary": np.full((4, 6), np.nan, np.float32)},
            ValueError,
            r"^dictionary contains NaN or inf$",
        ),
        (
            {"encoder_weight": np.ones((4, 5), np.float32)},
            ValueError,
            r"^encoder_weight has shape \(4, 5\), not \(4, 6\)$",
        ),
        ({"pre_bias": np.zeros(5)}, ValueError, r"^pre_bias has shape \(5,\), not \(6,\)$"),
        ({"encoder_bias": "0"}, TypeError, r"encoder_bias: expected a numeric array"),
        ({"k": 5}, ValueError, r"k: expected at most the dictionary's 4 atoms, got 5"),
        ({"k": None}, ValueError, r"k: expected an int >= 1, got None"),
        (
            {"input_scale": 0.0},
            ValueError,
            r"input_scale: expected a finite number >= 1.17549e-38",
        ),
        (
            {"method": "batchtopk_sae", "threshold": 1e300},
            ValueError,
            r"threshold: expected a finite number in \[0, \d.\d+e\+\d+\] .*got 1e\+300",
        ),
        ({"method": "nmf"}, ValueError, r"components: an NMF dictionary needs its components"),
        ({"codes": np.ones((3, 5))}, ValueError, r"codes has shape \(3, 5\), not \(3, 4\)"),
        ({"backbone_id": ""}, ValueError, r"backbone_id: expected None or a non-empty string"),
        ({"history": [1.0, "x"]}, ValueError, r"history: expected a list of numbers"),
        ({"params": None}, ValueError, r"params: expected a dict, got None"),
        # before: taken, and save raised TypeError "Object of type int64 is not JSON
        # serializable"; negative codes made their atoms count as dead
        (
            {"params": {"seed": np.int64(1)}},
            ValueError,
            r"params: expected a dict that JSON can store .*int64 is not JSON serializable",
        ),
        (
            {"codes": -np.ones((3, 4))},
            ValueError,
            r"^codes has negative values; expected the codes of an encoder, >= 0$",
        ),
    ],
)
def test_a_dictionary_built_in_memory_is_checked_as_a_file_is(changes, error, message):
    # Before: the constructor took all of these (only ConceptDictionary.load checked), and
    # they failed, or gave wrong codes (a NaN atom, a threshold above every pre-activation),
    # only when used.
    with pytest.raises(error, match=message):
        ConceptDictionary(**_fields(**changes))


def test_a_dictionary_just_below_the_magnitude_limit_gives_finite_codes():
    # the limit is enough: every encoder array at 0.999 of it, of the signs that add up,
    # and scaled embeddings of entries +-1, the worst case, give finite float32 codes
    from bottlekit._arrays import magnitude_limit

    big = 0.999 * magnitude_limit(4, 6)
    d = ConceptDictionary(
        **_fields(
            encoder_weight=np.full((4, 6), big, np.float32),
            encoder_bias=np.full(4, big, np.float32),
            pre_bias=np.full(6, -big, np.float32),
        )
    )
    codes = d.encode(np.ones((2, 6), np.float32))
    assert np.isfinite(codes).all() and codes.max() > 1e37


def test_a_valid_dictionary_built_in_memory_keeps_its_arrays():
    f = _fields(encoder_bias=np.zeros(4), pre_bias=[0, 0, 0, 0, 0, 0], history=(1, 0.5))
    d = ConceptDictionary(**f)
    # floats as given (float64 here), integers and lists as float32, history as a list
    assert d.dictionary is f["dictionary"] and d.encoder_bias.dtype == np.float64
    assert d.pre_bias.dtype == np.float32 and d.history == [1.0, 0.5]
    np.testing.assert_array_equal(d.encode(X[:2]), ConceptDictionary(**_fields()).encode(X[:2]))


@pytest.mark.parametrize("center", [False, True])
def test_naming_keeps_names_distinct_when_the_vocabulary_holds_a_suffixed_name(center):
    # Atom 0 is closest to "dog", atom 1 chooses "dog" too (less close), and atom 2 is
    # closest to the vocabulary's own "dog [atom 1]". Before: atom 1's suffixed name was
    # that same name, and the bank raised "names has duplicate name 'dog [atom 1]'".
    atoms = np.eye(3, 6, dtype=np.float32)
    d = ConceptDictionary(
        "topk_sae", atoms, atoms, np.zeros(3, np.float32), np.zeros(6, np.float32), 1.0, k=1
    )
    e = np.eye(6)
    vocab = ConceptBank(
        ["dog", "dog [atom 1]", "x", "y", "z"], np.vstack([e[0] + 0.5 * e[1], e[2:]]), "toy"
    )
    bank = name_concepts(d, vocab, center=center)
    assert bank.names == ["dog", "dog [atom 1] (2)", "dog [atom 1]"]
    assert [p["name"] for p in bank.provenance] == ["dog", "dog", "dog [atom 1]"]


def test_patch_tokens_of_three_axes_are_refused_with_the_reshape_that_fits():
    # encode_image_tokens gives (n images, p tokens, d); discover, encode and decompose
    # take one embedding per row. Before: the shape alone, without the reshape.
    tokens = RNG.normal(size=(5, 8, 6)).astype(np.float32)
    message = (
        r"X: expected a 2-D array of shape \(n, d\), got shape \(5, 8, 6\) \(patch tokens "
        r"of shape \(n, p, d\): pass them one per row, X.reshape\(-1, 6\)\)"
    )
    with pytest.raises(ValueError, match=message):
        discover(tokens, 4, epochs=1, random_state=0)
    with pytest.raises(ValueError, match=message):
        _discover().encode(tokens)
    with pytest.raises(ValueError, match=message):
        decompose(tokens, VOCAB)
    # one token per row is taken
    assert _discover(X=tokens.reshape(-1, 6)).codes.shape == (40, 4)
    with pytest.raises(ValueError, match=r"got shape \(40,\)$"):
        discover(X[:, 0], 4, epochs=1)


def test_a_dictionary_saved_without_codes_keeps_its_dead_atoms(tmp_path):
    # Before: saved without its codes (the default), the loaded dictionary counted no atom
    # dead, and name_concepts (drop_dead=True) named the dead atoms too, silently.
    d = discover(X, 16, k=1, epochs=2, random_state=0, backbone_id="toy")
    assert d.n_dead == 1
    loaded = ConceptDictionary.load(d.save(tmp_path / "d.safetensors"))
    assert loaded.codes is None and loaded.dead_atoms == np.flatnonzero(d.dead).tolist()
    np.testing.assert_array_equal(loaded.dead, d.dead)
    assert name_concepts(loaded, VOCAB).names == name_concepts(d, VOCAB).names
    # and a dictionary whose training codes are unknown counts none
    unknown = ConceptDictionary(**vars(d) | {"codes": None})
    assert unknown.n_dead == 0 and len(name_concepts(unknown, VOCAB).names) == 16


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([16], r"dead_atoms: expected None or a list of atom indices in \[0, 4\), got \[16\]"),
        ("0", r"dead_atoms: expected None or a list of atom indices in \[0, 4\), got 0"),
        ([1, 1], r"dead_atoms: expected distinct atom indices, got \[1, 1\]"),
        ([0], r"dead_atoms: \[0\] disagrees with the codes, whose atoms that never fire are"),
    ],
)
def test_dictionary_file_with_bad_dead_atoms_is_refused(
    dictionary_files, tmp_path, value, message
):
    tensors, meta = dictionary_files["topk_sae"]
    path = tmp_path / "d.safetensors"
    save_file(
        dict(tensors), str(path), metadata={"bottlekit": json.dumps(meta | {"dead_atoms": value})}
    )
    with pytest.raises(ValueError, match=r"d\.safetensors.*: " + message):
        ConceptDictionary.load(path)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("k", 2),
        ("batch_size", 256),
        ("learning_rate", 1e-3),
        ("dead_after", 40),
        ("init", "random"),
        ("encoder", "learned"),
        ("checkpoint_every", 10),
    ],
)
def test_nmf_refuses_the_sparse_autoencoders_settings(name, value):
    # before: NMF ignored them, silently (and recorded k, batch_size and learning_rate in
    # the dictionary's params as if used); their defaults could not be told from a value
    message = (
        f"{name}: {value!r} has no effect with method='nmf' (a setting of the sparse "
        "autoencoders); leave it None or use method='topk_sae' or 'batchtopk_sae'"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        _discover(method="nmf", **{name: value})


def test_sae_settings_none_are_the_documented_defaults():
    explicit = {"batch_size": 256, "learning_rate": 1e-3, "init": "random"}
    explicit |= {"encoder": "learned", "checkpoint_every": 10}
    for method in ("topk_sae", "batchtopk_sae"):
        a, b = _discover(method=method), _discover(method=method, **explicit)
        np.testing.assert_array_equal(a.dictionary, b.dictionary)
        np.testing.assert_array_equal(a.codes, b.codes)
        assert a.params == b.params
    nmf = _discover(method="nmf")  # the params it records are unchanged
    assert (nmf.params["batch_size"], nmf.params["learning_rate"]) == (256, 1e-3)
    assert nmf.params["k"] == 1 and "init" not in nmf.params


def test_a_dictionary_whose_metadata_load_would_refuse_is_not_saved(tmp_path, monkeypatch):
    # Before: save wrote any header; a history or params over MAX_HEADER_VALUES (or
    # MAX_HEADER_BYTES) was written, then refused by ConceptDictionary.load and lost.
    from bottlekit import safetensors_file

    d = ConceptDictionary(**_fields(history=[0.5] * 200))
    path = tmp_path / "d.safetensors"
    monkeypatch.setattr(safetensors_file, "MAX_HEADER_VALUES", 150)
    with pytest.raises(
        ValueError,
        match=rf"^concept dictionary not saved to '{path}': its metadata \(the dictionary's "
        r"history, parameters and backbone id\) would be refused when loaded.*: the file's "
        r"header may hold \d+ JSON values .*at most 150 are accepted \(MAX_HEADER_VALUES\)$",
    ):
        d.save(path)
    assert list(tmp_path.iterdir()) == []
    short = ConceptDictionary(**_fields(history=[0.5] * 20))
    assert ConceptDictionary.load(short.save(path)).history == [0.5] * 20


def test_an_sae_checkpoint_that_resume_would_refuse_is_not_written(tmp_path, monkeypatch):
    # Before: the checkpoint was written with safetensors' save, unchecked; one whose
    # header read_safetensors refuses (MAX_HEADER_VALUES, MAX_HEADER_BYTES) was left for
    # the next run to refuse. Beyond MAX_HEADER_VALUES takes about a million epochs of
    # loss history, so the bound is lowered here.
    from bottlekit import safetensors_file

    path = tmp_path / "ck.safetensors"
    monkeypatch.setattr(safetensors_file, "MAX_HEADER_VALUES", 60)
    with pytest.raises(
        ValueError,  # FileTooLarge
        match=rf"^SAE checkpoint not saved to '{re.escape(str(path))}': its metadata \(the "
        r"run's loss history, Adam steps and configuration\) would be refused when loaded, "
        r"so the file could not be read back: the file's header may hold \d+ JSON values "
        r".*at most 60 are accepted \(MAX_HEADER_VALUES\)$",
    ):
        _discover(checkpoint=path)
    assert list(tmp_path.iterdir()) == []
