"""The encode stage: an actor with one model encodes decoded shards and writes them.

An item is encoded by the backbone's own code in the batches of a local run
(:meth:`bottlekit.Backbone.iter_encode_images`), scored, and written with its shard's
statistics atomically (:func:`~bottlekit.distributed.shards.write_shard`).
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import numpy as np

from bottlekit.distributed.cluster import _worker_name
from bottlekit.distributed.pixel_steps import _to_model_input
from bottlekit.distributed.shard_scores import _shard_concepts, _shard_predictions
from bottlekit.distributed.shards import shard_path, verify_shard, write_shard


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
        predictions = _shard_predictions(ctx, emb)
        failures = json.loads(row["failures"])
        concepts, stats = _shard_concepts(
            ctx, index, keys, list(row["paths"]), labels, emb, predictions
        )
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
