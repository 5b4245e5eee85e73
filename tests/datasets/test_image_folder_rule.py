"""One rule for folders of images, shared by list_image_folder (embed, ConceptDataset,
the command line) and load_imagefolder: root/<class>/**/<image>, as torchvision."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from dataset_formats import image

from bottlekit.datasets import ConceptDataset, load_imagefolder
from bottlekit.images import list_image_folder


def _tree(root, names):
    for name in names:
        image(root / name)
    return root


def _relative(files, root):
    return [Path(p).relative_to(root).as_posix() for p in files]


def test_both_readers_take_images_at_any_depth_of_a_class_folder(tmp_path):
    # Before: list_image_folder read only the images directly in a class folder, so
    # `bottlekit embed photos/` silently left out cat/2019/b.png, which load_imagefolder
    # (rglob) read: the two readers of the same folder disagreed.
    root = _tree(tmp_path, ["cat/a.png", "cat/2019/b.png", "dog/c.png"])
    files, labels, classes = list_image_folder(root)
    ds = load_imagefolder(root)
    assert _relative(files, root) == ["cat/2019/b.png", "cat/a.png", "dog/c.png"]
    assert _relative(ds.image_source.paths, root) == _relative(files, root)
    assert labels.tolist() == ds.labels.tolist() == [0, 0, 1]
    assert classes == ds.class_names == ["cat", "dog"]


def test_hidden_folders_inside_a_class_are_not_read(tmp_path):
    # Before: load_imagefolder's rglob read cat/.thumbnails/x.png as an image of "cat".
    root = _tree(tmp_path, ["cat/a.png", "cat/.thumbnails/x.png", "dog/c.png"])
    assert _relative(load_imagefolder(root).image_source.paths, root) == ["cat/a.png", "dog/c.png"]
    assert _relative(list_image_folder(root)[0], root) == ["cat/a.png", "dog/c.png"]


def test_images_beside_the_class_folders_are_counted_and_named(tmp_path):
    # Before: root/stray.png next to cat/ and dog/ was dropped by both readers, silently.
    root = _tree(tmp_path, ["cat/a.png", "dog/c.png", "stray.png"])
    with pytest.warns(UserWarning, match=r"1 image\(s\) lie directly in .*stray\.png"):
        ds = load_imagefolder(root)
    assert ds.skipped["images outside the class folders"] == 1
    with pytest.warns(UserWarning, match="belong to no class"):
        ConceptDataset(str(root))


def test_a_flat_folder_with_an_empty_sub_folder_is_still_flat(tmp_path):
    # Before: photos/ with a.png, b.png and an empty thumbnails/ was an error ("has
    # sub-folders ['thumbnails'] but none of them contains images").
    root = _tree(tmp_path, ["a.png", "b.png"])
    (root / "thumbnails").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        files, labels, classes = list_image_folder(root)
    assert _relative(files, root) == ["a.png", "b.png"] and labels is None and classes == []


def test_a_link_back_up_inside_a_class_does_not_loop(tmp_path):
    root = _tree(tmp_path, ["cat/a.png", "dog/c.png"])
    try:
        (root / "cat" / "up").symlink_to(root, target_is_directory=True)
    except OSError:
        pytest.skip("no symbolic links here")
    assert _relative(list_image_folder(root)[0], root) == ["cat/a.png", "dog/c.png"]


def test_a_flat_validation_folder_skips_hidden_files(tmp_path):
    # Before: the flat ImageNet val folder listed its images with its own filter, which
    # kept macOS's ._ILSVRC2012_val_00000001.JPEG, so the loader refused the folder
    # ("1 image(s) ... have no row"); class folders skip hidden files, and so does it now.
    names = ["val/ILSVRC2012_val_00000001.JPEG", "val/ILSVRC2012_val_00000002.JPEG"]
    root = _tree(tmp_path, names)
    (root / "val" / "._ILSVRC2012_val_00000001.JPEG").write_bytes(b"\x00\x05\x16\x07")
    (root / "LOC_val_solution.csv").write_text(
        "ImageId,PredictionString\n"
        "ILSVRC2012_val_00000001,n02 1 2 3 4\nILSVRC2012_val_00000002,n01 1 2 3 4\n"
    )
    ds = load_imagefolder(root, "val")
    assert _relative(ds.image_source.paths, root) == names
    assert ds.class_names == ["n01", "n02"] and ds.labels.tolist() == [1, 0]


def test_pgm_images_are_read_as_torchvision_reads_them(tmp_path):
    # torchvision's ImageFolder reads .pgm (its IMG_EXTENSIONS); before, both readers took
    # a .pgm for a file that is not an image, so a class folder of .pgm images was no class
    # and the classes after it moved down one index: ["b"] with label 0 where torchvision
    # gives ["a", "b"] and label 1.
    from PIL import Image

    (tmp_path / "a").mkdir()
    Image.new("L", (8, 8), 77).save(tmp_path / "a" / "x.pgm")
    image(tmp_path / "b" / "z.png", (8, 8))
    files, labels, classes = list_image_folder(tmp_path)
    ds = load_imagefolder(tmp_path)
    assert _relative(files, tmp_path) == ["a/x.pgm", "b/z.png"]
    assert classes == ds.class_names == ["a", "b"]
    assert labels.tolist() == ds.labels.tolist() == [0, 1]
    assert _relative(ds.image_source.paths, tmp_path) == ["a/x.pgm", "b/z.png"]
    assert (ds.image_source.to_array()[0] == 77).all()  # grey, as RGB


def test_an_empty_class_folder_is_warned_about_where_it_shifts_the_indices(tmp_path):
    # torchvision's ImageFolder refuses an empty class folder; bottlekit skips it, so the
    # classes sorted after it take the next lower index. docs/datasets.md promises a
    # warning where a skip changes the data; before, the skip was only counted.
    for cls in ("a", "c"):
        image(tmp_path / cls / "x.png")
    (tmp_path / "b").mkdir()  # sorts between a and c: c is class 1, not 2
    with pytest.warns(UserWarning, match=r"1 sub-folder\(s\) of .* hold no image \('b'\)"):
        _, labels, names = list_image_folder(tmp_path)
    assert names == ["a", "c"] and labels.tolist() == [0, 1]
    with pytest.warns(UserWarning, match=r"hold no image \('b'\)"):
        ds = load_imagefolder(tmp_path)
    assert ds.class_names == ["a", "c"] and ds.skipped["class folders without images"] == 1
    with warnings.catch_warnings():  # no empty folder: no warning
        warnings.simplefilter("error")
        (tmp_path / "b").rmdir()
        assert list_image_folder(tmp_path)[2] == ["a", "c"]
