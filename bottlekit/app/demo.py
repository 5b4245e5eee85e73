"""The demo behind ``bottlekit demo`` / ``make demo``: concept bottlenecks on the built-in world.

Offline, on the shipped ``world-tiny`` CLIP: it generates the world (train, test and the
background-shifted split), embeds the images through the on-disk cache, builds three
concept banks (CLIP text, concept activation vectors, concepts retrieved from the world's
field guide), fits a linear probe and the bottleneck models, prints their accuracy and
top concepts, edits Post-hoc CBM by pruning the scene concepts it relies on, and writes
a report folder (``index.html`` + PNG plots + ``results.json``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_demo"]

#: (model, bank) pairs the demo fits, in order.
DEMO_PLAN = {
    "PCBM": ("text", "cav"),
    "PCBM-h": ("text",),
    "LaBo": ("text",),
    "LF-CBM": ("text",),
    "KnoBo-pseudo": ("retrieved",),
}
N_EXAMPLE_CLASSES = 3
#: Test images at most whose concept contributions are plotted (fewer when n_test is smaller).
N_CONTRIBUTION_PLOTS = 3
#: Files of the report folder besides the contribution plots of the first test images.
REPORT_FILES = (
    "index.html",
    "results.json",
    "pcbm_concept_weights.png",
    "accuracy.png",
    "editing.png",
)


def report_files(n_test: int) -> list[str]:
    """The files the demo writes into its report folder: :data:`REPORT_FILES` and the
    contribution plots of the first (at most :data:`N_CONTRIBUTION_PLOTS`) test images."""
    n_shown = min(N_CONTRIBUTION_PLOTS, n_test)
    return [*REPORT_FILES, *(_contribution_plot(i) for i in range(n_shown))]


def _contribution_plot(i: int) -> str:
    """Name of the contribution plot of test image ``i`` in the report folder."""
    return f"pcbm_contributions_{i}.png"


def _remove_stale_plots(folder: Path, n_shown: int) -> None:
    """Remove the contribution plots an earlier run with more test images left in
    ``folder`` (only files under the demo's own names, :func:`_contribution_plot` of the
    images past ``n_shown``), so that the folder holds this run's report and nothing
    that looks like part of it."""
    for i in range(n_shown, N_CONTRIBUTION_PLOTS):
        path = folder / _contribution_plot(i)
        if path.is_symlink() or path.is_file():  # (a folder there is not the demo's)
            path.unlink(missing_ok=True)


def _say(quiet: bool, text: str = "") -> None:
    if not quiet:
        print(text, flush=True)


def _top_concepts(model: Any, cls: int, k: int = 3) -> list[str]:
    imp = model.global_importance(by_class=True)[cls]
    order = [j for j in np.argsort(-imp) if imp[j] > 0][:k]
    return [model.concept_names_[j] for j in order]


def _top_concept_rows(data, results) -> list[tuple[str, str, list[str]]]:
    """(species, model label, top concepts) for the first species, as printed."""
    return [
        (data.class_names[cls], f"{r.name} ({r.bank})", _top_concepts(r.model, cls))
        for cls in range(N_EXAMPLE_CLASSES)
        for r in results[1:]
    ]


def _top_concept_lines(rows: list[tuple[str, str, list[str]]]) -> list[str]:
    """The rows of :func:`_top_concept_rows` as printed: each species on its line, then
    its models with their concept lists starting in one column.

    >>> _top_concept_lines([("a", "PCBM (text)", ["x"]), ("a", "KnoBo-pseudo (retrieved)", [])])
    ['  a:', '    PCBM (text)               x', '    KnoBo-pseudo (retrieved)']
    """
    width = max((len(model) for _, model, _ in rows), default=0)
    lines, species = [], None
    for sp, model, names in rows:
        if sp != species:
            lines.append(f"  {sp}:")
            species = sp
        lines.append(f"    {model:<{width}}  {', '.join(names)}".rstrip())
    return lines


def _write_report(folder: Path, data, results, edit) -> Path:
    """Plots + results.json + index.html in ``folder`` (each file written atomically)."""
    import io

    from bottlekit.atomic import atomic_write_bytes, atomic_write_text
    from bottlekit.visualize.plots import (
        plot_concept_weights,
        plot_contributions,
        plot_metric_summary,
    )

    folder.mkdir(parents=True, exist_ok=True)
    figures: list[tuple[str, str]] = []

    def save(fig, name: str, caption: str) -> None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        atomic_write_bytes(folder / name, buf.getvalue())
        figures.append((name, caption))

    by = {(r.name, r.bank): r for r in results}
    pcbm = by["PCBM", "text"].model
    classes = data.class_names
    save(
        plot_concept_weights(pcbm, class_names=classes),
        "pcbm_concept_weights.png",
        "Post-hoc CBM (text concepts): class x concept weights.",
    )
    X, y = data.X["test"], data.y["test"]
    n_shown = min(N_CONTRIBUTION_PLOTS, len(y))  # (n_test may be smaller)
    e = pcbm.explain(X[:n_shown], top_k=8)
    for i in range(n_shown):
        save(
            plot_contributions(e, i, top_k=8, class_names=classes),
            _contribution_plot(i),
            f"Test image {i} (true species: {classes[y[i]]}): concept contributions.",
        )
    table = {
        f"{r.name} ({r.bank})": {"test": r.accuracy["test"], "shifted": r.accuracy["shifted"]}
        for r in results
    }
    save(plot_metric_summary(table, ylabel="accuracy"), "accuracy.png", "Accuracy per model.")
    edits = {
        "PCBM": edit["before"],
        "PCBM, scene concepts pruned": edit["after"],
    }
    save(
        plot_metric_summary(edits, ylabel="accuracy"),
        "editing.png",
        f"Pruning {', '.join(edit['pruned']) or 'nothing'} from PCBM.",
    )
    summary = {
        "models": [
            {
                "model": r.name,
                "bank": r.bank,
                "accuracy": r.accuracy,
                "nonzero_weights": r.nonzero,
                "concepts": r.n_concepts,
                "fit_seconds": round(r.fit_seconds, 2),
            }
            for r in results
        ],
        "editing": {k: v for k, v in edit.items() if k != "model"},
    }
    atomic_write_text(folder / "results.json", json.dumps(summary, indent=2))
    from bottlekit.visualize._text import html_text as e

    rows = "".join(
        f"<tr><td>{e(r.name)}</td><td>{e(r.bank)}</td>"
        f"<td>{r.accuracy['test']:.3f}</td><td>{r.accuracy['shifted']:.3f}</td>"
        f"<td>{r.nonzero}</td></tr>"
        for r in results
    )
    top_rows = "".join(
        f"<tr><td>{e(sp)}</td><td>{e(model)}</td><td style='text-align:left'>"
        f"{e(', '.join(names))}</td></tr>"
        for sp, model, names in _top_concept_rows(data, results)
    )

    def figure(name: str, caption: str) -> str:
        return (
            f'<figure><img src="{e(name)}" alt="{e(caption)}"><figcaption>{e(caption)}'
            "</figcaption></figure>"
        )

    by_name = dict(figures)
    explain_imgs = "".join(figure(n, c) for n, c in figures if n.startswith("pcbm_"))
    b, a = edit["before"], edit["after"]
    pruned = ", ".join(edit["pruned"]) or "nothing"
    n = {s: len(data.y[s]) for s in ("train", "test", "shifted")}
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>bottlekit demo</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
        "td,th{padding:2px 10px;text-align:right}img{max-width:100%}</style></head><body>"
        "<h1>bottlekit demo: concept bottlenecks on the built-in world</h1>"
        f"<p>The built-in world has {len(data.class_names)} bird species defined by visible "
        "part attributes (body, wing, head, tail and beak colours and patterns) drawn on "
        "one of five backgrounds. In the <b>train</b> and <b>test</b> splits each species "
        "is shown on its usual background 90% of the time, so the background is a shortcut; "
        "in the <b>shifted</b> split the background is independent of the species, so a "
        f"model that relies on it loses accuracy there. Images: {n['train']} train, "
        f"{n['test']} test, {n['shifted']} shifted, embedded with the shipped world-tiny "
        "CLIP. Every model but the probe predicts through a layer of named concepts.</p>"
        "<h2>Accuracy</h2>"
        "<table><tr><th>model</th><th>concepts</th><th>test</th><th>shifted</th>"
        f"<th>non-zero weights</th></tr>{rows}</table>"
        f"{figure('accuracy.png', by_name['accuracy.png'])}"
        "<h2>What each model relies on</h2>"
        "<p>The concepts with the largest positive importance (|weight| × spread of the "
        "concept's activation) for the first species:</p>"
        f"<table><tr><th>species</th><th>model</th><th style='text-align:left'>top concepts"
        f"</th></tr>{top_rows}</table>"
        f"{explain_imgs}"
        "<h2>Editing the model</h2>"
        "<p>Post-hoc CBM (text concepts) ranks its concepts by global importance; the scene "
        f"concepts among its ten most important ({e(pruned)}) are pruned, replacing each by "
        "its training mean, without any data from the shifted world. On the <b>shifted</b> "
        f"split accuracy goes from {b['shifted']:.3f} to {a['shifted']:.3f}: the model no "
        "longer follows the background. On the <b>test</b> split it goes from "
        f"{b['test']:.3f} to {a['test']:.3f}: there the background matches the species 90% "
        "of the time, so the shortcut was worth those points, and removing it costs "
        "them.</p>"
        f"{figure('editing.png', by_name['editing.png'])}"
        "<p>Every figure above, in numbers: <a href='results.json'>results.json</a>.</p>"
        "</body></html>"
    )
    atomic_write_text(folder / "index.html", page)
    _remove_stale_plots(folder, n_shown)
    return folder / "index.html"


def run_demo(
    n_train: int = 1200,
    n_test: int = 1200,
    out: str | Path | None = "bottlekit-demo-report",
    quiet: bool = False,
    seed: int = 0,
) -> int:
    """Run the demo, print its figures and write the report folder.

    Parameters
    ----------
    n_train, n_test : int
        Images generated for the training split (at least 24, one of each species) and
        for each evaluation split.
    out : str or Path or None, default "bottlekit-demo-report"
        Report folder (``index.html``, plots, ``results.json``); ``None`` writes nothing.
    quiet : bool, default False
        No progress output (the tables are still printed).
    seed : int, default 0
        World seed.

    Returns
    -------
    int
        Exit status (0).

    Examples
    --------
    >>> run_demo(n_train=480, n_test=480, out=None, quiet=True)  # doctest: +SKIP
    """
    import os

    from bottlekit._checks import check_bool, check_number
    from bottlekit.app.cbm_study import (
        build_banks,
        edit_by_pruning,
        fit_models,
        load_world_data,
    )
    from bottlekit.world.species import CLASS_NAMES

    n_species = len(CLASS_NAMES)  # make_world draws them in turn: n >= 24 draws each
    expected = f"an int >= {n_species} (an image of each of the world's {n_species} species)"
    check_number(n_train, "n_train", integer=True, low=n_species, expected=expected)
    check_number(n_test, "n_test", integer=True, low=1)
    check_number(seed, "seed", integer=True, low=0)
    check_bool(quiet, "quiet")
    if out is not None:
        from bottlekit.atomic import check_output_path

        if not isinstance(out, (str, os.PathLike)):
            raise TypeError(f"out: expected a folder path or None, got {out!r}"[:300])
        check_output_path(out, "out", is_dir=True, files=report_files(n_test))
    t0 = time.perf_counter()

    def step(text: str) -> None:
        _say(quiet, f"[{time.perf_counter() - t0:6.1f} s] {text}")

    step(f"world: {n_train} train, {n_test} test and {n_test} shifted images; embedding")
    data = load_world_data("world-tiny", n_train, n_test, seed, progress=not quiet)
    step(f"backbone {data.backbone.id}; building concept banks (text, CAV, retrieved)")
    banks = build_banks(data, seed=seed, progress=not quiet)
    for name, bank in banks.items():
        step(f"  {name} bank: {len(bank)} concepts, e.g. {bank.names[:3]}")
    step("fitting the linear probe and the bottleneck models")
    results = fit_models(data, banks, list(DEMO_PLAN), DEMO_PLAN, seed, log=step)

    print(f"\nAccuracy on the built-in world ({len(data.class_names)} species, chance 0.042)")
    print(f"  {'model':<14}{'concepts':<11}{'test':>7}{'shifted':>9}{'non-zero':>10}")
    for r in results:
        print(
            f"  {r.name:<14}{r.bank:<11}{r.accuracy['test']:>7.3f}{r.accuracy['shifted']:>9.3f}"
            f"{r.nonzero:>10}"
        )

    print("\nTop concepts (largest positive importance) for a few species")
    print("\n".join(_top_concept_lines(_top_concept_rows(data, results))))

    pcbm = next(r.model for r in results if (r.name, r.bank) == ("PCBM", "text"))
    edit = edit_by_pruning(pcbm, data, top=10)
    print("\nModel editing (Post-hoc CBM, text concepts), no data from the shifted world used")
    print(f"  most important concepts: {', '.join(edit['ranking'])}")
    print(f"  pruned scene concepts:   {', '.join(edit['pruned']) or '(none)'}")
    for s in ("test", "shifted"):
        b, a = edit["before"][s], edit["after"][s]
        print(f"  {s:<8} {b:.3f} -> {a:.3f}  ({100 * (a - b):+.1f} points)")

    if out is not None:
        page = _write_report(Path(out), data, results, edit)
        print(f"\nReport: {page} (open it in a browser)")
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0
