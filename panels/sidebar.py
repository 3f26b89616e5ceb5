"""3D View sidebar tab "Relit"."""
import bpy


class RELIT_PT_main(bpy.types.Panel):
    bl_label = "Relit"
    bl_idname = "RELIT_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Relit"

    def draw(self, context):
        settings = context.scene.relit
        col = self.layout.column()
        col.prop(settings, "output_dir")


class RELIT_PT_models(bpy.types.Panel):
    bl_label = "Models"
    bl_idname = "RELIT_PT_models"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Relit"
    bl_parent_id = "RELIT_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        col = self.layout.column()
        col.prop(context.scene.relit, "models_dir")
        col.operator("relit.check_models", icon="CHECKMARK")


classes = (RELIT_PT_main, RELIT_PT_models)
