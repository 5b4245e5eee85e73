r"""``LaBo``: Language in a Bottle (Yang, Panagopoulou, Zhou, Jin, Callison-Burch, Yatskar,
CVPR 2023).

Reference code: ``YueYANG1996/LaBo`` (``models/asso_opt/asso_opt.py``, ``data.py``,
``main.py``, ``cfg/asso_opt``); bottlekit's code is its own.

LaBo scores an image against every class through the concepts a language model wrote
about the classes. With :math:`a(x) \in \mathbb{R}^k` the concept activations (CLIP
similarity of the image to each concept sentence) and a class–concept *association
matrix* :math:`W \in \mathbb{R}^{C\times k}` initialised from the language prior,

.. math::

    z_c(x) = s \sum_j \operatorname{softmax}(W_{c\cdot})_j\, a_j(x),
    \qquad \operatorname{softmax}(W_{c\cdot})_j = \frac{e^{W_{cj}}}{\sum_l e^{W_{cl}}},

i.e. each class is a convex combination of its concepts (the softmax runs over the
concepts, ``F.softmax(asso_mat, dim=-1)`` in the reference) and :math:`s = 100` is CLIP's
logit scale (fixed, not learned). :math:`W` is trained with Adam on the cross-entropy of
:math:`z` on mini-batches, and the weights of the best validation epoch are kept (the
reference: best validation accuracy; bottlekit's default: lowest validation loss, see
:class:`LaBo`). In bottlekit's terms the concept layer is the bank's projection and the head is
``coef_`` :math:`= s\,\operatorname{softmax}(W)` with ``intercept_`` :math:`= 0`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import softmax

from bottlekit._arrays import refuse_text
from bottlekit._checks import check_choice
from bottlekit.bottleneck._cbm_base import BaseConceptBottleneck
from bottlekit.bottleneck._model_file import check_json_numbers
from bottlekit.bottleneck._params import check_number
from bottlekit.bottleneck._splits import stratified_validation_split
from bottlekit.concepts.bank import ConceptBank
from bottlekit.devices import as_tensor, resolve_device, torch_threads

__all__ = ["LaBo", "initial_association", "stratified_validation_split", "train_association"]

EARLY_STOPPING_METRICS = ("accuracy", "loss")


def initial_association(
    prior: np.ndarray | None, n_classes: int, n_concepts: int, init_value: float = 1.0
) -> np.ndarray:
    r"""LaBo's initial association matrix :math:`W_0` (n_classes × n_concepts).

    The reference sets :math:`W_0[c, j] =` ``init_val`` (1) when the language model
    proposed concept :math:`j` for class :math:`c` and 0 elsewhere
    (``init_weight.scatter_(0, concept2cls, init_val)``). With a general prior matrix
    :math:`P` (e.g. a concept shared by several classes, or graded associations) bottlekit
    uses :math:`W_0 = \text{init\_value}\cdot P`, which is the reference's matrix for a
    0/1 prior with one class per concept.

    Without a prior (``prior=None``, e.g. :class:`~bottlekit.concepts.RandomConcepts`)
    :math:`W_0 = 0`: every class starts as the uniform average of all concepts (all
    classes tie), and the labels break the tie during training. (The reference's
    alternative, ``use_rand_init``, is a Kaiming-normal draw; bottlekit keeps the
    deterministic uniform start.)

    Parameters
    ----------
    prior : ndarray of shape (n_classes, n_concepts) or None
        Class-concept prior :math:`P` (a bank's ``class_prior``); None: no prior.
    n_classes, n_concepts : int
        The matrix's shape.
    init_value : float, default 1.0
        The reference's ``init_val``, the scale of :math:`P`.

    Returns
    -------
    ndarray of float64, shape (n_classes, n_concepts)
        :math:`W_0`.

    Examples
    --------
    >>> initial_association(np.array([[1, 0], [0, 1]]), 2, 2, init_value=1.0)
    array([[1., 0.],
           [0., 1.]])
    >>> initial_association(None, 2, 3)
    array([[0., 0., 0.],
           [0., 0., 0.]])
    """
    if prior is None:
        return np.zeros((n_classes, n_concepts))
    prior = np.asarray(prior, dtype=np.float64)
    if prior.shape != (n_classes, n_concepts):
        raise ValueError(
            f"prior: expected shape (n_classes, n_concepts) = ({n_classes}, {n_concepts}), "
            f"got {prior.shape}"
        )
    if not np.isfinite(prior).all():
        raise ValueError("prior contains NaN or inf; expected finite class-concept values")
    return float(init_value) * prior


def _labo_logits(A: torch.Tensor, W: torch.Tensor, scale: float) -> torch.Tensor:
    return scale * (A @ torch.softmax(W, dim=1).T)


def train_association(
    A: np.ndarray,
    y: np.ndarray,
    W0: np.ndarray,
    *,
    A_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    logit_scale: float = 100.0,
    learning_rate: float = 1e-3,
    batch_size: int = 64,
    max_epochs: int = 200,
    patience: int | None = 50,
    early_stopping_metric: str = "loss",
    l1_penalty: float = 0.0,
    diversity_penalty: float = 0.0,
    rng: np.random.Generator | None = None,
    device: torch.device | str = "cpu",
    verbose: bool = False,
) -> tuple[np.ndarray, dict]:
    r"""Train LaBo's association matrix with Adam on mini-batches.

    Minimises, over shuffled mini-batches :math:`B`,

    .. math:: \frac{1}{|B|}\sum_{i\in B}\mathrm{CE}\bigl(s\,a_i \operatorname{softmax}(W)^\top,
              y_i\bigr) + \lambda_1 \max_c \lVert W_{c\cdot}\rVert_1
              - \lambda_{div}\,\frac1C\sum_c \operatorname{Var}_{i\in B}
              \bigl(a_i \cdot \operatorname{softmax}(W_{c\cdot})\bigr)

    — the reference's ``training_step``: cross-entropy, plus its optional sparsity
    (``use_l1_loss``, the largest row L1 norm of the *raw* matrix) and "diverse response"
    (``use_div_loss``, variance over the batch of the unscaled class scores) terms, both
    off in every released configuration (:math:`\lambda_1 = \lambda_{div} = 0` here too).

    Before training (epoch 0) and after every epoch, the full training cross-entropy and,
    with validation data, the validation cross-entropy and accuracy are recorded. With
    validation data the matrix of the best epoch (epoch 0 included: the prior alone) is
    returned — best validation accuracy, first of ties, as the reference's checkpoint
    callback (``monitor="val_acc", mode="max"``), or lowest validation loss — and training
    stops after ``patience`` epochs without improvement. Without validation data all
    ``max_epochs`` epochs run and the last matrix is returned.

    Parameters
    ----------
    A : ndarray of shape (n, k)
        Training concept activations.
    y : ndarray of int, shape (n,)
        Class indices ``0..C-1``.
    W0 : ndarray of shape (C, k)
        Initial association matrix (:func:`initial_association`).
    A_val, y_val : ndarray, optional
        Validation activations and class indices (both or neither).
    logit_scale : float
        :math:`s`, the scale of the class scores (see :class:`LaBo`).
    learning_rate : float
        Adam's learning rate.
    batch_size : int
        Rows per mini-batch.
    max_epochs : int
        Epochs at most.
    patience : int or None
        Stop after this many epochs without a better validation score (None: never).
    early_stopping_metric : {"loss", "accuracy"}
        The validation score that picks the returned epoch (see :class:`LaBo`).
    l1_penalty : float
        :math:`\lambda_1`, the weight of the sparsity term.
    diversity_penalty : float
        :math:`\lambda_{div}`, the weight of the "diverse response" term.
    rng : numpy Generator, optional
        Seeds the batch order.
    device : torch device
        Where to train.
    verbose : bool
        Progress bar over epochs.

    Returns
    -------
    W : ndarray of float64, shape (C, k)
        The returned association matrix.
    history : dict
        Lists per epoch (index 0 = before training): ``"epoch"``, ``"train_loss"`` and, with
        validation data, ``"val_loss"``, ``"val_accuracy"``; scalars ``"best_epoch"`` and
        ``"n_epochs"`` (epochs run).

    Examples
    --------
    >>> A = np.array([[0.9, 0.1], [0.2, 0.8]] * 10); y = np.array([0, 1] * 10)
    >>> W, h = train_association(A, y, np.eye(2), max_epochs=3, batch_size=4)
    >>> W.shape, h["n_epochs"]
    ((2, 2), 3)
    """
    from tqdm.auto import tqdm

    check_choice(early_stopping_metric, EARLY_STOPPING_METRICS, "early_stopping_metric")
    if (A_val is None) != (y_val is None):
        raise ValueError("A_val and y_val: give both or neither")
    A, y, W0 = np.asarray(A), np.asarray(y), np.asarray(W0)
    if A.ndim != 2 or len(A) == 0 or y.shape != (len(A),):
        raise ValueError(f"A must be (n, k) with n > 0 and y (n,), got {A.shape} and {y.shape}")
    if W0.ndim != 2 or W0.shape[1] != A.shape[1] or int(y.max()) >= W0.shape[0]:
        raise ValueError(
            f"W0 must have shape (n_classes, k) = (> {int(y.max())}, {A.shape[1]}), got {W0.shape}"
        )
    rng = np.random.default_rng(0) if rng is None else rng
    device = resolve_device(device)
    as_f = lambda a: as_tensor(np.asarray(a), dtype=torch.float32, device=device)  # noqa: E731
    as_i = lambda a: as_tensor(np.asarray(a), dtype=torch.long, device=device)  # noqa: E731
    A_tr, y_tr = as_f(A), as_i(y)
    has_val = A_val is not None and len(A_val) > 0
    if has_val:
        A_va, y_va = as_f(A_val), as_i(y_val)
    W = as_f(W0).clone().requires_grad_(True)
    opt = torch.optim.Adam([W], lr=learning_rate)
    scale = float(logit_scale)
    n = len(A_tr)
    bs = max(1, min(int(batch_size), n))

    history: dict[str, Any] = {"epoch": [], "train_loss": []}
    if has_val:
        history["val_loss"], history["val_accuracy"] = [], []

    def record(epoch: int) -> float | None:
        with torch.no_grad():
            tr_loss = float(F.cross_entropy(_labo_logits(A_tr, W, scale), y_tr))
            if not np.isfinite(tr_loss):
                raise FloatingPointError(
                    f"LaBo training diverged at epoch {epoch} (training loss {tr_loss}); "
                    "lower learning_rate (or logit_scale, init_value)"
                )
            history["epoch"].append(epoch)
            history["train_loss"].append(tr_loss)
            if not has_val:
                return None
            z = _labo_logits(A_va, W, scale)
            v_loss = float(F.cross_entropy(z, y_va))
            v_acc = float((z.argmax(1) == y_va).float().mean())
            history["val_loss"].append(v_loss)
            history["val_accuracy"].append(v_acc)
            return v_acc if early_stopping_metric == "accuracy" else -v_loss

    best_score = record(0)
    best_W, best_epoch, stale, epoch = W.detach().clone(), 0, 0, 0
    for epoch in tqdm(range(1, int(max_epochs) + 1), desc="LaBo", disable=not verbose):
        perm = torch.as_tensor(rng.permutation(n), device=device)
        for start in range(0, n, bs):
            idx = perm[start : start + bs]
            a, t = A_tr[idx], y_tr[idx]
            loss = F.cross_entropy(_labo_logits(a, W, scale), t)
            if l1_penalty > 0:
                loss = loss + l1_penalty * W.abs().sum(dim=1).max()
            if diversity_penalty > 0 and len(idx) > 1:
                sim = a @ torch.softmax(W, dim=1).T
                loss = loss - diversity_penalty * sim.var(dim=0).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        score = record(epoch)
        if not has_val:
            continue
        if score > best_score:
            best_score, best_W, best_epoch, stale = score, W.detach().clone(), epoch, 0
        else:
            stale += 1
            if patience is not None and stale >= patience:
                break
    if not has_val:
        best_W, best_epoch = W.detach().clone(), epoch
    history["best_epoch"] = int(best_epoch)
    history["n_epochs"] = int(epoch)
    return best_W.cpu().numpy().astype(np.float64), history


class LaBo(BaseConceptBottleneck):
    r"""Language in a Bottle: a class–concept association matrix initialised from language.

    Concept activations are the cosine similarities of the image embedding to the
    concepts' text vectors, :math:`a_j(x) = v_j\cdot x/(\lVert v_j\rVert\lVert x\rVert)`
    (:meth:`ConceptBank.project`; CAV concepts, if a bank has any, keep their projection
    :math:`(v_j \cdot x + b_j)/\lVert v_j\rVert`). The logits are

    .. math:: z(x) = s\; a(x)\, \operatorname{softmax}(W)^\top, \qquad
              W_0 = \text{init\_value}\cdot P,

    with the softmax over the concepts of each class, :math:`s` = ``logit_scale`` and
    :math:`P` the bank's class prior aligned to the classes (:func:`initial_association`;
    no prior: :math:`W_0 = 0`, uniform). :math:`W` is trained with Adam on the
    cross-entropy (:func:`train_association`) and the epoch with the best validation
    score is kept. The fitted head is ``coef_`` :math:`= s\,\operatorname{softmax}(W)`
    (non-negative, each row sums to :math:`s`), ``intercept_`` :math:`= 0`.

    Use :func:`bottlekit.concepts.select` (``method="submodular"``, LaBo's selection) to
    choose the bottleneck from a large generated bank before fitting.

    Parameters
    ----------
    concepts : ConceptBank or RandomConcepts
        Text concepts, ideally with a class prior (``class_prior`` / ``class_names``, e.g.
        from :func:`bottlekit.concepts.generate` or :func:`bottlekit.concepts.from_text`).
    logit_scale : float, default 100.0
        :math:`s`, CLIP's scale, as in the reference (``pred = 100 * sim``).
    init_value : float, default 1.0
        Value of the prior's entries in :math:`W_0` (reference ``init_val = 1``). Larger
        values make the untrained model follow the prior more sharply.
    learning_rate : float, default 1e-3
        Adam's step. The reference tunes it per dataset and shot count between 5e-6 and
        1e-3 (CUB 5e-5) for thousands of epochs on *unnormalised* CLIP ViT-L/14 features;
        bottlekit's activations are cosines (Adam's step size does not depend on their
        scale, but the number of steps does). On the world's 2,400 training images 1e-3
        lifts test accuracy from 72.4% (prior alone) to 77.5%, best epoch about 100.
    batch_size : int, default 64
        Mini-batch size (reference: 2 to 2048, growing with the shot count).
    max_epochs : int, default 200
        Epochs at most (reference: 1000 to 20000 at its smaller learning rates); 0 keeps
        the initial matrix (the prior-only model). With early stopping, training on the
        world's 2,400 images stops after about 150 epochs. Without a validation set all
        epochs run: in the few-shot regime (1-8 images per class) about 100 epochs
        measured best on the world, 500 over-fit below the untrained prior at one shot.
    patience : int, default 50
        Stop after this many epochs without a better validation score. The reference
        runs all epochs and keeps the best checkpoint (checked every 10 epochs);
        bottlekit checks every epoch.
    validation_fraction : float, default 0.1
        Share of each class held out for early stopping (stratified; at least one example
        per class stays in training). When nothing can be held out (e.g. one or a few
        shots per class) all ``max_epochs`` epochs run and the last matrix is kept; pass
        ``validation_data=(X_val, y_val)`` to ``fit`` to use a separate validation set, as
        the reference does in its few-shot runs.
    early_stopping_metric : {"accuracy", "loss"}, default "loss"
        Keep the epoch with the lowest validation cross-entropy, or (``"accuracy"``, the
        reference's checkpoint rule) the highest validation accuracy, first of ties. On
        small validation sets accuracy is coarse and its first best epoch comes early:
        on the world (2,400 train images, 240 held out, 3 seeds) ``"loss"`` gave 77.7%
        test / 34.4% shifted accuracy against 76.4% / 29.5% for ``"accuracy"``.
    l1_penalty : float, default 0.0
        :math:`\lambda_1` of the reference's optional sparsity term (``lambda_l1 = 0.01``
        when enabled; disabled in every released configuration).
    diversity_penalty : float, default 0.0
        :math:`\lambda_{div}` of the reference's optional "diverse response" term
        (``lambda_div = 0.005`` when enabled; disabled in every released configuration).
    random_state : int, RandomState or None
        Seeds the validation split and the batch order.
    device : str, default "cpu"
        Torch device of the training.
    verbose : bool, default False
        Progress bar over epochs.

    Attributes
    ----------
    concept_names_ : list of str
    association_ : ndarray of float32, shape (n_classes, k)
        The trained association matrix :math:`W` (before the softmax).
    coef_ : ndarray of float32, shape (n_classes, k)
        :math:`s\,\operatorname{softmax}(W)`, the effective linear head on the activations.
    intercept_ : ndarray of float32, shape (n_classes,)
        Zeros (LaBo has no bias).
    residual_coef_, residual_intercept_ : None
    history_ : dict
        Training curves (see :func:`train_association`): ``"epoch"`` (0 = initial matrix),
        ``"train_loss"``, ``"val_loss"``, ``"val_accuracy"``.
    best_epoch_ : int
        Epoch whose matrix was kept (0: the prior alone).
    n_iter_ : int
        Epochs run.
    validation_indices_ : ndarray of int64
        Rows of ``X`` held out for early stopping, sorted (empty when none were, or when
        ``validation_data`` was given).
    n_samples_fit_ : int or None
        Rows of ``X`` (what ``validation_indices_`` index into); None in a model loaded from
        a file written before it was stored.

    Notes
    -----
    ``fit(X, y, validation_data=(X_val, y_val))`` early-stops on a separate labelled set
    instead of a split of ``X``. Where bottlekit departs from the reference code:

    * activations are cosines of L2-normalised embeddings and text vectors; the released
      configurations use the raw CLIP features (``use_img_norm = use_txt_norm = False``),
      which is why their learning rates are so small;
    * the validation score is checked every epoch, epoch 0 (the prior) included, with
      ``patience``, and by default on the loss rather than the accuracy (see above);
    * a prior in which a concept belongs to several classes (or has graded values) is
      used as is, :math:`W_0 = \text{init\_value}\cdot P`; the reference has one class per
      concept;
    * without a prior :math:`W_0 = 0` (the reference's ``use_rand_init`` draws it
      Kaiming-normal).

    Examples
    --------
    >>> import numpy as np
    >>> from bottlekit.concepts import ConceptBank
    >>> rng = np.random.default_rng(0)
    >>> bank = ConceptBank(["red", "blue"], np.eye(2, 3), "toy",
    ...                    class_prior=np.eye(2), class_names=["cardinal", "jay"])
    >>> y = np.repeat([0, 1], 50)
    >>> X = np.eye(2, 3)[y] + 0.3 * rng.normal(size=(100, 3))
    >>> model = LaBo(bank, max_epochs=0).fit(X, y)  # the prior alone
    >>> model.coef_.round(1)  # 100 * softmax([[1, 0], [0, 1]])
    array([[73.1, 26.9],
           [26.9, 73.1]], dtype=float32)
    >>> model.score(X, y) > 0.9
    True
    """

    _FIT_PARAMS: ClassVar[tuple[str, ...]] = ("validation_data",)
    _NAMES_OF_THE_BANK: ClassVar[str | None] = "all"
    _EXTRA_STATE: ClassVar[dict[str, tuple]] = {
        "n_iter_": ("count", None),
        "best_epoch_": ("count", None),
        "history_": ("json", None),
        "validation_indices_": ("int", (None,)),
        "association_": ("float", ("C", "K")),
        "n_samples_fit_": ("count?", None),
    }
    _ADDED_STATE: ClassVar[tuple[str, ...]] = ("n_samples_fit_",)

    def __init__(
        self,
        concepts: ConceptBank | Any,
        *,
        logit_scale: float = 100.0,
        init_value: float = 1.0,
        learning_rate: float = 1e-3,
        batch_size: int = 64,
        max_epochs: int = 200,
        patience: int = 50,
        validation_fraction: float = 0.1,
        early_stopping_metric: str = "loss",
        l1_penalty: float = 0.0,
        diversity_penalty: float = 0.0,
        random_state: Any = None,
        device: str = "cpu",
        verbose: bool = False,
    ) -> None:
        self.concepts = concepts
        self.logit_scale = logit_scale
        self.init_value = init_value
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.early_stopping_metric = early_stopping_metric
        self.l1_penalty = l1_penalty
        self.diversity_penalty = diversity_penalty
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _check_params(self) -> None:
        check_number(self.logit_scale, "logit_scale", low=0, low_open=True)
        check_number(self.init_value, "init_value", low=0, low_open=False)
        check_number(self.learning_rate, "learning_rate", low=0, low_open=True)
        check_number(self.batch_size, "batch_size", integer=True, low=0, low_open=True)
        check_number(self.max_epochs, "max_epochs", integer=True, low=0, low_open=False)
        check_number(self.patience, "patience", integer=True, low=0, low_open=True)
        check_number(
            self.validation_fraction,
            "validation_fraction",
            low=0,
            high=1,
            high_open=True,
            expected="a number in [0, 1)",
        )
        check_choice(self.early_stopping_metric, EARLY_STOPPING_METRICS, "early_stopping_metric")
        check_number(self.l1_penalty, "l1_penalty", low=0, low_open=False)
        check_number(self.diversity_penalty, "diversity_penalty", low=0, low_open=False)
        if not isinstance(self.verbose, (bool, np.bool_)):
            raise ValueError(f"verbose: expected True or False, got {self.verbose!r}")

    def _check_loaded_state(self, source: str) -> None:
        """``history_`` must be the record :func:`train_association` writes: the lists
        ``"epoch"`` (0..``n_iter_``), ``"train_loss"`` and, with validation data,
        ``"val_loss"``, ``"val_accuracy"``, one entry per epoch; ``best_epoch_`` one of them."""
        history, n_iter = self.history_, self.n_iter_
        keys = ["epoch", "train_loss"]
        if isinstance(history, dict) and "val_loss" in history:
            keys += ["val_loss", "val_accuracy"]
        if not isinstance(history, dict) or sorted(history) != sorted(keys):
            raise ValueError(
                f"{source}: history_ should be a dict of the lists 'epoch', 'train_loss' (and "
                f"'val_loss', 'val_accuracy' with validation data), got {repr(history)[:80]}"
            )
        for key in keys:  # lengths first: n_iter_ may be huge in a tampered file
            name = f"history_[{key!r}]"
            if not isinstance(history[key], list) or len(history[key]) != n_iter + 1:
                got = (
                    f"{len(history[key])} entries"
                    if isinstance(history[key], list)
                    else repr(history[key])[:80]
                )
                raise ValueError(
                    f"{source}: {name} should be a list of one entry per epoch 0..n_iter_ "
                    f"({n_iter + 1}), got {got}"
                )
        bounds = {"train_loss": (0, np.inf), "val_loss": (0, np.inf), "val_accuracy": (0, 1)}
        for key in keys:
            low, high = bounds.get(key, (0, np.inf))
            check_json_numbers(history[key], f"history_[{key!r}]", source, low=low, high=high)
        if history["epoch"] != list(range(n_iter + 1)):
            raise ValueError(
                f"{source}: history_['epoch'] is {repr(history['epoch'])[:80]}; expected the "
                f"epochs 0..n_iter_ = 0..{n_iter}"
            )
        if self.best_epoch_ > n_iter:
            raise ValueError(
                f"{source}: best_epoch_ is {self.best_epoch_}; expected an epoch run, in "
                f"[0, n_iter_ = {n_iter}]"
            )
        self._check_loaded_validation_indices(source)

    def _check_loaded_validation_indices(self, source: str) -> None:
        """``validation_indices_`` are the rows fit held out of ``X``: sorted, distinct, in
        ``[0, n_samples_fit_)`` with at least one row of each class left for training, and
        the rows on which ``history_["val_accuracy"]`` was measured, so each accuracy is a
        whole number of them (which catches most cut or added rows).

        What is left unchecked: *which* rows were held out (the split is drawn per class,
        and the file does not store the labels), so a row swapped for another in range
        loads; and the upper bound when ``n_samples_fit_`` is None, as in files written
        before it was stored (a file can also set it to None)."""
        idx = self.validation_indices_
        n_val = len(idx)
        if n_val == 0:  # nothing held out, or validation_data given: nothing to tie
            return
        if idx[0] < 0:
            raise ValueError(
                f"{source}: validation_indices_ holds {idx[0]}; expected rows of the "
                "training data, >= 0"
            )
        if (np.diff(idx) <= 0).any():
            j = int(np.argmax(np.diff(idx) <= 0))
            raise ValueError(
                f"{source}: validation_indices_ is not strictly increasing ({idx[j]} then "
                f"{idx[j + 1]}); fit stores the held-out rows sorted, each once"
            )
        n, n_classes = self.n_samples_fit_, len(self.classes_)
        if n is not None and idx[-1] >= n:
            raise ValueError(
                f"{source}: validation_indices_ holds {idx[-1]}; expected rows of the "
                f"training data, in [0, n_samples_fit_ = {n})"
            )
        if n is not None and n - n_val < n_classes:
            raise ValueError(
                f"{source}: validation_indices_ holds {n_val} of the n_samples_fit_ = {n} "
                f"rows; fit keeps at least one row of each of the {n_classes} classes for "
                "training"
            )
        if "val_accuracy" not in self.history_:
            raise ValueError(
                f"{source}: validation_indices_ holds {n_val} held-out rows but history_ has "
                "no validation curves ('val_loss', 'val_accuracy')"
            )
        # accuracies are float32 means of n_val 0/1 values: relative error <= 2**-24
        tol = 1e-6 * n_val
        if tol < 0.25:
            for epoch, acc in enumerate(self.history_["val_accuracy"]):
                if abs(acc * n_val - round(acc * n_val)) > tol:
                    raise ValueError(
                        f"{source}: history_['val_accuracy'][{epoch}] = {acc!r} is not a "
                        f"whole number of correct predictions out of the {n_val} rows of "
                        "validation_indices_; the held-out rows do not match the training "
                        "record (cut or added)"
                    )

    # ------------------------------------------------------------------ fit
    def _validation_data(self, validation_data: Any, d: int) -> tuple[np.ndarray, np.ndarray]:
        """Check ``(X_val, y_val)`` and map the labels to indices into ``classes_``."""
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError(
                "validation_data: expected a pair (X_val, y_val), got "
                f"{type(validation_data).__name__}"
            )
        try:
            refuse_text(validation_data[0], "X_val")  # numpy's cast parses "1.5" as 1.5
            X_val = np.asarray(validation_data[0], dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                "validation_data: X_val must be an array of numbers (embeddings), got "
                f"{type(validation_data[0]).__name__}"
            ) from None
        y_val = np.asarray(validation_data[1])
        if X_val.ndim != 2 or X_val.shape[1] != d or len(X_val) == 0:
            raise ValueError(
                f"validation_data: X_val must have shape (n_val, {d}) with n_val > 0, "
                f"got {X_val.shape}"
            )
        if not np.isfinite(X_val).all():
            raise ValueError("validation_data: X_val contains NaN or inf")
        if y_val.shape != (len(X_val),):
            raise ValueError(
                f"validation_data: y_val must have shape ({len(X_val)},), got {y_val.shape}"
            )
        try:
            idx = np.clip(np.searchsorted(self.classes_, y_val), 0, len(self.classes_) - 1)
        except TypeError:  # labels that do not compare with classes_ (None, objects)
            raise ValueError(
                f"validation_data: y_val has labels {y_val[:3].tolist()} that are not among "
                f"the training classes {self.classes_[:6].tolist()}"
            ) from None
        bad = self.classes_[idx] != y_val
        if bad.any():
            unknown = np.unique(y_val[bad])[:3].tolist()
            raise ValueError(
                f"validation_data: y_val has labels {unknown} that are not among the "
                f"training classes {self.classes_[:6].tolist()}"
            )
        return X_val, idx.astype(np.int64)

    def _fit_bottleneck(self, X, y, bank, prior, rng, validation_data=None):
        device = resolve_device(self.device)
        self.concept_names_ = list(bank.names)
        self.concept_weights_, self.concept_bias_, self.concept_normalize_ = (
            bank.projection_layer()
        )
        self.concept_link_ = "identity"
        self.residual_coef_ = None
        self.residual_intercept_ = None

        n_classes, k = len(self.classes_), len(bank)
        W0 = initial_association(prior, n_classes, k, self.init_value)
        A = self._activations(X)
        if validation_data is not None:
            X_val, y_val = self._validation_data(validation_data, X.shape[1])
            tr_idx, va_idx = np.arange(len(X)), np.zeros(0, dtype=np.int64)
            A_val = self._activations(X_val)
        else:
            tr_idx, va_idx = stratified_validation_split(y, self.validation_fraction, rng)
            A_val, y_val = (A[va_idx], y[va_idx]) if len(va_idx) else (None, None)
        # a k-column softmax head: one CPU thread beats several (no sync per tiny op)
        with torch_threads(1 if device.type == "cpu" else None):
            W, history = train_association(
                A[tr_idx],
                y[tr_idx],
                W0,
                A_val=A_val,
                y_val=y_val,
                logit_scale=self.logit_scale,
                learning_rate=self.learning_rate,
                batch_size=self.batch_size,
                max_epochs=self.max_epochs,
                patience=self.patience,
                early_stopping_metric=self.early_stopping_metric,
                l1_penalty=self.l1_penalty,
                diversity_penalty=self.diversity_penalty,
                rng=rng,
                device=device,
                verbose=self.verbose,
            )
        self.best_epoch_ = history.pop("best_epoch")
        self.n_iter_ = history.pop("n_epochs")
        self.history_ = history
        self.validation_indices_ = va_idx
        self.n_samples_fit_ = len(X)
        self.association_ = W.astype(np.float32)
        probs = softmax(self.association_.astype(np.float64), axis=1)
        self.coef_ = (float(self.logit_scale) * probs).astype(np.float32)
        self.intercept_ = np.zeros(n_classes, dtype=np.float32)
