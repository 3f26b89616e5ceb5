"""Cook-Torrance reference renderer: the patent's "initial relit image" from Relit's passes.

Shading model (matches Blender's Principled BSDF, metallic 0, no coat/sheen/transmission)
------------------------------------------------------------------------------------
- Specular: GGX microfacet, ``alpha = roughness^2`` (perceptual roughness as in Principled),
  Smith height-correlated shadowing-masking ``G2 = 1 / (1 + Lambda(n.l) + Lambda(n.v))``,
  and the Fresnel of F0 (``reflectivity``; Principled ``Specular IOR Level = F0 / 0.08`` at
  IOR 1.5). Principled evaluates the exact dielectric Fresnel of the IOR whose normal
  incidence value is F0, not Schlick's curve, and so does this module: Schlick's curve
  renders the specular of a rough sphere darker than Cycles (``fresnel_schlick`` is kept
  for comparison)::

      f_s = D G2 F / (4 (n.l) (n.v))

  scaled by Cycles' multiple-scattering compensation (``microfacet_ggx_preserve_energy``):
  ``1 + F_ms (1 - E) / E`` with E the single-scattering albedo of the lobe at the view
  direction, ``E_avg`` its cosine-weighted average, ``F_ss`` the cosine-weighted average
  Fresnel and ``F_ms = F_ss E_avg / (1 - F_ss (1 - E_avg))``.
- Diffuse: Lambert ``albedo / pi * E(n)``, layered under the specular the way Cycles layers
  Principled closures (``closure_layering_weight``): weighted by ``1 - A_s(n.v)``, where
  ``A_s`` is the directional albedo of the (compensated) specular layer at the view direction.
  It does not depend on the light direction, so a white furnace stays white (to the
  accuracy of the tables; ``tests/unit/test_render.py``).
- HDRI: split-sum. Diffuse from an exactly convolved irradiance map; specular from GGX
  prefiltered radiance at the reflected direction times the lobe's directional albedo
  (``specular_albedo``: tables over n.v, roughness and F0 integrated numerically here).
- SH: diffuse from SH irradiance; specular from SH radiance filtered by the same GGX lobe
  (per-band gains).
- Analytic lights, Blender units (checked against Cycles 5.0 renders):
    point  ``power`` P watts: radiant intensity P / (4 pi); irradiance P / (4 pi d^2) cos.
    sun    ``strength`` S in W/m^2: irradiance S on a surface facing it.
    area   ``power`` P watts over area A, one-sided Lambertian emitter of radiance
           P / (pi A): a patch of it at distance d gives P_patch / (pi d^2) cos_l cos_s.
           Sampled on a regular grid of ``samples`` x ``samples`` points.
    spot   ``power`` P watts: a point light (radiant intensity P / (4 pi), whatever the cone)
           cut to a cone about its ``direction``: ``spot_size`` is the cone's full angle in
           degrees, ``spot_blend`` b its soft edge, the factor Cycles applies
           (``spot_light_attenuation``) ``smoothstep((cos t - cos(size / 2)) /
           ((1 - cos(size / 2)) b))``, cos t the cosine between the spot's axis and the
           direction to the shaded point (a hard edge for b = 0).
  ``color`` multiplies these (linear RGB).

Frames (docs/ARCHITECTURE.md, *Camera space* and *The relight scene*): normals and view vectors are
camera space; light positions and directions are world space of the relight scene (Z up, camera
looking along +Y). Without a world ``position`` map, pixels lie on the camera-facing plane through
``plane_center`` (world), ``plane_width`` wide (the height follows the image aspect), moved toward
the camera by a ``height`` pass times ``height_scale`` as the displaced Cycles plate is
(``displaced_positions``; ``height_scale=0`` keeps them flat, as ``--no-displace`` keeps the plate).
The view is orthographic (0, 0, 1) unless ``camera_position`` is given.

Outputs are premultiplied by alpha like a Blender render with a transparent film.

Cast shadows: with a height pass (and no ``position`` map), each light is marched over the
relief toward it, the displaced plate's own geometry (``CastShadows``, ``shadow_mask``); turn
them off with ``RenderOptions(shadows=False)``. SH lighting stays unshadowed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from . import lighting as lt
from .errors import InputError
from .lighting import ggx_ndf
from .passes import Passes
from .progress import CancelFn, ProgressFn, check_cancel, no_progress
from .vectors import unit

MIN_ALPHA = 7.07e-4     # Cycles treats alpha_x * alpha_y <= 5e-7 as a perfect mirror
MIN_COS = 1e-4
LUT_SIZE = 32


# ------------------------------------------------------------------ light descriptions

@dataclass
class PointLight:
    """Blender point light: ``power`` in watts at world ``position``."""

    position: Sequence[float]
    power: float = 1000.0
    color: Sequence[float] = (1.0, 1.0, 1.0)


@dataclass
class SunLight:
    """Blender sun: ``strength`` in W/m^2 shining along world ``direction`` (its local -Z)."""

    direction: Sequence[float]
    strength: float = 1.0
    color: Sequence[float] = (1.0, 1.0, 1.0)


@dataclass
class AreaLight:
    """Blender area light of ``power`` watts emitting along world ``direction`` (local -Z).

    ``size`` x ``size_y`` metres (``size_y`` defaults to ``size``), ``shape`` one of SQUARE,
    RECTANGLE, DISK, ELLIPSE; ``tangent`` is its local X axis (any perpendicular if None).
    """

    position: Sequence[float]
    direction: Sequence[float]
    power: float = 100.0
    size: float = 1.0
    size_y: Optional[float] = None
    shape: str = "SQUARE"
    color: Sequence[float] = (1.0, 1.0, 1.0)
    tangent: Optional[Sequence[float]] = None
    samples: int = 4


@dataclass
class HdriLight:
    """Equirect world: a built-in name, a path, an array or a ``PrefilteredEnvironment``;
    Mapping-node Z ``rotation`` in degrees, Background ``strength``. ``search_dirs`` are extra
    folders for the built-in names."""

    source: Union[str, os.PathLike, np.ndarray, lt.PrefilteredEnvironment]
    rotation: float = 0.0
    strength: float = 1.0
    search_dirs: Optional[Sequence[str]] = None


@dataclass
class ShLight:
    """2nd-order SH of incident radiance (9 x 3), camera space (see lighting.py)."""

    coeffs: Any


@dataclass
class SpotLight:
    """Blender spot light: ``power`` watts at world ``position``, shining along world
    ``direction`` (its local -Z) inside a cone of full angle ``spot_size`` degrees (Blender's
    Spot Size as its UI shows it) with the soft edge ``spot_blend`` (0-1)."""

    position: Sequence[float]
    direction: Sequence[float]
    power: float = 1000.0
    spot_size: float = 45.0
    spot_blend: float = 0.15
    color: Sequence[float] = (1.0, 1.0, 1.0)


Light = Union[PointLight, SunLight, AreaLight, SpotLight, HdriLight, ShLight]
_LIGHT_TYPES = {"point": PointLight, "sun": SunLight, "area": AreaLight, "spot": SpotLight,
                "hdri": HdriLight, "world": HdriLight, "sh": ShLight}


def light_from_dict(spec: Mapping[str, Any]) -> Light:
    """Build a light from ``{"type": "point"|"sun"|"area"|"spot"|"hdri"|"sh", ...fields}``.

    Blender-style aliases are accepted: ``energy`` for power/strength, ``sh`` for coeffs.
    """
    spec = dict(spec)
    kind = str(spec.pop("type", "")).lower()
    if kind not in _LIGHT_TYPES:
        raise InputError(f"unknown light type '{kind}'; use one of {sorted(_LIGHT_TYPES)}")
    cls = _LIGHT_TYPES[kind]
    if "energy" in spec:
        spec["strength" if cls in (SunLight, HdriLight) else "power"] = spec.pop("energy")
    if "sh" in spec:
        spec["coeffs"] = spec.pop("sh")
    try:
        return cls(**spec)
    except TypeError as exc:
        raise InputError(f"bad {kind} light description: {exc}") from None


def as_lights(lighting: Any) -> list[Light]:
    """Normalise ``lighting`` to a list of lights: a light, a dict (``light_from_dict``), an HDRI
    name or path, a 9 x 3 SH array, an H x W x 3 equirect array, or a list of these."""
    if isinstance(lighting, (str, os.PathLike)):
        return [HdriLight(lighting)]
    if isinstance(lighting, np.ndarray):
        if lighting.shape == (9, 3):
            return [ShLight(lighting)]
        return [HdriLight(lt.check_equirect(lighting))]
    if isinstance(lighting, Mapping):
        return [light_from_dict(lighting)]
    if isinstance(lighting, tuple(_LIGHT_TYPES.values())):
        return [lighting]
    if isinstance(lighting, Iterable):
        lights = [item for entry in lighting for item in as_lights(entry)]
        if lights:
            return lights
    raise InputError(f"no usable lighting in {type(lighting).__name__}")


# ------------------------------------------------------------------ options and surfaces

@dataclass
class RenderOptions:
    """Geometry and quality settings of ``relight``."""

    camera_position: Optional[Sequence[float]] = None   # world; perspective view vectors
    plane_width: float = 1.0
    plane_center: Sequence[float] = (0.0, 0.0, 0.0)
    env_levels: Sequence[float] = lt.DEFAULT_LEVELS
    area_samples: Optional[int] = None                  # overrides AreaLight.samples
    # Cast shadows of the height pass (CastShadows): None = on when there is a height pass.
    shadows: Optional[bool] = None
    height_scale: float = 1.0           # the relief's scale, as the plate's "Scale"
    shadow_steps: int = 32              # samples per shadow ray
    shadow_area_samples: int = 2        # shadow rays per side of an area light
    shadow_hdri_lights: int = 4         # HDRI key lights that cast shadows (0: none)


@dataclass
class Surface:
    """Flattened per-pixel shading inputs (N = pixels with alpha > 0)."""

    normal: np.ndarray      # N x 3 camera space, unit
    view: np.ndarray        # N x 3 camera space, unit, toward the viewer
    albedo: np.ndarray      # N x 3
    roughness: np.ndarray   # N
    f0: np.ndarray          # N
    position: np.ndarray    # N x 3 world
    n_dot_v: np.ndarray = field(init=False)
    alpha: np.ndarray = field(init=False)
    spec_scale: np.ndarray = field(init=False)     # multiple-scattering factor
    spec_single: np.ndarray = field(init=False)    # single-scattering albedo (split sum)
    spec_albedo: np.ndarray = field(init=False)    # A_s(n.v)

    def __post_init__(self):
        self.n_dot_v = np.clip(np.einsum("nc,nc->n", self.normal, self.view), MIN_COS, 1.0)
        self.alpha = np.square(self.roughness)
        e, self.spec_single = _lobe_lookup(self.n_dot_v, self.roughness, self.f0)
        self.spec_scale = _multiscatter(e, self.roughness, self.f0)
        self.spec_albedo = np.clip(self.spec_single * self.spec_scale, 0.0, 1.0)

    @property
    def diffuse_weight(self) -> np.ndarray:
        """Principled layering: the diffuse closure weight ``1 - A_s(n.v)``."""
        return 1.0 - self.spec_albedo


@dataclass
class RelitImage:
    """A render: ``rgb = diffuse + specular``, all H x W x 3 premultiplied by ``alpha``."""

    rgb: np.ndarray
    diffuse: np.ndarray
    specular: np.ndarray
    alpha: np.ndarray


# ------------------------------------------------------------------ BRDF pieces

def smith_lambda(cos_theta: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """GGX Smith Lambda(cos) (Heitz 2014, eq. 72)."""
    c2 = np.clip(np.square(cos_theta), 1e-12, 1.0)
    return 0.5 * (np.sqrt(1.0 + np.square(alpha) * (1.0 / c2 - 1.0)) - 1.0)


def smith_g2(n_dot_l: np.ndarray, n_dot_v: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Height-correlated Smith shadowing-masking G2 for GGX (as Cycles' ``bsdf_G``)."""
    return 1.0 / (1.0 + smith_lambda(n_dot_l, alpha) + smith_lambda(n_dot_v, alpha))


def fresnel_schlick(cos_theta: np.ndarray, f0: np.ndarray) -> np.ndarray:
    """Schlick's approximation F0 + (1 - F0)(1 - cos)^5 (F90 = 1), for comparison."""
    return f0 + (1.0 - f0) * np.power(np.clip(1.0 - cos_theta, 0.0, 1.0), 5)


def fresnel_dielectric(cos_theta: np.ndarray, f0: np.ndarray) -> np.ndarray:
    """Unpolarised Fresnel reflectance of the dielectric whose normal-incidence value is F0.

    ``eta = (1 + sqrt F0) / (1 - sqrt F0)``; this is what Principled computes (Cycles'
    generalized Schlick with a negative exponent reduces to it for untinted specular).
    """
    root = np.sqrt(np.clip(f0, 0.0, 0.9999))
    eta = (1.0 + root) / (1.0 - root)
    c = np.clip(np.abs(cos_theta), 1e-6, 1.0)
    g = np.sqrt(np.square(eta) - 1.0 + np.square(c))
    a = (g - c) / (g + c)
    b = (c * (g + c) - 1.0) / (c * (g - c) + 1.0)
    return 0.5 * np.square(a) * (1.0 + np.square(b))


def specular_brdf(n_dot_l: np.ndarray, n_dot_v: np.ndarray, n_dot_h: np.ndarray,
                  v_dot_h: np.ndarray, alpha: np.ndarray, f0: np.ndarray) -> np.ndarray:
    """Single-scattering Cook-Torrance f_s = D G2 F / (4 n.l n.v) (zero below the horizon
    and for mirror-like alpha, which Cycles cannot hit with light samples)."""
    nl = np.maximum(n_dot_l, MIN_COS)
    value = (ggx_ndf(n_dot_h, alpha) * smith_g2(nl, n_dot_v, alpha)
             * fresnel_dielectric(v_dot_h, f0) / (4.0 * nl * n_dot_v))
    return np.where((n_dot_l > 0.0) & (alpha > MIN_ALPHA), value, 0.0)


def _hammersley(n: int) -> np.ndarray:
    i = np.arange(n, dtype=np.uint32)
    bits = i.copy()
    bits = ((bits << 16) | (bits >> 16)) & 0xFFFFFFFF
    bits = ((bits & 0x55555555) << 1) | ((bits & 0xAAAAAAAA) >> 1)
    bits = ((bits & 0x33333333) << 2) | ((bits & 0xCCCCCCCC) >> 2)
    bits = ((bits & 0x0F0F0F0F) << 4) | ((bits & 0xF0F0F0F0) >> 4)
    bits = ((bits & 0x00FF00FF) << 8) | ((bits & 0xFF00FF00) >> 8)
    return np.stack([(i + 0.5) / n, bits.astype(np.float64) / 2.0 ** 32], axis=-1)


@dataclass(frozen=True)
class BrdfTables:
    """Directional albedos of the GGX lobe, by n.v (rows, ``(i + 0.5) / size``) and
    roughness (columns, ``j / (size - 1)``).

    ``albedo[..., k]`` integrates ``f_s cos`` with the dielectric Fresnel of ``f0[k]``;
    ``e`` with F = 1; ``e_avg`` is the cosine-weighted average of ``e`` per roughness and
    ``f_ss`` the cosine-weighted average Fresnel of each ``f0[k]``.
    """

    f0: np.ndarray
    albedo: np.ndarray
    e: np.ndarray
    e_avg: np.ndarray
    f_ss: np.ndarray


TABLE_F0 = (0.0, 0.01, 0.02, 0.03, 0.04, 0.06, 0.08, 0.12, 0.16, 0.25, 0.4, 0.6, 0.8, 1.0)


@lru_cache(maxsize=1)
def brdf_tables(size: int = LUT_SIZE, samples: int = 512) -> BrdfTables:
    """Tabulate the lobe albedos by GGX importance sampling on Hammersley points."""
    mu = (np.arange(size) + 0.5) / size
    alpha = np.square(np.linspace(0.0, 1.0, size))
    xi = _hammersley(samples)
    a2 = np.square(alpha)[None, :, None]
    cos_h = np.sqrt((1.0 - xi[:, 0]) / (1.0 + (a2 - 1.0) * xi[:, 0]))
    sin_h = np.sqrt(1.0 - cos_h ** 2)
    m = mu[:, None, None]
    v_dot_h = np.sqrt(1.0 - m ** 2) * sin_h * np.cos(2 * np.pi * xi[:, 1]) + m * cos_h
    n_dot_l = 2.0 * v_dot_h * cos_h - m
    g = smith_g2(np.maximum(n_dot_l, 1e-6), m, alpha[None, :, None])
    weight = np.where(n_dot_l > 0, g * np.maximum(v_dot_h, 0) / (cos_h * m), 0.0)
    f0 = np.asarray(TABLE_F0)
    e = np.minimum(weight.mean(-1), 1.0)  # E <= 1; quadrature noise near grazing can exceed it
    albedo = np.stack([np.minimum((fresnel_dielectric(v_dot_h, k) * weight).mean(-1), e)
                       for k in f0], -1)
    e_avg = 2.0 * (e * mu[:, None]).mean(0)
    f_ss = np.array([2.0 * (fresnel_dielectric(mu, k) * mu).mean() for k in f0])
    return BrdfTables(f0, albedo, e, e_avg, f_ss)


@lru_cache(maxsize=1)
def _lobe_image() -> np.ndarray:
    """``e`` then ``albedo``'s F0 layers as one (n.v, roughness) image of 1 + len(F0)
    float32 channels, for OpenCV's remap."""
    tables = brdf_tables()
    return np.ascontiguousarray(np.concatenate([tables.e[..., None], tables.albedo], -1),
                                np.float32)


def _lobe_lookup(mu: np.ndarray, roughness: np.ndarray, f0: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``e`` and the single-scattering albedo at (n.v, roughness, F0), N each: bilinear in
    (n.v, roughness) by one remap of all the tables' channels (``lighting.remap_points``),
    then linear on the F0 axis."""
    image = _lobe_image()
    size = image.shape[0]
    mu = np.asarray(mu, np.float32).reshape(-1)
    n = mu.size
    out = lt.remap_points(image, np.asarray(roughness, np.float32) * (size - 1.0),
                          mu * size - 0.5)
    k, t = _f0_weights(np.broadcast_to(f0, (n,)), brdf_tables().f0)
    rows = np.arange(n)
    t = t.astype(np.float32)
    albedo = out[rows, k + 1] * (1.0 - t) + out[rows, k + 2] * t
    return out[:, 0].copy(), albedo


def _f0_weights(f0: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    idx = np.clip(np.searchsorted(grid, f0, side="right") - 1, 0, len(grid) - 2)
    t = np.clip((f0 - grid[idx]) / (grid[idx + 1] - grid[idx]), 0.0, 1.0)
    return idx, t


def specular_albedo(n_dot_v: np.ndarray, roughness: np.ndarray, f0: np.ndarray) -> np.ndarray:
    """Single-scattering directional albedo of the lobe (split-sum environment BRDF)."""
    return _lobe_lookup(n_dot_v, roughness, f0)[1]


def multiscatter_factor(n_dot_v: np.ndarray, roughness: np.ndarray, f0: np.ndarray
                        ) -> np.ndarray:
    """Cycles' GGX energy compensation ``1 + F_ms (1 - E) / E`` (module docstring)."""
    return _multiscatter(_lobe_lookup(n_dot_v, roughness, f0)[0], roughness, f0)


def _multiscatter(e: np.ndarray, roughness: np.ndarray, f0: np.ndarray) -> np.ndarray:
    tables = brdf_tables()
    e = np.maximum(e, 1e-4)
    e_avg = np.interp(roughness, np.linspace(0.0, 1.0, len(tables.e_avg)), tables.e_avg)
    f_ss = np.interp(f0, tables.f0, tables.f_ss)
    f_ms = (f_ss * e_avg / (1.0 - f_ss * (1.0 - e_avg))).astype(np.float32)
    return 1.0 + f_ms * (1.0 - e) / e


# ------------------------------------------------------------------ shading per light type

def reflect(view: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Mirror direction of ``view`` (toward the viewer) about ``normal``."""
    return 2.0 * np.einsum("nc,nc->n", normal, view)[:, None] * normal - view


def shade_hdri(surf: Surface, light: HdriLight, env: lt.PrefilteredEnvironment
               ) -> tuple[np.ndarray, np.ndarray]:
    """Diffuse and specular radiance (N x 3 each) under a prefiltered, rotated HDRI."""
    n_tex = lt.camera_to_texture(surf.normal, light.rotation)
    r_tex = lt.camera_to_texture(reflect(surf.view, surf.normal), light.rotation)
    irradiance = lt.environment_irradiance(env, n_tex)
    radiance = lt.prefiltered_radiance(env, r_tex, surf.roughness)
    return _combine_ibl(surf, irradiance * light.strength, radiance * light.strength)


def shade_sh(surf: Surface, light: ShLight) -> tuple[np.ndarray, np.ndarray]:
    """Diffuse and specular radiance (N x 3 each) under SH lighting."""
    irradiance = np.maximum(lt.sh_irradiance(light.coeffs, surf.normal), 0.0)
    gains = lt.ggx_sh_gains(surf.roughness)
    radiance = np.maximum(lt.sh_convolve(light.coeffs, reflect(surf.view, surf.normal),
                                         gains), 0.0)
    return _combine_ibl(surf, irradiance, radiance)


def _combine_ibl(surf: Surface, irradiance: np.ndarray, radiance: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    diffuse = irradiance * (surf.diffuse_weight * np.float32(1.0 / np.pi))[:, None]
    diffuse *= surf.albedo
    specular = radiance * (surf.spec_single * surf.spec_scale)[:, None]
    return diffuse, specular


def shade_directional(surf: Surface, to_light_cam: np.ndarray, irradiance: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Diffuse and specular radiance from light arriving along unit camera-space
    ``to_light_cam`` (N x 3) with irradiance (N x 3) on a surface facing it."""
    n_dot_l = np.einsum("nc,nc->n", surf.normal, to_light_cam)
    half = to_light_cam + surf.view
    half = unit(half, eps=1e-12)
    n_dot_h = np.einsum("nc,nc->n", surf.normal, half)
    v_dot_h = np.einsum("nc,nc->n", surf.view, half)
    cosine = np.maximum(n_dot_l, 0.0)[:, None] * irradiance
    diffuse = surf.albedo / np.pi * surf.diffuse_weight[:, None] * cosine
    brdf = specular_brdf(n_dot_l, surf.n_dot_v, n_dot_h, v_dot_h, surf.alpha, surf.f0)
    return diffuse, (brdf * surf.spec_scale)[:, None] * cosine


def _color(light) -> np.ndarray:
    color = np.asarray(light.color, np.float64).reshape(-1)
    if color.size not in (1, 3) or not np.all(np.isfinite(color)):
        raise InputError(f"light colour must be 1 or 3 finite numbers; got {light.color}")
    return np.broadcast_to(color, (3,))


def _vector(value, what: str) -> np.ndarray:
    v = np.asarray(value, np.float64).reshape(-1)
    if v.size != 3 or not np.all(np.isfinite(v)):
        raise InputError(f"{what} must be 3 finite numbers; got {value}")
    return v


def _unit(value, what: str) -> np.ndarray:
    v = _vector(value, what)
    norm = np.linalg.norm(v)
    if norm == 0.0:
        raise InputError(f"{what} must not be zero")
    return v / norm


def shade_point(surf: Surface, light: PointLight) -> tuple[np.ndarray, np.ndarray]:
    """Point light: irradiance P / (4 pi d^2) along the light direction."""
    offset = _vector(light.position, "point light position")[None, :] - surf.position
    dist2 = np.maximum(np.einsum("nc,nc->n", offset, offset), 1e-8)
    to_light = lt.world_to_camera(offset / np.sqrt(dist2)[:, None])
    irradiance = (light.power / (4.0 * np.pi * dist2))[:, None] * _color(light)
    return shade_directional(surf, to_light, irradiance)


def shade_sun(surf: Surface, light: SunLight) -> tuple[np.ndarray, np.ndarray]:
    """Sun light: irradiance ``strength`` arriving against its shining direction."""
    to_light = lt.world_to_camera(-_unit(light.direction, "sun direction"))
    to_light = np.broadcast_to(to_light, surf.normal.shape)
    irradiance = np.broadcast_to(light.strength * _color(light), surf.normal.shape)
    return shade_directional(surf, to_light, irradiance)


def spot_attenuation(cos_axis: np.ndarray, spot_size: float, spot_blend: float
                     ) -> np.ndarray:
    """Cycles' spot cone factor (module docstring) for cosines ``cos_axis`` between the spot's
    axis and the directions from the light to the shaded points."""
    size, blend = float(spot_size), float(spot_blend)
    if not (np.isfinite(size) and 0.0 < size <= 180.0):
        raise InputError(f"spot_size must be a cone angle in (0, 180] degrees; got {spot_size}")
    if not (np.isfinite(blend) and 0.0 <= blend <= 1.0):
        raise InputError(f"spot_blend must be in [0, 1]; got {spot_blend}")
    cos_half = np.cos(np.radians(size) / 2.0)
    if blend == 0.0 or cos_half >= 1.0:
        return (cos_axis > cos_half).astype(np.float64)
    t = np.clip((cos_axis - cos_half) / ((1.0 - cos_half) * blend), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def shade_spot(surf: Surface, light: SpotLight) -> tuple[np.ndarray, np.ndarray]:
    """Spot light: a point light of ``power`` watts times the cone factor."""
    offset = _vector(light.position, "spot light position")[None, :] - surf.position
    dist2 = np.maximum(np.einsum("nc,nc->n", offset, offset), 1e-8)
    to_light = offset / np.sqrt(dist2)[:, None]
    axis = _unit(light.direction, "spot direction")
    cone = spot_attenuation(-(to_light @ axis), light.spot_size, light.spot_blend)
    irradiance = (light.power * cone / (4.0 * np.pi * dist2))[:, None] * _color(light)
    return shade_directional(surf, lt.world_to_camera(to_light), irradiance)


def area_light_points(light: AreaLight, samples: Optional[int] = None) -> np.ndarray:
    """World positions (K x 3) of the sample points of an area light, equal shares of power."""
    k = int(samples or light.samples)
    if k < 1:
        raise InputError("area light samples must be at least 1")
    normal = _unit(light.direction, "area light direction")
    tangent = light.tangent if light.tangent is not None else np.cross(
        normal, [0.0, 0.0, 1.0] if abs(normal[2]) < 0.9 else [1.0, 0.0, 0.0])
    tangent = _unit(tangent, "area light tangent")
    tangent = _unit(tangent - normal * tangent.dot(normal), "area light tangent")
    bitangent = np.cross(normal, tangent)
    grid = (np.arange(k) + 0.5) / k - 0.5
    gx, gy = [g.ravel() for g in np.meshgrid(grid, grid)]
    shape = light.shape.upper()
    if shape not in ("SQUARE", "RECTANGLE", "DISK", "ELLIPSE"):
        raise InputError(f"unknown area light shape '{light.shape}'")
    if shape in ("DISK", "ELLIPSE"):
        keep = gx ** 2 + gy ** 2 <= 0.25
        gx, gy = gx[keep], gy[keep]
    size_y = light.size if light.size_y is None or shape in ("SQUARE", "DISK") else light.size_y
    return (_vector(light.position, "area light position")[None, :]
            + gx[:, None] * light.size * tangent + gy[:, None] * size_y * bitangent)


def shade_area(surf: Surface, light: AreaLight, samples: Optional[int] = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Area light as a grid of small Lambertian emitters (module docstring for units)."""
    points = area_light_points(light, samples)
    normal = _unit(light.direction, "area light direction")
    diffuse = np.zeros_like(surf.albedo)
    specular = np.zeros_like(surf.albedo)
    share = light.power / len(points)
    for point in points:
        offset = point[None, :] - surf.position
        dist2 = np.maximum(np.einsum("nc,nc->n", offset, offset), 1e-8)
        direction = offset / np.sqrt(dist2)[:, None]
        cos_light = np.maximum(-np.einsum("nc,c->n", direction, normal), 0.0)  # no BLAS call
        irradiance = (share * cos_light / (np.pi * dist2))[:, None] * _color(light)
        d, s = shade_directional(surf, lt.world_to_camera(direction), irradiance)
        diffuse += d
        specular += s
    return diffuse, specular


# ------------------------------------------------------------------ passes to surfaces

def _array(value) -> Optional[np.ndarray]:
    return None if value is None else np.asarray(value, np.float32)


def _scalar_pass(value, name: str, shape, default: float) -> np.ndarray:
    value = _array(value)
    if value is None:
        return np.full(shape, default, np.float32)
    if value.ndim == 3 and value.shape[2] >= 1:
        value = value[..., 0]
    if value.shape != shape:
        raise InputError(f"pass '{name}' has shape {value.shape}, expected {shape}")
    return value


def _vector_pass(value, name: str, shape) -> Optional[np.ndarray]:
    value = _array(value)
    if value is None:
        return None
    if value.ndim == 2:
        value = np.repeat(value[..., None], 3, axis=2)
    if value.shape[:2] != shape or value.ndim != 3 or value.shape[2] < 3:
        raise InputError(f"pass '{name}' has shape {value.shape}, expected {shape + (3,)}")
    return value[..., :3]


def plane_positions(shape: tuple[int, int], width: float, center: Sequence[float]
                    ) -> np.ndarray:
    """World positions (H x W x 3) of pixel centres on the camera-facing plane Y = center.y."""
    h, w = shape
    pixel = width / w
    x = (np.arange(w) + 0.5 - w / 2.0) * pixel
    z = (h / 2.0 - np.arange(h) - 0.5) * pixel
    cx, cy, cz = _vector(center, "plane centre")
    gx, gz = np.meshgrid(x + cx, z + cz)
    return np.stack([gx, np.full_like(gx, cy), gz], axis=-1)


def displaced_positions(position: np.ndarray, height: np.ndarray, alpha: np.ndarray,
                        options: RenderOptions) -> np.ndarray:
    """The displaced plate's surface: each pixel of the plane moved toward the camera (world -Y)
    by its relief, ``ShadowField.surface`` (pixels, extended beyond the matte as ``build_plate``
    extends it) times the pixel size, i.e. ``height x plane width x height_scale``. Point, spot
    and area lights then fall off over the distance to the relief, as on the Cycles plate."""
    surface = ShadowField.from_height(height, alpha, options.height_scale).surface
    out = np.array(position, np.float32, copy=True)
    out[..., 1] -= surface * np.float32(options.plane_width / surface.shape[1])
    return out


def surface_from_passes(passes: Passes, options: Optional[RenderOptions] = None, *,
                        position: Optional[np.ndarray] = None
                        ) -> tuple[Surface, np.ndarray, np.ndarray]:
    """Validate passes and flatten the covered pixels (alpha > 0) to a Surface.

    Returns the Surface, the H x W alpha and the flat boolean mask of the covered pixels.

    Passes read: ``normal`` (required), ``albedo`` (required), ``roughness`` (default 0.5),
    ``reflectivity`` (default 0.04), ``alpha`` and ``height``. ``position`` is the world
    position of each pixel (H x W x 3), by default the relight plane, displaced by the
    ``height`` pass times ``options.height_scale`` (``displaced_positions``).
    """
    options = options or RenderOptions()
    normal = _array(passes.normal)
    if normal is None or normal.ndim != 3 or normal.shape[2] < 3:
        raise InputError("passes need a 'normal' pass of shape H x W x 3")
    shape = normal.shape[:2]
    albedo = _vector_pass(passes.albedo, "albedo", shape)
    if albedo is None:
        raise InputError("passes need an 'albedo' pass")
    rough = np.clip(_scalar_pass(passes.roughness, "roughness", shape, 0.5), 0.0, 1.0)
    f0 = np.clip(_scalar_pass(passes.reflectivity, "reflectivity", shape, 0.04), 0.0, 1.0)
    alpha = np.clip(_scalar_pass(passes.alpha, "alpha", shape, 1.0), 0.0, 1.0)
    position = _vector_pass(position, "position", shape)
    if position is None:
        position = plane_positions(shape, options.plane_width, options.plane_center)
        height = _array(passes.height)
        if height is not None and options.height_scale:
            position = displaced_positions(position, height, alpha, options)
    view = _view_vectors(position, options, shape)
    arrays = [normal[..., :3], view, albedo, rough, f0, position]
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise InputError("passes hold NaN or infinite values")
    keep = alpha.reshape(-1) > 0.0
    covered = np.flatnonzero(keep)
    flat = [_covered(a, covered) for a in arrays]
    flat[0] = unit(flat[0], eps=1e-8)
    flat[1] = unit(flat[1], eps=1e-8)
    return Surface(*flat), alpha, keep


def _covered(a: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """The float32 values of an H x W (x 3) pass at the flat pixel indices ``covered``;
    a pass broadcast from one value (``np.broadcast_to``) is expanded only there."""
    vector = a.ndim == 3
    if a.strides[0] == 0 and a.strides[1] == 0:
        value = a[(0, 0)][:3] if vector else a[0, 0]
        shape = (covered.size, 3) if vector else (covered.size,)
        return np.broadcast_to(np.asarray(value, np.float32), shape).copy()
    flat = a.reshape(-1, a.shape[2])[:, :3] if vector else a.reshape(-1)
    return np.take(flat, covered, axis=0).astype(np.float32, copy=False)


def _view_vectors(position, options: RenderOptions, shape) -> np.ndarray:
    if options.camera_position is not None:
        cam = _vector(options.camera_position, "camera position")
        return lt.world_to_camera(cam[None, None, :] - position)
    return np.broadcast_to(np.array([0.0, 0.0, 1.0], np.float32), shape + (3,))


# ------------------------------------------------------------------ cast shadows

SHADOW_STEPS = 32        # samples along each shadow ray
SHADOW_SPREAD = 0.02     # angular radius (radians) of a sun's penumbra, about 1 degree
SHADOW_LOW = -1.0e4      # the occluder height outside the matte: nothing is there
_REMAP_COLS = 4096       # cv2.remap maps must stay under 32767 on a side


@dataclass
class ShadowField:
    """The relief as an occluder, in **pixels** (``height x image width x scale``): exactly the
    geometry of the displaced plate (datablocks/plate.py moves each vertex toward the camera by
    ``height x plane width x Scale``, and one pixel is ``plane width / image width``).

    ``field`` is H x W float32, ``SHADOW_LOW`` where the plate is trimmed away (no matte
    nearby: nothing occludes); ``surface`` is each pixel's own height (the ray origins), both
    extended beyond the matte as ``build_plate`` extends the height."""

    field: np.ndarray
    surface: np.ndarray
    top: float

    @classmethod
    def from_height(cls, height: np.ndarray, alpha: Optional[np.ndarray] = None,
                    scale: float = 1.0) -> "ShadowField":
        height = np.asarray(height, np.float32)
        if height.ndim == 3:
            height = height[..., 0]
        if height.ndim != 2 or not np.all(np.isfinite(height)):
            raise InputError(f"height must be a finite H x W map; got shape {height.shape}")
        surface = height * np.float32(height.shape[1] * float(scale))
        if alpha is None:
            return cls(surface, surface, float(surface.max()))
        import cv2

        from .integrate import extend_outside

        alpha = np.asarray(alpha, np.float32).reshape(height.shape)
        # as build_plate: the height outside the matte (> 0.5) is its nearest inside value,
        # and the plate keeps the quads near any matte above one 8-bit step (plate.matte_cover)
        surface = extend_outside(surface, alpha > 0.5)
        cover = cv2.dilate((alpha > 1.0 / 255.0).astype(np.uint8), np.ones((3, 3), np.uint8))
        field = np.where(cover > 0, surface, np.float32(SHADOW_LOW)).astype(np.float32)
        top = float(surface[cover > 0].max()) if cover.any() else 0.0
        return cls(field, surface, top)

    @property
    def shape(self) -> tuple[int, int]:
        return self.field.shape


def _pixel_direction(to_light_cam: np.ndarray) -> np.ndarray:
    """Camera-space directions (..., 3) to image space: columns right, rows down, height up."""
    d = np.asarray(to_light_cam, np.float64)
    return np.stack([d[..., 0], -d[..., 1], d[..., 2]], axis=-1)


def march_visibility(field: ShadowField, pixels: np.ndarray, direction: np.ndarray,
                     reach: Optional[np.ndarray] = None, steps: int = SHADOW_STEPS,
                     spread: float = SHADOW_SPREAD) -> np.ndarray:
    """Visibility in [0, 1] (N,) of a light from the flat ``pixels`` (indices into H x W).

    ``direction`` is the image-space unit direction toward the light (3,) or (N, 3): columns,
    rows (down), height, all in pixels. ``reach`` (N,), in pixels along that direction, is how far
    the light is (None: a sun, infinitely far). Each ray is sampled at ``steps`` evenly spaced
    points from the pixel to where it clears the highest point of the relief (or reaches the
    light, or leaves the image), bilinearly (cv2.remap). A sample at distance ``s`` that rises
    ``dz`` above the ray hides a light of angular radius ``spread`` (radians) by
    ``0.5 + dz / (s spread)``: hard at the occluder, widening with distance, and never on a
    plane that the light grazes by more than ``spread``. The most hiding sample wins.
    """
    import cv2

    h, w = field.shape
    n = pixels.size
    if n == 0:
        return np.ones(0, np.float32)
    d = np.broadcast_to(np.asarray(direction, np.float64), (n, 3))
    flat = np.hypot(d[:, 0], d[:, 1])                      # horizontal part of the unit ray
    inv = 1.0 / np.maximum(flat, 1e-6)
    du, dv, rise = d[:, 0] * inv, d[:, 1] * inv, d[:, 2] * inv   # per pixel of travel
    rows, cols = np.divmod(pixels, w)
    h0 = field.surface.reshape(-1)[pixels].astype(np.float64)
    span = float(np.hypot(h, w))
    length = np.full(n, span)
    up = rise > spread                    # the ray's lower penumbra edge still climbs
    length[up] = np.minimum(span, (field.top - h0[up]) / (rise[up] - 0.5 * spread))
    if reach is not None:
        length = np.minimum(length, np.broadcast_to(reach, (n,)) * flat)
    march = (flat > 1e-6) & (length > 0.0)   # straight up, or already above everything: lit
    pad = (-n) % _REMAP_COLS
    shape = (-1, min(n + pad, _REMAP_COLS))

    def grid(a):
        return np.pad(a.astype(np.float32), (0, pad)).reshape(shape)

    # (terrain - ray) / (s spread) = scale (terrain - h0) / t - climb scale, with t = s / length:
    # the per-pixel factors come out of the maximum over the steps.
    x, y = grid(cols), grid(rows)
    du, dv = grid(du * length / steps), grid(dv * length / steps)
    base = grid(h0)
    scale = grid(np.where(march, 1.0 / np.maximum(length * spread, 1e-12), 0.0))
    climb = grid(rise * length) * scale
    worst = np.full(x.shape, -np.inf, np.float32)
    for k in range(int(steps)):
        x += du
        y += dv
        terrain = cv2.remap(field.field, x, y, cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=SHADOW_LOW)
        terrain -= base
        terrain *= np.float32(steps / (k + 1.0))
        np.maximum(worst, terrain, out=worst)
    with np.errstate(invalid="ignore", over="ignore"):
        worst = worst * scale - climb
    hidden = np.where(march, worst.reshape(-1)[:n], -np.inf)
    return np.clip(0.5 - hidden, 0.0, 1.0).astype(np.float32)


def shadow_mask(height: np.ndarray, to_light: Sequence[float] | np.ndarray, *,
                alpha: Optional[np.ndarray] = None, distance: Optional[np.ndarray] = None,
                scale: float = 1.0, steps: int = SHADOW_STEPS) -> np.ndarray:
    """Per-pixel visibility (H x W float32, 1 lit, 0 in cast shadow) of a light over a relief.

    ``height`` is the height pass (image widths, + toward the viewer; docs/ARCHITECTURE.md,
    *Height*), ``to_light`` the camera-space unit direction toward the light, one (3,) for a sun or
    H x W x 3 per pixel, ``distance`` (H x W or a number, image widths) how far the light is along
    it (None: a sun). ``alpha``: only the matte (> 0.5) occludes, as on the trimmed plate. ``scale``
    is the plate's relief Scale. Only cast shadows: a surface turned away from the light is not
    darkened here (shading's ``n.l`` does that). See ``march_visibility``.
    """
    field = ShadowField.from_height(height, alpha, scale)
    h, w = field.shape
    pixels = np.arange(h * w)
    d = np.asarray(to_light, np.float64)
    d = d.reshape(-1, 3) if d.ndim > 1 else d
    d = unit(d, eps=1e-12)
    reach = None if distance is None else np.broadcast_to(
        np.asarray(distance, np.float64) * w, (h, w)).reshape(-1)
    return march_visibility(field, pixels, _pixel_direction(d), reach, steps).reshape(h, w)


def lambertian_shadowed(normal: np.ndarray, albedo: np.ndarray, height: np.ndarray,
                        to_light: Sequence[float], *, alpha: Optional[np.ndarray] = None,
                        scale: float = 1.0, steps: int = SHADOW_STEPS) -> np.ndarray:
    """``albedo x max(n.l, 0) x visibility`` (H x W x C) under one directional light along
    camera-space ``to_light``, with the relief's cast shadow: the Yale protocol's render (its
    light power is unknown, so there is no 1/pi or irradiance factor)."""
    normal = np.asarray(normal, np.float32)[..., :3]
    light = _unit(to_light, "light direction").astype(np.float32)
    cosine = np.maximum(normal @ light, 0.0)
    visible = shadow_mask(height, light, alpha=alpha, scale=scale, steps=steps)
    albedo = np.asarray(albedo, np.float32)
    shade = (cosine * visible)[..., None] if albedo.ndim == 3 else cosine * visible
    return albedo * shade


def hdri_key_lights(env: lt.PrefilteredEnvironment, rotation: float = 0.0,
                    strength: float = 1.0, count: int = 4, cone_deg: float = 25.0
                    ) -> list[tuple[np.ndarray, np.ndarray]]:
    """The few bright regions of an HDRI that cast shadows, as ``(to_light camera space (3,),
    irradiance RGB (3,))`` pairs, brightest first.

    The map's radiance above its median level is the part that casts distinct shadows; the
    rest is the unshadowed ambient. Greedily, the brightest texel of what is left and all of
    its excess within ``cone_deg`` collapse to one direction (power-weighted mean) carrying
    that excess irradiance; regions under 5 % of the total excess are left in the ambient.
    """
    return [(lt.texture_to_camera(direction, rotation), irradiance * strength)
            for direction, irradiance in _key_lights_texture(env, int(count), float(cone_deg))]


_KEY_LIGHTS: dict = {}   # id(env) -> (env, count, cone, lights): the last few environments


def _key_lights_texture(env: lt.PrefilteredEnvironment, count: int, cone_deg: float
                        ) -> list[tuple[np.ndarray, np.ndarray]]:
    cached = _KEY_LIGHTS.get(id(env))
    if cached is not None and cached[0] is env and cached[1:3] == (count, cone_deg):
        return cached[3]
    import cv2

    radiance = np.asarray(env.radiance[0], np.float32)
    small = cv2.resize(radiance, (64, 32), interpolation=cv2.INTER_AREA).astype(np.float64)
    dirs = lt.equirect_directions(32, 64).reshape(-1, 3)
    omega = np.repeat(lt.equirect_solid_angles(32, 64), 64)
    rgb = small.reshape(-1, 3)
    weights = np.array([0.2126, 0.7152, 0.0722])
    lum = rgb @ weights
    floor = float(np.median(lum))
    excess = rgb * np.clip(1.0 - floor / np.maximum(lum, 1e-12), 0.0, 1.0)[:, None]
    power = (excess @ weights) * omega
    total = power.sum()
    cos_cone = np.cos(np.radians(cone_deg))
    lights = []
    for _ in range(count):
        if total <= 0 or power.max() < 1e-12:
            break
        centre = dirs[int(np.argmax(power))]
        near = (dirs @ centre >= cos_cone) & (power > 0)
        if power[near].sum() < 0.05 * total:
            break
        direction = (power[near, None] * dirs[near]).sum(0)
        lights.append((direction / np.linalg.norm(direction),
                       (excess[near] * omega[near, None]).sum(0)))
        power[near] = 0.0
    if len(_KEY_LIGHTS) >= 4:
        _KEY_LIGHTS.pop(next(iter(_KEY_LIGHTS)))
    _KEY_LIGHTS[id(env)] = (env, count, cone_deg, lights)
    return lights


class CastShadows:
    """Cast shadows of the height pass on each light's share of a render (``relight`` uses it).

    Suns, points and area lights scale their contribution by the visibility (area lights
    average it over ``area_samples`` x ``area_samples`` points of the light). HDRIs lose the
    shadowed share of their key lights (``hdri_key_lights``) from the diffuse, and the specular
    follows the diffuse's ratio; their ambient remainder and SH lighting are unshadowed.
    """

    def __init__(self, height, alpha, keep: np.ndarray, options: RenderOptions):
        self.field = ShadowField.from_height(height, alpha, options.height_scale)
        self.pixels = np.flatnonzero(keep)
        self.options = options
        h, w = self.field.shape
        self.pixel_size = options.plane_width / w
        self.center = _vector(options.plane_center, "plane centre")
        self.origin = np.stack([self.pixels % w, self.pixels // w,
                                self.field.surface.reshape(-1)[self.pixels]], -1)

    def _to_pixels(self, world: np.ndarray) -> np.ndarray:
        """A world point in the image space of the march (columns, rows, height, in pixels)."""
        h, w = self.field.shape
        x, y, z = (np.asarray(world, np.float64) - self.center) / self.pixel_size
        return np.array([x + w / 2.0 - 0.5, h / 2.0 - 0.5 - z, -y])

    def _towards(self, world: np.ndarray, select: np.ndarray) -> np.ndarray:
        offset = self._to_pixels(world)[None, :] - self.origin[select]
        reach = np.linalg.norm(offset, axis=1)
        direction = offset / np.maximum(reach, 1e-9)[:, None]
        return march_visibility(self.field, self.pixels[select], direction, reach,
                                self.options.shadow_steps)

    def _lit(self, surf: Surface, to_light_cam: np.ndarray) -> np.ndarray:
        """Pixels that face the light (the others are dark whatever the shadow)."""
        return np.einsum("nc,nc->n", surf.normal, np.broadcast_to(to_light_cam, surf.normal.shape)
                         ) > 0.0

    def visibility(self, surf: Surface, light: Light) -> Optional[np.ndarray]:
        """Visibility (N,) of ``light`` over the covered pixels, or None if it casts none here."""
        vis = np.ones(len(self.pixels), np.float32)
        if isinstance(light, SunLight):
            to_light = lt.world_to_camera(-_unit(light.direction, "sun direction"))
            lit = self._lit(surf, to_light)
            vis[lit] = march_visibility(self.field, self.pixels[lit], _pixel_direction(to_light),
                                        None, self.options.shadow_steps)
            return vis
        if isinstance(light, AreaLight) or hasattr(light, "position"):   # area, point, spot
            if isinstance(light, AreaLight):
                k = min(int(self.options.shadow_area_samples), int(light.samples))
                points = area_light_points(light, max(k, 1))
            else:
                points = [_vector(light.position, "light position")]
            total = np.zeros_like(vis)
            for point in points:
                offset = lt.world_to_camera(point[None, :] - surf.position)
                lit = np.einsum("nc,nc->n", surf.normal, offset) > 0.0
                part = np.ones_like(vis)
                part[lit] = self._towards(point, lit)
                total += part
            return total / len(points)
        return None

    def apply(self, surf: Surface, light: Light, diffuse: np.ndarray, specular: np.ndarray,
              options: RenderOptions) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(light, HdriLight):
            return self._apply_hdri(surf, light, diffuse, specular, options)
        vis = self.visibility(surf, light)
        if vis is None:
            return diffuse, specular
        return diffuse * vis[:, None], specular * vis[:, None]

    def _apply_hdri(self, surf, light, diffuse, specular, options):
        count = int(options.shadow_hdri_lights)
        env = light.source
        if count < 1:
            return diffuse, specular
        if not isinstance(env, lt.PrefilteredEnvironment):
            env = lt.prefiltered_hdri(env, light.search_dirs, options.env_levels)
        keys = hdri_key_lights(env, light.rotation, light.strength, count)
        if not keys:
            return diffuse, specular
        hidden = np.zeros((len(self.pixels), len(keys)))    # hidden share x cosine per key
        for k, (to_light, _) in enumerate(keys):
            cosine = surf.normal @ to_light
            lit = cosine > 0.0
            if lit.any():
                hidden[lit, k] = cosine[lit] * (1.0 - march_visibility(
                    self.field, self.pixels[lit], _pixel_direction(to_light), None,
                    self.options.shadow_steps))
        lost = (hidden @ np.stack([e for _, e in keys])) * surf.albedo
        lost *= (surf.diffuse_weight / np.pi)[:, None]
        shadowed = np.maximum(diffuse - lost, 0.0)
        weights = np.array([0.2126, 0.7152, 0.0722])
        before = diffuse @ weights
        ratio = np.where(before > 1e-12, (shadowed @ weights) / np.maximum(before, 1e-12), 1.0)
        return shadowed, specular * ratio[:, None]


def cast_shadows(passes: Passes, alpha: np.ndarray, keep: np.ndarray, options: RenderOptions,
                 *, position: Optional[np.ndarray] = None) -> Optional[CastShadows]:
    """The cast shadows of ``relight``, or None: off by ``options.shadows = False``, without a
    height pass, or with a ``position`` map (its surface is not the plate's relief)."""
    if options.shadows is False:
        return None
    height = _array(passes.height)
    if height is None or position is not None:
        if options.shadows:
            raise InputError("cast shadows need a height pass on the relight plane "
                             "(and no position map)")
        return None
    return CastShadows(height, alpha, keep, options)


# ------------------------------------------------------------------ entry point

def shade(surf: Surface, light: Light, options: RenderOptions
          ) -> tuple[np.ndarray, np.ndarray]:
    """Diffuse and specular radiance (N x 3 each) of one light."""
    if isinstance(light, HdriLight):
        env = light.source
        if not isinstance(env, lt.PrefilteredEnvironment):
            env = lt.prefiltered_hdri(env, light.search_dirs, options.env_levels)
        return shade_hdri(surf, light, env)
    if isinstance(light, ShLight):
        return shade_sh(surf, ShLight(lt.check_sh(light.coeffs)))
    if isinstance(light, PointLight):
        return shade_point(surf, light)
    if isinstance(light, SunLight):
        return shade_sun(surf, light)
    if isinstance(light, AreaLight):
        return shade_area(surf, light, options.area_samples)
    if isinstance(light, SpotLight):
        return shade_spot(surf, light)
    raise InputError(f"unsupported light {type(light).__name__}")


def cook_torrance(passes: Passes, lighting: Any, options: Optional[RenderOptions] = None,
                  progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None, *,
                  position: Optional[np.ndarray] = None) -> RelitImage:
    """Render the passes under ``lighting`` (see ``as_lights``): the initial relit image.

    With a ``height`` pass the relief casts shadows (``cast_shadows``; ``options.shadows``).
    ``position`` (H x W x 3 world) places the pixels instead of the relight plane.
    Returns diffuse, specular and their sum, H x W x 3 linear, premultiplied by alpha.
    """
    options = options or RenderOptions()
    progress = progress or no_progress
    lights = as_lights(lighting)
    progress(0.0, "preparing passes")
    surf, alpha, keep = surface_from_passes(passes, options, position=position)
    shadows = cast_shadows(passes, alpha, keep, options, position=position)
    diffuse = np.zeros_like(surf.albedo)
    specular = np.zeros_like(surf.albedo)
    for i, light in enumerate(lights):
        check_cancel(cancel)
        d, s = shade(surf, light, options)
        if shadows is not None:
            d, s = shadows.apply(surf, light, d, s, options)
        diffuse += d
        specular += s
        progress((i + 1) / len(lights), f"shaded {type(light).__name__} {i + 1}/{len(lights)}")
    weight = alpha.reshape(-1)[keep, None].astype(np.float32)
    diffuse *= weight
    specular *= weight
    covered = np.flatnonzero(keep)
    rgb = _scatter(diffuse + specular, covered, alpha.shape)
    diffuse, specular = (_scatter(part, covered, alpha.shape) for part in (diffuse, specular))
    return RelitImage(rgb, diffuse, specular, alpha.astype(np.float32))


def _scatter(values: np.ndarray, covered: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Put per-covered-pixel values (K x 3) back at their flat pixel indices ``covered`` of
    an H x W x 3 image, zero elsewhere."""
    out = np.zeros((shape[0] * shape[1], 3), np.float32)
    out[covered] = values
    return out.reshape(shape + (3,))
