"""Lighting of a sample: analytic lights placed in the world, their watts, the exposure scale and
the camera-space SH of the whole incident radiance. Pure numpy (``inference.lighting`` for the
HDRI projection).

Frames and units
----------------
World = the relight scene (Z up, camera at -Y looking along +Y). Light directions in the params
are relative to the camera: azimuth 0 = from the camera's side, > 0 toward image right,
elevation > 0 from above. Blender light units, as ``inference.render`` checks against Cycles:

- point / spot: ``power`` P watts -> radiant intensity P / (4 pi) W/sr (a spot is a point light
  with a cone; the head centre lies on its axis, where the cone does not attenuate);
- area: ``power`` P watts over area A -> one-sided Lambertian emitter of radiance P / (pi A).

SH of an analytic light, "as seen from the head centre": a light is a set of (near-)delta
emitters; a delta giving irradiance E (W/m^2, on a surface facing it at the head centre) from
camera-space direction w has incident-radiance SH coefficients ``E * Y_lm(w)`` (radiance
E * delta(w)). Point and spot lights are one delta, E = P / (4 pi d^2); an area light is summed
over an 8 x 8 grid of patches, each E = (P / 64) cos_emitter / (pi d^2). The total ``sh`` is
``project_sh(hdri, rotation, strength)`` plus these, all times the exposure scale, so it is the
SH of the radiance that actually reaches the head, in the render's own units (linear RGB of the
``rgb`` pass, no view transform).

Exposure: ``scale`` makes the strongest irradiance over camera-facing normals give
``KEY_RADIANCE * 2**exposure_ev`` for a white Lambertian (radiance E / pi), nudged brighter for
darker skin (exponent ``SKIN_COMPENSATION`` on 0.35 / skin luminance), as a photographer
exposes for the key side of the face.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from inference import lighting as lt
from inference.datafiles import blender_studio_lights

from . import colour

KEY_RADIANCE = 0.85
SKIN_COMPENSATION = 0.3
AREA_GRID = 8


@lru_cache(maxsize=16)
def hdri_sh(name: str, rotation: float) -> np.ndarray:
    """Camera-space SH (9 x 3) of a built-in HDRI at strength 1 and Mapping rotation."""
    image = lt.load_hdri(name, blender_studio_lights())
    return lt.project_sh(image, rotation_deg=rotation, strength=1.0)


def light_direction(azimuth: float, elevation: float) -> np.ndarray:
    """World unit vector from the head toward a light at camera-relative angles."""
    az, el = np.radians(azimuth), np.radians(elevation)
    return np.array([np.sin(az) * np.cos(el), -np.cos(az) * np.cos(el), np.sin(el)])


def _frame(forward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors perpendicular to ``forward`` (x roughly horizontal)."""
    up = np.array([0.0, 0.0, 1.0])
    x = np.cross(forward, up)
    if np.linalg.norm(x) < 1e-6:
        x = np.array([1.0, 0.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(x, forward)
    return x, y / np.linalg.norm(y)


def area_patches(position, emit_dir, size: float, size_y: float):
    """Patch centres (K*K, 3) of a rectangular area light and its local axes."""
    ax, ay = _frame(np.asarray(emit_dir, np.float64))
    k = (np.arange(AREA_GRID) + 0.5) / AREA_GRID - 0.5
    u, v = np.meshgrid(k * size, k * size_y)
    pts = np.asarray(position) + u.reshape(-1, 1) * ax + v.reshape(-1, 1) * ay
    return pts, ax, ay


def light_emitters(light: dict, centre: np.ndarray):
    """(directions (N, 3) world, irradiance weights (N,)) at ``centre`` per watt of power."""
    pos = np.asarray(light["position"], np.float64)
    if light["type"] in ("point", "spot"):
        d = pos - centre
        dist = np.linalg.norm(d)
        return (d / dist)[None], np.array([1.0 / (4.0 * np.pi * dist * dist)])
    emit = np.asarray(light["direction"], np.float64)
    pts, _, _ = area_patches(pos, emit, light["size"], light["size_y"])
    d = pts - centre
    dist = np.linalg.norm(d, axis=1)
    w = d / dist[:, None]
    cos_s = np.clip(-(w @ emit), 0.0, None)
    weight = cos_s / (np.pi * dist * dist) / len(pts)
    return w, weight


def light_sh(light: dict, centre: np.ndarray) -> np.ndarray:
    """Camera-space SH (9 x 3) of an analytic light with its ``power`` and ``rgb``."""
    dirs, weight = light_emitters(light, centre)
    basis = lt.sh_basis(lt.world_to_camera(dirs))          # (N, 9)
    e = float(light["power"]) * weight                      # (N,)
    return (basis * e[:, None]).sum(axis=0)[:, None] * np.asarray(light["rgb"])[None, :]


def _front_normals() -> np.ndarray:
    i = np.arange(200) + 0.5
    z = 1.0 - i / 200 * 0.8              # camera-space z in [0.2, 1]
    phi = np.pi * (1 + 5 ** 0.5) * i
    r = np.sqrt(1 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=-1)


def key_irradiance(sh: np.ndarray) -> float:
    """Largest luminance irradiance over camera-facing normals (z >= 0.2)."""
    e = lt.sh_irradiance(sh, _front_normals())
    return float(np.max(e @ colour.REC709_LUMA))


def resolve(lighting: dict, centre, skin_luminance: float) -> dict:
    """Concrete lighting: lights with world position/direction and watts, exposure scale, SH.

    Returns a copy of ``lighting`` with ``scale``, ``world_strength`` (Background strength),
    each light's ``position``, ``direction`` (emission, toward the head) and ``power``, and
    ``sh`` (9 x 3 list).
    """
    centre = np.asarray(centre, np.float64)
    out = dict(lighting)
    env_sh = hdri_sh(lighting["hdri"], float(lighting["rotation"])) * lighting["hdri_strength"]
    if lighting["setup"] == "hard_key":
        env_sh = env_sh * 0.25
    # mean irradiance of the environment (luminance): pi * mean radiance
    env_mean = np.pi * float(env_sh[0] @ colour.REC709_LUMA) / (4.0 * np.pi * lt.SH_CONSTANTS[0])
    lights = []
    total = env_sh.copy()
    for spec in lighting["lights"]:
        light = dict(spec)
        direction = light_direction(light["azimuth"], light["elevation"])
        light["position"] = [float(x) for x in centre + light["distance"] * direction]
        light["direction"] = [float(x) for x in -direction]
        light["power"] = 1.0
        _, weight = light_emitters(light, centre)
        light["power"] = float(light["ratio"] * env_mean / weight.sum())
        total = total + light_sh(light, centre)
        lights.append(light)
    key = key_irradiance(total) / np.pi
    target = KEY_RADIANCE * 2.0 ** lighting["exposure_ev"] * (
        0.35 / max(skin_luminance, 0.02)) ** SKIN_COMPENSATION
    scale = target / max(key, 1e-6)
    env_factor = 0.25 if lighting["setup"] == "hard_key" else 1.0
    for light in lights:
        light["power"] = float(light["power"] * scale)
    out.update({
        "lights": lights, "scale": float(scale),
        "world_strength": float(lighting["hdri_strength"] * env_factor * scale),
        "sh": (total * scale).tolist(),
    })
    return out
