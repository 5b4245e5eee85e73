"""Concept activation maps: token-grid layout, Grad-CAM against a hand-written reference,
CoAM's decomposition, the randomisation sanity check and present-vs-absent concepts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from bottlekit.backbones import load_backbone, register_model_config
from bottlekit.concepts import ConceptBank
from bottlekit.visualize.activation_maps import (
    _resnet_location_terms,
    concept_activation_map,
    grid_to_tokens,
    tokens_to_grid,
)

HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def world_tiny():
    return load_backbone("world-tiny", device="cpu")


@pytest.fixture(scope="module")
def world_bank(world_tiny):
    from bottlekit.concepts import from_text
    from bottlekit.world import CONCEPT_NAMES

    return from_text(world_tiny, list(CONCEPT_NAMES))


def _random_bank(backbone, k: int, seed: int = 0, kind: str = "text") -> ConceptBank:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(k, backbone.embed_dim))
    b = rng.normal(size=k) if kind == "cav" else None
    prov = [{"kind": kind} for _ in range(k)]
    return ConceptBank([f"c{i}" for i in range(k)], v, backbone.id, intercepts=b, provenance=prov)


def _vit(tiny_configs, seed: int = 0):
    assert "test-tiny-vit" in tiny_configs
    return load_backbone("test-tiny-vit", device="cpu", seed=seed)


# ------------------------------------------------------------------------- ViT layout
def test_token_grid_matches_open_clip_layout(tiny_configs):
    """Our CLS-drop + reshape equals open_clip's own NCHW intermediates (an independent
    implementation of the patch layout), and grid_to_tokens inverts it exactly."""
    bk = _vit(tiny_configs)
    visual = bk.model.visual
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    seen = {}
    h = visual.transformer.resblocks[0].register_forward_hook(
        lambda m, a, out: seen.__setitem__("tokens", out)
    )
    with torch.no_grad():
        ref = visual.forward_intermediates(x, indices=[0], output_fmt="NCHW")
    h.remove()
    cls, grid = tokens_to_grid(seen["tokens"], visual.grid_size)
    assert grid.shape == (2, 64, 4, 4)
    torch.testing.assert_close(grid, ref["image_intermediates"][0], rtol=0, atol=0)
    torch.testing.assert_close(grid_to_tokens(cls, grid), seen["tokens"], rtol=0, atol=0)
    with pytest.raises(ValueError, match="tokens"):
        tokens_to_grid(seen["tokens"][:, :-1], visual.grid_size)


def test_gradcam_matches_hand_written_reference(tiny_configs):
    """Grad-CAM through captum on the tokens entering the last block equals Grad-CAM
    written out by hand on open_clip's NCHW intermediates (float32 round-off only)."""
    bk = _vit(tiny_configs, seed=1)
    visual = bk.model.visual
    bank = _random_bank(bk, 3, seed=1, kind="cav")
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    ours = concept_activation_map(bk, x, bank, method="gradcam")
    assert ours.shape == (3, 3, 32, 32)

    v = torch.as_tensor(bank.vectors)
    b = torch.as_tensor(bank.intercepts)
    inter = visual.forward_intermediates(
        x,
        indices=[len(visual.transformer.resblocks) - 2],
        output_fmt="NCHW",
        output_extra_tokens=True,
    )
    A = inter["image_intermediates"][0].detach().requires_grad_(True)  # (n, D, 4, 4)
    cls = inter["image_intermediates_prefix"][0].detach()
    tokens = torch.cat([cls, A.flatten(2).transpose(1, 2)], dim=1)
    out = visual.transformer.resblocks[-1](tokens)
    pooled, _ = visual._pool(out)
    z = F.normalize(pooled @ visual.proj, dim=-1)
    s = (z @ v.T + b) / v.norm(dim=1)
    ref = np.empty_like(ours)
    for j in range(3):
        (g,) = torch.autograd.grad(s[:, j].sum(), A, retain_graph=True)
        cam = torch.relu((g.mean((2, 3), keepdim=True) * A).sum(1, keepdim=True))
        ref[:, j] = F.interpolate(cam, size=(32, 32), mode="bilinear").detach()[:, 0].numpy()
    assert ref.max() > 0  # a non-trivial map
    # tolerance: float32 sums over 64 channels in a different order
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6 * ref.max())


def test_patch_local_perturbation_peaks_in_that_patch(tiny_configs):
    """With the attention of all but the last block switched off, a token entering the
    last block depends on its own patch only; changing the pixels of patch (row 1, col 2)
    must change the CoAM map most inside that patch (row != col catches a transposed grid).

    (Grad-CAM is not local in this sense: its channel weights are spatial means of the
    gradient, so a change anywhere rescales the whole map; its layout is checked against
    the hand-written reference above.)"""
    method = "coam"
    bk = _vit(tiny_configs, seed=2)
    with torch.no_grad():
        for blk in bk.model.visual.transformer.resblocks[:-1]:
            blk.attn.out_proj.weight.zero_()
            blk.attn.out_proj.bias.zero_()
    bank = _random_bank(bk, 2, seed=2)
    gen = torch.Generator().manual_seed(2)
    x0 = torch.randn(1, 3, 32, 32, generator=gen)
    x1 = x0.clone()
    x1[:, :, 8:16, 16:24] = torch.randn(1, 3, 8, 8, generator=gen) * 2
    m0 = concept_activation_map(bk, x0, bank, method=method)
    m1 = concept_activation_map(bk, x1, bank, method=method)
    inside = np.zeros((32, 32), bool)
    inside[8:16, 16:24] = True
    for j in range(2):
        d = np.abs(m1[0, j] - m0[0, j])
        r, c = np.unravel_index(np.argmax(d), d.shape)
        assert inside[r, c], (method, j, r, c)
        # bilinear upsampling leaks at most into the neighbouring half patches
        assert d[inside].mean() > 2 * d[~inside].mean()


# ------------------------------------------------------------------------------ ResNet
def test_resnet_location_terms_sum_to_the_embedding(tiny_configs):
    """CoAM on a ResNet is an exact decomposition: the attention pool's per-location terms
    (plus the mean token's term and c_proj's bias) add up to encode_image's output."""
    register_model_config(HERE / "configs" / "diag-tiny-rn64.json")
    for name, size in (("test-tiny-rn", 32), ("diag-tiny-rn64", 64)):
        bk = load_backbone(name, device="cpu", seed=3)
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            terms, f = _resnet_location_terms(bk, x, keep_mean_token=True)
            total = terms.sum(1) + bk.model.visual.attnpool.c_proj.bias
        assert terms.shape[1] == 1 + (size // 32) ** 2
        torch.testing.assert_close(total, f, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["gradcam", "coam", "saliency", "integrated_gradients"])
def test_resnet_maps_have_input_shape_and_differ_between_concepts(tiny_configs, method):
    assert "test-tiny-rn" in tiny_configs
    bk = load_backbone("test-tiny-rn", device="cpu", seed=4)
    bank = _random_bank(bk, 3, seed=4)
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
    maps = concept_activation_map(bk, images, bank, method=method, n_steps=8)
    assert maps.shape == (2, 3, 32, 32) and maps.dtype == np.float32
    assert np.isfinite(maps).all()
    scale = np.abs(maps).max()
    assert scale > 0
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert np.abs(maps[:, a] - maps[:, b]).max() > 1e-3 * scale


# ------------------------------------------------------------------- inputs and errors
def test_uint8_pil_and_tensor_inputs_agree(world_tiny, world_bank):
    from bottlekit.world import make_world

    w = make_world(3, "test", seed=5, return_masks=False)
    a = concept_activation_map(world_tiny, w.images, world_bank, [0, 7], method="coam")
    b = concept_activation_map(
        world_tiny, [Image.fromarray(im) for im in w.images], world_bank, [0, 7], method="coam"
    )
    x = torch.stack([world_tiny.preprocess(Image.fromarray(im)) for im in w.images])
    c = concept_activation_map(world_tiny, x, world_bank, ["red body", "large body"], "coam")
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-7)


def test_non_square_images_map_back_onto_the_centre_crop(tiny_configs):
    bk = _vit(tiny_configs)
    bank = _random_bank(bk, 2)
    rng = np.random.default_rng(6)
    images = rng.integers(0, 256, size=(2, 48, 80, 3), dtype=np.uint8)
    maps = concept_activation_map(bk, images, bank, method="saliency")
    assert maps.shape == (2, 2, 48, 80)
    # the model saw the central 48x48 square; nothing outside it gets attribution
    assert np.all(maps[..., :16] == 0) and np.all(maps[..., 64:] == 0)
    assert np.all(maps[..., 16:64].max(axis=(2, 3)) > 0)

    # resize the shortest side to 40, crop 32: of an 80x80 image the model sees the
    # central 64x64 square (80 * 32 / 40), so the border of 8 pixels gets nothing
    from torchvision import transforms as T

    bk.preprocess = T.Compose([T.Resize(40), T.CenterCrop(32), T.ToTensor()])
    images = rng.integers(0, 256, size=(1, 80, 80, 3), dtype=np.uint8)
    maps = concept_activation_map(bk, images, bank, method="saliency")
    assert maps.shape == (1, 2, 80, 80)
    border = np.ones((80, 80), bool)
    border[8:72, 8:72] = False
    assert np.all(maps[..., border] == 0)
    assert (maps[..., 8:72, 8:72] > 0).mean() > 0.9


def test_model_scorer_equals_bank_scorer(world_tiny, world_bank):
    """A concept model whose transform_torch is the bank's cosine gives the bank's maps."""
    idx = [0, 8, 26]
    V = torch.as_tensor(world_bank.vectors[idx])

    class Linear:
        def __init__(self) -> None:
            self.concept_names_ = [world_bank.names[i] for i in idx]
            self.n_features_in_ = world_tiny.embed_dim

        def transform_torch(self, Z):
            return F.normalize(Z, dim=1) @ (V / V.norm(dim=1, keepdim=True)).T

    from bottlekit.world import make_world

    images = make_world(2, "test", seed=7, return_masks=False).images
    for method in ("gradcam", "coam"):
        a = concept_activation_map(world_tiny, images, Linear(), None, method=method)
        b = concept_activation_map(world_tiny, images, world_bank, idx, method=method)
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6 * np.abs(b).max())


def test_bad_inputs_raise_clear_errors(world_tiny, world_bank):
    img = np.zeros((1, 64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="method"):
        concept_activation_map(world_tiny, img, world_bank, [0], method="cam++")
    with pytest.raises(ValueError, match="'no such'"):
        concept_activation_map(world_tiny, img, world_bank, ["no such"])
    with pytest.raises(ValueError, match="empty"):
        concept_activation_map(world_tiny, img, world_bank, [])
    with pytest.raises(ValueError, match="index 99"):
        concept_activation_map(world_tiny, img, world_bank, [99])
    with pytest.raises(ValueError, match=r"images\[None\]"):
        concept_activation_map(world_tiny, img[0], world_bank, [0])
    with pytest.raises(TypeError, match="uint8"):
        concept_activation_map(world_tiny, img.astype(np.float32), world_bank, [0])
    with pytest.raises(ValueError, match="NaN"):
        concept_activation_map(world_tiny, torch.full((1, 3, 64, 64), np.nan), world_bank, [0])
    with pytest.raises(ValueError, match=r"input size \(64, 64\)"):
        concept_activation_map(world_tiny, torch.zeros(1, 3, 32, 32), world_bank, [0])
    small = ConceptBank(["a"], np.ones((1, 8)), "other")
    with pytest.raises(ValueError, match="dimension 8"):
        concept_activation_map(world_tiny, img, small, [0])
    with pytest.raises(TypeError, match="ConceptBank"):
        concept_activation_map(world_tiny, img, object(), [0])
    with pytest.raises(ValueError, match="batch_size"):
        concept_activation_map(world_tiny, img, world_bank, [0], batch_size=0)


# ------------------------------------------------------------------ sanity on the world
def _rank_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = []
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            if a[i, j].std() > 0 and b[i, j].std() > 0:
                out.append(spearmanr(a[i, j].ravel(), b[i, j].ravel())[0])
    return np.array(out)


@pytest.mark.parametrize("method", ["gradcam", "coam", "saliency"])
def test_maps_change_when_the_weights_are_randomised(world_tiny, world_bank, method):
    """Adebayo et al. (2018): a map that survives randomising the model explains nothing.

    The maps of the trained world-tiny and of a randomly initialised copy (same concept
    vectors) must be nearly unrelated, while a 1 % weight perturbation of the trained model
    (a positive control) keeps them nearly identical.

    Measured mean Spearman correlations (12 images x 4 concepts, test seeds 8 / 9),
    randomised: gradcam 0.13 / 0.00, coam 0.04 / -0.04, saliency 0.08 / 0.13;
    perturbed by 1 %: >= 0.988 for all three. Bounds 0.3 and 0.9 leave a margin of >= 0.09."""
    from bottlekit.world import make_world

    images = make_world(12, "test", seed=8, return_masks=False).images
    concepts = ["red body", "black wings", "long tail", "water background"]
    trained = concept_activation_map(world_tiny, images, world_bank, concepts, method=method)
    rand_bk = load_backbone("world-tiny", pretrained="random", device="cpu", seed=8)
    randomised = concept_activation_map(rand_bk, images, world_bank, concepts, method=method)
    near_bk = load_backbone("world-tiny", device="cpu")
    gen = torch.Generator().manual_seed(8)
    with torch.no_grad():
        for p in near_bk.model.visual.parameters():
            p.add_(0.01 * p.std().nan_to_num() * torch.randn(p.shape, generator=gen))
    near = concept_activation_map(near_bk, images, world_bank, concepts, method=method)
    rho_random = _rank_correlations(trained, randomised)
    rho_near = _rank_correlations(trained, near)
    assert len(rho_random) > 20 and len(rho_near) > 20
    assert np.mean(rho_random) < 0.3
    assert np.mean(rho_near) > 0.9


def test_absent_concepts_get_weaker_coam_maps_than_present_ones(world_tiny, world_bank):
    """On 300 test images, the share of a concept's positive CoAM mass that falls on the
    concept's part is larger when the image shows the concept than when it does not.

    Measured (300 test images, 31 concepts): mean per-concept AUROC of the energy 0.723 /
    0.731 / 0.727 / 0.728 on test seeds 0 / 1 / 2 / 3, mean per-concept gap (present minus
    absent) 0.165 / 0.167 on seeds 2 / 3. The bounds 0.65 and 0.10 leave margins of ~0.07."""
    from bottlekit.world import make_world

    w = make_world(300, "test", seed=2, return_masks=True)
    maps = concept_activation_map(world_tiny, w.images, world_bank, method="coam")
    masks = w.part_masks[:, w.part_of_concept]
    pos = np.clip(maps, 0, None)
    energy = (pos * masks).sum((2, 3)) / np.maximum(pos.sum((2, 3)), 1e-30)
    L = w.concept_labels.astype(bool)
    usable = [j for j in range(L.shape[1]) if 5 <= L[:, j].sum() <= len(L) - 5]
    assert len(usable) >= 25
    aucs = [roc_auc_score(L[:, j], energy[:, j]) for j in usable]
    gaps = [energy[L[:, j], j].mean() - energy[~L[:, j], j].mean() for j in usable]
    assert np.mean(aucs) > 0.65
    assert np.mean(gaps) > 0.10
