"""The audit's existence section: are an evaluation image's top-k concepts drawn in it?"""

from __future__ import annotations

import numpy as np


def _existence(expl, concept_names, labels_by_name, eval_idx, top_k, notes, model, F_eval):
    r"""Existence precision of each evaluation image's top-k concepts.

    With every concept labelled this is
    :func:`bottlekit.diagnostics.existence.concept_existence` (precision@k of the concepts
    with the largest contributions to the predicted class, and its chance level, the mean
    fraction of concepts present). Otherwise the same is computed among the labelled
    concepts only (:math:`T_i` = the ``top_k`` labelled concepts of largest contribution),
    and a note says so.
    """
    from bottlekit.diagnostics.existence import concept_existence

    have = np.array([nm in labels_by_name for nm in concept_names])
    if not have.any():
        notes.append("existence: skipped, no concept labels for the audited concepts")
        return None
    cols = np.flatnonzero(have)
    L = np.stack([labels_by_name[concept_names[j]][eval_idx] for j in cols], axis=1)
    k = min(top_k, len(cols))
    if have.all():
        res = concept_existence(model, F_eval, L, k, label_names=concept_names)
        order, hits, out = res.top_indices, res.present.astype(np.float64), res.to_dict()
    else:
        notes.append(
            f"existence: {int((~have).sum())} concepts have no labels; precision@k is over the "
            "labelled concepts only"
        )
        order = np.argsort(-expl.contributions[:, cols], axis=1, kind="stable")[:, :k]
        hits = np.take_along_axis(L, order, axis=1).astype(np.float64)
        order = cols[order]
        out = {"top_k": int(k), "precision": float(hits.mean()), "chance": float(L.mean())}
        out["by_rank"] = hits.mean(0).tolist()
    col_of = {int(j): pos for pos, j in enumerate(cols)}
    per_concept = {}
    for j in np.unique(order):
        chosen = order == j
        per_concept[concept_names[int(j)]] = {
            "times_in_top": int(chosen.sum()),
            "precision": float(hits[chosen].mean()),
            "prevalence": float(L[:, col_of[int(j)]].mean()),
        }
    out.update(
        {
            "per_image": hits.mean(1),
            "per_concept": per_concept,
            "n_images": len(L),
            "n_labelled_concepts": len(cols),
        }
    )
    return out
