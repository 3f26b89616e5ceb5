"""RGBA conventions at the edges of Relit: pixels read from an image that stores sRGB-encoded
colour, an opaque alpha for an image that has none, and straight alpha for the formats that
store it (PNG, JPEG). Everything inside Relit is linear and premultiplied."""
from __future__ import annotations

import numpy as np

from .images import srgb_to_linear, to_rgb


def decode_srgb_colour(rgba: np.ndarray) -> np.ndarray:
    """``rgba`` (H×W×4, colour sRGB-encoded, as a byte image's pixels read through Blender)
    with linear colour; alpha, which is never encoded, untouched. Changes ``rgba`` in place
    and returns it."""
    rgba[..., :3] = srgb_to_linear(rgba[..., :3])
    return rgba


def with_alpha(image: np.ndarray) -> np.ndarray:
    """RGBA as it is; any other image (grey, grey and alpha, RGB) as its RGB with an opaque
    alpha."""
    if image.shape[-1] == 4:
        return image
    return np.dstack([to_rgb(image), np.ones(image.shape[:2], np.float32)])


def unpremultiply(rgba: np.ndarray) -> np.ndarray:
    """Premultiplied RGBA → straight RGBA (for PNG, which stores straight alpha)."""
    alpha = rgba[..., 3:4]
    rgb = np.divide(rgba[..., :3], alpha, out=np.zeros_like(rgba[..., :3]), where=alpha > 1e-6)
    return np.dstack([rgb, alpha])
