"""``RELIT_OT_import_passes``: passes made elsewhere, read from a folder or a multi-layer EXR."""
import bpy
from bpy_extras.io_utils import ImportHelper

from ...app.passes import apply_passes
from ...app.sources import load_passes
from ..common import UNDOABLE, reports_errors, settings_of


class RELIT_OT_import_passes(bpy.types.Operator, ImportHelper):
    """Import passes made elsewhere: a pass folder (normal, albedo, roughness, reflectivity,
    alpha, height files) or a multi-layer passes.exr"""

    bl_idname = "relit.import_passes"
    bl_label = "Import Passes"
    bl_options = UNDOABLE

    filter_glob: bpy.props.StringProperty(default="*.exr;*.png;*.tif;*.tiff;*.jpg",
                                          options={"HIDDEN"})
    build_plane: bpy.props.BoolProperty(name="Build Plane", default=True)

    @reports_errors
    def execute(self, context):
        name, passes = load_passes(self.filepath)
        apply_passes(context.scene, settings_of(context), name, passes, build=self.build_plane)
        return {"FINISHED"}
