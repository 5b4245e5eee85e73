"""Run a row kernel over ``range(n)`` in chunks on threads.

Used by the compiled max-norm tree (:mod:`._maxnorm_tree`) and by scikit-learn's radius
counts (:mod:`._neighbors`); it lives apart from both so that neither imports the other
for it.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from bottlekit._checks import is_number

__all__ = ["n_workers", "run_in_chunks"]


def n_workers(n_jobs: int | None) -> int:
    """Threads asked for by ``n_jobs`` (None means 1; negative values are kept)."""
    if n_jobs is None:
        return 1
    if not is_number(n_jobs, integer=True) or n_jobs == 0:
        raise ValueError(
            f"n_jobs must be None or a nonzero integer (-1: all cores), got {n_jobs!r}"
        )
    return int(n_jobs)


def run_in_chunks(kernel, n: int, n_jobs: int | None, min_rows: int = 4096) -> None:
    """Run ``kernel(first, last)`` over ``range(n)``, in chunks on threads if ``n_jobs != 1``.

    The kernels (compiled with ``nogil``, or tree queries) release the GIL and write
    disjoint rows of their outputs. Below ``min_rows`` rows one call does it all.
    """
    workers = n_workers(n_jobs)
    if workers < 0:
        workers = os.cpu_count() or 1
    if workers <= 1 or n < min_rows:
        kernel(0, n)
        return
    bounds = np.linspace(0, n, 4 * workers + 1).astype(int)  # small chunks balance load
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda ab: kernel(*ab), itertools.pairwise(bounds)))
