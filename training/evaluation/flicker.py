"""Temporal stability on a factory turntable (``training.synth.turntable``): per-frame against
stabilised passes, through ``python -m inference decompose`` as a user runs it."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from inference import metrics
from inference.passes import Passes

from .. import data
from . import keys
from .synthetic import angles

FLICKER_PASSES = ("normal", "albedo", "roughness", "reflectivity", "height")


def flicker_turntable(folder: Path, strength: float = 0.7, max_side: int = 512,
                      extra: Sequence[str] = ()) -> dict:
    """Per-frame against stabilised passes on a factory turntable (``training.synth.turntable``):
    both runs go through ``python -m inference decompose 'plate.####.exr'`` as a user runs it
    (``--stabilise`` for the second), then the flicker metric (mean absolute temporal change
    where the plate does not move, inside the true matte) and the error against the exact
    ground truth of every frame. ``extra`` are more decompose arguments for both runs."""
    import tempfile

    from inference import cli, sequence

    frames = sorted(folder.glob("frame.*.npz"))
    if len(frames) < 2:
        raise SystemExit(f"no turntable frames (frame.NNNN.npz) in {folder}")
    truth = [data.load_sample(frame) for frame in frames]
    rgbs = [sample["rgb"] for sample in truth]
    masks = [sample["alpha"] > 0.5 for sample in truth]
    out = {"metric": "flicker_turntable", "data": str(folder), "frames": len(frames),
           "strength": strength, "decompose_args": list(extra)}
    with tempfile.TemporaryDirectory() as tmp:
        for label, stabilise in (("per_frame", []),
                                 ("stabilised", ["--stabilise", str(strength)])):
            dest = Path(tmp) / label
            code = cli.main(["--quiet", "decompose", str(folder / "plate.####.exr"), "--out",
                             str(dest), "--max-side", str(max_side), *extra, *stabilise])
            if code:
                raise SystemExit(f"decompose exited {code}")
            decomposed = [Passes.load(dest / f"plate.{frame.name.split('.')[1]}")
                          for frame in frames]
            scored = list(zip(decomposed, truth, masks))
            maps = [{name: getattr(passes, name) for name in FLICKER_PASSES}
                    for passes in decomposed]
            errors = [angles(passes.normal, sample["normal"], mask)[0]
                      for passes, sample, mask in scored]
            out[label] = {
                "flicker": sequence.flicker(rgbs, maps, masks),
                "normal_mean_deg": float(np.concatenate(errors).mean()),
                keys.ALBEDO_SI_PSNR.key: float(np.mean([metrics.scale_invariant_psnr(
                    passes.albedo, sample["albedo"], mask, peak=1.0)
                    for passes, sample, mask in scored])),
                keys.ROUGHNESS_MAE.key: float(np.mean([
                    np.abs(passes.roughness - sample["roughness"])[mask].mean()
                    for passes, sample, mask in scored]))}
    out["flicker_reduction_pct"] = {
        name: 100.0 * (1.0 - out["stabilised"]["flicker"][name] / max(per_frame, 1e-12))
        for name, per_frame in out["per_frame"]["flicker"].items()}
    return out
