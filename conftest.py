"""pytest's configuration shared by the tests and the doctests of the package's modules
(``--doctest-modules``, ``testpaths = ["tests", "bottlekit"]``)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest
from _pytest.doctest import DoctestItem


@pytest.fixture(autouse=True)
def _doctest_temporary_folders(request, monkeypatch) -> Iterator[None]:
    """Examples make their folders with ``tempfile.mkdtemp()`` and, to stay short, do not
    remove them: under pytest they go to a folder pytest removes with its other temporary
    folders (the last three runs are kept) instead of piling up in the system's (about
    30 folders and 140 MB per run, world weights and checkpoints among them)."""
    if isinstance(request.node, DoctestItem):
        folder = request.getfixturevalue("tmp_path")
        monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield
