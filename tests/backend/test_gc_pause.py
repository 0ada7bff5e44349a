"""backend/gc_pause.py: the collector is off inside a batch and back as it was after."""

import gc
import threading

import pytest

from backend import gc_pause


@pytest.fixture(autouse=True)
def _collector_back_on():
    yield
    gc.enable()


class TestPaused:
    def test_off_inside_and_on_after(self):
        gc.enable()
        with gc_pause.paused():
            assert not gc.isenabled()
        assert gc.isenabled()

    def test_nested_blocks_turn_it_on_only_at_the_outermost_end(self):
        gc.enable()
        with gc_pause.paused():
            with gc_pause.paused():
                assert not gc.isenabled()
            assert not gc.isenabled()
        assert gc.isenabled()

    def test_left_off_when_it_was_off_before(self):
        gc.disable()
        with gc_pause.paused():
            pass
        assert not gc.isenabled()

    def test_back_on_after_an_exception(self):
        gc.enable()
        with pytest.raises(RuntimeError), gc_pause.paused():
            raise RuntimeError("batch failed")
        assert gc.isenabled()

    def test_overlapping_threads_turn_it_on_when_the_last_ends(self):
        gc.enable()
        inside, release = threading.Event(), threading.Event()

        def other_batch():
            with gc_pause.paused():
                inside.set()
                release.wait(30)

        worker = threading.Thread(target=other_batch)
        with gc_pause.paused():
            worker.start()
            assert inside.wait(30)
        assert not gc.isenabled()  # the other thread's batch still runs
        release.set()
        worker.join(30)
        assert gc.isenabled()

    def test_works_as_a_decorator(self):
        gc.enable()

        @gc_pause.paused()
        def batch():
            return gc.isenabled()

        assert batch() is False
        assert batch() is False  # a fresh context each call
        assert gc.isenabled()
