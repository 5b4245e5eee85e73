"""The small reduce after a distributed audit pass: concept statistics and model agreement.

:func:`audit_statistics` merges the per-shard concept statistics and reads only the
``label`` and ``prediction`` columns of the shards (two integers per item), never the
embeddings, so it stays small for any dataset size.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from bottlekit.distributed.concept_stats import reduce_concept_stats
from bottlekit.distributed.shards import _labels

__all__ = ["audit_statistics"]


def audit_statistics(out: str | os.PathLike) -> dict[str, Any]:
    """Per-class concept statistics, top items and, with a model, accuracy and confusion.

    Parameters
    ----------
    out : str or PathLike
        The output folder of an :func:`~bottlekit.distributed.embed_dataset` run with a
        concept bank or a concept-bottleneck model (and optionally a head).

    Returns
    -------
    dict
        ``concepts`` (per concept: per-class ``n``, ``mean``, ``variance`` and the
        ``top`` items), ``class_names``, ``n_items`` and, when the shards have
        predictions, ``accuracy`` (over labelled items) and ``confusion``
        (true class × predicted class counts).

    Examples
    --------
    >>> report = audit_statistics("audit/embeddings")  # doctest: +SKIP
    >>> report["accuracy"]  # doctest: +SKIP
    0.93
    """
    import pyarrow.parquet as pq

    stats = reduce_concept_stats(out)  # (checks ``out``)
    n_classes = len(stats.class_names)
    result: dict[str, Any] = {
        "class_names": stats.class_names,
        "n_items": int(stats.count.sum()),
        "concepts": stats.to_json(),
    }
    labels, preds = [], []
    for f in sorted(Path(out).glob("part-*.parquet")):
        try:
            schema = pq.read_schema(f)
            if "prediction" not in schema.names:
                return result
            t = pq.read_table(f, columns=["label", "prediction"])
            y = np.asarray(_labels(t), np.int64)
            p = np.asarray(t.column("prediction").to_pylist())
        except Exception as exc:  # pyarrow raises many types
            raise ValueError(f"out: shard {str(f)!r} cannot be read ({exc})") from None
        if len(y) and (y.dtype.kind not in "iu" or y.min() < -1 or y.max() >= n_classes):
            raise ValueError(
                f"out: shard {str(f)!r} has labels outside -1..{n_classes - 1} (the "
                f"{n_classes} classes of the concept statistics), e.g. {y.tolist()[:5]}"
            )
        if len(p) and (
            p.dtype.kind not in "iu" or p.min() < 0 or p.max() >= _max_classes(n_classes)
        ):
            raise ValueError(
                f"out: shard {str(f)!r} has predicted classes outside 0.."
                f"{_max_classes(n_classes) - 1}, e.g. {p.tolist()[:5]}"
            )
        labels.append(y.astype(np.int64))
        preds.append(p.astype(np.int64))
    y = np.concatenate(labels) if labels else np.zeros(0, np.int64)
    p = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    known = y >= 0
    n_pred = int(p.max()) + 1 if len(p) else 0
    C = max(n_classes, n_pred)
    confusion = np.zeros((C, C), np.int64)
    np.add.at(confusion, (y[known], p[known]), 1)
    result["accuracy"] = float((y[known] == p[known]).mean()) if known.any() else None
    result["confusion"] = confusion.tolist()
    return result


#: Predicted classes a head may have beyond the labelled ones (the confusion matrix is
#: square over all of them: 10,000 classes is 800 MB of counts).
MAX_EXTRA_CLASSES = 10_000


def _max_classes(n_classes: int) -> int:
    """Number of predicted classes accepted: those of the labels, or up to
    :data:`MAX_EXTRA_CLASSES` when the head has more."""
    return max(n_classes, MAX_EXTRA_CLASSES)
