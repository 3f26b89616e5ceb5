"""``RELIT_OT_check_models``: the installed models verified (checksums) and reported."""
import bpy

from ...app.settings import model_status, registry
from ..common import reports_errors


class RELIT_OT_check_models(bpy.types.Operator):
    """Verify the installed models (checksums) and report their status"""

    bl_idname = "relit.check_models"
    bl_label = "Check Models"
    bl_options = {"REGISTER"}

    @reports_errors
    def execute(self, context):
        rows = model_status(context.scene.relit, recheck=True)  # raises for a corrupt manifest
        bad = [state for _, _, state in rows if state != "ok"]
        folder = registry(context.scene.relit).models_dir
        if not rows:
            self.report({"WARNING"}, f"no models installed in {folder}")
        elif bad:
            self.report({"WARNING"}, "; ".join(bad))
        else:
            self.report({"INFO"}, f"{len(rows)} models ok: "
                        f"{', '.join(name for name, _, _ in rows)}")
        return {"FINISHED"}
