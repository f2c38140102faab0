"""The collector pause: nested and overlapping pauses resume collection exactly once."""

from __future__ import annotations

import gc
import threading

from cwh.gc_pause import collection_paused


def test_pauses_nest_and_resume_collection_at_the_outermost_end() -> None:
    assert gc.isenabled()
    with collection_paused():
        assert not gc.isenabled()
        with collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled(), "the outer pause is still on"
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_exception_inside_still_resumes_collection() -> None:
    try:
        with collection_paused():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.isenabled()


def test_overlapping_pauses_in_threads_resume_once_all_end() -> None:
    inside = threading.Barrier(3)
    leave = threading.Event()

    def pause() -> None:
        with collection_paused():
            inside.wait()
            leave.wait()

    threads = [threading.Thread(target=pause) for _ in range(2)]
    for thread in threads:
        thread.start()
    inside.wait()
    assert not gc.isenabled()
    leave.set()
    for thread in threads:
        thread.join()
    assert gc.isenabled()
