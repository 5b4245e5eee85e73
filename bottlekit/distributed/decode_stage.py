"""The decode stage: a CPU task per shard reads and preprocesses its items.

A shard already written and intact is passed on untouched; otherwise each item is read
(:func:`~bottlekit.distributed.item_reading.load_item`), preprocessed and looked up in the
embedding cache, and every unreadable item is reported with its reason.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from bottlekit.distributed.cluster import _worker_name
from bottlekit.distributed.item_reading import load_item
from bottlekit.distributed.pixel_steps import _resize_and_crop
from bottlekit.distributed.shards import verify_shard


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
