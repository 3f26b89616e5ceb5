"""Render one sample: dress the scene, render lighting A with every pass and lighting B, and
turn Blender's passes into the factory's arrays (see README.md for the format).

Pass conversions (A render):
- ``rgb``: the denoised Combined pass (linear, no view transform); ``rgb_srgb`` is its sRGB
  encoding (the Standard view transform) as uint8.
- ``alpha``: the subject AOV (pixel coverage of subject surfaces).
- ``albedo``, ``roughness``, ``reflectivity``: the AOVs divided by ``alpha`` (AOVs are
  premultiplied by coverage), 0 where ``alpha`` < 1e-3.
- ``normal``: the world-space normal AOV turned into camera space with the camera's rotation
  (+X right, +Y up, +Z toward the viewer) and normalised; 0 off the subject.
- ``depth``: Cycles' Depth pass (distance along the camera axis, metres), 0 where no surface.
- ``diffuse_shading``: Diffuse Direct + Diffuse Indirect. Cycles stores these light passes
  already divided by Diffuse Color, so this is the diffuse light arriving at the surface
  (irradiance / pi for a Lambertian surface); the diffuse image is it times Diffuse Color.
- ``specular``: (Glossy Direct + Glossy Indirect) * Glossy Color, the glossy radiance.
  Both are denoised by OIDN in the compositor (normal-guided; subsurface scattering makes the
  raw diffuse passes very noisy at the factory's sample counts).
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from inference.images import linear_to_srgb, read_exr_channels

from . import colour, lights, params as P

LAYER = "ViewLayer"
FORMAT_VERSION = 1


def _pass(channels: dict, name: str, layer: str = LAYER) -> np.ndarray:
    prefix = f"{layer}.{name}." if layer else f"{name}."
    found = {k[len(prefix):]: v for k, v in channels.items() if k.startswith(prefix)}
    if not found:
        raise KeyError(f"render has no pass {name!r}")
    for keys in (("R", "G", "B", "A"), ("R", "G", "B"), ("X", "Y", "Z")):
        if set(keys) <= found.keys():
            return np.stack([found[k] for k in keys], axis=-1)
    return next(iter(found.values()))[..., None]


PASSES = ("Combined", "Depth", "Normal", "Diffuse Direct", "Diffuse Indirect", "Diffuse Color",
          "Glossy Direct", "Glossy Indirect", "Glossy Color", "albedo", "normal", "roughness",
          "reflectivity", "alpha", "face")


def read_passes(path: str | Path, names=PASSES, layer: str = LAYER) -> dict[str, np.ndarray]:
    """The passes of a factory render (top row first) keyed by Blender's pass names."""
    ch = read_exr_channels(path)
    return {name: _pass(ch, name, layer) for name in names}


def project(points_world: np.ndarray, cam_pos, focal_mm: float, shift, res: int,
            sensor_mm: float = 36.0) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (x right, y down; pixel centres at i + 0.5) and camera depth of world
    points, for the factory's camera (looking along +Y, Z up, square image)."""
    rel = np.asarray(points_world, np.float64) - np.asarray(cam_pos, np.float64)
    depth = rel[:, 1]
    k = focal_mm / sensor_mm
    x = (rel[:, 0] / depth * k - shift[0] + 0.5) * res
    y = (0.5 - (rel[:, 2] / depth * k - shift[1])) * res
    return np.stack([x, y], -1), depth


def face_visibility(landmarks_px: np.ndarray, lm_depth: np.ndarray, depth: np.ndarray,
                    face: np.ndarray) -> float:
    """Share of the inner 51 landmarks (brows, eyes, nose, mouth) that are in the frame, on the
    head's own surface and not hidden (depth within 1.5 cm of the landmark's)."""
    h, w = depth.shape
    seen = 0
    inner = range(17, 68)
    for i in inner:
        x, y = landmarks_px[i]
        if not (0 <= x < w and 0 <= y < h):
            continue
        xi, yi = int(x), int(y)
        d = depth[yi, xi]
        if face[yi, xi] >= 0.45 and d > 0 and abs(d - lm_depth[i]) < 0.015:
            seen += 1
    return seen / len(inner)


def assemble(pa: dict, pb: dict, cam_rot: np.ndarray) -> dict[str, np.ndarray]:
    """The sample's arrays from the passes of render A (all) and B (Combined)."""
    alpha = np.clip(pa["alpha"][..., 0], 0.0, 1.0)
    cover = alpha > 1e-3
    inv = np.where(cover, 1.0 / np.maximum(alpha, 1e-3), 0.0)[..., None]
    n_world = pa["normal"][..., :3]
    n_cam = n_world @ cam_rot          # (world . camera axis) per axis
    length = np.linalg.norm(n_cam, axis=-1, keepdims=True)
    normal = np.where(cover[..., None] & (length > 1e-6), n_cam / np.maximum(length, 1e-6), 0)
    depth = pa["Depth"][..., 0]
    depth = np.where(np.isfinite(depth) & (depth < 1e4), depth, 0.0)
    rgb = pa["Combined"][..., :3]
    rgb_b = pb["Combined"][..., :3]
    diffuse = np.maximum(pa["shading"][..., :3], 0.0)
    specular = np.maximum(pa["specular"][..., :3], 0.0)
    return {
        "rgb": rgb.astype(np.float16),
        "rgb_srgb": np.round(linear_to_srgb(rgb) * 255.0).astype(np.uint8),
        "normal": normal.astype(np.float16),
        "albedo": np.clip(pa["albedo"][..., :3] * inv, 0.0, 1.0).astype(np.float16),
        "roughness": np.clip(pa["roughness"] * inv, 0.0, 1.0).astype(np.float16),
        "reflectivity": np.clip(pa["reflectivity"] * inv, 0.0, 1.0).astype(np.float16),
        "alpha": alpha[..., None].astype(np.float16),
        "depth": depth[..., None].astype(np.float32),
        "diffuse_shading": diffuse.astype(np.float16),
        "specular": specular.astype(np.float16),
        "rgb_b": rgb_b.astype(np.float16),
    }


def render_sample(scene, seed: int, split: str, workdir: str | None = None,
                  keep_passes: bool = False, prm: dict | None = None) -> dict:
    """Render sample ``seed`` of ``split`` with a ``scene.SynthScene``; returns the npz dict
    (arrays plus ``sh``, ``sh_b``, ``env_b`` and ``meta``). ``keep_passes`` adds the raw
    Blender passes of render A under ``passes``; ``prm`` replaces the drawn parameters (tests
    use it to isolate one effect)."""
    t0 = time.perf_counter()
    prm = P.sample_params(seed, split) if prm is None else prm
    info = scene.dress(prm)
    skin_lum = colour.luminance(prm["skin"]["albedo"])
    centre = np.asarray(info["head_centre"])
    la = lights.resolve(prm["lighting_a"], centre, skin_lum)
    lb = lights.resolve(prm["lighting_b"], centre, skin_lum)
    t1 = time.perf_counter()
    cycles_seed = prm["render"]["cycles_seed"]
    with tempfile.TemporaryDirectory(prefix="relit-synth-", dir=workdir) as tmp:
        scene.light(la)
        scene.render(Path(tmp) / "a.exr", cycles_seed, gt_dir=tmp)
        t2 = time.perf_counter()
        scene.light(lb)
        scene.render(Path(tmp) / "b.exr", cycles_seed, keep_data=False)
        t3 = time.perf_counter()
        pa = read_passes(Path(tmp) / "a.exr")
        pa.update(read_passes(Path(tmp) / "gt.exr", ("shading", "specular"), layer=""))
        pb = read_passes(Path(tmp) / "b.exr", ("Combined",))
    cam_rot = scene.camera_matrix()
    arrays = assemble(pa, pb, cam_rot)
    res = scene.res
    lm_px, lm_depth = project(np.asarray(info["landmarks68_world"]), info["camera_position"],
                              prm["camera"]["focal_mm"], prm["camera"]["shift"], res)
    visible = face_visibility(lm_px, lm_depth, arrays["depth"][..., 0],
                              pa["face"][..., 0])
    meta = {
        "format": FORMAT_VERSION, "seed": int(seed), "split": split, "res": res,
        "params": prm, "lighting_a": la, "lighting_b": lb,
        "geometry": {k: v for k, v in info.items() if k != "landmarks68_world"},
        "landmarks68_px": np.round(lm_px, 3).tolist(),
        "face_visible": round(float(visible), 4),
        "render": {"samples": scene.scene.cycles.samples,
                   "adaptive_threshold": scene.scene.cycles.adaptive_threshold,
                   "denoiser": "OIDN" if scene.scene.cycles.use_denoising else None,
                   "threads": scene.scene.render.threads},
        "timing": {"build_s": round(t1 - t0, 3), "render_a_s": round(t2 - t1, 3),
                   "render_b_s": round(t3 - t2, 3)},
        "units": {"lengths": "m", "angles": "deg", "sh": "camera-space SH of incident radiance"
                  " (lighting.py order), linear RGB of the rgb pass",
                  "depth": "m along the camera axis, 0 = no surface"},
    }
    out = dict(arrays)
    out["sh"] = np.asarray(la["sh"], np.float32)
    out["sh_b"] = np.asarray(lb["sh"], np.float32)
    out["env_b"] = np.array(json.dumps({"hdri": lb["hdri"], "rotation": lb["rotation"],
                                        "strength": lb["world_strength"],
                                        "lights": lb["lights"]}))
    out["meta"] = np.array(json.dumps(meta, sort_keys=True))
    if keep_passes:
        out["passes"] = pa
    return out


def timing_of(sample: dict) -> dict:
    return json.loads(str(sample["meta"]))["timing"]


def workdir_default() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
