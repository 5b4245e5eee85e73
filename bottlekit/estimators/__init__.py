"""Mutual information, entropy, HSIC and Cauchy–Schwarz divergence estimators.

Inputs are arrays of shape ``(n,)`` (one scalar variable) or ``(n, d)`` (rows are
observations). Results are in nats unless ``base`` is given.

The estimator classes (:class:`KSGMutualInformation`, :class:`GaussianEntropy`, ...) are
scikit-learn estimators: ``get_params``, ``set_params``, :func:`sklearn.base.clone` and the
repr work as for any scikit-learn model; hyper-parameters are stored as given and checked
when ``fit`` runs, and ``fit`` stores the estimate in ``mi_`` or ``entropy_``.

>>> import numpy as np
>>> from bottlekit.estimators import mutual_information
>>> rng = np.random.default_rng(0)
>>> x = rng.standard_normal(5000); y = 0.6 * x + 0.8 * rng.standard_normal(5000)
>>> round(mutual_information(x, y, method="gaussian"), 1)     # -0.5 log(1 - 0.36)
0.2
"""

from __future__ import annotations

from typing import Any

from numpy.typing import ArrayLike

from bottlekit._checks import check_choice
from bottlekit._lazy import lazy_attributes

from ._neighbors import HeavyTailWarning
from ._validation import check_base, convert_base
from .binning import BinnedEntropy, BinnedMutualInformation
from .cauchy_schwarz import (
    conditional_cs_divergence,
    conditional_cs_divergence_torch,
    cs_divergence,
    cs_divergence_torch,
    cs_qmi,
    cs_qmi_torch,
    gaussian_cs_divergence,
)
from .compressed_information_plane import CompressedInformationPlane
from .conditional import (
    GaussianConditionalMutualInformation,
    KSGConditionalMutualInformation,
    PluginConditionalMutualInformation,
)
from .gaussian import GaussianEntropy, GaussianMutualInformation, gaussian_mi_from_correlations
from .hsic import HSICResult, hsic
from .independence import MIPermutationResult, mi_permutation_test
from .information_plane import InformationPlane, binned_information
from .input_information_given_label import (
    encoder_conditional_mi_ksg,
    gaussian_encoder_conditional_mi,
)
from .kernels import gaussian_rowsums, gaussian_rowsums_torch, kernel_width
from .kozachenko_leonenko import (
    CollinearColumnsWarning,
    KozachenkoLeonenkoEntropy,
    RepeatedRowsWarning,
)
from .ksg import KSGMutualInformation, MixedKSGMutualInformation
from .ksg_discrete import DiscreteContinuousMutualInformation, SingletonLabelsWarning
from .lossy_compression import AutoencoderCompressor, CompressedMutualInformation
from .renyi import RenyiEntropy, RenyiMutualInformation
from .synthetic_images import gaussian_blob_images

# the torch modules, imported when first used (``import bottlekit.estimators`` stays
# free of torch for the numpy estimators)
_LAZY = {
    "GaussianNoise": "bottlekit.estimators.gaussian_noise_layer",
    "NeuralMutualInformation": "bottlekit.estimators.neural",
}
__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)

__all__ = [
    "CMI_METHODS",
    "MI_METHODS",
    "AutoencoderCompressor",
    "BinnedEntropy",
    "BinnedMutualInformation",
    "CollinearColumnsWarning",
    "CompressedInformationPlane",
    "CompressedMutualInformation",
    "DiscreteContinuousMutualInformation",
    "GaussianConditionalMutualInformation",
    "GaussianEntropy",
    "GaussianMutualInformation",
    "GaussianNoise",
    "HSICResult",
    "HeavyTailWarning",
    "InformationPlane",
    "KSGConditionalMutualInformation",
    "KSGMutualInformation",
    "KozachenkoLeonenkoEntropy",
    "MIPermutationResult",
    "MixedKSGMutualInformation",
    "NeuralMutualInformation",
    "PluginConditionalMutualInformation",
    "RenyiEntropy",
    "RenyiMutualInformation",
    "RepeatedRowsWarning",
    "SingletonLabelsWarning",
    "binned_information",
    "conditional_cs_divergence",
    "conditional_cs_divergence_torch",
    "conditional_mutual_information",
    "cs_divergence",
    "cs_divergence_torch",
    "cs_qmi",
    "cs_qmi_torch",
    "encoder_conditional_mi_ksg",
    "entropy",
    "gaussian_blob_images",
    "gaussian_cs_divergence",
    "gaussian_encoder_conditional_mi",
    "gaussian_mi_from_correlations",
    "gaussian_rowsums",
    "gaussian_rowsums_torch",
    "hsic",
    "kernel_width",
    "mi_permutation_test",
    "mutual_information",
]

_MI_CLASSES = {
    "ksg": KSGMutualInformation,
    "ksg_discrete": DiscreteContinuousMutualInformation,
    "ksg_mixed": MixedKSGMutualInformation,
    "gaussian": GaussianMutualInformation,
    "binning": BinnedMutualInformation,
    "renyi": RenyiMutualInformation,
}
_NEURAL = ("mine", "nwj", "infonce", "smile")
MI_METHODS = (*_MI_CLASSES, *_NEURAL)

_CMI_CLASSES = {
    "ksg": KSGConditionalMutualInformation,
    "gaussian": GaussianConditionalMutualInformation,
    "plugin": PluginConditionalMutualInformation,
}
CMI_METHODS = tuple(_CMI_CLASSES)

_ENTROPY_CLASSES = {
    "kl": KozachenkoLeonenkoEntropy,
    "gaussian": GaussianEntropy,
    "binning": BinnedEntropy,
    "renyi": RenyiEntropy,
}


def mutual_information(
    X: ArrayLike, Y: ArrayLike, method: str = "ksg", *, base: float | None = None, **kwargs: Any
) -> float:
    """Estimate the mutual information :math:`I(X;Y)`.

    Parameters
    ----------
    X : array-like of shape (n,) or (n, dx)
        A 1-D array is one scalar variable.
    Y : array-like of shape (n,) or (n, dy)
        For ``method="ksg_discrete"``, a 1-D array of class labels.
    method : str, default="ksg"
        ``"ksg"`` (:class:`KSGMutualInformation`), ``"ksg_discrete"`` (continuous X,
        discrete labels Y; :class:`DiscreteContinuousMutualInformation`), ``"ksg_mixed"``
        (discrete, continuous or mixed X and Y, ties kept: Gao et al. 2017;
        :class:`MixedKSGMutualInformation`), ``"gaussian"``,
        ``"binning"``, ``"renyi"`` (matrix-based Rényi α-MI: a kernel functional, not a
        Shannon MI estimate), or a neural bound ``"mine"``, ``"nwj"``, ``"infonce"``,
        ``"smile"`` (:class:`NeuralMutualInformation`).
    base : None or float
        Logarithm base of the result; None gives nats, 2 gives bits.
    **kwargs
        Passed to the estimator class (e.g. ``k=5, algorithm=2, n_jobs=-1`` for KSG).

    Returns
    -------
    float
        The estimate in nats (or in ``base``); k-NN and bias-corrected estimates can be
        slightly negative near 0.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(4000); y = 0.8 * x + 0.6 * rng.standard_normal(4000)
    >>> bool(abs(mutual_information(x, y, base=2) - 0.737) < 0.05)   # -0.5 log2(1 - 0.64)
    True
    """
    check_base(base)
    method = check_choice(method, MI_METHODS, "method", wording="must")
    if method in _NEURAL:
        from .neural import NeuralMutualInformation

        est = NeuralMutualInformation(bound=method, **kwargs)
    else:
        est = _MI_CLASSES[method](**kwargs)
    return convert_base(est.fit(X, Y).mi_, base)


def entropy(
    X: ArrayLike, method: str = "kl", *, base: float | None = None, **kwargs: Any
) -> float:
    """Estimate the differential entropy :math:`H(X)`.

    Parameters
    ----------
    X : array-like of shape (n,) or (n, d)
        Real samples; a 1-D array is one scalar variable.
    method : {"kl", "gaussian", "binning", "renyi"}, default="kl"
        Kozachenko–Leonenko k-NN, Gaussian closed form, histogram, or matrix-based Rényi
        α-entropy (a kernel functional; not a differential entropy).
    base : None or float
        Logarithm base of the result; None gives nats, 2 gives bits.
    **kwargs
        Passed to the estimator class.

    Returns
    -------
    float
        The estimate in nats (or in ``base``); a differential entropy can be negative.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal(10000)
    >>> bool(abs(entropy(x) - 0.5 * np.log(2 * np.pi * np.e)) < 0.03)
    True
    """
    check_base(base)
    method = check_choice(method, tuple(_ENTROPY_CLASSES), "method", wording="must")
    return convert_base(_ENTROPY_CLASSES[method](**kwargs).fit(X).entropy_, base)


def conditional_mutual_information(
    X: ArrayLike,
    Y: ArrayLike,
    Z: ArrayLike,
    method: str = "ksg",
    *,
    base: float | None = None,
    **kwargs: Any,
) -> float:
    r"""Estimate the conditional mutual information :math:`I(X;Y\mid Z)`.

    .. math::
        I(X;Y\mid Z) = H(X,Z) + H(Y,Z) - H(Z) - H(X,Y,Z)

    Parameters
    ----------
    X : array-like of shape (n,) or (n, dx)
        A 1-D array is one scalar variable.
    Y : array-like of shape (n,) or (n, dy)
        Paired row by row with ``X``; labels with ``discrete_y=True`` (``"ksg"``).
    Z : array-like of shape (n,) or (n, dz)
        The conditioning variable.
    method : {"ksg", "gaussian", "plugin"}, default="ksg"
        ``"ksg"``: Frenzel–Pompe k-NN for continuous data, with ``discrete_y=True`` or
        ``discrete_z=True`` for labels (:class:`KSGConditionalMutualInformation`);
        ``"gaussian"``: closed form, bias-corrected
        (:class:`GaussianConditionalMutualInformation`); ``"plugin"``: all three discrete
        (:class:`PluginConditionalMutualInformation`).
    base : None or float
        Logarithm base of the result; None gives nats.
    **kwargs
        Passed to the estimator class.

    Returns
    -------
    float
        The estimate in nats (or in ``base``); can be slightly negative near 0.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.standard_normal((2, 4000))
    >>> z = x + y + 0.5 * rng.standard_normal(4000)   # collider: I(X;Y) = 0, I(X;Y|Z) > 0
    >>> round(conditional_mutual_information(x, y, z, method="gaussian"), 1)   # exact 0.511
    0.5
    """
    check_base(base)
    method = check_choice(method, CMI_METHODS, "method", wording="must")
    return convert_base(_CMI_CLASSES[method](**kwargs).fit(X, Y, Z).cmi_, base)
