"""Fixtures of the activation-map tests: one thread, the shipped world-tiny backbone with a
text bank of the world's concepts, and random banks on the tiny test architectures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bottlekit.backbones import load_backbone
from bottlekit.concepts import ConceptBank


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def world_tiny():
    return load_backbone("world-tiny", device="cpu")


@pytest.fixture(scope="session")
def world_bank(world_tiny):
    from bottlekit.concepts import from_text
    from bottlekit.world import CONCEPT_NAMES

    return from_text(world_tiny, list(CONCEPT_NAMES))


@pytest.fixture(scope="session")
def world_images():
    from bottlekit.world import make_world

    return make_world(3, "test", random_state=5, return_masks=False).images


@pytest.fixture
def random_bank():
    """``random_bank(backbone, k, seed=0, kind="text")``: k random concepts of one kind."""

    def make(backbone, k: int, seed: int = 0, kind: str = "text") -> ConceptBank:
        rng = np.random.default_rng(seed)
        v = rng.normal(size=(k, backbone.embed_dim))
        b = rng.normal(size=k) if kind == "cav" else None
        prov = [{"kind": kind} for _ in range(k)]
        return ConceptBank(
            [f"c{i}" for i in range(k)], v, backbone.id, intercepts=b, provenance=prov
        )

    return make


@pytest.fixture
def tiny_vit(tiny_configs):
    """``tiny_vit(seed=0)``: the 2-block test ViT (32x32 input, 4x4 patch grid)."""
    assert "test-tiny-vit" in tiny_configs

    def make(seed: int = 0):
        return load_backbone("test-tiny-vit", device="cpu", random_state=seed)

    return make


@pytest.fixture
def tiny_rn(tiny_configs):
    """``tiny_rn(seed=0)``: the test ModifiedResNet (32x32 input)."""
    assert "test-tiny-rn" in tiny_configs

    def make(seed: int = 0):
        return load_backbone("test-tiny-rn", device="cpu", random_state=seed)

    return make
