"""``RELIT_OT_decompose``: the image decomposed into passes on a worker thread."""
import bpy

from ...app import sources
from ...app.passes import check_target
from ..common import (UNDOABLE, apply_passes_result, idle, models_ready, naming_passes,
                      reports_errors, settings_of, start_job)


def _shown_image(context):
    """The Image Editor's image and its image user, or ``(None, None)``."""
    space = context.space_data
    if getattr(space, "type", "") != "IMAGE_EDITOR" or getattr(space, "image", None) is None:
        return None, None
    return space.image, space.image_user


class RELIT_OT_decompose(bpy.types.Operator):
    """Decompose the image into normal, albedo, roughness, F0, matte, height and lighting"""

    bl_idname = "relit.decompose"
    bl_label = "Decompose"
    bl_options = UNDOABLE

    source: bpy.props.EnumProperty(items=[
        ("ACTIVE", "Active Image", "The image shown in the Image Editor"),
        ("FILE", "File", "The Source file in the Relit settings")], default="ACTIVE")
    build_plane: bpy.props.BoolProperty(name="Build Plane", default=True)

    @classmethod
    def poll(cls, context):
        return models_ready(cls, context) and idle(cls, "decompose", "a decomposition is running")

    @reports_errors
    def execute(self, context):
        settings = settings_of(context)
        if self.source == "ACTIVE":
            shown, user = _shown_image(context)
            name, pixels = sources.image_source(shown or settings.source_image, user)
        else:
            name, pixels = sources.file_source(settings.source_path)
        # where the result goes is checked before the work starts
        check_target(context.scene, settings, name, self.build_plane)
        return start_job(context, "decompose", "Decompose",
                         naming_passes(sources.decompose_work(settings, pixels), name),
                         apply_passes_result(self.build_plane))
