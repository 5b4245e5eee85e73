"""ConceptIntegratedGradients: completeness, and its ``baseline``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bottlekit.visualize.attribution import ConceptIntegratedGradients


def _scores(bk, bank, x):
    v = torch.as_tensor(bank.vectors, dtype=torch.float32)
    with torch.no_grad():
        z = F.normalize(bk.model.encode_image(x).float(), dim=-1)
        return (F.normalize(z, dim=-1) @ (v / v.norm(dim=1, keepdim=True)).T).numpy()


@pytest.mark.parametrize("baseline", ["black", 0.5])
def test_maps_sum_to_the_change_of_the_concept_activation(tiny_vit, random_bank, baseline):
    """Completeness (Sundararajan et al. 2017): the map summed over all pixels is
    s_j(x) - s_j(x') up to the trapezoid rule's O(n^-2) error.

    Measured relative errors on this ViT at 4, 16, 64 points: black baseline 7.7e-2,
    2.3e-3, 1.3e-4; baseline 0.5: 3.2e-2, 1.1e-3, 6.5e-5. With captum's weights, which sum
    to (n - 1) / n (the maps before 2026-12-04), the sums were short by 1 / n: 0.0625 at
    16 points and 0.0156 at 64, so the assertions at 16 and 64 points failed."""
    bk = tiny_vit(seed=5)
    bank = random_bank(bk, 2, seed=5)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    if baseline == "black":
        mean = torch.tensor(bk.preprocess.transforms[-1].mean).view(1, 3, 1, 1)
        std = torch.tensor(bk.preprocess.transforms[-1].std).view(1, 3, 1, 1)
        x0 = ((0.0 - mean) / std).expand_as(x)
    else:
        x0 = torch.full_like(x, baseline)
    delta = _scores(bk, bank, x) - _scores(bk, bank, x0)
    assert np.abs(delta).min() > 1e-3  # a non-trivial path
    errors = {}
    for n_steps in (4, 16, 64):
        ig = ConceptIntegratedGradients(bk, bank, n_steps=n_steps, baseline=baseline)
        total = ig.attribute(x).sum(axis=(2, 3))
        errors[n_steps] = np.abs(total - delta).max() / np.abs(delta).max()
    assert errors[16] < 5e-3
    assert errors[64] < 5e-4
    assert errors[64] < errors[16] < errors[4]


def test_a_path_of_constant_gradient_is_integrated_exactly_at_two_points(tiny_vit, random_bank):
    """On an input whose path stays where the score is linear (a baseline equal to the
    image but for one pixel of small change), the trapezoid rule with weights summing to 1
    is exact at any number of points: two points give the 64-point map. captum's weights
    gave half of it at two points."""
    bk = tiny_vit(seed=8)
    bank = random_bank(bk, 1, seed=8)
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(8))
    x0 = x.clone()
    x0[0, :, 5, 7] -= 1e-3  # a path of length 1e-3: the score is linear along it
    two = ConceptIntegratedGradients(bk, bank, n_steps=2, baseline=x0).attribute(x)
    many = ConceptIntegratedGradients(bk, bank, n_steps=64, baseline=x0).attribute(x)
    scale = np.abs(many).max()
    assert scale > 0
    np.testing.assert_allclose(two, many, rtol=0, atol=1e-3 * scale)


def test_black_baseline_equals_the_explicit_tensor(tiny_rn, random_bank):
    bk = tiny_rn(seed=6)
    bank = random_bank(bk, 2, seed=6)
    images = np.random.default_rng(6).integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    mean = torch.tensor(bk.preprocess.transforms[-1].mean).view(3, 1, 1)
    std = torch.tensor(bk.preprocess.transforms[-1].std).view(3, 1, 1)
    black = ((0.0 - mean) / std).expand(3, 32, 32)
    a = ConceptIntegratedGradients(bk, bank, n_steps=6).attribute(images)
    b = ConceptIntegratedGradients(bk, bank, n_steps=6, baseline=black).attribute(images)
    np.testing.assert_array_equal(a, b)


def test_bad_baseline_and_n_steps(tiny_rn, random_bank):
    bk = tiny_rn()
    bank = random_bank(bk, 1)
    x = torch.zeros(1, 3, 32, 32)
    with pytest.raises(ValueError, match=r"baseline: expected 'black'.*'white'"):
        ConceptIntegratedGradients(bk, bank, baseline="white")
    with pytest.raises(TypeError, match=r"baseline: expected .*list"):
        ConceptIntegratedGradients(bk, bank, baseline=[0.0])
    with pytest.raises(ValueError, match="baseline: expected a finite number"):
        ConceptIntegratedGradients(bk, bank, baseline=float("nan"))
    with pytest.raises(TypeError, match="baseline: a tensor must be float"):
        ConceptIntegratedGradients(bk, bank, baseline=torch.zeros(3, dtype=torch.long))
    with pytest.raises(
        ValueError, match=r"baseline: .*broadcastable .*\(1, 3, 32, 32\).*\(3, 16\)"
    ):
        ConceptIntegratedGradients(bk, bank, baseline=torch.zeros(3, 16)).attribute(x)
    with pytest.raises(ValueError, match="n_steps: expected a positive int, got 0"):
        ConceptIntegratedGradients(bk, bank, n_steps=0)
    # captum needs two points; n_steps=1 used to fail with a bare AssertionError
    with pytest.raises(ValueError, match=r"n_steps: .*at least 2 points, got 1"):
        ConceptIntegratedGradients(bk, bank, n_steps=1)


@pytest.mark.parametrize(
    ("batch_size", "per_image"),
    [(64, False), (4, True)],
    ids=["whole-paths-per-pass", "paths-split-over-passes-per-image-table"],
)
def test_batched_steps_equal_a_plain_trapezoid_sum_of_gradients_on_world_images(
    batch_size, per_image
):
    """The maps (several interpolation steps of several images per forward pass, one
    backward pass per concept on it, the baseline's gradient once per concept) equal the
    definition computed one image, one concept and one step at a time: the trapezoid rule
    with weights 1/(2(n-1)), 1/(n-1), ..., 1/(2(n-1)) on alpha = 0, 1/(n-1), ..., 1 of the
    gradient of s_j, times (x - x'), summed over colour channels. Float32 noise only
    (measured: 3e-7 of the map's scale; asserted 1e-5). batch_size 4 splits each path
    over several passes and maps two images per chunk."""
    from PIL import Image

    import bottlekit
    from bottlekit.concepts import from_text

    bk = bottlekit.load_backbone("world-tiny", device="cpu")
    bank = from_text(bk, ["red body", "long tail", "water background"])
    images = bottlekit.make_world(3, "test", random_state=1).images
    n = 6
    table = [[2, 0], [1, 1], [0, 2]]  # image i maps table[i]; a concept twice on one image
    ig = ConceptIntegratedGradients(bk, bank, n_steps=n, batch_size=batch_size)
    maps = ig.attribute(images, table) if per_image else ig.attribute(images)

    x_all = torch.stack([bk.preprocess(Image.fromarray(im)) for im in images])
    mean = torch.tensor(bk.preprocess.transforms[-1].mean).view(1, 3, 1, 1)
    std = torch.tensor(bk.preprocess.transforms[-1].std).view(1, 3, 1, 1)
    v = torch.as_tensor(bank.vectors, dtype=torch.float32)
    v = v / v.norm(dim=1, keepdim=True)
    weights = [1 / (2 * (n - 1))] + [1 / (n - 1)] * (n - 2) + [1 / (2 * (n - 1))]
    bk.model.eval()
    for i in range(len(images)):
        x = x_all[i : i + 1]
        x0 = ((0.0 - mean) / std).expand_as(x)
        for c, j in enumerate(table[i] if per_image else range(len(bank.names))):
            total = torch.zeros_like(x)
            for w, alpha in zip(weights, np.linspace(0, 1, n), strict=True):
                xa = (x0 + float(alpha) * (x - x0)).requires_grad_(True)
                s = F.normalize(bk.model.encode_image(xa).float(), dim=-1) @ v[j]
                (g,) = torch.autograd.grad(s.sum(), xa)
                total += w * g
            expected = ((x - x0) * total).sum(dim=1)[0].numpy()
            scale = np.abs(expected).max()
            np.testing.assert_allclose(maps[i, c], expected, rtol=0, atol=1e-5 * scale)


def test_maps_equal_captums_integrated_gradients_rescaled(world_tiny, world_bank, world_images):
    """captum's IntegratedGradients with ``riemann_trapezoid`` (``internal_batch_size`` =
    256, oneDNN's patch-convolution backward), whose weights sum to (n - 1) / n, times
    n / (n - 1): the same maps within float32 rounding (measured 3e-7 of the map's scale,
    asserted 1e-5)."""
    IntegratedGradients = pytest.importorskip("captum.attr").IntegratedGradients

    from bottlekit.visualize.attribution._images import as_model_input

    concepts = [0, 30]
    ig = ConceptIntegratedGradients(world_tiny, world_bank, n_steps=4)
    maps = ig.attribute(world_images, concepts)
    x, _, _ = as_model_input(world_tiny, world_images)
    v = torch.as_tensor(world_bank.vectors, dtype=torch.float32)[concepts]
    v = v / v.norm(dim=1, keepdim=True)

    def scores(x):
        return F.normalize(world_tiny.model.encode_image(x).float(), dim=-1) @ v.T

    world_tiny.model.eval()
    for c in range(len(concepts)):
        expected = IntegratedGradients(scores).attribute(
            x,
            baselines=ig._baselines(x),
            target=c,
            n_steps=4,
            method="riemann_trapezoid",
            internal_batch_size=256,
        )
        expected = expected.sum(dim=1).detach().numpy() * 4 / 3  # n / (n - 1), n = 4
        scale = np.abs(expected).max()
        np.testing.assert_allclose(maps[:, c], expected, rtol=0, atol=1e-5 * scale)


def test_forward_passes_are_shared_by_the_concepts_and_the_baseline(tiny_vit, random_bank):
    """3 concepts on 2 images with 5 steps: the image tower sees the baseline once per
    concept and steps 1..4 of each image once (3 + 2 * 4 = 11 rows), not every step of
    every (image, concept) pair (2 * 3 * 5 = 30 rows)."""
    bk = tiny_vit(seed=3)
    bank = random_bank(bk, 3, seed=3)
    seen = []
    handle = bk.model.visual.register_forward_hook(lambda m, args, out: seen.append(len(args[0])))
    try:
        x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
        ConceptIntegratedGradients(bk, bank, n_steps=5).attribute(x)
    finally:
        handle.remove()
    assert sum(seen) == 3 + 2 * 4
