"""Operators of the Plane panel."""
from .build_plane import RELIT_OT_build_plane

classes = (RELIT_OT_build_plane,)
