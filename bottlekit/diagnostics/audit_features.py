"""Step 1 of an audit: the model's features and predictions on every image.

A torch classifier gives its penultimate features (or logits) and its argmax
(:func:`~bottlekit.diagnostics.model_features.model_features`); a fitted
concept-bottleneck model, its backbone's embeddings (with the embedding cache) and its
own predictions. Either way the data's classes are matched with the model's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bottlekit.diagnostics.audit_inputs import (
    _check_banks_match,
    _match_outputs,
    _name_model_classes,
)
from bottlekit.diagnostics.model_features import model_features


def _features(
    model: Any,
    data: Any,
    concepts: Any,
    backbone: Any,
    feature_layer: Any,
    preprocess: Any,
    space: str,
    batch_size: int,
    device: Any,
) -> tuple[Any, np.ndarray, np.ndarray, str]:
    """``(data, F_all, pred, feature_space)``: ``data`` with its class names matched to
    the model's outputs or classes, the features (n, d) of every image, the model's
    predicted class of each, and where the features live (``space`` or ``"embeddings"``)."""
    from bottlekit.bottleneck import BaseConceptBottleneck

    if isinstance(model, BaseConceptBottleneck):
        for arg, value in (("feature_layer", feature_layer), ("preprocess", preprocess)):
            if value is not None:  # used to be ignored without a word
                raise ValueError(
                    f"{arg}: only used for a torch classifier; a concept-bottleneck model is "
                    "audited on the backbone's embeddings (leave it None)"
                )
        if not hasattr(model, "coef_"):
            raise ValueError("model: the concept-bottleneck model is not fitted")
        if backbone is None:
            raise ValueError(
                "backbone: a concept-bottleneck model works on embeddings; pass the backbone "
                "that embeds the images (bottlekit.load_backbone(...))"
            )
        if not (callable(getattr(backbone, "encode_images", None)) and hasattr(backbone, "id")):
            raise TypeError(
                "backbone: expected a Backbone from bottlekit.load_backbone(...), got "
                f"{type(backbone).__name__}"
            )
        _check_banks_match(backbone, model, concepts)
        from bottlekit.cache import embed

        F_all = embed(backbone, data.image_source, progress=False, batch_size=batch_size)
        if F_all.shape[1] != model.n_features_in_:
            raise ValueError(
                f"backbone: embeds in {F_all.shape[1]} dimensions, the model expects "
                f"{model.n_features_in_}"
            )
        unknown = sorted(set(np.unique(data.labels).tolist()) - set(model.classes_.tolist()))
        if unknown:
            raise ValueError(
                f"data.labels: {len(unknown)} label(s) {unknown[:5]} are not classes of the "
                f"model (its classes: {model.classes_.tolist()[:10]}"
                f"{'...' if len(model.classes_) > 10 else ''}); audit it on data labelled "
                "with its own classes"
            )
        data = _name_model_classes(data, model.classes_)
        pred = np.array([int(c) for c in model.predict(F_all)])
        feature_space = "embeddings"
        if space == "logits":
            raise ValueError("space='logits' applies to torch classifiers, not to a CBM")
    elif isinstance(model, torch.nn.Module):
        if backbone is not None:  # used to be ignored without a word
            raise ValueError(
                "backbone: only used for a concept-bottleneck model; a torch classifier is "
                "audited on its own features (feature_layer), with input-gradient saliency "
                "maps through them (leave it None)"
            )
        F_all, Z = model_features(
            model,
            data.image_source,
            feature_layer=feature_layer,
            preprocess=preprocess,
            space=space,
            batch_size=batch_size,
            device=device,
        )
        data = _match_outputs(data, Z.shape[1])
        pred = Z.argmax(1)
        feature_space = space
    else:
        raise TypeError(
            "model: expected a torch.nn.Module classifier or a fitted bottlekit "
            f"concept-bottleneck model, got {type(model).__name__}"
        )
    return data, F_all, pred, feature_space
