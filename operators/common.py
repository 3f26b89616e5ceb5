"""What the operators share: a RelitError reported as the operator's error, the poll checks,
and the start of a job whose result is applied to the scene it was started in."""
import functools
import sys

import bpy

from ..app import jobs
from ..app.passes import apply_passes
from ..app.sources import require_models
from ..inference import pipeline
from ..inference.errors import RelitError

UNDOABLE = {"REGISTER", "UNDO"}   # an operator that changes Blender data


def settings_of(context):
    return context.scene.relit


def reports_errors(method):
    """An operator's ``execute`` or ``invoke`` whose RelitError becomes its error report and
    ``{"CANCELLED"}`` instead of a traceback (the message is written for the user)."""
    @functools.wraps(method)
    def run(self, context, *args):
        try:
            return method(self, context, *args)
        except RelitError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
    return run


# ------------------------------------------------------------------ poll checks
# Each sets the poll message (the tooltip of a greyed-out button) when it fails.

def poll_check(cls, check, *args) -> bool:
    """``check(*args)`` raises no RelitError (its message becomes the poll message)."""
    try:
        check(*args)
    except RelitError as exc:
        cls.poll_message_set(str(exc))
        return False
    return True


def models_ready(cls, context, names=pipeline.CHAIN) -> bool:
    """The scene's models folder holds usable ``names``."""
    return poll_check(cls, require_models, settings_of(context), names)


def idle(cls, kind: str, busy: str) -> bool:
    """No job of ``kind`` is running (``busy`` says what is)."""
    if jobs.running(kind):
        cls.poll_message_set(busy)
        return False
    return True


def has_passes(cls, context) -> bool:
    """The scene has an active pass set."""
    if not settings_of(context).active:
        cls.poll_message_set("decompose or import passes first")
        return False
    return True


# ------------------------------------------------------------------ jobs

def _scene_getter(scene):
    """A way back to ``scene`` when a job ends: by its session id, as its name may change
    and a Python reference to a scene removed meanwhile is not safe to use."""
    uid = scene.session_uid

    def get():
        found = next((s for s in bpy.data.scenes if s.session_uid == uid), None)
        if found is None:
            raise RelitError("the scene this job was started in is gone: result dropped")
        return found
    return get


def start_job(context, kind: str, label: str, work, on_result) -> set:
    """Run ``work`` as a job; ``on_result(scene, result)`` applies it to the scene when it ends
    and returns its warnings. ``jobs`` keeps the outcome as the job's notice, which the panels
    show, as ``self.report`` cannot be used once ``execute`` has returned. A job that ran
    synchronously (background mode) and failed raises its error here, for the operator to
    report."""
    scene = _scene_getter(context.scene)

    def done(result):
        warnings = on_result(scene(), result)
        for warning in warnings:
            print(f"relit: warning: {warning}", file=sys.stderr)
        if not bpy.app.background:
            try:
                bpy.ops.ed.undo_push(message=f"Relit: {label}")
            except RuntimeError:  # no window to push from: the result stays, undo skips it
                pass
        return warnings

    job = jobs.submit(kind, label, work, done)
    if job.synchronous and job.error is not None:
        raise RelitError(job.error)
    return {"FINISHED"}


def apply_passes_result(build: bool):
    """``on_result`` of a job that returns passes: kept as images and, with ``build``, the
    plate; their warnings are the job's."""
    def on_result(scene, passes):
        name = passes.meta.get("name", "plate")
        apply_passes(scene, scene.relit, name, passes, build=build)
        return list(passes.meta.get("warnings", []))
    return on_result


def naming_passes(work, name: str):
    """A job body that runs ``work`` and names the passes it returns ``name``."""
    def run(progress, cancel):
        passes = work(progress, cancel)
        passes.meta["name"] = name
        return passes
    return run
