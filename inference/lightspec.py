"""The lighting of a relight on the command line: ``--hdri``, ``--rig`` and ``--lights``.

Both renderers take the same description: ``python -m inference relight|export`` renders it
with ``render.cook_torrance``, ``blender --command relit relight|export`` turns it into Blender
lights (``datablocks.lights.place_lights``) and a world. It is parsed and checked here, once, before any
decompose or render work starts; a bad file or number is an ``InputError`` (exit code 2).

Frame
-----
Lights live in the relight scene's world frame, as ``render`` reads them (docs/ARCHITECTURE.md, *The
relight scene*): Z up, the camera looks along +Y, and the plate is the camera-facing plane through
the origin, **1 unit wide** (its height follows the image's aspect). Camera space is x = world x
(image right), y = world z (image up), z = -world y (toward the viewer), so a light in front of the
face has a negative world y. In Blender a point ``p`` of this frame lands at ``plate centre + R
(world_to_camera(p) w)``, with ``R`` the plate's rotation and ``w`` its width in metres; the power
of point, spot and area lights scales by ``w^2`` and an area light's size by ``w``, so the plate
receives the same irradiance in both renderers. A sun's strength is unchanged.

LIGHTS.json
-----------
A list of lights, or ``{"lights": [...]}``; each light is what ``render.light_from_dict``
reads (``energy`` is accepted for power or strength), directions being where the light shines
(its local -Z)::

    [{"type": "point", "position": [0.8, -1.5, 0.6], "power": 40, "color": [1, 0.9, 0.8]},
     {"type": "sun", "direction": [-0.5, 0.7, -0.3], "strength": 2.0},
     {"type": "area", "position": [-1, -1.5, 0.5], "direction": [1, 1.5, -0.5], "power": 30,
      "size": 0.5, "size_y": 0.3, "shape": "RECTANGLE"},
     {"type": "spot", "position": [0, -2, 1], "direction": [0, 2, -1], "power": 60,
      "spot_size": 40, "spot_blend": 0.2}]

Powers are watts for a plate 1 m wide, strengths W/m^2; ``spot_size`` is the cone's full angle
in degrees; an area light's ``samples`` (its samples x samples points in the numpy renderer,
default 4) is 1 to ``MAX_AREA_SAMPLES`` (64). An HDRI is given with ``--hdri``, not in the
file; one that is not an EXR or HDR (a JPEG or PNG) is used, with a warning that it is LDR.

Rigs
----
``PRESETS`` (the Lighting panel's rigs too): each role is a square area light at azimuth ``az``
(degrees, **+ toward image right**) and elevation ``el`` (+ up) around the plate centre, in
camera space ``(sin az cos el, sin el, cos az cos el)`` (``rig_direction``, the same as
``datablocks.lights.direction``), at ``r = 2 x`` the plate's long side, aimed at the centre, of
side ``size x r`` and power ``strength x ratio x pi x pi r^2``: with ``strength = 1`` the key
alone gives an irradiance of pi W/m^2 facing it, so a white diffuse surface turned toward it
renders at 1.0. ``--key-azimuth``, ``--key-elevation``, ``--key-size`` (plate widths) and
``--key-power`` (watts for a plate 1 m wide) replace the key's values; the other roles keep
their ratios to the key. Note that the Yale B captures (``training.yale_relight``'s protocol) count
their azimuth the other way, from the subject's side: Yale's A is a rig azimuth of -A.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from . import lighting as lt
from . import render
from .errors import InputError, RelitWarning

# preset -> role -> (azimuth deg, elevation deg, irradiance ratio, size / distance)
PRESETS = {
    "key": {"key": (-45.0, 30.0, 1.0, 0.35)},
    "three_point": {"key": (-45.0, 30.0, 1.0, 0.35),
                    "fill": (50.0, 5.0, 0.3, 0.8),
                    "rim": (78.0, 35.0, 0.8, 0.2)},
    "rembrandt": {"key": (-55.0, 40.0, 1.0, 0.3),
                  "fill": (40.0, 0.0, 0.12, 0.8)},
    "loop": {"key": (-35.0, 25.0, 1.0, 0.35),
             "fill": (40.0, 0.0, 0.25, 0.8)},
    "butterfly": {"key": (0.0, 45.0, 1.0, 0.4),
                  "fill": (0.0, -25.0, 0.25, 0.6)},
    "split": {"key": (-80.0, 10.0, 1.0, 0.3)},
    "rim": {"key": (-20.0, 15.0, 0.35, 0.6),
            "rim": (78.0, 30.0, 1.0, 0.2)},
}
DISTANCE_FACTOR = 2.0
BLENDER_LIGHTS = (render.PointLight, render.SunLight, render.AreaLight, render.SpotLight)
AREA_SHAPES = ("SQUARE", "RECTANGLE", "DISK", "ELLIPSE")
MAX_AREA_SAMPLES = 64    # an area light's samples x samples points per pixel (4096 at most)
HDR_SUFFIXES = (".exr", ".hdr")


def preset_name(name: str) -> str:
    """A rig's name as the command line spells it (``three-point``) → ``PRESETS`` key."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in PRESETS:
        raise InputError(f"unknown rig '{name}'; use one of "
                         f"{', '.join(k.replace('_', '-') for k in PRESETS)}")
    return key


def rig_direction(azimuth: float, elevation: float) -> np.ndarray:
    """Unit camera-space direction toward a light at ``azimuth`` (+ toward image right) and
    ``elevation`` (+ up), degrees."""
    az, el = math.radians(azimuth), math.radians(elevation)
    return np.array([math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)])


@dataclass
class Rig:
    """A preset rig, with the key's azimuth, elevation, size (plate widths), power (watts for
    a plate 1 m wide) optionally replaced; ``strength`` scales every light when ``power`` is
    not given; ``distance`` (plate widths) replaces ``2 x`` the long side."""

    preset: str = "key"
    strength: float = 1.0
    azimuth: Optional[float] = None
    elevation: Optional[float] = None
    size: Optional[float] = None
    power: Optional[float] = None
    distance: Optional[float] = None

    def __post_init__(self):
        self.preset = preset_name(self.preset)
        for name in ("strength", "azimuth", "elevation", "size", "power", "distance"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, _number(value, f"rig {name.replace('_', ' ')}"))
        if self.strength < 0 or (self.power is not None and self.power < 0):
            raise InputError("the rig's strength and power must be >= 0")
        if self.size is not None and self.size <= 0:
            raise InputError(f"the key's size must be > 0 plate widths; got {self.size:g}")
        if self.distance is not None and self.distance <= 0:
            raise InputError(f"the rig's distance must be > 0; got {self.distance:g}")
        if self.elevation is not None and abs(self.elevation) > 90:
            raise InputError(f"elevation must be within [-90, 90] degrees; got "
                             f"{self.elevation:g}")

    def lights(self, aspect: float = 1.0) -> list[tuple[str, render.AreaLight]]:
        """``(role, area light)`` per role, in the frame of a plate 1 wide and ``aspect``
        (height / width) high (module doc)."""
        roles = PRESETS[self.preset]
        r = self.distance or DISTANCE_FACTOR * max(1.0, float(aspect))
        key_ratio = roles["key"][2]
        strength = self.strength
        if self.power is not None:   # the key's watts fix the strength of every role
            strength = self.power / (key_ratio * math.pi * math.pi * r * r) if key_ratio else 0
        made = []
        for role, (az, el, ratio, size) in roles.items():
            side = size * r
            if role == "key":
                az = az if self.azimuth is None else self.azimuth
                el = el if self.elevation is None else self.elevation
                side = side if self.size is None else self.size
            to_light = lt.camera_to_world(rig_direction(az, el))
            made.append((role, render.AreaLight(
                position=(to_light * r).tolist(), direction=(-to_light).tolist(),
                power=strength * ratio * math.pi * math.pi * r * r, size=side)))
        return made


@dataclass
class Lighting:
    """What a relight is lit by: an optional HDRI, an optional rig and the lights of a file."""

    hdri: Optional[render.HdriLight] = None
    rig: Optional[Rig] = None
    lights: list = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.hdri is None and self.rig is None and not self.lights

    def named_lights(self, shape: Sequence[int] = (1, 1)) -> list[tuple[str, Any]]:
        """``(role, light)`` of the rig (key, fill, rim) and of the file (``light 1``, …) for
        an image of ``shape`` (H, W): the lights Blender makes, by name."""
        aspect = float(shape[0]) / float(shape[1])
        named = self.rig.lights(aspect) if self.rig is not None else []
        return named + [(f"light {i + 1}", light) for i, light in enumerate(self.lights)]

    def for_render(self, shape: Sequence[int] = (1, 1)) -> list:
        """Every light, HDRI first, for ``render.cook_torrance`` of an image of ``shape``."""
        return ([self.hdri] if self.hdri is not None else []) + \
            [light for _, light in self.named_lights(shape)]


# ------------------------------------------------------------------ checks

def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise InputError(f"{what} must be a number; got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{what} must be a finite number; got {value}")
    return value


def _triple(value: Any, what: str, *, nonzero: bool = False) -> list[float]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 3:
        raise InputError(f"{what} must be 3 numbers; got {value!r}")
    out = [_number(v, what) for v in value]
    if nonzero and not any(out):
        raise InputError(f"{what} must not be zero")
    return out


def check_light(light, where: str = "light") -> None:
    """Raise InputError unless ``light`` is a point, sun, area or spot light with finite,
    sensible values (what Blender can make)."""
    if not isinstance(light, BLENDER_LIGHTS):
        raise InputError(f"{where}: {type(light).__name__} is not a Blender light (point, sun, "
                         "area, spot); give an HDRI with --hdri")
    color = light.color
    color = [color] if isinstance(color, (int, float)) else color
    if isinstance(color, (str, bytes)) or not hasattr(color, "__len__") or \
            len(color) not in (1, 3):
        raise InputError(f"{where}: color must be 1 or 3 numbers; got {light.color!r}")
    if min(_number(c, f"{where}: color") for c in color) < 0:
        raise InputError(f"{where}: color must be >= 0; got {light.color!r}")
    if isinstance(light, render.SunLight):
        _triple(light.direction, f"{where}: direction", nonzero=True)
        if _number(light.strength, f"{where}: strength") < 0:
            raise InputError(f"{where}: strength must be >= 0")
        return
    _triple(light.position, f"{where}: position")
    if _number(light.power, f"{where}: power") < 0:
        raise InputError(f"{where}: power must be >= 0")
    if isinstance(light, (render.AreaLight, render.SpotLight)):
        _triple(light.direction, f"{where}: direction", nonzero=True)
    if isinstance(light, render.SpotLight):
        size = _number(light.spot_size, f"{where}: spot_size")
        blend = _number(light.spot_blend, f"{where}: spot_blend")
        if not 1.0 <= size <= 180.0:
            raise InputError(f"{where}: spot_size is the cone's full angle, in [1, 180] "
                             f"degrees (Blender's range); got {size:g}")
        if not 0.0 <= blend <= 1.0:
            raise InputError(f"{where}: spot_blend must be in [0, 1]; got {blend:g}")
    if isinstance(light, render.AreaLight):
        if _number(light.size, f"{where}: size") <= 0 or (
                light.size_y is not None and _number(light.size_y, f"{where}: size_y") <= 0):
            raise InputError(f"{where}: size and size_y must be > 0")
        if str(light.shape).upper() not in AREA_SHAPES:
            raise InputError(f"{where}: unknown area light shape '{light.shape}'; use one of "
                             f"{', '.join(AREA_SHAPES)}")
        light.shape = str(light.shape).upper()
        if light.tangent is not None:
            tangent = np.array(_triple(light.tangent, f"{where}: tangent", nonzero=True))
            normal = np.array(light.direction, float)
            if np.linalg.norm(np.cross(tangent, normal)) < 1e-6 * np.linalg.norm(
                    tangent) * np.linalg.norm(normal):
                raise InputError(f"{where}: tangent must not be parallel to the direction")
        if isinstance(light.samples, bool) or not isinstance(light.samples, int) or \
                not 1 <= light.samples <= MAX_AREA_SAMPLES:
            raise InputError(f"{where}: samples must be a whole number from 1 to "
                             f"{MAX_AREA_SAMPLES} (samples x samples points on the light)")


def area_axes(light: render.AreaLight) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(tangent, bitangent, normal)`` of an area light (world, unit): its local X, the other
    side and the emitting direction, chosen as ``render.area_light_points`` chooses them."""
    normal = np.asarray(light.direction, float)
    normal = normal / np.linalg.norm(normal)
    tangent = np.asarray(light.tangent, float) if light.tangent is not None else np.cross(
        normal, [0.0, 0.0, 1.0] if abs(normal[2]) < 0.9 else [1.0, 0.0, 0.0])
    tangent = tangent / np.linalg.norm(tangent)
    tangent = tangent - normal * tangent.dot(normal)
    tangent = tangent / np.linalg.norm(tangent)
    return tangent, np.cross(normal, tangent), normal


# ------------------------------------------------------------------ LIGHTS.json

def _no_constant(name: str):
    raise InputError(f"non-finite number {name} (lights need finite numbers)")


def parse_lights(data: Any, where: str = "lights") -> list:
    """The lights of a decoded LIGHTS.json (a list, or ``{"lights": [...]}``), checked."""
    if isinstance(data, dict) and set(data) == {"lights"}:
        data = data["lights"]
    if isinstance(data, dict) and "type" in data:
        data = [data]
    if not isinstance(data, list) or not data:
        raise InputError(f"{where}: expected a list of lights (or {{\"lights\": [...]}}), "
                         f"got {type(data).__name__ if data != [] else 'an empty list'}")
    lights = []
    for i, spec in enumerate(data):
        label = f"{where}: light {i + 1}"
        if not isinstance(spec, dict):
            raise InputError(f"{label}: expected an object with a \"type\", got {spec!r}")
        kind = str(spec.get("type", "")).lower()
        if kind in ("hdri", "world", "sh"):
            raise InputError(f"{label}: type '{kind}' is not a Blender light; give an HDRI "
                             "with --hdri (lights are point, sun, area or spot)")
        try:
            light = render.light_from_dict(spec)
        except InputError as exc:
            raise InputError(f"{label}: {exc}") from None
        check_light(light, label)
        lights.append(light)
    return lights


def load_lights(path: str | os.PathLike) -> list:
    """The lights of a LIGHTS.json file (module doc), checked; InputError for a missing or
    unreadable file, bad JSON, an unknown type or a non-finite number."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"lights file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read lights file {path}: {exc}") from None
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path.name} is not valid JSON: {exc.msg} at line {exc.lineno} "
                         f"column {exc.colno}") from None
    except InputError as exc:
        raise InputError(f"{path.name}: {exc}") from None
    return parse_lights(data, path.name)


# ------------------------------------------------------------------ command-line options

def add_arguments(p, *, scene: bool = False) -> None:
    """``--hdri``, ``--rotation``, ``--strength``, ``--rig`` with the key's options, and
    ``--lights`` on an argparse (sub)parser."""
    p.add_argument("--hdri", metavar="NAME|PATH",
                   help="a built-in studio light (forest, city, courtyard, interior, night, "
                        "studio, sunrise, sunset) or an equirectangular EXR/HDR")
    p.add_argument("--rotation", type=float, default=0.0, metavar="DEG",
                   help="HDRI rotation about world Z, degrees")
    p.add_argument("--strength", type=float, default=1.0, help="HDRI strength")
    p.add_argument("--rig", metavar="PRESET", type=str.lower,
                   choices=[k.replace("_", "-") for k in PRESETS],
                   help="area-light rig: " + ", ".join(k.replace("_", "-") for k in PRESETS))
    p.add_argument("--key-azimuth", type=float, metavar="DEG",
                   help="the rig key's azimuth, degrees, + toward image right")
    p.add_argument("--key-elevation", type=float, metavar="DEG",
                   help="the rig key's elevation, degrees, + up")
    p.add_argument("--key-size", type=float, metavar="WIDTHS",
                   help="the rig key's side, in plate widths")
    p.add_argument("--key-power", type=float, metavar="W",
                   help="the rig key's power in watts for a plate 1 m wide (default: a white "
                        "surface facing the key renders at 1.0); other roles follow")
    p.add_argument("--lights", metavar="LIGHTS.json",
                   help="point, sun, area and spot lights (see README)")
    if scene:
        p.add_argument("--scene", metavar="FILE.blend",
                       help="render inside this .blend's scene, with its lights, world and "
                            "render settings (the file is only read)")
        p.add_argument("--scene-name", metavar="NAME",
                       help="which scene of --scene (default: its first)")


def warn_ldr(path: str | os.PathLike) -> None:
    """Warn that an HDRI file holds low-dynamic-range pixels (a JPEG, PNG, ... rather than an
    EXR or HDR): it is used as it is, but its light sources are clipped at 1.0, so the relight
    has too little key light and too flat shadows."""
    path = Path(path)
    if path.suffix.lower() not in HDR_SUFFIXES:
        warnings.warn(f"--hdri {path.name} is a low-dynamic-range image, not HDR: its lights "
                      "are clipped at 1.0, so the relight comes out flat and dim; use an "
                      "equirectangular .exr or .hdr", RelitWarning, stacklevel=2)


KEY_OPTIONS = ("key_azimuth", "key_elevation", "key_size", "key_power")


def from_args(args, *, search_dirs: Optional[Sequence[str]] = None,
              allow_none: bool = False) -> Lighting:
    """The ``Lighting`` of parsed ``add_arguments`` options, every file and number checked
    (the HDRI found, LIGHTS.json read). Without ``allow_none`` (a scene of the user's), one
    of --hdri, --rig, --lights is needed."""
    rotation = _number(args.rotation, "--rotation")
    strength = _number(args.strength, "--strength")
    if strength < 0:
        raise InputError(f"--strength must be >= 0; got {strength:g}")
    hdri = None
    if not args.hdri and (rotation != 0.0 or strength != 1.0):
        raise InputError(f"--{'rotation' if rotation != 0.0 else 'strength'} sets the HDRI: "
                         "give --hdri too")
    if args.hdri:
        path = lt.resolve_hdri(args.hdri, search_dirs)   # unknown names and missing files, now
        warn_ldr(path)
        hdri = render.HdriLight(args.hdri, rotation=rotation, strength=strength,
                                search_dirs=list(search_dirs) if search_dirs else None)
    given = [k for k in KEY_OPTIONS if getattr(args, k, None) is not None]
    rig = None
    if args.rig:
        rig = Rig(args.rig, azimuth=args.key_azimuth, elevation=args.key_elevation,
                  size=args.key_size, power=args.key_power)
    elif given:
        raise InputError(f"--{given[0].replace('_', '-')} sets the rig's key: give --rig too")
    lights = load_lights(args.lights) if args.lights else []
    made = Lighting(hdri, rig, lights)
    if made.empty and not allow_none:
        raise InputError("no lighting: give --hdri NAME|PATH, --rig PRESET or --lights "
                         "LIGHTS.json (they combine)")
    return made
