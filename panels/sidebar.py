"""The "Relit" tab of the 3D View sidebar, a compact Image Editor panel and a Compositor
panel."""
import textwrap

import bpy

from ..app import jobs
from ..app.settings import model_status
from ..inference.errors import RelitError


class _Relit:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Relit"


NOTICE_ICONS = {"ERROR": "CANCEL", "WARNING": "ERROR", "INFO": "INFO"}


def draw_notice(layout, kind: str) -> None:
    """What the last job of ``kind`` ended with (error, warnings, done), wrapped."""
    found = jobs.notice(kind)
    if found is None:
        return
    level, message = found
    box = layout.box().column(align=True)
    for i, line in enumerate(textwrap.wrap(message, 40) or [""]):
        box.label(text=line, icon=NOTICE_ICONS[level] if i == 0 else "BLANK1")


def draw_job(layout, kind: str) -> bool:
    """Progress bar and Cancel for a running job, else its last notice; True when one is
    running."""
    job = jobs.running(kind)
    if job is None:
        draw_notice(layout, kind)
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
    col.prop(settings, "photo_detail")
    col.prop(settings, "shading_normals")


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
        col.prop(context.scene.relit, "ps_ambient")
        col.prop(context.scene.relit, "ps_linear")
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
        row = col.row(align=True)
        row.operator("relit.set_hdri", icon="WORLD")
        row.operator("relit.restore_world", text="", icon="LOOP_BACK")
        draw_notice(col, "world")
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
        col.prop(context.scene.relit, "refine_strength")


class RELIT_PT_export(_Relit, bpy.types.Panel):
    bl_label = "Export"
    bl_parent_id = "RELIT_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        col = self.layout.column()
        col.operator("relit.export_passes", icon="EXPORT")
        draw_compositor(col, context)
        col.separator()
        col.operator("relit.write_farm_bundle", icon="NETWORK_DRIVE")


def draw_compositor(layout, context) -> None:
    settings = context.scene.relit
    layout.prop(settings, "compositor_edge")
    layout.prop(settings, "aov_dir")
    op = layout.operator("relit.build_compositor", icon="NODE_COMPOSITING")
    op.edge, op.directory = settings.compositor_edge, settings.aov_dir


def draw_models(layout, context) -> None:
    """Each model of the manifest with its version and state (ok, missing, corrupt)."""
    try:
        rows = model_status(context.scene.relit)
    except RelitError as exc:  # an unreadable manifest
        for i, line in enumerate(textwrap.wrap(str(exc), 40)):
            layout.label(text=line, icon="CANCEL" if i == 0 else "BLANK1")
        return
    if not rows:
        layout.label(text="no models installed", icon="ERROR")
    for name, version, state in rows:
        row = layout.row()
        row.label(text=f"{name} {version}", icon="CHECKMARK" if state == "ok" else "CANCEL")
        row.label(text="ok" if state == "ok" else "not usable")
        if state != "ok":
            for line in textwrap.wrap(state, 40):
                layout.label(text=line, icon="BLANK1")


class RELIT_PT_models(_Relit, bpy.types.Panel):
    bl_label = "Models"
    bl_parent_id = "RELIT_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        col = self.layout.column()
        col.prop(context.scene.relit, "models_dir")
        draw_models(col, context)
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


class RELIT_PT_compositor(bpy.types.Panel):
    """The Relit compositor, in the Compositor's sidebar."""

    bl_label = "Relit"
    bl_idname = "RELIT_PT_compositor"
    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Relit"

    @classmethod
    def poll(cls, context):
        return getattr(context.space_data, "tree_type", "") == "CompositorNodeTree"

    def draw(self, context):
        col = self.layout.column()
        col.prop(context.scene.relit, "active")
        draw_compositor(col, context)


classes = (RELIT_PT_main, RELIT_PT_source, RELIT_PT_passes, RELIT_PT_plane, RELIT_PT_lighting,
           RELIT_PT_refine, RELIT_PT_export, RELIT_PT_models, RELIT_PT_image_editor,
           RELIT_PT_compositor)
