"""``RELIT_OT_match_lighting``: the plate's source lighting recreated from its estimate."""
import bpy

from ...app.lighting import match_lighting
from ..common import UNDOABLE, has_passes, reports_errors, settings_of


class RELIT_OT_match_lighting(bpy.types.Operator):
    """Recreate the plate's original lighting from its estimate"""

    bl_idname = "relit.match_lighting"
    bl_label = "Match Source Lighting"
    bl_options = UNDOABLE
    poll = classmethod(has_passes)

    mode: bpy.props.EnumProperty(items=[
        ("WORLD", "World", "A world whose light is the estimated spherical harmonics"),
        ("KEY", "Key + Ambient", "One key light along the dominant direction, plus ambient")])

    @reports_errors
    def execute(self, context):
        match_lighting(context.scene, settings_of(context), self.mode)
        return {"FINISHED"}
