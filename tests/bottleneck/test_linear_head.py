"""The linear head on a backbone's embeddings: the file, its checks, the old import path.

The torch classifier itself is exercised by tests/diagnostics/test_audit.py (audits of
two such classifiers on the built-in world).
"""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import save

from bottlekit.bottleneck import linear_head, load_linear_head, save_linear_head


def test_round_trip_is_float32_and_exact(tmp_path):
    W = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    b = np.array([0.5, -1.0, 2.0])
    path = save_linear_head(tmp_path / "head.safetensors", W, b)
    W2, b2 = load_linear_head(path)
    np.testing.assert_array_equal(W2, W.astype(np.float32))
    np.testing.assert_array_equal(b2, b.astype(np.float32))
    assert W2.dtype == b2.dtype == np.float32


def test_save_refuses_mismatched_shapes(tmp_path):
    with pytest.raises(ValueError, match=r"expected \(C, d\) and \(C,\), got \(2, 3\) and \(3,\)"):
        save_linear_head(tmp_path / "h.safetensors", np.zeros((2, 3)), np.zeros(3))


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"weight": np.zeros((2, 3), np.float32)}, "must hold exactly 'weight' and 'bias'"),
        (
            {"weight": np.zeros((2, 3), np.int32), "bias": np.zeros(2, np.int32)},
            "must hold float arrays",
        ),
        (
            {"weight": np.zeros((2, 3), np.float32), "bias": np.zeros(3, np.float32)},
            r"weight \(C, d\) and bias \(C,\) expected",
        ),
        (
            {"weight": np.full((2, 3), np.nan, np.float32), "bias": np.zeros(2, np.float32)},
            "NaN or infinite",
        ),
    ],
)
@pytest.mark.parametrize("argument", [None, "--head"])
def test_load_errors_name_the_argument(tmp_path, arrays, message, argument):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(save(arrays))
    kwargs = {} if argument is None else {"argument": argument}
    with pytest.raises(ValueError, match=message) as info:
        load_linear_head(path, **kwargs)
    assert str(info.value).startswith(f"{argument or 'path'}: ")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        # before: accepted (float64 is finite), BackboneLinearClassifier cast it to inf and
        # the audited logits were NaN, with no error
        ("weight", 1e300, r"weight holds values beyond float32's range \(first 1e\+300\); "),
        ("bias", -1e39, r"bias holds values beyond float32's range \(first -1e\+39\); "),
        # before: accepted; within float32, but a row of such values overflows the float32
        # logits of a unit embedding
        ("weight", 3e38, r"weight holds a value of magnitude 3e\+38; expected at most 7.53e\+18"),
        ("bias", 1e19, r"bias holds a value of magnitude 1e\+19; expected at most 7.53e\+18"),
    ],
)
def test_load_refuses_values_whose_float32_logits_overflow(tmp_path, name, value, message):
    arrays = {"weight": np.zeros((3, 4)), "bias": np.zeros(3)}
    arrays[name][1] = value
    path = tmp_path / "big.safetensors"
    path.write_bytes(save(arrays))
    with pytest.raises(ValueError, match=rf"^--head: '.*big\.safetensors': {message}"):
        load_linear_head(path, argument="--head")


def test_the_magnitude_limit_keeps_float32_logits_finite(tmp_path):
    # values at the limit are written and read back, and the worst case of them (every
    # |w| = |b| = M, every entry of z = 1, all terms of one sign) gives finite float32
    # logits; twice the limit is not written
    import torch

    from bottlekit.bottleneck._model_file import magnitude_limit

    d = 4
    M = np.float32(magnitude_limit(0, d))
    W, b = np.full((2, d), M, np.float32), np.full(2, M, np.float32)
    W[1], b[1] = -M, -M
    W2, b2 = load_linear_head(save_linear_head(tmp_path / "h.safetensors", W, b))
    logits = torch.nn.functional.linear(
        torch.ones(1, d), torch.from_numpy(W2), torch.from_numpy(b2)
    )
    assert torch.isfinite(logits).all() and float(logits[0, 0]) == pytest.approx(
        (d + 1) * float(M), rel=1e-6
    )
    with pytest.raises(ValueError, match=r"^weight/bias: weight holds a value of magnitude"):
        save_linear_head(tmp_path / "h2.safetensors", W * 2, b)


def test_load_missing_file_names_the_argument(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^--head: no file at"):
        load_linear_head(tmp_path / "none.safetensors", argument="--head")


@pytest.mark.parametrize(
    "name", ["BackboneLinearClassifier", "load_linear_head", "save_linear_head"]
)
def test_old_import_path_still_works_with_a_warning(name):
    from bottlekit.app import audit_command

    with pytest.warns(FutureWarning, match=f"moved to bottlekit.bottleneck.{name}"):
        moved = getattr(audit_command, name)
    assert moved is getattr(linear_head, name)
    assert name not in audit_command.__all__


def test_old_module_still_refuses_unknown_names():
    from bottlekit.app import audit_command

    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        audit_command.nothing  # noqa: B018
