"""Dataset-scale embedding, concept scoring and audit statistics on a Ray cluster.

The optional extra ``bottlekit[distributed]`` (``ray[data]``). Importing this package
does not import Ray; :func:`embed_dataset` does, when it runs.

* :func:`embed_dataset` reads images (a folder tree, a Parquet/CSV manifest of paths or
  URLs, a :class:`~bottlekit.datasets.ConceptDataset`, WebDataset tar shards), decodes and
  preprocesses them in CPU tasks, encodes them in a pool of actors (one model per GPU, or
  per CPU worker) and writes Parquet shards (``path``, ``embedding``, ``label``, ``key``
  and, with a concept bank, ``concepts``), resumably.
* :func:`read_embeddings` reads the shards back; :func:`reduce_concept_stats` merges the
  per-shard audit statistics (per-class means and variances of every concept, the
  top-activating items) into one :class:`ConceptStats`; :func:`audit_statistics` adds
  the model's accuracy and confusion when the pass had a linear head or a fitted
  concept-bottleneck model (whose own concept activations are then scored).

See ``docs/distributed.md``.
"""

from __future__ import annotations

from bottlekit._lazy import lazy_attributes

_LAZY = {
    "BackboneSpec": "bottlekit.distributed.spec",
    "ConceptStats": "bottlekit.distributed.concept_stats",
    "EmbedSummary": "bottlekit.distributed.summary",
    "audit_statistics": "bottlekit.distributed.audit_reduce",
    "embed_dataset": "bottlekit.distributed.pipeline",
    "read_embeddings": "bottlekit.distributed.shards",
    "reduce_concept_stats": "bottlekit.distributed.concept_stats",
    "resolve_items": "bottlekit.distributed.items",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
