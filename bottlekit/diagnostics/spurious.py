"""Spurious-looking concepts: reliance on concepts that are not attributes of the class."""

from __future__ import annotations

import numpy as np

from bottlekit._arrays import as_binary_array, as_real_array

__all__ = ["spurious_concept_scores"]


def spurious_concept_scores(
    importance_by_class: np.ndarray,
    attribute_rate: np.ndarray | None,
    context: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    r"""How much a model relies on each concept for classes it is *not* an attribute of.

    With the signed importance :math:`I_{cj}` of concept :math:`j` for class :math:`c`
    (the logit change of class :math:`c` for a one-standard-deviation increase of the
    concept's activation) and the *attribute rate* :math:`A_{cj} = P(\text{concept } j
    \text{ present} \mid y = c)` measured on labelled images,

    .. math::

        S_{cj} = \max(I_{cj}, 0)\,\bigl(1 - A_{cj}\bigr), \qquad
        S_j = \frac{1}{|\mathcal C|}\sum_{c\in\mathcal C} S_{cj},

    the positive reliance of class :math:`c` on concept :math:`j`, discounted by how often
    the concept really is drawn on class-:math:`c` images. *Context* concepts (e.g. the
    backgrounds: things that are never an attribute of a bird species, whatever the data
    say) have :math:`A_{cj} := 0`, so all their positive reliance counts. Classes whose
    attribute rates are unknown (NaN row: no labelled image of the class) are left out of
    :math:`\mathcal C`; a non-context concept without labels (NaN column) gets
    :math:`S_j` = NaN (cannot be assessed).

    The *spurious share* :math:`\sum_j S_j / \sum_j \frac{1}{|\mathcal C|}\sum_c
    \max(I_{cj}, 0)` in [0, 1] is the fraction of the model's positive concept reliance
    that goes to non-attributes (NaN scores count as 0).

    Parameters
    ----------
    importance_by_class : array of shape (C, k)
        :math:`I`, e.g. ``model.global_importance(by_class=True)``.
    attribute_rate : array of shape (C, k) or None
        :math:`A` (NaN where unknown); ``None``: unknown everywhere.
    context : bool array of shape (k,), optional
        Context concepts.

    Returns
    -------
    dict
        ``score`` (k,) :math:`S_j`; ``by_class`` (C, k) :math:`S_{cj}` (NaN for left-out
        classes); ``worst_class`` (k,) :math:`\arg\max_c S_{cj}` (-1 when NaN);
        ``share`` (float) the spurious share.

    Examples
    --------
    >>> I = np.array([[2.0, 1.0], [0.0, -1.0]])
    >>> A = np.array([[1.0, 0.5], [0.0, 0.0]])
    >>> spurious_concept_scores(I, A)["score"].tolist()
    [0.0, 0.25]
    """
    imp = as_real_array(importance_by_class, "importance_by_class")
    if imp.ndim != 2 or 0 in imp.shape or not np.isfinite(imp).all():
        raise ValueError(
            "importance_by_class: expected a finite (C, k) array with C, k >= 1, got shape "
            f"{imp.shape}" + (" holding NaN or inf" if imp.ndim == 2 and imp.size else "")
        )
    C, k = imp.shape
    A = (
        np.full((C, k), np.nan)
        if attribute_rate is None
        else as_real_array(attribute_rate, "attribute_rate")
    )
    if A.shape != (C, k):
        raise ValueError(f"attribute_rate: expected shape {(C, k)}, got {A.shape}")
    known = A[~np.isnan(A)]
    if ((known < 0) | (known > 1)).any():
        raise ValueError(
            "attribute_rate: expected rates in [0, 1] (NaN where unknown), got values in "
            f"[{known.min():g}, {known.max():g}]"
        )
    ctx = np.zeros(k, bool) if context is None else np.asarray(context)
    if ctx.shape != (k,):
        raise ValueError(f"context: expected a bool array of shape ({k},), got {ctx.shape}")
    ctx = as_binary_array(ctx, "context")
    A = np.where(ctx[None, :], 0.0, A)
    if attribute_rate is None or ctx.all():
        known_class = np.ones(C, bool)
    else:  # a class is known when some non-context concept has a rate for it
        known_class = ~np.isnan(A[:, ~ctx]).all(axis=1)
    rel = np.maximum(imp, 0.0)
    by_class = rel * (1.0 - A)
    by_class[~known_class] = np.nan
    if known_class.any():
        score = by_class[known_class].mean(0)
        total = rel[known_class].mean(0).sum()
    else:
        score = np.full(k, np.nan)
        total = 0.0
    filled = np.where(np.isnan(by_class), -np.inf, by_class)
    worst = np.where(np.isnan(score), -1, np.argmax(filled, axis=0))
    share = float(np.nansum(score) / total) if total > 0 else 0.0
    return {"score": score, "by_class": by_class, "worst_class": worst, "share": share}


# --------------------------------------------------------------------------- result
