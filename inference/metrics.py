"""Image and normal-map metrics, restricted to a mask: used by tests, evaluation and benchmarks.

Normal maps are H×W×3 (camera space; only directions matter, both maps are normalised here).
Masks are H×W (or H×W×1), bool or values in [0, 1] with > 0.5 counting as inside.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from .errors import InputError
from .images import REC709_LUMA

ANGLE_THRESHOLDS = (11.25, 22.5, 30.0)


def _mask_for(mask: Optional[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Bool H×W mask (None → everything); InputError on a shape mismatch or an empty mask."""
    if mask is None:
        out = np.ones(shape, dtype=bool)
    else:
        out = np.asarray(mask)
        if out.ndim == 3 and out.shape[-1] == 1:
            out = out[..., 0]
        if out.shape != shape:
            raise InputError(f"mask shape {out.shape} does not match the image {shape}")
        out = out if out.dtype == bool else out > 0.5
    if not out.any():
        raise InputError("mask selects no pixels")
    return out


def _pair(a: np.ndarray, b: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim == 2:
        a = a[..., None]
    if b.ndim == 2:
        b = b[..., None]
    if a.shape != b.shape or a.ndim != 3:
        raise InputError(f"{what}: shapes differ or are not H×W×C: {a.shape} vs {b.shape}")
    return a, b


def angular_error(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per-pixel angle in degrees between two H×W×3 normal maps (H×W float64).

    Zero-length normals count as 90° away from anything (their cosine is taken as 0).
    """
    pred, ref = _pair(pred, ref, "angular_error")
    if pred.shape[-1] != 3:
        raise InputError(f"normal maps must have 3 channels, got {pred.shape[-1]}")
    cos = _cosine(pred, ref)
    return np.degrees(np.arccos(cos))


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    na = np.linalg.norm(a, axis=-1)
    nb = np.linalg.norm(b, axis=-1)
    den = na * nb
    dot = np.einsum("...c,...c->...", a, b)
    cos = np.divide(dot, den, out=np.zeros_like(dot), where=den > 1e-12)
    return np.clip(np.nan_to_num(cos, nan=0.0), -1.0, 1.0)


def normal_metrics(pred: np.ndarray, ref: np.ndarray,
                   mask: Optional[np.ndarray] = None) -> dict[str, float]:
    """Angular error statistics of ``pred`` against ``ref`` inside ``mask``.

    Returns a dict: ``mean_deg``, ``median_deg``, ``within_11_25``, ``within_22_5``,
    ``within_30`` (percent of pixels, 0–100, whose error is at most that many degrees),
    ``mean_cos`` (mean cosine similarity), ``mean_dx`` and ``mean_dy`` (the mean of pred − ref
    in X and Y: a tilt of the whole estimate shows here, where the angle hides its direction)
    and ``pixels`` (how many pixels were scored).
    """
    pred, ref = _pair(pred, ref, "normal_metrics")
    m = _mask_for(mask, pred.shape[:2])
    cos = _cosine(pred[m], ref[m])
    err = np.degrees(np.arccos(cos))
    out = {"mean_deg": float(err.mean()), "median_deg": float(np.median(err))}
    for t in ANGLE_THRESHOLDS:
        key = "within_" + f"{t:g}".replace(".", "_")
        out[key] = float(100.0 * np.mean(err <= t))
    out["mean_cos"] = float(cos.mean())
    diff = pred[m][:, :2] - ref[m][:, :2]
    out["mean_dx"], out["mean_dy"] = (float(v) for v in diff.mean(axis=0))
    out["pixels"] = int(m.sum())
    return out


def best_rotation(pred: np.ndarray, ref: np.ndarray,
                  mask: Optional[np.ndarray] = None) -> np.ndarray:
    """The rotation (3×3) that best turns ``pred``'s unit normals onto ``ref``'s inside ``mask``:
    ``pred @ R`` matches ``ref`` in least squares over the pixels (orthogonal Procrustes, a
    proper rotation)."""
    pred, ref = _pair(pred, ref, "best_rotation")
    m = _mask_for(mask, pred.shape[:2])
    return _procrustes(_unit_rows(pred[m]), _unit_rows(ref[m]))


def global_rotation(pred: np.ndarray, ref: np.ndarray,
                    mask: Optional[np.ndarray] = None) -> dict[str, float]:
    """How much of ``pred``'s error against ``ref`` one rotation of the whole map explains.

    Returns ``rotation_deg``, the angle of ``best_rotation`` (a head pose the estimate got wrong
    shows here), and ``mean_deg_rotated``, the mean angular error left once ``pred`` is turned
    by it (the shape's own error).
    """
    pred, ref = _pair(pred, ref, "global_rotation")
    m = _mask_for(mask, pred.shape[:2])
    a, b = _unit_rows(pred[m]), _unit_rows(ref[m])
    rotation = _procrustes(a, b)
    angle = np.degrees(np.arccos(np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0)))
    rotated = np.degrees(np.arccos(_cosine(a @ rotation, b)))
    return {"rotation_deg": float(angle), "mean_deg_rotated": float(rotated.mean())}


def _procrustes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The proper rotation R minimising ‖a·R − b‖ over the rows (N×3 each)."""
    u, _, vt = np.linalg.svd(a.T @ b)
    flip = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    return u @ flip @ vt


def _unit_rows(v: np.ndarray) -> np.ndarray:
    length = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, length, out=np.zeros_like(v), where=length > 1e-12)


def _psnr_from(pred: np.ndarray, ref: np.ndarray, m: np.ndarray, peak: Optional[float]) -> float:
    if peak is None:
        peak = float(ref[m].max())
    if not peak > 0:
        raise InputError(f"PSNR peak must be positive, got {peak}")
    mse = float(np.mean((pred[m] - ref[m]) ** 2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(peak * peak / mse))


def psnr(pred: np.ndarray, ref: np.ndarray, mask: Optional[np.ndarray] = None,
         peak: Optional[float] = None) -> float:
    """PSNR in dB over every channel of the pixels inside ``mask``.

    ``peak`` defaults to the largest reference value inside the mask. Identical images give
    ``inf``.
    """
    pred, ref = _pair(pred, ref, "psnr")
    m = _mask_for(mask, pred.shape[:2])
    return _psnr_from(pred, ref, m, peak)


def scale_invariant_psnr(pred: np.ndarray, ref: np.ndarray, mask: Optional[np.ndarray] = None,
                         peak: Optional[float] = None, per_channel: bool = False) -> float:
    """PSNR after scaling ``pred`` by the least-squares factor that best matches ``ref``.

    The factor is ``<pred, ref> / <pred, pred>`` over the mask, one for all channels or, with
    ``per_channel``, one per channel (for albedo, whose colour balance is ambiguous). Useful where
    the result is only defined up to exposure. ``peak`` as in ``psnr``.
    """
    pred, ref = _pair(pred, ref, "scale_invariant_psnr")
    m = _mask_for(mask, pred.shape[:2])
    p, r = pred[m], ref[m]
    axis = 0 if per_channel else None
    pp = np.sum(p * p, axis=axis)
    scale = np.divide(np.sum(p * r, axis=axis), pp, out=np.ones_like(pp), where=pp > 0)
    scaled = pred * scale
    return _psnr_from(scaled, ref, m, peak)


def ssim(pred: np.ndarray, ref: np.ndarray, mask: Optional[np.ndarray] = None) -> float:
    """Mean SSIM inside ``mask`` of two linear RGB images (H×W×3 or more channels; the first
    three count), on their Rec. 709 luminance scaled by the reference's peak inside the mask, with a
    Gaussian window (11×11, sigma 1.5) and the usual constants (0.01², 0.03²)."""
    pred, ref = _pair(pred, ref, "ssim")
    if pred.shape[-1] < 3:
        raise InputError(f"ssim takes RGB images, got {pred.shape[-1]} channels")
    inside = _mask_for(mask, pred.shape[:2])
    peak = max(float(ref[inside].max()), 1e-6)
    luma_pred = (pred[..., :3] @ REC709_LUMA) / peak
    luma_ref = (ref[..., :3] @ REC709_LUMA) / peak

    def blur(image):
        return cv2.GaussianBlur(image, (11, 11), 1.5)

    mu_pred, mu_ref = blur(luma_pred), blur(luma_ref)
    var_pred = blur(luma_pred * luma_pred) - mu_pred ** 2
    var_ref = blur(luma_ref * luma_ref) - mu_ref ** 2
    covariance = blur(luma_pred * luma_ref) - mu_pred * mu_ref
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    index = (((2 * mu_pred * mu_ref + c1) * (2 * covariance + c2))
             / ((mu_pred ** 2 + mu_ref ** 2 + c1) * (var_pred + var_ref + c2)))
    return float(index[inside].mean())
