"""``ConceptDictionary``: what :func:`~bottlekit.concepts.discovery.discover` learns."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bottlekit._arrays import as_real_array
from bottlekit.atomic import atomic_write_bytes
from bottlekit.concepts.discovery._checks import check_embeddings
from bottlekit.concepts.discovery.nmf import nmf_encode

__all__ = [
    "METHODS",
    "THRESHOLD_RADIUS",
    "ConceptDictionary",
    "duplicate_atoms",
    "max_input_scale",
    "threshold_limit",
]

METHODS = ("topk_sae", "batchtopk_sae", "nmf")
_FORMAT = "bottlekit.ConceptDictionary"
_FORMAT_VERSION = 1
_ARRAYS = ("dictionary", "encoder_weight", "encoder_bias", "pre_bias")


def duplicate_atoms(dictionary: np.ndarray, threshold: float = 0.9) -> np.ndarray:
    """Mask of atoms whose cosine with an earlier atom exceeds ``threshold``.

    Parameters
    ----------
    dictionary : array of shape (m, d)
        Finite atoms; an all-zero atom duplicates none.
    threshold : float, default 0.9
        Cosine above which an atom counts as a copy of an earlier one.

    Returns
    -------
    ndarray of bool, shape (m,)
        True for each atom that duplicates an earlier atom (the first of a group is not
        marked).

    Examples
    --------
    >>> import numpy as np
    >>> duplicate_atoms(np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0]])).tolist()
    [False, True, False]
    """
    from bottlekit._checks import check_number

    D = as_real_array(dictionary, "dictionary")
    if D.ndim != 2 or D.shape[1] < 1:
        raise ValueError(f"dictionary: expected an (m, d) array of atoms, got shape {D.shape}")
    if not np.isfinite(D).all():
        raise ValueError("dictionary contains NaN or inf; expected finite atoms")
    threshold = check_number(threshold, "threshold")
    # each atom over its largest entry first, so that its norm cannot overflow
    scale = np.abs(D).max(axis=1, keepdims=True)
    D = D / np.where(scale == 0, 1.0, scale)
    D = D / np.maximum(np.linalg.norm(D, axis=1, keepdims=True), 1e-12)
    S = np.triu(D @ D.T, k=1)
    return (S > threshold).any(axis=0)


@dataclass
class ConceptDictionary:
    r"""A dictionary of concept directions learned from embeddings, and the codes.

    The embedding :math:`x` is scaled and centred, :math:`\tilde x = x/s - b_{pre}`, encoded
    to non-negative sparse codes :math:`z` (TopK, BatchTopK threshold or non-negative least
    squares for NMF) and reconstructed as :math:`s\,(z D + b_{pre})`.

    Construction checks the fields as :meth:`load` checks a file's (the same checks, run
    here): arrays of real numbers (float dtypes kept, integers as float32), finite, of
    shapes consistent with ``dictionary``'s ``(m, d)``; ``k`` in [1, m]; ``threshold`` in
    [0, :func:`threshold_limit`]; otherwise ``ValueError`` (``TypeError`` for text or
    complex arrays) naming the field.

    Made by :func:`~bottlekit.concepts.discovery.discover` or :meth:`load`; the fields
    are also its attributes.

    Parameters
    ----------
    method : str
        ``"topk_sae"``, ``"batchtopk_sae"`` or ``"nmf"``.
    dictionary : ndarray of shape (m, d)
        The atoms (the decoder rows; unit-norm as ``discover`` learns them), in the
        embedding space.
    encoder_weight : ndarray of shape (m, d)
        The SAE encoder's weights, in scaled units (for NMF: the atoms).
    encoder_bias : ndarray of shape (m,)
        The SAE encoder's biases (for NMF: zeros).
    pre_bias : ndarray of shape (d,)
        :math:`b_{pre}`, in scaled units.
    input_scale : float
        :math:`s`, > 0.
    k : int or None, default None
        Active atoms per sample (SAEs; required for them), in [1, m].
    threshold : float or None, default None
        BatchTopK's inference threshold, in [0, :func:`threshold_limit`] (required for
        ``"batchtopk_sae"``).
    codes : ndarray of shape (n, m) or None, default None
        Codes of the training embeddings (>= 0).
    components : ndarray of shape (m, 2d) or None, default None
        NMF factors on the split (positive, negative) centred embeddings (required for
        ``"nmf"``).
    backbone_id : str or None, default None
        Backbone whose embeddings were decomposed (checked by
        :func:`~bottlekit.concepts.discovery.name_concepts`).
    history : list of float, default []
        Training loss per epoch (normalised MSE for SAEs; Frobenius error for NMF).
    params : dict, default {}
        The arguments of :func:`~bottlekit.concepts.discovery.discover` (JSON-storable).
    dead_atoms : list of int or None, default None
        The atoms that never fired on the training embeddings, where ``codes`` is None
        (a file saved without its codes records them); with ``codes``, they must agree.

    Examples
    --------
    >>> import numpy as np
    >>> d = ConceptDictionary("topk_sae", np.eye(2, 3), np.eye(2, 3), np.zeros(2),
    ...                       np.zeros(3), input_scale=1.0, k=1)
    >>> d.n_atoms, d.dim, d.n_dead
    (2, 3, 0)
    >>> z = d.encode([[2.0, 1.0, 0.0]])
    >>> z.tolist(), d.reconstruct(z).tolist()
    ([[2.0, 0.0]], [[2.0, 0.0, 0.0]])
    """

    method: str
    dictionary: np.ndarray
    encoder_weight: np.ndarray
    encoder_bias: np.ndarray
    pre_bias: np.ndarray
    input_scale: float
    k: int | None = None
    threshold: float | None = None
    codes: np.ndarray | None = None
    components: np.ndarray | None = None
    backbone_id: str | None = None
    history: list[float] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    dead_atoms: list[int] | None = None

    def __post_init__(self) -> None:
        # the checks of a dictionary file (load builds through here): a dictionary built in
        # memory with NaN atoms, shapes that disagree or a threshold no encoder reaches was
        # taken, and failed (or gave wrong codes) only when used
        for name, value in _checked_fields(vars(self)).items():
            setattr(self, name, value)

    # ------------------------------------------------------------------ sizes
    @property
    def n_atoms(self) -> int:
        """Number of atoms ``m``."""
        return int(self.dictionary.shape[0])

    @property
    def dim(self) -> int:
        """Embedding dimension ``d``."""
        return int(self.dictionary.shape[1])

    @property
    def dead(self) -> np.ndarray:
        """Mask of atoms that are zero on every training embedding: from ``codes``, else
        ``dead_atoms`` (a file saved without codes), else all False."""
        if self.codes is not None:
            return ~(self.codes > 0).any(axis=0)
        mask = np.zeros(self.n_atoms, dtype=bool)
        mask[self.dead_atoms or []] = True
        return mask

    @property
    def n_dead(self) -> int:
        """Atoms that never fire on the training embeddings."""
        return int(self.dead.sum())

    @property
    def n_duplicate(self) -> int:
        """Live atoms with cosine > 0.9 to an earlier live atom (see :func:`duplicate_atoms`)."""
        live = ~self.dead
        return int(duplicate_atoms(self.dictionary[live]).sum()) if live.any() else 0

    def __repr__(self) -> str:
        return (
            f"ConceptDictionary(method={self.method!r}, n_atoms={self.n_atoms}, d={self.dim}, "
            f"k={self.k}, n_dead={self.n_dead}, n_duplicate={self.n_duplicate}, "
            f"backbone_id={self.backbone_id!r})"
        )

    # --------------------------------------------------------------- encoding
    def linear_encoder(self) -> tuple[np.ndarray, np.ndarray]:
        r"""The encoder's affine part in the embedding space, :math:`(W, b)` with
        :math:`W x + b` the pre-activations (float64).

        For NMF, the projection of the centred embedding on each atom.

        Returns
        -------
        W : ndarray of shape (m, d), float64
            ``encoder_weight / input_scale``.
        b : ndarray of shape (m,), float64
            ``encoder_bias - encoder_weight @ pre_bias``.
        """
        W = self.encoder_weight.astype(np.float64) / self.input_scale
        b = self.encoder_bias.astype(np.float64) - self.encoder_weight @ self.pre_bias
        return W, b.astype(np.float64)

    def encode(self, X: Any) -> np.ndarray:
        """Sparse non-negative codes of embeddings ``X``.

        Parameters
        ----------
        X : array-like of shape (n, d)
            Embeddings of the backbone the dictionary was learned on (finite).

        Returns
        -------
        ndarray of shape (n, m), float32
            The codes, >= 0: the ``k`` largest pre-activations of each row (TopK), those
            above ``threshold`` (BatchTopK) or the non-negative least squares fit (NMF).
        """
        X = check_embeddings(X)
        if X.shape[1] != self.dim:
            raise ValueError(f"X: expected {self.dim} features, got {X.shape[1]}")
        return self._encode(X)

    def _encode(self, X: np.ndarray) -> np.ndarray:
        """:meth:`encode` of embeddings already checked (``check_embeddings``, ``d``
        features): ``discover``'s codes of its training embeddings."""
        if self.method == "nmf":
            return nmf_encode(X, self.components, self.pre_bias, self.input_scale)
        W, b = self.linear_encoder()
        # float32 throughout, in place: the values of
        # np.maximum(X @ W.T + b, 0) without its two temporary (n, m) arrays
        pre = X @ W.T.astype(np.float32)
        pre += b.astype(np.float32)
        np.maximum(pre, 0.0, out=pre)
        if self.method == "batchtopk_sae":
            return np.where(pre > self.threshold, pre, 0.0).astype(np.float32, copy=False)
        keep = min(int(self.k), self.n_atoms)
        cut = np.partition(pre, -keep, axis=1)[:, -keep][:, None]
        # ties at the cut may keep a few extra zeros-or-equals; the values are identical
        return np.where(pre >= cut, pre, 0.0).astype(np.float32, copy=False)

    def reconstruct(self, codes: np.ndarray) -> np.ndarray:
        r"""Embeddings rebuilt from ``codes`` (n, m).

        Parameters
        ----------
        codes : array-like of shape (n, m)
            Codes, e.g. from :meth:`encode` (finite).

        Returns
        -------
        ndarray of shape (n, d), float32
            :math:`s\,(z D + b_{pre})` (for NMF, from the positive minus negative halves
            of ``codes @ components``).
        """
        codes = as_real_array(codes, "codes")
        if codes.ndim != 2 or codes.shape[1] != self.n_atoms:
            raise ValueError(f"codes: expected shape (n, {self.n_atoms}), got {codes.shape}")
        if not np.isfinite(codes).all():
            raise ValueError("codes contains NaN or inf; expected finite codes")
        if self.method == "nmf":
            d = self.dim
            P = codes @ self.components
            return ((P[:, :d] - P[:, d:] + self.pre_bias) * self.input_scale).astype(np.float32)
        return ((codes @ self.dictionary + self.pre_bias) * self.input_scale).astype(np.float32)

    # ------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike, *, include_codes: bool = False) -> Path:
        """Write the dictionary to one ``.safetensors`` file, atomically.

        Parameters
        ----------
        path : path-like
            The file to write (conventionally ``*.safetensors``); replaced if it exists.
        include_codes : bool, default False
            Also store the training codes (n x m floats).

        Returns
        -------
        pathlib.Path
            The written path.

        Raises
        ------
        ValueError
            If :meth:`load` would refuse the file (its metadata beyond
            :data:`~bottlekit.safetensors_file.MAX_HEADER_BYTES` or
            :data:`~bottlekit.safetensors_file.MAX_HEADER_VALUES`); nothing is written.
        """
        from bottlekit._checks import check_bool
        from bottlekit.safetensors_file import encode_safetensors

        include_codes = check_bool(include_codes, "include_codes")
        tensors = {name: np.ascontiguousarray(getattr(self, name)) for name in _ARRAYS}
        if self.components is not None:
            tensors["components"] = np.ascontiguousarray(self.components)
        if include_codes and self.codes is not None:
            tensors["codes"] = np.ascontiguousarray(self.codes)
        meta = {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "method": self.method,
            "input_scale": float(self.input_scale),
            "k": self.k,
            "threshold": self.threshold,
            "backbone_id": self.backbone_id,
            "history": [float(h) for h in self.history],
            "params": self.params,
            # without the codes a loaded dictionary counted no atom dead, and
            # name_concepts named the dead ones too
            "dead_atoms": (
                np.flatnonzero(self.dead).tolist()
                if self.codes is not None or self.dead_atoms is not None
                else None
            ),
        }
        path = Path(path)
        data = encode_safetensors(
            tensors,
            meta,
            kind="concept dictionary",
            path=path,
            holds="the dictionary's history, parameters and backbone id",
        )
        atomic_write_bytes(path, data)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> ConceptDictionary:
        """Read a dictionary written by :meth:`save`; ``ValueError`` for any other file.

        Parameters
        ----------
        path : path-like
            A ``.safetensors`` file written by :meth:`save`.

        Returns
        -------
        ConceptDictionary
            The saved fields, arrays as float32; ``codes`` only if they were saved.
        """
        from bottlekit.safetensors_file import read_safetensors

        contents = read_safetensors(path, "concept dictionary")
        meta, source = contents.meta, repr(contents.path)
        if meta.get("format") != _FORMAT or meta.get("version") != _FORMAT_VERSION:
            raise ValueError(
                f"{source} is not a bottlekit concept dictionary (format "
                f"{meta.get('format')!r} v{meta.get('version')!r}; expected {_FORMAT!r} "
                f"v{_FORMAT_VERSION})"
            )
        allowed = set(_ARRAYS) | {"components", "codes"}
        missing, unknown = set(_ARRAYS) - set(contents), set(contents) - allowed
        if missing or unknown:
            raise ValueError(
                f"{source}: a concept dictionary holds {sorted(allowed)}; missing "
                f"{sorted(missing)}, unknown {sorted(unknown)}"
            )
        not_float = sorted(k for k, v in contents.items() if v.dtype.kind != "f")
        if not_float:
            k = not_float[0]
            raise ValueError(
                f"{source}: {k} has dtype {contents[k].dtype}; expected floats (float16, "
                "float32 or float64)"
            )
        arrays = {k: np.asarray(v, dtype=np.float32) for k, v in contents.items()}
        scalars = ("method", "input_scale", "k", "threshold", "backbone_id")
        fields = {key: meta.get(key) for key in scalars}
        fields |= {"history": meta.get("history") or [], "params": meta.get("params") or {}}
        fields["dead_atoms"] = meta.get("dead_atoms")  # absent from files before 2026-12-03
        try:
            return cls(**fields, **arrays)  # the constructor checks every field
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from None


#: How far, in units of the data scale ``input_scale``, an embedding that a BatchTopK
#: threshold was learned from can lie from the encoder's centre (see
#: :func:`threshold_limit`).
THRESHOLD_RADIUS = 2.0**32


def threshold_limit(encoder_weight: np.ndarray, encoder_bias: np.ndarray) -> float:
    r"""Largest BatchTopK threshold a dictionary with this encoder can have.

    The threshold is a running mean of BatchTopK's smallest kept pre-activations of the
    training embeddings (or, for ``encoder="decoder"``, one of them):
    :math:`w_j \cdot \tilde x + b_j` with :math:`\tilde x = x/s - b_{pre}`. The training
    embeddings lie within :math:`\sqrt n` of their mean in units of :math:`s` (their
    root-mean-square distance from it), under :math:`2^{31}` for any :math:`n < 2^{62}`,
    and :math:`b_{pre}` starts at that mean; :data:`THRESHOLD_RADIUS` (:math:`2^{32}`)
    allows as much again for its drift. So a threshold is at most
    :math:`\max_j (\lVert w_j\rVert R + |b_j|)`, and at most float32's largest value
    (``encode`` compares float32 pre-activations with it). Above, no embedding of the
    data's scale has a nonzero code: every code is 0.

    Parameters
    ----------
    encoder_weight : ndarray of shape (m, d)
        The encoder's rows :math:`w_j`.
    encoder_bias : ndarray of shape (m,)
        The encoder's intercepts :math:`b_j`.

    Returns
    -------
    float
        The largest threshold a dictionary with this encoder may hold.

    Examples
    --------
    >>> import numpy as np
    >>> f"{threshold_limit(np.eye(2, 3), np.array([0.0, -1.0])):.6g}"
    '4.29497e+09'
    """
    W = np.asarray(encoder_weight, dtype=np.float64)
    b = np.asarray(encoder_bias, dtype=np.float64)
    scale = np.abs(W).max(axis=1, keepdims=True)  # so that the norm cannot overflow
    norms = np.linalg.norm(W / np.where(scale == 0, 1.0, scale), axis=1) * scale[:, 0]
    peak = float((norms * THRESHOLD_RADIUS + np.abs(b)).max())
    return min(peak, float(np.finfo(np.float32).max))


def max_input_scale(dim: int) -> float:
    r"""Largest ``input_scale`` of a dictionary of embeddings of dimension ``dim``:
    :math:`2\sqrt{d}\,f_{32}`, the root-mean-square distance from their mean that float32
    embeddings (each entry at most :math:`f_{32}`, float32's largest value, in magnitude)
    cannot exceed.

    Parameters
    ----------
    dim : int
        :math:`d`, the embeddings' dimension.

    Returns
    -------
    float
        :math:`2\sqrt{d}\,f_{32}`.

    Examples
    --------
    >>> f"{max_input_scale(4):.4g}"
    '1.361e+39'
    """
    return 2.0 * float(np.sqrt(dim)) * float(np.finfo(np.float32).max)


def _checked_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields of a :class:`ConceptDictionary` after checking them: arrays read as real
    numbers (floats kept, integers as float32) of shapes consistent with the dictionary's
    ``(m, d)`` and the method, finite; the scalars in range. ``ValueError`` (``TypeError``
    for text or complex arrays) naming the field, what it holds and what was expected."""
    from bottlekit._arrays import check_magnitude
    from bottlekit._checks import check_choice, check_number, is_number

    out = dict(fields)
    method = out["method"] = check_choice(fields["method"], METHODS, "method")
    for key in (*_ARRAYS, "components", "codes"):
        if key in _ARRAYS or fields[key] is not None:
            a = as_real_array(fields[key], key, dtype=None)
            out[key] = a if a.dtype.kind == "f" else a.astype(np.float32)
    dictionary = out["dictionary"]
    if dictionary.ndim != 2 or dictionary.shape[0] < 1 or dictionary.shape[1] < 1:
        raise ValueError(
            f"dictionary has no atoms (shape {dictionary.shape}); expected (m, d) with m, d >= 1"
        )
    m, d = dictionary.shape
    shapes = {"dictionary": (m, d), "encoder_weight": (m, d), "encoder_bias": (m,)}
    shapes["pre_bias"] = (d,)
    if method == "nmf" and out["components"] is None:
        raise ValueError("components: an NMF dictionary needs its components (m, 2d)")
    if out["components"] is not None:
        shapes["components"] = (m, 2 * d)
    if out["codes"] is not None:
        codes = out["codes"]
        shapes["codes"] = (len(codes) if codes.ndim == 2 else -1, m)
    for key, shape in shapes.items():
        if out[key].shape != shape:
            raise ValueError(f"{key} has shape {out[key].shape}, not {shape}")
        if not np.isfinite(out[key]).all():
            raise ValueError(f"{key} contains NaN or inf")
        if key != "codes":  # the model files' rule: finite codes of unit-scale embeddings
            # before: an encoder_weight of 3e38 loaded and encode gave inf codes
            check_magnitude(out[key], key, m, d, units=("m", "atoms"), outputs="codes")
    if out["codes"] is not None and (out["codes"] < 0).any():
        # every encoder's codes are >= 0; dead (and n_dead, name_concepts' drop_dead) reads
        # an atom with only negative codes as dead
        raise ValueError("codes has negative values; expected the codes of an encoder, >= 0")
    if out["components"] is not None and (out["components"] < 0).any():
        # encode's non-negative least squares refused them from inside scikit-learn
        raise ValueError("components has negative values; expected NMF factors >= 0")
    # discover refuses a smaller spread: the encoder's weights over it overflow float32;
    # float32 embeddings (each entry within 3.4e38) cannot spread more than 2 sqrt(d)
    # 3.4e38 about their mean: before, an input_scale of 1e300 loaded, the encoder's
    # weights over it were 0 in float32, and every embedding got the same codes
    f32 = np.finfo(np.float32)
    out["input_scale"] = check_number(
        fields["input_scale"], "input_scale", low=float(f32.tiny), high=max_input_scale(d)
    )
    k, threshold = fields["k"], fields["threshold"]
    if method != "nmf" or k is not None:
        k = check_number(k, "k", integer=True, low=1, expected="an int >= 1")
        if k > m:
            raise ValueError(f"k: expected at most the dictionary's {m} atoms, got {k}")
    if method == "batchtopk_sae" or threshold is not None:
        limit = threshold_limit(out["encoder_weight"], out["encoder_bias"])
        # before: a threshold of 1e300 loaded, and every code was 0
        threshold = check_number(
            threshold,
            "threshold",
            low=0,
            high=limit,
            expected=(
                f"a finite number in [0, {limit:.6g}] (a pre-activation BatchTopK kept; "
                "above threshold_limit(encoder_weight, encoder_bias) every code is 0)"
            ),
        )
    out["k"], out["threshold"] = k, threshold
    backbone_id, history, params = fields["backbone_id"], fields["history"], fields["params"]
    if backbone_id is not None and (not isinstance(backbone_id, str) or not backbone_id):
        raise ValueError(f"backbone_id: expected None or a non-empty string, got {backbone_id!r}")
    if not isinstance(history, (list, tuple)) or not all(map(is_number, history)):
        raise ValueError(f"history: expected a list of numbers, got {history!r:.80}")
    if not isinstance(params, dict):
        raise ValueError(f"params: expected a dict, got {params!r:.80}")
    try:  # save stores it as JSON: before, a numpy int in it raised there, unnamed
        json.dumps(params)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"params: expected a dict that JSON can store (save writes it so), got one that "
            f"it cannot ({exc})"
        ) from None
    out["history"] = [float(h) for h in history]
    out["dead_atoms"] = _checked_dead_atoms(fields["dead_atoms"], out["codes"], m)
    out["params"] = dict(params)
    return out


def _checked_dead_atoms(dead_atoms: Any, codes: np.ndarray | None, m: int) -> list[int] | None:
    """``dead_atoms`` as a sorted list of distinct atom indices in ``[0, m)``, or None;
    with ``codes``, the atoms that never fire in them. ``ValueError`` otherwise."""
    from bottlekit._checks import is_number

    if dead_atoms is None:
        return None
    if not isinstance(dead_atoms, (list, tuple, np.ndarray)) or not all(
        is_number(j, integer=True) and 0 <= j < m for j in dead_atoms
    ):
        raise ValueError(
            f"dead_atoms: expected None or a list of atom indices in [0, {m}), got "
            f"{str(dead_atoms)[:80]}"
        )
    out = sorted(int(j) for j in dead_atoms)
    if len(set(out)) != len(out):
        raise ValueError(f"dead_atoms: expected distinct atom indices, got {str(dead_atoms)[:80]}")
    if codes is not None and out != np.flatnonzero(~(codes > 0).any(axis=0)).tolist():
        raise ValueError(
            f"dead_atoms: {str(out)[:80]} disagrees with the codes, whose atoms that never "
            f"fire are {str(np.flatnonzero(~(codes > 0).any(axis=0)).tolist())[:80]}"
        )
    return out
