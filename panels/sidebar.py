"""The "Relit" tab of the 3D View sidebar and a compact Image Editor panel."""
import bpy

from ..operators import jobs
from ..shaders import plate


class _Relit:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Relit"


def draw_job(layout, kind: str) -> bool:
    """Progress bar and Cancel for a running job; True when one is running."""
    job = jobs.running(kind)
    if job is None:
        return False
    row = layout.row(align=True)
    row.progress(factor=job.fraction, type="BAR", text=f"{job.label}: {job.message}")
    row.operator("relit.cancel", text="", icon="CANCEL").kind = kind
    return True


def draw_source(layout, context):
    settings = context.scene.relit
    col = layout.column()
    col.template_ID(settings, "source_image", open="image.open")
    col.prop(settings, "source_path")
    if not draw_job(col, "decompose"):
        row = col.row(align=True)
        row.operator("relit.decompose", icon="IMAGE_RGB").source = "ACTIVE"
        row.operator("relit.decompose", text="From File", icon="FILE_IMAGE").source = "FILE"
    col.prop(settings, "max_side")
    col.prop(settings, "mirror_normals")


class RELIT_PT_main(_Relit, bpy.types.Panel):
    bl_label = "Relit"
    bl_idname = "RELIT_PT_main"

    def draw(self, context):
        settings = context.scene.relit
        col = self.layout.column()
        col.prop(settings, "output_dir")
        col.prop(settings, "pack_images")


class RELIT_PT_source(_Relit, bpy.types.Panel):
    bl_label = "Source"
    bl_parent_id = "RELIT_PT_main"

    def draw(self, context):
        draw_source(self.layout, context)
        col = self.layout.column()
        col.separator()
        col.prop(context.scene.relit, "lights_path")
        if not draw_job(col, "photometric"):
            col.operator("relit.photometric", icon="LIGHT_SUN")


class RELIT_PT_passes(_Relit, bpy.types.Panel):
    bl_label = "Passes"
    bl_parent_id = "RELIT_PT_main"

    def draw(self, context):
        settings = context.scene.relit
        col = self.layout.column()
        col.prop(settings, "active")
        col.operator("relit.import_passes", icon="IMPORT")
        for image in bpy.data.images:
            if settings.active and image.get("relit_source") == settings.active:
                row = col.row()
                row.label(text=image.name, icon="IMAGE_DATA")
                row.label(text="Non-Color" if image.colorspace_settings.is_data else "Linear")


class RELIT_PT_plane(_Relit, bpy.types.Panel):
    bl_label = "Plane"
    bl_parent_id = "RELIT_PT_main"

    def draw(self, context):
        settings = context.scene.relit
        col = self.layout.column()
        col.operator("relit.build_plane", icon="MESH_PLANE")
        col.prop(settings, "subdivisions")
        col.prop(settings, "height_scale")
        col.prop(settings, "keep_plate")


class RELIT_PT_lighting(_Relit, bpy.types.Panel):
    bl_label = "Lighting"
    bl_parent_id = "RELIT_PT_main"

    def draw(self, context):
        settings = context.scene.relit
        col = self.layout.column()
        row = col.row(align=True)
        row.prop(settings, "light_preset", text="")
        row.prop(settings, "light_strength")
        col.operator("relit.add_light_rig", icon="LIGHT_AREA")
        col.separator()
        col.prop(settings, "hdri")
        if settings.hdri == "FILE":
            col.prop(settings, "hdri_path")
        col.prop(settings, "hdri_rotation")
        col.prop(settings, "hdri_strength")
        col.operator("relit.set_hdri", icon="WORLD")
        col.separator()
        row = col.row(align=True)
        row.operator("relit.match_lighting", text="Match: World").mode = "WORLD"
        row.operator("relit.match_lighting", text="Key + Ambient").mode = "KEY"


class RELIT_PT_refine(_Relit, bpy.types.Panel):
    bl_label = "Refine"
    bl_parent_id = "RELIT_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        col = self.layout.column()
        if not draw_job(col, "refine"):
            col.operator("relit.refine", icon="SHADERFX")


class RELIT_PT_export(_Relit, bpy.types.Panel):
    bl_label = "Export"
    bl_parent_id = "RELIT_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        col = self.layout.column()
        col.operator("relit.export_passes", icon="EXPORT")
        col.operator("relit.build_compositor", icon="NODE_COMPOSITING")


class RELIT_PT_models(_Relit, bpy.types.Panel):
    bl_label = "Models"
    bl_parent_id = "RELIT_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        col = self.layout.column()
        col.prop(context.scene.relit, "models_dir")
        col.operator("relit.check_models", icon="CHECKMARK")


class RELIT_PT_image_editor(bpy.types.Panel):
    bl_label = "Relit"
    bl_idname = "RELIT_PT_image_editor"
    bl_space_type = "IMAGE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Relit"

    def draw(self, context):
        col = self.layout.column()
        if not draw_job(col, "decompose"):
            col.operator("relit.decompose", icon="IMAGE_RGB").source = "ACTIVE"
        col.prop(context.scene.relit, "output_dir")
        col.operator("relit.build_plane", icon="MESH_PLANE")


classes = (RELIT_PT_main, RELIT_PT_source, RELIT_PT_passes, RELIT_PT_plane, RELIT_PT_lighting,
           RELIT_PT_refine, RELIT_PT_export, RELIT_PT_models, RELIT_PT_image_editor)
