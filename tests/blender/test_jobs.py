"""The worker-thread path of app.jobs: results come back on the main thread's poll,
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
    jobs = importlib.import_module(relit + ".app.jobs")
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
    jobs = importlib.import_module(relit + ".app.jobs")
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


def test_notices_keep_what_a_job_ended_with(relit):
    """The UI cannot report after execute returns: errors, warnings and "done" are kept as the
    job's notice for the panels."""
    jobs = importlib.import_module(relit + ".app.jobs")
    errors = importlib.import_module(relit + ".inference.errors")

    def bad(progress, cancel):
        raise errors.InputError("no face here")

    jobs.submit("n1", "Decompose", bad, lambda r: None, lambda m: None, synchronous=False)
    jobs.submit("n2", "Decompose", lambda p, c: 1, lambda r: ["no face found"],
                synchronous=False)
    jobs.submit("n3", "Refine", lambda p, c: 1, lambda r: None, synchronous=False)
    _poll_until_idle(jobs)
    assert jobs.notice("n1") == ("ERROR", "Decompose: no face here")
    assert jobs.notice("n2") == ("WARNING", "Decompose: no face found")
    assert jobs.notice("n3") == ("INFO", "Refine: done")
    jobs.submit("n1", "Decompose", lambda p, c: 1, lambda r: None, synchronous=False)
    assert jobs.notice("n1") is None  # a new run starts clean
    _poll_until_idle(jobs)


def test_a_failing_result_never_stops_the_poll(relit):
    """A bug while applying one job's result (here a KeyError, as a renamed scene gave) is
    kept as that job's error; the other jobs still finish and the timer keeps running."""
    import bpy

    jobs = importlib.import_module(relit + ".app.jobs")
    gate, applied, failed = threading.Event(), [], []

    def crash(result):
        raise KeyError("Scene")

    jobs.submit("crash", "Crash", lambda p, c: 1, crash, failed.append, synchronous=False)
    jobs.submit("later", "Later", lambda p, c: gate.wait(5), applied.append,
                synchronous=False)
    time.sleep(0.05)
    assert jobs._poll() == jobs.POLL_SECONDS  # the crash is handled, "later" still runs
    assert failed and "internal error" in failed[0]
    assert jobs.notice("crash")[0] == "ERROR"
    assert jobs.running("later") is not None
    assert bpy.app.timers.is_registered(jobs._poll)
    gate.set()
    _poll_until_idle(jobs)
    assert applied == [True]


def test_loading_a_file_cancels_jobs(relit):
    """The load_pre handler, registered with the add-on, cancels running jobs and clears the
    notices; it stays registered across the load."""
    import bpy

    jobs = importlib.import_module(relit + ".app.jobs")
    gate = threading.Event()
    job = jobs.submit("load", "Load", lambda p, c: gate.wait(5), lambda r: None,
                      synchronous=False)
    jobs.notify("other", "ERROR", "old file's error", popup=False)
    try:
        assert bpy.ops.wm.read_homefile() == {"FINISHED"}
        assert job.stop.is_set() and not jobs.any_running()
        assert jobs.notice("other") is None
        assert jobs.on_load_pre in bpy.app.handlers.load_pre
    finally:
        gate.set()
