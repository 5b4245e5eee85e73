r"""``decompose``: SpLiCE, each embedding as a sparse non-negative mix of vocabulary concepts.

SpLiCE (Bhalla et al. 2024) unit-normalises the image embeddings, centres them on the
image mean (the mean of unit-normalised image embeddings) and the vocabulary's unit text
embeddings on their mean (which removes the modality gap between the two), renormalises
both, and solves for every image

.. math::

    \min_{w \ge 0}\; \lVert \tilde x - C^\top w\rVert_2^2
    + \lambda\lVert w\rVert_1

with ``l1`` :math:`= \lambda` scaled as the reference code's ``l1_penalty``
(AI4LIFE-GROUP/SpLiCE: its ADMM minimises exactly this, its scikit-learn path calls
``Lasso(alpha=l1_penalty / (2 d), positive=True, fit_intercept=False)`` with the
:math:`d` dimensions as samples), so a value taken from the paper's code gives the same
decomposition here; unscaled by :math:`d`, so one ``l1`` gives similar sparsity for any
``d``. The solver is ADMM, as in the paper, batched over
images in torch: the linear step uses one Cholesky factor of
:math:`C C^\top + \rho I` (Woodbury form when the vocabulary is larger than ``d``).
The reconstruction is mapped back as in SpLiCE's ``recompose_image``:
:math:`\hat x = \mathrm{norm}(\mathrm{norm}(C^\top w) + \mu_{img})`, and its cosine with
the image embedding is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bottlekit._arrays import as_real_array
from bottlekit._checks import check_choice, check_number, check_unused
from bottlekit.concepts.bank import ConceptBank
from bottlekit.concepts.discovery._checks import (
    at_mean,
    check_embeddings,
    refuse_concepts_at_mean,
)

__all__ = ["SOLVERS", "SparseDecomposition", "decompose"]

#: The values of ``solver``.
SOLVERS = ("auto", "admm", "lasso")
#: ADMM's penalty parameter when ``rho`` is None.
DEFAULT_RHO = 5.0

#: The most coordinate-descent sweeps passed to scikit-learn's Lasso (a larger max_iter
#: raised OverflowError from its Cython loop); more than any image takes.
_MAX_SWEEPS = 2**31 - 1


@dataclass
class SparseDecomposition:
    """What :func:`decompose` returns.

    The fields are also its attributes.

    Parameters
    ----------
    weights : ndarray of shape (n, k), float32
        Non-negative concept weights of each image.
    cosine : ndarray of shape (n,)
        Cosine of the reconstruction with the image embedding (0 for a zero row of ``X``,
        which has no direction).
    names : list of str
        The vocabulary's concept names (columns of ``weights``).
    n_iter : int
        ADMM iterations run (``"lasso"``: the most coordinate-descent sweeps of an image).

    Examples
    --------
    >>> import numpy as np
    >>> dec = SparseDecomposition(np.array([[0.0, 0.5, 0.2]], np.float32), np.array([0.9]),
    ...                           ["a", "b", "c"], n_iter=12)
    >>> dec.top(0, 2), dec.l0.tolist()
    ([('b', 0.5), ('c', 0.20000000298023224)], [2])
    """

    weights: np.ndarray
    cosine: np.ndarray
    names: list[str]
    n_iter: int

    @property
    def l0(self) -> np.ndarray:
        """Non-zero weights per image."""
        return (self.weights > 0).sum(1)

    def top(self, i: int, n: int = 5) -> list[tuple[str, float]]:
        """The ``n`` largest (name, weight) pairs of image ``i``.

        Parameters
        ----------
        i : int
            The image (row of ``weights``); negative counts from the end.
        n : int, default 5
            The most pairs returned (>= 0).

        Returns
        -------
        list of (str, float)
            Concept names and weights, largest first; zero weights are left out, so
            there may be fewer than ``n``.
        """
        check_number(n, "n", integer=True, low=0)
        n_images = len(self.weights)
        # numpy's IndexError, or True read as image 1
        i = check_number(i, "i", integer=True, low=-n_images, high=n_images - 1)
        w = self.weights[i]
        order = [j for j in np.argsort(-w, kind="stable")[:n] if w[j] > 0]
        return [(self.names[j], float(w[j])) for j in order]


def _centred_vocabulary(T, names: list[str]):
    """The unit text vectors ``T`` (k, d) minus their mean; refuses concepts that the
    centring leaves without a direction (they would silently never get weight)."""
    mean = T.mean(0)
    centred = T - mean
    flat = at_mean(centred, T, mean).nonzero().flatten().tolist()
    refuse_concepts_at_mean(flat, names, "SpLiCE's modality-gap correction")
    return centred


def _unit(A):
    return A / A.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def decompose(
    X: Any,
    vocabulary: ConceptBank,
    l1: float = 0.25,
    *,
    image_mean: Any = None,
    rho: float | None = None,
    max_iter: int = 1000,
    tol: float = 1e-5,
    solver: str = "auto",
    device: Any = "cpu",
) -> SparseDecomposition:
    r"""SpLiCE sparse non-negative concept weights of embeddings ``X`` on a vocabulary.

    Parameters
    ----------
    X : array-like of shape (n, d)
        Image embeddings of the vocabulary's backbone. A row of zeros has no direction to
        decompose: it gets all-zero weights and cosine 0, whatever ``image_mean`` (centred
        as the others, it would be decomposed as the direction of :math:`-\mu_{img}`). A
        row whose unit vector is :math:`\mu_{img}` up to float32's rounding (centred, a
        norm of at most :math:`2^{-23}(1 + \lVert\mu_{img}\rVert)`, rounding alone) has no
        direction either: all-zero weights.
    vocabulary : ConceptBank
        Concept names and text vectors (e.g. :func:`~bottlekit.concepts.from_text`).
    l1 : float, default 0.25
        :math:`\lambda`, the sparsity penalty (larger: fewer concepts per image), on the
        scale of the reference code's ``l1_penalty`` (its README decomposes with 0.25,
        its datasets with 0.15 to 0.35).
    image_mean : array of shape (d,), optional
        :math:`\mu_{img}`, the mean of unit-normalised image embeddings; default that
        mean over the nonzero rows of ``X`` (SpLiCE uses the mean of a large image set;
        pass one for small batches, and for one image or copies of it, which their own
        mean would centre to 0: nonzero rows all of one direction up to float32's
        rounding, as ``x`` and ``3 * x``, are refused without one).
    rho : float or None, default None
        ADMM penalty parameter; None means 5.0. One too small to factorise the centred
        vocabulary's Gram matrix plus :math:`\rho I` in float64 is refused. ADMM only: a
        value is refused where the Lasso solver runs (``solver="lasso"``, or ``"auto"`` on
        the CPU), which used to ignore it, silently.
    max_iter : int, default 1000
        The most ADMM iterations (``"lasso"``: coordinate-descent sweeps per image), >= 1.
    tol : float, default 1e-5
        Stop when the primal and dual residuals (root mean square) are below ``tol``
        (``"lasso"``: scikit-learn's duality-gap tolerance).
    solver : {"auto", "admm", "lasso"}, default "auto"
        ``"admm"``: batched ADMM in torch (all images per matrix product; the paper's
        solver, for GPUs and large batches); ``"lasso"``: scikit-learn's coordinate
        descent one image at a time (faster on a few CPU cores for sparse solutions, see
        ``benchmarks/discovery_world.py --speed``); ``"auto"``: ADMM on CUDA, Lasso on the
        CPU.
    device : str or torch.device, default "cpu"
        Where the solve runs (``None``: CUDA when available); resolved by
        :func:`bottlekit.devices.resolve_device`.

    Returns
    -------
    SparseDecomposition
        The weights (n, k), each image's reconstruction cosine, the vocabulary's names
        and the iterations run.

    Warns
    -----
    sklearn.exceptions.ConvergenceWarning
        Once, where the solver stopped at ``max_iter`` before reaching ``tol`` (Lasso:
        how many images did; ADMM solves all images together): those weights are not the
        minimiser's. On world-tiny's 480 training images at the defaults, ``l1`` of 0.06
        leaves one image unconverged (Lasso) and every one (ADMM); 0.2 and above converge.

    Examples
    --------
    >>> import numpy as np
    >>> from bottlekit.concepts import ConceptBank
    >>> vocab = ConceptBank(["a", "b", "c"], np.eye(3, 4), "toy")
    >>> X = np.array([[1.0, 0.0, 0.0, 0.1], [0.0, 1.0, 1.0, 0.1]])
    >>> dec = decompose(X, vocab, l1=0.08, image_mean=np.zeros(4))
    >>> dec.top(0, 2)[0][0], sorted(n for n, _ in dec.top(1, 2))
    ('a', ['b', 'c'])
    """
    import torch

    from bottlekit.devices import as_tensor, resolve_device

    if not isinstance(vocabulary, ConceptBank):
        raise TypeError(f"vocabulary: expected a ConceptBank, got {type(vocabulary).__name__}")
    X = check_embeddings(X)
    n, d = X.shape
    if vocabulary.dim != d:
        raise ValueError(
            f"X has {d} features but the vocabulary's vectors have dimension "
            f"{vocabulary.dim} (backbone {vocabulary.backbone_id!r}); embed with that backbone"
        )
    check_number(l1, "l1", low=0)
    if rho is not None:
        check_number(rho, "rho", low=0, low_open=True)
    check_number(tol, "tol", low=0)
    check_number(max_iter, "max_iter", integer=True, low=1)
    solver = check_choice(solver, SOLVERS, "solver")
    if image_mean is not None:
        # read first: np.shape of a tensor that requires grad, or of a ragged list, raised
        # torch's or numpy's error without the argument's name
        image_mean = as_real_array(image_mean, "image_mean", dtype=None)
        if image_mean.shape not in ((d,), (1, d)):
            raise ValueError(f"image_mean: expected shape ({d},), got {image_mean.shape}")
        image_mean = check_embeddings(image_mean.reshape(1, -1), "image_mean")[0]

    dev = resolve_device(device)
    if solver == "auto":
        solver = "lasso" if dev.type == "cpu" else "admm"
        how = f"solver='auto' on the {dev.type} device (the Lasso solver)"
    else:
        how = f"solver={solver!r}"
    if solver == "lasso":
        check_unused(
            rho, "rho", f"with {how}; it is ADMM's penalty parameter", " or use solver='admm'"
        )
    rho = DEFAULT_RHO if rho is None else rho
    dt = torch.float64
    Xt = _unit(as_tensor(X, dtype=dt, device=dev))
    # a zero row has no direction; centred, it would be decomposed as -mut: keep it 0,
    # so that it gets no weight, and out of the default mean
    blank = (Xt == 0).all(1, keepdim=True)
    if image_mean is None:
        # the mean of the unit rows, as SpLiCE's stored image means (0 if all are zero)
        mut = Xt.sum(0) / max(int((~blank).sum()), 1)
    else:
        mut = as_tensor(image_mean, dtype=dt, device=dev)
    centred = Xt - mut
    # a row at the mean (to float32 rounding) has no direction either: 0, no weight
    on_mean = at_mean(centred, Xt, mut)[:, None] & ~blank
    if image_mean is None and bool(on_mean.any()) and bool((on_mean | blank).all()):
        # its own mean: centred, every image is 0 and decomposed to nothing
        nonzero = int((~blank).sum())
        if nonzero == 1:
            what, rows = "one image", "1 row" if n == 1 else f"1 nonzero row of {n}"
        else:
            what, rows = "copies of one image", f"{nonzero} nonzero rows, all of one direction"
        raise ValueError(
            f"image_mean: needed to decompose {what} (X has {rows}): centred on its own "
            "mean, the image is 0 up to float32 rounding and has no concepts; pass the mean "
            "of many images' unit embeddings (SpLiCE uses a large image set's)"
        )
    Y = torch.where(blank | on_mean, 0.0, _unit(centred))  # (n, d)
    del centred
    T = _unit(as_tensor(vocabulary.vectors, dtype=dt, device=dev))
    C = _unit(_centred_vocabulary(T, vocabulary.names)) if len(T) > 1 else T  # (k, d)
    k = C.shape[0]
    # min ||y - C^T w||^2 + l1 ||w||_1, solved as min 1/2 ||y - C^T w||^2 + lam ||w||_1
    lam, r = float(l1) / 2, float(rho)
    if solver == "lasso":  # rho is ADMM's: its factorisation is not needed here
        Z, n_iter, stopped = _lasso(C.cpu().numpy(), Y.cpu().numpy(), l1, tol, max_iter)
        _warn_unconverged(stopped, n, "lasso", max_iter, tol)
        Z = torch.as_tensor(Z, dtype=dt, device=dev)
        return _result(Z, C, mut, Xt, vocabulary, n_iter)
    Cy = Y @ C.T  # (n, k)
    if k <= d:
        chol = _cholesky(C @ C.T + r * torch.eye(k, dtype=dt, device=dev), r)

        def solve(V):  # (C C^T + r I)^{-1} v, rows of V
            return torch.cholesky_solve(V.T, chol).T

    else:
        chol = _cholesky(C.T @ C + r * torch.eye(d, dtype=dt, device=dev), r)

        def solve(V):  # Woodbury: (1/r)(v - C (r I + C^T C)^{-1} C^T v)
            return (V - torch.cholesky_solve((V @ C).T, chol).T @ C.T) / r

    Z = torch.zeros(n, k, dtype=dt, device=dev)
    U = torch.zeros_like(Z)
    n_iter = 0
    for n_iter in range(1, int(max_iter) + 1):  # noqa: B007 (reported)
        W = solve(Cy + r * (Z - U))
        Z_old = Z
        Z = torch.clamp(W + U - lam / r, min=0.0)
        U = U + W - Z
        primal = float((W - Z).pow(2).mean().sqrt())
        dual = r * float((Z - Z_old).pow(2).mean().sqrt())
        if primal < tol and dual < tol:
            break
    else:  # batched: every image shares the iterations, so all n stopped short
        _warn_unconverged(n, n, "admm", max_iter, tol)
    return _result(Z, C, mut, Xt, vocabulary, n_iter)


def _warn_unconverged(stopped: int, n: int, solver: str, max_iter: int, tol: float) -> None:
    """One ``ConvergenceWarning`` (scikit-learn's) where the solver stopped at ``max_iter``
    before its residuals reached ``tol`` on ``stopped`` of the ``n`` images: their weights
    are not the minimiser's (a huge ``rho``, for one, leaves ADMM's at 0)."""
    if not stopped:
        return
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    where = (
        f"on {stopped} of {n} images"
        if solver == "lasso"
        else f"(root-mean-square residuals of all {n} images, solved together)"
    )
    advice = "raise max_iter or tol" + (", or change rho" if solver == "admm" else "")
    warnings.warn(
        f"decompose: the {solver!r} solver stopped at max_iter={max_iter} before reaching "
        f"tol={tol} {where}; those weights are not converged ({advice})",
        ConvergenceWarning,
        stacklevel=3,
    )


def _cholesky(G, rho: float):
    """The Cholesky factor of ``G`` (a Gram matrix plus ``rho I``); ``ValueError`` naming
    ``rho`` where it is too small to make ``G`` positive definite in float64."""
    import torch

    chol, info = torch.linalg.cholesky_ex(G)
    if int(info) != 0:
        # torch's LinAlgError: the centred vocabulary's Gram matrix is singular (k centred
        # concepts span at most k - 1 dimensions), and rho of 1e-300 adds nothing to it
        raise ValueError(
            f"rho: {rho!r} is too small to make the vocabulary's Gram matrix plus rho I "
            "positive definite in float64 (the centred vocabulary's is singular); expected "
            "a larger rho (default 5.0)"
        )
    return chol


def _lasso(C: np.ndarray, Y: np.ndarray, l1: float, tol: float, max_iter: int):
    """Non-negative Lasso per image by scikit-learn's coordinate descent (warm-started):
    the weights, the most sweeps of an image and how many images stopped at ``max_iter``
    short of ``tol`` (scikit-learn's own warnings, one per image, are counted instead)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso

    d = C.shape[1]
    model = Lasso(
        alpha=l1 / (2 * d),  # scikit-learn: 1/(2d) ||y - C^T w||^2 + alpha ||w||_1
        positive=True,
        fit_intercept=False,
        tol=max(tol, 1e-12),
        max_iter=min(int(max_iter), _MAX_SWEEPS),  # beyond, its C counter overflowed
        warm_start=True,
    )
    out, most, stopped = np.zeros((len(Y), C.shape[0])), 0, 0
    for i, y in enumerate(Y):
        if y.any():  # a zero target (a zero row of X, or one at the mean) gets w = 0
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                out[i] = model.fit(C.T, y).coef_
            most = max(most, int(model.n_iter_))
            unconverged = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
            stopped += bool(unconverged)
            for w in caught:  # scikit-learn's other warnings pass on as they were
                if w not in unconverged:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return out, most, stopped


def _result(Z, C, mut, Xt, vocabulary, n_iter) -> SparseDecomposition:
    import torch

    recon = _unit(_unit(Z @ C) + mut)
    cosine = (recon * Xt).sum(1)
    zero = Z.sum(1) == 0
    cosine = torch.where(zero, (_unit(mut.expand_as(Xt)) * Xt).sum(1), cosine)
    return SparseDecomposition(
        weights=Z.cpu().numpy().astype(np.float32),
        cosine=cosine.cpu().numpy().astype(np.float32),
        names=list(vocabulary.names),
        n_iter=n_iter,
    )
