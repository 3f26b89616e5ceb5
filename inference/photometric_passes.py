"""Measured passes: photometric stereo over captures lit from known directions
(``photometric``'s solver), the normal integrated into height (``integrate``)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from . import images, integrate, photometric
from .errors import InputError
from .passes import Passes
from .progress import CancelFn, ProgressFn, Steps

PS_ROUGHNESS_NOTE = ("roughness and reflectivity are not measured by Lambertian photometric "
                     "stereo; renderers fall back to 0.5 and F0 0.04")


def photometric_passes(image_paths: Sequence[str | Path], lights_json: str | Path, *,
                       ambient: Optional[str | Path] = None, mask: Optional[np.ndarray] = None,
                       linear: bool = False, saturation: float = 250.0 / 255.0,
                       progress: ProgressFn | None = None, cancel: CancelFn | None = None
                       ) -> Passes:
    """Photometric stereo over image files lit from the directions in ``lights_json``.

    Captures are read by ``images.load_capture``: EXR and float files as linear; 8- and 16-bit
    files sRGB-decoded unless ``linear`` (captures that hold linear values, as raw converters
    and machine-vision cameras write them); clipped samples (stored value ≥ ``saturation`` of
    full scale) are left out of the fit. ``ambient`` is subtracted from every capture."""
    if len(image_paths) < 3:
        raise InputError(f"photometric stereo needs at least 3 images, got {len(image_paths)}")
    if not 0.0 < saturation <= 1.0:
        raise InputError(f"saturation must be in (0, 1], got {saturation}")
    steps = Steps(progress, {"load": 1, "fit": 4, "height": 2}, cancel)
    load = steps.stage("load")
    lights = photometric.load_lights_json(lights_json, image_paths)
    stack = []
    for i, path in enumerate(image_paths):
        stack.append(images.load_capture(path, linear=linear, saturation=saturation))
        load((i + 1) / len(image_paths), f"loaded {Path(path).name}")
    shapes = {s.shape for s in stack}
    if len(shapes) > 1:
        raise InputError(f"photometric stereo images differ in size: {sorted(shapes)}")
    if ambient is not None:
        amb = np.nan_to_num(images.load_capture(ambient, linear=linear, saturation=1.01))
        if amb.shape != stack[0].shape:
            raise InputError(f"ambient image is {amb.shape[:2]}, captures are "
                             f"{stack[0].shape[:2]}")
        stack = [np.maximum(s - amb, 0.0) for s in stack]  # NaN (clipped) stays NaN
    return passes_from_stack(np.stack(stack), lights, mask=mask, steps=steps)


def passes_from_stack(stack: np.ndarray, lights: np.ndarray, *, mask=None,
                      steps: Steps | None = None) -> Passes:
    """Photometric stereo on an (N,H,W,3) linear stack; the most frontal capture is ``rgb``."""
    steps = steps or Steps(None, {"fit": 4, "height": 2})
    fit = photometric.photometric_stereo(stack, lights, mask=mask, progress=steps.stage("fit"),
                                         cancel=steps.cancel)
    valid = fit["mask"].astype(np.float32)
    albedo = images.to_rgb(fit["albedo"])
    top = float(np.percentile(albedo[valid > 0], 99.5)) if valid.any() else 1.0
    scale = 1.0 / top if top > 1.0 else 1.0  # unknown light power: keep albedo within [0, 1]
    height = integrate.integrate(fit["normal"], valid > 0.5, progress=steps.stage("height"),
                                 cancel=steps.cancel)
    frontal = int(np.argmax(np.asarray(lights)[:, 2]))
    rgb = stack[frontal]
    rgb = np.where(np.isnan(rgb), np.nanmax(stack, axis=0), rgb)  # clipped: its brightest
    passes = Passes(rgb=np.nan_to_num(rgb).astype(np.float32), alpha=valid,
                    normal=fit["normal"].astype(np.float32),
                    albedo=np.clip(albedo * scale, 0.0, 1.0).astype(np.float32), height=height,
                    meta={"source": "photometric stereo", "images": int(len(stack)),
                          "albedo_scale": scale, "note": PS_ROUGHNESS_NOTE})
    steps.done()
    return passes.validate()
