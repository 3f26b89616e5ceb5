"""The plate's geometry, without Blender: how large the camera-fitted plane is, how its grid is
divided, which quads the matte covers and the relief it is displaced by. ``datablocks.plate``
builds the Blender plane from these."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from .integrate import extend_outside

COVER_THRESHOLD = 1.0 / 255.0    # below one 8-bit step a pixel is empty


def plane_size(frame_size: tuple[float, float], width: int, height: int
               ) -> tuple[float, float]:
    """The plane's size: the image's aspect, as large as fits in the camera frame of
    ``frame_size`` (exactly the frame when their aspects match, as after ``fit_resolution``)."""
    fw, fh = frame_size
    if width / height >= fw / fh:
        return fw, fw * height / width
    return fh * width / height, fh


def grid_counts(width: int, height: int, subdivisions: int) -> tuple[int, int]:
    """Quads (x, y) of the grid: ``subdivisions`` on the long side, at most one per pixel."""
    long_side = max(1, min(int(subdivisions), max(width, height)))
    if width >= height:
        return long_side, max(1, round(long_side * height / width))
    return max(1, round(long_side * width / height)), long_side


def matte_cover(alpha: np.ndarray, counts: tuple[int, int]) -> np.ndarray:
    """Per quad of a ``counts`` grid (rows bottom to top, as the plate's grid orders its faces):
    does the quad, or a neighbour, hold a pixel of ``alpha`` (H×W, top row first) above one
    8-bit step? Conservative: a quad's footprint is rounded outwards."""
    nx, ny = counts
    alpha = np.asarray(alpha, np.float32)
    alpha = alpha[..., 0] if alpha.ndim == 3 else alpha
    h, w = alpha.shape
    filled = alpha[::-1] > COVER_THRESHOLD            # rows bottom to top, like the grid
    xs = np.floor(np.arange(nx + 1) * w / nx).astype(int)
    ys = np.floor(np.arange(ny + 1) * h / ny).astype(int)
    cols = np.logical_or.reduceat(filled, xs[:-1], axis=1) if w else filled
    cover = np.logical_or.reduceat(cols, ys[:-1], axis=0)
    grown = np.pad(cover, 1)                            # and the eight neighbours
    return np.any([grown[1 + dy:1 + dy + ny, 1 + dx:1 + dx + nx]
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0)


def relief(arrays: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """The height the plate is displaced by: the height pass (H×W), extended past the matte
    when there is one, so the displaced plate has no cliff where the matte ends; None
    without a height pass."""
    height = arrays.get("height")
    if height is None:
        return None
    if "alpha" not in arrays:
        return height
    return extend_outside(height[..., 0] if height.ndim == 3 else height, arrays["alpha"] > 0.5)
