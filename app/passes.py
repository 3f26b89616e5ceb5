"""Passes <-> Blender: the pass images (saved to the output folder or packed), the plate built
from them, and the passes read back from the images as they are now. The lighting estimate is
kept on the normal image (and the plane) as ``relit_sh``."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..datablocks import BuildError, image_arrays, plate
from ..inference.errors import InputError
from ..inference.passes import PASS_TABLE, SCALAR, Passes
from .settings import output_folder, writable_folder


def _keep_estimate(holders, sh) -> None:
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
    if build:
        plate.scene_camera(scene)


def apply_passes(scene, settings, name: str, passes: Passes, *, build: bool = True):
    """Keep the passes as Blender images (saved to the output folder, or packed) and, with
    ``build``, make the plate. ``export_passes`` writes the pipeline's pass folder."""
    folder = output_folder(settings, name)
    if build:
        built = _build(scene, settings, name, passes, folder)
    else:
        built = image_arrays.pass_images(passes, name, pack=settings.pack_images,
                                         folder=None if folder is None else str(folder))
        _keep_estimate([built.get("normal")], passes.sh)
    settings.active = name
    return built


def pass_images_of(name: str) -> dict:
    """The Blender images holding the passes of ``name``, by pass key."""
    found = {}
    for key in PASS_TABLE:
        image = image_arrays.find_image(f"{name}/{key}")
        if image is not None:
            found[key] = image
    return found


def lighting_estimate(name: str, scene=None) -> Optional[np.ndarray]:
    """The SH lighting estimate (9×3) of ``name``, or None."""
    normal = image_arrays.find_image(f"{name}/normal")
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
    found = {key: image_arrays.image_normal(image) if key == "normal"
             else image_arrays.read_pixels(image, 1 if key in SCALAR else 3)
             for key, image in images.items()}
    found.setdefault("rgb", found.get("albedo", np.zeros_like(found["normal"])))
    found.setdefault("alpha", np.ones(found["normal"].shape[:2], np.float32))
    return Passes(**found, sh=lighting_estimate(name, scene)).validate()


def plate_with_estimate(scene, passes: Passes, name: str, **options) -> plate.Plate:
    """``datablocks.plate.build_plate`` with ``options``, and the lighting estimate kept on
    the plate's normal image and plane."""
    built = plate.build_plate(scene, passes, name, **options)
    _keep_estimate([built.images.get("normal"), built.plane], passes.sh)
    return built


def _build(scene, settings, name: str, passes: Passes, folder: Optional[Path]) -> plate.Plate:
    return plate_with_estimate(scene, passes, name,
                               folder=None if folder is None else str(folder),
                               pack=settings.pack_images, keep_plate=settings.keep_plate,
                               height_scale=settings.height_scale,
                               subdivisions=settings.subdivisions)


def build_plate(scene, settings, name: str) -> plate.Plate:
    """(Re)build the plate of ``name`` in ``scene`` from its pass images."""
    folder = output_folder(settings, name)
    return _build(scene, settings, name, current_passes(name, scene), folder)


def active_plane(scene, settings):
    plane = plate.find_plane(settings.active, scene) if settings.active else None
    if plane is None:
        raise BuildError("no relight plane in this scene yet: decompose or import passes, "
                          "or build the plane")
    return plane


def export_passes(settings, name: str, folder: str, overwrite: bool) -> list[Path]:
    return current_passes(name).save(writable_folder(folder, "the passes"),
                                     overwrite=overwrite)
