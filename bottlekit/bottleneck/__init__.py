"""Bottleneck models: concept bottlenecks (CBMs) and information-bottleneck estimators.

Concept bottlenecks (scikit-learn classifiers on image embeddings, or on images through
:class:`BottleneckClassifier`) share :class:`BaseConceptBottleneck`: ``transform`` gives
concept activations, ``explain`` per-image contributions, ``prune``/``intervene`` edit,
``save``/``load`` persist (safetensors + JSON). A plain linear head on a backbone's
embeddings, as a torch image classifier and as a file, is in ``linear_head.py``
(:class:`BackboneLinearClassifier`, :func:`save_linear_head`, :func:`load_linear_head`).
"""

from bottlekit.bottleneck._cbm_base import BaseConceptBottleneck
from bottlekit.bottleneck.baselines import MLPClassifierBaseline, MLPRegressorBaseline
from bottlekit.bottleneck.csib import CSIBRegressor
from bottlekit.bottleneck.discovered import DiscoveredCBM
from bottlekit.bottleneck.explanation import ConceptExplanation
from bottlekit.bottleneck.image_classifier import BottleneckClassifier
from bottlekit.bottleneck.knowledge import KnowledgeCBM
from bottlekit.bottleneck.label_free import LabelFreeCBM
from bottlekit.bottleneck.labo import LaBo
from bottlekit.bottleneck.linear_head import (
    BackboneLinearClassifier,
    load_linear_head,
    save_linear_head,
)
from bottlekit.bottleneck.posthoc import PosthocCBM
from bottlekit.bottleneck.vib import VIBClassifier, VIBRegressor

__all__ = [
    "BackboneLinearClassifier",
    "BaseConceptBottleneck",
    "BottleneckClassifier",
    "CSIBRegressor",
    "ConceptExplanation",
    "DiscoveredCBM",
    "KnowledgeCBM",
    "LaBo",
    "LabelFreeCBM",
    "MLPClassifierBaseline",
    "MLPRegressorBaseline",
    "PosthocCBM",
    "VIBClassifier",
    "VIBRegressor",
    "load_linear_head",
    "save_linear_head",
]
