"""The Python API behind the operators: every step an artist or a script runs, with explicit
scene and settings (no ``context.area``), so batch code and tests call it directly.

Flow: source image → ``inference`` (passes, on a worker thread) → ``apply_passes`` (Blender
images, the plate plane and material via ``shaders``) → lights/world → render → refine/export.

The pass images are the passes: every later step (rebuild, match lighting, refine, export,
compositor) reads them back, so an image painted, reloaded or undone is what it uses. The
lighting estimate is kept on the normal image (and the plane) as ``relit_sh``.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import bpy
import numpy as np

from ..inference import frames
from ..inference import images as imageio
from ..inference import pipeline
from ..inference.errors import InputError, OutputError, RelitError
from ..inference.lightspec import Lighting
from ..inference.render import HdriLight
from ..inference.models import Registry, default_registry
from ..inference.passes import PASS_TABLE, SCALAR, Passes
from ..inference.relight import photometric_passes
from ..shaders import ShaderError, bridge, lights, plate, world


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


def model_status(settings, recheck: bool = False) -> list[tuple[str, str, str]]:
    """``(name, version, "ok" | why not)`` of every model in the scene's models folder's
    manifest; ``recheck`` verifies the files again. Raises ManifestUnreadable (a
    ModelNotInstalled) for an unreadable manifest."""
    reg = registry(settings)
    if recheck:
        reg.clear()
    rows = []
    for name, state in reg.status().items():
        try:
            version = reg.spec(name).version
        except RelitError:
            version = "?"
        rows.append((name, version, state))
    return rows


def writable_folder(folder: str, what: str = "the output", other: str = "") -> Path:
    """``folder`` as an absolute path, after checking that it can be made and written: a
    ``//`` path needs a saved .blend; the rest is ``inference.frames.writable_folder``.
    ``other`` names a further way out for the messages (", or pack them")."""
    if not folder:
        raise InputError(f"choose a folder for {what}{other}")
    if folder.startswith("//") and not bpy.data.filepath:
        raise InputError(f"the folder for {what} is relative (//) but the .blend is not saved "
                         f"yet: save it, or pick an absolute folder{other}")
    return frames.writable_folder(bpy.path.abspath(folder), what)


def output_folder(settings, name: str) -> Optional[Path]:
    """Where the passes of ``name`` are saved, or None when they are packed into the .blend.
    Raises InputError/OutputError for a folder that cannot be used (callers check it before
    any work starts)."""
    if settings.pack_images:
        return None
    return (writable_folder(settings.output_dir, "the passes", ", or pack them")
            / bpy.path.clean_name(name))


# ---------------------------------------------------------------- sources

def _frame_file(image, image_user) -> str:
    """The file of the frame ``image_user`` shows of an image sequence, or ""."""
    if image_user is None:
        return ""
    try:
        return bpy.path.abspath(image.filepath_from_user(image_user=image_user))
    except (TypeError, RuntimeError):
        return ""


def image_source(image, image_user=None) -> tuple[str, np.ndarray]:
    """``(name, linear float pixels)`` of a Blender image as the Image Editor shows it.

    A still image file that is not edited is read from its file (so EXIF orientation, bit
    depth and colour are read by Relit's loader); a sequence from the file of the frame
    ``image_user`` shows. An edited (painted) image, a movie, a packed or generated image, and
    a sequence without an image user are read from Blender's pixels (the frame last shown)."""
    if image is None:
        raise InputError("no image selected: open one in the Image Editor or choose a file")
    name = Path(image.name).stem
    if not image.is_dirty and image.packed_file is None:
        path = ""
        if image.source == "FILE" and image.filepath:
            path = bpy.path.abspath(image.filepath)
        elif image.source == "SEQUENCE":
            path = _frame_file(image, image_user)
        if path and Path(path).is_file():
            return name, imageio.load_image(path)
    if image.source in ("SEQUENCE", "MOVIE") and image.size[0] * image.size[1] == 0:
        raise InputError(f"cannot read the current frame of '{image.name}': show that frame "
                         "in the Image Editor first")
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


def decompose_options(settings) -> dict:
    return {"max_side": settings.max_side, "mirror_normals": settings.mirror_normals,
            "registry": registry(settings)}


def decompose_work(settings, pixels: np.ndarray):
    """A job body: the decomposition chain with the scene's settings (runs off the UI thread)."""
    options = decompose_options(settings)
    return lambda progress, cancel: pipeline.decompose(pixels, options, progress, cancel)


def photometric_inputs(paths: list[str], lights_path: str, ambient: str = "") -> None:
    """Check the photometric-stereo inputs before the job starts."""
    if len(paths) < 3:
        raise InputError(f"photometric stereo needs at least 3 photos, got {len(paths)}")
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise InputError(f"not found: {missing[0]}")
    if not lights_path or not Path(bpy.path.abspath(lights_path)).is_file():
        raise InputError(f"lights JSON not found: {lights_path or '(none chosen)'}")
    if ambient and not Path(bpy.path.abspath(ambient)).is_file():
        raise InputError(f"ambient frame not found: {ambient}")


def photometric_work(paths: list[str], lights_path: str, *, ambient: str = "",
                     linear: bool = False):
    def work(progress, cancel):
        return photometric_passes(paths, bpy.path.abspath(lights_path),
                                  ambient=bpy.path.abspath(ambient) if ambient else None,
                                  linear=linear, progress=progress, cancel=cancel)
    return work


def load_passes(path: str) -> tuple[str, Passes]:
    """``(name, passes)`` from a pass folder, a multi-layer EXR, or any file inside a folder."""
    from ..inference.relight import is_pass_source

    source = Path(bpy.path.abspath(path))
    if not source.exists():
        raise InputError(f"not found: {source}")
    if source.is_file() and not is_pass_source(source):
        source = source.parent
    return source_name(source), Passes.load(source)


def source_name(source) -> str:
    """The name of a pass source or image: a folder's name, a ``passes.exr``'s folder's name,
    else the file name without its extension (``plate.0001.png`` → ``plate.0001``)."""
    path = Path(str(source).rstrip("/\\"))
    if path.is_dir():
        return path.name or "plate"
    if path.name.lower() == "passes.exr":
        return path.parent.name or "plate"
    return path.stem or "plate"


# ---------------------------------------------------------------- passes ↔ Blender

def _keep_sh(holders, sh) -> None:
    """The lighting estimate as ``relit_sh`` on the images/objects that carry the passes."""
    for holder in holders:
        if holder is None:
            continue
        if sh is None:
            if "relit_sh" in holder:
                del holder["relit_sh"]
        else:
            holder["relit_sh"] = np.asarray(sh, np.float32).ravel().tolist()


def check_target(scene, settings, name: str, build: bool = True) -> None:
    """Before a job starts: the folder its passes go to can be written (or they are packed),
    and with ``build`` the scene has a camera to fit the plate to."""
    output_folder(settings, name)
    if build and scene.camera is None:
        raise ShaderError("the scene has no camera: add one (the plate is fitted to it)")


def apply_passes(scene, settings, name: str, passes: Passes, *, build: bool = True):
    """Keep the passes as Blender images (saved to the output folder, or packed) and, with
    ``build``, make the plate. ``export_passes`` writes the pipeline's pass folder."""
    folder = output_folder(settings, name)
    if build:
        made = _build(scene, settings, name, passes, folder)
        images, plane = made.images, made.plane
    else:
        made = images = bridge.pass_images(passes, name, pack=settings.pack_images,
                                           folder=None if folder is None else str(folder))
        plane = None
    _keep_sh([images.get("normal"), plane], passes.sh)
    settings.active = name
    return made


def pass_images_of(name: str) -> dict:
    """The Blender images holding the passes of ``name``, by pass key."""
    found = {}
    for key in PASS_TABLE:
        image = bridge.find_image(f"{name}/{key}")
        if image is not None:
            found[key] = image
    return found


def lighting_estimate(name: str, scene=None) -> Optional[np.ndarray]:
    """The SH lighting estimate (9×3) of ``name``, or None."""
    normal = bridge.find_image(f"{name}/normal")
    plane = plate.find_plane(name, scene)
    for holder in (normal, plane):
        sh = holder.get("relit_sh") if holder is not None else None
        if sh is not None:
            return np.asarray(sh, np.float32).reshape(9, 3)
    return None


def current_passes(name: str, scene=None) -> Passes:
    """The passes of ``name``, read from its Blender images as they are now."""
    images = pass_images_of(name)
    if "normal" not in images:
        raise InputError(f"no passes named '{name}': decompose or import an image first")
    found = {key: bridge.image_normal(image) if key == "normal"
             else bridge.read_pixels(image, 1 if key in SCALAR else 3)
             for key, image in images.items()}
    found.setdefault("rgb", found.get("albedo", np.zeros_like(found["normal"])))
    found.setdefault("alpha", np.ones(found["normal"].shape[:2], np.float32))
    return Passes(**found, sh=lighting_estimate(name, scene)).validate()


def _build(scene, settings, name: str, passes: Passes, folder: Optional[Path]):
    if scene.camera is None:
        raise ShaderError("the scene has no camera: add one (the plate is fitted to it)")
    made = plate.build_plate(scene, passes, name, folder=None if folder is None else str(folder),
                             pack=settings.pack_images,
                             keep_plate=settings.keep_plate,
                             height_scale=settings.height_scale,
                             subdivisions=settings.subdivisions)
    _keep_sh([made.images.get("normal"), made.plane], passes.sh)
    return made


def build_plate(scene, settings, name: str):
    """(Re)build the plate of ``name`` in ``scene`` from its pass images."""
    if scene.camera is None:
        raise ShaderError("the scene has no camera: add one (the plate is fitted to it)")
    folder = output_folder(settings, name)
    return _build(scene, settings, name, current_passes(name, scene), folder)


def active_plane(scene, settings):
    plane = plate.find_plane(settings.active, scene) if settings.active else None
    if plane is None:
        raise ShaderError("no relight plane in this scene yet: decompose or import passes, "
                          "or build the plane")
    return plane


# ---------------------------------------------------------------- lighting

def add_light_rig(scene, settings):
    return lights.light_rig(scene, active_plane(scene, settings), settings.light_preset,
                            settings.light_strength)


def hdri_source(settings) -> str:
    """The HDRI the settings name: a built-in name or an absolute file path."""
    source = settings.hdri if settings.hdri != "FILE" else bpy.path.abspath(settings.hdri_path)
    if not source:
        raise InputError("choose an HDRI file")
    return source


def set_hdri(scene, settings):
    return world.hdri_world(scene, hdri_source(settings), settings.hdri_rotation,
                            settings.hdri_strength)


def restore_world(scene):
    return world.restore_world(scene)


def match_lighting(scene, settings, mode: str):
    plane = active_plane(scene, settings)
    sh = lighting_estimate(settings.active, scene)
    if sh is None:
        raise InputError(f"'{settings.active}' has no lighting estimate (photometric-stereo "
                         "and imported passes without lighting.json have none)")
    if mode == "WORLD":
        return world.sh_world(scene, sh)
    return lights.lights_from_sh(scene, sh, plane)


# ---------------------------------------------------------------- refine and export

# What a float EXR of the render needs, in the order it is set (media type first: Blender 5.0
# accepts an image format only while the media type is IMAGE) and restored.
_EXR_OUTPUT = (("media_type", "IMAGE"), ("file_format", "OPEN_EXR"), ("color_mode", "RGBA"),
               ("color_depth", "32"), ("exr_codec", "ZIP"),
               ("color_management", "FOLLOW_SCENE"))


@contextmanager
def exr_output(scene):
    """The scene's output set to a lossless float RGBA EXR, and every setting changed put
    back afterwards, on error too (in order: media type, format, then the rest)."""
    settings = scene.render.image_settings
    saved = [(key, getattr(settings, key)) for key, _ in _EXR_OUTPUT]
    try:
        for key, value in _EXR_OUTPUT:
            setattr(settings, key, value)
        yield
    finally:
        for key, value in saved:
            try:
                setattr(settings, key, value)
            except (TypeError, ValueError) as exc:  # not expected: the values were valid
                print(f"relit: could not restore the render output's {key}: {exc}",
                      file=sys.stderr)


def render_result_pixels(scene) -> np.ndarray:
    """The last render as linear float RGBA, premultiplied (saved through a temporary EXR)."""
    import tempfile

    result = bpy.data.images.get("Render Result")
    if result is None:
        raise InputError("no render yet: render the scene (F12) before refining")
    with tempfile.TemporaryDirectory(prefix="relit-") as tmp:
        path = str(Path(tmp) / "render.exr")
        with exr_output(scene):
            try:
                result.save_render(filepath=path, scene=scene)
            except RuntimeError:
                raise InputError("no render yet: render the scene (F12) before refining") \
                    from None
        rgba = imageio.load_image(path)
    return rgba if rgba.shape[-1] == 4 else np.dstack([imageio.to_rgb(rgba),
                                                       np.ones(rgba.shape[:2], np.float32)])


def refine_work(settings, name: str, rendered: np.ndarray):
    """A job body: RenderNet on ``rendered`` (premultiplied RGBA); returns premultiplied RGBA
    with the render's alpha."""
    passes = current_passes(name)
    if rendered.shape[:2] != passes.shape:
        raise InputError(f"the render is {rendered.shape[1]} x {rendered.shape[0]} but the passes "
                         f"are {passes.shape[1]} x {passes.shape[0]}: render at 100 % of the "
                         "plate's resolution")
    options = {"max_side": settings.max_side, "registry": registry(settings)}

    def work(progress, cancel):
        rgb = pipeline.refine(passes, rendered[..., :3], options, progress, cancel)
        return np.dstack([rgb, rendered[..., 3]])   # refine returns premultiplied colour
    return work


def refined_image(settings, name: str, rgba: np.ndarray):
    """The refined render as the image "Relit <name> Refined" (premultiplied), saved to the
    output folder or packed like the passes, so it survives reopening the file."""
    folder = output_folder(settings, name)
    image = bridge.image_from_array(rgba, f"Relit {name} Refined", data=False,
                                    key=f"{name}/refined", pack=settings.pack_images,
                                    folder=None if folder is None else str(folder), half=False)
    image.alpha_mode = "PREMUL"
    return image


def export_passes(settings, name: str, folder: str, overwrite: bool) -> list[Path]:
    return current_passes(name).save(writable_folder(folder, "the passes"),
                                     overwrite=overwrite)


# ---------------------------------------------------------------- batch rendering

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
    # A plate is smooth: OIDN's balanced quality and fast prefilter take ~0.8 s at 512² where
    # high quality with the accurate prefilter takes ~5 s (make bench), for the same agreement
    # with inference.render (tests/blender/test_plate_reference.py).
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


def load_or_decompose(scene, source: str, progress=None) -> Passes:
    """A pass folder or passes.exr read back, or an image decomposed with the scene's models
    folder and settings."""
    from ..inference.relight import is_pass_source

    if is_pass_source(source):
        return Passes.load(source)
    return pipeline.decompose(imageio.load_image(source), decompose_options(scene.relit),
                              progress)


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
    passes = load_or_decompose(scene, source, progress)
    for warning in passes.meta.get("warnings", []):
        print(f"relit: warning: {source}: {warning}", file=sys.stderr)
    if not displace:
        passes = dataclasses.replace(passes, height=None)
    settings = scene.relit
    made = plate.build_plate(scene, passes, BATCH_NAME, pack=False,
                             subdivisions=settings.subdivisions)
    _keep_sh([made.images.get("normal"), made.plane], passes.sh)
    settings.active = BATCH_NAME
    # one plate per render; scene.objects, as the collection's all_objects cache is stale
    # right after a new plate is linked (it then yields None)
    for obj in scene.objects:
        if obj.get("relit_source") and obj.get("relit_source") != BATCH_NAME:
            obj.hide_render = True
    made.plane.hide_render = False
    for ray in ("visible_shadow", "visible_diffuse", "visible_glossy", "visible_transmission"):
        setattr(made.plane, ray, bool(shadows))
    _fit_camera(scene, made.plane)
    if lighting is None:
        lighting = Lighting(HdriLight(hdri, rotation=rotation, strength=strength))
    stage_lighting(scene, made.plane, lighting, passes.shape)
    if samples is not None:
        scene.cycles.samples = samples
    if denoise is not None:
        scene.cycles.use_denoising = denoise
    return source_name(source), passes, made


def stage_lighting(scene, plane, lighting, shape) -> None:
    """Light ``plane`` in ``scene`` as the numpy renderer lights an image of ``shape`` under
    ``lighting``: its HDRI as Relit's world (Relit's batch scene without one: a black world,
    so the lights alone light it, as in ``render.relight``; a user's scene keeps its world),
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
                  refine: bool = False, denoise: bool = False, shadows: bool = True,
                  progress=None) -> Path:
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
        rgb = pipeline.refine(passes, rgba[..., :3], {"registry": registry(scene.relit)})
        rgba = np.dstack([rgb, rgba[..., 3]])
    if out.suffix.lower() != ".exr":
        from ..inference.relight import unpremultiply

        rgba = unpremultiply(rgba)
    return imageio.save_image(out, rgba, overwrite=True)


# ---------------------------------------------------------------- compositing

def build_compositor(scene, settings, *, edge: float = 0.0, directory: str = ""):
    """The Relit compositor for the active passes' images; AOVs to ``directory`` when one is
    given. Returns ``(tree, changes)``: what was changed in the scene so the composite works
    (transparent film, Standard view transform), in words."""
    from ..shaders import compositor

    name = settings.active
    if not name:
        raise InputError("decompose or import passes first")
    images = pass_images_of(name)
    if "rgb" not in images:
        raise InputError(f"'{name}' has no plate image: decompose or import the passes again")
    folder = str(writable_folder(directory, "the AOVs")) if directory else None
    changes = compositor.prepare_scene(scene)
    tree = compositor.build_compositor(scene, images, edge=edge, directory=folder)
    return tree, changes


def export_source(scene, source: str, out: Path, *, hdri: Optional[str] = None,
                  rotation: float = 0.0, strength: float = 1.0, lighting=None,
                  samples: Optional[int] = 32, displace: bool = False,
                  edge: float = 0.0, half: bool = True, denoise: bool = False,
                  shadows: bool = True, progress=None) -> Path:
    """Render ``source`` on the plate with the Relit compositor and move its multi-layer EXR
    of AOVs to ``out`` (atomically: written beside it, then renamed)."""
    import tempfile

    from ..shaders import compositor

    _, _, made = stage_source(scene, source, hdri=hdri, rotation=rotation, strength=strength,
                              lighting=lighting, samples=samples, displace=displace,
                              denoise=denoise, shadows=shadows,
                              progress=progress)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.TemporaryDirectory(prefix=".relit-", dir=out.parent)
    except OSError as exc:
        raise OutputError(f"cannot write to {out.parent}: {exc.strerror or exc}") from None
    with tmp:
        compositor.build_compositor(scene, made.images, edge=edge, directory=tmp.name,
                                    file_name="aovs", half=half)
        bpy.ops.render.render(scene=scene.name)
        written = sorted(Path(tmp.name).glob("aovs*.exr"))
        if not written:
            raise OutputError("the compositor wrote no AOV file")
        try:
            os.replace(written[0], out)
        except OSError as exc:
            raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out
