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
import difflib
import functools
import hashlib
import json
import logging
import os
import pickle
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import torch
from open_clip.transform import PreprocessCfg, image_transform_v2, merge_preprocess_dict
from safetensors import SafetensorError
from tqdm.auto import tqdm

from bottlekit import pretrained as _pretrained
from bottlekit._checks import check_bool, check_number, check_positive_int
from bottlekit._deprecation import renamed_argument
from bottlekit.devices import as_tensor, resolve_device, torch_threads
from bottlekit.images import ImageSource, _open_file, as_image_source
from bottlekit.pretrained import SHIPPED_TAG, WeightsNotFoundError
from bottlekit.safetensors_file import parse_json

__all__ = [
    "Backbone",
    "WeightsNotFoundError",
    "list_backbones",
    "load_backbone",
    "register_model_config",
]

MODEL_CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"
RANDOM_TAG = "random"

HF_HUB_PREFIX = "hf-hub:"
LOCAL_DIR_PREFIX = "local-dir:"
_HF_DEFAULT_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
_HF_CONFIG = "open_clip_config.json"

if MODEL_CONFIG_DIR.is_dir():
    open_clip.add_model_config(MODEL_CONFIG_DIR)


def register_model_config(path: str | os.PathLike) -> list[str]:
    """Register open_clip model configs (a JSON file or a folder of them).

    Uses open_clip's own mechanism (``open_clip.add_model_config``); the model name
    is the file stem. After registration the name works with :func:`load_backbone`
    and with every open_clip function.

    Parameters
    ----------
    path : str or PathLike
        A ``.json`` model config in open_clip's format (``embed_dim``,
        ``vision_cfg``, ``text_cfg``) or a folder of them.

    Returns
    -------
    list of str
        The names registered.

    Examples
    --------
    >>> register_model_config("configs/my-tiny-vit.json")  # doctest: +SKIP
    ['my-tiny-vit']
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a .json model config or a folder, got {path!r}"[:300])
    p = Path(path)
    if p.is_dir():
        # regular files only: a folder named x.json cannot be read, a FIFO would block
        files = sorted(f for f in p.glob("*.json") if f.is_file())
    elif p.is_file() and p.suffix == ".json":
        files = [p]
    else:
        raise ValueError(f"path: {str(p)!r} is neither a .json model config nor a folder")
    for f in files:
        try:
            cfg = parse_json(f.read_bytes())
        except ValueError as e:  # bad UTF-8 or JSON syntax, nesting too deep
            raise ValueError(f"path: model config {str(f)!r} is not valid JSON: {e}") from None
        if not isinstance(cfg, dict):
            raise ValueError(
                f"path: model config {str(f)!r} holds a JSON {type(cfg).__name__}; expected "
                "an object with embed_dim, vision_cfg and text_cfg"
            )
        missing = {"embed_dim", "vision_cfg", "text_cfg"} - set(cfg)
        if missing:
            raise ValueError(
                f"path: model config {str(f)!r} lacks the keys {sorted(missing)} "
                "that open_clip needs"
            )
        dim = cfg["embed_dim"]
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(
                f"path: model config {str(f)!r} has embed_dim {dim!r}; expected a positive int"
            )
        for key in ("vision_cfg", "text_cfg"):
            if not isinstance(cfg[key], dict):
                raise ValueError(
                    f"path: model config {str(f)!r} has {key} {cfg[key]!r}"[:200]
                    + "; expected a JSON object"
                )
        _check_not_a_shipped_name(f, cfg)
    for f in files:  # the checked files, not the folder: open_clip would read all of it
        open_clip.add_model_config(f)
    return [f.stem for f in files]


def _check_not_a_shipped_name(f: Path, cfg: dict) -> None:
    """Refuse a config that would silently replace one shipped with open_clip or bottlekit
    under the same name (its pretrained weights would then load into another architecture
    or fail); registering the same config again is fine."""
    shipped = [Path(open_clip.__file__).parent / "model_configs", MODEL_CONFIG_DIR]
    for folder in shipped:
        own = folder / f"{f.stem}.json"
        if own.is_file() and own.resolve() != f.resolve():
            if json.loads(own.read_bytes()) != cfg:
                owner = "bottlekit" if folder == MODEL_CONFIG_DIR else "open_clip"
                raise ValueError(
                    f"path: model config {str(f)!r} would replace {owner}'s own "
                    f"{f.stem!r} config with another one; give the file another name"
                )


def _check_cache_dir(cache_dir: Any) -> None:
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir: expected the path of a folder or None, got {cache_dir!r}")


def _check_model_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"name: expected a non-empty str, got {name!r}")
    if name.startswith((HF_HUB_PREFIX, LOCAL_DIR_PREFIX)):
        prefix = HF_HUB_PREFIX if name.startswith(HF_HUB_PREFIX) else LOCAL_DIR_PREFIX
        if not name[len(prefix) :].strip():
            what = "hub repository (org/repo)" if prefix == HF_HUB_PREFIX else "folder"
            raise ValueError(f"name: {name!r} has no {what} after {prefix!r}")
        return name
    cleaned = name.replace("/", "-")
    known = open_clip.list_models()
    if cleaned not in known:
        close = difflib.get_close_matches(cleaned, known, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"name: unknown backbone {name!r}.{hint} See `bottlekit backbones` or "
            "open_clip.list_models() for the names, or register a config with "
            "bottlekit.register_model_config()."
        )
    return cleaned


def _offline() -> bool:
    flag = os.environ.get("HF_HUB_OFFLINE", "") or os.environ.get("BOTTLEKIT_OFFLINE", "")
    return flag.strip().lower() in {"1", "true", "yes", "on"}


@functools.lru_cache(maxsize=16)
def _unreachable(host: str, port: int = 443, timeout: float = 3.0) -> str | None:
    """Why ``host`` cannot be reached (DNS or TCP), or None; asked once per process.

    A download library retries an unreachable hub for a minute or more, printing a warning
    per attempt; one short probe lets an offline machine fail at once with the real cause.
    Behind a proxy (``HTTPS_PROXY``) the probe is skipped: only the proxy knows.
    """
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"cannot reach {host}:{port} ({exc.strerror or exc})"


def _download_hosts(name: str, tag: str) -> list[str]:
    from urllib.parse import urlparse

    hosts = []
    for kind, loc in _tag_candidates(open_clip.get_pretrained_cfg(name, tag)):
        if kind == "hf":
            endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
            hosts.append(urlparse(endpoint).hostname or "huggingface.co")
        elif kind == "url":
            hosts.append(urlparse(loc).hostname or "")
    return [h for h in dict.fromkeys(hosts) if h]


def _hf_cache_dir(cache_dir: str | None) -> str:
    if cache_dir:
        return cache_dir
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def _cached_hf_file(repo_id: str, filename: str, cache_dir: str | None) -> str | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir)
    return found if isinstance(found, str) and os.path.isfile(found) else None


def _tag_candidates(cfg: dict) -> list[tuple[str, str]]:
    """Where open_clip would look for a tag's weights: (kind, location) pairs."""
    out = []
    if cfg.get("file"):
        out.append(("file", cfg["file"]))
    if cfg.get("hf_hub"):
        repo_id, filename = os.path.split(cfg["hf_hub"])
        names = [filename] if filename else list(_HF_DEFAULT_WEIGHTS)
        if filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        out.extend(("hf", f"{repo_id}/{n}") for n in names)
    if cfg.get("url"):
        out.append(("url", cfg["url"]))
    return out


def _find_local_weights(name: str, tag: str, cache_dir: str | None) -> str | None:
    cfg = open_clip.get_pretrained_cfg(name, tag)
    for kind, loc in _tag_candidates(cfg):
        if kind == "file" and os.path.isfile(loc):
            return loc
        if kind == "hf":
            repo_id, filename = loc.rsplit("/", 1)
            found = _cached_hf_file(repo_id, filename, cache_dir)
            if found:
                return found
        if kind == "url":
            target = Path(cache_dir or os.path.expanduser("~/.cache/clip")) / os.path.basename(loc)
            if target.is_file():
                return str(target)
    return None


def _missing_weights_message(name: str, tag: str, cache_dir: str | None, cause: str) -> str:
    cfg = open_clip.get_pretrained_cfg(name, tag)
    lines = [f"pretrained: weights for {name!r} with tag {tag!r} are not available ({cause})."]
    for kind, loc in _tag_candidates(cfg):
        if kind == "hf":
            hub = _hf_cache_dir(cache_dir)
            lines.append(f"  expected Hugging Face hub file {loc} in the hub cache {hub}")
        elif kind == "url":
            target = Path(cache_dir or os.path.expanduser("~/.cache/clip")) / os.path.basename(loc)
            lines.append(f"  expected {target} (downloaded from {loc})")
        else:
            lines.append(f"  expected the file {loc}")
    repos = [loc.rsplit("/", 1)[0] for kind, loc in _tag_candidates(cfg) if kind == "hf"]
    fetch = f"`hf download {repos[0]}`" if repos else "downloading the file"
    lines.append(
        "To provide them: pass pretrained='/path/to/checkpoint' (a .safetensors/.bin/.pt file), "
        f"or fill the cache on a machine with internet access ({fetch}) and copy it to this "
        "machine (HF_HUB_CACHE / cache_dir). Set HF_HUB_OFFLINE=1 to never try the network."
    )
    return "\n".join(lines)


def _resolve_tag_checkpoint(name: str, tag: str, cache_dir: str | None) -> str:
    """Local path of a pretrained tag's weights, downloading through open_clip if allowed."""
    local = _find_local_weights(name, tag, cache_dir)
    if local:
        return local
    if _offline():
        raise WeightsNotFoundError(
            _missing_weights_message(name, tag, cache_dir, "offline mode, not in the cache")
        )
    hosts = _download_hosts(name, tag)
    reasons = [r for r in (_unreachable(h) for h in hosts) if r]
    if hosts and len(reasons) == len(hosts):
        raise WeightsNotFoundError(
            _missing_weights_message(name, tag, cache_dir, "no network: " + "; ".join(reasons))
        )
    cfg = open_clip.get_pretrained_cfg(name, tag)
    try:
        path = open_clip.download_pretrained(cfg, cache_dir=cache_dir)
    except Exception as e:  # network errors come in many types
        raise WeightsNotFoundError(
            _missing_weights_message(name, tag, cache_dir, f"download failed: {e}")
        ) from e
    if not path or not os.path.isfile(path):
        raise WeightsNotFoundError(_missing_weights_message(name, tag, cache_dir, "no file"))
    return path


def _resolve_hf_hub(name: str, cache_dir: str | None) -> str:
    """Map an ``hf-hub:`` id to ``local-dir:`` of its cached snapshot when fully cached."""
    repo_id = name[len(HF_HUB_PREFIX) :]
    config = _cached_hf_file(repo_id, _HF_CONFIG, cache_dir)
    weights = next(
        (w for w in (_cached_hf_file(repo_id, f, cache_dir) for f in _HF_DEFAULT_WEIGHTS) if w),
        None,
    )
    if config and weights and os.path.dirname(config) == os.path.dirname(weights):
        return LOCAL_DIR_PREFIX + os.path.dirname(config)
    if _offline():
        raise WeightsNotFoundError(
            f"name: {name!r} is not in the Hugging Face hub cache {_hf_cache_dir(cache_dir)} "
            f"(need {_HF_CONFIG} and one of {', '.join(_HF_DEFAULT_WEIGHTS)}) and offline mode "
            "is on. Pre-populate the cache on a machine with internet access "
            f"(`hf download {repo_id}`) or use a local-dir: path."
        )
    return name


@contextlib.contextmanager
def _no_root_log_setup(drop: str) -> Iterator[None]:
    """Keep open_clip's root-logger calls from configuring logging or printing ``drop``.

    open_clip logs with ``logging.warning(...)`` on the root logger, which installs a
    stderr handler (``basicConfig``) for the rest of the process when none exists, and it
    warns "No pretrained weights loaded" for the random weights bottlekit asked for. A
    NullHandler (only while the root has none) and a filter on that one message, both
    removed afterwards, leave the user's logging configuration as it was.
    """
    root = logging.getLogger()
    placeholder = logging.NullHandler() if not root.handlers else None
    drop_filter = logging.Filter()
    drop_filter.filter = lambda record: not str(record.msg).startswith(drop)  # type: ignore[method-assign]
    if placeholder is not None:
        root.addHandler(placeholder)
    root.addFilter(drop_filter)
    try:
        yield
    finally:
        root.removeFilter(drop_filter)
        if placeholder is not None:
            root.removeHandler(placeholder)


def check_weights_only(path: str | os.PathLike) -> None:
    """Refuse a checkpoint that torch can only read by unpickling arbitrary objects.

    open_clip reads ``.pt``/``.bin`` checkpoints with ``torch.load(weights_only=True)``, but
    falls back to a full unpickle (which can run any code in the file) when that call
    raises ``TypeError``. So every torch checkpoint is first read here with
    ``weights_only=True`` (memory-mapped where the format allows, so a large file costs
    little); only a file that passes is handed to open_clip, whose own weights-only read
    then succeeds too. ``.safetensors`` files hold no code and ``.npz``/``.npy`` are read
    with ``allow_pickle=False`` by open_clip, so they are not opened here.

    Parameters
    ----------
    path : path-like
        The checkpoint.

    Raises
    ------
    ValueError
        Naming the file, if it holds pickled objects or is not a torch checkpoint.
    """
    path = str(path)
    if Path(path).suffix in (".safetensors", ".npz", ".npy"):
        return
    advice = (
        "bottlekit accepts .safetensors files and torch checkpoints that load with "
        "torch.load(..., weights_only=True), i.e. tensors and plain containers "
        "(save one with torch.save(model.state_dict(), path))"
    )
    try:
        try:
            torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:  # legacy (non-zip) format cannot be memory-mapped
            if "mmap" not in str(exc):
                raise
            torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's own message ends by suggesting weights_only=False: not repeated here
        objects = [line.strip() for line in str(exc).splitlines() if "GLOBAL" in line]
        if not objects:
            raise ValueError(
                f"pretrained: {path!r} is not a readable torch checkpoint. {advice}"
            ) from None
        raise ValueError(
            f"pretrained: {path!r} is not a weights-only checkpoint: it holds pickled Python "
            f"objects ({objects[0][:120]}), which bottlekit never unpickles (they can run "
            f"code). {advice}"
        ) from None
    except Exception as exc:
        raise ValueError(
            f"pretrained: {path!r} is not a readable torch checkpoint "
            f"({type(exc).__name__}: {str(exc)[:200]}). {advice}"
        ) from None


def _local_dir_weights(name: str) -> str | None:
    """The weights file open_clip will read for a ``local-dir:`` model (None otherwise).

    open_clip picks a ``*.safetensors``/``*.bin``/``*.pth`` file of the folder itself and,
    where a weights-only read raises ``TypeError``, unpickles it in full; so the file it
    will pick is checked here like any checkpoint. A folder with a config but no weights
    would give random weights under the label ``local-dir``: refused.
    """
    if not name.startswith(LOCAL_DIR_PREFIX):
        return None
    folder = Path(name[len(LOCAL_DIR_PREFIX) :]).expanduser()
    find = getattr(open_clip.factory, "_find_checkpoint_in_dir", None)
    if find is None or not (folder / _HF_CONFIG).is_file():
        return None  # open_clip names the missing folder or config
    found = find(folder)
    if found is None:
        raise WeightsNotFoundError(
            f"name: {name!r} has {_HF_CONFIG} but no weights file (*.safetensors, *.bin or "
            "*.pth); bottlekit never falls back to random weights"
        )
    return str(found)


def _create(
    name: str,
    checkpoint: str | None,
    preprocess_cfg: dict | None,
    device: torch.device,
    cache_dir: str | None,
    seed: int,
    label: str,
) -> torch.nn.Module:
    kwargs: dict[str, Any] = {"device": device, "cache_dir": cache_dir}
    if label == RANDOM_TAG:
        kwargs["load_weights"] = False
    if preprocess_cfg:
        kwargs["force_preprocess_cfg"] = preprocess_cfg
    weights_file = checkpoint if checkpoint is not None else _local_dir_weights(name)
    if weights_file is not None:
        check_weights_only(weights_file)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # random initialisation is reproducible
        try:
            with _no_root_log_setup(drop="No pretrained weights loaded"):
                model = open_clip.create_model(name, pretrained=checkpoint, **kwargs)
        except RuntimeError as e:
            if weights_file and ("state_dict" in str(e) or "size mismatch" in str(e)):
                raise ValueError(
                    f"pretrained: checkpoint {weights_file!r} does not match architecture "
                    f"{name!r}: {str(e)[:600]}"
                ) from e
            raise
        except SafetensorError as e:  # not a safetensors file (text, empty, bad header)
            raise ValueError(
                f"pretrained: {weights_file!r} is not a readable .safetensors file ({e})"
            ) from None
        except (TypeError, AttributeError, IndexError, KeyError, ValueError) as e:
            # open_clip reading a checkpoint of other tensors (a .npy array, a tensor of
            # another rank), or building from a registered config with other fields
            config_error = name.startswith(LOCAL_DIR_PREFIX) and "valid config" in str(e)
            what = (
                f"pretrained: checkpoint {weights_file!r} does not fit architecture {name!r}"
                if weights_file and not config_error
                else f"name: open_clip cannot build {name!r} from its model config"
            )
            raise ValueError(f"{what} ({type(e).__name__}: {str(e)[:300]})") from e
    if label != RANDOM_TAG:
        _check_finite_weights(model, weights_file or name)
    return model


def _check_finite_weights(model: torch.nn.Module, source: Any) -> None:
    """Refuse weights holding NaN or infinity: every output would be NaN, silently.

    Parameters must be finite; buffers must not be NaN (an attention mask holds -inf by
    design)."""
    for key, t in model.named_parameters():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(
                f"pretrained: the weights from {str(source)!r} hold NaN or infinite values "
                f"(first in {key!r}); expected finite numbers"
            )
    for key, t in model.named_buffers():
        if t.is_floating_point() and bool(torch.isnan(t).any()):
            raise ValueError(
                f"pretrained: the weights from {str(source)!r} hold NaN (first in buffer "
                f"{key!r}); expected numbers"
            )


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
    if isinstance(random_state, np.integer):
        random_state = int(random_state)
    if isinstance(random_state, bool) or not isinstance(random_state, int):
        raise TypeError(f"{given_as}: expected an int seed, got {random_state!r}"[:300])
    if not -(2**63) <= random_state < 2**64:  # what torch.manual_seed takes
        raise ValueError(f"{given_as}: expected a seed in [-2**63, 2**64), got {random_state}")
    _check_cache_dir(cache_dir)
    dev = resolve_device(device)
    cleaned = _check_model_name(name)
    if pretrained is not None and not isinstance(pretrained, (str, os.PathLike)):
        raise TypeError(f"pretrained: expected a tag, a path or None, got {pretrained!r}")
    tag = os.fspath(pretrained) if pretrained is not None else None
    w = _resolve_weights(cleaned, tag, cache_dir)
    model = _create(
        w.model_name, w.checkpoint, w.preprocess_cfg, dev, cache_dir, random_state, w.label
    )
    tokenizer = open_clip.get_tokenizer(w.model_name, cache_dir=cache_dir)
    return Backbone(model, tokenizer, name=cleaned, weights=w.label, device=dev)


@dataclass(frozen=True)
class _Weights:
    """Where :func:`load_backbone` gets a model's weights."""

    label: str  # Backbone.weights: a tag, "file:<name>", "bottlekit", "hf-hub", "random"
    model_name: str  # what open_clip builds (an hf-hub id may become a local-dir: path)
    checkpoint: str | None = None
    preprocess_cfg: dict | None = None


def _hub_or_local_dir(name: str, tag: str | None, cache_dir: str | None) -> _Weights | None:
    """``hf-hub:`` ids and ``local-dir:`` folders carry their own weights."""
    if name.startswith(LOCAL_DIR_PREFIX):
        return _Weights("local-dir", name)
    if not name.startswith(HF_HUB_PREFIX):
        return None
    if tag == RANDOM_TAG:
        return _Weights(RANDOM_TAG, name)
    if tag is not None:
        raise ValueError(
            f"pretrained: an hf-hub id carries its own weights; got pretrained={tag!r}"
        )
    return _Weights("hf-hub", _resolve_hf_hub(name, cache_dir))


def _pretrained_table(name: str, tag: str | None, cache_dir: str | None) -> _Weights | None:
    """bottlekit's own weights (:mod:`bottlekit.pretrained`), the default for its models."""
    table_tag = _pretrained.default_tag(name) if tag is None else tag
    if table_tag is not None and _pretrained.get_pretrained_cfg(name, table_tag):
        return _Weights(table_tag, name, str(_pretrained.pretrained_file(name, table_tag)))
    if tag == SHIPPED_TAG:
        shipped = sorted({m for m, t in _pretrained.list_pretrained() if t == SHIPPED_TAG})
        raise ValueError(
            f"pretrained: bottlekit ships no weights for {name!r} "
            f"(it does for: {', '.join(shipped)})"
        )
    return None


def _random(name: str, tag: str | None, cache_dir: str | None) -> _Weights | None:
    """No weights named (and none shipped), or ``"random"``: random initialisation."""
    return _Weights(RANDOM_TAG, name) if tag in (None, RANDOM_TAG) else None


def _open_clip_tag(name: str, tag: str, cache_dir: str | None) -> _Weights | None:
    """An open_clip pretrained tag: its cached (or downloaded) file and preprocessing."""
    cfg = open_clip.get_pretrained_cfg(name, tag)
    if not cfg:
        return None
    checkpoint = _resolve_tag_checkpoint(name, tag, cache_dir)
    return _Weights(tag, name, checkpoint, merge_preprocess_dict({}, cfg))


_CHECKPOINT_SUFFIXES = {".pt", ".pth", ".bin", ".safetensors", ".ckpt"}


def _checkpoint_file(name: str, tag: str, cache_dir: str | None) -> _Weights | None:
    """A local checkpoint file; a missing file that looks like a path is an error."""
    if os.path.isfile(tag):
        return _Weights("file:" + Path(tag).name, name, os.path.abspath(tag))
    if os.path.isdir(tag):
        raise ValueError(
            f"pretrained: {tag!r} is a folder, not a checkpoint file; pass the weights file "
            f"in it, or name={LOCAL_DIR_PREFIX + tag!r} for a folder that holds "
            "open_clip_config.json and its weights"
        )
    if os.sep in tag or Path(tag).suffix in _CHECKPOINT_SUFFIXES:
        raise WeightsNotFoundError(f"pretrained: checkpoint file {tag!r} does not exist")
    return None


#: Where weights are looked for, in order; the first that answers wins.
_WEIGHT_SOURCES = (_hub_or_local_dir, _pretrained_table, _random, _open_clip_tag, _checkpoint_file)


def _resolve_weights(name: str, tag: str | None, cache_dir: str | None) -> _Weights:
    for source in _WEIGHT_SOURCES:
        found = source(name, tag, cache_dir)
        if found is not None:
            return found
    ours = [t for m, t in _pretrained.list_pretrained() if m == name]
    tags = [*ours, "random", *open_clip.list_pretrained_tags_by_model(name)]
    close = difflib.get_close_matches(tag, tags, n=3, cutoff=0.4)
    raise ValueError(
        f"pretrained: {tag!r} is neither a pretrained tag of {name!r} nor an "
        f"existing file. Tags for {name!r}: {', '.join(tags)}"
        + (f" (closest: {', '.join(close)})" if close else "")
    )


def _identity_size_normalisation(
    preprocess: Any, source: ImageSource
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(mean, std)`` when preprocessing a uint8 array reduces to ToTensor + Normalize.

    That is the case for open_clip's evaluation transform (Resize, CenterCrop, RGB, to
    tensor, Normalize) when the images already have the crop size: PIL returns a
    same-size resize and crop unchanged. The batched form then gives the same floats
    as the per-image path (the same elementwise operations) without a PIL round trip.
    """
    from torchvision import transforms as T

    if source.kind != "array" or not isinstance(preprocess, T.Compose):
        return None
    h, w = source.items.shape[1:3]
    steps = preprocess.transforms
    names = [type(t).__name__ for t in steps]
    if names != ["Resize", "CenterCrop", "MaybeConvertMode", "MaybeToTensor", "Normalize"]:
        return None
    resize, crop, _, _, normalize = steps
    size = resize.size
    size = (size, size) if isinstance(size, int) else tuple(size)
    if (h, w) != size or tuple(crop.size) != (h, w) or resize.max_size is not None:
        return None
    mean = torch.as_tensor(normalize.mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.as_tensor(normalize.std, dtype=torch.float32).view(-1, 1, 1)
    return mean, std


def _split_normalisation(
    preprocess: Any,
) -> tuple[Any, tuple[torch.Tensor, torch.Tensor]] | None:
    """``(pil_steps, (mean, std))`` when ``preprocess`` is open_clip's evaluation transform
    (Resize, CenterCrop, RGB, to tensor, Normalize): the PIL steps run per image (in the
    workers) and the last two on whole uint8 batches, with the same elementwise
    operations, so the floats are the same as the per-image transform's."""
    from torchvision import transforms as T

    if not isinstance(preprocess, T.Compose):
        return None
    steps = preprocess.transforms
    names = [type(t).__name__ for t in steps]
    if names != ["Resize", "CenterCrop", "MaybeConvertMode", "MaybeToTensor", "Normalize"]:
        return None
    normalize = steps[4]
    mean = torch.as_tensor(normalize.mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.as_tensor(normalize.std, dtype=torch.float32).view(-1, 1, 1)
    return T.Compose(steps[:3]), (mean, std)


def _normalise_uint8_batch(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """A collated uint8 (n, H, W, 3) batch as ``(x / 255 - mean) / std`` in CHW float32."""
    x = x.permute(0, 3, 1, 2).contiguous().to(torch.float32).div(255)
    return x.sub_(mean).div_(std)


def _normalised_array_batches(
    images: np.ndarray, batch_size: int, mean: torch.Tensor, std: torch.Tensor
) -> Iterator[torch.Tensor]:
    """Batches of ``(x / 255 - mean) / std`` in CHW float32 (torchvision's two steps)."""
    for i in range(0, len(images), batch_size):
        x = as_tensor(np.ascontiguousarray(images[i : i + batch_size]))
        x = x.permute(0, 3, 1, 2).contiguous().to(torch.float32).div(255)
        yield x.sub_(mean).div_(std)


def jpeg_draft_size(preprocess: Any) -> tuple[int, int] | None:
    """The ``(width, height)`` a JPEG may be decoded down to before ``preprocess``: both
    sides of its first ``Resize`` (None without one).

    Examples
    --------
    >>> jpeg_draft_size(load_backbone("world-tiny").preprocess)
    (64, 64)
    """
    from torchvision import transforms as T

    resize = next(
        (t for t in getattr(preprocess, "transforms", []) if isinstance(t, T.Resize)), None
    )
    if resize is None:
        return None
    size = resize.size
    h, w = (size, size) if isinstance(size, int) else (tuple(size) * 2)[:2]
    return int(w), int(h)


class _Preprocessed(torch.utils.data.Dataset):
    """Dataset view that loads item ``i`` of an image source and preprocesses it; with
    ``draft`` (width, height), plain JPEG files are decoded at a reduced DCT scale."""

    def __init__(
        self, source: ImageSource, preprocess: Any, draft: tuple[int, int] | None = None
    ) -> None:
        self.source = source
        self.preprocess = preprocess
        plain_files = source.kind == "files" and type(source).load is ImageSource.load
        self.draft = draft if plain_files else None
        self.pil_steps: Any = None  # set by the caller that normalises the batches

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> torch.Tensor:
        if self.draft is not None:
            return self._prepare(_open_file(self.source.items[i], self.draft))
        item = self.source.load(i)
        return item if isinstance(item, torch.Tensor) else self._prepare(item)

    def _prepare(self, image: Any) -> torch.Tensor:
        if self.pil_steps is None:
            return self.preprocess(image)
        # uint8 HWC: a quarter of the bytes to hand over; normalised batch-wise by the caller
        return torch.from_numpy(np.asarray(self.pil_steps(image), dtype=np.uint8).copy())


def preprocess_images(preprocess: Any, images: Any) -> torch.Tensor:
    """Images → one preprocessed float32 batch (n, 3, S, S), as :meth:`Backbone.encode_images`
    prepares them.

    Parameters
    ----------
    preprocess : callable
        A backbone's evaluation transform (PIL image → tensor), e.g.
        :attr:`Backbone.preprocess`.
    images : images accepted by :func:`bottlekit.images.as_image_source`

    Returns
    -------
    torch.Tensor of shape (n, 3, S, S), float32, on the CPU

    Examples
    --------
    >>> import numpy as np
    >>> bk = load_backbone("world-tiny")
    >>> preprocess_images(bk.preprocess, np.zeros((2, 64, 64, 3), np.uint8)).shape
    torch.Size([2, 3, 64, 64])
    """
    source = as_image_source(images)
    norm = _identity_size_normalisation(preprocess, source)
    if norm is not None:
        return next(_normalised_array_batches(source.items, len(source), *norm))
    prepared = _Preprocessed(source, preprocess)
    return torch.stack([prepared[i] for i in range(len(source))]).to(torch.float32)


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

    Attributes
    ----------
    model : torch.nn.Module
        The open_clip model, in eval mode.
    preprocess : callable
        The evaluation transform (PIL image → tensor).
    tokenizer : callable
        The open_clip tokenizer of the model.
    name : str
        Model name.
    weights : str
        Where the weights came from: a tag, ``"file:<name>"``, ``"bottlekit"`` or
        ``"random"``.
    device : torch.device
        Where the model runs.
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
        """
        source = as_image_source(images)
        check_number(batch_size, "batch_size", integer=True, low=1, expected="a positive int")
        check_bool(jpeg_draft, "jpeg_draft")
        if num_workers is not None:
            check_positive_int(num_workers, "num_workers", minimum=0)
        if num_workers is None:
            num_workers = min(4, os.cpu_count() or 1) if source.kind == "files" else 0
        norm = _identity_size_normalisation(self.preprocess, source)
        per_batch = None  # (mean, std) on the device: uint8 batches normalised there
        if norm is not None and num_workers == 0:
            batches: Iterator[torch.Tensor] = _normalised_array_batches(
                source.items, int(batch_size), *norm
            )
        else:
            draft = jpeg_draft_size(self.preprocess) if jpeg_draft else None
            prepared = _Preprocessed(source, self.preprocess, draft)
            split = _split_normalisation(self.preprocess) if source.kind != "dataset" else None
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
        if model_threads == "auto":
            threads = _model_threads(self.device, num_workers)
        elif model_threads is None or (
            isinstance(model_threads, (int, np.integer))
            and not isinstance(model_threads, bool)
            and model_threads >= 1
        ):
            threads = None if model_threads is None else int(model_threads)
        else:
            raise ValueError(
                f"model_threads: expected None, 'auto' or a positive int, got {model_threads!r}"
            )
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
                        batch = _normalise_uint8_batch(batch, *per_batch)
                    with self._autocast():
                        feats = self.model.encode_image(batch)
                feats = torch.nn.functional.normalize(feats.float(), dim=-1)
                yield start, feats.cpu().numpy()
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
            resize target (:func:`jpeg_draft_size`), before the same preprocessing.
            Faster to decode, but the pixels differ from a full decode followed by the
            resize, so the embeddings differ slightly (they are cached under other keys
            by :func:`bottlekit.embed`). Other images are read as usual.
        model_threads : None, "auto" or int, default None
            torch intra-op threads while the model runs (None: torch's setting).
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

        Examples
        --------
        >>> import numpy as np
        >>> bk = load_backbone("ViT-B-32")
        >>> X = bk.encode_images(np.zeros((2, 224, 224, 3), np.uint8), progress=False)
        >>> X.shape, X.dtype
        ((2, 512), dtype('float32'))
        """
        source = as_image_source(images)
        out = np.empty((len(source), self.embed_dim), dtype=np.float32)
        check_bool(progress, "progress")
        with tqdm(total=len(source), disable=not progress, unit="img", desc=self.name) as bar:
            stream = self.iter_encode_images(
                source, batch_size, num_workers, jpeg_draft, model_threads
            )
            for start, feats in stream:
                out[start : start + len(feats)] = feats
                bar.update(len(feats))
        return out

    def _encode_prompts(self, prompts: list[str], batch_size: int) -> np.ndarray:
        chunks = []
        with torch.inference_mode():
            for i in range(0, len(prompts), batch_size):
                tokens = self.tokenizer(prompts[i : i + batch_size]).to(self.device)
                with self._autocast():
                    feats = self.model.encode_text(tokens)
                chunks.append(torch.nn.functional.normalize(feats.float(), dim=-1).cpu())
        return torch.cat(chunks).numpy()

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
    _check_cache_dir(cache_dir)
    out = []
    for name in open_clip.list_models():
        tags = open_clip.list_pretrained_tags_by_model(name)
        local = [t for t in tags if _find_local_weights(name, t, cache_dir)]
        ours = [
            t
            for m, t in _pretrained.list_pretrained()
            if m == name and _pretrained.is_available(m, t)
        ]
        tags = [*ours, *tags]
        local = [*ours, *local]
        out.append({"name": name, "tags": tags, "local": local})
    return out
