"""The weights file a training run writes (and the one it may start from): a float32
state dict in safetensors whose bytes are a function of its tensors, beside its metadata."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import torch

from bottlekit.atomic import atomic_write_bytes, atomic_write_text
from bottlekit.world._clip import MODEL_NAME

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
#: Where a run writes its weights unless told otherwise: ``runs/`` under the working
#: directory, never the package's own ``weights/`` (whose files the pretrained table checks).
DEFAULT_OUT_DIR = Path("runs")
WEIGHTS_FILE = f"{MODEL_NAME}.safetensors"
METADATA_FILE = f"{MODEL_NAME}.json"


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
    """Write ``NAME.safetensors`` (float32 state dict) and ``NAME.json``, atomically.

    Parameters
    ----------
    model : torch.nn.Module
        The trained model.
    out_dir : Path
        The folder (created if missing).
    metadata : dict
        The run's metadata, written to ``NAME.json`` with the weights' ``sha256`` and
        ``bytes``.
    name : str, default "world-tiny"
        The file names' stem (the model config's name).

    Returns
    -------
    Path
        The weights file.

    Examples
    --------
    >>> import json, tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> path = save_weights(torch.nn.Linear(2, 1), out, {"steps": 0}, name="toy")
    >>> path.name, sorted(json.loads((out / "toy.json").read_text()))
    ('toy.safetensors', ['bytes', 'sha256', 'steps'])
    """
    from bottlekit.safetensors_file import encode_safetensors

    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    path = out_dir / f"{name}.safetensors"
    data = encode_safetensors(
        state,
        {"format": "pt", "model": name},
        kind="model weights",
        path=path,
        holds="the names and shapes of the model's tensors",
        reader="safetensors",
    )
    blob = _canonical_header(data)
    atomic_write_bytes(path, blob)
    metadata = dict(metadata, sha256=hashlib.sha256(blob).hexdigest(), bytes=len(blob))
    atomic_write_text(out_dir / f"{name}.json", json.dumps(metadata, indent=2) + "\n")
    return path


def _load_init(model: torch.nn.Module, init: Path | str, device: str, model_name: str) -> dict:
    """Load the starting weights ``init`` into ``model``; returns what the run records of
    them (file name and SHA-256, so that a recipe chains its stages)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from bottlekit._backbone_weights import _check_finite_weights, _check_weight_dtypes

    try:
        state = load_file(str(init), device=str(device))
    except SafetensorError as exc:
        raise ValueError(
            f"init: {str(init)!r} is not a safetensors file of {model_name!r} weights "
            f"({exc}); expected the .safetensors file a run of this model wrote"
        ) from None
    # the rules of load_backbone's weights: load_state_dict would cast integers to float
    # silently, and NaN weights gave a NaN loss from the first step
    stored = {key: value.is_floating_point() for key, value in state.items()}
    _check_weight_dtypes(model, stored, str(init), arg="init")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"init: {str(init)!r} does not fit {model_name!r}: {exc}") from None
    _check_finite_weights(model, init, arg="init")
    meta = {
        "file": Path(init).name,
        "sha256": hashlib.sha256(Path(init).read_bytes()).hexdigest(),
    }
    print(f"initialised from {init}", flush=True)
    return meta
