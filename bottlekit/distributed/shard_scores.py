"""What the encoder adds to a shard's embeddings: each item's predicted class (a linear
head or a concept-bottleneck model) and its concept scores, with their statistics.

The scores are those of a local run: the bank's projection
(:meth:`~bottlekit.concepts.ConceptBank.project`) or, without a bank, the model's own
concept activations (what its head sees), as a local
:func:`bottlekit.diagnostics.audit` of the model on its own concepts uses them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bottlekit.distributed.concept_stats import ConceptStats
from bottlekit.distributed.shards import _checksum


def _shard_predictions(ctx: dict[str, Any], emb: np.ndarray) -> np.ndarray | None:
    """The class predicted for each embedding (int64), or None without a model."""
    cbm = ctx["cbm"]
    if ctx["head"] is not None:
        weight, bias = ctx["head"]
        return np.argmax(emb @ weight.T + bias, axis=1).astype(np.int64)
    if cbm is not None:  # the model's own prediction, as in a local audit
        return cbm.predict(emb).astype(np.int64) if len(emb) else np.zeros(0, np.int64)
    return None


def _shard_concepts(
    ctx: dict[str, Any],
    index: int,
    keys: list[str],
    paths: list[str],
    labels: list[int],
    emb: np.ndarray,
    predictions: np.ndarray | None,
) -> tuple[np.ndarray | None, bytes | None]:
    """The concept scores (float32, (n, k)) of shard ``index`` and its statistics file
    (bound to the shard by its checksum); ``(None, None)`` without a bank or a model."""
    if not ctx["with_stats"]:
        return None, None
    k = len(ctx["concept_names"])
    if not len(keys):
        concepts = np.zeros((0, k))
    elif ctx["bank"] is not None:
        concepts = ctx["bank"].project(emb)
    else:  # the CBM's own concept activations (what its head sees)
        concepts = ctx["cbm"].transform(emb)
    concepts = np.asarray(concepts, np.float32)
    st = ConceptStats.from_scores(
        concepts,
        np.asarray(labels, np.int64),
        paths,
        ctx["concept_names"],
        ctx["class_names"],
        top=ctx["top"],
    )
    digest = _checksum(keys, emb, concepts, predictions)
    return concepts, st.to_bytes({"sha256": digest, "shard": index})
