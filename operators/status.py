"""Model status: which networks are installed, and a refresh operator."""
import bpy

from . import api


class RELIT_OT_check_models(bpy.types.Operator):
    """Verify the installed models (checksums) and report their status"""

    bl_idname = "relit.check_models"
    bl_label = "Check Models"
    bl_options = {"REGISTER"}

    def execute(self, context):
        reg = api.registry(context.scene.relit)
        reg.clear()
        status = reg.status()
        bad = {name: why for name, why in status.items() if why != "ok"}
        if not status:
            self.report({"WARNING"}, f"no models installed in {reg.models_dir}")
        elif bad:
            self.report({"WARNING"}, "; ".join(bad.values()))
        else:
            self.report({"INFO"}, f"{len(status)} models ok: {', '.join(status)}")
        return {"FINISHED"}


classes = (RELIT_OT_check_models,)
