"""Audit sufficient statistics of concept activations, computed per shard and merged.

Each encoder worker turns its shard's concept activations into a :class:`ConceptStats`:
per class (and for unlabelled items) the count, mean and sum of squared deviations
(``m2``) of every concept, plus the ``top`` most activating items of every concept. Two
of them merge exactly (Chan et al.'s pairwise update), so the statistics of a
ten-million-image dataset are a reduce over a few thousand small files, never a second
pass over the images.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["ConceptStats", "reduce_concept_stats"]

_FORMAT = "bottlekit-concept-stats/1"


@dataclass
class ConceptStats:
    """Per-class moments and top-activating items of every concept.

    Attributes
    ----------
    concept_names : list of str
        The k concepts.
    class_names : list of str
        The C classes; row ``C`` of ``count``, ``mean`` and ``m2`` holds unlabelled items.
    count : ndarray of int64, shape (C + 1,)
    mean : ndarray of float64, shape (C + 1, k)
        Mean activation of each concept within each class.
    m2 : ndarray of float64, shape (C + 1, k)
        Sum of squared deviations from ``mean`` (``variance = m2 / count``).
    top_values : ndarray of float32, shape (k, t)
        The ``t`` highest activations of each concept (``-inf`` where fewer items).
    top_paths : list of list of str
        The paths of those items, one list per concept.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 1.0]], np.float32)
    >>> s = ConceptStats.from_scores(A, np.array([0, 0, 1]), ["a", "b", "c"],
    ...                              ["red", "round"], ["x", "y"], top=1)
    >>> s.mean[0].tolist(), s.variance[0].tolist(), s.top_paths
    ([2.0, 1.0], [1.0, 1.0], [['c'], ['b']])
    >>> whole = s.merge(ConceptStats.from_scores(A[:0], np.array([], int), [],
    ...                                          ["red", "round"], ["x", "y"], top=1))
    >>> whole.count.tolist()
    [2, 1, 0]
    """

    concept_names: list[str]
    class_names: list[str]
    count: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    top_values: np.ndarray
    top_paths: list[list[str]]

    @classmethod
    def from_scores(
        cls,
        scores: np.ndarray,
        labels: np.ndarray | None,
        paths: Sequence[str],
        concept_names: Sequence[str],
        class_names: Sequence[str],
        top: int = 10,
    ) -> ConceptStats:
        """The statistics of one block of concept activations ``scores`` (n, k)."""
        A = np.asarray(scores, dtype=np.float64)
        n, k = A.shape[0], len(concept_names)
        if A.ndim != 2 or A.shape[1] != k:
            raise ValueError(f"scores: expected shape (n, {k}), got {A.shape}")
        C = len(class_names)
        y = np.full(n, -1, np.int64) if labels is None else np.asarray(labels, np.int64)
        if y.shape != (n,) or (y >= C).any():
            raise ValueError(
                f"labels: expected {n} class indices below {C} (-1 unknown), got {y.tolist()[:5]}"
            )
        rows = np.where(y < 0, C, y)
        count = np.bincount(rows, minlength=C + 1).astype(np.int64)
        total = np.zeros((C + 1, k))
        np.add.at(total, rows, A)
        mean = np.divide(total, count[:, None], out=np.zeros_like(total), where=count[:, None] > 0)
        m2 = np.zeros((C + 1, k))
        np.add.at(m2, rows, (A - mean[rows]) ** 2)
        t = int(top)
        values = np.full((k, t), -np.inf, np.float32)
        tops: list[list[str]] = []
        for j in range(k):
            order = np.argsort(-A[:, j], kind="stable")[:t]
            values[j, : len(order)] = A[order, j]
            tops.append([str(paths[i]) for i in order])
        return cls(list(concept_names), list(class_names), count, mean, m2, values, tops)

    @property
    def variance(self) -> np.ndarray:
        """Population variance of each concept within each class, (C + 1, k)."""
        c = self.count[:, None].astype(np.float64)
        return np.divide(self.m2, c, out=np.zeros_like(self.m2), where=c > 0)

    def merge(self, other: ConceptStats) -> ConceptStats:
        """The statistics of both blocks together (exact, order-independent moments)."""
        if other.concept_names != self.concept_names or other.class_names != self.class_names:
            raise ValueError("other: statistics of different concepts or classes cannot merge")
        na, nb = self.count[:, None].astype(np.float64), other.count[:, None].astype(np.float64)
        n = na + nb
        delta = other.mean - self.mean
        safe = np.where(n > 0, n, 1.0)
        mean = self.mean + delta * nb / safe
        m2 = self.m2 + other.m2 + delta**2 * na * nb / safe
        t = self.top_values.shape[1]
        out_values = np.full_like(self.top_values, -np.inf)
        tops = []
        for j in range(len(self.concept_names)):
            a, b = self.top_paths[j], other.top_paths[j]
            cand = np.concatenate([self.top_values[j, : len(a)], other.top_values[j, : len(b)]])
            order = np.argsort(-cand, kind="stable")[:t]
            out_values[j, : len(order)] = cand[order]
            tops.append([(a + b)[i] for i in order])
        return ConceptStats(
            self.concept_names,
            self.class_names,
            self.count + other.count,
            mean,
            m2,
            out_values,
            tops,
        )

    def to_bytes(self, extra: dict | None = None) -> bytes:
        """The statistics as one safetensors file (arrays + JSON metadata)."""
        from safetensors.numpy import save

        meta = {
            "format": _FORMAT,
            "concept_names": self.concept_names,
            "class_names": self.class_names,
            "top_paths": self.top_paths,
            **(extra or {}),
        }
        arrays = {
            "count": self.count,
            "mean": self.mean,
            "m2": self.m2,
            "top_values": self.top_values,
        }
        arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
        return save(arrays, metadata={"bottlekit": json.dumps(meta)})

    @classmethod
    def read(cls, path: str | os.PathLike) -> tuple[ConceptStats, dict]:
        """Read a file written from :meth:`to_bytes`; returns the stats and the metadata."""
        from safetensors import safe_open

        with safe_open(str(path), framework="np") as fh:
            meta = json.loads((fh.metadata() or {}).get("bottlekit", "{}"))
            arrays = {k: fh.get_tensor(k) for k in fh.keys()}
        if meta.get("format") != _FORMAT or set(arrays) != {"count", "mean", "m2", "top_values"}:
            raise ValueError(f"{str(path)!r} is not a bottlekit concept-statistics file")
        stats = cls(
            meta["concept_names"],
            meta["class_names"],
            arrays["count"],
            arrays["mean"],
            arrays["m2"],
            arrays["top_values"],
            meta["top_paths"],
        )
        return stats, meta

    def to_json(self) -> dict:
        """A JSON-able summary: per concept, per class mean and variance, and top items."""
        names = [*self.class_names, "(unlabelled)"]
        var = self.variance
        out = {}
        for j, c in enumerate(self.concept_names):
            out[c] = {
                "by_class": {
                    names[r]: {
                        "n": int(self.count[r]),
                        "mean": float(self.mean[r, j]),
                        "variance": float(var[r, j]),
                    }
                    for r in range(len(names))
                    if self.count[r] > 0
                },
                "top": [
                    {"path": p, "activation": float(v)}
                    for p, v in zip(self.top_paths[j], self.top_values[j], strict=False)
                ],
            }
        return out


def reduce_concept_stats(out: str | os.PathLike) -> ConceptStats:
    """Merge the per-shard statistics an :func:`embed_dataset` run with a bank wrote.

    Parameters
    ----------
    out : str or PathLike
        The run's output folder.

    Returns
    -------
    ConceptStats
        The statistics of every item written, merged in shard order.

    Examples
    --------
    >>> stats = reduce_concept_stats("embeddings/")  # doctest: +SKIP
    >>> stats.mean.shape  # doctest: +SKIP
    (11, 312)
    """
    files = sorted(Path(out).glob("part-*.stats.safetensors"))
    if not files:
        raise FileNotFoundError(
            f"out: {str(out)!r} holds no concept statistics (part-*.stats.safetensors); "
            "run embed_dataset with a concept bank first"
        )
    total = None
    for f in files:
        stats, _ = ConceptStats.read(f)
        total = stats if total is None else total.merge(stats)
    assert total is not None
    return total
