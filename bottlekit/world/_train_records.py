"""What a training run records: the fingerprint of the world it trains on, the metadata
of its checkpoints, and the metadata a finished run writes beside its weights (with the
command that reproduces it)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from bottlekit.world._clip import MODEL_NAME
from bottlekit.world._train_options import RUN_DEFAULTS

if TYPE_CHECKING:
    from bottlekit.world.dataset import World


def world_fingerprint(world: World) -> str:
    """SHA-256 of a world's images, labels and concept labels (checks a regenerated world).

    Parameters
    ----------
    world : World
        The world (images, labels and concept labels are hashed).

    Returns
    -------
    str
        64 hex digits.

    Examples
    --------
    >>> from bottlekit.world import make_world
    >>> a = make_world(4, "train", 3, return_masks=False)
    >>> world_fingerprint(a) == world_fingerprint(make_world(4, "train", 3, return_masks=False))
    True
    """
    h = hashlib.sha256()
    for arr in (world.images, world.labels, world.concept_labels):
        arr = np.ascontiguousarray(arr)
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def _checkpoint_meta(
    progress: dict,
    *,
    model_name: str,
    model_cfg: dict,
    config: dict,
    world_sha256: str,
    init_meta: dict | None,
    out_dir: Path | str | None,
    threads: int,
) -> dict:
    """The metadata a checkpoint records beside the training state: the run (model,
    config, the world's fingerprint, where it started and writes), its ``progress`` and
    the versions that make a resume bit for bit."""
    import open_clip

    return {
        "model": model_name,
        "model_config": model_cfg,
        "config": config,
        "progress": progress,
        "world_sha256": world_sha256,
        "init": init_meta,
        "out_dir": None if out_dir is None else str(Path(out_dir).resolve()),
        "versions": {
            "torch": torch.__version__,
            "open_clip": open_clip.__version__,
            "numpy": np.__version__,
            "threads": threads,
        },
    }


def _run_metadata(
    config: dict,
    *,
    model_name: str,
    init_meta: dict | None,
    threads: int,
    final_loss: float,
    val_zero_shot: float | None,
    train_seconds: float,
    train_cpu_seconds: float,
) -> dict:
    """What a finished run records beside its weights: the recipe, the results and the
    command that reproduces it (options at their defaults left out)."""
    import open_clip

    c = config
    # every run option the CLI takes, given where the run used other than its default
    # (n_train ... p_typical_background always, as the shipped recipes write them)
    always = ("n_train", "steps", "batch_size", "lr", "warmup", "seed")
    command = "python -m bottlekit.world.train" + (
        f" --model {model_name}" if model_name != MODEL_NAME else ""
    )
    for key in always:
        command += f" --{key.replace('_', '-')} {c[key]}"
    command += f" --threads {threads} --p-typical-background {c['p_typical_background']}"
    for key in ("weight_decay", "init", "n_val", "captions", "hard_negatives", "precision"):
        if c[key] != RUN_DEFAULTS[key]:
            command += f" --{key.replace('_', '-')} {c[key]}"
    return {
        "model": model_name,
        **{k: c[k] for k in ("seed", "n_train", "p_typical_background")},
        "init": init_meta,
        **{k: c[k] for k in ("steps", "batch_size", "lr", "weight_decay", "warmup")},
        **{k: c[k] for k in ("captions", "hard_negatives", "precision")},
        "threads": threads,
        "final_loss": final_loss,
        "val_zero_shot_species_accuracy": val_zero_shot,
        "train_seconds": train_seconds,
        "torch": torch.__version__,
        "open_clip": open_clip.__version__,
        "stored_dtype": "float32",
        "train_cpu_seconds": train_cpu_seconds,
        "command": command,
    }
