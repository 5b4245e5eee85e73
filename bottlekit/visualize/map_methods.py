"""The names of the concept activation map methods, importable without torch (the
command line lists them in its help)."""

from __future__ import annotations

__all__ = ["METHODS"]

METHODS: tuple[str, ...] = (
    "gradcam",
    "integrated_gradients",
    "saliency",
    "coam",
    "patch_tokens",
)
"""The names accepted by ``method`` of :func:`~bottlekit.visualize.concept_activation_map`."""
