"""bottlekit: interpretable models and information bottlenecks.

The names most users need are importable from the top level; heavy modules
(torch, open_clip) are imported lazily on first use so that ``import bottlekit``
stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from bottlekit._version import __version__

_LAZY = {
    "Backbone": "bottlekit.backbones",
    "load_backbone": "bottlekit.backbones",
    "list_backbones": "bottlekit.backbones",
    "EmbeddingCache": "bottlekit.cache",
    "embed": "bottlekit.cache",
    "make_world": "bottlekit.world",
    "ConceptBank": "bottlekit.concepts",
    "mutual_information": "bottlekit.estimators",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bottlekit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
