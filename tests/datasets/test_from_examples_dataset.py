"""``from_examples`` on a ConceptDataset: Post-hoc CBM's draw of 2n + 2n images per
concept on the CUB fixture, the skip report, lazy embedding of the drawn images only, and
a CAV that separates a known-separable concept."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from dataset_formats import CUB_ATTRIBUTES, write_cub

from bottlekit.concepts import (
    ChanceLevelWarning,
    draw_concept_examples,
    from_examples,
    pcbm_n_examples,
)
from bottlekit.datasets import ConceptDataset, load_cub
from bottlekit.images import as_image_source


class PixelMeanBackbone:
    """A stand-in backbone: the mean RGB of each image; records the files it reads."""

    id = "pixel-mean"
    name = "pixel-mean"

    def __init__(self) -> None:
        self.read: list[str] = []

    def iter_encode_images(self, images, batch_size=64, num_workers=None):
        source = as_image_source(images)
        self.read += source.paths
        feats = [np.asarray(source.load(i), np.float32).mean((0, 1)) for i in range(len(source))]
        yield 0, np.stack(feats) / 255

    def encode_images(self, images, batch_size=64, progress=False, num_workers=None):
        return next(self.iter_encode_images(images))[1]


@pytest.fixture
def cub_train(tmp_path):
    written = write_cub(tmp_path, n_per_class=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ds = load_cub(written["root"], "train")
    present = written["present"][written["is_train"]].astype(bool)  # the train rows
    return ds, present


def test_draws_two_n_positives_and_negatives_of_each_concept(cub_train):
    ds, present = cub_train
    n = 4
    ex = draw_concept_examples(ds, n_examples=n, random_state=3)
    n_pos, n_neg = present.sum(0), (~present).sum(0)
    enough = (n_pos >= 2 * n) & (n_neg >= 2 * n)
    assert 0 < enough.sum() < len(CUB_ATTRIBUTES)  # the fixture has both cases
    assert ex.names == [a for a, ok in zip(CUB_ATTRIBUTES, enough, strict=True) if ok]
    assert ex.skipped == {
        a: (int(p), int(q))
        for a, p, q, ok in zip(CUB_ATTRIBUTES, n_pos, n_neg, enough, strict=True)
        if not ok
    }
    assert ex.positives.shape == ex.negatives.shape == (len(ex.names), 2 * n)
    for row, name in enumerate(ex.names):
        j = CUB_ATTRIBUTES.index(name)
        pos, neg = ex.positives[row], ex.negatives[row]
        assert len(set(pos)) == len(set(neg)) == 2 * n  # without replacement
        assert present[pos, j].all() and not present[neg, j].any()
    assert set(ex.indices) == set(ex.positives.ravel()) | set(ex.negatives.ravel())
    again = draw_concept_examples(ds, n_examples=n, random_state=3)
    np.testing.assert_array_equal(again.positives, ex.positives)
    np.testing.assert_array_equal(again.negatives, ex.negatives)
    other = draw_concept_examples(ds, n_examples=n, random_state=4)
    assert not np.array_equal(other.positives, ex.positives)


def test_from_examples_embeds_only_the_drawn_images_and_reports_skips(cub_train, tmp_path):
    ds, _ = cub_train
    n = 4
    full = draw_concept_examples(ds, n_examples=n)
    names = [full.names[0], next(iter(full.skipped))]  # one concept learnt, one skipped
    ex = draw_concept_examples(ds, n_examples=n, names=names, random_state=0)
    kw = {"names": names, "n_examples": n, "random_state": 0, "cache_dir": tmp_path / "c"}
    bk = PixelMeanBackbone()
    with pytest.warns(ChanceLevelWarning) as record:
        bank = from_examples(bk, ds, **kw)
    skip = [str(w.message) for w in record if "skipped" in str(w.message)]
    assert len(skip) == 1
    assert "skipped 1 of 2 concept(s) with fewer than 2 x n_examples = 8" in skip[0]
    for name, (p, q) in ex.skipped.items():
        assert f"{name!r} (pos={p}, neg={q})" in skip[0]
    assert bank.names == ex.names
    paths = [str(p) for p in ds.image_source.paths]
    assert sorted(bk.read) == sorted(paths[i] for i in ex.indices)  # each drawn image once
    assert len(bk.read) == 4 * n < len(ds)  # and not the others
    for row, prov in enumerate(bank.provenance):
        assert prov["n_examples"] == n and prov["heldout_n"] == 2 * n
        pos, neg = ex.positives[row], ex.negatives[row]
        assert prov["train_indices"] == [*pos[:n], *neg[:n]]  # dataset indices
        assert prov["heldout_indices"] == [*pos[n:], *neg[n:]]
    bk.read.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ChanceLevelWarning)
        from_examples(bk, ds, **kw)
    assert bk.read == []  # the second run reads the embedding cache, not the images


def test_cub_default_is_pcbm_100_and_too_small_a_dataset_says_so(cub_train, tmp_path):
    ds, _ = cub_train
    assert pcbm_n_examples(ds) == 100
    with pytest.warns(ChanceLevelWarning, match=r"skipped 6 of 6 .* 2 x n_examples = 200"):
        with pytest.raises(ValueError, match="no concept produced a usable CAV"):
            from_examples(PixelMeanBackbone(), ds, cache_dir=tmp_path)


def test_bad_arguments_name_themselves(cub_train, tmp_path):
    ds, present = cub_train
    with pytest.raises(ValueError, match="concept_labels: must be None"):
        from_examples(PixelMeanBackbone(), ds, present)
    with pytest.raises(ValueError, match="backbone: got only the id"):
        from_examples("ViT-B-32", ds)
    with pytest.raises(ValueError, match="n_examples: expected an int >= 2, got 1"):
        from_examples(PixelMeanBackbone(), ds, n_examples=1)
    with pytest.raises(ValueError, match="n_examples: applies to a ConceptDataset"):
        from_examples("toy", np.zeros((8, 2)), present[:8, :1], ["a"], n_examples=4)
    with pytest.raises(ValueError, match=re.escape("names: ['nope'] are not concepts")):
        draw_concept_examples(ds, 2, names=["nope"])
    with pytest.raises(ValueError, match="dataset: has no per-image concept_labels"):
        draw_concept_examples(ConceptDataset(np.zeros((2, 4, 4, 3), np.uint8), [0, 1]), 2)


def test_cav_separates_a_separable_concept(tmp_path):
    """Files whose colour is the concept: the CAV puts every positive on its side."""
    from PIL import Image

    rng = np.random.default_rng(0)
    paths, red = [], []
    for i in range(40):
        is_red = i % 2 == 0
        arr = rng.integers(0, 60, (16, 16, 3), dtype=np.uint8)
        arr[..., 0 if is_red else 2] += 150
        path = tmp_path / f"img_{i:02d}.png"
        Image.fromarray(arr).save(path)
        paths.append(path)
        red.append(is_red)
    red = np.array(red)
    noise = rng.integers(0, 2, 40)  # a concept unrelated to the pixels
    ds = ConceptDataset(
        paths,
        labels=red.astype(int),
        concept_names=["red", "noise"],
        concept_labels=np.stack([red, noise], 1).astype(np.uint8),
    )
    bk = PixelMeanBackbone()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ChanceLevelWarning)  # "noise" may be at chance
        bank = from_examples(bk, ds, n_examples=5, random_state=0, cache_dir=tmp_path / "c")
    prov = bank.provenance[bank.names.index("red")]
    assert prov["heldout_accuracy"] == 1.0 and prov["better_than_chance"]
    X = np.stack([np.asarray(Image.open(p), np.float32).mean((0, 1)) for p in paths])
    scores = bank.project(X / 255)[:, bank.names.index("red")]
    assert (scores[red] > 0).all() and (scores[~red] < 0).all()  # every image, drawn or not


def test_a_generator_seed_and_repeated_names_on_a_dataset(cub_train, tmp_path):
    ds, _ = cub_train
    name = ds.concept_names[0]
    # before: TypeError "object of type 'numpy.random._generator.Generator' has no len()"
    # from the seed of the folds, [random_state, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ChanceLevelWarning)
        drawn = [
            from_examples(
                PixelMeanBackbone(),
                ds,
                names=[name],
                n_examples=2,
                random_state=np.random.default_rng(7),
                cache_dir=tmp_path / "c",
            )
            for _ in range(2)
        ]
    np.testing.assert_array_equal(drawn[0].vectors, drawn[1].vectors)
    assert drawn[0].provenance == drawn[1].provenance
    # before: drawn, embedded and fitted twice, then refused by the bank
    with pytest.raises(ValueError, match=rf"names has duplicate name {name!r}"):
        draw_concept_examples(ds, 2, names=[name, name])


@pytest.mark.parametrize("given", [100, 50, None])
def test_max_examples_is_refused_with_a_dataset(cub_train, tmp_path, given):
    # before: ignored, silently (a dataset draws 2 x n_examples per concept), even 50 and
    # None ("use all"), which the default 50 could not be told from
    ds, _ = cub_train
    bk = PixelMeanBackbone()
    message = (
        f"max_examples: {given!r} has no effect with a ConceptDataset (it draws 2 x "
        "n_examples positives and negatives per concept); leave it 'auto' and set n_examples"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        from_examples(bk, ds, n_examples=4, max_examples=given, cache_dir=tmp_path)
    assert bk.read == []  # refused before any image was read


def test_max_examples_auto_is_the_default_with_a_dataset(cub_train, tmp_path):
    ds, _ = cub_train
    name = draw_concept_examples(ds, n_examples=4).names[0]
    kw = {"names": [name], "n_examples": 4, "random_state": 0, "cache_dir": tmp_path}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ChanceLevelWarning)
        default = from_examples(PixelMeanBackbone(), ds, **kw)
        auto = from_examples(PixelMeanBackbone(), ds, max_examples="auto", **kw)
    np.testing.assert_array_equal(default.vectors, auto.vectors)
    assert default.provenance == auto.provenance
