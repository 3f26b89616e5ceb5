"""The Python API behind the operators: every step an artist or a script runs, with explicit
scene and settings (no ``context.area``), so batch code and tests call it directly.

Flow: source image → ``inference`` (passes, on a worker thread) → ``apply_passes`` (Blender
images, the plate plane and material via ``shaders``) → lights/world → render → refine/export.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import bpy
import numpy as np

from ..inference import images as imageio
from ..inference import pipeline
from ..inference.errors import InputError
from ..inference.models import Registry, default_registry
from ..inference.passes import PASS_TABLE, Passes
from ..inference.relight import photometric_passes
from ..shaders import ShaderError, bridge, lights, plate, world

_passes: dict[str, Passes] = {}  # the session's passes by name (images hold them across saves)


# ---------------------------------------------------------------- settings helpers

_registries: dict[str, Registry] = {}


def registry(settings) -> Registry:
    """The scene's models folder's registry (kept, so checksums are not redone per redraw),
    or the extension's own."""
    folder = bpy.path.abspath(settings.models_dir) if settings.models_dir else ""
    if not folder:
        return default_registry()
    if folder not in _registries:
        _registries[folder] = Registry(folder)
    return _registries[folder]


def output_folder(settings, name: str) -> Optional[Path]:
    """Where the passes of ``name`` are saved, or None when they are packed into the .blend."""
    if settings.pack_images:
        return None
    if not settings.output_dir:
        raise InputError("set an output folder for the passes, or choose to pack them")
    if settings.output_dir.startswith("//") and not bpy.data.filepath:
        raise InputError("the output folder is relative (//) but the .blend is not saved yet: "
                         "save it, pick an absolute folder, or pack the passes")
    return Path(bpy.path.abspath(settings.output_dir)) / bpy.path.clean_name(name)


# ---------------------------------------------------------------- sources

def image_source(image) -> tuple[str, np.ndarray]:
    """``(name, linear float pixels)`` of a Blender image: from its file when it has one (so
    EXIF orientation, bit depth and colour are read by Relit's loader), else its pixels."""
    if image is None:
        raise InputError("no image selected: open one in the Image Editor or choose a file")
    name = Path(image.name).stem
    path = bpy.path.abspath(image.filepath) if image.filepath else ""
    if path and Path(path).is_file() and image.packed_file is None:
        return name, imageio.load_image(path)
    pixels = bridge.read_pixels(image)
    if not image.is_float and not image.colorspace_settings.is_data:
        # byte images expose sRGB-encoded values through Image.pixels
        pixels[..., :3] = imageio.srgb_to_linear(pixels[..., :3])
    return name, pixels


def file_source(path: str) -> tuple[str, np.ndarray]:
    path = bpy.path.abspath(path)
    if not path:
        raise InputError("no source file chosen")
    return Path(path).stem, imageio.load_image(path)


def require_models(settings, names=pipeline.CHAIN) -> None:
    registry(settings).require(names)


def decompose_work(settings, pixels: np.ndarray):
    """A job body: the decomposition chain with the scene's settings (runs off the UI thread)."""
    options = {"max_side": settings.max_side, "mirror_normals": settings.mirror_normals,
               "registry": registry(settings)}
    return lambda progress, cancel: pipeline.decompose(pixels, options, progress, cancel)


def photometric_work(paths: list[str], lights_path: str):
    def work(progress, cancel):
        return photometric_passes(paths, bpy.path.abspath(lights_path), progress=progress,
                                  cancel=cancel)
    return work


def load_passes(path: str) -> tuple[str, Passes]:
    """``(name, passes)`` from a pass folder, a multi-layer EXR, or any file inside a folder."""
    from ..inference.relight import is_pass_source

    source = Path(bpy.path.abspath(path))
    if not source.exists():
        raise InputError(f"not found: {source}")
    if source.is_file() and not is_pass_source(source):
        source = source.parent
    name = source.name if source.is_dir() else source.parent.name
    return name or "plate", Passes.load(source)


# ---------------------------------------------------------------- passes → Blender

def apply_passes(scene, settings, name: str, passes: Passes, *, build: bool = True):
    """Keep the passes as Blender images (saved to the output folder, or packed) and, with
    ``build``, make the plate. ``export_passes`` writes the pipeline's pass folder."""
    _passes[name] = passes
    settings.active = name
    if not build:
        folder = output_folder(settings, name)
        return bridge.pass_images(passes, name, folder=None if folder is None else str(folder),
                                  pack=settings.pack_images)
    return build_plate(scene, settings, name)


def current_passes(name: str) -> Passes:
    """The passes of ``name``: from this session, or read back from its Blender images."""
    if name in _passes:
        return _passes[name]
    found = {}
    for image in bpy.data.images:
        if image.get("relit_source") == name and image.get("relit_pass") in PASS_TABLE:
            key = image["relit_pass"]
            found[key] = (bridge.image_normal(image) if key == "normal"
                          else bridge.read_pixels(image, 1 if key in _SCALAR else 3))
    if "normal" not in found:
        raise InputError(f"no passes named '{name}': decompose or import an image first")
    found.setdefault("rgb", found.get("albedo", np.zeros_like(found["normal"])))
    found.setdefault("alpha", np.ones(found["normal"].shape[:2], np.float32))
    plane = plate.find_plane(name)
    sh = plane.get("relit_sh") if plane is not None else None
    passes = Passes(**found, sh=None if sh is None else np.asarray(sh, np.float32).reshape(9, 3))
    _passes[name] = passes.validate()
    return passes


_SCALAR = {"roughness", "reflectivity", "alpha", "height"}


def build_plate(scene, settings, name: str):
    if scene.camera is None:
        raise ShaderError("the scene has no camera: add one (the plate is fitted to it)")
    passes = current_passes(name)
    folder = output_folder(settings, name)
    made = plate.build_plate(scene, passes, name, folder=None if folder is None else str(folder),
                             pack=settings.pack_images,
                             keep_plate=settings.keep_plate,
                             height_scale=settings.height_scale,
                             subdivisions=settings.subdivisions)
    if passes.sh is not None:
        made.plane["relit_sh"] = np.asarray(passes.sh, np.float32).ravel().tolist()
    return made


def active_plane(scene, settings):
    plane = plate.find_plane(settings.active, scene) if settings.active else None
    if plane is None:
        raise ShaderError("no relight plane yet: decompose or import passes first")
    return plane


# ---------------------------------------------------------------- lighting

def add_light_rig(scene, settings):
    return lights.light_rig(scene, active_plane(scene, settings), settings.light_preset,
                            settings.light_strength)


def set_hdri(scene, settings):
    source = settings.hdri if settings.hdri != "FILE" else bpy.path.abspath(settings.hdri_path)
    if not source:
        raise InputError("choose an HDRI file")
    return world.hdri_world(scene, source, settings.hdri_rotation, settings.hdri_strength)


def match_lighting(scene, settings, mode: str):
    plane = active_plane(scene, settings)
    sh = current_passes(settings.active).sh
    if sh is None:
        raise InputError(f"'{settings.active}' has no lighting estimate (photometric-stereo "
                         "and imported passes without lighting.json have none)")
    if mode == "WORLD":
        return world.sh_world(scene, sh)
    return lights.lights_from_sh(scene, sh, plane)


# ---------------------------------------------------------------- refine and export

def render_result_pixels(scene) -> np.ndarray:
    """The last render as linear float RGBA (saved through a temporary EXR)."""
    import tempfile

    result = bpy.data.images.get("Render Result")
    if result is None:
        raise InputError("no render yet: render the scene (F12) before refining")
    with tempfile.TemporaryDirectory(prefix="relit-") as tmp:
        path = str(Path(tmp) / "render.exr")
        settings = scene.render.image_settings
        saved = (settings.file_format, settings.color_depth)
        settings.file_format, settings.color_depth = "OPEN_EXR", "32"
        try:
            result.save_render(filepath=path, scene=scene)
        except RuntimeError:
            raise InputError("no render yet: render the scene (F12) before refining") from None
        finally:
            settings.file_format, settings.color_depth = saved
        rgba = imageio.load_image(path)
    return rgba if rgba.shape[-1] == 4 else np.dstack([imageio.to_rgb(rgba),
                                                       np.ones(rgba.shape[:2], np.float32)])


def refine_work(settings, name: str, rendered: np.ndarray):
    passes = current_passes(name)
    if rendered.shape[:2] != passes.shape:
        raise InputError(f"the render is {rendered.shape[1]} x {rendered.shape[0]} but the passes "
                         f"are {passes.shape[1]} x {passes.shape[0]}: render at 100 % of the "
                         "plate's resolution")
    options = {"max_side": settings.max_side, "registry": registry(settings)}
    return lambda progress, cancel: pipeline.refine(passes, rendered, options, progress, cancel)


def refined_image(name: str, pixels: np.ndarray):
    return bridge.image_from_array(pixels, f"Relit {name} Refined", data=False,
                                   key=f"{name}/refined")


def export_passes(settings, name: str, folder: str, overwrite: bool) -> list[Path]:
    return current_passes(name).save(bpy.path.abspath(folder), overwrite=overwrite)


# ---------------------------------------------------------------- batch rendering

BATCH_SCENE = "Relit Batch"


def batch_scene():
    """A scene of Relit's own for batch renders: camera along +Y (the relight scene), Cycles
    CPU, Standard view transform, transparent film. Reused; the user's scenes are untouched."""
    import math

    scene = bpy.data.scenes.get(BATCH_SCENE)
    if scene is None:
        scene = bpy.data.scenes.new(BATCH_SCENE)
        scene["relit"] = 1
        cam = bpy.data.objects.new("Relit Batch Camera", bpy.data.cameras.new("Relit Batch"))
        cam.rotation_euler = (math.pi / 2, 0.0, 0.0)  # looks along +Y, Z up
        scene.collection.objects.link(cam)
        scene.camera = cam
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    # A plate lit by an HDRI and a few lights: the light tree and deep bounces buy nothing.
    scene.cycles.use_light_tree = False
    scene.cycles.max_bounces = 4
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.render.film_transparent = True
    scene.relit.pack_images = True
    return scene


def stage_source(scene, source: str, *, hdri: str, rotation: float = 0.0,
                 strength: float = 1.0, samples: int = 32, displace: bool = False,
                 denoise: bool = False):
    """Passes of ``source`` (a pass folder, passes.exr or an image to decompose) on the plate,
    lit by an HDRI, ready for a Cycles render; returns ``(name, passes, plate)``."""
    import dataclasses

    from ..inference.relight import load_or_decompose

    if samples < 1:
        raise InputError(f"samples must be at least 1, got {samples}")
    passes = load_or_decompose(source)
    if not displace:
        passes = dataclasses.replace(passes, height=None)
    name = Path(str(source).rstrip("/")).stem or "plate"
    made = apply_passes(scene, scene.relit, name, passes)
    # one plate per render; scene.objects, as the collection's all_objects cache is stale
    # right after a new plate is linked (it then yields None)
    for obj in scene.objects:
        if obj.get("relit_source") and obj.get("relit_source") != name:
            obj.hide_render = True
    made.plane.hide_render = False
    world.hdri_world(scene, hdri, rotation, strength)
    scene.cycles.samples = samples
    scene.cycles.use_denoising = denoise
    return name, passes, made


def render_source(scene, source: str, out: Path, *, hdri: str, rotation: float = 0.0,
                  strength: float = 1.0, samples: int = 32, displace: bool = False,
                  refine: bool = False, denoise: bool = False) -> Path:
    """``stage_source``, then a Cycles render written atomically to ``out``."""
    if refine:
        pipeline.require_refiner(registry(scene.relit))
    _, passes, _ = stage_source(scene, source, hdri=hdri, rotation=rotation,
                                strength=strength, samples=samples, displace=displace,
                                denoise=denoise)
    scene.compositing_node_group = None  # the plain render, whatever an export left
    bpy.ops.render.render(scene=scene.name)
    rgba = render_result_pixels(scene)
    if refine:
        rgb = pipeline.refine(passes, rgba[..., :3], {"registry": registry(scene.relit)})
        rgba = np.dstack([rgb * rgba[..., 3:4], rgba[..., 3]])
    if out.suffix.lower() != ".exr":
        from ..inference.relight import unpremultiply

        rgba = unpremultiply(rgba)
    return imageio.save_image(out, rgba, overwrite=True)


# ---------------------------------------------------------------- compositing

def build_compositor(scene, settings, *, edge: float = 0.0, directory: str = ""):
    """The Relit compositor for the active passes; AOVs to ``directory`` when one is given."""
    from ..shaders import compositor

    name = settings.active
    if not name:
        raise InputError("decompose or import passes first")
    folder = output_folder(settings, name)
    images = bridge.pass_images(current_passes(name), name, pack=settings.pack_images,
                                folder=None if folder is None else str(folder))
    return compositor.build_compositor(scene, images, edge=edge,
                                       directory=bpy.path.abspath(directory) or None)


def export_source(scene, source: str, out: Path, *, hdri: str, rotation: float = 0.0,
                  strength: float = 1.0, samples: int = 32, displace: bool = False,
                  edge: float = 0.0, half: bool = True, denoise: bool = False) -> Path:
    """Render ``source`` on the plate with the Relit compositor and move its multi-layer EXR
    of AOVs to ``out`` (atomically: written beside it, then renamed)."""
    import os
    import tempfile

    from ..shaders import compositor

    _, _, made = stage_source(scene, source, hdri=hdri, rotation=rotation, strength=strength,
                              samples=samples, displace=displace, denoise=denoise)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".relit-", dir=out.parent) as tmp:
        compositor.build_compositor(scene, made.images, edge=edge, directory=tmp,
                                    file_name="aovs", half=half)
        bpy.ops.render.render(scene=scene.name)
        written = sorted(Path(tmp).glob("aovs*.exr"))
        if not written:
            raise InputError("the compositor wrote no AOV file")
        os.replace(written[0], out)
    return out
