"""Hostile inputs to the public estimators: clear errors naming the argument.

Each case gave, before, an error from deep inside (numpy, torch, scipy) or a silent wrong
result: the comment above each group says which.
"""

import re
import warnings

import numpy as np
import pytest
import torch

from bottlekit.estimators import (
    AutoencoderCompressor,
    CompressedMutualInformation,
    GaussianNoise,
    NeuralMutualInformation,
    binned_information,
    conditional_cs_divergence,
    conditional_mutual_information,
    cs_divergence,
    cs_qmi,
    entropy,
    gaussian_cs_divergence,
    gaussian_encoder_conditional_mi,
    gaussian_mi_from_correlations,
    gaussian_rowsums,
    gaussian_rowsums_torch,
    hsic,
    kernel_width,
    mutual_information,
)

rng = np.random.default_rng(0)
X = rng.standard_normal((60, 2))
Y = X[:, :1] + 0.5 * rng.standard_normal((60, 1))
LABELS = (X[:, 0] > 0).astype(int)
MI_METHODS = ["ksg", "ksg_discrete", "ksg_mixed", "gaussian", "binning", "renyi"]


def _y(method):
    return LABELS if method == "ksg_discrete" else Y


# ---------------------------------------------------------------- samples (as_2d_samples)
# before: complex values lost their imaginary part with only a ComplexWarning; text was
# parsed ("0.5" became 0.5); a tensor on the meta device raised torch's NotImplementedError
@pytest.mark.parametrize("method", MI_METHODS)
def test_mutual_information_refuses_complex_text_and_meta(method):
    with pytest.raises(TypeError, match=r"X must hold real numbers, got complex values"):
        mutual_information(X + 1j, _y(method), method=method)
    with pytest.raises(TypeError, match=r"X must be a numeric array, got text values"):
        mutual_information(X.astype(str), _y(method), method=method)
    with pytest.raises(ValueError, match=r"X is a tensor on the 'meta' device"):
        mutual_information(torch.empty(60, 2, device="meta"), _y(method), method=method)


@pytest.mark.parametrize("method", ["kl", "gaussian", "binning", "renyi"])
def test_entropy_refuses_complex(method):
    with pytest.raises(TypeError, match=r"X must hold real numbers"):
        entropy(X + 1j, method=method)


@pytest.mark.parametrize(
    "f, args",
    [
        (cs_divergence, (X, X + 1)),
        (cs_qmi, (X, Y)),
        (conditional_cs_divergence, (X, Y, X + 0.1, Y)),
    ],
)
def test_cauchy_schwarz_refuses_complex_and_meta(f, args):
    with pytest.raises(TypeError, match=r"X1? must hold real numbers"):
        f(*[a + 1j for a in args])
    # before: torch's "Tensor.item() cannot be called on meta tensors"
    with pytest.raises(ValueError, match=r"X1? is a tensor on the 'meta' device"):
        f(*[torch.empty(a.shape, device="meta") for a in args])
    with pytest.raises(TypeError, match=r"X1? must hold real numbers, got a complex tensor"):
        f(*[torch.tensor(a + 1j) for a in args])


def test_hsic_refuses_complex():
    with pytest.raises(TypeError, match=r"X must hold real numbers"):
        hsic(X + 1j, Y)


def test_real_inputs_of_every_kind_still_work():
    ref = mutual_information(X, Y, random_state=0)
    ro = X.copy()
    ro.setflags(write=False)
    assert mutual_information(ro[:, ::-1][:, ::-1], Y, random_state=0) == ref
    assert mutual_information(torch.tensor(X, requires_grad=True), Y, random_state=0) == ref
    assert mutual_information(X.tolist(), Y[:, 0].tolist(), random_state=0) == ref
    bools = mutual_information(X > 0, Y, method="gaussian")
    assert np.isfinite(bools)
    assert bools == pytest.approx(mutual_information((X > 0) * 1.0, Y, method="gaussian"))


# ---------------------------------------------------------------- flags (check_bool)
# before: any value was taken by its truth value ("no" is true, None is false)
@pytest.mark.parametrize(
    "call, name",
    [
        (lambda v: mutual_information(X, Y, standardize=v), "standardize"),
        (
            lambda v: mutual_information(X, LABELS, method="ksg_discrete", standardize=v),
            "standardize",
        ),
        (lambda v: mutual_information(X, Y, copula=v), "copula"),
        (lambda v: mutual_information(X, Y, method="ksg_mixed", standardize=v), "standardize"),
        (lambda v: mutual_information(X, Y, method="ksg_mixed", copula=v), "copula"),
        (lambda v: conditional_mutual_information(X, Y, X[:, 1], copula=v), "copula"),
        (
            lambda v: mutual_information(X, Y, method="gaussian", bias_correction=v),
            "bias_correction",
        ),
        (
            lambda v: conditional_mutual_information(
                X, Y, X[:, 1], method="gaussian", bias_correction=v
            ),
            "bias_correction",
        ),
        (lambda v: mutual_information(X, Y, method="binning", miller_madow=v), "miller_madow"),
        (lambda v: entropy(X, method="binning", miller_madow=v), "miller_madow"),
        (lambda v: GaussianNoise(0.1, relative=v), "relative"),
        (
            lambda v: gaussian_encoder_conditional_mi(X, np.ones_like(X), LABELS, jensen=v),
            "jensen",
        ),
        (lambda v: CompressedMutualInformation("pca", discrete_y=v).fit(X, Y), "discrete_y"),
        (lambda v: NeuralMutualInformation(copula=v, max_steps=2).fit(X, Y), "copula"),
    ],
)
@pytest.mark.parametrize("value", ["no", None])
def test_flags_must_be_bools(call, name, value):
    with pytest.raises(TypeError, match=rf"{name}: expected True or False, got {value!r}"):
        call(value)


def test_ksg_algorithm_true_is_not_algorithm_1():
    # before: True == 1, so algorithm=True ran algorithm 1
    with pytest.raises(ValueError, match=r"algorithm must be 1 or 2, got True"):
        mutual_information(X, Y, algorithm=True)


# ---------------------------------------------------------------- n_jobs, random_state
@pytest.mark.parametrize("method", ["ksg", "ksg_discrete", "ksg_mixed"])
@pytest.mark.parametrize("n_jobs", [0, 1.5, "all", True])
def test_n_jobs_must_be_a_nonzero_integer(method, n_jobs):
    # before: 0 and 1.5 were accepted (as one thread), "all" raised int()'s message
    with pytest.raises(ValueError, match=r"n_jobs must be None or a nonzero integer"):
        mutual_information(X, _y(method), method=method, n_jobs=n_jobs)


def test_negative_n_jobs_means_all_cores():
    one = mutual_information(X, Y, n_jobs=-1, random_state=0)
    assert one == mutual_information(X, Y, n_jobs=-2, random_state=0)


@pytest.mark.parametrize(
    "call",
    [
        lambda rs: mutual_information(X, Y, random_state=rs),
        lambda rs: entropy(X, random_state=rs),
        lambda rs: hsic(X, Y, test="permutation", n_permutations=5, random_state=rs),
    ],
)
def test_negative_seed_is_named(call):
    # before: numpy's "expected non-negative integer"
    with pytest.raises(ValueError, match=r"random_state must be None, an int >= 0 .*got -1"):
        call(-1)


def test_kernel_width_names_a_bad_random_state():
    # before: numpy's "SeedSequence expects int or sequence of ints for entropy not x"
    big = rng.standard_normal((5000, 1))
    with pytest.raises(TypeError, match=r"random_state must be None, an int"):
        kernel_width(big, "median", random_state="x")


@pytest.mark.parametrize(
    "f, args",
    [
        (cs_divergence, (X, X + 1)),
        (cs_qmi, (X, Y)),
        (conditional_cs_divergence, (X, Y, X + 0.1, Y)),
    ],
)
@pytest.mark.parametrize("seed", ["x", -1])
def test_cauchy_schwarz_approximation_checks_the_seed_on_small_inputs(f, args, seed):
    # before: checked (by numpy, without the parameter's name) only on inputs large enough
    # for the sampling to run; ignored on small ones
    with pytest.raises((TypeError, ValueError), match=r"random_state must be None"):
        f(*args, approximation="random_tiles", random_state=seed)


# ---------------------------------------------------------------- labels
def test_nan_labels_are_refused():
    # before: np.unique made one class of the NaNs and the estimate was returned
    y = np.where(LABELS == 1, np.nan, 0.0)
    n_nan = int(np.isnan(y).sum())
    with pytest.raises(ValueError, match=rf"y contains {n_nan} NaN or infinite label\(s\)"):
        mutual_information(X, y, method="ksg_discrete")


# ---------------------------------------------------------------- closed forms
@pytest.mark.parametrize(
    "args, error, match",
    [
        # before: nan
        (([np.nan], [[1.0]], [0.0], [[1.0]]), ValueError, r"mu1 contains NaN or infinite"),
        (([0.0], [[np.inf]], [0.0], [[1.0]]), ValueError, r"cov1 contains NaN or infinite"),
        # before: numpy's "could not convert string to float: 'a'"
        ((["a"], [[1.0]], [0.0], [[1.0]]), TypeError, r"mu1 must be a numeric array"),
    ],
)
def test_gaussian_cs_divergence_bad_inputs(args, error, match):
    with pytest.raises(error, match=match):
        gaussian_cs_divergence(*args)


@pytest.mark.parametrize("rho", [1.5, -2.0, np.nan, [0.5, 1.1]])
def test_gaussian_mi_from_correlations_refuses_non_correlations(rho):
    # before: nan with a RuntimeWarning
    with pytest.raises(ValueError, match=r"rho must hold correlations in \[-1, 1\]"):
        gaussian_mi_from_correlations(rho)


def test_gaussian_mi_from_correlations_values():
    assert gaussian_mi_from_correlations([0.6]) == pytest.approx(-0.5 * np.log(0.64))
    assert gaussian_mi_from_correlations(1.0) == np.inf  # perfectly correlated: infinite MI
    with pytest.raises(TypeError, match="rho must be a numeric array"):
        gaussian_mi_from_correlations("a")


# ---------------------------------------------------------------- kernel row sums
@pytest.mark.parametrize("f", [gaussian_rowsums, gaussian_rowsums_torch])
@pytest.mark.parametrize("sigma", [0.0, -1.0, np.nan])
def test_gaussian_rowsums_checks_sigma(f, sigma):
    # before: an array of NaN (sigma 0 or NaN) or sums at |sigma| (negative sigma)
    A = torch.tensor(X) if f is gaussian_rowsums_torch else X
    with pytest.raises(ValueError, match=r"sigma must be a finite number > 0"):
        f(A, A, sigma)


def test_gaussian_rowsums_checks_shapes_and_values():
    # before: torch's "Sizes of tensors must match", "Dimension out of range", NaN sums,
    # and for the torch version on arrays "'numpy.ndarray' object has no attribute 'detach'"
    with pytest.raises(ValueError, match=r"A and B must have the same number of columns"):
        gaussian_rowsums(X, Y, 1.0)
    with pytest.raises(ValueError, match=r"A contains 1 NaN"):
        gaussian_rowsums(np.r_[X, [[np.nan, 0.0]]], X, 1.0)
    with pytest.raises(TypeError, match=r"A must be a torch.Tensor, got ndarray"):
        gaussian_rowsums_torch(X, X, 1.0)
    with pytest.raises(ValueError, match=r"A and B must have the same number of columns"):
        gaussian_rowsums_torch(torch.tensor(X), torch.tensor(Y), 1.0)
    a = np.array([0.0, 1.0])  # 1-D: one coordinate, like every estimator
    np.testing.assert_allclose(gaussian_rowsums(a, a, 1.0), 1 + np.exp(-0.5))


# ---------------------------------------------------------------- binned information
@pytest.mark.parametrize("n_bins, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError)])
def test_binned_information_checks_n_bins(n_bins, error):
    # before: ZeroDivisionError for 0, (0.0, 0.0) silently for -1 and 1.5
    with pytest.raises(error, match=r"n_bins must be an integer >= 1"):
        binned_information(X, Y, LABELS, n_bins=n_bins)


def test_binned_information_checks_the_layer():
    # before: NaN activations fell into a bin (with a RuntimeWarning) and lengths were not
    # compared
    with pytest.raises(ValueError, match=r"T contains 1 NaN"):
        binned_information(X, np.r_[Y[:-1], [[np.nan]]], LABELS)
    with pytest.raises(ValueError, match=r"X, T and y must have the same number of samples"):
        binned_information(X, Y[:-1], LABELS)


# ---------------------------------------------------------------- neural and compressed
@pytest.mark.parametrize(
    "params, match",
    [
        # before: accepted, silently changing the bound
        ({"ma_rate": 2.0}, r"ma_rate must be a number > 0 and <= 1"),
        ({"clip": -1.0}, r"clip must be a number > 0"),
        # before: torch's "Expected state_dict to be dict-like, got NoneType"
        ({"score_bound": 0.0}, r"score_bound must be None or a number > 0"),
    ],
)
def test_neural_parameters_are_checked(params, match):
    with pytest.raises(ValueError, match=match):
        NeuralMutualInformation(max_steps=2, **params).fit(X, Y)


def test_compressor_options_must_be_a_dict():
    with pytest.raises(TypeError, match=r"compressor_options must be None or a dict"):
        CompressedMutualInformation(compressor_options="x").fit(X, Y)


def test_autoencoder_refuses_complex():
    with pytest.raises(TypeError, match=r"X must hold real numbers"):
        AutoencoderCompressor(epochs=1).fit(X + 1j)


# ---------------------------------------------------------------- information planes
def _plane_model():
    return torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))


@pytest.mark.parametrize(
    "params, error, match",
    [
        # before: accepted here; the first record(), inside the user's training loop, then
        # raised ZeroDivisionError / range()'s "arg 3 must not be zero" / k-NN errors
        ({"n_bins": 0}, ValueError, r"n_bins must be an integer >= 1, got 0"),
        ({"batch_size": 0}, ValueError, r"batch_size must be an integer >= 1, got 0"),
        ({"estimator": "ksg", "k": 0}, ValueError, r"k must be an integer >= 1, got 0"),
        ({"estimator": "ksg", "compress_dim": 0}, ValueError, r"compress_dim must be an integer"),
        # before: taken by its truth value
        ({"discrete_y": "no"}, TypeError, r"discrete_y: expected True or False, got 'no'"),
    ],
)
def test_information_plane_checks_its_parameters_when_built(params, error, match):
    from bottlekit.estimators import InformationPlane

    with pytest.raises(error, match=match):
        InformationPlane(_plane_model(), ["1"], X.astype(np.float32), LABELS, **params)


def test_information_plane_checks_its_probe_data_when_built():
    from bottlekit.estimators import CompressedInformationPlane, InformationPlane

    # before: complex probes lost their imaginary part (ComplexWarning); NaN targets failed
    # at the first record()
    with pytest.raises(TypeError, match=r"X must hold real numbers"):
        InformationPlane(_plane_model(), ["1"], X + 1j, LABELS)
    y_nan = np.r_[Y[:-1, 0], np.nan]
    with pytest.raises(ValueError, match=r"y: contains NaN or inf"):
        InformationPlane(_plane_model(), ["1"], X, y_nan, estimator="ksg")
    with pytest.raises(TypeError, match=r"X must hold real numbers"):
        CompressedInformationPlane(_plane_model(), ["1"], X + 1j, LABELS)
    with pytest.raises(TypeError, match=r"refit: expected True or False, got 'no'"):
        CompressedInformationPlane(_plane_model(), ["1"], X, LABELS, refit="no")


# ---------------------------------------------------------------- k >= n
@pytest.mark.parametrize(
    "call",
    [
        lambda: mutual_information(X[:5], Y[:5], k=5),
        lambda: mutual_information(X[:5], LABELS[:5], method="ksg_discrete", k=5),
        lambda: mutual_information(X[:5], Y[:5], method="ksg_mixed", k=5),
        lambda: entropy(X[:5], k=5),
        lambda: conditional_mutual_information(X[:5], Y[:5], X[:5, 1], k=5),
        lambda: CompressedMutualInformation("pca", k=5).fit(X[:5], Y[:5]),
    ],
)
def test_too_few_samples_for_k_says_so(call):
    # before: "X must have at least 6 samples (rows), got 5", without naming k
    with pytest.raises(
        ValueError, match=r"at least 6 samples \(rows\), got 5 \(k=5 needs k \+ 1\)"
    ):
        call()


@pytest.mark.parametrize(
    "call",
    [
        lambda rs: mutual_information(X, Y, method="renyi", random_state=rs),
        lambda rs: entropy(X, method="renyi", random_state=rs),
    ],
)
def test_renyi_checks_random_state_without_subsampling(call):
    # before: checked only above max_samples rows, where a subsample is drawn
    with pytest.raises(TypeError, match=r"random_state must be None, an int"):
        call("x")


@pytest.mark.parametrize(
    "call",
    [
        lambda: NeuralMutualInformation(max_steps=2, device="meta").fit(X, Y),
        lambda: AutoencoderCompressor(epochs=1, device="meta").fit(X),
        lambda: cs_divergence(X, X + 1, device="meta"),
        lambda: cs_qmi(torch.tensor(X), torch.tensor(Y), device="meta"),
    ],
)
def test_meta_device_is_refused_by_name(call):
    # before: torch's "Tensor.item() cannot be called on meta tensors" / "Cannot copy out
    # of meta tensor; no data!" (bottlekit.devices.resolve_device accepted 'meta')
    with pytest.raises(ValueError, match=r"device: 'meta' holds no values"):
        call()


def test_text_in_an_object_array_is_refused():
    # before: a data frame column of numeric strings was parsed ("0.126" became 0.126)
    text = np.array([str(v) for v in X[:, 0]], dtype=object)
    with pytest.raises(TypeError, match=r"X must be a numeric array, got text values"):
        mutual_information(text, Y)
    numbers = np.array(list(X[:, 0]), dtype=object)  # objects holding floats still work
    ref = mutual_information(X[:, 0], Y, random_state=0)
    assert mutual_information(numbers, Y, random_state=0) == ref


# ---------------------------------------------------------------- ties with jitter=0
DUP_X = np.repeat(X[:6], 10, axis=0)  # 6 distinct rows, each 10 times
DUP_Y = np.repeat(Y[:6], 10, axis=0)
DUP_LABELS = np.repeat([0, 1, 0, 1, 0, 1], 10)


@pytest.mark.parametrize(
    "call, what",
    [
        # before: 6.16 nats (at most log 6 = 1.79 for 6 distinct values)
        (lambda: mutual_information(DUP_X, DUP_Y, jitter=0), r"\(X, Y\)"),
        (lambda: mutual_information(DUP_X, DUP_Y, jitter=0, algorithm=2), r"\(X, Y\)"),
        # before: -0.52 nats
        (
            lambda: mutual_information(DUP_X, DUP_LABELS, method="ksg_discrete", jitter=0),
            r"X \(within a label of y\)",
        ),
        # before: 1.5 nats
        (
            lambda: conditional_mutual_information(
                DUP_X, DUP_Y, np.repeat(X[:6, 1], 10), jitter=0
            ),
            r"\(X, Y, Z\)",
        ),
        (lambda: entropy(DUP_X, jitter=0), "X"),  # already refused, same rule now
    ],
)
# the entropy warns about the repeated rows before it refuses them
@pytest.mark.filterwarnings("ignore::bottlekit.estimators.kozachenko_leonenko.RepeatedRowsWarning")
def test_ties_without_jitter_are_refused(call, what):
    with pytest.raises(
        ValueError, match=rf"{what} has (more than k|\d+ or more) identical rows.*jitter > 0"
    ):
        call()


def test_ties_name_how_many_copies_the_estimator_cannot_take():
    # The weighted Kozachenko-Leonenko estimator uses the first neighbour, so two equal
    # rows already make a radius 0; the message said "more than k identical rows" (k = 5)
    from bottlekit.estimators import KozachenkoLeonenkoEntropy

    X = np.random.default_rng(0).normal(size=(60, 2))
    X[1] = X[0]
    with pytest.warns(UserWarning, match="repeats rows"):
        with pytest.raises(ValueError, match=r"X has 2 or more identical rows"):
            KozachenkoLeonenkoEntropy(5, weighted=True, jitter=0).fit(X)
    X[2:6] = X[0]  # 6 copies: the plain estimator's 5th neighbour is at distance 0
    with pytest.warns(UserWarning, match="repeats rows"):
        with pytest.raises(ValueError, match=r"X has 6 or more identical rows"):
            KozachenkoLeonenkoEntropy(5, jitter=0).fit(X)


def test_ties_with_the_default_jitter_give_the_discrete_mi():
    # the tie-breaking noise makes KSG estimate the MI of the 6 equiprobable values (1.76 to
    # 1.92 nats over 30 seeds)
    assert mutual_information(DUP_X, DUP_Y, random_state=0) == pytest.approx(np.log(6), abs=0.2)


# ---------------------------------------------------------------- jitter out of range
def _weighted_kl(**kw):
    from bottlekit.estimators.lossy_compression import weighted_kl_mutual_information

    return weighted_kl_mutual_information(X, Y, **kw)


def _weighted_kl_labels(**kw):
    from bottlekit.estimators.lossy_compression import weighted_kl_mutual_information

    return weighted_kl_mutual_information(X, LABELS, discrete_y=True, **kw)


def _copula_call(**kw):
    return mutual_information(X, Y, copula=True, standardize=False, **kw)


JITTER_CALLS = [
    # before, at jitter=1e300: a meaningless finite MI (the noise's)
    lambda **kw: mutual_information(X, Y, **kw),
    _copula_call,
    lambda **kw: mutual_information(X, LABELS, method="ksg_discrete", **kw),
    lambda **kw: conditional_mutual_information(X[:, 0], Y, X[:, 1], **kw),
    # before: inf (the Euclidean distances overflow from jitter ~1e154)
    lambda **kw: entropy(X, **kw),
    lambda **kw: entropy(X, metric="chebyshev", whiten=True, **kw),
    # before: nan
    _weighted_kl,
    _weighted_kl_labels,
]


@pytest.mark.parametrize("call", JITTER_CALLS)
@pytest.mark.parametrize("jitter", [1e300, 1.0000001, np.inf, np.nan, -1e-10])
def test_jitter_outside_0_1_is_refused_by_every_knn_estimator(call, jitter):
    message = (
        "jitter must be a number >= 0 and <= 1 (a fraction of each column's standard "
        f"deviation), got {jitter!r}"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call(jitter=jitter)


@pytest.mark.parametrize("call", [c for c in JITTER_CALLS if c is not _copula_call])
def test_jitter_of_1_is_accepted(call):
    value = call(jitter=1.0, random_state=0)
    assert np.isfinite(value)
    # the noise is drawn from random_state (the same value again, another for another
    # seed) and is applied (not the value without jitter)
    assert call(jitter=1.0, random_state=0) == value
    assert call(jitter=1.0, random_state=1) != value
    assert abs(call(jitter=0.0, random_state=0) - value) > 1e-3


def test_copula_jitter_only_orders_ties():
    # with copula=True the jitter adds no noise (it would reorder the ranks): any jitter
    # > 0 breaks ties in a seeded order, so on distinct values its size is irrelevant
    value = _copula_call(jitter=1.0, random_state=0)
    assert np.isfinite(value)
    assert _copula_call(jitter=1e-10, random_state=1) == value
    assert _copula_call(jitter=0.0) == value


def test_jitter_noise_that_overflows_is_refused():
    # columns near float's limits, not standardized: noise of their own size overflowed
    # to inf and KSG went on (0.064 nats, silently)
    big = X[:, :1] / np.abs(X[:, 0]).max() * 1.7e308
    with pytest.raises(ValueError) as info:
        mutual_information(big, Y, jitter=1.0, random_state=0, standardize=False)
    message = str(info.value)
    assert message.startswith("jitter=1: the noise (jitter times each column's standard ")
    assert message.endswith(
        "overflows float64 on these samples; use a smaller jitter, or standardize=True"
    )
    # copula=True adds no noise in raw units (before: the same overflow error, -0.011
    # nats silently); it sees only the ranks, those of X[:, :1]
    expected = mutual_information(X[:, :1], Y, jitter=1.0, random_state=0, copula=True)
    assert mutual_information(big, Y, jitter=1.0, random_state=0, copula=True) == expected


# ------------------------------------------------ unstandardized samples near float's limits
# before: the differences between rows overflowed to inf and the k-NN estimators went on.
# Two clusters of 5 rows at -1 and +1, k=5: KSG gives 0.546 nats on these samples and on
# them times 2**1000, but 0.746 (algorithm 2: -0.089) times 1.7e308, silently; Ross's
# estimator with the Euclidean metric (whose trees sum squared differences) read the two
# columns times 1e200 as -0.97 nats instead of -0.16.
_CLUSTERS = np.r_[np.linspace(-1, -0.9, 5), np.linspace(0.9, 1, 5)][:, None]
_NEAR = _CLUSTERS + 0.01 * rng.standard_normal(_CLUSTERS.shape)
_SIDES = np.arange(10) % 2  # labels that mix the clusters
_HUGE = 1.7e308
NO_STANDARDIZE = {"standardize": False, "jitter": 0.0}
OVERFLOW_CASES = {
    "ksg": (lambda: mutual_information(_CLUSTERS * _HUGE, _NEAR, k=5, **NO_STANDARDIZE), "X"),
    "ksg algorithm 2": (
        lambda: mutual_information(_CLUSTERS, _NEAR * _HUGE, k=5, algorithm=2, **NO_STANDARDIZE),
        "Y",
    ),
    "ross": (
        lambda: mutual_information(
            _CLUSTERS * _HUGE, _SIDES, method="ksg_discrete", k=2, **NO_STANDARDIZE
        ),
        "X",
    ),
    "ross euclidean": (
        lambda: mutual_information(
            np.hstack([_CLUSTERS, _NEAR]) * 1e200,
            _SIDES,
            method="ksg_discrete",
            metric="euclidean",
            k=2,
            **NO_STANDARDIZE,
        ),
        "X",
    ),
    "cmi": (
        lambda: conditional_mutual_information(_CLUSTERS, _NEAR, _NEAR * _HUGE, **NO_STANDARDIZE),
        "Z",
    ),
    "cmi discrete y": (
        lambda: conditional_mutual_information(
            _CLUSTERS, _SIDES, _NEAR * _HUGE, discrete_y=True, k=2, **NO_STANDARDIZE
        ),
        "Z",
    ),
    "cmi discrete z": (
        lambda: conditional_mutual_information(
            _CLUSTERS * _HUGE, _NEAR, _SIDES, discrete_z=True, k=2, **NO_STANDARDIZE
        ),
        "X",
    ),
}


@pytest.mark.parametrize("case", list(OVERFLOW_CASES))
def test_unstandardized_samples_whose_differences_overflow_are_refused(case):
    call, name = OVERFLOW_CASES[case]
    what = "squared Euclidean distances" if "euclidean" in case else "differences"
    with pytest.raises(ValueError) as info, warnings.catch_warnings():
        warnings.simplefilter("error")  # the message alone, no overflow warning before it
        call()
    message = str(info.value)
    assert message.startswith(f"{name}: the {what} between rows overflow float64 (column ")
    assert message.endswith(
        "beyond float64's largest number, 1.8e+308); rescale the samples or use standardize=True"
    )


def test_unstandardized_samples_near_the_limit_whose_differences_fit_are_kept():
    # a span of 2**1001 still fits: the estimate is the unscaled one, bit for bit
    for algorithm in (1, 2):
        opts = {"k": 5, "algorithm": algorithm, **NO_STANDARDIZE}
        small = mutual_information(_CLUSTERS, _NEAR, **opts)
        big = mutual_information(_CLUSTERS * 2.0**1000, _NEAR * 2.0**1000, **opts)
        assert big == small
    assert mutual_information(_CLUSTERS, _NEAR, k=5, **NO_STANDARDIZE) == pytest.approx(0.5456349)
