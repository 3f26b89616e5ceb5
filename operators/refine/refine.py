"""``RELIT_OT_refine``: RenderNet on the last render, on a worker thread."""
import bpy

from ...app import refine
from ...app.settings import output_folder
from ...inference.pipeline import REFINER
from ..common import (UNDOABLE, has_passes, idle, models_ready, reports_errors, settings_of,
                      start_job)


class RELIT_OT_refine(bpy.types.Operator):
    """Refine the last render with RenderNet into a new image"""

    bl_idname = "relit.refine"
    bl_label = "Refine Render"
    bl_options = UNDOABLE

    @classmethod
    def poll(cls, context):
        return (models_ready(cls, context, [REFINER])
                and idle(cls, "refine", "a refinement is running") and has_passes(cls, context))

    @reports_errors
    def execute(self, context):
        settings = settings_of(context)
        name = settings.active
        output_folder(settings, name)  # where the result is saved
        rendered = refine.render_result_pixels(context.scene)
        work = refine.refine_work(settings, name, rendered)

        def on_result(scene, rgba):
            refine.refined_image(scene.relit, name, rgba)
            return []
        return start_job(context, "refine", "Refine", work, on_result)
