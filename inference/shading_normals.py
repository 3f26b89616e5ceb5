"""Normals corrected by the photo's own shading over the skin (shape from shading).

NormalNet learnt the factory's faces; on a real face it leans toward the face-mesh prior where
the photo's cues are weak (on Yale B its lower face tilts down against the photometric-stereo
reference). The photo says more: over skin of one albedo, its luminance divided by that albedo
is the irradiance, and under the SH lighting fitted to the photo (``pipeline.fit_face_lighting``)
the irradiance says how far each normal turns toward or away from the light.

``correct`` solves, per pixel of the skin,

    min_n  w·(t − E(n))² + β·|n − n₀|²,   |n| = 1,

by Gauss-Newton steps on the tangent plane: ``n₀`` is NormalNet's normal, ``E`` the SH
irradiance (a quadratic form in n, ``irradiance_form``), ``t`` the luminance over the skin's
albedo (the median of luminance / E(n₀) over the lit skin, so that the skin the net got right
sets it), ``w`` the skin weight, and ``β`` (``HOLD`` × the light's level²) holds each normal to
NormalNet's answer. One equation per pixel moves a normal along the irradiance gradient only.
Pixels far from what E(n₀) predicts (cast shadows, dark stubble, highlights: more than
``ROBUST`` in log ratio) weigh little, and pixels in attached shadow none. The change is then blurred over the skin by ``sigma``, so that only the
smooth shape moves (the photo's fine texture goes into the albedo, ``pipeline.detail_albedo``),
limited to ``MAX_DEG``, and faded out away from the skin.
"""
from __future__ import annotations

import cv2
import numpy as np

from . import images, lighting, vectors

HOLD = 0.5
"""β over the squared light level (the 95th percentile of E(n₀) on the skin): how strongly each
normal is held to NormalNet's answer. Chosen on Yale B's development subjects (yaleB01, yaleB02)
and the synthetic development set, MODEL_CARD.md."""
ROBUST = 0.5
"""The log ratio of photo to predicted shading at which a pixel's weight falls to 1/e."""
MAX_DEG = 25.0
"""The most a normal may turn."""
STEPS = 8
SHADOW = 0.05
"""Pixels where E(n₀) is under this fraction of the light's level are in attached shadow: the
photo there says nothing about the normal."""


def irradiance_form(sh: np.ndarray) -> np.ndarray:
    """The luminance of ``pipeline.lighting_shading`` (E(n)/π of the SH ``sh``, 9×3) as a
    quadratic form: E(n) = [n, 1]ᵀ·M·[n, 1], M 4×4 symmetric."""
    coeffs = lighting.check_sh(sh) * lighting.COSINE_LOBE[lighting.SH_BAND][:, None] / np.pi
    c = images.luminance(coeffs[None].astype(np.float32))[0].astype(np.float64)
    c = c * lighting.SH_CONSTANTS
    # the basis: 1, y, z, x, xy, yz, 3z² − 1, xz, x² − y²
    m = np.zeros((4, 4))
    m[0, 0], m[1, 1], m[2, 2], m[3, 3] = c[8], -c[8], 3.0 * c[6], c[0] - c[6]
    for (i, j), k in {(0, 1): 4, (1, 2): 5, (0, 2): 7, (0, 3): 3, (1, 3): 1, (2, 3): 2}.items():
        m[i, j] = m[j, i] = c[k] / 2.0
    return m


def irradiance(n: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """E(n) (…) and its gradient in n (…×3) under the form ``m`` (``irradiance_form``)."""
    # n @ M₃ₓ₃ written out: a matrix product with an inner size of 3 is slow in NumPy
    lin = n[..., 0:1] * m[0, :3] + n[..., 1:2] * m[1, :3] + n[..., 2:3] * m[2, :3] + m[:3, 3]
    return _dot(n, lin) + _dot(n, m[:3, 3]) + m[3, 3], 2.0 * lin


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.einsum("...i,...i->...", a, b)


def _tangent(v: np.ndarray, n: np.ndarray) -> np.ndarray:
    return v - _dot(v, n)[..., None] * n


def correct(normal: np.ndarray, rgb: np.ndarray, sh: np.ndarray, skin: np.ndarray,
            sigma: float) -> np.ndarray:
    """``normal`` (H×W×3, unit) corrected toward the shading of ``rgb`` (H×W×3 linear) under
    the SH lighting ``sh`` (9×3) over ``skin`` (H×W weights in [0, 1]); the change is blurred
    by ``sigma`` pixels. No lit skin, or ``sigma`` under half a pixel: ``normal`` unchanged."""
    normal = np.asarray(normal, np.float32)
    at = np.flatnonzero(np.asarray(skin) > 0)  # the solve runs on the skin's pixels alone
    if sigma < 0.5 or not at.size:
        return normal
    n0 = vectors.unit(normal.reshape(-1, 3)[at].astype(np.float64))
    w = np.clip(np.asarray(skin, np.float64).reshape(-1)[at], 0.0, 1.0)
    m = irradiance_form(sh)
    e0, _ = irradiance(n0, m)
    level = float(np.percentile(e0[w > 0.5], 95)) if (w > 0.5).any() else 0.0
    w = w * (e0 > SHADOW * level)
    lit = w > 0.5
    if level <= 0 or not lit.any():
        return normal
    lum = images.luminance(np.asarray(rgb, np.float32)).reshape(-1)[at].astype(np.float64)
    target = lum / max(float(np.median(lum[lit] / e0[lit])), 1e-6)
    w = w * np.exp(-np.square(np.log(np.maximum(target, 1e-6) / np.maximum(e0, 1e-6))
                              / ROBUST))
    beta = HOLD * level * level
    n = n0.copy()
    for _ in range(STEPS):
        e, grad = irradiance(n, m)
        g = _tangent(grad, n)
        b = (w * (target - e))[:, None] * g - beta * _tangent(n - n0, n)
        # (w g gᵀ + β I) step = b, by Sherman-Morrison
        step = (b - (w * _dot(g, b) / (beta + w * _dot(g, g)))[:, None] * g) / beta
        n = vectors.unit(n + step)
    # the change, blurred, reaches 4 σ past the skin: only that window is touched
    h, w_img = normal.shape[:2]
    rows, cols = np.divmod(at, w_img)
    margin = int(np.ceil(4 * sigma))
    r0, r1 = max(rows.min() - margin, 0), min(rows.max() + margin + 1, h)
    c0, c1 = max(cols.min() - margin, 0), min(cols.max() + margin + 1, w_img)
    moved = np.zeros((r1 - r0, c1 - c0, 3), np.float32)
    moved[rows - r0, cols - c0] = n - n0
    weight = np.zeros((r1 - r0, c1 - c0), np.float32)
    weight[rows - r0, cols - c0] = w
    change = images.weighted_blur(moved, weight, sigma)
    reach = np.clip(cv2.GaussianBlur(weight, (0, 0), sigma) / 0.5, 0.0, 1.0)
    window = normal[r0:r1, c0:c1]
    out = normal.copy()
    out[r0:r1, c0:c1] = limit_turn(vectors.unit(window + reach[..., None] * change), window,
                                   MAX_DEG)
    return out


def limit_turn(n: np.ndarray, n0: np.ndarray, max_deg: float) -> np.ndarray:
    """Unit normals ``n`` turned back, on the great circle from ``n0``, to at most ``max_deg``
    from ``n0``."""
    cos = np.clip(_dot(n, n0), -1.0, 1.0)
    over = cos < np.cos(np.radians(max_deg))
    if not over.any():
        return n
    away = vectors.unit(_tangent(n, n0))
    limited = np.cos(np.radians(max_deg)) * n0 + np.sin(np.radians(max_deg)) * away
    return np.where(over[..., None], limited, n)
