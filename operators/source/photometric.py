"""``RELIT_OT_photometric``: photometric stereo over captures lit from known directions."""
from pathlib import Path

import bpy
from bpy_extras.io_utils import ImportHelper

from ...app import sources
from ...app.passes import check_target
from ..common import (UNDOABLE, apply_passes_result, idle, naming_passes, reports_errors,
                      settings_of, start_job)


class RELIT_OT_photometric(bpy.types.Operator, ImportHelper):
    """Photometric stereo: several photos of a still subject, each lit from a known direction
    (the Lights JSON), measured into normal, albedo and height passes"""

    bl_idname = "relit.photometric"
    bl_label = "Photometric Stereo"
    bl_options = UNDOABLE

    files: bpy.props.CollectionProperty(type=bpy.types.OperatorFileListElement)
    directory: bpy.props.StringProperty(subtype="DIR_PATH")
    filter_glob: bpy.props.StringProperty(default="*.exr;*.png;*.tif;*.tiff;*.jpg;*.jpeg",
                                          options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        if not settings_of(context).lights_path:
            cls.poll_message_set("choose the Lights JSON first")
            return False
        return idle(cls, "photometric", "photometric stereo is running")

    @reports_errors
    def execute(self, context):
        settings = settings_of(context)
        paths = [str(Path(self.directory) / f.name) for f in self.files if f.name]
        name = Path(self.directory.rstrip("/\\")).name or "capture"
        sources.photometric_inputs(paths, settings.lights_path, settings.ps_ambient)
        check_target(context.scene, settings, name, True)
        work = naming_passes(sources.photometric_work(paths, settings.lights_path,
                                                      ambient=settings.ps_ambient,
                                                      linear=settings.ps_linear), name)
        return start_job(context, "photometric", "Photometric Stereo", work,
                         apply_passes_result(True))
