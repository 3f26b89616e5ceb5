"""Procedural textures in the ICT model's UV space, with known per-texel values. Pure numpy/cv2.

Skin is painted on the face tile (UV u in [0, 1]) and the back-of-head tile (u in [1, 2]) from
**position maps**: every texel knows the neutral-mesh point it covers (OBJ cm), so noise is a
function of 3D position (no seams between tiles) and facial regions (lips, T-zone, under-eye,
cheeks, beard) are masks around the model's 68 landmarks, looked up by position. Maps are
rasterised once and cached on disk.

Each skin texture set is float32, top row first (row = (1 - v) * size):
``albedo`` (S, S, 3) linear RGB, ``spec`` (S, S, 3) = (roughness, F0, 0).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from . import ict

TEX_SIZE = 512
EYE_TEX_SIZE = 256
CACHE_ENV = "RELIT_SYNTH_CACHE"

# region codes of texels, by the vertex ranges of the toolkit's documentation
REGION_FACE, REGION_HEAD, REGION_MOUTH, REGION_EYESOCKET = 0, 1, 2, 3
_REGION_STARTS = np.array([0, 9409, 11248, 13294, 14062])

# frontal grid (OBJ x, y in cm) on which landmark-based region masks are drawn
_GRID_X = (-14.0, 14.0)
_GRID_Y = (-24.0, 16.0)
_GRID_RES = 0.1


def cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "relit" / "synth" / "_cache"


@dataclass(frozen=True)
class UvMaps:
    """Per-texel neutral position (OBJ cm), unit normal, coverage and region code of a tile."""

    position: np.ndarray   # (S, S, 3) float32
    normal: np.ndarray     # (S, S, 3) float32
    valid: np.ndarray      # (S, S) bool (after gutter dilation)
    region: np.ndarray     # (S, S) int8


def _rasterise(model: ict.IctModel, materials, tile: int, size: int) -> UvMaps:
    verts = model.vertices.astype(np.float64)
    normals = ict.vertex_normals(model.vertices, model, (ict.M_FACE, ict.M_BACKHEAD))
    tri_v, tri_c = model.triangles(materials)
    uv = model.poly_uvs[tri_c].astype(np.float64)             # (T, 3, 2)
    px = np.stack([(uv[..., 0] - tile) * size - 0.5, (1.0 - uv[..., 1]) * size - 0.5], -1)
    pos = np.zeros((size, size, 3), np.float32)
    nrm = np.zeros((size, size, 3), np.float32)
    valid = np.zeros((size, size), bool)
    region = np.zeros((size, size), np.int8)
    tri_region = (np.searchsorted(_REGION_STARTS, tri_v[:, 0], side="right") - 1).astype(np.int8)
    lo = np.clip(np.floor(px.min(axis=1)).astype(int), 0, size - 1)
    hi = np.clip(np.ceil(px.max(axis=1)).astype(int), 0, size - 1)
    for t in range(len(tri_v)):
        (x0, y0), (x1, y1) = lo[t], hi[t]
        xs, ys = np.meshgrid(np.arange(x0, x1 + 1), np.arange(y0, y1 + 1))
        a, b, c = px[t]
        m = np.array([[b[0] - a[0], c[0] - a[0]], [b[1] - a[1], c[1] - a[1]]])
        det = m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]
        if abs(det) < 1e-12:
            continue
        dx, dy = xs - a[0], ys - a[1]
        l1 = (m[1, 1] * dx - m[0, 1] * dy) / det
        l2 = (-m[1, 0] * dx + m[0, 0] * dy) / det
        l0 = 1.0 - l1 - l2
        inside = (l0 >= -1e-6) & (l1 >= -1e-6) & (l2 >= -1e-6)
        if not inside.any():
            continue
        w = np.stack([l0[inside], l1[inside], l2[inside]], -1)
        yy, xx = ys[inside], xs[inside]
        pos[yy, xx] = w @ verts[tri_v[t]]
        nrm[yy, xx] = w @ normals[tri_v[t]]
        valid[yy, xx] = True
        region[yy, xx] = tri_region[t]
    # fill a gutter around the islands with the nearest covered texel (bilinear lookups at
    # island borders then never mix in empty texels)
    for _ in range(6):
        grown = cv2.dilate(valid.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        ring = grown & ~valid
        if not ring.any():
            break
        for arr in (pos, nrm):
            acc = sum(np.roll(np.roll(arr * valid[..., None], dy, 0), dx, 1)
                      for dy in (-1, 0, 1) for dx in (-1, 0, 1))
            cnt = sum(np.roll(np.roll(valid, dy, 0), dx, 1).astype(np.float32)
                      for dy in (-1, 0, 1) for dx in (-1, 0, 1))
            arr[ring] = (acc[ring] / np.maximum(cnt[ring], 1)[:, None])
        reg = cv2.dilate(region.astype(np.uint8) + 1, np.ones((3, 3), np.uint8))
        region[ring] = reg[ring].astype(np.int8) - 1
        valid = grown
    norm = np.linalg.norm(nrm, axis=-1, keepdims=True)
    nrm = np.where(norm > 1e-6, nrm / np.maximum(norm, 1e-6), 0.0).astype(np.float32)
    return UvMaps(pos, nrm, valid, region)


def _model_key(folder) -> str:
    path = Path(folder or ict.default_ict_dir()) / ict.MODEL_FILE
    st = path.stat()
    return hashlib.sha1(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:12]


@lru_cache(maxsize=4)
def uv_maps(folder: str | None, tile: int, size: int = TEX_SIZE) -> UvMaps:
    """Position maps of the face (tile 0) or back-of-head (tile 1) skin, cached on disk."""
    materials = {0: (ict.M_FACE,), 1: (ict.M_BACKHEAD,)}[tile]
    path = cache_dir() / f"ict_uvmaps_{_model_key(folder)}_t{tile}_{size}.npz"
    if path.is_file():
        with np.load(path) as d:
            return UvMaps(d["position"], d["normal"], d["valid"], d["region"])
    maps = _rasterise(ict.load_ict(folder), materials, tile, size)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, position=maps.position, normal=maps.normal, valid=maps.valid,
                        region=maps.region)
    os.replace(tmp, path)
    return maps


# --------------------------------------------------------------------- noise

def value_noise(points: np.ndarray, scale: float, rng: np.random.Generator,
                octaves: int = 3) -> np.ndarray:
    """Smooth 3D fractal value noise in about [-1, 1] at (N, 3) points (feature size ``scale``)."""
    table = rng.uniform(-1.0, 1.0, (octaves, 32, 32, 32)).astype(np.float32)
    offset = rng.uniform(0.0, 32.0, (octaves, 3))
    out = np.zeros(len(points), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        p = points / (scale / 2 ** o) + offset[o]
        i = np.floor(p).astype(np.int64)
        f = (p - i).astype(np.float32)
        f = f * f * (3.0 - 2.0 * f)
        acc = np.zeros(len(points), np.float32)
        for dz in (0, 1):
            for dy in (0, 1):
                for dx in (0, 1):
                    w = (f[:, 0] if dx else 1 - f[:, 0]) * (f[:, 1] if dy else 1 - f[:, 1]) \
                        * (f[:, 2] if dz else 1 - f[:, 2])
                    acc += w * table[o, (i[:, 0] + dx) % 32, (i[:, 1] + dy) % 32,
                                     (i[:, 2] + dz) % 32]
        out += amp * acc
        total += amp
        amp *= 0.5
    return out / total * 1.8


def fine_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """2D Gaussian-blurred white noise with unit standard deviation."""
    n = rng.standard_normal((size, size)).astype(np.float32)
    n = cv2.GaussianBlur(n, (0, 0), sigma)
    return n / max(float(n.std()), 1e-6)


# --------------------------------------------------------------------- region masks

def _smooth(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


@lru_cache(maxsize=2)
def frontal_masks(folder: str | None) -> dict[str, np.ndarray]:
    """Soft region masks on the frontal (x, y) grid, drawn around the neutral landmarks."""
    model = ict.load_ict(folder)
    lm = model.vertices[model.landmarks68][:, :2].astype(np.float64)
    w = int(round((_GRID_X[1] - _GRID_X[0]) / _GRID_RES))
    h = int(round((_GRID_Y[1] - _GRID_Y[0]) / _GRID_RES))

    def to_px(pts):
        pts = np.asarray(pts, np.float64).reshape(-1, 2)
        return np.stack([(pts[:, 0] - _GRID_X[0]) / _GRID_RES,
                         (_GRID_Y[1] - pts[:, 1]) / _GRID_RES], -1)

    def poly(pts, blur_cm):
        img = np.zeros((h, w), np.float32)
        cv2.fillPoly(img, [np.round(to_px(pts)).astype(np.int32)], 1.0)
        return cv2.GaussianBlur(img, (0, 0), blur_cm / _GRID_RES)

    def ellipse(centre, axes, blur_cm):
        img = np.zeros((h, w), np.float32)
        c = to_px(centre)[0]
        cv2.ellipse(img, (int(c[0]), int(c[1])), (int(axes[0] / _GRID_RES),
                                                  int(axes[1] / _GRID_RES)), 0, 0, 360, 1.0, -1)
        return cv2.GaussianBlur(img, (0, 0), blur_cm / _GRID_RES)

    brow_top = lm[17:27, 1].max()
    masks = {
        "lips": poly(lm[48:60], 0.12),
        "under_eye": np.maximum(ellipse(lm[[40, 41]].mean(0) + (0.0, -0.75), (1.5, 0.6), 0.4),
                                ellipse(lm[[46, 47]].mean(0) + (0.0, -0.75), (1.5, 0.6), 0.4)),
        "nose": poly(np.concatenate([lm[[27]] + (-0.6, 0.0), lm[31:36] + [[-0.3, -0.2]] +
                                     np.array([[0, 0]] * 5), lm[[27]] + (0.6, 0.0)]), 0.5),
        "forehead": poly([(lm[17, 0] + 0.5, brow_top + 0.6), (lm[26, 0] - 0.5, brow_top + 0.6),
                          (lm[26, 0] - 1.5, brow_top + 6.5), (lm[17, 0] + 1.5, brow_top + 6.5)],
                         1.0),
        "chin": ellipse(lm[8] + (0.0, 1.4), (2.2, 1.4), 0.6),
        "cheeks": np.maximum(ellipse((lm[[2, 31]].mean(0)) + (0.0, 0.8), (2.2, 1.8), 1.0),
                             ellipse((lm[[14, 35]].mean(0)) + (0.0, 0.8), (2.2, 1.8), 1.0)),
        "beard": poly(np.concatenate([lm[1:16], [lm[15] + (0.0, 1.0)],
                                      [lm[35] + (1.2, -0.3), lm[33] + (0.0, -0.35),
                                       lm[31] + (-1.2, -0.3)], [lm[1] + (0.0, 1.0)]]), 0.5),
        "brows": np.maximum(poly(np.concatenate([lm[17:22] + (0, 0.25), lm[21:16:-1] +
                                                 (0, -0.45)]), 0.25),
                            poly(np.concatenate([lm[22:27] + (0, 0.25), lm[26:21:-1] +
                                                 (0, -0.45)]), 0.25)),
    }
    masks["lips_hard"] = poly(lm[48:60], 0.03)
    masks["beard"] = np.clip(masks["beard"] - masks["lips"] * 1.5, 0.0, 1.0)
    return masks


def lookup_frontal(mask: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Bilinear lookup of a frontal-grid mask at OBJ positions (..., 3)."""
    x = (position[..., 0] - _GRID_X[0]) / _GRID_RES
    y = (_GRID_Y[1] - position[..., 1]) / _GRID_RES
    return cv2.remap(mask, x.astype(np.float32), y.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def _region_masks(maps: UvMaps, folder) -> dict[str, np.ndarray]:
    """Texel masks (S, S) for a tile: frontal masks gated to the front of the face."""
    grid = frontal_masks(folder)
    p, n = maps.position, maps.normal
    front = _smooth((p[..., 2] - 2.0) / 3.0) * _smooth(n[..., 2] / 0.3 + 0.3)
    out = {k: lookup_frontal(v, p) * front for k, v in grid.items() if k != "beard"}
    out["ears"] = _smooth((np.abs(p[..., 0]) - 6.3) / 0.8) * _smooth((p[..., 1] + 1.0) / 1.5) \
        * _smooth((7.5 - p[..., 1]) / 1.5)
    # the beard wraps under the jaw and continues down the front and sides of the neck
    ahead = _smooth((p[..., 2] + 1.0) / 3.0)
    jaw = lookup_frontal(grid["beard"], p)
    neck = _smooth((-6.5 - p[..., 1]) / 1.5) * _smooth((p[..., 1] + 13.5) / 2.0)
    out["beard"] = np.maximum(jaw, neck) * ahead * (1.0 - out["ears"]) * (
        maps.region != REGION_MOUTH) * (1.0 - np.clip(out["lips"] * 1.5, 0, 1))
    return out


# --------------------------------------------------------------------- scalp

def azimuth(points: np.ndarray) -> np.ndarray:
    """Degrees around the head's vertical axis: 0 = front, +-90 = ears, +-180 = back."""
    return np.degrees(np.arctan2(points[..., 0], points[..., 2] + 1.0))


def hairline_y(az_deg: np.ndarray, hair: dict) -> np.ndarray:
    """Lowest OBJ y (cm) of the scalp hair at azimuth ``az`` (front hairline, temples, above
    the ears, sideburns, nape), moved by the sample's hairline offset and recession."""
    a = np.abs(az_deg)
    keys = np.array([0.0, 35.0, 62.0, 78.0, 90.0, 105.0, 130.0, 180.0])
    ys = np.array([10.8, 10.0, 7.5, 2.0, 7.0, 3.0, -3.5, -6.0])
    y = np.interp(a, keys, ys)
    front = np.clip(1.0 - a / 70.0, 0.0, 1.0)
    return y + hair["hairline_cm"] * (0.4 + front) + hair["recession"] * 3.5 * front ** 0.5


def scalp_density(points: np.ndarray, hair: dict) -> np.ndarray:
    """Hair density in [0, 1] at neutral-head points (OBJ cm): 1 on the scalp, a soft
    hairline, none on the ears, thinner crown with strong recession."""
    az = azimuth(points)
    density = np.clip((points[..., 1] - hairline_y(az, hair)) / 0.8, 0.0, 1.0)
    ear = (np.abs(points[..., 0]) > 6.2) & (points[..., 1] > -2.5) & (points[..., 1] < 7.5) & \
        (np.abs(az) > 70) & (np.abs(az) < 112)
    density = np.where(ear, 0.0, density)
    if hair["recession"] > 0.5:
        crown = np.exp(-((points[..., 1] - 13.0) ** 2 + (points[..., 2] + 2.0) ** 2) / 18.0)
        density = density * (1.0 - (hair["recession"] - 0.5) * 1.6 * crown)
    return density


# --------------------------------------------------------------------- skin

def _splats(size: int, centres: np.ndarray, radius_px: np.ndarray, strength: np.ndarray
            ) -> np.ndarray:
    img = np.zeros((size, size), np.float32)
    for (x, y), r, s in zip(centres, radius_px, strength):
        cv2.circle(img, (int(x), int(y)), max(int(r), 1), float(s), -1, cv2.LINE_AA)
    return cv2.GaussianBlur(img, (0, 0), 0.6)


def skin_textures(params: dict, folder: str | None = None, size: int = TEX_SIZE
                  ) -> dict[int, dict[str, np.ndarray]]:
    """Albedo and (roughness, F0) textures of the face tile (0) and back-of-head tile (1)."""
    skin, hair, eyes = params["skin"], params["hair"], params["eyes"]
    rng = np.random.default_rng(skin["texture_seed"])
    tables = [rng.integers(2 ** 31) for _ in range(8)]
    base = np.asarray(skin["albedo"], np.float32)
    hair_rgb = np.asarray(hair["albedo"], np.float32)
    out = {}
    for tile in (0, 1):
        maps = uv_maps(folder, tile, size)
        # smooth noise is evaluated on a half-resolution position map and upsampled
        coarse = uv_maps(folder, tile, size // 2).position.reshape(-1, 3)
        masks = _region_masks(maps, folder)
        r_tile = np.random.default_rng([skin["texture_seed"], tile])

        def noise(k, scale, octaves=3):
            n = value_noise(coarse, scale, np.random.default_rng(tables[k]), octaves)
            return cv2.resize(n.reshape(size // 2, size // 2), (size, size),
                              interpolation=cv2.INTER_LINEAR)

        n_tone = noise(0, 5.0)
        n_blotch = noise(1, 1.6)
        n_red = noise(2, 2.5)
        pores = fine_noise(r_tile, size, 0.7)
        hue = np.array([1.0, 1.12, 1.3], np.float32)
        albedo = base * np.exp(skin["variation"] * n_tone[..., None] * hue)
        # redness on cheeks, nose and ears, mottled
        red = skin["redness"] * np.clip(masks["cheeks"] + 0.8 * masks["nose"] + 0.6 *
                                        masks["ears"], 0, 1) * (0.6 + 0.4 * n_red)
        albedo = albedo * (1.0 + red[..., None] * np.array([0.1, -0.3, -0.25], np.float32))
        blotch = skin["blotches"] * np.clip(n_blotch - 0.2, 0.0, None)
        albedo = albedo * (1.0 - blotch[..., None] * np.array([0.35, 0.5, 0.55], np.float32))
        under = skin["under_eye"] * masks["under_eye"]
        albedo = albedo * (1.0 - under[..., None] * np.array([0.3, 0.38, 0.25], np.float32))
        # lips
        lip_rgb = base * np.array([0.9, 0.55, 0.6], np.float32) ** (0.5 + skin["lip_tint"])
        if skin["lipstick"] is not None:
            lip_rgb = np.asarray(skin["lipstick"], np.float32)
        lips = masks["lips"][..., None]
        albedo = albedo * (1 - lips) + lip_rgb * (1.0 + 0.08 * n_tone[..., None]) * lips
        # freckles and moles: small dark splats on the face and neck
        freckle = np.zeros((size, size), np.float32)
        coverable = np.flatnonzero((maps.region.ravel() <= REGION_HEAD) & maps.valid.ravel())
        if skin["freckles"] > 0 and len(coverable):
            weight = (masks["cheeks"] + masks["nose"] + 0.3 * masks["forehead"]).ravel()
            weight = weight[coverable] + 0.02
            n = int(skin["freckles"] * (900 if tile == 0 else 250))
            pick = r_tile.choice(coverable, size=n, p=weight / weight.sum())
            centres = np.stack([pick % size, pick // size], -1)
            freckle = _splats(size, centres, r_tile.uniform(0.6, 1.8, n) * size / 512,
                              r_tile.uniform(0.2, 0.6, n))
        if skin["moles"] and tile == 0 and len(coverable):
            pick = r_tile.choice(coverable, size=skin["moles"])
            centres = np.stack([pick % size, pick // size], -1)
            freckle = np.maximum(freckle, _splats(size, centres, r_tile.uniform(
                1.5, 3.0, len(pick)) * size / 512, r_tile.uniform(0.5, 0.8, len(pick))))
        albedo = albedo * (1.0 - freckle[..., None] * np.array([0.45, 0.58, 0.7], np.float32))
        # stubble: follicle dots of hair colour over the beard area
        stubble = np.zeros((size, size), np.float32)
        if skin["stubble"] > 0:
            dots = np.clip((r_tile.random((size, size)) - 0.5) * 3.0, 0, 1).astype(np.float32)
            dots = cv2.GaussianBlur(dots, (0, 0), 0.8)
            stubble = 0.5 * skin["stubble"] * masks["beard"] * np.clip(0.45 + dots, 0, 1)
            stubble *= _smooth(0.7 + 0.5 * noise(3, 2.0, 2))
            albedo = albedo * (1 - stubble[..., None]) + hair_rgb * stubble[..., None]
        albedo = albedo * (1.0 + skin["pore_strength"] * 0.5 * pores[..., None])
        # hair roots: the scalp under the strands takes the hair colour (as hair reads in a
        # photo, where the scalp hardly shows), and the brows' skin darkens toward theirs
        if hair["style"] != "none":
            cover = {"buzz": 0.75}.get(hair["style"], 0.9)
            scalp = cover * scalp_density(maps.position, hair)[..., None] * (
                1.0 - masks["forehead"][..., None] * 0.3)
            albedo = albedo * (1 - scalp) + hair_rgb * (0.8 + 0.2 * n_tone[..., None]) * scalp
        brow_rgb = np.asarray(hair["brows"]["albedo"], np.float32)
        brow = 0.45 * hair["brows"]["density"] * masks["brows"][..., None]
        albedo = albedo * (1 - brow) + brow_rgb * brow
        # mouth interior and eye sockets
        mouth = (maps.region == REGION_MOUTH)[..., None]
        albedo = np.where(mouth, np.asarray(eyes["mouth"], np.float32), albedo)
        socket = (maps.region == REGION_EYESOCKET)[..., None]
        albedo = np.where(socket, base * np.array([0.55, 0.45, 0.45], np.float32), albedo)
        # roughness and F0: an oilier T-zone, glossier lips, pores
        tzone = np.clip(masks["forehead"] + masks["nose"] + 0.8 * masks["chin"], 0, 1)
        rough = skin["roughness"] + (skin["tzone_roughness"] - skin["roughness"]) * tzone
        rough = rough * (1 - masks["lips"]) + skin["lip_roughness"] * masks["lips"]
        rough = rough + 0.08 * stubble + skin["pore_strength"] * 0.6 * pores
        f0 = skin["f0"] + (skin["tzone_f0"] - skin["f0"]) * tzone
        f0 = f0 * (1 - masks["lips"]) + 0.03 * masks["lips"]
        rough = np.where(mouth[..., 0], 0.3, rough)
        f0 = np.where(mouth[..., 0], 0.03, f0)
        spec = np.stack([np.clip(rough, 0.15, 0.95), np.clip(f0, 0.015, 0.08),
                         np.zeros_like(rough)], -1)
        out[tile] = {"albedo": np.clip(albedo, 0.004, 0.95).astype(np.float32),
                     "spec": spec.astype(np.float32)}
    return out


def eye_texture(params: dict, size: int = EYE_TEX_SIZE) -> np.ndarray:
    """Albedo of the eyeball's polar UV layout: pupil, iris with radial fibres, limbus, sclera."""
    eyes = params["eyes"]
    rng = np.random.default_rng(params["skin"]["texture_seed"] + 7)
    c = (np.arange(size) + 0.5) / size
    u, v = np.meshgrid(c, 1.0 - c)
    r = np.hypot(u - 0.5, v - 0.5)
    ang = np.arctan2(v - 0.5, u - 0.5)
    fibres = np.zeros_like(r)
    for k, amp in ((24, 0.5), (57, 0.3), (113, 0.2)):
        phase = rng.uniform(0, 2 * np.pi, 3)
        fibres += amp * np.sin(k * ang + phase[0] + 3.0 * np.sin(5 * r + phase[1]))
    iris_r, pupil = eyes["iris_radius"], eyes["pupil"]
    iris = np.asarray(eyes["iris"], np.float32)
    t = np.clip((r - pupil) / (iris_r - pupil), 0, 1)
    iris_rgb = iris * (1.0 + 0.35 * fibres[..., None]) * (1.25 - 0.5 * t[..., None])
    collarette = np.exp(-((t - 0.3) / 0.08) ** 2)[..., None]
    iris_rgb = iris_rgb * (1.0 + 0.4 * collarette)
    sclera = np.asarray(eyes["sclera"], np.float32) * (
        1.0 + _smooth((r - 0.42) / 0.12)[..., None] * np.array([0.05, -0.25, -0.25]))
    limbus = _smooth((r - (iris_r - 0.03)) / 0.03)[..., None]
    out = iris_rgb * (1 - limbus) + sclera * limbus
    ring = np.exp(-((r - iris_r + 0.005) / 0.012) ** 2)[..., None]
    out = out * (1.0 - 0.6 * ring)
    out = np.where((r < pupil)[..., None], np.float32(0.008), out)
    return np.clip(out, 0.004, 0.9).astype(np.float32)
