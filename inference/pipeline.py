"""``decompose``: the patent chain from one image to Relit's passes.

matte → NormalNet → IllumNet (source SH) → diffuse shading → DiffuseNet → albedo →
SpecularNet (roughness, F0) → height (integrated normals).

The networks run at an internal resolution (``max_side`` on the long side), tiled when larger,
and their outputs are upsampled to the full image with a guided filter that follows the
full-resolution image's edges. Network inputs are assembled by channel name from the model's
manifest entry, so the contract between this file and ``training/`` is the list of names in
``FEATURES`` below.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping, Optional

import cv2
import numpy as np

from . import camera, face, images, integrate, lighting, shading_normals, vectors
from .errors import InputError, ModelNotInstalled
from .models import ModelSpec, Registry, TensorSpec, default_registry
from .passes import Passes
from .progress import CancelFn, ProgressFn, Steps, check_cancel
from .tiling import TileOptions, run_tiled

CHAIN = ("normal_net", "illum_net", "diffuse_net", "specular_net")
"""The networks ``decompose`` needs, in the order it runs them."""

FEATURES = {
    "rgb": ("R", "G", "B"),
    "landmarks": tuple(f"lm_{n}" for n in face.LANDMARK_CHANNELS),
    "prior": ("prior_x", "prior_y", "prior_z", "prior_mask"),
    # the prior's normals turned from MediaPipe's ray frame into camera space (camera.py)
    "prior_camera": ("prior_camera_x", "prior_camera_y", "prior_camera_z"),
    "alpha": ("alpha",),
    "normal": ("normal_x", "normal_y", "normal_z"),
    "shading": ("shading_r", "shading_g", "shading_b"),
    "albedo": ("albedo_r", "albedo_g", "albedo_b"),
    "diffuse": ("diffuse_r", "diffuse_g", "diffuse_b"),
    "specular": ("roughness", "reflectivity"),
    "render": ("render_r", "render_g", "render_b"),
    "refined": ("refined_r", "refined_g", "refined_b"),
}
"""Channel names a model's manifest may list as inputs or outputs."""
_WHOLE_GROUPS = {names: group for group, names in FEATURES.items()}

NORMALISATIONS = ("none", "srgb", "signed")
"""How an input is fed: as stored, sRGB-encoded (for colour), or mapped from [0,1] to [-1,1]."""

REFINE_STRENGTH = 0.5
"""The default share of RenderNet's correction (``refine``): chosen on the real-face protocol's
development subjects, where the whole correction falls under the Lambertian chain and half of it
rises above (MODEL_CARD.md); ``--refine-strength 1`` gives the net's whole answer."""

MIN_SIDE = 16
"""The smallest internal resolution the chain accepts (the nets' coarsest stride)."""

FRAME_TRIGGER = 0.6
FRAME_TARGET = 0.43
"""Face framing (``frame_padding``): the factory's portraits show the face at 0.27–0.59 of the
long side (Face Mesh's landmark-box size, median 0.43, on the development set); a face above
``FRAME_TRIGGER`` is outside what the nets saw, and is padded out to ``FRAME_TARGET``."""


@dataclass
class DecomposeOptions:
    max_side: int = 512              # internal network resolution (long side)
    tile: int = 1024                 # tiles when max_side is raised above it
    overlap: int = 64
    guide_radius: int = 2            # guided upsampling window radius, internal pixels
    guide_eps: float = 1e-3
    integrate_method: str = "poisson"
    # height is integrated at most at this size, then upsampled: it is a smooth relief for
    # displacement (the plate's grid has 256 quads on its long side, datablocks.plate) and for
    # shadows, while fine detail lives in the normal pass, so a larger integration changes the
    # relief little and costs far more (make bench times the height stage).
    height_max_side: int = 256
    use_face: bool = True
    # NormalNet also runs on the mirrored image and the two are averaged (the mirrored answer
    # flipped back, X negated): the net was trained with that flip, so the two answers differ
    # only by its errors, which averaging shrinks where they are independent.
    mirror_normals: bool = True
    # the diffuse reflection cannot be brighter than the photo: albedo × shading is kept at
    # most this many times the pixel (the shading comes from the estimated lighting, so the
    # bound leaves room for its error); 0 turns the bound off
    albedo_headroom: float = 2.0
    # a face that fills the frame (a tight crop) is framed as the nets were trained: the image
    # is padded with its own border colour so the face spans FRAME_TARGET of the long side, the
    # nets run on that, and their maps are cropped back (frame_padding)
    face_frame: bool = True
    # IllumNet's SH refitted to the photo over the face's skin (fit_face_lighting): the ridge
    # weight that holds the fit to IllumNet's answer; 0 keeps IllumNet's SH as it is. IllumNet
    # took Yale B's frontal flash for a light from above; the fit (1e-3, chosen on the synthetic
    # development set and Yale B01/B02) lifts the albedo's si-PSNR on both (MODEL_CARD.md)
    sh_fit: float = 1e-3
    # the albedo's low frequencies over the skin brought to what the photo and the shading say
    # (consistent_albedo): the blur's sigma as a fraction of the face size; 0 turns it off
    albedo_consistency: float = 0.05
    # the albedo's fine detail (pores, stubble, freckles, brow hairs: finer than this fraction of
    # the face size) taken from the photo (detail_albedo): the albedo nets, which learnt the
    # factory's skin, paint a real face smooth; 0 turns it off
    albedo_detail: float = 0.025
    # NormalNet's normals corrected by the photo's shading over the skin under the fitted
    # lighting (shading_normals.correct; needs sh_fit), the change blurred by this fraction of
    # the face size; 0 turns it off. On real faces NormalNet leans toward the face-mesh prior
    # where the factory taught it to; the photo's shading pulls it back (MODEL_CARD.md)
    shading_normals: float = 0.05
    # how much of RenderNet's correction refine() applies: 1 is the net's whole answer. Real
    # faces are not the factory's, and the whole answer overshoots on them (MODEL_CARD.md)
    refine_strength: float = REFINE_STRENGTH
    # set the diffuse shading and diffuse passes (shade_diffuse) from the chain's normals and
    # lighting; a stabilised sequence leaves them to stabilise_frame, which shades the blended
    # passes (shading them here too would be thrown away)
    shade: bool = True
    # the photo's focal length, in millimetres on a 36 mm sensor fitted to the long side (as
    # Blender's camera), for a NormalNet that reads the camera-space prior (reads_camera_prior):
    # where the face lies off the optical axis, it turns the face prior from MediaPipe's ray
    # frame into camera space (camera.prior_to_camera)
    focal_mm: float = camera.DEFAULT_FOCAL_MM
    face_options: Mapping = field(default_factory=dict)
    registry: Optional[Registry] = None

    def __post_init__(self):
        if not (isinstance(self.max_side, (int, np.integer)) and self.max_side >= MIN_SIDE):
            raise InputError(f"max_side must be a whole number of pixels ≥ {MIN_SIDE}, "
                             f"got {self.max_side!r}")
        if not MIN_SIDE <= self.height_max_side:
            raise InputError(f"height_max_side must be ≥ {MIN_SIDE}, got {self.height_max_side}")
        if not 0 <= 2 * self.overlap < self.tile:
            raise InputError(f"tile {self.tile} must exceed twice the overlap {self.overlap}")
        if self.guide_radius < 0 or self.guide_eps <= 0 or self.albedo_headroom < 0:
            raise InputError("guide_radius and albedo_headroom must be ≥ 0, guide_eps > 0")
        if self.shading_normals < 0 or not 0 <= self.refine_strength <= 1:
            raise InputError(f"shading_normals must be ≥ 0 and refine_strength in [0, 1], got "
                             f"{self.shading_normals!r} and {self.refine_strength!r}")
        if not (isinstance(self.focal_mm, (int, float)) and 0 < self.focal_mm < 1e5):
            raise InputError(f"focal_mm must be a focal length in millimetres > 0, "
                             f"got {self.focal_mm!r}")

    @classmethod
    def from_any(cls, options) -> "DecomposeOptions":
        if options is None:
            return cls()
        if isinstance(options, cls):
            return options
        try:
            return replace(cls(), **dict(options))
        except TypeError as exc:  # an unknown option
            raise InputError(f"decompose options: {exc}") from None


def decompose(image: np.ndarray, options=None, progress: ProgressFn | None = None,
              cancel: CancelFn | None = None) -> Passes:
    """Run the full chain on a linear H×W×C image; returns full-resolution ``Passes``.

    Raises ``ModelNotInstalled`` naming the first network that is missing, before any work.
    """
    opts = DecomposeOptions.from_any(options)
    reg = opts.registry or default_registry()
    reg.require(CHAIN)
    rgb, alpha_in = images.split_alpha(_check_image(image))
    steps = Steps(progress, {"face": 1, "normal": 3, "lighting": 1, "diffuse": 3,
                             "specular": 2, "upsample": 1, "height": 2}, cancel)
    net = _Runner(reg, opts, cancel)
    feats = _normal_features(net, rgb, alpha_in, steps)
    normal = feats["normal"]
    small = feats["rgb"]
    steps.stage("lighting")
    sh = net.global_output("illum_net", feats).reshape(9, 3)
    skin = skin_weights(feats)
    if opts.sh_fit > 0:
        sh = fit_face_lighting(small, normal, skin, sh, opts.sh_fit)
        if opts.shading_normals > 0 and feats["face_size"] > 0:
            normal = feats["normal"] = shading_normals.correct(
                normal, small, sh, skin, opts.shading_normals * feats["face_size"])
            # the lighting again, on the corrected normals
            sh = fit_face_lighting(small, normal, skin, sh, opts.sh_fit)
    monochrome = is_monochrome(small)
    if monochrome:
        sh = greyed(sh)
    shading = lighting_shading(normal, sh)
    feats["shading"] = shading
    trust = shading_trust(shading, skin)  # where photo / shading says something
    diffuse = np.maximum(net("diffuse_net", feats, steps.stage("diffuse")), 0.0)
    if tuple(reg.spec("diffuse_net").outputs[0].channels) == FEATURES["albedo"]:
        feats["albedo"] = np.clip(diffuse, 0.0, 1.0)  # a net that predicts albedo directly
    else:
        feats["albedo"] = albedo_from_diffuse(diffuse, shading)
    if opts.albedo_consistency > 0 and feats["face_size"] > 0:
        feats["albedo"] = consistent_albedo(feats["albedo"], small, shading, skin,
                                            opts.albedo_consistency * feats["face_size"], trust)
    if opts.albedo_detail > 0 and feats["face_size"] > 0:
        feats["albedo"] = detail_albedo(feats["albedo"], small, shading, feats["alpha"],
                                        opts.albedo_detail * feats["face_size"])
    if opts.albedo_headroom > 0:
        feats["albedo"] = bound_albedo(feats["albedo"], small, shading, opts.albedo_headroom,
                                       trust)
    if monochrome:
        feats["albedo"] = greyed(feats["albedo"])
    spec = net("specular_net", feats, steps.stage("specular"))

    up = steps.stage("upsample")
    # every map through the guide at once: alpha, normal xyz, albedo rgb, roughness, F0
    stack = unframe(np.dstack([feats["alpha"], normal, feats["albedo"], spec[..., :2]]),
                    feats["frame"])
    small = unframe(small, feats["frame"])
    planes = _Guide(rgb, opts).planes(stack)  # full-resolution maps, one plane each
    for i in (0, 4, 5, 6, 7, 8):
        np.clip(planes[i], 0.0, 1.0, out=planes[i])
    passes = Passes(
        rgb=rgb, alpha=planes[0], normal=vectors.unit_planes(*planes[1:4]),
        albedo=cv2.merge(planes[4:7]), roughness=planes[7], reflectivity=planes[8], sh=sh,
        meta={"models": {n: reg.spec(n).version for n in CHAIN},
              "internal_size": list(small.shape[:2]), "mirror_normals": opts.mirror_normals,
              "albedo_detail": opts.albedo_detail, "shading_normals": opts.shading_normals,
              "face_turn": feats.get("face_turn", 0), "monochrome": monochrome,
              "warnings": feats.get("warnings", [])})
    up(1.0)
    if opts.shade:
        shade_diffuse(passes)
    passes.height = integrate_height(passes.normal, passes.alpha, opts.integrate_method,
                                     opts.height_max_side, steps.stage("height"), cancel)
    steps.done()
    return passes.validate()


def estimate_normals(image: np.ndarray, options=None, progress: ProgressFn | None = None,
                     cancel: CancelFn | None = None) -> dict:
    """The chain's first step alone (face features, then NormalNet) at internal resolution:
    ``{"rgb", "normal", "alpha", "landmarks", "prior", "warnings"}``. For evaluation and for
    tools that want NormalNet's normals only: ``decompose``'s normal pass also has the
    shading's correction (``shading_normals``), which needs the lighting."""
    opts = DecomposeOptions.from_any(options)
    reg = opts.registry or default_registry()
    reg.require(CHAIN[:1])
    rgb, alpha_in = images.split_alpha(_check_image(image))
    steps = Steps(progress, {"face": 1, "normal": 3}, cancel)
    feats = _normal_features(_Runner(reg, opts, cancel), rgb, alpha_in, steps)
    steps.done()
    frame = feats["frame"]
    out = {k: unframe(v, frame) if isinstance(v, np.ndarray) and v.ndim >= 2 else v
           for k, v in feats.items()}
    out["normal"] = vectors.unit(out["normal"])
    return out


def _normal_features(net: "_Runner", rgb, alpha_in, steps: Steps) -> dict:
    small = shrink(rgb, net.opts.max_side)
    lens = (camera.Pinhole.of_image(small.shape[:2], net.opts.focal_mm)
            if reads_camera_prior(net.reg) else None)
    face_step = steps.stage("face")
    feats = _face_features(small, alpha_in, net.opts, lens,
                           lambda f, m="face": face_step(0.5 * f, m), net.cancel)
    frame = (0, small.shape[:2], small.shape[:2])
    pad = frame_padding(feats["face_size"], small.shape[:2]) if net.opts.face_frame else 0
    if pad:
        alpha_small = None if alpha_in is None else images.resize(alpha_in[..., None],
                                                                  small.shape[:2])[..., 0]
        padded = pad_frame(small, pad)
        run = shrink(padded, net.opts.max_side)
        frame = (pad, small.shape[:2], run.shape[:2])
        alpha_run = None if alpha_small is None else images.resize(
            pad_frame(alpha_small[..., None], pad, 0.0), run.shape[:2])[..., 0]
        lens = lens and lens.padded(pad).scaled(run.shape[1] / padded.shape[1])
        feats = _face_features(run, alpha_run, net.opts, lens,
                               lambda f, m="face": face_step(0.5 + 0.5 * f, m), net.cancel)
        small = run
    feats["frame"] = frame
    feats["rgb"] = small
    progress = steps.stage("normal")
    if not net.opts.mirror_normals:
        feats["normal"] = vectors.unit(net("normal_net", feats, progress))
        return feats
    normal = net("normal_net", feats, lambda f, m="normal": progress(0.5 * f, m))
    mirrored = net("normal_net", mirror_features(feats),
                   lambda f, m="normal": progress(0.5 + 0.5 * f, m))
    feats["normal"] = vectors.unit(normal + mirror_features({"normal": mirrored})["normal"])
    return feats


def mirror_features(feats: Mapping) -> dict:
    """Features of the left-right mirrored image: every plane flipped, and the X of the normals
    (``prior`` and ``normal``) negated. The landmark channels are symmetric (both eyes, both
    brows), so they only flip. Applying it twice gives the features back."""
    out = {}
    for key, value in feats.items():
        if not isinstance(value, np.ndarray) or value.ndim < 2:
            out[key] = value
            continue
        value = value[:, ::-1].copy()
        if key in ("prior", "prior_camera", "normal"):
            value[..., 0] *= -1.0
        out[key] = value
    return out


REFINER = "render_net"


def require_refiner(registry: Optional[Registry] = None) -> None:
    """Raise ``ModelNotInstalled`` unless RenderNet can be used."""
    (registry or default_registry()).require([REFINER])


def refine(passes: Passes, relit, options=None, progress: ProgressFn | None = None,
           cancel: CancelFn | None = None) -> np.ndarray:
    """RenderNet: the Cook-Torrance render plus passes and source RGB → refined relit RGB.

    ``relit`` is a ``render.RelitImage``, or a premultiplied H×W×4 render (a Cycles frame:
    its alpha is its coverage) or H×W×3 one (premultiplied by the passes' matte). Runs at
    internal resolution and adds the network's correction back onto the full-resolution render
    through the guide. Returns premultiplied linear RGB with the render's coverage: the net
    learns the Cycles frame inside the matte, straight colour, so its correction is taken
    against the straight render and premultiplied by the coverage, and where the matte is soft
    it fades out (``refine_trust``).
    """
    opts = DecomposeOptions.from_any(options)
    reg = opts.registry or default_registry()
    reg.require([REFINER])
    rendered = np.asarray(getattr(relit, "rgb", relit), np.float32)
    coverage = getattr(relit, "alpha", None)
    if coverage is None:
        coverage = rendered[..., 3] if rendered.shape[-1] == 4 else passes.alpha
    coverage = np.asarray(coverage, np.float32)
    rendered = rendered[..., :3]
    if passes.albedo is None:
        raise InputError("RenderNet needs an albedo pass")
    if rendered.shape[:2] != passes.shape:
        raise InputError(f"render is {rendered.shape[:2]}, passes are {passes.shape}")
    full = {"rgb": passes.rgb, "normal": passes.normal, "albedo": passes.albedo,
            "alpha": passes.alpha, "render": rendered,
            "specular": np.dstack([_or(passes.roughness, 0.5, passes.shape),
                                   _or(passes.reflectivity, 0.04, passes.shape)])}
    small = {k: shrink(v if v.ndim == 3 else v[..., None], opts.max_side)
             for k, v in full.items() if v is not None}
    out = _Runner(reg, opts, cancel)(REFINER, small, progress or (lambda f, m: None))
    covered = shrink(coverage[..., None], opts.max_side)
    trust = refine_trust(small["alpha"][..., 0])[..., None] * (covered > 1e-3)
    straight = np.divide(small["render"], covered, out=np.zeros_like(small["render"]),
                         where=trust > 0)
    if is_monochrome(small["rgb"]):
        out = colourless_change(straight, out)
    correction = _Guide(passes.rgb, opts)(opts.refine_strength * trust * (out - straight))
    return np.maximum(rendered + coverage[..., None] * correction, 0.0)


def colourless_change(render: np.ndarray, refined: np.ndarray, eps: float = 1e-4
                      ) -> np.ndarray:
    """``refined`` with the colour of its change taken out: ``render`` times the ratio of their
    luminances (where the render is black, the refined luminance, grey). For a black-and-white
    subject, whose every colour in the render is the light's: RenderNet may change how bright
    it is, not invent a colour for it."""
    lum = np.asarray(images.REC709_LUMA, np.float32)
    before, after = render @ lum, np.maximum(refined, 0.0) @ lum
    lit = before > eps
    factor = np.divide(after, before, out=np.zeros_like(after), where=lit)[..., None]
    return np.where(lit[..., None], render * factor, greyed(np.maximum(refined, 0.0)))


REFINE_MATTE = 0.5
"""RenderNet learnt the pixels whose true matte exceeds this (training.nets.render_losses);
elsewhere its output was never asked for anything."""


def refine_trust(alpha: np.ndarray) -> np.ndarray:
    """How much of RenderNet's correction a pixel takes, by its matte: none at or below
    ``REFINE_MATTE``, where the net's answer is untrained (around a soft matte it paints a
    bright halo), all of it at 1, linear between; the rest stays the Cook-Torrance render."""
    return np.clip((alpha - REFINE_MATTE) / (1.0 - REFINE_MATTE), 0.0, 1.0).astype(np.float32)


def _or(value, default: float, shape) -> np.ndarray:
    return np.full(shape, default, np.float32) if value is None else value


# ---------------------------------------------------------------- physics shared with training

def lighting_shading(normal: np.ndarray, sh: np.ndarray) -> np.ndarray:
    """Diffuse shading E(n)/π from SH of incident radiance: diffuse render = albedo × shading."""
    shading = lighting.sh_irradiance(np.asarray(sh, np.float64) / np.pi, normal)
    return np.maximum(shading, 0.0, out=shading)


def shade_diffuse(passes: Passes) -> None:
    """Set ``diffuse_shading`` (E(n)/π under the passes' SH lighting) and ``diffuse`` (albedo ×
    shading) from the normals, albedo and lighting, where those are there."""
    if passes.sh is None or passes.normal is None:
        return
    passes.diffuse_shading = lighting_shading(passes.normal, passes.sh)
    if passes.albedo is not None:
        passes.diffuse = passes.albedo * passes.diffuse_shading


def skin_weights(feats: Mapping) -> np.ndarray:
    """Where one albedo can be assumed (H×W in [0, 1]): the face mesh's area inside the matte,
    less the eyes, brows and lips, and less clipped pixels."""
    lm = feats["landmarks"]
    names = face.LANDMARK_CHANNELS
    parts = np.max(lm[..., [names.index(n) for n in ("eyes", "brows", "lips")]], axis=-1)
    weight = feats["prior"][..., 3] * np.clip(feats["alpha"], 0.0, 1.0) * (1.0 - parts)
    return (weight * (feats["rgb"].max(axis=-1) < 0.98)).astype(np.float32)


def fit_face_lighting(rgb: np.ndarray, normal: np.ndarray, weight: np.ndarray,
                      sh_prior: np.ndarray, ridge: float, min_pixels: int = 200) -> np.ndarray:
    """SH lighting (9×3) refitted to the photo over pixels of one albedo (``weight``).

    Model: rgb = ρ·E(n)/π with ρ constant per channel over the skin, so ρ·SH is linear in the
    pixels: a weighted least-squares fit, pulled toward IllumNet's ``sh_prior`` (brought to the
    photo's level) by ``ridge`` × the total weight per coefficient, with a second pass that
    leaves out the worst-fitting tenth (cast shadows, highlights). The fit fixes the light's
    shape; its overall level and colour stay IllumNet's (the photo alone cannot tell albedo
    from light level), so the mean skin shading is the prior's. Too few skin pixels: the prior.
    """
    prior = np.asarray(sh_prior, np.float64)
    keep = weight.reshape(-1) > 0.5
    if keep.sum() < min_pixels:
        return sh_prior
    n = normal.reshape(-1, 3)[keep]
    w = weight.reshape(-1)[keep].astype(np.float64)
    y = rgb.reshape(-1, 3)[keep].astype(np.float64)
    basis = lighting.sh_basis(n) * (lighting.COSINE_LOBE[lighting.SH_BAND] / np.pi)
    prior_shading = basis @ prior  # (P, 3)
    out = np.empty_like(prior)
    for c in range(3):
        good = np.ones(len(y), bool)
        for _ in range(2):
            ww = w * good
            scale = (ww @ (prior_shading[:, c] * y[:, c])) / max(ww @ prior_shading[:, c] ** 2,
                                                                  1e-12)
            lam = ridge * ww.sum()
            a = (basis * ww[:, None]).T @ basis + lam * np.eye(9)
            b = (basis * ww[:, None]).T @ y[:, c] + lam * scale * prior[:, c]
            m = np.linalg.solve(a, b)
            resid = np.abs(basis @ m - y[:, c])
            good = resid <= np.quantile(resid[good], 0.9)
        fitted = basis @ m
        level = (w @ prior_shading[:, c]) / max(w @ fitted, 1e-12)
        out[:, c] = m * level if level > 0 else prior[:, c]
    return out.astype(np.float32)


def _skin_mean(x: np.ndarray, skin: np.ndarray) -> np.ndarray:
    w = skin.reshape(-1)
    return (x.reshape(-1, x.shape[-1]) * w[:, None]).sum(axis=0) / max(float(w.sum()), 1e-6)


def consistent_albedo(albedo: np.ndarray, rgb: np.ndarray, shading: np.ndarray,
                      skin: np.ndarray, sigma: float, trust: Optional[np.ndarray] = None
                      ) -> np.ndarray:
    """The albedo net's answer with its low frequencies over the skin taken from the photo:
    albedo × shading must give back the photo, so the ratio of the two albedos — photo / shading
    against the net's — blurred by ``sigma`` pixels over the skin (``skin_weights``) where the
    shading holds (``trust``; None: ``shading_trust`` over the skin) multiplies the net's
    albedo, fading out away from there. The ratio is brought to a mean of 1 over that skin, so
    the face keeps the net's level and colour against the rest of the image. The net keeps the
    detail (and what it removes: highlights, cast shadows); the photo fixes the smooth shading
    the net left in, or took out, on faces unlike the factory's."""
    if sigma < 0.5 or not (skin > 0.5).any():
        return albedo
    division = np.minimum(rgb / np.maximum(shading, 1e-4), 2.0)
    if trust is None:
        trust = shading_trust(shading, skin)
    weight = (skin * trust).astype(np.float32)  # only skin where the shading holds says anything
    ratio = (images.weighted_blur(division, weight, sigma)
             / np.maximum(images.weighted_blur(albedo, weight, sigma), 1e-4))
    # the shape only: the face keeps the net's level and colour against the rest of the image
    ratio /= np.maximum(_skin_mean(ratio, weight), 1e-4)
    reach = np.clip(cv2.GaussianBlur(weight, (0, 0), sigma) / 0.5, 0.0, 1.0)[..., None]
    return np.clip(albedo * (1.0 + reach * (ratio - 1.0)), 0.0, 1.0).astype(np.float32)


SHADING_TRUST = 0.25
"""Photo / shading is trusted where the shading reaches this share of its level over the
skin (``shading_trust``)."""


def shading_trust(shading: np.ndarray, where: np.ndarray) -> np.ndarray:
    """How far photo / shading can be trusted per pixel (H×W in [0, 1]): where the estimated
    shading falls toward 0 (a normal the fitted light does not reach: under the chin, the
    nostrils), the photo still shows the fill and the bounce it misses, so the division grows
    without bound. 1 from ``SHADING_TRUST`` of the shading's level (its 75th percentile where
    ``where`` > 0.5) up, falling linearly to 0."""
    lum = images.luminance(np.asarray(shading, np.float32))
    inside = lum[np.asarray(where) > 0.5]
    level = float(np.percentile(inside, 75)) if inside.size else 0.0
    if level <= 0:
        return np.ones_like(lum)
    return np.clip(lum / (SHADING_TRUST * level), 0.0, 1.0).astype(np.float32)


def photo_refinements(photo_detail: bool = True, shading_normals: bool = True) -> dict:
    """The ``DecomposeOptions`` of the switches of the two steps that take from the photo what
    the nets miss (``--no-photo-detail`` / ``--no-shading-normals``, the add-on's Photo Detail
    and Shading Normals): nothing for a step that is on (its default scale), its scale 0 for
    one that is off."""
    return {**({} if photo_detail else {"albedo_detail": 0.0}),
            **({} if shading_normals else {"shading_normals": 0.0})}


DETAIL_RANGE = (0.7, 1.2)
"""How far the photo's detail may move the albedo (``detail_albedo``): down to ×0.7 for dark
detail, up to ×1.2 only, so the highlights and glints that the nets take out stay out."""


def detail_albedo(albedo: np.ndarray, rgb: np.ndarray, shading: np.ndarray,
                  alpha: np.ndarray, sigma: float) -> np.ndarray:
    """The albedo with its detail finer than ``sigma`` pixels taken from the photo.

    The detail is the luminance of photo / shading against its own blur, clipped to
    ``DETAIL_RANGE``; it multiplies the net's albedo blurred the same way, so the net keeps
    the colour and every band coarser than ``sigma`` (the smooth shading, which the nets and
    ``consistent_albedo`` answer for) and the photo gives the texture. The blurs are weighted by
    the matte, so the backdrop does not leak into the subject's edge, and the result fades back
    to the net's albedo outside the matte."""
    if sigma < 0.5:
        return albedo
    weight = np.clip(alpha, 0.0, 1.0).astype(np.float32)
    division = images.luminance(rgb) / np.maximum(images.luminance(shading), 1e-4)
    smooth = images.weighted_blur(division[..., None], weight, sigma)[..., 0]
    detail = np.clip(division / np.maximum(smooth, 1e-4), *DETAIL_RANGE)
    detailed = images.weighted_blur(albedo, weight, sigma) * detail[..., None]
    out = albedo + weight[..., None] * (detailed - albedo)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def bound_albedo(albedo: np.ndarray, rgb: np.ndarray, shading: np.ndarray, headroom: float,
                 trust: Optional[np.ndarray] = None, eps: float = 1e-3) -> np.ndarray:
    """``albedo`` limited to ``headroom`` × rgb / shading per channel: where a net paints a
    dark surface bright (a navy jacket turned light blue), albedo × shading would outshine the
    photo, which a diffuse surface cannot. Where the shading cannot be trusted (``trust``,
    H×W in [0, 1], ``shading_trust``) the bound fades out: there a channel the estimated light
    barely reaches would be cut against the others (a cyan patch under a chin)."""
    bounded = np.minimum(albedo, headroom * np.maximum(rgb, 0.0) / np.maximum(shading, eps))
    if trust is not None:
        bounded = albedo + trust[..., None] * (bounded - albedo)
    return bounded.astype(np.float32)


def albedo_from_diffuse(diffuse: np.ndarray, shading: np.ndarray, eps: float = 1e-3
                        ) -> np.ndarray:
    """The patent's way around albedo ambiguity: albedo = diffuse render / shading, clamped."""
    return np.clip(diffuse / np.maximum(shading, eps), 0.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------- steps

def integrate_height(normal: np.ndarray, alpha: np.ndarray, method: str = "poisson",
                     max_side: int = 1024, progress: ProgressFn | None = None,
                     cancel: CancelFn | None = None) -> np.ndarray:
    """Height from normals inside the matte. Height is in image widths, so it does not depend
    on resolution: large images are integrated at ``max_side`` and upsampled bicubically.

    Before upsampling, the small height is extended past its matte (``extend_outside``): its 0
    outside would otherwise blend into the edge pixels and raise a lip along the silhouette,
    which the displaced plate and the numpy march both cast as streaks across the lit side."""
    full = normal.shape[:2]
    small_n = vectors.unit(shrink(normal, max_side))
    small_a = shrink(alpha[..., None], max_side)[..., 0]
    height = integrate.integrate(small_n, small_a > 0.5, method=method, progress=progress,
                                 cancel=cancel)
    if height.shape == full:
        return height
    height = integrate.extend_outside(height, small_a > 0.5)
    up = cv2.resize(height, (full[1], full[0]), interpolation=cv2.INTER_CUBIC)
    return np.where(alpha > 0.5, up, 0.0).astype(np.float32)


MONOCHROME_SPREAD = 3.0 / 255.0
"""The largest spread between a pixel's sRGB-encoded channels (in 99.9% of the pixels) of a
photo that holds no colour: a grey file read as RGB, or a greyscale JPEG's rounding."""


def is_monochrome(rgb: np.ndarray) -> bool:
    """Whether a linear RGB photo is black and white: it then tells nothing of colour, and the
    chain keeps its albedo and lighting grey rather than invent the colours the nets learnt
    for skin (a relit black-and-white portrait stays black and white)."""
    step = max(1, max(rgb.shape[:2]) // 128)  # a sample: a colour photo has colour in many
    encoded = images.linear_to_srgb(np.clip(rgb[::step, ::step], 0.0, 1.0))
    spread = encoded.max(axis=-1) - encoded.min(axis=-1)
    return bool(np.quantile(spread, 0.999) <= MONOCHROME_SPREAD)


def greyed(colour: np.ndarray) -> np.ndarray:
    """Each RGB triple (the last axis: an albedo map's pixels, or the SH's 9 coefficients)
    replaced by its Rec. 709 luminance in every channel."""
    luma = colour @ np.asarray(images.REC709_LUMA, colour.dtype)
    return np.repeat(luma[..., None], 3, axis=-1).astype(colour.dtype)


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, np.float32)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 2, 3, 4) or min(image.shape[:2]) < 1:
        raise InputError(f"expected an H×W×C image, got shape {image.shape}")
    return images.sanitize_image(image, "input image")


def shrink(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """The image resized (area average) so that its long side is at most ``max_side``: the
    chain's internal resolution."""
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    return images.resize(rgb, (max(1, round(h * scale)), max(1, round(w * scale))))


def frame_padding(face_size: float, shape: tuple[int, int]) -> int:
    """Pixels of padding on every side that bring a face of ``face_size`` pixels in an image of
    ``shape`` down to ``FRAME_TARGET`` of the long side; 0 when it is at most
    ``FRAME_TRIGGER`` (or there is no face)."""
    long = max(shape)
    if not face_size or face_size <= FRAME_TRIGGER * long:
        return 0
    return int(np.ceil((face_size / FRAME_TARGET - long) / 2.0))


def pad_frame(image: np.ndarray, pad: int, value: Optional[float] = None) -> np.ndarray:
    """``image`` (H×W×C) padded by ``pad`` pixels on every side with a constant: ``value``, or
    the median colour of the image's own border (the backdrop it was shot against)."""
    if value is None:
        border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
        fill = np.median(border, axis=0).astype(np.float32)
    else:
        fill = np.full(image.shape[-1], value, np.float32)
    h, w, c = image.shape
    out = np.empty((h + 2 * pad, w + 2 * pad, c), np.float32)
    out[...] = fill
    out[pad:pad + h, pad:pad + w] = image
    return out


def unframe(image: np.ndarray, frame: tuple) -> np.ndarray:
    """A map the nets made on the framed image (``_normal_features``' ``frame``: padding,
    the unpadded internal size, the size the nets ran at) back on the unpadded image."""
    pad, (h, w), run = frame
    if not pad:
        return image
    flat = image.ndim == 2
    x = image[..., None] if flat else image
    if x.shape[:2] != (h + 2 * pad, w + 2 * pad):  # the nets ran shrunk: back to full size
        x = cv2.resize(x, (w + 2 * pad, h + 2 * pad), interpolation=cv2.INTER_LINEAR)
        x = x.reshape(h + 2 * pad, w + 2 * pad, -1)
    x = np.ascontiguousarray(x[pad:pad + h, pad:pad + w], np.float32)
    return x[..., 0] if flat else x


def reads_camera_prior(registry: Registry) -> bool:
    """Whether the installed NormalNet reads the camera-space prior (``prior_camera``), so the
    photo's focal length matters; one trained on MediaPipe's ray frame reads ``prior``."""
    wanted = set(FEATURES["prior_camera"])
    return any(wanted & set(t.channels) for t in registry.spec("normal_net").inputs)


def _face_features(small, alpha_in, opts, lens: Optional[camera.Pinhole], progress,
                   cancel) -> dict:
    """The face step's features; ``prior_camera`` too when ``lens`` is given."""
    shape = small.shape[:2]
    face_size, turn = 0.0, 0
    if opts.use_face:
        fa = face.analyse(small, opts.face_options, progress=progress, cancel=cancel)
        lm, prior, prior_mask, matte = (fa.landmark_channels, fa.prior_normal, fa.prior_mask,
                                        fa.matte)
        notes = list(fa.warnings)
        face_size = fa.landmarks.primary.size if fa.landmarks.primary is not None else 0.0
        turn = fa.turn
    else:
        lm = np.zeros((*shape, len(face.LANDMARK_CHANNELS)), np.float32)
        prior, prior_mask = np.zeros((*shape, 3), np.float32), np.zeros(shape, np.float32)
        matte, notes = np.ones(shape, np.float32), []
    if alpha_in is not None:  # an alpha channel in the file is the artist's matte
        matte = images.resize(alpha_in[..., None], shape)[..., 0]
    feats = {"landmarks": lm, "prior": np.dstack([prior, prior_mask]),
             "alpha": matte.astype(np.float32), "warnings": notes, "face_size": face_size,
             "face_turn": turn}
    if lens is not None:
        feats["prior_camera"] = camera.prior_to_camera(prior, prior_mask, lens)
    return feats


class _Runner:
    """Assembles a model's inputs by channel name and runs it tiled at internal resolution."""

    def __init__(self, registry: Registry, opts: DecomposeOptions, cancel):
        self.reg, self.opts, self.cancel = registry, opts, cancel
        self._whole: dict = {}  # (group, normalisation) → (the group's array, it normalised)

    def _stack(self, spec: ModelSpec, tensor: TensorSpec, feats: Mapping) -> np.ndarray:
        group = _WHOLE_GROUPS.get(tuple(tensor.channels))
        if group is not None and feats.get(group) is not None:
            # a tensor that is one whole group (the photo, fed to every net): normalised once
            value = feats[group] if feats[group].ndim == 3 else feats[group][..., None]
            key = (group, tensor.normalisation)
            cached = self._whole.get(key)
            if cached is None or cached[0] is not value:
                cached = self._whole[key] = (value, _normalise(spec, tensor, value))
            return cached[1]
        planes = {}
        for group, names in FEATURES.items():
            value = feats.get(group)
            if value is None:
                continue
            value = value if value.ndim == 3 else value[..., None]
            planes.update({n: (group, value[..., i]) for i, n in enumerate(names)})
        missing = [c for c in tensor.channels if c not in planes]
        if missing or not tensor.channels:
            raise ModelNotInstalled(spec.name, f"input '{tensor.name}' asks for unknown "
                                               f"channels {missing or '(none listed)'}")
        stacked = np.stack([planes[c][1] for c in tensor.channels], axis=-1)
        return _normalise(spec, tensor, stacked)

    def _inputs(self, name: str, feats: Mapping) -> tuple[ModelSpec, np.ndarray, list]:
        spec = self.reg.spec(name)
        arrays = [self._stack(spec, t, feats) for t in spec.inputs]
        splits = np.cumsum([a.shape[-1] for a in arrays])[:-1].tolist()
        return spec, np.concatenate(arrays, axis=-1), splits

    def __call__(self, name: str, feats: Mapping, progress) -> np.ndarray:
        spec, stacked, splits = self._inputs(name, feats)
        sess_inputs = [t.name for t in spec.inputs]

        def run(x: np.ndarray) -> np.ndarray:
            parts = np.split(x, splits, axis=1)
            return self.reg.run(name, dict(zip(sess_inputs, parts)))[spec.outputs[0].name]

        tiles = TileOptions(tile=self.opts.tile, overlap=self.opts.overlap,
                            stride=max(1, spec.stride))
        return run_tiled(run, stacked, tiles, progress=progress, cancel=self.cancel)

    def global_output(self, name: str, feats: Mapping) -> np.ndarray:
        """Run a model whose output is a vector (e.g. SH), on the whole internal image."""
        check_cancel(self.cancel)
        spec, stacked, splits = self._inputs(name, feats)
        from .tiling import pad_to_stride

        padded, _ = pad_to_stride(stacked, max(1, spec.stride))
        x = padded.transpose(2, 0, 1)[None]
        parts = np.split(x, splits, axis=1)
        out = self.reg.run(name, dict(zip([t.name for t in spec.inputs], parts)))
        return np.asarray(out[spec.outputs[0].name], np.float32).reshape(-1)


def _normalise(spec: ModelSpec, tensor: TensorSpec, x: np.ndarray) -> np.ndarray:
    mode = tensor.normalisation or "none"
    if mode == "none":
        return x
    if mode == "srgb":
        return images.linear_to_srgb(x)
    if mode == "signed":
        return x * 2.0 - 1.0
    raise ModelNotInstalled(spec.name, f"input '{tensor.name}' uses an unsupported "
                                       f"normalisation '{mode}' (known: {NORMALISATIONS})")


class _Guide:
    """Fast guided upsampling (He and Sun 2015) of internal-resolution passes.

    The guided filter's linear coefficients are fitted at the internal resolution, against the
    full image's luminance shrunk to that size, then upsampled and applied to the full-resolution
    luminance: edges come from the full image, and full-resolution work is two multiply-adds.
    At full resolution every map is one contiguous plane: interleaved many-channel images there
    cost more in memory traffic than the filter itself.
    """

    def __init__(self, rgb: np.ndarray, opts: DecomposeOptions):
        self.shape = rgb.shape[:2]
        self.guide = images.linear_to_srgb(images.luminance(rgb))
        self.radius = max(1, int(opts.guide_radius))
        self.eps = opts.guide_eps
        self._small: dict = {}

    def _guide_at(self, shape):
        if shape not in self._small:
            self._small[shape] = images.resize(self.guide[..., None], shape)[..., 0]
        return self._small[shape]

    def planes(self, x: np.ndarray) -> list[np.ndarray]:
        """Each channel of ``x`` (h×w×C, any C) upsampled to the full image, as H×W planes."""
        x = np.asarray(x, np.float32)
        x = x if x.ndim == 3 else x[..., None]
        if x.shape[:2] == self.shape:
            return [np.ascontiguousarray(x[..., i]) for i in range(x.shape[-1])]
        guide = self._guide_at(x.shape[:2])[..., None]
        box = _box_filter(self.radius)
        mean_i, mean_p = box(guide), box(x)
        var_i = box(guide * guide) - mean_i * mean_i
        a = (box(guide * x) - mean_i * mean_p) / (var_i + self.eps)
        b = mean_p - a * mean_i
        a, b = box(a), box(b)
        h, w = self.shape
        out = []
        for i in range(x.shape[-1]):
            up = cv2.resize(np.ascontiguousarray(a[..., i]), (w, h),
                            interpolation=cv2.INTER_LINEAR)
            up *= self.guide
            up += cv2.resize(np.ascontiguousarray(b[..., i]), (w, h),
                             interpolation=cv2.INTER_LINEAR)
            out.append(up)
        return out

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.dstack(self.planes(x))


def _box_filter(radius: int):
    size = (2 * radius + 1, 2 * radius + 1)

    def box(v: np.ndarray) -> np.ndarray:
        out = cv2.boxFilter(v, -1, size, borderType=cv2.BORDER_REFLECT)
        return out.reshape(v.shape)

    return box


