r"""Branch-free logistic loss and gradient for numba loops that vectorise across lanes.

``math.exp`` and ``math.log1p`` are calls that LLVM does not vectorise (numba links no
vector math library), so a loop over classes that calls them runs one class at a time.
These inline functions use only arithmetic, comparisons and a bit cast, so the loop
around them runs in SIMD. For a raw prediction :math:`p` and a label :math:`y \in \{0, 1\}`,
with :math:`e = e^{-|p|}`,

.. math::
    \ell(p, y) = \log(1 + e^{p}) - y p = \max(p, 0) + \operatorname{log1p}(e) - y p,
    \qquad
    \partial_p \ell = \sigma(p) - y =
    \begin{cases} 1/(1 + e) - y & p \ge 0\\ e/(1 + e) - y & p < 0.\end{cases}

:math:`e^{-a}` (:math:`a \ge 0`; 0 beyond 708, where it would turn subnormal) is
:math:`2^{-n} e^{-r}` with :math:`n = \lfloor a/\ln 2 + \tfrac12\rfloor`,
:math:`r = a - n\ln 2` (in two parts, Cody & Waite) and the Taylor polynomial of
:math:`e^{-r}` to degree 13 (:math:`|r| \le \ln 2 / 2`, remainder below :math:`4\cdot
10^{-18}`); :math:`2^{-n}` is built from its exponent bits. :math:`\operatorname{log1p}(e)`
for :math:`e \in [0, 1]` is :math:`2\operatorname{artanh}(s) = 2\sum_{i\ge 0}
s^{2i+1}/(2i+1)` with :math:`s = f/(2+f)`, where :math:`f = e` for
:math:`e \le \sqrt2 - 1` and otherwise :math:`f = (e - 1)/2` plus :math:`\ln 2`, so that
:math:`|s| \le 0.172`, summed to :math:`i = 10` (remainder below :math:`10^{-18}`). Both
agree with libm to a few units in the last place (tested).
"""

from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["exp_neg", "log1p_unit", "logistic_loss_and_gradient"]

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # fdlibm's split of ln 2: n * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_EXP_MAX_ARG = 708.0  # e^-708 = 3.3e-308, the last normal float64 before subnormals
_LN2 = 0.6931471805599453
_SQRT2_MINUS_1 = 0.41421356237309503


@intrinsic
def _double_from_bits(typingctx, bits):
    """The float64 whose IEEE bits are the int64 ``bits`` (a bit cast, no conversion)."""
    if not isinstance(bits, types.Integer):
        return None
    sig = types.float64(bits)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@numba.njit(nogil=True, cache=True, error_model="numpy", inline="always")
def exp_neg(a: float) -> float:
    """:math:`e^{-a}` for ``a >= 0``, 0 beyond 708, branch-free."""
    big = a > _EXP_MAX_ARG
    a = min(a, _EXP_MAX_ARG)
    n = float(int(a * _LOG2E + 0.5))
    r = (a - n * _LN2_HI) - n * _LN2_LO
    x = -r
    poly = 1.0 / 6227020800.0  # 1/13!
    poly = poly * x + 1.0 / 479001600.0
    poly = poly * x + 1.0 / 39916800.0
    poly = poly * x + 1.0 / 3628800.0
    poly = poly * x + 1.0 / 362880.0
    poly = poly * x + 1.0 / 40320.0
    poly = poly * x + 1.0 / 5040.0
    poly = poly * x + 1.0 / 720.0
    poly = poly * x + 1.0 / 120.0
    poly = poly * x + 1.0 / 24.0
    poly = poly * x + 1.0 / 6.0
    poly = poly * x + 0.5
    poly = poly * x + 1.0
    poly = poly * x + 1.0
    value = poly * _double_from_bits((1023 - int(n)) << 52)
    # 0 rather than a subnormal: tiny gradients would make the weight updates subnormal,
    # and every subnormal product costs a micro-code assist (libm's exp reaches 0 at 745)
    return 0.0 if big else value


@numba.njit(nogil=True, cache=True, error_model="numpy", inline="always")
def log1p_unit(e: float) -> float:
    """:math:`\\log(1 + e)` for ``0 <= e <= 1``, branch-free."""
    big = e > _SQRT2_MINUS_1  # then log(1 + e) = ln 2 + log1p((e - 1) / 2)
    f = (e - 1.0) * 0.5 if big else e
    s = f / (2.0 + f)
    s2 = s * s
    acc = 1.0 / 21.0
    for i in range(9, -1, -1):
        acc = acc * s2 + 1.0 / (2 * i + 1)
    return 2.0 * s * acc + (_LN2 if big else 0.0)


@numba.njit(nogil=True, cache=True, error_model="numpy", inline="always")
def logistic_loss_and_gradient(p: float, y: float) -> tuple[float, float]:
    """:math:`\\log(1 + e^p) - yp` and its derivative :math:`\\sigma(p) - y`."""
    e = exp_neg(abs(p))
    loss = max(p, 0.0) + log1p_unit(e) - y * p
    sigma = (1.0 if p >= 0.0 else e) / (1.0 + e)
    return loss, sigma - y
