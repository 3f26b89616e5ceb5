"""The ICT-FaceKit head model: loading, identity/expression mixing, head pose, regions.

Pure numpy. Positions are kept in the model's OBJ frame (centimetres, +Y up, +Z out of the
face) until ``to_blender`` maps them to Blender metres: (x, y, z) -> (x, -z, y) * 0.01, so the
neutral face looks along Blender -Y, toward the relight camera.

Identities
----------
The 80 ``identity_deltas`` are the toolkit's PCA shape modes (their RMS falls from 0.39 cm to
0.011 cm, and the toolkit samples a person as weights ~ N(0, 1) per mode). A convex mixture of
the modes themselves would barely move the mean face, and "modes 72-79" would be near-mean faces
only. So the factory mixes **anchor identities**: 80 fixed persons, each a standard-normal weight
vector over all 80 modes drawn once from ``ANCHOR_SEED``. ``--split train`` mixes anchors 0-71,
``--split val`` anchors 72-79 only, so validation faces are mixtures of persons never used in
training. See ``params.sample_identity``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

ENV_ICT = "RELIT_ICT"
MODEL_FILE = "ict_face_model.npz"

# material slots of the model (face_material values)
M_FACE, M_BACKHEAD, M_GUMS, M_TEETH = 0, 1, 2, 3
M_SCLERA_L, M_IRIS_L, M_SCLERA_R, M_IRIS_R = 4, 5, 6, 7
M_LACRIMAL, M_EYEBLEND, M_EYEOCCLUSION, M_LASHES = 8, 9, 10, 11
# overlay meshes made for real-time shading (tear film, blend and occlusion shadows): dropped
DROPPED_MATERIALS = (M_LACRIMAL, M_EYEBLEND, M_EYEOCCLUSION)

# head rotation pivot (OBJ cm, about the upper cervical spine) and the neck blend band: the
# head is rigid above y = NECK_RIGID, the neck bottom (y below NECK_FIXED) stays with the body
HEAD_PIVOT = np.array([0.0, -4.0, -1.5])
NECK_FIXED, NECK_RIGID = -17.0, -8.5


def default_ict_dir() -> Path:
    """``$RELIT_ICT`` or ``<repo>/../shared/data/ict_facekit``."""
    env = os.environ.get(ENV_ICT)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "ict_facekit"


@dataclass(frozen=True)
class IctModel:
    """The model's arrays; faces whose material is in ``DROPPED_MATERIALS`` are removed."""

    vertices: np.ndarray           # (V, 3) float32, neutral, OBJ cm
    identity: np.ndarray           # (80, V, 3) float32
    expression: np.ndarray         # (53, V, 3) float32
    expression_names: tuple
    poly_offsets: np.ndarray       # (P + 1,) int32 into poly_vertices
    poly_vertices: np.ndarray      # corner vertex indices
    poly_uvs: np.ndarray           # (corners, 2) float32 UV of each corner
    poly_material: np.ndarray      # (P,) int8
    landmarks68: np.ndarray        # (68,) vertex indices
    neck_loop: np.ndarray          # vertex indices of the open neck boundary, in order

    @property
    def n_vertices(self) -> int:
        return len(self.vertices)

    def triangles(self, materials=None) -> tuple[np.ndarray, np.ndarray]:
        """Fan triangulation: (T, 3) vertex indices and (T, 3) corner indices."""
        sizes = np.diff(self.poly_offsets)
        keep = np.ones(len(sizes), bool) if materials is None else np.isin(
            self.poly_material, materials)
        tris_v, tris_c = [], []
        for k in (1, 2):  # triangle (0, k, k+1) of every polygon with more than k+1 corners
            sel = keep & (sizes > k + 1)
            start = self.poly_offsets[:-1][sel]
            corners = np.stack([start, start + k, start + k + 1], axis=1)
            tris_c.append(corners)
            tris_v.append(self.poly_vertices[corners])
        return np.concatenate(tris_v), np.concatenate(tris_c)


def _neck_loop(offsets, verts_idx, material) -> np.ndarray:
    """The ordered boundary loop of the face + back-of-head surface (the neck's open end)."""
    sizes = np.diff(offsets)
    sel = np.isin(material, (M_FACE, M_BACKHEAD))
    poly = np.repeat(np.arange(len(sizes)), sizes)
    nxt = np.arange(len(verts_idx)) + 1
    ends = offsets[1:] - 1
    nxt[ends] = offsets[:-1]
    corner_sel = sel[poly]
    a, b = verts_idx[corner_sel], verts_idx[nxt][corner_sel]
    key = np.minimum(a, b).astype(np.int64) * 1_000_000 + np.maximum(a, b)
    uniq, counts = np.unique(key, return_counts=True)
    border = uniq[counts == 1]
    ea, eb = border // 1_000_000, border % 1_000_000
    adjacency: dict[int, list[int]] = {}
    for x, y in zip(ea.tolist(), eb.tolist()):
        adjacency.setdefault(x, []).append(y)
        adjacency.setdefault(y, []).append(x)
    start = min(adjacency)
    loop, prev, cur = [start], None, start
    while True:
        options = [n for n in adjacency[cur] if n != prev]
        nxt_v = options[0]
        if nxt_v == start:
            break
        loop.append(nxt_v)
        prev, cur = cur, nxt_v
    return np.array(loop, np.int64)


@lru_cache(maxsize=2)
def load_ict(folder: str | os.PathLike | None = None) -> IctModel:
    """Load (and cache) the compact ICT model from ``folder`` (see ``default_ict_dir``)."""
    folder = Path(folder) if folder else default_ict_dir()
    path = folder / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"ICT-FaceKit model not found: {path} (set --ict or {ENV_ICT})")
    data = np.load(path)
    offsets = data["face_offsets"].astype(np.int64)
    material = data["face_material"].astype(np.int8)
    keep = ~np.isin(material, DROPPED_MATERIALS)
    sizes = np.diff(offsets)[keep]
    corner_keep = np.repeat(keep, np.diff(offsets))
    poly_vertices = data["face_vertex_indices"].astype(np.int64)[corner_keep]
    poly_uvs = data["uvs"][data["face_uv_indices"][corner_keep]].astype(np.float32)
    new_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    material = material[keep]
    return IctModel(
        vertices=data["vertices"].astype(np.float32),
        identity=data["identity_deltas"].astype(np.float32),
        expression=data["expression_deltas"].astype(np.float32),
        expression_names=tuple(str(n) for n in data["expression_names"]),
        poly_offsets=new_offsets,
        poly_vertices=poly_vertices,
        poly_uvs=poly_uvs,
        poly_material=material,
        landmarks68=data["landmark_vertices_68"].astype(np.int64),
        neck_loop=_neck_loop(new_offsets, poly_vertices, material),
    )


def deform(model: IctModel, identity_coeffs, expression_weights) -> np.ndarray:
    """Neutral + identity modes + expression blendshapes (OBJ cm, float32)."""
    ident = np.asarray(identity_coeffs, np.float32)
    expr = np.asarray(expression_weights, np.float32)
    verts = model.vertices + np.tensordot(ident, model.identity, axes=1)
    active = np.nonzero(expr)[0]
    if len(active):
        verts = verts + np.tensordot(expr[active], model.expression[active], axes=1)
    return verts.astype(np.float32)


# ------------------------------------------------------------------ rotations and pose

def rotation_matrix(axis, degrees: float) -> np.ndarray:
    """Right-handed rotation about a unit axis."""
    axis = np.asarray(axis, np.float64)
    axis = axis / np.linalg.norm(axis)
    t = np.radians(degrees)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * (k @ k)


def head_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Head rotation in the OBJ frame (+Y up, +Z toward the camera, +X image right).

    yaw > 0 turns the face toward image right, pitch > 0 tilts it up, roll > 0 tilts the top
    of the head toward image right. Applied as roll, then pitch, then yaw (outermost).
    """
    r_yaw = rotation_matrix((0, 1, 0), yaw)       # about up: +Z (face) swings to +X
    r_pitch = rotation_matrix((1, 0, 0), -pitch)  # about X: +Z swings to +Y for pitch > 0
    r_roll = rotation_matrix((0, 0, 1), -roll)    # about the view axis: +Y swings to +X
    return r_yaw @ r_pitch @ r_roll


def _rotvec(matrix: np.ndarray) -> np.ndarray:
    """Axis * angle (radians) of a rotation matrix."""
    angle = np.arccos(np.clip((np.trace(matrix) - 1.0) / 2.0, -1.0, 1.0))
    if angle < 1e-9:
        return np.zeros(3)
    axis = np.array([matrix[2, 1] - matrix[1, 2], matrix[0, 2] - matrix[2, 0],
                     matrix[1, 0] - matrix[0, 1]]) / (2.0 * np.sin(angle))
    return axis * angle


def neck_weights(verts: np.ndarray) -> np.ndarray:
    """Per-vertex share of the head rotation: 1 on the head, easing to 0 at the neck base."""
    t = np.clip((verts[:, 1] - NECK_FIXED) / (NECK_RIGID - NECK_FIXED), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def pose(verts: np.ndarray, rotation: np.ndarray, weights: np.ndarray,
         pivot: np.ndarray = HEAD_PIVOT) -> np.ndarray:
    """Rotate vertices about ``pivot`` by ``weights`` (0..1) times ``rotation`` (slerped)."""
    rv = _rotvec(rotation)
    angle = np.linalg.norm(rv)
    rel = verts.astype(np.float64) - pivot
    if angle < 1e-9:
        return verts.copy()
    axis = rv / angle
    theta = weights.astype(np.float64)[:, None] * angle
    cos, sin = np.cos(theta), np.sin(theta)
    cross = np.cross(axis, rel)
    dot = rel @ axis
    out = rel * cos + cross * sin + np.outer(dot, axis) * (1.0 - cos)
    return (out + pivot).astype(np.float32)


def to_blender(points: np.ndarray) -> np.ndarray:
    """OBJ-frame centimetres (..., 3) to Blender metres: (x, -z, y) / 100."""
    p = np.asarray(points, np.float64)
    return (np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1) * 0.01).astype(np.float32)


def to_blender_dir(vectors: np.ndarray) -> np.ndarray:
    """OBJ-frame directions to Blender directions (no scaling)."""
    v = np.asarray(vectors, np.float64)
    return np.stack([v[..., 0], -v[..., 2], v[..., 1]], axis=-1)


def vertex_normals(verts: np.ndarray, model: IctModel, materials=None) -> np.ndarray:
    """Area-weighted vertex normals (unit; zero for vertices of no selected face)."""
    tri_v, _ = model.triangles(materials)
    a, b, c = verts[tri_v[:, 0]], verts[tri_v[:, 1]], verts[tri_v[:, 2]]
    fn = np.cross(b - a, c - a)
    normals = np.zeros_like(verts, dtype=np.float64)
    for k in range(3):
        np.add.at(normals, tri_v[:, k], fn)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return (normals / np.maximum(length, 1e-12)).astype(np.float32)


def vertex_uv(model: IctModel) -> np.ndarray:
    """One UV per vertex (the first corner that uses it; NaN for unused vertices)."""
    uv = np.full((model.n_vertices, 2), np.nan, np.float32)
    order = np.arange(len(model.poly_vertices))[::-1]  # first occurrence wins
    uv[model.poly_vertices[order]] = model.poly_uvs[order]
    return uv
