"""The evaluation's metric keys: one table of what each number is called in
``models/evaluation.json`` and on the model card, its unit and its format.

The measurements write their results under these keys and the model-card writer reads and
formats them from here, so a key is spelt once.
"""
from __future__ import annotations

from dataclasses import dataclass

from inference.metrics import ANGLE_THRESHOLDS


@dataclass(frozen=True)
class Metric:
    key: str            # the JSON key
    name: str           # the model card's words for it
    unit: str = ""      # what follows the number on the card
    spec: str = ".2f"   # its format
    target: str = ""    # the project's target, as the card states it

    def show(self, value) -> str:
        """The value as the card writes it ("n/a" where it was not measured)."""
        return ("n/a" if value is None else format(value, self.spec)) + self.unit


# pooled angular error of a normal map (``normals`` and the checkpoint rows)
MEAN_DEG = Metric("mean_deg", "mean", "°")
MEDIAN_DEG = Metric("median_deg", "median", "°")
WITHIN = tuple(Metric("within_" + f"{degrees:g}".replace(".", "_"), f"≤{degrees:g}°", "%", ".1f")
               for degrees in ANGLE_THRESHOLDS)
"""The share of pixels within each of ``ANGLE_THRESHOLDS`` degrees, in percent."""
MEAN_COS = Metric("mean_cos", "cos", spec=".3f")
MEAN_DY = Metric("mean_dy", "mean Y of estimate − reference", spec="+.3f")
PIXELS = Metric("pixels", "pixels", spec="d")
ROTATION_DEG = Metric("rotation_deg", "the one rotation that best turns the estimate onto the "
                      "reference (a head pose read wrong)", "°")
MEAN_DEG_ROTATED = Metric("mean_deg_rotated", "mean error left once turned by it (the shape's "
                          "own error)", "°")
ROTATION = (ROTATION_DEG, MEAN_DEG_ROTATED)
"""``inference.metrics.global_rotation``'s split of a normal map's error, per image."""

# the chain's other passes
ALBEDO_SI_PSNR = Metric("albedo_si_psnr_db", "albedo si-PSNR", " dB", target="≥ 28 dB")
ROUGHNESS_MAE = Metric("roughness_mae", "roughness MAE", spec=".3f", target="≤ 0.08")
F0_MAE = Metric("f0_mae", "F0 MAE", spec=".4f", target="≤ 0.01")
SH_ERROR = Metric("sh_relative_irradiance_error", "SH relative irradiance error", spec=".3f")
MATTE_IOU = Metric("matte_iou", "matte IoU (MediaPipe selfie matte)", spec=".3f")
CHAIN_PASSES = (ALBEDO_SI_PSNR, ROUGHNESS_MAE, F0_MAE, SH_ERROR, MATTE_IOU)
"""The chain's rows of one number each, in the card's order."""

# a relit image against the Cycles render
PSNR = Metric("psnr_db", "PSNR", " dB")
SSIM = Metric("ssim", "SSIM", spec=".3f")
EDGE_PSNR = Metric("edge_psnr_db", "edge PSNR", " dB")
"""A relit image composited over lighting B's background, against the Cycles frame, in the
band around the subject's true outline (``synthetic.edge_psnr``): fringes and halos."""
EDGE_BAND = 6
"""The edge band's half width in pixels, at the factory's 256²."""

# a level in stops (``*_level_log2``)
LEVEL_MEDIAN = Metric("median", "median", spec="+.2f")
LEVEL_MEAN_ABS = Metric("mean_abs", "mean of its size", spec=".2f")

RELIGHT_LIGHTS = {"": "SH", "scene_": "own HDRI and lights"}
"""The lighting B the chain relights under, by key part: its SH, or its HDRI and lights."""
RENDERERS = {"ct": "Cook-Torrance", "rendernet": "RenderNet"}
"""Who renders the relit image, by key part."""


def relight_key(light: str, renderer: str, passes: str, measure: Metric) -> str:
    """``relight_{light}{renderer}_{passes}_{measure}``: e.g. ``relight_scene_ct_true_ssim``,
    Cook-Torrance from the true passes under lighting B's own HDRI and lights, its SSIM."""
    if light not in RELIGHT_LIGHTS or renderer not in RENDERERS:
        raise KeyError(f"no relight key for light {light!r}, renderer {renderer!r}")
    return f"relight_{light}{renderer}_{passes}_{measure.key}"


def rotation_key(measure: Metric) -> str:
    """The chain's key for one of ``ROTATION``, averaged over the samples:
    ``normals_rotation_deg`` or ``normals_mean_deg_rotated``."""
    return f"normals_{measure.key}"


def level_key(what: str) -> str:
    """``sh_level_log2`` or ``albedo_level_log2``: how many stops brighter than the truth."""
    return f"{what}_level_log2"


CHECKPOINTS = ("normal", "normal_nolm", "diffuse", "albedo", "specular")
"""The training checkpoints the report scores (``~/.cache/relit/ckpt/<name>/last.pt``)."""


def checkpoint_key(name: str) -> str:
    """The report's key for one of ``CHECKPOINTS``."""
    return f"checkpoint_{name}"
