"""Audit sufficient statistics of concept activations, computed per shard and merged.

Each encoder worker turns its shard's concept activations into a :class:`ConceptStats`:
per class (and for unlabelled items) the count, mean and sum of squared deviations
(``m2``) of every concept, plus the ``top`` most activating items of every concept. Two
of them merge exactly (Chan et al.'s pairwise update), so the statistics of a
ten-million-image dataset are a reduce over a few thousand small files, never a second
pass over the images.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bottlekit._arrays import as_real_array
from bottlekit._checks import check_number

__all__ = ["ConceptStats", "check_storable", "reduce_concept_stats"]

_FORMAT = "bottlekit-concept-stats/1"

#: Most items a concept-statistics file, and the merge of a run's files, may count: 2**53,
#: beyond which float64 no longer holds every count exactly (the moments' weights), and
#: far beyond any dataset (9e15 items); a file that counts more is not one of ours.
MAX_STATS_ITEMS = 2**53


@dataclass
class ConceptStats:
    """Per-class moments and top-activating items of every concept.

    Parameters
    ----------
    concept_names : list of str
        The k concepts.
    class_names : list of str
        The C classes; row ``C`` of ``count``, ``mean`` and ``m2`` holds unlabelled items.
    count : ndarray of int64, shape (C + 1,)
        Items in each class (the last entry: unlabelled items).
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
        """The statistics of one block of concept activations ``scores`` (n, k).

        Parameters
        ----------
        scores : array-like of shape (n, k)
            Activation of each of the k concepts on each of the n items.
        labels : array-like of int, shape (n,), or None
            Class indices below ``len(class_names)``, -1 where unknown (None: all unknown).
        paths : sequence of str
            The n items' paths, kept for the top items.
        concept_names : sequence of str
            The k concepts, in the order of the columns of ``scores``.
        class_names : sequence of str
            The C classes that ``labels`` index.
        top : int, default=10
            Items kept per concept (>= 0; 0 keeps none, the moments only).

        Returns
        -------
        ConceptStats
            The statistics of these n items.
        """
        A = as_real_array(scores, "scores")
        k = len(concept_names)
        if A.ndim != 2 or A.shape[1] != k:
            raise ValueError(f"scores: expected shape (n, {k}), got {A.shape}")
        n = A.shape[0]
        t = check_number(top, "top", integer=True, low=0)
        if len(paths) != n:
            raise ValueError(
                f"paths: expected {n} paths (one per row of scores), got {len(paths)}"
            )
        C = len(class_names)
        y = (
            np.full(n, -1, np.int64)
            if labels is None
            else as_real_array(labels, "labels", dtype=None)
        )
        if y.size == 0:
            y = y.astype(np.int64)  # ([] reads as float)
        if y.shape != (n,) or y.dtype.kind not in "iu" or (y >= C).any() or (y < -1).any():
            raise ValueError(
                f"labels: expected {n} class indices below {C} (-1 unknown), got {y.tolist()[:5]}"
            )
        y = y.astype(np.int64)
        rows = np.where(y < 0, C, y)
        count = np.bincount(rows, minlength=C + 1).astype(np.int64)
        total = np.zeros((C + 1, k))
        np.add.at(total, rows, A)
        mean = np.divide(total, count[:, None], out=np.zeros_like(total), where=count[:, None] > 0)
        m2 = np.zeros((C + 1, k))
        np.add.at(m2, rows, (A - mean[rows]) ** 2)
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
        """The statistics of both blocks together (exact, order-independent moments).

        Parameters
        ----------
        other : ConceptStats
            Statistics of the same concepts and classes, with as many top items per
            concept.

        Returns
        -------
        ConceptStats
            A new object; ``self`` and ``other`` are unchanged.
        """
        if other.concept_names != self.concept_names or other.class_names != self.class_names:
            raise ValueError("other: statistics of different concepts or classes cannot merge")
        if other.top_values.shape != self.top_values.shape:
            raise ValueError(
                f"other: statistics with {other.top_values.shape[1]} top items per concept "
                f"cannot merge with statistics of {self.top_values.shape[1]}"
            )
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
        """The statistics as one safetensors file (arrays + JSON metadata).

        Parameters
        ----------
        extra : dict, optional
            More JSON-able metadata stored with the statistics (returned by :meth:`read`).
            Its keys must not be ``format``, ``concept_names``, ``class_names`` or
            ``top_paths``, the statistics' own (refused).

        Returns
        -------
        bytes
            The file's contents.

        Raises
        ------
        ValueError
            If ``extra`` uses a key of the statistics' own metadata, or if :meth:`read`
            would refuse the file: its metadata (concept and class names,
            top items' paths) beyond
            :data:`~bottlekit.safetensors_file.MAX_HEADER_BYTES` or
            :data:`~bottlekit.safetensors_file.MAX_HEADER_VALUES`
            (:class:`~bottlekit.safetensors_file.FileTooLarge`).
        """
        from bottlekit.safetensors_file import encode_safetensors

        meta = {
            "format": _FORMAT,
            "concept_names": self.concept_names,
            "class_names": self.class_names,
            "top_paths": self.top_paths,
        }
        taken = sorted(set(extra or {}) & set(meta))
        if taken:  # merged, they replaced the statistics' own (a file read back wrong)
            raise ValueError(
                f"extra: the keys {taken} are the statistics' own metadata; expected other "
                f"keys than {sorted(meta)}"
            )
        meta.update(extra or {})
        arrays = {
            "count": self.count,
            "mean": self.mean,
            "m2": self.m2,
            "top_values": self.top_values,
        }
        return encode_safetensors(
            arrays,
            meta,
            kind="shard's concept statistics",
            path=None,
            holds=(
                "the concept and class names, and the paths of the top "
                f"{self.top_values.shape[1]} items of each of its {len(self.concept_names)} "
                "concepts"
            ),
        )

    @classmethod
    def read(cls, path: str | os.PathLike) -> tuple[ConceptStats, dict]:
        """Read a file written from :meth:`to_bytes`; returns the stats and the metadata.

        The file may come from another run: it is read by
        :func:`bottlekit.safetensors_file.read_safetensors` (bounded before anything is
        allocated) and every array and name list is checked against the others and for
        values that no run writes (NaN or infinite moments or top activations, a negative
        ``m2``, more than :data:`MAX_STATS_ITEMS` items); any problem is a ``ValueError``
        naming the file and the field.

        Parameters
        ----------
        path : str or os.PathLike
            The file to read.

        Returns
        -------
        stats : ConceptStats
            The statistics.
        meta : dict
            The file's whole JSON metadata (``format``, the names, ``top_paths`` and the
            ``extra`` given to :meth:`to_bytes`).
        """
        from bottlekit.safetensors_file import read_safetensors

        contents = read_safetensors(path, "shard's concept statistics")
        meta = contents.meta
        shown = contents.path

        def bad(problem: str) -> ValueError:
            return ValueError(
                f"{shown!r} is not a usable bottlekit concept-statistics file: {problem}"
            )

        if meta.get("format") != _FORMAT or set(contents) != {"count", "mean", "m2", "top_values"}:
            raise bad(f"expected format {_FORMAT!r} and the arrays count, mean, m2, top_values")
        names = {}
        for key in ("concept_names", "class_names"):
            value = meta.get(key)
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise bad(f"{key} is not a list of str")
            names[key] = value
        k, C = len(names["concept_names"]), len(names["class_names"])
        count, mean, m2, top_values = (contents[a] for a in ("count", "mean", "m2", "top_values"))
        if count.shape != (C + 1,) or count.dtype.kind not in "iu" or (count < 0).any():
            raise bad(f"count must be {C + 1} counts >= 0, got {count.dtype} {count.shape}")
        n = sum(count.tolist())  # (Python ints: no overflow)
        if n > MAX_STATS_ITEMS:
            raise bad(
                f"count holds {n} items in all; expected at most {MAX_STATS_ITEMS} "
                "(MAX_STATS_ITEMS, 2**53)"
            )
        for name, arr in (("mean", mean), ("m2", m2)):
            if arr.shape != (C + 1, k) or arr.dtype.kind != "f":
                raise bad(
                    f"{name} must be a ({C + 1}, {k}) float array, got {arr.dtype} {arr.shape}"
                )
        for name, arr in (("mean", mean), ("m2", m2)):
            where = _first(~np.isfinite(arr))
            if where is not None:
                raise bad(
                    f"{name} holds {arr[where]} at (class row {where[0]}, concept {where[1]}); "
                    "expected finite numbers"
                )
        where = _first(m2 < 0)
        if where is not None:
            raise bad(
                f"m2 holds {m2[where]} at (class row {where[0]}, concept {where[1]}); expected "
                "sums of squared deviations >= 0"
            )
        if top_values.ndim != 2 or top_values.shape[0] != k or top_values.dtype.kind != "f":
            raise bad(f"top_values must be a ({k}, t) float array, got {top_values.shape}")
        t = top_values.shape[1]
        top_paths = meta.get("top_paths")
        if not (
            isinstance(top_paths, list)
            and len(top_paths) == k
            and all(
                isinstance(row, list) and len(row) <= t and all(isinstance(v, str) for v in row)
                for row in top_paths
            )
        ):
            raise bad(f"top_paths must be {k} lists of at most {t} paths (str)")
        kept = np.arange(t)[None, :] < np.array([len(r) for r in top_paths], int).reshape(k, 1)
        where = _first(kept & ~np.isfinite(top_values))
        if where is not None:
            raise bad(
                f"top_values holds {top_values[where]} at (concept {where[0]}, item "
                f"{where[1]}), one of its top items; expected finite activations"
            )
        where = _first(~kept & (top_values != -np.inf))
        if where is not None:
            raise bad(
                f"top_values holds {top_values[where]} at (concept {where[0]}, item "
                f"{where[1]}), after its {len(top_paths[where[0]])} top items; expected -inf"
            )
        stats = cls(
            names["concept_names"],
            names["class_names"],
            count.astype(np.int64),
            mean.astype(np.float64),
            m2.astype(np.float64),
            top_values.astype(np.float32),
            top_paths,
        )
        return stats, meta

    def to_json(self) -> dict:
        """A JSON-able summary: per concept, per class mean and variance, and top items.

        Returns
        -------
        dict
            Concept name to ``{"by_class": {class: {"n", "mean", "variance"}}, "top":
            [{"path", "activation"}]}``; classes without items are left out, unlabelled
            items are the class ``"(unlabelled)"``.
        """
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


def _first(mask: np.ndarray) -> tuple[int, ...] | None:
    """The index of the first True entry of ``mask`` (C order), or None."""
    flat = np.flatnonzero(mask)
    return None if not len(flat) else tuple(int(i) for i in np.unravel_index(flat[0], mask.shape))


def _unstorable(concept_names: list[str], class_names: list[str], paths: int) -> str | None:
    """Why :meth:`ConceptStats.to_bytes` refuses every shard's statistics with ``paths``
    top items per concept (None if it does not), asked of ``to_bytes`` itself: statistics
    of empty paths (the fewest JSON values and bytes a path can add) and empty arrays."""
    from bottlekit.safetensors_file import MAX_HEADER_VALUES, FileTooLarge

    k = len(concept_names)
    if k * paths > MAX_HEADER_VALUES:  # (each path is a value: no need to build them)
        return (
            f"their {k} x {paths} top items' paths alone are {k * paths} JSON values; at "
            f"most {MAX_HEADER_VALUES} are accepted (MAX_HEADER_VALUES)"
        )
    C = len(class_names)
    empty = np.zeros((C + 1, 0))
    skeleton = ConceptStats(
        concept_names,
        class_names,
        np.zeros(C + 1, np.int64),
        empty,
        empty,
        np.zeros((k, paths), np.float32),
        [[""] * paths for _ in range(k)],
    )
    try:
        skeleton.to_bytes({"sha256": "0" * 64, "shard": 0})  # (what the pipeline adds)
    except FileTooLarge as exc:
        return str(exc).split("could not be read back: ", 1)[-1]
    return None


def check_storable(
    concept_names: Sequence[str],
    class_names: Sequence[str],
    top: int,
    shard_size: int | None = None,
) -> None:
    """Refuse, before any item is encoded, statistics that no shard could store.

    A shard's statistics hold the concept and class names and the paths of the ``top``
    items of every concept (fewer when the shard has fewer items), and
    :meth:`ConceptStats.to_bytes` refuses a file that :meth:`ConceptStats.read` would
    refuse (:data:`~bottlekit.safetensors_file.MAX_HEADER_VALUES`,
    :data:`~bottlekit.safetensors_file.MAX_HEADER_BYTES`). This asks ``to_bytes`` itself,
    with empty paths (the fewest a path can add): what it refuses here, it refuses for
    every full shard of the run. (Paths holding ``[ { , :`` count more, so a shard can
    still be refused when it is written.)

    Parameters
    ----------
    concept_names, class_names : sequence of str
        The concepts scored and the classes of the items.
    top : int
        Top-activating items kept per concept (>= 0; 0 keeps none).
    shard_size : int, optional
        Items per shard: a shard keeps at most this many items per concept.

    Raises
    ------
    ValueError
        If even statistics of empty paths would be refused, naming ``top``, the number
        of concepts, why, and the largest ``top`` that fits them (or that none does).

    Examples
    --------
    >>> check_storable(["red", "round"], ["x", "y"], top=10)
    >>> check_storable([f"c{j}" for j in range(100_000)], ["x"], top=10)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: top: expected at most 8 with these 100000 concepts, got 10: ...
    """
    t = check_number(top, "top", integer=True, low=0)
    names, classes = [str(c) for c in concept_names], [str(c) for c in class_names]
    per_shard = t if shard_size is None else min(t, shard_size)
    problem = _unstorable(names, classes, per_shard)
    if problem is None:
        return
    lo, hi = 0, per_shard - 1  # the largest that fits, found by asking to_bytes again
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _unstorable(names, classes, mid) is None:
            lo = mid
        else:
            hi = mid - 1
    why = (
        f"every shard's concept statistics (the concept and class names, and the paths of "
        f"the top {per_shard} items of each concept) would be refused when read back: "
        f"{problem}"
    )
    k = len(names)
    if lo >= 1 or _unstorable(names, classes, 0) is None:
        none = "" if lo >= 1 else " (0 keeps no top items, only the moments)"
        raise ValueError(
            f"top: expected at most {lo}{none} with these {k} concepts, got {t}: {why}"
        )
    raise ValueError(
        f"top: no value fits with these {k} concepts (the concept and class names alone do "
        f"not fit), got {t}: {why}; use a smaller bank (or split it over several runs)"
    )


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
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out: expected the output folder of embed_dataset, got {out!r}"[:300])
    files = sorted(Path(out).glob("part-*.stats.safetensors"))
    if not files:
        raise FileNotFoundError(
            f"out: {str(out)!r} holds no concept statistics (part-*.stats.safetensors); "
            "run embed_dataset with a concept bank first"
        )
    total = None
    for f in files:
        stats, _ = ConceptStats.read(f)
        try:
            total = stats if total is None else total.merge(stats)
        except ValueError as exc:
            raise ValueError(
                f"out: {str(f)!r} does not belong with the files before it: {exc}"
            ) from None
        n = sum(total.count.tolist())  # (each file's and the total before: <= 2**53)
        if n > MAX_STATS_ITEMS:
            raise ValueError(
                f"out: {str(f)!r} brings the items counted to {n}; expected at most "
                f"{MAX_STATS_ITEMS} (MAX_STATS_ITEMS, 2**53) in a run"
            )
    assert total is not None
    return total
