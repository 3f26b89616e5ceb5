"""Unit vectors: the one normalisation of normals, directions and half vectors.

A vector shorter than ``eps`` has no direction; it becomes ``fallback`` (by default +Z, the
camera-facing normal of Relit's camera space), never a division by zero or a zero vector.
The input's floating dtype is kept (float64 light maths stays float64); other dtypes become
float32.
"""
from __future__ import annotations

import cv2
import numpy as np

from .strips import strips

FACING = (0.0, 0.0, 1.0)
EPS = 1e-6


def unit(v: np.ndarray, fallback=FACING, eps: float = EPS) -> np.ndarray:
    """``v`` (..., 3) scaled to unit length along its last axis."""
    v = np.asarray(v)
    if not np.issubdtype(v.dtype, np.floating):
        v = v.astype(np.float32)
    inv, ok = _inverse_length(np.einsum("...c,...c->...", v, v), eps)
    out = v * inv[..., None]
    if not ok.all():
        out[~ok] = fallback
    return out


def unit_planes(x: np.ndarray, y: np.ndarray, z: np.ndarray, fallback=FACING,
                eps: float = EPS) -> np.ndarray:
    """``unit`` of a vector map given as three H×W planes, returned as H×W×3 (full-resolution
    maps: strip by strip, ``strips``, with no full-size temporary besides the result)."""
    out = np.empty(np.shape(x) + (3,), np.result_type(x, y, z, np.float32))
    for rows in strips(len(out), int(np.prod(out.shape[1:-1]))):
        xs, ys, zs = x[rows], y[rows], z[rows]
        sq = xs * xs
        sq += ys * ys
        sq += zs * zs
        inv, ok = _inverse_length(sq, eps)
        part = out[rows]
        part[...] = cv2.merge([xs * inv, ys * inv, zs * inv]).reshape(part.shape)
        if not ok.all():
            part[~ok] = fallback
    return out


def _inverse_length(sq: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    ok = sq > eps * eps
    inv = np.zeros_like(sq)
    np.sqrt(sq, out=inv, where=ok)
    np.divide(1.0, inv, out=inv, where=ok)
    return inv, ok
