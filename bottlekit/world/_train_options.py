"""The options of a training run, checked before anything is drawn or built: the
arguments that define the run (:data:`RUN_DEFAULTS`), the other options of
:func:`~bottlekit.world.train.train`, and a resumed run against its checkpoint."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from bottlekit._checks import check_choice, check_number
from bottlekit.world._clip import MODEL_NAME, load_model_config

#: Caption recipes of ``--captions``: the shipped random subset, or every drawn concept.
CAPTION_RECIPES = ("sampled", "full")

#: ``--precision``: float32 throughout (the shipped recipes), or the forward passes under
#: ``torch.autocast`` in bfloat16 (weights, optimiser and loss stay float32).
PRECISIONS = ("float32", "bfloat16")

#: The arguments that define a run; a resumed run must use the checkpoint's values.
RUN_DEFAULTS: dict[str, Any] = {
    "n_train": 50_000,
    "n_val": 1200,
    "steps": 2000,
    "batch_size": 128,
    "lr": 1e-3,
    "weight_decay": 0.1,
    "warmup": 100,
    "seed": 0,
    "p_typical_background": 0.2,
    "init": None,
    "captions": "sampled",
    "hard_negatives": 0.0,
    "precision": "float32",
}


def _check_resume_config(checkpoint, config: dict, model_name: str = MODEL_NAME) -> None:
    """The run's model and defining arguments must equal the checkpoint's."""
    from bottlekit.world.checkpoint import CheckpointError

    where = str(checkpoint.path)
    if checkpoint.meta["model"] != model_name:
        raise CheckpointError(
            f"model={model_name!r} but checkpoint {where!r} was written for model "
            f"{checkpoint.meta['model']!r}; resume with --model {checkpoint.meta['model']} "
            "(the command line takes it from the checkpoint when --model is left out)"
        )
    saved = checkpoint.meta["config"]
    for key, value in config.items():
        # keys added after the first checkpoints: an older checkpoint ran the default
        was = saved.get(key, RUN_DEFAULTS[key])
        if was != value:
            raise CheckpointError(
                f"{key}={value!r} but checkpoint {where!r} was written by a "
                f"run with {key}={was!r}; resume with the checkpoint's value (the "
                "command line takes it from the checkpoint when the option is left out)"
            )
    model_cfg = load_model_config(model_name)
    if checkpoint.meta["model_config"] != model_cfg:
        raise CheckpointError(
            f"checkpoint {where!r} is of model {checkpoint.meta['model']!r} "
            f"with config {checkpoint.meta['model_config']}; expected {model_name!r} with "
            f"config {model_cfg} (model_configs/{model_name}.json changed since)"
        )
    progress = checkpoint.meta["progress"]
    n_batches = config["n_train"] // config["batch_size"]
    if not (0 <= progress["step"] <= config["steps"] and 0 <= progress["next_batch"] <= n_batches):
        raise CheckpointError(
            f"checkpoint {str(checkpoint.path)!r} is at step {progress['step']}, batch "
            f"{progress['next_batch']}; expected a step in [0, {config['steps']}] and a batch "
            f"in [0, {n_batches}]"
        )
    if len(progress["losses"]) != progress["step"]:
        raise CheckpointError(
            f"checkpoint {str(checkpoint.path)!r} has {len(progress['losses'])} losses for "
            f"{progress['step']} steps"
        )
    step, epoch, batch = progress["step"], progress["epoch"], progress["next_batch"]
    if epoch * n_batches + batch != step:  # every epoch has n_batches steps
        last = max(step - 1, 0)  # the position of the step's batch
        raise CheckpointError(
            f"checkpoint {where!r} is at step {step} but at epoch {epoch}, batch {batch} "
            f"(progress.epoch, progress.next_batch); with {n_batches} batches an epoch, step "
            f"{step} is epoch {last // n_batches}, batch {step - last // n_batches * n_batches}"
        )
    try:  # a generator of its own: what the run sets its data order's generator to
        np.random.PCG64().state = progress["epoch_rng_state"]
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise CheckpointError(
            f"checkpoint {where!r}: sidecar key 'progress.epoch_rng_state' is unusable as the "
            f"data order's generator state ({exc!r}); expected numpy's PCG64 state"
        ) from None


def _check_run_arguments(
    *,
    n_train,
    n_val,
    steps,
    batch_size,
    lr,
    weight_decay,
    warmup,
    seed,
    threads,
    device,
    init,
    p_typical_background,
    **every,
) -> None:
    """Refuse run arguments that cannot train before anything is drawn or built: a batch
    larger than the world (no full batch: the loop would never take a step), no steps (the
    random initial weights would be saved as a finished run), a non-finite learning rate,
    a seed that torch's generators do not take."""
    from bottlekit.devices import resolve_device
    from bottlekit.world.dataset import SHIFTED_TYPICAL_BACKGROUND

    for name, value in {"n_train": n_train, "n_val": n_val, "steps": steps, **every}.items():
        check_number(value, name, integer=True, low=1)
    check_number(
        batch_size,
        "batch_size",
        integer=True,
        low=1,
        high=n_train,
        expected=f"an int in [1, n_train={n_train}]",
    )
    check_number(lr, "lr", low=0, low_open=True)
    check_number(weight_decay, "weight_decay", low=0)
    check_number(warmup, "warmup", integer=True, low=0)
    check_number(
        seed,
        "seed",
        integer=True,
        low=0,
        high=2**64,
        high_open=True,
        expected="an int in [0, 2**64)",
    )
    check_number(
        p_typical_background, "p_typical_background", low=SHIFTED_TYPICAL_BACKGROUND, high=1
    )
    check_number(threads, "threads", integer=True, low=1)
    resolve_device(device)
    if init is not None and not Path(init).is_file():
        raise FileNotFoundError(
            f"init: no weights file at {str(init)!r}; expected a .safetensors file of the "
            "model's weights (e.g. runs/world-tiny.safetensors)"
        )


def _check_train_options(
    *,
    out_dir,
    checkpoint,
    checkpoint_every,
    stop_after,
    steps,
    captions,
    hard_negatives,
    precision,
    model_name,
) -> None:
    """Refuse the options of :func:`train` beyond the run's (paths, checkpoints, recipe)
    before any work, so that a long run never fails at its end."""
    from bottlekit.atomic import check_output_path

    if checkpoint is not None and Path(checkpoint).suffix != ".json":
        raise ValueError(f"checkpoint: expected a path ending in .json, got {str(checkpoint)!r}")
    if out_dir is not None:  # checked now, not after the run
        for suffix in (".safetensors", ".json"):  # the weights and their metadata
            check_output_path(Path(out_dir) / f"{model_name}{suffix}", "out_dir", is_file=True)
    if checkpoint is not None:
        from bottlekit.world.checkpoint import check_checkpoint_path

        check_output_path(checkpoint, "checkpoint", is_file=True)
        # (a file there is read at the first save, after the training: checked now)
        check_checkpoint_path(checkpoint, steps)
    check_number(checkpoint_every, "checkpoint_every", integer=True, low=1, type_error=True)
    if stop_after is not None:
        expected = f"an int in [1, steps={steps}]"
        bounds = {"low": 1, "high": steps, "expected": expected, "type_error": True}
        check_number(stop_after, "stop_after", integer=True, **bounds)
        if stop_after < steps and checkpoint is None:  # nothing to resume from: work lost
            raise ValueError(
                f"stop_after: a run stopped after {stop_after} of {steps} steps resumes from "
                "its checkpoint, and checkpoint is None (--no-checkpoint); give a checkpoint "
                "or leave stop_after out"
            )
    check_choice(captions, CAPTION_RECIPES, "captions")
    check_choice(precision, PRECISIONS, "precision")
    expected = "a float in [0, 1]"
    check_number(
        hard_negatives, "hard_negatives", low=0, high=1, expected=expected, type_error=True
    )


def warn_if_not_bit_for_bit(checkpoint, threads: int) -> None:
    """A ``RuntimeWarning`` where a resumed run cannot continue bit for bit: torch's
    thread count or the torch, open_clip or numpy version differs from the checkpoint's
    (sums are then taken in another order, or drawn by other code). The run goes on: on
    another machine that may be wanted, and the result is still a valid run."""
    import open_clip
    import torch

    recorded = checkpoint.meta.get("versions") or {}
    now = {
        "threads": threads,
        "torch": torch.__version__,
        "open_clip": open_clip.__version__,
        "numpy": np.__version__,
    }
    changed = [
        f"{key} {now[key]!r} (checkpoint {recorded[key]!r})"
        for key in now
        if key in recorded and recorded[key] != now[key]
    ]
    if changed:
        warnings.warn(
            f"resuming {str(checkpoint.path)!r} with {', '.join(changed)}: the run goes on, but "
            "not bit for bit as an uninterrupted run would (resume with the checkpoint's "
            "threads and versions for that)",
            RuntimeWarning,
            stacklevel=3,
        )
