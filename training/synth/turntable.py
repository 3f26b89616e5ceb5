"""``python -m training.synth.turntable``: one subject, one lighting, a slow head turn.

A sequence for temporal-stability checks: sample ``--seed``'s subject, clothing, camera and
lighting are kept for every frame, and only the head (and, partly, the body) turns from
``--start`` by ``--step`` degrees per frame. Each frame is a full factory sample
(``frame.NNNN.npz``, exact ground truth included), and its linear RGB is also written as
``plate.NNNN.exr`` so the sequence runs through ``python -m inference decompose
'plate.####.exr'`` like a real plate. Resumable: finished frames are skipped.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

from inference import images

from . import ict, output, params, sample


def frame_params(base: dict, frame: int, start: float, step: float) -> dict:
    """``base`` with the head yaw at ``start + frame * step`` (the body follows by half)."""
    prm = copy.deepcopy(base)
    yaw = start + frame * step
    prm["pose"]["yaw"] = float(yaw)
    prm["pose"]["body_yaw"] = float(max(-45.0, min(45.0, 0.5 * yaw)))
    return prm


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.synth.turntable", description=__doc__)
    p.add_argument("--seed", type=int, default=1_500_000)
    p.add_argument("--split", choices=sorted(params.SPLITS), default="val")
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--start", type=float, default=-12.0, help="first head yaw, degrees")
    p.add_argument("--step", type=float, default=1.0, help="yaw change per frame, degrees")
    p.add_argument("--res", type=int, default=256)
    p.add_argument("--samples", type=int, default=24)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ict", type=Path, default=None)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if args.frames < 2:
        p.error("a turntable needs at least 2 frames")

    from .scene import SynthScene

    scene = SynthScene(res=args.res, samples=args.samples, threads=args.threads,
                       ict_dir=str((args.ict or ict.default_ict_dir()).expanduser().resolve()))
    base = params.sample_params(args.seed, args.split)
    args.out.mkdir(parents=True, exist_ok=True)
    for frame in range(args.frames):
        npz = args.out / f"frame.{frame:04d}.npz"
        if output.is_done(npz):
            continue
        prm = frame_params(base, frame, args.start, args.step)
        s = sample.render_sample(scene, args.seed, args.split, prm=prm)
        output.check_sample(s, args.res)
        images.save_exr(args.out / f"plate.{frame:04d}.exr", s["rgb"].astype("float32"),
                        half=False)
        output.write_sample(npz, s)
        print(f"[turntable] frame {frame + 1}/{args.frames} yaw {prm['pose']['yaw']:+.1f}",
              file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
