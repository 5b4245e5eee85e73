"""The schema of a saved concept-bottleneck model: what a model file may hold.

A file written by :meth:`BaseConceptBottleneck.save` stores each learned attribute
either as a tensor (numeric arrays) or in the JSON metadata (everything else). When a
file is loaded, every stored attribute must be one the model class declares
(``_STATE`` of the base class plus the subclass's ``_EXTRA_STATE``), of the declared
kind, and of a shape consistent with the others::

    C = len(classes_)   K = len(concept_names_)   D = n_features_in_

Anything else — an unknown key (a key named ``predict`` would replace the method), a
transposed ``coef_``, integers where floats belong, NaN weights, a missing
``intercept_`` — is refused with a ``ValueError`` naming the file and the attribute.

Finite is not enough: a learned float array may not hold a value beyond
:func:`magnitude_limit` (about 1e18 for a small model, 1e16 for K = D = 1000). fit stores
these arrays in float32 and :meth:`logits_torch` runs in the embeddings' dtype (float32
for bottlekit's backbones); below the limit the logits of any embedding with entries in
[-1, 1] (as L2-normalised ones are) stay finite in float32, and so do the intercepts
:meth:`prune` folds a concept's mean into. Above it a weight of 3e38 loaded and
prediction then gave inf or NaN. No fit on embeddings of ordinary scale comes near the
limit; a fit on embeddings of scale 1e-18 or below (weights of 1e18 and up) can save a
model that this check then refuses.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any

import numpy as np

from bottlekit._arrays import check_magnitude, magnitude_limit
from bottlekit.concepts._io import MAX_NAME_CHARS, check_name_lengths, check_names

__all__ = [
    "BASE_STATE",
    "check_distinct_positions",
    "check_json_numbers",
    "check_state",
    "from_json_value",
    "magnitude_limit",
]

#: Largest string labels (characters) a model file may hold (a bank file's limit), and
#: the largest JSON array.
MAX_LABEL_CHARS = MAX_NAME_CHARS
MAX_JSON_ARRAY_ITEMS = 10_000_000
#: Deepest nesting of lists / objects a stored value may have (a model's own are 2 deep).
MAX_JSON_DEPTH = 32

# kind, shape (symbols "C", "K", "D"; None: any length along that axis; shape None: any).
# Kinds: float (finite floating array), scale (float >= 0), array (numeric array, may hold
# NaN), int, bool, labels (1-D ints or strings), concepts (the rule of concept names:
# distinct non-blank strings), names (list of str), count (int >= 0), number (finite),
# fraction (a number in [0, 1], as an accuracy), link, json (any JSON value). A trailing
# "?" also allows None.
BASE_STATE: dict[str, tuple[str, tuple | None]] = {
    "n_features_in_": ("count", None),
    "classes_": ("labels", ("C",)),
    "concept_names_": ("concepts", ("K",)),
    "concept_weights_": ("float", ("K", "D")),
    "concept_bias_": ("float", ("K",)),
    "concept_normalize_": ("bool", ("K",)),
    "concept_link_": ("link", None),
    "coef_": ("float", ("C", "K")),
    "intercept_": ("float", ("C",)),
    "residual_coef_": ("float?", ("C", "D")),
    "residual_intercept_": ("float?", ("C",)),
    "concept_mean_": ("float", ("K",)),
    "concept_scale_": ("scale", ("K",)),
    "concept_low_": ("float", ("K",)),
    "concept_high_": ("float", ("K",)),
    "pruned_concepts_": ("names", None),
}


#: The dtype strings a stored array may declare: a byte order and a type code with its
#: size (``value.dtype.str`` as :meth:`save` writes it, ``"<f8"``, ``"|b1"``, ``"<U12"``,
#: ``"|O"``) or a plain name (``"float32"``). Anything else (a sub-array ``"(2,)f8"``, a
#: structured ``"f8,f8"``, a datetime ``"M8[ns]"``) is refused before numpy parses it.
_DTYPE_TEXT = re.compile(r"[<>|=]?[A-Za-z]{1,10}[0-9]{0,10}")

#: Most bytes the arrays stored in one model file's JSON may take once decoded, all
#: together. A fixed-width string array takes its declared width for every item, so
#: 2^20 empty strings declared ``"<U4096"`` (3 MB of text) would take 16 GiB.
MAX_JSON_ARRAY_BYTES = 2**28


def _array_dtype(value: dict, key: str, source: str) -> np.dtype:
    """The allow-listed dtype an ``{"__ndarray__": ...}`` value declares."""
    text = value.get("dtype")
    if not isinstance(text, str) or not _DTYPE_TEXT.fullmatch(text):
        raise ValueError(
            f"{source}: {key} has an invalid array dtype {repr(text)[:80]}; expected a "
            "numpy dtype string such as '<f8', '<i8', '|b1', '<U12' or '|O'"
        )
    try:
        dtype = np.dtype(text)
    except (TypeError, ValueError):
        raise ValueError(
            f"{source}: {key} has an invalid array dtype {text!r}; expected a numpy dtype "
            "string such as '<f8', '<i8', '|b1', '<U12' or '|O'"
        ) from None
    if dtype.kind == "U" and dtype.itemsize // 4 > MAX_LABEL_CHARS:
        raise ValueError(
            f"{source}: {key} asks for strings of {dtype.itemsize // 4} characters; at "
            f"most {MAX_LABEL_CHARS} are accepted"
        )
    if dtype.kind not in "biufUO" or (dtype.kind in "biuf" and dtype.itemsize > 8):
        raise ValueError(f"{source}: {key} has an array of unsupported dtype {dtype.str!r}")
    return dtype


def _leading_shape(items: list) -> tuple[int, ...]:
    """The shape numpy would give the nested lists ``items`` if they are rectangular
    (read along the first items; a ragged list is refused by numpy itself)."""
    shape = []
    while isinstance(items, list) and len(shape) <= MAX_JSON_DEPTH:
        shape.append(len(items))
        items = items[0] if items else None
    return tuple(shape)


def from_json_value(
    value: Any, key: str, source: str, _depth: int = 0, *, budget: list[int] | None = None
) -> Any:
    """Decode one JSON-stored value; arrays only of bounded, allow-listed dtypes, nesting
    at most :data:`MAX_JSON_DEPTH` deep.

    Parameters
    ----------
    value : object
        The parsed JSON value.
    key : str
        Its name, for messages.
    source : str
        The file, for messages.
    _depth : int
        The nesting depth of ``value`` (internal).
    budget : list of one int, optional
        The bytes the decoded arrays may still take, shared by every value of one file
        and decreased here (None: :data:`MAX_JSON_ARRAY_BYTES` for this value alone).

    Returns
    -------
    object
        The value, its ``{"__ndarray__": ..., "dtype": ...}`` parts as arrays.
    """
    if budget is None:
        budget = [MAX_JSON_ARRAY_BYTES]
    if _depth > MAX_JSON_DEPTH:
        raise ValueError(
            f"{source}: {key} nests lists or objects more than {MAX_JSON_DEPTH} levels deep"
        )
    if isinstance(value, dict) and "__ndarray__" in value:
        items = value["__ndarray__"]
        dtype = _array_dtype(value, key, source)
        if not isinstance(items, list) or len(items) > MAX_JSON_ARRAY_ITEMS:
            raise ValueError(f"{source}: {key} is not a list of at most 10^7 values")
        nbytes = math.prod(_leading_shape(items)) * (8 if dtype.kind == "O" else dtype.itemsize)
        if nbytes > budget[0]:
            raise ValueError(
                f"{source}: {key} declares an array of {nbytes} bytes ({dtype.str}); the "
                f"arrays of a model file's metadata may take at most {MAX_JSON_ARRAY_BYTES} "
                "bytes in all"
            )
        budget[0] -= nbytes
        try:
            return np.asarray(items, dtype=object if dtype.kind == "O" else dtype)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"{source}: {key} does not hold {dtype.str} values ({exc})") from None
    if isinstance(value, dict):
        return {
            k: from_json_value(v, key, source, _depth + 1, budget=budget) for k, v in value.items()
        }
    if isinstance(value, list):
        return [from_json_value(v, key, source, _depth + 1, budget=budget) for v in value]
    return value


def _finite_real(value: Any) -> bool:
    """Whether ``value`` is a real number (not a boolean) that a float64 holds finite: an
    integer of JSON may be beyond float64's range (``np.isfinite(10**400)`` is a
    ``TypeError``, ``math.isfinite`` an ``OverflowError``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def check_json_numbers(
    values: Any,
    key: str,
    source: str,
    *,
    low: float = -np.inf,
    high: float = np.inf,
    what: str = "finite numbers",
) -> None:
    """``ValueError`` naming ``source`` and ``key`` unless ``values`` is a list of finite
    numbers (not booleans) in ``[low, high]``, as a JSON-stored training record holds.

    Parameters
    ----------
    values : object
        The decoded value.
    key : str
        Its name, for messages (e.g. ``"history_['train_loss']"``).
    source : str
        The file, for messages.
    low, high : float
        Bounds of the values.
    what : str
        What the values are, for messages.
    """
    if not isinstance(values, list):
        raise ValueError(f"{source}: {key} should be a list of {what}, got {repr(values)[:80]}")
    for v in values:
        if not _finite_real(v) or not low <= v <= high:
            raise ValueError(
                f"{source}: {key} should hold {what} in [{low:g}, {high:g}], got {v!r}"[:300]
            )


def check_distinct_positions(
    ids: np.ndarray, size: int, key: str, source: str, *, within: str, items: str
) -> None:
    """``ValueError`` naming ``source`` and ``key`` unless the stored integer array ``ids``
    holds distinct positions in ``[0, size)`` (of ``within``; ``items`` for the message of a
    repeat), as a model's indices into its bank or dictionary are.

    Parameters
    ----------
    ids : ndarray of int
    size : int
        The number of positions.
    key, source : str
        The attribute and the file, for messages.
    within, items : str
        What the positions are in (``"positions in the bank"``) and what repeats
        (``"bank concepts"``).
    """
    if len(ids) and (ids.min() < 0 or ids.max() >= size):
        raise ValueError(
            f"{source}: {key} holds {ids.min()}..{ids.max()}; expected {within}, in [0, {size})"
        )
    if len(np.unique(ids)) != len(ids):
        raise ValueError(f"{source}: {key} repeats {items}; expected distinct ones")


def _resolve(shape: tuple, sizes: dict[str, int]) -> tuple:
    return tuple(sizes.get(s, s) if isinstance(s, str) else s for s in shape)


def _shape_ok(actual: tuple, expected: tuple) -> bool:
    return len(actual) == len(expected) and all(
        e is None or a == e for a, e in zip(actual, expected, strict=True)
    )


def _check_value(key: str, value: Any, kind: str, shape: tuple | None, sizes, source: str):
    optional = kind.endswith("?")
    kind = kind.rstrip("?")
    if value is None:
        if optional:
            return
        raise ValueError(f"{source}: {key} is missing (None); the model needs it")

    def bad(expected: str) -> ValueError:
        got = (
            f"an array of dtype {value.dtype} and shape {value.shape}"
            if isinstance(value, np.ndarray)
            else repr(value)[:80]
        )
        return ValueError(f"{source}: {key} should be {expected}, got {got}")

    if kind in ("float", "scale", "array", "int", "bool"):
        want = {"float": "f", "scale": "f", "array": "biuf", "int": "iu", "bool": "b"}[kind]
        if not isinstance(value, np.ndarray) or value.dtype.kind not in want:
            raise bad(f"a {'float' if kind == 'scale' else kind} array")
        if kind in ("float", "scale") and not np.isfinite(value).all():
            raise ValueError(f"{source}: {key} contains NaN or infinite values")
        if kind == "scale" and (value < 0).any():
            raise ValueError(
                f"{source}: {key} holds a negative value ({float(value.min()):g}); expected "
                "standard deviations >= 0"
            )
    elif kind == "labels":
        if not isinstance(value, np.ndarray) or value.ndim != 1 or value.dtype.kind not in "iuUO":
            raise bad("a 1-D array of class labels")
        if value.dtype.kind == "O" and not all(isinstance(v, str) for v in value):
            raise bad("a 1-D array of class labels")
        if value.dtype.kind == "O":  # (a "U" dtype's length was checked when it was read)
            check_name_lengths(value.tolist(), key, source)
        if len(value) < 2 or len(set(value.tolist())) != len(value):
            raise bad("at least 2 distinct class labels")
    elif kind in ("names", "concepts"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a list of names")
        check_name_lengths(value, key, source)
        if kind == "concepts":
            try:
                check_names(value, key)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{source}: {exc}") from None
    elif kind == "count":
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise bad("a non-negative integer")
    elif kind == "number":
        if not _finite_real(value):
            raise bad("a finite number")
    elif kind == "fraction":
        if not _finite_real(value) or not 0 <= value <= 1:
            raise bad("a fraction in [0, 1]")
    elif kind == "link":
        if not isinstance(value, str) or value not in ("identity", "sigmoid"):
            raise bad("'identity' or 'sigmoid'")
    if shape is not None:
        expected = _resolve(shape, sizes)
        if not _shape_ok(tuple(np.shape(value)), expected):
            shown = tuple("any" if e is None else e for e in expected)
            raise ValueError(
                f"{source}: {key} has shape {tuple(np.shape(value))}; expected {shown} "
                f"(C={sizes['C']} classes, K={sizes['K']} concepts, D={sizes['D']} features)"
            )
    if kind in ("float", "scale"):  # after the shape: K and D are the file's
        try:
            check_magnitude(value, key, sizes["K"], sizes["D"])
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None


def check_state(schema: dict[str, tuple], state: dict[str, Any], source: str) -> None:
    """Raise ``ValueError`` unless ``state`` holds exactly the attributes of ``schema``.

    Parameters
    ----------
    schema : dict
        Attribute name -> (kind, shape), as ``BASE_STATE``.
    state : dict
        Decoded attributes of the file.
    source : str
        The file, for messages.
    """
    unknown = sorted(set(state) - set(schema))
    if unknown:
        raise ValueError(
            f"{source}: unknown attribute(s) {unknown}; this model class stores only "
            f"{sorted(schema)}"
        )
    missing = sorted(set(schema) - set(state))
    if missing:
        raise ValueError(f"{source}: the file lacks the attribute(s) {missing}")
    for key in ("n_features_in_", "classes_", "concept_names_"):
        _check_value(key, state[key], schema[key][0], None, {}, source)
    sizes = {
        "C": len(state["classes_"]),
        "K": len(state["concept_names_"]),
        "D": int(state["n_features_in_"]),
    }
    for key, (kind, shape) in schema.items():
        _check_value(key, state[key], kind, shape, sizes, source)
    if "pruned_concepts_" in schema:  # prune lists each concept of the model it pruned once
        names, pruned = set(state["concept_names_"]), state["pruned_concepts_"]
        stray = [n for n in pruned if n not in names]
        if stray:
            raise ValueError(
                f"{source}: pruned_concepts_ names {stray[0]!r}, which is not a concept of "
                "the model; expected names from concept_names_"
            )
        if len(set(pruned)) != len(pruned):
            raise ValueError(
                f"{source}: pruned_concepts_ lists a concept twice; expected each once"
            )
    if "concept_low_" in schema and (state["concept_low_"] > state["concept_high_"]).any():
        j = int(np.argmax(state["concept_low_"] > state["concept_high_"]))
        raise ValueError(
            f"{source}: concept_low_ exceeds concept_high_ for concept "
            f"{state['concept_names_'][j]!r}; expected the 5th percentile <= the 95th"
        )
