"""Held-out validation parts of a training set, shared by the torch-trained bottlenecks."""

from __future__ import annotations

import numpy as np

__all__ = ["stratified_validation_split"]


def stratified_validation_split(
    y: np.ndarray,
    validation_fraction: float,
    rng: np.random.Generator,
    *,
    min_per_class: int = 0,
    min_train_per_class: int = 1,
    min_validation: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Hold out about :math:`\mathrm{round}(f\, n_c)` examples of each class for validation.

    Every class :math:`c` (in sorted order) has its examples permuted by ``rng``; a class
    with a single example stays in the training part; a class of :math:`n_c \ge 2`
    examples gives

    .. math:: m_c = \min\bigl(\max(\mathrm{round}(f\,n_c),\ \text{min\_per\_class}),\
              n_c - \text{min\_train\_per\_class}\bigr)

    of them to the validation part. If fewer than ``min_validation`` examples are held
    out in all, the validation part is instead the first
    :math:`\max(\text{min\_validation}, \mathrm{round}(f\,n))` of a permutation of all
    examples (unstratified).

    The bottlenecks use two settings: LaBo and KnoBo keep at least one example of every
    class for training and may hold out nothing (the defaults); Label-free CBM's
    projection takes at least one example of each class with two or more, and at least
    two in all (``min_per_class=1, min_train_per_class=0, min_validation=2``).

    Parameters
    ----------
    y : ndarray of shape (n,)
        Class labels.
    validation_fraction : float
        :math:`f \in [0, 1)`.
    rng : numpy Generator
        Permutes each class's examples (and all examples in the unstratified fallback).
    min_per_class : int, default 0
        Least number held out of a class with at least two examples.
    min_train_per_class : int, default 1
        Least number of each class kept for training (takes precedence over
        ``min_per_class``).
    min_validation : int, default 0
        Least size of the validation part; below it the unstratified draw is used.

    Returns
    -------
    train_idx, val_idx : ndarray of int64
        Sorted indices into ``y``.

    Examples
    --------
    >>> y = np.repeat([0, 1], 10)
    >>> tr, va = stratified_validation_split(y, 0.2, np.random.default_rng(0))
    >>> len(tr), len(va), np.bincount(y[va]).tolist()
    (16, 4, [2, 2])
    """
    y = np.asarray(y)
    n = len(y)
    held = [np.zeros(0, dtype=np.int64)]
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        if len(members) < 2:
            continue
        m = max(round(validation_fraction * len(members)), min_per_class)
        held.append(members[: max(0, min(m, len(members) - min_train_per_class))])
    val_idx = np.concatenate(held)
    if len(val_idx) < min_validation:
        val_idx = rng.permutation(n)[: max(min_validation, round(validation_fraction * n))]
    val_idx = np.sort(val_idx).astype(np.int64)
    mask = np.ones(n, dtype=bool)
    mask[val_idx] = False
    return np.flatnonzero(mask).astype(np.int64), val_idx
