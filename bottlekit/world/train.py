"""Train the world's CLIP (world-tiny, or another shipped config) on world images and captions.

``python -m bottlekit.world.train`` trains it; docs/world.md gives the two commands
(from scratch, then ``--init`` warm-started) that reproduced the shipped weights.
``--model NAME`` picks the architecture among the configs shipped in
``bottlekit/model_configs`` (default ``world-tiny``; ``world-small`` is the same with
4-pixel patches). world-tiny's image tower is a ViT (8×8 patches of 64×64 images,
width 64, 3 layers), the text tower a 2-layer width-64 transformer over open_clip's
default 49 408-token BPE vocabulary with a 32-token context; the loss is open_clip's
``ClipLoss`` (symmetric InfoNCE over the batch),

.. math::

    L = -\\frac{1}{2B} \\sum_i \\big[\\log \\operatorname{softmax}_j(t\\, x_i \\cdot y_j)_i
        + \\log \\operatorname{softmax}_j(t\\, x_j \\cdot y_i)_i\\big],

with AdamW and a linear-warm-up cosine learning-rate schedule. Captions are
re-sampled every epoch, so the model sees new phrasings of the same images.
Two opt-in recipe options: ``--captions full`` names every drawn concept in every
caption (:func:`~bottlekit.world.captions.make_full_captions`) instead of a random
subset, and ``--hard-negatives F`` fills a fraction ``F`` of each batch with pairs of
images that differ in exactly one attribute (:mod:`bottlekit.world.hard_negatives`).
``--precision bfloat16`` runs the towers' forward passes under ``torch.autocast`` in
bfloat16 (the weights, the optimiser and the loss stay float32).

The training images draw their background independently of the species
(``p_typical_background=0.2``): the model plays the part of a broadly pre-trained
CLIP, and the spurious species–background correlation lives only in the downstream
train/val/test splits. (Trained on the correlated train split instead, the image
embedding keyed on the background: 0.18 linear-probe and 0.21 zero-shot accuracy
on ``shifted`` after 600 steps.)

The module is the command line (:func:`main`) and the face of the parts it runs: the
model configs and preprocessing (``_clip``), the run's options and their checks
(``_train_options``), the training pairs (``_train_batches``), the loop
(``_train_loop``), what a run records (``_train_records``) and its weights file
(``_train_weights``). Every public name is importable from here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bottlekit.world._clip import (
    CONFIG_DIR,
    MEAN,
    MODEL_NAME,
    STD,
    _model_name,
    available_models,
    create_model,
    images_to_tensor,
    load_model_config,
    world_preprocess,
)
from bottlekit.world._train_loop import cosine_with_warmup, train, zero_shot_accuracy
from bottlekit.world._train_options import CAPTION_RECIPES, PRECISIONS, RUN_DEFAULTS
from bottlekit.world._train_records import _run_metadata as _run_metadata  # re-exported
from bottlekit.world._train_records import world_fingerprint
from bottlekit.world._train_weights import (
    DEFAULT_OUT_DIR,
    METADATA_FILE,
    WEIGHTS_DIR,
    WEIGHTS_FILE,
    save_weights,
)

__all__ = [
    "CAPTION_RECIPES",
    "CONFIG_DIR",
    "DEFAULT_OUT_DIR",
    "MEAN",
    "METADATA_FILE",
    "MODEL_NAME",
    "PRECISIONS",
    "RUN_DEFAULTS",
    "STD",
    "WEIGHTS_DIR",
    "WEIGHTS_FILE",
    "available_models",
    "cosine_with_warmup",
    "create_model",
    "images_to_tensor",
    "load_model_config",
    "main",
    "save_weights",
    "train",
    "world_fingerprint",
    "world_preprocess",
    "zero_shot_accuracy",
]


def _threads(given: int | None, checkpoint) -> int:
    """``--threads``: as given, else the resumed checkpoint's count (so that the run goes
    on bit for bit), else 1."""
    if given is not None:
        return given
    if checkpoint is not None:
        recorded = (checkpoint.meta.get("versions") or {}).get("threads")
        if isinstance(recorded, int) and not isinstance(recorded, bool) and recorded >= 1:
            return recorded
    return 1


def main(argv: list[str] | None = None) -> None:
    """Command line entry point: ``python -m bottlekit.world.train [options]``.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: the command line's); ``--help`` lists them.

    Examples
    --------
    >>> import os, tempfile
    >>> out = tempfile.mkdtemp()
    >>> main(["--n-train", "16", "--n-val", "8", "--steps", "2", "--batch-size", "8",
    ...       "--warmup", "1", "--out", out,
    ...       "--checkpoint", os.path.join(out, "run.json")])  # doctest: +ELLIPSIS
    generated 16 train images in ...
    saved .../world-tiny.safetensors
    """
    p = argparse.ArgumentParser(
        prog="python -m bottlekit.world.train", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "--model",
        type=_model_name,
        default=None,
        help=f"model config, one of {', '.join(available_models())} [{MODEL_NAME}; with "
        "--resume: the checkpoint's]",
    )
    run = p.add_argument_group(
        "the run",
        "defaults in brackets; with --resume, an option left out takes the checkpoint's "
        "value and one given must equal it",
    )
    for flag, kind, help_ in (
        ("--n-train", int, "training images"),
        ("--n-val", int, "val images of the zero-shot check"),
        ("--steps", int, "optimiser steps"),
        ("--batch-size", int, "image-caption pairs per step"),
        ("--lr", float, "peak learning rate"),
        ("--weight-decay", float, "AdamW weight decay on matrices"),
        ("--warmup", int, "linear warm-up steps"),
        ("--seed", int, "seed of the world, the model and the data order"),
        (
            "--p-typical-background",
            float,
            "background-species correlation of the training images (0.2: independent)",
        ),
        ("--init", str, "start from these weights"),
        ("--captions", str, "captions: 'sampled' (a random subset of the drawn concepts) or "
         "'full' (every drawn concept)"),
        ("--hard-negatives", float, "fraction of each batch made of pairs of images that "
         "differ in exactly one attribute"),
        ("--precision", str, "'float32', or 'bfloat16': the forward passes under "
         "torch.autocast (weights, optimiser and loss stay float32)"),
    ):  # fmt: skip
        key = flag[2:].replace("-", "_")
        choices = {"captions": CAPTION_RECIPES, "precision": PRECISIONS}.get(key)
        run.add_argument(
            flag, type=kind, default=None, choices=choices, help=f"{help_} [{RUN_DEFAULTS[key]}]"
        )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch's intra-op threads (a resumed run is bit for bit the same only with "
        "the same count) [1; with --resume, the checkpoint's]",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"folder for the weights [{DEFAULT_OUT_DIR}/; with --resume: the resumed run's]",
    )
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda or cuda:N [cpu]")
    p.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="sidecar of the training checkpoint [checkpoints/MODEL.json; "
        "with --resume: the resumed one]",
    )
    p.add_argument(
        "--checkpoint-every", type=int, default=None, help="steps between checkpoints [100]"
    )
    p.add_argument("--no-checkpoint", action="store_true", help="write no checkpoints")
    p.add_argument("--resume", type=Path, default=None, help="continue from this checkpoint")
    p.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="stop after this many steps in all, to resume later from the checkpoint "
        "[none: run all --steps]",
    )
    a = p.parse_args(argv)
    if a.no_checkpoint:  # (left out, they are None)
        for flag, given in (
            ("--checkpoint", a.checkpoint),
            ("--checkpoint-every", a.checkpoint_every),
        ):
            if given is not None:
                raise ValueError(f"{flag}: does nothing with --no-checkpoint")
    base = dict(RUN_DEFAULTS)
    model_name, ckpt = a.model or MODEL_NAME, None
    if a.resume is not None:
        from bottlekit.world.checkpoint import CheckpointError, read_checkpoint

        ckpt = read_checkpoint(a.resume)
        base.update(ckpt.meta["config"])
        model_name = a.model or ckpt.meta["model"]
        if model_name not in available_models():  # from the checkpoint: named as such
            raise CheckpointError(
                f"checkpoint {str(ckpt.path)!r}: sidecar key 'model' is "
                f"{ckpt.meta['model']!r}; expected a shipped model config, one of "
                f"{', '.join(available_models())}"
            )
    checkpoint = a.checkpoint or Path("checkpoints") / f"{model_name}.json"
    out_dir = a.out or DEFAULT_OUT_DIR
    if a.resume is not None:
        checkpoint = a.checkpoint or ckpt.path
        if a.out is None and ckpt.meta.get("out_dir") is not None:
            out_dir = Path(ckpt.meta["out_dir"])
    if a.no_checkpoint:
        checkpoint = None
    run_args = {k: getattr(a, k) if getattr(a, k) is not None else base[k] for k in RUN_DEFAULTS}
    train(
        **run_args,
        threads=_threads(a.threads, ckpt),
        out_dir=out_dir,
        device=a.device,
        checkpoint=checkpoint,
        checkpoint_every=100 if a.checkpoint_every is None else a.checkpoint_every,
        resume=a.resume,
        stop_after=a.stop_after,
        model_name=model_name,
    )


def _command(argv: list[str] | None = None) -> int:
    """``python -m bottlekit.world.train``': :func:`main`, a user error reported as one line
    and exit status 2 (:func:`bottlekit._command_errors.run_reporting_errors`)."""
    from bottlekit._command_errors import run_reporting_errors

    return run_reporting_errors(lambda: main(argv), "python -m bottlekit.world.train")


if __name__ == "__main__":
    sys.exit(_command())
