"""CLIP backbones over open_clip: load, preprocess, encode images and texts.

:func:`load_backbone` is the one entry point. It accepts any open_clip model name
(``"ViT-B-32"``, ``"RN50"``, ...), an ``hf-hub:`` id, or a bottlekit architecture
registered through open_clip's own config mechanism (the JSON files in
``bottlekit/model_configs`` and anything passed to :func:`register_model_config`).
Weights come from bottlekit's pretrained table (:mod:`bottlekit.pretrained`: the
weights shipped inside bottlekit, e.g. ``"world-tiny"``), an open_clip pretrained tag
(resolved through open_clip's own download and cache path), a local checkpoint file, or
random initialisation.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import open_clip
import torch
from open_clip.transform import PreprocessCfg, image_transform_v2
from tqdm.auto import tqdm

from bottlekit import pretrained as _pretrained
from bottlekit._arrays import output_array
from bottlekit._backbone_weights import (
    check_cache_dir,
    check_model_name,
    create_model,
    find_local_weights,
    register_model_config,
    resolve_weights,
)
from bottlekit._checks import check_bool, check_number, check_positive_int
from bottlekit._deprecation import renamed_argument
from bottlekit._preprocessing import (
    PreprocessedImages,
    identity_size_normalisation,
    jpeg_draft_size,
    normalise_uint8_batch,
    normalised_array_batches,
    preprocess_images,
    split_normalisation,
)
from bottlekit._vit_tokens import check_token_tower, vit_patch_tokens
from bottlekit.devices import resolve_device, torch_threads
from bottlekit.images import as_image_source
from bottlekit.pretrained import WeightsNotFoundError

__all__ = [
    "Backbone",
    "WeightsNotFoundError",
    "list_backbones",
    "load_backbone",
    "preprocess_images",
    "register_model_config",
]


def load_backbone(
    name: str,
    pretrained: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    *,
    cache_dir: str | None = None,
    random_state: int = 0,
    seed: int | None = None,
) -> Backbone:
    """Load a CLIP backbone.

    Parameters
    ----------
    name : str
        An open_clip model name (``"ViT-B-32"``, ``"RN50"``, ...), a name registered
        with :func:`register_model_config` (bottlekit's own, e.g. ``"world-tiny"``),
        an ``"hf-hub:org/repo"`` id, or a ``"local-dir:/path"`` holding an
        ``open_clip_config.json`` and weights.
    pretrained : str, PathLike or None, default None
        - an open_clip pretrained tag (``"laion2b_s34b_b79k"``, ``"openai"``, ...):
          the weights are looked up in open_clip's caches (the Hugging Face hub cache,
          ``~/.cache/clip``) and downloaded through open_clip when missing and online;
        - a path to a local checkpoint file (``.safetensors``, ``.bin``, ``.pt``);
        - ``None``: the weights shipped with bottlekit for its own models
          (``"world-tiny"``; the table of :mod:`bottlekit.pretrained`), random weights
          for every other name;
        - ``"random"``: random weights even where bottlekit ships some.

        When pretrained weights are asked for and cannot be had, a
        :class:`WeightsNotFoundError` names the missing file and how to provide it;
        there is never a silent fallback to random weights.
    device : str, torch.device or None
        Where the model runs; ``None`` picks CUDA when available, else the CPU.
    cache_dir : str, optional
        Download/cache folder passed to open_clip (default: open_clip's defaults).
    random_state : int, default 0
        Seed of the random initialisation, so random-weight backbones are
        reproducible (ignored when weights are loaded).
    seed : int, optional
        Deprecated alias of ``random_state`` (a FutureWarning).

    Returns
    -------
    Backbone
        The model in eval mode on ``device``, with its preprocessing and tokenizer.

    Raises
    ------
    ValueError
        Unknown model name (with close matches), unknown tag, a checkpoint that does
        not fit the architecture, shipped weights that fail their SHA-256 check.
    WeightsNotFoundError
        Pretrained weights are not available offline.

    Examples
    --------
    >>> bk = load_backbone("ViT-B-32")  # random weights
    >>> bk.embed_dim
    512
    """
    random_state, given_as = renamed_argument(
        "load_backbone", "random_state", random_state, "seed", seed, 0
    )
    # torch.manual_seed's seeds: ints, negative ones too (not check_seed's numpy seeds)
    random_state = check_number(
        random_state,
        given_as,
        integer=True,
        low=-(2**63),
        high=2**64,
        high_open=True,
        expected="an int seed in [-2**63, 2**64)",
        type_error=True,
    )
    check_cache_dir(cache_dir)
    dev = resolve_device(device)
    cleaned = check_model_name(name)
    if pretrained is not None and not isinstance(pretrained, (str, os.PathLike)):
        raise TypeError(f"pretrained: expected a tag, a path or None, got {pretrained!r}")
    tag = os.fspath(pretrained) if pretrained is not None else None
    w = resolve_weights(cleaned, tag, cache_dir)
    model = create_model(
        w.model_name, w.checkpoint, w.preprocess_cfg, dev, cache_dir, random_state, w.label
    )
    _pooled_outputs_only(model)
    tokenizer = open_clip.get_tokenizer(w.model_name, cache_dir=cache_dir)
    return Backbone(model, tokenizer, name=cleaned, weights=w.label, device=dev)


def _pooled_outputs_only(model: torch.nn.Module) -> None:
    """Turn off a config's ``output_tokens`` in the towers of a CLIP that bottlekit built.

    With ``"output_tokens": true`` in ``vision_cfg`` or ``text_cfg`` a tower returns
    ``(pooled, tokens)`` and open_clip's ``encode_image`` / ``encode_text`` pass the pair
    on, which failed inside :meth:`Backbone.encode_images` (``'tuple' object has no
    attribute 'float'``). Every bottlekit path reads the pooled embedding; the patch-token
    path turns the flag on for its own call. The weights do not depend on the flag. CoCa
    keeps it: its towers always return tokens and its ``encode_image`` takes the pooled
    part itself.
    """
    if isinstance(model, open_clip.CoCa):
        return
    for tower in (getattr(model, "visual", None), getattr(model, "text", None)):
        if getattr(tower, "output_tokens", False):
            tower.output_tokens = False


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        return os.cpu_count() or 1


def _model_threads(device: torch.device, num_workers: int) -> int | None:
    """Intra-op threads for the model while ``num_workers`` DataLoader workers decode.

    ``model_threads="auto"``: the workers decode on their own cores while the model runs,
    so on the CPU the model gets the cores they leave, ``max(1, cpus - num_workers)``
    (never more than torch's current setting). With torch's default (one thread per core)
    the cores are oversubscribed: its threads wait for each other at every operation
    while a worker holds a core (world-tiny 7-12 x slower on 2 shared cores,
    ``benchmarks/dataset_throughput.py``). ``None`` (leave torch's setting) on an
    accelerator or without workers.

    Examples
    --------
    >>> _model_threads(torch.device("cpu"), 0) is None
    True
    >>> _model_threads(torch.device("cpu"), 10_000)
    1
    """
    if device.type != "cpu" or num_workers < 1:
        return None
    return max(1, min(torch.get_num_threads(), _usable_cpus() - int(num_workers)))


def _check_model_threads(value: Any, device: torch.device, num_workers: int) -> int | None:
    """The intra-op threads of ``model_threads`` (``None``, ``"auto"`` or an int from 1 to
    the CPUs this process may use), checked before any image is read.

    More threads than CPUs only wait for each other, and far more (``100000``) made
    OpenMP abort the process ("libgomp: Out of memory allocating ...").

    Examples
    --------
    >>> _check_model_threads(1, torch.device("cpu"), 0)
    1
    >>> _check_model_threads(10**6, torch.device("cpu"), 0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: model_threads: expected None, 'auto' or an int from 1 to ... got 1000000
    """
    if isinstance(value, str) and value == "auto":
        return _model_threads(device, num_workers)
    if value is None:
        return None
    cpus = _usable_cpus()
    if not (
        isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 1 <= value <= cpus
    ):
        raise ValueError(
            f"model_threads: expected None, 'auto' or an int from 1 to {cpus} (the CPUs "
            f"this process may use), got {value!r}"
        )
    return int(value)


def _finite(
    feats: np.ndarray, backbone: str, offset: int = 0, prompts: list[str] | None = None
) -> np.ndarray:
    """A batch of model outputs as it is, or a ``ValueError`` naming the first input (the
    image at ``offset`` + row, or the prompt) whose embedding holds NaN or infinity, so
    that no NaN leaves the backbone (nor reaches the cache) to fail later, far from its
    cause."""
    finite = np.isfinite(feats).reshape(len(feats), -1).all(axis=1)
    if finite.all():
        return feats
    bad = np.flatnonzero(~finite)
    first = f"prompt {prompts[bad[0]]!r}" if prompts is not None else f"image {offset + bad[0]}"
    raise ValueError(
        f"backbone {backbone!r} returned NaN or infinite embeddings for {len(bad)} input(s) "
        f"of a batch (first: {first}); nothing of that batch is returned or cached. Broken "
        "weights, a broken input or reduced precision (autocast) can cause it"
    )


def _from_worker(exc: BaseException) -> BaseException:
    """The error a DataLoader worker raised, without the worker's traceback in its message.

    torch re-raises a worker's exception as the same type with the message ``Caught
    ValueError in DataLoader worker process 0. Original Traceback ...``; the user needs the
    original message (e.g. which image file is unreadable), not the traceback.
    """
    text = str(exc)
    if "DataLoader worker process" not in text:
        return exc
    last = [line for line in text.strip().splitlines() if line.strip()][-1]
    prefix = f"{type(exc).__name__}: "
    message = last[len(prefix) :] if last.startswith(prefix) else last
    try:
        return type(exc)(message)
    except Exception:  # an exception type that needs other arguments
        return RuntimeError(message)


class Backbone:
    """A CLIP model with its preprocessing and tokenizer, ready to encode.

    Build one with :func:`load_backbone`.

    Parameters
    ----------
    model : torch.nn.Module
        The open_clip model (put in eval mode), already on ``device``.
    tokenizer : callable
        The open_clip tokenizer of the model.
    name : str
        Model name.
    weights : str
        Where the weights came from: a pretrained tag (``"bottlekit"`` for bottlekit's
        own), ``"file:<name>"``, ``"hf-hub"``, ``"local-dir"`` or ``"random"``.
    device : torch.device
        Where the model runs.

    Attributes
    ----------
    model : torch.nn.Module
        The open_clip model, in eval mode.
    preprocess : callable
        The evaluation transform (PIL image → tensor), from the model's preprocessing
        configuration.
    tokenizer : callable
        The open_clip tokenizer of the model.
    name : str
        Model name.
    weights : str
        Where the weights came from.
    device : torch.device
        Where the model runs.

    Examples
    --------
    >>> bk = load_backbone("world-tiny", "random", device="cpu")
    >>> bk.name, bk.weights, bk.embed_dim
    ('world-tiny', 'random', 64)
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        *,
        name: str,
        weights: str,
        device: torch.device,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.weights = weights
        self.device = device
        pp_cfg = PreprocessCfg(**model.visual.preprocess_cfg)
        self.preprocess = image_transform_v2(pp_cfg, is_train=False)
        self._id: str | None = None

    def __repr__(self) -> str:
        return (
            f"Backbone(name={self.name!r}, weights={self.weights!r}, "
            f"embed_dim={self.embed_dim}, device={str(self.device)!r})"
        )

    @property
    def embed_dim(self) -> int:
        """Dimension of the joint image–text embedding space."""
        proj = getattr(self.model.visual, "output_dim", None)
        if proj is None:
            proj = int(self.model.text_projection.shape[-1])
        return int(proj)

    @property
    def id(self) -> str:
        """A stable identity: changes when the weights, preprocessing or tokenizer change.

        ``"<name>/<weights>/<hash>"`` where the hash covers every tensor of the model's
        state dict, the preprocessing pipeline and the tokenizer's settings. Used as
        the embedding-cache key.
        """
        if self._id is None:
            h = hashlib.sha256()
            h.update(self.name.encode())
            pp_cfg = json.dumps(self.model.visual.preprocess_cfg, sort_keys=True, default=str)
            h.update(pp_cfg.encode())
            h.update(type(self.tokenizer).__name__.encode())
            h.update(str(getattr(self.tokenizer, "context_length", "")).encode())
            for key, value in sorted(self.model.state_dict().items()):
                t = value.detach().to("cpu").reshape(-1).contiguous()
                h.update(f"{key}:{t.dtype}:{tuple(value.shape)}".encode())
                h.update(memoryview(t.view(torch.uint8).numpy()))
            self._id = f"{self.name}/{self.weights}/{h.hexdigest()[:16]}"
        return self._id

    def _input_size(self) -> tuple[int, int] | None:
        """The image tower's input (H, W) (None where the tower does not say)."""
        size = getattr(self.model.visual, "image_size", None)
        if isinstance(size, int):
            return size, size
        if isinstance(size, (tuple, list)) and len(size) == 2:
            return int(size[0]), int(size[1])
        return None

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def iter_encode_images(
        self,
        images: Any,
        batch_size: int = 64,
        num_workers: int | None = None,
        jpeg_draft: bool = False,
        model_threads: int | str | None = None,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Embed images batch by batch; yields ``(start, embeddings)`` in input order.

        The streaming form of :meth:`encode_images` (same parameters), for callers
        that persist results as they come, such as :func:`bottlekit.embed`.

        Parameters
        ----------
        images : list of PIL.Image, ndarray, list of paths, folder, or torch Dataset
            See :func:`bottlekit.images.as_image_source`.
        batch_size : int, default 64
            Images per forward pass.
        num_workers : int, optional
            DataLoader worker processes, as in :meth:`encode_images`.
        jpeg_draft : bool, default False
            Decode JPEG files at a reduced DCT scale, as in :meth:`encode_images`.
        model_threads : None, "auto" or int, default None
            torch intra-op threads while the model runs, as in :meth:`encode_images`.

        Returns
        -------
        iterator of (int, ndarray of shape (b, embed_dim), float32)
            Index of the batch's first image and its L2-normalised embeddings; the
            batches come in input order and cover every image once.
        """
        return self._iter_encoded(
            images, batch_size, num_workers, jpeg_draft, model_threads, self.model.encode_image
        )

    def _iter_encoded(
        self,
        images: Any,
        batch_size: int,
        num_workers: int | None,
        jpeg_draft: bool,
        model_threads: int | str | None,
        forward: Any,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """``forward`` of the preprocessed images batch by batch, L2-normalised along its
        last axis, as ``(start, outputs)`` in input order: the one image pipeline of
        :meth:`iter_encode_images` and :meth:`encode_image_tokens`."""
        source = as_image_source(images)
        check_number(batch_size, "batch_size", integer=True, low=1, expected="a positive int")
        # a batch of more than the n images is the n images (torch's sampler refused a
        # batch_size above sys.maxsize from deep inside)
        batch_size = min(int(batch_size), len(source))
        check_bool(jpeg_draft, "jpeg_draft")
        if num_workers is not None:
            check_positive_int(num_workers, "num_workers", minimum=0)
        if num_workers is None:
            num_workers = min(4, os.cpu_count() or 1) if source.kind == "files" else 0
        threads = _check_model_threads(model_threads, self.device, num_workers)
        norm = identity_size_normalisation(self.preprocess, source)
        per_batch = None  # (mean, std) on the device: uint8 batches normalised there
        if norm is not None and num_workers == 0:
            batches: Iterator[torch.Tensor] = normalised_array_batches(
                source.items, int(batch_size), *norm
            )
        else:
            draft = jpeg_draft_size(self.preprocess) if jpeg_draft else None
            prepared = PreprocessedImages(source, self.preprocess, draft, self._input_size())
            split = split_normalisation(self.preprocess) if source.kind != "dataset" else None
            if split is not None:  # workers hand over uint8 crops, normalised per batch below
                prepared.pil_steps = split[0]
            batches = iter(
                torch.utils.data.DataLoader(
                    prepared,
                    batch_size=int(batch_size),
                    shuffle=False,
                    num_workers=num_workers,
                    pin_memory=self.device.type == "cuda",
                )
            )
            if split is not None:
                per_batch = tuple(t.to(self.device) for t in split[1])
        start = 0
        with torch.inference_mode():
            while True:
                # In-process decoding runs single-threaded: per-image tensor ops are tiny and
                # torch's intra-op thread pool only adds overhead there (workers do the same).
                with torch_threads(1 if num_workers == 0 else None):
                    try:
                        batch = next(batches, None)
                    except Exception as exc:
                        raise _from_worker(exc) from None
                if batch is None:
                    break
                batch = batch.to(self.device, non_blocking=True)
                with torch_threads(threads):
                    if per_batch is not None:
                        batch = normalise_uint8_batch(batch, *per_batch)
                    with self._autocast():
                        feats = forward(batch)
                feats = torch.nn.functional.normalize(feats.float(), dim=-1).cpu().numpy()
                yield start, _finite(feats, self.name, offset=start)
                start += len(feats)

    def encode_images(
        self,
        images: Any,
        batch_size: int = 64,
        progress: bool = True,
        num_workers: int | None = None,
        jpeg_draft: bool = False,
        model_threads: int | str | None = None,
    ) -> np.ndarray:
        """Embed images.

        Runs batched under ``torch.inference_mode`` (autocast to float16 on CUDA),
        with a DataLoader that decodes files in worker processes.

        Parameters
        ----------
        images : list of PIL.Image, ndarray, list of paths, folder, or torch Dataset
            See :func:`bottlekit.images.as_image_source`.
        batch_size : int, default 64
            Images per forward pass.
        progress : bool, default True
            Show a tqdm progress bar.
        num_workers : int, optional
            DataLoader worker processes. Default: up to 4 for files (decoding runs in
            parallel with the model), 0 for images already in memory (a worker did not
            speed up in-memory inputs in benchmarks/embed_throughput.py).
        jpeg_draft : bool, default False
            Opt-in: decode JPEG files (a list of paths or a folder) at the smallest DCT
            scale (1/2, 1/4 or 1/8) that keeps both sides at least the preprocessing's
            resize target (``jpeg_draft_size`` of ``bottlekit._preprocessing``), before
            the same preprocessing. Faster to decode, but the pixels differ from a full
            decode followed by the resize, so the embeddings differ slightly (they are
            cached under other keys by :func:`bottlekit.embed`). Other images are read
            as usual.
        model_threads : None, "auto" or int, default None
            torch intra-op threads while the model runs (None: torch's setting), at
            most the CPUs this process may use.
            ``"auto"``: on the CPU with DataLoader workers, the cores the workers leave,
            ``max(1, cpus - num_workers)``, instead of one thread per core competing with
            the decoding workers (3-4 x faster on 2 shared cores in
            benchmarks/dataset_throughput.py). Opt-in because the thread count can change
            the last bits of a convolutional tower's embeddings (ViT towers gave the same
            bits in the tests).

        Returns
        -------
        ndarray of shape (n, embed_dim), float32
            L2-normalised image embeddings, in input order.

        Raises
        ------
        ValueError
            The embeddings of all the images need more than this machine's physical
            memory (checked before encoding; :meth:`iter_encode_images` yields them batch
            by batch).
        MemoryError
            The allocator refused the embeddings' array (memory in use elsewhere).

        Examples
        --------
        >>> import numpy as np
        >>> bk = load_backbone("ViT-B-32")
        >>> X = bk.encode_images(np.zeros((2, 224, 224, 3), np.uint8), progress=False)
        >>> X.shape, X.dtype
        ((2, 512), dtype('float32'))
        """
        source = as_image_source(images)
        check_bool(progress, "progress")
        out = output_array(
            "encode_images",
            (len(source), self.embed_dim),
            "embeddings",
            "iterate with iter_encode_images, which yields the embeddings batch by batch",
        )
        stream = self.iter_encode_images(
            source, batch_size, num_workers, jpeg_draft, model_threads
        )
        return self._filled(out, stream, progress)

    def _filled(
        self, out: np.ndarray, stream: Iterator[tuple[int, np.ndarray]], progress: bool
    ) -> np.ndarray:
        """``out`` filled with the batches of ``stream``, under a progress bar."""
        with tqdm(total=len(out), disable=not progress, unit="img", desc=self.name) as bar:
            for start, feats in stream:
                out[start : start + len(feats)] = feats
                bar.update(len(feats))
        return out

    def encode_image_tokens(
        self,
        images: Any,
        batch_size: int = 64,
        progress: bool = True,
        num_workers: int | None = None,
        jpeg_draft: bool = False,
        model_threads: int | str | None = None,
    ) -> np.ndarray:
        """Embed each patch of each image: a ViT's patch tokens in the embedding space.

        The last block's patch tokens through the tower's final LayerNorm and projection,
        the two steps that take its pooled token to the image embedding (not MaskCLIP's
        read-out, Zhou et al. 2022, which takes the last attention layer's value
        embeddings instead of its output tokens): a vector per patch that text
        embeddings, concept banks (:meth:`ConceptBank.project`) and discovered
        dictionaries (:func:`bottlekit.concepts.discover` on the tokens as rows) apply
        to, so per-patch scores are spatial maps at the patch grid's resolution. For a
        class-token ViT the class token through the same steps is
        :meth:`encode_images`' embedding. Patch tokens carry what the tower was trained
        to pool: a class-token CLIP trains only its class token for the contrastive loss,
        so patch scores are weaker than image scores (docs/concepts.md measures it on
        the built-in world). The result holds ``n * gh * gw * embed_dim`` floats (ViT-B/16
        at 224 pixels: 196 patches of 512, 0.4 MB an image, 4 GB for 10,000 images):
        embed in chunks and keep a sample of the patches to learn a dictionary on many
        images.

        Parameters
        ----------
        images : list of PIL.Image, ndarray, list of paths, folder, or torch Dataset
            See :func:`bottlekit.images.as_image_source`.
        batch_size : int, default 64
            Images per forward pass.
        progress : bool, default True
            Show a tqdm progress bar.
        num_workers : int, optional
            DataLoader worker processes, as in :meth:`encode_images`.
        jpeg_draft : bool, default False
            Decode JPEG files at a reduced DCT scale, as in :meth:`encode_images`.
        model_threads : None, "auto" or int, default None
            torch intra-op threads while the model runs, as in :meth:`encode_images`.

        Returns
        -------
        ndarray of shape (n, gh, gw, embed_dim), float32
            L2-normalised patch embeddings on the tower's patch grid (``gh`` rows,
            ``gw`` columns; patch ``(r, c)`` covers rows ``r*p:(r+1)*p`` and columns
            ``c*p:(c+1)*p`` of the preprocessed image, ``p`` the patch size).

        Raises
        ------
        ValueError
            The image tower is not a ViT with a class-token or mean pool and a
            projection (ResNets, attentional poolers), or the tokens of all the images
            need more than this machine's physical memory (checked before encoding).
        MemoryError
            The allocator refused the tokens' array (memory in use elsewhere).

        Examples
        --------
        >>> import numpy as np
        >>> bk = load_backbone("ViT-B-32")
        >>> T = bk.encode_image_tokens(np.zeros((2, 224, 224, 3), np.uint8), progress=False)
        >>> T.shape, T.dtype
        ((2, 7, 7, 512), dtype('float32'))
        """
        check_token_tower(self.model.visual, self.name)
        source = as_image_source(images)
        check_bool(progress, "progress")
        gh, gw = self.model.visual.grid_size
        out = output_array(
            "encode_image_tokens",
            (len(source), gh, gw, self.embed_dim),
            "patch tokens",
            "pass the images in chunks, e.g. images[i : i + 1000], and keep what each "
            "chunk's tokens are needed for",
        )
        visual = self.model.visual
        stream = self._iter_encoded(
            source,
            batch_size,
            num_workers,
            jpeg_draft,
            model_threads,
            lambda batch: vit_patch_tokens(visual, batch),
        )
        return self._filled(out, stream, progress)

    def _encode_prompts(self, prompts: list[str], batch_size: int) -> np.ndarray:
        chunks = []
        with torch.inference_mode():
            for i in range(0, len(prompts), batch_size):
                tokens = self.tokenizer(prompts[i : i + batch_size]).to(self.device)
                with self._autocast():
                    feats = self.model.encode_text(tokens)
                feats = torch.nn.functional.normalize(feats.float(), dim=-1).cpu().numpy()
                chunks.append(_finite(feats, self.name, prompts=prompts[i : i + batch_size]))
        return np.concatenate(chunks)

    def encode_texts(
        self,
        texts: list[str],
        templates: list[str] | None = None,
        batch_size: int = 256,
    ) -> np.ndarray:
        """Embed texts, optionally with CLIP prompt ensembling.

        With templates :math:`t_1..t_m` (each containing ``{}``), the embedding of a
        text :math:`s` is

        .. math:: e(s) = \\frac{\\bar e}{\\lVert \\bar e \\rVert}, \\quad
                  \\bar e = \\frac{1}{m} \\sum_j \\frac{f(t_j(s))}{\\lVert f(t_j(s)) \\rVert}

        where :math:`f` is the text tower (Radford et al. 2021, prompt ensembling).

        Parameters
        ----------
        texts : list of str
            The texts (class names, concept names, sentences).
        templates : list of str, optional
            Prompt templates with a ``{}`` placeholder, e.g. ``"a photo of a {}."``.
        batch_size : int, default 256
            Prompts per forward pass.

        Returns
        -------
        ndarray of shape (len(texts), embed_dim), float32
            L2-normalised text embeddings.

        Examples
        --------
        >>> bk = load_backbone("ViT-B-32")
        >>> bk.encode_texts(["a cat", "a dog"], templates=["a photo of {}."]).shape
        (2, 512)
        """
        if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
            raise TypeError(
                f"texts: expected a list of str, got {type(texts).__name__}"
                + (" (wrap a single text in a list)" if isinstance(texts, str) else "")
            )
        if len(texts) == 0:
            raise ValueError("texts: got an empty list; expected at least one text")
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise TypeError(
                f"texts: item {bad[0]} has type {type(texts[bad[0]]).__name__}; "
                "every text must be a str"
            )
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
        if templates is None:
            return self._encode_prompts(list(texts), int(batch_size))
        if isinstance(templates, str) or not templates:
            raise ValueError("templates: expected a non-empty list of str containing '{}'")
        for tpl in templates:
            if not isinstance(tpl, str) or "{}" not in tpl:
                raise ValueError(f"templates: {tpl!r} is not a str with a '{{}}' placeholder")
        prompts = [tpl.format(t) for t in texts for tpl in templates]
        emb = self._encode_prompts(prompts, int(batch_size))
        emb = emb.reshape(len(texts), len(templates), -1).mean(axis=1)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        return emb.astype(np.float32, copy=False)


def list_backbones(cache_dir: str | None = None) -> list[dict[str, Any]]:
    """The backbone names known to open_clip and bottlekit, and which weights are local.

    Parameters
    ----------
    cache_dir : str, optional
        Cache folder to look in (default: open_clip's defaults).

    Returns
    -------
    list of dict
        One entry per model name: ``name``, ``tags`` (open_clip pretrained tags),
        ``local`` (tags whose weights are already on this machine, plus
        ``"bottlekit"`` for shipped weights). Nothing is downloaded.

    Examples
    --------
    >>> any(b["name"] == "ViT-B-32" for b in list_backbones())
    True
    """
    check_cache_dir(cache_dir)
    out = []
    for name in open_clip.list_models():
        tags = open_clip.list_pretrained_tags_by_model(name)
        local = [t for t in tags if find_local_weights(name, t, cache_dir)]
        ours = [
            t
            for m, t in _pretrained.list_pretrained()
            if m == name and _pretrained.is_available(m, t)
        ]
        tags = [*ours, *tags]
        local = [*ours, *local]
        out.append({"name": name, "tags": tags, "local": local})
    return out
