"""Normal map → height map, by integrating the surface gradient that the normals imply.

Conventions (docs/ARCHITECTURE.md, *Camera space* and *Height*): normals are camera space and unit
length, +X image right, +Y image up, +Z toward the viewer; arrays are H×W×C with the top row first,
so rows run *down* the image.

Height is relative height in **units of image width**, positive toward the viewer: a hemisphere
whose diameter is the image width peaks at about 0.5 above its rim. Inside the mask the height has
**zero mean over each 4-connected region** (regions are integrated independently, so their
relative offsets are unknowable); outside the mask it is 0. The output never holds NaN.

Two methods:

- ``"poisson"`` (default): least squares on the gradient field using only gradient samples
  between two mask pixels (Neumann boundary at the mask edge), solved by conjugate gradients on
  the 5-point graph Laplacian, preconditioned by an exact FFT solve of the Neumann Laplacian on the
  mask's bounding box. Without a mask the preconditioner is exact and one iteration suffices.
- ``"fc"``: Frankot–Chellappa, a projection of the gradient field onto integrable Fourier modes,
  on an even (mirror) extension of the field to cut wrap-around artefacts (with the trapezoid
  rule's frequency response in place of ``iω``). Gradients outside the
  mask are set to 0 first, so with a mask it is only an approximation; use it for speed.
"""
from __future__ import annotations

from typing import Callable, Optional

import cv2
import numpy as np

from .errors import InputError
from .images import as_mask
from .progress import check_cancel

METHODS = ("poisson", "fc")
DEFAULT_MIN_NZ = 0.05


# ---------------------------------------------------------------- input handling

def _as_normal(normal: np.ndarray) -> np.ndarray:
    """Validate an H×W×3 (or ×4) normal map and return H×W×3 float64."""
    normal = np.asarray(normal)
    if normal.ndim != 3 or normal.shape[-1] < 3:
        raise InputError(f"normal map must be H×W×3, got shape {normal.shape}")
    if normal.shape[0] < 1 or normal.shape[1] < 1:
        raise InputError(f"normal map is empty: shape {normal.shape}")
    if normal.dtype.kind != "f":
        raise InputError(f"normal map must hold float vectors in [-1, 1] (decode 8/16-bit "
                         f"files first), got dtype {normal.dtype}")
    return normal[..., :3].astype(np.float64)


def normals_to_gradients(normal: np.ndarray, min_nz: float = DEFAULT_MIN_NZ
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel height slopes from normals, in pixels of height per pixel.

    Returns ``(gu, gv, ok)``: ``gu = dz/dcolumn = -nx/nz`` and ``gv = dz/drow = +ny/nz`` (rows go
    down while +Y is up). ``nz`` is clamped to at least ``min_nz`` so grazing normals give finite
    slopes (at most about 1/min_nz). ``ok`` is False where the normal is not finite or has zero
    length; the slopes there are 0.
    """
    n = _as_normal(normal)
    length = np.linalg.norm(n, axis=-1)
    ok = np.isfinite(length) & (length > 1e-6)
    n = np.where(ok[..., None], n / np.where(ok, length, 1.0)[..., None], 0.0)
    nz = np.maximum(n[..., 2], float(min_nz))
    gu = np.where(ok, -n[..., 0] / nz, 0.0)
    gv = np.where(ok, n[..., 1] / nz, 0.0)
    return gu, gv, ok


# ---------------------------------------------------------------- FFT building blocks

def _even_extend(a: np.ndarray, sign_u: float = 1.0, sign_v: float = 1.0) -> np.ndarray:
    """Mirror an H×W array to 2H×2W; ``sign_*`` flips the mirrored copies (for derivatives)."""
    top = np.concatenate([a, sign_u * a[:, ::-1]], axis=1)
    return np.concatenate([top, sign_v * top[::-1]], axis=0)


def _difference_response(size: int, real: bool) -> np.ndarray:
    """Frequency response 2i·tan(ω/2) of the trapezoid rule z[k+1] − z[k] = (g[k] + g[k+1]) / 2.

    Zero at the Nyquist frequency, where the trapezoid rule cannot see the slope.
    """
    freq = np.fft.rfftfreq(size) if real else np.fft.fftfreq(size)
    nyquist = np.isclose(np.abs(freq), 0.5)
    return np.where(nyquist, 0.0, 2j * np.tan(np.pi * np.where(nyquist, 0.0, freq)))


def frankot_chellappa(gu: np.ndarray, gv: np.ndarray) -> np.ndarray:
    """Frankot–Chellappa integration of slopes (per pixel) on a mirror-extended grid.

    The least-squares projection onto Fourier modes uses the response of the trapezoid-rule
    difference instead of the continuous ``iω``; that makes it exact for planes and quadrics
    even on tiny images. Returns the height in pixels, zero mean over the whole array.
    """
    h, w = gu.shape
    fu = np.fft.rfft2(_even_extend(gu, -1.0, 1.0))
    fv = np.fft.rfft2(_even_extend(gv, 1.0, -1.0))
    du = _difference_response(2 * w, True)[None, :]
    dv = _difference_response(2 * h, False)[:, None]
    den = np.abs(du) ** 2 + np.abs(dv) ** 2
    z = (np.conj(du) * fu + np.conj(dv) * fv) / np.where(den > 0, den, 1.0)
    z[0, 0] = 0.0
    return np.fft.irfft2(z, s=(2 * h, 2 * w))[:h, :w]


class _NeumannSolver:
    """Exact solve of the 5-point graph Laplacian with Neumann borders on an h×w rectangle.

    The DCT-II diagonalises it (the FFT of the even extension, at a quarter of the size). The
    constant mode is dropped (the result has zero mean). OpenCV's DCT takes even sides only: an
    odd side is solved on a rectangle one pixel longer, the right-hand side zero there. As the
    masked solver's preconditioner that extra row or column lies outside the mask, so it changes
    how fast the solver converges, not what it converges to.
    """

    def __init__(self, h: int, w: int):
        self.shape = (h, w)
        big_h, big_w = h + h % 2, w + w % 2
        ku = np.pi * np.arange(big_w) / big_w
        kv = np.pi * np.arange(big_h) / big_h
        lam = (2.0 - 2.0 * np.cos(ku))[None, :] + (2.0 - 2.0 * np.cos(kv))[:, None]
        lam[0, 0] = np.inf
        self.inv = 1.0 / lam
        self._rhs = np.zeros((big_h, big_w))

    def __call__(self, rhs: np.ndarray) -> np.ndarray:
        h, w = self.shape
        self._rhs[:h, :w] = rhs
        return cv2.idct(cv2.dct(self._rhs) * self.inv)[:h, :w]


# ---------------------------------------------------------------- masked Poisson

class _MaskedLaplacian:
    """Normal equations D^T D z = D^T t of the masked gradient least-squares problem."""

    def __init__(self, mask: np.ndarray):
        self.mask = mask
        self.ex = mask[:, :-1] & mask[:, 1:]
        self.ey = mask[:-1, :] & mask[1:, :]

    def divergence(self, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
        """D^T applied to edge values (fx: H×W-1 horizontal, fy: H-1×W vertical)."""
        out = np.zeros(self.mask.shape)
        out[:, :-1] -= fx
        out[:, 1:] += fx
        out[:-1, :] -= fy
        out[1:, :] += fy
        return out

    def rhs(self, gu: np.ndarray, gv: np.ndarray) -> np.ndarray:
        """D^T t with edge targets from the trapezoid rule (mean slope of the two pixels)."""
        tx = 0.5 * (gu[:, :-1] + gu[:, 1:]) * self.ex
        ty = 0.5 * (gv[:-1, :] + gv[1:, :]) * self.ey
        return self.divergence(tx, ty)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        fx = (z[:, 1:] - z[:, :-1]) * self.ex
        fy = (z[1:, :] - z[:-1, :]) * self.ey
        return self.divergence(fx, fy)


def poisson_masked(gu: np.ndarray, gv: np.ndarray, mask: np.ndarray, *, tol: float = 1e-6,
                   max_iter: int = 300, progress: Optional[Callable[[float, str], None]] = None,
                   cancel: Optional[Callable[[], bool]] = None) -> np.ndarray:
    """Masked least-squares integration by preconditioned conjugate gradients.

    ``gu``/``gv`` are slopes in pixels per pixel (see ``normals_to_gradients``); only gradient
    samples joining two mask pixels are used. Stops when the residual norm falls below ``tol``
    times that of the right-hand side. Returns the height in pixels, 0 outside the mask (its
    per-region offset is not fixed here).
    """
    op = _MaskedLaplacian(mask)
    precond = _NeumannSolver(*mask.shape)
    b = op.rhs(gu, gv)
    z = np.zeros(mask.shape)
    r = b.copy()
    bnorm = np.linalg.norm(b)
    if bnorm == 0.0:
        return z
    s = precond(r) * mask
    p = s.copy()
    rs = float(np.vdot(r, s))
    for _ in range(max_iter):
        check_cancel(cancel)
        ap = op(p)
        curvature = float(np.vdot(p, ap))
        if curvature <= 0.0:
            break
        alpha = rs / curvature
        z += alpha * p
        r -= alpha * ap
        rel = np.linalg.norm(r) / bnorm
        if progress is not None:
            done = np.log(max(rel, tol)) / np.log(tol)
            progress(min(max(done, 0.0), 1.0), "integrating normals")
        if rel <= tol:
            break
        s = precond(r) * mask
        rs_new = float(np.vdot(r, s))
        p = s + (rs_new / rs) * p
        rs = rs_new
    return z * mask


def _zero_mean_per_region(z: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Subtract from each 4-connected region of the mask its own mean; 0 outside the mask."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
    sums = np.bincount(labels.ravel(), weights=z.ravel(), minlength=count)
    sizes = np.bincount(labels.ravel(), minlength=count)
    means = sums / np.maximum(sizes, 1)
    return np.where(mask, z - means[labels], 0.0)


def _bbox(mask: np.ndarray) -> tuple[slice, slice]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


# ---------------------------------------------------------------- public entry points

def integrate(normal: np.ndarray, mask: Optional[np.ndarray] = None, method: str = "poisson",
              progress: Optional[Callable[[float, str], None]] = None,
              cancel: Optional[Callable[[], bool]] = None, *, min_nz: float = DEFAULT_MIN_NZ,
              tol: float = 1e-6, max_iter: int = 300) -> np.ndarray:
    """Integrate a camera-space normal map to a height map (H×W float32, units of image width).

    ``mask`` (H×W, bool or values in [0, 1], > 0.5 inside) limits the integration; pixels whose
    normal is not finite or has zero length are left out too. The height is positive toward the
    viewer, has zero mean over each 4-connected mask region and is 0 outside the mask.
    ``method`` is ``"poisson"`` (masked least squares, accurate) or ``"fc"`` (Frankot–Chellappa,
    fast, approximate at mask edges). ``min_nz`` bounds slopes at grazing normals; ``tol`` and
    ``max_iter`` control the Poisson solver. Raises ``InputError`` on bad input and
    ``Cancelled`` when ``cancel()`` turns true.
    """
    if method not in METHODS:
        raise InputError(f"unknown integration method '{method}'; choose one of {METHODS}")
    if not (0.0 < float(min_nz) <= 1.0):
        raise InputError(f"min_nz must lie in (0, 1], got {min_nz}")
    gu, gv, ok = normals_to_gradients(normal, min_nz)
    h, w = gu.shape
    mask = as_mask(mask, (h, w), "the image") & ok
    height = np.zeros((h, w), dtype=np.float32)
    if not mask.any():
        return height
    check_cancel(cancel)
    rows, cols = _bbox(mask)
    m = mask[rows, cols]
    gu, gv = gu[rows, cols] * m, gv[rows, cols] * m
    if method == "fc":
        z = frankot_chellappa(gu, gv)
    else:
        z = poisson_masked(gu, gv, m, tol=tol, max_iter=max_iter, progress=progress,
                           cancel=cancel)
    height[rows, cols] = _zero_mean_per_region(z, m) / float(w)
    if progress is not None:
        progress(1.0, "integrating normals")
    return height


def apply(normal: np.ndarray, options: Optional[dict] = None,
          progress: Optional[Callable[[float, str], None]] = None,
          cancel: Optional[Callable[[], bool]] = None) -> np.ndarray:
    """Pipeline-style wrapper: ``integrate`` with keyword options from a dict.

    Recognised keys: ``mask``, ``method``, ``min_nz``, ``tol``, ``max_iter``; others raise
    ``InputError`` so that typos do not pass silently.
    """
    options = dict(options or {})
    known = {"mask", "method", "min_nz", "tol", "max_iter"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise InputError(f"unknown integration option(s): {', '.join(unknown)}")
    mask = options.pop("mask", None)
    method = options.pop("method", "poisson")
    return integrate(normal, mask, method, progress, cancel, **options)


def extend_outside(height: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``height`` with every pixel outside ``mask`` set to the height of the nearest pixel
    inside it, so a displaced plate has no cliff at the matte's edge (the matte hides what
    lies outside; the cliff would still shade and shadow the edge)."""
    inside = as_mask(mask, height.shape[:2])
    if inside.all() or not inside.any():
        return np.asarray(height, np.float32)
    _, labels = cv2.distanceTransformWithLabels((~inside).astype(np.uint8), cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    values = np.zeros(labels.max() + 1, np.float32)
    values[labels[inside]] = height[inside]  # each inside pixel is its own label
    return np.where(inside, height, values[labels]).astype(np.float32)
