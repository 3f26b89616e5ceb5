"""``RELIT_OT_*``: thin operators over ``api`` (inference on a worker thread via ``jobs``)."""
import sys

import bpy
from bpy_extras.io_utils import ImportHelper

from ..inference.errors import RelitError
from . import api, jobs

OPS = {"REGISTER", "UNDO"}


def _settings(context):
    return context.scene.relit


def _guard(op, fn, *args, **kwargs):
    """Run ``fn``; a RelitError becomes an operator error report instead of a traceback."""
    try:
        return fn(*args, **kwargs), True
    except RelitError as exc:
        op.report({"ERROR"}, str(exc))
        return None, False


def _status(op, fn, *args, **kwargs) -> set:
    """Run a synchronous step; the operator's return value."""
    _, ok = _guard(op, fn, *args, **kwargs)
    return {"FINISHED"} if ok else {"CANCELLED"}


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


def _start(op, context, kind, label, work, on_result):
    """Run ``work`` as a job; ``on_result(scene, result)`` applies it to the scene when it ends
    and returns its warnings. ``jobs`` keeps the outcome as the job's notice, which the panels
    show, as ``self.report`` cannot be used once ``execute`` has returned."""
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

    def fail(message):
        if bpy.app.background:  # the job ran synchronously: the operator reports it
            raise RelitError(message)
        print(f"relit: {label}: {message}", file=sys.stderr)

    _, ok = _guard(op, jobs.submit, kind, label, work, done, fail)
    return {"FINISHED"} if ok else {"CANCELLED"}


def _passes_done(build):
    def on_result(scene, passes):
        name = passes.meta.get("name", "plate")
        api.apply_passes(scene, scene.relit, name, passes, build=build)
        return list(passes.meta.get("warnings", []))
    return on_result


def _named(work, name):
    def run(progress, cancel):
        passes = work(progress, cancel)
        passes.meta["name"] = name
        return passes
    return run


class RELIT_OT_decompose(bpy.types.Operator):
    """Decompose the image into normal, albedo, roughness, F0, matte, height and lighting"""

    bl_idname = "relit.decompose"
    bl_label = "Decompose"
    bl_options = OPS

    source: bpy.props.EnumProperty(items=[
        ("ACTIVE", "Active Image", "The image shown in the Image Editor"),
        ("FILE", "File", "The Source file in the Relit settings")], default="ACTIVE")
    build_plane: bpy.props.BoolProperty(name="Build Plane", default=True)

    @classmethod
    def poll(cls, context):
        try:
            api.require_models(_settings(context))
        except RelitError as exc:
            cls.poll_message_set(str(exc))
            return False
        if jobs.running("decompose"):
            cls.poll_message_set("a decomposition is running")
            return False
        return True

    def execute(self, context):
        settings = _settings(context)
        if self.source == "ACTIVE":
            space = context.space_data
            shown = getattr(space, "image", None) if getattr(space, "type", "") == \
                "IMAGE_EDITOR" else None
            user = space.image_user if shown is not None else None
            found, ok = _guard(self, api.image_source, shown or settings.source_image, user)
        else:
            found, ok = _guard(self, api.file_source, settings.source_path)
        if ok:  # where the result goes is checked before the work starts
            _, ok = _guard(self, api.check_target, context.scene, settings, found[0],
                           self.build_plane)
        if not ok:
            return {"CANCELLED"}
        name, pixels = found
        return _start(self, context, "decompose", "Decompose",
                      _named(api.decompose_work(settings, pixels), name),
                      _passes_done(self.build_plane))


class RELIT_OT_import_passes(bpy.types.Operator, ImportHelper):
    """Import passes made elsewhere: a pass folder (normal, albedo, roughness, reflectivity,
    alpha, height files) or a multi-layer passes.exr"""

    bl_idname = "relit.import_passes"
    bl_label = "Import Passes"
    bl_options = OPS

    filter_glob: bpy.props.StringProperty(default="*.exr;*.png;*.tif;*.tiff;*.jpg",
                                          options={"HIDDEN"})
    build_plane: bpy.props.BoolProperty(name="Build Plane", default=True)

    def execute(self, context):
        found, ok = _guard(self, api.load_passes, self.filepath)
        if ok:
            name, passes = found
            _, ok = _guard(self, api.apply_passes, context.scene, _settings(context), name,
                           passes, build=self.build_plane)
        return {"FINISHED"} if ok else {"CANCELLED"}


class RELIT_OT_photometric(bpy.types.Operator, ImportHelper):
    """Photometric stereo: several photos of a still subject, each lit from a known direction
    (the Lights JSON), measured into normal, albedo and height passes"""

    bl_idname = "relit.photometric"
    bl_label = "Photometric Stereo"
    bl_options = OPS

    files: bpy.props.CollectionProperty(type=bpy.types.OperatorFileListElement)
    directory: bpy.props.StringProperty(subtype="DIR_PATH")
    filter_glob: bpy.props.StringProperty(default="*.exr;*.png;*.tif;*.tiff;*.jpg;*.jpeg",
                                          options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        if not _settings(context).lights_path:
            cls.poll_message_set("choose the Lights JSON first")
            return False
        if jobs.running("photometric"):
            cls.poll_message_set("photometric stereo is running")
            return False
        return True

    def execute(self, context):
        from pathlib import Path

        settings = _settings(context)
        paths = [str(Path(self.directory) / f.name) for f in self.files if f.name]
        name = Path(self.directory.rstrip("/\\")).name or "capture"
        _, ok = _guard(self, api.photometric_inputs, paths, settings.lights_path,
                       settings.ps_ambient)
        if ok:
            _, ok = _guard(self, api.check_target, context.scene, settings, name, True)
        if not ok:
            return {"CANCELLED"}
        work = _named(api.photometric_work(paths, settings.lights_path,
                                           ambient=settings.ps_ambient,
                                           linear=settings.ps_linear), name)
        return _start(self, context, "photometric", "Photometric Stereo", work,
                      _passes_done(True))


def _needs_plane(cls, context):
    if not _settings(context).active:
        cls.poll_message_set("decompose or import passes first")
        return False
    return True


class RELIT_OT_build_plane(bpy.types.Operator):
    """Build (or rebuild) the camera-fitted plate plane and its material from the passes"""

    bl_idname = "relit.build_plane"
    bl_label = "Build Plane"
    bl_options = OPS

    @classmethod
    def poll(cls, context):
        if not _needs_plane(cls, context):
            return False
        if context.scene.camera is None:
            cls.poll_message_set("the scene has no camera")
            return False
        return True

    def execute(self, context):
        return _status(self, api.build_plate, context.scene, _settings(context),
                       _settings(context).active)


class RELIT_OT_add_light_rig(bpy.types.Operator):
    """Add key, fill and rim area lights aimed at the plate (a preset you can move freely)"""

    bl_idname = "relit.add_light_rig"
    bl_label = "Add Light Rig"
    bl_options = OPS
    poll = classmethod(_needs_plane)

    def execute(self, context):
        return _status(self, api.add_light_rig, context.scene, _settings(context))


class RELIT_OT_set_hdri(bpy.types.Operator):
    """Light the scene with an HDRI world (rotation and strength in the Relit settings)"""

    bl_idname = "relit.set_hdri"
    bl_label = "Set HDRI World"
    bl_options = OPS

    def execute(self, context):
        return _status(self, api.set_hdri, context.scene, _settings(context))


class RELIT_OT_restore_world(bpy.types.Operator):
    """Show the world the scene had before Relit's world again"""

    bl_idname = "relit.restore_world"
    bl_label = "Restore World"
    bl_options = OPS

    @classmethod
    def poll(cls, context):
        if not api.world.is_relit_world(context.scene.world):
            cls.poll_message_set("the scene does not show Relit's world")
            return False
        return True

    def execute(self, context):
        return _status(self, api.restore_world, context.scene)


class RELIT_OT_match_lighting(bpy.types.Operator):
    """Recreate the plate's original lighting from its estimate"""

    bl_idname = "relit.match_lighting"
    bl_label = "Match Source Lighting"
    bl_options = OPS
    poll = classmethod(_needs_plane)

    mode: bpy.props.EnumProperty(items=[
        ("WORLD", "World", "A world whose light is the estimated spherical harmonics"),
        ("KEY", "Key + Ambient", "One key light along the dominant direction, plus ambient")])

    def execute(self, context):
        return _status(self, api.match_lighting, context.scene, _settings(context), self.mode)


class RELIT_OT_refine(bpy.types.Operator):
    """Refine the last render with RenderNet into a new image"""

    bl_idname = "relit.refine"
    bl_label = "Refine Render"
    bl_options = OPS

    @classmethod
    def poll(cls, context):
        try:
            api.require_models(_settings(context), [api.pipeline.REFINER])
        except RelitError as exc:
            cls.poll_message_set(str(exc))
            return False
        if jobs.running("refine"):
            cls.poll_message_set("a refinement is running")
            return False
        return _needs_plane(cls, context)

    def execute(self, context):
        settings = _settings(context)
        name = settings.active
        _, ok = _guard(self, api.output_folder, settings, name)  # where the result is saved
        if ok:
            rendered, ok = _guard(self, api.render_result_pixels, context.scene)
        if ok:
            work, ok = _guard(self, api.refine_work, settings, name, rendered)
        if not ok:
            return {"CANCELLED"}

        def on_result(scene, rgba):
            api.refined_image(scene.relit, name, rgba)
            return []
        return _start(self, context, "refine", "Refine", work, on_result)


class RELIT_OT_export_passes(bpy.types.Operator):
    """Write the passes as a multi-layer EXR, single-pass EXRs, lighting.json and previews"""

    bl_idname = "relit.export_passes"
    bl_label = "Export Passes"
    bl_options = {"REGISTER"}

    directory: bpy.props.StringProperty(subtype="DIR_PATH")
    overwrite: bpy.props.BoolProperty(name="Overwrite", default=False)
    poll = classmethod(_needs_plane)

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        written, ok = _guard(self, api.export_passes, _settings(context),
                             _settings(context).active, self.directory, self.overwrite)
        if ok:
            self.report({"INFO"}, f"wrote {len(written)} files to {self.directory}")
        return {"FINISHED"} if ok else {"CANCELLED"}


class RELIT_OT_build_compositor(bpy.types.Operator):
    """Composite the relit plate over the original background through the matte, and write
    the AOVs (composite, relit render, light passes and Relit's passes) as a multi-layer EXR"""

    bl_idname = "relit.build_compositor"
    bl_label = "Build Compositor"
    bl_options = OPS
    poll = classmethod(_needs_plane)

    edge: bpy.props.FloatProperty(name="Edge", default=0.0, min=0.0, soft_max=8.0,
                                  description="Erode and feather the matte edge (pixels)")
    directory: bpy.props.StringProperty(name="AOV Folder", subtype="DIR_PATH", default="",
                                        description="Where the File Output writes the AOVs "
                                        "(empty: no file output)")

    def execute(self, context):
        made, ok = _guard(self, api.build_compositor, context.scene, _settings(context),
                          edge=self.edge, directory=self.directory)
        if ok:
            _, changes = made
            self.report({"INFO"}, "; ".join(["Relit compositor built", *changes]))
        return {"FINISHED"} if ok else {"CANCELLED"}


class RELIT_OT_cancel(bpy.types.Operator):
    """Stop the running Relit job"""

    bl_idname = "relit.cancel"
    bl_label = "Cancel"

    kind: bpy.props.StringProperty()

    def execute(self, context):
        if not jobs.cancel(self.kind):
            self.report({"INFO"}, "nothing to cancel")
        return {"FINISHED"}


classes = (RELIT_OT_decompose, RELIT_OT_import_passes, RELIT_OT_photometric,
           RELIT_OT_build_plane, RELIT_OT_add_light_rig, RELIT_OT_set_hdri,
           RELIT_OT_restore_world, RELIT_OT_match_lighting, RELIT_OT_refine,
           RELIT_OT_export_passes, RELIT_OT_build_compositor, RELIT_OT_cancel)
