"""The camera behind a photo, as far as Relit models it, and the face prior in its space.

A photo's camera is a pinhole whose principal point is the image centre and whose focal length
is given as on Blender's camera: millimetres on a 36 mm sensor fitted to the image's long side
(Blender's default camera has 50 mm, ``DEFAULT_FOCAL_MM``).

MediaPipe's face mesh is weak-perspective: its normals are those of the face seen straight
along the ray from the camera to it (the *ray frame*). Off the optical axis that ray is not the
camera's axis, and a face above the frame's centre is seen from below: its mesh faces up
against the camera-space truth by about the ray's angle. The factory's head-and-shoulders
framings aim the camera at the chest, so its faces sit above the axis and their priors face up
(``python -m training.evaluate prior-frame`` measures it). ``prior_to_camera`` turns the prior
from the ray frame into camera space with one rotation, the one that takes +Z to the direction
from the face's centre to the camera.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .vectors import unit

SENSOR_MM = 36.0  # Blender's default sensor width, fitted to the long side
DEFAULT_FOCAL_MM = 50.0  # Blender's default camera


@dataclass(frozen=True)
class Pinhole:
    """A pinhole camera in an image's pixels: focal length and principal point (pixel centres
    at i + 0.5, x right, y down)."""

    focal_px: float
    cx: float
    cy: float

    @classmethod
    def of_image(cls, shape: tuple[int, int], focal_mm: float = DEFAULT_FOCAL_MM,
                 shift: tuple[float, float] = (0.0, 0.0)) -> "Pinhole":
        """The camera of an H×W image taken with ``focal_mm`` (36 mm sensor on the long side)
        and Blender's lens ``shift`` (in units of the long side; 0 puts the axis at the centre)."""
        if not np.isfinite(focal_mm) or focal_mm <= 0:
            raise ValueError(f"focal length must be positive millimetres, got {focal_mm!r}")
        h, w = shape
        side = float(max(h, w))
        return cls(focal_mm / SENSOR_MM * side, w / 2.0 - shift[0] * side,
                   h / 2.0 + shift[1] * side)

    def scaled(self, factor: float) -> "Pinhole":
        """The same camera in an image resized by ``factor``."""
        return Pinhole(self.focal_px * factor, self.cx * factor, self.cy * factor)

    def padded(self, pad: float) -> "Pinhole":
        """The same camera in the image padded by ``pad`` pixels on every side."""
        return Pinhole(self.focal_px, self.cx + pad, self.cy + pad)

    def toward_camera(self, x: float, y: float) -> np.ndarray:
        """Unit camera-space direction (+X right, +Y up, +Z toward the viewer) from the point
        seen at pixel (x, y) to the camera."""
        return unit(np.array([-(x - self.cx) / self.focal_px, (y - self.cy) / self.focal_px,
                              1.0]))


def rotation_from_z(direction: np.ndarray) -> np.ndarray:
    """The 3×3 rotation taking +Z to the unit ``direction`` about their common perpendicular."""
    z = np.array([0.0, 0.0, 1.0])
    axis = np.cross(z, direction)
    sin, cos = float(np.linalg.norm(axis)), float(direction @ z)
    if sin < 1e-12:
        if cos > 0:
            return np.eye(3)
        return np.diag([1.0, -1.0, -1.0])  # half a turn about X
    k = axis / sin
    cross = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + sin * cross + (1.0 - cos) * cross @ cross


def face_ray(mask: np.ndarray, camera: Pinhole) -> np.ndarray | None:
    """The unit direction from the centre of the prior's ``mask`` (H×W) to the camera: the ray
    MediaPipe's weak-perspective mesh is seen along. None for an empty mask."""
    rows, cols = np.nonzero(mask > 0.5)
    if not len(rows):
        return None
    return camera.toward_camera(cols.mean() + 0.5, rows.mean() + 0.5)


def prior_to_camera(normal: np.ndarray, mask: np.ndarray, camera: Pinhole) -> np.ndarray:
    """The face prior's normals (H×W×3, ray frame, zero outside ``mask``) in camera space: turned
    by the rotation that takes +Z to ``face_ray``. Zero stays zero; an empty mask gives the
    normals back unchanged."""
    ray = face_ray(mask, camera)
    if ray is None:
        return normal
    rows, cols = np.nonzero(mask > 0.5)
    rot = rotation_from_z(ray)
    out = np.zeros_like(normal)
    out[rows, cols] = normal[rows, cols] @ rot.T.astype(normal.dtype)
    return out
