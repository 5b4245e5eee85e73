"""Embedding a folder of JPEGs: ``bottlekit.embed`` against reading + decoding alone.

Generates a class-per-subfolder folder of ``--n`` 224x224 JPEGs (default 20,000), reads it
with :func:`bottlekit.datasets.load_imagefolder` (paths only, nothing decoded up front)
and measures, each in its own process so that peak memory is its own:

* **decode**: every file read and decoded to RGB (PIL), with the same number of
  DataLoader workers as the pipeline uses, nothing else: the decode-bound rate;
* **pipeline**: ``bottlekit.embed(backbone, dataset.image_source)``, cold cache: decode,
  preprocessing, the model, the cache keys and shards;
* **model alone**: ``encode_image`` on already preprocessed batches of random pixels (the
  model-bound rate, with the intra-op threads the pipeline gives the model);
* **pipeline at n/4**: the same on a quarter of the images, to show that peak memory
  does not grow with n (images are streamed, only the embeddings are kept);
* **pipeline, model_threads="auto"**: the model gets the cores the decoding workers leave,
  ``max(1, cpus - workers)`` intra-op threads, instead of torch's one per core;
* **the same + jpeg_draft=True**: the opt-in reduced-scale JPEG decoding (other pixels,
  slightly other embeddings; see ``Backbone.encode_images``).

"model alone" runs with the threads ``model_threads="auto"`` gives.

Decode, model, pipeline and draft run side by side in ``--repeats`` rounds; each ratio is
taken within a round and the median over rounds is reported (the load of a shared machine
changes between minutes, not within a round).

Target: pipeline >= 0.8 x the decode-bound rate. Run::

    python benchmarks/dataset_throughput.py --n 2000 --repeats 3   # world-tiny
    python benchmarks/dataset_throughput.py --n 2000 --config tests/configs/test-tiny-vit.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def generate(folder: Path, n: int, size: int = 224, classes: int = 10) -> None:
    """``n`` JPEGs of smooth random colour fields (realistic JPEG sizes, ~10-20 kB)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        d = folder / f"class_{i % classes:02d}"
        d.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((size, size), Image.BICUBIC)
        noise = rng.integers(0, 24, (size, size, 3), dtype=np.uint8)
        arr = np.asarray(img, dtype=np.uint8) // 2 + noise
        Image.fromarray(arr).save(d / f"img_{i:06d}.jpg", quality=90)


class _Decode:
    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        from PIL import Image

        with Image.open(self.paths[i]) as im:
            return np.asarray(im.convert("RGB")).shape[0]


def _blank():
    from PIL import Image

    return Image.new("RGB", (224, 224))


def child(mode: str, folder: str, n: int, backbone: str, batch_size: int, config) -> dict:
    import torch

    if config:
        from bottlekit.backbones import register_model_config

        register_model_config(config)

    from bottlekit.datasets import load_imagefolder

    ds = load_imagefolder(folder)
    source = ds.image_source.subset(list(range(n)))
    workers = min(4, os.cpu_count() or 1)
    t0 = time.perf_counter()
    threads = torch.get_num_threads()
    if mode == "model":
        import bottlekit
        from bottlekit.backbones import _model_threads

        bk = bottlekit.load_backbone(backbone, device="cpu")
        side = bk.preprocess(_blank()).shape[-1]
        x = torch.randn(batch_size, 3, side, side)
        # the intra-op threads the pipeline gives the model next to its decoding workers
        threads = _model_threads(torch.device("cpu"), workers) or threads
        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        count = 0
        with torch.inference_mode():
            while count < n:
                b = x[: min(batch_size, n - count)]
                torch.nn.functional.normalize(bk.model.encode_image(b), dim=-1)
                count += len(b)
    elif mode == "decode":
        loader = torch.utils.data.DataLoader(
            _Decode(source.items), batch_size=batch_size, num_workers=workers
        )
        count = sum(len(b) for b in loader)
    else:
        import bottlekit

        bk = bottlekit.load_backbone(backbone, device="cpu")
        t0 = time.perf_counter()
        kw = {
            "pipeline": {},
            "auto": {"model_threads": "auto"},
            "draft": {"model_threads": "auto", "jpeg_draft": True},
        }[mode]
        with tempfile.TemporaryDirectory() as cache:
            X = bottlekit.embed(
                bk, source, cache_dir=cache, batch_size=batch_size, progress=False, **kw
            )
        count = len(X)
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "mode": mode,
        "n": count,
        "seconds": seconds,
        "peak_mb": peak_mb,
        "workers": workers,
        "threads": threads,
    }


def run_child(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True
    )
    if out.returncode:
        sys.exit(f"child {args[:2]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="number of images")
    parser.add_argument("--backbone", default="world-tiny")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="rounds (median reported)")
    parser.add_argument("--folder", default=None, help="reuse a generated folder")
    parser.add_argument(
        "--config", default=None, help="an open_clip config to register (random weights)"
    )
    parser.add_argument("--child", nargs=2, metavar=("MODE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, n = args.child
        print(
            json.dumps(
                child(mode, args.folder, int(n), args.backbone, args.batch_size, args.config)
            )
        )
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.folder or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if not any(folder.iterdir()):
            t0 = time.perf_counter()
            generate(folder, args.n)
            print(f"generated {args.n} JPEGs 224x224 in {time.perf_counter() - t0:.1f} s")
        common = ["--folder", str(folder), "--backbone", args.backbone]
        common += ["--batch-size", str(args.batch_size)]
        if args.config:
            common += ["--config", str(Path(args.config).resolve())]
            if args.backbone == "world-tiny":
                common[3] = Path(args.config).stem
        # decode, model, pipeline and draft side by side, ``--repeats`` rounds: each ratio
        # is taken within a round (minutes apart at most), and the median is reported,
        # so a load that changes between rounds on a shared machine cancels out
        modes = (("d", "decode"), ("m", "model"), ("p", "pipeline"), ("a", "auto"))
        modes += (("j", "draft"),)
        rounds = [
            {k: run_child(mode, str(args.n), *common) for k, mode in modes}
            for _ in range(args.repeats)
        ]
        quarter = run_child("pipeline", str(max(1, args.n // 4)), *common)

    def rate(r: dict) -> float:
        return r["n"] / r["seconds"]

    def median(values: list[float]) -> float:
        return float(np.median(values))

    last = rounds[-1]
    print(
        f"backbone {common[3]}, batch {args.batch_size}, {last['d']['workers']} DataLoader "
        f"workers, {os.cpu_count()} CPUs, {args.repeats} round(s), median rates"
    )
    print(f"{'run':<36}{'images':>8}{'images/s':>11}{'peak MB':>10}")
    for name, k in (
        ("read + decode alone", "d"),
        (f"model alone ({last['m']['threads']} thread(s))", "m"),
        ("bottlekit.embed (defaults)", "p"),
        ("bottlekit.embed, model_threads=auto", "a"),
        ("  + jpeg_draft=True", "j"),
    ):
        rates = [rate(r[k]) for r in rounds]
        peak = max(r[k]["peak_mb"] for r in rounds)
        print(f"{name:<36}{last[k]['n']:>8}{median(rates):>11.1f}{peak:>10.0f}")
    print(f"{'bottlekit.embed, defaults, n/4':<36}{quarter['n']:>8}{rate(quarter):>11.1f}", end="")
    print(f"{quarter['peak_mb']:>10.0f}")

    def ratios(a: str, b: str) -> str:
        values = [rate(r[a]) / rate(r[b]) for r in rounds]
        return f"{median(values):.2f} (rounds: {', '.join(f'{v:.2f}' for v in values)})"

    print(f"pipeline / decode-bound = {ratios('p', 'd')} (target >= 0.8)")
    print(f"pipeline, model_threads=auto / decode-bound = {ratios('a', 'd')}")
    print(f"  + jpeg_draft / decode-bound = {ratios('j', 'd')}")
    print(f"pipeline, model_threads=auto / model-bound = {ratios('a', 'm')}")
    full_peak = max(r["p"]["peak_mb"] for r in rounds)
    print(f"peak memory n vs n/4: {full_peak:.0f} MB vs {quarter['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
