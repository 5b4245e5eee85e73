r"""The audit's HTML report: one self-contained file (inline CSS, plots as base64 PNG).

The report has one ``<section>`` per part of the audit, with stable ids (:data:`SECTION_IDS`):
``summary``, ``fidelity``, ``global-importance``, ``existence``, ``location``,
``spurious-concepts``, ``information`` and ``examples``. A part the audit could not compute
(no concept labels, no part masks) keeps its section, saying why. Every text from the data
(concept and class names, notes, the title) is HTML-escaped, with control and bidirectional
formatting characters shown as their escapes (``\u202e``), and lands only in element text
or quoted attribute values: no user text reaches a ``<script>``, ``<style>`` or URL. The
file references no external resource; its images are PNGs the library draws, as ``data:``
URIs. Tables of concepts show at most 20 rows (15 for the spurious concepts), names in
full; figures cut names to :data:`~bottlekit.visualize._text.MAX_FIGURE_CHARS` characters.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "SECTION_IDS",
    "figure_to_data_uri",
    "render_report",
]

SECTION_IDS: tuple[str, ...] = (
    "summary",
    "fidelity",
    "global-importance",
    "existence",
    "location",
    "spurious-concepts",
    "information",
    "examples",
)
"""The ``id`` of each section of the report, in order."""

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:0;
background:#f6f7f9;color:#1d2330}
header{background:#23324a;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:22px}header p{margin:4px 0 0;color:#c9d3e3;font-size:13px}
nav{padding:8px 32px;background:#e6eaf0;font-size:13px}nav a{margin-right:14px;color:#23324a}
main{padding:8px 32px 40px;max-width:1200px}
section{background:#fff;border:1px solid #dde2ea;border-radius:6px;margin:16px 0;
padding:12px 20px}
h2{font-size:18px;margin:6px 0 10px;color:#23324a}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border-bottom:1px solid #e3e7ee;padding:4px 10px;text-align:left}
th{background:#f0f3f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #dde2ea;border-radius:6px;padding:8px 14px;min-width:150px}
.card .v{font-size:22px;font-weight:600}.card .k{font-size:12px;color:#5b6578}
.flag{color:#b2182b;font-weight:600}.muted{color:#6b7486;font-size:13px}
img{max-width:100%;height:auto}figure{margin:8px 0}
.examples{display:flex;flex-wrap:wrap;gap:14px}.example{border:1px solid #e3e7ee;
border-radius:6px;padding:8px;max-width:540px}
"""


def figure_to_data_uri(fig: Any, dpi: int = 100) -> str:
    """A matplotlib figure as a ``data:image/png;base64,...`` URI (the figure is closed).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure, closed after it is drawn.
    dpi : int, default 100
        Resolution of the PNG.

    Returns
    -------
    str
        The URI, for an ``<img src=...>`` of a self-contained HTML page.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> fig = Figure(figsize=(1, 1))
    >>> uri = figure_to_data_uri(fig, dpi=20)
    >>> uri.startswith("data:image/png;base64,iVBORw0KGgo")
    True
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    try:
        import matplotlib.pyplot as plt

        plt.close(fig)
    except Exception:  # object-API figures are not in pyplot's registry
        pass
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _e(value: Any) -> str:
    """Text from the data, escaped for HTML (:func:`bottlekit.visualize._text.html_text`:
    lone surrogates, control and bidirectional formatting characters as their escapes)."""
    from bottlekit.visualize._text import html_text

    return html_text(value)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "–" if not np.isfinite(value) else f"{float(value):.{digits}f}"
    return _e(value)


def _table(header: list[str], rows: list[list[Any]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            cls = ' class="num"' if i in numeric else ""
            cells.append(f"<td{cls}>{_fmt(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure(fig: Any, alt: str) -> str:
    return f'<figure><img alt="{_e(alt)}" src="{figure_to_data_uri(fig)}"></figure>'


def _card(key: str, value: Any) -> str:
    return (
        f'<div class="card"><div class="v">{_fmt(value)}</div><div class="k">{_e(key)}</div></div>'
    )


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{_e(title)}</h2>{body}</section>'


def _skipped(result: Any, what: str) -> str:
    why = [n for n in result.notes if n.startswith(what)]
    text = "; ".join(why) if why else f"{what}: not computed"
    return f'<p class="muted">{_e(text)}</p>'


# -------------------------------------------------------------------------- figures
def _bar_figure(labels: list[str], values: list[float], flags: list[bool], xlabel: str):
    from matplotlib.figure import Figure

    from bottlekit.visualize._text import plain_text
    from bottlekit.visualize.plots import NEUTRAL_COLOR, POSITIVE_COLOR

    fig = Figure(figsize=(6.4, 0.6 + 0.26 * len(labels)), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(labels))[::-1]
    colors = [POSITIVE_COLOR if f else NEUTRAL_COLOR for f in flags]
    ax.barh(y, values, color=colors, height=0.7)
    ax.set_yticks(y, [plain_text(t) for t in labels], fontsize=8)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    return fig


def _importance_figure(result: Any, n: int = 15):
    rows = result.importance_table()[:n]
    fig = _bar_figure(
        [r["concept"] for r in rows],
        [r["importance"] for r in rows],
        [r["context"] for r in rows],
        "global importance: mean over classes of |w_cj| * std(a_j)",
    )
    fig.axes[0].set_title("most important concepts (red: context concepts)", fontsize=10)
    return fig


def _spurious_figure(result: Any, n: int = 10):
    rows = [r for r in result.spurious if r["score"] > 0][:n]
    if not rows:
        return None
    fig = _bar_figure(
        [r["concept"] for r in rows],
        [r["score"] for r in rows],
        [r["context"] for r in rows],
        "spurious score S_j (reliance on non-attributes)",
    )
    fig.axes[0].set_title("most spurious-looking concepts (red: context)", fontsize=10)
    return fig


def _example_figure(result: Any, r: int):
    from bottlekit.visualize.plots import plot_activation_maps

    ex = result.examples[r]
    names = result.example_map_concepts[r]
    fig = plot_activation_maps(
        result.example_images[r : r + 1],
        result.example_maps[r : r + 1],
        names,
        image_titles=[f"true {ex['true']}"],
        cell_size=1.5,
    )
    return fig


# -------------------------------------------------------------------------- sections
def _summary(result: Any) -> str:
    f = result.fidelity
    cards = [
        _card("fidelity (agreement with the model)", f["agreement"]),
        _card("model accuracy", f["model_accuracy"]),
        _card("surrogate accuracy", f["surrogate_accuracy"]),
        _card("spurious share of reliance", result.spurious_share),
    ]
    if result.existence is not None:
        cards.append(
            _card(
                f"existence precision@{result.existence['top_k']}", result.existence["precision"]
            )
        )
    if result.location is not None:
        cards.append(_card("location: pointing game", result.location["pointing_accuracy"]))
    top = result.top_spurious(5)
    flagged = (
        "<p>Most spurious-looking concepts: "
        + ", ".join(f'<span class="flag">{_e(c)}</span>' for c in top)
        + "</p>"
        if top
        else "<p>No concept with a positive spurious score.</p>"
    )
    what = (
        "a concept-bottleneck model audited on its own concepts"
        if f.get("exact")
        else f"a {_e(result.model_kind)} classifier explained by a post-hoc concept surrogate "
        f"fitted to its predictions in its {_e(result.space)} space"
    )
    notes = "".join(f"<li>{_e(n)}</li>" for n in result.notes)
    notes_html = f'<p class="muted">Notes:</p><ul class="muted">{notes}</ul>' if notes else ""
    body = (
        f"<p>Audit of {what}: {len(result.concept_names)} concepts, "
        f"{len(result.class_names)} classes, {f['n_fit']} fit / {f['n_eval']} evaluation "
        f'images.</p><div class="cards">{"".join(cards)}</div>{flagged}{notes_html}'
    )
    return _section("summary", "Summary", body)


def _fidelity(result: Any) -> str:
    from bottlekit.visualize.plots import plot_metric_summary

    f = result.fidelity
    table = _table(
        ["measure", "value"],
        [
            ["agreement of surrogate and model (fidelity)", f["agreement"]],
            ["model accuracy vs labels", f["model_accuracy"]],
            ["surrogate accuracy vs labels", f["surrogate_accuracy"]],
            ["fit images", f["n_fit"]],
            ["evaluation images", f["n_eval"]],
            ["classes the model predicts", f.get("n_model_classes_predicted")],
        ],
        numeric={1},
    )
    fig = plot_metric_summary(
        {
            "model": {"accuracy": f["model_accuracy"]},
            "surrogate": {"accuracy": f["surrogate_accuracy"], "fidelity": f["agreement"]},
        },
        ylabel="fraction of evaluation images",
        title="fidelity and accuracy",
    )
    text = (
        "<p>Fidelity is the fraction of held-out images on which the concept surrogate "
        "predicts what the model predicts; the explanations below are only as trustworthy "
        "as this number.</p>"
    )
    return _section("fidelity", "Fidelity", text + table + _figure(fig, "fidelity"))


def _importance(result: Any) -> str:
    rows = result.importance_table()[:20]
    table = _table(
        ["concept", "importance", "class relying most", "its importance", "context"],
        [
            [
                r["concept"],
                r["importance"],
                r["top_class"],
                r["top_class_importance"],
                r["context"],
            ]
            for r in rows
        ],
        numeric={1, 3},
    )
    agree = result.importance_agreement
    text = (
        "<p>Importance I<sub>cj</sub> = w<sub>cj</sub> &middot; std(a<sub>j</sub>): the change "
        "of class c's logit for a one-standard-deviation change of concept j in the "
        "surrogate's head.</p>"
    )
    if agree is not None:
        text += (
            "<p>Agreement of each class's importances with P(concept | class) in the data "
            f"(mean Pearson correlation over classes): {_fmt(agree['mean_correlation'])}.</p>"
        )
    body = text + _figure(_importance_figure(result), "global importance") + table
    model = result.concept_model
    if model is not None and hasattr(model, "coef_"):
        from bottlekit.visualize.plots import plot_concept_weights
        from bottlekit.visualize.weight_plot import MAX_WEIGHT_ROWS

        rows, note = None, ""
        all_classes = list(np.asarray(model.classes_).tolist())
        if len(all_classes) > MAX_WEIGHT_ROWS:  # the heat map draws at most this many
            strongest = np.abs(np.asarray(model.coef_, dtype=np.float64)).max(1)
            keep = np.sort(np.argsort(-strongest, kind="stable")[:MAX_WEIGHT_ROWS])
            rows = [all_classes[i] for i in keep]
            note = (
                f'<p class="muted">Concept weights of the {MAX_WEIGHT_ROWS} classes (of '
                f"{len(all_classes)}) with the largest weights.</p>"
            )
        fig = plot_concept_weights(
            model,
            top_k=min(15, len(result.concept_names)),
            classes=rows,
            class_names=result.class_names,
        )
        body += note + _figure(fig, "concept weights")
    return _section("global-importance", "Global importance", body)


def _existence(result: Any) -> str:
    ex = result.existence
    if ex is None:
        return _section("existence", "Concept existence", _skipped(result, "existence"))
    rows = sorted(ex["per_concept"].items(), key=lambda kv: -kv[1]["times_in_top"])[:20]
    table = _table(
        ["concept", "times in top-k", "present when in top-k", "prevalence"],
        [[nm, d["times_in_top"], d["precision"], d["prevalence"]] for nm, d in rows],
        numeric={1, 2, 3},
    )
    text = (
        f"<p>Precision@{ex['top_k']}: {_fmt(ex['precision'])} of each image's top-"
        f"{ex['top_k']} concepts (by contribution to the predicted class) are present in it; "
        f"chance (random concepts): {_fmt(ex['chance'])}. {ex['n_images']} images.</p>"
    )
    return _section("existence", "Concept existence", text + table)


def _location(result: Any) -> str:
    loc = result.location
    if loc is None:
        return _section("location", "Concept location", _skipped(result, "location"))
    rows = list(loc.get("per_concept", {}).items())
    table = _table(
        ["concept", "scored maps", "pointing game", "energy on its part", "part area (chance)"],
        [[nm, d["n"], d["pointing"], d["energy"], d["area"]] for nm, d in rows],
        numeric={1, 2, 3, 4},
    )
    text = (
        "<p>Activation maps of the most important and the most spurious-looking concepts on "
        f"{loc['n_images']} evaluation images (maps: {_e(result.settings.get('map_method'))}), "
        "scored against the part mask of each concept where the concept is present: the "
        "pointing game (the map's maximum lies on the part) "
        f"{_fmt(loc['pointing_accuracy'])}, the share of positive map mass on the part "
        f"{_fmt(loc['mean_energy'])}; a uniform map scores the part's area, "
        f"{_fmt(loc['uniform_expectation'])}. {loc['n_pairs']} scored (image, concept) pairs."
        "</p>"
    )
    return _section("location", "Concept location", text + table)


def _spurious(result: Any) -> str:
    rows = result.spurious[:15]
    if not rows:
        return _section(
            "spurious-concepts", "Most spurious-looking concepts", _skipped(result, "spurious")
        )
    table = _table(
        [
            "concept",
            "spurious score",
            "importance",
            "worst class",
            "its importance",
            "P(concept | worst class)",
            "context",
        ],
        [
            [
                r["concept"],
                r["score"],
                r["importance"],
                r["worst_class"],
                r["worst_class_importance"],
                r["attribute_rate"],
                r["context"],
            ]
            for r in rows
        ],
        numeric={1, 2, 4, 5},
    )
    text = (
        "<p>Score S<sub>j</sub> = mean over classes c of max(I<sub>cj</sub>, 0) &middot; "
        "(1 &minus; P(concept j | class c)): how much a class's logit rises with a concept that "
        "is rarely drawn on that class. Context concepts (e.g. backgrounds) are never "
        "attributes (P := 0). Spurious share of all positive reliance: "
        f"{_fmt(result.spurious_share)}.</p>"
    )
    fig = _spurious_figure(result)
    body = text + (_figure(fig, "spurious concepts") if fig is not None else "") + table
    return _section("spurious-concepts", "Most spurious-looking concepts", body)


def _examples(result: Any) -> str:
    if not result.examples:
        return _section("examples", "Per-image examples", '<p class="muted">No examples.</p>')
    parts = []
    for r, ex in enumerate(result.examples):
        head = (
            f"<p><b>image {ex['index']}</b>: true {_e(ex['true'])}, model "
            f"{_e(ex['predicted'])}, surrogate {_e(ex['surrogate'])}</p>"
        )
        contrib = _table(
            ["concept", "contribution"], [[nm, v] for nm, v in ex["top"]], numeric={1}
        )
        fig = ""
        if result.example_maps is not None and result.example_images is not None:
            fig = _figure(_example_figure(result, r), f"activation maps of image {ex['index']}")
        parts.append(f'<div class="example">{head}{fig}{contrib}</div>')
    text = (
        "<p>Evaluation images with the activation maps of their top concepts (by contribution "
        "to the predicted class).</p>"
    )
    return _section(
        "examples", "Per-image examples", text + f'<div class="examples">{"".join(parts)}</div>'
    )


def _information_mi_figure(names: list[str], rows: list[dict[str, Any]], n: int = 20):
    from matplotlib.figure import Figure

    from bottlekit.visualize._text import plain_text
    from bottlekit.visualize.plots import NEUTRAL_COLOR, POSITIVE_COLOR

    names, rows = names[:n], rows[:n]
    fig = Figure(figsize=(6.4, 0.8 + 0.28 * len(names)), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(names))[::-1]
    concept = [
        np.nan_to_num(r["with_concept"] if r["with_concept"] is not None else np.nan) for r in rows
    ]
    label = [
        np.nan_to_num(r["with_label"] if r["with_label"] is not None else np.nan) for r in rows
    ]
    ax.barh(y + 0.18, concept, height=0.36, color=NEUTRAL_COLOR, label="I(a_j; c_j)")
    ax.barh(y - 0.18, label, height=0.36, color=POSITIVE_COLOR, label="I(a_j; Y)")
    ax.set_yticks(y, [plain_text(t) for t in names], fontsize=8)
    ax.set_xlabel("nats", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    ax.legend(fontsize=8)
    ax.set_title("information of each concept activation", fontsize=10)
    return fig


def _curves_figure(x_by: dict[str, list[float]], y_by: dict[str, list[float]], xlabel, title):
    from matplotlib.figure import Figure

    from bottlekit.visualize._text import plain_text
    from bottlekit.visualize.plots import CATEGORY_COLORS

    fig = Figure(figsize=(5.2, 3.4), layout="constrained")
    ax = fig.add_subplot()
    for i, (name, ys) in enumerate(y_by.items()):
        color = CATEGORY_COLORS[i % len(CATEGORY_COLORS)]
        ax.plot(x_by[name], ys, marker="o", color=color, label=plain_text(name))
    xs = sorted({float(x) for values in x_by.values() for x in values})
    if len(xs) <= 12:
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel("accuracy", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    return fig


def _information(result: Any) -> str:
    info = getattr(result, "information", None)
    if not info:
        return _section(
            "information", "Information and faithfulness", _skipped(result, "information")
        )
    parts = []
    leak, comp, nec, iv = info["leakage"], info["completeness"], info["nec"], info["interventions"]
    ci = info["concept_information"]
    cards = []
    if leak is not None:
        if leak["method"] == "ksg":
            cards.append(_card("leakage I(\u0108; Y | C), k-NN, nats", leak["total"]))
        if leak.get("classifier_total") is not None:
            cards.append(_card("leakage, classifier form, nats", leak["classifier_total"]))
            cards.append(_card("its ceiling H(Y | C), nats", leak["entropy_given_concepts"]))
    if comp is not None:
        cards.append(_card("completeness \u03b7 (Yeh et al. 2020)", comp["completeness"]))
        cards.append(_card("\u03b7 of random directions", comp["random_completeness"]))
    if nec is not None and 5 in nec["levels"]:
        at5 = nec["accuracy"]["evaluation"][nec["levels"].index(5)]
        cards.append(_card("accuracy at NEC = 5", at5))
    parts.append(f'<div class="cards">{"".join(cards)}</div>')
    text = (
        "<p>Measured on the evaluation images. <b>Leakage</b> I(Ĉ; Y | C): label "
        "information the concept activations carry beyond the true concepts (Mahinpei et "
        "al. 2021; Havasi et al. 2022)"
    )
    if leak is not None and leak["method"] == "ksg":
        text += (
            ", k-NN conditional mutual information with the true concepts entering by "
            f"{_e(leak['conditioning'])} ({leak['n_patterns']} concept patterns), and the "
            "classifier form H(Y | C) &minus; H(Y | C, \u0108)"
        )
    elif leak is not None:
        text += (
            ", the classifier form H(Y | C) &minus; H(Y | C, \u0108) from cross-validated "
            f"log-losses (the {leak['n_patterns']} concept patterns repeat too rarely to "
            "condition a k-NN estimate on them)"
        )
    text += (
        ". <b>Completeness</b> η = (accuracy from the concepts &minus; chance) / "
        "(accuracy of a probe on the features &minus; chance), next to random directions. "
        "<b>NEC</b>: accuracy of the head truncated to a number of effective concepts "
        "(VLG-CBM, Srivastava et al. 2024). <b>Interventions</b>: accuracy after setting "
        "the first m concepts of each policy's order to "
        f"{_e(iv['values'] if iv else 'their true')} values.</p>"
    )
    parts.append(text)
    rows_ci = {} if ci is None else ci["per_concept"]
    per_leak = (leak or {}).get("per_concept", {})
    order = sorted(rows_ci, key=lambda c: -(rows_ci[c]["with_label"] or 0.0))
    if order:
        fig = _information_mi_figure(order, [rows_ci[c] for c in order])
        parts.append(_figure(fig, "information"))
    if iv is not None:
        fig = _curves_figure(
            {p: iv["steps"] for p in iv["accuracy"]},
            iv["accuracy"],
            "concepts intervened on",
            "intervention policies",
        )
        parts.append(_figure(fig, "intervention curves"))
    if nec is not None:
        fig = _curves_figure(
            {"truncated head": nec["levels"]},
            {"truncated head": nec["accuracy"]["evaluation"]},
            "number of effective concepts (NEC)",
            "accuracy at a controlled NEC",
        )
        parts.append(_figure(fig, "accuracy at NEC"))
    if order:
        table = _table(
            ["concept", "I(a; c)", "H(c)", "I(a; Y)", "leakage I(a; Y | c)"],
            [
                [
                    c,
                    rows_ci[c]["with_concept"],
                    rows_ci[c]["concept_entropy"],
                    rows_ci[c]["with_label"],
                    per_leak.get(c),
                ]
                for c in order[:20]
            ],
            numeric={1, 2, 3, 4},
        )
        parts.append(table)
    return _section("information", "Information and faithfulness", "".join(parts))


#: The fields of an AuditResult the report reads.
_RESULT_FIELDS = (
    "model_kind",
    "fidelity",
    "importance_agreement",
    "importance_table",
    "existence",
    "location",
    "spurious",
    "concept_names",
    "class_names",
    "settings",
    "notes",
    "examples",
    "example_images",
    "example_maps",
    "example_map_concepts",
)


#: The keys the report reads of each dict field of an AuditResult (a field that may be
#: None, ``importance_agreement``, ``existence``, ``location``, ``information``, is
#: checked only when given). Keys read with ``.get`` (``fidelity["exact"]``,
#: ``location["per_concept"]``, ...) are optional and not listed.
_FIELD_KEYS: dict[str, tuple[str, ...]] = {
    "fidelity": ("agreement", "model_accuracy", "surrogate_accuracy", "n_fit", "n_eval"),
    "importance_agreement": ("mean_correlation",),
    "existence": ("top_k", "precision", "chance", "n_images", "per_concept"),
    "location": ("pointing_accuracy", "mean_energy", "uniform_expectation", "n_pairs", "n_images"),
    "information": ("concept_information", "leakage", "completeness", "nec", "interventions"),
}

#: The keys the report reads of each row (dict) of a list field, or of each value of a
#: per-concept dict.
_ROW_KEYS: dict[str, tuple[str, ...]] = {
    "spurious": (
        "concept",
        "score",
        "importance",
        "worst_class",
        "worst_class_importance",
        "attribute_rate",
        "context",
    ),
    "examples": ("index", "true", "predicted", "surrogate", "top"),
    "existence['per_concept']": ("times_in_top", "precision", "prevalence"),
    "location['per_concept']": ("n", "pointing", "energy", "area"),
    "information['concept_information']['per_concept']": (
        "with_concept",
        "concept_entropy",
        "with_label",
    ),
}

#: The keys the report reads of each (non-None) part of ``information``; of ``leakage``
#: also ``total`` and ``conditioning`` when its method is ``"ksg"``, and
#: ``entropy_given_concepts`` beside a ``classifier_total``.
_INFORMATION_KEYS: dict[str, tuple[str, ...]] = {
    "concept_information": ("per_concept",),
    "leakage": ("method", "n_patterns"),
    "completeness": ("completeness", "random_completeness"),
    "nec": ("levels", "accuracy"),
    "interventions": ("steps", "accuracy", "values"),
}

#: The keys :meth:`AuditResult.top_spurious` reads of each row of ``spurious``.
_RANKING_KEYS = ("concept", "score")


def _quoted(keys: Any, most: int = 8) -> str:
    keys = [str(k) for k in keys]
    shown = ", ".join(repr(k) for k in keys[:most])
    return shown + (f" and {len(keys) - most} more" if len(keys) > most else "")


def _need_keys(value: Any, where: str, keys: tuple[str, ...]) -> None:
    """Raise unless ``value`` is a dict holding every one of ``keys``."""
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{where}: expected a dict with keys {_quoted(keys)}, got {type(value).__name__}"
        )
    missing = [k for k in keys if k not in value]
    if missing:
        s = "s" if len(missing) > 1 else ""
        got = f"got keys {_quoted(value)}" if value else "got an empty dict"
        raise ValueError(
            f"{where}: missing key{s} {_quoted(missing)} ({got}; the report reads "
            f"{_quoted(keys)}, as an AuditResult from audit() has them)"
        )


def _need_rows(rows: Any, where: str, keys: tuple[str, ...]) -> None:
    """Raise unless ``rows`` is a list (or tuple) of dicts holding every one of ``keys``."""
    if not isinstance(rows, (list, tuple)):
        raise TypeError(f"{where}: expected a list of dicts, got {type(rows).__name__}")
    for i, row in enumerate(rows):
        _need_keys(row, f"{where}[{i}]", keys)


def _need_per_concept(table: Any, where: str) -> None:
    """Raise unless ``table`` (``result.`` + ``where``) is a dict of concept name → dict
    holding the keys ``_ROW_KEYS[where]``."""
    if not isinstance(table, Mapping):
        raise TypeError(
            f"result.{where}: expected a dict of concept name to dict, got {type(table).__name__}"
        )
    for name, row in table.items():
        _need_keys(row, f"result.{where}[{name!r}]", _ROW_KEYS[where])


def _check_result_keys(result: Any, *, report: bool = True) -> None:
    """Raise a clear error where a (hand-built) AuditResult lacks a key that is read.

    The one place that knows the keys the report (:func:`render_report`) and
    :meth:`AuditResult.top_spurious` read; it runs before anything is drawn or written,
    so a missing key is named as ``result.FIELD`` and never surfaces as a bare
    ``KeyError`` from inside a section.

    Parameters
    ----------
    result : AuditResult
    report : bool, default True
        Check everything the report reads; False checks only what ``top_spurious`` reads
        (each ``spurious`` row's ``concept`` and ``score``).

    Raises
    ------
    TypeError
        A field is not a dict (or a list of dicts) where the report indexes it.
    ValueError
        A dict lacks a key that is read; the message names the field, the missing keys,
        the keys it has and the keys that are read.
    """
    if not report:
        _need_rows(result.spurious, "result.spurious", _RANKING_KEYS)
        return
    _need_keys(result.fidelity, "result.fidelity", _FIELD_KEYS["fidelity"])
    for name in ("importance_agreement", "existence", "location"):
        value = getattr(result, name)
        if value is not None:
            _need_keys(value, f"result.{name}", _FIELD_KEYS[name])
    if result.existence is not None:
        _need_per_concept(result.existence["per_concept"], "existence['per_concept']")
    if result.location is not None and "per_concept" in result.location:
        _need_per_concept(result.location["per_concept"], "location['per_concept']")
    for name in ("spurious", "examples"):
        _need_rows(getattr(result, name), f"result.{name}", _ROW_KEYS[name])
    if (
        result.examples
        and result.example_maps is not None
        and result.example_images is not None
        and len(result.example_map_concepts) < len(result.examples)
    ):
        raise ValueError(
            f"result.example_map_concepts: expected a list of concept names for each of the "
            f"{len(result.examples)} examples (their maps are drawn), got "
            f"{len(result.example_map_concepts)}"
        )
    info = getattr(result, "information", None)
    if info:
        _need_keys(info, "result.information", _FIELD_KEYS["information"])
        for part, keys in _INFORMATION_KEYS.items():
            if info[part] is not None:
                _need_keys(info[part], f"result.information[{part!r}]", keys)
        leak = info["leakage"]
        if leak is not None and leak["method"] == "ksg":
            _need_keys(leak, "result.information['leakage']", ("total", "conditioning"))
        if leak is not None and leak.get("classifier_total") is not None:
            _need_keys(leak, "result.information['leakage']", ("entropy_given_concepts",))
        if info["nec"] is not None:
            _need_keys(
                info["nec"]["accuracy"], "result.information['nec']['accuracy']", ("evaluation",)
            )
        if info["concept_information"] is not None:
            _need_per_concept(
                info["concept_information"]["per_concept"],
                "information['concept_information']['per_concept']",
            )


def render_report(result: Any, title: str = "bottlekit audit") -> str:
    """The HTML report of an :class:`~bottlekit.diagnostics.audit.AuditResult`.

    Parameters
    ----------
    result : AuditResult
        What :func:`~bottlekit.diagnostics.audit` found.
    title : str, default "bottlekit audit"
        The page's title and heading.

    Returns
    -------
    str
        A complete HTML document with no external resource.

    Raises
    ------
    TypeError
        ``result`` is not an AuditResult, or one of its tables is not a dict (a list of
        dicts) where the report reads keys of it.
    ValueError
        A (hand-built) result lacks a key the report reads: the error names the field,
        the missing keys, the keys it has and the keys the report reads.

    Examples
    --------
    >>> import numpy as np
    >>> from bottlekit.diagnostics import AuditResult
    >>> fidelity = {"agreement": 0.9, "model_accuracy": 0.8, "surrogate_accuracy": 0.75,
    ...             "n_fit": 10, "n_eval": 10, "exact": False}
    >>> spurious = [{"concept": "sky", "score": 0.5, "importance": 0.5,
    ...              "worst_class": "gull", "worst_class_importance": 1.0,
    ...              "attribute_rate": 0.0, "context": True}]
    >>> result = AuditResult(
    ...     model_kind="torch", space="features", concept_names=["red", "sky"],
    ...     class_names=["cardinal", "gull"], classes=np.array([0, 1]), fidelity=fidelity,
    ...     importance=np.array([1.0, 0.5]),
    ...     importance_by_class=np.array([[1.5, 0.0], [-0.5, 1.0]]),
    ...     importance_agreement=None, existence=None, location=None, spurious=spurious,
    ...     spurious_share=0.4, examples=[])
    >>> html = render_report(result, title="toy audit")
    >>> html.startswith("<!DOCTYPE html>"), "<title>toy audit</title>" in html
    (True, True)
    """
    # checked by what the report reads, not by class: audit_result imports this module
    # (AuditResult.save), so importing it back would make an import cycle
    missing = [a for a in _RESULT_FIELDS if not hasattr(result, a)]
    if missing:
        raise TypeError(
            f"result: expected an AuditResult from audit(), got {type(result).__name__} "
            f"(it lacks {', '.join(missing[:3])})"
        )
    _check_result_keys(result)
    nav = "".join(f'<a href="#{s}">{_e(s.replace("-", " "))}</a>' for s in SECTION_IDS)
    sections = [
        _summary(result),
        _fidelity(result),
        _importance(result),
        _existence(result),
        _location(result),
        _spurious(result),
        _information(result),
        _examples(result),
    ]
    sub = (
        f"{_e(result.model_kind)} model &middot; {len(result.concept_names)} concepts &middot; "
        f"{_fmt(result.settings.get('n_images', '?'))} images"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{_e(title)}</h1><p>{sub}</p></header><nav>{nav}</nav>"
        f"<main>{''.join(sections)}</main></body></html>\n"
    )
