"""The training loop of the world's CLIP (:func:`train`; the recipe:
:mod:`bottlekit.world.train`) and its optimiser's pieces."""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from bottlekit.devices import torch_threads
from bottlekit.world._clip import MODEL_NAME, create_model, images_to_tensor, load_model_config
from bottlekit.world._train_batches import _TrainingPairs
from bottlekit.world._train_options import (
    _check_resume_config,
    _check_run_arguments,
    _check_train_options,
    warn_if_not_bit_for_bit,
)
from bottlekit.world._train_records import _checkpoint_meta, _run_metadata, world_fingerprint
from bottlekit.world._train_weights import DEFAULT_OUT_DIR, _load_init, save_weights


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


@contextlib.contextmanager
def _run_generators(seed: int, device: str) -> Iterator[None]:
    """Seed torch's generators for a run; give the caller's global generators back after it.

    The CPU generator (open_clip builds the model there) and, for a CUDA run, every CUDA
    generator are seeded with ``seed`` inside ``torch.random.fork_rng``: a bare
    ``torch.manual_seed`` would reset the caller's generators for good. numpy's and
    Python's global generators, which a resumed run sets to the checkpoint's
    (:func:`~bottlekit.world.checkpoint.restore_training_state`), are put back too.

    Parameters
    ----------
    seed : int
        The run's seed.
    device : str
        The run's device.

    Yields
    ------
    None
    """
    cuda = torch.device(device).type == "cuda"
    # a CPU run resumed from a checkpoint that holds CUDA states sets them too
    devices = list(range(torch.cuda.device_count())) if cuda or torch.cuda.is_initialized() else []
    np_state = np.random.get_state()  # noqa: NPY002 (the caller's global state, put back)
    py_state = random.getstate()
    with torch.random.fork_rng(devices=devices):
        torch.random.default_generator.manual_seed(seed)
        if cuda:
            torch.cuda.manual_seed_all(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)  # noqa: NPY002
            random.setstate(py_state)


def _saved_so_far(checkpoint: Path | None, saved_step: int | None) -> str:
    """What a run that stops now keeps, for its error message."""
    if checkpoint is None:
        return "nothing was saved (no checkpoint)"
    if saved_step is None:
        return "nothing was saved (no checkpoint yet)"
    return f"nothing was saved after the last checkpoint (step {saved_step})"


def cosine_with_warmup(step: int, total: int, warmup: int) -> float:
    """Learning-rate multiplier: linear warm-up to 1, then cosine decay to 0.

    Parameters
    ----------
    step : int
        The optimiser step (from 0).
    total : int
        Steps in all.
    warmup : int
        Steps of warm-up: step ``s < warmup`` gets ``(s + 1) / warmup``.

    Returns
    -------
    float
        The multiplier, in [0, 1].

    Examples
    --------
    >>> [round(cosine_with_warmup(s, 10, 2), 3) for s in (0, 1, 2, 6, 10)]
    [0.5, 1.0, 1.0, 0.5, 0.0]
    """
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def zero_shot_accuracy(
    model: torch.nn.Module,
    tokenizer: Callable,
    images: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    device: str | torch.device = "cpu",
    model_name: str = MODEL_NAME,
) -> float:
    """Top-1 accuracy of ``argmax_c cos(image, "a photo of a {c}.")`` (quick check).

    Parameters
    ----------
    model : open_clip.CLIP
        The model being trained; put back in training mode on return.
    tokenizer : callable
        Its tokenizer (from :func:`create_model`).
    images : ndarray of shape (n, H, W, 3), uint8
        The images, encoded in batches of 512.
    labels : ndarray of int, shape (n,)
        Their class indices into ``class_names``.
    class_names : sequence of str
        The classes, each prompted as ``"a photo of a {c}."``.
    device : str or torch.device, default="cpu"
        Where ``model`` is.
    model_name : str, default="world-tiny"
        The model config, whose preprocessing :func:`images_to_tensor` applies.

    Returns
    -------
    float
        The fraction of images whose nearest class prompt is their class.

    Examples
    --------
    >>> from bottlekit.world import CLASS_NAMES, make_world
    >>> net, _, tokenizer = create_model()
    >>> w = make_world(24, "val", 0, return_masks=False)
    >>> 0.0 <= zero_shot_accuracy(net, tokenizer, w.images, w.labels, CLASS_NAMES) <= 1.0
    True
    """
    model.eval()
    text = model.encode_text(
        tokenizer([f"a photo of a {c}." for c in class_names]).to(device), normalize=True
    )
    correct = 0
    for i in range(0, len(images), 512):
        x = images_to_tensor(images[i : i + 512], device, model_name)
        feats = model.encode_image(x, normalize=True)
        correct += int(
            (feats @ text.T).argmax(1).cpu().eq(torch.from_numpy(labels[i : i + 512])).sum()
        )
    model.train()
    return correct / len(images)


def train(
    n_train: int = 50_000,
    steps: int = 2000,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.1,
    warmup: int = 100,
    seed: int = 0,
    threads: int = 1,
    out_dir: Path | None = DEFAULT_OUT_DIR,
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
    model_name: str = MODEL_NAME,
    captions: str = "sampled",
    hard_negatives: float = 0.0,
    precision: str = "float32",
) -> dict:
    """Train a world CLIP, optionally checkpointed and resumed; returns the run's metadata.

    Parameters
    ----------
    n_train : int
        Training images, drawn once from ``seed``; every epoch draws a new order and new
        captions from a generator seeded by ``(seed, 4242)``.
    steps : int
        Optimiser steps.
    batch_size : int
        Image-caption pairs per step.
    lr : float
        AdamW's peak learning rate.
    weight_decay : float
        AdamW's weight decay.
    warmup : int
        Steps of linear warm-up before the cosine decay (:func:`cosine_with_warmup`).
    seed : int
        Seed of the world, the initial weights and the data order.
    threads : int
        torch's intra-op threads during the run (bit-identical results need the same
        count); the caller's count is put back after it.
    out_dir : Path or None
        Folder for the final weights and their metadata (None: do not write them);
        default ``runs/`` in the working directory. Recorded in the checkpoint, so that
        ``--resume`` writes to the same folder.
    device : str
        Where to train (``"cpu"``, ``"cuda"``).
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
    p_typical_background : float
        Probability of each species' typical background in the training images.
    init : Path or None
        Weights to start from (None: a random initialisation from ``seed``).
    model_name : str
        The architecture, one of :func:`available_models` (default ``world-tiny``); it
        names the weights (``NAME.safetensors``, ``NAME.json`` in ``out_dir``) and is
        recorded, with its config, in the checkpoint.
    captions : {"sampled", "full"}
        ``"sampled"`` (the shipped recipe): each caption names a random subset of the
        drawn concepts (:func:`~bottlekit.world.captions.make_captions`); ``"full"``:
        every drawn concept (:func:`~bottlekit.world.captions.make_full_captions`).
    hard_negatives : float
        Fraction of each batch, in [0, 1], made of one-attribute neighbour pairs
        (:func:`~bottlekit.world.hard_negatives.compose_batch`: ``round(F·B/2)``
        anchors, at most ``B // 2``, each with a neighbour in place of a later image).
        0: the shipped recipe.
    precision : {"float32", "bfloat16"}
        ``"float32"`` (the shipped recipes) or ``"bfloat16"``: the image and text towers'
        forward passes run under :func:`torch.autocast` in bfloat16 (1.24-1.3 times
        faster for a 128-wide model on a CPU with AVX-512 bfloat16, docs/world.md), while
        the weights, AdamW's state and the contrastive loss stay float32.

    Returns
    -------
    dict
        The metadata (``stopped_at_step`` is set and no weights are written when the run
        stopped early).

    Examples
    --------
    Two steps on 16 images (the shipped weights took 2 x 6,000 steps on 50,000):

    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> meta = train(n_train=16, steps=2, batch_size=8, warmup=1, n_val=8, out_dir=out,
    ...              log_every=100)  # doctest: +ELLIPSIS
    generated 16 train images in ...
    step 2/2 epoch 0 loss ...
    step 2 val zero-shot species accuracy ...
    saved .../world-tiny.safetensors
    >>> meta["steps"], sorted(p.name for p in out.iterdir())
    (2, ['world-tiny.json', 'world-tiny.safetensors'])
    """
    import open_clip

    from bottlekit.world.checkpoint import (
        read_checkpoint,
        restore_training_state,
        write_checkpoint,
    )
    from bottlekit.world.dataset import make_world
    from bottlekit.world.species import CLASS_NAMES

    _check_run_arguments(
        n_train=n_train,
        n_val=n_val,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        warmup=warmup,
        seed=seed,
        threads=threads,
        log_every=log_every,
        save_every=save_every,
        device=device,
        init=None if resume is not None else init,  # a resumed run reads no init file
        p_typical_background=p_typical_background,
    )
    # numpy numbers pass the checks; the run's records (JSON) take Python's
    n_train, n_val, steps, batch_size, warmup, seed, threads = (
        int(v) for v in (n_train, n_val, steps, batch_size, warmup, seed, threads)
    )
    lr, weight_decay = float(lr), float(weight_decay)
    p_typical_background = float(p_typical_background)
    _check_train_options(
        out_dir=out_dir,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        stop_after=stop_after,
        steps=steps,
        captions=captions,
        hard_negatives=hard_negatives,
        precision=precision,
        model_name=model_name,
    )
    model_cfg = load_model_config(model_name)
    n_pairs = min(round(hard_negatives * batch_size / 2), batch_size // 2)
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
        "captions": captions,
        "hard_negatives": float(hard_negatives),
        "precision": precision,
    }
    ckpt = None
    if resume is not None:
        ckpt = read_checkpoint(resume)
        _check_resume_config(ckpt, config, model_name)
        warn_if_not_bit_for_bit(ckpt, threads)
        done = ckpt.meta["progress"]["step"]
        if stop_after is not None and stop_after < steps and stop_after <= done:
            # before: trained nothing and reported "stopped at step <done>"
            raise ValueError(
                f"stop_after: {stop_after} is not after the checkpoint's step {done}; expected "
                f"a step in ({done}, {steps}], or leave stop_after out to finish the run"
            )

    with torch_threads(threads), _run_generators(seed, device):
        t_start = time.monotonic()  # (a clock set back cannot make a duration < 0)
        cpu_start = time.process_time()
        world = make_world(
            n_train,
            "train",
            random_state=seed,
            return_masks=False,
            p_typical_background=p_typical_background,
        )
        val = make_world(n_val, "val", random_state=seed, return_masks=False)
        print(f"generated {n_train} train images in {time.monotonic() - t_start:.1f}s", flush=True)
        fingerprint = (
            world_fingerprint(world) if checkpoint is not None or ckpt is not None else ""
        )
        if ckpt is not None and ckpt.meta["world_sha256"] != fingerprint:
            from bottlekit.world.checkpoint import CheckpointError

            raise CheckpointError(
                f"the regenerated training world (sha256 {fingerprint[:16]}…) differs from the "
                f"one checkpoint {str(ckpt.path)!r} was trained on "
                f"({ckpt.meta['world_sha256'][:16]}…): the renderer or numpy changed"
            )
        model, _, tokenizer = create_model(device, model_name)
        pairs = _TrainingPairs(
            world,
            tokenizer,
            batch_size=batch_size,
            captions=captions,
            n_pairs=n_pairs,
            context_length=model_cfg["text_cfg"]["context_length"],
            device=device,
            model_name=model_name,
        )
        init_meta = None
        if ckpt is not None:
            init_meta = ckpt.meta["init"]
        elif init is not None:
            init_meta = _load_init(model, init, device, model_name)
        model.train()
        loss_fn = open_clip.ClipLoss()
        device_type, mixed = torch.device(device).type, precision == "bfloat16"
        opt = torch.optim.AdamW(
            _param_groups(model, weight_decay), lr=lr, betas=(0.9, 0.98), eps=1e-6
        )
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: cosine_with_warmup(s, steps, warmup)
        )
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
            print(
                f"resumed from {ckpt.path} at step {step} (epoch {epoch}, batch {skip}); "
                f"weights go to {out_dir}",
                flush=True,
            )
        step_at_start, t0 = step, time.time()
        saved_step = step if ckpt is not None else None  # of the last checkpoint

        def save_checkpoint(next_batch: int, epoch_rng_state: dict) -> None:
            progress = {
                "step": step,
                "epoch": epoch,
                "next_batch": next_batch,
                "epoch_rng_state": epoch_rng_state,
                "losses": losses,
                "last_val_zero_shot": acc,
                "train_seconds": round(seconds_before + time.monotonic() - t_start, 1),
                "train_cpu_seconds": round(
                    cpu_seconds_before + time.process_time() - cpu_start, 1
                ),
                "sittings": sittings,
            }
            meta = _checkpoint_meta(
                progress,
                model_name=model_name,
                model_cfg=model_cfg,
                config=config,
                world_sha256=fingerprint,
                init_meta=init_meta,
                out_dir=out_dir,
                threads=threads,
            )
            write_checkpoint(checkpoint, model=model, optimizer=opt, scheduler=sched, meta=meta)

        last = stop_after if stop_after is not None else steps
        while step < last:
            batches = pairs.draw_epoch(rng)
            for batch in range(skip, len(batches)):
                if step >= last:
                    break
                x, t = batches.batch(batch)
                with torch.autocast(device_type, dtype=torch.bfloat16, enabled=mixed):
                    img_f, txt_f, scale = model(x, t)[:3]
                loss = loss_fn(img_f.float(), txt_f.float(), scale.float())  # float32: no-ops
                value = loss.item()
                if not math.isfinite(value):  # diverged: saving would record NaN weights
                    raise ValueError(
                        f"the loss is {value} at step {step + 1}: the run diverged (lr={lr}, "
                        f"warmup={warmup}); {_saved_so_far(checkpoint, saved_step)}; lower lr "
                        "or lengthen warmup"
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                with torch.no_grad():
                    model.logit_scale.clamp_(0, math.log(100))
                losses.append(value)
                step += 1
                if step % log_every == 0 or step == steps:
                    rate = (step - step_at_start) * batch_size / (time.time() - t0)
                    print(
                        f"step {step}/{steps} epoch {epoch} "
                        f"loss {np.mean(losses[-log_every:]):.4f} "
                        f"scale {model.logit_scale.exp().item():.1f} "
                        f"lr {sched.get_last_lr()[0]:.2e} {rate:.0f} pairs/s",
                        flush=True,
                    )
                if out_dir is not None and step % save_every == 0 and step < steps:
                    partial = {"model": model_name, "partial_step": step}
                    save_weights(model, Path(out_dir), partial, model_name)
                if step % 300 == 0 or step == steps:
                    acc = zero_shot_accuracy(
                        model, tokenizer, val.images, val.labels, CLASS_NAMES, device, model_name
                    )
                    print(f"step {step} val zero-shot species accuracy {acc:.3f}", flush=True)
                if checkpoint is not None and (
                    step % checkpoint_every == 0 or step in (steps, stop_after)
                ):
                    save_checkpoint(batch + 1, batches.rng_state)
                    saved_step = step
            skip = 0
            if step < last:
                epoch += 1
        meta = _run_metadata(
            config,
            model_name=model_name,
            init_meta=init_meta,
            threads=threads,
            final_loss=float(np.mean(losses[-50:])),
            val_zero_shot=acc,
            train_seconds=round(seconds_before + time.monotonic() - t_start, 1),
            train_cpu_seconds=round(cpu_seconds_before + time.process_time() - cpu_start, 1),
        )
        if sittings > 1:
            meta["sittings"] = sittings
        if step < steps:
            meta["stopped_at_step"] = step
            print(f"stopped at step {step}/{steps}; resume with --resume {checkpoint}", flush=True)
            return meta
        if out_dir is not None:
            path = save_weights(model, Path(out_dir), meta, model_name)
            print(f"saved {path}", flush=True)
        return meta
