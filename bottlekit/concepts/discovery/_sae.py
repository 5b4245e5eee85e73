r"""Training of the TopK and BatchTopK sparse autoencoders (shared by both methods).

The model and the recipe follow the reference code of Gao et al. 2024 (OpenAI
``sparse_autoencoder``): a learned pre-bias :math:`b_{pre}` subtracted before the
encoder and added after the decoder, the encoder initialised to the transpose of the
decoder, decoder atoms kept at unit norm (the gradient component parallel to each atom
removed before the step, the atoms renormalised after it), the normalised MSE as the
loss, and the auxiliary loss AuxK: the residual :math:`e = x - \hat x` is reconstructed
by the ``k_aux = d/2`` (OpenAI's ``train.py``: 256 for d = 768) largest pre-activations
of the *dead* atoms (no activation in the last ``dead_after`` samples), its squared
error divided by the batch variance of :math:`e` (:func:`auxk_loss`) and weighted 1/32,
which gives the dead atoms a gradient until they revive. Two details of the reference
are not reproduced: its ``init_from_data_`` also rescales the encoder so that random
unit inputs are reconstructed at unit norm (its own comment finds no clear benefit; here
the encoder rows start as the unit decoder atoms), and its AuxK reconstruction adds the
(non-detached) pre-bias on one side and the detached one on the other, so AuxK also
moves :math:`b_{pre}` (here it does not). BatchTopK (Bussmann et al. 2024) keeps the
``k * batch`` largest activations of a whole batch instead of ``k`` per sample and, at
inference, every activation above a threshold estimated during training (the paper's
average of the smallest kept activation over batches, taken as an exponential running
mean with weight 0.01 per batch, as in SAELens).

Inputs are centred on their mean (the initial :math:`b_{pre}`; the reference uses the
geometric median) and scaled to unit mean squared norm. Each epoch visits the samples in
an order drawn from ``seed + epoch``, so training is deterministic, and a checkpoint
written after an epoch (model, Adam moments, dead-atom counters, loss history) resumes to
exactly the same result.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from bottlekit.atomic import atomic_write_bytes
from bottlekit.concepts.discovery.result import ConceptDictionary, threshold_limit

__all__ = ["auxk_loss", "decoder_as_encoder", "train_sae"]

_CKPT_FORMAT = "bottlekit.SAECheckpoint"
_PARAMS = ("W_enc", "b_enc", "W_dec", "pre_bias")
AUXK_COEF = 1.0 / 32.0


def _fingerprint(X: np.ndarray) -> str:
    """The checkpoint's fingerprint of ``X``: blake2b of its bytes in C order, read in
    place (``X.tobytes()`` copied them first: 200 MB for 100,000 x 512 float32)."""
    return hashlib.blake2b(np.ascontiguousarray(X), digest_size=16).hexdigest()


def _rms_distance(X: np.ndarray, mu: np.ndarray, chunk: int = 512) -> float:
    r""":math:`\sqrt{\frac1n\sum_i \lVert x_i - \mu\rVert^2}`, the rows' squared
    distances taken in float64 a chunk of rows at a time (the same sums, row by row, as
    on the whole array, without its float64 copies: 2.4 GB for 10⁶ × 768 float32), in
    one buffer of ``chunk`` rows (small enough for the CPU's cache: 2.5 times faster
    than chunks of 16384 rows, each a fresh 64 MB array)."""
    sq = np.empty(len(X))
    buf = np.empty((min(chunk, len(X)), X.shape[1]))
    for s in range(0, len(X), chunk):
        rows = X[s : s + chunk]
        diff = buf[: len(rows)]
        diff[...] = rows  # float64, exactly; then the float64 operations of X - mu
        diff -= mu
        np.square(diff, out=diff)
        diff.sum(1, out=sq[s : s + len(rows)])
    return float(np.sqrt(sq.mean()))


#: How the decoder atoms (and the encoder, their transpose) start.
INITS = ("random", "data")

#: The encoder a trained SAE keeps: its own, or the decoder atoms (see ``discover``).
ENCODERS = ("learned", "decoder")


def data_atoms(X: np.ndarray, m: int, seed: int, mu: np.ndarray) -> np.ndarray:
    """``m`` distinct training embeddings drawn with ``seed``, centred on ``mu``, unit norm.

    A drawn embedding equal to the mean up to float32's rounding (no direction, by
    :func:`~bottlekit.concepts.discovery._checks.at_mean`), or to one drawn before it, is
    replaced by the next one drawn.

    Only the rows drawn until ``m`` are kept are read (in float64, a block at a time),
    and each is compared with the rows kept before it (by its float64 bytes, ``-0.0``
    as ``0.0``; a row holding NaN equals none): the atoms of ``np.unique`` over all the
    drawn rows, as before, without copying all of ``X`` to float64 and sorting it (9 GB
    and minutes for 10⁶ × 512 float32).
    """
    from bottlekit.concepts.discovery._checks import at_mean

    order = np.random.default_rng(seed).permutation(len(X))
    kept: list[np.ndarray] = []  # centred rows, in the order drawn
    seen: set[bytes] = set()  # the rows kept (an earlier copy of a row not at the
    # mean was kept, so a copy is a row seen: rows at the mean are never kept)
    pos = 0
    while len(kept) < m and pos < len(X):
        need = m - len(kept)
        # (blocks grow with the rows read, up to 16384: many copies or rows at the mean
        # are read in few blocks, and a block of float64 rows stays small)
        block = order[pos : pos + max(need + need // 4 + 16, min(pos, 16384), 256)]
        pos += len(block)
        rows = X[block].astype(np.float64)
        C = rows - mu
        usable = ~at_mean(C, rows, mu)
        nan = np.isnan(rows).any(axis=1)
        keys = rows + 0.0  # (-0.0 + 0.0 is 0.0: np.unique took them as equal)
        for i in np.flatnonzero(usable):
            if not nan[i]:
                key = keys[i].tobytes()
                if key in seen:
                    continue
                seen.add(key)
            kept.append(C[i])
            if len(kept) == m:
                break
    # a copy of an earlier draw started a second, identical atom, one of which died; an
    # absolute 1e-12 took every row of embeddings of 1e-14 for the mean
    if len(kept) < m:
        raise ValueError(
            f"init='data': only {len(kept)} distinct embeddings differ from their mean, {m} "
            "atoms asked; use init='random' or fewer n_concepts"
        )
    atoms = np.array(kept).reshape(m, X.shape[1])
    return (atoms / np.linalg.norm(atoms, axis=1, keepdims=True)).astype(np.float32)


def _build(torch, d: int, m: int, seed: int, pre_bias: np.ndarray, device, atoms=None) -> dict:
    gen = torch.Generator().manual_seed(seed)
    W_dec = torch.randn(m, d, generator=gen)
    W_dec /= W_dec.norm(dim=1, keepdim=True)
    if atoms is not None:
        W_dec = torch.as_tensor(atoms, dtype=torch.float32).clone()
    params = {
        "W_enc": W_dec.clone(),
        "b_enc": torch.zeros(m),
        "W_dec": W_dec,
        "pre_bias": torch.as_tensor(pre_bias, dtype=torch.float32),
    }
    return {k: torch.nn.Parameter(v.to(device)) for k, v in params.items()}


def auxk_loss(z_aux, W_dec, e):
    r"""AuxK's normalised MSE: :math:`\operatorname{mean}_i\lVert z^{aux}_i D - e_i\rVert^2`
    over the batch variance of the residuals, :math:`\operatorname{mean}_i\lVert e_i -
    \bar e\rVert^2` (OpenAI's ``normalized_mse``, whose target is the residual plus the
    detached pre-bias); 0 when the residuals do not vary (a batch of one), where the
    reference's ratio is undefined."""
    spread = ((e - e.mean(0)) ** 2).sum(1).mean()
    if not float(spread) > 1e-12:
        return (z_aux @ W_dec).sum() * 0.0
    return ((z_aux @ W_dec - e) ** 2).sum(1).mean() / spread


def _activate(torch, pre, k: int, batch_topk: bool):
    """TopK per sample, or BatchTopK over the batch; returns (codes, smallest kept value)."""
    pre = torch.relu(pre)
    if batch_topk:
        flat = pre.flatten()
        kk = min(k * pre.shape[0], flat.numel())
        vals, idx = flat.topk(kk, sorted=False)
        z = torch.zeros_like(flat).scatter(0, idx, vals).view_as(pre)
        pos = vals[vals > 0]
        return z, (pos.min() if pos.numel() else None)
    vals, idx = pre.topk(min(k, pre.shape[1]), dim=1, sorted=False)
    return torch.zeros_like(pre).scatter(1, idx, vals), None


def _save_checkpoint(path, P, opt, since, threshold, epoch, history, config) -> None:
    from bottlekit.safetensors_file import encode_safetensors

    tensors = {f"param/{k}": v.detach().cpu().numpy() for k, v in P.items()}
    steps = {}
    for name, p in P.items():
        st = opt.state.get(p, {})
        if st:
            tensors[f"adam/{name}/exp_avg"] = st["exp_avg"].cpu().numpy()
            tensors[f"adam/{name}/exp_avg_sq"] = st["exp_avg_sq"].cpu().numpy()
            steps[name] = float(st["step"])
    tensors["since"] = since.cpu().numpy()
    meta = {
        "format": _CKPT_FORMAT,
        "epoch": epoch,
        "history": history,
        "threshold": threshold,
        "adam_steps": steps,
        "config": config,
    }
    data = encode_safetensors(
        tensors,
        meta,
        kind="SAE checkpoint",
        path=path,
        holds="the run's loss history, Adam steps and configuration",
    )
    atomic_write_bytes(path, data)


def _check_checkpoint(contents: Any, config: dict, path: str) -> None:
    """Raise ``ValueError`` unless a checkpoint of the run ``config`` holds exactly the
    tensors and progress that :func:`_save_checkpoint` writes for it (names, dtypes,
    shapes, finite values, counts and second moments >= 0; epoch, finite loss history,
    Adam steps of that many epochs, threshold)."""
    from bottlekit._arrays import check_magnitude
    from bottlekit._checks import check_number, is_number

    where = f"checkpoint: {path!r} is damaged"
    fix = "; delete it to start over or pass another path"
    meta = contents.meta
    steps = meta.get("adam_steps")
    if not isinstance(steps, dict) or not set(steps) <= set(_PARAMS):
        raise ValueError(
            f"{where}: adam_steps: expected a dict over {list(_PARAMS)}, got {steps!r}{fix}"
        )
    m, d = config["n_concepts"], config["d"]
    shapes = {"W_enc": (m, d), "b_enc": (m,), "W_dec": (m, d), "pre_bias": (d,)}
    # the dtypes written: another (float16 weights, int8 counts that wrapped) resumed to
    # another result than the run's, silently
    f32, i64 = np.dtype(np.float32), np.dtype(np.int64)
    expected = {f"param/{k}": (v, f32) for k, v in shapes.items()} | {"since": ((m,), i64)}
    for name in steps:
        expected[f"adam/{name}/exp_avg"] = (shapes[name], f32)
        expected[f"adam/{name}/exp_avg_sq"] = (shapes[name], f32)
    missing, unknown = sorted(set(expected) - set(contents)), sorted(set(contents) - set(expected))
    if missing or unknown:
        raise ValueError(
            f"{where}: it lacks the tensor(s) {missing} and has unknown tensor(s) {unknown}{fix}"
        )
    for name, (shape, dtype) in expected.items():
        a = contents[name]
        if a.dtype != dtype:
            raise ValueError(f"{where}: {name} has dtype {a.dtype}; expected {dtype}{fix}")
        if a.shape != shape:
            raise ValueError(f"{where}: {name} has shape {a.shape}; expected {shape}{fix}")
        if dtype == f32 and not np.isfinite(a).all():
            raise ValueError(f"{where}: {name} contains NaN or inf{fix}")
        if name.startswith("param/"):  # the dictionary's rule, which discover builds
            try:  # before: a W_enc of 3e38 resumed, and the dictionary's codes were inf
                check_magnitude(a, name, m, d, units=("m", "atoms"), outputs="codes")
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}{fix}") from None
        # a negative second moment made Adam's step NaN, reported as a diverged learning rate
        if (name == "since" or name.endswith("exp_avg_sq")) and (a < 0).any():
            raise ValueError(f"{where}: {name} has negative values; expected values >= 0{fix}")
    try:
        epoch = check_number(
            meta.get("epoch"), "epoch", integer=True, low=1, high=config["epochs"]
        )
        # every parameter takes one Adam step per batch (a step of 1.5 or 1e300 changed
        # Adam's bias correction, silently)
        batches = epoch * -(-config["n"] // min(config["batch_size"], config["n"]))
        for name, step in steps.items():
            check_number(
                step,
                f"adam_steps[{name!r}]",
                low=batches,
                high=batches,
                expected=f"{batches} ({epoch} epoch(s) of batches)",
            )
        threshold = meta.get("threshold")
        if threshold is not None:
            # the dictionary's rule (threshold_limit): before, a threshold of 1e300 resumed,
            # trained on, and was refused only when the dictionary was built, unnamed
            limit = threshold_limit(contents["param/W_enc"], contents["param/b_enc"])
            check_number(
                threshold,
                "threshold",
                low=0,
                high=limit,
                expected=f"None or a finite number in [0, {limit:.6g}] (threshold_limit)",
            )
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}{fix}") from None
    history = meta.get("history")
    if not (
        isinstance(history, list)
        and len(history) == epoch
        and all(is_number(h) and math.isfinite(h) for h in history)
    ):
        raise ValueError(
            f"{where}: history: expected a list of {epoch} finite numbers (one loss per "
            f"epoch), got {str(history)[:80]}{fix}"
        )
    # an atom's count of samples since it last fired grows by each batch's size: at most
    # every sample of every epoch (before, 10**12 resumed, every atom dead, silently)
    most = epoch * config["n"]
    if int(contents["since"].max()) > most:
        raise ValueError(
            f"{where}: since holds {int(contents['since'].max())}; expected counts of samples "
            f"since an atom last fired, at most {most} ({epoch} epoch(s) of {config['n']} "
            f"samples){fix}"
        )


def _load_checkpoint(torch, path, P, opt, config) -> tuple[Any, float | None, int, list]:
    from bottlekit._checks import shown_value
    from bottlekit.safetensors_file import read_safetensors

    contents = read_safetensors(path, "SAE checkpoint")
    meta = contents.meta
    if meta.get("format") != _CKPT_FORMAT:
        raise ValueError(
            f"checkpoint: {str(path)!r} is not a bottlekit SAE checkpoint (format "
            f"{meta.get('format')!r}); delete it or pass another path"
        )
    stored = meta.get("config")
    if not isinstance(stored, dict):
        # before: AttributeError "'list' object has no attribute 'get'" (TypeError for a
        # number) from the comparison below
        raise ValueError(
            f"checkpoint: {str(path)!r} is damaged: config: expected a dict of the run's "
            f"arguments, got {shown_value(stored)}; delete it to start over or pass another path"
        )
    if stored != config:
        diff = sorted(k for k in set(config) | set(stored) if config.get(k) != stored.get(k))
        raise ValueError(
            f"checkpoint: {str(path)!r} was written by a different run (differs in {diff}); "
            "resume with the same data and arguments, or pass another path"
        )
    _check_checkpoint(contents, config, str(path))
    with torch.no_grad():
        for name, p in P.items():
            p.copy_(torch.as_tensor(contents[f"param/{name}"]))
    state = opt.state_dict()
    for i, name in enumerate(_PARAMS):
        if name in meta["adam_steps"]:
            dev = P[name].device
            state["state"][i] = {
                "step": torch.tensor(meta["adam_steps"][name]),
                "exp_avg": torch.as_tensor(contents[f"adam/{name}/exp_avg"]).to(dev),
                "exp_avg_sq": torch.as_tensor(contents[f"adam/{name}/exp_avg_sq"]).to(dev),
            }
    opt.load_state_dict(state)
    since = torch.as_tensor(contents["since"])
    return since, meta.get("threshold"), int(meta["epoch"]), list(meta["history"])


def train_sae(
    X: np.ndarray,
    *,
    n_concepts: int,
    k: int,
    batch_topk: bool,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    device: Any,
    progress: bool,
    checkpoint: str | os.PathLike | None,
    checkpoint_every: int,
    dead_after: int | None,
    init: str = "random",
    stats: tuple[np.ndarray, float] | None = None,
) -> dict:
    """Train one SAE on float32 embeddings ``X`` (n, d); returns ConceptDictionary fields.

    ``stats``: ``X``'s mean (``X.mean(0, dtype=np.float64)``) and root mean square
    distance to it (:func:`_rms_distance`) where the caller has them (``discover``);
    computed when None.
    """
    import torch
    from tqdm.auto import tqdm

    from bottlekit.devices import resolve_device

    device = resolve_device(device)
    n, d = X.shape
    m = n_concepts
    if stats is None:
        mu = X.mean(0, dtype=np.float64)
        scale = _rms_distance(X, mu)
    else:
        mu, scale = stats
    scale = scale if scale > 0 else 1.0
    Xs = torch.as_tensor(X / np.float32(scale)).to(device)
    dead_after = n if dead_after is None else int(dead_after)
    config = {
        "method": "batchtopk_sae" if batch_topk else "topk_sae",
        "n": n,
        "d": d,
        "n_concepts": m,
        "k": k,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "seed": seed,
        "dead_after": dead_after,
    }
    if checkpoint is not None:  # a checkpoint resumes only the run of the same data
        config["data"] = _fingerprint(X)
    if init != "random":  # older checkpoints (random start) keep resuming
        config["init"] = init

    atoms = data_atoms(X, m, seed, mu) if init == "data" else None
    P = _build(torch, d, m, seed, (mu / scale).astype(np.float32), device, atoms)
    opt = torch.optim.Adam(P.values(), lr=learning_rate, eps=6.25e-10)
    since = torch.zeros(m, dtype=torch.int64)
    threshold: float | None = None
    start, history = 0, []
    if checkpoint is not None and Path(checkpoint).exists():
        since, threshold, start, history = _load_checkpoint(torch, checkpoint, P, opt, config)
    since = since.to(device)
    k_aux = max(1, d // 2)

    bar = tqdm(range(start, epochs), desc=config["method"], disable=not progress)
    for epoch in bar:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch + 1))
        total, seen = 0.0, 0
        for idx in order.split(min(batch_size, n)):  # torch overflowed beyond int64
            x = Xs[idx.to(device)]
            pre = (x - P["pre_bias"]) @ P["W_enc"].T + P["b_enc"]
            z, smallest = _activate(torch, pre, k, batch_topk)
            x_hat = z @ P["W_dec"] + P["pre_bias"]
            mse = ((x_hat - x) ** 2).sum(1).mean()  # the data's mean squared norm is 1
            loss = mse
            with torch.no_grad():
                since += len(x)
                since[(z > 0).any(0)] = 0
                dead = since >= min(dead_after, n * epochs + 1)  # beyond int64 overflowed
            if bool(dead.any()):
                pre_dead = torch.where(dead, pre, torch.full_like(pre, -math.inf))
                vals, ids = pre_dead.topk(min(k_aux, int(dead.sum())), dim=1, sorted=False)
                z_aux = torch.zeros_like(pre).scatter(1, ids, torch.relu(vals))
                loss = loss + AUXK_COEF * auxk_loss(z_aux, P["W_dec"], (x - x_hat).detach())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():
                W, g = P["W_dec"], P["W_dec"].grad
                g -= (g * W).sum(1, keepdim=True) * W
            opt.step()
            with torch.no_grad():
                P["W_dec"] /= P["W_dec"].norm(dim=1, keepdim=True).clamp_min(1e-12)
                if smallest is not None:
                    s = float(smallest)
                    threshold = s if threshold is None else 0.99 * threshold + 0.01 * s
            total += float(mse.detach()) * len(x)  # history: the normalised MSE alone
            seen += len(x)
        history.append(total / seen)
        bar.set_postfix(loss=f"{history[-1]:.4f}")
        done = epoch + 1
        if not (math.isfinite(history[-1]) and all(bool(v.isfinite().all()) for v in P.values())):
            # a NaN dictionary was returned (and checkpointed) as if trained
            raise ValueError(
                f"learning_rate: training diverged in epoch {done} (reconstruction error "
                f"{history[-1]:.3g}, non-finite weights) with learning_rate={learning_rate!r}; "
                "expected a smaller learning_rate"
                + ("; the last checkpoint is kept" if checkpoint is not None else "")
            )
        if checkpoint is not None and (done % checkpoint_every == 0 or done == epochs):
            _save_checkpoint(checkpoint, P, opt, since, threshold, done, history, config)

    out = {k_: v.detach().cpu().numpy().astype(np.float32) for k_, v in P.items()}
    return {
        "dictionary": out["W_dec"],
        "encoder_weight": out["W_enc"],
        "encoder_bias": out["b_enc"],
        "pre_bias": out["pre_bias"],
        "input_scale": scale,
        "k": k,
        "threshold": (threshold if threshold is not None else 0.0) if batch_topk else None,
        "history": history,
    }


def decoder_as_encoder(fields: dict, X: np.ndarray, batch_topk: bool) -> dict:
    """``fields`` of a trained SAE with the encoder replaced by the decoder atoms.

    Each atom's pre-activation becomes the projection of the scaled, centred embedding
    :math:`x/s - b_{pre}` on the atom (zero encoder bias). BatchTopK's threshold is
    re-estimated on the training embeddings ``X`` as BatchTopK's training selects, with
    all of ``X`` as one batch: the largest value that keeps at most ``k * n`` activations
    above it (so ``k`` per embedding on average; 0 when fewer are positive).
    """
    D = fields["dictionary"]
    out = dict(fields, encoder_weight=D.copy(), encoder_bias=np.zeros(len(D), np.float32))
    if batch_topk:
        # the pre-activations exactly as ConceptDictionary.encode computes them
        W = D.astype(np.float64) / out["input_scale"]
        b = -(D @ out["pre_bias"]).astype(np.float64)
        pre = np.maximum(X @ W.T.astype(np.float32) + b.astype(np.float32), 0.0).ravel()
        keep = int(out["k"]) * len(X)
        pos = pre[pre > 0]
        out["threshold"] = 0.0
        if pos.size > keep:
            out["threshold"] = float(np.partition(pos, -keep - 1)[-keep - 1])
    return out


def codes_of(result: ConceptDictionary, X: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Codes of ``X``, embeddings checked by ``discover`` (float32, ``d`` features), in
    chunks (bounded memory), written into one array."""
    if len(X) <= chunk:
        return result._encode(X)
    out = np.empty((len(X), result.n_atoms), np.float32)
    for i in range(0, len(X), chunk):
        out[i : i + chunk] = result._encode(X[i : i + chunk])
    return out
