"""Plots of concept-bottleneck models: activation maps, contributions, weights, metrics.

Every function builds a :class:`matplotlib.figure.Figure` with the object API (never
through ``pyplot``, so nothing is left open in pyplot's figure registry and nothing is
shown), draws into it and returns it; ``fig.savefig(path)`` writes it. In a notebook a
returned figure is displayed once, as the cell's value.

The functions share one style: positive contributions in :data:`POSITIVE_COLOR`,
negative ones in :data:`NEGATIVE_COLOR`, the parts of a logit that are not concepts
(intercept, residual, the remaining concepts) in :data:`NEUTRAL_COLOR`, signed weights on
the diverging colour map :data:`DIVERGING_CMAP` centred at 0, activation maps on
:data:`HEAT_CMAP`, and the categorical colours of :data:`CATEGORY_COLORS` for methods.

The functions live one per module (``map_plot``, ``contribution_plot``, ``weight_plot``,
``metric_plot``; the style and the shared checks in ``_plot_style``); this module gathers
them under their documented names.
"""

from __future__ import annotations

from bottlekit.visualize._plot_style import (
    CATEGORY_COLORS,
    DIVERGING_CMAP,
    HEAT_CMAP,
    MAX_CELL_INCHES,
    MAX_GRID_CELLS,
    NEGATIVE_COLOR,
    NEUTRAL_COLOR,
    POSITIVE_COLOR,
    check_cmap,
)
from bottlekit.visualize.contribution_plot import plot_contributions
from bottlekit.visualize.map_plot import plot_activation_maps
from bottlekit.visualize.metric_plot import plot_metric_summary
from bottlekit.visualize.weight_plot import plot_concept_weights

__all__ = [
    "CATEGORY_COLORS",
    "DIVERGING_CMAP",
    "HEAT_CMAP",
    "MAX_CELL_INCHES",
    "MAX_GRID_CELLS",
    "NEGATIVE_COLOR",
    "NEUTRAL_COLOR",
    "POSITIVE_COLOR",
    "check_cmap",
    "plot_activation_maps",
    "plot_concept_weights",
    "plot_contributions",
    "plot_metric_summary",
]
