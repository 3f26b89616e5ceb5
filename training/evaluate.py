"""``python -m training.evaluate``: honest measurements on data the networks never saw.

- ``relight DIR [--count N]``: the Cook-Torrance relight of factory samples' ground-truth
  passes under their lighting B (``sh_b``) against the Cycles render ``rgb_b``, masked PSNR and
  SSIM. This is the baseline RenderNet must beat.
- ``yale [--subjects …]``: photometric-stereo agreement with each Yale B subject's reference (a
  check of the measuring tool itself, not of a network).

Results print as JSON lines, so they can be pasted into the model card as they are.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from inference import metrics, photometric, render

from . import data

SHARED = Path(__file__).resolve().parents[2] / "shared"


def ssim(pred: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> float:
    """Mean SSIM (Gaussian window, sigma 1.5, on luminance scaled by the reference peak)."""
    peak = max(float(ref[mask].max()), 1e-6)
    a = (pred[..., :3] @ [0.2126, 0.7152, 0.0722]) / peak
    b = (ref[..., :3] @ [0.2126, 0.7152, 0.0722]) / peak

    def blur(x):
        return cv2.GaussianBlur(x.astype(np.float64), (11, 11), 1.5)

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a ** 2, blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) *
                                                     (var_a + var_b + c2))
    return float(s[mask].mean())


def relight_baseline(folder: Path, count: int) -> dict:
    psnrs, ssims = [], []
    for path in data.sample_paths([folder])[:count]:
        d = data.load_sample(path)
        passes = {k: d[k] for k in ("normal", "albedo", "roughness", "reflectivity", "alpha")}
        relit = render.relight(passes, render.ShLight(d["sh_b"]))
        mask = d["alpha"] > 0.99
        psnrs.append(metrics.psnr(relit.rgb, d["rgb_b"], mask))
        ssims.append(ssim(relit.rgb, d["rgb_b"], mask))
    return {"metric": "relight_cook_torrance_sh_b_vs_rgb_b", "samples": len(psnrs),
            "psnr_mean_db": float(np.mean(psnrs)), "psnr_median_db": float(np.median(psnrs)),
            "ssim_mean": float(np.mean(ssims)), "data": str(folder)}


def yale_photometric(subjects) -> list[dict]:
    out = []
    for subject in subjects:
        folder = SHARED / "eval" / "yaleb" / subject
        s = photometric.load_yale_subject(folder)
        ref = np.load(folder / "reference.npz")
        fit = photometric.photometric_stereo(s["images"], s["lights"])
        out.append({"metric": "photometric_vs_reference", "subject": subject,
                    **metrics.normal_metrics(fit["normal"], ref["normal"], ref["mask"])})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("relight")
    r.add_argument("folder")
    r.add_argument("--count", type=int, default=100)
    y = sub.add_parser("yale")
    y.add_argument("--subjects", nargs="+", default=["yaleB01", "yaleB02"])
    args = p.parse_args(argv)
    if args.command == "relight":
        rows = [relight_baseline(Path(args.folder).expanduser(), args.count)]
    else:
        rows = yale_photometric(args.subjects)
    for row in rows:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
