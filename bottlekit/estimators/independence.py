"""Permutation test of independence for any mutual-information estimator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from bottlekit._checks import check_choice, check_positive_int

from ._validation import as_2d_samples, check_paired, check_random_state

__all__ = ["MIPermutationResult", "mi_permutation_test"]


@dataclass(frozen=True)
class MIPermutationResult:
    """Outcome of :func:`mi_permutation_test`.

    Parameters
    ----------
    mi : float
        Estimate on the observed pairing (nats).
    p_value : float
        :math:`(1 + \\#\\{b: \\hat I_b \\ge \\hat I\\})/(1 + B)`.
    null_mean, null_std : float
        Mean and standard deviation of the estimates on permuted pairings; ``mi -
        null_mean`` removes the estimator's bias at independence.

    Examples
    --------
    >>> result = MIPermutationResult(mi=0.5, p_value=0.01, null_mean=0.02, null_std=0.01)
    >>> round(result.mi - result.null_mean, 2)
    0.48
    """

    mi: float
    p_value: float
    null_mean: float
    null_std: float


def mi_permutation_test(
    X: ArrayLike,
    Y: ArrayLike,
    method: str = "ksg",
    *,
    n_permutations: int = 199,
    random_state: int | np.random.Generator | None = None,
    **kwargs: Any,
) -> MIPermutationResult:
    """Test :math:`H_0: X \\perp Y` by recomputing an MI estimate on permuted pairings.

    Under :math:`H_0` the observed pairing is exchangeable with the permuted ones, so the
    p-value is exact (valid at any ``n``) whatever the bias of the estimator.

    Parameters
    ----------
    X : array-like of shape (n,) or (n, dx)
        Samples of ``X``; a 1-D array is one column.
    Y : array-like of shape (n,) or (n, dy)
        Samples of ``Y``, paired row by row with ``X`` (labels for ``"ksg_discrete"``).
    method : str, default="ksg"
        Any method of :func:`bottlekit.estimators.mutual_information`.
    n_permutations : int, default=199
        Number :math:`B` of permuted pairings; the smallest possible p-value is
        :math:`1/(1 + B)`.
    random_state : int, numpy Generator or None
        Seeds the permutations and, for the estimators that draw random numbers (the
        k-NN estimators' jitter against ties, the Rényi subsample, the neural critics),
        the estimator: one seed drawn from it serves the observed and every permuted
        pairing, so an int gives the same result on every call.
    **kwargs
        Passed to the estimator.

    Returns
    -------
    MIPermutationResult
        The observed estimate (nats), its p-value and the null mean and spread.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal(300)
    >>> bool(mi_permutation_test(x, np.sin(3 * x) + 0.3 * rng.standard_normal(300),
    ...                          n_permutations=99, random_state=0).p_value <= 0.01)
    True
    """
    from . import _MI_CLASSES, _NEURAL, MI_METHODS, mutual_information

    method = check_choice(method, MI_METHODS, "method", wording="must")
    X = as_2d_samples(X, "X")
    if method == "ksg_discrete":  # labels (strings too), checked by the estimator
        Y = np.asarray(Y)
        if Y.ndim == 0:
            raise ValueError(f"Y must be an array of labels of shape (n,), got {Y!r}")
    else:
        Y = as_2d_samples(Y, "Y")
    check_paired(X, Y)
    B = check_positive_int(n_permutations, "n_permutations")
    rng = check_random_state(random_state)
    if method in _NEURAL or "random_state" in _MI_CLASSES[method]().get_params():
        # the estimator's own draws (jitter, subsample) come from random_state too: with
        # None the estimate on tied data changed from call to call whatever the seed
        kwargs["random_state"] = int(rng.integers(2**31 - 1))
    obs = mutual_information(X, Y, method=method, **kwargs)
    null = np.array(
        [
            mutual_information(X, Y[rng.permutation(X.shape[0])], method=method, **kwargs)
            for _ in range(B)
        ]
    )
    p = (1.0 + np.sum(null >= obs)) / (1.0 + B)
    return MIPermutationResult(float(obs), float(p), float(null.mean()), float(null.std()))
