"""bottlekit.atomic: atomic writes whose files get the mode ``open`` would give them."""

from __future__ import annotations

import os
import stat

import pytest

from bottlekit import atomic
from bottlekit.atomic import atomic_write_bytes, atomic_write_text, current_umask, new_file_mode

UMASKS = [0o022, 0o077, 0o002, 0o027]


@pytest.fixture
def umask():
    """Set the process umask for one test and put the old one back."""
    old = os.umask(0o022)
    os.umask(old)

    def set_umask(value: int) -> None:
        os.umask(value)

    yield set_umask
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", UMASKS, ids=oct)
def test_written_files_get_0666_less_the_umask(tmp_path, umask, mask):
    umask(mask)
    atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01")
    atomic_write_text(tmp_path / "sub" / "b.json", "{}\n")
    for p in (tmp_path / "a.bin", tmp_path / "sub" / "b.json"):
        assert _mode(p) == 0o666 & ~mask
    # the same mode as a file created by open()
    with open(tmp_path / "plain", "wb"):
        pass
    assert _mode(tmp_path / "a.bin") == _mode(tmp_path / "plain")
    assert current_umask() == mask  # reading the umask did not change it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "plain", "sub"]


def test_a_replaced_private_file_takes_the_new_mode(tmp_path, umask):
    umask(0o022)
    p = tmp_path / "model.safetensors"
    p.write_bytes(b"old")
    p.chmod(0o600)
    atomic_write_bytes(p, b"new")
    assert p.read_bytes() == b"new" and _mode(p) == 0o644


@pytest.mark.parametrize("mask", [0o022, 0o077], ids=oct)
def test_umask_read_without_proc(monkeypatch, umask, mask):
    """Where /proc/self/status cannot be read, the set-and-restore fallback gives the same."""
    umask(mask)

    def no_proc(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr(atomic, "open", no_proc, raising=False)
    assert current_umask() == mask
    assert new_file_mode() == 0o666 & ~mask
    assert current_umask() == mask


@pytest.mark.parametrize("mask", [0o022, 0o077], ids=oct)
def test_world_weights_use_the_shared_helper(tmp_path, umask, mask):
    import torch

    from bottlekit.world.train import METADATA_FILE, save_weights

    umask(mask)
    path = save_weights(torch.nn.Linear(2, 1), tmp_path, {"note": "mode"})
    assert _mode(path) == _mode(tmp_path / METADATA_FILE) == 0o666 & ~mask


def test_a_failed_write_leaves_neither_file_nor_temporary(tmp_path, monkeypatch):
    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(tmp_path / "x.bin", b"abc")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_output_folder_that_cannot_be_written_is_refused(tmp_path, monkeypatch):
    # Before: only the nearest existing ancestor was checked, so an existing read-only
    # output folder passed and the writes failed later with a bare PermissionError (the
    # test may run as root, for whom every folder is writable: os.access is told no)
    import os

    from bottlekit.atomic import check_output_path

    out = tmp_path / "out"
    out.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if str(p) == str(out) else real_access(p, mode)
    )
    with pytest.raises(ValueError, match=r"--out: folder '.*out' is not writable"):
        check_output_path(out, "--out", is_dir=True)
    with pytest.raises(ValueError, match=r"--out: folder '.*out' is not writable"):
        check_output_path(out / "sub", "--out", is_dir=True)  # as a parent, as before
    assert check_output_path(tmp_path / "other", "--out", is_dir=True) == tmp_path / "other"
