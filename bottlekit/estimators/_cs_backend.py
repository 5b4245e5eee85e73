"""The kernel sums of the Cauchy–Schwarz estimators, for numpy or torch, and the input
checks they share (:mod:`bottlekit.estimators.cauchy_schwarz` holds the estimators and
their formulas).

Sums that carry no gradient run in float32 tiles (float64 tiles for float64 tensors;
float64 sums) on any device; sums that need a gradient use differentiable, checkpointed
tiles in the inputs' dtype.
"""

from __future__ import annotations

import math

import numpy as np

from bottlekit._arrays import check_real_tensor
from bottlekit._checks import check_choice, check_number, check_unused

from ._kernel_sums import gaussian_pair_sums, resolve_device
from ._scaling import power_of_two_scale
from ._validation import as_2d_samples, check_paired, check_random_state, convert_base
from .kernels import _check_tile, gaussian_rowsums_torch, kernel_width

UNDERFLOW = 2.0**-126 * (1 + 1e-6)  # the float32 tiles' floor, with rounding
APPROXIMATIONS = (None, "random_tiles")
FAST_TILE = 512  # float32 tiles without gradient (1 MiB each; fastest on CPU)
GRAD_TILE = 2048  # differentiable, checkpointed tiles


def is_tensor(x) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


class Backend:
    """Kernel sums and the few array operations the estimators need, for numpy or torch.

    Sums that carry no gradient (numpy inputs, or tensors when autograd is off or nothing
    requires a gradient) go through :func:`._kernel_sums.gaussian_pair_sums` (float32
    tiles for arrays and float32 tensors, float64 tiles for float64 tensors; float64
    sums; on ``device``). Sums that need a gradient use the differentiable,
    checkpointed :func:`.kernels.gaussian_rowsums_torch` in the inputs' dtype.
    """

    def __init__(self, torch_mode: bool, tile_size, device, tensors, widths):
        self.torch = torch_mode
        self.device = resolve_device(device, *tensors)
        self.grad = torch_mode and needs_grad(list(tensors) + list(widths))
        default = GRAD_TILE if self.grad else FAST_TILE
        self.tile = default if tile_size is None else _check_tile(tile_size)
        if torch_mode:
            import torch

            self.log = torch.log
            self.cat = lambda xs: torch.cat(xs, dim=1)
            self.dtype = tensors[0].dtype
            # float64 tensors keep float64 tiles (exact to rounding); the rest float32
            self.tile_dtype = torch.float64 if self.dtype == torch.float64 else torch.float32
        else:
            self.tile_dtype = None  # float32
            self.log = np.log
            self.cat = lambda xs: np.hstack(xs)

    def _fast(self, A, B, widths, split, columns=False, self_pairs=True, need=("x",)):
        w = tuple(float(x.detach()) if is_tensor(x) else float(x) for x in widths)
        sums = gaussian_pair_sums(
            A,
            B,
            w,
            split=split,
            columns=columns,
            self_pairs=self_pairs,
            skip_y=split is not None and "y" not in need,
            tile_size=self.tile,
            device=self.device,
            dtype=self.tile_dtype,
        )
        if not self.torch:
            return {k: v.cpu().numpy() for k, v in sums.items()}
        return sums

    def within(self, A, widths, split=None, need=("x",), self_pairs=True):
        """Row sums of the within-sample Gram matrices of ``A`` (columns cut at ``split``).

        ``self_pairs=False``: without the diagonal ones (the sums over distinct pairs).
        """
        if not self.grad:
            return self._fast(A, None, widths, split, self_pairs=self_pairs, need=need)
        out = self._differentiable(A, A, widths, split, need)
        return out if self_pairs else {k: v - 1.0 for k, v in out.items()}

    def cross(self, A, B, widths, split=None, need=("x",), columns=False):
        """Row sums between ``A`` and ``B`` (and, with ``columns``, between ``B`` and ``A``)."""
        if not self.grad:
            if same_values(A, B):  # identical samples: the within sums, bit for bit
                out = self._fast(A, None, widths, split, need=need)
                out.update({k + "_cols": v for k, v in list(out.items())} if columns else {})
                return out
            return self._fast(A, B, widths, split, columns, need=need)
        out = self._differentiable(A, B, widths, split, need)
        if columns:
            back = self._differentiable(B, A, widths, split, need)
            out.update({k + "_cols": v for k, v in back.items()})
        return out

    def cross_total(self, A, B, width):
        """Sum of the Gram matrix between ``A`` and ``B``, the same for ``(B, A)``."""
        if not self.grad and not in_order(A, B):  # float32 tiles: fix one orientation
            A, B = B, A
        return self.cross(A, B, (width,))["x"].sum()

    def _differentiable(self, A, B, widths, split, need):
        t = self.tile
        if split is None:
            return {"x": gaussian_rowsums_torch(A, B, widths[0], tile_size=t)}
        sx, sy = widths
        out = {}
        if "x" in need:
            out["x"] = gaussian_rowsums_torch(A[:, :split], B[:, :split], sx, tile_size=t)
        if "y" in need:
            out["y"] = gaussian_rowsums_torch(A[:, split:], B[:, split:], sy, tile_size=t)
        if "joint" in need:
            za = self.cat([A[:, :split] / sx, A[:, split:] / sy])
            zb = za if B is A else self.cat([B[:, :split] / sx, B[:, split:] / sy])
            out["joint"] = gaussian_rowsums_torch(za, zb, 1.0, tile_size=t)
        return out

    def scalar(self, value: float):
        """A Python float as the output type (a 0-dim tensor for tensor inputs)."""
        if not self.torch:
            return value
        import torch

        return torch.tensor(value, dtype=torch.float64, device=self.device)

    def finish(self, value, base):
        if self.torch:
            if not self.grad:
                value = value.to(self.dtype)
            return value if base is None else value / math.log(base)
        return convert_base(float(value), base)


def same_values(A, B) -> bool:
    if A is B:
        return True
    if A.shape != B.shape:
        return False
    if is_tensor(A):
        import torch

        return bool(torch.equal(A, B))
    return bool(np.array_equal(A, B))


def in_order(A, B) -> bool:
    """A fixed order of two samples, so that float32 sums of (A, B) and (B, A) agree.

    The sums are taken in units of one power of two (exact, order kept): ``A.sum()``
    overflowed, with a RuntimeWarning, for data near ``1e307``.
    """
    peak = max(float(abs(A).max()), float(abs(B).max()))
    c = float(power_of_two_scale(np.array([peak]), axis=None))
    return (A.shape[0], float((A / c).sum())) <= (B.shape[0], float((B / c).sum()))


def approximation_size(approximation, count, knob: str, default: int):
    """``count`` (``n_tiles``, ``n_points``) resolved: None means ``default``.

    It sizes the ``"random_tiles"`` approximation only: with ``approximation=None`` (the
    exact sums) a value is refused (it used to be ignored, silently).
    """
    if approximation is None:
        check_unused(
            count, knob, "with approximation=None (the exact sums; it sizes the "
            "'random_tiles' approximation)", " or use approximation='random_tiles'",
        )  # fmt: skip
        return default
    return default if count is None else count


def check_approximation(approximation, count, knob: str, be, random_state) -> bool:
    """True for the approximate mode (``count`` checked as the positive integer ``knob``).

    ``random_state`` is checked here too: it would otherwise be checked only on inputs
    large enough for the sampling to run.
    """
    check_choice(
        approximation,
        APPROXIMATIONS,
        "approximation",
        expected="None (exact) or 'random_tiles'",
        wording="must",
    )
    if approximation is None:
        return False
    check_number(count, knob, integer=True, low=1, expected="a positive integer", wording="must")
    check_random_state(random_state)
    if be.grad:
        raise ValueError(
            "approximation='random_tiles' gives no gradient; use the exact sums "
            "(approximation=None) for inputs that require a gradient"
        )
    return True


def sampler(approximation, n_tiles, random_state, be, pairs: int):
    """The generator of the approximate mode, or None for the exact sums."""
    if not check_approximation(approximation, n_tiles, "n_tiles", be, random_state):
        return None
    if pairs <= n_tiles * FAST_TILE**2:  # the exact sums are not dearer
        return None
    import torch

    seed = int(check_random_state(random_state).integers(2**62))
    return torch.Generator().manual_seed(seed)


def v_mean(distinct_mean: float, n: int) -> float:
    """Mean over all n^2 pairs from the mean over distinct pairs (the diagonal is 1)."""
    return (1.0 + (n - 1) * distinct_mean) / n


def needs_grad(items) -> bool:
    import torch

    return torch.is_grad_enabled() and any(is_tensor(a) and a.requires_grad for a in items)


def check_tensor(arr, name: str):
    """Shape and finiteness checks done with torch ops (no copy off the device)."""
    check_real_tensor(arr, name, wording="must")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have shape (n,) or (n, d), got shape {tuple(arr.shape)}")
    if arr.shape[0] < 2:
        raise ValueError(f"{name} must have at least 2 samples (rows), got {arr.shape[0]}")
    if not arr.is_floating_point():
        arr = arr.double()
    elif arr.element_size() < 4:
        # float16 / bfloat16 carry 3 or 2 digits: a kernel sum in them gave CS-QMI = -inf
        # (0.103 in float32) and a conditional divergence of the wrong sign. The cast is
        # differentiable; the result is float32.
        arr = arr.float()
    if not bool(arr.detach().isfinite().all()):
        bad = int((~arr.detach().isfinite()).sum())
        raise ValueError(
            f"{name} contains {bad} NaN or infinite value(s); expected finite values only"
        )
    return arr


def prepare(arrays, names, torch_mode: bool, *, paired=(), device=None):
    """Validate samples; tensors are checked on a detached copy and returned as 2-D.

    Tensors are moved to ``device`` when one is given (a differentiable copy).
    """
    out = []
    for arr, name in zip(arrays, names, strict=True):
        if torch_mode:
            if not is_tensor(arr):
                raise TypeError(
                    f"{name} must be a torch.Tensor like the other inputs, got "
                    f"{type(arr).__name__}"
                )
            arr = check_tensor(arr, name)
            if device is not None:
                arr = arr.to(resolve_device(device))
        else:
            if is_tensor(arr):
                raise TypeError(f"{name} is a torch.Tensor but other inputs are not")
            arr = as_2d_samples(arr, name)
        out.append(arr)
    for i, j in paired:
        check_paired(out[i], out[j], (names[i], names[j]))
    return out


def sample_width(sample, sigma, name):
    if is_tensor(sigma):
        if sigma.numel() != 1:
            raise ValueError(
                f"{name} must be a scalar, got a tensor of shape {tuple(sigma.shape)}"
            )
        value = float(sigma.detach())
        # finite too: a tensor of inf was accepted and gave a silent 0 (the float path,
        # kernel_width, refuses it with this message)
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        return sigma.reshape(())
    return kernel_width(sample, sigma, name=name)


def check_statistic(statistic) -> bool:
    """True for the U-statistic (self-pairs excluded), False for the V-statistic."""
    expected = "'u' (self-pairs excluded) or 'v' (all pairs, the Parzen plug-in)"
    return (
        check_choice(statistic, ("u", "v"), "statistic", expected=expected, wording="must") == "u"
    )


def positive_mean(mean, what: str, width):
    """Refuse a kernel mean that underflowed (log would be -inf, or that of the floor).

    ``width``: the kernel width, or the pair ``(sigma_x, sigma_y)`` of a product kernel,
    for the message.

    The float32 tiles count values below ``2**-126`` as ``2**-126``; a mean at or below
    that floor means every value underflowed.
    """
    if not float(mean.detach() if hasattr(mean, "detach") else mean) > UNDERFLOW:
        if isinstance(width, (tuple, list)):  # a product kernel: (sigma_x, sigma_y)
            at = "kernel widths " + " and ".join(
                f"{label}={float(w):.3g}"
                for label, w in zip(("sigma_x", "sigma_y"), width, strict=True)
            )
            the = "the widths are"
        else:
            at, the = f"kernel width {float(width):.3g}", "the width is"
        raise ValueError(
            f"every kernel value between {what} underflowed to 0 (below 1.2e-38) at {at}: "
            f"{the} too small for the distances in these data; pass a larger sigma or "
            "standardise the data"
        )
    return mean


def within_mean(total, n: int, unbiased: bool, what: str, width):
    """Mean of a within-sample Gram matrix from its total (without the self-pairs if
    ``unbiased``, with its n diagonal ones otherwise)."""
    if unbiased:
        return positive_mean(total / (n * (n - 1)), f"distinct points of {what}", width)
    return total / (n * n)


def stack(A, B, torch_mode: bool):
    """Rows of ``A`` then ``B`` (the pooled sample the width rules see)."""
    if torch_mode:
        import torch

        return torch.cat([A, B], dim=0)
    return np.vstack([A, B])


def any_tensor(*arrays) -> bool:
    return any(is_tensor(a) for a in arrays)
