"""Reads that fail in the distributed package, without Ray: a shard that the file system
cannot read (not damaged). Each case says what happened before it was fixed."""

from __future__ import annotations

import errno

import numpy as np
import pytest

pytest.importorskip("pyarrow")  # comes with the [distributed] extra

from bottlekit.distributed import shards
from bottlekit.distributed.concept_stats import ConceptStats
from bottlekit.distributed.shards import shard_path, stats_path, verify_shard, write_shard

EMB = np.arange(6, dtype=np.float32).reshape(3, 2)
ROWS = {"paths": ["a", "b", "c"], "keys": ["ka", "kb", "kc"], "labels": [0, None, 1]}


# --- verify_shard: a read error of the file system is no damage ------------------------


@pytest.fixture()
def shard(tmp_path, monkeypatch):
    """An intact shard 0 of job "J", and no waiting between read attempts."""
    monkeypatch.setattr(shards, "READ_RETRY_WAIT_S", 0.0)
    write_shard(tmp_path, 0, embeddings=EMB, concepts=None, meta={"job": "J"}, **ROWS)
    return tmp_path


def _failing_read(monkeypatch, error, times=None):
    """Make the shard's Parquet read raise ``error`` (the first ``times`` reads, or all)."""
    real, calls = shards._read, []

    def read(path):
        calls.append(path)
        if times is None or len(calls) <= times:
            raise error
        return real(path)

    monkeypatch.setattr(shards, "_read", read)
    return calls


def test_a_temporary_read_error_is_retried_and_the_shard_kept(shard, monkeypatch, recwarn):
    # before: one EIO (a network file system's hiccup) made verify_shard report the intact
    # shard as "unusable", delete it and its statistics, and redo the work
    calls = _failing_read(monkeypatch, OSError(errno.EIO, "Input/output error"), times=1)
    problems: list[str] = []
    meta = verify_shard(shard, 0, "J", with_stats=False, problems=problems)
    assert meta is not None and meta["n"] == 3
    assert len(calls) == 2 and not problems and shard_path(shard, 0).exists()
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize(
    "error, attempts, raised",
    [
        (OSError(errno.EIO, "Input/output error"), 3, OSError),
        (OSError(errno.EAGAIN, "Resource temporarily unavailable"), 3, BlockingIOError),
        (TimeoutError("timed out"), 3, TimeoutError),
        (PermissionError(errno.EACCES, "Permission denied"), 1, PermissionError),  # no retry
    ],
)
def test_a_lasting_read_error_is_raised_and_the_shard_kept(
    shard, monkeypatch, error, attempts, raised
):
    # before: the shard was silently taken for damaged, deleted and redone (a whole
    # folder of intact shards on a file system that failed for a minute)
    calls = _failing_read(monkeypatch, error)
    problems: list[str] = []
    with pytest.raises(raised, match=r"part-000000\.parquet' or its statistics could not be read"):
        verify_shard(shard, 0, "J", with_stats=False, problems=problems)
    assert len(calls) == attempts and not problems and shard_path(shard, 0).exists()


def test_a_read_error_of_the_statistics_file_is_raised_too(shard, monkeypatch):
    # before: an EIO on part-*.stats.safetensors removed the shard and its statistics
    st = ConceptStats.from_scores(
        np.zeros((3, 1), np.float32), np.array([0, -1, 1]), ROWS["paths"], ["c"], ["x", "y"]
    )
    stats_path(shard, 0).write_bytes(st.to_bytes({"sha256": "x", "shard": 0}))

    def read(cls, path):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(ConceptStats, "read", classmethod(read))
    with pytest.raises(OSError, match="could not be read") as info:
        verify_shard(shard, 0, "J", with_stats=True)
    assert info.value.errno == errno.EIO
    assert shard_path(shard, 0).exists() and stats_path(shard, 0).exists()


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "magic bytes"),
        (lambda p: p.write_bytes(b"not parquet" * 40), "magic bytes"),
        (lambda p: None, "no shard's concept statistics file"),  # (missing: FileNotFoundError)
    ],
)
def test_damaged_shards_are_still_redone(shard, damage, reason):
    # (kept: truncated or unparseable files and a missing statistics file are damage)
    damage(shard_path(shard, 0))
    problems: list[str] = []
    with pytest.warns(RuntimeWarning, match="removed and redone"):
        assert verify_shard(shard, 0, "J", with_stats=True, problems=problems) is None
    assert not shard_path(shard, 0).exists() and len(problems) == 1 and reason in problems[0]
