"""Where a backbone's weights come from, and the checks before open_clip reads them.

:func:`load_backbone <bottlekit.backbones.load_backbone>` asks :func:`resolve_weights`
for a model name and tag: the sources of ``_WEIGHT_SOURCES`` are asked in order
(``hf-hub:`` ids and ``local-dir:`` folders, bottlekit's pretrained table, random
weights, an open_clip pretrained tag, a local checkpoint file) and the first that
answers wins. Offline or unreachable hosts fail fast with a
:class:`~bottlekit.pretrained.WeightsNotFoundError` that names the missing file and how
to provide it. Before open_clip reads a torch checkpoint, ``_load_weights_only``
refuses one that holds pickled objects; after it, weights holding NaN or infinity, and
floating-point weights the file stores as integers or booleans, are refused.
:func:`register_model_config` adds architectures through open_clip's own config mechanism
(the JSON files of ``bottlekit/model_configs``).
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import json
import logging
import os
import pickle
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import open_clip
import torch
from open_clip.transform import merge_preprocess_dict
from safetensors import SafetensorError

from bottlekit import pretrained as _pretrained
from bottlekit.pretrained import SHIPPED_TAG, WeightsNotFoundError
from bottlekit.safetensors_file import parse_json

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
    is the file stem. After registration the name works with
    :func:`~bottlekit.backbones.load_backbone` and with every open_clip function.

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
            cfg = parse_json(f.read_bytes(), unique_keys=True)
        except ValueError as e:  # bad UTF-8 or JSON syntax, nesting too deep, a key twice
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


def check_cache_dir(cache_dir: Any) -> None:
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(f"cache_dir: expected the path of a folder or None, got {cache_dir!r}")


def check_model_name(name: Any, arg: str = "name") -> str:
    """``name`` as open_clip lists it (``/`` read as ``-``), or an ``hf-hub:`` / ``local-dir:``
    name as given; errors name the argument ``arg`` (the command line's ``backbone``)."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"{arg}: expected a non-empty str, got {name!r}")
    if name.startswith((HF_HUB_PREFIX, LOCAL_DIR_PREFIX)):
        prefix = HF_HUB_PREFIX if name.startswith(HF_HUB_PREFIX) else LOCAL_DIR_PREFIX
        if not name[len(prefix) :].strip():
            what = "hub repository (org/repo)" if prefix == HF_HUB_PREFIX else "folder"
            raise ValueError(f"{arg}: {name!r} has no {what} after {prefix!r}")
        return name
    cleaned = name.replace("/", "-")
    known = open_clip.list_models()
    if cleaned not in known:
        close = difflib.get_close_matches(cleaned, known, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"{arg}: unknown backbone {name!r}.{hint} See `bottlekit backbones` or "
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


def find_local_weights(name: str, tag: str, cache_dir: str | None) -> str | None:
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
    local = find_local_weights(name, tag, cache_dir)
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


def _load_weights_only(path: str) -> Any:
    """A torch checkpoint read with ``weights_only=True`` (memory-mapped where the format
    allows, so a large file costs little), or a ``ValueError`` naming the file if it holds
    pickled objects or is not a torch checkpoint.

    open_clip reads ``.pt``/``.bin`` checkpoints with ``torch.load(weights_only=True)``,
    but falls back to a full unpickle (which can run any code in the file) when that call
    raises ``TypeError``. So every torch checkpoint is read here first; only a file that
    passes is handed to open_clip, whose own weights-only read then succeeds too.
    """
    advice = (
        "bottlekit accepts .safetensors files and torch checkpoints that load with "
        "torch.load(..., weights_only=True), i.e. tensors and plain containers "
        "(save one with torch.save(model.state_dict(), path))"
    )
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:  # legacy (non-zip) format cannot be memory-mapped
            if "mmap" not in str(exc):
                raise
            return torch.load(path, map_location="cpu", weights_only=True)
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


def _stored_float_flags(path: str) -> dict[str, bool]:
    """Whether each tensor of a checkpoint is stored as floating point, by the name
    open_clip loads it under (``state_dict`` unwrapped, a ``module.`` prefix dropped);
    read before open_clip reads the file (so a torch checkpoint is checked weights-only
    first). Empty for the formats open_clip converts itself (``.npz``, ``.npy``)."""
    suffix = Path(path).suffix
    if suffix in (".npz", ".npy"):
        return {}
    if suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(path, framework="pt") as fh:
                return {k: fh.get_slice(k).get_dtype().startswith(("F", "BF")) for k in fh.keys()}
        except Exception:  # not safetensors: open_clip's read names it below
            return {}
    state = _load_weights_only(path)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        return {}
    first = next(iter(state), "")
    strip = len("module.") if isinstance(first, str) and first.startswith("module") else 0
    return {
        k[strip:]: v.is_floating_point()
        for k, v in state.items()
        if isinstance(k, str) and isinstance(v, torch.Tensor)
    }


def _check_weight_dtypes(
    model: torch.nn.Module, stored: dict[str, bool], source: str, arg: str = "pretrained"
) -> None:
    """Refuse a checkpoint that stores a floating-point weight as integers or booleans:
    ``load_state_dict`` would cast it silently (a quantised or mangled file). ``stored``
    says whether each tensor is stored as floating point; ``arg`` names the argument
    that gave the file (also ``world.train``'s ``init``)."""
    for key, t in model.state_dict().items():
        if t.is_floating_point() and stored.get(key) is False:
            raise ValueError(
                f"{arg}: {str(source)!r} stores {key!r} as integers or booleans; "
                "expected floating-point weights (load_state_dict would cast them silently)"
            )


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


def create_model(
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
    stored = {} if weights_file is None else _stored_float_flags(weights_file)
    # random initialisation is reproducible: open_clip builds the model on the CPU, then
    # moves it to ``device``, so the CPU generator is all it draws from; torch.manual_seed
    # would also reseed every CUDA generator, which fork_rng(devices=[]) does not put back
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
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
        except (TypeError, AttributeError, IndexError, KeyError, ValueError, AssertionError) as e:
            # open_clip reading a checkpoint of other tensors (a .npy array, a tensor of
            # another rank), or building from a registered config with other fields or
            # values its modules assert against (vision_cfg pool_type 'last')
            config_error = name.startswith(LOCAL_DIR_PREFIX) and "valid config" in str(e)
            what = (
                f"pretrained: checkpoint {weights_file!r} does not fit architecture {name!r}"
                if weights_file and not config_error
                else f"name: open_clip cannot build {name!r} from its model config"
            )
            raise ValueError(f"{what} ({type(e).__name__}: {str(e)[:300]})") from e
    if label != RANDOM_TAG:
        _check_finite_weights(model, weights_file or name)
        _check_weight_dtypes(model, stored, weights_file or name)
    return model


def _check_finite_weights(model: torch.nn.Module, source: Any, arg: str = "pretrained") -> None:
    """Refuse weights holding NaN or infinity: every output would be NaN, silently.

    Parameters must be finite; buffers must not be NaN (an attention mask holds -inf by
    design). ``arg`` names the argument that gave the weights (also ``world.train``'s
    ``init``)."""
    for key, t in model.named_parameters():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(
                f"{arg}: the weights from {str(source)!r} hold NaN or infinite values "
                f"(first in {key!r}); expected finite numbers"
            )
    for key, t in model.named_buffers():
        if t.is_floating_point() and bool(torch.isnan(t).any()):
            raise ValueError(
                f"{arg}: the weights from {str(source)!r} hold NaN (first in buffer "
                f"{key!r}); expected numbers"
            )


@dataclass(frozen=True)
class _Weights:
    """Where :func:`~bottlekit.backbones.load_backbone` gets a model's weights."""

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


def resolve_weights(name: str, tag: str | None, cache_dir: str | None) -> _Weights:
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
