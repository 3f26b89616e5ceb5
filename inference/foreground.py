"""The subject's own values at the matte's soft edge: colour decontamination.

A pixel the matte covers only partly shows the subject mixed with what lies behind it,
``I = α·F + (1 − α)·B``. A map that the networks read off such pixels (albedo, roughness, F0)
carries the background into the subject's edge: relit, the sky behind a hat turns into a blue
fringe around it, and on the Blender plate into a blue rim. Keyers call the remedy colour
decontamination: estimate F, the subject's value, and keep it wherever the matte is soft.

Method, for mattes whose soft edge may be wide (a segmentation matte upsampled from its
network's resolution spans many pixels):

1. F̂, the subject's values carried outward from where the matte is solid, and B̂, the
   background's carried inward from where it is clear: push-pull filling (normalised
   convolution over an image pyramid, as in the Lumigraph's hole filling), each pixel
   weighted by α¹⁶ or (1 − α)¹⁶, so that a pixel at α = 0.96 counts half as much as a solid
   one; the pyramid reaches as far as the edge is wide, with no radius to choose.
2. The blur-fusion update of Forte and Pitié ("Approximate Fast Foreground Colour
   Estimation", ICIP 2021): ``F = F̂ + α·(I − α·F̂ − (1 − α)·B̂)``, which gives the observed
   mixture's own detail back in proportion to the matte.

Pixels the matte covers fully come back unchanged, and pixels it leaves out (α = 0) get the
subject's values carried outward, which only shows where something (a feathered matte, the
plate's trimmed border) reveals them. The pipeline runs it at the networks' resolution, before
the guided upsampling (at 1024² it would cost more than the networks).
"""
from __future__ import annotations

import cv2
import numpy as np

SHARPNESS = 16
"""The weights' power: α ** SHARPNESS for the subject, (1 − α) ** SHARPNESS for the
background."""
SOLID = 1.0 - 1e-3
"""Alpha at or above which a pixel is the subject alone, and keeps its value exactly."""


def push_pull(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``values`` (H×W×C) where ``weight`` (H×W, ≥ 0) is high, carried smoothly into where it
    is low: the weighted means of a Gaussian pyramid, each level filled from the coarser one
    in proportion to how little weight it holds itself."""
    levels = [(np.ascontiguousarray(values * weight[..., None], np.float32),
               np.ascontiguousarray(weight, np.float32))]
    while min(levels[-1][1].shape) > 1:
        sums, weights = levels[-1]
        levels.append((cv2.pyrDown(sums).reshape(-1, (sums.shape[1] + 1) // 2, sums.shape[2]),
                       cv2.pyrDown(weights)))
    sums, weights = levels[-1]
    out = sums / np.maximum(weights, 1e-12)[..., None]
    for level, (sums, weights) in reversed(list(enumerate(levels[:-1]))):
        coarse = cv2.pyrUp(out, dstsize=(weights.shape[1], weights.shape[0]))
        out = coarse.reshape(weights.shape + (sums.shape[2],))
        own = np.clip(4.0 * weights, 0.0, 1.0)[..., None]   # a quarter of full weight suffices
        # the level's own weighted mean (at the finest, the values themselves) where it has
        # weight, the coarser level's where it has none
        mean = values if level == 0 else sums / np.maximum(weights, 1e-12)[..., None]
        out += own * (mean - out)
    return out.astype(np.float32, copy=False)


def _relative(weight: np.ndarray) -> np.ndarray:
    return weight / max(float(weight.max()), 1e-30)


def estimate_foreground(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The subject's values F of ``image`` (H×W or H×W×C float) under the soft matte
    ``alpha`` (H×W in [0, 1]): equal to ``image`` where ``alpha`` is 1, and everywhere when
    nothing is solid (no pixel reaches 0.5) or nothing is soft."""
    image = np.asarray(image, np.float32)
    alpha = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0)
    if image.shape[:2] != alpha.shape:
        raise ValueError(f"image {image.shape[:2]} and alpha {alpha.shape} differ in size")
    x = image if image.ndim == 3 else image[..., None]
    if alpha.min() >= SOLID or alpha.max() < 0.5:
        return image.copy()   # nothing soft, or no subject to take values from
    a = alpha[..., None]
    subject = push_pull(x, _relative(alpha ** SHARPNESS))
    background = push_pull(x, _relative((1.0 - alpha) ** SHARPNESS))
    # F = F̂ + α (I − α F̂ − (1 − α) B̂) = F̂ (1 − α²) + α (I − (1 − α) B̂)
    fg = subject * (1.0 - a * a) + a * (x - (1.0 - a) * background)
    solid = alpha >= SOLID
    fg[solid] = x[solid]
    return fg if image.ndim == 3 else fg[..., 0]
