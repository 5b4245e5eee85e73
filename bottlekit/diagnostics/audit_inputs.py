"""The arguments of :func:`~bottlekit.diagnostics.audit`, checked by name before any
work, and the matching of the model with the data: a classifier's outputs or a
concept-bottleneck model's classes against the data's classes, and concept banks against
the backbone."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bottlekit._checks import check_number


def _check_int(value: Any, name: str, low: int) -> int:
    return check_number(value, name, integer=True, low=low)


def _check_name_list(value: Any, name: str, what: str) -> None:
    """A list of names: a str (its letters) or a non-sequence (``None``, a number) is
    refused with the argument's name, not a bare ``'int' object is not iterable``."""
    if isinstance(value, str) or not isinstance(value, Sequence | np.ndarray | set):
        got = "a str" if isinstance(value, str) else type(value).__name__
        raise TypeError(f"{name}: expected a list of {what}, got {got}")


_DEFAULT_CONTEXT_PARTS = ("background",)


def _check_context_parts(data: Any, context_parts: Any) -> None:
    """Context parts must be parts of the data, except the default (not every dataset has
    a background)."""
    _check_name_list(context_parts, "context_parts", "part names")
    if data.part_names is None or tuple(context_parts) == _DEFAULT_CONTEXT_PARTS:
        return
    unknown = [p for p in context_parts if p not in data.part_names]
    if unknown:
        raise ValueError(
            f"context_parts: {unknown[:5]} are not parts of the data; its parts are "
            f"{list(data.part_names)}"
        )


def _check_cav_params(cav_params: Any, concepts: Any, is_cbm: bool) -> None:
    """``cav_params`` are options of ``from_examples``, used only when CAVs are fitted."""
    if cav_params is None:
        return
    import inspect

    from bottlekit.concepts import ConceptBank, from_examples

    if not isinstance(cav_params, Mapping):
        raise TypeError(f"cav_params: expected a dict or None, got {type(cav_params).__name__}")
    if isinstance(concepts, ConceptBank) or (is_cbm and concepts is None):
        if cav_params:
            raise ValueError(
                "cav_params: only used when the audit fits CAVs (concepts as names, a dict "
                "of labels, or None with a torch classifier); these concepts are not fitted"
            )
        return
    params = inspect.signature(from_examples).parameters
    taken = sorted(p for p in params if params[p].kind is inspect.Parameter.KEYWORD_ONLY)
    taken = [p for p in taken if p != "random_state"]
    if "random_state" in cav_params:
        raise ValueError("cav_params: random_state is audit's own random_state; leave it out")
    unknown = sorted(str(k) for k in cav_params if k not in taken)
    if unknown:
        raise ValueError(
            f"cav_params: {unknown} are not options of from_examples; it takes {taken}"
        )


def _check_banks_match(backbone: Any, model: Any, concepts: Any) -> None:
    """The CBM's own concept bank and a ``concepts`` bank must be of ``backbone``'s space
    (before anything is embedded); random banks belong to no backbone."""
    from bottlekit.concepts import ConceptBank

    for arg, bank in (("model", getattr(model, "concepts", None)), ("concepts", concepts)):
        if isinstance(bank, ConceptBank) and bank.backbone_id != "random":
            try:
                bank.check_backbone(backbone)
            except ValueError as e:
                raise ValueError(f"{arg}: {e}") from None


def _match_outputs(data: Any, n_outputs: int) -> Any:
    """Check that output ``c`` of a classifier can be class ``c`` of ``data``.

    Named classes must be exactly as many as the outputs. Classes that were only numbered
    (no names given, so ``ConceptDataset`` numbered the labels seen) may be fewer: a data
    subset need not contain the last classes; they are then numbered up to the outputs.
    """
    names = list(data.class_names)
    numbered = names == [str(c) for c in range(len(names))]
    if int(data.labels.max()) >= n_outputs or (not numbered and len(names) != n_outputs):
        raise ValueError(
            f"model: it has {n_outputs} outputs but the data has {len(names)} classes "
            f"(labels up to {int(data.labels.max())}); output c must be the logit of class c "
            "of data.labels"
        )
    if len(names) < n_outputs:
        data = dataclasses.replace(data, class_names=[str(c) for c in range(n_outputs)])
    return data


def _name_model_classes(data: Any, classes: np.ndarray) -> Any:
    """Check that the data names every class of a CBM (class ``c`` is ``class_names[c]``).

    Classes that were only numbered (no names given) are numbered up to the model's last
    class, as :func:`_match_outputs` does for a classifier's outputs.
    """
    names = list(data.class_names)
    needed = int(np.max(classes)) + 1
    if needed <= len(names):
        return data
    if names != [str(c) for c in range(len(names))]:
        raise ValueError(
            f"data.class_names: names {len(names)} classes but the model's classes go up to "
            f"{needed - 1}; class c of the model must be class_names[c] of the data (audit "
            "it on data of its own classes)"
        )
    return dataclasses.replace(data, class_names=[str(c) for c in range(needed)])
