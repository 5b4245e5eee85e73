"""The world's CLIP: the model configs shipped in ``bottlekit/model_configs``, building an
untrained model from one, and its image preprocessing."""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bottlekit._checks import check_choice

#: The default model (the shipped weights); ``--model`` picks another config.
MODEL_NAME = "world-tiny"
CONFIG_DIR = Path(__file__).resolve().parent.parent / "model_configs"
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
    ValueError: model: expected one of the shipped model configs ...; did you mean 'world-tiny'?
    """
    names = available_models()
    expected = (
        f"one of the shipped model configs {', '.join(names)} (the JSON files in {CONFIG_DIR})"
    )
    name = check_choice(name, names, "model", expected=expected)
    return json.loads((CONFIG_DIR / f"{name}.json").read_text())


def create_model(
    device: str | torch.device = "cpu", model: str = MODEL_NAME
) -> tuple[Any, Callable, Callable]:
    """Register the shipped configs with open_clip and build an untrained ``model``.

    Parameters
    ----------
    device : str or torch.device
        Where the model is built.
    model : str
        One of :func:`available_models` (default ``world-tiny``).

    Returns
    -------
    model : open_clip.CLIP
        The untrained model (random weights).
    preprocess : callable
        open_clip's evaluation transform (PIL image → normalised tensor).
    tokenizer : callable
        open_clip's tokenizer for the config (SimpleTokenizer, context 32).

    Examples
    --------
    >>> net, preprocess, tokenizer = create_model()
    >>> tokenizer(["a photo of a bird."]).shape
    torch.Size([1, 32])
    """
    import open_clip

    load_model_config(model)  # a clear error for an unknown name
    open_clip.add_model_config(str(CONFIG_DIR))
    net, _, preprocess = open_clip.create_model_and_transforms(model, device=device)
    tokenizer = open_clip.get_tokenizer(model)
    return net, preprocess, tokenizer


@functools.lru_cache(maxsize=8)
def world_preprocess(model: str = MODEL_NAME) -> Callable:
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

    Parameters
    ----------
    images : array, list of arrays or PIL images, or any image input of bottlekit
        The images.
    device : str or torch.device, default "cpu"
        Where the tensor goes.
    model : str, default "world-tiny"
        The model config whose preprocessing is applied.

    Returns
    -------
    torch.Tensor of shape (n, 3, H, W)
        The normalised input.

    Examples
    --------
    >>> import numpy as np
    >>> x = images_to_tensor(np.zeros((2, 64, 64, 3), np.uint8))
    >>> x.shape, bool(torch.allclose(x[0, :, 0, 0], -torch.tensor(MEAN) / torch.tensor(STD)))
    (torch.Size([2, 3, 64, 64]), True)
    """
    from bottlekit.backbones import preprocess_images

    return preprocess_images(world_preprocess(model), images).to(device)


def _model_name(value: str) -> str:
    """argparse type of ``--model``: a shipped config's name."""
    names = available_models()
    if value not in names:
        raise argparse.ArgumentTypeError(
            f"unknown model {value!r}; the shipped configs (bottlekit/model_configs) are: "
            + ", ".join(names)
        )
    return value
