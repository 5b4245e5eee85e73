"""Information-plane tracker: known answers on layers whose information is known exactly."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch

from bottlekit.estimators import InformationPlane, binned_information


def _known_net(n_ids: int, labels: np.ndarray, seed: int = 0) -> torch.nn.Sequential:
    """Layer "0": an invertible (orthogonal) map; layer "1": one-hot of the label only."""
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n_ids, n_ids, generator=gen))
    inv = torch.nn.Linear(n_ids, n_ids, bias=False)
    lab = torch.nn.Linear(n_ids, int(labels.max()) + 1, bias=False)
    with torch.no_grad():
        inv.weight.copy_(q)
        onehot = torch.zeros(int(labels.max()) + 1, n_ids)
        onehot[labels, torch.arange(n_ids)] = 1.0
        # label layer applied after the invertible one: undo q first
        lab.weight.copy_(onehot @ q.T)
    return torch.nn.Sequential(inv, lab)


def test_binning_recovers_exact_information_of_known_layers():
    """Discrete X with 16 equiprobable values, Y = id mod 4 (4 equiprobable classes).
    An invertible layer keeps all of X: I(X;T) = H(X) = 4 bits, I(T;Y) = H(Y) = 2 bits.
    The label-only layer keeps Y: I(X;T) = I(T;Y) = H(Y) = 2 bits. Plug-in entropies of
    exactly balanced discrete variables are exact, so the tolerance is rounding only."""
    ids = np.repeat(np.arange(16), 10)
    X = np.eye(16, dtype=np.float32)[ids]
    id_label = np.arange(16) % 4
    y = id_label[ids]
    net = _known_net(16, id_label)
    plane = InformationPlane(net, ["0", "1"], X, y, estimator="binning", n_bins=30)
    plane.record(epoch=0)
    assert plane.i_xt["0"][0] == pytest.approx(4.0, abs=1e-9)
    assert plane.i_ty["0"][0] == pytest.approx(2.0, abs=1e-9)
    assert plane.i_xt["1"][0] == pytest.approx(2.0, abs=1e-9)
    assert plane.i_ty["1"][0] == pytest.approx(2.0, abs=1e-9)
    i_xt, i_ty = plane.as_arrays()
    assert i_xt.shape == i_ty.shape == (1, 2)


def test_binning_of_a_constant_layer_is_zero():
    X = np.eye(8, dtype=np.float32).repeat(3, 0)
    y = np.arange(24) % 2
    assert binned_information(X, np.zeros((24, 5)), y) == (0.0, 0.0)


def test_ksg_label_layer_reaches_the_label_entropy():
    """Continuous X, 4 balanced classes; a layer that outputs the label's one-hot (plus
    1e-3 noise against ties). The Ross estimator then gives psi(N) - <psi(N_y)> =
    log 4 + O(1/N) nats = 2 bits; 0.05 bits covers the O(1/N) and class-size terms."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0).astype(int)

    class LabelLayer(torch.nn.Module):
        def forward(self, x):
            c = (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()
            noise = torch.from_numpy(rng.standard_normal((len(x), 4)).astype(np.float32))
            return torch.nn.functional.one_hot(c, 4).float() + 1e-3 * noise

    net = torch.nn.Sequential(LabelLayer())
    plane = InformationPlane(net, ["0"], X, y, estimator="ksg")
    plane.record()
    assert plane.i_ty["0"][0] == pytest.approx(2.0, abs=0.05)


def test_tracker_follows_training_and_plots():
    from bottlekit.visualize import plot_information_plane

    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 5)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    plane = InformationPlane(net, ["1", "2"], X, y, estimator="binning", n_bins=10)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for epoch in range(4):
        plane.record(epoch)
        for _ in range(20):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt), yt).backward()
            opt.step()
    plane.record(4)
    assert plane.epochs == [0, 1, 2, 3, 4]
    # training on a learnable label raises what the output layer knows about it
    assert plane.i_ty["2"][-1] > plane.i_ty["2"][0]
    assert all(v <= 1.0 + 1e-9 for v in plane.i_ty["2"])  # I(T;Y) <= H(Y) = 1 bit
    fig = plot_information_plane(plane)
    assert fig.axes[0].get_xlabel() == "I(X;T) [bits]"
    assert len(fig.axes[0].collections) == 2  # one scatter per layer


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"layers": ["nope"]}, "not sub-modules"),
        ({"layers": []}, "non-empty"),
        ({"estimator": "kde"}, "estimator"),
        ({"y": np.linspace(0, 1, 10)}, "class labels"),
        ({"X": np.full((10, 2), np.nan)}, "NaN"),
        ({"y": np.zeros(9, int)}, "10 rows"),
    ],
)
def test_bad_input(kwargs, match):
    net = torch.nn.Sequential(torch.nn.Linear(2, 2))
    args = {"layers": ["0"], "X": np.ones((10, 2)), "y": np.zeros(10, int), **kwargs}
    with pytest.raises(ValueError, match=match):
        InformationPlane(net, **args)


def test_plot_needs_records():
    from bottlekit.visualize import plot_information_plane

    net = torch.nn.Sequential(torch.nn.Linear(2, 2))
    plane = InformationPlane(net, ["0"], np.ones((4, 2)), np.zeros(4, int))
    with pytest.raises(ValueError, match="nothing recorded"):
        plot_information_plane(plane)


class _Diverged(torch.nn.Module):
    """Identity whose output holds one NaN or inf, as a diverged network's would."""

    def __init__(self, bad: float):
        super().__init__()
        self.bad = bad

    def forward(self, x):
        out = x.clone()
        out[0, 0] = self.bad
        return out


@pytest.mark.parametrize("estimator", ["binning", "ksg", "renyi"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_record_refuses_non_finite_activations_and_records_nothing(estimator, bad):
    # Before: "binning" recorded 0.0 bits (NaN cast to one bin index for every row) or,
    # with an inf, some arbitrary value, silently; "ksg"/"renyi" raised an error about
    # "X"/"Y" that named neither the layer nor the cause; and the layers before the bad
    # one had already been appended, so the layers' lists no longer matched `epochs`.
    X = np.eye(8, dtype=np.float32).repeat(3, 0)
    y = np.arange(24) % 2
    net = torch.nn.Sequential(torch.nn.Identity(), _Diverged(bad))
    plane = InformationPlane(net, ["0", "1"], X, y, estimator=estimator)
    with pytest.raises(ValueError, match=r"layer '1'.*NaN or inf"):
        plane.record(epoch=3)
    assert plane.epochs == [] and plane.i_xt == {"0": [], "1": []} == plane.i_ty


@pytest.mark.parametrize("num_of_bins", [4, 8, 30])
def test_fixed_bin_range_is_shwartz_ziv_and_tishbys_grid(num_of_bins):
    # Their code: np.digitize on the edges np.linspace(-1, 1, num_of_bins) for every
    # layer and epoch, each distinct bin pattern one symbol, plug-in entropies in bits.
    # bin_range=(-1, 1) with n_bins = num_of_bins - 1 must give the same numbers.
    from bottlekit.estimators.binning import _plugin_entropy

    rng = np.random.default_rng(num_of_bins)
    X = rng.normal(size=(300, 5))
    T = np.tanh(X @ rng.normal(size=(5, 2)) * 0.4)  # strictly inside (-1, 1), not saturated
    y = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0)
    edges = np.linspace(-1, 1, num_of_bins)

    def symbols(rows):
        return np.unique(rows, axis=0, return_inverse=True)[1].ravel()

    def mi(a, b):
        joint = symbols(np.stack([a, b], 1))
        h = _plugin_entropy(a, False) + _plugin_entropy(b, False) - _plugin_entropy(joint, False)
        return h / np.log(2)

    t = symbols(np.digitize(T, edges))
    expected = (mi(symbols(X), t), mi(t, y))
    assert expected[0] < np.log2(300) - 0.3  # bins are shared: not every row its own
    got = binned_information(X, T, y, n_bins=num_of_bins - 1, bin_range=(-1, 1))
    np.testing.assert_allclose(got, expected, atol=1e-12)
    # a layer in a narrow band: one fixed bin for all (0 bits), its own range splits it
    narrow = np.linspace(0.1, 0.4, 300)[:, None]
    assert binned_information(X, narrow, y, n_bins=2, bin_range=(-1, 1)) == (0.0, 0.0)
    assert binned_information(X, narrow, y, n_bins=2)[0] == pytest.approx(1.0)


def test_fixed_bin_range_in_the_tracker_and_bad_ranges():
    import torch

    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh())
    X = np.eye(4, dtype=np.float32).repeat(5, 0)
    y = np.repeat([0, 0, 1, 1], 5)
    plane = InformationPlane(net, ["1"], X, y, n_bins=29, bin_range=(-1, 1))
    plane.record(epoch=0)
    with torch.no_grad():
        T = net(torch.as_tensor(X)).numpy()
    assert plane.i_xt["1"][0] == pytest.approx(
        binned_information(X, T, y, n_bins=29, bin_range=(-1, 1))[0]
    )
    for bad in [(1, -1), (0, 0), (0, float("nan")), (0, 1, 2), "ab", 1.0]:
        with pytest.raises(ValueError, match=r"bin_range"):
            InformationPlane(net, ["1"], X, y, bin_range=bad)
        with pytest.raises(ValueError, match=r"bin_range"):
            binned_information(X, T, y, bin_range=bad)


def test_bins_of_extreme_ranges_are_exact():
    # Before: a layer spanning +-1e308 overflowed hi - lo to inf and a range of 5e-324
    # rounded the bin width to 0; both made NaN positions that the cast to int turned
    # into arbitrary bins (with RuntimeWarnings), and the tracker reported 0 bits for a
    # tanh layer binned on bin_range=(0, 5e-324)
    import warnings

    X = np.repeat(np.eye(4), 5, axis=0)
    y = np.repeat([0, 0, 1, 1], 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for scale in (1e308, 5e-324):
            T = scale * np.r_[-np.ones((10, 1)), np.ones((10, 1))]  # one bin per label
            assert binned_information(X, T, y) == pytest.approx((1.0, 1.0))
        # values either side of a tiny fixed range: the two end bins, one per label
        T = np.r_[-np.ones((10, 1)), np.ones((10, 1))]
        assert binned_information(X, T, y, bin_range=(0, 5e-324)) == pytest.approx((1.0, 1.0))
    # bin edges at multiples of a power of 2 of the range are the reference's edges
    T = np.linspace(-1, 1, 20)[:, None] * 2.0**-1000
    pattern = np.digitize(T[:, 0], np.linspace(-1, 1, 30) * 2.0**-1000)
    expected = binned_information(X, pattern[:, None].astype(float), y, n_bins=10**6)
    assert binned_information(X, T, y, n_bins=29, bin_range=(-(2.0**-1000), 2.0**-1000)) == (
        pytest.approx(expected)
    )


def test_bin_range_given_as_tensor_or_ragged_pair():
    X = np.repeat(np.eye(4), 5, axis=0)
    y = np.repeat([0, 0, 1, 1], 5)
    T = 0.5 * X
    # Before: a tensor's items (0-d tensors) were refused as "not a finite number"
    assert binned_information(X, T, y, bin_range=torch.tensor([-1.0, 1.0])) == (
        binned_information(X, T, y, bin_range=(-1, 1))
    )
    # Before: numpy's "setting an array element with a sequence ... inhomogeneous shape"
    with pytest.raises(ValueError, match=r"bin_range\[0\]: expected a finite number, got \(0,\)"):
        binned_information(X, T, y, bin_range=((0,), 1))
    # Before: a dict of two items was read as its keys, the range (0, 1)
    with pytest.raises(ValueError, match=r"bin_range: expected None or a pair"):
        binned_information(X, T, y, bin_range={-1: 0, 1: 0})


@pytest.mark.parametrize(
    ("y", "error", "match"),
    [
        # Before: TypeError "len() of unsized object"
        (None, TypeError, r"y: expected an array of shape \(n,\) or \(n, dy\), got None"),
        # Before: numpy's "unsupported operand type(s) for %: 'NoneType' and 'int'"
        ([None] * 10, TypeError, r"y: expected labels .* got an array of dtype object"),
        # Before: numpy's "ufunc 'remainder' not supported for the input types"
        (np.zeros(10) + 1j, TypeError, r"y: expected labels .* dtype complex128"),
    ],
)
def test_tracker_refuses_targets_that_are_not_labels_or_numbers(y, error, match):
    net = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with pytest.raises(error, match=match):
        InformationPlane(net, ["0"], np.ones((10, 2)), y)


def test_text_labels_and_layer_names():
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh())
    X = np.eye(4, dtype=np.float32).repeat(5, 0)
    y = np.repeat([0, 0, 1, 1], 5)
    # Before: text labels failed in numpy's "ufunc 'remainder'" unless discrete_y=True
    plane = InformationPlane(net, ["1"], X, np.where(y == 1, "cat", "dog"))
    reference = InformationPlane(net, ["1"], X, y)
    plane.record()
    reference.record()
    assert plane.i_ty == reference.i_ty
    with pytest.raises(TypeError, match=r"y: text labels \(<U3\) need discrete_y=True"):
        InformationPlane(net, ["1"], X, np.where(y == 1, "cat", "dog"), "ksg", discrete_y=False)
    # Before: TypeError "unhashable type: 'list'"
    with pytest.raises(
        TypeError, match=r"layers: expected sub-module names \(str\), got \[\['1'\]\]"
    ):
        InformationPlane(net, [["1"]], X, y)
    # Before: a generator was consumed by the checks, leaving no layer to track
    plane = InformationPlane(net, (name for name in ["1"]), X, y)
    assert plane.layers == ["1"]


def test_binned_information_refuses_nan_labels():
    # Before: NaN was binned as a label of its own (I(T;Y) = 1.054 bits of 1)
    X = np.repeat(np.eye(4), 5, axis=0)
    y = np.repeat([0.0, 0.0, 1.0, 1.0], 5)
    y[-1] = np.nan
    with pytest.raises(ValueError, match=r"y: contains NaN or inf"):
        binned_information(X, X, y)


def test_a_float64_model_gets_its_probe_in_float64():
    # Before: the probe was always float32, and a model in double precision failed inside
    # torch ("mat1 and mat2 must have the same dtype"). Its planes now equal the float32
    # model's with the same weights wherever the binned activations agree.
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    X = np.random.default_rng(0).normal(size=(40, 4))
    y = (X[:, 0] > 0).astype(int)
    planes = []
    for model in (net, copy.deepcopy(net).double()):
        plane = InformationPlane(model, ["1"], X, y, n_bins=5)
        plane.record(epoch=0)
        planes.append((plane.i_xt["1"][0], plane.i_ty["1"][0]))
    assert planes[0] == pytest.approx(planes[1])


@pytest.mark.parametrize(
    ("estimator", "name", "value", "owner"),
    [
        ("ksg", "n_bins", 30, "binning"),
        ("renyi", "bin_range", (-1, 1), "binning"),
        ("binning", "compress_dim", 4, "ksg"),
        ("binning", "k", 3, "ksg"),
        ("renyi", "k", 5, "ksg"),
    ],
)
def test_settings_of_another_estimator_are_refused(estimator, name, value, owner):
    # before: ignored, silently (the defaults 30, 4 and 3 could not be told from a value)
    net = torch.nn.Sequential(torch.nn.Linear(2, 2))
    X, y = np.random.default_rng(0).normal(size=(10, 2)), np.arange(10) % 2
    message = (
        f"{name}: {value!r} has no effect with estimator={estimator!r} (it is {owner!r}'s); "
        f"leave it None or use estimator={owner!r}"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        InformationPlane(net, ["0"], X, y, estimator=estimator, **{name: value})


def test_none_settings_are_the_documented_defaults():
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh())
    X = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    planes = [
        InformationPlane(net, ["1"], X, y),
        InformationPlane(net, ["1"], X, y, n_bins=30),
        InformationPlane(net, ["1"], X, y, "ksg"),
        InformationPlane(net, ["1"], X, y, "ksg", compress_dim=4, k=3),
    ]
    for plane in planes:
        plane.record(epoch=0)
    assert (planes[0].n_bins, planes[2].compress_dim, planes[2].k) == (30, 4, 3)
    assert planes[0].i_xt == planes[1].i_xt and planes[0].i_ty == planes[1].i_ty
    assert planes[2].i_xt == planes[3].i_xt and planes[2].i_ty == planes[3].i_ty
