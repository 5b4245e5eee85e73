r"""Concept interventions under different policies: accuracy vs concepts intervened.

A user (or an oracle) corrects a CBM by setting some concept activations to their true
values (Koh et al. 2020). Which concepts to ask for first is a *policy*; each image gets
its own order of concepts, and the first :math:`m` of them are replaced, for
:math:`m = 0, 1, \ldots, k`.

Intervention values. With concept labels (ground truth), concept :math:`j` of an image
is set to :math:`\mu^{1}_j` if it is present, else :math:`\mu^{0}_j`: the mean training
activation of the training images with (without) the concept (the convention of
``benchmarks/cbm_world.py``). Without concept labels the value is class-conditional,
:math:`\mu_{j}(y)`: the mean training activation of concept :math:`j` over the training
images of the image's true class.

Policies (:math:`u_{ij}` uncertainty of concept :math:`j` on image :math:`i`, in (0, 1]):

* ``"random"``: a random order per image;
* ``"uncertainty"``: most uncertain first,
  :math:`u_{ij} = 1 / (1 + |a_{ij} - m_j| / g_j)` with :math:`m_j` the midpoint
  :math:`(\mu^1_j + \mu^0_j)/2` and :math:`g_j = |\mu^1_j - \mu^0_j|/2` (without concept
  labels: the training mean and standard deviation of the activation);
* ``"coop"``: cost-aware, after CooP (Chauhan et al. 2023, "Interactive concept
  bottleneck models", AAAI), which ranks concepts by a weighted sum of the concept's
  prediction uncertainty, its importance for the current label prediction and minus its
  acquisition cost:

  .. math::

      s_{ij} = \alpha\,u_{ij} + \beta\,\frac{|w_{\hat y_i j}|\,s_j}{\max_l |w_{\hat y_i l}|\,s_l}
      - \gamma\,\frac{\mathrm{cost}_j}{\max_l \mathrm{cost}_l},

  with :math:`\hat y_i` the model's prediction and :math:`s_j` the activation's training
  standard deviation. Simplification: the order is fixed from the initial prediction
  (CooP re-scores after every answer).

Protocols: ``"all"`` replaces each chosen concept (Koh et al. 2020); ``"corrections"``
replaces it only where the model got it wrong (its activation on the wrong side of the
midpoint :math:`m_j`), as an expert correcting a prediction would (the convention of
:func:`bottlekit.app.cbm_study.intervention_curve`; needs concept labels). The curves
report accuracy and the mean cumulative cost (of the concepts asked about) against
:math:`m`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bottlekit._arrays import as_real_array
from bottlekit._checks import check_choice, check_number, check_unused
from bottlekit.diagnostics.faithfulness._inputs import (
    binary_labels,
    check_embeddings,
    check_fitted_cbm,
    check_int_at_least,
    concept_label_columns,
    dataset_of,
    model_class_labels,
)

__all__ = ["POLICIES", "InterventionCurves", "intervention_curves"]

POLICIES = ("random", "uncertainty", "coop")
#: The ``"coop"`` score's (alpha, beta, gamma) when ``coop_weights`` is None.
DEFAULT_COOP_WEIGHTS = (1.0, 1.0, 1.0)


@dataclass
class InterventionCurves:
    """Accuracy after intervening on the first ``m`` concepts of each policy's order.

    Parameters
    ----------
    steps : list of int
        The numbers ``m`` of concepts intervened on (0: no intervention).
    accuracy : dict of str to list of float
        Per policy, accuracy at each step.
    cost : dict of str to list of float
        Per policy, mean cumulative cost per image at each step.
    values : str
        ``"ground truth"`` or ``"class-conditional"``.
    protocol : str
        ``"all"`` or ``"corrections"``.
    concept_names : list of str
        The concepts that can be intervened on.
    protocol : str, default "all"
        ``"all"`` or ``"corrections"``.
    notes : list of str, default []
        Remarks on the run (e.g. policies left out).

    Examples
    --------
    >>> c = InterventionCurves([0, 1], {"random": [0.7, 0.75]}, {"random": [0.0, 1.0]},
    ...                        "ground truth", ["red", "blue"])
    >>> c.to_dict()["accuracy"]
    {'random': [0.7, 0.75]}
    """

    steps: list[int]
    accuracy: dict[str, list[float]]
    cost: dict[str, list[float]]
    values: str
    concept_names: list[str]
    protocol: str = "all"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields.

        Returns
        -------
        dict
            Every field by its name (lists and dicts copied).
        """
        return {
            "steps": list(self.steps),
            "accuracy": {p: list(v) for p, v in self.accuracy.items()},
            "cost": {p: list(v) for p, v in self.cost.items()},
            "values": self.values,
            "protocol": self.protocol,
            "concept_names": list(self.concept_names),
            "notes": list(self.notes),
        }


def _check_costs(costs: Any, names: list[str], k: int) -> np.ndarray:
    if costs is None:
        return np.ones(k)
    if isinstance(costs, dict):
        unknown = sorted(set(costs) - set(names))
        if unknown:
            raise ValueError(f"costs: {unknown[:4]} are not concepts of the model")
        out = as_real_array([costs.get(c, 1.0) for c in names], "costs")
    else:
        out = as_real_array(costs, "costs")
        if out.shape != (k,):
            raise ValueError(
                f"costs: expected a dict {{concept: cost}} or {k} costs (one per concept of "
                f"the model), got shape {out.shape}"
            )
    if not np.isfinite(out).all() or (out <= 0).any():
        raise ValueError("costs: expected finite costs > 0")
    return out


def intervention_curves(
    model: Any,
    X_train: Any,
    train: Any,
    X_eval: Any,
    evaluation: Any,
    *,
    policies: Any = POLICIES,
    steps: Any = None,
    costs: Any = None,
    coop_weights: tuple[float, float, float] | None = None,
    protocol: str = "all",
    random_state: int = 0,
) -> InterventionCurves:
    r"""Accuracy vs number of intervened concepts, for each intervention policy.

    See the module docstring for the values and the policies.

    Parameters
    ----------
    model : fitted BaseConceptBottleneck
        A bottlekit CBM (e.g. :class:`~bottlekit.bottleneck.PosthocCBM`), or the concept
        surrogate of :func:`~bottlekit.diagnostics.audit`.
    X_train : array (n_train, d)
        Embeddings of ``train``'s images: where the intervention values come from.
    train : ConceptDataset
        Labels, and concept labels for ground-truth values.
    X_eval : array (n, d)
        Embeddings of ``evaluation``'s images: the images intervened on and scored.
    evaluation : ConceptDataset
        Ground-truth values when both datasets have concept labels for the model's
        concepts (matched by name), else class-conditional values.
    policies : list of str, default ("random", "uncertainty", "coop")
        Orders in which concepts are intervened on, one curve each (see the module
        docstring); a single str is one policy.
    steps : list of int, optional
        Numbers of intervened concepts (default 0, 1, 2, 4, ... and all).
    costs : dict or array of shape (k,), optional
        Cost of acquiring each concept (default 1 each).
    coop_weights : (alpha, beta, gamma) or None, default None
        Weights of uncertainty, importance and cost in the ``"coop"`` score; None means
        (1, 1, 1). Only with ``"coop"`` among ``policies`` (refused without it).
    protocol : {"all", "corrections"}, default "all"
        Replace every chosen concept, or only those the model got wrong (ground truth
        only).
    random_state : int, default 0
        Seed of the ``"random"`` policy's orders.

    Returns
    -------
    InterventionCurves
        ``steps`` and, per policy, the ``accuracy`` and mean cumulative ``cost`` at each
        step.

    Examples
    --------
    >>> import numpy as np
    >>> from bottlekit.bottleneck import PosthocCBM
    >>> from bottlekit.concepts import ConceptBank
    >>> from bottlekit.datasets import ConceptDataset
    >>> rng = np.random.default_rng(0)
    >>> C = rng.integers(0, 2, (400, 3)); y = 2 * C[:, 0] + C[:, 1]
    >>> X = C + 0.4 * rng.standard_normal((400, 3))
    >>> bank = ConceptBank(list("abc"), np.eye(3), "toy", provenance=[{"kind": "cav"}] * 3)
    >>> ds = ConceptDataset(np.zeros((400, 8, 8, 3), np.uint8), labels=y,
    ...                     concept_names=list("abc"), concept_labels=C)
    >>> cbm = PosthocCBM(bank, lam=1e-3, random_state=0).fit(X, y)
    >>> curves = intervention_curves(cbm, X, ds, X, ds)
    >>> curves.steps, curves.values
    ([0, 1, 2, 3], 'ground truth')
    >>> curves.accuracy["coop"][0] < 0.85, curves.accuracy["coop"][-1]   # all concepts true
    (True, 1.0)
    """
    model = check_fitted_cbm(model)
    tr, ev = dataset_of(train, "train"), dataset_of(evaluation, "evaluation")
    X_train = check_embeddings(model, X_train, tr, "X_train")
    X_eval = check_embeddings(model, X_eval, ev, "X_eval")
    if isinstance(policies, str):
        policies = [policies]
    policies = list(policies)
    bad = [p for p in policies if not isinstance(p, str) or p not in POLICIES]
    if bad or not policies:
        raise ValueError(f"policies: expected a non-empty list from {POLICIES}, got {policies}")
    if "coop" not in policies:
        check_unused(
            coop_weights, "coop_weights", f"with policies={policies} (it weighs the 'coop' "
            "score)", " or add 'coop' to policies",
        )  # fmt: skip
    if coop_weights is None:
        coop_weights = DEFAULT_COOP_WEIGHTS
    w = as_real_array(coop_weights, "coop_weights")
    if w.shape != (3,) or not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(
            f"coop_weights: expected three numbers >= 0 (alpha, beta, gamma), got {coop_weights!r}"
        )
    random_state = check_int_at_least(random_state, "random_state", 0)
    protocol = check_choice(
        protocol, ("all", "corrections"), "protocol", expected="'all' or 'corrections'"
    )
    names = list(model.concept_names_)
    K = len(names)
    cost_all = _check_costs(costs, names, K)
    notes: list[str] = []
    A_tr, A = model.transform(X_train), model.transform(X_eval)
    y_tr, y = np.asarray(tr.labels), np.asarray(ev.labels)
    n = len(A)

    m_tr, d_tr = concept_label_columns(model, tr, required=False)
    m_ev, d_ev = concept_label_columns(model, ev, required=False)
    shared = sorted(set(m_tr.tolist()) & set(m_ev.tolist()))
    if shared:
        values = "ground truth"
        cols = np.asarray(shared, dtype=np.int64)
        L_tr = binary_labels(tr.concept_labels[:, [d_tr[list(m_tr).index(j)] for j in cols]])
        L_ev = binary_labels(ev.concept_labels[:, [d_ev[list(m_ev).index(j)] for j in cols]])
        a = A_tr[:, cols]
        on = np.array(
            [
                a[L_tr[:, i] == 1, i].mean() if L_tr[:, i].any() else np.nan
                for i in range(len(cols))
            ]
        )
        off = np.array(
            [
                a[L_tr[:, i] == 0, i].mean() if (L_tr[:, i] == 0).any() else np.nan
                for i in range(len(cols))
            ]
        )
        missing = np.isnan(on) | np.isnan(off)
        if missing.any():
            notes.append(
                f"{int(missing.sum())} concepts are always or never present in train; their "
                "missing value is the overall training mean"
            )
            on = np.where(np.isnan(on), a.mean(0), on)
            off = np.where(np.isnan(off), a.mean(0), off)
        target = np.where(L_ev == 1, on, off)
        mid, gap = (on + off) / 2, np.abs(on - off) / 2
        wrong = (np.sign(on - off) * (A[:, cols] - mid) > 0) != (L_ev == 1)
        if len(cols) < K:
            notes.append(f"{K - len(cols)} concepts have no labels and are never intervened on")
    else:
        if protocol == "corrections":
            raise ValueError(
                "protocol: 'corrections' needs concept labels in train and evaluation (which "
                "concepts are wrong); these datasets have none for the model's concepts"
            )
        values = "class-conditional"
        cols = np.arange(K)
        classes = np.unique(y_tr)
        means = np.stack([A_tr[y_tr == c].mean(0) for c in classes])
        pos = np.searchsorted(classes, y)
        pos = np.clip(pos, 0, len(classes) - 1)
        unseen = classes[pos] != y
        if unseen.any():
            raise ValueError(
                f"evaluation.labels: classes {np.unique(y[unseen])[:3].tolist()} have no "
                "training images, so no class-conditional intervention values"
            )
        target = means[pos]
        mid, gap = A_tr.mean(0), A_tr.std(0)
        notes.append("no concept labels: class-conditional intervention values")
    gap = np.where(gap > 0, gap, 1.0)
    k = len(cols)
    unc = 1.0 / (1.0 + np.abs(A[:, cols] - mid) / gap)
    if steps is None:
        steps = sorted({0, k} | {2**i for i in range(k.bit_length()) if 2**i <= k})
    else:
        if np.ndim(steps) != 1:
            raise TypeError(f"steps: expected a list of numbers of concepts, got {steps!r}")
        steps = sorted({int(check_number(s, "steps", integer=True, low=0)) for s in steps})
        if not steps or steps[0] < 0 or steps[-1] > k:
            raise ValueError(f"steps: expected numbers of concepts in 0..{k}, got {steps}")

    rng = np.random.default_rng(random_state)
    pred = np.searchsorted(model.classes_, model.predict(X_eval))
    scale = np.where(model.concept_scale_ > 0, model.concept_scale_, 1.0)[cols]
    imp = np.abs(model.coef_[pred][:, cols]) * scale
    imp = imp / np.maximum(imp.max(1, keepdims=True), np.finfo(float).tiny)
    cost = cost_all[cols]
    orders = {}
    for p in policies:
        if p == "random":
            orders[p] = np.argsort(rng.random((n, k)), axis=1)
        elif p == "uncertainty":
            orders[p] = np.argsort(-unc, axis=1, kind="stable")
        else:
            score = w[0] * unc + w[1] * imp - w[2] * cost / cost.max()
            orders[p] = np.argsort(-score, axis=1, kind="stable")
    acc = {p: [] for p in policies}
    spent = {p: [] for p in policies}
    rows = np.arange(n)[:, None]
    y_model = model_class_labels(model, ev, "evaluation")
    for p, order in orders.items():
        for m in steps:
            V = np.full(A.shape, np.nan)
            chosen = order[:, :m]
            new = target[rows, chosen]
            if protocol == "corrections":
                new = np.where(wrong[rows, chosen], new, np.nan)
            V[rows, cols[chosen]] = new
            out = model.intervene(X_eval, V, scale="raw")
            acc[p].append(float(np.mean(out == y_model)))
            spent[p].append(float(cost[chosen].sum(1).mean()) if m else 0.0)
    return InterventionCurves(
        steps=list(steps),
        accuracy=acc,
        cost=spent,
        values=values,
        concept_names=[names[j] for j in cols],
        protocol=protocol,
        notes=notes,
    )
