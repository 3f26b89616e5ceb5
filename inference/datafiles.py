"""Blender's own data files, for callers outside Blender.

The built-in HDRI names (``lighting.STUDIO_LIGHTS``) are Blender's studio lights. Inside
Blender their folder is ``bpy.utils.system_resource('DATAFILES', path='studiolights/world')``;
outside it (the command line, training, the bench) the installed bpy module carries the same
files. ``inference.lighting`` looks only where its caller says (and in ``RELIT_STUDIOLIGHTS``).
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

BPY_STUDIO_LIGHTS = ("5.0", "datafiles", "studiolights", "world")


def blender_studio_lights() -> list[Path]:
    """The studio-light folders of the installed bpy module (found by its import spec, never
    imported); empty without one."""
    spec = importlib.util.find_spec("bpy")
    if spec is None:
        return []
    roots = list(spec.submodule_search_locations or [])
    if spec.origin:
        roots.append(os.path.dirname(spec.origin))
    return list(dict.fromkeys(Path(r).joinpath(*BPY_STUDIO_LIGHTS) for r in roots))
