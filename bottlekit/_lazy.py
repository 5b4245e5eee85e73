"""A package's public names imported on first use (PEP 562).

A package whose ``__init__`` imports its modules eagerly makes every import of any of its
modules pay for torch, open_clip or matplotlib, even ``bottlekit --help``. The packages
that hold heavy modules list their public names instead, with the module each comes from,
and import it when the name is first used.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["import_attribute", "lazy_attributes"]


def import_attribute(spec: str, default_name: str = "") -> Any:
    """The object named by ``"module:name"`` (or ``"module"`` and ``default_name``),
    importing the module.

    Examples
    --------
    >>> import_attribute("math:sqrt")(4.0)
    2.0
    """
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name or default_name)


def lazy_attributes(
    package: str, table: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose names are imported lazily.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    table : mapping of str to str
        Each public name to the module that defines it, ``"module"`` or, for a name the
        module defines under another name, ``"module:name"``.

    Returns
    -------
    (callable, callable)
        The package's ``__getattr__(name)`` (imports the module and returns the name's
        value) and ``__dir__()`` (the table's names and the
        package's ``__all__``).

    Examples
    --------
    >>> getattr_, dir_ = lazy_attributes("pkg", {"sqrt": "math", "root": "math:sqrt"})
    >>> getattr_("root")(9.0)
    3.0
    >>> dir_()
    ['root', 'sqrt']
    """

    def __getattr__(name: str) -> Any:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # looked up every time, not kept: a patch of the defining module is then seen here
        return import_attribute(table[name], name)

    def __dir__() -> list[str]:
        exported = getattr(sys.modules.get(package), "__all__", ())
        return sorted({*table, *exported})

    return __getattr__, __dir__
