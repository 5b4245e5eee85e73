r"""The information a layer keeps about the input beyond the label, :math:`I(X;Z\mid Y)`.

Kawaguchi, Deng, Ji & Huang ("How Does Information Bottleneck Help Deep Learning?",
ICML 2023) bound the generalisation gap of a network whose layer :math:`l` computes a
representation :math:`Z_l` of the input by the information that layer keeps about
the input beyond what the label explains. For a fixed encoder (their Theorem 1), with
probability at least :math:`1 - \delta` over the :math:`n` training samples,

.. math::
    \text{test loss} - \text{train loss}
    \;\le\; \tilde O\!\left(\sqrt{\frac{I(X;Z_l\mid Y) + 1}{n}}\right),

and for an encoder learned from the training set :math:`S` (Theorem 2) the numerator
gains :math:`I(\phi_l^S; S)`, the information the encoder's parameters keep about the
training set; the hidden factors depend on the loss's range, :math:`\delta` and the
number of classes, not on the number of parameters. (Their earlier bounds scaled
exponentially in :math:`I(X;Z)`; conditioning on Y makes the dependence linear.)

For a deterministic layer and continuous X, :math:`I(X;Z\mid Y)` is infinite; the paper
measures it on the last hidden layer of a *stochastic* encoder (the layer the linear
classifier reads; their deterministic-network variant instead bins each layer and takes
the plug-in :math:`H(\tilde Z\mid Y=c)` per class, ``est_MI_binning_cond``; bottlekit's
binned estimators cover that case), :math:`p(z\mid x) = N(\mu(x), \operatorname{diag}
\sigma(x)^2)` (``StochasticMLP`` in ``xu-ji/information-bottleneck``). Two estimators:

:func:`gaussian_encoder_conditional_mi` — the reference code's (``est_MI_cond`` with
``sz=-1``, ``jensen=False``): within each class :math:`c` with training inputs
:math:`x_1..x_{n_c}`, one draw :math:`z_i \sim p(z\mid x_i)` per input and

.. math::
    \hat I(X;Z\mid Y=c) = \frac1{n_c}\sum_i \Big[\log p(z_i\mid x_i)
    - \log \frac1{n_c}\sum_j p(z_i\mid x_j)\Big],

averaged over classes with weights :math:`n_c/n`. The inner mean includes
:math:`j = i`, so each class's term is at most :math:`\log n_c` (an InfoNCE-type
bound: it underestimates when the true value approaches :math:`\log n_c`). Given the
same means, standard deviations and noise draws it equals the reference's
``est_MI_cond`` to rounding (both ``jensen`` settings). Both return nats; the
reference's plots convert with ``to_bits(x) = x * log(2)``, so the values it labels
bits are nats times 0.693 (bits are nats / 0.693): divide those by :math:`\log 2`
to compare them with this function's nats.

:func:`encoder_conditional_mi_ksg` — bottlekit's Frenzel–Pompe k-NN CMI
(:func:`~bottlekit.estimators.conditional_mutual_information`, discrete Y) between the
sampled :math:`Z` and the encoder's sufficient statistic :math:`S = (\mu(X), \log\sigma(X))`:
Z depends on X only through S, so :math:`I(X;Z\mid Y) = I(S;Z\mid Y)` exactly, and S has
a few dimensions where X may have many. It needs no density model, only samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp

from bottlekit._checks import check_bool, check_positive_int

from ._validation import as_2d_samples, check_random_state
from .conditional import as_discrete

__all__ = ["encoder_conditional_mi_ksg", "gaussian_encoder_conditional_mi"]

_LOG_2PI = np.log(2.0 * np.pi)


def _check_encoder(means, stds, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mu = as_2d_samples(means, "means", min_samples=2)
    sd = np.asarray(stds, dtype=np.float64) if np.ndim(stds) == 0 else None
    if sd is not None:
        if not np.isfinite(sd) or sd <= 0:
            raise ValueError(f"stds must be > 0 and finite, got {float(sd)!r}")
        sd = np.full_like(mu, float(sd))
    else:
        sd = as_2d_samples(stds, "stds", min_samples=2)
        if sd.shape != mu.shape:
            raise ValueError(
                f"stds must be a positive number or have the shape of means {mu.shape}, "
                f"got {sd.shape}"
            )
        if np.any(sd <= 0):
            raise ValueError(f"stds must be > 0, got minimum {float(sd.min())!r}")
    labels = as_discrete(y, "y", min_samples=2)
    if labels.shape[1] != 1:
        raise ValueError(f"y must be one label per sample, shape (n,), got {np.shape(y)}")
    if len(labels) != len(mu):
        raise ValueError(
            f"means and y must have the same number of samples (rows); "
            f"got {len(mu)} and {len(labels)}"
        )
    return mu, sd, labels[:, 0]


def _class_logdensity(z: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """``log N(z_i; mu_j, diag sd_j^2)`` for all pairs, shape (len(z), len(mu))."""
    inv_var = 1.0 / sd**2  # (m, d)
    # sum_d (z_id - mu_jd)^2 / s_jd^2 expanded as a matrix product
    quad = (z**2) @ inv_var.T - 2.0 * z @ (mu * inv_var).T + np.sum(mu**2 * inv_var, axis=1)
    log_norm = -0.5 * (mu.shape[1] * _LOG_2PI) - np.sum(np.log(sd), axis=1)
    return log_norm[None, :] - 0.5 * np.maximum(quad, 0.0)


def gaussian_encoder_conditional_mi(
    means: ArrayLike,
    stds: ArrayLike,
    y: ArrayLike,
    *,
    jensen: bool = False,
    random_state: int | np.random.Generator | None = None,
) -> float:
    r"""The reference code's Monte-Carlo estimate of :math:`I(X;Z\mid Y)` in nats.

    The layer is a Gaussian encoder :math:`p(z\mid x) = N(\mu(x), \operatorname{diag}
    \sigma(x)^2)`; one :math:`z_i` is drawn for every training input, and the log of the
    class-conditional marginal :math:`p(z\mid Y=c)` is the log of the mean of
    :math:`p(z_i\mid x_j)` over the inputs of the class (see the module docstring;
    ``xu-ji/information-bottleneck``, ``est_MI_cond``).

    Parameters
    ----------
    means : array-like of shape (n, d)
        :math:`\mu(x_i)` of the training inputs.
    stds : float or array-like of shape (n, d)
        :math:`\sigma(x_i)` (> 0); a number is a layer with fixed noise.
    y : array-like of int, shape (n,)
        Class labels (integers; floats are refused).
    jensen : bool, default=False
        Replace :math:`\log` mean :math:`p` by mean :math:`\log p` (the reference's
        ``jensen=True`` variant, a lower estimate of the marginal's log).
    random_state : int, numpy Generator or None
        Seed of the draw of :math:`z_i`.

    Returns
    -------
    float
        Nats; the term of class :math:`c` is at most :math:`\log n_c`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)   # not the estimator's seed: its noise must be new
    >>> y = np.repeat([0, 1], 1000); mu = rng.standard_normal((2000, 2)) + y[:, None]
    >>> est = gaussian_encoder_conditional_mi(mu, 1.0, y, random_state=0)
    >>> bool(abs(est - np.log(2)) < 0.05)   # 0.5 * 2 * log(1 + 1/1)
    True
    """
    check_bool(jensen, "jensen")
    mu, sd, labels = _check_encoder(means, stds, y)
    rng = check_random_state(random_state)
    z = mu + sd * rng.standard_normal(mu.shape)
    total, n = 0.0, len(mu)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < 2:
            raise ValueError(f"y: class {c} has {len(idx)} sample; need at least 2 per class")
        # The expanded quadratic form of _class_logdensity cancels digits in proportion
        # to |z / sd|^2: centre the class (the form is invariant to a common shift), and
        # put each row's own term, computed directly, on the diagonal, so the class term
        # keeps its ceiling log n_c (before: means at 1e5 with sd 1e-4 gave 43 nats above
        # it, and means at 1e8 with sd 1 gave 0.31 for 0.71).
        centre = mu[idx].mean(axis=0)
        mu_c, z_c = mu[idx] - centre, z[idx] - centre
        parts = []
        for start in range(0, len(idx), 1024):  # bounded memory: 1024 x n_c at a time
            rows = slice(start, start + 1024)
            logp = _class_logdensity(z_c[rows], mu_c, sd[idx])
            own = -0.5 * np.sum(((z[idx[rows]] - mu[idx[rows]]) / sd[idx[rows]]) ** 2, axis=1)
            own += -0.5 * mu.shape[1] * _LOG_2PI - np.sum(np.log(sd[idx[rows]]), axis=1)
            diag = np.arange(len(own))
            logp[diag, start + diag] = own
            marg = logp.mean(axis=1) if jensen else logsumexp(logp, axis=1) - np.log(len(idx))
            parts.append(own - marg)
        total += float(np.concatenate(parts).sum())
    return total / n


def encoder_conditional_mi_ksg(
    means: ArrayLike,
    stds: ArrayLike,
    y: ArrayLike,
    *,
    k: int = 3,
    random_state: int | np.random.Generator | None = None,
    **kwargs: Any,
) -> float:
    r""":math:`I(X;Z\mid Y)` in nats by bottlekit's k-NN CMI on the encoder's samples.

    Draws :math:`z_i \sim N(\mu_i, \operatorname{diag}\sigma_i^2)` and returns
    :math:`\hat I(S; Z\mid Y) = \sum_c \frac{n_c}{n} \hat I_{KSG}(S; Z\mid Y=c)` with
    :math:`S = (\mu, \log\sigma)` (just :math:`\mu` for a fixed ``stds``): the estimate
    of :class:`~bottlekit.estimators.KSGConditionalMutualInformation` with
    ``discrete_z=True``, except that columns of S constant within a class (they encode
    the label only) are left out of that class's term. Because Z depends on X only
    through S, :math:`I(X;Z\mid Y) = I(S;Z\mid Y)`.

    Parameters
    ----------
    means : array-like of shape (n, d)
        :math:`\mu(x_i)` of the training inputs.
    stds : float or array-like of shape (n, d)
        :math:`\sigma(x_i)` (> 0); a number is a layer with fixed noise.
    y : array-like of int, shape (n,)
        Class labels (integers; floats are refused); each class needs more than ``k``
        samples.
    k : int, default=3
        Number of neighbours of the k-NN estimate within each class.
    random_state : int, numpy Generator or None
        Seed of the draw of :math:`z_i` and of the per-class estimators' jitter.
    **kwargs
        Passed to :class:`~bottlekit.estimators.KSGMutualInformation`.

    Returns
    -------
    float
        Nats (can be slightly negative near 0).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)   # not the estimator's seed: its noise must be new
    >>> y = np.repeat([0, 1], 1000); mu = rng.standard_normal((2000, 2)) + y[:, None]
    >>> est = encoder_conditional_mi_ksg(mu, 1.0, y, random_state=0)
    >>> bool(abs(est - np.log(2)) < 0.05)
    True
    """
    from .ksg import KSGMutualInformation

    k = check_positive_int(k, "k")
    fixed = np.ndim(stds) == 0
    mu, sd, labels = _check_encoder(means, stds, y)
    rng = check_random_state(random_state)
    z = mu + sd * rng.standard_normal(mu.shape)
    stat = mu if fixed else np.concatenate([mu, np.log(sd)], axis=1)
    total = 0.0
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) <= k:
            raise ValueError(
                f"y: class {c} has {len(idx)} samples; the k-NN estimate needs more than "
                f"k = {k} per class"
            )
        # columns constant within the class (a unit that only encodes the label) carry
        # no information beyond it; the k-NN estimate is undefined on them
        keep = np.ptp(stat[idx], axis=0) > 0
        if not np.any(keep):
            continue
        seed = int(rng.integers(2**31 - 1))
        est = KSGMutualInformation(k=k, random_state=seed, **kwargs)
        total += len(idx) * float(est.fit(stat[idx][:, keep], z[idx]).mi_)
    return total / len(labels)
