"""Draw docs/world_examples.png: world images with their concepts and part masks.

Usage: ``python scripts/make_world_figure.py [--out docs/world_examples.png]``
(needs matplotlib).
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from bottlekit.world import make_world

PART_COLOURS = np.array(
    [
        (230, 60, 60),
        (60, 120, 230),
        (240, 200, 40),
        (150, 90, 200),
        (250, 140, 30),
        (235, 235, 235),
    ],
    dtype=np.uint8,
)


def main(argv: list[str] | None = None) -> None:
    """Write the figure."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("docs/world_examples.png"))
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    w = make_world(48, "test", random_state=a.seed)
    # one image of each of the first 18 species, in species order
    picks = [int(np.flatnonzero(w.labels == c)[0]) for c in range(18)]
    cols, rows = 6, 3
    fig = plt.figure(figsize=(cols * 2.3, rows * 3.3 + 2.6), dpi=110)
    grid = fig.add_gridspec(rows + 1, cols, height_ratios=[3.3] * rows + [2.6])
    for j, i in enumerate(picks):
        ax = fig.add_subplot(grid[j // cols, j % cols])
        ax.imshow(w.images[i], interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        concepts = [w.concept_names[k] for k in np.flatnonzero(w.concept_labels[i])]
        text = "\n".join(textwrap.wrap(", ".join(concepts), 34))
        ax.set_title(w.class_names[w.labels[i]], fontsize=9, fontweight="bold")
        ax.text(0.0, -0.04, text, transform=ax.transAxes, va="top", fontsize=6.2)
    # bottom row: one image and its part masks
    i = picks[0]
    ax = fig.add_subplot(grid[rows, 0])
    ax.imshow(w.images[i], interpolation="nearest")
    ax.set_title("image", fontsize=8)
    ax.axis("off")
    ax = fig.add_subplot(grid[rows, 1])
    ax.imshow(PART_COLOURS[w.part_masks[i].argmax(0)], interpolation="nearest")
    ax.set_title("part masks", fontsize=8)
    ax.axis("off")
    ax = fig.add_subplot(grid[rows, 2])
    ax.axis("off")
    for k, name in enumerate(w.part_names):
        ax.add_patch(plt.Rectangle((0.0, 0.85 - 0.15 * k), 0.12, 0.1, color=PART_COLOURS[k] / 255))
        ax.text(0.17, 0.9 - 0.15 * k, name, va="center", fontsize=8)
    for k, part in enumerate(("body", "wing", "head")):
        ax = fig.add_subplot(grid[rows, 3 + k])
        mask = w.part_masks[i, w.part_names.index(part)]
        ax.imshow(np.where(mask[..., None], w.images[i], 255 - (255 - w.images[i]) // 4))
        ax.set_title(f"{part} mask", fontsize=8)
        ax.axis("off")
    fig.suptitle(
        "bottlekit world: 18 of the 24 species (test split) with the concepts drawn in each image",
        fontsize=10,
    )
    fig.tight_layout()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
