"""Output paths of the commands, checked before any work is done."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["check_output_path"]


def check_output_path(path: str | os.PathLike, arg: str) -> Path:
    """Refuse an output path that cannot be written, before any work is done.

    Every existing ancestor must be a folder (a file in the way is the usual mistake) and
    the nearest existing one writable; missing folders are created when writing.

    Parameters
    ----------
    path : path-like
        The output file or folder.
    arg : str
        The option that gave it, for the message (e.g. ``"--out"``).

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(
                    f"{arg}: {str(parent)!r} is a file, so {str(path)!r} cannot be written"
                )
            if not os.access(parent, os.W_OK):
                raise ValueError(f"{arg}: folder {str(parent)!r} is not writable")
            break
    return path
