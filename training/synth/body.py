"""Procedural geometry around the head: the clothed torso, glasses and occluders. Pure numpy.

Everything is built in the body frame (ICT OBJ frame, cm, +Y up, +Z forward) and returned as
``Mesh`` (vertices, polygons as an (F, 4) quad array or (F, 3) triangles, per-corner UVs).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import ict

RING = 64   # vertices around the torso


@dataclass
class Mesh:
    vertices: np.ndarray   # (V, 3) body-frame cm
    faces: np.ndarray      # (F, n) vertex indices, n = 3 or 4
    uvs: np.ndarray        # (F * n, 2) per-corner UVs


def _grid_faces(rows: int, cols: int, wrap: bool) -> np.ndarray:
    """Quads of a rows x cols vertex grid (columns wrap around when ``wrap``)."""
    r, c = np.meshgrid(np.arange(rows - 1), np.arange(cols if wrap else cols - 1), indexing="ij")
    c1 = (c + 1) % cols
    return np.stack([r * cols + c, (r + 1) * cols + c, (r + 1) * cols + c1, r * cols + c1],
                    -1).reshape(-1, 4)


def _grid_uvs(faces: np.ndarray, rows: int, cols: int, v_of_row: np.ndarray) -> np.ndarray:
    """Per-corner UVs of a (wrapped) grid: u around (0..1, seam-free), v from ``v_of_row``."""
    r, c = faces // cols, faces % cols
    u = c / cols
    # the wrapping quad's last column sits at u = 1, not 0
    u = np.where((c == 0) & (np.roll(c, 1, axis=1) == cols - 1), 1.0, u)
    u = np.where((c == 0) & (np.roll(c, -1, axis=1) == cols - 1), 1.0, u)
    return np.stack([u, v_of_row[r]], -1).reshape(-1, 2)


def neck_ring(verts: np.ndarray, model: ict.IctModel, n: int = RING):
    """The neck's open boundary resampled to ``n`` points by angle around the neck axis."""
    loop = verts[model.neck_loop].astype(np.float64)
    cz = float(loop[:, 2].mean())
    theta = np.arctan2(loop[:, 0], loop[:, 2] - cz)
    order = np.argsort(theta)
    theta, loop = theta[order], loop[order]
    t = np.linspace(-np.pi, np.pi, n, endpoint=False)
    ext_t = np.concatenate([theta - 2 * np.pi, theta, theta + 2 * np.pi])
    ext_p = np.concatenate([loop, loop, loop])
    ring = np.stack([np.interp(t, ext_t, ext_p[:, k]) for k in range(3)], -1)
    return ring, t, cz


def _superellipse_radius(theta: np.ndarray, half_w: float, half_d: float) -> np.ndarray:
    """Radius along angle theta (0 = +Z forward) of |x/W|^3 + |z/D|^3 = 1."""
    s, c = np.abs(np.sin(theta)), np.abs(np.cos(theta))
    return 1.0 / np.cbrt((s / half_w) ** 3 + (c / half_d) ** 3)


def torso(verts: np.ndarray, model: ict.IctModel, cloth: dict) -> tuple[Mesh, dict]:
    """A garment covering the neck's open end, the shoulders and the upper body.

    The collar follows the neck's (sloped) open end; the top widens from it to a superellipse
    of half-width ``shoulder_cm`` (shoulders and arms together, as a head-and-shoulders
    silhouette shows them), falling with ``slope`` (cm per cm) and rolling over the shoulder
    on a circular profile; below, the sides hang straight with a slight taper. Returns the
    mesh and the shoulder description used by hair collision.
    """
    ring, theta, cz = neck_ring(verts, model)
    centre = np.array([0.0, 0.0, cz])
    radial = np.stack([np.sin(theta), np.zeros_like(theta), np.cos(theta)], -1)
    r_neck = np.linalg.norm((ring - centre)[:, [0, 2]], axis=1)
    half_w, half_d = cloth["shoulder_cm"], cloth["depth_cm"]
    torso_cz = cz - 2.0
    r_outer = _superellipse_radius(theta, half_w, half_d)
    roll = 5.5                                                 # shoulder roll-off radius, cm
    rows = []
    collar = cloth["collar_cm"]
    for up, out in ((collar, 0.35), (0.0, 0.6), (-0.7, 1.0)):
        rows.append(ring + radial * out + np.array([0.0, up, 0.0]))
    base_y = ring[:, 1] - 0.7
    slope = cloth["slope"]
    for b in (0.12, 0.25, 0.4, 0.55, 0.68, 0.78, 0.86, 0.92, 0.96, 0.985, 1.0):
        r = (1 - b) * (r_neck + 1.0) + b * r_outer
        x = r * np.sin(theta)
        u = np.clip((np.abs(x) - (half_w - roll)) / roll, 0.0, 1.0)
        d = np.maximum(np.abs(x) - 4.5, 0.0)
        drop = slope * d + 0.012 * d * d + 0.8 * b + roll * (1.0 - np.sqrt(1.0 - u * u))
        z = torso_cz + r * np.cos(theta) + (1 - b) * (cz - torso_cz)
        rows.append(np.stack([x, base_y - drop, z], -1))
    last = rows[-1]
    top_y = last[:, 1].copy()
    for depth in (2.5, 6.0, 12.0, 22.0, 34.0, 46.0):
        taper = 1.0 - 0.05 * min(depth / 30.0, 1.0)
        p = np.stack([last[:, 0] * taper, top_y - depth, torso_cz + (last[:, 2] - torso_cz) *
                      (1.0 - 0.03 * min(depth / 30.0, 1.0))], -1)
        rows.append(p)
    grid = np.stack(rows)                                      # (rows, RING, 3)
    faces = _grid_faces(grid.shape[0], RING, wrap=True)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(grid, axis=0), axis=2)
                                           .mean(axis=1))]) / 100.0
    uvs = _grid_uvs(faces, grid.shape[0], RING, arc)
    faces = faces[:, ::-1]                          # outward normals
    uvs = uvs.reshape(-1, 4, 2)[:, ::-1].reshape(-1, 2)
    shoulders = {"shoulder_cm": half_w, "depth_cm": half_d, "centre_z": torso_cz,
                 "neck_y": float(ring[:, 1].mean()) - 1.5, "slope": slope}
    return Mesh(grid.reshape(-1, 3), faces, uvs), shoulders


# --------------------------------------------------------------------- tubes

def tube(path: np.ndarray, radius: float, sides: int = 8, closed: bool = False) -> Mesh:
    """A tube of ``radius`` swept along a polyline (parallel-transport frames)."""
    path = np.asarray(path, np.float64)
    n = len(path)
    tangents = np.gradient(path, axis=0) if not closed else (np.roll(path, -1, 0) -
                                                             np.roll(path, 1, 0))
    tangents /= np.maximum(np.linalg.norm(tangents, axis=1, keepdims=True), 1e-9)
    ref = np.array([0.0, 0.0, 1.0]) if abs(tangents[0, 2]) < 0.9 else np.array([1.0, 0, 0])
    normal = np.cross(tangents[0], ref)
    normal /= np.linalg.norm(normal)
    frames = []
    for t in tangents:
        normal = normal - (normal @ t) * t
        normal /= max(np.linalg.norm(normal), 1e-9)
        frames.append((normal, np.cross(t, normal)))
    ang = np.linspace(0, 2 * np.pi, sides, endpoint=False)
    verts = np.array([path[i] + radius * (np.cos(a) * frames[i][0] + np.sin(a) * frames[i][1])
                      for i in range(n) for a in ang])
    faces = _grid_faces(n + (1 if closed else 0), sides, wrap=True)
    faces = faces % (n * sides)
    uvs = np.zeros((faces.size, 2))
    return Mesh(verts, faces, uvs)


def merge(meshes: list[Mesh]) -> Mesh:
    verts, faces, uvs, base = [], [], [], 0
    for m in meshes:
        verts.append(m.vertices)
        faces.append(m.faces + base)
        uvs.append(m.uvs)
        base += len(m.vertices)
    return Mesh(np.concatenate(verts), np.concatenate(faces), np.concatenate(uvs))


def _lens_outline(centre, w: float, h: float, exponent: float, n: int = 40) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    x = np.sign(c) * np.abs(c) ** (2.0 / exponent) * w / 2
    y = np.sign(s) * np.abs(s) ** (2.0 / exponent) * h / 2
    return np.asarray(centre) + np.stack([x, y, np.zeros_like(x)], -1)


def glasses(verts: np.ndarray, model: ict.IctModel, spec: dict) -> tuple[Mesh, Mesh | None]:
    """Frames (rims, bridge, temples) in front of the unposed head, plus sunglass lenses."""
    lm = verts[model.landmarks68].astype(np.float64)
    eye_r, eye_l = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    front_z = max(eye_r[2], eye_l[2]) + 1.6
    w, h = spec["lens_w_cm"], spec["lens_h_cm"]
    half_gap = max(0.5 * abs(eye_l[0] - eye_r[0]) - 0.5 * w, 0.6)
    cy = 0.5 * (eye_r[1] + eye_l[1]) - 0.2
    centres = [np.array([-(half_gap + w / 2), cy, front_z]),
               np.array([half_gap + w / 2, cy, front_z])]
    rim = spec["rim_mm"] / 20.0
    parts, lenses = [], []
    for c in centres:
        outline = _lens_outline(c, w, h, spec["shape"])
        # wrap: the outer side bends back a little
        outline[:, 2] -= 0.08 * (np.abs(outline[:, 0]) - abs(c[0]) + w / 2) ** 1.3
        parts.append(tube(outline, rim, 6, closed=True))
        if spec["kind"] == "sunglasses":
            lenses.append(outline)
    bridge = np.array([[-half_gap, cy + h * 0.2, front_z], [0.0, cy + h * 0.3, front_z + 0.15],
                       [half_gap, cy + h * 0.2, front_z]])
    parts.append(tube(bridge, rim * 0.8, 6))
    for side in (-1.0, 1.0):
        ear = lm[16] if side > 0 else lm[0]
        start = np.array([side * (half_gap + w), cy + h * 0.25, front_z - 0.3])
        path = np.array([start, [side * (abs(ear[0]) + 0.6), ear[1] + 1.2, ear[2] + 2.5],
                         [side * (abs(ear[0]) + 0.4), ear[1] + 0.9, ear[2] - 1.5]])
        parts.append(tube(path, rim * 0.8, 6))
    lens_mesh = None
    if lenses:
        lens_parts = []
        for outline in lenses:
            centre = outline.mean(axis=0)
            v = np.concatenate([[centre], outline])
            k = len(outline)
            f = np.stack([np.zeros(k, int), 1 + np.arange(k), 1 + (np.arange(k) + 1) % k], -1)
            lens_parts.append(Mesh(v, f, np.zeros((f.size, 2))))
        lens_mesh = merge(lens_parts)
    return merge(parts), lens_mesh


def occluder(spec: dict, face_centre: np.ndarray) -> Mesh:
    """A capsule (a held object: microphone, cup, phone-like) near the lower face."""
    c = np.asarray(face_centre, np.float64) + np.array(
        [spec["side"] * (7.0 + 7.0 * spec["reach"]), spec["height"] * 10.0,
         6.0 + 6.0 * spec["reach"]])
    tilt = np.radians(spec["tilt"])
    axis = np.array([np.sin(tilt) * 0.6, np.cos(tilt), 0.3])
    axis /= np.linalg.norm(axis)
    half = spec["length_cm"] / 2
    t = np.linspace(-1.0, 1.0, 12)
    path = c + np.outer(t * half, axis)
    m = tube(path, spec["radius_cm"], 16)
    # round caps: shrink the end rings
    ring = 16
    v = m.vertices.reshape(len(path), ring, 3)
    for end, nxt in ((0, 1), (-1, -2)):
        v[end] = path[end] + (v[nxt] - path[nxt]) * 0.35
    return Mesh(v.reshape(-1, 3), m.faces, m.uvs)
