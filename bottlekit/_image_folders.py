"""The one rule for reading a folder of images: ``root/<class>/**/<image>``.

Both readers of folders use it: :func:`bottlekit.images.list_image_folder` (``embed``,
``ConceptDataset("photos/")``, the command line) and
:func:`bottlekit.datasets.load_imagefolder` (ImageNet-style datasets). As torchvision's
``ImageFolder``, every sub-folder of the root is a class and every image below it, at any
depth, is one of its examples. Hidden files and folders (names starting with ``.``, such as
macOS's ``._photo.jpg``) are not read; symbolic links to sub-folders inside a class folder
are not followed (a link back up would never end). Images lying directly in the root next
to class folders belong to no class: they are counted and a warning names them.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["IMAGE_EXTENSIONS", "ClassFolders", "class_folder_images", "images_in"]

#: torchvision's ``IMG_EXTENSIONS`` (``.pgm`` included), and ``.gif``, which it does not read.
IMAGE_EXTENSIONS = (
    ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
)  # fmt: skip


@dataclass(frozen=True)
class ClassFolders:
    """The images of a class-per-sub-folder tree.

    Attributes
    ----------
    files : list of Path
        Image files, by class (sorted class names), then by path.
    labels : ndarray of int64
        Class index of each file.
    class_names : list of str
        The names of the sub-folders that hold images, sorted.
    not_images : int
        Files below the class folders that are not images (by extension).
    empty_classes : list of str
        Sub-folders without any image (not classes).
    loose_images : list of Path
        Images directly in the root, next to the class folders (read by no class).
    direct : bool
        Whether some class folder holds an image itself (not only in sub-folders).
    """

    files: list[Path]
    labels: np.ndarray
    class_names: list[str]
    not_images: int
    empty_classes: list[str]
    loose_images: list[Path]
    direct: bool


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _is_image(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def images_in(folder: Path) -> list[Path]:
    """The image files directly in ``folder`` (not hidden), sorted by name."""
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not _hidden(p.name) and _is_image(p.name)
    )


def _files_below(folder: Path) -> list[Path]:
    """Every file below ``folder`` (not hidden, not inside a hidden folder), sorted."""
    out = []
    for top, dirs, names in os.walk(folder):  # followlinks=False: no loop through a link
        dirs[:] = [d for d in dirs if not _hidden(d)]
        out += [Path(top, n) for n in names if not _hidden(n) and os.path.isfile(Path(top, n))]
    return sorted(out)


def class_folder_images(root: Path) -> ClassFolders:
    """The images of ``root/<class>/**/<image>``.

    Parameters
    ----------
    root : Path
        The folder whose sub-folders are the classes.

    Returns
    -------
    ClassFolders

    Warns
    -----
    UserWarning
        When images lie directly in ``root`` next to class folders (they are not read),
        and when sub-folders hold no image next to ones that do (they are no class, so the
        classes sorted after them take the next lower index; torchvision's
        ``ImageFolder`` refuses an empty class folder).

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for f in ("cat/a.png", "cat/2019/b.png", "dog/c.jpg", "dog/notes.txt", "._d.png"):
    ...     (root / f).parent.mkdir(parents=True, exist_ok=True)
    ...     _ = (root / f).write_bytes(b"")
    >>> found = class_folder_images(root)
    >>> [p.relative_to(root).as_posix() for p in found.files], found.labels.tolist()
    (['cat/2019/b.png', 'cat/a.png', 'dog/c.jpg'], [0, 0, 1])
    >>> found.class_names, found.not_images
    (['cat', 'dog'], 1)
    """
    files: list[Path] = []
    labels: list[int] = []
    class_names: list[str] = []
    empty: list[str] = []
    not_images = 0
    direct = False
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not _hidden(p.name)):
        entries = _files_below(d)
        found = [p for p in entries if _is_image(p.name)]
        not_images += len(entries) - len(found)
        if not found:
            empty.append(d.name)
            continue
        direct = direct or any(p.parent == d for p in found)
        files += found
        labels += [len(class_names)] * len(found)
        class_names.append(d.name)
    if empty and class_names:
        shown = ", ".join(repr(n) for n in empty[:3]) + (", ..." if len(empty) > 3 else "")
        warnings.warn(
            f"images: {len(empty)} sub-folder(s) of {str(root)!r} hold no image ({shown}); "
            f"they are no class, so the {len(class_names)} classes are numbered without "
            "them (torchvision's ImageFolder refuses an empty class folder; remove it, or "
            "put its images in it, to keep the class indices of a model trained elsewhere)",
            UserWarning,
            stacklevel=3,
        )
    loose = images_in(root) if class_names else []
    if loose:
        shown = ", ".join(p.name for p in loose[:3]) + (", ..." if len(loose) > 3 else "")
        warnings.warn(
            f"images: {len(loose)} image(s) lie directly in {str(root)!r} ({shown}), next to "
            f"the class folders {class_names[:3]}{'...' if len(class_names) > 3 else ''}; "
            "they belong to no class and are not read (move them into a class folder)",
            UserWarning,
            stacklevel=3,
        )
    return ClassFolders(
        files, np.asarray(labels, dtype=np.int64), class_names, not_images, empty, loose, direct
    )
