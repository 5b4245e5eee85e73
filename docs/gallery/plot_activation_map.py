"""
Where is a concept? Concept activation maps
===========================================

:func:`bottlekit.visualize.concept_activation_map` shows where in an image a concept is
found: Grad-CAM (Selvaraju et al., 2017) of the concept's activation on the backbone's
last feature map. On the built-in world, the part masks say where each concept really
is, so the maps can be checked: the outlines are the true parts.
"""

import bottlekit
from bottlekit.concepts import from_text
from bottlekit.diagnostics import concept_location
from bottlekit.visualize import concept_activation_map, plot_activation_maps

backbone = bottlekit.load_backbone("world-tiny")
world = bottlekit.make_world(24, "test", random_state=0)
bank = from_text(backbone, world.concept_names, ["a photo of a bird with {}."])
shown = ["red body", "yellow head", "long tail", "water background"]
idx = [world.concept_names.index(c) for c in shown]

first = slice(0, 4)
maps = concept_activation_map(backbone, world.images[first], bank, shown, method="gradcam")
present = world.concept_labels[first][:, idx].astype(bool)
masks = world.part_masks[first][:, world.part_of_concept[idx]] & present[:, :, None, None]
fig = plot_activation_maps(
    world.images[first],
    maps,
    shown,
    masks=masks,
    image_titles=[world.class_names[c] for c in world.labels[first]],
)

# %%
# The pointing game over all 24 images: how often the map's maximum falls inside the
# concept's part, for the concepts that are present.
maps = concept_activation_map(backbone, world.images, bank, shown, method="gradcam")
location = concept_location(
    maps,
    world.part_masks,
    world.part_of_concept[idx],
    world.concept_labels[:, idx],
    concept_names=shown,
)
print(
    f"pointing accuracy {location.pointing_accuracy:.2f} over {location.n_pairs} pairs; "
    f"energy in the part {location.mean_energy:.2f} "
    f"(a uniform map: {location.uniform_expectation:.2f})"
)
