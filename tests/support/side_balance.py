"""Left/right brightness of a render inside its matte, the measure both renderers' light
tests use (tests/unit/test_lightspec.py, tests/blender/test_batch_lights.py).

``side_balance(rgba)`` is ``(left, right)``: the mean linear luminance of the matte's pixels
in the image's left and right halves. Two things are left out so that the numpy render and a
Cycles render of the same plate are measured alike:
- a band ``band`` pixels either side of the centre column: Cycles' pixel filter (a 1.5 px
  Blackman-Harris by default) carries light across the middle, where the bust's nose puts a
  hard lit/shadowed edge, and the numpy renderer samples pixel centres;
- the matte's outer ``erode`` pixels, where the filtered Cycles alpha falls below 1.
"""
import cv2
import numpy as np

LUMA = np.array([0.2126, 0.7152, 0.0722])


def side_balance(rgba: np.ndarray, band: int = 4, erode: int = 2, mask=None):
    rgba = np.asarray(rgba, np.float64)
    inside = rgba[..., 3] > 0.5 if mask is None else np.asarray(mask, bool)
    if erode:
        kernel = np.ones((2 * erode + 1, 2 * erode + 1), np.uint8)
        inside = cv2.erode(inside.astype(np.uint8), kernel) > 0
    lum = rgba[..., :3] @ LUMA
    x = np.arange(rgba.shape[1])[None, :] + 0.5 - rgba.shape[1] / 2.0
    left, right = inside & (x < -band), inside & (x > band)
    assert left.sum() > 50 and right.sum() > 50, "too few pixels to compare"
    return float(lum[left].mean()), float(lum[right].mean())
