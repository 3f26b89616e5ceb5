"""Relit's world: an HDRI (a built-in studio light or a file), SH lighting, or an ambient colour.

All three build the scene's "Relit World" (tagged, reused, its node tree rebuilt), assign it
to the scene, and leave every other world alone. Each scene has its own: a Relit world that
another scene shows is never rebuilt. The world the scene had before (a user's) is kept in the
scene's ``relit_previous_world`` property, which holds a user on it so that saving the file
does not drop it, and ``restore_world`` puts it back. ``relit_mode`` says what the world is
("hdri", "sh", "ambient"); only an HDRI world carries ``relit_hdri`` (what it shows).

HDRI: Texture Coordinate (Generated) -> Mapping (POINT, rotation Z = the rotation in degrees,
as radians) -> Environment Texture -> Background (strength). With rotation theta the lookup is
``T(Rz(theta) d)``: the world turns by -theta about Z (inference/lighting.py documents and
checks this against Cycles; ``inference.render.HdriLight(name, rotation, strength)`` predicts
the same render).

SH: the 9 x 3 coefficients (incident radiance, camera space) are evaluated on an equirect float
image in the **world** frame, with Blender's equirect mapping (lighting.py): texel direction
``d`` (world, Z up) is taken to camera space with the scene camera's rotation (the relight
scene's Front view gives ``lighting.world_to_camera``), then ``lighting.sh_radiance``. Negative
radiance (order-2 ringing) is clamped to 0. The image "Relit SH World" is packed into the
.blend and looked up through the same Mapping node (rotation 0).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence, Union

import bpy
import numpy as np

from ..inference import lighting
from ..inference.errors import RelitError
from ..inference.sh_lights import sh_equirect
from . import BuildError, find_tagged, image_arrays, is_relit, new_node, tag

WORLD_NAME = "Relit World"
SH_IMAGE = "Relit SH World"
SH_HEIGHT = 64
STUDIO_LIGHTS = lighting.STUDIO_LIGHTS


def studio_lights_dir() -> Path:
    """Blender's folder of the built-in studio-light HDRIs."""
    return Path(bpy.utils.system_resource("DATAFILES", path="studiolights/world"))


def resolve_hdri(source: Union[str, os.PathLike]) -> Path:
    """Path of a built-in HDRI name (``STUDIO_LIGHTS``) or an HDRI file."""
    if isinstance(source, str) and source.startswith("//"):   # relative to the .blend
        source = bpy.path.abspath(source)
    try:
        return lighting.resolve_hdri(source, [studio_lights_dir()])
    except RelitError as exc:
        raise BuildError(str(exc)) from None


PREVIOUS_WORLD = "relit_previous_world"   # scene property: the world before Relit's
WORLD_KEYS = ("relit_hdri", "relit_rotation")   # cleared whenever the world is rebuilt


def is_relit_world(world) -> bool:
    return is_relit(world, "relit_world", WORLD_NAME) and world.library is None


def find_world(scene=None):
    """Relit's world of ``scene`` (the one it shows), or without a scene the first in the
    file; None when there is none."""
    if scene is not None:
        return scene.world if is_relit_world(scene.world) else None
    return find_tagged(bpy.data.worlds, "relit_world", WORLD_NAME)


def _shown_elsewhere(world, scene) -> bool:
    return any(s.world == world for s in bpy.data.scenes if s != scene)


def _relit_world(scene, mode: str):
    world = find_world(scene)
    if world is None:   # an unused Relit world is reused; one another scene shows is not
        world = next((w for w in bpy.data.worlds if is_relit_world(w)
                      and not _shown_elsewhere(w, scene)), None)
    if world is None:
        world = tag(bpy.data.worlds.new(WORLD_NAME), relit_world=WORLD_NAME)
    tree = world.node_tree
    tree.nodes.clear()
    world["relit_mode"] = mode
    for key in WORLD_KEYS:
        if key in world:
            del world[key]
    cycles = getattr(world, "cycles", None)
    if cycles is not None:  # Cycles' automatic importance map is rebuilt at every world edit
        cycles.sampling_method = "MANUAL"
        cycles.sample_map_resolution = 256
    if scene.world != world:
        if scene.world is not None and not is_relit_world(scene.world):
            scene[PREVIOUS_WORLD] = scene.world   # an ID property holds a user: kept on save
        elif scene.world is None and PREVIOUS_WORLD in scene:
            del scene[PREVIOUS_WORLD]             # the scene had no world before
        scene.world = world
    return world, tree


def previous_world(scene):
    """The world ``scene`` showed before Relit's (None when it had none)."""
    world = scene.get(PREVIOUS_WORLD)
    return world if isinstance(world, bpy.types.World) else None


def restore_world(scene):
    """Put back the world ``scene`` had before Relit's world (None when it had none); Relit's
    world stays in the file, unused, for the next time. Returns the restored world."""
    if not is_relit_world(scene.world):
        raise BuildError(f"scene '{scene.name}' does not show Relit's world")
    world = previous_world(scene)
    scene.world = world
    if PREVIOUS_WORLD in scene:
        del scene[PREVIOUS_WORLD]
    return world


def _environment(world, tree, image, rotation_deg: float, strength: float):
    coords = new_node(tree, "ShaderNodeTexCoord", "Texture Coordinate", (-800, 0))
    mapping = new_node(tree, "ShaderNodeMapping", "Relit Rotation", (-600, 0))
    mapping.vector_type = "POINT"
    env = new_node(tree, "ShaderNodeTexEnvironment", "Relit Environment", (-350, 0))
    env.image = image
    env.interpolation = "Linear"
    env.projection = "EQUIRECTANGULAR"
    background = new_node(tree, "ShaderNodeBackground", "Background", (-50, 0))
    out = new_node(tree, "ShaderNodeOutputWorld", "World Output", (200, 0))
    tree.links.new(coords.outputs["Generated"], mapping.inputs["Vector"])
    tree.links.new(mapping.outputs["Vector"], env.inputs["Vector"])
    tree.links.new(env.outputs["Color"], background.inputs["Color"])
    tree.links.new(background.outputs["Background"], out.inputs["Surface"])
    set_world_rotation(world, rotation_deg)
    set_world_strength(world, strength)


def hdri_world(scene, source: Union[str, os.PathLike] = "forest", rotation_deg: float = 0.0,
               strength: float = 1.0):
    """Set "Relit World" to an HDRI: a built-in name (forest, city, courtyard, interior,
    night, studio, sunrise, sunset) or a file; Mapping Z rotation in degrees; Background
    strength. Returns the world (also assigned to ``scene.world``)."""
    path = resolve_hdri(source)
    try:
        image = bpy.data.images.load(str(path), check_existing=True)
    except RuntimeError as exc:
        raise BuildError(f"cannot load HDRI {path}: {exc}") from None
    world, tree = _relit_world(scene, "hdri")
    _environment(world, tree, image, rotation_deg, strength)
    world["relit_hdri"] = str(source)
    return world


def set_world_rotation(world, rotation_deg: float) -> None:
    """Turn Relit's HDRI/SH world: Mapping Z rotation ``rotation_deg`` degrees."""
    node = world.node_tree.nodes.get("Relit Rotation")
    if node is None:
        raise BuildError(f"world '{world.name}' has no Relit rotation (not an HDRI world)")
    node.inputs["Rotation"].default_value = (0.0, 0.0, math.radians(rotation_deg))
    world["relit_rotation"] = float(rotation_deg)


def set_world_strength(world, strength: float) -> None:
    """Background strength of Relit's world."""
    world.node_tree.nodes["Background"].inputs["Strength"].default_value = float(strength)


def _camera_rotation(scene, camera) -> np.ndarray:
    """3 x 3 camera-space -> world rotation of ``camera`` (default the scene camera), or the
    relight scene's Front view when there is none."""
    camera = camera if camera is not None else scene.camera
    if camera is None:
        return lighting.WORLD_TO_CAMERA.T.copy()
    scene.view_layers[0].update()
    return np.array(camera.matrix_world.to_3x3().normalized())


def sh_world(scene, sh, *, strength: float = 1.0, camera=None, height: int = SH_HEIGHT):
    """Set "Relit World" to SH lighting (9 x 3, camera space) through the packed equirect
    image "Relit SH World" (see the module doc)."""
    try:
        sh = lighting.check_sh(sh)
    except RelitError as exc:
        raise BuildError(str(exc)) from None
    pixels = sh_equirect(sh, height, _camera_rotation(scene, camera))
    image = image_arrays.image_from_array(pixels, SH_IMAGE, data=False, key=SH_IMAGE, pack=True)
    world, tree = _relit_world(scene, "sh")
    _environment(world, tree, image, 0.0, strength)
    return world


def ambient_world(scene, color: Sequence[float], strength: float = 1.0):
    """Set "Relit World" to a uniform background of linear RGB radiance ``color``."""
    world, tree = _relit_world(scene, "ambient")
    background = new_node(tree, "ShaderNodeBackground", "Background", (-50, 0))
    out = new_node(tree, "ShaderNodeOutputWorld", "World Output", (200, 0))
    background.inputs["Color"].default_value = (*[float(c) for c in color[:3]], 1.0)
    background.inputs["Strength"].default_value = float(strength)
    tree.links.new(background.outputs["Background"], out.inputs["Surface"])
    return world
