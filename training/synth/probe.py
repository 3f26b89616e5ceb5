"""Realism probe: does MediaPipe Face Mesh find the face in the factory's images?

``python -m training.synth.probe DIR [--max-yaw 45] [--min-visible 0.8]``

Looks at every sample under DIR (a dataset folder or a shard) whose face is visible — head
yaw within ``--max-yaw`` and at least ``--min-visible`` of the inner landmarks unoccluded and in
frame (``meta["face_visible"]``) — runs ``inference.face.detect_landmarks`` on the lighting-A
image and reports the detection rate. For detected faces it also reports how far MediaPipe's
nose tip, eye and mouth corners and chin land from the model's own landmarks projected into
the image, in units of the inter-ocular distance (a check that the face found is the right one).
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

# MediaPipe Face Mesh index -> ICT 68-landmark index
CORRESPONDENCES = {1: 30, 33: 36, 263: 45, 61: 48, 291: 54, 152: 8}


def sample_files(folder: Path) -> list[Path]:
    folder = Path(folder)
    return sorted(folder.glob("shard_*/[0-9]*.npz")) + sorted(folder.glob("[0-9]*.npz"))


def probe(folder: Path, max_yaw: float = 45.0, min_visible: float = 0.8,
          limit: int | None = None) -> dict:
    """Detection statistics of the eligible samples under ``folder``."""
    from inference.face import detect_landmarks

    eligible = found = 0
    errors, missed = [], []
    for path in sample_files(folder):
        with np.load(path) as d:
            meta = json.loads(str(d["meta"]))
            rgb = d["rgb"].astype(np.float32)
        pose = meta["params"]["pose"]
        if abs(pose["yaw"]) > max_yaw or meta["face_visible"] < min_visible:
            continue
        eligible += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = detect_landmarks(rgb, max_faces=1)
        if not result.faces:
            missed.append(path.name)
        else:
            found += 1
            mp = result.faces[0].points[:, :2]
            ours = np.asarray(meta["landmarks68_px"])
            iod = np.linalg.norm(ours[36] - ours[45])
            err = [np.linalg.norm(mp[m] - ours[i]) / max(iod, 1e-6)
                   for m, i in CORRESPONDENCES.items()]
            errors.append(float(np.mean(err)))
        if limit and eligible >= limit:
            break
    return {"eligible": eligible, "detected": found,
            "rate": found / eligible if eligible else float("nan"),
            "median_landmark_error_iod": float(np.median(errors)) if errors else float("nan"),
            "missed": missed}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.synth.probe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", type=Path)
    p.add_argument("--max-yaw", type=float, default=45.0)
    p.add_argument("--min-visible", type=float, default=0.8)
    p.add_argument("--limit", type=int, default=None, help="stop after this many eligible")
    p.add_argument("--target", type=float, default=0.9, help="exit 1 below this rate")
    args = p.parse_args(argv)
    stats = probe(args.folder, args.max_yaw, args.min_visible, args.limit)
    print(f"probe: {stats['detected']}/{stats['eligible']} faces found "
          f"({100 * stats['rate']:.1f} %), median landmark error "
          f"{stats['median_landmark_error_iod']:.3f} inter-ocular distances")
    if stats["missed"]:
        print("probe: missed " + " ".join(stats["missed"]))
    return 0 if stats["eligible"] and stats["rate"] >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
