"""The Relit compositor: the plate composited over its background through the matte, and the
AOVs written as a multi-layer EXR (in the scene, or for a batch source)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import bpy

from ..datablocks import compositor
from ..inference.errors import InputError, OutputError
from .batch import stage_source
from .passes import pass_images_of
from .settings import writable_folder


def build_compositor(scene, settings, *, edge: float = 0.0, directory: str = ""):
    """The Relit compositor for the active passes' images; AOVs to ``directory`` when one is
    given. Returns ``(tree, changes)``: what was changed in the scene so the composite works
    (transparent film, Standard view transform), in words."""
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

    _, _, built = stage_source(scene, source, hdri=hdri, rotation=rotation, strength=strength,
                              lighting=lighting, samples=samples, displace=displace,
                              denoise=denoise, shadows=shadows,
                              progress=progress)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.TemporaryDirectory(prefix=".relit-", dir=out.parent)
    except OSError as exc:
        raise OutputError(f"cannot write to {out.parent}: {exc.strerror or exc}") from None
    with tmp:
        compositor.build_compositor(scene, built.images, edge=edge, directory=tmp.name,
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
