"""Operators of the Passes panel."""
from .import_passes import RELIT_OT_import_passes

classes = (RELIT_OT_import_passes,)
