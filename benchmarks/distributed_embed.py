"""Throughput of ``bottlekit.distributed.embed_dataset`` with 1 and 2 local workers,
against local ``bottlekit.embed`` on the same images in the same run.

A folder of generated PNG images (two classes) is embedded three ways, one after the
other in this process: ``bottlekit.embed`` (no cache, its default DataLoader decoding),
then ``embed_dataset`` on a local Ray instance with one encoder worker, then with two.
Every distributed run writes a fresh output folder, and its time counts from the call
to the last shard written: the encoder actors' start (import torch, load the model) is
included, the Ray instance's start (once per cluster) is reported on its own. The
distributed embeddings are checked to be bit-identical to the local ones.

On one machine the workers share its cores, so two workers cannot beat one on two
cores; what this measures is the overhead of the distributed path (Ray Data's
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
        rows = [{"run": "local bottlekit.embed", "seconds": t_local}]
        for workers in (1, 2):
            out = tmp / f"out{workers}"
            summary = embed_dataset(
                args.backbone,
                folder,
                out,
                shard_size=args.shard_size,
                batch_size=args.batch_size,
                num_workers=workers,
            )
            same = np.array_equal(read_embeddings(out)["embeddings"], local)
            rows.append(
                {
                    "run": f"embed_dataset, {workers} worker(s)",
                    "seconds": summary.seconds,
                    "first_shard_s": summary.first_shard_s,
                    "bit_identical": bool(same),
                    "encoder_items_per_s": {
                        k: round(v["items_per_s"], 1) for k, v in summary.workers.items()
                    },
                }
            )
            shutil.rmtree(out)
        ray.shutdown()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n{args.n} images, {args.backbone}, Ray instance started in {t_ray:.1f} s")
    print(f"{'run':<30} {'seconds':>8} {'img/s':>8} {'x local':>8} {'start s':>8}  bit-identical")
    for r in rows:
        r["items_per_s"] = args.n / r["seconds"]
        r["vs_local"] = t_local / r["seconds"]
        start = f"{r['first_shard_s']:>8.1f}" if "first_shard_s" in r else f"{'-':>8}"
        print(
            f"{r['run']:<30} {r['seconds']:>8.1f} {r['items_per_s']:>8.1f} "
            f"{r['vs_local']:>8.2f} {start}  {r.get('bit_identical', '-')}"
        )
    print(
        "start s: from the call to the first shard written (model loads, worker imports); "
        "the rest of the run is the steady state"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"n": args.n, "ray_start_s": t_ray, "runs": rows}))


if __name__ == "__main__":
    main()
