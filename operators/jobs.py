"""Long work off the UI thread: a worker thread computes, ``bpy.app.timers`` hands results back.

``submit(kind, label, work, done)`` runs ``work(progress, cancel)`` (pure inference, no bpy) on a
thread and, back on Blender's main thread, ``done(result)`` applies it to Blender data. In
background mode (``blender -b``) the same call runs synchronously and prints progress lines.
One job per kind runs at a time; ``cancel(kind)`` asks it to stop at its next check.
"""
from __future__ import annotations

import sys
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import bpy

from ..inference.errors import Cancelled, RelitError
from ..inference.progress import StderrProgress

Work = Callable[[Callable[[float, str], None], Callable[[], bool]], Any]
Done = Callable[[Any], None]
POLL_SECONDS = 0.2


@dataclass
class Job:
    kind: str
    label: str
    work: Work
    done: Done
    fail: Optional[Callable[[str], None]] = None
    fraction: float = 0.0
    message: str = "starting"
    result: Any = None
    error: Optional[str] = None
    finished: bool = False
    stop: threading.Event = field(default_factory=threading.Event)

    def progress(self, fraction: float, message: str) -> None:
        self.fraction, self.message = fraction, message

    def run(self) -> None:
        try:
            self.result = self.work(self.progress, self.stop.is_set)
        except Cancelled:
            self.error = "cancelled"
        except RelitError as exc:
            self.error = str(exc)
        except Exception:  # noqa: BLE001 - a bug: keep the traceback for the console
            traceback.print_exc()
            self.error = f"{self.label} failed: internal error (see the system console)"
        self.finished = True


_jobs: dict[str, Job] = {}


def running(kind: str) -> Optional[Job]:
    return _jobs.get(kind)


def any_running() -> bool:
    return bool(_jobs)


def submit(kind: str, label: str, work: Work, done: Done,
           fail: Optional[Callable[[str], None]] = None, *,
           synchronous: Optional[bool] = None) -> Job:
    """Start a job on a thread, or run it now when ``synchronous`` (default: in background
    mode). Raises RelitError if a job of the same kind is running."""
    if kind in _jobs:
        raise RelitError(f"{_jobs[kind].label} is still running")
    job = Job(kind, label, work, done, fail)
    if bpy.app.background if synchronous is None else synchronous:
        job.progress = StderrProgress(prefix=f"relit {kind}")  # type: ignore[method-assign]
        job.run()
        _finish(job)
        return job
    _jobs[kind] = job
    threading.Thread(target=job.run, name=f"relit-{kind}", daemon=True).start()
    if not bpy.app.timers.is_registered(_poll):
        bpy.app.timers.register(_poll, first_interval=POLL_SECONDS)
    return job


def cancel(kind: str) -> bool:
    job = _jobs.get(kind)
    if job is None:
        return False
    job.stop.set()
    return True


def _finish(job: Job) -> None:
    if job.error is None:
        try:
            job.done(job.result)
            return
        except RelitError as exc:
            job.error = str(exc)
    if job.fail is not None:
        job.fail(job.error)
    else:
        print(f"relit: {job.label}: {job.error}", file=sys.stderr)


def _poll() -> Optional[float]:
    for kind, job in list(_jobs.items()):
        if job.finished:
            del _jobs[kind]
            _finish(job)
    _redraw()
    return POLL_SECONDS if _jobs else None


def _redraw() -> None:
    wm = bpy.context.window_manager
    for window in getattr(wm, "windows", []):
        for area in window.screen.areas:
            if area.type in {"VIEW_3D", "IMAGE_EDITOR", "NODE_EDITOR"}:
                area.tag_redraw()


def shutdown() -> None:
    """Ask every job to stop (on unregister); their results are dropped."""
    for job in _jobs.values():
        job.stop.set()
    _jobs.clear()
    if bpy.app.timers.is_registered(_poll):
        bpy.app.timers.unregister(_poll)
