"""One-attribute hard negatives: training images that differ in exactly one attribute.

An image of the world is one option per attribute group (body colour, wing pattern,
tail length, ..., background; see :data:`bottlekit.world.species.GROUPS`). Two images
are *one-attribute neighbours* when their options differ in exactly one group, e.g. a
forked and a square tail on otherwise identical birds. Put side by side in a
contrastive batch, such a pair can only be told apart, image from image and caption
from caption, by that one attribute, which is what the fine concepts need.

:class:`OneAttributeNeighbours` finds every image's neighbours among the training
images (grouping images by their options with one group left out), draws one at
random, and :func:`compose_batch` puts anchors and their neighbours into a batch.
"""

from __future__ import annotations

import numpy as np

from bottlekit._arrays import as_index_array
from bottlekit._checks import check_generator, is_number
from bottlekit.world.species import GROUP_OFFSET, GROUPS, check_concept_labels

__all__ = ["OneAttributeNeighbours", "compose_batch", "concepts_to_options"]


def concepts_to_options(concept_labels: np.ndarray) -> np.ndarray:
    """Option index of every attribute group, shape (n, n_groups), from concept labels.

    The inverse of :func:`bottlekit.world.dataset.options_to_concepts`: in each group
    the option is the index of its drawn concept, or the group's no-concept option
    (index ``len(group.concepts)``) when none is drawn.

    Parameters
    ----------
    concept_labels : numpy.ndarray of {0, 1}, shape (n, 31)
        Drawn concepts, at most one per attribute group.

    Returns
    -------
    numpy.ndarray of int64, shape (n, 14)
        The option index of every group (its "none" option where no concept of the
        group is drawn); the inverse of
        :func:`~bottlekit.world.dataset.options_to_concepts`.

    Examples
    --------
    >>> from bottlekit.world import make_world
    >>> from bottlekit.world.dataset import options_to_concepts
    >>> w = make_world(30, "train", 0, return_masks=False)
    >>> back = options_to_concepts(concepts_to_options(w.concept_labels))
    >>> bool((back == w.concept_labels).all())
    True
    """
    concept_labels = check_concept_labels(concept_labels)
    out = np.empty((len(concept_labels), len(GROUPS)), dtype=np.int64)
    for j, g in enumerate(GROUPS):
        cols = concept_labels[:, GROUP_OFFSET[j] : GROUP_OFFSET[j] + len(g.concepts)]
        out[:, j] = np.where(cols.any(1), cols.argmax(1), len(g.concepts))
    return out


class OneAttributeNeighbours:
    """For each image, the images whose options differ from its own in exactly one group.

    Parameters
    ----------
    concept_labels : numpy.ndarray of {0, 1}, shape (n, 31)
        The drawn concepts of the images (a :class:`~bottlekit.world.World`'s
        ``concept_labels``).

    Attributes
    ----------
    counts : numpy.ndarray of int64, shape (n, n_groups)
        ``counts[i, g]``: images that differ from image ``i`` in group ``g`` only.

    Examples
    --------
    >>> import numpy as np
    >>> from bottlekit.world import make_world
    >>> w = make_world(600, "train", 0, return_masks=False)
    >>> nb = OneAttributeNeighbours(w.concept_labels)
    >>> partners = nb.draw(np.arange(600), np.random.default_rng(0))
    >>> i = int(np.flatnonzero(partners >= 0)[0]); j = int(partners[i])
    >>> opts = concepts_to_options(w.concept_labels)
    >>> int((opts[i] != opts[j]).sum())
    1
    """

    def __init__(self, concept_labels: np.ndarray) -> None:
        options = concepts_to_options(concept_labels)
        n_options = np.array([len(g.options) for g in GROUPS], dtype=np.int64)
        place = np.concatenate([[1], np.cumprod(n_options[:-1])])
        code = options @ place  # one integer per combination of options
        n = len(options)
        self.counts = np.zeros((n, len(GROUPS)), dtype=np.int64)
        self._tables = []
        for g in range(len(GROUPS)):
            # images with the same options outside group g, sorted by their option in g
            key = (code - options[:, g] * place[g]) * n_options[g] + options[:, g]
            order = np.argsort(key, kind="stable")
            sorted_key = key[order]
            base = key - options[:, g]  # the bucket: key with group g's option zeroed
            start = np.searchsorted(sorted_key, base, "left")
            end = np.searchsorted(sorted_key, base + n_options[g], "left")
            same_start = np.searchsorted(sorted_key, key, "left")
            same_end = np.searchsorted(sorted_key, key, "right")
            self.counts[:, g] = (end - start) - (same_end - same_start)
            self._tables.append((order, start, same_start, same_end))

    def draw(self, anchors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One neighbour of each anchor, drawn uniformly from all its neighbours.

        Parameters
        ----------
        anchors : numpy.ndarray of int
            Image indices.
        rng : numpy.random.Generator
            Makes ``len(anchors)`` uniform draws.

        Returns
        -------
        numpy.ndarray of int64
            The neighbour of each anchor, ``-1`` where an anchor has none.
        """
        n = len(self.counts)
        anchors = as_index_array(
            anchors, "anchors", high=n, expected=f"image indices in 0..{n - 1}"
        )
        u = check_generator(rng).random(len(anchors))
        counts = self.counts[anchors]
        total = counts.sum(1)
        r = np.minimum((u * total).astype(np.int64), np.maximum(total - 1, 0))
        cum = np.cumsum(counts, 1)
        group = (r[:, None] >= cum).sum(1)
        out = np.full(len(anchors), -1, dtype=np.int64)
        for g, (order, start, same_start, same_end) in enumerate(self._tables):
            sel = np.flatnonzero((group == g) & (total > 0))
            if len(sel) == 0:
                continue
            a = anchors[sel]
            within = r[sel] - (cum[sel, g] - counts[sel, g])
            pos = start[a] + within
            # skip the images with the anchor's own option (the anchor among them)
            pos = np.where(pos >= same_start[a], pos + (same_end[a] - same_start[a]), pos)
            out[sel] = order[pos]
        return out


def compose_batch(chunk: np.ndarray, partners: np.ndarray, n_pairs: int) -> np.ndarray:
    """A batch of ``len(chunk)`` distinct images with up to ``n_pairs`` neighbour pairs.

    The first ``n_pairs`` images of ``chunk`` are anchors; each anchor's partner takes
    the place of one of the last ``n_pairs`` images of ``chunk``, unless it has none
    (``-1``) or is in ``chunk`` or already taken (the chunk's image stays then), so the
    images stay distinct.

    Parameters
    ----------
    chunk : numpy.ndarray of int
        The batch's images in the epoch's order (distinct).
    partners : numpy.ndarray of int
        The drawn neighbour of each image of ``chunk`` (``-1``: none), as
        :meth:`OneAttributeNeighbours.draw` returns.
    n_pairs : int
        Anchors, at most ``len(chunk) // 2``.

    Returns
    -------
    numpy.ndarray of int64
        The batch's image indices, sorted.

    Examples
    --------
    >>> compose_batch(np.array([5, 1, 7, 3]), np.array([9, 7, -1, 2]), 2).tolist()
    [1, 3, 5, 9]
    """
    chunk = as_index_array(chunk, "chunk", expected="image indices >= 0")
    b = len(chunk)
    partners = as_index_array(partners, "partners", low=-1, expected="image indices or -1 (none)")
    if len(partners) != b:
        raise ValueError(
            f"partners: expected {b} entries (one per image of chunk), got {len(partners)}"
        )
    if not is_number(n_pairs, integer=True) or not 0 <= n_pairs <= b // 2:
        raise ValueError(f"n_pairs={n_pairs!r}; expected an int in [0, {b // 2}]")
    taken = set(chunk.tolist())
    if len(taken) != b:
        raise ValueError("chunk holds an image twice; expected distinct images")
    batch = chunk.copy()
    for j in range(n_pairs):
        p = int(partners[j])
        if p >= 0 and p not in taken:
            batch[b - n_pairs + j] = p
            taken.add(p)
    return np.sort(batch)
