"""The base class of the concept attribution methods.

Each method explains one scalar per (image, concept): the concept activation
:math:`s_j(x)` of the image's embedding (see :class:`ConceptAttribution`). A subclass
gives the maps of a batch of images and their concepts at the model's input size; the
base class checks the arguments, takes the images in and puts the maps back on the images.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from bottlekit._checks import check_number
from bottlekit.visualize.attribution._image_towers import (
    patch_embedding_by_matmul,
    tower_kind,
)
from bottlekit.visualize.attribution._images import (
    as_feature_input,
    as_model_input,
    to_image_resolution,
)
from bottlekit.visualize.attribution._scoring import (
    check_pairs,
    concept_names_of,
    make_scorer,
    resolve_concept_columns,
)

__all__ = ["ConceptAttribution"]


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an int >= 1; ValueError naming ``name`` otherwise (booleans, floats
    and strings included)."""
    return int(check_number(value, name, integer=True, low=1, expected="a positive int"))


def _bank_of(source: Any) -> Any:
    """The ConceptBank behind ``source`` (a bank, or a model fitted on one), else None.

    Random concept banks belong to no backbone and are not returned."""
    from bottlekit.concepts.bank import ConceptBank

    bank = source if isinstance(source, ConceptBank) else getattr(source, "concepts", None)
    if not isinstance(bank, ConceptBank) or bank.backbone_id == "random":
        return None
    return bank


def _source_dim(source: Any) -> int | None:
    """The embedding dimension a concept bank or a fitted model scores (None: unknown)."""
    dim = getattr(source, "dim", None) or getattr(source, "n_features_in_", None)
    return None if dim is None else int(dim)


def _checked_features(out: Any, n: int, dim: int | None) -> torch.Tensor:
    """The output of a feature function given as ``backbone``, checked before it is scored:
    a float tensor (n, dim) in the autograd graph of its input (the maps are its gradients)."""
    expected = f"a float tensor (n={n}, {'d' if dim is None else dim}) computed from its input"
    if not isinstance(out, torch.Tensor) or not out.is_floating_point():
        got = f"a tensor of dtype {out.dtype}" if isinstance(out, torch.Tensor) else type(out)
        got = got if isinstance(got, str) else got.__name__
        raise TypeError(f"backbone: the feature function must return {expected}, got {got}")
    if out.ndim != 2 or len(out) != n or (dim is not None and out.shape[1] != dim):
        raise ValueError(
            f"backbone: the feature function must return {expected}, got shape {tuple(out.shape)}"
        )
    if not out.requires_grad:
        raise ValueError(
            "backbone: the feature function's output does not depend on its input through "
            "autograd (no gradient reaches the images); do not compute it under "
            "torch.no_grad(), detach it or pass it through numpy"
        )
    return out


def _check_finite_maps(maps: np.ndarray, x: torch.Tensor) -> None:
    """Refuse maps holding NaN or inf: the model overflowed on some images (e.g. raw pixel
    values passed as a preprocessed tensor) and the maps would mean nothing."""
    bad = np.flatnonzero(~np.isfinite(maps.reshape(len(maps), -1)).all(axis=1))
    if len(bad):
        lo, hi = float(x.min()), float(x.max())
        raise ValueError(
            f"images: the maps of image(s) {bad[:5].tolist()} hold NaN or inf: the model's "
            f"activations overflowed on them (input values in [{lo:.3g}, {hi:.3g}]); "
            "expected images preprocessed as backbone.preprocess does"
        )


def _is_backbone(backbone: Any) -> bool:
    model = getattr(backbone, "model", None)
    return model is not None and hasattr(model, "visual") and hasattr(backbone, "device")


class ConceptAttribution:
    r"""Base class: where in an image a CLIP backbone sees a concept.

    The explained scalar, for image :math:`x` and concept :math:`j`, is the concept
    activation on the L2-normalised image embedding :math:`z = f(x)/\lVert f(x)\rVert`
    (``f`` the open_clip image tower, as :meth:`bottlekit.Backbone.encode_images` computes
    it): with a :class:`~bottlekit.concepts.ConceptBank`, :math:`s_j = (v_j\cdot z +
    b_j)/\lVert v_j\rVert` (CAVs) or :math:`v_j\cdot z/(\lVert v_j\rVert\lVert z\rVert)`
    (text concepts), i.e. :meth:`~bottlekit.concepts.ConceptBank.project`; with a fitted
    concept-bottleneck model, ``model.transform_torch(z)[:, j]``, exactly the activation
    the model's head sees.

    Subclasses: :class:`ConceptGradCAM`, :class:`ConceptIntegratedGradients`,
    :class:`ConceptSaliency`, :class:`ConceptActivationMapping`. Each takes the backbone,
    the concept source, ``batch_size`` and only its own settings.

    Parameters
    ----------
    backbone : Backbone
        From :func:`bottlekit.load_backbone`: an open_clip ViT or ResNet (``ModifiedResNet``)
        image tower. Runs on ``backbone.device``, in float32.
    concept_bank_or_model : ConceptBank or fitted concept-bottleneck model
        Where the concept scalar comes from (see above). A bank must live in the
        backbone's embedding space.
    batch_size : int, default 256
        (image, concept) pairs per forward/backward pass. Lower it for large backbones.

    Examples
    --------
    Every method maps with the same call; a 2-D table maps per-image concepts:

    >>> import bottlekit
    >>> from bottlekit.concepts import from_text
    >>> from bottlekit.visualize import ConceptAttribution, ConceptSaliency
    >>> bk = bottlekit.load_backbone("world-tiny", device="cpu")
    >>> bank = from_text(bk, ["red body", "long tail", "water background"])
    >>> saliency = ConceptSaliency(bk, bank)
    >>> isinstance(saliency, ConceptAttribution), saliency.concept_names[1]
    (True, 'long tail')
    >>> images = bottlekit.make_world(2, "test").images
    >>> saliency.attribute(images, [[0, 1], [2, 0]]).shape  # image 0: 0, 1; image 1: 2, 0
    (2, 2, 64, 64)
    """

    method: ClassVar[str] = ""
    """The ``method`` name of :func:`~bottlekit.visualize.concept_activation_map`."""
    _accepts_feature_function: ClassVar[bool] = False

    def __init__(
        self, backbone: Any, concept_bank_or_model: Any, *, batch_size: int = 256
    ) -> None:
        self.backbone = backbone
        self.concept_bank_or_model = concept_bank_or_model
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self._check_backbone()
        concept_names_of(concept_bank_or_model)
        if self._on_backbone:
            embed_dim = int(backbone.embed_dim)
            dim = _source_dim(concept_bank_or_model)
            if dim is not None and dim != embed_dim:
                raise ValueError(
                    f"concept_bank_or_model: has dimension {dim}, the backbone embeds in "
                    f"{embed_dim} dimensions; build it on this backbone"
                )
            bank = _bank_of(concept_bank_or_model)
            if bank is not None:
                bank.check_backbone(backbone, same_weights=False)

    # ------------------------------------------------------------------- checks
    @property
    def _on_backbone(self) -> bool:
        return _is_backbone(self.backbone)

    def _check_backbone(self) -> None:
        if _is_backbone(self.backbone):
            tower_kind(self.backbone.model.visual)
            return
        if hasattr(self.backbone, "encode_image") and hasattr(self.backbone, "visual"):
            raise TypeError(
                "backbone: got an open_clip model; pass the bottlekit Backbone that holds it "
                "(load_backbone), whose preprocessing and device the maps need"
            )
        if self._accepts_feature_function and callable(self.backbone):
            return
        expected = (
            "a bottlekit Backbone (load_backbone) with .model.visual, .preprocess and .device"
        )
        if self._accepts_feature_function:
            expected += " or a feature function x -> (n, d)"
        raise TypeError(f"backbone: expected {expected}, got {type(self.backbone).__name__}")

    # --------------------------------------------------------------- public API
    @property
    def concept_names(self) -> list[str]:
        """Names of the concepts this attribution can map, in index order."""
        return concept_names_of(self.concept_bank_or_model)

    def attribute(
        self,
        images: Any,
        concepts: Sequence[str | int] | str | int | np.ndarray | None = None,
        *,
        pairs: Any = None,
    ) -> np.ndarray:
        """Map every concept in ``concepts`` on every image, or the ``pairs`` asked for.

        Parameters
        ----------
        images : uint8 array (n, H, W, 3), PIL image(s), or float tensor (n, 3, H, W)
            Raw images go through ``backbone.preprocess``; a tensor is taken as already
            preprocessed. All images must have one size. With a feature function as
            ``backbone`` (:class:`ConceptSaliency`): its preprocessed float tensor
            (n, C, H, W), and maps at that size.
        concepts : list of str or int, str, int, None, or 2-D table (n, t)
            Concepts to map (names or indices into :attr:`concept_names`); ``None`` maps
            all of them. A 2-D array or list of lists (n, t) maps per-image concepts: row
            ``i`` lists the ``t`` concepts mapped on image ``i``.
        pairs : boolean array of shape (n, len(concepts)), optional
            Map only the (image, concept) pairs that are True and leave the other maps at
            0, e.g. each image's present concepts (``concept_labels.astype(bool)``) or the
            pairs :func:`bottlekit.diagnostics.located_pairs` scores; column ``j`` is the
            ``j``-th concept of ``concepts`` (one list for every image). The images with
            as many pairs as each other go through one per-image table.

        Returns
        -------
        ndarray of shape (n, len(concepts), H, W), float32
            One map per image and concept (a per-image table: (n, t, H, W)) at the
            image's resolution (for raw images at another size than the model's input,
            the model's centre crop is mapped back and the pixels it never saw are 0).
            Larger = more evidence for the concept.
        """
        names = self.concept_names
        if self._on_backbone:
            x_all, size, box = as_model_input(self.backbone, images)
        else:
            x_all, size, box = as_feature_input(images)
        idx, cols = resolve_concept_columns(concepts, names, len(x_all))
        pairs = check_pairs(pairs, concepts, len(x_all), len(idx))
        module = self.backbone.model if self._on_backbone else self.backbone
        was_training = getattr(module, "training", None)
        if was_training is not None:
            module.eval()
        fast_patches = (
            patch_embedding_by_matmul(self.backbone.model.visual)
            if self._on_backbone
            else contextlib.nullcontext()
        )
        try:
            with torch.enable_grad(), fast_patches:
                if pairs is None:
                    maps = self._maps(x_all, make_scorer(self.concept_bank_or_model, idx), cols)
                else:
                    maps = self._maps_of_pairs(x_all, pairs, idx)
        finally:
            if was_training is not None:
                module.train(was_training)
        out = to_image_resolution(maps, size, box)
        _check_finite_maps(out, x_all)
        return out

    def _maps_of_pairs(
        self, x_all: torch.Tensor, pairs: np.ndarray, idx: list[int]
    ) -> torch.Tensor:
        """Maps (n, k, H, W) of the pairs that are True in ``pairs`` (n, k), column ``j``
        concept ``idx[j]``, and 0 elsewhere: the images with the same number of pairs
        mapped with one per-image table."""
        maps = torch.zeros(*pairs.shape, *x_all.shape[2:], dtype=torch.float32, device="cpu")
        counts = pairs.sum(1)
        for c in np.unique(counts[counts > 0]):
            rows = np.flatnonzero(counts == c)
            columns = np.stack([np.flatnonzero(pairs[i]) for i in rows])  # (rows, c)
            table = np.asarray(idx)[columns]  # the concepts, as indices into concept_names
            group_idx, cols = resolve_concept_columns(table, self.concept_names, len(rows))
            at = torch.as_tensor(rows)
            scorer = make_scorer(self.concept_bank_or_model, group_idx)
            maps[at[:, None], torch.as_tensor(columns)] = self._maps(x_all[at], scorer, cols)
        return maps

    def __repr__(self) -> str:
        params = list(inspect.signature(type(self).__init__).parameters)[1:]
        shown = []
        for p in params:
            v = getattr(self, p)
            text = repr(v) if p not in ("backbone", "concept_bank_or_model") else None
            if text is None or len(text) > 60:
                text = f"<{type(v).__name__}>"
            shown.append(f"{p}={text}")
        return f"{type(self).__name__}({', '.join(shown)})"

    # ------------------------------------------------------------ for subclasses
    def _concept_scores(self, scorer: torch.nn.Module) -> Callable[[torch.Tensor], Any]:
        """``x -> s(x)`` (rows, m): the explained concept activations of an input batch."""
        if not self._on_backbone:
            features = self.backbone

            dim = _source_dim(self.concept_bank_or_model)

            def from_features(x: torch.Tensor) -> torch.Tensor:
                return scorer(_checked_features(features(x), len(x), dim))

            return from_features
        model = self.backbone.model

        def forward(x: torch.Tensor) -> torch.Tensor:
            z = F.normalize(model.encode_image(x).float(), dim=-1)
            return scorer(z)

        return forward

    def _maps(
        self, x_all: torch.Tensor, scorer: torch.nn.Module, cols: np.ndarray
    ) -> torch.Tensor:
        """Maps (n, t, H, W) at the model input: map ``c`` of image ``i`` explains scorer
        column ``cols[i, c]``. Each method gives its own, sharing work between the
        concepts of one image where it can."""
        raise NotImplementedError

    def _image_chunks(
        self, x_all: torch.Tensor, cols: np.ndarray
    ) -> Iterator[tuple[slice, torch.Tensor, torch.Tensor]]:
        """The images in chunks of ``max(1, batch_size // t)``, so that a chunk's maps for
        its ``t`` concepts hold at most ``batch_size`` rows: yields ``(rows, x, columns)``,
        ``rows`` the chunk's slice of ``x_all``, ``x = x_all[rows]`` and ``columns`` its
        (len(x), t) score columns on ``x_all``'s device."""
        columns = torch.as_tensor(np.array(cols), device=x_all.device)
        per_chunk = max(1, self.batch_size // cols.shape[1])
        for first in range(0, len(x_all), per_chunk):
            rows = slice(first, first + per_chunk)
            yield rows, x_all[rows], columns[rows]

    @staticmethod
    def _input_gradients(
        forward: Callable[[torch.Tensor], torch.Tensor],
        points: torch.Tensor,
        per_concept: list[torch.Tensor],
    ) -> list[torch.Tensor]:
        """Input gradients of score column ``cols[r]`` on row ``r`` of ``points``, for each
        ``cols`` of ``per_concept``: one forward pass, one backward pass per ``cols`` on
        its graph (so the concepts of one input share its forward pass)."""
        points = points.detach().requires_grad_(True)
        scores = forward(points)
        rows = torch.arange(len(points), device=points.device)
        grads = []
        for c, cols in enumerate(per_concept):
            (grad,) = torch.autograd.grad(
                scores[rows, cols].sum(), points, retain_graph=c < len(per_concept) - 1
            )
            grads.append(grad)
        return grads
