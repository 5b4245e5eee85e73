"""Class-per-subfolder image trees (ImageNet's train/val layout included), with optional
synset names and per-image concept labels from a CSV."""

from __future__ import annotations

import os
import warnings
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

from bottlekit._checks import check_bool, repeated_items
from bottlekit._image_folders import class_folder_images, images_in
from bottlekit.datasets._cifar_pickle import _shown, read_torch_save
from bottlekit.datasets._parsing import (
    DatasetFormatError,
    MissingDatasetError,
    as_root,
    csv_rows,
    note_first_line,
    parse_float,
    read_rows,
    require_file,
)
from bottlekit.datasets.concept_dataset import ConceptDataset

__all__ = ["load_imagefolder"]

SYNSET_FILES = ("LOC_synset_mapping.txt", "synset_words.txt")
#: Where torchvision's ``ImageNet`` keeps the class names (and nowhere else):
#: ``torch.save((wnid_to_classes, val_wnids), root / "meta.bin")``, ``wnid_to_classes`` a
#: dict of wnid -> tuple of names; read without unpickling (:func:`read_torch_save`),
#: where no synset file is found.
TORCHVISION_META = "meta.bin"
_META_WHAT = (
    "expected torchvision's ImageNet meta.bin, torch.save((wnid_to_classes, val_wnids)) of "
    "plain data (bottlekit reads it without unpickling)"
)
VAL_SOLUTION_FILES = ("LOC_val_solution.csv",)
#: The ILSVRC2012 devkit's labels of the flat validation folder: not read (see
#: :func:`_devkit_note`).
DEVKIT_GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
_DEVKIT_WHY = (
    "its numbers are the devkit's ILSVRC2012_IDs (1..1000 in the order of its meta.mat), "
    "not the sorted-wnid class index of the train/<wnid>/ folders"
)


def _search_folders(folder: Path, base: Path) -> list[Path]:
    """Where ImageNet's label files (``LOC_synset_mapping.txt``, ``LOC_val_solution.csv``)
    are looked for: the folder read, ``root`` and its parent, and, in the Kaggle layout
    (``<competition>/ILSVRC/Data/CLS-LOC/val``, the files in ``<competition>/``), the
    folder above ``ILSVRC``."""
    out = [folder, base, base.parent]
    if [p.name for p in (base, *base.parents[:2])] == ["CLS-LOC", "Data", "ILSVRC"]:
        out.append(base.parents[2])
    return out


def _find(given, folders, names) -> Path | None:
    if given is not None:
        return require_file(given)
    for f in folders:
        for name in names:
            if (f / name).is_file():
                return f / name
    return None


def _flat_val(folder: Path, flat: list[Path], solution: Path):
    """ImageNet's flat validation folder, labelled by ``LOC_val_solution.csv``
    (``ImageId,PredictionString``; the first word of the prediction string is the wnid)."""
    wnid_of: dict[str, str] = {}
    first_line: dict[str, int] = {}
    records = csv_rows(solution)
    at, header = next(records, (1, []))
    header = [h.strip() for h in header]
    if len(header) == 1 and header[0].isascii() and header[0].isdigit():
        # the devkit's ground truth, one ILSVRC2012_ID per line: a class index of another
        # order than the train folders' (the labels would disagree with theirs)
        raise DatasetFormatError(
            f"{solution}, line {at}: a bare number {header[0]!r}, as the devkit's "
            f"{DEVKIT_GROUND_TRUTH} has, which is not read: {_DEVKIT_WHY}; expected "
            f"{VAL_SOLUTION_FILES[0]} (header 'ImageId,PredictionString', the wnid first), "
            "or the validation images sorted into val/<wnid>/ folders"
        )
    if header[:2] != ["ImageId", "PredictionString"]:
        raise DatasetFormatError(
            f"{solution}, line {at}: expected the header 'ImageId,PredictionString', got "
            f"{','.join(header)!r}"
        )
    for line, row in records:
        if len(row) != 2 or not row[1].split():
            raise DatasetFormatError(
                f"{solution}, line {line}: expected an image id and a prediction string"
            )
        image_id = row[0].strip()
        note_first_line(first_line, image_id, solution, line, "image", "one row per image")
        wnid_of[image_id] = row[1].split()[0]
    unlabelled = [p.name for p in flat if p.stem not in wnid_of]
    if unlabelled:
        raise DatasetFormatError(
            f"{solution}: {len(unlabelled)} image(s) of {folder} have no row, first "
            f"{unlabelled[0]!r}"
        )
    present = {p.stem for p in flat}
    absent = [i for i in wnid_of if i not in present]
    if absent:
        raise MissingDatasetError(
            f"{solution}: {len(absent)} listed image(s) not found in {folder}, first {absent[0]!r}"
        )
    classes = sorted(set(wnid_of.values()))
    labels = [classes.index(wnid_of[p.stem]) for p in flat]
    return flat, labels, classes


def _synset_names(path: Path) -> dict[str, str]:
    """``n01440764 tench, Tinca tinca`` lines: synset -> first name. A synset listed
    twice is refused (the last name won unnoticed, and a 1001-line file passed as
    ImageNet's 1000)."""
    out = {}
    first_line: dict[str, int] = {}
    for line, (wnid, words) in read_rows(path, 2, max_split=1):
        note_first_line(first_line, wnid, path, line, "synset", "one line per synset")
        name = words.split(",")[0].strip()
        if not name:  # "n01443537 , goldfish" named the class '', silently
            raise DatasetFormatError(
                f"{path}, line {line}: synset {wnid!r} has no name before its first comma; "
                "expected '<wnid> <name>, <other names>'"
            )
        out[wnid] = name
    return out


def _meta_bin_names(path: Path) -> dict[str, str]:
    """wnid -> first name of torchvision's ``meta.bin``: the first of each wnid's names
    (torchvision's ``classes[i][0]``), cut at a comma as a synset line's
    (:func:`_synset_names`), so both files give a class the same name."""
    value = read_torch_save(path, _META_WHAT)
    if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], dict)):
        what = f"a tuple of {len(value)}" if isinstance(value, tuple) else type(value).__name__
        raise DatasetFormatError(f"{path}: holds {what}; {_META_WHAT}")
    out = {}
    for wnid, names in value[0].items():
        if (
            not isinstance(wnid, str)
            or not isinstance(names, tuple)
            or not names
            or not all(isinstance(n, str) for n in names)
        ):
            raise DatasetFormatError(
                f"{path}: wnid_to_classes maps {_shown(wnid, 40)} to {type(names).__name__} "
                f"{_shown(names, 80)}; expected a wnid (str) -> a tuple of names (str); "
                f"{_META_WHAT}"
            )
        name = names[0].split(",")[0].strip()
        if not name:
            raise DatasetFormatError(
                f"{path}: wnid_to_classes[{_shown(wnid, 40)}] has no first name "
                f"({_shown(names, 80)}); "
                "expected a tuple of names, the first not empty"
            )
        out[wnid] = name
    return out


def _class_names_file(path: Path) -> dict[str, str]:
    """wnid -> first name of a synset file, or of torchvision's ``meta.bin`` (by its
    name, or its content: a zip archive, torch.save's format, is no text file)."""
    if path.name == TORCHVISION_META or zipfile.is_zipfile(path):
        return _meta_bin_names(path)
    return _synset_names(path)


def _find_names_file(folders: list[Path]) -> Path | None:
    """The synset file in ``folders``, else torchvision's ``meta.bin``; None when there
    is neither, or only a ``meta.bin`` of torch's legacy (non-zip) format, which is not
    read (a ``UserWarning`` says so, naming the files that would name the classes)."""
    found = _find(None, folders, SYNSET_FILES)
    if found is not None:
        return found
    meta = _find(None, folders, (TORCHVISION_META,))
    if meta is not None and not zipfile.is_zipfile(meta):
        warnings.warn(
            f"synset_names: {meta} is not read: not a zip archive, the format of torch.save "
            "since torch 1.6 (an older torch's legacy format is not read), so the classes "
            f"keep their folder names (wnids); put ImageNet's {SYNSET_FILES[0]} in "
            f"{meta.parent}, or pass synset_names=PATH",
            UserWarning,
            stacklevel=3,
        )
        return None
    return meta


def _first_synset(synsets: dict[str, str]) -> str:
    """How an error shows a synset file's keys: its first, or that it lists none."""
    first = next(iter(synsets), None)
    return (
        "; the file lists no synset" if first is None else f", the file's first synset {first!r}"
    )


def _named_classes(wnids: list[str], names: dict[str, str]) -> list[str]:
    """The name of each wnid (``names``, else the wnid); a name that two classes share
    gets its wnid, ``crane (n02012849)``, as ImageNet's ``crane`` (bird and machine) and
    ``maillot`` (``n03710637``, ``n03710721``) would otherwise name two classes alike."""
    named = [names.get(w, w) for w in wnids]
    shared = {n for n, k in Counter(named).items() if k > 1}
    return [
        f"{n} ({w})" if n in shared and n != w else n for n, w in zip(named, wnids, strict=True)
    ]


def _warn_unnamed(
    found: Path, synsets: dict[str, str], class_names: list[str], folder: Path
) -> None:
    """Warn when a synset file found (not given) lacks some classes: one of another
    dataset (in ``root``'s parent, say) is ignored; one that lacks a few leaves those
    with their folder names beside the others' synset names."""
    missing = [c for c in class_names if c not in synsets]
    if not missing:
        return
    if len(missing) == len(class_names):
        what = (
            f"names none of the {len(class_names)} classes of {folder} (first class "
            f"{class_names[0]!r}{_first_synset(synsets)}), so it is ignored and the "
            "classes keep their folder names"
        )
    else:
        what = (
            f"names the classes it lists, but {len(missing)} of the {len(class_names)} "
            f"classes of {folder} are not in it, first {missing[0]!r}: those keep their "
            "folder names"
        )
    warnings.warn(
        f"synset_names: the synset file found, {found}, {what}; pass synset_names=False "
        "not to look for one, or synset_names=PATH for the file of these classes",
        UserWarning,
        stacklevel=3,
    )


#: ImageNet-1k's class count: OpenAI's curated names are indexed by the sorted 1000 wnids.
_IMAGENET_CLASSES = 1000

#: wnids at known positions of ImageNet-1k's sorted list (its class index): the first,
#: the two "crane" and the two "maillot" synsets, the last. OpenAI's names go by position,
#: so a list of 1000 other wnids would get them silently.
_IMAGENET_ANCHORS = {
    0: "n01440764",
    134: "n02012849",
    517: "n03126707",
    638: "n03710637",
    639: "n03710721",
    999: "n15075141",
}


def _clip_names(
    wnids: list[str],
    synsets: dict[str, str] | None,
    folder: Path,
    searched: list[Path],
    synset_file: Path | None = None,
    n_empty: int = 0,
) -> dict[str, str]:
    """wnid -> OpenAI's curated ImageNet name (``open_clip.zero_shot_metadata``), by the
    wnid's index among ImageNet's 1000 sorted wnids: those of the synset file
    (``synset_file``, named in the errors), or else the class folders themselves when
    they are all 1000 (``searched``: where the synset file was looked for, named when
    none was found; ``n_empty``: class folders without images, not among ``wnids``)."""
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    known = sorted(synsets) if synsets is not None else sorted(wnids)
    the_file = "the synset file" + (f" {synset_file}" if synset_file is not None else "")
    if len(known) != _IMAGENET_CLASSES:
        if synsets is not None:
            where = f"{the_file} lists {len(known)} classes"
        else:  # say where the file was looked for: where to put it
            places = ", ".join(dict.fromkeys(str(p) for p in searched))
            where = (
                f"no synset file ({' or '.join([*SYNSET_FILES, TORCHVISION_META])}) was "
                f"found in {places}, and "
                f"{folder} has {len(known)} class folders with images"
                + (f" ({n_empty} more without)" if n_empty else "")
            )
        raise DatasetFormatError(
            f"clip_names: OpenAI's names are indexed by ImageNet's {_IMAGENET_CLASSES} "
            f"sorted wnids; {where}. Expected ImageNet's LOC_synset_mapping.txt (put it in "
            "one of the folders searched, or pass synset_names=PATH; for a recipe, --set "
            f"dataset.options.synset_names=PATH), or all {_IMAGENET_CLASSES} class folders"
        )
    off = {i: w for i, w in _IMAGENET_ANCHORS.items() if known[i] != w}
    if off:
        i = next(iter(off))
        raise DatasetFormatError(
            f"clip_names: {the_file if synsets is not None else folder} lists 1000 "
            f"wnids that are not ImageNet-1k's: position {i} holds {known[i]!r} where "
            f"ImageNet has {off[i]!r}; OpenAI's names go by position, so they need "
            "ImageNet's own LOC_synset_mapping.txt"
        )
    unknown = [w for w in wnids if w not in set(known)]
    if unknown:
        none = (
            f" (none is: the file's first synset is {known[0]!r}; expected '<wnid> <names>' lines)"
            if len(unknown) == len(wnids)
            else ""
        )
        raise DatasetFormatError(
            f"clip_names: {len(unknown)} class(es) of {folder} are not in {the_file}, "
            f"first {unknown[0]!r}{none}; expected ImageNet wnids"
        )
    return dict(zip(known, IMAGENET_CLASSNAMES, strict=True))


def _concepts(path: Path, root: Path, files: list[Path]) -> tuple[list[str], np.ndarray]:
    """Concept names and labels (n, k) in the order of ``files`` from a CSV whose first
    column is the image path relative to ``root``."""
    rel = {f.relative_to(root).as_posix(): i for i, f in enumerate(files)}
    first_line: dict[str, int] = {}
    records = csv_rows(path)
    at, header = next(records, (1, None))
    if not header or len(header) < 2:
        raise DatasetFormatError(
            f"{path}, line {at}: expected a header 'path,<concept>,...', got {header}"
        )
    names = [h.strip() for h in header[1:]]
    repeated = repeated_items(names)
    if repeated:
        raise DatasetFormatError(
            f"{path}, line {at}: concept names {repeated} repeat; expected unique names"
        )
    L = np.full((len(files), len(names)), np.nan)
    for line, row in records:
        if len(row) != len(header):
            raise DatasetFormatError(
                f"{path}, line {line}: expected {len(header)} columns, got {len(row)}"
            )
        key = Path(row[0].strip()).as_posix()
        if key not in rel:
            raise DatasetFormatError(
                f"{path}, line {line}: image {key!r} is not an image under {root}"
            )
        note_first_line(first_line, key, path, line, "image", "one row per image")
        vals = [parse_float(v, path, line, names[j]) for j, v in enumerate(row[1:])]
        bad = [v for v in vals if not 0 <= v <= 1]
        if bad:
            raise DatasetFormatError(
                f"{path}, line {line}: concept value {bad[0]} is outside [0, 1]"
            )
        L[rel[key]] = vals
    unlabelled = np.flatnonzero(np.isnan(L).any(1))
    if unlabelled.size:
        raise DatasetFormatError(
            f"{path}: {unlabelled.size} image(s) have no row, first "
            f"{files[int(unlabelled[0])].relative_to(root).as_posix()!r}"
        )
    return names, L


def _split_hint(base: Path, split: str | None) -> str:
    """What to pass when ``base / split`` is missing: the parent when it holds the split
    (root given one level too low, ``imagenet/train``), else the folders root holds."""
    if not base.exists():
        return f"; root {base} does not exist"
    if not base.is_dir():
        return f"; root {base} is a file, expected a folder"
    if split is None:
        return ""
    if (base.parent / split).is_dir():
        return f"; root is the folder that holds {split}/: pass {base.parent}"
    subs = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    shown = f"{subs[:5]}{'...' if len(subs) > 5 else ''}"
    return f"; expected split {split!r} as a sub-folder of root, which holds {shown}"


#: Folder names that are splits, not classes (a root one level too high).
_SPLIT_NAMES = frozenset({"train", "val", "valid", "validation", "test", "testing", "training"})


def load_imagefolder(
    root: str | os.PathLike,
    split: str | None = None,
    *,
    concepts_csv: str | os.PathLike | None = None,
    synset_names: str | os.PathLike | bool = True,
    val_solution: str | os.PathLike | None = None,
    clip_names: bool = False,
) -> ConceptDataset:
    """A class-per-subfolder tree as a :class:`ConceptDataset`.

    ``root/<class>/<image>`` (ImageNet's ``train/<wnid>/*.JPEG`` and the class-folder
    ``val/<wnid>/*.JPEG``, or its flat ``val/`` with ``LOC_val_solution.csv``); classes
    are the sorted folder names, ``labels`` their index: for ImageNet the sorted wnids,
    torchvision ``ImageFolder``'s order, the same for the train folders and the flat
    validation folder when they hold the same classes (a split with other classes
    numbers its own: compare ``class_names``). Files that are not images (by extension)
    and class folders without images are skipped and counted in ``skipped``. A folder whose
    sub-folders are split names (``train``, ``val``, ``test``, ...) holding only
    sub-folders of images (``imagenet/``: a root one level too high) is refused with
    :class:`DatasetFormatError`.

    Parameters
    ----------
    root : path
        The folder of class sub-folders, or the one holding ``split``.
    split : str, optional
        A sub-folder of ``root`` to read (``"train"``, ``"val"``); None reads ``root``.
    concepts_csv : path, optional
        A CSV with a header ``path,<concept 1>,...`` and one row per image: its path
        relative to the folder read, then a value in [0, 1] per concept. Every image needs
        a row, and every row an image.
    synset_names : path or bool, default True
        A file of ``<wnid> <names>`` lines (ImageNet's ``LOC_synset_mapping.txt``): class
        names become the first name of each synset (a first name that two synsets
        share, such as ImageNet's ``crane`` and ``maillot``, is followed by the wnid:
        ``crane (n02012849)``, ``crane (n03126707)``). True looks for
        ``LOC_synset_mapping.txt`` or ``synset_words.txt`` in ``root`` and its parent (and
        in the Kaggle layout, ``<competition>/ILSVRC/Data/CLS-LOC``, in ``<competition>``),
        and where there is none, torchvision's ``meta.bin`` (``torchvision.datasets.
        ImageNet``'s layout: ``torch.save((wnid_to_classes, val_wnids))``, read without
        unpickling; each class takes the first of its names, the synset files' name). A
        path given may be a ``meta.bin`` too. Its ``data.pkl`` must hold plain data only
        (no global, no tensor), else :class:`DatasetFormatError`; a ``meta.bin`` found in
        torch's legacy (pre-1.6, non-zip) format is not read, with a ``UserWarning``.
        A file given must name every class (else :class:`DatasetFormatError`); a file
        found that names none of them (another dataset's) is ignored, and one that names
        only some leaves the others with their folder names, each with a ``UserWarning``
        naming the file. False reads no synset file.
    val_solution : path, optional
        For ImageNet's *flat* validation folder (``val/ILSVRC2012_val_00000001.JPEG``, no
        class sub-folders): ``LOC_val_solution.csv`` (``ImageId,PredictionString``, the
        wnid first), found where ``synset_names`` is looked for when not given. Classes
        are the sorted wnids it names (ImageNet's class order when all 1000 appear).
        The devkit's ``ILSVRC2012_validation_ground_truth.txt`` is refused: its
        ILSVRC2012_IDs follow another order than the train folders' sorted wnids.
    clip_names : bool, default False
        For ImageNet: class names from OpenAI's curated table, the names CLIP's zero-shot
        ImageNet accuracy is reported with (Radford et al. 2021; open_clip's
        ``zero_shot_metadata.IMAGENET_CLASSNAMES``), instead of the synsets' first names:
        ``crane bird`` and ``construction crane`` for the two ``crane`` synsets,
        ``one-piece bathing suit`` for ``maillot, tank suit``. Better prompts for
        zero-shot heads and generated concepts. The table is indexed by ImageNet's 1000
        sorted wnids, taken from the synset file (found as for ``synset_names``; a
        subset of the classes is fine) or, without one, from the class folders, which
        must then be all 1000. Two of its names repeat (``missile``, ``sunglasses``):
        those are followed by the wnid, as above.

    Returns
    -------
    ConceptDataset
        The image files (read when indexed), ``labels`` indexing ``class_names``;
        concepts only with ``concepts_csv``.

    Examples
    --------
    >>> ds = load_imagefolder("~/data/imagenet", "val")  # doctest: +SKIP
    >>> ds.class_names[:2]  # doctest: +SKIP
    ['tench', 'goldfish']
    >>> ds = load_imagefolder("~/data/imagenet", "val", clip_names=True)  # doctest: +SKIP
    >>> ds.class_names[134]  # doctest: +SKIP
    'crane bird'
    """
    base = as_root(root)
    if split is not None and not isinstance(split, str):
        raise TypeError(f"split: expected a sub-folder name (str) or None, got {split!r}")
    if split is not None and not split.strip():  # root / "" is root: read unasked, silently
        raise ValueError(f"split: expected a sub-folder name or None, got {split!r}")
    if isinstance(synset_names, np.bool_):  # numpy's True, refused as "got bool"
        synset_names = bool(synset_names)
    if not isinstance(synset_names, (bool, str, os.PathLike)):
        raise TypeError(
            f"synset_names: expected a path or a bool, got {type(synset_names).__name__}"
        )
    if val_solution is not None:  # Path(3) failed in pathlib, without the argument's name
        val_solution = as_root(val_solution, "val_solution")
    clip_names = check_bool(clip_names, "clip_names")
    folder = base if split is None else base / split
    if not folder.is_dir():
        raise MissingDatasetError(f"{folder}: image folder not found{_split_hint(base, split)}")
    found = class_folder_images(folder)
    files, labels, class_names = found.files, found.labels.tolist(), found.class_names
    with_direct = {c for c, f in zip(labels, files, strict=True) if f.parent.parent == folder}
    nested = [c for i, c in enumerate(class_names) if i not in with_direct]
    if nested and {c.lower() for c in class_names} <= _SPLIT_NAMES:
        # root/<split>/<class>/<image> read as root/<class>/<image> made the split folders
        # the classes ("train", "val"), silently, also next to a flat split (ImageNet's
        # train/<wnid>/ beside a flat val/); class folders with deeper images whose
        # names are not split names (cat/2019/*.jpg) are read as before
        inner = next(p.parent for p in files if p.parent.parent != folder)
        what = (
            "no image lies directly in a class folder; "
            if len(nested) == len(class_names)
            else "the folders are split names, and "
        )
        raise DatasetFormatError(
            f"{folder}: {what}{nested[:5]} hold sub-folders of images (e.g. "
            f"{inner.relative_to(folder).as_posix()}/), so they are not classes. Expected "
            "<root>/<class>/<image>: pass the folder one level down as root, or "
            f"split={nested[0]!r} (--split {nested[0]})"
        )
    if not files:
        flat = images_in(folder)
        searched = _search_folders(folder, base)
        solution = _find(val_solution, searched, VAL_SOLUTION_FILES)
        if not flat or solution is None:
            places = ", ".join(dict.fromkeys(str(p) for p in searched))
            devkit = _find(None, searched, (DEVKIT_GROUND_TRUTH,))
            raise MissingDatasetError(
                f"{folder}: no class sub-folder holds images"
                + (
                    f" and no {VAL_SOLUTION_FILES[0]} gives the labels of its {len(flat)} "
                    f"images (looked for in {places}); put ImageNet's {VAL_SOLUTION_FILES[0]} "
                    "in one of those folders, or pass val_solution=PATH (for a recipe, --set "
                    "dataset.options.val_solution=PATH)"
                    + (f". {devkit} is not read: {_DEVKIT_WHY}" if devkit is not None else "")
                    if flat
                    else ""
                )
            )
        files, labels, class_names = _flat_val(folder, flat, solution)
    if synset_names or clip_names:
        synsets, found_file = None, None
        if not isinstance(synset_names, bool):
            synsets = _class_names_file(require_file(synset_names))
            if not set(synsets) & set(class_names):
                # a file given by name that names no class fell back to the wnids silently
                raise DatasetFormatError(
                    f"synset_names: {synset_names} names none of the {len(class_names)} "
                    f"classes of {folder} (first class {class_names[0]!r}"
                    f"{_first_synset(synsets)}); expected '<wnid> <names>' lines for the "
                    "class folders' names"
                )
            missing = [c for c in class_names if c not in synsets]
            if missing:  # the others were named, these kept their wnids, silently
                raise DatasetFormatError(
                    f"synset_names: {synset_names} does not name {len(missing)} of the "
                    f"{len(class_names)} classes of {folder}, first {missing[0]!r}; expected "
                    "a '<wnid> <names>' line for every class folder"
                )
        else:
            found_file = _find_names_file(_search_folders(folder, base))
            synsets = _class_names_file(found_file) if found_file is not None else None
            if synsets is not None and not clip_names:  # clip_names checks the file itself
                _warn_unnamed(found_file, synsets, class_names, folder)
                if not set(synsets) & set(class_names):
                    synsets = None
        if clip_names:
            searched = [] if found_file is not None else _search_folders(folder, base)
            given = None if isinstance(synset_names, bool) else Path(synset_names)
            clip = _clip_names(
                class_names,
                synsets,
                folder,
                searched,
                found_file or given,
                n_empty=len(found.empty_classes),
            )
            class_names = _named_classes(class_names, clip)
        elif synsets is not None:
            class_names = _named_classes(class_names, synsets)
    fields = {}
    if concepts_csv is not None:
        names, L = _concepts(as_root(concepts_csv, "concepts_csv"), folder, files)
        fields = {"concept_names": names, "concept_labels": L}
    skipped = {
        "files that are not images": found.not_images,
        "class folders without images": len(found.empty_classes),
        "images outside the class folders": len(found.loose_images),
    }
    return ConceptDataset(
        files,
        labels=np.array(labels, np.int64),
        class_names=class_names,
        split=split,
        skipped=skipped,
        **fields,
    )
