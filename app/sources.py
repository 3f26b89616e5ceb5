"""Where the work starts: an image or file to decompose, photometric-stereo captures, a pass
folder or EXR to import, and the models and settings the decomposition runs with."""
from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np

from ..datablocks import image_arrays
from ..inference import farm, pipeline
from ..inference.errors import InputError
from ..inference.images import load_image
from ..inference.passes import Passes
from ..inference.photometric_passes import photometric_passes
from ..inference.rgba import decode_srgb_colour
from ..inference.sources import is_pass_source
from .settings import registry


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
            return name, load_image(path)
    if image.source in ("SEQUENCE", "MOVIE") and image.size[0] * image.size[1] == 0:
        raise InputError(f"cannot read the current frame of '{image.name}': show that frame "
                         "in the Image Editor first")
    pixels = image_arrays.read_pixels(image)
    if not image.is_float and not image.colorspace_settings.is_data:
        # byte images expose sRGB-encoded values through Image.pixels
        pixels = decode_srgb_colour(pixels)
    return name, pixels


def file_source(path: str) -> tuple[str, np.ndarray]:
    path = bpy.path.abspath(path)
    if not path:
        raise InputError("no source file chosen")
    return Path(path).stem, load_image(path)


def require_models(settings, names=pipeline.CHAIN) -> None:
    registry(settings).require(names)


def decompose_options(settings) -> dict:
    return {"max_side": settings.max_side, "mirror_normals": settings.mirror_normals,
            "registry": registry(settings),
            **pipeline.photo_refinements(settings.photo_detail, settings.shading_normals)}


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


def current_plate(context) -> str:
    """The plate the scene works on, as a frame pattern: the Image Editor's image (a file or an
    image sequence), else the Source file of the Relit settings. Raises InputError."""
    space = getattr(context, "space_data", None)
    image = getattr(space, "image", None) if getattr(space, "type", "") == "IMAGE_EDITOR" \
        else None
    path = ""
    if image is not None and image.source in ("FILE", "SEQUENCE") and image.filepath:
        path = bpy.path.abspath(image.filepath)
    if not path:
        path = bpy.path.abspath(context.scene.relit.source_path)
    if not path:
        raise InputError("no plate: choose a numbered frame (plate.1001.exr) as the Source "
                         "file, or show the sequence in the Image Editor")
    return farm.pattern_of(path)
