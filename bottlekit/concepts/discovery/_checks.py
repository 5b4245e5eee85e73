"""Argument checks shared by the discovery functions."""

from __future__ import annotations

from typing import Any

import numpy as np

from bottlekit._arrays import as_real_array
from bottlekit._checks import check_number, int_seed, shown_value

__all__ = ["at_mean", "check_embeddings", "check_int", "refuse_concepts_at_mean", "seed_of"]


def check_embeddings(X: Any, arg: str = "X", *, min_samples: int = 1) -> np.ndarray:
    """``X`` as a finite float32 array of shape (n, d); ``ValueError`` naming ``arg`` if not.

    Values that float32 cannot hold are refused, not rounded: beyond its range (about
    3.4e38; they became inf, reported as NaN or inf) or rows so small that they become 0
    (the decomposition of a zero row is empty, silently)."""
    given = X
    with np.errstate(over="ignore"):  # beyond float32's range: refused below, by row
        X = as_real_array(X, arg, dtype=np.float32)

    def as_given() -> np.ndarray:
        # X in its own dtype, read once where a row is refused (a tensor that requires
        # grad too: np.asarray raised torch's "Can't call numpy() on Tensor that requires
        # grad")
        return as_real_array(given, arg, dtype=None)

    if X.ndim != 2:
        # patch tokens (encode_image_tokens: n images x p tokens x d) are embeddings one
        # token per row
        hint = (
            f" (patch tokens of shape (n, p, d): pass them one per row, {arg}.reshape(-1, "
            f"{X.shape[-1]}))"
            if X.ndim == 3
            else ""
        )
        raise ValueError(f"{arg}: expected a 2-D array of shape (n, d), got shape {X.shape}{hint}")
    if X.shape[0] < min_samples or X.shape[1] < 1:
        raise ValueError(
            f"{arg}: expected at least {min_samples} sample(s) and 1 feature, got shape {X.shape}"
        )
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        row = as_given()[first]
        if np.isfinite(row).all():
            raise ValueError(
                f"{arg}: row {first} holds {float(np.abs(row).max()):.3g}, beyond float32's "
                f"range (3.4e38); expected embeddings on a moderate scale (divide them by "
                "their norm)"
            )
        raise ValueError(
            f"{arg} contains NaN or inf in {int(bad.sum())} row(s) (first: row "
            f"{int(np.flatnonzero(bad)[0])}); expected finite embeddings"
        )
    zero = ~X.any(axis=1)
    if zero.any():  # rows of 1e-300 are 0 in float32
        rows = as_given()[zero]
        lost = np.flatnonzero(zero)[rows.reshape(len(rows), -1).any(axis=1)]
        if len(lost):
            raise ValueError(
                f"{arg}: {len(lost)} row(s) are nonzero but below float32's smallest value "
                f"(first: row {int(lost[0])}), so they would become 0; expected embeddings on a "
                "moderate scale (divide them by their norm)"
            )
    return np.ascontiguousarray(X)


def check_int(value: Any, arg: str, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]``; ``ValueError`` naming ``arg`` otherwise.

    The check is :func:`bottlekit._checks.check_number`'s, with this module's wording.
    """
    upper = "" if high is None else f" and <= {high}"
    expected = f"an integer >= {low}{upper}"
    return int(check_number(value, arg, integer=True, low=low, high=high, expected=expected))


#: The largest integer ``random_state``: scikit-learn's NMF takes seeds in [0, 2**32 - 1]
#: (beyond, its own InvalidParameterError), and torch's generator overflowed on 2**64.
MAX_SEED = 2**32 - 1


def seed_of(random_state: Any) -> int:
    """An integer seed from ``random_state`` (:func:`bottlekit._checks.int_seed`; None: a
    fresh random seed); an int beyond :data:`MAX_SEED` is refused."""
    seed = int_seed(random_state, "random_state")
    if seed is not None and seed > MAX_SEED:
        raise ValueError(
            "random_state: expected None, an int in [0, 2**32 - 1] or a numpy random "
            f"generator, got {shown_value(random_state)}"
        )
    return int(np.random.default_rng().integers(2**31 - 1)) if seed is None else seed


#: float32's machine epsilon, 2**-23: embeddings (:func:`check_embeddings`), image means
#: and a vocabulary's vectors (:class:`~bottlekit.concepts.ConceptBank`) are float32.
_EPS32 = float(np.finfo(np.float32).eps)


def at_mean(centred: Any, rows: Any, mean: Any) -> Any:
    r"""Which rows of ``centred = rows - mean`` hold only rounding error (numpy or torch,
    float64): a boolean per row.

    A row counts as at the mean when :math:`\lVert r - m\rVert \le \varepsilon\,
    (\lVert r\rVert + \lVert m\rVert)`, :math:`\varepsilon = 2^{-23}` float32's machine
    epsilon. The rows and the mean come from float32 values, each entry rounded by up
    to :math:`2^{-24}` of itself, which moves a unit vector by up to :math:`2^{-23}`; so
    the mean of unit rows (or a float32 image mean, by :math:`2^{-24}\lVert m\rVert`)
    and a unit row each carry up to :math:`\varepsilon` of their norm, and their
    difference up to the bound. The float64 arithmetic adds about
    :math:`d \cdot 2^{-53}`, below it by a factor of :math:`10^9 / d`. Below the bound the
    centred row's direction may be rounding alone: renormalised, it would be decomposed
    (or matched to an atom) as noise. Near copies of one image fall here (random trials,
    two rows centred on their mean): ``x`` and ``3 x`` in float32 at about a tenth of the
    bound, rows ``1e-7`` apart (relative) under half of it, ``1e-6`` apart about at it,
    ``1e-5`` apart 10 to 40 times over it.
    """
    norm = (centred * centred).sum(-1) ** 0.5
    return norm <= _EPS32 * ((rows * rows).sum(-1) ** 0.5 + (mean * mean).sum() ** 0.5)


def refuse_concepts_at_mean(flat: list[int], names: list[str], centring: str) -> None:
    """``ValueError`` naming the vocabulary's concepts ``flat`` (indices into ``names``)
    that centring on the vocabulary's mean leaves without a direction (:func:`at_mean`);
    ``centring`` says which centring (``"center=True"``)."""
    if not flat:
        return
    shown = ", ".join(repr(names[j]) for j in flat[:5]) + (", ..." if len(flat) > 5 else "")
    raise ValueError(
        f"vocabulary: {len(flat)} concept(s) point along the vocabulary's mean ({shown}), "
        f"so centring on it ({centring}) leaves them no direction; expected a vocabulary "
        "of distinct concepts (e.g. more than two phrases)"
    )
