"""The plate against the factory's ground truth, through the user's path.

For each held-out sample: its ``rgb_srgb`` as a PNG → ``python -m inference decompose`` → pass
folder → rendered under the sample's lighting B (its HDRI at its rotation and strength, and its
area/point lights as a LIGHTS.json in the plate's frame) by the numpy
``python -m inference relight`` and by ``blender --command relit relight`` (Cycles, the batch
defaults), each with and without ``--refine`` (RenderNet). Scored against ``rgb_b`` inside the
sample's matte: PSNR of the sRGB-encoded colour clipped to [0, 1] (peak 1).

``truth_passes`` is the ceiling of that path: the sample's own maps (normal, albedo,
roughness, reflectivity, matte, and the height of its depth) as a pass folder, rendered by the
numpy relight. What it loses is the plate's geometry (orthographic, one relief) and the
renderer; what the other rows lose beyond it is the decomposition.

Lights in the plate's frame (inference/lightspec.py): the plate is 1 unit wide through the
origin, so a factory light at world ``p`` goes to ``(p - c) / F`` with ``c`` the centre of the
camera's frame at the subject's median depth and ``F`` that frame's width in metres; powers
scale by ``1 / F^2`` and sizes by ``1 / F``, so the subject receives the same irradiance.

    python tools/plate_vs_truth.py ~/.cache/relit/synth/v1-val --count 4 --out /tmp/pvt
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

SENSOR_MM = 36.0   # the factory camera's sensor width (training/synth/scene.py)


def plate_lights(meta: dict, depth: np.ndarray, alpha: np.ndarray) -> list[dict]:
    cam, geo, lit = meta["params"]["camera"], meta["geometry"], meta["lighting_b"]
    width = frame_width(meta, depth, alpha)
    d = width * cam["focal_mm"] / SENSOR_MM
    centre = np.asarray(geo["camera_position"], float) + np.array(
        [width * cam["shift"][0], d, width * cam["shift"][1]])
    out = []
    for spec in lit["lights"]:
        pos = ((np.asarray(spec["position"], float) - centre) / width).tolist()
        power = float(spec["power"]) / width ** 2
        if spec["type"] == "area":
            out.append({"type": "area", "position": pos, "direction": spec["direction"],
                        "power": power, "size": spec["size"] / width,
                        "size_y": spec["size_y"] / width, "shape": "RECTANGLE",
                        "color": spec["rgb"]})
        else:   # a spot aimed at the head counts as a point light (training/scene_light.py)
            out.append({"type": "point", "position": pos, "power": power, "color": spec["rgb"]})
    return out


def truth_pass_folder(s, folder: Path, width: float) -> None:
    """The sample's ground-truth maps saved as a pass folder, height from its depth."""
    from inference.passes import Passes

    alpha = s["alpha"][..., 0].astype(np.float32)
    depth = s["depth"][..., 0].astype(np.float32)
    seen = (depth > 0) & (alpha > 0.5)
    height = np.where(seen, (np.median(depth[seen]) - depth) / width, 0.0).astype(np.float32)
    f32 = {k: s[k].astype(np.float32) for k in ("rgb", "normal", "albedo")}
    Passes(rgb=f32["rgb"], alpha=alpha, normal=f32["normal"], albedo=f32["albedo"],
           roughness=s["roughness"][..., 0].astype(np.float32),
           reflectivity=s["reflectivity"][..., 0].astype(np.float32),
           height=height).save(folder, previews=False)


def frame_width(meta: dict, depth: np.ndarray, alpha: np.ndarray) -> float:
    """Width in metres of the camera's frame at the subject's median depth."""
    seen = (depth > 0) & (alpha > 0.5)
    return float(np.median(depth[seen])) * SENSOR_MM / meta["params"]["camera"]["focal_mm"]


def score(image: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    from inference import images

    a = images.linear_to_srgb(np.clip(image[..., :3][mask], 0.0, 1.0))
    b = images.linear_to_srgb(np.clip(truth[mask], 0.0, 1.0))
    return float(10.0 * np.log10(1.0 / np.mean((a - b) ** 2)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("split", type=Path, help="a factory split, e.g. ~/.cache/relit/synth/v1-val")
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--samples", default="64", help="Cycles samples (denoised)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    import bpy  # noqa: F401 - Blender first, as inside Blender
    from batch import load_extension

    relit = load_extension()
    relit.register()
    from relit.inference import cli, images
    from relit.app import command

    files = sorted(args.split.glob("shard_*/*.npz"))[:args.count]
    rows = []
    for file in files:
        s = np.load(file)
        meta, env = json.loads(str(s["meta"])), json.loads(str(s["env_b"]))
        alpha = s["alpha"][..., 0].astype(np.float32)
        work = args.out / file.stem
        work.mkdir(parents=True, exist_ok=True)
        png = work / "photo.png"
        _write_png(png, s["rgb_srgb"])
        assert cli.main(["--quiet", "decompose", str(png), "--out", str(work / "passes"),
                         "--overwrite"]) == 0
        folder = work / "passes" / "photo"
        lighting = ["--hdri", env["hdri"], "--rotation", str(env["rotation"]),
                    "--strength", str(env["strength"])]
        placed = plate_lights(meta, s["depth"][..., 0], alpha)
        if placed:   # lighting B may be its HDRI alone
            lights = work / "lights.json"
            lights.write_text(json.dumps(placed))
            lighting += ["--lights", str(lights)]
        truth = s["rgb_b"].astype(np.float32)
        mask = alpha > 0.5
        row = {"sample": file.stem, "hdri": env["hdri"], "lights": len(env["lights"])}
        truth_folder = work / "truth_passes"
        truth_pass_folder(s, truth_folder, frame_width(meta, s["depth"][..., 0], alpha))
        out = work / "truth_passes.exr"
        assert cli.main(["--quiet", "relight", str(truth_folder), *lighting, "--out", str(out),
                         "--overwrite"]) == 0
        row["truth_passes"] = score(images.load_image(out), truth, mask)
        for name, run, extra in (("numpy", "numpy", []), ("numpy_refine", "numpy", ["--refine"]),
                                 ("cycles", "cycles", []), ("cycles_refine", "cycles",
                                                            ["--refine"])):
            out = work / f"{name}.exr"
            if run == "numpy":
                code = cli.main(["--quiet", "relight", str(folder), *lighting, *extra,
                                 "--out", str(out), "--overwrite"])
            else:
                code = command.run(["--quiet", "relight", str(folder), *lighting, *extra,
                                  "--samples", args.samples, "--out", str(out), "--overwrite"])
            assert code == 0, (name, code)
            row[name] = score(images.load_image(out), truth, mask)
        rows.append(row)
        print(json.dumps(row), flush=True)
    relit.unregister()
    keys = ("truth_passes", "numpy", "numpy_refine", "cycles", "cycles_refine")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    print("mean over", len(rows), "samples:", json.dumps({k: round(v, 2) for k, v in mean.items()}))
    (args.out / "results.json").write_text(json.dumps({"rows": rows, "mean": mean}, indent=2))
    return 0


def _write_png(path: Path, srgb8: np.ndarray) -> None:
    import cv2

    cv2.imwrite(str(path), np.ascontiguousarray(srgb8[..., ::-1]))


if __name__ == "__main__":
    sys.exit(main())
