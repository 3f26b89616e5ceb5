"""Relit's ``RELIT_OT_*`` operators, one a file, in a package per panel section. They only
orchestrate: the work is the application API's (``app``), errors become reports
(``common.reports_errors``)."""
import bpy

from . import export, lighting, models, passes, plane, refine, source
from .cancel import RELIT_OT_cancel

classes = (*source.classes, *passes.classes, *plane.classes, *lighting.classes,
           *refine.classes, *export.classes, *models.classes, RELIT_OT_cancel)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
