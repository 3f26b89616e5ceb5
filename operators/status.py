"""Model status: which networks are installed, and a refresh operator."""
import bpy

from ..inference import models


def registry_for(context) -> models.Registry:
    """The registry of the scene's models folder, or the extension's own."""
    folder = bpy.path.abspath(context.scene.relit.models_dir) if context.scene else ""
    return models.Registry(folder) if folder else models.default_registry()


class RELIT_OT_check_models(bpy.types.Operator):
    """Verify the installed models (checksums) and report their status"""

    bl_idname = "relit.check_models"
    bl_label = "Check Models"
    bl_options = {"REGISTER"}

    def execute(self, context):
        reg = registry_for(context)
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
