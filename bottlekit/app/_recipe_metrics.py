"""The metrics of a recipe that need more than the model's score: the worst group's
accuracy (a confounded dataset's class and spurious attribute) and the concept
location (pointing game and energy against part masks).
"""

from __future__ import annotations

import numpy as np


def _worst_group(model, X, ds) -> tuple[float, dict]:
    if ds.spurious_labels is None:
        raise ValueError(
            "metric worst_group_accuracy: the test split has no spurious attribute "
            "(spurious_labels); use a confounded dataset such as waterbirds"
        )
    y = np.asarray(ds.labels)
    s = np.asarray(ds.spurious_labels)
    correct = model.predict(X) == y
    groups = {}
    for c in np.unique(y):
        for a in np.unique(s):
            mask = (y == c) & (s == a)
            if mask.any():
                name = f"{ds.class_names[c]} / {ds.spurious_names[a]}"
                groups[name] = {"n": int(mask.sum()), "accuracy": float(correct[mask].mean())}
    worst = min(g["accuracy"] for g in groups.values())
    return worst, {"groups": groups, "mean_accuracy": float(correct.mean())}


def _located_maps(model, backbone, sub, names: list[str]) -> np.ndarray:
    """Maps (n, m, H, W) of ``sub``'s images for the model's concepts ``names``, computed
    only where :func:`concept_location` scores them (the concept present, its part
    visible) and 0 elsewhere: each image takes a backward pass per scored concept, not
    one per concept of ``names``, and its concepts share its forward passes."""
    from bottlekit.diagnostics.location import located_pairs
    from bottlekit.visualize.activation_maps import concept_activation_map

    scored = located_pairs(sub, concept_names=names)  # (n, m), in the order of names
    images = sub.image_source.to_array()
    return concept_activation_map(backbone, images, model, names, pairs=scored)


def _location(model, backbone, ds, n_images: int, seed: int, batch: int = 16):
    from bottlekit.diagnostics.location import LocationResult, concept_location

    if ds.part_masks is None:
        raise ValueError(
            "metric concept_location: the test split has no part masks; give the loader an "
            "image_size (dataset.options) so that CUB's keypoints become masks"
        )
    names = [c for c in model.concept_names_ if c in set(ds.concept_names or ())]
    if not names:
        raise ValueError("metric concept_location: no concept of the model is annotated")
    rows = np.arange(len(ds))
    if n_images < len(ds):
        rows = np.sort(np.random.default_rng(seed).choice(rows, n_images, replace=False))
    parts = []
    for start in range(0, len(rows), batch):
        sub = ds.subset(rows[start : start + batch])
        maps = _located_maps(model, backbone, sub, names)
        parts.append(concept_location(maps, sub, concept_names=names))
    res = LocationResult(
        pointing=np.concatenate([p.pointing for p in parts]),
        energy=np.concatenate([p.energy for p in parts]),
        area=np.concatenate([p.area for p in parts]),
        scored=np.concatenate([p.scored for p in parts]),
        concept_names=names,
    )
    details = {
        "n_images": len(rows),
        "n_pairs": int(res.n_pairs),
        "pointing_accuracy": float(res.pointing_accuracy),
        "mean_energy": float(res.mean_energy),
        "uniform_expectation": float(res.uniform_expectation),
    }
    return float(res.pointing_accuracy), details
