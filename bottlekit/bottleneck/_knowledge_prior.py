r"""KnoBo's class-concept prior: a bank's ``class_prior`` (the knowledge source's, or a
language model's, answers) as the signed matrix :math:`P \in \{+1, -1, 0\}` that the head
is pulled towards (part 3 of :mod:`bottlekit.bottleneck.knowledge`)."""

from __future__ import annotations

import numpy as np


def signed_prior(prior: np.ndarray, zero_as: str = "no") -> np.ndarray:
    r"""Map a class–concept prior to KnoBo's :math:`P \in \{+1, -1, 0\}` (yes / no / unknown).

    * A prior with negative entries is read as already signed: :math:`P = \mathrm{sign}(p)`.
    * A non-negative prior (a bank's ``class_prior``: 1 where the knowledge source gives the
      concept to the class, or a probability) is read as the probability of "yes":
      :math:`p \ge 0.5 \to +1`; :math:`0 < p < 0.5 \to -1`; :math:`p = 0 \to -1`
      (``zero_as="no"``) or :math:`0` (``zero_as="unknown"``).

    The reference asks a language model "does concept j apply to class c" for every pair
    and gets yes or no (its priors files have no "unknown"), hence the default ``"no"``.

    Parameters
    ----------
    prior : ndarray of shape (C, k)
        Class-concept prior: signed (any negative entry) or the probability of "yes".
    zero_as : {"no", "unknown"}
        What a 0 in a non-negative prior means: -1 (no) or 0 (unknown).

    Returns
    -------
    ndarray of float32, shape (C, k)
        :math:`P`, entries +1 (yes), -1 (no) and 0 (unknown).

    Examples
    --------
    >>> signed_prior(np.array([[1.0, 0.0, 0.2]]))
    array([[ 1., -1., -1.]], dtype=float32)
    >>> signed_prior(np.array([[1.0, 0.0]]), zero_as="unknown")
    array([[1., 0.]], dtype=float32)
    """
    p = np.asarray(prior, dtype=np.float64)
    if (p < 0).any():
        return np.sign(p).astype(np.float32)
    out = np.where(p >= 0.5, 1.0, -1.0)
    if zero_as == "unknown":
        out[p == 0] = 0.0
    return out.astype(np.float32)
