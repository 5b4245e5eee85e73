"""Which backbone every encoder actor loads: a name and its weights, not a model object."""

from __future__ import annotations

import os
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
        """A spec from a spec, a name, a ``(name, pretrained)`` pair or a dict with the
        keys ``name`` and optionally ``pretrained``.

        The name must be a non-empty str and ``pretrained`` None, a str or a path (a
        number or a misspelt key would otherwise load other weights than asked for).

        Parameters
        ----------
        value : BackboneSpec, str, (str, str or PathLike) or dict
            What to read: a spec (returned as is), a model name, a ``(name,
            pretrained)`` pair or ``{"name": ..., "pretrained": ...}``.

        Returns
        -------
        BackboneSpec
            The spec, with a path ``pretrained`` turned into a str.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str) and value:
            return cls(value)
        name: Any = None
        pretrained: Any = None
        if isinstance(value, (tuple, list)) and len(value) == 2:
            name, pretrained = value
        elif isinstance(value, dict) and "name" in value:
            unknown = sorted(set(value) - {"name", "pretrained"}, key=str)
            if unknown:
                raise TypeError(
                    f"backbone_spec: unknown key(s) {unknown} in {value!r}; expected 'name' "
                    "and optionally 'pretrained'"
                )
            name, pretrained = value["name"], value.get("pretrained")
        if not (isinstance(name, str) and name):
            raise TypeError(
                f"backbone_spec: expected a model name, a (name, pretrained) pair, a dict with "
                f"'name' or a BackboneSpec, got {value!r} (workers load the model themselves, "
                "so a loaded Backbone cannot be passed)"
            )
        if pretrained is not None and not isinstance(pretrained, (str, os.PathLike)):
            raise TypeError(
                f"backbone_spec: pretrained must be None, a tag or a checkpoint path, got "
                f"{pretrained!r}"
            )
        return cls(name, None if pretrained is None else str(pretrained))

    def load(self, device: Any = None) -> Any:
        """Load the backbone (:func:`bottlekit.load_backbone`).

        Parameters
        ----------
        device : str, torch.device or None
            Where the model runs; ``None`` picks CUDA when available, else the CPU.

        Returns
        -------
        Backbone
            The loaded backbone.
        """
        from bottlekit.backbones import load_backbone

        return load_backbone(self.name, self.pretrained, device=device)
