"""``ConceptDataset``: what an annotated image dataset is, for every part of bottlekit.

One contract for the built-in world and for real datasets (CUB, Waterbirds, AwA2, CelebA,
CIFAR, image folders, HAM10000): images with class labels, and whatever concept and part
annotations the dataset has. Everything past images, labels and class names is optional,
because datasets annotate at different levels:

* per-image concept labels, binary or soft, with an optional certainty (CUB: 312
  attributes with certainty 1-4; CelebA: 40 binary attributes);
* a class-concept matrix only (AwA2's predicate matrix);
* part masks (the built-in world) or part keypoints ``(x, y, visible)`` (CUB's 15 parts),
  with the part each concept belongs to;
* nothing at all (CIFAR).
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bottlekit._arrays import as_binary_array, as_real_array
from bottlekit._checks import repeated_items, shown_value
from bottlekit.images import ImageSource, as_image_source, image_positions

__all__ = ["ConceptDataset"]


#: Most classes named by default (``"0"``, ``"1"``, ...) when ``class_names`` is not given:
#: a label of 10**9 would otherwise build a billion names.
MAX_DEFAULT_CLASSES = 2**20


def _names(value: Any, field: str) -> list[str]:
    """``value`` as a list of distinct str (a name given twice would make two classes,
    parts or values that cannot be told apart by name)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{field}: expected a list of str, got {type(value).__name__}")
    bad = [i for i, v in enumerate(value) if not isinstance(v, str)]
    if bad:
        raise ValueError(
            f"{field}: item {bad[0]} has type {type(value[bad[0]]).__name__}; expected str"
        )
    names = list(value)
    if len(set(names)) != len(names):
        dup = repeated_items(names)
        raise ValueError(f"{field}: names must be unique, {dup[:5]} repeat")
    return names


def _groups(value: Any, n: int) -> np.ndarray:
    """``groups`` as an (n,) array of integers or of str: a float (NaN is no group) or a
    bool (two groups by accident) is refused, as are mixed types (numpy would make
    ``[1, "1"]`` two strings "1": one group)."""
    if not isinstance(value, np.ndarray) and isinstance(value, (list, tuple)):
        kinds = {
            "bool"
            if isinstance(v, (bool, np.bool_))
            else "int"
            if isinstance(v, numbers.Integral)
            else "str"
            if isinstance(v, str)
            else type(v).__name__
            for v in value
        }
        if len(kinds) > 1:
            raise ValueError(
                "groups: expected integers or str (a group id per image), got a mix of "
                f"{sorted(kinds)} (numpy would turn them all into str: 1 and '1' one group)"
            )
    try:
        g = np.asarray(value)
    except (TypeError, ValueError):  # ragged nested sequences
        g = None
    if g is None or g.shape != (n,):
        shape = "a ragged sequence" if g is None else f"shape {g.shape}"
        raise ValueError(f"groups: expected shape ({n},) (one group per image), got {shape}")
    if not n:
        return g.astype(np.int64) if g.dtype.kind not in "iuU" else g
    if g.dtype == object and all(isinstance(v, str) for v in g.tolist()):
        g = g.astype(str)
    if g.dtype == bool or not (np.issubdtype(g.dtype, np.integer) or g.dtype.kind == "U"):
        raise ValueError(
            f"groups: expected integers or str (a group id per image), got dtype {g.dtype}"
        )
    return g


def _numeric(value: Any, field: str, shape: tuple[int | None, ...], what: str) -> np.ndarray:
    """``value`` as a finite numeric array of ``shape`` (None: any size on that axis)."""
    arr = as_real_array(value, field, dtype=None)
    if arr.ndim != len(shape) or any(
        s is not None and a != s for a, s in zip(arr.shape, shape, strict=True)
    ):
        raise ValueError(f"{field}: expected shape {what}, got {arr.shape}")
    if arr.dtype != bool and not np.isfinite(arr).all():
        raise ValueError(f"{field}: contains NaN or inf; expected finite values")
    return arr


def _is_lazy_masks(value: Any) -> bool:
    """A lazy mask array: one that says so (``lazy_masks = True``), with shape, dtype,
    indexing and ``__array__`` (a torch tensor or an array-like is converted instead)."""
    return getattr(value, "lazy_masks", False) is True and all(
        hasattr(value, a) for a in ("shape", "dtype", "__getitem__", "__array__")
    )


@dataclass(frozen=True, eq=False, repr=False)
class ConceptDataset:
    """An image dataset with class labels and optional concept and part annotations.

    Construction validates every field against the others; a wrong field raises a
    ``ValueError`` naming it, with what was received and what was expected. Images stay
    as given (file paths are not read), so a dataset of paths is cheap to build.

    Parameters
    ----------
    images : images accepted by :func:`bottlekit.images.as_image_source`
        A uint8 array (n, H, W, 3), a list of PIL images or arrays, a list of file paths,
        a folder, a torch ``Dataset``, or an :class:`~bottlekit.images.ImageSource`.
    labels : int array of shape (n,), optional
        Class index of each image, in ``0..len(class_names) - 1``. May be omitted when
        ``images`` is a class-per-subfolder folder (the folder's labels are used).
    class_names : list of str, optional
        Name of each class index. Default: the folder's class names, else the indices
        as strings (``"0"``, ``"1"``, ...).
    concept_names : list of str, optional
        The k concepts; required with any of the concept fields below.
    concept_labels : array of shape (n, k), optional
        Per-image concept annotation in [0, 1]: binary (present or not) or soft.
    concept_certainty : array of shape (n, k), optional
        How sure the annotator was of each label (e.g. CUB's 1-4); needs
        ``concept_labels``.
    class_concept_matrix : array of shape (n_classes, k), optional
        Class-level concept annotation (e.g. AwA2's predicates, or the rate of each
        concept within each class).
    part_masks : bool array of shape (n, P, H, W), optional
        Pixels of each part in each image.
    part_keypoints : array of shape (n, P, 3), optional
        ``(x, y, visible)`` of each part in each image, ``visible`` 0 or 1.
    part_names : list of str, optional
        The P parts; required with ``part_masks``, ``part_keypoints`` or
        ``part_of_concept``.
    part_of_concept : sequence of int or None, shape (k,), optional
        Index into ``part_names`` of the part each concept belongs to; -1 (or None) for
        a concept that belongs to no part. Stored as int64 with -1.
    split : str, optional
        Name of the split (``"train"``, ``"test"``, ...).
    keypoint_names : list of str, optional
        Names of the keypoints in ``part_keypoints`` when they are not the parts: CUB
        annotates 15 keypoints ("left wing", "right wing", ...) while its concepts belong
        to parts grouped from them ("wings"). With it, ``part_keypoints`` has shape
        ``(n, len(keypoint_names), 3)`` and is independent of ``part_names``.
    object_boxes : array of shape (n, 4), optional
        Bounding box ``(x, y, width, height)`` of the object in each image, in the pixels
        of the images as loaded (CUB, Waterbirds).
    spurious_labels : int array of shape (n,), optional
        A known spurious attribute of each image, in ``0..len(spurious_names) - 1``
        (Waterbirds: the place; CelebA: a chosen attribute such as "Male").
    spurious_names : list of str, optional
        Names of the spurious attribute's values; required with ``spurious_labels``.
    skipped : dict of str to int, optional
        What a loader skipped or could not annotate, and how many (e.g. ``{"keypoints
        not visible": 41}``), so nothing is dropped silently.
    groups : array of shape (n,), optional
        The group of each image, integers or strings, that a split must not cut, as
        scikit-learn's ``groups`` (HAM10000: the lesion each image shows, so that images
        of one lesion stay on one side: ``GroupShuffleSplit().split(X, y, ds.groups)``).

    Attributes
    ----------
    image_source : ImageSource
        The images as an indexable source (see :func:`bottlekit.images.as_image_source`).

    Notes
    -----
    ``part_masks`` may be a lazy mask array instead of an ndarray: an object with
    ``lazy_masks = True``, ``shape`` (n, P, H, W), ``dtype`` bool, ``__getitem__`` (rows
    by index array), ``__array__`` and optionally ``take(rows)`` (a lazy subset), so
    masks are computed for the rows used (see
    :class:`bottlekit.datasets.KeypointPartMasks`).

    Examples
    --------
    >>> import numpy as np
    >>> ds = ConceptDataset(
    ...     np.zeros((4, 8, 8, 3), np.uint8),
    ...     labels=[0, 1, 1, 0],
    ...     class_names=["cat", "dog"],
    ...     concept_names=["furry", "barks"],
    ...     concept_labels=[[1, 0], [1, 1], [1, 1], [1, 0]],
    ... )
    >>> len(ds), ds.n_classes, ds.n_concepts
    (4, 2, 2)
    >>> ds.subset([1, 2]).labels
    array([1, 1])
    >>> ConceptDataset(np.zeros((2, 8, 8, 3), np.uint8), labels=[0, 2], class_names=["a", "b"])
    Traceback (most recent call last):
    ...
    ValueError: labels: class indices must be in 0..1 (one per class name), got 2
    """

    images: Any
    labels: Any = None
    class_names: Sequence[str] | None = None
    concept_names: Sequence[str] | None = None
    concept_labels: Any = None
    concept_certainty: Any = None
    class_concept_matrix: Any = None
    part_masks: Any = None
    part_keypoints: Any = None
    part_names: Sequence[str] | None = None
    part_of_concept: Any = None
    split: str | None = None
    keypoint_names: Sequence[str] | None = None
    object_boxes: Any = None
    spurious_labels: Any = None
    spurious_names: Sequence[str] | None = None
    skipped: dict[str, int] | None = None
    groups: Any = None

    #: Fields with one row per image (``subset`` indexes them); subclasses add theirs.
    PER_IMAGE_FIELDS: ClassVar[tuple[str, ...]] = (
        "labels",
        "concept_labels",
        "concept_certainty",
        "part_masks",
        "part_keypoints",
        "object_boxes",
        "spurious_labels",
        "groups",
    )

    def __post_init__(self) -> None:
        source = as_image_source(self.images)
        n = len(source)
        object.__setattr__(self, "_source", source)
        self._check_labels(source, n)
        self._check_concepts(n)
        self._check_parts(source, n)
        self._check_extras(n)
        if self.split is not None and not isinstance(self.split, str):
            raise ValueError(f"split: expected a str or None, got {type(self.split).__name__}")

    # ------------------------------------------------------------------ validation
    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def _check_labels(self, source: ImageSource, n: int) -> None:
        labels, class_names = self.labels, self.class_names
        if labels is None:
            if source.labels is None:
                raise ValueError(
                    "labels: missing; give the class index of every image (or a "
                    "class-per-subfolder folder as images)"
                )
            labels = source.labels
            if class_names is None:
                class_names = list(source.class_names)
        try:
            y = np.asarray(labels)
        except (TypeError, ValueError):  # ragged nested sequences
            raise ValueError(
                f"labels: expected integer class indices of shape ({n},), got a ragged "
                f"{type(labels).__name__}"
            ) from None
        if y.ndim != 1 or y.shape[0] != n:
            raise ValueError(f"labels: expected shape ({n},) (one per image), got {y.shape}")
        first = y.flat[0] if y.size else None
        if isinstance(first, (str, bytes)):  # names: say how to get indices, not "dtype <U4"
            raise ValueError(
                f"labels: expected integer class indices, got dtype {y.dtype} (class names "
                f"such as {shown_value(first.item() if hasattr(first, 'item') else first)}); "
                "to use names, pass class_names, labels = "
                "np.unique(labels, return_inverse=True)"
            )
        if y.dtype == bool or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"labels: expected integer class indices, got dtype {y.dtype}")
        if n and y.min() < 0:
            raise ValueError(f"labels: class indices must be >= 0, got {int(y.min())}")
        if class_names is None:
            if n and int(y.max()) >= MAX_DEFAULT_CLASSES:
                raise ValueError(
                    f"labels: class index {int(y.max())} would make {int(y.max()) + 1} "
                    f"classes named by their index; expected indices < {MAX_DEFAULT_CLASSES} "
                    "without class_names (give class_names to name the classes)"
                )
            class_names = [str(c) for c in range(int(y.max()) + 1 if n else 0)]
        class_names = _names(class_names, "class_names")
        if n and y.max() >= len(class_names):
            raise ValueError(
                f"labels: class indices must be in 0..{len(class_names) - 1} (one per class "
                f"name), got {int(y.max())}"
            )
        self._set("labels", y)
        self._set("class_names", class_names)

    def _check_concepts(self, n: int) -> None:
        given = [
            f
            for f in ("concept_labels", "concept_certainty", "class_concept_matrix")
            if getattr(self, f) is not None
        ]
        if self.part_of_concept is not None:
            given.append("part_of_concept")
        if self.concept_names is None:
            if given:
                raise ValueError(
                    f"concept_names: missing; {given[0]} is given, so name its concepts"
                )
            return
        names = _names(self.concept_names, "concept_names")
        self._set("concept_names", names)
        k = len(names)
        if self.concept_labels is not None:
            L = _numeric(self.concept_labels, "concept_labels", (n, k), f"({n}, {k})")
            if L.dtype != bool and ((L < 0) | (L > 1)).any():
                raise ValueError(
                    "concept_labels: expected values in [0, 1] (binary or soft), got "
                    f"values in [{L.min()}, {L.max()}]"
                )
            self._set("concept_labels", L)
        if self.concept_certainty is not None:
            if self.concept_labels is None:
                raise ValueError(
                    "concept_certainty: given without concept_labels; it qualifies them"
                )
            C = _numeric(self.concept_certainty, "concept_certainty", (n, k), f"({n}, {k})")
            self._set("concept_certainty", C)
        if self.class_concept_matrix is not None:
            c = len(self.class_names)
            M = _numeric(self.class_concept_matrix, "class_concept_matrix", (c, k), f"({c}, {k})")
            self._set("class_concept_matrix", M)

    def _check_parts(self, source: ImageSource, n: int) -> None:
        P = None
        if self.part_masks is not None and _is_lazy_masks(self.part_masks):
            M = self.part_masks
            if len(M.shape) != 4 or M.shape[0] != n or np.dtype(M.dtype) != bool:
                raise ValueError(
                    f"part_masks: expected a lazy bool mask array of shape ({n}, P, H, W), "
                    f"got shape {tuple(M.shape)} and dtype {M.dtype}"
                )
            P = M.shape[1]
        elif self.part_masks is not None:
            # ragged lists, text and complex values are refused as for every numeric array
            M = as_real_array(self.part_masks, "part_masks", dtype=None)
            if M.ndim != 4 or M.shape[0] != n:
                raise ValueError(f"part_masks: expected shape ({n}, P, H, W), got {M.shape}")
            if source.kind == "array" and M.shape[2:] != source.items.shape[1:3]:
                H, W = source.items.shape[1:3]
                raise ValueError(
                    f"part_masks: expected shape ({n}, P, {H}, {W}) (the images' size), "
                    f"got {M.shape}"
                )
            self._set("part_masks", as_binary_array(M, "part_masks"))
            P = M.shape[1]
        K = None
        if self.keypoint_names is not None:
            kp_names = _names(self.keypoint_names, "keypoint_names")
            self._set("keypoint_names", kp_names)
            if self.part_keypoints is None:
                raise ValueError("keypoint_names: given without part_keypoints; it names them")
            K = _numeric(
                self.part_keypoints,
                "part_keypoints",
                (n, len(kp_names), 3),
                f"({n}, {len(kp_names)}, 3) (one row per keypoint name)",
            )
        elif self.part_keypoints is not None:
            K = _numeric(self.part_keypoints, "part_keypoints", (n, None, 3), f"({n}, P, 3)")
            if P is not None and K.shape[1] != P:
                raise ValueError(f"part_keypoints: has {K.shape[1]} parts but part_masks has {P}")
            P = K.shape[1]
        if K is not None:
            as_binary_array(K[..., 2], "part_keypoints", hint=" in the visible column [..., 2]")
            self._set("part_keypoints", K)
        if self.part_names is None:
            if P is not None or self.part_of_concept is not None:
                what = "part_of_concept" if P is None else "the part annotations"
                raise ValueError(f"part_names: missing; {what} need the names of the parts")
            return
        parts = _names(self.part_names, "part_names")
        if P is not None and len(parts) != P:
            raise ValueError(f"part_names: expected {P} names (one per part), got {len(parts)}")
        self._set("part_names", parts)
        if self.part_of_concept is not None:
            self._set("part_of_concept", self._part_index(self.part_of_concept, len(parts)))

    def _check_extras(self, n: int) -> None:
        if self.object_boxes is not None:
            B = _numeric(self.object_boxes, "object_boxes", (n, 4), f"({n}, 4) (x, y, w, h)")
            if (B[:, 2:] < 0).any():
                raise ValueError("object_boxes: width and height must be >= 0")
            self._set("object_boxes", B)
        if self.spurious_labels is None:
            if self.spurious_names is not None:
                raise ValueError("spurious_names: given without spurious_labels; it names them")
        else:
            if self.spurious_names is None:
                raise ValueError("spurious_names: missing; name the values of spurious_labels")
            names = _names(self.spurious_names, "spurious_names")
            s = np.asarray(self.spurious_labels)
            if s.shape != (n,) or s.dtype == bool or not np.issubdtype(s.dtype, np.integer):
                raise ValueError(
                    f"spurious_labels: expected integer values of shape ({n},), got "
                    f"{s.dtype} {s.shape}"
                )
            if n and (s.min() < 0 or s.max() >= len(names)):
                raise ValueError(
                    f"spurious_labels: expected values in 0..{len(names) - 1} (one per "
                    f"spurious name), got {int(s.min())}..{int(s.max())}"
                )
            self._set("spurious_labels", s)
            self._set("spurious_names", names)
        if self.groups is not None:
            self._set("groups", _groups(self.groups, n))
        if self.skipped is not None:
            if not isinstance(self.skipped, dict) or not all(
                isinstance(k, str)
                and isinstance(v, numbers.Integral)
                and not isinstance(v, bool)
                and v >= 0
                for k, v in self.skipped.items()
            ):
                raise ValueError(
                    f"skipped: expected a dict of str to int counts >= 0, got {self.skipped!r:.80}"
                )

    def _part_index(self, value: Any, n_parts: int) -> np.ndarray:
        k = len(self.concept_names)
        try:
            shape = np.shape(value)
        except ValueError:  # ragged nested sequences
            shape = None
        if shape is None or len(shape) != 1 or shape[0] != k or isinstance(value, (str, dict)):
            raise ValueError(
                f"part_of_concept: expected {k} part indices (one per concept), got "
                + (f"shape {shape}" if shape is not None else "a ragged sequence")
            )
        items = value.tolist() if isinstance(value, np.ndarray) else list(value)
        values = []
        for j, p in enumerate(items):
            if p is None:
                values.append(-1)
            elif isinstance(p, bool) or not isinstance(p, numbers.Integral):
                raise ValueError(
                    f"part_of_concept: item {j} is {p!r}; expected a part index or -1/None"
                )
            else:
                values.append(int(p))
        # checked as Python ints: one beyond int64 would overflow the array first
        if any(v < -1 or v >= n_parts for v in values):
            raise ValueError(
                f"part_of_concept: expected part indices in 0..{n_parts - 1} or -1, got "
                f"{sorted(set(values))}"
            )
        out = np.array(values, dtype=np.int64)
        return out

    # ------------------------------------------------------------------ the dataset
    @property
    def image_source(self) -> ImageSource:
        """The images as an :class:`~bottlekit.images.ImageSource`."""
        return self._source  # type: ignore[attr-defined]

    @property
    def n_classes(self) -> int:
        """Number of classes (``len(class_names)``)."""
        return len(self.class_names)

    @property
    def n_concepts(self) -> int:
        """Number of concepts (0 without ``concept_names``)."""
        return 0 if self.concept_names is None else len(self.concept_names)

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        has = [
            f.name
            for f in dataclasses.fields(self)
            if f.name not in ("images", "labels", "class_names", "concept_names", "split")
            and getattr(self, f.name) is not None
        ]
        return (
            f"{type(self).__name__}(split={self.split!r}, n={len(self)}, "
            f"classes={self.n_classes}, concepts={self.n_concepts}, with={has})"
        )

    def subset(self, indices: Any) -> ConceptDataset:
        """The images ``indices`` with their per-image annotations; the rest is kept.

        Parameters
        ----------
        indices : sequence of int or boolean mask of shape (n,)
            Positions (negative ones count from the end, repeats are kept) or a mask.

        Returns
        -------
        ConceptDataset
            Of the same type as ``self`` (a ``World`` stays a ``World``). Array images stay
            an array; other images become a subset :class:`~bottlekit.images.ImageSource`
            (files are still not read).
        """
        idx = image_positions(indices, len(self))
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        if isinstance(self.images, np.ndarray) and self.image_source.kind == "array":
            values["images"] = self.images[idx]
        else:
            values["images"] = self.image_source.subset(idx.tolist())
        for name in self.PER_IMAGE_FIELDS:
            value = values.get(name)
            if value is None:
                continue
            if _is_lazy_masks(value) and hasattr(value, "take"):
                values[name] = value.take(idx)  # stays lazy
            elif isinstance(value, np.ndarray) or _is_lazy_masks(value):
                values[name] = value[idx]
            else:
                values[name] = [value[int(i)] for i in idx]
        return type(self)(**values)
