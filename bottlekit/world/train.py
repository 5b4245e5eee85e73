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

#: The default model (the shipped weights); ``--model`` picks another config.
MODEL_NAME = "world-tiny"
CONFIG_DIR = Path(__file__).resolve().parent.parent / "model_configs"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
#: Where a run writes its weights unless told otherwise: ``runs/`` under the working
#: directory, never the package's own ``weights/`` (whose files the pretrained table checks).
DEFAULT_OUT_DIR = Path("runs")
WEIGHTS_FILE = f"{MODEL_NAME}.safetensors"
METADATA_FILE = f"{MODEL_NAME}.json"
#: Caption recipes of ``--captions``: the shipped random subset, or every drawn concept.
CAPTION_RECIPES = ("sampled", "full")
# open_clip's default (OpenAI CLIP) normalisation, applied by its preprocess transform
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def available_models() -> tuple[str, ...]:
    """Names of the model configs shipped in ``bottlekit/model_configs`` (file stems).

    Returns
    -------
    tuple of str
        Sorted names, each usable as ``--model`` of ``python -m bottlekit.world.train``.

    Examples
    --------
    >>> {"world-tiny", "world-small"} <= set(available_models())
    True
    """
    return tuple(sorted(p.stem for p in CONFIG_DIR.glob("*.json")))


def load_model_config(name: str = MODEL_NAME) -> dict:
    """The open_clip config of a shipped model, as stored in ``model_configs/NAME.json``.

    Parameters
    ----------
    name : str
        One of :func:`available_models`.

    Returns
    -------
    dict
        ``embed_dim``, ``vision_cfg``, ``text_cfg``.

    Examples
    --------
    >>> load_model_config("world-small")["vision_cfg"]["patch_size"]
    4
    >>> load_model_config("world-huge")
    Traceback (most recent call last):
    ...
    ValueError: model='world-huge' is not a shipped model config; available: ...
    """
    names = available_models()
    if name not in names:
        raise ValueError(
            f"model={name!r} is not a shipped model config; available: {', '.join(names)} "
            f"(the JSON files in {CONFIG_DIR})"
        )
    return json.loads((CONFIG_DIR / f"{name}.json").read_text())


def create_model(device: str | torch.device = "cpu", model: str = MODEL_NAME):
    """Register the shipped configs with open_clip and build an untrained ``model``.

    Parameters
    ----------
    device : str or torch.device
    model : str
        One of :func:`available_models` (default ``world-tiny``).

    Returns
    -------
    model : open_clip.CLIP
    preprocess : callable
        open_clip's evaluation transform (PIL image → normalised tensor).
    tokenizer : callable
        open_clip's tokenizer for the config (SimpleTokenizer, context 32).
    """
    import open_clip

    load_model_config(model)  # a clear error for an unknown name
    open_clip.add_model_config(str(CONFIG_DIR))
    net, _, preprocess = open_clip.create_model_and_transforms(model, device=device)
    tokenizer = open_clip.get_tokenizer(model)
    return net, preprocess, tokenizer


@functools.lru_cache(maxsize=8)
def world_preprocess(model: str = MODEL_NAME):
    """A shipped model's evaluation transform, as ``load_backbone(model).preprocess``.

    open_clip's transform for the config's image size (64 for world-tiny and
    world-small) with OpenAI CLIP's normalisation (:data:`MEAN`, :data:`STD`).
    """
    from open_clip.transform import PreprocessCfg, image_transform_v2

    size = int(load_model_config(model)["vision_cfg"]["image_size"])
    return image_transform_v2(PreprocessCfg(size=size, mean=MEAN, std=STD), is_train=False)


def images_to_tensor(
    images: Any, device: str | torch.device = "cpu", model: str = MODEL_NAME
) -> torch.Tensor:
    """Images → the model's normalised input (n, 3, H, W) on ``device``.

    The images go through :func:`bottlekit.images.as_image_source` and the model's
    preprocessing (:func:`bottlekit.backbones.preprocess_images` with
    :func:`world_preprocess`), as every other image input of bottlekit does; for uint8
    64 x 64 arrays and a 64-pixel model that is ``(x / 255 - MEAN) / STD``.
    """
    from bottlekit.backbones import preprocess_images

    return preprocess_images(world_preprocess(model), images).to(device)


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


def save_weights(
    model: torch.nn.Module, out_dir: Path, metadata: dict, name: str = MODEL_NAME
) -> Path:
    """Write ``NAME.safetensors`` (float32 state dict) and ``NAME.json``, atomically."""
    from safetensors.torch import save

    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    blob = _canonical_header(save(state, metadata={"format": "pt", "model": name}))
    path = out_dir / f"{name}.safetensors"
    atomic_write_bytes(path, blob)
    metadata = dict(metadata, sha256=hashlib.sha256(blob).hexdigest(), bytes=len(blob))
    atomic_write_text(out_dir / f"{name}.json", json.dumps(metadata, indent=2) + "\n")
    return path


@torch.no_grad()
def zero_shot_accuracy(
    model, tokenizer, images, labels, class_names, device="cpu", model_name=MODEL_NAME
) -> float:
    """Top-1 accuracy of ``argmax_c cos(image, "a photo of a {c}.")`` (quick check)."""
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
    **every,
) -> None:
    """Refuse run arguments that cannot train before anything is drawn or built: a batch
    larger than the world (no full batch: the loop would never take a step), no steps (the
    random initial weights would be saved as a finished run), a non-finite learning rate."""
    from bottlekit._checks import check_number
    from bottlekit.devices import resolve_device

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
    check_number(seed, "seed", integer=True, low=0)
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
    model_name,
) -> None:
    """Refuse the options of :func:`train` beyond the run's (paths, checkpoints, recipe)
    before any work, so that a long run never fails at its end."""
    from bottlekit.atomic import check_output_path

    if checkpoint is not None and Path(checkpoint).suffix != ".json":
        raise ValueError(f"checkpoint={str(checkpoint)!r}; expected a path ending in .json")
    if out_dir is not None:  # checked now, not after the run
        check_output_path(Path(out_dir) / f"{model_name}.safetensors", "out_dir")
    if checkpoint is not None:
        check_output_path(checkpoint, "checkpoint", is_file=True)
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int):
        raise TypeError(f"checkpoint_every={checkpoint_every!r}; expected a positive int")
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every={checkpoint_every!r}; expected a positive int")
    if stop_after is not None and not 1 <= stop_after <= steps:
        raise ValueError(f"stop_after={stop_after!r}; expected an int in [1, steps={steps}]")
    if captions not in CAPTION_RECIPES:
        raise ValueError(f"captions={captions!r}; expected one of {CAPTION_RECIPES}")
    if isinstance(hard_negatives, bool) or not isinstance(hard_negatives, (int, float)):
        raise TypeError(f"hard_negatives={hard_negatives!r}; expected a float in [0, 1]")
    if not 0.0 <= hard_negatives <= 1.0:
        raise ValueError(f"hard_negatives={hard_negatives!r}; expected a float in [0, 1]")


def _load_init(model: torch.nn.Module, init: Path | str, device: str, model_name: str) -> dict:
    """Load the starting weights ``init`` into ``model``; returns what the run records of
    them (file name and SHA-256, so that a recipe chains its stages)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(init), device=str(device))
    except SafetensorError as exc:
        raise ValueError(
            f"init: {str(init)!r} is not a safetensors file of {model_name!r} weights "
            f"({exc}); expected the .safetensors file a run of this model wrote"
        ) from None
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"init: {str(init)!r} does not fit {model_name!r}: {exc}") from None
    meta = {
        "file": Path(init).name,
        "sha256": hashlib.sha256(Path(init).read_bytes()).hexdigest(),
    }
    print(f"initialised from {init}", flush=True)
    return meta


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
    for key in ("weight_decay", "init", "n_val", "captions", "hard_negatives"):
        if c[key] != RUN_DEFAULTS[key]:
            command += f" --{key.replace('_', '-')} {c[key]}"
    return {
        "model": model_name,
        **{k: c[k] for k in ("seed", "n_train", "p_typical_background")},
        "init": init_meta,
        **{k: c[k] for k in ("steps", "batch_size", "lr", "weight_decay", "warmup")},
        **{k: c[k] for k in ("captions", "hard_negatives")},
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
) -> dict:
    """Train a world CLIP, optionally checkpointed and resumed; returns the run's metadata.

    Parameters
    ----------
    n_train, steps, batch_size, lr, weight_decay, warmup, seed, p_typical_background, init
        The run (see the command line's help). ``n_train`` world images are drawn once
        from ``seed``; every epoch draws a new order and new captions from a generator
        seeded by ``(seed, 4242)``.
    threads : int
        torch's intra-op threads (bit-identical results need the same count).
    out_dir : Path or None
        Folder for the final weights and their metadata (None: do not write them);
        default ``runs/`` in the working directory. Recorded in the checkpoint, so that
        ``--resume`` writes to the same folder.
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
    )
    _check_train_options(
        out_dir=out_dir,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        stop_after=stop_after,
        steps=steps,
        captions=captions,
        hard_negatives=hard_negatives,
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
    }
    ckpt = None
    if resume is not None:
        ckpt = read_checkpoint(resume)
        _check_resume_config(ckpt, config, model_name)

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
    model, _, tokenizer = create_model(device, model_name)
    neighbours = None
    if n_pairs > 0:
        from bottlekit.world.hard_negatives import OneAttributeNeighbours, compose_batch

        neighbours = OneAttributeNeighbours(world.concept_labels)
    if captions == "full":
        from bottlekit.world.captions import make_full_captions

        budget = int(model_cfg["text_cfg"]["context_length"]) - 2  # start and end tokens
        caption_args = {"count_tokens": lambda s: len(tokenizer.encode(s)), "max_tokens": budget}
    init_meta = None
    if ckpt is not None:
        init_meta = ckpt.meta["init"]
    elif init is not None:
        init_meta = _load_init(model, init, device, model_name)
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
        print(
            f"resumed from {ckpt.path} at step {step} (epoch {epoch}, batch {skip}); "
            f"weights go to {out_dir}",
            flush=True,
        )
    step_at_start, t0 = step, time.time()

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
            "model": model_name,
            "model_config": model_cfg,
            "config": config,
            "progress": progress,
            "world_sha256": fingerprint,
            "init": init_meta,
            "out_dir": None if out_dir is None else str(Path(out_dir).resolve()),
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
        if captions == "full":
            texts = make_full_captions(
                world.labels, world.concept_labels, CLASS_NAMES, rng, **caption_args
            )
        else:
            texts = make_captions(world.labels, world.concept_labels, CLASS_NAMES, rng)
        tokens = tokenizer(texts)
        if neighbours is not None:
            partners = neighbours.draw(order, rng)
        for batch, b in enumerate(range(0, n_train - batch_size + 1, batch_size)):
            if batch < skip:
                continue
            if step >= last:
                break
            if neighbours is None:
                idx = np.sort(order[b : b + batch_size])
            else:
                idx = compose_batch(
                    order[b : b + batch_size], partners[b : b + batch_size], n_pairs
                )
            x = images_to_tensor(world.images[idx], device, model_name)
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
                save_checkpoint(batch + 1, epoch_rng_state)
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
        train_seconds=round(seconds_before + time.time() - t_start, 1),
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


def _model_name(value: str) -> str:
    """argparse type of ``--model``: a shipped config's name."""
    names = available_models()
    if value not in names:
        raise argparse.ArgumentTypeError(
            f"unknown model {value!r}; the shipped configs (bottlekit/model_configs) are: "
            + ", ".join(names)
        )
    return value


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    ):  # fmt: skip
        key = flag[2:].replace("-", "_")
        choices = CAPTION_RECIPES if key == "captions" else None
        run.add_argument(
            flag, type=kind, default=None, choices=choices, help=f"{help_} [{RUN_DEFAULTS[key]}]"
        )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"folder for the weights [{DEFAULT_OUT_DIR}/; with --resume: the resumed run's]",
    )
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="sidecar of the training checkpoint [checkpoints/MODEL.json; "
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
    model_name = a.model or MODEL_NAME
    if a.resume is not None:
        from bottlekit.world.checkpoint import read_checkpoint

        ckpt = read_checkpoint(a.resume)
        base.update(ckpt.meta["config"])
        model_name = a.model or ckpt.meta["model"]
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
        threads=a.threads,
        out_dir=out_dir,
        device=a.device,
        checkpoint=checkpoint,
        checkpoint_every=a.checkpoint_every,
        resume=a.resume,
        stop_after=a.stop_after,
        model_name=model_name,
    )


if __name__ == "__main__":
    main()
