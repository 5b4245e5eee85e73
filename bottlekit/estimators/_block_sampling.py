r"""Kernel means over randomly sampled tiles of the Gram matrix (incomplete U-statistics).

The CS divergence and CS-QMI are logarithms of *means* of kernel values over pairs
:math:`(i, j)` (and, for CS-QMI's cross term, triples :math:`(i, j, l)`) of distinct
indices. The approximate mode shuffles the rows once, cuts them into blocks of ``tile``
rows, and averages the kernel over ``n_blocks`` tiles :math:`(I, J)` of *distinct* blocks
drawn at random (with replacement): every pair in such a tile has distinct indices, and
each tile mean is an unbiased estimate of the mean over distinct pairs (over the
shuffle). This is an incomplete U-statistic (Blom 1976; Janson 1984) that keeps the speed
of the exact path's matrix-product tiles. The tile means are independent given the
shuffle, so their spread gives the standard error of the estimate, which does not depend
on ``n``: the cost is ``n_blocks * tile**2`` kernel values whatever the sample size.

Measured alternatives (see the report that added this module and
``benchmarks/cs_kernel_sums.py``): Nyström with 1,000–2,000 uniformly drawn landmarks
is 30–50 % off at the Silverman width in 4-D (the Gram matrix has no low rank when the
width is a fraction of the data's spread); random Fourier features sample frequencies far
above the data's bandwidth for the same reason; binned sums need a grid in the joint
space of CS-QMI (8-D at d = 4); random single pairs gathered one by one cost about 50 ns
each against about 1 ns in a tile.
"""

from __future__ import annotations

import math

from ._kernel_sums import _LOG2_TINY, _blocks, _Side

__all__ = ["sampled_kernel_means"]


def sampled_kernel_means(
    A,
    B,
    widths,
    *,
    n_blocks: int,
    split=None,
    triples: bool = False,
    tile: int = 512,
    generator,
    device,
):
    r"""Means of the kernel(s) over random tiles of distinct blocks, with standard errors.

    Parameters
    ----------
    A : torch.Tensor of shape (n, d), float64
    B : torch.Tensor of shape (m, d), float64, or None
        None: pairs within ``A`` (distinct indices); else pairs between ``A`` and ``B``.
    widths : tuple of float
        Kernel width of each block of columns.
    n_blocks : int
        Number of sampled tiles.
    split : int or None
        x block ``[:split]``, y block after it (as in ``gaussian_pair_sums``).
    triples : bool
        Also the mean of :math:`k_x(x_i, x_j) k_y(y_i, y_l)` over distinct triples
        (CS-QMI's cross term; needs ``split`` and ``B=None``).
    tile : int
        Rows per block.
    generator : torch.Generator
    device : torch.device

    Returns
    -------
    dict
        name -> (mean, standard error) as Python floats: ``"x"`` (and ``"y"``, ``"joint"``
        with ``split``; ``"cross"`` with ``triples``).
    """
    import torch

    centre = (A if B is None else torch.cat([A, B])).mean(0)
    gen_dev = generator.device

    def shuffled(S):
        order = torch.randperm(S.shape[0], generator=generator, device=gen_dev).to(S.device)
        return (S - centre)[order]

    a = shuffled(A)
    b = a if B is None else shuffled(B)
    na, nb = a.shape[0] // tile, b.shape[0] // tile
    if B is None and na < (3 if triples else 2):
        raise ValueError(f"the approximation needs at least {3 * tile} rows, got {a.shape[0]}")
    left = _Side(_blocks(a, widths, split), device, torch.float32, left=True)
    right = _Side(_blocks(b, widths, split), device, torch.float32, left=False)
    I = torch.randint(0, na, (n_blocks,), generator=generator, device=gen_dev).tolist()  # noqa: E741
    if B is None:  # a block other than I: distinct indices
        shifts = _ints(na - 1, n_blocks, generator)
        J = [(i + 1 + s) % na for i, s in zip(I, shifts, strict=True)]
    else:
        J = _ints(nb, n_blocks, generator)
    if triples:
        thirds = _ints(na - 2, n_blocks, generator)
        L = [_third(i, j, na, s) for i, j, s in zip(I, J, thirds, strict=True)]
    names = ["x"] if split is None else ["x", "y", "joint"]
    samples = {k: torch.empty(n_blocks, dtype=torch.float64) for k in names}
    if triples:
        samples["cross"] = torch.empty(n_blocks, dtype=torch.float64)
    with torch.no_grad():
        for s, (i, j) in enumerate(zip(I, J, strict=True)):
            pairs = zip(left.blocks, right.blocks, strict=True)
            tiles = [_tile(lb, rb, i, j, tile) for lb, rb in pairs]
            if split is not None:
                tiles.append(tiles[0] * tiles[1])
            for name, t in zip(names, tiles, strict=True):
                samples[name][s] = float(t.sum()) / tile**2  # float32 pairwise sum
            if triples:
                ty = _tile(left.blocks[1], right.blocks[1], i, L[s], tile)
                cross = (tiles[0].sum(1).double() * ty.sum(1).double()).sum()
                samples["cross"][s] = float(cross) / tile**3
    return {k: (float(v.mean()), float(v.std()) / math.sqrt(n_blocks)) for k, v in samples.items()}


def _ints(high: int, size: int, generator) -> list:
    import torch

    return torch.randint(0, high, (size,), generator=generator, device=generator.device).tolist()


def _third(i: int, j: int, n: int, s: int) -> int:
    """The ``s``-th block (0 <= s < n - 2) of ``range(n)`` other than ``i`` and ``j``."""
    lo, hi = min(i, j), max(i, j)
    s += s >= lo
    s += s >= hi
    return s


def _tile(lb, rb, i: int, j: int, tile: int):
    import torch

    t = torch.mm(lb[i * tile : (i + 1) * tile], rb[j * tile : (j + 1) * tile].T)
    return t.clamp_(_LOG2_TINY, 0.0).exp2_()
