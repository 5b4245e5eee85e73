"""The audit's sections drawn from activation maps: location (does a concept's map fall
on its part?) and the examples shown in the report.

A concept-bottleneck model's maps come from its backbone
(:func:`~bottlekit.visualize.activation_maps.concept_activation_map`); a torch classifier
gets input-gradient saliency of the surrogate's concept activations through the model's
own feature extractor.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bottlekit.diagnostics.model_features import _default_preprocess, _FeatureTap, _prepared


def _map_function(
    model, surrogate, backbone, is_cbm, feature_layer, preprocess, space, device, method
):
    """``f(images, concepts, pairs=None) -> maps`` or None: ``concepts`` a per-image
    table (m, t) of concept indices (maps (m, t, H, W)), or one list of k indices with
    boolean ``pairs`` (m, k) (maps (m, k, H, W), 0 where False)."""
    if is_cbm:
        from bottlekit.visualize.activation_maps import concept_activation_map

        def cbm_maps(images: np.ndarray, idx: np.ndarray, pairs=None) -> np.ndarray:
            """One call with the per-image table: an image's concepts share its forward
            passes (one call per concept recomputed them for every concept)."""
            return concept_activation_map(
                backbone, images, surrogate, concepts=idx, method=method, pairs=pairs
            )

        return cbm_maps

    from bottlekit.devices import resolve_device
    from bottlekit.visualize.attribution import ConceptSaliency

    dev = resolve_device(device)
    prep = preprocess or _default_preprocess
    tap = _FeatureTap(model, feature_layer, space)

    def features(x: torch.Tensor) -> torch.Tensor:
        return tap(x)[0].double()

    def saliency(images: np.ndarray, idx: np.ndarray, pairs=None) -> np.ndarray:
        """Input-gradient saliency of the surrogate's concept activations on the model's
        features: map ``t`` of image ``i`` is concept ``idx[i, t]``."""
        H, W = images.shape[1:3]
        x = _prepared(prep, images, dev)
        tap.resolve(x)
        explainer = ConceptSaliency(features, surrogate, batch_size=len(x))
        was_training = model.training
        model.eval()
        try:
            g = torch.from_numpy(explainer.attribute(x, idx, pairs=pairs))
        finally:
            model.train(was_training)
        if g.shape[2:] != (H, W):
            g = torch.nn.functional.interpolate(
                g, size=(H, W), mode="bilinear", align_corners=False
            )
        return g.numpy()

    return saliency


def _concepts_to_map(importance, spurious, concept_names, n: int = 4) -> list[int]:
    """The ``n`` most important and the ``n`` most spurious-looking concepts, in that order."""
    chosen = [int(j) for j in np.argsort(-importance, kind="stable")[:n]]
    for row in spurious[:n]:
        j = concept_names.index(row["concept"])
        if j not in chosen:
            chosen.append(j)
    return chosen


def _location(map_fn, data, eval_idx, concept_names, labels_by_name, chosen, n_images, rng, notes):
    """Location of the chosen concepts' maps on evaluation images, against their parts.

    :func:`bottlekit.diagnostics.location.concept_location`: pointing game and energy
    inside the concept's part mask, scored where the concept is present (when labelled)
    and its part visible; only those pairs are mapped (``located_pairs``).
    """
    from bottlekit.diagnostics.location import concept_location, located_pairs

    if data.part_masks is None or data.part_of_concept is None:
        notes.append("location: skipped, no part masks")
        return None
    if map_fn is None or n_images == 0:
        notes.append("location: skipped, no activation maps")
        return None
    part_of = dict(zip(data.concept_names, data.part_of_concept.tolist(), strict=True))
    chosen = [j for j in chosen if part_of.get(concept_names[j], -1) >= 0]
    if not chosen:
        notes.append("location: skipped, no audited concept has a part")
        return None
    pos = np.sort(rng.choice(len(eval_idx), size=min(n_images, len(eval_idx)), replace=False))
    rows = eval_idx[pos]
    names = [concept_names[j] for j in chosen]
    labels = None
    if all(nm in labels_by_name for nm in names):
        labels = np.stack([labels_by_name[nm][rows] for nm in names], axis=1)
    masks, parts = data.part_masks[rows], np.array([part_of[nm] for nm in names])
    pairs = located_pairs(masks, parts, labels)  # (n, len(chosen))
    maps = map_fn(data.image_source.to_array(rows), chosen, pairs)
    res = concept_location(maps, masks, parts, labels, concept_names=names)
    out = res.to_dict()
    out["n_images"] = len(rows)
    out["image_indices"] = rows
    out["energy"] = res.energy
    out["pointing"] = res.pointing
    return out


def _pick_examples(expl, n: int, rng: np.random.Generator) -> np.ndarray:
    if n == 0 or len(expl) == 0:
        return np.arange(0)
    return np.sort(rng.choice(len(expl), size=min(n, len(expl)), replace=False))


def _name(names: list[str] | None, c: Any) -> str:
    return names[int(c)] if names is not None else str(c)


def _examples(map_fn, expl, data, eval_idx, pred, s_eval, concept_names, n_examples, rng):
    """Up to ``n_examples`` evaluation images for the report: each with its true, predicted
    and surrogate class and its top concepts; the images; the maps of their first three
    concepts (None without maps); and those concepts' names."""
    ex_pos = _pick_examples(expl, n_examples, rng)
    examples, ex_images, ex_maps, ex_names = [], None, None, []
    n_show = min(3, len(concept_names))
    if len(ex_pos):
        ex_images = data.image_source.to_array(eval_idx[ex_pos])
        top_idx = expl.top_indices[ex_pos, :n_show]
        maps = map_fn(ex_images, top_idx) if map_fn is not None else None
        ex_maps = maps
        for r, i in enumerate(ex_pos):
            gi = int(eval_idx[i])
            examples.append(
                {
                    "index": gi,
                    "true": _name(data.class_names, data.labels[gi]),
                    "predicted": _name(data.class_names, pred[gi]),
                    "surrogate": _name(data.class_names, s_eval[i]),
                    "top": [(nm, float(v)) for nm, v in expl.top(int(i))],
                }
            )
            ex_names.append([concept_names[j] for j in top_idx[r]])
    return examples, ex_images, ex_maps, ex_names
