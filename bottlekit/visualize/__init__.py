"""Plots (matplotlib) and concept activation maps (attribution classes, one per method).

Every plotting function returns the Figure and never calls ``plt.show()``.
"""

from bottlekit.visualize.activation_maps import METHODS as ACTIVATION_MAP_METHODS
from bottlekit.visualize.activation_maps import concept_activation_map
from bottlekit.visualize.attribution import (
    ConceptActivationMapping,
    ConceptAttribution,
    ConceptGradCAM,
    ConceptIntegratedGradients,
    ConceptSaliency,
)
from bottlekit.visualize.information_plane_plot import plot_information_plane
from bottlekit.visualize.plots import (
    plot_activation_maps,
    plot_concept_weights,
    plot_contributions,
    plot_metric_summary,
)

__all__ = [
    "ACTIVATION_MAP_METHODS",
    "ConceptActivationMapping",
    "ConceptAttribution",
    "ConceptGradCAM",
    "ConceptIntegratedGradients",
    "ConceptSaliency",
    "concept_activation_map",
    "plot_activation_maps",
    "plot_concept_weights",
    "plot_contributions",
    "plot_information_plane",
    "plot_metric_summary",
]
