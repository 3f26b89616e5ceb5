"""Training data from the factory's shards: samples, cached face features, augmentation.

A factory folder holds ``shard_*/NNNNNNN.npz`` samples (see ``training/synth``). Networks see the
same inputs as ``inference.pipeline`` builds at run time, assembled by channel name
(``pipeline.FEATURES``), so the face features (landmark channels, face-mesh prior, selfie matte)
come from ``inference.face`` on each sample's own RGB. They are costly next to a training step and
are cached in ``~/.cache/relit/features/v<FEATURE_VERSION>-<hash of inference/face.py>/``, so a
change to the face code computes them afresh rather than training on stale ones.

Augmentation bridges synthetic to real, and never touches the evaluation sets:
- photometric, on the RGB only: exposure, white balance, Gaussian blur, sensor noise, JPEG, and
  for NormalNet black-and-white photos;
- geometric, on every map alike: random crop and scale, and a horizontal flip that negates the
  X of normals and of the face prior (as the normal-map paper does);
- random occluders (flat grey or textured blobs) pasted over the RGB, with the ground truth kept:
  the nets learn to look past them.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

import cv2
import numpy as np

from inference import camera, face, images, pipeline
from inference.passes import Passes
from inference.vectors import unit

FEATURE_VERSION = 2  # 2: keyed on the face code too
CACHE = Path(os.environ.get("RELIT_CACHE", Path.home() / ".cache" / "relit"))


def sample_paths(folders: Sequence[str | Path]) -> list[Path]:
    """Every ``.npz`` sample under the factory folders, in a stable order."""
    paths: list[Path] = []
    for folder in folders:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"no dataset folder {folder}")
        paths.extend(sorted(p for p in folder.glob("shard_*/*.npz")
                            if not p.name.startswith(".")))  # skip files being written
    if not paths:
        raise FileNotFoundError(f"no samples (shard_*/*.npz) under {list(map(str, folders))}")
    return paths


def require_train_split(folders: Sequence[str | Path]) -> None:
    """Refuse a factory folder that says it is not training data: its ``manifest.json``, or its
    first sample's ``meta``, names another split (held-out identities are for evaluation)."""
    for folder in folders:
        folder = Path(folder).expanduser()
        manifest = folder / "manifest.json"
        if manifest.is_file():
            split = json.loads(manifest.read_text()).get("split")
        else:
            first = next(iter(sample_paths([folder])))
            with np.load(first) as stored:
                split = (json.loads(str(stored["meta"])).get("split") if "meta" in stored.files
                         else None)
        if split not in (None, "train"):
            raise ValueError(f"{folder} holds split {split!r}, not training data: "
                             "evaluation sets are never trained on")


def load_sample(path: Path) -> dict[str, np.ndarray]:
    """A factory sample as float32 arrays (``meta`` kept as a string)."""
    with np.load(path) as data:
        out = {k: (data[k].astype(np.float32) if data[k].dtype.kind == "f" else data[k])
               for k in data.files}
    for key in ("alpha", "roughness", "reflectivity", "depth"):
        if key in out and out[key].ndim == 3:
            out[key] = out[key][..., 0]
    return out


@functools.lru_cache(maxsize=1)
def feature_key() -> str:
    """The cache's folder name: the feature layout's version and a hash of the face code."""
    code = hashlib.sha1(Path(face.__file__).read_bytes()).hexdigest()[:10]
    return f"v{FEATURE_VERSION}-{code}"


def _feature_path(path: Path) -> Path:
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    return CACHE / "features" / feature_key() / digest[:2] / f"{digest}.npz"


def face_features(path: Path, rgb: np.ndarray) -> dict[str, np.ndarray]:
    """Landmark channels, prior (normal + mask) and matte of a sample, computed once, cached."""
    cache = _feature_path(path)
    if cache.exists():
        with np.load(cache) as data:
            return {k: data[k].astype(np.float32) for k in data.files}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no face" is expected on back views and occlusions
        fa = face.analyse(rgb)
    feats = {"landmarks": fa.landmark_channels.astype(np.float16),
             "prior": np.dstack([fa.prior_normal, fa.prior_mask]).astype(np.float16),
             "matte": fa.matte.astype(np.float16)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")  # trainers in parallel share the cache
    np.savez_compressed(tmp, **feats)
    os.replace(tmp, cache)
    return {k: v.astype(np.float32) for k, v in feats.items()}


# ---------------------------------------------------------------- augmentation

@dataclass
class Augment:
    crop: float = 0.8          # smallest crop side, as a share of the image
    flip: float = 0.5
    exposure: float = 0.5      # stops, ±
    white_balance: float = 0.12
    blur: float = 0.3          # probability of a blur of sigma up to 1.5 px
    noise: float = 0.02        # largest noise sigma (linear)
    jpeg: float = 0.5          # probability of JPEG compression at quality 40–95
    occluder: float = 0.2      # probability of one occluder
    grey: float = 0.0          # probability of a black-and-white photo (luminance in R, G, B)
    prior_tilt: float = 0.0    # largest turn (degrees) of the face-mesh prior, axis in the image
    prior_depth: float = 0.0   # the prior's relief scaled by 2 ** ±prior_depth
    prior_drop: float = 0.0    # probability of no prior and no landmarks (no face found)
    shading_level: float = 0.0  # DiffuseNet's shading input scaled by 2 ** ±shading_level


NO_AUG = Augment(crop=1.0, flip=0.0, exposure=0.0, white_balance=0.0, blur=0.0, noise=0.0,
                 jpeg=0.0, occluder=0.0)
GEOMETRY_AUG = Augment(grey=0.1)
"""For nets that read shape, not colour (NormalNet): black-and-white photos too."""
PRIOR_AUG = Augment(grey=0.1, prior_tilt=12.0, prior_depth=0.3, prior_drop=0.1)
"""GEOMETRY_AUG, and a face-mesh prior that is wrong the ways MediaPipe can be wrong on a real
face: turned, too flat or too deep, or missing. MediaPipe's errors on our synthetic heads are
not its errors on photos (on held-out synthetic faces the prior tilts up against the truth, on
Yale B it tilts down against the reference: ``evaluate report``), so a net that learns to undo
the synthetic error carries it to real faces; this makes it read the pose from the image."""


def _crop_scale(maps: dict, rng: np.random.Generator, size: int, aug: Augment) -> dict:
    height, width = next(iter(maps.values())).shape[:2]
    side = int(min(height, width) * rng.uniform(aug.crop, 1.0))
    y0, x0 = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    out = {}
    for key, value in maps.items():
        crop = value[y0:y0 + side, x0:x0 + side]
        out[key] = _resize(crop, size, nearest=key == "alpha")
    return out


def _resize(image: np.ndarray, size: int, nearest: bool) -> np.ndarray:
    """Square resize of H×W or H×W×C (any C: OpenCV takes at most 4 channels a call)."""
    interp = cv2.INTER_NEAREST if nearest else (
        cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_LINEAR)
    if image.ndim == 2:
        return cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=interp)
    parts = [cv2.resize(np.ascontiguousarray(image[..., i:i + 4]), (size, size),
                        interpolation=interp).reshape(size, size, -1)
             for i in range(0, image.shape[-1], 4)]
    return np.concatenate(parts, axis=-1)


def _flip(maps: dict) -> dict:
    out = {k: np.ascontiguousarray(v[:, ::-1]) for k, v in maps.items()}
    for key in ("normal", "prior"):
        if key in out:
            out[key] = out[key].copy()
            out[key][..., 0] *= -1.0
    return out


def _perturb_prior(maps: dict, rng: np.random.Generator, aug: Augment) -> dict:
    """``aug``'s prior perturbation of NormalNet's maps (nothing is drawn when it is off)."""
    if "prior" not in maps or not (aug.prior_drop or aug.prior_tilt or aug.prior_depth):
        return maps
    if rng.random() < aug.prior_drop:
        maps["prior"] = np.zeros_like(maps["prior"])
        maps["landmarks"] = np.zeros_like(maps["landmarks"])
        return maps
    prior = maps["prior"].copy()
    inside = prior[..., 3] > 0.5
    normals = prior[..., :3][inside]
    normals[:, 2] *= 2.0 ** rng.uniform(-aug.prior_depth, aug.prior_depth)
    phi, angle = rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(0, aug.prior_tilt))
    axis = np.array([np.cos(phi), np.sin(phi), 0.0])
    skew = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    turn = np.eye(3) + np.sin(angle) * skew + (1 - np.cos(angle)) * (skew @ skew)   # Rodrigues
    normals = normals @ turn.T
    prior[..., :3][inside] = unit(normals)
    maps["prior"] = prior.astype(np.float32)
    return maps


def _photometric(rgb: np.ndarray, rng: np.random.Generator, aug: Augment,
                 gains: list | None = None) -> np.ndarray:
    """Exposure, white balance, blur, noise and JPEG; the per-channel colour gain applied is
    appended to ``gains`` (lighting targets scale with it)."""
    gain = (2.0 ** rng.uniform(-aug.exposure, aug.exposure)
            * (1.0 + rng.uniform(-aug.white_balance, aug.white_balance, 3))).astype(np.float32)
    if gains is not None:
        gains.append(gain)
    rgb = rgb * gain
    if rng.random() < aug.blur:
        rgb = cv2.GaussianBlur(rgb, (0, 0), rng.uniform(0.3, 1.5))
    rgb = rgb + rng.normal(0.0, rng.uniform(0, aug.noise), rgb.shape).astype(np.float32)
    rgb = np.clip(rgb, 0.0, None)
    if aug.grey > 0 and rng.random() < aug.grey:
        rgb = np.repeat(images.luminance(rgb)[..., None], 3, axis=-1)
    if rng.random() < aug.jpeg:
        enc = (images.linear_to_srgb(np.clip(rgb, 0, 1)) * 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", enc, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 96))])
        rgb = images.srgb_to_linear(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) / 255.0)
    return rgb.astype(np.float32)


def _occlude(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = rgb.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
    axes = (int(rng.integers(width // 12, width // 4)),
            int(rng.integers(height // 12, height // 4)))
    cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    colour = rng.uniform(0.02, 0.6, 3).astype(np.float32)
    texture = 0.7 + 0.3 * images.resize(rng.random((4, 4, 1)).astype(np.float32),
                                        (height, width))
    return np.where(mask[..., None] > 0, colour * texture, rgb).astype(np.float32)


def augment(maps: dict, rng: np.random.Generator, size: int, aug: Augment) -> dict:
    """Apply crop/scale, flip and photometric augmentation to a sample's maps (``rgb`` first).
    ``sh`` (camera-space lighting), when present, follows the flip and the colour gain."""
    sh = maps.pop("sh", None)
    maps = _crop_scale(maps, rng, size, aug)
    flipped = rng.random() < aug.flip
    if flipped:
        maps = _flip(maps)
    maps = _perturb_prior(maps, rng, aug)
    gains: list = []
    maps["rgb"] = _photometric(maps["rgb"], rng, aug, gains)
    if sh is not None:
        maps["sh"] = flip_sh(sh) * gains[0] if flipped else sh * gains[0]
    if rng.random() < aug.occluder:
        maps["rgb"] = _occlude(maps["rgb"], rng)
    return maps


def flip_sh(sh: np.ndarray) -> np.ndarray:
    """SH of the mirrored lighting (x → −x): the bands odd in x (x, xy, xz) change sign."""
    out = np.array(sh, np.float32, copy=True)
    out[[3, 4, 7]] *= -1.0
    return out


# ---------------------------------------------------------------- network inputs

def sample_camera(sample: dict) -> camera.Pinhole:
    """The pinhole camera that rendered a factory sample: its focal length and lens shift."""
    try:
        cam = json.loads(str(sample["meta"]))["params"]["camera"]
    except (KeyError, TypeError, ValueError):
        raise ValueError("the sample's meta names no camera (params.camera): the camera-space "
                         "prior needs the factory's samples") from None
    return camera.Pinhole.of_image(sample["rgb"].shape[:2], cam["focal_mm"],
                                   tuple(cam.get("shift", (0.0, 0.0))))


def normal_net_maps(path: Path, camera_prior: bool = False) -> dict[str, np.ndarray]:
    """Everything NormalNet's input and target need, at the sample's resolution. With
    ``camera_prior`` the prior's normals are in camera space, turned from MediaPipe's ray frame
    by the sample's own camera (``camera.prior_to_camera``), as the pipeline's ``prior_camera``
    channels are with the photo's focal length."""
    sample = load_sample(path)
    feats = face_features(path, sample["rgb"])
    prior = feats["prior"]
    if camera_prior:
        turned = camera.prior_to_camera(prior[..., :3], prior[..., 3], sample_camera(sample))
        prior = np.dstack([turned, prior[..., 3]])
    return {"rgb": sample["rgb"], "landmarks": feats["landmarks"], "prior": prior,
            "matte": feats["matte"], "normal": sample["normal"], "alpha": sample["alpha"]}


NORMAL_INPUTS = (*pipeline.FEATURES["rgb"], *pipeline.FEATURES["landmarks"],
                 *pipeline.FEATURES["prior"], *pipeline.FEATURES["alpha"])


def normal_net_arrays(maps: dict, landmarks: bool = True) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """(input C×H×W, target normal 3×H×W, loss mask H×W) with channels in ``NORMAL_INPUTS``
    order; the matte input is MediaPipe's (as at run time), the loss mask the true alpha.
    ``landmarks=False`` zeroes the landmark channels (the paper's ablation)."""
    lm = maps["landmarks"] if landmarks else np.zeros_like(maps["landmarks"])
    features = np.dstack([images.linear_to_srgb(maps["rgb"]), lm, maps["prior"], maps["matte"]])
    return (features.transpose(2, 0, 1).astype(np.float32),
            maps["normal"].transpose(2, 0, 1).astype(np.float32),
            (maps["alpha"] > 0.5).astype(np.float32))


def _endless(paths: Sequence[Path], batch: int, seed: int, row) -> Iterator[tuple]:
    """Shuffled epochs forever (deterministic for a seed): ``row(path, rng)`` gives one
    sample's arrays, stacked column by column into a batch."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(paths))
        for start in range(0, len(order) - batch + 1, batch):
            rows = [row(paths[i], rng) for i in order[start:start + batch]]
            yield tuple(np.stack(col) for col in zip(*rows))


def batches(paths: Sequence[Path], batch: int, size: int, seed: int,
            aug: Optional[Augment] = GEOMETRY_AUG, landmarks: bool = True,
            camera_prior: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Endless shuffled NormalNet batches (deterministic for a seed)."""
    def row(path, rng):
        maps = augment(normal_net_maps(path, camera_prior), rng, size, aug or NO_AUG)
        return normal_net_arrays(maps, landmarks)

    return _endless(paths, batch, seed, row)


def illum_batches(paths: Sequence[Path], batch: int, size: int, seed: int,
                  aug: Optional[Augment] = Augment()
                  ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Endless IllumNet batches: (sRGB N×3×H×W, true normal N×3×H×W, SH N×27)."""
    def row(path, rng):
        sample = load_sample(path)
        maps = augment({"rgb": sample["rgb"], "normal": sample["normal"], "sh": sample["sh"]},
                       rng, size, aug or NO_AUG)
        return (images.linear_to_srgb(maps["rgb"]).transpose(2, 0, 1).astype(np.float32),
                maps["normal"].transpose(2, 0, 1).astype(np.float32),
                maps["sh"].reshape(-1).astype(np.float32))

    return _endless(paths, batch, seed, row)


def map_batches(net: str, paths: Sequence[Path], batch: int, size: int, seed: int,
                aug: Optional[Augment] = Augment()) -> Iterator[tuple]:
    """Endless DiffuseNet / albedo / SpecularNet batches: (input groups…, target, mask).

    DiffuseNet sees the RGB and the shading E(n)/π of the sample's own SH on its true normals
    (what ``pipeline`` computes at run time); its target is albedo × that shading, so that
    render / shading gives the albedo back. SpecularNet sees RGB, normal and albedo, and learns
    roughness and F0.
    """
    from inference.pipeline import lighting_shading

    def row(path, rng):
        sample = load_sample(path)
        maps = {"rgb": sample["rgb"], "normal": sample["normal"], "albedo": sample["albedo"],
                "spec": np.dstack([sample["roughness"], sample["reflectivity"]]),
                "alpha": sample["alpha"], "sh": sample["sh"]}
        maps = augment(maps, rng, size, aug or NO_AUG)
        rgb = images.linear_to_srgb(maps["rgb"])
        mask = (maps["alpha"] > 0.5).astype(np.float32)
        if net in ("diffuse", "albedo"):
            # the colour gain of augmentation scales the lighting, so the SH follow it
            shading = lighting_shading(maps["normal"], maps["sh"].reshape(9, 3))
            if aug is not None and aug.shading_level > 0:
                # at run time the shading comes from IllumNet, whose level errs by about half
                # a stop: the net learns to take the level from the photo, not the shading
                shading = shading * 2.0 ** rng.uniform(-aug.shading_level, aug.shading_level)
            target = maps["albedo"] * shading if net == "diffuse" else maps["albedo"]
            arrays = (rgb, shading, target)
        else:
            arrays = (rgb, maps["normal"], maps["albedo"], maps["spec"])
        return [a.transpose(2, 0, 1).astype(np.float32) for a in arrays] + [mask]

    return _endless(paths, batch, seed, row)


RENDER_INPUT = "scene_lights"
"""What RenderNet's Cook-Torrance input is rendered under: lighting B's own HDRI and lights
(runs before this were trained on renders under its SH, ``sh_b``)."""


def render_batches(paths: Sequence[Path], batch: int, size: int, seed: int) -> Iterator[tuple]:
    """Endless RenderNet batches: (CT render, normal, albedo, roughness+F0, alpha, source sRGB,
    target ``rgb_b``, specular weight, mask). The Cook-Torrance render is made on the crop from
    the true passes under lighting B itself, its HDRI and lights (``training.scene_light``), as
    ``inference.render`` renders an artist's HDRI and lights at run time."""
    from . import scene_light

    def row(path, rng):
        sample = load_sample(path)
        meta = scene_light.meta_of(sample)
        maps = _crop_scale({"rgb": sample["rgb"], "normal": sample["normal"],
                            "albedo": sample["albedo"],
                            "spec": np.dstack([sample["roughness"], sample["reflectivity"]]),
                            "alpha": sample["alpha"], "rgb_b": sample["rgb_b"],
                            "position": scene_light.positions(meta, sample["depth"])}, rng, size,
                           Augment(crop=0.6))
        passes = Passes(rgb=maps["rgb"], alpha=maps["alpha"], normal=maps["normal"],
                        albedo=maps["albedo"], roughness=maps["spec"][..., 0],
                        reflectivity=maps["spec"][..., 1])
        relit = scene_light.render_under_own_lighting(passes, meta, maps["position"], "b")
        glossy = images.luminance(relit.specular)
        weight = glossy / max(float(glossy.max()), 1e-6)
        rgb = _photometric(maps["rgb"], rng, Augment())  # the source only: a cue
        arrays = [relit.rgb, maps["normal"], maps["albedo"], maps["spec"],
                  maps["alpha"][..., None], images.linear_to_srgb(rgb), maps["rgb_b"],
                  weight[..., None]]
        return ([a.transpose(2, 0, 1).astype(np.float32) for a in arrays]
                + [(maps["alpha"] > 0.5).astype(np.float32)])

    return _endless(paths, batch, seed, row)
