"""LaBo on the built-in world: accuracy, fit time and few-shot learning against a linear probe.

Two markdown tables with the shipped ``world-tiny`` CLIP, on world splits drawn with
``--seed`` (2,400 train, 1,200 val, 2,400 test, 2,400 shifted images):

1. full data: test and shifted accuracy and fit time of a logistic-regression probe on the
   raw embeddings (``C`` chosen on the val split from ``C_GRID``) and of
   ``bottlekit.bottleneck.LaBo`` on the world's 31 concepts (``from_text`` bank with the
   world's evaluation templates and the species' true attributes as class prior): prior only
   (0 epochs), trained with the default early stopping on the validation loss and on the
   validation accuracy, on 31 random concepts (no prior), and on banks reduced by
   submodular ``select`` (k=16, k=8, and 48 concepts chosen per class);
2. few-shot: for each number of shots, ``--draws`` random draws of that many train images
   per species (draw ``d`` uses seed ``--seed + d`` for the images and the models); mean and
   standard deviation of the test accuracy of LaBo prior only, LaBo trained 100 epochs
   without a validation set, LaBo with early stopping on the val split, the probe with
   ``C=1`` and the probe with ``C`` chosen on the val split.

A species' true attributes are the concepts with ``class_concept_matrix >= 0.5``. Warnings
(e.g. lbfgs not converging on a few images) are silenced. Embeddings go through
``bottlekit.embed`` (on-disk cache keyed by the backbone id).

``--model NAME --pretrained PATH`` runs it on another world model (e.g. a ``world-small``
training run's weights); the defaults are the shipped ``world-tiny``.

    python benchmarks/labo_world.py [--shots 1 2 4 8] [--draws 5] [--seed 0]
        [--model world-tiny] [--pretrained PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

import bottlekit
from bottlekit.bottleneck.labo import LaBo
from bottlekit.concepts import ConceptBank, from_text, select
from bottlekit.concepts.random_concepts import RandomConcepts
from bottlekit.world import make_world
from bottlekit.world.evaluate import CONCEPT_TEMPLATES

#: Images drawn for each world split.
SPLIT_SIZES = {"train": 2400, "val": 1200, "test": 2400, "shifted": 2400}
#: Inverse regularisation strengths searched (on the val split) for the linear probe.
C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)
PROBE_MAX_ITER = 2000
#: ``P(concept | species)`` at or above which a concept is a true attribute of a species.
TRUE_ATTRIBUTE_THRESHOLD = 0.5
#: Banks compared in the full-data table: ``select(bank, k=k, per_class=per_class)``.
SELECTIONS = ((16, False), (8, False), (48, True))
#: Few-shot columns: key -> table header.
FEW_SHOT_COLUMNS = {
    "prior": "LaBo prior only",
    "no_val": "LaBo 100 ep, no val",
    "val": "LaBo, val set",
    "probe_c1": "probe C=1",
    "probe_val": "probe, C on val",
}


@dataclass
class WorldData:
    """Embeddings and labels of every split, and the text concept bank with its prior."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    n_classes: int
    bank: ConceptBank
    model: str = "world-tiny"


def load_data(seed: int, model: str = "world-tiny", pretrained: str | None = None) -> WorldData:
    """Draw the world splits, embed them with ``model`` and build the concept bank."""
    backbone = bottlekit.load_backbone(model, pretrained, device="cpu")
    worlds = {
        split: make_world(n, split, random_state=seed, return_masks=False)
        for split, n in SPLIT_SIZES.items()
    }
    x = {split: bottlekit.embed(backbone, w.images, progress=False) for split, w in worlds.items()}
    y = {split: w.labels for split, w in worlds.items()}
    train = worlds["train"]
    prior = (train.class_concept_matrix >= TRUE_ATTRIBUTE_THRESHOLD).astype(float)
    bank = from_text(
        backbone,
        train.concept_names,
        CONCEPT_TEMPLATES,
        class_prior=prior,
        class_names=train.class_names,
    )
    return WorldData(x=x, y=y, n_classes=len(train.class_names), bank=bank, model=model)


def fit_probe(x: np.ndarray, y: np.ndarray, data: WorldData) -> tuple[LogisticRegression, float]:
    """Logistic regression on ``(x, y)`` with ``C`` from ``C_GRID`` maximising val accuracy."""

    def val_accuracy(c: float) -> float:
        model = LogisticRegression(C=c, max_iter=PROBE_MAX_ITER).fit(x, y)
        return model.score(data.x["val"], data.y["val"])

    best_c = max(C_GRID, key=val_accuracy)
    return LogisticRegression(C=best_c, max_iter=PROBE_MAX_ITER).fit(x, y), best_c


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """``fn(*args, **kwargs)`` and the wall-clock seconds it took."""
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - t0


def print_row(name: str, model: Any, data: WorldData, seconds: float) -> None:
    """One full-data table row: test and shifted accuracy, fit time."""
    test = model.score(data.x["test"], data.y["test"])
    shifted = model.score(data.x["shifted"], data.y["shifted"])
    print(f"| {name} | {test:.3f} | {shifted:.3f} | {seconds:.1f} |", flush=True)


def full_data_table(data: WorldData, seed: int) -> None:
    """Table 1: the probe and LaBo variants trained on the whole train split."""
    x, y = data.x["train"], data.y["train"]
    print(
        f"## Full data: {len(y):,} train (seed {seed}), {len(data.y['test']):,} test / "
        f"shifted, {data.model}\n"
    )
    print("| model | test | shifted | fit s |\n|---|---|---|---|")

    (probe, best_c), secs = timed(fit_probe, x, y, data)
    print_row(f"linear probe (C={best_c:g} on val)", probe, data, secs)

    model, secs = timed(LaBo(data.bank, max_epochs=0).fit, x, y)
    print_row("LaBo, prior only (0 epochs)", model, data, secs)

    for params in ({}, {"early_stopping_metric": "accuracy"}):
        model, secs = timed(LaBo(data.bank, random_state=seed, **params).fit, x, y)
        label = f"LaBo {params or 'defaults'} (best epoch {model.best_epoch_}/{model.n_iter_})"
        print_row(label, model, data, secs)

    n_concepts = len(data.bank)
    random_bank = RandomConcepts(n_concepts, random_state=seed)
    model, secs = timed(LaBo(random_bank, random_state=seed).fit, x, y)
    print_row(f"LaBo, {n_concepts} random concepts (no prior)", model, data, secs)

    for k, per_class in SELECTIONS:
        bank, select_secs = timed(
            select, data.bank, x, y, k=k, method="submodular", per_class=per_class
        )
        model, secs = timed(LaBo(bank, random_state=seed).fit, x, y)
        label = (
            f"LaBo on select(k={k}, per_class={per_class}) -> {len(bank)} concepts "
            f"(select {select_secs:.2f}s)"
        )
        print_row(label, model, data, secs)


def draw_shots(y: np.ndarray, n_shots: int, n_classes: int, seed: int) -> np.ndarray:
    """Indices of ``n_shots`` images of every class, drawn without replacement."""
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [rng.choice(np.flatnonzero(y == c), n_shots, replace=False) for c in range(n_classes)]
    )


def few_shot_accuracies(data: WorldData, n_shots: int, seed: int) -> dict[str, float]:
    """Test accuracy of every few-shot column on one draw of ``n_shots`` images per class."""
    idx = draw_shots(data.y["train"], n_shots, data.n_classes, seed)
    x, y = data.x["train"][idx], data.y["train"][idx]
    val = (data.x["val"], data.y["val"])
    no_val = LaBo(data.bank, max_epochs=100, validation_fraction=0.0, random_state=seed)
    models = {
        "prior": LaBo(data.bank, max_epochs=0).fit(x, y),
        "no_val": no_val.fit(x, y),
        "val": LaBo(data.bank, random_state=seed).fit(x, y, validation_data=val),
        "probe_c1": LogisticRegression(C=1.0, max_iter=PROBE_MAX_ITER).fit(x, y),
        "probe_val": fit_probe(x, y, data)[0],
    }
    return {key: model.score(data.x["test"], data.y["test"]) for key, model in models.items()}


def few_shot_table(data: WorldData, shots: list[int], n_draws: int, seed: int) -> None:
    """Table 2: mean ± std test accuracy over ``n_draws`` draws for each number of shots."""
    print(
        f"\n## Few-shot: n images per species ({data.n_classes} species), mean over "
        f"{n_draws} draws, {len(data.y['test']):,} test images\n"
    )
    print(f"| shots | {' | '.join(FEW_SHOT_COLUMNS.values())} |")
    print("|---" * (len(FEW_SHOT_COLUMNS) + 1) + "|")
    for n_shots in shots:
        scores: dict[str, list[float]] = {key: [] for key in FEW_SHOT_COLUMNS}
        for draw in range(n_draws):
            for key, acc in few_shot_accuracies(data, n_shots, seed + draw).items():
                scores[key].append(acc)
        cells = " | ".join(f"{np.mean(v):.3f} ± {np.std(v):.3f}" for v in scores.values())
        print(f"| {n_shots} | {cells} |", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--draws", type=int, default=5, help="few-shot draws per shot count")
    parser.add_argument("--seed", type=int, default=0, help="world, model and first draw seed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (shared machines)")
    parser.add_argument("--model", default="world-tiny", help="world model (backbone) name")
    parser.add_argument(
        "--pretrained", default=None, help="its weights file (default: the shipped weights)"
    )
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    print(f"$ python {' '.join(['benchmarks/labo_world.py', *sys.argv[1:]])}\n")

    data = load_data(args.seed, args.model, args.pretrained)
    full_data_table(data, args.seed)
    few_shot_table(data, args.shots, args.draws, args.seed)


if __name__ == "__main__":
    main()
