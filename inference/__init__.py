"""Relit's computation core: image I/O, models, passes, lighting and rendering.

This package never imports bpy, so it runs in Blender, in plain Python and in tests alike.
"""
__version__ = "0.1.0"
