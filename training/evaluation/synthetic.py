"""Measurements on held-out factory samples, whose every pass is exact ground truth: the
Cook-Torrance baseline, the training checkpoints (the landmark ablation, the albedo route,
SpecularNet) and the shipped chain end to end."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from inference import integrate, lighting, metrics, render
from inference.passes import Passes

from .. import data, scene_light
from . import keys

RELIGHT_PASSES = ("normal", "albedo", "roughness", "reflectivity", "alpha")
"""The passes the Cook-Torrance relight reads."""


def relight_baseline(folder: Path, count: int) -> dict:
    """The Cook-Torrance relight of samples' ground-truth passes under their lighting B's SH
    (``sh_b``) against the Cycles render ``rgb_b``: the baseline RenderNet must beat."""
    psnrs, ssims = [], []
    for path in data.sample_paths([folder])[:count]:
        sample = data.load_sample(path)
        relit = render.cook_torrance(true_passes(sample), render.ShLight(sample["sh_b"]))
        inside = sample["alpha"] > 0.99
        psnrs.append(metrics.psnr(relit.rgb, sample["rgb_b"], inside))
        ssims.append(metrics.ssim(relit.rgb, sample["rgb_b"], inside))
    return {"metric": "relight_cook_torrance_sh_b_vs_rgb_b", "samples": len(psnrs),
            "psnr_mean_db": float(np.mean(psnrs)), "psnr_median_db": float(np.median(psnrs)),
            "ssim_mean": float(np.mean(ssims)), "data": str(folder)}


def held_out_paths(folder: Path, count: int) -> list[Path]:
    return data.sample_paths([folder])[:count]


def pooled(errors: list, cosines: list, tilts: list | None = None) -> dict:
    """Angular error statistics over the pixels of every sample at once (as the normal-map
    paper reports them); ``tilts``, the mean of pred − true Y."""
    error, cosine = np.concatenate(errors), np.concatenate(cosines)
    out = {keys.MEAN_DEG.key: float(error.mean()), keys.MEDIAN_DEG.key: float(np.median(error))}
    for share, degrees in zip(keys.WITHIN, metrics.ANGLE_THRESHOLDS):
        out[share.key] = float(100.0 * np.mean(error <= degrees))
    out[keys.MEAN_COS.key] = float(cosine.mean())
    if tilts is not None:
        out[keys.MEAN_DY.key] = float(np.concatenate(tilts).mean())
    out[keys.PIXELS.key] = int(error.size)
    return out


def angles(pred: np.ndarray, ref: np.ndarray, mask: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """The angular error (degrees) and its cosine at the pixels inside ``mask``."""
    error = metrics.angular_error(pred, ref)[mask]
    return error, np.cos(np.radians(error))


class _Pool:
    """What ``pooled`` takes, gathered sample by sample."""

    def __init__(self):
        self.errors, self.cosines, self.tilts = [], [], []

    def add(self, pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> None:
        error, cosine = angles(pred, target, mask)
        self.errors.append(error)
        self.cosines.append(cosine)
        self.tilts.append((pred - target)[mask][:, 1])

    def result(self) -> dict:
        return pooled(self.errors, self.cosines, self.tilts)


def normal_checkpoint(ckpt: Path, folder: Path, count: int) -> list[dict]:
    """A NormalNet checkpoint on held-out samples with their own face features, against the true
    normals inside the true matte (pixels pooled over samples, as the paper reports), next to
    the face-mesh prior alone on the pixels it covers."""
    import torch

    from ..export import load_checkpoint

    model, config = load_checkpoint("normal", ckpt)
    net, prior, net_on_face = _Pool(), _Pool(), _Pool()
    covered = total = 0
    paths = held_out_paths(folder, count)
    for path in paths:
        inputs, target, mask = data.normal_net_arrays(
            data.normal_net_maps(path, config.get("camera_prior", False)),
            config.get("landmarks", True))
        with torch.no_grad():
            pred = model(torch.from_numpy(inputs[None, :3]),
                         torch.from_numpy(inputs[None, 3:]))[0]
        pred, target, mask = pred.numpy().transpose(1, 2, 0), target.transpose(1, 2, 0), mask > 0
        net.add(pred, target, mask)
        on_prior = mask & (inputs[-2] > 0.5)
        covered, total = covered + int(on_prior.sum()), total + int(mask.sum())
        prior.add(inputs[-5:-2].transpose(1, 2, 0), target, on_prior)
        net_on_face.add(pred, target, on_prior)
    base = {"data": str(folder), "samples": len(paths), "checkpoint": str(ckpt),
            "landmarks": bool(config.get("landmarks", True)), "steps": config.get("step")}
    return [{"metric": "normal_net_synthetic", "region": "subject", **base, **net.result()},
            {"metric": "normal_net_synthetic", "region": "face (prior covers)", **base,
             "coverage": covered / max(total, 1), **net_on_face.result()},
            {"metric": "face_mesh_prior_synthetic", "region": "face (prior covers)", **base,
             "coverage": covered / max(total, 1), **prior.result()}]


def prior_frame(folder: Path, count: int) -> dict:
    """The face-mesh prior against the true normals, in MediaPipe's ray frame and turned into
    camera space by each sample's own camera (``inference.camera``): pooled errors, and how the
    ray frame's mean Y error on the face follows the sine of the ray's elevation (the face above
    the optical axis is seen from below). Needs no model; any factory folder will do."""
    from inference import camera

    ray, turned, rows = _Pool(), _Pool(), []
    for path in data.sample_paths([folder])[:count]:
        sample = data.load_sample(path)
        prior = data.face_features(path, sample["rgb"])["prior"]
        mask = (prior[..., 3] > 0.5) & (sample["alpha"] > 0.5)
        if not mask.any():
            continue
        lens = data.sample_camera(sample)
        ray.add(prior[..., :3], sample["normal"], mask)
        turned.add(camera.prior_to_camera(prior[..., :3], prior[..., 3], lens),
                   sample["normal"], mask)
        rows.append((-camera.face_ray(prior[..., 3], lens)[1], float(ray.tilts[-1].mean())))
    if len(rows) < 3:
        raise ValueError(f"{folder}: {len(rows)} samples with a face among the first {count}; "
                         "the tilt's fit needs at least 3")
    elevation, tilt = np.array(rows).T
    slope, intercept = np.polyfit(elevation, tilt, 1)
    return {"metric": "face_mesh_prior_frame", "data": str(folder), "samples": len(rows),
            "ray_frame": ray.result(), "camera_frame": turned.result(),
            "ray_tilt_vs_elevation_sine": {
                "slope": float(slope), "intercept": float(intercept),
                "correlation": float(np.corrcoef(elevation, tilt)[0, 1]),
                "mean_sine": float(elevation.mean())}}


def map_checkpoint(net: str, ckpt: Path, folder: Path, count: int) -> dict:
    """DiffuseNet, its direct-albedo alternative or SpecularNet, each fed the true normals, SH
    and albedo they are trained with (no upstream error): albedo si-PSNR, or roughness/F0 MAE."""
    import torch

    from ..export import load_checkpoint

    model, config = load_checkpoint(net, ckpt)
    paths = held_out_paths(folder, count)
    scores: dict[str, list] = {}
    for path in paths:
        *inputs, target, mask = next(data.map_batches(
            "albedo" if net == "diffuse" else net, [path], 1, 256, seed=0, aug=data.NO_AUG))
        with torch.no_grad():
            pred = model(*map(torch.from_numpy, inputs))[0].numpy().transpose(1, 2, 0)
        target, mask = target[0].transpose(1, 2, 0), mask[0] > 0
        if net == "specular":
            for channel, metric in enumerate((keys.ROUGHNESS_MAE, keys.F0_MAE)):
                scores.setdefault(metric.key, []).append(
                    float(np.abs(pred[..., channel] - target[..., channel])[mask].mean()))
            continue
        if net == "diffuse":
            from inference.pipeline import albedo_from_diffuse

            pred = albedo_from_diffuse(pred, inputs[1][0].transpose(1, 2, 0))
        scores.setdefault(keys.ALBEDO_SI_PSNR.key, []).append(
            metrics.scale_invariant_psnr(pred, target, mask, peak=1.0))
    return {"metric": f"{net}_checkpoint_synthetic", "inputs": "true normal/SH/albedo",
            "data": str(folder), "samples": len(paths), "checkpoint": str(ckpt),
            "steps": config.get("step"),
            **{key: float(np.mean(values)) for key, values in scores.items()}}


def _sphere_irradiance(*shs) -> list[np.ndarray]:
    """The irradiance each SH set gives over 2,048 normals spread evenly on the sphere."""
    directions = lighting._fibonacci_directions(2048)
    return [lighting.sh_irradiance(np.asarray(sh, np.float32).reshape(9, 3), directions)
            for sh in shs]


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

    registry = models.Registry(models_dir) if models_dir else models.default_registry()
    opts = pipeline.DecomposeOptions(**{**(options or {}), "registry": registry,
                                        "max_side": 256})
    refiner = registry.status().get(pipeline.REFINER) == "ok"
    errors, cosines, rows, levels = [], [], {}, {}
    paths = held_out_paths(folder, count)

    def add(key, value):
        rows.setdefault(key, []).append(float(value))

    for path in paths:
        sample = data.load_sample(path)
        passes = pipeline.decompose(sample["rgb"], opts)
        mask = sample["alpha"] > 0.5
        error, cosine = angles(passes.normal, sample["normal"], mask)
        errors.append(error), cosines.append(cosine)
        turn = metrics.global_rotation(passes.normal, sample["normal"], mask)
        for measure in keys.ROTATION:
            add(keys.rotation_key(measure), turn[measure.key])
        add(keys.ALBEDO_SI_PSNR.key, metrics.scale_invariant_psnr(
            passes.albedo, sample["albedo"], mask, peak=1.0))
        add(keys.ROUGHNESS_MAE.key, np.abs(passes.roughness - sample["roughness"])[mask].mean())
        add(keys.F0_MAE.key, np.abs(passes.reflectivity - sample["reflectivity"])[mask].mean())
        add(keys.SH_ERROR.key, sh_relative_error(passes.sh, sample["sh"]))
        levels.setdefault("sh", []).append(sh_level_log2(passes.sh, sample["sh"]))
        matte = passes.alpha > 0.5
        add(keys.MATTE_IOU.key, (matte & mask).sum() / max((matte | mask).sum(), 1))
        inside = sample["alpha"] > 0.99
        meta = scene_light.meta_of(sample)
        position = scene_light.positions(meta, sample["depth"])
        predicted = predicted_passes(passes, sample["rgb"])
        for label, relit_passes in (("predicted", predicted), ("true", true_passes(sample))):
            # under lighting B's SH, and under its own HDRI and lights ("scene_")
            for light, relit in (
                    ("", render.cook_torrance(relit_passes, render.ShLight(sample["sh_b"]))),
                    ("scene_", scene_light.render_under_own_lighting(relit_passes, meta,
                                                                     position))):
                add(keys.relight_key(light, "ct", label, keys.PSNR),
                    metrics.psnr(relit.rgb, sample["rgb_b"], inside))
                add(keys.relight_key(light, "ct", label, keys.SSIM),
                    metrics.ssim(relit.rgb, sample["rgb_b"], inside))
                edges = light == "scene_" and label == "predicted"
                if edges:
                    add(keys.relight_key(light, "ct", label, keys.EDGE_PSNR),
                        edge_psnr(relit.rgb, passes.alpha, sample["rgb_b"], sample["alpha"]))
                if refiner:
                    refined = pipeline.refine(relit_passes, relit, opts)
                    add(keys.relight_key(light, "rendernet", label, keys.PSNR),
                        metrics.psnr(refined, sample["rgb_b"], inside))
                    add(keys.relight_key(light, "rendernet", label, keys.SSIM),
                        metrics.ssim(refined, sample["rgb_b"], inside))
                    if edges:
                        add(keys.relight_key(light, "rendernet", label, keys.EDGE_PSNR),
                            edge_psnr(refined, passes.alpha, sample["rgb_b"], sample["alpha"]))
        diagnostics, level = albedo_diagnostics(passes, sample, mask)
        levels.setdefault("albedo", []).append(-np.log2(max(level, 1e-6)))
        for label, relit_passes in diagnostics.items():
            relit = render.cook_torrance(relit_passes, render.ShLight(sample["sh_b"]))
            add(keys.relight_key("", "ct", f"predicted_{label}", keys.PSNR),
                metrics.psnr(relit.rgb, sample["rgb_b"], inside))
    return {"metric": "chain_synthetic", "data": str(folder), "samples": len(paths),
            "models": {name: registry.spec(name).version for name in registry.names()},
            "normals": pooled(errors, cosines),
            **{keys.level_key(what): {keys.LEVEL_MEDIAN.key: float(np.median(stops)),
                                      keys.LEVEL_MEAN_ABS.key: float(np.mean(np.abs(stops)))}
               for what, stops in levels.items()},
            **{key: float(np.mean(values)) for key, values in rows.items()}}


def albedo_diagnostics(passes: Passes, sample: dict, mask: np.ndarray
                       ) -> tuple[dict[str, Passes], float]:
    """The predicted passes with the albedo brought to the truth's overall level (one grey
    factor, least squares inside the matte: an oracle), and with the true albedo. They split the
    relight error into the albedo's level, which one photo leaves ambiguous with the light's
    intensity, its pattern, and everything else."""
    pred = predicted_passes(passes, passes.rgb)
    predicted, true = passes.albedo[mask], sample["albedo"][mask]
    level = float((predicted * true).sum() / max(float((predicted * predicted).sum()), 1e-12))
    return ({"albedo_level_oracle": replace(pred,
                                            albedo=np.clip(passes.albedo * level, 0.0, 1.0)),
             "true_albedo": replace(pred, albedo=sample["albedo"])}, level)


def edge_psnr(relit: np.ndarray, alpha: np.ndarray, frame: np.ndarray, true_alpha: np.ndarray,
              width: int = keys.EDGE_BAND) -> float:
    """How a premultiplied relight looks at the subject's edge, as a compositor sees it: put
    over the Cycles frame's own background (``frame`` where the true matte is clear, carried
    under the subject from the nearest clear pixel) with its matte ``alpha``, against
    ``frame``, in the band of ``width`` pixels either side of the true outline (pixels the
    true matte covers partly left out: their mixture is not known). A fringe of background
    colour, a halo or a matte that strays beyond the subject all cost here; the inside does
    not."""
    solid = (true_alpha > 0.5).astype(np.uint8)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    band = cv2.dilate(solid, disk).astype(bool) & ~cv2.erode(solid, disk).astype(bool)
    clear = true_alpha < 0.01
    band &= clear | (true_alpha > 0.99)
    background = np.dstack([integrate.extend_outside(frame[..., c], clear) for c in range(3)])
    composite = relit + (1.0 - alpha[..., None]) * background
    return metrics.psnr(composite, frame, band)


def predicted_passes(passes: Passes, rgb: np.ndarray) -> Passes:
    """The predicted passes that the Cook-Torrance relight reads, over the source ``rgb``."""
    return Passes(rgb=rgb, **{name: getattr(passes, name) for name in RELIGHT_PASSES})


def true_passes(sample: dict) -> Passes:
    """A sample's ground-truth passes that the Cook-Torrance relight reads."""
    return Passes(rgb=sample["rgb"], **{name: sample[name] for name in RELIGHT_PASSES})
