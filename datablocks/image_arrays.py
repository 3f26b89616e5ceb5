"""numpy arrays <-> ``bpy.types.Image``, under the conventions of docs/ARCHITECTURE.md (*Arrays and
orientation*, *Colour*).

Arrays are float32 H x W (scalar) or H x W x C (C = 1, 3 or 4), **top row first**. Blender
stores pixels bottom row first as flat RGBA floats, so rows are flipped at this boundary, and
pixels move with ``foreach_set`` / ``foreach_get`` (never ``list(image.pixels)``).

Colour spaces
-------------
- data passes (normal, roughness, F0, alpha, height): ``Non-Color``
  (``colorspace_settings.is_data``);
- linear colour (source plate, albedo, shading, renders): ``Linear Rec.709``.

Normals
-------
A Blender normal image holds ``0.5 n + 0.5`` (Non-Color), like every normal map a Normal Map
node reads: ``normal_image`` encodes, ``image_normal`` decodes. (Relit's EXR files keep raw
normals; files this module writes are named after their images, so they never clash with
``Passes.save``'s ``normal.exr``.)

Storage
-------
New images are float "generated" images: their pixels live in memory only and are lost when
the .blend is saved and reopened, unless they are saved (``folder``: an EXR per image, written
atomically by ``inference.images``, then ``image.filepath`` points at it and the image is
reloaded from it) or packed into the .blend (``pack=True``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import bpy
import numpy as np

from ..inference.images import rgb_to_normal, save_exr
from ..inference.passes import Passes
from . import BuildError, find_tagged, tag

DATA_SPACE = "Non-Color"
LINEAR_SPACE = "Linear Rec.709"

# pass key -> (image label, is data)
PASS_IMAGES = {
    "rgb": ("Plate", False),
    "normal": ("Normal", True),
    "albedo": ("Albedo", False),
    "roughness": ("Roughness", True),
    "reflectivity": ("F0", True),
    "alpha": ("Alpha", True),
    "height": ("Height", True),
    "diffuse_shading": ("Diffuse Shading", False),
    "diffuse": ("Diffuse", False),
    "specular": ("Specular", False),
}


def image_name(source: str, key: str) -> str:
    """The name Relit gives the image of pass ``key`` of ``source``: "Relit <source> <Pass>"."""
    label = PASS_IMAGES[key][0] if key in PASS_IMAGES else key
    return f"Relit {source} {label}"


def _as_rgba(array: np.ndarray) -> np.ndarray:
    """H x W x 4 float32 (grey replicated, alpha 1 when absent), top row first."""
    a = np.asarray(array, dtype=np.float32)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise BuildError(f"expected an H x W or H x W x C image (C = 1-4), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise BuildError("image holds NaN or infinite values")
    h, w, c = a.shape
    out = np.ones((h, w, 4), np.float32)
    if c in (1, 2):
        out[..., :3] = a[..., :1]
        if c == 2:
            out[..., 3] = a[..., 1]
    else:
        out[..., :c] = a
    return out


def set_colorspace(image, data: bool) -> None:
    """Non-Color for data, Linear Rec.709 for linear colour."""
    settings = image.colorspace_settings
    if data:
        settings.is_data = True
        settings.name = DATA_SPACE
    else:
        settings.is_data = False
        try:
            settings.name = LINEAR_SPACE
        except TypeError:  # a custom OCIO config without that name: use the linear role
            settings.name = "Linear"


def write_pixels(image, array: np.ndarray) -> None:
    """Replace the pixels of ``image`` (same size) with an array, top row first."""
    rgba = _as_rgba(array)
    h, w = rgba.shape[:2]
    if tuple(image.size) != (w, h):
        raise BuildError(f"image '{image.name}' is {image.size[0]} x {image.size[1]}, "
                          f"array is {w} x {h}")
    image.pixels.foreach_set(np.ascontiguousarray(rgba[::-1]).ravel())
    image.update()


def read_pixels(image, channels: Optional[int] = None) -> np.ndarray:
    """Pixels of ``image`` as float32 H x W x C, top row first (C = ``image.channels`` or
    ``channels``; ``channels=1`` gives H x W)."""
    w, h = image.size
    if w == 0 or h == 0:
        raise BuildError(f"image '{image.name}' has no pixels (missing file?)")
    c = image.channels
    flat = np.empty(w * h * c, np.float32)
    image.pixels.foreach_get(flat)
    out = flat.reshape(h, w, c)[::-1]
    if channels is not None:
        if channels == 1:
            return np.ascontiguousarray(out[..., 0])
        out = out[..., :channels]
    return np.ascontiguousarray(out)


def find_image(key: str):
    """Relit's image tagged with ``relit_image = key``, or None."""
    return find_tagged(bpy.data.images, "relit_image", key)


def image_from_array(array: np.ndarray, name: str, *, data: bool, key: Optional[str] = None,
                     folder: Optional[str | os.PathLike] = None, pack: bool = False,
                     half: bool = True):
    """Create or update a float image from an array (top row first).

    The image is looked up by its tag ``relit_image = key`` (default ``name``) and reused: its
    pixels are replaced in place (it is rescaled when the size changed), so materials that
    use it stay wired. Otherwise a new image called ``name`` is made (a user's image of that
    name is never touched: Blender then names ours ``name.001``).

    ``data`` picks Non-Color (data passes) or Linear Rec.709 (colour). ``folder`` saves it as
    ``<folder>/<name>.exr`` (``half`` floats) and points the image at that file; ``pack``
    packs it into the .blend. A ``//`` folder is relative to the .blend file.
    """
    rgba = _as_rgba(array)
    h, w = rgba.shape[:2]
    key = key or name
    image = find_image(key)
    if image is not None and (not image.is_float or image.source not in ("GENERATED", "FILE")):
        image["relit_image"] = ""  # stale: no longer a float image; make a new one
        image = None
    if image is None:
        image = bpy.data.images.new(name, w, h, alpha=True, float_buffer=True, is_data=data)
        tag(image, relit_image=key)
    elif image.source == "FILE" and folder is None:
        # new pixels that will not be saved: back to an in-memory image (packed, or lost on
        # reload, like any new image), rather than a file that no longer matches them
        if image.packed_file is not None:
            image.unpack(method="REMOVE")
        image.source = "GENERATED"
        image.filepath = ""
    image.alpha_mode = "STRAIGHT"
    set_colorspace(image, data)   # (a generated image regenerates its buffer here)
    if image.source == "GENERATED":
        image.use_generated_float = True
        image.generated_color = (0.0, 0.0, 0.0, 1.0)
        if (image.generated_width, image.generated_height) != (w, h):
            image.generated_width, image.generated_height = w, h
    elif tuple(image.size) != (w, h):
        image.scale(w, h)
    write_pixels(image, rgba)
    if folder is not None:
        save_image(image, folder, half=half, pixels=rgba)
    if pack:
        if image.packed_file is not None:
            image.unpack(method="REMOVE")
        image.pack()
    return image


def save_image(image, folder: str | os.PathLike, *, half: bool = True,
               pixels: Optional[np.ndarray] = None) -> Path:
    """Write ``image`` to ``<folder>/<image name>.exr`` atomically and point the image at it.

    The file is written by ``inference.images`` (PIZ EXR, ``half`` or full floats; grey data
    images as one ``Y`` channel, colour as RGB, RGBA when alpha is not all 1), then
    ``image.filepath`` is set (kept ``//``-relative when ``folder`` was) and the image is
    reloaded from it. Returns the absolute path written.
    """
    rgba = _as_rgba(pixels) if pixels is not None else read_pixels(image)
    rgba = _as_rgba(rgba)
    data = bool(image.colorspace_settings.is_data)
    grey = data and np.array_equal(rgba[..., 0], rgba[..., 1]) and \
        np.array_equal(rgba[..., 0], rgba[..., 2])
    opaque = bool(np.all(rgba[..., 3] == 1.0))
    out = rgba[..., :1] if grey and opaque else rgba[..., :3] if opaque else rgba
    folder_text = os.fspath(folder)
    abs_folder = Path(bpy.path.abspath(folder_text))
    filename = bpy.path.clean_name(image.name) + ".exr"
    path = abs_folder / filename
    try:
        save_exr(path, out, half=half)
    except Exception as exc:  # OutputError or an OS error: report, don't trace back
        raise BuildError(f"cannot save image '{image.name}' to {path}: {exc}") from None
    if image.packed_file is not None:
        image.unpack(method="REMOVE")
    image.source = "FILE"
    image.filepath = (folder_text.rstrip("/\\") + "/" + filename
                      if folder_text.startswith("//") else str(path))
    image.reload()
    set_colorspace(image, data)
    return path


def normal_image(normal: np.ndarray, name: str, **kwargs):
    """Image of camera-space unit normals, stored encoded ``0.5 n + 0.5`` (Non-Color)."""
    n = np.asarray(normal, np.float32)
    if n.ndim != 3 or n.shape[2] < 3:
        raise BuildError(f"normal pass must be H x W x 3, got shape {n.shape}")
    return image_from_array(0.5 * n[..., :3] + 0.5, name, data=True, **kwargs)


def image_normal(image) -> np.ndarray:
    """Unit camera-space normals (H x W x 3) decoded from a ``0.5 n + 0.5`` normal image."""
    return rgb_to_normal(read_pixels(image, 3))


def _get(passes: Passes, key: str) -> Optional[np.ndarray]:
    value = getattr(passes, key)
    return None if value is None else np.asarray(value, np.float32)


def pass_arrays(passes: Passes) -> dict[str, np.ndarray]:
    """The image passes present in ``passes``, checked to share one size. Raises BuildError
    naming a bad or missing pass."""
    found = {}
    for key in PASS_IMAGES:
        value = _get(passes, key)
        if value is not None:
            found[key] = value
    if "normal" not in found:
        raise BuildError("the passes have no normal pass: decompose the image or import a "
                          "normal map first")
    h, w = found["normal"].shape[:2]
    for key, value in found.items():
        if value.shape[:2] != (h, w):
            raise BuildError(f"pass '{key}' is {value.shape[1]} x {value.shape[0]} pixels but "
                              f"the normal pass is {w} x {h}: all passes must match")
        want_rgb = key not in ("roughness", "reflectivity", "alpha", "height")
        if want_rgb and (value.ndim != 3 or value.shape[2] < 3):
            raise BuildError(f"pass '{key}' must be H x W x 3, got shape {value.shape}")
    return found


def pass_images(passes: Passes, source: str, *, folder: Optional[str | os.PathLike] = None,
                pack: bool = False, half: bool = True) -> dict[str, Any]:
    """Blender images ("Relit <source> <Pass>") of every pass present, reused on rerun.

    Keys are the ``Passes`` attribute names (``rgb``, ``normal``, ``albedo``, ``roughness``,
    ``reflectivity``, ``alpha``, ``height``, ...). Normals are stored encoded (see module doc).
    """
    images = {}
    for key, value in pass_arrays(passes).items():
        name = image_name(source, key)
        store = dict(key=f"{source}/{key}", folder=folder, pack=pack, half=half)
        if key == "normal":
            images[key] = normal_image(value, name, **store)
        else:
            images[key] = image_from_array(value, name, data=PASS_IMAGES[key][1], **store)
        images[key]["relit_source"] = source
        images[key]["relit_pass"] = key
    return images
