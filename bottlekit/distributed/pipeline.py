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

import hashlib
import json
import os
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bottlekit._checks import check_number
from bottlekit.atomic import atomic_write_text
from bottlekit.distributed.arguments import _check_arguments, _check_cbm, _check_head
from bottlekit.distributed.cluster import _resources, _start_ray
from bottlekit.distributed.concept_stats import check_storable
from bottlekit.distributed.decode_stage import _decode_shard
from bottlekit.distributed.encode_stage import _ShardEncoder
from bottlekit.distributed.items import resolve_items
from bottlekit.distributed.job import _bank_digest, _claim_output, _job_fingerprint, _model_digest

# (_resize_and_crop: re-exported, imported from here since before the split)
from bottlekit.distributed.pixel_steps import _pixel_steps
from bottlekit.distributed.pixel_steps import _resize_and_crop as _resize_and_crop
from bottlekit.distributed.spec import BackboneSpec
from bottlekit.distributed.summary import (
    EmbedSummary,
    _start_timings,
    _steady_rate,
    _summarise,
)

__all__ = ["embed_dataset"]

SUMMARY_FILE = "_summary.json"

#: Test hook, not part of the API (and no argument of :func:`embed_dataset`): a callable a
#: test sets here on the driver, read when :func:`embed_dataset` starts and sent to the
#: encoder workers with the run's settings, which call it as ``hook(shard_index,
#: n_encoded)`` after each shard computed in the run is written (a test kills a worker
#: there to check that a resumed run loses and repeats nothing).
_AFTER_SHARD_HOOK: Callable[[int, int], None] | None = None


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
        recomputes only missing or damaged shards; a folder of another job is refused. A
        shard that the file system cannot read is kept and stops the run with an
        ``OSError`` (:func:`~bottlekit.distributed.shards.verify_shard`).
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
        Top-activating items kept per concept (0: none, the moments only). A ``top``
        whose statistics no shard could
        store with this bank (:func:`~bottlekit.distributed.concept_stats.check_storable`)
        is refused before anything is encoded.
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
    top = check_number(top, "top", integer=True, low=0)
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
    if with_stats:  # (refused here, not by the first shard after its items are encoded)
        check_storable(concept_names, class_names, top, shard_size)
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
            "after_shard": _AFTER_SHARD_HOOK,  # (read now: it travels with the settings)
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
