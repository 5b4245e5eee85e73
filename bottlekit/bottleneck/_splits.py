"""Held-out validation parts of a training set, shared by the torch-trained bottlenecks."""

from __future__ import annotations

import numpy as np

__all__ = ["stratified_validation_split"]


def stratified_validation_split(
    y: np.ndarray, n_classes: int, validation_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    r"""Hold out :math:`\mathrm{round}(f\, n_c)` examples of each class :math:`c` for validation.

    At least one example of every class stays in the training part, so a class with a
    single example (one-shot learning) is never held out; when nothing is held out the
    validation part is empty.

    Parameters
    ----------
    y : ndarray of int, shape (n,)
        Class indices ``0..n_classes-1``.
    n_classes : int
    validation_fraction : float
        :math:`f \in [0, 1)`.
    rng : numpy Generator

    Returns
    -------
    train_idx, val_idx : ndarray of int
        Sorted indices into ``y``.

    Examples
    --------
    >>> y = np.repeat([0, 1], 10)
    >>> tr, va = stratified_validation_split(y, 2, 0.2, np.random.default_rng(0))
    >>> len(tr), len(va), np.bincount(y[va]).tolist()
    (16, 4, [2, 2])
    """
    held = []
    for c in range(n_classes):
        members = rng.permutation(np.flatnonzero(y == c))
        m = round(validation_fraction * len(members))
        held.append(members[: max(0, min(m, len(members) - 1))])
    val_idx = np.sort(np.concatenate(held)).astype(np.int64)
    mask = np.ones(len(y), dtype=bool)
    mask[val_idx] = False
    return np.flatnonzero(mask).astype(np.int64), val_idx
