"""``embed_dataset``: embed a dataset on a Ray cluster, resumably, with concept statistics.

The pipeline is Ray Data's: one row per shard of ``shard_size`` items,

1. a CPU task per shard reads and preprocesses its images (or finds the shard already
   written and intact, and passes it on untouched);
2. an actor pool (one model per GPU, or per CPU worker) encodes the shard in batches of
   ``batch_size``, exactly as :meth:`bottlekit.Backbone.iter_encode_images` does, projects
   the embeddings on the concept bank, and writes the Parquet shard and its statistics
   atomically;
3. the driver gathers one small summary row per shard for the progress bar and the
   summary.

Bit-identical to :func:`bottlekit.embed`: an item is preprocessed by the backbone's own
transform and encoded by the backbone's own code in the same batch as a local run over
the same list puts it in (``shard_size`` is a multiple of ``batch_size``, so batches
never straddle shards), on the same kind of device.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bottlekit._arrays import as_real_array
from bottlekit._checks import check_bool, check_number
from bottlekit.atomic import atomic_write_text, check_output_path
from bottlekit.distributed.items import ItemPlan, load_item, resolve_items
from bottlekit.distributed.shards import shard_path, verify_shard, write_shard
from bottlekit.distributed.spec import BackboneSpec
from bottlekit.distributed.summary import EmbedSummary
from bottlekit.safetensors_file import parse_json

__all__ = ["embed_dataset"]

JOB_FILE = "_job.json"
SUMMARY_FILE = "_summary.json"


def _check_head(head: Any) -> tuple[np.ndarray, np.ndarray]:
    try:
        weight, bias = head
    except (TypeError, ValueError):
        raise ValueError(
            f"head: expected a (weight, bias) pair, got {type(head).__name__}"
        ) from None
    weight = np.ascontiguousarray(as_real_array(weight, "head weight", dtype=np.float32))
    bias = np.ascontiguousarray(as_real_array(bias, "head bias", dtype=np.float32))
    if weight.ndim != 2 or bias.shape != (weight.shape[0],):
        raise ValueError(
            f"head: expected weight (C, d) and bias (C,), got {weight.shape} and {bias.shape}"
        )
    for name, arr in (("weight", weight), ("bias", bias)):
        if not np.isfinite(arr).all():
            raise ValueError(
                f"head: {name} holds NaN or infinity (every prediction would be class 0); "
                "expected finite numbers"
            )
    return weight, bias


def _check_arguments(args: dict[str, Any]) -> None:
    """The plain arguments of :func:`embed_dataset`, each by name, before any work."""
    for name in ("num_workers", "num_cpus"):
        if args[name] is not None:
            check_number(args[name], name, integer=True, low=1)
    for name in ("device", "address"):
        if args[name] is not None and not isinstance(args[name], str):
            raise TypeError(f"{name}: expected a str or None, got {args[name]!r}"[:300])
    for name in ("path_column", "label_column"):
        if not isinstance(args[name], str):
            raise TypeError(f"{name}: expected a column name (str), got {args[name]!r}"[:300])
    cache_dir = args["cache_dir"]
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir: expected a folder path or None, got {cache_dir!r}"[:300])
    check_bool(args["progress"], "progress")
    if not isinstance(args["out"], (str, os.PathLike)):
        raise TypeError(f"out: expected an output folder path, got {args['out']!r}"[:300])
    check_output_path(args["out"], "out", is_dir=True)


def _check_cbm(cbm: Any, backbone: Any) -> None:
    """A fitted bottlekit concept-bottleneck model on this backbone, with integer classes."""
    from bottlekit.bottleneck import BaseConceptBottleneck

    if not isinstance(cbm, BaseConceptBottleneck):
        raise TypeError(
            "cbm: expected a fitted bottlekit concept-bottleneck model (BaseConceptBottleneck"
            f".load(path)), got {type(cbm).__name__}"
        )
    if not hasattr(cbm, "coef_"):
        raise ValueError("cbm: the concept-bottleneck model is not fitted")
    if int(cbm.n_features_in_) != int(backbone.embed_dim):
        raise ValueError(
            f"cbm: the model expects {cbm.n_features_in_}-dimensional embeddings; the "
            f"backbone's have {backbone.embed_dim}"
        )
    if np.asarray(cbm.classes_).dtype.kind not in "iu":
        raise ValueError(
            "cbm: expected a model fitted on integer class indices (the labels of the "
            f"items), got classes {np.asarray(cbm.classes_).tolist()[:5]}"
        )
    concepts = getattr(cbm, "concepts", None)
    if callable(getattr(concepts, "check_backbone", None)):
        concepts.check_backbone(backbone)


def _model_digest(cbm: Any) -> str | None:
    """SHA-256 of a fitted model's class, hyper-parameters and learned attributes."""
    if cbm is None:
        return None
    h = hashlib.sha256(type(cbm).__name__.encode())
    params = {k: repr(v) for k, v in cbm.get_params(deep=False).items() if k != "concepts"}
    h.update(json.dumps(params, sort_keys=True).encode())
    for key in sorted(vars(cbm)):
        if not key.endswith("_") or key.startswith("_"):
            continue
        value = getattr(cbm, key)
        h.update(key.encode())
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            h.update(str(value.dtype).encode() + str(value.shape).encode())
            h.update(np.ascontiguousarray(value).data)
        else:
            h.update(repr(value).encode())
    return h.hexdigest()


def _bank_digest(bank: Any) -> str | None:
    if bank is None:
        return None
    h = hashlib.sha256(json.dumps([bank.names, bank.kinds, bank.backbone_id]).encode())
    h.update(np.ascontiguousarray(bank.vectors).data)
    h.update(np.ascontiguousarray(bank.intercepts).data)
    return h.hexdigest()


def _job_fingerprint(plan: ItemPlan, backbone_id: str, settings: dict[str, Any]) -> str:
    h = hashlib.sha256(json.dumps({"backbone_id": backbone_id, **settings}).encode())
    h.update(json.dumps(plan.paths).encode())
    if plan.labels is not None:
        h.update(np.ascontiguousarray(plan.labels).data)
    return h.hexdigest()[:32]


def _claim_output(out: Path, job: str, description: dict[str, Any]) -> None:
    """Create ``out`` for ``job``, or check that it already belongs to the same job.

    Temporary files left by writers killed mid-write are removed once they are older
    than :data:`bottlekit.cache.STALE_TMP_AGE` (a live writer renames its file at once).
    """
    from bottlekit.cache import STALE_TMP_AGE

    out.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for tmp in out.glob(".part-*.tmp"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > STALE_TMP_AGE:
                tmp.unlink()
    path = out / JOB_FILE
    if path.exists():
        try:
            found = parse_json(path.read_bytes())  # another run's file: any bytes
        except (OSError, ValueError):
            found = None
        found = found.get("job") if isinstance(found, dict) else None
        if found != job:
            raise ValueError(
                f"out: {str(out)!r} holds the shards of a different job (other source, "
                "backbone, bank or shard settings); use a new folder or remove it"
            )
        return
    atomic_write_text(path, json.dumps({"job": job, **description}, indent=1))


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


_EVAL_STEPS = ["Resize", "CenterCrop", "MaybeConvertMode", "MaybeToTensor", "Normalize"]


def _pixel_steps(preprocess: Any) -> dict[str, Any] | None:
    """The PIL part of open_clip's evaluation transform as plain numbers, or None.

    When the transform is resize (shorter side) + centre crop + mode conversion +
    to-tensor + normalise, the decode tasks send the cropped uint8 pixels, a quarter of
    the float32 bytes, and the encoder finishes the transform with the same elementwise
    operations (see ``bottlekit._preprocessing.normalised_array_batches``), so the floats are
    the same. The resize and crop are given as numbers (:func:`_resize_and_crop` does
    them with PIL as torchvision does for PIL images), so the decode tasks import neither
    torch nor torchvision nor open_clip: a decode worker starts in about a second, not
    the ten or more it takes to import torch on a busy machine.
    """
    from torchvision import transforms as T
    from torchvision.transforms.functional import pil_modes_mapping

    if not isinstance(preprocess, T.Compose):
        return None
    steps = preprocess.transforms
    if [type(t).__name__ for t in steps] != _EVAL_STEPS:
        return None
    resize, crop = steps[0], steps[1]
    size = resize.size
    if isinstance(size, (list, tuple)):
        if len(size) != 1:
            return None
        size = size[0]
    crop_h, crop_w = crop.size if len(crop.size) == 2 else (crop.size[0], crop.size[0])
    if resize.max_size is not None or not (0 < crop_h <= size and 0 < crop_w <= size):
        return None  # (other cases: torchvision's own transform in the decode tasks)
    return {
        "resize": int(size),
        "resample": int(pil_modes_mapping[resize.interpolation]),
        "crop": (int(crop_h), int(crop_w)),
        "mode": str(getattr(steps[2], "mode", "RGB")),
    }


def _resize_and_crop(img: Any, steps: dict[str, Any]) -> Any:
    """torchvision's ``Resize(size)`` + ``CenterCrop`` of a PIL image, with PIL only.

    The same arithmetic as ``torchvision.transforms.functional`` for PIL images: the
    shorter side to ``size``, the longer to ``int(size * long / short)``, PIL's resize
    with the transform's filter (no resize when the size is unchanged), then the crop box
    at ``round((side - crop) / 2)``.
    """
    w, h = img.size
    size = steps["resize"]
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_h, new_w) != (h, w):
        img = img.resize((new_w, new_h), steps["resample"])
    crop_h, crop_w = steps["crop"]
    top = round((new_h - crop_h) / 2.0)
    left = round((new_w - crop_w) / 2.0)
    return img.crop((left, top, left + crop_w, top + crop_h))


def _to_model_input(row: dict[str, Any], preprocess: Any) -> np.ndarray:
    """The float32 (m, 3, S, S) model input of a decoded row (uint8 pixels or floats)."""
    import torch

    from bottlekit._preprocessing import normalised_array_batches

    shape = [int(v) for v in row["shape"]]
    if row["dtype"] != "uint8":
        return np.frombuffer(row["x"], np.float32).reshape(shape)
    pixels = np.frombuffer(row["x"], np.uint8).reshape(shape)
    if len(pixels) == 0:
        return np.zeros((0,), np.float32)
    normalize = preprocess.transforms[-1]
    mean = torch.as_tensor(normalize.mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.as_tensor(normalize.std, dtype=torch.float32).view(-1, 1, 1)
    return next(normalised_array_batches(pixels, len(pixels), mean, std)).numpy()


def _decode_shard(row: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    """CPU task: read and preprocess one shard's images (or find the shard done).

    With ``pixel_steps`` (open_clip's evaluation transform) it imports no torch.
    """
    from PIL import Image

    index = int(row["shard"])
    base = {
        "shard": index,
        "x": b"",
        "shape": [0],
        "dtype": "float32",
        "cached": b"",
        "failures": "[]",
        "damaged": "",
        "decode_s": 0.0,
        "decode_wall": time.time(),
        "decoder": _worker_name(),
    }
    problems: list[str] = []
    if verify_shard(
        ctx["out"], index, ctx["job"], with_stats=ctx["with_stats"], problems=problems
    ):
        return {**base, "status": "done", "paths": [], "keys": [], "labels": [], "hit": []}
    base["damaged"] = "; ".join(problems)
    base["decode_wall"] = time.time()
    t0 = time.perf_counter()
    memory = None
    if ctx["memory"] is not None:
        import ray

        memory = ray.get(ctx["memory"]).subset(range(row["start"], row["stop"]))
    preprocess = ctx["preprocess"]
    pixel_steps = ctx["pixel_steps"]
    paths, keys, labels, tensors, failures = [], [], [], [], []
    for j, path in enumerate(row["paths"]):
        try:
            img, key = load_item(path, memory, j)
            if pixel_steps is not None and isinstance(img, Image.Image):
                img = _resize_and_crop(img, pixel_steps).convert(pixel_steps["mode"])
                x = np.asarray(img, dtype=np.uint8)
            else:
                import torch

                x = img if isinstance(img, torch.Tensor) else preprocess(img)
        except Exception as exc:  # every unreadable item is reported, with its reason
            failures.append({"path": path, "reason": f"{type(exc).__name__}: {exc}"})
            continue
        paths.append(path)
        keys.append(key)
        labels.append(int(row["labels"][j]))
        tensors.append(x)
    hit = [False] * len(keys)
    cached = np.zeros((0, 0), np.float32)
    if ctx["cache_dir"] is not None and keys:
        from bottlekit.cache import EmbeddingCache

        found = EmbeddingCache(ctx["cache_dir"]).lookup(ctx["backbone_id"], keys)
        hit = [k in found for k in keys]
        if found:
            cached = np.stack([found[k] for k in keys if k in found]).astype(np.float32)
    todo = [t for t, h in zip(tensors, hit, strict=True) if not h]
    if pixel_steps is not None:
        x = np.stack(todo) if todo else np.zeros((0,), np.uint8)
    elif todo:
        import torch

        x = torch.stack(todo).to(torch.float32).numpy()
    else:
        x = np.zeros((0,), np.float32)
    return {
        **base,
        "status": "todo",
        "paths": paths,
        "keys": keys,
        "labels": labels,
        "hit": hit,
        "x": x.tobytes(),
        "shape": list(x.shape),
        "dtype": str(x.dtype),
        "cached": cached.tobytes(),
        "failures": json.dumps(failures),
        "decode_s": time.perf_counter() - t0,
    }


class _ShardEncoder:
    """Actor: one model; encodes decoded shards and writes them."""

    def __init__(self, ctx: dict[str, Any]) -> None:
        self.init_wall = time.time()  # (wall clock: compared with the driver's)
        import torch

        self.ctx = ctx
        torch.set_num_threads(ctx["threads"])
        self.backbone = ctx["spec"].load(ctx["device"])
        if self.backbone.id != ctx["backbone_id"]:
            raise RuntimeError(
                f"this worker loaded {self.backbone.id!r}, the driver {ctx['backbone_id']!r}: "
                "the workers must see the same weights"
            )
        self.name = _worker_name()
        self.ready_wall = time.time()

    def _encode(self, x: np.ndarray) -> np.ndarray:
        import torch

        from bottlekit.devices import as_tensor
        from bottlekit.images import ImageSource

        if len(x) == 0:
            return np.zeros((0, self.backbone.embed_dim), np.float32)
        tensors = torch.utils.data.TensorDataset(as_tensor(x))  # x: read-only (frombuffer)
        parts = [
            feats
            for _, feats in self.backbone.iter_encode_images(
                ImageSource("dataset", tensors), batch_size=self.ctx["batch_size"], num_workers=0
            )
        ]
        return np.concatenate(parts)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        rows = [{k: batch[k][i] for k in batch} for i in range(len(batch["shard"]))]
        out = [self._one(r) for r in rows]
        return {k: [o[k] for o in out] for k in out[0]}

    def _one(self, row: dict[str, Any]) -> dict[str, Any]:
        ctx = self.ctx
        index = int(row["shard"])
        result = {
            "shard": index,
            "worker": self.name,
            "init_wall": self.init_wall,
            "ready_wall": self.ready_wall,
            "encoded": 0,
            "encode_s": 0.0,
            "damaged": str(row["damaged"]),
            "decode_s": float(row["decode_s"]),
            "decode_wall": float(row["decode_wall"]),
            "decoder": str(row["decoder"]),
        }
        meta = None
        if row["status"] == "done" or shard_path(ctx["out"], index).exists():
            # "done" when decoded; on a retry after this actor was killed, maybe written
            meta = verify_shard(ctx["out"], index, ctx["job"], with_stats=ctx["with_stats"])
        if meta is not None or row["status"] == "done":
            lost = [{"path": f"shard {index}", "reason": "removed during the run; run again"}]
            return {
                **result,
                "status": "reused",
                "n": int(meta["n"]) if meta else 0,
                "cached": 0,
                "failures": json.dumps(meta.get("failures", []) if meta else lost),
            }
        t0 = time.perf_counter()
        keys = list(row["keys"])
        hit = [bool(h) for h in row["hit"]]
        x = _to_model_input(row, self.backbone.preprocess)
        fresh = self._encode(x) if len(x) else np.zeros((0, self.backbone.embed_dim), np.float32)
        d = self.backbone.embed_dim
        cached = np.frombuffer(row["cached"], np.float32).reshape(-1, d)
        emb = np.zeros((len(keys), d), np.float32)
        hit_idx = np.flatnonzero(hit)
        emb[hit_idx] = cached
        emb[np.setdiff1d(np.arange(len(keys)), hit_idx)] = fresh
        labels = [int(v) for v in row["labels"]]
        predictions = None
        cbm = ctx["cbm"]
        if ctx["head"] is not None:
            weight, bias = ctx["head"]
            predictions = np.argmax(emb @ weight.T + bias, axis=1).astype(np.int64)
        elif cbm is not None:  # the model's own prediction, as in a local audit
            predictions = cbm.predict(emb).astype(np.int64) if len(keys) else np.zeros(0, np.int64)
        failures = json.loads(row["failures"])
        concepts, stats = None, None
        if ctx["with_stats"]:
            from bottlekit.distributed.concept_stats import ConceptStats
            from bottlekit.distributed.shards import _checksum

            k = len(ctx["concept_names"])
            if not len(keys):
                concepts = np.zeros((0, k))
            elif ctx["bank"] is not None:
                concepts = ctx["bank"].project(emb)
            else:  # the CBM's own concept activations (what its head sees)
                concepts = cbm.transform(emb)
            concepts = np.asarray(concepts, np.float32)
            st = ConceptStats.from_scores(
                concepts,
                np.asarray(labels, np.int64),
                list(row["paths"]),
                ctx["concept_names"],
                ctx["class_names"],
                top=ctx["top"],
            )
            digest = _checksum(keys, emb, concepts, predictions)
            stats = st.to_bytes({"sha256": digest, "shard": index})
        meta = {
            "job": ctx["job"],
            "run": ctx["run"],
            "backbone_id": ctx["backbone_id"],
            "worker": self.name,
            "failures": failures,
        }
        write_shard(
            ctx["out"],
            index,
            paths=list(row["paths"]),
            keys=keys,
            labels=[None if v < 0 else v for v in labels],
            embeddings=emb,
            concepts=concepts,
            meta=meta,
            stats=stats,
            predictions=predictions,
        )
        if ctx["cache_dir"] is not None and len(fresh):
            from bottlekit.cache import EmbeddingCache

            fresh_keys = [k for k, h in zip(keys, hit, strict=True) if not h]
            with contextlib.suppress(OSError):  # an unwritable cache never fails the job
                EmbeddingCache(ctx["cache_dir"]).store(ctx["backbone_id"], fresh_keys, fresh)
        seconds = time.perf_counter() - t0
        if ctx["after_shard"] is not None:
            ctx["after_shard"](index, len(fresh))
        return {
            **result,
            "status": "computed",
            "n": len(keys),
            "encoded": len(fresh),
            "cached": len(hit_idx),
            "failures": json.dumps(failures),
            "encode_s": seconds,
        }


def _start_ray(address: str | None, num_cpus: int | None) -> bool:
    """Connect to ``address`` or start a local instance; True when started here."""
    import ray

    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
        return False
    import bottlekit

    # workers import the same bottlekit as this process (an editable or source checkout)
    root = str(Path(bottlekit.__file__).resolve().parent.parent)
    pythonpath = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    ray.init(
        num_cpus=num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
        runtime_env={"env_vars": {"PYTHONPATH": pythonpath}},
    )
    return True


def _smallest_node_cpus(default: float) -> int:
    """The CPUs of the cluster's smallest live node."""
    import ray

    counts = [
        node.get("Resources", {}).get("CPU", 0)
        for node in ray.nodes()
        if node.get("Alive") and node.get("Resources", {}).get("CPU", 0) > 0
    ]
    return int(min(counts)) if counts else int(default)


def _resources(device: str | None, num_workers: int | None) -> dict[str, Any]:
    """Actor pool size and the resources of each actor and of each decode task."""
    import ray

    total = ray.cluster_resources()
    gpus, cpus = int(total.get("GPU", 0)), float(total.get("CPU", 1))
    if device is not None and str(device).startswith("cuda") and gpus == 0:
        raise ValueError(f"device: {device!r} requested but the Ray cluster has no GPUs")
    use_gpu = gpus > 0 and (device is None or str(device).startswith("cuda"))
    if use_gpu:
        workers = num_workers or gpus
        return {
            "workers": workers,
            "actor": {"num_gpus": 1, "num_cpus": 1},
            "decode_cpus": 1.0,
            "device": "cuda",
            "threads": 1,
        }
    workers = num_workers or max(1, int(cpus) - 1)
    # leave half a CPU for the decode tasks, or Ray Data would wait for CPUs forever
    actor_cpus = min(1.0, max(0.01, (cpus - 0.5) / workers))
    return {
        "workers": workers,
        "actor": {"num_cpus": actor_cpus},
        "decode_cpus": 0.5,
        "device": device or "cpu",
        # the cores shared out among the encoders (at most one node's), as bottlekit.embed
        # uses all of them for its forward passes while its DataLoader workers decode
        "threads": max(1, min(int(cpus // workers), _smallest_node_cpus(cpus))),
    }


def embed_dataset(
    backbone_spec: Any,
    source: Any,
    out: str | os.PathLike,
    *,
    bank: Any = None,
    head: tuple[Any, Any] | None = None,
    cbm: Any = None,
    shard_size: int = 512,
    batch_size: int = 64,
    num_workers: int | None = None,
    device: str | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    top: int = 10,
    path_column: str = "path",
    label_column: str = "label",
    progress: bool = True,
    _after_shard: Callable[[int, int], None] | None = None,
) -> EmbedSummary:
    """Embed a dataset on Ray into Parquet shards, with concept scores and audit statistics.

    Parameters
    ----------
    backbone_spec : str, (name, pretrained) or BackboneSpec
        The backbone every encoder loads (:class:`BackboneSpec`).
    source : folder, manifest, tar shards, ConceptDataset or images
        See :func:`bottlekit.distributed.resolve_items`.
    out : str or PathLike
        Output folder: ``part-*.parquet`` shards, ``part-*.stats.safetensors`` with a
        bank, ``_job.json`` and ``_summary.json``. Running again with the same arguments
        recomputes only missing or damaged shards; a folder of another job is refused.
    bank : ConceptBank, optional
        Concepts to score: each shard also gets a ``concepts`` column
        (:meth:`~bottlekit.concepts.ConceptBank.project`) and per-class statistics
        (:class:`~bottlekit.distributed.ConceptStats`; merge them with
        :func:`~bottlekit.distributed.reduce_concept_stats`).
    head : (weight, bias), optional
        A linear classifier on the L2-normalised embeddings (``weight`` (C, d), ``bias``
        (C,), as :func:`bottlekit.bottleneck.save_linear_head` writes them): each
        shard also gets its predicted class in a ``prediction`` column.
    cbm : fitted BaseConceptBottleneck, optional
        A bottlekit concept-bottleneck model on the backbone's embeddings (fitted on
        integer class indices; not with ``head``): each shard gets the model's predicted
        class in a ``prediction`` column and, without ``bank``, the model's own concept
        activations (:meth:`~bottlekit.bottleneck.BaseConceptBottleneck.transform`) in
        the ``concepts`` column, with their statistics, as a local
        :func:`bottlekit.diagnostics.audit` of the model on its own concepts uses them.
    shard_size : int, default 512
        Items per shard; a multiple of ``batch_size``.
    batch_size : int, default 64
        Images per forward pass (as in :func:`bottlekit.embed`; same value, same bits).
    num_workers : int, optional
        Encoder actors. Default: one per GPU of the cluster, else one per CPU but one.
    device : str, optional
        ``"cpu"`` to encode on CPUs even on a GPU cluster; default: GPUs when the
        cluster has some.
    address : str, optional
        A Ray cluster (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``). Default: the
        Ray instance already initialised in this process, else a new local one
        (127.0.0.1, stopped at the end).
    num_cpus : int, optional
        CPUs of a local instance started here.
    cache_dir : str or PathLike, optional
        An embedding cache (:class:`bottlekit.EmbeddingCache`) that all workers can
        reach: items found there are not encoded, and new embeddings are stored there,
        so local :func:`bottlekit.embed` runs find them. Default: not used.
    top : int, default 10
        Top-activating items kept per concept.
    path_column, label_column : str
        Columns of a manifest.
    progress : bool, default True
        A progress bar over items.

    Returns
    -------
    EmbedSummary
        Items, failures with their reasons, per-worker throughput; also written to
        ``<out>/_summary.json``. Failed items are reported with a ``RuntimeWarning``.

    Examples
    --------
    >>> from bottlekit.distributed import embed_dataset  # doctest: +SKIP
    >>> summary = embed_dataset("world-tiny", "photos/", "emb/")  # doctest: +SKIP
    >>> print(summary.text())  # doctest: +SKIP
    """
    spec = BackboneSpec.coerce(backbone_spec)
    shard_size = check_number(shard_size, "shard_size", integer=True, low=1)
    batch_size = check_number(batch_size, "batch_size", integer=True, low=1)
    top = check_number(top, "top", integer=True, low=1)
    _check_arguments(locals())
    if head is not None and cbm is not None:
        raise ValueError("head, cbm: expected one model to predict with, got both")
    head_arrays = None if head is None else _check_head(head)
    if shard_size % batch_size:
        raise ValueError(
            f"shard_size: expected a multiple of batch_size={batch_size} (so batches are "
            f"those of a local run), got {shard_size}"
        )
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ImportError(
            'embed_dataset needs Ray Data: pip install "bottlekit[distributed]"'
        ) from exc
    t_start, wall_start = time.perf_counter(), time.time()
    plan = resolve_items(source, path_column=path_column, label_column=label_column)
    backbone = spec.load("cpu")
    if bank is not None:
        bank.check_backbone(backbone)
    if cbm is not None:
        _check_cbm(cbm, backbone)
    with_stats = bank is not None or cbm is not None
    if bank is not None:
        concept_names = list(bank.names)
    else:
        concept_names = [] if cbm is None else [str(c) for c in cbm.concept_names_]
    if head_arrays is not None and head_arrays[0].shape[1] != backbone.embed_dim:
        raise ValueError(
            f"head: weight has {head_arrays[0].shape[1]} columns; the backbone's embeddings "
            f"have {backbone.embed_dim}"
        )
    class_names = list(plan.class_names)
    if plan.labels is not None and not class_names and (plan.labels >= 0).any():
        class_names = [str(c) for c in range(int(plan.labels.max()) + 1)]
    settings = {
        "shard_size": shard_size,
        "batch_size": batch_size,
        "bank": _bank_digest(bank),
        "head": None
        if head_arrays is None
        else hashlib.sha256(b"".join(a.tobytes() for a in head_arrays)).hexdigest(),
        "top": top,
        "class_names": class_names,
    }
    if cbm is not None:  # (absent otherwise: earlier jobs' folders keep their fingerprint)
        settings["cbm"] = _model_digest(cbm)
    job = _job_fingerprint(plan, backbone.id, settings)
    n = len(plan)
    if n == 0:  # (before the folder is claimed for a job of nothing)
        raise ValueError(f"source: {source!r} holds no items"[:300])
    out = Path(out)
    _claim_output(out, job, {"backbone": spec.name, "pretrained": spec.pretrained, **settings})
    n_shards = -(-n // shard_size)
    labels = plan.labels if plan.labels is not None else np.full(n, -1, np.int64)

    started = _start_ray(address, num_cpus)
    try:
        res = _resources(device, num_workers)
        ctx = {
            "out": str(out),
            "job": job,
            "run": uuid.uuid4().hex,
            "spec": spec,
            "device": res["device"],
            "threads": res["threads"],
            "batch_size": batch_size,
            "backbone_id": backbone.id,
            "bank": bank,
            "class_names": class_names,
            "top": top,
            "cache_dir": None if cache_dir is None else str(cache_dir),
            "memory": None if plan.memory is None else ray.put(plan.memory),
            "after_shard": _after_shard,
            "head": head_arrays,
            "cbm": cbm,
            "with_stats": with_stats,
            "concept_names": concept_names,
        }
        rows = [
            {
                "shard": i,
                "start": i * shard_size,
                "stop": min(n, (i + 1) * shard_size),
                "paths": plan.paths[i * shard_size : (i + 1) * shard_size],
                "labels": labels[i * shard_size : (i + 1) * shard_size].tolist(),
            }
            for i in range(n_shards)
        ]
        data_ctx = ray.data.DataContext.get_current()
        data_ctx.enable_progress_bars = False
        # the decode tasks get only what they need (no model, no bank, no open_clip
        # objects where the transform allows: see _pixel_steps)
        pixel_steps = None
        if plan.memory is None or plan.memory.kind != "dataset":  # no tensors among items
            pixel_steps = _pixel_steps(backbone.preprocess)
        decode_ctx = {
            key: ctx[key] for key in ("out", "job", "backbone_id", "cache_dir", "memory")
        }
        decode_ctx.update(
            with_stats=with_stats,
            pixel_steps=pixel_steps,
            preprocess=backbone.preprocess if pixel_steps is None else None,
        )
        ds = (
            ray.data.from_items(rows, override_num_blocks=max(1, n_shards))
            .map(_decode_shard, fn_kwargs={"ctx": decode_ctx}, num_cpus=res["decode_cpus"])
            .map_batches(
                _ShardEncoder,
                fn_constructor_kwargs={"ctx": ctx},
                batch_size=1,
                compute=ray.data.ActorPoolStrategy(size=res["workers"]),
                **res["actor"],
            )
        )
        prepare_s = time.perf_counter() - t_start
        results, first_s = _gather(ds, n, progress, spec.name, t_start)
    finally:
        if started:
            ray.shutdown()
    summary = _summarise(results, out, n, n_shards, time.perf_counter() - t_start)
    summary.first_shard_s = first_s
    summary.steady_items_per_s = _steady_rate(results)
    summary.timings = _start_timings(results, prepare_s, first_s, wall_start)
    atomic_write_text(out / SUMMARY_FILE, summary.to_json())
    if summary.damaged:
        warnings.warn(
            f"embed_dataset: {len(summary.damaged)} damaged shard(s) found and redone: "
            + "; ".join(summary.damaged[:3]),
            RuntimeWarning,
            stacklevel=2,
        )
    if summary.failures:
        first = "; ".join(f"{f['path']}: {f['reason']}" for f in summary.failures[:3])
        warnings.warn(
            f"embed_dataset: {len(summary.failures)} of {n} items could not be read and are "
            f"not in the shards (listed in {out / SUMMARY_FILE}); first: {first}",
            RuntimeWarning,
            stacklevel=2,
        )
    return summary


def _gather(
    ds: Any, n: int, progress: bool, desc: str, t_start: float
) -> tuple[list[dict[str, Any]], float]:
    """The summary rows of all shards, and the time from the call to the first one."""
    from tqdm.auto import tqdm

    results = []
    with tqdm(total=n, disable=not progress, unit="img", desc=desc) as bar:
        for row in ds.iter_rows():
            results.append({**row, "done_s": time.perf_counter() - t_start})
            bar.update(int(row["n"]) + len(json.loads(row["failures"])))
    first_s = results[0]["done_s"] if results else 0.0
    return results, first_s


def _start_timings(
    results: list[dict[str, Any]], prepare_s: float, first_s: float, wall_start: float
) -> dict[str, float]:
    """Where the time to the first shard went (seconds from the call; wall clocks)."""
    timings = {"prepare_s": prepare_s, "first_shard_s": first_s}
    decoded = [float(r["decode_wall"]) for r in results if r["status"] == "computed"]
    if decoded:
        timings["first_decode_s"] = min(decoded) - wall_start
    inits = {str(r["worker"]): (r["init_wall"], r["ready_wall"]) for r in results}
    if inits:
        timings["encoder_init_s"] = min(a for a, _ in inits.values()) - wall_start
        timings["encoders_ready_s"] = max(b for _, b in inits.values()) - wall_start
    return timings


def _steady_rate(results: list[dict[str, Any]]) -> float:
    """Items encoded per second between the first shard done and the last."""
    if len(results) < 2:
        return 0.0
    span = results[-1]["done_s"] - results[0]["done_s"]
    items = sum(int(r["encoded"]) for r in results[1:])
    return items / span if span > 0 else 0.0


def _summarise(
    results: list[dict[str, Any]], out: Path, n: int, n_shards: int, seconds: float
) -> EmbedSummary:
    results = sorted(results, key=lambda r: int(r["shard"]))
    failures = [f for r in results for f in json.loads(r["failures"])]
    workers: dict[str, dict[str, float]] = {}
    for r in results:
        if r["status"] != "computed":
            continue
        w = workers.setdefault(str(r["worker"]), {"items": 0, "seconds": 0.0})
        w["items"] += int(r["encoded"])
        w["seconds"] += float(r["encode_s"])
    decoders: dict[str, dict[str, float]] = {}
    for r in results:
        if r["status"] != "computed":
            continue
        w = decoders.setdefault(str(r["decoder"]), {"items": 0, "seconds": 0.0})
        w["items"] += int(r["n"]) + len(json.loads(r["failures"]))
        w["seconds"] += float(r["decode_s"])
    for w in [*workers.values(), *decoders.values()]:
        w["items_per_s"] = w["items"] / w["seconds"] if w["seconds"] > 0 else 0.0
    return EmbedSummary(
        out=str(out),
        n_items=n,
        n_written=sum(int(r["n"]) for r in results),
        n_encoded=sum(int(r["encoded"]) for r in results),
        n_cached=sum(int(r["cached"]) for r in results),
        shards_total=n_shards,
        shards_computed=sum(r["status"] == "computed" for r in results),
        shards_reused=sum(r["status"] == "reused" for r in results),
        failures=failures,
        damaged=[str(r["damaged"]) for r in results if r["damaged"]],
        workers=workers,
        decoders=decoders,
        seconds=seconds,
    )
