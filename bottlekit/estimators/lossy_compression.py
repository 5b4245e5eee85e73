r"""Mutual information after lossy compression (Butakov et al. 2024).

k-NN estimators of :math:`I(X;Y)` break down when X or Y are high-dimensional (images,
a layer with hundreds of units) but lie near a low-dimensional manifold. Butakov, Tolmachev,
Malanchuk, Neopryatnaya, Frolov & Andreev ("Information bottleneck analysis of deep neural
networks via lossy compression", ICLR 2024) compress each variable first, with an
autoencoder trained on its samples (or PCA), and estimate the MI of the codes:

.. math::
    \hat I(X;Y) = \hat I_{k\text{NN}}\big(f(X); g(Y)\big), \qquad
    I(f(X); g(Y)) \le I(X;Y)

with equality when the encoders :math:`f, g` are injective on the data's support (the
data processing inequality and the invariance of MI under injective maps). The
reference code's autoencoders (``VanessB/Information-v3``) are small dense or
convolutional networks with a sigmoid (or tanh) code, trained with Adam (on the MSE for
layers, the mean absolute error for images), with Gaussian noise injected into the code
during training: :math:`0.1\,c\,Z`, *relative* to the code :math:`c`, in its PyTorch
autoencoders (``AdditiveGaussianNoise``'s default), an absolute 0.02 in the Keras one of
its "Gaussian plot" validation. :class:`AutoencoderCompressor` is a dense one trained on
the MSE, with optional *absolute* code noise (0 by default, see the class).

The MI of the codes: bottlekit runs KSG by default (Ross's estimator for labels) on
per-column standardised codes. The reference sums Kozachenko–Leonenko entropies,
:math:`\hat H(X) + \hat H(Y) - \hat H(X,Y)` (:math:`\hat H(X) - \sum_y p(y)\,\hat
H(X\mid y)` for labels), each on data whitened by its own covariance (so invariant to
invertible linear maps of the codes); its ``k_neighbours=5`` uses only the first
neighbour in up to 4 dimensions and a weighted combination of the five above (the
weighted estimator of Berrett, Samworth & Yuan 2019). ``mi_estimator="weighted_kl"``
is that estimator (:func:`weighted_kl_mutual_information`; on the same data, 20 cases of
1 to 12 joint dimensions with and without labels, it equalled the reference's
``MutualInfoEstimator(method='KL', k_neighbours=5)`` to 1.3e-12 nats without jitter,
4e-7 with the default relative jitter of 1e-10).
The same k is therefore not the same estimator. On Gaussian pairs of 4 + 4 dimensions
(2,000 pairs; 5,000 at 3.3 nats) with 0.89 / 2.04 / 3.32 nats, single runs gave 0.31 /
2.36 / 3.39 with the reference's estimator and 0.70 / 1.67 / 2.75 with KSG (k = 5),
0.62 / 1.43 / 2.13 once X's columns were mixed linearly (the reference's unchanged);
in 1 + 1 and 2 + 2 dimensions, and with labels, both were within 0.18 nats of the truth.
Over 12 seeds on 4 + 4-D Gaussian pairs with 2.5 nats (n = 5,000), the weighted KL
estimate erred by -0.07 ± 0.13 nats, KSG by -0.39 ± 0.02 (-0.80 ± 0.10 with X's
columns mixed linearly); at n = 2,000, +0.01 ± 0.22 against -0.54 ± 0.02. Its
variance grows fast with the joint dimension, whose weights grow (up to ~1e4 at
d = 16): 6 + 6-D at 3 nats, n = 2,000, -0.40 ± 2.6 (KSG -1.17 ± 0.02); 8 + 8-D,
sd 68 nats. Whitening by the covariance of well-separated classes also misleads it:
three Gaussian classes 30 sd apart, :math:`H(Y)` = 1.03 nats, within 0.04 in 3-D but
+0.9 to +2.4 in 6-D (the reference's code gave the same, 2.32 nats for 1.03 on one).
Hence KSG stays the default and ``"weighted_kl"`` is the option that reproduces the
reference.

For a deterministic layer :math:`T = h(X)` of continuous X, :math:`I(X;T)` is infinite;
the paper (after Goldfeld et al. 2019) makes the network stochastic, with Gaussian
noise of a stated variance added to the layer, :math:`T_\sigma = h(X) + \sigma Z`, so
that :math:`I(X;T_\sigma)` is finite (:class:`~bottlekit.estimators.GaussianNoise`).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, TransformerMixin

from bottlekit._checks import (
    check_bool,
    check_choice,
    check_layer_sizes,
    check_number,
    check_positive_int,
    is_number,
)
from bottlekit._deprecation import DEPRECATED, renamed_param

from ._neighbors import check_jitter
from ._scaling import safe_mean_and_std
from ._validation import as_2d_samples, check_paired, check_random_state, pca_input

__all__ = [
    "COMPRESSORS",
    "MI_ESTIMATORS",
    "AutoencoderCompressor",
    "CompressedMutualInformation",
    "make_compressor",
    "weighted_kl_mutual_information",
]

COMPRESSORS = ("autoencoder", "pca")
#: estimators of the codes' MI: KSG (Ross for labels), or the reference code's sum of
#: weighted Kozachenko-Leonenko entropies of whitened codes
MI_ESTIMATORS = ("ksg", "weighted_kl")


def _check_nonnegative_float(value: Any, name: str) -> float:
    """``value`` as a float if it is a finite number >= 0, else an error naming ``name``."""
    return float(check_number(value, name, low=0, wording="must", type_error=True))


def _seed(random_state) -> int:
    """An int seed for torch from ``random_state`` (int, Generator or None)."""
    return int(check_random_state(random_state).integers(2**31 - 1))


class AutoencoderCompressor(TransformerMixin, BaseEstimator):
    r"""Dense autoencoder trained on samples; ``transform`` returns the code.

    The encoder is ``d -> hidden_sizes... -> n_components`` with LeakyReLU and a sigmoid code,
    the decoder mirrors it with a linear output; inputs are standardised per column.
    (The reference code's dense autoencoder, ``VanessB/Information-v3``,
    ``examples/misc/autoencoder.py``, is ``d -> 24 -> 16 -> code`` with dropout 0.1 on
    the input and the first hidden layer, Adam at 1e-2, on the raw, unstandardised layer
    outputs; one wider hidden layer and a smaller step trained more reliably here.)
    Training: Adam on the mean squared reconstruction error, full passes over shuffled
    mini-batches, optionally with Gaussian noise of std ``code_noise`` added to the code
    during training. ``code_noise`` is absolute, :math:`c + \text{code\_noise}\,Z`; the
    reference's 0.1 is relative, :math:`c + 0.1\,c\,Z` (its ``AdditiveGaussianNoise``
    default; its "Gaussian plot" Keras autoencoder adds an absolute 0.02), so the same
    number is stronger noise here. On that 16 x 16 "Gaussian plot" validation
    (``tests/estimators/test_lossy_compression.py``; n = 2,000, 2-D codes, 200 epochs,
    k = 3, seed 0) the estimates at 1 / 2 / 3 nats were 0.90 / 1.79 / 2.66 without
    noise, 0.86 / 1.73 / 2.58 with the reference's relative 0.1 and 0.82 / 1.63 / 2.36
    with an absolute 0.1, so the default here is 0.

    Parameters
    ----------
    n_components : int, default=2
        Code dimension.
    hidden_sizes : tuple of int, default=(64,)
        Widths of the encoder's hidden layers (the decoder's in reverse).
    epochs : int, default=200
        Full passes over the shuffled samples.
    learning_rate : float, default=3e-3
        Adam's learning rate (> 0).
    batch_size : int, default=256
        Rows per mini-batch (lowered to the number of samples when larger).
    code_noise : float, default=0.0
        Standard deviation of the absolute Gaussian noise added to the code during
        training (>= 0; 0: none).
    pca_first : int, optional
        Project the inputs on their first ``pca_first`` principal components before the
        autoencoder (for thousands of dimensions and few samples, where a dense
        autoencoder trained on the raw inputs tends to saturate its sigmoid code into a
        few binary values).
    random_state : int, numpy Generator or None, default=0
        Seeds the initial weights and the batch order and noise.
    device : str or torch.device, default="cpu"
        Where the autoencoder trains and encodes (``None``: CUDA when available); resolved
        by :func:`bottlekit.devices.resolve_device`. The random batches and noise are drawn
        on the CPU, so a seed gives the same batches on every device.
    hidden : tuple of int, optional
        Deprecated alias of ``hidden_sizes`` (the name of the information-bottleneck
        models' same knob); setting it warns (``FutureWarning``) at fit time and wins
        over ``hidden_sizes``. It will be removed in the next release.
    lr : float, optional
        Deprecated alias of ``learning_rate`` (the name every other trained estimator of
        bottlekit uses); setting it warns (``FutureWarning``) at fit time and wins over
        ``learning_rate``. It will be removed in the next release.

    Attributes
    ----------
    n_features_in_ : int
    loss_ : float
        Final training MSE (on standardised data).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> t = rng.uniform(-1, 1, 500)
    >>> A = np.stack([np.cos(3 * t), np.sin(3 * t), t], 1)   # a curve in 3-D
    >>> codes = AutoencoderCompressor(1, epochs=50).fit_transform(A)
    >>> codes.shape
    (500, 1)
    """

    def __init__(
        self,
        n_components: int = 2,
        hidden_sizes: tuple[int, ...] = (64,),
        epochs: int = 200,
        learning_rate: float = 3e-3,
        batch_size: int = 256,
        code_noise: float = 0.0,
        pca_first: int | None = None,
        random_state: int | np.random.Generator | None = 0,
        device: Any = "cpu",
        hidden: Any = DEPRECATED,
        lr: Any = DEPRECATED,
    ) -> None:
        self.n_components = n_components
        self.hidden_sizes = hidden_sizes
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.code_noise = code_noise
        self.pca_first = pca_first
        self.random_state = random_state
        self.device = device
        self.hidden = hidden
        self.lr = lr

    def _check_params(self) -> None:
        check_positive_int(self.n_components, "n_components")
        check_positive_int(self.epochs, "epochs")
        check_positive_int(self.batch_size, "batch_size")
        self._learning_rate, name = renamed_param(self, "lr", "learning_rate")
        check_number(self._learning_rate, name, low=0, low_open=True, wording="must")
        _check_nonnegative_float(self.code_noise, "code_noise")
        if self.pca_first is not None:
            check_positive_int(self.pca_first, "pca_first")
        hidden_sizes, name = renamed_param(self, "hidden", "hidden_sizes")
        self._hidden_sizes = check_layer_sizes(hidden_sizes, name)

    def fit(self, X: ArrayLike, y: Any = None) -> AutoencoderCompressor:
        """Train the autoencoder on the rows of ``X`` (n, d).

        Parameters
        ----------
        X : array-like of shape (n, d)
            Real samples, at least 2 rows; a 1-D array is one column.
        y : None
            Ignored; present for scikit-learn's API.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        import torch
        from torch import nn

        from bottlekit.devices import resolve_device

        self._check_params()
        dev = resolve_device(self.device)
        A = as_2d_samples(X, "X", min_samples=2)
        self.n_features_in_ = A.shape[1]
        self.pca_ = None
        if _projects_first(self.pca_first, A.shape):
            from sklearn.decomposition import PCA

            self.pca_ = PCA(int(self.pca_first), random_state=0).fit(pca_input(A, "X"))
            A = self.pca_.transform(A)
        self.mean_, scale = safe_mean_and_std(A, axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        Z = torch.from_numpy(((A - self.mean_) / self.scale_).astype(np.float32)).to(dev)
        widths = [A.shape[1], *self._hidden_sizes]
        back = [int(self.n_components), *widths[:0:-1]]
        # the weights are drawn on the CPU from a seeded generator that is put back after:
        # torch.manual_seed itself reset the caller's generators (CUDA's too) at every fit
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(_seed(self.random_state))
            enc: list[nn.Module] = []
            for a, b in itertools.pairwise(widths):
                enc += [nn.Linear(a, b), nn.LeakyReLU()]
            enc += [nn.Linear(widths[-1], int(self.n_components)), nn.Sigmoid()]
            dec: list[nn.Module] = []
            for a, b in itertools.pairwise(back):
                dec += [nn.Linear(a, b), nn.LeakyReLU()]
            dec += [nn.Linear(back[-1], A.shape[1])]
        self.encoder_ = nn.Sequential(*enc).to(dev)
        decoder = nn.Sequential(*dec).to(dev)
        params = [*self.encoder_.parameters(), *decoder.parameters()]
        opt = torch.optim.Adam(params, lr=float(self._learning_rate))
        gen = torch.Generator().manual_seed(_seed(self.random_state))
        n, bs = len(Z), min(int(self.batch_size), len(Z))
        loss = torch.tensor(0.0)
        for _ in range(int(self.epochs)):
            order = torch.randperm(n, generator=gen).to(dev)
            for start in range(0, n, bs):
                batch = Z[order[start : start + bs]]
                code = self.encoder_(batch)
                if self.code_noise > 0:
                    noise = torch.randn(code.shape, generator=gen).to(dev)
                    code = code + self.code_noise * noise
                loss = ((decoder(code) - batch) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.encoder_.eval()
        self.loss_ = float(loss.detach())
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:
        """The code of each row of ``X``, shape (n, n_components).

        Parameters
        ----------
        X : array-like of shape (n, d)
            Real samples with as many columns as the fitted data.

        Returns
        -------
        ndarray of shape (n, n_components)
            Float64 codes, each in [0, 1] (the encoder's sigmoid).
        """
        import torch

        if not hasattr(self, "encoder_"):
            raise RuntimeError("AutoencoderCompressor: call fit before transform")
        A = as_2d_samples(X, "X", min_samples=1)
        if A.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X must have {self.n_features_in_} columns like the fitted data, got {A.shape[1]}"
            )
        if self.pca_ is not None:
            A = self.pca_.transform(A)
        Z = torch.from_numpy(((A - self.mean_) / self.scale_).astype(np.float32))
        dev = next(self.encoder_.parameters()).device
        with torch.no_grad():
            return self.encoder_(Z.to(dev)).cpu().numpy().astype(np.float64)


def make_compressor(
    kind: str, n_components: int, random_state: int | np.random.Generator | None = 0, **kwargs: Any
) -> Any:
    """A compressor with ``fit`` / ``transform``: ``"autoencoder"`` or ``"pca"``.

    Parameters
    ----------
    kind : {"autoencoder", "pca"}
        The compressor.
    n_components : int
        The compressed dimension.
    random_state : int, numpy Generator or None, default=0
        Seeds the compressor's initialisation.
    **kwargs
        Passed to :class:`AutoencoderCompressor` (``epochs``, ``hidden_sizes``, ...).

    Returns
    -------
    AutoencoderCompressor or sklearn.decomposition.PCA
        An unfitted compressor with ``fit`` and ``transform``.

    Examples
    --------
    >>> type(make_compressor("pca", 2)).__name__
    'PCA'
    """
    n_components = check_positive_int(n_components, "n_components")
    kind = check_choice(kind, COMPRESSORS, "compressor", wording="must")
    if kind == "autoencoder":
        return AutoencoderCompressor(n_components, random_state=random_state, **kwargs)
    if kind == "pca":
        from sklearn.decomposition import PCA

        if kwargs:
            raise TypeError(f"compressor 'pca' takes no options, got {sorted(kwargs)}")
    return PCA(n_components, random_state=_seed(random_state))


def _projects_first(pca_first: Any, shape: tuple[int, ...]) -> bool:
    """Whether an :class:`AutoencoderCompressor` with ``pca_first`` projects samples of
    ``shape`` on their first principal components before training: an int smaller than
    both the rows and the columns (also before its parameters are checked)."""
    return is_number(pca_first, integer=True) and int(pca_first) < min(shape)


def _compressible(
    A: np.ndarray, kind: str, options: dict, what: str, hint: str = "rescale the data"
) -> np.ndarray:
    """``A`` checked by :func:`~._validation.pca_input` (named ``what``) where compressor
    ``kind`` with ``options`` fits a PCA on it: ``"pca"``, or an autoencoder's
    ``pca_first`` projection."""
    if kind == "pca" or (
        kind == "autoencoder" and _projects_first(options.get("pca_first"), A.shape)
    ):
        return pca_input(A, what, hint)
    return A


def weighted_kl_mutual_information(
    X: ArrayLike,
    Y: ArrayLike,
    k: int = 5,
    discrete_y: bool = False,
    jitter: float = 1e-10,
    random_state: int | np.random.Generator | None = 0,
) -> float:
    r""":math:`I(X;Y)` in nats from weighted Kozachenko–Leonenko entropies of whitened data.

    The estimator of Butakov et al.'s reference code (``VanessB/Information-v3``,
    ``MutualInfoEstimator`` with ``method='KL'``):

    .. math::
        \hat I(X;Y) = \hat H(X) + \hat H(Y) - \hat H(X,Y), \qquad
        \hat I(X;Y) = \hat H(X) - \sum_y \frac{n_y}{n}\,\hat H(X \mid Y = y)
        \ \text{(labels Y)},

    each :math:`\hat H` computed on its own samples (:math:`X`, :math:`Y`, the pairs, the
    rows of class y) whitened by their own sample covariance :math:`\hat\Sigma` and
    corrected by :math:`\tfrac12\log\det\hat\Sigma`, with the weighted k-NN estimator of
    Berrett, Samworth & Yuan (2019),

    .. math::
        \hat H = \log(m - 1) + \log c_d + \sum_{j=1}^k w_j\Big(\frac{d}{m}\sum_{i=1}^m
        \log \epsilon_{i,j} - \psi(j)\Big) + \tfrac12\log\det\hat\Sigma,

    :math:`\epsilon_{i,j}` the Euclidean distance from the i-th of the m whitened rows to
    its j-th nearest neighbour, :math:`c_d` the volume of the unit ball in the dimension d
    of those rows and :math:`w` the weights of
    :func:`~bottlekit.estimators.kozachenko_leonenko.weighted_kl_weights` for that d: the
    first neighbour alone up to d = 4, a combination of the k that cancels the leading
    bias terms above. Whitening makes the estimate invariant under invertible linear (and
    affine) maps of X and of Y.

    Parameters
    ----------
    X : array-like of shape (n,) or (n, dx)
        The first variable.
    Y : array-like of shape (n,) or (n, dy); labels of shape (n,) if ``discrete_y``
        The second variable.
    k : int, default=5
        Neighbours (the reference's ``k_neighbours``).
    discrete_y : bool, default=False
        Y holds class labels; every class needs k + 1 samples.
    jitter : float in [0, 1], default=1e-10
        Relative noise against duplicate rows (the reference adds none), a fraction of each
        column's standard deviation.
    random_state : int, numpy Generator or None, default=0
        Draws the jitter.

    Returns
    -------
    float
        The estimate, in nats.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((3000, 2)); y = 0.8 * x + 0.6 * rng.standard_normal((3000, 2))
    >>> bool(abs(weighted_kl_mutual_information(x, y) - 1.022) < 0.1)   # -log(1 - 0.64)
    True
    """
    from .conditional import as_discrete
    from .kozachenko_leonenko import KozachenkoLeonenkoEntropy

    k = check_positive_int(k, "k")
    discrete_y = check_bool(discrete_y, "discrete_y")
    jitter = check_jitter(jitter)
    A = as_2d_samples(X, "X", min_samples=k + 1, why=f"k={k} needs k + 1")
    B = as_discrete(Y, "Y", min_samples=k + 1) if discrete_y else as_2d_samples(Y, "Y")
    check_paired(A, B)
    rng = check_random_state(random_state)

    def entropy(Z: np.ndarray, name: str) -> float:
        est = KozachenkoLeonenkoEntropy(
            k, weighted=True, whiten=True, jitter=jitter, random_state=rng
        )
        # errors and warnings name the samples (they all said "X", for Y and the pairs too)
        return est._fit(Z, name).entropy_

    if not discrete_y:
        return entropy(A, "X") + entropy(B, "Y") - entropy(np.hstack([A, B]), "(X, Y)")
    if B.shape[1] != 1:
        raise ValueError(f"Y: discrete_y needs one column of labels, got shape {B.shape}")
    labels, counts = np.unique(B[:, 0], return_counts=True)
    if counts.min() < k + 1:
        small = labels[counts < k + 1].tolist()
        raise ValueError(
            f"Y: class(es) {small[:5]} have fewer than k + 1 = {k + 1} samples "
            f"(smallest: {counts.min()}); the entropy of X within a class needs k + 1"
        )
    conditional = 0.0
    for label, count in zip(labels, counts, strict=True):
        try:
            h = entropy(A[B[:, 0] == label], "X")
        except ValueError as error:
            shown = label.item() if isinstance(label, np.generic) else label
            raise ValueError(f"X within the class Y = {shown!r}: {error}") from error
        conditional += count / len(A) * h
    return entropy(A, "X") - conditional


class CompressedMutualInformation(BaseEstimator):
    r""":math:`I(X;Y)` in nats by a k-NN estimator on compressed X and Y (Butakov et al. 2024).

    Each continuous side with more than ``n_components`` columns is compressed by its
    own compressor (``"autoencoder"``, :class:`AutoencoderCompressor`, or ``"pca"``),
    fitted on that side's samples; then KSG (or Ross's estimator for labels Y) on the
    codes, or, with ``mi_estimator="weighted_kl"``, the reference code's estimator
    (:func:`weighted_kl_mutual_information`):

    .. math::
        \hat I = \hat H_w(f(X)) + \hat H_w(g(Y)) - \hat H_w(f(X), g(Y))

    (:math:`\hat H_w(f(X)) - \sum_y p(y)\,\hat H_w(f(X) \mid y)` for labels), each
    :math:`\hat H_w` the weighted Kozachenko–Leonenko entropy of its codes whitened by
    their covariance. The two differ most in several dimensions: on Gaussian codes of
    4 + 4 dimensions KSG underestimates more, and only the weighted KL estimate is
    invariant to invertible linear maps of the codes (see the module docstring). The
    estimate is a lower bound up to the estimator's error; it is consistent when the
    compressors are injective on the data (e.g. images generated from a
    low-dimensional vector by a smooth injective map, the paper's validation).

    Parameters
    ----------
    compressor : {"autoencoder", "pca"}, default="autoencoder"
    n_components : int, default=2
        Code dimension of each compressed side.
    k : int, default=5
        Neighbours of the KSG (or Ross) estimator, or, with ``"weighted_kl"``, the
        reference's ``k_neighbours`` (the first neighbour alone in up to 4 dimensions).
    discrete_y : bool, default=False
        Y holds class labels (not compressed; Ross's discrete-continuous estimator).
    compressor_options : dict, optional
        Passed to :class:`AutoencoderCompressor`.
    random_state : int, numpy Generator or None, default=0
        Seeds the compressors and the estimator's jitter.
    mi_estimator : {"ksg", "weighted_kl"}, default="ksg"
        Estimator of the codes' MI: KSG (Ross's for labels) or the reference code's
        weighted Kozachenko–Leonenko entropies of whitened codes.

    Attributes
    ----------
    mi_ : float
    X_codes_, Y_codes_ : ndarray
        The compressed samples (``Y_codes_`` is Y itself when not compressed).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(2000); y = 0.8 * x + 0.6 * rng.standard_normal(2000)
    >>> X = np.outer(x, np.ones(30)) + 1e-3 * rng.standard_normal((2000, 30))  # 1-D in 30-D
    >>> est = CompressedMutualInformation("pca", n_components=1).fit(X, y)
    >>> bool(abs(est.mi_ - 0.511) < 0.05)   # -0.5 log(1 - 0.64)
    True
    """

    def __init__(
        self,
        compressor: str = "autoencoder",
        n_components: int = 2,
        k: int = 5,
        discrete_y: bool = False,
        compressor_options: dict | None = None,
        random_state: int | np.random.Generator | None = 0,
        mi_estimator: str = "ksg",
    ) -> None:
        self.compressor = compressor
        self.n_components = n_components
        self.k = k
        self.discrete_y = discrete_y
        self.compressor_options = compressor_options
        self.random_state = random_state
        self.mi_estimator = mi_estimator

    def _compress(self, A: np.ndarray, seed: int, name: str) -> np.ndarray:
        if A.shape[1] <= self.n_components:
            return A
        options = dict(self.compressor_options or {})
        A = _compressible(A, self.compressor, options, name)
        model = make_compressor(self.compressor, self.n_components, seed, **options)
        return model.fit_transform(A)

    def fit(self, X: ArrayLike, Y: ArrayLike) -> CompressedMutualInformation:
        """Compress and estimate.

        Parameters
        ----------
        X : array-like of shape (n,) or (n, dx)
            Real samples, at least ``k + 1`` rows; compressed when ``dx > n_components``.
        Y : array-like of shape (n,) or (n, dy); labels of shape (n,) if ``discrete_y``
            Paired row by row with ``X``; compressed when continuous and
            ``dy > n_components``.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        from .conditional import as_discrete
        from .ksg import KSGMutualInformation
        from .ksg_discrete import DiscreteContinuousMutualInformation

        check_choice(self.compressor, COMPRESSORS, "compressor", wording="must")
        mi_estimator = check_choice(
            self.mi_estimator, MI_ESTIMATORS, "mi_estimator", wording="must"
        )
        check_positive_int(self.n_components, "n_components")
        k = check_positive_int(self.k, "k")
        check_bool(self.discrete_y, "discrete_y")
        if self.compressor_options is not None and not isinstance(self.compressor_options, dict):
            raise TypeError(
                f"compressor_options must be None or a dict, got {self.compressor_options!r}"
            )
        A = as_2d_samples(X, "X", min_samples=k + 1, why=f"k={k} needs k + 1")
        B = as_discrete(Y, "Y", min_samples=k + 1) if self.discrete_y else as_2d_samples(Y, "Y")
        check_paired(A, B)
        rng = check_random_state(self.random_state)
        seeds = rng.integers(2**31 - 1, size=3)
        self.X_codes_ = self._compress(A, int(seeds[0]), "X")
        if self.discrete_y:
            if B.shape[1] != 1:
                raise ValueError(f"Y: discrete_y needs one column of labels, got shape {B.shape}")
            self.Y_codes_ = B[:, 0]
        else:
            self.Y_codes_ = self._compress(B, int(seeds[1]), "Y")
        if mi_estimator == "weighted_kl":
            self.mi_ = weighted_kl_mutual_information(
                self.X_codes_, self.Y_codes_, k, self.discrete_y, random_state=int(seeds[2])
            )
            return self
        if self.discrete_y:
            est = DiscreteContinuousMutualInformation(k=k, random_state=int(seeds[2]))
        else:
            est = KSGMutualInformation(k=k, random_state=int(seeds[2]))
        self.mi_ = float(est.fit(self.X_codes_, self.Y_codes_).mi_)
        return self
