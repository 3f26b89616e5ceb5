"""``python -m training.evaluate``: honest measurements on data the networks never saw.

- ``relight DIR [--count N]``: the Cook-Torrance relight of factory samples' ground-truth
  passes under their lighting B (``sh_b``) against the Cycles render ``rgb_b``, masked PSNR and
  SSIM. This is the baseline RenderNet must beat.
- ``yale [--subjects …]``: photometric-stereo agreement with each Yale B subject's reference (a
  check of the measuring tool itself, not of a network).
- ``yale-prior [--subjects …]``: the face-mesh normal prior alone on the frontal and two side-lit
  images (A ±50°) of each subject: the baseline NormalNet must beat. Scored inside the reference
  mask where the prior covers the face; the coverage is reported too.
- ``yale-faces [--subjects …]``: how often Face Mesh finds the face under each subject's 64
  lights at the pipeline's 512 px, the plate as shot against with the exposure retries.

- ``yale-relight [--subjects …] [--acceptance] [--card …]``: the real-face relight protocol
  (``training.yale_relight``): each subject's frontal photo through ``python -m inference
  decompose``, relit to ten real captures of the same face and scored against them, every
  variant of the model card's table. Writes ``models/yale_relight.json``.

- ``report [--test | --val DIR] [--count N] [--card models/MODEL_CARD.md] [--acceptance]``: all
  of the model card's numbers: NormalNet checkpoints with and without landmark channels (the ablation),
  DiffuseNet against the direct-albedo net, SpecularNet, the shipped chain end to end on held-out
  samples (every pass, relight with Cook-Torrance and with RenderNet), and NormalNet on Yale B
  against the prior. Writes ``models/evaluation.json`` and the card's evaluation block.

Yale B05 and B07 are acceptance subjects: the defaults score the development subjects only.
Likewise the synthetic development set (``v1-val``) is where choices are made; the test set
(``v1-test``, ``--test``) is scored once per release.

Results print as JSON lines, so they can be pasted into the model card as they are.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from inference import images, lighting, metrics, photometric, render
from inference.passes import Passes

from . import data, scene_light, yale_relight

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


def yale_faces(subjects, max_side: int = 512) -> list[dict]:
    """Face Mesh on every lit capture of each subject (hard side light included), at the
    pipeline's default internal size: found as shot, and found with the exposure retries."""
    import warnings

    from inference import face, pipeline
    from inference.errors import RelitWarning

    out = []
    for subject in subjects:
        folder = SHARED / "eval" / "yaleb" / subject
        views = sorted(f.stem.split("_", 1)[1] for f in folder.glob("*_P00A*.pgm"))
        found = {False: 0, True: 0}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RelitWarning)
            for view in views:
                small = pipeline._shrink(yale_image(folder, view), max_side)
                for expose in found:
                    found[expose] += bool(face.detect_landmarks(small, expose=expose).faces)
        out.append({"metric": "face_mesh_found", "subject": subject, "images": len(views),
                    "as_shot": found[False], "with_exposure_retries": found[True]})
    return out


# ---------------------------------------------------------------- networks on synthetic data

def _val_paths(folder: Path, count: int) -> list[Path]:
    return data.sample_paths([folder])[:count]


def _pooled(errors: list, cosines: list, dys: list | None = None) -> dict:
    err, cos = np.concatenate(errors), np.concatenate(cosines)
    out = {"mean_deg": float(err.mean()), "median_deg": float(np.median(err))}
    for t in metrics.ANGLE_THRESHOLDS:
        out["within_" + f"{t:g}".replace(".", "_")] = float(100.0 * np.mean(err <= t))
    out["mean_cos"] = float(cos.mean())
    if dys is not None:  # the tilt: mean of pred − true Y
        out["mean_dy"] = float(np.concatenate(dys).mean())
    out["pixels"] = int(err.size)
    return out


def _angles(pred: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    err = metrics.angular_error(pred, ref)[mask]
    return err, np.cos(np.radians(err))


def normal_checkpoint(ckpt: Path, folder: Path, count: int) -> list[dict]:
    """A NormalNet checkpoint on held-out samples with their own face features, against the true
    normals inside the true matte (pixels pooled over samples, as the paper reports), next to
    the face-mesh prior alone on the pixels it covers."""
    import torch

    from .export import _load

    model, config = _load("normal", ckpt)
    net_e, net_c, prior_e, prior_c, both_e, both_c = [], [], [], [], [], []
    net_dy, prior_dy, both_dy = [], [], []
    covered = total = 0
    paths = _val_paths(folder, count)
    for path in paths:
        x, target, mask = data.normal_net_arrays(data.normal_net_maps(path),
                                                 config.get("landmarks", True))
        with torch.no_grad():
            pred = model(torch.from_numpy(x[None, :3]), torch.from_numpy(x[None, 3:]))[0]
        pred, target, mask = pred.numpy().transpose(1, 2, 0), target.transpose(1, 2, 0), mask > 0
        e, c = _angles(pred, target, mask)
        net_e.append(e), net_c.append(c), net_dy.append((pred - target)[mask][:, 1])
        prior = x[-5:-2].transpose(1, 2, 0)
        on_prior = mask & (x[-2] > 0.5)
        covered, total = covered + int(on_prior.sum()), total + int(mask.sum())
        for store_e, store_c, store_dy, p in ((prior_e, prior_c, prior_dy, prior),
                                              (both_e, both_c, both_dy, pred)):
            e, c = _angles(p, target, on_prior)
            store_e.append(e), store_c.append(c)
            store_dy.append((p - target)[on_prior][:, 1])
    base = {"data": str(folder), "samples": len(paths), "checkpoint": str(ckpt),
            "landmarks": bool(config.get("landmarks", True)), "steps": config.get("step")}
    return [{"metric": "normal_net_synthetic", "region": "subject", **base,
             **_pooled(net_e, net_c, net_dy)},
            {"metric": "normal_net_synthetic", "region": "face (prior covers)", **base,
             "coverage": covered / max(total, 1), **_pooled(both_e, both_c, both_dy)},
            {"metric": "face_mesh_prior_synthetic", "region": "face (prior covers)", **base,
             "coverage": covered / max(total, 1), **_pooled(prior_e, prior_c, prior_dy)}]


def map_checkpoint(net: str, ckpt: Path, folder: Path, count: int) -> dict:
    """DiffuseNet, its direct-albedo alternative or SpecularNet, each fed the true normals, SH
    and albedo they are trained with (no upstream error): albedo si-PSNR, or roughness/F0 MAE."""
    import torch

    from .export import _load

    model, config = _load(net, ckpt)
    paths = _val_paths(folder, count)
    scores: dict[str, list] = {}
    for path in paths:
        *inputs, target, mask = next(data.map_batches(
            "albedo" if net == "diffuse" else net, [path], 1, 256, seed=0, aug=data.NO_AUG))
        with torch.no_grad():
            pred = model(*map(torch.from_numpy, inputs))[0].numpy().transpose(1, 2, 0)
        target, mask = target[0].transpose(1, 2, 0), mask[0] > 0
        if net == "specular":
            scores.setdefault("roughness_mae", []).append(
                float(np.abs(pred[..., 0] - target[..., 0])[mask].mean()))
            scores.setdefault("f0_mae", []).append(
                float(np.abs(pred[..., 1] - target[..., 1])[mask].mean()))
            continue
        if net == "diffuse":
            from inference.pipeline import albedo_from_diffuse

            pred = albedo_from_diffuse(pred, inputs[1][0].transpose(1, 2, 0))
        scores.setdefault("albedo_si_psnr_db", []).append(
            metrics.scale_invariant_psnr(pred, target, mask, peak=1.0))
    return {"metric": f"{net}_checkpoint_synthetic", "inputs": "true normal/SH/albedo",
            "data": str(folder), "samples": len(paths), "checkpoint": str(ckpt),
            "steps": config.get("step"), **{k: float(np.mean(v)) for k, v in scores.items()}}


def _sphere_irradiance(*shs) -> list[np.ndarray]:
    """The irradiance each SH set gives over 2,048 normals spread evenly on the sphere."""
    dirs = lighting._fibonacci_directions(2048)
    return [lighting.sh_irradiance(np.asarray(s, np.float32).reshape(9, 3), dirs) for s in shs]


def sh_relative_error(pred: np.ndarray, true: np.ndarray) -> float:
    """Relative RMS error of the irradiance two SH sets give over the whole sphere of normals."""
    e_pred, e_true = _sphere_irradiance(pred, true)
    return float(np.linalg.norm(e_pred - e_true) / max(np.linalg.norm(e_true), 1e-9))


def sh_level_log2(pred: np.ndarray, true: np.ndarray) -> float:
    """How much brighter (in stops) the irradiance of ``pred`` is than that of ``true``, over the
    whole sphere of normals (the ratio of the RMS irradiances)."""
    e_pred, e_true = _sphere_irradiance(pred, true)
    return float(np.log2(max(np.linalg.norm(e_pred), 1e-12) / max(np.linalg.norm(e_true), 1e-12)))


def chain_synthetic(folder: Path, count: int, models_dir: Path | None = None,
                    options: dict | None = None) -> dict:
    """The shipped chain, end to end from each held-out sample's RGB (what a user gets): every
    pass against the truth, and the relight under lighting B against the Cycles render."""
    from inference import models, pipeline

    reg = models.Registry(models_dir) if models_dir else models.default_registry()
    opts = pipeline.DecomposeOptions(**{**(options or {}), "registry": reg, "max_side": 256})
    refiner = reg.status().get(pipeline.REFINER) == "ok"
    err, cos, rows, levels = [], [], {}, {}
    paths = _val_paths(folder, count)

    def add(key, value):
        rows.setdefault(key, []).append(float(value))

    for path in paths:
        s = data.load_sample(path)
        p = pipeline.decompose(s["rgb"], opts)
        mask = s["alpha"] > 0.5
        e, c = _angles(p.normal, s["normal"], mask)
        err.append(e), cos.append(c)
        add("albedo_si_psnr_db", metrics.scale_invariant_psnr(p.albedo, s["albedo"], mask,
                                                              peak=1.0))
        add("roughness_mae", np.abs(p.roughness - s["roughness"])[mask].mean())
        add("f0_mae", np.abs(p.reflectivity - s["reflectivity"])[mask].mean())
        add("sh_relative_irradiance_error", sh_relative_error(p.sh, s["sh"]))
        levels.setdefault("sh", []).append(sh_level_log2(p.sh, s["sh"]))
        add("matte_iou", ((p.alpha > 0.5) & mask).sum() / max(((p.alpha > 0.5) | mask).sum(), 1))
        inside = s["alpha"] > 0.99
        meta = scene_light.meta_of(s)
        position = scene_light.positions(meta, s["depth"])
        predicted = {k: getattr(p, k) for k in RELIGHT_PASSES}
        for label, passes in (("predicted", predicted), ("true", _true_passes(s))):
            # under lighting B's SH, and under its own HDRI and lights ("scene_")
            for light, relit in (("", render.relight(passes, render.ShLight(s["sh_b"]))),
                                 ("scene_", scene_light.relight(passes, meta, position))):
                add(f"relight_{light}ct_{label}_psnr_db",
                    metrics.psnr(relit.rgb, s["rgb_b"], inside))
                add(f"relight_{light}ct_{label}_ssim", ssim(relit.rgb, s["rgb_b"], inside))
                if refiner:
                    refined = pipeline.refine(Passes(rgb=s["rgb"], **passes), relit, opts)
                    add(f"relight_{light}rendernet_{label}_psnr_db",
                        metrics.psnr(refined, s["rgb_b"], inside))
                    add(f"relight_{light}rendernet_{label}_ssim",
                        ssim(refined, s["rgb_b"], inside))
        diagnostics, level = _albedo_diagnostics(p, s, mask)
        levels.setdefault("albedo", []).append(-np.log2(max(level, 1e-6)))
        for label, passes in diagnostics.items():
            relit = render.relight(passes, render.ShLight(s["sh_b"]))
            add(f"relight_ct_predicted_{label}_psnr_db",
                metrics.psnr(relit.rgb, s["rgb_b"], inside))
    return {"metric": "chain_synthetic", "data": str(folder), "samples": len(paths),
            "models": {n: reg.spec(n).version for n in reg.names()},
            "normals": _pooled(err, cos),
            **{f"{k}_level_log2": {"median": float(np.median(v)),
                                   "mean_abs": float(np.mean(np.abs(v)))}
               for k, v in levels.items()},
            **{k: float(np.mean(v)) for k, v in rows.items()}}


RELIGHT_PASSES = ("normal", "albedo", "roughness", "reflectivity", "alpha")
"""The passes the Cook-Torrance relight reads."""


def _albedo_diagnostics(p, s: dict, mask: np.ndarray) -> tuple[dict, float]:
    """The predicted passes with the albedo brought to the truth's overall level (one grey
    factor, least squares inside the matte: an oracle), and with the true albedo. They split the
    relight error into the albedo's level, which one photo leaves ambiguous with the light's
    intensity, its pattern, and everything else."""
    pred = {k: getattr(p, k) for k in RELIGHT_PASSES}
    a, t = p.albedo[mask], s["albedo"][mask]
    level = float((a * t).sum() / max(float((a * a).sum()), 1e-12))
    return ({"albedo_level_oracle": {**pred, "albedo": np.clip(p.albedo * level, 0.0, 1.0)},
             "true_albedo": {**pred, "albedo": s["albedo"]}}, level)


def _true_passes(s: dict) -> dict:
    return {k: s[k] for k in RELIGHT_PASSES}


def yale_net(subjects, models_dir: Path | None = None, options: dict | None = None
             ) -> list[dict]:
    """NormalNet (the shipped one, or the one in ``models_dir``) on the same Yale B views and
    pixels as ``yale-prior``, plus the whole reference mask."""
    from inference import models, pipeline

    reg = models.Registry(models_dir) if models_dir else models.default_registry()
    opts = pipeline.DecomposeOptions(**{**(options or {}), "registry": reg})
    out = []
    for subject in subjects:
        folder = SHARED / "eval" / "yaleb" / subject
        ref = np.load(folder / "reference.npz")
        for view in YALE_VIEWS:
            f = pipeline.estimate_normals(yale_image(folder, view), opts)
            normal, covered = f["normal"], f["prior"][..., 3]
            if normal.shape[:2] != ref["mask"].shape:  # the nets ran at a smaller size
                normal = pipeline._unit(images.resize(normal, ref["mask"].shape))
                covered = images.resize(covered[..., None], ref["mask"].shape)[..., 0]
            face_px = ref["mask"] & (covered > 0.5)
            row = {"metric": "normal_net_vs_reference", "subject": subject, "view": view,
                   "model": reg.spec("normal_net").version,
                   "whole_mask": metrics.normal_metrics(normal, ref["normal"], ref["mask"])}
            if face_px.any():
                row["prior_covered"] = metrics.normal_metrics(normal, ref["normal"], face_px)
            out.append(row)
    return out


# ---------------------------------------------------------------- temporal stability

FLICKER_PASSES = ("normal", "albedo", "roughness", "reflectivity", "height")


def flicker_turntable(folder: Path, strength: float = 0.7, max_side: int = 512) -> dict:
    """Per-frame against stabilised passes on a factory turntable (``training.synth.turntable``):
    both runs go through ``python -m inference decompose 'plate.####.exr'`` as a user runs it
    (``--stabilise`` for the second), then the flicker metric (mean absolute temporal change
    where the plate does not move, inside the true matte) and the error against the exact
    ground truth of every frame."""
    import tempfile

    from inference import cli, sequence

    frames = sorted(folder.glob("frame.*.npz"))
    if len(frames) < 2:
        raise SystemExit(f"no turntable frames (frame.NNNN.npz) in {folder}")
    truth = [data.load_sample(f) for f in frames]
    rgbs = [t["rgb"] for t in truth]
    masks = [t["alpha"] > 0.5 for t in truth]
    out = {"metric": "flicker_turntable", "data": str(folder), "frames": len(frames),
           "strength": strength}
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra in (("per_frame", []), ("stabilised", ["--stabilise", str(strength)])):
            dest = Path(tmp) / label
            code = cli.main(["--quiet", "decompose", str(folder / "plate.####.exr"), "--out",
                             str(dest), "--max-side", str(max_side), *extra])
            if code:
                raise SystemExit(f"decompose exited {code}")
            passes = [Passes.load(dest / f"plate.{f.name.split('.')[1]}") for f in frames]
            maps = [{k: getattr(p, k) for k in FLICKER_PASSES} for p in passes]
            err = [_angles(p.normal, t["normal"], m)[0] for p, t, m in zip(passes, truth, masks)]
            out[label] = {
                "flicker": sequence.flicker(rgbs, maps, masks),
                "normal_mean_deg": float(np.concatenate(err).mean()),
                "albedo_si_psnr_db": float(np.mean([metrics.scale_invariant_psnr(
                    p.albedo, t["albedo"], m, peak=1.0) for p, t, m in zip(passes, truth,
                                                                          masks)])),
                "roughness_mae": float(np.mean([np.abs(p.roughness - t["roughness"])[m].mean()
                                                for p, t, m in zip(passes, truth, masks)]))}
    out["flicker_reduction_pct"] = {
        k: 100.0 * (1.0 - out["stabilised"]["flicker"][k] / max(v, 1e-12))
        for k, v in out["per_frame"]["flicker"].items()}
    return out


# ---------------------------------------------------------------- the model card's numbers

DEV_SUBJECTS = ("yaleB01", "yaleB02")
ACCEPTANCE_SUBJECTS = ("yaleB05", "yaleB07")
CARD_BEGIN, CARD_END = "<!-- evaluation:begin -->", "<!-- evaluation:end -->"


def report(val: Path, count: int, ckpt_root: Path, models_dir: Path | None = None,
           acceptance: bool = False, options: dict | None = None,
           previous: Path | None = None) -> dict:
    """Every measurement of the model card: checkpoints on held-out synthetic samples (the
    landmark ablation and the albedo comparison), the shipped chain end to end, and NormalNet
    on Yale B against the face-mesh prior (development subjects; acceptance ones on request).
    ``options`` override the pipeline's ``DecomposeOptions`` (to measure what one adds)."""
    out: dict = {"val": str(val), "count": count, "options": dict(options or {})}

    def ckpt(name):
        path = ckpt_root / name / "last.pt"
        return path if path.exists() else None

    for name, net in (("normal", "normal"), ("normal_nolm", "normal")):
        if ckpt(name):
            out[f"checkpoint_{name}"] = normal_checkpoint(ckpt(name), val, count)
    for name in ("diffuse", "albedo", "specular"):
        if ckpt(name):
            out[f"checkpoint_{name}"] = map_checkpoint(name, ckpt(name), val, count)
    _carry_checkpoint_rows(out, previous)
    out["chain"] = chain_synthetic(val, count, models_dir, options)
    subjects = [*DEV_SUBJECTS, *(ACCEPTANCE_SUBJECTS if acceptance else ())]
    out["yale_prior"] = yale_prior(subjects)
    out["yale_net"] = yale_net(subjects, models_dir, options)
    out["yale_faces"] = yale_faces(subjects)
    return out


CHECKPOINT_ROWS = ("checkpoint_normal", "checkpoint_normal_nolm", "checkpoint_diffuse",
                   "checkpoint_albedo", "checkpoint_specular")


def _carry_checkpoint_rows(out: dict, previous: Path | None) -> None:
    """The ablation and route comparisons measure training checkpoints, not the pipeline: where
    a checkpoint is not on this machine, its rows come from the previous evaluation file, marked
    with where they came from (``carried_from``)."""
    if previous is None or not previous.is_file():
        return
    old = json.loads(previous.read_text())
    for key in CHECKPOINT_ROWS:
        if key not in out and key in old:
            out[key] = old[key]
            out.setdefault("carried_from", {})[key] = old.get("command", str(previous))


def _yale_mean(rows: list, subjects, key: str | None) -> float | None:
    vals = [(r[key] if key else r)["mean_deg"] for r in rows
            if r["subject"] in subjects and (key in r if key else "mean_deg" in r)]
    return float(np.mean(vals)) if vals else None


def _tilt(res: dict) -> list[str]:
    """Prior and NormalNet tilt on the face, on held-out synthetic samples and on Yale B."""
    out = []
    rows = {r["metric"]: r for r in res.get("checkpoint_normal", [])
            if r["region"].startswith("face")}
    if "mean_dy" in rows.get("face_mesh_prior_synthetic", {}):
        net = rows["normal_net_synthetic"]
        out.append(f"synthetic {rows['face_mesh_prior_synthetic']['mean_dy']:+.3f} / "
                   f"{net['mean_dy']:+.3f} (the ablation's NormalNet checkpoint, "
                   f"{net['steps']} steps)")
    for group, subjects in (("development", DEV_SUBJECTS), ("acceptance", ACCEPTANCE_SUBJECTS)):
        prior = [r["mean_dy"] for r in res.get("yale_prior", [])
                 if r["subject"] in subjects and "mean_dy" in r]
        net = [r["prior_covered"]["mean_dy"] for r in res.get("yale_net", [])
               if r["subject"] in subjects and "mean_dy" in r.get("prior_covered", {})]
        if prior and net:
            out.append(f"Yale B {group} {np.mean(prior):+.3f} / {np.mean(net):+.3f}")
    return out


def card_markdown(res: dict) -> str:
    """The evaluation section of MODEL_CARD.md, from ``report``'s result."""
    chain = res["chain"]
    f = (lambda v, d=2: "n/a" if v is None else f"{v:.{d}f}")
    changed = ", ".join(f"`{k}={v}`" for k, v in res.get("options", {}).items())
    held_out = ("the test set: scored once for this release, nothing was chosen on it"
                if res.get("set") == "test" else
                "the development set: the choices this card reports were made on it")
    lines = [f"Held-out synthetic samples: {chain['samples']} from `{res['val']}`, {held_out} "
             "(identity anchors never trained on). The chain runs with the pipeline's "
             + (f"defaults except {changed}." if changed else "defaults."), "",
             "| metric | target | result |", "|---|---|---|",
             f"| synthetic normals, mean / median (whole subject) | ≤ 8° | "
             f"{f(chain['normals']['mean_deg'])}° / {f(chain['normals']['median_deg'])}° |",
             f"| synthetic normals within 11.25° / 22.5° / 30° | | "
             f"{f(chain['normals']['within_11_25'], 1)}% / {f(chain['normals']['within_22_5'], 1)}%"
             f" / {f(chain['normals']['within_30'], 1)}% (cos {f(chain['normals']['mean_cos'], 3)}) |",
             f"| albedo si-PSNR | ≥ 28 dB | {f(chain['albedo_si_psnr_db'])} dB |",
             f"| roughness MAE | ≤ 0.08 | {f(chain['roughness_mae'], 3)} |",
             f"| F0 MAE | ≤ 0.01 | {f(chain['f0_mae'], 4)} |",
             f"| SH relative irradiance error | | {f(chain['sh_relative_irradiance_error'], 3)} |",
             f"| matte IoU (MediaPipe selfie matte) | | {f(chain['matte_iou'], 3)} |"]
    for light, under, target in (("scene_", "own HDRI and lights", "≥ 30 dB, RenderNet "
                                  "+1.5 dB"), ("", "SH", "")):
        for label in ("predicted", "true"):
            ct = chain.get(f"relight_{light}ct_{label}_psnr_db")
            if ct is None:  # an evaluation from before the scene-light rows
                continue
            ct = f"{f(ct)} dB / {f(chain[f'relight_{light}ct_{label}_ssim'], 3)}"
            rn = chain.get(f"relight_{light}rendernet_{label}_psnr_db")
            rn = (f"{f(rn)} dB / {f(chain[f'relight_{light}rendernet_{label}_ssim'], 3)}"
                  if rn is not None else "not installed")
            lines.append(f"| relight vs Cycles `rgb_b` under lighting B's {under}, {label} "
                         f"passes: Cook-Torrance / RenderNet (PSNR / SSIM) | {target} | "
                         f"{ct} / {rn} |")
    if "sh_level_log2" in chain:
        sh, al = chain["sh_level_log2"], chain["albedo_level_log2"]
        lines.append("| level, stops brighter than the truth (median; mean of its size): "
                     f"lighting (SH irradiance) / albedo | 0 | {sh['median']:+.2f} "
                     f"({sh['mean_abs']:.2f}) / {al['median']:+.2f} ({al['mean_abs']:.2f}) |")
    oracle = chain.get("relight_ct_predicted_albedo_level_oracle_psnr_db")
    if oracle is not None:
        lines.append("| relight, predicted passes, Cook-Torrance, diagnostic: albedo brought to the "
                     "truth's overall level (oracle) / true albedo | | "
                     f"{f(oracle)} dB / {f(chain['relight_ct_predicted_true_albedo_psnr_db'])} dB |")
    for group, subjects in (("development", DEV_SUBJECTS), ("acceptance", ACCEPTANCE_SUBJECTS)):
        net = _yale_mean(res["yale_net"], subjects, "whole_mask")
        if net is None:
            continue
        face = _yale_mean(res["yale_net"], subjects, "prior_covered")
        prior = _yale_mean(res["yale_prior"], subjects, None)
        lines.append(f"| Yale B normals, mean, {group} ({', '.join(subjects)}) | ≤ 12° | "
                     f"{f(net)}° whole mask; {f(face)}° where the prior covers, prior alone "
                     f"{f(prior)}° |")
    tilt = _tilt(res)
    if tilt:
        lines.append("| normal tilt on the face, mean Y of estimate − reference (+ = tilted up): "
                     "face-mesh prior / NormalNet | 0 | " + "; ".join(tilt) + " |")
    for row in res.get("yale_faces", []):
        lines.append(f"| Face Mesh finds the face, {row['subject']}, all {row['images']} lights: "
                     f"as shot / with exposure retries | | {row['as_shot']} / "
                     f"{row['with_exposure_retries']} |")
    carried = res.get("carried_from", {})
    if carried:
        lines += ["", "The ablation and albedo-route tables below measure training checkpoints "
                  "that are not on this machine; they are carried from `"
                  + sorted(set(carried.values()))[0] + "`."]
    ab = [(k, res[k]) for k in ("checkpoint_normal", "checkpoint_normal_nolm") if k in res]
    if ab:
        lines += ["", "Landmark ablation (same data, steps and seed; held-out samples):", "",
                  "| NormalNet | steps | region | mean | median | ≤11.25° | ≤22.5° | ≤30° |",
                  "|---|---|---|---|---|---|---|---|"]
        for key, rows in ab:
            for row in rows:
                who = ("face-mesh prior alone" if row["metric"].startswith("face_mesh")
                       else "with landmarks" if row["landmarks"] else "without landmarks")
                if who.startswith("face-mesh") and key.endswith("nolm"):
                    continue
                steps = "—" if who.startswith("face-mesh") else row["steps"]
                lines.append(f"| {who} | {steps} | {row['region']} | "
                             f"{f(row['mean_deg'])}° | {f(row['median_deg'])}° | "
                             f"{f(row['within_11_25'], 1)}% | {f(row['within_22_5'], 1)}% | "
                             f"{f(row['within_30'], 1)}% |")
    if "checkpoint_diffuse" in res and "checkpoint_albedo" in res:
        d, a = res["checkpoint_diffuse"], res["checkpoint_albedo"]
        lines += ["", "Albedo route (true normals and SH as input; held-out samples):", "",
                  "| route | steps | albedo si-PSNR |", "|---|---|---|",
                  f"| DiffuseNet render / shading (patent) | {d['steps']} | "
                  f"{f(d['albedo_si_psnr_db'])} dB |",
                  f"| albedo predicted directly | {a['steps']} | {f(a['albedo_si_psnr_db'])} dB |"]
    if "checkpoint_specular" in res:
        sp = res["checkpoint_specular"]
        lines += ["", f"SpecularNet alone ({sp['steps']} steps; true normal and albedo in): "
                      f"roughness MAE {f(sp['roughness_mae'], 3)}, F0 MAE {f(sp['f0_mae'], 4)}."]
    return "\n".join(lines)


def write_card(card: Path, res: dict) -> None:
    """Replace the evaluation block of the model card (between its markers), atomically."""
    text = card.read_text()
    if CARD_BEGIN not in text or CARD_END not in text:
        raise SystemExit(f"{card} has no {CARD_BEGIN} … {CARD_END} block")
    head, rest = text.split(CARD_BEGIN, 1)
    _, tail = rest.split(CARD_END, 1)
    tmp = card.with_suffix(".md.tmp")
    tmp.write_text(f"{head}{CARD_BEGIN}\n{card_markdown(res)}\n{CARD_END}{tail}")
    tmp.replace(card)


def _decompose_option(text: str) -> tuple[str, object]:
    """``NAME=VALUE`` for a scalar ``DecomposeOptions`` field, the value in its field's type."""
    from dataclasses import fields

    from inference import pipeline

    name, sep, value = text.partition("=")
    kinds = {f.name: type(getattr(pipeline.DecomposeOptions(), f.name))
             for f in fields(pipeline.DecomposeOptions)}
    kind = kinds.get(name)
    if not sep or kind not in (bool, int, float, str):
        raise argparse.ArgumentTypeError(
            f"expected NAME=VALUE with NAME one of "
            f"{sorted(k for k, t in kinds.items() if t in (bool, int, float, str))}")
    if kind is bool:
        if value.lower() not in ("true", "false", "1", "0"):
            raise argparse.ArgumentTypeError(f"{name} takes true or false, not {value!r}")
        return name, value.lower() in ("true", "1")
    try:
        return name, kind(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name} takes a {kind.__name__}, not {value!r}")


YALE_CARD_BEGIN, YALE_CARD_END = "<!-- yale-relight:begin -->", "<!-- yale-relight:end -->"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _yale_relight(args, argv) -> int:
    subjects = list(dict.fromkeys([*args.subjects,
                                   *(ACCEPTANCE_SUBJECTS if args.acceptance else ())]))
    rows = yale_relight.evaluate(subjects, args.decompose_arg, encoding=args.encoding)
    groups = {"development": [s for s in DEV_SUBJECTS if s in subjects],
              "acceptance": [s for s in ACCEPTANCE_SUBJECTS if s in subjects]}
    other = [s for s in subjects if s not in DEV_SUBJECTS + ACCEPTANCE_SUBJECTS]
    if other:
        groups["other"] = other
    groups = {g: s for g, s in groups.items() if s}
    command = "python -m training.evaluate " + " ".join(argv if argv is not None
                                                         else sys.argv[1:])
    res = {"command": command, "encoding": args.encoding, "subjects": subjects,
           "groups": {g: yale_relight.group_means(rows, s) for g, s in groups.items()},
           "rows": rows}
    _write_atomic(Path(args.json), json.dumps(res, indent=1) + "\n")
    table = yale_relight.card_table(rows, groups)
    if args.card:
        card = Path(args.card)
        text = card.read_text()
        if YALE_CARD_BEGIN not in text or YALE_CARD_END not in text:
            raise SystemExit(f"{card} has no {YALE_CARD_BEGIN} … {YALE_CARD_END} block")
        head, rest = text.split(YALE_CARD_BEGIN, 1)
        _, tail = rest.split(YALE_CARD_END, 1)
        _write_atomic(card, f"{head}{YALE_CARD_BEGIN}\n`{command}`\n\n{table}\n"
                            f"{YALE_CARD_END}{tail}")
    for row in rows:
        print(json.dumps({k: v for k, v in row.items() if k != "per_view"}))
    print(table)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("relight")
    r.add_argument("folder")
    r.add_argument("--count", type=int, default=100)
    for name in ("yale", "yale-prior", "yale-faces"):
        y = sub.add_parser(name)
        y.add_argument("--subjects", nargs="+", default=["yaleB01", "yaleB02"])
    r = sub.add_parser("report", help="every model-card measurement, as JSON and markdown")
    r.add_argument("--val", help="held-out samples (default: v1-val, or v1-test with --test)")
    r.add_argument("--test", action="store_true",
                   help="score the test set: once per release, nothing is chosen on it "
                        "(choices are made on the development set, v1-val)")
    r.add_argument("--count", type=int, default=200)
    r.add_argument("--ckpt-root", default=str(data.CACHE / "ckpt"))
    r.add_argument("--models", help="models folder (default: the shipped one)")
    r.add_argument("--acceptance", action="store_true",
                   help="also score the acceptance subjects (yaleB05, yaleB07): once, at the end")
    r.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   type=_decompose_option,
                   help="a pipeline.DecomposeOptions field for the chain and Yale B runs, e.g. "
                        "mirror_normals=false or albedo_headroom=0 (to measure what one adds)")
    r.add_argument("--json", default="models/evaluation.json", help="where to write the results")
    r.add_argument("--card", help="model card whose evaluation block to rewrite")
    r = sub.add_parser("yale-relight", help="the real-face relight protocol (Yale B)")
    r.add_argument("--subjects", nargs="+", default=list(DEV_SUBJECTS))
    r.add_argument("--acceptance", action="store_true",
                   help="also score the acceptance subjects (yaleB05, yaleB07): once per release")
    r.add_argument("--encoding", choices=yale_relight.ENCODINGS, default="srgb",
                   help="how the linear capture becomes the PNG that is decomposed")
    r.add_argument("--decompose-arg", action="append", default=[], metavar="ARG",
                   help="an extra argument for python -m inference decompose (repeatable)")
    r.add_argument("--json", default="models/yale_relight.json")
    r.add_argument("--card", help="model card whose yale-relight block to rewrite")
    r = sub.add_parser("flicker", help="temporal stability on a factory turntable")
    r.add_argument("folder", help="output of python -m training.synth.turntable")
    r.add_argument("--strength", type=float, default=0.7)
    args = p.parse_args(argv)
    if args.command == "flicker":
        print(json.dumps(flicker_turntable(Path(args.folder).expanduser(), args.strength),
                         indent=1))
        return 0
    if args.command == "yale-relight":
        return _yale_relight(args, argv)
    if args.command == "report":
        val = Path(args.val or data.CACHE / "synth" / ("v1-test" if args.test else "v1-val"))
        res = report(val.expanduser(), args.count, Path(args.ckpt_root).expanduser(),
                     Path(args.models) if args.models else None, args.acceptance,
                     dict(args.option), Path(args.json))
        res["set"] = "test" if args.test else "development"
        res["command"] = "python -m training.evaluate " + " ".join(
            argv if argv is not None else sys.argv[1:])
        out = Path(args.json)
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(res, indent=1) + "\n")
        tmp.replace(out)
        if args.card:
            write_card(Path(args.card), res)
        print(card_markdown(res))
        return 0
    if args.command == "relight":
        rows = [relight_baseline(Path(args.folder).expanduser(), args.count)]
    elif args.command == "yale":
        rows = yale_photometric(args.subjects)
    elif args.command == "yale-faces":
        rows = yale_faces(args.subjects)
    else:
        rows = yale_prior(args.subjects)
    for row in rows:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
