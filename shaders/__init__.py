"""Builders of Blender node trees fed by Relit's passes (plate material, worlds, compositor)."""
