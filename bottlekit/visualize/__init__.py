"""Plots (matplotlib) and concept activation maps (attribution classes, one per method).

Every plotting function returns the Figure and never calls ``plt.show()``.
"""

from bottlekit._lazy import lazy_attributes

_LAZY = {
    "ACTIVATION_MAP_METHODS": "bottlekit.visualize.map_methods:METHODS",
    "ConceptActivationMapping": "bottlekit.visualize.attribution",
    "ConceptAttribution": "bottlekit.visualize.attribution",
    "ConceptGradCAM": "bottlekit.visualize.attribution",
    "ConceptIntegratedGradients": "bottlekit.visualize.attribution",
    "ConceptPatchTokens": "bottlekit.visualize.attribution",
    "ConceptSaliency": "bottlekit.visualize.attribution",
    "concept_activation_map": "bottlekit.visualize.activation_maps",
    "plot_activation_maps": "bottlekit.visualize.plots",
    "plot_concept_weights": "bottlekit.visualize.plots",
    "plot_contributions": "bottlekit.visualize.plots",
    "plot_information_plane": "bottlekit.visualize.information_plane_plot",
    "plot_metric_summary": "bottlekit.visualize.plots",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
