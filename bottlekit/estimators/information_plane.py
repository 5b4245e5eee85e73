r"""Information-plane tracking: :math:`I(X;T)` and :math:`I(T;Y)` of a network's layers.

Attach :class:`InformationPlane` to any torch model, name the layers to watch, and call
:meth:`InformationPlane.record` once per epoch. Forward hooks capture each layer's output
:math:`T` on a fixed probe set :math:`(X, Y)`, and one of three estimators gives the two
coordinates:

``"binning"`` (Shwartz-Ziv & Tishby 2017)
    Every unit of :math:`T` is cut into ``n_bins`` equal-width bins over the layer's
    range (one min and max for all its units, taken anew at every record); a sample's
    bin pattern is a discrete symbol. :math:`X` is discrete: each distinct input row is
    one symbol. Plug-in entropies give :math:`I(X;T) = H(X) + H(T) - H(X,T)` (which is
    :math:`H(T)` for a deterministic layer) and :math:`I(T;Y) = H(T) + H(Y) - H(T,Y)`;
    ``y`` must be labels. These are the reference code's :math:`H(T) - H(T|X)` and
    :math:`H(T) - H(T|Y)`, equal on the same bins; its bins differ: one fixed grid for
    every layer and epoch, ``np.linspace(-1, 1, num_of_bins)`` as *edges* (so its 30 is
    29 bins of width 2/29 over tanh's range, plus a symbol of its own for values
    :math:`\ge 1`, which bottlekit puts in the top bin), where bottlekit's grid follows
    the layer. On a tanh layer whose
    outputs reach -1 and 1, ``n_bins = num_of_bins - 1`` is the reference's grid; on a
    narrower range bottlekit's bins are narrower; ``bin_range=(-1, 1)`` fixes the grid as
    theirs (``n_bins = num_of_bins - 1``, values outside the range counted in the end
    bins). Saxe et al. (2018)'s fixed bin width (``floor(t / 0.07)``, unbounded) is not
    offered.
``"ksg"`` (after lossy compression, Butakov et al. 2024)
    :math:`X` and :math:`T` are projected on their first ``compress_dim`` principal
    components (fitted at the first record and kept, so epochs are comparable), then
    :math:`I(X;T)` is the KSG estimate and :math:`I(T;Y)` the discrete–continuous
    k-NN estimate (Ross 2014) for labels, KSG otherwise.
``"renyi"``
    Matrix-based Rényi :math:`\alpha`-order MI (Sánchez Giraldo et al. 2015; Yu et
    al. 2019) on Gram matrices of :math:`X`, :math:`T` and :math:`Y` (one-hot for
    labels), with the kernel-width rule of :class:`~bottlekit.estimators.RenyiMutualInformation`.

All values are in bits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from typing import Any

import numpy as np

from bottlekit._arrays import as_real_array
from bottlekit._checks import (
    check_bool,
    check_choice,
    check_number,
    check_positive_int,
    check_unused,
    shown_value,
)

from ._validation import as_2d_samples, pca_input
from .binning import _plugin_entropy

__all__ = ["InformationPlane", "binned_information"]

_LN2 = np.log(2.0)
#: What ``n_bins`` ("binning"), ``compress_dim`` and ``k`` ("ksg") of None mean.
DEFAULT_N_BINS = 30
DEFAULT_COMPRESS_DIM = 4
DEFAULT_K = 3


def _symbols(rows: np.ndarray) -> np.ndarray:
    """One integer per distinct row."""
    _, codes = np.unique(np.ascontiguousarray(rows), axis=0, return_inverse=True)
    return codes.ravel()


def _discrete_mi(a: np.ndarray, b: np.ndarray) -> float:
    joint = _symbols(np.stack([a, b], axis=1))
    h = _plugin_entropy(a, False) + _plugin_entropy(b, False) - _plugin_entropy(joint, False)
    return float(max(h, 0.0) / _LN2)


def binned_information(
    X: np.ndarray,
    T: np.ndarray,
    y: np.ndarray,
    n_bins: int = 30,
    bin_range: tuple[float, float] | None = None,
) -> tuple[float, float]:
    r"""Binned :math:`I(X;T)` and :math:`I(T;Y)` in bits (Shwartz-Ziv & Tishby 2017).

    .. math::
        I(X;T) = H(X) + H(\tilde T) - H(X, \tilde T), \qquad
        I(\tilde T;Y) = H(\tilde T) + H(Y) - H(\tilde T, Y),

    with :math:`\tilde T` the bin pattern of :math:`T` (``n_bins`` equal-width bins over
    the layer's global range ``[T.min(), T.max()]``, the maximum in the last bin, or over
    ``bin_range``) and plug-in entropies over the distinct rows of ``X``. Shwartz-Ziv &
    Tishby's code bins on the fixed edges ``linspace(-1, 1, num_of_bins)``:
    ``bin_range=(-1, 1)`` with ``n_bins = num_of_bins - 1`` is their grid (see the module
    docstring).

    Parameters
    ----------
    X : ndarray of shape (n, dx)
        Inputs; each distinct row is one value of the discrete variable :math:`X`.
    T : ndarray of shape (n, dt)
        Layer activations.
    y : ndarray of shape (n,)
        Labels.
    n_bins : int, default 30
        Equal-width bins over the range of the whole layer (or ``bin_range``): every
        unit of ``T`` is cut at the same edges.
    bin_range : (float, float), optional
        Fixed ``(low, high)`` of the bins, the same for every call (values outside go to
        the end bins); default: the range of ``T``.

    Returns
    -------
    i_xt, i_ty : float
        :math:`I(X;\tilde T)` and :math:`I(\tilde T;Y)` in bits.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.repeat(np.eye(4), 5, axis=0); y = np.repeat([0, 0, 1, 1], 5)
    >>> [round(v, 6) for v in binned_information(X, 3 * X, y)]   # invertible layer
    [2.0, 1.0]
    """
    n_bins = check_positive_int(n_bins, "n_bins")
    bin_range = _check_bin_range(bin_range)
    T = as_2d_samples(T, "T", min_samples=1)
    X, y = np.asarray(X), _labels_or_values(y)
    if X.ndim == 0 or y.ndim == 0 or not len(X) == len(T) == len(y):
        raise ValueError(
            "X, T and y must have the same number of samples (rows); got shapes "
            f"{X.shape}, {T.shape} and {y.shape}"
        )
    t = _bin_pattern_symbols(T, n_bins, bin_range)
    return _discrete_mi(_symbols(X), t), _discrete_mi(t, _symbols(np.asarray(y)[:, None]))


def _labels_or_values(y: Any) -> np.ndarray:
    """``y`` as an array of labels (integers, booleans, strings) or finite real numbers.

    ``None``, a scalar, complex numbers and other objects are refused naming ``y`` (they
    failed inside ``len()`` or numpy's ``remainder``), and so is NaN or inf (a NaN label
    was binned as a class of its own).
    """
    arr = np.asarray(y)
    if arr.ndim == 0:
        raise TypeError(f"y: expected an array of shape (n,) or (n, dy), got {shown_value(y)}")
    if arr.dtype.kind not in "biufUS":
        raise TypeError(
            "y: expected labels (integers, booleans or strings) or real numbers, got an "
            f"array of dtype {arr.dtype}"
        )
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError("y: contains NaN or inf")
    return arr


def _check_bin_range(bin_range: Any) -> tuple[float, float] | None:
    """``bin_range`` as a ``(low, high)`` pair of finite numbers with low < high, or None."""
    if bin_range is None:
        return None
    try:  # len() alone: np.ndim of ((0,), 1) failed inside numpy ("inhomogeneous shape")
        pair = not isinstance(bin_range, (str, bytes, Mapping, Set)) and len(bin_range) == 2
    except TypeError:
        pair = False
    if not pair:
        raise ValueError(
            f"bin_range: expected None or a pair (low, high), got {shown_value(bin_range)}"
        )
    # a 0-d array or tensor (torch.tensor([-1., 1.])[0]) as the number it holds
    lo, hi = (v.item() if getattr(v, "ndim", None) == 0 else v for v in bin_range)
    lo = float(check_number(lo, "bin_range[0]"))
    hi = float(check_number(hi, "bin_range[1]"))
    if not lo < hi:
        raise ValueError(f"bin_range: expected low < high, got {bin_range!r}")
    return lo, hi


def _bin_pattern_symbols(
    T: np.ndarray, n_bins: int, bin_range: tuple[float, float] | None = None
) -> np.ndarray:
    """One integer per distinct bin pattern of the rows of ``T`` (global equal-width bins
    over ``bin_range``, default the range of ``T``)."""
    lo, hi = (float(np.min(T)), float(np.max(T))) if bin_range is None else bin_range
    # T, lo and hi divided by a power of 2 (exact) that brings the range near 1: hi - lo
    # overflowed to inf for a range of +-1e308, and a width of 5e-324 / n_bins rounded to
    # 0, both making NaN that the cast to int turned into arbitrary bins
    exponent = int(np.frexp(max(abs(lo), abs(hi)))[1])
    lo, hi = float(np.ldexp(lo, -exponent)), float(np.ldexp(hi, -exponent))
    width = (hi - lo) / n_bins if hi > lo else 1.0
    with np.errstate(over="ignore"):  # far outside a fixed range: +-inf, clipped to an end
        position = np.floor((np.ldexp(T, -exponent) - lo) / width)
    return _symbols(np.clip(position, 0, n_bins - 1).astype(np.int64))


def _pca_subject(key: str) -> tuple[str, str]:
    """What the PCA compressor of ``key`` (a layer, or ``"__X__"``) is told about, and the
    hint of :func:`~._validation.pca_input`'s error."""
    if key == "__X__":
        return "X (the probe inputs)", "rescale the probe inputs"
    return f"layer {key!r}", "has training diverged? nothing was recorded"


class InformationPlane:
    """Track :math:`I(X;T)` and :math:`I(T;Y)` of chosen layers of a torch model.

    Parameters
    ----------
    model : torch.nn.Module
        The network. It is run on ``X`` (in eval mode, without gradients) at each record.
    layers : sequence of str
        Names of sub-modules (as in ``model.named_modules()``) whose outputs are tracked.
    X : array-like of shape (n, d)
        Probe inputs, fed to the model as a tensor of its parameters' floating dtype
        (float32 for a model without parameters).
    y : array-like of shape (n,) or (n, dy)
        Targets: labels for ``"binning"``; labels or real values otherwise.
    estimator : {"binning", "ksg", "renyi"}, default "binning"
        Each reads its own settings below; one given to an estimator that does not read
        it (``n_bins`` and ``bin_range`` are ``"binning"``'s, ``compress_dim`` and ``k``
        ``"ksg"``'s, ``"renyi"`` reads none) is refused (it was ignored, silently).
    n_bins : int or None, default None
        Bins per unit for ``"binning"``, between the layer's min and max at this record
        (the reference's ``num_of_bins=30`` counts edges on [-1, 1]: 29 bins); None
        means 30.
    bin_range : (float, float), optional
        A fixed ``(low, high)`` for the bins of every layer and record (``"binning"``):
        ``bin_range=(-1, 1), n_bins=29`` is Shwartz-Ziv & Tishby's grid for tanh layers.
        Values outside go to the end bins. Default: each record's layer range.
    compress_dim : int or None, default None
        Principal components kept of ``X`` and of each layer for ``"ksg"``; None means 4.
    k : int or None, default None
        Neighbours for the k-NN estimators (``"ksg"``); None means 3.
    discrete_y : bool, optional
        Treat ``y`` as labels; default: integer-valued 1-D ``y``.
    device : str or torch.device, optional
        Where the probe batch is sent (resolved by :func:`bottlekit.devices.resolve_device`:
        an unknown or unavailable device is a ValueError naming ``device``); default: the
        model's parameters' device.
    batch_size : int, default 4096
        Probe rows per forward pass.

    Attributes
    ----------
    epochs : list
        The ``epoch`` value of each record.
    i_xt, i_ty : dict of str to list of float
        Per layer, one value per record (bits).

    Examples
    --------
    >>> import torch, numpy as np
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    >>> X = np.eye(4, dtype=np.float32).repeat(5, 0); y = np.repeat([0, 0, 1, 1], 5)
    >>> plane = InformationPlane(net, ["1", "2"], X, y)
    >>> plane.record(epoch=0)
    >>> sorted(plane.i_xt)
    ['1', '2']
    """

    def __init__(
        self,
        model: Any,
        layers: Sequence[str],
        X: Any,
        y: Any,
        estimator: str = "binning",
        n_bins: int | None = None,
        bin_range: tuple[float, float] | None = None,
        compress_dim: int | None = None,
        k: int | None = None,
        discrete_y: bool | None = None,
        device: Any = None,
        batch_size: int = 4096,
    ) -> None:
        from bottlekit.devices import resolve_device

        estimator = check_choice(
            estimator,
            ("binning", "ksg", "renyi"),
            "estimator",
            expected="'binning', 'ksg' or 'renyi'",
        )
        modules = dict(model.named_modules())
        try:  # a generator was consumed by the checks, an array's truth is ambiguous
            layers = None if isinstance(layers, str) else list(layers)
        except TypeError:
            layers = None
        if not layers:
            raise ValueError("layers: expected a non-empty list of sub-module names")
        if not all(isinstance(name, str) for name in layers):  # [["1"]]: unhashable list
            raise TypeError(f"layers: expected sub-module names (str), got {shown_value(layers)}")
        missing = [name for name in layers if name not in modules]
        if missing:
            known = [n for n in modules if n][:12]
            raise ValueError(f"layers: {missing} are not sub-modules of the model; known: {known}")
        # read by one estimator only: a value given to another was ignored, silently
        reads = {"n_bins": "binning", "bin_range": "binning", "compress_dim": "ksg", "k": "ksg"}
        given = {"n_bins": n_bins, "bin_range": bin_range, "compress_dim": compress_dim, "k": k}
        for name, owner in reads.items():
            if estimator != owner:
                check_unused(
                    given[name], name, f"with estimator={estimator!r} (it is {owner!r}'s)",
                    f" or use estimator={owner!r}",
                )  # fmt: skip
        n_bins = DEFAULT_N_BINS if n_bins is None else n_bins
        compress_dim = DEFAULT_COMPRESS_DIM if compress_dim is None else compress_dim
        k = DEFAULT_K if k is None else k
        # checked here, not at the first record(), which runs inside a training loop
        for name, value in (
            ("n_bins", n_bins),
            ("compress_dim", compress_dim),
            ("k", k),
            ("batch_size", batch_size),
        ):
            check_positive_int(value, name)
        bin_range = _check_bin_range(bin_range)
        if discrete_y is not None:
            check_bool(discrete_y, "discrete_y")
        X = as_real_array(X, "X", dtype=np.float32, wording="must")
        y = _labels_or_values(y)
        if X.ndim != 2 or len(X) < 2:
            raise ValueError(f"X: expected shape (n >= 2, d), got {X.shape}")
        if len(y) != len(X):
            raise ValueError(f"y: expected {len(X)} rows like X, got {len(y)}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X: contains NaN or inf")
        text = y.dtype.kind in "US"
        if discrete_y is None:
            discrete_y = y.ndim == 1 and (
                text or np.issubdtype(y.dtype, np.integer) or np.all(np.equal(np.mod(y, 1), 0))
            )
        elif text and not discrete_y:
            raise TypeError(f"y: text labels ({y.dtype}) need discrete_y=True, got False")
        if estimator == "binning" and not discrete_y:
            raise ValueError("estimator='binning' needs class labels y (discrete_y=True)")
        self.model = model
        self.layers = list(layers)
        self.X = X
        self.y = y
        self.estimator = estimator
        self.n_bins = n_bins
        self.bin_range = bin_range
        self.compress_dim = compress_dim
        self.k = k
        self.discrete_y = bool(discrete_y)
        self.batch_size = batch_size
        if device is None:
            first = next(model.parameters(), None)
            device = first.device if first is not None else "cpu"
        self.device = resolve_device(device)
        self.epochs: list[Any] = []
        self.i_xt: dict[str, list[float]] = {name: [] for name in self.layers}
        self.i_ty: dict[str, list[float]] = {name: [] for name in self.layers}
        self._pca: dict[str, Any] = {}
        self._probe: dict[str, np.ndarray] | None = None

    def activations(self) -> dict[str, np.ndarray]:
        """Run the model on the probe set and return each tracked layer's output (n × units).

        Returns
        -------
        dict of str to ndarray of shape (n, units)
            Layer name to its flattened float32 output on the probe inputs.
        """
        import torch

        from bottlekit.devices import as_tensor

        modules = dict(self.model.named_modules())
        captured: dict[str, list[np.ndarray]] = {name: [] for name in self.layers}

        def hook_for(name: str):
            def hook(_module, _inputs, output):
                out = output[0] if isinstance(output, (tuple, list)) else output
                captured[name].append(out.detach().float().reshape(len(out), -1).cpu().numpy())

            return hook

        # the probe in the model's floating dtype (a float64 model failed on float32 input)
        dtype = next(
            (p.dtype for p in self.model.parameters() if p.is_floating_point()), torch.float32
        )
        handles = [modules[name].register_forward_hook(hook_for(name)) for name in self.layers]
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                for start in range(0, len(self.X), self.batch_size):
                    batch = as_tensor(self.X[start : start + self.batch_size])
                    self.model(batch.to(self.device, dtype=dtype))
        finally:
            for h in handles:
                h.remove()
            self.model.train(was_training)
        return {name: np.concatenate(parts) for name, parts in captured.items()}

    def _compressed(self, key: str, A: np.ndarray) -> np.ndarray:
        from sklearn.decomposition import PCA

        if A.shape[1] <= self.compress_dim:
            return A.astype(np.float64)
        if key not in self._pca:
            A = pca_input(A, *_pca_subject(key))
            self._pca[key] = PCA(self.compress_dim, random_state=0).fit(A)
        return self._pca[key].transform(A)

    def _pair(self, name: str, T: np.ndarray) -> tuple[float, float]:
        from bottlekit.estimators import mutual_information

        probe = self._probe_side()
        if self.estimator == "binning":
            t = _bin_pattern_symbols(T, self.n_bins, self.bin_range)
            return _discrete_mi(probe["x"], t), _discrete_mi(t, probe["y"])
        if self.estimator == "ksg":
            Tc = self._compressed(name, T)
            i_xt = mutual_information(probe["x"], Tc, method="ksg", k=self.k, base=2)
            method = "ksg_discrete" if self.discrete_y else "ksg"
            i_ty = mutual_information(Tc, probe["y"], method=method, k=self.k, base=2)
            return max(i_xt, 0.0), max(i_ty, 0.0)
        i_xt = mutual_information(probe["x"], T, method="renyi", base=2)
        i_ty = mutual_information(T, probe["y"], method="renyi", base=2)
        return i_xt, i_ty

    def _probe_side(self) -> dict[str, np.ndarray]:
        """The estimator's view of the fixed probe ``(X, y)``, computed once, not per record."""
        if self._probe is None:
            if self.estimator == "binning":
                x, y = _symbols(self.X), _symbols(self.y[:, None])
            elif self.estimator == "ksg":
                x, y = self._compressed("__X__", self.X), self.y
            else:
                x, y = self.X, self.y
                if self.discrete_y:
                    y = (y[:, None] == np.unique(y)[None, :]).astype(np.float64)
            self._probe = {"x": x, "y": y}
        return self._probe

    def record(self, epoch: Any = None) -> None:
        """Measure every tracked layer now and append the values.

        Parameters
        ----------
        epoch : any, optional
            Label of this record (default: its index).

        Raises
        ------
        ValueError
            If a tracked layer outputs NaN or inf on the probe set; nothing is recorded.
        """
        acts = self.activations()
        label = len(self.epochs) if epoch is None else epoch
        for name in self.layers:
            bad = acts[name].size - int(np.count_nonzero(np.isfinite(acts[name])))
            if bad:
                # binning would give a silent number (NaN cast to one bin for every row)
                raise ValueError(
                    f"layer {name!r} output {bad} NaN or inf value(s) on the probe set at "
                    f"record {label!r} (has training diverged?); nothing was recorded"
                )
        # all layers first, then append: an error leaves the lists as they were
        pairs = [self._pair(name, acts[name]) for name in self.layers]
        for name, (i_xt, i_ty) in zip(self.layers, pairs, strict=True):
            self.i_xt[name].append(float(i_xt))
            self.i_ty[name].append(float(i_ty))
        self.epochs.append(label)

    def as_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(i_xt, i_ty)`` as arrays of shape (n_records, n_layers), layers in order.

        Returns
        -------
        i_xt, i_ty : ndarray of shape (n_records, n_layers)
            :math:`I(X;T)` and :math:`I(T;Y)` of each record (row) and tracked layer
            (column), in bits.
        """
        i_xt = np.array([self.i_xt[n] for n in self.layers]).T
        i_ty = np.array([self.i_ty[n] for n in self.layers]).T
        return i_xt, i_ty
