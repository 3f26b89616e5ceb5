"""The bundled examples: a portrait decomposed by the shipped networks, and a generated relief
bust captured by photometric stereo, each relit under three of Blender's built-in HDRIs.

The portrait is ``grace_hopper.jpg``, which matplotlib (a dependency of MediaPipe) bundles: the
full chain turns it into passes, which are relit and summed up on a contact sheet.

The bust is a height field (head ellipsoid, brows, nose, cheeks, lips, chin) with a skin-like
albedo, roughness 0.45 and F0 0.04. It is rendered by the Cook-Torrance renderer under eight sun
lights (specular highlights included, which photometric stereo must reject), the captures and
``lights.json`` are written to disk, and the ``ps`` path reads them back like user files. The
measured passes are then relit under three of Blender's built-in HDRIs, and a contact sheet
sums it all up.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import images, metrics, render
from .datafiles import blender_studio_lights
from .errors import InputError, OutputError
from .passes import Passes
from .photometric_passes import photometric_passes
from .progress import ProgressFn, Steps
from .relighting import relight_passes
from .vectors import unit

HDRIS = (("forest", 0.0), ("studio", 90.0), ("sunset", 200.0))


def bust(res: int, seed: int = 7) -> dict:
    """Ground-truth passes of the example relief (height in image widths)."""
    y, x = (np.mgrid[0:res, 0:res] + 0.5) / res * 2.0 - 1.0  # x right, y down, in [-1, 1]
    y = -y                                                   # y up
    head = 1.0 - (x / 0.62) ** 2 - ((y - 0.05) / 0.82) ** 2
    mask = head > 0
    z = 0.28 * np.sqrt(np.clip(head, 0, None))

    def bump(cx, cy, sx, sy, amp):
        return amp * np.exp(-((x - cx) / sx) ** 2 - ((y - cy) / sy) ** 2)

    z += bump(0, 0.0, 0.07, 0.22, 0.09) + bump(0, -0.2, 0.11, 0.07, 0.05)          # nose
    z += bump(-0.22, 0.3, 0.16, 0.05, 0.035) + bump(0.22, 0.3, 0.16, 0.05, 0.035)  # brows
    z -= bump(-0.22, 0.17, 0.1, 0.06, 0.03) + bump(0.22, 0.17, 0.1, 0.06, 0.03)    # eye sockets
    z += bump(-0.3, -0.1, 0.14, 0.14, 0.03) + bump(0.3, -0.1, 0.14, 0.14, 0.03)    # cheeks
    z += bump(0, -0.43, 0.14, 0.04, 0.025) + bump(0, -0.65, 0.2, 0.09, 0.03)       # lips, chin
    z = np.where(mask, z, 0.0) * res / 2.0                     # in pixels
    gy, gx = np.gradient(z)
    normal = np.dstack([-gx, gy, np.ones_like(z)])             # rows go down, +Y is up
    normal = unit(normal)

    rng = np.random.default_rng(seed)
    blotch = images.resize(rng.random((12, 12, 1)).astype(np.float32), (res, res))[..., 0]
    albedo = np.array([0.62, 0.42, 0.33]) * (0.85 + 0.3 * blotch)[..., None]
    lips = np.exp(-((x / 0.14) ** 2) - ((y + 0.43) / 0.04) ** 2)[..., None]
    albedo = albedo * (1 - 0.35 * lips) + np.array([0.55, 0.18, 0.2]) * 0.35 * lips
    brows = np.maximum(np.exp(-((x + 0.22) / 0.15) ** 2 - ((y - 0.32) / 0.03) ** 2),
                       np.exp(-((x - 0.22) / 0.15) ** 2 - ((y - 0.32) / 0.03) ** 2))[..., None]
    albedo = albedo * (1 - 0.8 * brows) + 0.05 * brows
    alpha = mask.astype(np.float32)
    return {"normal": np.where(mask[..., None], normal, [0, 0, 1]).astype(np.float32),
            "albedo": np.clip(albedo, 0, 1).astype(np.float32), "alpha": alpha,
            "roughness": np.full((res, res), 0.45, np.float32),
            "reflectivity": np.full((res, res), 0.04, np.float32),
            "height": (z / res).astype(np.float32)}


def bust_passes(res: int, seed: int = 7) -> Passes:
    """``bust`` as ``Passes``, its albedo standing in for the source image."""
    gt = bust(res, seed)
    return Passes(rgb=gt["albedo"], **gt)


def capture_lights(count: int = 8) -> np.ndarray:
    """Camera-space directions toward ``count`` suns on a cone 40° around the view axis."""
    az = np.linspace(0, 2 * np.pi, count, endpoint=False)
    tilt = np.radians(40.0)
    return np.stack([np.sin(tilt) * np.cos(az), np.sin(tilt) * np.sin(az),
                     np.full(count, np.cos(tilt))], axis=1)


def capture(gt: Passes, lights: np.ndarray, out: Path, seed: int = 3) -> list[Path]:
    """Render and save one 16-bit PNG per light, plus ``lights.json``; returns the paths."""
    rng = np.random.default_rng(seed)
    paths, table = [], {}
    for i, d in enumerate(lights):
        world = np.array([d[0], -d[2], d[1]])  # camera → world (relight scene, Z up)
        sun = render.SunLight(direction=-world, strength=3.0)
        shot = render.cook_torrance(gt, sun).rgb
        shot = shot + rng.normal(0, 0.002, shot.shape).astype(np.float32)
        path = out / f"capture_{i:02d}.png"
        images.save_png(path, np.clip(shot, 0, 1), bits=16)
        paths.append(path)
        table[path.name] = [round(float(v), 6) for v in d]
    with images.atomic_path(out / "lights.json") as tmp:
        Path(tmp).write_text(json.dumps(table, indent=2))
    return paths


def portrait_path() -> Path:
    """``grace_hopper.jpg`` from matplotlib's sample data."""
    try:
        import matplotlib
    except ImportError:
        raise InputError("the portrait demo needs matplotlib's sample data (the development "
                         "environment has it; the Blender extension leaves matplotlib out): "
                         "pass --image PATH instead") from None
    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if not path.is_file():
        raise InputError(f"matplotlib's sample portrait is missing: {path}")
    return path


MARKER = ".relit-demo"


def claim_folder(out: Path, overwrite: bool = False) -> Path:
    """The demo writes fixed names, so it keeps to a folder of its own: an empty or new one, or
    one an earlier demo made (it holds ``MARKER``), unless ``overwrite``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"demo output {out} is a file, not a folder")
    if (out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists()
            and not overwrite):
        raise OutputError(f"{out} holds other files; the demo writes into an empty folder of "
                          "its own (choose another --out, or --overwrite)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).touch()
    except OSError as exc:
        raise OutputError(f"cannot write to {out}: {exc.strerror or exc}") from None
    return out


def run_portrait(out: Path, image: Path | None = None, progress: ProgressFn | None = None,
                 options=None) -> Path:
    """Decompose a portrait with the shipped networks, relight it under three HDRIs, and write
    the passes, the relit images and a contact sheet into ``out``; returns the sheet's path."""
    from .pipeline import decompose

    steps = Steps(progress, {"decompose": 6, "relight": 3, "sheet": 1})
    source = Path(image) if image else portrait_path()
    rgb = images.load_image(source)
    out.mkdir(parents=True, exist_ok=True)
    passes = decompose(rgb, options, progress=steps.stage("decompose"))
    passes.save(out / "passes", overwrite=True)
    tiles = [("source", passes.rgb), ("normal", images.normal_to_rgb(passes.normal)),
             ("albedo", passes.albedo), ("roughness", passes.roughness),
             ("reflectivity x6", np.clip(passes.reflectivity * 6.0, 0, 1)),
             ("matte", passes.alpha), ("height", _unit_range(passes.height))]
    relight_step = steps.stage("relight")
    for i, (name, rot) in enumerate(HDRIS):
        light = render.HdriLight(name, rotation=rot, search_dirs=blender_studio_lights())
        relit = relight_passes(Passes(**{**passes.__dict__}), light)
        image_i = relit.rgb + (1.0 - relit.alpha[..., None]) * passes.rgb  # over the plate
        images.save_png(out / f"relit_{name}.png", image_i)
        tiles.append((f"{name} {rot:g} deg", image_i))
        relight_step((i + 1) / len(HDRIS), f"relit under {name}")
    steps.stage("sheet")
    sheet = out / "contact_sheet.png"
    tile = min(256, max(passes.shape))
    images.save_png(sheet, images.contact_sheet(
        tiles, tile=tile, columns=5, data_labels=("normal", "roughness", "reflectivity x6",
                                                  "matte", "height")))
    steps.done()
    return sheet


def run_demo(out: Path, res: int = 256, progress: ProgressFn | None = None) -> Path:
    """Run the photometric-stereo example into ``out``; returns the contact sheet's path."""
    steps = Steps(progress, {"capture": 2, "ps": 3, "relight": 3, "sheet": 1})
    out.mkdir(parents=True, exist_ok=True)
    gt = bust_passes(res)
    steps.stage("capture")
    paths = capture(gt, capture_lights(), out / "captures")
    passes = photometric_passes(paths, out / "captures" / "lights.json",
                                progress=steps.stage("ps"))
    passes.roughness, passes.reflectivity = gt.roughness, gt.reflectivity
    passes.meta["note"] = "roughness and F0 are the example's known values"
    inside = (passes.alpha > 0.5) & (gt.alpha > 0.5)
    stats = metrics.normal_metrics(passes.normal, gt.normal, inside)
    passes.meta["normal_error_vs_truth"] = stats
    passes.save(out / "passes", overwrite=True)

    tiles = [("capture 0", passes.rgb), ("normal", images.normal_to_rgb(passes.normal)),
             ("albedo", passes.albedo), ("height", _unit_range(passes.height))]
    relight_step = steps.stage("relight")
    for i, (name, rot) in enumerate(HDRIS):
        light = render.HdriLight(name, rotation=rot, search_dirs=blender_studio_lights())
        image = relight_passes(Passes(**{**passes.__dict__}), light).rgb
        images.save_png(out / f"relit_{name}.png", image)
        tiles.append((f"{name} {rot:g} deg", image))
        relight_step((i + 1) / len(HDRIS), f"relit under {name}")
    steps.stage("sheet")
    sheet = out / "contact_sheet.png"
    images.save_png(sheet, images.contact_sheet(tiles, tile=res, columns=4,
                                                data_labels=("normal", "height")))
    with images.atomic_path(out / "summary.json") as tmp:
        Path(tmp).write_text(json.dumps({"normal_error_vs_truth": stats, "hdris": HDRIS},
                                        indent=2))
    steps.done()
    print(f"[relit] photometric-stereo normals vs truth: mean {stats['mean_deg']:.2f} deg, "
          f"median {stats['median_deg']:.2f} deg")
    return sheet


def _unit_range(a: np.ndarray) -> np.ndarray:
    a = a - a.min()
    return a / max(float(a.max()), 1e-6)
