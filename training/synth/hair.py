"""Procedural hair strands: scalp hair, eyebrows and eyelashes. Pure numpy.

Strands are grown in the **body frame**: the ICT OBJ frame (cm, +Y up, +Z forward) of the
upright torso, where the head is already posed (``ict.pose``). Gravity is -Y. A strand starts at
a root on the scalp and is stepped segment by segment: its direction starts along the combing
flow (lifted off the scalp by the normal) and bends toward gravity the farther it gets from the
root; it is kept outside a skull ellipsoid (plus a per-strand volume offset), a face ellipsoid,
the neck and the shoulders. Curls are a helix around the strand; clumps pull strands toward a
few guide strands near the tips. The result is (N, K, 3) points; ``scene`` turns them into a
Blender hair-curves object after mapping them to the world.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import ict, textures

SEGMENTS = {"buzz": 3, "short": 6, "medium": 9, "long": 12, "curly": 12}


@dataclass(frozen=True)
class HeadShape:
    """Collision proxies of a posed head, in the body frame (cm)."""

    rotation: np.ndarray        # head rotation (3, 3) of the posed head
    pivot: np.ndarray
    skull_centre: np.ndarray    # in head-local (unposed) coordinates
    skull_radii: np.ndarray
    face_centre: np.ndarray
    face_radii: np.ndarray


def head_shape(verts: np.ndarray, rotation: np.ndarray) -> HeadShape:
    """Fit skull and face ellipsoids to an unposed identity mesh (OBJ cm)."""
    skull = verts[9409:11248]
    top = skull[skull[:, 1] > 2.0]
    lo, hi = top.min(axis=0), top.max(axis=0)
    centre = np.array([0.5 * (lo[0] + hi[0]), 3.0, 0.5 * (lo[2] + hi[2]) - 0.5])
    radii = np.array([0.5 * (hi[0] - lo[0]), hi[1] - 3.0, 0.5 * (hi[2] - lo[2])]) * 0.97
    face = verts[:9409]
    band = face[(face[:, 1] > -8.0) & (face[:, 1] < 8.0)]
    f_lo, f_hi = band.min(axis=0), band.max(axis=0)
    face_centre = np.array([0.0, 0.0, f_hi[2] - 7.5])
    face_radii = np.array([0.5 * (f_hi[0] - f_lo[0]) * 0.92, 9.0, 7.2])
    return HeadShape(rotation, ict.HEAD_PIVOT.copy(), centre, radii, face_centre, face_radii)


def _to_local(shape: HeadShape, p: np.ndarray) -> np.ndarray:
    return (p - shape.pivot) @ shape.rotation + shape.pivot


def _to_body(shape: HeadShape, p: np.ndarray) -> np.ndarray:
    return (p - shape.pivot) @ shape.rotation.T + shape.pivot


def _push_out(local: np.ndarray, centre, radii, min_scale: np.ndarray) -> np.ndarray:
    """Move points inside an ellipsoid (scaled by ``min_scale`` per point) onto its surface."""
    q = (local - centre) / radii
    s = np.linalg.norm(q, axis=-1)
    inside = s < min_scale
    if not inside.any():
        return local
    factor = np.where(inside, min_scale / np.maximum(s, 1e-6), 1.0)
    return centre + q * factor[..., None] * radii


def _collide(shape: HeadShape, pts: np.ndarray, offset: np.ndarray, root_scale: np.ndarray,
             body: dict) -> np.ndarray:
    local = _to_local(shape, pts)
    local = _push_out(local, shape.skull_centre, shape.skull_radii,
                      np.maximum(root_scale, 1.0) + offset)
    local = _push_out(local, shape.face_centre, shape.face_radii, 1.0 + 0.5 * offset)
    out = _to_body(shape, local)
    # neck: a vertical cylinder
    neck_c = np.array([0.0, 0.0, -1.0])
    d = out[:, [0, 2]] - neck_c[[0, 2]]
    r = np.linalg.norm(d, axis=1)
    in_neck = (out[:, 1] < -6.0) & (r < 6.8)
    if in_neck.any():
        scale = 6.8 / np.maximum(r[in_neck], 1e-6)
        out[np.ix_(in_neck, [0, 2])] = neck_c[[0, 2]] + d[in_neck] * scale[:, None]
    # shoulders: keep above the garment's top surface
    top = shoulder_height(out[:, 0], out[:, 2], body)
    under = out[:, 1] < top + 0.3
    out[under, 1] = top[under] + 0.3
    return out


def shoulder_height(x: np.ndarray, z: np.ndarray, body: dict) -> np.ndarray:
    """Height (OBJ y, cm) of the top of the shoulders at (x, z); -inf outside the torso."""
    half_w, half_d = body["shoulder_cm"], body["depth_cm"]
    inside = (np.abs(x) / half_w) ** 3 + (np.abs(z - body["centre_z"]) / half_d) ** 3 < 1.0
    h = body["neck_y"] - body["slope"] * np.maximum(np.abs(x) - 5.0, 0.0)
    h = h - 4.0 * np.clip((np.abs(x) - 0.8 * half_w) / (0.2 * half_w), 0, 1) ** 2
    return np.where(inside, h, -np.inf)


# --------------------------------------------------------------------- scalp hair

def _sample_on_triangles(verts: np.ndarray, tri_v: np.ndarray, density: np.ndarray, n: int,
                         rng: np.random.Generator):
    """``n`` points drawn by area × ``density`` (one value per triangle) over the triangles
    ``tri_v`` of ``verts``: (triangle index, point, unit face normal) per point."""
    a, b, c = verts[tri_v[:, 0]], verts[tri_v[:, 1]], verts[tri_v[:, 2]]
    cross = np.cross(b - a, c - a)
    weight = 0.5 * np.linalg.norm(cross, axis=1) * density
    tri = rng.choice(len(tri_v), size=n, p=weight / weight.sum())
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    bary = np.stack([1 - s, s * (1 - r2), s * r2], -1)
    points = np.einsum("nk,nkd->nd", bary, np.stack([a[tri], b[tri], c[tri]], 1))
    normals = cross[tri] / np.linalg.norm(cross[tri], axis=1, keepdims=True)
    return tri, points, normals


def scalp_roots(model: ict.IctModel, verts: np.ndarray, hair: dict, rng: np.random.Generator):
    """Root points and normals (OBJ cm, unposed) sampled over the scalp by area and density."""
    tri_v, _ = model.triangles((ict.M_FACE, ict.M_BACKHEAD))
    tri_v = tri_v[tri_v.max(axis=1) < 11248]       # skin of face and head, not the sockets
    cen = (verts[tri_v[:, 0]] + verts[tri_v[:, 1]] + verts[tri_v[:, 2]]) / 3.0
    tri, roots, normals = _sample_on_triangles(
        verts, tri_v, textures.scalp_density(cen, hair), hair["count"], rng)
    return roots.astype(np.float64), normals, textures.azimuth(cen)[tri]


def _tangent(v: np.ndarray, n: np.ndarray) -> np.ndarray:
    t = v - (v * n).sum(-1, keepdims=True) * n
    return t / np.maximum(np.linalg.norm(t, axis=-1, keepdims=True), 1e-9)


def grow_scalp_hair(model: ict.IctModel, verts: np.ndarray, shape: HeadShape, hair: dict,
                    body: dict) -> np.ndarray:
    """(N, K, 3) strand points in the body frame, or an empty array for style "none"."""
    style = hair["style"]
    if style == "none" or hair["count"] == 0:
        return np.zeros((0, 2, 3))
    rng = np.random.default_rng(hair["seed"])
    roots, normals, az = scalp_roots(model, verts, hair, rng)
    n = len(roots)
    k = SEGMENTS[style]
    length = hair["length_cm"] * np.exp(rng.normal(0.0, 0.12, n))
    # shorter toward the front hairline and the nape, so the face stays clear
    front = np.clip(1.0 - np.abs(az) / 55.0, 0.0, 1.0)
    nape = np.clip((np.abs(az) - 120.0) / 60.0, 0.0, 1.0) * np.clip(-roots[:, 1] / 6.0, 0, 1)
    fringe = np.zeros(n, bool)
    if hair["fringe"]:
        fringe = (front > 0.3) & (roots[:, 1] > 8.0)
        length = np.where(fringe, np.minimum(length, rng.uniform(5.0, 9.0, n)), length)
    length = length * (1.0 - 0.5 * front * (~fringe)) * (1.0 - 0.3 * nape)
    # combing flow, in head-local coordinates: away from the parting, then back and down
    part_x = hair["part"] * 4.0
    side = np.sign(roots[:, 0] - part_x + 1e-6)
    flow = np.stack([side * 0.8, -0.6 * np.ones(n), -0.7 * np.ones(n)], -1)
    flow[fringe] = np.array([0.0, -0.55, 0.85]) + np.stack(
        [side[fringe] * 0.25, np.zeros(fringe.sum()), np.zeros(fringe.sum())], -1)
    lift = {"buzz": 0.5, "short": 0.12, "medium": 0.1, "long": 0.1, "curly": 0.7}[style]
    d0 = _tangent(flow, normals) + lift * normals
    d0 = d0 / np.linalg.norm(d0, axis=1, keepdims=True)
    # to the body frame (posed head)
    p = _to_body(shape, roots)
    d = d0 @ shape.rotation.T
    nrm_b = normals @ shape.rotation.T
    root_scale = np.linalg.norm((roots - shape.skull_centre) / shape.skull_radii, axis=1)
    offset = rng.uniform(0.0, 1.0, n) ** 0.7 * hair["volume_cm"] / shape.skull_radii.mean()
    seg = length / (k - 1)
    gravity = np.array([0.0, -1.0, 0.0])
    stiff = 0.25 if style in ("buzz", "short") else 0.5
    pts = np.zeros((n, k, 3))
    pts[:, 0] = p
    wobble = rng.normal(0.0, 0.15, (n, 3))
    for i in range(1, k):
        t = i / (k - 1)
        bend = np.clip(t * length / 12.0, 0.0, 1.0) * (1.0 - stiff * (style == "buzz"))
        d = d + bend[:, None] * gravity * 0.55 + wobble * 0.3
        d = d / np.linalg.norm(d, axis=1, keepdims=True)
        nxt = pts[:, i - 1] + d * seg[:, None]
        nxt = _collide(shape, nxt, offset * min(1.0, 0.3 + t), root_scale, body)
        d = nxt - pts[:, i - 1]
        d = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
        pts[:, i] = nxt
    # curls: a helix around each strand's chord, growing from the root
    if hair["curl"] > 0.05:
        period = rng.uniform(1.2, 3.0) if style == "curly" else rng.uniform(3.0, 8.0)
        amp = hair["curl"] * (1.2 if style == "curly" else 0.6)
        axis = pts[:, -1] - pts[:, 0]
        axis /= np.maximum(np.linalg.norm(axis, axis=1, keepdims=True), 1e-9)
        e1 = np.cross(axis, nrm_b)
        e1 /= np.maximum(np.linalg.norm(e1, axis=1, keepdims=True), 1e-9)
        e2 = np.cross(axis, e1)
        phase = rng.uniform(0, 2 * np.pi, n)
        arc = np.linspace(0.0, 1.0, k)[None, :] * length[:, None]
        ang = 2 * np.pi * arc / period + phase[:, None]
        ramp = np.clip(arc / 2.0, 0.0, 1.0)[..., None]
        pts = pts + amp * ramp * (np.cos(ang)[..., None] * e1[:, None] +
                                  np.sin(ang)[..., None] * e2[:, None])
    # clumps: pull toward guide strands near the tips
    guides = rng.choice(n, size=max(n // 60, 1), replace=False)
    near = np.argmin(((roots[:, None, :] - roots[None, guides, :]) ** 2).sum(-1), axis=1) \
        if n * len(guides) < 8_000_000 else np.zeros(n, int)
    pull = np.linspace(0.0, 1.0, k)[None, :, None] ** 1.5 * rng.uniform(0.2, 0.6)
    pts = pts + pull * (pts[guides[near]] - pts)
    pts[:, 0] = p
    return pts


# --------------------------------------------------------------------- brows and lashes

def grow_brows(model: ict.IctModel, verts: np.ndarray, shape: HeadShape, brows: dict,
               seed: int, folder=None) -> np.ndarray:
    """(N, 4, 3) eyebrow hairs lying along the skin, medial ones more upright."""
    rng = np.random.default_rng(seed + 11)
    tri_v, _ = model.triangles((ict.M_FACE,))
    neutral = model.vertices
    cen0 = neutral[tri_v].mean(axis=1)
    mask = textures.lookup_frontal(textures.frontal_masks(folder)["brows"],
                                   cen0.astype(np.float32)[None])[0]
    mask = mask * (cen0[:, 2] > 5.0)
    n = int(brows["count"] * brows["density"])
    _, roots, normal = _sample_on_triangles(
        verts, tri_v, np.clip(mask, 0, 1) ** 1.5, n, rng)
    lateral = np.clip((np.abs(roots[:, 0]) - 1.5) / 3.0, 0.0, 1.0)
    flow = np.stack([np.sign(roots[:, 0]) * (0.3 + 0.9 * lateral), 1.0 - 0.75 * lateral,
                     np.zeros(n)], -1) + rng.normal(0.0, 0.15, (n, 3))
    d = _tangent(flow, normal) + 0.25 * normal
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    length = rng.uniform(0.5, 1.0, n) * brows["thickness"]
    pts = np.zeros((n, 4, 3))
    pts[:, 0] = roots
    for i in range(1, 4):
        d = d - 0.12 * normal  # curve back down onto the skin
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        pts[:, i] = pts[:, i - 1] + d * (length / 3.0)[:, None]
    return _to_body(shape, pts.reshape(-1, 3)).reshape(pts.shape)


def lash_grids(model: ict.IctModel) -> list[tuple[np.ndarray, bool]]:
    """Vertex grids (rows root -> tip, columns along the lid) of one upper and one lower lash
    card per eye, and whether each is an upper lash."""
    sizes = np.diff(model.poly_offsets)
    sel = np.repeat(model.poly_material == ict.M_LASHES, sizes)
    cv, cu = model.poly_vertices[sel], model.poly_uvs[sel]
    uv_of = {}
    for v, uv in zip(cv.tolist(), cu.tolist()):
        uv_of.setdefault(v, (round(uv[0], 3), round(uv[1], 3)))
    grids = []
    # the first card of each eye's upper (v in [0.848, 0.988]) and lower ([0.346, 0.486]) stack
    for u_lo, u_hi in ((6.0, 6.5), (6.5, 7.0)):
        for v_lo, v_hi, upper in ((0.84, 0.99, True), (0.34, 0.49, False)):
            members = [(uv, v) for v, uv in uv_of.items()
                       if u_lo <= uv[0] < u_hi and v_lo <= uv[1] <= v_hi]
            us = sorted({uv[0] for uv, _ in members})
            vs = sorted({uv[1] for uv, _ in members}, reverse=True)   # root = highest v
            grid = np.full((len(vs), len(us)), -1, np.int64)
            for uv, v in members:
                grid[vs.index(uv[1]), us.index(uv[0])] = v
            grids.append((grid, upper))
    return grids


def grow_lashes(model: ict.IctModel, verts: np.ndarray, shape: HeadShape, lashes: dict,
                seed: int) -> np.ndarray:
    """(N, 6, 3) eyelashes following the model's lash cards (they blink with the lids)."""
    rng = np.random.default_rng(seed + 23)
    out = []
    for grid, upper in lash_grids(model):
        g = verts[grid]                                       # (rows, cols, 3)
        n = 80 if upper else 40
        col = np.sort(rng.uniform(0.3, grid.shape[1] - 1.3, n))
        i0 = np.floor(col).astype(int)
        f = (col - i0)[:, None, None]
        strand = (1 - f) * g[:, i0].transpose(1, 0, 2) + f * g[:, i0 + 1].transpose(1, 0, 2)
        edge = np.minimum(col, grid.shape[1] - 1 - col) / (grid.shape[1] / 2.0)
        scale = lashes["length"] * (0.55 + 0.45 * np.clip(edge * 2.5, 0, 1)) * \
            rng.uniform(0.8, 1.1, n) * (1.0 if upper else 0.6)
        root = strand[:, :1]
        strand = root + (strand - root) * scale[:, None, None]
        out.append(strand)
    pts = np.concatenate(out)
    return _to_body(shape, pts.reshape(-1, 3)).reshape(pts.shape)
