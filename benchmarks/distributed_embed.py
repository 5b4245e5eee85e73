"""Throughput of ``bottlekit.distributed.embed_dataset`` with 1 and 2 local workers,
against local ``bottlekit.embed`` on the same images in the same run.

A folder of generated PNG images (two classes) is embedded three ways, one after the
other in this process: ``bottlekit.embed`` (no cache, its default DataLoader decoding;
the model already loaded, so only the embedding is timed), then ``embed_dataset`` on a
local Ray instance with one encoder worker, then with two. Every distributed run writes
a fresh output folder, and its time counts from the call to the last shard written:
the driver's model load, Ray Data's start and the encoder actors' start (import torch
and open_clip, load the model) are included; the Ray instance's start (once per
cluster, not per job) is reported on its own. Two rates are reported for each run: the
total (items / wall-clock time of the call: the real ratio) and the steady state (items
encoded after the first shard / time from the first shard to the last: the rate once
the workers are up). The distributed embeddings are checked to be bit-identical to the
local ones.

On one machine the workers share its cores, so two workers cannot beat one on two
cores; what this measures is the overhead of the distributed path (start-up, Ray Data's
scheduling, the object store between the decode tasks and the encoders, the Parquet
writes). The target: one worker at least 0.8 x the local throughput.

Run::

    python benchmarks/distributed_embed.py                  # 20,000 images, world-tiny
    python benchmarks/distributed_embed.py --n 2000 --cpus 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_folder(root: Path, n: int, size: int) -> Path:
    rng = np.random.default_rng(0)
    for c in range(2):
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(arr).save(root / f"class{i % 2}" / f"{i:06d}.png")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="images (default 20,000)")
    parser.add_argument("--size", type=int, default=64, help="side of the images")
    parser.add_argument("--backbone", default="world-tiny")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--shard-size", type=int, default=512)
    parser.add_argument("--cpus", type=int, default=None, help="CPUs of the Ray instance")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="encoder workers of each run"
    )
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()

    import ray

    import bottlekit
    from bottlekit.distributed import embed_dataset, read_embeddings

    tmp = Path(tempfile.mkdtemp(prefix="bk-dist-bench-"))
    try:
        t0 = time.perf_counter()
        folder = make_folder(tmp / "images", args.n, args.size)
        print(f"generated {args.n} images of {args.size} px in {time.perf_counter() - t0:.1f} s")

        bk = bottlekit.load_backbone(args.backbone, device="cpu")
        t0 = time.perf_counter()
        local = bottlekit.embed(bk, folder, cache=False, batch_size=args.batch_size)
        t_local = time.perf_counter() - t0

        t0 = time.perf_counter()
        root = str(Path(bottlekit.__file__).resolve().parent.parent)
        ray.init(
            num_cpus=args.cpus,
            include_dashboard=False,
            log_to_driver=False,
            _node_ip_address="127.0.0.1",
            runtime_env={"env_vars": {"PYTHONPATH": root}},
        )
        t_ray = time.perf_counter() - t0
        rows = [{"run": "local bottlekit.embed", "seconds": t_local, "steady": args.n / t_local}]
        for workers in args.workers:
            out = tmp / f"out{workers}"
            summary = embed_dataset(
                args.backbone,
                folder,
                out,
                shard_size=args.shard_size,
                batch_size=args.batch_size,
                num_workers=workers,
                progress=False,
            )
            same = np.array_equal(read_embeddings(out)["embeddings"], local)
            rows.append(
                {
                    "run": f"embed_dataset, {workers} worker(s)",
                    "seconds": summary.seconds,
                    "first_shard_s": summary.first_shard_s,
                    "steady": summary.steady_items_per_s,
                    "bit_identical": bool(same),
                    "encoders": summary.workers,
                    "decoders": summary.decoders,
                    "timings": summary.timings,
                }
            )
            shutil.rmtree(out)
        ray.shutdown()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n{args.n} images, {args.backbone}, Ray instance started in {t_ray:.1f} s")
    header = f"{'run':<28} {'seconds':>8} {'img/s':>7} {'x local':>7} {'start s':>7}"
    print(f"{header} {'steady img/s':>12} {'x local':>7}  bit-identical")
    local_rate = args.n / t_local
    for r in rows:
        r["items_per_s"] = args.n / r["seconds"]
        r["vs_local"] = t_local / r["seconds"]
        r["steady_vs_local"] = r["steady"] / local_rate
        start = f"{r['first_shard_s']:>7.1f}" if "first_shard_s" in r else f"{'-':>7}"
        print(
            f"{r['run']:<28} {r['seconds']:>8.1f} {r['items_per_s']:>7.1f} "
            f"{r['vs_local']:>7.2f} {start} {r['steady']:>12.1f} {r['steady_vs_local']:>7.2f}  "
            f"{r.get('bit_identical', '-')}"
        )
    print(
        "start s: from the call to the first shard written (driver's model load, Ray Data, "
        "worker imports and model loads); steady: items encoded after the first shard per "
        "second until the last"
    )
    for r in rows[1:]:
        when = ", ".join(f"{k[:-2]} {v:.1f}" for k, v in r["timings"].items())
        print(f"  {r['run']}: seconds from the call: {when}")
        for kind in ("encoders", "decoders"):
            busy = sum(w["seconds"] for w in r[kind].values())
            items = sum(w["items"] for w in r[kind].values())
            print(
                f"  {r['run']}: {len(r[kind])} {kind[:-1]} process(es), {items} items in "
                f"{busy:.1f} s busy ({items / busy if busy else 0:.0f} items/s busy)"
            )
    if args.json:
        Path(args.json).write_text(json.dumps({"n": args.n, "ray_start_s": t_ray, "runs": rows}))


if __name__ == "__main__":
    main()
