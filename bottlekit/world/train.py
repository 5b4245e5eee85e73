"""Train the world's tiny CLIP contrastively on world images and captions.

``python -m bottlekit.world.train`` trains it; docs/world.md gives the two commands
(from scratch, then ``--init`` warm-started) that reproduced the shipped weights.
The image tower is a ViT (8×8 patches of 64×64 images, width 64, 3 layers), the
text tower a 2-layer width-64 transformer over open_clip's default 49 408-token BPE
vocabulary with a 32-token context; the loss is open_clip's
``ClipLoss`` (symmetric InfoNCE over the batch),

.. math::

    L = -\\frac{1}{2B} \\sum_i \\big[\\log \\operatorname{softmax}_j(t\\, x_i \\cdot y_j)_i
        + \\log \\operatorname{softmax}_j(t\\, x_j \\cdot y_i)_i\\big],

with AdamW and a linear-warm-up cosine learning-rate schedule. Captions are
re-sampled every epoch, so the model sees new phrasings of the same images.

The training images draw their background independently of the species
(``p_typical_background=0.2``): the model plays the part of a broadly pre-trained
CLIP, and the spurious species–background correlation lives only in the downstream
train/val/test splits. (Trained on the correlated train split instead, the image
embedding keyed on the background: 0.18 linear-probe and 0.21 zero-shot accuracy
on ``shifted`` after 600 steps.)
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bottlekit.atomic import atomic_write_bytes, atomic_write_text

MODEL_NAME = "world-tiny"
CONFIG_DIR = Path(__file__).resolve().parent.parent / "model_configs"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WEIGHTS_FILE = "world-tiny.safetensors"
METADATA_FILE = "world-tiny.json"
# open_clip's default (OpenAI CLIP) normalisation, applied by its preprocess transform
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def create_model(device: str | torch.device = "cpu"):
    """Register the ``world-tiny`` config with open_clip and build an untrained model.

    Returns
    -------
    model : open_clip.CLIP
    preprocess : callable
        open_clip's evaluation transform (PIL image → normalised tensor).
    tokenizer : callable
        open_clip's tokenizer for the config (SimpleTokenizer, context 32).
    """
    import open_clip

    open_clip.add_model_config(str(CONFIG_DIR))
    model, _, preprocess = open_clip.create_model_and_transforms(MODEL_NAME, device=device)
    tokenizer = open_clip.get_tokenizer(MODEL_NAME)
    return model, preprocess, tokenizer


@functools.lru_cache(maxsize=1)
def world_preprocess():
    """world-tiny's evaluation transform, as ``load_backbone("world-tiny").preprocess``.

    open_clip's transform for the config's image size (64) with OpenAI CLIP's
    normalisation (:data:`MEAN`, :data:`STD`).
    """
    from open_clip.transform import PreprocessCfg, image_transform_v2

    cfg = json.loads((CONFIG_DIR / f"{MODEL_NAME}.json").read_text())
    size = int(cfg["vision_cfg"]["image_size"])
    return image_transform_v2(PreprocessCfg(size=size, mean=MEAN, std=STD), is_train=False)


def images_to_tensor(images: Any, device: str | torch.device = "cpu") -> torch.Tensor:
    """Images → world-tiny's normalised model input (n, 3, H, W) on ``device``.

    The images go through :func:`bottlekit.images.as_image_source` and world-tiny's
    preprocessing (:func:`bottlekit.backbones.preprocess_images` with
    :func:`world_preprocess`), as every other image input of bottlekit does; for uint8
    64 x 64 arrays that is ``(x / 255 - MEAN) / STD``.
    """
    from bottlekit.backbones import preprocess_images

    return preprocess_images(world_preprocess(), images).to(device)


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Decay matrices only; no decay on gains, biases, embeddings and the logit scale."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        exclude = (
            p.ndim < 2
            or "bias" in name
            or "ln" in name
            or "embedding" in name
            or "logit_scale" in name
        )
        (no_decay if exclude else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def cosine_with_warmup(step: int, total: int, warmup: int) -> float:
    """Learning-rate multiplier: linear warm-up to 1, then cosine decay to 0."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _canonical_header(blob: bytes) -> bytes:
    """The same safetensors file with its JSON header's keys sorted.

    safetensors writes the ``__metadata__`` entries in a per-call hash order, so two
    saves of identical tensors could differ in their header bytes (and sha256). Sorting
    the keys makes the file a function of its contents. Tensor offsets are relative to
    the end of the header, so only the header changes; it is padded with spaces to a
    multiple of 8 bytes, as safetensors does.
    """
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + blob[8 + n :]


def save_weights(model: torch.nn.Module, out_dir: Path, metadata: dict) -> Path:
    """Write the state dict (float32 safetensors) and the metadata JSON, atomically."""
    from safetensors.torch import save

    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    blob = _canonical_header(save(state, metadata={"format": "pt", "model": MODEL_NAME}))
    path = out_dir / WEIGHTS_FILE
    atomic_write_bytes(path, blob)
    metadata = dict(metadata, sha256=hashlib.sha256(blob).hexdigest(), bytes=len(blob))
    atomic_write_text(out_dir / METADATA_FILE, json.dumps(metadata, indent=2) + "\n")
    return path


@torch.no_grad()
def zero_shot_accuracy(model, tokenizer, images, labels, class_names, device="cpu") -> float:
    """Top-1 accuracy of ``argmax_c cos(image, "a photo of a {c}.")`` (quick check)."""
    model.eval()
    text = model.encode_text(
        tokenizer([f"a photo of a {c}." for c in class_names]).to(device), normalize=True
    )
    correct = 0
    for i in range(0, len(images), 512):
        feats = model.encode_image(images_to_tensor(images[i : i + 512], device), normalize=True)
        correct += int(
            (feats @ text.T).argmax(1).cpu().eq(torch.from_numpy(labels[i : i + 512])).sum()
        )
    model.train()
    return correct / len(images)


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
}


def world_fingerprint(world) -> str:
    """SHA-256 of a world's images, labels and concept labels (checks a regenerated world).

    Parameters
    ----------
    world : World

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


def _check_resume_config(checkpoint, config: dict) -> None:
    """The run's defining arguments must equal the checkpoint's."""
    from bottlekit.world.checkpoint import CheckpointError

    saved = checkpoint.meta["config"]
    for key, value in config.items():
        if saved[key] != value:
            raise CheckpointError(
                f"{key}={value!r} but checkpoint {str(checkpoint.path)!r} was written by a "
                f"run with {key}={saved[key]!r}; resume with the checkpoint's value (the "
                "command line takes it from the checkpoint when the option is left out)"
            )
    model_cfg = json.loads((CONFIG_DIR / f"{MODEL_NAME}.json").read_text())
    if checkpoint.meta["model"] != MODEL_NAME or checkpoint.meta["model_config"] != model_cfg:
        raise CheckpointError(
            f"checkpoint {str(checkpoint.path)!r} is of model {checkpoint.meta['model']!r} "
            f"with config {checkpoint.meta['model_config']}; expected {MODEL_NAME!r} with "
            f"config {model_cfg}"
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


def train(
    n_train: int = 50_000,
    steps: int = 2000,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.1,
    warmup: int = 100,
    seed: int = 0,
    threads: int = 1,
    out_dir: Path | None = WEIGHTS_DIR,
    device: str = "cpu",
    log_every: int = 20,
    save_every: int = 500,
    p_typical_background: float = 0.2,
    init: Path | None = None,
    n_val: int = 1200,
    checkpoint: Path | None = None,
    checkpoint_every: int = 100,
    resume: Path | None = None,
    stop_after: int | None = None,
) -> dict:
    """Train world-tiny, optionally checkpointed and resumed; returns the run's metadata.

    Parameters
    ----------
    n_train, steps, batch_size, lr, weight_decay, warmup, seed, p_typical_background, init
        The run (see the command line's help). ``n_train`` world images are drawn once
        from ``seed``; every epoch draws a new order and new captions from a generator
        seeded by ``(seed, 4242)``.
    threads : int
        torch's intra-op threads (bit-identical results need the same count).
    out_dir : Path or None
        Folder for the final weights and their metadata (None: do not write them).
    device : str
    log_every, save_every : int
        Print every ``log_every`` steps; write partial weights to ``out_dir`` every
        ``save_every`` steps.
    n_val : int
        Val images of the zero-shot check (every 300 steps and at the end).
    checkpoint : Path or None
        Sidecar path (``.json``) of the training checkpoint (None: no checkpoints).
    checkpoint_every : int
        Write the checkpoint every this many steps, at the last step and at
        ``stop_after``.
    resume : Path or None
        Continue bit for bit from this checkpoint; the run's arguments must equal the
        checkpoint's (:class:`~bottlekit.world.checkpoint.CheckpointError` otherwise).
    stop_after : int or None
        Stop after this many steps in all (a planned break; resume later).

    Returns
    -------
    dict
        The metadata (``stopped_at_step`` is set and no weights are written when the run
        stopped early).
    """
    import open_clip

    from bottlekit.world.captions import make_captions
    from bottlekit.world.checkpoint import (
        read_checkpoint,
        restore_training_state,
        write_checkpoint,
    )
    from bottlekit.world.dataset import make_world
    from bottlekit.world.species import CLASS_NAMES

    if checkpoint is not None and Path(checkpoint).suffix != ".json":
        raise ValueError(f"checkpoint={str(checkpoint)!r}; expected a path ending in .json")
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int):
        raise TypeError(f"checkpoint_every={checkpoint_every!r}; expected a positive int")
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every={checkpoint_every!r}; expected a positive int")
    if stop_after is not None and not 1 <= stop_after <= steps:
        raise ValueError(f"stop_after={stop_after!r}; expected an int in [1, steps={steps}]")
    config = {
        "n_train": n_train,
        "n_val": n_val,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "warmup": warmup,
        "seed": seed,
        "p_typical_background": p_typical_background,
        "init": None if init is None else str(init),
    }
    ckpt = None
    if resume is not None:
        ckpt = read_checkpoint(resume)
        _check_resume_config(ckpt, config)

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    t_start = time.time()
    cpu_start = time.process_time()
    world = make_world(
        n_train,
        "train",
        random_state=seed,
        return_masks=False,
        p_typical_background=p_typical_background,
    )
    val = make_world(n_val, "val", random_state=seed, return_masks=False)
    print(f"generated {n_train} train images in {time.time() - t_start:.1f}s", flush=True)
    fingerprint = world_fingerprint(world) if checkpoint is not None or ckpt is not None else ""
    if ckpt is not None and ckpt.meta["world_sha256"] != fingerprint:
        from bottlekit.world.checkpoint import CheckpointError

        raise CheckpointError(
            f"the regenerated training world (sha256 {fingerprint[:16]}…) differs from the "
            f"one checkpoint {str(ckpt.path)!r} was trained on "
            f"({ckpt.meta['world_sha256'][:16]}…): the renderer or numpy changed"
        )
    model, _, tokenizer = create_model(device)
    init_meta = None
    if ckpt is not None:
        init_meta = ckpt.meta["init"]
    elif init is not None:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(init), device=str(device)))
        init_meta = {
            "file": Path(init).name,
            "sha256": hashlib.sha256(Path(init).read_bytes()).hexdigest(),
        }
        print(f"initialised from {init}", flush=True)
    model.train()
    loss_fn = open_clip.ClipLoss()
    opt = torch.optim.AdamW(_param_groups(model, weight_decay), lr=lr, betas=(0.9, 0.98), eps=1e-6)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: cosine_with_warmup(s, steps, warmup))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 4242]))
    step, epoch, skip, acc, sittings = 0, 0, 0, None, 1
    losses: list[float] = []
    seconds_before, cpu_seconds_before = 0.0, 0.0
    if ckpt is not None:
        restore_training_state(ckpt, model, opt, sched)
        progress = ckpt.meta["progress"]
        step, epoch, skip = progress["step"], progress["epoch"], progress["next_batch"]
        losses = [float(v) for v in progress["losses"]]
        acc = progress["last_val_zero_shot"]
        sittings = progress["sittings"] + 1
        seconds_before = progress["train_seconds"]
        cpu_seconds_before = progress["train_cpu_seconds"]
        rng.bit_generator.state = progress["epoch_rng_state"]
        print(f"resumed from {ckpt.path} at step {step} (epoch {epoch}, batch {skip})", flush=True)
    step_at_start, t0 = step, time.time()
    model_cfg = json.loads((CONFIG_DIR / f"{MODEL_NAME}.json").read_text())

    def save_checkpoint(next_batch: int, epoch_rng_state: dict) -> None:
        progress = {
            "step": step,
            "epoch": epoch,
            "next_batch": next_batch,
            "epoch_rng_state": epoch_rng_state,
            "losses": losses,
            "last_val_zero_shot": acc,
            "train_seconds": round(seconds_before + time.time() - t_start, 1),
            "train_cpu_seconds": round(cpu_seconds_before + time.process_time() - cpu_start, 1),
            "sittings": sittings,
        }
        meta = {
            "model": MODEL_NAME,
            "model_config": model_cfg,
            "config": config,
            "progress": progress,
            "world_sha256": fingerprint,
            "init": init_meta,
            "versions": {
                "torch": torch.__version__,
                "open_clip": open_clip.__version__,
                "numpy": np.__version__,
                "threads": threads,
            },
        }
        write_checkpoint(checkpoint, model=model, optimizer=opt, scheduler=sched, meta=meta)

    last = stop_after if stop_after is not None else steps
    while step < last:
        # the order and captions of an epoch come from the generator's state at its start
        epoch_rng_state = rng.bit_generator.state
        order = rng.permutation(n_train)
        captions = make_captions(world.labels, world.concept_labels, CLASS_NAMES, rng)
        tokens = tokenizer(captions)
        for batch, b in enumerate(range(0, n_train - batch_size + 1, batch_size)):
            if batch < skip:
                continue
            if step >= last:
                break
            idx = np.sort(order[b : b + batch_size])
            x = images_to_tensor(world.images[idx], device)
            t = tokens[torch.from_numpy(idx)].to(device)
            img_f, txt_f, scale = model(x, t)[:3]
            loss = loss_fn(img_f, txt_f, scale)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            losses.append(loss.item())
            step += 1
            if step % log_every == 0 or step == steps:
                rate = (step - step_at_start) * batch_size / (time.time() - t0)
                print(
                    f"step {step}/{steps} epoch {epoch} loss {np.mean(losses[-log_every:]):.4f} "
                    f"scale {model.logit_scale.exp().item():.1f} lr {sched.get_last_lr()[0]:.2e} "
                    f"{rate:.0f} pairs/s",
                    flush=True,
                )
            if out_dir is not None and step % save_every == 0 and step < steps:
                save_weights(model, Path(out_dir), {"model": MODEL_NAME, "partial_step": step})
            if step % 300 == 0 or step == steps:
                acc = zero_shot_accuracy(
                    model, tokenizer, val.images, val.labels, CLASS_NAMES, device
                )
                print(f"step {step} val zero-shot species accuracy {acc:.3f}", flush=True)
            if checkpoint is not None and (
                step % checkpoint_every == 0 or step in (steps, stop_after)
            ):
                save_checkpoint(batch + 1, epoch_rng_state)
        skip = 0
        if step < last:
            epoch += 1
    meta = {
        "model": MODEL_NAME,
        "seed": seed,
        "n_train": n_train,
        "p_typical_background": p_typical_background,
        "init": init_meta,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "warmup": warmup,
        "threads": threads,
        "final_loss": float(np.mean(losses[-50:])),
        "val_zero_shot_species_accuracy": acc,
        "train_seconds": round(seconds_before + time.time() - t_start, 1),
        "torch": torch.__version__,
        "open_clip": open_clip.__version__,
        "stored_dtype": "float32",
        "train_cpu_seconds": round(cpu_seconds_before + time.process_time() - cpu_start, 1),
        "command": (
            f"python -m bottlekit.world.train --n-train {n_train} --steps {steps} "
            f"--batch-size {batch_size} --lr {lr} --warmup {warmup} --seed {seed} "
            f"--threads {threads} --p-typical-background {p_typical_background}"
            + (f" --init {init}" if init is not None else "")
            + (f" --n-val {n_val}" if n_val != RUN_DEFAULTS["n_val"] else "")
        ),
    }
    if sittings > 1:
        meta["sittings"] = sittings
    if step < steps:
        meta["stopped_at_step"] = step
        print(f"stopped at step {step}/{steps}; resume with --resume {checkpoint}", flush=True)
        return meta
    if out_dir is not None:
        path = save_weights(model, Path(out_dir), meta)
        print(f"saved {path}", flush=True)
    return meta


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    ):
        key = flag[2:].replace("-", "_")
        run.add_argument(flag, type=kind, default=None, help=f"{help_} [{RUN_DEFAULTS[key]}]")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="folder for the weights")
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="sidecar of the training checkpoint [checkpoints/world-tiny.json; "
        "with --resume: the resumed one]",
    )
    p.add_argument(
        "--checkpoint-every", type=int, default=100, help="steps between checkpoints [100]"
    )
    p.add_argument("--no-checkpoint", action="store_true", help="write no checkpoints")
    p.add_argument("--resume", type=Path, default=None, help="continue from this checkpoint")
    p.add_argument("--stop-after", type=int, default=None, help="stop after this many steps")
    a = p.parse_args(argv)
    base = dict(RUN_DEFAULTS)
    checkpoint = a.checkpoint or Path("checkpoints") / f"{MODEL_NAME}.json"
    if a.resume is not None:
        from bottlekit.world.checkpoint import read_checkpoint

        ckpt = read_checkpoint(a.resume)
        base.update(ckpt.meta["config"])
        checkpoint = a.checkpoint or ckpt.path
    if a.no_checkpoint:
        checkpoint = None
    run_args = {k: getattr(a, k) if getattr(a, k) is not None else base[k] for k in RUN_DEFAULTS}
    train(
        **run_args,
        threads=a.threads,
        out_dir=a.out,
        device=a.device,
        checkpoint=checkpoint,
        checkpoint_every=a.checkpoint_every,
        resume=a.resume,
        stop_after=a.stop_after,
    )


if __name__ == "__main__":
    main()
