"""What every attribution class shares: only its own arguments, one ``attribute`` call
with clear errors, per-image concept tables."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from bottlekit.concepts import ConceptBank
from bottlekit.visualize.attribution import (
    METHODS,
    ConceptActivationMapping,
    ConceptAttribution,
    ConceptGradCAM,
    ConceptIntegratedGradients,
    ConceptPatchTokens,
    ConceptSaliency,
)
from bottlekit.visualize.attribution._images import upsample

OWN = {
    ConceptGradCAM: {"layer": "transformer.resblocks.1"},
    ConceptIntegratedGradients: {"n_steps": 4, "baseline": 0.0},
    ConceptSaliency: {},
    ConceptActivationMapping: {},
    ConceptPatchTokens: {},
}
"""Each class's own arguments (non-default values)."""


def test_the_classes_are_the_methods():
    assert set(METHODS.values()) == set(OWN)
    assert all(issubclass(cls, ConceptAttribution) for cls in OWN)


@pytest.mark.parametrize("cls", list(OWN), ids=lambda c: c.__name__)
def test_each_class_rejects_other_methods_arguments(cls, world_tiny, world_bank):
    ok = cls(world_tiny, world_bank, batch_size=8, **OWN[cls])
    for name in ("batch_size", *OWN[cls]):
        assert getattr(ok, name) == ({"batch_size": 8} | OWN[cls])[name]
    others = {k: v for c, own in OWN.items() if c is not cls for k, v in own.items()}
    assert others
    for name, value in {**others, "method": "gradcam"}.items():
        with pytest.raises(TypeError, match=f"unexpected keyword argument '{name}'"):
            cls(world_tiny, world_bank, **{name: value})


@pytest.mark.parametrize("cls", list(OWN), ids=lambda c: c.__name__)
def test_bad_input_errors_name_the_argument(cls, world_tiny, world_bank):
    attribution = cls(world_tiny, world_bank, **OWN[cls])
    img = np.zeros((1, 64, 64, 3), np.uint8)
    with pytest.raises(
        ValueError, match=r"concepts: concept 'no such' is not one of the 31 known concepts"
    ):
        attribution.attribute(img, ["red body", "no such"])
    with pytest.raises(
        ValueError, match=r"concepts: expected concept indices in 0\.\.30, got 31$"
    ):
        attribution.attribute(img, [31])
    with pytest.raises(
        ValueError, match=r"images: array has shape \(64, 64, 3\); expected \(n, H, W, 3\)"
    ):
        attribution.attribute(img[0], [0])
    with pytest.raises(
        ValueError, match=r"images: array has shape \(1, 64, 64, 4\); expected \(n, H, W, 3\)"
    ):
        attribution.attribute(np.zeros((1, 64, 64, 4), np.uint8), [0])
    with pytest.raises(ValueError, match=r"images: .*input size \(64, 64\), got \(32, 32\)"):
        attribution.attribute(torch.zeros(1, 3, 32, 32), [0])
    with pytest.raises(ValueError, match=r"images: .*shape \(n, 3, H, W\); got \(1, 1, 64, 64\)"):
        attribution.attribute(torch.zeros(1, 1, 64, 64), [0])
    with pytest.raises(TypeError, match="backbone: expected a bottlekit Backbone"):
        cls("world-tiny", world_bank)
    with pytest.raises(TypeError, match="backbone: got an open_clip model; pass the bottlekit"):
        cls(world_tiny.model, world_bank)
    with pytest.raises(ValueError, match="batch_size: expected a positive int, got 0"):
        cls(world_tiny, world_bank, batch_size=0)
    with pytest.raises(ValueError, match="concept_bank_or_model: has dimension 8"):
        cls(world_tiny, ConceptBank(["a"], np.ones((1, 8)), "other"))
    with pytest.raises(TypeError, match="concept_bank_or_model: expected a ConceptBank"):
        cls(world_tiny, object())


def test_only_saliency_takes_a_feature_function(world_bank):
    def features(x):
        return x.flatten(1)

    assert ConceptSaliency(features, world_bank).backbone is features
    for cls in (ConceptGradCAM, ConceptIntegratedGradients, ConceptActivationMapping):
        with pytest.raises(TypeError, match=r"backbone: expected a bottlekit Backbone .*function"):
            cls(features, world_bank)


@pytest.mark.parametrize("cls", list(OWN), ids=lambda c: c.__name__)
def test_per_image_concept_tables(cls, world_tiny, world_bank, world_images):
    """A table (n, t) maps concept table[i, c] on image i: the same maps as mapping every
    concept of the table on every image and picking (float32 round-off only: the pairs
    are batched differently)."""
    attribution = cls(world_tiny, world_bank, **OWN[cls])
    table = [[7, 0], [0, 3], ["long tail", 7]]
    full = attribution.attribute(world_images, [0, 3, 7, "long tail"])
    picked = np.stack([full[0, [2, 0]], full[1, [0, 1]], full[2, [3, 2]]])
    maps = attribution.attribute(world_images, table)
    assert maps.shape == (3, 2, 64, 64)
    np.testing.assert_allclose(maps, picked, rtol=1e-5, atol=1e-6 * np.abs(full).max())
    np.testing.assert_array_equal(
        attribution.attribute(world_images, np.array([[0], [0], [0]])),
        attribution.attribute(world_images, [0]),
    )
    with pytest.raises(
        ValueError, match=r"concepts: a per-image table must have one row per image \(3\)"
    ):
        attribution.attribute(world_images, [[0], [1]])
    with pytest.raises(ValueError, match=r"lengths \[1, 2\]"):
        attribution.attribute(world_images, [[0], [1, 2], [0]])


@pytest.mark.parametrize("cls", list(OWN), ids=lambda c: c.__name__)
def test_pairs_map_the_true_pairs_and_leave_the_rest_at_zero(
    cls, world_tiny, world_bank, world_images, monkeypatch
):
    """``pairs`` (n, len(concepts)) maps the pairs that are True (e.g. the present
    concepts): the maps of mapping every concept, exact zeros elsewhere; the images with
    as many pairs as each other share one call of ``_maps``, with their concepts only."""
    attribution = cls(world_tiny, world_bank, **OWN[cls])
    m = len(world_bank.names)
    pairs = np.zeros((3, m), bool)
    pairs[0, [1, 4]] = pairs[1, [0, 2]] = pairs[2, 3] = True
    full = attribution.attribute(world_images)
    calls = []
    plain = type(attribution)._maps

    def recording(self, x, scorer, cols):
        calls.append((len(x), np.asarray(cols).shape))
        return plain(self, x, scorer, cols)

    monkeypatch.setattr(type(attribution), "_maps", recording)
    maps = attribution.attribute(world_images, pairs=pairs)
    assert maps.shape == full.shape and maps.dtype == np.float32
    np.testing.assert_allclose(maps[pairs], full[pairs], rtol=1e-5, atol=1e-6 * np.abs(full).max())
    assert not maps[~pairs].any()
    assert sorted(calls) == [(1, (1, 1)), (2, (2, 2))]  # image 2 alone; images 0 and 1
    # columns of a subset, in another order: column j is the j-th concept named
    chosen = [4, 0, 3]
    sub = attribution.attribute(world_images, chosen, pairs=pairs[:, chosen])
    np.testing.assert_allclose(sub, maps[:, chosen], rtol=1e-5, atol=1e-6 * np.abs(full).max())
    assert not sub[~pairs[:, chosen]].any()
    calls.clear()
    assert not attribution.attribute(world_images, pairs=np.zeros((3, m), bool)).any()
    assert calls == []  # no pair: no pass


def test_pairs_bad_inputs(world_tiny, world_bank, world_images):
    ig = ConceptGradCAM(world_tiny, world_bank)
    m = len(world_bank.names)
    with pytest.raises(ValueError, match=r"pairs: expected shape \(n images, k concepts\)"):
        ig.attribute(world_images, pairs=np.ones((3, m + 1), bool))
    with pytest.raises(ValueError, match=rf"= \(3, 2\), got \(3, {m}\)"):
        ig.attribute(world_images, [0, 1], pairs=np.ones((3, m), bool))
    with pytest.raises(TypeError, match=r"pairs: .*got dtype int64 \(0/1 labels"):
        ig.attribute(world_images, pairs=np.ones((3, m), int))  # 0/1 labels, not bool
    with pytest.raises(ValueError, match="pairs: its columns are the concepts named"):
        ig.attribute(world_images, [[0], [1], [2]], pairs=np.ones((3, 1), bool))
    with pytest.raises(TypeError, match=r"concepts: a boolean .* pass it as pairs="):
        ig.attribute(world_images, np.ones((3, m), bool))


def test_pairs_under_another_default_dtype(world_tiny, world_bank, world_images):
    """The maps of ``pairs`` stay float32 when torch's default dtype is float64 (the
    scatter into a default-dtype array failed: "Index put requires the source and
    destination dtypes match")."""
    pairs = np.eye(3, len(world_bank.names), dtype=bool)
    expected = ConceptGradCAM(world_tiny, world_bank).attribute(world_images, pairs=pairs)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        maps = ConceptGradCAM(world_tiny, world_bank).attribute(world_images, pairs=pairs)
    finally:
        torch.set_default_dtype(before)
    assert maps.dtype == np.float32
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "cls", [ConceptActivationMapping, ConceptPatchTokens], ids=lambda c: c.__name__
)
def test_only_the_mapped_columns_reach_the_image_size(
    cls, world_tiny, world_bank, world_images, monkeypatch
):
    """The methods that score every concept in one pass pick each image's columns on the
    token grid: with one concept per image, one channel per image is upsampled (not every
    concept of the table, n x concepts x H x W floats)."""
    module = sys.modules[cls.__module__]
    channels = []

    def recording_upsample(maps, size):
        channels.append(tuple(maps.shape[:2]))
        return upsample(maps, size)

    monkeypatch.setattr(module, "upsample", recording_upsample)
    maps = cls(world_tiny, world_bank).attribute(world_images, [[7], [0], [3]])
    assert maps.shape == (3, 1, 64, 64)
    assert channels == [(3, 1)]


def test_repr_shows_the_arguments(world_tiny, world_bank):
    ig = ConceptIntegratedGradients(world_tiny, world_bank, n_steps=8)
    assert repr(ig) == (
        "ConceptIntegratedGradients(backbone=<Backbone>, concept_bank_or_model=<ConceptBank>, "
        "n_steps=8, baseline='black', batch_size=256)"
    )
    assert ig.concept_names == list(world_bank.names)
