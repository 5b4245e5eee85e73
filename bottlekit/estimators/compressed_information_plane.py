r"""Information plane of a stochastic network, by lossy compression (Butakov et al. 2024).

:class:`CompressedInformationPlane` is an :class:`~bottlekit.estimators.InformationPlane`
whose two coordinates are measured the way Butakov et al. (ICLR 2024) measure them:

1. the layer is made stochastic, :math:`T_\sigma = T + \sigma Z` with
   :math:`Z \sim N(0, I)` drawn afresh at every record (``noise_std`` = :math:`\sigma`,
   in the layer's own units), so that :math:`I(X;T_\sigma)` is finite (Goldfeld et al.
   2019). Put :class:`~bottlekit.estimators.GaussianNoise` layers in the network itself
   to train it stochastic too, as the paper does (the reference's MNIST and CIFAR-10
   nets add :math:`10^{-3}` *relative* noise to every layer's input,
   ``GaussianNoise(1e-3, relative=True)`` here); ``noise_std`` then adds nothing
   unless it is > 0;
2. X and each layer are compressed to ``compress_dim`` dimensions by an autoencoder
   trained on their samples (``compressor="autoencoder"``) or by PCA (``"pca"``); each
   compressor is fitted at the first record and kept, so that records are comparable;
3. :math:`I(X;T)` is the KSG estimate on the codes, :math:`I(T;Y)` the Ross
   discrete-continuous estimate for labels (KSG otherwise). The reference estimates
   both from weighted Kozachenko–Leonenko entropies of covariance-whitened codes
   instead (``mi_estimator="weighted_kl"`` here,
   :func:`~bottlekit.estimators.lossy_compression.weighted_kl_mutual_information`), and
   compresses the layers by PCA refitted at every epoch (``refit=True`` here); see
   :mod:`~bottlekit.estimators.lossy_compression` for how the two estimators differ.

Values are in bits, like the parent class. The parent's ``estimator="ksg"`` (PCA
projection of the deterministic layer, no noise) is unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bottlekit._arrays import as_real_array
from bottlekit._checks import check_bool, check_choice, check_positive_int, shown_value

from ._validation import check_random_state
from .information_plane import InformationPlane, _pca_subject
from .lossy_compression import (
    COMPRESSORS,
    MI_ESTIMATORS,
    _check_nonnegative_float,
    _compressible,
    make_compressor,
    weighted_kl_mutual_information,
)

__all__ = ["CompressedInformationPlane"]

_LN2 = np.log(2.0)

#: Head-room of :func:`_max_noise_std`: the noise's largest draws and their chi-square
#: spread over few rows, and the layer's own values, on top of ``n * noise_std**2``.
_NOISE_MARGIN = 8.0


def _max_noise_std(n_samples: int) -> float:
    r"""Largest ``noise_std`` of :class:`CompressedInformationPlane` for ``n_samples`` rows.

    The PCA compressor forms the noisy layer's sums of squares over the probe rows,
    :math:`\sum_i (t_i + \sigma z_i)^2 \approx n\sigma^2`; they must stay finite in
    float64, so :math:`n (8\sigma)^2 \le` ``np.finfo(np.float64).max`` (1.8e308), the
    factor 8 leaving room for the largest draws of :math:`z` and the layer itself.

    Parameters
    ----------
    n_samples : int
        Probe rows.

    Returns
    -------
    float
        :math:`\sqrt{\text{max} / n} / 8`.

    Examples
    --------
    >>> f"{_max_noise_std(300):.3g}"
    '9.68e+151'
    """
    return float(np.sqrt(np.finfo(np.float64).max / n_samples) / _NOISE_MARGIN)


def _check_noise_std_bound(noise_std: float, n_samples: int) -> None:
    """Refuse a ``noise_std`` above :func:`_max_noise_std` (1e300: numpy's LinAlgError)."""
    high = _max_noise_std(n_samples)
    if noise_std > high:
        raise ValueError(
            f"noise_std must be at most {high:.3g} for {n_samples} probe rows (the PCA "
            "compressor sums the noisy layer's squares over the rows, n * (8 * noise_std)**2 "
            f"must stay below float64's {np.finfo(np.float64).max:.3g}), "
            f"got {shown_value(noise_std)}"
        )


class CompressedInformationPlane(InformationPlane):
    r"""Track :math:`I(X;T)` and :math:`I(T;Y)` of noisy, compressed layers (bits).

    Parameters
    ----------
    model : torch.nn.Module
        The network. It is run on ``X`` (in eval mode, without gradients) at each record.
    layers : sequence of str
        Sub-module names whose outputs are tracked.
    X : array-like of shape (n, ...)
        Probe inputs (images are flattened for the compressor of X; the model gets
        them in their own shape).
    y : array-like of shape (n,)
        Labels (or real targets with ``discrete_y=False``).
    noise_std : float, default=0.1
        Standard deviation of the Gaussian noise added to each tracked layer's output
        before estimation (0: none, e.g. when the network has its own noise layers). At
        most, for :math:`n` probe rows, :math:`\sqrt{f / n} / 8` with
        :math:`f` float64's largest value (9.7e151 for 300 rows): the PCA compressor sums
        the noisy layer's squares, about :math:`n\,\sigma^2`, over the rows (numpy's
        ``LinAlgError`` at 1e300). Noise that large drowns any layer anyway:
        :math:`I(X;T_\sigma)` and :math:`I(T_\sigma;Y)` tend to 0 as :math:`\sigma` grows.
        A PCA (``compressor="pca"``, or the autoencoder's ``pca_first``) also sums over
        the layer's :math:`d` units: :math:`n d \sigma^2` must stay below :math:`f / 4`,
        so ``record`` refuses, naming it, a layer wider than 16 units at the largest
        ``noise_std`` (and any layer whose PCA would overflow float64).
    compressor : {"autoencoder", "pca"}, default="autoencoder"
        Lossy compressor of ``X`` and of each (noisy) layer, for those with more than
        ``compress_dim`` columns (narrower ones are used as they are).
    compress_dim : int, default=4
        Code dimension of X and of each layer.
    k : int, default=5
        Neighbours of the k-NN estimators.
    mi_estimator : {"ksg", "weighted_kl"}, default="ksg"
        Estimator of the MI of the codes: KSG (Ross's for labels) or the reference
        code's weighted Kozachenko–Leonenko entropies of whitened codes (with k = 5, the
        first neighbour alone in up to 4 dimensions; its variance grows quickly above
        8 joint dimensions, see :mod:`~bottlekit.estimators.lossy_compression`).
    compressor_options : dict, optional
        Passed to :class:`~bottlekit.estimators.lossy_compression.AutoencoderCompressor`.
    refit : bool, default=False
        Refit each layer's compressor at every record.
    x_compressor_options : dict, optional
        Options of X's compressor (fitted once, so it can afford a longer training);
        default: ``compressor_options``.
    discrete_y : bool, optional
        Treat ``y`` as labels; default: True for a 1-D ``y`` of text or integer values.
    device : str or torch.device, optional
        Where the probe batch is sent (resolved by :func:`bottlekit.devices.resolve_device`:
        an unknown or unavailable device is a ValueError naming ``device``); default: the
        model's parameters' device.
    batch_size : int, default=4096
        Probe rows per forward pass.
    random_state : int, numpy Generator or None, default=0
        Seeds the layer noise, the compressors' training and the estimators' jitter.

    Examples
    --------
    >>> import torch, numpy as np
    >>> net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((300, 6)).astype(np.float32); y = (X[:, 0] > 0).astype(int)
    >>> plane = CompressedInformationPlane(net, ["1"], X, y, compressor="pca", compress_dim=2)
    >>> plane.record(epoch=0)
    >>> bool(0 < plane.i_ty["1"][0] <= 1.05)   # at most H(Y) = 1 bit, up to estimation error
    True
    """

    def __init__(
        self,
        model: Any,
        layers: Sequence[str],
        X: Any,
        y: Any,
        noise_std: float = 0.1,
        compressor: str = "autoencoder",
        compress_dim: int = 4,
        k: int = 5,
        compressor_options: dict | None = None,
        refit: bool = False,
        x_compressor_options: dict | None = None,
        discrete_y: bool | None = None,
        device: Any = None,
        batch_size: int = 4096,
        random_state: int | np.random.Generator | None = 0,
        mi_estimator: str = "ksg",
    ) -> None:
        noise_std = _check_nonnegative_float(noise_std, "noise_std")
        mi_estimator = check_choice(mi_estimator, MI_ESTIMATORS, "mi_estimator")
        compressor = check_choice(compressor, COMPRESSORS, "compressor")
        compress_dim = check_positive_int(compress_dim, "compress_dim")
        k = check_positive_int(k, "k")
        for name, options in (
            ("compressor_options", compressor_options),
            ("x_compressor_options", x_compressor_options),
        ):
            if options is not None and not isinstance(options, dict):
                raise TypeError(f"{name}: expected a dict, got {type(options).__name__}")
        X_arr = as_real_array(X, "X", dtype=np.float32, wording="must")
        if X_arr.ndim < 2:
            raise ValueError(f"X: expected shape (n, ...) with features, got {X_arr.shape}")
        _check_noise_std_bound(noise_std, len(X_arr))
        self.input_shape = X_arr.shape[1:]
        flat = X_arr.reshape(len(X_arr), -1)
        super().__init__(
            model,
            layers,
            flat,
            y,
            estimator="ksg",
            compress_dim=compress_dim,
            k=k,
            discrete_y=discrete_y,
            device=device,
            batch_size=batch_size,
        )
        self.estimator = f"compressed_{mi_estimator}"
        self.mi_estimator = mi_estimator
        self.noise_std = noise_std
        self.compressor = compressor
        self.compressor_options = dict(compressor_options or {})
        self.refit = check_bool(refit, "refit")
        self.x_compressor_options = (
            self.compressor_options if x_compressor_options is None else dict(x_compressor_options)
        )
        self.random_state = random_state
        self._rng = check_random_state(random_state)
        self._compressors: dict[str, Any] = {}

    def activations(self) -> dict[str, np.ndarray]:
        """Each tracked layer's output on the probe set (n × units), before the noise.

        Returns
        -------
        dict of str to ndarray of shape (n, units)
            Layer name to its flattened float32 output on the probe inputs.
        """
        flat = self.X
        self.X = flat.reshape((len(flat), *self.input_shape))
        try:
            return super().activations()
        finally:
            self.X = flat

    def _codes(self, key: str, A: np.ndarray, refit: bool = False) -> np.ndarray:
        if A.shape[1] <= self.compress_dim:
            return A.astype(np.float64)
        if refit or key not in self._compressors:
            seed = int(self._rng.integers(2**31 - 1))
            options = self.x_compressor_options if key == "__X__" else self.compressor_options
            A = _compressible(A, self.compressor, options, *_pca_subject(key))
            self._compressors[key] = make_compressor(
                self.compressor, self.compress_dim, seed, **options
            ).fit(A)
        return self._compressors[key].transform(A)

    def _pair(self, name: str, T: np.ndarray) -> tuple[float, float]:
        from bottlekit.estimators import mutual_information

        if self._probe is None:
            self._probe = {"x": self._codes("__X__", self.X), "y": self.y}
        if self.noise_std > 0:
            T = T + self.noise_std * self._rng.standard_normal(T.shape)
        Tc = self._codes(name, T, refit=self.refit)
        seed = int(self._rng.integers(2**31 - 1))
        x, k = self._probe["x"], self.k
        if self.mi_estimator == "weighted_kl":  # in nats
            i_xt = weighted_kl_mutual_information(x, Tc, k, random_state=seed) / _LN2
            i_ty = (
                weighted_kl_mutual_information(Tc, self.y, k, self.discrete_y, random_state=seed)
                / _LN2
            )
        else:
            i_xt = mutual_information(x, Tc, method="ksg", k=k, base=2, random_state=seed)
            method = "ksg_discrete" if self.discrete_y else "ksg"
            i_ty = mutual_information(Tc, self.y, method=method, k=k, base=2, random_state=seed)
        return max(float(i_xt), 0.0), max(float(i_ty), 0.0)
