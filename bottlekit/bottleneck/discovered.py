r"""``DiscoveredCBM``: Discover-then-Name concept bottleneck (Rao et al., ECCV 2024).

DN-CBM learns concepts from the backbone instead of being told them: a sparse
autoencoder is trained on the image embeddings
(:func:`~bottlekit.concepts.discovery.discover`), each of its atoms is named by the
nearest text of a vocabulary (:func:`~bottlekit.concepts.discovery.name_concepts`), and a
sparse linear head is fitted on the atoms' activations.

The concept layer is the affine part of the SAE encoder, :math:`a_j(x) = (w_j\cdot x +
b_j)/\lVert w_j\rVert` (the form every bottlekit CBM shares, so prediction, explanation,
editing and saving are those of the base class); the paper's head sees the sparse codes
(the same pre-activations after ReLU/TopK). The head is the elastic-net logistic
regression of :class:`~bottlekit.bottleneck.PosthocCBM`.

Differences from the reference code (neuroexplicit-saar/Discover-then-Name): its SAE is
a ReLU autoencoder with an L1 penalty (8 d atoms, lr 5e-4, batches of 4096, 200 epochs),
here a TopK, BatchTopK or NMF dictionary; its names are plain cosines with the unit text
embeddings, here centred ones (``name_concepts(center=True)``); its probe is a bias-free
linear layer trained by Adam (lr 1e-3; 1e-2 on CIFAR-100, 0.1 on Waterbirds; batches of
512, 200 epochs) on the cross-entropy plus :math:`\lambda\,\mathrm{mean}\lvert W\rvert`
(:math:`\lambda` = 1, 10 on Waterbirds), so its :math:`\lambda` and ``lam`` here (PCBM's
elastic-net strength, ``SGDClassifier``'s ``alpha``) are different knobs and values do
not carry over.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from bottlekit._checks import check_choice
from bottlekit.bottleneck._cbm_base import BaseConceptBottleneck
from bottlekit.bottleneck._model_file import check_distinct_positions
from bottlekit.bottleneck._params import check_number
from bottlekit.bottleneck.posthoc import SparseConceptHead
from bottlekit.concepts.bank import ConceptBank
from bottlekit.concepts.discovery import ENCODERS, METHODS, discover, name_concepts

__all__ = ["DiscoveredCBM"]


class DiscoveredCBM(SparseConceptHead, BaseConceptBottleneck):
    r"""Discover-then-Name CBM: SAE atoms on the embeddings, named by a vocabulary.

    Parameters
    ----------
    concepts : ConceptBank or RandomConcepts
        The naming vocabulary (text vectors of candidate names on the embeddings'
        backbone), not the bottleneck's concepts: those are discovered.
    n_concepts : int, default 64
        Atoms of the dictionary (at most the number of training embeddings); dead atoms
        are left out of the bottleneck.
    method : {"topk_sae", "batchtopk_sae", "nmf"}, default "topk_sae"
    k : int, optional
        Active atoms per embedding (see :func:`~bottlekit.concepts.discovery.discover`).
        SAE methods only, as ``batch_size``, ``learning_rate`` and ``encoder``: with
        ``method="nmf"`` fit refuses a value given to one of them (NMF reads none).
    epochs : int, default 200
        Passes of the dictionary learning over ``X`` (NMF: iterations at most).
    batch_size : int or None, default None
        None means 256.
    learning_rate : float or None, default None
        None means 1e-3.
    encoder : {"learned", "decoder"} or None, default None
        The concept layer: the SAE's own encoder, or the projection on the decoder atoms
        (see :func:`~bottlekit.concepts.discovery.discover`; on the built-in world the
        atoms' projections recover more of the world's concepts); None means
        ``"learned"``.
    lam : float, default 1e-5
        Elastic-net strength of the head (as :class:`PosthocCBM`).
    l1_ratio : float, default 0.99
        Mixing :math:`\alpha` of the head's L1 and L2 penalties (as :class:`PosthocCBM`).
    max_iter : int, default 10000
        Epochs of the head's SGD at most (it stops earlier at ``tol``).
    tol : float, default 1e-3
        The head's SGD stopping tolerance.
    sgd_order : {"per_class", "shared"}, default "per_class"
        The head's sample order (as :class:`PosthocCBM`): one per class as scikit-learn
        draws them (its coefficients), or one shared by all classes (faster).
    device : str, default "cpu"
        Where the SAE trains.
    random_state : int, RandomState or None
        Seeds the dictionary learning and the head's SGD shuffling.

    Attributes
    ----------
    concept_names_ : list of str
        The atoms' names (a repeated name gets ``" [atom j]"``).
    atom_ids_ : ndarray of int, shape (k,)
        Dictionary atom of each concept.
    name_confidence_ : ndarray of shape (k,)
        Cosine of each atom with its name's (centred) text vector.
    dictionary_ : ndarray of shape (n_concepts, d)
        All atoms, dead ones included.
    n_dead_ : int
        Atoms that never fired on the training embeddings.
    coef_, intercept_ : ndarray
        The head.

    Examples
    --------
    >>> import numpy as np
    >>> from bottlekit.concepts import RandomConcepts
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 8)); y = (X[:, 0] > 0).astype(int)
    >>> model = DiscoveredCBM(RandomConcepts(20, random_state=0), n_concepts=16, epochs=20,
    ...                       lam=1e-3, random_state=0).fit(X, y)
    >>> model.score(X, y) > 0.9
    True
    """

    _EXTRA_STATE: ClassVar[dict[str, tuple]] = {
        "n_iter_": ("count", None),
        "n_dead_": ("count", None),
        "atom_ids_": ("int", ("K",)),
        "name_confidence_": ("float", ("K",)),
        "dictionary_": ("float", (None, "D")),
    }

    def __init__(
        self,
        concepts: ConceptBank | Any,
        *,
        n_concepts: int = 64,
        method: str = "topk_sae",
        k: int | None = None,
        epochs: int = 200,
        batch_size: int | None = None,
        learning_rate: float | None = None,
        encoder: str | None = None,
        lam: float = 1e-5,
        l1_ratio: float = 0.99,
        max_iter: int = 10000,
        tol: float = 1e-3,
        sgd_order: str = "per_class",
        device: str = "cpu",
        random_state: Any = None,
    ) -> None:
        self.concepts = concepts
        self.n_concepts = n_concepts
        self.method = method
        self.k = k
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.encoder = encoder
        self.lam = lam
        self.l1_ratio = l1_ratio
        self.max_iter = max_iter
        self.tol = tol
        self.sgd_order = sgd_order
        self.device = device
        self.random_state = random_state

    def _check_params(self) -> None:
        check_number(self.n_concepts, "n_concepts", integer=True, low=0, low_open=True)
        check_choice(self.method, METHODS, "method")
        if self.k is not None:
            check_number(self.k, "k", integer=True, low=0, low_open=True)
        check_number(self.epochs, "epochs", integer=True, low=0, low_open=True)
        # None: discover's defaults; with method="nmf" discover (at fit) refuses a value
        if self.batch_size is not None:
            check_number(self.batch_size, "batch_size", integer=True, low=0, low_open=True)
        if self.learning_rate is not None:
            check_number(self.learning_rate, "learning_rate", low=0, low_open=True)
        if self.encoder is not None:
            check_choice(self.encoder, ENCODERS, "encoder")
        self._check_head_params()

    @classmethod
    def _params_of_old_files(cls, params: dict[str, Any]) -> dict[str, Any]:
        # files saved before hold the SAE settings' old defaults with method="nmf" too,
        # where they had no effect: read them as None
        if params.get("method") == "nmf":
            for name, old in (("batch_size", 256), ("learning_rate", 1e-3)):
                if params.get(name) == old:
                    params[name] = None
            if params.get("encoder") == "learned":
                params["encoder"] = None
        return params

    def _check_loaded_state(self, source: str) -> None:
        m = len(self.dictionary_)
        if m != self.n_concepts:
            raise ValueError(
                f"{source}: dictionary_ has {m} atoms; expected n_concepts={self.n_concepts}"
            )
        check_distinct_positions(
            self.atom_ids_, m, "atom_ids_", source, within="atoms of dictionary_", items="atoms"
        )
        if self.n_dead_ > m:
            raise ValueError(
                f"{source}: n_dead_ is {self.n_dead_}; expected a count of the dictionary's "
                f"atoms that never fired, in [0, {m}]"
            )

    def _fit_bottleneck(self, X, y, bank, prior, rng) -> None:
        dictionary = discover(
            X,
            n_concepts=self.n_concepts,
            method=self.method,
            k=self.k,
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            encoder=self.encoder,
            backbone_id=bank.backbone_id,
            device=self.device,
            random_state=int(rng.integers(2**31 - 1)),
        )
        named = name_concepts(dictionary, bank)
        self.atom_ids_ = np.array([p["atom"] for p in named.provenance], dtype=np.int64)
        self.name_confidence_ = np.array(
            [p["name_confidence"] for p in named.provenance], dtype=np.float32
        )
        self.dictionary_ = dictionary.dictionary.astype(np.float32)
        self.n_dead_ = dictionary.n_dead
        # the named atoms as a concept layer (the bank's own projection rule) and its head
        self._fit_sparse_head(named, X, y, rng)
