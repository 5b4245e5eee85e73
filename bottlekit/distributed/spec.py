"""Which backbone every encoder actor loads: a name and its weights, not a model object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["BackboneSpec"]


@dataclass(frozen=True)
class BackboneSpec:
    """A backbone by name, loadable on any worker with :func:`bottlekit.load_backbone`.

    Parameters
    ----------
    name : str
        Model name, as for :func:`bottlekit.load_backbone` (``"world-tiny"``, ``"ViT-B-32"``).
    pretrained : str, optional
        Pretrained tag or checkpoint path (a path must exist on every worker).

    Examples
    --------
    >>> BackboneSpec.coerce("world-tiny")
    BackboneSpec(name='world-tiny', pretrained=None)
    >>> BackboneSpec.coerce(("ViT-B-32", "openai")).pretrained
    'openai'
    """

    name: str
    pretrained: str | None = None

    @classmethod
    def coerce(cls, value: Any) -> BackboneSpec:
        """A spec from a spec, a name, a ``(name, pretrained)`` pair or a dict."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str) and value:
            return cls(value)
        if isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[0], str):
            return cls(value[0], None if value[1] is None else str(value[1]))
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            return cls(value["name"], value.get("pretrained"))
        raise TypeError(
            f"backbone_spec: expected a model name, a (name, pretrained) pair, a dict with "
            f"'name' or a BackboneSpec, got {value!r} (workers load the model themselves, "
            "so a loaded Backbone cannot be passed)"
        )

    def load(self, device: Any = None) -> Any:
        """Load the backbone (:func:`bottlekit.load_backbone`)."""
        from bottlekit.backbones import load_backbone

        return load_backbone(self.name, self.pretrained, device=device)
