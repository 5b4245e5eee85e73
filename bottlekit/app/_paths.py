"""Output paths of the commands, checked before any work is done.

:func:`check_output_path` lives in :mod:`bottlekit.atomic` (the bottom layer), so that the
library and the world check their output paths with it too.
"""

from __future__ import annotations

import os
from pathlib import Path

from bottlekit.atomic import check_output_path

__all__ = ["check_output_outside", "check_output_path"]


def check_output_outside(
    out: str | os.PathLike, arg: str, folder: str | os.PathLike, folder_arg: str
) -> None:
    """Refuse an output folder that is an input folder or inside it, symbolic links resolved.

    What a command writes there (a report, its files, Parquet shards) would be read as input
    by the next run on the same folder.

    Parameters
    ----------
    out : path-like
        The output folder (it need not exist).
    arg : str
        The option that gave it, for the message (e.g. ``"--out"``).
    folder : path-like
        The folder the command reads; nothing is checked unless it is a folder.
    folder_arg : str
        The option that gave it (e.g. ``"--images"``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> check_output_outside(folder.parent / (folder.name + "-out"), "--out", folder, "--images")
    >>> check_output_outside(folder / "out", "--out", folder, "--images")
    Traceback (most recent call last):
    ...
    ValueError: --out: '...out' is inside the --images folder '...'; expected a folder ...
    """
    if not Path(folder).is_dir():
        return
    where, inside = Path(out).resolve(), Path(folder).resolve()
    if where != inside and inside not in where.parents:
        return
    relation = "is the" if where == inside else "is inside the"
    raise ValueError(
        f"{arg}: {os.fspath(out)!r} {relation} {folder_arg} folder {os.fspath(folder)!r}; "
        f"expected a folder outside it (what is written there would be read as input by "
        f"the next run on {folder_arg})"
    )
