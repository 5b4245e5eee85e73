"""The demo behind ``bottlekit demo`` / ``make demo``: the main job on the built-in world.

It generates the built-in world (train, test and the background-shifted split), embeds
the images with the shipped ``world-tiny`` CLIP through the on-disk cache, and reports
what the embedding space supports: a linear probe's species accuracy and zero-shot
species accuracy from text prompts. The concept-bottleneck models of later releases
take over from here; until they land, this is the honest extent of the demo.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

__all__ = ["run_demo"]

ZERO_SHOT_TEMPLATES = ("a photo of a {}.", "a {}.")


def run_demo(
    n_train: int = 2000,
    n_test: int = 1000,
    out: str | Path | None = None,
    quiet: bool = False,
    seed: int = 0,
) -> int:
    """Run the demo and print its figures.

    Parameters
    ----------
    n_train, n_test : int
        Images generated for the training split and for each evaluation split.
    out : str or Path, optional
        Folder where ``embeddings.npz`` (train/test/shifted embeddings and labels) is
        written.
    quiet : bool, default False
        No progress bars.
    seed : int, default 0
        World seed.

    Returns
    -------
    int
        Exit status (0).

    Examples
    --------
    >>> run_demo(n_train=200, n_test=100, quiet=True)  # doctest: +SKIP
    """
    from sklearn.linear_model import LogisticRegression

    from bottlekit.backbones import load_backbone
    from bottlekit.cache import embed
    from bottlekit.world import make_world

    t0 = time.perf_counter()
    backbone = load_backbone("world-tiny")
    splits = {
        "train": make_world(n_train, "train", seed=seed, return_masks=False),
        "test": make_world(n_test, "test", seed=seed, return_masks=False),
        "shifted": make_world(n_test, "shifted", seed=seed, return_masks=False),
    }
    X = {k: embed(backbone, w.images, progress=not quiet) for k, w in splits.items()}
    y = {k: w.labels for k, w in splits.items()}
    class_names = splits["train"].class_names

    probe = LogisticRegression(C=10.0, max_iter=3000).fit(X["train"], y["train"])
    text = backbone.encode_texts(class_names, templates=list(ZERO_SHOT_TEMPLATES))

    print(f"bottlekit demo: {backbone!r}")
    print(f"  backbone id {backbone.id}; {len(class_names)} species; n_train={n_train}")
    print(f"  {'split':<10}{'n':>6}{'linear probe':>15}{'zero-shot':>12}")
    for k in ("test", "shifted"):
        probe_acc = float(np.mean(probe.predict(X[k]) == y[k]))
        zs_acc = float(np.mean((X[k] @ text.T).argmax(1) == y[k]))
        print(f"  {k:<10}{len(y[k]):>6}{probe_acc:>15.3f}{zs_acc:>12.3f}")
    if out is not None:
        from bottlekit.cli import save_npz_atomic

        folder = Path(out)
        arrays = {f"X_{k}": v for k, v in X.items()} | {f"y_{k}": v for k, v in y.items()}
        save_npz_atomic(folder / "embeddings.npz", **arrays, class_names=np.asarray(class_names))
        print(f"  wrote {folder / 'embeddings.npz'}")
    print(f"  done in {time.perf_counter() - t0:.1f} s")
    return 0
