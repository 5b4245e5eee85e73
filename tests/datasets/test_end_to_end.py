"""A CUB fixture read by ``load_cub`` runs through embedding, a Post-hoc CBM,
``concept_existence``, ``concept_location`` and ``audit`` (world-tiny backbone; its
preprocessing resizes the images). Plumbing: the fixture's labels are random."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from dataset_formats import write_cub

import bottlekit
from bottlekit.bottleneck import PosthocCBM
from bottlekit.concepts import ChanceLevelWarning, from_examples
from bottlekit.datasets import load_dataset
from bottlekit.diagnostics import audit
from bottlekit.diagnostics.existence import concept_existence
from bottlekit.diagnostics.location import concept_location, located_pairs
from bottlekit.visualize.activation_maps import concept_activation_map


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cub")
    cub = write_cub(tmp, n_per_class=8, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ds = load_dataset("cub", cub["root"], split="all", image_size=32)
    bk = bottlekit.load_backbone("world-tiny", device="cpu")
    X = bottlekit.embed(bk, ds.image_source, cache_dir=tmp / "cache", progress=False)
    with warnings.catch_warnings():  # random fixture labels: CAVs at chance, as expected
        warnings.simplefilter("ignore", ChanceLevelWarning)
        bank = from_examples(  # all by keyword: the argument order is changing upstream
            backbone=bk,
            embeddings_or_images=X,
            concept_labels=ds.concept_labels,
            names=ds.concept_names,
            Cs=(1.0,),
            cv=2,
        )
    cbm = PosthocCBM(bank, lam=1e-3, random_state=0).fit(X, ds.labels)
    return ds, bk, X, cbm


def test_posthoc_cbm_and_existence(setup):
    ds, _, X, cbm = setup
    assert X.shape[0] == len(ds) == 24
    assert cbm.concept_names_ == ds.concept_names
    res = concept_existence(cbm, X, ds, top_k=2)
    expl = cbm.explain(X, top_k=2)
    hits = np.take_along_axis(ds.concept_labels.astype(bool), expl.top_indices, axis=1)
    assert res.precision == pytest.approx(hits.mean())
    assert res.chance == pytest.approx(ds.concept_labels.mean())


def test_location_against_keypoint_masks(setup):
    ds, bk, _, cbm = setup
    rows = [0, 1, 2, 5]
    sub = ds.subset(rows)
    names = ["has_wing_color::blue", "has_size::small_(5_-_9_in)"]
    maps = concept_activation_map(bk, sub.image_source.to_array(), cbm, concepts=names)
    assert maps.shape == (4, 2, 32, 32)
    res = concept_location(maps, sub, concept_names=names)
    masks = np.asarray(sub.part_masks)
    wings = ds.part_names.index("wings")
    # image 5 (position 3) has no visible keypoint: its wing pair is not scored
    assert not res.scored[3, 0]
    for i in range(4):
        for j, part in enumerate((wings, ds.part_names.index("bird"))):
            present = sub.concept_labels[i, ds.concept_names.index(names[j])] == 1
            assert res.scored[i, j] == (present and masks[i, part].any())
            if res.scored[i, j]:
                assert res.area[i, j] == pytest.approx(masks[i, part].mean())


def test_audit_runs_on_a_loaded_dataset(setup):
    ds, bk, X, cbm = setup
    r = audit(cbm, ds, backbone=bk, n_examples=1, n_location_images=4, top_k=2)
    assert r.fidelity["exact"] and r.fidelity["n_eval"] == len(ds)
    # the audit embeds the images itself: its existence figures are those of
    # concept_existence on the cached embeddings, at the audit's top_k
    ref = concept_existence(cbm, X, ds, top_k=2)
    assert r.existence["top_k"] == 2 and r.existence["n_images"] == len(ds)
    assert r.existence["precision"] == pytest.approx(ref.precision, abs=1e-12)
    assert r.existence["chance"] == pytest.approx(ref.chance, abs=1e-12)
    assert np.mean(r.existence["by_rank"]) == pytest.approx(ref.precision, abs=1e-12)
    assert r.location is not None and r.location["n_images"] == 4
    assert r.example_maps.shape == (1, 2, 32, 32)


def test_located_pairs_are_the_pairs_concept_location_scores(setup):
    ds, _, _, _ = setup
    names = ds.concept_names
    maps = np.random.default_rng(0).random((len(ds), len(names), 32, 32))
    res = concept_location(maps, ds, concept_names=names)
    located = located_pairs(ds, concept_names=names)
    assert located.shape == (len(ds), len(names)) and located.dtype == bool
    np.testing.assert_array_equal(located, res.scored)
    assert 0 < located.sum() < located.size  # some pairs absent or hidden, some scored
    np.testing.assert_array_equal(located_pairs(ds), located)  # names default to all


def test_recipe_location_maps_only_the_scored_pairs(setup, monkeypatch):
    """``bottlekit reproduce``'s concept_location metric: the same scores as mapping every
    concept on every image, from maps of the scored pairs only (before: every concept of
    the model on every image, ``m`` backward passes per batch)."""
    import bottlekit.visualize.activation_maps as activation_maps
    from bottlekit.app._recipe_metrics import _location

    ds, bk, _, cbm = setup
    names = [c for c in cbm.concept_names_ if c in ds.concept_names]
    expected = [
        concept_location(
            concept_activation_map(bk, sub.image_source.to_array(), cbm, names),
            sub,
            concept_names=names,
        )
        for sub in (ds.subset(np.arange(0, 16)), ds.subset(np.arange(16, 24)))
    ]
    asked = []
    plain = activation_maps.concept_activation_map

    def recording(backbone, images, model, concepts=None, **kwargs):
        asked.append(np.asarray(kwargs["pairs"]))
        return plain(backbone, images, model, concepts, **kwargs)

    monkeypatch.setattr(activation_maps, "concept_activation_map", recording)
    measured, details = _location(cbm, bk, ds, n_images=len(ds), seed=0, batch=16)
    pointing = np.concatenate([r.pointing for r in expected])
    scored = np.concatenate([r.scored for r in expected])
    assert details["n_pairs"] == scored.sum() > 0
    assert measured == pytest.approx(np.nanmean(pointing))
    assert details["mean_energy"] == pytest.approx(
        np.nanmean(np.concatenate([r.energy for r in expected]))
    )
    # per batch, one call whose pairs are exactly the scored ones
    assert [a.dtype for a in asked] == [bool, bool]
    for a, r in zip(asked, expected, strict=True):
        np.testing.assert_array_equal(a, r.scored)
    assert scored.sum() < scored.size  # fewer maps than every concept on every image


def test_recipe_location_with_the_model_concepts_in_another_order(setup):
    """A model whose concepts are a reordered subset of the dataset's: the metric maps
    each concept by the model's position and scores it by the dataset's."""
    from bottlekit.app._recipe_metrics import _location

    ds, bk, X, cbm = setup
    names = list(reversed(ds.concept_names))[:5]
    model = PosthocCBM(cbm.concepts.subset(names), lam=1e-3, random_state=0).fit(X, ds.labels)
    assert model.concept_names_ == names
    sub = ds.subset(np.arange(16))
    full = concept_activation_map(bk, sub.image_source.to_array(), model, names)
    expected = concept_location(full, sub, concept_names=names)
    measured, details = _location(model, bk, sub, n_images=16, seed=0, batch=16)
    assert details["n_pairs"] == expected.n_pairs > 0
    assert measured == pytest.approx(expected.pointing_accuracy)
    assert details["mean_energy"] == pytest.approx(expected.mean_energy)
