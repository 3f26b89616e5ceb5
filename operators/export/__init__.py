"""Operators of the Export panel: passes, the compositor and its AOVs, a farm job bundle."""
from .build_compositor import RELIT_OT_build_compositor
from .export_passes import RELIT_OT_export_passes
from .write_farm_bundle import RELIT_OT_write_farm_bundle

classes = (RELIT_OT_export_passes, RELIT_OT_build_compositor, RELIT_OT_write_farm_bundle)
