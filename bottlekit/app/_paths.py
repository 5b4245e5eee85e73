"""Output paths of the commands, checked before any work is done.

:func:`check_output_path` lives in :mod:`bottlekit.atomic` (the bottom layer), so that the
library and the world check their output paths with it too.
"""

from __future__ import annotations

from bottlekit.atomic import check_output_path

__all__ = ["check_output_path"]
