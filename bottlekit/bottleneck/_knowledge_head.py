r"""KnoBo's head (part 3 of :mod:`bottlekit.bottleneck.knowledge`): a linear layer on the
concept probabilities trained with Adam on cross-entropy plus the prior loss
:math:`\lambda\,\mathrm{mean}\,\lvert\tanh W - P\rvert`, its gradient in closed form."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch

from bottlekit._deprecation import DEPRECATED, is_unset
from bottlekit.bottleneck._splits import stratified_validation_split
from bottlekit.devices import as_tensor


def head_gradient(
    W: torch.Tensor,
    b: torch.Tensor,
    A: torch.Tensor,
    Y: torch.Tensor,
    P: torch.Tensor | None,
    prior_weight: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Gradient of the KnoBo head loss on one batch, in closed form.

    .. math:: \nabla_W = \tfrac1B (\mathrm{softmax}(A W^\top + b) - Y)^\top A
              + \tfrac{\lambda}{Ck}\,\mathrm{sign}(\tanh W - P)\odot(1 - \tanh^2 W),
              \qquad \nabla_b = \tfrac1B \textstyle\sum_i (\mathrm{softmax}_i - Y_i)

    (``sign(0) = 0``, the subgradient autograd uses for ``abs``.) Written out because
    ``torch.optim.Adam`` with autograd costs about five times as much per step on these
    tiny layers.

    Parameters
    ----------
    W : tensor (C, k)
        The head's weights (classes x concepts).
    b : tensor (C,)
        The head's intercepts.
    A : tensor (B, k)
        Concept activations of the batch.
    Y : tensor (B, C)
        One-hot labels.
    P : tensor (C, k) or None
        The signed prior :math:`P` (:func:`signed_prior`); None drops the prior term.
    prior_weight : float
        :math:`\lambda`, the weight of the prior term (0 drops it).

    Returns
    -------
    grad_W : tensor (C, k)
        :math:`\nabla_W`.
    grad_b : tensor (C,)
        :math:`\nabla_b`.

    Examples
    --------
    The cross-entropy part equals autograd's gradient of the mean loss:

    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> W = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    >>> b = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    >>> A = torch.randn(5, 4, generator=g, dtype=torch.float64)
    >>> y = torch.tensor([0, 1, 2, 1, 0])
    >>> torch.nn.functional.cross_entropy(A @ W.T + b, y).backward()
    >>> gW, gb = head_gradient(W.detach(), b.detach(), A, torch.eye(3)[y].double(), None, 0.0)
    >>> bool(torch.allclose(gW, W.grad)), bool(torch.allclose(gb, b.grad))
    (True, True)
    """
    G = (torch.softmax(A @ W.T + b, dim=1) - Y) / A.shape[0]
    gW = G.T @ A
    if P is not None and prior_weight > 0:
        th = torch.tanh(W)
        gW = gW + (prior_weight / W.numel()) * torch.sign(th - P) * (1.0 - th * th)
    return gW, G.sum(0)


def train_prior_head(
    A: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    prior: np.ndarray | None,
    *,
    prior_weight: float = 1.0,
    learning_rate: float = 1e-3,
    max_epochs: int = 200,
    batch_size: int = 64,
    validation_fraction: float = 0.1,
    patience: int | None = None,
    rng: np.random.Generator | None = None,
    device: torch.device | str = "cpu",
    verbose: bool = False,
    n_iter_no_change: Any = DEPRECATED,
) -> tuple[np.ndarray, np.ndarray, dict]:
    r"""Linear layer on concept activations, cross-entropy + KnoBo's prior loss.

    .. math:: \min_{W,b}\ \frac1n\sum_i \mathrm{CE}(W a_i + b, y_i)
              + \lambda\,\mathrm{mean}\,\lvert\tanh W - P\rvert

    Adam, shuffled mini-batches; the epoch with the best validation accuracy (first of
    ties) is kept when ``validation_fraction > 0``, else the last.

    Parameters
    ----------
    A : ndarray of shape (n, k)
        Concept activations.
    y : ndarray of int, shape (n,)
        Class indices in ``0..n_classes-1``.
    n_classes : int
        The number of classes (rows of ``coef``).
    prior : ndarray of shape (n_classes, k) or None
        Signed prior :math:`P`; None drops the prior term.
    prior_weight, learning_rate, max_epochs, batch_size, validation_fraction : see
        :class:`KnowledgeCBM`.
    patience : int or None
        Stop after this many epochs without a better validation accuracy.
    rng : numpy Generator
        Draws the validation split, the initial weights and the batch order (None:
        ``np.random.default_rng(0)``).
    device : torch device
        Where the head is trained.
    verbose : bool
        Progress bar over epochs.
    n_iter_no_change : int or None, optional
        Deprecated alias of ``patience`` (FutureWarning; removed in the next release).

    Returns
    -------
    coef : ndarray of float64, shape (n_classes, k)
        The kept epoch's weights.
    intercept : ndarray of float64, shape (n_classes,)
        The kept epoch's intercepts.
    info : dict
        ``best_epoch``, ``n_epochs``, ``val_accuracy`` (None without validation).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> A = rng.random((100, 2)); y = (A[:, 0] > A[:, 1]).astype(int)
    >>> coef, b, info = train_prior_head(A, y, 2, None, max_epochs=5, rng=rng)
    >>> coef.shape
    (2, 2)
    """

    if not is_unset(n_iter_no_change):
        warnings.warn(
            "train_prior_head: the parameter 'n_iter_no_change' is renamed 'patience'; "
            "'n_iter_no_change' still works in this release and will be removed in the next",
            FutureWarning,
            stacklevel=2,
        )
        patience = n_iter_no_change
    rng = np.random.default_rng(0) if rng is None else rng
    device = torch.device(device)
    n, k = A.shape
    # validation split, stratified per class, at least one example of each class kept
    if validation_fraction > 0:
        tr_idx, val_idx = stratified_validation_split(y, validation_fraction, rng)
    else:
        tr_idx, val_idx = np.arange(n), np.zeros(0, dtype=np.int64)

    At = as_tensor(A, dtype=torch.float32, device=device)
    yt = as_tensor(y, dtype=torch.long, device=device)
    bound = 1.0 / np.sqrt(k)  # torch.nn.Linear's default initialisation
    W = torch.tensor(
        rng.uniform(-bound, bound, (n_classes, k)), dtype=torch.float32, device=device
    )
    b = torch.tensor(rng.uniform(-bound, bound, n_classes), dtype=torch.float32, device=device)
    P = None if prior is None else as_tensor(prior, dtype=torch.float32, device=device)
    Yt = torch.nn.functional.one_hot(yt, n_classes).to(torch.float32)
    A_tr, Y_tr = At[tr_idx], Yt[tr_idx]
    A_val, y_val = At[val_idx], yt[val_idx]
    # Adam (Kingma & Ba; torch.optim.Adam's update with its defaults betas=(0.9, 0.999),
    # eps=1e-8), on both parameters
    state = [
        (W, torch.zeros_like(W), torch.zeros_like(W)),
        (b, torch.zeros_like(b), torch.zeros_like(b)),
    ]

    # on the CPU the loop runs on one thread: the layer is tiny and intra-op threads only
    # add synchronisation (measured 2 ms vs 115 ms per step on a loaded 2-core machine)
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        W, b, best, epoch = _adam_loop(
            W, b, state, A_tr, Y_tr, A_val, y_val, P, prior_weight, learning_rate,
            max_epochs, batch_size, patience, rng, device, verbose,
        )  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    if len(val_idx):
        val_acc, W_out, b_out, best_epoch = best
    else:
        val_acc, W_out, b_out, best_epoch = None, W, b, epoch
    info = {"best_epoch": int(best_epoch), "n_epochs": int(epoch), "val_accuracy": val_acc}
    return (
        W_out.cpu().numpy().astype(np.float64),
        b_out.cpu().numpy().astype(np.float64),
        info,
    )


def _adam_loop(
    W, b, state, A_tr, Y_tr, A_val, y_val, P, prior_weight, learning_rate, max_epochs,
    batch_size, patience, rng, device, verbose,
):  # fmt: skip
    """Epochs of mini-batch Adam; returns the last (W, b), the best (acc, W, b, epoch), epochs."""
    from tqdm.auto import tqdm

    beta1, beta2, eps = 0.9, 0.999, 1e-8
    n_tr, has_val = A_tr.shape[0], A_val.shape[0] > 0
    best = (-np.inf, W.clone(), b.clone(), 0)
    since_best = 0
    epoch = 0
    step = 0
    for epoch in tqdm(range(1, max_epochs + 1), desc="KnoBo head", disable=not verbose):
        perm = torch.as_tensor(rng.permutation(n_tr), device=device)
        for start in range(0, n_tr, batch_size):
            bi = perm[start : start + batch_size]
            grads = head_gradient(W, b, A_tr[bi], Y_tr[bi], P, prior_weight)
            step += 1
            c1 = 1.0 - beta1**step
            c2 = math.sqrt(1.0 - beta2**step)
            for (param, m, v), g in zip(state, grads, strict=True):
                m.mul_(beta1).add_(g, alpha=1.0 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
                param.addcdiv_(m, (v.sqrt() / c2).add_(eps), value=-learning_rate / c1)
        if has_val:
            acc = float(((A_val @ W.T + b).argmax(1) == y_val).to(torch.float32).mean())
            if acc > best[0]:
                best = (acc, W.clone(), b.clone(), epoch)
                since_best = 0
            else:
                since_best += 1
                if patience is not None and since_best >= patience:
                    break
    return W, b, best, epoch
