"""``RELIT_OT_set_hdri``: an HDRI world (built-in studio light or a file)."""
import bpy

from ...app.lighting import set_hdri
from ..common import UNDOABLE, reports_errors, settings_of


class RELIT_OT_set_hdri(bpy.types.Operator):
    """Light the scene with an HDRI world (rotation and strength in the Relit settings)"""

    bl_idname = "relit.set_hdri"
    bl_label = "Set HDRI World"
    bl_options = UNDOABLE

    @reports_errors
    def execute(self, context):
        set_hdri(context.scene, settings_of(context))
        return {"FINISHED"}
