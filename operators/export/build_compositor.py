"""``RELIT_OT_build_compositor``: the Relit compositor and its AOV file output."""
import bpy

from ...app.compositing import build_compositor
from ..common import UNDOABLE, has_passes, reports_errors, settings_of


class RELIT_OT_build_compositor(bpy.types.Operator):
    """Composite the relit plate over the original background through the matte, and write
    the AOVs (composite, relit render, light passes and Relit's passes) as a multi-layer EXR"""

    bl_idname = "relit.build_compositor"
    bl_label = "Build Compositor"
    bl_options = UNDOABLE
    poll = classmethod(has_passes)

    edge: bpy.props.FloatProperty(name="Edge", default=0.0, min=0.0, soft_max=8.0,
                                  description="Erode and feather the matte edge (pixels)")
    directory: bpy.props.StringProperty(name="AOV Folder", subtype="DIR_PATH", default="",
                                        description="Where the File Output writes the AOVs "
                                        "(empty: no file output)")

    @reports_errors
    def execute(self, context):
        _, changes = build_compositor(context.scene, settings_of(context), edge=self.edge,
                                      directory=self.directory)
        self.report({"INFO"}, "; ".join(["Relit compositor built", *changes]))
        return {"FINISHED"}
