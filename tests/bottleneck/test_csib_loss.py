"""CS-IB's batch loss: the fused Gram-matrix computation equals the estimators' definition.

``CSIBRegressor._loss`` builds each batch Gram matrix once instead of calling
:func:`~bottlekit.estimators.conditional_cs_divergence` and three
:func:`~bottlekit.estimators.cs_qmi` (which tile and validate every input on every
step). The definition it must reproduce is written out below with those estimators.
Tolerances: loss and gradients within 1e-9 relative in float64; a trained model's test
RMSE within 1 % of the one trained with the definition's loss (float32 rounding differs,
so the trajectories drift apart slightly; measured 0.02-0.3 %).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bottlekit.bottleneck import CSIBRegressor
from bottlekit.estimators import conditional_cs_divergence, cs_qmi

LN2 = math.log(2.0)


def definition_loss(reg: CSIBRegressor, x, y, out, t):
    """The CS-IB objective written with bottlekit's estimators (the pre-fusion code)."""
    s = reg.sigma if isinstance(reg.sigma, str) else float(reg.sigma)
    yhat, yv = out.reshape(-1, 1), y.reshape(-1, 1)
    cs_div = conditional_cs_divergence(x, yv, x, yhat, sigma_x=s, sigma_y=s) / LN2

    def qmi(a, b):
        w = s if isinstance(s, str) else s / math.sqrt(2.0)
        return cs_qmi(a, b, sigma_x=w, sigma_y=w, statistic="v") / LN2

    i_xt = qmi(x, t)
    if reg.normalize_qmi:
        i_xt = i_xt / torch.sqrt(qmi(x, x) * qmi(t, t))
    return cs_div + reg.beta * i_xt, cs_div, i_xt


class DefinitionCSIB(CSIBRegressor):
    """CS-IB trained with the definition's loss, for the RMSE comparison."""

    def _loss(self, x, y, out, t, mean, logvar):
        loss, cs_div, i_xt = definition_loss(self, x, y, out, t)
        return loss, {"cs_div": float(cs_div.detach()), "i_xt": float(i_xt.detach())}


def _batch(n=60, d=5, k=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = x[:, 0] + 0.3 * torch.randn(n, generator=gen, dtype=torch.float64)
    out = (y + 0.5 * torch.randn(n, generator=gen, dtype=torch.float64))[:, None] + 0.2
    t = 2.0 * torch.randn(n, k, generator=gen, dtype=torch.float64) + 3.0
    return x, y, out.requires_grad_(), t.requires_grad_()


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"beta": 0.7, "sigma": 0.6},
        {"beta": 0.3, "normalize_qmi": False},
        {"beta": 0.5, "sigma": "median"},
        {"beta": 0.5, "sigma": "silverman"},
    ],
)
def test_fused_loss_equals_the_estimators_definition(params):
    reg = CSIBRegressor(**params)
    x, y, out, t = _batch()
    loss, parts = reg._loss(x, y, out, t, t, t)
    expected, cs_div, i_xt = definition_loss(reg, x, y, out, t)
    torch.testing.assert_close(loss, expected, rtol=1e-9, atol=0)
    assert float(parts["cs_div"]) == pytest.approx(float(cs_div.detach()), rel=1e-9)
    assert float(parts["i_xt"]) == pytest.approx(float(i_xt.detach()), rel=1e-9)
    assert float(parts["mse"]) == pytest.approx(float(torch.mean((out.detach()[:, 0] - y) ** 2)))
    g_out, g_t = torch.autograd.grad(loss, (out, t))
    e_out, e_t = torch.autograd.grad(expected, (out, t))
    torch.testing.assert_close(g_out, e_out, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(g_t, e_t, rtol=1e-9, atol=1e-12)
    assert float(cs_div.detach()) > 0.01  # the batch is not a degenerate case where both are 0


def test_trained_rmse_equals_the_definitions_within_one_percent():
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, size=(700, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.standard_normal(700)
    Xtr, ytr, Xte, yte = X[:500], y[:500], X[500:], y[500:]
    params = {"hidden_sizes": (32, 32), "bottleneck_dim": 8, "max_epochs": 30}
    params |= {"stochastic_encoder": False, "random_state": 0}
    rmse = []
    for model in (CSIBRegressor, DefinitionCSIB):
        reg = model(**params).fit(Xtr, ytr)
        rmse.append(float(np.sqrt(np.mean((reg.predict(Xte) - yte) ** 2))))
    assert rmse[0] == pytest.approx(rmse[1], rel=0.01), rmse
    assert rmse[0] < 0.6  # and it learnt something (the mean predictor scores ≈ 0.9)
