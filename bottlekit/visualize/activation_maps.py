r"""Concept activation maps: where in an image a CLIP backbone sees a concept.

:func:`concept_activation_map` is the one-call convenience over the attribution classes
of :mod:`bottlekit.visualize.attribution`, one per method:

==========================  ================================================================
``method``                  class
==========================  ================================================================
``"gradcam"``               :class:`~bottlekit.visualize.attribution.ConceptGradCAM`
``"integrated_gradients"``  :class:`~bottlekit.visualize.attribution.ConceptIntegratedGradients`
``"saliency"``              :class:`~bottlekit.visualize.attribution.ConceptSaliency`
``"coam"``                  :class:`~bottlekit.visualize.attribution.ConceptActivationMapping`
``"patch_tokens"``          :class:`~bottlekit.visualize.attribution.ConceptPatchTokens`
==========================  ================================================================

Each class's docstring gives its formula. All explain the concept activation
:math:`s_j(x)` on the image embedding :math:`z(x) = f(x)/\lVert f(x)\rVert` (``f`` the
open_clip image tower), from a :class:`~bottlekit.concepts.ConceptBank` or a fitted
concept-bottleneck model, and return one heat map per (image, concept) at the image's
resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bottlekit._checks import check_choice, check_unused
from bottlekit.visualize.attribution import METHODS as _CLASSES
from bottlekit.visualize.attribution import ConceptIntegratedGradients
from bottlekit.visualize.attribution._base import check_positive_int
from bottlekit.visualize.attribution._image_towers import grid_to_tokens, tokens_to_grid
from bottlekit.visualize.attribution.integrated_gradients import DEFAULT_N_STEPS, check_n_steps
from bottlekit.visualize.map_methods import METHODS

__all__ = ["METHODS", "concept_activation_map", "grid_to_tokens", "tokens_to_grid"]


def concept_activation_map(
    backbone: Any,
    images: Any,
    concept_bank_or_model: Any,
    concepts: Sequence[str | int] | str | int | np.ndarray | None = None,
    method: str = "gradcam",
    *,
    batch_size: int = 256,
    n_steps: int | None = None,
    pairs: Any = None,
) -> np.ndarray:
    r"""Heat maps of where each concept is seen in each image.

    For image :math:`x` and concept :math:`j` the explained scalar is the concept activation
    on the L2-normalised image embedding :math:`z = f(x)/\lVert f(x)\rVert`: with a
    :class:`~bottlekit.concepts.ConceptBank`, :math:`s_j = (v_j\cdot z + b_j)/\lVert
    v_j\rVert` (CAVs) or :math:`v_j\cdot z/(\lVert v_j\rVert\lVert z\rVert)` (text concepts),
    i.e. :meth:`~bottlekit.concepts.ConceptBank.project`; with a fitted concept-bottleneck
    model, ``model.transform_torch(z)[:, j]``.

    The same as ``Cls(backbone, concept_bank_or_model, ...).attribute(images, concepts)``
    with the class of ``method`` (see the module docstring and each class for the
    formula): ``"gradcam"`` (Grad-CAM on the last vision stage), ``"integrated_gradients"``
    (from a black image), ``"saliency"`` and ``"coam"`` (concept activation mapping).

    Parameters
    ----------
    backbone : Backbone
        From :func:`bottlekit.load_backbone`: an open_clip ViT or ResNet (``ModifiedResNet``)
        image tower. Runs on ``backbone.device``, in float32.
    images : uint8 array (n, H, W, 3), PIL image(s), or float tensor (n, 3, H, W)
        Raw images go through ``backbone.preprocess``; a tensor is taken as already
        preprocessed. All images must have one size.
    concept_bank_or_model : ConceptBank or fitted concept-bottleneck model
        Where the concept scalar comes from (see above). A bank must live in the
        backbone's embedding space.
    concepts : list of str or int, str, int, None, or 2-D table (n, t)
        Concepts to map (names or indices into the bank's ``names`` / the model's
        ``concept_names_``); ``None`` maps all of them. A 2-D array or list of lists
        (n, t) maps per-image concepts: row ``i`` lists the ``t`` concepts mapped on image
        ``i`` (the concepts of one image share its forward passes).
    method : str, default "gradcam"
        One of ``"gradcam"``, ``"integrated_gradients"``, ``"saliency"``, ``"coam"``,
        ``"patch_tokens"`` (the table above).
    batch_size : int, default 256
        (image, concept) pairs per forward/backward pass (integrated gradients: points
        of the interpolation paths per forward pass, one backward pass per concept on it;
        saliency: ``batch_size // len(concepts)`` images per forward pass, one backward
        pass per concept; coam, patch_tokens: images per pass). Lower it for large
        backbones.
    n_steps : int or None, default None
        Integration points of integrated gradients' trapezoid rule, at least 2 and at
        most 10,000; None means 21, the default of
        :class:`~bottlekit.visualize.attribution.ConceptIntegratedGradients`.
        ``"integrated_gradients"`` only: the
        other methods refuse a value (they used to check it and drop it, silently).
    pairs : boolean array of shape (n, len(concepts)), optional
        Map only the (image, concept) pairs that are True and leave the other maps at 0,
        e.g. each image's present concepts (``concept_labels.astype(bool)``) or the pairs
        :func:`bottlekit.diagnostics.located_pairs` scores; column ``j`` is the ``j``-th
        concept of ``concepts`` (one list for every image; None: all concepts). The
        concepts of an image share its forward passes.

    Returns
    -------
    ndarray of shape (n, len(concepts), H, W), float32
        One map per image and concept (a per-image table: (n, t, H, W)) at the image's
        resolution (for raw images at another size than the model's input, the model's
        centre crop is mapped back and the pixels it never saw are 0). Larger = more
        evidence for the concept. ``gradcam`` and ``saliency`` are >= 0;
        ``integrated_gradients``, ``coam`` and ``patch_tokens`` are signed.

    Raises
    ------
    ValueError
        Unknown method or concept, bad images, bank of another dimension, unsupported
        image tower.
    TypeError
        Wrong input types.

    Examples
    --------
    >>> import bottlekit
    >>> from bottlekit.concepts import from_text
    >>> bk = bottlekit.load_backbone("world-tiny", device="cpu")
    >>> world = bottlekit.make_world(4, "test")
    >>> bank = from_text(bk, ["red body", "long tail"])
    >>> maps = concept_activation_map(bk, world.images, bank, method="gradcam")
    >>> maps.shape
    (4, 2, 64, 64)
    """
    method = check_choice(method, METHODS, "method")
    batch_size = check_positive_int(batch_size, "batch_size")
    cls = _CLASSES[method]
    own = {}
    if cls is ConceptIntegratedGradients:
        own["n_steps"] = check_n_steps(DEFAULT_N_STEPS if n_steps is None else n_steps)
    else:
        check_unused(
            n_steps, "n_steps", f"with method={method!r} (integration steps of "
            "'integrated_gradients')", " or use method='integrated_gradients'",
        )  # fmt: skip
    attribution = cls(backbone, concept_bank_or_model, batch_size=int(batch_size), **own)
    return attribution.attribute(images, concepts, pairs=pairs)
