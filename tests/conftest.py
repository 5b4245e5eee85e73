"""Shared fixtures. Every test runs offline and with a private embedding cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# No test may touch the network: open_clip / huggingface_hub go offline, so a missing
# file is reported at once instead of after ~25 s of connection retries.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

CONFIG_DIR = Path(__file__).parent / "configs"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Each test gets its own BOTTLEKIT_CACHE so tests never see each other's shards."""
    monkeypatch.setenv("BOTTLEKIT_CACHE", str(tmp_path_factory.mktemp("bk-cache")))


@pytest.fixture(scope="session")
def tiny_configs() -> list[str]:
    """Register the small test architectures through open_clip's config mechanism."""
    from bottlekit.backbones import register_model_config

    return register_model_config(CONFIG_DIR)


@pytest.fixture(scope="session")
def rng_images() -> np.ndarray:
    """Six random 48x40 RGB images (non-square, so resize + crop are exercised)."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(6, 48, 40, 3), dtype=np.uint8)
