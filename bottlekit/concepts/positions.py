"""Which concepts an argument names: one rule for banks, fitted models and attributions."""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from bottlekit._arrays import as_index_array
from bottlekit.concepts.errors import UnknownConceptError

__all__ = ["concept_positions"]


def concept_positions(
    concepts: Any,
    names: Sequence[str],
    name: str = "concepts",
    *,
    expected: str,
    context: str = "",
    known_as: str | None = None,
    negative: bool = False,
    mask: bool = False,
    single: bool = True,
    allow_empty: bool = True,
) -> list[int]:
    """Positions in ``names`` of ``concepts``, in the order given.

    ``concepts`` is a concept name, a position, a list mixing both, an array of
    positions or of names (with ``mask=True`` also a boolean mask of shape
    ``(len(names),)``).
    Positions are checked (before names) by :func:`bottlekit._arrays.as_index_array`
    (``negative=True``: numpy-style positions from the end); a name that is not in ``names`` raises
    :class:`~bottlekit.concepts.UnknownConceptError` with its close matches.

    Parameters
    ----------
    concepts : str, int, sequence of str or int, or array
        The concepts asked for, by name or position.
    names : sequence of str
        The concepts that can be named, in position order.
    name : str, default "concepts"
        Argument name for the messages.
    expected : str
        What a position must be, for the message (e.g. ``"concept indices in 0..9"``).
    context, known_as : str
        Passed to :class:`~bottlekit.concepts.UnknownConceptError`.
    negative, mask : bool, default False
        Accept positions from the end / a boolean mask.
    single : bool, default True
        Take a lone position as a list of one (a lone name always is).
    allow_empty : bool, default True
        Whether no concept at all is accepted.

    Returns
    -------
    list of int
        The positions in ``names``, in the order given.

    Examples
    --------
    >>> concept_positions(["b", 0], ["a", "b", "c"], expected="indices in 0..2")
    [1, 0]
    >>> concept_positions(5, ["a", "b"], expected="indices in 0..1")
    Traceback (most recent call last):
    ...
    ValueError: concepts: expected indices in 0..1, got 5
    """
    if isinstance(concepts, (bytes, bytearray)):  # a sequence of ints to Python
        raise TypeError(
            f"{name}: expected names (str) or integer indices, got bytes {bytes(concepts[:40])!r}"
        )
    if isinstance(concepts, str) or (
        single
        and isinstance(concepts, numbers.Integral)
        and not isinstance(concepts, (bool, np.bool_))
    ):
        concepts = [concepts]
    elif isinstance(concepts, Iterator):
        concepts = list(concepts)
    elif getattr(getattr(concepts, "dtype", None), "kind", None) in ("U", "O"):
        # an array (or pandas Series) of names, or of names and positions, e.g.
        # ``np.array(bank.names)[keep]``: taken as the list of them, as a list is (before:
        # "expected a 1-D array of int, got <U..")
        listed = np.asarray(concepts, dtype=object)
        if listed.ndim == 1:
            concepts = [str(c) if isinstance(c, str) else c for c in listed.tolist()]
    k = len(names)
    if isinstance(concepts, (list, tuple)) and any(isinstance(c, str) for c in concepts):
        numbers_given = [c for c in concepts if not isinstance(c, str)]
        positions = iter(
            as_index_array(
                numbers_given, name, high=k, negative=negative, expected=expected
            ).tolist()
        )
        where = {n: i for i, n in reversed(list(enumerate(names)))}  # first occurrence
        unknown = [c for c in concepts if isinstance(c, str) and c not in where]
        if unknown:
            raise UnknownConceptError(unknown[0], names, context, known_as=known_as)
        out = [where[c] if isinstance(c, str) else next(positions) for c in concepts]
    elif isinstance(concepts, (list, tuple, np.ndarray, numbers.Number)) or hasattr(
        concepts, "__array__"
    ):
        out = as_index_array(
            concepts, name, high=k, negative=negative, mask=mask, expected=expected
        ).tolist()
    else:
        raise TypeError(
            f"{name}: expected a concept name, an index or a list of them, got "
            f"{type(concepts).__name__}"
        )
    if not out and not allow_empty:
        raise ValueError(f"{name}: got an empty list; expected at least one concept")
    return out
