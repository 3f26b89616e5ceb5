"""Model status: which networks are installed, and a refresh operator."""
import bpy

from ..inference.errors import RelitError
from . import api


class RELIT_OT_check_models(bpy.types.Operator):
    """Verify the installed models (checksums) and report their status"""

    bl_idname = "relit.check_models"
    bl_label = "Check Models"
    bl_options = {"REGISTER"}

    def execute(self, context):
        try:
            rows = api.model_status(context.scene.relit, recheck=True)
        except RelitError as exc:  # e.g. a corrupt manifest.json
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        bad = [state for _, _, state in rows if state != "ok"]
        folder = api.registry(context.scene.relit).models_dir
        if not rows:
            self.report({"WARNING"}, f"no models installed in {folder}")
        elif bad:
            self.report({"WARNING"}, "; ".join(bad))
        else:
            self.report({"INFO"}, f"{len(rows)} models ok: "
                        f"{', '.join(name for name, _, _ in rows)}")
        return {"FINISHED"}


classes = (RELIT_OT_check_models,)
