"""The real-face relight protocol: does Relit relight a real face the way it really looks?

Each Yale B subject's frontal capture goes in as a user's photo, through ``python -m inference
decompose``; its pass folder is then relit to ten other real captures of the same face, and each
relight is compared with the real photograph.

- Input: ``<subject>_P00A+000E+00.pgm`` minus ``*_Ambient.pgm``. The PGMs hold linear camera
  values, so the photo a user would have is their sRGB encoding: it is written as an 8-bit sRGB
  PNG, which ``decompose`` decodes back to the same linear values (to 8-bit precision).
- Targets: ``TARGETS``, each minus the ambient capture and clamped at 0, lit from camera-space
  ``(-sin A cos E, sin E, cos A cos E)``.
- Score: inside ``reference.npz``'s mask where the target is below 250 (not saturated), the
  single least-squares scale s minimising ‖s·pred − target‖² is fitted (the light's power is
  unknown), then PSNR against a peak of 255. Reported: the mean over each subject's relights and
  over the subjects of a group.

Variants (a Lambertian render ρ·max(0, n·l), grey: each RGB pass averaged, unless named
otherwise):

- ``photo``: the frontal photo unchanged, the baseline every relight must beat;
- ``flat``: normal (0, 0, 1) and Relit's albedo;
- ``prior``: the face-mesh prior's normals (flat where the prior is empty) and Relit's albedo;
- ``chain``: Relit's normals and albedo, as decomposed: the product;
- ``physics``: Relit's normals, albedo = photo / Relit's diffuse shading (no albedo net);
- ``reference_albedo``: Relit's normals with the photometric-stereo albedo;
- ``oracle``: the photometric-stereo normals and albedo;
- ``chain_shadow``: the chain with the cast shadow marched over Relit's height pass
  (``render.shadow_mask``, as ``render.cook_torrance`` casts it);
- ``render_sun``: Relit's own ``render.cook_torrance`` under a sun from the target's
  direction, every pass and the matte, as ``python -m inference relight`` renders it;
- ``render_sun_refined``: the same refined by RenderNet (when installed).

Choices are made on the development subjects (yaleB01, yaleB02); the acceptance subjects
(yaleB05, yaleB07) are scored once per release.
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from inference import face, images, lighting, metrics, pipeline, render
from inference.passes import Passes

SHARED = Path(__file__).resolve().parents[2] / "shared"
FRONTAL = "P00A+000E+00"
TARGETS = ("P00A+025E+00", "P00A-025E+00", "P00A+050E+00", "P00A-050E+00", "P00A+070E+00",
           "P00A-070E+00", "P00A+000E+45", "P00A+020E-40", "P00A-035E+40", "P00A+035E+15")
SATURATED = 250.0
PEAK = 255.0
VARIANTS = ("photo", "flat", "prior", "chain", "physics", "reference_albedo", "posed_chain",
            "oracle", "chain_shadow", "render_sun", "render_sun_refined", "render_sun_diffuse")
LABELS = {
    "photo": "the frontal photo, unchanged",
    "flat": "flat normals + Relit's albedo",
    "prior": "face-mesh prior normals + Relit's albedo",
    "chain": "**Relit's normals + Relit's albedo (the chain)**",
    "physics": "Relit's normals + albedo = photo / Relit's diffuse shading",
    "reference_albedo": "Relit's normals + the reference albedo",
    "posed_chain": "the chain, its normals turned by the one rotation that best matches the "
                   "reference (diagnostic: the head pose known)",
    "oracle": "photometric-stereo normals + albedo (the oracle)",
    "chain_shadow": "the chain + the cast shadow from Relit's height",
    "render_sun": "Relit's `render.cook_torrance`, sun light, all passes and matte",
    "render_sun_refined": "the same, refined by RenderNet",
    "render_sun_diffuse": "the sun render's diffuse part alone (diagnostic: what its specular "
                          "costs)",
}


def light_direction(view: str) -> np.ndarray:
    """Camera-space unit direction toward the light of a Yale B view name (``P00A+025E-40``)."""
    named = re.search(r"A([+-]\d+)E([+-]\d+)", view)
    if named is None:
        raise ValueError(f"not a Yale B view name: {view}")
    azimuth, elevation = np.radians(float(named.group(1))), np.radians(float(named.group(2)))
    return np.array([-np.sin(azimuth) * np.cos(elevation), np.sin(elevation),
                     np.cos(azimuth) * np.cos(elevation)], np.float32)


def capture(folder: Path, view: str) -> np.ndarray:
    """A capture's linear values in [0, 1] (H×W), the ambient capture subtracted, clamped at 0."""
    raw = images.load_image(next(folder.glob(f"*_{view}.pgm")), data=True)[..., 0]
    ambient = next(folder.glob("*_Ambient.pgm"), None)
    if ambient is not None:
        raw = raw - images.load_image(ambient, data=True)[..., 0]
    return np.maximum(raw, 0.0).astype(np.float32)


def si_psnr(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, peak: float = PEAK
            ) -> float:
    """PSNR of s·pred against target inside mask, s the least-squares scale (None-safe: a
    prediction that is zero everywhere in the mask scores as zero)."""
    predicted, wanted = pred[mask].astype(np.float64), target[mask].astype(np.float64)
    power = float(predicted @ predicted)
    scale = float(predicted @ wanted) / power if power > 0 else 0.0
    mse = float(np.mean((scale * predicted - wanted) ** 2))
    return float(10.0 * np.log10(peak ** 2 / max(mse, 1e-12)))


def lambert(albedo: np.ndarray, normal: np.ndarray, to_light: np.ndarray) -> np.ndarray:
    return albedo * np.maximum(normal @ to_light, 0.0)


def grey(image: Optional[np.ndarray]) -> Optional[np.ndarray]:
    return None if image is None else (image.mean(axis=-1) if image.ndim == 3 else image)


ENCODINGS = ("srgb", "raw")
"""How the linear capture becomes the user's PNG: ``srgb`` encodes it (what a camera's or a raw
converter's 8-bit output holds, and what decompose decodes back to linear); ``raw`` stores the
linear values as the bytes, which every reader then takes for sRGB (the capture looks darker and
harder than the face did: the input of the measurement this protocol was first filed with)."""


def decompose_photo(photo: np.ndarray, work: Path, name: str, extra: Sequence[str] = (),
                    encoding: str = "srgb") -> Passes:
    """Write ``photo`` (linear, H×W) as an 8-bit PNG (``ENCODINGS``) and decompose it with the
    CLI, as a user does; returns the passes read back from the pass folder."""
    from inference import cli

    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, not {encoding!r}")
    png = work / f"{name}.png"
    images.save_png(png, np.repeat(photo[..., None], 3, axis=-1), data=encoding == "raw")
    code = cli.main(["--quiet", "decompose", str(png), "--out", str(work / "passes"),
                     "--overwrite", *extra])
    if code:
        raise SystemExit(f"decompose {png} exited {code}")
    return Passes.load(work / "passes" / name)


def _sun(to_light_cam: np.ndarray) -> render.SunLight:
    """A sun lighting the plate from camera-space ``to_light_cam`` (it shines the other way)."""
    return render.SunLight(direction=lighting.camera_to_world(-to_light_cam).tolist(),
                           strength=1.0)


def prior_normals(passes: Passes) -> np.ndarray:
    """The face-mesh prior's normals of the decomposed photo, flat where the prior is empty."""
    prior = face.analyse(passes.rgb)
    flat = np.broadcast_to(np.array([0, 0, 1], np.float32), prior.prior_normal.shape)
    return np.where(prior.prior_mask[..., None] > 0.5, prior.prior_normal, flat)


def posed_normals(passes: Passes, ref) -> np.ndarray:
    """The decomposed normals turned by the one rotation that best matches the reference's
    (``metrics.best_rotation``): the chain with the head pose known, a diagnostic."""
    turn = metrics.best_rotation(passes.normal, ref["normal"], ref["mask"].astype(bool))
    return (passes.normal @ turn).astype(np.float32)


def subject_predictions(passes: Passes, photo: np.ndarray, ref, to_light: np.ndarray,
                        refine: bool, prior_n: np.ndarray, posed_n: np.ndarray,
                        refine_options: Optional[dict] = None) -> dict[str, np.ndarray]:
    """Every variant's render of one subject under one light (H×W, arbitrary scale)."""
    flat = np.broadcast_to(np.array([0, 0, 1], np.float32), photo.shape + (3,))
    albedo = grey(passes.albedo)
    shading = grey(passes.diffuse_shading)
    out = {
        "photo": photo,
        "flat": lambert(albedo, flat, to_light),
        "prior": lambert(albedo, prior_n, to_light),
        "chain": lambert(albedo, passes.normal, to_light),
        "physics": lambert(grey(passes.rgb) / np.maximum(shading, 1e-4), passes.normal,
                           to_light),
        "reference_albedo": lambert(ref["albedo"], passes.normal, to_light),
        "posed_chain": lambert(albedo, posed_n, to_light),
        "oracle": lambert(ref["albedo"], ref["normal"], to_light),
    }
    if passes.height is not None:
        out["chain_shadow"] = out["chain"] * render.shadow_mask(passes.height, to_light,
                                                                alpha=passes.alpha)
    relit = render.cook_torrance(passes, _sun(to_light))
    out["render_sun"] = grey(relit.rgb)
    out["render_sun_diffuse"] = grey(relit.diffuse)
    if refine:
        out["render_sun_refined"] = grey(pipeline.refine(passes, relit, refine_options))
    return out


def evaluate_subject(subject: str, root: Path = SHARED / "eval" / "yaleb",
                     extra: Sequence[str] = (), refine: Optional[bool] = None,
                     targets: Sequence[str] = TARGETS, encoding: str = "srgb",
                     refine_options: Optional[dict] = None) -> dict:
    """The protocol on one subject: per-variant mean si-PSNR over ``targets`` (and per view)."""
    folder = root / subject
    ref = np.load(folder / "reference.npz")
    photo = capture(folder, FRONTAL)
    if refine is None:
        refine = _refiner_installed()
    per_view: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        passes = decompose_photo(photo, Path(tmp), subject, extra, encoding)
    prior_n, posed_n = prior_normals(passes), posed_normals(passes, ref)
    for view in targets:
        target = capture(folder, view) * PEAK
        mask = ref["mask"].astype(bool) & (target < SATURATED)
        preds = subject_predictions(passes, photo, ref, light_direction(view), refine, prior_n,
                                    posed_n, refine_options)
        per_view[view] = {k: si_psnr(v, target, mask) for k, v in preds.items()}
    variants = [v for v in VARIANTS if all(v in row for row in per_view.values())]
    normals = metrics.normal_metrics(passes.normal, ref["normal"], ref["mask"].astype(bool))
    turn = metrics.global_rotation(passes.normal, ref["normal"], ref["mask"].astype(bool))
    return {"metric": "yale_relight_si_psnr_db", "subject": subject,
            "normal_mean_deg": normals["mean_deg"], "normal_median_deg": normals["median_deg"],
            "normal_rotation_deg": turn["rotation_deg"],
            "normal_mean_deg_rotated": turn["mean_deg_rotated"],
            "models": passes.meta.get("models", {}), "encoding": encoding,
            "decompose_args": list(extra), "refine_options": dict(refine_options or {}),
            "relights": len(per_view),
            "mean": {v: float(np.mean([row[v] for row in per_view.values()])) for v in variants},
            "per_view": per_view}


def _refiner_installed() -> bool:
    from inference.models import default_registry

    return default_registry().status().get(pipeline.REFINER) == "ok"


def evaluate(subjects: Sequence[str], extra: Sequence[str] = (), refine: Optional[bool] = None,
             encoding: str = "srgb", refine_options: Optional[dict] = None) -> list[dict]:
    return [evaluate_subject(subject, extra=extra, refine=refine, encoding=encoding,
                             refine_options=refine_options)
            for subject in subjects]


def group_means(rows: list[dict], subjects: Sequence[str]) -> dict[str, float]:
    """Mean over the relights of ``subjects`` (every subject has the same number)."""
    rows = [row for row in rows if row["subject"] in subjects]
    if not rows:
        return {}
    scored = [variant for variant in VARIANTS if all(variant in row["mean"] for row in rows)]
    return {variant: float(np.mean([row["mean"][variant] for row in rows])) for variant in scored}


def card_table(rows: list[dict], groups: dict[str, Sequence[str]]) -> str:
    """A markdown table: one row per variant, one column per group of subjects, and the
    decomposed normals' mean error against the reference beneath, split into one rotation of
    the whole map and the rest (``metrics.global_rotation``)."""
    means = {group: group_means(rows, members) for group, members in groups.items()}
    shown = [group for group in groups if means[group]]
    head = " | ".join(f"{group} ({', '.join(groups[group])})" for group in shown)
    lines = [f"| variant | {head} |", "|---|" + "---|" * len(shown)]
    for variant in VARIANTS:
        if not any(variant in means[group] for group in shown):
            continue
        cells = " | ".join(f"{means[group][variant]:.2f} dB" if variant in means[group]
                           else "n/a" for group in shown)
        lines.append(f"| {LABELS[variant]} | {cells} |")
    errors = {group: [row["normal_mean_deg"] for row in rows if row["subject"] in groups[group]]
              for group in shown}
    cells = " | ".join(f"{np.mean(errors[group]):.2f}°" for group in shown)
    lines.append(f"| Relit's normals against the reference, mean angular error | {cells} |")
    turned = [group for group in shown if all("normal_rotation_deg" in row for row in rows
                                              if row["subject"] in groups[group])]
    if turned:
        cells = " | ".join(
            "{:.2f}° / {:.2f}°".format(*(np.mean([row[key] for row in rows
                                                    if row["subject"] in groups[group]])
                                           for key in ("normal_rotation_deg",
                                                       "normal_mean_deg_rotated")))
            for group in shown)
        lines.append("| the same split: the one rotation that best turns them onto the reference "
                     f"(a head pose read wrong) / the mean error left after it | {cells} |")
    return "\n".join(lines)
