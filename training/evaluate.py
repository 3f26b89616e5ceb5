"""``python -m training.evaluate``: honest measurements on data the networks never saw.

- ``relight DIR [--count N]``: the Cook-Torrance relight of factory samples' ground-truth
  passes under their lighting B (``sh_b``) against the Cycles render ``rgb_b``, masked PSNR and
  SSIM. This is the baseline RenderNet must beat.
- ``yale [--subjects …]``: photometric-stereo agreement with each Yale B subject's reference (a
  check of the measuring tool itself, not of a network).
- ``yale-prior [--subjects …]``: the face-mesh normal prior alone on the frontal and two side-lit
  images (A ±50°) of each subject: the baseline NormalNet must beat. Scored inside the reference
  mask where the prior covers the face; the coverage is reported too.

Yale B05 and B07 are acceptance subjects: the defaults score the development subjects only.

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


YALE_VIEWS = ("P00A+000E+00", "P00A+050E+00", "P00A-050E+00")


def yale_image(folder: Path, view: str) -> np.ndarray:
    """A Yale B capture as linear RGB (the PGMs hold linear camera values), ambient removed."""
    from inference import images

    raw = images.load_image(next(folder.glob(f"*_{view}.pgm")), data=True)[..., 0]
    ambient = next(folder.glob("*_Ambient.pgm"), None)
    if ambient is not None:
        raw = np.maximum(raw - images.load_image(ambient, data=True)[..., 0], 0.0)
    return np.repeat(raw[..., None], 3, axis=-1)


def yale_prior(subjects) -> list[dict]:
    from inference import face

    out = []
    for subject in subjects:
        folder = SHARED / "eval" / "yaleb" / subject
        ref = np.load(folder / "reference.npz")
        for view in YALE_VIEWS:
            fa = face.analyse(yale_image(folder, view))
            scored = ref["mask"] & (fa.prior_mask > 0.5)
            row = {"metric": "face_mesh_prior_vs_reference", "subject": subject, "view": view,
                   "coverage": float(scored.sum() / max(ref["mask"].sum(), 1))}
            if scored.any():
                row.update(metrics.normal_metrics(fa.prior_normal, ref["normal"], scored))
            out.append(row)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("relight")
    r.add_argument("folder")
    r.add_argument("--count", type=int, default=100)
    for name in ("yale", "yale-prior"):
        y = sub.add_parser(name)
        y.add_argument("--subjects", nargs="+", default=["yaleB01", "yaleB02"])
    args = p.parse_args(argv)
    if args.command == "relight":
        rows = [relight_baseline(Path(args.folder).expanduser(), args.count)]
    elif args.command == "yale":
        rows = yale_photometric(args.subjects)
    else:
        rows = yale_prior(args.subjects)
    for row in rows:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
