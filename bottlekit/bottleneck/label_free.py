r"""``LabelFreeCBM``: Label-free Concept Bottleneck Models (Oikarinen et al., ICLR 2023).

Three steps, as in the reference ``train_cbm.py`` (``Trustworthy-ML-Lab/Label-free-CBM``):

1. **Projection.** A linear map :math:`W_c \in \mathbb{R}^{k\times d}` (no bias) from the
   backbone's features to the concepts is trained with Adam to maximise the mean over
   concepts of the cubed cosine similarity
   :math:`\operatorname{sim}(q_j, P_j) = \cos\bigl(\bar q_j^{\,3}, \bar P_j^{\,3}\bigr)`
   between the projection :math:`q_j = (W_c x_i)_{j}` and the CLIP concept activation
   :math:`P_{ij}` over the training images, where :math:`\bar v = v - \operatorname{mean}(v)`
   is centred over the images and the cube is taken element-wise (it rewards agreement on
   the images where the concept is strongly present or absent).
2. **Interpretability cut-off.** Concepts whose similarity on held-out images is at most
   ``interpretability_cutoff`` (0.45) are dropped: the projection cannot reproduce them.
3. **Sparse head.** The kept activations are standardised (training mean and standard
   deviation) and a multinomial logistic regression with an elastic-net penalty is fitted by
   GLM-SAGA (:func:`bottlekit.bottleneck._glm_saga.glm_saga_path`).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import torch

from bottlekit._checks import check_unused
from bottlekit._deprecation import DEPRECATED, renamed_param
from bottlekit.bottleneck._cbm_base import BaseConceptBottleneck
from bottlekit.bottleneck._glm_saga import MAX_N_LAMBDAS, cpu_threads_for, glm_saga_path
from bottlekit.bottleneck._model_file import check_json_numbers
from bottlekit.bottleneck._params import check_number
from bottlekit.bottleneck._splits import stratified_validation_split
from bottlekit.concepts.bank import ConceptBank
from bottlekit.devices import as_tensor, resolve_device

__all__ = [
    "LabelFreeCBM",
    "cos_cubed_similarity",
    "fit_projection",
]

#: The reference checks the validation similarity every 50 Adam steps (and at the last one).
VALIDATION_INTERVAL = 50
#: How far a stored similarity may lie outside [-1, 1]: fit's are float64 dot products of
#: two unit vectors, off by rounding only (3.3e-14 measured at 100,000 rows).
SIMILARITY_ROUNDING = 1e-6
#: The path's settings when left at their defaults (``None``, ``"auto"``); only the path
#: walk reads them, not the single penalty of ``lam``.
DEFAULT_MAX_NONZERO_PER_CLASS = 30
DEFAULT_N_LAMBDAS = 20
DEFAULT_LAMBDA_MIN_RATIO = 1e-3


def _unit_cubes(a: torch.Tensor) -> torch.Tensor:
    """Columns centred, cubed element-wise and scaled to unit norm (0 for a constant column).

    Each centred column is divided by a power of two near its largest magnitude before
    the cube, which the unit norm then divides out: exact, so the result is bitwise the
    reference's wherever its cubes were finite and not subnormal; before, columns beyond
    about 1e12 in float32 (1e102 in float64) cubed to inf and gave NaN similarities, and
    columns of about 1e-13 cubed to 0 and counted as constant.
    """
    c = a - a.mean(0, keepdim=True)
    peak = c.detach().abs().amax(0, keepdim=True)
    scale = torch.exp2(torch.floor(torch.log2(torch.where(peak > 0, peak, torch.ones_like(peak)))))
    c = (c / scale) ** 3
    norm = torch.linalg.vector_norm(c, dim=0, keepdim=True)
    return c / norm.clamp_min(torch.finfo(c.dtype).tiny)


def cos_cubed_similarity(targets: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    r"""Per-column cubed cosine similarity of Label-free CBM.

    For columns :math:`p, q` (one concept over :math:`n` images):
    :math:`\bar p = p - \operatorname{mean}(p)`, :math:`u = \bar p^{\,3} / \lVert \bar p^{\,3}
    \rVert`, likewise :math:`v` from :math:`q`; the similarity is :math:`u \cdot v \in [-1, 1]`
    (the reference's ``similarity.cos_similarity_cubed_single``). A constant column (zero
    norm after centring) gets similarity 0 instead of NaN.

    Parameters
    ----------
    targets, outputs : Tensor (n, k)
        Target activations (CLIP similarities) and the projection's outputs, one column
        per concept.

    Returns
    -------
    Tensor (k,)
        The cubed cosine of each concept's two columns, in [-1, 1].

    Examples
    --------
    >>> p = torch.tensor([[0.0], [1.0], [3.0]])
    >>> float(cos_cubed_similarity(p, 2 * p + 1))
    1.0
    """
    return (_unit_cubes(targets) * _unit_cubes(outputs)).sum(0)


def fit_projection(
    X_train: np.ndarray,
    P_train: np.ndarray,
    X_val: np.ndarray,
    P_val: np.ndarray,
    *,
    steps: int = 1000,
    lr: float = 1e-3,
    rng: np.random.Generator | None = None,
    device: str | torch.device | None = "cpu",
) -> tuple[np.ndarray, np.ndarray, int]:
    r"""Learn the projection :math:`W_c` by maximising the cubed cosine similarity.

    Full-batch Adam (learning rate ``lr``) on :math:`-\frac1k\sum_j
    \operatorname{sim}((X W_c^\top)_{:j}, P_{:j})` (:func:`cos_cubed_similarity`), starting
    from PyTorch's ``nn.Linear`` initialisation :math:`U(-1/\sqrt d, 1/\sqrt d)`. (The
    reference draws ``min(--proj_batch_size, n)`` = min(50,000, n) random images per step:
    the full batch below 50,000 training images, random subsets above.) As in the
    reference, the validation loss is checked after steps 0, 50, 100, ... and the last; the
    first check that does not improve on the best stops training, and the best weights are
    returned.

    Parameters
    ----------
    X_train, X_val : array (n, d)
        Backbone features.
    P_train, P_val : array (n, k)
        Target concept activations (CLIP image–text similarities).
    steps : int
        Adam steps at most.
    lr : float
        Adam's learning rate.
    rng : numpy Generator, optional
        Seeds the initialisation.
    device : str or torch.device, optional
        Where to train (None: CUDA when available, else the CPU).

    Returns
    -------
    W_c : ndarray (k, d)
        The projection's weights (one row per concept) at the kept step.
    val_similarity : ndarray (k,)
        Per-concept similarity on the validation images at the returned weights.
    best_step : int
        Step whose weights were kept.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4)); P = X @ rng.normal(size=(4, 2))
    >>> W, sim, _ = fit_projection(X[:200], P[:200], X[200:], P[200:], steps=300, lr=1e-2)
    >>> bool(sim.min() > 0.99)
    True
    """
    rng = np.random.default_rng() if rng is None else rng
    dev = resolve_device(device)

    def tensor(a: np.ndarray) -> torch.Tensor:
        return as_tensor(np.asarray(a, dtype=np.float64), device=dev)

    Xt, Xv = tensor(X_train), tensor(X_val)
    Ut, Uv = _unit_cubes(tensor(P_train)), _unit_cubes(tensor(P_val))  # targets are fixed
    k, d = Ut.shape[1], Xt.shape[1]
    bound = 1.0 / np.sqrt(d)
    W = tensor(rng.uniform(-bound, bound, size=(k, d))).requires_grad_(True)
    with cpu_threads_for(dev, Xt.shape[0] * d * k):
        opt = torch.optim.Adam([W], lr=lr)
        best_loss, best_step, best_W = float("inf"), 0, W.detach().clone()
        for step in range(steps):
            opt.zero_grad()
            loss = -(Ut * _unit_cubes(Xt @ W.T)).sum(0).mean()
            loss.backward()
            opt.step()
            if step % VALIDATION_INTERVAL == 0 or step == steps - 1:
                with torch.no_grad():
                    val_loss = -float((Uv * _unit_cubes(Xv @ W.T)).sum(0).mean())
                if step == 0 or val_loss < best_loss:
                    best_loss, best_step, best_W = val_loss, step, W.detach().clone()
                else:  # the reference stops as soon as the validation loss stops improving
                    break
        with torch.no_grad():
            sim = (Uv * _unit_cubes(Xv @ best_W.T)).sum(0)
    return best_W.cpu().numpy(), sim.cpu().numpy(), best_step


class LabelFreeCBM(BaseConceptBottleneck):
    r"""Label-free concept bottleneck model (Oikarinen, Das, Nguyen, Weng; ICLR 2023).

    Steps (see the module docstring): learn a projection :math:`W_c` so that
    :math:`W_c x` reproduces the CLIP concept activations :math:`P = ` ``bank.project(X)``
    under the cubed cosine similarity; drop the concepts it cannot reproduce (validation
    similarity :math:`\le` ``interpretability_cutoff``); standardise
    :math:`a(x) = (W_c x - \mu)/s`; fit a sparse multinomial logistic head on :math:`a` by
    GLM-SAGA on

    .. math:: \frac1n\sum_i -\log\operatorname{softmax}(A a(x_i) + c)_{y_i}
              + \lambda\Bigl(\alpha\lVert A\rVert_1 + \tfrac{1-\alpha}{2}\lVert A\rVert_2^2\Bigr),

    :math:`\alpha` = ``l1_ratio``.

    The standardisation is folded into the concept layer
    (``concept_weights_`` :math:`= W_c / s`, ``concept_bias_`` :math:`= -\mu/s`), so
    :meth:`transform` returns exactly the standardised activations the head sees.

    **One embedding for both roles.** In the paper the network being explained (the
    "backbone", e.g. a ResNet) and CLIP are different models: :math:`W_c` maps the
    backbone's features to concepts, and CLIP only supplies the targets :math:`P`. Here
    ``X`` is the CLIP image embedding and plays both roles: the targets are
    ``bank.project(X)`` and the projection acts on ``X`` itself (raw, not re-normalised:
    ``concept_normalize_`` is all False). To explain another network, fit on its features
    with a bank whose ``project`` gives the CLIP activations of the same images — not
    supported by this class yet. bottlekit's backbones return L2-normalised embeddings, so
    the projection sees unit-norm features, while the reference's ``clip_RN50`` features
    are CLIP's unnormalised ``encode_image`` output (only its targets are cosines).

    **Concepts CLIP does not activate.** Before the projection the reference drops the
    concepts whose mean top-5 CLIP activation over the training images is at most
    ``--clip_cutoff`` (0.25; 0.26 for CUB, 0.28 for Places365 and ImageNet); this class
    does not. Apply :func:`bottlekit.concepts.filter_concepts` to the bank first, with
    ``image_embeddings=X_train`` (its ``not_activated`` filter, ``activation_threshold``;
    set the other thresholds to None to run it alone).

    **Class prior.** Label-free CBM uses no class–concept prior; a bank's ``class_prior``
    is ignored.

    **Choice of the penalty.** The reference fits one penalty (``--lam 7e-4`` for CIFAR,
    2e-4 CUB, 1e-4 ImageNet, 1000 SAGA epochs), hand-tuned per dataset so that the head
    keeps roughly 25–35 non-zero weights per class (the sparsity the paper aims at). Here the
    default walks GLM-SAGA's regularisation path from :math:`\lambda_{\max}` (all weights
    zero) downwards and keeps the smallest penalty at which *every* class has at most
    ``max_nonzero_per_class`` (default 30) non-zero weights: the walk stops at the first
    point over the limit and bisects 4 times in :math:`\log\lambda` between it and the last
    good one
    (the bisection is bottlekit's addition; with a coarse path one step can add many
    weights). ``lam=<float>`` instead reproduces the reference's single fit (note the
    reference divides ``--lam`` by its ``alpha``, our ``l1_ratio``: its ``7e-4`` is
    ``lam=7e-4/0.99`` here).

    **Validation data.** The reference early-stops the projection and applies the
    cut-off on the dataset's *test* split; here a stratified ``validation_fraction`` of the
    training data is held out for both (the projection is trained on the rest, the head on
    all training data).

    Parameters
    ----------
    concepts : ConceptBank or RandomConcepts
        The concepts; their ``project(X)`` gives the CLIP activations :math:`P`.
    projection_steps : int, default 1000
        Adam steps at most for :math:`W_c` (reference ``--proj_steps 1000``).
    projection_lr : float, default 1e-3
        Adam learning rate (reference 1e-3).
    validation_fraction : float in (0, 1), default 0.2
        Share of the training data held out (stratified) for early stopping and the
        cut-off. The reference uses a separate split; 0.2 keeps the heavy-tailed cubed
        similarity reasonably stable on small data.
    interpretability_cutoff : float or None, default 0.45
        Keep concepts whose validation similarity is strictly above this (reference 0.45).
        ``None`` keeps every concept (needed for random concepts, whose activations are not
        an interpretable target; also what the scikit-learn conformance checks use).
    max_nonzero_per_class : int, None or "auto", default "auto"
        Sparsity target of the path walk (see above); ``"auto"`` means 30. None: walk the
        whole path and take its last point. Path walk only: refused (at fit) when ``lam``
        is given.
    lam : float or None, default None
        Fit this single penalty instead of walking the path (the reference's mode).
    l1_ratio : float in (0, 1], default 0.99
        L1 share of the elastic net (reference 0.99).
    step_size : float, default 0.1
        GLM-SAGA step (reference 0.1).
    n_lambdas : int in [1, 1000] or None, default None
        Points on the path, log-spaced (a factor 1.44 apart with the default ratio); None
        means 20. Path walk only: refused (at fit) when ``lam`` is given.
        glm_saga's own default is 100; 20 locate the sparsity target at about half the cost,
        and on the built-in world (2,400 images, text bank) the test accuracy was the same
        (0.7863 with 20 points vs 0.7867 with 100, both at 1000 epochs).
    lambda_min_ratio : float in (0, 1] or None, default None
        Smallest penalty of the path relative to :math:`\lambda_{\max}`; None means 1e-3
        (glm_saga's ``epsilon=0.001``). Path walk only: refused (at fit) when ``lam`` is
        given.
    max_epochs : int, default 200
        SAGA epochs per penalty at most. The reference runs 1000 (``--n_iters``; 80 for
        ImageNet) for its single cold-started penalty; on the path each point starts from
        the previous one. On the world (2,400 images, 20 points) 200 per point fitted the head
        in 15-20 s instead of 4-8 min (one busy core) and changed the test accuracy by
        0.2 point (0.7846 vs 0.7863). Use 1000 with ``lam`` to reproduce the reference.
    tol : float, default 1e-4
        SAGA stops a penalty when an update moves the weights by at most this (reference).
    batch_size : int or None, default 256
        SAGA mini-batch (reference ``--saga_batch_size 256``); None = full batch.
    random_state : int, RandomState or None
        Seeds the validation split, the projection's initialisation and SAGA's shuffling.
    device : str, default "cpu"
        Where the projection and the solver run.
    verbose : bool, default False
        Print progress of the three steps.
    alpha : float, optional
        Deprecated alias of ``l1_ratio`` (FutureWarning; removed in the next release).

    Attributes
    ----------
    concept_names_ : list of str
        Kept concepts (a subset of the bank's, in the bank's order).
    concept_weights_, concept_bias_ : ndarray
        Projection with the standardisation folded in.
    projection_ : ndarray (k, d)
        :math:`W_c` of the kept concepts, before standardisation.
    projection_mean_, projection_std_ : ndarray (k,)
        :math:`\mu, s` of :math:`W_c x` over the training data (std with ddof=1, as the
        reference's ``torch.std``).
    interpretability_ : ndarray (len(bank),)
        Validation similarity of every bank concept, in [-1, 1].
    dropped_concepts_ : list of str
        Concepts removed by the cut-off.
    projection_best_step_ : int
        Adam step whose :math:`W_c` was kept.
    lam_ : float
        Penalty of the chosen head.
    path_lambdas_ : ndarray (m,)
        Penalties solved along the path.
    path_nonzero_ : ndarray (m, n_classes)
        Non-zero weights per class at each of them.
    path_selected_ : int
        Index of the chosen point.
    n_epochs_ : ndarray (m,)
        SAGA epochs at each penalty.
    fit_seconds_ : dict
        Wall time of the steps ("projection", "head").

    Examples
    --------
    >>> import numpy as np
    >>> from bottlekit.concepts import ConceptBank
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 5)); y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> bank = ConceptBank(["a", "b", "c"], np.eye(3, 5), "toy", provenance=[{"kind": "cav"}] * 3)
    >>> model = LabelFreeCBM(bank, projection_lr=1e-2, n_lambdas=20, random_state=0).fit(X, y)
    >>> model.score(X, y) > 0.9
    True
    """

    _NAMES_OF_THE_BANK: ClassVar[str | None] = "some"
    _EXTRA_STATE: ClassVar[dict[str, tuple]] = {
        "interpretability_": ("float", (None,)),
        "projection_best_step_": ("count", None),
        "dropped_concepts_": ("names", None),
        "projection_": ("float", ("K", "D")),
        "projection_mean_": ("float", ("K",)),
        "projection_std_": ("float", ("K",)),
        "lam_": ("number", None),
        "path_lambdas_": ("array", (None,)),
        "path_nonzero_": ("int", (None, "C")),
        "path_selected_": ("count", None),
        "n_epochs_": ("int", (None,)),
        "fit_seconds_": ("json", None),
    }
    _renamed_params: ClassVar[dict[str, str]] = {"alpha": "l1_ratio"}

    def __init__(
        self,
        concepts: ConceptBank | Any,
        *,
        projection_steps: int = 1000,
        projection_lr: float = 1e-3,
        validation_fraction: float = 0.2,
        interpretability_cutoff: float | None = 0.45,
        max_nonzero_per_class: int | str | None = "auto",
        lam: float | None = None,
        l1_ratio: float = 0.99,
        step_size: float = 0.1,
        n_lambdas: int | None = None,
        lambda_min_ratio: float | None = None,
        max_epochs: int = 200,
        tol: float = 1e-4,
        batch_size: int | None = 256,
        random_state: Any = None,
        device: str = "cpu",
        verbose: bool = False,
        alpha: Any = DEPRECATED,
    ) -> None:
        self.concepts = concepts
        self.projection_steps = projection_steps
        self.projection_lr = projection_lr
        self.validation_fraction = validation_fraction
        self.interpretability_cutoff = interpretability_cutoff
        self.max_nonzero_per_class = max_nonzero_per_class
        self.lam = lam
        self.l1_ratio = l1_ratio
        self.step_size = step_size
        self.n_lambdas = n_lambdas
        self.lambda_min_ratio = lambda_min_ratio
        self.max_epochs = max_epochs
        self.tol = tol
        self.batch_size = batch_size
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.alpha = alpha

    def _check_params(self) -> None:
        check_number(self.projection_steps, "projection_steps", low=1, integer=True)
        check_number(self.projection_lr, "projection_lr", low=0, low_open=True)
        check_number(
            self.validation_fraction, "validation_fraction", low=0, high=1,
            low_open=True, high_open=True,
        )  # fmt: skip
        if self.interpretability_cutoff is not None:
            check_number(self.interpretability_cutoff, "interpretability_cutoff", low=-1, high=1)
        if self.max_nonzero_per_class is not None and not (
            isinstance(self.max_nonzero_per_class, str) and self.max_nonzero_per_class == "auto"
        ):
            check_number(
                self.max_nonzero_per_class, "max_nonzero_per_class", low=1, integer=True,
                expected="an int >= 1, None or 'auto'",
            )  # fmt: skip
        if self.lam is not None:
            check_number(self.lam, "lam", low=0)
        self._l1_ratio, name = renamed_param(self, "alpha", "l1_ratio")
        check_number(self._l1_ratio, name, low=0, high=1, low_open=True)
        check_number(self.step_size, "step_size", low=0, low_open=True)
        if self.n_lambdas is not None:
            check_number(self.n_lambdas, "n_lambdas", low=1, high=MAX_N_LAMBDAS, integer=True)
        if self.lambda_min_ratio is not None:
            check_number(self.lambda_min_ratio, "lambda_min_ratio", low=0, high=1, low_open=True)
        check_number(self.max_epochs, "max_epochs", low=1, integer=True)
        check_number(self.tol, "tol", low=0)
        if self.batch_size is not None:
            check_number(self.batch_size, "batch_size", low=1, integer=True)
        if not isinstance(self.verbose, (bool, np.bool_)):
            raise ValueError(f"verbose: expected True or False, got {self.verbose!r}")

    def _check_loaded_state(self, source: str) -> None:
        """The path attributes must describe one GLM-SAGA path (one row per penalty, the
        selected point on it, ``lam_`` its penalty) and ``interpretability_`` /
        ``dropped_concepts_`` the concepts of the stored bank before the cut-off, the
        similarities in [-1, 1] (up to :data:`SIMILARITY_ROUNDING`); ``fit_seconds_`` is the
        dict fit writes."""
        std = self.projection_std_
        if len(std) and std.min() <= 0:
            raise ValueError(
                f"{source}: projection_std_ holds {float(std.min()):g}; expected standard "
                "deviations > 0 (fit sets those of constant activations to 1)"
            )
        lams = self.path_lambdas_
        m = len(lams)
        if m == 0 or lams.dtype.kind != "f" or not np.isfinite(lams).all() or (lams < 0).any():
            raise ValueError(
                f"{source}: path_lambdas_ should be at least one finite penalty >= 0, got "
                f"{lams[:4].tolist()}"
            )
        for key in ("path_nonzero_", "n_epochs_"):
            rows = len(getattr(self, key))
            if rows != m:
                raise ValueError(
                    f"{source}: {key} has {rows} rows; expected one per penalty of "
                    f"path_lambdas_ ({m})"
                )
        k = len(self.concept_names_)
        nonzero = self.path_nonzero_
        if nonzero.min() < 0 or nonzero.max() > k:
            raise ValueError(
                f"{source}: path_nonzero_ holds {nonzero.min()}..{nonzero.max()}; expected "
                f"counts of non-zero weights per class, in [0, {k}]"
            )
        if self.n_epochs_.min() < 1:
            raise ValueError(
                f"{source}: n_epochs_ holds {self.n_epochs_.min()}; expected SAGA epochs >= 1"
            )
        s = self.path_selected_
        if s >= m:
            raise ValueError(
                f"{source}: path_selected_ is {s}; expected an index into path_lambdas_, in "
                f"[0, {m})"
            )
        if self.lam_ != lams[s]:
            raise ValueError(
                f"{source}: lam_ is {self.lam_!r}; expected the penalty of the selected point, "
                f"path_lambdas_[{s}] = {float(lams[s])!r}"
            )
        n_scores = len(self.interpretability_)
        dropped = self.dropped_concepts_
        if isinstance(self.concepts, ConceptBank):
            names, where = list(self.concepts.names), "the stored bank"
        else:  # RandomConcepts (load accepts nothing else)
            names, where = None, f"RandomConcepts(n_concepts={self.concepts.n_concepts})"
        n_bank = len(names) if names is not None else int(self.concepts.n_concepts)
        if n_scores != n_bank:
            raise ValueError(
                f"{source}: interpretability_ has {n_scores} entries; expected one per "
                f"concept of {where} ({n_bank})"
            )
        scores = self.interpretability_
        outside = ~(np.abs(scores) <= 1 + SIMILARITY_ROUNDING)  # finite: the schema's kind
        if outside.any():
            j = int(np.argmax(outside))
            raise ValueError(
                f"{source}: interpretability_[{j}] is {float(scores[j])!r}; expected cubed-cosine "
                "similarities, in [-1, 1]"
            )
        cutoff = self.interpretability_cutoff
        above = np.ones(n_bank, bool) if cutoff is None else scores > cutoff
        if names is not None:
            kept = set(self.concept_names_)
            split = ([n for n in names if n in kept], [n for n in names if n not in kept])
            if split != (list(self.concept_names_), list(dropped)):
                raise ValueError(
                    f"{source}: concept_names_ and dropped_concepts_ should split the stored "
                    f"bank's concepts, in its order, into kept and dropped ones; got "
                    f"{list(self.concept_names_)[:4]} and {list(dropped)[:4]}"
                )
            wrong = [n for n, a in zip(names, above, strict=True) if (n in kept) != a]
            if wrong:
                j = names.index(wrong[0])
                how = "kept" if wrong[0] in kept else "dropped"
                raise ValueError(
                    f"{source}: concept {wrong[0]!r} is {how} with interpretability_ "
                    f"{float(scores[j])!r} and interpretability_cutoff "
                    f"{cutoff!r}; expected the concepts above the cut-off kept and the others "
                    f"dropped, as fit splits them ({len(wrong)} concept(s) differ)"
                )
        elif k + len(dropped) != n_bank:
            raise ValueError(
                f"{source}: concept_names_ ({k}) and dropped_concepts_ ({len(dropped)}) "
                f"should together be the {n_bank} concepts of {where}"
            )
        elif k != int(above.sum()):
            raise ValueError(
                f"{source}: concept_names_ holds {k} concepts, but {int(above.sum())} "
                f"similarities of interpretability_ lie above interpretability_cutoff "
                f"{cutoff!r}; expected fit's split"
            )
        seconds = self.fit_seconds_
        if not isinstance(seconds, dict) or sorted(seconds) != ["head", "projection"]:
            raise ValueError(
                f"{source}: fit_seconds_ should be a dict of the wall times 'projection' and "
                f"'head', got {repr(seconds)[:80]}"
            )
        check_json_numbers(
            list(seconds.values()), "fit_seconds_", source, low=0, what="wall times (s)"
        )

    def _say(self, message: str) -> None:
        if self.verbose:
            print(f"[LabelFreeCBM] {message}", flush=True)

    @classmethod
    def _params_of_old_files(cls, params: dict[str, Any]) -> dict[str, Any]:
        # files saved before hold the old defaults of the path settings next to a lam,
        # where they had no effect: read them as the new defaults
        if params.get("lam") is not None:
            old = {
                "n_lambdas": (DEFAULT_N_LAMBDAS, None),
                "lambda_min_ratio": (DEFAULT_LAMBDA_MIN_RATIO, None),
                "max_nonzero_per_class": (DEFAULT_MAX_NONZERO_PER_CLASS, "auto"),
            }
            for name, (value, new) in old.items():
                if params.get(name) == value:
                    params[name] = new
        return params

    # ------------------------------------------------------------------ fit
    def _path_settings(self) -> dict[str, Any]:
        """``glm_saga_path``'s path arguments, the defaults resolved.

        With ``lam`` the head is that single penalty: the path settings have no effect and
        a value given to one of them is refused (it was ignored, silently). Here, at fit,
        not in ``_check_params``, which load runs (files saved before hold the old
        defaults 20, 1e-3 and 30 next to a ``lam``; load reads those as the new ones).
        """
        if self.lam is not None:
            where = f"with lam={self.lam!r} (a single penalty, no path walk)"
            hint = " or lam=None to walk the path"
            check_unused(self.n_lambdas, "n_lambdas", where, hint)
            check_unused(self.lambda_min_ratio, "lambda_min_ratio", where, hint)
            check_unused(
                self.max_nonzero_per_class, "max_nonzero_per_class", where, hint, unset="auto"
            )
            limit = None
        else:
            limit = self.max_nonzero_per_class
            if isinstance(limit, str):  # "auto"
                limit = DEFAULT_MAX_NONZERO_PER_CLASS
        n_lambdas = DEFAULT_N_LAMBDAS if self.n_lambdas is None else self.n_lambdas
        ratio = (
            DEFAULT_LAMBDA_MIN_RATIO if self.lambda_min_ratio is None else self.lambda_min_ratio
        )
        return {
            "n_lambdas": int(n_lambdas),
            "lambda_min_ratio": float(ratio),
            "max_nonzero_per_class": limit,
        }

    def _fit_bottleneck(self, X, y, bank, prior, rng) -> None:
        del prior  # Label-free CBM has no class-concept prior (see the class docstring)
        # here, not in _check_params (which load runs): whether a device exists depends on
        # the machine, and a model trained on a GPU must load (and predict) on a CPU
        resolve_device(self.device)
        path_settings = self._path_settings()
        t0 = time.perf_counter()
        P = bank.project(X).astype(np.float64)
        train_idx, val_idx = stratified_validation_split(
            y,
            self.validation_fraction,
            rng,
            min_per_class=1,
            min_train_per_class=0,
            min_validation=2,
        )
        if len(train_idx) < 2 or len(val_idx) < 2:
            raise ValueError(
                "LabelFreeCBM needs at least 2 training and 2 validation examples for the "
                f"projection; got n_samples={len(y)} with "
                f"validation_fraction={self.validation_fraction}"
            )
        W_all, sim, best_step = fit_projection(
            X[train_idx], P[train_idx], X[val_idx], P[val_idx],
            steps=int(self.projection_steps), lr=float(self.projection_lr), rng=rng,
            device=self.device,
        )  # fmt: skip
        self.interpretability_ = sim.astype(np.float64)
        self.projection_best_step_ = int(best_step)
        self._say(
            f"projection: best step {best_step}, mean validation similarity {sim.mean():.4f}"
        )
        if self.interpretability_cutoff is None:
            keep = np.ones(len(bank), dtype=bool)
        else:
            keep = sim > self.interpretability_cutoff
        if not keep.any():
            best = int(np.argmax(sim))
            raise ValueError(
                f"interpretability_cutoff={self.interpretability_cutoff}: no concept's "
                f"projection reaches it on the validation data; the best similarity is "
                f"{sim[best]:.4f} ({bank.names[best]!r}). Lower the cut-off, give more data "
                "or projection_steps, or use interpretability_cutoff=None to keep every concept"
            )
        names = list(bank.names)
        self.dropped_concepts_ = [n for n, k in zip(names, keep, strict=True) if not k]
        self._say(f"cut-off: kept {int(keep.sum())} of {len(names)} concepts")
        W_c = W_all[keep]
        Q = X @ W_c.T
        mean = Q.mean(0)
        std = Q.std(0, ddof=1) if len(Q) > 1 else np.ones(Q.shape[1])
        std = np.where(std > np.finfo(np.float32).tiny, std, 1.0)  # constant activation
        t1 = time.perf_counter()

        path = glm_saga_path(
            (Q - mean) / std, y,
            l1_ratio=float(self._l1_ratio), step_size=float(self.step_size),
            lambdas=None if self.lam is None else [float(self.lam)],
            **path_settings,
            max_epochs=int(self.max_epochs), tol=float(self.tol), batch_size=self.batch_size,
            n_classes=len(self.classes_), random_state=rng, device=self.device,
        )  # fmt: skip
        t2 = time.perf_counter()
        self._say(
            f"head: lambda {path.lam:.3g} (point {path.selected + 1} of {len(path.lambdas)}), "
            f"{int(path.nonzero[path.selected].sum())} non-zero weights"
        )

        self.concept_names_ = [n for n, k in zip(names, keep, strict=True) if k]
        self.projection_ = W_c.astype(np.float32)
        self.projection_mean_ = mean.astype(np.float32)
        self.projection_std_ = std.astype(np.float32)
        self.concept_weights_ = (W_c / std[:, None]).astype(np.float32)
        self.concept_bias_ = (-mean / std).astype(np.float32)
        self.concept_normalize_ = np.zeros(len(W_c), dtype=bool)
        self.concept_link_ = "identity"
        self.coef_ = path.weight.astype(np.float32)
        self.intercept_ = path.bias.astype(np.float32)
        self.residual_coef_ = None
        self.residual_intercept_ = None
        self.lam_ = path.lam
        self.path_lambdas_ = path.lambdas
        self.path_nonzero_ = path.nonzero
        self.path_selected_ = int(path.selected)
        self.n_epochs_ = path.epochs
        self.fit_seconds_ = {"projection": t1 - t0, "head": t2 - t1}
