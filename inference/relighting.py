"""Relighting with the numpy renderer: passes rendered by ``render``'s Cook-Torrance model under
a lighting, refined by RenderNet on request (the ``relight`` and ``export`` commands)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from . import pipeline, render
from .passes import Passes
from .progress import CancelFn, ProgressFn, Steps
from .sources import load_or_decompose


def relight_passes(passes: Passes, lighting, *, refine: bool = False,
                   refine_options: dict | None = None,
                   options: render.RenderOptions | None = None,
                   shadows: bool = True,
                   progress: ProgressFn | None = None, cancel: CancelFn | None = None
                   ) -> render.RelitImage:
    """Cook-Torrance render of ``passes`` under ``lighting``; RenderNet refines it on request,
    with ``refine_options`` (``pipeline.DecomposeOptions`` fields: ``refine_strength``).
    The height pass casts shadows unless ``shadows`` is False (or ``options.shadows`` is)."""
    steps = Steps(progress, {"render": 3, "refine": 2 if refine else 0}, cancel)
    if refine:  # fail before rendering when the model is missing
        pipeline.require_refiner()
    if not shadows:
        options = dataclasses.replace(options or render.RenderOptions(), shadows=False)
    image = render.cook_torrance(passes, lighting, options, steps.stage("render"), cancel)
    if refine:
        image.rgb = pipeline.refine(passes, image, refine_options,
                                    progress=steps.stage("refine"), cancel=cancel)
    steps.done()
    return image


def relight_source(source: str | Path, *, hdri: str | None = None, rotation: float = 0.0,
                   strength: float = 1.0, lighting=None, refine: bool = False,
                   refine_options: dict | None = None, shadows: bool = True,
                   progress: ProgressFn | None = None, cancel: CancelFn | None = None
                   ) -> np.ndarray:
    """The ``relight`` command: returns premultiplied linear RGBA. ``lighting`` (a
    ``lightspec.Lighting``: HDRI, rig, lights) replaces ``hdri``, ``rotation`` and ``strength``."""
    if refine:
        pipeline.require_refiner()
    passes = load_or_decompose(source, progress, cancel)
    light = (lighting.for_render(passes.shape) if lighting is not None
             else render.HdriLight(hdri, rotation=rotation, strength=strength))
    image = relight_passes(passes, light, refine=refine, refine_options=refine_options,
                           shadows=shadows,
                           progress=progress, cancel=cancel)
    return np.dstack([image.rgb, image.alpha])
