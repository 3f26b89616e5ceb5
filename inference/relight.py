"""Producers and consumers of passes for the command line and the Blender operators.

- ``photometric_passes``: captured images + light directions → measured ``Passes``.
- ``load_or_decompose``: a pass folder / multi-layer EXR as is, or an image decomposed.
- ``relight_passes``: the Cook-Torrance render under an HDRI, optionally refined by RenderNet.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from . import images, integrate, photometric, pipeline, render
from .errors import InputError, OutputError
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


def is_pass_source(path: str | Path) -> bool:
    """True for a pass folder (passes.exr or a normal map inside) or a multi-layer EXR holding
    ``ViewLayer.Normal``; a folder of plain images is a sequence, not passes."""
    path = Path(path)
    if path.is_dir():
        return any((path / name).exists() for name in
                   ("passes.exr", "normal.exr", "normal.png", "normal.tif", "normal.tiff"))
    if path.suffix.lower() == ".exr" and path.exists():
        return any(name.endswith(".Normal.X") for name in images.read_exr_channels(path))
    return False


def load_or_decompose(source: str | Path, progress: ProgressFn | None = None,
                      cancel: CancelFn | None = None) -> Passes:
    if is_pass_source(source):
        return Passes.load(source)
    return pipeline.decompose(images.load_image(source), None, progress, cancel)


def relight_passes(passes: Passes, lighting, *, refine: bool = False,
                   options: render.RenderOptions | None = None,
                   shadows: bool = True,
                   progress: ProgressFn | None = None, cancel: CancelFn | None = None
                   ) -> render.RelitImage:
    """Cook-Torrance render of ``passes`` under ``lighting``; RenderNet refines it on request.
    The height pass casts shadows unless ``shadows`` is False (or ``options.shadows`` is)."""
    steps = Steps(progress, {"render": 3, "refine": 2 if refine else 0}, cancel)
    if refine:  # fail before rendering when the model is missing
        pipeline.require_refiner()
    if not shadows:
        options = dataclasses.replace(options or render.RenderOptions(), shadows=False)
    image = render.relight(passes, lighting, options, steps.stage("render"), cancel)
    if refine:
        image.rgb = pipeline.refine(passes, image, progress=steps.stage("refine"),
                                    cancel=cancel)
    steps.done()
    return image


def relight_source(source: str | Path, *, hdri: str | None = None, rotation: float = 0.0,
                   strength: float = 1.0, lighting=None, refine: bool = False,
                   shadows: bool = True,
                   progress: ProgressFn | None = None, cancel: CancelFn | None = None
                   ) -> np.ndarray:
    """The ``relight`` command: returns premultiplied linear RGBA. ``lighting`` (a
    ``lightspec.Lighting``: HDRI, rig, lights) replaces ``hdri``, ``rotation`` and ``strength``."""
    if refine:
        pipeline.require_refiner()
    passes = load_or_decompose(source, progress, cancel)
    light = (lighting.for_render(passes.shape) if lighting is not None
             else render.HdriLight(hdri, rotation=rotation, strength=strength))
    image = relight_passes(passes, light, refine=refine, shadows=shadows,
                           progress=progress, cancel=cancel)
    return np.dstack([image.rgb, image.alpha])


def aov_layers(passes: Passes, relit: render.RelitImage) -> dict:
    """The AOVs of a relit plate, by Blender pass name: the relit beauty as Combined (RGBA,
    premultiplied), its diffuse and glossy light, the source plate, and every pass."""
    layers = passes.multilayer()
    layers.pop("Combined", None)
    return {"Combined": (np.dstack([relit.rgb, relit.alpha]), "RGBA"),
            "Diffuse Direct": (relit.diffuse, "RGB"), "Glossy Direct": (relit.specular, "RGB"),
            "Plate": (passes.rgb, "RGB"), **layers}


def export_aovs(passes: Passes, relit: render.RelitImage, out: str | Path, *,
                half: bool = True, single: bool = False, previews: bool = False,
                overwrite: bool = False) -> list[Path]:
    """Write the AOVs as one multi-layer EXR (``ViewLayer.<Pass>.<channel>``); with ``single``
    also ``<stem>.<pass>.exr`` files (plain channels), with ``previews`` PNGs. All atomic; an
    existing file is never replaced without ``overwrite``."""
    out = Path(out)
    if out.suffix.lower() != ".exr":
        raise InputError(f"AOVs are written as a multi-layer EXR; got {out.name}")
    layers = aov_layers(passes, relit)
    def beside(name: str, ext: str) -> Path:
        return out.with_name(f"{out.stem}.{name.replace(' ', '_')}{ext}")

    targets = [out] + [beside(n, ".exr") for n in layers if single] + \
        [beside(n, ".png") for n in layers if previews]
    clash = [p for p in targets if p.exists()]
    if clash and not overwrite:
        raise OutputError(f"{clash[0]} exists; pass --overwrite to replace outputs")
    written = [images.save_multilayer_exr(out, layers, half=half)]
    for name, (array, chans) in layers.items():
        data = chans in ("XYZ", "X")
        if single:
            written.append(images.save_exr(beside(name, ".exr"), array, half=half))
        if previews:
            shown = images.normal_to_rgb(array) if chans == "XYZ" else array
            written.append(images.save_png(beside(name, ".png"),
                                           np.clip(shown, 0, 1), data=data))
    return written
