"""Features of a trained torch classifier: the input of its last linear layer, or its logits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from bottlekit._arrays import check_real_tensor
from bottlekit._checks import check_choice, check_number
from bottlekit.devices import as_tensor

__all__ = ["SPACES", "model_features"]


SPACES = ("features", "logits")
"""Where an audit reads a torch classifier: penultimate features or logits."""


def _default_preprocess(images: np.ndarray) -> torch.Tensor:
    """uint8 (n, H, W, 3) → float (n, 3, H, W) in [0, 1]."""
    x = as_tensor(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    return x.to(torch.float32).div(255.0)


def _last_linear(model: torch.nn.Module, x: torch.Tensor) -> str:
    """Name of the ``nn.Linear`` that runs last in ``model``'s forward pass on ``x``."""
    order: list[str] = []
    handles = [
        m.register_forward_hook(lambda mod, args, out, name=name: order.append(name))
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear)
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    if not order:
        raise ValueError(
            "feature_layer: the model has no nn.Linear that runs in its forward pass; name the "
            "feature layer (feature_layer='module.name') or give a callable"
        )
    return order[-1]


class _FeatureTap:
    """Forward pass of a classifier returning (features, logits), both differentiable."""

    def __init__(self, model: torch.nn.Module, feature_layer: Any, space: str) -> None:
        self.model = model
        self.feature_layer = feature_layer
        self.space = space
        self.layer_name: str | None = None

    def resolve(self, x: torch.Tensor) -> None:
        if self.space == "logits" or callable(self.feature_layer):
            return
        if self.feature_layer is None:
            self.layer_name = _last_linear(self.model, x)
            return
        if not isinstance(self.feature_layer, str):
            raise TypeError(
                "feature_layer: expected None, a module name (str) or a callable "
                f"features(x) -> (n, d); got {type(self.feature_layer).__name__}"
            )
        names = dict(self.model.named_modules())
        if self.feature_layer not in names:
            close = [n for n in names if n and self.feature_layer.split(".")[-1] in n][:5]
            raise ValueError(
                f"feature_layer: the model has no module {self.feature_layer!r}"
                + (f" (similar: {close})" if close else "")
            )
        self.layer_name = self.feature_layer

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.space == "logits":
            logits = self.model(x)
            return logits, logits
        if callable(self.feature_layer):
            feats = self.feature_layer(x)
            if not isinstance(feats, torch.Tensor) or feats.ndim != 2 or len(feats) != len(x):
                raise TypeError(
                    f"feature_layer: the callable must return a tensor (n={len(x)}, d) of "
                    f"features, got {getattr(feats, 'shape', type(feats).__name__)}"
                )
            return feats, self.model(x)
        captured: dict[str, torch.Tensor] = {}
        module = dict(self.model.named_modules())[self.layer_name]
        is_linear = self.feature_layer is None

        def hook(mod: Any, args: tuple, out: torch.Tensor) -> None:
            captured["f"] = args[0] if is_linear else out

        handle = module.register_forward_hook(hook)
        try:
            logits = self.model(x)
        finally:
            handle.remove()
        feats = captured["f"]
        return feats.reshape(len(feats), -1), logits


def model_features(
    model: torch.nn.Module,
    images: Any,
    *,
    feature_layer: str | Callable[[torch.Tensor], torch.Tensor] | None = None,
    preprocess: Callable[[np.ndarray], torch.Tensor] | None = None,
    space: str = "features",
    batch_size: int = 64,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    r"""Features and logits of a torch image classifier.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a float batch (n, 3, H', W') to logits (n, C).
    images : images accepted by :func:`bottlekit.images.as_image_source`
        Read batch by batch into uint8 arrays (n, H, W, 3) for ``preprocess``; the images
        of a batch must have one size.
    feature_layer : str, callable or None
        ``None``: the *input* of the last ``nn.Linear`` to run in the forward pass (the
        penultimate features of a classifier ending in a linear head), found with forward
        hooks on a first batch. A module name: that module's *output* (flattened). A
        callable: ``feature_layer(x) -> (n, d)`` on the preprocessed batch.
    preprocess : callable, optional
        uint8 images (n, H, W, 3) → float tensor batch; default ``x / 255`` in (n, 3, H, W).
    space : {"features", "logits"}
        Return the features or, as features, the logits themselves (then
        ``feature_layer`` must be None).
    batch_size : int, default 64
        Images per forward pass.
    device : str or torch.device, default "cpu"
        Where the input batches go (put the model there first; it is not moved).

    Returns
    -------
    features : ndarray of shape (n, d), float32
        The features of each image (the logits with ``space="logits"``).
    logits : ndarray of shape (n, C), float32
        The model's logits of each image.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(
    ...     torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 5), torch.nn.ReLU(),
    ...     torch.nn.Linear(5, 2))
    >>> images = np.zeros((3, 4, 4, 3), dtype=np.uint8)
    >>> features, logits = model_features(model, images)
    >>> features.shape, logits.shape, features.dtype
    ((3, 5), (3, 2), dtype('float32'))
    """
    from bottlekit.devices import resolve_device
    from bottlekit.images import as_image_source

    space = check_choice(space, SPACES, "space")
    if space == "logits" and feature_layer is not None:  # it was ignored, silently
        raise ValueError(
            "feature_layer: space='logits' reads the logits, not a feature layer; leave "
            f"feature_layer None or use space='features', got {feature_layer!r}"
        )
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    batch_size = check_number(
        batch_size, "batch_size", integer=True, low=1, expected="a positive int"
    )
    if preprocess is not None and not callable(preprocess):
        raise TypeError(
            "preprocess: expected a callable uint8 images (n, H, W, 3) -> float tensor, or "
            f"None, got {type(preprocess).__name__}"
        )
    source = as_image_source(images)
    dev = resolve_device(device)
    prep = preprocess or _default_preprocess
    tap = _FeatureTap(model, feature_layer, space)
    was_training = model.training
    model.eval()
    feats, logits = [], []
    try:
        with torch.no_grad():
            for start in range(0, len(source), int(batch_size)):
                batch = source.to_array(slice(start, start + int(batch_size)))
                x = _prepared(prep, batch, dev)
                try:
                    if start == 0:
                        tap.resolve(x)
                    f, z = tap(x)
                except RuntimeError as exc:  # shape errors from inside the model
                    raise ValueError(
                        f"model: failed on a batch of shape {tuple(x.shape)} made from images "
                        f"of size {batch.shape[1]}x{batch.shape[2]}: {str(exc)[:300]}. Are the "
                        "images the size the model expects? Pass preprocess= to resize them."
                    ) from None
                feats.append(f.float().cpu().numpy())
                logits.append(_check_logits(z).float().cpu().numpy())
    finally:
        model.train(was_training)
    F_, Z = np.concatenate(feats), np.concatenate(logits)
    if not np.isfinite(F_).all() or not np.isfinite(Z).all():
        raise ValueError("model: its features or logits contain NaN or inf on these images")
    return F_.astype(np.float32), Z.astype(np.float32)


def _prepared(prep: Callable, images: np.ndarray, dev: torch.device) -> torch.Tensor:
    x = prep(images)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(
            f"preprocess: must return a float torch tensor, got {type(x).__name__}"
            + (f" of dtype {x.dtype}" if isinstance(x, torch.Tensor) else "")
        )
    check_real_tensor(x, "preprocess: the returned tensor")
    if len(x) != len(images):
        raise ValueError(f"preprocess: returned {len(x)} items for {len(images)} images")
    return x.to(dev)


def _check_logits(z: Any) -> torch.Tensor:
    if not isinstance(z, torch.Tensor) or z.ndim != 2:
        raise ValueError(
            "model: expected its forward pass to return logits of shape (n, n_classes), got "
            f"{getattr(z, 'shape', type(z).__name__)}"
        )
    return z.detach()


# ------------------------------------------------------------------------- spurious
