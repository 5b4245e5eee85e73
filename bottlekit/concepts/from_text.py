"""Concept bank from concept names through a CLIP text encoder (prompt ensembling)."""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from bottlekit.concepts._io import check_names, check_provenance
from bottlekit.concepts.bank import ConceptBank, backbone_id_of


def check_templates(templates: Sequence[str] | None, arg: str = "templates") -> list[str] | None:
    """Validate prompt templates: each must contain exactly one ``{}`` placeholder.

    Literal braces are written ``{{`` and ``}}`` (``str.format`` rules); any other field
    (``{x}``, ``{0}``, ``{:>5}``) is refused here rather than failing inside ``format``.

    Parameters
    ----------
    templates : str, sequence of str or None
        The templates; a single string is one template, None means no template.
    arg : str, default "templates"
        The argument's name, for the messages.

    Returns
    -------
    list of str or None
        The templates as a list (None passed through).

    Examples
    --------
    >>> check_templates("a photo of a {}.")
    ['a photo of a {}.']
    >>> check_templates(["a {} bird", "{x} and {}"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: templates[1] must be a string with exactly one '{}' ..., got '{x} and {}'
    """
    if templates is None:
        return None
    if isinstance(templates, str):
        templates = [templates]
    if not isinstance(templates, Sequence):
        raise TypeError(f"{arg} must be a list of strings, got {type(templates).__name__}")
    templates = list(templates)
    if not templates:
        raise ValueError(f"{arg} is empty; pass None for the bare concept text")
    for i, t in enumerate(templates):
        if not isinstance(t, str) or _template_fields(t) != [("", "", None)]:
            raise ValueError(
                f"{arg}[{i}] must be a string with exactly one '{{}}' placeholder and no "
                f"other field (write literal braces as '{{{{' and '}}}}'), got {t!r}"
            )
    return templates


def _template_fields(template: str) -> list[tuple] | None:
    """The replacement fields of a format string, or None if it does not parse."""
    try:
        return [
            (name, spec, conversion)
            for _, name, spec, conversion in string.Formatter().parse(template)
            if name is not None
        ]
    except ValueError:  # unmatched braces
        return None


def encode_concept_texts(
    backbone: Any, names: Sequence[str], templates: Sequence[str] | None = None
) -> np.ndarray:
    """Text embeddings of ``names`` (k × d float32, unit rows) from ``backbone.encode_texts``.

    Parameters
    ----------
    backbone : Backbone
        Object with ``encode_texts(texts, templates=None)``.
    names : sequence of str
        The texts to embed.
    templates : sequence of str, optional
        Prompt templates with one ``{}``, averaged by the backbone (None: the bare text).

    Returns
    -------
    ndarray of float32, shape (k, d)
        The embeddings, each row scaled to unit norm (a zero row stays zero).

    Raises
    ------
    ValueError
        If the backbone returns another shape, NaN or inf.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> toy = SimpleNamespace(encode_texts=lambda texts, templates=None: np.array(
    ...     [[3.0, 4.0], [0.0, 2.0]])[: len(texts)])
    >>> encode_concept_texts(toy, ["red", "blue"]).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.0, 1.0]]
    """
    names = list(names)
    vectors = np.asarray(backbone.encode_texts(names, templates=templates), dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(names):
        raise ValueError(
            f"backbone.encode_texts returned shape {vectors.shape}; expected ({len(names)}, d)"
        )
    if not np.isfinite(vectors).all():
        raise ValueError("backbone.encode_texts returned NaN or inf embeddings")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def from_text(
    backbone: Any,
    names: Sequence[str],
    templates: Sequence[str] | None = None,
    *,
    provenance: Sequence[dict] | None = None,
    class_prior: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
) -> ConceptBank:
    r"""Concept bank whose vectors are the backbone's text embeddings of the concept names.

    With templates :math:`t_1..t_m` the vector of concept :math:`c` is the prompt ensemble
    :math:`v_c = \bar u / \lVert \bar u\rVert`, :math:`\bar u = \frac1m\sum_i
    u(t_i(c))/\lVert u(t_i(c))\rVert`, with :math:`u` the CLIP text tower.

    Parameters
    ----------
    backbone : Backbone
        Object with ``id`` and ``encode_texts(texts, templates=None)``.
    names : list of str
        Concept names (non-empty, unique).
    templates : list of str, optional
        Prompt templates with one ``{}``; ``None`` encodes the bare concept string, as
        Post-hoc CBM does for text concepts.
    provenance : list of dict, optional
        Extra per-concept provenance merged into ``{"kind": "text", "source": "text",
        "templates": templates}``.
    class_prior, class_names : optional
        Passed to :class:`ConceptBank`.

    Returns
    -------
    ConceptBank
        One unit-norm text vector per name, in ``names``' order, of kind ``"text"``,
        on ``backbone.id``.

    Examples
    --------
    >>> bank = from_text(backbone, ["red crest", "long tail"], templates=["a photo of {}"])
    ... # doctest: +SKIP
    """
    if not callable(getattr(backbone, "encode_texts", None)):
        raise TypeError(
            "backbone: expected a bottlekit Backbone (with encode_texts), got "
            f"{type(backbone).__name__}; load one with bottlekit.load_backbone(name)"
        )
    names = check_names(names, "names")
    templates = check_templates(templates)
    vectors = encode_concept_texts(backbone, names, templates)
    base = {"kind": "text", "source": "text", "templates": templates}
    if provenance is None:
        prov = [dict(base) for _ in names]
    else:
        provenance = check_provenance(provenance)
        if len(provenance) != len(names):
            raise ValueError(
                f"provenance must have one dict per name ({len(names)}), got {len(provenance)}"
            )
        prov = [{**base, **p, "kind": "text"} for p in provenance]
    return ConceptBank(
        names,
        vectors,
        backbone_id_of(backbone),
        provenance=prov,
        class_prior=class_prior,
        class_names=class_names,
    )
