"""Face landmarks, landmark channels, a face-mesh normal prior and the foreground matte.

Everything here comes from MediaPipe's legacy solutions, whose models ship inside the pinned
mediapipe 0.10.21 wheel (no downloads):

- ``detect_landmarks``: Face Mesh with ``refine_landmarks=True`` (478 points: 468 mesh points plus
  5 per iris), ``static_image_mode=True``.
- ``landmark_channels``: the extra input channels of ``normal_net`` (after Kuo, Yang and Lin: RGB
  plus face-landmark channels), listed in ``LANDMARK_CHANNELS``.
- ``face_prior``: camera-space unit normals rasterised from the landmark mesh, with a coverage mask.
- ``matte``: Selfie Segmentation, resized to the full image.
- ``analyse``: all of the above in one call, as the pipeline uses it.

Conventions (docs/ARCHITECTURE.md, *Arrays and orientation*, *Camera space*): images are float32
H×W×C, top row first, linear RGB. Landmark points are pixels, x right and y down, sampled at
continuous coordinates (the centre of pixel (row i, column j) is (j + 0.5, i + 0.5)); z is
MediaPipe's relative depth scaled by the image width, as MediaPipe defines it (negative = nearer the
camera). Normals are camera space: +X image right, +Y image up, +Z toward the viewer.

Degradation: no face, several faces and a missing or broken mediapipe each give a
``RelitWarning`` and well-formed outputs (zero channels, empty prior, all-ones matte without
mediapipe), never an exception.

Turned plates: Face Mesh finds upright faces only, and plates shot rotated without an EXIF
orientation are common. When no face is found as given, the image is turned 180°, 90° and 270°
clockwise (``TURNS``) before giving up; the first turn with a face wins. A face that is found lying
on its side (more than 45° from upright, as its chin-to-forehead line says) is looked at again with
the image turned so that it stands upright, where Face Mesh places its landmarks best (closer to the
upright plate's than it does on the face lying sideways). Everything returned (landmarks, boxes,
channels, prior, matte) is mapped back to the image as given, the turn is kept in
``FaceResult.turn`` and ``FaceAnalysis.turn``, and a ``RelitWarning`` names it.
"""
from __future__ import annotations

import threading
import warnings
from collections import defaultdict
from dataclasses import dataclass, field, fields
from functools import lru_cache
from types import SimpleNamespace
from typing import Callable, Iterator, Mapping, Optional

import cv2
import numpy as np

from . import native_stderr
from .errors import InputError, RelitWarning
from .images import linear_to_srgb, to_rgb
from .progress import CancelFn, ProgressFn, Steps
from .vectors import unit

NUM_LANDMARKS = 478
"""Face Mesh points with refined eyes and lips: 468 mesh vertices, then 5 per iris."""

MESH_VERTICES = 468
"""The tessellated vertices among the landmarks (the iris points are not part of the mesh)."""

LANDMARK_CHANNELS = ("landmarks", "face_oval", "eyes", "brows", "lips", "nose")
"""The landmark channels, in order; ``normal_net``'s input contract depends on this tuple.

- ``landmarks``: Gaussian splats (peak 1) at all 478 landmarks, sigma = ``splat_sigma`` pixels or
  1.2 % of the face size (square root of the landmark bounding-box area), at least 1 px.
- ``face_oval``: the face oval (FACEMESH_FACE_OVAL) filled.
- ``eyes``: both eye openings (FACEMESH_LEFT_EYE, FACEMESH_RIGHT_EYE) filled.
- ``brows``: both eyebrows (FACEMESH_LEFT_EYEBROW, FACEMESH_RIGHT_EYEBROW), the band between the
  upper and lower brow lines filled.
- ``lips``: the lips (FACEMESH_LIPS), the outer lip line filled minus the inner one (mouth opening).
- ``nose``: the convex hull of FACEMESH_NOSE.

Masks are anti-aliased fills in [0, 1]. All channels are zero where no face was found.
"""

MATTE_MODEL = 0
"""Selfie Segmentation model: 0 is the general model (256×256 input), 1 the landscape model
(144×256, made for video calls). Relit segments stills, mostly portraits, often in portrait
orientation, where the square general model keeps more resolution across the head and shoulders;
both are quick next to the chain, so the faster landscape model buys nothing that matters here."""

_REGIONS = (
    ("face_oval", "fill", ("FACEMESH_FACE_OVAL",)),
    ("eyes", "fill", ("FACEMESH_LEFT_EYE", "FACEMESH_RIGHT_EYE")),
    ("brows", "strip", ("FACEMESH_LEFT_EYEBROW", "FACEMESH_RIGHT_EYEBROW")),
    ("lips", "ring", ("FACEMESH_LIPS",)),
    ("nose", "hull", ("FACEMESH_NOSE",)),
)
TURNS = (180, 90, 270)
"""Clockwise turns (degrees) tried, in order, when no face is found in the image as given.
Upside down comes first: Face Mesh's detector already finds most faces lying on their side (and
``_detect`` then turns them upright), but never one upside down."""
_UP = (175, 151)  # chin and forehead landmarks: the face's up direction runs from one to the other
_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
_LOCK = threading.Lock()  # guards the graph cache and every call into a MediaPipe graph
_GRAPHS: dict[tuple, object] = {}


# ---------------------------------------------------------------- results and options

@dataclass
class Face:
    """One detected face: ``points`` is (N, 3) float32 (x px right, y px down, z px)."""

    points: np.ndarray

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the landmarks, in pixels."""
        lo, hi = self.points[:, :2].min(axis=0), self.points[:, :2].max(axis=0)
        return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])

    @property
    def size(self) -> float:
        """Square root of the landmark bounding-box area, in pixels."""
        x0, y0, x1, y1 = self.bbox
        return float(np.sqrt(max(x1 - x0, 0.0) * max(y1 - y0, 0.0)))


@dataclass
class FaceResult:
    """Faces found in an image of ``shape`` (H, W), largest first."""

    faces: list[Face]
    shape: tuple[int, int]
    warnings: list[str] = field(default_factory=list)
    available: bool = True  # False when mediapipe could not be used
    # clockwise degrees the image was turned for Face Mesh to find the faces (0: as given);
    # the points are already mapped back to the image as given
    turn: int = 0

    @property
    def primary(self) -> Optional[Face]:
        """The largest face, the one every other output uses, or None."""
        return self.faces[0] if self.faces else None


@dataclass
class FaceOptions:
    """Settings of ``analyse``; ``analyse`` also accepts them as a mapping."""

    max_faces: int = 4
    min_detection_confidence: float = 0.5
    refine_landmarks: bool = True
    splat_sigma: Optional[float] = None  # pixels; None: 1.2 % of the face size
    depth_scale: float = 1.0  # multiplies MediaPipe's z before the prior's normals are computed
    matte_model: int = MATTE_MODEL
    max_side: int = 2048  # MediaPipe sees the image shrunk to this long side at most
    expose: bool = True  # no face as shot: look again exposed and shadow-lifted (_exposures)
    turns: bool = True  # no face as given: look again turned 90/180/270° clockwise (TURNS)
    # the matte is at least the detected face: Selfie Segmentation, made for a person in front
    # of a background, fails on a tight face crop or a plate with no background (it reached 0
    # inside the face on Yale B), so the face-mesh hull is united with it (face_hull)
    matte_face_hull: bool = True


@dataclass
class FaceAnalysis:
    """Everything the pipeline takes from the face step, all at the input's H×W."""

    landmarks: FaceResult
    landmark_channels: np.ndarray  # H×W×len(LANDMARK_CHANNELS)
    prior_normal: np.ndarray  # H×W×3, unit inside prior_mask, zero outside
    prior_mask: np.ndarray  # H×W in {0, 1}
    matte: np.ndarray  # H×W in [0, 1]
    warnings: list[str] = field(default_factory=list)
    turn: int = 0  # clockwise degrees the face was found at (FaceResult.turn); 0: as given


def _warn(notes: Optional[list], message: str) -> None:
    """Emit a RelitWarning and keep its message in ``notes``."""
    warnings.warn(message, RelitWarning, stacklevel=3)
    if notes is not None:
        notes.append(message)


def _options(options) -> FaceOptions:
    """None, a FaceOptions or a mapping of its fields → FaceOptions."""
    if options is None:
        return FaceOptions()
    if isinstance(options, FaceOptions):
        return options
    if isinstance(options, Mapping):
        unknown = set(options) - {f.name for f in fields(FaceOptions)}
        if unknown:
            raise InputError(f"unknown face options: {', '.join(sorted(unknown))}")
        return FaceOptions(**options)
    raise InputError("face options must be a FaceOptions or a mapping, "
                     f"not {type(options).__name__}")


# ---------------------------------------------------------------- MediaPipe access

def _mediapipe() -> SimpleNamespace:
    """Import MediaPipe's legacy solutions; raises ImportError when mediapipe is unavailable."""
    import mediapipe  # noqa: F401  (fails first when sys.modules['mediapipe'] is None)
    from mediapipe.python.solutions import face_mesh, face_mesh_connections, selfie_segmentation
    return SimpleNamespace(face_mesh=face_mesh, connections=face_mesh_connections,
                           selfie_segmentation=selfie_segmentation)


def _graph(key: tuple, make: Callable[[], object]) -> object:
    """The cached MediaPipe graph for ``key``; call with ``_LOCK`` held."""
    graph = _GRAPHS.get(key)
    if graph is None:
        graph = _GRAPHS[key] = make()
    return graph


def _run(key: tuple, make: Callable[[], object], image: np.ndarray):
    """Process ``image`` (uint8 sRGB RGB) with the cached graph, serialised by the lock."""
    with _LOCK, native_stderr.captured():   # its absl/TFLite info lines, dropped
        return _graph(key, make).process(image)


def close() -> None:
    """Close and forget every cached MediaPipe graph (they are re-created on demand)."""
    with _LOCK:
        graphs = list(_GRAPHS.values())
        _GRAPHS.clear()
        for graph in graphs:
            graph.close()


def _prepare(rgb_linear: np.ndarray) -> np.ndarray:
    """Validate an image and return float32 H×W×3 linear RGB (grey replicated, alpha dropped)."""
    image = np.asarray(rgb_linear)
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError(f"expected an H×W or H×W×C image, got shape {image.shape}")
    if image.ndim == 3 and not 1 <= image.shape[2] <= 4:
        raise InputError(f"expected 1 to 4 channels, got {image.shape[2]}")
    return np.nan_to_num(to_rgb(image), nan=0.0, posinf=1.0, neginf=0.0)


def _shrunk(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """Linear H×W×3 shrunk (area average) to ``max_side`` at most."""
    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return rgb


def _srgb8(rgb: np.ndarray) -> np.ndarray:
    """Linear → contiguous uint8 sRGB."""
    index = (np.clip(rgb, 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)
    return np.ascontiguousarray(_srgb8_table()[index])


def _mediapipe_input(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """Linear H×W×3 → contiguous uint8 sRGB, shrunk (area average) to ``max_side`` at most."""
    return _srgb8(_shrunk(rgb, max_side))


def _exposures(rgb: np.ndarray) -> Iterator[np.ndarray]:
    """What Face Mesh is shown of linear ``rgb``: the 8-bit sRGB image as shot, then exposed
    so its 99th percentile is white, then with the shadows lifted as well (linear ** 0.5).
    Face Mesh reads display pixels, so in an underexposed or hard side-lit plate, where the
    shadow side is a few codes deep, a face can hide that these brighter versions show; the
    landmarks are the same pixels either way. The caller stops at the first version with a
    face, so a well-exposed face costs nothing more (``python -m training.evaluate
    yale-faces`` measures what it finds on real side-lit faces)."""
    yield _srgb8(rgb)
    white = float(np.percentile(rgb, 99))
    if white <= 0.0:  # black
        return
    exposed = np.clip(rgb / white, 0.0, 1.0)
    yield _srgb8(exposed)
    yield _srgb8(np.sqrt(exposed))


@lru_cache(maxsize=1)
def _srgb8_table() -> np.ndarray:
    """uint8 sRGB codes of the 65536 linear levels k/65535 (finer than any 8-bit sRGB step)."""
    levels = np.arange(65536, dtype=np.float32) / 65535.0
    return np.round(linear_to_srgb(levels) * 255.0).astype(np.uint8)


# ---------------------------------------------------------------- landmarks

def detect_landmarks(rgb_linear: np.ndarray, max_faces: int = 4,
                     min_detection_confidence: float = 0.5, refine_landmarks: bool = True,
                     max_side: int = 2048, expose: bool = True, turns: bool = True
                     ) -> FaceResult:
    """Find faces with MediaPipe Face Mesh (static images) and return their landmarks.

    Each face holds (478, 3) points (468 without ``refine_landmarks``) in pixels of the input:
    x right, y down, z = MediaPipe's relative depth × image width. Faces are sorted largest first.
    Warns (RelitWarning) when no face is found, when several are (the largest is the one used)
    and when mediapipe is unavailable (then the result is empty and ``available`` is False).
    With ``turns``, an image with no face as given is tried turned 90°, 180° and 270° clockwise;
    a face found so is mapped back to the image as given, ``FaceResult.turn`` says which turn
    found it, and a RelitWarning names it.
    """
    rgb = _prepare(rgb_linear)
    return _detect(_shrunk(rgb, max_side), rgb.shape[:2], max_faces,
                   min_detection_confidence, refine_landmarks, [], expose, turns)


def _detect(small: np.ndarray, shape: tuple[int, int], max_faces: int, confidence: float,
            refine: bool, notes: list, expose: bool = True, turns: bool = True) -> FaceResult:
    """``detect_landmarks`` on ``small`` (linear, shrunk) of an image of ``shape``; notes
    collected."""
    if int(max_faces) < 1:
        raise InputError(f"max_faces must be at least 1, got {max_faces}")
    faces, turn = [], 0
    try:
        mp = _mediapipe()
        key = ("face_mesh", int(max_faces), float(confidence), bool(refine))
        make = lambda: mp.face_mesh.FaceMesh(  # noqa: E731
            static_image_mode=True, max_num_faces=int(max_faces), refine_landmarks=bool(refine),
            min_detection_confidence=float(confidence))

        def find(turn: int) -> list[Face]:
            """Faces in ``small`` turned ``turn``° clockwise, in pixels of that turned image."""
            view = turned(small, turn)
            seen = _turned_shape(shape, turn)
            for attempt in _exposures(view) if expose else iter([_srgb8(view)]):
                found = _run(key, make, attempt).multi_face_landmarks  # as shot, then brighter
                if found:
                    return sorted((_face_from(lms, seen) for lms in found),
                                  key=lambda f: f.size, reverse=True)
            return []

        for turn in (0, *TURNS) if turns else (0,):  # as given, then turned
            faces = find(turn)
            if faces:
                break
        if faces and turns:  # a face lying on its side: look again with it upright
            upright = (turn + _roll(faces[0])) % 360
            again = find(upright) if upright != turn else []
            if again:
                faces, turn = again, upright
    except (ImportError, OSError, RuntimeError) as exc:  # missing or broken installation
        _warn(notes, f"mediapipe is unavailable ({exc}); no face landmarks")
        return FaceResult([], shape, list(notes), available=False)
    if not faces:
        turn = 0
    faces = [Face(unturn_points(f.points, turn, shape)) for f in faces]
    if not faces:
        _warn(notes, "no face found; landmark channels and the face prior are empty")
    else:
        if turn:
            _warn(notes, f"the face is not upright: found with the image turned {turn}° "
                         "clockwise (a plate shot rotated, without EXIF orientation?); the "
                         "landmarks, face prior and matte are mapped back to the image as given")
        if len(faces) > 1:
            _warn(notes, f"{len(faces)} faces found; using the largest")
    return FaceResult(faces, shape, list(notes), turn=turn)


def _roll(face: Face) -> int:
    """The clockwise turn (0, 90, 180 or 270°) nearest to the one that stands ``face`` upright,
    from its chin-to-forehead direction (x right, y down: upright points to -y)."""
    chin, forehead = face.points[_UP[0], :2], face.points[_UP[1], :2]
    up_x, up_y = (forehead - chin).astype(np.float64)
    angle = np.degrees(np.arctan2(-up_x, -up_y))  # 90: the face's top points left
    return int(round(angle / 90.0)) % 4 * 90


def _face_from(landmark_list, shape: tuple[int, int]) -> Face:
    """MediaPipe NormalizedLandmarkList → Face in pixels of an image of ``shape``."""
    h, w = shape
    xyz = np.array([(p.x, p.y, p.z) for p in landmark_list.landmark], dtype=np.float32)
    return Face(xyz * np.array([w, h, w], dtype=np.float32))


# ---------------------------------------------------------------- turned plates

def turned(image: np.ndarray, turn: int) -> np.ndarray:
    """``image`` (H×W or H×W×C) turned ``turn`` degrees clockwise (0, 90, 180 or 270)."""
    turn = int(turn) % 360
    if turn == 0:
        return image
    return np.ascontiguousarray(cv2.rotate(np.ascontiguousarray(image), _ROTATE[turn]))


def unturned(image: np.ndarray, turn: int) -> np.ndarray:
    """Undo ``turned(image, turn)``: the image turned ``turn`` degrees counter-clockwise."""
    return turned(image, (360 - int(turn)) % 360)


def _turned_shape(shape: tuple[int, int], turn: int) -> tuple[int, int]:
    h, w = shape
    return (w, h) if int(turn) % 180 else (h, w)


def unturn_points(points: np.ndarray, turn: int, shape: tuple[int, int]) -> np.ndarray:
    """(N, ≥2) pixel points (x right, y down, continuous coordinates) in the image of ``shape``
    (H, W) turned ``turn`` degrees clockwise → the same points in the image as given. Columns
    past x and y (MediaPipe's z, in pixels) are kept: a turn in the image plane leaves depth."""
    h, w = shape
    turn = int(turn) % 360
    out = np.array(points, dtype=np.float32, copy=True)
    x, y = points[:, 0].astype(np.float32), points[:, 1].astype(np.float32)
    if turn == 90:  # turned: x' = h - y, y' = x
        out[:, 0], out[:, 1] = y, h - x
    elif turn == 180:  # x' = w - x, y' = h - y
        out[:, 0], out[:, 1] = w - x, h - y
    elif turn == 270:  # x' = y, y' = w - x
        out[:, 0], out[:, 1] = w - y, x
    elif turn:
        raise InputError(f"a turn is 0, 90, 180 or 270 degrees, not {turn}")
    return out


# ---------------------------------------------------------------- landmark channels

def landmark_channels(face: Optional[Face], shape: tuple[int, int],
                      splat_sigma: Optional[float] = None) -> np.ndarray:
    """Render ``LANDMARK_CHANNELS`` for ``face`` as float32 H×W×C in [0, 1] (zeros for None).

    Everything is drawn inside the face's box (plus the splats' reach) and pasted in place.
    """
    out = np.zeros((*shape, len(LANDMARK_CHANNELS)), np.float32)
    if face is None:
        return out
    sigma = float(splat_sigma) if splat_sigma else max(1.0, 0.012 * face.size)
    x0, y0, x1, y1 = _box(face.points[:, :2], shape, pad=4.0 * sigma + 2.0)
    if x1 <= x0 or y1 <= y0:
        return out
    xy, crop = face.points[:, :2] - (x0, y0), out[y0:y1, x0:x1]
    crop[..., 0] = _splats(xy, crop.shape[:2], sigma)
    chains = _region_chains()
    for index, (name, mode, _) in enumerate(_REGIONS, start=1):
        crop[..., index] = _region_mask(xy, chains[name], mode, crop.shape[:2])
    return out


def _splats(xy: np.ndarray, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Gaussian splats of peak ~1 at the points: bilinear impulses, blurred, times 2πσ²."""
    canvas = np.zeros(shape, np.float32)
    _add_bilinear(canvas, xy - 0.5)
    blurred = cv2.GaussianBlur(canvas, (0, 0), sigmaX=sigma, sigmaY=sigma,
                               borderType=cv2.BORDER_CONSTANT)
    return np.clip(blurred * (2.0 * np.pi * sigma * sigma), 0.0, 1.0)


def _add_bilinear(canvas: np.ndarray, xy: np.ndarray) -> None:
    """Add a unit impulse per point, spread bilinearly over the 4 nearest pixel centres."""
    h, w = canvas.shape
    base = np.floor(xy).astype(int)
    frac = (xy - base).astype(np.float32)
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        weight = (frac[:, 0] if dx else 1 - frac[:, 0]) * (frac[:, 1] if dy else 1 - frac[:, 1])
        cx, cy = base[:, 0] + dx, base[:, 1] + dy
        ok = (cx >= 0) & (cx < w) & (cy >= 0) & (cy < h)
        np.add.at(canvas, (cy[ok], cx[ok]), weight[ok])


@lru_cache(maxsize=1)
def _region_chains() -> dict[str, tuple[list[tuple[int, ...]], ...]]:
    """For each region and each of its connection sets, the ordered vertex chains (loops or
    paths) of that set."""
    connections = _mediapipe().connections
    return {name: tuple(_chains(getattr(connections, attr)) for attr in sources)
            for name, _, sources in _REGIONS}


def _chains(edges) -> list[tuple[int, ...]]:
    """Split an undirected edge set into ordered chains: one per connected loop or path."""
    adjacency: dict[int, set[int]] = defaultdict(set)
    for a, b in edges:
        adjacency[a].add(b)
        adjacency[b].add(a)
    seen: set[int] = set()
    chains = []
    ends = [v for v in sorted(adjacency) if len(adjacency[v]) == 1]
    for start in ends + sorted(adjacency):
        if start in seen:
            continue
        chain, current = [start], start
        seen.add(start)
        while nxt := sorted(adjacency[current] - seen):
            current = nxt[0]
            seen.add(current)
            chain.append(current)
        chains.append(tuple(chain))
    return chains


def _region_mask(xy: np.ndarray, groups, mode: str, shape: tuple[int, int]) -> np.ndarray:
    """Fill one region from its chains, grouped per connection set.

    Modes: 'fill' every loop; 'strip' joins the two paths of each set (a brow's upper and lower
    lines) into one polygon; 'ring' fills the largest loop minus the others; 'hull' fills the
    convex hull of all points.
    """
    polygons = [xy[list(chain)] for chains in groups for chain in chains]
    holes: list[np.ndarray] = []
    if mode == "strip":
        polygons = [_join_paths(xy[list(a)], xy[list(b)]) for a, b in groups]
    elif mode == "ring":
        polygons.sort(key=lambda p: abs(cv2.contourArea(p.astype(np.float32))), reverse=True)
        polygons, holes = polygons[:1], polygons[1:]
    elif mode == "hull":
        polygons = [cv2.convexHull(np.concatenate(polygons).astype(np.float32))[:, 0]]
    canvas = np.zeros(shape, np.uint8)
    _fill(canvas, polygons, 255)
    _fill(canvas, holes, 0)
    return canvas.astype(np.float32) / 255.0


def _join_paths(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Close two roughly parallel paths into one polygon, walking ``b`` back along ``a``."""
    straight = np.linalg.norm(a[-1] - b[0]) + np.linalg.norm(b[-1] - a[0])
    crossed = np.linalg.norm(a[-1] - b[-1]) + np.linalg.norm(b[0] - a[0])
    return np.concatenate([a, b if straight < crossed else b[::-1]])


def _fill(canvas: np.ndarray, polygons, value: int) -> None:
    """Anti-aliased cv2.fillPoly at 1/16 px precision, with pixel centres at +0.5."""
    if polygons:
        pts = [np.round((p - 0.5) * 16).astype(np.int32) for p in polygons]
        cv2.fillPoly(canvas, pts, int(value), lineType=cv2.LINE_AA, shift=4)


# ---------------------------------------------------------------- face-mesh normal prior

@lru_cache(maxsize=1)
def _mesh_topology() -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """(triangles, holes) of the Face Mesh, consistently wound.

    Triangles are the 3-cliques of FACEMESH_TESSELATION's edges, minus the few cliques whose every
    edge already borders two other cliques (they enclose a vertex of degree 3 and are no face).
    The eye and mouth openings (boundary loops other than the face oval) are closed by fans to a
    virtual vertex per hole, numbered ``MESH_VERTICES + k`` for the k-th loop in ``holes``.
    """
    edges = {tuple(sorted(e)) for e in _mediapipe().connections.FACEMESH_TESSELATION}
    triangles = _clique_triangles(edges)
    loops = _boundary_loops(triangles)
    holes = tuple(np.array(loop) for loop in sorted(loops, key=len)[:-1])  # longest = face oval
    for k, loop in enumerate(holes):
        centre = MESH_VERTICES + k
        triangles += [(int(a), int(b), centre) for a, b in zip(loop, np.roll(loop, -1))]
    return np.array(_orient(triangles), dtype=np.int64), holes


def _clique_triangles(edges: set[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """Triangles of a triangulated surface given only its edges."""
    adjacency: dict[int, set[int]] = defaultdict(set)
    for a, b in edges:
        adjacency[a].add(b)
        adjacency[b].add(a)
    cliques = sorted({tuple(sorted((a, b, c)))
                      for a, b in edges for c in adjacency[a] & adjacency[b]})
    uses: dict[tuple[int, int], int] = defaultdict(int)
    for a, b, c in cliques:
        for e in ((a, b), (b, c), (a, c)):
            uses[e] += 1
    return [t for t in cliques
            if min(uses[(t[0], t[1])], uses[(t[1], t[2])], uses[(t[0], t[2])]) <= 2]


def _boundary_loops(triangles) -> list[tuple[int, ...]]:
    """Closed loops of the edges that border exactly one triangle."""
    uses: dict[tuple[int, int], int] = defaultdict(int)
    for a, b, c in triangles:
        for e in ((a, b), (b, c), (a, c)):
            uses[tuple(sorted(e))] += 1
    return _chains([e for e, n in uses.items() if n == 1])


def _orient(triangles) -> list[tuple[int, int, int]]:
    """Rewind triangles so that neighbours traverse their shared edge in opposite directions."""
    tris = [list(t) for t in triangles]
    by_edge: dict[frozenset, list[int]] = defaultdict(list)
    for i, t in enumerate(tris):
        for k in range(3):
            by_edge[frozenset((t[k], t[k - 1]))].append(i)
    done = [False] * len(tris)
    for seed in range(len(tris)):
        stack, done[seed] = [seed], True
        while stack:
            i = stack.pop()
            for k in range(3):
                a, b = tris[i][k - 1], tris[i][k]
                for j in by_edge[frozenset((a, b))]:
                    if not done[j]:
                        done[j] = True
                        if _has_directed(tris[j], a, b):
                            tris[j].reverse()
                        stack.append(j)
    return [tuple(t) for t in tris]


def _has_directed(tri: list[int], a: int, b: int) -> bool:
    """Whether the cyclic triangle ``tri`` walks from ``a`` straight to ``b``."""
    return any(tri[k - 1] == a and tri[k] == b for k in range(3))


def face_prior(face: Optional[Face], shape: tuple[int, int],
               depth_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Camera-space normals of the landmark mesh: (H×W×3 unit normals, H×W mask in {0, 1}).

    Vertices are (x, -y, -z·depth_scale) in pixels (camera space, +Z toward the viewer); vertex
    normals are area-weighted triangle normals, oriented away from the landmarks' centroid, and
    are interpolated barycentrically and renormalised. Triangles are painted far to near, so
    the nearest surface wins where the mesh overlaps itself. Outside the face both are zero.
    """
    h, w = shape
    normal, mask = np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.float32)
    if face is None or len(face.points) < MESH_VERTICES:
        return normal, mask
    triangles, holes = _mesh_topology()
    verts = _mesh_vertices(face.points, holes, depth_scale)
    xy = verts[:, :2] * np.array([1.0, -1.0])  # back to image pixels, y down
    x0, y0, x1, y1 = _box(xy, shape, pad=1)
    if x1 <= x0 or y1 <= y0:
        return normal, mask
    ids = _paint_triangles(xy - (x0, y0), verts[triangles, 2].mean(axis=1), triangles,
                           (y1 - y0, x1 - x0))
    rows, cols = np.nonzero(ids >= 0)
    corners = triangles[ids[rows, cols]]  # (P, 3) vertex indices
    local = (xy - (x0 + 0.5, y0 + 0.5)).astype(np.float32)  # pixel centres at integers
    lam = _barycentric(local[corners], cols.astype(np.float32), rows.astype(np.float32))
    n = np.einsum("pc,pcd->pd", lam, _vertex_normals(verts, triangles).astype(np.float32)[corners])
    n = unit(n, eps=1e-12)
    normal[y0:y1, x0:x1][rows, cols] = n
    mask[y0:y1, x0:x1][rows, cols] = 1.0
    return normal, mask


def _box(xy: np.ndarray, shape: tuple[int, int], pad: float) -> tuple[int, int, int, int]:
    """Pixel box (x0, y0, x1, y1), end exclusive, around the points plus ``pad``, clipped."""
    h, w = shape
    x0, y0 = np.floor(xy.min(axis=0) - pad).astype(int)
    x1, y1 = np.ceil(xy.max(axis=0) + pad).astype(int)
    return max(int(x0), 0), max(int(y0), 0), min(int(x1), w), min(int(y1), h)


def _mesh_vertices(points: np.ndarray, holes, depth_scale: float) -> np.ndarray:
    """Camera-space mesh vertices (x, -y, -z·depth_scale), float64, plus one per hole."""
    v = points[:MESH_VERTICES].astype(np.float64) * np.array([1.0, -1.0, -float(depth_scale)])
    centres = [v[loop].mean(axis=0) for loop in holes]
    return np.concatenate([v, np.array(centres).reshape(-1, 3)])


def _vertex_normals(verts: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Unit area-weighted vertex normals, all flipped to point away from the mesh centroid."""
    p = verts[triangles]
    cross = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    outward = np.einsum("td,td->", cross, p.mean(axis=1) - verts.mean(axis=0))
    cross *= 1.0 if outward >= 0 else -1.0
    acc = np.zeros_like(verts)
    for corner in range(3):
        np.add.at(acc, triangles[:, corner], cross)
    return unit(acc, eps=1e-12)


def _paint_triangles(xy: np.ndarray, depth: np.ndarray, triangles: np.ndarray,
                     shape: tuple[int, int]) -> np.ndarray:
    """Triangle index per pixel (H×W int32, -1 where empty), painted far to near.

    ``xy`` are pixels (x right, y down; pixel centres at +0.5), ``depth`` per triangle grows
    toward the viewer. cv2.fillConvexPoly at 1/16 px precision does the scan conversion.
    """
    ids = np.full(shape, -1, np.int32)
    corners = np.round((xy[triangles] - 0.5) * 16).astype(np.int32)
    for t in np.argsort(depth, kind="stable"):
        cv2.fillConvexPoly(ids, corners[t], int(t), lineType=cv2.LINE_8, shift=4)
    return ids


def _barycentric(corners: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Barycentric weights (P, 3) of points (x, y) in triangles ``corners`` (P, 3, 2).

    Scan conversion covers pixels up to half a pixel outside a triangle, so the weights are
    clamped to the triangle; degenerate triangles get equal weights.
    """
    (x0, y0), (x1, y1), (x2, y2) = np.moveaxis(corners, (1, 2), (0, 1))
    den = (y1 - y2) * (x0 - x2) + (x2 - x1) * (y0 - y2)
    flat = np.abs(den) < 1e-9
    den = np.where(flat, 1.0, den)
    l0 = ((y1 - y2) * (x - x2) + (x2 - x1) * (y - y2)) / den
    l1 = ((y2 - y0) * (x - x2) + (x0 - x2) * (y - y2)) / den
    lam = np.clip(np.stack([l0, l1, 1.0 - l0 - l1], axis=1), 0.0, None)
    lam[flat] = 1.0
    return lam / lam.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------- matte

def matte(rgb_linear: np.ndarray, model_selection: int = MATTE_MODEL,
          max_side: int = 2048) -> np.ndarray:
    """Foreground (person) matte from MediaPipe Selfie Segmentation: H×W float32 in [0, 1].

    The mask is computed on the image shrunk to ``max_side`` at most and resized bilinearly to
    the full H×W. Without mediapipe it warns and returns an all-ones matte.
    """
    rgb = _prepare(rgb_linear)
    return _matte(_mediapipe_input(rgb, max_side), rgb.shape[:2], model_selection, None)


def _matte(pixels: np.ndarray, shape: tuple[int, int], model_selection: int,
           notes: Optional[list], turn: int = 0) -> np.ndarray:
    """``matte`` on uint8 sRGB ``pixels`` of an image of ``shape``; warnings kept in ``notes``.
    With ``turn``, the person is segmented in the image turned so (upright, as its face was
    found) and the mask is turned back."""
    h, w = shape
    try:
        mp = _mediapipe()
        key = ("selfie_segmentation", int(model_selection))
        make = lambda: mp.selfie_segmentation.SelfieSegmentation(  # noqa: E731
            model_selection=int(model_selection))
        mask = _run(key, make, turned(pixels, turn)).segmentation_mask
    except (ImportError, OSError, RuntimeError) as exc:
        _warn(notes, f"mediapipe is unavailable ({exc}); the matte is all ones")
        return np.ones((h, w), np.float32)
    mask = unturned(np.asarray(mask, np.float32), turn)
    if mask.shape != (h, w):
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(mask, 0.0, 1.0)


def face_hull(face: Optional[Face], shape: tuple[int, int], feather: float = 0.02
              ) -> np.ndarray:
    """The convex hull of a face's landmarks as an H×W matte in [0, 1]: 1 inside, falling to 0
    over ``feather`` × the face size outside the hull (so the union with a segmentation matte
    has no hard step). All zeros without a face."""
    h, w = shape
    out = np.zeros((h, w), np.float32)
    if face is None or len(face.points) < 3:
        return out
    hull = cv2.convexHull(np.round(face.points[:, :2] * 16).astype(np.int32))
    cv2.fillConvexPoly(out, hull, 1.0, lineType=cv2.LINE_AA, shift=4)
    radius = feather * face.size
    if radius >= 0.5:  # 1 within 1.5 pixels of the hull (the prior's mesh paints pixel
        # centres that far out), then a soft edge
        dist = cv2.distanceTransform((out <= 0).astype(np.uint8), cv2.DIST_L2,
                                     cv2.DIST_MASK_PRECISE)
        out = np.clip(1.0 - (dist - 1.5) / radius, 0.0, 1.0).astype(np.float32)
    return out


# ---------------------------------------------------------------- all at once

def analyse(rgb_linear: np.ndarray, options=None, progress: Optional[ProgressFn] = None,
            cancel: Optional[CancelFn] = None) -> FaceAnalysis:
    """Landmarks, landmark channels, face prior and matte of one image, for the pipeline.

    ``options`` is None, a ``FaceOptions`` or a mapping of its fields. Every output has the
    input's H×W; the channels and the prior describe the largest face only. Warnings are both
    emitted (RelitWarning) and listed in ``FaceAnalysis.warnings``. Raises ``Cancelled`` when
    ``cancel()`` turns true between stages. A face found only in the image turned (see
    ``detect_landmarks``) gives outputs mapped back to the image as given; ``turn`` says which
    turn found it.
    """
    opts = _options(options)
    rgb = _prepare(rgb_linear)
    shape, notes, small = rgb.shape[:2], [], _shrunk(rgb, opts.max_side)
    steps = Steps(progress, {"face landmarks": 3, "landmark channels": 1, "face prior": 2,
                             "matte": 2}, cancel)
    steps.stage("face landmarks")
    found = _detect(small, shape, opts.max_faces, opts.min_detection_confidence,
                    opts.refine_landmarks, notes, opts.expose, opts.turns)
    steps.stage("landmark channels")
    channels = landmark_channels(found.primary, shape, opts.splat_sigma)
    steps.stage("face prior")
    normal, mask = face_prior(found.primary, shape, opts.depth_scale)
    steps.stage("matte")
    alpha = _matte(_srgb8(small), shape, opts.matte_model, notes, found.turn)
    if opts.matte_face_hull and found.primary is not None:
        alpha = np.maximum(alpha, face_hull(found.primary, shape))
    steps.done("face analysis done")
    return FaceAnalysis(found, channels, normal, mask, alpha, notes, found.turn)
