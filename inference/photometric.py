"""Photometric stereo: normals and albedo from N ≥ 3 images under known distant point lights.

Model (Woodham): a pixel's intensity under light ``l`` is ``albedo * max(0, n · l)``. Stacking the
lit, unsaturated samples gives a linear least-squares problem for ``g = albedo * n``.

Robustness, per pixel:

1. **Missing and saturated samples** (NaN, or at or above ``saturation``) are never used; NaN is
   how a caller marks a sample as missing.
2. **Shadows**: a sample at or below ``dark_abs`` (absolute, in image units: 0.02 ≈ 5/255 for
   values in [0, 1]) or ``dark_rel`` times the pixel's bright level (its ``bright_percentile``
   over the valid samples) is taken as shadowed (attached or cast) and left out.
3. **Initial fit** without the pixel's brightest ``drop_bright`` fraction of the remaining samples
   (specular highlights sit at the top of the ranking).
4. **Iteratively reweighted least squares** with 0/1 weights (trimmed refits): a sample is an
   outlier when its residual exceeds ``outlier_sigmas`` robust standard deviations of the pixel's
   residuals (1.4826 × median absolute residual) or, if larger, ``outlier_floor`` times the fitted
   albedo. Each iteration refits on the inliers; rejected samples come back when a later fit
   explains them.

Smooth (Tukey) weights and rejecting samples that the fit predicts to be in attached shadow were
tried and left out: on real faces (Extended Yale B) the Lambertian model leaves large residuals
everywhere, and Tukey weights and the attached-shadow test both moved the normals away from the
plain thresholded least-squares solution, while hard rejection of gross outliers stays close to
it and still removes highlights on synthetic data.

A pixel is valid when it has at least ``min_samples`` inliers whose light directions are well
spread (the inlier light matrix is not near rank 2) and the RMS residual of the inliers, relative to
the fitted albedo, is at most ``max_residual``.

Lights are camera-space directions toward the light (+X image right, +Y image up, +Z toward the
viewer), so the normals come out in camera space too. A light vector's length scales that light's
intensity; ``load_lights_json`` gives unit vectors.

``options={"robust": False}`` gives plain Woodham least squares over every finite sample (no
shadow, highlight or saturation handling), for comparison.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from .errors import InputError
from .images import as_mask, load_image
from .progress import check_cancel
from .vectors import FACING, unit

DEFAULT_OPTIONS = {
    "robust": True,          # False: plain Woodham least squares over every finite sample
    "saturation": None,      # samples >= this value are rejected (None: no limit)
    "dark_abs": 0.02,        # absolute shadow threshold, in the images' units
    "dark_rel": 0.02,        # shadow threshold relative to the pixel's bright level
    "bright_percentile": 90.0,
    "drop_bright": 0.3,      # brightest fraction left out of the initial fit
    "irls_iterations": 6,
    "outlier_sigmas": 6.0,   # outlier cutoff in robust standard deviations of the residuals
    "outlier_floor": 0.1,    # smallest outlier cutoff, relative to the fitted albedo
    "min_samples": 3,
    "max_residual": 0.5,     # largest inlier RMS residual of a valid pixel, relative to albedo
    "min_conditioning": 1e-3,  # smallest/largest eigenvalue of the inlier light Gram matrix
    "chunk": 16384,          # pixels per block (bounds memory)
}
LUMA = np.array([0.2126, 0.7152, 0.0722])
_YALE_NAME = re.compile(r"A([+-]?\d+(?:\.\d+)?)E([+-]?\d+(?:\.\d+)?)")


# ---------------------------------------------------------------- input checking

def _stack_images(images) -> np.ndarray:
    """List of H×W[×C] arrays or an (N,H,W[,C]) array → float32 (N, H, W, C), C in {1, 3}."""
    if isinstance(images, np.ndarray):
        stack = images[..., None] if images.ndim == 3 else images
    else:
        if len(images) == 0:
            raise InputError("photometric stereo needs images, got none")
        arrays = [np.asarray(a) for a in images]
        shapes = {a.shape if a.ndim == 3 else a.shape + (1,) for a in arrays}
        if len(shapes) != 1:
            raise InputError("all images must have the same size and channels, "
                             f"got {sorted(shapes)}")
        stack = np.stack([a if a.ndim == 3 else a[..., None] for a in arrays])
    if stack.ndim != 4 or stack.shape[1] < 1 or stack.shape[2] < 1:
        raise InputError(f"images must be N×H×W or N×H×W×C, got shape {stack.shape}")
    if stack.dtype.kind != "f":
        raise InputError(f"images must be float linear values (see images.load_image), "
                         f"got dtype {stack.dtype}")
    channels = stack.shape[-1]
    if channels not in (1, 3, 4):
        raise InputError(f"images must have 1, 3 or 4 channels, got {channels}")
    return np.asarray(stack[..., :3] if channels == 4 else stack, dtype=np.float32)


def _check_lights(lights, count: int) -> np.ndarray:
    """(N,3) finite, non-zero light vectors, not all in one plane."""
    lights = np.asarray(lights, dtype=np.float64)
    if lights.shape != (count, 3):
        raise InputError(f"expected {count} light directions (N×3), got shape {lights.shape}")
    if count < 3:
        raise InputError(f"photometric stereo needs at least 3 images and lights, got {count}")
    if not np.isfinite(lights).all():
        raise InputError("light directions must be finite numbers")
    if (np.linalg.norm(lights, axis=1) < 1e-6).any():
        raise InputError("a light direction has zero length")
    sv = np.linalg.svd(lights / np.linalg.norm(lights, axis=1, keepdims=True), compute_uv=False)
    if sv[-1] < 1e-3 * sv[0]:
        raise InputError("light directions all lie in one plane; normals are undetermined")
    return lights


def _check_options(options: Optional[dict]) -> dict:
    opts = dict(DEFAULT_OPTIONS)
    unknown = sorted(set(options or {}) - set(opts))
    if unknown:
        raise InputError(f"unknown photometric stereo option(s): {', '.join(unknown)}")
    opts.update(options or {})
    if int(opts["min_samples"]) < 3:
        raise InputError("min_samples must be at least 3")
    if int(opts["chunk"]) < 1 or int(opts["irls_iterations"]) < 0:
        raise InputError("chunk must be positive and irls_iterations non-negative")
    return opts


# ---------------------------------------------------------------- per-pixel fitting (N × P blocks)

def _weighted_fit(lights: np.ndarray, x: np.ndarray, w: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel weighted least squares of x ≈ L g. Returns g (P,3) and Gram matrices (P,3,3)."""
    gram = np.einsum("np,ni,nj->pij", w, lights, lights)
    rhs = np.einsum("np,ni,np->pi", w, lights, np.nan_to_num(x))
    ridge = 1e-9 * (np.trace(gram, axis1=1, axis2=2) + 1e-12)
    g = np.linalg.solve(gram + ridge[:, None, None] * np.eye(3), rhs[..., None])[..., 0]
    return g, gram


def _nan_quantile(x: np.ndarray, q: float) -> np.ndarray:
    """Per-column quantile (0..1, linear interpolation) of x (N,P) ignoring NaN; NaN if empty.

    Vectorised with one sort (NaN sorts last): ``np.nanpercentile`` loops over columns in Python.
    """
    srt = np.sort(x, axis=0)
    count = np.isfinite(x).sum(axis=0)
    pos = q * np.maximum(count - 1, 0)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
    a = np.take_along_axis(srt, lo[None], axis=0)[0]
    b = np.take_along_axis(srt, hi[None], axis=0)[0]
    return np.where(count > 0, a + (pos - lo) * (b - a), np.nan)


def _candidates(x: np.ndarray, opts: dict) -> np.ndarray:
    """Samples that are present, unsaturated and not shadowed (N,P bool)."""
    ok = np.isfinite(x)
    if opts["saturation"] is not None:
        ok &= ~(x >= float(opts["saturation"]))
    xs = np.where(ok, x, np.nan)
    bright = _nan_quantile(xs, float(opts["bright_percentile"]) / 100.0)
    dark = np.maximum(float(opts["dark_abs"]), float(opts["dark_rel"]) * np.nan_to_num(bright))
    return ok & (np.nan_to_num(xs, nan=-np.inf) > dark)


def _drop_brightest(x: np.ndarray, cand: np.ndarray, frac: float, keep: int) -> np.ndarray:
    """Remove each pixel's brightest ``frac`` of candidates, keeping at least ``keep`` of them."""
    n_cand = cand.sum(axis=0)
    k = np.minimum(np.floor(frac * n_cand), np.maximum(n_cand - keep, 0)).astype(int)
    order = np.argsort(np.where(cand, -x, np.inf), axis=0, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(x.shape[0])[:, None], axis=0)
    return cand & (rank >= k[None, :])


def _inlier_weights(x, lights, g, cand, opts) -> np.ndarray:
    """0/1 weights: candidates whose residual under fit g is within the pixel's outlier cutoff."""
    res = np.where(cand, np.nan_to_num(x) - lights @ g.T, np.nan)
    sigma = 1.4826 * _nan_quantile(np.abs(res), 0.5)
    cutoff = np.maximum(float(opts["outlier_sigmas"]) * np.nan_to_num(sigma),
                        float(opts["outlier_floor"]) * np.linalg.norm(g, axis=1))
    return (cand & (np.abs(np.nan_to_num(res, nan=np.inf)) <= cutoff)).astype(np.float64)


def _fit_block(x: np.ndarray, lights: np.ndarray, opts: dict) -> tuple[np.ndarray, np.ndarray]:
    """Robust (or plain) fit of one block of luminance samples x (N,P). Returns g and weights."""
    if not opts["robust"]:
        w = np.isfinite(x).astype(np.float64)
        return _weighted_fit(lights, x, w)[0], w
    cand = _candidates(x, opts)
    w = _drop_brightest(x, cand, float(opts["drop_bright"]), int(opts["min_samples"]))
    w = w.astype(np.float64)
    g = _weighted_fit(lights, x, w)[0]
    for _ in range(int(opts["irls_iterations"])):
        w = _inlier_weights(x, lights, g, cand, opts)
        g = _weighted_fit(lights, x, w)[0]
    return g, w


def _quality(x, lights, g, w, opts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel validity, inlier RMS residual relative to the albedo, and inlier count."""
    _, gram = _weighted_fit(lights, x, w)
    eig = np.linalg.eigvalsh(gram)
    conditioned = eig[:, 0] > float(opts["min_conditioning"]) * np.maximum(eig[:, 2], 1e-12)
    inliers = (w > 0.5).sum(axis=0)
    wsum = np.maximum(w.sum(axis=0), 1e-12)
    xs = np.nan_to_num(x)
    res = np.sqrt((w * (xs - lights @ g.T) ** 2).sum(axis=0) / wsum)
    albedo = np.linalg.norm(g, axis=1)
    rel = np.divide(res, albedo, out=np.full_like(res, np.inf), where=albedo > 0)
    valid = (conditioned & (inliers >= int(opts["min_samples"]))
             & (rel <= float(opts["max_residual"])) & (albedo > 0))
    return valid, np.where(np.isfinite(rel), rel, 0.0), inliers


def _albedo(stack_block: np.ndarray, lights: np.ndarray, n: np.ndarray,
            w: np.ndarray) -> np.ndarray:
    """Per-channel albedo ρ_c = Σ w s I_c / Σ w s², shading s = L·n (block: N,P,C → P,C)."""
    s = lights @ n.T
    den = np.maximum((w * s * s).sum(axis=0), 1e-12)
    num = np.einsum("np,np,npc->pc", w, s, np.nan_to_num(stack_block))
    return np.maximum(num / den[:, None], 0.0)


# ---------------------------------------------------------------- public API

def photometric_stereo(images, lights, mask=None, options: Optional[dict] = None,
                       progress: Optional[Callable[[float, str], None]] = None,
                       cancel: Optional[Callable[[], bool]] = None) -> dict:
    """Robust Lambertian photometric stereo.

    ``images``: a list of N H×W or H×W×C arrays, or an (N,H,W[,C]) array, linear values (NaN
    marks a missing sample); C = 3 (or 4, alpha ignored) fits the normal on Rec. 709 luminance and
    the albedo per channel. ``lights``: (N,3) camera-space directions toward each light.
    ``mask``: optional H×W, pixels outside are not fitted. ``options``: see ``DEFAULT_OPTIONS``.

    Returns a dict of float32 arrays: ``normal`` H×W×3 (unit; (0,0,1) where invalid), ``albedo``
    H×W×1 or H×W×3 (0 where invalid), ``mask`` H×W bool (valid fits), ``residual`` H×W (RMS
    residual of the inlier luminance samples divided by the fitted albedo; 0 where nothing was
    fitted) and ``samples`` H×W int32 (inlier count).
    """
    stack = _stack_images(images)
    n_img, h, w_img, channels = stack.shape
    lights = _check_lights(lights, n_img)
    opts = _check_options(options)
    pix = as_mask(mask, (h, w_img), "the images").ravel()
    flat = stack.reshape(n_img, h * w_img, channels)
    out = _empty_result(h * w_img, channels)
    todo = np.flatnonzero(pix)
    step = int(opts["chunk"])
    for start in range(0, todo.size, step):
        check_cancel(cancel)
        idx = todo[start:start + step]
        block = flat[:, idx].astype(np.float64)
        x = block[..., 0] if channels == 1 else block @ LUMA
        _solve_block(block, x, lights, opts, out, idx)
        if progress is not None:
            progress(min(1.0, (start + idx.size) / todo.size), "photometric stereo")
    return {k: v.reshape((h, w_img) + v.shape[1:]) for k, v in out.items()}


def _empty_result(pixels: int, channels: int) -> dict:
    normal = np.zeros((pixels, 3), dtype=np.float32)
    normal[:, 2] = 1.0
    return {"normal": normal, "albedo": np.zeros((pixels, channels), dtype=np.float32),
            "mask": np.zeros(pixels, dtype=bool), "residual": np.zeros(pixels, dtype=np.float32),
            "samples": np.zeros(pixels, dtype=np.int32)}


def _solve_block(block, x, lights, opts, out, idx) -> None:
    """Fit pixels ``idx`` (block: N,P,C; x: luminance N,P) and write into ``out``."""
    g, w = _fit_block(x, lights, opts)
    valid, rel, inliers = _quality(x, lights, g, w, opts)
    n = np.where(valid[:, None], unit(g, eps=1e-12), FACING)
    albedo = _albedo(block, lights, n, w) * valid[:, None]
    out["normal"][idx] = n
    out["albedo"][idx] = albedo
    out["mask"][idx] = valid
    out["residual"][idx] = rel
    out["samples"][idx] = inliers


# ---------------------------------------------------------------- light files

def _light_vector(value, name: str, source: str) -> np.ndarray:
    """A JSON value → unit 3-vector; InputError unless 3 finite numbers of non-zero length."""
    try:
        v = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        v = np.zeros(0)
    if v.shape != (3,) or not np.isfinite(v).all():
        raise InputError(f"{source}: light for '{name}' must be 3 numbers [x, y, z], got {value!r}")
    length = float(np.linalg.norm(v))
    if length < 1e-6:
        raise InputError(f"{source}: light for '{name}' has zero length")
    return v / length


def load_lights_json(path, image_paths: Sequence) -> np.ndarray:
    """Read a lights file and return the (N,3) unit light directions for ``image_paths``, in order.

    The file is a JSON object mapping an image name to its camera-space direction toward the light,
    ``{"img_01.png": [x, y, z], ...}`` (+X image right, +Y up, +Z toward the viewer). An image is
    looked up by the path as given, then its file name, then its file name without extension.
    Vectors of any non-zero length are accepted and **normalised** (files hold directions only);
    zero-length, non-numeric or non-finite entries, and images without an entry, raise InputError.
    """
    source = str(path)
    try:
        with open(path, "r", encoding="utf-8") as f:
            table = json.load(f)
    except FileNotFoundError:
        raise InputError(f"lights file not found: {source}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read lights file {source}: {exc}") from None
    if not isinstance(table, dict):
        raise InputError(f"{source}: expected a JSON object mapping image names to [x, y, z]")
    found, missing = [], []
    for image in image_paths:
        p = Path(image)
        key = next((k for k in (str(image), p.name, p.stem) if k in table), None)
        if key is None:
            missing.append(p.name)
        else:
            found.append(_light_vector(table[key], key, source))
    if missing:
        raise InputError(f"{source}: no light direction for {', '.join(missing)}")
    return np.array(found, dtype=np.float64).reshape(-1, 3)


# ---------------------------------------------------------------- Extended Yale Face B

def yale_light_direction(filename) -> np.ndarray:
    """Camera-space unit light direction from a Yale B name such as ``yaleB01_P00A+010E-20.pgm``.

    A is the azimuth and E the elevation in degrees; a positive azimuth puts the light on the
    subject's right (the image's left): ``(-sin A cos E, sin E, cos A cos E)``.
    """
    match = _YALE_NAME.search(Path(str(filename)).name)
    if match is None:
        raise InputError(f"not a Yale B light name (…A+010E-20…): {filename}")
    a, e = math.radians(float(match.group(1))), math.radians(float(match.group(2)))
    return np.array([-math.sin(a) * math.cos(e), math.sin(e), math.cos(a) * math.cos(e)])


def load_yale_subject(folder, saturation: float = 250.0 / 255.0) -> dict:
    """Load one Extended Yale B subject folder for photometric stereo.

    Reads every ``*.pgm`` except ``*_Ambient.pgm`` as raw linear values in [0, 1] (no sRGB
    decoding), marks samples at or above ``saturation`` (raw, before ambient subtraction) as
    missing (NaN), subtracts the ambient image when present and clamps at 0. Returns
    ``{"images": (N,H,W) float32, "lights": (N,3), "names": [file names]}``.
    """
    folder = Path(folder)
    files = sorted(p for p in folder.glob("*.pgm") if not p.name.endswith("_Ambient.pgm"))
    if not files:
        raise InputError(f"no Yale B images (*.pgm) in {folder}")
    ambient = sorted(folder.glob("*_Ambient.pgm"))
    amb = load_image(ambient[0], data=True)[..., 0] if ambient else 0.0
    images = []
    for p in files:
        raw = load_image(p, data=True)[..., 0]
        if np.shape(amb) not in ((), raw.shape):
            raise InputError(f"{p.name}: size {raw.shape} differs from the ambient image")
        images.append(np.where(raw >= saturation, np.nan, np.maximum(raw - amb, 0.0)))
    lights = np.array([yale_light_direction(p.name) for p in files])
    return {"images": np.stack(images).astype(np.float32), "lights": lights,
            "names": [p.name for p in files]}

