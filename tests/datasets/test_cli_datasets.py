"""The command line takes datasets by name: ``embed --dataset`` and ``audit --dataset`` on
fixtures in the real on-disk formats (world-tiny backbone: plumbing, random labels), and
the errors for an unknown name, a missing root and bad options."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from dataset_formats import CUB_ATTRIBUTES, CUB_CLASSES, write_cifar, write_cub

import bottlekit
from bottlekit.app.cli import main
from bottlekit.bottleneck import save_linear_head
from bottlekit.datasets import LOADERS, load_dataset
from bottlekit.images import as_image_source


@pytest.fixture(scope="module")
def world_tiny():
    return bottlekit.load_backbone("world-tiny", device="cpu")


def test_embed_cifar10_by_name(tmp_path, world_tiny):
    cifar = write_cifar(tmp_path, hundred=False)
    out = tmp_path / "emb.npz"
    argv = f"embed --dataset cifar10 --root {cifar['root']} --split test --backbone world-tiny"
    assert main([*argv.split(), "--out", str(out), "--no-cache", "--quiet"]) == 0
    labels, pixels = cifar["files"]["test_batch.bin"]
    with np.load(out) as npz:
        assert npz["embeddings"].shape == (len(pixels), world_tiny.embed_dim)  # one per record
        np.testing.assert_array_equal(npz["labels"], labels[:, 0])
        assert list(npz["class_names"]) == cifar["names"]
        assert str(npz["dataset"]) == "cifar10" and str(npz["split"]) == "test"
        assert "files" not in npz and "concept_labels" not in npz  # records, no concepts
        expected = world_tiny.encode_images(pixels, progress=False)
        np.testing.assert_allclose(npz["embeddings"], expected, atol=1e-6)


def test_embed_cub_by_name_with_options_keeps_concepts(tmp_path, world_tiny, capsys):
    cub = write_cub(tmp_path)
    out = tmp_path / "cub.npz"
    argv = [
        *f"embed --dataset CUB --root {cub['root']} --split all --backbone world-tiny".split(),
        *("--dataset-option", "image_size=32", "--out", str(out)),
        *("--cache-dir", str(tmp_path / "cache")),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the fixture's image without parts
        assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"wrote 12 embeddings of dimension 64 (CUB, split all) to {out}" in printed
    with np.load(out) as npz:
        assert npz["embeddings"].shape == (len(cub["paths"]), 64)
        np.testing.assert_array_equal(npz["labels"], cub["labels"])
        assert list(npz["class_names"]) == CUB_CLASSES
        assert [f.split("/images/", 1)[1] for f in npz["files"]] == cub["paths"]
        assert list(npz["concept_names"]) == CUB_ATTRIBUTES
        np.testing.assert_array_equal(npz["concept_labels"], cub["present"])


def test_embed_options_for_speed(tmp_path, world_tiny):
    cub = write_cub(tmp_path)
    base = f"embed --dataset cub --root {cub['root']} --split all --backbone world-tiny"
    base += " --dataset-option image_size=64 --no-cache --quiet --out"
    outs = {}
    for name, extra in (("plain", []), ("auto", ["--model-threads", "auto"])):
        outs[name] = tmp_path / f"{name}.npz"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            assert main([*base.split(), str(outs[name]), *extra]) == 0
    with np.load(outs["plain"]) as a, np.load(outs["auto"]) as b:
        np.testing.assert_array_equal(a["embeddings"], b["embeddings"])  # a ViT tower


def test_audit_a_dataset_by_name(tmp_path, world_tiny):
    from sklearn.linear_model import LogisticRegression

    cub = write_cub(tmp_path, n_per_class=8, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ds = load_dataset("cub", cub["root"], split="all", image_size=64)
    X = bottlekit.embed(world_tiny, ds.image_source, cache=False, progress=False)
    clf = LogisticRegression(C=100.0, max_iter=2000).fit(X, ds.labels)  # a head to audit
    head = save_linear_head(tmp_path / "head.safetensors", clf.coef_, clf.intercept_)
    argv = [
        *f"audit --backbone world-tiny --head {head} --dataset cub --root {cub['root']}".split(),
        *("--split", "all", "--dataset-option", "image_size=64", "--examples", "1"),
        *("--out", str(tmp_path / "rep"), "--quiet"),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert main(argv) == 0
    report = json.loads((tmp_path / "rep" / "audit.json").read_text())
    f = report["fidelity"]
    assert f["n_fit"] + f["n_eval"] == len(cub["paths"])  # every image of the split
    assert report["class_names"] == CUB_CLASSES
    assert set(report["concept_names"]) <= set(CUB_ATTRIBUTES)  # CAVs of its attributes
    assert (tmp_path / "rep" / "report.html").is_file()


@pytest.mark.parametrize(
    "tail, message",
    [
        ("--dataset mnist --root {d}", "--dataset: unknown dataset 'mnist'; expected one of "),
        ("--dataset cub", "--root: required with --dataset cub"),
        ("--dataset cub --root {d}/nope", "--root: '{d}/nope' does not exist"),
        ("--dataset cub --root {d} --dataset-option size", "expected KEY=VALUE, got 'size'"),
        (
            "--dataset cub --root {d} --dataset-option colour=red",
            "--dataset-option: ['colour'] are not options of cub; it takes",
        ),
        ("--root {d} {d}", "--root: only applies with --dataset NAME"),
        ("--dataset cub --root {d} {d}", "IMAGES: give either IMAGES or --dataset NAME"),
    ],
)
def test_dataset_errors_are_one_line(tmp_path, capsys, tail, message):
    d = str(tmp_path)
    argv = ["embed", "--backbone", "world-tiny", "--out", f"{d}/o.npz"]
    assert main(argv + tail.format(d=d).split()) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message.format(d=d) in err, err
    if "unknown dataset" in message:
        assert all(name in err for name in LOADERS)


def test_audit_refuses_a_dataset_and_images_together(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(f"audit --backbone world-tiny --head h --dataset cub --images {tmp_path}".split())
    assert "not allowed with argument" in capsys.readouterr().err


def test_audit_of_photos_of_different_sizes_takes_image_size(tmp_path, world_tiny, capsys):
    # Before: `audit --images DIR` (and --dataset imagefolder, ham10000, ...) on photos of
    # different sizes, i.e. on real photos, stopped with "the images have 3 different
    # sizes ...; (resize them first)" and the command had no way to resize them.
    from dataset_formats import image

    from bottlekit.concepts import from_text

    for c, cls in enumerate(["cat", "dog", "emu"]):
        for j in range(4):
            size = (20 + 4 * j + c, 18 + 3 * j)
            image(tmp_path / "photos" / cls / f"{j}.png", size, value=100 * c + 5 * j)
    from_text(world_tiny, ["red body", "long tail"]).save(tmp_path / "bank.safetensors")
    from sklearn.linear_model import LogisticRegression

    from bottlekit.datasets import ResizedImages

    photos = as_image_source(tmp_path / "photos")
    X = bottlekit.embed(world_tiny, ResizedImages(photos.paths, 64), cache=False, progress=False)
    clf = LogisticRegression(C=100.0, max_iter=2000).fit(X, photos.labels)
    head = save_linear_head(tmp_path / "head.safetensors", clf.coef_, clf.intercept_)
    argv = [
        *f"audit --backbone world-tiny --head {head} --images {tmp_path / 'photos'}".split(),
        *f"--bank {tmp_path / 'bank.safetensors'} --examples 1 --quiet".split(),
        *("--out", str(tmp_path / "rep")),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "different sizes" in err and "add --image-size 64 (the backbone's input size)" in err
    assert main([*argv, "--image-size", "32"]) == 2  # a head takes the tower's size only
    assert "with --head, the images must have the backbone's input size: --image-size 64" in (
        capsys.readouterr().err
    )
    assert main([*argv, "--image-size", "64"]) == 0
    report = json.loads((tmp_path / "rep" / "audit.json").read_text())
    assert report["class_names"] == ["cat", "dog", "emu"]


@pytest.mark.parametrize(
    "tail, message",
    [
        ("--world test --image-size 64", "--image-size: applies to --images or --dataset"),
        ("--images {d} --image-size 0", "--image-size: expected a positive int, got 0"),
        (
            "--dataset cub --root {d} --image-size 64 --dataset-option image_size=8",
            "give either --image-size or --dataset-option image_size=..., not both",
        ),
    ],
)
def test_audit_image_size_errors(tmp_path, capsys, tail, message):
    d = str(tmp_path)
    argv = f"audit --backbone world-tiny --head {d}/h.safetensors --out {d}-report --quiet"
    assert main([*argv.split(), *tail.format(d=d).split()]) == 2
    assert message in capsys.readouterr().err
