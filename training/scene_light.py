"""A factory sample's own lighting and geometry, as ``inference.render`` takes them.

The factory's world is the relight scene's (Z up, camera looking along +Y) and its lights are in
Blender's units (``training/synth/lights.py``), so each sample's lighting A or B, as recorded in
its ``meta``, renders with Relit's Cook-Torrance directly: the HDRI at its rotation and
Background strength, and every analytic light at its place with its watts and colour (a spot is
a point light on whose axis the head lies). Surface points come from the Depth pass through the
factory's camera, so point and area lights fall off as in the render.

What the Cook-Torrance render still leaves out (cast shadows, subsurface scattering,
inter-reflection) is what RenderNet learns; the SH of the lighting (``sh_b``) loses far more.
"""
from __future__ import annotations

import json

import numpy as np

from inference import render
from inference.datafiles import blender_studio_lights
from inference.passes import Passes

from .synth import lights as synth_lights

SENSOR_MM = 36.0  # the factory camera's sensor width (training/synth/scene.py)


def meta_of(sample: dict) -> dict:
    meta = sample["meta"]
    return json.loads(str(meta)) if not isinstance(meta, dict) else meta


def lights(meta: dict, which: str = "b", area_samples: int = 4) -> list:
    """``inference.render`` lights of the sample's lighting ``which`` ("a" or "b"); an area
    light is sampled on an ``area_samples``² grid, as ``render.AreaLight`` is by default."""
    lit = meta[f"lighting_{which}"]
    out: list = [render.HdriLight(lit["hdri"], rotation=float(lit["rotation"]),
                                  strength=float(lit["world_strength"]),
                                  search_dirs=blender_studio_lights())]
    for spec in lit["lights"]:
        if spec["type"] in ("point", "spot"):
            out.append(render.PointLight(spec["position"], spec["power"], spec["rgb"]))
        elif spec["type"] == "area":
            tangent = synth_lights.area_patches(spec["position"], spec["direction"],
                                                spec["size"], spec["size_y"])[1]
            out.append(render.AreaLight(spec["position"], spec["direction"], spec["power"],
                                        spec["size"], spec["size_y"], "RECTANGLE", spec["rgb"],
                                        tuple(tangent), samples=area_samples))
        else:
            raise ValueError(f"unknown light type {spec['type']!r} in the sample's meta")
    return out


def positions(meta: dict, depth: np.ndarray) -> np.ndarray:
    """World position (H×W×3) of every pixel's surface, from the Depth pass (metres along the
    camera axis) through the factory's camera; pixels with no surface get the median depth."""
    cam, geo = meta["params"]["camera"], meta["geometry"]
    height, width = depth.shape
    focal = cam["focal_mm"] / SENSOR_MM  # in sensor widths: the sensor spans the longer side
    side = max(height, width)
    gx, gy = np.meshgrid((np.arange(width) + 0.5 - width / 2) / side,
                         (height / 2 - np.arange(height) - 0.5) / side)
    seen = depth > 0
    distance = np.where(seen, depth, np.median(depth[seen]) if seen.any() else 1.0)
    rel = np.stack([distance * (gx + cam["shift"][0]) / focal, distance,
                    distance * (gy + cam["shift"][1]) / focal], axis=-1)
    return (rel + np.asarray(geo["camera_position"])).astype(np.float32)


def options(meta: dict) -> render.RenderOptions:
    """Perspective view vectors from the factory's camera."""
    return render.RenderOptions(camera_position=tuple(meta["geometry"]["camera_position"]))


def render_under_own_lighting(passes: Passes, meta: dict, position: np.ndarray,
                              which: str = "b") -> render.RelitImage:
    """Cook-Torrance render of ``passes`` at ``position`` under the sample's own lighting."""
    return render.cook_torrance(passes, lights(meta, which), options(meta), position=position)
