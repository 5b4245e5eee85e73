"""``backbone`` is the first parameter of every concept builder.

Builders that took their inputs first (``from_examples``, ``generate``, ``retrieve``,
``filter_concepts``) still accept that order for one release: :func:`backbone_first` reads a
call whose first argument is not a backbone in the old order and emits a ``FutureWarning``.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["backbone_first", "is_backbone"]

F = TypeVar("F", bound=Callable[..., Any])


def is_backbone(value: Any) -> bool:
    """Whether ``value`` can be a builder's ``backbone`` argument.

    ``None``, a backbone id string that is not an existing path (an existing path is a
    folder or file of images), or an object with a string ``id`` and an ``encode_texts`` or
    ``encode_images`` method.

    Examples
    --------
    >>> is_backbone(None), is_backbone("ViT-B-32"), is_backbone(["cardinal"])
    (True, True, False)
    """
    if value is None:
        return True
    if isinstance(value, str):
        return not os.path.exists(value)
    return isinstance(getattr(value, "id", None), str) and (
        callable(getattr(value, "encode_texts", None))
        or callable(getattr(value, "encode_images", None))
    )


def backbone_first(func: F) -> F:
    """Let ``func(backbone, inputs...)`` also be called as ``func(inputs..., backbone=...)``.

    The second form (the order before this release) warns with ``FutureWarning``. A call
    with every argument by keyword may leave out ``backbone`` (it is then None).
    """
    name = func.__name__

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not args:
            kwargs.setdefault("backbone", None)
        elif not is_backbone(args[0]):
            warnings.warn(
                f"{name}: the backbone is now the first argument, {name}(backbone, ...) "
                f"(None where it is optional); {name}(<inputs>, ..., backbone=...) still "
                "works in this release and will be removed in the next",
                FutureWarning,
                stacklevel=2,
            )
            args = (kwargs.pop("backbone", None), *args)
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
