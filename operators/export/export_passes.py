"""``RELIT_OT_export_passes``: the passes written as EXRs, lighting.json and previews."""
import bpy

from ...app.passes import export_passes
from ..common import has_passes, reports_errors, settings_of


class RELIT_OT_export_passes(bpy.types.Operator):
    """Write the passes as a multi-layer EXR, single-pass EXRs, lighting.json and previews"""

    bl_idname = "relit.export_passes"
    bl_label = "Export Passes"
    bl_options = {"REGISTER"}

    directory: bpy.props.StringProperty(subtype="DIR_PATH")
    overwrite: bpy.props.BoolProperty(name="Overwrite", default=False)
    poll = classmethod(has_passes)

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    @reports_errors
    def execute(self, context):
        written = export_passes(settings_of(context), settings_of(context).active,
                                self.directory, self.overwrite)
        self.report({"INFO"}, f"wrote {len(written)} files to {self.directory}")
        return {"FINISHED"}
