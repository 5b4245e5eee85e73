"""Checks of scalar hyper-parameters, shared by the estimators, the concept-bottleneck models
and the information-bottleneck models.

Every numeric hyper-parameter of the package goes through :func:`check_number`: a finite
real number (an integer where asked) inside optional bounds. Errors name the parameter, the
value received and what was expected, in one of the two wordings the package uses:

* ``"expected"`` (the models): ``"batch_size: expected an int > 0, got 0"``;
* ``"must"`` (the estimators): ``"k must be an integer >= 1, got 0"``.

Booleans are not numbers here, NaN and infinity are out of every range. A string option
(``method="ksg"``) goes through :func:`check_choice`, in the same two wordings. This module
sits at the bottom of the package and imports nothing from it.
"""

from __future__ import annotations

import difflib
import math
import numbers
import os
from collections import Counter
from collections.abc import Iterable
from typing import Any, Literal

__all__ = [
    "byte_size",
    "check_bool",
    "check_choice",
    "check_generator",
    "check_layer_sizes",
    "check_number",
    "check_positive_int",
    "check_seed",
    "check_unused",
    "int_seed",
    "is_number",
    "physical_memory",
    "repeated_items",
    "shown_value",
]

#: Longest ``repr`` of a received value that an error message shows in full; a longer one
#: is cut (a string seed of a megabyte made a megabyte of message).
MAX_SHOWN_CHARS = 80


def repeated_items(items: Iterable[Any]) -> list[Any]:
    """The items that occur more than once in ``items``, sorted, each once.

    One pass (a :class:`collections.Counter`); the checks of repeated names used
    ``names.count(c)`` for every name, quadratic: 0.24 s for 5,000 names, about 24 s for a
    bank of 50,000 concepts (LaBo's ImageNet size).

    Parameters
    ----------
    items : iterable of hashable, mutually comparable values

    Returns
    -------
    list

    Examples
    --------
    >>> repeated_items(["b", "a", "b", "c", "a", "b"])
    ['a', 'b']
    >>> repeated_items([])
    []
    """
    return sorted(item for item, count in Counter(items).items() if count > 1)


def shown_value(value: Any) -> str:
    """``repr(value)`` for an error message: cut to :data:`MAX_SHOWN_CHARS`, and never failing.

    An int of more than 4,300 digits has no ``repr`` (Python refuses the conversion with
    its own ``ValueError``, which would replace the message that names the argument); it
    is shown by its size instead.

    Parameters
    ----------
    value : object

    Returns
    -------
    str

    Examples
    --------
    >>> shown_value(3)
    '3'
    >>> shown_value("x" * 1000)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... (a str of length 1000)"
    >>> shown_value(10**5000)
    'an int of 16610 bits'
    """
    try:
        text = repr(value)
    except ValueError:
        if isinstance(value, int):
            return f"an int of {value.bit_length()} bits"
        return f"a {type(value).__name__}"
    if len(text) <= MAX_SHOWN_CHARS:
        return text
    if isinstance(value, (str, bytes)):
        size = f"a {type(value).__name__} of length {len(value)}"
    else:
        size = f"a {type(value).__name__}, repr of {len(text)} characters"
    return f"{text[: MAX_SHOWN_CHARS - 30]}... ({size})"


def physical_memory() -> int | None:
    """Bytes of physical memory of this machine (None where the system does not say).

    The bound of the checks that refuse, before allocating, an array that cannot fit: a
    larger request fails inside numpy's allocator ("Unable to allocate ..."), or is granted
    lazily and pushes the machine into swap.
    """
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def byte_size(nbytes: float) -> str:
    """A number of bytes for a message, in binary units.

    Examples
    --------
    >>> byte_size(512), byte_size(3 * 2**30), byte_size(2**70)
    ('512.0 B', '3.0 GiB', '1048576.0 PiB')
    """
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if nbytes < 1024 or unit == "PiB":
            return f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return ""  # pragma: no cover


_NOUNS = {
    "expected": {True: "an int", False: "a finite number"},
    "must": {True: "an integer", False: "a number"},
}


def is_number(value: Any, *, integer: bool = False) -> bool:
    """Whether ``value`` is a real number (an integer if ``integer``); booleans are not.

    Parameters
    ----------
    value : object
    integer : bool, default=False
        Accept only integers (Python or numpy).

    Returns
    -------
    bool

    Examples
    --------
    >>> is_number(2.5), is_number(True), is_number(2.5, integer=True), is_number("3")
    (True, False, False, False)
    """
    kind = numbers.Integral if integer else numbers.Real
    return isinstance(value, kind) and not isinstance(value, bool)


def _bound(value: float) -> str:
    return str(value) if isinstance(value, numbers.Integral) else f"{value:g}"


def check_number(
    value: Any,
    name: str,
    *,
    integer: bool = False,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    expected: str | None = None,
    wording: Literal["expected", "must"] = "expected",
    type_error: bool = False,
) -> int | float:
    """Return ``value`` (as int or float) if it is a finite number in range, else raise.

    The range is ``low <= value`` (``<`` if ``low_open``) and ``value <= high`` (``<`` if
    ``high_open``); a bound of ``None`` is absent.

    Parameters
    ----------
    value : object
        The hyper-parameter to check.
    name : str
        Its name, first word of the error message.
    integer : bool, default=False
        Require an integer (Python or numpy); booleans never pass.
    low, high : float or None, default=None
        Bounds of the accepted range.
    low_open, high_open : bool, default=False
        Exclude the bound itself.
    expected : str or None, default=None
        What the message says was expected; default: ``"an int"`` / ``"a finite number"``
        (``"an integer"`` / ``"a number"`` with ``wording="must"``) followed by the bounds.
    wording : {"expected", "must"}, default="expected"
        Message form: ``"{name}: expected {expected}, got {value!r}"`` or
        ``"{name} must be {expected}, got {value!r}"`` (a long ``repr`` cut by
        :func:`shown_value`).
    type_error : bool, default=False
        Raise ``TypeError`` (instead of ``ValueError``) when ``value`` is not a number.

    Returns
    -------
    int or float
        ``int(value)`` if ``integer``, else ``float(value)``.

    Raises
    ------
    ValueError
        If ``value`` is out of range, not finite, or (unless ``type_error``) not a number.
    TypeError
        If ``type_error`` and ``value`` is not a number of the requested kind.

    Examples
    --------
    >>> check_number(0.5, "alpha", low=0, high=1)
    0.5
    >>> check_number(0, "batch_size", integer=True, low=0, low_open=True)
    Traceback (most recent call last):
    ...
    ValueError: batch_size: expected an int > 0, got 0
    >>> check_number(-1.0, "jitter", low=0, wording="must")
    Traceback (most recent call last):
    ...
    ValueError: jitter must be a number >= 0, got -1.0
    """
    if wording not in _NOUNS:
        raise ValueError(f"wording must be 'expected' or 'must', got {wording!r}")
    numeric = is_number(value, integer=integer)
    ok = numeric and (integer or math.isfinite(value))
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if ok:
        return int(value) if integer else float(value)
    if expected is None:
        bounds = []
        if low is not None:
            bounds.append(f"{'>' if low_open else '>='} {_bound(low)}")
        if high is not None:
            bounds.append(f"{'<' if high_open else '<='} {_bound(high)}")
        expected = " ".join([_NOUNS[wording][integer], " and ".join(bounds)]).strip()
    if wording == "must":
        message = f"{name} must be {expected}, got {shown_value(value)}"
    else:
        message = f"{name}: expected {expected}, got {shown_value(value)}"
    raise (TypeError if type_error and not numeric else ValueError)(message)


def check_positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as int; ``TypeError`` unless an integer, ``ValueError`` if ``< minimum``.

    Parameters
    ----------
    value : object
    name : str
        Parameter name for the error message.
    minimum : int, default=1

    Returns
    -------
    int

    Examples
    --------
    >>> check_positive_int(3, "k")
    3
    >>> check_positive_int(0, "k")
    Traceback (most recent call last):
    ...
    ValueError: k must be an integer >= 1, got 0
    """
    return check_number(value, name, integer=True, low=minimum, wording="must", type_error=True)


def check_seed(value: Any, name: str = "random_state") -> Any:
    """Return ``value`` if numpy can seed a generator with it, else raise naming ``name``.

    Accepted: ``None``, an integer ``>= 0`` (not a boolean), or a numpy ``Generator``,
    ``RandomState``, ``SeedSequence`` or ``BitGenerator``. Anything else would fail deep
    inside ``numpy.random`` (``expected non-negative integer``) or, for ``True``, seed
    with 1 unnoticed.

    Parameters
    ----------
    value : object
    name : str, default="random_state"
        Parameter name for the error message.

    Returns
    -------
    object
        ``value`` unchanged.

    Raises
    ------
    TypeError
        If ``value`` is of none of the accepted kinds.
    ValueError
        If ``value`` is a negative integer.

    Examples
    --------
    >>> check_seed(3)
    3
    >>> check_seed(-1)
    Traceback (most recent call last):
    ...
    ValueError: random_state: expected None, an int >= 0 or a numpy random generator, got -1
    """
    import numpy as np

    expected = "None, an int >= 0 or a numpy random generator"
    if value is None:
        return value
    if is_number(value, integer=True):
        if value < 0:
            raise ValueError(f"{name}: expected {expected}, got {shown_value(value)}")
        return value
    random = np.random
    kinds = (random.Generator, random.RandomState, random.SeedSequence, random.BitGenerator)
    if isinstance(value, kinds):
        return value
    raise TypeError(f"{name}: expected {expected}, got {shown_value(value)}")


def int_seed(value: Any, name: str = "random_state") -> int | None:
    """An integer seed (for torch or an epoch's shuffle) drawn from ``value``.

    ``value`` is checked by :func:`check_seed`; an int is returned as it is, a numpy
    ``RandomState``, ``Generator``, ``BitGenerator`` or ``SeedSequence`` gives a seed
    in ``[0, 2**31 - 1)`` drawn from it (advancing it, as scikit-learn does with a
    ``RandomState``), and ``None`` stays ``None`` (the caller decides what unseeded means).

    Parameters
    ----------
    value : object
    name : str, default="random_state"
        Parameter name for the error message.

    Returns
    -------
    int or None

    Examples
    --------
    >>> int_seed(7)
    7
    >>> import numpy as np
    >>> int_seed(np.random.default_rng(0)) == int_seed(np.random.default_rng(0))
    True
    """
    import numpy as np

    check_seed(value, name)
    if value is None or is_number(value, integer=True):
        return None if value is None else int(value)
    if isinstance(value, np.random.RandomState):
        return int(value.randint(2**31 - 1))
    if isinstance(value, np.random.SeedSequence):
        return int(value.generate_state(1)[0] % (2**31 - 1))
    if isinstance(value, np.random.BitGenerator):
        value = np.random.Generator(value)
    return int(value.integers(2**31 - 1))


def check_bool(value: Any, name: str) -> bool:
    """Return ``value`` as bool if it is one (Python or numpy), else raise ``TypeError``.

    A flag given a string or ``None`` would otherwise be taken by its truth value
    (``"no"`` is true).

    Parameters
    ----------
    value : object
    name : str
        Parameter name for the error message.

    Returns
    -------
    bool

    Examples
    --------
    >>> check_bool(False, "center")
    False
    >>> check_bool("no", "center")
    Traceback (most recent call last):
    ...
    TypeError: center: expected True or False, got 'no'
    """
    if not isinstance(value, bool):
        import numpy as np

        if not isinstance(value, np.bool_):
            raise TypeError(f"{name}: expected True or False, got {shown_value(value)}")
    return bool(value)


def check_layer_sizes(value: Any, name: str = "hidden_sizes") -> tuple[int, ...]:
    """Return ``value`` as a tuple of ints if it is a tuple or list of positive ints.

    The widths of a network's hidden layers; an empty tuple is no hidden layer.

    Parameters
    ----------
    value : object
        The widths.
    name : str, default "hidden_sizes"
        Parameter name for the error message.

    Returns
    -------
    tuple of int

    Examples
    --------
    >>> check_layer_sizes([64, 32])
    (64, 32)
    >>> check_layer_sizes(64)
    Traceback (most recent call last):
    ...
    ValueError: hidden_sizes: expected a tuple of positive ints, got 64
    """
    if not isinstance(value, (tuple, list)) or not all(
        is_number(h, integer=True) and h > 0 for h in value
    ):
        raise ValueError(f"{name}: expected a tuple of positive ints, got {shown_value(value)}")
    return tuple(int(h) for h in value)


def check_unused(value: Any, name: str, where: str, hint: str = "", *, unset: Any = None) -> None:
    """Refuse a parameter given where it has no effect (it used to be ignored, silently).

    A parameter that only some modes read defaults to ``unset`` (``None``, meaning "the
    documented default"), so that a value the user gave can be told from the default; in
    the other modes a given value is refused rather than dropped (scikit-learn's way).

    Parameters
    ----------
    value : object
        The parameter as received.
    name : str
        Its name, first word of the error message.
    where : str
        The mode in which it has no effect, as the message says it: ``"with
        method='truncate'"``.
    hint : str, default=""
        What to do instead, appended after ``"leave it None"``.
    unset : object, default=None
        The default that means "not given" (the check passes when ``value is unset``, or
        equals it for a string).

    Raises
    ------
    ValueError
        If ``value`` is not ``unset``.

    Examples
    --------
    >>> check_unused(None, "n_lambdas", "with method='truncate'")
    >>> check_unused(8, "n_lambdas", "with method='truncate'", " or use method='refit'")
    Traceback (most recent call last):
    ...
    ValueError: n_lambdas: 8 has no effect with method='truncate'; leave it None or use ...
    >>> check_unused("auto", "max_examples", "with a ConceptDataset", unset="auto")
    """
    if value is unset or (isinstance(unset, str) and isinstance(value, str) and value == unset):
        return
    default = "None" if unset is None else repr(unset)
    raise ValueError(
        f"{name}: {shown_value(value)} has no effect {where}; leave it {default}{hint}"
    )


def check_generator(value: Any, name: str = "rng") -> Any:
    """Return ``value`` if it is a ``numpy.random.Generator``, else raise ``TypeError``.

    Functions that draw from a generator handed to them (rather than seeding their own)
    call its methods (``random``, ``integers``, ``permutation``); a seed, ``None`` or a
    legacy ``RandomState`` would fail deep inside with an ``AttributeError``.

    Parameters
    ----------
    value : object
    name : str, default="rng"
        Parameter name for the error message.

    Returns
    -------
    numpy.random.Generator
        ``value`` unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> check_generator(np.random.default_rng(0))  # doctest: +ELLIPSIS
    Generator(PCG64) at ...
    >>> check_generator(0)
    Traceback (most recent call last):
    ...
    TypeError: rng: expected a numpy.random.Generator (numpy.random.default_rng(seed)), got 0
    """
    import numpy as np

    if not isinstance(value, np.random.Generator):
        raise TypeError(
            f"{name}: expected a numpy.random.Generator (numpy.random.default_rng(seed)), "
            f"got {shown_value(value)}"
        )
    return value


#: Values other than strings that :func:`check_choice` accepts among the choices; they are
#: matched by identity (``is``), never hashed nor compared with ``==``.
_SINGLETONS = (None, True, False)

#: Longest received string for which :func:`check_choice` looks for a close match.
_MAX_HINT_CHARS = 100


def _closest_name(value: str, names: list[str]) -> str | None:
    """The choice ``value`` most likely meant: one equal to it but for case, else the
    closest by :func:`difflib.get_close_matches` with case ignored (``'PATCH_TOKENS'``
    was too far from ``'patch_tokens'`` for a case-sensitive match); None if none is
    close."""
    folded = value.casefold()
    same = [c for c in names if c.casefold() == folded]
    if same:
        return same[0]
    by_folded = {c.casefold(): c for c in reversed(names)}  # the first of equal folds wins
    close = difflib.get_close_matches(folded, list(by_folded), n=1)
    return by_folded[close[0]] if close else None


def check_choice(
    value: Any,
    choices: Iterable[Any],
    name: str,
    *,
    expected: str | None = None,
    wording: Literal["expected", "must"] = "expected",
) -> Any:
    """Return ``value`` if it is one of ``choices`` (a str option), else raise naming ``name``.

    ``choices`` holds strings and, where an option may also be absent or a flag, ``None``,
    ``True`` or ``False`` (matched by identity). The received value's type is checked
    before it is compared: a list, a dict or a numpy array would otherwise fail deep inside
    ``in`` (``unhashable type: 'list'``, ``The truth value of an array ... is ambiguous``)
    with a message that names nothing. A string subclass (``numpy.str_``) is returned as a
    plain ``str``. A string that is not among the choices but close to one, case ignored,
    gets a hint (``did you mean 'ksg'?`` for ``'kgs'`` or ``'KSG'``).

    Parameters
    ----------
    value : object
        The option to check.
    choices : iterable of str, None or bool
        The accepted values; a tuple or a list is shown as it is, a dict by its keys, a
        set sorted.
    name : str
        Parameter name, first word of the error message.
    expected : str or None, default=None
        What the message says was expected, where it says more than the list (``"'u'
        (self-pairs excluded) or 'v' (all pairs)"``, ``"a float > 0 or one of ..."``);
        default: ``"one of {choices}"``.
    wording : {"expected", "must"}, default="expected"
        Message form, as in :func:`check_number`: ``"{name}: expected {expected}, got
        {value!r}"`` (the models) or ``"{name} must be {expected}, got {value!r}"`` (the
        estimators), the value written by :func:`shown_value`.

    Returns
    -------
    str or None or bool
        ``value`` (``str(value)`` for a string).

    Raises
    ------
    TypeError
        If ``value`` is neither a string nor one of the non-string choices.
    ValueError
        If ``value`` is a string that is not one of ``choices``.

    Examples
    --------
    >>> check_choice("ksg", ("ksg", "binning"), "method", wording="must")
    'ksg'
    >>> check_choice("kgs", ("ksg", "binning"), "method", wording="must")
    Traceback (most recent call last):
    ...
    ValueError: method must be one of ('ksg', 'binning'), got 'kgs'; did you mean 'ksg'?
    >>> check_choice(["ksg"], ("ksg", "binning"), "method")
    Traceback (most recent call last):
    ...
    TypeError: method: expected one of ('ksg', 'binning'), got ['ksg']
    >>> check_choice(None, (None, "random_tiles"), "approximation") is None
    True
    """
    if wording not in _NOUNS:
        raise ValueError(f"wording must be 'expected' or 'must', got {wording!r}")
    if isinstance(choices, (tuple, list)):
        shown_choices = choices
    elif isinstance(choices, (set, frozenset)):
        shown_choices = sorted(choices, key=repr)
    else:
        shown_choices = tuple(choices)
    names = [c for c in shown_choices if isinstance(c, str)]
    if isinstance(value, str):
        if value in names:
            return str(value)
        error: type[Exception] = ValueError
    else:
        if any(value is c for c in shown_choices if not isinstance(c, str)):
            return value
        error = TypeError
    if expected is None:
        expected = f"one of {shown_choices}"
    if wording == "must":
        message = f"{name} must be {expected}, got {shown_value(value)}"
    else:
        message = f"{name}: expected {expected}, got {shown_value(value)}"
    if error is ValueError and len(value) <= _MAX_HINT_CHARS:
        close = _closest_name(value, names)
        if close is not None:
            message += f"; did you mean {close!r}?"
    raise error(message)
