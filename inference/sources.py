"""What a source is: a pass folder or multi-layer EXR holding passes, or an image to decompose
into them."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from . import images, pipeline
from .passes import Passes
from .progress import CancelFn, ProgressFn


def is_pass_source(path: str | Path) -> bool:
    """True for a pass folder (passes.exr or a normal map inside) or a multi-layer EXR holding
    ``ViewLayer.Normal``; a folder of plain images is a sequence, not passes."""
    path = Path(path)
    if path.is_dir():
        return any((path / name).exists() for name in
                   ("passes.exr", "normal.exr", "normal.png", "normal.tif", "normal.tiff"))
    if path.suffix.lower() == ".exr" and path.exists():
        return any(name.endswith(".Normal.X") for name in images.read_exr_channels(path))
    return False


def load_or_decompose(source: str | Path, progress: ProgressFn | None = None,
                      cancel: CancelFn | None = None, *, options: Optional[dict] = None
                      ) -> Passes:
    """A pass folder or multi-layer EXR read back, or an image decomposed (``pipeline``'s
    ``options``, default the shipped models)."""
    if is_pass_source(source):
        return Passes.load(source)
    return pipeline.decompose(images.load_image(source), options, progress, cancel)
