"""Every random choice of a sample, drawn from its seed. Pure numpy, no Blender, no files.

``sample_params(seed, split)`` returns a JSON-serialisable dict that fully describes one sample
(subject, materials, camera, background, lighting A and B, render settings). The renderer only
follows it, so the same seed gives the same sample. Each part draws from its own stream
(``stream(seed, name)``), so a change to one part's sampling leaves the others as they were.

Conventions: lengths in metres unless a key says ``_cm``; angles in degrees; colours linear RGB;
``f0`` is reflectance at normal incidence (Principled ``Specular IOR Level = f0 / 0.08`` at
IOR 1.5); roughness is Principled perceptual roughness.
"""
from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np

from . import colour

PARAMS_VERSION = 1
N_MODES = 80
ANCHOR_SEED = 20_240_303
SPLITS = {"train": tuple(range(0, 72)), "val": tuple(range(72, 80))}
HDRIS = ("city", "courtyard", "forest", "interior", "night", "studio", "sunrise", "sunset")

EXPRESSION_NAMES = (
    "browDown_L", "browDown_R", "browInnerUp_L", "browInnerUp_R", "browOuterUp_L",
    "browOuterUp_R", "cheekPuff_L", "cheekPuff_R", "cheekSquint_L", "cheekSquint_R",
    "eyeBlink_L", "eyeBlink_R", "eyeLookDown_L", "eyeLookDown_R", "eyeLookIn_L", "eyeLookIn_R",
    "eyeLookOut_L", "eyeLookOut_R", "eyeLookUp_L", "eyeLookUp_R", "eyeSquint_L", "eyeSquint_R",
    "eyeWide_L", "eyeWide_R", "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose",
    "mouthDimple_L", "mouthDimple_R", "mouthFrown_L", "mouthFrown_R", "mouthFunnel", "mouthLeft",
    "mouthLowerDown_L", "mouthLowerDown_R", "mouthPress_L", "mouthPress_R", "mouthPucker",
    "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthSmile_L", "mouthSmile_R", "mouthStretch_L", "mouthStretch_R", "mouthUpperUp_L",
    "mouthUpperUp_R", "noseSneer_L", "noseSneer_R")
# expressions drawn freely (gaze and blinks are drawn on their own); caps keep faces plausible
EXPRESSION_CAPS = {"jawOpen": 0.65, "mouthClose": 0.3, "cheekPuff": 0.6, "jawForward": 0.5,
                   "jawLeft": 0.5, "jawRight": 0.5, "mouthFunnel": 0.6, "mouthPucker": 0.7,
                   "eyeWide": 0.6, "eyeSquint": 0.6}

HAIR_STYLES = ("none", "buzz", "short", "medium", "long", "curly")
HAIR_STYLE_P = (0.10, 0.12, 0.30, 0.20, 0.20, 0.08)
# natural hair colours (linear albedo), darkest first; drawn along this line with jitter
HAIR_COLOURS = np.array([
    (0.012, 0.010, 0.009),   # black
    (0.030, 0.020, 0.015),   # dark brown
    (0.080, 0.045, 0.025),   # brown
    (0.180, 0.110, 0.060),   # light brown
    (0.380, 0.270, 0.150),   # dark blonde
    (0.580, 0.450, 0.280),   # blonde
])
HAIR_RED = np.array((0.30, 0.09, 0.035))
HAIR_GREY = np.array((0.42, 0.40, 0.38))

IRIS_COLOURS = {
    "dark_brown": (0.025, 0.013, 0.008), "brown": (0.06, 0.03, 0.014),
    "hazel": (0.10, 0.075, 0.03), "green": (0.065, 0.10, 0.05), "blue": (0.07, 0.12, 0.2),
    "grey": (0.13, 0.14, 0.15)}

BACKGROUND_PATTERNS = ("noise", "voronoi", "waves", "checker", "bricks", "gradient", "solid")
CLOTH_PATTERNS = ("solid", "noise", "stripes", "checks", "knit")


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent generator for one part of sample ``seed``."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(seed) >> 32,
                                  zlib.crc32(name.encode())])


@lru_cache(maxsize=1)
def anchor_identities() -> np.ndarray:
    """(80, 80) fixed anchor persons: standard-normal weights over the 80 ICT shape modes."""
    return np.random.default_rng(ANCHOR_SEED).standard_normal((80, N_MODES))


def _f(x) -> float:
    return float(round(float(x), 6))


def _v(x) -> list:
    return [float(round(float(v), 6)) for v in np.asarray(x).ravel()]


def _trunc_normal(rng, sd, limit) -> float:
    while True:
        x = rng.normal(0.0, sd)
        if abs(x) <= limit:
            return float(x)


# --------------------------------------------------------------------- subject

def sample_identity(rng: np.random.Generator, split: str) -> dict:
    """Mixture of 2-4 anchor persons of the split: convex weights, then a mild extrapolation.

    ``coefficients = scale * sum(w_i * anchor_i) / |w|_2``: dividing by the weights' 2-norm
    restores unit spread per mode (a plain convex mix would shrink faces toward the mean), and
    ``scale`` in [0.9, 1.3] extrapolates a little beyond the anchors' typical distance.
    """
    pool = SPLITS[split]
    k = int(rng.integers(2, 5))
    anchors = sorted(int(a) for a in rng.choice(pool, size=k, replace=False))
    weights = rng.dirichlet(np.ones(k))
    scale = rng.uniform(0.9, 1.3)
    coeffs = scale * (weights @ anchor_identities()[anchors]) / np.linalg.norm(weights)
    coeffs = np.clip(coeffs, -3.5, 3.5)
    return {"split": split, "anchors": anchors, "weights": _v(weights), "scale": _f(scale),
            "coefficients": _v(coeffs)}


def _expression_groups() -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for name in EXPRESSION_NAMES:
        base = name[:-2] if name.endswith(("_L", "_R")) else name
        if base.startswith(("eyeLook", "eyeBlink")):
            continue
        groups.setdefault(base, []).append(name)
    return groups


def sample_expression(rng: np.random.Generator) -> dict:
    """Sparse blendshape weights: 0-5 expression groups, plus gaze and blinks."""
    weights: dict[str, float] = {}
    groups = _expression_groups()
    names = sorted(groups)
    n = int(rng.choice([0, 1, 2, 3, 4, 5], p=[0.15, 0.25, 0.25, 0.17, 0.1, 0.08]))
    for base in rng.choice(names, size=n, replace=False):
        cap = EXPRESSION_CAPS.get(str(base), 0.9)
        w = rng.uniform(0.15, 1.0) * cap
        members = groups[str(base)]
        if len(members) == 2 and rng.random() < 0.25:  # one-sided
            members = [members[int(rng.integers(2))]]
        for m in members:
            weights[m] = _f(w * (rng.uniform(0.75, 1.0) if len(members) == 2 else 1.0))
    # gaze: horizontal (+ = toward image right, the subject's left) and vertical (+ = up)
    gaze_h, gaze_v = rng.uniform(-0.6, 0.6), rng.uniform(-0.4, 0.4)
    if rng.random() < 0.4:
        gaze_h, gaze_v = gaze_h * 0.2, gaze_v * 0.2
    # the subject's left eye (_L) is on image right; looking right = L out, R in
    if gaze_h > 0:
        weights["eyeLookOut_L"], weights["eyeLookIn_R"] = _f(gaze_h), _f(gaze_h)
    elif gaze_h < 0:
        weights["eyeLookIn_L"], weights["eyeLookOut_R"] = _f(-gaze_h), _f(-gaze_h)
    key = "eyeLookUp" if gaze_v > 0 else "eyeLookDown"
    weights[f"{key}_L"] = weights[f"{key}_R"] = _f(abs(gaze_v))
    r = rng.random()
    blink = rng.uniform(0.0, 0.35) if r < 0.85 else (rng.uniform(0.35, 0.7) if r < 0.96
                                                      else rng.uniform(0.85, 1.0))
    if blink > 0.02:
        weights["eyeBlink_L"] = _f(blink * rng.uniform(0.9, 1.0))
        weights["eyeBlink_R"] = _f(blink * rng.uniform(0.9, 1.0))
    return {"weights": dict(sorted(weights.items())), "gaze": [_f(gaze_h), _f(gaze_v)],
            "blink": _f(blink)}


def expression_vector(expression: dict) -> np.ndarray:
    """The 53 blendshape weights of an expression dict, in the model's order."""
    out = np.zeros(len(EXPRESSION_NAMES), np.float32)
    for name, w in expression["weights"].items():
        out[EXPRESSION_NAMES.index(name)] = w
    return out


def sample_pose(rng: np.random.Generator) -> dict:
    """Head yaw within +-60 (mostly nearer frontal), pitch +-25, roll +-15; the body turns
    part of the way with the head."""
    if rng.random() < 0.7:
        yaw = _trunc_normal(rng, 25.0, 60.0)
    else:
        yaw = rng.uniform(-60.0, 60.0)
    pitch = _trunc_normal(rng, 10.0, 25.0)
    roll = _trunc_normal(rng, 6.0, 15.0)
    body_yaw = float(np.clip(yaw * rng.uniform(0.2, 0.7) + rng.normal(0.0, 8.0), -45, 45))
    return {"yaw": _f(yaw), "pitch": _f(pitch), "roll": _f(roll), "body_yaw": _f(body_yaw)}


# --------------------------------------------------------------------- materials

def sample_skin(rng: np.random.Generator) -> dict:
    """Skin tone (ITA band chosen uniformly, so tones are evenly represented) and its
    variation, specular and subsurface parameters."""
    band = int(rng.integers(len(colour.ITA_BANDS)))
    lo, hi = colour.ITA_BANDS[band]
    ita = rng.uniform(lo, hi)
    darkness = (70.0 - ita) / 140.0
    b_star = rng.uniform(11.0, 19.0) if darkness < 0.6 else rng.uniform(8.0, 16.0)
    a_star = rng.uniform(6.0, 15.0)
    lab = colour.skin_lab(ita, b_star, a_star)
    albedo = colour.lab_to_linear_rgb(lab) * rng.uniform(0.88, 0.97)
    freckles = 0.0
    if rng.random() < 0.35 * (1.0 - darkness) + 0.05:
        freckles = rng.uniform(0.15, 1.0)
    lipstick = None
    if rng.random() < 0.12:
        lipstick = _v(colour.hsv_to_rgb(rng.uniform(0.93, 1.04) % 1.0, rng.uniform(0.5, 0.9),
                                        rng.uniform(0.2, 0.6)) ** 2.2)
    base_rough = rng.uniform(0.42, 0.62)
    base_f0 = rng.uniform(0.024, 0.034)
    return {
        "fitzpatrick_band": band + 1, "ita": _f(ita), "lab": _v(lab), "albedo": _v(albedo),
        "variation": _f(rng.uniform(0.04, 0.14)),
        "redness": _f(rng.uniform(0.0, 0.35)),
        "blotches": _f(rng.uniform(0.0, 0.3)),
        "freckles": _f(freckles), "moles": int(rng.integers(0, 7)),
        "lip_tint": _f(rng.uniform(0.3, 1.0)), "lipstick": lipstick,
        "under_eye": _f(rng.uniform(0.0, 0.35)),
        "roughness": _f(base_rough),
        "tzone_roughness": _f(base_rough - rng.uniform(0.06, 0.25)),
        "lip_roughness": _f(rng.uniform(0.22, 0.45)),
        "f0": _f(base_f0), "tzone_f0": _f(base_f0 + rng.uniform(0.0, 0.016)),
        "pore_strength": _f(rng.uniform(0.02, 0.08)),
        "sss_scale": _f(rng.uniform(0.0025, 0.005)),
        "stubble": _f(rng.uniform(0.25, 0.9)) if rng.random() < 0.22 else 0.0,
        "texture_seed": int(rng.integers(2 ** 31)),
    }


def _hair_colour(rng: np.random.Generator, darkness: float) -> np.ndarray:
    r = rng.random()
    if r < 0.06:
        return HAIR_GREY * rng.uniform(0.7, 1.4)
    if r < 0.11 and darkness < 0.5:
        return HAIR_RED * rng.uniform(0.6, 1.5)
    # darker skin: mostly black/dark brown
    pos = rng.beta(1.2, 4.0 + 8.0 * darkness) * (len(HAIR_COLOURS) - 1)
    i = min(int(pos), len(HAIR_COLOURS) - 2)
    t = pos - i
    base = (1 - t) * HAIR_COLOURS[i] + t * HAIR_COLOURS[i + 1]
    return base * np.exp(rng.normal(0.0, 0.08, 3))


def sample_hair(rng: np.random.Generator, darkness: float) -> dict:
    """Scalp hair (style, colour, coverage), eyebrows and eyelashes."""
    style = str(rng.choice(HAIR_STYLES, p=HAIR_STYLE_P))
    rgb = _hair_colour(rng, darkness)
    if rng.random() < 0.04:  # dyed
        rgb = colour.hsv_to_rgb(rng.random(), rng.uniform(0.4, 0.9), rng.uniform(0.2, 0.6)) ** 2.2
    length = {"none": 0.0, "buzz": rng.uniform(0.3, 1.2), "short": rng.uniform(2.5, 7.0),
              "medium": rng.uniform(8.0, 18.0), "long": rng.uniform(20.0, 40.0),
              "curly": rng.uniform(6.0, 16.0)}[style]
    hair = {
        "style": style, "albedo": _v(np.clip(rgb, 0.005, 0.9)), "length_cm": _f(length),
        "count": int({"none": 0, "buzz": 16000, "short": 18000, "medium": 15000,
                      "long": 14000, "curly": 13000}[style] * rng.uniform(0.8, 1.2)),
        "curl": _f(rng.uniform(0.6, 1.0) if style == "curly" else rng.uniform(0.0, 0.25)),
        "volume_cm": _f(rng.uniform(0.2, 1.2) if style != "curly" else rng.uniform(1.5, 4.0)),
        "hairline_cm": _f(rng.normal(0.0, 0.8)),
        "recession": _f(rng.uniform(0.0, 1.0) if rng.random() < 0.2 else 0.0),
        "part": _f(rng.uniform(-0.8, 0.8)),
        "fringe": bool(style in ("short", "medium", "long") and rng.random() < 0.3),
        "strand_radius_mm": _f(rng.uniform(0.065, 0.11)),
        "roughness": _f(rng.uniform(0.25, 0.5)), "f0": _f(rng.uniform(0.04, 0.05)),
        "seed": int(rng.integers(2 ** 31)),
    }
    brow_rgb = np.clip(rgb * rng.uniform(0.5, 1.0), 0.005, 0.6)
    hair["brows"] = {"albedo": _v(brow_rgb), "density": _f(rng.uniform(0.4, 1.0)),
                     "thickness": _f(rng.uniform(0.6, 1.3)), "count": int(rng.integers(500, 900))}
    hair["lashes"] = {"albedo": _v(np.minimum(brow_rgb, 0.02)),
                      "length": _f(rng.uniform(0.7, 1.2))}
    return hair


def sample_eyes(rng: np.random.Generator, darkness: float) -> dict:
    names = list(IRIS_COLOURS)
    light = 1.0 - darkness
    p = np.array([0.25 + darkness, 0.3, 0.12 * light, 0.1 * light, 0.2 * light ** 2,
                  0.05 * light])
    name = str(rng.choice(names, p=p / p.sum()))
    iris = np.asarray(IRIS_COLOURS[name]) * np.exp(rng.normal(0.0, 0.15, 3))
    return {"iris_name": name, "iris": _v(np.clip(iris, 0.005, 0.6)),
            "sclera": _v(np.array([0.5, 0.45, 0.42]) * rng.uniform(0.75, 1.05)),
            "pupil": _f(rng.uniform(0.085, 0.13)), "iris_radius": _f(rng.uniform(0.22, 0.26)),
            "roughness": _f(rng.uniform(0.03, 0.1)), "f0": _f(rng.uniform(0.022, 0.03)),
            "teeth": _v(np.array([0.62, 0.56, 0.45]) * rng.uniform(0.6, 1.05)),
            "teeth_roughness": _f(rng.uniform(0.15, 0.35)),
            "gums": _v(np.array([0.42, 0.1, 0.1]) * rng.uniform(0.7, 1.2)),
            "mouth": _v(np.array([0.12, 0.025, 0.025]) * rng.uniform(0.6, 1.4))}


def sample_clothing(rng: np.random.Generator) -> dict:
    pattern = str(rng.choice(CLOTH_PATTERNS, p=[0.35, 0.2, 0.2, 0.1, 0.15]))
    sat = rng.uniform(0.0, 0.3) if rng.random() < 0.5 else rng.uniform(0.3, 0.9)
    a = colour.hsv_to_rgb(rng.random(), sat, rng.uniform(0.08, 0.95)) ** 2.2
    b = colour.hsv_to_rgb(rng.random(), rng.uniform(0, 0.8), rng.uniform(0.08, 0.95)) ** 2.2
    return {"pattern": pattern, "albedo_a": _v(np.clip(a, 0.01, 0.85)),
            "albedo_b": _v(np.clip(b, 0.01, 0.85)), "scale": _f(rng.uniform(8.0, 60.0)),
            "roughness": _f(rng.uniform(0.55, 0.95)), "f0": _f(rng.uniform(0.02, 0.045)),
            "collar_cm": _f(rng.uniform(0.2, 1.5)),
            "shoulder_cm": _f(rng.uniform(19.0, 24.0)), "depth_cm": _f(rng.uniform(10.0, 13.0)),
            "slope": _f(rng.uniform(0.4, 0.62))}


def sample_accessories(rng: np.random.Generator) -> dict:
    glasses = None
    if rng.random() < 0.15:
        sun = rng.random() < 0.2
        frame = colour.hsv_to_rgb(rng.random(), rng.uniform(0, 0.6), rng.uniform(0.02, 0.6)) ** 2.2
        glasses = {"kind": "sunglasses" if sun else "frames", "albedo": _v(frame),
                   "roughness": _f(rng.uniform(0.1, 0.4)), "f0": _f(rng.uniform(0.04, 0.05)),
                   "lens_w_cm": _f(rng.uniform(4.6, 5.8)), "lens_h_cm": _f(rng.uniform(3.0, 4.4)),
                   "rim_mm": _f(rng.uniform(1.2, 3.5)), "shape": _f(rng.uniform(2.2, 5.0))}
    occluder = None
    if rng.random() < 0.08:
        occluder = {"side": _f(rng.choice([-1.0, 1.0])), "height": _f(rng.uniform(-1.3, -0.3)),
                    "reach": _f(rng.uniform(0.0, 0.6)), "radius_cm": _f(rng.uniform(1.5, 4.0)),
                    "length_cm": _f(rng.uniform(8.0, 20.0)), "tilt": _f(rng.uniform(-40, 40)),
                    "albedo": _v(colour.hsv_to_rgb(rng.random(), rng.uniform(0, 0.9),
                                                   rng.uniform(0.05, 0.9)) ** 2.2),
                    "roughness": _f(rng.uniform(0.2, 0.8)), "f0": _f(rng.uniform(0.03, 0.05))}
    return {"glasses": glasses, "occluder": occluder}


# --------------------------------------------------------------------- camera, background

def sample_camera(rng: np.random.Generator) -> dict:
    """Focal length 35-135 mm (log-uniform); framing from close-up (0.24 m of subject in the
    frame's height) to head and shoulders (0.65 m); off-centre framing 30 % of the time."""
    focal = float(np.exp(rng.uniform(np.log(35.0), np.log(135.0))))
    extent = rng.uniform(0.24, 0.65)
    if rng.random() < 0.3:
        shift = rng.uniform(-0.14, 0.14, 2)
    else:
        shift = rng.uniform(-0.03, 0.03, 2)
    return {"focal_mm": _f(focal), "extent": _f(extent), "shift": _v(shift),
            "aim_jitter": _v(rng.normal(0.0, 0.01, 2))}


def sample_background(rng: np.random.Generator) -> dict:
    if rng.random() < 0.45:
        return {"kind": "hdri"}
    pattern = str(rng.choice(BACKGROUND_PATTERNS))
    a = colour.hsv_to_rgb(rng.random(), rng.uniform(0, 0.7), rng.uniform(0.05, 0.95)) ** 2.2
    b = colour.hsv_to_rgb(rng.random(), rng.uniform(0, 0.7), rng.uniform(0.05, 0.95)) ** 2.2
    return {"kind": "plane", "pattern": pattern, "albedo_a": _v(a), "albedo_b": _v(b),
            "scale": _f(np.exp(rng.uniform(np.log(0.5), np.log(20.0)))),
            "distance": _f(rng.uniform(0.4, 3.0)), "tilt": _v(rng.uniform(-25, 25, 2)),
            "roughness": _f(rng.uniform(0.4, 1.0))}


# --------------------------------------------------------------------- lighting

def _light(rng: np.random.Generator, kind: str, hard: bool) -> dict:
    """One analytic light, placed around the head centre (angles relative to the camera)."""
    azimuth = rng.normal(0.0, 60.0) if rng.random() < 0.8 else rng.uniform(-180.0, 180.0)
    elevation = rng.uniform(-15.0, 65.0)
    distance = rng.uniform(0.7, 3.0)
    if rng.random() < 0.15:
        rgb = colour.hsv_to_rgb(rng.random(), rng.uniform(0.3, 0.8), 1.0)
        rgb = rgb / colour.luminance(rgb)
        kelvin = None
    else:
        kelvin = float(rng.uniform(2700.0, 8000.0))
        rgb = colour.blackbody_rgb(kelvin)
    light = {"type": kind, "azimuth": _f(azimuth), "elevation": _f(elevation),
             "distance": _f(distance), "kelvin": None if kelvin is None else _f(kelvin),
             "rgb": _v(rgb)}
    if kind == "area":
        size = rng.uniform(0.05, 0.15) if hard else float(np.exp(rng.uniform(np.log(0.1),
                                                                              np.log(1.5))))
        light["size"] = _f(size)
        light["size_y"] = _f(size * rng.uniform(0.5, 1.5))
    elif kind == "point":
        light["radius"] = _f(rng.uniform(0.003, 0.03) if hard else rng.uniform(0.02, 0.25))
    else:
        light["radius"] = _f(rng.uniform(0.003, 0.03) if hard else rng.uniform(0.01, 0.1))
        light["spot_deg"] = _f(rng.uniform(25.0, 70.0))
        light["blend"] = _f(rng.uniform(0.05, 0.3))
    return light


def sample_lighting(rng: np.random.Generator, avoid: dict | None = None) -> dict:
    """A built-in HDRI (random rotation and strength) with 0-3 analytic lights.

    ``setup``: "hdri" (environment only), "mixed" (1-3 lights of comparable strength) or
    "hard_key" (one small light dominating a dim environment). Light strengths are drawn as
    ``ratio``: the light's irradiance at the head centre over the environment's mean
    irradiance; ``lighting.resolve`` turns them into watts. ``avoid``: lighting A, to keep B
    different from it.
    """
    names = list(HDRIS)
    if avoid is not None and rng.random() < 0.85:
        names.remove(avoid["hdri"])
    hdri = str(rng.choice(names))
    rotation = rng.uniform(0.0, 360.0)
    if avoid is not None and hdri == avoid["hdri"]:
        rotation = (avoid["rotation"] + rng.uniform(60.0, 300.0)) % 360.0
    setup = str(rng.choice(["hdri", "mixed", "hard_key"], p=[0.25, 0.5, 0.25]))
    lights = []
    if setup == "mixed":
        for _ in range(int(rng.integers(1, 4))):
            kind = str(rng.choice(["area", "point", "spot"], p=[0.5, 0.25, 0.25]))
            light = _light(rng, kind, hard=False)
            light["ratio"] = _f(np.exp(rng.uniform(np.log(0.3), np.log(3.0))))
            lights.append(light)
    elif setup == "hard_key":
        kind = str(rng.choice(["area", "point", "spot"], p=[0.2, 0.4, 0.4]))
        light = _light(rng, kind, hard=True)
        light["ratio"] = _f(rng.uniform(3.0, 15.0))
        lights.append(light)
        if rng.random() < 0.3:  # a soft fill or rim
            fill = _light(rng, "area", hard=False)
            fill["ratio"] = _f(rng.uniform(0.1, 0.6))
            lights.append(fill)
    return {"hdri": hdri, "rotation": _f(rotation), "setup": setup,
            "hdri_strength": _f(np.exp(rng.normal(0.0, 0.3))), "lights": lights,
            "exposure_ev": _f(np.clip(rng.normal(0.0, 0.45), -1.2, 1.2))}


# --------------------------------------------------------------------- all

def sample_params(seed: int, split: str = "train") -> dict:
    """Every parameter of sample ``seed`` (JSON-serialisable)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}; got {split!r}")
    seed = int(seed)
    skin = sample_skin(stream(seed, "skin"))
    darkness = (70.0 - skin["ita"]) / 140.0
    lighting_a = sample_lighting(stream(seed, "lighting_a"))
    return {
        "version": PARAMS_VERSION, "seed": seed, "split": split,
        "identity": sample_identity(stream(seed, "identity"), split),
        "expression": sample_expression(stream(seed, "expression")),
        "pose": sample_pose(stream(seed, "pose")),
        "skin": skin,
        "hair": sample_hair(stream(seed, "hair"), darkness),
        "eyes": sample_eyes(stream(seed, "eyes"), darkness),
        "clothing": sample_clothing(stream(seed, "clothing")),
        "accessories": sample_accessories(stream(seed, "accessories")),
        "camera": sample_camera(stream(seed, "camera")),
        "background": sample_background(stream(seed, "background")),
        "lighting_a": lighting_a,
        "lighting_b": sample_lighting(stream(seed, "lighting_b"), avoid=lighting_a),
        "render": {"cycles_seed": int(stream(seed, "render").integers(2 ** 31))},
    }
