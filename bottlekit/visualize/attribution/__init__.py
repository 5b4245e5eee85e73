"""Concept attribution methods: where in an image a CLIP backbone sees a concept.

One class per method, as captum does; each is built with the backbone, the concept
source (a :class:`~bottlekit.concepts.ConceptBank` or a fitted concept-bottleneck model)
and only its own settings, and maps images with one call, ``attribute(images, concepts)``:

ConceptGradCAM              Grad-CAM on the last stage of the image tower (or ``layer``)
ConceptIntegratedGradients  integrated gradients on the pixels (``n_steps``, ``baseline``)
ConceptSaliency             largest absolute input gradient over the colour channels
ConceptActivationMapping    CoAM: the concept activation decomposed over locations
ConceptPatchTokens          the concept activation of each ViT patch token (no gradient)

:func:`bottlekit.visualize.concept_activation_map` is the one-call convenience over them.

Module layout: ``_base`` (the shared class: checks, eval mode, input gradients), ``_scoring``
(the concept scorer), ``_images`` (image intake and the way back onto the images),
``_image_towers`` (open_clip ViT/ResNet internals), one module per method.
"""

from bottlekit.visualize.attribution._base import ConceptAttribution
from bottlekit.visualize.attribution.coam import ConceptActivationMapping
from bottlekit.visualize.attribution.gradcam import ConceptGradCAM
from bottlekit.visualize.attribution.integrated_gradients import ConceptIntegratedGradients
from bottlekit.visualize.attribution.patch_tokens import ConceptPatchTokens
from bottlekit.visualize.attribution.saliency import ConceptSaliency

METHODS: dict[str, type[ConceptAttribution]] = {
    cls.method: cls
    for cls in (
        ConceptGradCAM,
        ConceptIntegratedGradients,
        ConceptSaliency,
        ConceptActivationMapping,
        ConceptPatchTokens,
    )
}
"""Attribution class of each ``method`` name of ``concept_activation_map``."""

__all__ = [
    "METHODS",
    "ConceptActivationMapping",
    "ConceptAttribution",
    "ConceptGradCAM",
    "ConceptIntegratedGradients",
    "ConceptPatchTokens",
    "ConceptSaliency",
]
