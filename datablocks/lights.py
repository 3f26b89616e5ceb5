"""Light rigs around the relight plate, and a key light plus ambient matched to SH lighting.

Rigs
----
Lights are placed in the plane's frame, which is camera space (x image right, y image up, z
toward the camera): a light at azimuth ``az`` (degrees, + toward image right) and elevation
``el`` (+ up) sits at ``r (sin az cos el, sin el, cos az cos el)`` from the plane's centre,
``r = 2 x`` the plane's long side. Each is an area light with a TRACK_TO constraint aiming its
-Z at the plane, so moving a light by hand keeps it aimed and the render updates like any
Blender light. A flat card can only be lit from its front half-space (z > 0): the "rim" is a
grazing light from the side (az 75-80 degrees), which picks out the edges of the relief.

Power: an area light of power P watts at distance r gives an irradiance of about
``P / (pi r^2)`` facing it (Blender's normalised area light is a Lambertian emitter of
radiance P / (pi A)). Each light's power is ``strength x ratio x pi x pi r^2``, so
``strength = 1`` means the key alone gives irradiance pi W/m^2 facing it: a white diffuse
surface turned toward the key renders at 1.0.

Lights are named "Relit Key", "Relit Fill", "Relit Rim", tagged ``relit_light = role``, kept
in the scene's "Relit Lights" collection (inside its "Relit") and reused on rerun in that
scene; roles a new preset does not use are removed (only Relit's own lights in that scene are
ever touched). The presets and their geometry are ``inference.lightspec``'s, which the numpy
renderer uses for ``--rig``: ``light_rig`` places the very lights ``lightspec.Rig`` describes.

Lights from the command line (``place_lights``)
-----------------------------------------------
``--lights LIGHTS.json`` and ``--rig`` give ``inference.render`` lights (point, sun, area, spot)
in the relight scene's frame: a plate 1 unit wide through the origin, world Z up, the camera
looking along +Y (``inference.lightspec``). ``place_lights`` maps that frame onto the plate:
``p -> centre + R (world_to_camera(p) w)``, directions by ``R world_to_camera``, with ``R`` the
plate's rotation (camera space -> world) and ``w`` its width in metres. Point, spot and area
powers scale by ``w^2`` (area sizes by ``w``), so the irradiance on the plate is what the numpy
renderer computes; a sun keeps its strength. Point and spot lights get radius 0 and suns
angle 0 (hard, as the numpy renderer has them). An area light's local X is its ``tangent``
(or the one ``render.area_light_points`` picks), -Z its direction.

Key light plus ambient from SH (``lights_from_sh``): the light and the ambient that match the
L0 and L1 bands are ``inference.sh_lights.sh_key_and_ambient``'s.
"""
from __future__ import annotations

import math
from typing import Optional

import bpy
import numpy as np
from mathutils import Matrix, Vector

from ..inference import lighting, lightspec, render
from ..inference.sh_lights import sh_key_and_ambient
from . import COLLECTION, BuildError, ensure_collection, find_tagged, is_relit, tag

LIGHTS_COLLECTION = "Relit Lights"
ROLES = ("key", "fill", "rim")

# preset -> role -> (azimuth deg, elevation deg, irradiance ratio, size / distance)
PRESETS = lightspec.PRESETS
DISTANCE_FACTOR = lightspec.DISTANCE_FACTOR
KINDS = ((render.PointLight, "POINT"), (render.SunLight, "SUN"), (render.AreaLight, "AREA"),
         (render.SpotLight, "SPOT"))


def lights_collection(scene):
    """Relit's "Relit Lights" collection, inside the scene's "Relit" collection."""
    return ensure_collection(scene, LIGHTS_COLLECTION, ensure_collection(scene, COLLECTION))


def _plane_size(plane) -> float:
    size = plane.get("relit_plane_size")
    if size is not None:
        return float(max(size))
    dims = plane.dimensions
    return float(max(dims.x, dims.y, 1e-3))


def _plane_frame(scene, plane):
    """(centre, 3x3 rotation camera-space -> world) of a plane (its local frame, unscaled).

    The view layer is updated first: a camera or plane moved by a script has a stale
    ``matrix_world`` until the depsgraph is evaluated."""
    scene.view_layers[0].update()
    mw = plane.matrix_world
    return mw.to_translation(), mw.to_3x3().normalized()


def direction(azimuth: float, elevation: float) -> Vector:
    """Unit direction toward a light in the plane's frame (x right, y up, z toward camera)."""
    return Vector(lightspec.rig_direction(azimuth, elevation).tolist())


def find_light(role: str, scene):
    """Relit's light of ``role`` ("key", "fill", "rim") in ``scene``, or None (another
    scene's rig is never reused)."""
    return find_tagged(scene.objects, "relit_light", role)


def _ensure_light(scene, role: str, kind: str):
    obj = find_light(role, scene)
    if obj is not None and obj.type != "LIGHT":
        obj = None
    if obj is None:
        data = bpy.data.lights.new(f"Relit {role.title()}", kind)
        obj = tag(bpy.data.objects.new(f"Relit {role.title()}", data), relit_light=role)
        tag(data, relit_light=role)
    elif obj.data.type != kind:
        obj.data.type = kind
    coll = lights_collection(scene)
    if coll.objects.get(obj.name) is None:
        coll.objects.link(obj)
    obj.visible_camera = False   # never show the emitter itself in the plate render
    return obj


def _aim(obj, plane) -> None:
    """TRACK_TO constraint: the light's -Z points at the plane's origin, +Y up."""
    con = next((c for c in obj.constraints if c.type == "TRACK_TO" and c.name == "Relit Aim"),
               None)
    if con is None:
        con = obj.constraints.new("TRACK_TO")
        con.name = "Relit Aim"
    con.target = plane
    con.track_axis = "TRACK_NEGATIVE_Z"
    con.up_axis = "UP_Y"


def _remove_light(obj) -> None:
    data = obj.data
    bpy.data.objects.remove(obj)
    if data is not None and data.users == 0 and is_relit(data):
        bpy.data.lights.remove(data)


def relit_lights(scene) -> list:
    """Relit's lights in ``scene`` (rig roles and placed lights), not a user's."""
    return [o for o in scene.objects if o.type == "LIGHT" and o.library is None
            and is_relit(o) and o.get("relit_light")]


def _remove_other_roles(scene, keep: set) -> None:
    for obj in relit_lights(scene):
        if obj["relit_light"] not in keep:
            _remove_light(obj)


def remove_lights(scene) -> None:
    """Remove Relit's lights from ``scene`` (the user's lights stay)."""
    _remove_other_roles(scene, set())


def _drop_aim(obj) -> None:
    for con in [c for c in obj.constraints if c.type == "TRACK_TO" and c.name == "Relit Aim"]:
        obj.constraints.remove(con)


def _basis(z_axis: Vector, x_hint: Optional[Vector] = None) -> Matrix:
    """3 x 3 rotation with columns X, Y, Z: Z along ``z_axis`` (a light's -Z is where it
    shines), X the part of ``x_hint`` perpendicular to it, Y = Z x X."""
    z = z_axis.normalized()
    if x_hint is None or x_hint.cross(z).length < 1e-6:
        x_hint = Vector((1.0, 0.0, 0.0)) if abs(z.x) < 0.9 else Vector((0.0, 1.0, 0.0))
    x = (x_hint - z * x_hint.dot(z)).normalized()
    return Matrix((x, z.cross(x), z)).transposed()


def place_lights(scene, plane, named, *, aim: bool = False) -> list:
    """Blender lights for ``(role, light)`` pairs of ``inference.render`` lights (point, sun,
    area, spot) in the relight scene's frame, placed on ``plane`` (module doc). Each role is
    the light "Relit <Role>" (tag ``relit_light = role``), reused on rerun; Relit's other
    lights in the scene are removed, a user's are left alone. With ``aim`` the lights get the
    rig's TRACK_TO at the plane (they then stay aimed when moved by hand). Returns the objects.
    """
    if plane is None:
        raise BuildError("no relight plane: build the plane before adding lights")
    center, rot = _plane_frame(scene, plane)
    width = float(plane.get("relit_plane_size", (plane.dimensions.x,))[0])
    area = width * width
    placed = []
    for role, light in named:
        kind = next((k for cls, k in KINDS if isinstance(light, cls)), None)
        if kind is None:
            raise BuildError(f"{type(light).__name__} is not a Blender light")
        lightspec.check_light(light, role)
        obj = _ensure_light(scene, role, kind)
        data = obj.data
        color = np.broadcast_to(np.asarray(light.color, float).reshape(-1), (3,))
        data.color = tuple(float(c) for c in color)
        if kind == "SUN":
            data.energy = float(light.strength)
            data.angle = 0.0
        else:
            data.energy = float(light.power) * area
        if kind in ("POINT", "SPOT"):
            data.shadow_soft_size = 0.0
        if kind == "SPOT":
            data.spot_size = math.radians(float(light.spot_size))
            data.spot_blend = float(light.spot_blend)
        to_plate = lambda v: rot @ Vector(lighting.world_to_camera(  # noqa: E731
            np.asarray(v, float)).tolist())
        x_hint = None
        if kind == "AREA":
            tangent, _, _ = lightspec.area_axes(light)
            x_hint = to_plate(tangent)
            data.shape = light.shape.upper()
            data.size = float(light.size) * width
            data.size_y = float(light.size if light.size_y is None else light.size_y) * width
        if kind == "POINT":
            basis = rot.copy()
        else:
            basis = _basis(-to_plate(light.direction), x_hint)
        if kind == "SUN":   # where it sits does not matter; in front, along its light
            location = center - to_plate(light.direction).normalized() * 2.0 * width
        else:
            location = center + to_plate(light.position) * width
        _drop_aim(obj)
        obj.matrix_world = Matrix.Translation(location) @ basis.to_4x4()
        if aim and kind != "POINT":
            _aim(obj, plane)
        obj["relit_preset"] = "lights"
        placed.append(obj)
    _remove_other_roles(scene, {o["relit_light"] for o in placed})
    return placed


def light_rig(scene, plane, preset: str = "three_point", strength: float = 1.0, *,
              distance: Optional[float] = None) -> list:
    """Area lights of ``preset`` (see ``PRESETS``) aimed at ``plane``; returns the objects.

    ``strength`` scales every light (1: the key gives irradiance pi W/m^2 facing it);
    ``distance`` overrides the lights' distance from the plane centre (default 2 x the
    plane's long side). Rerunning reuses the lights and removes roles the preset lacks.
    """
    if preset not in PRESETS:
        raise BuildError(f"unknown light preset '{preset}'; use one of "
                          f"{', '.join(sorted(PRESETS))}")
    if plane is None:
        raise BuildError("no relight plane: build the plane before adding lights")
    if strength < 0:
        raise BuildError(f"light strength must be >= 0, got {strength:g}")
    width = float(plane.get("relit_plane_size", (plane.dimensions.x,))[0])
    long_side = _plane_size(plane)
    rig = lightspec.Rig(preset, strength=strength,
                        distance=None if distance is None else distance / width)
    placed = place_lights(scene, plane, rig.lights(long_side / width), aim=True)
    for obj in placed:
        obj["relit_preset"] = preset
    return placed


def lights_from_sh(scene, sh, plane, *, kind: str = "SUN", world: bool = True,
                   distance: Optional[float] = None):
    """Match SH lighting (camera space, 9 x 3) with one key light and an ambient world.

    The key ("Relit Key", a SUN by default, or AREA at ``distance`` from the plane) comes
    from the L1 band, the ambient colour from L0 (``inference.sh_lights``); camera space is
    the plane's frame. With ``world`` the ambient becomes the scene's "Relit World" (see
    ``world.ambient_world``). Other rig lights are removed. Returns ``(key object, world)``.
    """
    from . import world as worlds

    if kind not in ("SUN", "AREA"):
        raise BuildError(f"key light kind must be SUN or AREA, got {kind}")
    if plane is None:
        raise BuildError("no relight plane: build the plane before matching the lighting")
    d_cam, irradiance, ambient = sh_key_and_ambient(sh)
    center, rot = _plane_frame(scene, plane)
    d_world = rot @ Vector(d_cam.tolist())
    r = distance or DISTANCE_FACTOR * _plane_size(plane)
    obj = _ensure_light(scene, "key", kind)
    light = obj.data
    peak = float(irradiance.max())
    light.color = tuple(irradiance / peak) if peak > 0 else (1.0, 1.0, 1.0)
    if kind == "SUN":
        light.energy = peak
        light.angle = math.radians(2.0)
    else:
        light.shape = "SQUARE"
        light.size = 0.3 * r
        light.energy = peak * math.pi * r * r
    obj.location = center + d_world * r
    _aim(obj, plane)
    obj["relit_preset"] = "sh"
    _remove_other_roles(scene, {"key"})
    made_world = worlds.ambient_world(scene, ambient) if world else None
    return obj, made_world
