"""Deprecated argument names: accept the old name for a while, with a FutureWarning.

Functions rename an argument with :func:`renamed_argument`; estimators, which keep both
names as constructor parameters (scikit-learn's way), with :func:`renamed_param`."""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["DEPRECATED", "is_unset", "renamed_argument", "renamed_param"]


def renamed_argument(
    owner: str, new: str, new_value: Any, old: str, old_value: Any, default: Any
) -> tuple[Any, str]:
    """The value of an argument renamed from ``old`` to ``new``, and the name it came by.

    ``old_value`` is ``None`` when the old name was not used. When it was, a
    :class:`FutureWarning` (pointing at the caller of ``owner``) says to use ``new``;
    passing both names with different values is a :class:`TypeError`.

    Parameters
    ----------
    owner : str
        The function, for the messages (e.g. ``"make_world"``).
    new, old : str
        The argument's new and old names.
    new_value, old_value : Any
        What was passed under each name (``old_value`` None: not passed).
    default : Any
        The default of ``new`` (a ``new_value`` equal to it counts as not passed).

    Returns
    -------
    value : Any
    name : str
        ``new`` or ``old``: the name to use in messages about the value.

    Examples
    --------
    >>> renamed_argument("f", "random_state", 3, "seed", None, 0)
    (3, 'random_state')
    """
    if old_value is None:
        return new_value, new
    warnings.warn(
        f"{owner}: `{old}` is deprecated and will be removed; use `{new}` (same meaning)",
        FutureWarning,
        stacklevel=3,
    )
    if new_value != default and new_value != old_value:
        raise TypeError(
            f"{owner}: got {new}={new_value!r} and its deprecated alias {old}={old_value!r}; "
            f"pass only {new}"
        )
    return old_value, old


#: Default of a deprecated alias parameter: "not given".
DEPRECATED = "deprecated"


def is_unset(value: Any) -> bool:
    """Whether a deprecated alias parameter was left at its default, :data:`DEPRECATED`.

    Parameters
    ----------
    value : Any
        The alias parameter's value (an array is not the default: no elementwise ``==``).

    Returns
    -------
    bool

    Examples
    --------
    >>> is_unset(DEPRECATED), is_unset(0.1)
    (True, False)
    """
    return isinstance(value, str) and value == DEPRECATED


def renamed_param(estimator: Any, old: str, new: str) -> tuple[Any, str]:
    """Value of hyper-parameter ``new``, or of its deprecated alias ``old`` if that was set,
    and the name it came by (as :func:`renamed_argument` returns them).

    The estimator keeps both as constructor parameters (scikit-learn's way of renaming:
    ``get_params``, ``clone`` and ``set_params`` keep working); the alias defaults to
    :data:`DEPRECATED`. Setting it emits a ``FutureWarning`` at fit time and wins over
    ``new``.

    Parameters
    ----------
    estimator : object
        The estimator, holding both attributes.
    old, new : str
        The alias's and the parameter's names.

    Returns
    -------
    value : Any
        The alias's value when it was set, else the parameter's.
    name : str
        ``old`` or ``new``: the name to use in messages about the value.

    Examples
    --------
    >>> class Model:
    ...     l1_ratio, alpha = 0.99, 0.5
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     value, name = renamed_param(Model(), "alpha", "l1_ratio")
    >>> value, name, w[0].category.__name__
    (0.5, 'alpha', 'FutureWarning')
    """
    value = getattr(estimator, old)
    if is_unset(value):
        return getattr(estimator, new), new
    warnings.warn(
        f"{type(estimator).__name__}: the parameter {old!r} is renamed {new!r}; {old!r} "
        "still works in this release and will be removed in the next",
        FutureWarning,
        stacklevel=4,  # renamed_param < _check_params < fit < the caller of fit
    )
    return value, old
