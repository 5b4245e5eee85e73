"""Throughput of ``bottlekit.embed``: cold, cached, and a bare ``encode_image`` loop.

The bare loop gets the same images already preprocessed into tensors and batched, so
it measures the model alone; the pipeline includes decoding, preprocessing, hashing
the items for the cache keys and writing the cache shards. Both run in this process,
one after the other, so their ratio is meaningful on a shared machine.

Run::

    python benchmarks/embed_throughput.py                      # ViT-B-32, random weights
    python benchmarks/embed_throughput.py --backbone world-tiny --n 4096 --size 64
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from bottlekit import embed, load_backbone


def bare_loop(backbone, batches: list[torch.Tensor]) -> float:
    t0 = time.perf_counter()
    with torch.inference_mode():
        for b in batches:
            f = backbone.model.encode_image(b)
            torch.nn.functional.normalize(f, dim=-1).numpy()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="ViT-B-32")
    parser.add_argument("--pretrained", default=None)
    parser.add_argument("--n", type=int, default=256, help="number of images")
    parser.add_argument("--size", type=int, default=256, help="side of the input images")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    bk = load_backbone(args.backbone, args.pretrained, device="cpu")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(args.n, args.size, args.size, 3), dtype=np.uint8)
    from PIL import Image

    pre = torch.stack([bk.preprocess(Image.fromarray(im)) for im in images])
    batches = list(pre.split(args.batch_size))
    bare_loop(bk, batches[:1])  # warm-up (allocations, kernels)

    # Interleave the runs (bare, cold, cached, bare, ...) and keep the median of each,
    # so that load from other processes on a shared machine hits all of them alike.
    bare, cold, cached = [], [], []
    for _ in range(args.repeats):
        bare.append(bare_loop(bk, batches))
        with tempfile.TemporaryDirectory() as cache_dir:
            t0 = time.perf_counter()
            X = embed(bk, images, cache_dir=cache_dir, batch_size=args.batch_size, progress=False)
            cold.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            Y = embed(bk, images, cache_dir=cache_dir, batch_size=args.batch_size, progress=False)
            cached.append(time.perf_counter() - t0)
        assert np.array_equal(X, Y)
    bare, cold, cached = (float(np.median(v)) for v in (bare, cold, cached))

    n = args.n
    print(
        f"median of {args.repeats} interleaved runs; "
        f"backbone {bk.name} ({bk.weights}), {n} images {args.size}x{args.size}, "
        f"batch {args.batch_size}, {torch.get_num_threads()} torch threads"
    )
    print(f"{'run':<34}{'images/s':>12}{'ratio':>10}")
    print(f"{'bare model.encode_image loop':<34}{n / bare:>12.1f}{1.0:>10.2f}")
    print(f"{'bottlekit.embed, cold':<34}{n / cold:>12.1f}{bare / cold:>10.2f}  (vs bare)")
    print(f"{'bottlekit.embed, cached':<34}{n / cached:>12.1f}{cold / cached:>10.1f}  (vs cold)")


if __name__ == "__main__":
    main()
