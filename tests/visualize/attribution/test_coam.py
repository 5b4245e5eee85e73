"""ConceptActivationMapping: locality, the exact ResNet decomposition, present vs absent
concepts on the world."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from bottlekit.backbones import load_backbone, register_model_config
from bottlekit.visualize.attribution import ConceptActivationMapping
from bottlekit.visualize.attribution.coam import _resnet_location_terms

HERE = Path(__file__).parent


def test_patch_local_perturbation_peaks_in_that_patch(tiny_vit, random_bank):
    """With the attention of all but the last block switched off, a token entering the
    last block depends on its own patch only; changing the pixels of patch (row 1, col 2)
    must change the CoAM map most inside that patch (row != col catches a transposed grid).

    (Grad-CAM is not local in this sense: its channel weights are spatial means of the
    gradient, so a change anywhere rescales the whole map; its layout is checked against
    the hand-written reference in test_gradcam.py.)"""
    bk = tiny_vit(seed=2)
    with torch.no_grad():
        for blk in bk.model.visual.transformer.resblocks[:-1]:
            blk.attn.out_proj.weight.zero_()
            blk.attn.out_proj.bias.zero_()
    coam = ConceptActivationMapping(bk, random_bank(bk, 2, seed=2))
    gen = torch.Generator().manual_seed(2)
    x0 = torch.randn(1, 3, 32, 32, generator=gen)
    x1 = x0.clone()
    x1[:, :, 8:16, 16:24] = torch.randn(1, 3, 8, 8, generator=gen) * 2
    m0 = coam.attribute(x0)
    m1 = coam.attribute(x1)
    inside = np.zeros((32, 32), bool)
    inside[8:16, 16:24] = True
    for j in range(2):
        d = np.abs(m1[0, j] - m0[0, j])
        r, c = np.unravel_index(np.argmax(d), d.shape)
        assert inside[r, c], (j, r, c)
        # bilinear upsampling leaks at most into the neighbouring half patches
        assert d[inside].mean() > 2 * d[~inside].mean()


def test_resnet_location_terms_sum_to_the_embedding(tiny_configs):
    """CoAM on a ResNet is an exact decomposition: the attention pool's per-location terms
    (plus the mean token's term and c_proj's bias) add up to encode_image's output."""
    register_model_config(HERE / "configs" / "diag-tiny-rn64.json")
    for name, size in (("test-tiny-rn", 32), ("diag-tiny-rn64", 64)):
        bk = load_backbone(name, device="cpu", random_state=3)
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            terms, f = _resnet_location_terms(bk, x, keep_mean_token=True)
            total = terms.sum(1) + bk.model.visual.attnpool.c_proj.bias
        assert terms.shape[1] == 1 + (size // 32) ** 2
        torch.testing.assert_close(total, f, rtol=1e-5, atol=1e-6)


def test_batches_of_images_give_the_same_maps(world_tiny, world_bank, world_images):
    """batch_size is images per pass: one image at a time gives the one-pass maps."""
    one_pass = ConceptActivationMapping(world_tiny, world_bank).attribute(world_images, [0, 7])
    by_one = ConceptActivationMapping(world_tiny, world_bank, batch_size=1)
    np.testing.assert_allclose(
        by_one.attribute(world_images, [0, 7]), one_pass, rtol=1e-5, atol=1e-7
    )


def test_absent_concepts_get_weaker_coam_maps_than_present_ones(world_tiny, world_bank):
    """On 300 test images, the share of a concept's positive CoAM mass that falls on the
    concept's part is larger when the image shows the concept than when it does not.

    Measured (300 test images, 31 concepts): mean per-concept AUROC of the energy 0.723 /
    0.731 / 0.727 / 0.728 on test seeds 0 / 1 / 2 / 3, mean per-concept gap (present minus
    absent) 0.165 / 0.167 on seeds 2 / 3. The bounds 0.65 and 0.10 leave margins of ~0.07."""
    from bottlekit.world import make_world

    w = make_world(300, "test", random_state=2, return_masks=True)
    maps = ConceptActivationMapping(world_tiny, world_bank).attribute(w.images)
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
