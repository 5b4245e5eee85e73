"""The arguments of :func:`~bottlekit.distributed.embed_dataset`, each checked by name
before Ray starts or a model is loaded."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from bottlekit._arrays import as_real_array
from bottlekit._checks import check_bool, check_number
from bottlekit.atomic import check_output_path


def _check_arguments(args: dict[str, Any]) -> None:
    """The plain arguments of :func:`embed_dataset`, each by name, before any work."""
    for name in ("num_workers", "num_cpus"):
        if args[name] is not None:
            check_number(args[name], name, integer=True, low=1)
    for name in ("device", "address"):
        if args[name] is not None and not isinstance(args[name], str):
            raise TypeError(f"{name}: expected a str or None, got {args[name]!r}"[:300])
    for name in ("path_column", "label_column"):
        if not isinstance(args[name], str):
            raise TypeError(f"{name}: expected a column name (str), got {args[name]!r}"[:300])
    cache_dir = args["cache_dir"]
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir: expected a folder path or None, got {cache_dir!r}"[:300])
    check_bool(args["progress"], "progress")
    if not isinstance(args["out"], (str, os.PathLike)):
        raise TypeError(f"out: expected an output folder path, got {args['out']!r}"[:300])
    check_output_path(args["out"], "out", is_dir=True)


def _check_head(head: Any) -> tuple[np.ndarray, np.ndarray]:
    try:
        weight, bias = head
    except (TypeError, ValueError):
        raise ValueError(
            f"head: expected a (weight, bias) pair, got {type(head).__name__}"
        ) from None
    weight = np.ascontiguousarray(as_real_array(weight, "head weight", dtype=np.float32))
    bias = np.ascontiguousarray(as_real_array(bias, "head bias", dtype=np.float32))
    if weight.ndim != 2 or bias.shape != (weight.shape[0],):
        raise ValueError(
            f"head: expected weight (C, d) and bias (C,), got {weight.shape} and {bias.shape}"
        )
    for name, arr in (("weight", weight), ("bias", bias)):
        if not np.isfinite(arr).all():
            raise ValueError(
                f"head: {name} holds NaN or infinity (every prediction would be class 0); "
                "expected finite numbers"
            )
    return weight, bias


def _check_cbm(cbm: Any, backbone: Any) -> None:
    """A fitted bottlekit concept-bottleneck model on this backbone, with integer classes."""
    from bottlekit.bottleneck import BaseConceptBottleneck

    if not isinstance(cbm, BaseConceptBottleneck):
        raise TypeError(
            "cbm: expected a fitted bottlekit concept-bottleneck model (BaseConceptBottleneck"
            f".load(path)), got {type(cbm).__name__}"
        )
    if not hasattr(cbm, "coef_"):
        raise ValueError("cbm: the concept-bottleneck model is not fitted")
    if int(cbm.n_features_in_) != int(backbone.embed_dim):
        raise ValueError(
            f"cbm: the model expects {cbm.n_features_in_}-dimensional embeddings; the "
            f"backbone's have {backbone.embed_dim}"
        )
    if np.asarray(cbm.classes_).dtype.kind not in "iu":
        raise ValueError(
            "cbm: expected a model fitted on integer class indices (the labels of the "
            f"items), got classes {np.asarray(cbm.classes_).tolist()[:5]}"
        )
    concepts = getattr(cbm, "concepts", None)
    if callable(getattr(concepts, "check_backbone", None)):
        concepts.check_backbone(backbone)
