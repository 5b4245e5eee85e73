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


@pytest.fixture(scope="session")
def world_tiny_splits():
    """world-tiny and the world's seed-0 splits with their embeddings: ``{"backbone": bk,
    "train": (world, X), "test": ..., "shifted": ...}`` of 1,200 / 600 / 600 images.

    Drawn and embedded once for the modules that fit models on them (test_label_free,
    test_labo, test_knowledge; each did it itself before). The embeddings are read-only,
    so that no test can change another's data.
    """
    from bottlekit.backbones import load_backbone
    from bottlekit.world import make_world

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            bk = load_backbone("world-tiny", device="cpu")
            out = {"backbone": bk}
            for split, n in (("train", 1200), ("test", 600), ("shifted", 600)):
                w = make_world(n, split, random_state=0, return_masks=False)
                x = bk.encode_images(w.images, progress=False)
                x.flags.writeable = False
                out[split] = (w, x)
    finally:
        torch.set_num_threads(threads)
    return out
