"""Long work off the UI thread: a worker thread computes, ``bpy.app.timers`` hands results back.

``submit(kind, label, work, done)`` runs ``work(progress, cancel)`` (pure inference, no bpy) on a
thread and, back on Blender's main thread, ``done(result)`` applies it to Blender data. In
background mode (``blender -b``) the same call runs synchronously and prints progress lines.
One job per kind runs at a time; ``cancel(kind)`` asks it to stop at its next check.

Operators cannot report once ``execute`` has returned, so what a job ends with (an error, the
warnings ``done`` returns, such as "no face found", or that it is done) is kept as the kind's
*notice*, which the panels draw under the job's button; errors and warnings also pop up when
Blender has a window. Loading a
file cancels every job and drops the notices (``on_load_pre``, a ``load_pre`` handler that
``app`` registers with the add-on).
"""
from __future__ import annotations

import sys
import textwrap
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import bpy

from ..inference.errors import Cancelled, RelitError
from ..inference.progress import StderrProgress

Work = Callable[[Callable[[float, str], None], Callable[[], bool]], Any]
Done = Callable[[Any], Optional[list]]   # applies the result; returns its warnings
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
    synchronous: bool = False
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


_notices: dict[str, tuple[str, str]] = {}   # kind -> (level, message)
LEVELS = ("INFO", "WARNING", "ERROR")


def running(kind: str) -> Optional[Job]:
    return _jobs.get(kind)


def notice(kind: str) -> Optional[tuple[str, str]]:
    """``(level, message)`` that the last job of ``kind`` ended with, or None."""
    return _notices.get(kind)


def notify(kind: str, level: str, message: str, *, popup: bool = True) -> None:
    """Keep ``message`` as the notice of ``kind`` (drawn by the panels) and, with ``popup``
    and a window to show it in, pop it up."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level}")
    _notices[kind] = (level, message)
    if popup and not bpy.app.background:
        _popup(level, message)
    _redraw()


def clear_notice(kind: str) -> None:
    _notices.pop(kind, None)


def _popup(level: str, message: str) -> None:
    def draw(menu, _context):
        for line in textwrap.wrap(message, 70) or [""]:
            menu.layout.label(text=line)

    try:
        wm = bpy.context.window_manager
        windows = list(getattr(wm, "windows", []))
        if not windows:
            return
        icon = {"ERROR": "CANCEL", "WARNING": "ERROR"}.get(level, "INFO")
        with bpy.context.temp_override(window=windows[0]):
            wm.popup_menu(draw, title="Relit", icon=icon)
    except Exception:  # noqa: BLE001 - a popup is a courtesy: the panel shows the notice
        traceback.print_exc()


def any_running() -> bool:
    return bool(_jobs)


def submit(kind: str, label: str, work: Work, done: Done,
           fail: Optional[Callable[[str], None]] = None, *,
           synchronous: Optional[bool] = None) -> Job:
    """Start a job on a thread, or run it now when ``synchronous`` (default: in background
    mode; the returned job then holds its ``error``, None when it succeeded). Raises
    RelitError if a job of the same kind is running."""
    if kind in _jobs:
        raise RelitError(f"{_jobs[kind].label} is still running")
    clear_notice(kind)
    job = Job(kind, label, work, done, fail)
    if bpy.app.background if synchronous is None else synchronous:
        job.synchronous = True
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


def _internal_error(job: Job) -> str:
    traceback.print_exc()
    return f"{job.label} failed: internal error (see the system console)"


def _finish(job: Job) -> None:
    """Apply the result with ``done(result)`` (which returns its warnings, or None) and keep
    the outcome as the kind's notice; on an error, notice it and call ``fail(error)``. A bug
    in either is printed, never raised into the poll timer. A synchronous job's caller reads
    ``job.error`` from the job ``submit`` returns."""
    if job.error is None:
        try:
            warnings = list(job.done(job.result) or [])
        except RelitError as exc:
            job.error = str(exc)
        except Exception:  # noqa: BLE001 - a bug in applying the result
            job.error = _internal_error(job)
        else:
            if warnings:
                notify(job.kind, "WARNING", f"{job.label}: " + "; ".join(warnings))
            else:
                notify(job.kind, "INFO", f"{job.label}: done", popup=False)
            return
    cancelled = job.error == "cancelled"
    notify(job.kind, "INFO" if cancelled else "ERROR", f"{job.label}: {job.error}",
           popup=not cancelled)
    if job.fail is not None:
        try:
            job.fail(job.error)
        except Exception:  # noqa: BLE001
            traceback.print_exc()
    elif not job.synchronous:
        print(f"relit: {job.label}: {job.error}", file=sys.stderr)


def _poll() -> Optional[float]:
    for kind, job in list(_jobs.items()):
        if job.finished:
            del _jobs[kind]
            try:
                _finish(job)
            except Exception:  # noqa: BLE001 - one job's failure never stops the others
                traceback.print_exc()
    try:
        _redraw()
    except Exception:  # noqa: BLE001
        traceback.print_exc()
    return POLL_SECONDS if _jobs else None


def _redraw() -> None:
    wm = bpy.context.window_manager
    for window in getattr(wm, "windows", []):
        screen = window.screen
        for area in (screen.areas if screen is not None else []):
            if area.type in {"VIEW_3D", "IMAGE_EDITOR", "NODE_EDITOR"}:
                area.tag_redraw()


def shutdown() -> None:
    """Ask every job to stop (on unregister or file load); their results are dropped."""
    for job in _jobs.values():
        job.stop.set()
    _jobs.clear()
    _notices.clear()
    if bpy.app.timers.is_registered(_poll):
        bpy.app.timers.unregister(_poll)


@bpy.app.handlers.persistent
def on_load_pre(*_args) -> None:
    """Before a file loads: the running jobs belong to the old file; cancel them."""
    shutdown()


def register_handlers() -> None:
    if on_load_pre not in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.append(on_load_pre)


def unregister_handlers() -> None:
    while on_load_pre in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(on_load_pre)
