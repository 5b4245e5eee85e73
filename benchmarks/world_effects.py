"""The papers' effects on the built-in world, each measured on several fresh world seeds.

For each world seed (default 101, 102, 103: seeds no test uses) the splits are drawn
(train, val, test, shifted; val from the training distribution), embedded with the
chosen world model, and the six effects of issue 20 are measured with the study
functions of ``bottlekit.app.cbm_study`` (banks, models, pruning, interventions):

1. PCBM within 3 points of the linear probe (test accuracy; text and CAV banks);
2. PCBM-h closes >= 70 % of PCBM's gap to the probe;
3. pruning the background concepts (``edit_by_pruning``, the scene concepts among the
   ten most important) raises PCBM's shifted accuracy;
4. interventions with the true concept values (``intervention_curve``, corrections of
   every concept) raise test accuracy for PCBM, LaBo, LF-CBM and KnoBo (text bank);
5. LaBo beats the probe at 1 and 2 images per species (mean over ``--draws`` draws;
   LaBo early-stops on the val split, the probe's C is chosen on it);
6. KnoBo loses less accuracy than the probe from test to shifted (KnoBo grounded on the
   world's concept labels, text bank; KnoBo-pseudo on CLIP pseudo-labels, retrieved bank).

The probe's ``C`` is chosen on the val split (``tune_probe_C``), never on test or
shifted; every other head keeps the study's settings (PCBM ``lam = 1e-5``, library
defaults otherwise). Extra rows marked "lam on val" choose PCBM's ``lam`` (``LAM_GRID``)
and then PCBM-h's residual L2 (``RESIDUAL_L2_GRID``) on the val split, and intervene on
that PCBM. The per-seed diagnostics: the paired standard error of PCBM's gap, training
accuracies and a PCBM-h with a 300-epoch residual, how well the drawn background can be
read from the non-background concepts (CAV / text PCBM, KnoBo), the share of KnoBo's
global importance on the background concepts and KnoBo after pruning them.
Prints one markdown row per effect: the quantity on each seed, the mean, the target and
whether the mean meets it (for the shares: the mean gain over the mean gap, pooled over
the seeds, since a ratio of two small per-seed differences is noisy), then a second
table of the figures behind the rows and, per seed, the diagnostics of the misses.

    python benchmarks/world_effects.py [--model world-tiny] [--pretrained PATH]
        [--seeds 101 102 103] [--n-train 2400] [--n-val 1200] [--n-test 2400] [--draws 3]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from bottlekit.app.cbm_study import (
    PCBM_LAM,
    build_banks,
    edit_by_pruning,
    fit_models,
    intervention_curve,
    load_world_data,
    tune_probe_C,
)
from bottlekit.bottleneck import LaBo, PosthocCBM

#: Which banks each model of the study is fitted on.
PLAN = {
    "PCBM": ("text", "cav"),
    "PCBM-h": ("text", "cav"),
    "LaBo": ("text",),
    "LF-CBM": ("text",),
    "KnoBo": ("text",),
    "KnoBo-pseudo": ("retrieved",),
}
#: The four CBM families whose interventions are measured (text bank).
INTERVENED = ("PCBM", "LaBo", "LF-CBM", "KnoBo")
SHOTS = (1, 2)
#: PCBM's elastic-net strengths and PCBM-h's residual L2 searched on the val split.
LAM_GRID = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2)
RESIDUAL_L2_GRID = (0.0, 1e-4, 1e-3, 1e-2)
#: Epochs of the diagnostic PCBM-h whose residual is trained 15 times longer than the default.
LONG_EPOCHS = 300


@dataclass(frozen=True)
class Effect:
    """One row: a quantity measured per seed and the rule that says whether it is met."""

    key: str
    label: str
    unit: str
    target: str
    met: Callable[[float], bool]


def _at_most_3(v: float) -> bool:
    return v <= 3


def _at_least_70_percent(v: float) -> bool:
    return v >= 0.7


def _positive(v: float) -> bool:
    return v > 0


EFFECTS = [
    Effect("gap_text", "PCBM below the probe, text", "points", "<= 3", _at_most_3),
    Effect("gap_cav", "PCBM below the probe, CAV", "points", "<= 3", _at_most_3),
    Effect(
        "closed_text", "PCBM-h closes PCBM's gap, text", "share", ">= 0.70", _at_least_70_percent
    ),
    Effect(
        "closed_cav", "PCBM-h closes PCBM's gap, CAV", "share", ">= 0.70", _at_least_70_percent
    ),
    Effect("gap_text_val", "PCBM below the probe, text, lam on val", "points", "<= 3", _at_most_3),
    Effect("gap_cav_val", "PCBM below the probe, CAV, lam on val", "points", "<= 3", _at_most_3),
    Effect(
        "closed_text_val",
        "PCBM-h closes the gap, text, lam + residual L2 on val",
        "share",
        ">= 0.70",
        _at_least_70_percent,
    ),
    Effect(
        "closed_cav_val",
        "PCBM-h closes the gap, CAV, lam + residual L2 on val",
        "share",
        ">= 0.70",
        _at_least_70_percent,
    ),
    Effect("prune_text", "pruning backgrounds, PCBM text: shifted", "points", "> 0", _positive),
    Effect("prune_cav", "pruning backgrounds, PCBM CAV: shifted", "points", "> 0", _positive),
    *[
        Effect(f"interv_{m}", f"interventions (all k), {m} text: test", "points", "> 0", _positive)
        for m in INTERVENED
    ],
    Effect(
        "interv_PCBM_val",
        "interventions (all k), PCBM text, lam on val: test",
        "points",
        "> 0",
        _positive,
    ),
    *[
        Effect(f"shots_{k}", f"LaBo minus probe, {k} shot(s): test", "points", "> 0", _positive)
        for k in SHOTS
    ],
    Effect("drop_KnoBo", "probe's test->shifted loss minus KnoBo's", "points", "> 0", _positive),
    Effect(
        "drop_KnoBo-pseudo",
        "probe's test->shifted loss minus KnoBo-pseudo's",
        "points",
        "> 0",
        _positive,
    ),
]


def draw_shots(y: np.ndarray, n_shots: int, seed: int) -> np.ndarray:
    """Indices of ``n_shots`` images of every class of ``y``, drawn without replacement."""
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [rng.choice(np.flatnonzero(y == c), n_shots, replace=False) for c in np.unique(y)]
    )


def accuracy(model, data, split: str) -> float:
    """Share of the split's images that ``model`` classifies correctly."""
    return float(np.mean(model.predict(data.X[split]) == data.y[split]))


def paired_se(a, b, data, split: str = "test") -> float:
    """Standard error, in points, of the accuracy difference of two models on one split."""
    y = data.y[split]
    ra, rb = a.predict(data.X[split]) == y, b.predict(data.X[split]) == y
    d = ra.astype(float) - rb.astype(float)
    return float(100 * d.std(ddof=1) / np.sqrt(len(d)))


def scene_share(model, data) -> float:
    """Share of the head's global importance that falls on the background concepts."""
    imp = model.global_importance()
    scene = set(data.scene_concepts())
    mask = np.array([c in scene for c in model.concept_names_])
    return float(imp[mask].sum() / imp.sum())


def background_from_other_concepts(model, data) -> float:
    """Test accuracy of a logistic regression that reads the drawn background from the
    model's *other* (non-background) concept activations, trained on the train split:
    how much background is left after the background concepts are pruned (chance 0.2)."""
    names = data.concept_names
    scene = data.scene_concepts()
    keep = [j for j, c in enumerate(model.concept_names_) if c not in scene]
    cols = [names.index(c) for c in scene]

    def xy(split):
        world = data.worlds[split]
        return model.transform(data.X[split])[:, keep], world.concept_labels[:, cols].argmax(1)

    reader = LogisticRegression(max_iter=3000).fit(*xy("train"))
    return float(reader.score(*xy("test")))


def pcbm_on_val(data, bank, seed: int) -> dict:
    """PCBM with ``lam`` chosen on val, then PCBM-h with that ``lam`` and its residual's L2
    chosen on val; test accuracy of both."""
    fit = data.X["train"], data.y["train"]

    def best(make):
        models = [make(v) for v in (LAM_GRID if make is pcbm else RESIDUAL_L2_GRID)]
        scores = [accuracy(m.fit(*fit), data, "val") for m in models]
        return models[int(np.argmax(scores))]

    def pcbm(lam):
        return PosthocCBM(bank, lam=lam, random_state=seed)

    p = best(pcbm)
    h = best(
        lambda l2: PosthocCBM(bank, lam=p.lam, residual=True, residual_l2=l2, random_state=seed)
    )
    return {
        "lam": p.lam,
        "residual_l2": h.residual_l2,
        "pcbm": accuracy(p, data, "test"),
        "pcbm_h": accuracy(h, data, "test"),
        "model": p,
    }


def few_shot(data, bank, n_shots: int, draws: int, seed: int) -> tuple[float, float]:
    """Mean test accuracy of LaBo (early stopping on val) and of the probe (C on val)."""
    labo, probe = [], []
    X_val, y_val = data.X["val"], data.y["val"]
    for d in range(draws):
        idx = draw_shots(data.y["train"], n_shots, seed * 1000 + d)
        X, y = data.X["train"][idx], data.y["train"][idx]
        model = LaBo(bank, random_state=seed + d).fit(X, y, validation_data=(X_val, y_val))
        labo.append(model.score(data.X["test"], data.y["test"]))
        c = tune_probe_C(X, y, X_val, y_val)
        p = LogisticRegression(C=c, max_iter=3000).fit(X, y)
        probe.append(p.score(data.X["test"], data.y["test"]))
    return float(np.mean(labo)), float(np.mean(probe))


def measure_seed(args: argparse.Namespace, seed: int, log: Callable[[str], None]) -> dict:
    """Every effect's quantity on one world seed, and the figures behind them."""
    t0 = time.perf_counter()
    data = load_world_data(
        args.model, args.n_train, args.n_test, seed, pretrained=args.pretrained, n_val=args.n_val
    )
    C = tune_probe_C(data.X["train"], data.y["train"], data.X["val"], data.y["val"])
    banks = build_banks(data, seed=seed)
    log(f"seed {seed}: data and banks {time.perf_counter() - t0:.0f} s, probe C = {C:g}")
    results = fit_models(data, banks, list(PLAN), PLAN, seed, log=log, probe_C=C)
    by = {(r.name, r.bank): r for r in results}
    acc = {f"{r.name} {r.bank}": r.accuracy for r in results}
    probe = results[0].accuracy
    out: dict[str, float] = {}
    info: dict[str, object] = {"probe C": C, "accuracy": acc}
    for bank in ("text", "cav"):
        p = by["PCBM", bank].accuracy["test"]
        h = by["PCBM-h", bank].accuracy["test"]
        gap = probe["test"] - p
        out[f"gap_{bank}"] = 100 * gap
        info[f"gap se {bank}"] = paired_se(results[0].model, by["PCBM", bank].model, data)
        info[f"h gain {bank}"] = 100 * (h - p)
        info[f"background leak {bank}"] = background_from_other_concepts(
            by["PCBM", bank].model, data
        )
        out[f"closed_{bank}"] = (h - p) / gap if gap > 0 else float("nan")
        tuned = pcbm_on_val(data, banks[bank], seed)
        gap_val = probe["test"] - tuned["pcbm"]
        out[f"gap_{bank}_val"] = 100 * gap_val
        out[f"closed_{bank}_val"] = (
            (tuned["pcbm_h"] - tuned["pcbm"]) / gap_val if gap_val > 0 else float("nan")
        )
        info[f"tuned {bank}"] = tuned
        info[f"h gain {bank} val"] = 100 * (tuned["pcbm_h"] - tuned["pcbm"])
        edit = edit_by_pruning(by["PCBM", bank].model, data, top=10)
        out[f"prune_{bank}"] = 100 * (edit["after"]["shifted"] - edit["before"]["shifted"])
        info[f"pruned {bank}"] = edit["pruned"]
        info[f"pruned {bank} test"] = 100 * (edit["after"]["test"] - edit["before"]["test"])
    long = PosthocCBM(
        banks["text"], lam=PCBM_LAM, residual=True, residual_epochs=LONG_EPOCHS, random_state=seed
    ).fit(data.X["train"], data.y["train"])
    info["long residual"] = {s: accuracy(long, data, s) for s in ("train", "test")}
    info["train accuracy"] = {
        "probe": accuracy(results[0].model, data, "train"),
        "PCBM": accuracy(by["PCBM", "text"].model, data, "train"),
        "PCBM-h": accuracy(by["PCBM-h", "text"].model, data, "train"),
    }
    tuned_pcbm = info["tuned text"]["model"]
    for name in (*INTERVENED, "PCBM_val"):
        model = tuned_pcbm if name == "PCBM_val" else by[name, "text"].model
        n = len(model.concept_names_)
        curve = dict(intervention_curve(model, data, "test", steps=[0, 4, 16, n]))
        out[f"interv_{name}"] = 100 * (curve[n] - curve[0])
        info[f"interv {name}"] = curve
    for k in SHOTS:
        labo, pr = few_shot(data, banks["text"], k, args.draws, seed)
        out[f"shots_{k}"] = 100 * (labo - pr)
        info[f"shots {k}"] = (labo, pr)
    drop_probe = probe["test"] - probe["shifted"]
    for name, bank in (("KnoBo", "text"), ("KnoBo-pseudo", "retrieved")):
        a = by[name, bank].accuracy
        out[f"drop_{name}"] = 100 * (drop_probe - (a["test"] - a["shifted"]))
        model = by[name, bank].model
        edit = edit_by_pruning(model, data, top=10)
        info[f"knobo {name}"] = {
            "scene share": scene_share(model, data),
            "background leak": background_from_other_concepts(model, data),
            "pruned": len(edit["pruned"]),
            "pruned shifted": edit["after"]["shifted"],
            "pruned test": edit["after"]["test"],
        }
    info["knobo probe drop"] = 100 * drop_probe
    info["seconds"] = time.perf_counter() - t0
    log(f"seed {seed}: done in {info['seconds']:.0f} s")
    return {"effects": out, "info": info}


def fmt(value: float, unit: str) -> str:
    """A table cell: points with a sign, shares with two decimals, NaN as "no gap"."""
    if np.isnan(value):
        return "no gap"
    return f"{value:+.1f}" if unit == "points" else f"{value:.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="world-tiny", help="world model name")
    parser.add_argument(
        "--pretrained", default=None, help="weights file (default: the shipped weights)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[101, 102, 103])
    parser.add_argument("--n-train", type=int, default=2400)
    parser.add_argument("--n-val", type=int, default=1200)
    parser.add_argument("--n-test", type=int, default=2400)
    parser.add_argument("--draws", type=int, default=3, help="few-shot draws per seed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    print(f"$ python {' '.join(['benchmarks/world_effects.py', *sys.argv[1:]])}\n", flush=True)

    def log(line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)

    runs = {seed: measure_seed(args, seed, log) for seed in args.seeds}
    seeds = list(runs)
    print(
        f"## Paper effects: {args.model}"
        f"{' (' + args.pretrained + ')' if args.pretrained else ''}, world seeds "
        f"{', '.join(map(str, seeds))}; {args.n_train} train / {args.n_val} val / "
        f"{args.n_test} test / {args.n_test} shifted images\n"
    )
    print(f"| effect | unit | {' | '.join(f'seed {s}' for s in seeds)} | mean | target | |")
    print("|---" * (len(seeds) + 5) + "|")
    for e in EFFECTS:
        values = [runs[s]["effects"][e.key] for s in seeds]
        if e.unit == "share":  # pooled: mean gain over mean gap (a per-seed ratio is noisy)
            bank, val = e.key.split("_")[1], " val" if e.key.endswith("_val") else ""
            gain = np.mean([runs[s]["info"][f"h gain {bank}{val}"] for s in seeds])
            gap = np.mean([runs[s]["effects"][f"gap_{bank}{'_val' * bool(val)}"] for s in seeds])
            mean = float(gain / gap) if gap > 0 else float("nan")
        else:
            mean = float(np.mean(values))
        if np.isnan(mean):
            verdict = "n/a"
        else:
            verdict = "met" if e.met(mean) else "missed"
        cells = " | ".join(fmt(v, e.unit) for v in values)
        print(f"| {e.label} | {e.unit} | {cells} | {fmt(mean, e.unit)} | {e.target} | {verdict} |")

    print("\n## Figures behind the rows (test / shifted accuracy per seed)\n")
    names = list(runs[seeds[0]]["info"]["accuracy"])
    print(f"| model | {' | '.join(f'seed {s}' for s in seeds)} |")
    print("|---" * (len(seeds) + 1) + "|")
    for name in names:
        cells = " | ".join(
            "{test:.3f} / {shifted:.3f}".format(**runs[s]["info"]["accuracy"][name]) for s in seeds
        )
        print(f"| {name} | {cells} |")
    for s in seeds:
        info = runs[s]["info"]
        print(f"\nseed {s}: probe C = {info['probe C']:g} (on val); {info['seconds']:.0f} s")
        for bank in ("text", "cav"):
            print(
                f"  pruned ({bank}): {info[f'pruned {bank}']}, test "
                f"{info[f'pruned {bank} test']:+.1f} points"
            )
        for bank in ("text", "cav"):
            print(
                f"  PCBM {bank}: gap to the probe {runs[s]['effects'][f'gap_{bank}']:.1f} "
                f"± {info[f'gap se {bank}']:.1f} points (paired SE); background read from "
                f"the other concepts: {info[f'background leak {bank}']:.3f} (chance 0.2)"
            )
        tr, lg = info["train accuracy"], info["long residual"]
        print(
            f"  train accuracy: probe {tr['probe']:.3f}, PCBM text {tr['PCBM']:.3f}, PCBM-h text "
            f"{tr['PCBM-h']:.3f}; PCBM-h text with a {LONG_EPOCHS}-epoch residual: train "
            f"{lg['train']:.3f}, test {lg['test']:.3f}"
        )
        for name in ("KnoBo", "KnoBo-pseudo"):
            k = info[f"knobo {name}"]
            print(
                f"  {name}: background concepts hold {k['scene share']:.2f} of the global "
                f"importance; pruning the {k['pruned']} in its top 10: test {k['pruned test']:.3f}"
                f", shifted {k['pruned shifted']:.3f}; probe loses {info['knobo probe drop']:.1f}"
                f"; background read from its other concepts: {k['background leak']:.3f}"
            )
        for bank in ("text", "cav"):
            t = info[f"tuned {bank}"]
            print(
                f"  on val ({bank}): lam {t['lam']:g}, residual l2 {t['residual_l2']:g}: "
                f"PCBM {t['pcbm']:.3f}, PCBM-h {t['pcbm_h']:.3f} on test"
            )
        for name in (*INTERVENED, "PCBM_val"):
            curve = info[f"interv {name}"]
            print(
                f"  interventions {name}: " + ", ".join(f"k={k} {a:.3f}" for k, a in curve.items())
            )
        for k in SHOTS:
            labo, pr = info[f"shots {k}"]
            print(f"  {k} shot(s): LaBo {labo:.3f}, probe {pr:.3f}")


if __name__ == "__main__":
    main()
