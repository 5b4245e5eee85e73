"""Intake of numeric arrays: one rule for what counts as an array of real numbers.

numpy's own casts are lenient where a scientific library must not be: ``np.asarray(x,
dtype=float)`` parses text (``"1.5"`` becomes 1.5) and drops the imaginary part of complex
values with only a warning, and a torch tensor on the ``'meta'`` device has a shape but no
values. Every public function that takes an array of numbers goes through
:func:`as_real_array`, so bad input is refused the same way everywhere, with the
argument's name. This module sits at the bottom of the package and imports nothing from it.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Literal

import numpy as np

from bottlekit._checks import byte_size, physical_memory, shown_value

__all__ = [
    "as_binary_array",
    "as_index_array",
    "as_real_array",
    "check_magnitude",
    "check_numeric_dtype",
    "check_real_tensor",
    "encode_class_labels",
    "magnitude_limit",
    "output_array",
    "refuse_text",
    "sort_class_labels",
]

Wording = Literal["expected", "must"]


_MESSAGES = {
    "expected": {
        "complex": "{name}: expected real numbers, got {what}",
        "text": "{name}: expected a numeric array, got {what}",
        "overflow": "{name}: expected numbers that a float64 can hold, got {what}",
        "binary": "{name}: expected 0/1 or boolean values{what}",
    },
    "must": {
        "complex": "{name} must hold real numbers, got {what}",
        "text": "{name} must be a numeric array, got {what}",
        "overflow": "{name} must hold numbers that a float64 can hold, got {what}",
        "binary": "{name} must hold 0/1 or boolean values{what}",
    },
}


def _message(kind: str, name: str, what: str, wording: str) -> str:
    if wording not in _MESSAGES:
        raise ValueError(f"wording must be 'expected' or 'must', got {wording!r}")
    return _MESSAGES[wording][kind].format(name=name, what=what)


def check_real_tensor(X, name: str, *, wording: Wording = "expected") -> None:
    """Raise unless the torch tensor ``X`` holds real values that can be read.

    A tensor on the ``'meta'`` device has a shape but no values, and a complex tensor
    would lose its imaginary part in a cast to float.
    """
    if X.device.type == "meta":
        raise ValueError(
            f"{name} is a tensor on the 'meta' device, which holds no values; expected a "
            "tensor with data (on 'cpu' or an accelerator)"
        )
    if X.is_complex():
        raise TypeError(_message("complex", name, f"a complex tensor ({X.dtype})", wording))


def _tensor_to_numpy(X) -> np.ndarray:
    """A (checked) torch tensor's values as a numpy array on the CPU.

    Floating dtypes that numpy lacks (``bfloat16``, the float8 kinds) go through float32,
    which holds each of their values exactly; ``Tensor.numpy()`` raised torch's "Got
    unsupported ScalarType BFloat16".
    """
    X = X.detach().cpu()
    try:
        return X.numpy()
    except TypeError:
        if not X.is_floating_point():
            raise
        return X.float().numpy()


def check_numeric_dtype(
    arr: np.ndarray, name: str, *, allow_complex: bool = False, wording: Wording = "expected"
) -> None:
    """Raise ``TypeError`` if the array ``arr`` holds text (or complex values).

    numpy parses text in a cast to float (``"1.5"`` becomes 1.5) and drops the imaginary
    part of complex values with only a warning.
    """
    if arr.dtype.kind == "c" and not allow_complex:
        raise TypeError(_message("complex", name, f"complex values ({arr.dtype})", wording))
    if arr.dtype.kind in "USV" or (
        arr.dtype.kind == "O" and any(isinstance(v, str | bytes) for v in arr.flat)
    ):
        raise TypeError(_message("text", name, f"text values ({arr.dtype})", wording))


def refuse_text(X: Any, name: str = "X", *, wording: Wording = "expected") -> Any:
    """``X`` unchanged, unless it is an array or a (nested) list holding text:
    ``TypeError`` naming ``name``.

    For inputs that scikit-learn's ``validate_data`` reads next: it (and numpy's cast to
    float) parses ``"1.5"`` as 1.5, so a column of text would be read as numbers. Data
    frames and tensors go on unchanged (data frames keep their feature names), as do
    ragged nestings and complex values, for scikit-learn's own errors.

    Parameters
    ----------
    X : object
        The input as given by the caller.
    name : str, default "X"
        The argument, for the message.
    wording : {"expected", "must"}, default "expected"
        The message form (:func:`check_numeric_dtype`).

    Returns
    -------
    object
        ``X`` itself.
    """
    if isinstance(X, (np.ndarray, list, tuple)):
        try:
            arr = np.asarray(X)
        except ValueError:  # ragged: scikit-learn says so
            return X
        check_numeric_dtype(arr, name, allow_complex=True, wording=wording)
    return X


def as_real_array(X, name: str, *, dtype=np.float64, wording: Wording = "expected") -> np.ndarray:
    """Return ``X`` (array-like or torch tensor) as a numpy array of real numbers.

    Complex values (whose imaginary part a cast would drop with only a warning), text
    (which numpy would parse, ``"1.5"`` becoming 1.5), ragged nestings and objects are
    refused with a ``TypeError`` that names ``name``, what it received and what was
    expected.

    Parameters
    ----------
    X : array-like or torch.Tensor
    name : str
        Argument name used in error messages.
    dtype : numpy dtype or None, default=float64
        None keeps the array's own numeric dtype (booleans, integers or floats).
    wording : {"expected", "must"}, default="expected"
        The package's two wordings of an error (as in :func:`bottlekit._checks.check_number`):
        ``"X: expected a numeric array, got ..."`` (the models) or ``"X must be a numeric
        array, got ..."`` (the estimators).

    Returns
    -------
    ndarray

    Examples
    --------
    >>> as_real_array([1, 2], "X")
    array([1., 2.])
    >>> as_real_array(["1.5"], "X")
    Traceback (most recent call last):
    ...
    TypeError: X: expected a numeric array, got text values (<U3)
    >>> as_real_array([1 + 2j], "X", wording="must")
    Traceback (most recent call last):
    ...
    TypeError: X must hold real numbers, got complex values (complex128)
    """
    if hasattr(X, "detach") and hasattr(X, "cpu"):  # torch tensor
        check_real_tensor(X, name, wording=wording)
        X = _tensor_to_numpy(X)
    raw = X if isinstance(X, np.ndarray) else None
    if raw is None:
        try:
            raw = np.asarray(X)
        except (TypeError, ValueError):  # ragged nested sequences
            raw = None
    if raw is not None:
        check_numeric_dtype(raw, name, wording=wording)
    try:
        out = np.asarray(X if raw is None else raw, dtype=dtype)
    except OverflowError as exc:  # Python ints beyond float64 (10**400) held as objects
        what = f"an integer too large to convert ({exc})"
        raise ValueError(_message("overflow", name, what, wording)) from None
    except (TypeError, ValueError) as exc:
        what = f"{type(X).__name__} (ragged or not numbers)"
        raise TypeError(_message("text", name, what, wording)) from exc
    if out.dtype.kind not in "biuf":  # dtype=None: objects such as None stay objects
        raise TypeError(_message("complex", name, f"an array of dtype {out.dtype}", wording))
    return out


def as_binary_array(X, name: str, *, hint: str = "", wording: Wording = "expected") -> np.ndarray:
    """Return ``X`` (booleans, or numbers that are all 0 or 1) as a bool array.

    Concept labels, part masks and flags are binary: a soft label (0.5), NaN or another
    number among them, or an object such as None, is refused with a ``ValueError`` naming
    ``name`` and the first such value, instead of being rounded or taken by its truth
    value. Text, complex values and ragged nestings are refused with a ``TypeError`` by
    :func:`as_real_array`. An object array of numbers (``DataFrame.values`` of mixed
    bool and int columns) is read as numbers.

    Parameters
    ----------
    X : array-like or torch.Tensor
    name : str
        Argument name used in error messages.
    hint : str, default ""
        Appended to the error, e.g. why the values must be binary.
    wording : {"expected", "must"}, default="expected"
        As in :func:`as_real_array`: ``"masks: expected 0/1 or boolean values, got 0.3"``
        or ``"masks must hold 0/1 or boolean values, got 0.3"``.

    Returns
    -------
    ndarray of bool
        ``X`` as booleans, same shape (``X`` itself when it is a bool array).

    Examples
    --------
    >>> as_binary_array([[1, 0], [0, 1]], "concept_labels").tolist()
    [[True, False], [False, True]]
    >>> as_binary_array([1, 0.5], "concept_labels", hint=" (soft labels have no AUROC)")
    Traceback (most recent call last):
    ...
    ValueError: concept_labels: expected 0/1 or boolean values (soft labels have no AUROC), got 0.5
    """
    if not (hasattr(X, "detach") and hasattr(X, "cpu")):  # torch: as_real_array reads it
        try:
            raw = np.asarray(X)
        except (TypeError, ValueError):  # ragged: as_real_array names it
            raw = None
        if raw is not None and raw.dtype == object:
            other = next((v for v in raw.flat if not _is_real_number(v)), _ALL_NUMBERS)
            if other is _ALL_NUMBERS:
                raw = raw.astype(np.float64)
            elif not isinstance(other, str | bytes):  # text: as_real_array's TypeError
                raise ValueError(_message("binary", name, f"{hint}, got {other!r}", wording))
        X = X if raw is None else raw
    arr = as_real_array(X, name, dtype=None, wording=wording)
    if arr.dtype == bool:
        return arr
    binary = (arr == 0) | (arr == 1)
    if not binary.all():
        first = arr.flat[int(np.argmin(binary))].item()  # the first False, without a copy
        raise ValueError(_message("binary", name, f"{hint}, got {first!r}", wording))
    return arr.astype(bool)


_ALL_NUMBERS = object()


def _is_real_number(value: Any) -> bool:
    return isinstance(value, bool | np.bool_ | numbers.Real)


def _integer_items(X) -> list[int] | None:
    """The items of a list or tuple as Python ints, or None unless all are integers.

    numpy reads ``[-1, 2**64 - 1]`` or ``[np.int8(1), np.uint64(3)]`` as float64 and
    ``[2**70]`` as objects; their items are integers all the same, compared exactly here.
    """
    if not isinstance(X, list | tuple):
        return None
    items = []
    for v in X:
        if isinstance(v, bool | np.bool_) or not isinstance(v, int | np.integer):
            return None
        items.append(int(v))
    return items


def _shown(X, arr: np.ndarray | None) -> str:
    """What an index argument was, for an error message."""
    if arr is None:
        return f"{type(X).__name__} (ragged)"
    if arr.ndim == 0 or X is None:
        return shown_value(X)
    return f"{arr.dtype} values of shape {arr.shape}"


def as_index_array(
    X,
    name: str,
    *,
    low: int = 0,
    high: int | None = None,
    negative: bool = False,
    mask: bool = False,
    expected: str | None = None,
) -> np.ndarray:
    """Return ``X`` as a 1-D int64 array of indices in ``low .. high - 1``, else raise.

    The one check of index arguments in the package (positions of images, concepts,
    classes). Errors name ``name``, what was received and what was expected, as
    ``"{name}: expected ..., got ..."``, and follow scikit-learn: a ``TypeError`` for
    the wrong kind of value, a ``ValueError`` for the right kind with a wrong value.

    * ``TypeError``: floats (``1.7`` would be truncated), booleans (``True`` would be
      position 1; unless ``mask``), text, ``None`` and other objects, ragged nestings.
    * ``ValueError``: not 1-D (a scalar, a 2-D array), a value out of range (the message
      lists the values out of range), a boolean mask of the wrong length.

    Values are compared with the range before any cast to int64, so an unsigned
    ``2**64 - 1`` is not read as ``-1`` (which selected the last image). Duplicates are
    allowed and kept, as in numpy's indexing (``[4, 0, 4]`` takes item 4 twice). An
    empty sequence gives an empty array (callers that need one index say so).

    Parameters
    ----------
    X : array-like or torch.Tensor of int
        Integers of any numpy or Python type; a list or tuple of Python or numpy
        integers is compared exactly, even where numpy would read it as float.
    name : str
        Argument name used in error messages.
    low : int, default=0
        Smallest accepted value (``-1`` for a "none" marker). Ignored with ``negative``.
    high : int or None, default=None
        One past the largest accepted value; None for no upper bound.
    negative : bool, default=False
        Accept numpy-style negative positions ``-high .. -1`` (counted from the end);
        they are returned as the positions they stand for (``-1`` as ``high - 1``).
        Needs ``high``.
    mask : bool, default=False
        Accept a boolean mask of shape ``(high,)``, returned as the positions where it is
        true. Needs ``high``.
    expected : str or None
        What the range message says was expected (default: ``"indices in low..high-1"``).

    Returns
    -------
    ndarray of int64, shape (m,)

    Raises
    ------
    TypeError
        ``X`` does not hold integers.
    ValueError
        ``X`` is not 1-D, holds values out of range, or is a mask of the wrong length.

    Examples
    --------
    >>> as_index_array([2, 0, 2], "anchors", high=3)
    array([2, 0, 2])
    >>> as_index_array([-1, 0], "indices", high=3, negative=True)
    array([2, 0])
    >>> as_index_array([True, False, True], "indices", high=3, mask=True)
    array([0, 2])
    >>> as_index_array([0.5], "anchors", high=3)
    Traceback (most recent call last):
    ...
    TypeError: anchors: expected a 1-D array of int, got float64 values of shape (1,)
    >>> as_index_array([3, 1, 7], "anchors", high=3)
    Traceback (most recent call last):
    ...
    ValueError: anchors: expected indices in 0..2, got 3, 7
    """
    if (negative or mask) and high is None:
        raise ValueError("as_index_array: negative and mask need high (the number of items)")
    if negative:
        low = -high
    what = "a 1-D array of int" + (f" or a boolean mask of shape ({high},)" if mask else "")
    if hasattr(X, "detach") and hasattr(X, "cpu"):  # torch tensor
        check_real_tensor(X, name)
        X = _tensor_to_numpy(X)
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError, OverflowError):  # ragged nested sequences
        arr = None
    if arr is not None and mask and arr.dtype == bool:
        if arr.shape != (high,):
            raise ValueError(f"{name}: expected {what}, got {_shown(X, arr)}")
        return np.flatnonzero(arr).astype(np.int64)
    if arr is not None and (arr.size == 0 or arr.dtype.kind in "iu"):
        if arr.ndim != 1:
            raise ValueError(f"{name}: expected {what}, got {_shown(X, arr)}")
        values = arr
    else:
        values = _integer_items(X)
        if values is None:
            raise TypeError(f"{name}: expected {what}, got {_shown(X, arr)}")
    top = np.iinfo(np.int64).max + 1 if high is None else high
    # min and max as Python ints: exact for every integer dtype, before any cast to int64
    if len(values) and (low > int(np.min(values)) or int(np.max(values)) >= top):
        listed = values.tolist() if isinstance(values, np.ndarray) else values
        bad = [v for v in listed if not low <= v < top]
        if expected is None:
            expected = f"indices >= {low}" if high is None else f"indices in {low}..{high - 1}"
        shown = ", ".join(str(v) for v in bad[:3])
        if len(bad) > 3:
            shown += f", ... ({len(bad)} values out of range)"
        raise ValueError(f"{name}: expected {expected}, got {shown}")
    out = np.array(values, dtype=np.int64).reshape(-1)
    if negative and out.size:
        out = np.where(out < 0, out + high, out)
    return out


def sort_class_labels(y: np.ndarray, name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """The sorted classes of labels ``y`` and each label's index among them.

    Labels that cannot be sorted (``"a"`` beside ``1``, ``None`` beside ints) are refused
    with a ``TypeError`` naming ``name`` and the labels' types, instead of numpy's
    ``'<' not supported between instances of 'int' and 'str'``.

    Parameters
    ----------
    y : ndarray of shape (n,)
        Class labels.
    name : str, default "y"
        The argument, for the message.

    Returns
    -------
    classes : ndarray
        The distinct labels, sorted.
    codes : ndarray of int
        ``classes[codes]`` is ``y``.

    Examples
    --------
    >>> sort_class_labels(np.array(["b", "a", "b"]))
    (array(['a', 'b'], dtype='<U1'), array([1, 0, 1]))
    >>> sort_class_labels(np.array(["a", 1], dtype=object))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: y: labels of types ['int', 'str'] cannot be ordered; expected labels of one ...
    """
    try:
        classes, codes = np.unique(y, return_inverse=True)
    except TypeError as exc:
        kinds = sorted({type(v).__name__ for v in np.asarray(y, dtype=object).ravel()})
        raise TypeError(
            f"{name}: labels of types {kinds} cannot be ordered; expected labels of one "
            "sortable type (numbers or strings)"
        ) from exc
    return classes, codes.ravel()


def encode_class_labels(y: np.ndarray, name: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """The sorted classes of a classifier's labels ``y`` and each label's index among them.

    :func:`sort_class_labels`, then scikit-learn's
    :func:`~sklearn.utils.multiclass.check_classification_targets` (continuous targets
    are refused there). The sort comes first: scikit-learn's check sorts the labels too,
    and labels that cannot be sorted would fail there with numpy's message.

    Parameters
    ----------
    y, name
        As :func:`sort_class_labels` (``y`` as returned by scikit-learn's
        ``validate_data``).

    Returns
    -------
    classes, codes : ndarray
        As :func:`sort_class_labels`.

    Examples
    --------
    >>> encode_class_labels(np.array(["b", "a", "b"]))
    (array(['a', 'b'], dtype='<U1'), array([1, 0, 1]))
    """
    from sklearn.utils.multiclass import check_classification_targets

    classes, codes = sort_class_labels(y, name)
    check_classification_targets(y)
    return classes, codes


def output_array(call: str, shape: tuple[int, ...], what: str, advice: str) -> np.ndarray:
    """The float32 array of ``shape`` that ``call`` fills, one row per image; refused, with
    what to do instead, where it cannot fit in memory.

    Checked before the first image is encoded: a request larger than the physical memory
    failed only in numpy's allocator ("Unable to allocate ..."), or was granted lazily and
    pushed the machine into swap after hours of encoding; one that the allocator refuses
    below it (memory in use) is named the same way.

    Parameters
    ----------
    call : str
        The method, first word of the message.
    shape : tuple of int
        ``(n_images, ...)``.
    what : str
        What the array holds, e.g. ``"embeddings"``.
    advice : str
        What to do instead.

    Raises
    ------
    ValueError
        The array needs more bytes than the machine's physical memory.
    MemoryError
        The allocator refused it.
    """
    n, per_image = shape[0], math.prod(shape[1:]) * 4
    need = n * per_image
    asks = (
        f"{call}: images holds {n} images, whose {what} "
        f"({' x '.join(str(d) for d in shape)} float32) need {byte_size(need)}"
    )
    have = physical_memory()
    if have is not None and need > have:
        raise ValueError(
            f"{asks}, more than this machine's {byte_size(have)} of memory; expected at "
            f"most {have // per_image} images a call ({advice})"
        )
    try:
        return np.empty(shape, dtype=np.float32)
    except (MemoryError, ValueError):  # ValueError: more than numpy's largest array
        raise MemoryError(
            f"{asks}, which could not be allocated; expected fewer images a call ({advice})"
        ) from None


def magnitude_limit(n_concepts: int, n_features: int) -> float:
    r"""Largest magnitude a learned float array of a model, dictionary or SAE-checkpoint
    file may hold.

    :math:`M = \sqrt{f_{32} / ((K + 1)(D + 2))}`, :math:`f_{32}` the largest float32,
    for K concepts (a dictionary's atoms) and D features. With every weight, bias and
    intercept at most :math:`M` (and :math:`M \ge 1`), a concept activation of an input
    with entries in [-1, 1] is at most :math:`(D + 1) M` and a logit at most
    :math:`K (D + 1) M^2 + (D + 2) M \le (K + 1)(D + 2) M^2 = f_{32}`, residual included;
    a pruned intercept, :math:`c + \sum_j A_{cj} \bar a_j`, at most :math:`(K + 1) M^2`.
    A dictionary's pre-activation of a scaled embedding :math:`\tilde x = x / s` with
    entries in [-1, 1], :math:`w_j \cdot (\tilde x - b_{pre}) + b_j`, is at most
    :math:`D M + D M^2 + M \le f_{32}` alike.

    Parameters
    ----------
    n_concepts, n_features : int
        K and D.

    Returns
    -------
    float

    Examples
    --------
    >>> f"{magnitude_limit(5, 6):.3g}"
    '2.66e+18'
    """
    terms = (n_concepts + 1) * (n_features + 2)
    return float(np.sqrt(float(np.finfo(np.float32).max) / terms))


def check_magnitude(
    value: np.ndarray,
    name: str,
    n_concepts: int,
    n_features: int,
    *,
    units: tuple[str, str] = ("K", "concepts"),
    outputs: str = "logits",
) -> None:
    """``ValueError`` naming ``name`` if the float array ``value`` holds a value beyond
    :func:`magnitude_limit` ``(n_concepts, n_features)``: the one rule, and message, of
    the learned arrays of model, dictionary and SAE-checkpoint files.

    Parameters
    ----------
    value : ndarray
        The (finite) array.
    name : str
        Its name, for the message.
    n_concepts, n_features : int
        K (a model's concepts, a dictionary's atoms) and D.
    units : tuple of str, default ("K", "concepts")
        The symbol and the name of what ``n_concepts`` counts, for the message.
    outputs : str, default "logits"
        What larger values can overflow, for the message.

    Examples
    --------
    >>> check_magnitude(np.array([1.0, -2.0]), "coef_", 5, 6)
    >>> check_magnitude(np.array([3e38]), "coef_", 5, 6)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: coef_ holds a value of magnitude 3e+38; expected at most 2.66e+18 = ...
    """
    if not value.size:
        return
    limit = magnitude_limit(n_concepts, n_features)
    peak = float(np.abs(value).max())
    if peak > limit:
        symbol, what = units
        raise ValueError(
            f"{name} holds a value of magnitude {peak:.3g}; expected at most "
            f"{limit:.3g} = sqrt(float32 max / (({symbol} + 1)(D + 2))) for "
            f"{symbol}={n_concepts} {what} and D={n_features} features: larger weights can "
            f"overflow the float32 {outputs} of unit-scale embeddings (no fit on embeddings "
            "of ordinary scale comes near them)"
        )
