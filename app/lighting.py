"""Lighting the plate: light rigs, HDRI worlds, and the source lighting matched from the
estimate."""
from __future__ import annotations

import bpy

from ..datablocks import lights, world
from ..inference.errors import InputError
from .passes import active_plane, lighting_estimate


def add_light_rig(scene, settings):
    return lights.light_rig(scene, active_plane(scene, settings), settings.light_preset,
                            settings.light_strength)


def hdri_source(settings) -> str:
    """The HDRI the settings name: a built-in name or an absolute file path."""
    source = settings.hdri if settings.hdri != "FILE" else bpy.path.abspath(settings.hdri_path)
    if not source:
        raise InputError("choose an HDRI file")
    return source


def set_hdri(scene, settings):
    return world.hdri_world(scene, hdri_source(settings), settings.hdri_rotation,
                            settings.hdri_strength)


def restore_world(scene):
    return world.restore_world(scene)


def match_lighting(scene, settings, mode: str):
    plane = active_plane(scene, settings)
    sh = lighting_estimate(settings.active, scene)
    if sh is None:
        raise InputError(f"'{settings.active}' has no lighting estimate (photometric-stereo "
                         "and imported passes without lighting.json have none)")
    if mode == "WORLD":
        return world.sh_world(scene, sh)
    return lights.lights_from_sh(scene, sh, plane)
