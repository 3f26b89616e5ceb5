"""Scene settings shown in the Relit panels (``scene.relit``), and what they resolve to: the
models folder's registry and the folders results are written to."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import bpy

from ..datablocks import is_relit, lights, plate
from ..inference import frames
from ..inference.errors import InputError, RelitError
from ..inference.lighting import STUDIO_LIGHTS
from ..inference.models import Registry, default_registry
from ..inference.pipeline import REFINE_STRENGTH

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


def _models_dir_changed(self, context):
    from ..inference import models

    models.default_registry().clear()


def _keep_plate_changed(self, context):
    plane = plate.find_plane(self.active, context.scene) if self.active else None
    material = plane.active_material if plane is not None else None
    if is_relit(material, "relit_source", self.active):
        plate.set_keep_plate(material, self.keep_plate, plane)


def _height_scale_changed(self, context):
    plane = plate.find_plane(self.active, context.scene) if self.active else None
    if plane is not None and plate.height_modifier(plane) is not None:
        plate.set_height_scale(plane, self.height_scale)


def _world_changed(self, context):
    """Live HDRI edits: turn or dim the scene's Relit HDRI world in place; another HDRI
    rebuilds it. Only while the scene shows Relit's world in HDRI mode: a world from Match
    Lighting (SH or ambient), a user's world, or no world is left alone. A failure is kept
    as the "world" notice (an update callback cannot report)."""
    from ..datablocks import world as worlds
    from . import jobs, lighting

    current = worlds.find_world(context.scene)
    if current is None or current.get("relit_mode") != "hdri":
        return
    if self.hdri == "FILE" and not self.hdri_path:
        return  # a file is being chosen
    try:
        if current.get("relit_hdri") == lighting.hdri_source(self):
            worlds.set_world_rotation(current, self.hdri_rotation)
            worlds.set_world_strength(current, self.hdri_strength)
        else:
            lighting.set_hdri(context.scene, self)
        jobs.clear_notice("world")
    except RelitError as exc:
        jobs.notify("world", "ERROR", f"HDRI: {exc}")


_HDRI_ITEMS = [(n, n.title(), f"Blender's built-in '{n}' studio light") for n in STUDIO_LIGHTS]
_HDRI_ITEMS.append(("FILE", "File", "An equirectangular EXR or HDR file"))


class RELIT_PG_settings(bpy.types.PropertyGroup):
    source_image: bpy.props.PointerProperty(
        name="Image", type=bpy.types.Image,
        description="Image to decompose when no Image Editor image is active")
    source_path: bpy.props.StringProperty(
        name="Source", subtype="FILE_PATH", description="Image to decompose when no Image "
        "Editor image is active")
    output_dir: bpy.props.StringProperty(
        name="Output Folder", subtype="DIR_PATH", default="//relit/",
        description="Where Relit saves pass images (// is relative to the .blend file)")
    pack_images: bpy.props.BoolProperty(
        name="Pack Passes", description="Pack the pass images into the .blend instead of "
        "saving them to the output folder")
    models_dir: bpy.props.StringProperty(
        name="Models Folder", subtype="DIR_PATH", default="",
        description="Folder holding manifest.json and the ONNX models; empty uses the "
        "models shipped with the extension", update=_models_dir_changed)
    max_side: bpy.props.IntProperty(
        name="Network Size", default=512, min=64, max=4096,
        description="Long side at which the networks run; passes are upsampled guided by "
        "the full image")
    mirror_normals: bpy.props.BoolProperty(
        name="Mirror Pass", default=True,
        description="Also run the normal network on the mirrored image and average the two: "
        "more accurate normals for one more network pass")
    photo_detail: bpy.props.BoolProperty(
        name="Photo Detail", default=True,
        description="Give the albedo the photo's fine detail (pores, stubble, freckles); off "
        "leaves it as the network paints it, smooth")
    shading_normals: bpy.props.BoolProperty(
        name="Shading Normals", default=True,
        description="Correct the smooth shape of the normals by the photo's shading on the "
        "skin; off leaves them as the network gives them")
    refine_strength: bpy.props.FloatProperty(
        name="Strength", default=REFINE_STRENGTH, min=0.0, max=1.0, subtype="FACTOR",
        description="The share of RenderNet's correction that Refine applies; 1 is the "
        "network's whole answer")
    active: bpy.props.StringProperty(
        name="Passes", description="The pass set that the plate, lighting and export use")
    keep_plate: bpy.props.BoolProperty(
        name="Keep Plate Outside Matte", default=False, update=_keep_plate_changed,
        description="Show the original plate, as shot, where the matte is empty")
    height_scale: bpy.props.FloatProperty(
        name="Relief", default=1.0, min=0.0, soft_max=3.0, update=_height_scale_changed,
        description="Scale of the displacement from the height pass (1 = measured)")
    subdivisions: bpy.props.IntProperty(
        name="Subdivisions", default=plate.DEFAULT_SUBDIVISIONS, min=1, max=2048,
        description="Quads on the plane's long side (displacement detail)")
    light_preset: bpy.props.EnumProperty(
        name="Rig", items=[(k, k.replace("_", " ").title(), "") for k in lights.PRESETS],
        default="three_point")
    light_strength: bpy.props.FloatProperty(name="Strength", default=1.0, min=0.0,
                                            soft_max=10.0)
    hdri: bpy.props.EnumProperty(name="HDRI", items=_HDRI_ITEMS, default="studio",
                                 update=_world_changed)
    hdri_path: bpy.props.StringProperty(name="HDRI File", subtype="FILE_PATH",
                                        update=_world_changed)
    hdri_rotation: bpy.props.FloatProperty(
        name="Rotation", default=0.0, soft_min=-180.0, soft_max=180.0, update=_world_changed,
        description="HDRI rotation about world Z, degrees")
    hdri_strength: bpy.props.FloatProperty(name="Strength", default=1.0, min=0.0,
                                           soft_max=10.0, update=_world_changed)
    compositor_edge: bpy.props.FloatProperty(
        name="Edge", default=0.0, min=0.0, soft_max=8.0,
        description="Erode and feather the matte edge in the compositor (pixels)")
    aov_dir: bpy.props.StringProperty(
        name="AOV Folder", subtype="DIR_PATH", default="",
        description="Where the compositor's File Output writes the AOVs (empty: no file)")
    lights_path: bpy.props.StringProperty(
        name="Lights JSON", subtype="FILE_PATH",
        description="Photometric stereo: JSON mapping each file name to its light direction "
        "in camera space")
    ps_linear: bpy.props.BoolProperty(
        name="Linear Captures", default=False,
        description="Photometric stereo: the 8- and 16-bit captures hold linear values "
        "(raw-converted or machine-vision captures), not sRGB. EXR and float files are always "
        "linear. Clipped samples are left out either way")
    ps_ambient: bpy.props.StringProperty(
        name="Ambient", subtype="FILE_PATH",
        description="Photometric stereo: an ambient-only frame subtracted from every capture "
        "(optional)")


classes = (RELIT_PG_settings,)


def attach():
    bpy.types.Scene.relit = bpy.props.PointerProperty(type=RELIT_PG_settings)


def detach():
    if hasattr(bpy.types.Scene, "relit"):
        del bpy.types.Scene.relit
