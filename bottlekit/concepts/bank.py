"""``ConceptBank``: concept names, one vector per concept, and where each concept came from."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bottlekit._arrays import as_real_array
from bottlekit._checks import check_bool, check_choice, is_number, shown_value
from bottlekit.concepts._io import (
    MAX_NAME_CHARS,
    atomic_write_bytes,
    check_class_prior,
    check_name_lengths,
    check_names,
    check_provenance,
)
from bottlekit.concepts.errors import UnknownConceptError
from bottlekit.concepts.positions import concept_positions
from bottlekit.concepts.projection import ProjectionLayer, is_tensor, linear_concept_activations

_FORMAT = "bottlekit.ConceptBank"
_FORMAT_VERSION = 1

#: Concept kinds and how :meth:`ConceptBank.project` treats them.
KINDS = ("text", "cav", "discovered")
#: The kinds projected by cosine similarity (the others by the signed hyperplane distance).
COSINE_KINDS = ("text",)


def backbone_id_of(backbone: Any) -> str:
    """Return the identifier of a backbone object or pass a string through.

    Parameters
    ----------
    backbone : Backbone or str
        An object with a non-empty string ``id``, or the id itself.

    Returns
    -------
    str
        The backbone's id.

    Raises
    ------
    TypeError
        If ``backbone`` is neither.

    Examples
    --------
    >>> backbone_id_of("world-tiny/bottlekit/0123")
    'world-tiny/bottlekit/0123'
    >>> from types import SimpleNamespace
    >>> backbone_id_of(SimpleNamespace(id="toy"))
    'toy'
    """
    if isinstance(backbone, str):
        return backbone
    bid = getattr(backbone, "id", None)
    if not isinstance(bid, str) or not bid:
        raise TypeError(
            "backbone must be a string id or an object with a non-empty string attribute "
            f"`id`, got {type(backbone).__name__}"
        )
    return bid


def _float32_beyond(given: np.ndarray, cast: np.ndarray, arg: str, rows: str) -> None:
    """``ValueError`` naming ``arg`` where the float32 ``cast`` of the finite ``given``
    lost a row: a value beyond float32's range (it became inf, reported as "NaN or inf"
    before) or a nonzero row whose values all fell below its smallest (it became 0: an
    all-zero concept, or a zero embedding whose cosine activations were 0)."""
    if given.dtype.kind != "f" or given.dtype.itemsize <= 4:
        return  # integers and float16/32 keep their values in float32
    bad = np.flatnonzero(~np.isfinite(cast).all(axis=1))
    over = bad[np.isfinite(given[bad]).all(axis=1)]  # finite before the cast
    if len(over):
        first = int(over[0])
        raise ValueError(
            f"{arg}: {rows} {first} holds {float(np.abs(given[first]).max()):.3g}, beyond "
            "float32's range (3.4e38); expected values on a moderate scale (divide by the norm)"
        )
    zero = np.flatnonzero(~cast.any(axis=1))
    lost = zero[given[zero].any(axis=1)]  # nonzero before the cast
    if len(lost):
        raise ValueError(
            f"{arg}: {len(lost)} nonzero {rows}(s) (first: {int(lost[0])}) are below "
            "float32's smallest value and would become 0; expected values on a moderate "
            "scale (divide by the norm)"
        )


class ConceptBank:
    r"""The vocabulary of a concept bottleneck: names, vectors and provenance.

    Parameters
    ----------
    names : list of str
        Human-readable concept names; non-empty and unique.
    vectors : array of shape (k, d)
        One vector per concept in the backbone's embedding space (stored float32).
    backbone_id : str
        Identifier of the backbone whose embedding space the vectors live in.
    intercepts : array of shape (k,), optional
        Bias :math:`b_j` of each concept (non-zero for CAVs, zero for text concepts).
    provenance : list of dict, optional
        One JSON-serialisable dict per concept saying how it was made. The key ``"kind"``
        is ``"text"`` (CLIP text embedding), ``"cav"`` (concept activation vector) or
        ``"discovered"`` (a dictionary atom named afterwards, see
        :func:`~bottlekit.concepts.discovery.name_concepts`; projected like a CAV); it
        decides the projection (see :meth:`project`). Defaults to ``{"kind": "text"}``.
    class_prior : array of shape (n_classes, k), optional
        Class–concept association, e.g. 1 where an LLM proposed the concept for the class.
    class_names : list of str, optional
        Names of the rows of ``class_prior`` (required when ``class_prior`` is given).

    Attributes
    ----------
    filter_report : FilterReport or None
        Set on the bank :func:`~bottlekit.concepts.filter_concepts` returns: what each
        filter removed and why (None otherwise; not saved).

    Notes
    -----
    Projection (:meth:`project`) follows the papers:

    * CAV concepts (Post-hoc CBM, Yuksekgonul et al. 2022): the signed distance of the
      embedding to the SVM hyperplane, :math:`a_j(x) = (v_j \cdot x + b_j) / \lVert v_j\rVert`.
    * text concepts (LaBo, Label-free CBM): the cosine similarity
      :math:`a_j(x) = v_j \cdot x / (\lVert v_j\rVert \lVert x\rVert)`; for the L2-normalised
      embeddings the backbones return this equals PCBM's formula with :math:`b_j = 0`.

    Examples
    --------
    >>> import numpy as np
    >>> bank = ConceptBank(["red", "round"], np.eye(2, 3), backbone_id="toy")
    >>> bank.project(np.array([[1.0, 0.0, 0.0]])).round(3)
    array([[1., 0.]], dtype=float32)
    >>> len(bank)
    2
    """

    def __init__(
        self,
        names: Sequence[str],
        vectors: np.ndarray,
        backbone_id: str,
        *,
        intercepts: np.ndarray | None = None,
        provenance: Sequence[dict] | None = None,
        class_prior: np.ndarray | None = None,
        class_names: Sequence[str] | None = None,
    ) -> None:
        self.names = check_names(names, "names")
        k = len(self.names)
        if not isinstance(backbone_id, str) or not backbone_id:
            raise TypeError(f"backbone_id must be a non-empty string, got {backbone_id!r}")
        if len(backbone_id) > MAX_NAME_CHARS:  # load refuses it (shown by check_backbone)
            raise ValueError(
                f"backbone_id has {len(backbone_id)} characters (starting "
                f"{backbone_id[:40]!r}); expected at most {MAX_NAME_CHARS} (MAX_NAME_CHARS), "
                "the longest load accepts"
            )
        self.backbone_id = backbone_id

        vectors = as_real_array(vectors, "vectors", dtype=None)
        if vectors.ndim != 2 or vectors.shape[0] != k:
            raise ValueError(
                f"vectors must have shape (len(names), d) = ({k}, d), got {vectors.shape}"
            )
        if vectors.shape[1] == 0:
            raise ValueError("vectors has zero columns; expected an embedding dimension d >= 1")
        if not np.issubdtype(vectors.dtype, np.number):
            raise TypeError(f"vectors must be numeric, got dtype {vectors.dtype}")
        given = vectors
        with np.errstate(over="ignore", under="ignore"):
            vectors = vectors.astype(np.float32)
        if vectors.size:
            _float32_beyond(given, vectors, "vectors", "row")
        bad = ~np.isfinite(vectors).all(axis=1)
        if bad.any():
            which = [self.names[i] for i in np.flatnonzero(bad)[:5]]
            raise ValueError(
                f"vectors contain NaN or inf for {int(bad.sum())} concept(s), e.g. {which}; "
                "every concept vector must be finite"
            )
        zero = ~vectors.any(axis=1)  # a float32 norm of 1e-30 entries underflows to 0
        if zero.any():
            which = [self.names[i] for i in np.flatnonzero(zero)[:5]]
            raise ValueError(f"vectors has all-zero rows for concept(s) {which}; cannot project")
        self.vectors = vectors

        if intercepts is None:
            intercepts = np.zeros(k, dtype=np.float32)
        intercepts = as_real_array(intercepts, "intercepts", dtype=None).astype(np.float32)
        if intercepts.shape != (k,):
            raise ValueError(f"intercepts must have shape ({k},), got {intercepts.shape}")
        if not np.isfinite(intercepts).all():
            raise ValueError("intercepts contain NaN or inf; expected finite values")
        self.intercepts = intercepts

        if provenance is None:
            provenance = [{"kind": "text"} for _ in range(k)]
        provenance = check_provenance(provenance)
        if len(provenance) != k:
            raise ValueError(
                f"provenance must have one dict per concept ({k}), got {len(provenance)}"
            )
        for i, p in enumerate(provenance):
            p.setdefault("kind", "text")
            check_choice(p["kind"], KINDS, f"provenance[{i}]['kind']", wording="must")
            try:
                json.dumps(p)
            except TypeError as exc:
                raise TypeError(f"provenance[{i}] is not JSON-serialisable: {exc}") from None
            except ValueError as exc:  # an int of more digits than JSON text may hold
                raise ValueError(
                    f"provenance[{i}] cannot be written as JSON ({exc}); expected values "
                    "that save can write and load read back"
                ) from None
        self.provenance = provenance

        self.class_names, self.class_prior = check_class_prior(class_prior, class_names, k)
        self.filter_report = None

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.names)

    @property
    def dim(self) -> int:
        """Embedding dimension ``d``."""
        return int(self.vectors.shape[1])

    @property
    def kinds(self) -> list[str]:
        """Per-concept kind (``"text"``, ``"cav"`` or ``"discovered"``)."""
        return [p["kind"] for p in self.provenance]

    def __repr__(self) -> str:
        shown = ", ".join(shown_value(n) for n in self.names[:4])
        more = f", ... (+{len(self) - 4})" if len(self) > 4 else ""
        return (
            f"ConceptBank(k={len(self)}, d={self.dim}, backbone_id={self.backbone_id!r}, "
            f"names=[{shown}{more}])"
        )

    def index(self, name: str) -> int:
        """Position of concept ``name``.

        Parameters
        ----------
        name : str
            A concept name of the bank (exact match).

        Returns
        -------
        int
            Its index in ``names`` (and row of ``vectors``).

        Raises
        ------
        UnknownConceptError
            (a ``KeyError``) if ``name`` is not in the bank, naming the close matches.
        """
        try:
            return self.names.index(name)
        except ValueError:
            raise UnknownConceptError(
                name, self.names, known_as=f"this bank's {len(self)} concepts"
            ) from None

    # -------------------------------------------------------------- projection
    @property
    def cosine(self) -> np.ndarray:
        """Boolean mask (k,) of the concepts projected by cosine similarity (text concepts)."""
        return np.array([k in COSINE_KINDS for k in self.kinds], dtype=bool)

    def projection_layer(self, dtype: Any = np.float32) -> ProjectionLayer:
        r"""The linear layer :meth:`project` applies: unit weights, scaled bias, cosine mask.

        Parameters
        ----------
        dtype : floating-point numpy dtype, default float32
            dtype of the returned weights and bias (computed in float64, then cast).

        Returns
        -------
        ProjectionLayer
            ``weights`` :math:`v_j/\lVert v_j\rVert` (k, d), ``bias``
            :math:`b_j/\lVert v_j\rVert` (k,) and ``cosine`` (:attr:`cosine`), so that
            ``project(X) == linear_concept_activations(X, *layer)``.

        Examples
        --------
        >>> import numpy as np
        >>> bank = ConceptBank(["a"], np.array([[3.0, 4.0]]), "toy", intercepts=[10.0])
        >>> layer = bank.projection_layer()
        >>> layer.weights, layer.bias, layer.cosine
        (array([[0.6, 0.8]], dtype=float32), array([2.], dtype=float32), array([ True]))
        """
        try:
            kind = np.dtype(dtype).kind
        except TypeError:
            kind = None
        if kind != "f":  # before: an integer dtype truncated the unit weights to 0
            raise TypeError(
                f"dtype: expected a floating-point numpy dtype, got {shown_value(dtype)}"
            )
        norms = np.linalg.norm(self.vectors.astype(np.float64), axis=1, keepdims=True)
        return ProjectionLayer(
            (self.vectors / norms).astype(dtype),
            (self.intercepts / norms[:, 0]).astype(dtype),
            self.cosine,
        )

    def project(self, X: Any) -> Any:
        r"""Concept activations of embeddings ``X`` (numpy array or torch tensor).

        Parameters
        ----------
        X : array or torch.Tensor of shape (n, d)
            Embeddings from the backbone named by ``backbone_id``.

        Returns
        -------
        A : ndarray of shape (n, k), float32, or torch.Tensor of shape (n, k)
            :math:`A_{ij} = (v_j \cdot x_i + b_j)/\lVert v_j\rVert` for CAV concepts and
            :math:`A_{ij} = (v_j \cdot x_i / \lVert x_i\rVert + b_j)/\lVert v_j\rVert`
            for text concepts (the cosine similarity, as text concepts have :math:`b_j = 0`).
            A tensor ``X`` gives a tensor of its dtype and device, differentiable in ``X``.
            Both go through :func:`~bottlekit.concepts.projection.linear_concept_activations`
            with :meth:`projection_layer`.

        Examples
        --------
        >>> import numpy as np
        >>> bank = ConceptBank(["a"], np.array([[3.0, 4.0]]), "toy")
        >>> float(bank.project(np.array([[0.6, 0.8]]))[0, 0])
        1.0
        >>> import torch
        >>> bank.project(torch.tensor([[0.6, 0.8]], dtype=torch.float64, requires_grad=True))
        tensor([[1.]], dtype=torch.float64, grad_fn=<AddBackward0>)
        """
        tensor = is_tensor(X)
        if not tensor:
            X = as_real_array(X, "X", dtype=None)
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(f"X must have shape (n, {self.dim}), got {tuple(X.shape)}")
        if tensor:
            if not X.is_floating_point():
                raise TypeError(f"X: expected a floating-point tensor, got dtype {X.dtype}")
            # float64 layer, cast by linear_concept_activations to X's dtype
            return linear_concept_activations(X, *self.projection_layer(np.float64))
        given = X
        with np.errstate(over="ignore", under="ignore"):
            X = X.astype(np.float32, copy=False)
        if X.size:
            _float32_beyond(given, X, "X", "row")
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or inf; expected finite embeddings")
        return linear_concept_activations(X, *self.projection_layer()).astype(
            np.float32, copy=False
        )

    # ---------------------------------------------------------------- editing
    def _indices(self, items) -> list[int]:
        """Positions of ``items`` (names, positions or a mask), in order; negative
        positions count from the end, as in numpy (see ``concepts/positions.py``)."""
        k = len(self)
        return concept_positions(
            items,
            self.names,
            "items",
            expected=f"concept positions in -{k}..{k - 1} of the {k} concepts",
            known_as=f"this bank's {k} concepts",
            negative=True,
            mask=True,
            single=False,
        )

    def subset(self, items: Any) -> ConceptBank:
        """A new bank holding the given concepts, in the given order.

        Parameters
        ----------
        items : str, list of str or int, or boolean mask of shape (k,)
            Names, indices or a mask.

        Returns
        -------
        ConceptBank
            Those concepts' names, vectors, intercepts, provenance (copied) and
            ``class_prior`` columns; the same backbone and class names.
        """
        idx = self._indices(items)
        if not idx:
            raise ValueError("subset selects no concepts; a bank needs at least one")
        return ConceptBank(
            [self.names[i] for i in idx],
            self.vectors[idx],
            self.backbone_id,
            intercepts=self.intercepts[idx],
            provenance=[copy.deepcopy(self.provenance[i]) for i in idx],
            class_prior=None if self.class_prior is None else self.class_prior[:, idx],
            class_names=self.class_names,
        )

    def merge(self, other: ConceptBank, *, on_duplicate: str = "error") -> ConceptBank:
        """Concatenate two banks built on the same backbone.

        Parameters
        ----------
        other : ConceptBank
            A bank of the same ``backbone_id`` and dimension.
        on_duplicate : {"error", "keep_first"}
            What to do with a name present in both banks.

        Returns
        -------
        ConceptBank
            Concepts of ``self`` then those of ``other``. Class priors are aligned on the
            union of class names (missing associations are 0).
        """
        if not isinstance(other, ConceptBank):
            raise TypeError(f"other must be a ConceptBank, got {type(other).__name__}")
        check_choice(
            on_duplicate,
            ("error", "keep_first"),
            "on_duplicate",
            expected="'error' or 'keep_first'",
            wording="must",
        )
        self.check_backbone(other.backbone_id)
        if other.dim != self.dim:
            raise ValueError(f"cannot merge banks of dimension {self.dim} and {other.dim}")
        mine = set(self.names)
        dup = [n for n in other.names if n in mine]
        if dup and on_duplicate == "error":
            raise ValueError(
                f"banks share {len(dup)} name(s), e.g. {dup[:5]}; pass on_duplicate='keep_first'"
            )
        keep = [i for i, n in enumerate(other.names) if n not in mine]
        names = self.names + [other.names[i] for i in keep]
        vectors = np.vstack([self.vectors, other.vectors[keep]])
        intercepts = np.concatenate([self.intercepts, other.intercepts[keep]])
        prov = copy.deepcopy(self.provenance) + [copy.deepcopy(other.provenance[i]) for i in keep]
        prior, cnames = None, None
        if self.class_prior is not None or other.class_prior is not None:
            cnames = list(self.class_names or [])
            cnames += [c for c in (other.class_names or []) if c not in cnames]
            prior = np.zeros((len(cnames), len(names)), dtype=np.float32)
            if self.class_prior is not None:
                rows = [cnames.index(c) for c in self.class_names]
                prior[rows, : len(self)] = self.class_prior
            if other.class_prior is not None:
                rows = [cnames.index(c) for c in other.class_names]
                prior[np.ix_(rows, range(len(self), len(names)))] = other.class_prior[:, keep]
        return ConceptBank(
            names,
            vectors,
            self.backbone_id,
            intercepts=intercepts,
            provenance=prov,
            class_prior=prior,
            class_names=cnames,
        )

    # ------------------------------------------------------------ persistence
    def check_backbone(self, backbone: Any, *, same_weights: bool = True) -> None:
        """Raise ``ValueError`` unless ``backbone`` (object with ``.id`` or id string) matches.

        The vectors are only meaningful in the embedding space they were computed in.

        Parameters
        ----------
        backbone : Backbone or str
            The backbone (or its id, ``"<architecture>/<weights tag>/<hash>"``).
        same_weights : bool, default=True
            False: only the architecture (the id's first part) must match, so the bank may
            be applied to other weights of the same model, as the model-randomisation
            sanity check of concept maps does (Adebayo et al. 2018). A bank of another
            architecture is refused even when the widths agree.
        """
        bid = backbone_id_of(backbone)
        same_weights = check_bool(same_weights, "same_weights")
        if not same_weights:
            ours, theirs = bid.split("/", 1)[0], self.backbone_id.split("/", 1)[0]
            if ours != theirs:
                raise ValueError(
                    f"concept bank was built for architecture {theirs!r} "
                    f"(backbone {self.backbone_id!r}) but is used with {ours!r} "
                    f"(backbone {bid!r}); build the bank on this backbone (e.g. from_text)"
                )
        elif bid != self.backbone_id:
            raise ValueError(
                f"concept bank was built for backbone {self.backbone_id!r} but is used with "
                f"backbone {bid!r}; rebuild the bank with this backbone (e.g. from_text) "
                "or load the matching backbone"
            )
        dim = getattr(backbone, "embed_dim", None)
        if is_number(dim, integer=True) and dim != self.dim:
            raise ValueError(
                f"backbone {bid!r} has embed_dim {dim} but the bank's vectors have d={self.dim}"
            )

    def to_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and JSON-able metadata that describe the bank (see :meth:`from_state`).

        Returns
        -------
        tensors : dict of str to ndarray
            ``"vectors"`` (k, d) and ``"intercepts"`` (k,), float32, and
            ``"class_prior"`` (n_classes, k) when the bank has one (not copied).
        meta : dict
            ``format``, ``version``, ``names``, ``backbone_id``, ``provenance`` and
            ``class_names``: what :meth:`save` writes as JSON.
        """
        tensors = {"vectors": self.vectors, "intercepts": self.intercepts}
        if self.class_prior is not None:
            tensors["class_prior"] = self.class_prior
        meta = {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "names": self.names,
            "backbone_id": self.backbone_id,
            "provenance": self.provenance,
            "class_names": self.class_names,
        }
        return tensors, meta

    @classmethod
    def from_state(
        cls, tensors: dict[str, np.ndarray], meta: dict[str, Any], source: str = "state"
    ) -> ConceptBank:
        """Rebuild a bank from :meth:`to_state` output; ``source`` names it in errors.

        Parameters
        ----------
        tensors : dict of str to ndarray
            ``"vectors"``, ``"intercepts"`` and optionally ``"class_prior"``, float arrays.
        meta : dict
            The metadata :meth:`to_state` returns (its ``format`` and ``version`` must
            match this version of bottlekit).
        source : str, default "state"
            What the state was read from (a file name), at the start of error messages.

        Returns
        -------
        ConceptBank
            The bank; ``ValueError`` naming ``source`` if the state is malformed.
        """
        if not isinstance(meta, dict):  # a model file's concepts.bank entry, say
            raise ValueError(
                f"{source}: the bank's metadata is a {type(meta).__name__}; expected a JSON "
                "object (the dict ConceptBank.to_state returns)"
            )
        if meta.get("format") != _FORMAT or meta.get("version") != _FORMAT_VERSION:
            raise ValueError(
                f"{source} has format {meta.get('format')!r} v{meta.get('version')!r}; "
                f"expected {_FORMAT!r} v{_FORMAT_VERSION}"
            )
        missing = {"vectors", "intercepts"} - set(tensors)
        if missing:
            raise ValueError(f"{source} lacks the arrays {sorted(missing)} of a ConceptBank")
        unknown = sorted(set(tensors) - {"vectors", "intercepts", "class_prior"})
        if unknown:
            raise ValueError(f"{source} holds unknown arrays {unknown}; not a ConceptBank")
        for key, value in tensors.items():
            if np.asarray(value).dtype.kind != "f":
                raise ValueError(
                    f"{source}: {key} has dtype {np.asarray(value).dtype}; expected floats"
                )
        fields = {"names": list, "backbone_id": str, "provenance": (list, type(None))}
        for key, kind in fields.items():  # present: a missing provenance is not None
            if key not in meta or not isinstance(meta[key], kind):
                raise ValueError(f"{source}: the bank's {key!r} entry is missing or malformed")
        if not isinstance(meta.get("class_names"), (list, type(None))):
            raise ValueError(f"{source}: the bank's 'class_names' entry is malformed")
        for key in ("names", "class_names"):
            check_name_lengths(meta.get(key) or [], f"the bank's {key}", source)
        if len(meta["backbone_id"]) > MAX_NAME_CHARS:  # shown by every check_backbone
            raise ValueError(
                f"{source}: the bank's backbone_id has {len(meta['backbone_id'])} characters; "
                f"at most {MAX_NAME_CHARS} are accepted"
            )
        try:
            return cls(
                meta["names"],
                tensors["vectors"],
                meta["backbone_id"],
                intercepts=tensors["intercepts"],
                provenance=meta["provenance"],
                class_prior=tensors.get("class_prior"),
                class_names=meta.get("class_names"),
            )
        except (TypeError, ValueError) as exc:  # a name not a string, shapes that disagree
            raise ValueError(f"{source}: malformed concept bank ({exc})") from None

    def save(self, path: str | os.PathLike) -> Path:
        """Write the bank to one ``.safetensors`` file (arrays + JSON metadata), atomically.

        The JSON part (names, backbone id, provenance, class names) is stored in the
        safetensors header metadata under the key ``"bottlekit"`` and can be read with
        ``safetensors.safe_open(path, "np").metadata()``.

        Parameters
        ----------
        path : path-like
            The file to write (conventionally ``*.safetensors``); replaced if it exists.

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
            Names too long for :meth:`load` are refused when the bank is made.
        """
        from bottlekit.safetensors_file import encode_safetensors

        path = Path(path)
        tensors, meta = self.to_state()
        data = encode_safetensors(
            tensors,
            meta,
            kind="concept bank",
            path=path,
            holds="the bank's names, provenance and class names",
        )
        atomic_write_bytes(path, data)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, backbone: Any = None) -> ConceptBank:
        """Read a bank written by :meth:`save`.

        Parameters
        ----------
        path : path-like
            A ``.safetensors`` file written by :meth:`save`.
        backbone : Backbone or str, optional
            If given, the bank's ``backbone_id`` must match (``ValueError`` otherwise).

        Returns
        -------
        ConceptBank
            The bank as it was saved (without ``filter_report``, which is not saved).
        """
        from bottlekit.safetensors_file import read_safetensors

        contents = read_safetensors(path, "concept bank")
        bank = cls.from_state(dict(contents), contents.meta, source=repr(contents.path))
        if backbone is not None:
            bank.check_backbone(backbone)
        return bank
