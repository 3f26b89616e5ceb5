"""The worker-thread path of operators.jobs: results come back on the main thread's poll,
progress is visible meanwhile, and Cancel stops the work."""
import importlib
import threading
import time

import pytest

pytestmark = pytest.mark.blender


def _poll_until_idle(jobs, timeout=10.0):
    end = time.monotonic() + timeout
    while jobs.any_running() and time.monotonic() < end:
        jobs._poll()  # what bpy.app.timers calls in the UI
        time.sleep(0.01)
    assert not jobs.any_running()


def test_thread_result_is_applied_on_poll(relit):
    jobs = importlib.import_module(relit + ".operators.jobs")
    gate, seen, applied = threading.Event(), [], []

    def work(progress, cancel):
        progress(0.5, "half way")
        gate.wait(5)
        return threading.current_thread().name

    job = jobs.submit("test", "Test", work, applied.append, synchronous=False)
    time.sleep(0.05)
    seen.append((job.fraction, job.message))
    with pytest.raises(Exception, match="still running"):
        jobs.submit("test", "Test", work, applied.append, synchronous=False)
    gate.set()
    _poll_until_idle(jobs)
    assert seen == [(0.5, "half way")]
    assert applied == ["relit-test"]  # computed on the worker thread, applied here


def test_cancel_and_errors_reach_fail(relit):
    jobs = importlib.import_module(relit + ".operators.jobs")
    errors = importlib.import_module(relit + ".inference.errors")
    failures = []

    def slow(progress, cancel):
        while not cancel():
            time.sleep(0.01)
        raise errors.Cancelled()

    jobs.submit("slow", "Slow", slow, lambda r: None, failures.append, synchronous=False)
    assert jobs.cancel("slow")
    _poll_until_idle(jobs)

    def bad(progress, cancel):
        raise errors.InputError("bad input here")

    jobs.submit("bad", "Bad", bad, lambda r: None, failures.append, synchronous=False)
    _poll_until_idle(jobs)
    assert failures == ["cancelled", "bad input here"]
