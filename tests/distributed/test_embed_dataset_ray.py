"""embed_dataset on a local Ray cluster (2 CPUs on 127.0.0.1) started by these tests.

Slow (each run starts encoder actors that import torch and load the model): run with
``pytest -m slow``. Skipped when Ray is not installed (the ``[distributed]`` extra).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

import bottlekit  # noqa: E402
from bottlekit.concepts import ConceptBank  # noqa: E402
from bottlekit.distributed import (  # noqa: E402
    embed_dataset,
    read_embeddings,
    reduce_concept_stats,
)
from bottlekit.images import as_image_source  # noqa: E402

N_PER_CLASS = 96
SHARD, BATCH = 32, 16


@pytest.fixture(scope="module")
def cluster():
    """A private local Ray instance: 2 CPUs, 127.0.0.1, no dashboard; stopped at the end."""
    if ray.is_initialized():  # pragma: no cover - another module left one running
        ray.shutdown()
    # the hooks below are defined here: send them to the workers by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    root = str(Path(bottlekit.__file__).resolve().parent.parent)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
        runtime_env={"env_vars": {"PYTHONPATH": root, "OMP_NUM_THREADS": "1"}},
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """192 generated 64 x 64 images in two classes (different mean colours)."""
    root = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for c, name in enumerate(("cat", "dog")):
        (root / name).mkdir()
        for i in range(N_PER_CLASS):
            base = np.array([200, 60, 60]) if c == 0 else np.array([60, 60, 200])
            arr = np.clip(base + rng.normal(0, 40, (64, 64, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(root / name / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def backbone():
    return bottlekit.load_backbone("world-tiny", device="cpu")


def _bank(backbone) -> ConceptBank:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(3, backbone.embed_dim))
    prov = [{"kind": "text"}, {"kind": "cav"}, {"kind": "text"}]
    return ConceptBank(
        ["a", "b", "c"], vectors, backbone.id, intercepts=[0, 0.5, 0], provenance=prov
    )


def _log_shard(log: str, kill_marker: str | None, index: int, n_encoded: int) -> None:
    """Test hook in the encoder: log each shard encoded; SIGKILL this worker once."""
    with open(log, "a") as fh:
        fh.write(f"{index} {n_encoded}\n")
    if kill_marker and index == 1 and not os.path.exists(kill_marker):
        Path(kill_marker).touch()
        os.kill(os.getpid(), signal.SIGKILL)


def _logged(log: Path) -> list[tuple[int, int]]:
    if not log.exists():
        return []
    return [tuple(map(int, line.split())) for line in log.read_text().splitlines()]


@pytest.mark.slow
def test_bit_identical_to_embed_with_stats_and_cache(cluster, folder, backbone, tmp_path):
    bank = _bank(backbone)
    cache = tmp_path / "cache"
    summary = embed_dataset(
        "world-tiny",
        folder,
        tmp_path / "out",
        bank=bank,
        shard_size=SHARD,
        batch_size=BATCH,
        num_workers=2,
        cache_dir=cache,
        top=5,
        progress=False,
    )
    n = 2 * N_PER_CLASS
    assert (summary.n_written, summary.n_encoded, summary.failures) == (n, n, [])
    assert (
        summary.shards_computed == n // SHARD
        and sum(w["items"] for w in summary.workers.values()) == n
    )
    data = read_embeddings(tmp_path / "out")
    source = as_image_source(folder)
    local = bottlekit.embed(backbone, folder, cache=False, batch_size=BATCH, progress=False)
    np.testing.assert_array_equal(data["embeddings"], local)  # bit-identical
    assert data["embeddings"].dtype == np.float32
    assert data["paths"] == source.paths
    assert data["keys"] == [source.key(i) for i in range(n)]
    np.testing.assert_array_equal(data["labels"], source.labels)

    # concept scores and audit statistics of the same pass
    A = bank.project(local).astype(np.float64)
    np.testing.assert_allclose(data["concepts"], A, atol=1e-6)
    stats = reduce_concept_stats(tmp_path / "out")
    for c in (0, 1):
        sel = data["concepts"].astype(np.float64)[source.labels == c]
        np.testing.assert_allclose(stats.mean[c], sel.mean(axis=0), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(stats.variance[c], sel.var(axis=0), rtol=1e-5, atol=1e-9)
    assert stats.count.tolist() == [N_PER_CLASS, N_PER_CLASS, 0]
    for j in range(3):
        order = np.argsort(-data["concepts"][:, j], kind="stable")[:5]
        assert stats.top_paths[j] == [data["paths"][i] for i in order]

    # the local embed finds every item in the cache the distributed run filled
    def no_encoding(*args, **kwargs):
        raise AssertionError("bottlekit.embed encoded an item the distributed run cached")

    backbone.iter_encode_images, saved = no_encoding, backbone.iter_encode_images
    try:
        cached = bottlekit.embed(backbone, folder, cache_dir=cache, progress=False)
    finally:
        backbone.iter_encode_images = saved
    np.testing.assert_array_equal(cached, local)


@pytest.mark.slow
def test_killed_worker_and_restart_nothing_lost_nothing_twice(
    cluster, folder, backbone, tmp_path, monkeypatch
):
    import bottlekit.distributed.pipeline as pipeline

    out, log, marker = tmp_path / "out", tmp_path / "calls.log", tmp_path / "killed"
    # the encoder workers call it after each shard they write (sent with the run's settings)
    hook = lambda i, k: _log_shard(str(log), str(marker), i, k)  # noqa: E731
    monkeypatch.setattr(pipeline, "_AFTER_SHARD_HOOK", hook)

    def run():
        return embed_dataset(
            "world-tiny",
            folder,
            out,
            shard_size=SHARD,
            batch_size=BATCH,
            num_workers=2,
            progress=False,
        )

    n, n_shards = 2 * N_PER_CLASS, 2 * N_PER_CLASS // SHARD
    summary = run()
    assert marker.exists()  # a worker was killed right after writing shard 1
    calls = _logged(log)
    assert sorted(i for i, _ in calls) == list(range(n_shards))  # each shard encoded once
    assert sum(k for _, k in calls) == n
    assert summary.n_written == n
    first = read_embeddings(out)["embeddings"]

    # a job killed part-way leaves shards missing; one shard is also damaged
    (out / "part-000002.parquet").unlink()
    damaged = out / "part-000004.parquet"
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    log.unlink()
    with pytest.warns(RuntimeWarning, match="damaged shard"):
        again = run()
    assert sorted(i for i, _ in _logged(log)) == [2, 4]  # only those are encoded again
    assert (again.n_encoded, again.shards_computed, again.shards_reused) == (
        2 * SHARD,
        2,
        n_shards - 2,
    )
    assert "part-000004.parquet" in again.damaged[0]
    np.testing.assert_array_equal(read_embeddings(out)["embeddings"], first)

    # the same job run a third time does nothing
    log.unlink()
    assert run().n_encoded == 0 and _logged(log) == []


@pytest.mark.slow
def test_bad_images_in_manifest_are_reported_and_skipped(cluster, folder, backbone, tmp_path):
    good = sorted(str(p) for p in (folder / "cat").glob("*.png"))[:40]
    (tmp_path / "broken.png").write_bytes(b"not an image")
    rows = [*good[:10], str(tmp_path / "broken.png"), *good[10:], str(tmp_path / "gone.png")]
    (tmp_path / "manifest.csv").write_text("path\n" + "\n".join(rows) + "\n")
    cache = tmp_path / "cache"
    local = bottlekit.embed(backbone, good, cache_dir=cache, batch_size=BATCH, progress=False)
    with pytest.warns(RuntimeWarning, match="2 of 42 items could not be read"):
        summary = embed_dataset(
            "world-tiny",
            tmp_path / "manifest.csv",
            tmp_path / "out",
            shard_size=SHARD,
            batch_size=BATCH,
            num_workers=1,
            cache_dir=cache,  # filled by the local run: nothing to encode
            progress=False,
        )
    reasons = {Path(f["path"]).name: f["reason"] for f in summary.failures}
    assert set(reasons) == {"broken.png", "gone.png"}
    assert "cannot read image file" in reasons["broken.png"]
    assert "does not exist" in reasons["gone.png"]
    assert (summary.n_written, summary.n_cached, summary.n_encoded) == (40, 40, 0)
    assert "broken.png" in summary.text()
    saved = json.loads((tmp_path / "out" / "_summary.json").read_text())
    assert len(saved["failures"]) == 2
    data = read_embeddings(tmp_path / "out")
    assert data["paths"] == good
    np.testing.assert_array_equal(data["embeddings"], local)


def test_other_job_in_the_output_folder_is_refused(folder, tmp_path):
    (tmp_path / "_job.json").write_text(json.dumps({"job": "someone else's"}))
    with pytest.raises(ValueError, match="holds the shards of a different job"):
        embed_dataset("world-tiny", folder, tmp_path, progress=False)


def test_shard_size_must_be_a_multiple_of_batch_size(folder, tmp_path):
    with pytest.raises(ValueError, match="shard_size: expected a multiple of batch_size=64"):
        embed_dataset("world-tiny", folder, tmp_path, shard_size=100)


@pytest.mark.slow
def test_audit_ray_command_one_pass_and_small_reduce(cluster, backbone, tmp_path):
    """On the built-in world: a ConceptDataset of in-memory images, through the CLI."""
    from bottlekit.app.cli import main
    from bottlekit.bottleneck import save_linear_head
    from bottlekit.world import make_world

    world = make_world(96, "test", random_state=0)
    n_classes = len(world.class_names)
    rng = np.random.default_rng(5)
    weight, bias = rng.normal(size=(n_classes, backbone.embed_dim)), rng.normal(size=n_classes)
    save_linear_head(tmp_path / "head.safetensors", weight, bias)
    _bank(backbone).save(tmp_path / "bank.safetensors")
    argv = ["audit", "--ray", "--backbone", "world-tiny", "--world", "test", "--n", "96"]
    argv += ["--head", str(tmp_path / "head.safetensors")]
    argv += ["--bank", str(tmp_path / "bank.safetensors"), "--out", str(tmp_path / "audit")]
    argv += ["--shard-size", "64", "--workers", "2", "--quiet"]
    assert main(argv) == 0
    report = json.loads((tmp_path / "audit" / "concept_stats.json").read_text())
    X = bottlekit.embed(backbone, world.image_source, cache=False, progress=False)
    data = read_embeddings(tmp_path / "audit" / "embeddings")
    np.testing.assert_array_equal(data["embeddings"], X)  # in-memory images: bit-identical
    assert data["paths"][:2] == ["array:0", "array:1"]
    y = np.asarray(world.labels)
    pred = np.argmax(X @ weight.T.astype(np.float32) + bias.astype(np.float32), axis=1)
    np.testing.assert_array_equal(data["predictions"], pred)
    assert report["accuracy"] == pytest.approx(float((pred == y).mean()))
    confusion = np.zeros((n_classes, n_classes), int)
    np.add.at(confusion, (y, pred), 1)
    np.testing.assert_array_equal(report["confusion"], confusion)
    A = _bank(backbone).project(X)
    c = int(y[0])
    got = report["concepts"]["b"]["by_class"][world.class_names[c]]
    assert got["n"] == int((y == c).sum())
    assert got["mean"] == pytest.approx(float(A[y == c, 1].mean()), abs=1e-6)
    assert len(report["concepts"]["a"]["top"]) == 6  # --examples (default 6) top items
    assert report["summary"]["n_written"] == 96


@pytest.mark.slow
def test_audit_ray_examples_zero_keeps_no_top_items(cluster, backbone, tmp_path):
    """--examples 0 under --ray, as the local audit's 0 (no example images): the
    statistics keep no top items, the moments are those of the default run's data."""
    from bottlekit.app.cli import main
    from bottlekit.bottleneck import save_linear_head
    from bottlekit.world import make_world

    n_classes = len(make_world(1, "test", random_state=0).class_names)
    weight, bias = np.ones((n_classes, backbone.embed_dim)), np.zeros(n_classes)
    save_linear_head(tmp_path / "head.safetensors", weight, bias)
    _bank(backbone).save(tmp_path / "bank.safetensors")
    argv = ["audit", "--ray", "--backbone", "world-tiny", "--world", "test", "--n", "96"]
    argv += ["--head", str(tmp_path / "head.safetensors")]
    argv += ["--bank", str(tmp_path / "bank.safetensors"), "--out", str(tmp_path / "audit")]
    argv += ["--examples", "0", "--shard-size", "64", "--workers", "2", "--quiet"]
    assert main(argv) == 0
    report = json.loads((tmp_path / "audit" / "concept_stats.json").read_text())
    assert all(report["concepts"][c]["top"] == [] for c in "abc")
    world = make_world(96, "test", random_state=0)
    X = bottlekit.embed(backbone, world.image_source, cache=False, progress=False)
    A, y = _bank(backbone).project(X), np.asarray(world.labels)
    c = int(y[0])
    got = report["concepts"]["a"]["by_class"][world.class_names[c]]
    assert got["n"] == int((y == c).sum())
    assert got["mean"] == pytest.approx(float(A[y == c, 0].mean()), abs=1e-6)


def _fitted_cbm(backbone, y_kind="int"):
    """A PosthocCBM on the test bank, fitted on 120 world training images."""
    from bottlekit.bottleneck import PosthocCBM
    from bottlekit.world import make_world

    train = make_world(120, "train", random_state=1)
    X = bottlekit.embed(backbone, train.image_source, cache=False, progress=False)
    y = np.asarray(train.labels)
    if y_kind == "str":
        y = np.array([train.class_names[c] for c in y])
    return PosthocCBM(_bank(backbone), lam=1e-4, random_state=0).fit(X, y)


def test_cbm_must_be_fitted_on_class_indices_and_not_with_a_head(folder, backbone, tmp_path):
    cbm = _fitted_cbm(backbone, y_kind="str")
    with pytest.raises(ValueError, match="cbm: expected a model fitted on integer class"):
        embed_dataset("world-tiny", folder, tmp_path, cbm=cbm, progress=False)
    head = (np.zeros((2, backbone.embed_dim)), np.zeros(2))
    with pytest.raises(ValueError, match="head, cbm: expected one model"):
        embed_dataset("world-tiny", folder, tmp_path, cbm=cbm, head=head, progress=False)
    with pytest.raises(TypeError, match="cbm: expected a fitted bottlekit concept-bottleneck"):
        embed_dataset("world-tiny", folder, tmp_path, cbm="model.safetensors", progress=False)


@pytest.mark.slow
def test_audit_ray_cbm_matches_the_local_audit(cluster, backbone, tmp_path):
    """``bottlekit audit --ray --cbm``: the model's own concepts, predictions and accuracy
    from one distributed pass equal those of the local audit of the same model."""
    from bottlekit.app.cli import main
    from bottlekit.diagnostics.audit import audit
    from bottlekit.world import make_world

    cbm = _fitted_cbm(backbone)
    cbm.save(tmp_path / "cbm.safetensors")
    argv = ["audit", "--ray", "--backbone", "world-tiny", "--world", "test", "--n", "96"]
    argv += ["--cbm", str(tmp_path / "cbm.safetensors"), "--out", str(tmp_path / "audit")]
    argv += ["--shard-size", "64", "--workers", "2", "--quiet"]
    assert main(argv) == 0
    report = json.loads((tmp_path / "audit" / "concept_stats.json").read_text())
    data = read_embeddings(tmp_path / "audit" / "embeddings")

    world = make_world(96, "test", random_state=0)
    local = audit(
        cbm, world, backbone=backbone, n_examples=0, n_location_images=0, information=False
    )
    X = bottlekit.embed(backbone, world.image_source, cache=False, progress=False)
    y = np.asarray(world.labels)
    np.testing.assert_array_equal(data["embeddings"], X)  # bit-identical embeddings
    pred = cbm.predict(X)
    np.testing.assert_array_equal(data["predictions"], pred)  # the model's predictions
    assert local.fidelity["n_eval"] == 96 and local.fidelity["exact"]  # all items, own concepts
    assert report["accuracy"] == pytest.approx(local.fidelity["model_accuracy"], abs=0)
    assert report["model"]["concept_names"] == local.concept_names == ["a", "b", "c"]
    np.testing.assert_allclose(report["model"]["importance"], local.importance, rtol=1e-12)
    A = cbm.transform(X)  # the model's own concept activations (what its head sees)
    np.testing.assert_allclose(data["concepts"], A, rtol=1e-6, atol=1e-6)
    for c in np.unique(y):
        got = report["concepts"]["b"]["by_class"][world.class_names[c]]
        assert got["n"] == int((y == c).sum())
        assert got["mean"] == pytest.approx(float(A[y == c, 1].mean()), abs=1e-6)
    confusion = np.zeros((len(world.class_names),) * 2, int)
    np.add.at(confusion, (y, pred), 1)
    np.testing.assert_array_equal(report["confusion"], confusion)
