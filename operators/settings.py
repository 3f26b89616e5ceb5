"""Scene settings shown in the Relit panels."""
import bpy


def _models_dir_changed(self, context):
    from ..inference import models

    models.default_registry().clear()


class RELIT_PG_settings(bpy.types.PropertyGroup):
    output_dir: bpy.props.StringProperty(
        name="Output Folder", subtype="DIR_PATH", default="//relit/",
        description="Where Relit writes passes and renders (// is relative to the .blend file)")
    models_dir: bpy.props.StringProperty(
        name="Models Folder", subtype="DIR_PATH", default="",
        description="Folder holding manifest.json and the ONNX models; empty uses the "
                    "models shipped with the extension",
        update=_models_dir_changed)


classes = (RELIT_PG_settings,)


def attach():
    bpy.types.Scene.relit = bpy.props.PointerProperty(type=RELIT_PG_settings)


def detach():
    if hasattr(bpy.types.Scene, "relit"):
        del bpy.types.Scene.relit
