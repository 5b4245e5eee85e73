r"""What every concept-bottleneck model shares: concept layer, linear head, editing, I/O.

A bottlekit concept-bottleneck model (CBM) on embeddings :math:`x \in \mathbb{R}^d` is

.. math::

    a_j(x) = \sigma\bigl(w_j \cdot \tilde x_j + b_j\bigr), \qquad
    z(x) = A\,a(x) + c \;[+\; R\,x + r],

concept activations :math:`a` (:math:`\tilde x_j = x/\lVert x\rVert` for concepts that
use cosine similarity, :math:`\sigma` the identity or the logistic function), a linear
head :math:`(A, c)` over the concepts, and, for hybrid models, a residual :math:`(R, r)`
on the raw embedding. The models differ only in how they *learn* :math:`w, b, A, c, R, r`
(``_fit_bottleneck``); prediction, explanation, editing and persistence live here once.
"""

from __future__ import annotations

import copy
import numbers
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.special import expit, log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from bottlekit._arrays import encode_class_labels, refuse_text
from bottlekit._checks import check_bool, check_choice, check_positive_int, check_seed, int_seed
from bottlekit.atomic import atomic_write_bytes
from bottlekit.bottleneck._model_file import (
    BASE_STATE,
    MAX_JSON_ARRAY_BYTES,
    check_state,
    from_json_value,
)
from bottlekit.bottleneck.explanation import ConceptExplanation
from bottlekit.concepts.bank import ConceptBank
from bottlekit.concepts.positions import concept_positions
from bottlekit.concepts.projection import linear_concept_activations
from bottlekit.devices import as_tensor
from bottlekit.safetensors_file import encode_safetensors, read_safetensors

__all__ = ["BaseConceptBottleneck", "align_class_prior", "resolve_concepts"]

_FORMAT = "bottlekit.ConceptBottleneck"
_FORMAT_VERSION = 1
LINKS = ("identity", "sigmoid")
_REQUIRED = (
    "concept_names_",
    "concept_weights_",
    "concept_bias_",
    "concept_normalize_",
    "concept_link_",
    "coef_",
    "intercept_",
    "residual_coef_",
    "residual_intercept_",
)


def resolve_concepts(concepts: Any, n_features: int) -> ConceptBank:
    """The concept bank a model fits with, for data with ``n_features`` columns.

    Parameters
    ----------
    concepts : ConceptBank or object with ``resolve(dim) -> ConceptBank``
        A bank, or a specification such as :class:`~bottlekit.concepts.RandomConcepts`.
    n_features : int
        Embedding dimension of the training data.

    Returns
    -------
    ConceptBank
    """
    if isinstance(concepts, ConceptBank):
        bank = concepts
    elif callable(getattr(concepts, "resolve", None)):
        bank = concepts.resolve(n_features)
        if not isinstance(bank, ConceptBank):
            raise TypeError(f"{concepts!r}.resolve() returned {type(bank).__name__}, not a bank")
    else:
        raise TypeError(
            "concepts: expected a ConceptBank (e.g. from bottlekit.concepts.from_text) or "
            f"RandomConcepts, got {type(concepts).__name__}"
        )
    if bank.dim != n_features:
        raise ValueError(
            f"the concept bank's vectors have dimension {bank.dim} but X has {n_features} "
            "features; X must hold embeddings from the backbone the bank was built with "
            f"(bank backbone_id={bank.backbone_id!r})"
        )
    return bank


def align_class_prior(bank: ConceptBank, classes: np.ndarray) -> np.ndarray | None:
    """Rows of ``bank.class_prior`` in the order of ``classes`` (None without a prior).

    Labels are matched to ``bank.class_names`` by name; integer labels ``0..C-1`` are
    taken as indices into ``bank.class_names``.
    """
    if bank.class_prior is None:
        return None
    names = bank.class_names
    labels = [str(c) for c in classes]
    if all(label in names for label in labels):
        rows = [names.index(label) for label in labels]
    elif np.issubdtype(np.asarray(classes).dtype, np.integer) and (
        int(np.min(classes)) >= 0 and int(np.max(classes)) < len(names)
    ):
        rows = [int(c) for c in classes]
    else:
        raise ValueError(
            f"the bank's class prior is over the classes {names[:4]}... but y has labels "
            f"{labels[:4]}...; give y as those class names or as indices 0..{len(names) - 1}"
        )
    return np.asarray(bank.class_prior[rows], dtype=np.float64)


def _to_json(value: Any, key: str) -> Any:
    """JSON form of a learned attribute; ``TypeError`` if it cannot be stored."""
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_to_json(v, key) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json(v, key) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot save attribute {key!r} of type {type(value).__name__}")


def _is_device_name(device: Any) -> bool:
    """Whether ``device`` is text torch reads as a device (``"cpu"``, ``"cuda:7"``): a
    model trained on a device this machine lacks still loads (prediction runs in numpy)."""
    import torch

    if not isinstance(device, str) or len(device) > 64:
        return False
    try:
        torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


def _as_values(values: Any, name: str) -> np.ndarray:
    """Intervention values as a float array; ``TypeError`` naming ``name`` otherwise."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name}: expected numbers (NaN leaves a concept unchanged), got {values!r}"[:300]
        ) from None


class BaseConceptBottleneck(ClassifierMixin, TransformerMixin, BaseEstimator):
    """Base class of the concept-bottleneck models; see the module docstring.

    Subclasses implement ``_fit_bottleneck(X, y, bank, prior, rng, **fit_params)``, which
    sets the attributes named in ``_REQUIRED``, and ``_check_params()``; the keyword
    arguments ``fit`` passes on are those named in ``_FIT_PARAMS``.

    Examples
    --------
    Every concept-bottleneck model (here :class:`~bottlekit.bottleneck.PosthocCBM`) has
    these methods:

    >>> import numpy as np
    >>> from bottlekit.bottleneck import BaseConceptBottleneck, PosthocCBM
    >>> from bottlekit.concepts import RandomConcepts
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(40, 6)), np.repeat([0, 1], 20)
    >>> model = PosthocCBM(RandomConcepts(4), lam=1e-3).fit(X, y)
    >>> isinstance(model, BaseConceptBottleneck)
    True
    >>> model.transform(X).shape, model.predict_proba(X).shape, model.predict(X[:3]).shape
    ((40, 4), (40, 2), (3,))
    """

    _registry: ClassVar[dict[str, type]] = {}
    # Learned attributes of a subclass beyond BASE_STATE (see _model_file.py): what a
    # model file may hold for it.
    _EXTRA_STATE: ClassVar[dict[str, tuple]] = {}
    #: Attributes of _EXTRA_STATE added after the first files were written: a file without
    #: one (an older file) loads it as None, which their kinds ("...?") allow.
    _ADDED_STATE: ClassVar[tuple[str, ...]] = ()
    #: Deprecated alias -> new name of renamed hyper-parameters (files saved before the
    #: rename are read with the new name).
    _renamed_params: ClassVar[dict[str, str]] = {}
    #: The model-specific keyword arguments of ``fit`` (others are refused up front).
    _FIT_PARAMS: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        BaseConceptBottleneck._registry[cls.__name__] = cls

    # ------------------------------------------------------------------ hooks
    @classmethod
    def _params_of_old_files(cls, params: dict[str, Any]) -> dict[str, Any]:
        """A model file's hyper-parameters as this release reads them (``load``).

        A setting that only some modes read defaults to None ("the documented default"),
        and fit refuses a value where it has no effect. Files saved before hold the old
        default in every mode; a subclass maps those, where the file's mode did not read
        them, back to None, so that the loaded model can be fitted again.
        """
        return params

    def _check_params(self) -> None:  # pragma: no cover - overridden
        pass

    def _fit_bottleneck(self, X, y, bank, prior, rng, **fit_params) -> None:
        raise NotImplementedError

    def _check_loaded_state(self, source: str) -> None:
        """Checks of a loaded file that tie a subclass's attributes together (beyond the
        shapes of ``_EXTRA_STATE``); ``ValueError`` naming ``source``. None by default."""

    #: How ``concept_names_`` follow the names of a :class:`ConceptBank` given as
    #: ``concepts``: ``"all"`` (the bank's names, in its order: the concept layer is the
    #: bank), ``"some"`` (some of them, in the bank's order) or None (the subclass checks
    #: them, or names its concepts itself).
    _NAMES_OF_THE_BANK: ClassVar[str | None] = None

    def _check_concepts_and_params(self, source: str) -> None:
        """What :meth:`load` refuses and :meth:`save` will not write, beyond the schema:
        ``concept_names_`` that do not follow the stored bank's names (a file of a bank
        whose names differ explains its weights with the wrong concepts) and a ``device``
        that is not a device's name. ``ValueError`` naming ``source``."""
        device = getattr(self, "device", None)
        if device is not None and not _is_device_name(device):
            raise ValueError(
                f"{source}: device is {repr(device)[:80]}; expected None or the name of a "
                "torch device such as 'cpu', 'cuda' or 'cuda:1'"
            )
        bank, rule = self.concepts, self._NAMES_OF_THE_BANK
        if rule is None or not isinstance(bank, ConceptBank):
            return
        names = list(self.concept_names_)
        if rule == "all" and names != list(bank.names):
            j = next(
                (i for i, (a, b) in enumerate(zip(names, bank.names, strict=False)) if a != b),
                min(len(names), len(bank)),
            )
            got = names[j] if j < len(names) else "(none)"
            want = bank.names[j] if j < len(bank) else "(none)"
            raise ValueError(
                f"{source}: concept_names_[{j}] is {got!r} but the stored bank's concept {j} "
                f"is {want!r}; expected the bank's {len(bank)} names, in its order (the "
                f"concept layer of a {type(self).__name__} is its bank)"
            )
        if rule == "some":
            position = {n: i for i, n in enumerate(bank.names)}
            stray = [n for n in names if n not in position]
            if stray:
                raise ValueError(
                    f"{source}: concept_names_ holds {stray[0]!r}, which is not a concept of "
                    "the stored bank; expected some of the bank's names, in its order"
                )
            at = [position[n] for n in names]
            if at != sorted(at):
                raise ValueError(
                    f"{source}: concept_names_ lists the stored bank's concepts out of the "
                    "bank's order; expected some of the bank's names, in its order"
                )

    # -------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any, **fit_params: Any) -> BaseConceptBottleneck:
        """Fit the concept layer and the head on embeddings ``X`` and labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, d)
            Image embeddings in the concept bank's space.
        y : array-like of shape (n_samples,)
            Class labels (at least two classes).
        **fit_params
            Model-specific (e.g. ``concept_labels`` for :class:`KnowledgeCBM`).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        extra = sorted(set(fit_params) - set(self._FIT_PARAMS))
        if extra:
            takes = ", ".join(self._FIT_PARAMS) or "none"
            raise TypeError(
                f"{type(self).__name__}.fit got unexpected arguments {extra}; its own are: {takes}"
            )
        self._check_params()
        seed = int_seed(self.random_state)
        X, y = validate_data(self, refuse_text(X), y, dtype=np.float64)
        self.classes_, y_idx = encode_class_labels(y)
        if len(self.classes_) < 2:
            raise ValueError(
                f"y has one class only ({self.classes_[0]!r}); a classifier needs at least two"
            )
        bank = resolve_concepts(self.concepts, X.shape[1])
        prior = align_class_prior(bank, self.classes_)
        self._fit_bottleneck(
            X, y_idx.astype(np.int64), bank, prior, np.random.default_rng(seed), **fit_params
        )
        self._check_fitted_layout(X.shape[1])
        A = self._activations(X)
        self.concept_mean_ = A.mean(0).astype(np.float32)
        self.concept_scale_ = A.std(0).astype(np.float32)
        self.concept_low_ = np.percentile(A, 5, axis=0).astype(np.float32)
        self.concept_high_ = np.percentile(A, 95, axis=0).astype(np.float32)
        self.pruned_concepts_ = []
        return self

    def _check_fitted_layout(self, d: int) -> None:
        missing = [a for a in _REQUIRED if not hasattr(self, a)]
        if missing:
            raise RuntimeError(f"{type(self).__name__}._fit_bottleneck did not set {missing}")
        k, C = len(self.concept_names_), len(self.classes_)
        shapes = {
            "concept_weights_": (k, d),
            "concept_bias_": (k,),
            "concept_normalize_": (k,),
            "coef_": (C, k),
            "intercept_": (C,),
        }
        if self.residual_coef_ is not None:
            shapes |= {"residual_coef_": (C, d), "residual_intercept_": (C,)}
        for name, shape in shapes.items():
            if np.shape(getattr(self, name)) != shape:
                raise RuntimeError(
                    f"{name} has shape {np.shape(getattr(self, name))}, not {shape}"
                )
        if self.concept_link_ not in LINKS:
            raise RuntimeError(f"concept_link_ {self.concept_link_!r} not in {LINKS}")

    # ----------------------------------------------------------- forward pass
    def _check_X(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "coef_")
        return validate_data(self, refuse_text(X), reset=False, dtype=np.float64)

    def _activations(self, X: np.ndarray) -> np.ndarray:
        Z = linear_concept_activations(
            X,
            self.concept_weights_.astype(np.float64),
            self.concept_bias_,
            self.concept_normalize_,
        )
        return expit(Z) if self.concept_link_ == "sigmoid" else Z

    def _logits_parts(self, X: np.ndarray, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Concept part ``A @ coef_.T + intercept_`` and residual part of the logits."""
        head = A @ self.coef_.T.astype(np.float64) + self.intercept_
        if self.residual_coef_ is None:
            return head, np.zeros_like(head)
        res = X @ self.residual_coef_.T.astype(np.float64) + self.residual_intercept_
        return head, res

    def _logits(self, X: np.ndarray, A: np.ndarray | None = None) -> np.ndarray:
        head, res = self._logits_parts(X, self._activations(X) if A is None else A)
        return head + res

    def transform(self, X: Any) -> np.ndarray:
        """Concept activations of embeddings ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, d)
            Image embeddings in the space the model was fitted in.

        Returns
        -------
        ndarray of shape (n_samples, k)
            :math:`a_j(x)` for the concepts ``concept_names_``: exactly what the head sees.
        """
        return self._activations(self._check_X(X))

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits of embeddings ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, d)
            Image embeddings in the space the model was fitted in.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes the logit of ``classes_[1]`` minus that of ``classes_[0]``;
            otherwise one logit per class.
        """
        Z = self._logits(self._check_X(X))
        return Z[:, 1] - Z[:, 0] if Z.shape[1] == 2 else Z

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, the softmax of the logits.

        Parameters
        ----------
        X : array-like of shape (n_samples, d)
            Image embeddings in the space the model was fitted in.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Probabilities of the classes ``classes_``; each row sums to 1.
        """
        return softmax(self._logits(self._check_X(X)), axis=1)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, d)
            Image embeddings in the space the model was fitted in.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Log-probabilities of the classes ``classes_`` (the log-softmax of the logits).
        """
        return log_softmax(self._logits(self._check_X(X)), axis=1)

    def predict(self, X: Any) -> np.ndarray:
        """Class with the largest logit.

        Parameters
        ----------
        X : array-like of shape (n_samples, d)
            Image embeddings in the space the model was fitted in.

        Returns
        -------
        ndarray of shape (n_samples,)
            Predicted labels, values of ``classes_``.
        """
        logits = self._logits(self._check_X(X))
        return self.classes_[np.argmax(logits, axis=1)]

    # ------------------------------------------------------------------ torch
    def _torch(self, name: str, like: torch.Tensor) -> torch.Tensor:
        return as_tensor(np.asarray(getattr(self, name)), dtype=like.dtype).to(like.device)

    def _check_Z(self, Z: Any) -> None:
        """``TypeError`` / ``ValueError`` naming ``Z`` unless it is a floating tensor (n, d)."""
        if not isinstance(Z, torch.Tensor) or not Z.is_floating_point():
            got = f"a {Z.dtype} tensor" if isinstance(Z, torch.Tensor) else type(Z).__name__
            raise TypeError(f"Z: expected a floating-point torch tensor (n, d), got {got}")
        d = self.n_features_in_
        if Z.ndim != 2 or Z.shape[1] != d:
            raise ValueError(
                f"Z: expected embeddings of shape (n, {d}) (the model's n_features_in_), got "
                f"shape {tuple(Z.shape)}"
            )

    def transform_torch(self, Z: torch.Tensor) -> torch.Tensor:
        """Differentiable :meth:`transform` of a float tensor of embeddings.

        Parameters
        ----------
        Z : torch.Tensor of shape (n, d)
            Floating-point embeddings (``d`` is ``n_features_in_``), on any device.

        Returns
        -------
        torch.Tensor of shape (n, k)
            Concept activations, of ``Z``'s dtype and device, with gradients to ``Z``.
        """
        check_is_fitted(self, "coef_")
        self._check_Z(Z)
        out = linear_concept_activations(
            Z, self.concept_weights_, self.concept_bias_, self.concept_normalize_
        )
        return torch.sigmoid(out) if self.concept_link_ == "sigmoid" else out

    def logits_torch(self, Z: torch.Tensor) -> torch.Tensor:
        """Differentiable logits of a float tensor of embeddings.

        Parameters
        ----------
        Z : torch.Tensor of shape (n, d)
            Floating-point embeddings (``d`` is ``n_features_in_``), on any device.

        Returns
        -------
        torch.Tensor of shape (n, n_classes)
            One logit per class (also for two classes), with gradients to ``Z``.
        """
        out = self.transform_torch(Z) @ self._torch("coef_", Z).T + self._torch("intercept_", Z)
        if self.residual_coef_ is not None:
            out = out + Z @ self._torch("residual_coef_", Z).T
            out = out + self._torch("residual_intercept_", Z)
        return out

    # ------------------------------------------------------------ explanation
    def _target_indices(self, target: Any, n: int, logits: np.ndarray) -> np.ndarray:
        if target is None:
            return np.argmax(logits, axis=1)
        t = np.asarray(target)
        t = np.full(n, t.item(), dtype=t.dtype) if t.ndim == 0 else t
        if t.shape != (n,):
            raise ValueError(f"target: expected one label or {n} labels, got shape {t.shape}")
        try:
            idx = np.searchsorted(self.classes_, t)
        except TypeError:  # labels that do not compare with classes_ (None, objects)
            raise ValueError(
                f"target has labels {t[:3].tolist()} that are not in classes_ "
                f"{self.classes_[:6].tolist()}..."
            ) from None
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        bad = self.classes_[idx] != t
        if bad.any():
            raise ValueError(
                f"target has labels {t[bad][:3].tolist()} that are not in classes_ "
                f"{self.classes_[:6].tolist()}..."
            )
        return idx

    def explain(self, X: Any, top_k: int = 5, target: Any = None) -> ConceptExplanation:
        """Per-image concept contributions to the logit of one class.

        Parameters
        ----------
        X : array-like of shape (n_samples, d)
            Image embeddings in the space the model was fitted in.
        top_k : int, default 5
            Concepts listed per image in ``top_indices`` (capped at the number of concepts).
        target : label or array of labels, optional
            Class explained for each image; default the predicted class.

        Returns
        -------
        ConceptExplanation
            ``contributions.sum(1) + intercept + residual == logits``.

        Examples
        --------
        >>> import numpy as np
        >>> from bottlekit.bottleneck import PosthocCBM
        >>> from bottlekit.concepts import RandomConcepts
        >>> rng = np.random.default_rng(0)
        >>> X, y = rng.normal(size=(40, 6)), np.repeat([0, 1], 20)
        >>> e = PosthocCBM(RandomConcepts(4), lam=1e-3).fit(X, y).explain(X[:2], top_k=2)
        >>> bool(np.allclose(e.contributions.sum(1) + e.intercept + e.residual, e.logits))
        True
        """
        if not isinstance(top_k, numbers.Integral) or isinstance(top_k, bool) or top_k < 1:
            raise ValueError(f"top_k: expected an int >= 1, got {top_k!r}")
        X = self._check_X(X)
        A = self._activations(X)
        head, res = self._logits_parts(X, A)
        t = self._target_indices(target, len(X), head + res)
        rows = np.arange(len(X))
        contrib = A * self.coef_.astype(np.float64)[t]
        order = np.argsort(-contrib, axis=1, kind="stable")[:, : min(top_k, A.shape[1])]
        return ConceptExplanation(
            concept_names=list(self.concept_names_),
            classes=self.classes_,
            target=t,
            activations=A,
            contributions=contrib,
            intercept=self.intercept_.astype(np.float64)[t],
            residual=res[rows, t],
            logits=(head + res)[rows, t],
            top_indices=order,
        )

    def global_importance(self, by_class: bool = False) -> np.ndarray:
        r"""How much the head relies on each concept.

        :math:`I_{cj} = w_{cj}\,s_j`, the weight times the training standard deviation of
        the activation (the logit change of class :math:`c` for a one-standard-deviation
        change of concept :math:`j`, so concepts on different scales compare).

        Parameters
        ----------
        by_class : bool, default False
            Return the signed (n_classes, k) matrix :math:`I`; otherwise the mean over
            classes of :math:`|I_{cj}|`, shape (k,).

        Returns
        -------
        ndarray of shape (k,) or (n_classes, k)
            :math:`\frac1C \sum_c |I_{cj}|`, or :math:`I` itself with ``by_class=True``.
        """
        check_is_fitted(self, "coef_")
        by_class = check_bool(by_class, "by_class")
        imp = self.coef_.astype(np.float64) * self.concept_scale_
        return imp if by_class else np.abs(imp).mean(0)

    # ---------------------------------------------------------------- editing
    def _concept_indices(self, concepts: Any) -> list[int]:
        """Positions of ``concepts`` (names or indices in ``0..k-1``), in order
        (:func:`~bottlekit.concepts.positions.concept_positions`)."""
        k = len(self.concept_names_)
        return concept_positions(
            concepts,
            self.concept_names_,
            expected=f"concept indices in 0..{k - 1} (this model has {k} concepts)",
            known_as=f"this model's {k} concepts",
        )

    def prune(self, concepts: Any, *, fill: str = "mean") -> BaseConceptBottleneck:
        r"""A copy of the model that no longer uses ``concepts``.

        This is the global model edit of Post-hoc CBM: removing a spurious concept from
        the head, without any data.

        Parameters
        ----------
        concepts : str, int or list of them
            Concept names (or indices into ``concept_names_``).
        fill : {"mean", "zero"}, default "mean"
            ``"zero"`` sets the concepts' head weights to 0, as the Post-hoc CBM paper
            does. ``"mean"`` also moves each pruned concept's average contribution into
            the intercept, :math:`c_k \leftarrow c_k + w_{kj}\,\bar a_j`, so the model
            behaves as if the concept were stuck at its training mean. The two agree for
            centred activations; for cosine similarities (text concepts, mean ~0.2) zeroing
            also removes a class-specific constant, which can cost more accuracy than the
            concept carried (on the built-in world: 42 points on the test split).

        Returns
        -------
        model
            Pruned copy; ``pruned_concepts_`` lists every concept pruned so far.
        """
        check_is_fitted(self, "coef_")
        fill = check_choice(fill, ("mean", "zero"), "fill", expected="'mean' or 'zero'")
        # each concept once: a repeat would move its mean contribution into the intercept twice
        idx = list(dict.fromkeys(self._concept_indices(concepts)))
        edited = copy.deepcopy(self)
        coef = edited.coef_.astype(np.float64)
        if fill == "mean":
            shift = coef[:, idx] @ edited.concept_mean_[idx].astype(np.float64)
            edited.intercept_ = (edited.intercept_ + shift).astype(edited.intercept_.dtype)
        edited.coef_ = edited.coef_.copy()
        edited.coef_[:, idx] = 0.0
        names = [self.concept_names_[i] for i in idx]
        edited.pruned_concepts_ = list(self.pruned_concepts_) + [
            n for n in names if n not in self.pruned_concepts_
        ]
        return edited

    def intervene(
        self, X: Any, values: Any, *, scale: str = "percentile", output: str = "predict"
    ) -> np.ndarray:
        """Predict with some concept activations replaced (a concept intervention).

        Parameters
        ----------
        X : array-like of shape (n_samples, d)
            Image embeddings in the space the model was fitted in.
        values : dict or array of shape (n_samples, k)
            ``{concept name: value or array (n,)}``, or a full matrix where NaN leaves the
            model's own activation.
        scale : {"percentile", "raw"}, default "percentile"
            ``"percentile"``: values are in [0, 1] (e.g. ground-truth concept labels) and
            are mapped to :math:`q_5 + v (q_{95} - q_5)` of the concept's training
            activations, the convention of CBM intervention studies; ``"raw"``: values are
            activations.
        output : {"predict", "proba", "logits"}, default "predict"
            What to return: predicted labels, class probabilities or logits.

        Returns
        -------
        ndarray
            Predictions (n,), probabilities or logits (n, n_classes).
        """
        scale = check_choice(
            scale, ("percentile", "raw"), "scale", expected="'percentile' or 'raw'"
        )
        output = check_choice(
            output,
            ("predict", "proba", "logits"),
            "output",
            expected="'predict', 'proba' or 'logits'",
        )
        X = self._check_X(X)
        A = self._activations(X)
        n, k = A.shape
        if isinstance(values, dict):
            V = np.full((n, k), np.nan)
            given: dict[int, Any] = {}
            for name, v in values.items():
                if not isinstance(name, (str, numbers.Integral)) or isinstance(name, bool):
                    raise TypeError(
                        f"values: expected keys that are concept names or indices, got {name!r}"
                    )
                (j,) = self._concept_indices(name)
                if j in given:  # by index and by name: one value would win silently
                    raise ValueError(
                        f"values: keys {given[j]!r} and {name!r} are the same concept "
                        f"({self.concept_names_[j]!r}); give each concept once"
                    )
                given[j] = name
                v = _as_values(v, f"values[{name!r}]")
                if v.ndim > 1 or (v.ndim == 1 and v.shape != (n,)):
                    raise ValueError(f"values[{name!r}]: expected a scalar or shape ({n},)")
                V[:, j] = v
        else:
            V = _as_values(values, "values")
            if V.shape != (n, k):
                raise ValueError(f"values: expected a dict or an array of shape {(n, k)}")
        if np.isinf(V).any():
            raise ValueError("values contain inf; use NaN to leave a concept unchanged")
        if scale == "percentile":
            outside = (V < 0) | (V > 1)
            if outside.any():
                raise ValueError(
                    "values: expected numbers in [0, 1] (or NaN) with scale='percentile', got "
                    f"{V[outside][:3].tolist()}; give activations with scale='raw'"
                )
            V = self.concept_low_ + V * (self.concept_high_ - self.concept_low_)
        A = np.where(np.isnan(V), A, V)
        Z = self._logits(X, A)
        if output == "logits":
            return Z
        if output == "proba":
            return softmax(Z, axis=1)
        return self.classes_[np.argmax(Z, axis=1)]

    # ------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted model to one ``.safetensors`` file (arrays + JSON), atomically.

        Hyper-parameters, the concept bank and every learned attribute are stored; no
        pickle. Read back with :meth:`load`.

        Parameters
        ----------
        path : str or path-like
            The file to write (conventionally ``*.safetensors``); an existing file is
            replaced.

        Returns
        -------
        pathlib.Path
            ``path``, as a :class:`~pathlib.Path`.

        Raises
        ------
        ValueError
            If :meth:`load` would refuse the file (its learned state, or its metadata
            beyond :data:`~bottlekit.safetensors_file.MAX_HEADER_BYTES` or
            :data:`~bottlekit.safetensors_file.MAX_HEADER_VALUES`); nothing is written.
        """
        check_is_fitted(self, "coef_")
        tensors: dict[str, np.ndarray] = {}
        state: dict[str, Any] = {}
        for key, value in vars(self).items():
            if not key.endswith("_") or key.startswith("_"):
                continue
            if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
                tensors[f"model/{key}"] = np.ascontiguousarray(value)
            else:
                state[key] = _to_json(value, key)
        params = self.get_params(deep=False)
        concepts = params.pop("concepts")
        if isinstance(concepts, ConceptBank):
            bank_arrays, bank_meta = concepts.to_state()
            tensors |= {f"concepts/{k}": v for k, v in bank_arrays.items()}
            concepts_meta = {"bank": bank_meta}
        elif callable(getattr(concepts, "to_dict", None)):
            concepts_meta = {"spec": type(concepts).__name__, "args": concepts.to_dict()}
        else:
            raise TypeError(f"cannot save concepts of type {type(concepts).__name__}")
        meta = {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "class": type(self).__name__,
            "params": {k: _to_json(v, k) for k, v in params.items()},
            "concepts": concepts_meta,
            "state": state,
        }
        path = Path(path)
        self._check_savable(state, tensors, path)
        data = encode_safetensors(
            tensors,
            meta,
            kind="model",
            path=path,
            holds="the model's parameters, concepts and learned state",
        )
        atomic_write_bytes(path, data)
        return path

    def _check_savable(self, state: dict, tensors: dict, path: Path) -> None:
        """Refuse to write a file that :meth:`load` would refuse: its learned state goes
        through the same schema check (e.g. weights beyond the magnitude limit that a fit
        on embeddings of scale 1e-19 can reach), so the model is kept in memory and the
        user learns why now, not at the next load."""
        source = f"{type(self).__name__}.save({os.fspath(path)!r})"
        try:
            self._learned_state(state, tensors, source)
            self._check_concepts_and_params(source)
        except ValueError as exc:
            raise ValueError(f"{exc}; the model was not saved, as load would refuse it") from None

    @classmethod
    def _learned_state(
        cls, state: dict, tensors: Any, source: str, budget: list[int] | None = None
    ) -> dict[str, Any]:
        """The learned attributes a file holds: its JSON ``state`` decoded and its
        ``model/`` tensors, checked against the class's schema (what :meth:`load` sets and
        what :meth:`save` checks before writing). ``budget``: the bytes the file's JSON
        arrays may still take (see :func:`from_json_value`)."""
        if budget is None:
            budget = [MAX_JSON_ARRAY_BYTES]
        learned = {k: from_json_value(v, k, source, budget=budget) for k, v in state.items()}
        for key, value in tensors.items():
            if key.startswith("model/"):
                name = key.split("/", 1)[1]
                if name in learned:
                    raise ValueError(f"{source}: {name} is stored twice")
                learned[name] = value
        for key in cls._ADDED_STATE:
            learned.setdefault(key, None)
        check_state({**BASE_STATE, **cls._EXTRA_STATE}, learned, source)
        return learned

    @classmethod
    def load(cls, path: str | os.PathLike) -> BaseConceptBottleneck:
        """Read a model written by :meth:`save`.

        Parameters
        ----------
        path : path-like
            A file written by :meth:`save`.

        Returns
        -------
        model
            An instance of the saved class (which must be ``cls`` or a subclass of it).
        """
        from bottlekit.concepts.random_concepts import RandomConcepts

        contents = read_safetensors(path, "model")
        source = repr(contents.path)
        meta = contents.meta
        if meta.get("format") != _FORMAT or meta.get("version") != _FORMAT_VERSION:
            raise ValueError(
                f"{source} is not a bottlekit concept-bottleneck model file "
                f"(format {meta.get('format')!r} v{meta.get('version')!r})"
            )
        for field, kind in (("class", str), ("params", dict), ("concepts", dict), ("state", dict)):
            if not isinstance(meta.get(field), kind):
                raise ValueError(f"{source}: the model's {field!r} entry is missing or malformed")
        klass = BaseConceptBottleneck._registry.get(meta["class"])
        if klass is None or not issubclass(klass, cls):
            raise ValueError(f"{source} holds a {meta['class']!r}, not a {cls.__name__}")
        foreign = sorted(k for k in contents if not k.startswith(("model/", "concepts/")))
        if foreign:
            raise ValueError(f"{source}: unknown tensor(s) {foreign}")
        spec = meta["concepts"]
        try:
            if "bank" in spec:
                bank_arrays = {
                    k.split("/", 1)[1]: v for k, v in contents.items() if k.startswith("concepts/")
                }
                concepts = ConceptBank.from_state(bank_arrays, spec["bank"], source=source)
            elif spec.get("spec") == "RandomConcepts" and isinstance(spec.get("args"), dict):
                concepts = RandomConcepts(**spec["args"])
                try:
                    check_positive_int(concepts.n_concepts, "n_concepts")
                    check_seed(concepts.random_state, "random_state")
                except ValueError as exc:
                    raise TypeError(exc) from None  # reported as a malformed spec below
            else:
                raise ValueError(
                    f"{source} names an unknown concept specification {spec.get('spec')!r}"
                )
        except (TypeError, KeyError) as exc:
            raise ValueError(f"{source}: malformed concept specification ({exc})") from None
        budget = [MAX_JSON_ARRAY_BYTES]  # the bytes of the file's JSON arrays, all together
        params = {
            k: from_json_value(v, k, source, budget=budget) for k, v in meta["params"].items()
        }
        for old, new in klass._renamed_params.items():
            if old in params and new not in params:
                params[new] = params.pop(old)
        params = klass._params_of_old_files(params)
        unknown = sorted(set(params) - set(klass._get_param_names()))
        if unknown:
            raise ValueError(f"{source}: {klass.__name__} has no parameter(s) {unknown}")
        model = klass(concepts=concepts, **params)
        try:
            model._check_params()
            check_seed(model.random_state, "random_state")  # checked by fit, not _check_params
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: invalid hyper-parameters ({exc})") from None
        state = klass._learned_state(meta["state"], contents, source, budget)
        if isinstance(concepts, RandomConcepts) and concepts.n_concepts < len(
            state["concept_names_"]
        ):
            raise ValueError(
                f"{source}: RandomConcepts(n_concepts={concepts.n_concepts}) cannot have "
                f"given the model's {len(state['concept_names_'])} concepts"
            )
        for key, value in state.items():
            setattr(model, key, value)
        model._check_concepts_and_params(source)
        model._check_loaded_state(source)
        return model
