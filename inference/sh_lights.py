"""SH lighting (9 x 3 coefficients of incident radiance, camera space, ``lighting``'s
conventions) turned into what a Blender scene can hold: an equirect radiance map for a world,
or one key light plus a uniform ambient. ``datablocks.world`` and ``datablocks.lights`` build them.

Key light plus ambient
----------------------
For SH coefficients ``c_lm`` of incident radiance (camera space), a
directional light of irradiance ``E`` from unit direction ``d`` has ``c_00 = Y00 E`` and
``c_1m = 0.488603 E d_m`` (order of the L1 band: y, z, x), and a constant radiance ``L_a``
has ``c_00 = L_a sqrt(4 pi)`` (Y00 = 0.282095 integrates to sqrt(4 pi) = 3.5449) and no L1.
So a sun plus an ambient world reproduce the L0 and L1 bands exactly with

    d   = normalise(L1 vector of the luminance), L1 vector = (c_11, c_1-1, c_10) = (x, y, z)
    E_c = (L1 vector of channel c . d) / 0.488603          (sun irradiance, per channel)
    L_a = (c_00 - 0.282095 E) / 3.5449                      (ambient radiance, clamped >= 0)

The L2 band (the lighting's elongation) is dropped. A sun's strength in Blender is its
irradiance in W/m^2; the area-light option places a light at distance r along d with power
``E pi r^2``.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from . import lighting

LUMA = np.array([0.2126, 0.7152, 0.0722])
Y00 = 0.282095
Y1 = 0.488603


def sh_equirect(sh, height: int = 64, rotation: Optional[np.ndarray] = None) -> np.ndarray:
    """Equirect radiance map (height x 2 height x 3, top row first, world frame) of
    camera-space SH, negative radiance (order-2 ringing) clamped to 0; ``rotation`` is camera
    -> world (default the Front view)."""
    rot = lighting.WORLD_TO_CAMERA.T if rotation is None else np.asarray(rotation)
    dirs_world = lighting.equirect_directions(height, 2 * height)
    dirs_cam = dirs_world @ rot          # row vectors: d_cam = R^T d_world
    return np.maximum(lighting.sh_radiance(sh, dirs_cam), 0.0).astype(np.float32)


def sh_key_and_ambient(sh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(direction, irradiance, ambient)`` matching the L0 and L1 bands of camera-space SH:
    the unit camera-space direction toward the key, its RGB irradiance (W/m^2, a sun's
    strength times colour) and the RGB radiance of a uniform ambient (see the module doc)."""
    sh = lighting.check_sh(sh)
    l1 = np.stack([sh[3], sh[1], sh[2]])           # rows x, y, z; columns RGB
    luma = l1 @ LUMA
    norm = float(np.linalg.norm(luma))
    if norm < 1e-9:
        d = np.array([0.0, 0.0, 1.0])
        irradiance = np.zeros(3)
    else:
        d = luma / norm
        irradiance = np.maximum(d @ l1, 0.0) / Y1
    ambient = np.maximum((sh[0] - Y00 * irradiance) / math.sqrt(4.0 * math.pi), 0.0)
    return d, irradiance, ambient
