"""The built-in world: a synthetic bird dataset with known concepts, and its tiny CLIP.

>>> from bottlekit.world import make_world
>>> world = make_world(240, split="train", random_state=0)
"""

from bottlekit.world.dataset import SPLITS, World, make_world
from bottlekit.world.species import CLASS_NAMES, CONCEPT_NAMES, PART_NAMES, class_concept_matrix

__all__ = [
    "CLASS_NAMES",
    "CONCEPT_NAMES",
    "PART_NAMES",
    "SPLITS",
    "World",
    "class_concept_matrix",
    "make_world",
]
