"""``RELIT_OT_build_plane``: the camera-fitted plate (re)built from the pass images."""
import bpy

from ...app.passes import build_plate
from ...datablocks.plate import scene_camera
from ..common import UNDOABLE, has_passes, poll_check, reports_errors, settings_of


class RELIT_OT_build_plane(bpy.types.Operator):
    """Build (or rebuild) the camera-fitted plate plane and its material from the passes"""

    bl_idname = "relit.build_plane"
    bl_label = "Build Plane"
    bl_options = UNDOABLE

    @classmethod
    def poll(cls, context):
        return has_passes(cls, context) and poll_check(cls, scene_camera, context.scene)

    @reports_errors
    def execute(self, context):
        build_plate(context.scene, settings_of(context), settings_of(context).active)
        return {"FINISHED"}
