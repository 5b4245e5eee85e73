r"""Concept location: does a concept's activation map fall on the concept's part?

Aysel, Cai & Prügel-Bennett (2025) score a concept map against where the concept really is
in the image (their concept location metric). With exact part masks (the built-in world
gives them) bottlekit reports the two standard scores of a saliency map against a mask:

* **pointing game** (Zhang et al. 2016): the map's maximum lies inside the mask. Ties
  (several pixels at the maximum, e.g. a constant map) count the fraction of tied pixels
  inside the mask, i.e. the hit rate of a random choice among them; a uniform map
  therefore scores the part's area fraction. Pixels within :data:`TIE_RTOL` of the
  maximum (relative to it) are tied: float rounding, which differs with the batching of
  the passes that made the map, does not pick the winner.
* **energy inside the mask** (the energy-based pointing game of Score-CAM, Wang et al.
  2020): :math:`E = \sum_{u\in\text{mask}} M^+(u) / \sum_u M^+(u)`, with
  :math:`M^+ = \max(M, 0)`; undefined (NaN, reported) for a map with no positive mass.
  A uniform map scores the area fraction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bottlekit._arrays import as_binary_array, as_real_array
from bottlekit._checks import repeated_items

__all__ = ["TIE_RTOL", "LocationResult", "concept_location", "located_pairs"]

TIE_RTOL = 1e-5
"""Pixels within ``TIE_RTOL * |max M|`` of a map's maximum tie in the pointing game.

Maps are float32: the same map computed with the passes batched otherwise differs by a
few units in the last place (about 1e-7 relative), which flipped the winner of near-ties
(one pair in about 560 with CoAM on 60 world images). 1e-5 is a hundred times that
rounding and far below any difference a map means. The scale is the maximum itself,
not the map's largest absolute value, which one outlying negative pixel (a -1e9 fill)
would inflate until distinct peaks tie."""


@dataclass(repr=False)
class LocationResult:
    """Concept-location scores of activation maps against part masks.

    Parameters
    ----------
    pointing : ndarray of shape (n, m)
        Pointing-game hit in [0, 1] (fractional only for ties); NaN where not scored.
    energy : ndarray of shape (n, m)
        Fraction of the positive map mass inside the part; NaN where not scored or where
        the map has no positive mass.
    area : ndarray of shape (n, m)
        Fraction of the image covered by the part: the expected value of both scores for
        a uniform map; NaN where not scored.
    scored : ndarray of bool, shape (n, m)
        Pairs that are scored: the concept is present (when labels were given) and its
        part is visible (non-empty mask).
    concept_names : list of str or None, default None
        Names of the m concepts; :meth:`to_dict` reports per-concept means with them.

    Examples
    --------
    Made by :func:`concept_location`; one image, two concepts (the second not scored):

    >>> import numpy as np
    >>> res = LocationResult(
    ...     pointing=np.array([[1.0, np.nan]]), energy=np.array([[0.5, np.nan]]),
    ...     area=np.array([[0.25, np.nan]]), scored=np.array([[True, False]]))
    >>> res.n_pairs, res.pointing_accuracy, res.mean_energy
    (1, 1.0, 0.5)
    """

    pointing: np.ndarray
    energy: np.ndarray
    area: np.ndarray
    scored: np.ndarray
    concept_names: list[str] | None = None

    def __repr__(self) -> str:
        return (
            f"LocationResult(pairs={self.n_pairs}, "
            f"pointing_accuracy={self.pointing_accuracy:.3f}, "
            f"mean_energy={self.mean_energy:.3f}, uniform={self.uniform_expectation:.3f})"
        )

    @property
    def n_pairs(self) -> int:
        """Number of scored (image, concept) pairs."""
        return int(self.scored.sum())

    @property
    def n_no_positive_mass(self) -> int:
        """Scored pairs whose map has no positive value (energy undefined)."""
        return int((self.scored & np.isnan(self.energy)).sum())

    @property
    def pointing_accuracy(self) -> float:
        """Mean pointing-game hit over scored pairs (NaN if none)."""
        return _nanmean(self.pointing)

    @property
    def mean_energy(self) -> float:
        """Mean energy inside the part over scored pairs with positive mass (NaN if none)."""
        return _nanmean(self.energy)

    @property
    def uniform_expectation(self) -> float:
        """Mean part area over scored pairs: both scores' expected value for a uniform map."""
        return _nanmean(self.area)

    def per_concept(self) -> dict[str, np.ndarray]:
        """Per-concept means over images.

        Returns
        -------
        dict of str to ndarray of shape (m,)
            ``pointing``, ``energy`` and ``area``: means over the images where the pair is
            scored (NaN for a concept scored nowhere); ``n``: scored images per concept.
        """
        with np.errstate(invalid="ignore"):
            return {
                "pointing": _nanmean_axis0(self.pointing),
                "energy": _nanmean_axis0(self.energy),
                "area": _nanmean_axis0(self.area),
                "n": self.scored.sum(0),
            }

    def to_dict(self) -> dict[str, Any]:
        """Summary as plain Python numbers (JSON-able); per-concept values keyed by name.

        Returns
        -------
        dict
            ``n_pairs``, ``pointing_accuracy``, ``mean_energy``, ``uniform_expectation``,
            ``n_no_positive_mass`` and, with ``concept_names``, ``per_concept``
            (``{name: {"pointing", "energy", "area", "n"}}``).
        """
        out: dict[str, Any] = {
            "n_pairs": self.n_pairs,
            "pointing_accuracy": self.pointing_accuracy,
            "mean_energy": self.mean_energy,
            "uniform_expectation": self.uniform_expectation,
            "n_no_positive_mass": self.n_no_positive_mass,
        }
        if self.concept_names is not None:
            pc = self.per_concept()
            out["per_concept"] = {
                name: {
                    "pointing": float(pc["pointing"][j]),
                    "energy": float(pc["energy"][j]),
                    "area": float(pc["area"][j]),
                    "n": int(pc["n"][j]),
                }
                for j, name in enumerate(self.concept_names)
            }
        return out


def _nanmean(a: np.ndarray) -> float:
    finite = a[~np.isnan(a)]
    return float(finite.mean()) if finite.size else float("nan")


def _nanmean_axis0(a: np.ndarray) -> np.ndarray:
    count = (~np.isnan(a)).sum(0)
    total = np.where(np.isnan(a), 0.0, a).sum(0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _check_maps(maps: Any) -> np.ndarray:
    M = as_real_array(maps, "maps")
    if M.ndim != 4:
        raise ValueError(f"maps: expected shape (n, m, H, W), got {M.shape}")
    if 0 in M.shape:
        raise ValueError(f"maps: got an empty array of shape {M.shape}")
    if not np.isfinite(M).all():
        raise ValueError("maps: contains NaN or inf; expected finite values")
    return M


def _dataset_parts(
    data: Any, part_of_concept: Any, concept_labels: Any, names: Any, m: int | None
):
    """Part masks, part of each mapped concept, labels and names from a dataset (``m``:
    the number of maps, None for every concept of the dataset when no names are given)."""
    from bottlekit.datasets import as_concept_dataset

    ds = as_concept_dataset(data, name="part_masks")
    for arg, value in (("part_of_concept", part_of_concept), ("concept_labels", concept_labels)):
        if value is not None:
            raise ValueError(f"{arg}: taken from the dataset given as part_masks; leave it None")
    if ds.part_masks is None or ds.part_of_concept is None:
        raise ValueError(
            "part_masks: the dataset has no part_masks or no part_of_concept; concept "
            "location scores maps against part masks"
        )
    named = names is not None
    if not named:
        if m is not None and m != ds.n_concepts:
            raise ValueError(
                f"concept_names: the maps have {m} concepts, the dataset {ds.n_concepts}; "
                "name the mapped concepts"
            )
        names = ds.concept_names
    names = [str(c) for c in names]
    unknown = [c for c in names if c not in ds.concept_names]
    if unknown:
        raise ValueError(f"concept_names: {unknown[:5]} are not concepts of the dataset")
    cols = [ds.concept_names.index(c) for c in names]
    parts = ds.part_of_concept[cols]
    if (parts < 0).any():
        no_part = [c for c, p in zip(names, parts, strict=True) if p < 0]
        if named:
            raise ValueError(
                f"concept_names: {no_part[:5]} belong to no part; map only concepts with one"
            )
        raise ValueError(
            f"part_masks: {len(no_part)} of the dataset's {len(names)} concepts belong to no "
            f"part ({', '.join(no_part[:3])}{', ...' if len(no_part) > 3 else ''}); pass "
            "concept_names= with the concepts to score, those whose part_of_concept is >= 0"
        )
    # soft labels (allowed in a dataset) binarised at 0.5, as the faithfulness metrics do;
    # passed on as they were, they were refused as "concept_labels: expected 0/1", an
    # argument that must be left None here
    labels = None if ds.concept_labels is None else ds.concept_labels[:, cols] >= 0.5
    return ds.part_masks, parts, labels, names


def _scored_pairs(
    part_masks: Any,
    part_of_concept: Any,
    concept_labels: Any,
    concept_names: Any,
    shape: tuple[int, int, int, int] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str] | None]:
    """Checked masks, part of each concept, the scored pairs (n, m) and the names.

    ``shape`` is the maps' (n, m, H, W); None when there are no maps (:func:`located_pairs`).
    """
    if isinstance(part_masks, Mapping) or hasattr(part_masks, "part_masks"):
        part_masks, part_of_concept, concept_labels, concept_names = _dataset_parts(
            part_masks,
            part_of_concept,
            concept_labels,
            concept_names,
            None if shape is None else shape[1],
        )
    elif part_of_concept is None:
        raise ValueError("part_of_concept: required with an array of part masks")
    masks = np.asarray(part_masks)
    if shape is None:  # no maps: n from the masks, m from the concepts' parts
        if masks.ndim != 4:
            raise ValueError(f"part_masks: expected shape (n, P, H, W), got {masks.shape}")
        n, m = masks.shape[0], np.asarray(part_of_concept).size
    else:
        n, m, H, W = shape
        if masks.ndim != 4 or masks.shape[0] != n or masks.shape[2:] != (H, W):
            raise ValueError(
                f"part_masks: expected shape (n, P, H, W) = ({n}, P, {H}, {W}) to match "
                f"maps, got {masks.shape}"
            )
    masks = as_binary_array(masks, "part_masks")
    parts = np.asarray(part_of_concept)
    if parts.size == 0:  # [] reads as float64: no concept, no pair
        parts = parts.astype(np.intp)
    if parts.shape != (m,):
        raise ValueError(
            f"part_of_concept: expected shape ({m},) (one part per map), got {parts.shape}"
        )
    if not np.issubdtype(parts.dtype, np.integer) or isinstance(part_of_concept, bool):
        raise TypeError(f"part_of_concept: expected integer part indices, got dtype {parts.dtype}")
    if ((parts < 0) | (parts >= masks.shape[1])).any():
        raise ValueError(
            f"part_of_concept: values must be part indices in 0..{masks.shape[1] - 1}, got "
            f"{sorted(set(parts.tolist()))}"
        )
    present = np.ones((n, m), dtype=bool)
    if concept_labels is not None:
        lab = np.asarray(concept_labels)
        if lab.shape != (n, m):
            raise ValueError(f"concept_labels: expected shape ({n}, {m}), got {lab.shape}")
        present = as_binary_array(lab, "concept_labels")
    if concept_names is not None:
        if isinstance(concept_names, str) or not isinstance(concept_names, Sequence | np.ndarray):
            raise TypeError(
                f"concept_names: expected a list of {m} names, got "
                + ("a str" if isinstance(concept_names, str) else type(concept_names).__name__)
            )
        concept_names = [str(c) for c in concept_names]
        if len(concept_names) != m:
            raise ValueError(f"concept_names: expected {m} names, got {len(concept_names)}")
        repeated = repeated_items(concept_names)
        if repeated:
            raise ValueError(f"concept_names: expected unique names, {repeated[:5]} repeat")
    visible = masks.any(axis=(2, 3))[:, parts]  # (n, m): the concept's part is in the image
    return masks, parts, present & visible, concept_names


def located_pairs(
    part_masks: Any,
    part_of_concept: Any = None,
    concept_labels: Any = None,
    *,
    concept_names: Sequence[str] | None = None,
) -> np.ndarray:
    """The (image, concept) pairs that :func:`concept_location` scores.

    A pair is scored when the concept's part is visible in the image (its mask is not
    empty) and, when labels are given, the concept is present. Only these pairs need a
    map: :func:`concept_location` reads no other, so maps of the other pairs can be left
    at 0 (``bottlekit reproduce``'s location metric maps only these).

    Parameters
    ----------
    part_masks : bool array of shape (n, P, H, W), or a ConceptDataset, World or dict
        As in :func:`concept_location`.
    part_of_concept : int array of shape (m,), optional
        As in :func:`concept_location`: required with an array of masks.
    concept_labels : 0/1 array of shape (n, m), optional
        As in :func:`concept_location`.
    concept_names : list of str, optional
        As in :func:`concept_location`; with a dataset, the concepts to score (default:
        all of the dataset's).

    Returns
    -------
    ndarray of bool, shape (n, m)
        The scored pairs: ``concept_location(maps, ...).scored`` for any maps.

    Examples
    --------
    >>> import numpy as np
    >>> masks = np.zeros((2, 2, 4, 4), bool)
    >>> masks[0, 0, :2, :2] = True  # image 0 shows part 0; image 1 shows no part
    >>> located_pairs(masks, [0, 1]).tolist()
    [[True, False], [False, False]]
    >>> located_pairs(masks, [0, 0], [[1, 0], [1, 1]]).tolist()  # concept 1 absent in image 0
    [[True, False], [False, False]]
    """
    return _scored_pairs(part_masks, part_of_concept, concept_labels, concept_names, None)[2]


def concept_location(
    maps: Any,
    part_masks: Any,
    part_of_concept: Any = None,
    concept_labels: Any = None,
    *,
    concept_names: Sequence[str] | None = None,
) -> LocationResult:
    r"""Pointing game and energy inside the part of each concept's activation map.

    For image :math:`i`, concept :math:`j` with map :math:`M` and part mask :math:`P`
    (the mask of part ``part_of_concept[j]``):

    .. math::

        \text{pointing}_{ij} = \frac{|P \cap T|}{|T|},
        \quad T = \{u : M(u) \ge \max M - \tau\,|\max M|\},
        \qquad
        \text{energy}_{ij} = \frac{\sum_{u\in P} \max(M(u), 0)}{\sum_u \max(M(u), 0)}.

    with :math:`\tau` = :data:`TIE_RTOL` = 1e-5 (ties within float rounding). A pair is
    scored when the part is visible (the mask is not empty) and, when ``concept_labels``
    are given, the concept is present in the image: locating a concept that is not there
    has no right answer.

    Parameters
    ----------
    maps : array of shape (n, m, H, W)
        Activation maps, e.g. from :func:`bottlekit.visualize.concept_activation_map`.
    part_masks : bool array of shape (n, P, H, W), or a ConceptDataset, World or dict
        Pixels of each part (``World.part_masks``). Or a dataset of the n mapped images
        (see :func:`bottlekit.datasets.as_concept_dataset`): then its part masks, the part
        and labels of each concept named in ``concept_names`` (default: all of the
        dataset's concepts, in order) are used (soft labels binarised at 0.5), and
        ``part_of_concept`` and ``concept_labels`` must be None.
    part_of_concept : int array of shape (m,)
        Index into the parts of each mapped concept (``World.part_of_concept`` restricted
        to the mapped concepts); required with an array of masks.
    concept_labels : 0/1 array of shape (n, m), optional
        Presence of each mapped concept in each image.
    concept_names : list of str, optional
        Names of the m concepts, for :meth:`LocationResult.to_dict`.

    Returns
    -------
    LocationResult
        Per (image, concept) pair: ``pointing``, ``energy``, the part's ``area`` and
        whether it was ``scored``; summaries such as ``pointing_accuracy``.

    Examples
    --------
    >>> import numpy as np
    >>> maps = np.zeros((1, 1, 4, 4)); maps[0, 0, 0, 0] = 1.0
    >>> masks = np.zeros((1, 2, 4, 4), bool)
    >>> masks[0, 0, :2, :2] = True  # part 0: top-left quarter
    >>> masks[0, 1, 2:, 2:] = True  # part 1: bottom-right quarter
    >>> r = concept_location(maps, masks, [0])
    >>> r.pointing_accuracy, r.mean_energy, r.uniform_expectation
    (1.0, 1.0, 0.25)
    """
    M = _check_maps(maps)
    n, m, H, W = M.shape
    masks, parts, scored, concept_names = _scored_pairs(
        part_masks, part_of_concept, concept_labels, concept_names, (n, m, H, W)
    )
    pointing = np.full((n, m), np.nan)
    energy = np.full((n, m), np.nan)
    area = np.full((n, m), np.nan)
    for j in range(m):
        P = masks[:, parts[j]].reshape(n, -1)
        Mj = M[:, j].reshape(n, -1)
        n_in = P.sum(1)
        ok = scored[:, j]
        if not ok.any():
            continue
        P, Mj = P[ok], Mj[ok]
        top = Mj.max(1, keepdims=True)
        with np.errstate(over="ignore"):  # top - M at +-float max: inf, not a tie
            at_max = top - Mj <= TIE_RTOL * np.abs(top)
        pointing[ok, j] = (at_max & P).sum(1) / at_max.sum(1)
        pos = np.maximum(Mj, 0.0)
        # (each map divided by its peak first: energy is a ratio, and sums of values near
        # the float64 maximum overflowed to inf, reading as "no positive mass")
        peak = pos.max(1, keepdims=True)
        pos = pos / np.where(peak > 0, peak, 1.0)
        total = pos.sum(1)
        inside = (pos * P).sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            energy[ok, j] = np.where(total > 0, inside / np.where(total > 0, total, 1.0), np.nan)
        area[ok, j] = n_in[ok] / P.shape[1]
    return LocationResult(pointing, energy, area, scored, concept_names)
