"""Bottleneck models: information-bottleneck estimators (and, later, concept bottlenecks)."""

from bottlekit.bottleneck.baselines import MLPClassifierBaseline, MLPRegressorBaseline
from bottlekit.bottleneck.csib import CSIBRegressor
from bottlekit.bottleneck.vib import VIBClassifier, VIBRegressor

__all__ = [
    "CSIBRegressor",
    "MLPClassifierBaseline",
    "MLPRegressorBaseline",
    "VIBClassifier",
    "VIBRegressor",
]
