"""bottlekit._deadline: the total deadline that bounds an HTTP exchange as a whole (the
behaviour against hostile servers is tested with each client: tests/concepts/
test_llm_hostile.py and tests/datasets/test_datasets_hostile.py)."""

from __future__ import annotations

import threading
import time

import pytest

from bottlekit import _deadline
from bottlekit._deadline import DeadlineExceeded, cut, deadline


def test_without_a_deadline_the_timeout_is_kept():
    assert cut(5.0) == 5.0 and cut(None) is None


def test_the_timeout_is_cut_to_what_is_left_and_none_gets_a_bound():
    with deadline(2.0):
        assert 1.5 < cut(60.0) <= 2.0
        assert 1.5 < cut(None) <= 2.0  # a blocking read without timeout gets one too
        assert cut(0.5) == 0.5


def test_a_passed_deadline_raises_a_timeout_error():
    with deadline(0.01):
        time.sleep(0.02)
        assert _deadline.passed()
        with pytest.raises(DeadlineExceeded, match=r"deadline of 0\.01 s") as info:
            cut(5.0)
    assert isinstance(info.value, TimeoutError)  # handled wherever a socket timeout is
    assert not _deadline.passed() and cut(5.0) == 5.0  # gone with its block


def test_an_inner_deadline_cannot_outlast_the_outer_one():
    with deadline(1.0):
        with deadline(60.0):
            assert cut(None) <= 1.0
        with deadline(0.2):
            assert cut(None) <= 0.2
        assert 0.2 < cut(None) <= 1.0


def test_each_thread_has_its_own_deadline():
    # the LLM client's threads share one connection pool: one request's deadline must
    # not cut another's reads
    seen = {}

    def other():
        seen["cut"] = cut(5.0)

    with deadline(0.5):
        worker = threading.Thread(target=other)
        worker.start()
        worker.join()
    assert seen["cut"] == 5.0
