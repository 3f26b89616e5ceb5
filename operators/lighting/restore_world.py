"""``RELIT_OT_restore_world``: the world the scene had before Relit's."""
import bpy

from ...app.lighting import restore_world
from ...datablocks.world import is_relit_world
from ..common import UNDOABLE, reports_errors


class RELIT_OT_restore_world(bpy.types.Operator):
    """Show the world the scene had before Relit's world again"""

    bl_idname = "relit.restore_world"
    bl_label = "Restore World"
    bl_options = UNDOABLE

    @classmethod
    def poll(cls, context):
        if not is_relit_world(context.scene.world):
            cls.poll_message_set("the scene does not show Relit's world")
            return False
        return True

    @reports_errors
    def execute(self, context):
        restore_world(context.scene)
        return {"FINISHED"}
