"""Per-shard concept statistics merge into exactly the statistics of the whole."""

from __future__ import annotations

import numpy as np
import pytest

from bottlekit.distributed.concept_stats import ConceptStats, check_storable

NAMES = ["red", "round", "striped"]
CLASSES = ["cat", "dog"]


def _blocks(rng: np.random.Generator, sizes: list[int]):
    for n in sizes:
        A = rng.normal(size=(n, 3)).astype(np.float32) * 3 + 1
        y = rng.integers(-1, 2, size=n)
        yield A, y


def test_merge_equals_whole():
    rng = np.random.default_rng(0)
    blocks = list(_blocks(rng, [17, 1, 0, 40, 9]))
    paths_all, start = [], 0
    merged = None
    for A, y in blocks:
        paths = [f"img{start + i}" for i in range(len(A))]
        start += len(A)
        paths_all += paths
        s = ConceptStats.from_scores(A, y, paths, NAMES, CLASSES, top=4)
        merged = s if merged is None else merged.merge(s)
    A = np.concatenate([b[0] for b in blocks]).astype(np.float64)
    y = np.concatenate([b[1] for b in blocks])
    for row, cls in ((0, 0), (1, 1), (2, -1)):  # row 2 holds the unlabelled items
        sel = A[y == cls]
        assert merged.count[row] == len(sel)
        np.testing.assert_allclose(merged.mean[row], sel.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(merged.variance[row], sel.var(axis=0), rtol=1e-10)
    for j in range(3):
        order = np.argsort(-A[:, j], kind="stable")[:4]
        assert merged.top_paths[j] == [paths_all[i] for i in order]
        np.testing.assert_array_equal(merged.top_values[j], A[order, j].astype(np.float32))


def test_round_trip_and_json(tmp_path):
    A = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], np.float32)
    s = ConceptStats.from_scores(A, np.array([0, 1]), ["a", "b"], NAMES, CLASSES, top=2)
    path = tmp_path / "s.safetensors"
    path.write_bytes(s.to_bytes({"sha256": "x"}))
    back, meta = ConceptStats.read(path)
    assert meta["sha256"] == "x"
    np.testing.assert_array_equal(back.mean, s.mean)
    assert back.top_paths == [["b", "a"], ["a", "b"], ["a", "b"]]
    summary = back.to_json()
    assert summary["red"]["by_class"]["dog"] == {"n": 1, "mean": 3.0, "variance": 0.0}
    assert summary["red"]["top"][0] == {"path": "b", "activation": 3.0}


@pytest.mark.parametrize("key", ["concept_names", "class_names", "top_paths", "format"])
def test_extra_metadata_cannot_replace_the_statistics_own(key):
    # before: merged last, extra={"concept_names": ["X", "Y", "Z"]} wrote a file that
    # read() accepted with the wrong concept names
    A = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], np.float32)
    s = ConceptStats.from_scores(A, np.array([0, 1]), ["a", "b"], NAMES, CLASSES, top=2)
    with pytest.raises(
        ValueError, match=rf"^extra: the keys \['{key}'\] are the statistics' own metadata"
    ):
        s.to_bytes({key: ["X", "Y", "Z"], "sha256": "x"})


def test_bad_labels_and_mismatched_merge():
    A = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="labels: expected 2 class indices below 2"):
        ConceptStats.from_scores(A, np.array([0, 2]), ["a", "b"], NAMES, CLASSES)
    s = ConceptStats.from_scores(A, None, ["a", "b"], NAMES, CLASSES)
    other = ConceptStats.from_scores(A, None, ["a", "b"], NAMES, ["x", "y"])
    with pytest.raises(ValueError, match="different concepts or classes"):
        s.merge(other)


def test_statistics_that_read_would_refuse_are_not_made():
    # Before: to_bytes made any header; the statistics of a bank of 100,000 concepts with
    # the default top=10 (about 12 counted JSON values per concept) were written for every
    # shard and then refused by ConceptStats.read (so by reduce_concept_stats).
    k = 100_000
    A = np.arange(10 * k, dtype=np.float32).reshape(10, k) % 7
    paths = [f"img/{i}.jpg" for i in range(10)]
    s = ConceptStats.from_scores(A, None, paths, [f"concept {j}" for j in range(k)], ["dog"])
    with pytest.raises(
        ValueError,  # FileTooLarge
        match=r"^shard's concept statistics not saved: its metadata \(the concept and class "
        r"names, and the paths of the top 10 items of each of its 100000 concepts\) would "
        r"be refused when loaded, so the file could not be read back: the file's header may "
        r"hold 1200065 JSON values \(counted by its '\[', '\{', ',' and ':'\); at most "
        r"1048576 are accepted \(MAX_HEADER_VALUES\)$",
    ):
        s.to_bytes({"sha256": "x", "shard": 0})


@pytest.mark.parametrize(
    "k, top, shard_size, match",
    [
        # the largest top that fits, found by asking to_bytes itself
        (100_000, 10, None, r"^top: expected at most 8 with these 100000 concepts, got 10: "),
        (1000, 1100, None, r"^top: expected at most 1046 with these 1000 concepts, got 1100: "),
        # the paths alone are too many for any top: the message says so
        (
            1_100_000,
            1,
            None,
            r"^top: no value fits with these 1100000 concepts \(the concept and class names "
            r"alone do not fit\), got 1: .*; use a smaller bank",
        ),
    ],
)
def test_check_storable_refuses_what_to_bytes_refuses(k, top, shard_size, match):
    names = [f"c{j}" for j in range(k)]
    with pytest.raises(ValueError, match=match):
        check_storable(names, ["x"], top, shard_size)


@pytest.mark.slow  # about 7 s
def test_check_storable_agrees_with_to_bytes_at_the_limit():
    # the bound is to_bytes's own: top=8 is stored, top=9 refused by both
    k = 100_000
    names = [f"c{j}" for j in range(k)]
    check_storable(names, ["x"], 8)
    check_storable(names, ["x"], 50, shard_size=8)  # (a shard keeps at most 8 per concept)
    for t, ok in ((8, True), (9, False)):
        A = np.tile(np.arange(t, dtype=np.float32)[:, None], (1, k))
        s = ConceptStats.from_scores(A, None, [f"{i}.jpg" for i in range(t)], names, ["x"], top=t)
        if ok:
            s.to_bytes({"sha256": "0" * 64, "shard": 0})
        else:
            with pytest.raises(ValueError, match="MAX_HEADER_VALUES"):
                s.to_bytes({"sha256": "0" * 64, "shard": 0})
            with pytest.raises(ValueError, match="top: expected at most 8"):
                check_storable(names, ["x"], t)


def test_top_zero_keeps_no_items_and_the_same_moments(tmp_path):
    # top=0 keeps no top items; counts, means and m2 are those of top=2 on the same data
    rng = np.random.default_rng(0)
    A = rng.normal(size=(7, 3))
    y = np.array([0, 1, 0, -1, 1, 0, 1])
    paths = [f"p{i}" for i in range(7)]
    args = (A, y, paths, ["a", "b", "c"], ["x", "y"])
    s0, s2 = ConceptStats.from_scores(*args, top=0), ConceptStats.from_scores(*args, top=2)
    f = tmp_path / "s.safetensors"
    f.write_bytes(s0.to_bytes({"sha256": "0" * 64, "shard": 0}))
    r = ConceptStats.read(f)[0]
    m = r.merge(s0)
    assert r.top_values.shape == (3, 0) and r.top_paths == [[], [], []]
    assert m.top_values.shape == (3, 0) and m.top_paths == [[], [], []]
    for got, want in ((r, s2), (m, s2.merge(s2))):
        np.testing.assert_array_equal(got.count, want.count)
        np.testing.assert_allclose(got.mean, want.mean)
        np.testing.assert_allclose(got.m2, want.m2)
    assert all(v["top"] == [] for v in s0.to_json().values())
