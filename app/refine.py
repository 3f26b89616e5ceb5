"""RenderNet refinement of the last render: the render read back as float RGBA, the refinement
job, and the refined image kept like the passes."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import bpy
import numpy as np

from ..datablocks import image_arrays
from ..inference import pipeline
from ..inference.errors import InputError
from ..inference.images import load_image
from ..inference.rgba import with_alpha
from .passes import current_passes
from .settings import output_folder, registry

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
        rgba = load_image(path)
    return with_alpha(rgba)


def refine_settings(settings) -> dict:
    """``pipeline.refine``'s options from the scene's settings: the internal size, the models
    folder and the Strength (the share of RenderNet's correction)."""
    return {"max_side": settings.max_side, "registry": registry(settings),
            "refine_strength": settings.refine_strength}


def refine_work(settings, name: str, rendered: np.ndarray):
    """A job body: RenderNet on ``rendered`` (premultiplied RGBA); returns premultiplied RGBA
    with the render's alpha."""
    passes = current_passes(name)
    if rendered.shape[:2] != passes.shape:
        raise InputError(f"the render is {rendered.shape[1]} x {rendered.shape[0]} but the passes "
                         f"are {passes.shape[1]} x {passes.shape[0]}: render at 100 % of the "
                         "plate's resolution")
    options = refine_settings(settings)

    def work(progress, cancel):
        rgb = pipeline.refine(passes, rendered, options, progress, cancel)
        return np.dstack([rgb, rendered[..., 3]])   # refine returns premultiplied colour
    return work


def refined_image(settings, name: str, rgba: np.ndarray):
    """The refined render as the image "Relit <name> Refined" (premultiplied), saved to the
    output folder or packed like the passes, so it survives reopening the file."""
    folder = output_folder(settings, name)
    image = image_arrays.image_from_array(rgba, f"Relit {name} Refined", data=False,
                                    key=f"{name}/refined", pack=settings.pack_images,
                                    folder=None if folder is None else str(folder), half=False)
    image.alpha_mode = "PREMUL"
    return image
