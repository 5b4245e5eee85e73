"""Validation of numeric hyper-parameters of the bottleneck models: :mod:`bottlekit._checks`."""

from __future__ import annotations

from bottlekit._checks import check_number

__all__ = ["check_number"]
