"""The error raised wherever a concept name is looked up and is not there."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

__all__ = ["UnknownConceptError"]


class UnknownConceptError(KeyError, ValueError):
    """Concept name(s) not among the known concepts, with the close matches of each.

    A :class:`KeyError` (a name lookup failed); also a :class:`ValueError`, so code that
    caught the ``ValueError`` some lookups raised before keeps working.

    Parameters
    ----------
    missing : str or sequence of str
        The name(s) that were looked up and not found.
    known : sequence of str
        The names that exist.
    context : str, default ""
        Where the lookup happened (e.g. the argument name), put first in the message.
    known_as : str, optional
        How the message names the known set (default ``"the <n> known concepts"``).

    Attributes
    ----------
    missing : list of str
    name : str
        The first missing name.
    close_matches : dict of str to list of str
        For each missing name, up to three known names that look alike (``difflib``).

    Examples
    --------
    >>> err = UnknownConceptError("red wing", ["red wings", "blue tail"])
    >>> err.close_matches
    {'red wing': ['red wings']}
    >>> print(err)
    concept 'red wing' is not one of the 2 known concepts; did you mean 'red wings'?
    >>> isinstance(err, KeyError)
    True
    """

    def __init__(
        self,
        missing: str | Sequence[str],
        known: Sequence[str],
        context: str = "",
        known_as: str | None = None,
    ):
        self.missing = [missing] if isinstance(missing, str) else [str(m) for m in missing]
        known = [str(k) for k in known]
        self.close_matches = {
            m: difflib.get_close_matches(m, known, n=3, cutoff=0.6) for m in self.missing
        }
        head = f"{context}: " if context else ""
        if len(self.missing) == 1:
            what = f"concept {self.missing[0]!r} is"
        else:
            more = f" (+{len(self.missing) - 5})" if len(self.missing) > 5 else ""
            what = f"concepts {self.missing[:5]}{more} are"
        hints = [f"{c!r}" for m in self.missing[:5] for c in self.close_matches[m]]
        hint = (
            f"; did you mean {', '.join(dict.fromkeys(hints))}?"
            if hints
            else f" (e.g. {known[:4]})"
        )
        known_as = known_as or f"the {len(known)} known concepts"
        self.message = f"{head}{what} not one of {known_as}{hint}"
        super().__init__(self.message)

    @property
    def name(self) -> str:
        """The first missing name."""
        return self.missing[0]

    def __str__(self) -> str:
        return self.message
