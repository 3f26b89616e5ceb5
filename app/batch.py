"""Batch rendering: Relit's own batch scene or a user's .blend, a source's passes staged on the
one batch plate under a lighting description, and a Cycles render of it."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import bpy
import numpy as np

from ..datablocks import lights, plate, world
from ..inference import pipeline
from ..inference.errors import InputError
from ..inference.images import save_image
from ..inference.lightspec import Lighting
from ..inference.render import HdriLight
from ..inference.rgba import unpremultiply
from ..inference.sources import load_or_decompose
from .passes import plate_with_estimate
from .refine import refine_settings, render_result_pixels
from .settings import registry
from .sources import decompose_options, source_name

BATCH_SCENE = "Relit Batch"
BATCH_NAME = "Batch"   # one set of plate datablocks, reused for every source of a batch run


def batch_scene(models_dir: str = ""):
    """A scene of Relit's own for batch renders: an orthographic camera along +Y (the relight
    scene), Cycles CPU with OpenImageDenoise, Standard view transform, transparent film.
    Reused; the user's scenes are untouched. Its models folder is ``models_dir``, else the
    current scene's.

    Orthographic, as ``inference.render`` sees the passes: the displaced relief moves along
    the view, so every pixel of the render stays on its own pixel of the passes (a perspective
    camera shifts the relief sideways, and RenderNet reads render and passes pixel by pixel).
    """
    import math

    scene = bpy.data.scenes.get(BATCH_SCENE)
    if scene is None or not scene.get("relit"):
        scene = bpy.data.scenes.new(BATCH_SCENE)
        scene["relit"] = 1
    if scene.camera is None:
        cam = bpy.data.objects.new("Relit Batch Camera", bpy.data.cameras.new("Relit Batch"))
        cam.rotation_euler = (math.pi / 2, 0.0, 0.0)  # looks along +Y, Z up
        scene.collection.objects.link(cam)
        scene.camera = cam
    scene.camera.data.type = "ORTHO"
    scene.camera.data.ortho_scale = plate.PLANE_WIDTH   # the plate is as wide as in perspective
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.denoiser = "OPENIMAGEDENOISE"
    scene.cycles.denoising_input_passes = "RGB_ALBEDO_NORMAL"
    # A plate is smooth: OIDN's balanced quality and fast prefilter cost a fraction of high
    # quality with the accurate prefilter, for the same agreement with inference.render
    # (tests/blender/test_plate_reference.py).
    scene.cycles.denoising_quality = "BALANCED"
    scene.cycles.denoising_prefilter = "FAST"
    # A plate lit by an HDRI and a few lights: the light tree and deep bounces buy nothing.
    scene.cycles.use_light_tree = False
    scene.cycles.max_bounces = 4
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.render.film_transparent = True
    current = getattr(bpy.context, "scene", None)
    if not models_dir and current is not None and current != scene:
        models_dir = current.relit.models_dir
    if scene.relit.models_dir != (models_dir or ""):
        scene.relit.models_dir = models_dir or ""
    return scene


FIT_CAMERA = "relit_fit_camera"


def user_scene(path: str, name: str = "", models_dir: str = ""):
    """A scene of the user's .blend ``path`` (``name``, default its first), appended into this
    session to render in, with its lights, world and render settings; the file itself is
    only read, never written. A scene without a camera gets "Relit Camera", which
    ``stage_source`` places so the plate sits at the world origin, facing -Y (Front view).
    Raises InputError for a missing or unreadable file or an unknown scene name."""
    import math

    file = Path(path)
    if not file.is_file():
        raise InputError(f"scene file not found: {path}")
    if file.suffix.lower() != ".blend":
        raise InputError(f"--scene needs a .blend file, got {file.name}")
    try:
        with bpy.data.libraries.load(str(file.resolve()), link=False) as (src, dst):
            names = list(src.scenes)
            if not names:
                raise InputError(f"{file.name} holds no scene")
            if name and name not in names:
                raise InputError(f"{file.name} has no scene '{name}'; it has "
                                 f"{', '.join(names)}")
            dst.scenes = [name or names[0]]
    except OSError as exc:
        raise InputError(f"cannot read {file.name} as a .blend: {exc}") from None
    scene = dst.scenes[0]
    if scene is None:
        raise InputError(f"cannot read the scene of {file.name}")
    if scene.camera is None:
        cam = bpy.data.objects.new("Relit Camera", bpy.data.cameras.new("Relit Camera"))
        cam[FIT_CAMERA] = 1
        cam["relit"] = 1
        cam.rotation_euler = (math.pi / 2, 0.0, 0.0)  # looks along +Y, Z up
        scene.collection.objects.link(cam)
        scene.camera = cam
    if models_dir and scene.relit.models_dir != models_dir:
        scene.relit.models_dir = models_dir
    return scene


def _fit_camera(scene, plane) -> None:
    """Move Relit's own camera (``user_scene``) so that the plate's centre is the origin."""
    cam = scene.camera
    if cam is None or not cam.get(FIT_CAMERA):
        return
    scene.view_layers[0].update()
    cam.location = cam.matrix_world.translation - plane.matrix_world.translation
    scene.view_layers[0].update()


def stage_source(scene, source: str, *, hdri: Optional[str] = None, rotation: float = 0.0,
                 strength: float = 1.0, lighting=None, samples: Optional[int] = 32,
                 displace: bool = False, denoise: Optional[bool] = False,
                 shadows: bool = True, progress=None):
    """Passes of ``source`` (a pass folder, passes.exr or an image to decompose) on the plate,
    lit by an HDRI or by ``lighting`` (``inference.lightspec.Lighting``: HDRI, rig, lights;
    see ``stage_lighting``), ready for a Cycles render; returns ``(name, passes, plate)``.
    Every source reuses the one batch plate (plane, material, in-memory images): a long
    sequence holds one frame's data at a time. ``samples`` or ``denoise`` None keeps the
    scene's. ``shadows`` False makes the plate invisible to every ray but the camera's: the
    relief then neither shadows nor occludes itself (``inference.render`` with
    ``shadows=False``)."""
    import dataclasses

    if samples is not None and samples < 1:
        raise InputError(f"samples must be at least 1, got {samples}")
    passes = load_or_decompose(source, progress, options=decompose_options(scene.relit))
    for warning in passes.meta.get("warnings", []):
        print(f"relit: warning: {source}: {warning}", file=sys.stderr)
    if not displace:
        passes = dataclasses.replace(passes, height=None)
    settings = scene.relit
    built = plate_with_estimate(scene, passes, BATCH_NAME, pack=False,
                                subdivisions=settings.subdivisions)
    settings.active = BATCH_NAME
    # one plate per render; scene.objects, as the collection's all_objects cache is stale
    # right after a new plate is linked (it then yields None)
    for obj in scene.objects:
        if obj.get("relit_source") and obj.get("relit_source") != BATCH_NAME:
            obj.hide_render = True
    built.plane.hide_render = False
    for ray in ("visible_shadow", "visible_diffuse", "visible_glossy", "visible_transmission"):
        setattr(built.plane, ray, bool(shadows))
    _fit_camera(scene, built.plane)
    if lighting is None:
        lighting = Lighting(HdriLight(hdri, rotation=rotation, strength=strength))
    stage_lighting(scene, built.plane, lighting, passes.shape)
    if samples is not None:
        scene.cycles.samples = samples
    if denoise is not None:
        scene.cycles.use_denoising = denoise
    return source_name(source), passes, built


def stage_lighting(scene, plane, lighting, shape) -> None:
    """Light ``plane`` in ``scene`` as the numpy renderer lights an image of ``shape`` under
    ``lighting``: its HDRI as Relit's world (Relit's batch scene without one: a black world,
    so the lights alone light it, as in ``render.cook_torrance``; a user's scene keeps its world),
    its rig and file lights placed on the plate (``lights.place_lights``; Relit's earlier
    lights in the scene removed, the user's kept)."""
    if lighting.hdri is not None:
        world.hdri_world(scene, lighting.hdri.source, lighting.hdri.rotation,
                         lighting.hdri.strength)
    elif scene.get("relit"):
        world.ambient_world(scene, (0.0, 0.0, 0.0))
    named = lighting.named_lights(shape)
    if named:
        lights.place_lights(scene, plane, named)
    else:
        lights.remove_lights(scene)


def render_source(scene, source: str, out: Path, *, hdri: Optional[str] = None,
                  rotation: float = 0.0, strength: float = 1.0, lighting=None,
                  samples: Optional[int] = 32, displace: bool = False,
                  refine: bool = False, refine_options: Optional[dict] = None,
                  denoise: bool = False, shadows: bool = True, progress=None) -> Path:
    """``stage_source``, then a Cycles render written atomically to ``out``."""
    if refine:
        pipeline.require_refiner(registry(scene.relit))
    _, passes, _ = stage_source(scene, source, hdri=hdri, rotation=rotation,
                                strength=strength, lighting=lighting, samples=samples,
                                displace=displace, denoise=denoise, shadows=shadows,
                                progress=progress)
    scene.compositing_node_group = None  # the plain render, whatever an export left
    bpy.ops.render.render(scene=scene.name)
    rgba = render_result_pixels(scene)
    if refine:   # refine returns premultiplied colour, like the render
        rgb = pipeline.refine(passes, rgba, {**refine_settings(scene.relit),
                                             **(refine_options or {})})
        rgba = np.dstack([rgb, rgba[..., 3]])
    if out.suffix.lower() != ".exr":
        rgba = unpremultiply(rgba)
    return save_image(out, rgba, overwrite=True)
