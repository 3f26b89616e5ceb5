"""The AOVs of a relit plate (beauty, light passes, the source plate and every pass) and their
multi-layer EXR, as the Relit compositor writes them from Blender."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import images, render
from .errors import InputError, OutputError
from .passes import Passes


def aov_layers(passes: Passes, relit: render.RelitImage) -> dict:
    """The AOVs of a relit plate, by Blender pass name: the relit beauty as Combined (RGBA,
    premultiplied), its diffuse and glossy light, the source plate, and every pass. The
    relit light passes take the names that the source's own diffuse and specular estimates
    have in ``passes.exr``: the AOVs are the relit plate's."""
    layers = passes.multilayer()
    for relit_name in ("Combined", "Diffuse Direct", "Glossy Direct"):
        layers.pop(relit_name, None)
    return {"Combined": (np.dstack([relit.rgb, relit.alpha]), "RGBA"),
            "Diffuse Direct": (relit.diffuse, "RGB"), "Glossy Direct": (relit.specular, "RGB"),
            "Plate": (passes.rgb, "RGB"), **layers}


def export_aovs(passes: Passes, relit: render.RelitImage, out: str | Path, *,
                half: bool = True, single: bool = False, previews: bool = False,
                overwrite: bool = False) -> list[Path]:
    """Write the AOVs as one multi-layer EXR (``ViewLayer.<Pass>.<channel>``); with ``single``
    also ``<stem>.<pass>.exr`` files (plain channels), with ``previews`` PNGs. All atomic; an
    existing file is never replaced without ``overwrite``."""
    out = Path(out)
    if out.suffix.lower() != ".exr":
        raise InputError(f"AOVs are written as a multi-layer EXR; got {out.name}")
    layers = aov_layers(passes, relit)
    def beside(name: str, ext: str) -> Path:
        return out.with_name(f"{out.stem}.{name.replace(' ', '_')}{ext}")

    targets = [out] + [beside(n, ".exr") for n in layers if single] + \
        [beside(n, ".png") for n in layers if previews]
    clash = [p for p in targets if p.exists()]
    if clash and not overwrite:
        raise OutputError(f"{clash[0]} exists; pass --overwrite to replace outputs")
    written = [images.save_multilayer_exr(out, layers, half=half)]
    for name, (array, chans) in layers.items():
        data = chans in ("XYZ", "X")
        if single:
            written.append(images.save_exr(beside(name, ".exr"), array, half=half))
        if previews:
            shown = images.normal_to_rgb(array) if chans == "XYZ" else array
            written.append(images.save_png(beside(name, ".png"),
                                           np.clip(shown, 0, 1), data=data))
    return written
