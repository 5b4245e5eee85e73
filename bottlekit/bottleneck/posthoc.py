r"""``PosthocCBM``: Post-hoc Concept Bottleneck Models (Yuksekgonul, Wang, Zou, ICLR 2023).

Embeddings are projected onto a concept bank (CAVs or CLIP text vectors, see
:meth:`bottlekit.concepts.ConceptBank.project`) and a sparse linear head is fitted on
the projections. PCBM-h (``residual=True``) keeps that head and fits a linear residual
on the raw embedding on top of it, to recover the accuracy the bottleneck loses.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from bottlekit._checks import check_choice, check_unused
from bottlekit.bottleneck._cbm_base import BaseConceptBottleneck
from bottlekit.bottleneck._ovr_sgd import sgd_ovr_elastic_net
from bottlekit.bottleneck._ovr_sgd_shared import sgd_ovr_elastic_net_shared
from bottlekit.bottleneck._params import check_number
from bottlekit.concepts.bank import ConceptBank
from bottlekit.devices import as_tensor, resolve_device, torch_threads

__all__ = ["PosthocCBM"]

#: ``sgd_order`` values and the one-vs-rest SGD that each runs
#: PCBM-h's residual training (the reference's settings) where they are left None.
RESIDUAL_DEFAULTS: dict[str, float] = {
    "residual_lr": 0.01,
    "residual_epochs": 20,
    "residual_batch_size": 64,
    "residual_l2": 0.001,
}
SGD_ORDERS = {"shared": sgd_ovr_elastic_net_shared, "per_class": sgd_ovr_elastic_net}


def check_head_params(lam: Any, l1_ratio: Any, max_iter: Any, tol: Any, sgd_order: Any) -> None:
    """Raise ``ValueError`` naming the first of the head's hyper-parameters that is bad."""
    check_number(lam, "lam", low=0, low_open=False)
    check_number(l1_ratio, "l1_ratio", low=0, high=1, expected="a number in [0, 1]")
    check_number(max_iter, "max_iter", integer=True, low=0, low_open=True)
    check_number(tol, "tol", low=0, low_open=False)
    check_choice(sgd_order, sorted(SGD_ORDERS), "sgd_order")


def _check_head_data(A: Any, y: Any, rng: Any) -> None:
    """Raise unless ``A`` is a finite (n, k) array, ``y`` n labels of >= 2 classes and
    ``rng`` a numpy Generator."""
    shape = np.shape(A)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(
            f"A: expected a 2-D array (n, k) of concept activations with n, k >= 1, got shape "
            f"{shape}"
        )
    try:
        finite = bool(np.isfinite(np.asarray(A, dtype=np.float64)).all())
    except (TypeError, ValueError) as exc:
        raise ValueError(f"A: expected an array of numbers ({exc})") from None
    if not finite:
        raise ValueError("A contains NaN or inf; expected finite concept activations")
    if np.shape(y) != (shape[0],):
        raise ValueError(
            f"y: expected shape ({shape[0]},), one label per row of A, got {np.shape(y)}"
        )
    n_classes = len(np.unique(y))
    if n_classes < 2:
        raise ValueError(f"y: expected at least 2 classes, got {n_classes}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng: expected a numpy Generator (np.random.default_rng), got {type(rng).__name__}"
        )


def fit_elastic_net_head(
    A: np.ndarray,
    y: np.ndarray,
    lam: float,
    l1_ratio: float,
    max_iter: int,
    tol: float,
    rng: np.random.Generator,
    sgd_order: str = "per_class",
) -> tuple[np.ndarray, np.ndarray, int]:
    r"""Post-hoc CBM's sparse head: one-vs-rest logistic regression with an elastic net,
    trained by SGD as the reference code does.

    For each class :math:`c` (one problem for two classes), with :math:`y_{ic} = 1` for
    the class and 0 for the rest,

    .. math::
        \min_{w_c,b_c}\ \frac1n\sum_i \ell(w_c^\top a_i + b_c, y_{ic})
        + \lambda\big(\rho\lVert w_c\rVert_1 + \tfrac{1-\rho}{2}\lVert w_c\rVert_2^2\big)

    by plain SGD: the reference's ``SGDClassifier(loss="log_loss", penalty="elasticnet",
    alpha=lam, l1_ratio=l1_ratio, max_iter=max_iter, tol=tol)``, with the same parameters
    (:math:`\lambda` = ``alpha``, :math:`\rho` = ``l1_ratio``), seeded by the first draw
    of ``rng``. ``sgd_order`` chooses how the classes' problems visit the samples:

    * ``"per_class"`` (default): each class its own order, as scikit-learn draws them,
      :func:`~bottlekit.bottleneck._ovr_sgd.sgd_ovr_elastic_net`, which returns
      scikit-learn's (and the reference code's) coefficients for the same seed, bit for
      bit (1.6-2.4 x scikit-learn's speed on one core, measured);
    * ``"shared"``: one random order per epoch for all classes,
      :func:`~bottlekit.bottleneck._ovr_sgd_shared.sgd_ovr_elastic_net_shared`, which steps
      all classes at once in SIMD (3.3-5.4 x scikit-learn's speed on one core, measured;
      the same algorithm per class, so the same accuracy and sparsity up to seed-to-seed
      noise, but not the same coefficients).

    Both fit the classes in parallel on numba's threads; neither result depends on them.

    Returns ``coef`` (C, k) and ``intercept`` (C,) as float32, one row per class (a binary
    problem gets logits :math:`(-z/2, z/2)`, the same sigmoid), and the epochs run.
    """
    check_head_params(lam, l1_ratio, max_iter, tol, sgd_order)
    _check_head_data(A, y, rng)
    coef64, intercept64, n_iter = SGD_ORDERS[sgd_order](
        A,
        y,
        alpha=lam,
        l1_ratio=l1_ratio,
        max_iter=max_iter,
        tol=tol,
        random_state=int(rng.integers(2**31 - 1)),
    )
    if coef64.shape[0] == 1:  # binary: logits (-z/2, z/2) give the same sigmoid
        w, c = coef64[0], intercept64[0]
        coef = np.stack([-w / 2, w / 2]).astype(np.float32)
        intercept = np.array([-c / 2, c / 2], dtype=np.float32)
    else:
        coef = coef64.astype(np.float32)
        intercept = intercept64.astype(np.float32)
    return coef, intercept, n_iter


class SparseConceptHead:
    """The concept layer and head that :class:`PosthocCBM` and ``DiscoveredCBM`` share.

    A mixin of :class:`~bottlekit.bottleneck._cbm_base.BaseConceptBottleneck` subclasses
    with the hyper-parameters ``lam``, ``l1_ratio``, ``max_iter``, ``tol`` and
    ``sgd_order``: the concept layer is a bank's own projection rule and the head is
    :func:`fit_elastic_net_head` on the projections.
    """

    def _check_head_params(self) -> None:
        check_head_params(self.lam, self.l1_ratio, self.max_iter, self.tol, self.sgd_order)

    def _fit_sparse_head(
        self, bank: ConceptBank, X: np.ndarray, y: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Set the concept layer to ``bank``'s projections and fit the elastic-net head.

        Sets ``concept_names_``, the concept layer, ``coef_``, ``intercept_``,
        ``n_iter_`` and no residual; returns the training activations (n, k).
        """
        self.concept_names_ = list(bank.names)
        self.concept_weights_, self.concept_bias_, self.concept_normalize_ = (
            bank.projection_layer()
        )
        self.concept_link_ = "identity"
        A = self._activations(X)
        self.coef_, self.intercept_, self.n_iter_ = fit_elastic_net_head(
            A, y, self.lam, self.l1_ratio, self.max_iter, self.tol, rng, self.sgd_order
        )
        self.residual_coef_ = None
        self.residual_intercept_ = None
        return A


class PosthocCBM(SparseConceptHead, BaseConceptBottleneck):
    r"""Post-hoc concept bottleneck model (PCBM) and its hybrid PCBM-h.

    Concept activations are the bank's projections
    :math:`a_j(x) = (v_j\cdot x + b_j)/\lVert v_j\rVert` (CAVs; cosine for text
    concepts). The head is the reference's elastic-net logistic regression, fitted by
    stochastic gradient descent on

    .. math:: \frac1n\sum_i \ell\bigl(y_i, w^\top a(x_i) + c\bigr)
              + \lambda\Bigl(\alpha\lVert w\rVert_1 + \tfrac{1-\alpha}{2}\lVert w\rVert_2^2\Bigr)

    (``SGDClassifier(loss="log_loss", penalty="elasticnet")``, one-vs-rest over classes as
    in the reference, compiled with numba, the classes in parallel on numba's threads; by
    default it returns scikit-learn's coefficients, with ``sgd_order="shared"`` all classes
    visit the samples in one shared order and step together in SIMD). With ``residual=True``
    (PCBM-h) the head is frozen and a linear
    layer :math:`R x + r` on the raw embedding is trained with Adam on
    :math:`\mathrm{CE}(y, w^\top a(x) + c + Rx + r) + \lambda_R\,\mathrm{mean}(R^2)`.

    Parameters
    ----------
    concepts : ConceptBank or RandomConcepts
        The concept bank (its backbone must have produced ``X``).
    lam : float, default 1e-5
        Elastic-net strength :math:`\lambda` (``alpha`` of SGDClassifier). The reference
        default is 1e-5 (2e-4 for CUB); it is the main knob between accuracy and sparsity.
    l1_ratio : float, default 0.99
        Mixing :math:`\alpha` of the L1 and L2 penalties (reference: 0.99, mostly L1).
    max_iter : int, default 10000
        Epochs of SGD at most (reference: 10000; SGD stops earlier at ``tol``).
    tol : float, default 1e-3
        SGD's stopping tolerance (scikit-learn default, as in the reference).
    sgd_order : {"per_class", "shared"}, default "per_class"
        How the one-vs-rest problems visit the samples. ``"per_class"``: one order per
        class as scikit-learn draws them, reproducing the reference code's
        ``SGDClassifier`` coefficients bit for bit for the same seed. ``"shared"``: one
        random order per epoch for all classes, which lets one step update every class
        at once (1.7-2.3 x faster than ``"per_class"`` on one core; same accuracy and
        sparsity up to seed-to-seed noise, other coefficients). See
        :func:`fit_elastic_net_head`.
    residual : bool, default False
        Fit PCBM-h. The four ``residual_*`` settings are its residual's: with
        ``residual=False`` fit refuses a value given to one of them (they were ignored,
        silently).
    residual_lr : float or None, default None
        Adam learning rate of the residual; None means 0.01 (reference 0.01).
    residual_epochs : int or None, default None
        Epochs of residual training; None means 20 (reference 20; the last epoch is kept).
    residual_batch_size : int or None, default None
        None means 64 (reference 64).
    residual_l2 : float or None, default None
        :math:`\lambda_R`; None means 0.001 (reference 0.001).
    device : str, default "cpu"
        Device of the residual training.
    random_state : int, RandomState or None
        Seeds SGD's shuffling and the residual's initialisation and batches.

    Attributes
    ----------
    concept_names_ : list of str
    coef_ : ndarray of shape (n_classes, k)
        Concept weights of each class (for two classes: :math:`\mp w/2`, so that the
        logit difference is the binary model's :math:`w^\top a + c`).
    intercept_ : ndarray of shape (n_classes,)
    residual_coef_, residual_intercept_ : ndarray or None
        The PCBM-h residual.
    n_iter_ : int
        SGD epochs run.

    Examples
    --------
    >>> import numpy as np
    >>> from bottlekit.concepts import ConceptBank
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int)
    >>> bank = ConceptBank(["x0", "x1"], np.eye(2, 3), "toy", provenance=[{"kind": "cav"}] * 2)
    >>> model = PosthocCBM(bank, lam=1e-3, random_state=0).fit(X, y)
    >>> model.score(X, y) > 0.95
    True
    """

    _NAMES_OF_THE_BANK: ClassVar[str | None] = "all"
    _EXTRA_STATE: ClassVar[dict[str, tuple]] = {"n_iter_": ("count", None)}

    def __init__(
        self,
        concepts: ConceptBank | Any,
        *,
        lam: float = 1e-5,
        l1_ratio: float = 0.99,
        max_iter: int = 10000,
        tol: float = 1e-3,
        sgd_order: str = "per_class",
        residual: bool = False,
        residual_lr: float | None = None,
        residual_epochs: int | None = None,
        residual_batch_size: int | None = None,
        residual_l2: float | None = None,
        device: str = "cpu",
        random_state: Any = None,
    ) -> None:
        self.concepts = concepts
        self.lam = lam
        self.l1_ratio = l1_ratio
        self.max_iter = max_iter
        self.tol = tol
        self.sgd_order = sgd_order
        self.residual = residual
        self.residual_lr = residual_lr
        self.residual_epochs = residual_epochs
        self.residual_batch_size = residual_batch_size
        self.residual_l2 = residual_l2
        self.device = device
        self.random_state = random_state

    def _check_params(self) -> None:
        self._check_head_params()
        if not isinstance(self.residual, (bool, np.bool_)):
            raise ValueError(f"residual: expected True or False, got {self.residual!r}")
        # None: RESIDUAL_DEFAULTS (resolved at fit); refused at fit without the residual
        if self.residual_lr is not None:
            check_number(self.residual_lr, "residual_lr", low=0, low_open=True)
        if self.residual_epochs is not None:
            check_number(
                self.residual_epochs, "residual_epochs", integer=True, low=0, low_open=True
            )
        if self.residual_batch_size is not None:
            check_number(
                self.residual_batch_size, "residual_batch_size", integer=True, low=0,
                low_open=True,
            )  # fmt: skip
        if self.residual_l2 is not None:
            check_number(self.residual_l2, "residual_l2", low=0, low_open=False)

    @classmethod
    def _params_of_old_files(cls, params: dict[str, Any]) -> dict[str, Any]:
        # files saved before the residual settings defaulted to None hold the old defaults
        # even without a residual, where they had no effect: read them as None
        if params.get("residual") is False:
            for name, old in RESIDUAL_DEFAULTS.items():
                if params.get(name) == old:
                    params[name] = None
        return params

    # ------------------------------------------------------------------ fit
    def _fit_bottleneck(self, X, y, bank, prior, rng) -> None:
        if not self.residual:  # here, not in _check_params, which load runs
            for name in RESIDUAL_DEFAULTS:
                check_unused(
                    getattr(self, name), name, "with residual=False (a setting of PCBM-h's "
                    "residual)", " or set residual=True",
                )  # fmt: skip
        A = self._fit_sparse_head(bank, X, y, rng)
        if self.residual:
            self._fit_residual(X, y, A, rng)

    def _residual_settings(self) -> dict[str, Any]:
        """The ``residual_*`` settings, None resolved to :data:`RESIDUAL_DEFAULTS`."""
        return {
            name: default if getattr(self, name) is None else getattr(self, name)
            for name, default in RESIDUAL_DEFAULTS.items()
        }

    def _fit_residual(self, X, y, A, rng) -> None:
        """PCBM-h: train a linear residual on top of the frozen concept head."""
        settings = self._residual_settings()
        device = resolve_device(self.device)
        seed = int(rng.integers(2**31 - 1))
        gen = torch.Generator().manual_seed(seed)
        # nn.Linear's default initialisation, as in the reference, from a seeded CPU
        # generator put back after (torch.manual_seed reset the caller's, CUDA's too)
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(seed)
            layer = torch.nn.Linear(X.shape[1], len(self.classes_))
        layer = layer.to(device)
        head_logits = torch.as_tensor(
            A @ self.coef_.T.astype(np.float64) + self.intercept_, dtype=torch.float32
        )
        Xt = as_tensor(X, dtype=torch.float32)
        yt = torch.as_tensor(y, dtype=torch.long)
        opt = torch.optim.Adam(layer.parameters(), lr=settings["residual_lr"])
        loss_fn = torch.nn.CrossEntropyLoss()
        with torch_threads(1 if device.type == "cpu" else None):
            self._residual_epochs(layer, opt, loss_fn, Xt, yt, head_logits, gen, device, settings)
        self.residual_coef_ = layer.weight.detach().cpu().numpy().astype(np.float32)
        self.residual_intercept_ = layer.bias.detach().cpu().numpy().astype(np.float32)

    def _residual_epochs(
        self, layer, opt, loss_fn, Xt, yt, head_logits, gen, device, settings
    ) -> None:
        n, bs = len(Xt), int(settings["residual_batch_size"])
        l2 = settings["residual_l2"]
        for _ in range(int(settings["residual_epochs"])):
            for idx in torch.randperm(n, generator=gen).split(bs):
                xb, yb, hb = Xt[idx].to(device), yt[idx].to(device), head_logits[idx].to(device)
                opt.zero_grad()
                loss = loss_fn(hb + layer(xb), yb)
                loss = loss + l2 * (layer.weight**2).mean()
                loss.backward()
                opt.step()
