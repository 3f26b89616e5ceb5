"""Environment lighting: HDRI loading, frames, spherical harmonics and prefiltering.

Frames
------
Everything follows the relight scene of docs/ARCHITECTURE.md (*The relight scene*). The **world**
frame is Blender's: Z up, the camera at -Y looking along +Y (Front view). The **camera** frame is
the one normals live in: ``camera x = world X``, ``camera y = world Z``, ``camera z = -world Y``
(toward the viewer). See ``world_to_camera`` / ``camera_to_world``.

Equirectangular maps
--------------------
An equirect image is float32 H x W x C, top row first. A pixel maps to a direction exactly as
Cycles' Environment Texture does (``kernel/geom``/``camera/projection.h``,
``direction_to_equirectangular``)::

    u = 0.5 - atan2(d.y, d.x) / (2 pi)          (column = u * W, left to right)
    v = 1 - acos(d.z) / pi                       (Blender's v, bottom-up; row = (1 - v) * H)

so the image centre looks along +X, a quarter from the left along +Y, three quarters along
-Y, the left and right edges along -X, and the top row is +Z.
A Mapping node (type POINT, rotation Z = theta) on Generated coordinates makes the lookup
``T(Rz(theta) d)``: the radiance arriving from world direction ``d`` is the texel the
unrotated map holds for ``Rz(theta) d``, so the world appears turned by -theta about Z. This
module calls the texel's own direction the **texture** frame (``f = Rz(theta) d``); the
rotation is applied at lookup time, never by resampling. Checked against Cycles renders.

Spherical harmonics
-------------------
``sh`` arrays are 9 x 3 (RGB) coefficients of **incident radiance** L(w) (radiance arriving
from direction w, w pointing away from the surface) in **camera** space, real orthonormal SH
(integral of Y_i Y_j over the sphere = delta_ij), ordered by (l, m)::

    0: Y00  = 0.282095                       5: Y2-1 = 1.092548 y z
    1: Y1-1 = 0.488603 y                     6: Y20  = 0.315392 (3 z^2 - 1)
    2: Y10  = 0.488603 z                     7: Y21  = 1.092548 x z
    3: Y11  = 0.488603 x                     8: Y22  = 0.546274 (x^2 - y^2)
    4: Y2-2 = 1.092548 x y

with (x, y, z) a unit camera-space direction. Irradiance follows Ramamoorthi and Hanrahan
(2001): ``E(n) = sum A_l L_lm Y_lm(n)`` with ``A_0 = pi, A_1 = 2 pi / 3, A_2 = pi / 4``; a
constant radiance L gives ``E = pi L``.

Prefiltering
------------
``prefilter_environment`` builds, in the texture frame, an irradiance map (exact cosine
convolution on a 32 x 64 map) and GGX-prefiltered radiance maps at a few perceptual roughness
levels (split-sum approximation with n = v = r, lobe weight ``D(h) max(n.l, 0)``; roughness 0
keeps the map itself). Rotation about the pole commutes with zonal kernels, so each level is
an FFT convolution along rows.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

import cv2
import numpy as np

from .errors import InputError
from .images import load_image
from .strips import strips

STUDIO_LIGHTS = ("city", "courtyard", "forest", "interior", "night", "studio", "sunrise",
                 "sunset")
STUDIOLIGHTS_ENV = "RELIT_STUDIOLIGHTS"

WORLD_TO_CAMERA = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

SH_CONSTANTS = np.array([0.282095, 0.488603, 0.488603, 0.488603, 1.092548, 1.092548,
                         0.315392, 1.092548, 0.546274])
SH_BAND = np.array([0, 1, 1, 1, 2, 2, 2, 2, 2])
COSINE_LOBE = np.array([np.pi, 2.0 * np.pi / 3.0, np.pi / 4.0])

DEFAULT_LEVELS = (0.0, 0.15, 0.25, 0.35, 0.5, 0.65, 0.8, 1.0)
MIRROR_MAX_HEIGHT = 512
IRRADIANCE_HEIGHT = 32

Source = Union[str, os.PathLike, np.ndarray]


# ------------------------------------------------------------------ finding and loading HDRIs

def studio_light_dirs(search_dirs: Optional[Iterable[Union[str, os.PathLike]]] = None
                      ) -> list[Path]:
    """Folders that may hold Blender's studio-light HDRIs, most specific first: the caller's
    ``search_dirs`` (inside Blender, ``bpy.utils.system_resource('DATAFILES',
    path='studiolights/world')``; outside it, ``datafiles.blender_studio_lights()``), then
    the ``RELIT_STUDIOLIGHTS`` environment variable (``os.pathsep``-separated)."""
    dirs = [Path(d) for d in (search_dirs or ())]
    env = os.environ.get(STUDIOLIGHTS_ENV, "")
    dirs += [Path(d) for d in env.split(os.pathsep) if d]
    return list(dict.fromkeys(dirs))


def resolve_hdri(source: Union[str, os.PathLike],
                 search_dirs: Optional[Iterable[Union[str, os.PathLike]]] = None) -> Path:
    """Path of an HDRI given as a file path or as one of ``STUDIO_LIGHTS``.

    Raises InputError for an unknown name (listing the valid ones) or a missing file.
    """
    text = os.fspath(source)
    name = text.strip().lower()
    if name in STUDIO_LIGHTS:
        for folder in studio_light_dirs(search_dirs):
            path = folder / f"{name}.exr"
            if path.is_file():
                return path
        raise InputError(f"built-in HDRI '{name}' not found; set {STUDIOLIGHTS_ENV} to "
                         "Blender's datafiles/studiolights/world folder")
    path = Path(text).expanduser()
    if path.is_file():
        return path
    if path.suffix == "" and os.sep not in text:
        raise InputError(f"unknown HDRI name '{text}'; valid names: {', '.join(STUDIO_LIGHTS)}"
                         " (or give a path to an equirectangular image)")
    raise InputError(f"HDRI file not found: {text}")


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int) -> np.ndarray:
    image = load_image(path)
    if image.shape[2] < 3:
        image = np.repeat(image[..., :1], 3, axis=2)
    image = np.ascontiguousarray(image[..., :3], dtype=np.float32)
    image.flags.writeable = False
    return image


def load_hdri(source: Source,
              search_dirs: Optional[Iterable[Union[str, os.PathLike]]] = None) -> np.ndarray:
    """Equirect HDRI as a read-only float32 H x W x 3 linear array (cached, small LRU).

    ``source`` is a path, a built-in name (see ``STUDIO_LIGHTS``) or an array (returned
    validated, uncached).
    """
    if isinstance(source, np.ndarray):
        return check_equirect(source)
    path = resolve_hdri(source, search_dirs)
    return _load_cached(str(path.resolve()), path.stat().st_mtime_ns)


def check_equirect(image: np.ndarray) -> np.ndarray:
    """Validate an equirect array (H x W x 3, finite, >= 2 x 4) and return it as float32."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 2 or image.shape[1] < 4:
        raise InputError(f"equirect map must be H x W x 3 with H >= 2, W >= 4; got "
                         f"{image.shape}")
    if not np.all(np.isfinite(image)):
        raise InputError("equirect map holds NaN or infinite values")
    return image


# ------------------------------------------------------------------ frames and directions

def world_to_camera(v: np.ndarray) -> np.ndarray:
    """World (Z up, camera looking along +Y) vectors (..., 3) to camera space."""
    v = np.asarray(v)
    return np.stack([v[..., 0], v[..., 2], -v[..., 1]], axis=-1)


def camera_to_world(v: np.ndarray) -> np.ndarray:
    """Camera-space vectors (..., 3) (+Z toward the viewer) to the world frame."""
    v = np.asarray(v)
    return np.stack([v[..., 0], -v[..., 2], v[..., 1]], axis=-1)


def rotation_z(degrees: float) -> np.ndarray:
    """3 x 3 matrix of a right-handed rotation about world Z, as a Mapping node's Z angle."""
    t = np.radians(float(degrees))
    c, s = np.cos(t), np.sin(t)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def world_to_texture(v: np.ndarray, rotation_deg: float = 0.0) -> np.ndarray:
    """World directions to the texture frame of a map rotated by ``rotation_deg`` (Rz(θ) d)."""
    return np.asarray(v) @ rotation_z(rotation_deg).T


def camera_to_texture(v: np.ndarray, rotation_deg: float = 0.0) -> np.ndarray:
    """Camera-space directions to the texture frame of a map rotated by ``rotation_deg``:
    ``world_to_texture(camera_to_world(v))`` written out, since world (x, -z, y) turned by
    Rz(θ) is (c x + s z, s x - c z, y); the dtype of ``v`` is kept."""
    v = np.asarray(v)
    t = np.radians(float(rotation_deg))
    c, s = np.cos(t), np.sin(t)
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    out = np.empty(v.shape, np.result_type(v.dtype, np.float32))
    out[..., 0] = c * x + s * z
    out[..., 1] = s * x - c * z
    out[..., 2] = y
    return out


def texture_to_camera(v: np.ndarray, rotation_deg: float = 0.0) -> np.ndarray:
    """Texture-frame directions to camera space (inverse of ``camera_to_texture``)."""
    return world_to_camera(np.asarray(v) @ rotation_z(rotation_deg))


def equirect_angles(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Polar angle theta per row (from +Z) and azimuth phi per column of pixel centres."""
    theta = np.pi * (np.arange(h) + 0.5) / h
    phi = np.pi - 2.0 * np.pi * (np.arange(w) + 0.5) / w
    return theta, phi


def equirect_directions(h: int, w: int) -> np.ndarray:
    """Unit directions (h, w, 3) of the pixel centres of an h x w equirect map."""
    theta, phi = equirect_angles(h, w)
    st = np.sin(theta)[:, None]
    return np.stack([st * np.cos(phi)[None, :], st * np.sin(phi)[None, :],
                     np.broadcast_to(np.cos(theta)[:, None], (h, w))], axis=-1)


def equirect_solid_angles(h: int, w: int) -> np.ndarray:
    """Exact solid angle (h,) of one pixel in each row; the total over the map is 4 pi."""
    edges = np.cos(np.pi * np.arange(h + 1) / h)
    return (2.0 * np.pi / w) * (edges[:-1] - edges[1:])


def direction_to_uv(dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equirect coordinates of directions (..., 3): u = 0.5 - atan2(y, x) / 2π across and
    v = θ / π down, both in [0, 1], in the precision of ``dirs`` (float32 at least: a
    4096-wide map is then placed to 1e-3 pixel)."""
    dirs = np.asarray(dirs)
    dirs = dirs.astype(np.result_type(dirs.dtype, np.float32), copy=False)
    one = dirs.dtype.type(1.0)
    x, y, z = dirs[..., 0], dirs[..., 1], dirs[..., 2]
    norm = np.sqrt(x * x + y * y + z * z)
    np.maximum(norm, one * 1e-12, out=norm)
    u = one * 0.5 - np.arctan2(y, x) * (one / (2.0 * np.pi))
    v = np.arccos(np.clip(z / norm, -one, one)) * (one / np.pi)
    return u, v


def direction_to_pixel(dirs: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Continuous pixel coordinates (x right, y down; pixel centres at integers) of directions."""
    u, v = direction_to_uv(dirs)
    return u * w - 0.5, v * h - 0.5


REMAP_COLS = 4096  # cv2.remap's maps stay under 32767 on a side


def sample_equirect(image: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Bilinear lookup (wrapping in u, clamped in v) of an equirect map at directions (..., 3),
    by OpenCV's remap over the map widened by one wrapped column on each side."""
    dirs = np.asarray(dirs)
    lead = dirs.shape[:-1]
    u, v = direction_to_uv(dirs.reshape(-1, 3))
    out = sample_equirect_uv(image, u, v)
    return out.reshape(lead + out.shape[-1:])


def sample_equirect_uv(image: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``sample_equirect`` at precomputed ``direction_to_uv`` coordinates (N,): (N, channels).
    Maps of any size share one set of coordinates."""
    image = np.asarray(image, np.float32)
    h, w = image.shape[:2]
    x, y = u * np.float32(w) - np.float32(0.5), v * np.float32(h) - np.float32(0.5)
    wrapped = cv2.copyMakeBorder(image, 0, 0, 1, 1, cv2.BORDER_WRAP)
    return remap_points(wrapped, np.mod(x, w) + 1.0, y)


def remap_points(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples (N, channels) of a float32 image at N continuous pixel coordinates
    (column ``x``, row ``y``; centres at integers), clamped at the edges, by OpenCV's remap
    (any channel count; its weights step by 1/32 of a pixel)."""
    n = int(np.size(x))
    channels = 1 if image.ndim == 2 else image.shape[2]
    if n == 0:
        return np.zeros((0, channels), np.float32)
    pad = (-n) % REMAP_COLS
    shape = (-1, min(n + pad, REMAP_COLS))

    def grid(a):
        a = np.broadcast_to(np.asarray(a, np.float32).reshape(-1), (n,))
        return np.pad(a, (0, pad)).reshape(shape)

    out = cv2.remap(image, grid(x), grid(y), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(-1, channels)[:n]


def resample_equirect(image: np.ndarray, h: int, w: int) -> np.ndarray:
    """Area-average an equirect map down to h x w, weighting rows by their solid angle.

    Integer factors are averaged exactly, so integrals over the sphere are kept; other sizes
    go through OpenCV's area resize.
    """
    src_h, src_w = image.shape[:2]
    if (src_h, src_w) == (h, w):
        return np.asarray(image, dtype=np.float32)
    if src_h % h or src_w % w or src_h < h or src_w < w:
        import cv2
        return cv2.resize(np.asarray(image, np.float32), (w, h), interpolation=cv2.INTER_AREA)
    fy, fx = src_h // h, src_w // w
    weight = equirect_solid_angles(src_h, src_w).reshape(h, fy, 1, 1, 1)
    blocks = np.asarray(image, np.float64).reshape(h, fy, w, fx, -1)
    summed = (blocks * weight).sum(axis=(1, 3)) / (weight.sum(axis=1)[:, :, 0] * fx)
    return summed.astype(np.float32)


def environment_radiance(image: np.ndarray, dirs_world: np.ndarray, rotation_deg: float = 0.0,
                         strength: float = 1.0) -> np.ndarray:
    """Radiance arriving from world directions under a rotated equirect world."""
    return strength * sample_equirect(image, world_to_texture(dirs_world, rotation_deg))


# ------------------------------------------------------------------ spherical harmonics

def sh_basis(dirs: np.ndarray) -> np.ndarray:
    """The 9 real SH basis functions (..., 9) at unit directions (..., 3), order in module doc."""
    d = np.asarray(dirs, dtype=np.float64)
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    one = np.ones_like(x)
    terms = np.stack([one, y, z, x, x * y, y * z, 3.0 * z * z - 1.0, x * z, x * x - y * y],
                     axis=-1)
    return terms * SH_CONSTANTS


def check_sh(sh: np.ndarray) -> np.ndarray:
    """Validate SH coefficients: 9 x 3 (or 9 for grey, broadcast to RGB)."""
    sh = np.asarray(sh, dtype=np.float64)
    if sh.shape == (9,):
        sh = np.repeat(sh[:, None], 3, axis=1)
    if sh.shape != (9, 3) or not np.all(np.isfinite(sh)):
        raise InputError(f"SH lighting must be 9 x 3 finite coefficients; got {sh.shape}")
    return sh


def project_sh(image: np.ndarray, rotation_deg: float = 0.0, strength: float = 1.0,
               max_height: int = 128) -> np.ndarray:
    """Camera-space SH (9 x 3) of the incident radiance of an equirect world.

    The map is area-averaged to at most ``max_height`` rows (order-2 SH does not need more)
    and integrated with exact per-pixel solid angles.
    """
    image = check_equirect(image)
    h, w = image.shape[:2]
    while h > max_height and h % 2 == 0 and w % 2 == 0:
        h, w = h // 2, w // 2
    small = resample_equirect(image, h, w).astype(np.float64)
    dirs = texture_to_camera(equirect_directions(h, w), rotation_deg)
    weights = sh_basis(dirs) * equirect_solid_angles(h, w)[:, None, None]
    return strength * np.einsum("hwk,hwc->kc", weights, small)


def sh_radiance(sh: np.ndarray, dirs_cam: np.ndarray) -> np.ndarray:
    """Radiance (..., 3) of SH lighting arriving from camera-space directions."""
    return _sh_eval(dirs_cam, check_sh(sh))


def sh_irradiance(sh: np.ndarray, normals_cam: np.ndarray) -> np.ndarray:
    """Irradiance E(n) (..., 3) on surfaces with camera-space normals (cosine-lobe convolution)."""
    return _sh_eval(normals_cam, check_sh(sh) * COSINE_LOBE[SH_BAND][:, None])


def _sh_eval(dirs: np.ndarray, coeffs: np.ndarray) -> np.ndarray:
    """``sh_basis(dirs) @ coeffs`` in float32 without the (..., 9) basis array (full-res maps).

    The order-2 basis is linear in (x, y, z, 1), in (x², y², z²) and in (xy, yz, zx): three
    OpenCV per-pixel matrix products on the interleaved map, its square and its product with
    itself rotated (y, z, x), instead of 27 array passes or any split into planes; strip by
    strip (``strips``), so the products stay in cache."""
    d = np.ascontiguousarray(dirs, dtype=np.float32)
    shape = d.shape[:-1]
    if d.size == 0:
        return np.zeros(shape + (3,), np.float32)
    k = np.asarray(coeffs, np.float64) * np.asarray(SH_CONSTANTS)[:, None]
    k[0] -= k[6]                       # the constant of 3z² − 1 ...
    k[6] *= 3.0                        # ... and its z² term
    linear = np.concatenate([k[[3, 1, 2]].T, k[0][:, None]], axis=1).astype(np.float32)
    square = np.stack([k[8], -k[8], k[6]], axis=1).astype(np.float32)      # x², y², z²
    cross = np.stack([k[4], k[5], k[7]], axis=1).astype(np.float32)        # xy, yz, zx
    flat = d.reshape(-1, 1, 3)
    out = np.empty_like(flat)
    for part in strips(len(flat)):
        dirs_part, out_part = flat[part], out[part]
        cv2.transform(dirs_part, linear, dst=out_part)
        out_part += cv2.transform(dirs_part * dirs_part, square)
        rotated = np.empty_like(dirs_part)
        cv2.mixChannels([dirs_part], [rotated], [0, 2, 1, 0, 2, 1])      # (y, z, x)
        rotated *= dirs_part
        out_part += cv2.transform(rotated, cross)
    return out.reshape(shape + (3,))


def sh_convolve(sh: np.ndarray, dirs_cam: np.ndarray, band_gains: np.ndarray) -> np.ndarray:
    """Evaluate SH filtered by a zonal kernel with per-pixel band gains (..., 3) at directions."""
    basis = sh_basis(dirs_cam)
    gains = np.asarray(band_gains)[..., SH_BAND]
    return np.einsum("...k,kc->...c", basis * gains, check_sh(sh)).astype(np.float32)


@lru_cache(maxsize=1)
def _fibonacci_directions(n: int = 64) -> np.ndarray:
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = np.pi * (1.0 + 5.0 ** 0.5) * i
    r = np.sqrt(1.0 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=-1)


def rotate_sh(sh: np.ndarray, degrees: float) -> np.ndarray:
    """SH of the lighting seen after a Mapping-node rotation of ``degrees`` about world Z.

    ``result(d) = original(Rz(degrees) d)`` for world directions d, exactly as
    ``project_sh(image, rotation_deg=a + b) == rotate_sh(project_sh(image, a), b)``.
    """
    sh = check_sh(sh)
    dirs = _fibonacci_directions()
    rot = WORLD_TO_CAMERA @ rotation_z(degrees) @ WORLD_TO_CAMERA.T
    values = sh_basis(dirs @ rot.T) @ sh
    coeffs, *_ = np.linalg.lstsq(sh_basis(dirs), values, rcond=None)
    return coeffs


def sh_to_equirect(sh: np.ndarray, height: int = 64, width: Optional[int] = None,
                   rotation_deg: float = 0.0) -> np.ndarray:
    """Equirect map (height x width x 3) that, used with ``rotation_deg``, gives SH lighting."""
    width = width or 2 * height
    dirs = texture_to_camera(equirect_directions(height, width), rotation_deg)
    return sh_radiance(sh, dirs)


# ------------------------------------------------------------------ GGX lobes and prefiltering

def ggx_ndf(cos_nh: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """GGX (Trowbridge-Reitz) normal distribution D(h), alpha = roughness^2.

    Normalised so that the integral of D(h) (n.h) over the hemisphere of h is 1.
    """
    a2 = np.square(np.maximum(alpha, 1e-7))
    c2 = np.square(np.clip(cos_nh, 0.0, 1.0))
    return a2 / (np.pi * np.square(c2 * (a2 - 1.0) + 1.0))


def ggx_lobe_weight(cos_angle: np.ndarray, alpha: float) -> np.ndarray:
    """Split-sum prefilter weight D(h) max(r.l, 0) with n = v = r, as a zonal kernel of r.l."""
    c = np.clip(cos_angle, -1.0, 1.0)
    cos_nh = np.sqrt(np.maximum(0.5 * (1.0 + c), 0.0))
    return ggx_ndf(cos_nh, alpha) * np.maximum(c, 0.0)


@lru_cache(maxsize=1)
def _ggx_sh_table(n_rough: int = 33, n_theta: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    rough = np.linspace(0.0, 1.0, n_rough)
    half = (np.arange(n_theta) + 0.5) / n_theta * (np.pi / 4.0)
    c = np.cos(2.0 * half)
    jac = np.sin(2.0 * half)  # d(omega) ~ sin(angle) d(angle), angle = 2 * half
    kernel = ggx_lobe_weight(c[None, :], np.square(rough)[:, None] + 1e-5) * jac
    legendre = np.stack([np.ones_like(c), c, 0.5 * (3.0 * c * c - 1.0)])
    gains = (kernel[:, None, :] * legendre[None]).sum(-1) / kernel.sum(-1, keepdims=True)
    return rough, gains


def ggx_sh_gains(roughness: np.ndarray) -> np.ndarray:
    """Band gains (..., 3) of the normalised split-sum GGX lobe (1 at l = 0)."""
    rough, gains = _ggx_sh_table()
    r = np.clip(np.asarray(roughness, np.float64), 0.0, 1.0)
    return np.stack([np.interp(r, rough, gains[:, b]) for b in range(3)], axis=-1)


def zonal_convolve(image: np.ndarray, kernel, normalise: bool, chunk: int = 16) -> np.ndarray:
    """Convolve an equirect map with a zonal kernel ``kernel(cos_angle)`` over solid angle.

    ``out(r) = sum_l kernel(r.l) L(l) dw`` at every pixel centre r, divided by
    ``sum_l kernel(r.l) dw`` when ``normalise``. The kernel depends only on the azimuth
    difference along a row, so each output row is an FFT circular convolution.
    """
    h, w = image.shape[:2]
    theta, _ = equirect_angles(h, w)
    solid = equirect_solid_angles(h, w)
    dphi = 2.0 * np.pi * np.arange(w) / w
    spectrum = np.fft.rfft(image.astype(np.float64) * solid[:, None, None], axis=1)
    out = np.empty(image.shape, np.float32)
    for start in range(0, h, chunk):
        rows = slice(start, min(start + chunk, h))
        to = theta[rows][:, None, None]
        cos_angle = (np.cos(to) * np.cos(theta)[None, :, None]
                     + np.sin(to) * np.sin(theta)[None, :, None] * np.cos(dphi)[None, None, :])
        weights = kernel(cos_angle)
        acc = np.einsum("oif,ifc->ofc", np.fft.rfft(weights, axis=2), spectrum)
        block = np.fft.irfft(acc, n=w, axis=1)
        if normalise:
            total = (weights * solid[None, :, None]).sum(axis=(1, 2))
            block /= np.maximum(total, 1e-30)[:, None, None]
        out[rows] = block
    return out


def _level_height(roughness: float, src_h: int) -> int:
    """Rows of the map a roughness level is prefiltered at (finer for narrower lobes)."""
    if roughness <= 0.0:
        return min(src_h, MIRROR_MAX_HEIGHT)
    wanted = np.pi / (0.4 * roughness ** 2)
    h = 32
    while h < wanted and h < 128:
        h *= 2
    return min(h, src_h)


def _downsized(image: np.ndarray, h: int) -> np.ndarray:
    src_h, src_w = image.shape[:2]
    return resample_equirect(image, h, max(4, round(src_w * h / src_h)))


def irradiance_map(image: np.ndarray, height: int = IRRADIANCE_HEIGHT) -> np.ndarray:
    """Irradiance E(n) for every pixel direction n of a ``height``-row map (cosine convolution).

    The discrete cosine kernel is normalised to its exact integral pi, so a constant
    radiance L gives exactly pi L.
    """
    small = _downsized(check_equirect(image), min(height, image.shape[0]))
    return np.pi * zonal_convolve(small, lambda c: np.maximum(c, 0.0), normalise=True)


def prefilter_ggx(image: np.ndarray, roughness: float) -> np.ndarray:
    """GGX-prefiltered radiance map (split sum) for one perceptual roughness level."""
    image = check_equirect(image)
    small = _downsized(image, _level_height(roughness, image.shape[0]))
    if roughness <= 0.0:
        return small
    alpha = float(roughness) ** 2
    return zonal_convolve(small, lambda c: ggx_lobe_weight(c, alpha), normalise=True)


@dataclass(frozen=True)
class PrefilteredEnvironment:
    """An HDRI prepared for shading, in its own texture frame (rotation applied at lookup)."""

    roughness: tuple[float, ...]
    radiance: tuple[np.ndarray, ...]
    irradiance: np.ndarray


def prefilter_environment(image: np.ndarray, levels: Sequence[float] = DEFAULT_LEVELS
                          ) -> PrefilteredEnvironment:
    """Irradiance map plus GGX radiance maps at ascending roughness ``levels`` (first 0)."""
    levels = tuple(float(r) for r in levels)
    if len(levels) < 2 or levels[0] != 0.0 or list(levels) != sorted(set(levels)) \
            or levels[-1] > 1.0:
        raise InputError(f"roughness levels must rise from 0 to at most 1; got {levels}")
    image = check_equirect(image)
    maps = tuple(prefilter_ggx(image, r) for r in levels)
    return PrefilteredEnvironment(levels, maps, irradiance_map(image))


def prefiltered_radiance(env: PrefilteredEnvironment, dirs_tex: np.ndarray,
                         roughness: np.ndarray) -> np.ndarray:
    """Split-sum prefiltered radiance (N, 3) at texture-frame directions (N, 3) and roughness (N,),
    linear between the two nearest levels."""
    levels = np.asarray(env.roughness)
    pos = np.interp(np.clip(roughness, 0.0, 1.0), levels,
                    np.arange(len(levels))).astype(np.float32)
    out = np.zeros((len(dirs_tex), 3), np.float32)
    u, v = direction_to_uv(dirs_tex)
    for k, level_map in enumerate(env.radiance):
        weight = np.maximum(0.0, 1.0 - np.abs(pos - k))  # level k's hat
        if np.any(weight > 0.0):
            out += weight[:, None] * sample_equirect_uv(level_map, u, v)
    return out


def environment_irradiance(env: PrefilteredEnvironment, normals_tex: np.ndarray) -> np.ndarray:
    """Irradiance (N, 3) on surfaces with texture-frame normals."""
    return sample_equirect(env.irradiance, normals_tex)


@lru_cache(maxsize=8)  # the eight built-in worlds stay warm (~8 MB each)
def _prefiltered_cached(path: str, mtime_ns: int, levels: tuple[float, ...]
                        ) -> PrefilteredEnvironment:
    return prefilter_environment(_load_cached(path, mtime_ns), levels)


def prefiltered_hdri(source: Source,
                     search_dirs: Optional[Iterable[Union[str, os.PathLike]]] = None,
                     levels: Sequence[float] = DEFAULT_LEVELS) -> PrefilteredEnvironment:
    """``prefilter_environment`` of an HDRI name, path (cached) or array (not cached)."""
    if isinstance(source, np.ndarray):
        return prefilter_environment(source, levels)
    path = resolve_hdri(source, search_dirs)
    return _prefiltered_cached(str(path.resolve()), path.stat().st_mtime_ns,
                               tuple(float(r) for r in levels))
