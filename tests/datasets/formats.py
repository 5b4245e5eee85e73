"""Fixture writers: tiny datasets in the exact on-disk formats of the real releases.

Each writer creates the files under a folder and returns what it wrote, so the tests can
check the parsed values one by one against it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CUB_PARTS = [
    "back", "beak", "belly", "breast", "crown", "forehead", "left eye", "left leg",
    "left wing", "nape", "right eye", "right leg", "right wing", "tail", "throat",
]  # fmt: skip
CUB_ATTRIBUTES = [
    "has_bill_shape::dagger",
    "has_wing_color::blue",
    "has_wing_color::brown",
    "has_size::small_(5_-_9_in)",
    "has_breast_pattern::solid",
    "has_eye_color::black",
]
CUB_CLASSES = ["001.Black_footed Albatross", "002.Laysan.Albatross", "003.Sooty_Albatross"]


def image(path: Path, size=(32, 32), value: int = 0, fmt: str | None = None) -> None:
    """A small RGB image of ``size`` (W, H) whose red channel is ``value``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.zeros((size[1], size[0], 3), np.uint8)
    arr[..., 0] = value
    arr[..., 1] = np.arange(size[0], dtype=np.uint8)[None, :] * 3
    Image.fromarray(arr).save(path, format=fmt)


def write_cub(parent: Path, n_per_class: int = 4, seed: int = 0) -> dict:
    """CUB_200_2011 under ``parent`` (attributes.txt next to it, as the release has it)."""
    rng = np.random.default_rng(seed)
    root = parent / "CUB_200_2011"
    (root / "attributes").mkdir(parents=True)
    (root / "parts").mkdir()
    C, K, P = len(CUB_CLASSES), len(CUB_ATTRIBUTES), len(CUB_PARTS)
    n = C * n_per_class
    paths, labels, sizes = [], [], []
    for c, cls in enumerate(CUB_CLASSES):
        for j in range(n_per_class):
            name = cls.split(".", 1)[1].replace(" ", "_")
            paths.append(f"{cls}/{name}_00{j}.{j}_{c}.jpg")  # dots and a space in the path
            labels.append(c)
            sizes.append((40 + 8 * j, 30 + 6 * c))  # (W, H): sizes differ
    for i, (rel, (w, h)) in enumerate(zip(paths, sizes, strict=True)):
        image(root / "images" / rel, (w, h), value=10 * i, fmt="JPEG")
    is_train = np.array([1, 1, 0, 1] * C)[:n]
    boxes = np.array([[2.0 + i % 3, 3.0, w - 8.0, h - 9.5] for i, (w, h) in enumerate(sizes)])
    present = rng.integers(0, 2, (n, K))
    certainty = rng.integers(1, 5, (n, K))
    rates = np.round(rng.uniform(0, 100, (C, K)), 4)
    kp = np.zeros((n, P, 3))
    for i, (w, h) in enumerate(sizes):
        vis = rng.integers(0, 2, P)
        xy = np.stack([rng.uniform(4, w - 4, P), rng.uniform(4, h - 4, P)], 1).round(1)
        kp[i] = np.concatenate([xy * vis[:, None], vis[:, None]], 1)
    kp[5, :, :] = 0  # an image with no visible part
    kp[0, CUB_PARTS.index("left wing")] = [10.0, 12.0, 1]
    kp[0, CUB_PARTS.index("right wing")] = [30.0, 12.0, 0]  # invisible: no disc

    def lines(rows) -> str:
        return "".join(" ".join(str(v) for v in r) + "\n" for r in rows)

    (root / "images.txt").write_text(lines((i + 1, p) for i, p in enumerate(paths)))
    (root / "classes.txt").write_text(lines((c + 1, nm) for c, nm in enumerate(CUB_CLASSES)))
    (root / "image_class_labels.txt").write_text(
        lines((i + 1, y + 1) for i, y in enumerate(labels))
    )
    (root / "train_test_split.txt").write_text(lines((i + 1, t) for i, t in enumerate(is_train)))
    (root / "bounding_boxes.txt").write_text(
        lines((i + 1, *(f"{v:.1f}" for v in b)) for i, b in enumerate(boxes))
    )
    (parent / "attributes.txt").write_text(lines((j + 1, a) for j, a in enumerate(CUB_ATTRIBUTES)))
    att = []
    for i in range(n):
        for j in range(K):
            row = [i + 1, j + 1, present[i, j], certainty[i, j], f"{rng.uniform(0, 20):.3f}"]
            if i == 3 and j == 1:
                row.insert(4, 0)  # the release has a few 6-column lines
            att.append(row)
    (root / "attributes" / "image_attribute_labels.txt").write_text(lines(att))
    (root / "attributes" / "class_attribute_labels_continuous.txt").write_text(lines(rates))
    (root / "attributes" / "certainties.txt").write_text(
        "1 not visible\n2 guessing\n3 probably\n4 definitely\n"
    )
    (root / "parts" / "parts.txt").write_text(lines((p + 1, nm) for p, nm in enumerate(CUB_PARTS)))
    (root / "parts" / "part_locs.txt").write_text(
        lines(
            (i + 1, p + 1, f"{kp[i, p, 0]:.1f}", f"{kp[i, p, 1]:.1f}", int(kp[i, p, 2]))
            for i in range(n)
            for p in range(P)
        )
    )
    return {
        "root": root,
        "paths": paths,
        "labels": np.array(labels),
        "sizes": sizes,
        "is_train": is_train.astype(bool),
        "boxes": boxes,
        "present": present,
        "certainty": certainty,
        "rates": rates,
        "keypoints": kp,
    }
