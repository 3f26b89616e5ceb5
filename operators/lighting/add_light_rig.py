"""``RELIT_OT_add_light_rig``: key, fill and rim area lights aimed at the plate."""
import bpy

from ...app.lighting import add_light_rig
from ..common import UNDOABLE, has_passes, reports_errors, settings_of


class RELIT_OT_add_light_rig(bpy.types.Operator):
    """Add key, fill and rim area lights aimed at the plate (a preset you can move freely)"""

    bl_idname = "relit.add_light_rig"
    bl_label = "Add Light Rig"
    bl_options = UNDOABLE
    poll = classmethod(has_passes)

    @reports_errors
    def execute(self, context):
        add_light_rig(context.scene, settings_of(context))
        return {"FINISHED"}
