"""Restoring a checkpoint into the live model, optimiser and scheduler: each stored state
is checked against the live object's before anything is loaded."""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch

from bottlekit._checks import shown_value
from bottlekit.world._checkpoint_format import _NUM, Checkpoint, CheckpointError
from bottlekit.world._checkpoint_rng import check_rng_states, restore_rng_states


def _bad_values(value: torch.Tensor) -> str | None:
    """What is wrong with a stored tensor's values (None if nothing)."""
    if value.is_floating_point() and not bool(torch.isfinite(value).all()):
        return "holds NaN or infinity"
    return None


def _check_model_tensors(checkpoint: Checkpoint, model: torch.nn.Module) -> None:
    """The stored weights are the model's tensors, each of its shape and dtype
    (``load_state_dict`` would cast an integer or boolean tensor silently) with finite
    values."""
    where = str(checkpoint.path)
    expected = model.state_dict()
    stored = checkpoint.model_state()
    # load_state_dict would copy every tensor that fits before it raised about the others,
    # in a message of several lines
    missing, unexpected = sorted(set(expected) - set(stored)), sorted(set(stored) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {where!r} does not fit the model: "
            + "; ".join(
                f"{what} {', '.join(repr(n) for n in names[:5])}"
                + (f" and {len(names) - 5} more" if len(names) > 5 else "")
                for what, names in (
                    ("it lacks model tensors", missing),
                    ("it has model tensors the model does not have:", unexpected),
                )
                if names
            )
        )
    for name, value in stored.items():
        if value.shape != expected[name].shape:
            raise CheckpointError(
                f"checkpoint {where!r}: model tensor {name!r} has shape {tuple(value.shape)}; "
                f"the model's is {tuple(expected[name].shape)}"
            )
        if value.dtype != expected[name].dtype:
            raise CheckpointError(
                f"checkpoint {where!r}: model tensor {name!r} is stored as {value.dtype}; "
                f"the model's is {expected[name].dtype}"
            )
        problem = _bad_values(value)
        if problem is not None:
            raise CheckpointError(f"checkpoint {where!r}: model tensor {name!r} {problem}")


def _optimizer_state(
    checkpoint: Checkpoint, optimizer: torch.optim.Optimizer
) -> dict[int, dict[str, torch.Tensor]]:
    """The optimiser's per-parameter state from the ``optimizer/<index>/<name>`` tensors."""
    where = str(checkpoint.path)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in checkpoint.tensors.items():
        if not key.startswith("optimizer/"):
            continue
        parts = key.split("/", 2)
        if len(parts) != 3 or not parts[1].isdecimal() or not parts[2]:
            raise CheckpointError(
                f"checkpoint {where!r} has tensor {key!r}; expected optimiser state named "
                "optimizer/<parameter index>/<name>"
            )
        index, name = int(parts[1]), parts[2]
        if index >= len(params):
            raise CheckpointError(
                f"checkpoint {where!r} has optimiser state for parameter {index}; the model "
                f"has {len(params)}"
            )
        shape = () if name == "step" else tuple(params[index].shape)
        if tuple(value.shape) != shape:
            raise CheckpointError(
                f"checkpoint {where!r}: optimiser state {key} has shape {tuple(value.shape)}; "
                f"expected {shape}"
                + ("" if name == "step" else f" (the shape of parameter {index})")
            )
        if not value.is_floating_point():
            raise CheckpointError(
                f"checkpoint {where!r}: optimiser state {key} is stored as {value.dtype}; "
                "expected floating point"
            )
        if name != "step" and value.dtype != params[index].dtype:
            # load_state_dict would cast it to the parameter's dtype silently
            raise CheckpointError(
                f"checkpoint {where!r}: optimiser state {key} is stored as {value.dtype}; "
                f"expected {params[index].dtype} (the dtype of parameter {index})"
            )
        problem = _bad_values(value)
        if problem is not None:
            raise CheckpointError(f"checkpoint {where!r}: optimiser state {key} {problem}")
        # a second moment is a mean of squares: a negative one made Adam's first step NaN
        # (the rule of the SAE's checkpoints, bottlekit.concepts.discovery._sae)
        if name.endswith("exp_avg_sq") and bool((value < 0).any()):
            raise CheckpointError(
                f"checkpoint {where!r}: optimiser state {key} has negative values; expected "
                "values >= 0"
            )
        # every parameter is updated at every step (world training's is): a counter of
        # another value, negative or not whole, would weigh the next updates wrongly
        if name == "step" and float(value) != checkpoint.step:
            raise CheckpointError(
                f"checkpoint {where!r}: optimiser state {key} is {float(value)!r}; expected "
                f"the checkpoint's step, {checkpoint.step} (progress.step)"
            )
        state.setdefault(index, {})[name] = value
    _check_state_names(state, len(params), _state_names(optimizer), checkpoint)
    return state


def _state_names(optimizer: torch.optim.Optimizer) -> set[str] | None:
    """The names of the per-parameter state ``optimizer`` keeps (AdamW's ``step``,
    ``exp_avg``, ``exp_avg_sq``), from one step of its kind on a scratch parameter; None
    where that cannot be told (an optimiser that takes other arguments)."""
    probe = torch.zeros(1, requires_grad=True)
    try:
        takes = inspect.signature(type(optimizer)).parameters
        options = {
            k: v
            for k, v in optimizer.defaults.items()
            if k in takes and k not in ("foreach", "fused", "capturable", "differentiable")
        }
        twin = type(optimizer)([probe], **options)
        probe.grad = torch.zeros(1)
        twin.step()
    except Exception:  # any optimiser: then the names go unchecked
        return None
    return set(twin.state[probe])


def _check_state_names(
    state: dict[int, dict[str, torch.Tensor]],
    n_params: int,
    names: set[str] | None,
    checkpoint: Checkpoint,
) -> None:
    """Every parameter has the optimiser's whole state after a step (none before the
    first): a missing moment failed at the first step after loading, and missing state
    restarted that parameter's moments silently."""
    where = str(checkpoint.path)
    if checkpoint.step == 0:
        if state:
            raise CheckpointError(
                f"checkpoint {where!r} is at step 0 (progress.step) but holds optimiser "
                f"state for parameter {min(state)}; expected none before the first step"
            )
        return
    for index in range(n_params):
        have = set(state.get(index, {}))
        want = names if names is not None else set(state.get(0, {})) or {"step"}
        if have != want:
            missing, extra = sorted(want - have), sorted(have - want)
            raise CheckpointError(
                f"checkpoint {where!r}: optimiser state of parameter {index} "
                + (f"lacks {missing}" if missing else f"has {extra} besides")
                + f"; expected tensors optimizer/{index}/<name> for names {sorted(want)} "
                f"(at step {checkpoint.step})"
            )


def _check_like(saved: Any, current: Any, at: str, where: str, kind: str) -> None:
    """Refuse a stored optimiser or scheduler state that is not shaped like the live one.

    ``load_state_dict`` takes the stored dict as it is (a scheduler's even updates its
    attributes with whatever keys it holds): a key the live object does not have, a
    string for a learning rate or a list of another length would fail steps later, or
    be trained with silently.
    """

    def fail(expected: str) -> CheckpointError:
        shown = shown_value(saved)
        return CheckpointError(
            f"checkpoint {where!r}: sidecar key {at!r} is {shown}; expected {expected} "
            f"(as this {kind}'s state has)"
        )

    if isinstance(current, dict):
        if not isinstance(saved, dict):
            raise fail("a JSON object")
        unknown = sorted(set(saved) - set(current))
        if unknown:
            raise CheckpointError(
                f"checkpoint {where!r}: sidecar key {at!r} has keys {unknown} that this "
                f"{kind}'s state does not have (tampered, or written by another torch)"
            )
        for key, value in saved.items():
            _check_like(value, current[key], f"{at}.{key}", where, kind)
    elif isinstance(current, (list, tuple)):
        if not isinstance(saved, list) or len(saved) != len(current):
            raise fail(f"a list of {len(current)}")
        for i, (value, now) in enumerate(zip(saved, current, strict=True)):
            _check_like(value, now, f"{at}[{i}]", where, kind)
    elif isinstance(current, bool):
        if not isinstance(saved, bool):
            raise fail("true or false")
    elif isinstance(current, (int, float)):
        kinds = (int,) if isinstance(current, int) else _NUM
        if isinstance(saved, bool) or not isinstance(saved, kinds):
            raise fail("an int" if kinds == (int,) else "a number")
        if not math.isfinite(saved):
            raise fail("a finite number")
    elif isinstance(current, str):
        if not isinstance(saved, str):
            raise fail("a string")
    elif current is None and isinstance(saved, (dict, list)):
        raise fail("null or a JSON value")


#: The scheduler state a resumed run needs, where the live scheduler's state has it:
#: without ``last_epoch`` the schedule restarted silently, without ``lr_lambdas``
#: ``LambdaLR`` failed after the optimiser was loaded.
_SCHEDULER_KEYS = ("base_lrs", "last_epoch", "_step_count", "_last_lr", "lr_lambdas")


def _check_complete(checkpoint: Checkpoint, groups: list[dict], scheduler: Any) -> None:
    """The stored optimiser and scheduler states have every key the live ones need (what
    :func:`_check_like` does not ask): each parameter group exactly the live group's keys
    (a missing ``lr`` or ``betas`` failed at the first step, deep in torch) and its
    parameters' indices, 0 to n-1 in order (another index dropped that parameter's
    moments silently); the scheduler :data:`_SCHEDULER_KEYS`."""
    where = str(checkpoint.path)
    for i, (saved, now) in enumerate(
        zip(checkpoint.meta["optimizer"]["param_groups"], groups, strict=True)
    ):
        missing = sorted(set(now) - set(saved))
        if missing:
            written_by = (checkpoint.meta.get("versions") or {}).get("torch")
            other_torch = (
                f"; it was written by torch {written_by}, this is {torch.__version__}: resume "
                f"with torch {written_by}"
                if isinstance(written_by, str) and written_by != torch.__version__
                else ""
            )
            raise CheckpointError(
                f"checkpoint {where!r}: sidecar key 'optimizer.param_groups[{i}]' lacks "
                f"{missing}; expected the keys {sorted(now)} (as this optimiser's state "
                f"has){other_torch}"
            )
        if saved["params"] != now["params"]:
            raise CheckpointError(
                f"checkpoint {where!r}: sidecar key 'optimizer.param_groups[{i}].params' is "
                f"{shown_value(saved['params'])}; expected {shown_value(now['params'])} (the "
                "indices of the group's parameters, in the order of the optimiser's)"
            )
    sched, live = checkpoint.meta["scheduler"], scheduler.state_dict()
    missing = [key for key in _SCHEDULER_KEYS if key in live and key not in sched]
    if missing:
        raise CheckpointError(
            f"checkpoint {where!r}: sidecar key 'scheduler' lacks {missing}; expected the keys "
            f"{[key for key in _SCHEDULER_KEYS if key in live]} (as this scheduler's state has)"
        )


def _check_same_recipe(checkpoint: Checkpoint, groups: list[dict], scheduler: Any) -> None:
    """The stored optimiser and scheduler states say what the live ones (built from the
    run's arguments, checked against the checkpoint's ``config``) say: the same
    hyper-parameters, base learning rates and step, and each group's learning rate where
    the schedule puts it. Otherwise the run trains with the stored values, silently
    another recipe (a ``base_lrs`` of 0.1 beside ``config.lr`` 0.001), or another point
    of the schedule (a ``last_epoch`` past the run's steps, or negative)."""
    where = str(checkpoint.path)

    def refuse(at: str, saved: Any, expected: Any) -> CheckpointError:
        return CheckpointError(
            f"checkpoint {where!r}: sidecar key {at!r} is {shown_value(saved)}; expected "
            f"{shown_value(expected)}, as the run's own optimiser and scheduler have (the "
            "checkpoint contradicts itself: tampered, or not written by bottlekit)"
        )

    sched = checkpoint.meta["scheduler"]
    if "last_epoch" in sched and sched["last_epoch"] != checkpoint.step:
        raise refuse("scheduler.last_epoch", sched["last_epoch"], checkpoint.step)
    live = scheduler.state_dict()
    if "base_lrs" in sched and sched["base_lrs"] != live["base_lrs"]:
        raise refuse("scheduler.base_lrs", sched["base_lrs"], live["base_lrs"])
    saved_groups = checkpoint.meta["optimizer"]["param_groups"]
    for i, (saved, now) in enumerate(zip(saved_groups, groups, strict=True)):
        for key, value in saved.items():
            if key in ("lr", "params"):
                continue
            expected = list(now[key]) if isinstance(now[key], tuple) else now[key]
            if value != expected:
                raise refuse(f"optimizer.param_groups[{i}].{key}", value, expected)
    if isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
        for i, (saved, base, factor) in enumerate(
            zip(saved_groups, live["base_lrs"], scheduler.lr_lambdas, strict=True)
        ):
            expected = base * factor(checkpoint.step)
            if saved["lr"] != expected:
                raise refuse(f"optimizer.param_groups[{i}].lr", saved["lr"], expected)


def restore_training_state(
    checkpoint: Checkpoint,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
) -> None:
    """Load the model, optimiser, scheduler and global RNG states of ``checkpoint``.

    Parameters
    ----------
    checkpoint : Checkpoint
        The checkpoint, read by :func:`read_checkpoint` (checked whole before anything
        is loaded).
    model, optimizer, scheduler : torch.nn.Module, torch.optim.Optimizer, LRScheduler
        Built exactly as for the run that wrote the checkpoint.

    Examples
    --------
    >>> import tempfile, pathlib, torch
    >>> from bottlekit.world.checkpoint import read_checkpoint, write_checkpoint
    >>> def build():
    ...     m = torch.nn.Linear(2, 1); opt = torch.optim.AdamW(m.parameters())
    ...     return m, opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 / (s + 1))
    >>> m, opt, sched = build()
    >>> m(torch.ones(1, 2)).sum().backward(); opt.step(); sched.step()
    >>> cfg = dict(n_train=1, n_val=1, steps=2, batch_size=1, lr=1e-3, weight_decay=0.0,
    ...            warmup=0, seed=0, p_typical_background=0.2, init=None)
    >>> prog = dict(step=1, epoch=0, next_batch=1, epoch_rng_state={}, losses=[0.5],
    ...             last_val_zero_shot=None, train_seconds=0.0, train_cpu_seconds=0.0,
    ...             sittings=1)
    >>> meta = dict(model="m", model_config={}, config=cfg, progress=prog,
    ...             world_sha256="0", init=None, versions={})
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "ckpt.json"
    >>> _ = write_checkpoint(p, model=m, optimizer=opt, scheduler=sched, meta=meta)
    >>> m2, opt2, sched2 = build()
    >>> restore_training_state(read_checkpoint(p), m2, opt2, sched2)
    >>> torch.equal(m2.weight, m.weight), sched2.get_last_lr() == sched.get_last_lr()
    (True, True)
    """
    where = str(checkpoint.path)
    # everything is checked before anything is loaded: a refused checkpoint leaves the
    # model, optimiser and scheduler as they were
    _check_model_tensors(checkpoint, model)
    state = _optimizer_state(checkpoint, optimizer)
    current = optimizer.state_dict()["param_groups"]
    saved = checkpoint.meta["optimizer"]["param_groups"]
    _check_like(saved, current, "optimizer.param_groups", where, "optimiser")
    _check_like(
        checkpoint.meta["scheduler"], scheduler.state_dict(), "scheduler", where, "scheduler"
    )
    _check_complete(checkpoint, current, scheduler)
    _check_same_recipe(checkpoint, current, scheduler)
    check_rng_states(checkpoint.meta["rng"], checkpoint.tensors, where)
    try:
        model.load_state_dict(checkpoint.model_state(), strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {where!r} does not fit the model: {exc}") from exc
    groups = []
    for group in saved:
        group = dict(group)
        if isinstance(group.get("betas"), list):
            group["betas"] = tuple(group["betas"])
        groups.append(group)
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
        scheduler.load_state_dict(checkpoint.meta["scheduler"])
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(
            f"checkpoint {where!r}: optimiser or scheduler state does not fit: {exc}"
        ) from exc
    restore_rng_states(checkpoint.meta["rng"], checkpoint.tensors, where)
