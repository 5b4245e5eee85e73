"""Renamed hyper-parameters: the old name stays one release as a deprecated alias."""

from __future__ import annotations

import warnings
from typing import Any

__all__ = ["DEPRECATED", "renamed_param"]

#: Default of a deprecated alias parameter: "not given".
DEPRECATED = "deprecated"


def renamed_param(estimator: Any, old: str, new: str) -> Any:
    """Value of hyper-parameter ``new``, or of its deprecated alias ``old`` if that was set.

    The estimator keeps both as constructor parameters (scikit-learn's way of renaming:
    ``get_params``, ``clone`` and ``set_params`` keep working); the alias defaults to
    :data:`DEPRECATED`. Setting it emits a ``FutureWarning`` at fit time and wins over
    ``new``.

    Examples
    --------
    >>> class Model:
    ...     l1_ratio, alpha = 0.99, 0.5
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     value = renamed_param(Model(), "alpha", "l1_ratio")
    >>> value, w[0].category.__name__
    (0.5, 'FutureWarning')
    """
    value = getattr(estimator, old)
    if isinstance(value, str) and value == DEPRECATED:
        return getattr(estimator, new)
    warnings.warn(
        f"{type(estimator).__name__}: the parameter {old!r} is renamed {new!r}; {old!r} "
        "still works in this release and will be removed in the next",
        FutureWarning,
        stacklevel=4,  # renamed_param < _check_params < fit < the caller of fit
    )
    return value
