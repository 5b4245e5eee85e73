"""Fixtures shared by the bottleneck-model tests."""

from __future__ import annotations

import pytest
import torch
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def _single_threaded():
    """One torch and one BLAS thread for every test here.

    The models are small (linear heads over a few dozen concepts, hundreds of tiny fits in
    the conformance checks); extra threads only synchronise, and on a shared 2-core
    machine they contend (measured: a small LogisticRegression fit 150 ms with BLAS
    threads vs 21 ms without; GLM-SAGA steps 30x slower with two torch threads). Results
    do not change.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)
