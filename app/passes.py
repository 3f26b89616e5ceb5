"""Passes <-> Blender: the pass images (saved to the output folder or packed), the plate built
from them, and the passes read back from the images as they are now. The lighting estimate is
kept on the normal image (and the plane) as ``relit_sh``."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..inference.errors import InputError
from ..inference.passes import PASS_TABLE, SCALAR, Passes
from ..shaders import ShaderError, bridge, plate
from .settings import output_folder, writable_folder


def keep_lighting_estimate(holders, sh) -> None:
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
    keep_lighting_estimate([images.get("normal"), plane], passes.sh)
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
    keep_lighting_estimate([made.images.get("normal"), made.plane], passes.sh)
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


def export_passes(settings, name: str, folder: str, overwrite: bool) -> list[Path]:
    return current_passes(name).save(writable_folder(folder, "the passes"),
                                     overwrite=overwrite)
