"""``RELIT_OT_write_farm_bundle``: a render-farm job bundle for the current plate sequence.

The bundle (``inference.farm``) holds Relit's Open Job Description template and the job's
parameter values: ``deadline bundle submit BUNDLE`` sends it to a Deadline Cloud queue, and
``openjd run`` runs it on this machine. The batch command is ``blender --command relit
farm-bundle`` (``python -m inference farm-bundle``).
"""
from pathlib import Path

import bpy

from ...app.sources import current_plate
from ...inference import farm
from ..common import poll_check, reports_errors


class RELIT_OT_write_farm_bundle(bpy.types.Operator):
    """Write a render-farm job bundle for the plate sequence: Relit's Open Job Description
    template and the job's values (submit with `deadline bundle submit`, or `openjd run`)"""

    bl_idname = "relit.write_farm_bundle"
    bl_label = "Write Farm Job Bundle"
    bl_options = {"REGISTER"}

    directory: bpy.props.StringProperty(
        name="Bundle Folder", subtype="DIR_PATH", default="//farm/relit_job/",
        description="The job bundle folder to write (// is relative to the .blend file)")
    plate: bpy.props.StringProperty(
        name="Plate", subtype="FILE_PATH",
        description="The plate's frame pattern (plate.####.exr) or one of its frames; empty: "
        "the current plate")
    output_dir: bpy.props.StringProperty(
        name="Job Output", subtype="DIR_PATH", default="//farm/relit_out/",
        description="Where the job writes passes/ and relight/ or export/")
    frames: bpy.props.StringProperty(
        name="Frames", description="Frames to run, as 1001-1100 or 1001-1010,1050 (empty: "
        "every frame of the plate)")
    chunk_size: bpy.props.IntProperty(name="Frames per Task", default=10, min=1)
    stabilise: bpy.props.FloatProperty(name="Stabilisation", default=0.7, min=0.0, max=0.95)
    then: bpy.props.EnumProperty(name="Then", items=[
        ("relight", "Relight", "A beauty image per frame"),
        ("export", "Export AOVs", "A multi-layer EXR of AOVs per frame")], default="relight")
    runner: bpy.props.EnumProperty(name="Run With", items=[
        ("blender", "Blender", "blender -b --command relit (Relit installed on the workers)"),
        ("python", "Python", "python -m inference from a Relit folder on the workers")],
        default="blender")
    blender: bpy.props.StringProperty(name="Blender on Workers", default="blender")
    relative: bpy.props.BoolProperty(
        name="Relative Paths", default=False,
        description="Write paths relative to the bundle folder (for a bundle kept beside the "
        "shot, run with openjd from inside it); Deadline Cloud needs absolute paths")
    overwrite: bpy.props.BoolProperty(name="Overwrite", default=False)

    @classmethod
    def poll(cls, context):
        return poll_check(cls, current_plate, context)

    def invoke(self, context, event):
        return context.window_manager.invoke_props_dialog(self, width=420)

    @reports_errors
    def execute(self, context):
        plate = farm.pattern_of(bpy.path.abspath(self.plate)) if self.plate \
            else current_plate(context)
        bundle = farm.write_bundle(self._job(context.scene.relit, plate),
                                   bpy.path.abspath(self.directory),
                                   paths="relative" if self.relative else "absolute",
                                   overwrite=self.overwrite)
        self.report({"INFO"}, f"wrote job bundle {bundle}")
        return {"FINISHED"}

    def _job(self, settings, plate: str) -> farm.Job:
        """The farm job of ``plate`` with this dialog's values and the scene's settings."""
        lighting = bpy.path.abspath(settings.hdri_path) if settings.hdri == "FILE" else ""
        return farm.Job(
            plate=plate, output_dir=bpy.path.abspath(self.output_dir), frames=self.frames,
            chunk_size=self.chunk_size, stabilise=round(self.stabilise, 4),
            models=bpy.path.abspath(settings.models_dir) if settings.models_dir else "",
            output=self.then, hdri=settings.hdri if settings.hdri != "FILE" else "studio",
            rotation=round(settings.hdri_rotation, 4), lighting_file=lighting,
            runner=self.runner, blender=self.blender,
            relit_source=str(Path(farm.__file__).resolve().parents[1])
            if self.runner == "python" else "")
