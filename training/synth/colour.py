"""Colour science for the factory: skin tones from ITA, blackbody light colours. Pure numpy.

All colours are linear Rec.709 / sRGB primaries, D65 white, like Blender's scene linear space.
"""
from __future__ import annotations

import numpy as np

# XYZ (D65) -> linear sRGB
XYZ_TO_RGB = np.array([[3.2404542, -1.5371385, -0.4985314],
                       [-0.9692660, 1.8760108, 0.0415560],
                       [0.0556434, -0.2040259, 1.0572252]])
D65_WHITE = np.array([0.95047, 1.0, 1.08883])
REC709_LUMA = np.array([0.2126, 0.7152, 0.0722])

# Individual Typology Angle bands (degrees), lightest first, as used to grade skin colour
# (Chardon et al. 1991; Del Bino et al. 2006): very light, light, intermediate, tan, brown, dark.
ITA_BANDS = ((55.0, 70.0), (41.0, 55.0), (28.0, 41.0), (10.0, 28.0), (-30.0, 10.0),
             (-70.0, -30.0))
SKIN_L_MIN = 22.0


def lab_to_linear_rgb(lab) -> np.ndarray:
    """CIE L*a*b* (D65) to linear sRGB, clipped to [0, 1]."""
    L, a, b = (float(x) for x in lab)
    fy = (L + 16.0) / 116.0
    fx, fz = fy + a / 500.0, fy - b / 200.0

    def finv(t):
        return t ** 3 if t > 6.0 / 29.0 else 3.0 * (6.0 / 29.0) ** 2 * (t - 4.0 / 29.0)

    xyz = D65_WHITE * np.array([finv(fx), finv(fy), finv(fz)])
    return np.clip(XYZ_TO_RGB @ xyz, 0.0, 1.0)


def skin_lab(ita_deg: float, b_star: float, a_star: float) -> tuple[float, float, float]:
    """L*a*b* of a skin colour with the given ITA = atan((L* - 50) / b*)."""
    L = 50.0 + b_star * np.tan(np.radians(ita_deg))
    return (float(max(L, SKIN_L_MIN)), float(a_star), float(b_star))


def luminance(rgb) -> float:
    return float(np.dot(REC709_LUMA, np.asarray(rgb, np.float64)))


# --------------------------------------------------------------------- blackbody

def _cie_cmf(lam_nm: np.ndarray) -> np.ndarray:
    """CIE 1931 2-degree colour matching functions, multi-lobe Gaussian fit (Wyman, Sloan and
    Shirley 2013), (N, 3)."""
    lam = np.asarray(lam_nm, np.float64)

    def g(x, mu, s1, s2):
        s = np.where(x < mu, s1, s2)
        return np.exp(-0.5 * ((x - mu) / s) ** 2)

    x = 1.056 * g(lam, 599.8, 37.9, 31.0) + 0.362 * g(lam, 442.0, 16.0, 26.7) \
        - 0.065 * g(lam, 501.1, 20.4, 26.2)
    y = 0.821 * g(lam, 568.8, 46.9, 40.5) + 0.286 * g(lam, 530.9, 16.3, 31.1)
    z = 1.217 * g(lam, 437.0, 11.8, 36.0) + 0.681 * g(lam, 459.0, 26.0, 13.8)
    return np.stack([x, y, z], axis=-1)


def blackbody_rgb(kelvin: float) -> np.ndarray:
    """Linear sRGB colour of a blackbody at ``kelvin``, scaled to Rec.709 luminance 1.

    Planck's law integrated against the CIE 1931 observer, converted to sRGB primaries and
    white-balanced to D65 (so 6504 K is close to grey). Negative components are clipped.
    """
    lam = np.linspace(380.0, 780.0, 401)
    h, c, k = 6.62607015e-34, 2.99792458e8, 1.380649e-23
    lm = lam * 1e-9
    spectrum = 1.0 / (lm ** 5 * (np.exp(h * c / (lm * k * float(kelvin))) - 1.0))
    xyz = (_cie_cmf(lam) * spectrum[:, None]).sum(axis=0)
    rgb = np.clip(XYZ_TO_RGB @ (xyz / xyz[1]), 0.0, None)
    white = np.clip(XYZ_TO_RGB @ D65_WHITE, 1e-6, None)
    rgb = rgb / white
    return rgb / luminance(rgb)


def hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    """HSV (all in [0, 1]) to RGB in [0, 1]."""
    i = int(h * 6.0) % 6
    f = h * 6.0 - int(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])
