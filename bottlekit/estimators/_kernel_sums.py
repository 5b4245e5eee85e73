r"""Exact Gaussian kernel sums for the estimators that need no gradient (float32 tiles).

The Cauchy–Schwarz estimators need row sums of Gaussian Gram matrices over all pairs of
two samples (:math:`n \times m` kernel evaluations, 2.5 billion at n = m = 50,000). This
module computes them tile by tile with torch, on any device, the way that profiling on CPU
showed to be fastest:

* each tile of :math:`\log_2 k(a_i, b_j) = -\log_2(e)\,\|a_i-b_j\|^2/2` is **one matrix
  product** of augmented rows :math:`[\log_2(e)\,a_i,\ -\log_2(e)\|a_i\|^2/2,\ 1]` and
  :math:`[b_j,\ 1,\ -\log_2(e)\|b_j\|^2/2]` (the norms are computed in float64), clamped
  at 0 (rounding can make a distance slightly negative), then ``exp2`` in place
  (torch's float32 ``exp2`` is several times faster than its ``exp`` on CPU);
* the tiles are **float32**; each tile's row sums are added to **float64** accumulators;
* a within-sample sum (``B is None``) visits only the tiles on and above the diagonal and
  adds each off-diagonal tile's row sums to its rows and its column sums to its columns
  (half the work); the self-pairs are set to exactly :math:`k = 1`, or to 0 to get the
  off-diagonal sums of a U-statistic directly;
* a kernel on two blocks of variables (x, y) computes both blocks' tiles once and returns
  the sums of :math:`k_x`, of :math:`k_y` and of the product :math:`k_x k_y` (the joint
  kernel) without a third exponential;
* a cross sum can also return column sums (the transposed sum), so ``K_12`` and ``K_21``
  cost one pass;
* on CPU, stripes of row tiles run on ``torch.get_num_threads()`` Python threads with
  one torch thread each (a 512 x 512 op is too small for torch's own threads, whose
  synchronisation stalls on a busy machine).

Inputs are centred on their pooled mean and expressed in units of the kernel width (in
float64) before the cast to float32, which keeps the squared norms, and hence the
cancellation error of the expanded distance, small: each kernel value is within a
relative ``1e-7 * (1 + 2 R**2)`` of the float64 value, ``R`` the largest distance of a
point from the mean in kernel widths (``tests/estimators/test_kernel_sums.py``). Kernel
values below ``2**-126`` are counted as ``2**-126`` (denormal floats are slow on CPUs).
"""

from __future__ import annotations

import math

import numpy as np

from ._scaling import power_of_two_scale

__all__ = ["gaussian_pair_sums", "resolve_device"]

_LOG2E = 1.0 / math.log(2.0)
_LOG2_TINY = -126.0  # log2 of the smallest normal float32


def resolve_device(device, *arrays):
    """The torch device to compute on: ``device`` if given (checked by
    :func:`bottlekit.devices.resolve_device`), else the first tensor's, else the project's
    default (CUDA when available, else the CPU)."""
    from bottlekit.devices import resolve_device as project_rule

    if device is None:
        for a in arrays:
            if hasattr(a, "device") and hasattr(a, "detach"):
                return a.device
    return project_rule(device)


def _as_float64(a, device):
    from bottlekit.devices import as_tensor

    torch = _torch()
    if not hasattr(a, "detach"):
        a = as_tensor(np.ascontiguousarray(a, dtype=np.float64))
    return a.detach().to(device=device, dtype=torch.float64)


def _torch():
    import torch

    return torch


class _Side:
    """One sample cut into blocks of columns, augmented for the one-product distance."""

    def __init__(self, blocks64, device, dtype, left: bool):
        torch = _torch()
        self.blocks = []
        for z in blocks64:
            half = -0.5 * _LOG2E * (z * z).sum(1, keepdim=True)
            one = torch.ones_like(half)
            aug = torch.cat([z * _LOG2E, half, one] if left else [z, one, half], dim=1)
            self.blocks.append(aug.to(device=device, dtype=dtype).contiguous())
        self.n = blocks64[0].shape[0]


def _blocks(sample, widths, split):
    """Columns of ``sample`` (float64) cut at ``split`` and divided by their widths."""
    if split is None:
        return [sample / widths[0]]
    return [sample[:, :split] / widths[0], sample[:, split:] / widths[1]]


def gaussian_pair_sums(
    A,
    B=None,
    widths=(1.0,),
    *,
    split: int | None = None,
    columns: bool = False,
    self_pairs: bool = True,
    skip_y: bool = False,
    tile_size: int = 512,
    device=None,
    dtype=None,
):
    r"""Row (and column) sums of Gaussian Gram matrices between ``A`` and ``B`` (no gradient).

    The kernel on block ``b`` of columns is :math:`\exp(-\|u-v\|^2/(2 w_b^2))` with
    :math:`w_b` = ``widths[b]``. Without ``split`` there is one block (all columns);
    with ``split = s`` columns ``[:s]`` are block x and ``[s:]`` block y, and the
    result also holds the sums of the y kernel and of the joint (product) kernel.

    Parameters
    ----------
    A : ndarray or torch.Tensor of shape (n, d)
    B : ndarray or torch.Tensor of shape (m, d), or None
        None: the within-sample sums of ``A`` (pairs ``i, j`` of ``A``, the diagonal
        included), computed over half the tiles.
    widths : tuple of float
        One width per block.
    split : int or None
        Number of columns of the x block; None for a single block.
    columns : bool, default=False
        Also return the column sums (the row sums of the transposed matrix); only for
        ``B`` given.
    self_pairs : bool, default=True
        Within-sample sums only: include the diagonal terms :math:`k(a_i, a_i) = 1`
        (exactly 1 each) or leave them out (the off-diagonal sums, computed directly so
        that they keep their relative precision however small they are).
    skip_y : bool, default=False
        With ``split``: do not return the sums of the y kernel alone (saves its
        exponential; the joint kernel is still computed).
    tile_size : int, default=512
        Tiles are ``tile_size x tile_size`` float32 matrices.
    device : None, str or torch.device
        Where to compute; None: ``A``'s device if it is a tensor, else CPU.
    dtype : None or torch.dtype
        Precision of the tiles; None: float32 (float64 is exact to rounding but about
        twice as slow, and ``exp2`` in float64 is much slower on CPU).

    Returns
    -------
    dict
        ``"x"`` (and ``"y"``, ``"joint"`` with ``split``): float64 tensors of shape (n,) on
        ``device`` with the row sums; ``"x_cols"`` etc. of shape (m,) with ``columns``.
    """
    torch = _torch()
    device = resolve_device(device, A, B)
    a64 = _as_float64(A, device)
    b64 = None if B is None else _as_float64(B, device)
    pooled = a64 if b64 is None else torch.cat([a64, b64])
    # Centred in units of c, a power of two (exact): the mean's sum overflowed at 1e307.
    c = float(power_of_two_scale(np.array([float(pooled.abs().max())]), axis=None))
    centre = (pooled / c).mean(0)
    widths = tuple(float(w) / c for w in widths)
    dtype = torch.float32 if dtype is None else dtype
    left = _Side(_blocks(a64 / c - centre, widths, split), device, dtype, left=True)
    other = a64 if b64 is None else b64
    right = _Side(_blocks(other / c - centre, widths, split), device, dtype, left=False)
    names = ["x"] if split is None else ["x", "y", "joint"]
    skip = "y" if split is not None and skip_y else None
    symmetric = B is None
    with torch.no_grad():
        diagonal = 1.0 if self_pairs else 0.0
        cols = columns and not symmetric
        out = _tile_loop(left, right, names, symmetric, cols, tile_size, diagonal, skip)
    return out


def _tile_loop(left, right, names, symmetric, columns, tile, diagonal, skip):
    """Row-tile stripes on worker threads (CPU) with one torch thread each, then summed.

    Each op on a 512 x 512 tile is too small for torch's intra-op threads, whose
    synchronisation costs more than it saves and stalls on a busy machine; the stripes
    ``i = w, w + W, ...`` balance the triangular work of within-sample sums.
    """
    torch = _torch()
    from bottlekit.devices import torch_threads

    dev = left.blocks[0].device
    starts = list(range(0, left.n, tile))
    workers = max(1, min(torch.get_num_threads(), len(starts))) if dev.type == "cpu" else 1
    args = (left, right, names, symmetric, columns, tile, diagonal, skip)
    if workers == 1:
        parts = [_stripe(starts, *args)]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with torch_threads(1), ThreadPoolExecutor(max_workers=workers) as pool:
            jobs = [pool.submit(_stripe, starts[w::workers], *args) for w in range(workers)]
            parts = [job.result() for job in jobs]
    rows, cols = parts[0]
    for r, c in parts[1:]:
        for k in rows:
            rows[k] += r[k]
            cols[k] += c[k]
    out = {k: v for k, v in rows.items() if k != skip}
    if columns:
        out.update({k + "_cols": v for k, v in cols.items() if k != skip})
    return out


def _stripe(starts, left, right, names, symmetric, columns, tile, diagonal, skip):
    torch = _torch()
    dev = left.blocks[0].device
    n, m = left.n, right.n
    rows = {k: torch.zeros(n, dtype=torch.float64, device=dev) for k in names}
    cols = {k: torch.zeros(m, dtype=torch.float64, device=dev) for k in names}
    dtype = left.blocks[0].dtype
    bufs = [torch.empty(tile, tile, dtype=dtype, device=dev) for _ in range(3)]
    with torch.no_grad():
        for i in starts:
            ie = min(i + tile, n)
            for j in range(i if symmetric else 0, m, tile):
                je = min(j + tile, m)
                tiles = [
                    torch.mm(lb[i:ie], rb[j:je].T, out=buf[: ie - i, : je - j])
                    for lb, rb, buf in zip(left.blocks, right.blocks, bufs, strict=False)
                ]
                if len(tiles) == 2:  # the joint kernel's exponent
                    joint = bufs[2][: ie - i, : je - j]
                    tiles.append(torch.add(tiles[0], tiles[1], out=joint))
                for name, t in zip(names, tiles, strict=True):
                    if name == skip:
                        continue
                    # Floor at the smallest normal float32 (2^-126): denormals are slow.
                    t.clamp_(_LOG2_TINY, 0.0).exp2_()
                    if symmetric and i == j:
                        t.fill_diagonal_(diagonal)
                    rows[name][i:ie] += t.sum(1)
                    if symmetric and j != i:
                        rows[name][j:je] += t.sum(0)
                    elif columns:
                        cols[name][j:je] += t.sum(0)
    return rows, cols
