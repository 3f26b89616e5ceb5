"""``RELIT_OT_cancel``: the Cancel button beside a running job's progress bar."""
import bpy

from ..app import jobs


class RELIT_OT_cancel(bpy.types.Operator):
    """Stop the running Relit job"""

    bl_idname = "relit.cancel"
    bl_label = "Cancel"

    kind: bpy.props.StringProperty()

    def execute(self, context):
        if not jobs.cancel(self.kind):
            self.report({"INFO"}, "nothing to cancel")
        return {"FINISHED"}
