"""bottlekit: interpretable models and information bottlenecks.

The names most users need are importable from the top level; heavy modules
(torch, open_clip) are imported lazily on first use so that ``import bottlekit``
stays cheap.
"""

from __future__ import annotations

from bottlekit._lazy import lazy_attributes
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


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
