r"""Knowledge-enhanced bottleneck (KnoBo, Yang et al., NeurIPS 2024).

A Textbook Remedy for Domain Shifts: Knowledge Priors for Medical Image Analysis.
Reference code: ``YueYANG1996/KnoBo`` (MIT); bottlekit's code is its own.

KnoBo has three parts; the numbers in parentheses are the reference code's defaults.

1. **Grounding.** One balanced logistic regression per concept on L2-normalised image
   embeddings, :math:`P(c_j \mid x) = \sigma(w_j \cdot x/\lVert x\rVert + b_j)`
   (``modules/train_grounding.py``: scikit-learn ``LogisticRegression(max_iter=1000,
   class_weight="balanced")``, C = 1; positives and negatives shuffled, up to 10,000
   examples, balanced; a validation set of :math:`\min(\lfloor 0.1 \min(n_+, n_-)\rfloor, 50)`
   positives and as many negatives; up to 2,000 training examples, half positive, the
   larger side down-sampled to the smaller).
2. **Selection.** The concepts are sorted by their grounding accuracy on that validation
   set and the best N kept (``modules/utils.py: load_classifier_list``; N = 150 of about
   200 in the README's command).
3. **Linear layer with a prior.** Logits :math:`z = A W^\top + b` on the concept
   probabilities :math:`A`, trained with Adam (lr 1e-3, 200 epochs, batch 64) on

   .. math:: L = \mathrm{CE}(z, y) + \lambda\,\frac{1}{Ck}\sum_{c,j}
             \bigl|\tanh W_{cj} - P_{cj}\bigr|,\qquad P_{cj} \in \{+1, -1, 0\}

   with :math:`\lambda = 1` and :math:`P` the language model's yes / no / unknown answer
   to "does concept j apply to class c" (``modules/utils.py: get_prior_matrix``,
   ``compute_prior_loss``). The model of the epoch with the best validation accuracy is
   kept (``modules/cbm.py: train_model``).

The parts live in ``_knowledge_grounding.py`` (1), ``_knowledge_prior.py`` (the signed
prior :math:`P`) and ``_knowledge_head.py`` (3); selection (2) and the model,
:class:`KnowledgeCBM`, are here.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.utils import check_array

from bottlekit._arrays import refuse_text
from bottlekit._checks import check_choice, check_unused
from bottlekit._deprecation import DEPRECATED, renamed_param
from bottlekit.bottleneck._cbm_base import BaseConceptBottleneck
from bottlekit.bottleneck._knowledge_grounding import (
    GroundingResult,
    _check_labels,
    ground_concepts,
    pseudo_concept_labels,
)
from bottlekit.bottleneck._knowledge_head import head_gradient, train_prior_head
from bottlekit.bottleneck._knowledge_prior import signed_prior
from bottlekit.bottleneck._model_file import check_distinct_positions
from bottlekit.bottleneck._params import check_number
from bottlekit.concepts.bank import ConceptBank
from bottlekit.devices import resolve_device

__all__ = [
    "GroundingResult",
    "KnowledgeCBM",
    "ground_concepts",
    "head_gradient",
    "pseudo_concept_labels",
    "signed_prior",
    "train_prior_head",
]


# ------------------------------------------------------------------- model
_PSEUDO = ("similarity", "class_prior")
_ZERO_AS = ("no", "unknown")


class KnowledgeCBM(BaseConceptBottleneck):
    r"""Knowledge-enhanced bottleneck (KnoBo): grounded concepts and a prior-regularised head.

    Concepts (typically retrieved from a corpus, :func:`bottlekit.concepts.retrieve`) are
    grounded by one balanced logistic regression each on L2-normalised embeddings, so that
    an activation is a probability,

    .. math:: a_j(x) = P(c_j \mid x) = \sigma\bigl(w_j \cdot x/\lVert x\rVert + b_j\bigr);

    the ``n_concepts`` concepts best grounded on held-out examples are kept, and a linear
    layer is trained with Adam on

    .. math:: \frac1n\sum_i \mathrm{CE}\bigl(W a(x_i) + c,\ y_i\bigr)
              + \lambda\,\frac{1}{Ck}\sum_{c,j}\bigl|\tanh W_{cj} - P_{cj}\bigr|

    where :math:`P_{cj} \in \{+1, -1, 0\}` says whether class :math:`c` has concept
    :math:`j` (yes / no / unknown). The prior pulls the signs of the weights towards the
    knowledge; with no prior (``RandomConcepts``, a bank without ``class_prior``) the
    term is dropped and the head is a multinomial logistic regression on the concepts.

    Parameters
    ----------
    concepts : ConceptBank or RandomConcepts
        The bank; its ``class_prior`` (rows matched to ``y`` by class name) gives
        :math:`P` through :func:`signed_prior`.
    n_concepts : int or None, default None
        Keep the concepts with the best grounding accuracy; None keeps every concept that
        could be grounded (the reference keeps 150 of about 200).
    prior_weight : float, default 1.0
        :math:`\lambda` (reference 1.0); 0 turns the prior off.
    prior_zero : {"no", "unknown"}, default "no"
        How a 0 in a non-negative ``class_prior`` is read (see :func:`signed_prior`):
        "no" (:math:`P = -1`, as the reference's language model answers yes or no to every
        pair) or "unknown" (:math:`P = 0`).
    pseudo_labels : {"similarity", "class_prior"}, default "similarity"
        Grounding labels when ``fit`` gets no ``concept_labels``. The reference labels
        images by a language model reading their paired reports; bottlekit labels them by
        the backbone instead. "similarity": for each concept the images in the top
        ``pseudo_label_quantile`` of the bank's similarity (``bank.project``) are
        positives, the bottom ones negatives, the rest unknown (:func:`pseudo_concept_labels`).
        "class_prior": an image is a positive for the concepts its class has
        (:math:`P_{y,j} = +1`), a negative where :math:`P_{y,j} = -1`.
    pseudo_label_quantile : float in (0, 0.5], default 0.2
        Share of the images labelled positive (top) and negative (bottom) per concept by
        ``pseudo_labels="similarity"``; 0.5 labels every image.
    grounding_C : float, default 1.0
        Inverse L2 strength of the grounding regressions (reference: scikit-learn's 1.0).
    learning_rate : float, default 1e-3
        Adam step size (reference 1e-3).
    max_epochs : int, default 200
        Epochs of the head (reference 200).
    batch_size : int, default 64
        Mini-batch size (reference 64).
    validation_fraction : float in [0, 1), default 0.1
        Part of the training data (stratified) held out to pick the epoch with the best
        accuracy, as the reference does on its validation split; 0 keeps the last epoch.
    patience : int or None, default None
        Stop after this many epochs without a better validation accuracy (None: run all
        ``max_epochs``, as the reference; refused at fit with ``validation_fraction=0``,
        which has no validation accuracy to stop on). The early-stopping name of every
        bottlekit model (``n_iter_no_change`` before).
    device : str, default "cpu"
        Torch device of the head's training.
    random_state : int, RandomState or None
        Seeds the grounding splits, the validation split, the initialisation and batches.
    verbose : bool, default False
        Progress bars.
    n_iter_no_change : int or None, optional
        Deprecated alias of ``patience`` (FutureWarning; removed in the next release).

    Attributes
    ----------
    concept_names_ : list of str
        The kept concepts, best grounded first.
    concept_weights_, concept_bias_ : ndarray
        Grounding classifiers :math:`w_j, b_j` (on normalised embeddings).
    coef_ : ndarray of shape (n_classes, k)
        :math:`W`.
    intercept_ : ndarray of shape (n_classes,)
    concept_indices_ : ndarray of int, shape (k,)
        Positions of the kept concepts in the bank.
    grounding_accuracy_ : ndarray of shape (k,)
        Validation accuracy of each kept concept's classifier.
    bank_grounding_accuracy_ : ndarray of shape (n_bank,)
        The same for every bank concept (NaN: not grounded, no positive or no negative).
    prior_ : ndarray of shape (n_classes, k) or None
        The signed prior :math:`P` used.
    best_epoch_, n_epochs_ : int
        Epoch kept and epochs run.
    validation_accuracy_ : float or None

    Notes
    -----
    Where bottlekit departs from the reference code (``YueYANG1996/KnoBo``):

    * The reference grounds concepts on a separate corpus (MIMIC-CXR / ISIC images with
      reports). By default bottlekit grounds on the training embeddings (the head's
      ``validation_fraction`` part included); pass
      ``fit(..., grounding_X=..., concept_labels=...)`` to ground on another set.
    * The reference's :math:`P` is a language model's yes / no answer for every (class,
      concept) pair (``get_prior_matrix``); the ``class_prior`` of a bank from
      :func:`~bottlekit.concepts.generate`, :func:`~bottlekit.concepts.retrieve` or a
      class -> concepts ``.json`` is 1 only for the classes that proposed (or retrieved)
      the concept, so every other pair is read as "no" (:math:`P = -1`), also where the
      class has the concept (``prior_zero="unknown"`` reads it as :math:`P = 0`).
    * A concept with fewer than 10 validation examples per side is skipped by the
      reference; bottlekit keeps it and ranks it by its validation accuracy (or, with no
      validation example at all, its training accuracy), so tiny data sets still fit.
    * The reference picks the best epoch on the split it reports as in-distribution test
      accuracy; bottlekit holds out ``validation_fraction`` of the training data.
    * Adam's update is written out (same formula and defaults as ``torch.optim.Adam``)
      with the closed-form gradient :func:`head_gradient`, five times faster on CPU.

    Examples
    --------
    >>> import numpy as np
    >>> from bottlekit.concepts import ConceptBank
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4)); L = (X[:, :2] > 0).astype(float)
    >>> y = L[:, 0].astype(int) + 2 * L[:, 1].astype(int)
    >>> bank = ConceptBank(["a", "b"], np.eye(2, 4), "toy", class_prior=np.array(
    ...     [[0, 0], [1, 0], [0, 1], [1, 1]]), class_names=["0", "1", "2", "3"])
    >>> model = KnowledgeCBM(bank, learning_rate=0.05, random_state=0)
    >>> model.fit(X, y, concept_labels=L).score(X, y) > 0.9
    True
    >>> np.sign(model.coef_).astype(int).tolist() == model.prior_.astype(int).tolist()
    True
    """

    _FIT_PARAMS: ClassVar[tuple[str, ...]] = ("concept_labels", "grounding_X")
    _EXTRA_STATE: ClassVar[dict[str, tuple]] = {
        "concept_indices_": ("int", ("K",)),
        "grounding_accuracy_": ("array", ("K",)),
        "bank_grounding_accuracy_": ("array", (None,)),
        "prior_": ("float?", ("C", "K")),
        "best_epoch_": ("count", None),
        "n_epochs_": ("count", None),
        "validation_accuracy_": ("fraction?", None),  # None: validation_fraction=0
    }
    _renamed_params: ClassVar[dict[str, str]] = {"n_iter_no_change": "patience"}

    def __init__(
        self,
        concepts: ConceptBank | Any,
        *,
        n_concepts: int | None = None,
        prior_weight: float = 1.0,
        prior_zero: str = "no",
        pseudo_labels: str = "similarity",
        pseudo_label_quantile: float = 0.2,
        grounding_C: float = 1.0,
        learning_rate: float = 1e-3,
        max_epochs: int = 200,
        batch_size: int = 64,
        validation_fraction: float = 0.1,
        patience: int | None = None,
        device: str = "cpu",
        random_state: Any = None,
        verbose: bool = False,
        n_iter_no_change: Any = DEPRECATED,
    ) -> None:
        self.concepts = concepts
        self.n_concepts = n_concepts
        self.prior_weight = prior_weight
        self.prior_zero = prior_zero
        self.pseudo_labels = pseudo_labels
        self.pseudo_label_quantile = pseudo_label_quantile
        self.grounding_C = grounding_C
        self.learning_rate = learning_rate
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.n_iter_no_change = n_iter_no_change

    def _check_params(self) -> None:
        if self.n_concepts is not None:
            check_number(self.n_concepts, "n_concepts", integer=True, low=1, low_open=False)
        check_number(self.prior_weight, "prior_weight", low_open=False, low=0)
        check_choice(self.prior_zero, _ZERO_AS, "prior_zero")
        check_choice(self.pseudo_labels, _PSEUDO, "pseudo_labels")
        check_number(
            self.pseudo_label_quantile, "pseudo_label_quantile", high=0.5, low=0, low_open=True
        )
        check_number(self.grounding_C, "grounding_C", low=0, low_open=True)
        check_number(self.learning_rate, "learning_rate", low=0, low_open=True)
        check_number(self.max_epochs, "max_epochs", integer=True, low=0, low_open=True)
        check_number(self.batch_size, "batch_size", integer=True, low=0, low_open=True)
        check_number(
            self.validation_fraction,
            "validation_fraction",
            low_open=False,
            high=1,
            high_open=True,
            low=0,
        )
        self._patience, self._patience_name = renamed_param(self, "n_iter_no_change", "patience")
        if self._patience is not None:
            check_number(self._patience, self._patience_name, integer=True, low=0, low_open=True)
        if not isinstance(self.verbose, (bool, np.bool_)):
            raise ValueError(f"verbose: expected True or False, got {self.verbose!r}")

    def _check_loaded_state(self, source: str) -> None:
        """``concept_indices_`` must name distinct concepts of the bank the model was
        grounded on (``bank_grounding_accuracy_`` has one entry per bank concept)."""
        n_bank = len(self.bank_grounding_accuracy_)
        if isinstance(self.concepts, ConceptBank) and n_bank != len(self.concepts):
            raise ValueError(
                f"{source}: bank_grounding_accuracy_ has {n_bank} entries; expected one per "
                f"concept of the stored bank ({len(self.concepts)})"
            )
        ids = self.concept_indices_
        check_distinct_positions(
            ids,
            n_bank,
            "concept_indices_",
            source,
            within="positions in the bank",
            items="bank concepts",
        )
        if isinstance(self.concepts, ConceptBank):
            names = [self.concepts.names[j] for j in ids]
            if names != list(self.concept_names_):
                pairs = zip(names, self.concept_names_, strict=True)  # both K long (schema)
                j = next(i for i, (a, b) in enumerate(pairs) if a != b)
                raise ValueError(
                    f"{source}: concept_names_[{j}] is {self.concept_names_[j]!r} but "
                    f"concept_indices_[{j}] = {ids[j]} is the bank's {names[j]!r}"
                )

    # ------------------------------------------------------------------ fit
    def _grounding_labels(self, Xg, y, bank, P, concept_labels, own_data) -> np.ndarray:
        k = len(bank)
        if concept_labels is not None:
            return _check_labels(concept_labels, len(Xg), k, "concept_labels")
        if self.pseudo_labels == "similarity":
            return pseudo_concept_labels(bank.project(Xg), self.pseudo_label_quantile)
        if P is None:
            raise ValueError(
                "pseudo_labels='class_prior' needs a class prior: the bank has no class_prior "
                "(give concept_labels=, or use pseudo_labels='similarity')"
            )
        if not own_data:
            raise ValueError(
                "pseudo_labels='class_prior' labels images by their class, which grounding_X "
                "does not have; give concept_labels= for grounding_X"
            )
        L = np.where(P[y] > 0, 1.0, np.where(P[y] < 0, 0.0, np.nan))
        return L

    def _fit_bottleneck(
        self,
        X: np.ndarray,
        y: np.ndarray,
        bank: ConceptBank,
        prior: np.ndarray | None,
        rng: np.random.Generator,
        *,
        concept_labels: Any = None,
        grounding_X: Any = None,
    ) -> None:
        if self.validation_fraction == 0:  # no validation: patience was ignored, silently
            # at fit, not in _check_params (which load runs on files saved before)
            check_unused(
                self._patience, self._patience_name,
                "with validation_fraction=0 (it stops on the validation accuracy)",
                " or hold out a validation_fraction > 0",
            )  # fmt: skip
        P_bank = None if prior is None else signed_prior(prior, self.prior_zero)
        if grounding_X is None:
            Xg, own = X, True
        else:
            Xg = check_array(
                refuse_text(grounding_X, "grounding_X"), dtype=np.float64, input_name="grounding_X"
            )
            if Xg.shape[1] != X.shape[1]:
                raise ValueError(
                    f"grounding_X has {Xg.shape[1]} features but X has {X.shape[1]}; both "
                    "must be embeddings from the same backbone"
                )
            own = False
        L = self._grounding_labels(Xg, y, bank, P_bank, concept_labels, own)
        g = ground_concepts(Xg, L, C=float(self.grounding_C), rng=rng)
        grounded = np.flatnonzero(g.grounded)
        if len(grounded) == 0:
            raise ValueError(
                f"no concept of the bank ({len(bank)}) could be grounded from {len(Xg)} "
                f"embeddings with n_features = {Xg.shape[1]}: each concept needs at least one "
                "positive and one negative example in the grounding labels (pseudo-labels "
                "need embeddings whose directions differ: with one feature every positive "
                "embedding normalises to the same point)"
            )
        # best grounded first; ties keep the bank's order
        order = grounded[np.argsort(-g.val_accuracy[grounded], kind="stable")]
        if self.n_concepts is not None:
            order = order[: int(self.n_concepts)]
        self.concept_indices_ = order.astype(np.int64)
        self.concept_names_ = [bank.names[j] for j in order]
        self.concept_weights_ = g.weights[order].astype(np.float32)
        self.concept_bias_ = g.bias[order].astype(np.float32)
        self.concept_normalize_ = np.ones(len(order), dtype=bool)
        self.concept_link_ = "sigmoid"
        self.grounding_accuracy_ = g.val_accuracy[order]
        self.bank_grounding_accuracy_ = g.val_accuracy
        self.prior_ = None if P_bank is None else P_bank[:, order]

        A = self._activations(X)
        coef, intercept, info = train_prior_head(
            A,
            y,
            len(self.classes_),
            self.prior_,
            prior_weight=float(self.prior_weight),
            learning_rate=float(self.learning_rate),
            max_epochs=int(self.max_epochs),
            batch_size=int(self.batch_size),
            validation_fraction=float(self.validation_fraction),
            patience=self._patience,
            rng=rng,
            device=resolve_device(self.device),
            verbose=bool(self.verbose),
        )
        self.coef_ = coef.astype(np.float32)
        self.intercept_ = intercept.astype(np.float32)
        self.residual_coef_ = None
        self.residual_intercept_ = None
        self.best_epoch_ = info["best_epoch"]
        self.n_epochs_ = info["n_epochs"]
        self.validation_accuracy_ = info["val_accuracy"]
